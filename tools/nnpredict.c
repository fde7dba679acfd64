/*
 * nnpredict: run a saved model on data. For a classifier (softmax output):
 * accuracy, per-class accuracy and the confusion matrix; for a regressor:
 * the mean squared error, per target. Predictions go to a CSV file. See
 * --help.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "nn.h"

#define CHUNK 256 /* samples per nn_predict call */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: nnpredict MODEL (--images FILE [--labels FILE] | --csv FILE) [options]\n"
            "Run a model saved by nntrain (or nn_save) on data and report how well it does.\n"
            "\n"
            "  --images FILE          IDX images, gzipped or not (one sample each)\n"
            "  --labels FILE          IDX labels for them: accuracy, per class, confusion\n"
            "                         matrix\n"
            "  --csv FILE             numeric CSV, one sample a line (a header is\n"
            "                         recognized); a classifier's labels in --label-field\n"
            "                         (default: the last field), a regressor's targets in\n"
            "                         --target-fields\n"
            "  --label-field N        1-based field of the class labels\n"
            "  --target-fields A[-B]  1-based fields of a regressor's targets\n"
            "  --no-targets           the CSV holds features only: predictions, no scores\n"
            "  --out FILE             write the predictions as CSV\n"
            "  --threads N            threads per call (default 1)\n"
            "  --help                 this text\n");
}

typedef struct data {
    float *x, *y; /* features x n, outputs x n (y NULL: no targets) */
    size_t n, features;
} data;

static int load_idx(const char *images, const char *labels, size_t classes, data *d)
{
    nn_idx im, lb = {0};
    errno = 0;
    nn_status s = nn_idx_read(images, &im);
    if (!s && labels) s = nn_idx_read(labels, &lb);
    if (s) {
        const char *path = im.data ? labels : images;
        if (s == NN_ERR_IO) fprintf(stderr, "nnpredict: %s: %s\n", path, strerror(errno));
        else fprintf(stderr, "nnpredict: %s: %s (expected an IDX file, gzipped or not)\n", path, nn_strerror(s));
        nn_idx_free(&im);
        return 0;
    }
    d->n = im.count, d->features = im.rows * im.cols;
    if (labels) {
        s = nn_idx_dataset(&im, &lb, classes, &d->x, &d->y);
        if (s) fprintf(stderr, "nnpredict: %s + %s: %s (labels must be below the model's %zu outputs)\n", images,
                       labels, nn_strerror(s), classes);
    } else if (!(d->x = malloc(d->n * d->features * sizeof(float)))) {
        s = NN_ERR_OUT_OF_MEMORY, fprintf(stderr, "nnpredict: out of memory\n");
    } else {
        for (size_t i = 0; i < d->n * d->features; i++) d->x[i] = (float)im.data[i] / 255.0f;
    }
    nn_idx_free(&im), nn_idx_free(&lb);
    return s == NN_OK;
}

static int load_csv(const char *path, size_t first, size_t count, size_t classes, int no_targets, data *d)
{
    nn_csv t;
    if (!cli_read_csv("nnpredict", path, &t)) return 0;
    nn_status s;
    d->n = t.rows;
    if (no_targets) {
        d->features = t.cols;
        d->x = malloc(t.rows * t.cols * sizeof(float));
        if (d->x) memcpy(d->x, t.data, t.rows * t.cols * sizeof(float)); /* row-major = column-major per sample */
        else fprintf(stderr, "nnpredict: out of memory\n");
        nn_csv_free(&t);
        return d->x != NULL;
    }
    if (first == SIZE_MAX) first = t.cols - 1;
    if (first >= t.cols || count > t.cols - first || count == t.cols) {
        fprintf(stderr, "nnpredict: %s: %zu fields per line: the target fields do not fit\n", path, t.cols);
        nn_csv_free(&t);
        return 0;
    }
    d->features = t.cols - count;
    s = nn_csv_dataset(&t, first, count, classes, &d->x, &d->y);
    if (s == NN_ERR_FORMAT)
        fprintf(stderr, "nnpredict: %s: field %zu must hold class labels 0..%zu\n", path, first + 1, classes - 1);
    else if (s)
        fprintf(stderr, "nnpredict: %s: %s\n", path, nn_strerror(s));
    nn_csv_free(&t);
    return s == NN_OK;
}


