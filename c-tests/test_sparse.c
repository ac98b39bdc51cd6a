/*
 * row_sparse and csr arrays (reference §2.1–2.2) and row_sparse values in a store
 * (reference §3.4–3.6): creation, inspection, aux access, format checks, save/load with
 * MXNet 1.9.1's files (c-tests/fixtures/sparse.params, made by make_sparse_fixture.py),
 * push (union of rows, mixed dense and row_sparse, storage changes), pull with and without
 * ignore_sparse, row_sparse_pull, the updater's row_sparse recv, and every bad input.
 */
#include "util.h"

#ifndef MXKV_FIXTURE_DIR
#define MXKV_FIXTURE_DIR "c-tests/fixtures"
#endif
#ifndef MXKV_BUILD_DIR
#define MXKV_BUILD_DIR "build/c-tests"
#endif

enum { ST_DENSE = 0, ST_RSP = 1, ST_CSR = 2 };

#define ROWS 4
#define COLS 2
#define N (ROWS * COLS)

/* ---- helpers ------------------------------------------------------------------------ */

/* An empty row_sparse float32 array of (rows, cols) with room for k rows (int64 indices). */
static NDArrayHandle rsp_empty(mx_uint rows, mx_uint cols, mx_uint k) {
    NDArrayHandle h = NULL;
    mx_uint shape[2];
    int aux_type = DT_I64;
    mx_uint aux_ndim = 1;
    shape[0] = rows;
    shape[1] = cols;
    CHECK_OK(MXNDArrayCreateSparseEx(ST_RSP, shape, 2, 1, 0, 0, DT_F32, 1, &aux_type, &aux_ndim,
                                     &k, &h));
    return h;
}

/* A dense 1-D int64 array. */
static NDArrayHandle ids_i64(const int64_t *ids, mx_uint n) {
    NDArrayHandle h = arr_new(&n, 1, DT_I64);
    CHECK_OK(MXNDArraySyncCopyFromCPU(h, ids, n));
    return h;
}

/* A row_sparse (ROWS, COLS) float32 array storing `k` rows `ids`, each filled with vals[i]. */
static NDArrayHandle rsp_rows(mx_uint k, const int64_t *ids, const float *vals) {
    NDArrayHandle h = rsp_empty(ROWS, COLS, k), data, idx;
    float buf[64];
    mx_uint i, shape[2];
    for (i = 0; i < k * COLS; i++) buf[i] = vals[i / COLS];
    shape[0] = k;
    shape[1] = COLS;
    data = arr_new(shape, 2, DT_F32);
    if (k) CHECK_OK(MXNDArraySyncCopyFromCPU(data, buf, k * COLS));
    idx = ids_i64(ids, k);
    CHECK_OK(MXNDArraySyncCopyFromNDArray(h, data, -1));
    CHECK_OK(MXNDArraySyncCopyFromNDArray(h, idx, 0));
    CHECK_OK(MXNDArrayFree(data));
    CHECK_OK(MXNDArrayFree(idx));
    return h;
}

/* Number of elements of a dense handle. */
static size_t elems(NDArrayHandle h) {
    int ndim = 0, i;
    const int64_t *shape = NULL;
    size_t n = 1;
    CHECK_OK(MXNDArrayGetShapeEx64(h, &ndim, &shape));
    for (i = 0; i < ndim; i++) n *= (size_t)shape[i];
    return n;
}

/* The row ids of a row_sparse array (count returned; at most 64). */
static int rsp_ids(NDArrayHandle h, int64_t *ids) {
    NDArrayHandle idx = NULL;
    int n, dtype = -1;
    CHECK_OK(MXNDArrayGetAuxNDArray(h, 0, &idx));
    n = (int)elems(idx);
    CHECK_OK(MXNDArrayGetDType(idx, &dtype));
    CHECK_EQ_INT(dtype, DT_I64);
    if (n <= 64) CHECK_OK(MXNDArraySyncCopyToCPU(idx, ids, (size_t)n));
    CHECK_OK(MXNDArrayFree(idx));
    return n;
}

/* The stored values of a sparse float32 array (count returned; at most 64). */
static int sparse_values(NDArrayHandle h, float *vals) {
    NDArrayHandle data = NULL;
    int n;
    CHECK_OK(MXNDArrayGetDataNDArray(h, &data));
    n = (int)elems(data);
    if (n <= 64) CHECK_OK(MXNDArraySyncCopyToCPU(data, vals, (size_t)n));
    CHECK_OK(MXNDArrayFree(data));
    return n;
}

/* The dense (ROWS, COLS) view of a row_sparse float32 array. */
static void rsp_to_dense(NDArrayHandle h, float *dense) {
    int64_t ids[64];
    float vals[64];
    int k = rsp_ids(h, ids), i, c;
    CHECK_EQ_INT(sparse_values(h, vals), k * COLS);
    for (i = 0; i < N; i++) dense[i] = 0.0f;
    for (i = 0; i < k; i++)
        for (c = 0; c < COLS; c++) dense[ids[i] * COLS + c] = vals[i * COLS + c];
}

static int storage(NDArrayHandle h) {
    int st = -9;
    CHECK_OK(MXNDArrayGetStorageType(h, &st));
    return st;
}

/* One line of store.expected: the values MXNet 1.9.1 gave for `scenario`. */
static int expected(const char *scenario, float *vals) {
    char path[512], line[4096];
    FILE *f;
    int n = -1;
    snprintf(path, sizeof path, "%s/store.expected", MXKV_FIXTURE_DIR);
    f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        char *tok = strtok(line, " \n");
        if (!tok || strcmp(tok, scenario) != 0) continue;
        n = 0;
        while ((tok = strtok(NULL, " \n")) != NULL && n < 64) vals[n++] = strtof(tok, NULL);
        break;
    }
    fclose(f);
    CHECK(n >= 0);
    return n;
}

/* ---- creation and inspection ------------------------------------------------------- */

