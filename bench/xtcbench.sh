#!/bin/sh
# XTC conversion speed: `zarrtraj convert X.xtc out.zarrmd` (C reader, frames
# decoded on the thread pool) against MDAnalysis merely reading the XTC
# (positions of every frame), best of N runs, in frames/s.
#   sh bench/xtcbench.sh BUILD [XTC] [N]
# Default XTC: the 57,801-atom water box of the shared data (200 frames).
set -eu
BUILD=${1:?usage: xtcbench.sh BUILD [XTC] [N]}
XTC=${2:-$(dirname "$0")/../../shared/data/real/water57k_200f.xtc}
N=${3:-3}
PY=${ZT_BENCH_PYTHON:-$HOME/.cache/zarrtraj/venvs/newest/bin/python}
CLI=$BUILD/zarrtraj
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export XDG_CACHE_HOME=$TMP/cache
NF=$("$PY" -c "from MDAnalysis.coordinates.XTC import XTCReader as R; import sys; print(R(sys.argv[1]).n_frames)" "$XTC")
best() { # command... -> best wall time in seconds
    b=
    i=0
    while [ $i -lt "$N" ]; do
        rm -rf "$TMP/out.zarrmd" "$TMP/cache"
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        t1=$(date +%s.%N)
        t=$(echo "$t1 - $t0" | bc -l)
        if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
        i=$((i + 1))
    done
    echo "$b"
}
report() { printf '%-58s %7.2f s  %8.1f frames/s\n' "$1" "$2" "$(echo "$NF / $2" | bc -l)"; }
echo "$XTC: $NF frames; best of $N; $(nproc) cores"
report "zarrtraj convert X.xtc out.zarrmd (blosc lz4)" "$(best "$CLI" convert "$XTC" "$TMP/out.zarrmd")"
report "zarrtraj convert X.xtc out.zarrmd --compressor zstd:level=3" \
    "$(best "$CLI" convert "$XTC" "$TMP/out.zarrmd" --compressor zstd:level=3)"
report "zarrtraj cat X.xtc --format npy -o /dev/null (decode only)" "$(best "$CLI" cat "$XTC" --format npy -o /dev/null)"
report "MDAnalysis XTCReader: iterate, copy positions" \
    "$(best "$PY" -c "
import sys
from MDAnalysis.coordinates.XTC import XTCReader
r = XTCReader(sys.argv[1])
for ts in r: ts.positions.copy()" "$XTC")"
