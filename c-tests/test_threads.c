/*
 * Several threads on one store (spec §4.6; STYLE "callbacks on the caller's thread"):
 * shared keys pushed by every thread through an updater `local += recv`, private keys per
 * thread, concurrent pulls; an updater that calls back into the API; handle churn.
 * Final values are checked exactly.
 */
#include "util.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#define T 4        /* threads */
#define ITERS 150  /* iterations per thread */
#define LEN 64     /* float32 elements per key */
#define SHARED 3   /* shared keys 0, 1, 2 */

typedef struct {
    int id;
    KVStoreHandle kv;
    long pushes;          /* Push calls that reach the updater, made by this thread */
    long updater_calls;   /* updater calls that ran on this thread */
    long torn_reads;      /* pulls that saw a half-updated array or an impossible value */
    long bad_private;     /* private key values other than expected */
    long failed_calls;
} Worker;

static pthread_key_t current_worker;
static long foreign_thread_calls; /* updater calls on a thread that pushed nothing */

/* local += recv through the raw data of both handles, then free both. */
static void add_updater(int key, NDArrayHandle recv, NDArrayHandle local, void *handle) {
    Worker *w = (Worker *)pthread_getspecific(current_worker);
    float *r = NULL, *l = NULL;
    int ndim = 0, i;
    const int *shape = NULL;
    size_t n = 1;
    (void)key;
    (void)handle;
    if (w) w->updater_calls++;
    else __atomic_fetch_add(&foreign_thread_calls, 1, __ATOMIC_RELAXED);
    if (MXNDArrayGetShapeEx(local, &ndim, &shape) == 0 && MXNDArrayGetData(recv, (void **)&r) == 0 &&
        MXNDArrayGetData(local, (void **)&l) == 0 && r && l) {
        for (i = 0; i < ndim; i++) n *= (size_t)shape[i];
        for (i = 0; i < (int)n; i++) l[i] += r[i];
    } else if (w) {
        w->failed_calls++;
    }
    MXNDArrayFree(recv);
    MXNDArrayFree(local);
}

/* All LEN elements equal, and the value one of those a key can hold: 1 + whole pushes. */
static int consistent(const float *v, float max) {
    int i;
    for (i = 1; i < LEN; i++)
        if (v[i] != v[0]) return 0;
    return v[0] >= 1.0f && v[0] <= max && v[0] == (float)(long)v[0];
}

static void *worker_main(void *arg) {
    Worker *w = (Worker *)arg;
    int priv = 100 + w->id, i, k;
    float buf[LEN];
    NDArrayHandle ones = arr_fill(1, LEN, 1.0f), twos = arr_fill(1, LEN, 2.0f);
    NDArrayHandle out = arr_fill(1, LEN, 0.0f), pv;
    pthread_setspecific(current_worker, w);
    /* Each thread initialises its own private key concurrently with the others. */
    pv = arr_fill(1, LEN, 1.0f);
    if (MXKVStoreInit(w->kv, 1, &priv, &pv) != 0) w->failed_calls++;
    MXNDArrayFree(pv);
    for (i = 0; i < ITERS; i++) {
        int shared = i % SHARED;
        /* One value into one shared key. */
        if (MXKVStorePush(w->kv, 1, &shared, &ones, 0) != 0) w->failed_calls++;
        w->pushes++;
        /* Two values for key 2 and one for key 0 in one call: the updater gets 1+1 and 2. */
        {
            int keys[3] = {2, 0, 2};
            NDArrayHandle vals[3];
            vals[0] = ones;
            vals[1] = twos;
            vals[2] = ones;
            if (MXKVStorePush(w->kv, 3, keys, vals, 0) != 0) w->failed_calls++;
            w->pushes += 2;
        }
        /* The private key: push then pull sees exactly this thread's pushes. */
        if (MXKVStorePushPull(w->kv, 1, &priv, 1, &priv, &twos, &out, 0) != 0) w->failed_calls++;
        w->pushes++;
        if (MXNDArraySyncCopyToCPU(out, buf, LEN) != 0) w->failed_calls++;
        for (k = 0; k < LEN; k++)
            if (buf[k] != 1.0f + 2.0f * (float)(i + 1)) {
                w->bad_private++;
                break;
            }
        /* Concurrent pulls of the shared keys see whole values. */
        if (MXKVStorePull(w->kv, 1, &shared, &out, 0) != 0) w->failed_calls++;
        if (MXNDArraySyncCopyToCPU(out, buf, LEN) != 0) w->failed_calls++;
        if (!consistent(buf, 1.0f + 4.0f * T * ITERS)) w->torn_reads++;
    }
    MXNDArrayFree(ones);
    MXNDArrayFree(twos);
    MXNDArrayFree(out);
    pthread_setspecific(current_worker, NULL);
    return NULL;
}

