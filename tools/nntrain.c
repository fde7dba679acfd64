/*
 * nntrain: train a classifier on IDX data (the MNIST family) with nn.
 * With no arguments it trains the reference configuration on Fashion-MNIST
 * from Debian's dataset-fashion-mnist package. See --help.
 */
#define _GNU_SOURCE /* getopt_long */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nn.h"
#ifdef NN_TRAIN_MPI
#include "nn_mpi.h"
#endif
#include "cli_args.h"
#include "svg_plot.h"

/* the name messages start with: nntrain-mpi is built from this file too */
#ifdef NN_TRAIN_MPI
#define PROG "nntrain-mpi"
#else
#define PROG "nntrain"
#endif

#ifdef NN_TRAIN_MPI
/* nntrain-mpi: the same program on every rank of an mpirun job, training
 * with nn_mpi_train; rank 0 alone prints and writes files. */
static int mpi_rank, mpi_ranks;
static void mpi_done(void)
{
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down) MPI_Finalize();
}
#endif

/* Bounds for the numeric flags: far beyond any sensible run, small enough
 * that nothing sized from them can overflow. */
#define MAX_EPOCHS 1000000u
#define MAX_BATCH (1u << 24)
#define MAX_SAMPLES (1ull << 31)

#define MAX_LAYERS 16

typedef struct config {
    const char *data_dir, *train_images, *train_labels, *test_images, *test_labels;
    size_t sizes[MAX_LAYERS + 1], n_layers;
    nn_activation hidden;
    nn_optimizer opt;
    nn_train_options train;
    size_t limit, validation, patience;
    int threads, quiet, layers_given;
    const char *save, *csv, *svg, *isa, *init, *checkpoint, *resume;
    size_t stop_after; /* stop once this many epochs are done, as if interrupted (0: never) */
    /* CSV data: label field (1-based; 0 = the last) for a classifier, or a
     * range of target fields for a regressor (identity output, MSE) */
    const char *train_csv, *test_csv;
    size_t label_field, target_first, target_last, classes;
    int regression;
#ifdef NN_TRAIN_MPI
    nn_mpi_options mpi;
#endif
} config;

typedef struct set {
    float *x, *y;
    size_t n;
} set;

/* The training curve, one entry per epoch, for the SVG. */
typedef struct curve {
    double *epoch, *train_loss, *train_acc, *val_loss, *val_acc, *test_loss, *test_acc;
    size_t n;
} curve;

typedef struct run {
    const config *cfg;
    curve cv;
    int diverged;
    double first_loss, train_seconds; /* the epochs' training time, evaluations left out */
    nn_network *net;
    set test, val;
    float *out; /* 10 x batch outputs for evaluation */
    FILE *csv;
    double epoch_start, best_val;
    size_t since_best;
    size_t seen, right; /* this epoch's training samples so far, and how many were classified right */
    int tty;
    nn_status save_status;
} run;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " [options]\n"
            "Train a fully-connected classifier on IDX files (MNIST family). With no\n"
            "options it trains 784-256-128-10 (ReLU, softmax + cross-entropy, Adam 1e-3,\n"
            "cosine schedule, minibatch 128, 20 epochs) on Fashion-MNIST from\n"
            "/usr/share/datasets/fashion-mnist/.\n"
            "\n"
            "data\n"
            "  --data DIR             directory with {train,t10k}-{images-idx3,labels-idx1}\n"
            "                         -ubyte.gz\n"
            "                         (default /usr/share/datasets/fashion-mnist)\n"
            "  --train-images FILE, --train-labels FILE,\n"
            "  --test-images FILE, --test-labels FILE\n"
            "                         individual IDX files, gzipped or not (override --data)\n"
            "  --train-csv FILE, --test-csv FILE\n"
            "                         numeric CSV instead (one sample a line; a header line\n"
            "                         is recognized); a classifier by default:\n"
            "  --label-field N        the field holding class labels 0..K-1 (1-based;\n"
            "                         default: the last)\n"
            "  --classes K            number of classes (default: the largest label + 1)\n"
            "  --target-fields A[-B]  a regressor instead: these fields are the targets\n"
            "                         (identity output, MSE)\n"
            "  --limit N              use only the first N training samples\n"
            "  --validation N         hold out the last N training samples for validation\n"
            "network\n"
            "  --layers A-B-...-Z     unit counts, inputs first (default 784-256-128-10; for\n"
            "                         CSV data: features-64-outputs)\n"
            "  --activation NAME      hidden activation: relu, leaky_relu, tanh, sigmoid,\n"
            "                         identity\n"
            "                         (default relu); the output is always softmax\n"
            "  --seed N               initialization and shuffling seed (default 1)\n"
            "  --init MODEL           start from a saved model (fine-tuning); its layers,\n"
            "                         activations and loss replace --layers/--activation\n"
            "optimization\n"
            "  --optimizer NAME       adam, sgd or momentum (default adam)\n"
            "  --lr X                 learning rate (default 0.001)\n"
            "  --momentum X           momentum coefficient (default 0.9)\n"
            "  --weight-decay X       L2 weight decay (default 0)\n"
            "  --schedule NAME        constant, step or cosine (default cosine)\n"
            "  --step-epochs N, --gamma X   step schedule: multiply by X every N epochs\n"
            "  --epochs N             (default 20)\n"
            "  --batch N              minibatch size (default 128)\n"
            "  --patience N           stop after N epochs without a better validation loss\n"
            "                         (needs --validation; the best model is the one saved)\n"
            "machine\n"
            "  --threads N            threads (default: one per usable core, within the\n"
            "                         process's CPU quota)\n"
            "  --isa NAME             force scalar, avx2, avx512 or neon\n"
            "output\n"
            "  --save FILE            model file (default nntrain-model.nnm; '' to skip)\n"
            "  --checkpoint FILE      after every epoch, the network, optimizer state and\n"
            "                         position, for --resume\n"
            "  --resume FILE          go on from a checkpoint: the same data and options give\n"
            "                         the bits of a run that never stopped\n"
            "  --stop-after N         stop after epoch N, as if interrupted (with\n"
            "                         --checkpoint)\n"
            "  --csv FILE             training curve (default nntrain-curve.csv)\n"
            "  --svg FILE             plot of the curve (default nntrain-curve.svg; ''\n"
            "                         to skip)\n"
            "  --quiet                no progress bar\n"
            "  --help                 this text\n");
