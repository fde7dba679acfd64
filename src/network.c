/*
 * Networks: creation, parameters, and the seed's evaluate / back-propagate,
 * matrix-style, with samples as columns:
 *   forward   Z = W·A + b, A = g(Z)                 (GEMM NN + fused bias/g)
 *   output    dZ = (A − Y)/m ⊙ g'(A) for MSE, (A − Y)/m for softmax + CE
 *   backward  dW = dZ·Aᵀ (GEMM NT), db = Σ_columns dZ, dA = Wᵀ·dZ (GEMM TN),
 *             dZ = dA ⊙ g'(A)
 * Derivatives are taken from A (sigmoid a(1−a), tanh 1−a², ReLU a > 0), so Z
 * is never stored except for a softmax output, whose Z gives an exact
 * log-sum-exp cross-entropy. All heavy work goes through the kernel table.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "network.h"

#ifdef _OPENMP
#include <omp.h>
#endif

nn_status nn_fail(nn_network *net, nn_status s, const char *fmt, ...)
{
    if (net) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(net->err, sizeof net->err, fmt, ap);
        va_end(ap);
    }
    return s;
}

const char *nn_network_error(const nn_network *net) { return net ? net->err : "no network"; }

typedef struct finite_job {
    size_t rows, ld;
    const float *p;
    atomic_int bad;
} finite_job;

static void finite_range(void *ctx, size_t lo, size_t hi)
{
    finite_job *f = ctx;
    if (!nn_all_finite(f->rows, hi - lo, f->p + lo * f->ld, f->ld)) atomic_store(&f->bad, 1);
}

static int all_finite_parallel(int threads, size_t rows, size_t cols, const float *p, size_t ld)
{
    finite_job f = {.rows = rows, .ld = ld, .p = p};
    atomic_init(&f.bad, 0);
    nn_parallel_ranges(threads, cols, rows, finite_range, &f);
    return !atomic_load(&f.bad);
}

int nn_all_finite(size_t rows, size_t cols, const float *p, size_t ld)
{
    const nn_kernels *kr = nn_kernels_active();
    if (ld == rows && cols > 1 && rows <= SIZE_MAX / cols) /* contiguous: one long column */
        return kr->all_finite(rows * cols, p);
    for (size_t j = 0; j < cols; j++)
        if (!kr->all_finite(rows, p + j * ld)) return 0;
    return 1;
}

/* ---- creation ----------------------------------------------------------- */


nn_status nn_network_init(nn_network *net, uint64_t seed)
{
    if (!net) return NN_ERR_INVALID_ARGUMENT;
    uint64_t state = seed;
    for (size_t l = 0; l < net->n_layers; l++) {
        nn_layer *ly = &net->layers[l];
        const int he = ly->act == NN_RELU || ly->act == NN_LEAKY_RELU;
        const float r = sqrtf(6.0f / (float)(he ? ly->in : ly->in + ly->out));
        for (size_t i = 0; i < ly->in * ly->out; i++) {
            const float u = (float)(nn_splitmix64(&state) >> 40) * (1.0f / 16777216.0f);
            ly->w[i] = (2.0f * u - 1.0f) * r;
        }
        memset(ly->b, 0, ly->out * sizeof(float));
    }
    memset(net->grads, 0, net->n_params * sizeof(float));
    net->err[0] = '\0';
    return NN_OK;
}

/* The message, when the caller gave room for one; returns s. */
static nn_status why_not(nn_status s, char *why, size_t size, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static nn_status why_not(nn_status s, char *why, size_t size, const char *fmt, ...)
{
    if (why && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, size, fmt, ap);
        va_end(ap);
    }
    return s;
}

nn_status nn_network_check(size_t n_layers, const size_t *sizes, const nn_activation *acts, nn_loss loss,
                           char *why, size_t why_size)
{
    if (why && why_size) why[0] = '\0';
    if (!sizes || !acts) return why_not(NN_ERR_INVALID_ARGUMENT, why, why_size, "sizes or activations are NULL");
    if (n_layers == 0) return why_not(NN_ERR_INVALID_ARGUMENT, why, why_size, "no layers");
    if (loss != NN_MSE && loss != NN_CROSS_ENTROPY)
        return why_not(NN_ERR_INVALID_ARGUMENT, why, why_size, "unknown loss %d", (int)loss);
    size_t n_params = 0;
    for (size_t l = 0; l < n_layers; l++) {
        if (sizes[l] == 0 || sizes[l + 1] == 0)
            return why_not(NN_ERR_INVALID_ARGUMENT, why, why_size, "sizes[%zu] is 0: a layer needs units",
                           sizes[l] ? l + 1 : l);
        if ((int)acts[l] < 0 || acts[l] >= NN_ACTIVATION_COUNT)
            return why_not(NN_ERR_INVALID_ARGUMENT, why, why_size, "layer %zu: unknown activation %d", l, (int)acts[l]);
        if (acts[l] == NN_SOFTMAX && l + 1 != n_layers)
            return why_not(NN_ERR_INVALID_ARGUMENT, why, why_size,
                           "layer %zu: softmax only on the output layer (layer %zu)", l, n_layers - 1);
        size_t w;
        if (!nn_mul_size(sizes[l], sizes[l + 1], &w) || !nn_add_size(w, sizes[l + 1], &w) ||
            !nn_add_size(n_params, w, &n_params))
            return why_not(NN_ERR_OVERFLOW, why, why_size, "layer %zu: %zu x %zu weights overflow", l, sizes[l + 1],
                           sizes[l]);
    }
    if ((acts[n_layers - 1] == NN_SOFTMAX) != (loss == NN_CROSS_ENTROPY))
        return why_not(NN_ERR_INVALID_ARGUMENT, why, why_size, "%s",
                       loss == NN_CROSS_ENTROPY ? "cross-entropy needs a softmax output layer"
                                                : "a softmax output goes with NN_CROSS_ENTROPY, not MSE");
    size_t bytes;
    if (n_params > SIZE_MAX / 16 || !nn_mul_size(nn_line_floats(n_params), 2 * sizeof(float), &bytes))
        return why_not(NN_ERR_OVERFLOW, why, why_size, "%zu parameters do not fit in memory's address space", n_params);
    return NN_OK;
}

