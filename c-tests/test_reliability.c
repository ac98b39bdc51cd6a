/*
 * test_reliability.c — situations beyond bad arguments: fork(), thread and process
 * teardown, out of memory, files that are not what they claim, 0-d arrays.
 */
#include "util.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <valgrind/valgrind.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif


/* 1e6 float32 per array: a 2-way sum of them touches 12 MB, enough to use the worker pool. */
#define BIG 1000000

/* A 1-D float32 array of n elements, every one v. */
static NDArrayHandle vec_fill(size_t n, float v) {
    mx_uint shape[1];
    float *vals = (float *)malloc(n * sizeof(float));
    NDArrayHandle h;
    size_t i;
    shape[0] = (mx_uint)n;
    for (i = 0; i < n; i++) vals[i] = v;
    h = arr_new(shape, 1, DT_F32);
    CHECK_OK(MXNDArraySyncCopyFromCPU(h, vals, n));
    free(vals);
    return h;
}

/* Pushes two arrays of `v` to `key` of `kv` and checks a pull gives 2v everywhere. */
static int big_push_pull(KVStoreHandle kv, int key, float v) {
    NDArrayHandle two[2], out = vec_fill(BIG, -1.0f);
    int keys[2] = {key, key}, ok;
    two[0] = vec_fill(BIG, v);
    two[1] = vec_fill(BIG, v);
    ok = MXKVStorePush(kv, 2, keys, two, 0) == 0 && MXKVStorePull(kv, 1, &key, &out, 0) == 0 &&
         arr_all_equal(out, BIG, 2 * v);
    MXNDArrayFree(two[0]);
    MXNDArrayFree(two[1]);
    MXNDArrayFree(out);
    return ok;
}

/* Where a forked child writes its verdict. */
static int verdict_fd = -1;

/* Ends a forked child with its verdict. It is killed rather than exited: a child has its
 * parent's memory but not its threads, and what those threads held looks leaked to the
 * leak checkers (ASan's, valgrind's) that an exit would run. */
static void child_verdict(int ok) {
    char c = ok ? 'y' : 'n';
    if (write(verdict_fd, &c, 1) != 1) _exit(2);
    kill(getpid(), SIGKILL);
}

/* Runs `body` in a child; the child has `seconds` before SIGALRM ends it (a hang fails). */
static int in_child(int (*body)(void *), void *arg, unsigned seconds) {
    int fds[2];
    char c = 0;
    pid_t pid;
    if (pipe(fds) != 0) return 0;
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        verdict_fd = fds[1];
        alarm(seconds);
        child_verdict(body(arg));
    }
    close(fds[1]);
    if (pid < 0 || read(fds[0], &c, 1) != 1) c = 0;
    close(fds[0]);
    if (pid > 0) waitpid(pid, NULL, 0);
    return c == 'y';
}

static int child_uses_the_store(void *kv) { return big_push_pull((KVStoreHandle)kv, 1, 4.0f); }

static int child_uses_a_new_store(void *unused) {
    KVStoreHandle kv;
    mx_uint shape[1] = {BIG};
    NDArrayHandle init;
    int key = 9, ok;
    (void)unused;
    if (MXKVStoreCreate("local", &kv) != 0) return 0;
    init = arr_new(shape, 1, DT_F32);
    ok = MXKVStoreInit(kv, 1, &key, &init) == 0 && big_push_pull(kv, key, 0.5f);
    MXNDArrayFree(init);
    MXKVStoreFree(kv);
    return ok;
}

static void test_fork_after_the_pool_started(void) {
    KVStoreHandle kv;
    mx_uint shape[1] = {BIG};
    NDArrayHandle init = arr_new(shape, 1, DT_F32);
    int key = 1;
    CHECK_OK(MXKVStoreCreate("local", &kv));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &init));
    CHECK(big_push_pull(kv, key, 1.0f)); /* the parent's pool is running now */
    CHECK(in_child(child_uses_the_store, kv, 60));
    CHECK(in_child(child_uses_a_new_store, NULL, 60));
    CHECK(big_push_pull(kv, key, 3.0f)); /* and the parent goes on */
    MXNDArrayFree(init);
    MXKVStoreFree(kv);
}

/* ---- teardown ------------------------------------------------------------------------- */

static pthread_key_t teardown_key;
static NDArrayHandle teardown_array;
static int teardown_results[4] = {-2, -2, -2, -2};

