/*
 * test_soak.c — long random sequences of C API calls, checked against a model.
 *
 * Each thread owns a store (int- or string-keyed) and a set of float32 arrays, and also
 * uses its own keys of one store shared by every thread. It draws calls at random — create,
 * free, init, push, pull, pushpull, broadcast, set_updater, save/load, slices, calls with
 * stale handles, bad keys and wrong shapes — and checks every result against what the model
 * says the call must do. After every call that must fail, every key of the store is pulled
 * and compared with the model: a failed call changes nothing.
 *
 * Values are small integers and stay small, so every sum is exact in any order: pushed
 * arrays hold only values the test chose (pulls go into a separate set of output arrays),
 * and the updater keeps the stored value within (-1024, 1024).
 *
 *   test_soak                      2 s, seed 1, 4 threads (as make test runs it)
 *   MXKV_SOAK_SECONDS=600 MXKV_SOAK_SEED=7 test_soak
 */
#include "util.h"

#include <math.h>
#include <pthread.h>
#include <time.h>

#define THREADS 4
#define MAX_KEYS 8
#define MAX_ARRAYS 12
#define MAX_ELEMS 12

typedef struct {
    mx_uint rows, cols;
    float v[MAX_ELEMS];
} Value;

typedef struct {
    int live;
    NDArrayHandle h;
    Value val;
} Arr;

typedef struct {
    KVStoreHandle kv;
    int str_keys;   /* keyed by strings "k<n>" */
    int key_base;   /* int keys are key_base + i */
    int updater;    /* an updater (stored += 2 * recv) is set */
    int inited[MAX_KEYS];
    Value stored[MAX_KEYS];
} Store;

typedef struct {
    int id;
    uint64_t rng;
    Store own, shared;
    Arr arrs[MAX_ARRAYS]; /* what is pushed and initialised */
    Arr outs[MAX_ARRAYS]; /* what is pulled into */
    NDArrayHandle stale; /* a handle freed earlier: every use must fail */
    long calls, failures_checked;
} Worker;

static KVStoreHandle shared_kv;
static int shared_updater; /* the shared store's updater is set once, before the threads */
static double deadline;
static char key_names[MAX_KEYS][16];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint32_t next(Worker *w) { /* xorshift64* */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return (uint32_t)((w->rng * 2685821657736338717ULL) >> 32);
}
static int pick(Worker *w, int n) { return (int)(next(w) % (uint32_t)n); }

static size_t elems(const Value *v) { return (size_t)v->rows * v->cols; }
static int same_shape(const Value *a, const Value *b) { return a->rows == b->rows && a->cols == b->cols; }

static void random_value(Worker *w, Value *v) {
    size_t i;
    v->rows = 1 + pick(w, 3);
    v->cols = 1 + pick(w, 4);
    for (i = 0; i < elems(v); i++) v->v[i] = (float)(pick(w, 9) - 4);
}

static NDArrayHandle make_array(const Value *v) {
    mx_uint shape[2] = {v->rows, v->cols};
    return arr_f32(shape, 2, v->v);
}

/* The array's content must equal v. */
static int holds(NDArrayHandle h, const Value *v) {
    float got[MAX_ELEMS];
    uint32_t ndim = 0;
    const uint32_t *dims = NULL;
    size_t i;
    if (MXNDArrayGetShape(h, &ndim, &dims) != 0 || ndim != 2 || dims[0] != v->rows ||
        dims[1] != v->cols)
        return 0;
    if (MXNDArraySyncCopyToCPU(h, got, elems(v)) != 0) return 0;
    for (i = 0; i < elems(v); i++)
        if (got[i] != v->v[i]) return 0;
    return 1;
}

static void updater(int key, NDArrayHandle recv, NDArrayHandle local, void *unused) {
    float r[MAX_ELEMS], l[MAX_ELEMS];
    uint32_t ndim = 0;
    const uint32_t *dims = NULL;
    size_t n, i;
    (void)key;
    (void)unused;
    if (MXNDArrayGetShape(local, &ndim, &dims) == 0) {
        n = ndim == 2 ? (size_t)dims[0] * dims[1] : 0;
        if (n && n <= MAX_ELEMS && MXNDArraySyncCopyToCPU(recv, r, n) == 0 &&
            MXNDArraySyncCopyToCPU(local, l, n) == 0) {
            for (i = 0; i < n; i++) l[i] = fmodf(l[i] + 2 * r[i], 1024);
            MXNDArraySyncCopyFromCPU(local, l, n);
        }
    }
    MXNDArrayFree(recv);
    MXNDArrayFree(local);
}

