/* Public entry points to single kernels: GEMM and activations. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static nn_status check_gemm(const nn_gemm_args *g)
{
    if ((g->ta != NN_NO_TRANS && g->ta != NN_TRANS) || (g->tb != NN_NO_TRANS && g->tb != NN_TRANS))
        return NN_ERR_INVALID_ARGUMENT;
    if (g->alpha != g->alpha || g->beta != g->beta) return NN_ERR_NON_FINITE;
    const int an = g->ta == NN_NO_TRANS, bn = g->tb == NN_NO_TRANS;
    nn_status s;
    if (g->m && g->n && g->k) {
        if ((s = nn_check_matrix(g->a, an ? g->m : g->k, an ? g->k : g->m, g->lda))) return s;
        if ((s = nn_check_matrix(g->b, bn ? g->k : g->n, bn ? g->n : g->k, g->ldb))) return s;
    }
    return nn_check_matrix(g->c, g->m, g->n, g->ldc);
}

#define GEMM_ARGS                                                                       \
    {.ta = ta, .tb = tb, .m = m, .n = n, .k = k, .alpha = alpha, .beta = beta, .a = a,   \
     .b = b, .c = c, .lda = lda, .ldb = ldb, .ldc = ldc}

size_t nn_sgemm_workspace_size(nn_transpose ta, nn_transpose tb, size_t m, size_t n, size_t k,
                               int threads)
{
    if (threads < 0) return SIZE_MAX;
    const nn_gemm_args g = {.ta = ta, .tb = tb, .m = m, .n = n, .k = k};
    const nn_kernels *kr = nn_kernels_active();
    return nn_gemm_workspace(kr, &g, nn_gemm_threads(kr, &g, nn_resolve_threads(threads)));
}

nn_status nn_sgemm_ws(int threads, void *work, size_t work_size, nn_transpose ta, nn_transpose tb,
                      size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                      const float *b, size_t ldb, float beta, float *c, size_t ldc)
{
    const nn_gemm_args g = GEMM_ARGS;
    nn_status s = check_gemm(&g);
    if (s) return s;
    if (threads < 0) return NN_ERR_INVALID_ARGUMENT;
    const nn_kernels *kr = nn_kernels_active();
    /* sized and run with the same thread count: the layout of the
     * workspace depends on it (a smaller team packs wider B panels) */
    const int nt = nn_gemm_threads(kr, &g, nn_resolve_threads(threads));
    /* one plan sizes and runs it: the size it needs for these very leading
     * dimensions, never more than nn_sgemm_workspace_size's */
    const int ran = nn_gemm_run_within(kr, &g, nt, work, work ? work_size : 0);
    return ran > 0 ? NN_OK : ran < 0 ? NN_ERR_OVERFLOW : NN_ERR_INVALID_ARGUMENT;
}

nn_status nn_sgemm(nn_transpose ta, nn_transpose tb, size_t m, size_t n, size_t k, float alpha,
                   const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
                   size_t ldc)
{
    const nn_gemm_args g = GEMM_ARGS;
    nn_status s = check_gemm(&g);
    if (s) return s;
    const nn_kernels *kr = nn_kernels_active();
    const int nt = nn_gemm_threads(kr, &g, nn_resolve_threads(0));
    const size_t need = nn_gemm_need(kr, &g, nt);
    if (need == SIZE_MAX) return NN_ERR_OVERFLOW;
    void *work = malloc(need ? need : 1);
    if (!work) return NN_ERR_OUT_OF_MEMORY;
    nn_gemm_run(kr, &g, nt, work);
    free(work);
    return NN_OK;
}

nn_status nn_row_sums(size_t rows, size_t cols, const float *x, size_t ldx, float *out)
{
    if (rows == 0) return NN_OK; /* empty work: nothing to write */
    if (!out) return NN_ERR_INVALID_ARGUMENT;
    if (cols == 0) { /* sums of nothing */
        memset(out, 0, rows * sizeof *out);
        return NN_OK;
    }
    nn_status s = nn_check_matrix(x, rows, cols, ldx);
    if (s) return s;
    float *scratch = malloc(nn_column_sum_scratch(rows, cols) * sizeof(float));
    if (!scratch) return NN_ERR_OUT_OF_MEMORY;
    nn_reduce_columns(nn_kernels_active(), rows, cols, x, ldx, out, scratch);
    free(scratch);
    return NN_OK;
}

