/* The AVX-512 micro-kernel body, for tiles of VECS·16 rows x 12 columns:
 * VECS·12 zmm accumulators, VECS zmm of A and one broadcast of B per step.
 * Zen 4 retires one 512-bit FMA per cycle with a 4-cycle latency, so 12 or
 * 24 independent chains keep it saturated; Intel parts with two FMA units
 * need 8+, also met. Partial tiles store through masks. B is read by rows
 * (packed, or in place for A·Bᵀ) or by columns (in place for A·B), each
 * with its own loop so the broadcast addresses stay cheap. */
#include <immintrin.h>

#include "../ukernels.h"
#include "transpose_avx512.h"

#define NR 12

#define NN_FMA_COL(j, bval)                                                               \
    do {                                                                                  \
        const __m512 bj = _mm512_set1_ps(bval);                                           \
        _Pragma("GCC unroll 2") for (int v = 0; v < VECS; v++) acc[v][j] =                \
            _mm512_fmadd_ps(av[v], bj, acc[v][j]);                                        \
    } while (0)

/* A streams from L2 (an MC x KC block of it lives there) while B's panel
 * stays in L1; the hardware's L2-to-L1 prefetch alone left the tile at 85-90 %
 * of its speed with A in L1 (32x12 tiles over a 1.4 MB block of A, k = 342:
 * 186-206 GFLOP/s without, 194-220 with A asked for 8 steps ahead). */
#define NN_A_AHEAD 8
#define NN_PREFETCH_A()                                                                   \
    _Pragma("GCC unroll 2") for (int v = 0; v < VECS; v++)                                \
        _mm_prefetch((const char *)(a + NN_A_AHEAD * a_ks + 16 * v), _MM_HINT_T0)

/* `cols` (2, 4, ..., 12, a constant after inlining) columns of the tile
 * are computed and only those columns of B are read: an edge panel skips
 * the FMAs of its padding (64³: the last of six panels has 4 columns; the
 * swapped A·Bᵀ of a 10-class output layer has 10), and a panel of an even
 * number of columns can be read in place (kernels.h b_cols_even). */