static void at_thread_exit(void *unused) {
    uint32_t ndim = 0;
    const uint32_t *dims = NULL;
    float buf[2];
    (void)unused;
    /* A failing call, shape calls and the error text, while the thread's locals go away:
     * each works or fails cleanly, never aborts. */
    teardown_results[0] = MXNDArraySyncCopyToCPU(NULL, buf, 2);
    teardown_results[1] = MXNDArrayGetShape((NDArrayHandle)teardown_results, &ndim, &dims);
    teardown_results[2] = MXGetLastError() != NULL && strncmp(MXGetLastError(), "MXNetError: ", 12) == 0;
    switch (MXNDArrayGetShape(teardown_array, &ndim, &dims)) {
    case 0: teardown_results[3] = ndim == 1 && dims[0] == 2; break;
    case -1: teardown_results[3] = check_contains_ci(MXGetLastError(), "exiting"); break;
    default: teardown_results[3] = 0;
    }
    MXNDArrayFree(teardown_array);
}

static void *thread_that_sets_a_destructor(void *unused) {
    mx_uint shape[1] = {2};
    uint32_t ndim = 0;
    const uint32_t *dims = NULL;
    float buf[2];
    (void)unused;
    teardown_array = arr_new(shape, 1, DT_F32);
    /* The thread's own state exists before it ends: its destruction comes first. */
    CHECK_OK(MXNDArrayGetShape(teardown_array, &ndim, &dims));
    CHECK_FAIL(MXNDArraySyncCopyToCPU(NULL, buf, 2), "handle");
    pthread_setspecific(teardown_key, &teardown_key);
    return NULL;
}

static void test_calls_from_a_thread_key_destructor(void) {
    pthread_t t;
    CHECK_OK(pthread_key_create(&teardown_key, at_thread_exit));
    CHECK_OK(pthread_create(&t, NULL, thread_that_sets_a_destructor, NULL));
    CHECK_OK(pthread_join(t, NULL));
    CHECK_EQ_INT(teardown_results[0], -1);
    CHECK_EQ_INT(teardown_results[1], -1); /* not a handle */
    CHECK_EQ_INT(teardown_results[2], 1);
    CHECK_EQ_INT(teardown_results[3], 1);
    pthread_key_delete(teardown_key);
}

static NDArrayHandle exit_array;

static void at_process_exit(void) {
    uint32_t ndim = 0;
    const uint32_t *dims = NULL;
    float buf[2];
    child_verdict(MXNDArraySyncCopyToCPU(NULL, buf, 2) == -1 &&
                  strncmp(MXGetLastError(), "MXNetError: ", 12) == 0 &&
                  MXNDArrayGetShape(exit_array, &ndim, &dims) == 0 && ndim == 1 && dims[0] == 3 &&
                  MXNDArrayFree(exit_array) == 0);
}

static int child_calls_at_exit(void *unused) {
    mx_uint shape[1] = {3};
    (void)unused;
    exit_array = arr_new(shape, 1, DT_F32);
    atexit(at_process_exit);
    exit(0); /* the handler gives the verdict */
}

static void test_calls_from_an_atexit_handler(void) {
    CHECK(in_child(child_calls_at_exit, NULL, 60));
}

/* ---- out of memory -------------------------------------------------------------------- */

/* The address space this process uses now, in bytes. */
static size_t address_space(void) {
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1) pages = 0;
        fclose(f);
    }
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* Limits the address space to `room` bytes more than this process uses now; the limit it
 * had goes to `was`. */
static int limit_room(size_t room, struct rlimit *was) {
    struct rlimit lim;
    if (getrlimit(RLIMIT_AS, was) != 0) return 0;
    lim = *was;
    lim.rlim_cur = address_space() + room;
    return setrlimit(RLIMIT_AS, &lim) == 0;
}

#define OOM_ELEMS (64u << 20) /* 256 MiB of float32: more than the heap keeps free */

