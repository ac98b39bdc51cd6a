/*
 * Int and string keys: init, push (summing), pull, pushpull, broadcast, updaters, value
 * semantics and dtype conversion (spec §3, §4.3–4.5; reference §3.2–3.7).
 */
#include "util.h"

#define R 2
#define C 3
#define N (R * C)

/* ---- recording updaters ---------------------------------------------------------- */

enum { UPD_NOTHING, UPD_ADD, UPD_TWICE_PLUS };

typedef struct {
    int mode;               /* what the updater writes into local */
    int n;                  /* int-updater calls */
    int keys[64];
    float recv0[64];        /* recv[0] at each call */
    float local0[64];       /* local[0] at each call, before the update */
    int sn;                 /* string-updater calls */
    char skeys[64][16];
    float srecv0[64];
    int bad_handles;        /* recv/local that could not be read or freed */
} Record;

/* Apply the mode with the raw data of both handles (float32 keys only), then free both:
 * the updater owns them (reference §1.3 #19). */
static void apply_and_free(Record *r, NDArrayHandle recv, NDArrayHandle local, float *recv0,
                           float *local0) {
    int ndim = -1, dtype = -1, i;
    const int *shape = NULL;
    size_t n = 1;
    float *rd = NULL, *ld = NULL;
    if (MXNDArrayGetShapeEx(recv, &ndim, &shape) != 0 || MXNDArrayGetDType(recv, &dtype) != 0 ||
        MXNDArrayGetData(recv, (void **)&rd) != 0 || MXNDArrayGetData(local, (void **)&ld) != 0 ||
        dtype != DT_F32 || rd == NULL || ld == NULL) {
        r->bad_handles++;
    } else {
        for (i = 0; i < ndim; i++) n *= (size_t)shape[i];
        *recv0 = rd[0];
        *local0 = ld[0];
        for (i = 0; i < (int)n; i++) {
            if (r->mode == UPD_ADD) ld[i] += rd[i];
            else if (r->mode == UPD_TWICE_PLUS) ld[i] = 2.0f * ld[i] + rd[i];
        }
    }
    if (MXNDArrayFree(recv) != 0) r->bad_handles++;
    if (MXNDArrayFree(local) != 0) r->bad_handles++;
}

static void int_updater(int key, NDArrayHandle recv, NDArrayHandle local, void *handle) {
    Record *r = (Record *)handle;
    float unused;
    r->keys[r->n] = key;
    apply_and_free(r, recv, local, &r->recv0[r->n], &unused);
    r->local0[r->n] = unused;
    r->n++;
}

static void str_updater(const char *key, NDArrayHandle recv, NDArrayHandle local, void *handle) {
    Record *r = (Record *)handle;
    float unused;
    snprintf(r->skeys[r->sn], sizeof r->skeys[0], "%s", key);
    apply_and_free(r, recv, local, &r->srecv0[r->sn], &unused);
    r->sn++;
}

static KVStoreHandle new_store(void) {
    KVStoreHandle kv = NULL;
    CHECK_OK(MXKVStoreCreate("local", &kv));
    return kv;
}

/* A store with int keys 3, 5, 7 holding 1, 2, 3 (shape R x C). */
static KVStoreHandle int_store(void) {
    KVStoreHandle kv = new_store();
    int keys[3] = {3, 5, 7};
    NDArrayHandle v[3];
    int i;
    for (i = 0; i < 3; i++) v[i] = arr_fill(R, C, (float)(i + 1));
    CHECK_OK(MXKVStoreInit(kv, 3, keys, v));
    for (i = 0; i < 3; i++) MXNDArrayFree(v[i]);
    return kv;
}

/* A store with string keys "w", "b", "c" (indices 0, 1, 2) holding 1, 2, 3. */
static KVStoreHandle str_store(void) {
    KVStoreHandle kv = new_store();
    const char *keys[3] = {"w", "b", "c"};
    NDArrayHandle v[3];
    int i;
    for (i = 0; i < 3; i++) v[i] = arr_fill(R, C, (float)(i + 1));
    CHECK_OK(MXKVStoreInitEx(kv, 3, keys, v));
    for (i = 0; i < 3; i++) MXNDArrayFree(v[i]);
    return kv;
}

static void free_all(NDArrayHandle *h, int n) {
    int i;
    for (i = 0; i < n; i++) CHECK_OK(MXNDArrayFree(h[i]));
}

/* ---- int keys ---------------------------------------------------------------------- */