nn_status nn_network_create(nn_network **out, size_t n_layers, const size_t *sizes,
                            const nn_activation *acts, nn_loss loss, uint64_t seed)
{
    if (!out) return NN_ERR_INVALID_ARGUMENT;
    nn_status s = nn_network_check(n_layers, sizes, acts, loss, NULL, 0);
    if (s) return s;
    size_t n_params = 0; /* nn_network_check has bounded every product here */
    for (size_t l = 0; l < n_layers; l++) n_params += sizes[l] * sizes[l + 1] + sizes[l + 1];
    const size_t bytes = nn_line_floats(n_params) * 2 * sizeof(float);

    nn_network *net = calloc(1, sizeof *net);
    if (!net) return NN_ERR_OUT_OF_MEMORY;
    net->layers = calloc(n_layers, sizeof *net->layers);
    net->params = nn_alloc_lines(bytes, 0);
    if (!net->layers || !net->params) {
        nn_network_destroy(net);
        return NN_ERR_OUT_OF_MEMORY;
    }
    net->grads = net->params + nn_line_floats(n_params); /* own lines: threads write both */
    net->n_layers = n_layers;
    net->n_params = n_params;
    net->loss = loss;
    net->opt = nn_optimizer_default(NN_SGD);
    net->opt_len = n_params; /* SGD keeps no state: "all of it" is trivially held */
    size_t off = 0;
    for (size_t l = 0; l < n_layers; l++) {
        nn_layer *ly = &net->layers[l];
        ly->in = sizes[l];
        ly->out = sizes[l + 1];
        ly->act = acts[l];
        ly->w = net->params + off;
        ly->dw = net->grads + off;
        off += ly->in * ly->out;
        ly->b = net->params + off;
        ly->db = net->grads + off;
        off += ly->out;
        if (ly->out > net->max_units) net->max_units = ly->out;
    }
    nn_network_init(net, seed);
    *out = net;
    return NN_OK;
}

void nn_network_destroy(nn_network *net)
{
    if (!net) return;
    free(net->layers);
    nn_free_lines(net->params);
    nn_free_lines(net->opt_m);
    free(net->acts);
    nn_free_lines(net->work);
    free(net->gemm_ws);
    nn_free_lines(net->small_ws);
    free(net);
}

/* ---- accessors ----------------------------------------------------------- */

size_t nn_network_layers(const nn_network *net) { return net ? net->n_layers : 0; }

size_t nn_network_units(const nn_network *net, size_t i)
{
    if (!net || i > net->n_layers) return 0;
    return i == 0 ? net->layers[0].in : net->layers[i - 1].out;
}

nn_activation nn_network_activation(const nn_network *net, size_t layer)
{
    return net && layer < net->n_layers ? net->layers[layer].act : NN_IDENTITY;
}

nn_loss nn_network_loss(const nn_network *net) { return net ? net->loss : NN_MSE; }
size_t nn_network_parameter_count(const nn_network *net) { return net ? net->n_params : 0; }

static nn_status layer_arg(const nn_network *net, size_t layer, const void *p)
{
    if (!net || !p || layer >= net->n_layers) return NN_ERR_INVALID_ARGUMENT;
    return NN_OK;
}

static void copy_matrix(size_t rows, size_t cols, const float *src, size_t lds, float *dst,
                        size_t ldd)
{
    for (size_t j = 0; j < cols; j++) memcpy(dst + j * ldd, src + j * lds, rows * sizeof(float));
}

static nn_status get_matrix(const nn_network *net, size_t layer, const float *src, float *w,
                            size_t ldw)
{
    nn_status s = layer_arg(net, layer, w);
    if (s) return s;
    const nn_layer *ly = &net->layers[layer];
    if ((s = nn_check_matrix(w, ly->out, ly->in, ldw))) return s;
    copy_matrix(ly->out, ly->in, src, ly->out, w, ldw);
    return NN_OK;
}

