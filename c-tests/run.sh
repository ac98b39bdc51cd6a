#!/usr/bin/env bash
# Build every c-tests/*.c against the real library and run it four ways:
#   shared    linked to libmxkv.so (rpath)
#   static    linked to libmxkv.a
#   asan      -fsanitize=address,undefined, against the .so
#   valgrind  the shared build under valgrind (memcheck, definite leaks are errors; forked
#             children report through their parent, which checks what they did)
# plus the header compiled as strict C99 and as C++11. Ends with "N passed, M failed"
# (test programs x modes, and the two header checks); exits non-zero on any failure.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/build/c-tests"
LIBDIR="$ROOT/target/release"
CC=${CC:-gcc}
CXX=${CXX:-g++}
TIMEOUT=${MXKV_TEST_TIMEOUT:-300}

mkdir -p "$OUT/logs"

# ---- what the tests need ---------------------------------------------------------------
missing=()
command -v "$CC" >/dev/null 2>&1 || missing+=(gcc libc6-dev)
command -v "$CXX" >/dev/null 2>&1 || missing+=(g++)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
if ((${#missing[@]})); then
    if [ "$(id -u)" != 0 ]; then
        echo "run.sh: missing ${missing[*]} and not root to install them" >&2
        exit 1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
        echo "run.sh: could not install ${missing[*]}" >&2
        exit 1
    }
fi

# ---- the library: build when missing or older than its sources -------------------------
need_build=0
if [ ! -f "$LIBDIR/libmxkv.so" ] || [ ! -f "$LIBDIR/libmxkv.a" ]; then
    need_build=1
elif [ -n "$(find "$ROOT/src" "$ROOT/Cargo.toml" -newer "$LIBDIR/libmxkv.so" -print -quit)" ]; then
    need_build=1
fi
if [ "$need_build" = 1 ]; then
    echo "building the library (cargo build --release --features \"$(bash "$ROOT/mk/features.sh")\")"
    (cd "$ROOT" && cargo build --release --quiet --features "$(bash "$ROOT/mk/features.sh")") || {
        echo "run.sh: cargo build --release failed" >&2
        echo "0 passed, 1 failed"
        exit 1
    }
fi

# The SONAME the programs ask for at run time (make lib makes the same link).
ln -sf libmxkv.so "$LIBDIR/libmxkv.so.0"

# shellcheck source=record.sh
source "$ROOT/c-tests/record.sh"

# ---- the header ------------------------------------------------------------------------
"$CC" -std=c99 -Wall -Wextra -pedantic -Werror -fsyntax-only -I"$ROOT/include" \
    "$ROOT/c-tests/header/header_check.c" >"$OUT/logs/header-c99.log" 2>&1
st=$?
[ $st = 0 ] || grep -E 'error' "$OUT/logs/header-c99.log" | head -20
record "header as C99 (-Wall -Wextra -pedantic -Werror)" $st

"$CXX" -std=c++11 -Wall -Wextra -pedantic -Werror -fsyntax-only -I"$ROOT/include" \
    "$ROOT/c-tests/header/header_check.cpp" >"$OUT/logs/header-cxx.log" 2>&1
st=$?
[ $st = 0 ] || grep -E 'error' "$OUT/logs/header-cxx.log" | head -20
record "header as C++11 (-Wall -Wextra -pedantic -Werror)" $st

# ---- the test programs -----------------------------------------------------------------
CFLAGS=(-std=c99 -g -O1 -Wall -Wextra -pedantic -I"$ROOT/include"
        "-DMXKV_FIXTURE_DIR=\"$ROOT/c-tests/fixtures\"" "-DMXKV_BUILD_DIR=\"$OUT\"")
SHARED_LIBS=(-L"$LIBDIR" -Wl,-rpath,"$LIBDIR" -lmxkv -lpthread -lm)
STATIC_LIBS=(-L"$LIBDIR" -Wl,-Bstatic -lmxkv -Wl,-Bdynamic -lpthread -ldl -lm)
# A library with the distributed engine needs MPI's libraries beside it.
if [ -n "$(bash "$ROOT/mk/features.sh")" ]; then
    STATIC_LIBS+=($(mpicc --showme:link 2>/dev/null || mpicc -link_info | cut -d' ' -f2-))
fi
SAN=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:abort_on_error=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
unset DMLC_ROLE

run_mode() { # program, mode, command...
    local name=$1 mode=$2
    shift 2
    local log="$OUT/logs/$name.$mode.log"
    timeout "$TIMEOUT" "$@" >"$log" 2>&1
    local st=$?
    if [ $st != 0 ]; then
        echo "---- $name ($mode) exited with $st; failures:"
        grep -E 'FAILED|FAIL |ERROR|Sanitizer|runtime error|definitely lost|Invalid (read|write)|uninitialised|Process terminating|checks passed' "$log" | head -40
        echo "---- (full log: $log)"
    fi
    record "$name [$mode]" $st
}

build() { # log, command...
    local log=$1
    shift
    "$@" >"$log" 2>&1
    local st=$?
    [ $st = 0 ] || cat "$log"
    return $st
}

for src in "$ROOT"/c-tests/*.c; do
    name=$(basename "$src" .c)
    bin="$OUT/$name"
    if build "$OUT/logs/$name.build.log" "$CC" "${CFLAGS[@]}" -o "$bin" "$src" "${SHARED_LIBS[@]}"; then
        run_mode "$name" shared "$bin"
    else
        record "$name [shared] (build)" 1
    fi
    if build "$OUT/logs/$name.build-static.log" "$CC" "${CFLAGS[@]}" -o "$bin.static" "$src" "${STATIC_LIBS[@]}"; then
        if ldd "$bin.static" | grep -q libmxkv; then
            echo "$bin.static is linked to the shared libmxkv"
            record "$name [static] (link)" 1
        else
            run_mode "$name" static "$bin.static"
        fi
    else
        record "$name [static] (build)" 1
    fi
    if build "$OUT/logs/$name.build-asan.log" "$CC" "${CFLAGS[@]}" "${SAN[@]}" -o "$bin.asan" "$src" "${SHARED_LIBS[@]}"; then
        run_mode "$name" asan "$bin.asan"
    else
        record "$name [asan] (build)" 1
    fi
    if [ -x "$bin" ]; then
        run_mode "$name" valgrind valgrind -q --error-exitcode=1 --leak-check=full --child-silent-after-fork=yes \
            --errors-for-leak-kinds=definite --show-leak-kinds=definite "$bin"
    else
        record "$name [valgrind] (build)" 1
    fi
done

summary