static void test_shared_and_private_keys(void) {
    KVStoreHandle kv = NULL;
    Worker w[T];
    pthread_t th[T];
    int keys[SHARED] = {0, 1, 2}, i;
    NDArrayHandle init[SHARED];
    long pushes_to[SHARED] = {0, 0, 0};
    CHECK_OK(MXKVStoreCreate("local", &kv));
    for (i = 0; i < SHARED; i++) init[i] = arr_fill(1, LEN, 1.0f);
    CHECK_OK(MXKVStoreInit(kv, SHARED, keys, init));
    for (i = 0; i < SHARED; i++) MXNDArrayFree(init[i]);
    CHECK_OK(MXKVStoreSetUpdater(kv, add_updater, NULL));
    foreign_thread_calls = 0;
    for (i = 0; i < T; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].id = i;
        w[i].kv = kv;
        CHECK(pthread_create(&th[i], NULL, worker_main, &w[i]) == 0);
    }
    for (i = 0; i < T; i++) pthread_join(th[i], NULL);
    for (i = 0; i < T; i++) {
        CHECK_EQ_INT(w[i].failed_calls, 0);
        CHECK_EQ_INT(w[i].bad_private, 0);
        CHECK_EQ_INT(w[i].torn_reads, 0);
        /* Every update ran on the thread that pushed. */
        CHECK_EQ_INT(w[i].updater_calls, w[i].pushes);
        CHECK(key_equals(kv, 100 + i, 1, LEN, 1.0f + 2.0f * ITERS));
    }
    CHECK_EQ_INT(foreign_thread_calls, 0);
    /* Key k got 1 per iteration i with i % 3 == k; key 0 also 2 and key 2 also 1 + 1 per
     * iteration, from every thread. */
    for (i = 0; i < ITERS; i++) pushes_to[i % SHARED] += 1;
    CHECK(key_equals(kv, 0, 1, LEN, 1.0f + (float)T * (float)(pushes_to[0] + 2 * ITERS)));
    CHECK(key_equals(kv, 1, 1, LEN, 1.0f + (float)T * (float)pushes_to[1]));
    CHECK(key_equals(kv, 2, 1, LEN, 1.0f + (float)T * (float)(pushes_to[2] + 2 * ITERS)));
    CHECK_OK(MXKVStoreFree(kv));
}

/* ---- a pull never sees half of a push ---------------------------------------------- */

#define BIG 20000
#define ROUNDS 200

typedef struct {
    KVStoreHandle kv;
    int key;
    volatile int done;
    long torn;
    long pulls;
    long failed;
} Puller;

static void *puller_main(void *arg) {
    Puller *p = (Puller *)arg;
    float *buf = (float *)malloc(sizeof(float) * BIG);
    NDArrayHandle out = NULL;
    mx_uint shape[2] = {1, BIG};
    if (MXNDArrayCreateEx(shape, 2, 1, 0, 0, DT_F32, &out) != 0)
        __atomic_fetch_add(&p->failed, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&p->done, __ATOMIC_ACQUIRE)) {
        int i;
        if (MXKVStorePull(p->kv, 1, &p->key, &out, 0) != 0 ||
            MXNDArraySyncCopyToCPU(out, buf, BIG) != 0) {
            __atomic_fetch_add(&p->failed, 1, __ATOMIC_RELEASE);
            break;
        }
        __atomic_fetch_add(&p->pulls, 1, __ATOMIC_RELEASE);
        for (i = 1; i < BIG; i++)
            if (buf[i] != buf[0]) {
                p->torn++;
                break;
            }
    }
    MXNDArrayFree(out);
    free(buf);
    return NULL;
}