int main(int argc, char **argv)
{
    const char *model = NULL, *images = NULL, *labels = NULL, *csv = NULL, *out = NULL;
    size_t label_field = 0, target_first = 0, target_last = 0;
    int threads = 1, no_targets = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--no-targets") == 0) {
            no_targets = 1;
            continue;
        }
        if (a[0] != '-' || a[1] != '-') {
            if (model) {
                fprintf(stderr, "nnpredict: unexpected argument '%s' (nnpredict --help)\n", a);
                return 2;
            }
            model = a;
            continue;
        }
        static const char *const valued[] = {"--images", "--labels", "--csv", "--label-field", "--target-fields",
                                             "--out", "--threads"};
        size_t k = 0;
        while (k < 7 && strcmp(a, valued[k]) != 0) k++;
        if (k == 7) {
            fprintf(stderr, "nnpredict: unknown option '%s' (nnpredict --help)\n", a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "nnpredict: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        switch (k) {
        case 0: images = v; break;
        case 1: labels = v; break;
        case 2: csv = v; break;
        case 3: label_field = cli_count("nnpredict", a, v, 1, 1u << 20); break;
        case 4: cli_range("nnpredict", a, v, 1u << 20, &target_first, &target_last); break;
        case 5: out = v; break;
        default: threads = (int)cli_count("nnpredict", a, v, 1, 4096); break;
        }
    }
    if (!model || (!images == !csv)) {
        fprintf(stderr, "nnpredict: give a MODEL and either --images or --csv (nnpredict --help)\n");
        return 2;
    }
    if (labels && !images) {
        fprintf(stderr, "nnpredict: --labels goes with --images\n");
        return 2;
    }
    if ((label_field || target_first || no_targets) && !csv) {
        fprintf(stderr, "nnpredict: --label-field, --target-fields and --no-targets are for --csv\n");
        return 2;
    }
    FILE *pf = NULL;
    if (out && !(pf = fopen(out, "w"))) { /* checked before any work */
        fprintf(stderr, "nnpredict: --out %s: %s\n", out, strerror(errno));
        return 1;
    }
    nn_network *net = NULL;
    errno = 0;
    nn_status s = nn_load(&net, model);
    if (s) {
        fprintf(stderr, "nnpredict: %s: %s%s%s\n", model, nn_strerror(s), s == NN_ERR_IO ? ": " : "",
                s == NN_ERR_IO ? strerror(errno) : "");
        if (pf) fclose(pf);
        return 1;
    }
    const size_t L = nn_network_layers(net), inputs = nn_network_units(net, 0), outputs = nn_network_units(net, L);
    const int classifier = nn_network_loss(net) == NN_CROSS_ENTROPY;
    if (classifier && target_first) {
        fprintf(stderr, "nnpredict: %s is a classifier: use --label-field, not --target-fields\n", model);
        nn_network_destroy(net);
        return 2;
    }
    if (!classifier && label_field) {
        fprintf(stderr, "nnpredict: %s is a regressor: use --target-fields, not --label-field\n", model);
        nn_network_destroy(net);
        return 2;
    }
    data d = {0};
    int ok;
    if (images) {
        ok = load_idx(images, labels, outputs, &d);
    } else {
        const size_t first = classifier ? (label_field ? label_field - 1 : SIZE_MAX)
                                        : (target_first ? target_first - 1 : SIZE_MAX);
        const size_t count = classifier ? 1 : target_first ? target_last - target_first + 1 : outputs;
        ok = load_csv(csv, first == SIZE_MAX && !classifier ? SIZE_MAX : first, count, classifier ? outputs : 0,
                      no_targets, &d);
        if (ok && !classifier && !no_targets && count != outputs) {
            fprintf(stderr, "nnpredict: %s has %zu outputs, --target-fields gives %zu\n", model, outputs, count);
            ok = 0;
        }
    }
    if (ok && d.features != inputs) {
        fprintf(stderr, "nnpredict: the data has %zu features per sample, %s takes %zu inputs\n", d.features, model,
                inputs);
        ok = 0;
    }
    float *pred = ok ? malloc(d.n * outputs * sizeof(float)) : NULL;
    const size_t ws = nn_predict_workspace_size(net, CHUNK, threads);
    void *work = ok && ws != SIZE_MAX ? malloc(ws) : NULL;
    if (ok && (!pred || !work)) fprintf(stderr, "nnpredict: out of memory\n"), ok = 0;
    for (size_t j0 = 0; ok && j0 < d.n; j0 += CHUNK) {
        const size_t m = d.n - j0 < CHUNK ? d.n - j0 : CHUNK;
        if ((s = nn_predict(net, threads, d.x + j0 * inputs, inputs, m, pred + j0 * outputs, outputs, work, ws))) {
            fprintf(stderr, "nnpredict: samples %zu..%zu: %s\n", j0, j0 + m - 1, nn_strerror(s));
            ok = 0;
        }
    }
    if (ok && d.y && classifier) {
        size_t *conf = calloc(outputs * outputs, sizeof *conf), right = 0;
        if (!conf) {
            fprintf(stderr, "nnpredict: out of memory\n");
            ok = 0;
        }
        for (size_t j = 0; conf && j < d.n; j++) {
            const size_t t = cli_argmax(d.y + j * outputs, outputs), p = cli_argmax(pred + j * outputs, outputs);
            conf[t * outputs + p]++, right += t == p;
        }
        if (conf) {
            printf("%s on %zu samples: accuracy %.4f\n", model, d.n, (double)right / (double)d.n);
            printf("per class (accuracy of the samples of each true class):\n");
            for (size_t t = 0; t < outputs; t++) {
                size_t total = 0;
                for (size_t p = 0; p < outputs; p++) total += conf[t * outputs + p];
                if (total)
                    printf("  class %3zu  %6zu samples  accuracy %.4f\n", t, total,
                           (double)conf[t * outputs + t] / (double)total);
                else
                    printf("  class %3zu  no samples\n", t);
            }
            if (outputs <= 12) {
                printf("confusion matrix (rows: true class, columns: predicted):\n      ");
                for (size_t p = 0; p < outputs; p++) printf("%6zu", p);
                printf("\n");
                for (size_t t = 0; t < outputs; t++) {
                    printf("%6zu", t);
                    for (size_t p = 0; p < outputs; p++) printf("%6zu", conf[t * outputs + p]);
                    printf("\n");
                }
            } else {
                printf("(confusion matrix not printed for %zu classes; --out has every prediction)\n", outputs);
            }
            free(conf);
        }
    } else if (ok && d.y) {
        double total = 0;
        printf("%s on %zu samples: mean squared error", model, d.n);
        for (size_t o = 0; o < outputs; o++) {
            double se = 0;
            for (size_t j = 0; j < d.n; j++) {
                const double e = (double)pred[j * outputs + o] - d.y[j * outputs + o];
                se += e * e;
            }
            total += se;
            if (outputs > 1) printf("%s target %zu %.6g", o ? "," : "", o + 1, se / (double)d.n);
        }
        printf("%s%.6g\n", outputs > 1 ? "; all " : " ", total / (double)(d.n * outputs));
    }
    if (ok && pf) {
        fputs(classifier ? "predicted" : "", pf);
        for (size_t o = 0; o < outputs; o++) fprintf(pf, "%s%s%zu", classifier || o ? "," : "", classifier ? "p" : "y", o);
        if (d.y) fputs(classifier ? ",true" : "", pf);
        for (size_t o = 0; d.y && !classifier && o < outputs; o++) fprintf(pf, ",target%zu", o);
        fprintf(pf, "\n");
        for (size_t j = 0; j < d.n; j++) {
            const float *pj = pred + j * outputs;
            if (classifier) fprintf(pf, "%zu", cli_argmax(pj, outputs));
            for (size_t o = 0; o < outputs; o++) fprintf(pf, "%s%.6g", classifier || o ? "," : "", (double)pj[o]);
            if (d.y && classifier) fprintf(pf, ",%zu", cli_argmax(d.y + j * outputs, outputs));
            for (size_t o = 0; d.y && !classifier && o < outputs; o++) fprintf(pf, ",%.6g", (double)d.y[j * outputs + o]);
            fprintf(pf, "\n");
        }
    }
    if (pf) {
        const int failed = ferror(pf) | (fclose(pf) != 0);
        if (failed && ok) fprintf(stderr, "nnpredict: --out %s: %s\n", out, strerror(errno)), ok = 0;
        else if (ok) printf("wrote %s (%zu predictions)\n", out, d.n);
    }
    free(pred), free(work), free(d.x), free(d.y);
    nn_network_destroy(net);
    return ok ? 0 : 1;
}
