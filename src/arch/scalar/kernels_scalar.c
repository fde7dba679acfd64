/* The scalar ISA: one-lane "vectors" for the shared elementwise kernels and a
 * plain C micro-kernel. Runs on any CPU; the reference every other ISA is
 * tested against. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../../kernels.h"

typedef float vf;
typedef int vm;
#define VF_WIDTH 1

static inline vf vf_load(const float *p) { return *p; }
static inline void vf_store(float *p, vf v) { *p = v; }
static inline vf vf_loadn(const float *p, size_t n, float fill) { return n ? *p : fill; }
static inline void vf_storen(float *p, vf v, size_t n) { if (n) *p = v; }
static inline vf vf_set1(float x) { return x; }
static inline vf vf_add(vf a, vf b) { return a + b; }
static inline vf vf_sub(vf a, vf b) { return a - b; }
static inline vf vf_mul(vf a, vf b) { return a * b; }
static inline vf vf_div(vf a, vf b) { return a / b; }
static inline vf vf_fma(vf a, vf b, vf c) { return a * b + c; } /* no FMA unit assumed */
static inline vf vf_max(vf a, vf b) { return a > b ? a : b; }
static inline vf vf_min(vf a, vf b) { return a < b ? a : b; }
static inline vf vf_sqrt(vf a) { return sqrtf(a); }
static inline vf vf_abs(vf a) { return fabsf(a); }
static inline vf vf_negabs(vf a) { return -fabsf(a); }
static inline vf vf_copysign(vf mag, vf sgn) { return copysignf(mag, sgn); }
static inline float vf_hsum(vf a) { return a; }
static inline vf vf_hsum_each(const vf v[1]) { return v[0]; }
static inline float vf_hmax(vf a) { return a; }
static inline vm vf_gt(vf a, vf b) { return a > b; }
static inline vm vf_lt(vf a, vf b) { return a < b; }
static inline vm vf_isnan(vf a) { return a != a; }
static inline vf vf_select(vm m, vf a, vf b) { return m ? a : b; }
static inline vf vf_pow2i(vf n)
{
    const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float r;
    memcpy(&r, &bits, sizeof r);
    return r;
}

#define NN_FEW_COLUMNS_MAX 1 /* see vector_impl.h */
#include "../vector_impl.h"

#define MR 8
#define NR 4

/* The loops are plain enough for the compiler to vectorize for the baseline
 * ISA; B's column stride is a constant 1 in the common (packed or by-rows)
 * case so that the inner loop stays simple. */
static inline void gemm_8x4_body(size_t m, size_t n, size_t k, const float *a, size_t a_ks,
                                 const float *b, size_t b_ks, size_t b_js, float *c, size_t ldc,
                                 float alpha, float beta)
{
    float acc[NR][MR] = {{0}};
    for (size_t p = 0; p < k; p++, a += a_ks, b += b_ks)
        for (size_t j = 0; j < NR; j++)
            for (size_t i = 0; i < MR; i++) acc[j][i] += a[i] * b[j * b_js];
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < m; i++) {
            float *cij = &c[i + j * ldc];
            *cij = beta == 0.0f ? alpha * acc[j][i] : alpha * acc[j][i] + beta * *cij;
        }
}

static void gemm_8x4_scalar(size_t m, size_t n, size_t k, const float *a, size_t a_ks,
                            const float *b, size_t b_ks, size_t b_js, float *c, size_t ldc,
                            float alpha, float beta)
{
    if (b_js == 1) gemm_8x4_body(m, n, k, a, a_ks, b, b_ks, 1, c, ldc, alpha, beta);
    else gemm_8x4_body(m, n, k, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta);
}

/* The portable code is compiled for the baseline (SSE2 on x86-64, Advanced
 * SIMD on AArch64), where the compiler vectorizes 4-float loops such as the
 * micro-kernel's; the probe measures that same peak, 12 chains of 4 lanes of
 * separate multiply and add. */
static float scalar_fma_probe(size_t iterations)
{
    float c[12][4];
    for (int j = 0; j < 12; j++)
        for (int l = 0; l < 4; l++) c[j][l] = (float)(j + l);
    for (size_t i = 0; i < iterations; i++)
        for (int j = 0; j < 12; j++)
            for (int l = 0; l < 4; l++) c[j][l] = c[j][l] * 0.9999999f + 1e-7f;
    float s = 0;
    for (int j = 0; j < 12; j++)
        for (int l = 0; l < 4; l++) s += c[j][l];
    return s;
}

const nn_kernels nn_kernels_scalar = {
    .isa = NN_ISA_SCALAR, .mr = MR, .nr = NR, .kc = 256, .gemm_ukernel = gemm_8x4_scalar,
    .pack_b_columns = 1,
    NN_VECTOR_KERNELS, .lanes = 4, .fma_probe = scalar_fma_probe};
