/*
 * nn — fully-connected neural networks on CPUs, fast.
 *
 * Conventions used by every function in this header:
 *  - Matrices are float32, column-major, with a leading dimension `ld` (the
 *    distance between consecutive columns, ld >= rows). A minibatch holds one
 *    sample per column: X is n_in x m, Y is n_out x m.
 *  - Layer i (0-based) maps sizes[i] inputs to sizes[i+1] outputs:
 *    Z = W·A + b, A' = g(Z), with W of shape sizes[i+1] x sizes[i].
 *  - Every function that can fail returns an nn_status; nn_strerror() names
 *    it. The library never prints, never exits and never aborts; on failure
 *    output arguments are left unchanged unless stated otherwise.
 *  - Empty work is valid: a zero dimension (m = 0 samples, rows or
 *    columns = 0, n = 0 elements) makes a call do nothing, or write the
 *    empty result (a sum of nothing is 0), and return NN_OK; pointers to
 *    empty matrices are not read and may be NULL. The exceptions are where
 *    the result is undefined, which are NN_ERR_INVALID_ARGUMENT: a cost or a
 *    gradient averaged over m = 0 samples (nn_cost, nn_gradient,
 *    nn_train_step, nn_train) and a network with a zero-unit layer.
 *  - Pointers passed in are borrowed for the duration of the call only,
 *    unless stated otherwise. Memory the library returns is owned by the
 *    library unless a function says the caller frees it.
 *
 * Thread safety: different networks may be used concurrently from different
 * threads. One network must not be used by two threads at once, except
 * through nn_predict, which only reads it (any number of threads, each
 * with its own workspace, while nobody changes the network). nn_set_isa()
 * must not race with any other call (call it at start-up).
 */
#ifndef NN_H
#define NN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility; this marks its API. */
#if defined(__GNUC__)
#define NN_API __attribute__((visibility("default")))
#else
#define NN_API
#endif

#define NN_VERSION_MAJOR 0
#define NN_VERSION_MINOR 1
#define NN_VERSION_PATCH 0

/* ---- status ------------------------------------------------------------ */

typedef enum nn_status {
    NN_OK = 0,
    NN_ERR_INVALID_ARGUMENT, /* NULL pointer, ld < rows, bad enum, an empty batch
                                where a mean over it is asked for (see above) */
    NN_ERR_OUT_OF_MEMORY,
    NN_ERR_OVERFLOW,         /* a size product does not fit in size_t */
    NN_ERR_NON_FINITE,       /* NaN or Inf in an input, or training diverged */
    NN_ERR_UNSUPPORTED,      /* e.g. an ISA this CPU or build does not have */
    NN_ERR_IO,               /* open/read/write/rename failed */
    NN_ERR_FORMAT,           /* a file is not in the expected format */
    NN_ERR_TRUNCATED,        /* a file ends early */
    NN_ERR_CHECKSUM,         /* a file's checksum does not match its content */
    NN_ERR_VERSION,          /* a file's format version is not supported */
    NN_ERR_TIMEOUT           /* other processes did not answer in time (nn_mpi) */
} nn_status;

/* A static, human-readable description of `status`; never NULL. */
NN_API const char *nn_strerror(nn_status status);

/* "MAJOR.MINOR.PATCH" of the library actually linked. */
NN_API const char *nn_version(void);

/* ---- CPU dispatch ------------------------------------------------------ */

typedef enum nn_isa {
    NN_ISA_SCALAR = 0, /* portable C, any CPU */
    NN_ISA_AVX2,       /* x86-64 with AVX2 and FMA, OS-enabled YMM state */
    NN_ISA_AVX512,     /* x86-64 with AVX-512 F/BW/VL/DQ, OS-enabled ZMM */
    NN_ISA_NEON,       /* AArch64 Advanced SIMD */
    NN_ISA_COUNT
} nn_isa;

/* The ISA whose kernels run now. Chosen once at first use: the best one the
 * CPU supports, or the one named by the environment variable
 * NN_ISA=scalar|avx2|avx512|neon (an unknown or unavailable name there is
 * ignored, and the best one is used). */
NN_API nn_isa nn_get_isa(void);

/* Force `isa`. NN_ERR_UNSUPPORTED if this CPU or build lacks it,
 * NN_ERR_INVALID_ARGUMENT for a value outside the enum. Not thread-safe with
 * respect to calls running concurrently. */
