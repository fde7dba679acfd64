/* Every GEMM micro-kernel of every ISA, called directly (not through the
 * driver, whose planner decides which kernel path a shape reaches), in the
 * manner of XNNPACK's GemmMicrokernelTester: all m <= MR, n <= NR, k in
 * {1, 2, KC-1, KC, KC+1}, A packed or read in place (with exactly m rows
 * where the kernel reads only those), B packed, by rows or by columns (in
 * place with exactly n columns where the kernel reads only those), alpha
 * in {1, -0.5}, beta 0 over a NaN-filled C and beta 1 (0.7 where C is
 * stored transposed); against a double-accumulating reference, with C's
 * padding rows and columns left untouched. The kernels that store C
 * transposed also bit for bit against their plain twin's tile followed by
 * gemm.c's transposed store. The transposing A packers against a plain
 * copy, the transposing tile stores against a plain loop, the short-K and
 * the few-row dot-product kernels against the reference.
 * The skinny kernels (ger: K = 1 outer products, gemv_t: one row times B)
 * over short and long sides, strided C, beta 0 over NaN and beta 0.5; the
 * whole-product kernels against the reference and the tiles one by one; the
 * tiles that pack B as they read it against the main tile and a copy. */
#include <float.h>
#include <stdio.h>

#include "internal.h"
#include "testutil.h"

typedef struct ukernel {
    const char *name;
    nn_gemm_ukernel_fn fn;
    size_t mr, nr, kc;
    nn_gemm_ukernel_fn plain; /* for a transposing kernel, its plain twin, else NULL */
} ukernel;

/* the table's kernels: the main tile and the short one where it has one,
 * and their transposing twins where it has those */
static int kernels_of(const nn_kernels *kr, ukernel *out)
{
    int n = 0;
    out[n++] = (ukernel){"main", kr->gemm_ukernel, kr->mr, kr->nr, kr->kc, NULL};
    if (kr->gemm_ukernel_short)
        out[n++] = (ukernel){"short", kr->gemm_ukernel_short, kr->mr_short, kr->nr, kr->kc, NULL};
    if (kr->gemm_ukernel_t)
        out[n++] = (ukernel){"main_t", kr->gemm_ukernel_t, kr->mr, kr->nr, kr->kc, kr->gemm_ukernel};
    if (kr->gemm_ukernel_short_t)
        out[n++] = (ukernel){"short_t", kr->gemm_ukernel_short_t, kr->mr_short, kr->nr, kr->kc, kr->gemm_ukernel_short};
    return n;
}

/* C (ldc rows, n + 1 columns, column-major) from or to its transposed
 * layout t (row-major: ldc rows of ldt >= n + 1 floats) */
static void transpose_c(size_t ldc, size_t n, const float *from, size_t ld_from, int from_rows, float *to, size_t ld_to)
{
    for (size_t i = 0; i < ldc; i++)
        for (size_t j = 0; j <= n; j++) {
            if (from_rows) to[i + j * ld_to] = from[i * ld_from + j];
            else to[i * ld_to + j] = from[i + j * ld_from];
        }
}

enum { B_PACKED, B_ROWS, B_COLUMNS };

/* C (ld ldc, m x n, and one column past it) after C = alpha·A·B + beta·C0
 * with A(i, p) = a[i·a_is + p·a_ps] and B(p, j) = b[p·b_ps + j·b_js]:
 * within K+2 roundings of the reference, and untouched outside m x n.
 * Returns 0 on pass, else prints what and where. */
static int compare_tile(const char *what, size_t m, size_t n, size_t k, const float *a, size_t a_is, size_t a_ps,
                        const float *b, size_t b_ps, size_t b_js, float alpha, float beta, const float *c,
                        const float *c0, size_t ldc)
{
    for (size_t j = 0; j <= n; j++)
        for (size_t i = 0; i < ldc; i++) {
            const float got = c[i + j * ldc];
            if (i >= m || j >= n) {
                if (memcmp(&got, &c0[i + j * ldc], sizeof got) != 0) {
                    fprintf(stderr, "%s: wrote (%zu,%zu) outside %zux%zu\n", what, i, j, m, n);
                    return 1;
                }
                continue;
            }
            double ref = 0, mag = 0;
            for (size_t p = 0; p < k; p++) {
                const double t = (double)a[i * a_is + p * a_ps] * b[p * b_ps + j * b_js];
                ref += t, mag += fabs(t);
            }
            const double old = beta == 0.0f ? 0.0 : c0[i + j * ldc];
            ref = alpha * ref + beta * old;
            const double tol = (double)(k + 2) * FLT_EPSILON * (fabs(alpha) * mag + fabs(beta * old)) + 1e-30;
            if (!(fabs(got - ref) <= tol)) {
                fprintf(stderr, "%s %zux%zu k=%zu alpha=%g beta=%g (%zu,%zu): %g vs %g\n", what, m, n, k,
                        (double)alpha, (double)beta, i, j, (double)got, ref);
                return 1;
            }
        }
    return 0;
}

