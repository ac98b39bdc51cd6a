/*
 * 2-bit gradient compression (reference §3.8): MXKVStoreSetGradientCompression and what
 * a compressing store gives back. The fixture c-tests/fixtures/compression.script (made
 * by fixtures/make_compression_fixture.py with MXNet 1.9.1) is replayed command by
 * command and every pulled value compared bit for bit; the other tests check what the
 * script cannot: the updater's recv, bad input, threads, and a large array against the
 * element rule written out here.
 */
#include "util.h"

#include <float.h>
#include <math.h>
#include <pthread.h>

#ifndef MXKV_FIXTURE_DIR
#define MXKV_FIXTURE_DIR "c-tests/fixtures"
#endif

enum { MAX_N = 1024, MAX_SLOTS = 4, LINE = 1 << 17 };

static float from_hex(const char *tok) {
    uint32_t bits = (uint32_t)strtoul(tok, NULL, 16);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint32_t bits_of(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static KVStoreHandle store_of(const char *type) {
    KVStoreHandle kv = NULL;
    CHECK_OK(MXKVStoreCreate(type, &kv));
    return kv;
}

static int set_threshold(KVStoreHandle kv, const char *threshold) {
    const char *names[2] = {"type", "threshold"}, *values[2] = {"2bit", threshold};
    return MXKVStoreSetGradientCompression(kv, 2, names, values);
}

static NDArrayHandle vector_of(const float *vals, mx_uint n) {
    return arr_f32(&n, 1, vals);
}

/* Pulls int key `key` (n float32) and compares each value's bits with `want`. */
static int key_bits_equal(KVStoreHandle kv, int key, const float *want, mx_uint n, const char *where) {
    static float got[MAX_N];
    NDArrayHandle out = vector_of(want, n);
    mx_uint i;
    int same = MXKVStorePull(kv, 1, &key, &out, 0) == 0;
    arr_read(out, got, n);
    for (i = 0; same && i < n; i++) {
        if (bits_of(got[i]) != bits_of(want[i])) {
            fprintf(stderr, "%s: key %d value %u is %.9g (%08x), MXNet gave %.9g (%08x)\n", where, key,
                    i, got[i], bits_of(got[i]), want[i], bits_of(want[i]));
            same = 0;
        }
    }
    MXNDArrayFree(out);
    return same;
}

/* Every one of the n float32 values of int key `key` is v. */
static int key_all(KVStoreHandle kv, int key, mx_uint n, float v) {
    float want[MAX_N];
    mx_uint i;
    for (i = 0; i < n; i++) want[i] = v;
    return key_bits_equal(kv, key, want, n, "key_all");
}

/* Same for string key `name`. */
static int skey_all(KVStoreHandle kv, const char *name, mx_uint n, float v) {
    float got[MAX_N] = {0};
    NDArrayHandle out = vector_of(got, n);
    mx_uint i;
    int same = MXKVStorePullEx(kv, 1, &name, &out, 0) == 0;
    arr_read(out, got, n);
    for (i = 0; i < n; i++) same = same && got[i] == v;
    MXNDArrayFree(out);
    return same;
}

/* ---- the fixture ----------------------------------------------------------------- */

/* A threshold text gives MXNet's float: a pushed FLT_MAX crosses it and comes back as it. */
static void replay_threshold(const char *text, float want) {
    KVStoreHandle kv = store_of("device");
    int key = 0;
    float zero = 0.0f, big = FLT_MAX;
    NDArrayHandle init = vector_of(&zero, 1), grad = vector_of(&big, 1);
    CHECK_OK(set_threshold(kv, text));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &init));
    CHECK_OK(MXKVStorePush(kv, 1, &key, &grad, 0));
    CHECK(key_bits_equal(kv, key, &want, 1, text));
    MXNDArrayFree(init);
    MXNDArrayFree(grad);
    CHECK_OK(MXKVStoreFree(kv));
}

