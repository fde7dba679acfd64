/*
 * Data-parallel training over MPI (nn_mpi.h): the only file that calls MPI.
 * Per minibatch: this rank's slice → nn_gradient → scaled to the global
 * mean → a reduce-scatter by hand (MPI_Alltoallv of the shards, then each
 * rank sums the pieces of its own shard in rank order, so the bits never
 * depend on arrival order) → the optimizer on this rank's shard →
 * MPI_Allgatherv of the parameters.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "network.h"
#include "nn_mpi.h"

typedef struct job {
    MPI_Comm comm;
    int rank, ranks;
    int *count, *displ;       /* rank q's shard of the parameters: [displ[q], + count[q]) */
    int *piece_displ;         /* where rank q's piece of my shard lands in `pieces` */
    int *my_count;            /* my shard's length, R times (the receive counts) */
    float *send, *pieces;     /* the scaled gradient; the R pieces of my shard */
    float *costs;             /* two per rank: its share of the cost, its status */
    nn_mpi_stats stats;
} job;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* What must be the same on every rank: the network, its optimizer, the
 * options, and the data (sampled: its size and every 61st column). */
static void agreement(const nn_network *net, const float *x, size_t ldx, const float *y, size_t ldy, size_t m,
                      const nn_train_options *o, uint64_t out[4])
{
    out[0] = nn_weights_digest(net);
    const uint64_t o_ints[] = {(uint64_t)net->opt.kind, net->opt_steps};
    const float o_reals[] = {net->opt.momentum, net->opt.beta1, net->opt.beta2, net->opt.epsilon,
                             net->opt.weight_decay};
    out[1] = fnv(fnv(0xcbf29ce484222325ull, o_ints, sizeof o_ints), o_reals, sizeof o_reals);
    const uint64_t t_ints[] = {o->epochs, o->batch_size, o->shuffle_seed, (uint64_t)o->schedule, o->step_epochs, m,
                               o->start_epoch};
    const float t_reals[] = {o->learning_rate, o->gamma};
    out[2] = fnv(fnv(0xcbf29ce484222325ull, t_ints, sizeof t_ints), t_reals, sizeof t_reals);
    const size_t n_in = net->layers[0].in, n_out = net->layers[net->n_layers - 1].out;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t j = 0; j < m; j += 61) {
        h = fnv(h, x + j * ldx, n_in * sizeof(float));
        h = fnv(h, y + j * ldy, n_out * sizeof(float));
    }
    out[3] = h;
}

/* The optimizer on params[lo, hi), the gradient already in net->grads:
 * weights decayed, biases not, as nn_step does. */
static void update_shard(nn_network *net, const nn_kernels *kr, const nn_update *u, size_t lo, size_t hi)
{
    for (size_t l = 0; l < net->n_layers; l++) {
        const nn_layer *ly = &net->layers[l];
        const size_t w0 = (size_t)(ly->w - net->params), b0 = w0 + ly->in * ly->out, b1 = b0 + ly->out;
        const size_t ranges[2][2] = {{w0, b0}, {b0, b1}};
        for (int part = 0; part < 2; part++) {
            const size_t a = ranges[part][0] > lo ? ranges[part][0] : lo;
            const size_t b = ranges[part][1] < hi ? ranges[part][1] : hi;
            if (a < b) nn_update_span(net, kr, u, a, b - a, part == 0 ? net->opt.weight_decay : 0.0f, 0);
        }
    }
}

/* One minibatch of nb columns (idx[0..nb), or nb consecutive from col0).
 * *cost: the minibatch's cost before the update, the same on every rank. */
