"""Zarr v3 zarrmd written by zarrtraj (convert/synth --zarr-format 3, sharded by
default) read by independent implementations -- zarr-python 3 and tensorstore --
with values identical to the source; conversions v2 <-> v3 <-> H5MD in both
directions; a writer killed mid-run leaves a readable v3 trajectory. Newest
environment only."""
import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
if int(zarr.__version__.split(".")[0]) < 3:
    pytest.skip("needs zarr-python 3", allow_module_level=True)

from conftest import run  # noqa: E402

import warnings  # noqa: E402

warnings.filterwarnings("ignore")


def arrays(path):
    """Every array of a hierarchy as {path: ndarray}, read by zarr-python."""
    out = {}
    g = zarr.open_group(path, mode="r")
    for name, a in g.arrays() if hasattr(g, "arrays") else []:
        out[name] = a[...]

    def walk(grp, prefix):
        for name, m in grp.members():
            p = f"{prefix}/{name}" if prefix else name
            if isinstance(m, zarr.Array):
                out[p] = m[...]
            else:
                walk(m, p)
    walk(g, "")
    return out


def ts_read(path, key):
    ts = pytest.importorskip("tensorstore")
    t = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": os.path.join(path, key)}}).result()
    return t.read().result()


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    cli = os.environ.get("ZT_CLI")
    if not cli:
        pytest.skip("ZT_CLI not set")
    p = str(tmp_path_factory.mktemp("src") / "s.zarrmd")
    run(cli, "synth", p, "--atoms", "500", "--frames", "61", "--forces", "--seed", "7")
    return p


def meta(path, key):
    return json.load(open(os.path.join(path, key, "zarr.json")))


@pytest.mark.parametrize("opts", [[], ["--shard-bytes", "100k", "--inner-frames", "3"],
                                  ["--shard-bytes", "50k", "--compressor", "zstd:level=3"],
                                  ["--compressor", "none", "--inner-frames", "7"],
                                  ["--compressor", "gzip:level=2", "--shard-bytes", "30k"]],
                         ids=["default", "small_shards", "zstd", "none", "gzip"])
def test_v3_read_by_zarr_python_and_tensorstore(cli, tmp, src, opts):
    out = str(tmp / "v3.zarrmd")
    run(cli, "convert", src, out, "--zarr-format", "3", *opts)
    ref, got = arrays(src), arrays(out)
    assert set(ref) == set(got)
    for k in ref:
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)
    m = meta(out, "particles/trajectory/position/value")
    assert m["zarr_format"] == 3 and m["codecs"][0]["name"] == "sharding_indexed"
    sh = m["chunk_grid"]["configuration"]["chunk_shape"]
    inner = m["codecs"][0]["configuration"]["chunk_shape"]
    assert sh[0] % inner[0] == 0 and sh[1:] == inner[1:] == [500, 3]
    if "--inner-frames" in opts:
        assert inner[0] == int(opts[opts.index("--inner-frames") + 1])
    if opts == ["--shard-bytes", "100k", "--inner-frames", "3"]:
        assert sh[0] == 18  # 100k / 6000 bytes per frame = 16, rounded up to whole inner chunks
        nshards = len(os.listdir(os.path.join(out, "particles/trajectory/position/value/c")))
        assert nshards == 4  # 61 frames: 3 full shards and a partial one
    # tensorstore (spec codecs only) reads every array identically
    for k in ref:
        np.testing.assert_array_equal(ts_read(out, k), ref[k], err_msg=k)
    # so does our own reader
    npy = str(tmp / "p.npy")
    run(cli, "cat", out, "--format", "npy", "-o", npy)
    np.testing.assert_array_equal(np.load(npy), ref["particles/trajectory/position/value"])
    # the root zarr.json consolidates every node
    root = json.load(open(os.path.join(out, "zarr.json")))
    assert set(root["consolidated_metadata"]["metadata"]) >= set(ref)