/* "name=value,name=value | first line of the message" */
static void replay_refusal(char *spec) {
    char *bar = strstr(spec, " | ");
    const char *names[8], *values[8];
    char *pair, *save = NULL;
    mx_uint count = 0;
    KVStoreHandle kv = store_of("device");
    const char *err;
    size_t len;
    CHECK(bar != NULL);
    if (!bar) return;
    *bar = '\0';
    for (pair = strtok_r(spec, ",", &save); pair && count < 8; pair = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(pair, '=');
        *eq = '\0';
        names[count] = pair;
        values[count++] = eq + 1;
    }
    CHECK_EQ_INT(MXKVStoreSetGradientCompression(kv, count, names, values), -1);
    err = MXGetLastError();
    len = strcspn(err, "\n");
    if (strlen(bar + 3) == len && strncmp(err, bar + 3, len) == 0) {
        check_pass();
    } else {
        fprintf(stderr, "setting %s: got \"%.*s\", MXNet said \"%s\"\n", spec, (int)len, err, bar + 3);
        check_fail_at(__FILE__, __LINE__, "MXNet's message");
    }
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_fixture_replays_as_mxnet(void) {
    static char line[LINE];
    static float vals[MAX_SLOTS * MAX_N];
    char path[512];
    KVStoreHandle kv = NULL;
    int lines = 0, expects = 0;
    FILE *f;
    snprintf(path, sizeof path, "%s/compression.script", MXKV_FIXTURE_DIR);
    f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char *save = NULL, *cmd;
        line[strcspn(line, "\n")] = '\0';
        lines++;
        if (strncmp(line, "refuse ", 7) == 0) {
            replay_refusal(line + 7);
            continue;
        }
        cmd = strtok_r(line, " ", &save);
        if (!cmd) continue;
        if (strcmp(cmd, "store") == 0) {
            if (kv) CHECK_OK(MXKVStoreFree(kv));
            kv = store_of(strtok_r(NULL, " ", &save));
        } else if (strcmp(cmd, "set") == 0) {
            CHECK_OK(set_threshold(kv, strtok_r(NULL, " ", &save)));
        } else if (strcmp(cmd, "init") == 0) {
            int key = atoi(strtok_r(NULL, " ", &save));
            mx_uint n = (mx_uint)atoi(strtok_r(NULL, " ", &save));
            NDArrayHandle zeros;
            memset(vals, 0, sizeof(float) * n);
            zeros = vector_of(vals, n);
            CHECK_OK(MXKVStoreInit(kv, 1, &key, &zeros));
            MXNDArrayFree(zeros);
        } else if (strcmp(cmd, "push") == 0) {
            int key = atoi(strtok_r(NULL, " ", &save)), keys[MAX_SLOTS];
            int slots = atoi(strtok_r(NULL, " ", &save)), s;
            mx_uint n = (mx_uint)atoi(strtok_r(NULL, " ", &save)), i;
            NDArrayHandle arrays[MAX_SLOTS];
            for (i = 0; i < (mx_uint)slots * n; i++) vals[i] = from_hex(strtok_r(NULL, " ", &save));
            for (s = 0; s < slots; s++) {
                keys[s] = key;
                arrays[s] = vector_of(vals + (size_t)s * n, n);
            }
            CHECK_OK(MXKVStorePush(kv, (mx_uint)slots, keys, arrays, 0));
            for (s = 0; s < slots; s++) MXNDArrayFree(arrays[s]);
        } else if (strcmp(cmd, "expect") == 0) {
            int key = atoi(strtok_r(NULL, " ", &save));
            mx_uint n = (mx_uint)atoi(strtok_r(NULL, " ", &save)), i;
            char where[64];
            for (i = 0; i < n; i++) vals[i] = from_hex(strtok_r(NULL, " ", &save));
            snprintf(where, sizeof where, "script line %d", lines);
            CHECK(key_bits_equal(kv, key, vals, n, where));
            expects++;
        } else if (strcmp(cmd, "threshold") == 0) {
            const char *text = strtok_r(NULL, " ", &save);
            replay_threshold(text, from_hex(strtok_r(NULL, " ", &save)));
        } else {
            fprintf(stderr, "script line %d: unknown command %s\n", lines, cmd);
            check_fail_at(__FILE__, __LINE__, "a known command");
        }
    }
    fclose(f);
    if (kv) CHECK_OK(MXKVStoreFree(kv));
    CHECK(expects > 50);
}

/* ---- the updater sees the compressed sum -------------------------------------------- */

static float recv_seen[8];
static int recv_calls, recv_dev_type, recv_dev_id;

static void record_recv(int key, NDArrayHandle recv, NDArrayHandle local, void *handle) {
    (void)key;
    (void)handle;
    arr_read(recv, recv_seen, 4);
    CHECK_OK(MXNDArrayGetContext(recv, &recv_dev_type, &recv_dev_id));
    recv_calls++;
    MXNDArrayFree(recv);
    MXNDArrayFree(local);
}

