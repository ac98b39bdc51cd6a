#!/usr/bin/env bash
# Python tests: a venv in build/py-venv with numpy, pytest and this package (`pip install ./python`,
# which builds the library into the package; without build isolation, with the build tools in the
# venv, so it reuses target/ and runs offline), then pytest on python/tests against
# target/release/libmxkv.so.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=$ROOT/build/py-venv
LIB=$ROOT/target/release/libmxkv.so
# The package's library (setup.py builds it into target/) with the features `make lib` gives it
# on this machine (the distributed engine where MPI is installed).
export MXKV_FEATURES=${MXKV_FEATURES-$(bash "$ROOT/mk/features.sh")}

apt_updated=0
apt_install() {
    if [[ $(id -u) != 0 ]]; then
        echo "python tests: need the Debian packages $* (run as root to install them)" >&2
        exit 1
    fi
    if [[ $apt_updated == 0 ]]; then
        apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [[ ! -f $LIB ]]; then
    (cd "$ROOT" && cargo build --release)
fi

if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
        # Debian's python3 has no ensurepip without python3-venv.
        rm -rf "$VENV"
        apt_install python3-venv
        python3 -m venv "$VENV"
    fi
fi
# The build requirements of python/pyproject.toml, for a build without isolation.
if ! "$VENV/bin/python" -c 'import numpy, pytest, setuptools, setuptools_rust
assert int(setuptools.__version__.split(".")[0]) >= 77' >/dev/null 2>&1; then
    "$VENV/bin/python" -m pip install -q numpy pytest "setuptools>=77" "setuptools-rust>=1.9"
fi
# A fresh install of the package from the working tree (no stale build output inside it).
rm -rf "$ROOT/python/build" "$ROOT/python/mxkv.egg-info"
(cd "$ROOT" && "$VENV/bin/python" -m pip install -q --force-reinstall --no-deps --no-build-isolation ./python)
rm -rf "$ROOT/python/build" "$ROOT/python/mxkv.egg-info"
# Cargo can call the build fresh when a build with other features replaced its output since:
# `make lib` checks the library has the engine this machine builds, and rebuilds it if not.
if [[ " ${MXKV_FEATURES//,/ } " == *" dist "* ]]; then
    make -s -C "$ROOT" lib >/dev/null
fi

cd "$ROOT"
MXKV_LIBRARY=$LIB "$VENV/bin/python" -m pytest -q -p no:cacheprovider python/tests "$@"
