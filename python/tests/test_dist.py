"""The package's distributed stores under mpirun: dist_job.py run in every role, with one
server and two workers, and serverless (reference §4, spec §6)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import mxkv as mx

ROOT = Path(__file__).resolve().parents[2]
JOB = Path(__file__).with_name("dist_job.py")


def _has_dist_engine():
    """A library built without the distributed engine (a default `cargo build`, as the
    packaging tests make) says so when asked for a dist store."""
    try:
        mx.kv.create("dist_sync")
    except mx.MXNetError as err:
        return "does not include" not in str(err)
    return True


def _machine_builds_dist():
    """Whether this machine's library is meant to have the distributed engine: the test
    runner says so in MXKV_FEATURES (from mk/features.sh: MPI is installed)."""
    return "dist" in os.environ.get("MXKV_FEATURES", "").replace(",", " ").split()


pytestmark = pytest.mark.skipif(not _has_dist_engine() and not _machine_builds_dist(),
                                reason="this libmxkv was built without the distributed engine")


def test_the_library_has_the_engine_this_machine_builds():
    assert _has_dist_engine() or not _machine_builds_dist(), \
        "MPI is installed (MXKV_FEATURES=dist) but %s lacks the distributed engine" % \
        os.environ.get("MXKV_LIBRARY", "the library")


@pytest.mark.parametrize("servers, ranks", [(1, 3), (0, 2)])
def test_dist_sync_job(servers, ranks):
    env = dict(os.environ, DMLC_NUM_SERVER=str(servers), MXKV_DIST_TIMEOUT="60")
    run = subprocess.run(
        ["bash", str(ROOT / "mk" / "mpirun.sh"), "-np", str(ranks), sys.executable, str(JOB)],
        env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    workers = ranks - servers
    for rank in range(workers):
        assert "worker %d of %d: ok" % (rank, workers) in run.stdout, run.stdout + run.stderr
