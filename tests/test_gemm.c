/* GEMM: the naive reference against hand-computed products, then every ISA's
 * blocked GEMM against the reference on many shapes, forms, alpha/beta and
 * leading dimensions; thread-count determinism; argument errors. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

/* A = [1 2 3; 4 5 6] (2x3), B = [7 8; 9 10; 11 12] (3x2): A·B = [58 64; 139 154] */
static const float A23[] = {1, 4, 2, 5, 3, 6};
static const float B32[] = {7, 9, 11, 8, 10, 12};

START_TEST(naive_hand_computed)
{
    float c[4] = {1, 1, 1, 1};
    ck_assert_int_eq(nn_sgemm_naive(NN_NO_TRANS, NN_NO_TRANS, 2, 2, 3, 2.0f, A23, 2, B32, 3, 0.5f, c, 2), NN_OK);
    ck_assert_float_eq(c[0], 116.5f);
    ck_assert_float_eq(c[1], 278.5f);
    ck_assert_float_eq(c[2], 128.5f);
    ck_assert_float_eq(c[3], 308.5f);

    /* Aᵀ stored as 3x2 (= A23 read as row-major), Bᵀ stored as 2x3 */
    const float at[] = {1, 2, 3, 4, 5, 6}, bt[] = {7, 8, 9, 10, 11, 12};
    float d[4] = {NAN, NAN, NAN, NAN}; /* beta = 0 must not read C */
    ck_assert_int_eq(nn_sgemm_naive(NN_TRANS, NN_TRANS, 2, 2, 3, 1.0f, at, 3, bt, 2, 0.0f, d, 2), NN_OK);
    ck_assert_float_eq(d[0], 58.0f);
    ck_assert_float_eq(d[1], 139.0f);
    ck_assert_float_eq(d[2], 64.0f);
    ck_assert_float_eq(d[3], 154.0f);

    /* outer product: k = 1, and ldc > m */
    const float u[] = {1, 2}, v[] = {3, 4, 5};
    float e[9];
    for (int i = 0; i < 9; i++) e[i] = -1.0f;
    ck_assert_int_eq(nn_sgemm_naive(NN_NO_TRANS, NN_NO_TRANS, 2, 3, 1, 1.0f, u, 2, v, 1, 0.0f, e, 3), NN_OK);
    const float want[] = {3, 6, -1, 4, 8, -1, 5, 10, -1};
    for (int i = 0; i < 9; i++) ck_assert_float_eq(e[i], want[i]);
}
END_TEST

static const size_t dims[] = {1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 257};
static const float scalars[] = {0.0f, 1.0f, -0.5f};

/* Compare nn_sgemm (active ISA) with the reference; the bound scales with K:
 * |c − ref| <= (K + 2)·eps·(|alpha|·Σ|a||b| + |beta·c0|). Returns 0 on pass. */
static int check_one(nn_transpose ta, nn_transpose tb, size_t m, size_t n, size_t k, float alpha,
                     float beta, size_t pad, uint64_t seed)
{
    const size_t lda = (ta == NN_NO_TRANS ? m : k) + pad, ldb = (tb == NN_NO_TRANS ? k : n) + pad;
    const size_t ldc = m + pad;
    const size_t acols = ta == NN_NO_TRANS ? k : m, bcols = tb == NN_NO_TRANS ? n : k;
    float *a = tu_random(lda * acols, seed, -1, 1), *b = tu_random(ldb * bcols, seed + 1, -1, 1);
    float *c = tu_random(ldc * n, seed + 2, -1, 1), *ref = malloc(ldc * n * sizeof *ref);
    float *c0 = malloc(ldc * n * sizeof *c0);
    memcpy(ref, c, ldc * n * sizeof *c);
    memcpy(c0, c, ldc * n * sizeof *c);
    ck_assert_int_eq(nn_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc), NN_OK);
    ck_assert_int_eq(nn_sgemm_naive(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, ref, ldc), NN_OK);
    int bad = 0;
    for (size_t j = 0; j < n && !bad; j++) {
        for (size_t i = 0; i < ldc; i++) {
            const size_t at = i + j * ldc;
            if (i >= m) { /* padding rows are never written */
                if (memcmp(&c[at], &c0[at], sizeof(float)) != 0) bad = 1;
                continue;
            }
            double absdot = 0;
            for (size_t p = 0; p < k; p++) {
                const float av = ta == NN_NO_TRANS ? a[i + p * lda] : a[p + i * lda];
                const float bv = tb == NN_NO_TRANS ? b[p + j * ldb] : b[j + p * ldb];
                absdot += fabs((double)av * bv);
            }
            const double tol = (double)(k + 2) * FLT_EPSILON *
                                   (fabs(alpha) * absdot + fabs((double)beta * c0[at])) + 1e-30;
            if (fabs((double)c[at] - ref[at]) > tol) {
                fprintf(stderr, "%s %c%c m=%zu n=%zu k=%zu a=%g b=%g pad=%zu (%zu,%zu): %g vs %g\n",
                        nn_isa_name(nn_get_isa()), ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k,
                        (double)alpha, (double)beta, pad, i, j, (double)c[at], (double)ref[at]);
                bad = 1;
                break;
            }
        }
    }
    free(a), free(b), free(c), free(ref), free(c0);
    return bad;
}

