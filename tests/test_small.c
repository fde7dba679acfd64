/* The small-network path (src/small.c and each ISA's small_run_chunk):
 * forward output, cost and gradient against a float64 reimplementation of
 * the seed's back-propagation, on every ISA, over batch sizes that leave
 * partial blocks and several chunks; thread-count determinism; and that the
 * networks under test really take the path. */
#include <float.h>
#include <stdio.h>

#include "network.h"
#include "testutil.h"

typedef struct netspec {
    size_t layers;
    size_t sizes[5];
    nn_activation acts[4];
} netspec;

static const netspec specs[] = {
    {2, {1, 20, 1}, {NN_SIGMOID, NN_IDENTITY}},                      /* the seed's sine network */
    {3, {3, 7, 5, 2}, {NN_TANH, NN_RELU, NN_SIGMOID}},              /* odd widths, every g' */
    {4, {2, 9, 16, 3, 4}, {NN_LEAKY_RELU, NN_SIGMOID, NN_TANH, NN_IDENTITY}},
};

static double g64(nn_activation act, double z)
{
    switch (act) {
    case NN_SIGMOID: return 1.0 / (1.0 + exp(-z));
    case NN_TANH: return tanh(z);
    case NN_RELU: return z > 0 ? z : 0;
    case NN_LEAKY_RELU: return z > 0 ? z : NN_LEAKY_SLOPE * z;
    default: return z;
    }
}

static double dg64(nn_activation act, double a) /* g'(z) from a = g(z) */
{
    switch (act) {
    case NN_SIGMOID: return a * (1 - a);
    case NN_TANH: return 1 - a * a;
    case NN_RELU: return a > 0 ? 1 : 0;
    case NN_LEAKY_RELU: return a > 0 ? 1 : NN_LEAKY_SLOPE;
    default: return 1;
    }
}

/* The seed's evaluate / back-propagate in double, one column at a time:
 * gradient of Σ(A − Y)²/(2m) into grad (the network's parameter layout),
 * the cost into *cost, the output into out. */
static void reference(const netspec *sp, const float *params, size_t m, const float *x, size_t ldx,
                      const float *y, double *grad, double *cost, double *out)
{
    const size_t L = sp->layers;
    double a[5][64], d[2][64];
    size_t off[4], n_params = 0;
    for (size_t l = 0; l < L; l++) off[l] = n_params, n_params += sp->sizes[l] * sp->sizes[l + 1] + sp->sizes[l + 1];
    memset(grad, 0, n_params * sizeof *grad);
    *cost = 0;
    for (size_t j = 0; j < m; j++) {
        for (size_t i = 0; i < sp->sizes[0]; i++) a[0][i] = x[i + j * ldx];
        for (size_t l = 0; l < L; l++) {
            const size_t in = sp->sizes[l], o_n = sp->sizes[l + 1];
            const float *w = params + off[l], *b = w + in * o_n;
            for (size_t o = 0; o < o_n; o++) {
                double z = b[o];
                for (size_t i = 0; i < in; i++) z += (double)w[o + i * o_n] * a[l][i];
                a[l + 1][o] = g64(sp->acts[l], z);
            }
        }
        const size_t n_out = sp->sizes[L];
        for (size_t o = 0; o < n_out; o++) {
            const double diff = a[L][o] - y[o + j * n_out];
            out[o + j * n_out] = a[L][o];
            *cost += diff * diff / (2.0 * (double)m);
            d[0][o] = diff / (double)m * dg64(sp->acts[L - 1], a[L][o]);
        }
        int cur = 0;
        for (size_t l = L; l-- > 0;) {
            const size_t in = sp->sizes[l], o_n = sp->sizes[l + 1];
            const float *w = params + off[l];
            double *gw = grad + off[l], *gb = gw + in * o_n;
            for (size_t o = 0; o < o_n; o++) {
                gb[o] += d[cur][o];
                for (size_t i = 0; i < in; i++) gw[o + i * o_n] += d[cur][o] * a[l][i];
            }
            if (l == 0) break;
            for (size_t i = 0; i < in; i++) {
                double s = 0;
                for (size_t o = 0; o < o_n; o++) s += (double)w[o + i * o_n] * d[cur][o];
                d[1 - cur][i] = s * dg64(sp->acts[l - 1], a[l][i]);
            }
            cur = 1 - cur;
        }
    }
}

static nn_network *make(const netspec *sp, uint64_t seed)
{
    nn_network *net = NULL;
    ck_assert_int_eq(nn_network_create(&net, sp->layers, sp->sizes, sp->acts, NN_MSE, seed), NN_OK);
    /* nonzero biases, so that a bias handled wrongly shows */
    for (size_t l = 0; l < sp->layers; l++) {
        float *b = tu_random(sp->sizes[l + 1], seed + l, -0.5f, 0.5f);
        ck_assert_int_eq(nn_set_bias(net, l, b), NN_OK);
        free(b);
    }
    return net;
}

/* Gradient, cost and output within float rounding of the float64 reference:
 * per parameter 1e-4 of the layer's largest gradient plus 1e-4 relative
 * (the activations are the ISAs' own approximations, ~1-2 ULP). */
