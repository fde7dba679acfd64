/* The training loop: epochs, shuffles, minibatches gathered ahead, divergence
 * rollback (the update rules live in optimizer.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "network.h"

#define M_PI_VALUE 3.14159265358979323846

float nn_scheduled_rate(const nn_train_options *opt, size_t epoch)
{
    if (!opt) return 0.0f;
    switch (opt->schedule) {
    case NN_STEP: {
        const size_t every = opt->step_epochs ? opt->step_epochs : 1;
        return (float)(opt->learning_rate * pow(opt->gamma, (double)(epoch / every)));
    }
    case NN_COSINE:
        if (opt->epochs == 0) return opt->learning_rate;
        return (float)(opt->learning_rate * 0.5 * (1.0 + cos(M_PI_VALUE * (double)epoch / (double)opt->epochs)));
    default: return opt->learning_rate;
    }
}

/* The minibatch's columns, picked from the data set by index: a strided
 * copy out of a large array (cache misses), so it runs on all threads, each
 * copying chunks of 64 rows (whole cache lines) of every column, handed out
 * as threads come free: a static half each left the caller's thread idle
 * for half the time (nntrain, Fashion-MNIST: 46-49 -> 30-37 us per
 * minibatch). */
typedef struct gather_job {
    size_t rows, ld, n;
    const float *src;
    const size_t *idx;
    float *dst;
} gather_job;

/* Each column is a separate trip to memory that the hardware prefetcher
 * cannot foresee; prefetching the one GATHER_AHEAD columns on keeps several
 * in flight (nntrain, Fashion-MNIST, per minibatch: 45-52 -> 37-46 us on a
 * quiet machine, 94-106 -> 87-91 us in its slow phases). */
#define GATHER_AHEAD 8

static void gather_rows(void *ctx, size_t lo, size_t hi)
{
    const gather_job *g = ctx;
    const size_t bytes = (hi - lo) * sizeof(float);
    for (size_t j = 0; j < g->n; j++) {
        if (j + GATHER_AHEAD < g->n) {
            const char *next = (const char *)(g->src + g->idx[j + GATHER_AHEAD] * g->ld + lo);
            for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(next + b, 0, 3);
        }
        memcpy(g->dst + j * g->rows + lo, g->src + g->idx[j] * g->ld + lo, bytes);
    }
}

static void gather_columns(int threads, size_t rows, const float *src, size_t ld, const size_t *idx,
                           size_t n, float *dst)
{
    gather_job g = {.rows = rows, .ld = ld, .n = n, .src = src, .idx = idx, .dst = dst};
    nn_parallel_chunks(threads, rows, 64, n, gather_rows, &g);
}

/* The next minibatch, gathered as a training step's side job (on the
 * threads that the output layer's small serial steps leave idle, about a
 * third of the gather's time on Fashion-MNIST): chunks 0..x_chunks-1 are 64
 * rows of X each, the last is Y. */
typedef struct next_batch {
    gather_job x, y;
    size_t x_chunks;
} next_batch;

static void gather_next_chunk(void *ctx, size_t c, size_t end)
{
    const next_batch *nb = ctx;
    (void)end;
    if (c < nb->x_chunks) {
        const size_t hi = (c + 1) * 64 < nb->x.rows ? (c + 1) * 64 : nb->x.rows;
        gather_rows((void *)&nb->x, c * 64, hi);
    } else {
        gather_rows((void *)&nb->y, 0, nb->y.rows);
    }
}

void nn_replay_shuffles(size_t *perm, size_t m, size_t epochs, uint64_t *rng)
{
    for (size_t e = 0; e < epochs; e++)
        for (size_t i = m; i > 1; i--) { /* Fisher–Yates, as every epoch of nn_train */
            const size_t j = (size_t)(nn_splitmix64(rng) % i);
            const size_t t = perm[i - 1];
            perm[i - 1] = perm[j], perm[j] = t;
        }
}