/* One thread pushes whole values while another pulls; every pulled value must be one
 * that a whole push produced (all elements equal), with and without an updater. */
static void check_pulls_whole(int with_updater) {
    KVStoreHandle kv = NULL;
    Puller p;
    pthread_t th;
    int key = 7, i;
    NDArrayHandle v = arr_fill(1, BIG, 0.0f), one = arr_fill(1, BIG, 1.0f);
    CHECK_OK(MXKVStoreCreate("local", &kv));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    if (with_updater) CHECK_OK(MXKVStoreSetUpdater(kv, add_updater, NULL));
    memset(&p, 0, sizeof p);
    p.kv = kv;
    p.key = key;
    CHECK(pthread_create(&th, NULL, puller_main, &p) == 0);
    /* Start pushing once the puller runs, and let it in between pushes. */
    while (__atomic_load_n(&p.pulls, __ATOMIC_ACQUIRE) == 0 &&
           __atomic_load_n(&p.failed, __ATOMIC_ACQUIRE) == 0)
        sched_yield();
    for (i = 1; i <= ROUNDS; i++) {
        sched_yield();
        if (with_updater) {
            CHECK_OK(MXKVStorePush(kv, 1, &key, &one, 0));
        } else {
            {
                float *d = NULL;
                int j;
                CHECK_OK(MXNDArrayGetData(v, (void **)&d));
                for (j = 0; d && j < BIG; j++) d[j] = (float)i;
            }
            CHECK_OK(MXKVStorePush(kv, 1, &key, &v, 0));
        }
    }
    __atomic_store_n(&p.done, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    CHECK_EQ_INT(p.failed, 0);
    CHECK(p.pulls > 0);
    CHECK_EQ_INT(p.torn, 0);
    CHECK(key_equals(kv, key, 1, BIG, (float)ROUNDS));
    CHECK_OK(MXNDArrayFree(v));
    CHECK_OK(MXNDArrayFree(one));
    CHECK_OK(MXKVStoreFree(kv));
}

static void test_pull_sees_whole_values_assign(void) { check_pulls_whole(0); }

static void test_pull_sees_whole_values_updater(void) { check_pulls_whole(1); }

/* ---- shape buffers are per thread (spec §3, reference §2.2) --------------------------- */

static volatile int shape_stop;

static void *shape_churn_main(void *arg) {
    NDArrayHandle other = (NDArrayHandle)arg;
    int ndim = 0;
    const int *s = NULL;
    while (!__atomic_load_n(&shape_stop, __ATOMIC_ACQUIRE)) MXNDArrayGetShapeEx(other, &ndim, &s);
    return NULL;
}

static void test_shape_buffer_per_thread(void) {
    mx_uint s3[3] = {2, 3, 4}, s1[1] = {9};
    NDArrayHandle mine = arr_new(s3, 3, DT_F32), other = arr_new(s1, 1, DT_F32);
    int ndim = 0, i, intact = 1;
    const int *s = NULL;
    pthread_t th;
    CHECK_OK(MXNDArrayGetShapeEx(mine, &ndim, &s));
    shape_stop = 0;
    CHECK(pthread_create(&th, NULL, shape_churn_main, other) == 0);
    for (i = 0; i < 20000 && intact; i++) intact = ndim == 3 && s[0] == 2 && s[1] == 3 && s[2] == 4;
    __atomic_store_n(&shape_stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    CHECK(intact);
    CHECK_OK(MXNDArrayFree(mine));
    CHECK_OK(MXNDArrayFree(other));
}

/* ---- an updater that calls back into the API ------------------------------------------ */

typedef struct {
    KVStoreHandle kv;
    long calls;
    long bad;
} Reentrant;

static void reentrant_updater(int key, NDArrayHandle recv, NDArrayHandle local, void *handle) {
    Reentrant *r = (Reentrant *)handle;
    int other = 999, ndim = 0, dtype = -1;
    const int *shape = NULL;
    NDArrayHandle fresh = NULL;
    float scale[LEN], *rd = NULL, *ld = NULL;
    int i;
    (void)key;
    __atomic_fetch_add(&r->calls, 1, __ATOMIC_RELAXED);
    /* Read the shape, pull another key of the same store into a new array, read it. */
    if (MXNDArrayGetShapeEx(recv, &ndim, &shape) != 0 || ndim != 2 || shape[1] != LEN ||
        MXNDArrayGetDType(local, &dtype) != 0 || dtype != DT_F32 ||
        MXNDArrayCreateEx((const mx_uint[2]){1, LEN}, 2, 1, 0, 0, DT_F32, &fresh) != 0 ||
        MXKVStorePull(r->kv, 1, &other, &fresh, 0) != 0 ||
        MXNDArraySyncCopyToCPU(fresh, scale, LEN) != 0 || MXNDArrayGetData(recv, (void **)&rd) != 0 ||
        MXNDArrayGetData(local, (void **)&ld) != 0) {
        __atomic_fetch_add(&r->bad, 1, __ATOMIC_RELAXED);
    } else {
        for (i = 0; i < LEN; i++) ld[i] += scale[i] * rd[i];
    }
    if (fresh) MXNDArrayFree(fresh);
    MXNDArrayFree(recv);
    MXNDArrayFree(local);
}

typedef struct {
    KVStoreHandle kv;
    int key;
    long failed;
} Pusher;

static void *pusher_main(void *arg) {
    Pusher *p = (Pusher *)arg;
    NDArrayHandle ones = arr_fill(1, LEN, 1.0f), out = arr_fill(1, LEN, 0.0f);
    int i;
    for (i = 0; i < ITERS / 3; i++) {
        if (MXKVStorePush(p->kv, 1, &p->key, &ones, 0) != 0) p->failed++;
        /* Also the same key from every thread. */
        {
            int common = 50;
            if (MXKVStorePushPull(p->kv, 1, &common, 1, &common, &ones, &out, 0) != 0) p->failed++;
        }
    }
    MXNDArrayFree(ones);
    MXNDArrayFree(out);
    return NULL;
}

static void test_reentrant_updater(void) {
    KVStoreHandle kv = NULL;
    Reentrant r;
    Pusher p[T];
    pthread_t th[T];
    int keys[T + 2], i;
    NDArrayHandle v;
    CHECK_OK(MXKVStoreCreate("local", &kv));
    for (i = 0; i < T; i++) keys[i] = 10 + i;
    keys[T] = 50;
    keys[T + 1] = 999;
    v = arr_fill(1, LEN, 0.0f);
    for (i = 0; i < T + 1; i++) CHECK_OK(MXKVStoreInit(kv, 1, &keys[i], &v));
    MXNDArrayFree(v);
    v = arr_fill(1, LEN, 3.0f);
    CHECK_OK(MXKVStoreInit(kv, 1, &keys[T + 1], &v));
    MXNDArrayFree(v);
    r.kv = kv;
    r.calls = 0;
    r.bad = 0;
    CHECK_OK(MXKVStoreSetUpdater(kv, reentrant_updater, &r));
    /* First on this thread alone. */
    {
        NDArrayHandle ones = arr_fill(1, LEN, 1.0f);
        int key = 50;
        CHECK_OK(MXKVStorePush(kv, 1, &key, &ones, 0));
        CHECK_EQ_INT(r.calls, 1);
        CHECK(key_equals(kv, 50, 1, LEN, 3.0f));
        MXNDArrayFree(ones);
    }
    for (i = 0; i < T; i++) {
        p[i].kv = kv;
        p[i].key = 10 + i;
        p[i].failed = 0;
        CHECK(pthread_create(&th[i], NULL, pusher_main, &p[i]) == 0);
    }
    for (i = 0; i < T; i++) pthread_join(th[i], NULL);
    for (i = 0; i < T; i++) {
        CHECK_EQ_INT(p[i].failed, 0);
        CHECK(key_equals(kv, 10 + i, 1, LEN, 3.0f * (ITERS / 3)));
    }
    CHECK_EQ_INT(r.bad, 0);
    CHECK_EQ_INT(r.calls, 1 + 2 * T * (ITERS / 3));
    CHECK(key_equals(kv, 50, 1, LEN, 3.0f + 3.0f * T * (ITERS / 3)));
    CHECK_OK(MXKVStoreFree(kv));
}

/* ---- handle churn: creating, viewing and freeing arrays and stores from all threads -- */

static void *churn_main(void *arg) {
    long *failed = (long *)arg;
    int i;
    for (i = 0; i < 300; i++) {
        NDArrayHandle a = NULL, s = NULL;
        KVStoreHandle kv = NULL;
        mx_uint shape[2] = {4, 4};
        int dtype = -1, key = i;
        if (MXNDArrayCreateEx(shape, 2, 1, 0, 0, i % 13, &a) != 0) (*failed)++;
        if (MXNDArraySlice(a, 1, 3, &s) != 0) (*failed)++;
        if (MXNDArrayGetDType(s, &dtype) != 0 || dtype != i % 13) (*failed)++;
        if (MXNDArrayFree(a) != 0) (*failed)++;
        if (MXNDArrayFree(s) != 0) (*failed)++;
        /* The freed handles stay dead even while other threads allocate. */
        if (MXNDArrayGetDType(a, &dtype) != -1) (*failed)++;
        if (i % 10 == 0) {
            NDArrayHandle v = arr_fill(1, 2, (float)i);
            if (MXKVStoreCreate("local", &kv) != 0) (*failed)++;
            if (MXKVStoreInit(kv, 1, &key, &v) != 0) (*failed)++;
            if (!key_equals(kv, key, 1, 2, (float)i)) (*failed)++;
            if (MXKVStoreFree(kv) != 0) (*failed)++;
            MXNDArrayFree(v);
        }
    }
    return NULL;
}

static void test_handle_churn(void) {
    pthread_t th[T];
    long failed[T];
    int i;
    for (i = 0; i < T; i++) {
        failed[i] = 0;
        CHECK(pthread_create(&th[i], NULL, churn_main, &failed[i]) == 0);
    }
    for (i = 0; i < T; i++) pthread_join(th[i], NULL);
    for (i = 0; i < T; i++) CHECK_EQ_INT(failed[i], 0);
}

/* ---- handles freed by another thread while calls use them --------------------------- */

static KVStoreHandle race_kv;
static NDArrayHandle race_arr;
static int race_stop;

/* A failed call may only say that a handle it was given is freed. */
static int freed_handle_error(void) {
    return strstr(MXGetLastError(), "already freed") != NULL;
}

static void race_updater(int key, NDArrayHandle recv, NDArrayHandle local, void *handle) {
    float *r = NULL, *l = NULL;
    (void)key;
    (void)handle;
    if (MXNDArrayGetData(recv, (void **)&r) == 0 && MXNDArrayGetData(local, (void **)&l) == 0)
        l[0] += r[0];
    MXNDArrayFree(recv);
    MXNDArrayFree(local);
}

static void *racer_main(void *arg) {
    long *bad = (long *)arg;
    int key = 0, i;
    while (!__atomic_load_n(&race_stop, __ATOMIC_ACQUIRE)) {
        KVStoreHandle kv = __atomic_load_n(&race_kv, __ATOMIC_ACQUIRE);
        NDArrayHandle a = __atomic_load_n(&race_arr, __ATOMIC_ACQUIRE);
        /* Used again after yielding: by then the other thread has often freed them. */
        for (i = 0; i < 4; i++) {
            if (MXKVStorePush(kv, 1, &key, &a, 0) != 0 && !freed_handle_error()) (*bad)++;
            if (MXKVStorePull(kv, 1, &key, &a, 0) != 0 && !freed_handle_error()) (*bad)++;
            sched_yield();
        }
    }
    return NULL;
}

static void test_handles_freed_during_calls(void) {
    pthread_t th[2];
    long bad[2] = {0, 0};
    int i, round, key = 0;
    KVStoreHandle kv;
    NDArrayHandle a;
    /* Published before the racers start, so that they never see NULL handles. */
    CHECK_OK(MXKVStoreCreate("local", &kv));
    a = arr_fill(1, 4, 1.0f);
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &a));
    race_kv = kv;
    race_arr = a;
    for (i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, racer_main, &bad[i]) == 0);
    for (round = 0; round < 200; round++) {
        KVStoreHandle next_kv;
        NDArrayHandle next_a = arr_fill(1, 4, 1.0f);
        CHECK_OK(MXKVStoreCreate("local", &next_kv));
        CHECK_OK(MXKVStoreInit(next_kv, 1, &key, &next_a));
        if (round % 2) CHECK_OK(MXKVStoreSetUpdater(next_kv, race_updater, NULL));
        sched_yield();
        /* Freed while the racers may be inside a call with them; their slots are reused. */
        CHECK_OK(MXNDArrayFree(a));
        CHECK_OK(MXKVStoreFree(kv));
        __atomic_store_n(&race_kv, next_kv, __ATOMIC_RELEASE);
        __atomic_store_n(&race_arr, next_a, __ATOMIC_RELEASE);
        kv = next_kv;
        a = next_a;
    }
    __atomic_store_n(&race_stop, 1, __ATOMIC_RELEASE);
    for (i = 0; i < 2; i++) pthread_join(th[i], NULL);
    CHECK_EQ_INT(bad[0] + bad[1], 0);
    CHECK_OK(MXNDArrayFree(a));
    CHECK_OK(MXKVStoreFree(kv));
}

