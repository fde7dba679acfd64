/* Activations, their derivatives, softmax and reductions: every ISA against
 * double-precision libm with stated ULP bounds, and against the scalar path. */
#include <float.h>
#include <stdio.h>

#include "internal.h"
#include "testutil.h"

/* Accuracy bounds (ULP of the float result), met by every ISA; see the
 * vexp/vtanh comments in src/arch/vector_impl.h. Results below FLT_MIN
 * (subnormal) are held to an absolute bound of 2 subnormal steps instead. */
#define SIGMOID_ULPS 4.0
#define TANH_ULPS 4.0
#define SOFTMAX_ULPS 6.0

static double ref_act(nn_activation act, double x)
{
    switch (act) {
    case NN_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case NN_TANH: return tanh(x);
    case NN_RELU: return x != x ? x : x > 0 ? x : 0.0;
    case NN_LEAKY_RELU: return x > 0 || x != x ? x : NN_LEAKY_SLOPE * (float)x;
    default: return x;
    }
}

static double ref_deriv(nn_activation act, double x)
{
    if (x != x) return x;
    const double a = ref_act(act, x);
    switch (act) {
    case NN_SIGMOID: return a * (1.0 - a);
    case NN_TANH: return 1.0 - a * a;
    case NN_RELU: return x > 0 ? 1.0 : 0.0;
    case NN_LEAKY_RELU: return x > 0 ? 1.0 : NN_LEAKY_SLOPE;
    default: return 1.0;
    }
}

/* A sweep over the whole float line: a fine grid on [-30, 30], a coarse one
 * to ±120, and the special values. */
static size_t make_sweep(float *x)
{
    size_t n = 0;
    for (int i = -60000; i <= 60000; i++) x[n++] = (float)i * 0.0005f;
    for (int i = -2400; i <= 2400; i++) x[n++] = (float)i * 0.05f;
    const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-8f, -1e-8f, FLT_MIN, -FLT_MIN,
                             1e-45f, -1e-45f, 88.0f, -88.0f, 88.72f, -88.72f, 88.73f, -88.73f,
                             89.0f, -89.0f, 103.0f, -103.0f, 104.0f, -104.0f, 1e30f, -1e30f,
                             FLT_MAX, -FLT_MAX, INFINITY, -INFINITY, 0.39999f, 0.4f, 0.40001f,
                             -0.4f, 0.625f, 9.0f, -9.0f, 16.6f, -16.6f};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) x[n++] = special[i];
    return n;
}
#define SWEEP_MAX 130000

static int within(float got, double want, double ulps)
{
    const float w = (float)want;
    if (w != w || got != got) return (w != w) == (got != got);
    if (isinf(w) || isinf(got)) return w == got;
    if (fabs(want) < FLT_MIN) return fabs((double)got - want) <= 2.0 * 1.401298464e-45;
    return tu_ulps(got, w) <= ulps;
}

START_TEST(activations_against_libm)
{
    static float x[SWEEP_MAX], y[SWEEP_MAX];
    const size_t n = make_sweep(x);
    const nn_activation acts[] = {NN_IDENTITY, NN_SIGMOID, NN_TANH, NN_RELU, NN_LEAKY_RELU};
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    for (int s = 0; s < n_isa; s++) {
        const nn_kernels *kr = nn_kernels_for(isas[s]);
        for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) {
            const double bound = acts[a] == NN_SIGMOID ? SIGMOID_ULPS : acts[a] == NN_TANH ? TANH_ULPS : 0.0;
            kr->activate[acts[a]](n, x, y);
            double worst = 0;
            size_t bad = n; /* the first out of bound: one ck_assert a sweep, each costs a write */
            for (size_t i = 0; i < n; i++) {
                const double want = ref_act(acts[a], x[i]);
                if (bad == n && !within(y[i], want, bound)) bad = i;
                if (fabs(want) >= FLT_MIN && isfinite(want)) {
                    const double u = tu_ulps(y[i], (float)want);
                    if (u > worst) worst = u;
                }
            }
            ck_assert_msg(bad == n, "%s %s(%a) = %a, want %a (%g ulps)", nn_isa_name(isas[s]),
                          nn_activation_name(acts[a]), (double)x[bad % n], (double)y[bad % n],
                          ref_act(acts[a], x[bad % n]), tu_ulps(y[bad % n], (float)ref_act(acts[a], x[bad % n])));
            if (acts[a] == NN_SIGMOID || acts[a] == NN_TANH)
                printf("%s %s: max %.0f ulp\n", nn_isa_name(isas[s]), nn_activation_name(acts[a]), worst);
        }
        /* NaN propagates through every activation */
        const float nan_in[3] = {NAN, 1.0f, NAN};
        float out[3];
        for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) {
            kr->activate[acts[a]](3, nan_in, out);
            ck_assert(isnan(out[0]) && isnan(out[2]) && !isnan(out[1]));
        }
    }
}
END_TEST

