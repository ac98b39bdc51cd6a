/* Element-wise loops behind AI::MXNet::NDArray's arithmetic.
 *
 * They work on the raw memory that MXNDArrayGetData gives (the contract lets callers read and
 * write through it), so Perl never loops over elements. Codes are MXNet's dtype codes
 * (reference §2.1). */
#ifndef MXKV_PERL_KERNEL_H
#define MXKV_PERL_KERNEL_H

#include <stddef.h>
#include <stdint.h>

enum kernel_op {
    KOP_ADD,
    KOP_SUB,
    KOP_MUL,
    KOP_DIV,
    KOP_RSUB,   /* b - a  (scalar on the left) */
    KOP_RDIV,   /* b / a */
    KOP_MAX,
    KOP_MIN
};

enum kernel_dtype {
    KDT_F32 = 0, KDT_F64 = 1, KDT_F16 = 2, KDT_U8 = 3, KDT_I32 = 4, KDT_I8 = 5, KDT_I64 = 6,
    KDT_BOOL = 7, KDT_I16 = 8, KDT_U16 = 9, KDT_U32 = 10, KDT_U64 = 11, KDT_BF16 = 12
};

/* Bytes per element, 0 for an unknown code. */
size_t kernel_dtype_size(int dtype);

/* Operation name ("add", "sub", ...) to enum kernel_op, -1 when unknown. */
int kernel_op_from_name(const char *name);

/* out[i] = a[i] op b[i]; all three of one dtype; out may be a or b. 0 on success, -1 on a bad code. */
int kernel_binary(int op, int dtype, void *out, const void *a, const void *b, size_t n);

/* out[i] = a[i] op s (KOP_RSUB/KOP_RDIV: s op a[i]); out may be a. */
int kernel_scalar(int op, int dtype, void *out, const void *a, double s, size_t n);

/* out[i] = v converted to dtype. */
int kernel_fill(int dtype, void *out, double v, size_t n);

/* dst[i] = src[i] converted from src_dtype to dst_dtype. */
int kernel_cast(int dst_dtype, void *dst, int src_dtype, const void *src, size_t n);

uint16_t kernel_float_to_half(float f);
float kernel_half_to_float(uint16_t h);
uint16_t kernel_float_to_bf16(float f);
float kernel_bf16_to_float(uint16_t h);

#endif
