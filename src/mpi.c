/*
 * Data-parallel training over MPI (nn_mpi.h): the only file that calls MPI.
 * Per minibatch: this rank's slice → its gradient, layer by layer from the
 * last; as soon as a layer's gradient is final it is scaled to the global
 * mean and its reduce-scatter starts (MPI_Ialltoallv of that layer's part
 * of every rank's shard) while the backward pass goes on → each rank sums
 * the pieces of its own shard in rank order, so the bits never depend on
 * arrival order → the optimizer on this rank's shard, whose state is the
 * only optimizer state this rank keeps → MPI_Iallgatherv of the parameters.
 * Every wait has a deadline (nn_mpi_options.timeout_seconds).
 */
#define _POSIX_C_SOURCE 200809L /* sched_yield */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>

#include "network.h"
#include "nn_mpi.h"

#define DEFAULT_TIMEOUT 30.0 /* seconds; see nn_mpi.h */

/* What MPI reads or writes asynchronously, apart from the network's
 * parameters: after a timeout those operations may still complete at any
 * moment, so this block is then left allocated (the job is over: nn_mpi.h
 * says to abort it). */
typedef struct shared_block {
    uint64_t mine[5], lo[5], hi[5]; /* the start-up agreement */
    int stop, any;                  /* an epoch's stop flags */
    float *costs;                   /* 2 per rank: its share of the cost, its status; then this rank's 2 */
    float *send;                    /* the scaled gradient, all parameters */
    float *pieces;                  /* for each layer's part of my shard, the R ranks' pieces */
    MPI_Request start[2];           /* the agreement's */
    MPI_Request *req;               /* one per layer, then the costs' gather */
} shared_block;

typedef struct job {
    nn_network *net;
    MPI_Comm comm;
    int rank, ranks;
    size_t layers;
    double timeout;
    int overlap;
    int *count, *displ;       /* rank q's shard of the parameters: [displ[q], + count[q]) */
    int *seg;                 /* per layer, 4R ints: send counts, send displs, receive counts, receive displs */
    size_t *seg_at, *seg_len; /* per layer: its part of my shard, [seg_at, + seg_len) from the shard's start */
    shared_block *sh;
    int abandoned;            /* an exchange never finished: keep `sh` */
    size_t next_layer;        /* layers >= next_layer are posted this step */
    float share;              /* this slice's columns / the minibatch's */
    int send_zeros, post_failed;
    nn_status setup;          /* a failure to report at the next step (the optimizer's shard) */
    nn_mpi_stats stats;
} job;

/* Rank q's shard of P parameters among R ranks: [shard_lo, + shard_len). */
static size_t shard_lo(size_t P, size_t q, size_t R) { return P * q / R; }
static size_t shard_len(size_t P, size_t q, size_t R) { return P * (q + 1) / R - P * q / R; }

/* The R shards as MPI counts and displacements. */
static void shard_layout(size_t P, size_t R, int *count, int *displ)
{
    for (size_t q = 0; q < R; q++) displ[q] = (int)shard_lo(P, q, R), count[q] = (int)shard_len(P, q, R);
}

/* 1 if net's optimizer state is whole or exactly rank r's shard. */
static int state_fits(const nn_network *net, size_t r, size_t R)
{
    const size_t P = net->n_params;
    return nn_optimizer_whole(net) || (net->opt_lo == shard_lo(P, r, R) && net->opt_len == shard_len(P, r, R));
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* Wait for n requests until the job's deadline: NN_OK, NN_ERR_TIMEOUT or
 * NN_ERR_IO. Polls (MPI_Testall also drives non-blocking collectives on),
 * as MPI's own blocking waits do, yielding the core between polls after
 * the first millisecond so that an oversubscribed machine's other ranks
 * get it; a sleep there instead cost up to its length on every exchange
 * that ran longer (2 ranks, Fashion-MNIST: ~4 exchanges a step). */
static nn_status wait_all(job *jb, int n, MPI_Request *req)
{
    const double start = MPI_Wtime();
    for (;;) {
        int done = 0;
        if (MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE) != MPI_SUCCESS) break;
        if (done) return NN_OK;
        const double waited = MPI_Wtime() - start;
        if (jb->timeout > 0.0 && waited > jb->timeout) {
            jb->abandoned = 1;
            return NN_ERR_TIMEOUT;
        }
        if (waited > 1e-3) sched_yield();
    }
    jb->abandoned = 1;
    return NN_ERR_IO;
}

