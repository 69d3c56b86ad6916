#!/usr/bin/env python3
"""Iterate a trajectory through MDAnalysis, as an analysis does: one
measurement per process, one JSON line on stdout with the fields of
bench_iter/peers.py (tool, mode, frames, seconds, frames_per_s, MB_per_s,
open_s, first_frame_s, check) plus the versions that ran.

    mdabench.py READER TOPOLOGY PATH_OR_URL [MODE]

READER
  zarrtraj  zarrtraj.ZARRH5MDReader: whichever `zarrtraj` this interpreter
            imports (ours from BUILD/python with PYTHONPATH, or upstream
            Zarrtraj in its own venv); the JSON says which
  h5md      MDAnalysis' own H5MDReader (h5py; local files only)
  xtc       MDAnalysis' own XTCReader
MODE
  iter       `for ts in u.trajectory: pass`
  positions  the same loop, touching every coordinate of every frame
             (float64 sum of ts.positions: the checksum, equal for readers of
             the same values)

The topology is loaded first (not timed); open_s is `u.load_new(PATH,
format=READER)`, seconds is the loop over every frame, first_frame_s the
open plus the first frame. The reader class is passed explicitly, so
MDAnalysis' H5MDReader is used for .h5md even where zarrtraj registers the
H5MD format.
"""
import json
import os
import sys
import time
import warnings

warnings.simplefilter("ignore")


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("zarrtraj", "h5md", "xtc"):
        raise SystemExit(__doc__)
    which, top, path = sys.argv[1:4]
    mode = sys.argv[4] if len(sys.argv) > 4 else "positions"
    if mode not in ("iter", "positions"):
        raise SystemExit("mdabench.py: unknown mode " + mode)
    import numpy as np
    import MDAnalysis as mda
    res = {"mode": mode, "url": path, "MDAnalysis": mda.__version__, "numpy": np.__version__}
    if which == "zarrtraj":
        import zarrtraj
        from zarrtraj import ZARRH5MDReader as R
        ours = R.__module__ == "zarrtraj.reader"  # upstream's is zarrtraj.ZARR
        res["tool"] = "zarrtraj" if ours else "upstream-Zarrtraj"
        res["zarrtraj"] = "%s (%s)" % (zarrtraj.__version__, os.path.dirname(zarrtraj.__file__))
        if not ours:
            import zarr
            res["zarr"] = zarr.__version__
        if not ours and path.startswith(("http://", "https://")):
            import fsspec.implementations.http  # noqa: F401  (upstream's HTTP stack, imported untimed)
    elif which == "h5md":
        from MDAnalysis.coordinates.H5MD import H5MDReader as R
        import h5py
        res["tool"] = "MDAnalysis-H5MDReader"
        res["h5py"] = h5py.__version__
    else:
        from MDAnalysis.coordinates.XTC import XTCReader as R
        res["tool"] = "MDAnalysis-XTCReader"
    u = mda.Universe(top)
    t0 = time.perf_counter()
    u.load_new(path, format=R)
    t1 = time.perf_counter()
    first = None
    frames = 0
    s = 0.0
    traj = u.trajectory
    if mode == "iter":
        for ts in traj:
            if first is None:
                first = time.perf_counter() - t0
            frames += 1
    else:
        for ts in traj:
            s += float(ts.positions.sum(dtype=np.float64))
            if first is None:
                first = time.perf_counter() - t0
            frames += 1
    t2 = time.perf_counter()
    na = traj.n_atoms
    if frames != traj.n_frames:
        raise SystemExit("mdabench.py: iterated %d of %d frames" % (frames, traj.n_frames))
    dt = t2 - t1
    res.update(reader="%s.%s" % (R.__module__, R.__name__), frames=frames, n_atoms=na, seconds=round(dt, 4),
               frames_per_s=round(frames / dt, 2), MB_per_s=round(frames * na * 12 / 1e6 / dt, 2),
               open_s=round(t1 - t0, 4), first_frame_s=round(first or 0.0, 4), total_s=round(t2 - t0, 4),
               check=s, units={k: v for k, v in traj.units.items() if v})
    traj.close()
    print(json.dumps(res))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