nn_status nn_get_weights(const nn_network *net, size_t layer, float *w, size_t ldw)
{
    return get_matrix(net, layer, net && layer < net->n_layers ? net->layers[layer].w : NULL, w, ldw);
}

nn_status nn_get_weight_gradient(const nn_network *net, size_t layer, float *dw, size_t ld)
{
    return get_matrix(net, layer, net && layer < net->n_layers ? net->layers[layer].dw : NULL, dw, ld);
}

nn_status nn_get_bias(const nn_network *net, size_t layer, float *b)
{
    nn_status s = layer_arg(net, layer, b);
    if (!s) memcpy(b, net->layers[layer].b, net->layers[layer].out * sizeof(float));
    return s;
}

nn_status nn_get_bias_gradient(const nn_network *net, size_t layer, float *db)
{
    nn_status s = layer_arg(net, layer, db);
    if (!s) memcpy(db, net->layers[layer].db, net->layers[layer].out * sizeof(float));
    return s;
}

nn_status nn_set_weights(nn_network *net, size_t layer, const float *w, size_t ldw)
{
    nn_status s = layer_arg(net, layer, w);
    if (s) return s;
    nn_layer *ly = &net->layers[layer];
    if ((s = nn_check_matrix(w, ly->out, ly->in, ldw)))
        return nn_fail(net, s, "layer %zu: ldw %zu < rows %zu", layer, ldw, ly->out);
    if (!nn_all_finite(ly->out, ly->in, w, ldw))
        return nn_fail(net, NN_ERR_NON_FINITE, "layer %zu: weights hold NaN or Inf", layer);
    copy_matrix(ly->out, ly->in, w, ldw, ly->w, ly->out);
    net->err[0] = '\0';
    return NN_OK;
}

nn_status nn_set_bias(nn_network *net, size_t layer, const float *b)
{
    nn_status s = layer_arg(net, layer, b);
    if (s) return s;
    nn_layer *ly = &net->layers[layer];
    if (!nn_all_finite(ly->out, 1, b, ly->out))
        return nn_fail(net, NN_ERR_NON_FINITE, "layer %zu: bias holds NaN or Inf", layer);
    memcpy(ly->b, b, ly->out * sizeof(float));
    net->err[0] = '\0';
    return NN_OK;
}

nn_status nn_set_threads(nn_network *net, int threads)
{
    if (!net || threads < 0) return NN_ERR_INVALID_ARGUMENT;
    net->threads = threads;
    return NN_OK;
}

uint64_t nn_weights_digest(const nn_network *net)
{
    if (!net) return 0;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
#define NN_FNV_U32(v)                                                                    \
    for (int sh = 0; sh < 32; sh += 8) h = (h ^ (((uint32_t)(v) >> sh) & 0xffu)) * 0x100000001b3ull
    NN_FNV_U32(net->n_layers);
    for (size_t l = 0; l < net->n_layers; l++) {
        NN_FNV_U32(net->layers[l].in);
        NN_FNV_U32(net->layers[l].out);
        NN_FNV_U32(net->layers[l].act);
    }
    for (size_t i = 0; i < net->n_params; i++) {
        uint32_t bits;
        memcpy(&bits, &net->params[i], sizeof bits);
        NN_FNV_U32(bits);
    }
#undef NN_FNV_U32
    return h;
}

/* ---- workspaces ---------------------------------------------------------- */

/* total += n floats, padded to whole cache lines; 0 on overflow. */
static int add_lines(size_t *total, size_t n)
{
    return n <= SIZE_MAX / 2 && nn_add_size(*total, nn_line_floats(n), total);
}

static nn_status ensure_capacity(nn_network *net, size_t m)
{
    if (m <= net->cap && net->work) return NN_OK;
    const size_t L = net->n_layers;
    /* floats: Σ out_l·m + out_L·m + 2·max·m + m + column-sum scratch, each
     * piece on its own cache lines since threads split them */
    size_t total = 0, t;
    for (size_t l = 0; l < L; l++) {
        if (!nn_mul_size(net->layers[l].out, m, &t) || !add_lines(&total, t)) return NN_ERR_OVERFLOW;
    }
    const size_t out_l = net->layers[L - 1].out;
    size_t zsize = 0, dsize;
    if (net->loss == NN_CROSS_ENTROPY && !nn_mul_size(out_l, m, &zsize)) return NN_ERR_OVERFLOW;
    if (!nn_mul_size(net->max_units, m, &dsize)) return NN_ERR_OVERFLOW;
    const size_t scratch = nn_column_sum_scratch(net->max_units, m);
    if (!add_lines(&total, zsize) || !add_lines(&total, dsize) || !add_lines(&total, dsize) ||
        !add_lines(&total, m) || !add_lines(&total, scratch) || !nn_mul_size(total, sizeof(float), &t))
        return NN_ERR_OVERFLOW;
    float *work = nn_alloc_lines(t, 0);
    float **acts = malloc(L * sizeof *acts);
    if (!work || !acts) {
        nn_free_lines(work);
        free(acts);
        return NN_ERR_OUT_OF_MEMORY;
    }
    nn_free_lines(net->work);
    free(net->acts);
    net->work = work;
    net->acts = acts;
    float *p = work;
    for (size_t l = 0; l < L; l++) {
        acts[l] = p;
        p += nn_line_floats(net->layers[l].out * m);
    }
    net->z_out = zsize ? p : NULL;
    p += nn_line_floats(zsize);
    net->delta[0] = p;
    p += nn_line_floats(dsize);
    net->delta[1] = p;
    p += nn_line_floats(dsize);
    net->col_values = p;
    p += nn_line_floats(m);
    net->col_scratch = p;
    net->cap = m;
    return NN_OK;
}

