#!/usr/bin/env bash
# The distributed stores' C tests: each program runs in every role under mpirun (and the
# launch test also without it), in the layouts below. Ends with "N passed, M failed".
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT="$ROOT/build/c-tests/dist"
LIBDIR="$ROOT/target/release"
CC=${CC:-gcc}
MPIRUN="$ROOT/mk/mpirun.sh"
TIMEOUT=${MXKV_TEST_TIMEOUT:-120}
mkdir -p "$OUT/logs"

if ! command -v mpirun >/dev/null 2>&1 || [ -z "$(bash "$ROOT/mk/features.sh")" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "dist tests: need Open MPI and libclang (apt-get install openmpi-bin libopenmpi-dev libclang-dev pkg-config)" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends openmpi-bin libopenmpi-dev libclang-dev pkg-config >/dev/null
fi
(cd "$ROOT" && make --no-print-directory -s lib >/dev/null) || {
    echo "0 passed, 1 failed"
    exit 1
}

# shellcheck source=../record.sh
source "$ROOT/c-tests/record.sh"

# run NAME ENV... -- COMMAND...: one job, its output in a log, shown when it fails.
run() {
    local name=$1 log="$OUT/logs/$(echo "$1" | tr -c 'A-Za-z0-9_\n' '_').log"
    shift
    local envs=()
    while [ "$1" != -- ]; do
        envs+=("$1")
        shift
    done
    shift
    env "${envs[@]}" timeout -k 10 "$TIMEOUT" "$@" >"$log" 2>&1
    local st=$?
    if [ $st != 0 ]; then
        echo "---- $name exited with $st:"
        grep -vE '^ok ' "$log" | head -40
        echo "---- (full log: $log)"
    else
        grep -E 'failed after' "$log"
    fi
    record "$name" $st
}

for src in "$ROOT"/c-tests/dist/*.c; do
    name=$(basename "$src" .c)
    cc=$CC
    # A program that calls MPI itself is built with MPI's compiler wrapper.
    grep -q '<mpi.h>' "$src" && cc=mpicc
    "$cc" -std=c99 -g -O1 -Wall -Wextra -pedantic -Werror -I"$ROOT/include" -o "$OUT/$name" "$src" \
        -L"$LIBDIR" -Wl,-rpath,"$LIBDIR" -lmxkv -lpthread -lm >"$OUT/logs/$name.build.log" 2>&1 ||
        { cat "$OUT/logs/$name.build.log"; record "$name (build)" 1; }
done

unset DMLC_ROLE DMLC_NUM_SERVER DMLC_NUM_WORKER MXNET_KVSTORE_BIGARRAY_BOUND MXKV_DIST_TIMEOUT MXKV_DIST_SHM
run "launch: no launcher" -- "$OUT/test_dist_launch"
run "launch: servers only" DMLC_NUM_SERVER=2 -- "$MPIRUN" -np 2 "$OUT/test_dist_launch" "no worker ranks"
run "launch: DMLC_NUM_WORKER disagrees" DMLC_NUM_SERVER=1 DMLC_NUM_WORKER=5 -- \
    "$MPIRUN" -np 3 "$OUT/test_dist_launch" "DMLC_NUM_WORKER=5"
run "dist_sync: 1 server, 2 workers" DMLC_NUM_SERVER=1 DMLC_NUM_WORKER=2 MXNET_KVSTORE_BIGARRAY_BOUND=1000 -- \
    "$MPIRUN" -np 3 "$OUT/test_dist_sync"
run "dist_sync: 2 servers, 2 workers, split keys" DMLC_NUM_SERVER=2 DMLC_NUM_WORKER=2 MXNET_KVSTORE_BIGARRAY_BOUND=1000 -- \
    "$MPIRUN" -np 4 "$OUT/test_dist_sync"
run "dist_sync: 1 server, 3 workers" DMLC_NUM_SERVER=1 DMLC_NUM_WORKER=3 -- \
    "$MPIRUN" -np 4 "$OUT/test_dist_sync"
# Ranks on one node push large values through shared memory; MXKV_DIST_SHM=0 sends them as
# MPI messages, as ranks on several nodes do.
run "dist_sync: 2 servers, 2 workers, MPI messages only" DMLC_NUM_SERVER=2 DMLC_NUM_WORKER=2 \
    MXKV_DIST_SHM=0 MXNET_KVSTORE_BIGARRAY_BOUND=1000 -- "$MPIRUN" -np 4 "$OUT/test_dist_sync"
run "dist_async: 1 server, 2 workers" DMLC_NUM_SERVER=1 -- "$MPIRUN" -np 3 "$OUT/test_dist_async"
run "2-bit compression: 1 server, 2 workers" DMLC_NUM_SERVER=1 MXNET_KVSTORE_BIGARRAY_BOUND=1000 -- \
    "$MPIRUN" -np 3 "$OUT/test_dist_compression"
run "2-bit compression: 2 servers, 3 workers, split keys" DMLC_NUM_SERVER=2 MXNET_KVSTORE_BIGARRAY_BOUND=1000 -- \
    "$MPIRUN" -np 5 "$OUT/test_dist_compression"
run "row_sparse: 1 server, 2 workers" DMLC_NUM_SERVER=1 MXNET_KVSTORE_BIGARRAY_BOUND=100 -- \
    "$MPIRUN" -np 3 "$OUT/test_dist_sparse"
run "row_sparse: 2 servers, 3 workers, keys split by rows" DMLC_NUM_SERVER=2 MXNET_KVSTORE_BIGARRAY_BOUND=100 -- \
    "$MPIRUN" -np 5 "$OUT/test_dist_sparse"
run "row_sparse: serverless, 3 workers" DMLC_NUM_SERVER=0 MXNET_KVSTORE_BIGARRAY_BOUND=100 -- \
    "$MPIRUN" -np 3 "$OUT/test_dist_sparse"
run "row_sparse: serverless, 3 workers, MPI's allreduce" DMLC_NUM_SERVER=0 MXKV_DIST_SHM=0 \
    MXNET_KVSTORE_BIGARRAY_BOUND=100 -- "$MPIRUN" -np 3 "$OUT/test_dist_sparse"
# Workers on one node sum through shared memory; MXKV_DIST_SHM=0 makes them use MPI's
# allreduce, as workers on several nodes do.
run "serverless dist_sync: 2 workers" DMLC_NUM_SERVER=0 -- "$MPIRUN" -np 2 "$OUT/test_dist_serverless"
run "serverless dist_sync: 3 workers" DMLC_NUM_SERVER=0 -- "$MPIRUN" -np 3 "$OUT/test_dist_serverless"
run "serverless dist_sync: 2 workers, MPI's allreduce" DMLC_NUM_SERVER=0 MXKV_DIST_SHM=0 -- \
    "$MPIRUN" -np 2 "$OUT/test_dist_serverless"
run "MPI started and finalized by the program" DMLC_NUM_SERVER=0 -- \
    "$MPIRUN" -np 2 "$OUT/test_dist_program_mpi"
# The faults with a server (the survivors' pull fails) and serverless (their push does).
for servers in 1 0; do
    layout=$([ $servers = 0 ] && echo "serverless" || echo "1 server")
    run "fault ($layout): a sleeping worker, MXKV_DIST_TIMEOUT=3" DMLC_NUM_SERVER=$servers MXKV_DIST_TIMEOUT=3 -- \
        "$MPIRUN" -np 3 "$OUT/test_dist_fault" sleeping
    run "fault ($layout): a stopped worker, MXKV_DIST_TIMEOUT=3" DMLC_NUM_SERVER=$servers MXKV_DIST_TIMEOUT=3 -- \
        "$MPIRUN" -np 3 "$OUT/test_dist_fault" stopped
    # A killed rank ends an Open MPI job unless mpirun runs with --enable-recovery, which then
    # exits 0 whatever the survivors return: their own summary line is the verdict.
    run "fault ($layout): a killed worker, MXKV_DIST_TIMEOUT=3" DMLC_NUM_SERVER=$servers MXKV_DIST_TIMEOUT=3 -- \
        bash -c 'out=$("$0" --enable-recovery -np 3 "$1" killed 2>&1); echo "$out"
            grep -qE "^test_dist_fault \(survivor\): [1-9][0-9]* checks passed, 0 failed" <<<"$out"' \
        "$MPIRUN" "$OUT/test_dist_fault"
done
run "fault (serverless, MPI's allreduce): a stopped worker, MXKV_DIST_TIMEOUT=3" DMLC_NUM_SERVER=0 \
    MXKV_DIST_SHM=0 MXKV_DIST_TIMEOUT=3 -- "$MPIRUN" -np 3 "$OUT/test_dist_fault" stopped

summary