/* One call: returns 0 on pass. */
static int check_call(const char *isa, const ukernel *uk, size_t m, size_t n, size_t k, int a_in_place, int b_form,
                      int b_exact, float alpha, float beta, uint64_t seed)
{
    const size_t mr = uk->mr, nr = uk->nr;
    /* in place: a column-major A with lda > MR; 2: exactly m rows (lda = m, nothing
     * allocated past the last column's m-th row: only for a_rows_masked kernels,
     * whose reads past m the sanitizer builds would catch). b_exact: B in
     * place with exactly n columns (b_cols_even kernels, even n), likewise. */
    const size_t lda = a_in_place == 2 ? m : a_in_place ? mr + 5 : mr;
    const size_t ldb = b_form == B_ROWS ? (b_exact ? n : nr + 3) : k + 3, ldc = m + 2;
    float *a = tu_random(lda * k, seed, -1, 1);
    float *b = tu_random(b_form == B_PACKED ? nr * k : b_form == B_ROWS ? ldb * k : ldb * (b_exact ? n : nr),
                         seed + 1, -1, 1);
    float *c = tu_random(ldc * (n + 1), seed + 2, -1, 1), *c0 = malloc(ldc * (n + 1) * sizeof *c0);
    if (beta == 0.0f)
        for (size_t i = 0; i < ldc * (n + 1); i++) c[i] = i % ldc < m && i / ldc < n ? NAN : c[i];
    memcpy(c0, c, ldc * (n + 1) * sizeof *c);
    const size_t a_ks = lda, b_ks = b_form == B_PACKED ? nr : b_form == B_ROWS ? ldb : 1;
    const size_t b_js = b_form == B_COLUMNS ? ldb : 1;
    int differs = 0;
    if (uk->plain) { /* the same C, stored row-major for the call */
        const size_t ldt = n + 3;
        float *t = malloc(ldc * ldt * sizeof *t), tile[32 * 32];
        transpose_c(ldc, n, c, ldc, 0, t, ldt);
        uk->fn(m, n, k, a, a_ks, b, b_ks, b_js, t, ldt, alpha, beta);
        transpose_c(ldc, n, t, ldt, 1, c, ldc);
        free(t);
        /* bit for bit the plain tile (beta 0), then + beta·C as gemm.c's store_transposed */
        uk->plain(m, n, k, a, a_ks, b, b_ks, b_js, tile, m, alpha, 0.0f);
        for (size_t j = 0; j < n; j++)
            for (size_t i = 0; i < m; i++) {
                const float want = beta == 0.0f ? tile[i + j * m] : tile[i + j * m] + beta * c0[i + j * ldc];
                differs |= memcmp(&want, &c[i + j * ldc], sizeof want) != 0;
            }
    } else {
        uk->fn(m, n, k, a, a_ks, b, b_ks, b_js, c, ldc, alpha, beta);
    }
    char what[96];
    snprintf(what, sizeof what, "%s %s a_in_place=%d b_form=%d", isa, uk->name, a_in_place, b_form);
    const int bad = compare_tile(what, m, n, k, a, 1, a_ks, b, b_ks, b_js, alpha, beta, c, c0, ldc) || differs;
    if (differs) fprintf(stderr, "%s %zux%zu k=%zu: not the plain tile's bits\n", what, m, n, k);
    free(a), free(b), free(c), free(c0);
    return bad;
}

