/*
 * The small-network path: networks whose layers are all a few units wide
 * (the seed's 1-20-1 sine network, small regressors) spend their time in the
 * general path's per-product overheads (planning, packing, zero-padded
 * 32 x 12 tiles with one useful row, an epilogue call per tile) rather than
 * in arithmetic. Here the whole network runs forward and backward over a
 * block of columns at a time with samples in the vector lanes (the ISA's
 * small_run_chunk), its activations kept in L1.
 *
 * Determinism: the columns are cut into chunks of CHUNK columns, a function
 * of m alone; each chunk's gradient is summed by one thread in block order,
 * and the chunks' gradients are added in chunk order, so the result is
 * bitwise the same for every thread count.
 */
#include <string.h>

#include "network.h"

/* Columns per chunk: a multiple of every ISA's block (4 vectors). */
#define CHUNK 1024

/* The per-lane dW sums must stay in L1/L2 next to the blocks' activations:
 * up to 64 KiB of them (1024 parameters with AVX-512's 16 lanes). */
#define MAX_ACC_BYTES (64 * 1024)

int nn_small_eligible(const nn_network *net, const nn_kernels *kr)
{
    if (!kr->small_run_chunk || net->loss != NN_MSE || net->n_layers > NN_SMALL_MAX_LAYERS) return 0;
    for (size_t l = 0; l < net->n_layers; l++) {
        const nn_layer *ly = &net->layers[l];
        if (ly->in > NN_SMALL_MAX_UNITS || ly->out > NN_SMALL_MAX_UNITS || ly->act == NN_SOFTMAX)
            return 0;
    }
    return net->n_params * (kr->small_block / 4) * sizeof(float) <= MAX_ACC_BYTES;
}

size_t nn_small_work_floats(const nn_network *net, const nn_kernels *kr)
{
    size_t units = net->layers[0].in;
    for (size_t l = 0; l < net->n_layers; l++) units += net->layers[l].out;
    return nn_line_floats((units + 2 * net->max_units) * kr->small_block + net->n_params * (kr->small_block / 4));
}

void nn_small_describe(const nn_network *net, nn_small_net *d)
{
    memset(d, 0, sizeof *d);
    d->n_layers = net->n_layers, d->max_units = net->max_units, d->n_params = net->n_params;
    for (size_t l = 0; l < net->n_layers; l++) {
        const nn_layer *ly = &net->layers[l];
        d->layers[l] = (nn_small_layer){.in = ly->in, .out = ly->out, .act = ly->act, .w = ly->w, .b = ly->b};
    }
}

typedef struct chunk_job {
    const nn_kernels *kr;
    const nn_small_net *net;
    const float *x, *y;
    size_t ldx, ldy, m;
    float scale;
    float *out;
    size_t ldo;
    float *grads; /* n_params per chunk, chunk 0 first */
    float *costs; /* one per chunk */
    float *work;  /* work_floats per chunk */
    size_t work_stride, grad_stride;
} chunk_job;

static void run_chunks(void *ctx, size_t lo, size_t hi)
{
    const chunk_job *jb = ctx;
    for (size_t c = lo; c < hi; c++) {
        const size_t j0 = c * CHUNK, cols = jb->m - j0 < CHUNK ? jb->m - j0 : CHUNK;
        jb->kr->small_run_chunk(jb->net, cols, jb->x + j0 * jb->ldx, jb->ldx,
                                jb->y ? jb->y + j0 * jb->ldy : NULL, jb->ldy, jb->scale,
                                jb->out ? jb->out + j0 * jb->ldo : NULL, jb->ldo,
                                jb->grads + c * jb->grad_stride, jb->costs + c,
                                jb->work + c * jb->work_stride);
    }
}

nn_status nn_small_run(nn_network *net, const nn_kernels *kr, const float *x, size_t ldx,
                       const float *y, size_t ldy, size_t m, float *out, size_t ldo, float *cost)
{
    const size_t chunks = (m + CHUNK - 1) / CHUNK, wf = nn_small_work_floats(net, kr);
    const size_t gf = chunks > 1 ? nn_line_floats(net->n_params) : 0;
    size_t need, t;
    if (!nn_mul_size(chunks, wf + gf + 1, &need) || !nn_mul_size(need, sizeof(float), &t))
        return nn_fail(net, NN_ERR_OVERFLOW, "small-network workspace for %zu columns", m);
    if (t > net->small_ws_size) {
        float *w = nn_alloc_lines(t, 0);
        if (!w) return nn_fail(net, NN_ERR_OUT_OF_MEMORY, "small-network workspace for %zu columns", m);
        nn_free_lines(net->small_ws);
        net->small_ws = w;
        net->small_ws_size = t;
    }
    nn_small_net d;
    nn_small_describe(net, &d);
    float *costs = net->small_ws + chunks * (wf + gf);
    chunk_job jb = {.kr = kr, .net = &d, .x = x, .y = y, .ldx = ldx, .ldy = ldy, .m = m,
                    .scale = 1.0f / (float)m, .out = out, .ldo = ldo,
                    .grads = chunks > 1 ? net->small_ws + chunks * wf : net->grads, .costs = costs,
                    .work = net->small_ws, .work_stride = wf, .grad_stride = gf};
    /* a chunk is about 2·(parameters + units) flops per column, times a few
     * for the activations; nn_parallel_ranges keeps small runs on one thread */
    nn_parallel_ranges(nn_resolve_threads(net->threads), chunks, CHUNK * 4 * (net->n_params + d.max_units),
                       run_chunks, &jb);
    if (!y) return NN_OK;
    float total = costs[0];
    if (chunks > 1) {
        memcpy(net->grads, jb.grads, net->n_params * sizeof(float));
        for (size_t c = 1; c < chunks; c++) {
            const float *g = jb.grads + c * gf;
            for (size_t i = 0; i < net->n_params; i++) net->grads[i] += g[i];
            total += costs[c];
        }
    }
    if (cost) *cost = total / (2.0f * (float)m);
    return NN_OK;
}
