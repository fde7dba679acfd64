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
#include "transpose_avx512.h"

/* A_ROWS (smallk_body): op(A) given by rows (row i at a + i·a_ks, its K
 * elements contiguous: the Wᵀ of a layer's dA = Wᵀ·dZ), brought into the
 * registers' column layout by 16 x 16 register transposes. Packed into a
 * panel in memory first (gemm.c), TN 256x256x10 took 7.4 us, 0.6 more
 * than in registers (the panel written with AVX-512 transposes, one
 * 64-byte store a column: 7.2). rows_to_columns is inlined into each K's
 * kernel, where the columns stay in registers; out of line under the
 * sanitizers, where 12 inlined copies made this file take 2.5x as long to
 * compile (97 s with clang's ASan) and one copy costs a trip through the
 * stack (7.0 us). The same operations either way: the same bits. */
#ifdef NN_SANITIZED
#define ROWS_TO_COLUMNS_INLINE __attribute__((noinline))
#else
#define ROWS_TO_COLUMNS_INLINE inline __attribute__((always_inline))
#endif

/* The first `rows` (<= 16) of 16 rows of k <= 16 contiguous elements
 * each, row i at a + i·a_ks, as columns: cols[p] holds element p of every
 * row (0 past `rows`). */
static ROWS_TO_COLUMNS_INLINE void rows_to_columns(size_t rows, size_t k, const float *a, size_t a_ks,
                                                   __m512 cols[16])
{
    const __mmask16 k_mask = (__mmask16)((1u << k) - 1);
    for (size_t q = 0; q < 16; q++)
        cols[q] = q < rows ? _mm512_maskz_loadu_ps(k_mask, a + q * a_ks) : _mm512_setzero_ps();
    transpose16(cols);
}

static inline __attribute__((always_inline)) void smallk_body(size_t m, size_t n, const int K, const int VECS,
                                                               const int PLAIN, const int A_ROWS, const float *a,
                                                               size_t a_ks, const float *b, size_t b_ks, size_t b_js,
                                                               float *c, size_t ldc, float alpha, float beta)
{
    if (PLAIN) b_ks = 1, alpha = 1.0f, beta = 0.0f; /* constants: the loop keeps no per-p offsets or branches */
    __mmask16 mask[2];
    for (int v = 0; v < 2; v++) {
        const size_t lo = 16 * (size_t)v;
        mask[v] = m >= lo + 16 ? 0xffff : m <= lo ? 0 : (__mmask16)((1u << (m - lo)) - 1);
    }
    __m512 av[NN_SMALL_K_MAX][2];
    if (A_ROWS) {
#pragma GCC unroll 2
        for (int v = 0; v < VECS; v++) {
            const size_t lo = 16 * (size_t)v;
            __m512 cols[16];
            rows_to_columns(m > lo ? m - lo : 0, (size_t)K, m > lo ? a + lo * a_ks : a, a_ks, cols);
#pragma GCC unroll 12
            for (int p = 0; p < K; p++) av[p][v] = cols[p];
        }
    } else {
#pragma GCC unroll 12
        for (int p = 0; p < K; p++)
#pragma GCC unroll 2
            for (int v = 0; v < VECS; v++) av[p][v] = _mm512_maskz_loadu_ps(mask[v], a + (size_t)p * a_ks + 16 * v);
    }
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
            if (m > 16) smallk_body(m, n, K, 2, 1, 0, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta);     \
            else smallk_body(m, n, K, 1, 1, 0, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta);            \
        } else if (m > 16) {                                                                             \
            smallk_body(m, n, K, 2, 0, 0, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta);                 \
        } else {                                                                                         \
            smallk_body(m, n, K, 1, 0, 0, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta);                 \
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

/* The plain product only (kernels.h gemm_small_k_at): every variant more
 * lengthens this file's compile under the sanitizers. */
#define SMALLK_AT_CASE(K)                                                                                \
    case K:                                                                                              \
        if (m > 16) smallk_body(m, n, K, 2, 1, 1, a, a_ks, b, 1, b_js, c, ldc, 1.0f, 0.0f);             \
        else smallk_body(m, n, K, 1, 1, 1, a, a_ks, b, 1, b_js, c, ldc, 1.0f, 0.0f);                    \
        break;

void nn_gemm_small_k_at_avx512(size_t m, size_t n, size_t k, const float *a, size_t a_ks, const float *b,
                               size_t b_ks, size_t b_js, float *c, size_t ldc, float alpha, float beta)
{
    (void)b_ks, (void)alpha, (void)beta; /* 1, 1 and 0 (the plain product) */
    switch (k) {
    SMALLK_AT_CASE(1) SMALLK_AT_CASE(2) SMALLK_AT_CASE(3) SMALLK_AT_CASE(4) SMALLK_AT_CASE(5)
    SMALLK_AT_CASE(6) SMALLK_AT_CASE(7) SMALLK_AT_CASE(8) SMALLK_AT_CASE(9) SMALLK_AT_CASE(10)
    SMALLK_AT_CASE(11) SMALLK_AT_CASE(12)
    default: break; /* k <= NN_SMALL_K_MAX (kernels.h) */
    }
}
