#!/usr/bin/env python3
"""Peer readers for the zarrtraj benchmarks: one measurement per process, one
JSON line on stdout with the same fields as bench_iter (tool, mode, frames,
seconds, frames_per_s, MB_per_s, open_s, first_frame_s, check).

    peers.py TOOL PATH_OR_URL MODE [--frames N] [--batch K] [--group trajectory]

TOOL
  zarr      zarr-python 3.x (zarr_format=2; a LocalStore for paths, an FsspecStore
            on fsspec's HTTPFileSystem for http:// URLs) on a zarrmd position/value
            array, opened through its consolidated metadata when there is one
  h5py      h5py on an H5MD file (local), libhdf5's default 1 MiB chunk cache
  mda-h5md  MDAnalysis' H5MDReader (per-frame h5py reads)
  mda-xtc   MDAnalysis' XTCReader
The versions are those of the interpreter that runs this (bench/run.sh: the
newest venv, scripts/pyenv.sh newest) and are printed in the JSON.
MODE (as bench_iter)
  seq       every frame in order, each copied into a caller's buffer as
            zarrtraj does. zarr: chunk by chunk (one arr[a:b] per chunk, frames
            copied out of the decoded block: the best per-frame loop zarr-python
            allows); h5py: ds.read_direct per frame; MDAnalysis: iteration
  bulk      zarr: arr[:N] (one call, bulk decode); h5py: ds[:N]
  stride:S  every S-th frame. zarr: arr[0:N:S] in one call; h5py: ds[i]
            per frame; MDAnalysis: trajectory[::S]
  random:N  N random frames (same generator as bench_iter), one read each:
            zarr arr[i], h5py ds.read_direct, MDAnalysis trajectory[i]
  batch:N   N random frames, K per call: zarr arr.get_orthogonal_selection,
            h5py ds[sorted unique], MDAnalysis trajectory[list]
  ts:PCT    PCT % of the atoms (evenly spread) over all frames: zarr
            arr.get_orthogonal_selection((slice, idx, slice)), h5py
            ds[:, idx, :], MDAnalysis per-frame positions[idx] (what
            ReaderBase.timeseries does)
--frames N limits seq/bulk/stride/ts to the first N frames.
"""
import argparse
import json
import sys
import time
import warnings

warnings.simplefilter("ignore")
import numpy as np  # noqa: E402


