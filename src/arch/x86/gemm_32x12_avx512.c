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

void nn_gemm_whole_32x12_avx512(NN_UKERNEL_ARGS)
{
    for (size_t j = 0; j < n; j += NR) {
        const size_t nn = n - j < NR ? n - j : NR;
        for (size_t i = 0; i < m; i += 16 * VECS)
            gemm_avx512_tile(m - i < 16 * VECS ? m - i : 16 * VECS, nn, k, a + i, a_ks, b + j * b_js, b_ks, b_js,
                             c + i + j * ldc, ldc, alpha, beta, 0);
    }
}
