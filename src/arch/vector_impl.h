/*
 * The elementwise and reduction kernels, written once over a small vector
 * vocabulary. Each ISA file (src/arch/<isa>/kernels_<isa>.c) defines
 *
 *   vf, vm            a float vector of VF_WIDTH lanes and a lane mask
 *   vf_load, vf_store, vf_loadn(p, n, fill), vf_storen(p, v, n)  (n < VF_WIDTH
 *                     lanes; the others are `fill`)
 *   vf_set1, vf_add, vf_sub, vf_mul, vf_div, vf_fma(a, b, c) = a·b + c,
 *   vf_max(a, b), vf_min(a, b) (b when either is NaN), vf_abs, vf_sqrt,
 *   vf_negabs (−|x|), vf_copysign(mag, sgn) (|mag| with sgn's sign, for mag >= 0),
 *   vf_hsum, vf_hmax,
 *   optionally vf_keep_in_register(v) (v stays a register operand: the
 *   compiler would rather reload it as each FMA's memory operand),
 *   vf_hsum_each(v[VF_WIDTH]) (lane c = the sum of v[c]'s lanes),
 *   vf_gt, vf_lt, vf_isnan, vf_select(m, a, b), and either vf_scale2 (p·2^n,
 *   with NN_HAVE_VF_SCALE2 defined) or vf_pow2i (2^n for integer valued n in
 *   [−126, 127]) from which the default vf_scale2 below is built;
 *   optionally vf_lut16(v, table) (lane i = table[low 4 bits of v's lane i],
 *   with NN_HAVE_VF_LUT16 defined; only beside a vf_scale2 that takes any n
 *   and scales by 2^⌊n⌋, as vscalefps does), for a table-driven sigmoid;
 *   or else optionally vf_lut8(v, table) (lane i = table[low 3 bits of v's
 *   lane i], with NN_HAVE_VF_LUT8 defined) and vf_floor, for the same
 *   sigmoid from an 8-entry table
 *
 * and then includes this file, which defines static kernels and the
 * NN_VECTOR_KERNELS initializer for the ISA's nn_kernels table. The same
 * algorithm on every ISA is what makes the ISAs agree to a few ULP.
 */
#ifndef NN_VECTOR_IMPL_H
#define NN_VECTOR_IMPL_H

#include <math.h>
#include <stddef.h>

#include "../kernels.h"

/* Run the statements over n elements a vector at a time: a main loop of full
 * vectors (where r_ == VF_WIDTH is a constant, so LD/ST compile to plain
 * loads and stores), then one partial step of r_ < VF_WIDTH lanes. */
#define NN_MAP(n, ...)                                                                  \
    do {                                                                                \
        size_t i_ = 0, r_ = VF_WIDTH;                                                   \
        for (; i_ + VF_WIDTH <= (n); i_ += VF_WIDTH) { __VA_ARGS__ }                    \
        if (i_ < (n)) {                                                                 \
            r_ = (n) - i_;                                                              \
            __VA_ARGS__                                                                 \
        }                                                                               \
    } while (0)
#define LD(p) (r_ == VF_WIDTH ? vf_load((p) + i_) : vf_loadn((p) + i_, r_, 0.0f))
#define ST(p, v)                                                                        \
    do {                                                                                \
        if (r_ == VF_WIDTH) vf_store((p) + i_, (v));                                    \
        else vf_storen((p) + i_, (v), r_);                                              \
    } while (0)

#ifndef NN_HAVE_VF_SCALE2
/* p·2^n for integer-valued n in [−150, 129], in two factors so that results
 * down to the smallest subnormal and the overflow to +Inf come out right.
 * (AVX-512 has vscalefps for this and defines its own.) */
static inline vf vf_scale2(vf p, vf n)
{
    const vf magic = vf_set1(12582912.0f);
    const vf n1 = vf_sub(vf_fma(n, vf_set1(0.5f), magic), magic);
    return vf_mul(vf_mul(p, vf_pow2i(n1)), vf_pow2i(vf_sub(n, n1)));
}
#endif

/* Cody–Waite range reduction x = n·ln2 + r, |r| <= ln2/2, and the
 * degree-5 polynomial P(r) (Cephes expf coefficients) with
 * e^r ≈ 1 + r + r²·P(r): the core of exp and of expm1 below. x must be
 * clamped to where 2^n stays finite or flushes cleanly. */
static inline vf vexp_reduce(vf x, vf *n_out, vf *r_out)
{
    const vf magic = vf_set1(12582912.0f); /* 1.5·2^23: adding it rounds to an integer */
    const vf n = vf_sub(vf_fma(x, vf_set1(1.44269504088896341f), magic), magic);
    vf r = vf_fma(n, vf_set1(-0.693359375f), x);
    r = vf_fma(n, vf_set1(2.12194440e-4f), r);
    vf p = vf_set1(1.9875691500e-4f);
    p = vf_fma(p, r, vf_set1(1.3981999507e-3f));
    p = vf_fma(p, r, vf_set1(8.3334519073e-3f));
    p = vf_fma(p, r, vf_set1(4.1665795894e-2f));
    p = vf_fma(p, r, vf_set1(1.6666665459e-1f));
    p = vf_fma(p, r, vf_set1(5.0000001201e-1f));
    *n_out = n, *r_out = r;
    return p;
}

/* e^r − 1 = r + r²·P(r), for expm1 (tanh): no 1 added, so small r keep
 * their relative accuracy. */
static inline vf vexpm1_reduced(vf x, vf *n_out)
{
    vf r;
    const vf p = vexp_reduce(x, n_out, &r);
    return vf_fma(p, vf_mul(r, r), r);
}

/* exp(x) for every float x: 2^n·(1 + r + r²·P(r)) with an exact scaling.
 * Max error about 1 ULP for normal results (tests/test_activations.c checks
 * against libm). NaN passes through because vf_max/vf_min return their
 * second operand when either is NaN. (The order of the last two adds is
 * the one softmax has always had: changing it changes trained bits.) */
static inline vf vexp(vf x)
{
    vf n, r;
    const vf p = vexp_reduce(vf_min(vf_set1(89.0f), vf_max(vf_set1(-104.0f), x)), &n, &r);
    return vf_scale2(vf_fma(p, vf_mul(r, r), vf_add(r, vf_set1(1.0f))), n);
}

/* Sigmoid from e = e^−|x|: 1/(1+e) for x >= 0, e/(1+e) below, which keeps
 * subnormal results for x < −87. A true division, not a reciprocal estimate
 * refined by Newton: its FMAs compete with the exp's for the FMA pipes,
 * while the divider runs beside them (nnbench act/, Zen 5: AVX-512 sigmoid
 * 6.25 -> 7.55 G/s, tanh 4.2 -> 4.9; AVX2 1.52 -> 1.98 and 1.46 -> 1.85),
 * and the quotient is correctly rounded. */
static inline vf vsigmoid_from_exp(vf x, vf e)
{
    const vf one = vf_set1(1.0f);
    return vf_div(vf_select(vf_lt(x, vf_set1(0.0f)), e, one), vf_add(one, e));
}

/* One exp of −|x|, so neither side overflows; −|x| <= 0 needs only the
 * lower clamp. */
static inline vf vsigmoid_poly(vf x)
{
    const vf one = vf_set1(1.0f);
    vf n;
    const vf q = vexpm1_reduced(vf_max(vf_set1(-104.0f), vf_negabs(x)), &n);
#ifdef NN_HAVE_VF_SCALE2
    const vf e = vf_scale2(vf_add(q, one), n);
#else
    /* n in [−150, 0]: (q + 1)·2^(n+24) is exact and normal, and the one
     * rounding of ·2^−24 is the same as vf_scale2's final one: the same
     * bits for one power instead of two (AVX2, before its table: 1.85 -> 2.21 G/s) */
    const vf e = vf_mul(vf_mul(vf_add(q, one), vf_pow2i(vf_add(n, vf_set1(24.0f)))), vf_set1(0x1p-24f));
#endif
    return vsigmoid_from_exp(x, e);
}

