/*
 * The optimizer's one home: SGD, momentum and Adam (L2 weight decay on the
 * weights, not the biases), their state, and the rollback of a diverged
 * epoch. The state may cover only a shard of the parameters (nn_mpi_train:
 * each rank keeps the moments of the parameters it updates, so Adam's m and
 * v are stored once across the job).
 */
#include <math.h>
#include <string.h>

#include "network.h"

static size_t state_arrays(nn_optimizer_kind kind) { return kind == NN_ADAM ? 2 : kind == NN_MOMENTUM ? 1 : 0; }

/* State arrays for `len` parameters, zeroed, each starting on its own line;
 * NULL (with *ok = 0) when out of memory; NULL (ok) for SGD. */
static float *alloc_state(nn_optimizer_kind kind, size_t len, float **v, int *ok)
{
    const size_t arrays = state_arrays(kind), stride = nn_line_floats(len);
    *v = NULL, *ok = 1;
    if (!arrays || !len) return NULL;
    float *m = nn_alloc_lines(arrays * stride * sizeof(float), 1); /* the create-time check bounds it */
    if (!m) *ok = 0;
    else if (arrays == 2) *v = m + stride;
    return m;
}

nn_optimizer nn_optimizer_default(nn_optimizer_kind kind)
{
    nn_optimizer o = {.kind = kind, .momentum = 0.9f, .beta1 = 0.9f, .beta2 = 0.999f,
                      .epsilon = 1e-8f, .weight_decay = 0.0f};
    return o;
}

nn_status nn_set_optimizer(nn_network *net, const nn_optimizer *opt)
{
    if (!net || !opt) return NN_ERR_INVALID_ARGUMENT;
    net->err[0] = '\0';
    if (opt->kind != NN_SGD && opt->kind != NN_MOMENTUM && opt->kind != NN_ADAM)
        return nn_fail(net, NN_ERR_INVALID_ARGUMENT, "unknown optimizer kind %d", (int)opt->kind);
    const int ok = opt->weight_decay >= 0.0f && isfinite(opt->weight_decay) &&
                   (opt->kind != NN_MOMENTUM || (opt->momentum >= 0.0f && opt->momentum < 1.0f)) &&
                   (opt->kind != NN_ADAM || (opt->beta1 >= 0.0f && opt->beta1 < 1.0f &&
                                             opt->beta2 >= 0.0f && opt->beta2 < 1.0f &&
                                             opt->epsilon > 0.0f && isfinite(opt->epsilon)));
    if (!ok) return nn_fail(net, NN_ERR_INVALID_ARGUMENT, "optimizer hyper-parameter out of range");
    int allocated;
    float *v, *m = alloc_state(opt->kind, net->n_params, &v, &allocated);
    if (!allocated) return nn_fail(net, NN_ERR_OUT_OF_MEMORY, "optimizer state");
    nn_free_lines(net->opt_m);
    net->opt_m = m, net->opt_v = v;
    net->opt_lo = 0, net->opt_len = net->n_params;
    net->opt = *opt;
    net->opt_steps = 0;
    return NN_OK;
}

int nn_optimizer_whole(const nn_network *net) { return net->opt_lo == 0 && net->opt_len == net->n_params; }

nn_status nn_optimizer_require_whole(nn_network *net)
{
    if (nn_optimizer_whole(net)) return NN_OK;
    return nn_fail(net, NN_ERR_INVALID_ARGUMENT,
                   "the optimizer state is split across MPI ranks: call nn_mpi_gather_optimizer first");
}

nn_status nn_optimizer_reshape(const nn_network *net, size_t lo, size_t len, nn_opt_state *st)
{
    int allocated;
    st->m = alloc_state(net->opt.kind, len, &st->v, &allocated);
    st->lo = lo, st->len = len;
    if (!allocated) return NN_ERR_OUT_OF_MEMORY;
    /* carry over what the old state and the new one share */
    const size_t a = lo > net->opt_lo ? lo : net->opt_lo;
    const size_t b = lo + len < net->opt_lo + net->opt_len ? lo + len : net->opt_lo + net->opt_len;
    if (st->m && a < b) {
        memcpy(st->m + (a - lo), net->opt_m + (a - net->opt_lo), (b - a) * sizeof(float));
        if (st->v) memcpy(st->v + (a - lo), net->opt_v + (a - net->opt_lo), (b - a) * sizeof(float));
    }
    return NN_OK;
}

void nn_optimizer_adopt(nn_network *net, nn_opt_state *st)
{
    nn_free_lines(net->opt_m);
    net->opt_m = st->m, net->opt_v = st->v;
    net->opt_lo = st->lo, net->opt_len = st->len;
    st->m = st->v = NULL;
}

void nn_optimizer_state_free(nn_opt_state *st)
{
    nn_free_lines(st->m);
    st->m = st->v = NULL;
}

nn_status nn_optimizer_shard(nn_network *net, size_t lo, size_t len)
{
    if ((lo == net->opt_lo && len == net->opt_len) || !state_arrays(net->opt.kind)) return NN_OK;
    nn_opt_state st;
    if (nn_optimizer_reshape(net, lo, len, &st)) return nn_fail(net, NN_ERR_OUT_OF_MEMORY, "optimizer state shard");
    nn_optimizer_adopt(net, &st);
    return NN_OK;
}

