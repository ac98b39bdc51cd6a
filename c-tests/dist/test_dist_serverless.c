/*
 * Serverless dist_sync (spec §6): DMLC_NUM_SERVER=0, every rank a worker, each push an
 * allreduce, a worker-side updater run on every worker. Run as
 *   DMLC_NUM_SERVER=0 mpirun -np 2 test_dist_serverless
 */
#include "dist.h"

#include <pthread.h>

static KVStoreHandle kv;
static int rank, workers;

static NDArrayHandle typed_fill(int dtype, mx_uint n, double v);
static double typed_at(NDArrayHandle h, int dtype, mx_uint n, mx_uint i);

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

/* One array pushed for a key, alone in its element type, is summed straight into the
 * stored value when no updater is set: each push replaces the value with that round's sum
 * (nothing accumulates), the pushed array keeps its values, and a pull into the pushed
 * array itself works. Two keys of two element types in one call travel the same way. */
static void test_single_arrays_are_summed_into_the_stored_value(void) {
    int key = 7, keys[2] = {8, 9}, round;
    mx_uint n = 4;
    NDArrayHandle v = arr_fill(2, 3, 0.0f), g = arr_fill(2, 3, (float)(rank + 1));
    NDArrayHandle pair[2], ints;
    int32_t got[4];
    float ranks_sum = (float)(workers * (workers + 1) / 2);
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    for (round = 0; round < 2; round++) {
        CHECK_OK(MXKVStorePush(kv, 1, &key, &g, 0));
        CHECK(key_equals(kv, 7, 2, 3, ranks_sum));
        CHECK(arr_all_equal(g, 6, (float)(rank + 1)));
    }
    CHECK_OK(MXKVStorePull(kv, 1, &key, &g, 0));
    CHECK(arr_all_equal(g, 6, ranks_sum));
    pair[0] = arr_fill(1, 4, 0.0f);
    ints = arr_new(&n, 1, DT_I32);
    pair[1] = ints;
    CHECK_OK(MXKVStoreInit(kv, 2, keys, pair));
    MXNDArrayFree(pair[0]);
    pair[0] = arr_fill(1, 4, (float)(rank + 1));
    got[0] = got[1] = got[2] = got[3] = 2 * (rank + 1);
    CHECK_OK(MXNDArraySyncCopyFromCPU(ints, got, 4));
    CHECK_OK(MXKVStorePush(kv, 2, keys, pair, 0));
    CHECK(key_equals(kv, 8, 1, 4, ranks_sum));
    CHECK_OK(MXKVStorePull(kv, 1, &keys[1], &ints, 0));
    CHECK_OK(MXNDArraySyncCopyToCPU(ints, got, 4));
    CHECK_EQ_INT(got[0], 2 * (int)ranks_sum);
    CHECK_EQ_INT(got[3], 2 * (int)ranks_sum);
    MXNDArrayFree(v);
    MXNDArrayFree(g);
    MXNDArrayFree(pair[0]);
    MXNDArrayFree(ints);
}

/* Keys inited in one call have their values laid out in one block: a push of all of them
 * sums in that block, a push of some of them, or of one, still sums each right, and the
 * init gave every worker rank 0's values. */
