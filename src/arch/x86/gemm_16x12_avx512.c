/* 16x12 AVX-512 micro-kernel: for products of at most 16 rows (the output
 * layer of a classifier), where the 32-row tile would be half padding. */
#define VECS 1
#include "gemm_avx512_impl.h"

void nn_gemm_16x12_avx512(NN_UKERNEL_ARGS)
{
    gemm_avx512_tile(m, n, k, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta, 0);
}

void nn_gemm_16x12_t_avx512(NN_UKERNEL_ARGS)
{
    gemm_avx512_tile(m, n, k, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta, 1);
}
