#!/usr/bin/env bash
# mpirun as this project's jobs use it on one machine: any number of ranks on few cores
# (--oversubscribe, no binding), shared memory or loopback TCP between ranks, and idle
# ranks that yield the core. As root, Open MPI needs its two consent variables.
#   mk/mpirun.sh -np 3 prog args...
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_mpi_yield_when_idle=1
exec mpirun --oversubscribe --bind-to none --mca btl self,vader,tcp \
    --mca btl_tcp_if_include lo "$@"
