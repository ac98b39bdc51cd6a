/*
 * dist.c — the distributed benchmark of spec §5: mxkv's dist_sync store across MPI ranks
 * against a raw MPI_Allreduce of the same bytes among the same workers, measured in the
 * same run.
 *
 * Cases (float32, 2 workers):
 *   big        push + pull of one key of 1e6 elements; baseline: one MPI_Allreduce of
 *              1e6 floats. Target: <= 2x with a server, <= 1.25x serverless.
 *   keys1000   one push call of 1000 keys x 1000 elements and one pull call of them;
 *              baseline: one MPI_Allreduce of all the bytes (1e6 floats). Target: <= 3x.
 *
 * Method: the program starts MPI itself (mxkv then uses it as it finds it), splits the
 * workers off for the baseline, and creates the store; server ranks serve. Each case is
 * warmed up, then timed in repetitions (median, min, max per operation) in which mxkv and
 * the baseline alternate. The pulled values are checked against the exact sums.
 *
 * Output: a table and one line per case:
 *   BENCH case=<name> mode=<server|serverless> mxkv_us=… base_us=… ratio=… target=… status=…
 * Usage:  DMLC_NUM_SERVER=1 mpirun -np 3 dist      DMLC_NUM_SERVER=0 mpirun -np 2 dist
 */
#define _POSIX_C_SOURCE 200112L

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mxkv.h>

enum { BIG_N = 1000000, KEYS = 1000, KEY_N = 1000, REPS = 9, INNER = 5 };

#define CHECK(call)                                                                      \
    do {                                                                                 \
        if ((call) != 0) {                                                               \
            fprintf(stderr, "bench-dist: %s failed (line %d):\n%s\n", #call, __LINE__,   \
                    MXGetLastError());                                                   \
            MPI_Abort(MPI_COMM_WORLD, 1);                                                \
        }                                                                                \
    } while (0)

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static NDArrayHandle array_of(size_t n, float v) {
    NDArrayHandle h;
    uint32_t shape[1];
    float *buf = malloc(n * sizeof(float));
    size_t i;
    shape[0] = (uint32_t)n;
    for (i = 0; i < n; i++) buf[i] = v;
    CHECK(MXNDArrayCreateEx(shape, 1, 1, 0, 0, 0, &h));
    CHECK(MXNDArraySyncCopyFromCPU(h, buf, n));
    free(buf);
    return h;
}

static float first_of(NDArrayHandle h, size_t n) {
    float *buf = malloc(n * sizeof(float)), v;
    CHECK(MXNDArraySyncCopyToCPU(h, buf, n));
    v = buf[n - 1];
    free(buf);
    return v;
}

struct timing {
    double mxkv[REPS], base[REPS];
};

static void report(const char *name, const char *mode, struct timing *t, double target, int rank) {
    double m, b;
    qsort(t->mxkv, REPS, sizeof(double), cmp_double);
    qsort(t->base, REPS, sizeof(double), cmp_double);
    m = t->mxkv[REPS / 2];
    b = t->base[REPS / 2];
    if (rank != 0) return;
    printf("%-10s %-10s mxkv %9.1f us [%.1f-%.1f]   MPI_Allreduce %8.1f us [%.1f-%.1f]   "
           "ratio %5.2f  target <= %.2f  %s\n",
           name, mode, m, t->mxkv[0], t->mxkv[REPS - 1], b, t->base[0], t->base[REPS - 1],
           m / b, target, m / b <= target ? "PASS" : "MISS");
    printf("BENCH case=%s mode=%s mxkv_us=%.1f base_us=%.1f ratio=%.3f target=%.2f status=%s\n",
           name, mode, m, b, m / b, target, m / b <= target ? "PASS" : "MISS");
    fflush(stdout);
}

