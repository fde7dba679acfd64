/* Networks: gradients against finite differences, the seed's sine trajectory,
 * ISA agreement of a whole training step, thread-count determinism, and
 * every kind of bad input. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, access, rmdir */
#include <float.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

static nn_network *make_net(size_t n_layers, const size_t *sizes, const nn_activation *acts,
                            nn_loss loss, uint64_t seed)
{
    nn_network *net = NULL;
    ck_assert_int_eq(nn_network_create(&net, n_layers, sizes, acts, loss, seed), NN_OK);
    ck_assert_ptr_nonnull(net);
    return net;
}

/* Columns of Y: for cross-entropy nonnegative, summing to 1 (a probability
 * distribution) or, with `unnormalized`, to 0.25, 1.25 or 2.25 by column;
 * else uniform. */
static float *make_targets_sum(size_t rows, size_t m, size_t ld, nn_loss loss, uint64_t seed, int unnormalized)
{
    float *y = tu_random(ld * m, seed, -0.9f, 0.9f);
    if (loss == NN_CROSS_ENTROPY)
        for (size_t j = 0; j < m; j++) {
            float s = 0;
            const float want = unnormalized ? 0.25f + (float)(j % 3) : 1.0f;
            for (size_t i = 0; i < rows; i++) s += (y[i + j * ld] = fabsf(y[i + j * ld]) + 0.05f);
            for (size_t i = 0; i < rows; i++) y[i + j * ld] *= want / s;
        }
    return y;
}

static float *make_targets(size_t rows, size_t m, size_t ld, nn_loss loss, uint64_t seed)
{
    return make_targets_sum(rows, m, ld, loss, seed, 0);
}

/* Central differences on every parameter, in float; h = 1e-3 balances
 * truncation (h²) against the cost's rounding (eps·cost/h). Tolerance per
 * element: 2 % of the larger magnitude + 2e-4·(largest gradient + 1). */
static void check_gradient_y(size_t n_layers, const size_t *sizes, const nn_activation *acts, nn_loss loss,
                             size_t m, size_t pad, uint64_t seed, int unnormalized)
{
    nn_network *net = make_net(n_layers, sizes, acts, loss, seed);
    const size_t n_in = sizes[0], n_out = sizes[n_layers];
    const size_t ldx = n_in + pad, ldy = n_out + pad;
    float *x = tu_random(ldx * m, seed + 7, -1.5f, 1.5f);
    float *y = make_targets_sum(n_out, m, ldy, loss, seed + 8, unnormalized);
    float cost;
    ck_assert_int_eq(nn_gradient(net, x, ldx, y, ldy, m, &cost), NN_OK);
    for (size_t l = 0; l < n_layers; l++) {
        const size_t rows = sizes[l + 1], cols = sizes[l], nw = rows * cols;
        float *w = malloc(nw * sizeof *w), *dw = malloc(nw * sizeof *dw);
        float *b = malloc(rows * sizeof *b), *db = malloc(rows * sizeof *db);
        ck_assert_int_eq(nn_get_weights(net, l, w, rows), NN_OK);
        ck_assert_int_eq(nn_get_weight_gradient(net, l, dw, rows), NN_OK);
        ck_assert_int_eq(nn_get_bias(net, l, b), NN_OK);
        ck_assert_int_eq(nn_get_bias_gradient(net, l, db), NN_OK);
        float gmax = 0;
        for (size_t i = 0; i < nw; i++) gmax = fmaxf(gmax, fabsf(dw[i]));
        for (size_t i = 0; i < rows; i++) gmax = fmaxf(gmax, fabsf(db[i]));
        for (size_t i = 0; i < nw + rows; i++) {
            float *p = i < nw ? &w[i] : &b[i - nw];
            const float g = i < nw ? dw[i] : db[i - nw], keep = *p, h = 1e-3f;
            float cp, cm;
            *p = keep + h;
            ck_assert_int_eq(i < nw ? nn_set_weights(net, l, w, rows) : nn_set_bias(net, l, b), NN_OK);
            ck_assert_int_eq(nn_cost(net, x, ldx, y, ldy, m, &cp), NN_OK);
            *p = keep - h;
            ck_assert_int_eq(i < nw ? nn_set_weights(net, l, w, rows) : nn_set_bias(net, l, b), NN_OK);
            ck_assert_int_eq(nn_cost(net, x, ldx, y, ldy, m, &cm), NN_OK);
            *p = keep;
            ck_assert_int_eq(i < nw ? nn_set_weights(net, l, w, rows) : nn_set_bias(net, l, b), NN_OK);
            const double fd = ((double)cp - cm) / (2.0 * h);
            const double tol = 0.02 * fmax(fabs(fd), fabs(g)) + 2e-4 * (gmax + 1.0);
            ck_assert_msg(fabs(fd - g) <= tol, "%s layer %zu param %zu (%s, m=%zu): fd %g vs %g",
                          nn_isa_name(nn_get_isa()), l, i, nn_activation_name(acts[l]), m, fd, (double)g);
        }
        free(w), free(dw), free(b), free(db);
    }
    free(x), free(y);
    nn_network_destroy(net);
}

static void check_gradient(size_t n_layers, const size_t *sizes, const nn_activation *acts, nn_loss loss,
                           size_t m, size_t pad, uint64_t seed)
{
    check_gradient_y(n_layers, sizes, acts, loss, m, pad, seed, 0);
}

/* Cross-entropy targets whose columns do not sum to 1 (soft or weighted
 * labels): the gradient is still the cost's own. The case first
 * (2 -> 3 softmax, x = {0.5, -1}, y = {0, 2, 0}: db was A − Y = (0.334,
 * -1.593, 0.259) where the derivative is (0.668, -1.186, 0.518)), then
 * finite differences on every ISA; negative targets are refused. */