START_TEST(every_isa_matches_reference)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    const size_t nd = sizeof dims / sizeof *dims;
    for (int s = 0; s < n_isa; s++) {
        ck_assert_int_eq(nn_set_isa(isas[s]), NN_OK);
        uint64_t rng = 1234 + (uint64_t)s;
        int failures = 0;
        /* the corners, then a sampled mix of the rest */
        for (int t = 0; t < 4 * 4 + 160; t++) {
            size_t m, n, k;
            if (t < 16) {
                m = (t & 1) ? 257 : 1, n = (t & 2) ? 257 : 1, k = (t & 4) ? 257 : 1;
            } else {
                m = dims[tu_next(&rng) % nd], n = dims[tu_next(&rng) % nd], k = dims[tu_next(&rng) % nd];
            }
            const nn_transpose ta = (nn_transpose)(t % 2), tb = (nn_transpose)((t / 2) % 2);
            const float alpha = t % 5 == 0 ? 0.0f : scalars[1 + t % 2];
            const float beta = scalars[(t / 3) % 3];
            failures += check_one(ta, tb, m, n, k, alpha, beta, t % 3 == 0 ? 0 : 5, (uint64_t)t);
        }
        ck_assert_msg(failures == 0, "%s: %d shapes out of bound", nn_isa_name(isas[s]), failures);
    }
}
END_TEST

/* The MLP shapes the library actually runs: 784-256-256-10 at batch 256. */
START_TEST(mlp_shapes_every_isa)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    const size_t shapes[][3] = {{256, 256, 784}, {256, 784, 256}, {10, 256, 256}, {256, 256, 10}};
    for (int s = 0; s < n_isa; s++) {
        ck_assert_int_eq(nn_set_isa(isas[s]), NN_OK);
        int failures = 0;
        for (int i = 0; i < 4; i++)
            for (int f = 0; f < 3; f++)
                failures += check_one((nn_transpose)(f == 2), (nn_transpose)(f == 1), shapes[i][0],
                                      shapes[i][1], shapes[i][2], 1.0f, 0.0f, 0, (uint64_t)(i * 3 + f));
        ck_assert_msg(failures == 0, "%s: MLP shapes out of bound", nn_isa_name(isas[s]));
    }
}
END_TEST

/* op(A) = A with lda > 512 is packed whole before the product (column by
 * column, each thread a range of K): with a partial last panel (600 rows),
 * with leading-dimension padding, over several K blocks. */
START_TEST(packed_a_every_isa)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    for (int s = 0; s < n_isa; s++) {
        ck_assert_int_eq(nn_set_isa(isas[s]), NN_OK);
        int failures = 0;
        for (int f = 0; f < 3; f++) {
            const nn_transpose ta = (nn_transpose)(f == 2), tb = (nn_transpose)(f == 1);
            failures += check_one(ta, tb, 600, 20, 900, 1.0f, 0.5f, 0, (uint64_t)(40 + f));
            failures += check_one(ta, tb, 37, 13, 900, -0.5f, 0.0f, 600, (uint64_t)(50 + f));
        }
        ck_assert_msg(failures == 0, "%s: packed-A products out of bound", nn_isa_name(isas[s]));
    }
}
END_TEST

/* Short K (the AVX-512 kernel's K <= 12) with C at every offset in a cache
 * line and ldc a whole number of lines, where the first row block is cut
 * short so that the rest store whole lines: the same bits at every offset,
 * within the reference's bound, rows past m untouched. */
