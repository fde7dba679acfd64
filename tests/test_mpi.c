/* nn_mpi_train, run by CTest under mpiexec with 1, 2 and 3 ranks (3
 * oversubscribed on a 2-core machine). Plain C with its own tally (Check
 * forks, which MPI does not survive); prints "mpi: N passed, M failed" on
 * rank 0 and exits non-zero on any failure.
 *   - every rank ends with the same parameters; the same for 1 and 2
 *     threads; the same on a second run
 *   - one rank: bit for bit nn_train
 *   - any rank count: the cost within 1e-4 of the one-process run's
 *   - a rank with other weights or other data: refused on every rank
 *   - divergence: stopped on every rank, state restored
 *   - the gradients combined per layer during the backward pass or after
 *     it: the same bits
 *   - each rank holds only its shard's optimizer state; training refuses
 *     a split state, nn_mpi_gather_optimizer joins it; a run stopped and
 *     continued (split or joined in between) ends with the same bits
 * `test_mpi kill` instead has rank 1 die mid-run: the job must end (CTest
 * expects a failure within its timeout, never a hang). `test_mpi hang` has
 * rank 1 stall: rank 0 must give up with NN_ERR_TIMEOUT within seconds. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn_mpi.h"

static int rank, ranks, passed, failed;

static void check(int ok, const char *what)
{
    if (ok) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "rank %d: FAIL: %s\n", rank, what);
    }
}

enum { IN = 6, HID = 24, OUT = 3, M = 300 };

static nn_network *make(nn_optimizer_kind kind, int threads)
{
    const size_t sizes[] = {IN, HID, HID, OUT};
    const nn_activation acts[] = {NN_TANH, NN_RELU, NN_SOFTMAX};
    nn_network *net = NULL;
    if (nn_network_create(&net, 3, sizes, acts, NN_CROSS_ENTROPY, 7) != NN_OK) return NULL;
    const nn_optimizer o = nn_optimizer_default(kind);
    nn_set_optimizer(net, &o);
    nn_set_threads(net, threads);
    return net;
}

static void data(float *x, float *y)
{
    uint64_t s = 12345;
    for (int j = 0; j < M; j++) {
        float sum = 0;
        for (int i = 0; i < IN; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            x[j * IN + i] = (float)(s >> 40) / 16777216.0f - 0.5f;
            sum += x[j * IN + i] * (float)(i + 1);
        }
        for (int k = 0; k < OUT; k++) y[j * OUT + k] = 0.0f;
        y[j * OUT + (sum > 0.3f ? 0 : sum > -0.3f ? 1 : 2)] = 1.0f;
    }
}

static uint64_t hi_lo_equal(uint64_t v)
{
    uint64_t lo, hi;
    MPI_Allreduce(&v, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&v, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    return lo == hi;
}

static int die_at_epoch_2(size_t epoch, float cost, void *user)
{
    (void)cost, (void)user;
    if (rank == 1 && epoch == 2) raise(SIGKILL);
    return 0;
}

static int stall_at_epoch_1(size_t epoch, float cost, void *user)
{
    (void)cost, (void)user;
    if (rank == 1 && epoch == 1) {
        const struct timespec ten = {10, 0};
        nanosleep(&ten, NULL);
    }
    return 0;
}

static int stop_after_epoch_2(size_t epoch, float cost, void *user)
{
    (void)cost, (void)user;
    return epoch == 2;
}

static int gather_and_stop_after_epoch_2(size_t epoch, float cost, void *user)
{
    (void)cost;
    nn_mpi_gather_optimizer(user, MPI_COMM_WORLD);
    return epoch == 2;
}

static float last_cost;
static int keep_cost(size_t epoch, float cost, void *user)
{
    (void)epoch, (void)user;
    last_cost = cost;
    return 0;
}

/* The minibatches nn_train and nn_mpi_train take, as nn_mpi.h states, on
 * one process: nn_gradient + nn_step on each. */
