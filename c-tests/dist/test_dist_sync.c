/*
 * dist_sync with servers (spec §6; reference §4.3–§4.5), run as
 *   DMLC_NUM_SERVER=S mpirun -np S+W test_dist_sync
 * with 1 or 2 servers. MXNET_KVSTORE_BIGARRAY_BOUND is set low by the runner so that the
 * big-array test splits its key over every server.
 */
#include "dist.h"

static KVStoreHandle kv;
static int rank, workers;

/* 1 + 2 + ... + workers: what one push of (rank + 1) from every worker sums to. */
static float rank_sum(void) { return (float)(workers * (workers + 1) / 2); }

static void test_roles_rank_and_group(void) {
    int is_worker = -1, is_server = -1, is_scheduler = -1, dead = -1;
    const char *type = NULL;
    const char *said = getenv("DMLC_NUM_WORKER");
    CHECK_OK(MXKVStoreIsWorkerNode(&is_worker));
    CHECK_OK(MXKVStoreIsServerNode(&is_server));
    CHECK_OK(MXKVStoreIsSchedulerNode(&is_scheduler));
    CHECK_EQ_INT(is_worker, 1);
    CHECK_EQ_INT(is_server, 0);
    CHECK_EQ_INT(is_scheduler, 0);
    CHECK_OK(MXKVStoreGetGroupSize(kv, &workers));
    CHECK(said != NULL && workers == atoi(said));
    CHECK(rank >= 0 && rank < workers);
    CHECK_OK(MXKVStoreGetType(kv, &type));
    CHECK_STR_EQ(type, "dist_sync");
    CHECK_OK(MXKVStoreGetNumDeadNode(kv, 4, &dead, 60));
    CHECK_EQ_INT(dead, 0);
}

static void test_rank0_init_wins(void) {
    int keys[2] = {3, 0};
    NDArrayHandle v[2] = {arr_fill(2, 3, 100.0f + (float)rank), arr_fill(2, 2, 42.0f)};
    CHECK_OK(MXKVStoreInit(kv, 2, keys, v));
    CHECK(key_equals(kv, 3, 2, 3, 100.0f));
    CHECK(key_equals(kv, 0, 2, 2, 42.0f));
    MXNDArrayFree(v[0]);
    MXNDArrayFree(v[1]);
}

static void test_push_sums_one_push_of_every_worker(void) {
    int key = 3, round;
    for (round = 1; round <= 3; round++) {
        NDArrayHandle g = arr_fill(2, 3, (float)(rank + round));
        CHECK_OK(MXKVStorePush(kv, 1, &key, &g, 0));
        /* Without an updater the round's sum is assigned (spec §4.8). */
        CHECK(key_equals(kv, 3, 2, 3, rank_sum() + (float)(workers * (round - 1))));
        MXNDArrayFree(g);
    }
}

static void test_arrays_of_one_key_are_summed_on_the_worker(void) {
    int keys[2] = {3, 3};
    NDArrayHandle g[2] = {arr_fill(2, 3, 1.0f), arr_fill(2, 3, 2.0f)};
    CHECK_OK(MXKVStorePush(kv, 2, keys, g, 0));
    CHECK(key_equals(kv, 3, 2, 3, 3.0f * (float)workers));
    MXNDArrayFree(g[0]);
    MXNDArrayFree(g[1]);
}

static void test_pull_never_writes_the_pushed_array(void) {
    int key = 3;
    NDArrayHandle g = arr_fill(2, 3, 5.0f);
    NDArrayHandle outs[2] = {arr_fill(2, 3, 0.0f), arr_fill(2, 3, 0.0f)};
    int keys[2] = {3, 3};
    CHECK_OK(MXKVStorePush(kv, 1, &key, &g, 0));
    CHECK_OK(MXKVStorePull(kv, 2, keys, outs, 0));
    CHECK(arr_all_equal(g, 6, 5.0f));
    CHECK(arr_all_equal(outs[0], 6, 5.0f * (float)workers));
    CHECK(arr_all_equal(outs[1], 6, 5.0f * (float)workers));
    MXNDArrayFree(g);
    MXNDArrayFree(outs[0]);
    MXNDArrayFree(outs[1]);
}

