/*
 * nnbench: how fast is nn on this machine, in ratios measured in one run.
 *
 * Rows (Google Benchmark names, filter with --benchmark_filter):
 *   peak/<isa>/t<T>                    FMA peak probe, GFLOP/s
 *   gemm/naive/<form>/<MxNxK>          the naive reference (nn_sgemm_naive)
 *   gemm/openblas/t<T>/<form>/<MxNxK>  cblas_sgemm, when OpenBLAS was found at build
 *   gemm/onednn/t<T>/<form>/<MxNxK>    dnnl_sgemm, when oneDNN was found at build
 *   gemm/<isa>/t<T>/<form>/<MxNxK>     nn_sgemm: x_naive, pct_peak, x_openblas,
 *                                      x_onednn, x_best_peer (the faster of the two;
 *                                      timed interleaved, see paired_peers)
 *   infer/<peer>/t<T>/<net>/b<B>       the forward products alone (no bias, no g):
 *                                      cblas_sgemv (B = 1) or _sgemm, dnnl_sgemm
 *   read/<isa>/t<T>/<net>              the read probe over as many bytes as the
 *                                      net's weights, each thread its share: GB/s
 *   infer/<isa>/t<T>/<net>/b<B>        nn_predict: us_per_call, weight_GB/s,
 *                                      pct_read (of the read row), x_best_peer
 *                                      (the peers at T threads, interleaved)
 *   serve/<who>/c<C>/<net>/b<B>        C callers at once, each one thread, on one
 *                                      shared model (nn_predict, or the peers'
 *                                      products): calls/s in all, us_per_call,
 *                                      x_c1 (the same row at C = 1), x_best_peer
 *   act/<isa>/<op>/<n>, reduce/<isa>/<op>/<n>   elements/s, x_scalar
 *   train/naive/<net>/b<B>             the naive reference training step
 *   train/<isa>/t<T>/<net>/b<B>        nn_train_step (SGD), samples/s, x_naive
 * Any row whose thread had the CPU for under 90 % of its time also gets
 * off_cpu (the share lost) and is listed as disturbed after the summary.
 * Reference rows are registered (and so run) before the rows that divide by
 * them. nnbench --nn_full adds large squares and every thread count.
 * A summary per ISA closes the run.
 */
#define _GNU_SOURCE /* setenv, nanosleep, execv; sched_setaffinity */
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef NN_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef NN_HAVE_DNNL
#include <dnnl.h>
#endif

#include "build_commit.h"
#include "build_info.h"
#include "cbench.h"
#include "naive_mlp.h"
#include "nn.h"

typedef enum {
    B_PEAK, B_GEMM, B_GEMM_NAIVE, B_GEMM_BLAS, B_GEMM_DNNL, B_ACT, B_REDUCE, B_TRAIN, B_TRAIN_NAIVE,
    B_READ, B_INFER, B_INFER_BLAS, B_INFER_DNNL, B_SERVE, B_SERVE_BLAS, B_SERVE_DNNL
} bkind;

/* the peers' rows hold for every ISA of nn's */
static int is_peer(bkind k)
{
    return k == B_GEMM_NAIVE || k == B_TRAIN_NAIVE || k == B_GEMM_BLAS || k == B_GEMM_DNNL ||
           k == B_INFER_BLAS || k == B_INFER_DNNL || k == B_SERVE_BLAS || k == B_SERVE_DNNL;
}

typedef struct netdef {
    const char *name;
    size_t layers;
    size_t sizes[5];
    nn_activation acts[4];
    nn_loss loss;
} netdef;

static const netdef nets[] = {
    {"1-20-1", 2, {1, 20, 1}, {NN_SIGMOID, NN_IDENTITY}, NN_MSE},
    {"784-256-256-10", 3, {784, 256, 256, 10}, {NN_RELU, NN_RELU, NN_SOFTMAX}, NN_CROSS_ENTROPY},
    {"784-256-128-10", 3, {784, 256, 128, 10}, {NN_RELU, NN_RELU, NN_SOFTMAX}, NN_CROSS_ENTROPY},
};

typedef struct bcase {
    bkind kind;
    nn_isa isa;
    int threads;
    nn_transpose ta, tb;
    size_t m, n, k;
    int op;
    size_t len;
    const netdef *net;
    size_t batch;
    char name[128];
    char key[64]; /* what the naive / OpenBLAS / scalar row of the same work shares */
    double rate;  /* measured: GFLOP/s, elements/s or samples/s, the median of the
                     repetitions so far; 0 = not run */
    double reps[64]; /* the reported runs' rates (see record) */
    int n_reps;
    int64_t max_iters;
    double on_cpu; /* the least share of a reported run's wall time that its
                      thread had the CPU (see timer) */
    double x_peer[2]; /* nn's rows: the ratio to OpenBLAS [0] and oneDNN [1]
                         measured interleaved (see timed_loop), the median of
                         the reported runs'; 0 = not measured so */
    double x_peer_reps[2][64];
} bcase;

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A row's timed loop: its wall time, and the CPU time of the thread that
 * runs it, which computes (or spin-waits for its team) throughout. Where
 * that thread had the CPU for under 90 % of the wall time, the OS or the
 * hypervisor ran something else meanwhile, and the row's figure says less
 * about the code than about the machine: the row gets an `off_cpu`
 * counter and is listed after the summary (seen on a VM here: a 2-thread
 * 256³ row at 0.42× its usual rate, its thread on the CPU 70 % of the
 * time; the rows around it undisturbed). */
typedef struct timer {
    double wall, cpu;
} timer;

static double thread_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static timer timer_start(void) { return (timer){.wall = now(), .cpu = thread_cpu()}; }
static double elapsed(const timer *t) { return now() - t->wall; }

#define ON_CPU_MIN 0.9

/* Google Benchmark calls a row's function several times: runs with fewer
 * iterations while it sizes the run, then the reported run(s), all with the
 * final iteration count (--benchmark_repetitions: one per repetition). The
 * runs with the largest count are the reported ones; their median is the
 * row's rate, which the ratios and the summary use. Returns `rate`. */
static double record(cb_state *st, bcase *c, const timer *t, int64_t iters, double rate)
{
    const double wall = elapsed(t), on_cpu = wall > 0 ? (thread_cpu() - t->cpu) / wall : 1.0;
    if (iters > c->max_iters) c->max_iters = iters, c->n_reps = 0, c->on_cpu = INFINITY;
    if (iters == c->max_iters && c->n_reps < 64) {
        c->reps[c->n_reps++] = rate;
        if (on_cpu < c->on_cpu) c->on_cpu = on_cpu;
    }
    if (on_cpu < ON_CPU_MIN) cb_counter(st, "off_cpu", 1.0 - on_cpu, 0);
    double sorted[64];
    memcpy(sorted, c->reps, (size_t)c->n_reps * sizeof *sorted);
    c->rate = median(sorted, c->n_reps);
    return rate;
}

/* After record(): the same run's interleaved ratios to the peers (0 where
 * not measured), kept as its rate is. */
static void record_peers(bcase *c, int64_t iters, const double x[2])
{
    if (iters != c->max_iters || c->n_reps == 0) return;
    for (int p = 0; p < 2; p++) {
        c->x_peer_reps[p][c->n_reps - 1] = x[p];
        double v[64];
        int n = 0;
        for (int r = 0; r < c->n_reps; r++)
            if (c->x_peer_reps[p][r] > 0) v[n++] = c->x_peer_reps[p][r];
        c->x_peer[p] = n ? median(v, n) : 0;
    }
}

/* (max − min) / median of the reported runs, 0 for one run */
static double spread(const bcase *c)
{
    double lo = INFINITY, hi = 0;
    for (int i = 0; i < c->n_reps; i++) lo = fmin(lo, c->reps[i]), hi = fmax(hi, c->reps[i]);
    return c->n_reps > 1 && c->rate > 0 ? (hi - lo) / c->rate : 0;
}

#define MAX_CASES 2048
static bcase cases[MAX_CASES];
static size_t n_cases;

static const bcase *find(bkind kind, nn_isa isa, int threads, const char *key)
{
    for (size_t i = 0; i < n_cases; i++) {
        const bcase *c = &cases[i];
        const int any_isa = is_peer(kind);
        if (c->kind == kind && c->rate > 0 && (any_isa || c->isa == isa) &&
            (threads == 0 || c->threads == threads) && (!key || strcmp(c->key, key) == 0))
            return c;
    }
    return NULL;
}