/* tanh|x| = E/(E + 2) with E = expm1(2|x|) = 2^n·q + (2^n − 1): no
 * cancellation anywhere (for n = 0, E is q itself, so tiny x keep their
 * relative accuracy; 2^n − 1 is exact), one exp's work instead of an exp
 * plus a separate small-argument polynomial. |x| is clamped at 9, where
 * tanh rounds to 1 and E + 2 stays finite; the sign comes back last, NaN
 * passes through the clamp (vf_min returns its second operand). */
static inline vf vtanh(vf x)
{
    const vf one = vf_set1(1.0f);
    const vf a = vf_min(vf_set1(9.0f), vf_abs(x));
    vf n;
    const vf q = vexpm1_reduced(vf_add(a, a), &n);
#ifdef NN_HAVE_VF_SCALE2
    const vf two_n = vf_scale2(one, n);
#else
    const vf two_n = vf_pow2i(n); /* n in [0, 26]: one exact power, not two */
#endif
    const vf e = vf_fma(two_n, q, vf_sub(two_n, one));
    const vf t = vf_div(e, vf_add(e, vf_set1(2.0f)));
    return vf_copysign(t, x);
}

#if defined(NN_HAVE_VF_LUT16) || defined(NN_HAVE_VF_LUT8)
/* Table-driven exp for sigmoid, where a 16-entry lookup is one instruction
 * (vpermps): z = n·ln2 + t with n a multiple of 1/16, so |t| <= ln2/32 and
 * e^t − 1 needs only t + t²/2 + t³/6 (error below 2^−26), where vexp_reduce's
 * |r| <= ln2/2 needs a degree-7 polynomial (act/avx512 on an Intel Xeon:
 * sigmoid 4.4 -> 5.3 G/s). 1.5·2^19 added to z·log2(e) rounds it to
 * sixteenths, the low 4 bits of that sum index l = 2^(n − ⌊n⌋), rounded to
 * float in the table, and vf_scale2 multiplies by 2^⌊n⌋. Not for tanh: its
 * E = e^2|x| − 1 can be as small as 0.04 with n = 1/16, and the entry's
 * rounding is then up to 9 ULP of E; taking it off t from a second table
 * and a fourth polynomial term cost what the table saved (3.9 G/s both).
 * With an 8-entry lookup (AVX2's vpermps) n is in eighths, |t| <= ln2/16,
 * and e^t − 1 takes a fourth term (error below 2^−29); without vscalefps,
 * 2^⌊n⌋ is applied as 2^(⌊n⌋+25), normal for every ⌊n⌋ >= −150 that z >=
 * −104 gives, then 2^−25: exact, then one rounding, as in vsigmoid_poly
 * (act/avx2 on Zen 5: 2.23 -> 2.60 G/s). */
#ifdef NN_HAVE_VF_LUT16
static const float exp2_sixteenths[16] = {
    1.000000000e+00f, 1.044273734e+00f, 1.090507746e+00f, 1.138788581e+00f, 1.189207077e+00f, 1.241857767e+00f,
    1.296839595e+00f, 1.354255557e+00f, 1.414213538e+00f, 1.476826191e+00f, 1.542210817e+00f, 1.610490322e+00f,
    1.681792855e+00f, 1.756252170e+00f, 1.834008098e+00f, 1.915206552e+00f};
#else
static const float exp2_eighths[8] = {1.000000000e+00f, 1.090507746e+00f, 1.189207077e+00f, 1.296839595e+00f,
                                      1.414213538e+00f, 1.542210817e+00f, 1.681792855e+00f, 1.834008098e+00f};
#endif

/* As vsigmoid_poly: the small side e/(1+e) from e = e^−|x|, or 1/(1+e).
 * The sum 1.5·2^19 (or 2^20 for eighths) + z·log2(e) has an ULP of one
 * step of n. */
static inline vf vsigmoid(vf x)
{
#ifdef NN_HAVE_VF_LUT16
    const vf magic = vf_set1(786432.0f);
#else
    const vf magic = vf_set1(1572864.0f);
#endif
    const vf z = vf_max(vf_set1(-104.0f), vf_negabs(x));
    const vf biased = vf_fma(z, vf_set1(1.44269504088896341f), magic);
    const vf n = vf_sub(biased, magic);
    vf t = vf_fma(n, vf_set1(-0.693359375f), z);
    t = vf_fma(n, vf_set1(2.12194440e-4f), t);
#ifdef NN_HAVE_VF_LUT16
    const vf q = vf_fma(vf_mul(vf_fma(vf_set1(1.0f / 6.0f), t, vf_set1(0.5f)), t), t, t); /* e^t − 1 */
    const vf l = vf_lut16(biased, exp2_sixteenths);
    const vf e = vf_scale2(vf_fma(l, q, l), n);
#else
    const vf p = vf_fma(vf_fma(vf_set1(1.0f / 24.0f), t, vf_set1(1.0f / 6.0f)), t, vf_set1(0.5f));
    const vf q = vf_fma(vf_mul(p, t), t, t);
    const vf l = vf_lut8(biased, exp2_eighths);
    const vf e = vf_mul(vf_mul(vf_fma(l, q, l), vf_pow2i(vf_add(vf_floor(n), vf_set1(25.0f)))), vf_set1(0x1p-25f));
#endif
    return vsigmoid_from_exp(x, e);
}
#else
static inline vf vsigmoid(vf x) { return vsigmoid_poly(x); }
#endif

static inline vf vrelu(vf x)
{
    const vm keep = vf_gt(x, vf_set1(0.0f)); /* NaN is kept too: */
    return vf_select(keep, x, vf_select(vf_isnan(x), x, vf_set1(0.0f)));
}

static inline vf vleaky(vf x)
{
    return vf_select(vf_gt(x, vf_set1(0.0f)), x, vf_mul(x, vf_set1(NN_LEAKY_SLOPE)));
}

static inline vf vapply(nn_activation act, vf x)
{
    switch (act) {
    case NN_SIGMOID: return vsigmoid(x);
    case NN_TANH: return vtanh(x);
    case NN_RELU: return vrelu(x);
    case NN_LEAKY_RELU: return vleaky(x);
    default: return x;
    }
}

/* NN_ACT_UNROLL (activate; an ISA may set it) or two (bias_activate: two
 * columns) vectors a step: their
 * long dependency chains interleave, where one vector a step left the
 * out-of-order window full of one chain's waiting operations (nnbench
 * act/avx512, Intel Xeon: sigmoid 2.8 -> 3.7, tanh 2.5 -> 3.5 G/s). */
#ifndef NN_ACT_UNROLL
#define NN_ACT_UNROLL 4
#endif
#define NN_DEFINE_ACTIVATE(name, fn)                                                   \
    static void activate_##name(size_t n, const float *x, float *y)                   \
    {                                                                                   \
        size_t i = 0;                                                                   \
        for (; i + NN_ACT_UNROLL * VF_WIDTH <= n; i += NN_ACT_UNROLL * VF_WIDTH) {      \
            vf v_[NN_ACT_UNROLL];                                                       \
            for (int u_ = 0; u_ < NN_ACT_UNROLL; u_++)                                  \
                v_[u_] = fn(vf_load(x + i + (size_t)u_ * VF_WIDTH));                    \
            for (int u_ = 0; u_ < NN_ACT_UNROLL; u_++)                                  \
                vf_store(y + i + (size_t)u_ * VF_WIDTH, v_[u_]);                        \
        }                                                                               \
        NN_MAP(n - i, ST(y + i, fn(LD(x + i))););                                      \
    }                                                                                   \
    static void bias_activate_##name(size_t rows, size_t cols, const float *bias,      \
                                     float *z)                                          \
    {                                                                                   \
        size_t j = 0;                                                                   \
        for (; j + 2 <= cols; j += 2) { /* two columns' chains interleaved */           \
            float *zj = z + j * rows, *zk = zj + rows;                                  \
            NN_MAP(rows, const vf b_ = LD(bias); ST(zj, fn(vf_add(LD(zj), b_)));        \
                   ST(zk, fn(vf_add(LD(zk), b_))););                                    \
        }                                                                               \
        if (j < cols) NN_MAP(rows, ST(z + j * rows, fn(vf_add(LD(z + j * rows), LD(bias)))););  \
    }