START_TEST(every_microkernel_every_edge)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    for (int s = 0; s < n_isa; s++) {
        const nn_kernels *kr = nn_kernels_for(isas[s]);
        ukernel uks[4];
        const int n_uk = kernels_of(kr, uks);
        for (int u = 0; u < n_uk; u++) {
            const ukernel *uk = &uks[u];
            const size_t ks[] = {1, 2, uk->kc - 1, uk->kc, uk->kc + 1};
            uint64_t seed = 1;
            int failures = 0;
            for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
                for (size_t m = 1; m <= uk->mr; m++)
                    for (size_t n = 1; n <= uk->nr; n++) {
                        /* every edge at the short k's; at the long ones the full tile and a few edges */
                        if (ks[ki] > 2 && !(m == uk->mr || m == 1 || m == uk->mr - 1) ) continue;
                        for (int a_in_place = 0; a_in_place < 2 + kr->a_rows_masked; a_in_place++)
                            for (int b_form = 0; b_form < 3; b_form++) {
                                if (kr->pack_b_columns && b_form == B_COLUMNS) continue; /* never asked of it */
                                /* beta 0.7 for the transposing kernels: beta·C is then rounded, so
                                 * a fused multiply-add would not give the plain twin's bits */
                                const float alpha = (m + n) % 2 ? 1.0f : -0.5f;
                                const float beta = (m * n + ki) % 2 ? (uk->plain ? 0.7f : 1.0f) : 0.0f;
                                const int b_exact = kr->b_cols_even && n % 2 == 0 && b_form != B_PACKED;
                                failures += check_call(nn_isa_name(isas[s]), uk, m, n, ks[ki], a_in_place, b_form,
                                                       b_exact, alpha, beta, seed++);
                                if (failures > 5) break;
                            }
                    }
            ck_assert_msg(failures == 0, "%s %s micro-kernel (%zux%zu): %d failing calls", nn_isa_name(isas[s]),
                          uk->name, uk->mr, uk->nr, failures);
        }
    }
}
END_TEST

/* The transposing A packer: rows of op(A) = Aᵀ (contiguous in memory) into
 * an MR-row panel, zero-padded, equal to a plain copy, for every m <= MR. */
START_TEST(transposing_packers)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    for (int s = 0; s < n_isa; s++) {
        const nn_kernels *kr = nn_kernels_for(isas[s]);
        if (!kr->pack_a_transposed) continue;
        const size_t mrs[] = {kr->mr, kr->mr_short ? kr->mr_short : kr->mr};
        for (int w = 0; w < 2; w++) {
            const size_t mr = mrs[w];
            for (size_t m = 1; m <= mr; m++)
                for (size_t kc = 1; kc <= 40; kc += 13) {
                    const size_t ld = kc + 7;
                    float *x = tu_random(ld * m, m * kc, -1, 1), *dst = malloc(mr * kc * sizeof *dst);
                    for (size_t i = 0; i < mr * kc; i++) dst[i] = NAN;
                    kr->pack_a_transposed(mr, m, kc, x, ld, dst);
                    for (size_t p = 0; p < kc; p++)
                        for (size_t i = 0; i < mr; i++) {
                            const float want = i < m ? x[i * ld + p] : 0.0f;
                            ck_assert_msg(memcmp(&dst[p * mr + i], &want, sizeof want) == 0,
                                          "%s pack mr=%zu m=%zu kc=%zu (%zu,%zu)", nn_isa_name(isas[s]), mr, m, kc, i, p);
                        }
                    free(x), free(dst);
                }
        }
    }
}
END_TEST

/* The transposing store of a tile of Cᵀ: bitwise the portable definition
 * (T(i, j), or T(i, j) + beta·C(i, j) as a product then a sum), for every
 * m <= 32 and n <= 16 (full 8 x 8 blocks, pairs of columns, single ones),
 * with C's padding columns left untouched. */
START_TEST(transposing_stores)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    for (int s = 0; s < n_isa; s++) {
        const nn_kernels *kr = nn_kernels_for(isas[s]);
        if (!kr->store_transposed) continue;
        for (size_t m = 1; m <= 32; m++)
            for (size_t n = 1; n <= 16; n++)
                for (int with_beta = 0; with_beta < 2; with_beta++) {
                    const size_t ld = 32 + 3, ldc = n + 3;
                    const float beta = with_beta ? 0.5f : 0.0f;
                    float *tile = tu_random(ld * n, m * 17 + n, -1, 1), *c = tu_random(ldc * m, m + n, -1, 1);
                    float *c0 = malloc(ldc * m * sizeof *c0);
                    if (!with_beta)
                        for (size_t i = 0; i < ldc * m; i++) c[i] = i % ldc < n ? NAN : c[i];
                    memcpy(c0, c, ldc * m * sizeof *c);
                    kr->store_transposed(m, n, tile, ld, beta, c, ldc);
                    for (size_t i = 0; i < m; i++)
                        for (size_t j = 0; j < ldc; j++) {
                            const float t = j < n ? tile[i + j * ld] : 0.0f;
                            const float want = j >= n ? c0[i * ldc + j] : with_beta ? t + beta * c0[i * ldc + j] : t;
                            ck_assert_msg(memcmp(&c[i * ldc + j], &want, sizeof want) == 0,
                                          "%s store_transposed m=%zu n=%zu beta=%g (%zu,%zu)", nn_isa_name(isas[s]), m,
                                          n, (double)beta, i, j);
                        }
                    free(tile), free(c), free(c0);
                }
    }
}
END_TEST

