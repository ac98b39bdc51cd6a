/*
 * ab.c — two builds of libmxkv in one process, timed in alternation: the small push+pull
 * (one key of 1000 float32, one value, one output) and the same with bench.c's trivial C
 * updater, for build A and build B. Blocks of a few thousand pairs alternate A, B, B, A …
 * so that both builds see the same load on a shared machine, where two programs run one
 * after the other do not.
 *
 * Each library is loaded with dlopen(RTLD_LOCAL | RTLD_DEEPBIND): each keeps its own
 * registries, and its calls resolve to its own functions.
 *
 * Usage:  ab LIB_A LIB_B [BLOCKS]      (paths of libmxkv.so; BLOCKS per case, default 200)
 * Prints per case and build the median and the 10th percentile of the blocks' ns per pair,
 * and B's median as a ratio of A's.
 * Build:  cc -O2 -std=c99 -Iinclude benches/ab.c -o ab -ldl
 * Exit status: 0, or 1 if a library cannot be loaded, a call fails or a value is wrong.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mxkv.h>

enum { N = 1000, PAIRS = 2000 };

/* The functions used, from one library. */
struct build {
    const char *path;
    const char *(*last_error)(void);
    int (*create_store)(const char *, KVStoreHandle *);
    int (*create_array)(const uint32_t *, uint32_t, int, int, int, int, NDArrayHandle *);
    int (*copy_from)(NDArrayHandle, const void *, size_t);
    int (*copy_to)(NDArrayHandle, void *, size_t);
    int (*get_data)(NDArrayHandle, void **);
    int (*wait_to_read)(NDArrayHandle);
    int (*free_array)(NDArrayHandle);
    int (*init)(KVStoreHandle, uint32_t, const int *, NDArrayHandle *);
    int (*push)(KVStoreHandle, uint32_t, const int *, NDArrayHandle *, int);
    int (*pull)(KVStoreHandle, uint32_t, const int *, NDArrayHandle *, int);
    int (*set_updater)(KVStoreHandle, MXKVStoreUpdater, void *);
    int (*free_store)(KVStoreHandle);
    KVStoreHandle kv[2]; /* plain, with the updater */
    NDArrayHandle val, out;
};

static struct build *failing;

static void check(struct build *b, int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "ab: %s failed in %s: %s\n", what, b->path, b->last_error());
        exit(1);
    }
}

static void *symbol(void *lib, const char *name)
{
    void *f = dlsym(lib, name);
    if (f == NULL) {
        fprintf(stderr, "ab: %s\n", dlerror());
        exit(1);
    }
    return f;
}

/* local[i] += recv[i], then frees both handles (bench.c's updater), in the build it is given. */
static void add_update(int key, NDArrayHandle recv, NDArrayHandle local, void *handle)
{
    struct build *b = handle;
    float *r = NULL, *l = NULL;
    int i;
    (void)key;
    if (b->wait_to_read(recv) != 0 || b->wait_to_read(local) != 0 ||
        b->get_data(recv, (void **)&r) != 0 || b->get_data(local, (void **)&l) != 0)
        failing = b;
    else
        for (i = 0; i < N; i++)
            l[i] += r[i];
    if (b->free_array(recv) != 0 || b->free_array(local) != 0)
        failing = b;
}