static void test_create_row_sparse(void) {
    int delay;
    for (delay = 0; delay <= 1; delay++) {
        NDArrayHandle h = rsp_empty(5, 3, 2), aux = NULL, data = NULL;
        mx_uint ndim = 0;
        const mx_uint *shape = NULL;
        int type = -1, dtype = -1, dev_type = 0, dev_id = -1;
        int64_t ids[4];
        float vals[8];
        void *p = NULL;
        (void)delay;
        CHECK_EQ_INT(storage(h), ST_RSP);
        CHECK_OK(MXNDArrayGetShape(h, &ndim, &shape));
        CHECK_EQ_INT(ndim, 2);
        CHECK(shape && shape[0] == 5 && shape[1] == 3);
        CHECK_OK(MXNDArrayGetDType(h, &dtype));
        CHECK_EQ_INT(dtype, DT_F32);
        CHECK_OK(MXNDArrayGetContext(h, &dev_type, &dev_id));
        CHECK_EQ_INT(dev_type, 1);
        CHECK_OK(MXNDArrayGetAuxType(h, 0, &type));
        CHECK_EQ_INT(type, DT_I64);
        CHECK_FAIL(MXNDArrayGetAuxType(h, 1, &type), "aux index 1");
        /* A new array stores rows 0..k-1, all zero: a valid array from the start. */
        CHECK_EQ_INT(rsp_ids(h, ids), 2);
        CHECK(ids[0] == 0 && ids[1] == 1);
        CHECK_EQ_INT(sparse_values(h, vals), 6);
        CHECK(vals[0] == 0.0f && vals[5] == 0.0f);
        CHECK_OK(MXNDArrayGetDataNDArray(h, &data));
        CHECK_EQ_INT(storage(data), ST_DENSE);
        CHECK_EQ_INT(elems(data), 6);
        CHECK_OK(MXNDArrayGetAuxNDArray(h, 0, &aux));
        CHECK_EQ_INT(elems(aux), 2);
        CHECK_FAIL(MXNDArrayGetAuxNDArray(h, 1, &aux), "aux index 1");
        CHECK_OK(MXNDArrayGetData(h, &p));
        CHECK(p != NULL);
        CHECK_OK(MXNDArraySyncCheckFormat(h, true));
        CHECK_OK(MXNDArrayFree(aux));
        CHECK_OK(MXNDArrayFree(data));
        CHECK_OK(MXNDArrayFree(h));
    }
}

static void test_create_every_dtype_and_aux_type(void) {
    static const int dtypes[] = {DT_F32, DT_F64, DT_F16, DT_U8, DT_I32, DT_I8, DT_I64, DT_BF16};
    static const int aux_types[] = {DT_I64, DT_I32, DT_U8, DT_I8};
    mx_uint shape[3] = {6, 2, 2}, k = 3, aux_ndim = 1;
    size_t d, a;
    for (d = 0; d < sizeof dtypes / sizeof *dtypes; d++) {
        for (a = 0; a < sizeof aux_types / sizeof *aux_types; a++) {
            NDArrayHandle h = NULL, data = NULL;
            int aux_type = aux_types[a], got = -1;
            const int64_t *s = NULL;
            int ndim = 0;
            CHECK_OK(MXNDArrayCreateSparseEx(ST_RSP, shape, 3, 3, 1, 1, dtypes[d], 1, &aux_type,
                                             &aux_ndim, &k, &h));
            CHECK_OK(MXNDArrayGetDType(h, &got));
            CHECK_EQ_INT(got, dtypes[d]);
            CHECK_OK(MXNDArrayGetAuxType(h, 0, &got));
            CHECK_EQ_INT(got, aux_types[a]);
            CHECK_OK(MXNDArrayGetDataNDArray(h, &data));
            CHECK_OK(MXNDArrayGetShapeEx64(data, &ndim, &s));
            CHECK(ndim == 3 && s[0] == 3 && s[1] == 2 && s[2] == 2);
            CHECK_OK(MXNDArrayFree(data));
            CHECK_OK(MXNDArrayFree(h));
        }
    }
}

static void test_create_csr(void) {
    NDArrayHandle h = NULL, indptr = NULL, data = NULL;
    mx_uint shape[2] = {3, 4}, aux_ndims[2] = {1, 1}, aux_shapes[2] = {4, 3};
    int aux_types[2] = {DT_I64, DT_I64}, type = -1;
    int64_t ptr[4] = {0, 2, 2, 3}, cols[3] = {0, 2, 1};
    float vals[3] = {1, 2, 3};
    mx_uint three = 3;
    NDArrayHandle colh = ids_i64(cols, 3), ptrh = ids_i64(ptr, 4), valh = arr_f32(&three, 1, vals);
    CHECK_OK(MXNDArrayCreateSparseEx(ST_CSR, shape, 2, 1, 0, 0, DT_F32, 2, aux_types, aux_ndims,
                                     aux_shapes, &h));
    CHECK_EQ_INT(storage(h), ST_CSR);
    CHECK_OK(MXNDArrayGetAuxType(h, 1, &type));
    CHECK_EQ_INT(type, DT_I64);
    CHECK_OK(MXNDArrayGetAuxNDArray(h, 0, &indptr));
    CHECK_EQ_INT(elems(indptr), 4);
    CHECK_OK(MXNDArrayGetDataNDArray(h, &data));
    CHECK_EQ_INT(elems(data), 3);
    /* Filled in through the aux and data blobs, the matrix checks out. */
    CHECK_OK(MXNDArraySyncCopyFromNDArray(h, valh, -1));
    CHECK_OK(MXNDArraySyncCopyFromNDArray(h, ptrh, 0));
    CHECK_OK(MXNDArraySyncCopyFromNDArray(h, colh, 1));
    CHECK_OK(MXNDArraySyncCheckFormat(h, true));
    /* Column 4 of a 4-column matrix, and an indptr that goes down. */
    cols[2] = 4;
    CHECK_OK(MXNDArraySyncCopyFromCPU(colh, cols, 3));
    CHECK_OK(MXNDArraySyncCopyFromNDArray(h, colh, 1));
    CHECK_FAIL(MXNDArraySyncCheckFormat(h, true), "Indices of csr NDArray");
    cols[2] = 1;
    CHECK_OK(MXNDArraySyncCopyFromCPU(colh, cols, 3));
    CHECK_OK(MXNDArraySyncCopyFromNDArray(h, colh, 1));
    ptr[1] = 3;
    ptr[2] = 1;
    CHECK_OK(MXNDArraySyncCopyFromCPU(ptrh, ptr, 4));
    CHECK_OK(MXNDArraySyncCopyFromNDArray(h, ptrh, 0));
    CHECK_FAIL(MXNDArraySyncCheckFormat(h, true), "IndPtr of csr NDArray");
    CHECK_OK(MXNDArrayFree(indptr));
    CHECK_OK(MXNDArrayFree(data));
    CHECK_OK(MXNDArrayFree(colh));
    CHECK_OK(MXNDArrayFree(ptrh));
    CHECK_OK(MXNDArrayFree(valh));
    CHECK_OK(MXNDArrayFree(h));
}

