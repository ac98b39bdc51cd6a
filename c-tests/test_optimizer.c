/*
 * mxkv's optimizer extensions (not in MXNet): MXKVOptimizerUpdate runs MXNet 1.9.1's
 * update operators, MXKVStoreSetOptimizer installs one of its optimizers as a store's
 * updater, MXKVStoreSave/LoadOptimizerStates keep its per-key states in a .params file.
 * Results are compared with what the real MXNet 1.9.1 gives (c-tests/fixtures/optimizer,
 * made by make_optimizer_fixtures.py and make_store_fixtures.py there): bitwise, except
 * LAMB through a store, which is left to the Rust tests (MXNet's store runs its aggregated
 * multi_lamb_update there). Bad names, parameters and arrays fail with nothing changed.
 */
#include "util.h"

#ifndef MXKV_FIXTURE_DIR
#define MXKV_FIXTURE_DIR "c-tests/fixtures"
#endif
#ifndef MXKV_BUILD_DIR
#define MXKV_BUILD_DIR "build/c-tests"
#endif

#define MAX_PARAMS 16
#define MAX_IO 8

/* The bytes of an array (at most 64 float64 values in these tests). */
static size_t array_bytes(NDArrayHandle h, unsigned char *out) {
    int dtype = -1;
    int ndim = 0;
    const int *dims = NULL;
    size_t n = 1;
    int i;
    MXNDArrayGetDType(h, &dtype);
    MXNDArrayGetShapeEx(h, &ndim, &dims);
    for (i = 0; i < ndim; i++) n *= (size_t)dims[i];
    if (n * dtype_size(dtype) > 512) return 0;
    MXNDArraySyncCopyToCPU(h, out, n);
    return n * dtype_size(dtype);
}

static int same_bytes(NDArrayHandle a, NDArrayHandle b) {
    unsigned char x[512], y[512];
    size_t nx = array_bytes(a, x), ny = array_bytes(b, y);
    return nx > 0 && nx == ny && memcmp(x, y, nx) == 0;
}

/* A loaded fixture file: its arrays and names (copied out of the per-thread buffers of
 * MXNDArrayLoad, which the next load reuses). */
typedef struct {
    mx_uint n;
    NDArrayHandle arrays[MAX_IO * 2];
    char names[MAX_IO * 2][32];
} Fixture;

static int load_fixture(const char *case_name, Fixture *f) {
    char path[512];
    mx_uint n_names = 0, i;
    NDArrayHandle *arrays;
    const char **names;
    snprintf(path, sizeof path, "%s/optimizer/%s.params", MXKV_FIXTURE_DIR, case_name);
    if (MXNDArrayLoad(path, &f->n, &arrays, &n_names, &names) != 0) return -1;
    if (f->n > MAX_IO * 2 || n_names != f->n) return -1;
    for (i = 0; i < f->n; i++) {
        f->arrays[i] = arrays[i];
        snprintf(f->names[i], sizeof f->names[i], "%s", names[i]);
    }
    return 0;
}

/* The arrays whose names start with `prefix`, in file order (the operator's order). */
static mx_uint with_prefix(const Fixture *f, const char *prefix, NDArrayHandle *out) {
    mx_uint i, k = 0;
    for (i = 0; i < f->n && k < MAX_IO; i++)
        if (strncmp(f->names[i], prefix, strlen(prefix)) == 0) out[k++] = f->arrays[i];
    return k;
}

static NDArrayHandle named(const Fixture *f, const char *name) {
    mx_uint i;
    for (i = 0; i < f->n; i++)
        if (strcmp(f->names[i], name) == 0) return f->arrays[i];
    return NULL;
}

static void free_fixture(Fixture *f) {
    mx_uint i;
    for (i = 0; i < f->n; i++) MXNDArrayFree(f->arrays[i]);
}

/* Splits "k=v k=v ..." (in place) into parameter names and values. */
static mx_uint split_params(char *text, const char **keys, const char **vals) {
    mx_uint n = 0;
    char *tok = strtok(text, " \n");
    while (tok && n < MAX_PARAMS) {
        char *eq = strchr(tok, '=');
        if (eq) {
            *eq = '\0';
            keys[n] = tok;
            vals[n] = eq + 1;
            n++;
        }
        tok = strtok(NULL, " \n");
    }
    return n;
}

