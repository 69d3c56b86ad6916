"""Preset compact (issue 13): fixed-point positions differenced along time in
Fortran-order chunks, standard numcodecs codecs only. Every value read back
lies within half a quantum (plus the float32 rounding of the result) of the
value written; zarr-python (2 in the oldest venv, 3 in the newest) reads the
same values as we do; the metadata is what the docs promise; values that do
not fit int32 and H5MD output are refused clearly."""
import json
import os
import warnings

import numpy as np
import pytest

zarrtraj = pytest.importorskip("zarrtraj", reason="zarrtraj extension not built (PYTHONPATH=build/python)")
import MDAnalysis as mda  # noqa: E402

from conftest import run, zarr_open  # noqa: E402
from zarrtraj import ZARRMDWriter  # noqa: E402

POS = "particles/trajectory/position/value"
VEL = "particles/trajectory/velocity/value"


def cat(cli, path, *args):
    out = path + ".npy"
    run(cli, "cat", path, "--format", "npy", "-o", out, *args)
    return np.load(out)


def bound(ref, quantum):
    """half a quantum, plus two float32 spacings of the value: the encoder
    computes value * scale in float32 as numcodecs does (half a spacing of the
    product, i.e. about one of the value), and the decoded value is the float32
    nearest to k * quantum (half a spacing)."""
    return quantum / 2 + 2 * np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)


def within(got, ref, quantum):
    err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    assert (err <= bound(ref, quantum)).all(), float(err.max())
    # and it really is quantized: not lossless by accident
    assert err.max() > quantum / 100


@pytest.fixture(scope="module")
def source(tmp_path_factory, cli):
    p = str(tmp_path_factory.mktemp("src") / "src.zarrmd")
    run(cli, "synth", p, "--atoms", "2600", "--frames", "230", "--forces", "--seed", "5")
    return p


def test_cli_compact_values_metadata_and_zarr_python(cli, tmp, source):
    out = str(tmp / "c.zarrmd")
    # --chunk-bytes 48k: blocks of 1024 atoms, so 2600 atoms need an edge block
    run(cli, "convert", source, out, "--preset", "compact", "--chunk-bytes", "48k")
    meta = json.load(open(os.path.join(out, POS, ".zarray")))
    assert meta["order"] == "F" and meta["dtype"] == "<f4"
    assert meta["chunks"] == [100, 1024, 3] and meta["shape"] == [230, 2600, 3]
    fso, delta = meta["filters"]
    assert fso == {"id": "fixedscaleoffset", "offset": 0.0, "scale": 100.0, "dtype": "<f4", "astype": "<i4"}
    assert delta == {"id": "delta", "dtype": "<i4", "astype": "<i4"}
    c = meta["compressor"]
    assert (c["id"], c["cname"], c["shuffle"]) == ("blosc", "zstd", 2)
    # 0.001 nm is 0.01 Angstrom, the synth's unit
    assert json.load(open(os.path.join(out, POS, ".zattrs")))["unit"] == "Angstrom"
    ref = cat(cli, source)
    ours = cat(cli, out)
    within(ours, ref, 0.01)
    np.testing.assert_array_equal(zarr_open(out)[POS][:].astype(np.float32), ours)
    # frame and atom ranges cut across chunks and atom blocks
    np.testing.assert_array_equal(cat(cli, out, "--frames", "95:205:3", "--atoms", "1000:2100"),
                                  ours[95:205:3, 1000:2100])
    # without --precision, velocities and forces stay floats (lossless), in C order
    vm = json.load(open(os.path.join(out, VEL, ".zarray")))
    assert vm["order"] == "C" and vm["filters"] is None
    np.testing.assert_array_equal(cat(cli, out, "--element", "velocity"), cat(cli, source, "--element", "velocity"))
    # step, time and box unchanged
    for el in ("step", "time", "box"):
        np.testing.assert_array_equal(cat(cli, out, "--element", el), cat(cli, source, "--element", el))


