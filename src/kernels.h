/*
 * The kernel table: every heavy operation of the library goes through one of
 * these, chosen once per process in dispatch.c. Each ISA folder in src/arch/
 * provides one table; nothing else in the library knows which ISA runs.
 *
 * All vectors are contiguous float arrays of length n unless a leading
 * dimension is given. Kernels are pure: no allocation, no global state.
 */
#ifndef NN_KERNELS_H
#define NN_KERNELS_H

#include <stddef.h>

#include "nn.h"

/* C[0:m, 0:n] = alpha·(A·B) + beta·C for one MR x NR tile, over k steps:
 * step p reads MR consecutive floats of A at a + p·a_ks, and B(p, j) at
 * b + p·b_ks + j·b_js for j < NR. A packed panel has a_ks = MR; a column-major
 * A is read in place with a_ks = lda. B is packed (b_ks = NR, b_js = 1), or
 * read in place by rows (b_ks = ldb, b_js = 1) or columns (b_ks = 1,
 * b_js = ldb). All MR x NR values are read unless the table says otherwise
 * (a_rows_masked, b_cols_even): the driver packs partial panels with zero
 * padding; m <= MR and n <= NR say how much of the tile is stored. beta == 0
 * means C is not read. */
typedef void (*nn_gemm_ukernel_fn)(size_t m, size_t n, size_t k, const float *a, size_t a_ks,
                                   const float *b, size_t b_ks, size_t b_js, float *c,
                                   size_t ldc, float alpha, float beta);

/* Pack op(A) = Aᵀ rows 0..m-1 (row i contiguous at x + i·ld), K length kc,
 * into one MR-row panel dst[p·MR + i], rows m..mr-1 zero (m <= mr). */
typedef void (*nn_pack_a_transposed_fn)(size_t mr, size_t m, size_t kc, const float *x, size_t ld,
                                        float *dst);

/* Store a tile of a transposed product: C(i, j) = T(i, j) for i < m, j < n,
 * or T(i, j) + beta·C(i, j) (a product, then a sum: the bits of gemm.c's
 * own loop) when beta != 0; T is column-major (T(i, j) at tile[i + j·ld])
 * and C row-major (c[i·ldc + j]). */
typedef void (*nn_store_transposed_fn)(size_t m, size_t n, const float *tile, size_t ld, float beta, float *c,
                                       size_t ldc);

typedef void (*nn_unary_fn)(size_t n, const float *x, float *y);

/* A network small enough for the small-network path (small.c): at most
 * NN_SMALL_MAX_LAYERS layers of at most NN_SMALL_MAX_UNITS units. */
#define NN_SMALL_MAX_LAYERS 8
#define NN_SMALL_MAX_UNITS 64
typedef struct nn_small_layer {
    size_t in, out;
    nn_activation act; /* not softmax */
    const float *w, *b; /* W: out x in, ld = out */
} nn_small_layer;
typedef struct nn_small_net {
    size_t n_layers, max_units, n_params; /* parameters laid out W0 b0 W1 b1 ... */
    nn_small_layer layers[NN_SMALL_MAX_LAYERS];
} nn_small_net;

