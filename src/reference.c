/* The naive reference GEMM: what every optimized path is tested against and
 * what nnbench measures speed-ups from. Deliberately plain. */
#include "internal.h"

nn_status nn_sgemm_naive(nn_transpose ta, nn_transpose tb, size_t m, size_t n, size_t k,
                         float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                         float beta, float *c, size_t ldc)
{
    if ((ta != NN_NO_TRANS && ta != NN_TRANS) || (tb != NN_NO_TRANS && tb != NN_TRANS))
        return NN_ERR_INVALID_ARGUMENT;
    nn_status s;
    if ((s = nn_check_matrix(a, ta == NN_NO_TRANS ? m : k, ta == NN_NO_TRANS ? k : m, lda)) ||
        (s = nn_check_matrix(b, tb == NN_NO_TRANS ? k : n, tb == NN_NO_TRANS ? n : k, ldb)) ||
        (s = nn_check_matrix(c, m, n, ldc)))
        return s;
    for (size_t j = 0; j < n; j++) {
        for (size_t i = 0; i < m; i++) {
            double acc = 0.0;
            for (size_t p = 0; p < k; p++) {
                const float av = ta == NN_NO_TRANS ? a[i + p * lda] : a[p + i * lda];
                const float bv = tb == NN_NO_TRANS ? b[p + j * ldb] : b[j + p * ldb];
                acc += (double)av * (double)bv;
            }
            float *cij = &c[i + j * ldc];
            *cij = (float)((double)alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * *cij));
        }
    }
    return NN_OK;
}