static uint64_t plain_loop(nn_optimizer_kind kind, const float *x, const float *y, const nn_train_options *o,
                           float *cost)
{
    nn_network *net = make(kind, 1);
    size_t perm[M];
    for (size_t i = 0; i < M; i++) perm[i] = i;
    uint64_t st = o->shuffle_seed;
    float xb[IN * M], yb[OUT * M];
    for (size_t e = 0; e < o->epochs; e++) {
        for (size_t i = M; i > 1; i--) {
            uint64_t z = (st += 0x9e3779b97f4a7c15ull);
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            z ^= z >> 31;
            const size_t j = (size_t)(z % i), t = perm[i - 1];
            perm[i - 1] = perm[j], perm[j] = t;
        }
        double total = 0;
        for (size_t s0 = 0; s0 < M; s0 += o->batch_size) {
            const size_t nb = M - s0 < o->batch_size ? M - s0 : o->batch_size;
            for (size_t j = 0; j < nb; j++) {
                memcpy(xb + j * IN, x + perm[s0 + j] * IN, IN * sizeof(float));
                memcpy(yb + j * OUT, y + perm[s0 + j] * OUT, OUT * sizeof(float));
            }
            float c;
            nn_gradient(net, xb, IN, yb, OUT, nb, &c);
            nn_step(net, nn_scheduled_rate(o, e));
            total += (double)c * (double)nb;
        }
        *cost = (float)(total / M);
    }
    const uint64_t d = nn_weights_digest(net);
    nn_network_destroy(net);
    return d;
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    static float x[M * IN], y[M * OUT];
    data(x, y);
    const nn_train_options opt = {.epochs = 6, .batch_size = 32, .learning_rate = 0.01f, .shuffle_seed = 3,
                                  .schedule = NN_COSINE};
    char what[160];

    if (argc > 1 && strcmp(argv[1], "kill") == 0) { /* rank 1 dies at its third epoch */
        nn_network *net = make(NN_ADAM, 1);
        nn_train_options longer = opt;
        longer.epochs = 100000;
        nn_mpi_train(net, MPI_COMM_WORLD, x, IN, y, OUT, M, &longer, NULL, die_at_epoch_2, NULL, NULL);
        MPI_Finalize();
        return 0; /* a correct job never gets here: rank 1 is gone mid-run */
    }
    if (argc > 1 && strcmp(argv[1], "hang") == 0) { /* rank 1 stalls for 10 s at its second epoch */
        nn_network *net = make(NN_ADAM, 1);
        nn_train_options longer = opt;
        longer.epochs = 100000;
        const nn_mpi_options patience = {.timeout_seconds = 1.0};
        const double t0 = MPI_Wtime();
        const nn_status s = nn_mpi_train(net, MPI_COMM_WORLD, x, IN, y, OUT, M, &longer, &patience,
                                         stall_at_epoch_1, NULL, NULL);
        const double waited = MPI_Wtime() - t0;
        if (rank == 0) {
            printf("mpi hang: rank 0: %s after %.1f s: %s\n", nn_strerror(s), waited, nn_network_error(net));
            if (s == NN_ERR_TIMEOUT && waited < 6.0) printf("mpi hang: rank 0 timed out in time\n");
            fflush(stdout);
        }
        MPI_Abort(MPI_COMM_WORLD, 1); /* what nn_mpi.h asks after a timeout */
    }

    const nn_optimizer_kind kinds[] = {NN_SGD, NN_MOMENTUM, NN_ADAM};
    for (int k = 0; k < 3; k++) {
        uint64_t digest[2];
        for (int t = 1; t <= 2; t++) {
            nn_network *net = make(kinds[k], t);
            const nn_status s = nn_mpi_train(net, MPI_COMM_WORLD, x, IN, y, OUT, M, &opt, NULL, keep_cost, NULL, NULL);
            snprintf(what, sizeof what, "optimizer %d, %d threads: %s %s", k, t, nn_strerror(s), nn_network_error(net));
            check(s == NN_OK, what);
            digest[t - 1] = nn_weights_digest(net);
            nn_network_destroy(net);
        }
        snprintf(what, sizeof what, "optimizer %d: ranks end with different parameters", k);
        check(hi_lo_equal(digest[0]), what);
        snprintf(what, sizeof what, "optimizer %d: 1 and 2 threads differ", k);
        check(digest[0] == digest[1], what);
        float plain_cost;
        const uint64_t plain = plain_loop(kinds[k], x, y, &opt, &plain_cost);
        if (ranks == 1) { /* one rank: nn_train's bits */
            nn_network *alone = make(kinds[k], 2);
            nn_train(alone, x, IN, y, OUT, M, &opt, NULL, NULL);
            snprintf(what, sizeof what, "optimizer %d: one rank %016llx, nn_train %016llx", k,
                     (unsigned long long)digest[0], (unsigned long long)nn_weights_digest(alone));
            check(digest[0] == nn_weights_digest(alone), what);
            nn_network_destroy(alone);
        }
        (void)plain;
        snprintf(what, sizeof what, "optimizer %d: last epoch's cost %g, one process %g", k, (double)last_cost,
                 (double)plain_cost);
        check(fabsf(last_cost - plain_cost) <= 1e-4f * (1.0f + plain_cost), what);
        if (rank == 0)
            printf("mpi: %d ranks, optimizer %d: cost %.6f (one process %.6f), digest %016llx\n", ranks, k,
                   (double)last_cost, (double)plain_cost, (unsigned long long)digest[0]);
    }
    { /* per-layer overlap or not: the same bits; the state kept per shard */
        nn_network *a = make(NN_ADAM, 2), *b = make(NN_ADAM, 2);
        const nn_mpi_options after = {.no_overlap = 1};
        nn_mpi_stats st;
        nn_mpi_train(a, MPI_COMM_WORLD, x, IN, y, OUT, M, &opt, NULL, NULL, NULL, &st);
        nn_mpi_train(b, MPI_COMM_WORLD, x, IN, y, OUT, M, &opt, &after, NULL, NULL, NULL);
        check(nn_weights_digest(a) == nn_weights_digest(b), "overlapped and serial exchanges differ");
        const size_t P = nn_network_parameter_count(a), shard = P * (size_t)(rank + 1) / (size_t)ranks - P * (size_t)rank / (size_t)ranks;
        snprintf(what, sizeof what, "Adam state held: %zu floats, shard %zu of %zu", st.optimizer_floats, shard, P);
        check(st.optimizer_floats == 2 * shard, what);
        const float one[IN] = {0}, hot[OUT] = {1.0f};
        float c;
        const nn_status split = nn_train_step(a, one, IN, hot, OUT, 1, 0.01f, &c);
        check(ranks == 1 ? split == NN_OK : split == NN_ERR_INVALID_ARGUMENT && strstr(nn_network_error(a), "nn_mpi_gather_optimizer"),
              "a split optimizer state is not refused by nn_train_step");
        check(ranks == 1 || nn_checkpoint_save(b, 1, "mpi_split.ckpt") == NN_ERR_INVALID_ARGUMENT,
              "a split optimizer state is not refused by nn_checkpoint_save");
        check(nn_mpi_gather_optimizer(b, MPI_COMM_WORLD) == NN_OK, "nn_mpi_gather_optimizer");
        check(nn_train_step(b, one, IN, hot, OUT, 1, 0.01f, &c) == NN_OK, "the joined state is refused");
        nn_network_destroy(a), nn_network_destroy(b);
    }
    { /* stopped after epoch 2 and continued, the state split or joined in between: the bits of one run */
        nn_train_options flat = opt;
        flat.schedule = NN_CONSTANT;
        nn_network *whole = make(NN_ADAM, 1), *split = make(NN_ADAM, 1), *joined = make(NN_ADAM, 1);
        nn_mpi_train(whole, MPI_COMM_WORLD, x, IN, y, OUT, M, &flat, NULL, NULL, NULL, NULL);
        nn_mpi_train(split, MPI_COMM_WORLD, x, IN, y, OUT, M, &flat, NULL, stop_after_epoch_2, NULL, NULL);
        nn_mpi_train(joined, MPI_COMM_WORLD, x, IN, y, OUT, M, &flat, NULL, gather_and_stop_after_epoch_2, joined,
                     NULL);
        flat.start_epoch = 3;
        nn_mpi_train(split, MPI_COMM_WORLD, x, IN, y, OUT, M, &flat, NULL, NULL, NULL, NULL);
        nn_mpi_train(joined, MPI_COMM_WORLD, x, IN, y, OUT, M, &flat, NULL, gather_and_stop_after_epoch_2, joined,
                     NULL);
        check(nn_weights_digest(split) == nn_weights_digest(whole), "continued with a split state: other bits");
        check(nn_weights_digest(joined) == nn_weights_digest(whole), "continued with a joined state: other bits");
        nn_network_destroy(whole), nn_network_destroy(split), nn_network_destroy(joined);
    }
    /* a second run gives the same bits */
    {
        nn_network *a = make(NN_ADAM, 2), *b = make(NN_ADAM, 1);
        nn_mpi_train(a, MPI_COMM_WORLD, x, IN, y, OUT, M, &opt, NULL, NULL, NULL, NULL);
        nn_mpi_train(b, MPI_COMM_WORLD, x, IN, y, OUT, M, &opt, NULL, NULL, NULL, NULL);
        check(nn_weights_digest(a) == nn_weights_digest(b), "a second run differs");
        nn_network_destroy(a), nn_network_destroy(b);
    }
    if (ranks > 1) { /* mismatches are refused on every rank */
        nn_network *net = make(NN_ADAM, 1);
        if (rank == ranks - 1) {
            float b[HID] = {0};
            b[3] = 0.5f;
            nn_set_bias(net, 0, b);
        }
        nn_status s = nn_mpi_train(net, MPI_COMM_WORLD, x, IN, y, OUT, M, &opt, NULL, NULL, NULL, NULL);
        check(s == NN_ERR_INVALID_ARGUMENT && strstr(nn_network_error(net), "networks"), "other weights not refused");
        nn_network_destroy(net);
        net = make(NN_ADAM, 1);
        static float x2[M * IN];
        memcpy(x2, x, sizeof x2);
        if (rank == 0) x2[0] += 1.0f;
        s = nn_mpi_train(net, MPI_COMM_WORLD, x2, IN, y, OUT, M, &opt, NULL, NULL, NULL, NULL);
        check(s == NN_ERR_INVALID_ARGUMENT && strstr(nn_network_error(net), "data"), "other data not refused");
        nn_network_destroy(net);
    }
    { /* divergence: every rank stops, parameters restored */
        nn_network *net = make(NN_SGD, 1);
        const uint64_t before = nn_weights_digest(net);
        nn_train_options wild = opt;
        wild.learning_rate = 1e30f, wild.epochs = 1;
        const nn_status s = nn_mpi_train(net, MPI_COMM_WORLD, x, IN, y, OUT, M, &wild, NULL, NULL, NULL, NULL);
        check(s == NN_ERR_NON_FINITE && nn_weights_digest(net) == before, "divergence not stopped and restored");
        nn_network_destroy(net);
    }
    int totals[2] = {passed, failed}, sums[2];
    MPI_Reduce(totals, sums, 2, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) printf("mpi: %d passed, %d failed\n", sums[0], sums[1]);
    MPI_Finalize();
    return failed ? 1 : 0;
}
