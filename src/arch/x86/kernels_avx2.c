/* AVX2+FMA vector vocabulary for the shared kernels (vector_impl.h): 8 lanes,
 * tails through vmaskmov. */
#include <immintrin.h>

#include "../../kernels.h"
#include "../ukernels.h"

typedef __m256 vf;
typedef __m256 vm;
#define VF_WIDTH 8

static inline __m256i lanes(size_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
static inline vf vf_loadn(const float *p, size_t n, float fill)
{
    const __m256i m = lanes(n);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
static inline void vf_storen(float *p, vf v, size_t n) { _mm256_maskstore_ps(p, lanes(n), v); }
static inline vf vf_set1(float x) { return _mm256_set1_ps(x); }
static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf vf_min(vf a, vf b) { return _mm256_min_ps(a, b); }
static inline vf vf_sqrt(vf a) { return _mm256_sqrt_ps(a); }
static inline vf vf_abs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
static inline vf vf_negabs(vf a) { return _mm256_or_ps(a, _mm256_set1_ps(-0.0f)); }
static inline vf vf_copysign(vf mag, vf sgn) { return _mm256_or_ps(mag, _mm256_and_ps(sgn, _mm256_set1_ps(-0.0f))); }
static inline float vf_hsum(vf a)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
/* Lane c = the sum of v[c]'s lanes: a transpose-and-add tree. */
static inline vf vf_hsum_each(const vf v[8])
{
    vf l1[4], l2[2];
    for (int i = 0; i < 4; i++) /* per 128-bit half: [a0+a2, b0+b2, a1+a3, b1+b3] */
        l1[i] = _mm256_add_ps(_mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 2; i++) /* per half: columns 4i..4i+3 */
        l2[i] = _mm256_add_ps(_mm256_shuffle_ps(l1[2 * i], l1[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                              _mm256_shuffle_ps(l1[2 * i], l1[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm256_add_ps(_mm256_permute2f128_ps(l2[0], l2[1], 0x20), _mm256_permute2f128_ps(l2[0], l2[1], 0x31));
}
static inline float vf_hmax(vf a)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline vm vf_gt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
static inline vm vf_lt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
static inline vm vf_isnan(vf a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
static inline vf vf_select(vm m, vf a, vf b) { return _mm256_blendv_ps(b, a, m); }
static inline vf vf_pow2i(vf n)
{
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}

#define NN_HAVE_VF_LUT8 /* vpermps: an 8-float table is one register */
static inline vf vf_lut8(vf v, const float table[8])
{
    return _mm256_permutevar8x32_ps(_mm256_loadu_ps(table), _mm256_castps_si256(v));
}
static inline vf vf_floor(vf v) { return _mm256_floor_ps(v); }

#define vf_keep_in_register(v) __asm__("" : "+v"(v))
#include "../vector_impl.h"

void nn_ger_avx2(size_t m, size_t n, float alpha, const float *a, const float *b, size_t incb, float beta, float *c,
                 size_t ldc)
{
    ger(m, n, alpha, a, b, incb, beta, c, ldc);
}

const nn_kernels nn_kernels_avx2 = {
    .isa = NN_ISA_AVX2, .mr = 16, .nr = 6, .kc = 256, .gemm_ukernel = nn_gemm_16x6_avx2,
    .pack_a_transposed = nn_pack_a_transposed_avx2, .store_transposed = nn_store_transposed_avx2,
    NN_VECTOR_KERNELS, NN_VECTOR_PROBE};