static void test_create_errors(void) {
    NDArrayHandle h = (NDArrayHandle)0x1;
    mx_uint shape[2] = {5, 3}, k = 2, six = 6, aux_ndim = 1, two_ndims[2] = {1, 1}, csr_sh[2] = {5, 2};
    int i64 = DT_I64, f32 = DT_F32, two_types[2] = {DT_I64, DT_I64};
    CHECK_FAIL(MXNDArrayCreateSparseEx(7, shape, 2, 1, 0, 0, 0, 1, &i64, &aux_ndim, &k, &h),
               "unknown storage type 7");
    CHECK_FAIL(MXNDArrayCreateSparseEx(ST_DENSE, shape, 2, 1, 0, 0, 0, 1, &i64, &aux_ndim, &k, &h),
               "MXNDArrayCreateEx");
    CHECK_FAIL(MXNDArrayCreateSparseEx(ST_RSP, shape, 2, 1, 0, 0, 0, 2, two_types, two_ndims,
                                       csr_sh, &h), "row_sparse arrays have 1 aux array");
    CHECK_FAIL(MXNDArrayCreateSparseEx(ST_RSP, shape, 2, 1, 0, 0, 0, 1, &f32, &aux_ndim, &k, &h),
               "integer");
    CHECK_FAIL(MXNDArrayCreateSparseEx(ST_RSP, shape, 2, 1, 0, 0, 0, 1, &i64, &aux_ndim, &six, &h),
               "6 rows");
    CHECK_FAIL(MXNDArrayCreateSparseEx(ST_RSP, shape, 2, 2, 0, 0, 0, 1, &i64, &aux_ndim, &k, &h),
               "gpu");
    CHECK_FAIL(MXNDArrayCreateSparseEx(ST_RSP, shape, 2, 1, 0, 0, 99, 1, &i64, &aux_ndim, &k, &h),
               "unknown dtype code 99");
    CHECK_FAIL(MXNDArrayCreateSparseEx(ST_RSP, shape, 0, 1, 0, 0, 0, 1, &i64, &aux_ndim, &k, &h),
               "at least one dimension");
    CHECK_FAIL(MXNDArrayCreateSparseEx(ST_CSR, shape, 2, 1, 0, 0, 0, 2, two_types, two_ndims,
                                       csr_sh, &h), "indptr");
    CHECK_FAIL(MXNDArrayCreateSparseEx(ST_RSP, shape, 2, 1, 0, 0, 0, 1, &i64, &aux_ndim, &k, NULL),
               "out is NULL");
    CHECK_FAIL(MXNDArrayCreateSparseEx(ST_RSP, shape, 2, 1, 0, 0, 0, 1, NULL, &aux_ndim, &k, &h),
               "aux_type is NULL");
    CHECK(h == (NDArrayHandle)0x1);
}

static void test_aux_on_dense_and_none(void) {
    NDArrayHandle d = arr_fill(2, 2, 1.0f), none = NULL, out = NULL;
    int type = -1;
    CHECK_OK(MXNDArrayCreateNone(&none));
    CHECK_FAIL(MXNDArrayGetAuxType(d, 0, &type), "dense arrays have no aux");
    CHECK_FAIL(MXNDArrayGetAuxNDArray(d, 0, &out), "dense arrays have no aux");
    CHECK_FAIL(MXNDArrayGetDataNDArray(none, &out), "empty");
    CHECK(out == NULL);
    CHECK_OK(MXNDArraySyncCheckFormat(d, true));
    CHECK_FAIL(MXNDArrayGetAuxType(NULL, 0, &type), "NULL");
    CHECK_FAIL(MXNDArrayGetDataNDArray(d, NULL), "out is NULL");
    CHECK_OK(MXNDArrayFree(d));
    CHECK_OK(MXNDArrayFree(none));
}

/* ---- copies into and out of sparse arrays ------------------------------------------ */

static void test_sync_copies(void) {
    static const int64_t ids[2] = {1, 3};
    static const float vals[2] = {2.0f, 5.0f};
    NDArrayHandle h = rsp_rows(2, ids, vals), wrong, d;
    float dense[N], buf[N];
    mx_uint shape3[2] = {2, 3}, one = 1;
    int64_t ids3[3] = {0, 1, 2}, got[4];
    NDArrayHandle idx3 = ids_i64(ids3, 3);
    rsp_to_dense(h, dense);
    {
        static const float want[N] = {0, 0, 2, 2, 0, 0, 5, 5};
        CHECK_FLOATS(dense, want, N);
    }
    /* SyncCopyToCPU and FromCPU copy the stored values, and need the full element count
     * to be what is stored (as MXNet): 2 of 4 rows stored here. */
    CHECK_FAIL(MXNDArraySyncCopyToCPU(h, buf, 4), "Memory size do not match");
    CHECK_FAIL(MXNDArraySyncCopyToCPU(h, buf, N), "stores 4 of 8 elements");
    CHECK_FAIL(MXNDArraySyncCopyFromCPU(h, buf, N), "stores 4 of 8 elements");
    /* Data of another row width, and aux copies into a dense array or with a bad index. */
    wrong = arr_new(shape3, 2, DT_F32);
    CHECK_FAIL(MXNDArraySyncCopyFromNDArray(h, wrong, -1), "[2,3]");
    CHECK_FAIL(MXNDArraySyncCopyFromNDArray(h, idx3, 1), "aux index 1");
    d = arr_fill(ROWS, COLS, 0.0f);
    CHECK_FAIL(MXNDArraySyncCopyFromNDArray(d, idx3, 0), "dense arrays have no aux");
    CHECK_FAIL(MXNDArraySyncCopyFromNDArray(d, h, -1), "row_sparse");
    /* Indices of a 2-D shape are refused; the array is unchanged after each failure. */
    {
        mx_uint sh2[2] = {1, 1};
        NDArrayHandle two_d = arr_new(sh2, 2, DT_I64);
        CHECK_FAIL(MXNDArraySyncCopyFromNDArray(h, two_d, 0), "1-D");
        CHECK_OK(MXNDArrayFree(two_d));
    }
    CHECK_EQ_INT(rsp_ids(h, got), 2);
    CHECK(got[0] == 1 && got[1] == 3);
    /* Growing the stored rows: three rows of data, then their indices. */
    {
        mx_uint sh[2] = {3, COLS};
        float six[6] = {1, 1, 2, 2, 3, 3};
        NDArrayHandle data = arr_f32(sh, 2, six);
        CHECK_OK(MXNDArraySyncCopyFromNDArray(h, data, -1));
        CHECK_FAIL(MXNDArraySyncCheckFormat(h, false), "Shape mismatch of this row_sparse NDArray");
        CHECK_OK(MXNDArraySyncCopyFromNDArray(h, idx3, 0));
        CHECK_OK(MXNDArraySyncCheckFormat(h, true));
        rsp_to_dense(h, dense);
        {
            static const float want[N] = {1, 1, 2, 2, 3, 3, 0, 0};
            CHECK_FLOATS(dense, want, N);
        }
        CHECK_OK(MXNDArrayFree(data));
    }
    /* Unsorted, duplicate and out-of-range ids fail the full check. */
    {
        int64_t bad[3][3] = {{2, 1, 3}, {0, 0, 1}, {0, 1, 4}};
        int i;
        for (i = 0; i < 3; i++) {
            NDArrayHandle b = ids_i64(bad[i], 3);
            CHECK_OK(MXNDArraySyncCopyFromNDArray(h, b, 0));
            CHECK_OK(MXNDArraySyncCheckFormat(h, false));
            CHECK_FAIL(MXNDArraySyncCheckFormat(h, true), "Indices of row_sparse NDArray");
            CHECK_OK(MXNDArrayFree(b));
        }
    }
    /* A row_sparse array storing every row copies out like MXNet: its stored values. */
    {
        int64_t all[ROWS] = {0, 1, 2, 3};
        float v[ROWS] = {1, 2, 3, 4};
        NDArrayHandle full = rsp_rows(ROWS, all, v);
        static const float want[N] = {1, 1, 2, 2, 3, 3, 4, 4};
        CHECK_OK(MXNDArraySyncCopyToCPU(full, buf, N));
        CHECK_FLOATS(buf, want, N);
        CHECK_OK(MXNDArrayFree(full));
    }
    (void)one;
    CHECK_OK(MXNDArrayFree(idx3));
    CHECK_OK(MXNDArrayFree(wrong));
    CHECK_OK(MXNDArrayFree(d));
    CHECK_OK(MXNDArrayFree(h));
}

