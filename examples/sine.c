/*
 * The seed's example: a 1-20-1 network (sigmoid hidden layer, identity
 * output) fitted to sin(x) on x = -5, -4.9, ..., 4.9 by full-batch gradient
 * descent, learning rate 0.1, 20000 epochs. See sine --help.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"
#include "cli_args.h"
#include "svg_plot.h"

#define POINTS 100

#ifndef NN_SINE_REFERENCE
#define NN_SINE_REFERENCE "sine_reference.txt"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sine [options]\n"
            "Fit the seed's 1-20-1 sigmoid network to sin(x) on [-5, 5) by full-batch\n"
            "gradient descent; print the cost, write sine.csv and sine.svg.\n"
            "\n"
            "  --epochs N         gradient-descent steps (default 20000)\n"
            "  --lr X             learning rate (default 0.1)\n"
            "  --seed N           initialization seed (default 1)\n"
            "  --seed-weights     start from the seed post's own initial weights (read\n"
            "                     from --reference) and print the cost beside the seed's\n"
            "                     float64 figures\n"
            "  --reference FILE   the seed's weights and costs (default\n"
            "                     " NN_SINE_REFERENCE ")\n"
            "  --out DIR          where sine.csv and sine.svg go (default .)\n"
            "  --help             this text\n");
}

/* "--flag VALUE" or "--flag=VALUE": the value, or NULL if argv[*i] is not
 * this flag. Exits 2 when the value is missing. */
static const char *flag_value(int argc, char **argv, int *i, const char *flag)
{
    const size_t n = strlen(flag);
    if (strncmp(argv[*i], flag, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] != '\0') return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "sine: %s needs a value (sine --help)\n", flag);
        exit(2);
    }
    return argv[++*i];
}

/* The seed's initial weights and its float64 costs (tests/data's format:
 * "NAME rows cols values..." and "cost EPOCH VALUE" lines). */
typedef struct reference {
    float w1[20], b1[20], w2[20], b2;
    size_t n_costs, epochs[64];
    double costs[64];
} reference;

static int read_reference(const char *path, reference *r)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "sine: --reference %s: %s\n", path, strerror(errno));
        return 0;
    }
    char name[16];
    int got = 0;
    memset(r, 0, sizeof *r);
    while (fscanf(f, "%15s", name) == 1) {
        if (name[0] == '#') {
            int c;
            while ((c = fgetc(f)) != '\n' && c != EOF) continue;
            continue;
        }
        if (strcmp(name, "cost") == 0) {
            if (r->n_costs < 64 && fscanf(f, "%zu %lf", &r->epochs[r->n_costs], &r->costs[r->n_costs]) == 2) r->n_costs++;
            continue;
        }
        size_t rows, cols;
        if (fscanf(f, "%zu %zu", &rows, &cols) != 2 || rows * cols > 20) break;
        float *dst = strcmp(name, "W1") == 0 ? r->w1 : strcmp(name, "b1") == 0 ? r->b1
                     : strcmp(name, "W2") == 0 ? r->w2 : strcmp(name, "b2") == 0 ? &r->b2 : NULL;
        if (!dst || rows * cols != (strcmp(name, "b2") == 0 ? 1u : 20u)) break;
        size_t i = 0;
        for (double v; i < rows * cols && fscanf(f, "%lf", &v) == 1; i++) dst[i] = (float)v;
        if (i != rows * cols) break;
        got++;
    }
    fclose(f);
    if (got != 4 || r->n_costs == 0) {
        fprintf(stderr, "sine: --reference %s: not the seed's weights and costs\n", path);
        return 0;
    }
    return 1;
}

typedef struct progress {
    const reference *ref; /* NULL: report every epochs/20 */
    size_t every;
} progress;

static int report(size_t epoch, float cost, void *user)
{
    const progress *p = user;
    /* the callback sees epoch e's mean cost before its update: the cost after e steps */
    if (p->ref) {
        for (size_t i = 0; i < p->ref->n_costs; i++)
            if (p->ref->epochs[i] == epoch)
                printf("epoch %6zu  cost %.8f  seed (float64) %.8f  relative difference %+.1e\n", epoch,
                       (double)cost, p->ref->costs[i], ((double)cost - p->ref->costs[i]) / p->ref->costs[i]);
    } else if (epoch % p->every == 0) {
        printf("epoch %6zu  cost %.8f\n", epoch, (double)cost);
    }
    return 0;
}

static int fail(const char *what, nn_status s, const nn_network *net)
{
    fprintf(stderr, "sine: %s: %s%s%s\n", what, nn_strerror(s), net ? ": " : "", net ? nn_network_error(net) : "");
    return 1;
}

