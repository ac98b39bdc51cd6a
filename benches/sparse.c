/*
 * sparse.c — the row_sparse rows of the benchmark (spec §5): a store holding a table of
 * R = 1e6 rows × 64 float32 as a row_sparse value (every row stored), and calls that touch
 * k = 1 % of its rows, against a plain C loop over the same rows, in the same run.
 *
 * Cases:
 *   rsp pull         MXKVStorePullRowSparse of k rows (sorted random int64 ids) into a
 *                    row_sparse output; baseline: a C gather of the k rows (memcpy of each
 *                    row from the table) and of their ids.  Target: <= 2x.
 *   rsp push+upd     MXKVStorePush of a row_sparse gradient of k rows with a C updater
 *                    that adds recv's rows into the stored table (local[id] += recv[i]);
 *                    baseline: the same scatter-add loop over the same rows.  Target: <= 2x.
 *   rsp push         MXKVStorePush of k rows without an updater (the stored value becomes
 *                    those rows, MXNet's assign); baseline: a C scatter (memcpy of each row
 *                    into the table) and a copy of the ids.  Target: <= 2x.
 *   dense pull (R)   for scale: MXKVStorePull of the whole table from a store holding it dense,
 *                    against one memcpy of the table: what the k-row calls save.
 *
 * Method: each case is warmed up, then timed for 11 repetitions (5 with --quick); mxkv and
 * the baseline alternate call by call within a repetition. Every buffer is written before timing. After
 * the timing, the pulled rows and the updated table are checked against the C results.
 * Output: a table (median [min-max], ratio mxkv/baseline, target, PASS/MISS) and one line
 * per case: BENCH case=<id> rows=<R> k=<k> mxkv_us=… base_us=… ratio=… target=… status=…
 * Exit status: 0 whatever the figures; 1 if an API call fails or a result is wrong.
 */
#define _POSIX_C_SOURCE 200112L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mxkv.h>

enum { COLS = 64, MAX_REPS = 16, ST_RSP = 1, DT_F32 = 0, DT_I64 = 6 };

