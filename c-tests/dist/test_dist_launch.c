/*
 * Launch errors (spec §6): a dist store needs an MPI launch with worker ranks, and says
 * how to get one instead of hanging.
 *   test_dist_launch                  (no launcher)     create fails naming mpirun
 *   mpirun -np 2 test_dist_launch PHRASE                 create fails with PHRASE
 */
#include "dist.h"

int main(int argc, char **argv) {
    KVStoreHandle kv = NULL;
    int is_worker = 0;
    const char *phrase = argc > 1 ? argv[1] : "mpirun";
    CHECK_FAIL(MXKVStoreCreate("dist_sync", &kv), phrase);
    CHECK(kv == NULL);
    CHECK_FAIL(MXKVStoreCreate("dist_async", &kv), phrase);
    if (argc == 1) {
        /* Without a launcher the process is a worker, and local stores work. */
        CHECK_OK(MXKVStoreIsWorkerNode(&is_worker));
        CHECK_EQ_INT(is_worker, 1);
        CHECK_OK(MXKVStoreCreate("local", &kv));
        CHECK_OK(MXKVStoreFree(kv));
    }
    return check_summary("test_dist_launch");
}