static nn_status exchange_failed(job *jb, nn_status s, const char *what)
{
    jb->abandoned = 1;
    if (s == NN_ERR_TIMEOUT)
        return nn_fail(jb->net, s, "no answer from the other ranks within %g s (%s, after %zu steps): a rank died, "
                                   "hangs or is far slower; end the job", jb->timeout, what, jb->stats.steps);
    return nn_fail(jb->net, NN_ERR_IO, "MPI failed in %s", what);
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

/* Layer l's gradient is final (or, after a failure, never will be): scale
 * it into the send buffer and start its reduce-scatter. Every rank posts
 * every layer's exchange in the same order, failed or not, so that a
 * failure on one rank cannot leave the others waiting. */
static void post_layer(void *ctx, size_t l)
{
    job *jb = ctx;
    const nn_network *net = jb->net;
    const nn_layer *ly = &net->layers[l];
    const size_t p0 = (size_t)(ly->w - net->params), p1 = p0 + ly->in * ly->out + ly->out;
    float *send = jb->sh->send;
    if (jb->send_zeros) memset(send + p0, 0, (p1 - p0) * sizeof(float));
    else
        for (size_t i = p0; i < p1; i++) send[i] = net->grads[i] * jb->share;
    const size_t R = (size_t)jb->ranks;
    const int *c = jb->seg + 4 * R * l;
    MPI_Request *req = jb->sh->req;
    if (MPI_Ialltoallv(send, c, c + R, MPI_FLOAT, jb->sh->pieces, c + 2 * R, c + 3 * R, MPI_FLOAT, jb->comm,
                       &req[l]) != MPI_SUCCESS) {
        jb->post_failed = 1;
        req[l] = MPI_REQUEST_NULL;
    }
    jb->next_layer = l;
    int done; /* push the posted exchanges on while the next layer computes */
    if (jb->overlap) MPI_Testall((int)(jb->layers - l), req + l, &done, MPI_STATUSES_IGNORE);
}

/* One minibatch of nb columns (idx[0..nb), or nb consecutive from col0).
 * *cost: the minibatch's cost before the update, the same on every rank. */
static nn_status step(job *jb, const float *x, size_t ldx, const float *y, size_t ldy, const size_t *idx,
                      size_t col0, size_t nb, float lr, float *xb, float *yb, float *cost)
{
    nn_network *net = jb->net;
    const size_t n_in = net->layers[0].in, n_out = net->layers[net->n_layers - 1].out, P = net->n_params;
    const size_t R = (size_t)jb->ranks, r = (size_t)jb->rank, L = jb->layers;
    const size_t s0 = nb * r / R, ns = nb * (r + 1) / R - s0;
    for (size_t j = 0; j < ns; j++) { /* this rank's slice: all of the minibatch alone */
        const size_t c = idx ? idx[s0 + j] : col0 + s0 + j;
        memcpy(xb + j * n_in, x + c * ldx, n_in * sizeof(float));
        memcpy(yb + j * n_out, y + c * ldy, n_out * sizeof(float));
    }
    if (R == 1) { /* alone: nn_train's own step (the update fused into the products), same bits */
        if (jb->setup) return jb->setup;
        const nn_status s = nn_train_step_unchecked(net, xb, n_in, yb, n_out, nb, lr, cost, NULL);
        jb->stats.steps++;
        return s;
    }
    shared_block *sh = jb->sh;
    float *local = sh->costs + 2 * R;
    nn_status s = jb->setup;
    local[0] = 0.0f;
    /* nn_gradient takes the slice's mean; the minibatch's mean is the sum of
     * the slices' means weighted by their share */
    jb->share = (float)ns / (float)nb;
    jb->send_zeros = s || !ns, jb->post_failed = 0, jb->next_layer = L;
    if (!s && ns) {
        const nn_layer_hook hook = {.fn = post_layer, .ctx = jb};
        s = nn_gradient_hooked(net, xb, n_in, yb, n_out, ns, &local[0], jb->overlap ? &hook : NULL);
        local[0] *= jb->share;
        if (s) jb->send_zeros = 1;
    }
    local[1] = (float)s;
    const double t0 = MPI_Wtime();
    while (jb->next_layer > 0) post_layer(jb, jb->next_layer - 1);
    if (MPI_Iallgather(local, 2, MPI_FLOAT, sh->costs, 2, MPI_FLOAT, jb->comm, &sh->req[L]) != MPI_SUCCESS ||
        jb->post_failed)
        return exchange_failed(jb, NN_ERR_IO, "the gradients' exchange");
    nn_status w = wait_all(jb, (int)L + 1, sh->req);
    jb->stats.exchange_seconds += MPI_Wtime() - t0;
    if (w) return exchange_failed(jb, w, "the gradients' exchange");
    jb->stats.bytes_sent += (uint64_t)(P - (size_t)jb->count[r] + 2 * (R - 1)) * sizeof(float);
    for (size_t q = 0; q < R; q++)
        if (sh->costs[2 * q + 1] != 0.0f) {
            if (!s) s = nn_fail(net, (nn_status)sh->costs[2 * q + 1], "rank %zu failed its gradient", q);
            return s;
        }
    /* my shard's gradient: the ranks' pieces summed in rank order */
    const size_t lo = (size_t)jb->displ[r], len = (size_t)jb->count[r];
    for (size_t l = 0; l < L; l++) {
        const size_t k = jb->seg_len[l];
        float *g = net->grads + lo + jb->seg_at[l];
        const float *piece = sh->pieces + R * jb->seg_at[l];
        memcpy(g, piece, k * sizeof(float));
        for (size_t q = 1; q < R; q++)
            for (size_t i = 0; i < k; i++) g[i] += piece[q * k + i];
    }
    float total = sh->costs[0];
    for (size_t q = 1; q < R; q++) total += sh->costs[2 * q];
    *cost = total;
    const nn_update u = nn_update_begin(net, lr);
    if (isfinite(total)) nn_update_range(net, nn_kernels_active(), &u, lo, lo + len);
    const double t1 = MPI_Wtime();
    if (MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, net->params, jb->count, jb->displ, MPI_FLOAT, jb->comm,
                        &sh->req[0]) != MPI_SUCCESS)
        return exchange_failed(jb, NN_ERR_IO, "the parameters' gather");
    if ((w = wait_all(jb, 1, sh->req))) return exchange_failed(jb, w, "the parameters' gather");
    jb->stats.exchange_seconds += MPI_Wtime() - t1;
    jb->stats.bytes_sent += (uint64_t)len * (R - 1) * sizeof(float);
    jb->stats.steps++;
    return NN_OK;
}

