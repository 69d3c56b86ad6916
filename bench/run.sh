#!/bin/sh
# zarrtraj benchmark suite (see bench/README.md).
#
#   bench/run.sh BUILD [--quick] [--only SECTIONS] [--repeat N] [--out DIR]
#
# BUILD is a CMake build directory of this checkout configured with
# -DZT_PYTHON=<the newest venv's python> (zarrtraj, bench/bench_iter,
# bench/bench_ros3, bench/latproxy and the Python extension are built there when
# missing). Python: the newest venv (sh scripts/pyenv.sh newest; ZT_BENCH_PYTHON
# overrides) runs everything, with zarrtraj from BUILD/python; upstream Zarrtraj
# runs in its own venv (sh scripts/pyenv.sh upstream; ZT_BENCH_PYTHON_UPSTREAM).
# Data go to $ZT_BENCH_DATA
# (default BUILD/bench-data, BUILD/bench-data-quick with --quick) and are reused
# when they exist with the same parameters. The script starts its own S3
# emulator and nginx (scripts/emulators/run.sh with a private ZT_EMU_DIR) and
# one latency proxy (bench/latproxy; ZT_BENCH_PROXY=python: tests/store/faultproxy.py)
# per setting, runs
# bench/suite.py, writes results.json, RESULTS.md and results.png to --out
# (default: bench/ for a full run, BUILD/bench-quick/ with --quick) and stops
# everything it started, also on failure or interrupt.
# SECTIONS: comma-separated subset of disk,local,write,s3,s3lat,http,httprate,mda,install.
set -eu

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
case $1 in -h|--help) usage ;; esac
BUILD=$(cd "$1" 2>/dev/null && pwd) || { echo "bench/run.sh: no build directory $1" >&2; exit 2; }
shift
QUICK=""; ONLY=""; REPEAT=3; OUT=""
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=--quick ;;
    --only) ONLY=$2; shift ;;
    --repeat) REPEAT=$2; shift ;;
    --out) OUT=$2; shift ;;
    *) usage ;;
    esac
    shift
done

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
EMU=$ROOT/scripts/emulators/run.sh
# Latency proxy: bench/latproxy (C delay line, built into BUILD/bench) unless ZT_BENCH_PROXY=python selects
# tests/store/faultproxy.py (store-and-forward; it saturates a core at a few hundred MB/s).
PROXY_KIND=${ZT_BENCH_PROXY:-c}
LATENCIES="0 10 25"
S3_LATENCY=20
# A proxy like one stream of an object store: 25 ms one way and each connection limited to RATE MB/s
# (many connections together are not); C proxy only.
RATE_LATENCY=25
RATE_MBPS=100
LIFETIME=5400 # proxies and servers stop by themselves after this (seconds)
if [ -n "$QUICK" ]; then
    DATA=${ZT_BENCH_DATA:-$BUILD/bench-data-quick}
    OUT=${OUT:-$BUILD/bench-quick}
else
    DATA=${ZT_BENCH_DATA:-$BUILD/bench-data}
    OUT=${OUT:-$HERE}
fi
mkdir -p "$DATA" "$OUT"
DATA=$(cd "$DATA" && pwd)
OUT=$(cd "$OUT" && pwd)
WORK=$DATA/.run
mkdir -p "$WORK"
export ZT_EMU_DIR=${ZT_BENCH_EMU_DIR:-${TMPDIR:-/tmp}/zarrtraj-bench-emu-$(id -u)}

log() { echo "bench: $*" >&2; }

# ---- prerequisites
want() { [ -z "$ONLY" ] || case ",$ONLY," in *",$1,"*) true ;; *) false ;; esac; }
PY=${ZT_BENCH_PYTHON:-$(sh "$ROOT/scripts/pyenv.sh" path newest 2>/dev/null || true)}
UPY=""
if want mda; then
    UPY=${ZT_BENCH_PYTHON_UPSTREAM:-$(sh "$ROOT/scripts/pyenv.sh" path upstream 2>/dev/null || true)}
fi
missing=""
if [ -z "$PY" ] || [ ! -x "$PY" ]; then
    missing="$missing newest-venv"
else
    for m in numpy zarr numcodecs h5py MDAnalysis fsspec aiohttp matplotlib build; do
        $PY -c "import $m" >/dev/null 2>&1 || missing="$missing $m"
    done
fi
if want mda && { [ -z "$UPY" ] || ! env -u PYTHONPATH "$UPY" -c "import zarrtraj, zarr, numcodecs" >/dev/null 2>&1; }; then
    missing="$missing upstream-venv"
fi
for c in h5repack curl nginx node; do command -v $c >/dev/null 2>&1 || missing="$missing $c"; done
[ -x /usr/bin/time ] || missing="$missing /usr/bin/time"
if [ -n "$missing" ]; then
    log "missing:$missing"
    log "install: sh scripts/install-deps.sh all   (hdf5-tools, curl, nginx-light, time, nodejs/npm, python3-venv, ...)"
    log "         sh scripts/pyenv.sh newest       (the Python stack from PyPI: python/requirements/newest.txt)"
    want mda && log "         sh scripts/pyenv.sh upstream     (upstream Zarrtraj 0.3.3 for the mda section)"
    exit 1
fi
if [ ! -x "$BUILD/zarrtraj" ] || [ ! -x "$BUILD/bench/bench_iter" ] || [ ! -x "$BUILD/bench/bench_ros3" ] ||
    { [ "$PROXY_KIND" = c ] && [ ! -x "$BUILD/bench/latproxy" ]; } ||
    { want mda && ! PYTHONPATH=$BUILD/python $PY -c "import zarrtraj._core" >/dev/null 2>&1; }; then
    log "building zarrtraj, the bench drivers and the Python extension in $BUILD"
    targets="zarrtraj_cli bench_iter bench_ros3 latproxy"
    want mda && targets="$targets zarrtraj_pyext"
    # shellcheck disable=SC2086
    nice cmake --build "$BUILD" -j2 --target $targets >&2
