/*
 * Bad input: every case returns -1, leaves a message starting "MXNetError: " that names
 * the problem, and changes nothing (spec §4.1, §4.2; reference §3.11). One function per
 * case; each ends by pulling the store's keys again.
 */
#include "util.h"

#include <pthread.h>
#include <unistd.h>

#ifndef MXKV_BUILD_DIR
#define MXKV_BUILD_DIR "build/c-tests"
#endif

#define R 2
#define C 3
#define N (R * C)

/* An int store with keys 3, 5, 7 holding 1, 2, 3 (shape R x C, float32). */
static KVStoreHandle int_store(void) {
    KVStoreHandle kv = NULL;
    int keys[3] = {3, 5, 7}, i;
    NDArrayHandle v[3];
    CHECK_OK(MXKVStoreCreate("local", &kv));
    for (i = 0; i < 3; i++) v[i] = arr_fill(R, C, (float)(i + 1));
    CHECK_OK(MXKVStoreInit(kv, 3, keys, v));
    for (i = 0; i < 3; i++) MXNDArrayFree(v[i]);
    return kv;
}

/* A string store with "w", "b", "c" holding 1, 2, 3. */
static KVStoreHandle str_store(void) {
    KVStoreHandle kv = NULL;
    const char *keys[3] = {"w", "b", "c"};
    NDArrayHandle v[3];
    int i;
    CHECK_OK(MXKVStoreCreate("local", &kv));
    for (i = 0; i < 3; i++) v[i] = arr_fill(R, C, (float)(i + 1));
    CHECK_OK(MXKVStoreInitEx(kv, 3, keys, v));
    for (i = 0; i < 3; i++) MXNDArrayFree(v[i]);
    return kv;
}

/* The int store still holds exactly 1, 2, 3; then free it. */
#define CHECK_INT_STORE_UNCHANGED_AND_FREE(kv)                                       \
    do {                                                                             \
        CHECK(key_equals((kv), 3, R, C, 1.0f));                                      \
        CHECK(key_equals((kv), 5, R, C, 2.0f));                                      \
        CHECK(key_equals((kv), 7, R, C, 3.0f));                                      \
        CHECK_OK(MXKVStoreFree(kv));                                                 \
    } while (0)

#define CHECK_STR_STORE_UNCHANGED_AND_FREE(kv)                                       \
    do {                                                                             \
        CHECK(skey_equals((kv), "w", R, C, 1.0f));                                   \
        CHECK(skey_equals((kv), "b", R, C, 2.0f));                                   \
        CHECK(skey_equals((kv), "c", R, C, 3.0f));                                   \
        CHECK_OK(MXKVStoreFree(kv));                                                 \
    } while (0)

/* ---- handles ----------------------------------------------------------------------- */

static void test_null_store_handle(void) {
    KVStoreHandle kv = int_store();
    int key = 3, rank = -1;
    const char *type = NULL;
    NDArrayHandle v = arr_fill(R, C, 9.0f);
    CHECK_FAIL(MXKVStorePush(NULL, 1, &key, &v, 0), "KVStore handle is NULL");
    CHECK_ERR_HAS("is NULL");
    CHECK_FAIL(MXKVStorePull(NULL, 1, &key, &v, 0), "KVStore handle is NULL");
    CHECK_FAIL(MXKVStoreInit(NULL, 1, &key, &v), "KVStore handle is NULL");
    CHECK_FAIL(MXKVStoreGetType(NULL, &type), "KVStore handle is NULL");
    CHECK_FAIL(MXKVStoreGetRank(NULL, &rank), "KVStore handle is NULL");
    CHECK_FAIL(MXKVStoreSetUpdater(NULL, NULL, NULL), "KVStore handle is NULL");
    CHECK_FAIL(MXKVStoreBarrier(NULL), "KVStore handle is NULL");
    CHECK(type == NULL);
    CHECK_EQ_INT(rank, -1);
    CHECK(arr_all_equal(v, N, 9.0f));
    CHECK_OK(MXNDArrayFree(v));
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
}

static void test_null_ndarray_handle(void) {
    KVStoreHandle kv = int_store();
    int keys[2] = {3, 5}, dtype = 77;
    NDArrayHandle vals[2];
    float buf[N];
    vals[0] = arr_fill(R, C, 9.0f);
    vals[1] = NULL;
    CHECK_FAIL(MXNDArrayGetDType(NULL, &dtype), "NDArray handle is NULL");
    CHECK_ERR_HAS("is NULL");
    CHECK_EQ_INT(dtype, 77);
    CHECK_FAIL(MXNDArraySyncCopyToCPU(NULL, buf, N), "NDArray handle is NULL");
    CHECK_FAIL(MXNDArraySyncCopyFromCPU(NULL, buf, N), "NDArray handle is NULL");
    CHECK_FAIL(MXNDArrayWaitToRead(NULL), "NDArray handle is NULL");
    /* A NULL among the values of a push or pull: the first value is not applied. */
    CHECK_FAIL(MXKVStorePush(kv, 2, keys, vals, 0), "NDArray handle is NULL");
    CHECK_FAIL(MXKVStorePull(kv, 2, keys, vals, 0), "NDArray handle is NULL");
    CHECK(arr_all_equal(vals[0], N, 9.0f));
    CHECK_FAIL(MXKVStoreInit(kv, 1, keys, &vals[1]), "NDArray handle is NULL");
    CHECK_OK(MXNDArrayFree(vals[0]));
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
}

static void test_use_after_free(void) {
    KVStoreHandle kv = int_store(), dead = NULL;
    int key = 3, dtype = 77, rank = -1;
    NDArrayHandle v = arr_fill(R, C, 9.0f), live = arr_fill(R, C, 0.0f);
    CHECK_OK(MXNDArrayFree(v));
    CHECK_FAIL(MXNDArrayGetDType(v, &dtype), "already freed");
    CHECK_EQ_INT(dtype, 77);
    CHECK_FAIL(MXKVStorePush(kv, 1, &key, &v, 0), "already freed");
    CHECK_FAIL(MXKVStorePull(kv, 1, &key, &v, 0), "already freed");
    CHECK_FAIL(MXNDArraySyncCopyFromNDArray(live, v, -1), "already freed");
    CHECK(arr_all_equal(live, N, 0.0f));
    /* A freed store. */
    CHECK_OK(MXKVStoreCreate("local", &dead));
    CHECK_OK(MXKVStoreFree(dead));
    CHECK_FAIL(MXKVStoreGetRank(dead, &rank), "already freed");
    CHECK_FAIL(MXKVStorePull(dead, 1, &key, &live, 0), "already freed");
    CHECK_EQ_INT(rank, -1);
    /* A new object allocated after the free does not make the old handle valid again. */
    {
        NDArrayHandle fresh = arr_fill(R, C, 4.0f);
        CHECK_FAIL(MXNDArrayGetDType(v, &dtype), "already freed");
        CHECK_OK(MXNDArrayFree(fresh));
    }
    CHECK_OK(MXNDArrayFree(live));
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
}