/* This rank's shard of the optimizer's state, at the start of every epoch
 * (an epoch callback may have gathered the whole state for a checkpoint).
 * A failure is reported to every rank by the next step. */
static void keep_shard(job *jb)
{
    if (jb->ranks == 1 || jb->setup) return;
    const size_t r = (size_t)jb->rank;
    jb->setup = nn_optimizer_shard(jb->net, (size_t)jb->displ[r], (size_t)jb->count[r]);
    const size_t held = nn_optimizer_state_floats(jb->net);
    if (held > jb->stats.optimizer_floats) jb->stats.optimizer_floats = held;
}

static nn_status train(job *jb, const float *x, size_t ldx, const float *y, size_t ldy, size_t m,
                       const nn_train_options *opt, nn_epoch_callback callback, void *user, size_t *perm, float *xb,
                       float *yb, float *backup)
{
    nn_network *net = jb->net;
    const size_t bs = opt->batch_size == 0 || opt->batch_size >= m ? m : opt->batch_size;
    const int minibatch = bs < m;
    for (size_t i = 0; minibatch && i < m; i++) perm[i] = i;
    uint64_t rng = opt->shuffle_seed;
    nn_replay_shuffles(perm, m, minibatch ? opt->start_epoch : 0, &rng);
    nn_status s = NN_OK;
    for (size_t epoch = opt->start_epoch; epoch < opt->epochs && !s; epoch++) {
        keep_shard(jb);
        if (!jb->setup) nn_save_state(net, backup); /* else the first step reports it */
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
            s = step(jb, x, ldx, y, ldy, minibatch ? perm + start : NULL, start, nb, lr, xb, yb, &cost);
            if (!s && !isfinite(cost)) {
                nn_restore_state(net, backup, steps);
                s = nn_fail(net, NN_ERR_NON_FINITE,
                            "diverged at epoch %zu (cost %g); parameters and optimizer state from the start of "
                            "the epoch kept", epoch, (double)cost);
            }
            epoch_cost += (double)cost * (double)nb;
        }
        if (s) break;
        jb->sh->stop = callback && callback(epoch, (float)(epoch_cost / (double)m), user);
        if (MPI_Iallreduce(&jb->sh->stop, &jb->sh->any, 1, MPI_INT, MPI_MAX, jb->comm, &jb->sh->req[0]) !=
            MPI_SUCCESS)
            return exchange_failed(jb, NN_ERR_IO, "the stop flags' exchange");
        if ((s = wait_all(jb, 1, jb->sh->req))) return exchange_failed(jb, s, "the stop flags' exchange");
        if (jb->sh->any) break;
    }
    return s;
}