NN_API nn_status nn_set_isa(nn_isa isa);

/* 1 if `isa` is compiled in and this CPU (and OS) can run it, else 0. */
NN_API int nn_isa_available(nn_isa isa);

/* "scalar", "avx2", "avx512", "neon"; "unknown" for a bad value. */
NN_API const char *nn_isa_name(nn_isa isa);

/* Parse a name as accepted by NN_ISA. NN_ERR_INVALID_ARGUMENT if unknown. */
NN_API nn_status nn_isa_from_name(const char *name, nn_isa *isa);

/* What the library knows of the machine (hwloc when available, else
 * OpenMP's and sysconf's view). Cache sizes are 0 when unknown. */
typedef struct nn_topology {
    int cores;        /* physical cores usable by this process */
    int pus;          /* hardware threads usable by this process */
    int threads;      /* default thread count: NN_NUM_THREADS, else
                         OMP_NUM_THREADS, else cores, at most cpu_limit */
    int bind;         /* 1 if nn pins threads to cores (NN_BIND != 0, and
                         no OMP_PROC_BIND/OMP_PLACES binding) */
    int from_hwloc;   /* 1 if hwloc supplied the topology */
    size_t l1d_bytes, l2_bytes, l3_bytes;
    char cpu_model[64];
    /* Microseconds to start and join a team of `threads` threads (at most
     * `cores`), measured once at first use; 0 when not measured: a default
     * of one thread, no OpenMP, or a first call from inside a parallel
     * region. NN_TEAM_US=<microseconds> sets it instead of measuring.
     * Work is split across threads only where it pays for this (README,
     * Threads). */
    double team_us;
    /* CPUs' worth of time the process's cgroup allows (a CFS quota, as
     * docker --cpus and Kubernetes CPU limits set), rounded up; 0 for no
     * limit. */
    int cpu_limit;
} nn_topology;

/* Fill *topo. NN_ERR_INVALID_ARGUMENT if topo is NULL. */
NN_API nn_status nn_get_topology(nn_topology *topo);

/* ---- kernels ----------------------------------------------------------- */

typedef enum nn_transpose { NN_NO_TRANS = 0, NN_TRANS = 1 } nn_transpose;

/* C = alpha·op(A)·op(B) + beta·C, with op(X) = X or Xᵀ; C is m x n, op(A) is
 * m x k, op(B) is k x n, all column-major. When beta == 0, C is not read (it
 * may hold NaN). k == 0 gives C = beta·C. Runs on the dispatched ISA with the
 * default thread count, and allocates its packing workspace for the call. */
NN_API nn_status nn_sgemm(nn_transpose ta, nn_transpose tb, size_t m, size_t n, size_t k,
                   float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                   float beta, float *c, size_t ldc);

/* The same product on `threads` threads (0: the default) with a caller-owned
 * workspace of at least nn_sgemm_workspace_size() bytes: no allocation, and
 * nothing past that size is touched. The size holds for any leading
 * dimensions; it is 0 (and `work` may be NULL) for products that need none
 * (k = 1 with op(A) = A; m = 1 with op(A) = Aᵀ, op(B) = B, k <= 4096; on
 * AVX-512 also k <= 12); SIZE_MAX for threads < 0 or a size that
 * overflows. The result is bitwise identical for every thread count. */
NN_API size_t nn_sgemm_workspace_size(nn_transpose ta, nn_transpose tb, size_t m, size_t n,
                               size_t k, int threads);
NN_API nn_status nn_sgemm_ws(int threads, void *work, size_t work_size, nn_transpose ta,
                      nn_transpose tb, size_t m, size_t n, size_t k, float alpha,
                      const float *a, size_t lda, const float *b, size_t ldb, float beta,
                      float *c, size_t ldc);

/* The naive reference: a triple loop with double accumulation, no blocking,
 * one thread. For tests and as nnbench's baseline. */
NN_API nn_status nn_sgemm_naive(nn_transpose ta, nn_transpose tb, size_t m, size_t n, size_t k,
                         float alpha, const float *a, size_t lda, const float *b,
                         size_t ldb, float beta, float *c, size_t ldc);