/* The short-K kernel (and its plain product with A by rows, which must
 * give the same bits): every m <= small_k_rows and k <= small_k_max, a few
 * column counts, A with exactly m rows a column, B by rows or by columns
 * with exactly n columns or k rows (nothing past them allocated, so a read
 * past them fails under ASan), alpha 1 and -0.5, beta 0 over NaN and beta
 * 1, every combination (B by columns, alpha 1, beta 0 is a path of its own). */
START_TEST(small_k_kernels)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    for (int s = 0; s < n_isa; s++) {
        const nn_kernels *kr = nn_kernels_for(isas[s]);
        if (!kr->gemm_small_k) continue;
        ck_assert(kr->small_k_rows * kr->small_k_max <= 32 * 32); /* gemm.c's stack panel */
        int failures = 0;
        uint64_t seed = 7;
        for (size_t m = 1; m <= kr->small_k_rows; m++)
            for (size_t k = 1; k <= kr->small_k_max; k++)
                for (size_t n = 1; n <= 9; n += 4)
                    for (int form = 0; form < 8; form++) { /* B by columns or rows, alpha 1 or not, beta 0 or 1 */
                        const int by_rows = form & 1;
                        const float alpha = form & 2 ? -0.5f : 1.0f, beta = form & 4 ? 1.0f : 0.0f;
                        const size_t ldc = m + 2, b_ks = by_rows ? n : 1, b_js = by_rows ? 1 : k;
                        float *a = tu_random(m * k, seed, -1, 1), *b = tu_random(k * n, seed + 1, -1, 1);
                        float *c = tu_random(ldc * (n + 1), seed + 2, -1, 1), *c0 = malloc(ldc * (n + 1) * sizeof *c0);
                        if (beta == 0.0f)
                            for (size_t i = 0; i < ldc * (n + 1); i++) c[i] = i % ldc < m && i / ldc < n ? NAN : c[i];
                        memcpy(c0, c, ldc * (n + 1) * sizeof *c);
                        kr->gemm_small_k(m, n, k, a, m, b, b_ks, b_js, c, ldc, alpha, beta);
                        char what[64];
                        snprintf(what, sizeof what, "%s gemm_small_k by_rows=%d", nn_isa_name(isas[s]), by_rows);
                        failures += compare_tile(what, m, n, k, a, 1, m, b, b_ks, b_js, alpha, beta, c, c0, ldc);
                        if (kr->gemm_small_k_at && b_ks == 1 && alpha == 1.0f && beta == 0.0f) {
                            /* A by rows, exactly m·k floats: gemm_small_k's bits */
                            float *at = malloc(m * k * sizeof *at), *c2 = malloc(ldc * (n + 1) * sizeof *c2);
                            for (size_t i = 0; i < m; i++)
                                for (size_t p = 0; p < k; p++) at[i * k + p] = a[i + p * m];
                            memcpy(c2, c0, ldc * (n + 1) * sizeof *c2);
                            kr->gemm_small_k_at(m, n, k, at, k, b, b_ks, b_js, c2, ldc, alpha, beta);
                            if (memcmp(c, c2, ldc * (n + 1) * sizeof *c) != 0) {
                                fprintf(stderr, "%s gemm_small_k_at %zux%zu k=%zu: not gemm_small_k's bits\n",
                                        nn_isa_name(isas[s]), m, n, k);
                                failures++;
                            }
                            free(at), free(c2);
                        }
                        free(a), free(b), free(c), free(c0);
                        seed += 3;
                    }
        ck_assert_msg(failures == 0, "%s gemm_small_k: %d failing calls", nn_isa_name(isas[s]), failures);
    }
}
END_TEST

/* The few-row dot-product kernel: every m <= NN_DOT_MAX_ROWS, n up to two
 * tiles and a part, K around the vector widths and long, strided operands
 * (op(A)'s rows exactly k long where the stride allows), beta 0 over NaN
 * and beta 0.5, against a double-accumulating reference; C's padding rows
 * and its column past n untouched. */