/* The per-layer exchange plan: layer l's parameters [p0, p1) meet rank q's
 * shard in [a, b); rank q's piece of it goes from send[a..b) to the pieces
 * buffer at R·(a − my shard's start) + q·(b − a) on the rank that owns it. */
static void plan_segments(job *jb)
{
    const nn_network *net = jb->net;
    const size_t R = (size_t)jb->ranks, r = (size_t)jb->rank;
    for (size_t l = 0; l < jb->layers; l++) {
        const nn_layer *ly = &net->layers[l];
        const size_t p0 = (size_t)(ly->w - net->params), p1 = p0 + ly->in * ly->out + ly->out;
        int *c = jb->seg + 4 * R * l;
        const size_t mine_lo = (size_t)jb->displ[r], mine_hi = mine_lo + (size_t)jb->count[r];
        const size_t a = p0 > mine_lo ? p0 : mine_lo, b = p1 < mine_hi ? p1 : mine_hi;
        jb->seg_at[l] = a < b ? a - mine_lo : 0, jb->seg_len[l] = a < b ? b - a : 0;
        for (size_t q = 0; q < R; q++) {
            const size_t lo = (size_t)jb->displ[q], hi = lo + (size_t)jb->count[q];
            const size_t qa = p0 > lo ? p0 : lo, qb = p1 < hi ? p1 : hi;
            c[q] = qa < qb ? (int)(qb - qa) : 0, c[R + q] = qa < qb ? (int)qa : 0;
            c[2 * R + q] = (int)jb->seg_len[l];
            c[3 * R + q] = (int)(R * jb->seg_at[l] + q * jb->seg_len[l]);
        }
    }
}

