#!/usr/bin/env bash
# The README's C, Rust, Perl and Python examples, run as they are written: each is cut out of
# README.md, run, and its output compared with what the README says it prints.
# Needs the library, the built Perl shim (perl-shim/blib) and the Python venv that
# `make test-perl` and `make test-python` leave behind.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/build/readme
mkdir -p "$OUT"
passed=0
failed=0

# block LANG [N]: the Nth (default first) fenced block of that language in README.md
block() {
    awk -v lang="$1" -v want="${2:-1}" '$0 == "```" lang { n++; on = n == want; next }
        on && $0 == "```" { exit } on { print }' "$ROOT/README.md"
}

# c_example N EXPECTED: the Nth C block, compiled against the library and run
c_example() {
    block c "$1" >"$OUT/example$1.c"
    if gcc -std=c99 -Wall -Werror -I"$ROOT/include" "$OUT/example$1.c" -L"$ROOT/target/release" \
        -Wl,-rpath,"$ROOT/target/release" -lmxkv -o "$OUT/example$1" 2>"$OUT/cc$1.log"; then
        check "C #$1" "$2" "$("$OUT/example$1" 2>&1)"
    else
        check "C #$1" "compiles" "$(cat "$OUT/cc$1.log")"
    fi
}

check() { # name, expected, actual
    if [ "$2" = "$3" ]; then
        passed=$((passed + 1))
        echo "ok   README $1 example"
    else
        failed=$((failed + 1))
        printf 'FAIL README %s example\n  expected: %s\n  got:      %s\n' "$1" "$2" "$3"
    fi
}

c_example 1 "2"
c_example 2 "rows 5 900: 1 3"

# The Rust example is the body of main() in a crate that depends on this one.
mkdir -p "$OUT/rust/src"
cat >"$OUT/rust/Cargo.toml" <<TOML
[package]
name = "readme-example"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
mxkv = { path = "$ROOT" }

[workspace]
TOML
cp "$ROOT/Cargo.lock" "$OUT/rust/Cargo.lock"
{ echo 'fn main() -> Result<(), mxkv::Error> {'; block rust; echo 'Ok(())'; echo '}'; } >"$OUT/rust/src/main.rs"
if (cd "$OUT/rust" && CARGO_TARGET_DIR="$ROOT/target" cargo build --release --quiet 2>"$OUT/rust.log"); then
    check Rust "[1.5, 2.5, 3.5]" "$("$ROOT/target/release/readme-example" 2>&1)"
else
    check Rust "compiles" "$(cat "$OUT/rust.log")"
fi

block perl >"$OUT/example.pl"
got=$(cd "$ROOT/perl-shim" && perl -Mblib "$OUT/example.pl" 2>&1 | tr -s ' \n' ' ')
check Perl " [ [8 8 8] [8 8 8] ] " "$got"

block python >"$OUT/example.py"
got=$(MXKV_LIBRARY="$ROOT/target/release/libmxkv.so" "$ROOT/build/py-venv/bin/python" "$OUT/example.py" 2>&1 | tr -s ' \n' ' ')
check Python "[[-0.4 -0.4 -0.4] [-0.4 -0.4 -0.4]] " "$got"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