static void test_keys_inited_together_sum_in_place(void) {
    enum { K = 3 };
    int keys[K] = {30, 31, 32}, some[2] = {30, 32}, k;
    NDArrayHandle init[K], grads[K];
    float ranks_sum = (float)(workers * (workers + 1) / 2);
    for (k = 0; k < K; k++) {
        init[k] = arr_fill(2, 2, (float)(10 * k + rank));
        grads[k] = arr_fill(2, 2, (float)((k + 1) * (rank + 1)));
    }
    CHECK_OK(MXKVStoreInit(kv, K, keys, init));
    for (k = 0; k < K; k++) CHECK(key_equals(kv, keys[k], 2, 2, (float)(10 * k)));
    CHECK_OK(MXKVStorePush(kv, K, keys, grads, 0));
    for (k = 0; k < K; k++) CHECK(key_equals(kv, keys[k], 2, 2, (float)(k + 1) * ranks_sum));
    CHECK(arr_all_equal(grads[2], 4, (float)(3 * (rank + 1))));
    /* Keys 30 and 32: not side by side in the block. */
    {
        NDArrayHandle pair[2] = {grads[2], grads[1]};
        CHECK_OK(MXKVStorePush(kv, 2, some, pair, 0));
    }
    CHECK(key_equals(kv, 30, 2, 2, 3.0f * ranks_sum));
    CHECK(key_equals(kv, 32, 2, 2, 2.0f * ranks_sum));
    CHECK(key_equals(kv, 31, 2, 2, 2.0f * ranks_sum));
    CHECK_OK(MXKVStorePush(kv, 1, &keys[1], &grads[0], 0));
    CHECK(key_equals(kv, 31, 2, 2, ranks_sum));
    CHECK(key_equals(kv, 30, 2, 2, 3.0f * ranks_sum));
    /* The same keys in another order of the call, one pushed twice. */
    {
        int again[4] = {32, 30, 32, 31};
        NDArrayHandle four[4] = {grads[0], grads[0], grads[1], grads[2]};
        CHECK_OK(MXKVStorePush(kv, 4, again, four, 0));
    }
    CHECK(key_equals(kv, 30, 2, 2, ranks_sum));
    CHECK(key_equals(kv, 31, 2, 2, 3.0f * ranks_sum));
    CHECK(key_equals(kv, 32, 2, 2, 3.0f * ranks_sum));
    for (k = 0; k < K; k++) {
        MXNDArrayFree(init[k]);
        MXNDArrayFree(grads[k]);
    }
}

/* A push of keys inited together, each given once in ascending order, is summed straight
 * from the pushed arrays into the block, when each is a float32 array of its key's size
 * (views included). A worker whose arrays are not (float64 here) sums the same call the
 * general way: the workers stay in step whichever way each takes, and the sums are exact. */
static void test_workers_taking_different_ways_stay_in_step(void) {
    enum { K = 4 };
    int keys[K] = {50, 51, 52, 53}, k, round;
    mx_uint sizes[K] = {1, 7, 64, 5}, i;
    NDArrayHandle init[K], whole, views[K], wide[K];
    /* Round r: worker w pushes (w + 1) * (k + 1) * (r + 1) to key k. */
    double ranks_sum = workers * (workers + 1) / 2.0;
    for (k = 0; k < K; k++) init[k] = typed_fill(DT_F32, sizes[k], 0.0);
    CHECK_OK(MXKVStoreInit(kv, K, keys, init));
    {
        mx_uint n = 77;
        whole = arr_new(&n, 1, DT_F32);
    }
    for (round = 0; round < 3; round++) {
        /* Round 0: every worker sends float32 views of one array; round 1: rank 0 sends
         * float64 arrays, the others float32; round 2: only rank 0 sends float32. */
        int narrow = round == 0 || (round == 1 && rank != 0) || (round == 2 && rank == 0);
        mx_uint at = 0;
        float values[77];
        for (k = 0; k < K; k++) {
            double v = (rank + 1) * (k + 1) * (round + 1);
            for (i = 0; i < sizes[k]; i++) values[at + i] = (float)v;
            CHECK_OK(MXNDArraySlice(whole, at, at + sizes[k], &views[k]));
            wide[k] = typed_fill(DT_F64, sizes[k], v);
            at += sizes[k];
        }
        CHECK_OK(MXNDArraySyncCopyFromCPU(whole, values, 77));
        CHECK_OK(MXKVStorePush(kv, K, keys, narrow ? views : wide, 0));
        for (k = 0; k < K; k++) {
            NDArrayHandle out = typed_fill(DT_F32, sizes[k], -1.0);
            double want = ranks_sum * (k + 1) * (round + 1);
            CHECK_OK(MXKVStorePull(kv, 1, &keys[k], &out, 0));
            for (i = 0; i < sizes[k]; i++) {
                double got = typed_at(out, DT_F32, sizes[k], i);
                if (got != want) {
                    fprintf(stderr, "round %d key %d element %u: %g, want %g\n", round,
                            keys[k], i, got, want);
                    CHECK(0);
                    break;
                }
            }
            MXNDArrayFree(out);
            MXNDArrayFree(views[k]);
            MXNDArrayFree(wide[k]);
        }
        /* The pushed arrays are left as they were. */
        {
            float back[77];
            CHECK_OK(MXNDArraySyncCopyToCPU(whole, back, 77));
            CHECK(memcmp(back, values, sizeof back) == 0);
        }
    }
    MXNDArrayFree(whole);
    for (k = 0; k < K; k++) MXNDArrayFree(init[k]);
}