#define CHECK(call)                                                                    \
    do {                                                                               \
        if ((call) != 0) {                                                             \
            fprintf(stderr, "bench: %s failed (line %d):\n%s\n", #call, __LINE__,      \
                    MXGetLastError());                                                 \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#define CLOBBER() __asm__ __volatile__("" : : : "memory")

static size_t rows_total = 1000000, k_rows = 10000;
static int reps = 11;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void *xalloc(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    memset(p, 0, bytes);
    return p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct stats {
    double median, min, max;
};

static struct stats summarize(double *t, int n) {
    struct stats s;
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    s.min = t[0];
    s.max = t[n - 1];
    s.median = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
    return s;
}

typedef void job_fn(void *ctx);

/* Times two jobs, `reps` repetitions of `iters` runs each (ns per run). The two alternate run
 * by run, so that both meet the same machine state (other processes, caches). */
static void measure(job_fn *kv, void *kv_ctx, job_fn *base, void *base_ctx, int iters,
                    struct stats *kv_s, struct stats *base_s) {
    double tk[MAX_REPS], tb[MAX_REPS];
    int r, i;
    kv(kv_ctx);
    base(base_ctx);
    for (r = 0; r < reps; r++) {
        tk[r] = tb[r] = 0;
        for (i = 0; i < iters; i++) {
            int kv_first = (r + i) % 2 == 0, j;
            for (j = 0; j < 2; j++) {
                int run_kv = (j == 0) == kv_first;
                double t0 = now_ns();
                if (run_kv) kv(kv_ctx);
                else base(base_ctx);
                (run_kv ? tk : tb)[r] += now_ns() - t0;
            }
        }
        tk[r] /= iters;
        tb[r] /= iters;
    }
    *kv_s = summarize(tk, reps);
    *base_s = summarize(tb, reps);
}

static void report(const char *id, const char *name, struct stats kv, struct stats base,
                   double target) {
    double ratio = kv.median / base.median;
    const char *status = target > 0 ? (ratio <= target ? "PASS" : "MISS") : "INFO";
    char tgt[16];
    if (target > 0) snprintf(tgt, sizeof tgt, "<= %.0fx", target);
    else snprintf(tgt, sizeof tgt, "-");
    printf("%-16s %10.1f us [%.1f-%.1f]   %10.1f us [%.1f-%.1f]   %6.2fx  %-7s %s\n", name,
           kv.median / 1e3, kv.min / 1e3, kv.max / 1e3, base.median / 1e3, base.min / 1e3,
           base.max / 1e3, ratio, tgt, status);
    printf("BENCH case=%s rows=%lu k=%lu mxkv_us=%.3f base_us=%.3f ratio=%.3f target=%s "
           "status=%s\n",
           id, (unsigned long)rows_total, (unsigned long)k_rows, kv.median / 1e3,
           base.median / 1e3, ratio, target > 0 ? tgt + 3 : "-", status);
    fflush(stdout);
}

/* ---- arrays ------------------------------------------------------------------------ */

static NDArrayHandle dense(const size_t *dims, int ndim, int dtype, const void *values) {
    NDArrayHandle h;
    int64_t shape[2];
    size_t n = 1;
    int i;
    for (i = 0; i < ndim; i++) {
        shape[i] = (int64_t)dims[i];
        n *= dims[i];
    }
    CHECK(MXNDArrayCreateEx64(shape, ndim, 1, 0, 0, dtype, &h));
    if (values && n) CHECK(MXNDArraySyncCopyFromCPU(h, values, n));
    return h;
}

/* A row_sparse (rows_total, COLS) float32 array storing rows `ids` with `data`. */
static NDArrayHandle row_sparse(size_t k, const int64_t *ids, const float *data) {
    NDArrayHandle h, d, i;
    uint32_t shape[2] = {(uint32_t)rows_total, COLS}, kk = (uint32_t)k, one = 1;
    int aux_type = DT_I64;
    size_t dd[2] = {k, COLS}, di[1] = {k};
    CHECK(MXNDArrayCreateSparseEx(ST_RSP, shape, 2, 1, 0, 0, DT_F32, 1, &aux_type, &one, &kk, &h));
    d = dense(dd, 2, DT_F32, data);
    i = dense(di, 1, DT_I64, ids);
    CHECK(MXNDArraySyncCopyFromNDArray(h, d, -1));
    CHECK(MXNDArraySyncCopyFromNDArray(h, i, 0));
    CHECK(MXNDArrayFree(d));
    CHECK(MXNDArrayFree(i));
    return h;
}

/* ---- the jobs ------------------------------------------------------------------------ */

struct pull_job {
    KVStoreHandle kv;
    int key;
    NDArrayHandle out, ids;
};

static void kv_pull(void *p) {
    struct pull_job *j = (struct pull_job *)p;
    CHECK(MXKVStorePullRowSparse(j->kv, 1, &j->key, &j->out, &j->ids, 0));
}

struct gather_job {
    const float *table;
    const int64_t *ids;
    float *out;
    int64_t *out_ids;
};

static void base_gather(void *p) {
    struct gather_job *j = (struct gather_job *)p;
    size_t i;
    for (i = 0; i < k_rows; i++)
        memcpy(j->out + i * COLS, j->table + (size_t)j->ids[i] * COLS, COLS * sizeof(float));
    memcpy(j->out_ids, j->ids, k_rows * sizeof(int64_t));
    CLOBBER();
}

static void base_scatter(void *p) {
    struct gather_job *j = (struct gather_job *)p;
    size_t i;
    for (i = 0; i < k_rows; i++)
        memcpy((float *)j->table + (size_t)j->ids[i] * COLS, j->out + i * COLS, COLS * sizeof(float));
    memcpy(j->out_ids, j->ids, k_rows * sizeof(int64_t));
    CLOBBER();
}

/* local[id] += recv[i] for the k rows of recv: the updater's whole work. */
static void scatter_add(float *table, const int64_t *ids, const float *rows, size_t k) {
    size_t i, c;
    for (i = 0; i < k; i++) {
        float *dst = table + (size_t)ids[i] * COLS;
        const float *src = rows + i * COLS;
        for (c = 0; c < COLS; c++) dst[c] += src[c];
    }
    CLOBBER();
}

struct scatter_add_job {
    float *table;
    const int64_t *ids;
    const float *rows;
};

static void base_scatter_add(void *p) {
    struct scatter_add_job *j = (struct scatter_add_job *)p;
    scatter_add(j->table, j->ids, j->rows, k_rows);
}

/* The C updater: recv's rows added into the stored table's memory. Reads recv's blobs with
 * the data pointer of a row_sparse array and a copy of its ids. */
struct updater_state {
    int64_t *ids;
    int calls;
};

static void add_rows_updater(int key, NDArrayHandle recv, NDArrayHandle local, void *handle) {
    struct updater_state *s = (struct updater_state *)handle;
    NDArrayHandle ids;
    float *rows = NULL, *table = NULL;
    (void)key;
    CHECK(MXNDArrayGetAuxNDArray(recv, 0, &ids));
    CHECK(MXNDArraySyncCopyToCPU(ids, s->ids, k_rows));
    CHECK(MXNDArrayGetData(recv, (void **)&rows));
    CHECK(MXNDArrayGetData(local, (void **)&table));
    scatter_add(table, s->ids, rows, k_rows);
    s->calls++;
    CHECK(MXNDArrayFree(ids));
    CHECK(MXNDArrayFree(recv));
    CHECK(MXNDArrayFree(local));
}

struct push_job {
    KVStoreHandle kv;
    int key;
    NDArrayHandle value;
};

static void kv_push(void *p) {
    struct push_job *j = (struct push_job *)p;
    CHECK(MXKVStorePush(j->kv, 1, &j->key, &j->value, 0));
}

struct dense_pull_job {
    KVStoreHandle kv;
    int key;
    NDArrayHandle out;
};

static void kv_dense_pull(void *p) {
    struct dense_pull_job *j = (struct dense_pull_job *)p;
    CHECK(MXKVStorePull(j->kv, 1, &j->key, &j->out, 0));
}

struct copy_job {
    float *dst;
    const float *src;
};

static void base_copy(void *p) {
    struct copy_job *j = (struct copy_job *)p;
    memcpy(j->dst, j->src, rows_total * COLS * sizeof(float));
    CLOBBER();
}

/* ---- main ------------------------------------------------------------------------------ */

int main(int argc, char **argv) {
    size_t i, n;
    float *table, *table_c, *grad, *gathered;
    int64_t *all_ids, *ids, *ids_c;
    NDArrayHandle full, grad_arr, out, ids_arr, dense_out;
    KVStoreHandle kv, kv_upd, kv_assign, kv_dense;
    int key = 1, bad = 0;
    struct stats ks, bs;
    struct updater_state upd;
    if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
        reps = 5;
        rows_total = 100000;
        k_rows = 1000;
    }
    n = rows_total * COLS;
    table = (float *)xalloc(n * sizeof(float));
    table_c = (float *)xalloc(n * sizeof(float));
    all_ids = (int64_t *)xalloc(rows_total * sizeof(int64_t));
    for (i = 0; i < n; i++) table[i] = (float)(i % 1000);
    for (i = 0; i < rows_total; i++) all_ids[i] = (int64_t)i;
    /* k distinct sorted ids: every (R/k)-th row, shifted by a random amount below the step. */
    ids = (int64_t *)xalloc(k_rows * sizeof(int64_t));
    ids_c = (int64_t *)xalloc(k_rows * sizeof(int64_t));
    srand(7);
    for (i = 0; i < k_rows; i++)
        ids[i] = (int64_t)(i * (rows_total / k_rows) + (size_t)rand() % (rows_total / k_rows));
    grad = (float *)xalloc(k_rows * COLS * sizeof(float));
    gathered = (float *)xalloc(k_rows * COLS * sizeof(float));
    for (i = 0; i < k_rows * COLS; i++) grad[i] = 1.0f;

    full = row_sparse(rows_total, all_ids, table);
    CHECK(MXKVStoreCreate("local", &kv));
    CHECK(MXKVStoreInit(kv, 1, &key, &full));
    memcpy(table_c, table, n * sizeof(float));
    printf("row_sparse table: %lu rows x %d float32 (%.0f MB), k = %lu rows per call\n",
           (unsigned long)rows_total, COLS, n * 4.0 / 1e6, (unsigned long)k_rows);
    printf("%-16s %-28s %-28s %7s  %-7s %s\n", "case", "mxkv median [min-max]",
           "baseline median [min-max]", "ratio", "target", "status");

    /* rsp pull */
    {
        size_t d[1] = {k_rows};
        struct pull_job pj;
        struct gather_job gj = {table_c, ids, gathered, ids_c};
        float *got = (float *)xalloc(k_rows * COLS * sizeof(float));
        NDArrayHandle data;
        ids_arr = dense(d, 1, DT_I64, ids);
        out = row_sparse(0, NULL, NULL);
        pj.kv = kv;
        pj.key = key;
        pj.out = out;
        pj.ids = ids_arr;
        measure(kv_pull, &pj, base_gather, &gj, 20, &ks, &bs);
        report("rsp_pull", "rsp pull", ks, bs, 2.0);
        CHECK(MXNDArrayGetDataNDArray(out, &data));
        CHECK(MXNDArraySyncCopyToCPU(data, got, k_rows * COLS));
        bad |= memcmp(got, gathered, k_rows * COLS * sizeof(float)) != 0;
        CHECK(MXNDArrayFree(data));
        free(got);
    }

    /* rsp push with an updater that adds the rows into the table */
    {
        struct push_job pj;
        struct scatter_add_job sj = {table_c, ids, grad};
        long total_kv, total_base;
        upd.ids = (int64_t *)xalloc(k_rows * sizeof(int64_t));
        upd.calls = 0;
        CHECK(MXKVStoreCreate("local", &kv_upd));
        CHECK(MXKVStoreInit(kv_upd, 1, &key, &full));
        CHECK(MXKVStoreSetUpdater(kv_upd, add_rows_updater, &upd));
        grad_arr = row_sparse(k_rows, ids, grad);
        pj.kv = kv_upd;
        pj.key = key;
        pj.value = grad_arr;
        memcpy(table_c, table, n * sizeof(float));
        measure(kv_push, &pj, base_scatter_add, &sj, 20, &ks, &bs);
        report("rsp_push_updater", "rsp push+upd", ks, bs, 2.0);
        /* Both tables received the same number of additions of 1 on the same rows. */
        total_kv = upd.calls;
        total_base = (long)(1 + reps * 20);
        bad |= total_kv != total_base;
        {
            NDArrayHandle pulled = row_sparse(0, NULL, NULL), data;
            float *got = (float *)xalloc(k_rows * COLS * sizeof(float));
            struct gather_job gj = {table_c, ids, gathered, ids_c};
            CHECK(MXKVStorePullRowSparse(kv_upd, 1, &key, &pulled, &ids_arr, 0));
            CHECK(MXNDArrayGetDataNDArray(pulled, &data));
            CHECK(MXNDArraySyncCopyToCPU(data, got, k_rows * COLS));
            base_gather(&gj);
            bad |= memcmp(got, gathered, k_rows * COLS * sizeof(float)) != 0;
            CHECK(MXNDArrayFree(data));
            CHECK(MXNDArrayFree(pulled));
            free(got);
        }
    }

    /* rsp push without updater: the stored value becomes the k rows */
    {
        struct push_job pj;
        struct gather_job gj = {table_c, ids, grad, ids_c};
        CHECK(MXKVStoreCreate("local", &kv_assign));
        CHECK(MXKVStoreInit(kv_assign, 1, &key, &full));
        pj.kv = kv_assign;
        pj.key = key;
        pj.value = grad_arr;
        measure(kv_push, &pj, base_scatter, &gj, 20, &ks, &bs);
        report("rsp_push", "rsp push", ks, bs, 2.0);
    }

    /* for scale: a dense pull of the whole table */
    {
        size_t d[2] = {rows_total, COLS};
        struct dense_pull_job dj;
        float *copy = (float *)xalloc(n * sizeof(float));
        struct copy_job cj = {copy, table};
        NDArrayHandle table_arr = dense(d, 2, DT_F32, table);
        CHECK(MXKVStoreCreate("local", &kv_dense));
        CHECK(MXKVStoreInit(kv_dense, 1, &key, &table_arr));
        CHECK(MXNDArrayFree(table_arr));
        dense_out = dense(d, 2, DT_F32, NULL);
        dj.kv = kv_dense;
        dj.key = key;
        dj.out = dense_out;
        measure(kv_dense_pull, &dj, base_copy, &cj, 1, &ks, &bs);
        report("dense_pull_table", "dense pull (R)", ks, bs, 0);
        free(copy);
    }

    if (bad) {
        fprintf(stderr, "bench: mxkv's rows differ from the C loop's\n");
        return 1;
    }
    CHECK(MXNDArrayFree(full));
    CHECK(MXNDArrayFree(grad_arr));
    CHECK(MXNDArrayFree(out));
    CHECK(MXNDArrayFree(ids_arr));
    CHECK(MXNDArrayFree(dense_out));
    CHECK(MXKVStoreFree(kv));
    CHECK(MXKVStoreFree(kv_upd));
    CHECK(MXKVStoreFree(kv_assign));
    CHECK(MXKVStoreFree(kv_dense));
    free(table);
    free(table_c);
    free(all_ids);
    free(ids);
    free(ids_c);
    free(grad);
    free(gathered);
    free(upd.ids);
    return 0;
}