START_TEST(short_k_any_alignment)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    const size_t m = 70, n = 33, k = 10, ldc = 80;
    float *a = tu_random(m * k, 61, -1, 1), *b = tu_random(k * n, 62, -1, 1);
    float *first = malloc(ldc * n * sizeof *first), *ref = calloc(ldc * n, sizeof *ref);
    float *buf = aligned_alloc(64, (ldc * n + 16) * sizeof *buf);
    ck_assert(first && ref && buf);
    for (int s = 0; s < n_isa; s++) {
        ck_assert_int_eq(nn_set_isa(isas[s]), NN_OK);
        for (int ta = 0; ta < 2; ta++) {
            const size_t lda = ta ? k : m;
            ck_assert_int_eq(nn_sgemm_naive((nn_transpose)ta, NN_NO_TRANS, m, n, k, 1.0f, a, lda, b, k, 0.0f, ref, ldc),
                             NN_OK);
            for (size_t off = 0; off < 16; off++) {
                float *c = buf + off;
                for (size_t i = 0; i < ldc * n; i++) c[i] = i % ldc < m ? NAN : -7.0f;
                ck_assert_int_eq(nn_sgemm((nn_transpose)ta, NN_NO_TRANS, m, n, k, 1.0f, a, lda, b, k, 0.0f, c, ldc),
                                 NN_OK);
                if (off == 0) memcpy(first, c, ldc * n * sizeof *c);
                ck_assert_msg(memcmp(first, c, ldc * n * sizeof *c) == 0, "%s %c: C at offset %zu differs",
                              nn_isa_name(isas[s]), ta ? 'T' : 'N', off);
                size_t bad = ldc * n; /* one ck_assert a call: each costs a write */
                for (size_t i = 0; i < ldc * n && bad == ldc * n; i++)
                    if (!(i % ldc < m ? fabsf(c[i] - ref[i]) <= 12 * FLT_EPSILON * 10.0f : c[i] == -7.0f)) bad = i;
                ck_assert_msg(bad == ldc * n, "%s %c offset %zu: element %zu", nn_isa_name(isas[s]), ta ? 'T' : 'N',
                              off, bad);
            }
        }
    }
    free(a), free(b), free(first), free(ref), free(buf);
}
END_TEST

START_TEST(beta_zero_ignores_nan_in_c)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    for (int s = 0; s < n_isa; s++) {
        ck_assert_int_eq(nn_set_isa(isas[s]), NN_OK);
        float c[4] = {NAN, NAN, NAN, NAN};
        ck_assert_int_eq(nn_sgemm(NN_NO_TRANS, NN_NO_TRANS, 2, 2, 3, 1.0f, A23, 2, B32, 3, 0.0f, c, 2), NN_OK);
        ck_assert_float_eq(c[0], 58.0f);
        ck_assert_float_eq(c[3], 154.0f);
        /* k = 0: C = beta·C */
        float d[2] = {2.0f, NAN};
        ck_assert_int_eq(nn_sgemm(NN_NO_TRANS, NN_NO_TRANS, 1, 2, 0, 1.0f, A23, 1, B32, 1, 0.0f, d, 1), NN_OK);
        ck_assert_float_eq(d[0], 0.0f);
        ck_assert_float_eq(d[1], 0.0f);
    }
}
END_TEST

