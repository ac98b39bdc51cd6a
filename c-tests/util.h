/*
 * util.h — small array helpers shared by the C test programs (built on check.h).
 */
#ifndef MXKV_TEST_UTIL_H
#define MXKV_TEST_UTIL_H

#include "check.h"

enum { DT_F32 = 0, DT_F64 = 1, DT_F16 = 2, DT_U8 = 3, DT_I32 = 4, DT_I8 = 5, DT_I64 = 6,
       DT_BOOL = 7, DT_I16 = 8, DT_U16 = 9, DT_U32 = 10, DT_U64 = 11, DT_BF16 = 12 };

/* Bytes per element of dtype code 0..12. */
static inline size_t dtype_size(int dtype) {
    static const size_t sizes[13] = {4, 8, 2, 1, 4, 1, 8, 1, 2, 2, 4, 8, 2};
    return sizes[dtype];
}

/* A new dense cpu(0) array of the given shape and dtype (NULL on failure, counted). */
static inline NDArrayHandle arr_new(const mx_uint *shape, mx_uint ndim, int dtype) {
    NDArrayHandle h = NULL;
    CHECK_OK(MXNDArrayCreateEx(shape, ndim, 1, 0, 0, dtype, &h));
    return h;
}

/* A float32 array of the given shape holding vals (shape's element count of them). */
static inline NDArrayHandle arr_f32(const mx_uint *shape, mx_uint ndim, const float *vals) {
    size_t n = 1;
    mx_uint i;
    NDArrayHandle h = arr_new(shape, ndim, DT_F32);
    for (i = 0; i < ndim; i++) n *= shape[i];
    CHECK_OK(MXNDArraySyncCopyFromCPU(h, vals, n));
    return h;
}

/* A float32 array of shape (rows, cols), every element v. */
static inline NDArrayHandle arr_fill(mx_uint rows, mx_uint cols, float v) {
    mx_uint shape[2];
    float *vals = (float *)calloc((size_t)rows * cols + 1, sizeof(float));
    NDArrayHandle h;
    size_t i;
    shape[0] = rows;
    shape[1] = cols;
    for (i = 0; i < (size_t)rows * cols; i++) vals[i] = v;
    h = arr_f32(shape, 2, vals);
    free(vals);
    return h;
}

/* Copy n float32 elements out of h. */
static inline void arr_read(NDArrayHandle h, float *out, size_t n) {
    CHECK_OK(MXNDArraySyncCopyToCPU(h, out, n));
}

/* True when all n float32 elements of h equal v. */
static inline int arr_all_equal(NDArrayHandle h, size_t n, float v) {
    float *buf = (float *)malloc(sizeof(float) * n);
    size_t i;
    int same = 1;
    for (i = 0; i < n; i++) buf[i] = -12345.0f;
    if (MXNDArraySyncCopyToCPU(h, buf, n) != 0) same = 0;
    for (i = 0; same && i < n; i++) same = buf[i] == v;
    free(buf);
    return same;
}

/* Pull int key `key` of shape (rows, cols) float32 into a fresh array; true when every
 * element equals v. */
static inline int key_equals(KVStoreHandle kv, int key, mx_uint rows, mx_uint cols, float v) {
    NDArrayHandle out = arr_fill(rows, cols, -777.0f);
    int same = MXKVStorePull(kv, 1, &key, &out, 0) == 0 && arr_all_equal(out, (size_t)rows * cols, v);
    MXNDArrayFree(out);
    return same;
}

/* Same for a string key. */
static inline int skey_equals(KVStoreHandle kv, const char *key, mx_uint rows, mx_uint cols, float v) {
    NDArrayHandle out = arr_fill(rows, cols, -777.0f);
    int same = MXKVStorePullEx(kv, 1, &key, &out, 0) == 0 && arr_all_equal(out, (size_t)rows * cols, v);
    MXNDArrayFree(out);
    return same;
}

/* IEEE 754 binary16 from float, round to nearest even (normal, subnormal, inf, nan). */
static inline uint16_t f32_to_f16(float f) {
    uint32_t x, sign, mant;
    int exp;
    memcpy(&x, &f, 4);
    sign = (x >> 16) & 0x8000u;
    exp = (int)((x >> 23) & 0xff);
    mant = x & 0x7fffffu;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0));
    exp = exp - 127 + 15;
    if (exp >= 31) return (uint16_t)(sign | 0x7c00u);
    if (exp <= 0) {
        uint32_t shift, half_bits, rem, halfway;
        if (exp < -10) return (uint16_t)sign;
        mant |= 0x800000u;
        shift = (uint32_t)(14 - exp);
        half_bits = mant >> shift;
        rem = mant & ((1u << shift) - 1);
        halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (half_bits & 1))) half_bits++;
        return (uint16_t)(sign | half_bits);
    } else {
        uint32_t half_bits = ((uint32_t)exp << 10) | (mant >> 13);
        uint32_t rem = mant & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (half_bits & 1))) half_bits++;
        return (uint16_t)(sign | half_bits);
    }
}

static inline float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ffu;
    uint32_t x;
    float f;
    if (exp == 0x1f) x = sign | 0x7f800000u | (mant << 13);
    else if (exp == 0) {
        if (mant == 0) x = sign;
        else {
            exp = 127 - 15 + 1;
            while (!(mant & 0x400u)) {
                mant <<= 1;
                exp--;
            }
            x = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
        }
    } else x = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    memcpy(&f, &x, 4);
    return f;
}

/* bfloat16 from float, round to nearest even (finite values). */
static inline uint16_t f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    x += 0x7fffu + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

static inline float bf16_to_f32(uint16_t b) {
    uint32_t x = (uint32_t)b << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* A whole file in a new buffer (NULL when it cannot be read); *len gets its size. */
static inline unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (unsigned char *)malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

/* True when two files hold the same bytes; says where they first differ otherwise. */
static inline int same_file_bytes(const char *a, const char *b) {
    size_t la = 0, lb = 0;
    unsigned char *ba = read_file(a, &la), *bb = read_file(b, &lb);
    int same = ba && bb && la == lb && memcmp(ba, bb, la) == 0;
    if (ba && bb && !same) {
        size_t i = 0;
        while (i < la && i < lb && ba[i] == bb[i]) i++;
        fprintf(stderr, "    %s (%zu bytes) and %s (%zu bytes) differ from byte %zu\n", a, la, b,
                lb, i);
    }
    free(ba);
    free(bb);
    return same;
}

#endif /* MXKV_TEST_UTIL_H */
