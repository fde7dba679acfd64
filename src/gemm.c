/*
 * The portable GEMM driver: BLIS-style blocking around the ISA's MR x NR
 * micro-kernel. Everything that is not FMA work lives here, written once:
 * transposes, alpha/beta, edges (zero-padded panels and partial stores),
 * threading.
 *
 * Loop nest (per thread, over its own block of C):
 *   jc (NC columns) → pc (KC of K) → [pack B] → ic (MC rows) → jr (NR) → ir (MR)
 * The micro-kernel takes strides, so operands are read in place wherever
 * their layout allows: A column-major (MR rows per step), B by columns (A·B)
 * or by rows (A·Bᵀ). Packing is left for what needs it: a transposed A
 * (packed once per call, cooperatively by all threads, then shared), a
 * leading dimension whose cache lines would collide in L1, and the partial
 * last panels, which are zero-padded so the micro-kernel never branches.
 *
 * Threads split C by columns or by rows; or, for a layer's W·A (split_k),
 * they split K, so that each thread reads only the columns of W it updates
 * itself (see run_split_k: with a 2-thread split of C, half of W moved
 * between the cores on every step, which cost 20 % of nntrain's time in the
 * slow phases of this project's machine, when such moves are expensive).
 *
 * Determinism: every element of C is reduced over K in the same order (K
 * blocks of a size set by K and the ISA alone, each summed by the
 * micro-kernel in p order, then added in block order) whatever the thread
 * count or split, so results are bitwise identical for 1..N threads.
 *
 * Products of at most NN_DOT_MAX_ROWS rows (op(B) = B, K >= 32) are dot
 * products along K instead (run_dot; every element still in one fixed
 * order, whatever the thread count). Small products on one thread go to
 * the ISA's whole-product kernel in one call where it has one (run_whole).
 * Skinny products get a 16-row tile
 * where the ISA has one (kernels.h: gemm_ukernel_short); and when the
 * transposed product Cᵀ = op(B)ᵀ·op(A)ᵀ
 * fills the tiles much better and its A can still be read in place, that is
 * computed instead and written back through a small transposing store.
 */
#include <stdint.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "internal.h"

#define ALIGN 64