static void test_double_free(void) {
    KVStoreHandle kv = int_store(), other = NULL;
    NDArrayHandle v = arr_fill(R, C, 9.0f);
    CHECK_OK(MXNDArrayFree(v));
    CHECK_FAIL(MXNDArrayFree(v), "already freed");
    CHECK_OK(MXKVStoreCreate("local", &other));
    CHECK_OK(MXKVStoreFree(other));
    CHECK_FAIL(MXKVStoreFree(other), "already freed");
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
}

/* Freeing NULL succeeds and does nothing, as free(NULL) and MXNet do (reference §1.2):
 * cleanup code that frees a handle whose creation failed sees 0, and the last error
 * message is the one of the failed creation. */
static void test_free_null(void) {
    KVStoreHandle kv = NULL;
    NDArrayHandle v = NULL;
    mx_uint shape[1] = {2};
    CHECK_FAIL(MXKVStoreCreate("nccl", &kv), "USE_NCCL");
    CHECK_FAIL(MXNDArrayCreateEx(shape, 1, 2, 0, 0, 0, &v), "gpu");
    CHECK(kv == NULL && v == NULL);
    CHECK_EQ_INT(MXNDArrayFree(v), 0);
    CHECK_EQ_INT(MXKVStoreFree(kv), 0);
    CHECK_ERR_HAS("gpu");
    /* Still no free of a NULL handle that a function needs. */
    CHECK_FAIL(MXNDArrayWaitToRead(NULL), "NDArray handle is NULL");
    CHECK_FAIL(MXKVStoreBarrier(NULL), "KVStore handle is NULL");
}

static void test_foreign_pointer(void) {
    KVStoreHandle kv = int_store();
    int stack_int = 12345, key = 3, dtype = 77, rank = -1;
    NDArrayHandle foreign = (NDArrayHandle)&stack_int;
    CHECK_FAIL(MXNDArrayGetDType(foreign, &dtype), "is not an NDArray handle");
    CHECK_FAIL(MXNDArrayFree(foreign), "not an");
    CHECK_FAIL(MXKVStorePush(kv, 1, &key, &foreign, 0), "not an");
    CHECK_FAIL(MXKVStoreGetRank((KVStoreHandle)&stack_int, &rank), "not an");
    CHECK_FAIL(MXKVStoreFree((KVStoreHandle)&stack_int), "not an");
    CHECK_EQ_INT(stack_int, 12345);
    CHECK_EQ_INT(dtype, 77);
    CHECK_EQ_INT(rank, -1);
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
}

static void test_store_handle_as_ndarray(void) {
    KVStoreHandle kv = int_store();
    int key = 3, dtype = 77;
    NDArrayHandle wrong = (NDArrayHandle)kv;
    CHECK_FAIL(MXNDArrayGetDType(wrong, &dtype), "expected an NDArray handle, but got a KVStore handle");
    CHECK_FAIL(MXNDArrayFree(wrong), "expected an NDArray handle, but got a KVStore handle");
    CHECK_FAIL(MXKVStorePush(kv, 1, &key, &wrong, 0), "expected an NDArray handle, but got a KVStore handle");
    CHECK_FAIL(MXKVStorePull(kv, 1, &key, &wrong, 0), "expected an NDArray handle, but got a KVStore handle");
    CHECK_EQ_INT(dtype, 77);
    /* The store survived being offered to MXNDArrayFree. */
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
}

static void test_ndarray_handle_as_store(void) {
    KVStoreHandle kv = int_store();
    NDArrayHandle v = arr_fill(R, C, 9.0f);
    int key = 3, rank = -1;
    CHECK_FAIL(MXKVStoreGetRank((KVStoreHandle)v, &rank), "but got a NDArray handle");
    CHECK_FAIL(MXKVStorePush((KVStoreHandle)v, 1, &key, &v, 0), "but got a NDArray handle");
    CHECK_FAIL(MXKVStoreFree((KVStoreHandle)v), "but got a NDArray handle");
    CHECK_EQ_INT(rank, -1);
    /* The array survived being offered to MXKVStoreFree. */
    CHECK(arr_all_equal(v, N, 9.0f));
    CHECK_OK(MXNDArrayFree(v));
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
}

/* ---- NULL arrays and out pointers ----------------------------------------------------- */

static void test_null_key_and_value_arrays(void) {
    KVStoreHandle kv = int_store(), skv = str_store();
    int key = 3;
    const char *skey = "w", *null_key[1] = {NULL};
    NDArrayHandle v = arr_fill(R, C, 9.0f);
    CHECK_FAIL(MXKVStorePush(kv, 1, NULL, &v, 0), "is NULL");
    CHECK_FAIL(MXKVStorePush(kv, 1, &key, NULL, 0), "is NULL");
    CHECK_FAIL(MXKVStorePull(kv, 1, NULL, &v, 0), "is NULL");
    CHECK_FAIL(MXKVStorePull(kv, 1, &key, NULL, 0), "is NULL");
    CHECK_FAIL(MXKVStoreInit(kv, 1, NULL, &v), "is NULL");
    CHECK_FAIL(MXKVStorePushPull(kv, 1, &key, 1, NULL, &v, &v, 0), "is NULL");
    CHECK_FAIL(MXKVStorePushPull(kv, 1, &key, 1, &key, &v, NULL, 0), "is NULL");
    CHECK_FAIL(MXKVStoreBroadcast(kv, 1, &key, 1, &key, NULL, &v, 0), "is NULL");
    CHECK_FAIL(MXKVStorePushEx(skv, 1, NULL, &v, 0), "is NULL");
    CHECK_FAIL(MXKVStorePullEx(skv, 1, &skey, NULL, 0), "is NULL");
    /* A NULL string inside the key list. */
    CHECK_FAIL(MXKVStorePushEx(skv, 1, null_key, &v, 0), "is NULL");
    CHECK_FAIL(MXKVStoreInitEx(skv, 1, null_key, &v), "is NULL");
    CHECK(arr_all_equal(v, N, 9.0f));
    CHECK_OK(MXNDArrayFree(v));
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
    CHECK_STR_STORE_UNCHANGED_AND_FREE(skv);
}

