#!/usr/bin/env bash
# Packaging tests (make test-pkg):
#   1. `make install` into a DESTDIR and into a PREFIX: files, SONAME, symlinks, mxkv.pc;
#      C programs built with nothing but `pkg-config --cflags --libs mxkv` (shared) and
#      `pkg-config --static ...` (static); `make uninstall` leaves the prefix as it was.
#   2. Drop-in for MXNet: a C program compiled with MXNet 1.9.1's own header and linked against the
#      real libmxnet.so (from the pip wheel mxnet==1.9.1, downloaded once into build/cache) runs
#      against MXNet, then, unchanged, against mxkv installed as libmxnet.so; the outputs must match.
#      Without a reachable package registry this part is skipped with the reason, except under CI
#      (CI set), where that is a failure.
#   3. The FFI::Platypus example's tests (perl-ffi/run-tests.sh).
# Ends with "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/c-tests/pkg
BUILD=$ROOT/build/pkg
CACHE=$ROOT/build/cache/mxnet-1.9.1
CC=${CC:-gcc}
CFLAGS_TEST="-std=c99 -Wall -Wextra -Werror -O1"

CHECK_LOG=$BUILD/last.log
# shellcheck source=../../.ci/checks.sh
source "$ROOT/.ci/checks.sh"

apt_updated=0
apt_install() {
    if [[ $(id -u) != 0 ]]; then
        echo "pkg tests: need the Debian packages $* (run as root to install them)" >&2
        return 1
    fi
    if [[ $apt_updated == 0 ]]; then
        apt-get update -qq || return 1
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The install rules, whether or not the Makefile includes them yet.
make_install() {
    if grep -q '^include mk/install.mk' "$ROOT/Makefile"; then
        make -s -C "$ROOT" LDCONFIG= "$@"
    else
        make -s -C "$ROOT" -f Makefile -f mk/install.mk LDCONFIG= "$@"
    fi
}

soname_of() { readelf -d "$1" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p'; }
needed_of() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p'; }
is_link_to() { [[ -L $1 && $(readlink "$1") == "$2" ]]; }
is_empty_dir() { [[ -d $1 && -z $(ls -A "$1") ]]; }
same_lines() { diff "$1" "$2"; }

rm -rf "$BUILD"
mkdir -p "$BUILD"
command -v pkg-config >/dev/null 2>&1 || apt_install pkg-config
command -v readelf >/dev/null 2>&1 || apt_install binutils

VERSION=$(sed -n 's/^version *= *"\([0-9.]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n 1)
REAL=libmxkv.so.$VERSION
SONAME=libmxkv.so.${VERSION%%.*}

check "cargo build --release" bash -c "cd '$ROOT' && cargo build --release"
check "target/release/libmxkv.so has SONAME $SONAME" test "$(soname_of "$ROOT/target/release/libmxkv.so")" = "$SONAME"

# ---------------------------------------------------------------- 1a. DESTDIR staging install
DEST=$BUILD/destdir
mkdir -p "$DEST"
check "make install DESTDIR=... PREFIX=/opt/mxkv" make_install install DESTDIR="$DEST" PREFIX=/opt/mxkv
S=$DEST/opt/mxkv
check "DESTDIR: $REAL is a regular file with SONAME $SONAME" \
    bash -c "[[ -f '$S/lib/$REAL' && ! -L '$S/lib/$REAL' && \$(readelf -d '$S/lib/$REAL' | grep -c 'SONAME.*\[$SONAME\]') == 1 ]]"
check "DESTDIR: $SONAME -> $REAL" is_link_to "$S/lib/$SONAME" "$REAL"
check "DESTDIR: libmxkv.so -> $SONAME" is_link_to "$S/lib/libmxkv.so" "$SONAME"
check "DESTDIR: libmxkv.a installed" cmp "$S/lib/libmxkv.a" "$ROOT/target/release/libmxkv.a"
check "DESTDIR: include/mxkv.h installed" cmp "$S/include/mxkv.h" "$ROOT/include/mxkv.h"
check "DESTDIR: include/mxnet/c_api.h installed" cmp "$S/include/mxnet/c_api.h" "$ROOT/include/mxnet/c_api.h"
check "DESTDIR: no libmxnet.so without MXNET_COMPAT" test ! -e "$S/lib/libmxnet.so"
check "DESTDIR: mxkv.pc names the final prefix, not DESTDIR" \
    bash -c "grep -qx 'prefix=/opt/mxkv' '$S/lib/pkgconfig/mxkv.pc' && ! grep -q '$DEST' '$S/lib/pkgconfig/mxkv.pc'"
check "DESTDIR: mxkv.pc fields" bash -c "
    pc='$S/lib/pkgconfig/mxkv.pc'
    grep -qx 'Libs: -L\${libdir} -lmxkv' \"\$pc\" && grep -qx 'Libs.private: -lpthread -ldl -lm' \"\$pc\" &&
    grep -qx 'Cflags: -I\${includedir}' \"\$pc\" && grep -qx 'Version: $VERSION' \"\$pc\""
check "make uninstall DESTDIR=... PREFIX=/opt/mxkv" make_install uninstall DESTDIR="$DEST" PREFIX=/opt/mxkv
check "DESTDIR: empty again after uninstall" is_empty_dir "$DEST"

# ---------------------------------------------------------------- 1b. PREFIX install, pkg-config users
P=$BUILD/prefix
mkdir -p "$P"
check "make install PREFIX=$P" make_install install PREFIX="$P"
export PKG_CONFIG_PATH=$P/lib/pkgconfig
check "pkg-config --modversion mxkv = $VERSION" test "$(pkg-config --modversion mxkv)" = "$VERSION"
check "pkg-config --cflags mxkv" test "$(pkg-config --cflags mxkv | xargs)" = "-I$P/include"
check "pkg-config --libs mxkv" test "$(pkg-config --libs mxkv | xargs)" = "-L$P/lib -lmxkv"
check "pkg-config --static --libs mxkv" test "$(pkg-config --static --libs mxkv | xargs)" = "-L$P/lib -lmxkv -lpthread -ldl -lm"

# shellcheck disable=SC2046 # pkg-config output is meant to be split into words
check "build with pkg-config --cflags --libs mxkv (<mxkv.h>)" \
    $CC $CFLAGS_TEST "$HERE/pkg_consumer.c" -o "$BUILD/consumer-shared" $(pkg-config --cflags --libs mxkv)
check "shared consumer needs $SONAME" bash -c "readelf -d '$BUILD/consumer-shared' | grep -q 'NEEDED.*\[$SONAME\]'"
check "shared consumer resolves $SONAME in the prefix" \
    bash -c "LD_LIBRARY_PATH='$P/lib' ldd '$BUILD/consumer-shared' | grep -q '$SONAME => $P/lib/$SONAME'"
check "shared consumer runs" bash -c "LD_LIBRARY_PATH='$P/lib' '$BUILD/consumer-shared' | grep -qx 'mxkv $VERSION: pushed 3 devices, pulled 13 into 2 outputs'"
# shellcheck disable=SC2046
check "build with pkg-config (<mxnet/c_api.h>)" \
    $CC $CFLAGS_TEST -DUSE_MXNET_HEADER "$HERE/pkg_consumer.c" -o "$BUILD/consumer-mxnet-header" $(pkg-config --cflags --libs mxkv)
check "<mxnet/c_api.h> consumer runs" bash -c "LD_LIBRARY_PATH='$P/lib' '$BUILD/consumer-mxnet-header' | grep -q 'pulled 13'"
# A static build: -static makes the linker take libmxkv.a; --static adds its private libraries.
# (glibc's warnings about getaddrinfo/getpwuid_r in static programs are expected.)
# shellcheck disable=SC2046
check "build with pkg-config --static --cflags --libs mxkv -static" \
    $CC $CFLAGS_TEST "$HERE/pkg_consumer.c" -o "$BUILD/consumer-static" -static $(pkg-config --static --cflags --libs mxkv)
check "static consumer has no dynamic dependencies" bash -c "! readelf -d '$BUILD/consumer-static' | grep -q NEEDED"
check "static consumer runs without the shared library" \
    bash -c "env -u LD_LIBRARY_PATH '$BUILD/consumer-static' | grep -q 'pulled 13'"

check "make install again (idempotent)" make_install install PREFIX="$P"
check "manifest lists each path once" \
    bash -c "[[ -z \$(sort '$P/share/mxkv/install-manifest' | uniq -d) ]]"
check "make install-mxnet-compat PREFIX=$P" make_install install-mxnet-compat PREFIX="$P"
check "compat: libmxnet.so -> $SONAME" is_link_to "$P/lib/libmxnet.so" "$SONAME"
check "make uninstall PREFIX=$P" make_install uninstall PREFIX="$P"
check "prefix empty again after uninstall" is_empty_dir "$P"
check "uninstall of an empty prefix fails clearly" \
    bash -c "! make_out=\$(cd '$ROOT' && make -s -f mk/install.mk uninstall PREFIX='$P' 2>&1) && grep -q 'no manifest' <<<\"\$make_out\""

# A file that was there before stays, and so does its directory.
mkdir -p "$P/lib"
echo keep >"$P/lib/foreign.txt"
check "install into a prefix with foreign files" make_install install MXNET_COMPAT=1 PREFIX="$P"
check "MXNET_COMPAT=1 installs libmxnet.so too" is_link_to "$P/lib/libmxnet.so" "$SONAME"
check "uninstall removes exactly what was installed" make_install uninstall PREFIX="$P"
check "foreign file and its directory remain" \
    bash -c "[[ \$(cd '$P' && find . -mindepth 1 | sort | xargs) == './lib ./lib/foreign.txt' ]]"
unset PKG_CONFIG_PATH

# ---------------------------------------------------------------- 2. drop-in for MXNet's libmxnet.so
# Programs linked against the real library need libmxnet.so's own dependencies.
install_mxnet_deps() {
    local missing lib pkgs=()
    missing=$(LD_LIBRARY_PATH="$CACHE/lib" ldd "$CACHE/lib/libmxnet.so" | awk '/not found/ {print $1}')
    for lib in $missing; do
        case $lib in
            libquadmath.so.*) pkgs+=(libquadmath0) ;;
            libgomp.so.*) pkgs+=(libgomp1) ;;
            libstdc++.so.*) pkgs+=(libstdc++6) ;;
            libgcc_s.so.*) pkgs+=(libgcc-s1) ;;
            libgfortran.so.5) pkgs+=(libgfortran5) ;;
            *) echo "no known package provides $lib" ;;
        esac
    done
    if ((${#pkgs[@]})); then apt_install "${pkgs[@]}"; fi
    ! LD_LIBRARY_PATH="$CACHE/lib" ldd "$CACHE/lib/libmxnet.so" | grep 'not found'
}

fetch_mxnet() {
    mkdir -p "$CACHE"
    if ! ls "$CACHE"/mxnet-1.9.1-*.whl >/dev/null 2>&1; then
        if ! python3 -m pip --version >/dev/null 2>&1; then
            apt_install python3-pip >/dev/null 2>&1 || return 1
        fi
        echo "downloading the wheel mxnet==1.9.1 (about 50 MB, once) into $CACHE"
        timeout 900 python3 -m pip download --no-deps --only-binary=:all: --disable-pip-version-check \
            mxnet==1.9.1 -d "$CACHE" >"$BUILD/pip-download.log" 2>&1 || return 1
    fi
    if [[ ! -f $CACHE/lib/libmxnet.so || ! -f $CACHE/include/mxnet/c_api.h ]]; then
        python3 - "$CACHE" <<'PY' || return 1
import glob, os, sys, zipfile
cache = sys.argv[1]
wheel = sorted(glob.glob(os.path.join(cache, "mxnet-1.9.1-*.whl")))[0]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith("mxnet/include/"):
            target = os.path.join(cache, "include", name[len("mxnet/include/"):])
        elif name.startswith("mxnet/lib") and ".so" in name and name.count("/") == 1:
            target = os.path.join(cache, "lib", name[len("mxnet/"):])
        else:
            continue
        if name.endswith("/"):
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(name) as src, open(target, "wb") as dst:
            dst.write(src.read())
PY
    fi
}

if fetch_mxnet; then
    check "libmxnet.so 1.9.1 dependencies present (ldd)" install_mxnet_deps
    # shellcheck disable=SC2086
    check "dropin.c builds with MXNet's c_api.h against MXNet's libmxnet.so" \
        $CC $CFLAGS_TEST -I"$CACHE/include" "$HERE/dropin.c" -o "$BUILD/dropin" \
        -L"$CACHE/lib" -lmxnet -Wl,-rpath-link,"$CACHE/lib"
    check "the binary needs libmxnet.so" bash -c "readelf -d '$BUILD/dropin' | grep -q 'NEEDED.*\[libmxnet.so\]'"
    check "runs against the real MXNet 1.9.1" \
        bash -c "cd '$BUILD' && LD_LIBRARY_PATH='$CACHE/lib' ./dropin real.params real.params >real.out && tail -n 1 real.out | grep -qx done"
    C=$BUILD/compat
    mkdir -p "$C"
    check "make install-mxnet-compat PREFIX=$C" make_install install-mxnet-compat PREFIX="$C"
    check "libmxnet.so resolves to mxkv through the compat link" \
        bash -c "[[ \$(LD_LIBRARY_PATH='$C/lib' ldd '$BUILD/dropin' | awk '/libmxnet.so/ {print \$3}') == '$C/lib/libmxnet.so' &&
                   \$(readlink -f '$C/lib/libmxnet.so') == '$C/lib/$REAL' ]]"
    check "the same binary runs against mxkv (reading MXNet's .params)" \
        bash -c "cd '$BUILD' && LD_LIBRARY_PATH='$C/lib' ./dropin mxkv.params real.params >mxkv.out && tail -n 1 mxkv.out | grep -qx done"
    check "mxkv's output equals MXNet's" same_lines "$BUILD/real.out" "$BUILD/mxkv.out"
    check "MXNet reads the .params mxkv wrote" \
        bash -c "cd '$BUILD' && LD_LIBRARY_PATH='$CACHE/lib' ./dropin real2.params mxkv.params >real2.out && diff real.out real2.out"
    check "make uninstall PREFIX=$C" make_install uninstall PREFIX="$C"
    check "compat prefix empty again" is_empty_dir "$C"
else
    reason=$(tail -n 3 "$BUILD/pip-download.log" 2>/dev/null | tr '\n' ' ')
    echo "SKIPPED: drop-in test for MXNet's libmxnet.so: the wheel mxnet==1.9.1 could not be downloaded"
    echo "         from PyPI (no package registry reachable?): ${reason:-pip unavailable}"
    echo "         It needs the real libmxnet.so; it runs wherever PyPI is reachable (the wheel is then cached in $CACHE)."
    if [[ -n ${CI:-} ]]; then
        fail "drop-in test could not run under CI (PyPI must be reachable there)"
    fi
fi

# ---------------------------------------------------------------- 3. Perl FFI::Platypus example
check "perl-ffi/run-tests.sh (FFI::Platypus, no XS)" bash "$ROOT/perl-ffi/run-tests.sh"

summary
