/* 32x12 AVX-512 micro-kernel: the main tile (see gemm_avx512_impl.h). */
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