/* Reductions in the library's fixed order (vector blocks summed pairwise, so
 * float error grows with log n, not n).
 * nn_row_sums: out[i] = Σ_j X[i, j] (the bias gradient Σ_columns dZ).
 * nn_sum_squared_difference: *out = Σ_i (a[i] − y[i])². */
NN_API nn_status nn_row_sums(size_t rows, size_t cols, const float *x, size_t ldx, float *out);
NN_API nn_status nn_sum_squared_difference(size_t n, const float *a, const float *y, float *out);

/* Run the dispatched ISA's FMA peak probe (12 independent FMA chains,
 * `iterations` times) and return the number of flops it performed. For
 * nnbench's "% of peak"; divide by the wall time yourself. */
NN_API double nn_fma_probe(size_t iterations);

/* Read x[0..n) `passes` times with the dispatched ISA's widest loads (eight
 * independent sums) and store the sum of every element read in *sum: the
 * cache or memory bandwidth that one-sample inference, which streams the
 * weights once, cannot beat (nnbench's read/ rows). NN_ERR_INVALID_ARGUMENT
 * for a NULL sum, or a NULL x with n > 0. */
NN_API nn_status nn_read_probe(size_t n, const float *x, size_t passes, float *sum);

/* ---- activations --------------------------------------------------------- */

typedef enum nn_activation {
    NN_IDENTITY = 0,
    NN_SIGMOID,
    NN_TANH,
    NN_RELU,
    NN_LEAKY_RELU, /* x for x > 0, NN_LEAKY_SLOPE·x otherwise */
    NN_SOFTMAX,    /* per column; output layer only, with NN_CROSS_ENTROPY */
    NN_ACTIVATION_COUNT
} nn_activation;

#define NN_LEAKY_SLOPE 0.01f

/* g[0]: A = g(Z), elementwise (softmax: per column). Z and A may be the same
 * matrix (in place, lda == ldz). */
NN_API nn_status nn_activate(nn_activation act, size_t rows, size_t cols, const float *z,
                      size_t ldz, float *a, size_t lda);

/* g[1]: D = g'(Z), elementwise. Not defined for softmax (its Jacobian is not
 * elementwise): NN_ERR_INVALID_ARGUMENT. ReLU'(0) = 0, leaky ReLU'(0) =
 * NN_LEAKY_SLOPE. */
NN_API nn_status nn_activation_derivative(nn_activation act, size_t rows, size_t cols,
                                   const float *z, size_t ldz, float *d, size_t ldd);

/* "identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax". */
NN_API const char *nn_activation_name(nn_activation act);
NN_API nn_status nn_activation_from_name(const char *name, nn_activation *act);

/* ---- networks ---------------------------------------------------------- */

typedef enum nn_loss {
    NN_MSE = 0,         /* Σ(A − Y)² / (2m); any output activation but softmax */
    NN_CROSS_ENTROPY    /* −Σ Y·log A / m; requires a softmax output layer.
                           Targets must be >= 0 (NN_ERR_INVALID_ARGUMENT
                           otherwise); a column need not sum to 1 (its sum
                           weighs the sample): the gradient is the exact
                           (A·ΣY − Y)/m of this cost for any such Y. */
} nn_loss;

typedef struct nn_network nn_network;

/* Create a network of `n_layers` layers: sizes[0..n_layers] are the unit
 * counts (sizes[0] = inputs), acts[0..n_layers-1] the activations. Softmax
 * may only be the last activation and goes with NN_CROSS_ENTROPY, which
 * requires it. Parameters are initialized from `seed` (see nn_network_init).
 * On success *out owns the network; free it with nn_network_destroy. */
NN_API nn_status nn_network_create(nn_network **out, size_t n_layers, const size_t *sizes,
                            const nn_activation *acts, nn_loss loss, uint64_t seed);
/* What nn_network_create would say of these arguments, with the reason in
 * `why` (a message of at most why_size bytes, NUL-terminated; why may be
 * NULL): there is no network yet to hold one. */
NN_API nn_status nn_network_check(size_t n_layers, const size_t *sizes, const nn_activation *acts, nn_loss loss,
                                  char *why, size_t why_size);
NN_API void nn_network_destroy(nn_network *net); /* NULL is a no-op */

