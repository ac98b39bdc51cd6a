/*
 * row_sparse values in dist stores (reference §3.4–§3.6, §4.3–§4.4): a row_sparse push
 * sends only its rows, the servers sum a round by rows and (without an updater) make the
 * sum the value, and row_sparse_pull fetches only the asked rows; serverless, the workers
 * allreduce the union of their rows. Every result is compared with a local store given
 * all the workers' pushes as devices. Run with
 * MXNET_KVSTORE_BIGARRAY_BOUND=100 so that key 21 (40 rows of 5) is split by rows over
 * every server:
 *   DMLC_NUM_SERVER=2 MXNET_KVSTORE_BIGARRAY_BOUND=100 mpirun -np 4 test_dist_sparse
 */
#include "dist.h"

enum { ST_RSP = 1 };

static KVStoreHandle kv, local;
static int rank, workers;

/* A row_sparse (rows, cols) float32 array storing rows `ids` (ascending), row i filled
 * with vals[i]. */
static NDArrayHandle rsp(mx_uint rows, mx_uint cols, mx_uint k, const int64_t *ids,
                         const float *vals) {
    NDArrayHandle h = NULL, data, idx;
    mx_uint shape[2] = {rows, cols}, dshape[2] = {k, cols};
    int aux_type = DT_I64;
    mx_uint aux_ndim = 1, i;
    float *buf = malloc((k * cols + 1) * sizeof(float));
    CHECK_OK(MXNDArrayCreateSparseEx(ST_RSP, shape, 2, 1, 0, 0, DT_F32, 1, &aux_type, &aux_ndim,
                                     &k, &h));
    for (i = 0; i < k * cols; i++) buf[i] = vals[i / cols];
    data = arr_new(dshape, 2, DT_F32);
    if (k) CHECK_OK(MXNDArraySyncCopyFromCPU(data, buf, k * cols));
    idx = arr_new(&k, 1, DT_I64);
    if (k) CHECK_OK(MXNDArraySyncCopyFromCPU(idx, ids, k));
    CHECK_OK(MXNDArraySyncCopyFromNDArray(h, data, -1));
    CHECK_OK(MXNDArraySyncCopyFromNDArray(h, idx, 0));
    MXNDArrayFree(data);
    MXNDArrayFree(idx);
    free(buf);
    return h;
}

/* Every row of a (rows, cols) row_sparse array set to v. */
static NDArrayHandle rsp_full(mx_uint rows, mx_uint cols, float v) {
    int64_t *ids = malloc(rows * sizeof(int64_t));
    float *vals = malloc(rows * sizeof(float));
    NDArrayHandle h;
    mx_uint i;
    for (i = 0; i < rows; i++) {
        ids[i] = i;
        vals[i] = v;
    }
    h = rsp(rows, cols, rows, ids, vals);
    free(ids);
    free(vals);
    return h;
}

/* The push of worker `r` to a key of `rows` rows: rows r, rows/2 + r and rows-1-r (those
 * that exist, ascending, unique), each filled with r + 1. */
static NDArrayHandle push_of(int r, mx_uint rows, mx_uint cols) {
    int64_t ids[3], want[3] = {r, (int64_t)rows / 2 + r, (int64_t)rows - 1 - r};
    float vals[3];
    mx_uint k = 0;
    int i, j;
    for (i = 0; i < 3; i++) { /* insertion in order, without duplicates */
        int64_t id = want[i];
        int dup = 0;
        if (id < 0 || id >= (int64_t)rows) continue;
        for (j = 0; j < (int)k; j++) dup |= ids[j] == id;
        if (dup) continue;
        for (j = (int)k; j > 0 && ids[j - 1] > id; j--) ids[j] = ids[j - 1];
        ids[j] = id;
        k++;
    }
    for (i = 0; i < (int)k; i++) vals[i] = (float)(r + 1);
    return rsp(rows, cols, k, ids, vals);
}