def test_v3_precision_read_by_zarr_python(cli, tmp, src):
    out = str(tmp / "q.zarrmd")
    run(cli, "convert", src, out, "--zarr-format", "3", "--precision", "2", "--shard-bytes", "64k")
    ref2 = str(tmp / "q2.zarrmd")
    run(cli, "convert", src, ref2, "--precision", "2")  # v2 with the same Quantize
    a, b = arrays(ref2), arrays(out)
    for k in a:
        np.testing.assert_array_equal(b[k], a[k], err_msg=k)
    m = meta(out, "particles/trajectory/position/value")
    assert m["codecs"][0]["configuration"]["codecs"][0]["name"] == "numcodecs.quantize"


def cat(cli, path, tmp, name, *args):
    out = str(tmp / (name + ".npy"))
    run(cli, "cat", path, "--format", "npy", "-o", out, *args)
    return np.load(out)


def test_convert_round_trips(cli, tmp, src):
    """v2 -> v3 -> H5MD -> v3 -> v2, every element, step, time and observable unchanged."""
    v3 = str(tmp / "a.zarrmd")
    h5 = str(tmp / "b.h5md")
    v3b = str(tmp / "c.zarrmd")
    v2 = str(tmp / "d.zarrmd")
    run(cli, "convert", src, v3, "--zarr-format", "3", "--shard-bytes", "80k", "--inner-frames", "2")
    run(cli, "convert", v3, h5)
    run(cli, "convert", h5, v3b, "--zarr-format", "3")
    run(cli, "convert", v3b, v2)
    ref = arrays(src)
    for p in (v3, v3b, v2):
        got = arrays(p)
        for k in ref:
            np.testing.assert_array_equal(got[k], ref[k], err_msg=f"{p}: {k}")
    for el in ("position", "velocity", "force"):
        want = cat(cli, src, tmp, "ref" + el, "--element", el)
        for p in (v3, h5, v3b, v2):
            np.testing.assert_array_equal(cat(cli, p, tmp, "x" + el, "--element", el), want, err_msg=p + el)
    # H5MD -> v3 directly from h5py's reading
    h5py = pytest.importorskip("h5py")
    with h5py.File(h5, "r") as f:
        np.testing.assert_array_equal(f["particles/trajectory/position/value"][:],
                                      ref["particles/trajectory/position/value"])


def test_existing_v3_needs_overwrite(cli, tmp, src):
    out = str(tmp / "e.zarrmd")
    run(cli, "convert", src, out, "--zarr-format", "3")
    r = run(cli, "convert", src, out, "--zarr-format", "3", check=False)
    assert r.returncode != 0 and "already exists" in r.stderr
    run(cli, "convert", src, out, "--overwrite")  # v2 over v3: the old objects are gone
    assert not os.path.exists(os.path.join(out, "zarr.json"))
    np.testing.assert_array_equal(arrays(out)["particles/trajectory/position/value"],
                                  arrays(src)["particles/trajectory/position/value"])


def test_bad_options(cli, tmp, src):
    r = run(cli, "convert", src, str(tmp / "x.zarrmd"), "--zarr-format", "4", check=False)
    assert r.returncode != 0 and "--zarr-format must be 2 or 3" in r.stderr
    r = run(cli, "convert", src, str(tmp / "x.h5md"), "--zarr-format", "3", check=False)
    assert r.returncode != 0 and "zarr_format 3 applies to zarrmd output" in r.stderr
    r = run(cli, "convert", src, str(tmp / "x.zarrmd"), "--inner-frames", "0", check=False)
    assert r.returncode != 0 and "--inner-frames" in r.stderr
    r = run(cli, "convert", src, str(tmp / "x.zarrmd"), "--zarr-format", "3", "--shard-bytes", "5G", check=False)
    assert r.returncode != 0 and "a shard is one object written in one request (at most 4 GiB)" in r.stderr, r.stderr