static void test_pushpull_and_dtypes(void) {
    int key = 4;
    mx_uint shape[1] = {5};
    double init[5] = {1, 2, 3, 4, 5}, got[5];
    float half[5] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    NDArrayHandle v = arr_new(shape, 1, DT_F64), g = arr_f32(shape, 1, half), out = arr_new(shape, 1, DT_F64);
    CHECK_OK(MXNDArraySyncCopyFromCPU(v, init, 5));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    /* A float32 push to a float64 key converts; the pulled values are the round's sum. */
    CHECK_OK(MXKVStorePushPull(kv, 1, &key, 1, &key, &g, &out, 0));
    CHECK_OK(MXNDArraySyncCopyToCPU(out, got, 5));
    CHECK_EQ_DBL(got[0], 0.5 * workers);
    CHECK_EQ_DBL(got[4], 0.5 * workers);
    MXNDArrayFree(v);
    MXNDArrayFree(g);
    MXNDArrayFree(out);
}

/* A key of more than MXNET_KVSTORE_BIGARRAY_BOUND elements, split over the servers:
 * every element must come back from the right piece. */
static void test_big_array_split_over_servers(void) {
    enum { N = 5003 };
    int key = 9;
    mx_uint shape[1] = {N};
    float *vals = (float *)malloc(N * sizeof(float)), *got = (float *)malloc(N * sizeof(float));
    size_t i;
    NDArrayHandle v, g, out;
    for (i = 0; i < N; i++) vals[i] = (float)i;
    v = arr_f32(shape, 1, vals);
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    for (i = 0; i < N; i++) vals[i] = (float)i * (float)(rank + 1);
    g = arr_f32(shape, 1, vals);
    out = arr_new(shape, 1, DT_F32);
    CHECK_OK(MXKVStorePush(kv, 1, &key, &g, 0));
    CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
    arr_read(out, got, N);
    for (i = 0; i < N; i++) vals[i] = (float)i * rank_sum();
    CHECK_FLOATS(got, vals, N);
    free(vals);
    free(got);
    MXNDArrayFree(v);
    MXNDArrayFree(g);
    MXNDArrayFree(out);
}

/* Values of 64 KiB and more travel in messages of their own, from and into array
 * memory, beside small ones in the same call: the push takes the values the array has
 * at the call (the array may change as soon as it returns), and a key pulled twice in a
 * call fills both outputs. */
static void test_large_values_beside_small_ones(void) {
    enum { N = 100003 };
    int key = 11, round, good;
    int keys[2] = {3, 11}, pulls[3] = {11, 3, 11};
    mx_uint shape[1] = {N};
    float *vals = (float *)malloc(N * sizeof(float)), *got = (float *)malloc(N * sizeof(float));
    size_t i, o;
    NDArrayHandle v, g[2], outs[3];
    for (i = 0; i < N; i++) vals[i] = (float)i;
    v = arr_f32(shape, 1, vals);
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    g[0] = arr_fill(2, 3, 1.0f);
    g[1] = arr_new(shape, 1, DT_F32);
    outs[0] = arr_new(shape, 1, DT_F32);
    outs[1] = arr_fill(2, 3, 0.0f);
    outs[2] = arr_new(shape, 1, DT_F32);
    for (round = 1; round <= 3; round++) {
        for (i = 0; i < N; i++) vals[i] = (float)i * (float)(rank + 1) + (float)round;
        CHECK_OK(MXNDArraySyncCopyFromCPU(g[1], vals, N));
        CHECK_OK(MXKVStorePush(kv, 2, keys, g, 0));
        for (i = 0; i < N; i++) vals[i] = -1.0f;
        CHECK_OK(MXNDArraySyncCopyFromCPU(g[1], vals, N));
        CHECK_OK(MXKVStorePull(kv, 3, pulls, outs, 0));
        for (i = 0; i < N; i++) vals[i] = (float)i * rank_sum() + (float)(round * workers);
        for (o = 0; o < 3; o += 2) {
            arr_read(outs[o], got, N);
            CHECK_FLOATS(got, vals, N);
        }
        CHECK(arr_all_equal(outs[1], 6, (float)workers));
        arr_read(g[1], got, N);
        for (i = 0, good = 1; i < N; i++) good &= got[i] == -1.0f;
        CHECK(good);
    }
    free(vals);
    free(got);
    MXNDArrayFree(v);
    MXNDArrayFree(g[0]);
    MXNDArrayFree(g[1]);
    for (o = 0; o < 3; o++) MXNDArrayFree(outs[o]);
}