static int check_dot(const char *isa, const nn_kernels *kr, size_t m, size_t n, size_t k, float alpha, float beta,
                     uint64_t seed)
{
    const size_t ldat = k + (m % 2) * 3, ldb = k + 5, ldc = m + 2;
    float *at = tu_random(ldat * (m - 1) + k, seed, -1, 1), *b = tu_random(ldb * (n - 1) + k, seed + 1, -1, 1);
    float *c = tu_random(ldc * (n + 1), seed + 2, -1, 1), *c0 = malloc(ldc * (n + 1) * sizeof *c0);
    if (beta == 0.0f)
        for (size_t i = 0; i < ldc * (n + 1); i++) c[i] = i % ldc < m && i / ldc < n ? NAN : c[i];
    memcpy(c0, c, ldc * (n + 1) * sizeof *c);
    kr->gemm_dot(m, n, k, at, ldat, b, ldb, alpha, beta, c, ldc);
    char what[64];
    snprintf(what, sizeof what, "%s gemm_dot", isa);
    const int bad = compare_tile(what, m, n, k, at, ldat, 1, b, 1, ldb, alpha, beta, c, c0, ldc);
    free(at), free(b), free(c), free(c0);
    return bad;
}

START_TEST(dot_kernels)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    const size_t ks[] = {1, 7, 15, 16, 17, 33, 256, 259};
    for (int s = 0; s < n_isa; s++) {
        const nn_kernels *kr = nn_kernels_for(isas[s]);
        if (!kr->gemm_dot) continue;
        ck_assert(kr->gemm_dot_cols > 0);
        int failures = 0;
        uint64_t seed = 1;
        for (size_t m = 1; m <= NN_DOT_MAX_ROWS; m++)
            for (size_t n = 1; n <= 2 * kr->gemm_dot_cols + 1; n++)
                for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
                    const float alpha = (m + n) % 2 ? 1.0f : -0.5f, beta = (m + n + ki) % 2 ? 0.5f : 0.0f;
                    failures += check_dot(nn_isa_name(isas[s]), kr, m, n, ks[ki], alpha, beta, seed);
                    seed += 3;
                }
        ck_assert_msg(failures == 0, "%s gemm_dot: %d failing calls", nn_isa_name(isas[s]), failures);
    }
}
END_TEST

/* |got − ref| within k+2 roundings of the terms' magnitude */
static int close_to(float got, double ref, double mag, size_t k)
{
    return fabs(got - ref) <= (double)(k + 2) * FLT_EPSILON * mag + 1e-30;
}

