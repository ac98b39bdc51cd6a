/*
 * 2-bit gradient compression over the wire (reference §3.8, §4.3–§4.4): each worker
 * quantises its push with a residual per key and sends the packed words; the servers
 * dequantise and, without an updater, make the round's sum the value. Init and pulls are
 * not compressed. Expected values come from the quantisation rule itself, run here per
 * worker. Run with MXNET_KVSTORE_BIGARRAY_BOUND=1000 so that keys 12 and 14 (1517 values,
 * not a whole number of 16-value words) are split over every server:
 *   DMLC_NUM_SERVER=2 MXNET_KVSTORE_BIGARRAY_BOUND=1000 mpirun -np 4 test_dist_compression
 */
#include "dist.h"

#define THRESHOLD 0.5f
#define BIG_ROWS 37
#define BIG_COLS 41
#define BIG (BIG_ROWS * BIG_COLS)

static KVStoreHandle kv;
static int rank, workers;

static int set_2bit(KVStoreHandle h, const char *threshold) {
    const char *names[2] = {"type", "threshold"};
    const char *values[2] = {"2bit", threshold};
    return MXKVStoreSetGradientCompression(h, 2, names, values);
}

/* One value through the rule: residual += g; send ±threshold once it is reached. */
static float quantize(float g, float *residual) {
    *residual += g;
    if (*residual >= THRESHOLD) {
        *residual -= THRESHOLD;
        return THRESHOLD;
    }
    if (*residual <= -THRESHOLD) {
        *residual += THRESHOLD;
        return -THRESHOLD;
    }
    return 0.0f;
}

/* The gradient worker `r` pushes in round `round`, value i. */
static float gradient(int r, int round, int i) {
    return (float)((i * 7 + r * 13 + round * 5) % 17) / 10.0f - 0.8f;
}

static int pulled_equals(int key, mx_uint rows, mx_uint cols, const float *expected) {
    size_t n = (size_t)rows * cols, i;
    float *got = malloc(n * sizeof(float));
    NDArrayHandle out = arr_fill(rows, cols, -7.0f);
    int same = MXKVStorePull(kv, 1, &key, &out, 0) == 0;
    arr_read(out, got, n);
    for (i = 0; same && i < n; i++) {
        if (got[i] != expected[i]) {
            fprintf(stderr, "key %d value %zu: got %g, expected %g\n", key, i, got[i], expected[i]);
            same = 0;
        }
    }
    MXNDArrayFree(out);
    free(got);
    return same;
}

static void push_all(int key, mx_uint rows, mx_uint cols, float v) {
    NDArrayHandle g = arr_fill(rows, cols, v);
    CHECK_OK(MXKVStorePush(kv, 1, &key, &g, 0));
    MXNDArrayFree(g);
}

static void test_residuals_carry_over(int key, mx_uint rows, mx_uint cols) {
    float zero = 0.0f, sent = THRESHOLD * (float)workers;
    /* Below the threshold nothing is sent; the residual then reaches it. */
    push_all(key, rows, cols, 0.4f);
    CHECK(key_equals(kv, key, rows, cols, zero));
    push_all(key, rows, cols, 0.1f);
    CHECK(key_equals(kv, key, rows, cols, sent));
    push_all(key, rows, cols, 0.2f);
    CHECK(key_equals(kv, key, rows, cols, zero));
    push_all(key, rows, cols, 0.3f);
    CHECK(key_equals(kv, key, rows, cols, sent));
    push_all(key, rows, cols, -1.25f);
    CHECK(key_equals(kv, key, rows, cols, -sent));
}

/* Every worker pushes its own gradients; each predicts the sum from every worker's
 * residuals. */
static void test_sums_of_different_gradients(int key, mx_uint rows, mx_uint cols) {
    size_t n = (size_t)rows * cols, i;
    int r, round;
    float *residuals = calloc(n * (size_t)workers, sizeof(float));
    float *expected = malloc(n * sizeof(float)), *mine = malloc(n * sizeof(float));
    mx_uint shape[2] = {rows, cols};
    for (round = 0; round < 3; round++) {
        for (i = 0; i < n; i++) {
            expected[i] = 0.0f;
            mine[i] = gradient(rank, round, (int)i);
        }
        for (r = 0; r < workers; r++)
            for (i = 0; i < n; i++)
                expected[i] += quantize(gradient(r, round, (int)i), &residuals[r * n + i]);
        {
            NDArrayHandle g = arr_f32(shape, 2, mine);
            CHECK_OK(MXKVStorePush(kv, 1, &key, &g, 0));
            MXNDArrayFree(g);
        }
        CHECK(pulled_equals(key, rows, cols, expected));
    }
    free(residuals);
    free(expected);
    free(mine);
}

static void test_bad_pushes_change_nothing(void) {
    int half = 13, key = 10;
    mx_uint shape[2] = {2, 3};
    NDArrayHandle h = arr_new(shape, 2, 2), g = arr_fill(2, 3, 0.75f);
    CHECK_OK(MXKVStoreInit(kv, 1, &half, &h));
    CHECK_FAIL(MXKVStorePush(kv, 1, &half, &h, 0), "only supported for float32");
    /* A push of two keys, one of them float16, sends neither. */
    {
        int keys[2] = {key, half};
        NDArrayHandle vals[2] = {g, h};
        CHECK_FAIL(MXKVStorePush(kv, 2, keys, vals, 0), "key 13 is float16");
    }
    CHECK(key_equals(kv, key, 2, 3, -THRESHOLD * (float)workers));
    /* After init the setting cannot change: the servers' pieces follow it. */
    CHECK_FAIL(set_2bit(kv, "0.25"), "before the first init");
    MXNDArrayFree(h);
    MXNDArrayFree(g);
}

int main(void) {
    int keys[4] = {10, 11, 12, 14}, i;
    NDArrayHandle init[4];
    kv = dist_start("dist_sync", NULL);
    rank = worker_rank(kv);
    CHECK_OK(MXKVStoreGetGroupSize(kv, &workers));
    CHECK_FAIL(set_2bit(kv, "0"), "threshold must be greater than 0");
    CHECK_OK(set_2bit(kv, "0.5"));
    init[0] = arr_fill(2, 3, 0.0f);
    init[1] = arr_fill(2, 3, 1.0f);
    init[2] = arr_fill(BIG_ROWS, BIG_COLS, 0.0f);
    init[3] = arr_fill(BIG_ROWS, BIG_COLS, 0.0f);
    CHECK_OK(MXKVStoreInit(kv, 4, keys, init));
    /* Init is not compressed. */
    CHECK(key_equals(kv, 11, 2, 3, 1.0f));
    CHECK(key_equals(kv, 12, BIG_ROWS, BIG_COLS, 0.0f));
    test_residuals_carry_over(10, 2, 3);
    test_residuals_carry_over(12, BIG_ROWS, BIG_COLS);
    test_sums_of_different_gradients(11, 2, 3);
    test_sums_of_different_gradients(14, BIG_ROWS, BIG_COLS);
    test_bad_pushes_change_nothing();
    for (i = 0; i < 4; i++) MXNDArrayFree(init[i]);
    CHECK_OK(MXKVStoreFree(kv));
    return check_summary("test_dist_compression");
}
