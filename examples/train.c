/*
 * train.c — data-parallel training through an mxkv `local` store.
 *
 * What it shows: the way MXNet's KVStore is used to train one model on
 * several devices at once.  N simulated devices cpu(0) … cpu(N-1) each hold
 * a replica of a softmax-regression model (weights = key 0, bias = key 1).
 * Every step, each device computes the gradient on its shard of the batch
 * and writes it into its own gradient NDArray; the program pushes the N
 * gradients of both keys in ONE MXKVStorePush call (the store sums the
 * values given for a key and hands the sum to the updater), then pulls the
 * new parameters into the N replicas in ONE MXKVStorePull call.
 *
 * The optimizer is a C updater registered with MXKVStoreSetUpdater: SGD with
 * momentum and weight decay, its momentum buffers kept per key in a struct
 * passed through the updater's void* handle.  It reads `recv` (the summed
 * gradient) and writes `local` (the stored value) through MXNDArrayGetData,
 * and frees both handles, which it owns.
 *
 * The data set is synthetic and deterministic: Gaussian clusters, one per
 * class, drawn with the program's own PRNG.
 *
 * Distributed (make demo-dist): with a `dist_sync` store the same program
 * runs in every rank of `DMLC_NUM_SERVER=1 mpirun -np 3 train 2 10 dist_sync`.
 * The server rank installs the updater on its store and serves; each worker
 * computes the gradients of its devices' shards of every batch (the workers'
 * devices share the batch), pushes, and pulls the parameters the server
 * updated.  With DMLC_NUM_SERVER=0 every rank is a worker and each runs the
 * updater on the sum of all workers' gradients.
 *
 * Usage:  train [devices [epochs [store]]]  (defaults: 4 devices, 10 epochs, local)
 * Exit status: 0 when the final test accuracy reaches ACCURACY_TARGET,
 *              1 when it does not or when any API call fails.
 * Build:  make demo   (gcc -std=c99 -Wall -Wextra -pedantic -O2 -I include
 *         examples/train.c -L target/release -Wl,-rpath,$PWD/target/release
 *         -lmxkv -lm -lpthread)
 */
#define _POSIX_C_SOURCE 199309L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mxkv.h>

enum {
    NUM_CLASSES = 8,
    NUM_FEATURES = 32,
    NUM_SAMPLES = 20000,
    NUM_TEST = 4000,
    NUM_TRAIN = NUM_SAMPLES - NUM_TEST,
    BATCH_SIZE = 256,
    DEFAULT_DEVICES = 4,
    MAX_DEVICES = 64, /* dev_id 0..63 */
    DEFAULT_EPOCHS = 10,
    KEY_WEIGHT = 0,
    KEY_BIAS = 1,
    NUM_KEYS = 2,
    DEV_CPU = 1,
    DTYPE_FLOAT32 = 0
};

static const double CLUSTER_SPREAD = 1.0; /* std-dev of the class centres */
static const double NOISE = 1.7;          /* std-dev of a sample around its centre */
static const float LEARNING_RATE = 0.002f;
static const float MOMENTUM = 0.9f;
static const float WEIGHT_DECAY = 1e-4f;
static const double ACCURACY_TARGET = 0.9;
static const uint64_t SEED = 20240917u;

/* Every API call goes through this: on failure, say which call and why. */
#define CHECK(call)                                                            \
    do {                                                                       \
        if ((call) != 0) {                                                     \
            fprintf(stderr, "train: %s failed (line %d):\n%s\n", #call,        \
                    __LINE__, MXGetLastError());                               \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

static void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count, size);
    if (p == NULL) {
        fprintf(stderr, "train: out of memory\n");
        exit(1);
    }
    return p;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- deterministic random numbers (splitmix64 + Box–Muller) ---- */

static uint64_t rng_state = SEED;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1]: never 0, so log() below is finite. */
static double rng_uniform(void)
{
    return ((double)(rng_next() >> 11) + 1.0) * (1.0 / 9007199254740992.0);
}