nn_status nn_train(nn_network *net, const float *x, size_t ldx, const float *y, size_t ldy,
                   size_t m, const nn_train_options *opt, nn_epoch_callback callback, void *user)
{
    nn_status s = nn_check_batch(net, x, ldx, y, ldy, m, 1);
    if (s) return s;
    if (!opt) return nn_fail(net, NN_ERR_INVALID_ARGUMENT, "options are NULL");
    if (!(opt->learning_rate >= 0.0f) || !isfinite(opt->learning_rate))
        return nn_fail(net, NN_ERR_INVALID_ARGUMENT, "learning rate %g", (double)opt->learning_rate);
    if ((s = nn_optimizer_require_whole(net))) return s;
    if ((int)opt->schedule < NN_CONSTANT || opt->schedule > NN_COSINE ||
        (opt->schedule == NN_STEP && !(opt->gamma > 0.0f && opt->gamma <= 1.0f)))
        return nn_fail(net, NN_ERR_INVALID_ARGUMENT, "learning-rate schedule");
    const size_t bs = opt->batch_size == 0 || opt->batch_size >= m ? m : opt->batch_size;
    const size_t n_in = net->layers[0].in, n_out = net->layers[net->n_layers - 1].out;
    const int minibatch = bs < m;

    /* everything a step needs, allocated once here; the backup holds the
     * parameters and the optimizer's state (velocity, or Adam's moments) */
    const size_t keep = nn_state_floats(net);
    size_t *perm = NULL, xs = 0, ys = 0;
    float *xb = NULL, *yb = NULL, *backup = malloc(keep * sizeof(float));
    if (minibatch) { /* two of each: the step's minibatch and the next one */
        if (!nn_mul_size(n_in, bs, &xs) || !nn_mul_size(n_out, bs, &ys) || xs > SIZE_MAX / 16 ||
            ys > SIZE_MAX / 16) {
            free(backup);
            return nn_fail(net, NN_ERR_OVERFLOW, "minibatch size");
        }
        xs = nn_line_floats(xs);
        perm = malloc(m * sizeof *perm);
        xb = nn_alloc_lines(2 * xs * sizeof(float), 0); /* threads gather and read it by rows */
        yb = malloc(2 * ys * sizeof(float));
    }
    if (!backup || (minibatch && (!perm || !xb || !yb)) || (s = nn_reserve(net, bs))) {
        free(perm), nn_free_lines(xb), free(yb), free(backup);
        return s ? s : nn_fail(net, NN_ERR_OUT_OF_MEMORY, "training buffers");
    }
    for (size_t i = 0; minibatch && i < m; i++) perm[i] = i;
    uint64_t rng = opt->shuffle_seed;
    nn_replay_shuffles(perm, m, minibatch ? opt->start_epoch : 0, &rng);

    for (size_t epoch = opt->start_epoch; epoch < opt->epochs && !s; epoch++) {
        nn_save_state(net, backup);
        const uint64_t steps_before = net->opt_steps;
        for (size_t i = m; minibatch && i > 1; i--) { /* Fisher–Yates */
            const size_t j = (size_t)(nn_splitmix64(&rng) % i);
            const size_t t = perm[i - 1];
            perm[i - 1] = perm[j], perm[j] = t;
        }
        double epoch_cost = 0.0;
        const float lr = nn_scheduled_rate(opt, epoch);
        const size_t batches = (m + bs - 1) / bs;
        int cur = 0, ready = 0; /* ready: this minibatch already sits in buffers `cur` */
        for (size_t start = 0; start < m && !s; start += bs) {
            const size_t nb = m - start < bs ? m - start : bs;
            const float *bx = x, *by = y;
            size_t bldx = ldx, bldy = ldy;
            nn_side_job side = {0};
            next_batch next;
            if (minibatch) {
                float *xc = xb + (size_t)cur * xs, *yc = yb + (size_t)cur * ys;
                if (!ready) {
                    const int threads = nn_resolve_threads(net->threads);
                    gather_columns(threads, n_in, x, ldx, perm + start, nb, xc);
                    gather_columns(threads, n_out, y, ldy, perm + start, nb, yc);
                }
                bx = xc, by = yc, bldx = n_in, bldy = n_out;
                if (start + bs < m) {
                    const size_t nn = m - start - bs < bs ? m - start - bs : bs;
                    const size_t *idx = perm + start + bs;
                    next = (next_batch){
                        .x = {.rows = n_in, .ld = ldx, .n = nn, .src = x, .idx = idx, .dst = xb + (size_t)(1 - cur) * xs},
                        .y = {.rows = n_out, .ld = ldy, .n = nn, .src = y, .idx = idx, .dst = yb + (size_t)(1 - cur) * ys},
                        .x_chunks = (n_in + 63) / 64};
                    side = (nn_side_job){.fn = gather_next_chunk, .ctx = &next, .chunks = next.x_chunks + 1};
                }
            }
            float cost;
            s = nn_train_step_unchecked(net, bx, bldx, by, bldy, nb, lr, &cost, side.fn ? &side : NULL);
            ready = side.fn != NULL, cur = ready ? 1 - cur : cur;
            if (s) break;
            if (!isfinite(cost)) {
                nn_restore_state(net, backup, steps_before);
                s = nn_fail(net, NN_ERR_NON_FINITE,
                            "diverged at epoch %zu (cost %g); parameters and optimizer state from the start "
                            "of the epoch kept", epoch, (double)cost);
                break;
            }
            epoch_cost += (double)cost * (double)nb;
            if (opt->on_batch) {
                const nn_batch_info info = {.epoch = epoch, .batch = start / bs, .batches = batches,
                                            .size = nb, .cost = cost,
                                            .output = net->acts[net->n_layers - 1], .target = by,
                                            .target_ld = bldy};
                opt->on_batch(&info, user);
            }
        }
        if (!s && !nn_all_finite(net->n_params, 1, net->params, net->n_params)) {
            nn_restore_state(net, backup, steps_before);
            s = nn_fail(net, NN_ERR_NON_FINITE,
                        "diverged in epoch %zu; parameters and optimizer state from the start of the epoch kept",
                        epoch);
        }
        if (!s && callback && callback(epoch, (float)(epoch_cost / (double)m), user)) break;
    }
    free(perm), nn_free_lines(xb), free(yb), free(backup);
    return s;
}