static inline vf videntity(vf x) { return x; }
NN_DEFINE_ACTIVATE(identity, videntity)
NN_DEFINE_ACTIVATE(sigmoid, vsigmoid)
NN_DEFINE_ACTIVATE(tanh, vtanh)
NN_DEFINE_ACTIVATE(relu, vrelu)
NN_DEFINE_ACTIVATE(leaky, vleaky)

static void backward_identity(size_t n, const float *a, const float *da, float *dz)
{
    (void)a;
    NN_MAP(n, ST(dz, LD(da)););
}

static void backward_sigmoid(size_t n, const float *a, const float *da, float *dz)
{
    NN_MAP(n, {
        const vf av = LD(a);
        ST(dz, vf_mul(LD(da), vf_mul(av, vf_sub(vf_set1(1.0f), av))));
    });
}

static void backward_tanh(size_t n, const float *a, const float *da, float *dz)
{
    NN_MAP(n, {
        const vf av = LD(a);
        ST(dz, vf_mul(LD(da), vf_sub(vf_set1(1.0f), vf_mul(av, av))));
    });
}

static void backward_relu(size_t n, const float *a, const float *da, float *dz)
{
    NN_MAP(n, {
        const vf d = LD(da);
        ST(dz, vf_select(vf_gt(LD(a), vf_set1(0.0f)), d, vf_set1(0.0f)));
    });
}

static void backward_leaky(size_t n, const float *a, const float *da, float *dz)
{
    NN_MAP(n, {
        const vf d = LD(da);
        ST(dz, vf_select(vf_gt(LD(a), vf_set1(0.0f)), d, vf_mul(d, vf_set1(NN_LEAKY_SLOPE))));
    });
}

/* Max-subtracted; a NaN or +Inf anywhere in the column makes the sum NaN
 * and so the whole column NaN, on every ISA. */
/* Lanes 0..n−1 of a vector (n <= VF_WIDTH). */
static const float lane_ones[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static inline vm vf_first_lanes(size_t n) { return vf_gt(vf_loadn(lane_ones, n, 0.0f), vf_set1(0.0f)); }

/* Softmax's padding lanes are not sent through exp: exp(−Inf) is computed
 * (clamped) as 2^−150, and subnormal results cost Intel cores a microcode
 * assist per instruction (a 10-row column, 16 lanes: 86 ns a column, 16
 * ns with 16 rows). They go in as 0 and come out as 0 instead. A column
 * of at most VF_WIDTH rows (a 10-class output) also stays in one register
 * from load to store. The lanes that are real see the same operations as
 * before, so the same bits. */
static inline vf softmax_exp_tail(size_t r, vf z, vf mv)
{
    const vm valid = vf_first_lanes(r);
    const vf zero = vf_set1(0.0f);
    return vf_select(valid, vexp(vf_select(valid, vf_sub(z, mv), zero)), zero);
}

static inline float softmax_vector(size_t n, vf zv, float *a)
{
    const float m = vf_hmax(n == VF_WIDTH ? zv : vf_select(vf_first_lanes(n), zv, vf_set1(-INFINITY)));
    const vf mv = vf_set1(m);
    const vf e = n == VF_WIDTH ? vexp(vf_sub(zv, mv)) : softmax_exp_tail(n, zv, mv);
    const float total = vf_hsum(vf_add(vf_set1(0.0f), e));
    const vf r = vf_mul(e, vf_set1(1.0f / total));
    if (n == VF_WIDTH) vf_store(a, r);
    else vf_storen(a, r, n);
    return m + logf(total);
}

static float softmax_column(size_t n, const float *z, float *a)
{
    if (n <= VF_WIDTH) return softmax_vector(n, n == VF_WIDTH ? vf_load(z) : vf_loadn(z, n, -INFINITY), a);
    vf mx = vf_set1(-INFINITY);
    NN_MAP(n, mx = vf_max(mx, r_ == VF_WIDTH ? vf_load(z + i_) : vf_loadn(z + i_, r_, -INFINITY)););
    const float m = vf_hmax(mx);
    const vf mv = vf_set1(m);
    vf s = vf_set1(0.0f);
    NN_MAP(n, {
        const vf e = r_ == VF_WIDTH ? vexp(vf_sub(vf_load(z + i_), mv)) : softmax_exp_tail(r_, vf_loadn(z + i_, r_, 0.0f), mv);
        s = vf_add(s, e);
        ST(a, e);
    });
    const float total = vf_hsum(s);
    const vf inv = vf_set1(1.0f / total);
    NN_MAP(n, ST(a, vf_mul(LD(a), inv)););
    return m + logf(total);
}

static void bias_activate_softmax(size_t rows, size_t cols, const float *bias, float *z)
{
    for (size_t j = 0; j < cols; j++) {
        float *zj = z + j * rows;
        if (rows <= VF_WIDTH) {
            const size_t r_ = rows, i_ = 0;
            softmax_vector(rows, vf_add(LD(zj), LD(bias)), zj);
            continue;
        }
        NN_MAP(rows, ST(zj, vf_add(LD(zj), LD(bias))););
        softmax_column(rows, zj, zj);
    }
}

/* Four accumulators hide the add latency; the tail goes into the first. TERM
 * reads its operands with LD at offset i_. */
#define NN_DEFINE_REDUCTION(name, args, TERM)                                          \
    static float name args                                                              \
    {                                                                                   \
        vf s0 = vf_set1(0.0f), s1 = s0, s2 = s0, s3 = s0;                               \
        size_t i_ = 0, r_ = VF_WIDTH;                                                   \
        while (i_ + 4 * VF_WIDTH <= n) {                                                \
            s0 = vf_add(s0, TERM);                                                      \
            i_ += VF_WIDTH;                                                             \
            s1 = vf_add(s1, TERM);                                                      \
            i_ += VF_WIDTH;                                                             \
            s2 = vf_add(s2, TERM);                                                      \
            i_ += VF_WIDTH;                                                             \
            s3 = vf_add(s3, TERM);                                                      \
            i_ += VF_WIDTH;                                                             \
        }                                                                               \
        for (; i_ < n; i_ += VF_WIDTH) {                                                \
            r_ = n - i_ < VF_WIDTH ? n - i_ : VF_WIDTH;                                 \
            s0 = vf_add(s0, TERM);                                                      \
        }                                                                               \
        return vf_hsum(vf_add(vf_add(s0, s1), vf_add(s2, s3)));                         \
    }

static inline vf sq(vf d) { return vf_mul(d, d); }
NN_DEFINE_REDUCTION(sum_sq_diff, (size_t n, const float *a, const float *y), sq(vf_sub(LD(a), LD(y))))
NN_DEFINE_REDUCTION(dot, (size_t n, const float *x, const float *y), vf_mul(LD(x), LD(y)))
NN_DEFINE_REDUCTION(sum, (size_t n, const float *x), LD(x))

/* x − x is 0 for every finite x and NaN for Inf and NaN, and a NaN
 * survives any sum: one subtraction and one addition per vector, four
 * vectors a step (the bit test it replaced ran at SSE2 width: 784x256
 * inputs, 33 us a training step). */
static int all_finite(size_t n, const float *x)
{
    vf s0 = vf_set1(0.0f), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 4 * VF_WIDTH <= n; i += 4 * VF_WIDTH) {
        const vf x0 = vf_load(x + i), x1 = vf_load(x + i + VF_WIDTH);
        const vf x2 = vf_load(x + i + 2 * VF_WIDTH), x3 = vf_load(x + i + 3 * VF_WIDTH);
        s0 = vf_add(s0, vf_sub(x0, x0)), s1 = vf_add(s1, vf_sub(x1, x1));
        s2 = vf_add(s2, vf_sub(x2, x2)), s3 = vf_add(s3, vf_sub(x3, x3));
    }
    for (; i < n; i += VF_WIDTH) {
        const vf v = n - i >= VF_WIDTH ? vf_load(x + i) : vf_loadn(x + i, n - i, 0.0f);
        s0 = vf_add(s0, vf_sub(v, v));
    }
    return vf_hsum(vf_add(vf_add(s0, s1), vf_add(s2, s3))) == 0.0f;
}

