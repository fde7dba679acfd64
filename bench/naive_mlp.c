/* The seed's training step written the obvious way in C: nn_sgemm_naive for
 * the products, plain loops for everything else, one thread. nnbench's
 * baseline for "speed-up over the naive reference" of a training step. */
#include "naive_mlp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float act(nn_activation g, float z)
{
    switch (g) {
    case NN_SIGMOID: return 1.0f / (1.0f + expf(-z));
    case NN_TANH: return tanhf(z);
    case NN_RELU: return z > 0 ? z : 0.0f;
    case NN_LEAKY_RELU: return z > 0 ? z : NN_LEAKY_SLOPE * z;
    default: return z;
    }
}

static float act_grad_from_output(nn_activation g, float a)
{
    switch (g) {
    case NN_SIGMOID: return a * (1 - a);
    case NN_TANH: return 1 - a * a;
    case NN_RELU: return a > 0 ? 1.0f : 0.0f;
    case NN_LEAKY_RELU: return a > 0 ? 1.0f : NN_LEAKY_SLOPE;
    default: return 1.0f;
    }
}

int naive_mlp_init(naive_mlp *n, size_t layers, const size_t *sizes, const nn_activation *acts,
                   size_t batch, uint64_t seed)
{
    memset(n, 0, sizeof *n);
    if (layers > NAIVE_MAX_LAYERS) return -1;
    n->layers = layers;
    n->batch = batch;
    size_t widest = 0;
    for (size_t l = 0; l <= layers; l++) widest = sizes[l] > widest ? sizes[l] : widest;
    int ok = 1;
    for (size_t l = 0; l < layers; l++) {
        n->sizes[l] = sizes[l];
        n->acts[l] = acts[l];
        const size_t in = sizes[l], out = sizes[l + 1];
        n->w[l] = malloc(in * out * sizeof(float));
        n->dw[l] = malloc(in * out * sizeof(float));
        n->b[l] = calloc(out, sizeof(float));
        n->db[l] = malloc(out * sizeof(float));
        n->a[l] = malloc(out * batch * sizeof(float));
        ok &= n->w[l] && n->dw[l] && n->b[l] && n->db[l] && n->a[l];
        for (size_t i = 0; ok && i < in * out; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            n->w[l][i] = ((float)(seed >> 40) / 16777216.0f - 0.5f) * 0.1f;
        }
    }
    n->sizes[layers] = sizes[layers];
    n->dz = malloc(widest * batch * sizeof(float));
    n->da = malloc(widest * batch * sizeof(float));
    if (!ok || !n->dz || !n->da) {
        naive_mlp_free(n);
        return -1;
    }
    return 0;
}

void naive_mlp_free(naive_mlp *n)
{
    for (size_t l = 0; l < n->layers; l++) {
        free(n->w[l]), free(n->dw[l]), free(n->b[l]), free(n->db[l]), free(n->a[l]);
    }
    free(n->dz), free(n->da);
    memset(n, 0, sizeof *n);
}

void naive_mlp_step(naive_mlp *n, const float *x, const float *y, float lr)
{
    const size_t m = n->batch, L = n->layers;
    const float *in = x;
    for (size_t l = 0; l < L; l++) {
        const size_t ni = n->sizes[l], no = n->sizes[l + 1];
        nn_sgemm_naive(NN_NO_TRANS, NN_NO_TRANS, no, m, ni, 1.0f, n->w[l], no, in, ni, 0.0f, n->a[l], no);
        for (size_t j = 0; j < m; j++) {
            float *col = n->a[l] + j * no;
            for (size_t i = 0; i < no; i++) col[i] += n->b[l][i];
            if (n->acts[l] == NN_SOFTMAX) {
                float mx = col[0], s = 0;
                for (size_t i = 1; i < no; i++) mx = col[i] > mx ? col[i] : mx;
                for (size_t i = 0; i < no; i++) s += (col[i] = expf(col[i] - mx));
                for (size_t i = 0; i < no; i++) col[i] /= s;
            } else {
                for (size_t i = 0; i < no; i++) col[i] = act(n->acts[l], col[i]);
            }
        }
        in = n->a[l];
    }
    const size_t nout = n->sizes[L];
    for (size_t i = 0; i < nout * m; i++) {
        float d = (n->a[L - 1][i] - y[i]) / (float)m;
        if (n->acts[L - 1] != NN_SOFTMAX) d *= act_grad_from_output(n->acts[L - 1], n->a[L - 1][i]);
        n->dz[i] = d;
    }
    for (size_t l = L; l-- > 0;) {
        const size_t ni = n->sizes[l], no = n->sizes[l + 1];
        const float *prev = l ? n->a[l - 1] : x;
        nn_sgemm_naive(NN_NO_TRANS, NN_TRANS, no, ni, m, 1.0f, n->dz, no, prev, ni, 0.0f, n->dw[l], no);
        for (size_t i = 0; i < no; i++) {
            float s = 0;
            for (size_t j = 0; j < m; j++) s += n->dz[i + j * no];
            n->db[l][i] = s;
        }
        if (l > 0) {
            nn_sgemm_naive(NN_TRANS, NN_NO_TRANS, ni, m, no, 1.0f, n->w[l], no, n->dz, no, 0.0f, n->da, ni);
            for (size_t i = 0; i < ni * m; i++)
                n->da[i] *= act_grad_from_output(n->acts[l - 1], n->a[l - 1][i]);
            float *t = n->dz;
            n->dz = n->da;
            n->da = t;
        }
    }
    for (size_t l = 0; l < L; l++) {
        const size_t nw = n->sizes[l] * n->sizes[l + 1];
        for (size_t i = 0; i < nw; i++) n->w[l][i] -= lr * n->dw[l][i];
        for (size_t i = 0; i < n->sizes[l + 1]; i++) n->b[l][i] -= lr * n->db[l][i];
    }
}
