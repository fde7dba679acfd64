/*
 * nn_mpi — data-parallel training across processes and machines with MPI.
 * Built when CMake finds MPI (-DNN_WITH_MPI=OFF to skip); link nn::nn_mpi.
 * The core library and nn.h know nothing of MPI.
 *
 * Every rank holds the whole network. Each global minibatch (the columns
 * chosen exactly as nn_train chooses them from opt->shuffle_seed) is cut
 * into one contiguous slice per rank (sizes differ by at most one column);
 * each rank computes its slice's gradient; the gradients are combined with
 * a reduce-scatter (each rank sums the pieces of its own shard of the
 * parameters in rank order; each layer's exchange starts as soon as its
 * gradient is final, while the backward pass goes on), each rank applies
 * the optimizer to its shard only and keeps only its shard's optimizer
 * state (so the update's work and Adam's moments are divided by the rank
 * count), and an all-gather gives every rank the new parameters: the bytes
 * of a ring allreduce, in a fixed order.
 *
 * Determinism: for a given ISA and rank count the parameters are bitwise
 * identical on every rank, for every thread count and every run; with one
 * rank they are nn_train's own (the same minibatches and steps). Different
 * rank counts differ by rounding only (each slice's gradient is taken
 * apart, then the slices are added; one rank fuses the update into the
 * weight-gradient product as nn_train does).
 */
#ifndef NN_MPI_H
#define NN_MPI_H

#include <mpi.h>

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How nn_mpi_train waits and ships; {0} (or NULL) gives the defaults.
 * timeout_seconds: how long any rank waits for the others in one exchange
 * before it gives up with NN_ERR_TIMEOUT (0: 30 s; below 0: for ever).
 * A rank killed outright usually makes mpirun end the job at once; the
 * timeout is for a rank that hangs, is stopped, or whose machine vanished.
 * After NN_ERR_TIMEOUT the exchanges that never finished may still write
 * into the network's parameters and nn_mpi_train's buffers (which it then
 * leaves allocated): end the job (MPI_Abort), as nntrain-mpi does.
 * no_overlap: 1 to combine the gradients only after the whole backward
 * pass instead of each layer's as soon as it is final (the same bits
 * either way; for measuring what the overlap is worth). */
typedef struct nn_mpi_options {
    double timeout_seconds;
    int no_overlap;
} nn_mpi_options;

/* Where the time went, on this rank (nn_mpi_train's last argument; NULL:
 * not wanted): wall seconds in all, seconds spent waiting for the
 * exchanges after this rank's own work was done (the part the overlap
 * does not hide, waiting for the slowest rank included), minibatch steps,
 * the bytes this rank sent, and the floats of optimizer state it held
 * (2·P/R for Adam on R ranks: each keeps its shard's moments only). */
typedef struct nn_mpi_stats {
    double seconds, exchange_seconds;
    size_t steps;
    uint64_t bytes_sent;
    size_t optimizer_floats;
} nn_mpi_stats;

/* Train `net` on m samples with the ranks of `comm`; a collective call:
 * every rank passes its own copy of the same network (architecture,
 * parameters and optimizer settings), the same data set and the same
 * options, and all return the same status. The ranks check this at the
 * start and refuse to train on a mismatch (NN_ERR_INVALID_ARGUMENT on every
 * rank, nn_network_error() says what differs). `callback` (may be NULL)
 * runs on every rank after every epoch with the same mean cost; training
 * stops when it asks so on any rank. opt->on_batch is not supported
 * (NN_ERR_INVALID_ARGUMENT). A cost that becomes NaN/Inf stops training on
 * every rank with NN_ERR_NON_FINITE and the parameters and optimizer state
 * of the start of that epoch. An MPI failure is NN_ERR_IO (with MPI's
 * default error handler, a failed rank ends the whole job instead), a rank
 * that does not answer NN_ERR_TIMEOUT (see nn_mpi_options). The minibatch
 * order: per epoch, a Fisher-Yates shuffle of 0..m-1 (for i = m down to 2:
 * swap i-1 with the next SplitMix64 value of the seed mod i), the state
 * carried from epoch to epoch, as nn_train does.
 *
 * With more than one rank, each keeps the optimizer's state (velocity,
 * Adam's moments) of its own shard of the parameters only, also after the
 * call: nn_step, nn_train_step, nn_train and nn_checkpoint_save refuse the
 * network until nn_mpi_gather_optimizer has joined the state again (the
 * next nn_mpi_train on the same communicator takes either form). */
NN_API nn_status nn_mpi_train(nn_network *net, MPI_Comm comm, const float *x, size_t ldx, const float *y,
                              size_t ldy, size_t m, const nn_train_options *opt, const nn_mpi_options *mpi,
                              nn_epoch_callback callback, void *user, nn_mpi_stats *stats);

/* Join the optimizer's state from every rank's shard into the whole of it
 * on every rank, e.g. for a checkpoint (nn_checkpoint_save on one rank;
 * every rank may then resume from it with opt.start_epoch). A collective
 * call; on failure (every rank returns the same status) no network is
 * changed. */
NN_API nn_status nn_mpi_gather_optimizer(nn_network *net, MPI_Comm comm);

#ifdef __cplusplus
}
#endif

#endif /* NN_MPI_H */
