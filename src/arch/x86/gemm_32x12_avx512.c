/* 32x12 AVX-512 micro-kernel: 24 zmm accumulators, two zmm of A and one
 * broadcast of B per FMA pair. Zen 4 retires one 512-bit FMA per cycle with a
 * 4-cycle latency, so 24 independent chains keep it saturated; Intel parts
 * with two FMA units need 8+, also met. Partial tiles store through masks. */
#include <immintrin.h>

#include "../ukernels.h"

#define MR 32
#define NR 12

void nn_gemm_32x12_avx512(NN_UKERNEL_ARGS)
{
    __m512 c0[NR], c1[NR];
#pragma GCC unroll 12
    for (int j = 0; j < NR; j++) c0[j] = c1[j] = _mm512_setzero_ps();
    for (size_t p = 0; p < k; p++, a += MR, b += NR) {
        const __m512 a0 = _mm512_loadu_ps(a), a1 = _mm512_loadu_ps(a + 16);
        _mm_prefetch((const char *)(a + 8 * MR), _MM_HINT_T0);
#pragma GCC unroll 12
        for (int j = 0; j < NR; j++) {
            const __m512 bj = _mm512_set1_ps(b[j]);
            c0[j] = _mm512_fmadd_ps(a0, bj, c0[j]);
            c1[j] = _mm512_fmadd_ps(a1, bj, c1[j]);
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