/* Re-initialize every parameter from `seed`, identically on every machine:
 * W ~ U(−r, r) with r = sqrt(6 / (fan_in + fan_out)) (Xavier/Glorot) for
 * identity, sigmoid, tanh and softmax layers, r = sqrt(6 / fan_in) (He) for
 * ReLU and leaky ReLU layers; b = 0. Uniforms come from the top 24 bits of
 * SplitMix64(seed) in column-major order, layer by layer; only the correctly
 * rounded sqrt is involved, so every machine gives the same bits. */
NN_API nn_status nn_network_init(nn_network *net, uint64_t seed);

NN_API size_t nn_network_layers(const nn_network *net);            /* 0 for NULL */
NN_API size_t nn_network_units(const nn_network *net, size_t i);   /* sizes[i], 0 if out of range */
NN_API nn_activation nn_network_activation(const nn_network *net, size_t layer);
NN_API nn_loss nn_network_loss(const nn_network *net);
NN_API size_t nn_network_parameter_count(const nn_network *net);

/* A detailed message for the last failure of a call on `net` (e.g. which
 * argument was wrong); "" when the last call succeeded. Owned by `net`. */
NN_API const char *nn_network_error(const nn_network *net);

/* Copy layer `layer`'s W (sizes[layer+1] x sizes[layer]) or b (sizes[layer+1])
 * out of or into the network. Setting refuses non-finite values
 * (NN_ERR_NON_FINITE) and leaves the network unchanged then. */
NN_API nn_status nn_get_weights(const nn_network *net, size_t layer, float *w, size_t ldw);
NN_API nn_status nn_set_weights(nn_network *net, size_t layer, const float *w, size_t ldw);
NN_API nn_status nn_get_bias(const nn_network *net, size_t layer, float *b);
NN_API nn_status nn_set_bias(nn_network *net, size_t layer, const float *b);

/* The gradient from the last nn_gradient() call (zero before any). */
NN_API nn_status nn_get_weight_gradient(const nn_network *net, size_t layer, float *dw, size_t ld);
NN_API nn_status nn_get_bias_gradient(const nn_network *net, size_t layer, float *db);

/* Number of threads the network's kernels use (0: the default from
 * nn_get_topology). Results do not depend on it (see README). */
NN_API nn_status nn_set_threads(nn_network *net, int threads);

/* Size the network's workspaces for minibatches of up to `batch` columns.
 * Optional: the calls below grow them when a larger batch arrives; after
 * that no call allocates for batches up to this size. */
NN_API nn_status nn_reserve(nn_network *net, size_t batch);

/* Evaluate m samples X (sizes[0] x m). If y is not NULL, copy the output
 * (sizes[L] x m) into it. NN_ERR_NON_FINITE if X holds NaN/Inf. */
NN_API nn_status nn_forward(nn_network *net, const float *x, size_t ldx, size_t m, float *y,
                     size_t ldy);

/* Inference on a shared model. nn_predict evaluates m samples X (sizes[0] x
 * m) into Y (sizes[L] x m, leading dimension ldy) like nn_forward, but only
 * reads the network: it writes nothing but Y and the caller's workspace
 * `work` (at least nn_predict_workspace_size(net, m, threads) bytes, any
 * alignment) and never allocates. Any number of threads may call it on one
 * network at once, each with its own workspace, as long as none of them
 * changes the network meanwhile. `threads`: 1 runs on the calling thread
 * alone (a server answering one request per core), 0 the default count,
 * N up to N; the result is bitwise identical for every count. Batches of up
 * to 8 columns (1 on the scalar ISA) stream each weight matrix once instead
 * of packing it; with
 * threads, each takes the same rows of every layer on every call, so the
 * weights stay split across the cores' caches.
 * NN_ERR_INVALID_ARGUMENT for NULL pointers, threads < 0, ld < rows
 * or a workspace smaller than the size (which depends on the ISA in use:
 * size it after any nn_set_isa); NN_ERR_NON_FINITE if X holds NaN/Inf.
 * nn_predict_workspace_size returns SIZE_MAX for a NULL network, threads < 0
 * or a size that overflows, and 0 for m == 0 (nn_predict then does nothing). Results equal nn_forward's up to
 * rounding. */
NN_API size_t nn_predict_workspace_size(const nn_network *net, size_t m, int threads);
NN_API nn_status nn_predict(const nn_network *net, int threads, const float *x, size_t ldx, size_t m,
                            float *y, size_t ldy, void *work, size_t work_size);

