"""Zarr v3 zarrmd written by zarr-python 3 (an independent writer): every codec and
layout of the issue (sharded and not, index at either end, both chunk key
encodings, nested sharding, numcodecs.* codecs, fill values, dtypes), read by
the zarrtraj CLI, the C reader (through the CLI) and the Python reader, compared
with what zarr-python itself reads; bad v3 input gives a specific error.
Newest environment only (zarr-python 3)."""
import json
import os
import struct

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
if int(zarr.__version__.split(".")[0]) < 3:
    pytest.skip("needs zarr-python 3", allow_module_level=True)
from zarr.codecs import (BloscCodec, BytesCodec, Crc32cCodec, GzipCodec, ShardingCodec,  # noqa: E402
                         TransposeCodec, ZstdCodec)

from conftest import run  # noqa: E402

try:
    import zarr.codecs.numcodecs as nz  # zarr-python >= 3.1.3
except ImportError:  # pragma: no cover
    import numcodecs.zarr3 as nz

import warnings  # noqa: E402

warnings.filterwarnings("ignore", category=UserWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)

N, NATOMS = 12, 10


def positions(dtype="f4"):
    return (np.arange(N * NATOMS * 3, dtype=np.float64).reshape(N, NATOMS, 3) / 7.0).astype(dtype)


def make(path, pos=None, consolidate=True, key_sep="/", v2keys=False, **value_kw):
    """An H5MD-layout Zarr v3 hierarchy; value_kw go to position/value's create_array."""
    pos = positions() if pos is None else pos
    root = zarr.open_group(path, mode="w", zarr_format=3)
    root.create_group("h5md").attrs["version"] = [1, 1]
    g = root.create_group("particles/trajectory")
    box = g.create_group("box")
    box.attrs["dimension"] = 3
    box.attrs["boundary"] = ["none"] * 3
    p = g.create_group("position")
    kw = dict(value_kw)
    if v2keys:
        kw["chunk_key_encoding"] = {"name": "v2", "separator": "."}
    elif key_sep != "/":
        kw["chunk_key_encoding"] = {"name": "default", "separator": key_sep}
    kw.setdefault("chunks", (4, 5, 3))
    a = p.create_array("value", shape=pos.shape, dtype=pos.dtype, **kw)
    a[...] = pos
    a.attrs["unit"] = "nm"
    st = p.create_array("step", shape=(N,), dtype="i8", chunks=(5,))
    st[:] = np.arange(N) * 10
    t = p.create_array("time", shape=(N,), dtype="f8", chunks=(N,))
    t[:] = np.arange(N) * 0.5
    t.attrs["unit"] = "ps"
    if consolidate:
        zarr.consolidate_metadata(path)
    return pos


def cat(cli, path, *args):
    out = str(path) + ".npy"
    run(cli, "cat", path, "--format", "npy", "-o", out, *args)
    return np.load(out)


def reference(path):
    return zarr.open_group(path, mode="r")["particles/trajectory/position/value"][...]


def check(cli, path, pos):
    ref = reference(path)
    np.testing.assert_array_equal(ref, pos)
    got = cat(cli, path)
    np.testing.assert_array_equal(got, ref.astype(np.float32))
    return got


def py_reader(path):
    try:
        import zarrtraj
    except ImportError:
        pytest.skip("zarrtraj Python package not importable")
    import MDAnalysis as mda  # noqa: F401
    r = zarrtraj.ZARRH5MDReader(str(path))
    try:
        return np.array([ts.positions.copy() for ts in r]), [ts.data.get("step") for ts in r], r
    finally:
        pass


LAYOUTS = {
    "plain": dict(),
    "sharded_end": dict(shards=(8, 10, 3)),
    "sharded_start": dict(serializer=None, shards=None, codecs=None),  # filled below
}


def sharding(chunk, index_location="end", codecs=None, index_codecs=None):
    return ShardingCodec(chunk_shape=chunk, codecs=codecs or [BytesCodec(), ZstdCodec(level=3)],
                         index_codecs=index_codecs or [BytesCodec(), Crc32cCodec()], index_location=index_location)


