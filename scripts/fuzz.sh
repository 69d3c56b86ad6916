#!/bin/sh
# Fuzz every target of tests/fuzz with libFuzzer (clang-14, ASan+UBSan) for a
# bounded time, starting from the committed corpus plus seeds generated from
# the shared data (scripts/fuzz-seeds.py). Each target runs in libFuzzer's
# fork mode, so a crash does not end its time slot; afterwards every
# crashing, leaking, hanging (-timeout) or out-of-memory input is rerun and
# classified (scripts/fuzz-triage.py): one that matches tests/fuzz/known.txt
# (a bug tracked elsewhere) is reported as known, any other fails the run.
# Inputs are kept in BUILD/fuzz/crashes/<target>/ with the command to
# reproduce them.
#
# Usage: scripts/fuzz.sh [--time S] [--jobs N] [--build DIR] [--targets "a b"]
#                        [--merge]
#   --time S       total wall time for all targets (default 300; each target
#                  gets S * jobs / targets seconds, at least 10)
#   --jobs N       targets fuzzed at once (default: cores, at most 2)
#   --merge        seed from our own inputs only (no shared data), then
#                  rebuild tests/fuzz/corpus/<target> as the minimised union
#                  of it and what the run found, inputs up to a size cap
#                  (regress-* files, the reproducers of fixed bugs, stay)
# Writes BUILD/fuzz/stats.tsv (target, executions, corpus files, corpus bytes,
# seconds, new crashes, known crashes, exit), read by scripts/reliability.sh.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TOTAL=300
JOBS=$(nproc 2>/dev/null || echo 2)
[ "$JOBS" -gt 2 ] && JOBS=2
BUILD=build-fuzz
TARGETS=""
MERGE=0
while [ $# -gt 0 ]; do
    case $1 in
    --time) TOTAL=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --targets) TARGETS=$2; shift 2 ;;
    --merge) MERGE=1; shift ;;
    *) sed -n '2,22p' "$0"; exit 2 ;;
    esac
done
CC=${CC:-clang-14}
command -v "$CC" >/dev/null 2>&1 || { echo "fuzz.sh: $CC not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }
PY=${ZT_PYTHON:-python3}
DATA=${ZT_DATA_DIR:-$ROOT/../shared/data}

echo "== fuzz build ($BUILD)"
CC=$CC cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZT_FUZZ=ON >/dev/null
cmake --build "$BUILD" -j"$JOBS" >/dev/null
FZ=$BUILD/tests/fuzz
W=$BUILD/fuzz
[ -n "$TARGETS" ] || TARGETS=$(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//' | while read -r t; do [ -x "$ROOT/$FZ/$t" ] && echo "$t"; done)
NT=$(echo $TARGETS | wc -w)
PER=$((TOTAL * JOBS / NT))
[ "$PER" -lt 10 ] && PER=10

echo "== seeds"
rm -rf "$W/seeds"
mkdir -p "$W"
shared="--data $DATA"
[ "$MERGE" = 1 ] && shared="--no-shared"
"$PY" scripts/fuzz-seeds.py "$W/seeds" --cli "$BUILD/zarrtraj" $shared \
    --regress-hdf5 "$FZ/regress_fuzz_hdf5" >"$W/seeds.log" 2>&1 || { cat "$W/seeds.log"; exit 1; }

# Per-target limits: the HDF5 and reference inputs are whole (small) files.
max_len() {
    case $1 in
    fuzz_hdf5|fuzz_h5index|fuzz_kerchunk) echo 200000 ;;
    fuzz_zarr_tree|fuzz_zarray|fuzz_codec|fuzz_pipeline) echo 65536 ;;
    *) echo 8192 ;;
    esac
}