fi
# zarrtraj's Python package for the mda section: the build tree's extension (BUILD/python), which must be
# built for the interpreter that runs the suite.
if want mda && ! PYTHONPATH=$BUILD/python $PY -c "import zarrtraj._core" >/dev/null 2>&1; then
    log "BUILD/python/zarrtraj cannot be imported by $PY: configure the build for it:"
    log "  cmake -S $ROOT -B $BUILD -DZT_PYTHON=$PY && cmake --build $BUILD -j2"
    exit 1
fi
if [ "$PROXY_KIND" = python ]; then
    PROXY="$PY $ROOT/tests/store/faultproxy.py"
else
    PROXY=$BUILD/bench/latproxy
fi

# ---- cleanup of everything started below (also on failure / interrupt)
PIDS=""
EMU_STARTED=""
cleanup() {
    rc=$?
    trap - EXIT INT TERM HUP
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill -9 "$p" 2>/dev/null || true
    done
    if [ -n "$EMU_STARTED" ]; then
        rm -f "$ZT_EMU_DIR/www/bench-data"
        "$EMU" stop >/dev/null 2>&1 || true
    fi
    [ $rc -eq 0 ] || log "failed (exit $rc); servers and proxies stopped"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

T0=$(date +%s)
# ---- data
log "data in $DATA"
timeout 1800 $PY "$HERE/gendata.py" "$DATA" --cli "$BUILD/zarrtraj" $QUICK ${UPY:+--upstream-python "$UPY"}

# ---- servers: S3 emulator + nginx (own state dir), the proxies
log "starting the S3 emulator and nginx (ZT_EMU_DIR=$ZT_EMU_DIR)"
EMU_STARTED=yes
ENVF=$(timeout 900 "$EMU" start --ttl $LIFETIME s3 https)
. "$ENVF"
ln -sfn "$DATA" "$ZT_HTTP_ROOT/bench-data"
http_port=${ZT_HTTP_URL##*:}
s3_port=${ZT_S3_ENDPOINT##*:}

start_proxy() { # name upstream_port latency [extra proxy arguments]
    rm -f "$WORK/proxy-$1.port" "$WORK/proxy-$1.log"
    name=$1 port=$2 lat=$3
    shift 3
    $PROXY --upstream "127.0.0.1:$port" --port-file "$WORK/proxy-$name.port" --latency-ms "$lat" \
        --lifetime $LIFETIME --log "$WORK/proxy-$name.log" "$@" </dev/null >/dev/null 2>&1 &
    PIDS="$PIDS $!"
    LASTPID=$!
    i=0
    while [ ! -s "$WORK/proxy-$name.port" ]; do
        i=$((i + 1))
        [ $i -le 100 ] || { log "proxy $name did not start"; exit 1; }
        sleep 0.1
    done
    touch "$WORK/proxy-$name.log"
}
ports=""; logs=""; pids=""
for L in $LATENCIES; do
    start_proxy "http$L" "$http_port" "$L"
    ports="$ports${ports:+,}$L=$(cat "$WORK/proxy-http$L.port")"
    logs="$logs${logs:+,}$L=$WORK/proxy-http$L.log"
    pids="$pids${pids:+,}$L=$LASTPID"
done
start_proxy s3lat "$s3_port" "$S3_LATENCY"
s3pid=$LASTPID
rate_args=""
if [ "$PROXY_KIND" = c ]; then
    start_proxy httprate "$http_port" "$RATE_LATENCY" --rate-mbps "$RATE_MBPS"
    rate_args="--http-rate $RATE_LATENCY:$RATE_MBPS:$(cat "$WORK/proxy-httprate.port"):$LASTPID:$WORK/proxy-httprate.log"
fi
log "proxies ($PROXY_KIND): http $ports; s3 +${S3_LATENCY}ms $(cat "$WORK/proxy-s3lat.port")"

# ---- measurements
CMDLINE="${ZT_BENCH_PROXY:+ZT_BENCH_PROXY=$ZT_BENCH_PROXY }bench/run.sh $(basename "$BUILD")${QUICK:+ --quick}${ONLY:+ --only $ONLY}"
[ "$REPEAT" = 3 ] || CMDLINE="$CMDLINE --repeat $REPEAT"
timeout 3300 $PY "$HERE/suite.py" --build "$BUILD" --data "$DATA" --emu-env "$ENVF" \
    --http-ports "$ports" --http-logs "$logs" --http-pids "$pids" --s3-proxy-pid "$s3pid" \
    --s3-proxy "$(cat "$WORK/proxy-s3lat.port")" --s3-proxy-log "$WORK/proxy-s3lat.log" --s3-latency $S3_LATENCY \
    $rate_args ${UPY:+--upstream-python "$UPY"} \
    --out "$OUT/results.json" $QUICK ${ONLY:+--only "$ONLY"} --repeat "$REPEAT" --command "$CMDLINE" \
    --proxy "$([ "$PROXY_KIND" = python ] && echo "tests/store/faultproxy.py" || echo "bench/latproxy")"
$PY "$HERE/report.py" "$OUT/results.json" --md "$OUT/RESULTS.md" --png "$OUT/results.png"
log "done in $(( $(date +%s) - T0 )) s: $OUT/RESULTS.md"
