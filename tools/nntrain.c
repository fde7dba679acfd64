/*
 * nntrain: train a classifier on IDX data (the MNIST family) with nn.
 * With no arguments it trains the reference configuration on Fashion-MNIST
 * from Debian's dataset-fashion-mnist package. See --help.
 */
#define _GNU_SOURCE /* getopt_long */

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nn.h"

#define MAX_LAYERS 16

typedef struct config {
    const char *data_dir, *train_images, *train_labels, *test_images, *test_labels;
    size_t sizes[MAX_LAYERS + 1], n_layers;
    nn_activation hidden;
    nn_optimizer opt;
    nn_train_options train;
    size_t limit, validation, patience;
    int threads, quiet;
    const char *save, *csv, *svg, *isa;
} config;

typedef struct set {
    float *x, *y;
    size_t n;
} set;

typedef struct run {
    const config *cfg;
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
            "usage: nntrain [options]\n"
            "Train a fully-connected classifier on IDX files (MNIST family). With no options it\n"
            "trains 784-256-128-10 (ReLU, softmax + cross-entropy, Adam 1e-3, cosine schedule,\n"
            "minibatch 128, 20 epochs) on Fashion-MNIST from /usr/share/datasets/fashion-mnist/.\n"
            "\n"
            "data\n"
            "  --data DIR             directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz\n"
            "                         (default /usr/share/datasets/fashion-mnist)\n"
            "  --train-images FILE, --train-labels FILE, --test-images FILE, --test-labels FILE\n"
            "                         individual gzipped IDX files (override --data)\n"
            "  --limit N              use only the first N training samples\n"
            "  --validation N         hold out the last N training samples for validation\n"
            "network\n"
            "  --layers A-B-...-Z     unit counts, inputs first (default 784-256-128-10)\n"
            "  --activation NAME      hidden activation: relu, leaky_relu, tanh, sigmoid, identity\n"
            "                         (default relu); the output is always softmax\n"
            "  --seed N               initialization and shuffling seed (default 1)\n"
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
            "  --threads N            threads (default: one per physical core)\n"
            "  --isa NAME             force scalar, avx2, avx512 or neon\n"
            "output\n"
            "  --save FILE            model file (default nntrain-model.nnm; '' to skip)\n"
            "  --csv FILE             training curve (default nntrain-curve.csv)\n"
            "  --svg FILE             plot of the curve, when gnuplot is installed (default\n"
            "                         nntrain-curve.svg; '' to skip)\n"
            "  --quiet                no progress bar\n"
            "  --help                 this text\n");
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

static int load_set(const char *images, const char *labels, size_t classes, set *s, size_t *features)
{
    nn_idx im, lb;
    nn_status st = nn_idx_read(images, &im);
    if (st) {
        fprintf(stderr, "nntrain: %s: %s\n", images, nn_strerror(st));
        return 0;
    }
    if ((st = nn_idx_read(labels, &lb))) {
        fprintf(stderr, "nntrain: %s: %s\n", labels, nn_strerror(st));
        nn_idx_free(&im);
        return 0;
    }
    st = nn_idx_dataset(&im, &lb, classes, &s->x, &s->y);
    if (st) fprintf(stderr, "nntrain: %s + %s: %s\n", images, labels, nn_strerror(st));
    s->n = im.count;
    *features = im.rows * im.cols;
    nn_idx_free(&im);
    nn_idx_free(&lb);
    return st == NN_OK;
}

/* Index of the largest of n values. */
static size_t argmax(const float *v, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++) best = v[i] > v[best] ? i : best;
    return best;
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
        for (size_t j = 0; j < n; j++) right += s->y[(j0 + j) * out + argmax(r->out + j * out, out)] == 1.0f;
    }
    *loss = total / (double)s->n;
    *acc = (double)right / (double)s->n;
}

static void on_batch(const nn_batch_info *b, void *user)
{
    run *r = user;
    const size_t out = r->cfg->sizes[r->cfg->n_layers];
    for (size_t j = 0; j < b->size; j++)
        r->right += b->target[j * b->target_ld + argmax(b->output + j * out, out)] == 1.0f;
    r->seen += b->size;
    if (r->cfg->quiet || !r->tty) return;
    if (b->batch % 16 != 0 && b->batch + 1 != b->batches) return;
    const int width = 30, done = (int)((b->batch + 1) * (size_t)width / b->batches);
    const double rate = (double)r->seen / (now() - r->epoch_start);
    fprintf(stderr, "\repoch %zu/%zu [%.*s%*s] %3d%%  loss %.4f  accuracy %.4f  %.0f samples/s ",
            b->epoch + 1, r->cfg->train.epochs, done, "==============================", width - done, "",
            (int)(100 * (b->batch + 1) / b->batches), (double)b->cost, (double)r->right / (double)r->seen,
            rate);
    fflush(stderr);
}

