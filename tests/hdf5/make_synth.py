"""Write an HDF5 file with h5py covering the storage and attribute variety the
HDF5 layer must read: gzip+shuffle+fletcher32 and LZF chunks split along the
atom axis, partial edge chunks, unallocated chunks with a fill value,
contiguous (small and > 4 MiB), compact, big-endian, bool, scalar, string
datasets, hard and soft links, fixed/variable-length string attributes,
object references.

usage: make_synth.py OUT.h5 [--big]
"""
import sys

import h5py
import numpy as np

out = sys.argv[1]
big = "--big" in sys.argv
rng = np.random.default_rng(20240601)

with h5py.File(out, "w") as f:
    f.attrs["title"] = "synthetic"
    h = f.create_group("h5md")
    h.attrs["version"] = np.array([1, 1], dtype="i8")
    c = h.create_group("creator")
    c.attrs["name"] = "make_synth.py"
    c.attrs["fixed"] = np.bytes_(b"fixed-len")  # fixed-length ASCII
    g = f.create_group("particles/all")
    box = g.create_group("box")
    box.attrs["dimension"] = np.int32(3)
    box.attrs["boundary"] = ["periodic", "periodic", "none"]
    box.create_dataset("boundary_strings", data=np.array(["periodic", "none"], dtype=object),
                       dtype=h5py.string_dtype())

    pos = rng.standard_normal((7, 50, 3)).astype("f4")
    p = g.create_group("position")
    p.create_dataset("value", data=pos, chunks=(2, 20, 3), compression="gzip", compression_opts=4,
                     shuffle=True, fletcher32=True, maxshape=(None, 50, 3))
    p["value"].attrs["unit"] = "nm"
    p.create_dataset("step", data=np.arange(7, dtype="i8") * 10)
    p.create_dataset("time", data=np.arange(7, dtype="f8") * 0.5)
    p["time"].attrs["unit"] = "ps"

    v = g.create_group("velocity")
    # compressible, so that LZF is really applied (h5py skips it per chunk otherwise)
    v.create_dataset("value", data=rng.integers(0, 4, (7, 50, 3)).astype("f8") / 4, chunks=(3, 16, 3),
                     compression="lzf")
    v["step"] = p["step"]  # hard link
    v["time"] = h5py.SoftLink("/particles/all/position/time")

    im = g.create_group("image")  # gzip + shuffle only: readable by zarr-python too
    im.create_dataset("value", data=rng.integers(-3, 3, (7, 50, 3)).astype("i4"), chunks=(3, 20, 3),
                      compression="gzip", shuffle=True)

    fo = g.create_group("force")
    fo.create_dataset("value", data=rng.standard_normal((7, 50, 3)).astype(">f8"))  # contiguous, big-endian
    fo.create_dataset("step", data=np.int32(5))  # fixed step
    fo["step"].attrs["offset"] = np.int32(2)

    # compact storage (low-level API: h5py has no layout keyword)
    sp = np.arange(50, dtype="i2")
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    sid = h5py.h5s.create_simple((50,))
    did = h5py.h5d.create(g.id, b"species", h5py.h5t.STD_I16LE, sid, dcpl=dcpl)
    did.write(h5py.h5s.ALL, h5py.h5s.ALL, sp)
    did.close()

    # unallocated chunks read as the fill value
    sparse = g.create_dataset("sparse", shape=(10, 10), chunks=(4, 4), dtype="f4", fillvalue=-1.5)
    sparse[0:4, 4:8] = 7.0
    g.create_dataset("never_written", shape=(6,), dtype="i4", fillvalue=3)

    obs = f.create_group("observables")
    obs.create_dataset("flag", data=np.array([True, False, True]))
    obs.create_dataset("u8", data=np.arange(5, dtype="u1"))
    obs.create_dataset("scalar", data=np.float32(2.5))
    obs.create_dataset("empty", shape=(0, 3), dtype="f4")
    obs.attrs["ref"] = p["value"].ref
    obs.attrs["farr"] = np.array([1.5, 2.5], dtype="f4")
    obs.attrs["flag"] = True
    obs.attrs["names"] = np.array([b"ab", b"cd"], dtype="S2")
    if big:
        # > 4 MiB contiguous: served as a synthetic grid along axis 0
        obs.create_dataset("big", data=rng.standard_normal((30, 20000, 3)).astype("f4"))
        obs.create_dataset("after_big", data=np.arange(3, dtype="i4"))