nn_status nn_mpi_train(nn_network *net, MPI_Comm comm, const float *x, size_t ldx, const float *y, size_t ldy,
                       size_t m, const nn_train_options *opt, const nn_mpi_options *mopt, nn_epoch_callback callback,
                       void *user, nn_mpi_stats *stats)
{
    const double start = MPI_Wtime();
    nn_status s = nn_check_batch(net, x, ldx, y, ldy, m, 1);
    if (s) return s;
    if (!opt) return nn_fail(net, NN_ERR_INVALID_ARGUMENT, "options are NULL");
    if (opt->on_batch) return nn_fail(net, NN_ERR_INVALID_ARGUMENT, "on_batch is not supported by nn_mpi_train");
    if (!(opt->learning_rate >= 0.0f) || !isfinite(opt->learning_rate))
        return nn_fail(net, NN_ERR_INVALID_ARGUMENT, "learning rate %g", (double)opt->learning_rate);
    const nn_mpi_options defaults = {0};
    if (!mopt) mopt = &defaults;
    if (isnan(mopt->timeout_seconds)) return nn_fail(net, NN_ERR_INVALID_ARGUMENT, "timeout is NaN");
    job jb = {.net = net, .comm = comm, .layers = net->n_layers, .overlap = !mopt->no_overlap,
              .timeout = mopt->timeout_seconds == 0.0 ? DEFAULT_TIMEOUT : mopt->timeout_seconds};
    if (net->n_params > INT_MAX / 2) return nn_fail(net, NN_ERR_OVERFLOW, "more parameters than MPI counts hold");
    if (MPI_Comm_rank(comm, &jb.rank) != MPI_SUCCESS || MPI_Comm_size(comm, &jb.ranks) != MPI_SUCCESS)
        return nn_fail(net, NN_ERR_IO, "MPI_Comm_rank/size failed");

    const size_t P = net->n_params, R = (size_t)jb.ranks, r = (size_t)jb.rank, L = net->n_layers;
    const size_t n_in = net->layers[0].in, n_out = net->layers[L - 1].out;
    const size_t bs = opt->batch_size == 0 || opt->batch_size >= m ? m : opt->batch_size;
    const size_t slice = (bs + R - 1) / R, my_len = shard_len(P, r, R);
    size_t xs, ys, shared_floats;
    if (!nn_mul_size(n_in, slice, &xs) || !nn_mul_size(n_out, slice, &ys) || xs > SIZE_MAX / 8 ||
        ys > SIZE_MAX / 8 || !nn_mul_size(R, my_len + 3, &shared_floats) ||
        !nn_add_size(shared_floats, P + 2, &shared_floats) || shared_floats > SIZE_MAX / 8)
        return nn_fail(net, NN_ERR_OVERFLOW, "minibatch size");

    /* everything allocated before the ranks agree, so that one rank short
     * of memory makes all of them refuse together */
    shared_block *sh = calloc(1, sizeof *sh);
    int *ints = malloc((2 * R + 4 * R * L) * sizeof *ints);
    size_t *seg = malloc(2 * L * sizeof *seg);
    float *xb = malloc((xs + 1) * sizeof *xb), *yb = malloc((ys + 1) * sizeof *yb);
    size_t *perm = malloc(m * sizeof *perm);
    if (sh) {
        sh->costs = malloc(shared_floats * sizeof(float));
        sh->req = malloc((L + 1) * sizeof *sh->req);
    }
    const int short_of_memory = !sh || !ints || !seg || !xb || !yb || !perm || !sh->costs || !sh->req;
    const int layout = state_fits(net, r, R);
    if (!sh) { /* nothing to take part in the agreement with: the others time out */
        s = nn_fail(net, NN_ERR_OUT_OF_MEMORY, "nn_mpi_train buffers");
        goto done;
    }
    agreement(net, x, ldx, y, ldy, m, opt, sh->mine);
    sh->mine[4] = (uint64_t)short_of_memory | (uint64_t)!layout << 1;
    if (MPI_Iallreduce(sh->mine, sh->lo, 5, MPI_UINT64_T, MPI_MIN, comm, &sh->start[0]) != MPI_SUCCESS ||
        MPI_Iallreduce(sh->mine, sh->hi, 5, MPI_UINT64_T, MPI_MAX, comm, &sh->start[1]) != MPI_SUCCESS) {
        s = exchange_failed(&jb, NN_ERR_IO, "the start-up checks");
        goto done;
    }
    if ((s = wait_all(&jb, 2, sh->start))) {
        s = exchange_failed(&jb, s, "the start-up checks");
        goto done;
    }
    static const char *const what[4] = {"the networks (architecture or parameters)", "the optimizers",
                                        "the training options", "the data"};
    if (sh->hi[4] & 1) {
        s = nn_fail(net, NN_ERR_OUT_OF_MEMORY, short_of_memory ? "nn_mpi_train buffers" : "another rank's buffers");
        goto done;
    }
    if (sh->hi[4] & 2) {
        s = nn_fail(net, NN_ERR_INVALID_ARGUMENT, "the optimizer state is split for another rank layout: "
                                                  "nn_mpi_gather_optimizer on the communicator it was trained on");
        goto done;
    }
    for (int i = 0; i < 4; i++)
        if (sh->lo[i] != sh->hi[i]) {
            s = nn_fail(net, NN_ERR_INVALID_ARGUMENT, "ranks differ in %s", what[i]);
            goto done;
        }

    jb.count = ints, jb.displ = ints + R, jb.seg = ints + 2 * R, jb.seg_at = seg, jb.seg_len = seg + L;
    shard_layout(P, R, jb.count, jb.displ);
    plan_segments(&jb);
    sh->send = sh->costs + 2 * R + 2, sh->pieces = sh->send + P;
    jb.sh = sh;
    keep_shard(&jb);
    float *backup = malloc(nn_state_floats(net) * sizeof *backup); /* the shard's size, once kept */
    if (!backup && !jb.setup) jb.setup = nn_fail(net, NN_ERR_OUT_OF_MEMORY, "nn_mpi_train buffers");
    s = train(&jb, x, ldx, y, ldy, m, opt, callback, user, perm, xb, yb, backup);
    free(backup);
done:
    jb.stats.seconds = MPI_Wtime() - start;
    if (jb.stats.optimizer_floats == 0) jb.stats.optimizer_floats = nn_optimizer_state_floats(net);
    if (stats) *stats = jb.stats;
    if (!jb.abandoned && sh) free(sh->costs), free(sh->req), free(sh);
    free(ints), free(seg), free(xb), free(yb), free(perm);
    return s;
}

