/* NEON vector vocabulary for the shared kernels (vector_impl.h): 4 lanes,
 * tails through a small stack buffer. */
#include <arm_neon.h>
#include <string.h>

#include "../../kernels.h"
#include "../ukernels.h"

typedef float32x4_t vf;
typedef uint32x4_t vm;
#define VF_WIDTH 4

static inline vf vf_load(const float *p) { return vld1q_f32(p); }
static inline void vf_store(float *p, vf v) { vst1q_f32(p, v); }
static inline vf vf_loadn(const float *p, size_t n, float fill)
{
    float t[4] = {fill, fill, fill, fill};
    memcpy(t, p, n * sizeof(float));
    return vld1q_f32(t);
}
static inline void vf_storen(float *p, vf v, size_t n)
{
    float t[4];
    vst1q_f32(t, v);
    memcpy(p, t, n * sizeof(float));
}
static inline vf vf_set1(float x) { return vdupq_n_f32(x); }
static inline vf vf_add(vf a, vf b) { return vaddq_f32(a, b); }
static inline vf vf_sub(vf a, vf b) { return vsubq_f32(a, b); }
static inline vf vf_mul(vf a, vf b) { return vmulq_f32(a, b); }
static inline vf vf_div(vf a, vf b) { return vdivq_f32(a, b); }
static inline vf vf_fma(vf a, vf b, vf c) { return vfmaq_f32(c, a, b); }
/* NaN from either operand propagates, which satisfies "b when either is NaN"
 * wherever the library relies on it (NaN in, NaN out) */
static inline vf vf_max(vf a, vf b) { return vmaxq_f32(a, b); }
static inline vf vf_min(vf a, vf b) { return vminq_f32(a, b); }
static inline vf vf_sqrt(vf a) { return vsqrtq_f32(a); }
static inline vf vf_abs(vf a) { return vabsq_f32(a); }
static inline vf vf_negabs(vf a) { return vnegq_f32(vabsq_f32(a)); }
static inline vf vf_copysign(vf mag, vf sgn) { return vbslq_f32(vdupq_n_u32(0x80000000u), sgn, mag); }
static inline float vf_hsum(vf a) { return vaddvq_f32(a); }
/* Lane c = the sum of v[c]'s lanes (pairwise adds). */
static inline vf vf_hsum_each(const vf v[4]) { return vpaddq_f32(vpaddq_f32(v[0], v[1]), vpaddq_f32(v[2], v[3])); }
static inline float vf_hmax(vf a) { return vmaxvq_f32(a); }
static inline vm vf_gt(vf a, vf b) { return vcgtq_f32(a, b); }
static inline vm vf_lt(vf a, vf b) { return vcltq_f32(a, b); }
static inline vm vf_isnan(vf a) { return vmvnq_u32(vceqq_f32(a, a)); }
static inline vf vf_select(vm m, vf a, vf b) { return vbslq_f32(m, a, b); }
static inline vf vf_pow2i(vf n)
{
    const int32x4_t e = vaddq_s32(vcvtnq_s32_f32(n), vdupq_n_s32(127));
    return vreinterpretq_f32_s32(vshlq_n_s32(e, 23));
}

#define VF_ACC 16 /* 32 vector registers */
#include "../vector_impl.h"

const nn_kernels nn_kernels_neon = {
    .isa = NN_ISA_NEON, .mr = 16, .nr = 4, .kc = 256, .gemm_ukernel = nn_gemm_16x4_neon,
    NN_VECTOR_KERNELS, NN_VECTOR_PROBE};