/* Unaligned starts and every tail length, in place too. */
START_TEST(activations_every_length_and_in_place)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    const nn_kernels *ref = nn_kernels_for(NN_ISA_SCALAR);
    float *x = tu_random(80, 9, -6, 6);
    for (int s = 0; s < n_isa; s++) {
        const nn_kernels *kr = nn_kernels_for(isas[s]);
        for (int act = 0; act < NN_SOFTMAX; act++) {
            for (size_t off = 0; off < 3; off++) {
                for (size_t len = 0; len <= 70; len++) {
                    float want[80], got[80];
                    for (int i = 0; i < 80; i++) got[i] = want[i] = -7.0f;
                    ref->activate[act](len, x + off, want + off);
                    memcpy(got, x, sizeof got);
                    kr->activate[act](len, got + off, got + off); /* in place */
                    size_t bad = len;
                    for (size_t i = 0; i < len && bad == len; i++)
                        if (!(tu_ulps(got[off + i], want[off + i]) <= 4.0)) bad = i;
                    ck_assert_msg(bad == len, "%s %s len %zu: element %zu", nn_isa_name(isas[s]),
                                  nn_activation_name((nn_activation)act), len, bad);
                    ck_assert(got[off + len] == x[off + len]); /* nothing past the end */
                }
            }
        }
    }
    free(x);
}
END_TEST

START_TEST(derivatives)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    float z[41], d[41];
    for (int i = 0; i < 40; i++) z[i] = -10.0f + 0.5f * (float)i;
    z[40] = NAN;
    for (int s = 0; s < n_isa; s++) {
        ck_assert_int_eq(nn_set_isa(isas[s]), NN_OK);
        for (int act = 0; act < NN_SOFTMAX; act++) {
            ck_assert_int_eq(nn_activation_derivative((nn_activation)act, 41, 1, z, 41, d, 41), NN_OK);
            for (int i = 0; i < 41; i++) {
                const double want = ref_deriv((nn_activation)act, z[i]);
                ck_assert_msg(isnan(want) ? isnan(d[i]) : fabs(d[i] - want) <= 1e-6 + 1e-5 * fabs(want),
                              "%s g'(%g) = %g, want %g", nn_activation_name((nn_activation)act),
                              (double)z[i], (double)d[i], want);
            }
        }
        ck_assert_int_eq(nn_activation_derivative(NN_SOFTMAX, 41, 1, z, 41, d, 41), NN_ERR_INVALID_ARGUMENT);
    }
    /* backward kernels: dz = da ⊙ g'(a) */
    const nn_kernels *kr = nn_kernels_for(NN_ISA_SCALAR);
    const float a[4] = {0.25f, 0.5f, -0.5f, 0.0f}, da[4] = {2, 2, 2, 2};
    float dz[4];
    kr->activate_backward[NN_SIGMOID](4, a, da, dz);
    ck_assert_float_eq_tol(dz[0], 2 * 0.25f * 0.75f, 1e-7f);
    kr->activate_backward[NN_TANH](4, a, da, dz);
    ck_assert_float_eq_tol(dz[2], 2 * (1 - 0.25f), 1e-7f);
    kr->activate_backward[NN_RELU](4, a, da, dz);
    ck_assert(dz[0] == 2 && dz[2] == 0 && dz[3] == 0);
    kr->activate_backward[NN_LEAKY_RELU](4, a, da, dz);
    ck_assert(dz[0] == 2 && dz[2] == 2 * NN_LEAKY_SLOPE);
}
END_TEST

START_TEST(softmax_columns)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    for (int s = 0; s < n_isa; s++) {
        const nn_kernels *kr = nn_kernels_for(isas[s]);
        for (size_t rows = 1; rows <= 40; rows += 3) {
            float *z = tu_random(rows, rows, -20, 20), a[40];
            z[0] += 1000.0f; /* needs the max subtraction */
            const float lse = kr->softmax(rows, z, a);
            double mx = -INFINITY, sum = 0;
            for (size_t i = 0; i < rows; i++) /* not fmax: gcc 12 for aarch64 ICEs vectorizing it */
                if (z[i] > mx) mx = z[i];
            for (size_t i = 0; i < rows; i++) sum += exp((double)z[i] - mx);
            double total = 0;
            for (size_t i = 0; i < rows; i++) {
                const double want = exp((double)z[i] - mx) / sum;
                total += a[i];
                ck_assert_msg(within(a[i], want, SOFTMAX_ULPS), "%s rows %zu: %g vs %g",
                              nn_isa_name(isas[s]), rows, (double)a[i], want);
            }
            ck_assert_double_eq_tol(total, 1.0, 1e-5);
            ck_assert_double_eq_tol(lse, mx + log(sum), 1e-4 * fabs(mx + log(sum)));
            free(z);
        }
        const float bad[3] = {1.0f, NAN, 2.0f};
        float out[3];
        kr->softmax(3, bad, out);
        ck_assert(isnan(out[0]) && isnan(out[1]) && isnan(out[2]));
    }
}
END_TEST