/* Cost of the network on (X, Y) without touching gradients. */
NN_API nn_status nn_cost(nn_network *net, const float *x, size_t ldx, const float *y, size_t ldy,
                  size_t m, float *cost);

/* Forward and back-propagation on (X, Y): stores dW, db for every layer in
 * the network. *cost (if cost is not NULL) receives the cost of the current
 * parameters on this batch. */
NN_API nn_status nn_gradient(nn_network *net, const float *x, size_t ldx, const float *y,
                      size_t ldy, size_t m, float *cost);

/* ---- optimization -------------------------------------------------------- */

typedef enum nn_optimizer_kind { NN_SGD = 0, NN_MOMENTUM, NN_ADAM } nn_optimizer_kind;

typedef struct nn_optimizer {
    nn_optimizer_kind kind;
    float momentum;      /* NN_MOMENTUM: v = μ·v + g; θ −= lr·v      (e.g. 0.9) */
    float beta1, beta2;  /* NN_ADAM (0.9, 0.999)                               */
    float epsilon;       /* NN_ADAM (1e-8)                                     */
    float weight_decay;  /* L2: g += λ·W (weights only, not biases); 0 = off    */
} nn_optimizer;

/* Defaults for a kind (the values in the comments above, no weight decay). */
NN_API nn_optimizer nn_optimizer_default(nn_optimizer_kind kind);

/* Select the update rule used by nn_step; resets its state (velocity,
 * moments, step count). Plain SGD is the default. */
NN_API nn_status nn_set_optimizer(nn_network *net, const nn_optimizer *opt);

/* One update of every parameter from the stored gradient with the rule set
 * by nn_set_optimizer (SGD: W −= lr·dW, b −= lr·db). nn_step, nn_train_step
 * and nn_train return NN_ERR_INVALID_ARGUMENT while nn_mpi_train keeps the
 * optimizer's state split across MPI ranks (nn_mpi_gather_optimizer joins
 * it; nn_set_optimizer starts afresh). */
NN_API nn_status nn_step(nn_network *net, float learning_rate);

/* nn_gradient + nn_step in one pass, the way nn_train runs each minibatch:
 * each layer is updated as soon as its gradient exists, while it is still in
 * cache, and for SGD and momentum the weight update is fused into the
 * weight-gradient product (W = (1 − lr·λ)·W − lr·dZ·Aᵀ, or V = μ·V + dZ·Aᵀ),
 * which saves a pass over memory. Results equal nn_gradient + nn_step up to
 * rounding; after a fused step the stored weight gradient
 * (nn_get_weight_gradient) may be stale (bias gradients are current).
 * Networks of a few units per layer (every layer ≤ 64 units, MSE, a few
 * hundred to a few thousand parameters depending on the ISA) take the
 * small-network path instead in nn_forward, nn_cost, nn_gradient and here:
 * the whole network over a block of columns at a time, samples in the
 * vector lanes (see README, "Small networks"). Its results differ from the
 * general path's by rounding only, and are bitwise identical for every
 * thread count too. */
NN_API nn_status nn_train_step(nn_network *net, const float *x, size_t ldx, const float *y,
                               size_t ldy, size_t m, float learning_rate, float *cost);

/* Called after every epoch with the mean cost of that epoch's minibatches
 * (each measured before its update). Return nonzero to stop training. */
typedef int (*nn_epoch_callback)(size_t epoch, float cost, void *user);

typedef enum nn_schedule {
    NN_CONSTANT = 0, /* learning_rate every epoch */
    NN_STEP,         /* learning_rate · gamma^floor(epoch / step_epochs) */
    NN_COSINE        /* learning_rate · (1 + cos(π·epoch/epochs)) / 2 */
} nn_schedule;

/* What nn_train reports after each minibatch (for progress displays). The
 * pointers are valid during the callback only. */
typedef struct nn_batch_info {
    size_t epoch, batch, batches; /* batch index within the epoch, of `batches` */
    size_t size;                  /* columns in this minibatch */
    float cost;                   /* its cost before the update */
    const float *output;          /* the network's output on it (outputs x size), before the update */
    const float *target;          /* its Y (outputs x size, leading dimension target_ld) */
    size_t target_ld;
} nn_batch_info;
typedef void (*nn_batch_callback)(const nn_batch_info *info, void *user);

