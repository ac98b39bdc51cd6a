"""Builds the package with libmxkv inside it: setuptools-rust compiles the crate of the repository
this directory sits in (`../Cargo.toml`) and copies the C library to ``mxkv/libmxkv.so``.

Environment read at build time:
  MXKV_FEATURES   cargo features of the library, comma- or space-separated (``dist``: the MPI
                  engine; needs an MPI implementation and libclang where it is built)
  CARGO_TARGET_DIR  where cargo builds (default: the repository's ``target/``, shared with
                  ``cargo build --release``)
"""

import json
import os
import subprocess

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel as _bdist_wheel
from setuptools_rust import Binding, RustExtension, Strip
from setuptools_rust.build import build_rust as _build_rust

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(os.path.dirname(HERE), "Cargo.toml")
LIBRARY = "libmxkv.so"


def crate_metadata():
    """The crate's name, version and library target, as cargo reads them from the manifest."""
    if not os.path.isfile(MANIFEST):
        raise SystemExit("mxkv: %s not found: build this package from a checkout of the mxkv "
                         "repository (pip install ./python)" % MANIFEST)
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps", "--manifest-path", MANIFEST],
                         check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout
    package = json.loads(out)["packages"][0]
    lib = next(t for t in package["targets"] if "cdylib" in t["crate_types"])
    return package["version"], lib["crate_types"]


def requested_features():
    return os.environ.get("MXKV_FEATURES", "").replace(",", " ").split()


class build_rust(_build_rust):
    """Puts the library at ``mxkv/libmxkv.so``: a plain C library that ctypes loads, not a Python
    extension module, so it carries no interpreter tag in its name."""

    def get_dylib_ext_path(self, ext, target_fname):
        module_path = super().get_dylib_ext_path(ext, target_fname)
        return os.path.join(os.path.dirname(module_path), LIBRARY)


class bdist_wheel(_bdist_wheel):
    """One wheel for every Python 3: the package calls the library through ctypes only."""

    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat


VERSION, CRATE_TYPES = crate_metadata()

setup(
    version=VERSION,
    rust_extensions=[
        RustExtension(
            "mxkv.libmxkv",
            path=MANIFEST,
            binding=Binding.NoBinding,
            features=requested_features(),
            # The manifest's own crate types, so that this build and `cargo build --release`
            # are the same build and do not recompile each other in a shared target directory.
            args=[arg for kind in CRATE_TYPES for arg in ("--crate-type", kind)],
            strip=Strip.Debug,
        )
    ],
    cmdclass={"build_rust": build_rust, "bdist_wheel": bdist_wheel},
    zip_safe=False,
)