static void test_null_out_pointers(void) {
    KVStoreHandle kv = int_store();
    NDArrayHandle v = arr_fill(R, C, 9.0f);
    mx_uint shape[2] = {R, C};
    int ndim = -1, dtype = -1;
    const int *pdata = NULL;
    CHECK_FAIL(MXKVStoreCreate("local", NULL), "is NULL");
    CHECK_FAIL(MXKVStoreGetType(kv, NULL), "is NULL");
    CHECK_FAIL(MXKVStoreGetRank(kv, NULL), "is NULL");
    CHECK_FAIL(MXKVStoreGetGroupSize(kv, NULL), "is NULL");
    CHECK_FAIL(MXKVStoreGetNumDeadNode(kv, 0, NULL, 60), "is NULL");
    CHECK_FAIL(MXKVStoreIsWorkerNode(NULL), "is NULL");
    CHECK_FAIL(MXKVStoreIsServerNode(NULL), "is NULL");
    CHECK_FAIL(MXKVStoreIsSchedulerNode(NULL), "is NULL");
    CHECK_FAIL(MXGetVersion(NULL), "is NULL");
    CHECK_FAIL(MXKVGetVersion(NULL), "is NULL");
    CHECK_FAIL(MXNDArrayCreateNone(NULL), "is NULL");
    CHECK_FAIL(MXNDArrayCreateEx(shape, 2, 1, 0, 0, 0, NULL), "is NULL");
    CHECK_FAIL(MXNDArrayCreateEx(NULL, 2, 1, 0, 0, 0, &v), "is NULL");
    CHECK_FAIL(MXNDArrayGetShapeEx(v, NULL, &pdata), "is NULL");
    CHECK_FAIL(MXNDArrayGetShapeEx(v, &ndim, NULL), "is NULL");
    CHECK_FAIL(MXNDArrayGetDType(v, NULL), "is NULL");
    CHECK_FAIL(MXNDArrayGetContext(v, NULL, &dtype), "is NULL");
    CHECK_FAIL(MXNDArrayGetData(v, NULL), "is NULL");
    CHECK_FAIL(MXNDArrayGetStorageType(v, NULL), "is NULL");
    CHECK_FAIL(MXNDArraySyncCopyToCPU(v, NULL, N), "is NULL");
    CHECK_FAIL(MXNDArraySyncCopyFromCPU(v, NULL, N), "is NULL");
    CHECK_FAIL(MXNDArraySlice(v, 0, 1, NULL), "is NULL");
    CHECK_FAIL(MXNDArrayAt(v, 0, NULL), "is NULL");
    {
        size_t len = 0;
        const char *buf = NULL;
        CHECK_FAIL(MXNDArraySaveRawBytes(v, NULL, &buf), "is NULL");
        CHECK_FAIL(MXNDArraySaveRawBytes(v, &len, NULL), "is NULL");
    }
    CHECK_FAIL(MXNDArrayLoadFromRawBytes(NULL, 10, &v), "is NULL");
    CHECK_EQ_INT(ndim, -1);
    /* v is still the array made above. */
    CHECK(arr_all_equal(v, N, 9.0f));
    CHECK_OK(MXNDArrayFree(v));
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
}

/* ---- store types ------------------------------------------------------------------- */

static void test_null_type_name(void) {
    KVStoreHandle kv = (KVStoreHandle)0x1;
    CHECK_FAIL(MXKVStoreCreate(NULL, &kv), "is NULL");
    CHECK(kv == (KVStoreHandle)0x1);
}

static void test_nccl_store(void) {
    KVStoreHandle kv = (KVStoreHandle)0x1;
    CHECK_FAIL(MXKVStoreCreate("nccl", &kv), "compile with USE_NCCL=1 to use nccl");
    CHECK(kv == (KVStoreHandle)0x1);
    CHECK_FAIL(MXKVStoreCreate("Local_NCCL", &kv), "nccl");
    CHECK(kv == (KVStoreHandle)0x1);
}

static void test_dist_store_without_cluster(void) {
    KVStoreHandle kv = (KVStoreHandle)0x1, local = NULL;
    CHECK_FAIL(MXKVStoreCreate("dist_sync", &kv), "dist_sync");
    CHECK(kv == (KVStoreHandle)0x1);
    /* A second attempt fails the same way instead of hanging (reference §3.11). */
    CHECK_FAIL(MXKVStoreCreate("dist_sync", &kv), "dist_sync");
    /* And local stores still work. */
    CHECK_OK(MXKVStoreCreate("local", &local));
    CHECK_OK(MXKVStoreFree(local));
}

/* ---- keys ------------------------------------------------------------------------------ */

static void test_duplicate_init_across_calls(void) {
    KVStoreHandle kv = int_store(), skv = str_store();
    int key = 5;
    const char *skey = "b";
    NDArrayHandle v = arr_fill(R, C, 9.0f), out = arr_fill(R, C, -1.0f);
    CHECK_FAIL(MXKVStoreInit(kv, 1, &key, &v), "duplicate init of key 5");
    CHECK_FAIL(MXKVStoreBroadcast(kv, 1, &key, 1, &key, &v, &out, 0), "duplicate init of key 5");
    CHECK(arr_all_equal(out, N, -1.0f));
    CHECK_FAIL(MXKVStoreInitEx(skv, 1, &skey, &v), "duplicate init of key b");
    CHECK_FAIL(MXKVStoreBroadcastEx(skv, 1, &skey, 1, &skey, &v, &out, 0), "duplicate init of key b");
    CHECK(arr_all_equal(out, N, -1.0f));
    CHECK_OK(MXNDArrayFree(v));
    CHECK_OK(MXNDArrayFree(out));
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
    CHECK_STR_STORE_UNCHANGED_AND_FREE(skv);
}