int main(int argc, char **argv)
{
    const char *dir = ".", *ref_path = NN_SINE_REFERENCE;
    size_t epochs = 20000;
    float lr = 0.1f;
    uint64_t seed = 1;
    int seed_weights = 0, epochs_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--seed-weights") == 0) {
            seed_weights = 1;
        } else if ((v = flag_value(argc, argv, &i, "--epochs"))) {
            epochs = (size_t)cli_count("sine", "--epochs", v, 1, 10000000), epochs_given = 1;
        } else if ((v = flag_value(argc, argv, &i, "--lr"))) {
            lr = (float)cli_real("sine", "--lr", v, 0, 1, 100);
        } else if ((v = flag_value(argc, argv, &i, "--seed"))) {
            seed = cli_count("sine", "--seed", v, 0, UINT64_MAX);
        } else if ((v = flag_value(argc, argv, &i, "--out"))) {
            dir = v;
        } else if ((v = flag_value(argc, argv, &i, "--reference"))) {
            ref_path = v;
        } else {
            fprintf(stderr, "sine: unknown argument '%s' (sine --help)\n", argv[i]);
            return 2;
        }
    }
    reference ref;
    if (seed_weights && !read_reference(ref_path, &ref)) return 1;
    if (seed_weights && !epochs_given) epochs = ref.epochs[ref.n_costs - 1] + 1;

    /* the outputs are checked before the training */
    char csv_path[4096], svg_path[4096];
    if ((size_t)snprintf(csv_path, sizeof csv_path, "%s/sine.csv", dir) >= sizeof csv_path ||
        (size_t)snprintf(svg_path, sizeof svg_path, "%s/sine.svg", dir) >= sizeof svg_path) {
        fprintf(stderr, "sine: --out: path too long\n");
        return 2;
    }
    FILE *f = fopen(csv_path, "w");
    if (!f) {
        fprintf(stderr, "sine: --out %s: cannot write %s: %s\n", dir, csv_path, strerror(errno));
        return 1;
    }

    float x[POINTS], y[POINTS], fit[POINTS];
    for (int i = 0; i < POINTS; i++) {
        x[i] = -5.0f + 0.1f * (float)i;
        y[i] = sinf(x[i]);
    }
    const size_t sizes[] = {1, 20, 1};
    const nn_activation acts[] = {NN_SIGMOID, NN_IDENTITY};
    nn_network *net;
    nn_status s = nn_network_create(&net, 2, sizes, acts, NN_MSE, seed);
    if (!s && seed_weights) {
        if (!(s = nn_set_weights(net, 0, ref.w1, 20)) && !(s = nn_set_bias(net, 0, ref.b1)) &&
            !(s = nn_set_weights(net, 1, ref.w2, 1)))
            s = nn_set_bias(net, 1, &ref.b2);
    }
    if (s) {
        fclose(f);
        return fail("create", s, net);
    }
    progress prog = {.ref = seed_weights ? &ref : NULL, .every = epochs >= 20 ? epochs / 20 : 1};
    const nn_train_options opt = {.epochs = epochs, .batch_size = 0, .learning_rate = lr};
    float cost;
    if ((s = nn_train(net, x, 1, y, 1, POINTS, &opt, report, &prog)) ||
        (s = nn_cost(net, x, 1, y, 1, POINTS, &cost)) || (s = nn_forward(net, x, 1, POINTS, fit, 1))) {
        fail("train", s, net);
        nn_network_destroy(net);
        fclose(f);
        return 1;
    }

    fprintf(f, "x,target,fit\n");
    for (int i = 0; i < POINTS; i++) fprintf(f, "%.6f,%.6f,%.6f\n", (double)x[i], (double)y[i], (double)fit[i]);
    if (ferror(f) | fclose(f)) {
        fprintf(stderr, "sine: %s: %s\n", csv_path, strerror(errno));
        nn_network_destroy(net);
        return 1;
    }
    printf("wrote %s\n", csv_path);
    double xs[POINTS], ys[POINTS], fs[POINTS];
    for (int i = 0; i < POINTS; i++) xs[i] = x[i], ys[i] = y[i], fs[i] = fit[i];
    const svg_series series[] = {{"sin(x)", xs, ys, POINTS, 0, 0, 0, "#1f77b4"},
                                 {"the network's fit", xs, fs, POINTS, 0, 0, 1, "#d62728"}};
    char title[96];
    snprintf(title, sizeof title, "1-20-1 sigmoid network fitted to sin(x): cost %.5f after %zu epochs", (double)cost,
             epochs);
    const svg_chart chart = {.title = title, .x_label = "x", .y_label = "y", .mark_x = NAN};
    if (svg_plot_write(svg_path, &chart, series, 2) != 0) {
        fprintf(stderr, "sine: %s: %s\n", svg_path, strerror(errno));
        nn_network_destroy(net);
        return 1;
    }
    printf("wrote %s\n", svg_path);
    printf("final cost: %.8f\n", (double)cost);
    printf("weights digest: %016llx\n", (unsigned long long)nn_weights_digest(net));
    nn_network_destroy(net);
    return 0;
}
