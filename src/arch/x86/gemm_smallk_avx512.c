/* Products with a short K (at most 12: a classifier's 10 outputs, as in the
 * output layer's dA = Wᵀ·dZ): 32 rows of A are loaded once into registers
 * (2·K zmm) and every column of C is then K broadcasts of B and 2·K FMAs.
 * As 32x12 tiles, such a product spent most of its time entering and
 * leaving tiles of 10 steps (TN 256x256x10: 59 % of the FMA peak). Each
 * element is computed as the tile kernel computes it (0, then one FMA per
 * p in order, then alpha and beta), so the bits do not depend on which of
 * the two ran. */
#include <immintrin.h>

#include "../ukernels.h"

static inline __attribute__((always_inline)) void smallk_body(size_t m, size_t n, const int K, const int VECS,
                                                               const int PLAIN, const float *a, size_t a_ks,
                                                               const float *b, size_t b_ks, size_t b_js, float *c,
                                                               size_t ldc, float alpha, float beta)
{
    if (PLAIN) b_ks = 1, alpha = 1.0f, beta = 0.0f; /* constants: the loop keeps no per-p offsets or branches */
    __mmask16 mask[2];
    for (int v = 0; v < 2; v++) {
        const size_t lo = 16 * (size_t)v;
        mask[v] = m >= lo + 16 ? 0xffff : m <= lo ? 0 : (__mmask16)((1u << (m - lo)) - 1);
    }
    __m512 av[NN_SMALL_K_MAX][2];
#pragma GCC unroll 12
    for (int p = 0; p < K; p++)
#pragma GCC unroll 2
        for (int v = 0; v < VECS; v++) av[p][v] = _mm512_maskz_loadu_ps(mask[v], a + (size_t)p * a_ks + 16 * v);
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (size_t j = 0; j < n; j++, b += b_js, c += ldc) {
        __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
#pragma GCC unroll 12
        for (int p = 0; p < K; p++) {
            const __m512 bp = _mm512_set1_ps(b[(size_t)p * b_ks]);
#pragma GCC unroll 2
            for (int v = 0; v < VECS; v++) acc[v] = _mm512_fmadd_ps(av[p][v], bp, acc[v]);
        }
#pragma GCC unroll 2
        for (int v = 0; v < VECS; v++) {
            __m512 r = alpha == 1.0f ? acc[v] : _mm512_mul_ps(va, acc[v]);
            if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask[v], c + 16 * v), r);
            _mm512_mask_storeu_ps(c + 16 * v, mask[v], r);
        }
    }
}

/* PLAIN: op(B) = B, alpha 1, beta 0 (a layer's dA = Wᵀ·dZ), with B's K
 * offsets and the alpha/beta tests constant: with a runtime stride the
 * kernel held ten offsets in registers, spilled two and reloaded them for
 * every column. */
#define SMALLK_CASE(K)                                                                                   \
    case K:                                                                                              \
        if (plain) {                                                                                     \
            if (m > 16) smallk_body(m, n, K, 2, 1, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta);        \
            else smallk_body(m, n, K, 1, 1, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta);               \
        } else if (m > 16) {                                                                             \
            smallk_body(m, n, K, 2, 0, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta);                    \
        } else {                                                                                         \
            smallk_body(m, n, K, 1, 0, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta);                    \
        }                                                                                                \
        break;

void nn_gemm_small_k_avx512(size_t m, size_t n, size_t k, const float *a, size_t a_ks, const float *b, size_t b_ks,
                            size_t b_js, float *c, size_t ldc, float alpha, float beta)
{
    const int plain = b_ks == 1 && alpha == 1.0f && beta == 0.0f;
    switch (k) {
    SMALLK_CASE(1) SMALLK_CASE(2) SMALLK_CASE(3) SMALLK_CASE(4) SMALLK_CASE(5) SMALLK_CASE(6)
    SMALLK_CASE(7) SMALLK_CASE(8) SMALLK_CASE(9) SMALLK_CASE(10) SMALLK_CASE(11) SMALLK_CASE(12)
    default: break; /* k <= NN_SMALL_K_MAX (kernels.h) */
    }
}
