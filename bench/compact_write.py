"""Issue 13 write target: MDAnalysis XTCWriter vs ZARRMDWriter(preset="compact") (Zarr v2 and v3) writing
the same frames held in memory (no XTC reading in the timing), 3 rounds.

    PYTHONPATH=build/python python bench/compact_write.py GRO XTC
"""
import sys, time, warnings, shutil, os
warnings.simplefilter("ignore")
import numpy as np, MDAnalysis as mda, zarrtraj
from zarrtraj import ZARRMDWriter
from MDAnalysis.coordinates.XTC import XTCWriter
G, X = sys.argv[1], sys.argv[2]
import tempfile
TMP = tempfile.mkdtemp()
u = mda.Universe(G, X)
pos = np.stack([ts.positions.copy() for ts in u.trajectory]); dims = u.trajectory.ts.dimensions.copy()
n = len(pos)
def feed(w):
    for i in range(n):
        u.trajectory.ts.positions = pos[i]; u.trajectory.ts.frame = i; u.trajectory.ts.data["step"] = i
        w.write(u.atoms)
for rep in range(3):
    t = time.perf_counter()
    with XTCWriter(os.path.join(TMP, "w.xtc"), u.atoms.n_atoms) as w: feed(w)
    tx = time.perf_counter() - t
    for fmt in (2, 3):
        shutil.rmtree(os.path.join(TMP, "w.zarrmd"), ignore_errors=True)
        t = time.perf_counter()
        kw = {} if fmt == 2 else {"zarr_format": 3}
        with ZARRMDWriter(os.path.join(TMP, "w.zarrmd"), u.atoms.n_atoms, n_frames=n, preset="compact", **kw) as w: feed(w)
        tz = time.perf_counter() - t
        print("v%d: XTCWriter %.0f frames/s, ours compact %.0f frames/s (%.2fx)" % (fmt, n / tx, n / tz, tx / tz))
shutil.rmtree(TMP, ignore_errors=True)