/* ---- keyed calls, int or string keys by the store's kind --------------------------------- */

typedef struct {
    int n;
    int ik[4];
    const char *sk[4];
    int slot[4];
    NDArrayHandle h[4];
} Call;

static void call_key(Store *s, Call *c, int slot) {
    c->slot[c->n] = slot;
    c->ik[c->n] = s->key_base + slot;
    c->sk[c->n] = key_names[slot];
    c->n++;
}

static int do_init(Store *s, Call *c) {
    return s->str_keys ? MXKVStoreInitEx(s->kv, c->n, c->sk, c->h) : MXKVStoreInit(s->kv, c->n, c->ik, c->h);
}
static int do_push(Store *s, Call *c) {
    return s->str_keys ? MXKVStorePushEx(s->kv, c->n, c->sk, c->h, 0) : MXKVStorePush(s->kv, c->n, c->ik, c->h, 0);
}
static int do_pull(Store *s, Call *c) {
    return s->str_keys ? MXKVStorePullEx(s->kv, c->n, c->sk, c->h, 0) : MXKVStorePull(s->kv, c->n, c->ik, c->h, 0);
}
static int do_pushpull(Store *s, Call *push, Call *pull) {
    return s->str_keys ? MXKVStorePushPullEx(s->kv, push->n, push->sk, pull->n, pull->sk, push->h, pull->h, 0)
                       : MXKVStorePushPull(s->kv, push->n, push->ik, pull->n, pull->ik, push->h, pull->h, 0);
}
static int do_broadcast(Store *s, Call *init, Call *pull) {
    return s->str_keys ? MXKVStoreBroadcastEx(s->kv, init->n, init->sk, pull->n, pull->sk, init->h, pull->h, 0)
                       : MXKVStoreBroadcast(s->kv, init->n, init->ik, pull->n, pull->ik, init->h, pull->h, 0);
}

/* Every initialised key of the store still holds its model value. */
static void check_store_unchanged(Worker *w, Store *s) {
    int k;
    w->failures_checked++;
    for (k = 0; k < MAX_KEYS; k++) {
        Call c = {0};
        NDArrayHandle out;
        if (!s->inited[k]) continue;
        out = make_array(&s->stored[k]);
        call_key(s, &c, k);
        c.h[0] = out;
        /* A scrambled output: the pull must overwrite all of it. */
        {
            float junk[MAX_ELEMS];
            size_t i;
            for (i = 0; i < elems(&s->stored[k]); i++) junk[i] = 99;
            MXNDArraySyncCopyFromCPU(out, junk, elems(&s->stored[k]));
        }
        CHECK_OK(do_pull(s, &c));
        CHECK(holds(out, &s->stored[k]));
        MXNDArrayFree(out);
    }
}

/* A live array of `pool` with the given shape, or -1. */
static int array_shaped(Worker *w, const Arr *pool, const Value *like) {
    int i, start = pick(w, MAX_ARRAYS);
    for (i = 0; i < MAX_ARRAYS; i++) {
        int j = (start + i) % MAX_ARRAYS;
        if (pool[j].live && same_shape(&pool[j].val, like)) return j;
    }
    return -1;
}

static int live_array(Worker *w, const Arr *pool) {
    int i, start = pick(w, MAX_ARRAYS);
    for (i = 0; i < MAX_ARRAYS; i++)
        if (pool[(start + i) % MAX_ARRAYS].live) return (start + i) % MAX_ARRAYS;
    return -1;
}

static Arr *any_pool(Worker *w) { return pick(w, 2) ? w->arrs : w->outs; }

static void op_create(Worker *w, Arr *pool) {
    int i = pick(w, MAX_ARRAYS);
    Arr *a = &pool[i];
    if (a->live) {
        CHECK_OK(MXNDArrayFree(a->h));
        w->stale = a->h;
        a->live = 0;
    }
    random_value(w, &a->val);
    a->h = make_array(&a->val);
    a->live = a->h != NULL;
}

static void op_stale(Worker *w) {
    float buf[MAX_ELEMS];
    uint32_t ndim;
    const uint32_t *dims;
    if (!w->stale) return;
    CHECK_FAIL(MXNDArrayFree(w->stale), "handle");
    CHECK_FAIL(MXNDArrayGetShape(w->stale, &ndim, &dims), "handle");
    CHECK_FAIL(MXNDArraySyncCopyToCPU(w->stale, buf, 1), "handle");
}