/* Operands start on a cache line, as nn's own buffers do (a network's
 * weights, activations and gradients): the products timed here are the
 * ones its layers run. With malloc's 16 bytes every column of C in TN
 * 256x256x10 started 16 bytes into a line, and nn, whose stores then went
 * in 17 aligned vectors a column instead of 16, ran 6 % slower. */
static float *random_floats(size_t n, uint64_t seed)
{
    float *p = aligned_alloc(64, ((n ? n : 1) * sizeof *p + 63) / 64 * 64);
    for (size_t i = 0; p && i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (float)(seed >> 40) / 16777216.0f - 0.5f;
    }
    return p;
}

static int use_isa(cb_state *st, nn_isa isa)
{
    if (nn_set_isa(isa) != NN_OK) {
        cb_skip_with_error(st, "ISA not available");
        return 0;
    }
    return 1;
}

/* ---- benchmark bodies ---- */

/* A multi-threaded OpenBLAS call leaves its threads spinning for a while
 * (about 2^28 cycles); a row timed meanwhile shares its cores with them
 * (seen: nn 256³ on 2 threads at 62 GFLOP/s right after OpenBLAS's row, 488
 * alone). So they are ended after OpenBLAS's work (blas_thread_shutdown_,
 * which OpenBLAS exports though cblas.h does not declare it; its next call
 * starts them again); with an OpenBLAS without it, every row first waits
 * until they have gone to sleep. */
#ifdef NN_HAVE_OPENBLAS
extern int blas_thread_shutdown_(void) __attribute__((weak));
#endif
static double blas_spin_until;
#define BLAS_SPIN_SECONDS 0.25

static void settle(void)
{
    double left = blas_spin_until - now();
    if (left <= 0) return;
    struct timespec t = {.tv_sec = (time_t)left, .tv_nsec = (long)((left - (double)(time_t)left) * 1e9)};
    nanosleep(&t, NULL);
}

static void blas_done(int threads)
{
    if (threads <= 1) return;
#ifdef NN_HAVE_OPENBLAS
    if (blas_thread_shutdown_) {
        blas_thread_shutdown_();
        return;
    }
#endif
    blas_spin_until = now() + BLAS_SPIN_SECONDS;
}

#ifdef NN_HAVE_DNNL
/* dnnl_sgemm is row-major: the column-major C = op(A)·op(B) is computed as
 * the row-major Cᵀ = op(B)ᵀ·op(A)ᵀ on the same memory. oneDNN runs on
 * OpenMP: its thread count is omp_set_num_threads'. */
static void dnnl_colmajor(nn_transpose ta, nn_transpose tb, size_t m, size_t n, size_t k, const float *a,
                          size_t lda, const float *b, size_t ldb, float *c, size_t ldc)
{
    dnnl_sgemm(tb ? 'T' : 'N', ta ? 'T' : 'N', (dnnl_dim_t)n, (dnnl_dim_t)m, (dnnl_dim_t)k, 1.0f, b,
               (dnnl_dim_t)ldb, a, (dnnl_dim_t)lda, 0.0f, c, (dnnl_dim_t)ldc);
}
#endif

static int is_blas(bkind k) { return k == B_GEMM_BLAS || k == B_INFER_BLAS || k == B_SERVE_BLAS; }

/* OpenBLAS's threads for `who`'s calls in a row of T threads: serve/
 * callers run it on one thread each */
static int blas_threads(bkind who, int threads) { return who == B_SERVE_BLAS ? 1 : threads; }

/* A peer's threads for `who`'s calls on T threads (oneDNN in serve/: set
 * inside each caller). */
static void peer_threads(bkind who, int threads)
{
#ifdef NN_HAVE_OPENBLAS
    if (is_blas(who)) openblas_set_num_threads(blas_threads(who, threads));
#endif
#ifdef _OPENMP
    if (who == B_GEMM_DNNL || who == B_INFER_DNNL) omp_set_num_threads(threads);
#endif
    (void)who, (void)threads; /* with neither */
}

/* ---- ratios to the peers, measured interleaved ----
 * The machine's speed swings by 10 % within seconds, and up to 2x for
 * minutes; a ratio between two rows timed seconds apart carries the swing
 * (seen: 64³ NN at 0.64x OpenBLAS in one run, 0.98x in the next). So an nn
 * row with peers also runs their calls itself, in blocks interleaved with
 * its own: after every block of its calls (PAIR_BLOCK_SECONDS), as many of
 * each peer's, with the row's clock paused. x_openblas, x_onednn and
 * x_best_peer are the peers' summed block times over nn's (but see
 * paired_peers). The peers' own rows still give their absolute rates. */
#define PAIR_BLOCK_SECONDS 0.002

/* One call of `who`'s work: nn's or a peer's */
typedef void (*call_fn)(void *ctx, bkind who);

typedef struct loop_out {
    int64_t iters;  /* nn's calls */
    double secs;    /* their time, the peers' blocks left out */
    double x_peer[2]; /* the interleaved ratios (OpenBLAS, oneDNN), 0 = none */
    timer since;    /* the loop's start, moved on by the peers' blocks' wall and
                       CPU time: for record(), whose on-CPU share is then that
                       of nn's own calls */
} loop_out;

/* The peer kinds of an nn row's kind and whether they are paired with
 * it: built in and registered for the same work and thread count. */
static int paired_peers(const bcase *c, bkind peers[2])
{
    peers[0] = c->kind == B_GEMM ? B_GEMM_BLAS : c->kind == B_INFER ? B_INFER_BLAS : B_SERVE_BLAS;
    peers[1] = c->kind == B_GEMM ? B_GEMM_DNNL : c->kind == B_INFER ? B_INFER_DNNL : B_SERVE_DNNL;
    int any = 0;
    for (int p = 0; p < 2; p++) {
        int found = 0;
        for (size_t i = 0; i < n_cases && !found; i++)
            found = cases[i].kind == peers[p] && cases[i].threads == c->threads && strcmp(cases[i].key, c->key) == 0;
        /* OpenBLAS on 2+ threads has a thread pool of its own: its idle
         * threads and the OpenMP runtime's (nn's, oneDNN's) spin for a while
         * after their work and take cores from each other's blocks
         * (OpenBLAS at 2 threads right after nn's block: 0.4x its speed).
         * There the ratio is to its row, timed apart. */
        if (p == 0 && blas_threads(peers[0], c->threads) > 1) found = 0;
        if (!found) peers[p] = c->kind; /* none */
        any |= found;
    }
    return any;
}

static double peer_block(bkind who, int threads, call_fn call, void *ctx, int64_t calls)
{
    peer_threads(who, threads);
    const double t0 = now();
    for (int64_t i = 0; i < calls; i++) call(ctx, who);
    return now() - t0;
}

/* The row's timed loop over c->kind's calls, interleaved with the peers'
 * (peers[p] == c->kind: none). The first block sets the block's call count
 * (reading the clock after every call); the blocks after it read it only
 * at their ends, as the peers' do, and are the ones compared. */
static loop_out timed_loop(cb_state *st, const bcase *c, const bkind peers[2], call_fn call, void *ctx)
{
    const int pairing = peers && (peers[0] != c->kind || peers[1] != c->kind);
    loop_out o = {.since = timer_start()};
    double peer_secs[2] = {0, 0}, nn_paired = 0, block_t0 = now();
    int64_t in_block = 0, block = 0; /* block: 0 while the first is sized */
    while (cb_keep_running(st)) {
        call(ctx, c->kind);
        o.iters++, in_block++;
        if (!pairing || (block ? in_block < block : now() - block_t0 < PAIR_BLOCK_SECONDS)) continue;
        const double t = now();
        cb_pause_timing(st);
        o.secs += t - block_t0;
        if (block) {
            nn_paired += t - block_t0;
            const double cpu0 = thread_cpu();
            for (int p = 0; p < 2; p++)
                if (peers[p] != c->kind) peer_secs[p] += peer_block(peers[p], c->threads, call, ctx, in_block);
            o.since.cpu += thread_cpu() - cpu0;
        }
        block = in_block, in_block = 0;
        cb_resume_timing(st);
        block_t0 = now();
        o.since.wall += block_t0 - t;
    }
    o.secs += now() - block_t0;
    for (int p = 0; p < 2; p++) o.x_peer[p] = nn_paired > 0 ? peer_secs[p] / nn_paired : 0;
    return o;
}

