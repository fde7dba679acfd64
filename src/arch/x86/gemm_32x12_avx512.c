/* 32x12 AVX-512 micro-kernel: 24 zmm accumulators, two zmm of A and one
 * broadcast of B per FMA pair. Zen 4 retires one 512-bit FMA per cycle with a
 * 4-cycle latency, so 24 independent chains keep it saturated; Intel parts
 * with two FMA units need 8+, also met. Partial tiles store through masks.
 * B is read by rows (packed, or in place for A·Bᵀ) or by columns (in place
 * for A·B); each gets its own loop so the broadcast addresses are cheap. */
#include <immintrin.h>

#include "../ukernels.h"

#define MR 32
#define NR 12

#define NN_FMA_COL(j, bptr)                                                              \
    do {                                                                                  \
        const __m512 bj = _mm512_set1_ps(bptr);                                           \
        c0[j] = _mm512_fmadd_ps(a0, bj, c0[j]);                                           \
        c1[j] = _mm512_fmadd_ps(a1, bj, c1[j]);                                           \
    } while (0)

void nn_gemm_32x12_avx512(NN_UKERNEL_ARGS)
{
    __m512 c0[NR], c1[NR];
#pragma GCC unroll 12
    for (int j = 0; j < NR; j++) c0[j] = c1[j] = _mm512_setzero_ps();
    if (b_js == 1) {
        for (size_t p = 0; p < k; p++, a += a_ks, b += b_ks) {
            const __m512 a0 = _mm512_loadu_ps(a), a1 = _mm512_loadu_ps(a + 16);
#pragma GCC unroll 12
            for (int j = 0; j < NR; j++) NN_FMA_COL(j, b[j]);
        }
    } else { /* columns of B: four bases three columns apart, ldb and 2·ldb offsets */
        const size_t l = b_js;
        const float *b0 = b, *b3 = b + 3 * l, *b6 = b + 6 * l, *b9 = b + 9 * l;
        for (size_t p = 0; p < k; p++, a += a_ks, b0 += b_ks, b3 += b_ks, b6 += b_ks, b9 += b_ks) {
            const __m512 a0 = _mm512_loadu_ps(a), a1 = _mm512_loadu_ps(a + 16);
            NN_FMA_COL(0, b0[0]); NN_FMA_COL(1, b0[l]); NN_FMA_COL(2, b0[2 * l]);
            NN_FMA_COL(3, b3[0]); NN_FMA_COL(4, b3[l]); NN_FMA_COL(5, b3[2 * l]);
            NN_FMA_COL(6, b6[0]); NN_FMA_COL(7, b6[l]); NN_FMA_COL(8, b6[2 * l]);
            NN_FMA_COL(9, b9[0]); NN_FMA_COL(10, b9[l]); NN_FMA_COL(11, b9[2 * l]);
        }
    }
    const __mmask16 k0 = m >= 16 ? 0xffff : (__mmask16)((1u << m) - 1);
    const __mmask16 k1 = m >= 32 ? 0xffff : m <= 16 ? 0 : (__mmask16)((1u << (m - 16)) - 1);
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
    for (int j = 0; j < NR; j++) {
        if ((size_t)j >= n) break;
        float *cj = c + (size_t)j * ldc;
        __m512 r0 = _mm512_mul_ps(va, c0[j]), r1 = _mm512_mul_ps(va, c1[j]);
        if (beta != 0.0f) {
            r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k0, cj), r0);
            r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k1, cj + 16), r1);
        }
        _mm512_mask_storeu_ps(cj, k0, r0);
        _mm512_mask_storeu_ps(cj + 16, k1, r1);
    }
}
