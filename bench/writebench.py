#!/usr/bin/env python3
"""Time a write: run a command (zarrtraj convert / cp) or the zarr-python
peer, optionally removing the destination first (not timed) and running
sync after it (timed); print one JSON line with the input MB/s.

    writebench.py --frames N --atoms A [--rm DST] [--sync] -- CMD ...
    writebench.py --bytes B -- CMD ...
    writebench.py --frames N --atoms A [--rm DST] [--sync] --zarr-python SRC DST

The zarr-python peer (3.x, writing Zarr v2) copies the position array of the
uncompressed zarrmd SRC chunk by chunk into DST with Quantize(3) + Zstd(level 3), the same codecs
and chunks as `zarrtraj convert --compressor zstd:level=3 --precision 3`.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import warnings

warnings.simplefilter("ignore")


def zarr_python_copy(src, dst):
    """zarr-python 3.x writing Zarr v2 (zarr_format=2), as zarrtraj's zarrmd is."""
    import numcodecs
    import zarr
    g = zarr.open_consolidated(src, mode="r", zarr_format=2)
    a = g["particles/trajectory/position/value"]
    out = zarr.open_group(dst, mode="w", zarr_format=2)
    b = out.create_array("particles/trajectory/position/value", shape=a.shape, chunks=a.chunks, dtype=a.dtype,
                         compressors=numcodecs.Zstd(level=3),
                         filters=[numcodecs.Quantize(digits=3, dtype=a.dtype)])
    c = a.chunks[0]
    for i in range(0, a.shape[0], c):
        b[i:i + c] = a[i:i + c]
    zarr.consolidate_metadata(dst, zarr_format=2)


def main():
    argv = sys.argv[1:]
    cmd = []
    if "--" in argv:
        i = argv.index("--")
        argv, cmd = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=0)
    ap.add_argument("--atoms", type=int, default=0)
    ap.add_argument("--bytes", type=int, default=0)
    ap.add_argument("--rm")
    ap.add_argument("--sync", action="store_true")
    ap.add_argument("--zarr-python", nargs=2)
    a = ap.parse_args(argv)
    if a.rm:
        if os.path.isdir(a.rm):
            shutil.rmtree(a.rm)
        elif os.path.exists(a.rm):
            os.remove(a.rm)
        os.makedirs(os.path.dirname(a.rm), exist_ok=True)
    if a.zarr_python:
        import numcodecs  # noqa: F401  (imports are not timed)
        import zarr  # noqa: F401
    t0 = time.perf_counter()
    if a.zarr_python:
        zarr_python_copy(*a.zarr_python)
        tool = "zarr-python"
    else:
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit("writebench: %s failed: %s" % (cmd[0], p.stderr.strip()[-300:]))
        tool = os.path.basename(cmd[0])
    if a.sync:
        subprocess.run(["sync"])
    dt = time.perf_counter() - t0
    nbytes = a.bytes or a.frames * a.atoms * 12
    res = {"tool": tool, "mode": "write", "seconds": round(dt, 4), "MB_per_s": round(nbytes / 1e6 / dt, 2),
           "input_bytes": nbytes, "open_s": None, "first_frame_s": None}
    if a.frames:
        res.update(frames=a.frames, n_atoms=a.atoms, frames_per_s=round(a.frames / dt, 2))
    out = a.rm or (a.zarr_python[1] if a.zarr_python else None)
    if out and os.path.exists(out):
        res["output_bytes"] = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(out) for f in fs) \
            if os.path.isdir(out) else os.path.getsize(out)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
