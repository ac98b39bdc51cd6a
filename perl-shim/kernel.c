/* Element-wise loops for AI::MXNet::NDArray (see kernel.h).
 *
 * Three compute domains: float (float32, and float16/bfloat16 widened block by block), double
 * (float64) and 64-bit integers (every integer type and bool, wrapping like C). Integer division by
 * zero gives 0 instead of a trap, since a Perl program must never be killed by a SIGFPE. */
#include "kernel.h"

#include <math.h>
#include <string.h>

#define BLOCK 1024

size_t kernel_dtype_size(int dtype)
{
    switch (dtype) {
    case KDT_U8: case KDT_I8: case KDT_BOOL: return 1;
    case KDT_F16: case KDT_BF16: case KDT_I16: case KDT_U16: return 2;
    case KDT_F32: case KDT_I32: case KDT_U32: return 4;
    case KDT_F64: case KDT_I64: case KDT_U64: return 8;
    default: return 0;
    }
}

int kernel_op_from_name(const char *name)
{
    static const struct { const char *name; int op; } ops[] = {
        {"add", KOP_ADD}, {"sub", KOP_SUB}, {"mul", KOP_MUL}, {"div", KOP_DIV},
        {"rsub", KOP_RSUB}, {"rdiv", KOP_RDIV}, {"max", KOP_MAX}, {"min", KOP_MIN},
    };
    size_t i;
    for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(name, ops[i].name) == 0)
            return ops[i].op;
    return -1;
}

static int is_float_domain(int dtype)
{
    return dtype == KDT_F32 || dtype == KDT_F16 || dtype == KDT_BF16;
}

static int is_unsigned(int dtype)
{
    return dtype == KDT_U8 || dtype == KDT_U16 || dtype == KDT_U32 || dtype == KDT_U64 ||
           dtype == KDT_BOOL;
}

/* ---- half precision ------------------------------------------------------------------------ */

uint16_t kernel_float_to_half(float f)
{
    uint32_t x, sign, exp, mant, half, rem;
    int32_t e;
    memcpy(&x, &f, sizeof x);
    sign = (x >> 16) & 0x8000u;
    exp = (x >> 23) & 0xffu;
    mant = x & 0x7fffffu;
    if (exp == 0xffu)                                   /* inf, nan (keep it a nan) */
        return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0u));
    e = (int32_t)exp - 127 + 15;
    if (e >= 0x1f)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {                                       /* subnormal half, or zero */
        uint32_t shift, halfway;
        if (e < -10)
            return (uint16_t)sign;
        mant |= 0x800000u;
        shift = (uint32_t)(14 - e);
        half = mant >> shift;
        rem = mant & ((1u << shift) - 1u);
        halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (half & 1u)))
            half++;
        return (uint16_t)(sign | half);
    }
    half = sign | ((uint32_t)e << 10) | (mant >> 13);
    rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1u)))
        half++;                                         /* a carry rounds up to the next binade */
    return (uint16_t)half;
}

float kernel_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t x;
    float f;
    if (exp == 0) {
        if (mant == 0) {
            x = sign;
        } else {
            exp = 127 - 15 + 1;
            while (!(mant & 0x400u)) {
                mant <<= 1;
                exp--;
            }
            x = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 0x1f) {
        x = sign | 0x7f800000u | (mant << 13);
    } else {
        x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    }
    memcpy(&f, &x, sizeof f);
    return f;
}

uint16_t kernel_float_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