/* The dense float32 values of a (rows, cols) array of any storage. */
static float *dense_of(NDArrayHandle h, mx_uint rows, mx_uint cols) {
    float *v = malloc(rows * cols * sizeof(float));
    NDArrayHandle d = arr_fill(rows, cols, -9.0f);
    int64_t *ids = NULL;
    NDArrayHandle idx = NULL, data = NULL;
    int st = -1;
    CHECK_OK(MXNDArrayGetStorageType(h, &st));
    if (st == 0) {
        arr_read(h, v, rows * cols);
    } else {
        mx_uint i, c, k;
        const mx_uint *shape;
        mx_uint ndim;
        float *vals;
        CHECK_OK(MXNDArrayGetAuxNDArray(h, 0, &idx));
        CHECK_OK(MXNDArrayGetDataNDArray(h, &data));
        CHECK_OK(MXNDArrayGetShape(idx, &ndim, &shape));
        k = shape[0];
        ids = malloc((k + 1) * sizeof(int64_t));
        vals = malloc((k * cols + 1) * sizeof(float));
        if (k) CHECK_OK(MXNDArraySyncCopyToCPU(idx, ids, k));
        if (k) CHECK_OK(MXNDArraySyncCopyToCPU(data, vals, k * cols));
        for (i = 0; i < rows * cols; i++) v[i] = 0.0f;
        for (i = 0; i < k; i++)
            for (c = 0; c < cols; c++) v[ids[i] * cols + c] = vals[i * cols + c];
        free(vals);
        free(ids);
        MXNDArrayFree(idx);
        MXNDArrayFree(data);
    }
    MXNDArrayFree(d);
    return v;
}

static int same_values(const float *a, const float *b, size_t n, const char *what) {
    size_t i;
    for (i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            fprintf(stderr, "%s: value %zu is %g, the local store has %g\n", what, i, a[i], b[i]);
            return 0;
        }
    }
    return 1;
}

/* The row ids of a row_sparse array, as int64 (count returned). */
static int ids_of(NDArrayHandle h, int64_t *ids, int most) {
    NDArrayHandle idx = NULL;
    const mx_uint *shape;
    mx_uint ndim;
    int k;
    CHECK_OK(MXNDArrayGetAuxNDArray(h, 0, &idx));
    CHECK_OK(MXNDArrayGetShape(idx, &ndim, &shape));
    k = (int)shape[0];
    if (k <= most && k > 0) CHECK_OK(MXNDArraySyncCopyToCPU(idx, ids, (size_t)k));
    MXNDArrayFree(idx);
    return k;
}

/* Pushes every worker's rows to `key` (the local store gets all of them as devices),
 * then checks a dense pull and (given `want`) a row_sparse pull of `want` against the
 * local store. */
static void push_and_compare(int key, mx_uint rows, mx_uint cols, const float *want,
                             mx_uint nwant) {
    NDArrayHandle *all = malloc((size_t)workers * sizeof(NDArrayHandle));
    int *keys = malloc((size_t)workers * sizeof(int)), r;
    NDArrayHandle dist_out, local_out, dense_out, ids;
    float *d, *l;
    int64_t got_ids[64], local_ids[64];
    int nd, nl;
    for (r = 0; r < workers; r++) {
        all[r] = push_of(r, rows, cols);
        keys[r] = key;
    }
    CHECK_OK(MXKVStorePush(kv, 1, &key, &all[rank], 0));
    CHECK_OK(MXKVStorePush(local, workers, keys, all, 0));
    /* A dense pull of the whole value. */
    dense_out = arr_fill(rows, cols, -1.0f);
    CHECK_OK(MXKVStorePull(kv, 1, &key, &dense_out, 0));
    local_out = arr_fill(rows, cols, -2.0f);
    CHECK_OK(MXKVStorePull(local, 1, &key, &local_out, 0));
    d = dense_of(dense_out, rows, cols);
    l = dense_of(local_out, rows, cols);
    CHECK(same_values(d, l, rows * cols, "dense pull"));
    free(d);
    free(l);
    MXNDArrayFree(dense_out);
    MXNDArrayFree(local_out);
    if (want == NULL) goto done;
    /* A row_sparse pull of some rows, ids as float32, unsorted, repeated. */
    ids = arr_new(&nwant, 1, DT_F32);
    if (nwant) CHECK_OK(MXNDArraySyncCopyFromCPU(ids, want, nwant));
    dist_out = rsp(rows, cols, 0, NULL, NULL);
    local_out = rsp(rows, cols, 0, NULL, NULL);
    CHECK_OK(MXKVStorePullRowSparse(kv, 1, &key, &dist_out, &ids, 0));
    CHECK_OK(MXKVStorePullRowSparse(local, 1, &key, &local_out, &ids, 0));
    nd = ids_of(dist_out, got_ids, 64);
    nl = ids_of(local_out, local_ids, 64);
    CHECK_EQ_INT(nd, nl);
    if (nd == nl && nd <= 64) {
        int i;
        for (i = 0; i < nd; i++) CHECK(got_ids[i] == local_ids[i]);
    }
    d = dense_of(dist_out, rows, cols);
    l = dense_of(local_out, rows, cols);
    CHECK(same_values(d, l, rows * cols, "row_sparse pull"));
    free(d);
    free(l);
    MXNDArrayFree(dist_out);
    MXNDArrayFree(local_out);
    MXNDArrayFree(ids);
done:
    for (r = 0; r < workers; r++) MXNDArrayFree(all[r]);
    free(all);
    free(keys);
}