static void test_updater_receives_the_compressed_sum(void) {
    KVStoreHandle kv = store_of("device");
    int key = 4, keys[2] = {4, 4};
    float zeros[4] = {0, 0, 0, 0}, g[4] = {0.3f, 0.3f, -0.3f, 0.1f};
    NDArrayHandle init = vector_of(zeros, 4), grads[2];
    grads[0] = vector_of(g, 4);
    grads[1] = vector_of(g, 4);
    CHECK_OK(set_threshold(kv, "0.5"));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &init));
    CHECK_OK(MXKVStoreSetUpdater(kv, record_recv, NULL));
    /* Each slot holds 0.3: nothing is sent; then 0.6 in each: 0.5 + 0.5. */
    CHECK_OK(MXKVStorePush(kv, 2, keys, grads, 0));
    CHECK(recv_seen[0] == 0.0f && recv_seen[1] == 0.0f && recv_seen[2] == 0.0f);
    CHECK_OK(MXKVStorePush(kv, 2, keys, grads, 0));
    CHECK_EQ_DBL(recv_seen[0], 1.0f);
    CHECK_EQ_DBL(recv_seen[2], -1.0f);
    CHECK_EQ_DBL(recv_seen[3], 0.0f);
    CHECK_EQ_INT(recv_calls, 2);
    /* The updater did not write into local: the stored value is still the zeros. */
    CHECK(key_all(kv, key, 4, 0.0f));
    /* The sum is in the merge buffer, placed (as MXNet's) by the first compressed push:
     * there, on the device of its one array. */
    {
        KVStoreHandle one = store_of("device");
        mx_uint n = 4;
        NDArrayHandle on3 = NULL;
        CHECK_OK(MXNDArrayCreateEx(&n, 1, 1, 3, 0, DT_F32, &on3));
        CHECK_OK(MXNDArraySyncCopyFromCPU(on3, g, 4));
        CHECK_OK(set_threshold(one, "0.5"));
        CHECK_OK(MXKVStoreInit(one, 1, &key, &init));
        CHECK_OK(MXKVStoreSetUpdater(one, record_recv, NULL));
        CHECK_OK(MXKVStorePush(one, 1, &key, &on3, 0));
        CHECK_EQ_INT(recv_dev_type, 1);
        CHECK_EQ_INT(recv_dev_id, 3);
        MXNDArrayFree(on3);
        CHECK_OK(MXKVStoreFree(one));
    }
    MXNDArrayFree(init);
    MXNDArrayFree(grads[0]);
    MXNDArrayFree(grads[1]);
    CHECK_OK(MXKVStoreFree(kv));
}

/* ---- string keys, PushPull, dtypes ------------------------------------------------- */

static void test_string_keys_and_pushpull_compress(void) {
    KVStoreHandle kv = store_of("device");
    const char *name = "w";
    int key = 2;
    float zeros[4] = {0, 0, 0, 0}, g[4] = {0.3f, 0.3f, 0.3f, 0.3f};
    NDArrayHandle init = vector_of(zeros, 4), grad = vector_of(g, 4), out = vector_of(zeros, 4);
    KVStoreHandle ikv = store_of("device");
    CHECK_OK(set_threshold(kv, "0.5"));
    CHECK_OK(MXKVStoreInitEx(kv, 1, &name, &init));
    CHECK_OK(MXKVStorePushEx(kv, 1, &name, &grad, 0));
    CHECK(skey_all(kv, name, 4, 0.0f));
    CHECK_OK(MXKVStorePushEx(kv, 1, &name, &grad, 0));
    CHECK(skey_all(kv, name, 4, 0.5f));

    CHECK_OK(set_threshold(ikv, "0.5"));
    CHECK_OK(MXKVStoreInit(ikv, 1, &key, &init));
    CHECK_OK(MXKVStorePushPull(ikv, 1, &key, 1, &key, &grad, &out, 0));
    CHECK(arr_all_equal(out, 4, 0.0f));
    CHECK_OK(MXKVStorePushPull(ikv, 1, &key, 1, &key, &grad, &out, 0));
    CHECK(arr_all_equal(out, 4, 0.5f));
    MXNDArrayFree(init);
    MXNDArrayFree(grad);
    MXNDArrayFree(out);
    CHECK_OK(MXKVStoreFree(kv));
    CHECK_OK(MXKVStoreFree(ikv));
}

