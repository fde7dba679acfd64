/* AVX-512 vector vocabulary for the shared kernels (vector_impl.h): 16 lanes,
 * tails through k-masks. */
#include <immintrin.h>
#include <stdint.h>

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
#define NN_HAVE_VF_SCALE2
static inline vf vf_scale2(vf p, vf n) { return _mm512_scalef_ps(p, n); }
#define NN_HAVE_VF_LUT16 /* vpermps: a 16-float table is one register */
static inline vf vf_lut16(vf v, const float table[16])
{
    return _mm512_permutexvar_ps(_mm512_castps_si512(v), _mm512_loadu_ps(table));
}

#define VF_ACC 16 /* 32 vector registers */
/* eight vectors of an activation a step, not four (vector_impl.h): on Zen 5
 * sigmoid 6.7 -> 7.75 G/s, tanh 4.6 -> 4.97; twelve the same, sixteen
 * spill. AVX2's sixteen registers gain nothing from more than four. */
#define NN_ACT_UNROLL 8
#define NN_GER ger_avx512
static void ger_avx512(size_t m, size_t n, float alpha, const float *a, const float *b, size_t incb, float beta,
                       float *c, size_t ldc);
#define vf_keep_in_register(v) __asm__("" : "+v"(v))
#include "../vector_impl.h"

/* Rows (i) and columns (j) of the run's elements e..e+15: (e + 1/2)/m is at
 * least 1/(2m) from an integer, so truncating it is exact (e < 2^13; the
 * callers pass a period's starts, below 512, or e mod m). */
static inline __m512i run_columns(size_t e, size_t m, __m512i *rows_out)
{
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i ev = _mm512_add_epi32(iota, _mm512_set1_epi32((int)e));
    const __m512i j = _mm512_cvttps_epi32(_mm512_mul_ps(_mm512_add_ps(_mm512_cvtepi32_ps(ev), _mm512_set1_ps(0.5f)),
                                                        _mm512_set1_ps(1.0f / (float)m)));
    *rows_out = _mm512_sub_epi32(ev, _mm512_mullo_epi32(j, _mm512_set1_epi32((int)m)));
    return j;
}

/* `count` < 16 elements of the run from e on, through masks: the unaligned
 * head and the tail. */
static void ger_partial(size_t m, size_t e, size_t count, float alpha, __m512 a_lo, __m512 a_hi,
                        const float *b, float beta, float *c)
{
    if (!count) return;
    __m512i i;
    const size_t j_first = e / m, span = (e + count - 1) / m - j_first + 1;
    const __m512i j = run_columns(e % m, m, &i); /* from j_first's first row: small, so exact */
    const __m512 factors = _mm512_mul_ps(_mm512_set1_ps(alpha), _mm512_maskz_loadu_ps(lanes(span), b + j_first));
    const __m512 s = _mm512_permutexvar_ps(j, factors), rows = _mm512_permutex2var_ps(a_lo, i, a_hi);
    const __mmask16 k = lanes(count);
    const __m512 out = beta == 0.0f ? _mm512_mul_ps(s, rows)
                                    : _mm512_fmadd_ps(s, rows, _mm512_mul_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(k, c + e)));
    _mm512_mask_storeu_ps(c + e, k, out);
}

/* `vecs` aligned vectors of the run at c, from the columns' factors
 * alpha·b[j] in `factors` (inlined: with beta a constant 0 the loop only
 * permutes, multiplies and stores) */
static inline void ger_period(size_t vecs, const __m512 *rows, const __m512i *col_of, __m512 factors, float beta,
                              float *c)
{
    for (size_t v = 0; v < vecs; v++) {
        const __m512 s = _mm512_permutexvar_ps(col_of[v], factors);
        float *cv = c + 16 * v;
        _mm512_store_ps(cv, beta == 0.0f ? _mm512_mul_ps(s, rows[v])
                                         : _mm512_fmadd_ps(s, rows[v], _mm512_mul_ps(_mm512_set1_ps(beta), _mm512_load_ps(cv))));
    }
}