static void test_aux_copies_convert(void) {
    /* float64 row ids become the array's int64 indices; a fractional id is an error. */
    NDArrayHandle h = rsp_empty(ROWS, COLS, 2), ids;
    mx_uint two = 2;
    double d[2] = {1.0, 3.0};
    int64_t got[2];
    ids = arr_new(&two, 1, DT_F64);
    CHECK_OK(MXNDArraySyncCopyFromCPU(ids, d, 2));
    CHECK_OK(MXNDArraySyncCopyFromNDArray(h, ids, 0));
    CHECK_EQ_INT(rsp_ids(h, got), 2);
    CHECK(got[0] == 1 && got[1] == 3);
    CHECK_OK(MXNDArrayFree(ids));
    CHECK_OK(MXNDArrayFree(h));
}

/* ---- save and load ------------------------------------------------------------------ */

typedef struct {
    char name[32];
    int stype, dtype, ndim, naux;
    int64_t shape[4];
    int auxlen[2];
    int64_t aux[2][16];
    int ndata;
    double data[32];
} SparseExpected;

static int read_sparse_expected(SparseExpected *out, int max) {
    char path[512], line[4096];
    FILE *f;
    int count = 0;
    snprintf(path, sizeof path, "%s/sparse.expected", MXKV_FIXTURE_DIR);
    f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return 0;
    while (count < max && fgets(line, sizeof line, f)) {
        SparseExpected *e = &out[count++];
        int i, a;
        snprintf(e->name, sizeof e->name, "%s", strtok(line, " \n"));
        e->stype = atoi(strtok(NULL, " \n"));
        e->dtype = atoi(strtok(NULL, " \n"));
        e->ndim = atoi(strtok(NULL, " \n"));
        for (i = 0; i < e->ndim; i++) e->shape[i] = atoll(strtok(NULL, " \n"));
        e->naux = atoi(strtok(NULL, " \n"));
        for (a = 0; a < e->naux; a++) {
            e->auxlen[a] = atoi(strtok(NULL, " \n"));
            for (i = 0; i < e->auxlen[a]; i++) e->aux[a][i] = atoll(strtok(NULL, " \n"));
        }
        e->ndata = atoi(strtok(NULL, " \n"));
        for (i = 0; i < e->ndata; i++) e->data[i] = strtod(strtok(NULL, " \n"), NULL);
    }
    fclose(f);
    return count;
}

static double element(const void *buf, int dtype, int i) {
    switch (dtype) {
    case DT_F32: return ((const float *)buf)[i];
    case DT_F64: return ((const double *)buf)[i];
    case DT_F16: return f16_to_f32(((const uint16_t *)buf)[i]);
    case DT_I32: return ((const int32_t *)buf)[i];
    default: return -99999.0;
    }
}

static void check_loaded(NDArrayHandle h, const SparseExpected *e) {
    int ndim = 0, dtype = -1, i, a;
    const int64_t *shape = NULL;
    NDArrayHandle data = NULL;
    unsigned char buf[512];
    CHECK_EQ_INT(storage(h), e->stype);
    CHECK_OK(MXNDArrayGetShapeEx64(h, &ndim, &shape));
    CHECK_EQ_INT(ndim, e->ndim);
    for (i = 0; shape && i < ndim && i < e->ndim; i++) CHECK_EQ_INT(shape[i], e->shape[i]);
    CHECK_OK(MXNDArrayGetDType(h, &dtype));
    CHECK_EQ_INT(dtype, e->dtype);
    for (a = 0; a < e->naux; a++) {
        NDArrayHandle aux = NULL;
        int64_t ids[16];
        CHECK_OK(MXNDArrayGetAuxNDArray(h, (mx_uint)a, &aux));
        CHECK_EQ_INT(elems(aux), e->auxlen[a]);
        if ((int)elems(aux) == e->auxlen[a] && e->auxlen[a] > 0) {
            CHECK_OK(MXNDArraySyncCopyToCPU(aux, ids, (size_t)e->auxlen[a]));
            for (i = 0; i < e->auxlen[a]; i++) CHECK_EQ_INT(ids[i], e->aux[a][i]);
        }
        CHECK_OK(MXNDArrayFree(aux));
    }
    if (e->stype == ST_DENSE) {
        data = h;
    } else {
        CHECK_OK(MXNDArrayGetDataNDArray(h, &data));
    }
    CHECK_EQ_INT(elems(data), e->ndata);
    if ((int)elems(data) == e->ndata && e->ndata > 0) {
        CHECK_OK(MXNDArraySyncCopyToCPU(data, buf, (size_t)e->ndata));
        for (i = 0; i < e->ndata; i++) CHECK_EQ_DBL(element(buf, dtype, i), e->data[i]);
    }
    if (data != h) CHECK_OK(MXNDArrayFree(data));
    CHECK_OK(MXNDArraySyncCheckFormat(h, true));
}

