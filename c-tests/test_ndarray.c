/*
 * The dense NDArray part of the API: creation for every dtype, queries, copies, raw data,
 * views (Slice, At, Reshape) and Save/Load (spec §2; reference §2).
 */
#include "util.h"

#ifndef MXKV_BUILD_DIR
#define MXKV_BUILD_DIR "build/c-tests"
#endif

/* n values i%11 - 5 (bool: i%2) in the representation of dtype. */
static void fill_pattern(int dtype, void *buf, size_t n, int offset) {
    size_t i;
    for (i = 0; i < n; i++) {
        int v = (int)((i + (size_t)offset) % 11) - 5;
        switch (dtype) {
        case DT_F32: ((float *)buf)[i] = (float)v * 0.5f; break;
        case DT_F64: ((double *)buf)[i] = (double)v * 0.25; break;
        case DT_F16: ((uint16_t *)buf)[i] = f32_to_f16((float)v * 0.5f); break;
        case DT_U8: ((uint8_t *)buf)[i] = (uint8_t)(v + 200); break;
        case DT_I32: ((int32_t *)buf)[i] = v * 100000; break;
        case DT_I8: ((int8_t *)buf)[i] = (int8_t)v; break;
        case DT_I64: ((int64_t *)buf)[i] = (int64_t)v * ((int64_t)1 << 40); break;
        case DT_BOOL: ((uint8_t *)buf)[i] = (uint8_t)((i + (size_t)offset) % 2); break;
        case DT_I16: ((int16_t *)buf)[i] = (int16_t)(v * 1000); break;
        case DT_U16: ((uint16_t *)buf)[i] = (uint16_t)(v + 60000); break;
        case DT_U32: ((uint32_t *)buf)[i] = (uint32_t)(v + 4000000000u); break;
        case DT_U64: ((uint64_t *)buf)[i] = (uint64_t)(v + 5) << 60; break;
        case DT_BF16: ((uint16_t *)buf)[i] = f32_to_bf16((float)v * 0.5f); break;
        default: break;
        }
    }
}

static void check_shape(NDArrayHandle h, int ndim, const int64_t *want) {
    mx_uint dim32 = 99;
    const mx_uint *s32 = NULL;
    int dim = -9, dim64 = -9, i;
    const int *s = NULL;
    const int64_t *s64 = NULL;
    CHECK_OK(MXNDArrayGetShape(h, &dim32, &s32));
    CHECK_EQ_INT(dim32, ndim);
    for (i = 0; s32 && i < ndim && i < (int)dim32; i++) CHECK_EQ_INT(s32[i], want[i]);
    CHECK_OK(MXNDArrayGetShapeEx(h, &dim, &s));
    CHECK_EQ_INT(dim, ndim);
    for (i = 0; s && i < ndim && i < dim; i++) CHECK_EQ_INT(s[i], want[i]);
    CHECK_OK(MXNDArrayGetShapeEx64(h, &dim64, &s64));
    CHECK_EQ_INT(dim64, ndim);
    for (i = 0; s64 && i < ndim && i < dim64; i++) CHECK_EQ_INT(s64[i], want[i]);
}

static void check_meta(NDArrayHandle h, int dtype, int dev_type, int dev_id) {
    int dt = -9, t = -9, id = -9, st = -9;
    CHECK_OK(MXNDArrayGetDType(h, &dt));
    CHECK_EQ_INT(dt, dtype);
    CHECK_OK(MXNDArrayGetContext(h, &t, &id));
    CHECK_EQ_INT(t, dev_type);
    CHECK_EQ_INT(id, dev_id);
    CHECK_OK(MXNDArrayGetStorageType(h, &st));
    CHECK_EQ_INT(st, 0);
}