static void test_dtypes(void) {
    KVStoreHandle kv = store_of("device");
    int keys[2] = {1, 2};
    mx_uint n = 4;
    float zeros[4] = {0, 0, 0, 0};
    double g64[4] = {0.75, -2.0, 0.25, 0.0};
    uint16_t h16[4] = {0, 0, 0, 0};
    NDArrayHandle f32 = vector_of(zeros, 4), f64 = arr_new(&n, 1, DT_F64), f16 = arr_new(&n, 1, DT_F16);
    NDArrayHandle pair[2];
    CHECK_OK(MXNDArraySyncCopyFromCPU(f64, g64, 4));
    CHECK_OK(MXNDArraySyncCopyFromCPU(f16, h16, 4));
    CHECK_OK(set_threshold(kv, "0.5"));
    pair[0] = f32;
    pair[1] = f16;
    CHECK_OK(MXKVStoreInit(kv, 2, keys, pair));
    /* float64 values pushed into a float32 key are converted, then compressed. */
    CHECK_OK(MXKVStorePush(kv, 1, &keys[0], &f64, 0));
    {
        float want[4] = {0.5f, -0.5f, 0.0f, 0.0f};
        CHECK(key_bits_equal(kv, 1, want, 4, "float64 into float32"));
    }
    /* A float16 key cannot be compressed: the whole push fails and key 1 is unchanged
     * (nor is its residual: the next push shows the 0.25 + 0.25 left from above). */
    pair[0] = f64;
    pair[1] = f16;
    CHECK_FAIL(MXKVStorePush(kv, 2, keys, pair, 0), "only supported for float32");
    CHECK_ERR_HAS("key 2 is float16");
    {
        float want[4] = {0.5f, -0.5f, 0.0f, 0.0f};
        CHECK(key_bits_equal(kv, 1, want, 4, "after the failed push"));
    }
    CHECK_OK(MXKVStorePush(kv, 1, &keys[0], &f64, 0));
    {
        float want[4] = {0.5f, -0.5f, 0.5f, 0.0f};
        CHECK(key_bits_equal(kv, 1, want, 4, "the residuals were kept"));
    }
    MXNDArrayFree(f32);
    MXNDArrayFree(f64);
    MXNDArrayFree(f16);
    CHECK_OK(MXKVStoreFree(kv));
}

/* ---- bad input ------------------------------------------------------------------- */

static void test_bad_input_changes_nothing(void) {
    KVStoreHandle kv = store_of("device"), dead = store_of("device");
    const char *names[2] = {"type", "threshold"}, *good[2] = {"2bit", "0.5"};
    const char *holed_names[2] = {"type", NULL}, *holed_values[2] = {"2bit", NULL};
    int key = 1;
    float zeros[4] = {0, 0, 0, 0}, g[4] = {0.3f, 0.3f, 0.3f, 0.3f};
    NDArrayHandle init = vector_of(zeros, 4), grad = vector_of(g, 4);
    CHECK_OK(MXKVStoreFree(dead));
    CHECK_FAIL(MXKVStoreSetGradientCompression(NULL, 2, names, good), "KVStore handle is NULL");
    CHECK_FAIL(MXKVStoreSetGradientCompression(dead, 2, names, good), "KVStore");
    CHECK_FAIL(MXKVStoreSetGradientCompression(kv, 2, NULL, good), "is NULL");
    CHECK_FAIL(MXKVStoreSetGradientCompression(kv, 2, names, NULL), "is NULL");
    CHECK_FAIL(MXKVStoreSetGradientCompression(kv, 2, holed_names, good), "is NULL");
    CHECK_FAIL(MXKVStoreSetGradientCompression(kv, 2, names, holed_values), "is NULL");
    CHECK_FAIL(MXKVStoreSetGradientCompression(kv, 0, NULL, NULL),
               "Required parameter type of string is not presented");
    /* None of that set anything: the store sums exactly. */
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &init));
    CHECK_OK(MXKVStorePush(kv, 1, &key, &grad, 0));
    CHECK(key_all(kv, key, 4, 0.3f));
    /* A failed change keeps the setting in force. */
    CHECK_OK(set_threshold(kv, "0.5"));
    CHECK_FAIL(set_threshold(kv, "0"), "threshold must be greater than 0");
    CHECK_FAIL(set_threshold(kv, "0.25x"), "trailing characters");
    CHECK_OK(MXKVStorePush(kv, 1, &key, &grad, 0));
    CHECK(key_all(kv, key, 4, 0.0f));
    CHECK_OK(MXKVStorePush(kv, 1, &key, &grad, 0));
    CHECK(key_all(kv, key, 4, 0.5f));
    MXNDArrayFree(init);
    MXNDArrayFree(grad);
    CHECK_OK(MXKVStoreFree(kv));
}