static int child_runs_out_of_memory(void *unused) {
    mx_uint shape[1] = {OOM_ELEMS};
    NDArrayHandle a = arr_new(shape, 1, DT_F32), lo, hi;
    KVStoreHandle kv;
    struct rlimit lim;
    size_t size = 0;
    const char *buf = NULL;
    int key = 5, ok = 1;
    void *data = NULL;
    (void)unused;
    if (!a || MXKVStoreCreate("local", &kv) != 0 || MXKVStoreInit(kv, 1, &key, &a) != 0) return 0;
    /* 4 MiB of room: less than any of the copies below needs. */
    lim.rlim_cur = lim.rlim_max = address_space() + (4u << 20);
    if (setrlimit(RLIMIT_AS, &lim) != 0) return 0;
#define STEP(cond) if (!(cond)) { fprintf(stderr, "oom child: %s failed (%s)\n", #cond, MXGetLastError()); ok = 0; }
    STEP(MXNDArraySaveRawBytes(a, &size, &buf) == -1);
    STEP(check_contains_ci(MXGetLastError(), "out of memory"));
    /* Two overlapping views of one array: the copy needs a snapshot of its source. */
    STEP(MXNDArraySlice(a, 0, OOM_ELEMS / 2, &lo) == 0);
    STEP(MXNDArraySlice(a, OOM_ELEMS / 4, OOM_ELEMS / 4 * 3, &hi) == 0);
    STEP(MXNDArraySyncCopyFromNDArray(lo, hi, -1) == -1);
    STEP(check_contains_ci(MXGetLastError(), "out of memory"));
    /* A file is written as it is serialised: saving needs no copy of the data. */
    STEP(MXNDArraySave(MXKV_BUILD_DIR "/oom.params", 1, &a, NULL) == 0);
    STEP(MXKVStorePush(kv, 1, &key, &a, 0) == 0); /* nothing was lost: the store works on */
    STEP(MXKVStorePull(kv, 1, &key, &a, 0) == 0);
    STEP(MXNDArrayGetData(hi, &data) == 0 && ((float *)data)[0] == 0.0f);
    return ok;
}

/* Runs `body` in a child that limits its address space. ASan and valgrind both reserve huge
 * address ranges of their own: an RLIMIT_AS cannot be set under them, and the shared and
 * static runs of this program make these checks. */
static int in_limited_child(int (*body)(void *), const char *what) {
    if (UNDER_ASAN || RUNNING_ON_VALGRIND) {
        printf("%s: not applicable under ASan/valgrind\n", what);
        return 1;
    }
    return in_child(body, NULL, 60);
}

static void test_out_of_memory_is_an_error(void) {
    CHECK(in_limited_child(child_runs_out_of_memory, "out-of-memory checks"));
}

/* An updater that adds recv[0] to local[0] (enough to see whether it ran) and, when `keep`
 * is set, keeps its recv handle instead of freeing it. */
struct keeping_updater {
    int calls, keep, n_kept;
    NDArrayHandle kept[4];
};

static void add_first_and_keep(int key, NDArrayHandle recv, NDArrayHandle local, void *handle) {
    struct keeping_updater *u = (struct keeping_updater *)handle;
    void *r = NULL, *l = NULL;
    (void)key;
    u->calls++;
    if (MXNDArrayGetData(recv, &r) == 0 && MXNDArrayGetData(local, &l) == 0)
        ((float *)l)[0] += ((float *)r)[0];
    if (u->keep && u->n_kept < 4)
        u->kept[u->n_kept++] = recv;
    else
        MXNDArrayFree(recv);
    MXNDArrayFree(local);
}

/* 80 MiB of float32 per key: more than a malloc arena's heap (64 MiB) can hold, so a buffer
 * of it needs new address space. */
#define PUSH_OOM_ELEMS (20u << 20)

/* Element 0 of key `key` of `kv`, pulled into `out`. */
static float first_of(KVStoreHandle kv, int key, NDArrayHandle out) {
    void *data = NULL;
    if (MXKVStorePull(kv, 1, &key, &out, 0) != 0 || MXNDArrayGetData(out, &data) != 0) return -1;
    return ((float *)data)[0];
}

static int child_pushes_two_keys_out_of_memory(void *unused) {
    mx_uint shape[1] = {PUSH_OOM_ELEMS};
    NDArrayHandle init[2], grads[2], out = arr_new(shape, 1, DT_F32);
    struct keeping_updater upd = {0, 0, 0, {NULL}};
    KVStoreHandle kv;
    struct rlimit was;
    int keys[2] = {0, 1}, ok = 1, i;
    void *data = NULL;
    (void)unused;
    for (i = 0; i < 2; i++) {
        init[i] = arr_new(shape, 1, DT_F32);
        grads[i] = arr_new(shape, 1, DT_F16); /* a converting push: summed in a buffer */
        if (!init[i] || !grads[i] || MXNDArrayGetData(grads[i], &data) != 0) return 0;
        ((uint16_t *)data)[0] = f32_to_f16(2.0f);
    }
    if (MXKVStoreCreate("local", &kv) != 0 || MXKVStoreInit(kv, 2, keys, init) != 0 ||
        MXKVStoreSetUpdater(kv, add_first_and_keep, &upd) != 0)
        return 0;
    STEP(MXKVStorePush(kv, 1, keys, grads, 0) == 0); /* the store keeps an 80 MiB buffer */
    STEP(first_of(kv, 0, out) == 2.0f);
    /* Room for less than a second buffer: an updater that keeps recv keeps the first. */
    upd.keep = 1;
    if (!limit_room(16u << 20, &was)) return 0;
    STEP(MXKVStorePush(kv, 2, keys, grads, 0) == -1);
    STEP(check_contains_ci(MXGetLastError(), "out of memory"));
    STEP(upd.calls == 1); /* no key was updated */
    STEP(first_of(kv, 0, out) == 2.0f && first_of(kv, 1, out) == 0.0f);
    if (setrlimit(RLIMIT_AS, &was) != 0) return 0;
    STEP(MXKVStorePush(kv, 2, keys, grads, 0) == 0);
    STEP(upd.calls == 3);
    STEP(first_of(kv, 0, out) == 4.0f && first_of(kv, 1, out) == 2.0f);
    return ok;
}