/* Copy a pattern in, copy it out, compare bytes; also through GetData. */
static void check_roundtrip(NDArrayHandle h, int dtype, size_t n) {
    size_t bytes = n * dtype_size(dtype);
    unsigned char *in = (unsigned char *)malloc(bytes), *out = (unsigned char *)malloc(bytes);
    void *data = NULL;
    fill_pattern(dtype, in, n, dtype);
    memset(out, 0xab, bytes);
    CHECK_OK(MXNDArraySyncCopyFromCPU(h, in, n));
    CHECK_OK(MXNDArraySyncCopyToCPU(h, out, n));
    CHECK(memcmp(in, out, bytes) == 0);
    CHECK_OK(MXNDArrayWaitToRead(h));
    CHECK_OK(MXNDArrayGetData(h, &data));
    CHECK(data != NULL && memcmp(data, in, bytes) == 0);
    free(in);
    free(out);
}

static void test_create_every_dtype(void) {
    mx_uint shape[3] = {2, 3, 4};
    int64_t shape64[3] = {2, 3, 4};
    int dtype;
    for (dtype = 0; dtype <= 12; dtype++) {
        NDArrayHandle a = NULL, b = NULL, c = NULL;
        CHECK_OK(MXNDArrayCreateEx(shape, 3, 1, 0, 0, dtype, &a));
        CHECK(a != NULL);
        check_shape(a, 3, shape64);
        check_meta(a, dtype, 1, 0);
        check_roundtrip(a, dtype, 24);
        /* Delayed allocation behaves the same once written. */
        CHECK_OK(MXNDArrayCreateEx64(shape64, 3, 3, 2, 1, dtype, &b));
        check_shape(b, 3, shape64);
        check_meta(b, dtype, 3, 2);
        check_roundtrip(b, dtype, 24);
        CHECK_OK(MXNDArrayCreateEx64(shape64 + 1, 2, 5, 63, 0, dtype, &c));
        check_shape(c, 2, shape64 + 1);
        check_meta(c, dtype, 5, 63);
        check_roundtrip(c, dtype, 12);
        CHECK_OK(MXNDArrayFree(a));
        CHECK_OK(MXNDArrayFree(b));
        CHECK_OK(MXNDArrayFree(c));
    }
}

static void test_create_default_float32(void) {
    mx_uint shape[2] = {5, 1};
    int64_t want[2] = {5, 1};
    NDArrayHandle h = NULL;
    float zeros[5] = {0, 0, 0, 0, 0}, got[5];
    CHECK_OK(MXNDArrayCreate(shape, 2, 1, 7, 0, &h));
    check_shape(h, 2, want);
    check_meta(h, DT_F32, 1, 7);
    check_roundtrip(h, DT_F32, 5);
    CHECK_OK(MXNDArrayFree(h));
    /* Delayed allocation: usable once written. */
    CHECK_OK(MXNDArrayCreate(shape, 2, 1, 0, 1, &h));
    CHECK_OK(MXNDArraySyncCopyFromCPU(h, zeros, 5));
    arr_read(h, got, 5);
    CHECK_FLOATS(got, zeros, 5);
    CHECK_OK(MXNDArrayFree(h));
}

static void test_one_dim_and_large_dims(void) {
    int64_t s1[1] = {1000}, s5[5] = {1, 2, 1, 3, 2};
    NDArrayHandle a = NULL, b = NULL;
    CHECK_OK(MXNDArrayCreateEx64(s1, 1, 1, 0, 0, DT_F64, &a));
    check_shape(a, 1, s1);
    check_roundtrip(a, DT_F64, 1000);
    CHECK_OK(MXNDArrayCreateEx64(s5, 5, 1, 0, 0, DT_I16, &b));
    check_shape(b, 5, s5);
    check_roundtrip(b, DT_I16, 12);
    CHECK_OK(MXNDArrayFree(a));
    CHECK_OK(MXNDArrayFree(b));
}