/* Same bits for 1..4 threads (oversubscribed on a 2-core machine is fine). */
START_TEST(threads_bitwise_identical)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    /* 200 x 257 splits by columns, 256 x 128 and 250 x 100 by rows (see
     * run_thread; each thread packs its own rows of A, the last one a
     * partial panel); 600 rows pack all of A (lda > 512), each thread a
     * range of K; 10 rows are dot products, the threads split on tiles;
     * a small Aᵀ (64 x 40) is packed by each thread for itself; K = 10 is
     * the short-K kernel's, the threads split the columns; TN 256³ on 2
     * threads is a tie that goes by rows, A being packed in one MC block;
     * 16 columns go by rows, by columns 12 + 4 being uneven; 512 x 32 x
     * 128 (NN and NT) takes one call for the whole product on one thread
     * where the ISA has one (kernels.h gemm_whole), the tiles one by one
     * on more (with NN_TEAM_US=0, as CTest runs it) */
    const size_t shapes[10][3] = {{200, 257, 300}, {256, 128, 300}, {250, 100, 300}, {600, 40, 900}, {10, 257, 300},
                                  {64, 300, 40}, {100, 257, 10}, {256, 256, 256}, {256, 16, 300}, {512, 32, 128}};
    for (int sh = 0; sh < 10; sh++) {
    const size_t m = shapes[sh][0], n = shapes[sh][1], k = shapes[sh][2];
    float *a = tu_random(m * k, 1, -1, 1), *b = tu_random(k * n, 2, -1, 1);
    float *c1 = malloc(m * n * sizeof *c1), *ct = malloc(m * n * sizeof *ct);
    for (int s = 0; s < n_isa; s++) {
        ck_assert_int_eq(nn_set_isa(isas[s]), NN_OK);
        for (int form = 0; form < 3; form++) {
            const nn_transpose ta = (nn_transpose)(form == 2), tb = (nn_transpose)(form == 1);
            const size_t lda = ta ? k : m, ldb = tb ? n : k;
            for (int t = 1; t <= 4; t++) {
                const size_t ws = nn_sgemm_workspace_size(ta, tb, m, n, k, t);
                void *w = malloc(ws);
                ck_assert_ptr_nonnull(w);
                float *c = t == 1 ? c1 : ct;
                ck_assert_int_eq(nn_sgemm_ws(t, w, ws, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, m), NN_OK);
                free(w);
                if (t > 1)
                    ck_assert_msg(memcmp(c1, ct, m * n * sizeof *c1) == 0, "%s form %d: %d threads differ",
                                  nn_isa_name(isas[s]), form, t);
            }
        }
    }
    free(a), free(b), free(c1), free(ct);
    }
}
END_TEST

/* The workspace nn_sgemm_workspace_size() asks for is all nn_sgemm_ws()
 * touches, also when the product runs on fewer threads than requested (a
 * smaller team packs wider B panels: TN 250x13x250 on 4 threads overran by
 * thousands of bytes on the scalar ISA). Guard bytes past the end catch it
 * without ASan too. */
START_TEST(workspace_is_all_that_is_touched)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    const size_t shapes[][3] = {{250, 13, 250}, {13, 250, 250}, {300, 300, 7}, {5, 1000, 40}};
    for (int s = 0; s < n_isa; s++) {
        ck_assert_int_eq(nn_set_isa(isas[s]), NN_OK);
        for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
            const size_t m = shapes[sh][0], n = shapes[sh][1], k = shapes[sh][2];
            float *a = tu_random(m * k, 11, -1, 1), *b = tu_random(k * n, 12, -1, 1);
            float *c = malloc(m * n * sizeof *c);
            for (int form = 0; form < 4; form++)
                for (int t = 1; t <= 8; t++) {
                    const nn_transpose ta = (nn_transpose)(form & 1), tb = (nn_transpose)(form >> 1);
                    const size_t ws = nn_sgemm_workspace_size(ta, tb, m, n, k, t), guard = 256;
                    unsigned char *w = malloc(ws + guard);
                    ck_assert_ptr_nonnull(w);
                    memset(w + ws, 0xA5, guard);
                    const nn_status st = nn_sgemm_ws(t, w, ws, ta, tb, m, n, k, 1.0f, a, ta ? k : m, b,
                                                     tb ? n : k, 0.0f, c, m);
                    ck_assert_msg(st == NN_OK, "%s %zux%zux%zu form %d, %d threads: %s", nn_isa_name(isas[s]),
                                  m, n, k, form, t, nn_strerror(st));
                    for (size_t i = 0; i < guard; i++)
                        ck_assert_msg(w[ws + i] == 0xA5, "%s %zux%zux%zu form %d, %d threads: wrote past the workspace",
                                      nn_isa_name(isas[s]), m, n, k, form, t);
                    free(w);
                }
            free(a), free(b), free(c);
        }
    }
    ck_assert_int_eq(nn_sgemm_workspace_size(NN_NO_TRANS, NN_NO_TRANS, 4, 4, 4, -1), SIZE_MAX);
}
END_TEST

/* Called from each thread of the caller's own OpenMP team with one thread
 * and a workspace sized for one: nothing past it is touched and the result
 * is the same as outside the team (the library numbers the parts of a
 * workspace by the threads of its own team, never the caller's). */
