/*
 * compression.c — the 2-bit gradient compression rows of the benchmark (spec §5, issue
 * "Tier 2" §3): a push into a `device` store with 2-bit compression set quantises the
 * pushed float32 values with their residuals into packed words and dequantises those
 * into the stored value. The baseline is the same work as a plain C loop over the same
 * pushed memory: MXNet's element rule (r += g; send +t, -t or 0 and keep the rest in r;
 * 16 values per 32-bit word), then the words expanded into a stored array — for D
 * sources, each quantised with its own residual and the expansions added up.
 *
 * Rows: n = 1e6 float32, D = 1 (target <= 1.5x) and D = 4 (for information).
 * Method as in bench.c: warm-up, then 15 repetitions (3 with --quick) in which mxkv and
 * the baseline alternate; median [min-max] of the time per push. Both run the same
 * number of pushes from zero residuals, so at the end mxkv's stored value must equal
 * the baseline's bit for bit; the program fails if it does not.
 *
 * Output: a table and one line per row:
 *   BENCH case=<id> n=<elements> D=<sources> keys=1 mxkv_us=… mxkv_min_us=… mxkv_max_us=…
 *         base_us=… base_min_us=… base_max_us=… ratio=… target=… status=PASS|MISS|INFO
 * Exit status: 0 whatever the figures; 1 if a call fails or a value differs.
 */
#define _POSIX_C_SOURCE 200112L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mxkv.h>

enum { N = 1000000, MAX_D = 4, MAX_REPS = 15, DEV_CPU = 1, FLOAT32 = 0 };

static const float THRESHOLD = 0.5f;

#define CHECK(call)                                                                     \
    do {                                                                                \
        if ((call) != 0) {                                                              \
            fprintf(stderr, "compression bench: %s failed (line %d):\n%s\n", #call,    \
                    __LINE__, MXGetLastError());                                        \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

#define CLOBBER() __asm__ __volatile__("" : : : "memory")
#define NOINLINE __attribute__((noinline))

static void *zeroed(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes) != 0) {
        fprintf(stderr, "compression bench: out of memory\n");
        exit(1);
    }
    memset(p, 0, bytes);
    return p;
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---- the baseline: MXNet's element rule in plain C ---- */

static NOINLINE void quantize(const float *grad, float *residual, uint32_t *packed, size_t n, float t) {
    size_t block, i;
    for (block = 0; block * 16 < n; block++) {
        size_t end = block * 16 + 16 < n ? block * 16 + 16 : n;
        uint32_t word = 0;
        for (i = block * 16; i < end; i++) {
            unsigned j = (unsigned)(i & 15), shift = 8 * (j >> 2) + 6 - 2 * (j & 3);
            float r = residual[i] + grad[i];
            if (r >= t) {
                word |= 3u << shift;
                r -= t;
            } else if (r <= -t) {
                word |= 2u << shift;
                r += t;
            }
            residual[i] = r;
        }
        packed[block] = word;
    }
}

static NOINLINE void dequantize(const uint32_t *packed, float *out, size_t n, float t, int add) {
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned j = (unsigned)(i & 15), shift = 8 * (j >> 2) + 6 - 2 * (j & 3);
        unsigned code = (packed[i >> 4] >> shift) & 3;
        float v = code == 3 ? t : code == 2 ? -t : 0.0f;
        out[i] = add ? out[i] + v : v;
    }
}

struct baseline {
    int sources;
    const float *grad[MAX_D];
    float *residual[MAX_D];
    uint32_t *packed[MAX_D];
    float *stored;
};

static void run_baseline(struct baseline *b) {
    int d;
    for (d = 0; d < b->sources; d++) quantize(b->grad[d], b->residual[d], b->packed[d], N, THRESHOLD);
    for (d = 0; d < b->sources; d++) dequantize(b->packed[d], b->stored, N, THRESHOLD, d > 0);
    CLOBBER();
}

/* ---- mxkv ---- */

struct pushes {
    KVStoreHandle kv;
    int keys[MAX_D];
    NDArrayHandle grad[MAX_D];
    int sources;
};

static void run_mxkv(struct pushes *p) {
    CHECK(MXKVStorePush(p->kv, (uint32_t)p->sources, p->keys, p->grad, 0));
}