static double rng_gauss(void)
{
    const double two_pi = 6.283185307179586;
    return sqrt(-2.0 * log(rng_uniform())) * cos(two_pi * rng_uniform());
}

static size_t rng_below(size_t bound)
{
    return (size_t)(rng_next() % bound);
}

/* ---- data set ---- */

struct dataset {
    float *x; /* NUM_SAMPLES × NUM_FEATURES, row-major */
    int *y;   /* NUM_SAMPLES labels; the first NUM_TRAIN rows are the train split */
};

static void make_dataset(struct dataset *data)
{
    double centre[NUM_CLASSES][NUM_FEATURES];
    int c, f, s;

    for (c = 0; c < NUM_CLASSES; c++)
        for (f = 0; f < NUM_FEATURES; f++)
            centre[c][f] = CLUSTER_SPREAD * rng_gauss();

    data->x = xcalloc((size_t)NUM_SAMPLES * NUM_FEATURES, sizeof(float));
    data->y = xcalloc(NUM_SAMPLES, sizeof(int));
    for (s = 0; s < NUM_SAMPLES; s++) {
        int label = (int)rng_below(NUM_CLASSES);
        data->y[s] = label;
        for (f = 0; f < NUM_FEATURES; f++)
            data->x[(size_t)s * NUM_FEATURES + f] =
                (float)(centre[label][f] + NOISE * rng_gauss());
    }
}

/* ---- the model: softmax regression, logits = W x + b ---- */

/*
 * Forward pass for one sample: fills probs, returns the cross-entropy loss,
 * and stores the predicted class in *predicted.
 */
static double forward(const float *w, const float *b, const float *x, int label,
                      float *probs, int *predicted)
{
    float logits[NUM_CLASSES];
    float max_logit;
    double sum = 0.0;
    int c, f, best = 0;

    for (c = 0; c < NUM_CLASSES; c++) {
        float z = b[c];
        for (f = 0; f < NUM_FEATURES; f++)
            z += w[c * NUM_FEATURES + f] * x[f];
        logits[c] = z;
        if (z > logits[best])
            best = c;
    }
    max_logit = logits[best];
    for (c = 0; c < NUM_CLASSES; c++) {
        probs[c] = (float)exp((double)(logits[c] - max_logit));
        sum += probs[c];
    }
    for (c = 0; c < NUM_CLASSES; c++)
        probs[c] = (float)(probs[c] / sum);
    *predicted = best;
    return log(sum) - (double)(logits[label] - max_logit);
}

/*
 * Gradient of the summed (not averaged) loss over one shard; the updater
 * rescales by 1/batch.  Also accumulates the loss and correct predictions.
 */
static void shard_gradient(const float *w, const float *b, const struct dataset *data,
                           const size_t *rows, size_t count, float *grad_w,
                           float *grad_b, double *loss, size_t *correct)
{
    float probs[NUM_CLASSES];
    size_t i;
    int c, f;

    memset(grad_w, 0, sizeof(float) * NUM_CLASSES * NUM_FEATURES);
    memset(grad_b, 0, sizeof(float) * NUM_CLASSES);
    for (i = 0; i < count; i++) {
        const float *x = data->x + rows[i] * NUM_FEATURES;
        int label = data->y[rows[i]];
        int predicted;
        *loss += forward(w, b, x, label, probs, &predicted);
        *correct += predicted == label;
        for (c = 0; c < NUM_CLASSES; c++) {
            float delta = probs[c] - (c == label ? 1.0f : 0.0f);
            grad_b[c] += delta;
            for (f = 0; f < NUM_FEATURES; f++)
                grad_w[c * NUM_FEATURES + f] += delta * x[f];
        }
    }
}

static double accuracy(const float *w, const float *b, const struct dataset *data,
                       size_t first, size_t count)
{
    float probs[NUM_CLASSES];
    size_t s, correct = 0;
    for (s = first; s < first + count; s++) {
        int predicted;
        forward(w, b, data->x + s * NUM_FEATURES, data->y[s], probs, &predicted);
        correct += predicted == data->y[s];
    }
    return (double)correct / (double)count;
}

/* ---- the optimizer: a C updater run by the store on every push ---- */

