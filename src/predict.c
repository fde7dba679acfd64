/*
 * Inference on a shared model: nn_predict reads the network and writes only
 * the caller's workspace and output, so any number of threads may run it on
 * one network at once (serving), each on its own thread. Three ways through
 * a layer, picked by shape alone:
 *   - up to FEW_COLUMNS columns: the ISA's layer_few_columns, which streams
 *     W once per four columns (one-sample latency is W's bytes over the
 *     cache bandwidth, not a 32 x 12 tile of which one column is real);
 *   - a network on the small-network path (small.c): its forward kernel;
 *   - otherwise the blocked GEMM on one thread, bias and g as its epilogue.
 */
#include <stdint.h>
#include <string.h>

#include "network.h"

/* Up to this many columns go through layer_few_columns: at 8 it streams W
 * twice and still beats the 12-column GEMM tile (nnbench
 * infer/.../784-256-128-10/b8 against b16). */
#define FEW_COLUMNS 8

typedef struct bias_act {
    const nn_kernels *kr;
    const nn_layer *ly;
    float *z;
} bias_act;

/* GEMM epilogue: Z = g(Z + b) on the finished block (not softmax) */
static void bias_act_block(void *ctx, size_t i0, size_t i1, size_t j0, size_t j1)
{
    const bias_act *e = ctx;
    const size_t rows = e->ly->out;
    for (size_t j = j0; j < j1; j++)
        e->kr->bias_activate[e->ly->act](i1 - i0, 1, e->ly->b + i0, e->z + j * rows + i0);
}

static int use_small(const nn_network *net, const nn_kernels *kr, size_t m)
{
    return m > FEW_COLUMNS && nn_small_eligible(net, kr);
}

static nn_gemm_args layer_gemm(const nn_layer *ly, size_t m, const float *in, size_t ld_in, float *z)
{
    return (nn_gemm_args){.ta = NN_NO_TRANS, .tb = NN_NO_TRANS, .m = ly->out, .n = m, .k = ly->in,
                          .alpha = 1.0f, .a = ly->w, .lda = ly->out, .b = in, .ldb = ld_in, .c = z,
                          .ldc = ly->out};
}

/* Bytes of workspace for m columns on kernels kr: two activation buffers
 * (max units x m), then what the small path or the GEMM needs; SIZE_MAX on
 * overflow. */
static size_t workspace_bytes(const nn_network *net, const nn_kernels *kr, size_t m, size_t *act_floats)
{
    size_t act;
    if (!nn_mul_size(net->max_units, m, &act) || act > SIZE_MAX / 16) return SIZE_MAX;
    act = nn_line_floats(act);
    size_t extra = 0; /* bytes */
    if (use_small(net, kr, m)) {
        extra = nn_small_work_floats(net, kr) * sizeof(float);
    } else if (m > FEW_COLUMNS) {
        for (size_t l = 0; l < net->n_layers; l++) {
            const nn_gemm_args g = layer_gemm(&net->layers[l], m, NULL, 0, NULL);
            const size_t need = nn_gemm_workspace(kr, &g, 1);
            if (need == SIZE_MAX) return SIZE_MAX;
            if (need > extra) extra = need;
        }
    }
    size_t total;
    if (!nn_mul_size(2 * act, sizeof(float), &total) || !nn_add_size(total, extra, &total) ||
        !nn_add_size(total, NN_CACHE_LINE, &total))
        return SIZE_MAX;
    *act_floats = act;
    return total;
}

size_t nn_predict_workspace_size(const nn_network *net, size_t m)
{
    size_t act;
    if (!net || m == 0) return SIZE_MAX;
    return workspace_bytes(net, nn_kernels_active(), m, &act);
}

nn_status nn_predict(const nn_network *net, const float *x, size_t ldx, size_t m, float *y, size_t ldy,
                     void *work, size_t work_size)
{
    if (!net || !x || !y || m == 0) return NN_ERR_INVALID_ARGUMENT;
    const size_t n_in = net->layers[0].in, L = net->n_layers, n_out = net->layers[L - 1].out;
    nn_status s;
    if ((s = nn_check_matrix(x, n_in, m, ldx)) || (s = nn_check_matrix(y, n_out, m, ldy))) return s;
    const nn_kernels *kr = nn_kernels_active();
    size_t act;
    const size_t need = workspace_bytes(net, kr, m, &act);
    if (need == SIZE_MAX) return NN_ERR_OVERFLOW;
    if (!work || work_size < need) return NN_ERR_INVALID_ARGUMENT;
    if (!nn_all_finite(n_in, m, x, ldx)) return NN_ERR_NON_FINITE;

    float *buf = (float *)(((uintptr_t)work + NN_CACHE_LINE - 1) & ~(uintptr_t)(NN_CACHE_LINE - 1));
    float *ping[2] = {buf, buf + act};
    void *extra = buf + 2 * act;
    if (use_small(net, kr, m)) {
        nn_small_net d;
        nn_small_describe(net, &d);
        kr->small_run_chunk(&d, m, x, ldx, NULL, 0, 0.0f, y, ldy, NULL, NULL, extra);
        return NN_OK;
    }
    const float *in = x;
    size_t ld_in = ldx;
    for (size_t l = 0; l < L; l++) {
        const nn_layer *ly = &net->layers[l];
        const int last = l + 1 == L;
        /* the last layer writes straight into Y where its columns are packed */
        float *z = last && ldy == n_out ? y : ping[l % 2];
        if (m <= FEW_COLUMNS) {
            const nn_activation g = ly->act == NN_SOFTMAX ? NN_IDENTITY : ly->act;
            kr->layer_few_columns(ly->out, ly->in, ly->w, ly->out, ly->b, g, in, ld_in, m, z, ly->out);
            if (ly->act == NN_SOFTMAX)
                for (size_t j = 0; j < m; j++) kr->softmax(ly->out, z + j * ly->out, z + j * ly->out);
        } else {
            bias_act e = {.kr = kr, .ly = ly, .z = z};
            nn_gemm_args g = layer_gemm(ly, m, in, ld_in, z);
            if (ly->act != NN_SOFTMAX) g.epilogue = bias_act_block, g.epilogue_ctx = &e;
            nn_gemm_run(kr, &g, 1, extra);
            if (ly->act == NN_SOFTMAX) kr->bias_activate[NN_SOFTMAX](ly->out, m, ly->b, z);
        }
        in = z, ld_in = ly->out;
    }
    if (in != y)
        for (size_t j = 0; j < m; j++) memcpy(y + j * ldy, in + j * n_out, n_out * sizeof(float));
    return NN_OK;
}