START_TEST(cross_entropy_targets_not_summing_to_one)
{
    const size_t sz[] = {2, 3};
    const nn_activation sm[] = {NN_SOFTMAX};
    nn_network *net = make_net(1, sz, sm, NN_CROSS_ENTROPY, 1);
    const float x[] = {0.5f, -1.0f}, y[] = {0.0f, 2.0f, 0.0f};
    float db[3], a[3];
    ck_assert_int_eq(nn_gradient(net, x, 2, y, 3, 1, NULL), NN_OK);
    ck_assert_int_eq(nn_get_bias_gradient(net, 0, db), NN_OK);
    ck_assert_int_eq(nn_forward(net, x, 2, 1, a, 3), NN_OK);
    for (int i = 0; i < 3; i++) ck_assert_float_eq_tol(db[i], 2.0f * a[i] - y[i], 1e-6f);
    const float neg[] = {0.5f, -0.1f, 0.6f};
    ck_assert_int_eq(nn_gradient(net, x, 2, neg, 3, 1, NULL), NN_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(nn_network_error(net), ">= 0"));
    nn_network_destroy(net);
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    for (int s = 0; s < n_isa; s++) {
        ck_assert_int_eq(nn_set_isa(isas[s]), NN_OK);
        const size_t sz2[] = {5, 13, 11, 3};
        const nn_activation ce[] = {NN_SIGMOID, NN_TANH, NN_SOFTMAX};
        check_gradient_y(3, sz2, ce, NN_CROSS_ENTROPY, 17, 2, 50, 1);
    }
}
END_TEST

START_TEST(gradients_match_finite_differences)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    for (int s = 0; s < n_isa; s++) {
        ck_assert_int_eq(nn_set_isa(isas[s]), NN_OK);
        /* 1x1, batch 1 */
        const size_t s11[] = {1, 1};
        for (int a = 0; a < NN_SOFTMAX; a++) {
            const nn_activation act[] = {(nn_activation)a};
            check_gradient(1, s11, act, NN_MSE, 1, 0, 10 + (uint64_t)a);
        }
        /* every hidden activation, odd and prime sizes, ld > rows, both losses */
        for (int a = 0; a < NN_SOFTMAX; a++) {
            const size_t sz[] = {3, 7, 5, 2};
            const nn_activation mse[] = {(nn_activation)a, NN_TANH, (nn_activation)((a + 1) % NN_SOFTMAX)};
            check_gradient(3, sz, mse, NN_MSE, 7, 3, 20 + (uint64_t)a);
            const size_t sz2[] = {5, 13, 11, 3};
            const nn_activation ce[] = {NN_SIGMOID, (nn_activation)a, NN_SOFTMAX};
            check_gradient(3, sz2, ce, NN_CROSS_ENTROPY, 17, 2, 30 + (uint64_t)a);
        }
        const size_t one[] = {4, 1};
        const nn_activation sm[] = {NN_SOFTMAX}; /* a 1-class softmax has zero gradient */
        check_gradient(1, one, sm, NN_CROSS_ENTROPY, 3, 1, 40);
    }
}
END_TEST

/* ---- the seed's sine example ---- */

typedef struct sine_ref {
    float w1[20], b1[20], w2[20], b2;
    double cost[11]; /* epochs 0, 2000, ..., 20000 */
} sine_ref;

static void read_values(FILE *f, const char *name, float *out, size_t n)
{
    char tag[16];
    size_t r, c;
    ck_assert_int_eq(fscanf(f, "%15s %zu %zu", tag, &r, &c), 3);
    ck_assert_str_eq(tag, name);
    ck_assert_uint_eq(r * c, n);
    for (size_t i = 0; i < n; i++) {
        double v;
        ck_assert_int_eq(fscanf(f, "%lf", &v), 1);
        out[i] = (float)v;
    }
}

static void load_sine_ref(sine_ref *ref)
{
    FILE *f = fopen(NN_TEST_DATA "/sine_reference.txt", "r");
    ck_assert_msg(f != NULL, "cannot open %s", NN_TEST_DATA "/sine_reference.txt");
    char line[512];
    long pos = 0;
    while (fgets(line, sizeof line, f) && line[0] == '#') pos = ftell(f); /* comments */
    fseek(f, pos, SEEK_SET);
    read_values(f, "W1", ref->w1, 20); /* 20x1 and 1x20: row- and column-major agree */
    read_values(f, "b1", ref->b1, 20);
    read_values(f, "W2", ref->w2, 20);
    read_values(f, "b2", &ref->b2, 1);
    int c;
    while ((c = fgetc(f)) == '\n' || c == '#') /* the comment line before the costs */
        if (c == '#' && !fgets(line, sizeof line, f)) break;
    ungetc(c, f);
    for (int i = 0; i < 11; i++) {
        char tag[16];
        int epoch;
        ck_assert_int_eq(fscanf(f, "%15s %d %lf", tag, &epoch, &ref->cost[i]), 3);
        ck_assert_str_eq(tag, "cost");
        ck_assert_int_eq(epoch, 2000 * i);
    }
    fclose(f);
}

/* float32 against the float64 reference over 20000 steps: every ISA stays
 * within 1e-4 relative at every 2000th epoch (observed: 1.3e-5). */
#define SINE_REL_TOL 1e-4