static void add_columns(size_t rows, size_t cols, const float *x, size_t ld, float *out)
{
    NN_MAP(rows, {
        vf s = vf_set1(0.0f);
        for (size_t j = 0; j < cols; j++) s = vf_add(s, LD(x + j * ld));
        ST(out, vf_add(LD(out), s));
    });
}

static void sub_scale(size_t n, const float *a, const float *y, float s, float *out)
{
    const vf sv = vf_set1(s);
    NN_MAP(n, ST(out, vf_mul(vf_sub(LD(a), LD(y)), sv)););
}

static void axpy(size_t n, float alpha, const float *x, float *y)
{
    const vf av = vf_set1(alpha);
    NN_MAP(n, ST(y, vf_fma(av, LD(x), LD(y))););
}

/* Skinny products (gemm.c run_skinny), one call for a range of columns.
 * ger: C[:, j] = (alpha·b[j·incb])·a + beta·C[:, j], a of m rows. With
 * beta == 0 a column's last partial vector is stored as a full one that
 * overlaps the one before it (same values there): no masked store, which
 * costs most where a column straddles two cache lines (20-row columns). */
/* 32 KB, the smallest L1d of the CPUs this targets: C beyond it is written
 * past L1 (ger). */
#define NN_L1_FLOATS 8192

#ifndef NN_GER /* an ISA may take another's (kernels_avx512.c) */
/* ger's beta = 0 columns with a held in registers (av: nv whole vectors,
 * then `tail`, the last VF_WIDTH rows); `ahead` a constant: with C past L1,
 * each column's lines are asked for, for writing, that many columns ahead,
 * so that its stores need not wait for them (AVX2 and AVX-512, 20x1000x1:
 * 1328 -> 1235 ns); 0 leaves the loop as it was (a test in it cost 10 %
 * at 20x100x1). */
static inline __attribute__((always_inline)) void ger_held(size_t m, size_t n, float alpha, const vf *av,
                                                            size_t nv, vf tail, const float *b, size_t incb,
                                                            float *c, size_t ldc, const size_t ahead)
{
    const size_t full = nv * VF_WIDTH;
    for (size_t j = 0; j < n; j++) {
        const vf s = vf_set1(alpha * b[j * incb]);
        float *cj = c + j * ldc;
        if (ahead && j + ahead < n) {
            __builtin_prefetch(cj + ahead * ldc, 1);
            __builtin_prefetch(cj + ahead * ldc + m - 1, 1);
        }
        for (size_t v = 0; v < nv; v++) vf_store(cj + v * VF_WIDTH, vf_mul(s, av[v]));
        if (full < m) vf_store(cj + m - VF_WIDTH, vf_mul(s, tail));
    }
}

static void ger(size_t m, size_t n, float alpha, const float *a, const float *b, size_t incb, float beta,
                float *c, size_t ldc)
{
    const vf bv = vf_set1(beta);
    const size_t full = m / VF_WIDTH * VF_WIDTH;
    if (beta == 0.0f && full && m <= 4 * VF_WIDTH) {
        /* a held in registers: the column loop only multiplies and stores
         * (reloading a after each column's stores ran at half the speed) */
        vf av[4];
        const size_t nv = full / VF_WIDTH;
        for (size_t v = 0; v < nv; v++) av[v] = vf_load(a + v * VF_WIDTH);
        const vf tail = vf_load(a + m - VF_WIDTH);
        if (n * ldc > NN_L1_FLOATS) ger_held(m, n, alpha, av, nv, tail, b, incb, c, ldc, 16);
        else ger_held(m, n, alpha, av, nv, tail, b, incb, c, ldc, 0);
        return;
    }
    for (size_t j = 0; j < n; j++) {
        const vf s = vf_set1(alpha * b[j * incb]);
        float *cj = c + j * ldc;
        if (beta == 0.0f) {
            for (size_t i = 0; i < full; i += VF_WIDTH) vf_store(cj + i, vf_mul(s, vf_load(a + i)));
            if (full < m) {
                if (full) vf_store(cj + m - VF_WIDTH, vf_mul(s, vf_load(a + m - VF_WIDTH)));
                else vf_storen(cj, vf_mul(s, vf_loadn(a, m, 0.0f)), m);
            }
        } else {
            NN_MAP(m, ST(cj, vf_fma(s, LD(a), vf_mul(bv, LD(cj)))););
        }
    }
}
#define NN_GER ger
#endif

/* gemv_t: c[j·incc] = alpha·Σ_p a[p]·B[p, j] + beta·c[j·incc] for j < n, B
 * k x n with ld ldb: a dot product per column, VF_WIDTH columns at a time
 * reduced together by vf_hsum_each (a horizontal sum per column cost more
 * than its FMAs for short columns: 1x1000x20 on AVX-512 ran slower than on
 * AVX2), then the rest two at a time. */
static void gemv_t(size_t k, size_t n, float alpha, const float *a, const float *b, size_t ldb, float beta,
                   float *c, size_t incc)
{
    size_t j = 0;
    for (; j + VF_WIDTH <= n; j += VF_WIDTH) {
        const float *bj = b + j * ldb;
        vf s[VF_WIDTH];
        for (int q = 0; q < VF_WIDTH; q++) s[q] = vf_set1(0.0f);
        NN_MAP(k, {
            const vf av = LD(a);
            for (int q = 0; q < VF_WIDTH; q++) s[q] = vf_fma(av, LD(bj + (size_t)q * ldb), s[q]);
        });
        const vf d = vf_mul(vf_set1(alpha), vf_hsum_each(s));
        float *cj = c + j * incc;
        if (incc == 1) {
            vf_store(cj, beta == 0.0f ? d : vf_add(d, vf_mul(vf_set1(beta), vf_load(cj))));
        } else {
            float t[VF_WIDTH];
            vf_store(t, d);
            for (int q = 0; q < VF_WIDTH; q++) {
                float *cq = cj + (size_t)q * incc;
                *cq = beta == 0.0f ? t[q] : t[q] + beta * *cq;
            }
        }
    }
    for (; j + 2 <= n; j += 2) {
        const float *b0 = b + j * ldb, *b1 = b0 + ldb;
        vf s0 = vf_set1(0.0f), s1 = s0;
        NN_MAP(k, {
            const vf av = LD(a);
            s0 = vf_fma(av, LD(b0), s0);
            s1 = vf_fma(av, LD(b1), s1);
        });
        const float d0 = alpha * vf_hsum(s0), d1 = alpha * vf_hsum(s1);
        float *c0 = c + j * incc, *c1 = c0 + incc;
        *c0 = beta == 0.0f ? d0 : d0 + beta * *c0;
        *c1 = beta == 0.0f ? d1 : d1 + beta * *c1;
    }
    if (j < n) {
        const float *b0 = b + j * ldb;
        vf s0 = vf_set1(0.0f);
        NN_MAP(k, s0 = vf_fma(LD(a), LD(b0), s0););
        const float d0 = alpha * vf_hsum(s0);
        float *c0 = c + j * incc;
        *c0 = beta == 0.0f ? d0 : d0 + beta * *c0;
    }
}