START_TEST(inside_callers_team)
{
#ifdef _OPENMP
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    enum { SHAPES = 3, FORMS = 4 };
    const size_t shapes[SHAPES][3] = {{10, 64, 256}, {250, 13, 250}, {300, 300, 7}}, guard = 256;
    for (int s = 0; s < n_isa; s++) {
        ck_assert_int_eq(nn_set_isa(isas[s]), NN_OK);
        float *want[SHAPES][FORMS];
        for (size_t sh = 0; sh < SHAPES; sh++) /* outside any team */
            for (int form = 0; form < FORMS; form++) {
                const nn_transpose ta = (nn_transpose)(form & 1), tb = (nn_transpose)(form >> 1);
                const size_t m = shapes[sh][0], n = shapes[sh][1], k = shapes[sh][2];
                float *a = tu_random(m * k, 21, -1, 1), *b = tu_random(k * n, 22, -1, 1);
                want[sh][form] = malloc(m * n * sizeof(float));
                ck_assert_ptr_nonnull(want[sh][form]);
                ck_assert_int_eq(nn_sgemm(ta, tb, m, n, k, 1.0f, a, ta ? k : m, b, tb ? n : k, 0.0f, want[sh][form], m),
                                 NN_OK);
                free(a), free(b);
            }
        int bad = 0;
#pragma omp parallel num_threads(4) reduction(+ : bad)
        for (size_t sh = 0; sh < SHAPES; sh++)
            for (int form = 0; form < FORMS; form++) {
                const nn_transpose ta = (nn_transpose)(form & 1), tb = (nn_transpose)(form >> 1);
                const size_t m = shapes[sh][0], n = shapes[sh][1], k = shapes[sh][2];
                const size_t ws = nn_sgemm_workspace_size(ta, tb, m, n, k, 1);
                float *a = tu_random(m * k, 21, -1, 1), *b = tu_random(k * n, 22, -1, 1);
                float *c = malloc(m * n * sizeof *c);
                unsigned char *w = malloc(ws + guard);
                if (!a || !b || !c || !w) {
                    bad++;
                } else {
                    memset(w + ws, 0xA5, guard);
                    bad += nn_sgemm_ws(1, w, ws, ta, tb, m, n, k, 1.0f, a, ta ? k : m, b, tb ? n : k, 0.0f, c, m) != NN_OK;
                    for (size_t i = 0; i < guard; i++) bad += w[ws + i] != 0xA5;
                    bad += memcmp(c, want[sh][form], m * n * sizeof *c) != 0;
                }
                free(a), free(b), free(c), free(w);
            }
        for (size_t sh = 0; sh < SHAPES; sh++)
            for (int form = 0; form < FORMS; form++) free(want[sh][form]);
        ck_assert_msg(bad == 0, "%s: %d failures inside the caller's team", nn_isa_name(isas[s]), bad);
    }
#endif
}
END_TEST

/* split_k (threads take whole K blocks, partials added in block order) gives
 * the unsplit product's bits for 1..4 threads, with and without beta, on
 * every ISA: K = 784 cuts into 4 equal blocks, 1000 into 4 of 250. */
START_TEST(split_k_bitwise_identical)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    const size_t shapes[2][3] = {{256, 128, 784}, {37, 50, 1000}};
    for (int sh = 0; sh < 2; sh++) {
        const size_t m = shapes[sh][0], n = shapes[sh][1], k = shapes[sh][2];
        float *a = tu_random(m * k, 5, -1, 1), *b = tu_random(k * n, 6, -1, 1);
        float *c0 = tu_random(m * n, 7, -1, 1), *want = malloc(m * n * sizeof *want);
        float *c = malloc(m * n * sizeof *c);
        for (int s = 0; s < n_isa; s++) {
            ck_assert_int_eq(nn_set_isa(isas[s]), NN_OK);
            const nn_kernels *kr = nn_kernels_active();
            for (int with_beta = 0; with_beta < 2; with_beta++) {
                nn_gemm_args g = {.ta = NN_NO_TRANS, .tb = NN_NO_TRANS, .m = m, .n = n, .k = k,
                                  .alpha = 0.75f, .beta = with_beta ? 0.5f : 0.0f, .a = a, .lda = m,
                                  .b = b, .ldb = k, .c = want, .ldc = m};
                void *w = malloc(nn_gemm_workspace(kr, &g, 1));
                memcpy(want, c0, m * n * sizeof *want);
                nn_gemm_run(kr, &g, 1, w);
                free(w);
                g.split_k = 1, g.c = c;
                for (int t = 1; t <= 4; t++) {
                    w = malloc(nn_gemm_workspace(kr, &g, t));
                    memcpy(c, c0, m * n * sizeof *c);
                    nn_gemm_run(kr, &g, t, w);
                    free(w);
                    ck_assert_msg(memcmp(c, want, m * n * sizeof *c) == 0, "%s %zux%zux%zu beta %d: %d threads differ",
                                  nn_isa_name(isas[s]), m, n, k, with_beta, t);
                }
            }
        }
        free(a), free(b), free(c0), free(want), free(c);
    }
}
END_TEST

