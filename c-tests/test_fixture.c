/*
 * MXNet binary compatibility (reference §2.2): .params files written by MXNet 1.9.1's
 * mx.nd.save (c-tests/fixtures, made by fixtures/make_fixture.py) load with every value
 * intact, and saving the same arrays gives the same bytes.
 */
#include "util.h"

#include <math.h>

#ifndef MXKV_FIXTURE_DIR
#define MXKV_FIXTURE_DIR "c-tests/fixtures"
#endif
#ifndef MXKV_BUILD_DIR
#define MXKV_BUILD_DIR "build/c-tests"
#endif

#define MAX_ARRAYS 16
#define MAX_ELEMS 64

/* One array of an .expected file. */
typedef struct {
    char name[64];
    int dtype;
    int ndim;
    int64_t shape[8];
    size_t size;
    char values[MAX_ELEMS][32];
} Expected;

static int read_expected(const char *file, Expected *out) {
    char path[512], line[8192];
    FILE *f;
    int count = 0;
    snprintf(path, sizeof path, "%s/%s", MXKV_FIXTURE_DIR, file);
    f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return 0;
    while (count < MAX_ARRAYS && fgets(line, sizeof line, f)) {
        Expected *e = &out[count];
        char *tok = strtok(line, " \n");
        int i;
        if (!tok) continue;
        snprintf(e->name, sizeof e->name, "%s", tok);
        e->dtype = atoi(strtok(NULL, " \n"));
        e->ndim = atoi(strtok(NULL, " \n"));
        e->size = 1;
        for (i = 0; i < e->ndim; i++) {
            e->shape[i] = atoll(strtok(NULL, " \n"));
            e->size *= (size_t)e->shape[i];
        }
        for (i = 0; i < (int)e->size && i < MAX_ELEMS; i++)
            snprintf(e->values[i], sizeof e->values[i], "%s", strtok(NULL, " \n"));
        count++;
    }
    fclose(f);
    return count;
}

/* Element i of a raw buffer of dtype, as a double (floats) or via int64 (integers). */
static int element_matches(const void *data, int dtype, size_t i, const char *text) {
    double want = strtod(text, NULL);
    long long want_int = strtoll(text, NULL, 10);
    switch (dtype) {
    case DT_F32: {
        float v = ((const float *)data)[i];
        return (double)v == want && !signbit(v) == !signbit(want);
    }
    case DT_F64: {
        double v = ((const double *)data)[i];
        return v == want && !signbit(v) == !signbit(want);
    }
    case DT_F16: return (double)f16_to_f32(((const uint16_t *)data)[i]) == want;
    case DT_U8: return ((const uint8_t *)data)[i] == want_int;
    case DT_I32: return ((const int32_t *)data)[i] == want_int;
    case DT_I8: return ((const int8_t *)data)[i] == want_int;
    case DT_I64: return ((const int64_t *)data)[i] == want_int;
    default: return 0;
    }
}

/* Check one handle against its expected shape, dtype, values and (when check_context)
 * context cpu(0), where MXNet's Load puts every array. */
static void check_array_ctx(NDArrayHandle h, const Expected *e, int check_context) {
    int ndim = -1, dtype = -1, dev_type = -1, dev_id = -1, stype = -9, i;
    const int64_t *shape = NULL;
    void *buf;
    CHECK_OK(MXNDArrayGetShapeEx64(h, &ndim, &shape));
    CHECK_EQ_INT(ndim, e->ndim);
    for (i = 0; shape && i < ndim && i < e->ndim; i++) CHECK_EQ_INT(shape[i], e->shape[i]);
    CHECK_OK(MXNDArrayGetDType(h, &dtype));
    CHECK_EQ_INT(dtype, e->dtype);
    CHECK_OK(MXNDArrayGetContext(h, &dev_type, &dev_id));
    if (check_context) {
        CHECK_EQ_INT(dev_type, 1);
        CHECK_EQ_INT(dev_id, 0);
    }
    CHECK_OK(MXNDArrayGetStorageType(h, &stype));
    CHECK_EQ_INT(stype, 0);
    if (dtype != e->dtype || e->dtype < 0 || e->dtype > 12) return;
    buf = malloc(e->size * dtype_size(e->dtype) + 1);
    CHECK_OK(MXNDArraySyncCopyToCPU(h, buf, e->size));
    for (i = 0; i < (int)e->size; i++) {
        if (!element_matches(buf, e->dtype, (size_t)i, e->values[i])) {
            fprintf(stderr, "    array %s element %d: expected %s\n", e->name, i, e->values[i]);
            CHECK(!"element value as saved by MXNet");
            break;
        }
    }
    CHECK(i == (int)e->size);
    free(buf);
}

static void check_array(NDArrayHandle h, const Expected *e) { check_array_ctx(h, e, 1); }

/* A freshly created array on (dev_type, dev_id) holding the expected values. */
static NDArrayHandle make_array_on(const Expected *e, int dev_type, int dev_id) {
    NDArrayHandle h = NULL;
    size_t es = dtype_size(e->dtype), i;
    unsigned char *buf = (unsigned char *)malloc(e->size * es);
    for (i = 0; i < e->size; i++) {
        double d = strtod(e->values[i], NULL);
        long long n = strtoll(e->values[i], NULL, 10);
        unsigned char *p = buf + i * es;
        switch (e->dtype) {
        case DT_F32: { float v = (float)d; memcpy(p, &v, 4); break; }
        case DT_F64: memcpy(p, &d, 8); break;
        case DT_F16: { uint16_t v = f32_to_f16((float)d); memcpy(p, &v, 2); break; }
        case DT_U8: *p = (unsigned char)n; break;
        case DT_I32: { int32_t v = (int32_t)n; memcpy(p, &v, 4); break; }
        case DT_I8: { int8_t v = (int8_t)n; memcpy(p, &v, 1); break; }
        case DT_I64: { int64_t v = (int64_t)n; memcpy(p, &v, 8); break; }
        default: break;
        }
    }
    CHECK_OK(MXNDArrayCreateEx64(e->shape, e->ndim, dev_type, dev_id, 0, e->dtype, &h));
    CHECK_OK(MXNDArraySyncCopyFromCPU(h, buf, e->size));
    free(buf);
    return h;
}

static NDArrayHandle make_array(const Expected *e) { return make_array_on(e, 1, 0); }

static void fixture_path(char *out, size_t n, const char *file) {
    snprintf(out, n, "%s/%s", MXKV_FIXTURE_DIR, file);
}

static void build_path(char *out, size_t n, const char *file) {
    snprintf(out, n, "%s/%s", MXKV_BUILD_DIR, file);
}

static void test_load_named(void) {
    Expected e[MAX_ARRAYS];
    int count = read_expected("named.expected", e), i;
    char path[512];
    mx_uint n = 0, n_names = 0;
    NDArrayHandle *arrs = NULL, kept[MAX_ARRAYS];
    const char **names = NULL;
    CHECK_EQ_INT(count, 7);
    fixture_path(path, sizeof path, "named.params");
    CHECK_OK(MXNDArrayLoad(path, &n, &arrs, &n_names, &names));
    CHECK_EQ_INT(n, count);
    CHECK_EQ_INT(n_names, count);
    if ((int)n != count || (int)n_names != count) return;
    /* Both lists live in per-thread buffers: read them before any other call. */
    for (i = 0; i < count; i++) {
        CHECK_STR_EQ(names[i], e[i].name);
        kept[i] = arrs[i];
    }
    for (i = 0; i < count; i++) check_array(kept[i], &e[i]);
    for (i = 0; i < count; i++) CHECK_OK(MXNDArrayFree(kept[i]));
}

static void test_save_named_same_bytes(void) {
    Expected e[MAX_ARRAYS];
    int count = read_expected("named.expected", e), i;
    char in[512], out[512], out2[512];
    mx_uint n = 0, n_names = 0;
    NDArrayHandle *loaded = NULL, made[MAX_ARRAYS], kept[MAX_ARRAYS];
    const char **names = NULL, *keys[MAX_ARRAYS];
    fixture_path(in, sizeof in, "named.params");
    build_path(out, sizeof out, "fixture_named_resaved.params");
    build_path(out2, sizeof out2, "fixture_named_made.params");
    CHECK_OK(MXNDArrayLoad(in, &n, &loaded, &n_names, &names));
    CHECK_EQ_INT(n, count);
    if ((int)n != count) return;
    /* Copy the handle list and names out of the thread-local buffers before the next call. */
    for (i = 0; i < count; i++) {
        kept[i] = loaded[i];
        keys[i] = e[i].name;
    }
    CHECK_OK(MXNDArraySave(out, (mx_uint)count, kept, keys));
    CHECK(same_file_bytes(in, out));
    /* Arrays made from scratch with the same values give the same file. */
    for (i = 0; i < count; i++) made[i] = make_array(&e[i]);
    CHECK_OK(MXNDArraySave(out2, (mx_uint)count, made, keys));
    CHECK(same_file_bytes(in, out2));
    for (i = 0; i < count; i++) {
        CHECK_OK(MXNDArrayFree(kept[i]));
        CHECK_OK(MXNDArrayFree(made[i]));
    }
}

static void test_unnamed_list(void) {
    Expected e[MAX_ARRAYS];
    int count = read_expected("unnamed.expected", e), i;
    char in[512], out[512];
    mx_uint n = 0, n_names = 99;
    NDArrayHandle *loaded = NULL, kept[MAX_ARRAYS];
    const char **names = NULL;
    CHECK_EQ_INT(count, 2);
    fixture_path(in, sizeof in, "unnamed.params");
    build_path(out, sizeof out, "fixture_unnamed_resaved.params");
    CHECK_OK(MXNDArrayLoad(in, &n, &loaded, &n_names, &names));
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(n_names, 0);
    if (n != 2) return;
    for (i = 0; i < 2; i++) {
        kept[i] = loaded[i];
        check_array(kept[i], &e[i]);
    }
    /* keys == NULL saves no names, as mx.nd.save of a list does. */
    CHECK_OK(MXNDArraySave(out, 2, kept, NULL));
    CHECK(same_file_bytes(in, out));
    for (i = 0; i < 2; i++) CHECK_OK(MXNDArrayFree(kept[i]));
}

/* SaveRawBytes is one array's record: the body of a one-array, unnamed file, i.e. the
 * file minus its 24-byte header (magic, reserved, count) and 8-byte name count. */
static void test_raw_bytes_match_single_file(void) {
    Expected e[MAX_ARRAYS];
    int count = read_expected("single.expected", e);
    char in[512];
    size_t len = 0, raw_len = 0;
    unsigned char *file;
    const char *raw = NULL;
    NDArrayHandle made, back = NULL;
    CHECK_EQ_INT(count, 1);
    fixture_path(in, sizeof in, "single.params");
    file = read_file(in, &len);
    CHECK(file != NULL && len == 96);
    if (!file || len < 32) return;
    made = make_array(&e[0]);
    CHECK_OK(MXNDArraySaveRawBytes(made, &raw_len, &raw));
    CHECK_EQ_INT(raw_len, len - 32);
    CHECK(raw != NULL && raw_len == len - 32 && memcmp(raw, file + 24, raw_len) == 0);
    /* And the file's body loads as raw bytes. */
    CHECK_OK(MXNDArrayLoadFromRawBytes(file + 24, len - 32, &back));
    if (back) check_array(back, &e[0]);
    CHECK_OK(MXNDArrayFree(made));
    if (back) CHECK_OK(MXNDArrayFree(back));
    free(file);
}

/* The file header is MXNet's: 0x112, 0, count (little-endian u64). */
static void test_file_header(void) {
    char out[512];
    size_t len = 0;
    unsigned char *file;
    mx_uint shape[1] = {2};
    NDArrayHandle h = arr_new(shape, 1, DT_F32);
    const char *name = "x";
    static const unsigned char head[24] = {0x12, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                           0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    static const unsigned char magic_v2[4] = {0xc9, 0xfa, 0x93, 0xf9};
    build_path(out, sizeof out, "fixture_header.params");
    CHECK_OK(MXNDArraySyncCopyFromCPU(h, (float[2]){1, 2}, 2));
    CHECK_OK(MXNDArraySave(out, 1, &h, &name));
    file = read_file(out, &len);
    /* 24 header + 4 magic + 4 stype + 4 ndim + 8 dim + 8 context + 4 dtype + 8 data
     * + 8 name count + 8 name length + 1 name */
    CHECK_EQ_INT(len, 24 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + 8 + 8 + 1);
    CHECK(file && len > 28 && memcmp(file, head, 24) == 0 && memcmp(file + 24, magic_v2, 4) == 0);
    free(file);
    CHECK_OK(MXNDArrayFree(h));
}

/* MXNet saves an array's context as it is (here cpu_pinned(1)) and loads it to cpu(0). */
static void test_pinned_context(void) {
    Expected e[MAX_ARRAYS];
    int count = read_expected("pinned.expected", e);
    char in[512], out[512];
    const char *names = "p";
    mx_uint n = 0, nn = 0;
    NDArrayHandle made, *loaded = NULL, back = NULL;
    const char **got_names = NULL;
    CHECK_EQ_INT(count, 1);
    fixture_path(in, sizeof in, "pinned.params");
    build_path(out, sizeof out, "fixture_pinned.params");
    made = make_array_on(&e[0], 3, 1);
    CHECK_OK(MXNDArraySave(out, 1, &made, &names));
    CHECK(same_file_bytes(in, out));
    CHECK_OK(MXNDArrayLoad(in, &n, &loaded, &nn, &got_names));
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(nn, 1);
    if (n == 1 && nn == 1) {
        CHECK_STR_EQ(got_names[0], "p");
        back = loaded[0];
        check_array_ctx(back, &e[0], 0);
        CHECK_OK(MXNDArrayFree(back));
    }
    CHECK_OK(MXNDArrayFree(made));
}

/* With NumPy shape semantics on, MXNet writes the V3 array magic; such files hold scalars
 * (ndim 0) and zero-size arrays too. */
static void test_load_numpy_shape_file(void) {
    Expected e[MAX_ARRAYS];
    int count = read_expected("numpy.expected", e), i;
    char in[512];
    mx_uint n = 0, nn = 0;
    NDArrayHandle *loaded = NULL, kept[MAX_ARRAYS];
    const char **names = NULL;
    CHECK_EQ_INT(count, 3);
    fixture_path(in, sizeof in, "numpy.params");
    CHECK_OK(MXNDArrayLoad(in, &n, &loaded, &nn, &names));
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(nn, 3);
    if (n != 3 || nn != 3) return;
    for (i = 0; i < 3; i++) {
        CHECK_STR_EQ(names[i], e[i].name);
        kept[i] = loaded[i];
    }
    for (i = 0; i < 3; i++) check_array(kept[i], &e[i]);
    for (i = 0; i < 3; i++) CHECK_OK(MXNDArrayFree(kept[i]));
}

int main(void) {
    RUN(test_load_named);
    RUN(test_save_named_same_bytes);
    RUN(test_unnamed_list);
    RUN(test_raw_bytes_match_single_file);
    RUN(test_file_header);
    RUN(test_pinned_context);
    RUN(test_load_numpy_shape_file);
    return check_summary("test_fixture");
}