START_TEST(matches_float64_reference)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    const size_t batches[] = {1, 5, 63, 64, 65, 100, 1000, 1025, 2500};
    for (int s = 0; s < n_isa; s++) {
        ck_assert_int_eq(nn_set_isa(isas[s]), NN_OK);
        for (size_t k = 0; k < sizeof specs / sizeof *specs; k++) {
            const netspec *sp = &specs[k];
            nn_network *net = make(sp, 40 + k);
            ck_assert_msg(nn_small_eligible(net, nn_kernels_active()), "%s: spec %zu not on the small path",
                          nn_isa_name(isas[s]), k);
            const size_t n_params = nn_network_parameter_count(net), n_in = sp->sizes[0],
                         n_out = sp->sizes[sp->layers];
            for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++) {
                const size_t m = batches[bi], ldx = n_in + 1; /* ldx > rows: the gather's strided case */
                float *x = tu_random(ldx * m, 7 * m + k, -2, 2), *y = tu_random(n_out * m, 9 * m + k, -1, 1);
                float *out = malloc(n_out * m * sizeof *out);
                double *ref = malloc(n_params * sizeof *ref), *ref_out = malloc(n_out * m * sizeof *ref_out);
                double ref_cost;
                reference(sp, net->params, m, x, ldx, y, ref, &ref_cost, ref_out);
                float cost;
                ck_assert_int_eq(nn_gradient(net, x, ldx, y, n_out, m, &cost), NN_OK);
                ck_assert_msg(fabs(cost - ref_cost) <= 1e-5 * ref_cost + 1e-9, "%s spec %zu m=%zu: cost %g vs %g",
                              nn_isa_name(isas[s]), k, m, (double)cost, ref_cost);
                size_t at = 0;
                for (size_t l = 0; l < sp->layers; l++) {
                    const size_t count = sp->sizes[l] * sp->sizes[l + 1] + sp->sizes[l + 1];
                    double gmax = 0;
                    for (size_t i = 0; i < count; i++) gmax = fmax(gmax, fabs(ref[at + i]));
                    for (size_t i = 0; i < count; i++) {
                        const double g = net->grads[at + i], want = ref[at + i];
                        ck_assert_msg(fabs(g - want) <= 1e-4 * gmax + 1e-4 * fabs(want) + 1e-12,
                                      "%s spec %zu m=%zu layer %zu param %zu: %g vs %g", nn_isa_name(isas[s]),
                                      k, m, l, i, g, want);
                    }
                    at += count;
                }
                ck_assert_int_eq(nn_forward(net, x, ldx, m, out, n_out), NN_OK);
                for (size_t i = 0; i < n_out * m; i++)
                    ck_assert_msg(fabs(out[i] - ref_out[i]) <= 1e-5 * (1 + fabs(ref_out[i])),
                                  "%s spec %zu m=%zu output %zu: %g vs %g", nn_isa_name(isas[s]), k, m, i,
                                  (double)out[i], ref_out[i]);
                free(x), free(y), free(out), free(ref), free(ref_out);
            }
            nn_network_destroy(net);
        }
    }
}
END_TEST

/* Several chunks (m = 3000: three of 1024 columns and a partial one) on 1..4
 * threads: the same bits, and the same trained weights after 5 steps. */
START_TEST(bitwise_identical_across_threads)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    const size_t m = 3000;
    for (int s = 0; s < n_isa; s++) {
        ck_assert_int_eq(nn_set_isa(isas[s]), NN_OK);
        for (size_t k = 0; k < sizeof specs / sizeof *specs; k++) {
            const netspec *sp = &specs[k];
            const size_t n_in = sp->sizes[0], n_out = sp->sizes[sp->layers];
            float *x = tu_random(n_in * m, 3 + k, -2, 2), *y = tu_random(n_out * m, 4 + k, -1, 1);
            uint64_t digest1 = 0;
            float cost1 = 0;
            for (int t = 1; t <= 4; t++) {
                nn_network *net = make(sp, 5);
                ck_assert_int_eq(nn_set_threads(net, t), NN_OK);
                float cost = 0;
                for (int step = 0; step < 5; step++)
                    ck_assert_int_eq(nn_train_step(net, x, n_in, y, n_out, m, 0.05f, &cost), NN_OK);
                const uint64_t d = nn_weights_digest(net);
                if (t == 1) digest1 = d, cost1 = cost;
                ck_assert_msg(d == digest1 && memcmp(&cost, &cost1, sizeof cost) == 0,
                              "%s spec %zu: %d threads differ from 1", nn_isa_name(isas[s]), k, t);
                nn_network_destroy(net);
            }
            free(x), free(y);
        }
    }
}
END_TEST

/* What the path takes and leaves: softmax, wide layers, many parameters. */
START_TEST(eligibility)
{
    const nn_kernels *kr = nn_kernels_for(NN_ISA_SCALAR);
    nn_network *net = NULL;
    const size_t sine[] = {1, 20, 1}, wide[] = {4, 65, 1}, soft[] = {2, 8, 3}, mlp[] = {784, 256, 10};
    const nn_activation sig_id[] = {NN_SIGMOID, NN_IDENTITY}, relu_soft[] = {NN_RELU, NN_SOFTMAX};
    ck_assert_int_eq(nn_network_create(&net, 2, sine, sig_id, NN_MSE, 1), NN_OK);
    ck_assert(nn_small_eligible(net, kr));
    nn_network_destroy(net);
    ck_assert_int_eq(nn_network_create(&net, 2, wide, sig_id, NN_MSE, 1), NN_OK);
    ck_assert(!nn_small_eligible(net, kr));
    nn_network_destroy(net);
    ck_assert_int_eq(nn_network_create(&net, 2, soft, relu_soft, NN_CROSS_ENTROPY, 1), NN_OK);
    ck_assert(!nn_small_eligible(net, kr));
    nn_network_destroy(net);
    ck_assert_int_eq(nn_network_create(&net, 2, mlp, sig_id, NN_MSE, 1), NN_OK);
    ck_assert(!nn_small_eligible(net, kr));
    nn_network_destroy(net);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {matches_float64_reference, bitwise_identical_across_threads, eligibility};
    return tu_main("small", 300, tests, sizeof tests / sizeof *tests);
}