/* ---- errors on several threads at once keep their own messages ---------------------- */

typedef struct {
    int id;
    long bad;
} ErrorWorker;

static void *error_main(void *arg) {
    ErrorWorker *e = (ErrorWorker *)arg;
    KVStoreHandle kv = NULL;
    char want[64];
    int i, key;
    if (MXKVStoreCreate("local", &kv) != 0) {
        e->bad++;
        return NULL;
    }
    for (i = 0; i < 200; i++) {
        NDArrayHandle out = NULL;
        key = 1000 * (e->id + 1) + i;
        snprintf(want, sizeof want, "key %d has not been inited", key);
        if (MXNDArrayCreateEx((const mx_uint[1]){2}, 1, 1, 0, 0, 0, &out) != 0) e->bad++;
        if (MXKVStorePull(kv, 1, &key, &out, 0) != -1 || !check_contains_ci(MXGetLastError(), want))
            e->bad++;
        MXNDArrayFree(out);
    }
    MXKVStoreFree(kv);
    return NULL;
}

static void test_errors_on_many_threads(void) {
    pthread_t th[T];
    ErrorWorker e[T];
    int i;
    for (i = 0; i < T; i++) {
        e[i].id = i;
        e[i].bad = 0;
        CHECK(pthread_create(&th[i], NULL, error_main, &e[i]) == 0);
    }
    for (i = 0; i < T; i++) pthread_join(th[i], NULL);
    for (i = 0; i < T; i++) CHECK_EQ_INT(e[i].bad, 0);
}