/* Large pushes of several keys in a row, with no pull between (one call per key, or one
 * call for all): the first of each worker waits for its round on the server while the
 * others follow it, and every sum is exact. */
static void test_large_pushes_in_a_row(void) {
    enum { N = 70001, KEYS = 3 };
    int keys[KEYS] = {20, 21, 22}, k, round;
    mx_uint shape[1] = {N};
    float *vals = (float *)malloc(N * sizeof(float)), *got = (float *)malloc(N * sizeof(float));
    size_t i;
    NDArrayHandle v[KEYS], out = arr_new(shape, 1, DT_F32);
    for (k = 0; k < KEYS; k++) v[k] = arr_new(shape, 1, DT_F32);
    CHECK_OK(MXKVStoreInit(kv, KEYS, keys, v));
    for (round = 1; round <= 3; round++) {
        for (k = 0; k < KEYS; k++) {
            for (i = 0; i < N; i++) vals[i] = (float)(i % 4096) * (float)(rank + 1) + (float)(k + round);
            CHECK_OK(MXNDArraySyncCopyFromCPU(v[k], vals, N));
            if (round != 2) CHECK_OK(MXKVStorePush(kv, 1, &keys[k], &v[k], 0));
        }
        /* In round 2, all in one call: one message carries every value. */
        if (round == 2) CHECK_OK(MXKVStorePush(kv, KEYS, keys, v, 0));
        for (k = 0; k < KEYS; k++) {
            CHECK_OK(MXKVStorePull(kv, 1, &keys[k], &out, 0));
            arr_read(out, got, N);
            for (i = 0; i < N; i++)
                vals[i] = (float)(i % 4096) * rank_sum() + (float)((k + round) * workers);
            CHECK_FLOATS(got, vals, N);
        }
    }
    free(vals);
    free(got);
    for (k = 0; k < KEYS; k++) MXNDArrayFree(v[k]);
    MXNDArrayFree(out);
}

/* Workers pulling different large keys, and then the same ones, while no value changes:
 * each gets the values of the keys it asked for. */
static void test_workers_pull_different_keys(void) {
    enum { N = 70001 };
    int keys[2] = {30, 31}, round, k, first = rank % 2;
    mx_uint shape[1] = {N};
    float *vals = (float *)malloc(N * sizeof(float)), *got = (float *)malloc(N * sizeof(float));
    size_t i;
    NDArrayHandle v[2], out = arr_new(shape, 1, DT_F32);
    for (k = 0; k < 2; k++) {
        for (i = 0; i < N; i++) vals[i] = (float)i + 1000.0f * (float)(k + 1);
        v[k] = arr_f32(shape, 1, vals);
    }
    CHECK_OK(MXKVStoreInit(kv, 2, keys, v));
    for (round = 0; round < 3; round++) {
        for (k = 0; k < 2; k++) {
            int key = keys[(first + k + round) % 2];
            CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
            arr_read(out, got, N);
            for (i = 0; i < N; i++) vals[i] = (float)i + 1000.0f * (float)(key - 29);
            CHECK_FLOATS(got, vals, N);
        }
    }
    free(vals);
    free(got);
    for (k = 0; k < 2; k++) MXNDArrayFree(v[k]);
    MXNDArrayFree(out);
}

