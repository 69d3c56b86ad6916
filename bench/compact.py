"""Sizes, errors and speeds of the zarrmd encodings against XTC (issue 13).

    PYTHONPATH=build/python python bench/compact.py [--data DIR] [--out FILE.md]

For the real water box (57,801 atoms x 200 frames, XTC at 0.001 nm) and a
synthetic trajectory (written to XTC by MDAnalysis at its default precision):
each encoding is written from the XTC through MDAnalysis and ZARRMDWriter;
reported are the size against the XTC file, the largest error against the XTC
values, the time to write (the XTC reading subtracted: compression alone) and
to iterate every frame through MDAnalysis with our reader, and MDAnalysis'
own XTCWriter / XTCReader on the same frames. One run, one machine: compare
the ratios, not the seconds.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings

import numpy as np

warnings.simplefilter("ignore")
import MDAnalysis as mda  # noqa: E402
import zarrtraj  # noqa: E402,F401  (registers the zarrmd reader)
from zarrtraj import ZARRMDWriter  # noqa: E402

ENCODINGS = [
    ("default (lossless, Blosc lz4 byte shuffle)", {}),
    ("Zarrtraj's recipe: precision 3 + Blosc zstd 5 byte shuffle",
     {"precision": 3, "compressor": "blosc:cname=zstd,clevel=5,shuffle=1"}),
    ("lossless float32, Blosc zstd 3 bit shuffle",
     {"compressor": "blosc:cname=zstd,clevel=3,shuffle=2,blocksize=4194304"}),
    ("compact, quantum 0.001 nm (XTC's)", {"preset": "compact"}),
    ("compact, quantum 0.01 nm", {"preset": "compact", "quantum": "0.01 nm"}),
]


def du(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def iterate(u):
    t = time.perf_counter()
    out = np.empty((len(u.trajectory), u.atoms.n_atoms, 3), np.float32)
    for ts in u.trajectory:
        out[ts.frame] = ts.positions
    return time.perf_counter() - t, out


def bench(name, top, xtc, tmp, rows):
    u = mda.Universe(top, xtc)
    t_read, ref = iterate(u)
    xtc_out = os.path.join(tmp, "w.xtc")
    t = time.perf_counter()
    with mda.Writer(xtc_out, n_atoms=u.atoms.n_atoms) as w:
        for ts in u.trajectory:
            w.write(u.atoms)
    t_xtcw = time.perf_counter() - t - t_read
    xsize = du(xtc)
    rows.append((name, "XTC (MDAnalysis XTCWriter / XTCReader)", 1.0, 0.0, t_xtcw, t_read, len(ref)))
    for label, kw in ENCODINGS:
        out = os.path.join(tmp, "e.zarrmd")
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        with ZARRMDWriter(out, u.atoms.n_atoms, n_frames=len(u.trajectory), **kw) as w:
            for ts in u.trajectory:
                w.write(u.atoms)
        t_w = time.perf_counter() - t - t_read
        t_it, got = iterate(mda.Universe(top, out))
        err = float(np.abs(got.astype(np.float64) - ref).max()) / 10.0  # Angstrom -> nm
        rows.append((name, label, du(out) / xsize, err, t_w, t_it, len(ref)))
        shutil.rmtree(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("ZT_DATA_DIR") or
                    os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
    ap.add_argument("--out")
    ap.add_argument("--cli", default=os.path.join(os.path.dirname(__file__), "..", "build", "zarrtraj"))
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        real = os.path.join(a.data, "real")
        bench("water box 57,801 atoms x 200 frames", os.path.join(real, "water57k.gro"),
              os.path.join(real, "water57k_200f.xtc"), tmp, rows)
        # synth: 20,000 atoms x 500 frames, written to XTC by MDAnalysis
        src = os.path.join(tmp, "synth.zarrmd")
        os.system(f"'{a.cli}' synth '{src}' --atoms 20000 --frames 500 --no-velocities --seed 7 >/dev/null")
        u = mda.Universe(src)
        sx = os.path.join(tmp, "synth.xtc")
        with mda.Writer(sx, n_atoms=u.atoms.n_atoms) as w:
            for ts in u.trajectory:
                w.write(u.atoms)
        pdb = os.path.join(tmp, "synth.pdb")
        u.trajectory[0]
        u.atoms.write(pdb)
        bench("synth 20,000 atoms x 500 frames", pdb, sx, tmp, rows)
    lines = ["| trajectory | encoding | size vs XTC | max error (nm) | write (frames/s) | iterate via MDAnalysis "
             "(frames/s) |", "|---|---|---|---|---|---|"]
    for name, label, ratio, err, tw, ti, n in rows:
        lines.append(f"| {name} | {label} | {ratio:.3f}x | {err:.2g} | {n / max(tw, 1e-9):.0f} | {n / ti:.0f} |")
    text = "\n".join(lines)
    print(text)
    if a.out:
        open(a.out, "w").write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
