#!/bin/sh
# The fault soak (tests/soak/soak.py), bounded in time, loopback only:
# trajectories of at least 1 GB read frame by frame from the S3 emulator and
# from nginx over HTTPS through fault proxies that inject, at random with a
# seed, 5% 503s, 2% mid-body resets, 1% stalls and 1% wrong Content-Ranges;
# every frame is compared with the local copy's checksums. Then `zarrtraj
# convert` and `zarrtraj cp` through the same proxy (uploads read back and
# compared, the download compared byte for byte), and a memory soak (random
# frames from the S3 emulator, resident set size sampled).
#
# Usage: scripts/soak.sh [--long] [--seed S] [--build DIR]
#   default (CI): ~1 GB per trajectory, one pass, 10,000 random frames
#   --long: 3 GB trajectories, 3 passes, 50,000 random frames
# Starts its own S3 emulator and nginx (state in BUILD/soak/emu, stopped and
# removed at the end). The generated trajectories stay in BUILD/soak/work/data
# for the next run. Writes BUILD/soak/result.json; exit 1 on any wrong byte,
# failed read or upload, or growing memory.
set -eu
cd "$(dirname "$0")/.."
MODE=ci
SEED=${ZT_SEED:-1}
BUILD=build
while [ $# -gt 0 ]; do
    case $1 in
    --long) MODE=long; shift ;;
    --seed) SEED=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    *) sed -n '2,19p' "$0"; exit 2 ;;
    esac
done
command -v nginx >/dev/null 2>&1 || { echo "soak.sh: nginx not found (apt-get install nginx)" >&2; exit 1; }
echo "== soak build ($BUILD)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j2 --target zarrtraj_cli soak_read >/dev/null
OUT=$(pwd)/$BUILD/soak
mkdir -p "$OUT/work"
EMU=$OUT/emu
cleanup() {
    ZT_EMU_DIR="$EMU" scripts/emulators/run.sh stop >/dev/null 2>&1 || true
    rm -rf "$EMU/s3data" "$EMU/www"
}
trap cleanup EXIT INT TERM
ENVF=$(ZT_EMU_DIR="$EMU" scripts/emulators/run.sh start --ttl 7200 s3 https)
echo "== soak ($MODE, seed $SEED)"
nice python3 tests/soak/soak.py --build "$BUILD" --work "$OUT/work" --env "$ENVF" --mode "$MODE" \
    --seed "$SEED" --json "$OUT/result.json"