static void test_load_mxnet_file_and_save_same_bytes(void) {
    SparseExpected e[8];
    int count = read_sparse_expected(e, 8), i;
    char path[512], again[512];
    mx_uint n = 0, n_names = 0;
    NDArrayHandle *arrs = NULL, kept[8];
    const char **names = NULL, *kept_names[8];
    char name_buf[8][32];
    CHECK_EQ_INT(count, 7);
    snprintf(path, sizeof path, "%s/sparse.params", MXKV_FIXTURE_DIR);
    CHECK_OK(MXNDArrayLoad(path, &n, &arrs, &n_names, &names));
    CHECK_EQ_INT(n, count);
    CHECK_EQ_INT(n_names, count);
    if ((int)n != count || (int)n_names != count) return;
    for (i = 0; i < count; i++) {
        kept[i] = arrs[i];
        snprintf(name_buf[i], sizeof name_buf[i], "%s", names[i]);
        kept_names[i] = name_buf[i];
    }
    for (i = 0; i < count; i++) {
        CHECK_STR_EQ(kept_names[i], e[i].name);
        check_loaded(kept[i], &e[i]);
    }
    /* Saved again by mxkv: byte for byte what MXNet wrote. */
    snprintf(again, sizeof again, "%s/sparse-again.params", MXKV_BUILD_DIR);
    CHECK_OK(MXNDArraySave(again, (mx_uint)count, kept, kept_names));
    CHECK(same_file_bytes(path, again));
    /* One record through the raw-bytes pair. */
    {
        size_t size = 0;
        const char *raw = NULL;
        NDArrayHandle back = NULL;
        CHECK_OK(MXNDArraySaveRawBytes(kept[0], &size, &raw));
        CHECK_OK(MXNDArrayLoadFromRawBytes(raw, size, &back));
        check_loaded(back, &e[0]);
        CHECK_OK(MXNDArrayFree(back));
    }
    for (i = 0; i < count; i++) CHECK_OK(MXNDArrayFree(kept[i]));
}

static void test_load_bad_sparse_records(void) {
    char path[512];
    size_t len = 0, size = 0;
    unsigned char *bytes;
    const char *raw = NULL;
    NDArrayHandle h = NULL, back = (NDArrayHandle)0x1;
    mx_uint n = 0, n_names = 0;
    NDArrayHandle *arrs = NULL;
    const char **names = NULL;
    snprintf(path, sizeof path, "%s/sparse.params", MXKV_FIXTURE_DIR);
    CHECK_OK(MXNDArrayLoad(path, &n, &arrs, &n_names, &names));
    if (n < 1) return;
    h = arrs[0];
    for (n_names = 1; n_names < n; n_names++) CHECK_OK(MXNDArrayFree(arrs[n_names]));
    CHECK_OK(MXNDArraySaveRawBytes(h, &size, &raw));
    bytes = (unsigned char *)malloc(size);
    memcpy(bytes, raw, size);
    /* Every truncation is an error. */
    for (len = 0; len < size; len++) {
        if (MXNDArrayLoadFromRawBytes(bytes, len, &back) == 0) break;
    }
    CHECK_EQ_INT(len, size);
    /* The storage shape (ndim at bytes 8..11, then the dims) says 1 stored row, the row ids 2. */
    bytes[12] = 1;
    CHECK_FAIL(MXNDArrayLoadFromRawBytes(bytes, size, &back), "Shape mismatch of this row_sparse NDArray");
    CHECK(back == (NDArrayHandle)0x1);
    free(bytes);
    CHECK_OK(MXNDArrayFree(h));
}

/* ---- the store ---------------------------------------------------------------------- */

static void check_key_dense(KVStoreHandle kv, int key, const float *want) {
    NDArrayHandle out = arr_fill(ROWS, COLS, -7.0f);
    float got[N];
    CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
    arr_read(out, got, N);
    CHECK_FLOATS(got, want, N);
    CHECK_OK(MXNDArrayFree(out));
}