size_t nn_optimizer_state_floats(const nn_network *net) { return state_arrays(net->opt.kind) * net->opt_len; }

void nn_update_span(const nn_network *net, const nn_kernels *kr, const nn_update *u, size_t at,
                    size_t n, float wd, int momentum_applied)
{
    const nn_optimizer *o = &net->opt;
    const float lr = u->lr;
    float *w = net->params + at;
    const float *g = net->grads + at;
    const size_t s = at - net->opt_lo; /* into the state held */
    switch (o->kind) {
    case NN_SGD:
        if (wd != 0.0f) kr->axpy(n, -lr * wd, w, w);
        kr->axpy(n, -lr, g, w);
        break;
    case NN_MOMENTUM:
        if (momentum_applied) {
            if (wd != 0.0f) kr->axpy(n, wd, w, net->opt_m + s);
            kr->axpy(n, -lr, net->opt_m + s, w);
        } else {
            kr->momentum_update(n, lr, o->momentum, wd, g, net->opt_m + s, w);
        }
        break;
    case NN_ADAM:
        kr->adam_update(n, u->step, o->beta1, o->beta2, u->eps, wd, g, net->opt_m + s, net->opt_v + s, w);
        break;
    }
}

void nn_update_range(const nn_network *net, const nn_kernels *kr, const nn_update *u, size_t lo, size_t hi)
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

typedef struct step_job {
    nn_network *net;
    const nn_kernels *kr;
    const nn_update *u;
    size_t off;
    float wd;
} step_job;

static void step_range(void *ctx, size_t lo, size_t hi)
{
    const step_job *jb = ctx;
    nn_update_span(jb->net, jb->kr, jb->u, jb->off + lo, hi - lo, jb->wd, 0);
}

nn_update nn_update_begin(nn_network *net, float learning_rate)
{
    const nn_optimizer *o = &net->opt;
    net->opt_steps++;
    nn_update u = {.lr = learning_rate, .step = learning_rate, .eps = o->epsilon};
    if (o->kind == NN_ADAM) { /* PyTorch's bias correction, folded into step and eps */
        const double t = (double)net->opt_steps;
        const double bc1 = 1.0 - pow(o->beta1, t), bc2 = sqrt(1.0 - pow(o->beta2, t));
        u.step = (float)(learning_rate * bc2 / bc1);
        u.eps = (float)(o->epsilon * bc2);
    }
    return u;
}

void nn_update_layer(nn_network *net, const nn_kernels *kr, size_t layer, const nn_update *u, int part)
{
    const nn_layer *ly = &net->layers[layer];
    const size_t nw = ly->in * ly->out;
    const int threads = nn_resolve_threads(net->threads);
    step_job jb = {.net = net, .kr = kr, .u = u, .off = (size_t)(ly->w - net->params),
                   .wd = net->opt.weight_decay};
    /* the weights (decayed), then the biases right after them (not decayed) */
    if (part & NN_UPDATE_WEIGHTS) nn_parallel_ranges(threads, nw, 4, step_range, &jb);
    jb.off += nw, jb.wd = 0.0f;
    if (part & NN_UPDATE_BIAS) nn_parallel_ranges(threads, ly->out, 4, step_range, &jb);
}

nn_status nn_step(nn_network *net, float learning_rate)
{
    if (!net) return NN_ERR_INVALID_ARGUMENT;
    net->err[0] = '\0';
    if (!(learning_rate >= 0.0f) || !isfinite(learning_rate))
        return nn_fail(net, NN_ERR_INVALID_ARGUMENT, "learning rate %g", (double)learning_rate);
    nn_status s = nn_optimizer_require_whole(net);
    if (s) return s;
    const nn_kernels *kr = nn_kernels_active();
    const nn_update u = nn_update_begin(net, learning_rate);
    for (size_t l = 0; l < net->n_layers; l++)
        nn_update_layer(net, kr, l, &u, NN_UPDATE_WEIGHTS | NN_UPDATE_BIAS);
    return NN_OK;
}

size_t nn_state_floats(const nn_network *net)
{
    return net->n_params + nn_optimizer_state_floats(net); /* the create-time check bounds it */
}

void nn_save_state(const nn_network *net, float *to)
{
    const size_t arrays = state_arrays(net->opt.kind), n = net->n_params, k = net->opt_len;
    memcpy(to, net->params, n * sizeof(float));
    if (arrays >= 1 && k) memcpy(to + n, net->opt_m, k * sizeof(float));
    if (arrays >= 2 && k) memcpy(to + n + k, net->opt_v, k * sizeof(float));
}

void nn_restore_state(nn_network *net, const float *from, uint64_t steps)
{
    const size_t arrays = state_arrays(net->opt.kind), n = net->n_params, k = net->opt_len;
    memcpy(net->params, from, n * sizeof(float));
    if (arrays >= 1 && k) memcpy(net->opt_m, from + n, k * sizeof(float));
    if (arrays >= 2 && k) memcpy(net->opt_v, from + n + k, k * sizeof(float));
    net->opt_steps = steps;
}