static void test_a_push_out_of_memory_changes_no_key(void) {
    CHECK(in_limited_child(child_pushes_two_keys_out_of_memory, "out-of-memory push"));
}

/* Adam through the store's native optimizer: a key's first update makes its states (mean,
 * var: 160 MiB for an 80 MiB key). With room for one key's states only, a push of two new
 * keys fails whole: no weight moves and the saved states are the same bytes as before. */
static int child_native_optimizer_runs_out_of_memory(void *unused) {
    mx_uint shape[1] = {PUSH_OOM_ELEMS}, small_shape[1] = {4};
    NDArrayHandle init[2], grads[2], small = arr_new(small_shape, 1, DT_F32);
    NDArrayHandle out = arr_new(shape, 1, DT_F32);
    const char *names[2] = {"learning_rate", "wd"}, *vals[2] = {"0.1", "0.01"};
    const char *before = MXKV_BUILD_DIR "/oom-states-before.params";
    const char *after = MXKV_BUILD_DIR "/oom-states-after.params";
    KVStoreHandle kv;
    struct rlimit was;
    int keys[2] = {0, 1}, small_key = 2, ok = 1, i;
    float moved;
    void *data = NULL;
    (void)unused;
    for (i = 0; i < 2; i++) {
        init[i] = arr_new(shape, 1, DT_F32);
        grads[i] = arr_new(shape, 1, DT_F32);
        if (!init[i] || !grads[i] || MXNDArrayGetData(init[i], &data) != 0) return 0;
        ((float *)data)[0] = 1.0f;
        if (MXNDArrayGetData(grads[i], &data) != 0) return 0;
        ((float *)data)[0] = 2.0f;
    }
    if (MXKVStoreCreate("local", &kv) != 0 || MXKVStoreSetOptimizer(kv, "adam", 2, names, vals) != 0 ||
        MXKVStoreInit(kv, 2, keys, init) != 0 || MXKVStoreInit(kv, 1, &small_key, &small) != 0)
        return 0;
    STEP(MXKVStorePush(kv, 1, &small_key, &small, 0) == 0); /* key 2 has states now */
    STEP(MXKVStoreSaveOptimizerStates(kv, before) == 0);
    if (!limit_room(200u << 20, &was)) return 0;
    STEP(MXKVStorePush(kv, 2, keys, grads, 0) == -1);
    STEP(check_contains_ci(MXGetLastError(), "out of memory"));
    STEP(first_of(kv, 0, out) == 1.0f && first_of(kv, 1, out) == 1.0f);
    STEP(MXKVStoreSaveOptimizerStates(kv, after) == 0);
    STEP(same_file_bytes(before, after));
    /* What the failed push reserved was given back: a smaller key has room still. */
    STEP(MXKVStorePush(kv, 1, &small_key, &small, 0) == 0);
    STEP(MXKVStorePush(kv, 1, keys, grads, 0) == 0); /* one key's states fit */
    moved = first_of(kv, 0, out);
    STEP(moved != 1.0f);
    if (setrlimit(RLIMIT_AS, &was) != 0) return 0;
    STEP(MXKVStorePush(kv, 1, &keys[1], &grads[1], 0) == 0);
    STEP(first_of(kv, 1, out) == moved); /* its first update, as key 0's was */
    remove(before);
    remove(after);
    return ok;
}

static void test_a_native_optimizer_out_of_memory_changes_nothing(void) {
    CHECK(in_limited_child(child_native_optimizer_runs_out_of_memory, "out-of-memory native optimizer"));
}