int main(int argc, char **argv) {
    int provided, world_rank, is_server = 0, rank = 0, workers = 0, k, r, i;
    const char *servers = getenv("DMLC_NUM_SERVER");
    int serverless = servers && atoi(servers) == 0;
    const char *mode = serverless ? "serverless" : "server";
    MPI_Comm wcomm;
    KVStoreHandle kv;
    float *send, *recv;
    struct timing big, many;
    (void)argc;
    (void)argv;

    MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    CHECK(MXKVStoreIsServerNode(&is_server));
    MPI_Comm_split(MPI_COMM_WORLD, is_server, world_rank, &wcomm);
    CHECK(MXKVStoreCreate("dist_sync", &kv));
    if (is_server) {
        CHECK(MXKVStoreRunServer(kv, NULL, NULL));
        CHECK(MXKVStoreFree(kv));
        MPI_Comm_free(&wcomm);
        MPI_Finalize();
        return 0;
    }
    CHECK(MXKVStoreGetRank(kv, &rank));
    CHECK(MXKVStoreGetGroupSize(kv, &workers));
    send = malloc(BIG_N * sizeof(float));
    recv = malloc(BIG_N * sizeof(float));
    for (i = 0; i < BIG_N; i++) send[i] = 1.0f;

    /* One key of 1e6 floats. */
    {
        int key = 0;
        NDArrayHandle v = array_of(BIG_N, 0.0f), g = array_of(BIG_N, 1.0f), out = array_of(BIG_N, 0.0f);
        CHECK(MXKVStoreInit(kv, 1, &key, &v));
        for (r = -2; r < REPS; r++) {
            double t0 = now_us(), t1, t2;
            for (i = 0; i < INNER; i++) {
                CHECK(MXKVStorePush(kv, 1, &key, &g, 0));
                CHECK(MXKVStorePull(kv, 1, &key, &out, 0));
            }
            t1 = now_us();
            for (i = 0; i < INNER; i++)
                MPI_Allreduce(send, recv, BIG_N, MPI_FLOAT, MPI_SUM, wcomm);
            t2 = now_us();
            if (r >= 0) {
                big.mxkv[r] = (t1 - t0) / INNER;
                big.base[r] = (t2 - t1) / INNER;
            }
        }
        if (first_of(out, BIG_N) != (float)workers) {
            fprintf(stderr, "bench-dist: big: pulled %g, expected %d\n", first_of(out, BIG_N), workers);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        MXNDArrayFree(v);
        MXNDArrayFree(g);
        MXNDArrayFree(out);
    }
    report("big", mode, &big, serverless ? 1.25 : 2.0, rank);

    /* 1000 keys x 1000 floats in one push call and one pull call. */
    {
        int keys[KEYS];
        NDArrayHandle vals[KEYS], outs[KEYS];
        for (k = 0; k < KEYS; k++) {
            keys[k] = 100 + k;
            vals[k] = array_of(KEY_N, 1.0f);
            outs[k] = array_of(KEY_N, 0.0f);
        }
        CHECK(MXKVStoreInit(kv, KEYS, keys, vals));
        for (r = -2; r < REPS; r++) {
            double t0 = now_us(), t1, t2;
            for (i = 0; i < INNER; i++) {
                CHECK(MXKVStorePush(kv, KEYS, keys, vals, 0));
                CHECK(MXKVStorePull(kv, KEYS, keys, outs, 0));
            }
            t1 = now_us();
            for (i = 0; i < INNER; i++)
                MPI_Allreduce(send, recv, KEYS * KEY_N, MPI_FLOAT, MPI_SUM, wcomm);
            t2 = now_us();
            if (r >= 0) {
                many.mxkv[r] = (t1 - t0) / INNER;
                many.base[r] = (t2 - t1) / INNER;
            }
        }
        if (first_of(outs[KEYS - 1], KEY_N) != (float)workers) {
            fprintf(stderr, "bench-dist: keys1000: pulled %g, expected %d\n",
                    first_of(outs[KEYS - 1], KEY_N), workers);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        for (k = 0; k < KEYS; k++) {
            MXNDArrayFree(vals[k]);
            MXNDArrayFree(outs[k]);
        }
    }
    report("keys1000", mode, &many, serverless ? 1.25 : 3.0, rank);

    free(send);
    free(recv);
    CHECK(MXKVStoreFree(kv));
    MPI_Comm_free(&wcomm);
    MPI_Finalize();
    return 0;
}