static void run_peak(cb_state *st, void *user)
{
    bcase *c = user;
    if (!use_isa(st, c->isa)) return;
    const size_t iters = 1 << 18;
    double flops = 0;
    const timer t0 = timer_start();
    while (cb_keep_running(st)) {
#ifdef _OPENMP
#pragma omp parallel num_threads(c->threads) reduction(+ : flops)
#endif
        flops += nn_fma_probe(iters);
    }
    cb_counter(st, "GFLOP/s", record(st, c, &t0, cb_iterations(st), flops / elapsed(&t0) / 1e9), 0);
}

/* The bandwidth bound of one-sample inference: the bytes of a network's
 * weights read over and over with the ISA's loads, each of T threads its own
 * contiguous share (as nn_predict splits each layer's rows), after a first
 * pass that brings the share into the thread's caches. */
static size_t weight_floats(const netdef *d)
{
    size_t n = 0;
    for (size_t l = 0; l < d->layers; l++) n += d->sizes[l] * d->sizes[l + 1];
    return n;
}

static void run_read(cb_state *st, void *user)
{
    bcase *c = user;
    if (!use_isa(st, c->isa)) return;
    const size_t n = weight_floats(c->net), passes = ((size_t)64 << 20) / (n * sizeof(float)) + 1;
    /* aligned as nn's weights are: with malloc's 16 bytes, every other
     * 64-byte load spans two cache lines and the rate halves */
    float *w = random_floats(n, 9), *x = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!w || !x) {
        cb_skip_with_error(st, "out of memory");
        free(w), free(x);
        return;
    }
    memcpy(x, w, n * sizeof(float));
    free(w);
    settle();
    double secs = 0, bytes = 0;
    const timer loop = timer_start();
    while (cb_keep_running(st)) {
        double t0 = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(c->threads)
#endif
        {
#ifdef _OPENMP
            const size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
#else
            const size_t t = 0, nt = 1;
#endif
            const size_t lo = n * t / nt / 16 * 16, hi = t + 1 == nt ? n : n * (t + 1) / nt / 16 * 16;
            float sum;
            nn_read_probe(hi - lo, x + lo, 1, &sum);
#ifdef _OPENMP
#pragma omp barrier
#pragma omp master
#endif
            t0 = now();
#ifdef _OPENMP
#pragma omp barrier
#endif
            nn_read_probe(hi - lo, x + lo, passes, &sum); /* a library call: its loads stay */
        }
        secs += now() - t0;
        bytes += (double)(n * sizeof(float)) * (double)passes;
    }
    cb_counter(st, "GB/s", record(st, c, &loop, cb_iterations(st), bytes / secs / 1e9), 0);
    free(x);
}

/* nn's ratio (at `rate`) to OpenBLAS [0] and oneDNN [1]: as measured
 * interleaved (x_run[p] > 0, see timed_loop), else against the peer's row;
 * 0 where neither. Returns the ratio to the faster peer (the smaller), or
 * 0. The row counters and the summaries both take their ratios here. */
static double peer_ratios(const bcase *c, double rate, const double x_run[2], bkind blas_kind, bkind dnnl_kind,
                          double x[2])
{
    const bcase *row[2] = {find(blas_kind, c->isa, c->threads, c->key), find(dnnl_kind, c->isa, c->threads, c->key)};
    for (int p = 0; p < 2; p++) x[p] = x_run[p] > 0 ? x_run[p] : row[p] ? rate / row[p]->rate : 0;
    return x[0] > 0 && x[1] > 0 ? fmin(x[0], x[1]) : fmax(x[0], x[1]);
}

/* One run's x_openblas, x_onednn, x_best_peer */
static void peer_counters(cb_state *st, const bcase *c, double rate, const double x_run[2], bkind blas_kind,
                          bkind dnnl_kind)
{
    double x[2];
    const double best = peer_ratios(c, rate, x_run, blas_kind, dnnl_kind, x);
    if (x[0] > 0) cb_counter(st, "x_openblas", x[0], 0);
    if (x[1] > 0) cb_counter(st, "x_onednn", x[1], 0);
    if (best > 0) cb_counter(st, "x_best_peer", best, 0);
}

static void gemm_counters(cb_state *st, const bcase *c, double rate, const double x_run[2])
{
    const bcase *naive = find(B_GEMM_NAIVE, c->isa, 0, c->key);
    const bcase *peak = find(B_PEAK, c->isa, c->threads, NULL);
    if (naive) cb_counter(st, "x_naive", rate / naive->rate, 0);
    if (peak) cb_counter(st, "pct_peak", 100.0 * rate / peak->rate, 0);
    peer_counters(st, c, rate, x_run, B_GEMM_BLAS, B_GEMM_DNNL);
}

typedef struct gemm_work {
    const bcase *c;
    const float *a, *b;
    float *cm;
    size_t lda, ldb, ws;
    void *w;
} gemm_work;

static void gemm_call(void *ctx, bkind who)
{
    const gemm_work *g = ctx;
    const bcase *c = g->c;
    switch (who) {
    case B_GEMM:
        nn_sgemm_ws(c->threads, g->w, g->ws, c->ta, c->tb, c->m, c->n, c->k, 1.0f, g->a, g->lda, g->b, g->ldb, 0.0f,
                    g->cm, c->m);
        break;
    case B_GEMM_NAIVE:
        nn_sgemm_naive(c->ta, c->tb, c->m, c->n, c->k, 1.0f, g->a, g->lda, g->b, g->ldb, 0.0f, g->cm, c->m);
        break;
#ifdef NN_HAVE_OPENBLAS
    case B_GEMM_BLAS:
        cblas_sgemm(CblasColMajor, c->ta ? CblasTrans : CblasNoTrans, c->tb ? CblasTrans : CblasNoTrans, (int)c->m,
                    (int)c->n, (int)c->k, 1.0f, g->a, (int)g->lda, g->b, (int)g->ldb, 0.0f, g->cm, (int)c->m);
        break;
#endif
#ifdef NN_HAVE_DNNL
    case B_GEMM_DNNL:
        dnnl_colmajor(c->ta, c->tb, c->m, c->n, c->k, g->a, g->lda, g->b, g->ldb, g->cm, c->m);
        break;
#endif
    default: break;
    }
}

static void run_gemm(cb_state *st, void *user)
{
    bcase *c = user;
    if (c->kind == B_GEMM && !use_isa(st, c->isa)) return;
    gemm_work g = {.c = c, .lda = c->ta ? c->k : c->m, .ldb = c->tb ? c->n : c->k};
    float *a = random_floats(c->m * c->k, 1), *b = random_floats(c->k * c->n, 2);
    g.a = a, g.b = b, g.cm = random_floats(c->m * c->n, 3);
    g.ws = c->kind == B_GEMM ? nn_sgemm_workspace_size(c->ta, c->tb, c->m, c->n, c->k, c->threads) : 0;
    g.w = malloc(g.ws ? g.ws : 1);
    if (!a || !b || !g.cm || !g.w) {
        cb_skip_with_error(st, "out of memory");
        free(a), free(b), free(g.cm), free(g.w);
        return;
    }
    peer_threads(c->kind, c->threads);
    settle();
    if (c->kind == B_GEMM && nn_sgemm_ws(c->threads, g.w, g.ws, c->ta, c->tb, c->m, c->n, c->k, 1.0f, a, g.lda, b,
                                         g.ldb, 0.0f, g.cm, c->m)) {
        cb_skip_with_error(st, "nn_sgemm_ws failed");
        free(a), free(b), free(g.cm), free(g.w);
        return;
    }
    bkind peers[2];
    const int paired = c->kind == B_GEMM && paired_peers(c, peers);
    const loop_out o = timed_loop(st, c, paired ? peers : NULL, gemm_call, &g);
    if (is_blas(c->kind)) blas_done(c->threads);
    const double flops = 2.0 * (double)c->m * (double)c->n * (double)c->k * (double)o.iters;
    const double rate = record(st, c, &o.since, o.iters, flops / o.secs / 1e9);
    cb_counter(st, "GFLOP/s", rate, 0);
    if (c->kind == B_GEMM) {
        record_peers(c, o.iters, o.x_peer);
        gemm_counters(st, c, rate, o.x_peer);
    }
    free(a), free(b), free(g.cm), free(g.w);
}

