/*
 * bench.c — the benchmark of spec §5: mxkv's local store against a plain C
 * baseline that moves the same bytes, measured in the same run.
 *
 * Cases (float32 throughout):
 *   small            push + pull of one key of 1000 elements (one value, one
 *                    output); baseline: two memcpy.  Target: <= 1 us absolute.
 *   sum n=… D=…      one MXKVStorePush of D source arrays for one key, then one
 *                    MXKVStorePull into D outputs, n = 1e3, 1e5, 1e6, 16e6 and
 *                    D = 1, 2, 4, 8; baseline: one loop dst[i] = s0[i]+…+s(D-1)[i]
 *                    (memcpy for D = 1) plus D memcpy of dst to the D outputs.
 *                    Target: <= 1.25x the baseline for n >= 1e6.
 *   keys1000         one push call of 1000 keys × 1000 elements (one value
 *                    each) and one pull call of the 1000 keys; baseline: 1000
 *                    memcpy in, 1000 memcpy out.  Target: <= 3x.
 *   +updater rows    the same with a trivial C updater set (wait for recv and
 *                    local, local[i] += recv[i] over the raw data, free both
 *                    handles); baseline: the same bytes plus the same loop.
 *                    "added/key" = (mxkv with updater − mxkv without − the
 *                    loop alone) per key, from runs interleaved in the same
 *                    repetition.  Target: <= 1 us per key.  For n = 1e6 that
 *                    figure is below the timing noise of a multi-millisecond
 *                    repetition, so those rows are judged by the large-array
 *                    ratio (<= 1.25x) and show the added cost for information.
 *
 *   sgd_mom 1e6, adam 1e6
 *                    one MXKVOptimizerUpdate of sgd_mom_update / adam_update on
 *                    1e6 float32 (lr 0.01, momentum 0.9, wd 1e-4, rescale_grad
 *                    0.5; Adam's defaults); baseline: a plain C loop doing the
 *                    same arithmetic on the same arrays' memory.  Targets:
 *                    <= 1.25x (SGD with momentum), <= 1.5x (Adam).
 *
 * Method: every case is warmed up, then timed for several repetitions (15;
 * 5 for n = 16e6; fewer with --quick) with clock_gettime(CLOCK_MONOTONIC).
 * A repetition runs the operation many times when it is short and reports
 * the time per operation.  mxkv and baseline runs alternate within each
 * repetition (their order alternates too), so both see the same machine
 * state.  The baseline reads the very same source arrays and writes the very
 * same output arrays as mxkv (their memory, obtained with MXNDArrayGetData);
 * only the stored value has its own buffer.  All buffers are written before
 * timing, so page faults of first touch are not measured.  A compiler
 * barrier after each baseline step keeps the optimiser from removing work,
 * and a checksum of the baseline results is printed at the end.  After each
 * case, mxkv's pulled outputs are compared with the exact expected values
 * (the data are small integers, so float sums are exact).
 *
 * Output: an aligned table (median [min-max] per repetition, ratio
 * mxkv/baseline, target, PASS/MISS) and one machine-readable line per case:
 *   BENCH case=<name> n=<elements> D=<sources> keys=<k> mxkv_us=<median>
 *         mxkv_min_us=… mxkv_max_us=… base_us=… base_min_us=… base_max_us=…
 *         ratio=… [added_us_per_key=…] target=… status=PASS|MISS|INFO
 *
 * Usage:  bench [--quick]
 * Exit status: 0 whatever the figures (this is a measurement, not a test);
 *              1 if an API call fails or mxkv returns wrong values.
 */
#define _POSIX_C_SOURCE 200112L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mxkv.h>

enum {
    MAX_SOURCES = 8,
    NUM_KEYS_MANY = 1000,
    SMALL_N = 1000,
    DEV_CPU = 1,
    DTYPE_FLOAT32 = 0,
    MAX_REPS = 64,
    MAX_JOBS = 4,
    MAX_ROWS = 64
};

