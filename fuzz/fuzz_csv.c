/* libFuzzer target: the CSV reader and the dataset split must return a
 * status for any bytes, never crash, leak or read out of bounds, and what
 * they accept must be consistent (every value finite, the split's sizes
 * those of the table). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    const int header = (int)(data[0] % 3) - 1;
    nn_csv c;
    nn_csv_error e;
    if (nn_csv_decode(data + 1, size - 1, header, &c, &e) != NN_OK) return 0;
    for (size_t i = 0; i < c.rows * c.cols; i++)
        if (!isfinite(c.data[i])) __builtin_trap();
    const size_t target = c.cols ? data[0] % c.cols : 0, classes = data[0] & 1 ? 1 + data[0] % 10 : 0;
    float *x = NULL, *y = NULL;
    if (nn_csv_dataset(&c, target, 1, classes, &x, &y) == NN_OK) {
        const size_t outs = classes ? classes : 1;
        for (size_t j = 0; j < c.rows; j++) { /* one-hot columns sum to 1 */
            float sum = 0;
            for (size_t k = 0; k < outs; k++) sum += y[j * outs + k];
            if (classes && sum != 1.0f) __builtin_trap();
        }
        free(x), free(y);
    }
    nn_csv_free(&c);
    return 0;
}
