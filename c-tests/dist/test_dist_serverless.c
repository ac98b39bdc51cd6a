/*
 * Serverless dist_sync (spec §6): DMLC_NUM_SERVER=0, every rank a worker, each push an
 * allreduce, a worker-side updater run on every worker. Run as
 *   DMLC_NUM_SERVER=0 mpirun -np 2 test_dist_serverless
 */
#include "dist.h"

static KVStoreHandle kv;
static int rank, workers;

static void test_every_rank_works(void) {
    int is_worker = 0, is_server = 1;
    CHECK_OK(MXKVStoreIsWorkerNode(&is_worker));
    CHECK_OK(MXKVStoreIsServerNode(&is_server));
    CHECK_EQ_INT(is_worker, 1);
    CHECK_EQ_INT(is_server, 0);
    CHECK_OK(MXKVStoreGetGroupSize(kv, &workers));
    CHECK(workers >= 2 && rank < workers);
}

static void test_init_from_rank0_and_push_sums(void) {
    int key = 3, keys[2] = {3, 3};
    NDArrayHandle v = arr_fill(2, 3, 10.0f + (float)rank), g[2];
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    CHECK(key_equals(kv, 3, 2, 3, 10.0f));
    g[0] = arr_fill(2, 3, (float)(rank + 1));
    g[1] = arr_fill(2, 3, 1.0f);
    CHECK_OK(MXKVStorePush(kv, 2, keys, g, 0));
    CHECK(key_equals(kv, 3, 2, 3, (float)(workers * (workers + 1) / 2 + workers)));
    /* The pushed arrays keep their values. */
    CHECK(arr_all_equal(g[0], 6, (float)(rank + 1)));
    MXNDArrayFree(v);
    MXNDArrayFree(g[0]);
    MXNDArrayFree(g[1]);
}

static void test_worker_updater_keeps_replicas_identical(void) {
    int key = 5, i;
    NDArrayHandle v = arr_fill(1, 4, 1.0f), g = arr_fill(1, 4, 1.0f);
    CHECK_OK(MXKVStoreSetUpdater(kv, times10, NULL));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    for (i = 0; i < 2; i++) CHECK_OK(MXKVStorePush(kv, 1, &key, &g, 0));
    CHECK(key_equals(kv, 5, 1, 4, 1.0f + 2.0f * 10.0f * (float)workers));
    CHECK_OK(MXKVStoreSetUpdater(kv, NULL, NULL));
    MXNDArrayFree(v);
    MXNDArrayFree(g);
}

static void test_dtypes_mpi_cannot_add(void) {
    int key = 6;
    mx_uint shape[1] = {3};
    uint16_t h[3], got[3];
    NDArrayHandle v = arr_new(shape, 1, DT_F16);
    h[0] = h[1] = h[2] = f32_to_f16(1.5f);
    CHECK_OK(MXNDArraySyncCopyFromCPU(v, h, 3));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    CHECK_OK(MXKVStorePush(kv, 1, &key, &v, 0));
    CHECK_OK(MXKVStorePull(kv, 1, &key, &v, 0));
    CHECK_OK(MXNDArraySyncCopyToCPU(v, got, 3));
    CHECK_EQ_DBL(f16_to_f32(got[2]), 1.5 * workers);
    MXNDArrayFree(v);
}

static void test_string_keys_and_barrier(void) {
    KVStoreHandle skv = NULL;
    const char *key = "w";
    NDArrayHandle v = arr_fill(2, 2, (float)rank), g = arr_fill(2, 2, 2.0f);
    CHECK_OK(MXKVStoreCreate("dist_sync", &skv));
    CHECK_OK(MXKVStoreInitEx(skv, 1, &key, &v));
    CHECK_OK(MXKVStorePushEx(skv, 1, &key, &g, 0));
    CHECK(skey_equals(skv, "w", 2, 2, 2.0f * (float)workers));
    CHECK_OK(MXKVStoreBarrier(skv));
    CHECK_OK(MXKVStoreFree(skv));
    MXNDArrayFree(v);
    MXNDArrayFree(g);
}

static void test_async_needs_servers(void) {
    KVStoreHandle akv = NULL;
    CHECK_FAIL(MXKVStoreCreate("dist_async", &akv), "DMLC_NUM_SERVER");
}

static void test_commands_need_servers(void) {
    CHECK_FAIL(MXKVStoreSendCommmandToServers(kv, 0, "optimizer"), "no servers");
}

int main(void) {
    kv = dist_start("dist_sync", NULL);
    rank = worker_rank(kv);
    RUN(test_every_rank_works);
    RUN(test_init_from_rank0_and_push_sums);
    RUN(test_worker_updater_keeps_replicas_identical);
    RUN(test_dtypes_mpi_cannot_add);
    RUN(test_string_keys_and_barrier);
    RUN(test_async_needs_servers);
    RUN(test_commands_need_servers);
    CHECK_OK(MXKVStoreFree(kv));
    return check_summary("test_dist_serverless");
}