nn_status nn_sum_squared_difference(size_t n, const float *a, const float *y, float *out)
{
    if (!out) return NN_ERR_INVALID_ARGUMENT;
    if (n == 0) { /* the empty sum */
        *out = 0.0f;
        return NN_OK;
    }
    if (!a || !y) return NN_ERR_INVALID_ARGUMENT;
    if (n > SIZE_MAX / sizeof(float)) return NN_ERR_OVERFLOW;
    *out = nn_reduce_sum_sq_diff(nn_kernels_active(), n, a, y);
    return NN_OK;
}

double nn_fma_probe(size_t iterations)
{
    const nn_kernels *kr = nn_kernels_active();
    volatile float sink = kr->fma_probe(iterations);
    (void)sink;
    return 24.0 * (double)kr->lanes * (double)iterations;
}

nn_status nn_read_probe(size_t n, const float *x, size_t passes, float *sum)
{
    if (!sum || (n && !x)) return NN_ERR_INVALID_ARGUMENT;
    *sum = nn_kernels_active()->read_probe(n, x, passes);
    return NN_OK;
}

static const char *const act_names[NN_ACTIVATION_COUNT] = {"identity", "sigmoid",    "tanh",
                                                           "relu",     "leaky_relu", "softmax"};

const char *nn_activation_name(nn_activation act)
{
    return (int)act >= 0 && act < NN_ACTIVATION_COUNT ? act_names[act] : "unknown";
}

nn_status nn_activation_from_name(const char *name, nn_activation *act)
{
    const int i = nn_name_index(act_names, NN_ACTIVATION_COUNT, name);
    if (i < 0 || !act) return NN_ERR_INVALID_ARGUMENT;
    *act = (nn_activation)i;
    return NN_OK;
}

static nn_status check_pair(nn_activation act, size_t rows, size_t cols, const float *z, size_t ldz,
                            const float *out, size_t ldo)
{
    if ((int)act < 0 || act >= NN_ACTIVATION_COUNT) return NN_ERR_INVALID_ARGUMENT;
    if (rows == 0 || cols == 0) return NN_OK; /* empty work; callers return before touching anything */
    if (!z || !out) return NN_ERR_INVALID_ARGUMENT;
    nn_status s = nn_check_matrix(z, rows, cols, ldz);
    return s ? s : nn_check_matrix(out, rows, cols, ldo);
}

nn_status nn_activate(nn_activation act, size_t rows, size_t cols, const float *z, size_t ldz,
                      float *a, size_t lda)
{
    nn_status s = check_pair(act, rows, cols, z, ldz, a, lda);
    if (s || rows == 0 || cols == 0) return s;
    const nn_kernels *kr = nn_kernels_active();
    for (size_t j = 0; j < cols; j++) {
        if (act == NN_SOFTMAX) kr->softmax(rows, z + j * ldz, a + j * lda);
        else kr->activate[act](rows, z + j * ldz, a + j * lda);
    }
    return NN_OK;
}

nn_status nn_activation_derivative(nn_activation act, size_t rows, size_t cols, const float *z,
                                   size_t ldz, float *d, size_t ldd)
{
    nn_status s = check_pair(act, rows, cols, z, ldz, d, ldd);
    if (s) return s;
    if (act == NN_SOFTMAX) return NN_ERR_INVALID_ARGUMENT;
    if (rows == 0 || cols == 0) return NN_OK;
    const nn_kernels *kr = nn_kernels_active();
    float ones[64];
    for (size_t i = 0; i < 64; i++) ones[i] = 1.0f;
    for (size_t j = 0; j < cols; j++) {
        for (size_t i = 0; i < rows; i += 64) {
            const size_t len = rows - i < 64 ? rows - i : 64;
            const float *zc = z + j * ldz + i;
            float *dc = d + j * ldd + i;
            kr->activate[act](len, zc, dc); /* g'(z) is written in terms of a = g(z) */
            kr->activate_backward[act](len, dc, ones, dc);
            for (size_t l = 0; l < len; l++)
                if (zc[l] != zc[l]) dc[l] = zc[l]; /* NaN in, NaN out, for every g */
        }
    }
    return NN_OK;
}