def lcg_frames(n, nf):
    """The random frame sequence of bench_iter (64-bit LCG, state >> 33)."""
    st = 12345
    out = []
    for _ in range(n):
        st = (st * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        out.append((st >> 33) % nf)
    return out


def atom_sel(na, pct):
    nsel = max(1, int(na * pct / 100.0))
    return np.arange(nsel, dtype=np.int64) * (na // nsel)


class Timer:
    def __init__(self):
        self.t0 = time.perf_counter()
        self.first = None

    def mark(self):
        if self.first is None:
            self.first = time.perf_counter() - self.t0


def run_zarr(a, res, T):
    import zarr
    import zarr.storage
    url = a.path
    if url.startswith(("http://", "https://")):
        store = zarr.storage.FsspecStore.from_url(url, read_only=True)
        res["tool"] = "zarr-python+fsspec"
    else:
        store = zarr.storage.LocalStore(url, read_only=True)
        res["tool"] = "zarr-python"
    try:
        g = zarr.open_consolidated(store, mode="r", zarr_format=2)
    except (KeyError, ValueError, FileNotFoundError):  # no .zmetadata
        g = zarr.open_group(store, mode="r", zarr_format=2)
    arr = g["particles/%s/position/value" % a.group]
    nf, na = arr.shape[0], arr.shape[1]
    res["open_s"] = time.perf_counter() - T.t0
    t1 = time.perf_counter()
    n = min(nf, a.frames) if a.frames > 0 else nf
    m = a.mode
    frames, s = 0, 0.0
    delivered_atoms = na
    buf = np.empty(arr.shape[1:], arr.dtype)  # frames are delivered into a caller's buffer, as zarrtraj does
    if m == "seq":
        c = arr.chunks[0]
        for b0 in range(0, n, c):
            block = arr[b0:min(n, b0 + c)]
            for j in range(block.shape[0]):
                np.copyto(buf, block[j])
                s += float(buf[0, 0])
                frames += 1
                T.mark()
    elif m == "bulk":
        x = arr[:n]
        T.mark()
        frames, s = x.shape[0], float(x[0, 0, 0])
    elif m.startswith("stride:"):
        st = int(m.split(":")[1])
        x = arr[0:n:st]
        T.mark()
        frames, s = x.shape[0], float(x[:, 0, 0].sum())
    elif m.startswith("random:"):
        for i in lcg_frames(int(m.split(":")[1]), nf):
            fr = arr[i]
            s += float(fr[0, 0])
            frames += 1
            T.mark()
    elif m.startswith("batch:"):
        idx = lcg_frames(int(m.split(":")[1]), nf)
        for b in range(0, len(idx), a.batch):
            x = arr.get_orthogonal_selection((np.array(idx[b:b + a.batch]), slice(None), slice(None)))
            s += float(x[0, 0, 0])
            frames += x.shape[0]
            T.mark()
    elif m.startswith("ts:"):
        sel = atom_sel(na, float(m.split(":")[1]))
        x = arr.get_orthogonal_selection((slice(0, n), sel, slice(None)))
        T.mark()
        frames, s, delivered_atoms = x.shape[0], float(x[0, 0, 0] + x[-1, -1, -1]), len(sel)
    else:
        raise SystemExit("peers.py: unknown mode " + m)
    return frames, na, delivered_atoms, s, t1


def run_h5py(a, res, T):
    import h5py
    res["tool"] = "h5py"
    f = h5py.File(a.path, "r")
    ds = f["particles/%s/position/value" % a.group]
    nf, na = ds.shape[0], ds.shape[1]
    res["open_s"] = time.perf_counter() - T.t0
    t1 = time.perf_counter()
    n = min(nf, a.frames) if a.frames > 0 else nf
    m = a.mode
    frames, s = 0, 0.0
    delivered_atoms = na
    buf = np.empty(ds.shape[1:], ds.dtype)
    if m == "seq" or m.startswith("stride:"):
        st = 1 if m == "seq" else int(m.split(":")[1])
        for i in range(0, n, st):
            ds.read_direct(buf, np.s_[i])  # into the caller's buffer, as zarrtraj does
            s += float(buf[0, 0])
            frames += 1
            T.mark()
    elif m == "bulk":
        x = ds[:n]
        T.mark()
        frames, s = x.shape[0], float(x[0, 0, 0])
    elif m.startswith("random:"):
        for i in lcg_frames(int(m.split(":")[1]), nf):
            ds.read_direct(buf, np.s_[i])
            s += float(buf[0, 0])
            frames += 1
            T.mark()
    elif m.startswith("batch:"):
        idx = lcg_frames(int(m.split(":")[1]), nf)
        for b in range(0, len(idx), a.batch):
            part = idx[b:b + a.batch]
            u, inv = np.unique(part, return_inverse=True)  # h5py wants increasing indices
            x = ds[u][inv]
            s += float(x[0, 0, 0])
            frames += len(part)
            T.mark()
    elif m.startswith("ts:"):
        sel = atom_sel(na, float(m.split(":")[1]))
        x = ds[:n, sel, :]
        T.mark()
        frames, s, delivered_atoms = x.shape[0], float(x[0, 0, 0] + x[-1, -1, -1]), len(sel)
    else:
        raise SystemExit("peers.py: unknown mode " + m)
    return frames, na, delivered_atoms, s, t1


def run_mda(a, res, T):
    if a.tool == "mda-h5md":
        from MDAnalysis.coordinates.H5MD import H5MDReader as R
        res["tool"] = "MDAnalysis-H5MDReader"
    else:
        from MDAnalysis.coordinates.XTC import XTCReader as R
        res["tool"] = "MDAnalysis-XTCReader"
    r = R(a.path)
    nf, na = r.n_frames, r.n_atoms
    res["open_s"] = time.perf_counter() - T.t0
    t1 = time.perf_counter()
    n = min(nf, a.frames) if a.frames > 0 else nf
    m = a.mode
    frames, s = 0, 0.0
    delivered_atoms = na
    if m == "seq" or m.startswith("stride:"):
        st = 1 if m == "seq" else int(m.split(":")[1])
        for ts in r[0:n:st]:
            s += float(ts.positions[0, 0])
            frames += 1
            T.mark()
    elif m.startswith("random:"):
        for i in lcg_frames(int(m.split(":")[1]), nf):
            ts = r[int(i)]
            s += float(ts.positions[0, 0])
            frames += 1
            T.mark()
    elif m.startswith("batch:"):
        idx = [int(i) for i in lcg_frames(int(m.split(":")[1]), nf)]
        for ts in r[idx]:
            s += float(ts.positions[0, 0])
            frames += 1
            T.mark()
    elif m.startswith("ts:"):
        sel = atom_sel(na, float(m.split(":")[1]))
        out = np.empty((n, len(sel), 3), np.float32)
        for k, ts in enumerate(r[0:n]):
            out[k] = ts.positions[sel]
        T.mark()
        frames, s, delivered_atoms = n, float(out[0, 0, 0] + out[-1, -1, -1]), len(sel)
    else:
        raise SystemExit("peers.py: unknown mode " + m)
    r.close()
    return frames, na, delivered_atoms, s, t1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tool", choices=["zarr", "h5py", "mda-h5md", "mda-xtc"])
    ap.add_argument("path")
    ap.add_argument("mode", nargs="?", default="seq")
    ap.add_argument("--frames", type=int, default=-1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--group", default="trajectory")
    a = ap.parse_args()
    res = {"tool": a.tool, "url": a.path, "mode": a.mode, "numpy": np.__version__}
    # imports are not part of the open time
    if a.tool == "zarr":
        import numcodecs
        import zarr
        import zarr.storage  # noqa: F401
        res.update(zarr=zarr.__version__, numcodecs=numcodecs.__version__)
        if a.path.startswith(("http://", "https://")):
            import fsspec
            import fsspec.implementations.http  # noqa: F401
            res["fsspec"] = fsspec.__version__
    elif a.tool == "h5py":
        import h5py
        res["h5py"] = h5py.__version__
    else:
        import h5py
        import MDAnalysis
        import MDAnalysis.coordinates.H5MD  # noqa: F401
        import MDAnalysis.coordinates.XTC  # noqa: F401
        res.update(MDAnalysis=MDAnalysis.__version__, h5py=h5py.__version__)
    T = Timer()
    fn = {"zarr": run_zarr, "h5py": run_h5py}.get(a.tool, run_mda)
    frames, na, dna, s, t1 = fn(a, res, T)
    dt = time.perf_counter() - t1
    res.update(frames=frames, n_atoms=na, seconds=round(dt, 4), frames_per_s=round(frames / dt, 2),
               MB_per_s=round(frames * dna * 12 / 1e6 / dt, 2), first_frame_s=round(T.first or 0.0, 4),
               open_s=round(res["open_s"], 4), check=s)
    print(json.dumps(res))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