/* Grow the GEMM workspace to hold what (kr, g) on the network's threads
 * needs; the need is recomputed per call since nn_set_isa may change it. */
static nn_status gemm_workspace_for(nn_network *net, const nn_kernels *kr, const nn_gemm_args *g,
                                    int *threads)
{
    *threads = nn_gemm_threads(kr, g, nn_resolve_threads(net->threads));
    const size_t need = nn_gemm_need(kr, g, *threads);
    if (need == SIZE_MAX) return NN_ERR_OVERFLOW;
    if (need > net->gemm_ws_size) {
        void *w = malloc(need);
        if (!w) return NN_ERR_OUT_OF_MEMORY;
        free(net->gemm_ws);
        net->gemm_ws = w;
        net->gemm_ws_size = need;
    }
    return NN_OK;
}

static nn_status net_gemm(nn_network *net, const nn_kernels *kr, const nn_gemm_args *g)
{
    int nt;
    nn_status s = gemm_workspace_for(net, kr, g, &nt);
    if (!s) nn_gemm_run(kr, g, nt, net->gemm_ws);
    return s;
}

nn_status nn_reserve(nn_network *net, size_t batch)
{
    if (!net) return NN_ERR_INVALID_ARGUMENT;
    if (batch == 0) return NN_OK; /* empty work */
    nn_status s = ensure_capacity(net, batch);
    if (s) return nn_fail(net, s, "cannot reserve workspace for %zu columns", batch);
    /* size the GEMM workspace for the largest product of a step */
    const nn_kernels *kr = nn_kernels_active();
    for (size_t l = 0; l < net->n_layers; l++) {
        const nn_layer *ly = &net->layers[l];
        const nn_gemm_args shapes[3] = {
            {.ta = NN_NO_TRANS, .tb = NN_NO_TRANS, .m = ly->out, .n = batch, .k = ly->in, .split_k = 1},
            {.ta = NN_NO_TRANS, .tb = NN_TRANS, .m = ly->out, .n = ly->in, .k = batch},
            {.ta = NN_TRANS, .tb = NN_NO_TRANS, .m = ly->in, .n = batch, .k = ly->out}};
        for (int i = 0; i < 3; i++) {
            int nt;
            if ((s = gemm_workspace_for(net, kr, &shapes[i], &nt)))
                return nn_fail(net, s, "GEMM workspace for layer %zu", l);
        }
    }
    net->err[0] = '\0';
    return NN_OK;
}

/* ---- forward / cost / backward ------------------------------------------- */

nn_status nn_check_batch(nn_network *net, const float *x, size_t ldx, const float *y, size_t ldy,
                         size_t m, int need_y)
{
    if (!net) return NN_ERR_INVALID_ARGUMENT;
    net->err[0] = '\0';
    const size_t n_in = net->layers[0].in, n_out = net->layers[net->n_layers - 1].out;
    if (m == 0) return nn_fail(net, NN_ERR_INVALID_ARGUMENT, "batch size m is 0: a cost or gradient over no samples is undefined");
    if (!x) return nn_fail(net, NN_ERR_INVALID_ARGUMENT, "X is NULL");
    nn_status s = nn_check_matrix(x, n_in, m, ldx);
    if (s) return nn_fail(net, s, "X: ldx %zu with %zu rows x %zu columns", ldx, n_in, m);
    const int threads = nn_resolve_threads(net->threads);
    if (!all_finite_parallel(threads, n_in, m, x, ldx))
        return nn_fail(net, NN_ERR_NON_FINITE, "X holds NaN or Inf");
    if (need_y) {
        if (!y) return nn_fail(net, NN_ERR_INVALID_ARGUMENT, "Y is NULL");
        if ((s = nn_check_matrix(y, n_out, m, ldy)))
            return nn_fail(net, s, "Y: ldy %zu with %zu rows x %zu columns", ldy, n_out, m);
        if (!all_finite_parallel(threads, n_out, m, y, ldy))
            return nn_fail(net, NN_ERR_NON_FINITE, "Y holds NaN or Inf");
        if (net->loss == NN_CROSS_ENTROPY)
            for (size_t j = 0; j < m; j++)
                for (size_t i = 0; i < n_out; i++)
                    if (y[i + j * ldy] < 0.0f)
                        return nn_fail(net, NN_ERR_INVALID_ARGUMENT,
                                       "Y(%zu, %zu) = %g: cross-entropy targets must be >= 0", i, j,
                                       (double)y[i + j * ldy]);
    }
    return NN_OK;
}