/* Optimizer state that decays geometrically (μ^t, β1^t for inputs that are
 * rarely active, such as always-blank pixels) sinks into subnormals, which
 * run many times slower (measured on Zen 4: a 235 K-parameter Adam update
 * took 180 µs on 1e-21 gradients against 68 µs on normal ones, and nntrain's
 * Fashion-MNIST epoch fell from 1.0 s to 0.44 s with this flush).
 * Below 1e-30 a moment cannot move a weight (the step is < 1e-30/ε), so it is
 * flushed to zero. */
static inline vf flush_tiny(vf x)
{
    return vf_select(vf_lt(vf_abs(x), vf_set1(1e-30f)), vf_set1(0.0f), x);
}

static void momentum_update(size_t n, float lr, float mu, float wd, const float *g, float *v,
                            float *w)
{
    const vf lrv = vf_set1(-lr), muv = vf_set1(mu), wdv = vf_set1(wd);
    NN_MAP(n, {
        const vf wv = LD(w);
        const vf vv = flush_tiny(vf_fma(muv, LD(v), vf_fma(wdv, wv, LD(g))));
        ST(v, vv);
        ST(w, vf_fma(lrv, vv, wv));
    });
}

static void adam_update(size_t n, float step, float b1, float b2, float eps, float wd,
                        const float *g, float *m, float *v, float *w)
{
    const vf b1v = vf_set1(b1), c1 = vf_set1(1.0f - b1), b2v = vf_set1(b2),
             c2 = vf_set1(1.0f - b2), epsv = vf_set1(eps), stepv = vf_set1(-step),
             wdv = vf_set1(wd);
    NN_MAP(n, {
        const vf wv = LD(w);
        const vf gv = vf_fma(wdv, wv, LD(g));
        const vf mv = flush_tiny(vf_fma(b1v, LD(m), vf_mul(c1, gv)));
        const vf vv = flush_tiny(vf_fma(b2v, LD(v), vf_mul(c2, vf_mul(gv, gv))));
        ST(m, mv);
        ST(v, vv);
        ST(w, vf_fma(stepv, vf_div(mv, vf_add(vf_sqrt(vv), epsv)), wv));
    });
}

/* ---- the small-network path (src/small.c) ----
 * A whole network of few units per layer, run over a block of SB columns
 * at a time with samples in the vector lanes: activations are stored unit
 * by unit (unit u of the block at u·SB), so every layer is broadcasts of
 * single weights times vectors of samples, nothing is packed, and the block's
 * activations stay in L1 from the first layer's forward step to the last
 * layer's backward step. Weight gradients are summed per lane across the
 * blocks of a chunk and folded (vf_hsum) once at its end. */
#define SB (4 * VF_WIDTH)

/* da ⊙ g'(a), with g' written in terms of a = g(z) (as activate_backward) */
static inline vf vbackward(nn_activation act, vf a, vf da)
{
    const vf one = vf_set1(1.0f), zero = vf_set1(0.0f);
    switch (act) {
    case NN_SIGMOID: return vf_mul(da, vf_mul(a, vf_sub(one, a)));
    case NN_TANH: return vf_mul(da, vf_sub(one, vf_mul(a, a)));
    case NN_RELU: return vf_select(vf_gt(a, zero), da, zero);
    case NN_LEAKY_RELU: return vf_select(vf_gt(a, zero), da, vf_mul(da, vf_set1(NN_LEAKY_SLOPE)));
    default: return da;
    }
}

#if defined(__GNUC__)
#define NN_FLATTEN_INLINE inline __attribute__((always_inline))
#else
#define NN_FLATTEN_INLINE inline
#endif

/* out[o] = g(b[o] + Σ_i W[o, i]·in[i]) over one block, inlined once per
 * activation (small_forward_layer) so that g is not a branch per vector.
 * Two units at a time: eight independent FMA chains; a last single unit
 * sums even and odd i apart for the same eight (the sine network's output
 * layer is one unit over 20 inputs: four chains 20 deep were latency-bound). */
static NN_FLATTEN_INLINE void small_forward_g(const nn_small_layer *ly, const float *in, float *out,
                                              nn_activation act)
{
    const size_t n_in = ly->in, n_out = ly->out;
    size_t o = 0;
    for (; o + 2 <= n_out; o += 2) {
        const vf b0 = vf_set1(ly->b[o]), b1 = vf_set1(ly->b[o + 1]);
        vf z0 = b0, z1 = b0, z2 = b0, z3 = b0, y0 = b1, y1 = b1, y2 = b1, y3 = b1;
        for (size_t i = 0; i < n_in; i++) {
            const float *a = in + i * SB;
            const vf a0 = vf_load(a), a1 = vf_load(a + VF_WIDTH), a2 = vf_load(a + 2 * VF_WIDTH),
                     a3 = vf_load(a + 3 * VF_WIDTH);
            const vf w0 = vf_set1(ly->w[o + i * n_out]), w1 = vf_set1(ly->w[o + 1 + i * n_out]);
            z0 = vf_fma(w0, a0, z0), z1 = vf_fma(w0, a1, z1), z2 = vf_fma(w0, a2, z2), z3 = vf_fma(w0, a3, z3);
            y0 = vf_fma(w1, a0, y0), y1 = vf_fma(w1, a1, y1), y2 = vf_fma(w1, a2, y2), y3 = vf_fma(w1, a3, y3);
        }
        float *d = out + o * SB;
        vf_store(d, vapply(act, z0)), vf_store(d + VF_WIDTH, vapply(act, z1));
        vf_store(d + 2 * VF_WIDTH, vapply(act, z2)), vf_store(d + 3 * VF_WIDTH, vapply(act, z3));
        d += SB;
        vf_store(d, vapply(act, y0)), vf_store(d + VF_WIDTH, vapply(act, y1));
        vf_store(d + 2 * VF_WIDTH, vapply(act, y2)), vf_store(d + 3 * VF_WIDTH, vapply(act, y3));
    }
    if (o < n_out) {
        const vf bo = vf_set1(ly->b[o]), zero = vf_set1(0.0f);
        vf z0 = bo, z1 = bo, z2 = bo, z3 = bo, y0 = zero, y1 = zero, y2 = zero, y3 = zero;
        size_t i = 0;
        for (; i + 2 <= n_in; i += 2) {
            const float *a = in + i * SB, *b = a + SB;
            const vf w = vf_set1(ly->w[o + i * n_out]), v = vf_set1(ly->w[o + (i + 1) * n_out]);
            z0 = vf_fma(w, vf_load(a), z0), z1 = vf_fma(w, vf_load(a + VF_WIDTH), z1);
            z2 = vf_fma(w, vf_load(a + 2 * VF_WIDTH), z2), z3 = vf_fma(w, vf_load(a + 3 * VF_WIDTH), z3);
            y0 = vf_fma(v, vf_load(b), y0), y1 = vf_fma(v, vf_load(b + VF_WIDTH), y1);
            y2 = vf_fma(v, vf_load(b + 2 * VF_WIDTH), y2), y3 = vf_fma(v, vf_load(b + 3 * VF_WIDTH), y3);
        }
        if (i < n_in) {
            const float *a = in + i * SB;
            const vf w = vf_set1(ly->w[o + i * n_out]);
            z0 = vf_fma(w, vf_load(a), z0), z1 = vf_fma(w, vf_load(a + VF_WIDTH), z1);
            z2 = vf_fma(w, vf_load(a + 2 * VF_WIDTH), z2), z3 = vf_fma(w, vf_load(a + 3 * VF_WIDTH), z3);
        }
        float *d = out + o * SB;
        vf_store(d, vapply(act, vf_add(z0, y0))), vf_store(d + VF_WIDTH, vapply(act, vf_add(z1, y1)));
        vf_store(d + 2 * VF_WIDTH, vapply(act, vf_add(z2, y2)));
        vf_store(d + 3 * VF_WIDTH, vapply(act, vf_add(z3, y3)));
    }
}