static inline __attribute__((always_inline)) void gemm_avx512_body(NN_UKERNEL_ARGS, const int cols,
                                                                    const int masked, const int trans,
                                                                    float *b_copy)
{
    __m512 acc[VECS][NR], av[VECS];
    /* rows past m are neither read nor written: a partial panel of A can be
     * read in place (kernels.h a_rows_masked); full tiles load plainly, since
     * a masked load costs an extra operation on the FMA ports (NT
     * 10x256x256, swapped into full tiles: 8 % slower with masks) */
    __mmask16 mask[VECS];
#pragma GCC unroll 2
    for (int v = 0; v < VECS; v++) {
        const size_t lo = 16 * (size_t)v;
        mask[v] = m >= lo + 16 ? 0xffff : m <= lo ? 0 : (__mmask16)((1u << (m - lo)) - 1);
    }
#pragma GCC unroll 2
    for (int v = 0; v < VECS; v++)
#pragma GCC unroll 12
        for (int j = 0; j < NR; j++) acc[v][j] = _mm512_setzero_ps();
    /* C's tile is read (beta != 0: every K block after the first) or
     * written only after the K loop; asking for its lines now hides their
     * trip from L2/L3 under the FMAs */
#pragma GCC unroll 12
    for (int j = 0; j < NR; j++)
        if (j < cols && (size_t)j < n) {
            _mm_prefetch((const char *)(c + (size_t)j * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + (size_t)j * ldc + 16 * VECS - 1), _MM_HINT_T0);
        }
    if (b_js == 1) {
        for (size_t p = 0; p < k; p++, a += a_ks, b += b_ks) {
            NN_PREFETCH_A();
#pragma GCC unroll 2
            for (int v = 0; v < VECS; v++) av[v] = masked ? _mm512_maskz_loadu_ps(mask[v], a + 16 * v) : _mm512_loadu_ps(a + 16 * v);
            if (b_copy) _mm512_mask_storeu_ps(b_copy + p * NR, 0x0fff, _mm512_maskz_loadu_ps(0x0fff, b));
#pragma GCC unroll 12
            for (int j = 0; j < NR; j++)
                if (j < cols) NN_FMA_COL(j, b[j]);
        }
    } else { /* columns of B: four bases three columns apart, ldb and 2·ldb offsets */
        const size_t l = b_js; /* the bases past `cols` are never read */
        const float *b0 = b, *b3 = b + 3 * l, *b6 = b + 6 * l, *b9 = b + 9 * l;
        for (size_t p = 0; p < k; p++, a += a_ks, b0 += b_ks, b3 += b_ks, b6 += b_ks, b9 += b_ks) {
            NN_PREFETCH_A();
#pragma GCC unroll 2
            for (int v = 0; v < VECS; v++) av[v] = masked ? _mm512_maskz_loadu_ps(mask[v], a + 16 * v) : _mm512_loadu_ps(a + 16 * v);
            NN_FMA_COL(0, b0[0]); NN_FMA_COL(1, b0[l]);
            if (cols > 2) { NN_FMA_COL(2, b0[2 * l]); NN_FMA_COL(3, b3[0]); }
            if (cols > 4) { NN_FMA_COL(4, b3[l]); NN_FMA_COL(5, b3[2 * l]); }
            if (cols > 6) { NN_FMA_COL(6, b6[0]); NN_FMA_COL(7, b6[l]); }
            if (cols > 8) { NN_FMA_COL(8, b6[2 * l]); NN_FMA_COL(9, b9[0]); }
            if (cols > 10) { NN_FMA_COL(10, b9[l]); NN_FMA_COL(11, b9[2 * l]); }
        }
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    if (trans) { /* tile row i to C's row i: c[i·ldc + j], n floats */
        const __mmask16 row_mask = (__mmask16)((1u << n) - 1);
#pragma GCC unroll 2
        for (int v = 0; v < VECS; v++) {
            __m512 r[16];
#pragma GCC unroll 16
            for (int j = 0; j < 16; j++)
                r[j] = j >= cols ? _mm512_setzero_ps() : alpha == 1.0f ? acc[v][j] : _mm512_mul_ps(va, acc[v][j]);
            transpose16(r);
#pragma GCC unroll 16
            for (int q = 0; q < 16; q++) {
                if ((size_t)(16 * v + q) >= m) break;
                float *ci = c + (size_t)(16 * v + q) * ldc;
                __m512 t = r[q];
                if (beta != 0.0f) t = _mm512_add_ps(t, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(row_mask, ci)));
                _mm512_mask_storeu_ps(ci, row_mask, t);
            }
        }
        return;
    }
#pragma GCC unroll 12
    for (int j = 0; j < NR; j++) {
        if ((size_t)j >= n || j >= cols) break;
        float *cj = c + (size_t)j * ldc;
#pragma GCC unroll 2
        for (int v = 0; v < VECS; v++) {
            __m512 r = alpha == 1.0f ? acc[v][j] : _mm512_mul_ps(va, acc[v][j]); /* same bits, one op less */
            if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask[v], cj + 16 * v), r);
            _mm512_mask_storeu_ps(cj + 16 * v, mask[v], r);
        }
    }
}

/* The tile by its real column count rounded up to even, with masked A
 * loads only for a partial one. Under the sanitizers the width is a
 * variable instead, one body for all six: the same operations, and clang's
 * ASan build of the 32x12 file took 6-7 minutes with a body per width. */
#ifdef NN_SANITIZED
#define NN_TILE_COLS(masked, trans)                                                                    \
    gemm_avx512_body(m, n, k, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta, n <= 2 ? 2 : n >= NR ? NR : (int)(n + 1) / 2 * 2, \
                     masked, trans, NULL);
#else
#define NN_TILE_COLS(masked, trans)                                                                    \
    switch ((n + 1) / 2) {                                                                             \
    case 0: case 1: gemm_avx512_body(m, n, k, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta, 2, masked, trans, NULL); break;  \
    case 2: gemm_avx512_body(m, n, k, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta, 4, masked, trans, NULL); break;          \
    case 3: gemm_avx512_body(m, n, k, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta, 6, masked, trans, NULL); break;          \
    case 4: gemm_avx512_body(m, n, k, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta, 8, masked, trans, NULL); break;          \
    case 5: gemm_avx512_body(m, n, k, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta, 10, masked, trans, NULL); break;         \
    default: gemm_avx512_body(m, n, k, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta, NR, masked, trans, NULL); break;        \
    }
#endif
/* trans: C written transposed (kernels.h gemm_ukernel_t) */
static inline __attribute__((always_inline)) void gemm_avx512_tile(NN_UKERNEL_ARGS, const int trans)
{
    if (m == 16 * VECS) {
        NN_TILE_COLS(0, trans)
    } else {
        NN_TILE_COLS(1, trans)
    }
}