/* ---- updaters on two threads pushing each other's key ------------------------------- */

static KVStoreHandle cross_kv;
static int cross_entered[2];
static int cross_rc[2];
static int cross_done;
static pthread_key_t cross_nested;

/* Updater of key 1 (thread A) and key 2 (thread B): once both are inside, each pushes ones
 * into the other's key (one level deep), then adds recv to local. */
static void cross_updater(int key, NDArrayHandle recv, NDArrayHandle local, void *handle) {
    int me = key - 1, other = key == 1 ? 2 : 1, i;
    float *r = NULL, *l = NULL;
    (void)handle;
    if (pthread_getspecific(cross_nested) == NULL) {
        NDArrayHandle one = arr_fill(1, 4, 1.0f);
        struct timespec ms = {0, 1000000};
        pthread_setspecific(cross_nested, &cross_nested);
        __atomic_store_n(&cross_entered[me], 1, __ATOMIC_RELEASE);
        for (i = 0; i < 2000 && !__atomic_load_n(&cross_entered[1 - me], __ATOMIC_ACQUIRE); i++)
            nanosleep(&ms, NULL);
        cross_rc[me] = MXKVStorePush(cross_kv, 1, &other, &one, 0);
        if (cross_rc[me] != 0 && strncmp(MXGetLastError(), "MXNetError: ", 12) != 0) cross_rc[me] = -2;
        MXNDArrayFree(one);
        pthread_setspecific(cross_nested, NULL);
    }
    if (MXNDArrayGetData(recv, (void **)&r) == 0 && MXNDArrayGetData(local, (void **)&l) == 0 && r && l)
        for (i = 0; i < 4; i++) l[i] += r[i];
    MXNDArrayFree(recv);
    MXNDArrayFree(local);
}

