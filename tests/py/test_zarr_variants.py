"""zarrmd variants written by zarr-python itself (an independent writer; 2.x in
the oldest environment, 3.x with zarr_format=2 in the newest): big-endian
dtypes, '/' dimension separator, NaN fill values with missing chunks, F order,
non-consolidated hierarchies, zarr-python's and numcodecs' default and other
compressors and filters, H5MD version checks, a 2-D box (metadata readable,
frames refused) -- each read correctly or refused with a specific error by the
zarrtraj CLI."""
import json
import os

import numcodecs
import numpy as np
import pytest
import zarr

from conftest import ZARR3, run, zarr_open, zarr_v2_array, zarr_v2_group


def make(path, dtype="<f4", sep=".", order="C", fill=0.0, version=(1, 1), dim=3, compressor="default",
         drop_chunk=None, n=6, natoms=7, filters=None, pos=None, pchunks=None):
    root = zarr_v2_group(path)
    if version is not None:
        root.create_group("h5md").attrs["version"] = list(version)
    g = root.create_group("particles/trajectory")
    box = g.create_group("box")
    box.attrs["dimension"] = dim
    box.attrs["boundary"] = ["periodic"] * dim
    kw = dict(order=order, fill_value=fill, compressor=compressor, separator=sep)
    edges = np.tile(np.diag(np.arange(10.0, 10.0 + dim)), (n, 1, 1)).astype(dtype)
    e = box.create_group("edges")
    zarr_v2_array(e, "value", edges, chunks=(2, dim, dim), **kw)
    zarr_v2_array(e, "step", np.arange(n, dtype=">i8" if dtype[0] == ">" else "<i8"))
    if pos is None:
        pos = (np.arange(n * natoms * dim, dtype=np.float64).reshape(n, natoms, dim) / 7.0).astype(dtype)
    p = g.create_group("position")
    zarr_v2_array(p, "value", pos, chunks=pchunks or (2, 3, dim), filters=filters, **kw)
    p["value"].attrs["unit"] = "nm"
    zarr_v2_array(p, "step", np.arange(n, dtype="<i8"))
    zarr_v2_array(p, "time", np.arange(n, dtype="<f8") * 0.5)
    if drop_chunk:
        os.remove(os.path.join(path, "particles/trajectory/position/value", drop_chunk))
        pos = pos.astype(np.float64)
        pos[2:4, 0:3] = fill if fill is not None else 0
    return pos


def cat(cli, path, *args):
    out = path + ".npy"
    run(cli, "cat", path, "--format", "npy", "-o", out, *args)
    return np.load(out)


@pytest.mark.parametrize("dtype", ["<f4", ">f4", "<f8", ">f8", "<i4", ">i2", "<u2", "|u1"])
def test_dtypes_and_byte_orders(cli, tmp, dtype):
    p = str(tmp / "d.zarrmd")
    pos = make(p, dtype=dtype)
    np.testing.assert_array_equal(cat(cli, p), pos.astype(np.float32))


def test_slash_separator_nan_fill_and_missing_chunk(cli, tmp):
    p = str(tmp / "s.zarrmd")
    pos = make(p, sep="/", fill=float("nan"), drop_chunk="1/0/0")
    got = cat(cli, p)
    np.testing.assert_array_equal(got, pos.astype(np.float32))  # NaN == NaN here
    assert np.isnan(got[2:4, 0:3]).all() and not np.isnan(got[0]).any()
    # zarr-python agrees on the fill
    np.testing.assert_array_equal(zarr_open(p)["particles/trajectory/position/value"][:], got)


@pytest.mark.parametrize("comp", [None, numcodecs.Zstd(level=5), numcodecs.GZip(level=3),
                                  numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.BITSHUFFLE),
                                  numcodecs.LZ4(), numcodecs.BZ2(), numcodecs.Zlib(level=9)])
def test_compressors_written_by_zarr_python(cli, tmp, comp):
    p = str(tmp / "c.zarrmd")
    pos = make(p, compressor=comp)
    np.testing.assert_array_equal(cat(cli, p), pos.astype(np.float32))


def test_zarr_python_default_compressor(cli, tmp):
    """What zarr-python writes when told nothing (zarr 2: Blosc lz4; zarr 3 with
    zarr_format=2: its own default), read back identically."""
    p = str(tmp / "dflt.zarrmd")
    pos = make(p)
    meta = json.load(open(os.path.join(p, "particles/trajectory/position/value/.zarray")))
    assert meta["compressor"] is not None  # a default was written (not "no compression")
    np.testing.assert_array_equal(cat(cli, p), pos.astype(np.float32))


