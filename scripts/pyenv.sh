#!/bin/sh
# Python virtual environments from PyPI, one per python/requirements/NAME.txt:
#   newest    the reference stack of the tests (newest releases; Python 3.13/3.12 when present)
#   oldest    the oldest supported combination (MDAnalysis 2.7, NumPy 1.24, Python 3.11)
#   upstream  upstream Zarrtraj 0.3.3 from PyPI (imported as `zarrtraj` too, so alone)
#
# Usage: pyenv.sh NAME [--project]   create or update the venv, print its python's path
#                                    (last line of stdout); --project also installs this
#                                    checkout with `pip install .` (a real PEP 517 build)
#        pyenv.sh path NAME           print the python path only (no install)
# Environment: ZT_VENV_DIR (default ~/.cache/zarrtraj/venvs), ZT_PY_NEWEST / ZT_PY_OLDEST
# (interpreter to use instead of the one picked here).
# Needs a Python 3.10+ with venv (Debian: python3-venv) and, for --project, its
# headers (python3-dev) and the library's build dependencies (install-deps.sh).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VDIR=${ZT_VENV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zarrtraj/venvs}

log() { echo "pyenv: $*" >&2; }
die() { log "$*"; exit 1; }

# The first candidate that runs, has venv + ensurepip, and is >= 3.10.
pick() {
    for c in "$@"; do
        [ -n "$c" ] || continue
        command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || continue
        if "$c" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; then
            command -v "$c" 2>/dev/null || echo "$c"
            return 0
        fi
    done
    return 1
}

pyenv_versions() { ls -d "$HOME"/.pyenv/versions/"$1"*/bin/python3 2>/dev/null | sort -V -r; }

interpreter() {
    case $1 in
    newest|upstream)
        # shellcheck disable=SC2046
        pick "${ZT_PY_NEWEST:-}" python3.13 $(pyenv_versions 3.13) python3.12 $(pyenv_versions 3.12) \
            python3 /usr/bin/python3 ;;
    oldest)
        # Debian 12's own interpreter is a 3.11: the oldest stack runs on it.
        # shellcheck disable=SC2046
        pick "${ZT_PY_OLDEST:-}" /usr/bin/python3.11 python3.11 $(pyenv_versions 3.11) ;;
    *) die "unknown environment '$1' (newest, oldest, upstream)" ;;
    esac
}

[ $# -ge 1 ] || die "usage: pyenv.sh NAME [--project] | pyenv.sh path NAME"
if [ "$1" = path ]; then
    [ -x "$VDIR/$2/bin/python" ] || die "no venv $VDIR/$2 (run scripts/pyenv.sh $2)"
    echo "$VDIR/$2/bin/python"
    exit 0
fi
NAME=$1
PROJECT=${2:-}
REQ=$ROOT/python/requirements/$NAME.txt
[ -f "$REQ" ] || die "no $REQ"
PY=$(interpreter "$NAME") || die "no suitable Python for '$NAME' (Debian: apt-get install python3 python3-venv python3-dev)"
V=$VDIR/$NAME
mkdir -p "$VDIR"
# Rebuilt when the interpreter or the requirements change; otherwise updated in place.
STAMP="$("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])') $(cksum <"$REQ")"
if [ ! -x "$V/bin/python" ] || [ "$(cat "$V/stamp" 2>/dev/null)" != "$STAMP" ]; then
    rm -rf "$V"
    log "$NAME: creating $V with $PY"
    "$PY" -m venv "$V"
    "$V/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >&2
    log "$NAME: installing $(grep -cv '^\s*\(#\|$\)' "$REQ") requirements from PyPI"
    "$V/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ" >&2
    echo "$STAMP" >"$V/stamp"
fi
if [ "$PROJECT" = --project ]; then
    log "$NAME: pip install $ROOT"
    # A regular (isolated) build: scikit-build-core, NumPy 2 headers and, if needed, CMake from PyPI.
    "$V/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$ROOT" >&2
fi
"$V/bin/python" -m pip freeze --disable-pip-version-check >"$V/freeze.txt" 2>/dev/null || true
log "$NAME: Python $("$V/bin/python" -c 'import platform; print(platform.python_version())'), $(
    grep -i -E '^(mdanalysis|numpy|zarr|numcodecs|h5py|dask|zarrtraj)(==| @)' "$V/freeze.txt" |
        sed 's/ @ .*/ (this checkout)/' | tr '\n' ' ')"
echo "$V/bin/python"