@pytest.mark.parametrize("loc", ["end", "start"])
@pytest.mark.parametrize("consolidate", [True, False])
def test_sharded_index_either_end(cli, tmp, loc, consolidate):
    p = str(tmp / "s.zarrmd")
    pos = make(p, consolidate=consolidate, chunks=(8, 10, 3), serializer=sharding((2, 5, 3), loc), compressors=None)
    check(cli, p, pos)


def test_sharded_zarr_python_default(cli, tmp):
    p = str(tmp / "d.zarrmd")
    pos = make(p, chunks=(2, 5, 3), shards=(8, 10, 3))
    meta = json.load(open(os.path.join(p, "particles/trajectory/position/value/zarr.json")))
    assert meta["codecs"][0]["name"] == "sharding_indexed"
    check(cli, p, pos)
    info = json.loads(run(cli, "info", p, "--json").stdout)
    s = json.dumps(info, separators=(",", ":"))
    assert '"shard_shape":[8,10,3]' in s and '"inner_chunk_shape":[2,5,3]' in s, s
    text = run(cli, "info", p).stdout
    assert "chunks [2,5,3] (Zarr v3, inner chunks of shards [8,10,3])" in text, text


@pytest.mark.parametrize("sep,v2", [("/", False), (".", False), (".", True)])
@pytest.mark.parametrize("shards", [None, (8, 10, 3)])
def test_chunk_key_encodings(cli, tmp, sep, v2, shards):
    p = str(tmp / "k.zarrmd")
    pos = make(p, key_sep=sep, v2keys=v2, chunks=(2, 5, 3), shards=shards)
    check(cli, p, pos)


def test_nested_sharding(cli, tmp):
    p = str(tmp / "n.zarrmd")
    inner = sharding((1, 5, 3), "start", codecs=[BytesCodec(), GzipCodec(level=2)])
    outer = ShardingCodec(chunk_shape=(4, 10, 3), codecs=[inner], index_codecs=[BytesCodec(), Crc32cCodec()])
    pos = make(p, chunks=(8, 10, 3), serializer=outer, compressors=None)
    check(cli, p, pos)


# Codecs around sharding_indexed (array-to-array before it, bytes-to-bytes after it): the shard is read
# whole and decoded as one chunk. Inner chunk shapes divide the shard shape before and after a transpose
# (zarr-python checks the first, decodes with the second).
AROUND = {
    "crc32c_after": dict(chunks=(4, 10, 3), serializer=sharding((2, 5, 3), codecs=[BytesCodec(), GzipCodec(level=1)]),
                         compressors=[Crc32cCodec()]),
    "gzip_after_index_start": dict(chunks=(4, 10, 3), serializer=sharding((2, 5, 3), "start", codecs=[BytesCodec()]),
                                   compressors=[GzipCodec(level=3)]),
    "zstd_crc32c_after": dict(chunks=(8, 10, 3), serializer=sharding((2, 5, 1), codecs=[BytesCodec(endian="big")]),
                              compressors=[ZstdCodec(level=2), Crc32cCodec()]),
    "transpose_before": dict(chunks=(4, 10, 3), filters=[TransposeCodec(order=(2, 0, 1))],
                             serializer=sharding((1, 2, 1)), compressors=None),
    "transpose_before_zstd_after": dict(chunks=(4, 10, 3), filters=[TransposeCodec(order=(2, 0, 1))],
                                        serializer=sharding((1, 2, 1), "start", codecs=[BytesCodec(endian="big")])),
    "reversed_transpose_crc32c": dict(chunks=(4, 10, 3), filters=[TransposeCodec(order=(2, 1, 0))],
                                      serializer=sharding((1, 5, 1), codecs=[BytesCodec(endian="big"), GzipCodec()]),
                                      compressors=[Crc32cCodec()]),
    "two_transposes_inner_transpose": dict(
        chunks=(4, 10, 3), filters=[TransposeCodec(order=(1, 0, 2)), TransposeCodec(order=(0, 2, 1))],
        serializer=sharding((2, 1, 1), codecs=[TransposeCodec(order=(2, 1, 0)), BytesCodec(), ZstdCodec(level=1)]),
        compressors=[Crc32cCodec()]),
    "quantize_before": dict(chunks=(4, 10, 3), filters=[nz.Quantize(digits=2, dtype="f4")],
                            serializer=sharding((2, 5, 3)), compressors=[Crc32cCodec()]),
}


