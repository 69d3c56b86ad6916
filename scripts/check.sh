#!/bin/sh
# Runs every test, from a bare Debian 12 machine (as root; otherwise the first
# step prints the apt-get command to run):
#   1. Debian packages (scripts/install-deps.sh all)
#   2. Python venvs from PyPI (scripts/pyenv.sh): the newest stack (the tests'
#      reference), the oldest supported one with this checkout pip-installed,
#      and upstream Zarrtraj's
#   3. the local S3 (s3rver, moto), Azure, GCS and HTTPS servers
#   4. packaging: sdist + wheel, installed into a clean venv and smoke-tested
#   5. release build with warnings as errors, every C and Python test (ctest)
#   6. the C suite again under AddressSanitizer + UndefinedBehaviorSanitizer
#   7. the C suite under ThreadSanitizer (scripts/tsan.sh)
#   8. every libFuzzer target for a bounded time (scripts/fuzz.sh; $ZT_FUZZ_TIME
#      seconds in all, default 300, 0 skips)
# Servers are stopped at the end, also on failure.
set -eu
cd "$(dirname "$0")/.."
JOBS=$(nproc)
BUILD=${BUILD:-build}
ASAN_BUILD=${ASAN_BUILD:-build-asan}
T0=$(date +%s)
phase() { echo "== $* ($(( $(date +%s) - T0 )) s)"; }

phase "Debian packages"
sh scripts/install-deps.sh all

phase "Python environments"
NEWEST=$(sh scripts/pyenv.sh newest)
UPSTREAM=$(sh scripts/pyenv.sh upstream)
OLDEST=$(sh scripts/pyenv.sh oldest --project)

phase "test servers"
ZT_MOTO_SERVER=$(dirname "$NEWEST")/moto_server
export ZT_MOTO_SERVER
sh scripts/emulators/run.sh install
sh scripts/emulators/run.sh start
trap 'sh scripts/emulators/run.sh stop' EXIT INT TERM
ZT_EMULATOR_ENV=$(sh scripts/emulators/run.sh envfile)
# servers and venvs were set up above: a test that cannot reach one must fail, not skip
ZT_REQUIRE_EMULATORS=1
ZT_REQUIRE_PYENVS=1
export ZT_EMULATOR_ENV ZT_REQUIRE_EMULATORS ZT_REQUIRE_PYENVS

phase "packaging (sdist, wheel, clean venv)"
sh scripts/check-wheel.sh "$NEWEST" "$BUILD/dist"

phase "release build"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZT_WERROR=ON -DZT_WITH_PYTHON=ON \
    -DZT_PYTHON="$NEWEST" -DZT_PYTHON_OLDEST="$OLDEST" -DZT_PYTHON_UPSTREAM="$UPSTREAM"
cmake --build "$BUILD" -j"$JOBS"
phase "tests (release)"
(cd "$BUILD" && ctest --output-on-failure -j"$JOBS")

phase "AddressSanitizer + UndefinedBehaviorSanitizer build"
cmake -S . -B "$ASAN_BUILD" -DCMAKE_BUILD_TYPE=Debug -DZT_SANITIZE=ON -DZT_WERROR=ON -DZT_PYTHON="$NEWEST" \
    -DZT_PYTHON_OLDEST="$OLDEST"
cmake --build "$ASAN_BUILD" -j"$JOBS"
# An ASan runtime cannot be loaded into a Python interpreter built without it,
# and benchmark-sized tests are too slow under ASan: both run in the release pass.
phase "tests (ASan + UBSan)"
(cd "$ASAN_BUILD" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j"$JOBS" -LE "slow|pyext")

phase "ThreadSanitizer"
TSAN_CMAKE_FLAGS="-DZT_PYTHON=$NEWEST -DZT_PYTHON_OLDEST=$OLDEST" sh scripts/tsan.sh

if [ "${ZT_FUZZ_TIME:-300}" -gt 0 ]; then
    phase "fuzzing (${ZT_FUZZ_TIME:-300} s)"
    ZT_PYTHON=$NEWEST sh scripts/fuzz.sh --time "${ZT_FUZZ_TIME:-300}"
fi
phase "all tests passed"