/* Softmax's error by the span S of a column's logits (README, Numerics):
 * the kernel's own few ULP, plus the rounding of z − max, a relative error
 * up to half an ulp of |z − max| that shows on the tiny probabilities of
 * wide spans. Bounds: 12 ULP for S <= 32, 40 below 64, 72 up to 120.
 * Subnormal outputs: the same count of the smallest subnormal's units. */
START_TEST(softmax_ulps_by_spread)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    const double spans[] = {1, 4, 8, 16, 32, 63, 87, 100, 120};
    for (int s = 0; s < n_isa; s++) {
        const nn_kernels *kr = nn_kernels_for(isas[s]);
        for (size_t si = 0; si < sizeof spans / sizeof *spans; si++) {
            const double bound = spans[si] <= 32 ? 12.0 : spans[si] < 64 ? 40.0 : 72.0;
            uint64_t st = 1 + si;
            for (int trial = 0; trial < 500; trial++) {
                const size_t rows = 1 + (size_t)trial % 40;
                float z[40], a[40];
                for (size_t i = 0; i < rows; i++) z[i] = tu_uniform(&st, 0, (float)spans[si]) - 3.0f;
                kr->softmax(rows, z, a);
                double mx = -INFINITY, sum = 0;
                for (size_t i = 0; i < rows; i++)
                    if (z[i] > mx) mx = z[i];
                for (size_t i = 0; i < rows; i++) sum += exp((double)z[i] - mx);
                for (size_t i = 0; i < rows; i++) {
                    const double want = exp((double)z[i] - mx) / sum;
                    /* below FLT_MIN, the same bound in units of the smallest subnormal */
                    const int ok = want < FLT_MIN ? fabs((double)a[i] - want) <= bound * 1.401298464e-45
                                                  : within(a[i], want, bound);
                    ck_assert_msg(ok, "%s span %g rows %zu: %g vs %g (bound %g ULP)", nn_isa_name(isas[s]),
                                  spans[si], rows, (double)a[i], want, bound);
                }
            }
        }
    }
}
END_TEST

/* Long sums: pairwise blocks keep float sums close to the double sum. */
START_TEST(reductions_long_rows)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    const size_t n = 1000003;
    float *a = tu_random(n, 5, 0, 1), *y = tu_random(n, 6, -1, 0);
    double ssd = 0, dot = 0;
    for (size_t i = 0; i < n; i++) {
        ssd += ((double)a[i] - y[i]) * ((double)a[i] - y[i]);
        dot += (double)a[i] * y[i];
    }
    const size_t rows = 13, cols = 5000;
    double colsum[13] = {0};
    for (size_t j = 0; j < cols; j++)
        for (size_t i = 0; i < rows; i++) colsum[i] += a[i + j * (rows + 2)];
    for (int s = 0; s < n_isa; s++) {
        const nn_kernels *kr = nn_kernels_for(isas[s]);
        /* relative error bound: a few eps·log2(n), far below eps·n */
        ck_assert_double_eq_tol(nn_reduce_sum_sq_diff(kr, n, a, y), ssd, 2e-6 * ssd);
        ck_assert_double_eq_tol(nn_reduce_dot(kr, n, a, y), dot, 2e-6 * fabs(dot));
        float out[13], *scratch = malloc(nn_column_sum_scratch(rows, cols) * sizeof(float));
        nn_reduce_columns(kr, rows, cols, a, rows + 2, out, scratch);
        for (size_t i = 0; i < rows; i++) ck_assert_double_eq_tol(out[i], colsum[i], 2e-6 * colsum[i]);
        free(scratch);
    }
    free(a), free(y);
}
END_TEST

/* all_finite: one Inf, −Inf or NaN at every position of every length up
 * to 70 (every tail and the 4-vector loop of each ISA) is found, and
 * large finite values, subnormals and −0 are not mistaken for one. */
START_TEST(all_finite_finds_every_position)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    const float finite[] = {0.0f, -0.0f, 3.4e38f, -3.4e38f, 1e-45f, 1.0f};
    const float bad[] = {INFINITY, -INFINITY, NAN};
    float x[72];
    for (int s = 0; s < n_isa; s++) {
        const nn_kernels *kr = nn_kernels_for(isas[s]);
        size_t wrong = SIZE_MAX;
        for (size_t n = 0; n <= 70; n++) {
            for (size_t i = 0; i < n; i++) x[i] = finite[i % 6];
            x[n] = NAN; /* past the end: never read */
            if (!kr->all_finite(n, x)) wrong = n * 100;
            for (size_t i = 0; i < n; i++)
                for (int b = 0; b < 3; b++) {
                    x[i] = bad[b];
                    if (kr->all_finite(n, x)) wrong = n * 100 + i;
                    x[i] = finite[i % 6];
                }
        }
        ck_assert_msg(wrong == SIZE_MAX, "%s: all_finite wrong at n = %zu, position %zu", nn_isa_name(isas[s]),
                      wrong / 100, wrong % 100);
    }
}
END_TEST

