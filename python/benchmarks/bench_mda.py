"""Iterate a trajectory with MDAnalysis through zarrtraj's reader and through
MDAnalysis' own H5MDReader; timeseries vs lazytimeseries.

    /usr/bin/python3 python/benchmarks/bench_mda.py DIR   # DIR gets synth.zarrmd / synth.h5md

Builds the inputs when missing: `zarrtraj synth` (20,000 atoms, 500 frames,
positions+velocities+forces, Blosc-lz4 zarrmd) and an .h5md copy written by
MDAnalysis' H5MDWriter (its defaults: chunks (1, n_atoms, 3), no compression).
Each measurement is the best of --repeat runs (page cache warm).
"""
import argparse
import os
import shutil
import subprocess
import sys
import time
import warnings

warnings.simplefilter("ignore")
import numpy as np  # noqa: E402


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--cli", default=os.environ.get("ZT_CLI") or shutil.which("zarrtraj") or "build/zarrtraj")
    ap.add_argument("--atoms", type=int, default=20000)
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    import MDAnalysis as mda
    from MDAnalysis.coordinates.H5MD import H5MDReader, H5MDWriter

    import zarrtraj

    os.makedirs(a.dir, exist_ok=True)
    zpath, hpath = os.path.join(a.dir, "synth.zarrmd"), os.path.join(a.dir, "synth.h5md")
    if not os.path.exists(zpath):
        subprocess.run([a.cli, "synth", zpath, "--atoms", str(a.atoms), "--frames", str(a.frames), "--forces"],
                       check=True)
    if not os.path.exists(hpath):
        u = mda.Universe(zpath)
        with H5MDWriter(hpath, n_atoms=u.atoms.n_atoms, n_frames=u.trajectory.n_frames, velocities=True,
                        forces=True) as w:
            for ts in u.trajectory:
                for k in [k for k in ts.data if "/" in k]:
                    del ts.data[k]  # MDAnalysis' H5MDReader cannot read back nested observable names
                w.write(u.atoms)
            w.h5md_file.close()  # MDAnalysis 2.4.2's close() leaves the h5py file open and unflushed

    def iterate(reader_cls, path, **kw):
        def run():
            r = reader_cls(path, **kw)
            s = 0.0
            for ts in r:
                s += float(ts.positions[0, 0])
            r.close()
        return run

    n = zarrtraj.ZARRH5MDReader(zpath).n_frames
    rows = [
        ("MDAnalysis H5MDReader, .h5md", iterate(H5MDReader, hpath)),
        ("zarrtraj ZARRH5MDReader, .h5md", iterate(zarrtraj.ZARRH5MDReader, hpath)),
        ("zarrtraj ZARRH5MDReader, .zarrmd", iterate(zarrtraj.ZARRH5MDReader, zpath)),
    ]
    print(f"iterate {n} frames x {a.atoms} atoms (positions, velocities, forces), best of {a.repeat}:")
    for name, fn in rows:
        t = best(fn, a.repeat)
        print(f"  {name:36s} {t:7.3f} s  {n / t:8.1f} frames/s")

    r = zarrtraj.ZARRH5MDReader(zpath)
    sel = np.arange(0, r.n_atoms, 10)
    print(f"timeseries of {len(sel)} atoms x {n} frames (.zarrmd):")
    t = best(lambda: r.timeseries(sel, order="afc"), a.repeat)
    print(f"  timeseries (one C call)                {t:7.3f} s")
    import dask

    lz = r.lazytimeseries(sel, order="afc")
    print(f"  lazytimeseries: {lz.numblocks[1]} tasks")
    with dask.config.set(scheduler="threads"):
        t = best(lambda: lz.compute(), a.repeat)
    print(f"  lazytimeseries, threaded scheduler     {t:7.3f} s")
    with dask.config.set(scheduler="synchronous"):
        t = best(lambda: lz.compute(), a.repeat)
    print(f"  lazytimeseries, synchronous scheduler  {t:7.3f} s")
    assert np.array_equal(lz.compute(), r.timeseries(sel, order="afc"))


if __name__ == "__main__":
    sys.exit(main())