/* 500 small keys in one init, one push and one pull call. */
static void test_many_keys_in_one_call(void) {
    enum { K = 500, N = 16 };
    int keys[K], k, good = 1;
    NDArrayHandle vals[K], outs[K];
    for (k = 0; k < K; k++) {
        keys[k] = 1000 + k;
        vals[k] = arr_fill(1, N, (float)k);
        outs[k] = arr_fill(1, N, -1.0f);
    }
    CHECK_OK(MXKVStoreInit(kv, K, keys, vals));
    for (k = 0; k < K; k++) CHECK_OK(MXNDArrayFree(vals[k]));
    for (k = 0; k < K; k++) vals[k] = arr_fill(1, N, (float)(k + rank));
    CHECK_OK(MXKVStorePush(kv, K, keys, vals, 0));
    CHECK_OK(MXKVStorePull(kv, K, keys, outs, 0));
    for (k = 0; k < K; k++) {
        float want = (float)(k * workers) + (float)(workers * (workers - 1) / 2);
        good &= arr_all_equal(outs[k], N, want);
        MXNDArrayFree(vals[k]);
        MXNDArrayFree(outs[k]);
    }
    CHECK(good);
}

/* A push call of keys in ascending order sends each float32 array as it is; a call with a
 * float64 array among them (converted to the keys' float32 on the worker) and a call in
 * another order go the general way. Every round's sums are exact. */
static void test_plain_and_converted_pushes_of_many_keys(void) {
    enum { K = 3, N = 5 };
    int keys[K] = {2000, 2001, 2002}, reversed[K] = {2002, 2001, 2000}, k, round;
    mx_uint shape[2] = {1, N};
    NDArrayHandle init[K], vals[K], outs[K];
    for (k = 0; k < K; k++) {
        init[k] = arr_fill(1, N, 0.0f);
        outs[k] = arr_fill(1, N, -1.0f);
    }
    CHECK_OK(MXKVStoreInit(kv, K, keys, init));
    for (round = 0; round < 3; round++) {
        for (k = 0; k < K; k++) {
            float v = (float)((rank + 1) * (k + 1) * (round + 1));
            if (round == 1 && k == 1) {
                double d[N] = {v, v, v, v, v};
                vals[k] = arr_new(shape, 2, DT_F64);
                CHECK_OK(MXNDArraySyncCopyFromCPU(vals[k], d, N));
            } else {
                vals[k] = arr_fill(1, N, v);
            }
        }
        if (round == 2) {
            NDArrayHandle back[K] = {vals[2], vals[1], vals[0]};
            CHECK_OK(MXKVStorePush(kv, K, reversed, back, 0));
        } else {
            CHECK_OK(MXKVStorePush(kv, K, keys, vals, 0));
        }
        CHECK_OK(MXKVStorePull(kv, K, keys, outs, 0));
        for (k = 0; k < K; k++) {
            CHECK(arr_all_equal(outs[k], N, rank_sum() * (float)((k + 1) * (round + 1))));
            MXNDArrayFree(vals[k]);
        }
    }
    for (k = 0; k < K; k++) {
        MXNDArrayFree(init[k]);
        MXNDArrayFree(outs[k]);
    }
}

/* Bad input on one worker is an error there and breaks nothing for the others. */
static void test_bad_input_fails_on_its_worker_only(void) {
    int key = 3, missing = 77;
    const char *skey = "w";
    NDArrayHandle wrong = arr_fill(3, 2, 1.0f), g = arr_fill(2, 3, 1.0f);
    if (rank == workers - 1) {
        CHECK_FAIL(MXKVStorePush(kv, 1, &key, &wrong, 0), "shape mismatch");
        CHECK_FAIL(MXKVStorePush(kv, 1, &missing, &g, 0), "inited");
        CHECK_FAIL(MXKVStoreInitEx(kv, 1, &skey, &g), "Mixed key types");
        CHECK_FAIL(MXKVStorePull(kv, 1, &missing, &g, 0), "inited");
    }
    CHECK_OK(MXKVStoreBarrier(kv));
    CHECK_OK(MXKVStorePush(kv, 1, &key, &g, 0));
    CHECK(key_equals(kv, 3, 2, 3, (float)workers));
    MXNDArrayFree(wrong);
    MXNDArrayFree(g);
}