static size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }
static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* Pack a block of m x kc (m <= r) into one panel of r "rows" (A's rows, or
 * B's columns): dst[p·r + i], rows m..r-1 zero. Element (i, p) is at
 * x[i + p·ld] when the block's columns are contiguous (op(A) = A, op(B) =
 * Bᵀ), else at x[p + i·ld] (op(A) = Aᵀ, op(B) = B: a transpose, done with
 * the ISA's register transposes where it has them). */
static void pack_panel(const nn_kernels *kr, size_t r, size_t m, size_t kc, const float *x, size_t ld,
                       int columns_contiguous, float *dst)
{
    if (!columns_contiguous && kr->pack_a_transposed) {
        kr->pack_a_transposed(r, m, kc, x, ld, dst);
    } else if (!columns_contiguous) {
        for (size_t i = 0; i < m; i++) {
            const float *row = x + i * ld;
            for (size_t p = 0; p < kc; p++) dst[p * r + i] = row[p];
        }
        for (size_t p = 0; p < kc; p++)
            for (size_t i = m; i < r; i++) dst[p * r + i] = 0.0f;
    } else if (m == r && (r == 12 || r == 6 || r == 4)) {
        /* a full B panel, its width a constant the compiler turns into a
         * few vector moves a row (256x784x256 A·Bᵀ: 3-5 % faster than with
         * the width a variable) */
#define COPY_COLUMNS(R)                                                                   \
    for (size_t p = 0; p < kc; p++) memcpy(dst + p * (R), x + p * ld, (R) * sizeof(float));
        if (r == 12) COPY_COLUMNS(12) else if (r == 6) COPY_COLUMNS(6) else COPY_COLUMNS(4)
#undef COPY_COLUMNS
    } else {
        for (size_t p = 0; p < kc; p++) {
            const float *col = x + p * ld;
            float *d = dst + p * r;
            for (size_t i = 0; i < m; i++) d[i] = col[i];
            for (size_t i = m; i < r; i++) d[i] = 0.0f;
        }
    }
}

/* The product actually computed: possibly the transposed one. */
typedef struct plan {
    const nn_kernels *kr;
    nn_gemm_ukernel_fn ukernel; /* the ISA's main or short tile */
    nn_gemm_ukernel_fn ukernel_t; /* the same storing transposed, or NULL */
    size_t mr;                  /* its rows */
    size_t m, n, k, mc, nc;
    size_t kc;      /* K block: K cut into equal blocks of at most the ISA's KC */
    nn_transpose ta, tb;
    const float *a, *b;
    size_t lda, ldb;
    float alpha, beta;
    float *c;
    size_t ldc;
    int swapped; /* computing Cᵀ: element (i, j) goes to c[j + i·ldc] */
    nn_gemm_epilogue_fn epilogue;
    void *epilogue_ctx;
    int threads;
    int pack_a;  /* all of op(A) packed; otherwise A is read in place and
                    only its last, partial MR panel is packed, unless */
    int a_edge_in_place; /* the kernel reads only the rows it has (a_rows_masked) */
    int pack_b;  /* B packed per (jc, pc) block; otherwise read in place and
                    only partial NR panels are packed */
    int split_k; /* threads take whole K blocks; see run_split_k */
    int a_private; /* all of A packed, small: each thread packs its own copy
                      when they split C by columns (see run_thread) */
    float *apack;
    float *bpack; /* per thread: kc x nc (pack_b) or the partial panel */
    size_t bpack_stride;
    float *partial; /* split_k: the K blocks of threads 1.., m x n each */
} plan;

static double tile_fill(size_t m, size_t n, size_t mr, size_t nr)
{
    return ((double)m / (double)round_up(m, mr)) * ((double)n / (double)round_up(n, nr));
}

/* Elements of packed A: every panel for pack_a, else the partial one. */
static size_t apack_floats(const plan *p)
{
    const size_t mr = p->mr;
    if (p->pack_a) return round_up(p->m, mr) * p->k;
    return p->m % mr && !p->a_edge_in_place ? mr * p->k : 0;
}

/* Floats between two threads' copies of packed A (a_private) */
static size_t apack_stride(const plan *p) { return round_up(apack_floats(p), ALIGN / sizeof(float)); }

/* A K block of B read in place must stay in L1 while the MR panels of A
 * stream past it: NR columns of kc floats (op(B) = B) or kc rows of NR
 * floats (op(B) = Bᵀ), `stride` floats apart. With a stride near a multiple
 * of 4 KiB they fall on the same L1 sets and evict each other (seen at
 * ldb = 1024: half speed); then B is packed instead. Model: 64 sets of
 * 64-byte lines, 8 ways, 2 of them left for A and C. */
static int panel_collides(size_t stride, size_t count, size_t floats_each)
{
    unsigned char load[64] = {0}; /* counts stop at 7 */
    for (size_t j = 0; j < count; j++) {
        const size_t first = j * stride * sizeof(float) / 64;
        const size_t last = (j * stride + floats_each - 1) * sizeof(float) / 64;
        for (size_t l = first; l <= last && l < first + 64; l++)
            if (++load[l % 64] > 6) return 1;
    }
    return 0;
}

static size_t clamp_size(size_t v, size_t lo, size_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The cache blocks, BLIS's MC and NC, from the ISA's own KC (its table) and
 * the caches the machine reports (hwloc, else sysconf; defaults where
 * unknown): an MC x KC block of A fills half of L2, a KC x NC panel of B a
 * thread's share of half the L3. They set how much is packed per pass, not
 * the order of any sum, so results do not depend on them. */
typedef struct cache_blocking {
    size_t mc, nc;
} cache_blocking;

static cache_blocking cache_blocks(const nn_kernels *kr)
{
    const nn_topology *t = &nn_machine_get()->topo;
    const size_t l2 = t->l2_bytes ? t->l2_bytes : 256 * 1024;
    const size_t l3 = t->l3_bytes ? t->l3_bytes : 4 * 1024 * 1024;
    const size_t panel = kr->kc * sizeof(float), cores = t->cores > 0 ? (size_t)t->cores : 1;
    return (cache_blocking){.mc = clamp_size(l2 / 2 / panel, 64, 1024), .nc = clamp_size(l3 / 2 / cores / panel, 256, 2048)};
}

/* Packed A up to this size (64 KB) is packed by each thread for itself
 * when they split C by columns: shared, each thread would read the half the
 * other one wrote, and on this project's machines a cache line another core
 * has just written costs more than packing it again (TN 256x256x10 on 2
 * threads: A is 10 KB). */
#define A_PRIVATE_FLOATS (16 * 1024)

/* Whether to compute Cᵀ = op(B)ᵀ·op(A)ᵀ instead. Only where the swapped A
 * (op(B)ᵀ) can be read in place: a transposing pack of the large operand
 * costs more than the fill gains (nnbench: 10x256x256 NN, 56 GFLOP/s
 * unswapped vs 36 swapped on AVX2). */
static int worth_swapping(const nn_kernels *kr, const nn_gemm_args *g)
{
    return g->tb == NN_TRANS && g->ldb <= 512 &&
           tile_fill(g->n, g->m, kr->mr, kr->nr) > 1.25 * tile_fill(g->m, g->n, kr->mr, kr->nr);
}

/* Whether all of B (`vectors` of ldb floats: its columns, or its rows for
 * op(B) = Bᵀ) lies within a third of L1, where it stays whatever its stride
 * (see make_plan). */
static int b_in_l1(size_t ldb, size_t vectors) { return ldb * vectors * sizeof(float) <= 16384; }

static void make_plan(const nn_kernels *kr, const nn_gemm_args *g, int threads, plan *p)
{
    const cache_blocking blk = cache_blocks(kr);
    memset(p, 0, sizeof *p);
    p->kr = kr;
    p->k = g->k;
    p->alpha = g->alpha;
    p->beta = g->beta;
    p->c = g->c;
    p->ldc = g->ldc;
    p->epilogue = g->epilogue;
    p->epilogue_ctx = g->epilogue_ctx;
    p->swapped = worth_swapping(kr, g);
    if (!p->swapped) {
        p->m = g->m, p->n = g->n;
        p->a = g->a, p->lda = g->lda, p->ta = g->ta;
        p->b = g->b, p->ldb = g->ldb, p->tb = g->tb;
    } else { /* Cᵀ = op(B)ᵀ · op(A)ᵀ */
        p->m = g->n, p->n = g->m;
        p->a = g->b, p->lda = g->ldb, p->ta = g->tb == NN_NO_TRANS ? NN_TRANS : NN_NO_TRANS;
        p->b = g->a, p->ldb = g->lda, p->tb = g->ta == NN_NO_TRANS ? NN_TRANS : NN_NO_TRANS;
    }
    /* A is read in place when its columns hold the MR rows a step needs and
     * are close enough that a K block's columns stay within the TLB (≤ 2 KiB
     * apart); otherwise it is packed. B is always read in place (by rows or
     * by columns); only partial panels are copied. */
    p->ukernel = kr->gemm_ukernel, p->ukernel_t = kr->gemm_ukernel_t, p->mr = kr->mr;
    if (kr->gemm_ukernel_short && p->m <= kr->mr_short)
        p->ukernel = kr->gemm_ukernel_short, p->ukernel_t = kr->gemm_ukernel_short_t, p->mr = kr->mr_short;
    p->pack_a = p->ta == NN_TRANS || p->lda > 512;
    p->a_edge_in_place = !p->pack_a && kr->a_rows_masked;
    /* Equal K blocks (KC 256: 784 = 4 x 196, not 3 x 256 + 16): no short
     * last block paying a full pass over C. A function of K alone, so every
     * element is still summed in the same order for any thread count. */
    const size_t blocks = p->k ? (p->k + kr->kc - 1) / kr->kc : 1;
    p->kc = p->k ? (p->k + blocks - 1) / blocks : 1;
    const size_t kc = p->kc;
    /* all of B within a third of L1 stays there whatever its stride: no
     * collision check (the check cost 4 % of a 64³ product, run per call).
     * Rows of op(B) = Bᵀ more than 1 KiB apart are packed: read in place,
     * every K step of a panel lands on another page, and the L1 TLB misses
     * cost more than the copy (256x784x256 A·Bᵀ: 0.87 -> 1.0x oneDNN). */
    const int b_small = b_in_l1(p->ldb, p->tb == NN_NO_TRANS ? p->n : p->k);
    p->pack_b = p->tb == NN_NO_TRANS ? kr->pack_b_columns || (!b_small && panel_collides(p->ldb, kr->nr, kc))
                                     : !b_small && (p->ldb > 256 || panel_collides(p->ldb, kc, kr->nr));
    p->threads = threads;
    p->split_k = g->split_k && threads > 1 && !p->swapped && blocks % (size_t)threads == 0;
    p->mc = round_up(blk.mc, p->mr);
    const size_t share = p->split_k ? round_up(p->n, kr->nr)
                                    : round_up((p->n + (size_t)threads - 1) / (size_t)threads, kr->nr);
    p->nc = min_size(round_up(blk.nc, kr->nr), share);
    p->bpack_stride = round_up(kc * p->nc, ALIGN / sizeof(float));
    p->a_private = p->pack_a && threads > 1 && !p->split_k && apack_floats(p) <= A_PRIVATE_FLOATS;
}

/* Longer dot products go to the blocked GEMM, whose K blocks keep the
 * rounding error growing by blocks rather than with K. */
#define SKINNY_MAX_K 4096

/* Bytes of workspace plan p needs (SIZE_MAX on overflow). */
static size_t plan_bytes(const nn_kernels *kr, const plan *p, int threads)
{
    size_t a_floats, b_floats, total;
    if (!nn_mul_size(round_up(p->m, kr->mr), p->k, &a_floats)) return SIZE_MAX;
    a_floats = round_up(a_floats, ALIGN / sizeof(float)) * (p->a_private ? (size_t)threads : 1); /* small if private */
    if (!nn_mul_size((size_t)threads, p->bpack_stride, &b_floats)) return SIZE_MAX;
    size_t part_floats = 0;
    if (p->split_k) {
        const size_t blocks = (p->k + p->kc - 1) / p->kc;
        if (!nn_mul_size(p->m, p->n, &part_floats) ||
            !nn_mul_size(part_floats, blocks - blocks / (size_t)threads, &part_floats))
            return SIZE_MAX;
    }
    if (!nn_add_size(a_floats, b_floats, &total) || !nn_add_size(total, part_floats, &total) ||
        !nn_mul_size(total, sizeof(float), &total) || !nn_add_size(total, ALIGN, &total))
        return SIZE_MAX;
    return total;
}

static size_t plan_workspace(const nn_kernels *kr, const nn_gemm_args *g, int threads)
{
    plan p;
    make_plan(kr, g, threads, &p);
    return plan_bytes(kr, &p, threads);
}

/* Products that run_skinny takes whatever the leading dimensions are */
static int always_skinny(const nn_gemm_args *g)
{
    return !g->epilogue && !g->split_k &&
           ((g->k == 1 && g->ta == NN_NO_TRANS) ||
            (g->m == 1 && g->k <= SKINNY_MAX_K && g->tb == NN_NO_TRANS && g->ta == NN_TRANS));
}

/* ---- few-row products: dot products along K ----
 * A product whose op(A) has at most NN_DOT_MAX_ROWS rows (a classifier's
 * output layer: W·A with 10 rows) fills 10 of a 16-row tile's lanes; as dot
 * products along K (kernels.h gemm_dot) it fills them all. op(B) = B has
 * its columns contiguous; op(A) = Aᵀ has its rows contiguous and is read in
 * place, op(A) = A is transposed first, by each thread into its own part of
 * the workspace (m·k floats, a few KB). Threads split the columns on the
 * kernel's tile boundaries, so the bits do not depend on their number.
 * Shorter K would leave the lanes of its one vector part empty. */
#define DOT_MIN_K 32

static int takes_dot(const nn_kernels *kr, const nn_gemm_args *g)
{
    return kr->gemm_dot && g->m <= NN_DOT_MAX_ROWS && g->tb == NN_NO_TRANS && g->k >= DOT_MIN_K;
}

/* op(A) = A is transposed by each thread into its own part of the
 * workspace: shared, the copy one core wrote had to move to the other on
 * every call (NN 10x256x256 on 2 threads: 10.2 us against 6.1 for the same
 * product with op(A) = Aᵀ read in place). */
static size_t dot_floats_each(const nn_gemm_args *g) { return round_up(g->m * g->k, ALIGN / sizeof(float)); }

static size_t dot_bytes(const nn_gemm_args *g, int threads)
{
    if (g->ta == NN_TRANS) return 0;
    size_t floats;
    if (!nn_mul_size(dot_floats_each(g), (size_t)threads, &floats) || floats > (SIZE_MAX - ALIGN) / sizeof(float))
        return SIZE_MAX;
    return floats * sizeof(float) + ALIGN;
}

typedef struct dot_job {
    const nn_kernels *kr;
    const nn_gemm_args *g;
    float *work; /* aligned: each thread's transposed A, op(A) = A only */
} dot_job;

/* Thread t's column groups [lo, hi) (t < the threads the workspace holds). */
static void dot_groups(const dot_job *d, size_t t, size_t lo, size_t hi)
{
    const nn_kernels *kr = d->kr;
    const nn_gemm_args *g = d->g;
    const float *at = g->a;
    size_t ldat = g->lda;
    if (g->ta == NN_NO_TRANS) { /* at[i·k + p] = A(i, p): A's columns as the "rows" of a transposing pack */
        float *mine = d->work + t * dot_floats_each(g);
        pack_panel(kr, g->k, g->k, g->m, g->a, g->lda, 0, mine);
        at = mine, ldat = g->k;
    }
    const size_t cols = kr->gemm_dot_cols, j0 = lo * cols, j1 = min_size(hi * cols, g->n);
    kr->gemm_dot(g->m, j1 - j0, g->k, at, ldat, g->b + j0 * g->ldb, g->ldb, g->alpha, g->beta, g->c + j0 * g->ldc,
                 g->ldc);
    if (g->epilogue) g->epilogue(g->epilogue_ctx, 0, g->m, j0, j1);
}

/* Its own team, so that thread numbers index the workspace's parts even
 * when the caller is itself one of an OpenMP team's threads. */
static void run_dot(const nn_kernels *kr, const nn_gemm_args *g, int threads, void *work)
{
    const dot_job d = {.kr = kr, .g = g, .work = (float *)(((uintptr_t)work + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1))};
    const size_t groups = (g->n + kr->gemm_dot_cols - 1) / kr->gemm_dot_cols;
    const int nt = (size_t)threads < groups ? threads : (int)groups;
#ifdef _OPENMP
    if (nt > 1) {
#pragma omp parallel num_threads(nt)
        {
            nn_bind_team();
            const size_t t = (size_t)omp_get_thread_num(), k = (size_t)omp_get_num_threads();
            dot_groups(&d, t, groups * t / k, groups * (t + 1) / k);
        }
        return;
    }
#else
    (void)nt;
#endif
    dot_groups(&d, 0, 0, groups);
}

/* ---- short K: the rows of A in registers (kernels.h gemm_small_k) ----
 * K <= 12 (the dA = Wᵀ·dZ of a 10-class output layer): per panel of A's
 * rows, every column of C in one pass, no tiles of a few steps each. Each
 * element is rounded as in the blocked path. op(A) = Aᵀ is read in place
 * where the ISA's kernel takes A by rows (gemm_small_k_at: the plain
 * product of a layer's dA), else transposed one panel at a time on the
 * stack; nothing else is copied. */
static int takes_small_k(const nn_kernels *kr, const nn_gemm_args *g)
{
    return kr->gemm_small_k && g->k <= kr->small_k_max;
}

static void small_k_columns(void *ctx, size_t lo, size_t hi)
{
    const dot_job *d = ctx; /* the same job: kernels and arguments */
    const nn_kernels *kr = d->kr;
    const nn_gemm_args *g = d->g;
    const size_t rows = kr->small_k_rows;
    float panel[32 * 32]; /* >= small_k_rows·small_k_max (checked in test_ukernels) */
    const size_t b_ks = g->tb == NN_NO_TRANS ? 1 : g->ldb, b_js = g->tb == NN_NO_TRANS ? g->ldb : 1;
    const int plain = b_ks == 1 && g->alpha == 1.0f && g->beta == 0.0f;
    /* Where every column of C starts at the same offset in its cache line,
     * the first block is cut short so that the others store whole lines:
     * split across two lines, each store cost more than the block's extra
     * call (TN 256x256x10 with C 16 bytes off a line: 8.3 -> 7.3 us). */
    const size_t skew = (uintptr_t)(g->c + lo * g->ldc) % 64 / sizeof(float);
    const size_t first = g->ldc % 16 == 0 && skew ? 16 - skew : rows;
    for (size_t i = 0, mm; i < g->m; i += mm) {
        mm = min_size(i ? rows : first, g->m - i);
        const float *a = g->a + i;
        size_t a_ks = g->lda;
        nn_gemm_ukernel_fn kernel = kr->gemm_small_k;
        if (g->ta == NN_TRANS && plain && kr->gemm_small_k_at) {
            a = g->a + i * g->lda, kernel = kr->gemm_small_k_at;
        } else if (g->ta == NN_TRANS) {
            a = panel, a_ks = rows;
            pack_panel(kr, rows, mm, g->k, g->a + i * g->lda, g->lda, 0, panel);
        }
        kernel(mm, hi - lo, g->k, a, a_ks, g->b + lo * b_js, b_ks, b_js, g->c + i + lo * g->ldc, g->ldc, g->alpha,
               g->beta);
    }
    if (g->epilogue) g->epilogue(g->epilogue_ctx, 0, g->m, lo, hi);
}

/* ---- small products in one call (kernels.h gemm_whole) ----
 * One thread, K one block, A and B read in place as make_plan would read
 * them (so no packing is skipped), all of B in L1 and A within a quarter
 * of a small L2: the tiles compute_block would call, each element summed
 * as there (so the same bits), without a call per tile or a plan. */
#define WHOLE_MAX_A_FLOATS (64 * 1024)

static int takes_whole(const nn_kernels *kr, const nn_gemm_args *g, int threads)
{
    if (!kr->gemm_whole || threads != 1 || g->epilogue || g->split_k || g->ta != NN_NO_TRANS || g->lda > 512 ||
        g->k > kr->kc || g->m * g->k > WHOLE_MAX_A_FLOATS || (kr->gemm_ukernel_short && g->m <= kr->mr_short))
        return 0;
    if (!b_in_l1(g->ldb, g->tb == NN_NO_TRANS ? g->n : g->k) || (g->tb == NN_NO_TRANS && kr->pack_b_columns))
        return 0;
    const size_t last_cols = g->n % kr->nr;
    return (last_cols == 0 || (kr->b_cols_even && last_cols % 2 == 0)) &&
           (g->m % kr->mr == 0 || kr->a_rows_masked) && !worth_swapping(kr, g);
}

static void run_whole(const nn_kernels *kr, const nn_gemm_args *g)
{
    const size_t b_ks = g->tb == NN_NO_TRANS ? 1 : g->ldb, b_js = g->tb == NN_NO_TRANS ? g->ldb : 1;
    kr->gemm_whole(g->m, g->n, g->k, g->a, g->lda, g->b, b_ks, b_js, g->c, g->ldc, g->alpha, g->beta);
}

static void run_small_k(const nn_kernels *kr, const nn_gemm_args *g, int threads)
{
    const dot_job d = {.kr = kr, .g = g};
    nn_parallel_ranges(threads, g->n, g->m * g->k, small_k_columns, (void *)&d);
}

size_t nn_gemm_workspace(const nn_kernels *kr, const nn_gemm_args *g, int threads)
{
    if (always_skinny(g)) return 0;
    if (takes_dot(kr, g)) return dot_bytes(g, threads);
    if (takes_small_k(kr, g)) return 0;
    /* Sized for packing all of A, and for the product computed either way
     * round where op(B) = Bᵀ (whether Cᵀ is computed depends on ldb), so
     * callers may ask for a size before they know the leading dimensions. */
    size_t need = plan_workspace(kr, g, threads);
    if (g->tb == NN_TRANS) {
        nn_gemm_args other = *g;
        other.ldb = 1;          /* small enough for the swap to be considered */
        const size_t s1 = plan_workspace(kr, &other, threads);
        other.ldb = SIZE_MAX;   /* never swapped */
        const size_t s2 = plan_workspace(kr, &other, threads);
        if (s1 > need) need = s1;
        if (s2 > need) need = s2;
    }
    return need;
}

int nn_gemm_threads(const nn_kernels *kr, const nn_gemm_args *g, int threads)
{
    const double flops = 2.0 * (double)g->m * (double)g->n * (double)g->k;
    return nn_worth_threads(threads, kr, NN_WORK_FLOPS, flops, 0);
}

/* Store an MR x NR tile computed into `tile` (column-major, ld MR) to Cᵀ
 * (the ISA's register transposes where it has them: one by one, the store
 * was 14 % of NT 10x256x256). */
static void store_transposed(const plan *p, const float *tile, size_t mr, size_t m, size_t n,
                             size_t i0, size_t j0, float beta)
{
    if (p->kr->store_transposed) {
        p->kr->store_transposed(m, n, tile, mr, beta, p->c + i0 * p->ldc + j0, p->ldc);
        return;
    }
    for (size_t i = 0; i < m; i++) {
        float *row = p->c + (i0 + i) * p->ldc + j0; /* C(j0.., i0+i) */
        for (size_t j = 0; j < n; j++) {
            const float t = tile[i + j * mr];
            row[j] = beta == 0.0f ? t : t + beta * row[j];
        }
    }
}

static const float *a_at(const plan *p, size_t i, size_t pc)
{
    return p->ta == NN_NO_TRANS ? p->a + i + pc * p->lda : p->a + pc + i * p->lda;
}

/* All of op(A) = A packed, rows [i_lo, i_hi) of the columns [q_lo, q_hi),
 * each column copied down its length into every panel. Panel by panel
 * instead, each column's MR rows are a separate trip to memory: at lda =
 * 1024 every one lands on another page, out of the hardware prefetcher's
 * reach (1024³: packing A took 6 % of the product, a copy at 5 GB/s). */
static void pack_a_columns(const plan *p, size_t i_lo, size_t i_hi, size_t q_lo, size_t q_hi)
{
    const size_t mr = p->mr, m = p->m, mpad = round_up(m, mr), m_full = m / mr * mr;
    const size_t full_end = min_size(i_hi, m_full);
    for (size_t q = q_lo; q < q_hi; q++) {
        const size_t pc = q / p->kc * p->kc, kc = min_size(p->kc, p->k - pc);
        const float *col = p->a + q * p->lda;
        float *dst = p->apack + mpad * pc + (q - pc) * mr; /* panel i at i·kc */
        for (size_t i = i_lo; i < full_end; i += mr)
            for (size_t r = 0; r < mr; r++) dst[i * kc + r] = col[i + r];
        if (m_full < m && i_hi > m_full) {
            float *d = dst + m_full * kc;
            for (size_t i = m_full; i < m; i++) d[i - m_full] = col[i];
            for (size_t i = m; i < mpad; i++) d[i - m_full] = 0.0f;
        }
    }
}

/* Pack the panels of A (MR rows each) that start in rows [i_lo, i_hi), those
 * of index ≡ t (mod nt). Layout: for pack_a, K block pc holds round_up(m,
 * MR)·kc floats, panel i at i·kc; else the single partial panel, K block pc
 * at MR·pc. */
static void pack_a_part(const plan *p, size_t i_lo, size_t i_hi, int t, int nt)
{
    const size_t mr = p->mr, kc_max = p->kc;
    const size_t m_panels = (p->m + mr - 1) / mr, mpad = m_panels * mr;
    if (p->pack_a && p->ta == NN_NO_TRANS) { /* thread t: a range of K */
        pack_a_columns(p, i_lo, i_hi, p->k * (size_t)t / (size_t)nt, p->k * (size_t)(t + 1) / (size_t)nt);
        return;
    }
    const size_t edge = p->pack_a ? 0 : p->a_edge_in_place ? p->m : p->m / mr * mr;
    const size_t first = edge > i_lo ? edge : i_lo;
    size_t idx = 0;
    for (size_t pc = 0; pc < p->k; pc += kc_max) {
        const size_t kc = min_size(kc_max, p->k - pc);
        for (size_t i = first; i < i_hi; i += mr, idx++) {
            if ((int)(idx % (size_t)nt) != t) continue;
            float *dst = p->pack_a ? p->apack + mpad * pc + i * kc : p->apack + mr * pc;
            pack_panel(p->kr, mr, min_size(mr, p->m - i), kc, a_at(p, i, pc), p->lda, p->ta == NN_NO_TRANS, dst);
        }
    }
}

/* The product's K blocks k_begin..k_end (on block boundaries) for
 * C[i_begin:i_end, j_begin:j_end] (ranges on tile boundaries), into `c`
 * (ld ldc; p->c, or a partial for split_k) with `beta` for the first;
 * `final`: these blocks complete C, so each finished block goes to the
 * epilogue. */
typedef struct span {
    size_t i_begin, i_end, j_begin, j_end, k_begin, k_end;
    float *c;
    size_t ldc;
    float beta;
    int final;
} span;

static void compute_block(const plan *p, int t, const span *s)
{
    const nn_kernels *kr = p->kr;
    const size_t i_begin = s->i_begin, i_end = s->i_end, j_begin = s->j_begin, j_end = s->j_end;
    const size_t mr = p->mr, nr = kr->nr, kc_max = p->kc;
    const size_t mpad = round_up(p->m, mr), m_full = p->m / mr * mr;
    float *bpack = p->bpack + (size_t)t * p->bpack_stride;
    float tile[32 * 32]; /* >= MR·NR of every ISA (checked in test_gemm) */
    /* Where all the span's rows are one MC block, B's full panels by rows
     * (op(B) = Bᵀ) are packed by the first tile that reads them, under its
     * FMAs, rather than in a pass of their own that the FMAs wait for
     * (256x784x256 A·Bᵀ, one thread: 3 % faster). With more MC blocks the
     * pass is shared by them, and the first tile reading B in place was no
     * faster (1024³: 1-2 % slower). */
    const int fused_pack = p->pack_b && p->tb == NN_TRANS && !p->swapped && kr->gemm_ukernel_pack_b &&
                           p->ukernel == kr->gemm_ukernel && i_end - i_begin <= p->mc;

    for (size_t jc = j_begin; jc < j_end; jc += p->nc) {
        const size_t nc = min_size(p->nc, j_end - jc);
        for (size_t pc = s->k_begin; pc < s->k_end; pc += kc_max) {
            const size_t kc = min_size(kc_max, p->k - pc);
            const float beta = pc == s->k_begin ? s->beta : 1.0f;
            for (size_t ic = i_begin; ic < i_end; ic += p->mc) {
                const size_t mc = min_size(p->mc, i_end - ic);
                if (p->pack_b && ic == i_begin) {
                    for (size_t jr = 0; jr < nc; jr += nr) {
                        const size_t j = jc + jr;
                        if (fused_pack && nc - jr >= nr) continue;
                        const float *src = p->tb == NN_NO_TRANS ? p->b + pc + j * p->ldb
                                                                : p->b + j + pc * p->ldb;
                        pack_panel(p->kr, nr, min_size(nr, nc - jr), kc, src, p->ldb, p->tb == NN_TRANS, bpack + jr * kc);
                    }
                }
                for (size_t jr = 0; jr < nc; jr += nr) {
                    const size_t j = jc + jr, nn = min_size(nr, nc - jr);
                    const float *bp;
                    size_t b_ks, b_js;
                    if (p->pack_b) {
                        bp = bpack + jr * kc, b_ks = nr, b_js = 1;
                    } else if (nn == nr || (kr->b_cols_even && nn % 2 == 0)) { /* in place */
                        bp = p->tb == NN_NO_TRANS ? p->b + pc + j * p->ldb : p->b + j + pc * p->ldb;
                        b_ks = p->tb == NN_NO_TRANS ? 1 : p->ldb;
                        b_js = p->tb == NN_NO_TRANS ? p->ldb : 1;
                    } else { /* the partial panel: once per K block */
                        if (ic == i_begin) {
                            const float *src = p->tb == NN_NO_TRANS ? p->b + pc + j * p->ldb
                                                                    : p->b + j + pc * p->ldb;
                            pack_panel(p->kr, nr, nn, kc, src, p->ldb, p->tb == NN_TRANS, bpack);
                        }
                        bp = bpack, b_ks = nr, b_js = 1;
                    }
                    size_t ir = 0;
                    if (fused_pack && ic == i_begin && nn == nr) {
                        const size_t i = ic, mm = min_size(mr, mc);
                        const float *ap = p->pack_a ? p->apack + mpad * pc + i * kc : a_at(p, i, pc);
                        const size_t a_ks = p->pack_a ? mr : p->lda;
                        if (p->pack_a || i < m_full || p->a_edge_in_place) {
                            kr->gemm_ukernel_pack_b(mm, nn, kc, ap, a_ks, p->b + j + pc * p->ldb, p->ldb, 1,
                                                    s->c + i + j * s->ldc, s->ldc, p->alpha, beta, bpack + jr * kc);
                            ir = mr;
                        } else { /* the partial panel of A needs its own copy: pack B apart */
                            pack_panel(kr, nr, nn, kc, p->b + j + pc * p->ldb, p->ldb, 1, bpack + jr * kc);
                        }
                    }
                    for (; ir < mc; ir += mr) {
                        const size_t i = ic + ir, mm = min_size(mr, mc - ir);
                        const float *ap;
                        size_t a_ks = mr;
                        if (p->pack_a) ap = p->apack + mpad * pc + i * kc;
                        else if (i < m_full || p->a_edge_in_place) ap = a_at(p, i, pc), a_ks = p->lda;
                        else ap = p->apack + mr * pc;
                        if (!p->swapped) {
                            p->ukernel(mm, nn, kc, ap, a_ks, bp, b_ks, b_js, s->c + i + j * s->ldc,
                                       s->ldc, p->alpha, beta);
                        } else if (p->ukernel_t) {
                            p->ukernel_t(mm, nn, kc, ap, a_ks, bp, b_ks, b_js, p->c + i * p->ldc + j, p->ldc,
                                         p->alpha, beta);
                        } else {
                            p->ukernel(mm, nn, kc, ap, a_ks, bp, b_ks, b_js, tile, mr, p->alpha, 0.0f);
                            store_transposed(p, tile, mr, mm, nn, i, j, beta);
                        }
                    }
                    if (p->epilogue && s->final && pc + kc >= s->k_end) {
                        if (!p->swapped) p->epilogue(p->epilogue_ctx, ic, ic + mc, j, j + nn);
                        else p->epilogue(p->epilogue_ctx, j, j + nn, ic, ic + mc);
                    }
                }
            }
        }
    }
}

/* Split K: thread t computes K blocks [nb·t/nt, nb·(t+1)/nt) over all of C.
 * Thread 0 accumulates its blocks into C as the unsplit product would; the
 * other threads write each block to its own partial (alpha·Σ over the
 * block), and after a barrier the partials are added to C in block order,
 * split by columns, each thread passing its columns to the epilogue. Each
 * block's sum and each addition are the unsplit product's own operations in
 * its own order (c + alpha·acc, one rounding each), so the result is
 * bitwise the same for any thread count. Used where A is a layer's W, whose
 * columns the same threads update: each thread then reads only its own
 * columns of W (its K blocks). */
static void run_split_k(const plan *p, int t, int nt)
{
    const size_t blocks = (p->k + p->kc - 1) / p->kc, first_other = blocks / (size_t)nt;
    const size_t lo = blocks * (size_t)t / (size_t)nt, hi = blocks * (size_t)(t + 1) / (size_t)nt;
    const size_t mn = p->m * p->n;
    span s = {.i_end = p->m, .j_end = p->n, .k_begin = lo * p->kc, .k_end = min_size(hi * p->kc, p->k)};
    if (t == 0) {
        s.c = p->c, s.ldc = p->ldc, s.beta = p->beta;
        compute_block(p, t, &s);
    } else {
        for (size_t b = lo; b < hi; b++) {
            s.k_begin = b * p->kc, s.k_end = min_size(s.k_begin + p->kc, p->k);
            s.c = p->partial + (b - first_other) * mn, s.ldc = p->m, s.beta = 0.0f;
            compute_block(p, t, &s);
        }
    }
#ifdef _OPENMP
#pragma omp barrier
#endif
    const size_t j0 = p->n * (size_t)t / (size_t)nt, j1 = p->n * (size_t)(t + 1) / (size_t)nt;
    for (size_t b = first_other; b < blocks; b++) {
        const float *part = p->partial + (b - first_other) * mn;
        for (size_t j = j0; j < j1; j++) {
            float *c = p->c + j * p->ldc;
            const float *q = part + j * p->m;
            for (size_t i = 0; i < p->m; i++) c[i] += q[i];
        }
    }
    if (p->epilogue && j0 < j1) p->epilogue(p->epilogue_ctx, 0, p->m, j0, j1);
}

/* All threads pack A's panels together, then wait for each other. */
static void pack_a_shared(const plan *p, int t, int nt)
{
    pack_a_part(p, 0, p->m, t, nt);
#ifdef _OPENMP
    if (nt > 1) {
#pragma omp barrier
    }
#endif
}

/* Whether, split by columns, the busiest of k threads has over a quarter
 * more FMAs than split by rows: panel counts miss a short last panel (the
 * kernels skip the FMAs of its missing columns, rounded up to even, where
 * a partial row panel's rows are masked, not skipped). 256x16 on 2
 * threads, by columns 12 + 4, by rows 128 + 128: a one-sample forward's
 * first layer at batch 16, 41 -> 35 us for the network (784-256-128-10). */
static int uneven_columns(const plan *p, size_t mpan, size_t npan, size_t k)
{
    const size_t mr = p->mr, nr = p->kr->nr;
    size_t busiest = 0;
    for (size_t t = 0; t < k; t++) {
        const size_t c0 = min_size(npan * t / k * nr, p->n), c1 = min_size(npan * (t + 1) / k * nr, p->n);
        if (round_up(c1 - c0, 2) > busiest) busiest = round_up(c1 - c0, 2);
    }
    const size_t by_rows = (mpan + k - 1) / k * mr * round_up(p->n, 2), by_cols = busiest * mpan * mr;
    return by_rows * 5 < by_cols * 4;
}

static void run_thread(const plan *p, int t, int nt)
{
    if (p->split_k) {
        if (p->apack) pack_a_shared(p, t, nt);
        if (nt == p->threads) {
            run_split_k(p, t, nt);
        } else if (t == 0) { /* a smaller team than planned: thread 0 does it all, same bits */
            const span s = {.i_end = p->m, .j_end = p->n, .k_end = p->k, .c = p->c, .ldc = p->ldc,
                            .beta = p->beta, .final = 1};
            compute_block(p, t, &s);
        }
        return;
    }
    /* Threads split C on tile boundaries, so the tile grid, and with it every
     * element's summation order, is the same for any nt: by columns, or by
     * rows where the row panels divide more evenly (e.g. 256 x 128: 8 row
     * panels split 4 + 4, 11 column panels 5 + 6); then each thread packs
     * just its own rows of A and nobody waits (TN 256x128x64 on 2 threads:
     * 20.9 -> 17.1 us). Ties go by columns: by rows, the threads write the
     * two halves of every column of C, and at k = 10 (TN 256x256x10) that
     * took twice as long, C's lines apparently moving between the cores.
     * Except where A is packed, shared, and all its rows one MC block: by
     * columns, each thread streams all of A once per column panel, half of
     * it packed by the other core behind a barrier (TN 256³ on 2 threads:
     * 114 us by columns, 81 by rows). Cut into MC blocks, a larger A is
     * better shared (1024³ NT and TN: 2-3 % faster by columns). */
    const size_t mr = p->mr, nr = p->kr->nr;
    const size_t npan = (p->n + nr - 1) / nr, mpan = (p->m + mr - 1) / mr, k = (size_t)nt;
    const size_t rows_cost = (mpan + k - 1) / k * npan, cols_cost = (npan + k - 1) / k * mpan;
    const int a_shared_one_block = p->pack_a && !p->a_private && mpan * mr <= p->mc;
    const int by_rows = nt > 1 && (rows_cost < cols_cost || (rows_cost == cols_cost && a_shared_one_block) ||
                                   uneven_columns(p, mpan, npan, k));
    const size_t pan = by_rows ? mpan : npan, step = by_rows ? mr : nr, len = by_rows ? p->m : p->n;
    const size_t lo = pan * (size_t)t / k, hi = pan * (size_t)(t + 1) / k;
    const size_t b = lo * step, e = min_size(hi * step, len);
    plan own;
    if (p->apack) {
        if (by_rows) {
            pack_a_part(p, b, e, 0, 1);
        } else if (p->a_private) {
            if (b >= e) return;
            own = *p;
            own.apack += (size_t)t * apack_stride(p);
            p = &own;
            pack_a_part(p, 0, p->m, 0, 1);
        } else {
            pack_a_shared(p, t, nt);
        }
    }
    if (b >= e) return;
    span s = {.i_begin = 0, .i_end = p->m, .j_begin = 0, .j_end = p->n, .k_end = p->k, .c = p->c,
              .ldc = p->ldc, .beta = p->beta, .final = 1};
    if (by_rows) s.i_begin = b, s.i_end = e;
    else s.j_begin = b, s.j_end = e;
    compute_block(p, t, &s);
}

static void scale_c(const nn_gemm_args *g)
{
    for (size_t j = 0; j < g->n; j++) {
        float *col = g->c + j * g->ldc;
        for (size_t i = 0; i < g->m; i++) col[i] = g->beta == 0.0f ? 0.0f : g->beta * col[i];
    }
}

/* ---- skinny products: no packing, no tiles ----
 * An outer product (k = 1) is a scaled copy of op(A) per column of C, and a
 * row-vector product (m = 1, op(B) = B) a dot product per column: in a
 * 32 x 12 tile they would be 1/12 or 1/32 useful work plus the planning and
 * packing (nnbench, 20x1000x1 and 1x1000x20). Each element of C is computed
 * on its own, so any split over columns gives the same bits. */
typedef struct skinny_job {
    const nn_kernels *kr;
    const nn_gemm_args *g;
    const float *a; /* op(A) as a contiguous vector: its column (k = 1) or row (m = 1) */
} skinny_job;

static void outer_columns(void *ctx, size_t lo, size_t hi)
{
    const skinny_job *s = ctx;
    const nn_gemm_args *g = s->g;
    const size_t incb = g->tb == NN_NO_TRANS ? g->ldb : 1;
    s->kr->ger(g->m, hi - lo, g->alpha, s->a, g->b + lo * incb, incb, g->beta, g->c + lo * g->ldc, g->ldc);
}

static void dot_columns(void *ctx, size_t lo, size_t hi)
{
    const skinny_job *s = ctx;
    const nn_gemm_args *g = s->g;
    s->kr->gemv_t(g->k, hi - lo, g->alpha, s->a, g->b + lo * g->ldb, g->ldb, g->beta, g->c + lo * g->ldc, g->ldc);
}

/* Whether run_skinny takes this product (it needs no workspace). */
static int takes_skinny(const nn_gemm_args *g)
{
    return !g->epilogue && !g->split_k &&
           ((g->k == 1 && (g->ta == NN_NO_TRANS || g->m == 1 || g->lda == 1)) ||
            (g->m == 1 && g->k <= SKINNY_MAX_K && g->tb == NN_NO_TRANS && (g->ta == NN_TRANS || g->lda == 1)));
}

/* A product takes_skinny accepted: op(A)'s one column (A's column, or Aᵀ's
 * row with lda 1) times a row, or op(A)'s one row (Aᵀ's column, or A's row
 * with lda 1) times B. */
static void run_skinny(const nn_kernels *kr, const nn_gemm_args *g, int threads)
{
    skinny_job s = {.kr = kr, .g = g, .a = g->a};
    if (g->k == 1 && (g->ta == NN_NO_TRANS || g->m == 1 || g->lda == 1))
        nn_parallel_ranges(threads, g->n, g->m, outer_columns, &s);
    else
        nn_parallel_ranges(threads, g->n, g->k, dot_columns, &s);
}

/* 1 if the product needs no plan: empty, C only scaled, or skinny (run
 * here when `run`). */
static int trivial(const nn_kernels *kr, const nn_gemm_args *g, int threads, int run)
{
    if (g->m == 0 || g->n == 0) return 1;
    if (g->k == 0 || g->alpha == 0.0f) {
        if (run) {
            scale_c(g);
            if (g->epilogue) g->epilogue(g->epilogue_ctx, 0, g->m, 0, g->n);
        }
        return 1;
    }
    if (!takes_skinny(g)) return 0;
    if (run) run_skinny(kr, g, threads);
    return 1;
}

static void run_plan(plan *p, int threads, void *work)
{
    uintptr_t base = ((uintptr_t)work + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    const size_t a_floats = apack_stride(p) * (p->a_private ? (size_t)threads : 1);
    p->apack = a_floats ? (float *)base : NULL;
    p->bpack = (float *)base + a_floats;
    p->partial = p->bpack + (size_t)threads * p->bpack_stride;
#ifdef _OPENMP
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
        {
            nn_bind_team();
            run_thread(p, omp_get_thread_num(), omp_get_num_threads());
        }
        return;
    }
#endif
    run_thread(p, 0, 1);
}

/* Runs a product that takes a path of its own beside the blocked plan
 * (empty, scaled C, skinny, few rows, short K): 1 if done, 0 if `size` is
 * too small for it, -1 if its size overflows; 2 if it needs a plan. */
static int run_unplanned(const nn_kernels *kr, const nn_gemm_args *g, int threads, void *work, size_t size)
{
    if (trivial(kr, g, threads, 1)) return 1;
    if (takes_dot(kr, g)) {
        const size_t need = dot_bytes(g, threads);
        if (need == SIZE_MAX) return -1;
        if (size < need || (!work && need)) return 0;
        run_dot(kr, g, threads, work);
        return 1;
    }
    if (takes_small_k(kr, g)) {
        run_small_k(kr, g, threads);
        return 1;
    }
    if (takes_whole(kr, g, threads)) {
        run_whole(kr, g);
        return 1;
    }
    return 2;
}

void nn_gemm_run(const nn_kernels *kr, const nn_gemm_args *g, int threads, void *work)
{
    if (run_unplanned(kr, g, threads, work, SIZE_MAX) != 2) return;
    plan p;
    make_plan(kr, g, threads, &p);
    run_plan(&p, threads, work);
}

size_t nn_gemm_need(const nn_kernels *kr, const nn_gemm_args *g, int threads)
{
    if (trivial(kr, g, threads, 0)) return 0;
    if (takes_dot(kr, g)) return dot_bytes(g, threads);
    if (takes_small_k(kr, g) || takes_whole(kr, g, threads)) return 0;
    return plan_workspace(kr, g, threads);
}

int nn_gemm_run_within(const nn_kernels *kr, const nn_gemm_args *g, int threads, void *work, size_t size)
{
    const int done = run_unplanned(kr, g, threads, work, size);
    if (done != 2) return done;
    plan p;
    make_plan(kr, g, threads, &p);
    const size_t need = plan_bytes(kr, &p, threads);
    if (need == SIZE_MAX) return -1;
    if (size < need || !work) return 0;
    run_plan(&p, threads, work);
    return 1;
}
