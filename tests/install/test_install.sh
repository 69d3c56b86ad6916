#!/bin/sh
# cmake --install into a scratch prefix, then build the README's quick start
# (examples/quickstart.c) against the installed header, library and
# zarrtraj.pc, run it, and check that its output file reads back.
set -eu
BUILD=$1
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cmake --install "$BUILD" --prefix "$TMP/prefix" >/dev/null
PC=$(dirname "$(find "$TMP/prefix" -name zarrtraj.pc | head -1)")
test -f "$TMP/prefix/include/zarrtraj.h"
test -x "$TMP/prefix/bin/zarrtraj"
export PKG_CONFIG_PATH="$PC"
cc -std=c11 -Wall -Werror -o "$TMP/quickstart" "$SRC/examples/quickstart.c" $(pkg-config --cflags --libs zarrtraj) -lm
LIBDIR=$(pkg-config --variable=libdir zarrtraj)
"$TMP/prefix/bin/zarrtraj" synth "$TMP/in.zarrmd" --atoms 500 --frames 25 >/dev/null
out=$(LD_LIBRARY_PATH="$LIBDIR" "$TMP/quickstart" "$TMP/in.zarrmd" "$TMP/out.zarrmd")
echo "$out"
echo "$out" | grep -q "500 atoms, 25 frames"
# the static library links against the dependencies' shared libraries
# (Requires.private + Libs.private; Debian ships no static libcurl closure)
DEPS=$(pkg-config --print-requires-private zarrtraj | tr '\n' ' ')
PRIV=$(sed -n 's/^Libs.private: //p' "$PC/zarrtraj.pc")
cc -std=c11 -o "$TMP/quickstart_static" "$SRC/examples/quickstart.c" -I"$TMP/prefix/include" \
    "$LIBDIR/libzarrtraj.a" $(pkg-config --libs $DEPS) $PRIV
"$TMP/quickstart_static" "$TMP/out.zarrmd" "$TMP/out2.zarrmd" | grep -q "500 atoms, 25 frames"
"$TMP/prefix/bin/zarrtraj" info "$TMP/out.zarrmd" | grep -q "500 atoms, 25 frames"
echo "install test ok"
