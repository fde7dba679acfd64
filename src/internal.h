/* Declarations shared by the library's portable sources; not installed. */
#ifndef NN_INTERNAL_H
#define NN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"
#include "nn.h"

/* The kernels of the ISA in use (dispatch.c, the one place that knows
 * which ISA runs); never NULL. */
const nn_kernels *nn_kernels_active(void);
/* The table for `isa`, or NULL if it is not compiled in or not runnable. */
const nn_kernels *nn_kernels_for(nn_isa isa);

/* Machine facts read once (topology.c). */
typedef struct nn_machine {
    nn_topology topo;
    double seconds_per_thread; /* the thread policy's unit (nn_worth_threads) */
} nn_machine;
const nn_machine *nn_machine_get(void); /* read at first use; never fails */
/* The CPUs' worth of time per period that the cgroups named in
 * `proc_cgroup` (as /proc/self/cgroup) allow, mounted as `mountinfo` (as
 * /proc/self/mountinfo) says: the least CFS quota over the process's
 * cgroup and its ancestors (v2 cpu.max, v1 cpu.cfs_quota_us over
 * cpu.cfs_period_us), rounded up; 0 without a limit or where none can be
 * read. */
int nn_cgroup_cpu_limit(const char *proc_cgroup, const char *mountinfo);
/* Pin the calling OpenMP team's threads to cores (no-op if disabled). */
void nn_bind_team(void);

/* a·b into *out; 0 on overflow. */
static inline int nn_mul_size(size_t a, size_t b, size_t *out)
{
    if (b != 0 && a > SIZE_MAX / b) return 0;
    *out = a * b;
    return 1;
}
static inline int nn_add_size(size_t a, size_t b, size_t *out)
{
    if (a > SIZE_MAX - b) return 0;
    *out = a + b;
    return 1;
}
/* Check that a rows x cols matrix with leading dimension ld is well formed
 * and addressable: NN_OK, NN_ERR_INVALID_ARGUMENT or NN_ERR_OVERFLOW. */
nn_status nn_check_matrix(const void *p, size_t rows, size_t cols, size_t ld);

/* Index of `name` in names[0..count), or -1 (also for NULL). */
int nn_name_index(const char *const *names, int count, const char *name);

/* ---- GEMM (gemm.c) ---- */
/* Called by the thread that computed C[i0:i1, j0:j1] once that block holds
 * its final value, while it is still in cache. Blocks are disjoint and
 * each is passed once; a thread passes its own in the order it computes
 * them, typically NR columns (MR·k rows) at a time. */
typedef void (*nn_gemm_epilogue_fn)(void *ctx, size_t i0, size_t i1, size_t j0, size_t j1);

typedef struct nn_gemm_args {
    nn_transpose ta, tb;
    size_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    size_t lda, ldb, ldc;
    nn_gemm_epilogue_fn epilogue; /* optional */
    void *epilogue_ctx;
    /* May split K across threads (whole K blocks, same bits as unsplit;
     * gemm.c run_split_k): for W·A, where each thread then reads only the
     * columns of W that it updates in the dW epilogue. */
    int split_k;
} nn_gemm_args;

size_t nn_gemm_workspace(const nn_kernels *kr, const nn_gemm_args *g, int threads);
/* Arguments already validated; `work` holds nn_gemm_workspace() bytes. */
void nn_gemm_run(const nn_kernels *kr, const nn_gemm_args *g, int threads, void *work);
/* The bytes this very product needs (nn_gemm_workspace covers every leading
 * dimension; this one plan is cheaper per call: 0 for products that need
 * none, SIZE_MAX on overflow), and nn_gemm_run that plans once, checks
 * `size` against that need and runs: 1; 0 (nothing done) if it is short,
 * −1 if the need overflows. */
size_t nn_gemm_need(const nn_kernels *kr, const nn_gemm_args *g, int threads);
int nn_gemm_run_within(const nn_kernels *kr, const nn_gemm_args *g, int threads, void *work, size_t size);
/* Threads worth using for this product: 1 below the size where the fork/join
 * costs more than it saves. */