static void test_push_union_of_rows(void) {
    static const int64_t r1[1] = {1}, r3[1] = {3};
    static const float two[1] = {2}, five[1] = {5}, one[1] = {1};
    KVStoreHandle kv;
    NDArrayHandle init = arr_fill(ROWS, COLS, 0.0f), v[3], full, got;
    int keys[3] = {1, 1, 1}, key = 1, n;
    float want[64], vals[64];
    int64_t ids[8];
    CHECK_OK(MXKVStoreCreate("local", &kv));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &init));
    v[0] = rsp_rows(1, r1, two);
    v[1] = rsp_rows(1, r3, five);
    v[2] = rsp_rows(1, r1, one);
    CHECK_OK(MXKVStorePush(kv, 3, keys, v, 0));
    CHECK_EQ_INT(expected("union_dense", want), N);
    check_key_dense(kv, key, want);
    /* The stored value became row_sparse: a full pull keeps its rows. */
    full = rsp_empty(ROWS, COLS, 0);
    CHECK_OK(MXKVStorePullWithSparse(kv, 1, &key, &full, 0, false));
    n = expected("union_indices", want);
    CHECK_EQ_INT(rsp_ids(full, ids), n);
    CHECK(ids[0] == (int64_t)want[0] && ids[1] == (int64_t)want[1]);
    n = expected("union_data", want);
    CHECK_EQ_INT(sparse_values(full, vals), n);
    CHECK_FLOATS(vals, want, (size_t)n);
    /* With ignore_sparse (Pull's default) a row_sparse output is left alone. */
    got = rsp_rows(1, r3, one);
    CHECK_OK(MXKVStorePull(kv, 1, &key, &got, 0));
    CHECK_EQ_INT(rsp_ids(got, ids), 1);
    CHECK_EQ_INT(ids[0], 3);
    CHECK_EQ_INT(sparse_values(got, vals), 2);
    CHECK(vals[0] == 1.0f);
    CHECK_OK(MXKVStorePullWithSparse(kv, 1, &key, &got, 0, true));
    CHECK_EQ_INT(sparse_values(got, vals), 2);
    /* Pushing a dense value makes it dense again: row_sparse_pull then refuses it. */
    {
        NDArrayHandle d = arr_fill(ROWS, COLS, 3.0f), ids1, out = rsp_empty(ROWS, COLS, 0);
        int64_t row = 1;
        ids1 = ids_i64(&row, 1);
        CHECK_OK(MXKVStorePush(kv, 1, &key, &d, 0));
        CHECK_FAIL(MXKVStorePullRowSparse(kv, 1, &key, &out, &ids1, 0),
                   "PullRowSparse expects row_sparse src NDArray");
        CHECK(key_equals(kv, key, ROWS, COLS, 3.0f));
        CHECK_OK(MXNDArrayFree(d));
        CHECK_OK(MXNDArrayFree(ids1));
        CHECK_OK(MXNDArrayFree(out));
    }
    for (n = 0; n < 3; n++) CHECK_OK(MXNDArrayFree(v[n]));
    CHECK_OK(MXNDArrayFree(init));
    CHECK_OK(MXNDArrayFree(full));
    CHECK_OK(MXNDArrayFree(got));
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_mixed_dense_and_row_sparse_push(void) {
    static const int64_t r1[1] = {1};
    static const float two[1] = {2};
    KVStoreHandle kv;
    NDArrayHandle init = arr_fill(ROWS, COLS, 0.0f), v[2];
    int keys[2] = {1, 1}, key = 1;
    float want[64];
    CHECK_OK(MXKVStoreCreate("local", &kv));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &init));
    v[0] = arr_fill(ROWS, COLS, 1.0f);
    v[1] = rsp_rows(1, r1, two);
    CHECK_OK(MXKVStorePush(kv, 2, keys, v, 0));
    CHECK_EQ_INT(expected("mixed_dense", want), N);
    check_key_dense(kv, key, want);
    /* The other order gives the same sum. */
    {
        NDArrayHandle w[2];
        w[0] = v[1];
        w[1] = v[0];
        CHECK_OK(MXKVStorePush(kv, 2, keys, w, 0));
        check_key_dense(kv, key, want);
    }
    CHECK_OK(MXNDArrayFree(v[0]));
    CHECK_OK(MXNDArrayFree(v[1]));
    CHECK_OK(MXNDArrayFree(init));
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_init_with_row_sparse_and_value_semantics(void) {
    static const int64_t r13[2] = {1, 3}, none[1] = {0};
    static const float twos[2] = {2, 2};
    static const float want[N] = {0, 0, 2, 2, 0, 0, 2, 2}, zeros[N] = {0};
    KVStoreHandle kv;
    NDArrayHandle v = rsp_rows(2, r13, twos), empty;
    int key = 4;
    CHECK_OK(MXKVStoreCreate("local", &kv));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    /* The store holds its own copy: changing the initial array changes nothing. */
    {
        mx_uint sh[2] = {2, COLS};
        float nines[4] = {9, 9, 9, 9};
        NDArrayHandle data = arr_f32(sh, 2, nines);
        CHECK_OK(MXNDArraySyncCopyFromNDArray(v, data, -1));
        CHECK_OK(MXNDArrayFree(data));
    }
    check_key_dense(kv, key, want);
    /* A push of no rows stores no rows. */
    empty = rsp_rows(0, none, twos);
    CHECK_OK(MXKVStorePush(kv, 1, &key, &empty, 0));
    check_key_dense(kv, key, zeros);
    CHECK_OK(MXNDArrayFree(empty));
    CHECK_OK(MXNDArrayFree(v));
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_row_sparse_pull(void) {
    /* The store of MXNet's scenario: rows 1 and 3 stored, holding 3 and 5. */
    static const int64_t all[ROWS] = {0, 1, 2, 3}, stored[2] = {1, 3};
    static const float v[2] = {3, 5};
    KVStoreHandle kv;
    NDArrayHandle init = rsp_rows(2, stored, v), out, ids;
    const char *key = "w";
    float want[64], vals[64];
    int64_t got[8];
    int n;
    CHECK_OK(MXKVStoreCreate("local", &kv));
    CHECK_OK(MXKVStoreInitEx(kv, 1, &key, &init));
    /* Unsorted, duplicated float32 ids. */
    {
        mx_uint four = 4;
        float f[4] = {2, 0, 2, 3};
        ids = arr_f32(&four, 1, f);
        out = rsp_empty(ROWS, COLS, 0);
        CHECK_OK(MXKVStorePullRowSparseEx(kv, 1, &key, &out, &ids, 0));
        n = expected("rsp_pull_indices", want);
        CHECK_EQ_INT(rsp_ids(out, got), n);
        CHECK(got[0] == 0 && got[1] == 2 && got[2] == 3);
        n = expected("rsp_pull_data", want);
        CHECK_EQ_INT(sparse_values(out, vals), n);
        CHECK_FLOATS(vals, want, (size_t)n);
        CHECK_OK(MXNDArrayFree(ids));
        CHECK_OK(MXNDArrayFree(out));
    }
    /* 2-D int64 ids, into two outputs at once (one id list each). */
    {
        mx_uint sh[2] = {2, 2};
        int64_t i2[4] = {3, 1, 1, 0};
        NDArrayHandle outs[2], idl[2];
        const char *keys[2] = {"w", "w"};
        idl[0] = arr_new(sh, 2, DT_I64);
        CHECK_OK(MXNDArraySyncCopyFromCPU(idl[0], i2, 4));
        idl[1] = ids_i64(all + 3, 1);
        outs[0] = rsp_empty(ROWS, COLS, 0);
        outs[1] = rsp_empty(ROWS, COLS, 2);
        CHECK_OK(MXKVStorePullRowSparseEx(kv, 2, keys, outs, idl, 0));
        n = expected("rsp_pull2d_indices", want);
        CHECK_EQ_INT(rsp_ids(outs[0], got), n);
        CHECK(got[0] == 0 && got[1] == 1 && got[2] == 3);
        n = expected("rsp_pull2d_data", want);
        CHECK_EQ_INT(sparse_values(outs[0], vals), n);
        CHECK_FLOATS(vals, want, (size_t)n);
        CHECK_EQ_INT(rsp_ids(outs[1], got), 1);
        CHECK_EQ_INT(got[0], 3);
        CHECK_EQ_INT(sparse_values(outs[1], vals), 2);
        CHECK(vals[0] == 5.0f);
        for (n = 0; n < 2; n++) {
            CHECK_OK(MXNDArrayFree(outs[n]));
            CHECK_OK(MXNDArrayFree(idl[n]));
        }
    }
    /* Empty ids give no rows; int32, uint8 and float64 ids work too. */
    {
        static const int dtypes[4] = {DT_I64, DT_I32, DT_U8, DT_F64};
        int d;
        mx_uint zero = 0, one = 1;
        for (d = 0; d < 4; d++) {
            NDArrayHandle e = arr_new(d == 0 ? &zero : &one, 1, dtypes[d]);
            unsigned char three[8];
            memset(three, 0, sizeof three);
            if (dtypes[d] == DT_F64) {
                double x = 3.0;
                memcpy(three, &x, 8);
            } else {
                three[0] = 3;
            }
            if (d) CHECK_OK(MXNDArraySyncCopyFromCPU(e, three, 1));
            out = rsp_empty(ROWS, COLS, 1);
            CHECK_OK(MXKVStorePullRowSparseEx(kv, 1, &key, &out, &e, 0));
            CHECK_EQ_INT(rsp_ids(out, got), d == 0 ? 0 : 1);
            if (d) CHECK_EQ_INT(got[0], 3);
            CHECK_OK(MXNDArrayFree(e));
            CHECK_OK(MXNDArrayFree(out));
        }
    }
    CHECK_OK(MXNDArrayFree(init));
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_row_sparse_pull_errors(void) {
    static const int64_t all[ROWS] = {0, 1, 2, 3};
    static const float v[ROWS] = {1, 1, 1, 1};
    KVStoreHandle kv;
    NDArrayHandle init = rsp_rows(ROWS, all, v), dense = arr_fill(ROWS, COLS, 2.0f);
    NDArrayHandle out = rsp_rows(1, all + 2, v), ids, rsp_ids_arr = rsp_rows(1, all, v);
    int key = 9, other = 10;
    int64_t got[4], bad;
    float vals[8];
    CHECK_OK(MXKVStoreCreate("local", &kv));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &init));
    CHECK_OK(MXKVStoreInit(kv, 1, &other, &dense));
    ids = ids_i64(all, 2);
    CHECK_FAIL(MXKVStorePullRowSparse(kv, 1, &key, &dense, &ids, 0),
               "Expected row_sparse storage type for row_sparse_pull values");
    CHECK(arr_all_equal(dense, N, 2.0f));
    CHECK_FAIL(MXKVStorePullRowSparse(kv, 1, &key, &out, &rsp_ids_arr, 0),
               "Expected default storage type for row_sparse_pull rowids");
    CHECK_FAIL(MXKVStorePullRowSparse(kv, 1, &other, &out, &ids, 0),
               "PullRowSparse expects row_sparse src NDArray");
    {
        int missing = 77;
        CHECK_FAIL(MXKVStorePullRowSparse(kv, 1, &missing, &out, &ids, 0), "key 77 has not been inited");
    }
    {
        const char *s = "w";
        CHECK_FAIL(MXKVStorePullRowSparseEx(kv, 1, &s, &out, &ids, 0), "Mixed key types");
    }
    bad = 4;
    CHECK_OK(MXNDArraySyncCopyFromCPU(ids, (int64_t[]){0, 4}, 2));
    CHECK_FAIL(MXKVStorePullRowSparse(kv, 1, &key, &out, &ids, 0), "row id 4 is out of range");
    CHECK_OK(MXNDArraySyncCopyFromCPU(ids, (int64_t[]){-1, 0}, 2));
    CHECK_FAIL(MXKVStorePullRowSparse(kv, 1, &key, &out, &ids, 0), "row id -1 is out of range");
    {
        mx_uint one = 1;
        float half = 0.5f;
        NDArrayHandle frac = arr_f32(&one, 1, &half);
        CHECK_FAIL(MXKVStorePullRowSparse(kv, 1, &key, &out, &frac, 0), "0.5");
        CHECK_OK(MXNDArrayFree(frac));
    }
    CHECK_FAIL(MXKVStorePullRowSparse(kv, 1, &key, &out, NULL, 0), "row_ids is NULL");
    /* A bad pair in the middle of a call: no output changes. */
    {
        int keys[2] = {9, 9};
        NDArrayHandle outs[2], idl[2], first = rsp_rows(1, all + 1, v);
        CHECK_OK(MXNDArraySyncCopyFromCPU(ids, (int64_t[]){0, 1}, 2));
        outs[0] = first;
        outs[1] = dense;
        idl[0] = ids;
        idl[1] = ids;
        CHECK_FAIL(MXKVStorePullRowSparse(kv, 2, keys, outs, idl, 0), "Expected row_sparse");
        CHECK_EQ_INT(rsp_ids(first, got), 1);
        CHECK_EQ_INT(got[0], 1);
        CHECK_OK(MXNDArrayFree(first));
    }
    (void)bad;
    /* The output is as it was after every failure above. */
    CHECK_EQ_INT(rsp_ids(out, got), 1);
    CHECK_EQ_INT(got[0], 2);
    CHECK_EQ_INT(sparse_values(out, vals), 2);
    CHECK_OK(MXNDArrayFree(ids));
    CHECK_OK(MXNDArrayFree(rsp_ids_arr));
    CHECK_OK(MXNDArrayFree(out));
    CHECK_OK(MXNDArrayFree(init));
    CHECK_OK(MXNDArrayFree(dense));
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_push_errors_change_nothing(void) {
    static const int64_t r1[1] = {1};
    static const float two[1] = {2};
    KVStoreHandle kv;
    NDArrayHandle init = arr_fill(ROWS, COLS, 1.0f), good = rsp_rows(1, r1, two), bad, csr = NULL;
    int keys[2] = {1, 1}, key = 1;
    NDArrayHandle v[2];
    CHECK_OK(MXKVStoreCreate("local", &kv));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &init));
    /* Unsorted indices in a pushed array. */
    {
        int64_t unsorted[2] = {3, 1};
        float vals[2] = {1, 1};
        bad = rsp_rows(2, unsorted, vals);
    }
    v[0] = good;
    v[1] = bad;
    CHECK_FAIL(MXKVStorePush(kv, 2, keys, v, 0), "ascending");
    CHECK(key_equals(kv, key, ROWS, COLS, 1.0f));
    CHECK_OK(MXNDArrayFree(bad));
    /* Data rows and indices that disagree. */
    bad = rsp_rows(1, r1, two);
    {
        mx_uint sh[2] = {3, COLS};
        NDArrayHandle data = arr_new(sh, 2, DT_F32);
        CHECK_OK(MXNDArraySyncCopyFromNDArray(bad, data, -1));
        CHECK_OK(MXNDArrayFree(data));
    }
    v[1] = bad;
    CHECK_FAIL(MXKVStorePush(kv, 2, keys, v, 0), "Shape mismatch of this row_sparse NDArray");
    CHECK_FAIL(MXKVStoreInit(kv, 1, (int[]){2}, &bad), "Shape mismatch of this row_sparse NDArray");
    CHECK(key_equals(kv, key, ROWS, COLS, 1.0f));
    CHECK_OK(MXNDArrayFree(bad));
    /* A row_sparse value of another shape. */
    bad = rsp_empty(ROWS + 1, COLS, 0);
    v[1] = bad;
    CHECK_FAIL(MXKVStorePush(kv, 2, keys, v, 0), "operands shape mismatch");
    CHECK_OK(MXNDArrayFree(bad));
    /* csr is not a store value. */
    {
        mx_uint shape[2] = {ROWS, COLS}, aux_ndims[2] = {1, 1}, aux_shapes[2] = {ROWS + 1, 0};
        int aux_types[2] = {DT_I64, DT_I64};
        CHECK_OK(MXNDArrayCreateSparseEx(ST_CSR, shape, 2, 1, 0, 0, DT_F32, 2, aux_types,
                                         aux_ndims, aux_shapes, &csr));
    }
    CHECK_FAIL(MXKVStorePush(kv, 1, &key, &csr, 0), "Unexpected storage type detected during kvstore push: 2");
    CHECK_FAIL(MXKVStoreInit(kv, 1, (int[]){3}, &csr), "csr");
    CHECK_FAIL(MXKVStorePullWithSparse(kv, 1, &key, &csr, 0, false), "csr");
    CHECK(key_equals(kv, key, ROWS, COLS, 1.0f));
    /* A key that failed init can be inited afterwards. */
    CHECK_OK(MXKVStoreInit(kv, 1, (int[]){2}, &good));
    CHECK_OK(MXNDArrayFree(csr));
    CHECK_OK(MXNDArrayFree(good));
    CHECK_OK(MXNDArrayFree(init));
    CHECK_OK(MXKVStoreFree(kv));
}