@pytest.mark.parametrize("filters", [
    [numcodecs.Quantize(digits=2, dtype="<f4")],
    [numcodecs.Delta(dtype="<f4")],
    [numcodecs.Shuffle(elementsize=4)],
    [numcodecs.FixedScaleOffset(offset=0, scale=100, dtype="<f4", astype="<i4"), numcodecs.Delta(dtype="<i4")],
])
def test_filters_written_by_zarr_python(cli, tmp, filters):
    """numcodecs filters as zarr-python applies them; values equal zarr-python's own read."""
    p = str(tmp / "flt.zarrmd")
    make(p, filters=filters)
    want = zarr_open(p)["particles/trajectory/position/value"][:]
    np.testing.assert_array_equal(cat(cli, p), want.astype(np.float32))


@pytest.mark.parametrize("filters", [None, [numcodecs.FixedScaleOffset(offset=0, scale=100, dtype="<f4", astype="<i4"),
                                              numcodecs.Delta(dtype="<i4")]])
@pytest.mark.parametrize("dtype", ["<f4", ">f8"])
def test_fortran_order(cli, tmp, filters, dtype):
    """order "F" chunks (edge chunks along frames and atoms included) read as
    zarr-python reads them, through the whole-trajectory, frame-range and
    atom-range paths."""
    if filters and dtype != "<f4":
        pytest.skip("the filters are for float32")
    p = str(tmp / "f.zarrmd")
    make(p, order="F", filters=filters, dtype=dtype, n=7)
    want = zarr_open(p)["particles/trajectory/position/value"][:].astype(np.float32)
    np.testing.assert_array_equal(cat(cli, p), want)
    np.testing.assert_array_equal(cat(cli, p, "--frames", "3:6"), want[3:6])
    np.testing.assert_array_equal(cat(cli, p, "--atoms", "2:6"), want[:, 2:6])
    box = zarr_open(p)["particles/trajectory/box/edges/value"][:].astype(np.float32)
    np.testing.assert_array_equal(cat(cli, p, "--element", "box"), box)


def test_bad_order_is_refused(cli, tmp):
    p = str(tmp / "o.zarrmd")
    make(p)
    za = os.path.join(p, "particles/trajectory/position/value/.zarray")
    meta = json.load(open(za))
    meta["order"] = "K"
    json.dump(meta, open(za, "w"))
    r = run(cli, "cat", p, "--format", "npy", "-o", str(tmp / "x.npy"), check=False)
    assert r.returncode == 1 and "'order' must be \"C\" or \"F\"" in r.stderr
    assert "particles/trajectory/position/value" in r.stderr


@pytest.mark.parametrize("version,msg", [((2, 0), "version 2.0 not supported"), (None, "no 'h5md' group")])
def test_h5md_version_checks(cli, tmp, version, msg):
    p = str(tmp / "v.zarrmd")
    make(p, version=version)
    r = run(cli, "info", p, check=False)
    assert r.returncode == 1 and msg in r.stderr


def test_two_dimensional_box_opens_for_metadata_only(cli, tmp):
    p = str(tmp / "b2.zarrmd")
    make(p, dim=2)
    info = json.loads(run(cli, "info", p, "--json").stdout)
    assert info["n_atoms"] == 7 and info["n_frames"] == 6
    assert info["elements"]["position"]["shape"] == [6, 7, 2]
    r = run(cli, "cat", p, check=False)
    assert r.returncode == 1 and "2-D box" in r.stderr


def test_absurd_shape_is_refused(cli, tmp):
    p = str(tmp / "huge.zarrmd")
    make(p)
    za = os.path.join(p, "particles/trajectory/position/value/.zarray")
    meta = json.load(open(za))
    meta["shape"] = [2**62, 2**40, 3]
    json.dump(meta, open(za, "w"))
    r = run(cli, "info", p, check=False)
    assert r.returncode == 1 and "absurd shape" in r.stderr


@pytest.mark.parametrize("scale,top", [(1000, 2.1e6), (1000, 30.0), (1 / 0.003, 7.0e6), (7, 3.0e8), (100.5, 1.0e3)])
def test_fortran_fso_delta_exact(cli, tmp, scale, top):
    """The compact preset's fused decode (delta cumsum + fixedscaleoffset +
    transposition in one pass) gives zarr-python's float32 values bit for bit,
    also where it must divide instead of multiply (|value| * scale >= 2^24,
    non-integral scales), with edge chunks along both axes."""
    p = str(tmp / "fx.zarrmd")
    rng = np.random.default_rng(5)
    pos = rng.uniform(-top, top, size=(9, 37, 3)).astype("<f4")
    filters = [numcodecs.FixedScaleOffset(offset=0, scale=scale, dtype="<f4", astype="<i4"),
               numcodecs.Delta(dtype="<i4")]
    make(p, order="F", n=9, pos=pos, pchunks=(4, 16, 3), filters=filters,
         compressor=numcodecs.Blosc(cname="zstd", clevel=1, shuffle=numcodecs.Blosc.BITSHUFFLE))
    want = zarr_open(p)["particles/trajectory/position/value"][:].astype(np.float32)
    assert np.abs(want).max() * scale > 2 ** 24 or top <= 1e3  # the division path is reached
    np.testing.assert_array_equal(cat(cli, p).view(np.uint32), want.view(np.uint32))