START_TEST(sine_follows_reference_trajectory)
{
    sine_ref ref;
    load_sine_ref(&ref);
    float x[100], y[100];
    for (int i = 0; i < 100; i++) {
        x[i] = (float)(-5.0 + 0.1 * i);
        y[i] = (float)sin(-5.0 + 0.1 * i);
    }
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    for (int s = 0; s < n_isa; s++) {
        ck_assert_int_eq(nn_set_isa(isas[s]), NN_OK);
        const size_t sizes[] = {1, 20, 1};
        const nn_activation acts[] = {NN_SIGMOID, NN_IDENTITY};
        nn_network *net = make_net(2, sizes, acts, NN_MSE, 0);
        ck_assert_int_eq(nn_set_weights(net, 0, ref.w1, 20), NN_OK);
        ck_assert_int_eq(nn_set_bias(net, 0, ref.b1), NN_OK);
        ck_assert_int_eq(nn_set_weights(net, 1, ref.w2, 1), NN_OK);
        ck_assert_int_eq(nn_set_bias(net, 1, &ref.b2), NN_OK);
        double worst = 0;
        for (int epoch = 0; epoch <= 20000; epoch++) {
            float cost;
            ck_assert_int_eq(nn_gradient(net, x, 1, y, 1, 100, &cost), NN_OK);
            if (epoch % 2000 == 0) {
                const double want = ref.cost[epoch / 2000], rel = fabs(cost - want) / want;
                worst = fmax(worst, rel);
                ck_assert_msg(rel <= SINE_REL_TOL, "%s epoch %d: cost %.9g, reference %.9g (rel %.2g)",
                              nn_isa_name(isas[s]), epoch, (double)cost, want, rel);
            }
            ck_assert_int_eq(nn_step(net, 0.1f), NN_OK);
        }
        printf("sine %s: worst relative cost deviation %.2e\n", nn_isa_name(isas[s]), worst);
        nn_network_destroy(net);
    }
}
END_TEST

START_TEST(sine_own_initialization_converges)
{
    float x[100], y[100];
    for (int i = 0; i < 100; i++) {
        x[i] = (float)(-5.0 + 0.1 * i);
        y[i] = sinf(x[i]);
    }
    const size_t sizes[] = {1, 20, 1};
    const nn_activation acts[] = {NN_SIGMOID, NN_IDENTITY};
    nn_network *net = make_net(2, sizes, acts, NN_MSE, 1);
    const nn_train_options opt = {.epochs = 20000, .learning_rate = 0.1f};
    ck_assert_int_eq(nn_train(net, x, 1, y, 1, 100, &opt, NULL, NULL), NN_OK);
    float cost;
    ck_assert_int_eq(nn_cost(net, x, 1, y, 1, 100, &cost), NN_OK);
    ck_assert_msg(cost < 0.01f, "final cost %g", (double)cost);
    nn_network_destroy(net);
}
END_TEST

/* ---- agreement and determinism ---- */

typedef struct run_result {
    float *params;
    float out[5 * 33];
    float cost;
    uint64_t digest;
} run_result;

/* A few minibatch-free steps of a 37-53-29-5 net (tanh, relu, softmax). */
static void train_steps(nn_isa isa, int threads, size_t wide, run_result *r)
{
    ck_assert_int_eq(nn_set_isa(isa), NN_OK);
    const size_t sizes[] = {37, 53 * wide, 29 * wide, 5};
    const nn_activation acts[] = {NN_TANH, NN_RELU, NN_SOFTMAX};
    nn_network *net = make_net(3, sizes, acts, NN_CROSS_ENTROPY, 99);
    ck_assert_int_eq(nn_set_threads(net, threads), NN_OK);
    const size_t m = 33 * wide;
    float *x = tu_random(37 * m, 3, -1, 1), *y = make_targets(5, m, 5, NN_CROSS_ENTROPY, 4);
    nn_optimizer adam = nn_optimizer_default(NN_ADAM);
    ck_assert_int_eq(nn_set_optimizer(net, &adam), NN_OK);
    for (int step = 0; step < 4; step++) {
        ck_assert_int_eq(nn_gradient(net, x, 37, y, 5, m, &r->cost), NN_OK);
        ck_assert_int_eq(nn_step(net, 1e-2f), NN_OK);
    }
    ck_assert_int_eq(nn_forward(net, x, 37, 33, r->out, 5), NN_OK);
    r->params = malloc(nn_network_parameter_count(net) * sizeof(float));
    size_t off = 0;
    for (size_t l = 0; l < 3; l++) {
        ck_assert_int_eq(nn_get_weights(net, l, r->params + off, sizes[l + 1]), NN_OK);
        off += sizes[l] * sizes[l + 1];
        ck_assert_int_eq(nn_get_bias(net, l, r->params + off), NN_OK);
        off += sizes[l + 1];
    }
    r->digest = nn_weights_digest(net);
    nn_network_destroy(net);
    free(x), free(y);
}

/* Every ISA's whole training step (forward, gradients, Adam update) agrees
 * with the scalar path: parameters within 1e-4 relative to their scale. */
START_TEST(training_step_every_isa_matches_scalar)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    run_result ref;
    train_steps(NN_ISA_SCALAR, 1, 1, &ref);
    const size_t n_params = 37 * 53 + 53 + 53 * 29 + 29 + 29 * 5 + 5;
    for (int s = 1; s < n_isa; s++) {
        run_result r;
        train_steps(isas[s], 1, 1, &r);
        for (size_t i = 0; i < n_params; i++)
            ck_assert_msg(fabsf(r.params[i] - ref.params[i]) <= 1e-4f * (1.0f + fabsf(ref.params[i])),
                          "%s param %zu: %g vs %g", nn_isa_name(isas[s]), i, (double)r.params[i],
                          (double)ref.params[i]);
        for (size_t i = 0; i < 5 * 33; i++) ck_assert_float_eq_tol(r.out[i], ref.out[i], 1e-5f);
        ck_assert_float_eq_tol(r.cost, ref.cost, 1e-5f * ref.cost);
        free(r.params);
    }
    free(ref.params);
}
END_TEST