static void run_elementwise(cb_state *st, void *user)
{
    bcase *c = user;
    if (!use_isa(st, c->isa)) return;
    const size_t rows = 256, cols = c->len / rows;
    float *x = random_floats(c->len, 4), *y = random_floats(c->len, 5), out[256];
    for (size_t i = 0; x && i < c->len; i++) x[i] *= 16.0f; /* exercise exp's range */
    if (!x || !y) {
        cb_skip_with_error(st, "out of memory");
        free(x), free(y);
        return;
    }
    int64_t iters = 0;
    float sink = 0;
    settle();
    const timer t0 = timer_start();
    while (cb_keep_running(st)) {
        if (c->kind == B_ACT) nn_activate((nn_activation)c->op, c->op == NN_SOFTMAX ? 16 : c->len,
                                          c->op == NN_SOFTMAX ? c->len / 16 : 1, x, c->op == NN_SOFTMAX ? 16 : c->len, y,
                                          c->op == NN_SOFTMAX ? 16 : c->len);
        else if (c->op == 0) nn_sum_squared_difference(c->len, x, y, &sink);
        else nn_row_sums(rows, cols, x, rows, out);
        iters++;
    }
    const double rate = record(st, c, &t0, iters, (double)c->len * (double)iters / elapsed(&t0));
    cb_set_items_processed(st, (int64_t)c->len * iters);
    const bcase *scalar = find(c->kind, NN_ISA_SCALAR, 0, c->key);
    if (scalar && c->isa != NN_ISA_SCALAR) cb_counter(st, "x_scalar", rate / scalar->rate, 0);
    free(x), free(y);
}

static float *one_hot_targets(const netdef *d, size_t batch)
{
    const size_t out = d->sizes[d->layers];
    float *y = calloc(out * batch, sizeof *y);
    for (size_t j = 0; y && j < batch; j++) {
        if (d->loss == NN_CROSS_ENTROPY) y[j * out + (j * 7) % out] = 1.0f;
        else
            for (size_t i = 0; i < out; i++) y[j * out + i] = sinf((float)(j + i));
    }
    return y;
}

static void run_train(cb_state *st, void *user)
{
    bcase *c = user;
    const netdef *d = c->net;
    if (c->kind == B_TRAIN && !use_isa(st, c->isa)) return;
    float *x = random_floats(d->sizes[0] * c->batch, 6), *y = one_hot_targets(d, c->batch);
    nn_network *net = NULL;
    naive_mlp naive;
    int ok = x && y;
    if (ok && c->kind == B_TRAIN) {
        ok = nn_network_create(&net, d->layers, d->sizes, d->acts, d->loss, 1) == NN_OK &&
             nn_set_threads(net, c->threads) == NN_OK && nn_reserve(net, c->batch) == NN_OK;
    } else if (ok) {
        ok = naive_mlp_init(&naive, d->layers, d->sizes, d->acts, c->batch, 1) == 0;
    }
    if (!ok) {
        cb_skip_with_error(st, "setup failed");
        nn_network_destroy(net);
        free(x), free(y);
        return;
    }
    int64_t iters = 0;
    settle();
    const timer t0 = timer_start();
    while (cb_keep_running(st)) {
        if (c->kind == B_TRAIN) {
            nn_train_step(net, x, d->sizes[0], y, d->sizes[d->layers], c->batch, 1e-3f, NULL);
        } else {
            naive_mlp_step(&naive, x, y, 1e-3f);
        }
        iters++;
    }
    const double rate = record(st, c, &t0, iters, (double)c->batch * (double)iters / elapsed(&t0));
    cb_counter(st, "samples/s", rate, 0);
    if (c->kind == B_TRAIN) {
        const bcase *ref = find(B_TRAIN_NAIVE, c->isa, 0, c->key);
        if (ref) cb_counter(st, "x_naive", rate / ref->rate, 0);
        nn_network_destroy(net);
    } else {
        naive_mlp_free(&naive);
    }
    free(x), free(y);
}

/* Forward passes of a network over `batch` samples: nn_predict (the
 * caller's workspace), or the peers' three products alone. The model is
 * shared by every caller; each caller has its own input, outputs and
 * workspace. */
typedef struct model {
    bkind kind;      /* whose: B_INFER or B_SERVE for nn's, else a peer's */
    nn_network *net; /* nn's rows */
    float *w[4];     /* the peers' weights */
} model;

typedef struct caller {
    float *x, *h[2];
    void *ws;
    size_t ws_size;
} caller;

static int is_nn_forward(bkind k) { return k == B_INFER || k == B_SERVE; }

static void model_free(model *m, const netdef *d)
{
    nn_network_destroy(m->net);
    m->net = NULL;
    for (size_t l = 0; l < d->layers; l++) free(m->w[l]), m->w[l] = NULL;
}

static int model_open(const netdef *d, bkind kind, model *m)
{
    memset(m, 0, sizeof *m);
    m->kind = kind;
    if (is_nn_forward(kind)) return nn_network_create(&m->net, d->layers, d->sizes, d->acts, d->loss, 1) == NN_OK;
    for (size_t l = 0; l < d->layers; l++)
        if (!(m->w[l] = random_floats(d->sizes[l] * d->sizes[l + 1], 20 + l))) return 0;
    return 1;
}

static void caller_free(caller *k)
{
    free(k->x), free(k->h[0]), free(k->h[1]), free(k->ws);
    memset(k, 0, sizeof *k);
}

/* nn_predict's workspace sized for `threads` */
static int caller_open(const bcase *c, const model *m, int threads, uint64_t seed, caller *k)
{
    const netdef *d = c->net;
    size_t max_units = 0;
    for (size_t l = 0; l < d->layers; l++)
        if (d->sizes[l + 1] > max_units) max_units = d->sizes[l + 1];
    memset(k, 0, sizeof *k);
    k->x = random_floats(d->sizes[0] * c->batch, seed);
    k->h[0] = malloc(max_units * c->batch * sizeof(float)), k->h[1] = malloc(max_units * c->batch * sizeof(float));
    if (!k->x || !k->h[0] || !k->h[1]) return 0;
    if (!m->net) return 1;
    k->ws_size = nn_predict_workspace_size(m->net, c->batch, threads);
    return k->ws_size != SIZE_MAX && (k->ws = malloc(k->ws_size)) != NULL;
}

static void forward_once(const bcase *c, const model *m, int threads, caller *k)
{
    const netdef *d = c->net;
    const size_t B = c->batch, L = d->layers;
    if (m->net) {
        nn_predict(m->net, threads, k->x, d->sizes[0], B, k->h[0], d->sizes[L], k->ws, k->ws_size);
        return;
    }
    const float *in = k->x;
    for (size_t l = 0; l < L; l++) {
        const size_t o = d->sizes[l + 1], n_in = d->sizes[l];
        float *out = k->h[l % 2];
        const float *w = m->w[l];
#ifdef NN_HAVE_OPENBLAS
        if (is_blas(m->kind) && B == 1)
            cblas_sgemv(CblasColMajor, CblasNoTrans, (int)o, (int)n_in, 1.0f, w, (int)o, in, 1, 0.0f, out, 1);
        else if (is_blas(m->kind))
            cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)o, (int)B, (int)n_in, 1.0f, w, (int)o, in,
                        (int)n_in, 0.0f, out, (int)o);
#endif
#ifdef NN_HAVE_DNNL
        if (m->kind == B_INFER_DNNL || m->kind == B_SERVE_DNNL)
            dnnl_colmajor(NN_NO_TRANS, NN_NO_TRANS, o, B, n_in, w, o, in, n_in, out, o);
#endif
        (void)w, (void)o, (void)n_in, (void)in; /* with neither peer built in */
        in = out;
    }
}

/* What a forward row runs: its own model and callers, and those of the
 * peers it is interleaved with (see timed_loop), each at its side_of
 * slot: [0] nn's, [1] OpenBLAS's, [2] oneDNN's. Each side has `callers`
 * callers. */
static int side_of(bkind who) { return is_nn_forward(who) ? 0 : is_blas(who) ? 1 : 2; }

typedef struct forward_work {
    const bcase *c;
    int callers, threads; /* threads per call */
    model m[3];
    caller *k[3];
    int64_t made; /* nn's calls made in serve rows */
} forward_work;

