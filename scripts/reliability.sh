#!/bin/sh
# Measure the reliability promises and rewrite the table of
# docs/reliability.md: fuzzing (scripts/fuzz.sh), the fault soak
# (scripts/soak.sh), crash safety (scripts/crash.sh), LeakSanitizer over the
# C suite (gcc ASan build) and, when the script exists, ThreadSanitizer
# (scripts/tsan.sh).
#
# Usage: scripts/reliability.sh [--long] [--skip "fuzz soak crash lsan tsan"]
#                               [--report-only]
#   --long         the long soak, 200 kills per crash case, 30 min of fuzzing
#   --skip LIST    stages not to run (their last results are still reported)
#   --report-only  only rewrite the table from the last results
# Needs: clang-14 (fuzz), nginx + node (soak), $ZT_PYTHON with numpy, zarr,
# h5py (crash); $ZT_PYTHON_OLDEST for the sanitizer builds' numcodecs check
# (scripts/pyenv.sh path oldest). Servers for the LSan pass: $ZT_EMULATOR_ENV, else started here.
# Exit 1 when any stage failed (the table is written either way).
set -u
cd "$(dirname "$0")/.."
LONG=0
SKIP=""
while [ $# -gt 0 ]; do
    case $1 in
    --long) LONG=1; shift ;;
    --skip) SKIP=$2; shift 2 ;;
    --report-only) SKIP="fuzz soak crash lsan tsan"; shift ;;
    *) sed -n '2,17p' "$0"; exit 2 ;;
    esac
done
BUILD=${BUILD:-build}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
ASAN_BUILD=${ASAN_BUILD:-build-asan}
skip() { case " $SKIP " in *" $1 "*) return 0 ;; esac; return 1; }
status=0

if ! skip fuzz; then
    echo "== reliability: fuzz"
    t=300
    [ $LONG = 1 ] && t=1800
    scripts/fuzz.sh --time "$t" --build "$FUZZ_BUILD" || status=1
fi
if ! skip soak; then
    echo "== reliability: soak"
    if [ $LONG = 1 ]; then scripts/soak.sh --long --build "$BUILD" || status=1
    else scripts/soak.sh --build "$BUILD" || status=1; fi
fi
if ! skip crash; then
    echo "== reliability: crash safety"
    k=50
    [ $LONG = 1 ] && k=200
    scripts/crash.sh --kills "$k" --build "$BUILD" || status=1
fi
if ! skip lsan; then
    echo "== reliability: LeakSanitizer over the C suite ($ASAN_BUILD)"
    # the numcodecs cross-check compares bytes with the oldest stack (as check.sh)
    cmake -S . -B "$ASAN_BUILD" -DCMAKE_BUILD_TYPE=Debug -DZT_SANITIZE=ON ${ZT_PYTHON:+-DZT_PYTHON=$ZT_PYTHON} \
        ${ZT_PYTHON_OLDEST:+-DZT_PYTHON_OLDEST=$ZT_PYTHON_OLDEST} >/dev/null &&
        cmake --build "$ASAN_BUILD" -j2 >/dev/null || status=1
    own=""
    if [ -z "${ZT_EMULATOR_ENV:-}" ]; then
        own=$(pwd)/$ASAN_BUILD/emu
        ZT_EMULATOR_ENV=$(ZT_EMU_DIR="$own" scripts/emulators/run.sh start --ttl 3600)
        export ZT_EMULATOR_ENV
    fi
    filter="slow|pyext|py"
    (cd "$ASAN_BUILD" && ZT_REQUIRE_EMULATORS=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest -j2 -LE "$filter" >ctest-lsan.log 2>&1) || true
    [ -n "$own" ] && ZT_EMU_DIR="$own" scripts/emulators/run.sh stop >/dev/null 2>&1
    python3 - "$ASAN_BUILD" "$filter" <<'EOF' || status=1
import json, re, sys
d, filt = sys.argv[1], sys.argv[2]
log = open(d + "/ctest-lsan.log").read()
full = open(d + "/Testing/Temporary/LastTest.log", errors="replace").read()
m = re.search(r"tests passed, (\d+) tests failed out of (\d+)", log)
failed = re.findall(r"^\s*\d+ - (\S+) \(", log, re.M)
canary = "lsan/lsan_canary" not in failed and "lsan_canary" in log
# leak reports per test; the canary's own (it leaks on purpose) does not count
parts = re.split(r"^\d+/\d+ Testing: (\S+)$", full, flags=re.M)
leaks = sum(body.count("ERROR: LeakSanitizer") for name, body in zip(parts[1::2], parts[2::2])
            if name != "lsan/lsan_canary")
r = {"filter": filt, "tests": int(m.group(2)) if m else 0, "failed": failed,
     "leak_reports": leaks, "canary_detected": canary}
json.dump(r, open(d + "/lsan.json", "w"), indent=1)
print("lsan: %d tests, %d failed %s, %d leak reports, canary %s" % (r["tests"], len(failed), failed, r["leak_reports"],
      "detected" if canary else "NOT detected"))
sys.exit(1 if failed or r["leak_reports"] or not canary else 0)
EOF
fi
if ! skip tsan && [ -x scripts/tsan.sh ]; then
    echo "== reliability: ThreadSanitizer (scripts/tsan.sh)"
    TSAN_CMAKE_FLAGS="${TSAN_CMAKE_FLAGS:-${ZT_PYTHON:+-DZT_PYTHON=$ZT_PYTHON} ${ZT_PYTHON_OLDEST:+-DZT_PYTHON_OLDEST=$ZT_PYTHON_OLDEST}}" \
        scripts/tsan.sh >"$BUILD/tsan.log" 2>&1
    rc=$?
    [ $rc -ne 0 ] && status=1
    n=$(grep -c "WARNING: ThreadSanitizer" "$BUILD/tsan.log" || true)
    printf '{"exit": %d, "reports": %d, "note": "log %s"}\n' "$rc" "$n" "$BUILD/tsan.log" >"$BUILD/tsan.json"
fi
python3 tests/soak/reliability_report.py --doc docs/reliability.md --build "$BUILD" --fuzz "$FUZZ_BUILD" \
    --asan "$ASAN_BUILD" --root . || status=1
exit $status
