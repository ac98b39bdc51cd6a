/*
 * A worker that stops answering must not hang the others (spec §6): with
 * MXKV_DIST_TIMEOUT=T, the last worker goes silent after init; the others' next pull
 * fails within T naming the silent rank and the operation, and later calls fail fast.
 * Run as  MXKV_DIST_TIMEOUT=3 DMLC_NUM_SERVER=1 mpirun -np 3 test_dist_fault
 */
#include "dist.h"

int main(void) {
    KVStoreHandle kv = dist_start("dist_sync", NULL);
    int rank = worker_rank(kv), workers = 0, key = 3;
    double timeout = atof(getenv("MXKV_DIST_TIMEOUT")), t0, waited;
    NDArrayHandle v = arr_fill(2, 2, 1.0f), out = arr_fill(2, 2, 0.0f);
    char first[1024];
    CHECK_OK(MXKVStoreGetGroupSize(kv, &workers));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    if (rank == workers - 1) {
        /* Silent: no push, no answer, until the others are long done. */
        sleep((unsigned)(2 * timeout + 2));
        MXNDArrayFree(v);
        MXNDArrayFree(out);
        MXKVStoreSetBarrierBeforeExit(kv, 0);
        MXKVStoreFree(kv);
        return check_summary("test_dist_fault (silent worker)");
    }
    CHECK_OK(MXKVStorePush(kv, 1, &key, &v, 0));
    t0 = now_seconds();
    CHECK_FAIL(MXKVStorePull(kv, 1, &key, &out, 0), "worker rank");
    waited = now_seconds() - t0;
    snprintf(first, sizeof first, "%s", MXGetLastError());
    CHECK_ERR_HAS("pull");
    {
        char rank_text[32];
        snprintf(rank_text, sizeof rank_text, "rank %d", workers - 1);
        CHECK(check_contains_ci(first, rank_text));
    }
    printf("the pull failed after %.2f s (MXKV_DIST_TIMEOUT=%g)\n", waited, timeout);
    CHECK(waited <= timeout + 1.0);
    /* Later calls fail at once with the same message. */
    t0 = now_seconds();
    CHECK_FAIL(MXKVStorePull(kv, 1, &key, &out, 0), "worker rank");
    CHECK(now_seconds() - t0 < 0.5);
    CHECK_STR_EQ(MXGetLastError(), first);
    CHECK_FAIL(MXKVStoreBarrier(kv), "worker rank");
    MXNDArrayFree(v);
    MXNDArrayFree(out);
    /* Free still stops the servers, so the job ends. */
    MXKVStoreFree(kv);
    return check_summary("test_dist_fault");
}