static void forward_work_free(forward_work *f)
{
    for (int s = 0; s < 3; s++) {
        model_free(&f->m[s], f->c->net);
        for (int i = 0; f->k[s] && i < f->callers; i++) caller_free(&f->k[s][i]);
        free(f->k[s]);
        f->k[s] = NULL;
    }
}

/* The row's own side and, where paired, the peers'; 0 on failure (what
 * was made is freed by forward_work_free). */
static int forward_work_open(forward_work *f, const bcase *c, int callers, int threads, const bkind *peers)
{
    memset(f, 0, sizeof *f);
    f->c = c, f->callers = callers, f->threads = threads;
    for (int i = 0; i < 3; i++) {
        const bkind who = i == 0 ? c->kind : peers ? peers[i - 1] : c->kind;
        const int s = side_of(who);
        if (i > 0 && who == c->kind) continue; /* not paired */
        if (!model_open(c->net, who, &f->m[s]) || !(f->k[s] = calloc((size_t)callers, sizeof(caller)))) return 0;
        for (int j = 0; j < callers; j++)
            if (!caller_open(c, &f->m[s], threads, 8 + (uint64_t)j, &f->k[s][j])) return 0;
    }
    return 1;
}

static void infer_call(void *ctx, bkind who)
{
    forward_work *f = ctx;
    const int s = side_of(who);
    forward_once(f->c, &f->m[s], f->threads, &f->k[s][0]);
}

/* One caller, c->threads threads for each call. */
static void run_infer(cb_state *st, void *user)
{
    bcase *c = user;
    const netdef *d = c->net;
    if (c->kind == B_INFER && !use_isa(st, c->isa)) return;
    bkind peers[2];
    const int paired = c->kind == B_INFER && paired_peers(c, peers);
    forward_work f;
    if (!forward_work_open(&f, c, 1, c->threads, paired ? peers : NULL)) {
        cb_skip_with_error(st, "setup failed");
        forward_work_free(&f);
        return;
    }
    peer_threads(c->kind, c->threads);
    settle();
    const loop_out o = timed_loop(st, c, paired ? peers : NULL, infer_call, &f);
    if (is_blas(c->kind)) blas_done(c->threads);
    const double rate = record(st, c, &o.since, o.iters, (double)o.iters / o.secs);
    cb_counter(st, "us_per_call", 1e6 * o.secs / (double)o.iters, 0);
    const double weight_rate = (double)(weight_floats(d) * sizeof(float)) * (double)o.iters / o.secs / 1e9;
    cb_counter(st, "weight_GB/s", weight_rate, 0);
    if (c->kind == B_INFER) {
        record_peers(c, o.iters, o.x_peer);
        const bcase *read = find(B_READ, c->isa, c->threads, d->name);
        if (read) cb_counter(st, "pct_read", 100.0 * weight_rate / read->rate, 0);
        peer_counters(st, c, rate, o.x_peer, B_INFER_BLAS, B_INFER_DNNL);
    }
    forward_work_free(&f);
}

/* c->threads callers at once on one shared model, each call on its
 * caller's thread alone (a server answering a request per thread); each
 * caller makes SERVE_CALLS calls per iteration, so that starting the
 * callers' team is a small part of the time. */
#define SERVE_CALLS 32

static void serve_call(void *ctx, bkind who)
{
    forward_work *f = ctx;
    const int s = side_of(who), n = f->callers;
    int64_t made = 0; /* a team may get fewer threads than asked */
#ifdef _OPENMP
#pragma omp parallel num_threads(n) reduction(+ : made)
    {
        omp_set_num_threads(1); /* what a caller starts (oneDNN) stays on its thread */
        for (int r = 0; r < SERVE_CALLS; r++) forward_once(f->c, &f->m[s], 1, &f->k[s][omp_get_thread_num()]);
        made += SERVE_CALLS;
    }
#else
    for (int i = 0; i < n; i++, made += SERVE_CALLS) /* no threads: the callers one after another */
        for (int r = 0; r < SERVE_CALLS; r++) forward_once(f->c, &f->m[s], 1, &f->k[s][i]);
#endif
    if (who == f->c->kind) f->made += made; /* the row's own calls */
}

static void run_serve(cb_state *st, void *user)
{
    bcase *c = user;
    if (c->kind == B_SERVE && !use_isa(st, c->isa)) return;
    bkind peers[2];
    const int paired = c->kind == B_SERVE && paired_peers(c, peers);
    forward_work f;
    if (!forward_work_open(&f, c, c->threads, 1, paired ? peers : NULL)) {
        cb_skip_with_error(st, "setup failed");
        forward_work_free(&f);
        return;
    }
    peer_threads(c->kind, c->threads);
    settle();
    const loop_out o = timed_loop(st, c, paired ? peers : NULL, serve_call, &f);
    const double calls = (double)f.made;
    const double rate = record(st, c, &o.since, o.iters, calls / o.secs);
    cb_counter(st, "calls/s", rate, 0);
#ifdef _OPENMP
    const double per_caller = (double)o.iters * SERVE_CALLS; /* each caller's calls, one after another */
#else
    const double per_caller = calls; /* the callers took turns */
#endif
    cb_counter(st, "us_per_call", 1e6 * o.secs / per_caller, 0);
    const bcase *one = c->threads > 1 ? find(c->kind, c->isa, 1, c->key) : NULL;
    if (one) cb_counter(st, "x_c1", rate / one->rate, 0);
    if (c->kind == B_SERVE) {
        record_peers(c, o.iters, o.x_peer);
        peer_counters(st, c, rate, o.x_peer, B_SERVE_BLAS, B_SERVE_DNNL);
    }
    forward_work_free(&f);
}

/* ---- registration ---- */

static bcase *add(bkind kind, const char *name, const char *key)
{
    if (n_cases == MAX_CASES) return NULL;
    bcase *c = &cases[n_cases++];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->key, sizeof c->key, "%s", key);
    return c;
}

typedef struct shape { nn_transpose ta, tb; size_t m, n, k; int naive; } shape;
#define FORM(s) ((s).ta ? ((s).tb ? "TT" : "TN") : ((s).tb ? "NT" : "NN"))