/* String keys live in a store of their own; its keys never meet the first store's on
 * the servers. */
static void test_string_keys(void) {
    KVStoreHandle skv = NULL;
    const char *keys[2] = {"weight", "bias"};
    NDArrayHandle v[2] = {arr_fill(2, 2, 7.0f + (float)rank), arr_fill(1, 3, 0.0f)};
    NDArrayHandle g[2] = {arr_fill(2, 2, 1.0f), arr_fill(1, 3, (float)rank)};
    CHECK_OK(MXKVStoreCreate("dist_sync", &skv));
    CHECK_OK(MXKVStoreInitEx(skv, 2, keys, v));
    CHECK(skey_equals(skv, "weight", 2, 2, 7.0f));
    CHECK_OK(MXKVStorePushEx(skv, 2, keys, g, 0));
    CHECK(skey_equals(skv, "weight", 2, 2, (float)workers));
    CHECK(skey_equals(skv, "bias", 1, 3, (float)(workers * (workers - 1) / 2)));
    /* "weight" is index 0 of its store: the first store's key 0 is untouched. */
    CHECK(key_equals(kv, 0, 2, 2, 42.0f));
    CHECK_OK(MXKVStoreFree(skv));
    MXNDArrayFree(v[0]);
    MXNDArrayFree(v[1]);
    MXNDArrayFree(g[0]);
    MXNDArrayFree(g[1]);
}

/* Commands (reference §4.5): 0 reaches the servers' controller, which installs an
 * updater for "times10"; ids 1-5 are the servers' own, others are acknowledged. */
static void test_commands_and_server_updater(void) {
    int key = 50;
    NDArrayHandle v = arr_fill(2, 2, 1.0f), g = arr_fill(2, 2, (float)(rank + 1));
    if (rank == 0) {
        CHECK_OK(MXKVStoreSendCommmandToServers(kv, 0, "hello"));
        CHECK_OK(MXKVStoreSendCommmandToServers(kv, 5, "0"));
        CHECK_OK(MXKVStoreSendCommmandToServers(kv, 7, "ignored"));
        CHECK_OK(MXKVStoreSendCommmandToServers(kv, 0, "times10"));
    }
    CHECK_OK(MXKVStoreBarrier(kv));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    CHECK_OK(MXKVStorePush(kv, 1, &key, &g, 0));
    /* stored = 1 + 10 * (1 + 2 + ... + workers) (reference §4.4, VERIFIED 31 for 2). */
    CHECK(key_equals(kv, 50, 2, 2, 1.0f + 10.0f * rank_sum()));
    MXNDArrayFree(v);
    MXNDArrayFree(g);
}

static void test_run_server_on_a_worker_is_an_error(void) {
    CHECK_FAIL(MXKVStoreRunServer(kv, controller, NULL), "server");
}

int main(void) {
    kv = dist_start("dist_sync", "0:hello\n0:times10\n");
    rank = worker_rank(kv);
    RUN(test_roles_rank_and_group);
    RUN(test_rank0_init_wins);
    RUN(test_push_sums_one_push_of_every_worker);
    RUN(test_arrays_of_one_key_are_summed_on_the_worker);
    RUN(test_pull_never_writes_the_pushed_array);
    RUN(test_pushpull_and_dtypes);
    RUN(test_big_array_split_over_servers);
    RUN(test_large_values_beside_small_ones);
    RUN(test_large_pushes_in_a_row);
    RUN(test_workers_pull_different_keys);
    RUN(test_many_keys_in_one_call);
    RUN(test_plain_and_converted_pushes_of_many_keys);
    RUN(test_bad_input_fails_on_its_worker_only);
    RUN(test_string_keys);
    RUN(test_commands_and_server_updater);
    RUN(test_run_server_on_a_worker_is_an_error);
    CHECK_OK(MXKVStoreFree(kv));
    return check_summary(rank == 0 ? "test_dist_sync (worker 0)" : "test_dist_sync (worker)");
}