static void *cross_main(void *arg) {
    int key = *(int *)arg;
    NDArrayHandle one = arr_fill(1, 4, 1.0f);
    if (MXKVStorePush(cross_kv, 1, &key, &one, 0) != 0) cross_rc[key - 1] = -3;
    MXNDArrayFree(one);
    __atomic_fetch_add(&cross_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* STYLE: an updater may call back into the API without deadlock. Either the pushes made
 * inside the updaters succeed, or they fail with a message; the call must not hang. */
static void test_updaters_push_each_others_key(void) {
    int keys[2] = {1, 2}, i;
    NDArrayHandle zero[2];
    pthread_t th[2];
    struct timespec ms = {0, 10000000};
    CHECK(pthread_key_create(&cross_nested, NULL) == 0);
    CHECK_OK(MXKVStoreCreate("local", &cross_kv));
    zero[0] = arr_fill(1, 4, 0.0f);
    zero[1] = arr_fill(1, 4, 0.0f);
    CHECK_OK(MXKVStoreInit(cross_kv, 2, keys, zero));
    CHECK_OK(MXKVStoreSetUpdater(cross_kv, cross_updater, NULL));
    for (i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, cross_main, &keys[i]) == 0);
    for (i = 0; i < 1000 && __atomic_load_n(&cross_done, __ATOMIC_ACQUIRE) < 2; i++) nanosleep(&ms, NULL);
    if (__atomic_load_n(&cross_done, __ATOMIC_ACQUIRE) < 2) {
        CHECK(!"two updaters pushing each other's key finish within 10 s (deadlock)");
        /* The threads are stuck inside the library: report and leave. */
        i = check_summary("test_threads");
        fflush(stdout);
        _exit(i);
    }
    for (i = 0; i < 2; i++) pthread_join(th[i], NULL);
    CHECK(cross_rc[0] == 0 || cross_rc[0] == -1);
    CHECK(cross_rc[1] == 0 || cross_rc[1] == -1);
    CHECK(key_equals(cross_kv, 1, 1, 4, 1.0f + (cross_rc[1] == 0 ? 1.0f : 0.0f)));
    CHECK(key_equals(cross_kv, 2, 1, 4, 1.0f + (cross_rc[0] == 0 ? 1.0f : 0.0f)));
    MXNDArrayFree(zero[0]);
    MXNDArrayFree(zero[1]);
    CHECK_OK(MXKVStoreFree(cross_kv));
    pthread_key_delete(cross_nested);
}

int main(void) {
    CHECK(pthread_key_create(&current_worker, NULL) == 0);
    RUN(test_shared_and_private_keys);
    RUN(test_pull_sees_whole_values_assign);
    RUN(test_pull_sees_whole_values_updater);
    RUN(test_shape_buffer_per_thread);
    RUN(test_reentrant_updater);
    RUN(test_handle_churn);
    RUN(test_handles_freed_during_calls);
    RUN(test_errors_on_many_threads);
    /* Last: on a deadlock it cannot clean up. */
    RUN(test_updaters_push_each_others_key);
    pthread_key_delete(current_worker);
    return check_summary("test_threads");
}
