/* Packing a transposed A panel (gemm.c pack_a_panel, op(A) = Aᵀ), a B
 * panel of op(B) = B, which is the same transpose, and storing a tile of
 * the transposed product (gemm.c store_transposed), with 8 x 8 register
 * transposes: rows of op(A) are contiguous, the panel wants them
 * as columns (dst[p·MR + i]), and element-by-element that was the slowest
 * part of a Wᵀ·dZ product (256x128x128: 95 us on one core against 77 for
 * the same product untransposed). */
#include <immintrin.h>

#include "../ukernels.h"

/* The 8 x 8 block of rows x, x + ld, ..., x + 7·ld transposed: out[k] holds
 * element k of each row. */
static inline void transpose8(const float *x, size_t ld, __m256 out[8])
{
    const __m256 r0 = _mm256_loadu_ps(x), r1 = _mm256_loadu_ps(x + ld),
                 r2 = _mm256_loadu_ps(x + 2 * ld), r3 = _mm256_loadu_ps(x + 3 * ld),
                 r4 = _mm256_loadu_ps(x + 4 * ld), r5 = _mm256_loadu_ps(x + 5 * ld),
                 r6 = _mm256_loadu_ps(x + 6 * ld), r7 = _mm256_loadu_ps(x + 7 * ld);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1),
                 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3),
                 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
                 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xee),
                 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xee),
                 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xee),
                 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xee);
    out[0] = _mm256_permute2f128_ps(s0, s4, 0x20), out[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    out[2] = _mm256_permute2f128_ps(s2, s6, 0x20), out[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    out[4] = _mm256_permute2f128_ps(s0, s4, 0x31), out[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    out[6] = _mm256_permute2f128_ps(s2, s6, 0x31), out[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* Columns p0..p0+7 of rows i0..i0+7 of op(A) (row i at x + i·ld) into
 * dst[(p0 + k)·mr + i0 ..]. */
static inline void transpose_8x8(const float *x, size_t ld, float *dst, size_t mr)
{
    __m256 t[8];
    transpose8(x, ld, t);
    for (int q = 0; q < 8; q++) _mm256_storeu_ps(dst + (size_t)q * mr, t[q]);
}

/* The same for 4 rows: columns p0..p0+7 of rows i0..i0+3. */
static inline void transpose_4x8(const float *x, size_t ld, float *dst, size_t mr)
{
    const __m256 r0 = _mm256_loadu_ps(x), r1 = _mm256_loadu_ps(x + ld), r2 = _mm256_loadu_ps(x + 2 * ld),
                 r3 = _mm256_loadu_ps(x + 3 * ld);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1),
                 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xee),
                 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xee);
    _mm_storeu_ps(dst + 0 * mr, _mm256_castps256_ps128(s0));
    _mm_storeu_ps(dst + 1 * mr, _mm256_castps256_ps128(s1));
    _mm_storeu_ps(dst + 2 * mr, _mm256_castps256_ps128(s2));
    _mm_storeu_ps(dst + 3 * mr, _mm256_castps256_ps128(s3));
    _mm_storeu_ps(dst + 4 * mr, _mm256_extractf128_ps(s0, 1));
    _mm_storeu_ps(dst + 5 * mr, _mm256_extractf128_ps(s1, 1));
    _mm_storeu_ps(dst + 6 * mr, _mm256_extractf128_ps(s2, 1));
    _mm_storeu_ps(dst + 7 * mr, _mm256_extractf128_ps(s3, 1));
}

void nn_pack_a_transposed_avx2(size_t mr, size_t m, size_t kc, const float *x, size_t ld, float *dst)
{
    const size_t m8 = m / 8 * 8, k8 = kc / 8 * 8;
    for (size_t i = 0; i < m8; i += 8) {
        for (size_t p = 0; p < k8; p += 8) transpose_8x8(x + i * ld + p, ld, dst + p * mr + i, mr);
        for (size_t p = k8; p < kc; p++)
            for (size_t r = 0; r < 8; r++) dst[p * mr + i + r] = x[(i + r) * ld + p];
    }
    size_t i = m8;
    if (i + 4 <= m) { /* a B panel of 12 (AVX-512's NR) is 8 + 4 */
        for (size_t p = 0; p < k8; p += 8) transpose_4x8(x + i * ld + p, ld, dst + p * mr + i, mr);
        for (size_t p = k8; p < kc; p++)
            for (size_t r = 0; r < 4; r++) dst[p * mr + i + r] = x[(i + r) * ld + p];
        i += 4;
    }
    for (; i < m; i++)
        for (size_t p = 0; p < kc; p++) dst[p * mr + i] = x[i * ld + p];
    for (size_t p = 0; p < kc; p++)
        for (size_t r = m; r < mr; r++) dst[p * mr + r] = 0.0f;
}

void nn_store_transposed_avx2(size_t m, size_t n, const float *tile, size_t ld, float beta, float *c, size_t ldc)
{
    const size_t m8 = m / 8 * 8, n8 = n / 8 * 8, n2 = beta == 0.0f ? n / 2 * 2 : n8;
    const __m256 vb = _mm256_set1_ps(beta);
    for (size_t i = 0; i < m8; i += 8) {
        for (size_t j = 0; j < n8; j += 8) { /* tile columns j.. become rows i.. of C */
            __m256 t[8];
            transpose8(tile + i + j * ld, ld, t);
            for (size_t q = 0; q < 8; q++) {
                float *row = c + (i + q) * ldc + j;
                _mm256_storeu_ps(row, beta == 0.0f ? t[q] : _mm256_add_ps(t[q], _mm256_mul_ps(vb, _mm256_loadu_ps(row))));
            }
        }
        for (size_t j = n8; j < n2; j += 2) { /* two columns: a pair in each of 8 rows (a 10-wide tile: 8 + 2) */
            const __m256 c0 = _mm256_loadu_ps(tile + i + j * ld), c1 = _mm256_loadu_ps(tile + i + (j + 1) * ld);
            const __m256 lo = _mm256_unpacklo_ps(c0, c1), hi = _mm256_unpackhi_ps(c0, c1);
            const __m128 pairs[4] = {_mm256_castps256_ps128(lo), _mm256_castps256_ps128(hi),
                                     _mm256_extractf128_ps(lo, 1), _mm256_extractf128_ps(hi, 1)};
            for (size_t q = 0; q < 4; q++) {
                _mm_storel_pi((__m64 *)(c + (i + 2 * q) * ldc + j), pairs[q]);
                _mm_storeh_pi((__m64 *)(c + (i + 2 * q + 1) * ldc + j), pairs[q]);
            }
        }
    }
    for (size_t i = 0; i < m; i++) /* the rest, one by one */
        for (size_t j = i < m8 ? n2 : 0; j < n; j++) {
            float *out = c + i * ldc + j;
            const float t = tile[i + j * ld];
            *out = beta == 0.0f ? t : t + beta * *out;
        }
}