static void test_int_init_and_pull(void) {
    KVStoreHandle kv = int_store();
    float vals[N] = {1, 2, 3, 4, 5, 6}, got[N];
    mx_uint shape[2] = {R, C};
    int key = 11;
    NDArrayHandle v = arr_f32(shape, 2, vals), out = arr_fill(R, C, 0.0f);
    CHECK(key_equals(kv, 3, R, C, 1.0f));
    CHECK(key_equals(kv, 5, R, C, 2.0f));
    CHECK(key_equals(kv, 7, R, C, 3.0f));
    /* Element order is kept. */
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
    arr_read(out, got, N);
    CHECK_FLOATS(got, vals, N);
    free_all(&v, 1);
    free_all(&out, 1);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_push_single_assigns(void) {
    KVStoreHandle kv = int_store();
    int key = 3;
    NDArrayHandle v = arr_fill(R, C, 10.0f);
    CHECK_OK(MXKVStorePush(kv, 1, &key, &v, 0));
    CHECK(key_equals(kv, 3, R, C, 10.0f));
    CHECK(key_equals(kv, 5, R, C, 2.0f));
    CHECK_OK(MXKVStorePush(kv, 1, &key, &v, -3));
    CHECK(key_equals(kv, 3, R, C, 10.0f));
    free_all(&v, 1);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_push_several_values_summed(void) {
    KVStoreHandle kv = int_store();
    int keys[3] = {5, 5, 5};
    NDArrayHandle v[3];
    v[0] = arr_fill(R, C, 1.0f);
    v[1] = arr_fill(R, C, 2.0f);
    v[2] = arr_fill(R, C, 4.5f);
    CHECK_OK(MXKVStorePush(kv, 3, keys, v, 0));
    CHECK(key_equals(kv, 5, R, C, 7.5f));
    CHECK(key_equals(kv, 3, R, C, 1.0f));
    CHECK(key_equals(kv, 7, R, C, 3.0f));
    free_all(v, 3);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_push_unordered_keys_with_repeats(void) {
    KVStoreHandle kv = int_store();
    int keys[5] = {7, 3, 7, 5, 3};
    NDArrayHandle v[5];
    int i;
    for (i = 0; i < 5; i++) v[i] = arr_fill(R, C, (float)(i + 1));
    CHECK_OK(MXKVStorePush(kv, 5, keys, v, 0));
    CHECK(key_equals(kv, 7, R, C, 1.0f + 3.0f));
    CHECK(key_equals(kv, 3, R, C, 2.0f + 5.0f));
    CHECK(key_equals(kv, 5, R, C, 4.0f));
    free_all(v, 5);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_push_elementwise_sum(void) {
    KVStoreHandle kv = int_store();
    float a[N] = {1, 2, 3, 4, 5, 6}, b[N] = {10, 20, 30, 40, 50, 60}, c[N] = {-1, 0, 1, 0.5f, 0.25f, 100};
    float want[N], got[N];
    mx_uint shape[2] = {R, C};
    int keys[3] = {7, 7, 7}, i;
    NDArrayHandle v[3], out = arr_fill(R, C, 0.0f);
    v[0] = arr_f32(shape, 2, a);
    v[1] = arr_f32(shape, 2, b);
    v[2] = arr_f32(shape, 2, c);
    for (i = 0; i < N; i++) want[i] = a[i] + b[i] + c[i];
    CHECK_OK(MXKVStorePush(kv, 3, keys, v, 0));
    CHECK_OK(MXKVStorePull(kv, 1, keys, &out, 0));
    arr_read(out, got, N);
    CHECK_FLOATS(got, want, N);
    free_all(v, 3);
    free_all(&out, 1);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_pull_several_outputs(void) {
    KVStoreHandle kv = int_store();
    int keys[4] = {3, 5, 3, 3};
    NDArrayHandle out[4];
    int i;
    for (i = 0; i < 4; i++) out[i] = arr_fill(R, C, -1.0f);
    CHECK_OK(MXKVStorePull(kv, 4, keys, out, 0));
    CHECK(arr_all_equal(out[0], N, 1.0f));
    CHECK(arr_all_equal(out[1], N, 2.0f));
    CHECK(arr_all_equal(out[2], N, 1.0f));
    CHECK(arr_all_equal(out[3], N, 1.0f));
    for (i = 0; i < 4; i++) CHECK_OK(MXNDArraySyncCopyFromCPU(out[i], (float[N]){0}, N));
    CHECK_OK(MXKVStorePullWithSparse(kv, 4, keys, out, 0, true));
    CHECK(arr_all_equal(out[0], N, 1.0f));
    CHECK(arr_all_equal(out[1], N, 2.0f));
    CHECK(arr_all_equal(out[3], N, 1.0f));
    CHECK_OK(MXKVStorePullWithSparse(kv, 1, &keys[1], &out[0], 0, false));
    CHECK(arr_all_equal(out[0], N, 2.0f));
    free_all(out, 4);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_pushpull(void) {
    KVStoreHandle kv = int_store();
    int vkeys[3] = {3, 3, 5}, okeys[3] = {3, 5, 7};
    NDArrayHandle v[3], out[3];
    int i;
    v[0] = arr_fill(R, C, 1.0f);
    v[1] = arr_fill(R, C, 2.0f);
    v[2] = arr_fill(R, C, 8.0f);
    for (i = 0; i < 3; i++) out[i] = arr_fill(R, C, -1.0f);
    CHECK_OK(MXKVStorePushPull(kv, 3, vkeys, 3, okeys, v, out, 0));
    CHECK(arr_all_equal(out[0], N, 3.0f));
    CHECK(arr_all_equal(out[1], N, 8.0f));
    CHECK(arr_all_equal(out[2], N, 3.0f));
    /* The pushed arrays are untouched. */
    CHECK(arr_all_equal(v[0], N, 1.0f));
    CHECK(arr_all_equal(v[1], N, 2.0f));
    free_all(v, 3);
    free_all(out, 3);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_pushpull_outs_alias_vals(void) {
    KVStoreHandle kv = int_store();
    int keys[2] = {5, 5}, key7 = 7;
    NDArrayHandle v[2], single;
    v[0] = arr_fill(R, C, 1.5f);
    v[1] = arr_fill(R, C, 2.0f);
    /* Python's pushpull without `out` passes the same arrays twice. */
    CHECK_OK(MXKVStorePushPull(kv, 2, keys, 2, keys, v, v, 0));
    CHECK(arr_all_equal(v[0], N, 3.5f));
    CHECK(arr_all_equal(v[1], N, 3.5f));
    CHECK(key_equals(kv, 5, R, C, 3.5f));
    single = arr_fill(R, C, 9.0f);
    CHECK_OK(MXKVStorePushPull(kv, 1, &key7, 1, &key7, &single, &single, 0));
    CHECK(arr_all_equal(single, N, 9.0f));
    CHECK(key_equals(kv, 7, R, C, 9.0f));
    free_all(v, 2);
    free_all(&single, 1);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_broadcast(void) {
    KVStoreHandle kv = int_store();
    int vkeys[2] = {9, 10}, okeys[3] = {9, 9, 3};
    NDArrayHandle v[2], out[3];
    int i;
    v[0] = arr_fill(R, C, 6.0f);
    v[1] = arr_fill(R, C, 7.0f);
    for (i = 0; i < 3; i++) out[i] = arr_fill(R, C, -1.0f);
    CHECK_OK(MXKVStoreBroadcast(kv, 2, vkeys, 3, okeys, v, out, 0));
    CHECK(arr_all_equal(out[0], N, 6.0f));
    CHECK(arr_all_equal(out[1], N, 6.0f));
    CHECK(arr_all_equal(out[2], N, 1.0f));
    CHECK(key_equals(kv, 9, R, C, 6.0f));
    CHECK(key_equals(kv, 10, R, C, 7.0f));
    /* Broadcast deep-copies like Init. */
    CHECK_OK(MXNDArraySyncCopyFromCPU(v[0], (float[N]){0}, N));
    CHECK(key_equals(kv, 9, R, C, 6.0f));
    free_all(v, 2);
    free_all(out, 3);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_negative_and_extreme_keys(void) {
    KVStoreHandle kv = new_store();
    int keys[4] = {-5, -1, 0, 2147483647}, key_min = -2147483647 - 1;
    NDArrayHandle v[4], m;
    Record rec;
    int i;
    for (i = 0; i < 4; i++) v[i] = arr_fill(R, C, (float)(10 * i));
    CHECK_OK(MXKVStoreInit(kv, 4, keys, v));
    m = arr_fill(R, C, 0.5f);
    CHECK_OK(MXKVStoreInit(kv, 1, &key_min, &m));
    CHECK(key_equals(kv, -5, R, C, 0.0f));
    CHECK(key_equals(kv, -1, R, C, 10.0f));
    CHECK(key_equals(kv, 0, R, C, 20.0f));
    CHECK(key_equals(kv, 2147483647, R, C, 30.0f));
    CHECK(key_equals(kv, key_min, R, C, 0.5f));
    memset(&rec, 0, sizeof rec);
    rec.mode = UPD_ADD;
    CHECK_OK(MXKVStoreSetUpdater(kv, int_updater, &rec));
    CHECK_OK(MXKVStorePush(kv, 4, keys, v, 0));
    CHECK_EQ_INT(rec.n, 4);
    CHECK_EQ_INT(rec.keys[0], -5);
    CHECK_EQ_INT(rec.keys[1], -1);
    CHECK_EQ_INT(rec.keys[2], 0);
    CHECK_EQ_INT(rec.keys[3], 2147483647);
    CHECK(key_equals(kv, -1, R, C, 20.0f));
    free_all(v, 4);
    free_all(&m, 1);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_num_zero_calls(void) {
    KVStoreHandle kv = int_store(), skv = str_store();
    Record rec;
    memset(&rec, 0, sizeof rec);
    CHECK_OK(MXKVStoreSetUpdater(kv, int_updater, &rec));
    CHECK_OK(MXKVStoreInit(kv, 0, NULL, NULL));
    CHECK_OK(MXKVStorePush(kv, 0, NULL, NULL, 0));
    CHECK_OK(MXKVStorePull(kv, 0, NULL, NULL, 0));
    CHECK_OK(MXKVStorePullWithSparse(kv, 0, NULL, NULL, 0, true));
    CHECK_OK(MXKVStorePushPull(kv, 0, NULL, 0, NULL, NULL, NULL, 0));
    CHECK_OK(MXKVStoreBroadcast(kv, 0, NULL, 0, NULL, NULL, NULL, 0));
    CHECK_EQ_INT(rec.n, 0);
    CHECK(key_equals(kv, 3, R, C, 1.0f));
    CHECK(key_equals(kv, 7, R, C, 3.0f));
    CHECK_OK(MXKVStoreInitEx(skv, 0, NULL, NULL));
    CHECK_OK(MXKVStorePushEx(skv, 0, NULL, NULL, 0));
    CHECK_OK(MXKVStorePullEx(skv, 0, NULL, NULL, 0));
    CHECK_OK(MXKVStorePullWithSparseEx(skv, 0, NULL, NULL, 0, false));
    CHECK_OK(MXKVStorePushPullEx(skv, 0, NULL, 0, NULL, NULL, NULL, 0));
    CHECK_OK(MXKVStoreBroadcastEx(skv, 0, NULL, 0, NULL, NULL, NULL, 0));
    CHECK(skey_equals(skv, "c", R, C, 3.0f));
    CHECK_OK(MXKVStoreFree(kv));
    CHECK_OK(MXKVStoreFree(skv));
}

/* ---- string keys ------------------------------------------------------------------- */

static void test_string_keys(void) {
    KVStoreHandle kv = str_store();
    const char *pkeys[3] = {"b", "w", "b"}, *okeys[3] = {"w", "b", "w"};
    NDArrayHandle v[3], out[3];
    int i;
    CHECK(skey_equals(kv, "w", R, C, 1.0f));
    CHECK(skey_equals(kv, "b", R, C, 2.0f));
    CHECK(skey_equals(kv, "c", R, C, 3.0f));
    for (i = 0; i < 3; i++) v[i] = arr_fill(R, C, (float)(i + 4));
    CHECK_OK(MXKVStorePushEx(kv, 3, pkeys, v, 0));
    CHECK(skey_equals(kv, "b", R, C, 4.0f + 6.0f));
    CHECK(skey_equals(kv, "w", R, C, 5.0f));
    CHECK(skey_equals(kv, "c", R, C, 3.0f));
    for (i = 0; i < 3; i++) out[i] = arr_fill(R, C, -1.0f);
    CHECK_OK(MXKVStorePullEx(kv, 3, okeys, out, 0));
    CHECK(arr_all_equal(out[0], N, 5.0f));
    CHECK(arr_all_equal(out[1], N, 10.0f));
    CHECK(arr_all_equal(out[2], N, 5.0f));
    CHECK_OK(MXKVStorePullWithSparseEx(kv, 1, &okeys[1], &out[0], 0, true));
    CHECK(arr_all_equal(out[0], N, 10.0f));
    /* PushPullEx: push "w" twice, pull into "c"'s and "w"'s outputs. */
    {
        const char *vk[2] = {"w", "w"}, *ok[2] = {"w", "c"};
        CHECK_OK(MXKVStorePushPullEx(kv, 2, vk, 2, ok, v, out, 0));
        CHECK(arr_all_equal(out[0], N, 4.0f + 5.0f));
        CHECK(arr_all_equal(out[1], N, 3.0f));
    }
    /* BroadcastEx registers new keys. */
    {
        const char *vk[1] = {"new key with spaces"}, *ok[2] = {"new key with spaces", "b"};
        CHECK_OK(MXKVStoreBroadcastEx(kv, 1, vk, 2, ok, &v[2], out, 0));
        CHECK(arr_all_equal(out[0], N, 6.0f));
        CHECK(arr_all_equal(out[1], N, 10.0f));
        CHECK(skey_equals(kv, "new key with spaces", R, C, 6.0f));
    }
    free_all(v, 3);
    free_all(out, 3);
    CHECK_OK(MXKVStoreFree(kv));
}

/* String keys, names and file names are C strings: bytes, UTF-8 or not, as in MXNet. */
static void test_string_keys_are_bytes(void) {
    KVStoreHandle kv;
    const char *key[1] = {"w\xff"}, *other[1] = {"w\xfe"};
    const char *names[2] = {"w\xff", "\xc3\xa9"};
    const char *path = MXKV_BUILD_DIR "/bytes-\xfe.params";
    NDArrayHandle v = arr_fill(R, C, 1.0f), two = arr_fill(R, C, 2.0f), pair[2], *loaded = NULL;
    const char **loaded_names = NULL;
    uint32_t n = 0, nn = 0;
    Record rec;
    memset(&rec, 0, sizeof rec);
    rec.mode = UPD_ADD;
    CHECK_OK(MXKVStoreCreate("local", &kv));
    CHECK_OK(MXKVStoreInitEx(kv, 1, key, &v));
    CHECK_OK(MXKVStoreSetUpdaterEx(kv, NULL, str_updater, &rec));
    CHECK_OK(MXKVStorePushEx(kv, 1, key, &two, 0));
    CHECK_EQ_INT(rec.sn, 1);
    CHECK_STR_EQ(rec.skeys[0], "w\xff"); /* the updater gets the same bytes back */
    CHECK(skey_equals(kv, "w\xff", R, C, 3.0f));
    /* Another invalid byte is another key; the message shows it escaped. */
    CHECK_FAIL(MXKVStorePullEx(kv, 1, other, &v, 0), "key w\\xfe doesn't exist");
    CHECK_FAIL(MXKVStoreInitEx(kv, 1, key, &v), "duplicate init of key w\\xff");
    /* Save and load: the names and the file name go through as bytes. */
    pair[0] = v;
    pair[1] = two;
    CHECK_OK(MXNDArraySave(path, 2, pair, names));
    CHECK_OK(MXNDArrayLoad(path, &n, &loaded, &nn, &loaded_names));
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(nn, 2);
    if (nn == 2) {
        CHECK_STR_EQ(loaded_names[0], "w\xff");
        CHECK_STR_EQ(loaded_names[1], "\xc3\xa9");
        CHECK(arr_all_equal(loaded[1], N, 2.0f));
        free_all(loaded, 2);
    }
    CHECK_FAIL(MXNDArrayLoad(MXKV_BUILD_DIR "/gone-\xfe.params", &n, &loaded, &nn, &loaded_names),
               "gone-\\xfe.params");
    /* A command body is bytes too (a local store takes and ignores it). */
    CHECK_OK(MXKVStoreSendCommmandToServers(kv, 0, "\xff\xfe"));
    CHECK_EQ_INT(rec.bad_handles, 0);
    MXNDArrayFree(v);
    MXNDArrayFree(two);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_string_index_to_int_updater(void) {
    KVStoreHandle kv = str_store();
    const char *k1[1] = {"c"}, *k3[4] = {"c", "w", "c", "b"}, *bz[1] = {"z"}, *kz[1] = {"z"};
    NDArrayHandle v[4], out;
    Record rec;
    int i;
    memset(&rec, 0, sizeof rec);
    rec.mode = UPD_ADD;
    for (i = 0; i < 4; i++) v[i] = arr_fill(R, C, (float)(i + 1));
    CHECK_OK(MXKVStoreSetUpdater(kv, int_updater, &rec));
    CHECK_OK(MXKVStorePushEx(kv, 1, k1, v, 0));
    CHECK_EQ_INT(rec.n, 1);
    CHECK_EQ_INT(rec.keys[0], 2);
    CHECK(skey_equals(kv, "c", R, C, 3.0f + 1.0f));
    /* Ascending by registration index: w (0), b (1), c (2). */
    rec.n = 0;
    CHECK_OK(MXKVStorePushEx(kv, 4, k3, v, 0));
    CHECK_EQ_INT(rec.n, 3);
    CHECK_EQ_INT(rec.keys[0], 0);
    CHECK_EQ_INT(rec.keys[1], 1);
    CHECK_EQ_INT(rec.keys[2], 2);
    CHECK_EQ_DBL(rec.recv0[0], 2.0f);
    CHECK_EQ_DBL(rec.recv0[1], 4.0f);
    CHECK_EQ_DBL(rec.recv0[2], 1.0f + 3.0f);
    CHECK(skey_equals(kv, "w", R, C, 1.0f + 2.0f));
    CHECK(skey_equals(kv, "b", R, C, 2.0f + 4.0f));
    CHECK(skey_equals(kv, "c", R, C, 4.0f + 4.0f));
    /* BroadcastEx registers the next index. */
    out = arr_fill(R, C, 0.0f);
    CHECK_OK(MXKVStoreBroadcastEx(kv, 1, bz, 1, kz, v, &out, 0));
    rec.n = 0;
    CHECK_OK(MXKVStorePushEx(kv, 1, kz, &v[1], 0));
    CHECK_EQ_INT(rec.n, 1);
    CHECK_EQ_INT(rec.keys[0], 3);
    CHECK(skey_equals(kv, "z", R, C, 1.0f + 2.0f));
    CHECK_EQ_INT(rec.bad_handles, 0);
    free_all(v, 4);
    free_all(&out, 1);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_updater_ex_both(void) {
    KVStoreHandle skv = str_store(), ikv = int_store();
    const char *sk[2] = {"c", "w"};
    int ik[1] = {5};
    NDArrayHandle v[2];
    Record rec;
    memset(&rec, 0, sizeof rec);
    rec.mode = UPD_ADD;
    v[0] = arr_fill(R, C, 10.0f);
    v[1] = arr_fill(R, C, 20.0f);
    /* String store: the string updater gets the names, ascending by index. */
    CHECK_OK(MXKVStoreSetUpdaterEx(skv, int_updater, str_updater, &rec));
    CHECK_OK(MXKVStorePushEx(skv, 2, sk, v, 0));
    CHECK_EQ_INT(rec.n, 0);
    CHECK_EQ_INT(rec.sn, 2);
    CHECK_STR_EQ(rec.skeys[0], "w");
    CHECK_STR_EQ(rec.skeys[1], "c");
    CHECK_EQ_DBL(rec.srecv0[0], 20.0f);
    CHECK_EQ_DBL(rec.srecv0[1], 10.0f);
    CHECK(skey_equals(skv, "w", R, C, 21.0f));
    CHECK(skey_equals(skv, "c", R, C, 13.0f));
    /* Int store: the int updater. */
    memset(&rec, 0, sizeof rec);
    rec.mode = UPD_ADD;
    CHECK_OK(MXKVStoreSetUpdaterEx(ikv, int_updater, str_updater, &rec));
    CHECK_OK(MXKVStorePush(ikv, 1, ik, v, 0));
    CHECK_EQ_INT(rec.sn, 0);
    CHECK_EQ_INT(rec.n, 1);
    CHECK_EQ_INT(rec.keys[0], 5);
    CHECK(key_equals(ikv, 5, R, C, 12.0f));
    CHECK_EQ_INT(rec.bad_handles, 0);
    free_all(v, 2);
    CHECK_OK(MXKVStoreFree(skv));
    CHECK_OK(MXKVStoreFree(ikv));
}

static void test_updater_ex_only_one(void) {
    KVStoreHandle skv = str_store(), ikv = int_store();
    const char *sk[1] = {"b"};
    int ik[1] = {7};
    NDArrayHandle v = arr_fill(R, C, 10.0f);
    Record rec;
    /* Only the int updater on a string store: it gets the index (spec §4.5). */
    memset(&rec, 0, sizeof rec);
    rec.mode = UPD_ADD;
    CHECK_OK(MXKVStoreSetUpdaterEx(skv, int_updater, NULL, &rec));
    CHECK_OK(MXKVStorePushEx(skv, 1, sk, &v, 0));
    CHECK_EQ_INT(rec.n, 1);
    CHECK_EQ_INT(rec.keys[0], 1);
    CHECK(skey_equals(skv, "b", R, C, 12.0f));
    /* Only the string updater on a string store. */
    memset(&rec, 0, sizeof rec);
    rec.mode = UPD_ADD;
    CHECK_OK(MXKVStoreSetUpdaterEx(skv, NULL, str_updater, &rec));
    CHECK_OK(MXKVStorePushEx(skv, 1, sk, &v, 0));
    CHECK_EQ_INT(rec.n, 0);
    CHECK_EQ_INT(rec.sn, 1);
    CHECK_STR_EQ(rec.skeys[0], "b");
    CHECK(skey_equals(skv, "b", R, C, 22.0f));
    /* Only the string updater on an int store: it serves the int keys too, the key
     * written in decimal. */
    memset(&rec, 0, sizeof rec);
    rec.mode = UPD_ADD;
    CHECK_OK(MXKVStoreSetUpdaterEx(ikv, NULL, str_updater, &rec));
    CHECK_OK(MXKVStorePush(ikv, 1, ik, &v, 0));
    CHECK_EQ_INT(rec.n, 0);
    CHECK_EQ_INT(rec.sn, 1);
    CHECK_STR_EQ(rec.skeys[0], "7");
    CHECK(key_equals(ikv, 7, R, C, 13.0f));
    CHECK_EQ_INT(rec.bad_handles, 0);
    free_all(&v, 1);
    CHECK_OK(MXKVStoreFree(skv));
    CHECK_OK(MXKVStoreFree(ikv));
}

static void test_updater_once_per_key_ascending(void) {
    KVStoreHandle kv = new_store();
    int ikeys[3] = {1, 5, 9}, pkeys[4] = {9, 5, 1, 5};
    NDArrayHandle v[4];
    Record rec;
    int i;
    for (i = 0; i < 4; i++) v[i] = arr_fill(R, C, (float)(i + 1));
    CHECK_OK(MXKVStoreInit(kv, 3, ikeys, v));
    memset(&rec, 0, sizeof rec);
    rec.mode = UPD_NOTHING;
    CHECK_OK(MXKVStoreSetUpdater(kv, int_updater, &rec));
    CHECK_OK(MXKVStorePush(kv, 4, pkeys, v, 0));
    CHECK_EQ_INT(rec.n, 3);
    CHECK_EQ_INT(rec.keys[0], 1);
    CHECK_EQ_INT(rec.keys[1], 5);
    CHECK_EQ_INT(rec.keys[2], 9);
    /* recv is the sum of the values pushed for the key; local the stored value. */
    CHECK_EQ_DBL(rec.recv0[0], 3.0f);
    CHECK_EQ_DBL(rec.recv0[1], 2.0f + 4.0f);
    CHECK_EQ_DBL(rec.recv0[2], 1.0f);
    CHECK_EQ_DBL(rec.local0[0], 1.0f);
    CHECK_EQ_DBL(rec.local0[1], 2.0f);
    CHECK_EQ_DBL(rec.local0[2], 3.0f);
    /* An updater that writes nothing leaves the values as they were. */
    CHECK(key_equals(kv, 1, R, C, 1.0f));
    CHECK(key_equals(kv, 5, R, C, 2.0f));
    CHECK(key_equals(kv, 9, R, C, 3.0f));
    /* PushPull calls it too, before the pull. */
    rec.n = 0;
    rec.mode = UPD_ADD;
    {
        NDArrayHandle out = arr_fill(R, C, 0.0f);
        CHECK_OK(MXKVStorePushPull(kv, 1, &ikeys[1], 1, &ikeys[1], v, &out, 0));
        CHECK_EQ_INT(rec.n, 1);
        CHECK(arr_all_equal(out, N, 3.0f));
        free_all(&out, 1);
    }
    CHECK_EQ_INT(rec.bad_handles, 0);
    free_all(v, 4);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_updater_writes_become_stored(void) {
    KVStoreHandle kv = int_store();
    int key = 3;
    NDArrayHandle v = arr_fill(R, C, 10.0f);
    Record rec;
    memset(&rec, 0, sizeof rec);
    rec.mode = UPD_TWICE_PLUS;
    CHECK_OK(MXKVStoreSetUpdater(kv, int_updater, &rec));
    CHECK_OK(MXKVStorePush(kv, 1, &key, &v, 0));
    CHECK(key_equals(kv, 3, R, C, 2.0f * 1.0f + 10.0f));
    CHECK_OK(MXKVStorePush(kv, 1, &key, &v, 0));
    CHECK(key_equals(kv, 3, R, C, 2.0f * 12.0f + 10.0f));
    /* recv was a copy or the caller's array, but the caller's array is unchanged. */
    CHECK(arr_all_equal(v, N, 10.0f));
    CHECK_EQ_INT(rec.n, 2);
    CHECK_EQ_INT(rec.bad_handles, 0);
    free_all(&v, 1);
    CHECK_OK(MXKVStoreFree(kv));
}

/* Updater that checks its handles and tries to free them twice: the second free must be
 * refused (spec §4.1), not crash. */
static int double_free_refused;

static void freeing_updater(int key, NDArrayHandle recv, NDArrayHandle local, void *handle) {
    int ndim = 0, dtype = -1, dev_type = 0, dev_id = -1;
    const int *shape = NULL;
    (void)key;
    (void)handle;
    if (MXNDArrayGetShapeEx(local, &ndim, &shape) == 0 && ndim == 2 && shape[0] == R &&
        shape[1] == C && MXNDArrayGetDType(local, &dtype) == 0 && dtype == DT_F32 &&
        MXNDArrayGetContext(recv, &dev_type, &dev_id) == 0 && dev_type != 2 &&
        MXNDArrayFree(recv) == 0 && MXNDArrayFree(local) == 0 && MXNDArrayFree(recv) == -1 &&
        MXNDArrayFree(local) == -1)
        double_free_refused++;
}

static void test_updater_owns_handles(void) {
    KVStoreHandle kv = int_store();
    int keys[3] = {3, 5, 7};
    NDArrayHandle v[3];
    int i;
    for (i = 0; i < 3; i++) v[i] = arr_fill(R, C, 1.0f);
    double_free_refused = 0;
    CHECK_OK(MXKVStoreSetUpdater(kv, freeing_updater, NULL));
    CHECK_OK(MXKVStorePush(kv, 3, keys, v, 0));
    CHECK_EQ_INT(double_free_refused, 3);
    /* The store's values live on although the updater freed its handles to them. */
    CHECK(key_equals(kv, 3, R, C, 1.0f));
    CHECK(key_equals(kv, 5, R, C, 2.0f));
    CHECK_OK(MXKVStorePush(kv, 3, keys, v, 0));
    CHECK_EQ_INT(double_free_refused, 6);
    CHECK(key_equals(kv, 7, R, C, 3.0f));
    free_all(v, 3);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_set_updater_null_removes(void) {
    KVStoreHandle kv = int_store(), skv = str_store();
    int key = 5;
    const char *skey = "w";
    NDArrayHandle v = arr_fill(R, C, 10.0f);
    Record rec;
    memset(&rec, 0, sizeof rec);
    rec.mode = UPD_ADD;
    CHECK_OK(MXKVStoreSetUpdater(kv, int_updater, &rec));
    CHECK_OK(MXKVStorePush(kv, 1, &key, &v, 0));
    CHECK(key_equals(kv, 5, R, C, 12.0f));
    CHECK_OK(MXKVStoreSetUpdater(kv, NULL, NULL));
    CHECK_OK(MXKVStorePush(kv, 1, &key, &v, 0));
    CHECK(key_equals(kv, 5, R, C, 10.0f));
    CHECK_EQ_INT(rec.n, 1);
    /* SetUpdaterEx(NULL, NULL) too. */
    CHECK_OK(MXKVStoreSetUpdaterEx(skv, int_updater, str_updater, &rec));
    CHECK_OK(MXKVStorePushEx(skv, 1, &skey, &v, 0));
    CHECK(skey_equals(skv, "w", R, C, 11.0f));
    CHECK_OK(MXKVStoreSetUpdaterEx(skv, NULL, NULL, NULL));
    CHECK_OK(MXKVStorePushEx(skv, 1, &skey, &v, 0));
    CHECK(skey_equals(skv, "w", R, C, 10.0f));
    CHECK_EQ_INT(rec.sn, 1);
    /* A later SetUpdater replaces the earlier one. */
    CHECK_OK(MXKVStoreSetUpdater(kv, int_updater, &rec));
    rec.mode = UPD_TWICE_PLUS;
    CHECK_OK(MXKVStorePush(kv, 1, &key, &v, 0));
    CHECK(key_equals(kv, 5, R, C, 30.0f));
    CHECK_EQ_INT(rec.n, 2);
    free_all(&v, 1);
    CHECK_OK(MXKVStoreFree(kv));
    CHECK_OK(MXKVStoreFree(skv));
}

static void test_store_holds_values(void) {
    KVStoreHandle kv = new_store();
    int key = 1;
    float *data = NULL;
    NDArrayHandle init = arr_fill(R, C, 1.0f), pushed, out;
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &init));
    /* Init copied. */
    CHECK_OK(MXNDArraySyncCopyFromCPU(init, (float[N]){9, 9, 9, 9, 9, 9}, N));
    CHECK(key_equals(kv, 1, R, C, 1.0f));
    /* A single pushed array is not referenced by the store (spec §4.3). */
    pushed = arr_fill(R, C, 7.0f);
    CHECK_OK(MXKVStorePush(kv, 1, &key, &pushed, 0));
    CHECK_OK(MXNDArraySyncCopyFromCPU(pushed, (float[N]){9, 9, 9, 9, 9, 9}, N));
    CHECK(key_equals(kv, 1, R, C, 7.0f));
    CHECK_OK(MXNDArrayGetData(pushed, (void **)&data));
    CHECK(data != NULL);
    if (data) data[0] = 100.0f;
    CHECK(key_equals(kv, 1, R, C, 7.0f));
    /* Pull writes only into its outputs. */
    out = arr_fill(R, C, 0.0f);
    CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
    CHECK(arr_all_equal(out, N, 7.0f));
    {
        float got[N], want[N] = {100, 9, 9, 9, 9, 9};
        arr_read(pushed, got, N);
        CHECK_FLOATS(got, want, N);
    }
    /* Freeing every array the caller had keeps the store's value. */
    free_all(&pushed, 1);
    free_all(&init, 1);
    /* And writing into a pulled output does not reach the store either. */
    CHECK_OK(MXNDArraySyncCopyFromCPU(out, (float[N]){3, 3, 3, 3, 3, 3}, N));
    CHECK(key_equals(kv, 1, R, C, 7.0f));
    free_all(&out, 1);
    CHECK_OK(MXKVStoreFree(kv));
}

/* ---- dtypes -------------------------------------------------------------------------- */

static NDArrayHandle arr_typed(const mx_uint *shape, mx_uint ndim, int dtype, const void *data,
                               size_t n) {
    NDArrayHandle h = arr_new(shape, ndim, dtype);
    CHECK_OK(MXNDArraySyncCopyFromCPU(h, data, n));
    return h;
}

static void test_dtype_conversion_on_push(void) {
    KVStoreHandle kv = new_store();
    mx_uint shape[1] = {4};
    int key = 1, keys2[2] = {1, 1};
    float zero[4] = {0, 0, 0, 0}, got[4];
    double d[4] = {1.5, -2.25, 1e3, 0.1};
    int32_t i32[4] = {1, -2, 3, 100000};
    NDArrayHandle k = arr_f32(shape, 1, zero), vd, vi, v2[2], out = arr_f32(shape, 1, zero);
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &k));
    /* float64 into a float32 key. */
    vd = arr_typed(shape, 1, DT_F64, d, 4);
    CHECK_OK(MXKVStorePush(kv, 1, &key, &vd, 0));
    CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
    arr_read(out, got, 4);
    {
        float want[4] = {1.5f, -2.25f, 1000.0f, (float)0.1};
        CHECK_FLOATS(got, want, 4);
    }
    /* int32 into a float32 key, and a float64 + int32 sum. */
    vi = arr_typed(shape, 1, DT_I32, i32, 4);
    CHECK_OK(MXKVStorePush(kv, 1, &key, &vi, 0));
    CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
    arr_read(out, got, 4);
    {
        float want[4] = {1, -2, 3, 100000};
        CHECK_FLOATS(got, want, 4);
    }
    v2[0] = vd;
    v2[1] = vi;
    CHECK_OK(MXKVStorePush(kv, 2, keys2, v2, 0));
    CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
    arr_read(out, got, 4);
    {
        float want[4] = {2.5f, -4.25f, 1003.0f, (float)0.1 + 100000.0f};
        CHECK_FLOATS(got, want, 4);
    }
    /* The key keeps its dtype. */
    {
        int dtype = -1;
        NDArrayHandle o = arr_new(shape, 1, DT_F32);
        CHECK_OK(MXKVStorePull(kv, 1, &key, &o, 0));
        CHECK_OK(MXNDArrayGetDType(o, &dtype));
        CHECK_EQ_INT(dtype, DT_F32);
        free_all(&o, 1);
    }
    free_all(&k, 1);
    free_all(&vd, 1);
    free_all(&vi, 1);
    free_all(&out, 1);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_dtype_conversion_on_pull(void) {
    KVStoreHandle kv = new_store();
    mx_uint shape[1] = {5};
    int key = 2;
    float vals[5] = {3, -4, 100, 0.1f, 65504};
    NDArrayHandle k = arr_f32(shape, 1, vals);
    NDArrayHandle oi = arr_new(shape, 1, DT_I32), od = arr_new(shape, 1, DT_F64),
                  oh = arr_new(shape, 1, DT_F16), o64 = arr_new(shape, 1, DT_I64);
    int32_t gi[5];
    int64_t g64[5];
    double gd[5];
    uint16_t gh[5];
    int i;
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &k));
    CHECK_OK(MXKVStorePull(kv, 1, &key, &oi, 0));
    CHECK_OK(MXNDArraySyncCopyToCPU(oi, gi, 5));
    CHECK_EQ_INT(gi[0], 3);
    CHECK_EQ_INT(gi[1], -4);
    CHECK_EQ_INT(gi[2], 100);
    CHECK_EQ_INT(gi[3], 0);
    CHECK_EQ_INT(gi[4], 65504);
    CHECK_OK(MXKVStorePull(kv, 1, &key, &o64, 0));
    CHECK_OK(MXNDArraySyncCopyToCPU(o64, g64, 5));
    CHECK_EQ_INT(g64[1], -4);
    CHECK_EQ_INT(g64[4], 65504);
    CHECK_OK(MXKVStorePull(kv, 1, &key, &od, 0));
    CHECK_OK(MXNDArraySyncCopyToCPU(od, gd, 5));
    for (i = 0; i < 5; i++) CHECK_EQ_DBL(gd[i], (double)vals[i]);
    CHECK_OK(MXKVStorePull(kv, 1, &key, &oh, 0));
    CHECK_OK(MXNDArraySyncCopyToCPU(oh, gh, 5));
    for (i = 0; i < 5; i++) CHECK_EQ_INT(gh[i], f32_to_f16(vals[i]));
    /* Several outputs of different dtypes in one pull. */
    {
        int keys[2] = {2, 2};
        NDArrayHandle outs[2];
        outs[0] = oi;
        outs[1] = od;
        CHECK_OK(MXNDArraySyncCopyFromCPU(oi, (int32_t[5]){0}, 5));
        CHECK_OK(MXNDArraySyncCopyFromCPU(od, (double[5]){0}, 5));
        CHECK_OK(MXKVStorePull(kv, 2, keys, outs, 0));
        CHECK_OK(MXNDArraySyncCopyToCPU(oi, gi, 5));
        CHECK_OK(MXNDArraySyncCopyToCPU(od, gd, 5));
        CHECK_EQ_INT(gi[2], 100);
        CHECK_EQ_DBL(gd[3], (double)0.1f);
    }
    free_all(&k, 1);
    free_all(&oi, 1);
    free_all(&od, 1);
    free_all(&oh, 1);
    free_all(&o64, 1);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_float16_keys(void) {
    KVStoreHandle kv = new_store();
    mx_uint shape[1] = {4};
    int key = 0, keys3[3] = {0, 0, 0};
    float a[4] = {1.0f, 0.5f, 1000.0f, -2.0f};
    float b[4] = {0.1f, 1.25f, 24.0f, 0.0f};
    float c[4] = {0.2f, -0.75f, 0.5f, 3.5f};
    uint16_t ha[4], hb[4], hc[4], got[4];
    float fgot[4];
    NDArrayHandle ka, v[3], out = arr_new(shape, 1, DT_F16), fout = arr_new(shape, 1, DT_F32);
    int i;
    for (i = 0; i < 4; i++) {
        ha[i] = f32_to_f16(a[i]);
        hb[i] = f32_to_f16(b[i]);
        hc[i] = f32_to_f16(c[i]);
    }
    ka = arr_typed(shape, 1, DT_F16, hb, 4);
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &ka));
    CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
    CHECK_OK(MXNDArraySyncCopyToCPU(out, got, 4));
    for (i = 0; i < 4; i++) CHECK_EQ_INT(got[i], hb[i]);
    /* Pull into float32 widens exactly. */
    CHECK_OK(MXKVStorePull(kv, 1, &key, &fout, 0));
    arr_read(fout, fgot, 4);
    for (i = 0; i < 4; i++) CHECK_EQ_DBL(fgot[i], f16_to_f32(hb[i]));
    CHECK_EQ_DBL(fgot[0], 0.0999755859375);
    /* Three float16 values summed; these partial sums round the same in any order. */
    v[0] = arr_typed(shape, 1, DT_F16, ha, 4);
    v[1] = ka;
    v[2] = arr_typed(shape, 1, DT_F16, hc, 4);
    CHECK_OK(MXKVStorePush(kv, 3, keys3, v, 0));
    CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
    CHECK_OK(MXNDArraySyncCopyToCPU(out, got, 4));
    for (i = 0; i < 4; i++)
        CHECK_EQ_INT(got[i], f32_to_f16(f16_to_f32(ha[i]) + f16_to_f32(hb[i]) + f16_to_f32(hc[i])));
    CHECK_EQ_INT(got[0], 0x3d33); /* 1.2998046875 */
    /* A float32 push into the float16 key rounds to nearest. */
    {
        float f[4] = {0.1f, 1.0f / 3.0f, 65519.0f, -1e-6f};
        NDArrayHandle vf = arr_typed(shape, 1, DT_F32, f, 4);
        CHECK_OK(MXKVStorePush(kv, 1, &key, &vf, 0));
        CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
        CHECK_OK(MXNDArraySyncCopyToCPU(out, got, 4));
        for (i = 0; i < 4; i++) CHECK_EQ_INT(got[i], f32_to_f16(f[i]));
        CHECK_EQ_INT(got[0], 0x2e66);
        CHECK_EQ_INT(got[1], 0x3555);
        free_all(&vf, 1);
    }
    free_all(v, 3);
    free_all(&out, 1);
    free_all(&fout, 1);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_bfloat16_keys(void) {
    KVStoreHandle kv = new_store();
    mx_uint shape[1] = {4};
    int key = 0, keys3[3] = {0, 0, 0};
    float a[4] = {1.5f, 0.25f, -8.0f, 256.0f};
    float b[4] = {0.25f, -0.125f, 2.0f, 1.0f};
    float c[4] = {2.0f, 0.375f, 0.5f, 256.0f};
    uint16_t ba[4], bb[4], bc[4], got[4];
    float fgot[4];
    NDArrayHandle ka, v[3], out = arr_new(shape, 1, DT_BF16), fout = arr_new(shape, 1, DT_F32);
    int i, dtype = -1;
    for (i = 0; i < 4; i++) {
        ba[i] = f32_to_bf16(a[i]);
        bb[i] = f32_to_bf16(b[i]);
        bc[i] = f32_to_bf16(c[i]);
    }
    ka = arr_typed(shape, 1, DT_BF16, ba, 4);
    CHECK_OK(MXNDArrayGetDType(ka, &dtype));
    CHECK_EQ_INT(dtype, DT_BF16);
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &ka));
    v[0] = ka;
    v[1] = arr_typed(shape, 1, DT_BF16, bb, 4);
    v[2] = arr_typed(shape, 1, DT_BF16, bc, 4);
    CHECK_OK(MXKVStorePush(kv, 3, keys3, v, 0));
    CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
    CHECK_OK(MXNDArraySyncCopyToCPU(out, got, 4));
    for (i = 0; i < 4; i++)
        CHECK_EQ_INT(got[i], f32_to_bf16(bf16_to_f32(ba[i]) + bf16_to_f32(bb[i]) + bf16_to_f32(bc[i])));
    CHECK_OK(MXKVStorePull(kv, 1, &key, &fout, 0));
    arr_read(fout, fgot, 4);
    {
        float want[4] = {3.75f, 0.5f, -5.5f, 512.0f};
        CHECK_FLOATS(fgot, want, 4);
    }
    /* A float32 push rounds to nearest even bfloat16. */
    {
        float f[4] = {0.1f, 1.0f / 3.0f, 1.00390625f, 3.0e38f};
        NDArrayHandle vf = arr_typed(shape, 1, DT_F32, f, 4);
        CHECK_OK(MXKVStorePush(kv, 1, &key, &vf, 0));
        CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
        CHECK_OK(MXNDArraySyncCopyToCPU(out, got, 4));
        for (i = 0; i < 4; i++) CHECK_EQ_INT(got[i], f32_to_bf16(f[i]));
        CHECK_EQ_INT(got[0], 0x3dcd);
        CHECK_EQ_INT(got[2], 0x3f80); /* a tie, rounded to even */
        free_all(&vf, 1);
    }
    free_all(v, 3);
    free_all(&out, 1);
    free_all(&fout, 1);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_integer_keys(void) {
    KVStoreHandle kv = new_store();
    mx_uint shape[1] = {3};
    int key = 4, keys2[2] = {4, 4};
    int64_t i64[3] = {(int64_t)1 << 40, -7, 0};
    int64_t g64[3];
    uint8_t u8[3] = {200, 1, 0}, gu8[3];
    NDArrayHandle k64 = arr_typed(shape, 1, DT_I64, i64, 3), v[2], out = arr_new(shape, 1, DT_I64);
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &k64));
    v[0] = k64;
    v[1] = k64;
    CHECK_OK(MXKVStorePush(kv, 2, keys2, v, 0));
    CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
    CHECK_OK(MXNDArraySyncCopyToCPU(out, g64, 3));
    CHECK_EQ_INT(g64[0], (int64_t)1 << 41);
    CHECK_EQ_INT(g64[1], -14);
    CHECK_EQ_INT(g64[2], 0);
    free_all(&out, 1);
    /* uint8 keys sum in uint8. */
    {
        int k8 = 8;
        NDArrayHandle a = arr_typed(shape, 1, DT_U8, u8, 3), o8 = arr_new(shape, 1, DT_U8);
        int pk[2] = {8, 8};
        NDArrayHandle pv[2];
        CHECK_OK(MXKVStoreInit(kv, 1, &k8, &a));
        pv[0] = a;
        pv[1] = a;
        CHECK_OK(MXKVStorePush(kv, 2, pk, pv, 0));
        CHECK_OK(MXKVStorePull(kv, 1, &k8, &o8, 0));
        CHECK_OK(MXNDArraySyncCopyToCPU(o8, gu8, 3));
        CHECK_EQ_INT(gu8[0], (uint8_t)(200 + 200));
        CHECK_EQ_INT(gu8[1], 2);
        CHECK_EQ_INT(gu8[2], 0);
        free_all(&a, 1);
        free_all(&o8, 1);
    }
    free_all(&k64, 1);
    CHECK_OK(MXKVStoreFree(kv));
}

/* MXNet sizes its per-source buffers at the first multi-value push; later pushes with
 * more (or fewer) values for the key must still sum all of them (spec §4.1). */
static void test_later_push_with_more_values(void) {
    KVStoreHandle kv = int_store();
    int keys[6] = {5, 5, 5, 5, 5, 5};
    NDArrayHandle v[6];
    int i;
    for (i = 0; i < 6; i++) v[i] = arr_fill(R, C, (float)(1 << i));
    CHECK_OK(MXKVStorePush(kv, 2, keys, v, 0));
    CHECK(key_equals(kv, 5, R, C, 3.0f));
    CHECK_OK(MXKVStorePush(kv, 6, keys, v, 0));
    CHECK(key_equals(kv, 5, R, C, 63.0f));
    CHECK_OK(MXKVStorePush(kv, 3, keys, &v[3], 0));
    CHECK(key_equals(kv, 5, R, C, 8.0f + 16.0f + 32.0f));
    free_all(v, 6);
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_many_keys_one_call(void) {
    enum { K = 300 };
    KVStoreHandle kv = new_store();
    int keys[K], i;
    NDArrayHandle v[K], out[K];
    for (i = 0; i < K; i++) {
        keys[i] = K - 1 - i;
        v[i] = arr_fill(1, 7, (float)i);
        out[i] = arr_fill(1, 7, -1.0f);
    }
    CHECK_OK(MXKVStoreInit(kv, K, keys, v));
    CHECK_OK(MXKVStorePush(kv, K, keys, v, 0));
    CHECK_OK(MXKVStorePull(kv, K, keys, out, 0));
    {
        int all_right = 1;
        for (i = 0; i < K; i++) all_right = all_right && arr_all_equal(out[i], 7, (float)i);
        CHECK(all_right);
    }
    free_all(v, K);
    free_all(out, K);
    CHECK_OK(MXKVStoreFree(kv));
}

int main(void) {
    RUN(test_int_init_and_pull);
    RUN(test_push_single_assigns);
    RUN(test_push_several_values_summed);
    RUN(test_push_unordered_keys_with_repeats);
    RUN(test_push_elementwise_sum);
    RUN(test_pull_several_outputs);
    RUN(test_pushpull);
    RUN(test_pushpull_outs_alias_vals);
    RUN(test_broadcast);
    RUN(test_negative_and_extreme_keys);
    RUN(test_num_zero_calls);
    RUN(test_string_keys);
    RUN(test_string_keys_are_bytes);
    RUN(test_string_index_to_int_updater);
    RUN(test_updater_ex_both);
    RUN(test_updater_ex_only_one);
    RUN(test_updater_once_per_key_ascending);
    RUN(test_updater_writes_become_stored);
    RUN(test_updater_owns_handles);
    RUN(test_set_updater_null_removes);
    RUN(test_store_holds_values);
    RUN(test_dtype_conversion_on_push);
    RUN(test_dtype_conversion_on_pull);
    RUN(test_float16_keys);
    RUN(test_bfloat16_keys);
    RUN(test_integer_keys);
    RUN(test_later_push_with_more_values);
    RUN(test_many_keys_one_call);
    return check_summary("test_keys");
}