static nn_status step(nn_network *net, job *jb, const float *x, size_t ldx, const float *y, size_t ldy,
                      const size_t *idx, size_t col0, size_t nb, float lr, float *xb, float *yb, float *cost)
{
    const size_t n_in = net->layers[0].in, n_out = net->layers[net->n_layers - 1].out, P = net->n_params;
    const size_t R = (size_t)jb->ranks, r = (size_t)jb->rank;
    const size_t s0 = nb * r / R, ns = nb * (r + 1) / R - s0;
    float local[2] = {0.0f, 0.0f}; /* this slice's share of the cost, its status */
    nn_status s = NN_OK;
    for (size_t j = 0; j < ns; j++) { /* this rank's slice: all of the minibatch alone */
        const size_t c = idx ? idx[s0 + j] : col0 + s0 + j;
        memcpy(xb + j * n_in, x + c * ldx, n_in * sizeof(float));
        memcpy(yb + j * n_out, y + c * ldy, n_out * sizeof(float));
    }
    if (R == 1) { /* alone: nn_train's own step (the update fused into the products), same bits */
        s = nn_train_step_unchecked(net, xb, n_in, yb, n_out, nb, lr, cost, NULL);
        jb->stats.steps++;
        return s;
    }
    if (ns) {
        s = nn_gradient(net, xb, n_in, yb, n_out, ns, &local[0]);
        /* nn_gradient takes the slice's mean; the minibatch's mean is the sum
         * of the slices' means weighted by their share (exactly 1 alone) */
        const float share = (float)ns / (float)nb;
        if (R > 1)
            for (size_t i = 0; i < P; i++) jb->send[i] = s ? 0.0f : net->grads[i] * share;
        local[0] *= share, local[1] = (float)s;
    } else {
        memset(jb->send, 0, P * sizeof(float));
    }

    /* every rank takes part in every exchange, failed or not, so that a
     * failure on one rank cannot leave the others waiting */
    double t0 = MPI_Wtime();
    if (MPI_Alltoallv(jb->send, jb->count, jb->displ, MPI_FLOAT, jb->pieces, jb->my_count, jb->piece_displ,
                      MPI_FLOAT, jb->comm) != MPI_SUCCESS ||
        MPI_Allgather(local, 2, MPI_FLOAT, jb->costs, 2, MPI_FLOAT, jb->comm) != MPI_SUCCESS)
        return nn_fail(net, NN_ERR_IO, "MPI exchange of the gradients failed");
    jb->stats.exchange_seconds += MPI_Wtime() - t0;
    jb->stats.bytes_sent += (uint64_t)(P - (size_t)jb->count[r] + 2 * (R - 1)) * sizeof(float);
    for (size_t q = 0; q < R; q++)
        if (jb->costs[2 * q + 1] != 0.0f) {
            if (!s) s = nn_fail(net, (nn_status)jb->costs[2 * q + 1], "rank %zu failed its gradient", q);
            return s;
        }
    /* my shard's gradient: the ranks' pieces summed in rank order */
    const size_t lo = (size_t)jb->displ[r], len = (size_t)jb->count[r];
    float *g = net->grads + lo;
    memcpy(g, jb->pieces, len * sizeof(float));
    for (size_t q = 1; q < R; q++) {
        const float *piece = jb->pieces + q * len;
        for (size_t i = 0; i < len; i++) g[i] += piece[i];
    }
    float total = jb->costs[0];
    for (size_t q = 1; q < R; q++) total += jb->costs[2 * q];
    *cost = total;
    const nn_update u = nn_update_begin(net, lr);
    if (isfinite(total)) update_shard(net, nn_kernels_active(), &u, lo, lo + len);
    t0 = MPI_Wtime();
    if (MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, net->params, jb->count, jb->displ, MPI_FLOAT, jb->comm) !=
        MPI_SUCCESS)
        return nn_fail(net, NN_ERR_IO, "MPI_Allgatherv of the parameters failed");
    jb->stats.exchange_seconds += MPI_Wtime() - t0;
    jb->stats.bytes_sent += (uint64_t)jb->count[r] * (R - 1) * sizeof(float);
    jb->stats.steps++;
    return NN_OK;
}

