/*
 * dist.h — what every distributed test program shares: one program for every role, as
 * with MXNet. Each rank creates the store; server ranks run the server loop (their
 * controller may install an updater), worker ranks run the tests.
 */
#ifndef MXKV_DIST_TEST_H
#define MXKV_DIST_TEST_H

#define _POSIX_C_SOURCE 200809L
#include <time.h>
#include <unistd.h>

#include "../util.h"

/* The server's updater installed by command 0 "times10": local += 10 * recv. */
static inline void times10(int key, NDArrayHandle recv, NDArrayHandle local, void *h) {
    mx_uint ndim = 0;
    const mx_uint *shape = NULL;
    size_t n = 1, i;
    float *r, *l;
    (void)key;
    (void)h;
    MXNDArrayGetShape(recv, &ndim, &shape);
    for (i = 0; i < ndim; i++) n *= shape[i];
    r = (float *)malloc(n * sizeof(float));
    l = (float *)malloc(n * sizeof(float));
    MXNDArraySyncCopyToCPU(recv, r, n);
    MXNDArraySyncCopyToCPU(local, l, n);
    for (i = 0; i < n; i++) l[i] += 10.0f * r[i];
    MXNDArraySyncCopyFromCPU(local, l, n);
    free(r);
    free(l);
    MXNDArrayFree(recv);
    MXNDArrayFree(local);
}

/* The bodies of the controller commands a server received, newline-separated. */
static char server_log[4096];

static inline void controller(int head, const char *body, void *handle) {
    size_t used = strlen(server_log);
    snprintf(server_log + used, sizeof server_log - used, "%d:%s\n", head, body);
    if (head == 0 && strcmp(body, "times10") == 0)
        MXKVStoreSetUpdater(*(KVStoreHandle *)handle, times10, NULL);
}

static inline double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* Creates the store; on a server rank runs the server loop and exits, with status 1
 * unless it returned cleanly and (when `expected_log` is not NULL) the controller got
 * exactly those commands. */
static inline KVStoreHandle dist_start(const char *type, const char *expected_log) {
    KVStoreHandle kv = NULL;
    int server = 0;
    if (MXKVStoreCreate(type, &kv) != 0) {
        fprintf(stderr, "create %s: %s\n", type, MXGetLastError());
        exit(1);
    }
    MXKVStoreIsServerNode(&server);
    if (server) {
        int rc = MXKVStoreRunServer(kv, controller, &kv);
        if (rc != 0) fprintf(stderr, "RunServer: %s\n", MXGetLastError());
        if (MXKVStoreFree(kv) != 0) rc = 1;
        if (expected_log && strcmp(server_log, expected_log) != 0) {
            fprintf(stderr, "server: the controller got \"%s\", expected \"%s\"\n", server_log,
                    expected_log);
            rc = 1;
        }
        exit(rc == 0 ? 0 : 1);
    }
    return kv;
}

static inline int worker_rank(KVStoreHandle kv) {
    int rank = -1;
    CHECK_OK(MXKVStoreGetRank(kv, &rank));
    return rank;
}

#endif /* MXKV_DIST_TEST_H */
