/*
 * The public headers compile as strict C99 (run.sh: -Wall -Wextra -pedantic -Werror), and
 * every function has exactly MXNet 1.9.1's signature (reference §1.3, §2.2): each is
 * assigned to a pointer of the reference type, which does not compile on any difference.
 */
#include "mxkv.h"
#include <mxnet/c_api.h>

#define SIG(name, ret, ...) static ret (*const sig_##name)(__VA_ARGS__) = name;

SIG(MXGetLastError, const char *, void)
SIG(MXGetVersion, int, int *)
SIG(MXNotifyShutdown, int, void)
SIG(MXKVGetVersion, int, int *)
SIG(MXKVStoreCreate, int, const char *, KVStoreHandle *)
SIG(MXKVStoreSetGradientCompression, int, KVStoreHandle, uint32_t, const char **, const char **)
SIG(MXKVStoreFree, int, KVStoreHandle)
SIG(MXKVStoreInit, int, KVStoreHandle, uint32_t, const int *, NDArrayHandle *)
SIG(MXKVStoreInitEx, int, KVStoreHandle, uint32_t, const char **, NDArrayHandle *)
SIG(MXKVStorePush, int, KVStoreHandle, uint32_t, const int *, NDArrayHandle *, int)
SIG(MXKVStorePushEx, int, KVStoreHandle, uint32_t, const char **, NDArrayHandle *, int)
SIG(MXKVStorePullWithSparse, int, KVStoreHandle, uint32_t, const int *, NDArrayHandle *, int, bool)
SIG(MXKVStorePullWithSparseEx, int, KVStoreHandle, uint32_t, const char **, NDArrayHandle *, int, bool)
SIG(MXKVStorePull, int, KVStoreHandle, uint32_t, const int *, NDArrayHandle *, int)
SIG(MXKVStorePullEx, int, KVStoreHandle, uint32_t, const char **, NDArrayHandle *, int)
SIG(MXKVStoreBroadcast, int, KVStoreHandle, mx_uint, const int *, mx_uint, const int *, NDArrayHandle *,
    NDArrayHandle *, int)
SIG(MXKVStoreBroadcastEx, int, KVStoreHandle, mx_uint, const char **, mx_uint, const char **,
    NDArrayHandle *, NDArrayHandle *, int)
SIG(MXKVStorePushPull, int, KVStoreHandle, mx_uint, const int *, mx_uint, const int *, NDArrayHandle *,
    NDArrayHandle *, int)
SIG(MXKVStorePushPullEx, int, KVStoreHandle, mx_uint, const char **, mx_uint, const char **,
    NDArrayHandle *, NDArrayHandle *, int)
SIG(MXKVStoreSetUpdater, int, KVStoreHandle, MXKVStoreUpdater, void *)
SIG(MXKVStoreSetUpdaterEx, int, KVStoreHandle, MXKVStoreUpdater, MXKVStoreStrUpdater, void *)
SIG(MXKVStoreGetType, int, KVStoreHandle, const char **)
SIG(MXKVStoreGetRank, int, KVStoreHandle, int *)
SIG(MXKVStoreGetGroupSize, int, KVStoreHandle, int *)
SIG(MXKVStoreIsWorkerNode, int, int *)
SIG(MXKVStoreIsServerNode, int, int *)
SIG(MXKVStoreIsSchedulerNode, int, int *)
SIG(MXKVStoreBarrier, int, KVStoreHandle)
SIG(MXKVStoreSetBarrierBeforeExit, int, KVStoreHandle, const int)
SIG(MXKVStoreRunServer, int, KVStoreHandle, MXKVStoreServerController, void *)
SIG(MXKVStoreSendCommmandToServers, int, KVStoreHandle, int, const char *)
SIG(MXKVStoreGetNumDeadNode, int, KVStoreHandle, const int, int *, const int)
SIG(MXNDArrayCreateNone, int, NDArrayHandle *)
SIG(MXNDArrayCreate, int, const uint32_t *, uint32_t, int, int, int, NDArrayHandle *)
SIG(MXNDArrayCreateEx, int, const uint32_t *, uint32_t, int, int, int, int, NDArrayHandle *)
SIG(MXNDArrayCreateEx64, int, const int64_t *, int, int, int, int, int, NDArrayHandle *)
SIG(MXNDArraySyncCopyFromCPU, int, NDArrayHandle, const void *, size_t)
SIG(MXNDArraySyncCopyToCPU, int, NDArrayHandle, void *, size_t)
SIG(MXNDArraySyncCopyFromNDArray, int, NDArrayHandle, const NDArrayHandle, const int)
SIG(MXNDArrayWaitToRead, int, NDArrayHandle)
SIG(MXNDArrayWaitToWrite, int, NDArrayHandle)
SIG(MXNDArrayWaitAll, int, void)
SIG(MXNDArrayFree, int, NDArrayHandle)
SIG(MXNDArrayGetShape, int, NDArrayHandle, uint32_t *, const uint32_t **)
SIG(MXNDArrayGetShapeEx, int, NDArrayHandle, int *, const int **)
SIG(MXNDArrayGetShapeEx64, int, NDArrayHandle, int *, const int64_t **)
SIG(MXNDArrayGetDType, int, NDArrayHandle, int *)
SIG(MXNDArrayGetContext, int, NDArrayHandle, int *, int *)
SIG(MXNDArrayGetData, int, NDArrayHandle, void **)
SIG(MXNDArrayGetStorageType, int, NDArrayHandle, int *)
SIG(MXNDArraySave, int, const char *, uint32_t, NDArrayHandle *, const char **)
SIG(MXNDArrayLoad, int, const char *, uint32_t *, NDArrayHandle **, uint32_t *, const char ***)
SIG(MXNDArraySaveRawBytes, int, NDArrayHandle, size_t *, const char **)
SIG(MXNDArrayLoadFromRawBytes, int, const void *, size_t, NDArrayHandle *)
SIG(MXNDArrayReshape, int, NDArrayHandle, int, int *, NDArrayHandle *)
SIG(MXNDArrayReshape64, int, NDArrayHandle, int, dim_t *, bool, NDArrayHandle *)
SIG(MXNDArraySlice, int, NDArrayHandle, uint32_t, uint32_t, NDArrayHandle *)
SIG(MXNDArraySlice64, int, NDArrayHandle, int64_t, int64_t, NDArrayHandle *)
SIG(MXNDArrayAt, int, NDArrayHandle, uint32_t, NDArrayHandle *)
SIG(MXNDArrayAt64, int, NDArrayHandle, int64_t, NDArrayHandle *)