/* Bitwise-identical training for 1, 2, 3 and 4 threads on every ISA. The
 * network is wide enough (≈ 30 MFLOP per GEMM) for the GEMMs to go parallel. */
START_TEST(training_bitwise_identical_across_threads)
{
    nn_isa isas[NN_ISA_COUNT];
    const int n_isa = tu_isas(isas);
    for (int s = 0; s < n_isa; s++) {
        run_result one;
        train_steps(isas[s], 1, 8, &one);
        for (int t = 2; t <= 4; t++) {
            run_result r;
            train_steps(isas[s], t, 8, &r);
            ck_assert_msg(r.digest == one.digest, "%s: %d threads digest %016llx != %016llx",
                          nn_isa_name(isas[s]), t, (unsigned long long)r.digest,
                          (unsigned long long)one.digest);
            ck_assert(memcmp(r.out, one.out, sizeof r.out) == 0);
            ck_assert(memcmp(&r.cost, &one.cost, sizeof r.cost) == 0);
            free(r.params);
        }
        free(one.params);
    }
}
END_TEST

static void *train_in_thread(void *arg)
{
    run_result *r = arg;
    train_steps(nn_get_isa(), 2, 4, r);
    return NULL;
}

/* Two networks trained at once from two user threads give what they give
 * one after the other. */