/* The read probe (nnbench's bandwidth bound) reads every element of every
 * length `passes` times, its tails included, and nothing past the end:
 * small integers sum exactly, so its sum must equal passes x the sum. */
START_TEST(read_probe_reads_everything_once_a_pass)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    float x[301];
    for (int s = 0; s < n_isa; s++) {
        const nn_kernels *kr = nn_kernels_for(isas[s]);
        for (size_t n = 0; n <= 300; n++) {
            float exact = 0;
            for (size_t i = 0; i < n; i++) x[i] = (float)(i % 7 + 1), exact += x[i];
            x[n] = NAN; /* past the end: never read */
            for (size_t passes = 0; passes <= 3; passes++)
                ck_assert_msg(kr->read_probe(n, x, passes) == (float)passes * exact,
                              "%s: read_probe n = %zu, %zu passes", nn_isa_name(isas[s]), n, passes);
        }
    }
    float sum = -1;
    ck_assert_int_eq(nn_read_probe(3, x, 2, &sum), NN_OK);
    ck_assert(sum == 2.0f * (1 + 2 + 3));
    ck_assert_int_eq(nn_read_probe(0, NULL, 5, &sum), NN_OK);
    ck_assert(sum == 0.0f);
    ck_assert_int_eq(nn_read_probe(3, NULL, 1, &sum), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_read_probe(3, x, 1, NULL), NN_ERR_INVALID_ARGUMENT);
}
END_TEST

START_TEST(public_activate_and_errors)
{
    float z[6] = {-1, 0, 1, 2, 3, 4}, a[8];
    ck_assert_int_eq(nn_activate(NN_RELU, 2, 3, z, 2, a, 2), NN_OK);
    ck_assert(a[0] == 0 && a[2] == 1 && a[5] == 4);
    ck_assert_int_eq(nn_activate(NN_SOFTMAX, 2, 3, z, 2, a, 2), NN_OK);
    ck_assert_float_eq_tol(a[0] + a[1], 1.0f, 1e-6f);
    ck_assert_int_eq(nn_activate(NN_RELU, 2, 3, z, 1, a, 2), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_activate(NN_RELU, 2, 3, NULL, 2, a, 2), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_activate((nn_activation)99, 2, 3, z, 2, a, 2), NN_ERR_INVALID_ARGUMENT);
    /* empty work: nothing read or written, NULL allowed */
    ck_assert_int_eq(nn_activate(NN_RELU, 0, 3, NULL, 0, NULL, 0), NN_OK);
    ck_assert_int_eq(nn_activate(NN_RELU, 2, 0, NULL, 2, NULL, 2), NN_OK);
    ck_assert_int_eq(nn_activation_derivative(NN_TANH, 0, 0, NULL, 0, NULL, 0), NN_OK);
    ck_assert_int_eq(nn_activation_derivative(NN_SOFTMAX, 0, 0, NULL, 0, NULL, 0), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_activate((nn_activation)99, 0, 0, NULL, 0, NULL, 0), NN_ERR_INVALID_ARGUMENT);
    float sum = -1.0f, rows[2] = {-1.0f, -1.0f};
    ck_assert_int_eq(nn_sum_squared_difference(0, NULL, NULL, &sum), NN_OK);
    ck_assert_float_eq(sum, 0.0f);
    ck_assert_int_eq(nn_sum_squared_difference(0, NULL, NULL, NULL), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_row_sums(2, 0, NULL, 2, rows), NN_OK);
    ck_assert(rows[0] == 0.0f && rows[1] == 0.0f);
    ck_assert_int_eq(nn_row_sums(0, 5, NULL, 0, NULL), NN_OK);
    nn_activation act;
    ck_assert_int_eq(nn_activation_from_name("leaky_relu", &act), NN_OK);
    ck_assert_int_eq(act, NN_LEAKY_RELU);
    ck_assert_int_eq(nn_activation_from_name("swish", &act), NN_ERR_INVALID_ARGUMENT);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {activations_against_libm, activations_every_length_and_in_place, derivatives, softmax_columns, softmax_ulps_by_spread, reductions_long_rows, all_finite_finds_every_position,
                                  read_probe_reads_everything_once_a_pass, public_activate_and_errors};
    return tu_main("activations", 300, tests, sizeof tests / sizeof *tests);
}