START_TEST(skinny_kernels)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    const size_t sides[] = {1, 2, 3, 4, 7, 8, 15, 16, 17, 20, 31, 32, 33, 40, 64, 70};
    const size_t ns = sizeof sides / sizeof *sides;
    const float betas[] = {0.0f, 0.5f};
    for (int s = 0; s < n_isa; s++) {
        const nn_kernels *kr = nn_kernels_for(isas[s]);
        const char *isa = nn_isa_name(isas[s]);
        for (size_t x = 0; x < ns; x++)
            for (size_t y = 0; y < ns; y++)
                for (int bi = 0; bi < 2; bi++)
                    for (size_t inc = 1; inc <= 3; inc += 2) {
                        const size_t k = sides[x], n = sides[y], len = n * inc + 1;
                        const float alpha = -1.5f, beta = betas[bi];
                        const uint64_t seed = 1000 * x + 10 * y + (uint64_t)(bi + inc);
                        /* gemv_t: c[j·inc] = alpha·a·B[:, j] + beta·c[j·inc], B k x n with ldb k + 1 */
                        float *a = tu_random(k, seed, -1, 1), *b = tu_random((k + 1) * n, seed + 1, -1, 1);
                        float *c = tu_random(len, seed + 2, -1, 1), *c0 = malloc(len * sizeof *c0);
                        for (size_t i = 0; beta == 0.0f && i < len; i += inc) c[i] = i < n * inc ? NAN : c[i];
                        memcpy(c0, c, len * sizeof *c);
                        kr->gemv_t(k, n, alpha, a, b, k + 1, beta, c, inc);
                        for (size_t i = 0; i < len; i++) {
                            if (i % inc || i >= n * inc) {
                                ck_assert_msg(memcmp(&c[i], &c0[i], sizeof *c) == 0, "%s gemv_t k=%zu n=%zu: "
                                              "wrote %zu", isa, k, n, i);
                                continue;
                            }
                            const size_t j = i / inc;
                            double ref = 0, mag = 0;
                            for (size_t p = 0; p < k; p++)
                                ref += (double)a[p] * b[p + j * (k + 1)], mag += fabs((double)a[p] * b[p + j * (k + 1)]);
                            const double old = beta == 0.0f ? 0.0 : c0[i];
                            ck_assert_msg(close_to(c[i], alpha * ref + beta * old, 1.5 * mag + fabs(beta * old), k),
                                          "%s gemv_t k=%zu n=%zu inc=%zu beta=%g col %zu: %g vs %g", isa, k, n, inc,
                                          (double)beta, j, (double)c[i], alpha * ref + beta * old);
                        }
                        free(a), free(b), free(c), free(c0);
                        /* ger: C[:, j] = (alpha·b[j·inc])·a + beta·C[:, j], m = k rows, ldc m + 2 */
                        const size_t m = k, ldc = m + 2;
                        a = tu_random(m, seed + 3, -1, 1), b = tu_random(len, seed + 4, -1, 1);
                        c = tu_random(ldc * n, seed + 5, -1, 1), c0 = malloc(ldc * n * sizeof *c0);
                        for (size_t i = 0; beta == 0.0f && i < ldc * n; i++) c[i] = i % ldc < m ? NAN : c[i];
                        memcpy(c0, c, ldc * n * sizeof *c);
                        kr->ger(m, n, alpha, a, b, inc, beta, c, ldc);
                        for (size_t j = 0; j < n; j++)
                            for (size_t i = 0; i < ldc; i++) {
                                const float got = c[i + j * ldc];
                                if (i >= m) {
                                    ck_assert_msg(memcmp(&got, &c0[i + j * ldc], sizeof got) == 0,
                                                  "%s ger m=%zu n=%zu: wrote padding", isa, m, n);
                                    continue;
                                }
                                const double old = beta == 0.0f ? 0.0 : c0[i + j * ldc];
                                const double ref = (double)alpha * b[j * inc] * a[i] + beta * old;
                                ck_assert_msg(close_to(got, ref, fabs(ref) + fabs(beta * old) + 1e-30, 1),
                                              "%s ger m=%zu n=%zu inc=%zu beta=%g (%zu,%zu): %g vs %g", isa, m, n,
                                              inc, (double)beta, i, j, (double)got, ref);
                            }
                        free(a), free(b), free(c), free(c0);
                    }
    }
}
END_TEST

/* ger with C one contiguous run (ldc = m), which AVX-512 writes as aligned
 * vectors of the run rather than by columns: every row count to 40, C at
 * several alignment classes; each element bitwise (alpha·b[j])·a[i]
 * (+ beta·c, fused where the ISA has FMA), the rounding of the column by
 * column loop (so a split of the columns cannot change a bit), and nothing
 * written before or after the run. */
START_TEST(ger_contiguous_runs)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    const size_t widths[] = {1, 3, 17, 100, 257, 700, 2500}, offsets[] = {0, 1, 5, 15};
    const float alpha = -1.5f;
    for (int s = 0; s < n_isa; s++) {
        const nn_kernels *kr = nn_kernels_for(isas[s]);
        for (size_t m = 1; m <= 40; m++)
            for (size_t w = 0; w < sizeof widths / sizeof *widths; w++)
                for (size_t o = 0; o < sizeof offsets / sizeof *offsets; o++)
                    for (int bi = 0; bi < 2; bi++) {
                        const size_t n = widths[w], off = offsets[o], len = off + m * n + 16;
                        if (n == 2500 && m % 9 != 2) continue; /* a few runs of 20 to 380 KB */
                        const float beta = bi ? 0.5f : 0.0f;
                        const uint64_t seed = 7 * m + 11 * n + off + (uint64_t)bi;
                        float *a = tu_random(m, seed, -1, 1), *b = tu_random(n, seed + 1, -1, 1);
                        float *buf = aligned_alloc(64, (len + 15) / 16 * 64), *c0 = malloc(len * sizeof *c0);
                        ck_assert_ptr_nonnull(buf);
                        float *fill = tu_random(len, seed + 2, -1, 1);
                        memcpy(buf, fill, len * sizeof *buf);
                        for (size_t e = 0; beta == 0.0f && e < m * n; e++) buf[off + e] = NAN;
                        memcpy(c0, buf, len * sizeof *c0);
                        kr->ger(m, n, alpha, a, b, 1, beta, buf + off, m);
                        size_t bad = len; /* the first wrong element (one ck_assert a call: each costs a write) */
                        for (size_t e = 0; e < len && bad == len; e++) {
                            if (e < off || e >= off + m * n) {
                                if (memcmp(&buf[e], &c0[e], sizeof *buf) != 0) bad = e;
                                continue;
                            }
                            const size_t i = (e - off) % m, j = (e - off) / m;
                            const float f = alpha * b[j];
                            volatile float product = f * a[i], scaled = beta * c0[e]; /* unfused for scalar */
                            const float want = beta == 0.0f ? product
                                               : isas[s] == NN_ISA_SCALAR ? product + scaled
                                                                          : fmaf(f, a[i], scaled);
                            if (memcmp(&buf[e], &want, sizeof want) != 0) bad = e;
                        }
                        ck_assert_msg(bad == len, "%s ger m=%zu n=%zu off=%zu beta=%g: element %zu (%s the run) %a",
                                      nn_isa_name(isas[s]), m, n, off, (double)beta, bad,
                                      bad < off || bad >= off + m * n ? "outside" : "in", (double)buf[bad]);
                        free(a), free(b), free(buf), free(c0), free(fill);
                    }
    }
}
END_TEST