float kernel_bf16_to_float(uint16_t h)
{
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

/* ---- conversions into and out of the compute domains --------------------------------------- */

static void load_f32(int dtype, const void *src, size_t n, float *dst)
{
    size_t i;
    if (dtype == KDT_F32) {
        memcpy(dst, src, n * sizeof(float));
    } else if (dtype == KDT_F16) {
        const uint16_t *s = src;
        for (i = 0; i < n; i++) dst[i] = kernel_half_to_float(s[i]);
    } else {
        const uint16_t *s = src;
        for (i = 0; i < n; i++) dst[i] = kernel_bf16_to_float(s[i]);
    }
}

static void store_f32(int dtype, const float *src, size_t n, void *dst)
{
    size_t i;
    if (dtype == KDT_F32) {
        memcpy(dst, src, n * sizeof(float));
    } else if (dtype == KDT_F16) {
        uint16_t *d = dst;
        for (i = 0; i < n; i++) d[i] = kernel_float_to_half(src[i]);
    } else {
        uint16_t *d = dst;
        for (i = 0; i < n; i++) d[i] = kernel_float_to_bf16(src[i]);
    }
}

#define LOAD_LOOP(T, CONV) { const T *s = src; for (i = 0; i < n; i++) dst[i] = CONV(s[i]); } break

static void load_f64(int dtype, const void *src, size_t n, double *dst)
{
    size_t i;
    switch (dtype) {
    case KDT_F32:  LOAD_LOOP(float, (double));
    case KDT_F64:  LOAD_LOOP(double, (double));
    case KDT_F16:  LOAD_LOOP(uint16_t, (double)kernel_half_to_float);
    case KDT_BF16: LOAD_LOOP(uint16_t, (double)kernel_bf16_to_float);
    case KDT_U8:   LOAD_LOOP(uint8_t, (double));
    case KDT_BOOL: LOAD_LOOP(uint8_t, (double));
    case KDT_I8:   LOAD_LOOP(int8_t, (double));
    case KDT_I16:  LOAD_LOOP(int16_t, (double));
    case KDT_U16:  LOAD_LOOP(uint16_t, (double));
    case KDT_I32:  LOAD_LOOP(int32_t, (double));
    case KDT_U32:  LOAD_LOOP(uint32_t, (double));
    case KDT_I64:  LOAD_LOOP(int64_t, (double));
    case KDT_U64:  LOAD_LOOP(uint64_t, (double));
    }
}

static void load_i64(int dtype, const void *src, size_t n, int64_t *dst)
{
    size_t i;
    switch (dtype) {
    case KDT_U8:   LOAD_LOOP(uint8_t, (int64_t));
    case KDT_BOOL: LOAD_LOOP(uint8_t, (int64_t));
    case KDT_I8:   LOAD_LOOP(int8_t, (int64_t));
    case KDT_I16:  LOAD_LOOP(int16_t, (int64_t));
    case KDT_U16:  LOAD_LOOP(uint16_t, (int64_t));
    case KDT_I32:  LOAD_LOOP(int32_t, (int64_t));
    case KDT_U32:  LOAD_LOOP(uint32_t, (int64_t));
    case KDT_I64:  LOAD_LOOP(int64_t, (int64_t));
    case KDT_U64:  LOAD_LOOP(uint64_t, (int64_t));
    }
}

/* Doubles to integers saturate (a C cast of an out-of-range double is undefined); nan gives 0. */
static int64_t sat_i64(double v, double lo, double hi)
{
    if (v != v) return 0;
    if (v <= lo) return (int64_t)lo;
    if (v >= hi) return (int64_t)hi;
    return (int64_t)v;
}

/* 2^63 is the first double above INT64_MAX. */
static int64_t sat_i64_full(double v)
{
    if (v != v) return 0;
    if (v >= 9223372036854775808.0) return INT64_MAX;
    if (v <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)v;
}

static uint64_t sat_u64(double v)
{
    if (v != v || v <= 0.0) return 0;
    if (v >= 18446744073709551616.0) return UINT64_MAX;
    return (uint64_t)v;
}

#define STORE_LOOP(T, CONV) { T *d = dst; for (i = 0; i < n; i++) d[i] = CONV; } break

static void store_f64(int dtype, const double *src, size_t n, void *dst)
{
    size_t i;
    switch (dtype) {
    case KDT_F32:  STORE_LOOP(float, (float)src[i]);
    case KDT_F64:  STORE_LOOP(double, src[i]);
    case KDT_F16:  STORE_LOOP(uint16_t, kernel_float_to_half((float)src[i]));
    case KDT_BF16: STORE_LOOP(uint16_t, kernel_float_to_bf16((float)src[i]));
    case KDT_BOOL: STORE_LOOP(uint8_t, (uint8_t)(src[i] != 0.0));
    case KDT_U8:   STORE_LOOP(uint8_t, (uint8_t)sat_i64(src[i], 0.0, 255.0));
    case KDT_I8:   STORE_LOOP(int8_t, (int8_t)sat_i64(src[i], -128.0, 127.0));
    case KDT_I16:  STORE_LOOP(int16_t, (int16_t)sat_i64(src[i], -32768.0, 32767.0));
    case KDT_U16:  STORE_LOOP(uint16_t, (uint16_t)sat_i64(src[i], 0.0, 65535.0));
    case KDT_I32:  STORE_LOOP(int32_t, (int32_t)sat_i64(src[i], -2147483648.0, 2147483647.0));
    case KDT_U32:  STORE_LOOP(uint32_t, (uint32_t)sat_i64(src[i], 0.0, 4294967295.0));
    case KDT_I64:  STORE_LOOP(int64_t, sat_i64_full(src[i]));
    case KDT_U64:  STORE_LOOP(uint64_t, sat_u64(src[i]));
    }
}

/* Integers narrow by wrapping, as C conversions to unsigned types do. */
static void store_i64(int dtype, const int64_t *src, size_t n, void *dst)
{
    size_t i;
    switch (dtype) {
    case KDT_BOOL: STORE_LOOP(uint8_t, (uint8_t)(src[i] != 0));
    case KDT_U8:   STORE_LOOP(uint8_t, (uint8_t)(uint64_t)src[i]);
    case KDT_I8:   STORE_LOOP(int8_t, (int8_t)(uint8_t)(uint64_t)src[i]);
    case KDT_I16:  STORE_LOOP(int16_t, (int16_t)(uint16_t)(uint64_t)src[i]);
    case KDT_U16:  STORE_LOOP(uint16_t, (uint16_t)(uint64_t)src[i]);
    case KDT_I32:  STORE_LOOP(int32_t, (int32_t)(uint32_t)(uint64_t)src[i]);
    case KDT_U32:  STORE_LOOP(uint32_t, (uint32_t)(uint64_t)src[i]);
    case KDT_I64:  STORE_LOOP(int64_t, src[i]);
    case KDT_U64:  STORE_LOOP(uint64_t, (uint64_t)src[i]);
    }
}

/* ---- the operations in each domain ----------------------------------------------------------- */

#define FLOAT_OPS(NAME, T)                                                                      \
static void NAME##_binary(int op, T *o, const T *a, const T *b, size_t n)                       \
{                                                                                               \
    size_t i;                                                                                   \
    switch (op) {                                                                               \
    case KOP_ADD:  for (i = 0; i < n; i++) o[i] = a[i] + b[i]; break;                           \
    case KOP_SUB:  for (i = 0; i < n; i++) o[i] = a[i] - b[i]; break;                           \
    case KOP_MUL:  for (i = 0; i < n; i++) o[i] = a[i] * b[i]; break;                           \
    case KOP_DIV:  for (i = 0; i < n; i++) o[i] = a[i] / b[i]; break;                           \
    case KOP_RSUB: for (i = 0; i < n; i++) o[i] = b[i] - a[i]; break;                           \
    case KOP_RDIV: for (i = 0; i < n; i++) o[i] = b[i] / a[i]; break;                           \
    case KOP_MAX:  for (i = 0; i < n; i++) o[i] = a[i] > b[i] ? a[i] : b[i]; break;             \
    case KOP_MIN:  for (i = 0; i < n; i++) o[i] = a[i] < b[i] ? a[i] : b[i]; break;             \
    }                                                                                           \
}                                                                                               \
static void NAME##_scalar(int op, T *o, const T *a, T s, size_t n)                              \
{                                                                                               \
    size_t i;                                                                                   \
    switch (op) {                                                                               \
    case KOP_ADD:  for (i = 0; i < n; i++) o[i] = a[i] + s; break;                              \
    case KOP_SUB:  for (i = 0; i < n; i++) o[i] = a[i] - s; break;                              \
    case KOP_MUL:  for (i = 0; i < n; i++) o[i] = a[i] * s; break;                              \
    case KOP_DIV:  for (i = 0; i < n; i++) o[i] = a[i] / s; break;                              \
    case KOP_RSUB: for (i = 0; i < n; i++) o[i] = s - a[i]; break;                              \
    case KOP_RDIV: for (i = 0; i < n; i++) o[i] = s / a[i]; break;                              \
    case KOP_MAX:  for (i = 0; i < n; i++) o[i] = a[i] > s ? a[i] : s; break;                   \
    case KOP_MIN:  for (i = 0; i < n; i++) o[i] = a[i] < s ? a[i] : s; break;                   \
    }                                                                                           \
}

FLOAT_OPS(f32, float)
FLOAT_OPS(f64, double)

static int64_t int_apply(int op, int uns, int64_t a, int64_t b)
{
    uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
    switch (op) {
    case KOP_ADD: return (int64_t)(ua + ub);
    case KOP_SUB: return (int64_t)(ua - ub);
    case KOP_MUL: return (int64_t)(ua * ub);
    case KOP_RSUB: return (int64_t)(ub - ua);
    case KOP_RDIV: return int_apply(KOP_DIV, uns, b, a);
    case KOP_DIV:
        if (b == 0) return 0;
        if (uns) return (int64_t)(ua / ub);
        if (a == INT64_MIN && b == -1) return INT64_MIN;
        return a / b;
    case KOP_MAX: return uns ? (ua > ub ? a : b) : (a > b ? a : b);
    case KOP_MIN: return uns ? (ua < ub ? a : b) : (a < b ? a : b);
    }
    return 0;
}

static void i64_binary(int op, int uns, int64_t *o, const int64_t *a, const int64_t *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) o[i] = int_apply(op, uns, a[i], b[i]);
}