nn_status nn_mpi_gather_optimizer(nn_network *net, MPI_Comm comm)
{
    if (!net) return NN_ERR_INVALID_ARGUMENT;
    net->err[0] = '\0';
    int rank, ranks;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS || MPI_Comm_size(comm, &ranks) != MPI_SUCCESS)
        return nn_fail(net, NN_ERR_IO, "MPI_Comm_rank/size failed");
    if (net->n_params > INT_MAX) return nn_fail(net, NN_ERR_OVERFLOW, "more parameters than MPI counts hold");
    const size_t P = net->n_params, R = (size_t)ranks, r = (size_t)rank;
    int *counts = malloc(2 * R * sizeof *counts);
    nn_opt_state whole = {0};
    int bad = !counts || nn_optimizer_reshape(net, 0, P, &whole) ? 1 : !state_fits(net, r, R) ? 2 : 0, worst = 0;
    /* every rank learns whether all can go on before any changes its network */
    if (MPI_Allreduce(&bad, &worst, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS) worst = 3;
    nn_status s = worst == 1   ? nn_fail(net, NN_ERR_OUT_OF_MEMORY, "nn_mpi_gather_optimizer")
                  : worst == 2 ? nn_fail(net, NN_ERR_INVALID_ARGUMENT,
                                         "the optimizer state is split for another rank layout")
                  : worst == 3 ? nn_fail(net, NN_ERR_IO, "MPI_Allreduce failed")
                               : NN_OK;
    if (!s) shard_layout(P, R, counts, counts + R);
    float *arrays[2] = {whole.m, whole.v};
    for (int a = 0; a < 2 && !s; a++)
        if (arrays[a] && MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, arrays[a], counts, counts + R, MPI_FLOAT, comm) !=
                             MPI_SUCCESS)
            s = nn_fail(net, NN_ERR_IO, "MPI_Allgatherv of the optimizer state failed");
    if (s) nn_optimizer_state_free(&whole);
    else nn_optimizer_adopt(net, &whole);
    free(counts);
    return s;
}
