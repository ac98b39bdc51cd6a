/*
 * Store creation, type names, rank and roles, the no-op calls of a local store, and
 * versions (spec §2, §3; reference §1.3, §3.1).
 */
#include "util.h"

static void test_local_store_names(void) {
    static const char *names[] = {"local", "device", "local_allreduce_cpu", "LOCAL_Update_CPU",
                                  "local_allreduce_device", "horovod", "teststore"};
    static const char *lowered[] = {"local", "device", "local_allreduce_cpu", "local_update_cpu",
                                    "local_allreduce_device", "horovod", "teststore"};
    size_t i;
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        KVStoreHandle kv = NULL;
        const char *type1 = NULL, *type2 = NULL;
        int key = 1;
        NDArrayHandle v;
        CHECK_OK(MXKVStoreCreate(names[i], &kv));
        CHECK(kv != NULL);
        CHECK_OK(MXKVStoreGetType(kv, &type1));
        CHECK_STR_EQ(type1, lowered[i]);
        /* The pointer belongs to the store: the same one every time, still valid after
         * other calls. */
        v = arr_fill(2, 2, 3.0f);
        CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
        CHECK_OK(MXKVStoreGetType(kv, &type2));
        CHECK(type1 == type2);
        CHECK_STR_EQ(type1, lowered[i]);
        /* Every local name gives a working store. */
        CHECK(key_equals(kv, 1, 2, 2, 3.0f));
        CHECK_OK(MXNDArrayFree(v));
        CHECK_OK(MXKVStoreFree(kv));
    }
}

static void test_type_is_per_store(void) {
    KVStoreHandle a = NULL, b = NULL;
    const char *ta = NULL, *tb = NULL;
    CHECK_OK(MXKVStoreCreate("Local", &a));
    CHECK_OK(MXKVStoreCreate("DEVICE", &b));
    CHECK_OK(MXKVStoreGetType(a, &ta));
    CHECK_OK(MXKVStoreGetType(b, &tb));
    CHECK_STR_EQ(ta, "local");
    CHECK_STR_EQ(tb, "device");
    CHECK_OK(MXKVStoreFree(a));
    CHECK_OK(MXKVStoreGetType(b, &tb));
    CHECK_STR_EQ(tb, "device");
    CHECK_OK(MXKVStoreFree(b));
}

static void test_rank_and_group_size(void) {
    KVStoreHandle kv = NULL;
    int rank = -1, size = -1;
    CHECK_OK(MXKVStoreCreate("local", &kv));
    CHECK_OK(MXKVStoreGetRank(kv, &rank));
    CHECK_OK(MXKVStoreGetGroupSize(kv, &size));
    CHECK_EQ_INT(rank, 0);
    CHECK_EQ_INT(size, 1);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_node_roles(void) {
    int worker = -1, server = -1, scheduler = -1;
    unsetenv("DMLC_ROLE");
    CHECK_OK(MXKVStoreIsWorkerNode(&worker));
    CHECK_OK(MXKVStoreIsServerNode(&server));
    CHECK_OK(MXKVStoreIsSchedulerNode(&scheduler));
    CHECK_EQ_INT(worker, 1);
    CHECK_EQ_INT(server, 0);
    CHECK_EQ_INT(scheduler, 0);
}

static int controller_calls;

static void controller(int head, const char *body, void *handle) {
    (void)head;
    (void)body;
    (void)handle;
    controller_calls++;
}

static void test_noop_calls(void) {
    KVStoreHandle kv = NULL;
    int dead = -1;
    int key = 4;
    NDArrayHandle v = arr_fill(1, 3, 2.0f);
    CHECK_OK(MXKVStoreCreate("local", &kv));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    CHECK_OK(MXKVStoreBarrier(kv));
    CHECK_OK(MXKVStoreSendCommmandToServers(kv, 0, "learning_rate=0.1"));
    CHECK_OK(MXKVStoreSendCommmandToServers(kv, 5, ""));
    controller_calls = 0;
    CHECK_OK(MXKVStoreRunServer(kv, controller, NULL));
    CHECK_EQ_INT(controller_calls, 0);
    CHECK_OK(MXKVStoreGetNumDeadNode(kv, 0, &dead, 60));
    CHECK_EQ_INT(dead, 0);
    dead = -1;
    CHECK_OK(MXKVStoreGetNumDeadNode(kv, 7, &dead, 1));
    CHECK_EQ_INT(dead, 0);
    CHECK_OK(MXKVStoreSetBarrierBeforeExit(kv, 0));
    CHECK_OK(MXKVStoreSetBarrierBeforeExit(kv, 1));
    /* None of that touched the data. */
    CHECK(key_equals(kv, 4, 1, 3, 2.0f));
    CHECK_OK(MXNDArrayWaitAll());
    CHECK_OK(MXNDArrayWaitToRead(v));
    CHECK_OK(MXNDArrayWaitToWrite(v));
    CHECK_OK(MXNDArrayFree(v));
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_versions(void) {
    int v = -1, own = -1;
    CHECK_OK(MXGetVersion(&v));
    CHECK_EQ_INT(v, 10901);
    CHECK_OK(MXKVGetVersion(&own));
    CHECK_EQ_INT(own, MXKV_VERSION_MAJOR * 10000 + MXKV_VERSION_MINOR * 100 + MXKV_VERSION_PATCH);
    CHECK(MXKV_VERSION_MAJOR >= 0 && MXKV_VERSION_MINOR >= 0 && MXKV_VERSION_PATCH >= 0);
    CHECK(MXKV_VERSION_MINOR < 100 && MXKV_VERSION_PATCH < 100);
}

static void test_last_error_starts_empty(void) {
    const char *err = MXGetLastError();
    CHECK(err != NULL);
    CHECK_STR_EQ(err, "");
}

static void test_many_stores(void) {
    KVStoreHandle kv[16];
    int i;
    for (i = 0; i < 16; i++) {
        NDArrayHandle v = arr_fill(2, 2, (float)i);
        int key = 0;
        CHECK_OK(MXKVStoreCreate("local", &kv[i]));
        CHECK_OK(MXKVStoreInit(kv[i], 1, &key, &v));
        CHECK_OK(MXNDArrayFree(v));
    }
    /* Stores are independent: same key, own values. */
    for (i = 0; i < 16; i++) CHECK(key_equals(kv[i], 0, 2, 2, (float)i));
    for (i = 0; i < 16; i++) CHECK_OK(MXKVStoreFree(kv[i]));
}

int main(void) {
    RUN(test_last_error_starts_empty);
    RUN(test_local_store_names);
    RUN(test_type_is_per_store);
    RUN(test_rank_and_group_size);
    RUN(test_node_roles);
    RUN(test_noop_calls);
    RUN(test_versions);
    RUN(test_many_stores);
    CHECK_OK(MXNotifyShutdown());
    return check_summary("test_basics");
}
