/* nn_predict: inference on a shared, read-only network with a caller-owned
 * workspace. Against nn_forward on every ISA for every batch size around
 * the few-column path's limits; the workspace is all it writes; bad
 * arguments; many threads on one network. */
#include <pthread.h>
#include <stdio.h>

#include "testutil.h"

typedef struct netspec {
    size_t layers;
    size_t sizes[4];
    nn_activation acts[3];
    nn_loss loss;
} netspec;

static const netspec specs[] = {
    {3, {784, 256, 128, 10}, {NN_RELU, NN_RELU, NN_SOFTMAX}, NN_CROSS_ENTROPY}, /* Fashion-MNIST's */
    {3, {5, 33, 17, 3}, {NN_TANH, NN_SIGMOID, NN_IDENTITY}, NN_MSE},           /* masked row tails */
    {2, {1, 20, 1}, {NN_SIGMOID, NN_IDENTITY}, NN_MSE},                        /* small-network path */
    {2, {70, 300, 2}, {NN_LEAKY_RELU, NN_SOFTMAX}, NN_CROSS_ENTROPY},         /* rows > 8 vectors */
    /* K = 1 products with an epilogue need a workspace (found by fuzz_api) */
    {2, {1, 1, 1}, {NN_TANH, NN_SOFTMAX}, NN_CROSS_ENTROPY},
};

static nn_network *make(const netspec *sp)
{
    nn_network *net = NULL;
    ck_assert_int_eq(nn_network_create(&net, sp->layers, sp->sizes, sp->acts, sp->loss, 3), NN_OK);
    for (size_t l = 0; l < sp->layers; l++) { /* nonzero biases */
        float *b = tu_random(sp->sizes[l + 1], 10 + l, -0.3f, 0.3f);
        ck_assert_int_eq(nn_set_bias(net, l, b), NN_OK);
        free(b);
    }
    return net;
}

START_TEST(matches_forward_every_isa)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    const size_t batches[] = {1, 2, 3, 4, 5, 7, 8, 9, 13, 64, 100};
    for (int s = 0; s < n_isa; s++) {
        ck_assert_int_eq(nn_set_isa(isas[s]), NN_OK);
        for (size_t k = 0; k < sizeof specs / sizeof *specs; k++) {
            const netspec *sp = &specs[k];
            nn_network *net = make(sp);
            const size_t n_in = sp->sizes[0], n_out = sp->sizes[sp->layers];
            for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++) {
                const size_t m = batches[bi], ldx = n_in + 3, ldy = n_out + 2;
                float *x = tu_random(ldx * m, m + 100 * k, -1, 1);
                float *want = malloc(n_out * m * sizeof *want), *y = malloc(ldy * m * sizeof *y);
                for (size_t i = 0; i < ldy * m; i++) y[i] = -7.0f; /* padding rows must stay */
                ck_assert_int_eq(nn_forward(net, x, ldx, m, want, n_out), NN_OK);
                const size_t ws = nn_predict_workspace_size(net, m, 1), guard = 128;
                ck_assert_uint_ne(ws, SIZE_MAX);
                unsigned char *w = malloc(ws + guard + 1);
                memset(w + 1 + ws, 0x5A, guard);
                /* an odd address: the workspace needs no alignment */
                ck_assert_int_eq(nn_predict(net, 1, x, ldx, m, y, ldy, w + 1, ws), NN_OK);
                for (size_t i = 0; i < guard; i++) ck_assert_int_eq(w[1 + ws + i], 0x5A);
                for (size_t j = 0; j < m; j++)
                    for (size_t i = 0; i < ldy; i++) {
                        const float got = y[i + j * ldy];
                        if (i >= n_out) {
                            ck_assert_float_eq(got, -7.0f);
                            continue;
                        }
                        const float ref = want[i + j * n_out];
                        ck_assert_msg(fabsf(got - ref) <= 1e-5f * (1.0f + fabsf(ref)),
                                      "%s spec %zu m=%zu (%zu,%zu): %g vs nn_forward %g",
                                      nn_isa_name(isas[s]), k, m, i, j, (double)got, (double)ref);
                    }
                free(x), free(want), free(y), free(w);
            }
            nn_network_destroy(net);
        }
    }
}
END_TEST

