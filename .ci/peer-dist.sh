#!/usr/bin/env bash
# MXNet 1.9.1's nightly distributed KVStore test, unmodified, under mpirun with `import mxnet`
# resolving to mxkv (the `dist` suite of .ci/peer-tests.sh, which sets up the environment and
# runs this from MXNet's tests/nightly). MXNet's CI launches it with tools/launch.py; here one
# server and two workers are MPI ranks of one job.
#
#   bash .ci/peer-dist.sh dist_sync_kvstore.py
#
# The test types run: init_gpu with --no-gpu (string keys, float32 and float16, arrays above
# MXNET_KVSTORE_BIGARRAY_BOUND split over the servers), default_cpu (dense and row_sparse
# keys, float32 and float16, big ones split, row_sparse_pull, the optimizer `test` on the
# servers) and compressed_cpu (2-bit compression over the wire), the last two with 1 and 2
# servers. Its other types need Gluon (outside mxkv's scope).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRIPT=${1:?usage: peer-dist.sh dist_sync_kvstore.py}
PYTHON=${PYTHON:-$ROOT/build/py-venv/bin/python}

# The script puts ../../python (MXNet's own package) first on its path: it runs from a copy
# at the same depth with no such directory, so that `import mxnet` finds mxkv's alias.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tests/nightly"
cp "$SCRIPT" "$work/tests/nightly/"
# It imports compute_expected_2bit_quantization from the nightly test_kvstore.py for its
# compression checks only; where that file is not beside it, mxkv's own statement of the
# 2-bit rule (reference §3.8) stands in: the values a push sends, in float32.
if [[ -f test_kvstore.py ]]; then
    cp test_kvstore.py "$work/tests/nightly/"
else
    cat >"$work/tests/nightly/test_kvstore.py" <<'PY'
import numpy as np


def compute_expected_2bit_quantization(arr, curr_residual, threshold):
    """(unused, the new residual, the values sent): residual += value, then +-threshold."""
    residual = np.asarray(curr_residual, dtype=np.float32) + arr.asnumpy().astype(np.float32)
    t = np.float32(threshold)
    sent = np.where(residual >= t, t, np.where(residual <= -t, -t, np.float32(0)))
    return None, residual - sent, sent.astype(np.float32)
PY
fi
cd "$work/tests/nightly"

for run in "1 --type=init_gpu --no-gpu" "1 --type=default_cpu" "2 --type=default_cpu" \
    "1 --type=compressed_cpu" "2 --type=compressed_cpu"; do
    read -r servers args <<<"$run"
    echo "-- $SCRIPT $args ($servers server(s), 2 workers)"
    # shellcheck disable=SC2086
    DMLC_NUM_SERVER=$servers DMLC_NUM_WORKER=2 timeout -k 10 600 \
        bash "$ROOT/mk/mpirun.sh" -np $((servers + 2)) "$PYTHON" "$SCRIPT" $args
done