static void test_duplicate_init_within_call(void) {
    KVStoreHandle kv = int_store(), skv = str_store();
    int keys[3] = {11, 12, 11};
    const char *skeys[2] = {"x", "x"};
    NDArrayHandle v[3];
    int i;
    for (i = 0; i < 3; i++) v[i] = arr_fill(R, C, (float)(10 + i));
    CHECK_FAIL(MXKVStoreInit(kv, 3, keys, v), "duplicate init of key 11");
    /* Nothing of the call was applied: 11 and 12 are free and can be initialised. */
    CHECK_FAIL(MXKVStorePull(kv, 1, &keys[1], v, 0), "key 12 has not been inited");
    CHECK_OK(MXKVStoreInit(kv, 2, keys, v));
    CHECK(key_equals(kv, 11, R, C, 10.0f));
    CHECK(key_equals(kv, 12, R, C, 11.0f));
    CHECK_FAIL(MXKVStoreInitEx(skv, 2, skeys, v), "duplicate init of key x");
    CHECK_FAIL(MXKVStorePullEx(skv, 1, skeys, v, 0), "key x doesn't exist. Did you init?");
    CHECK_OK(MXKVStoreInitEx(skv, 1, skeys, &v[2]));
    CHECK(skey_equals(skv, "x", R, C, 12.0f));
    for (i = 0; i < 3; i++) CHECK_OK(MXNDArrayFree(v[i]));
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
    CHECK_STR_STORE_UNCHANGED_AND_FREE(skv);
}

static void test_bad_key_in_middle_of_init(void) {
    KVStoreHandle kv = int_store();
    int keys[4] = {20, 21, 3, 22};
    NDArrayHandle v[4];
    int i;
    for (i = 0; i < 4; i++) v[i] = arr_fill(R, C, (float)(20 + i));
    CHECK_FAIL(MXKVStoreInit(kv, 4, keys, v), "duplicate init of key 3");
    CHECK_FAIL(MXKVStorePull(kv, 1, &keys[0], v, 0), "key 20 has not been inited");
    CHECK(arr_all_equal(v[0], N, 20.0f));
    /* The keys before the bad one can be initialised exactly as before. */
    keys[2] = 22;
    CHECK_OK(MXKVStoreInit(kv, 3, keys, v));
    CHECK(key_equals(kv, 20, R, C, 20.0f));
    CHECK(key_equals(kv, 21, R, C, 21.0f));
    CHECK(key_equals(kv, 22, R, C, 22.0f));
    for (i = 0; i < 4; i++) CHECK_OK(MXNDArrayFree(v[i]));
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
}

static int updater_calls;

static void counting_updater(int key, NDArrayHandle recv, NDArrayHandle local, void *handle) {
    (void)key;
    (void)handle;
    updater_calls++;
    MXNDArrayFree(recv);
    MXNDArrayFree(local);
}