/* The elementwise steps of forward and backward, each over a range of
 * columns (rows for the bias gradient), run by nn_parallel_ranges. */
typedef enum { JOB_SOFTMAX, JOB_COST, JOB_OUTPUT_DELTA, JOB_BIAS_GRAD } job_kind;

typedef struct column_job {
    job_kind kind;
    const nn_kernels *kr;
    nn_network *net;
    const nn_layer *ly; /* the layer whose outputs (rows) are processed */
    size_t m;
    float *z, *a;       /* rows x m, contiguous */
    const float *y;
    size_t ldy;
    float scale;
} column_job;

static void column_job_range(void *ctx, size_t lo, size_t hi)
{
    const column_job *jb = ctx;
    const nn_kernels *kr = jb->kr;
    const size_t rows = jb->ly->out;
    float *col = jb->net->col_values;
    switch (jb->kind) {
    case JOB_SOFTMAX: /* keeps Z, writes A and each column's log-sum-exp */
        kr->bias_activate[NN_IDENTITY](rows, hi - lo, jb->ly->b, jb->z + lo * rows);
        for (size_t j = lo; j < hi; j++) col[j] = kr->softmax(rows, jb->z + j * rows, jb->a + j * rows);
        break;
    case JOB_COST: /* per-column costs into col_values */
        for (size_t j = lo; j < hi; j++) {
            const float *yj = jb->y + j * jb->ldy;
            if (jb->net->loss == NN_MSE) {
                col[j] = nn_reduce_sum_sq_diff(kr, rows, jb->a + j * rows, yj);
            } else {
                const float ysum = nn_reduce_sum(kr, rows, yj);
                col[j] = col[j] * ysum - nn_reduce_dot(kr, rows, yj, jb->z + j * rows);
            }
        }
        break;
    case JOB_OUTPUT_DELTA: /* dZ = (A − Y)/m, then ⊙ g'(A) for MSE */
        for (size_t j = lo; j < hi; j++) {
            kr->sub_scale(rows, jb->a + j * rows, jb->y + j * jb->ldy, jb->scale, jb->z + j * rows);
            if (jb->net->loss != NN_CROSS_ENTROPY) continue;
            /* softmax + cross-entropy: dZ = (A·Σy − Y)/m, which is (A − Y)/m
             * only for targets that sum to 1 */
            const float ysum = nn_reduce_sum(kr, rows, jb->y + j * jb->ldy);
            if (ysum != 1.0f) kr->axpy(rows, (ysum - 1.0f) * jb->scale, jb->a + j * rows, jb->z + j * rows);
        }
        if (jb->net->loss == NN_MSE)
            kr->activate_backward[jb->ly->act](rows * (hi - lo), jb->a + lo * rows, jb->z + lo * rows,
                                               jb->z + lo * rows);
        break;
    case JOB_BIAS_GRAD: /* rows lo..hi of db = Σ_columns dZ */
        nn_reduce_columns(kr, hi - lo, jb->m, jb->z + lo, rows, jb->ly->db + lo,
                          jb->net->col_scratch + lo * (nn_column_sum_scratch(rows, jb->m) / rows));
        break;
    }
}

static void run_columns(nn_network *net, column_job *jb, size_t n, size_t cost_per_item)
{
    jb->net = net;
    nn_parallel_ranges(nn_resolve_threads(net->threads), n, cost_per_item, column_job_range, jb);
}

/* The elementwise step that follows a layer's GEMM, run as its epilogue on
 * each finished block of rows i0..i1, columns j0..j1 (whole columns: one
 * call): forward Z = g(Z + b) in place; backward dZ = dA ⊙ g'(A) in place. */
typedef struct activation_epilogue {
    const nn_kernels *kr;
    const nn_layer *ly; /* its activation (and bias, forward) */
    float *z;           /* rows x m, contiguous */
    const float *a;     /* backward: the layer's output A */
    int backward;
} activation_epilogue;

static void activate_block(void *ctx, size_t i0, size_t i1, size_t j0, size_t j1)
{
    const activation_epilogue *e = ctx;
    const size_t rows = e->ly->out, whole = i0 == 0 && i1 == rows;
    for (size_t j = j0; j < j1; j++) {
        const size_t at = j * rows + i0, cols = whole ? j1 - j0 : 1;
        if (e->backward)
            e->kr->activate_backward[e->ly->act](cols * (i1 - i0), e->a + at, e->z + at, e->z + at);
        else
            e->kr->bias_activate[e->ly->act](i1 - i0, cols, e->ly->b + i0, e->z + at);
        if (whole) break;
    }
}