struct sgd {
    float learning_rate;
    float momentum;
    float weight_decay;
    float rescale;             /* 1/batch, set before each push */
    size_t size[NUM_KEYS];     /* element count of each key */
    float *velocity[NUM_KEYS]; /* momentum state, one buffer per key */
    long calls;
    int failed;                /* an API call inside the updater failed */
    char error[512];
};

static void sgd_fail(struct sgd *opt, const char *what)
{
    if (!opt->failed)
        snprintf(opt->error, sizeof opt->error, "%s: %s", what, MXGetLastError());
    opt->failed = 1;
}

/*
 * MXNet's SGD with momentum:  v = momentum·v − lr·(rescale·grad + wd·w);  w += v.
 * Weight decay applies to the weights, not to the bias.
 */
static void sgd_update(int key, NDArrayHandle recv, NDArrayHandle local, void *handle)
{
    struct sgd *opt = handle;
    void *recv_data = NULL, *local_data = NULL;
    const int *dims = NULL;
    int ndim = 0, d;
    size_t size = 1;

    opt->calls++;
    if (key < 0 || key >= NUM_KEYS) {
        if (!opt->failed)
            snprintf(opt->error, sizeof opt->error, "updater called with unknown key %d", key);
        opt->failed = 1;
    } else if (MXNDArrayWaitToRead(recv) != 0) {
        sgd_fail(opt, "MXNDArrayWaitToRead(recv)");
    } else if (MXNDArrayWaitToRead(local) != 0) {
        sgd_fail(opt, "MXNDArrayWaitToRead(local)");
    } else if (MXNDArrayGetShapeEx(local, &ndim, &dims) != 0) {
        sgd_fail(opt, "MXNDArrayGetShapeEx(local)");
    } else if (MXNDArrayGetData(recv, &recv_data) != 0) {
        sgd_fail(opt, "MXNDArrayGetData(recv)");
    } else if (MXNDArrayGetData(local, &local_data) != 0) {
        sgd_fail(opt, "MXNDArrayGetData(local)");
    } else {
        for (d = 0; d < ndim; d++)
            size *= (size_t)dims[d];
        if (size != opt->size[key] || recv_data == NULL || local_data == NULL) {
            if (!opt->failed)
                snprintf(opt->error, sizeof opt->error,
                         "key %d: stored value has %lu elements, expected %lu", key,
                         (unsigned long)size, (unsigned long)opt->size[key]);
            opt->failed = 1;
        } else {
            const float *grad = recv_data;
            float *weight = local_data;
            float *velocity = opt->velocity[key];
            float wd = key == KEY_WEIGHT ? opt->weight_decay : 0.0f;
            size_t i;
            for (i = 0; i < size; i++) {
                float g = opt->rescale * grad[i] + wd * weight[i];
                velocity[i] = opt->momentum * velocity[i] - opt->learning_rate * g;
                weight[i] += velocity[i];
            }
        }
    }
    /* The updater owns both handles. */
    if (MXNDArrayFree(recv) != 0)
        sgd_fail(opt, "MXNDArrayFree(recv)");
    if (MXNDArrayFree(local) != 0)
        sgd_fail(opt, "MXNDArrayFree(local)");
}

/* ---- one simulated device ---- */

struct device {
    NDArrayHandle param[NUM_KEYS]; /* this device's replica, pulled from the store */
    NDArrayHandle grad[NUM_KEYS];  /* this device's gradient, pushed to the store */
    float *weight, *bias;          /* host view of the replica */
    float *grad_weight, *grad_bias;
};

static NDArrayHandle new_array(const uint32_t *shape, uint32_t ndim, int dev_id)
{
    NDArrayHandle out = NULL;
    CHECK(MXNDArrayCreateEx(shape, ndim, DEV_CPU, dev_id, 0, DTYPE_FLOAT32, &out));
    return out;
}

static long parse_arg(const char *text, long lo, long hi, const char *what)
{
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (end == text || *end != '\0' || value < lo || value > hi) {
        fprintf(stderr, "train: %s must be an integer in %ld..%ld, got '%s'\n", what, lo,
                hi, text);
        fprintf(stderr, "usage: train [devices [epochs]]\n");
        exit(2);
    }
    return value;
}