typedef struct nn_train_options {
    size_t epochs;
    size_t batch_size;     /* 0 or >= m: full batch, in order */
    float learning_rate;
    uint64_t shuffle_seed; /* minibatches: columns are reshuffled every epoch */
    nn_schedule schedule;  /* zero-initialized: constant */
    size_t step_epochs;    /* NN_STEP: epochs per decay (0 means 1) */
    float gamma;           /* NN_STEP: decay factor */
    nn_batch_callback on_batch; /* optional */
    size_t start_epoch;    /* resuming (nn_checkpoint_load): the first epoch to run; the
                              shuffles of the epochs before it are replayed, so the run
                              goes on exactly as if it had not stopped (0: from the start) */
} nn_train_options;

/* The learning rate nn_train uses in `epoch` (0-based) under `opt`. */
NN_API float nn_scheduled_rate(const nn_train_options *opt, size_t epoch);

/* Train on m samples with nn_train_step per minibatch (learning rate from
 * nn_scheduled_rate each epoch). `callback` (may be NULL) runs after every
 * epoch and opt->on_batch after every minibatch, both with `user`; the
 * network may be evaluated (nn_forward, nn_cost) from inside them. Stops
 * early when the epoch callback asks (NN_OK). If a batch's cost becomes
 * NaN/Inf, training stops with NN_ERR_NON_FINITE and the parameters and the
 * optimizer's state (velocity, Adam's moments and step count) are restored
 * to those at the start of that epoch (the last ones known good; a per-step
 * copy would cost a pass over all of them every step), so that the caller
 * may lower the rate and call nn_train again. */
NN_API nn_status nn_train(nn_network *net, const float *x, size_t ldx, const float *y,
                          size_t ldy, size_t m, const nn_train_options *opt,
                          nn_epoch_callback callback, void *user);

/* ---- models on disk ---------------------------------------------------- */

/* Save the architecture and parameters (not the optimizer state) in the
 * format of docs/model-format.md: magic, version, explicit little-endian,
 * FNV-1a checksum. Written to a temporary file in the same directory, synced
 * and renamed over `path`, so a crash or a full disk never leaves a
 * half-written model in place of a good one. NN_ERR_IO on failure (and
 * `path` is untouched then; errno says why), NN_ERR_NON_FINITE if a
 * parameter is NaN or Inf (nn_load would refuse the file; nothing is
 * written). A save killed midway may leave PATH.tmp.<pid>.XXXXXX behind,
 * which the next save of PATH removes (docs/model-format.md). */
NN_API nn_status nn_save(const nn_network *net, const char *path);

/* A checkpoint: the model (as nn_save writes it), the optimizer with its
 * state (velocity or Adam's moments and step count) and `next_epoch`, the
 * epoch a resumed nn_train starts at (opt.start_epoch). Written atomically
 * like nn_save (docs/model-format.md). nn_checkpoint_load gives a new
 * network with all of that restored: training it on from next_epoch with
 * the same data and options ends with the same bits as a run that never
 * stopped. Errors as nn_save and nn_load; NN_ERR_INVALID_ARGUMENT also
 * while nn_mpi_train keeps the optimizer's state split across ranks
 * (nn_mpi_gather_optimizer first). */
NN_API nn_status nn_checkpoint_save(const nn_network *net, size_t next_epoch, const char *path);
NN_API nn_status nn_checkpoint_load(nn_network **out, size_t *next_epoch, const char *path);

/* Load a model saved by nn_save into a new network (*out, owned by the
 * caller). NN_ERR_IO (cannot read), NN_ERR_FORMAT (not a model, or
 * inconsistent), NN_ERR_TRUNCATED, NN_ERR_CHECKSUM, NN_ERR_VERSION,
 * NN_ERR_NON_FINITE; on failure nothing is allocated and *out is unchanged.
 * The loaded network computes bit for bit what the saved one did. */
NN_API nn_status nn_load(nn_network **out, const char *path);
/* The same from `size` bytes in memory. */
NN_API nn_status nn_load_memory(nn_network **out, const void *data, size_t size);

/* ---- IDX data (the MNIST family) ----------------------------------------- */

