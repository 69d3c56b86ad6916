#!/bin/sh
# Crash safety of the writers (tests/soak/crashsafe.py): SIGKILL
# `zarrtraj convert` and `zarrtraj synth` at random (seeded) moments, writing
# zarrmd locally and to the S3 emulator and H5MD locally, and check that every
# frame committed before the kill reads back with its step, time and values
# through zarrtraj, zarr-python (consolidated and per-array) and h5py.
#
# Usage: scripts/crash.sh [--kills N] [--seed S] [--cases a,b] [--build DIR] [--long]
#   --kills N   kills per case (default 50; --long: 200)
#   --long      more kills per case
# Python with numpy, zarr and h5py: $ZT_PYTHON (default python3). Servers: the
# ones named by $ZT_EMULATOR_ENV, else our own S3 emulator (own state dir,
# stopped at the end). Writes BUILD/crash/result.json; exit 1 on any lost or
# wrong frame.
set -eu
cd "$(dirname "$0")/.."
KILLS=50
SEED=${ZT_SEED:-1}
CASES=""
BUILD=build
while [ $# -gt 0 ]; do
    case $1 in
    --kills) KILLS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --cases) CASES=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --long) KILLS=200; shift ;;
    *) sed -n '2,15p' "$0"; exit 2 ;;
    esac
done
PY=${ZT_PYTHON:-python3}
"$PY" -c "import numpy, zarr, h5py" 2>/dev/null || { echo "crash.sh: $PY lacks numpy/zarr/h5py (set ZT_PYTHON)" >&2; exit 1; }
[ -x "$BUILD/zarrtraj" ] || { cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null && cmake --build "$BUILD" -j2 >/dev/null; }
OUT=$BUILD/crash
rm -rf "$OUT/work"
mkdir -p "$OUT"

ENVF=${ZT_EMULATOR_ENV:-}
OWN=""
if [ -z "$ENVF" ] || [ ! -f "$ENVF" ]; then
    OWN=$(pwd)/$BUILD/crash/emu
    export ZT_EMU_DIR="$OWN"
    trap 'ZT_EMU_DIR="$OWN" scripts/emulators/run.sh stop >/dev/null 2>&1 || true' EXIT INT TERM
    ENVF=$(scripts/emulators/run.sh start --ttl 3600 s3)
fi
set -- --cli "$BUILD/zarrtraj" --work "$OUT/work" --kills "$KILLS" --seed "$SEED" --s3-env "$ENVF" --json "$OUT/result.json"
[ -n "$CASES" ] && set -- "$@" --cases "$CASES"
echo "== crash safety: $KILLS kills per case (seed $SEED)"
nice "$PY" tests/soak/crashsafe.py "$@"