/* Layers first..last-1 of the forward pass (workspace already ensured). */
static nn_status forward_layers(nn_network *net, const nn_kernels *kr, const float *x, size_t ldx,
                                size_t m, size_t first, size_t last)
{
    nn_status s;
    const float *in = first ? net->acts[first - 1] : x;
    size_t ld_in = first ? net->layers[first - 1].out : ldx;
    for (size_t l = first; l < last; l++) {
        const nn_layer *ly = &net->layers[l];
        const int keep_z = ly->act == NN_SOFTMAX;
        float *z = keep_z ? net->z_out : net->acts[l];
        activation_epilogue act = {.kr = kr, .ly = ly, .z = z};
        const nn_gemm_args g = {.ta = NN_NO_TRANS, .tb = NN_NO_TRANS, .m = ly->out, .n = m,
                                .k = ly->in, .alpha = 1.0f, .beta = 0.0f, .a = ly->w,
                                .lda = ly->out, .b = in, .ldb = ld_in, .c = z, .ldc = ly->out,
                                .split_k = 1, .epilogue = keep_z ? NULL : activate_block,
                                .epilogue_ctx = &act};
        if ((s = net_gemm(net, kr, &g))) return nn_fail(net, s, "layer %zu GEMM workspace", l);
        if (keep_z) {
            column_job jb = {.kind = JOB_SOFTMAX, .kr = kr, .ly = ly, .m = m, .z = z, .a = net->acts[l]};
            run_columns(net, &jb, m, ly->out * 8);
        }
        in = net->acts[l];
        ld_in = ly->out;
    }
    return NN_OK;
}

static nn_status forward(nn_network *net, const nn_kernels *kr, const float *x, size_t ldx, size_t m)
{
    nn_status s = ensure_capacity(net, m);
    if (s) return nn_fail(net, s, "workspace for %zu columns", m);
    if (nn_small_eligible(net, kr)) {
        const size_t n_out = net->layers[net->n_layers - 1].out;
        return nn_small_run(net, kr, x, ldx, NULL, 0, m, net->acts[net->n_layers - 1], n_out, NULL);
    }
    return forward_layers(net, kr, x, ldx, m, 0, net->n_layers);
}

/* Cost of the last forward pass against Y. MSE: Σ(A−Y)²/(2m). Cross-entropy
 * from the log-sum-exp kept by forward (col_values): −Σ y·log a =
 * Σ_j (lse_j·Σ_i y_ij − Σ_i y_ij·z_ij), exact even where a underflows. The
 * per-column costs are summed pairwise, in one order for any thread count. */
static float cost_of_batch(nn_network *net, const nn_kernels *kr, const float *y, size_t ldy, size_t m)
{
    const nn_layer *ly = &net->layers[net->n_layers - 1];
    column_job jb = {.kind = JOB_COST, .kr = kr, .ly = ly, .m = m, .z = net->z_out,
                     .a = net->acts[net->n_layers - 1], .y = y, .ldy = ldy};
    run_columns(net, &jb, m, 2 * ly->out);
    const float total = nn_reduce_sum(kr, m, net->col_values);
    return net->loss == NN_MSE ? total / (2.0f * (float)m) : total / (float)m;
}

nn_status nn_forward(nn_network *net, const float *x, size_t ldx, size_t m, float *y, size_t ldy)
{
    if (net && m == 0) { /* empty work */
        net->err[0] = '\0';
        return NN_OK;
    }
    nn_status s = nn_check_batch(net, x, ldx, NULL, 0, m, 0);
    if (s) return s;
    const size_t n_out = net->layers[net->n_layers - 1].out;
    if (y && (s = nn_check_matrix(y, n_out, m, ldy)))
        return nn_fail(net, s, "output: ldy %zu < %zu rows", ldy, n_out);
    if ((s = forward(net, nn_kernels_active(), x, ldx, m))) return s;
    if (y) copy_matrix(n_out, m, net->acts[net->n_layers - 1], n_out, y, ldy);
    return NN_OK;
}

nn_status nn_cost(nn_network *net, const float *x, size_t ldx, const float *y, size_t ldy, size_t m,
                  float *cost)
{
    nn_status s = nn_check_batch(net, x, ldx, y, ldy, m, 1);
    if (s) return s;
    if (!cost) return nn_fail(net, NN_ERR_INVALID_ARGUMENT, "cost is NULL");
    const nn_kernels *kr = nn_kernels_active();
    if ((s = forward(net, kr, x, ldx, m))) return s;
    *cost = cost_of_batch(net, kr, y, ldy, m);
    return NN_OK;
}

/* The weight update as the dW GEMM's epilogue: each block of the layer's
 * weights is updated by the thread that has just computed its gradient (or
 * momentum), while that is in cache, and always by the same thread, so W
 * and the optimizer state stay in that core's caches from step to step. */
typedef struct update_epilogue {
    const nn_network *net;
    const nn_kernels *kr;
    const nn_update *u;
    size_t off, rows; /* the layer's weights: params[off...], ld rows */
} update_epilogue;

static void update_block(void *ctx, size_t i0, size_t i1, size_t j0, size_t j1)
{
    const update_epilogue *e = ctx;
    const float wd = e->net->opt.weight_decay;
    const int applied = e->net->opt.kind == NN_MOMENTUM;
    if (i0 == 0 && i1 == e->rows) { /* whole columns: one span */
        nn_update_span(e->net, e->kr, e->u, e->off + j0 * e->rows, (j1 - j0) * e->rows, wd, applied);
        return;
    }
    for (size_t j = j0; j < j1; j++)
        nn_update_span(e->net, e->kr, e->u, e->off + j * e->rows + i0, i1 - i0, wd, applied);
}