START_TEST(bad_arguments)
{
    nn_network *net = make(&specs[1]);
    float x[5 * 2] = {0}, y[3 * 2];
    const size_t ws = nn_predict_workspace_size(net, 2, 1);
    void *w = malloc(ws);
    ck_assert_int_eq(nn_predict(net, 1, x, 5, 2, y, 3, w, ws), NN_OK);
    ck_assert_int_eq(nn_predict(NULL, 1, x, 5, 2, y, 3, w, ws), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_predict(net, 1, NULL, 5, 2, y, 3, w, ws), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_predict(net, 1, x, 5, 2, NULL, 3, w, ws), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_predict(net, 1, NULL, 5, 0, NULL, 3, NULL, 0), NN_OK); /* empty work */
    ck_assert_int_eq(nn_predict(net, 1, x, 4, 2, y, 3, w, ws), NN_ERR_INVALID_ARGUMENT); /* ldx < rows */
    ck_assert_int_eq(nn_predict(net, 1, x, 5, 2, y, 2, w, ws), NN_ERR_INVALID_ARGUMENT); /* ldy < rows */
    ck_assert_int_eq(nn_predict(net, 1, x, 5, 2, y, 3, w, ws - 1), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_predict(net, 1, x, 5, 2, y, 3, NULL, ws), NN_ERR_INVALID_ARGUMENT);
    x[7] = NAN;
    ck_assert_int_eq(nn_predict(net, 1, x, 5, 2, y, 3, w, ws), NN_ERR_NON_FINITE);
    ck_assert_uint_eq(nn_predict_workspace_size(NULL, 1, 1), SIZE_MAX);
    ck_assert_uint_eq(nn_predict_workspace_size(net, 1, -1), SIZE_MAX);
    ck_assert_int_eq(nn_predict(net, -1, x, 5, 2, y, 3, w, ws), NN_ERR_INVALID_ARGUMENT);
    ck_assert_uint_eq(nn_predict_workspace_size(net, 0, 1), 0);
    ck_assert_uint_eq(nn_predict_workspace_size(net, SIZE_MAX / 4, 1), SIZE_MAX); /* overflows */
    free(w);
    nn_network_destroy(net);
}
END_TEST

/* Four threads predict on one network at once, each its own samples and
 * workspace, many times: every result equals the serial one bit for bit. */
typedef struct worker {
    const nn_network *net;
    const float *x;
    size_t m;
    const float *want;
    int mismatches;
} worker;

static void *predict_loop(void *arg)
{
    worker *wk = arg;
    const size_t ws = nn_predict_workspace_size(wk->net, wk->m, 1);
    void *w = malloc(ws);
    float *y = malloc(10 * wk->m * sizeof *y);
    for (int it = 0; it < 200 && w && y; it++) {
        if (nn_predict(wk->net, 1, wk->x, 784, wk->m, y, 10, w, ws) != NN_OK ||
            memcmp(y, wk->want, 10 * wk->m * sizeof *y) != 0)
            wk->mismatches++;
    }
    free(w), free(y);
    return NULL;
}

START_TEST(many_threads_share_one_network)
{
    nn_network *net = make(&specs[0]);
    worker wk[4];
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        const size_t m = (size_t)(t % 2 ? 1 : 3 + 4 * t); /* few-column and GEMM paths */
        float *x = tu_random(784 * m, 50 + t, 0, 1), *want = malloc(10 * m * sizeof *want);
        const size_t ws = nn_predict_workspace_size(net, m, 1);
        void *w = malloc(ws);
        ck_assert_int_eq(nn_predict(net, 1, x, 784, m, want, 10, w, ws), NN_OK);
        free(w);
        wk[t] = (worker){.net = net, .x = x, .m = m, .want = want};
    }
    for (int t = 0; t < 4; t++) ck_assert_int_eq(pthread_create(&th[t], NULL, predict_loop, &wk[t]), 0);
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        ck_assert_int_eq(wk[t].mismatches, 0);
        free((void *)wk[t].x), free((void *)wk[t].want);
    }
    nn_network_destroy(net);
}
END_TEST

/* 1..4 threads: the same bits, on every ISA, for the few-column path (rows
 * split across threads) and the GEMM path. The second network alternates
 * layers split across threads with layers thread 0 runs alone (with the
 * calibrated thresholds, NN_TEAM_US=0 as CTest runs it: on AVX-512, 784 x
 * 256 and 32 x 2048 are worth two threads for 3 samples, 256 x 32 and
 * 2048 x 10 are not), so every hand-over between the two kinds is taken. */
START_TEST(bitwise_identical_across_threads)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    nn_network *nets[2] = {make(&specs[0]), NULL};
    const size_t sizes[] = {784, 256, 32, 2048, 10};
    const nn_activation acts[] = {NN_RELU, NN_TANH, NN_RELU, NN_SOFTMAX};
    ck_assert_int_eq(nn_network_create(&nets[1], 4, sizes, acts, NN_CROSS_ENTROPY, 5), NN_OK);
    const size_t batches[] = {1, 3, 8, 40};
    for (int s = 0; s < n_isa; s++) {
        ck_assert_int_eq(nn_set_isa(isas[s]), NN_OK);
        for (int q = 0; q < 2; q++)
            for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++) {
                const size_t m = batches[bi];
                float *x = tu_random(784 * m, 70 + m, 0, 1), *y1 = malloc(10 * m * sizeof *y1);
                float *yt = malloc(10 * m * sizeof *yt);
                for (int t = 1; t <= 4; t++) {
                    const size_t ws = nn_predict_workspace_size(nets[q], m, t);
                    void *w = malloc(ws);
                    ck_assert_int_eq(nn_predict(nets[q], t, x, 784, m, t == 1 ? y1 : yt, 10, w, ws), NN_OK);
                    free(w);
                    if (t > 1)
                        ck_assert_msg(memcmp(y1, yt, 10 * m * sizeof *y1) == 0, "%s net %d m=%zu: %d threads differ",
                                      nn_isa_name(isas[s]), q, m, t);
                }
                free(x), free(y1), free(yt);
            }
    }
    nn_network_destroy(nets[0]);
    nn_network_destroy(nets[1]);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {matches_forward_every_isa, bad_arguments, many_threads_share_one_network,
                                  bitwise_identical_across_threads};
    return tu_main("predict", 300, tests, sizeof tests / sizeof *tests);
}