def test_zarr_v3_compact_form(cli, tmp, source):
    """The v3 form: transpose (axes reversed = order F) + numcodecs.fixedscaleoffset
    + numcodecs.delta + bytes + blosc bitshuffle, not sharded; the same values as
    the v2 form, read identically by zarr-python 3."""
    out, out2 = str(tmp / "c3.zarrmd"), str(tmp / "c2.zarrmd")
    run(cli, "convert", source, out, "--preset", "compact", "--chunk-bytes", "48k", "--zarr-format", "3",
        "--precision", "1")
    run(cli, "convert", source, out2, "--preset", "compact", "--chunk-bytes", "48k", "--precision", "1")
    meta = json.load(open(os.path.join(out, POS, "zarr.json")))
    assert meta["chunk_grid"]["configuration"]["chunk_shape"] == [100, 1024, 3] and meta["shape"] == [230, 2600, 3]
    names = [c["name"] for c in meta["codecs"]]
    assert names == ["transpose", "numcodecs.fixedscaleoffset", "numcodecs.delta", "bytes", "blosc"], names
    assert meta["codecs"][0]["configuration"]["order"] == [2, 1, 0]
    assert meta["codecs"][1]["configuration"] == {"offset": 0.0, "scale": 10.0, "dtype": "<f4", "astype": "<i4"}
    blosc = meta["codecs"][4]["configuration"]
    assert (blosc["cname"], blosc["shuffle"], blosc["typesize"]) == ("zstd", "bitshuffle", 4)
    ours = cat(cli, out)
    within(ours, cat(cli, source), 0.1)
    np.testing.assert_array_equal(ours, cat(cli, out2))
    vel = cat(cli, out, "--element", "velocity")
    np.testing.assert_array_equal(vel, cat(cli, out2, "--element", "velocity"))
    np.testing.assert_array_equal(cat(cli, out, "--frames", "95:205:3", "--atoms", "1000:2100"),
                                  ours[95:205:3, 1000:2100])
    import zarr
    if int(zarr.__version__.split(".")[0]) >= 3:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numcodecs.* codecs are not in the v3 spec
            g = zarr.open_group(out, mode="r", zarr_format=3)
            np.testing.assert_array_equal(g[POS][:], ours)
            np.testing.assert_array_equal(g[VEL][:], vel)
    r = run(cli, "convert", source, str(tmp / "s.zarrmd"), "--preset", "compact", "--zarr-format", "3",
            "--shard-bytes", "64M", check=False)
    assert r.returncode != 0 and "preset compact is not sharded" in r.stderr, r.stderr


@pytest.mark.parametrize("args,quantum", [(["--precision", "1"], 0.1), (["--quantum", "0.5 nm"], 5.0),
                                          (["--quantum", "0.02"], 0.02)])
def test_quantum_choices(cli, tmp, source, args, quantum):
    out = str(tmp / "q.zarrmd")
    run(cli, "convert", source, out, "--preset", "compact", *args)
    meta = json.load(open(os.path.join(out, POS, ".zarray")))
    assert meta["filters"][0]["scale"] == pytest.approx(1 / quantum)
    within(cat(cli, out), cat(cli, source), quantum)
    np.testing.assert_array_equal(zarr_open(out)[POS][:].astype(np.float32), cat(cli, out))
    if "--precision" in args:  # velocities too, at their own precision
        vm = json.load(open(os.path.join(out, VEL, ".zarray")))
        assert vm["order"] == "F" and vm["filters"][0]["scale"] == pytest.approx(1 / quantum)
        within(cat(cli, out, "--element", "velocity"), cat(cli, source, "--element", "velocity"), quantum)


def test_python_writer_compact_from_mdanalysis(tmp, source):
    u = mda.Universe(source)
    out = str(tmp / "py.zarrmd")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with ZARRMDWriter(out, u.atoms.n_atoms, n_frames=len(u.trajectory), preset="compact",
                          quantum="0.002 nm") as w:
            for ts in u.trajectory:
                w.write(u.atoms)
        ref = np.array([ts.positions.copy() for ts in u.trajectory])
        v = mda.Universe(source, out)
        got = np.array([ts.positions.copy() for ts in v.trajectory])
    within(got, ref, 0.02)
    np.testing.assert_array_equal(zarr_open(out)[POS][:], got)


def test_python_writer_rejects_bad_settings(tmp):
    with pytest.raises(ValueError, match="preset"):
        ZARRMDWriter(str(tmp / "a.zarrmd"), 10, preset="tiny")
    with pytest.raises(ValueError, match="quantum needs"):
        ZARRMDWriter(str(tmp / "b.zarrmd"), 10, quantum=0.01)


def test_value_too_large_for_int32_is_refused(cli, tmp, source):
    out = str(tmp / "big.zarrmd")
    r = run(cli, "convert", source, out, "--preset", "compact", "--quantum", "1e-9", check=False)
    assert r.returncode != 0
    assert "does not fit the compact encoding's int32 at quantum 1e-09" in r.stderr
    assert "particles/trajectory/position" in r.stderr


@pytest.mark.parametrize("bad", [np.nan, np.inf, -3e7])
def test_nan_or_huge_position_is_refused(tmp, bad):
    # the writer's quick range scan and its exact check agree: any such value stops the write
    u = mda.Universe.empty(10, trajectory=True)
    pos = np.arange(30, dtype=np.float32).reshape(10, 3)
    pos[7, 1] = bad
    u.atoms.positions = pos
    with pytest.raises(Exception, match="atom 7, step 0"):
        with ZARRMDWriter(str(tmp / "nan.zarrmd"), 10, preset="compact") as w:
            w.write(u.atoms)


@pytest.mark.parametrize("args,msg", [
    (["--preset", "compact"], "preset compact is a Zarr encoding"),
    (["--preset", "small"], "unknown preset 'small'"),
    (["--quantum", "0.01"], "a quantum needs preset compact"),
    (["--preset", "compact", "--quantum", "0.01 parsec"], "unknown length unit 'parsec'"),
    (["--preset", "compact", "--quantum", "-1"], "quantum must be a positive number"),
])
def test_bad_settings(cli, tmp, source, args, msg):
    out = str(tmp / ("x.h5md" if args == ["--preset", "compact"] else "x.zarrmd"))
    r = run(cli, "convert", source, out, *args, check=False)
    assert r.returncode != 0 and msg in r.stderr, r.stderr
    assert not os.path.exists(out) or args != ["--preset", "compact"]