static void i64_scalar(int op, int uns, int64_t *o, const int64_t *a, int64_t s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) o[i] = int_apply(op, uns, a[i], s);
}

/* ---- entry points -------------------------------------------------------------------------- */

int kernel_binary(int op, int dtype, void *out, const void *a, const void *b, size_t n)
{
    size_t es = kernel_dtype_size(dtype), done, m;
    if (es == 0 || op < KOP_ADD || op > KOP_MIN)
        return -1;
    if (dtype == KDT_F32) {
        f32_binary(op, out, a, b, n);
    } else if (dtype == KDT_F64) {
        f64_binary(op, out, a, b, n);
    } else if (is_float_domain(dtype)) {
        float ba[BLOCK], bb[BLOCK];
        for (done = 0; done < n; done += m) {
            m = n - done < BLOCK ? n - done : BLOCK;
            load_f32(dtype, (const char *)a + done * es, m, ba);
            load_f32(dtype, (const char *)b + done * es, m, bb);
            f32_binary(op, ba, ba, bb, m);
            store_f32(dtype, ba, m, (char *)out + done * es);
        }
    } else {
        int64_t ba[BLOCK], bb[BLOCK];
        for (done = 0; done < n; done += m) {
            m = n - done < BLOCK ? n - done : BLOCK;
            load_i64(dtype, (const char *)a + done * es, m, ba);
            load_i64(dtype, (const char *)b + done * es, m, bb);
            i64_binary(op, is_unsigned(dtype), ba, ba, bb, m);
            store_i64(dtype, ba, m, (char *)out + done * es);
        }
    }
    return 0;
}