@pytest.mark.parametrize("name", list(AROUND))
def test_codecs_around_sharding(cli, tmp, name):
    p = str(tmp / "a.zarrmd")
    pos = positions()
    make(p, pos=pos, **AROUND[name])
    codecs = [c["name"] for c in value_meta_json(p)["codecs"]]
    assert "sharding_indexed" in codecs and codecs != ["sharding_indexed"], codecs
    ref = reference(p)
    if name != "quantize_before":
        np.testing.assert_array_equal(ref, pos)
    np.testing.assert_array_equal(cat(cli, p), ref.astype(np.float32))
    # single frames and a strided slice: the shard holding them, read whole
    np.testing.assert_array_equal(cat(cli, p, "--frames", "5:6"), ref[5:6].astype(np.float32))
    np.testing.assert_array_equal(cat(cli, p, "--frames", "1:12:5", "--atoms", "3:7"), ref[1:12:5, 3:7].astype(np.float32))


def test_nested_shard_with_codecs_around(cli, tmp):
    """Plain outer sharding (inner chunks as byte ranges) whose inner chunks are shards with a transpose
    before and gzip after them (each decoded as one chunk)."""
    p = str(tmp / "n.zarrmd")
    inner = ShardingCodec(chunk_shape=(1, 5, 3), codecs=[TransposeCodec(order=(0, 2, 1)), BytesCodec()],
                          index_codecs=[BytesCodec(), Crc32cCodec()])
    outer = sharding((2, 10, 3), codecs=[inner, GzipCodec(level=1)])
    try:
        pos = make(p, chunks=(4, 10, 3), serializer=outer, compressors=None)
    except Exception as e:  # pragma: no cover - depends on what zarr-python accepts
        pytest.skip(f"zarr-python does not write it: {e}")
    check(cli, p, pos)


def test_missing_inner_chunks_around_sharding(cli, tmp):
    """Inner chunks never written (empty index entries) inside a shard read whole: the fill value."""
    p = str(tmp / "m.zarrmd")
    pos = positions()
    pos[2:4] = 0.5
    make(p, pos=pos, chunks=(4, 10, 3), fill_value=0.5, config={"write_empty_chunks": False},
         serializer=sharding((2, 5, 3), codecs=[BytesCodec()]), compressors=[Crc32cCodec()])
    check(cli, p, pos)


