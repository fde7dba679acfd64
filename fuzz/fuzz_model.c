/* libFuzzer target: the model loader must return a status for any bytes,
 * never crash or leak, and a model it accepts must run. */
#include <stdint.h>
#include <stdlib.h>

#include "nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nn_network *net = NULL;
    if (nn_load_memory(&net, data, size) != NN_OK) return 0;
    /* keep accepted models small enough to evaluate quickly */
    const size_t in = nn_network_units(net, 0), out = nn_network_units(net, nn_network_layers(net));
    if (nn_network_parameter_count(net) <= (1u << 16) && in <= 4096 && out <= 4096) {
        float *x = calloc(in * 2, sizeof *x), *y = calloc(out * 2, sizeof *y);
        if (x && y) {
            nn_set_threads(net, 1);
            nn_forward(net, x, in, 2, y, out);
        }
        free(x);
        free(y);
    }
    nn_network_destroy(net);
    return 0;
}
