#!/bin/sh
# Installs everything zarrtraj needs to build and test on Debian 12 / Ubuntu.
# Idempotent: packages already present are skipped by apt. Needs root; otherwise prints the command.
set -eu

PKGS="build-essential cmake pkg-config
libblosc-dev libzstd-dev liblz4-dev zlib1g-dev libbz2-dev libjansson-dev
libcurl4-openssl-dev libssl-dev libhdf5-dev liblzf-dev
python3 python3-dev python3-numpy python3-zarr python3-numcodecs python3-h5py
python3-mdanalysis python3-dask python3-distributed python3-fsspec python3-pytest python3-boto3 python3-aiohttp python3-matplotlib
python3-pip python3-setuptools python3-cryptography
nginx-light openssl curl time hdf5-tools"

# The emulators need Node.js >= 20 and npm (machines of this kind ship
# NodeSource's node 20; install Debian's only when node is missing).
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"

missing=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps: all Debian packages present"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: run as root:  apt-get install -y$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends $missing
