/* 16x4 NEON micro-kernel: 16 q accumulators, 4 q of A, one q holding four B
 * values used lane by lane (vfmaq_laneq_f32). */
#include <arm_neon.h>

#include "../ukernels.h"

#define MR 16
#define NR 4

void nn_gemm_16x4_neon(NN_UKERNEL_ARGS)
{
    float32x4_t acc[NR][4];
    for (int j = 0; j < NR; j++)
        for (int i = 0; i < 4; i++) acc[j][i] = vdupq_n_f32(0.0f);
    for (size_t p = 0; p < k; p++, a += a_ks, b += b_ks) {
        float32x4_t bv;
        if (b_js == 1) {
            bv = vld1q_f32(b);
        } else { /* columns of B */
            bv = vdupq_n_f32(b[0]);
            bv = vsetq_lane_f32(b[b_js], bv, 1);
            bv = vsetq_lane_f32(b[2 * b_js], bv, 2);
            bv = vsetq_lane_f32(b[3 * b_js], bv, 3);
        }
        const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4), a2 = vld1q_f32(a + 8),
                          a3 = vld1q_f32(a + 12);
#define NN_COL(j)                                                                         \
    acc[j][0] = vfmaq_laneq_f32(acc[j][0], a0, bv, j);                                    \
    acc[j][1] = vfmaq_laneq_f32(acc[j][1], a1, bv, j);                                    \
    acc[j][2] = vfmaq_laneq_f32(acc[j][2], a2, bv, j);                                    \
    acc[j][3] = vfmaq_laneq_f32(acc[j][3], a3, bv, j);
        NN_COL(0) NN_COL(1) NN_COL(2) NN_COL(3)
#undef NN_COL
    }
    const float32x4_t va = vdupq_n_f32(alpha), vb = vdupq_n_f32(beta);
    for (size_t j = 0; j < n; j++) {
        float *cj = c + j * ldc;
        for (size_t i = 0; i < 4 && 4 * i < m; i++) {
            float32x4_t r = vmulq_f32(va, acc[j][i]);
            if (m >= 4 * i + 4) {
                if (beta != 0.0f) r = vfmaq_f32(r, vb, vld1q_f32(cj + 4 * i));
                vst1q_f32(cj + 4 * i, r);
            } else {
                float t[4];
                vst1q_f32(t, r);
                for (size_t l = 0; 4 * i + l < m; l++) {
                    float *cl = cj + 4 * i + l;
                    *cl = beta == 0.0f ? t[l] : t[l] + beta * *cl;
                }
            }
        }
    }
}