run_one() {
    t=$1
    c=$W/corpus/$t
    rm -rf "$c" "$W/crashes/$t" "$W/logs/$t.triage" # no stale triage of an earlier run
    mkdir -p "$c" "$W/crashes/$t" "$W/logs"
    [ -d "tests/fuzz/corpus/$t" ] && cp tests/fuzz/corpus/$t/* "$c/" 2>/dev/null || true
    [ -d "$W/seeds/$t" ] && cp "$W/seeds/$t"/* "$c/" 2>/dev/null || true
    dict=""
    [ -f "tests/fuzz/dict/$t.dict" ] && dict="-dict=tests/fuzz/dict/$t.dict"
    start=$(date +%s)
    set +e
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:abort_on_error=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        nice "$FZ/$t" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 $dict \
        -max_total_time="$PER" -timeout=20 -rss_limit_mb=2560 -max_len="$(max_len "$t")" \
        -print_final_stats=1 -artifact_prefix="$W/crashes/$t/" "$c" >"$W/logs/$t.log" 2>&1
    rc=$?
    set -e
    secs=$(($(date +%s) - start))
    execs=$(grep -o '^#[0-9]*' "$W/logs/$t.log" | tail -1 | tr -d '#')
    nfiles=$(ls "$c" | wc -l)
    nbytes=$(du -sb "$c" | cut -f1)
    nnew=0
    nknown=0
    if [ -n "$(ls "$W/crashes/$t")" ]; then
        "$PY" scripts/fuzz-triage.py "$FZ/$t" tests/fuzz/known.txt "$W/crashes/$t"/* >"$W/logs/$t.triage" || true
        nnew=$(grep -c '^new' "$W/logs/$t.triage" || true)
        nknown=$(grep -c '^known' "$W/logs/$t.triage" || true)
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "${execs:-0}" "$nfiles" "$nbytes" "$secs" "$nnew" "$nknown" "$rc" \
        >"$W/stats-$t.tsv"
    if [ "$rc" -ne 0 ] && [ "$nnew" -eq 0 ] && [ "$nknown" -eq 0 ]; then
        echo "FAIL $t: libFuzzer exited $rc without a crashing input (log $W/logs/$t.log)"
    elif [ "$nnew" -ne 0 ]; then
        echo "FAIL $t: $nnew new crashing input(s) (log $W/logs/$t.log)"
        grep '^new' "$W/logs/$t.triage" | while IFS="$(printf '\t')" read -r _ f why; do
            echo "  $why"
            echo "    reproduce: $FZ/$t $f"
        done
    else
        echo "ok   $t: ${execs:-0} executions in ${secs}s, corpus $nfiles files$([ "$nknown" -ne 0 ] && echo ", $nknown known crash(es): see $W/logs/$t.triage")"
    fi
    if grep -q '^unrepro' "$W/logs/$t.triage" 2>/dev/null; then
        echo "  note: $(grep -c '^unrepro' "$W/logs/$t.triage") input(s) left by fork mode do not crash when rerun"
    fi
}

echo "== fuzzing $NT targets, ${PER}s each, $JOBS at a time"
rm -f "$W"/stats-*.tsv
export W FZ PER PY
for t in $TARGETS; do echo "$t"; done | (
    # a small job pool in POSIX sh
    n=0
    while read -r t; do
        run_one "$t" &
        n=$((n + 1))
        if [ "$n" -ge "$JOBS" ]; then wait; n=0; fi
    done
    wait
)
printf 'target\texecutions\tcorpus_files\tcorpus_bytes\tseconds\tnew_crashes\tknown_crashes\texit\n' >"$W/stats.tsv"
cat "$W"/stats-*.tsv >>"$W/stats.tsv"
# a target fails on a new crash, or when libFuzzer failed without leaving one
fails=$(awk -F'\t' 'NR > 1 && ($6 != 0 || ($8 != 0 && $7 == 0))' "$W/stats.tsv" | wc -l)

# Size cap of committed corpus files: small inputs only.
corpus_cap() {
    case $1 in
    fuzz_hdf5|fuzz_h5index|fuzz_kerchunk) echo 24576 ;;
    *) echo 16384 ;;
    esac
}
if [ "$MERGE" = 1 ]; then
    echo "== merging into tests/fuzz/corpus"
    for t in $TARGETS; do
        d=tests/fuzz/corpus/$t
        m=$W/merge/$t
        small=$W/merge-in/$t
        rm -rf "$m" "$small"
        mkdir -p "$d" "$m" "$small"
        find "$d" "$W/corpus/$t" -maxdepth 1 -type f ! -name 'regress-*' -size -"$(corpus_cap "$t")"c \
            -exec cp {} "$small/" \;
        "$FZ/$t" -merge=1 -rss_limit_mb=2560 -timeout=20 -max_len="$(max_len "$t")" "$m" "$small" \
            >"$W/logs/$t.merge" 2>&1 || true
        find "$d" -maxdepth 1 -type f ! -name 'regress-*' -delete
        cp "$m"/* "$d/" 2>/dev/null || true
        echo "  $t: $(ls "$d" | wc -l) files, $(du -sb "$d" | cut -f1) bytes"
    done
fi
if [ "$fails" -ne 0 ]; then
    echo "fuzz.sh: $fails target(s) failed"
    exit 1
fi
echo "fuzz.sh: all $NT targets passed"