/* ---- files ---------------------------------------------------------------------------- */

static void test_loading_checks_the_header_first(void) {
    uint32_t n = 0, nn = 0;
    NDArrayHandle *arrs = NULL;
    const char **names = NULL;
    /* /dev/zero never ends: only a header check stops the read. */
    CHECK_FAIL(MXNDArrayLoad("/dev/zero", &n, &arrs, &nn, &names), "not an MXNet array file");
}

static void test_zero_dim_arrays_round_trip(void) {
    NDArrayHandle a = arr_new(NULL, 0, DT_F32), back = NULL, *arrs = NULL;
    float v = 2.5f, got = 0;
    size_t size = 0;
    const char *buf = NULL;
    uint32_t ndim = 9, n = 0, nn = 0;
    const uint32_t *dims = NULL;
    const char **names = NULL;
    const char *path = MXKV_BUILD_DIR "/zero-dim.params";
    CHECK_OK(MXNDArraySyncCopyFromCPU(a, &v, 1));
    CHECK_OK(MXNDArraySaveRawBytes(a, &size, &buf));
    CHECK_OK(MXNDArrayLoadFromRawBytes(buf, size, &back));
    CHECK_OK(MXNDArrayGetShape(back, &ndim, &dims));
    CHECK_EQ_INT(ndim, 0);
    CHECK_OK(MXNDArraySyncCopyToCPU(back, &got, 1));
    CHECK_EQ_DBL(got, 2.5);
    MXNDArrayFree(back);
    CHECK_OK(MXNDArraySave(path, 1, &a, NULL));
    CHECK_OK(MXNDArrayLoad(path, &n, &arrs, &nn, &names));
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        CHECK_OK(MXNDArrayGetShape(arrs[0], &ndim, &dims));
        CHECK_EQ_INT(ndim, 0);
        got = 0;
        CHECK_OK(MXNDArraySyncCopyToCPU(arrs[0], &got, 1));
        CHECK_EQ_DBL(got, 2.5);
        MXNDArrayFree(arrs[0]);
    }
    MXNDArrayFree(a);
}

/* ---- copies from an array's own memory ------------------------------------------------ */

static void test_copy_from_the_arrays_own_memory_is_a_memmove(void) {
    const float start[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    const float forward[8] = {0, 1, 0, 1, 2, 3, 4, 5}, backward[8] = {2, 3, 4, 5, 6, 7, 6, 7};
    mx_uint shape[1] = {8};
    NDArrayHandle a = arr_f32(shape, 1, start), lo, hi;
    void *lo_data = NULL, *hi_data = NULL;
    float got[8];
    int i;
    CHECK_OK(MXNDArraySlice(a, 0, 6, &lo));
    CHECK_OK(MXNDArraySlice(a, 2, 8, &hi));
    CHECK_OK(MXNDArrayGetData(lo, &lo_data));
    CHECK_OK(MXNDArrayGetData(hi, &hi_data));
    CHECK_OK(MXNDArraySyncCopyFromCPU(hi, lo_data, 6)); /* overlapping, forwards */
    arr_read(a, got, 8);
    for (i = 0; i < 8; i++) CHECK_EQ_DBL(got[i], forward[i]);
    CHECK_OK(MXNDArraySyncCopyFromCPU(a, start, 8));
    CHECK_OK(MXNDArraySyncCopyFromCPU(lo, hi_data, 6)); /* overlapping, backwards */
    arr_read(a, got, 8);
    for (i = 0; i < 8; i++) CHECK_EQ_DBL(got[i], backward[i]);
    CHECK_OK(MXNDArraySyncCopyFromCPU(lo, lo_data, 6)); /* onto itself */
    arr_read(a, got, 8);
    for (i = 0; i < 8; i++) CHECK_EQ_DBL(got[i], backward[i]);
    MXNDArrayFree(lo);
    MXNDArrayFree(hi);
    MXNDArrayFree(a);
}

int main(void) {
    RUN(test_fork_after_the_pool_started);
    RUN(test_calls_from_a_thread_key_destructor);
    RUN(test_calls_from_an_atexit_handler);
    RUN(test_out_of_memory_is_an_error);
    RUN(test_a_push_out_of_memory_changes_no_key);
    RUN(test_a_native_optimizer_out_of_memory_changes_nothing);
    RUN(test_loading_checks_the_header_first);
    RUN(test_zero_dim_arrays_round_trip);
    RUN(test_copy_from_the_arrays_own_memory_is_a_memmove);
    return check_summary("test_reliability");
}