int main(int argc, char **argv)
{
    const uint32_t shape[NUM_KEYS][2] = {{NUM_CLASSES, NUM_FEATURES}, {NUM_CLASSES, 0}};
    const uint32_t ndim[NUM_KEYS] = {2, 1};
    const size_t size[NUM_KEYS] = {NUM_CLASSES * NUM_FEATURES, NUM_CLASSES};
    int num_devices = DEFAULT_DEVICES, epochs = DEFAULT_EPOCHS;
    int version = 0, api_version = 0, k, d, epoch, is_server = 0, rank = 0, workers = 1, dist;
    const char *store_name = "local";
    int *push_keys;
    NDArrayHandle *push_vals, *pull_vals;
    struct device *dev;
    struct dataset data;
    struct sgd opt;
    KVStoreHandle kv = NULL;
    const char *kv_type = NULL;
    size_t *order, *rows, steps = 0, push_calls = 0, pull_calls = 0, seen, i;
    double train_ms = 0.0, total_start, test_acc = 0.0;

    if (argc > 4) {
        fprintf(stderr, "usage: train [devices [epochs [store]]]\n");
        return 2;
    }
    if (argc > 1)
        num_devices = (int)parse_arg(argv[1], 1, MAX_DEVICES, "devices");
    if (argc > 2)
        epochs = (int)parse_arg(argv[2], 1, 1000, "epochs");
    if (argc > 3)
        store_name = argv[3];
    dist = strstr(store_name, "dist") != NULL;

    /* The optimizer: on the server rank of a dist store, in this store otherwise. */
    memset(&opt, 0, sizeof opt);
    opt.learning_rate = LEARNING_RATE;
    opt.momentum = MOMENTUM;
    opt.weight_decay = WEIGHT_DECAY;
    opt.rescale = 1.0f / (float)BATCH_SIZE;
    for (k = 0; k < NUM_KEYS; k++) {
        opt.size[k] = size[k];
        opt.velocity[k] = xcalloc(size[k], sizeof(float));
    }
    CHECK(MXKVStoreCreate(store_name, &kv));
    CHECK(MXKVStoreGetType(kv, &kv_type));
    CHECK(MXKVStoreSetUpdater(kv, sgd_update, &opt));
    CHECK(MXKVStoreIsServerNode(&is_server));
    if (is_server) {
        CHECK(MXKVStoreRunServer(kv, NULL, NULL));
        CHECK(MXKVStoreFree(kv));
        if (opt.failed)
            fprintf(stderr, "train: updater failed on the server: %s\n", opt.error);
        return opt.failed;
    }
    CHECK(MXKVStoreGetRank(kv, &rank));
    CHECK(MXKVStoreGetGroupSize(kv, &workers));

    CHECK(MXKVGetVersion(&version));
    CHECK(MXGetVersion(&api_version));
    if (rank == 0)
        printf("mxkv %d.%d.%d (MXNet API %d): softmax regression, %d classes x %d features,"
           " %d train / %d test samples\n",
           version / 10000, version / 100 % 100, version % 100, api_version, NUM_CLASSES,
           NUM_FEATURES, NUM_TRAIN, NUM_TEST);

    make_dataset(&data);

    /* The store: weights (key 0) and bias (key 1), initialised with zeros. */
    {
        const int keys[NUM_KEYS] = {KEY_WEIGHT, KEY_BIAS};
        NDArrayHandle init[NUM_KEYS];
        for (k = 0; k < NUM_KEYS; k++) {
            float *zeros = xcalloc(size[k], sizeof(float));
            init[k] = new_array(shape[k], ndim[k], 0);
            CHECK(MXNDArraySyncCopyFromCPU(init[k], zeros, size[k]));
            free(zeros);
        }
        CHECK(MXKVStoreInit(kv, NUM_KEYS, keys, init));
        /* Init deep-copies: our handles can go right away. */
        for (k = 0; k < NUM_KEYS; k++)
            CHECK(MXNDArrayFree(init[k]));
    }

    /* Per-device arrays and the key/value lists of the one push and one pull per step:
     * keys = [0 × N, 1 × N], values = [grad_w(0..N-1), grad_b(0..N-1)]. */
    dev = xcalloc((size_t)num_devices, sizeof *dev);
    push_keys = xcalloc((size_t)NUM_KEYS * num_devices, sizeof(int));
    push_vals = xcalloc((size_t)NUM_KEYS * num_devices, sizeof(NDArrayHandle));
    pull_vals = xcalloc((size_t)NUM_KEYS * num_devices, sizeof(NDArrayHandle));
    for (d = 0; d < num_devices; d++) {
        for (k = 0; k < NUM_KEYS; k++) {
            dev[d].param[k] = new_array(shape[k], ndim[k], d);
            dev[d].grad[k] = new_array(shape[k], ndim[k], d);
            push_keys[k * num_devices + d] = k;
            push_vals[k * num_devices + d] = dev[d].grad[k];
            pull_vals[k * num_devices + d] = dev[d].param[k];
        }
        dev[d].weight = xcalloc(size[KEY_WEIGHT], sizeof(float));
        dev[d].bias = xcalloc(size[KEY_BIAS], sizeof(float));
        dev[d].grad_weight = xcalloc(size[KEY_WEIGHT], sizeof(float));
        dev[d].grad_bias = xcalloc(size[KEY_BIAS], sizeof(float));
    }
    /* Every replica starts from the stored value. */
    CHECK(MXKVStorePull(kv, (uint32_t)(NUM_KEYS * num_devices), push_keys, pull_vals, 0));
    pull_calls++;

    if (rank == 0)
        printf("store '%s', %d worker(s) x %d devices cpu(0..%d), batch %d (%d per device), "
               "SGD lr %g momentum %g wd %g\n",
               kv_type, workers, num_devices, num_devices - 1, BATCH_SIZE,
               BATCH_SIZE / (num_devices * workers), (double)LEARNING_RATE, (double)MOMENTUM,
               (double)WEIGHT_DECAY);

    order = xcalloc(NUM_TRAIN, sizeof(size_t));
    rows = xcalloc(BATCH_SIZE, sizeof(size_t));
    for (i = 0; i < NUM_TRAIN; i++)
        order[i] = i;

    total_start = now_ms();
    for (epoch = 1; epoch <= epochs; epoch++) {
        double epoch_start = now_ms(), loss = 0.0, train_acc, epoch_train_ms;
        size_t correct = 0, start;

        seen = 0;

        /* Fisher–Yates shuffle of the training order. */
        for (i = NUM_TRAIN - 1; i > 0; i--) {
            size_t j = rng_below(i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }

        for (start = 0; start < NUM_TRAIN; start += BATCH_SIZE) {
            size_t batch = NUM_TRAIN - start < BATCH_SIZE ? NUM_TRAIN - start : BATCH_SIZE;
            memcpy(rows, order + start, batch * sizeof(size_t));

            /* Each device: read its replica, compute the gradient of its shard (the
             * batch is shared by the devices of every worker). */
            for (d = 0; d < num_devices; d++) {
                size_t shard = (size_t)rank * (size_t)num_devices + (size_t)d;
                size_t shards = (size_t)workers * (size_t)num_devices;
                size_t lo = batch * shard / shards;
                size_t hi = batch * (shard + 1) / shards;
                struct device *dv = &dev[d];
                CHECK(MXNDArraySyncCopyToCPU(dv->param[KEY_WEIGHT], dv->weight, size[KEY_WEIGHT]));
                CHECK(MXNDArraySyncCopyToCPU(dv->param[KEY_BIAS], dv->bias, size[KEY_BIAS]));
                shard_gradient(dv->weight, dv->bias, &data, rows + lo, hi - lo,
                               dv->grad_weight, dv->grad_bias, &loss, &correct);
                seen += hi - lo;
                CHECK(MXNDArraySyncCopyFromCPU(dv->grad[KEY_WEIGHT], dv->grad_weight,
                                               size[KEY_WEIGHT]));
                CHECK(MXNDArraySyncCopyFromCPU(dv->grad[KEY_BIAS], dv->grad_bias,
                                               size[KEY_BIAS]));
            }

            /* One push: the store sums the N gradients of each key and runs the updater
             * once per key.  One pull: the new parameters go to all N replicas. */
            opt.rescale = 1.0f / (float)batch;
            CHECK(MXKVStorePush(kv, (uint32_t)(NUM_KEYS * num_devices), push_keys, push_vals, 0));
            push_calls++;
            if (opt.failed) {
                fprintf(stderr, "train: updater failed: %s\n", opt.error);
                return 1;
            }
            CHECK(MXKVStorePull(kv, (uint32_t)(NUM_KEYS * num_devices), push_keys, pull_vals, 0));
            pull_calls++;
            steps++;
        }
        epoch_train_ms = now_ms() - epoch_start;
        train_ms += epoch_train_ms;
        train_acc = (double)correct / (double)seen;

        /* Evaluate on device 0's replica; every replica must hold the same values. */
        for (d = 0; d < num_devices; d++) {
            CHECK(MXNDArraySyncCopyToCPU(dev[d].param[KEY_WEIGHT], dev[d].weight, size[KEY_WEIGHT]));
            CHECK(MXNDArraySyncCopyToCPU(dev[d].param[KEY_BIAS], dev[d].bias, size[KEY_BIAS]));
            if (memcmp(dev[d].weight, dev[0].weight, size[KEY_WEIGHT] * sizeof(float)) != 0 ||
                memcmp(dev[d].bias, dev[0].bias, size[KEY_BIAS] * sizeof(float)) != 0) {
                fprintf(stderr, "train: replica on cpu(%d) differs from cpu(0) after pull\n", d);
                return 1;
            }
        }
        test_acc = accuracy(dev[0].weight, dev[0].bias, &data, NUM_TRAIN, NUM_TEST);
        if (rank == 0)
            printf("epoch %2d  train loss %.4f  train acc %.4f  test acc %.4f  time %7.1f ms\n",
                   epoch, loss / (double)seen, train_acc, test_acc, now_ms() - epoch_start);
        fflush(stdout);
    }

    /* Here the updater runs once per key per push, except on the workers of a dist store
     * with servers, where it runs on the servers. */
    if ((long)(NUM_KEYS * steps) != opt.calls && !(dist && opt.calls == 0)) {
        fprintf(stderr, "train: updater ran %ld times, expected %lu (one per key per push)\n",
                opt.calls, (unsigned long)(NUM_KEYS * steps));
        return 1;
    }
    if (rank == 0)
        printf("summary: final test acc %.4f (target %.2f)  total %.1f ms  steps %lu  "
               "push calls %lu  pull calls %lu  updater calls %ld  throughput %.0f samples/s\n",
               test_acc, ACCURACY_TARGET, now_ms() - total_start, (unsigned long)steps,
               (unsigned long)push_calls, (unsigned long)pull_calls, opt.calls,
               (double)NUM_TRAIN * epochs / (train_ms / 1e3));

    for (d = 0; d < num_devices; d++) {
        for (k = 0; k < NUM_KEYS; k++) {
            CHECK(MXNDArrayFree(dev[d].param[k]));
            CHECK(MXNDArrayFree(dev[d].grad[k]));
        }
        free(dev[d].weight);
        free(dev[d].bias);
        free(dev[d].grad_weight);
        free(dev[d].grad_bias);
    }
    CHECK(MXKVStoreFree(kv));
    for (k = 0; k < NUM_KEYS; k++)
        free(opt.velocity[k]);
    free(dev);
    free(push_keys);
    free(push_vals);
    free(pull_vals);
    free(order);
    free(rows);
    free(data.x);
    free(data.y);

    if (test_acc < ACCURACY_TARGET) {
        fprintf(stderr, "train: final test accuracy %.4f is below the target %.2f\n", test_acc,
                ACCURACY_TARGET);
        return 1;
    }
    return 0;
}