int kernel_scalar(int op, int dtype, void *out, const void *a, double s, size_t n)
{
    size_t es = kernel_dtype_size(dtype), done, m;
    if (es == 0 || op < KOP_ADD || op > KOP_MIN)
        return -1;
    if (dtype == KDT_F32) {
        f32_scalar(op, out, a, (float)s, n);
    } else if (dtype == KDT_F64) {
        f64_scalar(op, out, a, s, n);
    } else if (is_float_domain(dtype)) {
        float buf[BLOCK];
        for (done = 0; done < n; done += m) {
            m = n - done < BLOCK ? n - done : BLOCK;
            load_f32(dtype, (const char *)a + done * es, m, buf);
            f32_scalar(op, buf, buf, (float)s, m);
            store_f32(dtype, buf, m, (char *)out + done * es);
        }
    } else if (s == floor(s) && s >= -9223372036854775808.0 && s < 9223372036854775808.0) {
        int64_t buf[BLOCK];
        int64_t is = (int64_t)s;
        for (done = 0; done < n; done += m) {
            m = n - done < BLOCK ? n - done : BLOCK;
            load_i64(dtype, (const char *)a + done * es, m, buf);
            i64_scalar(op, is_unsigned(dtype), buf, buf, is, m);
            store_i64(dtype, buf, m, (char *)out + done * es);
        }
    } else {
        /* An integer array with a fractional (or huge) scalar: compute in double, then saturate. */
        double buf[BLOCK];
        for (done = 0; done < n; done += m) {
            m = n - done < BLOCK ? n - done : BLOCK;
            load_f64(dtype, (const char *)a + done * es, m, buf);
            f64_scalar(op, buf, buf, s, m);
            store_f64(dtype, buf, m, (char *)out + done * es);
        }
    }
    return 0;
}

int kernel_fill(int dtype, void *out, double v, size_t n)
{
    size_t es = kernel_dtype_size(dtype), filled;
    unsigned char one[8];
    if (es == 0)
        return -1;
    if (n == 0)
        return 0;
    store_f64(dtype, &v, 1, one);
    if (es == 1) {
        memset(out, one[0], n);
        return 0;
    }
    memcpy(out, one, es);
    for (filled = 1; filled < n; filled *= 2) {
        size_t m = filled <= n - filled ? filled : n - filled;
        memcpy((char *)out + filled * es, out, m * es);
    }
    return 0;
}

int kernel_cast(int dst_dtype, void *dst, int src_dtype, const void *src, size_t n)
{
    size_t des = kernel_dtype_size(dst_dtype), ses = kernel_dtype_size(src_dtype), done, m;
    int src_int = !is_float_domain(src_dtype) && src_dtype != KDT_F64;
    int dst_int = !is_float_domain(dst_dtype) && dst_dtype != KDT_F64;
    if (des == 0 || ses == 0)
        return -1;
    if (dst_dtype == src_dtype) {
        memmove(dst, src, n * des);
    } else if (src_int && dst_int) {
        int64_t buf[BLOCK];
        for (done = 0; done < n; done += m) {
            m = n - done < BLOCK ? n - done : BLOCK;
            load_i64(src_dtype, (const char *)src + done * ses, m, buf);
            store_i64(dst_dtype, buf, m, (char *)dst + done * des);
        }
    } else {
        double buf[BLOCK];
        for (done = 0; done < n; done += m) {
            m = n - done < BLOCK ? n - done : BLOCK;
            load_f64(src_dtype, (const char *)src + done * ses, m, buf);
            store_f64(dst_dtype, buf, m, (char *)dst + done * des);
        }
    }
    return 0;
}