static void small_forward_layer(const nn_small_layer *ly, const float *in, float *out)
{
    switch (ly->act) {
    case NN_SIGMOID: small_forward_g(ly, in, out, NN_SIGMOID); break;
    case NN_TANH: small_forward_g(ly, in, out, NN_TANH); break;
    case NN_RELU: small_forward_g(ly, in, out, NN_RELU); break;
    case NN_LEAKY_RELU: small_forward_g(ly, in, out, NN_LEAKY_RELU); break;
    default: small_forward_g(ly, in, out, NN_IDENTITY); break;
    }
}

/* One layer's backward step over a block: its dZ (d) into the per-lane sums
 * of db and dW (acc_w: W's layout, VF_WIDTH lanes per weight; acc_b after
 * it), then, below the first layer, dZ of the layer beneath:
 * d_prev[i] = (Σ_o W[o, i]·d[o]) ⊙ g'(in[i]). */
static void small_backward_layer(const nn_small_layer *ly, nn_activation act_prev, const float *in,
                                 const float *d, float *acc_w, float *acc_b, float *d_prev)
{
    const size_t n_in = ly->in, n_out = ly->out;
    for (size_t o = 0; o < n_out; o++) {
        const float *dz = d + o * SB;
        const vf d0 = vf_load(dz), d1 = vf_load(dz + VF_WIDTH), d2 = vf_load(dz + 2 * VF_WIDTH),
                 d3 = vf_load(dz + 3 * VF_WIDTH);
        float *ab = acc_b + o * VF_WIDTH;
        vf_store(ab, vf_add(vf_load(ab), vf_add(vf_add(d0, d1), vf_add(d2, d3))));
        for (size_t i = 0; i < n_in; i++) {
            const float *a = in + i * SB;
            float *aw = acc_w + (o + i * n_out) * VF_WIDTH;
            vf t = vf_fma(d0, vf_load(a), vf_mul(d1, vf_load(a + VF_WIDTH)));
            t = vf_fma(d2, vf_load(a + 2 * VF_WIDTH), t);
            t = vf_fma(d3, vf_load(a + 3 * VF_WIDTH), t);
            vf_store(aw, vf_add(vf_load(aw), t));
        }
    }
    if (!d_prev) return;
    for (size_t i = 0; i < n_in; i++) {
        vf s0 = vf_set1(0.0f), s1 = s0, s2 = s0, s3 = s0;
        for (size_t o = 0; o < n_out; o++) {
            const vf w = vf_set1(ly->w[o + i * n_out]);
            const float *dz = d + o * SB;
            s0 = vf_fma(w, vf_load(dz), s0), s1 = vf_fma(w, vf_load(dz + VF_WIDTH), s1);
            s2 = vf_fma(w, vf_load(dz + 2 * VF_WIDTH), s2), s3 = vf_fma(w, vf_load(dz + 3 * VF_WIDTH), s3);
        }
        const float *a = in + i * SB;
        float *dp = d_prev + i * SB;
        vf_store(dp, vbackward(act_prev, vf_load(a), s0));
        vf_store(dp + VF_WIDTH, vbackward(act_prev, vf_load(a + VF_WIDTH), s1));
        vf_store(dp + 2 * VF_WIDTH, vbackward(act_prev, vf_load(a + 2 * VF_WIDTH), s2));
        vf_store(dp + 3 * VF_WIDTH, vbackward(act_prev, vf_load(a + 3 * VF_WIDTH), s3));
    }
}

/* columns [0, cnt) of a rows x m matrix into block layout, zero beyond */
static void small_gather(size_t rows, size_t cnt, const float *x, size_t ld, float *blk)
{
    if (rows == 1 && ld == 1) {
        NN_MAP(SB, ST(blk, i_ < cnt ? vf_loadn(x + i_, cnt - i_ < VF_WIDTH ? cnt - i_ : VF_WIDTH, 0.0f)
                                    : vf_set1(0.0f)););
        return;
    }
    for (size_t r = 0; r < rows; r++) {
        float *d = blk + r * SB;
        for (size_t s = 0; s < cnt; s++) d[s] = x[r + s * ld];
        for (size_t s = cnt; s < SB; s++) d[s] = 0.0f;
    }
}

static void small_run_chunk(const nn_small_net *net, size_t m, const float *x, size_t ldx,
                            const float *y, size_t ldy, float scale, float *out, size_t ldo,
                            float *grad, float *cost, float *work)
{
    const size_t L = net->n_layers, n_out = net->layers[L - 1].out;
    float *acts[NN_SMALL_MAX_LAYERS + 1];
    float *p = work;
    for (size_t l = 0; l <= L; l++) {
        acts[l] = p;
        p += (l ? net->layers[l - 1].out : net->layers[0].in) * SB;
    }
    float *dz[2] = {p, p + net->max_units * SB};
    float *acc = p + 2 * net->max_units * SB;
    vf cacc = vf_set1(0.0f);
    if (y)
        for (size_t i = 0; i < net->n_params * VF_WIDTH; i++) acc[i] = 0.0f;
    float ones[SB];
    for (size_t s = 0; s < SB; s++) ones[s] = 1.0f;
    for (size_t j0 = 0; j0 < m; j0 += SB) {
        const size_t cnt = m - j0 < SB ? m - j0 : SB;
        small_gather(net->layers[0].in, cnt, x + j0 * ldx, ldx, acts[0]);
        for (size_t l = 0; l < L; l++) small_forward_layer(&net->layers[l], acts[l], acts[l + 1]);
        const float *a_out = acts[L];
        if (out)
            for (size_t s = 0; s < cnt; s++)
                for (size_t o = 0; o < n_out; o++) out[o + (j0 + s) * ldo] = a_out[o * SB + s];
        if (!y) continue;
        /* output dZ = (A − Y)·scale ⊙ g'(A), zero in the padding lanes */
        small_gather(n_out, cnt, y + j0 * ldy, ldy, dz[1]);
        const nn_activation act_out = net->layers[L - 1].act;
        for (size_t o = 0; o < n_out; o++)
            for (size_t k = 0; k < SB; k += VF_WIDTH) {
                const size_t at = o * SB + k;
                const vf valid = k < cnt ? vf_loadn(ones, cnt - k < VF_WIDTH ? cnt - k : VF_WIDTH, 0.0f)
                                         : vf_set1(0.0f);
                const vf a = vf_load(a_out + at), diff = vf_mul(vf_sub(a, vf_load(dz[1] + at)), valid);
                cacc = vf_fma(diff, diff, cacc);
                vf_store(dz[0] + at, vbackward(act_out, a, vf_mul(diff, vf_set1(scale))));
            }
        size_t off = net->n_params;
        for (size_t l = L; l-- > 0;) {
            const nn_small_layer *ly = &net->layers[l];
            off -= ly->in * ly->out + ly->out;
            float *acc_w = acc + off * VF_WIDTH;
            small_backward_layer(ly, l ? net->layers[l - 1].act : NN_IDENTITY, acts[l],
                                 dz[(L - 1 - l) % 2], acc_w, acc_w + ly->in * ly->out * VF_WIDTH,
                                 l ? dz[(L - l) % 2] : NULL);
        }
    }
    if (!y) return;
    for (size_t i = 0; i < net->n_params; i++) grad[i] = vf_hsum(vf_load(acc + i * VF_WIDTH));
    *cost = vf_hsum(cacc);
}