static void load(struct build *b, const char *path)
{
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    uint32_t shape = N;
    float ones[N];
    int key = 0, i;
    if (lib == NULL) {
        fprintf(stderr, "ab: %s\n", dlerror());
        exit(1);
    }
    b->path = path;
    *(void **)&b->last_error = symbol(lib, "MXGetLastError");
    *(void **)&b->create_store = symbol(lib, "MXKVStoreCreate");
    *(void **)&b->create_array = symbol(lib, "MXNDArrayCreateEx");
    *(void **)&b->copy_from = symbol(lib, "MXNDArraySyncCopyFromCPU");
    *(void **)&b->copy_to = symbol(lib, "MXNDArraySyncCopyToCPU");
    *(void **)&b->get_data = symbol(lib, "MXNDArrayGetData");
    *(void **)&b->wait_to_read = symbol(lib, "MXNDArrayWaitToRead");
    *(void **)&b->free_array = symbol(lib, "MXNDArrayFree");
    *(void **)&b->init = symbol(lib, "MXKVStoreInit");
    *(void **)&b->push = symbol(lib, "MXKVStorePush");
    *(void **)&b->pull = symbol(lib, "MXKVStorePull");
    *(void **)&b->set_updater = symbol(lib, "MXKVStoreSetUpdater");
    *(void **)&b->free_store = symbol(lib, "MXKVStoreFree");
    for (i = 0; i < N; i++)
        ones[i] = 1.0f;
    check(b, b->create_array(&shape, 1, 1, 0, 0, 0, &b->val), "MXNDArrayCreateEx");
    check(b, b->create_array(&shape, 1, 1, 0, 0, 0, &b->out), "MXNDArrayCreateEx");
    check(b, b->copy_from(b->val, ones, N), "MXNDArraySyncCopyFromCPU");
    for (i = 0; i < 2; i++) {
        check(b, b->create_store("local", &b->kv[i]), "MXKVStoreCreate");
        check(b, b->init(b->kv[i], 1, &key, &b->val), "MXKVStoreInit");
    }
    check(b, b->set_updater(b->kv[1], add_update, b), "MXKVStoreSetUpdater");
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ns per push+pull over one block of PAIRS. */
static double block(struct build *b, int with_updater)
{
    KVStoreHandle kv = b->kv[with_updater];
    int key = 0, i;
    double t0 = now_ns();
    for (i = 0; i < PAIRS; i++) {
        check(b, b->push(kv, 1, &key, &b->val, 0), "MXKVStorePush");
        check(b, b->pull(kv, 1, &key, &b->out, 0), "MXKVStorePull");
    }
    return (now_ns() - t0) / PAIRS;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(double *v, int n, double q)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return v[(int)(q * (n - 1) + 0.5)];
}

int main(int argc, char **argv)
{
    static struct build builds[2];
    static const char *cases[2] = {"small", "small+updater"};
    int blocks = argc > 3 ? atoi(argv[3]) : 200, c, i, k;
    double *t[2];
    float got[N];

    if (argc < 3 || blocks < 1) {
        fprintf(stderr, "usage: ab LIB_A LIB_B [BLOCKS]\n");
        return 1;
    }
    for (k = 0; k < 2; k++) {
        load(&builds[k], argv[1 + k]);
        t[k] = malloc(sizeof(double) * (size_t)blocks);
        if (t[k] == NULL)
            return 1;
    }
    for (c = 0; c < 2; c++) {
        double median[2];
        for (k = 0; k < 2; k++)
            block(&builds[k], c); /* warm-up */
        for (i = 0; i < blocks; i++)
            for (k = 0; k < 2; k++) {
                int which = (i % 2) ? 1 - k : k; /* A B, B A, … */
                t[which][i] = block(&builds[which], c);
            }
        for (k = 0; k < 2; k++) {
            double p10 = quantile(t[k], blocks, 0.1);
            median[k] = quantile(t[k], blocks, 0.5);
            printf("%-14s %s: median %.1f ns, p10 %.1f ns per push+pull\n", cases[c],
                   k ? "B" : "A", median[k], p10);
        }
        printf("%-14s B/A medians: %.3f\n", cases[c], median[1] / median[0]);
    }
    if (failing != NULL) {
        fprintf(stderr, "ab: the updater failed in %s\n", failing->path);
        return 1;
    }
    for (k = 0; k < 2; k++) {
        check(&builds[k], builds[k].copy_to(builds[k].out, got, N), "MXNDArraySyncCopyToCPU");
        if (got[0] < 2.0f || got[N - 1] != got[0]) {
            fprintf(stderr, "ab: %s pulled %g\n", builds[k].path, got[0]);
            return 1;
        }
        for (i = 0; i < 2; i++)
            check(&builds[k], builds[k].free_store(builds[k].kv[i]), "MXKVStoreFree");
        check(&builds[k], builds[k].free_array(builds[k].val), "MXNDArrayFree");
        check(&builds[k], builds[k].free_array(builds[k].out), "MXNDArrayFree");
    }
    return 0;
}