/* The epilogue sees each element of C exactly once, already final: blocks
 * are checked against a single-threaded product as they arrive (shapes that
 * split by columns, by rows, by K blocks, and one computed transposed). */
typedef struct seen {
    const float *want, *c;
    size_t m;
    unsigned char *count; /* per element; distinct threads touch distinct ones */
    int wrong;            /* set from any thread: no ck_assert off the main thread */
} seen;

static void record_block(void *ctx, size_t i0, size_t i1, size_t j0, size_t j1)
{
    seen *s = ctx;
    for (size_t j = j0; j < j1; j++)
        for (size_t i = i0; i < i1; i++) {
            s->count[i + j * s->m]++;
            if (memcmp(&s->c[i + j * s->m], &s->want[i + j * s->m], sizeof(float))) s->wrong = 1;
        }
}

START_TEST(epilogue_sees_every_block_once)
{
    const size_t shapes[4][4] = {{200, 257, 300, 0}, {256, 128, 784, 0}, {10, 128, 64, 1}, {33, 7, 0, 0}};
    const nn_kernels *kr = nn_kernels_active();
    for (int sh = 0; sh < 4; sh++) {
        const size_t m = shapes[sh][0], n = shapes[sh][1], k = shapes[sh][2];
        const nn_transpose tb = (nn_transpose)shapes[sh][3];
        float *a = tu_random(m * (k ? k : 1), 3, -1, 1), *b = tu_random((k ? k : 1) * n, 4, -1, 1);
        float *want = malloc(m * n * sizeof *want), *c = malloc(m * n * sizeof *c);
        unsigned char *count = malloc(m * n);
        nn_gemm_args g = {.ta = NN_NO_TRANS, .tb = tb, .m = m, .n = n, .k = k, .alpha = 1.0f,
                          .beta = 0.0f, .a = a, .lda = m, .b = b, .ldb = tb ? n : (k ? k : 1),
                          .c = want, .ldc = m};
        void *w = malloc(nn_gemm_workspace(kr, &g, 1));
        nn_gemm_run(kr, &g, 1, w);
        free(w);
        for (int t = 1; t <= 4; t++)
            for (int split_k = 0; split_k < 2; split_k++) {
                seen s = {.want = want, .c = c, .m = m, .count = count};
                memset(count, 0, m * n);
                g.c = c, g.epilogue = record_block, g.epilogue_ctx = &s, g.split_k = split_k;
                w = malloc(nn_gemm_workspace(kr, &g, t));
                nn_gemm_run(kr, &g, t, w);
                free(w);
                ck_assert_msg(!s.wrong, "shape %d, %d threads, split_k %d: a block was not final", sh, t, split_k);
                for (size_t i = 0; i < m * n; i++) ck_assert_int_eq(count[i], 1);
            }
        free(a), free(b), free(want), free(c), free(count);
    }
}
END_TEST