static void register_all(int full)
{
    nn_isa isas[NN_ISA_COUNT];
    int n_isa = 0;
    for (int i = 0; i < NN_ISA_COUNT; i++)
        if (nn_isa_available((nn_isa)i)) isas[n_isa++] = (nn_isa)i;
    nn_topology topo;
    nn_get_topology(&topo);
    int threads[64], n_threads = 0;
    for (int t = 1; t <= topo.cores && n_threads < 64; t++)
        if (full || t == 1 || t == topo.cores) threads[n_threads++] = t;

    /* GEMM shapes: the MLP's (784-256-256-10 at batch 256: forward NN,
     * weight gradient NT, input gradient TN), skinny ones, squares */
    shape shapes[64];
    int ns = 0;
    const size_t mlp[][3] = {{256, 256, 784}, {256, 256, 256}, {10, 256, 256}};
    for (int i = 0; i < 3; i++) {
        shapes[ns++] = (shape){NN_NO_TRANS, NN_NO_TRANS, mlp[i][0], mlp[i][1], mlp[i][2], 1};
        shapes[ns++] = (shape){NN_NO_TRANS, NN_TRANS, mlp[i][0], mlp[i][2], mlp[i][1], 1};
        if (i) shapes[ns++] = (shape){NN_TRANS, NN_NO_TRANS, mlp[i][2], mlp[i][1], mlp[i][0], 1};
    }
    /* the sine net at batch 100 and 1000: forward layer 1, output layer */
    shapes[ns++] = (shape){NN_NO_TRANS, NN_NO_TRANS, 20, 100, 1, 1};
    shapes[ns++] = (shape){NN_NO_TRANS, NN_NO_TRANS, 1, 1000, 20, 1};
    shapes[ns++] = (shape){NN_NO_TRANS, NN_NO_TRANS, 20, 1000, 1, 1};
    const size_t squares[] = {64, 128, 256, 512, 1024, 2048};
    for (int i = 0; i < 6; i++) {
        const size_t s = squares[i];
        if (!full && (s == 128 || s == 512 || s == 2048)) continue;
        for (int f = 0; f < 3; f++)
            shapes[ns++] = (shape){(nn_transpose)(f == 2), (nn_transpose)(f == 1), s, s, s, s <= 512};
    }

    char name[128], key[64];
    for (int i = 0; i < n_isa; i++)
        for (int t = 0; t < n_threads; t++) {
            snprintf(name, sizeof name, "peak/%s/t%d", nn_isa_name(isas[i]), threads[t]);
            bcase *c = add(B_PEAK, name, "peak");
            c->isa = isas[i], c->threads = threads[t];
        }
    for (int s = 0; s < ns; s++) {
        snprintf(key, sizeof key, "%s/%zux%zux%zu", FORM(shapes[s]), shapes[s].m, shapes[s].n, shapes[s].k);
        int seen = 0; /* 256³ is both an MLP layer and a square */
        for (size_t i = 0; i < n_cases; i++) seen |= cases[i].kind == B_GEMM && strcmp(cases[i].key, key) == 0;
        if (seen) continue;
        if (shapes[s].naive) {
            snprintf(name, sizeof name, "gemm/naive/%s", key);
            bcase *c = add(B_GEMM_NAIVE, name, key);
            c->ta = shapes[s].ta, c->tb = shapes[s].tb, c->m = shapes[s].m, c->n = shapes[s].n, c->k = shapes[s].k;
        }
#ifdef NN_HAVE_OPENBLAS
        for (int t = 0; t < n_threads; t++) {
            snprintf(name, sizeof name, "gemm/openblas/t%d/%s", threads[t], key);
            bcase *c = add(B_GEMM_BLAS, name, key);
            c->threads = threads[t];
            c->ta = shapes[s].ta, c->tb = shapes[s].tb, c->m = shapes[s].m, c->n = shapes[s].n, c->k = shapes[s].k;
        }
#endif
#ifdef NN_HAVE_DNNL
        for (int t = 0; t < n_threads; t++) {
            snprintf(name, sizeof name, "gemm/onednn/t%d/%s", threads[t], key);
            bcase *c = add(B_GEMM_DNNL, name, key);
            c->threads = threads[t];
            c->ta = shapes[s].ta, c->tb = shapes[s].tb, c->m = shapes[s].m, c->n = shapes[s].n, c->k = shapes[s].k;
        }
#endif
        for (int i = 0; i < n_isa; i++)
            for (int t = 0; t < n_threads; t++) {
                snprintf(name, sizeof name, "gemm/%s/t%d/%s", nn_isa_name(isas[i]), threads[t], key);
                bcase *c = add(B_GEMM, name, key);
                c->isa = isas[i], c->threads = threads[t];
                c->ta = shapes[s].ta, c->tb = shapes[s].tb, c->m = shapes[s].m, c->n = shapes[s].n, c->k = shapes[s].k;
            }
    }
    const int acts[] = {NN_SIGMOID, NN_TANH, NN_RELU, NN_SOFTMAX};
    for (int a = 0; a < 4; a++)
        for (int i = 0; i < n_isa; i++) {
            snprintf(key, sizeof key, "%s/16384", nn_activation_name((nn_activation)acts[a]));
            snprintf(name, sizeof name, "act/%s/%s", nn_isa_name(isas[i]), key);
            bcase *c = add(B_ACT, name, key);
            c->isa = isas[i], c->op = acts[a], c->len = 16384;
        }
    const char *reductions[] = {"sum_sq_diff", "row_sums"};
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < n_isa; i++) {
            snprintf(key, sizeof key, "%s/65536", reductions[r]);
            snprintf(name, sizeof name, "reduce/%s/%s", nn_isa_name(isas[i]), key);
            bcase *c = add(B_REDUCE, name, key);
            c->isa = isas[i], c->op = r, c->len = 65536;
        }
    const struct { const netdef *net; size_t batch; int naive; } trains[] = {
        {&nets[0], 100, 1}, {&nets[0], 1000, 1}, {&nets[1], 32, 1}, {&nets[1], 256, 1}, {&nets[1], 1024, 0}};
    for (size_t r = 0; r < sizeof trains / sizeof *trains; r++) {
        snprintf(key, sizeof key, "%s/b%zu", trains[r].net->name, trains[r].batch);
        if (trains[r].naive) {
            snprintf(name, sizeof name, "train/naive/%s", key);
            bcase *c = add(B_TRAIN_NAIVE, name, key);
            c->net = trains[r].net, c->batch = trains[r].batch;
        }
        for (int i = 0; i < n_isa; i++)
            for (int t = 0; t < n_threads; t++) {
                snprintf(name, sizeof name, "train/%s/t%d/%s", nn_isa_name(isas[i]), threads[t], key);
                bcase *c = add(B_TRAIN, name, key);
                c->isa = isas[i], c->threads = threads[t], c->net = trains[r].net, c->batch = trains[r].batch;
            }
    }
    /* inference: the read bound, then one sample to a few dozen, nn_predict
     * and the peers at the same thread counts */
    for (int i = 0; i < n_isa; i++)
        for (int t = 0; t < n_threads; t++) {
            snprintf(name, sizeof name, "read/%s/t%d/%s", nn_isa_name(isas[i]), threads[t], nets[2].name);
            bcase *c = add(B_READ, name, nets[2].name);
            c->isa = isas[i], c->threads = threads[t], c->net = &nets[2];
        }
    const size_t infer_batches[] = {1, 2, 4, 8, 16, 32};
    for (size_t b = 0; b < sizeof infer_batches / sizeof *infer_batches; b++) {
        const size_t B = infer_batches[b];
        snprintf(key, sizeof key, "%s/b%zu", nets[2].name, B);
        const int peer_rows = B == 1 || B == 8 || full;
        for (int t = 0; peer_rows && t < n_threads; t++) {
#ifdef NN_HAVE_OPENBLAS
            snprintf(name, sizeof name, "infer/openblas/t%d/%s", threads[t], key);
            bcase *c = add(B_INFER_BLAS, name, key);
            c->threads = threads[t], c->net = &nets[2], c->batch = B;
#endif
#ifdef NN_HAVE_DNNL
            snprintf(name, sizeof name, "infer/onednn/t%d/%s", threads[t], key);
            bcase *e = add(B_INFER_DNNL, name, key);
            e->threads = threads[t], e->net = &nets[2], e->batch = B;
#endif
        }
        for (int i = 0; i < n_isa; i++)
            for (int t = 0; t < n_threads; t++) {
                snprintf(name, sizeof name, "infer/%s/t%d/%s", nn_isa_name(isas[i]), threads[t], key);
                bcase *c = add(B_INFER, name, key);
                c->isa = isas[i], c->threads = threads[t], c->net = &nets[2], c->batch = B;
            }
    }
    /* serving: one sample per call, from as many callers at once as each
     * thread count */
    snprintf(key, sizeof key, "%s/b1", nets[2].name);
    for (int t = 0; t < n_threads; t++) {
#ifdef NN_HAVE_OPENBLAS
        snprintf(name, sizeof name, "serve/openblas/c%d/%s", threads[t], key);
        bcase *c = add(B_SERVE_BLAS, name, key);
        c->threads = threads[t], c->net = &nets[2], c->batch = 1;
#endif
#ifdef NN_HAVE_DNNL
        snprintf(name, sizeof name, "serve/onednn/c%d/%s", threads[t], key);
        bcase *e = add(B_SERVE_DNNL, name, key);
        e->threads = threads[t], e->net = &nets[2], e->batch = 1;
#endif
        for (int i = 0; i < n_isa; i++) {
            snprintf(name, sizeof name, "serve/%s/c%d/%s", nn_isa_name(isas[i]), threads[t], key);
            bcase *f = add(B_SERVE, name, key);
            f->isa = isas[i], f->threads = threads[t], f->net = &nets[2], f->batch = 1;
        }
    }
    for (size_t i = 0; i < n_cases; i++) {
        bcase *c = &cases[i];
        cb_fn fn = c->kind == B_PEAK ? run_peak
                   : c->kind == B_READ ? run_read
                   : (c->kind == B_INFER || c->kind == B_INFER_BLAS || c->kind == B_INFER_DNNL) ? run_infer
                   : (c->kind == B_SERVE || c->kind == B_SERVE_BLAS || c->kind == B_SERVE_DNNL) ? run_serve
                   : (c->kind == B_ACT || c->kind == B_REDUCE) ? run_elementwise
                   : (c->kind == B_TRAIN || c->kind == B_TRAIN_NAIVE) ? run_train
                                                                      : run_gemm;
        cb_use_real_time(cb_register(c->name, fn, c));
    }
}

/* ---- machine header and summary ---- */

/* The header and the summary: stdout for the console format, stderr when
 * stdout carries JSON or CSV, so that it stays machine-readable. */
