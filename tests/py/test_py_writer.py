"""ZARRMDWriter round trips to a local directory, the S3 emulator (checked with
boto3 + zarr-python) and the Azure emulator; precision and compressor honoured
(checked with zarr-python/numcodecs); units; observables; error cases."""
import importlib.util
import os
import shutil
import uuid
import warnings

import numpy as np
import pytest

zarrtraj = pytest.importorskip("zarrtraj", reason="zarrtraj extension not built (PYTHONPATH=build/python)")
import MDAnalysis as mda  # noqa: E402
import numcodecs  # noqa: E402
import zarr  # noqa: E402

from conftest import run, zarr_codecs  # noqa: E402
from zarrtraj import ZARRH5MDReader, ZARRMDWriter  # noqa: E402

DATA = os.environ.get("ZT_DATA_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
if not os.path.exists(os.path.join(DATA, "expected.json")):
    pytest.skip("shared data folder not found (ZT_DATA_DIR)", allow_module_level=True)
MIXED = os.path.join(DATA, "generated/zarrtraj_lammps_arkr_mixed_sampling.zarrmd")
TIP125 = os.path.join(DATA, "generated/mda242_charmm_tip125_triclinic.h5md")
VALUE = "particles/trajectory/{}/value"


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def write(u, url, **kw):
    with mda.Writer(url, n_atoms=u.atoms.n_atoms, **kw) as w:
        for ts in u.trajectory:
            w.write(u.atoms)


def assert_same(src, dst, atol=0.0, obs=True):
    """Every frame of Universe `src` equals ZARRH5MDReader `dst` (MDAnalysis units);
    `atol` a number or a dict per attribute (positions, velocities, forces)."""
    assert len(dst) == len(src.trajectory)
    for a, b in zip(src.trajectory, dst):
        assert a.data["step"] == b.data["step"]
        assert b.time == pytest.approx(a.time, rel=1e-9, abs=1e-9)
        for attr in ("positions", "velocities", "forces"):
            assert getattr(a, "has_" + attr) == getattr(b, "has_" + attr), (attr, a.frame)
            if getattr(a, "has_" + attr):
                tol = atol.get(attr, 0.0) if isinstance(atol, dict) else atol
                np.testing.assert_allclose(getattr(b, attr), getattr(a, attr), atol=tol, rtol=1e-6)
        tol = atol.get("positions", 0.0) if isinstance(atol, dict) else atol
        np.testing.assert_allclose(b.dimensions, a.dimensions, atol=max(tol, 1e-4), rtol=1e-6)
        if obs:
            for k, v in a.data.items():
                if k.startswith("trajectory/"):
                    assert b.data[k] == pytest.approx(v), k


# ---- local ---------------------------------------------------------------------------------------------


def test_roundtrip_local_lossless(tmp_path):
    u = mda.Universe(MIXED)
    out = str(tmp_path / "out.zarrmd")
    write(u, out, n_frames=u.trajectory.n_frames)
    assert_same(u, ZARRH5MDReader(out))
    g = zarr.open_group(out, mode="r")
    pos = g[VALUE.format("position")]
    assert pos.shape == (21, 256, 3) and pos.dtype == np.float32
    assert g[VALUE.format("velocity")].shape[0] == 11 and g[VALUE.format("force")].shape[0] == 6
    assert zarr_codecs(pos) == (numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE), [])
    # stored in the source trajectory's units, as upstream Zarrtraj does (this LAMMPS run: Angstrom, fs)
    assert u.trajectory.units["time"] == "fs"
    assert pos.attrs["unit"] == "Angstrom" and g["particles/trajectory/position/time"].attrs["unit"] == "fs"
    assert g["h5md"].attrs["version"] == [1, 1]
    assert list(g["particles/trajectory/box"].attrs["boundary"]) == ["periodic"] * 3
    np.testing.assert_allclose(g["observables/trajectory/temperature/value"][:3], [150.0, 142.56911, 115.16376])
    u.trajectory[4]
    np.testing.assert_array_equal(pos[4], u.atoms.positions)