/* ---- layers over a few columns (inference, src/predict.c) ----
 * Y = g(W·X + b) for n <= 8 columns with W (rows x k) column-major: W is
 * streamed column by column, RV vectors of rows at a time, each multiplied
 * by X's k-th element of every column (broadcast): no packing, no
 * zero-padded tile columns. RV·NC = VF_ACC accumulators (as many as the
 * register file holds beside the loads), RV as large as the columns allow,
 * so that a column of W is read in as few, long, sequential pieces as
 * possible (784-256-128-10, one sample, AVX-512: RV 8 -> 16 took 9.1 -> 7.9 us).
 * Rows past the last full vector are loaded and stored masked. */
#ifndef VF_ACC
#define VF_ACC 8 /* 16-register files (AVX2); 32-register ISAs define 16 */
#endif

static NN_FLATTEN_INLINE void gemv_block(size_t rv, size_t nc, size_t r0, size_t rows, size_t k,
                                         const float *w, size_t ldw, const float *b, nn_activation act,
                                         const float *x, size_t ldx, float *y, size_t ldy)
{
    vf acc[VF_ACC][8];
    for (size_t v = 0; v < rv; v++)
        for (size_t c = 0; c < nc; c++) acc[v][c] = vf_set1(0.0f);
    const size_t left = rows - r0;
    if (left >= rv * VF_WIDTH) {
        for (size_t p = 0; p < k; p++) {
            const float *wc = w + p * ldw + r0;
            for (size_t c = 0; c < nc; c++) {
                const vf xv = vf_set1(x[p + c * ldx]);
                for (size_t v = 0; v < rv; v++) acc[v][c] = vf_fma(vf_load(wc + v * VF_WIDTH), xv, acc[v][c]);
            }
        }
    } else {
        for (size_t p = 0; p < k; p++) {
            const float *wc = w + p * ldw + r0;
            vf wv[VF_ACC];
            for (size_t v = 0; v < rv; v++) {
                const size_t at = v * VF_WIDTH;
                wv[v] = at >= left ? vf_set1(0.0f)
                                   : vf_loadn(wc + at, left - at < VF_WIDTH ? left - at : VF_WIDTH, 0.0f);
            }
            for (size_t c = 0; c < nc; c++) {
                const vf xv = vf_set1(x[p + c * ldx]);
                for (size_t v = 0; v < rv; v++) acc[v][c] = vf_fma(wv[v], xv, acc[v][c]);
            }
        }
    }
    for (size_t v = 0; v < rv; v++) {
        const size_t at = r0 + v * VF_WIDTH;
        if (at >= rows) break;
        const size_t cnt = rows - at < VF_WIDTH ? rows - at : VF_WIDTH;
        const vf bv = cnt == VF_WIDTH ? vf_load(b + at) : vf_loadn(b + at, cnt, 0.0f);
        for (size_t c = 0; c < nc; c++) {
            const vf out = vapply(act, vf_add(acc[v][c], bv));
            if (cnt == VF_WIDTH) vf_store(y + c * ldy + at, out);
            else vf_storen(y + c * ldy + at, out, cnt);
        }
    }
}

/* Full blocks of RV vectors, then what is left in blocks of 8, 4, 2 and 1
 * vectors (each a constant, so the accumulators stay in registers), the
 * last one masked: a thread's 128 rows must not run as a masked 256-row
 * block (half its loads zero). */
#define GEMV_RUN(RV, NC)                                                                   \
    for (; (RV) <= VF_ACC / (NC) && r0 + (RV) * VF_WIDTH <= rows; r0 += (RV) * VF_WIDTH)   \
        gemv_block(RV, NC, r0, rows, k, w, ldw, b, act, x, ldx, y, ldy);
#define GEMV_CASE(NC)                                                                      \
    {                                                                                      \
        size_t r0 = 0;                                                                     \
        GEMV_RUN(VF_ACC / (NC), NC)                                                        \
        GEMV_RUN(8, NC) GEMV_RUN(4, NC) GEMV_RUN(2, NC) GEMV_RUN(1, NC)                     \
        if (r0 < rows) gemv_block(1, NC, r0, rows, k, w, ldw, b, act, x, ldx, y, ldy);       \
    }

/* nnbench, Intel Xeon, 784-256-128-10: at 8 columns layer_few_columns still
 * beats the GEMM's 12-column tile (AVX-512: 22 us at b8, 65 us at b16); one
 * lane at a time it wins only at one column (scalar: 52 us at b1 against
 * the GEMM's 62, 543 us at b8 against 122), so the scalar ISA sets 1. */
#ifndef NN_FEW_COLUMNS_MAX
#define NN_FEW_COLUMNS_MAX 8
#endif

static void layer_few_columns(size_t rows, size_t k, const float *w, size_t ldw, const float *b,
                              nn_activation act, const float *x, size_t ldx, size_t n, float *y,
                              size_t ldy)
{
    /* at most VF_ACC / 2 columns a pass: two rows of W's vectors at least,
     * or the broadcasts of X, not W, become the loads that bound it */
    const size_t per_pass = VF_ACC / 2 < 8 ? VF_ACC / 2 : 8;
    for (size_t j = 0; j < n; j += per_pass) {
        switch (n - j < per_pass ? n - j : per_pass) { /* the column count a constant in each */
        case 1: GEMV_CASE(1) break;
        case 2: GEMV_CASE(2) break;
        case 3: GEMV_CASE(3) break;
        case 4: GEMV_CASE(4) break;
        case 5: GEMV_CASE(5) break;
        case 6: GEMV_CASE(6) break;
        case 7: GEMV_CASE(7) break;
        default: GEMV_CASE(8) break;
        }
        x += per_pass * ldx, y += per_pass * ldy;
    }
}
#undef GEMV_CASE
#undef GEMV_RUN

/* ---- few-row products as dot products (gemm.c, op(A) with at most
 * NN_DOT_MAX_ROWS rows) ----
 * C(i, j) = alpha·Σ_p At(i, p)·B(p, j) + beta·C(i, j), At's rows and B's
 * columns contiguous: K runs along the vectors, so a 10-row output layer
 * fills every lane where a 16-row tile would be 10/16 full. A tile of
 * DOT_RB rows x DOT_CB columns keeps its B columns in registers for the
 * rows; the sums of a tile are reduced together (vf_hsum_each). Each
 * element's order: lane l sums p ≡ l (mod VF_WIDTH) in order, then a tree
 * fixed by the element's place in its tile; tiles start at column 0 every
 * DOT_CB columns (gemm_dot_cols), so a caller that splits the columns on
 * multiples of that gets the same bits. */
#if VF_WIDTH > 1 /* one lane: no better than the scalar tile (10x256x256: 140 us against 87) */
#define DOT_RB 4
#define DOT_CB (VF_ACC / DOT_RB)
#ifndef vf_keep_in_register /* no-op unless the ISA says how */
#define vf_keep_in_register(v) ((void)0)
#endif

