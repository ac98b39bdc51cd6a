#!/usr/bin/env bash
# Builds the Perl distribution against the checkout's libmxkv and runs its tests.
# Installs what it needs from Debian when missing (PDL, Mouse, Function::Parameters); Makefile.PL
# builds the library. Exits non-zero on any failure.
#
#   bash perl-shim/run-tests.sh            # from anywhere
#   MXKV_INCLUDE=... MXKV_LIBDIR=... bash perl-shim/run-tests.sh   # against an installed library
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

# ---- system packages ---------------------------------------------------------------------------
missing=()
perl -MPDL -e1 2>/dev/null || missing+=(pdl)
perl -MMouse -e1 2>/dev/null || missing+=(libmouse-perl)
perl -MFunction::Parameters -e1 2>/dev/null || missing+=(libfunction-parameters-perl)
perl -MExtUtils::MakeMaker -e1 2>/dev/null || missing+=(perl)
command -v make >/dev/null || missing+=(make)
command -v cc >/dev/null || missing+=(gcc)
if ((${#missing[@]})); then
    echo "perl-shim: installing ${missing[*]}"
    if [[ $(id -u) -ne 0 ]]; then
        echo "perl-shim: need root to install ${missing[*]} (apt-get)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- the library ---------------------------------------------------------------------------------
# Makefile.PL builds the checkout's library (cargo) unless MXKV_INCLUDE/MXKV_LIBDIR name one; an mxkv
# installed on the system is not used here.
export MXKV_BUILD=1
# The library with the features `make lib` gives it on this machine (the distributed engine where
# MPI is installed), so that building the shim does not rebuild it without them.
export MXKV_FEATURES=${MXKV_FEATURES-$(bash "$root/mk/features.sh")}

# ---- the distribution ----------------------------------------------------------------------------
cd "$here"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { perl Makefile.PL && make; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "perl-shim: build failed" >&2
    exit 1
fi
# Cargo can call the build fresh when a build with other features replaced its output since:
# `make lib` checks the library has the engine this machine builds, and rebuilds it if not.
if [[ " ${MXKV_FEATURES//,/ } " == *" dist "* ]]; then
    make -s -C "$root" lib >/dev/null
fi
# The C compiler's warnings (file:line: warning:), not cargo's.
c_warning='^[^ ]*\.(xs|c|h):[0-9]+:([0-9]+:)? warning:'
if grep -Eq "$c_warning" "$log"; then
    grep -E -B2 -A6 "$c_warning" "$log" >&2
    echo "perl-shim: the XS code compiles with warnings" >&2
    exit 1
fi

# The example the README shows must run.
perl -Mblib examples/kvstore.pl >"$log" 2>&1 || { cat "$log" >&2; echo "perl-shim: examples/kvstore.pl failed" >&2; exit 1; }

prove -b ${VERBOSE:+-v} t/