static int on_epoch(size_t epoch, float cost, void *user)
{
    run *r = user;
    const double secs = now() - r->epoch_start;
    const size_t trained = r->cfg->limit - r->cfg->validation;
    double test_loss, test_acc, val_loss = NAN, val_acc = NAN;
    evaluate(r, &r->test, &test_loss, &test_acc);
    if (r->val.n) evaluate(r, &r->val, &val_loss, &val_acc);
    if (r->tty && !r->cfg->quiet) fprintf(stderr, "\r%*s\r", 100, "");
    printf("epoch %zu  lr %.3g  train loss %.4f accuracy %.4f  %.2f s (%.0f samples/s)", epoch + 1,
           (double)nn_scheduled_rate(&r->cfg->train, epoch), (double)cost,
           r->seen ? (double)r->right / (double)r->seen : 0.0, secs, (double)trained / secs);
    if (r->val.n) printf("  validation loss %.4f accuracy %.4f", val_loss, val_acc);
    printf("  test loss %.4f  test accuracy: %.4f\n", test_loss, test_acc);
    fflush(stdout);
    if (r->csv)
        fprintf(r->csv, "%zu,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.4f\n", epoch + 1, (double)cost,
                r->seen ? (double)r->right / (double)r->seen : 0.0, val_loss, val_acc, test_loss, test_acc, secs);
    int stop = 0;
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

static void plot(const config *c)
{
    if (!c->csv || !*c->csv || !c->svg || !*c->svg) return;
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) return;
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "gnuplot -e \"set terminal svg size 720,420; set output '%s'; set datafile separator ',';"
             " set key center right; set xlabel 'epoch'; set ylabel 'loss'; set y2label 'accuracy';"
             " set y2tics; set ytics nomirror;"
             " plot '%s' skip 1 using 1:2 with linespoints title 'train loss',"
             " '' skip 1 using 1:6 with linespoints title 'test loss',"
             " '' skip 1 using 1:3 axes x1y2 with linespoints title 'train accuracy',"
             " '' skip 1 using 1:7 axes x1y2 with linespoints title 'test accuracy'\"",
             c->svg, c->csv);
    if (system(cmd) == 0) printf("wrote %s\n", c->svg);
}

