"""Independent reference for the HDF5 layer tests: dump what h5py sees in an
HDF5 file (every object at every hard-link path, decoded attributes, dtypes,
shapes, chunks, the raw bytes of numeric datasets, string dataset values).

usage: h5py_dump.py FILE.h5 OUTDIR  ->  OUTDIR/expect.json + OUTDIR/<n>.bin
"""
import json
import math
import os
import sys

import h5py
import numpy as np


def jsonable(v, f):
    if isinstance(v, h5py.Empty):
        return None  # null dataspace (PyTables' TITLE)
    if isinstance(v, h5py.Reference):
        return f[v].name if v else None
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, str):
        return v
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer, int)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        x = float(v)
        return None if math.isnan(x) or math.isinf(x) else x
    if isinstance(v, np.ndarray):
        return [jsonable(x, f) for x in v] if v.ndim else jsonable(v[()], f)
    if isinstance(v, (list, tuple)):
        return [jsonable(x, f) for x in v]
    raise TypeError(type(v))


def main():
    path, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    objs = {}
    nbin = [0]
    with h5py.File(path, "r") as f:

        def attrs(o):
            d = {}
            for k in o.attrs:
                try:
                    d[k] = jsonable(o.attrs[k], f)
                except TypeError:
                    pass
            return d

        def walk(g, prefix, anc):
            for name in sorted(g.keys()):
                link = g.get(name, getlink=True)
                if isinstance(link, h5py.ExternalLink):
                    continue
                try:
                    o = g[name]
                except KeyError:
                    continue  # dangling soft link
                p = prefix + "/" + name if prefix else name
                if isinstance(o, h5py.Group):
                    objs[p] = {"kind": "group", "attrs": attrs(o)}
                    addr = h5py.h5o.get_info(o.id).addr
                    if addr not in anc:
                        walk(o, p, anc | {addr})
                    continue
                e = {"kind": "dataset", "attrs": attrs(o), "shape": list(o.shape) if o.shape is not None else None}
                dt = o.dtype
                if dt.kind in "fiub" and o.shape is not None:
                    e["dtype"] = dt.str
                    e["chunks"] = list(o.chunks) if o.chunks else None
                    e["layout"] = o.id.get_create_plist().get_layout()
                    a = np.asarray(o[()])
                    fn = "%d.bin" % nbin[0]
                    nbin[0] += 1
                    with open(os.path.join(out, fn), "wb") as fh:
                        fh.write(a.astype(dt, copy=False).tobytes())
                    e["bin"] = fn
                elif dt.kind in "SUO":
                    e["value"] = jsonable(o[()], f)
                objs[p] = e

        objs[""] = {"kind": "group", "attrs": attrs(f)}
        walk(f, "", {h5py.h5o.get_info(f["/"].id).addr})
    with open(os.path.join(out, "expect.json"), "w") as fh:
        json.dump({"objects": objs}, fh)


main()
