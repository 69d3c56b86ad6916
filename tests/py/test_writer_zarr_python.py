"""Our zarrmd output read by zarr-python (2.x in the oldest environment, 3.x in
the newest) and numcodecs."""
import json
import os
import signal
import subprocess
import time

import numcodecs
import numpy as np
import pytest
import zarr

from conftest import run, zarr_codecs, zarr_open

G = "particles/trajectory"


def npy(cli, path, *args):
    out = path + ".npy.tmp"
    run(cli, "cat", path, "--format", "npy", "-o", out, *args)
    a = np.load(out)
    os.remove(out)
    return a


def test_zarr_python_reads_default_output(cli, tmp):
    p = str(tmp / "d.zarrmd")
    run(cli, "synth", p, "--atoms", "321", "--frames", "37", "--chunk-bytes", "20k", "--forces")
    for g in (zarr_open(p, consolidated=True), zarr_open(p)):
        assert dict(g["h5md"].attrs)["version"] == [1, 1]
        assert g["h5md/creator"].attrs["name"] == "zarrtraj"
        assert g[G + "/box"].attrs["dimension"] == 3
        assert list(g[G + "/box"].attrs["boundary"]) == ["periodic"] * 3
        pos = g[G + "/position/value"]
        assert pos.shape == (37, 321, 3) and pos.dtype == np.float32
        assert pos.chunks[0] == max(1, 20 * 1024 // (321 * 12))
        assert zarr_codecs(pos) == (numcodecs.Blosc(cname="lz4", clevel=5, shuffle=1), [])
        assert g[G + "/position/value"].attrs["unit"] == "Angstrom"
        assert g[G + "/position/time"].attrs["unit"] == "ps"
        assert g[G + "/velocity/value"].attrs["unit"] == "Angstrom ps-1"
        assert g[G + "/position/step"].dtype == np.int64
        assert g[G + "/position/time"].dtype == np.float64
        np.testing.assert_array_equal(pos[:], npy(cli, p))
        np.testing.assert_array_equal(g[G + "/velocity/value"][:], npy(cli, p, "-e", "velocity"))
        np.testing.assert_array_equal(g[G + "/force/value"][:], npy(cli, p, "-e", "force"))
        np.testing.assert_array_equal(g[G + "/position/step"][:], npy(cli, p, "-e", "step"))
        np.testing.assert_array_equal(g[G + "/position/step"][:], np.arange(37) * 500)
        np.testing.assert_array_equal(g[G + "/position/time"][:], npy(cli, p, "-e", "time"))
        np.testing.assert_array_equal(g[G + "/box/edges/value"][:], npy(cli, p, "-e", "box").astype(np.float32))
        np.testing.assert_array_equal(g[G + "/box/edges/step"][:], g[G + "/position/step"][:])
        np.testing.assert_array_equal(
            g["observables/trajectory/temperature/value"][:], npy(cli, p, "-e", "trajectory/temperature"))
        # slices and atom ranges agree too
        np.testing.assert_array_equal(pos[3:30:4, 10:20], npy(cli, p, "--frames", "3:30:4", "--atoms", "10:20"))


@pytest.mark.parametrize("digits", [0, 2, 3, 5])
def test_precision_is_numcodecs_quantize(cli, tmp, digits):
    lossless, lossy = str(tmp / "a.zarrmd"), str(tmp / "b.zarrmd")
    run(cli, "synth", lossless, "--atoms", "500", "--frames", "12", "--seed", "7")
    run(cli, "synth", lossy, "--atoms", "500", "--frames", "12", "--seed", "7",
        "--precision", str(digits), "--compressor", "zstd:level=3")
    a = zarr_open(lossless, consolidated=True)
    b = zarr_open(lossy, consolidated=True)
    v = b[G + "/position/value"]
    assert zarr_codecs(v) == (numcodecs.Zstd(level=3), [numcodecs.Quantize(digits=digits, dtype="<f4", astype="<f4")])
    x = a[G + "/position/value"][:]
    q = v[:]
    # bit-for-bit what numcodecs' own Quantize produces from the lossless data
    expect = numcodecs.Quantize(digits=digits, dtype="<f4").decode(
        numcodecs.Quantize(digits=digits, dtype="<f4").encode(x)).reshape(x.shape)
    np.testing.assert_array_equal(q, expect)
    assert np.max(np.abs(q - x)) <= 0.5 * 10.0 ** -digits + 1e-5
    # time and observables stay lossless
    np.testing.assert_array_equal(b[G + "/position/time"][:], a[G + "/position/time"][:])


def test_compressor_json_spec(cli, tmp):
    p = str(tmp / "c.zarrmd")
    spec = json.dumps({"id": "blosc", "cname": "zstd", "clevel": 2, "shuffle": 2})
    run(cli, "synth", p, "--atoms", "64", "--frames", "5", "--compressor", spec)
    v = zarr_open(p, consolidated=True)[G + "/position/value"]
    assert zarr_codecs(v)[0] == numcodecs.Blosc(cname="zstd", clevel=2, shuffle=2)
    np.testing.assert_array_equal(v[:], npy(cli, p))


def test_killed_writer_leaves_valid_zarrmd(cli, tmp):
    """SIGKILL mid-run: every frame listed in the metadata reads back, equal to
    the same frames of an uninterrupted run (synth is deterministic)."""
    p = str(tmp / "k.zarrmd")
    proc = subprocess.Popen([cli, "synth", p, "--atoms", "20000", "--frames", "100000",
                             "--chunk-bytes", "480000"], stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    n = 0
    try:
        while time.time() < deadline:
            time.sleep(0.2)
            try:
                md = json.load(open(os.path.join(p, ".zmetadata")))
                n = md["metadata"][G + "/position/value/.zarray"]["shape"][0]
            except (OSError, ValueError, KeyError):
                continue
            if n >= 8:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert n >= 8, "writer did not flush in time"
    g = zarr_open(p, consolidated=True)
    pos = g[G + "/position/value"]
    m = pos.shape[0]
    assert m >= n and m % 2 == 0  # whole chunks only (2 frames per chunk)
    assert g[G + "/position/step"].shape[0] == m and g[G + "/position/time"].shape[0] == m
    assert g[G + "/box/edges/value"].shape[0] >= m
    ref = str(tmp / "ref.zarrmd")
    run(cli, "synth", ref, "--atoms", "20000", "--frames", str(m), "--chunk-bytes", "480000")
    r = zarr_open(ref, consolidated=True)
    np.testing.assert_array_equal(pos[:], r[G + "/position/value"][:])
    np.testing.assert_array_equal(g[G + "/velocity/value"][:m], r[G + "/velocity/value"][:])
    # and our own reader agrees
    info = json.loads(run(cli, "info", p, "--json").stdout)
    assert info["n_frames"] >= m