static nn_status train(nn_network *net, job *jb, const float *x, size_t ldx, const float *y, size_t ldy, size_t m,
                       const nn_train_options *opt, nn_epoch_callback callback, void *user, size_t *perm, float *xb,
                       float *yb, float *backup)
{
    const size_t bs = opt->batch_size == 0 || opt->batch_size >= m ? m : opt->batch_size;
    const int minibatch = bs < m;
    for (size_t i = 0; minibatch && i < m; i++) perm[i] = i;
    uint64_t rng = opt->shuffle_seed;
    nn_replay_shuffles(perm, m, minibatch ? opt->start_epoch : 0, &rng);
    nn_status s = NN_OK;
    for (size_t epoch = opt->start_epoch; epoch < opt->epochs && !s; epoch++) {
        nn_save_state(net, backup);
        const uint64_t steps = net->opt_steps;
        for (size_t i = m; minibatch && i > 1; i--) { /* Fisher–Yates, as nn_train */
            const size_t j = (size_t)(nn_splitmix64(&rng) % i);
            const size_t t = perm[i - 1];
            perm[i - 1] = perm[j], perm[j] = t;
        }
        const float lr = nn_scheduled_rate(opt, epoch);
        double epoch_cost = 0.0;
        for (size_t start = 0; start < m && !s; start += bs) {
            const size_t nb = m - start < bs ? m - start : bs;
            float cost = 0.0f;
            s = step(net, jb, x, ldx, y, ldy, minibatch ? perm + start : NULL, start, nb, lr, xb, yb, &cost);
            if (!s && !isfinite(cost)) {
                nn_restore_state(net, backup, steps);
                s = nn_fail(net, NN_ERR_NON_FINITE,
                            "diverged at epoch %zu (cost %g); parameters and optimizer state from the start of "
                            "the epoch kept", epoch, (double)cost);
            }
            epoch_cost += (double)cost * (double)nb;
        }
        if (s) break;
        int stop = callback && callback(epoch, (float)(epoch_cost / (double)m), user), any = 0;
        if (MPI_Allreduce(&stop, &any, 1, MPI_INT, MPI_MAX, jb->comm) != MPI_SUCCESS)
            return nn_fail(net, NN_ERR_IO, "MPI_Allreduce of the stop flags failed");
        if (any) break;
    }
    return s;
}