int nn_gemm_threads(const nn_kernels *kr, const nn_gemm_args *g, int threads);

/* ---- reductions (reduce.c): pairwise over NN_SUM_BLOCK-sized kernel calls ---- */
float nn_reduce_sum_sq_diff(const nn_kernels *kr, size_t n, const float *a, const float *y);
float nn_reduce_dot(const nn_kernels *kr, size_t n, const float *x, const float *y);
float nn_reduce_sum(const nn_kernels *kr, size_t n, const float *x);
/* out[i] = Σ_j x[i + j·ld]: columns summed in blocks, blocks added pairwise;
 * `scratch` holds 2·rows·ceil(log2(cols/block)+1) floats (nn_column_sum_scratch). */
size_t nn_column_sum_scratch(size_t rows, size_t cols);
void nn_reduce_columns(const nn_kernels *kr, size_t rows, size_t cols, const float *x,
                       size_t ld, float *out, float *scratch);

/* SplitMix64: the library's one random generator (initialization, shuffling);
 * the same seed gives the same stream on every machine. */
static inline uint64_t nn_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Run fn(ctx, lo, hi) over [0, n) in contiguous parts on up to `threads`
 * threads, fewer when n·cost_per_item is small (parallel.c). */
typedef void (*nn_range_fn)(void *ctx, size_t lo, size_t hi);
void nn_parallel_ranges(int threads, size_t n, size_t cost_per_item, nn_range_fn fn, void *ctx);
/* The same in chunks of `chunk` items handed out as threads come free: for
 * memory-bound work whose speed differs between threads (the minibatch
 * gather runs twice as long on the worker thread as on the caller's, on
 * this project's machine, for no reason visible in the code). */
void nn_parallel_chunks(int threads, size_t n, size_t chunk, size_t cost_per_item, nn_range_fn fn,
                        void *ctx);

/* Memory on cache-line boundaries for the buffers that threads split:
 * with malloc's 16-byte alignment, every column boundary of a matrix split
 * by rows falls inside a line that both threads write, and each such line
 * then moves between the cores on every step (seen: 2x slower training
 * where the two cores sit far apart). `zero` clears it. NULL on failure
 * or overflow; free with nn_free_lines (NULL: no-op). */
#define NN_CACHE_LINE 64
void *nn_alloc_lines(size_t bytes, int zero);
void nn_free_lines(void *p);
/* n floats rounded up to whole cache lines (n ≤ SIZE_MAX / 8 assumed). */
static inline size_t nn_line_floats(size_t n)
{
    const size_t per = NN_CACHE_LINE / sizeof(float);
    return (n + per - 1) / per * per;
}

/* Resolve the thread count (0: the machine default). */
int nn_resolve_threads(int threads);

/* The thread policy (topology.c): one cost model for every decision. Work
 * of each kind is turned into seconds on one core of the ISA that runs it
 * (nn_work_seconds: the amount over a rate that scales with the ISA's
 * vector lanes); a thread is worth its fork/join and barriers only with at
 * least the machine's seconds_per_thread of work (NN_SECONDS_PER_THREAD, or
 * more where starting a team is measured to cost more). nn_worth_threads:
 * for `amount` of `kind` on kr's ISA, at most `threads` (already resolved),
 * at most `parts` (0: no limit), at least 1; one thread asked for returns
 * at once, the amount unpriced (a 20x100x1 product takes 70 ns, and the
 * division was 3 % of it). */
typedef enum nn_work_kind {
    NN_WORK_FLOPS,    /* a blocked GEMM's floating-point operations */
    NN_WORK_ELEMENTS, /* elementwise steps, reductions, gathers: element-passes */
    NN_WORK_MACS      /* nn_predict's layers over a few columns: multiply-adds streaming W */
} nn_work_kind;
#define NN_SECONDS_PER_THREAD 4e-6
double nn_work_seconds(const nn_kernels *kr, nn_work_kind kind, double amount);
int nn_worth_threads(int threads, const nn_kernels *kr, nn_work_kind kind, double amount, size_t parts);

#endif /* NN_INTERNAL_H */
