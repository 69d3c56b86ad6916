#!/bin/sh
# The main job on an embedded default: local files only, no cloud account.
# On a bare Debian 12 (as root) it first installs the compiler, CMake and the
# library's -dev packages (nothing else: no Python, no Node.js), builds the C
# library and the zarrtraj command, then writes a synthetic MD trajectory,
# inspects it, recompresses it, converts it to H5MD and back, and reads values,
# timing each step.
#   sh scripts/demo.sh [BUILD_DIR]    (default build)
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
sh scripts/install-deps.sh demo
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZT_WERROR=ON
cmake --build "$BUILD" -j"$(nproc)" --target zarrtraj_cli
Z="$BUILD/zarrtraj"
OUT="$BUILD/demo"
rm -rf "$OUT"
mkdir -p "$OUT"
step() { printf '\n== %s\n' "$*"; }
t() { /usr/bin/time -f "   (%e s, %M KiB peak)" "$@"; }

step "1. synthetic trajectory: 20,000 atoms x 200 frames (positions, velocities, box, observables)"
t "$Z" synth "$OUT/synth.zarrmd" --atoms 20000 --frames 200
"$Z" info "$OUT/synth.zarrmd"

step "2. recompress: zstd + 3 decimal digits (numcodecs Quantize, as Zarrtraj's precision=3)"
t "$Z" convert "$OUT/synth.zarrmd" "$OUT/synth_zstd_p3.zarrmd" --compressor zstd:level=3 --precision 3
du -sh "$OUT/synth.zarrmd" "$OUT/synth_zstd_p3.zarrmd"

step "3. values: atoms 0-2 of frames 0-1 (lossless vs precision 3), and an observable"
"$Z" cat "$OUT/synth.zarrmd" --frames 0:2 --atoms 0:3
"$Z" cat "$OUT/synth_zstd_p3.zarrmd" --frames 0:2 --atoms 0:3
"$Z" cat "$OUT/synth.zarrmd" --element trajectory/temperature --frames 0:5

step "4. every frame into a NumPy file (timeseries of atoms 0-99)"
t "$Z" cat "$OUT/synth_zstd_p3.zarrmd" --atoms 0:100 --format npy -o "$OUT/atoms0-99.npy"
ls -l "$OUT/atoms0-99.npy"

step "5. zarrmd -> H5MD (HDF5) -> zarrmd"
if "$Z" convert "$OUT/synth_zstd_p3.zarrmd" "$OUT/synth.h5md" 2>"$OUT/h5.err"; then
    "$Z" info "$OUT/synth.h5md" | head -12
    t "$Z" convert "$OUT/synth.h5md" "$OUT/back.zarrmd"
else
    echo "   (skipped: $(cat "$OUT/h5.err"))"
fi
DATA=${ZT_DATA_DIR:-../shared/data}
if [ -d "$DATA/mdanalysis" ]; then
    step "6. a real file written by other software (MDAnalysis test suite, GROMACS cobrotoxin)"
    "$Z" info "$DATA/mdanalysis/cobrotoxin.h5md" 2>&1 | head -12 || true
fi
printf '\nDemo files are in %s\n' "$OUT"
