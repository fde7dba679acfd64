/* The README's "Using the library" program, complete: train the seed's
 * 1-20-1 network on sin(x), then serve it with nn_predict, save and load it.
 * Build: cc quickstart.c $(pkg-config --cflags --libs nn) -o quickstart */
#include <math.h>
#include <nn.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    enum { M = 100 };
    float x[M], y[M], fit[M];
    for (int i = 0; i < M; i++) x[i] = -5.0f + 0.1f * (float)i, y[i] = sinf(x[i]);

    const size_t sizes[] = {1, 20, 1}; /* inputs, hidden units, outputs */
    const nn_activation acts[] = {NN_SIGMOID, NN_IDENTITY};
    nn_network *net;
    nn_status s = nn_network_create(&net, 2, sizes, acts, NN_MSE, /* seed */ 1);
    if (s != NN_OK) {
        fprintf(stderr, "create: %s\n", nn_strerror(s));
        return 1;
    }
    /* samples are columns: x is 1 x M, y is 1 x M, leading dimension 1 */
    const nn_train_options opt = {.epochs = 20000, .batch_size = 0 /* full batch */, .learning_rate = 0.1f};
    if ((s = nn_train(net, x, 1, y, 1, M, &opt, NULL, NULL)) != NN_OK) {
        fprintf(stderr, "train: %s: %s\n", nn_strerror(s), nn_network_error(net));
        nn_network_destroy(net);
        return 1;
    }
    /* serving: a read-only network, a workspace per thread, no allocation */
    const size_t ws = nn_predict_workspace_size(net, M, 1);
    void *work = malloc(ws);
    if (!work || (s = nn_predict(net, 1, x, 1, M, fit, 1, work, ws)) != NN_OK) {
        fprintf(stderr, "predict: %s\n", work ? nn_strerror(s) : "out of memory");
        free(work);
        nn_network_destroy(net);
        return 1;
    }
    free(work);
    double sse = 0;
    for (int i = 0; i < M; i++) sse += (fit[i] - y[i]) * (fit[i] - y[i]);
    printf("cost after training: %.6f\n", sse / (2.0 * M));

    nn_network *back = NULL;
    if ((s = nn_save(net, "quickstart.nnm")) != NN_OK || (s = nn_load(&back, "quickstart.nnm")) != NN_OK) {
        fprintf(stderr, "save/load quickstart.nnm: %s\n", nn_strerror(s));
        nn_network_destroy(net);
        return 1;
    }
    printf("saved and loaded: %s\n", nn_weights_digest(back) == nn_weights_digest(net) ? "identical" : "DIFFERENT");
    nn_network_destroy(back);
    nn_network_destroy(net);
    return 0;
}