/* Every operator case of MXNet 1.9.1 (95: every operator and dtype) gives MXNet's bits. */
static void test_operators_match_mxnet(void) {
    char path[512], line[1024];
    FILE *f;
    int cases = 0, exact = 0;
    snprintf(path, sizeof path, "%s/optimizer/cases.txt", MXKV_FIXTURE_DIR);
    f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char name[128], op[64];
        const char *keys[MAX_PARAMS], *vals[MAX_PARAMS];
        NDArrayHandle in[MAX_IO], out[MAX_IO];
        Fixture fx;
        mx_uint n_in, n_out, n_params, i;
        int ok = 1, consumed = 0;
        if (sscanf(line, "%127s %63s %n", name, op, &consumed) != 2) continue;
        cases++;
        n_params = split_params(line + consumed, keys, vals);
        if (load_fixture(name, &fx) != 0) {
            CHECK(!"fixture loads");
            continue;
        }
        n_in = with_prefix(&fx, "in:", in);
        n_out = with_prefix(&fx, "out:", out);
        CHECK_EQ_INT(n_in, n_out);
        if (MXKVOptimizerUpdate(op, n_in, in, n_params, keys, vals) != 0) {
            fprintf(stderr, "%s: %s\n", name, MXGetLastError());
            ok = 0;
        }
        for (i = 0; ok && i < n_in; i++) ok = same_bytes(in[i], out[i]);
        if (ok) exact++;
        else fprintf(stderr, "%s differs from MXNet 1.9.1\n", name);
        free_fixture(&fx);
    }
    fclose(f);
    CHECK_EQ_INT(cases, 95);
    CHECK_EQ_INT(exact, cases);
}

/* Runs a store case: init key 3, push the three gradients, pull into `final`. */
static int run_store_case(const Fixture *fx, const char *opt, mx_uint n_params,
                          const char **keys, const char **vals, NDArrayHandle result,
                          const char *save_after_two) {
    KVStoreHandle kv;
    int key = 3, step, rc = 0;
    char grad_name[16];
    if (MXKVStoreCreate("local", &kv) != 0) return -1;
    rc |= MXKVStoreSetOptimizer(kv, opt, n_params, keys, vals);
    rc |= MXKVStoreInit(kv, 1, &key, (NDArrayHandle[]){named(fx, "init")});
    for (step = 0; step < 3; step++) {
        snprintf(grad_name, sizeof grad_name, "grad%d", step);
        rc |= MXKVStorePush(kv, 1, &key, (NDArrayHandle[]){named(fx, grad_name)}, 0);
        if (step == 1 && save_after_two) rc |= MXKVStoreSaveOptimizerStates(kv, save_after_two);
    }
    rc |= MXKVStorePull(kv, 1, &key, &result, 0);
    MXKVStoreFree(kv);
    return rc;
}

/* MXNet 1.9.1's local store with set_optimizer, three pushes: the same final weights. */
static void test_store_optimizers_match_mxnet(void) {
    char path[512], line[1024];
    FILE *f;
    int cases = 0, exact = 0;
    snprintf(path, sizeof path, "%s/optimizer/store_cases.txt", MXKV_FIXTURE_DIR);
    f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char name[128], opt[32];
        const char *keys[MAX_PARAMS], *vals[MAX_PARAMS];
        Fixture fx;
        NDArrayHandle result;
        int dtype = 0, consumed = 0;
        mx_uint n_params;
        if (sscanf(line, "%127s %31s %n", name, opt, &consumed) != 2) continue;
        if (strcmp(opt, "lamb") == 0) continue;
        cases++;
        n_params = split_params(line + consumed, keys, vals);
        if (load_fixture(name, &fx) != 0) {
            CHECK(!"fixture loads");
            continue;
        }
        MXNDArrayGetDType(named(&fx, "final"), &dtype);
        result = arr_new((mx_uint[]){37}, 1, dtype);
        if (run_store_case(&fx, opt, n_params, keys, vals, result, NULL) != 0)
            fprintf(stderr, "%s: %s\n", name, MXGetLastError());
        else if (same_bytes(result, named(&fx, "final")))
            exact++;
        else
            fprintf(stderr, "%s differs from MXNet 1.9.1\n", name);
        MXNDArrayFree(result);
        free_fixture(&fx);
    }
    fclose(f);
    CHECK_EQ_INT(cases, 23);
    CHECK_EQ_INT(exact, cases);
}

