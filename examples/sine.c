/*
 * The seed's example: a 1-20-1 network (sigmoid hidden layer, identity
 * output) fitted to sin(x) on x = -5, -4.9, ..., 4.9 by full-batch gradient
 * descent, learning rate 0.1, 20000 epochs.
 *
 *   sine [OUTPUT_DIR]     writes sine.csv (x, target, fit) and, when gnuplot
 *                         is installed, sine.svg into OUTPUT_DIR (default .)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nn.h"

#define POINTS 100
#define EPOCHS 20000

static int report(size_t epoch, float cost, void *user)
{
    (void)user;
    if (epoch % 1000 == 0) printf("epoch %5zu  cost %.8f\n", epoch, (double)cost);
    return 0;
}

static int fail(const char *what, nn_status s, const nn_network *net)
{
    fprintf(stderr, "sine: %s: %s%s%s\n", what, nn_strerror(s), net ? ": " : "",
            net ? nn_network_error(net) : "");
    return 1;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    float x[POINTS], y[POINTS], fit[POINTS];
    for (int i = 0; i < POINTS; i++) {
        x[i] = -5.0f + 0.1f * (float)i;
        y[i] = sinf(x[i]);
    }

    const size_t sizes[] = {1, 20, 1};
    const nn_activation acts[] = {NN_SIGMOID, NN_IDENTITY};
    nn_network *net;
    nn_status s = nn_network_create(&net, 2, sizes, acts, NN_MSE, 1);
    if (s) return fail("create", s, NULL);

    const nn_train_options opt = {.epochs = EPOCHS, .batch_size = 0, .learning_rate = 0.1f};
    if ((s = nn_train(net, x, 1, y, 1, POINTS, &opt, report, NULL))) {
        fail("train", s, net);
        nn_network_destroy(net);
        return 1;
    }
    float cost;
    if ((s = nn_cost(net, x, 1, y, 1, POINTS, &cost)) || (s = nn_forward(net, x, 1, POINTS, fit, 1))) {
        fail("evaluate", s, net);
        nn_network_destroy(net);
        return 1;
    }

    char path[4096];
    snprintf(path, sizeof path, "%s/sine.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        nn_network_destroy(net);
        return 1;
    }
    fprintf(f, "x,target,fit\n");
    for (int i = 0; i < POINTS; i++)
        fprintf(f, "%.6f,%.6f,%.6f\n", (double)x[i], (double)y[i], (double)fit[i]);
    fclose(f);
    printf("wrote %s\n", path);

    if (system("command -v gnuplot >/dev/null 2>&1") == 0) {
        char cmd[9000];
        snprintf(cmd, sizeof cmd,
                 "gnuplot -e \"set terminal svg size 640,400; set output '%s/sine.svg';"
                 " set datafile separator ','; set key top left; set xlabel 'x';"
                 " plot '%s' skip 1 using 1:2 with lines lw 2 title 'sin(x)',"
                 " '' skip 1 using 1:3 with points pt 7 ps 0.4 title 'network'\"",
                 dir, path);
        if (system(cmd) == 0) printf("wrote %s/sine.svg\n", dir);
    }

    printf("final cost: %.8f\n", (double)cost);
    printf("weights digest: %016llx\n", (unsigned long long)nn_weights_digest(net));
    nn_network_destroy(net);
    return cost < 0.01f ? 0 : 1;
}