/* One IDX file: `count` items of rows x cols unsigned bytes (labels: rows =
 * cols = 1), `data` row-major per item, owned by the struct. */
typedef struct nn_idx {
    size_t count, rows, cols;
    uint8_t *data;
} nn_idx;

/* Read an IDX file (images: magic 0x00000803, 3 dimensions; labels:
 * 0x00000801, 1 dimension), gzipped (recognized by gzip's magic bytes) or
 * plain, checking that the header's sizes match the data exactly and, for
 * gzip, the trailer's CRC-32 and length. NN_ERR_IO (cannot open or read;
 * errno says why), NN_ERR_TRUNCATED (the file or the compressed stream ends
 * early, the gzip trailer included), NN_ERR_CHECKSUM (the gzip CRC-32 or
 * length does not match: a damaged file), NN_ERR_FORMAT (bad magic, zero or
 * absurd dimensions, corrupt compressed data, trailing data),
 * NN_ERR_OVERFLOW, NN_ERR_OUT_OF_MEMORY. On failure *out is left empty.
 * Free with nn_idx_free. */
NN_API nn_status nn_idx_read(const char *path, nn_idx *out);
/* Decode uncompressed IDX bytes from memory, with the same checks. */
NN_API nn_status nn_idx_decode(const void *bytes, size_t size, nn_idx *out);
NN_API void nn_idx_free(nn_idx *idx); /* NULL or empty: no-op */

/* Turn images + labels into a training set: *x (rows·cols x count,
 * column-major, pixels scaled to [0, 1]) and *y (classes x count, one-hot),
 * both malloc'ed for the caller to free. NN_ERR_FORMAT if the counts differ
 * or a label is >= classes. */
NN_API nn_status nn_idx_dataset(const nn_idx *images, const nn_idx *labels, size_t classes,
                                float **x, float **y);

/* ---- CSV data ---------------------------------------------------------- */

/* A numeric CSV file: `rows` samples (lines) of `cols` fields, row-major
 * (sample i's field j at data[i·cols + j]), owned by the struct. */
typedef struct nn_csv {
    size_t rows, cols;
    float *data;
} nn_csv;

/* Where a CSV file went wrong: 1-based line and field (0: not one field). */
typedef struct nn_csv_error {
    size_t line, field;
} nn_csv_error;

/* Read numeric CSV: fields separated by commas (spaces around them and CRLF
 * line ends allowed), every line the same number of fields, every field a
 * finite number that fits a float; blank lines only at the end.
 * header: 1 the first line is a header (skipped), 0 there is none, -1
 * decide: a first line with a field that is not a number is a header.
 * NN_ERR_IO (cannot open or read; errno says why), NN_ERR_FORMAT (a field
 * that is not a number, a line with another field count, a blank line in
 * the middle, no data), NN_ERR_NON_FINITE (nan, inf, or beyond float's
 * range), NN_ERR_OVERFLOW, NN_ERR_OUT_OF_MEMORY; `err` (may be NULL) gets
 * the line and field. No allocation exceeds what the file's size allows.
 * On failure *out is empty. Free with nn_csv_free. */
NN_API nn_status nn_csv_read(const char *path, int header, nn_csv *out, nn_csv_error *err);
NN_API nn_status nn_csv_decode(const void *bytes, size_t size, int header, nn_csv *out, nn_csv_error *err);
NN_API void nn_csv_free(nn_csv *csv); /* NULL or empty: no-op */

/* Split a CSV table into a training set: fields [target, target + targets)
 * are the targets, the others (in order) the features. classes > 0: one
 * target field holding class labels 0..classes-1 (NN_ERR_FORMAT otherwise),
 * turned into one-hot columns; classes == 0: the targets as they are
 * (regression). *x is features x rows, *y (classes or targets) x rows, both
 * column-major, malloc'ed for the caller to free. NN_ERR_INVALID_ARGUMENT
 * for a target range outside the fields or covering all of them. */
NN_API nn_status nn_csv_dataset(const nn_csv *csv, size_t target, size_t targets, size_t classes, float **x,
                                float **y);

/* A 64-bit digest (FNV-1a over the layer sizes, activations and the bytes of
 * every parameter, little-endian). Equal digests mean equal networks. */
NN_API uint64_t nn_weights_digest(const nn_network *net);

#ifdef __cplusplus
}
#endif

#endif /* NN_H */