/* ---- a row ---- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct stats {
    double median, min, max;
};

static struct stats summarize(double *times, int reps) {
    struct stats s;
    qsort(times, (size_t)reps, sizeof(double), cmp_double);
    s.min = times[0];
    s.max = times[reps - 1];
    s.median = times[reps / 2];
    return s;
}

static void bench_row(int sources, int reps, const char *target, double limit) {
    struct pushes p;
    struct baseline b;
    double kv_t[MAX_REPS], base_t[MAX_REPS];
    float *stored_out = zeroed(sizeof(float) * N);
    uint32_t shape = N;
    NDArrayHandle init, out;
    const char *names[2] = {"type", "threshold"}, *values[2] = {"2bit", "0.5"};
    struct stats kv_s, base_s;
    double ratio;
    const char *status;
    size_t i, differ = 0;
    int d, r, w;

    memset(&p, 0, sizeof p);
    memset(&b, 0, sizeof b);
    p.sources = b.sources = sources;
    CHECK(MXKVStoreCreate("device", &p.kv));
    CHECK(MXKVStoreSetGradientCompression(p.kv, 2, names, values));
    CHECK(MXNDArrayCreateEx(&shape, 1, DEV_CPU, 0, 0, FLOAT32, &init));
    CHECK(MXNDArrayCreateEx(&shape, 1, DEV_CPU, 0, 0, FLOAT32, &out));
    CHECK(MXNDArraySyncCopyFromCPU(init, stored_out, N));
    p.keys[0] = 0;
    CHECK(MXKVStoreInit(p.kv, 1, p.keys, &init));
    for (d = 0; d < sources; d++) {
        void *data = NULL;
        float *g;
        p.keys[d] = 0;
        CHECK(MXNDArrayCreateEx(&shape, 1, DEV_CPU, d, 0, FLOAT32, &p.grad[d]));
        CHECK(MXNDArrayGetData(p.grad[d], &data));
        g = data;
        /* Gradients of both signs around the threshold: some cross, most wait. */
        for (i = 0; i < N; i++) g[i] = (float)((i * 7919 + (size_t)d * 131) % 1000) / 1000.0f - 0.5f;
        b.grad[d] = g; /* the baseline reads the very same memory */
        b.residual[d] = zeroed(sizeof(float) * N);
        b.packed[d] = zeroed(sizeof(uint32_t) * (N / 16 + 1));
    }
    b.stored = zeroed(sizeof(float) * N);

    for (w = 0; w < 3; w++) {
        run_mxkv(&p);
        run_baseline(&b);
    }
    for (r = 0; r < reps; r++) {
        double start;
        if (r % 2) {
            start = now_ns();
            run_mxkv(&p);
            kv_t[r] = now_ns() - start;
            start = now_ns();
            run_baseline(&b);
            base_t[r] = now_ns() - start;
        } else {
            start = now_ns();
            run_baseline(&b);
            base_t[r] = now_ns() - start;
            start = now_ns();
            run_mxkv(&p);
            kv_t[r] = now_ns() - start;
        }
    }

    /* Same pushes from the same zero residuals: the same floats. */
    CHECK(MXKVStorePull(p.kv, 1, p.keys, &out, 0));
    CHECK(MXNDArraySyncCopyToCPU(out, stored_out, N));
    for (i = 0; i < N; i++) differ += memcmp(&stored_out[i], &b.stored[i], sizeof(float)) != 0;
    if (differ) {
        fprintf(stderr, "compression bench: D=%d: %lu values differ from the C loop's\n", sources,
                (unsigned long)differ);
        exit(1);
    }

    kv_s = summarize(kv_t, reps);
    base_s = summarize(base_t, reps);
    ratio = kv_s.median / base_s.median;
    status = limit > 0 ? (ratio <= limit ? "PASS" : "MISS") : "INFO";
    printf("%-22s %8.3f ms [%.3f-%.3f]   %8.3f ms [%.3f-%.3f]   %6.2fx  %-8s %s\n",
           sources == 1 ? "2bit push n=1e6 D=1" : "2bit push n=1e6 D=4", kv_s.median / 1e6,
           kv_s.min / 1e6, kv_s.max / 1e6, base_s.median / 1e6, base_s.min / 1e6, base_s.max / 1e6,
           ratio, target, status);
    printf("BENCH case=compress_2bit n=%d D=%d keys=1 mxkv_us=%.4f mxkv_min_us=%.4f "
           "mxkv_max_us=%.4f base_us=%.4f base_min_us=%.4f base_max_us=%.4f ratio=%.3f "
           "target=%s status=%s\n",
           N, sources, kv_s.median / 1e3, kv_s.min / 1e3, kv_s.max / 1e3, base_s.median / 1e3,
           base_s.min / 1e3, base_s.max / 1e3, ratio, target, status);
    fflush(stdout);

    for (d = 0; d < sources; d++) {
        CHECK(MXNDArrayFree(p.grad[d]));
        free(b.residual[d]);
        free(b.packed[d]);
    }
    free(b.stored);
    free(stored_out);
    CHECK(MXNDArrayFree(init));
    CHECK(MXNDArrayFree(out));
    CHECK(MXKVStoreFree(p.kv));
}

int main(int argc, char **argv) {
    int reps = argc > 1 && strcmp(argv[1], "--quick") == 0 ? 3 : MAX_REPS;
    printf("\n2-bit gradient compression: one push (quantise + dequantise) into a 'device' store, "
           "threshold 0.5,\nvs MXNet's element rule as a plain C loop over the same memory; "
           "median [min-max] of %d\n", reps);
    printf("%-22s %-28s %-28s %7s  %-8s %s\n", "case", "mxkv", "C loop", "ratio", "target", "status");
    bench_row(1, reps, "<=1.5x", 1.5);
    bench_row(4, reps, "-", 0);
    return 0;
}