/* The whole-product kernels (kernels.h gemm_whole) over products of
 * several tiles whose last row tile is partial and whose last column panel
 * has an even width, A and B in place with exactly m rows and n columns, B
 * by columns and by rows, k in {1, KC-1, KC}, beta 0 over NaN and beta 1:
 * against the reference, nothing written past C's m x n, and bit for bit
 * the main tile called once per tile (the driver's path for the same
 * product on more threads). */
START_TEST(whole_product_kernels)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    for (int s = 0; s < n_isa; s++) {
        const nn_kernels *kr = nn_kernels_for(isas[s]);
        if (!kr->gemm_whole) continue;
        const size_t mr = kr->mr, nr = kr->nr;
        const size_t ms[] = {kr->mr_short + 1, mr, mr + 1, 2 * mr, 3 * mr - 5};
        const size_t ns[] = {2, nr, nr + 2, 3 * nr, 5 * nr + 4}, ks[] = {1, kr->kc - 1, kr->kc};
        int failures = 0;
        uint64_t seed = 7;
        for (size_t mi = 0; mi < 5; mi++)
            for (size_t ni = 0; ni < 5; ni++)
                for (size_t ki = 0; ki < 3; ki++)
                    for (int b_form = B_ROWS; b_form <= B_COLUMNS; b_form++, seed += 4) {
                        const size_t m = ms[mi], n = ns[ni], k = ks[ki], ldc = m + 2;
                        const size_t ldb = b_form == B_ROWS ? n : k, b_ks = b_form == B_ROWS ? ldb : 1;
                        const size_t b_js = b_form == B_ROWS ? 1 : ldb;
                        const float alpha = (mi + ni) % 2 ? 1.0f : -0.5f, beta = (ki + ni) % 2 ? 1.0f : 0.0f;
                        float *a = tu_random(m * k, seed, -1, 1), *b = tu_random(ldb * (b_form == B_ROWS ? k : n), seed + 1, -1, 1);
                        float *c = tu_random(ldc * (n + 1), seed + 2, -1, 1), *c0 = malloc(ldc * (n + 1) * sizeof *c0);
                        float *tiles = malloc(ldc * (n + 1) * sizeof *tiles);
                        for (size_t e = 0; beta == 0.0f && e < ldc * (n + 1); e++)
                            if (e % ldc < m && e / ldc < n) c[e] = NAN;
                        memcpy(c0, c, ldc * (n + 1) * sizeof *c);
                        memcpy(tiles, c, ldc * (n + 1) * sizeof *c);
                        kr->gemm_whole(m, n, k, a, m, b, b_ks, b_js, c, ldc, alpha, beta);
                        for (size_t j = 0; j < n; j += nr)
                            for (size_t i = 0; i < m; i += mr)
                                kr->gemm_ukernel(m - i < mr ? m - i : mr, n - j < nr ? n - j : nr, k, a + i, m,
                                                 b + j * b_js, b_ks, b_js, tiles + i + j * ldc, ldc, alpha, beta);
                        char what[64];
                        snprintf(what, sizeof what, "%s whole b_form=%d", nn_isa_name(isas[s]), b_form);
                        const int differs = memcmp(c, tiles, ldc * (n + 1) * sizeof *c) != 0;
                        if (differs) fprintf(stderr, "%s %zux%zu k=%zu: not the tiles' bits\n", what, m, n, k);
                        failures += compare_tile(what, m, n, k, a, 1, m, b, b_ks, b_js, alpha, beta, c, c0, ldc) || differs;
                        free(a), free(b), free(c), free(c0), free(tiles);
                    }
        ck_assert_msg(failures == 0, "%s: %d whole-product calls failed", nn_isa_name(isas[s]), failures);
    }
}
END_TEST