#ifdef NN_TRAIN_MPI
    fprintf(f, "mpi (nntrain-mpi under mpirun)\n"
               "  --timeout SECONDS      give up when other ranks do not answer for this long\n"
               "                         (default 30; 0: wait for ever); the job is then ended\n"
               "  --no-overlap           combine the gradients after the backward pass, not\n"
               "                         layer by layer during it (same results; to measure)\n");
#endif
}

static int parse_layers(const char *s, config *c)
{
    c->n_layers = 0;
    const char *p = s;
    size_t count = 0;
    while (*p) {
        char *end;
        const unsigned long long v = strtoull(p, &end, 10);
        if (end == p || v == 0 || v > 1u << 20 || count > MAX_LAYERS) return 0;
        c->sizes[count++] = (size_t)v;
        if (*end == '-') end++;
        else if (*end) return 0;
        p = end;
    }
    if (count < 2) return 0;
    c->n_layers = count - 1;
    return 1;
}

static unsigned long long parse_count(const char *flag, const char *s, unsigned long long lo, unsigned long long hi)
{
    return cli_count(PROG, flag, s, lo, hi);
}

static float parse_real(const char *flag, const char *s, double lo, int lo_open, double hi)
{
    return (float)cli_real(PROG, flag, s, lo, lo_open, hi);
}

/* An output file must be writable before hours of training go into it:
 * its directory must exist and take new files, and an existing file must
 * be a writable regular file. Exits 2 naming the flag, the path and why. */
static void check_output(const char *flag, const char *path)
{
    if (!path || !*path) return;
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    struct stat st;
    if (slash && slash[1] == '\0') {
        fprintf(stderr, PROG ": %s %s: names a directory, not a file\n", flag, path);
        exit(2);
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) != 0) {
        fprintf(stderr, PROG ": %s %s: cannot write in %s: %s\n", flag, path, dir,
                errno ? strerror(errno) : "not a directory");
        exit(2);
    }
    if (stat(path, &st) == 0 && (!S_ISREG(st.st_mode) || access(path, W_OK) != 0)) {
        fprintf(stderr, PROG ": %s %s: %s\n", flag, path, S_ISDIR(st.st_mode) ? "is a directory" : strerror(errno));
        exit(2);
    }
}

/* What went wrong reading an IDX file, with the OS's reason for I/O errors
 * and, for the default data set, where it comes from. */
static void idx_error(const char *path, nn_status st, int err, int is_default)
{
    if (st == NN_ERR_IO)
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(err));
    else
        fprintf(stderr, PROG ": %s: %s (expected an IDX file, gzipped or not)\n", path, nn_strerror(st));
    if (st == NN_ERR_IO && err == ENOENT && is_default)
        fprintf(stderr, PROG ": Fashion-MNIST comes with Debian's dataset-fashion-mnist package\n"
                        "         (apt-get install dataset-fashion-mnist); or give --data DIR, or\n"
                        "         --train-images FILE and the other three files\n");
}

static int load_set(const char *images, const char *labels, size_t classes, set *s, size_t *features,
                    int is_default)
{
    nn_idx im, lb;
    errno = 0;
    nn_status st = nn_idx_read(images, &im);
    if (st) {
        idx_error(images, st, errno, is_default);
        return 0;
    }
    errno = 0;
    if ((st = nn_idx_read(labels, &lb))) {
        idx_error(labels, st, errno, is_default);
        nn_idx_free(&im);
        return 0;
    }
    st = nn_idx_dataset(&im, &lb, classes, &s->x, &s->y);
    if (st) fprintf(stderr, PROG ": %s + %s: %s\n", images, labels, nn_strerror(st));
    s->n = im.count;
    *features = im.rows * im.cols;
    nn_idx_free(&im);
    nn_idx_free(&lb);
    return st == NN_OK;
}

/* A CSV file as a set: features x n and outputs x n, column-major. The
 * label field's largest value sets the class count when *classes is 0. */
