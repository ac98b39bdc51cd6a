/*
 * A program that starts and finalizes MPI itself (as MPI programs and mpi4py do): mxkv uses
 * MPI as it finds it, and once the program has finalized MPI, mxkv's own thread (the
 * heartbeat) makes no MPI call. Run as
 *   DMLC_NUM_SERVER=0 mpirun -np 2 test_dist_program_mpi
 */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <time.h>

#include "dist.h"

int main(void) {
    int provided = 0, key = 7, workers = 0, rank = 0;
    KVStoreHandle kv = NULL;
    NDArrayHandle v, out;
    struct timespec nap = {0, 800 * 1000 * 1000};
    CHECK_EQ_INT(MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided), MPI_SUCCESS);
    CHECK_OK(MXKVStoreCreate("dist_sync", &kv));
    CHECK_OK(MXKVStoreGetGroupSize(kv, &workers));
    CHECK_OK(MXKVStoreGetRank(kv, &rank));
    v = arr_fill(1, 3, (float)(rank + 1));
    out = arr_fill(1, 3, 0.0f);
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    CHECK_OK(MXKVStorePush(kv, 1, &key, &v, 0));
    CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
    CHECK(arr_all_equal(out, 3, (float)(workers * (workers + 1) / 2)));
    CHECK_OK(MXKVStoreFree(kv));
    MXNDArrayFree(v);
    MXNDArrayFree(out);
    CHECK_EQ_INT(MPI_Finalize(), MPI_SUCCESS);
    /* Three heartbeats' time: mxkv's thread must see that MPI is gone. */
    nanosleep(&nap, NULL);
    return check_summary("test_dist_program_mpi");
}
