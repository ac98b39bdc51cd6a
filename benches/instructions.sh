#!/usr/bin/env bash
# Instructions per push+pull pair of benches/instructions.c, counted by callgrind: the
# difference between a short and a longer run, divided by the extra pairs (setup and exit
# cancel out). Exact and repeatable, unlike wall-clock time on a loaded machine.
#
# Usage: bash benches/instructions.sh [ROOT]
#   ROOT: a checkout whose library is built (ROOT/target/release/libmxkv.so, ROOT/include);
#         this one by default. Give an older checkout's to compare builds.
# Prints: "small: N instructions per push+pull" and the same for updater and keys1000.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(cd "${1:-$HERE}" && pwd)
LIBDIR="$ROOT/target/release"
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind" >&2; exit 1; }
[ -e "$LIBDIR/libmxkv.so" ] || { echo "instructions.sh: no $LIBDIR/libmxkv.so (build it first)" >&2; exit 1; }
[ -e "$LIBDIR/libmxkv.so.0" ] || ln -sf libmxkv.so "$LIBDIR/libmxkv.so.0"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
gcc -O2 -std=c99 -I"$ROOT/include" "$HERE/benches/instructions.c" -o "$WORK/instructions" \
    -L"$LIBDIR" -Wl,-rpath,"$LIBDIR" -lmxkv

count() { # case, pairs -> instructions of the whole run
    valgrind --tool=callgrind --callgrind-out-file="$WORK/out.$1.$2" "$WORK/instructions" "$1" "$2" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for spec in "small 1000 11000" "updater 1000 11000" "keys1000 2 12"; do
    read -r name lo hi <<<"$spec"
    a=$(count "$name" "$lo")
    b=$(count "$name" "$hi")
    echo "$name: $(((b - a) / (hi - lo))) instructions per push+pull"
done