static void op_init(Worker *w, Store *s) {
    Call c = {0};
    int n = 1 + pick(w, 2), i, expect_ok = 1, rc;
    for (i = 0; i < n; i++) {
        int k = pick(w, MAX_KEYS), a = live_array(w, w->arrs), j;
        if (a < 0) return;
        if (s->inited[k]) expect_ok = 0;
        for (j = 0; j < c.n; j++)
            if (c.slot[j] == k) expect_ok = 0;
        call_key(s, &c, k);
        c.h[c.n - 1] = w->arrs[a].h;
    }
    rc = do_init(s, &c);
    if (expect_ok) {
        CHECK_EQ_INT(rc, 0);
        for (i = 0; i < c.n; i++) {
            s->inited[c.slot[i]] = 1;
            /* c.h[i] is one of the worker's arrays: find its value */
            {
                int a;
                for (a = 0; a < MAX_ARRAYS; a++)
                    if (w->arrs[a].live && w->arrs[a].h == c.h[i]) s->stored[c.slot[i]] = w->arrs[a].val;
            }
        }
    } else {
        CHECK_EQ_INT(rc, -1);
        CHECK_ERR_HAS("duplicate init");
        check_store_unchanged(w, s);
    }
}

/* Fills a call with 1..3 pairs on initialised keys with arrays of their shape. With `bad`,
 * one pair is made wrong (an uninitialised key, or an array of another shape). Returns
 * the number of pairs, 0 when none can be made. The arrays come from `pool`. */
static int pairs(Worker *w, Store *s, Call *c, int bad, Arr *pool, int *arr_of) {
    int n = 1 + pick(w, 3), i, bad_at = bad ? pick(w, n) : -1;
    for (i = 0; i < n; i++) {
        int k = pick(w, MAX_KEYS), a;
        if (i == bad_at) {
            int kind = pick(w, 2), j;
            if (kind == 0) { /* an uninitialised key */
                for (j = 0; j < MAX_KEYS && s->inited[(k + j) % MAX_KEYS]; j++) {}
                if (j == MAX_KEYS) kind = 1;
                else {
                    k = (k + j) % MAX_KEYS;
                    a = live_array(w, pool);
                    if (a < 0) return 0;
                    call_key(s, c, k);
                    c->h[c->n - 1] = pool[a].h;
                    arr_of[c->n - 1] = a;
                    continue;
                }
            }
            if (kind == 1) { /* an initialised key, an array of another shape */
                for (j = 0; j < MAX_KEYS && !s->inited[(k + j) % MAX_KEYS]; j++) {}
                if (j == MAX_KEYS) return 0;
                k = (k + j) % MAX_KEYS;
                for (a = 0; a < MAX_ARRAYS; a++)
                    if (pool[a].live && !same_shape(&pool[a].val, &s->stored[k])) break;
                if (a == MAX_ARRAYS) return 0;
                call_key(s, c, k);
                c->h[c->n - 1] = pool[a].h;
                arr_of[c->n - 1] = a;
                continue;
            }
        }
        {
            int j;
            for (j = 0; j < MAX_KEYS && !s->inited[(k + j) % MAX_KEYS]; j++) {}
            if (j == MAX_KEYS) return 0;
            k = (k + j) % MAX_KEYS;
        }
        a = array_shaped(w, pool, &s->stored[k]);
        if (a < 0) return 0;
        call_key(s, c, k);
        c->h[c->n - 1] = pool[a].h;
        arr_of[c->n - 1] = a;
    }
    return c->n;
}

/* The model of a push: per key, sum the pushed values; assign, or stored += 2 * sum. */
static void model_push(Worker *w, Store *s, Call *c, int *arr_of) {
    int k, i;
    size_t e;
    for (k = 0; k < MAX_KEYS; k++) {
        Value sum;
        int seen = 0;
        for (i = 0; i < c->n; i++) {
            const Value *v = &w->arrs[arr_of[i]].val;
            if (c->slot[i] != k) continue;
            if (!seen) sum = *v;
            else
                for (e = 0; e < elems(v); e++) sum.v[e] += v->v[e];
            seen = 1;
        }
        if (!seen) continue;
        if (s->updater)
            for (e = 0; e < elems(&sum); e++)
                s->stored[k].v[e] = fmodf(s->stored[k].v[e] + 2 * sum.v[e], 1024);
        else
            s->stored[k] = sum;
    }
}

