#!/bin/sh
# Installs the Debian packages zarrtraj needs, on Debian 12 / Ubuntu.
#   install-deps.sh demo    compiler, CMake and the library's -dev packages (the C demo)
#   install-deps.sh all     everything the tests need: plus Python 3 with venv and headers
#                           (Python packages come from PyPI into venvs: scripts/pyenv.sh),
#                           nginx, OpenSSL, clang (TSan, fuzzing), Node.js + npm (emulators)
# Idempotent: installed packages are skipped. Needs root; otherwise prints the command to run.
set -eu
PROFILE=${1:-all}

BUILD="build-essential cmake pkg-config
libblosc-dev libzstd-dev liblz4-dev zlib1g-dev libbz2-dev libjansson-dev
libcurl4-openssl-dev libssl-dev libhdf5-dev liblzf-dev libnetcdf-dev time"
TEST="python3 python3-venv python3-dev
nginx-light openssl curl ca-certificates procps hdf5-tools
clang-14 libclang-rt-14-dev llvm-14"

case $PROFILE in
demo) PKGS=$BUILD ;;
all)
    PKGS="$BUILD $TEST"
    # The emulators need Node.js >= 20 and npm (machines of this kind ship
    # NodeSource's node 20; install Debian's only when node is missing).
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm" ;;
*) echo "install-deps: unknown profile '$PROFILE' (demo, all)" >&2; exit 2 ;;
esac

missing=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps: all Debian packages of '$PROFILE' present"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing Debian packages; run as root:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends $missing