static void test_bad_key_in_middle_of_push(void) {
    KVStoreHandle kv = int_store();
    int keys[3] = {3, 99, 5}, good[2] = {3, 5};
    NDArrayHandle v[3];
    int i;
    for (i = 0; i < 3; i++) v[i] = arr_fill(R, C, (float)(30 + i));
    CHECK_FAIL(MXKVStorePush(kv, 3, keys, v, 0), "key 99 has not been inited");
    CHECK(key_equals(kv, 3, R, C, 1.0f));
    CHECK(key_equals(kv, 5, R, C, 2.0f));
    /* With an updater: not called for any key. */
    updater_calls = 0;
    CHECK_OK(MXKVStoreSetUpdater(kv, counting_updater, NULL));
    CHECK_FAIL(MXKVStorePush(kv, 3, keys, v, 0), "key 99 has not been inited");
    CHECK_FAIL(MXKVStorePushPull(kv, 3, keys, 3, keys, v, v, 0), "key 99 has not been inited");
    CHECK_EQ_INT(updater_calls, 0);
    CHECK(arr_all_equal(v[0], N, 30.0f));
    CHECK_OK(MXKVStoreSetUpdater(kv, NULL, NULL));
    CHECK(key_equals(kv, 3, R, C, 1.0f));
    CHECK(key_equals(kv, 5, R, C, 2.0f));
    /* The good keys are pushable as before. */
    {
        NDArrayHandle gv[2];
        gv[0] = v[0];
        gv[1] = v[2];
        CHECK_OK(MXKVStorePush(kv, 2, good, gv, 0));
        CHECK(key_equals(kv, 3, R, C, 30.0f));
        CHECK(key_equals(kv, 5, R, C, 32.0f));
    }
    for (i = 0; i < 3; i++) CHECK_OK(MXNDArrayFree(v[i]));
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_bad_key_in_middle_of_pull(void) {
    KVStoreHandle kv = int_store();
    int keys[3] = {3, 99, 5};
    NDArrayHandle out[3];
    int i;
    for (i = 0; i < 3; i++) out[i] = arr_fill(R, C, -1.0f);
    CHECK_FAIL(MXKVStorePull(kv, 3, keys, out, 0), "key 99 has not been inited");
    /* No output was written. */
    for (i = 0; i < 3; i++) CHECK(arr_all_equal(out[i], N, -1.0f));
    for (i = 0; i < 3; i++) CHECK_OK(MXNDArrayFree(out[i]));
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
}

static void test_push_pull_uninitialised_key(void) {
    KVStoreHandle kv = int_store();
    int key = 42;
    NDArrayHandle v = arr_fill(R, C, 4.0f), out = arr_fill(R, C, -1.0f);
    CHECK_FAIL(MXKVStorePush(kv, 1, &key, &v, 0), "key 42 has not been inited");
    CHECK_FAIL(MXKVStorePull(kv, 1, &key, &out, 0), "key 42 has not been inited");
    CHECK_FAIL(MXKVStorePushPull(kv, 1, &key, 1, &key, &v, &out, 0), "key 42 has not been inited");
    CHECK(arr_all_equal(out, N, -1.0f));
    /* Not poisoned: Init works afterwards (reference §3.4 item 4 is what we avoid). */
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    CHECK(key_equals(kv, 42, R, C, 4.0f));
    /* Same with an updater set. */
    key = 43;
    updater_calls = 0;
    CHECK_OK(MXKVStoreSetUpdater(kv, counting_updater, NULL));
    CHECK_FAIL(MXKVStorePush(kv, 1, &key, &v, 0), "key 43 has not been inited");
    CHECK_EQ_INT(updater_calls, 0);
    CHECK_OK(MXKVStoreSetUpdater(kv, NULL, NULL));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    CHECK(key_equals(kv, 43, R, C, 4.0f));
    CHECK_OK(MXNDArrayFree(v));
    CHECK_OK(MXNDArrayFree(out));
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
}

static void test_multi_value_push_uninitialised_key(void) {
    KVStoreHandle kv = int_store();
    int keys[3] = {42, 42, 42};
    NDArrayHandle v[3];
    int i;
    for (i = 0; i < 3; i++) v[i] = arr_fill(R, C, 1.0f);
    /* MXNet 1.9.1 crashes here (reference §3.4 item 4). */
    CHECK_FAIL(MXKVStorePush(kv, 3, keys, v, 0), "key 42 has not been inited");
    CHECK_OK(MXKVStoreInit(kv, 1, keys, v));
    CHECK(key_equals(kv, 42, R, C, 1.0f));
    for (i = 0; i < 3; i++) CHECK_OK(MXNDArrayFree(v[i]));
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
}

static void test_mixed_key_types_int_then_string(void) {
    KVStoreHandle kv = int_store();
    const char *skey = "w";
    NDArrayHandle v = arr_fill(R, C, 9.0f);
    CHECK_FAIL(MXKVStoreInitEx(kv, 1, &skey, &v), "Mixed key types are not allowed");
    CHECK_FAIL(MXKVStorePushEx(kv, 1, &skey, &v, 0), "Mixed key types are not allowed");
    CHECK_FAIL(MXKVStorePullEx(kv, 1, &skey, &v, 0), "Mixed key types are not allowed");
    CHECK_FAIL(MXKVStoreBroadcastEx(kv, 1, &skey, 1, &skey, &v, &v, 0), "Mixed key types");
    CHECK_FAIL(MXKVStorePushPullEx(kv, 1, &skey, 1, &skey, &v, &v, 0), "Mixed key types");
    CHECK(arr_all_equal(v, N, 9.0f));
    CHECK_OK(MXNDArrayFree(v));
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
}

static void test_mixed_key_types_string_then_int(void) {
    KVStoreHandle kv = str_store();
    int key = 0;
    NDArrayHandle v = arr_fill(R, C, 9.0f);
    /* Key 0 is "w"'s internal index, but int calls are refused all the same. */
    CHECK_FAIL(MXKVStoreInit(kv, 1, &key, &v), "Mixed key types are not allowed");
    CHECK_FAIL(MXKVStorePush(kv, 1, &key, &v, 0), "Mixed key types are not allowed");
    CHECK_FAIL(MXKVStorePull(kv, 1, &key, &v, 0), "Mixed key types are not allowed");
    CHECK_FAIL(MXKVStoreBroadcast(kv, 1, &key, 1, &key, &v, &v, 0), "Mixed key types");
    CHECK(arr_all_equal(v, N, 9.0f));
    CHECK_OK(MXNDArrayFree(v));
    CHECK_STR_STORE_UNCHANGED_AND_FREE(kv);
}

static void test_failed_first_call_does_not_fix_key_type(void) {
    KVStoreHandle kv = NULL;
    int keys[2] = {1, 1}, key = 1;
    const char *skey = "s";
    NDArrayHandle v = arr_fill(R, C, 9.0f);
    CHECK_OK(MXKVStoreCreate("local", &kv));
    /* A failed int-key call (duplicate within the call) is no "successful keyed call". */
    {
        NDArrayHandle vv[2];
        vv[0] = v;
        vv[1] = v;
        CHECK_FAIL(MXKVStoreInit(kv, 2, keys, vv), "duplicate init of key 1");
    }
    CHECK_OK(MXKVStoreInitEx(kv, 1, &skey, &v));
    CHECK(skey_equals(kv, "s", R, C, 9.0f));
    CHECK_FAIL(MXKVStorePull(kv, 1, &key, &v, 0), "Mixed key types");
    CHECK_OK(MXNDArrayFree(v));
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_unknown_string_key(void) {
    KVStoreHandle kv = str_store();
    const char *keys[3] = {"w", "nope", "b"};
    NDArrayHandle v[3];
    int i;
    for (i = 0; i < 3; i++) v[i] = arr_fill(R, C, 50.0f);
    CHECK_FAIL(MXKVStorePushEx(kv, 3, keys, v, 0), "key nope doesn't exist. Did you init?");
    CHECK_FAIL(MXKVStorePullEx(kv, 3, keys, v, 0), "key nope doesn't exist. Did you init?");
    CHECK_FAIL(MXKVStorePushPullEx(kv, 3, keys, 3, keys, v, v, 0), "key nope doesn't exist");
    for (i = 0; i < 3; i++) CHECK(arr_all_equal(v[i], N, 50.0f));
    /* The unknown key was not registered by the failed calls. */
    CHECK_FAIL(MXKVStorePullEx(kv, 1, &keys[1], v, 0), "key nope doesn't exist");
    for (i = 0; i < 3; i++) CHECK_OK(MXNDArrayFree(v[i]));
    CHECK_STR_STORE_UNCHANGED_AND_FREE(kv);
}

/* ---- shapes and dtypes --------------------------------------------------------------- */

static void test_shape_mismatch_push(void) {
    KVStoreHandle kv = int_store();
    int key = 3, keys2[2] = {5, 5};
    NDArrayHandle wrong = arr_fill(3, 3, 9.0f), ok = arr_fill(R, C, 9.0f), transposed = arr_fill(C, R, 9.0f);
    NDArrayHandle two[2];
    /* A single pushed array must match too (spec §4.4). */
    CHECK_FAIL(MXKVStorePush(kv, 1, &key, &wrong, 0), "operands shape mismatch");
    /* MXNet's order: from is the pushed value, to is the key's. */
    CHECK_ERR_HAS("from.shape = [3,3] to.shape=[2,3]");
    /* Same element count, other shape. */
    CHECK_FAIL(MXKVStorePush(kv, 1, &key, &transposed, 0), "operands shape mismatch");
    two[0] = ok;
    two[1] = wrong;
    CHECK_FAIL(MXKVStorePush(kv, 2, keys2, two, 0), "operands shape mismatch");
    CHECK_FAIL(MXKVStorePushPull(kv, 2, keys2, 1, keys2, two, &ok, 0), "operands shape mismatch");
    CHECK(arr_all_equal(ok, N, 9.0f));
    CHECK_OK(MXNDArrayFree(wrong));
    CHECK_OK(MXNDArrayFree(ok));
    CHECK_OK(MXNDArrayFree(transposed));
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
}

static void test_shape_mismatch_pull(void) {
    KVStoreHandle kv = int_store();
    int keys[2] = {3, 5};
    NDArrayHandle outs[2];
    outs[0] = arr_fill(R, C, -1.0f);
    outs[1] = arr_fill(C, R, -1.0f);
    CHECK_FAIL(MXKVStorePull(kv, 2, keys, outs, 0), "operands shape mismatch");
    CHECK(arr_all_equal(outs[0], N, -1.0f));
    CHECK(arr_all_equal(outs[1], N, -1.0f));
    CHECK_FAIL(MXKVStorePull(kv, 1, &keys[1], &outs[1], 0), "operands shape mismatch");
    /* MXNet's order: from is the stored value, to is the output. */
    CHECK_ERR_HAS("from.shape = [2,3] to.shape=[3,2]");
    CHECK_FAIL(MXKVStorePushPull(kv, 1, &keys[0], 1, &keys[1], &outs[0], &outs[1], 0),
               "from.shape = [2,3] to.shape=[3,2]");
    CHECK_FAIL(MXKVStoreBroadcast(kv, 0, NULL, 1, &keys[1], NULL, &outs[1], 0),
               "from.shape = [2,3] to.shape=[3,2]");
    CHECK_OK(MXNDArrayFree(outs[0]));
    CHECK_OK(MXNDArrayFree(outs[1]));
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
}

static void test_unknown_dtype(void) {
    mx_uint shape[1] = {4};
    int64_t shape64[1] = {4};
    NDArrayHandle h = NULL;
    CHECK_FAIL(MXNDArrayCreateEx(shape, 1, 1, 0, 0, 13, &h), "unknown dtype code");
    CHECK_ERR_HAS("13");
    CHECK(h == NULL);
    CHECK_FAIL(MXNDArrayCreateEx(shape, 1, 1, 0, 0, -2, &h), "unknown dtype code");
    CHECK_ERR_HAS("-2");
    CHECK_FAIL(MXNDArrayCreateEx64(shape64, 1, 1, 0, 0, 99, &h), "unknown dtype code");
    CHECK(h == NULL);
}

static void test_gpu_context(void) {
    mx_uint shape[1] = {4};
    NDArrayHandle h = NULL;
    CHECK_FAIL(MXNDArrayCreateEx(shape, 1, 2, 0, 0, 0, &h), "gpu");
    CHECK_FAIL(MXNDArrayCreate(shape, 1, 2, 1, 0, &h), "gpu");
    CHECK(h == NULL);
}

static void test_bad_dev_type(void) {
    mx_uint shape[1] = {4};
    int bad[3] = {0, 4, 99}, i;
    NDArrayHandle h = NULL;
    for (i = 0; i < 3; i++) {
        CHECK_FAIL(MXNDArrayCreateEx(shape, 1, bad[i], 0, 0, 0, &h), "unknown dev_type");
        CHECK(h == NULL);
    }
    CHECK_ERR_HAS("99");
}

static void test_dev_id_out_of_range(void) {
    mx_uint shape[1] = {4};
    int64_t shape64[1] = {4};
    NDArrayHandle h = NULL;
    CHECK_FAIL(MXNDArrayCreateEx(shape, 1, 1, 64, 0, 0, &h), "dev_id 64 is out of range");
    CHECK_FAIL(MXNDArrayCreateEx64(shape64, 1, 3, -1, 0, 0, &h), "dev_id -1");
    CHECK_FAIL(MXNDArrayCreate(shape, 1, 5, 1000, 0, &h), "dev_id 1000");
    CHECK(h == NULL);
}

static void test_shape_overflow(void) {
    int64_t big64[3] = {(int64_t)1 << 31, (int64_t)1 << 31, (int64_t)1 << 31};
    int64_t huge[2] = {(int64_t)1 << 20, (int64_t)1 << 20};
    int64_t negative[2] = {4, -3};
    mx_uint big32[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
    NDArrayHandle h = NULL;
    CHECK_FAIL(MXNDArrayCreateEx64(big64, 3, 1, 0, 0, 0, &h), "too many elements");
    CHECK_FAIL(MXNDArrayCreate(big32, 3, 1, 0, 0, &h), "too many elements");
    CHECK_FAIL(MXNDArrayCreateEx(big32, 3, 1, 0, 1, DT_F64, &h), "too many elements");
    /* 2^40 float32 (4 TiB): no overflow, but far beyond memory. Refused, not aborted. */
    CHECK_FAIL(MXNDArrayCreateEx64(huge, 2, 1, 0, 0, 0, &h), "memory");
    CHECK_FAIL(MXNDArrayCreateEx64(negative, 2, 1, 0, 0, 0, &h), "-3");
    CHECK(h == NULL);
}

static void test_sync_copy_size_mismatch(void) {
    NDArrayHandle h = arr_fill(R, C, 7.0f);
    float buf[N + 1] = {1, 1, 1, 1, 1, 1, 1};
    CHECK_FAIL(MXNDArraySyncCopyFromCPU(h, buf, N - 1), "Memory size do not match");
    CHECK_FAIL(MXNDArraySyncCopyFromCPU(h, buf, N + 1), "Memory size do not match");
    CHECK(arr_all_equal(h, N, 7.0f));
    buf[0] = -5.0f;
    CHECK_FAIL(MXNDArraySyncCopyToCPU(h, buf, N - 1), "Memory size do not match");
    CHECK_EQ_DBL(buf[0], -5.0f);
    /* Between arrays of different shapes. */
    {
        NDArrayHandle other = arr_fill(C, C, 3.0f);
        CHECK_FAIL(MXNDArraySyncCopyFromNDArray(h, other, -1), "shape");
        CHECK(arr_all_equal(h, N, 7.0f));
        CHECK_OK(MXNDArrayFree(other));
    }
    CHECK_OK(MXNDArrayFree(h));
}

static NDArrayHandle rows4(void) { return arr_fill(4, 3, 1.0f); }

static void test_slice_out_of_range(void) {
    NDArrayHandle h = rows4(), s = NULL;
    CHECK_FAIL(MXNDArraySlice(h, 2, 5, &s), "out of range");
    CHECK_FAIL(MXNDArraySlice(h, 3, 1, &s), "out of range");
    CHECK_FAIL(MXNDArraySlice(h, 5, 6, &s), "out of range");
    CHECK_FAIL(MXNDArraySlice64(h, -1, 2, &s), "negative");
    CHECK_FAIL(MXNDArraySlice64(h, 0, (int64_t)1 << 40, &s), "out of range");
    CHECK(s == NULL);
    CHECK(arr_all_equal(h, 12, 1.0f));
    CHECK_OK(MXNDArrayFree(h));
}

static void test_at_out_of_range(void) {
    NDArrayHandle h = rows4(), a = NULL;
    CHECK_FAIL(MXNDArrayAt(h, 4, &a), "out of range");
    CHECK_FAIL(MXNDArrayAt(h, 0xffffffffu, &a), "out of range");
    CHECK_FAIL(MXNDArrayAt64(h, -1, &a), "-1");
    CHECK(a == NULL);
    CHECK_OK(MXNDArrayFree(h));
}

static void test_reshape_bad(void) {
    NDArrayHandle h = rows4(), r = NULL;
    int bigger[2] = {5, 5}, smaller[2] = {2, 3}, two_infer[2] = {-1, -1}, zero_dim[3] = {0, 0, 0};
    dim_t bad64[2] = {7, -1};
    CHECK_FAIL(MXNDArrayReshape(h, 2, bigger, &r), "cannot reshape");
    CHECK_ERR_HAS("[5,5]");
    CHECK_FAIL(MXNDArrayReshape(h, 2, smaller, &r), "cannot reshape");
    CHECK_FAIL(MXNDArrayReshape(h, 2, two_infer, &r), "only one dimension can be -1");
    CHECK_FAIL(MXNDArrayReshape64(h, 2, bad64, false, &r), "cannot be inferred");
    /* 0 copies an input dimension that does not exist. */
    CHECK_FAIL(MXNDArrayReshape(h, 3, zero_dim, &r), "no matching dimension");
    CHECK(r == NULL);
    CHECK(arr_all_equal(h, 12, 1.0f));
    CHECK_OK(MXNDArrayFree(h));
}

/* ---- files and bytes ---------------------------------------------------------------- */

static void test_load_missing_file(void) {
    mx_uint n = 99, nn = 99;
    NDArrayHandle *arrs = NULL;
    const char **names = NULL;
    CHECK_FAIL(MXNDArrayLoad(MXKV_BUILD_DIR "/no_such_file.params", &n, &arrs, &nn, &names),
               "no_such_file.params");
    CHECK_FAIL(MXNDArrayLoad(NULL, &n, &arrs, &nn, &names), "is NULL");
}

static void test_load_bad_file(void) {
    const char *path = MXKV_BUILD_DIR "/garbage.params";
    const char *trunc_path = MXKV_BUILD_DIR "/truncated.params";
    mx_uint n = 0, nn = 0;
    NDArrayHandle *arrs = NULL, h = arr_fill(R, C, 5.0f);
    const char **names = NULL, *name = "h";
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs("this is not an ndarray file at all, just some text", f);
        fclose(f);
    }
    CHECK_FAIL(MXNDArrayLoad(path, &n, &arrs, &nn, &names), "not an MXNet array file");
    /* A valid file cut short. */
    CHECK_OK(MXNDArraySave(trunc_path, 1, &h, &name));
    CHECK(truncate(trunc_path, 60) == 0);
    CHECK_FAIL(MXNDArrayLoad(trunc_path, &n, &arrs, &nn, &names), "truncated");
    CHECK_OK(MXNDArrayFree(h));
}

static void test_load_raw_bytes_garbage(void) {
    unsigned char garbage[64];
    NDArrayHandle out = NULL;
    int i;
    for (i = 0; i < 64; i++) garbage[i] = (unsigned char)(i * 73 + 11);
    CHECK_FAIL(MXNDArrayLoadFromRawBytes(garbage, sizeof garbage, &out), "bad array magic");
    CHECK_FAIL(MXNDArrayLoadFromRawBytes(garbage, 0, &out), "truncated");
    CHECK(out == NULL);
}

static void test_load_raw_bytes_truncated(void) {
    NDArrayHandle h = arr_fill(R, C, 5.0f), out = NULL;
    size_t len = 0, cut;
    const char *buf = NULL;
    char *copy;
    CHECK_OK(MXNDArraySaveRawBytes(h, &len, &buf));
    CHECK(len > 8);
    if (len <= 8) return;
    copy = (char *)malloc(len);
    memcpy(copy, buf, len);
    /* Every proper prefix is refused. */
    for (cut = 1; cut < len; cut += (cut < 40 ? 1 : 7)) {
        out = NULL;
        if (MXNDArrayLoadFromRawBytes(copy, cut, &out) != -1 || out != NULL) {
            fprintf(stderr, "    prefix of %zu of %zu bytes was accepted\n", cut, len);
            CHECK(!"truncated raw bytes refused");
            if (out) MXNDArrayFree(out);
            break;
        }
    }
    CHECK_FAIL(MXNDArrayLoadFromRawBytes(copy, len - 1, &out), "truncated");
    /* Corrupt dtype code. */
    copy[len - N * 4 - 4] = 77;
    CHECK_FAIL(MXNDArrayLoadFromRawBytes(copy, len, &out), "unknown dtype code 77");
    CHECK(out == NULL);
    free(copy);
    CHECK_OK(MXNDArrayFree(h));
}

static void test_save_bad_args(void) {
    NDArrayHandle h = arr_fill(R, C, 5.0f);
    const char *name = "h";
    CHECK_FAIL(MXNDArraySave(MXKV_BUILD_DIR "/x.params", 2, NULL, NULL), "is NULL");
    CHECK_FAIL(MXNDArraySave(NULL, 1, &h, &name), "is NULL");
    CHECK_FAIL(MXNDArraySave(MXKV_BUILD_DIR "/no/such/dir/x.params", 1, &h, &name), "x.params");
    CHECK(arr_all_equal(h, N, 5.0f));
    CHECK_OK(MXNDArrayFree(h));
}

/* ---- gradient compression (reference §3.8) ---------------------------------------- */

static void test_gradient_compression(void) {
    KVStoreHandle kv = int_store();
    const char *k_thr[1] = {"threshold"}, *v_half[1] = {"0.5"};
    const char *k2[2] = {"type", "threshold"};
    const char *v_zero[2] = {"2bit", "0"}, *v_abc[2] = {"2bit", "abc"}, *v_neg[2] = {"2bit", "-1"};
    const char *k_type[1] = {"type"}, *v_foo[1] = {"foo"};
    const char *v_ok[2] = {"2bit", "0.5"};
    CHECK_FAIL(MXKVStoreSetGradientCompression(kv, 1, k_thr, v_half),
               "Required parameter type of string is not presented");
    CHECK_FAIL(MXKVStoreSetGradientCompression(kv, 2, k2, v_zero), "threshold must be greater than 0");
    CHECK_FAIL(MXKVStoreSetGradientCompression(kv, 2, k2, v_neg), "threshold must be greater than 0");
    CHECK_FAIL(MXKVStoreSetGradientCompression(kv, 2, k2, v_abc),
               "Invalid Parameter format for threshold expect float but value='abc'");
    CHECK_FAIL(MXKVStoreSetGradientCompression(kv, 1, k_type, v_foo),
               "Unknown type for gradient compression foo");
    CHECK_FAIL(MXKVStoreSetGradientCompression(kv, 1, NULL, v_foo), "is NULL");
    CHECK_FAIL(MXKVStoreSetGradientCompression(NULL, 2, k2, v_ok), "KVStore handle is NULL");
    CHECK_OK(MXKVStoreSetGradientCompression(kv, 2, k2, v_ok));
    /* Only the type: the threshold defaults to 0.5. Unknown keys are ignored. */
    {
        const char *k3[2] = {"type", "some_unknown_key"}, *v3[2] = {"2bit", "x"};
        CHECK_OK(MXKVStoreSetGradientCompression(kv, 2, k3, v3));
    }
    /* A local store still sums exactly. */
    {
        int keys[2] = {3, 3};
        NDArrayHandle v[2];
        v[0] = arr_fill(R, C, 0.3f);
        v[1] = arr_fill(R, C, 0.2f);
        CHECK_OK(MXKVStorePush(kv, 2, keys, v, 0));
        CHECK(key_equals(kv, 3, R, C, 0.3f + 0.2f));
        CHECK_OK(MXKVStorePush(kv, 1, keys, v, 0));
        CHECK_OK(MXNDArrayFree(v[0]));
        CHECK_OK(MXNDArrayFree(v[1]));
        CHECK(key_equals(kv, 3, R, C, 0.3f));
    }
    CHECK(key_equals(kv, 5, R, C, 2.0f));
    CHECK(key_equals(kv, 7, R, C, 3.0f));
    CHECK_OK(MXKVStoreFree(kv));
}

/* ---- the last error ------------------------------------------------------------------- */

static char other_thread_error[256];

static void *read_error_in_thread(void *arg) {
    const char *err = MXGetLastError();
    (void)arg;
    snprintf(other_thread_error, sizeof other_thread_error, "%s", err ? err : "(null)");
    return NULL;
}

static void *fail_in_thread(void *arg) {
    int *rc = (int *)arg;
    KVStoreHandle kv = NULL;
    *rc = MXKVStoreCreate("nccl", &kv);
    snprintf(other_thread_error, sizeof other_thread_error, "%s", MXGetLastError());
    return NULL;
}

static void test_last_error_sticky_and_per_thread(void) {
    KVStoreHandle kv = int_store();
    int key = 99, v = 0, rc = 0;
    NDArrayHandle out = arr_fill(R, C, 0.0f);
    pthread_t t;
    char saved[512];
    CHECK_FAIL(MXKVStorePull(kv, 1, &key, &out, 0), "key 99 has not been inited");
    snprintf(saved, sizeof saved, "%s", MXGetLastError());
    /* Not cleared by later successes. */
    CHECK_OK(MXGetVersion(&v));
    CHECK(key_equals(kv, 3, R, C, 1.0f));
    CHECK_STR_EQ(MXGetLastError(), saved);
    /* Another thread has its own, empty, message. */
    CHECK(pthread_create(&t, NULL, read_error_in_thread, NULL) == 0);
    pthread_join(t, NULL);
    CHECK_STR_EQ(other_thread_error, "");
    /* A failure on another thread does not touch this thread's message. */
    CHECK(pthread_create(&t, NULL, fail_in_thread, &rc) == 0);
    pthread_join(t, NULL);
    CHECK_EQ_INT(rc, -1);
    CHECK(check_contains_ci(other_thread_error, "nccl"));
    CHECK_STR_EQ(MXGetLastError(), saved);
    /* The next failure replaces it. */
    CHECK_FAIL(MXKVStoreCreate(NULL, &kv), "is NULL");
    CHECK(strcmp(MXGetLastError(), saved) != 0);
    CHECK_OK(MXNDArrayFree(out));
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
}

static void test_error_message_first_line(void) {
    KVStoreHandle kv = int_store();
    int key = 3;
    NDArrayHandle v = arr_fill(R, C, 1.0f);
    const char *err, *nl;
    CHECK_FAIL(MXKVStoreInit(kv, 1, &key, &v), "duplicate init of key 3");
    err = MXGetLastError();
    /* Python takes the word before the first colon as the exception class. */
    CHECK(strncmp(err, "MXNetError: ", 12) == 0);
    nl = strchr(err, '\n');
    CHECK(nl == NULL || check_contains_ci(nl, "Stack trace:") || nl[1] == '\0');
    CHECK_OK(MXNDArrayFree(v));
    CHECK_INT_STORE_UNCHANGED_AND_FREE(kv);
}

int main(void) {
    RUN(test_null_store_handle);
    RUN(test_null_ndarray_handle);
    RUN(test_use_after_free);
    RUN(test_double_free);
    RUN(test_free_null);
    RUN(test_foreign_pointer);
    RUN(test_store_handle_as_ndarray);
    RUN(test_ndarray_handle_as_store);
    RUN(test_null_key_and_value_arrays);
    RUN(test_null_out_pointers);
    RUN(test_null_type_name);
    RUN(test_nccl_store);
    RUN(test_dist_store_without_cluster);
    RUN(test_duplicate_init_across_calls);
    RUN(test_duplicate_init_within_call);
    RUN(test_bad_key_in_middle_of_init);
    RUN(test_bad_key_in_middle_of_push);
    RUN(test_bad_key_in_middle_of_pull);
    RUN(test_push_pull_uninitialised_key);
    RUN(test_multi_value_push_uninitialised_key);
    RUN(test_mixed_key_types_int_then_string);
    RUN(test_mixed_key_types_string_then_int);
    RUN(test_failed_first_call_does_not_fix_key_type);
    RUN(test_unknown_string_key);
    RUN(test_shape_mismatch_push);
    RUN(test_shape_mismatch_pull);
    RUN(test_unknown_dtype);
    RUN(test_gpu_context);
    RUN(test_bad_dev_type);
    RUN(test_dev_id_out_of_range);
    RUN(test_shape_overflow);
    RUN(test_sync_copy_size_mismatch);
    RUN(test_slice_out_of_range);
    RUN(test_at_out_of_range);
    RUN(test_reshape_bad);
    RUN(test_load_missing_file);
    RUN(test_load_bad_file);
    RUN(test_load_raw_bytes_garbage);
    RUN(test_load_raw_bytes_truncated);
    RUN(test_save_bad_args);
    RUN(test_gradient_compression);
    RUN(test_last_error_sticky_and_per_thread);
    RUN(test_error_message_first_line);
    return check_summary("test_errors");
}
