/*
 * instructions.c — the store's call overhead in instructions, for callgrind (benches/
 * instructions.sh runs it): wall-clock figures move with the load of a shared machine,
 * instruction counts do not, so a change to the push/pull path can be compared with an
 * older build exactly.
 *
 * Cases (float32, a "local" store):
 *   small      one key of 1000 elements: MXKVStorePush of one value, MXKVStorePull into one
 *              output (bench.c's "small" row).
 *   keys1000   1000 keys of 1000 elements: one MXKVStorePush of the 1000 keys, one
 *              MXKVStorePull of them (bench.c's "keys1000" row).
 *   updater    small with bench.c's trivial C updater set (wait for recv and local, add
 *              recv into local over the raw data, free both handles): bench.c's
 *              "small+updater" row.
 *
 * Usage:  instructions small|keys1000|updater ITERATIONS
 * Runs ITERATIONS push+pull pairs after the setup; the script runs it twice with different
 * counts, so that the difference divided by the extra iterations is the cost of one pair.
 * The data move through memcpy: 800 of a small pair's instructions (two copies of 4000
 * bytes) are that, whatever the library.
 * Exit status: 0, or 1 if a call fails or a pulled value is wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mxkv.h>

enum { N = 1000, MANY = 1000 };

static int updater_failed;

/* local[i] += recv[i], then frees both handles, as bench.c's updater does. */
static void add_update(int key, NDArrayHandle recv, NDArrayHandle local, void *handle)
{
    float *r = NULL, *l = NULL;
    int i;
    (void)key;
    (void)handle;
    if (MXNDArrayWaitToRead(recv) != 0 || MXNDArrayWaitToRead(local) != 0 ||
        MXNDArrayGetData(recv, (void **)&r) != 0 || MXNDArrayGetData(local, (void **)&l) != 0 ||
        r == NULL || l == NULL)
        updater_failed = 1;
    else
        for (i = 0; i < N; i++)
            l[i] += r[i];
    if (MXNDArrayFree(recv) != 0 || MXNDArrayFree(local) != 0)
        updater_failed = 1;
}

#define CHECK(call)                                                                        \
    do {                                                                                   \
        if ((call) != 0) {                                                                 \
            fprintf(stderr, "instructions: %s failed: %s\n", #call, MXGetLastError());     \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

static NDArrayHandle filled(float value)
{
    uint32_t shape[1] = {N};
    NDArrayHandle h;
    float data[N];
    int i;
    CHECK(MXNDArrayCreateEx(shape, 1, 1, 0, 0, 0, &h));
    for (i = 0; i < N; i++)
        data[i] = value;
    CHECK(MXNDArraySyncCopyFromCPU(h, data, N));
    return h;
}

int main(int argc, char **argv)
{
    static NDArrayHandle vals[MANY], outs[MANY];
    static int keys[MANY];
    KVStoreHandle kv;
    float got[N];
    long iters, it;
    int count, updating, i;
    float expected;

    if (argc != 3 || (strcmp(argv[1], "small") != 0 && strcmp(argv[1], "keys1000") != 0 &&
                      strcmp(argv[1], "updater") != 0)) {
        fprintf(stderr, "usage: instructions small|keys1000|updater ITERATIONS\n");
        return 1;
    }
    count = strcmp(argv[1], "keys1000") == 0 ? MANY : 1;
    updating = strcmp(argv[1], "updater") == 0;
    iters = atol(argv[2]);
    CHECK(MXKVStoreCreate("local", &kv));
    for (i = 0; i < count; i++) {
        keys[i] = i;
        vals[i] = filled((float)(i + 1));
        outs[i] = filled(0.0f);
    }
    CHECK(MXKVStoreInit(kv, (mx_uint)count, keys, vals));
    if (updating)
        CHECK(MXKVStoreSetUpdater(kv, add_update, NULL));
    for (it = 0; it < iters; it++) {
        CHECK(MXKVStorePush(kv, (mx_uint)count, keys, vals, 0));
        CHECK(MXKVStorePull(kv, (mx_uint)count, keys, outs, 0));
    }
    CHECK(MXNDArraySyncCopyToCPU(outs[count - 1], got, N));
    /* Without an updater the last push is stored; with it, every push was added to 1. */
    expected = updating ? (float)(1 + iters) : (float)count;
    if (updater_failed || (iters > 0 && (got[0] != expected || got[N - 1] != expected))) {
        fprintf(stderr, "instructions: pulled %g, expected %g (updater failed: %d)\n", got[0],
                expected, updater_failed);
        return 1;
    }
    for (i = 0; i < count; i++) {
        CHECK(MXNDArrayFree(vals[i]));
        CHECK(MXNDArrayFree(outs[i]));
    }
    CHECK(MXKVStoreFree(kv));
    return 0;
}
