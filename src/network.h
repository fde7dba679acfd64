/* The network object, shared by network.c (structure, forward, backward),
 * optimizer.c (update rules and their state), train.c (training loop),
 * model.c (save/load), small.c, predict.c and mpi.c. */
#ifndef NN_NETWORK_H
#define NN_NETWORK_H

#include <stdarg.h>

#include "internal.h"
#include "optimizer.h"

typedef struct nn_layer {
    size_t in, out;
    nn_activation act;
    float *w, *b;   /* into net->params: W is out x in (ld = out), then b */
    float *dw, *db; /* the same places in net->grads */
} nn_layer;

struct nn_network {
    size_t n_layers;
    nn_layer *layers;
    nn_loss loss;
    int threads; /* 0: machine default */

    /* parameters and gradients, each one contiguous array: W0 b0 W1 b1 ... */
    size_t n_params;
    float *params, *grads;

    /* optimizer */
    nn_optimizer opt;
    /* the state of params[opt_lo, opt_lo + opt_len): all of them, except
     * while nn_mpi_train keeps one shard per rank (optimizer.c) */
    float *opt_m, *opt_v; /* opt_len each: velocity or Adam's m; Adam's v */
    size_t opt_lo, opt_len;
    uint64_t opt_steps;

    /* batch workspace, sized for `cap` columns (see ensure_capacity) */
    size_t cap;
    float *work;       /* one allocation holding everything below */
    float **acts;      /* n_layers outputs, layer l: out_l x cap */
    float *z_out;      /* softmax output layer's Z: out_L x cap */
    float *delta[2];   /* ping-pong dZ/dA: max unit count x cap */
    float *col_values; /* per-column costs: cap */
    float *col_scratch;
    size_t max_units;

    void *gemm_ws;
    size_t gemm_ws_size;
    float *small_ws; /* the small-network path's (small.c) */
    size_t small_ws_size;

    char err[192];
};

/* Record a detailed message for `s` (returns s). */
nn_status nn_fail(nn_network *net, nn_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* 1 if every element is finite. */
int nn_all_finite(size_t rows, size_t cols, const float *p, size_t ld);

/* Work for otherwise idle threads during a training step: `chunks` calls
 * fn(ctx, c, c + 1), handed out one at a time; all have run when the step
 * returns. It must not touch the network or the step's batch. */
typedef struct nn_side_job {
    nn_range_fn fn;
    void *ctx;
    size_t chunks;
} nn_side_job;

/* nn_train_step on a batch and rate already validated (nn_train checks the
 * whole data set once, not every minibatch copied out of it). `side`
 * (optional) runs beside the output layer's steps where those are too small
 * to split, else after them. */
nn_status nn_train_step_unchecked(nn_network *net, const float *x, size_t ldx, const float *y,
                                  size_t ldy, size_t m, float learning_rate, float *cost,
                                  const nn_side_job *side);

/* nn_gradient that calls done->fn(done->ctx, l) as soon as layer l's
 * gradients (dW, db) are final, from the last layer down, while the rest of
 * the backward pass still runs (nn_mpi_train ships each layer meanwhile). */
typedef struct nn_layer_hook {
    void (*fn)(void *ctx, size_t layer);
    void *ctx;
} nn_layer_hook;
nn_status nn_gradient_hooked(nn_network *net, const float *x, size_t ldx, const float *y, size_t ldy,
                             size_t m, float *cost, const nn_layer_hook *done);

/* The small-network path (small.c). nn_small_eligible: whether it runs
 * `net` on `kr`; a function of the shape and the ISA only. nn_small_run:
 * forward over m columns, the output layer's A into `out` (ld ldo) if not
 * NULL; with Y also the gradient into net->grads and the cost (MSE) into
 * *cost (if not NULL). */
int nn_small_eligible(const nn_network *net, const nn_kernels *kr);
/* What the ISA's small_run_chunk needs: the network as it sees it, and the
 * floats of work for one chunk. */
void nn_small_describe(const nn_network *net, nn_small_net *d);
size_t nn_small_work_floats(const nn_network *net, const nn_kernels *kr);
nn_status nn_small_run(nn_network *net, const nn_kernels *kr, const float *x, size_t ldx,
                       const float *y, size_t ldy, size_t m, float *out, size_t ldo, float *cost);

/* The shuffles of `epochs` epochs of nn_train applied to perm[0..m) and
 * *rng: where a resumed run (start_epoch) picks up. */
void nn_replay_shuffles(size_t *perm, size_t m, size_t epochs, uint64_t *rng);

/* Validate the network argument and a batch; clears the error message. */
nn_status nn_check_batch(nn_network *net, const float *x, size_t ldx, const float *y,
                         size_t ldy, size_t m, int need_y);

#endif /* NN_NETWORK_H */