int main(int argc, char **argv)
{
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
        {"svg", 1, 0, 16}, {"quiet", 0, 0, 'q'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end = NULL;
        switch (ch) {
        case 'D': c.data_dir = optarg; break;
        case 1: c.train_images = optarg; break;
        case 2: c.train_labels = optarg; break;
        case 3: c.test_images = optarg; break;
        case 4: c.test_labels = optarg; break;
        case 5: c.limit = strtoull(optarg, &end, 10); break;
        case 6: c.validation = strtoull(optarg, &end, 10); break;
        case 'l':
            if (!parse_layers(optarg, &c)) {
                fprintf(stderr, "nntrain: bad --layers '%s' (e.g. 784-256-128-10)\n", optarg);
                return 2;
            }
            break;
        case 'a':
            if (nn_activation_from_name(optarg, &c.hidden) != NN_OK || c.hidden == NN_SOFTMAX) {
                fprintf(stderr, "nntrain: bad --activation '%s'\n", optarg);
                return 2;
            }
            break;
        case 's': seed = strtoull(optarg, &end, 10); c.train.shuffle_seed = seed; break;
        case 'o': {
            const float lr_keep = c.opt.weight_decay;
            if (strcmp(optarg, "adam") == 0) c.opt = nn_optimizer_default(NN_ADAM);
            else if (strcmp(optarg, "sgd") == 0) c.opt = nn_optimizer_default(NN_SGD);
            else if (strcmp(optarg, "momentum") == 0) c.opt = nn_optimizer_default(NN_MOMENTUM);
            else {
                fprintf(stderr, "nntrain: bad --optimizer '%s'\n", optarg);
                return 2;
            }
            c.opt.weight_decay = lr_keep;
            break;
        }
        case 'r': c.train.learning_rate = strtof(optarg, &end); break;
        case 7: c.opt.momentum = strtof(optarg, &end); break;
        case 8: c.opt.weight_decay = strtof(optarg, &end); break;
        case 9:
            if (strcmp(optarg, "constant") == 0) c.train.schedule = NN_CONSTANT;
            else if (strcmp(optarg, "step") == 0) c.train.schedule = NN_STEP;
            else if (strcmp(optarg, "cosine") == 0) c.train.schedule = NN_COSINE;
            else {
                fprintf(stderr, "nntrain: bad --schedule '%s'\n", optarg);
                return 2;
            }
            break;
        case 10: c.train.step_epochs = strtoull(optarg, &end, 10); break;
        case 11: c.train.gamma = strtof(optarg, &end); break;
        case 'e': c.train.epochs = strtoull(optarg, &end, 10); break;
        case 'b': c.train.batch_size = strtoull(optarg, &end, 10); break;
        case 12: c.patience = strtoull(optarg, &end, 10); break;
        case 't': c.threads = atoi(optarg); break;
        case 13: c.isa = optarg; break;
        case 14: c.save = optarg; break;
        case 15: c.csv = optarg; break;
        case 16: c.svg = optarg; break;
        case 'q': c.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (end && *end) {
            fprintf(stderr, "nntrain: bad number '%s'\n", optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nntrain: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (c.train.epochs == 0 || c.train.batch_size == 0 || c.threads < 0) {
        fprintf(stderr, "nntrain: --epochs, --batch must be positive\n");
        return 2;
    }
    if (c.patience && !c.validation) {
        fprintf(stderr, "nntrain: --patience needs --validation N\n");
        return 2;
    }
    if (c.isa) {
        nn_isa isa;
        nn_status s = nn_isa_from_name(c.isa, &isa);
        if (!s) s = nn_set_isa(isa);
        if (s) {
            fprintf(stderr, "nntrain: --isa %s: %s\n", c.isa, nn_strerror(s));
            return 2;
        }
    }

    char paths[4][4096];
    const char *names[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                            "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
    const char *given[4] = {c.train_images, c.train_labels, c.test_images, c.test_labels};
    for (int i = 0; i < 4; i++)
        snprintf(paths[i], sizeof paths[i], "%s%s%s", given[i] ? "" : c.data_dir, given[i] ? "" : "/",
                 given[i] ? given[i] : names[i]);
    const size_t classes = c.sizes[c.n_layers];
    set train = {0}, test = {0};
    size_t features = 0, test_features = 0;
    run r = {.cfg = &c, .tty = isatty(2), .best_val = INFINITY};
    int rc = 1;
    if (!load_set(paths[0], paths[1], classes, &train, &features) ||
        !load_set(paths[2], paths[3], classes, &test, &test_features))
        goto done;
    if (features != c.sizes[0] || test_features != features) {
        fprintf(stderr, "nntrain: the data has %zu features, --layers starts with %zu\n", features,
                c.sizes[0]);
        goto done;
    }
    if (c.limit == 0 || c.limit > train.n) c.limit = train.n;
    if (c.validation >= c.limit) {
        fprintf(stderr, "nntrain: --validation %zu leaves no training data\n", c.validation);
        goto done;
    }
    const size_t n_train = c.limit - c.validation;
    r.val = (set){train.x + n_train * features, train.y + n_train * classes, c.validation};
    r.test = test;

    nn_activation acts[MAX_LAYERS];
    for (size_t l = 0; l < c.n_layers; l++) acts[l] = l + 1 == c.n_layers ? NN_SOFTMAX : c.hidden;
    nn_status s = nn_network_create(&r.net, c.n_layers, c.sizes, acts, NN_CROSS_ENTROPY, seed);
    if (!s) s = nn_set_optimizer(r.net, &c.opt);
    if (!s) s = nn_set_threads(r.net, c.threads);
    r.out = malloc(classes * c.train.batch_size * sizeof(float));
    if (s || !r.out) {
        fprintf(stderr, "nntrain: %s\n", s ? nn_strerror(s) : "out of memory");
        goto done;
    }
    nn_topology topo;
    nn_get_topology(&topo);
    printf("nntrain: %zu-", c.sizes[0]);
    for (size_t l = 1; l <= c.n_layers; l++) printf("%zu%s", c.sizes[l], l < c.n_layers ? "-" : "");
    printf(" %s/softmax, %s lr %g (%s), batch %zu, %zu epochs; %zu training, %zu validation, %zu test"
           " samples; %s, %d threads\n",
           nn_activation_name(c.hidden),
           c.opt.kind == NN_ADAM ? "adam" : c.opt.kind == NN_MOMENTUM ? "momentum" : "sgd",
           (double)c.train.learning_rate,
           c.train.schedule == NN_COSINE ? "cosine" : c.train.schedule == NN_STEP ? "step" : "constant",
           c.train.batch_size, c.train.epochs, n_train, c.validation, test.n, nn_isa_name(nn_get_isa()),
           c.threads ? c.threads : topo.threads);
    if (c.csv && *c.csv) {
        r.csv = fopen(c.csv, "w");
        if (!r.csv) perror(c.csv);
        else fprintf(r.csv, "epoch,train_loss,train_accuracy,validation_loss,validation_accuracy,test_loss,"
                          "test_accuracy,seconds\n");
    }
    c.train.on_batch = on_batch;
    r.epoch_start = now();
    const double t0 = now();
    s = nn_train(r.net, train.x, features, train.y, classes, n_train, &c.train, on_epoch, &r);
    if (r.csv) fclose(r.csv), r.csv = NULL;
    if (s) {
        fprintf(stderr, "nntrain: training: %s: %s\n", nn_strerror(s), nn_network_error(r.net));
        goto done;
    }
    printf("trained in %.1f s\n", now() - t0);
    if (c.save && *c.save) {
        if (!(c.patience && c.validation)) r.save_status = nn_save(r.net, c.save);
        if (r.save_status) fprintf(stderr, "nntrain: saving %s: %s\n", c.save, nn_strerror(r.save_status));
        else printf("saved %s%s\n", c.save, c.patience ? " (best validation loss)" : "");
    }
    if (c.csv && *c.csv) printf("wrote %s\n", c.csv);
    plot(&c);
    printf("weights digest: %016llx\n", (unsigned long long)nn_weights_digest(r.net));
    rc = r.save_status ? 1 : 0;
done:
    nn_network_destroy(r.net);
    free(r.out);
    free(train.x), free(train.y), free(test.x), free(test.y);
    return rc;
}
