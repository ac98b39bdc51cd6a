#!/usr/bin/env bash
# The Python and Perl packages, built and installed the way their users do it (make test-pkg).
#
# A copy of the repository's tracked files (what a clone has: no target/, no build/) in
# build/packages/src, then:
#   Python: `pip wheel ./python` (with build isolation, as pip builds for users) makes a wheel that
#     holds the library; installed into a fresh venv and used from another directory, with
#     MXKV_LIBRARY, LD_LIBRARY_PATH and PYTHONPATH unset, `import mxkv` loads the copy inside the
#     package and the package's tests pass; MXKV_LIBRARY still overrides it; MXKV_FEATURES
#     reaches cargo.
#   Perl, from the repository: `perl Makefile.PL INSTALL_BASE=... && make && make test &&
#     make install` builds the library with cargo and installs it beside the XS object; the
#     installed modules pass the shim's tests from another directory without LD_LIBRARY_PATH.
#   Perl, installed library: `make install` of the repository into a prefix, then the shim alone
#     (a copy outside any repository) finds it through `pkg-config mxkv`, links to it with an
#     rpath, and the installed modules pass the shim's tests from another directory; the same with
#     the library named by MXKV_INCLUDE and MXKV_LIBDIR.
# Cargo builds into build/packages-target, kept between runs, so a rerun recompiles only mxkv.
# Ends with "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=$ROOT/build/packages
SRC=$W/src
RUN=$W/elsewhere
export CARGO_TARGET_DIR=$ROOT/build/packages-target
unset MXKV_LIBRARY MXKV_INCLUDE MXKV_LIBDIR MXKV_BUILD MXKV_FEATURES PYTHONPATH PERL5LIB LD_LIBRARY_PATH

CHECK_LOG=$W/last.log
# shellcheck source=checks.sh
source "$ROOT/.ci/checks.sh"

# check_output DESCRIPTION EXPECTED COMMAND...: the command's output, trimmed, must be EXPECTED.
check_output() {
    local desc=$1 expected=$2 got
    shift 2
    got=$("$@" 2>&1)
    if [[ $got == "$expected" ]]; then
        pass "$desc"
    else
        fail "$desc"
        printf '    expected: %s\n    got:      %s\n' "$expected" "$got"
    fi
}

rm -rf "$W"
mkdir -p "$SRC" "$RUN" "$W/no-pkgconfig"

