"""The package's distributed stores under mpirun: dist_job.py run in every role, with one
server and two workers, and serverless (reference §4, spec §6)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JOB = Path(__file__).with_name("dist_job.py")


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
