#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian machine with Rust, gcc,
# perl and python3: the pinned cbindgen, and the Debian packages of the test suites.
set -euo pipefail

CBINDGEN_VERSION=0.29.4

if ! command -v cbindgen >/dev/null || [ "$(cbindgen --version | awk '{print $2}')" != "$CBINDGEN_VERSION" ]; then
  cargo install --locked --quiet cbindgen --version "$CBINDGEN_VERSION"
fi

# Open MPI and libclang: the distributed engine (the mpi crate's build) and its tests.
packages=(valgrind pkg-config python3-venv pdl libmouse-perl libfunction-parameters-perl libffi-platypus-perl
          openmpi-bin libopenmpi-dev libclang-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