static void test_none_handle(void) {
    NDArrayHandle h = NULL;
    int dtype = 0, stype = 0, t = 9, id = 9, ndim = 9;
    mx_uint dim32 = 9;
    const mx_uint *s32 = NULL;
    const int *s = NULL;
    const int64_t *s64 = NULL;
    void *data = (void *)&dtype;
    CHECK_OK(MXNDArrayCreateNone(&h));
    CHECK(h != NULL);
    CHECK_OK(MXNDArrayGetDType(h, &dtype));
    CHECK_EQ_INT(dtype, -1);
    CHECK_OK(MXNDArrayGetStorageType(h, &stype));
    CHECK_EQ_INT(stype, -1);
    CHECK_OK(MXNDArrayGetContext(h, &t, &id));
    CHECK_EQ_INT(t, 0);
    CHECK_EQ_INT(id, 0);
    CHECK_OK(MXNDArrayGetShapeEx(h, &ndim, &s));
    CHECK_EQ_INT(ndim, 0);
    ndim = 9;
    CHECK_OK(MXNDArrayGetShapeEx64(h, &ndim, &s64));
    CHECK_EQ_INT(ndim, 0);
    CHECK_OK(MXNDArrayGetShape(h, &dim32, &s32));
    CHECK_EQ_INT(dim32, 0);
    CHECK_OK(MXNDArrayGetData(h, &data));
    CHECK(data == NULL);
    CHECK_OK(MXNDArrayWaitToRead(h));
    CHECK_OK(MXNDArrayWaitToWrite(h));
    CHECK_OK(MXNDArrayFree(h));
}

static void test_sync_copy_from_ndarray(void) {
    mx_uint shape[2] = {3, 4};
    float a[12], got[12];
    NDArrayHandle src, dst = arr_fill(3, 4, 0.0f);
    int i;
    for (i = 0; i < 12; i++) a[i] = (float)i * 1.5f - 3.0f;
    src = arr_f32(shape, 2, a);
    CHECK_OK(MXNDArraySyncCopyFromNDArray(dst, src, -1));
    arr_read(dst, got, 12);
    CHECK_FLOATS(got, a, 12);
    /* The copy is independent of its source. */
    CHECK_OK(MXNDArraySyncCopyFromCPU(src, (float[12]){0}, 12));
    arr_read(dst, got, 12);
    CHECK_FLOATS(got, a, 12);
    CHECK_OK(MXNDArrayFree(src));
    arr_read(dst, got, 12);
    CHECK_FLOATS(got, a, 12);
    CHECK_OK(MXNDArrayFree(dst));
}

static void test_get_data_read_write(void) {
    mx_uint shape[2] = {2, 2};
    float a[4] = {1, 2, 3, 4}, got[4];
    NDArrayHandle h = arr_f32(shape, 2, a);
    float *p = NULL, *q = NULL;
    CHECK_OK(MXNDArrayGetData(h, (void **)&p));
    CHECK(p != NULL);
    if (!p) return;
    CHECK_EQ_DBL(p[0], 1.0f);
    CHECK_EQ_DBL(p[3], 4.0f);
    p[1] = -20.0f;
    p[2] = 0.125f;
    arr_read(h, got, 4);
    {
        float want[4] = {1, -20, 0.125f, 4};
        CHECK_FLOATS(got, want, 4);
    }
    /* The pointer is stable while nothing reallocates the array. */
    CHECK_OK(MXNDArrayGetData(h, (void **)&q));
    CHECK(p == q);
    CHECK_OK(MXNDArrayFree(h));
}

/* A (4, 3) float32 array holding 0 .. 11. */
static NDArrayHandle iota_4x3(void) {
    mx_uint shape[2] = {4, 3};
    float a[12];
    int i;
    for (i = 0; i < 12; i++) a[i] = (float)i;
    return arr_f32(shape, 2, a);
}

