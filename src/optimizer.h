/* The optimizer's one home (optimizer.c): the update rules, their state and
 * what a diverged epoch rolls back to. network.c fuses the rules into the
 * weight-gradient product (nn_train_step); mpi.c applies them to one shard
 * after the gradients are combined; both call only what is declared here. */
#ifndef NN_OPTIMIZER_H
#define NN_OPTIMIZER_H

#include <stdint.h>

#include "internal.h"

/* One optimizer step: nn_update_begin counts the step and folds Adam's bias
 * corrections into step/eps; nn_update_layer applies the rule to one
 * layer's weights and/or bias from the stored gradients, on the network's
 * threads; nn_update_span to params[at, at + n) on the calling thread, with
 * L2 decay `wd` (0 for biases), where for momentum `momentum_applied` says
 * the buffer already holds μ·V + g. Every element is updated on its own, so
 * any split gives the same bits. The state must cover [at, at + n). */
typedef struct nn_update {
    float lr, step, eps;
} nn_update;
#define NN_UPDATE_WEIGHTS 1
#define NN_UPDATE_BIAS 2
nn_update nn_update_begin(nn_network *net, float learning_rate);
void nn_update_layer(nn_network *net, const nn_kernels *kr, size_t layer, const nn_update *u, int part);
void nn_update_span(const nn_network *net, const nn_kernels *kr, const nn_update *u, size_t at, size_t n,
                    float wd, int momentum_applied);

/* The rule on params[lo, hi) across layer boundaries: weights decayed,
 * biases not, as nn_step does. */
void nn_update_range(const nn_network *net, const nn_kernels *kr, const nn_update *u, size_t lo, size_t hi);

/* The state kept for params[lo, lo + len) only (a shard: ZeRO stage 1),
 * the part already held carried over; the state arrays of the rest are
 * freed. nn_optimizer_whole: 1 if the state covers every parameter, which
 * everything but nn_mpi_train needs (NN_ERR_INVALID_ARGUMENT otherwise, with
 * nn_optimizer_require_whole's message). */
nn_status nn_optimizer_shard(nn_network *net, size_t lo, size_t len);
/* The same in two steps, for a collective that must learn whether every
 * rank could allocate before any changes its network: new state arrays for
 * [lo, lo + len) with the part already held copied in (NN_ERR_OUT_OF_MEMORY,
 * or NN_OK; st->m is NULL for SGD), then adopted (the old freed) or freed. */
typedef struct nn_opt_state {
    float *m, *v;
    size_t lo, len;
} nn_opt_state;
nn_status nn_optimizer_reshape(const nn_network *net, size_t lo, size_t len, nn_opt_state *st);
void nn_optimizer_adopt(nn_network *net, nn_opt_state *st);
void nn_optimizer_state_free(nn_opt_state *st);
int nn_optimizer_whole(const nn_network *net);
nn_status nn_optimizer_require_whole(nn_network *net);

/* Floats of optimizer state held (0 for SGD). */
size_t nn_optimizer_state_floats(const nn_network *net);

/* What a diverged epoch rolls back to: the parameters, then the state held
 * (velocity; Adam's two moments), nn_state_floats of them; the step count
 * goes back separately (Adam's bias correction). */
size_t nn_state_floats(const nn_network *net);
void nn_save_state(const nn_network *net, float *to);
void nn_restore_state(nn_network *net, const float *from, uint64_t steps);

#endif /* NN_OPTIMIZER_H */