START_TEST(bad_arguments)
{
    float a[4] = {1, 2, 3, 4}, c[4];
    ck_assert_int_eq(nn_sgemm(NN_NO_TRANS, NN_NO_TRANS, 2, 2, 2, 1, a, 1, a, 2, 0, c, 2), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_sgemm(NN_NO_TRANS, NN_NO_TRANS, 2, 2, 2, 1, a, 2, a, 1, 0, c, 2), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_sgemm(NN_NO_TRANS, NN_NO_TRANS, 2, 2, 2, 1, a, 2, a, 2, 0, c, 1), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_sgemm(NN_TRANS, NN_NO_TRANS, 2, 2, 3, 1, a, 2, a, 3, 0, c, 2), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_sgemm(NN_NO_TRANS, NN_NO_TRANS, 2, 2, 2, 1, NULL, 2, a, 2, 0, c, 2), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_sgemm(NN_NO_TRANS, NN_NO_TRANS, 2, 2, 2, 1, a, 2, a, 2, 0, NULL, 2), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_sgemm((nn_transpose)7, NN_NO_TRANS, 2, 2, 2, 1, a, 2, a, 2, 0, c, 2), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_sgemm(NN_NO_TRANS, NN_NO_TRANS, 2, 2, 2, NAN, a, 2, a, 2, 0, c, 2), NN_ERR_NON_FINITE);
    /* sizes whose address range overflows size_t */
    ck_assert_int_eq(nn_sgemm(NN_NO_TRANS, NN_NO_TRANS, 2, SIZE_MAX / 2, 2, 1, a, 2, a, 2, 0, c, SIZE_MAX / 4),
                     NN_ERR_OVERFLOW);
    ck_assert_int_eq(nn_sgemm_naive(NN_NO_TRANS, NN_NO_TRANS, 2, 2, 2, 1, a, 1, a, 2, 0, c, 2), NN_ERR_INVALID_ARGUMENT);
    /* workspace too small (K = 20: a blocked product, which always packs
     * something, on every ISA) */
    float big[40] = {0}, w[4];
    ck_assert_uint_gt(nn_sgemm_workspace_size(NN_NO_TRANS, NN_NO_TRANS, 2, 2, 20, 1), sizeof w);
    ck_assert_int_eq(nn_sgemm_ws(1, w, sizeof w, NN_NO_TRANS, NN_NO_TRANS, 2, 2, 20, 1, big, 2, big, 20, 0, c, 2),
                     NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_sgemm_ws(-1, c, 4, NN_NO_TRANS, NN_NO_TRANS, 2, 2, 2, 1, a, 2, a, 2, 0, c, 2),
                     NN_ERR_INVALID_ARGUMENT);
    /* m = 0 or n = 0 is an empty product */
    ck_assert_int_eq(nn_sgemm(NN_NO_TRANS, NN_NO_TRANS, 0, 2, 2, 1, a, 1, a, 2, 0, c, 1), NN_OK);
}
END_TEST

START_TEST(isa_selection)
{
    ck_assert(nn_isa_available(NN_ISA_SCALAR));
    ck_assert_int_eq(nn_set_isa(NN_ISA_SCALAR), NN_OK);
    ck_assert_int_eq(nn_get_isa(), NN_ISA_SCALAR);
    ck_assert_int_eq(nn_set_isa((nn_isa)42), NN_ERR_INVALID_ARGUMENT);
    for (int i = 0; i < NN_ISA_COUNT; i++) {
        if (!nn_isa_available((nn_isa)i)) /* one the CPU lacks: a status, not a crash */
            ck_assert_int_eq(nn_set_isa((nn_isa)i), NN_ERR_UNSUPPORTED);
        nn_isa back;
        ck_assert_int_eq(nn_isa_from_name(nn_isa_name((nn_isa)i), &back), NN_OK);
        ck_assert_int_eq(back, i);
    }
    nn_isa x;
    ck_assert_int_eq(nn_isa_from_name("sse9", &x), NN_ERR_INVALID_ARGUMENT);
#if defined(NN_HAVE_X86)
    ck_assert(!nn_isa_available(NN_ISA_NEON));
#endif
    /* the transposed-store tile in gemm.c holds 32x32 */
    for (int i = 0; i < NN_ISA_COUNT; i++) {
        const nn_kernels *k = nn_kernels_for((nn_isa)i);
        if (k) ck_assert(k->mr <= 32 && k->nr <= 32 && k->mr * k->nr <= 32 * 32);
    }
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {naive_hand_computed, every_isa_matches_reference, mlp_shapes_every_isa, packed_a_every_isa, beta_zero_ignores_nan_in_c, short_k_any_alignment, threads_bitwise_identical, workspace_is_all_that_is_touched, inside_callers_team, split_k_bitwise_identical, epilogue_sees_every_block_once, bad_arguments, isa_selection};
    return tu_main("gemm", 300, tests, sizeof tests / sizeof *tests);
}