static void test_slice_shares_memory(void) {
    NDArrayHandle h = iota_4x3(), s = NULL, s64 = NULL, ss = NULL;
    int64_t want[2] = {2, 3}, want1[2] = {1, 3};
    float got[6], all[12];
    float *p = NULL;
    CHECK_OK(MXNDArraySlice(h, 1, 3, &s));
    check_shape(s, 2, want);
    check_meta(s, DT_F32, 1, 0);
    arr_read(s, got, 6);
    {
        float w[6] = {3, 4, 5, 6, 7, 8};
        CHECK_FLOATS(got, w, 6);
    }
    /* Writes through the view reach the parent, and the other way round. */
    CHECK_OK(MXNDArraySyncCopyFromCPU(s, (float[6]){-1, -2, -3, -4, -5, -6}, 6));
    arr_read(h, all, 12);
    {
        float w[12] = {0, 1, 2, -1, -2, -3, -4, -5, -6, 9, 10, 11};
        CHECK_FLOATS(all, w, 12);
    }
    CHECK_OK(MXNDArrayGetData(h, (void **)&p));
    if (p) p[4] = 44.0f;
    arr_read(s, got, 6);
    CHECK_EQ_DBL(got[1], 44.0f);
    /* Slice64 and a slice of a slice. */
    CHECK_OK(MXNDArraySlice64(h, 3, 4, &s64));
    check_shape(s64, 2, want1);
    arr_read(s64, got, 3);
    {
        float w[3] = {9, 10, 11};
        CHECK_FLOATS(got, w, 3);
    }
    CHECK_OK(MXNDArraySlice(s, 1, 2, &ss));
    check_shape(ss, 2, want1);
    arr_read(ss, got, 3);
    {
        float w[3] = {-4, -5, -6};
        CHECK_FLOATS(got, w, 3);
    }
    /* A view outlives its parent's handle. */
    CHECK_OK(MXNDArrayFree(h));
    arr_read(ss, got, 3);
    CHECK_EQ_DBL(got[2], -6.0f);
    CHECK_OK(MXNDArrayFree(s));
    CHECK_OK(MXNDArrayFree(s64));
    arr_read(ss, got, 3);
    CHECK_EQ_DBL(got[0], -4.0f);
    CHECK_OK(MXNDArrayFree(ss));
}

static void test_at_shares_memory(void) {
    NDArrayHandle h = iota_4x3(), a = NULL, a64 = NULL, scalar = NULL;
    int64_t want[1] = {3};
    float got[3], all[12];
    float *p = NULL;
    CHECK_OK(MXNDArrayAt(h, 2, &a));
    check_shape(a, 1, want);
    arr_read(a, got, 3);
    {
        float w[3] = {6, 7, 8};
        CHECK_FLOATS(got, w, 3);
    }
    CHECK_OK(MXNDArrayGetData(a, (void **)&p));
    if (p) p[0] = 60.0f;
    arr_read(h, all, 12);
    CHECK_EQ_DBL(all[6], 60.0f);
    CHECK_EQ_DBL(all[5], 5.0f);
    CHECK_OK(MXNDArrayAt64(h, 0, &a64));
    check_shape(a64, 1, want);
    arr_read(a64, got, 3);
    CHECK_EQ_DBL(got[2], 2.0f);
    /* At of a 1-D array gives a (1,) array, as MXNet's legacy shapes do. */
    CHECK_OK(MXNDArrayAt(a, 1, &scalar));
    {
        float v = 0;
        int ndim = -1;
        const int *s = NULL;
        CHECK_OK(MXNDArrayGetShapeEx(scalar, &ndim, &s));
        CHECK(ndim == 1 && s && s[0] == 1);
        arr_read(scalar, &v, 1);
        CHECK_EQ_DBL(v, 7.0f);
    }
    CHECK_OK(MXNDArrayFree(scalar));
    CHECK_OK(MXNDArrayFree(a));
    CHECK_OK(MXNDArrayFree(a64));
    CHECK_OK(MXNDArrayFree(h));
}