/* States saved after two pushes, loaded into a new store whose key holds the weight of
 * that moment, give the third push's result of the original. */
static void test_states_save_and_load(void) {
    /* the arguments of store-sgd-float16-0 */
    const char *keys[] = {"learning_rate", "wd", "rescale_grad", "clip_gradient", "momentum",
                          "multi_precision"};
    const char *vals[] = {"0.1", "0.01", "0.5", "4.0", "0.9", "True"};
    const char *file = MXKV_BUILD_DIR "/optimizer_states.params";
    Fixture fx;
    KVStoreHandle kv;
    NDArrayHandle whole, resumed, after_two;
    mx_uint n = 0, n_names = 0, i;
    NDArrayHandle *arrays;
    const char **names;
    int key = 3, has_weight32 = 0, has_count = 0;
    if (load_fixture("store-sgd-float16-0", &fx) != 0) {
        CHECK(!"fixture loads");
        return;
    }
    whole = arr_new((mx_uint[]){37}, 1, 2);
    resumed = arr_new((mx_uint[]){37}, 1, 2);
    after_two = arr_new((mx_uint[]){37}, 1, 2);
    CHECK_OK(run_store_case(&fx, "sgd", 6, keys, vals, whole, file));

    /* The file is a .params file of named arrays a user can inspect. */
    CHECK_OK(MXNDArrayLoad(file, &n, &arrays, &n_names, &names));
    CHECK_EQ_INT(n, n_names);
    for (i = 0; i < n_names; i++) {
        has_weight32 |= strcmp(names[i], "3:weight32") == 0;
        has_count |= strcmp(names[i], "3:count") == 0;
        MXNDArrayFree(arrays[i]);
    }
    CHECK(has_weight32 && has_count);

    /* The weight after two pushes, from a store stopped there. */
    CHECK_OK(MXKVStoreCreate("local", &kv));
    CHECK_OK(MXKVStoreSetOptimizer(kv, "sgd", 6, keys, vals));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, (NDArrayHandle[]){named(&fx, "init")}));
    CHECK_OK(MXKVStorePush(kv, 1, &key, (NDArrayHandle[]){named(&fx, "grad0")}, 0));
    CHECK_OK(MXKVStorePush(kv, 1, &key, (NDArrayHandle[]){named(&fx, "grad1")}, 0));
    CHECK_OK(MXKVStorePull(kv, 1, &key, &after_two, 0));
    MXKVStoreFree(kv);

    CHECK_OK(MXKVStoreCreate("local", &kv));
    CHECK_OK(MXKVStoreSetOptimizer(kv, "sgd", 6, keys, vals));
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &after_two));
    CHECK_OK(MXKVStoreLoadOptimizerStates(kv, file));
    CHECK_OK(MXKVStorePush(kv, 1, &key, (NDArrayHandle[]){named(&fx, "grad2")}, 0));
    CHECK_OK(MXKVStorePull(kv, 1, &key, &resumed, 0));
    CHECK(same_bytes(resumed, whole));
    CHECK(same_bytes(whole, named(&fx, "final")));
    MXKVStoreFree(kv);
    MXNDArrayFree(whole);
    MXNDArrayFree(resumed);
    MXNDArrayFree(after_two);
    free_fixture(&fx);
}

