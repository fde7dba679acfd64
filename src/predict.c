/*
 * Inference on a shared model: nn_predict reads the network and writes only
 * the caller's workspace and output, so any number of threads may run it on
 * one network at once (serving). Three ways through a layer, picked by
 * shape and ISA alone:
 *   - up to the ISA's few_columns_max columns (8, or 1 on the scalar ISA,
 *     where that beats the GEMM, so that no batch is slower per call than a
 *     larger one): the ISA's layer_few_columns, which streams
 *     W once per few columns (one-sample latency is W's bytes over the
 *     cache bandwidth, not a 32 x 12 tile of which one column is real);
 *     with threads, each takes the same rows of every layer on every call,
 *     so each core streams its part of W from its own cache (the two L2s
 *     together: about twice the bandwidth);
 *   - a network on the small-network path (small.c): its forward kernel;
 *   - otherwise the blocked GEMM, bias and g as its epilogue.
 * Every element is computed the same way whatever the thread count, so
 * results are bitwise identical for any `threads`.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "network.h"

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
    return m > kr->few_columns_max && nn_small_eligible(net, kr);
}

/* The layer's product, with bias and g as its epilogue (`e`, filled here)
 * except for softmax; the same arguments size the workspace and run it, so
 * that both see the same kind of product (with an epilogue it is never a
 * skinny one that needs no workspace). */
static nn_gemm_args layer_gemm(const nn_kernels *kr, const nn_layer *ly, size_t m, const float *in,
                               size_t ld_in, float *z, bias_act *e)
{
    *e = (bias_act){.kr = kr, .ly = ly, .z = z};
    nn_gemm_args g = {.ta = NN_NO_TRANS, .tb = NN_NO_TRANS, .m = ly->out, .n = m, .k = ly->in,
                      .alpha = 1.0f, .a = ly->w, .lda = ly->out, .b = in, .ldb = ld_in, .c = z,
                      .ldc = ly->out};
    if (ly->act != NN_SOFTMAX) g.epilogue = bias_act_block, g.epilogue_ctx = e;
    return g;
}

/* Bytes of workspace for m columns on kernels kr: two activation buffers
 * (max units x m), then what the small path or the GEMM needs; SIZE_MAX on
 * overflow. */
