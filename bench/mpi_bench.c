/*
 * nnbench-mpi: samples/s of data-parallel training (nn_mpi_train) and the
 * time its exchanges take, for the MLPs of the Fashion-MNIST runs.
 *
 *   mpirun -n R [--bind-to none] nnbench-mpi [THREADS_PER_RANK] [SAMPLES]
 *
 * Trains 784-256-128-10 and 784-256-256-10 (ReLU, softmax + cross-entropy,
 * Adam 1e-3, minibatch 128) for 2 epochs on SAMPLES (default 10000)
 * Fashion-MNIST training images (random data when the data set is not
 * installed), and prints on rank 0, per network: samples/s of the whole
 * job and the time per step spent waiting for exchanges, with each layer's
 * gradients combined during the backward pass (overlap) and after it
 * (serial), the bytes sent per step and the optimizer state each rank holds.
 * Run it with R = 1 and 2 threads, then R = 2 and 1 thread, to compare.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_mpi.h"

#define FASHION "/usr/share/datasets/fashion-mnist/"
#define ROUNDS 3

static double median3(const double v[ROUNDS])
{
    const double lo = v[0] < v[1] ? v[0] : v[1], hi = v[0] < v[1] ? v[1] : v[0];
    return v[2] < lo ? lo : v[2] > hi ? hi : v[2];
}

int main(int argc, char **argv)
{
    int provided, rank, ranks;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    /* whole numbers only: "12abc" is not 12 */
    char *end1 = NULL, *end2 = NULL;
    const long threads = argc > 1 ? strtol(argv[1], &end1, 10) : 1;
    const unsigned long long mv = argc > 2 ? strtoull(argv[2], &end2, 10) : 10000;
    const size_t m = (size_t)mv;
    if (argc > 3 || (end1 && (*end1 || end1 == argv[1])) || (end2 && (*end2 || end2 == argv[2] || argv[2][0] == '-')) ||
        threads < 1 || threads > 4096 || mv < 128 || mv > 60000) {
        if (rank == 0) fprintf(stderr, "usage: mpirun -n R nnbench-mpi [THREADS 1..4096] [SAMPLES 128..60000]\n");
        MPI_Finalize();
        return 2;
    }
    nn_idx im, lb;
    float *x = NULL, *y = NULL;
    const char *source = "Fashion-MNIST";
    if (nn_idx_read(FASHION "train-images-idx3-ubyte.gz", &im) == NN_OK &&
        nn_idx_read(FASHION "train-labels-idx1-ubyte.gz", &lb) == NN_OK) {
        im.count = lb.count = m;
        nn_idx_dataset(&im, &lb, 10, &x, &y);
        nn_idx_free(&im), nn_idx_free(&lb);
    }
    if (!x || !y) { /* the same random data on every rank */
        source = "random data";
        free(x), free(y);
        x = malloc(784 * m * sizeof *x), y = calloc(10 * m, sizeof *y);
        uint64_t s = 1;
        for (size_t i = 0; x && i < 784 * m; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            x[i] = (float)(s >> 40) / 16777216.0f;
        }
        for (size_t j = 0; y && j < m; j++) y[j * 10 + (j * 7) % 10] = 1.0f;
    }
    if (!x || !y) {
        fprintf(stderr, "nnbench-mpi: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (rank == 0)
        printf("nnbench-mpi: %d rank(s) x %ld thread(s), %zu samples of %s, Adam, minibatch 128, 2 epochs\n", ranks,
               threads, m, source);
    const size_t nets[2][4] = {{784, 256, 128, 10}, {784, 256, 256, 10}};
    const nn_activation acts[] = {NN_RELU, NN_RELU, NN_SOFTMAX};
    int rc = 0;
    for (int k = 0; k < 2 && !rc; k++) {
        /* the gradients combined layer by layer during the backward pass
         * (overlap) and after it (serial), interleaved three times each
         * against the machine's drift; the medians are printed */
        double rate[2][ROUNDS], hidden_us[2][ROUNDS], kb = 0, state = 0;
        for (int round = 0; round < ROUNDS && !rc; round++)
            for (int mode = 0; mode < 2 && !rc; mode++) {
                nn_network *net = NULL;
                const nn_optimizer adam = nn_optimizer_default(NN_ADAM);
                if (nn_network_create(&net, 3, nets[k], acts, NN_CROSS_ENTROPY, 1) || nn_set_optimizer(net, &adam) ||
                    nn_set_threads(net, (int)threads)) {
                    rc = 1;
                    nn_network_destroy(net);
                    break;
                }
                const nn_train_options opt = {.epochs = 2, .batch_size = 128, .learning_rate = 1e-3f,
                                              .shuffle_seed = 1};
                const nn_mpi_options how = {.no_overlap = mode};
                nn_mpi_stats st;
                MPI_Barrier(MPI_COMM_WORLD);
                const nn_status s = nn_mpi_train(net, MPI_COMM_WORLD, x, 784, y, 10, m, &opt, &how, NULL, NULL, &st);
                if (s) {
                    if (rank == 0) fprintf(stderr, "nnbench-mpi: %s: %s\n", nn_strerror(s), nn_network_error(net));
                    rc = 1;
                }
                rate[mode][round] = (double)(2 * m) / st.seconds;
                hidden_us[mode][round] = 1e6 * st.exchange_seconds / (double)st.steps;
                kb = (double)st.bytes_sent / (double)st.steps / 1024.0;
                state = (double)st.optimizer_floats / (double)nn_network_parameter_count(net);
                nn_network_destroy(net);
            }
        if (rc || rank != 0) continue;
        printf("  %zu-%zu-%zu-%zu: %5.0f KB sent per step; Adam state held: %.2f x the parameters\n", nets[k][0],
               nets[k][1], nets[k][2], nets[k][3], kb, state);
        static const char *const name[2] = {"overlap", "serial "};
        for (int mode = 0; mode < 2; mode++)
            printf("    %s %8.0f samples/s, %6.1f us a step waiting for exchanges\n", name[mode],
                   median3(rate[mode]), median3(hidden_us[mode]));
    }
    free(x), free(y);
    MPI_Finalize();
    return rc;
}
