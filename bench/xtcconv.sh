#!/bin/sh
# Issue 15's targets: `zarrtraj convert X.xtc out.zarrmd --preset compact`
# against (a) MDAnalysis merely reading the XTC, (b) MDAnalysis + upstream
# Zarrtraj's writer producing Zarrtraj's recipe (precision 3, Blosc zstd 5
# byte shuffle; the upstream venv), and (c) the same convert straight into the
# S3 emulator behind bench/latproxy (25 ms one way). Wall times, median of N
# runs, for the 200-frame water box and a 1,000-frame one (the same frames
# five times, steps and times continued).
#   sh bench/xtcconv.sh BUILD [N]
set -eu
BUILD=$(cd "${1:?usage: xtcconv.sh BUILD [N]}" && pwd)
N=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${ZT_DATA_DIR:-$ROOT/../shared/data}
XTC=$DATA/real/water57k_200f.xtc
GRO=$DATA/real/water57k.gro
V=$HOME/.cache/zarrtraj/venvs
PY=${ZT_BENCH_PYTHON:-$V/newest/bin/python}
UPY=${ZT_BENCH_UPSTREAM:-$V/upstream/bin/python}
CLI=$BUILD/zarrtraj
LAT=${ZT_BENCH_LATENCY:-25}
TMP=$(mktemp -d)
export ZT_EMU_DIR=$TMP/emu
EMU=$ROOT/scripts/emulators/run.sh
PROXYPID=""
cleanup() {
    [ -z "$PROXYPID" ] || kill "$PROXYPID" 2>/dev/null || true
    sh "$EMU" stop >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# the 1,000-frame XTC: five copies of the frames, each frame's step and time
# shifted past the previous copy's (header fields at bytes 8 and 12)
"$PY" - "$XTC" "$TMP/water1000.xtc" <<'EOF'
import struct, sys
raw = open(sys.argv[1], "rb").read()
frames, off = [], 0
while off < len(raw):
    natoms = struct.unpack(">i", raw[off + 4:off + 8])[0]
    n = 92 + (struct.unpack(">i", raw[off + 88:off + 92])[0] + 3) // 4 * 4 if natoms > 9 else 56 + 12 * natoms
    frames.append(raw[off:off + n]); off += n
s0, t0 = struct.unpack(">if", frames[0][8:16])
s1, t1 = struct.unpack(">if", frames[-1][8:16])
ds, dt = s1 - s0 + (s1 - s0) // max(len(frames) - 1, 1), t1 - t0 + (t1 - t0) / max(len(frames) - 1, 1)
with open(sys.argv[2], "wb") as f:
    for k in range(5):
        for fr in frames:
            s, t = struct.unpack(">if", fr[8:16])
            f.write(fr[:8] + struct.pack(">if", s + k * ds, t + k * dt) + fr[16:])
EOF

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
timed() { # command... -> wall seconds (stdout/stderr dropped)
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}
runs() { # name command... -> median of N
    i=0
    while [ $i -lt "$N" ]; do
        rm -rf "$TMP/out.zarrmd" "$TMP/up.zarrmd" "$TMP/cache"
        timed "$@"
        i=$((i + 1))
    done | median
}

ENVF=$(sh "$EMU" start s3)
. "$ENVF"
export XDG_CACHE_HOME=$TMP/cache # the XTC frame-index cache, cleared before every run (after the emulator started)
s3_port=${ZT_S3_ENDPOINT##*:}
"$BUILD/bench/latproxy" --upstream "127.0.0.1:$s3_port" --port-file "$TMP/proxy.port" --latency-ms "$LAT" \
    --lifetime 3600 --log "$TMP/proxy.log" </dev/null >/dev/null 2>&1 &
PROXYPID=$!
while [ ! -s "$TMP/proxy.port" ]; do sleep 0.1; done
S3OPTS="-S endpoint_url=http://127.0.0.1:$(cat "$TMP/proxy.port") -S key=$ZT_S3_KEY -S secret=$ZT_S3_SECRET"

UPSTREAM_WRITE='
import sys, warnings
warnings.simplefilter("ignore")
import numcodecs, MDAnalysis as mda, zarrtraj
gro, xtc, out = sys.argv[1:4]
u = mda.Universe(gro, xtc)
with mda.Writer(out, n_atoms=u.atoms.n_atoms, n_frames=u.trajectory.n_frames, precision=3,
                compressor=numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)) as w:
    assert type(w).__module__ == "zarrtraj.ZARR", type(w)
    for ts in u.trajectory:
        w.write(u.atoms)
'
MDA_READ='
import sys
from MDAnalysis.coordinates.XTC import XTCReader
r = XTCReader(sys.argv[1])
for ts in r: ts.positions.copy()
'
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; median of $N; S3 emulator + latproxy ${LAT} ms"
printf '%-12s %9s %9s %9s %9s %9s %8s %8s %8s\n' file frames ours_s mda_read_s upstream_s ours_s3_s x_read x_upstr s3/local
for X in "$XTC" "$TMP/water1000.xtc"; do
    nf=$("$PY" -c "from MDAnalysis.coordinates.XTC import XTCReader as R; import sys; print(R(sys.argv[1]).n_frames)" "$X")
    ours=$(runs "$CLI" convert "$X" "$TMP/out.zarrmd" --preset compact)
    mda=$(runs "$PY" -c "$MDA_READ" "$X")
    up=$(N=1 runs env -u PYTHONPATH "$UPY" -c "$UPSTREAM_WRITE" "$GRO" "$X" "$TMP/up.zarrmd")
    s3=$(i=0; while [ $i -lt "$N" ]; do
        # shellcheck disable=SC2086
        timed "$CLI" convert "$X" "s3://$ZT_S3_BUCKET/xtcconv/$(basename "$X")-$$-$i.zarrmd" --preset compact $S3OPTS
        i=$((i + 1))
    done | median)
    printf '%-12s %9d %9.2f %9.2f %9.2f %9.2f %8.2f %8.2f %8.2f\n' "$(basename "$X" .xtc)" "$nf" "$ours" "$mda" "$up" "$s3" \
        "$(echo "$mda / $ours" | bc -l)" "$(echo "$up / $ours" | bc -l)" "$(echo "$ours / $s3" | bc -l)"
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