static FILE *info;

/* One header line: the label, then `text` folded at spaces within 79
 * columns, the continuation lines indented under the text. */
static void header_line(const char *label, const char *text)
{
    const size_t indent = 13, width = 79;
    size_t col = indent;
    fprintf(info, "  %-10s ", label);
    for (const char *p = text + strspn(text, " "); *p; p += strspn(p, " ")) {
        const size_t word = strcspn(p, " ");
        if (col > indent && col + 1 + word > width) fprintf(info, "\n%*s", (int)indent, ""), col = indent;
        else if (col > indent) fputc(' ', info), col++;
        fwrite(p, 1, word, info);
        col += word, p += word;
    }
    fputc('\n', info);
}

static void machine_header(nn_isa chosen)
{
    nn_topology t;
    nn_get_topology(&t);
    char isas[64] = "", buf[512];
    for (int i = 0; i < NN_ISA_COUNT; i++)
        if (nn_isa_available((nn_isa)i)) {
            strncat(isas, nn_isa_name((nn_isa)i), sizeof isas - strlen(isas) - 2);
            strncat(isas, " ", sizeof isas - strlen(isas) - 1);
        }
    fprintf(info, "nnbench — nn %s\n", nn_version());
    header_line("cpu", t.cpu_model);
    snprintf(buf, sizeof buf, "available: %s| chosen: %s", isas, nn_isa_name(chosen));
    header_line("isa", buf);
    const char *pinning = t.bind ? "on" : "off";
#ifdef _OPENMP
    if (!t.bind && omp_get_proc_bind() != omp_proc_bind_false) pinning = "by OpenMP";
#endif
    snprintf(buf, sizeof buf, "%d core%s, %d PU%s (%s), default threads %d, pinning %s", t.cores,
             t.cores == 1 ? "" : "s", t.pus, t.pus == 1 ? "" : "s", t.from_hwloc ? "hwloc" : "fallback", t.threads,
             pinning);
    header_line("topology", buf);
    if (t.cpu_limit > 0) {
        snprintf(buf, sizeof buf, "%d %s time (the cgroup's CFS quota): threads beyond are throttled", t.cpu_limit,
                 t.cpu_limit == 1 ? "CPU's" : "CPUs'");
        header_line("cpu quota", buf);
    }
    if (t.team_us > 0) snprintf(buf, sizeof buf, "%.2f us to start and join the default team of threads", t.team_us);
    else snprintf(buf, sizeof buf, "not measured (one thread, or NN_TEAM_US=0): 4 us a thread");
    header_line("team", buf);
    snprintf(buf, sizeof buf, "L1d %zu KiB, L2 %zu KiB, L3 %zu KiB", t.l1d_bytes / 1024, t.l2_bytes / 1024,
             t.l3_bytes / 1024);
    header_line("caches", buf);
    snprintf(buf, sizeof buf, "%s, flags: %s", NN_COMPILER, NN_BUILD_FLAGS);
    header_line("compiler", buf);
#ifdef NN_HAVE_OPENBLAS
    const char *dropped = getenv("NNBENCH_OPENBLAS_DROPPED");
    snprintf(buf, sizeof buf, "%s; %s%s", openblas_get_config(),
             dropped ? dropped : "no OPENBLAS_CORETYPE/L2_SIZE override",
             dropped ? " (unset for this run)" : "");
    header_line("openblas", buf);
    cb_add_context("nn_openblas", openblas_get_config());
#else
    header_line("openblas", "not found at build time: no OpenBLAS rows");
#endif
#ifdef NN_HAVE_DNNL
    const dnnl_version_t *dv = dnnl_version();
    snprintf(buf, sizeof buf, "%d.%d.%d (dnnl_sgemm, OpenMP threads)", dv->major, dv->minor, dv->patch);
    header_line("onednn", buf);
    snprintf(buf, sizeof buf, "%d.%d.%d", dv->major, dv->minor, dv->patch);
    cb_add_context("nn_onednn", buf);
#else
    header_line("onednn", "not found at build time (libdnnl-dev): no oneDNN rows");
#endif
    snprintf(buf, sizeof buf, "commit %s", NN_COMMIT);
    header_line("source", buf);
    fprintf(info, "\n");
    fflush(info);
    cb_add_context("nn_version", nn_version());
    cb_add_context("nn_commit", NN_COMMIT);
    cb_add_context("nn_cpu", t.cpu_model);
    cb_add_context("nn_isa_available", isas);
    cb_add_context("nn_isa_chosen", nn_isa_name(chosen));
    snprintf(buf, sizeof buf, "%d core%s, %d PU%s, %s, default threads %d, pinning %s, team %.2f us", t.cores,
             t.cores == 1 ? "" : "s", t.pus, t.pus == 1 ? "" : "s", t.from_hwloc ? "hwloc" : "fallback", t.threads,
             pinning, t.team_us);
    cb_add_context("nn_topology", buf);
    snprintf(buf, sizeof buf, "%d", t.cpu_limit);
    cb_add_context("nn_cpu_limit", buf);
    snprintf(buf, sizeof buf, "L1d %zu, L2 %zu, L3 %zu bytes", t.l1d_bytes, t.l2_bytes, t.l3_bytes);
    cb_add_context("nn_caches", buf);
    cb_add_context("nn_compiler", NN_COMPILER);
    cb_add_context("nn_build_flags", NN_BUILD_FLAGS);
}

/* A row's ratio to the faster peer over its reported runs (medians;
 * see peer_ratios); 0 for none. */
static double best_peer_ratio(const bcase *r, bkind blas, bkind dnnl)
{
    double x[2];
    return peer_ratios(r, r->rate, r->x_peer, blas, dnnl, x);
}

/* "x.xx" for a row's ratio to the faster peer, or "-" */
static void peer_ratio(char *out, size_t size, const bcase *r, bkind blas, bkind dnnl)
{
    const double x = r ? best_peer_ratio(r, blas, dnnl) : 0;
    if (x > 0) snprintf(out, size, "%.2f", x);
    else snprintf(out, size, "-");
}

/* One sample through the inference net: one call on T threads (infer/),
 * and T callers at once on one thread each (serve/). */
static void inference_summary(int cores)
{
    const char *key = "784-256-128-10/b1";
    int header = 0;
    for (int i = 0; i < NN_ISA_COUNT; i++)
        for (int t = 1; t <= cores; t++) {
            const bcase *in = find(B_INFER, (nn_isa)i, t, key), *sv = find(B_SERVE, (nn_isa)i, t, key);
            if (!in && !sv) continue;
            if (!header)
                fprintf(info, "\nOne sample through 784-256-128-10: one call on T threads (infer/), and T\n"
                              "callers at once on one shared model, one thread each (serve/)\n"
                              "%-6s %3s %8s %11s %16s %11s\n",
                        "isa", "T", "us/call", "x best peer", "serving calls/s", "x best peer"),
                    header = 1;
            char us[16] = "-", xi[16], calls[24] = "-", xs[16];
            if (in) snprintf(us, sizeof us, "%.1f", 1e6 / in->rate);
            if (sv) snprintf(calls, sizeof calls, "%.0f", sv->rate);
            peer_ratio(xi, sizeof xi, in, B_INFER_BLAS, B_INFER_DNNL);
            peer_ratio(xs, sizeof xs, sv, B_SERVE_BLAS, B_SERVE_DNNL);
            fprintf(info, "%-6s %3d %8s %11s %16s %11s\n", nn_isa_name((nn_isa)i), t, us, xi, calls, xs);
        }
}

/* geometric means over the MLP GEMM rows of one ISA and thread count */
/* The rows whose thread was off the CPU for over a tenth of a reported
 * run (see timer): their figures, and the ratios built on them, are low
 * by about that share or more. */
static void disturbed_rows(void)
{
    int n = 0;
    for (size_t c = 0; c < n_cases; c++) {
        const bcase *r = &cases[c];
        if (r->rate <= 0 || !(r->on_cpu < ON_CPU_MIN)) continue;
        if (n++ == 0)
            fprintf(info, "\nDisturbed rows: their thread had the CPU for under %.0f %% of the time\n"
                          "(the OS or the hypervisor ran something else); rerun them to compare:\n",
                    100.0 * ON_CPU_MIN);
        fprintf(info, "  %-58s %3.0f %% on CPU\n", r->name, 100.0 * r->on_cpu);
    }
}