static void test_reshape_shares_memory(void) {
    NDArrayHandle h = iota_4x3(), r = NULL, r0 = NULL, r64 = NULL;
    int dims[2] = {-1, 6}, dims0[2] = {0, -1};
    dim_t dims64[3] = {3, -1, 2};
    int64_t want[2] = {2, 6}, want0[2] = {4, 3}, want64[3] = {3, 2, 2};
    float got[12];
    CHECK_OK(MXNDArrayReshape(h, 2, dims, &r));
    check_shape(r, 2, want);
    check_meta(r, DT_F32, 1, 0);
    arr_read(r, got, 12);
    CHECK_EQ_DBL(got[7], 7.0f);
    CHECK_EQ_DBL(got[11], 11.0f);
    CHECK_OK(MXNDArraySyncCopyFromCPU(r, (float[12]){5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5}, 12));
    CHECK(arr_all_equal(h, 12, 5.0f));
    /* 0 keeps the input's dimension. */
    CHECK_OK(MXNDArrayReshape(h, 2, dims0, &r0));
    check_shape(r0, 2, want0);
    CHECK_OK(MXNDArrayReshape64(h, 3, dims64, false, &r64));
    check_shape(r64, 3, want64);
    CHECK_OK(MXNDArraySyncCopyFromCPU(r64, (float[12]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 12));
    arr_read(r0, got, 12);
    CHECK_EQ_DBL(got[4], 4.0f);
    CHECK_OK(MXNDArrayFree(h));
    CHECK_OK(MXNDArrayFree(r));
    CHECK_OK(MXNDArrayFree(r0));
    CHECK_OK(MXNDArrayFree(r64));
}

static void test_reshape64_reverse(void) {
    int64_t shape[3] = {10, 5, 4}, want_fwd[2] = {40, 5}, want_rev[2] = {50, 4};
    dim_t dims[2] = {-1, 0};
    NDArrayHandle h = NULL, f = NULL, r = NULL;
    CHECK_OK(MXNDArrayCreateEx64(shape, 3, 1, 0, 0, DT_F32, &h));
    CHECK_OK(MXNDArrayReshape64(h, 2, dims, false, &f));
    check_shape(f, 2, want_fwd);
    CHECK_OK(MXNDArrayReshape64(h, 2, dims, true, &r));
    check_shape(r, 2, want_rev);
    CHECK_OK(MXNDArrayFree(h));
    CHECK_OK(MXNDArrayFree(f));
    CHECK_OK(MXNDArrayFree(r));
}

static void test_view_of_view_in_store(void) {
    /* A slice can be pushed and pulled into like any array. */
    KVStoreHandle kv = NULL;
    NDArrayHandle h = iota_4x3(), s = NULL, big = arr_fill(4, 3, 0.0f);
    int key = 1;
    float got[12];
    CHECK_OK(MXNDArraySlice(h, 2, 4, &s));
    CHECK_OK(MXKVStoreCreate("local", &kv));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &s));
    {
        NDArrayHandle out = arr_fill(2, 3, 0.0f);
        float w[6] = {6, 7, 8, 9, 10, 11};
        CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
        arr_read(out, got, 6);
        CHECK_FLOATS(got, w, 6);
        CHECK_OK(MXNDArrayFree(out));
    }
    /* Pull into a slice writes only that part of the parent. */
    {
        NDArrayHandle dst = NULL;
        float w[12] = {0, 0, 0, 6, 7, 8, 9, 10, 11, 0, 0, 0};
        CHECK_OK(MXNDArraySlice(big, 1, 3, &dst));
        CHECK_OK(MXKVStorePull(kv, 1, &key, &dst, 0));
        arr_read(big, got, 12);
        CHECK_FLOATS(got, w, 12);
        CHECK_OK(MXNDArrayFree(dst));
    }
    CHECK_OK(MXKVStoreFree(kv));
    CHECK_OK(MXNDArrayFree(s));
    CHECK_OK(MXNDArrayFree(h));
    CHECK_OK(MXNDArrayFree(big));
}