/* The callback typedefs are plain function pointers with MXNet's parameters. */
static void updater(int key, NDArrayHandle recv, NDArrayHandle local, void *handle) {
    (void)key, (void)recv, (void)local, (void)handle;
}
static void str_updater(const char *key, NDArrayHandle recv, NDArrayHandle local, void *handle) {
    (void)key, (void)recv, (void)local, (void)handle;
}
static void controller(int head, const char *body, void *handle) {
    (void)head, (void)body, (void)handle;
}

int header_check_uses(void);
int header_check_uses(void) {
    MXKVStoreUpdater u = updater;
    MXKVStoreStrUpdater s = str_updater;
    MXKVStoreServerController c = controller;
    mx_float f = 0.0f;
    int version = MXKV_VERSION_MAJOR * 10000 + MXKV_VERSION_MINOR * 100 + MXKV_VERSION_PATCH;
    /* MXNet-style calls: string arrays as const char **, Load's names as const char **. */
    const char *keys[1] = {"k"};
    const char **names = 0;
    NDArrayHandle *arrs = 0;
    mx_uint n = 0, nn = 0;
    KVStoreHandle kv = 0;
    (void)MXKVStorePushEx(kv, 1, keys, arrs, 0);
    (void)MXNDArrayLoad("x", &n, &arrs, &nn, &names);
    (void)u, (void)s, (void)c, (void)f;
    return version + (sig_MXGetLastError != 0) + (sig_MXGetVersion != 0) + (sig_MXNotifyShutdown != 0) +
           (sig_MXKVGetVersion != 0) + (sig_MXKVStoreCreate != 0) +
           (sig_MXKVStoreSetGradientCompression != 0) + (sig_MXKVStoreFree != 0) +
           (sig_MXKVStoreInit != 0) + (sig_MXKVStoreInitEx != 0) + (sig_MXKVStorePush != 0) +
           (sig_MXKVStorePushEx != 0) + (sig_MXKVStorePullWithSparse != 0) +
           (sig_MXKVStorePullWithSparseEx != 0) + (sig_MXKVStorePull != 0) +
           (sig_MXKVStorePullEx != 0) + (sig_MXKVStoreBroadcast != 0) +
           (sig_MXKVStoreBroadcastEx != 0) + (sig_MXKVStorePushPull != 0) +
           (sig_MXKVStorePushPullEx != 0) + (sig_MXKVStoreSetUpdater != 0) +
           (sig_MXKVStoreSetUpdaterEx != 0) + (sig_MXKVStoreGetType != 0) +
           (sig_MXKVStoreGetRank != 0) + (sig_MXKVStoreGetGroupSize != 0) +
           (sig_MXKVStoreIsWorkerNode != 0) + (sig_MXKVStoreIsServerNode != 0) +
           (sig_MXKVStoreIsSchedulerNode != 0) + (sig_MXKVStoreBarrier != 0) +
           (sig_MXKVStoreSetBarrierBeforeExit != 0) + (sig_MXKVStoreRunServer != 0) +
           (sig_MXKVStoreSendCommmandToServers != 0) + (sig_MXKVStoreGetNumDeadNode != 0) +
           (sig_MXNDArrayCreateNone != 0) + (sig_MXNDArrayCreate != 0) +
           (sig_MXNDArrayCreateEx != 0) + (sig_MXNDArrayCreateEx64 != 0) +
           (sig_MXNDArraySyncCopyFromCPU != 0) + (sig_MXNDArraySyncCopyToCPU != 0) +
           (sig_MXNDArraySyncCopyFromNDArray != 0) + (sig_MXNDArrayWaitToRead != 0) +
           (sig_MXNDArrayWaitToWrite != 0) + (sig_MXNDArrayWaitAll != 0) + (sig_MXNDArrayFree != 0) +
           (sig_MXNDArrayGetShape != 0) + (sig_MXNDArrayGetShapeEx != 0) +
           (sig_MXNDArrayGetShapeEx64 != 0) + (sig_MXNDArrayGetDType != 0) +
           (sig_MXNDArrayGetContext != 0) + (sig_MXNDArrayGetData != 0) +
           (sig_MXNDArrayGetStorageType != 0) + (sig_MXNDArraySave != 0) + (sig_MXNDArrayLoad != 0) +
           (sig_MXNDArraySaveRawBytes != 0) + (sig_MXNDArrayLoadFromRawBytes != 0) +
           (sig_MXNDArrayReshape != 0) + (sig_MXNDArrayReshape64 != 0) + (sig_MXNDArraySlice != 0) +
           (sig_MXNDArraySlice64 != 0) + (sig_MXNDArrayAt != 0) + (sig_MXNDArrayAt64 != 0);
}
