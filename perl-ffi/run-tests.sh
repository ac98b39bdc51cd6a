#!/usr/bin/env bash
# Tests of the FFI::Platypus example (perl-ffi/): prove over perl-ffi/t against
# target/release/libmxkv.so. Installs libffi-platypus-perl from Debian when it is missing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

if ! perl -MFFI::Platypus -MFFI::CheckLib -e1 >/dev/null 2>&1; then
    if [[ $(id -u) != 0 ]]; then
        echo "perl-ffi tests: need FFI::Platypus (apt-get install libffi-platypus-perl, as root)" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libffi-platypus-perl >/dev/null
fi
if [[ ! -f $ROOT/target/release/libmxkv.so ]]; then
    (cd "$ROOT" && cargo build --release)
fi
MXKV_LIBRARY=$ROOT/target/release/libmxkv.so prove -I "$ROOT/perl-ffi/lib" "$ROOT/perl-ffi/t"
