/* 16x6 AVX2+FMA micro-kernel: 12 ymm accumulators + 2 of A + 1 broadcast fill
 * the 16 ymm registers; 12 chains cover two FMA units at 4-cycle latency.
 * Partial tiles store through vmaskmov. B by rows or by columns, as in
 * gemm_32x12_avx512.c. */
#include <immintrin.h>
#include <stdint.h>

#include "../ukernels.h"

#define MR 16
#define NR 6

static __m256i lanes_below(size_t n) /* n in [0, 8] */
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#define NN_FMA_COL(j, bptr)                                                              \
    do {                                                                                  \
        const __m256 bj = _mm256_broadcast_ss(&(bptr));                                   \
        c0[j] = _mm256_fmadd_ps(a0, bj, c0[j]);                                           \
        c1[j] = _mm256_fmadd_ps(a1, bj, c1[j]);                                           \
    } while (0)

void nn_gemm_16x6_avx2(NN_UKERNEL_ARGS)
{
    __m256 c0[NR], c1[NR];
#pragma GCC unroll 6
    for (int j = 0; j < NR; j++) c0[j] = c1[j] = _mm256_setzero_ps();
    if (b_js == 1) {
        for (size_t p = 0; p < k; p++, a += a_ks, b += b_ks) {
            const __m256 a0 = _mm256_loadu_ps(a), a1 = _mm256_loadu_ps(a + 8);
#pragma GCC unroll 6
            for (int j = 0; j < NR; j++) NN_FMA_COL(j, b[j]);
        }
    } else {
        const size_t l = b_js;
        const float *b0 = b, *b3 = b + 3 * l;
        for (size_t p = 0; p < k; p++, a += a_ks, b0 += b_ks, b3 += b_ks) {
            const __m256 a0 = _mm256_loadu_ps(a), a1 = _mm256_loadu_ps(a + 8);
            NN_FMA_COL(0, b0[0]); NN_FMA_COL(1, b0[l]); NN_FMA_COL(2, b0[2 * l]);
            NN_FMA_COL(3, b3[0]); NN_FMA_COL(4, b3[l]); NN_FMA_COL(5, b3[2 * l]);
        }
    }
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    const int full = m == MR;
    const __m256i k0 = lanes_below(m >= 8 ? 8 : m), k1 = lanes_below(m >= 16 ? 8 : m <= 8 ? 0 : m - 8);
#pragma GCC unroll 6
    for (int j = 0; j < NR; j++) {
        if ((size_t)j >= n) break;
        float *cj = c + (size_t)j * ldc;
        __m256 r0 = c0[j], r1 = c1[j];
        if (alpha != 1.0f) r0 = _mm256_mul_ps(va, r0), r1 = _mm256_mul_ps(va, r1); /* 1·x: same bits */
        if (full) {
            if (beta != 0.0f) {
                r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cj), r0);
                r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cj + 8), r1);
            }
            _mm256_storeu_ps(cj, r0);
            _mm256_storeu_ps(cj + 8, r1);
        } else {
            if (beta != 0.0f) {
                r0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cj, k0), r0);
                r1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cj + 8, k1), r1);
            }
            _mm256_maskstore_ps(cj, k0, r0);
            _mm256_maskstore_ps(cj + 8, k1, r1);
        }
    }
}