static void test_save_load_named(void) {
    char path[512];
    mx_uint s1[2] = {2, 3}, s2[1] = {4}, s3[3] = {2, 2, 2};
    NDArrayHandle in[4], *out = NULL, kept[4];
    const char *names[4] = {"arg:weight", "bb", "aux:ccc", "bf16 values"}, **got_names = NULL;
    mx_uint n = 0, nn = 0;
    int dtypes[4] = {DT_F32, DT_I64, DT_F16, DT_BF16};
    int64_t w1[2] = {2, 3}, w2[1] = {4}, w3[3] = {2, 2, 2};
    size_t sizes[4] = {6, 4, 8, 8};
    unsigned char want[4][64], got[64];
    int i;
    snprintf(path, sizeof path, "%s/ndarray_named.params", MXKV_BUILD_DIR);
    in[0] = arr_new(s1, 2, DT_F32);
    in[1] = arr_new(s2, 1, DT_I64);
    in[2] = arr_new(s3, 3, DT_F16);
    in[3] = arr_new(s3, 3, DT_BF16);
    for (i = 0; i < 4; i++) {
        fill_pattern(dtypes[i], want[i], sizes[i], i);
        CHECK_OK(MXNDArraySyncCopyFromCPU(in[i], want[i], sizes[i]));
    }
    CHECK_OK(MXNDArraySave(path, 4, in, names));
    CHECK_OK(MXNDArrayLoad(path, &n, &out, &nn, &got_names));
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(nn, 4);
    if (n != 4 || nn != 4) return;
    for (i = 0; i < 4; i++) {
        CHECK_STR_EQ(got_names[i], names[i]);
        kept[i] = out[i];
    }
    check_shape(kept[0], 2, w1);
    check_shape(kept[1], 1, w2);
    check_shape(kept[2], 3, w3);
    check_shape(kept[3], 3, w3);
    for (i = 0; i < 4; i++) {
        check_meta(kept[i], dtypes[i], 1, 0);
        CHECK_OK(MXNDArraySyncCopyToCPU(kept[i], got, sizes[i]));
        CHECK(memcmp(got, want[i], sizes[i] * dtype_size(dtypes[i])) == 0);
        CHECK_OK(MXNDArrayFree(kept[i]));
        CHECK_OK(MXNDArrayFree(in[i]));
    }
}

static void test_save_load_unnamed_and_empty(void) {
    char path[512], empty[512];
    NDArrayHandle in[2], *out = NULL, kept[2];
    const char **got_names = NULL;
    mx_uint n = 0, nn = 77;
    float got[6];
    snprintf(path, sizeof path, "%s/ndarray_unnamed.params", MXKV_BUILD_DIR);
    snprintf(empty, sizeof empty, "%s/ndarray_empty.params", MXKV_BUILD_DIR);
    in[0] = arr_fill(2, 3, 1.25f);
    in[1] = arr_fill(1, 2, -8.0f);
    CHECK_OK(MXNDArraySave(path, 2, in, NULL));
    CHECK_OK(MXNDArrayLoad(path, &n, &out, &nn, &got_names));
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(nn, 0);
    if (n != 2) return;
    kept[0] = out[0];
    kept[1] = out[1];
    CHECK(arr_all_equal(kept[0], 6, 1.25f));
    CHECK(arr_all_equal(kept[1], 2, -8.0f));
    /* Loaded arrays are independent of the file and of each other. */
    CHECK_OK(MXNDArraySyncCopyFromCPU(kept[0], (float[6]){0}, 6));
    arr_read(kept[1], got, 2);
    CHECK_EQ_DBL(got[0], -8.0f);
    CHECK_OK(MXNDArraySave(empty, 0, NULL, NULL));
    n = 5;
    nn = 5;
    CHECK_OK(MXNDArrayLoad(empty, &n, &out, &nn, &got_names));
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(nn, 0);
    CHECK_OK(MXNDArrayFree(kept[0]));
    CHECK_OK(MXNDArrayFree(kept[1]));
    CHECK_OK(MXNDArrayFree(in[0]));
    CHECK_OK(MXNDArrayFree(in[1]));
}

