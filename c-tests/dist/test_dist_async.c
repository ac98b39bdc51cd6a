/*
 * dist_async (reference §4.4, spec §4.8): each push is applied as it arrives — assigned
 * without a server updater, handed to the updater with one. Run as
 *   DMLC_NUM_SERVER=1 mpirun -np 3 test_dist_async
 */
#include "dist.h"

static KVStoreHandle kv;
static int rank, workers;

static void test_type_and_group(void) {
    const char *type = NULL;
    CHECK_OK(MXKVStoreGetType(kv, &type));
    CHECK_STR_EQ(type, "dist_async");
    CHECK_OK(MXKVStoreGetGroupSize(kv, &workers));
    CHECK(workers >= 2);
}

/* Without an updater each push replaces the value: a worker's pull after its own push
 * sees that push or a later one of another worker, never a sum. */
static void test_push_assigns_without_updater(void) {
    int key = 3;
    NDArrayHandle v = arr_fill(2, 2, 0.0f), g = arr_fill(2, 2, (float)(rank + 1));
    NDArrayHandle out = arr_fill(2, 2, -1.0f), first = arr_fill(2, 2, -1.0f);
    float got[4];
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    CHECK_OK(MXKVStorePush(kv, 1, &key, &g, 0));
    CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
    arr_read(out, got, 4);
    CHECK(got[0] >= 1.0f && got[0] <= (float)workers && got[0] == got[3]);
    CHECK_OK(MXKVStoreBarrier(kv));
    /* After everyone's pull every push has been applied: all workers see the same. */
    CHECK_OK(MXKVStorePull(kv, 1, &key, &first, 0));
    arr_read(first, got, 4);
    CHECK(got[0] >= 1.0f && got[0] <= (float)workers);
    CHECK_OK(MXKVStoreBarrier(kv));
    MXNDArrayFree(v);
    MXNDArrayFree(g);
    MXNDArrayFree(out);
    MXNDArrayFree(first);
}

/* With the server updater (local += 10 * recv) every push of every worker is applied. */
static void test_every_push_reaches_the_updater(void) {
    int key = 4, i;
    NDArrayHandle v = arr_fill(1, 8, 1.0f), g = arr_fill(1, 8, 1.0f);
    if (rank == 0) CHECK_OK(MXKVStoreSendCommmandToServers(kv, 0, "times10"));
    CHECK_OK(MXKVStoreBarrier(kv));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    for (i = 0; i < 3; i++) CHECK_OK(MXKVStorePush(kv, 1, &key, &g, 0));
    /* A pull comes after this worker's pushes; the barrier after every worker's. */
    CHECK_OK(MXKVStorePull(kv, 1, &key, &v, 0));
    CHECK_OK(MXKVStoreBarrier(kv));
    CHECK(key_equals(kv, 4, 1, 8, 1.0f + 10.0f * 3.0f * (float)workers));
    MXNDArrayFree(v);
    MXNDArrayFree(g);
}

int main(void) {
    kv = dist_start("dist_async", "0:times10\n");
    rank = worker_rank(kv);
    RUN(test_type_and_group);
    RUN(test_push_assigns_without_updater);
    RUN(test_every_push_reaches_the_updater);
    CHECK_OK(MXKVStoreFree(kv));
    return check_summary("test_dist_async");
}
