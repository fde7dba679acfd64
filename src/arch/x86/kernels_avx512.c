/* AVX-512 vector vocabulary for the shared kernels (vector_impl.h): 16 lanes,
 * tails through k-masks. */
#include <immintrin.h>

#include "../../kernels.h"
#include "../ukernels.h"

typedef __m512 vf;
typedef __mmask16 vm;
#define VF_WIDTH 16

static inline __mmask16 lanes(size_t n) { return (__mmask16)((1u << n) - 1); }
static inline vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void vf_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
static inline vf vf_loadn(const float *p, size_t n, float fill)
{
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), lanes(n), p);
}
static inline void vf_storen(float *p, vf v, size_t n) { _mm512_mask_storeu_ps(p, lanes(n), v); }
static inline vf vf_set1(float x) { return _mm512_set1_ps(x); }
static inline vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf vf_min(vf a, vf b) { return _mm512_min_ps(a, b); }
static inline vf vf_sqrt(vf a) { return _mm512_sqrt_ps(a); }
static inline vf vf_abs(vf a) { return _mm512_abs_ps(a); }
static inline vf vf_negabs(vf a) { return _mm512_or_ps(a, _mm512_set1_ps(-0.0f)); }
static inline vf vf_copysign(vf mag, vf sgn) /* (sgn & −0) | mag in one vpternlogd */
{
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(mag), _mm512_castps_si512(sgn),
                                                         _mm512_set1_epi32(INT32_MIN), 0xf8));
}
static inline float vf_hsum(vf a) { return _mm512_reduce_add_ps(a); }
static inline float vf_hmax(vf a) { return _mm512_reduce_max_ps(a); }
/* Lane c = the sum of v[c]'s lanes: a transpose-and-add tree, 15 shuffle
 * pairs for 16 sums instead of 16 separate reductions. */
static inline vf vf_hsum_each(const vf v[16])
{
    vf l1[8], l2[4], l3[2];
    for (int i = 0; i < 8; i++) /* per 128-bit quarter: [a0+a2, b0+b2, a1+a3, b1+b3] */
        l1[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 4; i++) /* per quarter: columns 4i..4i+3 */
        l2[i] = _mm512_add_ps(_mm512_shuffle_ps(l1[2 * i], l1[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                              _mm512_shuffle_ps(l1[2 * i], l1[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    for (int i = 0; i < 2; i++) /* quarters paired: [u.q0+u.q1, u.q2+u.q3, w.q0+w.q1, w.q2+w.q3] */
        l3[i] = _mm512_add_ps(_mm512_shuffle_f32x4(l2[2 * i], l2[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                              _mm512_shuffle_f32x4(l2[2 * i], l2[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(l3[0], l3[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(l3[0], l3[1], _MM_SHUFFLE(3, 1, 3, 1)));
}
static inline vm vf_gt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
static inline vm vf_lt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
static inline vm vf_isnan(vf a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
static inline vf vf_select(vm m, vf a, vf b) { return _mm512_mask_blend_ps(m, b, a); }
static inline vf vf_recip(vf x) /* 14-bit estimate + one Newton step */
{
    const vf r = _mm512_rcp14_ps(x);
    return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(x, r, _mm512_set1_ps(1.0f)), r);
}
#define NN_HAVE_VF_SCALE2
static inline vf vf_scale2(vf p, vf n) { return _mm512_scalef_ps(p, n); }
#define NN_HAVE_VF_LUT16 /* vpermps: a 16-float table is one register */
static inline vf vf_lut16(vf v, const float table[16])
{
    return _mm512_permutexvar_ps(_mm512_castps_si512(v), _mm512_loadu_ps(table));
}

#define VF_ACC 16 /* 32 vector registers */
/* K = 1 outer products with 256-bit stores: a column of a few rows is
 * rarely 64-byte aligned, and 64-byte stores that straddle cache lines made
 * 20x1000x1 run at 17 GFLOP/s where AVX2's kernel ran at 26 (Intel Xeon). */
#define NN_GER nn_ger_avx2
#define vf_keep_in_register(v) __asm__("" : "+v"(v))
#include "../vector_impl.h"

/* KC 400: a 12 x 400 B panel (19 KB) still stays in L1 while A streams past,
 * and the first layer's 784 inputs split into one K block per core
 * (nntrain, Fashion-MNIST: that layer's forward GEMM 0.5-2.5 % faster than
 * with 4 blocks of 196 on a quiet machine, 7-9 % in its slow phases). */
const nn_kernels nn_kernels_avx512 = {
    .isa = NN_ISA_AVX512, .mr = 32, .nr = 12, .kc = 400, .gemm_ukernel = nn_gemm_32x12_avx512,
    .mr_short = 16, .gemm_ukernel_short = nn_gemm_16x12_avx512,
    .small_k_rows = 32, .small_k_max = NN_SMALL_K_MAX, .gemm_small_k = nn_gemm_small_k_avx512,
    .pack_a_transposed = nn_pack_a_transposed_avx2, .store_transposed = nn_store_transposed_avx2, .a_rows_masked = 1, .b_cols_even = 1,
    NN_VECTOR_KERNELS, NN_VECTOR_PROBE};