/* ---- a large array against the element rule -------------------------------------- */

enum { BIG = 100003 };

static void test_large_array_matches_the_element_rule(void) {
    KVStoreHandle kv = store_of("device");
    int key = 11, keys[3] = {11, 11, 11}, push, s;
    mx_uint n = BIG;
    const float t = 0.37f;
    float *grad = malloc(sizeof(float) * 3 * BIG), *residual = calloc(3 * BIG, sizeof(float));
    float *want = malloc(sizeof(float) * BIG), *got = malloc(sizeof(float) * BIG);
    NDArrayHandle init, arrays[3], out;
    uint32_t seed = 7;
    size_t i, wrong = 0;
    for (i = 0; i < BIG; i++) want[i] = 0.0f;
    init = vector_of(want, n);
    out = vector_of(want, n);
    CHECK_OK(set_threshold(kv, "0.37"));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &init));
    for (push = 0; push < 3; push++) {
        for (i = 0; i < 3 * (size_t)BIG; i++) {
            seed = seed * 1664525u + 1013904223u;
            grad[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 1.2f;
        }
        for (s = 0; s < 3; s++) arrays[s] = vector_of(grad + (size_t)s * BIG, n);
        CHECK_OK(MXKVStorePush(kv, 3, keys, arrays, 0));
        for (s = 0; s < 3; s++) MXNDArrayFree(arrays[s]);
        /* MXNet: per slot, r += g; send +t, -t or 0; sum the slots in order. */
        for (i = 0; i < BIG; i++) {
            float sum = 0.0f;
            for (s = 0; s < 3; s++) {
                float *r = &residual[(size_t)s * BIG + i], sent = 0.0f;
                *r += grad[(size_t)s * BIG + i];
                if (*r >= t) {
                    sent = t;
                    *r -= t;
                } else if (*r <= -t) {
                    sent = -t;
                    *r += t;
                }
                sum = s == 0 ? sent : sum + sent;
            }
            want[i] = sum;
        }
        CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
        arr_read(out, got, BIG);
        for (i = 0; i < BIG; i++) wrong += bits_of(got[i]) != bits_of(want[i]);
    }
    CHECK_EQ_INT(wrong, 0);
    MXNDArrayFree(init);
    MXNDArrayFree(out);
    free(grad);
    free(residual);
    free(want);
    free(got);
    CHECK_OK(MXKVStoreFree(kv));
}

/* ---- threads ----------------------------------------------------------------------- */

static KVStoreHandle shared_kv;

static void *push_own_key(void *arg) {
    int key = *(int *)arg, i;
    float g[4] = {0.3f, 0.3f, 0.3f, 0.3f};
    NDArrayHandle grad = vector_of(g, 4);
    for (i = 0; i < 200; i++) MXKVStorePush(shared_kv, 1, &key, &grad, 0);
    MXNDArrayFree(grad);
    return NULL;
}

static void test_threads_keep_their_own_residuals(void) {
    pthread_t threads[4];
    int keys[4] = {0, 1, 2, 3}, i;
    float zeros[4] = {0, 0, 0, 0};
    NDArrayHandle init = vector_of(zeros, 4), inits[4] = {init, init, init, init};
    shared_kv = store_of("device");
    CHECK_OK(set_threshold(shared_kv, "0.5"));
    CHECK_OK(MXKVStoreInit(shared_kv, 4, keys, inits));
    for (i = 0; i < 4; i++) pthread_create(&threads[i], NULL, push_own_key, &keys[i]);
    for (i = 0; i < 4; i++) pthread_join(threads[i], NULL);
    /* Each key saw its 200 pushes in order, with its own residual. */
    {
        float r = 0.0f, sent = 0.0f;
        for (i = 0; i < 200; i++) {
            r += 0.3f;
            sent = r >= 0.5f ? 0.5f : r <= -0.5f ? -0.5f : 0.0f;
            r -= sent;
        }
        for (i = 0; i < 4; i++) CHECK(key_all(shared_kv, i, 4, sent));
    }
    MXNDArrayFree(init);
    CHECK_OK(MXKVStoreFree(shared_kv));
}

int main(void) {
    RUN(test_fixture_replays_as_mxnet);
    RUN(test_updater_receives_the_compressed_sum);
    RUN(test_string_keys_and_pushpull_compress);
    RUN(test_dtypes);
    RUN(test_bad_input_changes_nothing);
    RUN(test_large_array_matches_the_element_rule);
    RUN(test_threads_keep_their_own_residuals);
    return check_summary("test_compression");
}