def test_killed_v3_writer_leaves_a_readable_trajectory(cli, tmp):
    """SIGKILL at random moments while `zarrtraj synth --zarr-format 3` writes small shards (a commit at
    every shard flush): zarr-python opens every such trajectory, every array holds a prefix of the complete
    run's values, no value row lacks its step and time, and our reader reads every frame it counts."""
    full = str(tmp / "full.zarrmd")
    args = ["--atoms", "300", "--frames", "4000", "--forces", "--seed", "3", "--zarr-format", "3",
            "--shard-bytes", "16k", "--inner-frames", "2"]
    run(cli, "synth", full, *args)
    ref = arrays(full)
    rng = np.random.default_rng(2)
    seen, G = set(), "particles/trajectory"
    for trial in range(8):
        out = str(tmp / f"k{trial}.zarrmd")
        p = subprocess.Popen([cli, "synth", out, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        shards = os.path.join(out, G, "position/value/c")
        while time.time() < deadline and (not os.path.isdir(shards) or len(os.listdir(shards)) < 3):
            time.sleep(0.002)
        time.sleep(float(rng.uniform(0, 0.2)))
        p.send_signal(signal.SIGKILL)
        p.wait()
        got = arrays(out)
        n = got[G + "/position/value"].shape[0]
        assert n > 0
        seen.add(n)
        for k, v in got.items():
            np.testing.assert_array_equal(v, ref[k][:len(v)], err_msg=k)
        for el in ("position", "velocity", "force", "box/edges"):
            kv = got[f"{G}/{el}/value"].shape[0]
            for k in ("step", "time"):
                assert got[f"{G}/{el}/{k}"].shape[0] >= kv, (el, k)
        npy = out + ".npy"
        run(cli, "cat", out, "--format", "npy", "-o", npy)
        np.testing.assert_array_equal(np.load(npy), ref[G + "/position/value"][:n])
    assert len(seen) > 1  # killed at different points


def test_python_writer_zarr_format_3(tmp, src):
    """MDAnalysis' Writer with zarr_format=3 (the extension built in this tree): zarr-python reads the same
    positions MDAnalysis wrote, in a sharded v3 array."""
    zarrtraj = pytest.importorskip("zarrtraj")
    mda = pytest.importorskip("MDAnalysis")
    u = mda.Universe.empty(500, trajectory=True)
    r = zarrtraj.ZARRH5MDReader(src)
    out = str(tmp / "py.zarrmd")
    ref = []
    with zarrtraj.ZARRMDWriter(out, n_atoms=500, zarr_format=3, shard_bytes=60_000, inner_frames=2) as w:
        for ts in r:
            u.atoms.positions = ts.positions
            u.trajectory.ts.data["step"] = ts.data["step"]
            u.trajectory.ts.time = ts.time
            ref.append(ts.positions.copy())
            w.write(u.atoms)
    m = meta(out, "particles/trajectory/position/value")
    assert m["codecs"][0]["name"] == "sharding_indexed"
    assert m["codecs"][0]["configuration"]["chunk_shape"][0] == 2
    got = zarr.open_group(out, mode="r")["particles/trajectory/position/value"][...]
    np.testing.assert_allclose(got, np.array(ref), rtol=1e-6)
    with pytest.raises(ValueError, match="zarr_format must be 2 or 3"):
        zarrtraj.ZARRMDWriter(str(tmp / "bad.zarrmd"), n_atoms=5, zarr_format=4)


@pytest.mark.parametrize("comp", ["lz4", "zlib:level=3", "bz2", "blosc:cname=zstd,clevel=3,shuffle=2", "zstd:level=-1"])
def test_v3_numcodecs_compressors_read_by_zarr_python(cli, tmp, src, comp):
    """Compressors outside the v3 spec go out as numcodecs.* codecs, which zarr-python reads through numcodecs."""
    out = str(tmp / "n.zarrmd")
    run(cli, "convert", src, out, "--zarr-format", "3", "--compressor", comp, "--shard-bytes", "50k")
    ref, got = arrays(src), arrays(out)
    for k in ref:
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)
    inner = meta(out, "particles/trajectory/position/value")["codecs"][0]["configuration"]["codecs"]
    name = comp.split(":")[0]
    assert inner[-1]["name"] == (name if name in ("blosc", "zstd", "gzip") else "numcodecs." + name)