/* dZ of the output layer: (A − Y)/m, ⊙ g'(A) for MSE, into delta[0]. */
static void output_delta(nn_network *net, const nn_kernels *kr, const float *y, size_t ldy, size_t m)
{
    const nn_layer *out = &net->layers[net->n_layers - 1];
    column_job jb = {.kind = JOB_OUTPUT_DELTA, .kr = kr, .ly = out, .m = m, .z = net->delta[0],
                     .a = net->acts[net->n_layers - 1], .y = y, .ldy = ldy, .scale = 1.0f / (float)m};
    run_columns(net, &jb, m, 2 * out->out);
}

/* Back-propagation after forward(), layers last-1 down to first, after
 * output_delta; layer l's dZ is in delta[(L − 1 − l) % 2]. With `u`
 * (training), each layer is also updated as soon as its gradient exists and
 * dA = Wᵀ·dZ has used the old W: SGD inside the weight-gradient GEMM itself,
 *   SGD       W = (1 − lr·λ)·W − lr·dZ·Aᵀ      (alpha and beta of the GEMM)
 * momentum and Adam in its epilogue (update_block), block by block:
 *   momentum  V = μ·V + dZ·Aᵀ (beta), then V += λ·W, W −= lr·V
 *   Adam      dW = dZ·Aᵀ, then the Adam rule on W, M, V
 * so no separate pass over the layer's weights is needed. */
static nn_status backward_layers(nn_network *net, const nn_kernels *kr, const float *x, size_t ldx,
                                 size_t m, const nn_update *u, size_t first, size_t last,
                                 const nn_layer_hook *done)
{
    const size_t L = net->n_layers;
    const nn_optimizer *o = &net->opt;
    nn_status s;
    for (size_t l = last; l-- > first;) {
        const nn_layer *ly = &net->layers[l];
        const float *a_prev = l ? net->acts[l - 1] : x;
        const size_t ld_prev = l ? ly->in : ldx;
        float *dz = net->delta[(L - 1 - l) % 2], *da = net->delta[(L - l) % 2];
        column_job bias_grad = {.kind = JOB_BIAS_GRAD, .kr = kr, .ly = ly, .m = m, .z = dz};
        run_columns(net, &bias_grad, ly->out, m);
        nn_gemm_args gw = {.ta = NN_NO_TRANS, .tb = NN_TRANS, .m = ly->out, .n = ly->in, .k = m,
                           .alpha = 1.0f, .beta = 0.0f, .a = dz, .lda = ly->out, .b = a_prev,
                           .ldb = ld_prev, .c = ly->dw, .ldc = ly->out};
        if (!u) { /* the gradient alone: layer l's is final before dA, so `done` can ship it meanwhile */
            if ((s = net_gemm(net, kr, &gw))) return nn_fail(net, s, "layer %zu dW workspace", l);
            if (done) done->fn(done->ctx, l);
        }
        if (l > 0) { /* before the fused update below overwrites W */
            activation_epilogue back = {.kr = kr, .ly = &net->layers[l - 1], .z = da,
                                        .a = net->acts[l - 1], .backward = 1};
            const nn_gemm_args ga = {.ta = NN_TRANS, .tb = NN_NO_TRANS, .m = ly->in, .n = m,
                                     .k = ly->out, .alpha = 1.0f, .beta = 0.0f, .a = ly->w,
                                     .lda = ly->out, .b = dz, .ldb = ly->out, .c = da, .ldc = ly->in,
                                     .epilogue = activate_block, .epilogue_ctx = &back};
            if ((s = net_gemm(net, kr, &ga))) return nn_fail(net, s, "layer %zu dA workspace", l);
        }
        if (!u) continue;
        update_epilogue ep = {.net = net, .kr = kr, .u = u, .off = (size_t)(ly->w - net->params),
                              .rows = ly->out};
        if (o->kind == NN_SGD) {
            gw.c = ly->w, gw.alpha = -u->lr, gw.beta = 1.0f - u->lr * o->weight_decay;
        } else {
            if (o->kind == NN_MOMENTUM) gw.c = net->opt_m + ep.off, gw.beta = o->momentum;
            gw.epilogue = update_block, gw.epilogue_ctx = &ep;
        }
        if ((s = net_gemm(net, kr, &gw))) return nn_fail(net, s, "layer %zu dW workspace", l);
        nn_update_layer(net, kr, l, u, NN_UPDATE_BIAS);
    }
    return NN_OK;
}

