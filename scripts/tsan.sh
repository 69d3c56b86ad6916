#!/bin/sh
# ThreadSanitizer pass: builds the library and the C tests with clang
# -fsanitize=thread in $TSAN_BUILD (default build-tsan) and runs every C test
# (the threaded ones: chunk cache and fetch engine, read-ahead, thread pool,
# curl engine of the network stores, background writers, fork) with
# halt_on_error=1, so any data race or lock-order inversion fails the run.
# The Python-driven tests are left out (python3 cannot load the TSan runtime).
#
# Test servers: uses $ZT_EMULATOR_ENV when set (scripts/check.sh exports it);
# otherwise starts scripts/emulators/run.sh itself and stops it at the end.
# Extra configure flags: $TSAN_CMAKE_FLAGS (e.g. -DZT_PYTHON=...).
# Takes about 1.5 minutes on 2 cores (build ~35 s, tests ~50 s).
set -eu
cd "$(dirname "$0")/.."
JOBS=$(nproc)
TSAN_BUILD=${TSAN_BUILD:-build-tsan}
CC_TSAN=${CC_TSAN:-$(command -v clang-14 || command -v clang || true)}
[ -n "$CC_TSAN" ] || { echo "tsan.sh: clang not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }

if [ -z "${ZT_EMULATOR_ENV:-}" ] && [ -x scripts/emulators/run.sh ]; then
    scripts/emulators/run.sh install
    scripts/emulators/run.sh start
    trap 'scripts/emulators/run.sh stop' EXIT INT TERM
    ZT_EMULATOR_ENV=$(scripts/emulators/run.sh envfile)
    ZT_REQUIRE_EMULATORS=1
    export ZT_EMULATOR_ENV ZT_REQUIRE_EMULATORS
fi

echo "== ThreadSanitizer build ($CC_TSAN)"
CC=$CC_TSAN cmake -S . -B "$TSAN_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZT_SANITIZE=thread -DZT_WERROR=ON \
    ${TSAN_CMAKE_FLAGS:-}
cmake --build "$TSAN_BUILD" -j"$JOBS"
# die_after_fork=0: test_fork and the killed-writer tests fork a threaded
# process on purpose (the children are checked like the parent).
(cd "$TSAN_BUILD" && TSAN_OPTIONS="halt_on_error=1 die_after_fork=0 second_deadlock_stack=1 history_size=4" \
    ctest --output-on-failure -j"$JOBS" -LE "py|pyext|slow")
echo "== ThreadSanitizer: no reports"