START_TEST(concurrent_networks)
{
    run_result seq, a, b;
    train_steps(nn_get_isa(), 2, 4, &seq);
    pthread_t ta, tb;
    ck_assert_int_eq(pthread_create(&ta, NULL, train_in_thread, &a), 0);
    ck_assert_int_eq(pthread_create(&tb, NULL, train_in_thread, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    ck_assert(a.digest == seq.digest && b.digest == seq.digest);
    free(seq.params), free(a.params), free(b.params);
}
END_TEST

START_TEST(topology_reported)
{
    nn_topology t;
    ck_assert_int_eq(nn_get_topology(&t), NN_OK);
    ck_assert_int_ge(t.cores, 1);
    ck_assert_int_ge(t.pus, t.cores);
    ck_assert_int_ge(t.threads, 1);
    ck_assert(strlen(t.cpu_model) > 0);
    const char *off = getenv("NN_NO_HWLOC");
    if (off && strcmp(off, "1") == 0) ck_assert_int_eq(t.from_hwloc, 0);
    /* the cost of starting a team is measured outside any parallel region */
    const char *given = getenv("NN_TEAM_US");
    if (given && *given) {
        ck_assert(t.team_us == strtod(given, NULL));
    } else {
        ck_assert(t.team_us >= 0.0 && t.team_us < 1e5);
#ifdef _OPENMP
        if (t.cores >= 2 && t.threads >= 2) ck_assert(t.team_us > 0.0);
        if (t.threads == 1) ck_assert(t.team_us == 0.0);
#endif
    }
    ck_assert_int_eq(nn_get_topology(NULL), NN_ERR_INVALID_ARGUMENT);
}
END_TEST

/* A cgroup tree in a temporary directory, as /proc/self/cgroup and
 * /proc/self/mountinfo would describe it; the files made, to remove. */
typedef struct fake_cgroups {
    char dir[64], made[16][256];
    int n;
} fake_cgroups;

static const char *fake_path(fake_cgroups *f, const char *rel)
{
    static char path[256]; /* the test's own, one at a time */
    snprintf(path, sizeof path, "%s/%s", f->dir, rel);
    return path;
}

static void fake_mkdir(fake_cgroups *f, const char *rel)
{
    const char *p = fake_path(f, rel);
    ck_assert_int_eq(mkdir(p, 0700), 0);
    snprintf(f->made[f->n++], sizeof f->made[0], "%s", p);
}

static void fake_write(fake_cgroups *f, const char *rel, const char *text)
{
    const char *p = fake_path(f, rel);
    int fresh = access(p, F_OK) != 0;
    FILE *out = fopen(p, "w");
    ck_assert_ptr_nonnull(out);
    fputs(text, out);
    fclose(out);
    if (fresh) snprintf(f->made[f->n++], sizeof f->made[0], "%s", p);
}

static int fake_limit(fake_cgroups *f)
{
    char cg[256], mi[256];
    snprintf(cg, sizeof cg, "%s/cgroup", f->dir);
    snprintf(mi, sizeof mi, "%s/mountinfo", f->dir);
    return nn_cgroup_cpu_limit(cg, mi);
}

START_TEST(cgroup_cpu_limit_read)
{
    fake_cgroups f = {.dir = "/tmp/nn_cgroup_XXXXXX"};
    ck_assert_ptr_nonnull(mkdtemp(f.dir));
    char line[512];
    /* v1: the cpu controller's hierarchy, a quota on the cgroup and a
     * smaller one on its parent; the least counts, rounded up */
    fake_mkdir(&f, "cpu");
    fake_mkdir(&f, "cpu/a");
    fake_mkdir(&f, "cpu/a/b");
    snprintf(line, sizeof line, "30 25 0:26 / %s/cpu rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n", f.dir);
    fake_write(&f, "mountinfo", line);
    fake_write(&f, "cgroup", "5:memory:/x\n4:cpu,cpuacct:/a/b\n0::/\n");
    fake_write(&f, "cpu/a/b/cpu.cfs_quota_us", "150000\n");
    fake_write(&f, "cpu/a/b/cpu.cfs_period_us", "100000\n");
    ck_assert_int_eq(fake_limit(&f), 2);
    fake_write(&f, "cpu/a/cpu.cfs_quota_us", "50000\n");
    fake_write(&f, "cpu/a/cpu.cfs_period_us", "100000\n");
    ck_assert_int_eq(fake_limit(&f), 1);
    fake_write(&f, "cpu/a/cpu.cfs_quota_us", "-1\n");
    ck_assert_int_eq(fake_limit(&f), 2);
    fake_write(&f, "cpu/a/b/cpu.cfs_quota_us", "-1\n");
    ck_assert_int_eq(fake_limit(&f), 0);
    /* v2 beside it: cpu.max, "max" for none; the mount's root (no cgroup
     * namespace) is cut off the process's path */
    fake_mkdir(&f, "v2");
    fake_mkdir(&f, "v2/svc");
    snprintf(line, sizeof line,
             "30 25 0:26 / %s/cpu rw - cgroup cgroup rw,cpu,cpuacct\n"
             "40 25 0:27 /ns %s/v2 rw shared:9 - cgroup2 cgroup2 rw,nsdelegate\n", f.dir, f.dir);
    fake_write(&f, "mountinfo", line);
    fake_write(&f, "cgroup", "4:cpu,cpuacct:/a/b\n0::/ns/svc\n");
    fake_write(&f, "v2/svc/cpu.max", "250000 100000\n");
    ck_assert_int_eq(fake_limit(&f), 3);
    fake_write(&f, "v2/svc/cpu.max", "max 100000\n");
    ck_assert_int_eq(fake_limit(&f), 0);
    fake_write(&f, "v2/cpu.max", "20000 100000\n"); /* a fifth of a CPU still runs one thread */
    ck_assert_int_eq(fake_limit(&f), 1);
    /* nothing to read: no limit */
    fake_write(&f, "cgroup", "garbage\n");
    ck_assert_int_eq(fake_limit(&f), 0);
    ck_assert_int_eq(nn_cgroup_cpu_limit("/nonexistent/cgroup", "/nonexistent/mountinfo"), 0);
    for (int i = f.n; i-- > 0;) ck_assert_int_eq(remove(f.made[i]), 0);
    ck_assert_int_eq(rmdir(f.dir), 0);
    /* and the machine's own, as the topology reports it */
    nn_topology t;
    ck_assert_int_eq(nn_get_topology(&t), NN_OK);
    ck_assert_int_eq(t.cpu_limit, nn_cgroup_cpu_limit("/proc/self/cgroup", "/proc/self/mountinfo"));
    if (t.cpu_limit > 0 && !getenv("NN_NUM_THREADS") && !getenv("OMP_NUM_THREADS"))
        ck_assert_int_le(t.threads, t.cpu_limit);
}
END_TEST

/* ---- bad input ---- */

START_TEST(bad_network_arguments)
{
    nn_network *net = NULL;
    const size_t sizes[] = {3, 4, 2};
    const nn_activation ok[] = {NN_RELU, NN_IDENTITY}, sm_hidden[] = {NN_SOFTMAX, NN_IDENTITY},
                        sm_out[] = {NN_RELU, NN_SOFTMAX}, bad[] = {(nn_activation)77, NN_IDENTITY};
    ck_assert_int_eq(nn_network_create(NULL, 2, sizes, ok, NN_MSE, 1), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_network_create(&net, 0, sizes, ok, NN_MSE, 1), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_network_create(&net, 2, NULL, ok, NN_MSE, 1), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_network_create(&net, 2, sizes, bad, NN_MSE, 1), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_network_create(&net, 2, sizes, sm_hidden, NN_MSE, 1), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_network_create(&net, 2, sizes, sm_out, NN_MSE, 1), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_network_create(&net, 2, sizes, ok, NN_CROSS_ENTROPY, 1), NN_ERR_INVALID_ARGUMENT);
    /* nn_network_check says why, since no network exists to hold a message */
    char why[128];
    ck_assert_int_eq(nn_network_check(2, sizes, sm_hidden, NN_MSE, why, sizeof why), NN_ERR_INVALID_ARGUMENT);
    ck_assert_str_eq(why, "layer 0: softmax only on the output layer (layer 1)");
    ck_assert_int_eq(nn_network_check(2, sizes, ok, NN_CROSS_ENTROPY, why, sizeof why), NN_ERR_INVALID_ARGUMENT);
    ck_assert_str_eq(why, "cross-entropy needs a softmax output layer");
    ck_assert_int_eq(nn_network_check(2, sizes, ok, NN_MSE, why, sizeof why), NN_OK);
    ck_assert_str_eq(why, "");
    ck_assert_int_eq(nn_network_check(2, sizes, bad, NN_MSE, NULL, 0), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_network_create(&net, 2, sizes, ok, (nn_loss)5, 1), NN_ERR_INVALID_ARGUMENT);
    const size_t zero[] = {3, 0, 2};
    ck_assert_int_eq(nn_network_create(&net, 2, zero, ok, NN_MSE, 1), NN_ERR_INVALID_ARGUMENT);
    const size_t huge[] = {SIZE_MAX / 2, 4, 2};
    ck_assert_int_eq(nn_network_create(&net, 2, huge, ok, NN_MSE, 1), NN_ERR_OVERFLOW);
    ck_assert_ptr_null(net);

    net = make_net(2, sizes, ok, NN_MSE, 1);
    float x[12] = {0}, y[8] = {0}, w[12];
    ck_assert_int_eq(nn_gradient(net, x, 3, y, 2, 0, NULL), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_gradient(net, NULL, 3, y, 2, 4, NULL), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_gradient(net, x, 2, y, 2, 4, NULL), NN_ERR_INVALID_ARGUMENT);
    ck_assert(strstr(nn_network_error(net), "ldx") != NULL);
    ck_assert_int_eq(nn_gradient(net, x, 3, y, 1, 4, NULL), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_gradient(net, x, 3, NULL, 2, 4, NULL), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_gradient(net, x, SIZE_MAX / 2, y, 2, 4, NULL), NN_ERR_OVERFLOW);
    x[5] = NAN;
    ck_assert_int_eq(nn_forward(net, x, 3, 4, NULL, 0), NN_ERR_NON_FINITE);
    ck_assert(strstr(nn_network_error(net), "NaN") != NULL);
    x[5] = 0;
    y[3] = INFINITY;
    ck_assert_int_eq(nn_cost(net, x, 3, y, 2, 4, &w[0]), NN_ERR_NON_FINITE);
    y[3] = 0;
    ck_assert_int_eq(nn_cost(net, x, 3, y, 2, 4, NULL), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_forward(net, x, 3, 4, y, 1), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_forward(net, x, 3, 4, y, 2), NN_OK);
    ck_assert_str_eq(nn_network_error(net), "");

    ck_assert_int_eq(nn_get_weights(net, 2, w, 4), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_get_weights(net, 0, w, 3), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_get_weights(net, 0, NULL, 4), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_get_weights(net, 0, w, 4), NN_OK);
    w[1] = NAN;
    const uint64_t before = nn_weights_digest(net);
    ck_assert_int_eq(nn_set_weights(net, 0, w, 4), NN_ERR_NON_FINITE);
    ck_assert(nn_weights_digest(net) == before); /* unchanged */
    ck_assert_int_eq(nn_step(net, NAN), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_step(net, -1.0f), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_set_threads(net, -2), NN_ERR_INVALID_ARGUMENT);
    /* empty work: fine where nothing is averaged, refused where a mean over
     * no samples is asked for */
    ck_assert_int_eq(nn_reserve(net, 0), NN_OK);
    ck_assert_int_eq(nn_forward(net, NULL, 0, 0, NULL, 0), NN_OK);
    ck_assert_int_eq(nn_cost(net, x, 3, y, 2, 0, &w[0]), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_train_step(net, x, 3, y, 2, 0, 0.1f, NULL), NN_ERR_INVALID_ARGUMENT);
    ck_assert(strstr(nn_network_error(net), "no samples") != NULL);
    ck_assert_int_eq(nn_reserve(net, SIZE_MAX / 4), NN_ERR_OVERFLOW);
    nn_optimizer o = nn_optimizer_default(NN_ADAM);
    o.beta1 = 1.5f;
    ck_assert_int_eq(nn_set_optimizer(net, &o), NN_ERR_INVALID_ARGUMENT);
    const nn_train_options topt = {.epochs = 1, .learning_rate = INFINITY};
    ck_assert_int_eq(nn_train(net, x, 3, y, 2, 4, &topt, NULL, NULL), NN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(nn_train(net, x, 3, y, 2, 4, NULL, NULL, NULL), NN_ERR_INVALID_ARGUMENT);
    nn_network_destroy(net);
    nn_network_destroy(NULL);
    ck_assert_uint_eq(nn_network_layers(NULL), 0);
    ck_assert_str_eq(nn_strerror(NN_ERR_CHECKSUM), "checksum mismatch");
    ck_assert_str_eq(nn_strerror((nn_status)1234), "unknown status");
}
END_TEST

static int stop_after_three(size_t epoch, float cost, void *user)
{
    (void)cost;
    *(size_t *)user = epoch;
    return epoch == 2;
}

/* A learning rate that blows up: training stops with NN_ERR_NON_FINITE and
 * keeps finite parameters; the callback can stop training. */
START_TEST(divergence_and_early_stop)
{
    const size_t sizes[] = {2, 8, 1};
    const nn_activation acts[] = {NN_RELU, NN_IDENTITY};
    nn_network *net = make_net(2, sizes, acts, NN_MSE, 5);
    float *x = tu_random(2 * 64, 1, -1, 1), *y = tu_random(64, 2, -1, 1);
    nn_train_options opt = {.epochs = 200, .batch_size = 16, .learning_rate = 1e6f, .shuffle_seed = 3};
    ck_assert_int_eq(nn_train(net, x, 2, y, 1, 64, &opt, NULL, NULL), NN_ERR_NON_FINITE);
    ck_assert(strstr(nn_network_error(net), "diverged") != NULL);
    float w[16], b[8];
    ck_assert_int_eq(nn_get_weights(net, 0, w, 8), NN_OK);
    ck_assert_int_eq(nn_get_bias(net, 0, b), NN_OK);
    for (int i = 0; i < 16; i++) ck_assert(isfinite(w[i]));
    for (int i = 0; i < 8; i++) ck_assert(isfinite(b[i]));

    size_t last = 99;
    ck_assert_int_eq(nn_network_init(net, 5), NN_OK);
    opt.learning_rate = 0.01f;
    ck_assert_int_eq(nn_train(net, x, 2, y, 1, 64, &opt, stop_after_three, &last), NN_OK);
    ck_assert_uint_eq(last, 2);
    nn_network_destroy(net);
    free(x), free(y);
}
END_TEST

/* Diverge, lower the rate, continue: after a diverged nn_train the
 * optimizer state is the one from the start of that epoch as well as the
 * parameters, so going on at a sane rate gives exactly what a run that
 * never diverged gives from there (it used to train on poisoned moments).
 * Momentum and Adam, on the small-network path and on the general one. */
START_TEST(divergence_restores_optimizer_state)
{
    const size_t small[] = {2, 8, 1}, wide[] = {20, 70, 3};
    const nn_activation acts[] = {NN_TANH, NN_IDENTITY};
    const nn_optimizer_kind kinds[] = {NN_MOMENTUM, NN_ADAM};
    for (int shape = 0; shape < 2; shape++)
        for (int k = 0; k < 2; k++) {
            const size_t *sz = shape ? wide : small;
            float *x = tu_random(sz[0] * 64, 1, -1, 1), *y = tu_random(sz[2] * 64, 2, -1, 1);
            const nn_optimizer o = nn_optimizer_default(kinds[k]);
            nn_network *a = make_net(2, sz, acts, NN_MSE, 5), *b = make_net(2, sz, acts, NN_MSE, 5);
            ck_assert_int_eq(nn_set_optimizer(a, &o), NN_OK);
            ck_assert_int_eq(nn_set_optimizer(b, &o), NN_OK);
            nn_train_options good = {.epochs = 2, .batch_size = 8, .learning_rate = 0.01f, .shuffle_seed = 3};
            nn_train_options bad = good;
            bad.epochs = 1, bad.learning_rate = 1e30f;
            ck_assert_int_eq(nn_train(a, x, sz[0], y, sz[2], 64, &good, NULL, NULL), NN_OK);
            ck_assert_int_eq(nn_train(b, x, sz[0], y, sz[2], 64, &good, NULL, NULL), NN_OK);
            ck_assert_int_eq(nn_train(a, x, sz[0], y, sz[2], 64, &bad, NULL, NULL), NN_ERR_NON_FINITE);
            ck_assert_uint_eq(nn_weights_digest(a), nn_weights_digest(b)); /* parameters restored */
            ck_assert_int_eq(nn_train(a, x, sz[0], y, sz[2], 64, &good, NULL, NULL), NN_OK);
            ck_assert_int_eq(nn_train(b, x, sz[0], y, sz[2], 64, &good, NULL, NULL), NN_OK);
            ck_assert_msg(nn_weights_digest(a) == nn_weights_digest(b),
                          "%s, %s path: training after a divergence differs from never diverging",
                          kinds[k] == NN_ADAM ? "Adam" : "momentum", shape ? "general" : "small");
            nn_network_destroy(a), nn_network_destroy(b);
            free(x), free(y);
        }
}
END_TEST

typedef struct batch_log {
    size_t calls, samples, last_batches;
    int ok;
} batch_log;

static void log_batch(const nn_batch_info *b, void *user)
{
    batch_log *lg = user;
    lg->calls++, lg->samples += b->size, lg->last_batches = b->batches;
    for (size_t j = 0; j < b->size; j++) { /* softmax columns and one-hot targets */
        float so = 0, st = 0;
        for (size_t i = 0; i < 3; i++) so += b->output[j * 3 + i], st += b->target[j * b->target_ld + i];
        lg->ok &= fabsf(so - 1.0f) < 1e-5f && st == 1.0f && isfinite(b->cost);
    }
}

/* nn_train with minibatches (the next one gathered beside the output
 * layer's steps when threads are free) gives the same bits on 1-4 threads. */
START_TEST(train_minibatches_bitwise_identical_across_threads)
{
    const size_t sizes[] = {70, 40, 24, 4};
    const nn_activation acts[] = {NN_RELU, NN_TANH, NN_SOFTMAX};
    const size_t m = 301; /* the last minibatch is partial */
    float *x = tu_random(70 * m, 11, 0, 1), *y = make_targets(4, m, 4, NN_CROSS_ENTROPY, 12);
    uint64_t first = 0;
    for (int t = 1; t <= 4; t++) {
        nn_network *net = make_net(3, sizes, acts, NN_CROSS_ENTROPY, 5);
        ck_assert_int_eq(nn_set_threads(net, t), NN_OK);
        nn_optimizer adam = nn_optimizer_default(NN_ADAM);
        ck_assert_int_eq(nn_set_optimizer(net, &adam), NN_OK);
        const nn_train_options opt = {.epochs = 3, .batch_size = 32, .learning_rate = 1e-2f, .shuffle_seed = 7};
        ck_assert_int_eq(nn_train(net, x, 70, y, 4, m, &opt, NULL, NULL), NN_OK);
        const uint64_t d = nn_weights_digest(net);
        if (t == 1) first = d;
        else ck_assert_msg(d == first, "%d threads: digest %016llx != %016llx", t, (unsigned long long)d,
                           (unsigned long long)first);
        nn_network_destroy(net);
    }
    free(x), free(y);
}
END_TEST

/* nn_train reports every minibatch, the last one partial, with its output
 * and targets. */
START_TEST(batch_callback_sees_every_minibatch)
{
    const size_t sizes[] = {4, 6, 3};
    const nn_activation acts[] = {NN_RELU, NN_SOFTMAX};
    nn_network *net = make_net(2, sizes, acts, NN_CROSS_ENTROPY, 4);
    float *x = tu_random(4 * 50, 6, -1, 1), *y = calloc(3 * 50, sizeof(float));
    for (int j = 0; j < 50; j++) y[j * 3 + j % 3] = 1.0f;
    batch_log lg = {.ok = 1};
    nn_train_options opt = {.epochs = 3, .batch_size = 16, .learning_rate = 0.1f, .on_batch = log_batch};
    ck_assert_int_eq(nn_train(net, x, 4, y, 3, 50, &opt, NULL, &lg), NN_OK);
    ck_assert_uint_eq(lg.calls, 3 * 4); /* 16 + 16 + 16 + 2 */
    ck_assert_uint_eq(lg.samples, 3 * 50);
    ck_assert_uint_eq(lg.last_batches, 4);
    ck_assert(lg.ok);
    nn_network_destroy(net);
    free(x), free(y);
}
END_TEST

/* A 1-1 identity network on one sample: cost (w·x + b − y)²/2, so
 * dw = r·x, db = r with r = w·x + b − y. Momentum and Adam against the
 * textbook formulas in double, step by step. */
START_TEST(optimizers_match_hand_computed)
{
    const size_t sizes[] = {1, 1};
    const nn_activation acts[] = {NN_IDENTITY};
    const float x = 1.5f, y = -0.5f;
    for (int kind = NN_SGD; kind <= NN_ADAM; kind++) {
        for (int fused = 0; fused < 2; fused++) {
            nn_network *net = make_net(1, sizes, acts, NN_MSE, 3);
            nn_optimizer o = nn_optimizer_default((nn_optimizer_kind)kind);
            o.weight_decay = 0.1f;
            ck_assert_int_eq(nn_set_optimizer(net, &o), NN_OK);
            const float w0 = 0.8f, b0 = 0.2f;
            ck_assert_int_eq(nn_set_weights(net, 0, &w0, 1), NN_OK);
            ck_assert_int_eq(nn_set_bias(net, 0, &b0), NN_OK);
            double w = w0, b = b0, vw = 0, vb = 0, mw = 0, mb = 0, sw = 0, sb = 0;
            const double lr = 0.05;
            for (int t = 1; t <= 5; t++) {
                const double r = w * x + b - y;
                const double gw = r * x + o.weight_decay * w, gb = r; /* decay on weights only */
                if (kind == NN_SGD) {
                    w -= lr * gw, b -= lr * gb;
                } else if (kind == NN_MOMENTUM) {
                    vw = o.momentum * vw + gw, vb = o.momentum * vb + gb;
                    w -= lr * vw, b -= lr * vb;
                } else {
                    mw = o.beta1 * mw + (1 - o.beta1) * gw, mb = o.beta1 * mb + (1 - o.beta1) * gb;
                    sw = o.beta2 * sw + (1 - o.beta2) * gw * gw, sb = o.beta2 * sb + (1 - o.beta2) * gb * gb;
                    const double c1 = 1 - pow(o.beta1, t), c2 = 1 - pow(o.beta2, t);
                    w -= lr * (mw / c1) / (sqrt(sw / c2) + o.epsilon);
                    b -= lr * (mb / c1) / (sqrt(sb / c2) + o.epsilon);
                }
                if (fused) {
                    ck_assert_int_eq(nn_train_step(net, &x, 1, &y, 1, 1, (float)lr, NULL), NN_OK);
                } else {
                    ck_assert_int_eq(nn_gradient(net, &x, 1, &y, 1, 1, NULL), NN_OK);
                    ck_assert_int_eq(nn_step(net, (float)lr), NN_OK);
                }
                float gotw, gotb;
                ck_assert_int_eq(nn_get_weights(net, 0, &gotw, 1), NN_OK);
                ck_assert_int_eq(nn_get_bias(net, 0, &gotb), NN_OK);
                ck_assert_msg(fabs(gotw - w) <= 1e-6 * (1 + fabs(w)) && fabs(gotb - b) <= 1e-6 * (1 + fabs(b)),
                              "optimizer %d fused %d step %d: (%g, %g) vs (%g, %g)", kind, fused, t,
                              (double)gotw, (double)gotb, w, b);
            }
            nn_network_destroy(net);
        }
    }
}
END_TEST

/* nn_train_step equals nn_gradient + nn_step up to rounding on a real net. */
START_TEST(fused_step_matches_separate)
{
    const size_t sizes[] = {19, 33, 7};
    const nn_activation acts[] = {NN_TANH, NN_SOFTMAX};
    float *x = tu_random(19 * 40, 1, -1, 1), *y = make_targets(7, 40, 7, NN_CROSS_ENTROPY, 2);
    for (int kind = NN_SGD; kind <= NN_ADAM; kind++) {
        nn_network *a = make_net(2, sizes, acts, NN_CROSS_ENTROPY, 8), *b = make_net(2, sizes, acts, NN_CROSS_ENTROPY, 8);
        nn_optimizer o = nn_optimizer_default((nn_optimizer_kind)kind);
        o.weight_decay = 1e-3f;
        ck_assert_int_eq(nn_set_optimizer(a, &o), NN_OK);
        ck_assert_int_eq(nn_set_optimizer(b, &o), NN_OK);
        for (int t = 0; t < 6; t++) {
            float ca, cb;
            ck_assert_int_eq(nn_train_step(a, x, 19, y, 7, 40, 0.05f, &ca), NN_OK);
            ck_assert_int_eq(nn_gradient(b, x, 19, y, 7, 40, &cb), NN_OK);
            ck_assert_int_eq(nn_step(b, 0.05f), NN_OK);
            ck_assert_float_eq_tol(ca, cb, 1e-5f * cb);
        }
        for (size_t l = 0; l < 2; l++) {
            float wa[33 * 19], wb[33 * 19];
            ck_assert_int_eq(nn_get_weights(a, l, wa, sizes[l + 1]), NN_OK);
            ck_assert_int_eq(nn_get_weights(b, l, wb, sizes[l + 1]), NN_OK);
            for (size_t i = 0; i < sizes[l] * sizes[l + 1]; i++)
                ck_assert_msg(fabsf(wa[i] - wb[i]) <= 1e-5f * (1 + fabsf(wb[i])), "kind %d layer %zu", kind, l);
        }
        nn_network_destroy(a);
        nn_network_destroy(b);
    }
    free(x), free(y);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {gradients_match_finite_differences, cross_entropy_targets_not_summing_to_one, sine_follows_reference_trajectory, sine_own_initialization_converges, training_step_every_isa_matches_scalar, training_bitwise_identical_across_threads, concurrent_networks, topology_reported, cgroup_cpu_limit_read, bad_network_arguments, divergence_and_early_stop, divergence_restores_optimizer_state, optimizers_match_hand_computed, fused_step_matches_separate, batch_callback_sees_every_minibatch, train_minibatches_bitwise_identical_across_threads};
    return tu_main("network", 600, tests, sizeof tests / sizeof *tests);
}