static int load_csv_set(const char *path, const config *c, set *s, size_t *features, size_t *classes)
{
    nn_csv t;
    if (!cli_read_csv(PROG, path, &t)) return 0;
    nn_status st;
    size_t first, count;
    if (c->regression) {
        first = c->target_first - 1, count = c->target_last - c->target_first + 1;
    } else {
        first = c->label_field ? c->label_field - 1 : t.cols - 1, count = 1;
    }
    if (first >= t.cols || count > t.cols - first || count == t.cols) {
        fprintf(stderr, PROG ": %s: %zu fields per line, so %s does not fit (features must remain)\n", path,
                t.cols, c->regression ? "--target-fields" : "--label-field");
        nn_csv_free(&t);
        return 0;
    }
    if (!c->regression && *classes == 0) {
        float top = 0;
        for (size_t i = 0; i < t.rows; i++) top = fmaxf(top, t.data[i * t.cols + first]);
        *classes = top >= 0 && top < 65536 ? (size_t)top + 1 : 0;
    }
    st = nn_csv_dataset(&t, first, count, c->regression ? 0 : *classes, &s->x, &s->y);
    if (st == NN_ERR_FORMAT)
        fprintf(stderr, PROG ": %s: field %zu must hold class labels 0..%zu (whole numbers)\n", path, first + 1,
                *classes ? *classes - 1 : 0);
    else if (st)
        fprintf(stderr, PROG ": %s: %s\n", path, nn_strerror(st));
    s->n = t.rows;
    *features = t.cols - count;
    nn_csv_free(&t);
    return st == NN_OK;
}


/* Loss and accuracy of the network on a set, in chunks of the training
 * minibatch so that the workspace never grows. */
static void evaluate(run *r, const set *s, double *loss, double *acc)
{
    const size_t in = r->cfg->sizes[0], out = r->cfg->sizes[r->cfg->n_layers];
    const size_t chunk = r->cfg->train.batch_size;
    double total = 0;
    size_t right = 0;
    for (size_t j0 = 0; j0 < s->n; j0 += chunk) {
        const size_t n = s->n - j0 < chunk ? s->n - j0 : chunk;
        float cost = 0;
        nn_cost(r->net, s->x + j0 * in, in, s->y + j0 * out, out, n, &cost);
        nn_forward(r->net, s->x + j0 * in, in, n, r->out, out);
        total += (double)cost * (double)n;
        for (size_t j = 0; j < n && !r->cfg->regression; j++)
            right += s->y[(j0 + j) * out + cli_argmax(r->out + j * out, out)] == 1.0f;
    }
    *loss = total / (double)s->n;
    *acc = r->cfg->regression ? NAN : (double)right / (double)s->n;
}

/* Columns of the terminal on stderr (COLUMNS, else 80). */
static int term_columns(void)
{
    struct winsize ws;
    if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
    const char *env = getenv("COLUMNS");
    const int c = env ? atoi(env) : 0;
    return c >= 20 ? c : 80;
}

/* The progress line, on a terminal only, always narrower than it (so it
 * never wraps): "epoch 3/20 [=====>    ]  57%  loss 0.4123  acc 0.8512
 * 48k/s", the bar taking what the text leaves. */
static void on_batch(const nn_batch_info *b, void *user)
{
    run *r = user;
    const size_t out = r->cfg->sizes[r->cfg->n_layers];
    for (size_t j = 0; j < b->size && !r->cfg->regression; j++)
        r->right += b->target[j * b->target_ld + cli_argmax(b->output + j * out, out)] == 1.0f;
    r->seen += b->size;
    if (r->cfg->quiet || !r->tty) return;
    if (b->batch % 16 != 0 && b->batch + 1 != b->batches) return;
    const double rate = (double)r->seen / (now() - r->epoch_start);
    char tail[96], head[40];
    snprintf(head, sizeof head, "epoch %zu/%zu ", b->epoch + 1, r->cfg->train.epochs);
    if (r->cfg->regression)
        snprintf(tail, sizeof tail, " %3d%%  loss %.4g  %.0fk/s", (int)(100 * (b->batch + 1) / b->batches),
                 (double)b->cost, rate / 1000);
    else
        snprintf(tail, sizeof tail, " %3d%%  loss %.4f  acc %.4f  %.0fk/s", (int)(100 * (b->batch + 1) / b->batches),
                 (double)b->cost, (double)r->right / (double)r->seen, rate / 1000);
    const int cols = term_columns() - 1, room = cols - (int)strlen(head) - (int)strlen(tail) - 2;
    char line[512];
    if (room >= 5) {
        const int width = room > 40 ? 40 : room, done = (int)((b->batch + 1) * (size_t)width / b->batches);
        char bar[41];
        memset(bar, '=', (size_t)done);
        memset(bar + done, ' ', (size_t)(width - done));
        bar[width] = '\0';
        snprintf(line, sizeof line, "%s[%s]%s", head, bar, tail);
    } else {
        snprintf(line, sizeof line, "%s%s", head, tail);
    }
    if ((int)strlen(line) > cols && cols > 0) line[cols] = '\0';
    fprintf(stderr, "\r%s\033[K", line); /* \033[K: clear what a longer line left */
    fflush(stderr);
}

