// The public headers compile as C++11 (run.sh: -Wall -Wextra -pedantic -Werror) with C
// linkage, and accept the calls a C++ program written for MXNet's c_api.h makes.
#include "mxkv.h"
#include <mxnet/c_api.h>

static_assert(sizeof(mx_uint) == 4, "mx_uint is uint32_t");
static_assert(sizeof(dim_t) == 8, "dim_t is int64_t");

static void updater(int, NDArrayHandle, NDArrayHandle, void *) {}
static void str_updater(const char *, NDArrayHandle, NDArrayHandle, void *) {}

int header_check_uses();
int header_check_uses() {
    KVStoreHandle kv = nullptr;
    const char *type = nullptr;
    const char *keys[1] = {"w"};
    const char **names = nullptr;
    NDArrayHandle *arrs = nullptr;
    mx_uint n = 0, nn = 0;
    int dead = 0;
    if (MXKVStoreCreate("local", &kv) != 0) return 1;
    MXKVStoreGetType(kv, &type);
    MXKVStoreSetUpdater(kv, updater, nullptr);
    MXKVStoreSetUpdaterEx(kv, updater, str_updater, nullptr);
    MXKVStoreGetNumDeadNode(kv, 0, &dead, 60);
    MXKVStoreInitEx(kv, 1, keys, arrs);
    MXNDArrayLoad("x.params", &n, &arrs, &nn, &names);
    MXNDArraySave("x.params", n, arrs, names);
    return MXKVStoreFree(kv);
}