/* The packing tiles (kernels.h gemm_ukernel_pack_b): a full-width tile
 * reading B by rows in place, for every m <= MR, k in {1, 2, KC-1, KC,
 * KC+1}, A packed, in place and with exactly m rows, B with exactly its
 * rows' NR floats or wider rows, beta 0 over NaN and beta 1: C bit for bit
 * the main tile's, and the panel written exactly as a plain copy of B's
 * rows, nothing past it. */
START_TEST(packing_tiles)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    for (int s = 0; s < n_isa; s++) {
        const nn_kernels *kr = nn_kernels_for(isas[s]);
        if (!kr->gemm_ukernel_pack_b) continue;
        const size_t mr = kr->mr, nr = kr->nr, ks[] = {1, 2, kr->kc - 1, kr->kc, kr->kc + 1};
        int failures = 0;
        uint64_t seed = 11;
        for (size_t ki = 0; ki < 5; ki++)
            for (size_t m = 1; m <= mr; m++)
                for (int a_in_place = 0; a_in_place < 2 + kr->a_rows_masked; a_in_place++, seed += 4) {
                    const size_t k = ks[ki], lda = a_in_place == 2 ? m : a_in_place ? mr + 5 : mr;
                    const size_t ldb = seed % 8 < 4 ? nr : nr + 7, ldc = m + 2;
                    const float alpha = m % 2 ? 1.0f : -0.5f, beta = (m + ki) % 2 ? 1.0f : 0.0f;
                    float *a = tu_random(lda * k, seed, -1, 1), *b = tu_random(ldb * k, seed + 1, -1, 1);
                    float *c = tu_random(ldc * (nr + 1), seed + 2, -1, 1), *want = malloc(ldc * (nr + 1) * sizeof *want);
                    float *panel = malloc((nr * k + 16) * sizeof *panel);
                    for (size_t e = 0; beta == 0.0f && e < ldc * (nr + 1); e++)
                        if (e % ldc < m && e / ldc < nr) c[e] = NAN;
                    for (size_t e = 0; e < nr * k + 16; e++) panel[e] = -7.0f;
                    memcpy(want, c, ldc * (nr + 1) * sizeof *c);
                    kr->gemm_ukernel(m, nr, k, a, lda, b, ldb, 1, want, ldc, alpha, beta);
                    kr->gemm_ukernel_pack_b(m, nr, k, a, lda, b, ldb, 1, c, ldc, alpha, beta, panel);
                    int bad = memcmp(c, want, ldc * (nr + 1) * sizeof *c) != 0;
                    if (bad) fprintf(stderr, "%s pack_b m=%zu k=%zu lda=%zu: not the tile's bits\n", nn_isa_name(isas[s]), m, k, lda);
                    for (size_t e = 0; e < nr * k + 16; e++) {
                        const float copy = e < nr * k ? b[e / nr * ldb + e % nr] : -7.0f;
                        if (memcmp(&copy, &panel[e], sizeof copy) != 0) {
                            fprintf(stderr, "%s pack_b m=%zu k=%zu: panel[%zu] %g, want %g\n", nn_isa_name(isas[s]), m, k, e,
                                    (double)panel[e], (double)copy);
                            bad = 1;
                            break;
                        }
                    }
                    failures += bad;
                    free(a), free(b), free(c), free(want), free(panel);
                }
        ck_assert_msg(failures == 0, "%s: %d packing-tile calls failed", nn_isa_name(isas[s]), failures);
    }
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {every_microkernel_every_edge, transposing_packers, transposing_stores, small_k_kernels, dot_kernels, skinny_kernels, ger_contiguous_runs, whole_product_kernels, packing_tiles};
    return tu_main("ukernels", 600, tests, sizeof tests / sizeof *tests);
}