/* Bad operator calls: -1, a message naming the problem, no array changed. */
static void test_bad_operator_calls(void) {
    float w0[3] = {1, 2, 3}, g0[3] = {0.5f, 0.5f, 0.5f}, got[3];
    NDArrayHandle w = arr_f32((mx_uint[]){3}, 1, w0), g = arr_f32((mx_uint[]){3}, 1, g0);
    NDArrayHandle m = arr_f32((mx_uint[]){3}, 1, (float[]){0, 0, 0});
    NDArrayHandle m2 = arr_f32((mx_uint[]){2}, 1, (float[]){0, 0});
    NDArrayHandle freed = arr_f32((mx_uint[]){3}, 1, w0);
    const char *lr[] = {"lr"}, *lr_v[] = {"0.1"}, *bad_v[] = {"fast"};
    const char *mom[] = {"lr", "beta9"}, *mom_v[] = {"0.1", "1"};
    MXNDArrayFree(freed);

    CHECK_FAIL(MXKVOptimizerUpdate("sgd_mom", 3, (NDArrayHandle[]){w, g, m}, 1, lr, lr_v),
               "unknown update operator 'sgd_mom'");
    CHECK_FAIL(MXKVOptimizerUpdate(NULL, 3, (NDArrayHandle[]){w, g, m}, 1, lr, lr_v), "op is NULL");
    CHECK_FAIL(MXKVOptimizerUpdate("sgd_mom_update", 3, (NDArrayHandle[]){w, g, m}, 1, lr, bad_v),
               "Invalid Parameter format for lr expect float but value='fast'");
    CHECK_FAIL(MXKVOptimizerUpdate("sgd_mom_update", 3, (NDArrayHandle[]){w, g, m}, 0, NULL, NULL),
               "Required parameter lr of float is not presented");
    CHECK_FAIL(MXKVOptimizerUpdate("sgd_mom_update", 3, (NDArrayHandle[]){w, g, m}, 2, mom, mom_v),
               "Cannot find argument 'beta9'");
    CHECK_FAIL(MXKVOptimizerUpdate("sgd_mom_update", 2, (NDArrayHandle[]){w, g}, 1, lr, lr_v),
               "takes 3 arrays (weight, grad, mom), got 2");
    CHECK_FAIL(MXKVOptimizerUpdate("sgd_mom_update", 3, (NDArrayHandle[]){w, g, m2}, 1, lr, lr_v),
               "mom has shape [2], the weight [3]");
    CHECK_FAIL(MXKVOptimizerUpdate("sgd_mom_update", 3, (NDArrayHandle[]){w, g, g}, 1, lr, lr_v),
               "mom shares memory with grad");
    CHECK_FAIL(MXKVOptimizerUpdate("sgd_mom_update", 3, (NDArrayHandle[]){w, g, freed}, 1, lr, lr_v),
               "handle");
    CHECK_FAIL(MXKVOptimizerUpdate("sgd_mom_update", 3, NULL, 1, lr, lr_v), "arrays is NULL");
    arr_read(w, got, 3);
    CHECK(memcmp(got, w0, sizeof w0) == 0);
    arr_read(g, got, 3);
    CHECK(memcmp(got, g0, sizeof g0) == 0);
    CHECK(arr_all_equal(m, 3, 0.0f));

    /* The same call, well formed: sgd_mom_update, momentum 0, lr 0.1: w - 0.1 * g. */
    CHECK_OK(MXKVOptimizerUpdate("sgd_mom_update", 3, (NDArrayHandle[]){w, g, m}, 1, lr, lr_v));
    arr_read(w, got, 3);
    CHECK_EQ_DBL(got[0], 1.0f + -0.1f * 0.5f);
    MXNDArrayFree(w);
    MXNDArrayFree(g);
    MXNDArrayFree(m);
    MXNDArrayFree(m2);
}

