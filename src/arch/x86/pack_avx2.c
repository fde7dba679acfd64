/* Packing a transposed A panel (gemm.c pack_a_panel, op(A) = Aᵀ), and a B
 * panel of op(B) = B, which is the same transpose, with 8 x 8
 * register transposes: rows of op(A) are contiguous, the panel wants them
 * as columns (dst[p·MR + i]), and element-by-element that was the slowest
 * part of a Wᵀ·dZ product (256x128x128: 95 us on one core against 77 for
 * the same product untransposed). */
#include <immintrin.h>

#include "../ukernels.h"

/* Columns p0..p0+7 of rows i0..i0+7 of op(A) (row i at x + i·ld) into
 * dst[(p0 + k)·mr + i0 ..]. */
static inline void transpose_8x8(const float *x, size_t ld, float *dst, size_t mr)
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
    _mm256_storeu_ps(dst + 0 * mr, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(dst + 1 * mr, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(dst + 2 * mr, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(dst + 3 * mr, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(dst + 4 * mr, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(dst + 5 * mr, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(dst + 6 * mr, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(dst + 7 * mr, _mm256_permute2f128_ps(s3, s7, 0x31));
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