VERSION=$(sed -n 's/^version *= *"\([0-9.]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n 1)
SONAME=libmxkv.so.${VERSION%%.*}

# The tracked files as they are in the working tree (a clone of the current state).
copy_tracked() {
    git -C "$ROOT" ls-files -z | (cd "$ROOT" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
        (cd "$ROOT" && tar --null -T - -cf -) | tar -xf - -C "$SRC"
}
check "copy of the repository's tracked files" copy_tracked
cp -r "$SRC/perl-shim" "$W/shim-alone"

# ---------------------------------------------------------------- Python: wheel, fresh venv
VENV=$W/venv
PY=$VENV/bin/python
check "fresh venv" python3 -m venv "$VENV"
check "pip wheel ./python (build isolation)" \
    bash -c "cd '$SRC' && '$PY' -m pip wheel -q --no-deps --disable-pip-version-check ./python -w '$W/wheels'"
WHEEL=$W/wheels/mxkv-$VERSION-py3-none-linux_$(uname -m).whl
check "one wheel, for any Python 3 on this platform: $(basename "$WHEEL")" \
    bash -c "[[ \$(ls '$W/wheels') == '$(basename "$WHEEL")' ]]"
check "the wheel holds mxkv/libmxkv.so with SONAME $SONAME" bash -c "
    mkdir -p '$W/unpacked' && cd '$W/unpacked' && '$PY' -m zipfile -e '$WHEEL' . &&
    readelf -d mxkv/libmxkv.so | grep -q 'SONAME.*\[$SONAME\]'"
check "the build left no target/ in the checkout" test ! -e "$SRC/target"
check "pip install the wheel (and numpy, pytest) into the venv" \
    "$PY" -m pip install -q --disable-pip-version-check "$WHEEL" pytest
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
check_output "import mxkv from another directory loads the library inside the package" \
    "$SITE/mxkv/libmxkv.so" bash -c "cd '$RUN' && '$PY' -c 'import mxkv; print(mxkv.base.library_path())'"
check "the package's tests pass against the installed wheel" \
    bash -c "cd '$RUN' && '$PY' -m pytest -q -p no:cacheprovider '$SRC/python/tests'"
mkdir -p "$W/other"
cp "$SITE/mxkv/libmxkv.so" "$W/other/libmxkv.so"
check_output "MXKV_LIBRARY overrides the library inside the package" "$W/other/libmxkv.so" \
    bash -c "cd '$RUN' && MXKV_LIBRARY='$W/other/libmxkv.so' '$PY' -c 'import mxkv; print(mxkv.base.library_path())'"
check "MXKV_FEATURES reaches cargo (an unknown feature fails the build, named)" bash -c "
    cd '$SRC' && ! MXKV_FEATURES=no-such-feature '$PY' -m pip wheel --no-deps --disable-pip-version-check \
        ./python -w '$W/wheels-features' >'$W/features.log' 2>&1 && grep -Eq 'error: .*feature.*no-such-feature' '$W/features.log'"

# ---------------------------------------------------------------- Perl: built from the repository
ARCHNAME=$(perl -MConfig -e 'print $Config{archname}')
# installed_tests PREFIX: the shim's tests (a copy of t/ in another directory) against the modules
# installed under INSTALL_BASE=PREFIX, without LD_LIBRARY_PATH.
installed_tests() (
    cd "$RUN" && PERL5LIB=$1/lib/perl5 prove t/
)
installed_module() (
    cd "$RUN" && PERL5LIB=$1/lib/perl5 perl -MAI::MXNet -e 'print $INC{"AI/MXNetCAPI.pm"}, "\n"'
)
cp -r "$SRC/perl-shim/t" "$RUN/t"

PR=$W/perl-repo
AUTO=$PR/lib/perl5/$ARCHNAME/auto/AI/MXNetCAPI
check "perl Makefile.PL INSTALL_BASE=... builds the library from the repository" bash -c "
    cd '$SRC/perl-shim' && PKG_CONFIG_LIBDIR='$W/no-pkgconfig' perl Makefile.PL INSTALL_BASE='$PR' >'$W/makefile-pl.log' 2>&1 &&
    grep -q 'Building against mxkv from this repository' '$W/makefile-pl.log'"
check "make" make -C "$SRC/perl-shim"
check "make test" make -C "$SRC/perl-shim" test
check "make install" make -C "$SRC/perl-shim" install
check "installed: $SONAME beside MXNetCAPI.so" bash -c "
    [[ -f '$AUTO/MXNetCAPI.so' ]] && readelf -d '$AUTO/$SONAME' | grep -q 'SONAME.*\[$SONAME\]'"
check "installed MXNetCAPI.so has the rpath \$ORIGIN" \
    bash -c "readelf -d '$AUTO/MXNetCAPI.so' | grep -q 'R.*PATH.*\[\$ORIGIN\]'"
check "without LD_LIBRARY_PATH, MXNetCAPI.so resolves $SONAME to the copy beside it" \
    bash -c "ldd '$AUTO/MXNetCAPI.so' | grep -q '$SONAME => $AUTO/$SONAME'"
check_output "from another directory, AI::MXNet loads the installed modules" \
    "$PR/lib/perl5/$ARCHNAME/AI/MXNetCAPI.pm" installed_module "$PR"
check "the shim's tests pass against the installed modules" installed_tests "$PR"
check "the README's example runs against the installed modules" \
    bash -c "cd '$RUN' && PERL5LIB='$PR/lib/perl5' perl '$SRC/perl-shim/examples/kvstore.pl'"

# ---------------------------------------------------------------- Perl: installed library, pkg-config
PP=$W/perl-pc
PREFIX=$W/prefix
AUTO=$PP/lib/perl5/$ARCHNAME/auto/AI/MXNetCAPI
check "outside a repository, without pkg-config mxkv, Makefile.PL says what to do" bash -c "
    cd '$W/shim-alone' && ! PKG_CONFIG_LIBDIR='$W/no-pkgconfig' perl Makefile.PL >'$W/none.log' 2>&1 &&
    grep -q 'mxkv not found: no .pkg-config mxkv.' '$W/none.log' && [[ ! -e Makefile ]]"
check "make install PREFIX=... (the library)" make -s -C "$SRC" install PREFIX="$PREFIX" LDCONFIG=
check "the shim alone finds mxkv through pkg-config" bash -c "
    cd '$W/shim-alone' && PKG_CONFIG_PATH='$PREFIX/lib/pkgconfig' perl Makefile.PL INSTALL_BASE='$PP' >'$W/makefile-pl.log' 2>&1 &&
    grep -q 'Building against mxkv from pkg-config (mxkv $VERSION): $PREFIX/lib/libmxkv.so' '$W/makefile-pl.log'"
check "make && make install" bash -c "make -C '$W/shim-alone' && make -C '$W/shim-alone' install"
check "installed MXNetCAPI.so has the rpath of the prefix, and no copy of the library" \
    bash -c "readelf -d '$AUTO/MXNetCAPI.so' | grep -q 'R.*PATH.*\[$PREFIX/lib\]' && [[ ! -e '$AUTO/$SONAME' ]]"
check "without LD_LIBRARY_PATH, MXNetCAPI.so resolves $SONAME in the prefix" \
    bash -c "ldd '$AUTO/MXNetCAPI.so' | grep -q '$SONAME => $PREFIX/lib/$SONAME'"
check "the shim's tests pass against the installed modules" installed_tests "$PP"

# ---------------------------------------------------------------- Perl: a library named by the builder
PE=$W/perl-explicit
AUTO=$PE/lib/perl5/$ARCHNAME/auto/AI/MXNetCAPI
check "MXKV_LIBDIR without MXKV_INCLUDE is refused, named" bash -c "
    cd '$W/shim-alone' && ! MXKV_LIBDIR='$PREFIX/lib' perl Makefile.PL >'$W/half.log' 2>&1 &&
    grep -q 'set both MXKV_INCLUDE and MXKV_LIBDIR' '$W/half.log'"
# A second copy of the installed library, so that the output shows which one was taken.
NAMED=$W/named
mkdir -p "$NAMED"
cp -a "$PREFIX/include" "$PREFIX/lib" "$NAMED/"
check "MXKV_INCLUDE and MXKV_LIBDIR come before pkg-config" bash -c "
    cd '$W/shim-alone' && make realclean >/dev/null &&
    MXKV_INCLUDE='$NAMED/include' MXKV_LIBDIR='$NAMED/lib' PKG_CONFIG_PATH='$PREFIX/lib/pkgconfig' \
        perl Makefile.PL INSTALL_BASE='$PE' >'$W/makefile-pl.log' 2>&1 &&
    grep -q 'Building against mxkv from MXKV_INCLUDE/MXKV_LIBDIR: $NAMED/lib/libmxkv.so' '$W/makefile-pl.log' &&
    make && make install"
check "installed MXNetCAPI.so has the rpath of MXKV_LIBDIR" \
    bash -c "readelf -d '$AUTO/MXNetCAPI.so' | grep -q 'R.*PATH.*\[$NAMED/lib\]'"
check "without LD_LIBRARY_PATH, MXNetCAPI.so resolves $SONAME in MXKV_LIBDIR" \
    bash -c "ldd '$AUTO/MXNetCAPI.so' | grep -q '$SONAME => $NAMED/lib/$SONAME'"
check_output "from another directory, AI::MXNet loads these installed modules" \
    "$PE/lib/perl5/$ARCHNAME/AI/MXNetCAPI.pm" installed_module "$PE"

summary