static int on_epoch(size_t epoch, float cost, void *user)
{
    run *r = user;
    const double secs = now() - r->epoch_start;
    r->train_seconds += secs;
    const size_t trained = r->cfg->limit - r->cfg->validation;
    double test_loss, test_acc, val_loss = NAN, val_acc = NAN;
    evaluate(r, &r->test, &test_loss, &test_acc);
    if (r->val.n) evaluate(r, &r->val, &val_loss, &val_acc);
    if (r->tty && !r->cfg->quiet) fprintf(stderr, "\r\033[K");
    const double train_acc = r->cfg->regression || !r->seen ? NAN : (double)r->right / (double)r->seen;
    /* at most 80 columns: "epoch  3/20  train 0.4123 0.8512  val ...  test 0.4432 0.8401  1.2 s" */
    printf("epoch %*zu/%zu  train %.4f", (int)snprintf(NULL, 0, "%zu", r->cfg->train.epochs), epoch + 1,
           r->cfg->train.epochs, (double)cost);
    if (!r->cfg->regression) printf(isnan(train_acc) ? " -     " : " %.4f", train_acc);
    if (r->val.n) printf(r->cfg->regression ? "  val %.4f" : "  val %.4f %.4f", val_loss, val_acc);
    printf(r->cfg->regression ? "  test %.4f" : "  test %.4f %.4f", test_loss, test_acc);
    printf("  %.2f s\n", secs);
    (void)trained;
    fflush(stdout);
    if (r->csv)
        fprintf(r->csv, "%zu,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.4f\n", epoch + 1, (double)cost, train_acc, val_loss,
                val_acc, test_loss, test_acc, secs);
    curve *cv = &r->cv;
    if (cv->n < r->cfg->train.epochs) {
        const size_t i = cv->n++;
        cv->epoch[i] = (double)(epoch + 1), cv->train_loss[i] = cost, cv->train_acc[i] = train_acc;
        cv->val_loss[i] = val_loss, cv->val_acc[i] = val_acc, cv->test_loss[i] = test_loss, cv->test_acc[i] = test_acc;
    }
    /* a loss that has grown a thousandfold since the first epoch is not
     * going to come back: stop, and save nothing */
    if (epoch == 0) r->first_loss = cost;
    if (!isfinite(cost) || (epoch > 0 && cost > 1000.0 * fmax(r->first_loss, 0.01))) {
        r->diverged = 1;
        return 1;
    }
    int stop = 0;
    if (r->cfg->checkpoint && *r->cfg->checkpoint) {
#ifdef NN_TRAIN_MPI
        /* each rank has updated only its shard of the optimizer's state */
        nn_status gs = nn_mpi_gather_optimizer(r->net, MPI_COMM_WORLD);
        if (gs) r->save_status = gs;
        if (mpi_rank == 0 && !gs)
#endif
        {
            errno = 0;
            nn_status cs = nn_checkpoint_save(r->net, epoch + 1, r->cfg->checkpoint);
            if (cs) {
                fprintf(stderr, PROG ": --checkpoint %s: %s%s%s\n", r->cfg->checkpoint, nn_strerror(cs),
                        cs == NN_ERR_IO && errno ? ": " : "", cs == NN_ERR_IO && errno ? strerror(errno) : "");
                r->save_status = cs;
                stop = 1;
            }
        }
    }
    if (r->cfg->stop_after && epoch + 1 >= r->cfg->stop_after) {
        printf("stopped after epoch %zu (--stop-after)\n", epoch + 1);
        stop = 1;
    }
    if (r->cfg->patience && r->val.n) {
        if (val_loss < r->best_val) {
            r->best_val = val_loss, r->since_best = 0;
            if (r->cfg->save && *r->cfg->save) r->save_status = nn_save(r->net, r->cfg->save);
        } else if (++r->since_best >= r->cfg->patience) {
            printf("early stop: no better validation loss for %zu epochs\n", r->cfg->patience);
            stop = 1;
        }
    }
    r->seen = r->right = 0;
    r->epoch_start = now();
    return stop;
}

/* The training curve as SVG: losses solid on the left axis, accuracies
 * dashed on the right, train / validation / test in three colours, and the
 * best epoch (lowest validation loss, else lowest test loss) marked. */
static int plot(const config *c, const curve *cv)
{
    if (!c->svg || !*c->svg || cv->n == 0) return 0;
    const int has_val = cv->n && isfinite(cv->val_loss[0]);
    const double *by = has_val ? cv->val_loss : cv->test_loss;
    size_t best = 0;
    for (size_t i = 1; i < cv->n; i++)
        if (by[i] < by[best]) best = i;
    char mark[96];
    snprintf(mark, sizeof mark, "best epoch: %zu (lowest %s loss)", (size_t)cv->epoch[best], has_val ? "validation" : "test");
    const svg_series all[] = {
        {"train loss", cv->epoch, cv->train_loss, cv->n, 0, 0, 0, "#1f77b4"},
        {"train accuracy", cv->epoch, cv->train_acc, cv->n, 1, 1, 0, "#1f77b4"},
        {"validation loss", cv->epoch, cv->val_loss, cv->n, 0, 0, 0, "#ff7f0e"},
        {"validation accuracy", cv->epoch, cv->val_acc, cv->n, 1, 1, 0, "#ff7f0e"},
        {"test loss", cv->epoch, cv->test_loss, cv->n, 0, 0, 0, "#2ca02c"},
        {"test accuracy", cv->epoch, cv->test_acc, cv->n, 1, 1, 0, "#2ca02c"},
    };
    svg_series shown[6];
    size_t n = 0;
    for (size_t i = 0; i < 6; i++)
        if ((has_val || (i != 2 && i != 3)) && (!c->regression || i % 2 == 0)) shown[n++] = all[i];
    const svg_chart chart = {.title = PROG ": training curve", .x_label = "epoch", .y_label = "loss (solid)",
                             .y2_label = c->regression ? NULL : "accuracy (dashed)", .mark_x = cv->epoch[best],
                             .mark_label = mark};
    if (svg_plot_write(c->svg, &chart, shown, n) != 0) {
        fprintf(stderr, PROG ": --svg %s: %s\n", c->svg, strerror(errno));
        return 1;
    }
    printf("wrote %s\n", c->svg);
    return 0;
}

