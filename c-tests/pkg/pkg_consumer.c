/* A program built against an installed mxkv with nothing but `pkg-config --cflags --libs mxkv`
 * (or `--static`). It checks the version macros against the library, sums pushes from three
 * devices through a C updater, pulls into two outputs and checks an error message.
 * Built once with <mxkv.h> and once with <mxnet/c_api.h> (-DUSE_MXNET_HEADER). */
#ifdef USE_MXNET_HEADER
#include <mxnet/c_api.h>
#else
#include <mxkv.h>
#endif
#include <stdio.h>
#include <string.h>

#define CHECK(call)                                                                          \
    do {                                                                                     \
        if ((call) != 0) {                                                                   \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call,             \
                    MXGetLastError());                                                       \
            return 1;                                                                        \
        }                                                                                    \
    } while (0)

#define EXPECT(cond)                                                                         \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);              \
            return 1;                                                                        \
        }                                                                                    \
    } while (0)

enum { N = 6 };

/* local += 2 * recv; the updater owns both handles. */
static void add_twice(int key, NDArrayHandle recv, NDArrayHandle local, void *calls) {
    float *r = NULL, *l = NULL;
    if (key == 7 && MXNDArrayGetData(recv, (void **)&r) == 0 &&
        MXNDArrayGetData(local, (void **)&l) == 0) {
        for (int i = 0; i < N; i++) l[i] += 2.0f * r[i];
        ++*(int *)calls;
    }
    MXNDArrayFree(recv);
    MXNDArrayFree(local);
}

static int filled(const uint32_t *shape, int dev_id, float value, NDArrayHandle *out) {
    float data[N];
    for (int i = 0; i < N; i++) data[i] = value;
    CHECK(MXNDArrayCreateEx(shape, 2, 1, dev_id, 0, 0, out));
    CHECK(MXNDArraySyncCopyFromCPU(*out, data, N));
    return 0;
}

int main(void) {
    int version = 0, api = 0, calls = 0;
    CHECK(MXKVGetVersion(&version));
    EXPECT(version == MXKV_VERSION_MAJOR * 10000 + MXKV_VERSION_MINOR * 100 + MXKV_VERSION_PATCH);
    CHECK(MXGetVersion(&api));
    EXPECT(api == 10901);

    const uint32_t shape[2] = {2, 3};
    KVStoreHandle kv = NULL;
    CHECK(MXKVStoreCreate("local", &kv));
    NDArrayHandle init = NULL, grads[3] = {NULL, NULL, NULL}, outs[2] = {NULL, NULL};
    if (filled(shape, 0, 1.0f, &init)) return 1;
    int key = 7;
    CHECK(MXKVStoreInit(kv, 1, &key, &init));
    CHECK(MXKVStoreSetUpdater(kv, add_twice, &calls));
    for (int d = 0; d < 3; d++)
        if (filled(shape, d, (float)(d + 1), &grads[d])) return 1;
    int keys3[3] = {7, 7, 7};
    CHECK(MXKVStorePush(kv, 3, keys3, grads, 0));
    EXPECT(calls == 1);
    for (int d = 0; d < 2; d++)
        if (filled(shape, d, -1.0f, &outs[d])) return 1;
    int keys2[2] = {7, 7};
    CHECK(MXKVStorePull(kv, 2, keys2, outs, 0));
    for (int d = 0; d < 2; d++) {
        float got[N];
        CHECK(MXNDArraySyncCopyToCPU(outs[d], got, N));
        for (int i = 0; i < N; i++) EXPECT(got[i] == 13.0f); /* 1 + 2 * (1 + 2 + 3) */
    }

    EXPECT(MXKVStoreInit(kv, 1, &key, &init) == -1);
    EXPECT(strncmp(MXGetLastError(), "MXNetError: ", 12) == 0);
    EXPECT(strstr(MXGetLastError(), "duplicate init of key 7") != NULL);

    CHECK(MXNDArrayFree(init));
    for (int d = 0; d < 3; d++) CHECK(MXNDArrayFree(grads[d]));
    for (int d = 0; d < 2; d++) CHECK(MXNDArrayFree(outs[d]));
    CHECK(MXKVStoreFree(kv));
    printf("mxkv %d.%d.%d: pushed 3 devices, pulled 13 into 2 outputs\n", MXKV_VERSION_MAJOR,
           MXKV_VERSION_MINOR, MXKV_VERSION_PATCH);
    return 0;
}
