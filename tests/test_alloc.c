/* Every allocation the library makes may fail: this binary is linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc, so the library's own calls
 * (not those inside libgomp, hwloc or zlib) go through a counter that fails
 * the n-th one. Each scenario runs with n = 0, 1, 2, ... until it succeeds
 * with no failure injected; every earlier run must end in a clean status
 * (never a crash, and no leak under the ASan build). */
#include <stdio.h>

#include "testutil.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static long fail_at = -1, seen;

static int should_fail(void) { return fail_at >= 0 && seen++ == fail_at; }
void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return should_fail() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }

typedef nn_status (*scenario_fn)(void);

/* Run the scenario failing allocation 0, 1, ...; returns how many it made. */
static long sweep(const char *name, scenario_fn fn)
{
    for (long n = 0; n < 10000; n++) {
        fail_at = n, seen = 0;
        const nn_status s = fn();
        const int injected = seen > n;
        fail_at = -1;
        if (!injected) {
            ck_assert_msg(s == NN_OK, "%s: %s with no failure injected", name, nn_strerror(s));
            return n;
        }
        ck_assert_msg(s == NN_ERR_OUT_OF_MEMORY || s == NN_ERR_IO, "%s: allocation %ld failed -> %s",
                      name, n, nn_strerror(s));
    }
    ck_abort_msg("%s: never succeeded", name);
    return -1;
}

static const size_t sizes[] = {5, 7, 3};
static const nn_activation acts[] = {NN_TANH, NN_SOFTMAX};

static nn_status train_scenario(void)
{
    float x[5 * 12], y[3 * 12] = {0};
    for (int i = 0; i < 60; i++) x[i] = (float)(i % 7) * 0.1f;
    for (int j = 0; j < 12; j++) y[j * 3 + j % 3] = 1.0f;
    nn_network *net = NULL;
    nn_status s = nn_network_create(&net, 2, sizes, acts, NN_CROSS_ENTROPY, 1);
    if (s) return s;
    nn_optimizer adam = nn_optimizer_default(NN_ADAM);
    const nn_train_options opt = {.epochs = 2, .batch_size = 4, .learning_rate = 0.01f, .shuffle_seed = 2};
    float cost, out[3 * 12];
    if (!(s = nn_set_optimizer(net, &adam)) && !(s = nn_reserve(net, 8)) &&
        !(s = nn_gradient(net, x, 5, y, 3, 12, &cost)) && !(s = nn_step(net, 0.01f)) &&
        !(s = nn_train_step(net, x, 5, y, 3, 12, 0.01f, &cost)) &&
        !(s = nn_train(net, x, 5, y, 3, 12, &opt, NULL, NULL)))
        s = nn_forward(net, x, 5, 12, out, 3);
    nn_network_destroy(net);
    return s;
}

static nn_status kernels_scenario(void)
{
    float a[6 * 7], b[7 * 5], c[7 * 5], r[6]; /* C = Aᵀ·B is 7 x 5 */
    for (int i = 0; i < 42; i++) a[i] = (float)i;
    for (int i = 0; i < 35; i++) b[i] = 1.0f;
    nn_status s = nn_sgemm(NN_TRANS, NN_NO_TRANS, 7, 5, 6, 1.0f, a, 6, b, 7, 0.0f, c, 7);
    if (!s) s = nn_row_sums(6, 5, c, 6, r);
    return s;
}

static nn_status model_scenario(void)
{
    nn_network *net = NULL, *back = NULL;
    nn_status s = nn_network_create(&net, 2, sizes, acts, NN_CROSS_ENTROPY, 3);
    if (s) return s;
    if (!(s = nn_save(net, "t_alloc.nnm"))) s = nn_load(&back, "t_alloc.nnm");
    nn_network_destroy(back);
    nn_network_destroy(net);
    return s;
}

static nn_status idx_scenario(void)
{
    const uint8_t bytes[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 10, 20, 30, 40};
    const uint8_t lab[] = {0, 0, 8, 1, 0, 0, 0, 2, 1, 0};
    nn_idx im, lb;
    nn_status s = nn_idx_decode(bytes, sizeof bytes, &im);
    if (s) return s;
    if ((s = nn_idx_decode(lab, sizeof lab, &lb))) {
        nn_idx_free(&im);
        return s;
    }
    float *x = NULL, *y = NULL;
    s = nn_idx_dataset(&im, &lb, 2, &x, &y);
    free(x), free(y);
    nn_idx_free(&im), nn_idx_free(&lb);
    return s;
}

START_TEST(every_allocation_failure_is_a_status)
{
    const long n_train = sweep("training", train_scenario);
    const long n_kernels = sweep("kernels", kernels_scenario);
    const long n_model = sweep("save/load", model_scenario);
    const long n_idx = sweep("idx", idx_scenario);
    printf("allocations failed one by one: training %ld, kernels %ld, save/load %ld, idx %ld\n", n_train,
           n_kernels, n_model, n_idx);
    ck_assert_int_gt(n_train, 5); /* the wrapper really sees the library's allocations */
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {every_allocation_failure_is_a_status};
    return tu_main("alloc", 300, tests, sizeof tests / sizeof *tests);
}