typedef struct nn_kernels {
    nn_isa isa;
    size_t mr, nr; /* micro-tile of gemm_ukernel */
    size_t kc;     /* largest K block (gemm.c cuts K into equal blocks of at most this);
                      fixed per ISA since it fixes the summation order */
    nn_gemm_ukernel_fn gemm_ukernel;
    /* optional: a tile of mr_short (< mr) rows and the same nr, used when a
     * whole product has at most mr_short rows; NULL if the ISA has none */
    size_t mr_short;
    nn_gemm_ukernel_fn gemm_ukernel_short;
    /* optional: gemm_ukernel and gemm_ukernel_short storing their tile
     * transposed, C(i, j) at c[i·ldc + j] (a swapped product, gemm.c), each
     * element rounded as a tile of the plain kernel with beta 0 followed by
     * store_transposed rounds it; NULL: that tile and store */
    nn_gemm_ukernel_fn gemm_ukernel_t, gemm_ukernel_short_t;
    /* optional: a whole product of gemm_ukernel's tiles in one call, any m
     * and n (column panels of nr, row tiles of mr), k <= kc, operands read
     * in place as gemm_ukernel reads them (a_ks = lda; the last row tile
     * masked, the last column panel of an even width): every element rounded
     * as gemm_ukernel rounds it. For products whose tiles take a few
     * microseconds: at 64³ on Zen 5 the plan, the driver's loops and a call
     * per tile added 155 ns to the tiles' 2490, one call adds 45; NULL: the
     * driver's loops */
    nn_gemm_ukernel_fn gemm_whole;
    /* optional: gemm_ukernel for a full tile (n = nr) reading B by rows in
     * place (b_js = 1, b_ks = ldb) that also writes B's panel packed to
     * b_packed (row p at b_packed + p·nr), each element rounded as
     * gemm_ukernel rounds it: the first tile of a panel packs it for the
     * rest while its FMAs run. NULL: the driver packs first */
    void (*gemm_ukernel_pack_b)(size_t m, size_t n, size_t k, const float *a, size_t a_ks, const float *b,
                                size_t b_ks, size_t b_js, float *c, size_t ldc, float alpha, float beta,
                                float *b_packed);
    /* optional: C[0:m, 0:n] = alpha·A·B + beta·C for m <= small_k_rows and
     * k <= small_k_max, any n, operands as for gemm_ukernel (A's first m
     * rows only, B's first n columns only); each element rounded exactly as
     * gemm_ukernel rounds it. NULL if the ISA has none */
    size_t small_k_rows, small_k_max;
    nn_gemm_ukernel_fn gemm_small_k;
    /* optional: gemm_small_k's plain product (b_ks 1, alpha 1, beta 0; the
     * arguments are ignored) with op(A) given by rows, row i at a + i·a_ks
     * with its k elements contiguous: op(A) = Aᵀ read in place, each
     * element rounded as gemm_small_k rounds it. NULL: gemm.c packs A */
    nn_gemm_ukernel_fn gemm_small_k_at;
    /* optional: a faster transposing pack of A; NULL: gemm.c's own loop */
    nn_pack_a_transposed_fn pack_a_transposed;
    /* optional: a faster store_transposed; NULL: gemm.c's own loop */
    nn_store_transposed_fn store_transposed;
    /* 1 if the micro-kernel is slow reading B by columns, so B is always
     * packed for op(B) = B (the portable one: its compiler-vectorized loop) */
    int pack_b_columns;
    /* 1 if the micro-kernels read only A's first m rows (masked loads), so a
     * last, partial MR panel of A can be read in place instead of packed */
    int a_rows_masked;
    /* 1 if the micro-kernels read only B's first n columns when n is even,
     * so a partial NR panel of an even width is read in place, not packed */
    int b_cols_even;

    /* y = g(x), elementwise; x == y allowed. The softmax slot is unused. */
    nn_unary_fn activate[NN_ACTIVATION_COUNT];
    /* dz = da ⊙ g'(a), the derivative written in terms of the output a = g(z)
     * (ReLU and leaky ReLU: z > 0 ⇔ a > 0); dz == da allowed. */
    void (*activate_backward[NN_ACTIVATION_COUNT])(size_t n, const float *a,
                                                   const float *da, float *dz);
    /* a = softmax(z) of one column of n rows; returns log Σ exp(z) (the
     * log-sum-exp, computed max-subtracted); z == a allowed. */
    float (*softmax)(size_t n, const float *z, float *a);
    /* z[:, j] = g(z[:, j] + bias) for j < cols; z is rows x cols, contiguous. */
    void (*bias_activate[NN_ACTIVATION_COUNT])(size_t rows, size_t cols, const float *bias,
                                               float *z);

    /* Reductions, each over at most NN_SUM_BLOCK elements (callers combine
     * blocks pairwise, see reduce.c). */
    float (*sum_sq_diff)(size_t n, const float *a, const float *y); /* Σ (a−y)² */
    float (*dot)(size_t n, const float *x, const float *y);          /* Σ x·y   */
    float (*sum)(size_t n, const float *x);                          /* Σ x     */
    /* 1 if none of x[0..n) is Inf or NaN (any n) */
    int (*all_finite)(size_t n, const float *x);
    /* out[i] += Σ_{j<cols} x[i + j·ld], i < rows: sums columns */
    void (*add_columns)(size_t rows, size_t cols, const float *x, size_t ld, float *out);

    /* out = (a − y)·s */
    void (*sub_scale)(size_t n, const float *a, const float *y, float s, float *out);
    /* y += alpha·x */
    void (*axpy)(size_t n, float alpha, const float *x, float *y);
    /* Skinny GEMMs (gemm.c), beta == 0: C not read.
     * ger: C[:, j] = (alpha·b[j·incb])·a + beta·C[:, j] for j < n (m rows).
     * gemv_t: c[j·incc] = alpha·Σ_p a[p]·B[p, j] + beta·c[j·incc] for j < n
     * (B: k x n, ld ldb). Not reductions in the library's pairwise order:
     * for k up to a few thousand. */
    void (*ger)(size_t m, size_t n, float alpha, const float *a, const float *b, size_t incb, float beta,
                float *c, size_t ldc);
    void (*gemv_t)(size_t k, size_t n, float alpha, const float *a, const float *b, size_t ldb, float beta,
                   float *c, size_t incc);
    /* v = mu·v + (g + wd·w); w −= lr·v */
    void (*momentum_update)(size_t n, float lr, float mu, float wd, const float *g, float *v,
                            float *w);
    /* m = b1·m + (1−b1)·g'; v = b2·v + (1−b2)·g'²; w −= step·m / (sqrt(v) + eps),
     * with g' = g + wd·w */
    void (*adam_update)(size_t n, float step, float b1, float b2, float eps, float wd,
                        const float *g, float *m, float *v, float *w);

    /* The small-network path over m columns of X (inputs x m) in blocks of
     * small_block columns: writes the output layer's activations to `out`
     * (if not NULL, ld ldo); with Y (MSE against it), also the sum over the
     * columns of the gradient of Σ(A − Y)²·scale/2 (n_params floats, the
     * parameters' layout) to `grad`, and Σ(A − Y)² to *cost. `work` holds
     * nn_small_work_floats() floats. */
    size_t small_block; /* 4 vectors */
    void (*small_run_chunk)(const nn_small_net *net, size_t m, const float *x, size_t ldx,
                            const float *y, size_t ldy, float scale, float *out, size_t ldo,
                            float *grad, float *cost, float *work);

    /* Products of at most NN_DOT_MAX_ROWS rows as dot products along K:
     * C(i, j) = alpha·Σ_p at[i·ldat + p]·b[p + j·ldb] + beta·C(i, j) for
     * i < m, j < n (C column-major, ld ldc; beta == 0: C not read). Tiles
     * of gemm_dot_cols columns from column 0: callers that split the
     * columns on multiples of it get the same bits for any split. */
    void (*gemm_dot)(size_t m, size_t n, size_t k, const float *at, size_t ldat, const float *b, size_t ldb,
                     float alpha, float beta, float *c, size_t ldc);
    size_t gemm_dot_cols;

    /* Y = g(W·X + b) for a few columns (inference): Y is rows x n (ld ldy),
     * W rows x k (ld ldw), X k x n (ld ldx); g elementwise (not softmax).
     * W is streamed once per VF_ACC/2 columns (at most 8). */
    void (*layer_few_columns)(size_t rows, size_t k, const float *w, size_t ldw, const float *b,
                              nn_activation act, const float *x, size_t ldx, size_t n, float *y,
                              size_t ldy);
    /* The most columns for which layer_few_columns beats the blocked GEMM
     * (predict.c): 8 where it has vectors, 1 on the scalar ISA. */
    size_t few_columns_max;

    /* For nnbench: `lanes` floats per vector, and a loop of 12 independent
     * FMA chains run `iterations` times (24·lanes flops per iteration). */
    size_t lanes;
    float (*fma_probe)(size_t iterations);
    /* and x[0..n) read `passes` times, returning the sum of what it read */
    float (*read_probe)(size_t n, const float *x, size_t passes);
} nn_kernels;

/* The row count up to which gemm.c computes a product as dot products
 * (gemm_dot): below the short tile's 16 rows, its padding costs more than
 * the horizontal sums. */
#define NN_DOT_MAX_ROWS 12

/* Longest run a reduction kernel sums on its own (a multiple of every vector
 * width); longer inputs are split in halves recursively. */
#define NN_SUM_BLOCK 512

/* The per-ISA tables (defined in src/arch/<isa>/). */
extern const nn_kernels nn_kernels_scalar;
#if defined(NN_HAVE_X86)
extern const nn_kernels nn_kernels_avx2;
extern const nn_kernels nn_kernels_avx512;
#endif
#if defined(NN_HAVE_NEON)
extern const nn_kernels nn_kernels_neon;
#endif

#endif /* NN_KERNELS_H */