static void op_push(Worker *w, Store *s) {
    Call c = {0};
    int arr_of[4], bad = pick(w, 4) == 0, rc;
    if (!pairs(w, s, &c, bad, w->arrs, arr_of)) return;
    rc = do_push(s, &c);
    if (!bad) {
        CHECK_EQ_INT(rc, 0);
        model_push(w, s, &c, arr_of);
    } else {
        CHECK_EQ_INT(rc, -1);
        check_store_unchanged(w, s);
    }
}

static void op_pull(Worker *w, Store *s) {
    Call c = {0};
    int arr_of[4], bad = pick(w, 4) == 0, rc, i;
    Value before[4];
    if (!pairs(w, s, &c, bad, w->outs, arr_of)) return;
    for (i = 0; i < c.n; i++) before[i] = w->outs[arr_of[i]].val;
    rc = do_pull(s, &c);
    if (!bad) {
        CHECK_EQ_INT(rc, 0);
        for (i = 0; i < c.n; i++) w->outs[arr_of[i]].val = s->stored[c.slot[i]];
        for (i = 0; i < c.n; i++) CHECK(holds(c.h[i], &w->outs[arr_of[i]].val));
    } else {
        CHECK_EQ_INT(rc, -1);
        for (i = 0; i < c.n; i++) CHECK(holds(c.h[i], &before[i])); /* outputs untouched */
        check_store_unchanged(w, s);
    }
}

static void op_pushpull(Worker *w, Store *s) {
    Call push = {0}, pull = {0};
    int pa[4], qa[4], i;
    if (!pairs(w, s, &push, 0, w->arrs, pa) || !pairs(w, s, &pull, 0, w->outs, qa)) return;
    CHECK_OK(do_pushpull(s, &push, &pull));
    model_push(w, s, &push, pa);
    for (i = 0; i < pull.n; i++) w->outs[qa[i]].val = s->stored[pull.slot[i]];
    for (i = 0; i < pull.n; i++) CHECK(holds(pull.h[i], &w->outs[qa[i]].val));
}

static void op_broadcast(Worker *w, Store *s) {
    Call init = {0}, pull = {0};
    int k = pick(w, MAX_KEYS), a = live_array(w, w->arrs), o;
    if (a < 0) return;
    call_key(s, &init, k);
    init.h[0] = w->arrs[a].h;
    o = array_shaped(w, w->outs, &w->arrs[a].val);
    if (o < 0) return;
    call_key(s, &pull, k);
    pull.h[0] = w->outs[o].h;
    if (s->inited[k]) {
        Value before = w->outs[o].val;
        CHECK_FAIL(do_broadcast(s, &init, &pull), "duplicate init");
        CHECK(holds(w->outs[o].h, &before));
        check_store_unchanged(w, s);
        return;
    }
    CHECK_OK(do_broadcast(s, &init, &pull));
    s->inited[k] = 1;
    s->stored[k] = w->arrs[a].val;
    w->outs[o].val = s->stored[k];
    CHECK(holds(w->outs[o].h, &s->stored[k]));
}

static void op_updater(Worker *w) {
    w->own.updater = pick(w, 2);
    CHECK_OK(MXKVStoreSetUpdater(w->own.kv, w->own.updater ? updater : NULL, NULL));
}

static void op_save_load(Worker *w) {
    char path[256];
    NDArrayHandle hs[3];
    int idx[3], n = 0, i;
    uint32_t count = 0, nnames = 0;
    NDArrayHandle *loaded = NULL;
    const char **names = NULL;
    Arr *pool = any_pool(w);
    for (i = 0; i < 3; i++) {
        int a = live_array(w, pool);
        if (a < 0) return;
        idx[n] = a;
        hs[n++] = pool[a].h;
    }
    snprintf(path, sizeof path, MXKV_BUILD_DIR "/soak-%d.params", w->id);
    CHECK_OK(MXNDArraySave(path, n, hs, NULL));
    CHECK_OK(MXNDArrayLoad(path, &count, &loaded, &nnames, &names));
    CHECK_EQ_INT(count, n);
    for (i = 0; i < (int)count && i < n; i++) {
        CHECK(holds(loaded[i], &pool[idx[i]].val));
        CHECK_OK(MXNDArrayFree(loaded[i]));
    }
}

