/* The naive reference training step (see naive_mlp.c). */
#ifndef NN_NAIVE_MLP_H
#define NN_NAIVE_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "nn.h"

#define NAIVE_MAX_LAYERS 8

typedef struct naive_mlp {
    size_t layers, batch;
    size_t sizes[NAIVE_MAX_LAYERS + 1];
    nn_activation acts[NAIVE_MAX_LAYERS];
    float *w[NAIVE_MAX_LAYERS], *b[NAIVE_MAX_LAYERS], *dw[NAIVE_MAX_LAYERS], *db[NAIVE_MAX_LAYERS];
    float *a[NAIVE_MAX_LAYERS];
    float *dz, *da;
} naive_mlp;

/* 0 on success, -1 on allocation failure or too many layers. */
int naive_mlp_init(naive_mlp *n, size_t layers, const size_t *sizes, const nn_activation *acts,
                   size_t batch, uint64_t seed);
void naive_mlp_free(naive_mlp *n);
/* Forward, back-propagation and one SGD update on a full batch (column-major,
 * ld = rows). */
void naive_mlp_step(naive_mlp *n, const float *x, const float *y, float lr);

#endif