static void test_save_slice_saves_view(void) {
    char path[512];
    NDArrayHandle h = iota_4x3(), s = NULL, *out = NULL, back;
    const char **names = NULL;
    mx_uint n = 0, nn = 0;
    int64_t want[2] = {2, 3};
    float got[6];
    snprintf(path, sizeof path, "%s/ndarray_slice.params", MXKV_BUILD_DIR);
    CHECK_OK(MXNDArraySlice(h, 2, 4, &s));
    CHECK_OK(MXNDArraySave(path, 1, &s, NULL));
    CHECK_OK(MXNDArrayLoad(path, &n, &out, &nn, &names));
    CHECK_EQ_INT(n, 1);
    if (n != 1) return;
    back = out[0];
    check_shape(back, 2, want);
    arr_read(back, got, 6);
    {
        float w[6] = {6, 7, 8, 9, 10, 11};
        CHECK_FLOATS(got, w, 6);
    }
    CHECK_OK(MXNDArrayFree(back));
    CHECK_OK(MXNDArrayFree(s));
    CHECK_OK(MXNDArrayFree(h));
}

static void test_raw_bytes_roundtrip(void) {
    int dtype;
    for (dtype = 0; dtype <= 12; dtype++) {
        int64_t shape[2] = {3, 5};
        NDArrayHandle h = NULL, back = NULL;
        size_t len = 0, bytes = 15 * dtype_size(dtype);
        const char *buf = NULL;
        char *copy;
        unsigned char in[120], out[120];
        CHECK_OK(MXNDArrayCreateEx64(shape, 2, 1, 0, 0, dtype, &h));
        fill_pattern(dtype, in, 15, 3);
        CHECK_OK(MXNDArraySyncCopyFromCPU(h, in, 15));
        CHECK_OK(MXNDArraySaveRawBytes(h, &len, &buf));
        /* magic, stype, ndim, 2 dims, context, dtype, data */
        CHECK_EQ_INT(len, 4 + 4 + 4 + 16 + 8 + 4 + bytes);
        if (!buf || len == 0) {
            CHECK_OK(MXNDArrayFree(h));
            continue;
        }
        /* The buffer belongs to the library: keep a copy before the next call. */
        copy = (char *)malloc(len);
        memcpy(copy, buf, len);
        CHECK_OK(MXNDArrayLoadFromRawBytes(copy, len, &back));
        if (back) {
            check_shape(back, 2, shape);
            check_meta(back, dtype, 1, 0);
            CHECK_OK(MXNDArraySyncCopyToCPU(back, out, 15));
            CHECK(memcmp(in, out, bytes) == 0);
            CHECK_OK(MXNDArrayFree(back));
        }
        free(copy);
        CHECK_OK(MXNDArrayFree(h));
    }
}

static void test_wait_calls(void) {
    NDArrayHandle h = arr_fill(2, 2, 1.0f);
    CHECK_OK(MXNDArrayWaitToRead(h));
    CHECK_OK(MXNDArrayWaitToWrite(h));
    CHECK_OK(MXNDArrayWaitAll());
    CHECK_OK(MXNDArrayFree(h));
}

int main(void) {
    RUN(test_create_every_dtype);
    RUN(test_create_default_float32);
    RUN(test_one_dim_and_large_dims);
    RUN(test_none_handle);
    RUN(test_sync_copy_from_ndarray);
    RUN(test_get_data_read_write);
    RUN(test_slice_shares_memory);
    RUN(test_at_shares_memory);
    RUN(test_reshape_shares_memory);
    RUN(test_reshape64_reverse);
    RUN(test_view_of_view_in_store);
    RUN(test_save_load_named);
    RUN(test_save_load_unnamed_and_empty);
    RUN(test_save_slice_saves_view);
    RUN(test_raw_bytes_roundtrip);
    RUN(test_wait_calls);
    return check_summary("test_ndarray");
}
