#!/usr/bin/env python3
"""Seed inputs for the fuzz targets of tests/fuzz (written to OUT/<target>/).

Sources: the shared interoperability data ($ZT_DATA_DIR, small files only,
never copied into the repository: the seeds live in the build directory),
tiny trajectories written by our own CLI, and hand-made inputs for the parts
no file exercises (listings, response heads, URLs, every codec). With h5py
and numcodecs importable (ZT_PYTHON's environment) it also writes HDF5
files with unusual storage and real numcodecs streams.

Usage: fuzz-seeds.py OUT --cli BUILD/zarrtraj [--data DIR] [--regress-hdf5 BIN] [--no-shared]
"""
import argparse
import bz2
import gzip
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

MAX_OBJ = 16 << 10     # objects kept in archives
MAX_FILE = 160 << 10   # whole files kept as seeds

out_dir = None


def put(target, name, data):
    d = os.path.join(out_dir, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    # name + content hash: stable names, no duplicates
    h = hashlib.sha1(data).hexdigest()[:10]
    with open(os.path.join(d, "%s-%s" % (name, h)), "wb") as f:
        f.write(data)


def archive(objs):
    return b"\n".join(b"#zt " + k.encode() + b"\n" + v for k, v in objs)


def zarr_objects(root, with_zmetadata=True, max_obj=MAX_OBJ):
    objs = []
    for dp, dn, fn in os.walk(root):
        dn.sort()
        for f in sorted(fn):
            p = os.path.join(dp, f)
            rel = os.path.relpath(p, root)
            if f == ".zmetadata" and not with_zmetadata:
                continue
            if os.path.getsize(p) > max_obj and not f.startswith("."):
                continue
            with open(p, "rb") as fh:
                objs.append((rel, fh.read()))
    return objs


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


# ---- trajectories ---------------------------------------------------------------------
def cli_files(cli, tmp):
    """Tiny zarrmd and H5MD trajectories written by our CLI."""
    zarrmd, h5 = [], []
    variants = [("lz4", []), ("zstd", ["--compressor", "zstd:level=3"]),
                ("q3", ["--compressor", "blosc:cname=zstd,clevel=3,shuffle=2", "--precision", "3"]),
                ("gzip", ["--compressor", "gzip"]), ("none", ["--compressor", "none"]),
                ("bz2", ["--compressor", "bz2"]), ("lz4raw", ["--compressor", "lz4"]),
                ("zlib", ["--compressor", "zlib:level=1"])]
    for name, extra in variants:
        p = os.path.join(tmp, "synth-%s.zarrmd" % name)
        run([cli, "synth", p, "--atoms", "3", "--frames", "5", "--forces", "--chunk-bytes", "64"] + extra)
        zarrmd.append(p)
    for name, comp in [("none", "none"), ("gzip", "gzip:level=6,shuffle=true"), ("lzf", "lzf")]:
        p = os.path.join(tmp, "synth-%s.h5md" % name)
        run([cli, "convert", zarrmd[0], p, "--compressor", comp, "--chunk-bytes", "64"])
        h5.append(p)
    return zarrmd, h5


def xtc_as_2023(data, every=1):
    """A 1995 XTC's frames rewritten with magic 2023 (the byte count as a
    64-bit hyper), every frame or every other one."""
    out, off, fr = bytearray(), 0, 0
    while off + 56 <= len(data):
        natoms = struct.unpack(">i", data[off + 4:off + 8])[0]
        n = 56 + 12 * natoms if natoms <= 9 else 92 + (struct.unpack(">i", data[off + 88:off + 92])[0] + 3) // 4 * 4
        f = data[off:off + n]
        if len(f) < n:
            break
        if every == 1 or fr % 2 == 1:
            f = struct.pack(">i", 2023) + f[4:]
            if natoms > 9:
                f = f[:88] + struct.pack(">q", struct.unpack(">i", f[88:92])[0]) + f[92:]
        out += f
        off, fr = off + n, fr + 1
    return bytes(out)


def xtc_seeds(cli, tmp, data):
    """XTC files (ours from the CLI, small shared ones) in both frame layouts
    (magic 1995 and 2023, and mixed) for fuzz_mdformats; their first
    coordinate block in both layouts for fuzz_xtc_codec."""
    files = []
    for atoms in (3, 40):
        z = os.path.join(tmp, "xtc-%d.zarrmd" % atoms)
        x = os.path.join(tmp, "xtc-%d.xtc" % atoms)
        run([cli, "synth", z, "--atoms", str(atoms), "--frames", "4"])
        run([cli, "convert", z, x])
        files.append(x)
    if data and os.path.isdir(data):
        for dp, dn, fn in os.walk(data):
            dn.sort()
            files += [os.path.join(dp, f) for f in sorted(fn)
                      if f.endswith(".xtc") and os.path.getsize(os.path.join(dp, f)) <= MAX_FILE]
    for f in files:
        d = open(f, "rb").read()
        name = os.path.basename(f)[:-4]
        for tag, v in (("1995", d), ("2023", xtc_as_2023(d)), ("mixed", xtc_as_2023(d, 2))):
            put("fuzz_mdformats", "%s-%s" % (name, tag), v)
            natoms = struct.unpack(">i", v[4:8])[0]
            block = v[52:56 + 12 * natoms]
            if natoms > 9 and len(v) >= 96:
                head = 44 if v[:4] == struct.pack(">i", 2023) else 40
                nb = struct.unpack(">q", v[88:96])[0] if head == 44 else struct.unpack(">i", v[88:92])[0]
                block = v[52:52 + head + (nb + 3) // 4 * 4]
            if tag != "mixed":
                put("fuzz_xtc_codec", "%s-%s" % (name, tag), block)


def nc4_seeds(tmp):
    """An AMBER NetCDF-4 file (HDF5 inside) for fuzz_mdformats' NetCDF-4
    path, written with h5py: the variables and attributes our mapping reads."""
    try:
        import h5py
        import numpy as np
    except ImportError:
        return
    p = os.path.join(tmp, "amber-nc4.nc")
    rng = np.random.default_rng(3)
    with h5py.File(p, "w") as f:
        f.attrs["Conventions"] = np.bytes_(b"AMBER")
        for name, unit, scale in (("coordinates", b"angstrom", None), ("velocities", b"angstrom/picosecond", 20.455)):
            d = f.create_dataset(name, data=rng.random((3, 4, 3), dtype="f4"), chunks=(1, 4, 3), maxshape=(None, 4, 3))
            d.attrs["units"] = np.bytes_(unit)
            if scale:
                d.attrs["scale_factor"] = np.float64(scale)
        f.create_dataset("time", data=np.arange(3, dtype="f4")).attrs["units"] = np.bytes_(b"picosecond")
        f.create_dataset("cell_lengths", data=np.full((3, 3), 30.0))
        f.create_dataset("cell_angles", data=np.full((3, 3), 90.0))
    put("fuzz_mdformats", "amber-nc4", open(p, "rb").read())


def h5py_files(tmp):
    """Small HDF5 files with the storage variants our walker must handle."""
    try:
        import h5py
        import numpy as np
    except ImportError:
        return []
    files = []

    def skeleton(f, group="trajectory"):
        if "h5md" not in f:
            h = f.create_group("h5md")
            h.attrs["version"] = np.array([1, 1], dtype="i4")
            h.create_group("author").attrs["name"] = "fuzz"
            h.create_group("creator").attrs["name"] = "seeds"
        g = f.create_group("particles/" + group)
        b = g.create_group("box")
        b.attrs["dimension"] = 3
        b.attrs["boundary"] = np.array([b"periodic"] * 3)
        return g

    rng = np.random.default_rng(7)
    pos = rng.random((4, 3, 3), dtype="f4")

    def add(name, build):
        p = os.path.join(tmp, name)
        with h5py.File(p, "w", libver="earliest") as f:
            build(f)
        files.append(p)

    def chunked(f, comp=None, shuffle=False, fletcher=False, dtype="<f4", fill=None):
        g = skeleton(f)
        e = g.create_group("position")
        e.create_dataset("value", data=pos.astype(dtype), chunks=(1, 3, 3), maxshape=(None, 3, 3),
                         compression=comp, shuffle=shuffle, fletcher32=fletcher, fillvalue=fill)
        e["value"].attrs["unit"] = "nm"
        e.create_dataset("step", data=np.arange(4, dtype="i8") * 10)
        e.create_dataset("time", data=np.arange(4, dtype="f8") * 0.5)
        e["time"].attrs["unit"] = "ps"
        g["box"].create_group("edges").create_dataset("value", data=np.eye(3, dtype="f4") * 20)

    add("h5py-chunked.h5md", lambda f: chunked(f))
    add("h5py-gzip-shuffle-fletcher.h5md", lambda f: chunked(f, "gzip", True, True))
    add("h5py-lzf-be.h5md", lambda f: chunked(f, "lzf", dtype=">f4"))
    add("h5py-f8-fill.h5md", lambda f: chunked(f, dtype="<f8", fill=-1.0))

    def contiguous(f):
        g = skeleton(f)
        e = g.create_group("position")
        e.create_dataset("value", data=pos)
        e.create_dataset("step", data=np.int64(5))  # fixed step
        e["step"].attrs["offset"] = 2
        e.create_dataset("time", data=np.float64(0.25))
        g.create_dataset("species", data=np.array([1, 2, 3], dtype="i4"))
        o = f.create_group("observables")
        t = o.create_group("temperature")
        t.create_dataset("value", data=np.arange(4, dtype="f8"))
        t["step"] = g["position/step"]  # hard link
        o.create_dataset("scalar", data=np.int32(7))

    add("h5py-contiguous-fixedstep.h5md", contiguous)

    def compact(f):
        g = skeleton(f)
        e = g.create_group("position")
        space = h5py.h5s.create_simple((4, 3, 3))
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        ds = h5py.h5d.create(e.id, b"value", h5py.h5t.IEEE_F32LE, space, dcpl=dcpl)
        ds.write(h5py.h5s.ALL, h5py.h5s.ALL, pos)
        e.create_dataset("step", data=np.arange(4, dtype="u8"))
        g["box/edges"] = np.eye(3, dtype="f8")  # time-independent box
        g["image"] = np.zeros((3, 3), dtype="i1")

    add("h5py-compact.h5md", compact)

    def strings(f):
        g = skeleton(f, "atoms")
        f["h5md"].attrs["vlen"] = "vlen text"
        f["h5md/author"].attrs.create("email", np.bytes_(b"a@b"), dtype="S3")
        g["box"].attrs["boundary"] = np.array(["none", "periodic", "none"], dtype=h5py.string_dtype())
        g["names"] = np.array([b"OW", b"HW1", b"HW2"])
        g["labels"] = np.array(["a", "bb", "ccc"], dtype=h5py.string_dtype())
        dt = h5py.enum_dtype({"FALSE": 0, "TRUE": 1}, basetype="i1")
        g.create_dataset("flags", data=np.array([0, 1, 1], dtype="i1"), dtype=dt)
        e = g.create_group("position")
        e["value"] = pos
        e["step"] = np.arange(4, dtype="i4")
        e["value"].attrs["ref"] = f["h5md"].ref
        g["soft"] = h5py.SoftLink("/particles/atoms/position")
        g["dangling"] = h5py.SoftLink("/nowhere")
        g["ext"] = h5py.ExternalLink("other.h5", "/x")
        g.create_dataset("empty", shape=(0, 3, 3), dtype="f4", chunks=(1, 3, 3), maxshape=(None, 3, 3))
        g.create_dataset("unwritten", shape=(6, 3, 3), dtype="f4", chunks=(2, 3, 3), fillvalue=3.5)
        g.create_dataset("compound", data=np.zeros(2, dtype=[("a", "i4"), ("b", "f8")]))

    add("h5py-strings-links.h5md", strings)

    def two_groups(f):
        for grp in ("a", "b"):
            g = skeleton(f, grp)
            e = g.create_group("velocity")
            e.create_dataset("value", data=pos[:2], chunks=(2, 1, 3), compression="gzip")
            e["step"] = np.array([0, 3], dtype="i8")

    add("h5py-two-groups.h5md", two_groups)
    return files


# ---- codecs ---------------------------------------------------------------------------
CODECS = [
    {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0},
    {"id": "blosc", "cname": "zstd", "clevel": 3, "shuffle": 2, "blocksize": 0},
    {"id": "blosc", "cname": "zlib", "clevel": 1, "shuffle": 0, "blocksize": 256},
    {"id": "blosc", "cname": "blosclz", "clevel": 9, "shuffle": -1, "blocksize": 0},
    {"id": "blosc", "cname": "lz4hc", "clevel": 4, "shuffle": 1, "blocksize": 0},
    {"id": "zstd", "level": 3}, {"id": "zstd", "level": -5, "checksum": True},
    {"id": "zlib", "level": 6}, {"id": "gzip", "level": 1}, {"id": "bz2", "level": 9},
    {"id": "lz4", "acceleration": 1}, {"id": "lzf"},
    {"id": "quantize", "digits": 3, "dtype": "<f4", "astype": "<f4"},
    {"id": "quantize", "digits": 2, "dtype": "<f8", "astype": "<f4"},
    {"id": "delta", "dtype": "<i4", "astype": "<i2"}, {"id": "delta", "dtype": "<f8"},
    {"id": "fixedscaleoffset", "offset": 1000, "scale": 10, "dtype": "<f8", "astype": "<u2"},
    {"id": "fixedscaleoffset", "offset": 0.5, "scale": 3.25, "dtype": ">f4", "astype": "<i4"},
    {"id": "shuffle", "elementsize": 4}, {"id": "shuffle", "elementsize": 8},
    {"id": "astype", "encode_dtype": "<f4", "decode_dtype": "<f8"},
    {"id": "astype", "encode_dtype": "|u1", "decode_dtype": "<i8"},
    {"id": "fletcher32"},
]


def sample(n=256):
    vals = [((i * 7919) % 1000) / 37.0 for i in range(n)]
    return struct.pack("<%df" % n, *vals)


def numcodecs_encode(cfg, data):
    try:
        import numcodecs
        import numpy as np
    except ImportError:
        return None
    c = dict(cfg)
    try:
        if c["id"] == "lzf":
            return None
        codec = numcodecs.get_codec(c)
        arr = np.frombuffer(data, dtype=c.get("dtype", "<f4")) if c["id"] in (
            "quantize", "delta", "fixedscaleoffset") else np.frombuffer(data, dtype="<f4")
        if c["id"] == "astype":
            arr = np.frombuffer(data, dtype=c["decode_dtype"])
        return bytes(codec.encode(arr))
    except Exception:
        return None


def zarr3_seeds(tmp):
    """fuzz_zarr3 inputs (zarr.json, NUL, chunk 0) written by zarr-python 3
    when importable: codecs around sharding_indexed (transpose before it,
    crc32c / gzip after it), the shard read whole and decoded as one chunk."""
    try:
        import warnings

        import numpy as np
        import zarr
        from zarr.codecs import (BytesCodec, Crc32cCodec, GzipCodec, ShardingCodec, TransposeCodec)
        if int(zarr.__version__.split(".")[0]) < 3:
            return
    except ImportError:
        return
    warnings.simplefilter("ignore")
    a = (np.arange(4 * 6 * 2) % 37).astype("<i4").reshape(4, 6, 2)
    layouts = {
        "crc32c_after": dict(serializer=ShardingCodec(chunk_shape=(2, 3, 2), codecs=[BytesCodec(), GzipCodec(level=1)]),
                             compressors=[Crc32cCodec()]),
        "gzip_after_start": dict(serializer=ShardingCodec(chunk_shape=(2, 3, 1), index_location="start"),
                                 compressors=[GzipCodec(level=1)]),
        "transpose_before": dict(filters=[TransposeCodec(order=(2, 0, 1))],
                                 serializer=ShardingCodec(chunk_shape=(1, 2, 2), codecs=[BytesCodec(endian="big")]),
                                 compressors=[Crc32cCodec()]),
    }
    for name, kw in layouts.items():
        d = os.path.join(tmp, "z3-" + name)
        z = zarr.create_array(d, shape=a.shape, chunks=(4, 6, 2), dtype=a.dtype, fill_value=0, **kw)
        z[...] = a
        doc = open(os.path.join(d, "zarr.json"), "rb").read()
        put("fuzz_zarr3", "around-" + name, doc + b"\0" + open(os.path.join(d, "c", "0", "0", "0"), "rb").read())


def codec_seeds():
    data = sample()
    for i, cfg in enumerate(CODECS):
        j = json.dumps(cfg)
        enc = numcodecs_encode(cfg, data)
        params = struct.pack(">HB", len(data), 4)
        put("fuzz_codec", "cfg%02d-raw" % i, j.encode() + b"\0" + params + data)
        if enc is not None:
            put("fuzz_codec", "cfg%02d-enc" % i, j.encode() + b"\0" + params + enc)
    # short specs and stdlib streams
    put("fuzz_codec", "spec-zstd", b"zstd:level=9\0\x01\x00\x01" + data)
    put("fuzz_codec", "spec-blosc", b"blosc:cname=zstd,clevel=5,shuffle=2\0\x01\x00\x04" + data)
    put("fuzz_codec", "gzip-stream", b'{"id": "gzip"}\0\x04\x00\x01' + gzip.compress(data))
    put("fuzz_codec", "zlib-stream", b'{"id": "zlib"}\0\x04\x00\x01' + zlib.compress(data))
    put("fuzz_codec", "bz2-stream", b'{"id": "bz2"}\0\x04\x00\x01' + bz2.compress(data))
    put("fuzz_codec", "fletcher-empty", b'{"id": "fletcher32"}\0\x00\x00\x00')

    # pipelines
    pipes = [
        {"compressor": CODECS[1], "filters": [CODECS[12]], "itemsize": 4},
        {"compressor": CODECS[5], "filters": [CODECS[18], CODECS[16]], "itemsize": 8},
        {"compressor": None, "filters": [CODECS[14]], "itemsize": 4},
        {"compressor": CODECS[0], "filters": None, "itemsize": 4},
        {"compressor": CODECS[9], "filters": [CODECS[20], CODECS[13]], "itemsize": 4},
    ]
    for i, p in enumerate(pipes):
        put("fuzz_pipeline", "zarr%02d" % i, json.dumps(p).encode() + b"\0" + struct.pack(">I", len(data))[1:] + data)
    def shuffle(b, es):
        n = len(b) // es
        return bytes(b[k * es + j] for j in range(es) for k in range(n)) + b[n * es:]
    h5 = [
        ({"hdf5": [{"id": 2, "cd": [4]}, {"id": 1, "cd": [6]}], "elem": 4, "mask": 0},
         zlib.compress(shuffle(data, 4))),
        ({"hdf5": [{"id": 1, "cd": [4]}, {"id": 3}], "elem": 4, "mask": 0},
         None),
        ({"hdf5": [{"id": 2, "cd": [4]}, {"id": 1, "cd": [6]}], "elem": 4, "mask": 2}, shuffle(data, 4)),
        ({"hdf5": [{"id": 32000, "cd": [0, 0, 1024]}], "elem": 4, "mask": 0}, None),
        ({"hdf5": [{"id": 307, "name": "bzip2"}], "elem": 4, "mask": 0}, bz2.compress(data)),
    ]
    for i, (p, enc) in enumerate(h5):
        put("fuzz_pipeline", "hdf5%02d" % i,
            json.dumps(p).encode() + b"\0" + struct.pack(">I", len(data))[1:] + (enc if enc is not None else data))


# ---- Zarr metadata --------------------------------------------------------------------
def zarr_seeds(roots):
    for root in roots:
        base = os.path.basename(root.rstrip("/"))
        objs = zarr_objects(root)
        if any(k == ".zmetadata" for k, _ in objs):
            put("fuzz_zarr_tree", base + "-cons", archive(objs))
            md = dict(objs)[".zmetadata"]
            put("fuzz_zarr_tree", base + "-zmetadata", md)
        put("fuzz_zarr_tree", base + "-walk", archive(zarr_objects(root, with_zmetadata=False)))
        for k, v in objs:
            if k.endswith(".zarray"):
                d = os.path.dirname(k)
                chunk = b""
                for ck, cv in objs:
                    if os.path.dirname(ck) == d and not os.path.basename(ck).startswith("."):
                        chunk = cv
                        break
                put("fuzz_zarray", base + "-" + d.replace("/", "_"), v + b"\0" + chunk)
    hand = [
        {"zarr_format": 2, "shape": [4, 3], "chunks": [2, 3], "dtype": ">f8", "order": "C",
         "fill_value": "NaN", "compressor": None, "filters": None, "dimension_separator": "/"},
        {"zarr_format": 2, "shape": [5], "chunks": [2], "dtype": "|b1", "order": "C",
         "fill_value": True, "compressor": {"id": "zlib", "level": 1}, "filters": None},
        {"zarr_format": 2, "shape": [], "chunks": [], "dtype": "<i2", "order": "C",
         "fill_value": -7, "compressor": None, "filters": None},
        {"zarr_format": 2, "shape": [3, 4, 3], "chunks": [3, 4, 3], "dtype": "<f4", "order": "C",
         "fill_value": 0.0, "compressor": CODECS[0], "filters": [CODECS[12]]},
        {"zarr_format": 2, "shape": [40, 4000, 3], "chunks": [10, 4000, 3], "dtype": "<f4", "order": "C",
         "fill_value": "-Infinity", "compressor": None, "filters": None},
        {"zarr_format": 2, "shape": [2, 2], "chunks": [1, 1], "dtype": "<u8", "order": "F",
         "fill_value": 18446744073709551615, "compressor": None, "filters": None},
    ]
    for i, z in enumerate(hand):
        n = 1
        for c in z["chunks"]:
            n *= c
        size = int(z["dtype"][2:]) * n
        put("fuzz_zarray", "hand%02d" % i, json.dumps(z).encode() + b"\0" + bytes(range(256)) * (size // 256) + bytes(size % 256))


# ---- HDF5, index cache, kerchunk ------------------------------------------------------
def hdf5_seeds(files, cli, regress_hdf5, tmp):
    for p in files:
        if os.path.getsize(p) > MAX_FILE:
            continue
        with open(p, "rb") as f:
            b = f.read()
        name = os.path.basename(p)
        put("fuzz_hdf5", name, b)
        refs = os.path.join(tmp, name + ".refs.json")
        try:
            run([cli, "index", p, "-o", refs])
            with open(refs, "rb") as f:
                put("fuzz_kerchunk", name, f.read() + b"\0" + b)
        except subprocess.CalledProcessError:
            pass
        if regress_hdf5:
            d = os.path.join(tmp, "index-" + name)
            os.makedirs(d, exist_ok=True)
            env = dict(os.environ, ZT_FUZZ_DUMP_INDEX=d)
            subprocess.run([regress_hdf5, p], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for f in sorted(os.listdir(d)):
                with open(os.path.join(d, f), "rb") as fh:
                    put("fuzz_h5index", name, fh.read())
    # inline references, templates, version 0
    v1 = {"version": 1, "templates": {"u": "data.bin"}, "refs": {
        ".zgroup": '{"zarr_format": 2}',
        "h5md/.zgroup": '{"zarr_format": 2}', "h5md/.zattrs": '{"version": [1, 1]}',
        "particles/.zgroup": '{"zarr_format": 2}', "particles/t/.zgroup": '{"zarr_format": 2}',
        "particles/t/position/.zgroup": '{"zarr_format": 2}',
        "particles/t/position/value/.zarray": json.dumps({"zarr_format": 2, "shape": [2, 1, 3], "chunks": [1, 1, 3],
                                                          "dtype": "<f4", "order": "C", "fill_value": 0,
                                                          "compressor": None, "filters": None}),
        "particles/t/position/value/0.0.0": ["{{u}}", 0, 12],
        "particles/t/position/value/1.0.0": "base64:AACAPwAAAEAAAEBA",
        "particles/t/position/step/.zarray": json.dumps({"zarr_format": 2, "shape": [2], "chunks": [2],
                                                         "dtype": "<i8", "order": "C", "fill_value": 0,
                                                         "compressor": None, "filters": None}),
        "particles/t/position/step/0": ["data.bin", 12, 16],
    }}
    blob = struct.pack("<3f2q", 1.0, 2.0, 3.0, 0, 10)
    put("fuzz_kerchunk", "inline-v1", json.dumps(v1).encode() + b"\0" + blob)
    v0 = dict(v1["refs"])
    v0["particles/t/position/value/0.0.0"] = ["memory://x/data.bin"]
    put("fuzz_kerchunk", "v0-whole", json.dumps(v0).encode() + b"\0" + blob)


# ---- stores -------------------------------------------------------------------------------
def store_seeds():
    s3 = ('<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
          '<Name>b</Name><Prefix>root/dir/</Prefix><KeyCount>3</KeyCount><MaxKeys>2</MaxKeys><Delimiter>/</Delimiter>'
          '<IsTruncated>true</IsTruncated><Contents><Key>root/dir/.zgroup</Key><LastModified>2024-01-01T00:00:00.000Z'
          '</LastModified><ETag>&quot;abc&quot;</ETag><Size>24</Size></Contents><Contents><Key>root/dir/a&amp;b</Key>'
          '</Contents><CommonPrefixes><Prefix>root/dir/sub/</Prefix></CommonPrefixes>'
          '<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>')
    put("fuzz_listing", "s3", b"\0root/dir/\n" + s3.encode())
    put("fuzz_listing", "s3-end", b"\0\n<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>x</Key></Contents>"
        b"<!-- c --><![CDATA[text]]></ListBucketResult>")
    az = ('\ufeff<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://127.0.0.1:10000/'
          'devstoreaccount1" ContainerName="c"><Prefix>root/</Prefix><Delimiter>/</Delimiter><Blobs><Blob><Name>root/.zgroup'
          '</Name><Properties><Content-Length>24</Content-Length></Properties></Blob><BlobPrefix><Name>root/h5md/</Name>'
          '</BlobPrefix></Blobs><NextMarker>2!84!MDAwMDE</NextMarker></EnumerationResults>')
    put("fuzz_listing", "azure", b"\1root/\n" + az.encode())
    gcs = json.dumps({"kind": "storage#objects", "prefixes": ["root/h5md/"], "items": [
        {"kind": "storage#object", "name": "root/.zgroup", "size": "24", "generation": "1700000000000000"}],
        "nextPageToken": "CgtiL3Jvb3QvLnpncm91cA=="})
    put("fuzz_listing", "gcs", b"\2root/\n" + gcs.encode())
    nginx = ('<html>\r\n<head><title>Index of /t.zarrmd/</title></head>\r\n<body>\r\n<h1>Index of /t.zarrmd/</h1><hr><pre>'
             '<a href="../">../</a>\r\n<a href="h5md/">h5md/</a>    02-Dec-2024 06:56       -\r\n<a href="particles/">'
             'particles/</a>\r\n<a href=".zgroup">.zgroup</a>   24\r\n<a href="a%20b">a b</a>\r\n</pre><hr></body>\r\n</html>\r\n')
    put("fuzz_listing", "nginx", b"\3t.zarrmd\n" + nginx.encode())
    apache = ('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN"><html><body><table><tr><th><a href="?C=N;O=D">Name'
              '</a></th></tr><tr><td><a href="/parent/">Parent Directory</a></td></tr><tr><td><a href=\'./x.zarray\'>x</a>'
              '</td></tr><tr><td><a href="http://example.com/">ext</a></td></tr><tr><td><a href="sub/">sub/</a></td></tr>'
              '</table></body></html>')
    put("fuzz_listing", "apache", b"\3\n" + apache.encode())
    pyhttp = ('<!DOCTYPE HTML><html lang="en"><head><meta charset="utf-8"><title>Directory listing for /</title></head>'
              '<body><ul><li><a href=".zmetadata">.zmetadata</a></li><li><a href="%E2%82%AC/">&#8364;/</a></li></ul></body></html>')
    put("fuzz_listing", "pyhttp", b"\3\n" + pyhttp.encode())
    err = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Reduce &#x72;ate &lt;now&gt;</Message></Error>'
    put("fuzz_listing", "xml-error", b"\4\n" + err.encode())
    put("fuzz_listing", "xml-mpu", b"\4\n<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE"
        b"</UploadId></InitiateMultipartUploadResult>")

    def head(kind, off, ln, status, text):
        return struct.pack(">BIIH", kind, off, ln, status - 200) + text.encode()
    put("fuzz_http_head", "206", head(2, 100, 50, 206, "HTTP/1.1 206 Partial Content\r\nServer: nginx\r\nContent-Length: 50\r\n"
        "Content-Range: bytes 100-149/1000\r\nETag: \"65f-3e8\"\r\nLast-Modified: Mon, 02 Dec 2024 06:56:00 GMT\r\n\r\n" + "x" * 50))
    put("fuzz_http_head", "206-short", head(2, 990, 50, 206, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 990-999/1000\r\n"
        "Content-Length: 10\r\n\r\n" + "y" * 10))
    put("fuzz_http_head", "200-whole", head(2, 3, 4, 200, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789"))
    put("fuzz_http_head", "suffix", head(1, 0, 8, 206, "HTTP/2 206\r\ncontent-range: bytes 92-99/100\r\n"
        "x-goog-generation: 1700000000000000\r\ncontent-length: 8\r\n\r\nabcdefgh"))
    put("fuzz_http_head", "suffix-s3rver", head(1, 0, 8, 206, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-8/100\r\n\r\n123456789"))
    put("fuzz_http_head", "redirect", head(0, 0, 0, 200, "HTTP/1.1 302 Found\r\nLocation: https://u:p@h/x?sig=1&prefix=a\r\n"
        "Content-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nETag: W/\"x\"\r\nContent-Length: 3\r\n\r\nabc"))
    put("fuzz_http_head", "503", head(2, 0, 10, 503, "HTTP/1.1 503 Slow Down\r\nRetry-After: 3\r\nContent-Type: application/xml\r\n\r\n<Error/>"))
    put("fuzz_http_head", "503-date", head(2, 0, 10, 503, "HTTP/1.1 503 Slow Down\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n"))
    put("fuzz_http_head", "range-star", head(2, 5, 5, 206, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-9/*\r\n\r\n56789"))
    put("fuzz_http_head", "unsatisfied", head(2, 5000, 5, 416, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */1000\r\n\r\n"))

    urls = [
        "s3://bucket/root/traj.zarrmd\nparticles/t/position/value/0.0.0\nendpoint_url=http://127.0.0.1:9000\nkey=AKIA\nsecret=s\nregion=eu-west-1\n",
        "s3://Bucket_With.Dots/k\na b/c%d\naddressing_style=virtual\nanon=true\nlist_page_size=7\n",
        "gs://bucket/p\n.zmetadata\ntoken=ya29.abc\nendpoint_url=http://127.0.0.1:4443\n",
        "gcs://b/x\nk\nkey=GOOG1E\nsecret=x\n",
        "az://container/path/x.zarrmd\n.zgroup\nconnection_string=DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
        "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;\n",
        "abfs://c@acct.dfs.core.windows.net/p\nk\nsas_token=?sv=2020&sig=SECRET\n",
        "https://user:pass@host:8443/a/b.h5md?X-Amz-Signature=SECRET&prefix=x#frag\n\nretries=2\ntimeout=0.5\nverify=false\n",
        "http://[::1]:80/p/\nk%2F\nmax_concurrency=1024\ndeadline=1e9\nbackoff=-1\npart_size=1023\n",
        "reference://memory://x/refs.json\nkey\n",
        "HTTP://H\n\n",
        "[default]\nregion = us-west-2\naws_access_key_id=AK\n[profile p]\nendpoint_url=http://x\n",
    ]
    for i, u in enumerate(urls):
        put("fuzz_url", "url%02d" % i, u)


def main():
    global out_dir
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--cli", required=True)
    ap.add_argument("--data", default=os.environ.get("ZT_DATA_DIR"))
    ap.add_argument("--regress-hdf5")
    ap.add_argument("--no-shared", action="store_true",
                    help="only our own inputs (for the committed corpus: never shared data)")
    a = ap.parse_args()
    if a.no_shared:
        a.data = None
    out_dir = a.out
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        zarrmd, h5 = cli_files(a.cli, tmp)
        h5 += h5py_files(tmp)
        if a.data and os.path.isdir(a.data):
            for dp, dn, fn in os.walk(a.data):
                dn.sort()
                for d in sorted(dn):
                    if d.endswith(".zarrmd"):
                        zarrmd.append(os.path.join(dp, d))
                for f in sorted(fn):
                    if f.endswith((".h5md", ".h5")) and os.path.getsize(os.path.join(dp, f)) <= MAX_FILE:
                        h5.append(os.path.join(dp, f))
        zarr_seeds(zarrmd)
        hdf5_seeds(h5, a.cli, a.regress_hdf5, tmp)
        xtc_seeds(a.cli, tmp, a.data)
        nc4_seeds(tmp)
        zarr3_seeds(tmp)
        codec_seeds()
        store_seeds()
    for t in sorted(os.listdir(out_dir)):
        print("%-16s %4d seeds" % (t, len(os.listdir(os.path.join(out_dir, t)))))


if __name__ == "__main__":
    sys.exit(main())