@pytest.mark.parametrize("compressor,expect", [
    (numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.BITSHUFFLE),
     numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.BITSHUFFLE)),
    (numcodecs.Zstd(level=5), numcodecs.Zstd(level=5)),
    ({"id": "zlib", "level": 3}, numcodecs.Zlib(level=3)),
    ("gzip:level=4", numcodecs.GZip(level=4)),
    (numcodecs.LZ4(), numcodecs.LZ4()),
])
def test_precision_and_compressor_zarr_python(tmp_path, compressor, expect):
    u = mda.Universe(TIP125)
    out = str(tmp_path / "q.zarrmd")
    write(u, out, precision=3, compressor=compressor)
    g = zarr.open_group(out, mode="r")
    for el in ("position", "box/edges"):
        a = g[VALUE.format(el)]
        assert zarr_codecs(a) == (expect, [numcodecs.Quantize(digits=3, dtype="<f4")]), el
    assert zarr_codecs(g["particles/trajectory/position/time"])[1] == []  # time stays lossless
    pos = g[VALUE.format("position")][:]
    ref = np.stack([ts.positions.copy() for ts in u.trajectory])
    err = np.abs(pos - ref).max()
    assert 0 < err <= 0.5e-3 * 1.01  # quantised to 10**-3, not lossless
    r = ZARRH5MDReader(out)
    np.testing.assert_array_equal(r.timeseries(), pos)  # zarr-python and our reader agree bit for bit
    assert_same(u, r, atol=1e-3)


def test_zarrtraj_documentation_example(tmp_path):
    """As in Zarrtraj's documentation (no n_frames; zstd clevel 9 and precision 3)."""
    u = mda.Universe(TIP125)
    out = str(tmp_path / "doc.zarrmd")
    with mda.Writer(out, n_atoms=u.atoms.n_atoms, precision=3,
                    compressor=numcodecs.Blosc(cname="zstd", clevel=9)) as W:
        for ts in u.trajectory:
            W.write(u.atoms)
    a = zarr.open_group(out, mode="r")[VALUE.format("position")]
    assert zarr_codecs(a)[0].cname == "zstd" and zarr_codecs(a)[0].clevel == 9
    assert a.shape[0] == len(u.trajectory)
    assert_same(u, ZARRH5MDReader(out), atol=1e-3)


def test_units(tmp_path):
    u = mda.Universe(MIXED)
    out = str(tmp_path / "units.zarrmd")
    write(u, out, lengthunit="nm", velocityunit="Angstrom/fs", timeunit="fs", forceunit="kcal/(mol*Angstrom)")
    g = zarr.open_group(out, mode="r")
    assert g[VALUE.format("position")].attrs["unit"] == "nm"
    assert g[VALUE.format("velocity")].attrs["unit"] == "Angstrom fs-1"
    assert g[VALUE.format("force")].attrs["unit"] == "kcal mol-1 Angstrom-1"
    assert g["particles/trajectory/position/time"].attrs["unit"] == "fs"
    u.trajectory[2]
    np.testing.assert_allclose(g[VALUE.format("position")][2], u.atoms.positions / 10, rtol=1e-6)
    np.testing.assert_allclose(g[VALUE.format("velocity")][1], u.atoms.velocities / 1000, rtol=1e-6)
    np.testing.assert_allclose(g["particles/trajectory/position/time"][2], u.trajectory.time * 1000)
    assert_same(u, ZARRH5MDReader(out), atol=1e-4)  # converted back with the right factors


def test_selection_and_observables(tmp_path):
    u = mda.Universe(MIXED)
    sel = u.atoms[10:20]
    out = str(tmp_path / "sel.zarrmd")
    with ZARRMDWriter(out, sel.n_atoms, n_frames=21) as w:
        for ts in u.trajectory:
            w.write(sel)
    r = ZARRH5MDReader(out)
    for ts, ts2 in zip(u.trajectory, r):
        np.testing.assert_array_equal(ts2.positions, sel.positions)
        assert ts2.data["trajectory/pressure"] == pytest.approx(ts.data["trajectory/pressure"])


def test_writer_errors(tmp_path):
    u = mda.Universe(MIXED)
    with pytest.raises(ValueError):
        ZARRMDWriter(str(tmp_path / "a.zarrmd"), 0)
    with pytest.raises(ValueError):
        ZARRMDWriter(str(tmp_path / "a.zarrmd"), 5, positions=False, velocities=False, forces=False)
    with pytest.raises(TypeError):
        with ZARRMDWriter(str(tmp_path / "b.zarrmd"), 42, n_frames=1) as w:
            w.write(None)
    with pytest.raises(IOError):
        with ZARRMDWriter(str(tmp_path / "c.zarrmd"), 42) as w:
            w.write(u.atoms)
    with pytest.raises(ValueError, match="unit"):
        ZARRMDWriter(str(tmp_path / "d.zarrmd"), 5, lengthunit="furlong")
    with pytest.raises(ValueError):
        ZARRMDWriter(str(tmp_path / "e.zarrmd"), 5, compressor={"id": "no-such-codec"})
    out = str(tmp_path / "f.zarrmd")
    write(u, out)
    with pytest.raises(FileExistsError):  # the output is created with the first frame, as upstream does
        write(u, out, overwrite=False)
    write(u, out)  # MDAnalysis semantics: replaced by default
    assert len(ZARRH5MDReader(out)) == 21


# ---- object storage ----------------------------------------------------------------------------------


def s3_options(emu):
    return {"endpoint_url": emu["ZT_S3_ENDPOINT"], "key": emu["ZT_S3_KEY"], "secret": emu["ZT_S3_SECRET"],
            "region": "us-east-1"}


def az_options(emu):
    return {"endpoint_url": emu["ZT_AZURE_ENDPOINT"], "account_name": emu["ZT_AZURE_ACCOUNT"],
            "account_key": emu["ZT_AZURE_KEY"]}


def s3_download(emu, prefix, dest):
    """Every object under prefix, fetched with boto3 (independent of us)."""
    import boto3

    c = boto3.client("s3", endpoint_url=emu["ZT_S3_ENDPOINT"], aws_access_key_id=emu["ZT_S3_KEY"],
                     aws_secret_access_key=emu["ZT_S3_SECRET"], region_name="us-east-1")
    keys = []
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=emu["ZT_S3_BUCKET"], Prefix=prefix + "/"):
        keys += [o["Key"] for o in page.get("Contents", [])]
    for k in keys:
        p = os.path.join(dest, os.path.relpath(k, prefix))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        c.download_file(emu["ZT_S3_BUCKET"], k, p)
    return keys


def test_roundtrip_s3(emulators, tmp_path):
    if "ZT_S3_ENDPOINT" not in emulators:
        pytest.skip("S3 emulator not running")
    u = mda.Universe(MIXED)
    prefix = f"pytest-py-writer/{uuid.uuid4().hex}/out.zarrmd"
    url = f"s3://{emulators['ZT_S3_BUCKET']}/{prefix}"
    so = s3_options(emulators)
    write(u, url, storage_options=so, precision=3, compressor=numcodecs.Zstd(level=3))
    # streamed back through the reader, as a Universe with and without a topology; precision applies in the
    # stored units, the source's (Angstrom, fs, kcal/(mol*Angstrom)): half of 10**-3 of each, in MDAnalysis units
    r = ZARRH5MDReader(url, storage_options=so)
    assert r.units == u.trajectory.units and r.units["force"] == "kcal/(mol*Angstrom)"
    tol = {a: 0.5e-3 * zarrtraj._units.factor(k, zarrtraj._units.to_h5md(k, u.trajectory.units[k])) * 1.01
           for a, k in (("positions", "length"), ("velocities", "velocity"), ("forces", "force"))}
    assert_same(u, r, atol=tol)
    u2 = mda.Universe(MIXED, url, storage_options=so)
    assert u2.trajectory.n_frames == 21 and u2.trajectory.filename == url
    assert mda.Universe(url, storage_options=so).atoms.n_atoms == 256
    # the objects, fetched with boto3, are a zarr hierarchy zarr-python reads
    keys = s3_download(emulators, prefix, str(tmp_path / "copy.zarrmd"))
    assert any(k.endswith("/.zmetadata") for k in keys)
    g = zarr.open_consolidated(str(tmp_path / "copy.zarrmd"), mode="r")
    pos = g[VALUE.format("position")]
    assert zarr_codecs(pos) == (numcodecs.Zstd(level=3), [numcodecs.Quantize(digits=3, dtype="<f4")])
    np.testing.assert_array_equal(pos[:], ZARRH5MDReader(url, storage_options=so).timeseries())
    # wrong secret: PermissionError naming no secret
    bad = dict(so, secret="wrong-secret")
    with pytest.raises(PermissionError) as ei:
        ZARRH5MDReader(url, storage_options=bad)
    assert "wrong-secret" not in str(ei.value)


def test_roundtrip_azure(emulators, tmp_path, cli):
    if "ZT_AZURE_ENDPOINT" not in emulators:
        pytest.skip("Azure emulator not running")
    u = mda.Universe(TIP125)
    prefix = f"pytest-py-writer/{uuid.uuid4().hex}/out.zarrmd"
    url = f"az://{emulators['ZT_AZURE_CONTAINER']}/{prefix}"
    so = az_options(emulators)
    write(u, url, storage_options=so, n_frames=len(u.trajectory), compressor={"id": "blosc", "cname": "zstd",
                                                                              "clevel": 3, "shuffle": 2})
    assert_same(u, ZARRH5MDReader(url, storage_options=so))
    # an independent request (SharedKey-signed REST) sees the consolidated metadata blob
    tool = os.path.join(os.environ.get("ZT_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")),
                        "scripts", "emulators", "emutool.py")
    spec = importlib.util.spec_from_file_location("emutool", tool)
    emutool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(emutool)
    st = emutool.azure_request("HEAD", emulators["ZT_AZURE_ENDPOINT"], emulators["ZT_AZURE_ACCOUNT"],
                               emulators["ZT_AZURE_KEY"], f"/{emulators['ZT_AZURE_CONTAINER']}/{prefix}/.zmetadata",
                               {})
    assert st == 200
    # a local copy is a zarr hierarchy zarr-python reads with the compressor asked for
    local = str(tmp_path / "az.zarrmd")
    opts = []
    for k, v in so.items():
        opts += ["-S", f"{k}={v}"]
    run(cli, "cp", url, local, *opts, "-q")
    a = zarr.open_group(local, mode="r")[VALUE.format("position")]
    assert zarr_codecs(a)[0] == numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.BITSHUFFLE)
    np.testing.assert_array_equal(a[:], np.stack([ts.positions.copy() for ts in u.trajectory]))
    shutil.rmtree(local)


# ---- codec objects of today's numcodecs and zarr-python 3 --------------------------------------------

def _codec_objects():
    """(codec object, the numcodecs codec it must be stored as), for what is importable here."""
    out = [(numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.BITSHUFFLE),
            numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.BITSHUFFLE)),
           (numcodecs.Zstd(level=2), numcodecs.Zstd(level=2))]
    try:
        import numcodecs.zarr3 as nz3

        out += [(nz3.Zstd(level=4), numcodecs.Zstd(level=4)), (nz3.Blosc(cname="lz4"), numcodecs.Blosc(cname="lz4"))]
    except ImportError:  # numcodecs < 0.14
        pass
    try:
        from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

        out += [(BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"),
                 numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.SHUFFLE)),
                (ZstdCodec(level=5), numcodecs.Zstd(level=5)), (GzipCodec(level=2), numcodecs.GZip(level=2))]
    except ImportError:  # zarr-python 2
        pass
    return out


@pytest.mark.parametrize("codec,expect", _codec_objects(), ids=lambda c: type(c).__module__ + "." + type(c).__name__)
def test_codec_objects_of_numcodecs_and_zarr3(tmp_path, codec, expect):
    u = mda.Universe(TIP125)
    out = str(tmp_path / "c.zarrmd")
    write(u, out, compressor=codec)
    a = zarr.open_group(out, mode="r")[VALUE.format("position")]
    assert zarr_codecs(a) == (expect, [])
    np.testing.assert_array_equal(a[:], np.stack([ts.positions.copy() for ts in u.trajectory]))


def test_quantize_filter_object_is_precision(tmp_path):
    try:
        import numcodecs.zarr3 as nz3
        filters = [nz3.Quantize(digits=2, dtype="<f4")]
    except ImportError:
        filters = [numcodecs.Quantize(digits=2, dtype="<f4")]
    u = mda.Universe(TIP125)
    out = str(tmp_path / "f.zarrmd")
    write(u, out, filters=filters)
    a = zarr.open_group(out, mode="r")[VALUE.format("position")]
    assert zarr_codecs(a)[1] == [numcodecs.Quantize(digits=2, dtype="<f4")]
