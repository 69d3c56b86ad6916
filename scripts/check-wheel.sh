#!/bin/sh
# Packaging check, as a user installs: `python -m build` makes an sdist and
# builds the wheel from it (isolated: scikit-build-core and NumPy 2 from PyPI),
# the wheel (with the [dask] extra) goes into a new, empty venv whose runtime
# dependencies come from PyPI, and a fresh interpreter there imports zarrtraj,
# reads a trajectory through MDAnalysis and dask, and runs the zarrtraj command,
# checking the values against ../shared/data/expected.json.
#
# Usage: check-wheel.sh PYTHON [OUTDIR]   PYTHON: an interpreter with `build`
#        (the newest venv); OUTDIR (default build/dist) gets the sdist, the wheel,
#        the clean venv and install.json (install time and size, for bench/).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=$1
OUT=$(mkdir -p "${2:-$ROOT/build/dist}" && cd "${2:-$ROOT/build/dist}" && pwd)
DATA=${ZT_DATA_DIR:-$ROOT/../shared/data}
log() { echo "check-wheel: $*" >&2; }

rm -rf "$OUT/pkg" "$OUT/venv"
log "python -m build (sdist, then the wheel from the sdist)"
"$PY" -m build --outdir "$OUT/pkg" "$ROOT" >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log" >&2; exit 1; }
SDIST=$(ls "$OUT"/pkg/zarrtraj-*.tar.gz)
WHEEL=$(ls "$OUT"/pkg/zarrtraj-*.whl)
log "built $(basename "$SDIST") and $(basename "$WHEEL")"
# the sdist carries what a build needs and none of the local build trees
tar tzf "$SDIST" >"$OUT/sdist.txt"
for f in pyproject.toml CMakeLists.txt include/zarrtraj.h python/src/_core.c python/zarrtraj/reader.py \
         src/traj/reader.c programs; do
    grep -q "^zarrtraj-[0-9.]*/$f" "$OUT/sdist.txt" || { log "sdist lacks $f"; exit 1; }
done
if grep -q -E "^zarrtraj-[0-9.]*/(build[^/]*|dist)/" "$OUT/sdist.txt"; then log "sdist holds build output"; exit 1; fi

BASE=$("$PY" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')
log "new venv with $BASE; pip install the wheel with [dask] (dependencies from PyPI)"
start=$(date +%s)
"$BASE" -m venv "$OUT/venv"
V=$OUT/venv/bin/python
"$V" -m pip install -q --disable-pip-version-check "$WHEEL[dask]" >&2
secs=$(( $(date +%s) - start ))
size=$(du -sk "$OUT/venv" | cut -f1)
"$V" -m pip freeze --disable-pip-version-check >"$OUT/venv-freeze.txt"
printf '{"install_seconds": %s, "venv_kib": %s, "packages": %s, "python": "%s"}\n' "$secs" "$size" \
    "$(wc -l <"$OUT/venv-freeze.txt")" "$("$V" -c 'import platform; print(platform.python_version())')" \
    >"$OUT/install.json"
log "installed in ${secs} s, venv $((size / 1024)) MiB, $(wc -l <"$OUT/venv-freeze.txt") packages"

# A fresh interpreter outside the checkout, no PYTHONPATH: only the installed wheel.
cd "$OUT"
env -u PYTHONPATH ZT_DATA_DIR="$DATA" "$V" - <<'PY'
import json, os, subprocess, sys, warnings
warnings.simplefilter("ignore")
import numpy as np
import MDAnalysis as mda
import zarrtraj
venv = os.path.dirname(os.path.dirname(sys.executable))
assert zarrtraj.__file__.startswith(venv), zarrtraj.__file__
from MDAnalysis.coordinates.core import get_reader_for
assert get_reader_for("s3://b/t.zarrmd") is zarrtraj.ZARRH5MDReader
data = os.environ["ZT_DATA_DIR"]
exp = json.load(open(os.path.join(data, "expected.json")))["files"]
for name in ("zarrtraj/COORDINATES_SYNTHETIC_ZARRMD.zarrmd", "zarrtraj/COORDINATES_SYNTHETIC_H5MD.h5md"):
    key = exp[name]["key"]["particle_groups"]["trajectory"]["elements"]["position"]
    u = mda.Universe(os.path.join(data, name), convert_units=False)
    pos = u.trajectory.timeseries(order="fac")
    assert pos.shape[:2] == tuple(key["shape"][:2]), (pos.shape, key["shape"])
    assert abs(float(pos.astype(np.float64).sum()) - key["sum"]) <= 1e-6 * max(1.0, abs(key["sum"])), name
    assert pos[-1][-1].tolist() == key["last_sample_last_particle"], name
    lazy = u.trajectory.lazytimeseries(order="fac").compute()
    np.testing.assert_array_equal(lazy, pos)
cli = os.path.join(venv, "bin", "zarrtraj")
info = json.loads(subprocess.run([cli, "info", os.path.join(data, "zarrtraj/COORDINATES_SYNTHETIC_ZARRMD.zarrmd"),
                                  "--json"], capture_output=True, text=True, check=True).stdout)
assert info["n_atoms"] == 5 and info["n_frames"] == 5, info
print("check-wheel: smoke test passed: zarrtraj", zarrtraj.__version__, "numpy", np.__version__,
      "MDAnalysis", mda.__version__, file=sys.stderr)
PY
