/* 32x12 AVX-512 micro-kernel: the main tile (see gemm_avx512_impl.h), and a
 * whole small product of such tiles in one call. */
#define VECS 2
#include "gemm_avx512_impl.h"

void nn_gemm_32x12_avx512(NN_UKERNEL_ARGS)
{
    gemm_avx512_tile(m, n, k, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta, 0);
}

void nn_gemm_32x12_t_avx512(NN_UKERNEL_ARGS)
{
    gemm_avx512_tile(m, n, k, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta, 1);
}

/* Whole tiles inlined, edge tiles through the tile's own entry: one more
 * copy of the body, not of all its edge variants (clang's ASan build of
 * this file took twice as long, over 9 minutes, with every variant). */
void nn_gemm_whole_32x12_avx512(NN_UKERNEL_ARGS)
{
    for (size_t j = 0; j < n; j += NR) {
        const size_t nn = n - j < NR ? n - j : NR;
        for (size_t i = 0; i < m; i += 16 * VECS) {
            const size_t mm = m - i < 16 * VECS ? m - i : 16 * VECS;
            const float *ai = a + i, *bj = b + j * b_js;
            float *cij = c + i + j * ldc;
            if (mm == 16 * VECS && nn == NR)
                gemm_avx512_body(mm, nn, k, ai, a_ks, bj, b_ks, b_js, cij, ldc, alpha, beta, NR, 0, 0, NULL);
            else
                nn_gemm_32x12_avx512(mm, nn, k, ai, a_ks, bj, b_ks, b_js, cij, ldc, alpha, beta);
        }
    }
}

/* A full tile (n = 12) reading B in place by rows (b_js = 1) that also
 * copies each row of the panel to b_packed[p·12]: the first tile of a panel
 * packs it for the others (kernels.h gemm_ukernel_pack_b). */
void nn_gemm_32x12_pack_b_avx512(NN_UKERNEL_ARGS, float *b_packed)
{
    if (m == 16 * VECS)
        gemm_avx512_body(m, NR, k, a, a_ks, b, b_ks, 1, c, ldc, alpha, beta, NR, 0, 0, b_packed);
    else
        gemm_avx512_body(m, NR, k, a, a_ks, b, b_ks, 1, c, ldc, alpha, beta, NR, 1, 0, b_packed);
    (void)n, (void)b_js;
}