static void summary(void)
{
    nn_topology topo;
    nn_get_topology(&topo);
    fprintf(info, "\nSummary (ratios measured in this run; MLP = 784-256-256-10 at batch 256)\n");
    fprintf(info, "%-6s %3s %12s %9s %11s %17s %8s\n", "isa", "thr", "GEMM x naive", "% of peak", "x best peer",
            "train samples/s", "x naive");
    int max_reps = 1;
    for (size_t c = 0; c < n_cases; c++) max_reps = cases[c].n_reps > max_reps ? cases[c].n_reps : max_reps;
    for (int i = 0; i < NN_ISA_COUNT; i++) {
        for (int t = 1; t <= topo.cores; t++) {
            double lnx = 0, lnp = 0, lnb = 0;
            int nx = 0, np = 0, nb = 0;
            for (size_t c = 0; c < n_cases; c++) {
                const bcase *r = &cases[c];
                if (r->kind != B_GEMM || r->isa != (nn_isa)i || r->threads != t || r->rate <= 0) continue;
                if (r->m < 10 || r->n < 10 || r->k < 10 || (r->m == r->n && r->n == r->k)) continue;
                const bcase *nv = find(B_GEMM_NAIVE, r->isa, 0, r->key), *pk = find(B_PEAK, r->isa, t, NULL);
                const double xb = best_peer_ratio(r, B_GEMM_BLAS, B_GEMM_DNNL);
                if (nv) lnx += log(r->rate / nv->rate), nx++;
                if (pk) lnp += log(100.0 * r->rate / pk->rate), np++;
                if (xb > 0) lnb += log(xb), nb++;
            }
            const bcase *tr = find(B_TRAIN, (nn_isa)i, t, "784-256-256-10/b256");
            const bcase *tn = find(B_TRAIN_NAIVE, (nn_isa)i, 0, "784-256-256-10/b256");
            if (!nx && !np && !tr) continue;
            char sx[16] = "-", sp[16] = "-", sb[16] = "-", st[24] = "-", stn[16] = "-";
            if (nx) snprintf(sx, sizeof sx, "%.1f", exp(lnx / nx));
            if (np) snprintf(sp, sizeof sp, "%.0f %%", exp(lnp / np));
            if (nb) snprintf(sb, sizeof sb, "%.2f", exp(lnb / nb));
            if (tr && tr->n_reps > 1) snprintf(st, sizeof st, "%.0f ±%.0f%%", tr->rate, 50.0 * spread(tr));
            else if (tr) snprintf(st, sizeof st, "%.0f", tr->rate);
            if (tr && tn) snprintf(stn, sizeof stn, "%.1f", tr->rate / tn->rate);
            fprintf(info, "%-6s %3d %12s %9s %11s %17s %8s\n", nn_isa_name((nn_isa)i), t, sx, sp, sb, st, stn);
        }
    }
    fprintf(info, "(geometric means over the MLP's GEMM shapes; best peer: the faster of\n"
                  " OpenBLAS and oneDNN at the same thread count, timed interleaved with\n"
                  " nn's calls%s)\n",
            max_reps > 1 ? ";\n medians of the repetitions, ± half their spread" : "");
    inference_summary(topo.cores);
    disturbed_rows();
}

/* OpenBLAS reads OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE as it loads, before
 * main; some machines set them to older cores' values (this project's
 * machine: Haswell's, which halves OpenBLAS on AVX-512 CPUs). A comparison
 * against OpenBLAS is only fair with its own kernel choice, so nnbench runs
 * itself again once without them (execv, no shell), and says so in the
 * header. NNBENCH_KEEP_OPENBLAS_ENV=1 keeps them. */
#if defined(NN_HAVE_OPENBLAS) && defined(__linux__) && defined(_OPENMP)
/* Where the OpenMP runtime binds threads (OMP_PROC_BIND, OMP_PLACES), it
 * has bound this one to its first place already, and the mask outlives
 * execv: run again, nnbench saw one CPU. The places still name every CPU
 * the process had. */
static void widen_to_places(void)
{
    if (omp_get_proc_bind() == omp_proc_bind_false) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    int any = 0, ids[CPU_SETSIZE];
    for (int p = 0; p < omp_get_num_places(); p++) {
        const int n = omp_get_place_num_procs(p);
        if (n <= 0 || n > CPU_SETSIZE) continue;
        omp_get_place_proc_ids(p, ids);
        for (int i = 0; i < n; i++)
            if (ids[i] >= 0 && ids[i] < CPU_SETSIZE) CPU_SET(ids[i], &set), any = 1;
    }
    if (any) (void)sched_setaffinity(0, sizeof set, &set);
}
#elif defined(NN_HAVE_OPENBLAS)
static void widen_to_places(void) {}
#endif

static void drop_openblas_overrides(char **argv)
{
#ifdef NN_HAVE_OPENBLAS
    const char *core = getenv("OPENBLAS_CORETYPE"), *l2 = getenv("OPENBLAS_L2_SIZE");
    if ((!core && !l2) || getenv("NNBENCH_KEEP_OPENBLAS_ENV")) return;
    char note[200];
    snprintf(note, sizeof note, "OPENBLAS_CORETYPE=%s OPENBLAS_L2_SIZE=%s", core ? core : "(unset)",
             l2 ? l2 : "(unset)");
    if (setenv("NNBENCH_OPENBLAS_DROPPED", note, 1) != 0) return;
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("OPENBLAS_L2_SIZE");
    widen_to_places();
    execv("/proc/self/exe", argv);
    /* execv failed: carry on with OpenBLAS as loaded, and say so */
    setenv("NNBENCH_OPENBLAS_DROPPED", "no: re-running without the overrides failed", 1);
#else
    (void)argv;
#endif
}

/* The values Google Benchmark reads as false for a boolean flag. */
static int is_false_flag(const char *v)
{
    const char *no[] = {"0", "f", "false", "n", "no", "off"};
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (strcasecmp(v, no[i]) == 0) return 1;
    return 0;
}

int main(int argc, char **argv)
{
    drop_openblas_overrides(argv);
    /* our flag, then defaults that keep a plain run under two minutes */
    int full = 0, has_min_time = 0, console = 1, listing = 0, j = 1;
    char *args[256];
    args[0] = argv[0];
    if (argc > 250) {
        fprintf(stderr, "nnbench: %d arguments: at most 249 are taken\n", argc - 1);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--nn_full") == 0) {
            full = 1;
            continue;
        }
        if (strncmp(argv[i], "--benchmark_min_time", 20) == 0) has_min_time = 1;
        if (strncmp(argv[i], "--benchmark_list_tests", 22) == 0) /* a bare flag, or =VALUE not false */
            listing = argv[i][22] == '\0' || (argv[i][22] == '=' && !is_false_flag(argv[i] + 23));
        if (strncmp(argv[i], "--benchmark_format=", 19) == 0) console = strcmp(argv[i] + 19, "console") == 0;
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: nnbench [--nn_full] [Google Benchmark flags, e.g.\n"
                   "               --benchmark_filter=REGEX --benchmark_format=json\n"
                   "               --benchmark_out=FILE --benchmark_repetitions=N]\n"
                   "  --nn_full    also squares 128, 512, 2048 and every thread count 1..cores\n"
                   "Rows: peak/, gemm/ (naive, openblas, onednn, per ISA), act/, reduce/,\n"
                   "train/ (naive, per ISA), read/, infer/ and serve/ (openblas, onednn,\n"
                   "per ISA); see the README.\n"
                   "With a format other than console, stdout holds only that format: the\n"
                   "machine header and the summary go to stderr.\n");
        }
        args[j++] = argv[i];
    }
    static char min_time[] = "--benchmark_min_time=0.1";
    if (!has_min_time) args[j++] = min_time;
    args[j] = NULL;
    int n_args = j;
    if (!cb_initialize(&n_args, args)) return 2; /* Google Benchmark has named the flag */
    info = console ? stdout : stderr;
    const nn_isa chosen = nn_get_isa();
    machine_header(chosen);
    register_all(full);
    const size_t ran = cb_run();
    nn_set_isa(chosen);
    if (ran == 0) {
        fprintf(stderr, "nnbench: no benchmark matches the filter (nnbench --benchmark_list_tests lists them)\n");
        cb_shutdown();
        return 2;
    }
    if (!listing) summary();
    cb_shutdown();
    return 0;
}