nn_status nn_mpi_train(nn_network *net, MPI_Comm comm, const float *x, size_t ldx, const float *y, size_t ldy,
                       size_t m, const nn_train_options *opt, nn_epoch_callback callback, void *user,
                       nn_mpi_stats *stats)
{
    const double start = MPI_Wtime();
    nn_status s = nn_check_batch(net, x, ldx, y, ldy, m, 1);
    if (s) return s;
    if (!opt) return nn_fail(net, NN_ERR_INVALID_ARGUMENT, "options are NULL");
    if (opt->on_batch) return nn_fail(net, NN_ERR_INVALID_ARGUMENT, "on_batch is not supported by nn_mpi_train");
    if (!(opt->learning_rate >= 0.0f) || !isfinite(opt->learning_rate))
        return nn_fail(net, NN_ERR_INVALID_ARGUMENT, "learning rate %g", (double)opt->learning_rate);
    if (net->n_params > INT_MAX) return nn_fail(net, NN_ERR_OVERFLOW, "more parameters than MPI counts hold");
    job jb = {.comm = comm};
    if (MPI_Comm_rank(comm, &jb.rank) != MPI_SUCCESS || MPI_Comm_size(comm, &jb.ranks) != MPI_SUCCESS)
        return nn_fail(net, NN_ERR_IO, "MPI_Comm_rank/size failed");
    /* the same everything on every rank, or nobody trains */
    uint64_t mine[4], lo[4], hi[4];
    agreement(net, x, ldx, y, ldy, m, opt, mine);
    if (MPI_Allreduce(mine, lo, 4, MPI_UINT64_T, MPI_MIN, comm) != MPI_SUCCESS ||
        MPI_Allreduce(mine, hi, 4, MPI_UINT64_T, MPI_MAX, comm) != MPI_SUCCESS)
        return nn_fail(net, NN_ERR_IO, "MPI_Allreduce of the start-up checks failed");
    static const char *const what[4] = {"the networks (architecture or parameters)", "the optimizers",
                                        "the training options", "the data"};
    for (int i = 0; i < 4; i++)
        if (lo[i] != hi[i]) return nn_fail(net, NN_ERR_INVALID_ARGUMENT, "ranks differ in %s", what[i]);

    const size_t P = net->n_params, R = (size_t)jb.ranks, r = (size_t)jb.rank;
    const size_t n_in = net->layers[0].in, n_out = net->layers[net->n_layers - 1].out;
    const size_t bs = opt->batch_size == 0 || opt->batch_size >= m ? m : opt->batch_size;
    const size_t slice = (bs + R - 1) / R, my_len = P * (r + 1) / R - P * r / R;
    size_t xs, ys;
    if (!nn_mul_size(n_in, slice, &xs) || !nn_mul_size(n_out, slice, &ys) || xs > SIZE_MAX / 8 || ys > SIZE_MAX / 8)
        return nn_fail(net, NN_ERR_OVERFLOW, "minibatch size");
    int *ints = malloc(4 * R * sizeof *ints);
    float *send = malloc(P * sizeof *send), *pieces = malloc((R * my_len + 1) * sizeof *pieces);
    float *costs = malloc(2 * R * sizeof *costs), *xb = malloc((xs + 1) * sizeof *xb), *yb = malloc((ys + 1) * sizeof *yb);
    float *backup = malloc(nn_state_floats(net) * sizeof *backup);
    size_t *perm = malloc(m * sizeof *perm);
    if (!ints || !send || !pieces || !costs || !xb || !yb || !backup || !perm) {
        s = nn_fail(net, NN_ERR_OUT_OF_MEMORY, "nn_mpi_train buffers");
    } else {
        jb.count = ints, jb.displ = ints + R, jb.piece_displ = ints + 2 * R, jb.my_count = ints + 3 * R;
        for (size_t q = 0; q < R; q++) {
            jb.displ[q] = (int)(P * q / R), jb.count[q] = (int)(P * (q + 1) / R - P * q / R);
            jb.my_count[q] = (int)my_len, jb.piece_displ[q] = (int)(q * my_len);
        }
        jb.send = send, jb.pieces = pieces, jb.costs = costs;
        s = train(net, &jb, x, ldx, y, ldy, m, opt, callback, user, perm, xb, yb, backup);
    }
    jb.stats.seconds = MPI_Wtime() - start;
    if (stats) *stats = jb.stats;
    free(ints), free(send), free(pieces), free(costs), free(xb), free(yb), free(backup), free(perm);
    return s;
}

nn_status nn_mpi_gather_optimizer(nn_network *net, MPI_Comm comm)
{
    if (!net) return NN_ERR_INVALID_ARGUMENT;
    int rank, ranks;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS || MPI_Comm_size(comm, &ranks) != MPI_SUCCESS)
        return nn_fail(net, NN_ERR_IO, "MPI_Comm_rank/size failed");
    if (net->n_params > INT_MAX) return nn_fail(net, NN_ERR_OVERFLOW, "more parameters than MPI counts hold");
    const size_t P = net->n_params, R = (size_t)ranks;
    int *counts = malloc(2 * R * sizeof *counts);
    if (!counts) return nn_fail(net, NN_ERR_OUT_OF_MEMORY, "nn_mpi_gather_optimizer");
    for (size_t q = 0; q < R; q++) counts[R + q] = (int)(P * q / R), counts[q] = (int)(P * (q + 1) / R - P * q / R);
    float *arrays[2] = {net->opt_m, net->opt_v};
    nn_status s = NN_OK;
    for (int a = 0; a < 2 && !s; a++)
        if (arrays[a] && MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, arrays[a], counts, counts + R, MPI_FLOAT, comm) !=
                             MPI_SUCCESS)
            s = nn_fail(net, NN_ERR_IO, "MPI_Allgatherv of the optimizer state failed");
    free(counts);
    return s;
}
