/*
 * A worker that fails must not hang the others (spec §6), and dead-node counts see it
 * (reference §4.8). With MXKV_DIST_TIMEOUT=T, the last worker, after init:
 *   sleeping  sleeps 2T + 2 s: alive (its heartbeats go on) but silent;
 *   stopped   is stopped (SIGSTOP) for 2T + 2 s, then continued by a child it forked;
 *   killed    is killed (SIGKILL); run it with `mpirun --enable-recovery`, without which
 *             Open MPI ends the whole job when a rank dies.
 * With servers, the other workers' next pull fails within T naming the failed rank and the
 * operation; serverless (DMLC_NUM_SERVER=0), their next push, an allreduce, fails within T
 * naming the operation, and the rank when its heartbeats stopped. Later calls fail fast,
 * the dead-node count of the workers is 1 for a stopped or killed worker and 0 for a
 * sleeping one, and Free still stops the servers.
 * Run as  MXKV_DIST_TIMEOUT=3 DMLC_NUM_SERVER=1 mpirun -np 3 test_dist_fault MODE
 *   (or DMLC_NUM_SERVER=0)
 */
#include "dist.h"

#include <signal.h>
#include <sys/types.h>

/* Stops this process for `seconds`: a child continues it, then exits. */
static void stop_for(unsigned seconds) {
    pid_t parent = getpid();
    pid_t child = fork();
    if (child == 0) {
        sleep(seconds);
        kill(parent, SIGCONT);
        _exit(0);
    }
    if (child > 0) raise(SIGSTOP);
}

static void check_dead_nodes(KVStoreHandle kv, int rank, int workers, int servers, int expected) {
    int dead = -1;
    CHECK_OK(MXKVStoreGetNumDeadNode(kv, 4, &dead, 1));
    CHECK_EQ_INT(dead, expected);
    CHECK_OK(MXKVStoreGetNumDeadNode(kv, 7, &dead, 1));
    CHECK_EQ_INT(dead, expected);
    /* The failed worker by its node id, this worker, the server, the (absent) scheduler. */
    CHECK_OK(MXKVStoreGetNumDeadNode(kv, 9 + 2 * (workers - 1), &dead, 1));
    CHECK_EQ_INT(dead, expected);
    CHECK_OK(MXKVStoreGetNumDeadNode(kv, 9 + 2 * rank, &dead, 1));
    CHECK_EQ_INT(dead, 0);
    CHECK_OK(MXKVStoreGetNumDeadNode(kv, 2, &dead, 1));
    CHECK_EQ_INT(dead, 0);
    if (servers > 0) {
        CHECK_OK(MXKVStoreGetNumDeadNode(kv, 8, &dead, 1));
        CHECK_EQ_INT(dead, 0);
    } else {
        CHECK_FAIL(MXKVStoreGetNumDeadNode(kv, 8, &dead, 1), "names no node");
    }
    CHECK_OK(MXKVStoreGetNumDeadNode(kv, 1, &dead, 1));
    CHECK_EQ_INT(dead, 0);
    /* Not heard from for a few seconds is not a minute. */
    CHECK_OK(MXKVStoreGetNumDeadNode(kv, 4, &dead, 60));
    CHECK_EQ_INT(dead, 0);
    CHECK_OK(MXKVStoreGetNumDeadNode(kv, 4, &dead, 0));
    CHECK_EQ_INT(dead, 0);
    dead = 77;
    CHECK_FAIL(MXKVStoreGetNumDeadNode(kv, 9 + 2 * workers, &dead, 1), "names no node");
    CHECK_FAIL(MXKVStoreGetNumDeadNode(kv, 0, &dead, 1), "names no node");
    CHECK_FAIL(MXKVStoreGetNumDeadNode(kv, 4, &dead, -1), "negative");
    CHECK_EQ_INT(dead, 77);
}

int main(int argc, char **argv) {
    KVStoreHandle kv = dist_start("dist_sync", NULL);
    const char *mode = argc > 1 ? argv[1] : "sleeping";
    int rank = worker_rank(kv), workers = 0, key = 3;
    int servers = atoi(getenv("DMLC_NUM_SERVER") ? getenv("DMLC_NUM_SERVER") : "1");
    int silent = strcmp(mode, "sleeping") != 0;
    double timeout = atof(getenv("MXKV_DIST_TIMEOUT")), t0, waited;
    /* Longer than the survivors' wait (3/4 of the timeout), and short enough that the silent
     * rank is back before the survivors, which lost it, give up finalizing MPI at exit
     * (one timeout after they exit). */
    unsigned silence = (unsigned)(timeout + 1);
    NDArrayHandle v = arr_fill(2, 2, 1.0f), out = arr_fill(2, 2, 0.0f);
    char first[1024], rank_text[32];
    CHECK_OK(MXKVStoreGetGroupSize(kv, &workers));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &v));
    if (rank == workers - 1) {
        if (strcmp(mode, "killed") == 0) raise(SIGKILL);
        if (strcmp(mode, "stopped") == 0) stop_for(silence);
        else sleep(silence);
        MXNDArrayFree(v);
        MXNDArrayFree(out);
        MXKVStoreSetBarrierBeforeExit(kv, 0);
        MXKVStoreFree(kv);
        return check_summary("test_dist_fault (failed worker)");
    }
    snprintf(rank_text, sizeof rank_text, "rank %d", workers - 1);
    if (servers > 0) {
        CHECK_OK(MXKVStorePush(kv, 1, &key, &v, 0));
        t0 = now_seconds();
        CHECK_FAIL(MXKVStorePull(kv, 1, &key, &out, 0), "worker rank");
        CHECK_ERR_HAS("pull");
    } else {
        t0 = now_seconds();
        CHECK_FAIL(MXKVStorePush(kv, 1, &key, &v, 0), "has failed or stopped answering");
        CHECK_ERR_HAS("allreduce");
        if (silent) CHECK_ERR_HAS("worker rank");
    }
    waited = now_seconds() - t0;
    snprintf(first, sizeof first, "%s", MXGetLastError());
    if (servers > 0 || silent) CHECK(check_contains_ci(first, rank_text));
    printf("%s worker: the %s failed after %.2f s (MXKV_DIST_TIMEOUT=%g)\n", mode,
           servers > 0 ? "pull" : "push", waited, timeout);
    CHECK(waited <= timeout + 1.0);
    check_dead_nodes(kv, rank, workers, servers, silent);
    /* Later calls fail at once with the same message. */
    t0 = now_seconds();
    CHECK_FAIL(MXKVStorePull(kv, 1, &key, &out, 0), "stopped answering");
    CHECK(now_seconds() - t0 < 0.5);
    CHECK_STR_EQ(MXGetLastError(), first);
    t0 = now_seconds();
    CHECK_FAIL(MXKVStorePush(kv, 1, &key, &v, 0), "stopped answering");
    CHECK(now_seconds() - t0 < 0.5);
    CHECK_STR_EQ(MXGetLastError(), first);
    CHECK_FAIL(MXKVStoreBarrier(kv), "stopped answering");
    CHECK_STR_EQ(MXGetLastError(), first);
    MXNDArrayFree(v);
    MXNDArrayFree(out);
    /* Free still stops the servers (when there are any), so the job ends. */
    MXKVStoreFree(kv);
    return check_summary("test_dist_fault (survivor)");
}