static void op_slice(Worker *w) {
    Arr *pool = any_pool(w);
    int a = live_array(w, pool);
    NDArrayHandle row;
    Value want;
    mx_uint r;
    if (a < 0) return;
    r = (mx_uint)pick(w, (int)pool[a].val.rows);
    CHECK_OK(MXNDArraySlice(pool[a].h, r, r + 1, &row));
    want.rows = 1;
    want.cols = pool[a].val.cols;
    memcpy(want.v, pool[a].val.v + (size_t)r * want.cols, want.cols * sizeof(float));
    CHECK(holds(row, &want));
    /* Writing through the view writes the array. */
    {
        size_t c;
        for (c = 0; c < want.cols; c++) want.v[c] = (float)(pick(w, 9) - 4);
        CHECK_OK(MXNDArraySyncCopyFromCPU(row, want.v, want.cols));
        memcpy(pool[a].val.v + (size_t)r * want.cols, want.v, want.cols * sizeof(float));
        CHECK(holds(pool[a].h, &pool[a].val));
    }
    CHECK_OK(MXNDArrayFree(row));
}

static void *worker_main(void *arg) {
    Worker *w = (Worker *)arg;
    int i;
    for (i = 0; i < MAX_ARRAYS; i++) {
        op_create(w, w->arrs);
        op_create(w, w->outs);
    }
    while (now() < deadline) {
        Store *s = pick(w, 3) == 0 ? &w->shared : &w->own;
        switch (pick(w, 12)) {
        case 0: op_create(w, any_pool(w)); break;
        case 1: op_stale(w); break;
        case 2: op_init(w, s); break;
        case 3: case 4: op_push(w, s); break;
        case 5: case 6: op_pull(w, s); break;
        case 7: op_pushpull(w, s); break;
        case 8: op_broadcast(w, s); break;
        case 9: op_updater(w); break;
        case 10: op_save_load(w); break;
        case 11: op_slice(w); break;
        }
        w->calls++;
    }
    check_store_unchanged(w, &w->own);
    check_store_unchanged(w, &w->shared);
    for (i = 0; i < MAX_ARRAYS; i++) {
        if (w->arrs[i].live) CHECK_OK(MXNDArrayFree(w->arrs[i].h));
        if (w->outs[i].live) CHECK_OK(MXNDArrayFree(w->outs[i].h));
    }
    return NULL;
}

static void test_random_calls_match_the_model(void) {
    const char *sec = getenv("MXKV_SOAK_SECONDS"), *seed_env = getenv("MXKV_SOAK_SEED");
    double seconds = sec ? atof(sec) : 2.0;
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : 1;
    Worker workers[THREADS];
    pthread_t threads[THREADS];
    long calls = 0, checked = 0;
    int t;
    for (t = 0; t < MAX_KEYS; t++) snprintf(key_names[t], sizeof key_names[t], "k%d", t);
    CHECK_OK(MXKVStoreCreate("local", &shared_kv));
    shared_updater = (int)(seed & 1);
    if (shared_updater) CHECK_OK(MXKVStoreSetUpdater(shared_kv, updater, NULL));
    deadline = now() + seconds;
    memset(workers, 0, sizeof workers);
    for (t = 0; t < THREADS; t++) {
        Worker *w = &workers[t];
        w->id = t;
        w->rng = seed * 0x9E3779B97F4A7C15ULL + (uint64_t)t * 7919 + 1;
        w->own.str_keys = t % 2;
        CHECK_OK(MXKVStoreCreate(t % 2 ? "device" : "local", &w->own.kv));
        w->shared.kv = shared_kv;
        w->shared.key_base = 100 * (t + 1);
        w->shared.updater = shared_updater;
        CHECK_OK(pthread_create(&threads[t], NULL, worker_main, w));
    }
    for (t = 0; t < THREADS; t++) {
        CHECK_OK(pthread_join(threads[t], NULL));
        calls += workers[t].calls;
        checked += workers[t].failures_checked;
        CHECK_OK(MXKVStoreFree(workers[t].own.kv));
    }
    CHECK_OK(MXKVStoreFree(shared_kv));
    printf("soak: seed %llu, %.0f s, %d threads: %ld calls, %ld failed calls checked to change nothing\n",
           (unsigned long long)seed, seconds, THREADS, calls, checked);
    CHECK(calls > 0);
}

int main(void) {
    RUN(test_random_calls_match_the_model);
    return check_summary("test_soak");
}
