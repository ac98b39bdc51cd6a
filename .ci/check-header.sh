#!/usr/bin/env bash
# The committed header must be exactly what the pinned cbindgen generates from the source,
# and the API reference page what the header's doc comments give.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cbindgen --quiet --config cbindgen.toml --output "$tmp" .
if cmp -s "$tmp" include/mxkv.h; then
  echo "header: include/mxkv.h matches cbindgen $(cbindgen --version | awk '{print $2}')"
  echo "1 passed, 0 failed"
  python3 .ci/api-doc.py --check
else
  echo "header: include/mxkv.h differs from what cbindgen generates (run 'make header'):"
  diff -u include/mxkv.h "$tmp" | head -40
  echo "0 passed, 1 failed"
  exit 1
fi