static void init_both(int key, NDArrayHandle value) {
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &value));
    CHECK_OK(MXKVStoreInit(local, 1, &key, &value));
    MXNDArrayFree(value);
}

static void test_small_key(void) {
    const float want[5] = {3, 0, 3, 1, 0};
    init_both(20, rsp_full(4, 2, 1.0f));
    push_and_compare(20, 4, 2, want, 5);
    push_and_compare(20, 4, 2, want, 5);
}

static void test_big_key_split_by_rows(void) {
    const float want[7] = {39, 0, 20, 21, 5, 5, 19};
    init_both(21, rsp_full(40, 5, 1.0f));
    push_and_compare(21, 40, 5, want, 7);
    push_and_compare(21, 40, 5, want, 0);
}

static void test_empty_push_and_dense_key(void) {
    int key = 22, keys[2] = {22, 22};
    NDArrayHandle none = rsp(6, 3, 0, NULL, NULL), two[2], out;
    const float want[2] = {5, 1};
    init_both(key, rsp_full(6, 3, 2.0f));
    /* A push of no rows from every worker: the round's sum has none, the value is zero. */
    CHECK_OK(MXKVStorePush(kv, 1, &key, &none, 0));
    two[0] = none;
    two[1] = none;
    CHECK_OK(MXKVStorePush(local, workers < 2 ? 1 : 2, keys, two, 0));
    out = arr_fill(6, 3, 7.0f);
    CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
    CHECK(arr_all_equal(out, 18, 0.0f));
    MXNDArrayFree(out);
    push_and_compare(key, 6, 3, want, 2);
    MXNDArrayFree(none);
    /* Rows pushed into a dense key (whose value a dense pull then gives). */
    init_both(23, arr_fill(6, 3, 2.0f));
    push_and_compare(23, 6, 3, NULL, 0);
}

static void test_bad_row_pulls(void) {
    int key = 20;
    mx_uint n = 1;
    float beyond = 4.0f;
    NDArrayHandle ids = arr_new(&n, 1, DT_F32), out = rsp(4, 2, 0, NULL, NULL);
    NDArrayHandle dense = arr_fill(4, 2, 0.0f);
    CHECK_OK(MXNDArraySyncCopyFromCPU(ids, &beyond, 1));
    CHECK_FAIL(MXKVStorePullRowSparse(kv, 1, &key, &out, &ids, 0), "out of range");
    CHECK_FAIL(MXKVStorePullRowSparse(kv, 1, &key, &dense, &ids, 0), "row_sparse");
    MXNDArrayFree(ids);
    MXNDArrayFree(out);
    MXNDArrayFree(dense);
}

int main(void) {
    kv = dist_start("dist_sync", NULL);
    rank = worker_rank(kv);
    CHECK_OK(MXKVStoreGetGroupSize(kv, &workers));
    CHECK_OK(MXKVStoreCreate("local", &local));
    test_small_key();
    test_big_key_split_by_rows();
    test_empty_push_and_dense_key();
    test_bad_row_pulls();
    CHECK_OK(MXKVStoreFree(local));
    CHECK_OK(MXKVStoreFree(kv));
    return check_summary("test_dist_sparse");
}
