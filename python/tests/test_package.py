"""The package itself: where it finds the library, versions, and the README example."""

import os
import pathlib
import shutil
import subprocess
import sys

import mxkv as mx
import mxkv.base

REPO = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "python" / "examples" / "kvstore_example.py"


def _env(**changes):
    env = {k: v for k, v in os.environ.items() if k not in ("MXKV_LIBRARY", "PYTHONPATH")}
    env.update(changes)
    return env


def test_library_search_order():
    found = mxkv.base._library_candidates(env={"MXKV_LIBRARY": "/opt/x/libmxkv.so"},
                                          package_dir="/src/mxkv-repo/python/mxkv")
    assert found[:3] == ["/opt/x/libmxkv.so", "/src/mxkv-repo/python/mxkv/libmxkv.so",
                         "/src/mxkv-repo/target/release/libmxkv.so"]
    assert found[-1] == "libmxkv.so.0"
    assert mxkv.base._library_candidates(env={}, package_dir="/p/python/mxkv")[0] == "/p/python/mxkv/libmxkv.so"


def _checkout(root, bundled):
    """A copy of this package at root/python/mxkv, the loaded library at root/target/release, and
    with bundled also inside the package, as a wheel has it."""
    package = root / "python" / "mxkv"
    shutil.copytree(os.path.dirname(mxkv.__file__), str(package),
                    ignore=shutil.ignore_patterns("libmxkv.so", "__pycache__"))
    (root / "target" / "release").mkdir(parents=True)
    shutil.copy(mxkv.base.library_path(), str(root / "target" / "release" / "libmxkv.so"))
    if bundled:
        shutil.copy(mxkv.base.library_path(), str(package / "libmxkv.so"))
    return root


def _loaded_from(checkout, cwd, **env):
    code = "import mxkv; print(mxkv.base.library_path())"
    result = subprocess.run([sys.executable, "-c", code], cwd=str(cwd), capture_output=True, text=True,
                            env=_env(PYTHONPATH=str(checkout / "python"), **env), check=True)
    return result.stdout.strip()


def test_source_tree_finds_target_release(tmp_path):
    checkout = _checkout(tmp_path / "repo", bundled=False)
    assert _loaded_from(checkout, tmp_path) == str(checkout / "target" / "release" / "libmxkv.so")


def test_bundled_library_comes_first(tmp_path):
    checkout = _checkout(tmp_path / "repo", bundled=True)
    assert _loaded_from(checkout, tmp_path) == str(checkout / "python" / "mxkv" / "libmxkv.so")


def test_mxkv_library_overrides_the_bundled_one(tmp_path):
    checkout = _checkout(tmp_path / "repo", bundled=True)
    other = tmp_path / "elsewhere" / "libmxkv.so"
    other.parent.mkdir()
    shutil.copy(mxkv.base.library_path(), str(other))
    assert _loaded_from(checkout, tmp_path, MXKV_LIBRARY=str(other)) == str(other)


def test_missing_explicit_library_is_reported(tmp_path):
    result = subprocess.run([sys.executable, "-c", "import mxkv"], cwd=str(tmp_path), capture_output=True,
                            text=True, env=_env(MXKV_LIBRARY=str(tmp_path / "nothing.so")))
    assert result.returncode != 0
    assert "MXKV_LIBRARY=" in result.stderr and "no such file" in result.stderr


def test_versions():
    import ctypes
    api = ctypes.c_int()
    mx.base.check_call(mx.base._LIB.MXGetVersion(ctypes.byref(api)))
    assert api.value == 10901
    own = ctypes.c_int()
    mx.base.check_call(mx.base._LIB.MXKVGetVersion(ctypes.byref(own)))
    major, minor, patch = (int(p) for p in mx.__version__.split("."))
    assert own.value == major * 10000 + minor * 100 + patch


def test_mxnet_style_module_layout():
    assert mx.kv is mx.kvstore and mx.nd is mx.ndarray
    assert mx.kv.create is mx.kvstore.create
    assert mx.optimizer.SGD is mx.optimizer.Optimizer.opt_registry["sgd"]
    assert mx.context.Context is mx.Context and mx.cpu(1) == mx.Context("cpu", 1)
    assert isinstance(mx.nd.zeros(1), mx.nd.NDArray)


def test_readme_example_runs():
    result = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, check=True,
                            env=dict(os.environ))
    lines = result.stdout.splitlines()
    assert lines == ["after one push: [0. 0. 0.]",
                     "after three SGD steps: [-2.805 -2.805 -2.805]",
                     "store type local, rank 0 of 1"]