/* Updater: recv is row_sparse, local shares the stored value. */
typedef struct {
    int calls;
    int recv_stype, local_stype;
    int nids;
    int64_t ids[8];
    float vals[16];
} RecvRecord;

static void rsp_updater(int key, NDArrayHandle recv, NDArrayHandle local, void *handle) {
    RecvRecord *r = (RecvRecord *)handle;
    float *ld = NULL;
    int i, c;
    (void)key;
    r->calls++;
    MXNDArrayGetStorageType(recv, &r->recv_stype);
    MXNDArrayGetStorageType(local, &r->local_stype);
    r->nids = rsp_ids(recv, r->ids);
    sparse_values(recv, r->vals);
    /* local += recv, on the dense stored value's memory. */
    if (r->local_stype == ST_DENSE && MXNDArrayGetData(local, (void **)&ld) == 0 && ld)
        for (i = 0; i < r->nids; i++)
            for (c = 0; c < COLS; c++) ld[r->ids[i] * COLS + c] += r->vals[i * COLS + c];
    MXNDArrayFree(recv);
    MXNDArrayFree(local);
}

static void test_updater_receives_row_sparse(void) {
    static const int64_t r2[1] = {2}, r0[1] = {0};
    static const float one[1] = {1}, two[1] = {2};
    KVStoreHandle kv;
    NDArrayHandle init = arr_fill(ROWS, COLS, 1.0f), v[2];
    int keys[2] = {5, 5}, key = 5, n;
    float want[64];
    RecvRecord rec;
    memset(&rec, 0, sizeof rec);
    CHECK_OK(MXKVStoreCreate("local", &kv));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &init));
    CHECK_OK(MXKVStoreSetUpdater(kv, rsp_updater, &rec));
    v[0] = rsp_rows(1, r2, one);
    v[1] = rsp_rows(1, r0, two);
    CHECK_OK(MXKVStorePush(kv, 2, keys, v, 0));
    CHECK_EQ_INT(rec.calls, 1);
    CHECK_EQ_INT(rec.recv_stype, ST_RSP);
    CHECK_EQ_INT(rec.local_stype, ST_DENSE);
    n = expected("updater_recv_indices", want);
    CHECK_EQ_INT(rec.nids, n);
    CHECK(rec.ids[0] == (int64_t)want[0] && rec.ids[1] == (int64_t)want[1]);
    n = expected("updater_recv_data", want);
    CHECK_FLOATS(rec.vals, want, (size_t)n);
    CHECK_EQ_INT(expected("updater_dense", want), N);
    CHECK_OK(MXKVStoreSetUpdater(kv, NULL, NULL));
    check_key_dense(kv, key, want);
    /* One pushed row_sparse value reaches the updater as a copy: the pusher's array is
     * not the store's business. */
    rec.calls = 0;
    CHECK_OK(MXKVStoreSetUpdater(kv, rsp_updater, &rec));
    CHECK_OK(MXKVStorePush(kv, 1, &key, &v[0], 0));
    CHECK_EQ_INT(rec.calls, 1);
    CHECK_EQ_INT(rec.nids, 1);
    CHECK_OK(MXNDArrayFree(v[0]));
    CHECK_OK(MXNDArrayFree(v[1]));
    CHECK_OK(MXNDArrayFree(init));
    CHECK_OK(MXKVStoreFree(kv));
}