/* Bad store calls: -1 and a message; the store keeps its optimizer and states. */
static void test_bad_store_calls(void) {
    KVStoreHandle kv;
    const char *lr[] = {"learning_rate"}, *lr_v[] = {"0.5"}, *bad[] = {"momentum"}, *bad_v[] = {"x"};
    const char *file = MXKV_BUILD_DIR "/optimizer_bad.params";
    int key = 1, ikey = 2;
    NDArrayHandle w = arr_fill(1, 4, 1.0f), g = arr_fill(1, 4, 2.0f), out = arr_fill(1, 4, 0.0f);
    NDArrayHandle ints = arr_new((mx_uint[]){1, 4}, 2, 4);
    FILE *f;
    mx_uint num_names = 0;
    const char **names = NULL;

    CHECK_OK(MXKVStoreCreate("local", &kv));
    CHECK_FAIL(MXKVStoreSaveOptimizerStates(kv, file), "has no native optimizer");
    CHECK_FAIL(MXKVStoreGetOptimizerStateNames(kv, 0, &num_names, &names),
               "has no native optimizer");
    CHECK_FAIL(MXKVStoreSetOptimizer(kv, "adamw", 0, NULL, NULL), "Cannot find optimizer adamw");
    CHECK_FAIL(MXKVStoreSetOptimizer(NULL, "sgd", 0, NULL, NULL), "handle");
    CHECK_OK(MXKVStoreSetOptimizer(kv, "sgd", 1, lr, lr_v));
    /* SGD without momentum keeps no state, with a master copy only weight32. */
    CHECK_OK(MXKVStoreGetOptimizerStateNames(kv, 0, &num_names, &names));
    CHECK(num_names == 0);
    CHECK_OK(MXKVStoreGetOptimizerStateNames(kv, 1, &num_names, &names));
    CHECK(num_names == 1 && strcmp(names[0], "weight32") == 0);
    CHECK_FAIL(MXKVStoreGetOptimizerStateNames(kv, 1, NULL, &names), "out_size");
    CHECK_FAIL(MXKVStoreSetOptimizer(kv, "sgd", 1, bad, bad_v),
               "Invalid Parameter format for momentum");
    CHECK_OK(MXKVStoreInit(kv, 1, &key, &w));
    CHECK_OK(MXKVStorePush(kv, 1, &key, &g, 0));
    CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
    CHECK(arr_all_equal(out, 4, 0.0f)); /* the first optimizer stayed: 1 - 0.5 * 2 */

    /* An int32 key cannot be updated by an optimizer. */
    CHECK_OK(MXKVStoreInit(kv, 1, &ikey, &ints));
    CHECK_FAIL(MXKVStorePush(kv, 1, &ikey, &ints, 0), "key 2 has dtype int32");

    /* A file that is not optimizer states changes nothing. */
    CHECK_OK(MXNDArraySave(file, 1, &w, (const char *[]){"weights"}));
    CHECK_FAIL(MXKVStoreLoadOptimizerStates(kv, file), "optimizer state 'weights': unknown name");
    f = fopen(file, "w");
    if (f) {
        fputs("not a params file", f);
        fclose(f);
    }
    CHECK_FAIL(MXKVStoreLoadOptimizerStates(kv, file), "");
    CHECK_OK(MXKVStorePush(kv, 1, &key, &g, 0));
    CHECK_OK(MXKVStorePull(kv, 1, &key, &out, 0));
    CHECK(arr_all_equal(out, 4, -1.0f));

    /* A C updater replaces the optimizer: its states are gone. */
    CHECK_OK(MXKVStoreSetUpdater(kv, NULL, NULL));
    CHECK_FAIL(MXKVStoreSaveOptimizerStates(kv, file), "has no native optimizer");
    MXKVStoreFree(kv);
    MXNDArrayFree(w);
    MXNDArrayFree(g);
    MXNDArrayFree(out);
    MXNDArrayFree(ints);
}

/* The state names of a native optimizer, in MXNet's order: SGD keeps (momentum, weight32),
 * the others (weight32, state...). */
static void test_state_names(void) {
    KVStoreHandle kv;
    const char *mom[] = {"momentum"}, *mom_v[] = {"0.9"};
    mx_uint n = 0;
    const char **names = NULL;

    CHECK_OK(MXKVStoreCreate("local", &kv));
    CHECK_OK(MXKVStoreSetOptimizer(kv, "adam", 0, NULL, NULL));
    CHECK_OK(MXKVStoreGetOptimizerStateNames(kv, 0, &n, &names));
    CHECK(n == 2 && strcmp(names[0], "mean") == 0 && strcmp(names[1], "var") == 0);
    CHECK_OK(MXKVStoreGetOptimizerStateNames(kv, 1, &n, &names));
    CHECK(n == 3 && strcmp(names[0], "weight32") == 0 && strcmp(names[2], "var") == 0);
    CHECK_OK(MXKVStoreSetOptimizer(kv, "SGD", 1, mom, mom_v));
    CHECK_OK(MXKVStoreGetOptimizerStateNames(kv, 1, &n, &names));
    CHECK(n == 2 && strcmp(names[0], "momentum") == 0 && strcmp(names[1], "weight32") == 0);
    CHECK_FAIL(MXKVStoreGetOptimizerStateNames(NULL, 0, &n, &names), "handle");
    MXKVStoreFree(kv);
}

int main(void) {
    RUN(test_operators_match_mxnet);
    RUN(test_store_optimizers_match_mxnet);
    RUN(test_states_save_and_load);
    RUN(test_bad_operator_calls);
    RUN(test_bad_store_calls);
    RUN(test_state_names);
    return check_summary("test_optimizer");
}