/* ger_period over the whole periods from element e on (beta = 0), with
 * `vecs` a constant: the rows and column indices are held in registers.
 * Read from the stack each step instead, they took 20x100x1 from 57 to
 * 90 ns (loads among the stores to C, apparently aliasing them). Returns
 * where it stopped; *j0 is that period's first column. */
static inline __attribute__((always_inline)) size_t
ger_whole_periods(const size_t vecs, const __m512 *rows_mem, const __m512i *col_mem, float alpha, const float *b,
                  size_t n, size_t cols, size_t span, float *c, size_t e, size_t total, size_t *j0_io)
{
    __m512 rows[8];
    __m512i col_of[8];
    for (size_t v = 0; v < vecs; v++) rows[v] = rows_mem[v], col_of[v] = col_mem[v];
    const __m512 alpha_v = _mm512_set1_ps(alpha);
    const __mmask16 span_lanes = lanes(span);
    const size_t period = 16 * vecs;
    size_t j0 = *j0_io;
    for (; e + period <= total && j0 + span <= n; e += period, j0 += cols) {
        const __m512 factors = _mm512_mul_ps(alpha_v, _mm512_maskz_loadu_ps(span_lanes, b + j0));
#pragma GCC unroll 8
        for (size_t v = 0; v < vecs; v++)
            _mm512_store_ps(c + e + 16 * v, _mm512_mul_ps(_mm512_permutexvar_ps(col_of[v], factors), rows[v]));
    }
    *j0_io = j0;
    return e;
}

/* A K = 1 outer product whose C is one contiguous run (ldc = m, b
 * contiguous), written as 64-byte aligned vectors of the run instead of
 * column by column. By columns, a 20-row column is 80 bytes: three 32-byte
 * stores (64-byte ones would straddle lines), about one a clock; as a run,
 * 1.25 aligned stores a column. Element e is row e mod m of column e / m, so
 * the rows repeat every lcm(m, 16) elements (a period, `vecs` vectors):
 * each vector of a period takes its rows of a, and its columns' alpha·b[j]
 * from one register (vpermps). Every element is rounded as in ger's column
 * loop, (alpha·b[j])·a[i] (+ beta·c, fused), so any split of the columns
 * gives the same bits. Returns 0, writing nothing, where
 * that does not pay: fewer than 3 vectors a period (m = 8, 16, 32: a column
 * is whole vectors anyway), rows beyond two vectors of a, or a period's
 * columns beyond one register. */
