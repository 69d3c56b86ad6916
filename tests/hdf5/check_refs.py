"""Open a kerchunk reference file with zarr-python + fsspec's
ReferenceFileSystem and compare every dataset and attribute with h5py.
Arrays whose codecs numcodecs does not know (lzf, fletcher32) must carry
those ids and are counted as skipped.

usage: check_refs.py REFS.json FILE.h5  (prints "<equal> <skipped>")
"""
import json
import math
import sys

import fsspec
import h5py
import numpy as np
import zarr

refs_path, h5path = sys.argv[1], sys.argv[2]
refs = json.load(open(refs_path))
fs = fsspec.filesystem("reference", fo=refs)
root = zarr.open_group(fs.get_mapper(""), mode="r")
UNKNOWN = {"lzf", "fletcher32"}


def norm(v, f):
    if isinstance(v, h5py.Empty):
        return None
    if isinstance(v, h5py.Reference):
        return f[v].name if v else None
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray):
        return [norm(x, f) for x in v] if v.ndim else norm(v[()], f)
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        x = float(v)
        return None if math.isnan(x) or math.isinf(x) else x
    return v


bad = []
n_eq = n_skip = 0
with h5py.File(h5path, "r") as f:

    def walk(g, prefix):
        global n_eq, n_skip
        for name in sorted(g.keys()):
            try:
                o = g[name]
            except KeyError:
                continue
            p = prefix + "/" + name if prefix else name
            want = {k: norm(o.attrs[k], f) for k in o.attrs}
            if isinstance(o, h5py.Group):
                z = root[p]
                if dict(z.attrs) != want:
                    bad.append("attrs of group %s: %r != %r" % (p, dict(z.attrs), want))
                walk(o, p)
                continue
            if o.dtype.kind not in "fiubSUO" or o.shape is None:
                continue
            meta = json.loads(refs["refs"][p + "/.zarray"])
            cfg = [c["id"] for c in (meta["filters"] or [])] + ([meta["compressor"]["id"]] if meta["compressor"] else [])
            if UNKNOWN & set(cfg):
                # zarr-python cannot even open it; check the metadata by hand
                za = json.loads(refs["refs"].get(p + "/.zattrs", "{}"))
                if za != want or meta["shape"] != list(o.shape) or meta["dtype"] != o.dtype.str:
                    bad.append("metadata of %s differs" % p)
                n_skip += 1
                continue
            z = root[p]
            if dict(z.attrs) != want:
                bad.append("attrs of %s: %r != %r" % (p, dict(z.attrs), want))
            ids = cfg
            a = np.asarray(z[...])  # zarr-python 3 gives a 0-d string dataset as a str
            b = o[()]
            if o.dtype.kind in "SUO":
                b = np.array(b, dtype=object)
                b = np.vectorize(lambda x: x.decode() if isinstance(x, bytes) else x, otypes=[object])(b) if b.size else b
                ok = a.shape == b.shape and all(x == y for x, y in zip(np.ravel(a), np.ravel(b)))
            else:
                ok = a.dtype == o.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=o.dtype.kind == "f")
            if not ok:
                bad.append("values of %s differ (%s %s vs %s %s; codecs %s)" % (p, a.dtype, a.shape, o.dtype, np.shape(b), ids))
            else:
                n_eq += 1

    walk(f, "")
    if dict(root.attrs) != {k: norm(f.attrs[k], f) for k in f.attrs}:
        bad.append("root attrs differ")
for b in bad:
    print(b, file=sys.stderr)
print(n_eq, n_skip)
sys.exit(1 if bad else 0)
