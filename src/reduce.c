/*
 * Long sums in a fixed order that keeps float accumulators accurate: the
 * kernels sum runs of at most NN_SUM_BLOCK elements (several vector
 * accumulators), and runs are combined pairwise, so the error grows with
 * log2(n / block) instead of n. The split points depend only on n, so every
 * thread count and every call gives the same bits on a given ISA.
 */
#include <string.h>

#include "internal.h"

#define COLUMN_BLOCK 64

static size_t half_on_block(size_t n, size_t block)
{
    size_t h = (n / 2 + block - 1) / block * block;
    return h < n ? h : n - block;
}

float nn_reduce_sum_sq_diff(const nn_kernels *kr, size_t n, const float *a, const float *y)
{
    if (n <= NN_SUM_BLOCK) return kr->sum_sq_diff(n, a, y);
    const size_t h = half_on_block(n, NN_SUM_BLOCK);
    return nn_reduce_sum_sq_diff(kr, h, a, y) + nn_reduce_sum_sq_diff(kr, n - h, a + h, y + h);
}

float nn_reduce_sum(const nn_kernels *kr, size_t n, const float *x)
{
    if (n <= NN_SUM_BLOCK) return kr->sum(n, x);
    const size_t h = half_on_block(n, NN_SUM_BLOCK);
    return nn_reduce_sum(kr, h, x) + nn_reduce_sum(kr, n - h, x + h);
}

float nn_reduce_dot(const nn_kernels *kr, size_t n, const float *x, const float *y)
{
    if (n <= NN_SUM_BLOCK) return kr->dot(n, x, y);
    const size_t h = half_on_block(n, NN_SUM_BLOCK);
    return nn_reduce_dot(kr, h, x, y) + nn_reduce_dot(kr, n - h, x + h, y + h);
}

size_t nn_column_sum_scratch(size_t rows, size_t cols)
{
    size_t depth = 1;
    for (size_t c = cols; c > COLUMN_BLOCK; c = (c + 1) / 2) depth++;
    return rows * depth;
}

void nn_reduce_columns(const nn_kernels *kr, size_t rows, size_t cols, const float *x,
                       size_t ld, float *out, float *scratch)
{
    memset(out, 0, rows * sizeof *out);
    if (cols <= COLUMN_BLOCK) {
        kr->add_columns(rows, cols, x, ld, out);
        return;
    }
    const size_t h = half_on_block(cols, COLUMN_BLOCK);
    nn_reduce_columns(kr, rows, h, x, ld, out, scratch);
    nn_reduce_columns(kr, rows, cols - h, x + h * ld, ld, scratch, scratch + rows);
    kr->axpy(rows, 1.0f, scratch, out);
}