/* Pulls of key 40 on another thread while the main thread pushes: each sees one round's
 * sum whole (a sum lands in the stored value under the key's lock), never a value some of
 * whose elements are still being written. Returns how many pulls saw a torn value. */
enum { WHOLE_ROWS = 512, WHOLE_COLS = 512 };
static volatile int pushing;
static void *pull_until_done(void *unused) {
    int key = 40, pulls = 0;
    long torn = 0;
    size_t n = (size_t)WHOLE_ROWS * WHOLE_COLS, i;
    float *got = malloc(n * sizeof(float));
    NDArrayHandle out = arr_fill(WHOLE_ROWS, WHOLE_COLS, 0.0f);
    (void)unused;
    while (pushing || pulls == 0) {
        pulls++;
        if (MXKVStorePull(kv, 1, &key, &out, 0) != 0 || MXNDArraySyncCopyToCPU(out, got, n) != 0) {
            torn++;
            continue;
        }
        for (i = 1; i < n; i++)
            if (got[i] != got[0]) {
                torn++;
                break;
            }
    }
    MXNDArrayFree(out);
    free(got);
    return (void *)torn;
}

static void test_a_pull_on_another_thread_sees_whole_sums(void) {
    int key = 40, round;
    pthread_t puller;
    void *torn = NULL;
    NDArrayHandle v = arr_fill(WHOLE_ROWS, WHOLE_COLS, 0.0f), g;
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    pushing = 1;
    CHECK(pthread_create(&puller, NULL, pull_until_done, NULL) == 0);
    for (round = 1; round <= 20; round++) {
        g = arr_fill(WHOLE_ROWS, WHOLE_COLS, (float)round);
        CHECK_OK(MXKVStorePush(kv, 1, &key, &g, 0));
        MXNDArrayFree(g);
    }
    pushing = 0;
    CHECK(pthread_join(puller, &torn) == 0);
    CHECK_EQ_INT((int)(long)torn, 0);
    CHECK(key_equals(kv, 40, WHOLE_ROWS, WHOLE_COLS, 20.0f * (float)workers));
    MXNDArrayFree(v);
}

/* Sums larger than the pieces they travel in (and of sizes no piece divides evenly) are
 * exact element by element on every worker: float32 values that differ along the array and
 * between ranks, and int64 values around 2^40, pushed several times. */
