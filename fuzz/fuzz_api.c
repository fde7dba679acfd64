/* libFuzzer target: the public API driven by fuzzed shapes and values.
 * The bytes choose a network (1-3 layers of 1-24 units, any activations,
 * either loss where allowed), a batch, a rate and a thread count, then
 * supply weights, inputs and targets as raw floats (NaN, Inf, subnormals
 * and huge values included). Every call must return a status, never crash,
 * leak or read out of bounds (ASan + UBSan); and what the library accepts
 * must hold its promises: a saved model loads back bit for bit, and
 * nn_predict agrees with nn_forward on finite outputs of moderate size. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct reader {
    const uint8_t *p;
    size_t left;
} reader;

static unsigned byte(reader *r)
{
    if (!r->left) return 0;
    r->left--;
    return *r->p++;
}

static float value(reader *r)
{
    uint32_t bits = 0;
    for (int i = 0; i < 4; i++) bits |= (uint32_t)byte(r) << (8 * i);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static float *values(reader *r, size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; v && i < n; i++) v[i] = value(r);
    return v;
}

static float largest_input(const float *v, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(v[i])); /* NaN: ignored by fmaxf */
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = {data, size};
    const size_t layers = 1 + byte(&r) % 3;
    size_t sizes[4];
    nn_activation acts[3];
    for (size_t l = 0; l <= layers; l++) sizes[l] = 1 + byte(&r) % 24;
    for (size_t l = 0; l < layers; l++) acts[l] = (nn_activation)(byte(&r) % NN_ACTIVATION_COUNT);
    const nn_loss loss = acts[layers - 1] == NN_SOFTMAX ? NN_CROSS_ENTROPY : NN_MSE;
    const size_t m = byte(&r) % 70; /* 0: empty work */
    const int threads = 1 + (int)(byte(&r) % 2);
    const float rate = value(&r);
    nn_network *net = NULL;
    if (nn_network_create(&net, layers, sizes, acts, loss, byte(&r)) != NN_OK) return 0;
    nn_set_threads(net, threads);
    float largest = 1.0f; /* the initial weights are within 1 */
    for (size_t l = 0; l < layers && r.left > 64; l++) {
        float *w = values(&r, sizes[l] * sizes[l + 1]), *b = values(&r, sizes[l + 1]);
        if (w && nn_set_weights(net, l, w, sizes[l + 1]) == NN_OK)
            largest = fmaxf(largest, largest_input(w, sizes[l] * sizes[l + 1]));
        if (b && nn_set_bias(net, l, b) == NN_OK) largest = fmaxf(largest, largest_input(b, sizes[l + 1]));
        free(w), free(b);
    }
    const size_t n_in = sizes[0], n_out = sizes[layers];
    float *x = values(&r, n_in * m), *y = values(&r, n_out * m);
    float *out = malloc((n_out * m ? n_out * m : 1) * sizeof *out);
    float *pred = malloc((n_out * m ? n_out * m : 1) * sizeof *pred);
    if (x && y && out && pred) {
        if (loss == NN_CROSS_ENTROPY) /* mostly valid targets, sometimes not */
            for (size_t i = 0; i < n_out * m; i++)
                if (!(byte(&r) & 1)) y[i] = fabsf(y[i]);
        float cost;
        const int forward_ok = nn_forward(net, x, n_in, m, out, n_out) == NN_OK;
        const size_t ws = nn_predict_workspace_size(net, m, threads);
        void *work = ws != SIZE_MAX ? malloc(ws ? ws : 1) : NULL;
        /* nn_forward and nn_predict may take different kernels (summation
         * order): only a well-conditioned network (weights and inputs of
         * modest size) must agree closely; a wrong row, bias or activation
         * would miss by far more than this */
        if (work && nn_predict(net, threads, x, n_in, m, pred, n_out, work, ws) == NN_OK && forward_ok &&
            largest <= 4.0f && largest_input(x, n_in * m) <= 4.0f)
            for (size_t i = 0; i < n_out * m; i++)
                if (fabsf(pred[i] - out[i]) > 0.05f * (1 + fabsf(out[i]))) __builtin_trap(); /* they disagree */
        free(work);
        nn_cost(net, x, n_in, y, n_out, m, &cost);
        nn_gradient(net, x, n_in, y, n_out, m, &cost);
        nn_train_step(net, x, n_in, y, n_out, m, rate, &cost);
        const nn_train_options opt = {.epochs = 2, .batch_size = byte(&r) % 8, .learning_rate = rate,
                                      .shuffle_seed = byte(&r), .schedule = (nn_schedule)(byte(&r) % 3),
                                      .gamma = 0.5f};
        nn_train(net, x, n_in, y, n_out, m, &opt, NULL, NULL);
    }
    /* a network that trained (or refused to) still saves and loads back exactly */
    if (nn_save(net, "fuzz_api.nnm") == NN_OK) {
        nn_network *back = NULL;
        if (nn_load(&back, "fuzz_api.nnm") != NN_OK || nn_weights_digest(back) != nn_weights_digest(net))
            __builtin_trap();
        nn_network_destroy(back);
    }
    free(x), free(y), free(out), free(pred);
    nn_network_destroy(net);
    return 0;
}