COMPRESSORS = [
    ("none", None),
    ("zstd", [ZstdCodec(level=5, checksum=True)]),
    ("gzip", [GzipCodec(level=4)]),
    ("blosc_lz4", [BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")]),
    ("blosc_zstd_bit", [BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")]),
    ("crc32c", [Crc32cCodec()]),
    ("zstd_crc32c", [ZstdCodec(level=1), Crc32cCodec()]),
    ("nc_zlib", [nz.Zlib(level=6)]),
    ("nc_lz4", [nz.LZ4()]),
    ("nc_bz2", [nz.BZ2(level=5)]),
    ("nc_shuffle_zlib", [nz.Shuffle(elementsize=4), nz.Zlib(level=1)]),
]


@pytest.mark.parametrize("name,comp", COMPRESSORS, ids=[c[0] for c in COMPRESSORS])
@pytest.mark.parametrize("sharded", [False, True])
def test_bytes_codecs(cli, tmp, name, comp, sharded):
    p = str(tmp / "c.zarrmd")
    kw = dict(chunks=(2, 5, 3), compressors=comp)
    if sharded:
        kw["shards"] = (4, 10, 3)
    pos = make(p, **kw)
    check(cli, p, pos)


FILTERS = [
    ("quantize", [nz.Quantize(digits=3, dtype="f4")]),
    ("fixedscaleoffset", [nz.FixedScaleOffset(offset=0, scale=1000, dtype="f4", astype="i4")]),
    ("delta", [nz.Delta(dtype="f4")]),
    ("bitround", [nz.BitRound(keepbits=10)]),
    ("astype", [nz.AsType(encode_dtype="f8", decode_dtype="f4")]),
    ("transpose", [TransposeCodec(order=(2, 0, 1))]),
    ("transpose_quantize", [TransposeCodec(order=(1, 0, 2)), nz.Quantize(digits=2, dtype="f4")]),
]


@pytest.mark.parametrize("name,filt", FILTERS, ids=[f[0] for f in FILTERS])
@pytest.mark.parametrize("sharded", [False, True])
@pytest.mark.parametrize("endian", ["little", "big"])
def test_array_codecs(cli, tmp, name, filt, sharded, endian):
    p = str(tmp / "f.zarrmd")
    kw = dict(chunks=(2, 5, 3), filters=filt, serializer=BytesCodec(endian=endian), compressors=[ZstdCodec(level=1)])
    if sharded:
        kw.pop("serializer")
        kw.pop("filters")
        kw["compressors"] = None
        kw["serializer"] = sharding((2, 5, 3), codecs=list(filt) + [BytesCodec(endian=endian), ZstdCodec(level=1)])
        kw["chunks"] = (4, 10, 3)
    pos = positions()
    make(p, pos=pos, **kw)
    ref = reference(p)  # lossy codecs: zarr-python's own reading is the reference
    if name in ("delta", "astype", "transpose"):
        np.testing.assert_array_equal(ref, pos)
    np.testing.assert_array_equal(cat(cli, p), ref.astype(np.float32))


@pytest.mark.parametrize("dtype", ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                                   "float32", "float64"])
@pytest.mark.parametrize("endian", ["little", "big"])
def test_dtypes(cli, tmp, dtype, endian):
    p = str(tmp / "t.zarrmd")
    pos = (np.arange(N * NATOMS * 3).reshape(N, NATOMS, 3) % (2 if dtype == "bool" else 100)).astype(dtype)
    make(p, pos=pos, chunks=(3, 5, 3), serializer=BytesCodec(endian=endian), compressors=None)
    check(cli, p, pos)


@pytest.mark.parametrize("fill", [0.5, -3, "NaN", "Infinity", "-Infinity", "0x7fc00001", "0x3f800000"])
@pytest.mark.parametrize("sharded", [False, True])
def test_fill_values_for_missing_chunks(cli, tmp, fill, sharded):
    p = str(tmp / "fv.zarrmd")
    pos = positions()
    kw = dict(chunks=(2, 5, 3), shards=(4, 10, 3) if sharded else None, config={"write_empty_chunks": False})
    make(p, pos=np.zeros_like(pos), **kw)
    meta_path = os.path.join(p, "particles/trajectory/position/value/zarr.json")
    a = zarr.open_array(os.path.join(p, "particles/trajectory/position/value"), mode="r+")
    # write frames 0..3 only, with the fill value set in the metadata by hand (every spec form)
    meta = json.load(open(meta_path))
    meta["fill_value"] = fill
    json.dump(meta, open(meta_path, "w"))
    for k in os.listdir(p):
        pass
    a = zarr.open_array(os.path.join(p, "particles/trajectory/position/value"), mode="r+")
    import shutil
    shutil.rmtree(os.path.join(p, "particles/trajectory/position/value/c"), ignore_errors=True)
    a[0:4] = pos[0:4]
    zarr.consolidate_metadata(p)
    edit_meta(p, lambda m: m.__setitem__("fill_value", fill))  # zarr-python normalises it when consolidating
    ref = reference(p)
    if isinstance(fill, str) and fill.startswith("0x"):
        fv = struct.unpack(">f", bytes.fromhex(fill[2:]))[0]
    else:
        fv = float(fill)
    np.testing.assert_array_equal(ref[0:4], pos[0:4])
    assert np.array_equal(ref[4:], np.full_like(ref[4:], fv), equal_nan=True)
    got = cat(cli, p)
    assert np.array_equal(got, ref.astype(np.float32), equal_nan=True)
    if fill == "0x7fc00001":  # the payload bits survive
        assert got[5].view(np.uint32)[0, 0] == 0x7FC00001


def test_empty_inner_chunks_are_fill(cli, tmp):
    p = str(tmp / "e.zarrmd")
    pos = positions()
    pos[4:6] = 0.0
    make(p, pos=pos, chunks=(2, 5, 3), shards=(12, 10, 3), fill_value=0.0, config={"write_empty_chunks": False})
    shard = open(os.path.join(p, "particles/trajectory/position/value/c/0/0/0"), "rb").read()
    idx = np.frombuffer(shard[-(6 * 2 * 16 + 4):-4], dtype="<u8").reshape(-1, 2)
    assert (idx == 2 ** 64 - 1).all(axis=1).sum() == 2  # frames 4-5 (two inner chunks along atoms) never written
    check(cli, p, pos)


def test_python_reader_and_steps(cli, tmp):
    p = str(tmp / "py.zarrmd")
    pos = make(p, chunks=(2, 5, 3), shards=(8, 10, 3))
    got, steps, r = py_reader(p)
    np.testing.assert_allclose(got, pos * 10.0, rtol=1e-6)  # nm -> Angstrom
    info = json.loads(run(cli, "info", p, "--json").stdout)
    s = json.dumps(info)
    assert "shard_shape" in s and "inner_chunk_shape" in s and '"zarr_format": 3' in s


def test_sharded_reads_fetch_inner_chunks_only(cli, tmp):
    """A random frame of a big shard costs the index and one inner chunk, not the shard."""
    try:
        import zarrtraj
    except ImportError:
        pytest.skip("zarrtraj Python package not importable")
    p = str(tmp / "big.zarrmd")
    n = 64
    pos = (np.random.default_rng(1).random((n, 2000, 3)) * 10).astype("f4")
    root = zarr.open_group(p, mode="w", zarr_format=3)
    root.create_group("h5md").attrs["version"] = [1, 1]
    g = root.create_group("particles/trajectory")
    g.create_group("box").attrs.update({"dimension": 3, "boundary": ["none"] * 3})
    pp = g.create_group("position")
    a = pp.create_array("value", shape=pos.shape, dtype="f4", chunks=(1, 2000, 3), shards=(64, 2000, 3),
                        compressors=None)
    a[...] = pos
    pp.create_array("step", shape=(n,), dtype="i8")[:] = np.arange(n)
    t = pp.create_array("time", shape=(n,), dtype="f8")
    t[:] = np.arange(n) * 1.0
    t.attrs["unit"] = "ps"
    a.attrs["unit"] = "nm"
    zarr.consolidate_metadata(p)
    core = zarrtraj.open_core(p) if hasattr(zarrtraj, "open_core") else None
    r = zarrtraj.ZARRH5MDReader(p)
    ts = r[37]
    np.testing.assert_allclose(ts.positions, pos[37] * 10, rtol=1e-6)
    st = r.stats()
    shard = os.path.getsize(os.path.join(p, "particles/trajectory/position/value/c/0/0/0"))
    assert shard > 64 * 2000 * 3 * 4
    print("stats", st, shard)
    assert 0 < st["bytes_fetched"] < shard / 4, st  # the frame (and maybe read-ahead), never the shard
    del core


# ---- bad input ---------------------------------------------------------------------------------------

def bad(cli, path):
    p = run(cli, "cat", path, "--format", "npy", "-o", str(path) + ".npy", check=False)
    assert p.returncode != 0, p.stdout
    return p.stderr


def value_meta(p):
    return os.path.join(p, "particles/trajectory/position/value/zarr.json")


def value_meta_json(p):
    return json.load(open(value_meta(p)))


def edit_meta(p, fn):
    """Edit position/value's zarr.json and the root's consolidated copy of it (zarr-python refuses to
    consolidate bad metadata)."""
    m = json.load(open(value_meta(p)))
    fn(m)
    json.dump(m, open(value_meta(p), "w"))
    root = os.path.join(p, "zarr.json")
    r = json.load(open(root))
    if "consolidated_metadata" in r:
        r["consolidated_metadata"]["metadata"]["particles/trajectory/position/value"] = m
        json.dump(r, open(root, "w"))


def test_bad_index_size(cli, tmp):
    p = str(tmp / "b.zarrmd")
    make(p, chunks=(2, 5, 3), shards=(4, 10, 3))
    f = os.path.join(p, "particles/trajectory/position/value/c/0/0/0")
    open(f, "wb").write(open(f, "rb").read()[:20])
    err = bad(cli, p)
    assert "shard 0.0.0: shard index is" in err and "expected 68 (4 inner chunks + crc32c)" in err, err


def test_bad_index_crc(cli, tmp):
    p = str(tmp / "b.zarrmd")
    make(p, chunks=(2, 5, 3), shards=(4, 10, 3))
    f = os.path.join(p, "particles/trajectory/position/value/c/1/0/0")
    b = bytearray(open(f, "rb").read())
    b[-10] ^= 0xFF
    open(f, "wb").write(bytes(b))
    assert "shard index crc32c mismatch" in bad(cli, p)


def test_inner_chunk_beyond_shard(cli, tmp):
    p = str(tmp / "b.zarrmd")
    make(p, chunks=(2, 5, 3), shards=(4, 10, 3), compressors=None)
    f = os.path.join(p, "particles/trajectory/position/value/c/0/0/0")
    b = bytearray(open(f, "rb").read())
    n = 4 * 16
    idx = np.frombuffer(bytes(b[-(n + 4):-4]), dtype="<u8").copy()
    idx[0] = len(b) + 100
    b[-(n + 4):-4] = idx.tobytes()
    b[-4:] = struct.pack("<I", crc32c(idx.tobytes()))
    open(f, "wb").write(bytes(b))
    err = bad(cli, p)
    assert "ends early" in err or "outside the shard" in err, err


def test_inner_chunk_crc32c_mismatch(cli, tmp):
    p = str(tmp / "b.zarrmd")
    make(p, chunks=(2, 5, 3), shards=(4, 10, 3), compressors=None,
         serializer=sharding((2, 5, 3), codecs=[BytesCodec(), Crc32cCodec()]))
    f = os.path.join(p, "particles/trajectory/position/value/c/0/0/0")
    b = bytearray(open(f, "rb").read())
    b[3] ^= 0x55
    open(f, "wb").write(bytes(b))
    assert "crc32c: checksum mismatch" in bad(cli, p)


def test_whole_shard_crc32c_mismatch(cli, tmp):
    """crc32c after sharding_indexed checks the whole shard: a flipped byte is an error naming the chunk."""
    p = str(tmp / "b.zarrmd")
    make(p, **AROUND["crc32c_after"])
    f = os.path.join(p, "particles/trajectory/position/value/c/1/0/0")
    b = bytearray(open(f, "rb").read())
    b[5] ^= 0x01
    open(f, "wb").write(bytes(b))
    err = bad(cli, p)
    assert "crc32c: checksum mismatch" in err and "chunk 1.0.0" in err and "position/value" in err, err


def test_index_crc_mismatch_around_sharding(cli, tmp):
    """The shard index inside a shard read whole is checked too (gzip after sharding, index at start)."""
    import gzip
    p = str(tmp / "b.zarrmd")
    make(p, **AROUND["gzip_after_index_start"])
    f = os.path.join(p, "particles/trajectory/position/value/c/0/0/0")
    raw = bytearray(gzip.decompress(open(f, "rb").read()))
    raw[3] ^= 0x10  # inside the leading index
    open(f, "wb").write(gzip.compress(bytes(raw)))
    err = bad(cli, p)
    assert "sharding_indexed: shard index crc32c mismatch" in err and "chunk 0.0.0" in err, err
    raw[3] ^= 0x10
    open(f, "wb").write(gzip.compress(bytes(raw[:40])))  # cut: smaller than the index
    err = bad(cli, p)
    assert "smaller than its index" in err, err


def test_absurd_shapes(cli, tmp):
    p = str(tmp / "b.zarrmd")
    make(p, chunks=(2, 5, 3), shards=(4, 10, 3))
    edit_meta(p, lambda m: m["codecs"][0]["configuration"].__setitem__("chunk_shape", [1, 1, 1]) or
              m["chunk_grid"]["configuration"].__setitem__("chunk_shape", [1 << 20, 1 << 20, 3]))
    assert "absurd" in bad(cli, p)
    edit_meta(p, lambda m: m.__setitem__("shape", [1 << 40, 1 << 20, 3]))
    assert "absurd" in bad(cli, p)


@pytest.mark.parametrize("edit,msg", [
    (lambda m: m.__setitem__("data_type", "complex64"), "data type 'complex64' is not supported"),
    (lambda m: m.__setitem__("data_type", "float16"), "data type 'float16' is not supported"),
    (lambda m: m["codecs"].append({"name": "frobnicate"}), "codec"),
    (lambda m: m.__setitem__("codecs", [{"name": "bytes", "configuration": {"endian": "little"}},
                                         {"name": "frobnicate"}]), "unsupported codec 'frobnicate'"),
    (lambda m: m.__setitem__("storage_transformers", [{"name": "chunk-manifest"}]),
     "storage transformer 'chunk-manifest'"),
    (lambda m: m.__setitem__("my_extension", {"must_understand": True}), "extension 'my_extension'"),
    (lambda m: m["codecs"][0]["configuration"].__setitem__("chunk_shape", [3, 5, 3]), "not a multiple"),
    (lambda m: m["chunk_grid"]["configuration"].__setitem__("chunk_shape", [4, 10]), "rank"),
    (lambda m: m.__setitem__("zarr_format", 4), "zarr_format must be 3"),
    (lambda m: m.__setitem__("fill_value", "banana"), "fill_value"),
    (lambda m: m.__setitem__("chunk_key_encoding", {"name": "fancy"}), "chunk_key_encoding 'fancy'"),
    (lambda m: m["codecs"][0]["configuration"]["index_codecs"].__setitem__(0, {"name": "gzip"}), "index codec 'gzip'"),
])
def test_inconsistent_metadata(cli, tmp, edit, msg):
    p = str(tmp / "b.zarrmd")
    make(p, chunks=(2, 5, 3), shards=(4, 10, 3))
    edit_meta(p, edit)
    err = bad(cli, p)
    assert msg in err and "particles/trajectory/position/value" in err, err


def test_unlisted_store_needs_consolidated_metadata(cli, tmp):
    """Over plain HTTP (no listing) a v3 hierarchy without consolidated metadata is a clear error."""
    import http.server
    import threading
    p = str(tmp / "h.zarrmd")
    make(p, consolidate=False, chunks=(2, 5, 3), shards=(4, 10, 3))

    class H(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(tmp), **k)

        def log_message(self, *a):
            pass

        def list_directory(self, path):
            self.send_error(404)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/h.zarrmd"
        out = str(tmp / "o.npy")
        r = run(cli, "cat", url, "--format", "npy", "-o", out, check=False)
        assert r.returncode != 0 and "consolidated metadata" in r.stderr, r.stderr
        zarr.consolidate_metadata(p)
        run(cli, "cat", url, "--format", "npy", "-o", out)
        got = np.load(out)
        np.testing.assert_array_equal(got, positions())
    finally:
        srv.shutdown()


def crc32c(data):
    tab = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        tab.append(c)
    c = 0xFFFFFFFF
    for b in data:
        c = tab[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF
