/* A program written for MXNet 1.9.1: compiled with MXNet's own <mxnet/c_api.h> and linked against
 * MXNet's libmxnet.so. c-tests/pkg/run.sh runs the same binary against the real libmxnet.so and
 * then against mxkv installed as libmxnet.so, and requires the same output.
 *
 * It uses only KVStore and NDArray functions, and only behaviour where mxkv keeps MXNet's
 * semantics (spec §3): no pushed array is modified afterwards, no uninitialised key is pushed,
 * and errors are compared by their key phrase, since mxkv's messages omit "Check failed: ...".
 *
 * usage: dropin SAVE.params LOAD.params   (saves its arrays to SAVE, then prints what LOAD holds)
 */
#include <mxnet/c_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                          \
    do {                                                                                     \
        if ((call) != 0) {                                                                   \
            printf("FAILED line %d: %s: %s\n", __LINE__, #call, MXGetLastError());           \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

static const mx_uint shape23[2] = {2, 3};

/* Prints an error's rc, whether the message starts with "MXNetError: " and holds `phrase`. */
static void expect_error(const char *what, int rc, const char *phrase) {
    const char *msg = MXGetLastError();
    printf("%s: rc=%d prefix=%d phrase=%d\n", what, rc, strncmp(msg, "MXNetError: ", 12) == 0,
           strstr(msg, phrase) != NULL);
}

static NDArrayHandle make(const mx_uint *shape, mx_uint ndim, int dev_id, int dtype, const void *data) {
    NDArrayHandle h = NULL;
    size_t n = 1;
    for (mx_uint i = 0; i < ndim; i++) n *= shape[i];
    CHECK(MXNDArrayCreateEx(shape, ndim, 1, dev_id, 0, dtype, &h));
    CHECK(MXNDArraySyncCopyFromCPU(h, data, n));
    return h;
}

static NDArrayHandle filled23(int dev_id, float value) {
    float data[6];
    for (int i = 0; i < 6; i++) data[i] = value;
    return make(shape23, 2, dev_id, 0, data);
}

static NDArrayHandle iota23(int dev_id, float scale) {
    float data[6];
    for (int i = 0; i < 6; i++) data[i] = scale * (float)i;
    return make(shape23, 2, dev_id, 0, data);
}

/* "label: dtype=D shape=(a,b) [v v v ...]" */
static void print_array(const char *label, NDArrayHandle h) {
    int ndim = 0, dtype = -1;
    const int *dims = NULL;
    CHECK(MXNDArrayGetShapeEx(h, &ndim, &dims));
    CHECK(MXNDArrayGetDType(h, &dtype));
    size_t n = 1;
    printf("%s: dtype=%d shape=(", label, dtype);
    for (int i = 0; i < ndim; i++) {
        printf("%s%d", i ? "," : "", dims[i]);
        n *= (size_t)dims[i];
    }
    printf(") [");
    unsigned char *buf = malloc(n * 8 + 1);
    CHECK(MXNDArraySyncCopyToCPU(h, buf, n));
    for (size_t i = 0; i < n; i++) {
        if (i) printf(" ");
        switch (dtype) {
        case 0: printf("%g", (double)((float *)buf)[i]); break;
        case 1: printf("%.17g", ((double *)buf)[i]); break;
        case 2: printf("0x%04x", ((uint16_t *)buf)[i]); break;
        case 3: printf("%u", ((uint8_t *)buf)[i]); break;
        case 4: printf("%d", ((int32_t *)buf)[i]); break;
        case 5: printf("%d", ((int8_t *)buf)[i]); break;
        case 6: printf("%lld", (long long)((int64_t *)buf)[i]); break;
        default: printf("?");
        }
    }
    printf("]\n");
    free(buf);
}

/* local += 2 * recv (float32); owns and frees both handles. */
static void twice_updater(int key, NDArrayHandle recv, NDArrayHandle local, void *tag) {
    float *r = NULL, *l = NULL;
    int ndim = 0;
    const int *dims = NULL;
    CHECK(MXNDArrayWaitToRead(recv));
    CHECK(MXNDArrayWaitToWrite(local));
    CHECK(MXNDArrayGetShapeEx(local, &ndim, &dims));
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)dims[i];
    CHECK(MXNDArrayGetData(recv, (void **)&r));
    CHECK(MXNDArrayGetData(local, (void **)&l));
    for (size_t i = 0; i < n; i++) l[i] += 2.0f * r[i];
    printf("  %s updater: key %d, recv[0]=%g\n", (const char *)tag, key, (double)r[0]);
    CHECK(MXNDArrayFree(recv));
    CHECK(MXNDArrayFree(local));
}

/* local = recv - local, with string keys. */
static void str_updater(const char *key, NDArrayHandle recv, NDArrayHandle local, void *tag) {
    float r[6], l[6];
    CHECK(MXNDArraySyncCopyToCPU(recv, r, 6));
    CHECK(MXNDArraySyncCopyToCPU(local, l, 6));
    for (int i = 0; i < 6; i++) l[i] = r[i] - l[i];
    CHECK(MXNDArraySyncCopyFromCPU(local, l, 6));
    printf("  %s str updater: key %s, recv[0]=%g\n", (const char *)tag, key, (double)r[0]);
    CHECK(MXNDArrayFree(recv));
    CHECK(MXNDArrayFree(local));
}

static void int_keys(void) {
    KVStoreHandle kv = NULL;
    const char *type = NULL;
    int rank = -1, size = -1, dead = -1;
    CHECK(MXKVStoreCreate("Local_Allreduce_CPU", &kv));
    CHECK(MXKVStoreGetType(kv, &type));
    CHECK(MXKVStoreGetRank(kv, &rank));
    CHECK(MXKVStoreGetGroupSize(kv, &size));
    CHECK(MXKVStoreGetNumDeadNode(kv, 0, &dead, 60));
    CHECK(MXKVStoreBarrier(kv));
    CHECK(MXKVStoreSendCommmandToServers(kv, 0, "ignored"));
    printf("store %s rank=%d size=%d dead=%d\n", type, rank, size, dead);

    int keys[3] = {3, 5, 9};
    NDArrayHandle vals[3] = {iota23(0, 1.0f), filled23(0, 1.0f), iota23(0, 10.0f)};
    CHECK(MXKVStoreInit(kv, 3, keys, vals));

    /* four devices push to key 5: the store assigns their sum */
    int k5[4] = {5, 5, 5, 5};
    NDArrayHandle grads[4];
    for (int d = 0; d < 4; d++) grads[d] = filled23(d, (float)(d + 1));
    CHECK(MXKVStorePush(kv, 4, k5, grads, 0));
    NDArrayHandle outs[3] = {filled23(1, 0.0f), filled23(2, 0.0f), filled23(3, 0.0f)};
    CHECK(MXKVStorePull(kv, 2, k5, outs, 0));
    print_array("pull 5 -> cpu(1)", outs[0]);
    print_array("pull 5 -> cpu(2)", outs[1]);
    int k39[2] = {3, 9};
    CHECK(MXKVStorePullWithSparse(kv, 2, k39, outs, -1, true));
    print_array("pull 3", outs[0]);
    print_array("pull 9", outs[1]);

    /* pushpull: 9 gets the sum of two arrays and it lands in a third */
    int k99[2] = {9, 9};
    NDArrayHandle pp[2] = {filled23(0, 0.5f), filled23(1, 0.25f)};
    CHECK(MXKVStorePushPull(kv, 2, k99, 1, k99, pp, &outs[2], 0));
    print_array("pushpull 9", outs[2]);

    /* broadcast: init 11 and pull it into two outputs */
    int k11 = 11, k1111[2] = {11, 11};
    NDArrayHandle b = iota23(0, -1.0f);
    CHECK(MXKVStoreBroadcast(kv, 1, &k11, 2, k1111, &b, outs, 0));
    print_array("broadcast 11 a", outs[0]);
    print_array("broadcast 11 b", outs[1]);

    /* with an updater: once per distinct key, ascending, recv is the sum. (Keys that were
     * assigned a pushed sum are avoided: MXNet then aliases the store with its merge buffer.) */
    CHECK(MXKVStoreSetUpdater(kv, twice_updater, (void *)"int"));
    int kmix[3] = {11, 3, 3}, k311[2] = {3, 11};
    NDArrayHandle g3[3] = {filled23(0, 1.0f), filled23(1, 2.0f), filled23(2, 3.0f)};
    CHECK(MXKVStorePush(kv, 3, kmix, g3, 0));
    CHECK(MXKVStorePull(kv, 2, k311, outs, 0));
    print_array("after updater 3", outs[0]);
    print_array("after updater 11", outs[1]);

    /* errors */
    expect_error("duplicate init", MXKVStoreInit(kv, 1, keys, vals), "duplicate init of key 3");
    int k42 = 42;
    expect_error("pull uninitialised", MXKVStorePull(kv, 1, &k42, outs, 0), "key 42 has not been inited");
    const char *skey = "x";
    expect_error("string key in int store", MXKVStoreInitEx(kv, 1, &skey, vals), "Mixed key types are not allowed");
    const mx_uint shape32[2] = {3, 2};
    NDArrayHandle wrong = NULL;
    CHECK(MXNDArrayCreateEx(shape32, 2, 1, 0, 0, 0, &wrong));
    expect_error("pull shape mismatch", MXKVStorePull(kv, 1, keys, &wrong, 0), "operands shape mismatch");
    float five[5] = {0};
    expect_error("copy size", MXNDArraySyncCopyFromCPU(outs[0], five, 5), "Memory size do not match");
    NDArrayHandle other = NULL;
    expect_error("nccl store", MXKVStoreCreate("nccl", &other), "compile with USE_NCCL=1 to use nccl");

    CHECK(MXNDArrayFree(wrong));
    for (int i = 0; i < 3; i++) CHECK(MXNDArrayFree(vals[i]));
    for (int i = 0; i < 4; i++) CHECK(MXNDArrayFree(grads[i]));
    for (int i = 0; i < 3; i++) CHECK(MXNDArrayFree(outs[i]));
    for (int i = 0; i < 3; i++) CHECK(MXNDArrayFree(g3[i]));
    for (int i = 0; i < 2; i++) CHECK(MXNDArrayFree(pp[i]));
    CHECK(MXNDArrayFree(b));
    CHECK(MXKVStoreFree(kv));
}

static void str_keys(void) {
    KVStoreHandle kv = NULL;
    CHECK(MXKVStoreCreate("local", &kv));
    const char *keys[2] = {"w", "b"};
    NDArrayHandle vals[2] = {iota23(0, 1.0f), filled23(0, 7.0f)};
    CHECK(MXKVStoreInitEx(kv, 2, keys, vals));
    CHECK(MXKVStoreSetUpdaterEx(kv, twice_updater, str_updater, (void *)"ex"));
    const char *push_keys[3] = {"b", "w", "b"};
    NDArrayHandle g[3] = {filled23(0, 1.0f), filled23(1, 10.0f), filled23(2, 2.0f)};
    CHECK(MXKVStorePushEx(kv, 3, push_keys, g, 0));
    NDArrayHandle outs[2] = {filled23(0, 0.0f), filled23(1, 0.0f)};
    CHECK(MXKVStorePullEx(kv, 2, keys, outs, 0));
    print_array("str pull w", outs[0]);
    print_array("str pull b", outs[1]);

    const char *zkey = "z", *zz[2] = {"z", "z"};
    NDArrayHandle zval = filled23(0, 4.0f);
    CHECK(MXKVStoreBroadcastEx(kv, 1, &zkey, 2, zz, &zval, outs, 0));
    print_array("str broadcast z", outs[1]);
    CHECK(MXKVStorePushPullEx(kv, 1, &zkey, 1, &zkey, &zval, &outs[0], 0));
    print_array("str pushpull z", outs[0]);
    CHECK(MXKVStorePullWithSparseEx(kv, 1, keys, outs, 0, false));
    print_array("str pull w again", outs[0]);

    const char *nokey = "nokey";
    expect_error("unknown string key", MXKVStorePushEx(kv, 1, &nokey, g, 0), "key nokey doesn't exist. Did you init?");
    int ikey = 0;
    expect_error("int key in string store", MXKVStorePush(kv, 1, &ikey, g, 0), "Mixed key types are not allowed");
    expect_error("duplicate string init", MXKVStoreInitEx(kv, 1, keys + 1, vals), "duplicate init of key b");

    /* an int-only updater on a string store receives the registration index */
    KVStoreHandle kv2 = NULL;
    CHECK(MXKVStoreCreate("local", &kv2));
    CHECK(MXKVStoreInitEx(kv2, 2, keys, vals));
    CHECK(MXKVStoreSetUpdater(kv2, twice_updater, (void *)"index"));
    CHECK(MXKVStorePushEx(kv2, 3, push_keys, g, 0));
    CHECK(MXKVStorePullEx(kv2, 1, keys + 1, outs, 0));
    print_array("index updater b", outs[0]);

    for (int i = 0; i < 2; i++) CHECK(MXNDArrayFree(vals[i]));
    for (int i = 0; i < 3; i++) CHECK(MXNDArrayFree(g[i]));
    for (int i = 0; i < 2; i++) CHECK(MXNDArrayFree(outs[i]));
    CHECK(MXNDArrayFree(zval));
    CHECK(MXKVStoreFree(kv2));
    CHECK(MXKVStoreFree(kv));
}

static void ndarrays(void) {
    const mx_uint shape34[2] = {3, 4};
    int32_t data[12];
    for (int i = 0; i < 12; i++) data[i] = i;
    NDArrayHandle a = make(shape34, 2, 2, 4, data);
    int dev_type = -1, dev_id = -1, stype = -1, dtype = -1, ndim = 0;
    mx_uint undim = 0;
    const mx_uint *udims = NULL;
    const int64_t *dims64 = NULL;
    CHECK(MXNDArrayGetContext(a, &dev_type, &dev_id));
    CHECK(MXNDArrayGetStorageType(a, &stype));
    CHECK(MXNDArrayGetShape(a, &undim, &udims));
    printf("array ctx=(%d,%d) stype=%d shape=(%u,%u)\n", dev_type, dev_id, stype, udims[0], udims[1]);
    CHECK(MXNDArrayGetShapeEx64(a, &ndim, &dims64));
    printf("shape64=(%lld,%lld)\n", (long long)dims64[0], (long long)dims64[1]);

    NDArrayHandle row = NULL, rows = NULL, reshaped = NULL, reshaped32 = NULL;
    CHECK(MXNDArrayAt(a, 1, &row));
    print_array("at 1", row);
    int32_t neg[4] = {-1, -2, -3, -4};
    CHECK(MXNDArraySyncCopyFromCPU(row, neg, 4));
    CHECK(MXNDArraySlice(a, 1, 3, &rows));
    print_array("slice 1:3 (after writing the row view)", rows);
    dim_t dims[2] = {4, -1};
    CHECK(MXNDArrayReshape64(a, 2, dims, false, &reshaped));
    print_array("reshape (4,-1)", reshaped);
    int dims32[2] = {6, -1};
    CHECK(MXNDArrayReshape(a, 2, dims32, &reshaped32));
    print_array("reshape (6,-1)", reshaped32);
    int32_t *raw = NULL;
    CHECK(MXNDArrayWaitToRead(a));
    CHECK(MXNDArrayGetData(a, (void **)&raw));
    long sum = 0;
    for (int i = 0; i < 12; i++) sum += raw[i];
    printf("sum through GetData=%ld\n", sum);

    NDArrayHandle plain = NULL, none = NULL;
    CHECK(MXNDArrayCreate(shape23, 2, 1, 0, 0, &plain));
    CHECK(MXNDArrayGetDType(plain, &dtype));
    printf("MXNDArrayCreate dtype=%d\n", dtype);
    CHECK(MXNDArrayCreateNone(&none));
    CHECK(MXNDArrayGetDType(none, &dtype));
    CHECK(MXNDArrayGetStorageType(none, &stype));
    printf("none dtype=%d stype=%d\n", dtype, stype);

    CHECK(MXNDArrayFree(none));
    CHECK(MXNDArrayFree(plain));
    CHECK(MXNDArrayFree(reshaped32));
    CHECK(MXNDArrayFree(reshaped));
    CHECK(MXNDArrayFree(rows));
    CHECK(MXNDArrayFree(row));
    CHECK(MXNDArrayFree(a));
}

static void save_and_load(const char *save_path, const char *load_path) {
    const mx_uint s4[1] = {4}, s5[1] = {5}, s3[1] = {3}, s22[2] = {2, 2};
    int64_t i64[4] = {-5, 0, 1LL << 40, 7};
    double f64[4] = {0.1, -2.5, 1e300, 3};
    uint8_t u8[5] = {0, 1, 128, 254, 255};
    uint16_t f16[3] = {0x3c00, 0xc000, 0x3555}; /* 1, -2, ~1/3 */
    NDArrayHandle arrays[5] = {iota23(0, 0.5f), make(s4, 1, 0, 6, i64), make(s22, 2, 0, 1, f64),
                               make(s5, 1, 0, 3, u8), make(s3, 1, 0, 2, f16)};
    const char *names[5] = {"w", "i", "d", "u", "h"};
    CHECK(MXNDArraySave(save_path, 5, arrays, names));

    mx_uint count = 0, name_count = 0;
    NDArrayHandle *loaded = NULL;
    const char **loaded_names = NULL;
    CHECK(MXNDArrayLoad(load_path, &count, &loaded, &name_count, &loaded_names));
    printf("loaded %u arrays, %u names\n", count, name_count);
    NDArrayHandle keep[8];
    char labels[8][32];
    for (mx_uint i = 0; i < count && i < 8; i++) {
        keep[i] = loaded[i];
        snprintf(labels[i], sizeof labels[i], "loaded %s", i < name_count ? loaded_names[i] : "?");
    }
    for (mx_uint i = 0; i < count && i < 8; i++) {
        print_array(labels[i], keep[i]);
        CHECK(MXNDArrayFree(keep[i]));
    }
    for (int i = 0; i < 5; i++) CHECK(MXNDArrayFree(arrays[i]));
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SAVE.params LOAD.params\n", argv[0]);
        return 2;
    }
    int version = 0, worker = -1, server = -1, scheduler = -1;
    CHECK(MXGetVersion(&version));
    CHECK(MXKVStoreIsWorkerNode(&worker));
    CHECK(MXKVStoreIsServerNode(&server));
    CHECK(MXKVStoreIsSchedulerNode(&scheduler));
    printf("version %d worker=%d server=%d scheduler=%d\n", version, worker, server, scheduler);
    int_keys();
    str_keys();
    ndarrays();
    save_and_load(argv[1], argv[2]);
    CHECK(MXNDArrayWaitAll());
    CHECK(MXNotifyShutdown());
    printf("done\n");
    return 0;
}
