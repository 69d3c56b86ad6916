"""Blosc zstd level x block size on the filtered chunks of a compact zarrmd (docs/codecs.md).

    zarrtraj convert water57k_200f.xtc /tmp/c.zarrmd --preset compact
    python bench/blosc_levels.py /tmp/c.zarrmd/particles/*/position/value

Each chunk is decoded by numcodecs' Blosc (giving the int32 deltas the writer
compressed) and re-encoded with every level and block size, one thread; sizes
are exact, MB/s are of this machine at this moment (compare within the run).
"""
import glob
import os
import sys
import time

import numcodecs
import numpy as np
from numcodecs import Blosc

files = sorted(f for f in glob.glob(os.path.join(sys.argv[1], "*")) if not os.path.basename(f).startswith("."))
raw = [np.frombuffer(Blosc().decode(open(f, "rb").read()), dtype="<i4") for f in files]
tot = sum(r.nbytes for r in raw)
print(f"{len(files)} chunks, {tot / 1e6:.1f} MB of int32")
numcodecs.blosc.set_nthreads(1)
for cl in (1, 2, 3, 5):
    for bs in (0, 1 << 20, 4 << 20):
        c = Blosc(cname="zstd", clevel=cl, shuffle=Blosc.BITSHUFFLE, blocksize=bs)
        t = time.perf_counter()
        out = [c.encode(r) for r in raw]
        te = time.perf_counter() - t
        t = time.perf_counter()
        for o in out:
            c.decode(o)
        td = time.perf_counter() - t
        size = sum(len(o) for o in out)
        print(f"zstd {cl} blocksize {bs:8d}: {size / 1e6:7.2f} MB  encode {tot / te / 1e6:6.0f} MB/s  "
              f"decode {tot / td / 1e6:6.0f} MB/s")