static void test_large_sums_are_exact_element_by_element(void) {
    enum { FLOATS = 700001, LONGS = 131075 };
    int keys[2] = {60, 61}, round, i, wrong = 0;
    mx_uint nf = FLOATS, nl = LONGS;
    NDArrayHandle vals[2] = {arr_new(&nf, 1, DT_F32), arr_new(&nl, 1, DT_I64)}, outs[2];
    float *f = malloc(FLOATS * sizeof(float));
    int64_t *l = malloc(LONGS * sizeof(int64_t));
    double ranks_sum = workers * (workers + 1) / 2.0;
    CHECK_OK(MXKVStoreInit(kv, 2, keys, vals));
    for (i = 0; i < FLOATS; i++) f[i] = (float)(i % 1000) * (float)(rank + 1) + 0.5f;
    for (i = 0; i < LONGS; i++) l[i] = ((int64_t)1 << 40) * (rank + 1) + i;
    CHECK_OK(MXNDArraySyncCopyFromCPU(vals[0], f, FLOATS));
    CHECK_OK(MXNDArraySyncCopyFromCPU(vals[1], l, LONGS));
    outs[0] = arr_new(&nf, 1, DT_F32);
    outs[1] = arr_new(&nl, 1, DT_I64);
    for (round = 0; round < 3; round++) {
        CHECK_OK(MXKVStorePush(kv, 2, keys, vals, 0));
        CHECK_OK(MXKVStorePull(kv, 2, keys, outs, 0));
        CHECK_OK(MXNDArraySyncCopyToCPU(outs[0], f, FLOATS));
        CHECK_OK(MXNDArraySyncCopyToCPU(outs[1], l, LONGS));
        for (i = 0; i < FLOATS; i++)
            wrong += f[i] != (float)((i % 1000) * ranks_sum + 0.5 * workers);
        for (i = 0; i < LONGS; i++)
            wrong += l[i] != ((int64_t)1 << 40) * (int64_t)ranks_sum + (int64_t)i * workers;
    }
    CHECK_EQ_INT(wrong, 0);
    /* A key pushed alone travels from the pushed array's memory. */
    CHECK_OK(MXKVStorePush(kv, 1, &keys[0], &outs[0], 0));
    CHECK_OK(MXKVStorePull(kv, 1, &keys[0], &vals[0], 0));
    CHECK_OK(MXNDArraySyncCopyToCPU(vals[0], f, FLOATS));
    for (i = 0, wrong = 0; i < FLOATS; i++)
        wrong += f[i] != (float)(workers * ((i % 1000) * ranks_sum + 0.5 * workers));
    CHECK_EQ_INT(wrong, 0);
    free(f);
    free(l);
    for (i = 0; i < 2; i++) {
        MXNDArrayFree(vals[i]);
        MXNDArrayFree(outs[i]);
    }
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

/* An array of n elements of `dtype` (f32, f64, f16, i32 or i64), each v. */
static NDArrayHandle typed_fill(int dtype, mx_uint n, double v) {
    unsigned char buf[64 * 8];
    NDArrayHandle h = arr_new(&n, 1, dtype);
    mx_uint i;
    for (i = 0; i < n; i++) {
        float f = (float)v;
        double d = v;
        uint16_t half = f32_to_f16((float)v);
        int32_t i32 = (int32_t)v;
        int64_t i64 = (int64_t)v;
        const void *from = dtype == DT_F32 ? (const void *)&f
                         : dtype == DT_F64 ? (const void *)&d
                         : dtype == DT_F16 ? (const void *)&half
                         : dtype == DT_I32 ? (const void *)&i32
                                           : (const void *)&i64;
        memcpy(buf + i * dtype_size(dtype), from, dtype_size(dtype));
    }
    CHECK_OK(MXNDArraySyncCopyFromCPU(h, buf, n));
    return h;
}

/* Element i of an array made by typed_fill's dtypes, as a double. */
static double typed_at(NDArrayHandle h, int dtype, mx_uint n, mx_uint i) {
    unsigned char buf[64 * 8];
    float f;
    double d;
    uint16_t half;
    int32_t i32;
    int64_t i64;
    const unsigned char *at = buf + i * dtype_size(dtype);
    CHECK_OK(MXNDArraySyncCopyToCPU(h, buf, n));
    switch (dtype) {
    case DT_F32: memcpy(&f, at, 4); return f;
    case DT_F64: memcpy(&d, at, 8); return d;
    case DT_F16: memcpy(&half, at, 2); return f16_to_f32(half);
    case DT_I32: memcpy(&i32, at, 4); return i32;
    default: memcpy(&i64, at, 8); return (double)i64;
    }
}

/* The keys the updater saw, in order, with the first element of each recv. */
static int seen_keys[16], seen_count;
static double seen_first[16];

static void record_and_add(int key, NDArrayHandle recv, NDArrayHandle local, void *h) {
    int dtype = -1;
    float r[64], l[64];
    mx_uint ndim = 0, i;
    const mx_uint *shape = NULL;
    size_t n = 1;
    (void)h;
    MXNDArrayGetDType(recv, &dtype);
    MXNDArrayGetShape(recv, &ndim, &shape);
    for (i = 0; i < ndim; i++) n *= shape[i];
    if (seen_count < 16) {
        seen_keys[seen_count] = key;
        seen_first[seen_count++] = dtype == DT_F32 ? (MXNDArraySyncCopyToCPU(recv, r, n), r[0]) : -1.0;
    }
    if (dtype == DT_F32) {
        MXNDArraySyncCopyToCPU(local, l, n);
        for (i = 0; i < n; i++) l[i] += r[i];
        MXNDArraySyncCopyFromCPU(local, l, n);
    }
    MXNDArrayFree(recv);
    MXNDArrayFree(local);
}

/* One push call of keys of five dtypes, one of them pushed twice and in no order, travels
 * fused (one allreduce per element type) and every key gets its own sum; an updater sees
 * the keys in ascending order. */
static void test_one_call_of_many_keys_and_dtypes(void) {
    enum { K = 5 };
    int keys[K] = {24, 20, 22, 21, 23}, dtypes[K] = {DT_F32, DT_F32, DT_F16, DT_F64, DT_I64};
    mx_uint sizes[K] = {7, 6, 3, 4, 5};
    int push_keys[K + 1] = {24, 20, 22, 21, 23, 20};
    NDArrayHandle init[K], grads[K + 1], outs[K];
    double ranks_sum = workers * (workers + 1) / 2.0;
    int k, i;
    for (k = 0; k < K; k++) {
        init[k] = typed_fill(dtypes[k], sizes[k], 100.0 * (rank + 1));
        outs[k] = typed_fill(dtypes[k], sizes[k], -1.0);
    }
    for (k = 0; k < K; k++) grads[k] = typed_fill(dtypes[k], sizes[k], rank + 1);
    grads[K] = typed_fill(DT_F32, 6, rank + 1);
    CHECK_OK(MXKVStoreInit(kv, K, keys, init));
    CHECK_OK(MXKVStorePull(kv, K, keys, outs, 0));
    for (k = 0; k < K; k++) CHECK_EQ_DBL(typed_at(outs[k], dtypes[k], sizes[k], sizes[k] - 1), 100.0);
    /* No updater: each key becomes the sum over the workers of its pushes. */
    CHECK_OK(MXKVStorePush(kv, K + 1, push_keys, grads, 0));
    CHECK_OK(MXKVStorePull(kv, K, keys, outs, 0));
    for (k = 0; k < K; k++)
        for (i = 0; i < (int)sizes[k]; i += (int)sizes[k] - 1)
            CHECK_EQ_DBL(typed_at(outs[k], dtypes[k], sizes[k], (mx_uint)i),
                         keys[k] == 20 ? 2 * ranks_sum : ranks_sum);
    /* The pushed arrays keep their values. */
    CHECK_EQ_DBL(typed_at(grads[1], DT_F32, 6, 5), rank + 1);
    /* With an updater: keys in ascending order, each recv the sum, every replica alike. */
    seen_count = 0;
    CHECK_OK(MXKVStoreSetUpdater(kv, record_and_add, NULL));
    CHECK_OK(MXKVStorePush(kv, K + 1, push_keys, grads, 0));
    CHECK_EQ_INT(seen_count, K);
    for (k = 0; k < K && k < seen_count; k++) CHECK_EQ_INT(seen_keys[k], 20 + k);
    CHECK_EQ_DBL(seen_first[0], 2 * ranks_sum);
    CHECK_EQ_DBL(seen_first[4], ranks_sum);
    CHECK_OK(MXKVStorePull(kv, K, keys, outs, 0));
    CHECK_EQ_DBL(typed_at(outs[1], DT_F32, 6, 0), 4 * ranks_sum);
    CHECK_EQ_DBL(typed_at(outs[0], DT_F32, 7, 6), 2 * ranks_sum);
    CHECK_EQ_DBL(typed_at(outs[2], DT_F16, 3, 2), ranks_sum);
    CHECK_OK(MXKVStoreSetUpdater(kv, NULL, NULL));
    for (k = 0; k < K; k++) {
        MXNDArrayFree(init[k]);
        MXNDArrayFree(outs[k]);
    }
    for (k = 0; k < K + 1; k++) MXNDArrayFree(grads[k]);
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
    RUN(test_single_arrays_are_summed_into_the_stored_value);
    RUN(test_keys_inited_together_sum_in_place);
    RUN(test_workers_taking_different_ways_stay_in_step);
    RUN(test_a_pull_on_another_thread_sees_whole_sums);
    RUN(test_large_sums_are_exact_element_by_element);
    RUN(test_worker_updater_keeps_replicas_identical);
    RUN(test_dtypes_mpi_cannot_add);
    RUN(test_one_call_of_many_keys_and_dtypes);
    RUN(test_string_keys_and_barrier);
    RUN(test_async_needs_servers);
    RUN(test_commands_need_servers);
    CHECK_OK(MXKVStoreFree(kv));
    return check_summary("test_dist_serverless");
}