static size_t workspace_bytes(const nn_network *net, const nn_kernels *kr, size_t m, int threads,
                              size_t *act_floats)
{
    size_t act;
    if (!nn_mul_size(net->max_units, m, &act) || act > SIZE_MAX / 16) return SIZE_MAX;
    act = nn_line_floats(act);
    size_t extra = 0; /* bytes */
    if (use_small(net, kr, m)) {
        extra = nn_small_work_floats(net, kr) * sizeof(float);
    } else if (m > kr->few_columns_max) {
        for (size_t l = 0; l < net->n_layers; l++) {
            bias_act e;
            const nn_gemm_args g = layer_gemm(kr, &net->layers[l], m, NULL, 0, NULL, &e);
            const size_t need = nn_gemm_workspace(kr, &g, nn_gemm_threads(kr, &g, threads));
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

size_t nn_predict_workspace_size(const nn_network *net, size_t m, int threads)
{
    size_t act;
    if (!net || threads < 0) return SIZE_MAX;
    if (m == 0) return 0;
    return workspace_bytes(net, nn_kernels_active(), m, nn_resolve_threads(threads), &act);
}

/* A layer over a few columns split by rows across the team: thread t of k
 * takes rows [lo, hi), cut on cache lines. */
static void few_columns_rows(const nn_kernels *kr, const nn_layer *ly, const float *in, size_t ld_in,
                             size_t m, float *z, int t, int k)
{
    const size_t per_line = NN_CACHE_LINE / sizeof(float);
    const size_t lines = (ly->out + per_line - 1) / per_line;
    const size_t lo = lines * (size_t)t / (size_t)k * per_line, hi_line = lines * ((size_t)t + 1) / (size_t)k * per_line;
    const size_t hi = hi_line < ly->out ? hi_line : ly->out;
    if (lo >= hi) return;
    const nn_activation g = ly->act == NN_SOFTMAX ? NN_IDENTITY : ly->act;
    kr->layer_few_columns(hi - lo, ly->in, ly->w + lo, ly->out, ly->b + lo, g, in, ld_in, m, z + lo, ly->out);
}

/* Threads a layer of the few-columns path is worth (1: thread 0 alone). */
static int few_columns_team(const nn_kernels *kr, const nn_layer *ly, size_t m, int nt)
{
    return nn_worth_threads(nt, kr, NN_WORK_MACS, (double)(ly->out * ly->in * m), 0);
}

typedef struct few_job {
    const nn_kernels *kr;
    const nn_network *net;
    const float *x;
    size_t ldx, m;
    float *ping[2], *y;
    size_t ldy;
    const float *result; /* where the last layer landed */
    atomic_size_t handed; /* parts handed to thread 0 (see few_columns_net) */
} few_job;

#ifdef _OPENMP
/* Thread 0 waits until `count` parts in all have been handed to it. */
static void wait_for_parts(atomic_size_t *handed, size_t count)
{
    for (unsigned spins = 0; atomic_load_explicit(handed, memory_order_acquire) < count; spins++) {
        if (spins > 4096) sched_yield(); /* a preempted partner: give it the core */
    }
}
#endif

/* The layers in order, each on the threads it is worth. Into a split layer
 * everyone goes through a barrier; into one that thread 0 runs alone (or to
 * the end), the others only hand their part over, a release-ordered count
 * that thread 0 waits on, and go on to the next split layer or leave: a
 * barrier costs this project's machines 0.3-0.45 us, and one sample
 * through 784-256-128-10 on 2 threads paid three (5.5 us; handed over: 4.8,
 * against 5.8 on one thread). */
static void few_columns_net(few_job *jb, int t, int nt)
{
    const nn_network *net = jb->net;
    const size_t L = net->n_layers, n_out = net->layers[L - 1].out;
    const float *in = jb->x;
    size_t ld_in = jb->ldx;
#ifdef _OPENMP
    size_t expected = 0;
#endif
    int k = few_columns_team(jb->kr, &net->layers[0], jb->m, nt);
    for (size_t l = 0; l < L; l++) {
        const nn_layer *ly = &net->layers[l];
        /* the last layer writes straight into Y where its columns are packed */
        float *z = l + 1 == L && jb->ldy == n_out ? jb->y : jb->ping[l % 2];
        if (t < k) few_columns_rows(jb->kr, ly, in, ld_in, jb->m, z, t, k);
        const int next = l + 1 < L ? few_columns_team(jb->kr, &net->layers[l + 1], jb->m, nt) : 1;
#ifdef _OPENMP
        if (next > 1) {
#pragma omp barrier
        } else if (k > 1) {
            expected += (size_t)k - 1;
            if (t == 0) wait_for_parts(&jb->handed, expected);
            else if (t < k) atomic_fetch_add_explicit(&jb->handed, 1, memory_order_release);
        }
#endif
        if (t == 0 && ly->act == NN_SOFTMAX)
            for (size_t j = 0; j < jb->m; j++) jb->kr->softmax(ly->out, z + j * ly->out, z + j * ly->out);
        in = z, ld_in = ly->out, k = next;
    }
    if (t == 0) jb->result = in;
}

nn_status nn_predict(const nn_network *net, int threads, const float *x, size_t ldx, size_t m, float *y,
                     size_t ldy, void *work, size_t work_size)
{
    if (!net || threads < 0) return NN_ERR_INVALID_ARGUMENT;
    if (m == 0) return NN_OK; /* empty work */
    if (!x || !y) return NN_ERR_INVALID_ARGUMENT;
    const size_t n_in = net->layers[0].in, L = net->n_layers, n_out = net->layers[L - 1].out;
    nn_status s;
    if ((s = nn_check_matrix(x, n_in, m, ldx)) || (s = nn_check_matrix(y, n_out, m, ldy))) return s;
    const nn_kernels *kr = nn_kernels_active();
    const int nt = nn_resolve_threads(threads);
    size_t act;
    const size_t need = workspace_bytes(net, kr, m, nt, &act);
    if (need == SIZE_MAX) return NN_ERR_OVERFLOW;
    if (!work || work_size < need) return NN_ERR_INVALID_ARGUMENT;
    if (!nn_all_finite(n_in, m, x, ldx)) return NN_ERR_NON_FINITE;

    float *buf = (float *)(((uintptr_t)work + NN_CACHE_LINE - 1) & ~(uintptr_t)(NN_CACHE_LINE - 1));
    float *ping[2] = {buf, buf + act};
    void *extra = buf + 2 * act;
    const float *result;
    if (m <= kr->few_columns_max) {
        few_job jb = {.kr = kr, .net = net, .x = x, .ldx = ldx, .m = m, .ping = {ping[0], ping[1]},
                      .y = y, .ldy = ldy};
        atomic_init(&jb.handed, 0);
        /* threads only where the widest layer gives each one enough */
        size_t widest = 0;
        for (size_t l = 0; l < L; l++)
            if (net->layers[l].out * net->layers[l].in > widest) widest = net->layers[l].out * net->layers[l].in;
        const int team = nn_worth_threads(nt, kr, NN_WORK_MACS, (double)(widest * m), 0);
#ifdef _OPENMP
        if (team > 1) {
#pragma omp parallel num_threads(team)
            {
                nn_bind_team();
                few_columns_net(&jb, omp_get_thread_num(), omp_get_num_threads());
            }
        } else
#else
        (void)team;
#endif
            few_columns_net(&jb, 0, 1);
        result = jb.result;
    } else if (use_small(net, kr, m)) {
        nn_small_net d;
        nn_small_describe(net, &d);
        kr->small_run_chunk(&d, m, x, ldx, NULL, 0, 0.0f, y, ldy, NULL, NULL, extra);
        return NN_OK;
    } else {
        const float *in = x;
        size_t ld_in = ldx;
        for (size_t l = 0; l < L; l++) {
            const nn_layer *ly = &net->layers[l];
            float *z = l + 1 == L && ldy == n_out ? y : ping[l % 2];
            bias_act e;
            const nn_gemm_args g = layer_gemm(kr, ly, m, in, ld_in, z, &e);
            nn_gemm_run(kr, &g, nn_gemm_threads(kr, &g, nt), extra);
            if (ly->act == NN_SOFTMAX) kr->bias_activate[NN_SOFTMAX](ly->out, m, ly->b, z);
            in = z, ld_in = ly->out;
        }
        result = in;
    }
    if (result != y)
        for (size_t j = 0; j < m; j++) memcpy(y + j * ldy, result + j * n_out, n_out * sizeof(float));
    return NN_OK;
}
