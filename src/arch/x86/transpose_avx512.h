/* A 16 x 16 register transpose for the AVX-512 kernels (the tile's
 * transposed store, the short-K kernel's A given by rows). */
#ifndef NN_TRANSPOSE_AVX512_H
#define NN_TRANSPOSE_AVX512_H

#include <immintrin.h>

/* r[0..15] as the rows of a 16 x 16 block, in place: r[q] becomes its
 * column q. Four rounds of two-source shuffles (unpack by floats, by
 * pairs, then 128-bit blocks twice); inputs known to be zero fold away. */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
#pragma GCC unroll 8
    for (int q = 0; q < 16; q += 2) {
        t[q] = _mm512_unpacklo_ps(r[q], r[q + 1]);
        t[q + 1] = _mm512_unpackhi_ps(r[q], r[q + 1]);
    }
#pragma GCC unroll 4
    for (int q = 0; q < 16; q += 4) {
        u[q] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[q]), _mm512_castps_pd(t[q + 2])));
        u[q + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[q]), _mm512_castps_pd(t[q + 2])));
        u[q + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[q + 1]), _mm512_castps_pd(t[q + 3])));
        u[q + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[q + 1]), _mm512_castps_pd(t[q + 3])));
    }
    /* u[4g + s] holds, in 128-bit block l, row 4l + s's entries 4g..4g+3 */
#pragma GCC unroll 4
    for (int s = 0; s < 4; s++) {
        const __m512 x0 = _mm512_shuffle_f32x4(u[s], u[4 + s], 0x44), x1 = _mm512_shuffle_f32x4(u[s], u[4 + s], 0xee);
        const __m512 y0 = _mm512_shuffle_f32x4(u[8 + s], u[12 + s], 0x44);
        const __m512 y1 = _mm512_shuffle_f32x4(u[8 + s], u[12 + s], 0xee);
        r[s] = _mm512_shuffle_f32x4(x0, y0, 0x88);
        r[4 + s] = _mm512_shuffle_f32x4(x0, y0, 0xdd);
        r[8 + s] = _mm512_shuffle_f32x4(x1, y1, 0x88);
        r[12 + s] = _mm512_shuffle_f32x4(x1, y1, 0xdd);
    }
}

#endif