static int ger_run(size_t m, size_t n, float alpha, const float *a, const float *b, float beta, float *c)
{
    const size_t total = m * n;
    if (m == 0 || m > 32) return 0;
    const unsigned twos = (unsigned)__builtin_ctzll(m | 16); /* lcm(m, 16) without dividing */
    const size_t cols = (size_t)16 >> twos, period = cols * m, vecs = period / 16;
    size_t head = (size_t)(-(uintptr_t)c % 64) / sizeof(float); /* elements before a 64-byte boundary */
    if (head > total) head = total;
    const size_t span = cols + (head ? (head - 1) / m + 1 : 0); /* columns a period's vectors touch */
    if (vecs < 3 || span > 16 || total < head + period) return 0;
    __m512 rows[32];
    __m512i col_of[32];
    const __m512 a_lo = _mm512_maskz_loadu_ps(lanes(m < 16 ? m : 16), a);
    const __m512 a_hi = m > 16 ? _mm512_maskz_loadu_ps(lanes(m - 16), a + 16) : _mm512_setzero_ps();
    for (size_t v = 0; v < vecs; v++) {
        __m512i i;
        col_of[v] = run_columns(head + 16 * v, m, &i);
        rows[v] = _mm512_permutex2var_ps(a_lo, i, a_hi);
    }
    ger_partial(m, 0, head, alpha, a_lo, a_hi, b, beta, c);
    const __m512 alpha_v = _mm512_set1_ps(alpha);
    const __mmask16 span_lanes = lanes(span);
    size_t e = head, j0 = 0;
    /* whole periods whose factors lie within b; then the rest, masked */
    switch (beta == 0.0f ? vecs : 0) {
    case 3: e = ger_whole_periods(3, rows, col_of, alpha, b, n, cols, span, c, e, total, &j0); break;
    case 5: e = ger_whole_periods(5, rows, col_of, alpha, b, n, cols, span, c, e, total, &j0); break;
    case 7: e = ger_whole_periods(7, rows, col_of, alpha, b, n, cols, span, c, e, total, &j0); break;
    default:
        for (; e + period <= total && j0 + span <= n; e += period, j0 += cols)
            ger_period(vecs, rows, col_of, _mm512_mul_ps(alpha_v, _mm512_maskz_loadu_ps(span_lanes, b + j0)), beta, c + e);
    }
    for (; e + 16 <= total; j0 += cols) { /* the last period: b's end within its span */
        const size_t here = e + period <= total ? vecs : (total - e) / 16;
        const __m512 factors = _mm512_mul_ps(alpha_v, _mm512_maskz_loadu_ps(lanes(n - j0 < span ? n - j0 : span), b + j0));
        ger_period(here, rows, col_of, factors, beta, c + e);
        e += 16 * here;
    }
    ger_partial(m, e, total - e, alpha, a_lo, a_hi, b, beta, c);
    return 1;
}

/* Runs of any length: on Zen 5 the run took 20x1000x1 (80 KB, past L1)
 * from 1140 to 613 ns and 20x10000x1 from 10.4 to 5.6 us, its aligned
 * stores draining to L2 faster than three 32-byte ones a column (an Intel
 * Xeon of an earlier session had it 5 % slower there; this project runs on
 * Zen 4 and 5). Within L1 that Xeon took 189 ns for 20x400x1 as a run, 324
 * by columns. */
static void ger_avx512(size_t m, size_t n, float alpha, const float *a, const float *b, size_t incb, float beta,
                       float *c, size_t ldc)
{
    if (ldc == m && incb == 1 && ger_run(m, n, alpha, a, b, beta, c)) return;
    /* by columns with 256-bit stores: a column of a few rows is rarely
     * 64-byte aligned, and 64-byte stores that straddle cache lines made
     * 20x1000x1 run at 17 GFLOP/s where AVX2's kernel ran at 26 */
    nn_ger_avx2(m, n, alpha, a, b, incb, beta, c, ldc);
}

/* KC 400: a 12 x 400 B panel (19 KB) still stays in L1 while A streams past,
 * and the first layer's 784 inputs split into one K block per core
 * (nntrain, Fashion-MNIST: that layer's forward GEMM 0.5-2.5 % faster than
 * with 4 blocks of 196 on a quiet machine, 7-9 % in its slow phases). */
const nn_kernels nn_kernels_avx512 = {
    .isa = NN_ISA_AVX512, .mr = 32, .nr = 12, .kc = 400, .gemm_ukernel = nn_gemm_32x12_avx512,
    .mr_short = 16, .gemm_ukernel_short = nn_gemm_16x12_avx512,
    .gemm_ukernel_t = nn_gemm_32x12_t_avx512, .gemm_ukernel_short_t = nn_gemm_16x12_t_avx512,
    .gemm_whole = nn_gemm_whole_32x12_avx512, .gemm_ukernel_pack_b = nn_gemm_32x12_pack_b_avx512,
    .small_k_rows = 32, .small_k_max = NN_SMALL_K_MAX, .gemm_small_k = nn_gemm_small_k_avx512,
    .gemm_small_k_at = nn_gemm_small_k_at_avx512,
    .pack_a_transposed = nn_pack_a_transposed_avx2, .store_transposed = nn_store_transposed_avx2, .a_rows_masked = 1, .b_cols_even = 1,
    NN_VECTOR_KERNELS, NN_VECTOR_PROBE};