static NN_FLATTEN_INLINE void dot_tile(size_t rb, size_t cb, size_t k, const float *at, size_t ldat, const float *b,
                                       size_t ldb, float alpha, float beta, float *c, size_t ldc)
{
    vf acc[DOT_RB * DOT_CB]; /* element (r, q) at q·rb + r: C's column order */
    for (size_t t = 0; t < rb * cb; t++) acc[t] = vf_set1(0.0f);
    NN_MAP(k, {
        vf bv[DOT_CB];
        for (size_t q = 0; q < cb; q++) {
            bv[q] = LD(b + q * ldb);
            vf_keep_in_register(bv[q]);
        }
        for (size_t r = 0; r < rb; r++) {
            const vf av = LD(at + r * ldat);
            for (size_t q = 0; q < cb; q++) acc[q * rb + r] = vf_fma(av, bv[q], acc[q * rb + r]);
        }
    });
    float sums[DOT_RB * DOT_CB + VF_WIDTH];
    for (size_t g = 0; g < rb * cb; g += VF_WIDTH) {
        vf v[VF_WIDTH];
        for (size_t u = 0; u < VF_WIDTH; u++) v[u] = g + u < rb * cb ? acc[g + u] : vf_set1(0.0f);
        vf_store(sums + g, vf_mul(vf_set1(alpha), vf_hsum_each(v)));
    }
    if (beta == 0.0f) {
        for (size_t q = 0; q < cb; q++)
            for (size_t r = 0; r < rb; r++) c[r + q * ldc] = sums[q * rb + r];
    } else {
        for (size_t q = 0; q < cb; q++)
            for (size_t r = 0; r < rb; r++) c[r + q * ldc] = sums[q * rb + r] + beta * c[r + q * ldc];
    }
}

#define DOT_TILE(R, C)                                                                            \
    dot_tile(R, C, k, at + i * ldat, ldat, b + j * ldb, ldb, alpha, beta, c + i + j * ldc, ldc)
#if DOT_CB >= 4
#define DOT_WIDE_CASES(R)                                                                         \
    case 3: DOT_TILE(R, 3); break;                                                                \
    case 4: DOT_TILE(R, 4); break;
#else
#define DOT_WIDE_CASES(R)
#endif
#define DOT_ROW_CASE(R)                                                                           \
    case R:                                                                                       \
        switch (cb) {                                                                             \
        case 1: DOT_TILE(R, 1); break;                                                            \
        DOT_WIDE_CASES(R)                                                                         \
        default: DOT_TILE(R, 2); break;                                                           \
        }                                                                                         \
        break;

static void gemm_dot(size_t m, size_t n, size_t k, const float *at, size_t ldat, const float *b, size_t ldb,
                     float alpha, float beta, float *c, size_t ldc)
{
    for (size_t j = 0; j < n; j += DOT_CB) { /* DOT_CB columns of B stay in L1 for all the rows */
        const size_t cb = n - j < DOT_CB ? n - j : DOT_CB;
        for (size_t i = 0; i < m; i += DOT_RB) {
            switch (m - i < DOT_RB ? m - i : DOT_RB) {
            DOT_ROW_CASE(1)
            DOT_ROW_CASE(2)
            DOT_ROW_CASE(3)
            default:
                switch (cb) {
                case 1: DOT_TILE(4, 1); break;
                DOT_WIDE_CASES(4)
                default: DOT_TILE(4, 2); break;
                }
            }
        }
    }
}
#undef DOT_ROW_CASE
#undef DOT_WIDE_CASES
#undef DOT_TILE
#define NN_GEMM_DOT .gemm_dot = gemm_dot, .gemm_dot_cols = DOT_CB
#else
#define NN_GEMM_DOT .gemm_dot = NULL
#endif

/* nnbench's FMA peak probe: 12 independent FMA chains (enough to cover
 * latency x throughput on current cores), VF_WIDTH lanes each. Returns a
 * value that depends on every chain, so nothing is optimized away. */
static inline float fma_probe(size_t iterations)
{
    const vf a = vf_set1(0.9999999f), b = vf_set1(1e-7f);
    vf c0 = vf_set1(0.0f), c1 = vf_set1(1.0f), c2 = vf_set1(2.0f), c3 = vf_set1(3.0f),
       c4 = vf_set1(4.0f), c5 = vf_set1(5.0f), c6 = vf_set1(6.0f), c7 = vf_set1(7.0f),
       c8 = vf_set1(8.0f), c9 = vf_set1(9.0f), c10 = vf_set1(10.0f), c11 = vf_set1(11.0f);
    for (size_t i = 0; i < iterations; i++) {
        c0 = vf_fma(c0, a, b), c1 = vf_fma(c1, a, b), c2 = vf_fma(c2, a, b), c3 = vf_fma(c3, a, b);
        c4 = vf_fma(c4, a, b), c5 = vf_fma(c5, a, b), c6 = vf_fma(c6, a, b), c7 = vf_fma(c7, a, b);
        c8 = vf_fma(c8, a, b), c9 = vf_fma(c9, a, b), c10 = vf_fma(c10, a, b), c11 = vf_fma(c11, a, b);
    }
    const vf s = vf_add(vf_add(vf_add(vf_add(c0, c1), vf_add(c2, c3)), vf_add(vf_add(c4, c5), vf_add(c6, c7))),
                        vf_add(vf_add(c8, c9), vf_add(c10, c11)));
    return vf_hsum(s);
}

/* nnbench's read probe: x[0..n) read `passes` times with the ISA's own
 * loads into eight independent sums (enough loads in flight to reach the
 * cache's bandwidth, not an add chain's latency). Returns the sum of every
 * element read, so no load is optimized away and a test can check them. */
static float read_probe(size_t n, const float *x, size_t passes)
{
    vf s0 = vf_set1(0.0f), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
    for (size_t r = 0; r < passes; r++) {
        size_t i = 0;
        for (; i + 8 * VF_WIDTH <= n; i += 8 * VF_WIDTH) {
            s0 = vf_add(s0, vf_load(x + i)), s1 = vf_add(s1, vf_load(x + i + VF_WIDTH));
            s2 = vf_add(s2, vf_load(x + i + 2 * VF_WIDTH)), s3 = vf_add(s3, vf_load(x + i + 3 * VF_WIDTH));
            s4 = vf_add(s4, vf_load(x + i + 4 * VF_WIDTH)), s5 = vf_add(s5, vf_load(x + i + 5 * VF_WIDTH));
            s6 = vf_add(s6, vf_load(x + i + 6 * VF_WIDTH)), s7 = vf_add(s7, vf_load(x + i + 7 * VF_WIDTH));
        }
        for (; i < n; i += VF_WIDTH) s0 = vf_add(s0, n - i >= VF_WIDTH ? vf_load(x + i) : vf_loadn(x + i, n - i, 0.0f));
    }
    return vf_hsum(vf_add(vf_add(vf_add(s0, s1), vf_add(s2, s3)), vf_add(vf_add(s4, s5), vf_add(s6, s7))));
}

#define NN_VECTOR_KERNELS                                                               \
    .activate = {activate_identity, activate_sigmoid, activate_tanh, activate_relu,     \
                 activate_leaky, NULL},                                                 \
    .activate_backward = {backward_identity, backward_sigmoid, backward_tanh,           \
                          backward_relu, backward_leaky, backward_identity},            \
    .softmax = softmax_column,                                                          \
    .bias_activate = {bias_activate_identity, bias_activate_sigmoid, bias_activate_tanh, \
                      bias_activate_relu, bias_activate_leaky, bias_activate_softmax},  \
    .sum_sq_diff = sum_sq_diff, .dot = dot, .sum = sum, .all_finite = all_finite, .add_columns = add_columns,     \
    .sub_scale = sub_scale, .axpy = axpy, .ger = NN_GER, .gemv_t = gemv_t, .momentum_update = momentum_update,           \
    .adam_update = adam_update, .small_block = SB, .small_run_chunk = small_run_chunk, \
    .layer_few_columns = layer_few_columns, .few_columns_max = NN_FEW_COLUMNS_MAX, .read_probe = read_probe, \
    NN_GEMM_DOT

/* The SIMD ISAs' probe: VF_WIDTH lanes of fused multiply-add. */
#define NN_VECTOR_PROBE .lanes = VF_WIDTH, .fma_probe = fma_probe

#endif /* NN_VECTOR_IMPL_H */