#define CHECK(call)                                                            \
    do {                                                                       \
        if ((call) != 0) {                                                     \
            fprintf(stderr, "bench: %s failed (line %d):\n%s\n", #call,        \
                    __LINE__, MXGetLastError());                               \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

/* Tell the compiler that memory may have been read: the baseline's copies and
 * loops must really happen, in every iteration. */
#if defined(__GNUC__)
#define CLOBBER() __asm__ __volatile__("" : : : "memory")
#define NOINLINE __attribute__((noinline))
#else
static void (*volatile clobber_hook)(void);
static void clobber_nothing(void) {}
#define CLOBBER() (clobber_hook = clobber_nothing, clobber_hook())
#define NOINLINE
#endif

static void fail(const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    exit(1);
}

static void *xalloc(size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0)
        fail("out of memory");
    memset(p, 0, bytes); /* first touch happens here, not while timing */
    return p;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---- the C loops shared by the baseline and the updater ---- */

/* store[i] += recv[i]: the whole work of the trivial updater. */
static NOINLINE void add_into(float *restrict store, const float *restrict recv, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        store[i] += recv[i];
}

/* dst[i] = src[0][i] + … + src[count-1][i] in one pass. */
static NOINLINE void sum_sources(float *restrict dst, const float *const *src, int count,
                                 size_t n)
{
    size_t i;
    int d;
    if (count == 1) {
        memcpy(dst, src[0], n * sizeof(float));
    } else if (count == 2) {
        const float *restrict a = src[0], *restrict b = src[1];
        for (i = 0; i < n; i++)
            dst[i] = a[i] + b[i];
    } else if (count == 4) {
        const float *restrict a = src[0], *restrict b = src[1];
        const float *restrict c = src[2], *restrict e = src[3];
        for (i = 0; i < n; i++)
            dst[i] = a[i] + b[i] + c[i] + e[i];
    } else if (count == 8) {
        const float *restrict a = src[0], *restrict b = src[1];
        const float *restrict c = src[2], *restrict e = src[3];
        const float *restrict f = src[4], *restrict g = src[5];
        const float *restrict h = src[6], *restrict k = src[7];
        for (i = 0; i < n; i++)
            dst[i] = a[i] + b[i] + c[i] + e[i] + f[i] + g[i] + h[i] + k[i];
    } else {
        memcpy(dst, src[0], n * sizeof(float));
        for (d = 1; d < count; d++)
            add_into(dst, src[d], n);
    }
}

/* ---- the trivial C updater ---- */

struct add_updater {
    size_t n; /* elements per key */
    long calls;
    int failed;
};

static void add_update(int key, NDArrayHandle recv, NDArrayHandle local, void *handle)
{
    struct add_updater *upd = handle;
    void *recv_data = NULL, *local_data = NULL;
    (void)key;
    upd->calls++;
    if (MXNDArrayWaitToRead(recv) != 0 || MXNDArrayWaitToRead(local) != 0 ||
        MXNDArrayGetData(recv, &recv_data) != 0 || MXNDArrayGetData(local, &local_data) != 0 ||
        recv_data == NULL || local_data == NULL)
        upd->failed = 1;
    else
        add_into(local_data, recv_data, upd->n);
    if (MXNDArrayFree(recv) != 0)
        upd->failed = 1;
    if (MXNDArrayFree(local) != 0)
        upd->failed = 1;
}

/* ---- arrays ---- */

static NDArrayHandle new_array(size_t n, int dev_id, float **data)
{
    uint32_t shape = (uint32_t)n;
    NDArrayHandle h = NULL;
    void *p = NULL;
    CHECK(MXNDArrayCreateEx(&shape, 1, DEV_CPU, dev_id, 0, DTYPE_FLOAT32, &h));
    CHECK(MXNDArrayGetData(h, &p));
    if (p == NULL)
        fail("MXNDArrayGetData gave NULL for a fresh array");
    *data = p;
    return h;
}

/* Changed before each check, so that a check sees freshly pushed data. */
static int variant;

/* Source d of key k holds small integers, so every sum is exact. */
static float source_value(size_t i, int d, int k)
{
    return (float)((i + (size_t)d * 3 + (size_t)k + (size_t)variant) % 8);
}

/* ---- jobs: one timed operation, run `iters` times ---- */

typedef void (*job_fn)(void *ctx, long iters);

/* mxkv: one push call then one pull call. */
struct kv_job {
    KVStoreHandle kv;
    uint32_t count; /* pairs in the push and in the pull */
    const int *keys;
    NDArrayHandle *push_vals;
    NDArrayHandle *pull_vals;
    struct add_updater *updater; /* checked after each run, if set */
};

static void run_kv(void *ctx, long iters)
{
    struct kv_job *job = ctx;
    long it;
    for (it = 0; it < iters; it++) {
        CHECK(MXKVStorePush(job->kv, job->count, job->keys, job->push_vals, 0));
        CHECK(MXKVStorePull(job->kv, job->count, job->keys, job->pull_vals, 0));
    }
    /* Local stores finish before returning; this keeps the timing honest if not. */
    CHECK(MXNDArrayWaitAll());
    if (job->updater != NULL && job->updater->failed)
        fail("an API call inside the updater failed");
}

/* Baseline: per key, sum the sources into the stored value (or, with an
 * updater, into recv and then store += recv); then copy the stored value to
 * every output. */
struct base_job {
    size_t n;
    int keys, sources;
    const float **src; /* keys × sources */
    float **store;     /* keys */
    float **recv;      /* keys, or NULL without updater */
    float **out;       /* keys × sources */
};

static void run_base(void *ctx, long iters)
{
    struct base_job *job = ctx;
    size_t bytes = job->n * sizeof(float);
    long it;
    int k, d;
    for (it = 0; it < iters; it++) {
        for (k = 0; k < job->keys; k++) {
            const float *const *src = job->src + (size_t)k * job->sources;
            if (job->recv != NULL) {
                sum_sources(job->recv[k], src, job->sources, job->n);
                add_into(job->store[k], job->recv[k], job->n);
            } else {
                sum_sources(job->store[k], src, job->sources, job->n);
            }
        }
        CLOBBER();
        for (k = 0; k < job->keys; k++)
            for (d = 0; d < job->sources; d++)
                memcpy(job->out[(size_t)k * job->sources + d], job->store[k], bytes);
        CLOBBER();
    }
}

/* The updater's own work alone: store += recv for every key. */
static void run_loop(void *ctx, long iters)
{
    struct base_job *job = ctx;
    long it;
    int k;
    for (it = 0; it < iters; it++) {
        for (k = 0; k < job->keys; k++)
            add_into(job->store[k], job->recv[k], job->n);
        CLOBBER();
    }
}

/* ---- timing ---- */

struct stats {
    double median, min, max; /* ns per operation */
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static struct stats summarize(const double *times, int reps)
{
    double sorted[MAX_REPS];
    struct stats s;
    memcpy(sorted, times, (size_t)reps * sizeof(double));
    qsort(sorted, (size_t)reps, sizeof(double), cmp_double);
    s.min = sorted[0];
    s.max = sorted[reps - 1];
    s.median = reps % 2 ? sorted[reps / 2] : (sorted[reps / 2 - 1] + sorted[reps / 2]) / 2.0;
    return s;
}

/*
 * Runs `count` jobs `warmups` times, then `reps` timed repetitions; within a
 * repetition every job runs once, in an order that rotates from one
 * repetition to the next.  times[j][r] = ns per operation.
 */
static void measure(int count, job_fn *fns, void **ctxs, long iters, int warmups, int reps,
                    double (*times)[MAX_REPS])
{
    int w, r, j;
    for (w = 0; w < warmups; w++)
        for (j = 0; j < count; j++)
            fns[j](ctxs[j], iters);
    for (r = 0; r < reps; r++) {
        for (j = 0; j < count; j++) {
            int job = (j + r) % count;
            double start = now_ns();
            fns[job](ctxs[job], iters);
            times[job][r] = (now_ns() - start) / (double)iters;
        }
    }
}

/* ---- results ---- */

struct row {
    char id[40];   /* machine-readable, no spaces */
    char name[40];
    size_t n;
    int sources, keys;
    struct stats mxkv, base;
    double ratio;
    int has_added;
    double added_us; /* per key */
    char target[24];
    const char *status;
};

static struct row rows[MAX_ROWS];
static int num_rows;
static double checksum;
static int quick;

static void fold_checksum(const float *p, size_t n)
{
    checksum += p[0] + p[n / 2] + p[n - 1];
}

static void format_time(char *buf, size_t size, double ns, double unit_of)
{
    if (unit_of < 1e3)
        snprintf(buf, size, "%.0f", ns);
    else if (unit_of < 1e6)
        snprintf(buf, size, "%.2f", ns / 1e3);
    else
        snprintf(buf, size, "%.3f", ns / 1e6);
}

static void format_stats(char *buf, size_t size, struct stats s)
{
    char med[24], lo[24], hi[24];
    const char *unit = s.median < 1e3 ? "ns" : s.median < 1e6 ? "us" : "ms";
    format_time(med, sizeof med, s.median, s.median);
    format_time(lo, sizeof lo, s.min, s.median);
    format_time(hi, sizeof hi, s.max, s.median);
    snprintf(buf, size, "%s %s [%s-%s]", med, unit, lo, hi);
}

static struct row *add_row(const char *id, const char *name, size_t n, int sources, int keys,
                           const double *mxkv_times, const double *base_times, int reps)
{
    struct row *row;
    if (num_rows == MAX_ROWS)
        fail("too many result rows");
    row = &rows[num_rows++];
    memset(row, 0, sizeof *row);
    snprintf(row->id, sizeof row->id, "%s", id);
    snprintf(row->name, sizeof row->name, "%s", name);
    row->n = n;
    row->sources = sources;
    row->keys = keys;
    row->mxkv = summarize(mxkv_times, reps);
    row->base = summarize(base_times, reps);
    row->ratio = row->mxkv.median / row->base.median;
    snprintf(row->target, sizeof row->target, "-");
    row->status = "INFO";
    return row;
}

static void print_bench_line(const struct row *row)
{
    printf("BENCH case=%s n=%lu D=%d keys=%d mxkv_us=%.4f mxkv_min_us=%.4f mxkv_max_us=%.4f "
           "base_us=%.4f base_min_us=%.4f base_max_us=%.4f ratio=%.3f",
           row->id, (unsigned long)row->n, row->sources, row->keys, row->mxkv.median / 1e3,
           row->mxkv.min / 1e3, row->mxkv.max / 1e3, row->base.median / 1e3,
           row->base.min / 1e3, row->base.max / 1e3, row->ratio);
    if (row->has_added)
        printf(" added_us_per_key=%.4f", row->added_us);
    printf(" target=%s status=%s\n", row->target, row->status);
    fflush(stdout);
}

static void print_table(void)
{
    int i;
    printf("\n%-22s %-30s %-30s %7s %11s %-13s %s\n", "case", "mxkv median [min-max]",
           "baseline median [min-max]", "ratio", "added/key", "target", "status");
    for (i = 0; i < num_rows; i++) {
        const struct row *row = &rows[i];
        char mx[96], base[96], added[32];
        format_stats(mx, sizeof mx, row->mxkv);
        format_stats(base, sizeof base, row->base);
        if (row->has_added)
            snprintf(added, sizeof added, "%+.3f us", row->added_us);
        else
            snprintf(added, sizeof added, "-");
        printf("%-22s %-30s %-30s %6.2fx %11s %-13s %s\n", row->name, mx, base, row->ratio,
               added, row->target, row->status);
    }
}

/* ---- a case's arrays: `keys` keys, `sources` sources and outputs per key ---- */

struct setup {
    size_t n;
    int keys, sources;
    KVStoreHandle kv_plain, kv_updater;
    struct add_updater updater;
    int *key_list;              /* keys × sources: 0,0,…,1,1,… */
    NDArrayHandle *src, *out;   /* keys × sources */
    float **src_data, **out_data;
    float **store, **recv;      /* baseline stand-ins, keys */
};

static void fill_sources(struct setup *s)
{
    size_t pairs = (size_t)s->keys * s->sources, p, i;
    for (p = 0; p < pairs; p++) {
        int k = (int)(p / (size_t)s->sources), d = (int)(p % (size_t)s->sources);
        for (i = 0; i < s->n; i++)
            s->src_data[p][i] = source_value(i, d, k);
    }
}

/* Outputs get a value no pull would give, so a check sees that the pull wrote them. */
static void poison_outputs(struct setup *s)
{
    size_t pairs = (size_t)s->keys * s->sources, p, i;
    for (p = 0; p < pairs; p++)
        for (i = 0; i < s->n; i++)
            s->out_data[p][i] = -1.0f;
}

static KVStoreHandle new_store(const struct setup *s)
{
    KVStoreHandle kv = NULL;
    int *keys = calloc((size_t)s->keys, sizeof(int));
    NDArrayHandle *init = calloc((size_t)s->keys, sizeof(NDArrayHandle));
    int k;
    if (keys == NULL || init == NULL)
        fail("out of memory");
    CHECK(MXKVStoreCreate("local", &kv));
    for (k = 0; k < s->keys; k++) {
        keys[k] = k;
        init[k] = s->src[(size_t)k * s->sources]; /* init deep-copies */
    }
    CHECK(MXKVStoreInit(kv, (uint32_t)s->keys, keys, init));
    free(keys);
    free(init);
    return kv;
}

static void setup_case(struct setup *s, size_t n, int keys, int sources, int with_updater)
{
    size_t pairs = (size_t)keys * sources, p;
    memset(s, 0, sizeof *s);
    s->n = n;
    s->keys = keys;
    s->sources = sources;
    s->key_list = calloc(pairs, sizeof(int));
    s->src = calloc(pairs, sizeof(NDArrayHandle));
    s->out = calloc(pairs, sizeof(NDArrayHandle));
    s->src_data = calloc(pairs, sizeof(float *));
    s->out_data = calloc(pairs, sizeof(float *));
    s->store = calloc((size_t)keys, sizeof(float *));
    s->recv = calloc((size_t)keys, sizeof(float *));
    if (!s->key_list || !s->src || !s->out || !s->src_data || !s->out_data || !s->store ||
        !s->recv)
        fail("out of memory");
    for (p = 0; p < pairs; p++) {
        int k = (int)(p / (size_t)sources), d = (int)(p % (size_t)sources);
        s->key_list[p] = k;
        s->src[p] = new_array(n, d, &s->src_data[p]);
        s->out[p] = new_array(n, d, &s->out_data[p]);
        memset(s->out_data[p], 0, n * sizeof(float));
    }
    fill_sources(s);
    for (p = 0; p < (size_t)keys; p++) {
        s->store[p] = xalloc(n * sizeof(float));
        s->recv[p] = with_updater ? xalloc(n * sizeof(float)) : NULL;
    }
    s->kv_plain = new_store(s);
    if (with_updater) {
        s->kv_updater = new_store(s);
        s->updater.n = n;
        CHECK(MXKVStoreSetUpdater(s->kv_updater, add_update, &s->updater));
    }
}

static void teardown_case(struct setup *s)
{
    size_t pairs = (size_t)s->keys * s->sources, p;
    for (p = 0; p < (size_t)s->keys; p++) {
        fold_checksum(s->store[p], s->n);
        free(s->store[p]);
        free(s->recv[p]);
    }
    for (p = 0; p < pairs; p++) {
        fold_checksum(s->out_data[p], s->n);
        CHECK(MXNDArrayFree(s->src[p]));
        CHECK(MXNDArrayFree(s->out[p]));
    }
    CHECK(MXKVStoreFree(s->kv_plain));
    if (s->kv_updater != NULL)
        CHECK(MXKVStoreFree(s->kv_updater));
    free(s->key_list);
    free(s->src);
    free(s->out);
    free(s->src_data);
    free(s->out_data);
    free(s->store);
    free(s->recv);
}

static struct kv_job kv_job_for(struct setup *s, KVStoreHandle kv, int used_sources)
{
    struct kv_job job;
    job.kv = kv;
    job.count = (uint32_t)((size_t)s->keys * (size_t)used_sources);
    job.keys = s->key_list;
    job.push_vals = s->src;
    job.pull_vals = s->out;
    job.updater = kv == s->kv_updater ? &s->updater : NULL;
    return job;
}

static struct base_job base_job_for(struct setup *s, int used_sources, int with_updater)
{
    struct base_job job;
    job.n = s->n;
    job.keys = s->keys;
    job.sources = used_sources;
    job.src = (const float **)s->src_data;
    job.store = s->store;
    job.recv = with_updater ? s->recv : NULL;
    job.out = s->out_data;
    return job;
}

/* Pull every key into its first `sources` outputs and compare with `expect(i, key)`. */
static void verify_outputs(const struct setup *s, int sources, const char *name,
                           float (*expect)(const struct setup *, size_t, int, int))
{
    size_t i;
    int k, d;
    for (k = 0; k < s->keys; k++)
        for (d = 0; d < sources; d++) {
            const float *out = s->out_data[(size_t)k * s->sources + d];
            for (i = 0; i < s->n; i++)
                if (out[i] != expect(s, i, k, sources)) {
                    fprintf(stderr,
                            "bench: %s: wrong value pulled: key %d output %d element %lu = %g, "
                            "expected %g\n",
                            name, k, d, (unsigned long)i, (double)out[i],
                            (double)expect(s, i, k, sources));
                    exit(1);
                }
        }
}

static float expect_sum(const struct setup *s, size_t i, int key, int sources)
{
    float sum = 0.0f;
    int d;
    (void)s;
    for (d = 0; d < sources; d++)
        sum += source_value(i, d, key);
    return sum;
}

/* Used by the updater check: outputs hold the previous value, expected = it + sum. */
static const float *previous_value;

static float expect_previous_plus_sum(const struct setup *s, size_t i, int key, int sources)
{
    return previous_value[(size_t)key * s->n + i] + expect_sum(s, i, key, sources);
}

/* With new source data, one push + pull through the plain store must give
 * the sum in every output; through the updater store, the previous value
 * plus the sum. */
static void check_results(struct setup *s, int sources, const char *name)
{
    struct kv_job job = kv_job_for(s, s->kv_plain, sources);
    variant++;
    fill_sources(s);
    poison_outputs(s);
    run_kv(&job, 1);
    verify_outputs(s, sources, name, expect_sum);
    if (s->kv_updater != NULL) {
        size_t k;
        float *before = malloc((size_t)s->keys * s->n * sizeof(float));
        long calls = s->updater.calls;
        if (before == NULL)
            fail("out of memory");
        job = kv_job_for(s, s->kv_updater, sources);
        CHECK(MXKVStorePull(job.kv, job.count, job.keys, job.pull_vals, 0));
        for (k = 0; k < (size_t)s->keys; k++)
            memcpy(before + k * s->n, s->out_data[k * (size_t)s->sources], s->n * sizeof(float));
        poison_outputs(s);
        run_kv(&job, 1);
        if (s->updater.calls - calls != s->keys) {
            fprintf(stderr, "bench: %s: updater ran %ld times for one push of %d keys\n", name,
                    s->updater.calls - calls, s->keys);
            exit(1);
        }
        previous_value = before;
        verify_outputs(s, sources, name, expect_previous_plus_sum);
        previous_value = NULL;
        free(before);
    }
}

/* 1000 → "1e3", 16000000 → "16e6". */
static void format_count(char *buf, size_t size, size_t n)
{
    int exponent = 0;
    while (n >= 10 && n % 10 == 0) {
        n /= 10;
        exponent++;
    }
    snprintf(buf, size, "%lue%d", (unsigned long)n, exponent);
}

static int reps_for(size_t n)
{
    if (quick)
        return n >= 16000000 ? 2 : 3;
    return n >= 16000000 ? 5 : 15;
}

/* Enough operations per repetition for it to last a few milliseconds. */
static long iters_for(size_t bytes_moved, long small_ops)
{
    long iters = (long)(32e6 / (double)bytes_moved);
    if (small_ops > 0 && iters < small_ops)
        iters = small_ops;
    if (quick)
        iters /= 10;
    return iters < 1 ? 1 : iters;
}

/* ---- the cases ---- */

static void case_small(void)
{
    struct setup s;
    struct kv_job kv_plain, kv_upd;
    struct base_job base_plain, base_upd;
    job_fn fns[MAX_JOBS] = {run_kv, run_base, run_kv, run_base};
    void *ctxs[MAX_JOBS];
    static double t[MAX_JOBS][MAX_REPS], loop_t[1][MAX_REPS], added[MAX_REPS];
    job_fn loop_fn[1] = {run_loop};
    void *loop_ctx[1];
    int reps = reps_for(SMALL_N), r;
    long iters = quick ? 2000 : 20000;
    struct row *row;

    setup_case(&s, SMALL_N, 1, 1, 1);
    check_results(&s, 1, "small");
    kv_plain = kv_job_for(&s, s.kv_plain, 1);
    kv_upd = kv_job_for(&s, s.kv_updater, 1);
    base_plain = base_job_for(&s, 1, 0);
    base_upd = base_job_for(&s, 1, 1);
    ctxs[0] = &kv_plain;
    ctxs[1] = &base_plain;
    ctxs[2] = &kv_upd;
    ctxs[3] = &base_upd;
    loop_ctx[0] = &base_upd;

    measure(4, fns, ctxs, iters, 2, reps, t);
    measure(1, loop_fn, loop_ctx, iters, 2, reps, loop_t);

    row = add_row("small", "small", SMALL_N, 1, 1, t[0], t[1], reps);
    snprintf(row->target, sizeof row->target, "<=1us");
    row->status = row->mxkv.median <= 1000.0 ? "PASS" : "MISS";
    print_bench_line(row);

    for (r = 0; r < reps; r++)
        added[r] = t[2][r] - t[0][r] - summarize(loop_t[0], reps).median;
    row = add_row("small_updater", "small+updater", SMALL_N, 1, 1, t[2], t[3], reps);
    row->has_added = 1;
    row->added_us = summarize(added, reps).median / 1e3;
    snprintf(row->target, sizeof row->target, "+<=1us/key");
    row->status = row->added_us <= 1.0 ? "PASS" : "MISS";
    print_bench_line(row);
    check_results(&s, 1, "small+updater");
    teardown_case(&s);
}

static void case_sums(size_t n, int with_updater_at_1e6)
{
    static const int source_counts[] = {1, 2, 4, 8};
    struct setup s;
    unsigned c;
    int with_updater = with_updater_at_1e6 && n == 1000000;

    setup_case(&s, n, 1, MAX_SOURCES, with_updater);
    for (c = 0; c < sizeof source_counts / sizeof source_counts[0]; c++) {
        int sources = source_counts[c], reps = reps_for(n), r;
        long iters = iters_for(n * sizeof(float) * (size_t)(2 * sources + 1), 0);
        int warmups = n >= 16000000 ? 1 : 2;
        static double t[MAX_JOBS][MAX_REPS];
        struct kv_job kv_plain = kv_job_for(&s, s.kv_plain, sources);
        struct base_job base_plain = base_job_for(&s, sources, 0);
        job_fn fns[MAX_JOBS] = {run_kv, run_base, run_kv, run_base};
        void *ctxs[MAX_JOBS];
        char id[40], name[40], count[16];
        struct row *row;

        ctxs[0] = &kv_plain;
        ctxs[1] = &base_plain;
        measure(2, fns, ctxs, iters, warmups, reps, t);
        check_results(&s, sources, "sum");
        format_count(count, sizeof count, n);
        snprintf(name, sizeof name, "sum n=%s D=%d", count, sources);
        snprintf(id, sizeof id, "sum_n%s_D%d", count, sources);
        row = add_row(id, name, n, sources, 1, t[0], t[1], reps);
        if (n >= 1000000) {
            snprintf(row->target, sizeof row->target, "<=1.25x");
            row->status = row->ratio <= 1.25 ? "PASS" : "MISS";
        }
        print_bench_line(row);

        if (with_updater && (sources == 1 || sources == 4)) {
            static double loop_t[1][MAX_REPS], added[MAX_REPS], u[MAX_JOBS][MAX_REPS];
            struct kv_job kv_upd = kv_job_for(&s, s.kv_updater, sources);
            struct base_job base_upd = base_job_for(&s, sources, 1);
            job_fn loop_fn[1] = {run_loop};
            void *loop_ctx[1];
            double loop_median;

            /* The plain store is timed again beside the updater store, so that
             * the difference comes from the same repetitions. */
            ctxs[2] = &kv_upd;
            ctxs[3] = &base_upd;
            loop_ctx[0] = &base_upd;
            measure(4, fns, ctxs, iters, warmups, reps, u);
            measure(1, loop_fn, loop_ctx, iters, warmups, reps, loop_t);
            loop_median = summarize(loop_t[0], reps).median;
            for (r = 0; r < reps; r++)
                added[r] = u[2][r] - u[0][r] - loop_median;
            snprintf(name, sizeof name, "sum n=%s D=%d+updater", count, sources);
            snprintf(id, sizeof id, "sum_n%s_D%d_updater", count, sources);
            row = add_row(id, name, n, sources, 1, u[2], u[3], reps);
            row->has_added = 1;
            row->added_us = summarize(added, reps).median / 1e3;
            snprintf(row->target, sizeof row->target, "<=1.25x");
            row->status = row->ratio <= 1.25 ? "PASS" : "MISS";
            print_bench_line(row);
            check_results(&s, sources, "sum+updater");
        }
    }
    teardown_case(&s);
}

static void case_many_keys(void)
{
    struct setup s;
    struct kv_job kv_plain, kv_upd;
    struct base_job base_plain, base_upd;
    job_fn fns[MAX_JOBS] = {run_kv, run_base, run_kv, run_base};
    void *ctxs[MAX_JOBS];
    static double t[MAX_JOBS][MAX_REPS], loop_t[1][MAX_REPS], added[MAX_REPS];
    job_fn loop_fn[1] = {run_loop};
    void *loop_ctx[1];
    int reps = reps_for(SMALL_N), r;
    long iters = iters_for((size_t)NUM_KEYS_MANY * SMALL_N * sizeof(float) * 2, 0);
    double loop_median;
    struct row *row;

    setup_case(&s, SMALL_N, NUM_KEYS_MANY, 1, 1);
    check_results(&s, 1, "keys1000");
    kv_plain = kv_job_for(&s, s.kv_plain, 1);
    kv_upd = kv_job_for(&s, s.kv_updater, 1);
    base_plain = base_job_for(&s, 1, 0);
    base_upd = base_job_for(&s, 1, 1);
    ctxs[0] = &kv_plain;
    ctxs[1] = &base_plain;
    ctxs[2] = &kv_upd;
    ctxs[3] = &base_upd;
    loop_ctx[0] = &base_upd;

    measure(4, fns, ctxs, iters, 2, reps, t);
    measure(1, loop_fn, loop_ctx, iters, 2, reps, loop_t);

    row = add_row("keys1000", "keys1000", SMALL_N, 1, NUM_KEYS_MANY, t[0], t[1], reps);
    snprintf(row->target, sizeof row->target, "<=3x");
    row->status = row->ratio <= 3.0 ? "PASS" : "MISS";
    print_bench_line(row);

    loop_median = summarize(loop_t[0], reps).median;
    for (r = 0; r < reps; r++)
        added[r] = (t[2][r] - t[0][r] - loop_median) / NUM_KEYS_MANY;
    row = add_row("keys1000_updater", "keys1000+updater", SMALL_N, 1, NUM_KEYS_MANY, t[2], t[3], reps);
    row->has_added = 1;
    row->added_us = summarize(added, reps).median / 1e3;
    snprintf(row->target, sizeof row->target, "+<=1us/key");
    row->status = row->added_us <= 1.0 ? "PASS" : "MISS";
    print_bench_line(row);
    check_results(&s, 1, "keys1000+updater");
    teardown_case(&s);
}

/* ---- optimizers: one update operator call against the same loop in C ---- */

struct opt_job {
    const char *op;
    NDArrayHandle arrays[4];
    float *data[4]; /* weight, grad, state, state */
    size_t n;
    int adam;
};

static const char *const opt_keys[] = {"lr", "momentum", "wd", "rescale_grad"};
static const char *const opt_vals[] = {"0.01", "0.9", "0.0001", "0.5"};
static const char *const adam_keys[] = {"lr", "wd", "rescale_grad"};
static const char *const adam_vals[] = {"0.01", "0.0001", "0.5"};

static void run_opt_kv(void *ctx, long iters)
{
    struct opt_job *j = ctx;
    long it;
    for (it = 0; it < iters; it++) {
        if (j->adam)
            CHECK(MXKVOptimizerUpdate(j->op, 4, j->arrays, 3, (const char **)adam_keys,
                                      (const char **)adam_vals));
        else
            CHECK(MXKVOptimizerUpdate(j->op, 3, j->arrays, 4, (const char **)opt_keys,
                                      (const char **)opt_vals));
    }
}

/* sgd_mom_update's arithmetic: mom = momentum*mom - lr*wd*w - lr*rescale*g; w += mom. */
static NOINLINE void sgd_mom_loop(float *restrict w, const float *restrict g, float *restrict mom,
                                  size_t n)
{
    const float lr = 0.01f, momentum = 0.9f, wd = 0.0001f, rescale = 0.5f;
    size_t i;
    for (i = 0; i < n; i++) {
        mom[i] = momentum * mom[i] - lr * wd * w[i] - lr * rescale * g[i];
        w[i] = w[i] + mom[i];
    }
}

/* adam_update's arithmetic (beta1 0.9, beta2 0.999, epsilon 1e-8). Without errno
 * handling for sqrtf (never negative here), so that the loop vectorises as mxkv's does. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-math-errno")))
#endif
static NOINLINE void adam_loop(float *restrict w, const float *restrict g, float *restrict mean,
                               float *restrict var, size_t n)
{
    const float lr = 0.01f, wd = 0.0001f, rescale = 0.5f, beta1 = 0.9f, beta2 = 0.999f,
                eps = 1e-8f;
    size_t i;
    for (i = 0; i < n; i++) {
        float grad = g[i] * rescale + w[i] * wd;
        mean[i] = beta1 * mean[i] + (1.f - beta1) * grad;
        var[i] = beta2 * var[i] + (1.f - beta2) * grad * grad;
        w[i] = w[i] - lr * mean[i] / (sqrtf(var[i]) + eps);
    }
}

static void run_opt_base(void *ctx, long iters)
{
    struct opt_job *j = ctx;
    long it;
    for (it = 0; it < iters; it++) {
        if (j->adam)
            adam_loop(j->data[0], j->data[1], j->data[2], j->data[3], j->n);
        else
            sgd_mom_loop(j->data[0], j->data[1], j->data[2], j->n);
        CLOBBER();
    }
    fold_checksum(j->data[0], j->n);
}

static void case_optimizer(const char *op, int adam, double target)
{
    const size_t n = 1000000;
    struct opt_job mx, base;
    job_fn fns[2] = {run_opt_kv, run_opt_base};
    void *ctxs[2] = {&mx, &base};
    static double t[MAX_JOBS][MAX_REPS];
    int reps = reps_for(n), k, arrays = adam ? 4 : 3;
    long iters = iters_for(n * sizeof(float) * (size_t)(2 * arrays - 1), 0);
    size_t i;
    struct row *row;
    char id[32];

    memset(&mx, 0, sizeof mx);
    mx.op = op;
    mx.n = n;
    mx.adam = adam;
    base = mx;
    for (k = 0; k < arrays; k++) {
        mx.arrays[k] = new_array(n, 0, &mx.data[k]);
        base.arrays[k] = new_array(n, 0, &base.data[k]);
        for (i = 0; i < n; i++) {
            float v = k == 1 ? (float)(i % 13) - 6.0f : k == 3 ? 1.0f : (float)(i % 7) * 0.1f;
            mx.data[k][i] = v;
            base.data[k][i] = v;
        }
    }
    /* One step each: mxkv's result must be the loop's, bit for bit. */
    run_opt_kv(&mx, 1);
    run_opt_base(&base, 1);
    for (k = 0; k < arrays; k++)
        if (memcmp(mx.data[k], base.data[k], n * sizeof(float)) != 0)
            fail("an optimizer update differs from the plain C loop");

    measure(2, fns, ctxs, iters, 2, reps, t);
    snprintf(id, sizeof id, "%s_1e6", adam ? "adam" : "sgd_mom");
    row = add_row(id, adam ? "adam 1e6" : "sgd_mom 1e6", n, 1, 1, t[0], t[1], reps);
    snprintf(row->target, sizeof row->target, "<=%.2fx", target);
    row->status = row->ratio <= target ? "PASS" : "MISS";
    print_bench_line(row);
    for (k = 0; k < arrays; k++) {
        MXNDArrayFree(mx.arrays[k]);
        MXNDArrayFree(base.arrays[k]);
    }
}

static void case_optimizers(void)
{
    case_optimizer("sgd_mom_update", 0, 1.25);
    case_optimizer("adam_update", 1, 1.5);
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {1000, 100000, 1000000, 16000000};
    int version = 0, i;
    unsigned c;
    const char *cc_flags =
#if defined(__OPTIMIZE__)
        "optimised";
#else
        "NOT optimised";
#endif

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else {
            fprintf(stderr, "usage: bench [--quick]\n");
            return 2;
        }
    }

    CHECK(MXKVGetVersion(&version));
    printf("mxkv %d.%d.%d benchmark: local store vs plain C over the same bytes "
           "(float32, %s build, %ld cpus%s)\n",
           version / 10000, version / 100 % 100, version % 100, cc_flags,
           sysconf(_SC_NPROCESSORS_ONLN), quick ? ", --quick" : "");
    printf("times are per push+pull (one push call and one pull call); "
           "median [min-max] over repetitions\n"
           "the baseline is single-threaded plain C; mxkv may spread large arrays over "
           "several threads\n");
    fflush(stdout);

    case_small();
    for (c = 0; c < sizeof sizes / sizeof sizes[0]; c++)
        case_sums(sizes[c], 1);
    case_many_keys();
    case_optimizers();

    print_table();
    printf("\nchecksum %.6g\n", checksum);
    return 0;
}