nn_status nn_gradient_hooked(nn_network *net, const float *x, size_t ldx, const float *y, size_t ldy,
                             size_t m, float *cost, const nn_layer_hook *done)
{
    nn_status s = nn_check_batch(net, x, ldx, y, ldy, m, 1);
    if (s) return s;
    const nn_kernels *kr = nn_kernels_active();
    const size_t L = net->n_layers;
    if (nn_small_eligible(net, kr)) { /* every layer's gradient at once */
        if ((s = ensure_capacity(net, m))) return nn_fail(net, s, "workspace for %zu columns", m);
        s = nn_small_run(net, kr, x, ldx, y, ldy, m, net->acts[L - 1], net->layers[L - 1].out, cost);
        for (size_t l = L; !s && done && l-- > 0;) done->fn(done->ctx, l);
        return s;
    }
    if ((s = forward(net, kr, x, ldx, m))) return s;
    if (cost) *cost = cost_of_batch(net, kr, y, ldy, m);
    output_delta(net, kr, y, ldy, m);
    return backward_layers(net, kr, x, ldx, m, NULL, 0, L, done);
}

nn_status nn_gradient(nn_network *net, const float *x, size_t ldx, const float *y, size_t ldy,
                      size_t m, float *cost)
{
    return nn_gradient_hooked(net, x, ldx, y, ldy, m, cost, NULL);
}

/* The output layer's part of a step: its forward product, the cost, the
 * update's bookkeeping, the output delta and its own backward step. */
static nn_status output_layer_step(nn_network *net, const nn_kernels *kr, const float *x, size_t ldx,
                                   const float *y, size_t ldy, size_t m, float learning_rate,
                                   float *cost, nn_update *u)
{
    const size_t L = net->n_layers;
    nn_status s = forward_layers(net, kr, x, ldx, m, L - 1, L);
    if (s) return s;
    if (cost) *cost = cost_of_batch(net, kr, y, ldy, m);
    *u = nn_update_begin(net, learning_rate);
    output_delta(net, kr, y, ldy, m);
    return backward_layers(net, kr, x, ldx, m, u, L - 1, L, NULL);
}

#ifdef _OPENMP
/* 1 if the output layer's products are too small to split: its steps then
 * leave every thread but one idle, and the side job can have them. */
static int output_layer_is_serial(const nn_network *net, size_t m, int threads)
{
    const nn_layer *ly = &net->layers[net->n_layers - 1];
    const nn_gemm_args g = {.m = ly->out, .n = m, .k = ly->in};
    return nn_gemm_threads(nn_kernels_active(), &g, threads) == 1;
}
#endif

nn_status nn_train_step_unchecked(nn_network *net, const float *x, size_t ldx, const float *y,
                                  size_t ldy, size_t m, float learning_rate, float *cost,
                                  const nn_side_job *side)
{
    const nn_kernels *kr = nn_kernels_active();
    const size_t L = net->n_layers;
    nn_status s = ensure_capacity(net, m);
    if (s) return nn_fail(net, s, "workspace for %zu columns", m);
    nn_update u;
    if (nn_small_eligible(net, kr)) { /* gradient, then the whole update at once */
        if ((s = nn_small_run(net, kr, x, ldx, y, ldy, m, net->acts[L - 1], net->layers[L - 1].out, cost)))
            return s;
        u = nn_update_begin(net, learning_rate);
        for (size_t l = 0; l < L; l++) nn_update_layer(net, kr, l, &u, NN_UPDATE_WEIGHTS | NN_UPDATE_BIAS);
        for (size_t c = 0; side && c < side->chunks; c++) side->fn(side->ctx, c, c + 1);
        return NN_OK;
    }
    if ((s = forward_layers(net, kr, x, ldx, m, 0, L - 1))) return s;
#ifdef _OPENMP
    const int threads = nn_resolve_threads(net->threads);
    if (side && threads > 1 && output_layer_is_serial(net, m, threads)) {
        atomic_size_t next;
        atomic_init(&next, 0);
        const int saved = net->threads;
        net->threads = 1; /* the output layer's steps stay on this thread */
#pragma omp parallel num_threads(threads)
        {
            nn_bind_team();
            if (omp_get_thread_num() == 0)
                s = output_layer_step(net, kr, x, ldx, y, ldy, m, learning_rate, cost, &u);
            for (size_t c; (c = atomic_fetch_add(&next, 1)) < side->chunks;) side->fn(side->ctx, c, c + 1);
        }
        net->threads = saved;
    } else
#endif
    {
        s = output_layer_step(net, kr, x, ldx, y, ldy, m, learning_rate, cost, &u);
        for (size_t c = 0; side && c < side->chunks; c++) side->fn(side->ctx, c, c + 1);
    }
    if (s) return s;
    return backward_layers(net, kr, x, ldx, m, &u, 0, L - 1, NULL);
}

nn_status nn_train_step(nn_network *net, const float *x, size_t ldx, const float *y, size_t ldy,
                        size_t m, float learning_rate, float *cost)
{
    nn_status s = nn_check_batch(net, x, ldx, y, ldy, m, 1);
    if (s) return s;
    if (!(learning_rate >= 0.0f) || !isfinite(learning_rate))
        return nn_fail(net, NN_ERR_INVALID_ARGUMENT, "learning rate %g", (double)learning_rate);
    if ((s = nn_optimizer_require_whole(net))) return s;
    return nn_train_step_unchecked(net, x, ldx, y, ldy, m, learning_rate, cost, NULL);
}