int main(int argc, char **argv)
{
#ifdef NN_TRAIN_MPI
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    atexit(mpi_done);
    MPI_Comm_rank(MPI_COMM_WORLD, &mpi_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &mpi_ranks);
    if (mpi_rank != 0 && !freopen("/dev/null", "w", stdout)) return 1; /* rank 0 speaks for the job */
#endif
    config c = {.data_dir = "/usr/share/datasets/fashion-mnist", .hidden = NN_RELU,
                .opt = nn_optimizer_default(NN_ADAM), .threads = 0,
                .save = "nntrain-model.nnm", .csv = "nntrain-curve.csv", .svg = "nntrain-curve.svg"};
    c.train = (nn_train_options){.epochs = 20, .batch_size = 128, .learning_rate = 1e-3f,
                                 .shuffle_seed = 1, .schedule = NN_COSINE, .step_epochs = 5, .gamma = 0.5f};
    parse_layers("784-256-128-10", &c);
    uint64_t seed = 1;
    static const struct option opts[] = {
        {"data", 1, 0, 'D'}, {"train-images", 1, 0, 1}, {"train-labels", 1, 0, 2},
        {"test-images", 1, 0, 3}, {"test-labels", 1, 0, 4}, {"limit", 1, 0, 5},
        {"validation", 1, 0, 6}, {"layers", 1, 0, 'l'}, {"activation", 1, 0, 'a'},
        {"seed", 1, 0, 's'}, {"optimizer", 1, 0, 'o'}, {"lr", 1, 0, 'r'}, {"momentum", 1, 0, 7},
        {"weight-decay", 1, 0, 8}, {"schedule", 1, 0, 9}, {"step-epochs", 1, 0, 10},
        {"gamma", 1, 0, 11}, {"epochs", 1, 0, 'e'}, {"batch", 1, 0, 'b'}, {"patience", 1, 0, 12},
        {"threads", 1, 0, 't'}, {"isa", 1, 0, 13}, {"save", 1, 0, 14}, {"csv", 1, 0, 15},
        {"svg", 1, 0, 16}, {"quiet", 0, 0, 'q'}, {"help", 0, 0, 'h'}, {"train-csv", 1, 0, 17},
        {"test-csv", 1, 0, 18}, {"label-field", 1, 0, 19}, {"classes", 1, 0, 20}, {"target-fields", 1, 0, 21},
        {"init", 1, 0, 22}, {"checkpoint", 1, 0, 23}, {"resume", 1, 0, 24}, {"stop-after", 1, 0, 25},
#ifdef NN_TRAIN_MPI
        {"timeout", 1, 0, 26}, {"no-overlap", 0, 0, 27},
#endif
        {0, 0, 0, 0}};
    int ch, idx = -1;
    opterr = 0; /* our own messages, naming the flag */
    while ((ch = getopt_long(argc, argv, ":", opts, &idx)) != -1) {
        const char *flag = idx >= 0 ? opts[idx].name : "?";
        char flagbuf[40];
        snprintf(flagbuf, sizeof flagbuf, "--%s", flag);
        flag = flagbuf;
        idx = -1;
        switch (ch) {
        case 'D': c.data_dir = optarg; break;
        case 1: c.train_images = optarg; break;
        case 2: c.train_labels = optarg; break;
        case 3: c.test_images = optarg; break;
        case 4: c.test_labels = optarg; break;
        case 5: c.limit = parse_count(flag, optarg, 1, MAX_SAMPLES); break;
        case 6: c.validation = parse_count(flag, optarg, 0, MAX_SAMPLES); break;
        case 17: c.train_csv = optarg; break;
        case 18: c.test_csv = optarg; break;
        case 19: c.label_field = parse_count(flag, optarg, 1, 1u << 20); break;
        case 20: c.classes = parse_count(flag, optarg, 2, 65536); break;
        case 21:
            cli_range(PROG, flag, optarg, 1u << 20, &c.target_first, &c.target_last);
            c.regression = 1;
            break;
        case 22: c.init = optarg; break;
        case 23: c.checkpoint = optarg; break;
        case 24: c.resume = optarg; break;
        case 25: c.stop_after = parse_count(flag, optarg, 1, MAX_EPOCHS); break;
#ifdef NN_TRAIN_MPI
        case 26: { /* 0 is "for ever" here, as the help says; nn_mpi_options wants < 0 for that */
            const double t = cli_real(PROG, flag, optarg, 0, 0, 1e6);
            c.mpi.timeout_seconds = t == 0.0 ? -1.0 : t;
            break;
        }
        case 27: c.mpi.no_overlap = 1; break;
#endif
        case 'l':
            c.layers_given = 1;
            if (!parse_layers(optarg, &c)) {
                fprintf(stderr, PROG ": bad --layers '%s' (e.g. 784-256-128-10)\n", optarg);
                return 2;
            }
            break;
        case 'a':
            if (nn_activation_from_name(optarg, &c.hidden) != NN_OK || c.hidden == NN_SOFTMAX) {
                fprintf(stderr, PROG ": bad --activation '%s'\n", optarg);
                return 2;
            }
            break;
        case 's': seed = parse_count(flag, optarg, 0, ULLONG_MAX); c.train.shuffle_seed = seed; break;
        case 'o': {
            const float lr_keep = c.opt.weight_decay;
            if (strcmp(optarg, "adam") == 0) c.opt = nn_optimizer_default(NN_ADAM);
            else if (strcmp(optarg, "sgd") == 0) c.opt = nn_optimizer_default(NN_SGD);
            else if (strcmp(optarg, "momentum") == 0) c.opt = nn_optimizer_default(NN_MOMENTUM);
            else {
                fprintf(stderr, PROG ": bad --optimizer '%s'\n", optarg);
                return 2;
            }
            c.opt.weight_decay = lr_keep;
            break;
        }
        case 'r': c.train.learning_rate = parse_real(flag, optarg, 0, 1, 1e3); break;
        case 7: c.opt.momentum = parse_real(flag, optarg, 0, 0, 0.999999); break;
        case 8: c.opt.weight_decay = parse_real(flag, optarg, 0, 0, 1e3); break;
        case 9:
            if (strcmp(optarg, "constant") == 0) c.train.schedule = NN_CONSTANT;
            else if (strcmp(optarg, "step") == 0) c.train.schedule = NN_STEP;
            else if (strcmp(optarg, "cosine") == 0) c.train.schedule = NN_COSINE;
            else {
                fprintf(stderr, PROG ": bad --schedule '%s'\n", optarg);
                return 2;
            }
            break;
        case 10: c.train.step_epochs = parse_count(flag, optarg, 1, MAX_EPOCHS); break;
        case 11: c.train.gamma = parse_real(flag, optarg, 0, 1, 1); break;
        case 'e': c.train.epochs = parse_count(flag, optarg, 1, MAX_EPOCHS); break;
        case 'b': c.train.batch_size = parse_count(flag, optarg, 1, MAX_BATCH); break;
        case 12: c.patience = parse_count(flag, optarg, 1, MAX_EPOCHS); break;
        case 't': c.threads = (int)parse_count(flag, optarg, 1, 4096); break;
        case 13: c.isa = optarg; break;
        case 14: c.save = optarg; break;
        case 15: c.csv = optarg; break;
        case 16: c.svg = optarg; break;
        case 'q': c.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        case ':':
            fprintf(stderr, PROG ": %s needs a value (" PROG " --help)\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, PROG ": unknown option '%s' (" PROG " --help)\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!c.train_csv != !c.test_csv) {
        fprintf(stderr, PROG ": --train-csv and --test-csv go together\n");
        return 2;
    }
    if (!c.train_csv && (c.label_field || c.classes || c.regression)) {
        fprintf(stderr, PROG ": --label-field, --classes and --target-fields are for CSV data (--train-csv)\n");
        return 2;
    }
    if (c.regression && (c.label_field || c.classes)) {
        fprintf(stderr, PROG ": --target-fields (regression) excludes --label-field and --classes\n");
        return 2;
    }
    if (c.resume && (c.init || c.layers_given)) {
        fprintf(stderr, PROG ": --resume takes the network and optimizer from the checkpoint: drop %s\n",
                c.init ? "--init" : "--layers");
        return 2;
    }
    if (c.init && c.layers_given) {
        fprintf(stderr, PROG ": --init takes the layers from the model: drop --layers\n");
        return 2;
    }
    if (c.patience && !c.validation) {
        fprintf(stderr, PROG ": --patience needs --validation N\n");
        return 2;
    }
    if (c.isa) {
        nn_isa isa;
        nn_status s = nn_isa_from_name(c.isa, &isa);
        if (!s) s = nn_set_isa(isa);
        if (s) {
            fprintf(stderr, PROG ": --isa %s: %s\n", c.isa, nn_strerror(s));
            return 2;
        }
    }

#ifdef NN_TRAIN_MPI
    if (mpi_rank != 0) c.save = "", c.csv = "", c.svg = ""; /* rank 0 writes the files */
    c.quiet = 1; /* no progress line: nn_mpi_train has no per-minibatch callback */
#endif
    /* every output checked before the data is read and the training runs */
    check_output("--save", c.save);
    check_output("--csv", c.csv);
    check_output("--svg", c.svg);
#ifdef NN_TRAIN_MPI
    if (mpi_rank == 0)
#endif
        check_output("--checkpoint", c.checkpoint);

    char paths[4][4096];
    const char *names[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                            "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
    const char *given[4] = {c.train_images, c.train_labels, c.test_images, c.test_labels};
    for (int i = 0; i < 4; i++)
        snprintf(paths[i], sizeof paths[i], "%s%s%s", given[i] ? "" : c.data_dir, given[i] ? "" : "/",
                 given[i] ? given[i] : names[i]);
    set train = {0}, test = {0};
    size_t features = 0, test_features = 0;
    run r = {.cfg = &c, .tty = isatty(2), .best_val = INFINITY};
    int rc = 1;
    nn_network *init = NULL;
    if (c.init || c.resume) { /* the model first: it decides the outputs */
        size_t next = 0;
        errno = 0;
        nn_status ls = c.resume ? nn_checkpoint_load(&init, &next, c.resume) : nn_load(&init, c.init);
        const char *flag = c.resume ? "--resume" : "--init", *path = c.resume ? c.resume : c.init;
        if (ls) {
            fprintf(stderr, PROG ": %s %s: %s%s%s\n", flag, path, nn_strerror(ls), ls == NN_ERR_IO ? ": " : "",
                    ls == NN_ERR_IO ? strerror(errno) : "");
            goto done;
        }
        if (c.resume && next >= c.train.epochs) {
            fprintf(stderr, PROG ": --resume %s: the checkpoint is after epoch %zu of %zu: nothing left\n", path,
                    next, c.train.epochs);
            goto done;
        }
        c.train.start_epoch = next;
        c.n_layers = nn_network_layers(init);
        for (size_t l = 0; l <= c.n_layers; l++) c.sizes[l] = nn_network_units(init, l);
        if ((nn_network_loss(init) == NN_MSE) != c.regression) {
            fprintf(stderr, PROG ": %s %s is a %s; the data given is for a %s\n", flag, path,
                    nn_network_loss(init) == NN_MSE ? "regressor (MSE)" : "classifier (softmax)",
                    c.regression ? "regressor" : "classifier");
            goto done;
        }
        if (!c.regression && c.classes && c.classes != c.sizes[c.n_layers]) {
            fprintf(stderr, PROG ": %s %s has %zu outputs, --classes says %zu\n", flag, path, c.sizes[c.n_layers],
                    c.classes);
            goto done;
        }
        if (!c.regression) c.classes = c.sizes[c.n_layers];
    }
    if (c.train_csv) {
        if (!c.classes && !c.regression && c.layers_given) c.classes = c.sizes[c.n_layers];
        if (!load_csv_set(c.train_csv, &c, &train, &features, &c.classes) ||
            !load_csv_set(c.test_csv, &c, &test, &test_features, &c.classes))
            goto done;
        const size_t outs = c.regression ? c.target_last - c.target_first + 1 : c.classes;
        if (!c.layers_given && !c.init) {
            c.n_layers = 2, c.sizes[0] = features, c.sizes[1] = 64, c.sizes[2] = outs;
        } else if (c.sizes[c.n_layers] != outs) {
            fprintf(stderr, PROG ": the network has %zu outputs, the data %zu %s\n", c.sizes[c.n_layers], outs,
                    c.regression ? "targets" : "classes");
            goto done;
        }
    } else {
        const int default_data = !c.train_images;
        if (!load_set(paths[0], paths[1], c.sizes[c.n_layers], &train, &features, default_data) ||
            !load_set(paths[2], paths[3], c.sizes[c.n_layers], &test, &test_features, default_data))
            goto done;
    }
    const size_t classes = c.sizes[c.n_layers];
    if (features != c.sizes[0] || test_features != features) {
        fprintf(stderr, PROG ": the training data has %zu features, the test data %zu, the network %zu inputs\n",
                features, test_features, c.sizes[0]);
        goto done;
    }
    if (c.limit == 0 || c.limit > train.n) c.limit = train.n;
    if (c.validation >= c.limit) {
        fprintf(stderr, PROG ": --validation %zu leaves no training data\n", c.validation);
        goto done;
    }
    const size_t n_train = c.limit - c.validation;
    r.val = (set){train.x + n_train * features, train.y + n_train * classes, c.validation};
    r.test = test;

    nn_activation acts[MAX_LAYERS];
    nn_status s = NN_OK;
    if (init) {
        r.net = init, init = NULL;
        for (size_t l = 0; l < c.n_layers; l++) acts[l] = nn_network_activation(r.net, l);
    } else {
        for (size_t l = 0; l < c.n_layers; l++)
            acts[l] = l + 1 == c.n_layers ? (c.regression ? NN_IDENTITY : NN_SOFTMAX) : c.hidden;
        s = nn_network_create(&r.net, c.n_layers, c.sizes, acts, c.regression ? NN_MSE : NN_CROSS_ENTROPY, seed);
    }
    if (!s && !c.resume) s = nn_set_optimizer(r.net, &c.opt); /* a checkpoint brings its own, with its state */
    if (!s) s = nn_set_threads(r.net, c.threads);
    r.out = malloc(classes * c.train.batch_size * sizeof(float));
    double *cv = calloc(7 * c.train.epochs, sizeof *cv);
    if (cv) {
        double **cols[] = {&r.cv.epoch, &r.cv.train_loss, &r.cv.train_acc, &r.cv.val_loss, &r.cv.val_acc,
                           &r.cv.test_loss, &r.cv.test_acc};
        for (size_t i = 0; i < 7; i++) *cols[i] = cv + i * c.train.epochs;
    }
    if (s || !r.out || !cv) {
        fprintf(stderr, PROG ": %s\n", s ? nn_strerror(s) : "out of memory");
        goto done;
    }
    nn_topology topo;
    nn_get_topology(&topo);
    /* the model summary (each line within 80 columns) */
    printf(PROG ": ");
    for (size_t l = 0; l <= c.n_layers; l++) printf("%zu%s", c.sizes[l], l < c.n_layers ? "-" : "");
    const size_t params = nn_network_parameter_count(r.net);
    printf(", %zu parameters (%.1f KiB)\n", params, (double)params * sizeof(float) / 1024.0);
    for (size_t l = 0; l < c.n_layers; l++)
        printf("  layer %zu  %6zu -> %-6zu %-10s %10zu parameters\n", l + 1, c.sizes[l], c.sizes[l + 1],
               nn_activation_name(acts[l]), c.sizes[l] * c.sizes[l + 1] + c.sizes[l + 1]);
#ifdef NN_TRAIN_MPI
    printf("  %d ranks under MPI; each:\n", mpi_ranks);
#endif
    const int threads = c.threads ? c.threads : topo.threads;
    printf("  %s, lr %g (%s), batch %zu, %zu epoch%s; %s, %d thread%s\n",
           c.opt.kind == NN_ADAM ? "adam" : c.opt.kind == NN_MOMENTUM ? "momentum" : "sgd",
           (double)c.train.learning_rate,
           c.train.schedule == NN_COSINE ? "cosine" : c.train.schedule == NN_STEP ? "step" : "constant",
           c.train.batch_size, c.train.epochs, c.train.epochs == 1 ? "" : "s", nn_isa_name(nn_get_isa()), threads,
           threads == 1 ? "" : "s");
    printf("  data: %zu training, %zu validation, %zu test samples\n", n_train, c.validation, test.n);
    if (c.csv && *c.csv) {
        r.csv = fopen(c.csv, "w");
        if (!r.csv) {
            fprintf(stderr, PROG ": --csv %s: %s\n", c.csv, strerror(errno));
            goto done;
        }
        fprintf(r.csv, "epoch,train_loss,train_accuracy,validation_loss,validation_accuracy,test_loss,"
                          "test_accuracy,seconds\n");
    }
#ifndef NN_TRAIN_MPI
    c.train.on_batch = on_batch;
#else
    (void)on_batch;
#endif
    r.epoch_start = now();
    const double t0 = now();
#ifdef NN_TRAIN_MPI
    nn_mpi_stats ms;
    s = nn_mpi_train(r.net, MPI_COMM_WORLD, train.x, features, train.y, classes, n_train, &c.train, &c.mpi, on_epoch, &r,
                     &ms);
    if (!s)
        printf("%d ranks: %.0f samples/s for the whole job, %.1f %% of the training time in exchanges "
               "(%.0f us a step)\n", mpi_ranks, (double)n_train * (double)r.cv.n / r.train_seconds,
               100.0 * ms.exchange_seconds / r.train_seconds, ms.steps ? 1e6 * ms.exchange_seconds / (double)ms.steps : 0.0);
#else
    s = nn_train(r.net, train.x, features, train.y, classes, n_train, &c.train, on_epoch, &r);
#endif
    int csv_failed = 0;
    if (r.csv) {
        csv_failed = ferror(r.csv) != 0;
        if (fclose(r.csv) != 0) csv_failed = 1;
        r.csv = NULL;
        if (csv_failed) fprintf(stderr, PROG ": --csv %s: %s\n", c.csv, strerror(errno));
        else printf("wrote %s\n", c.csv);
    }
    const int plot_failed = plot(&c, &r.cv);
    if (s || r.diverged) {
        if (s) fprintf(stderr, PROG ": training: %s: %s\n", nn_strerror(s), nn_network_error(r.net));
#ifdef NN_TRAIN_MPI
        if (s == NN_ERR_TIMEOUT || s == NN_ERR_IO) { /* the job cannot go on: end every rank (nn_mpi.h) */
            fflush(NULL);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
#endif
        else
            fprintf(stderr, PROG ": training diverged at epoch %zu (loss %g, first epoch %g); try a lower "
                            "--lr than %g\n", r.cv.n, r.cv.n ? r.cv.train_loss[r.cv.n - 1] : 0.0, r.first_loss,
                    (double)c.train.learning_rate);
        if (c.save && *c.save && !(c.patience && c.validation && r.best_val < INFINITY))
            fprintf(stderr, PROG ": no model saved; %s is untouched\n", c.save);
        goto done;
    }
    printf("trained in %.1f s\n", now() - t0);
    if (c.save && *c.save) {
        errno = 0;
        if (!(c.patience && c.validation)) r.save_status = nn_save(r.net, c.save);
        if (r.save_status)
            fprintf(stderr, PROG ": --save %s: %s%s%s\n", c.save, nn_strerror(r.save_status),
                    r.save_status == NN_ERR_IO && errno ? ": " : "", r.save_status == NN_ERR_IO && errno ? strerror(errno) : "");
        else printf("saved %s%s\n", c.save, c.patience ? " (best validation loss)" : "");
    }
    printf("weights digest: %016llx\n", (unsigned long long)nn_weights_digest(r.net));
    rc = r.save_status || csv_failed || plot_failed ? 1 : 0;
done:
    nn_network_destroy(init);
    nn_network_destroy(r.net);
    free(r.out);
    free(r.cv.epoch);
    free(train.x), free(train.y), free(test.x), free(test.y);
    return rc;
}