/* An updater that replaces a row_sparse stored value through local's blobs. */
static void replace_updater(int key, NDArrayHandle recv, NDArrayHandle local, void *handle) {
    mx_uint sh[2] = {1, COLS};
    int64_t row = 3;
    float v[COLS] = {8, 8};
    NDArrayHandle data = NULL, idx = NULL;
    (void)key;
    (void)handle;
    MXNDArrayCreateEx(sh, 2, 1, 0, 0, DT_F32, &data);
    MXNDArraySyncCopyFromCPU(data, v, COLS);
    sh[0] = 1;
    MXNDArrayCreateEx(sh, 1, 1, 0, 0, DT_I64, &idx);
    MXNDArraySyncCopyFromCPU(idx, &row, 1);
    MXNDArraySyncCopyFromNDArray(local, data, -1);
    MXNDArraySyncCopyFromNDArray(local, idx, 0);
    MXNDArrayFree(data);
    MXNDArrayFree(idx);
    MXNDArrayFree(recv);
    MXNDArrayFree(local);
}

static void test_updater_rewrites_row_sparse_value(void) {
    static const int64_t all[ROWS] = {0, 1, 2, 3};
    static const float v[ROWS] = {1, 1, 1, 1};
    static const float want[N] = {0, 0, 0, 0, 0, 0, 8, 8};
    KVStoreHandle kv;
    NDArrayHandle init = rsp_rows(ROWS, all, v);
    int key = 6;
    CHECK_OK(MXKVStoreCreate("local", &kv));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &init));
    CHECK_OK(MXKVStoreSetUpdater(kv, replace_updater, NULL));
    CHECK_OK(MXKVStorePush(kv, 1, &key, &init, 0));
    check_key_dense(kv, key, want);
    CHECK_OK(MXNDArrayFree(init));
    CHECK_OK(MXKVStoreFree(kv));
}

int main(void) {
    RUN(test_create_row_sparse);
    RUN(test_create_every_dtype_and_aux_type);
    RUN(test_create_csr);
    RUN(test_create_errors);
    RUN(test_aux_on_dense_and_none);
    RUN(test_sync_copies);
    RUN(test_aux_copies_convert);
    RUN(test_load_mxnet_file_and_save_same_bytes);
    RUN(test_load_bad_sparse_records);
    RUN(test_push_union_of_rows);
    RUN(test_mixed_dense_and_row_sparse_push);
    RUN(test_init_with_row_sparse_and_value_semantics);
    RUN(test_row_sparse_pull);
    RUN(test_row_sparse_pull_errors);
    RUN(test_push_errors_change_nothing);
    RUN(test_updater_receives_row_sparse);
    RUN(test_updater_rewrites_row_sparse_value);
    return check_summary("test_sparse");
}
