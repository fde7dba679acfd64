/* Splitting elementwise work across the OpenMP team. Each element's result
 * never depends on where the split falls, so this keeps results bitwise
 * identical for every thread count. */
#ifdef _OPENMP
#include <omp.h>
#endif

#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The offset back to malloc's pointer is kept in the bytes just before the
 * aligned block (malloc's own alignment leaves at least 8 of them). */
void *nn_alloc_lines(size_t bytes, int zero)
{
    if (bytes > SIZE_MAX - NN_CACHE_LINE) return NULL;
    unsigned char *raw = zero ? calloc(1, bytes + NN_CACHE_LINE) : malloc(bytes + NN_CACHE_LINE);
    if (!raw) return NULL;
    const size_t shift = NN_CACHE_LINE - (size_t)((uintptr_t)raw % NN_CACHE_LINE);
    unsigned char *p = raw + shift;
    memcpy(p - sizeof shift, &shift, sizeof shift);
    return p;
}

void nn_free_lines(void *p)
{
    if (!p) return;
    size_t shift;
    memcpy(&shift, (unsigned char *)p - sizeof shift, sizeof shift);
    free((unsigned char *)p - shift);
}

/* Threads worth using for `work` element-operations split into at most
 * `parts` pieces (the policy: nn_worth_threads). */
static int useful_threads(int threads, size_t work, size_t parts)
{
    return parts && threads > 1 ? nn_worth_threads(threads, nn_kernels_active(), NN_WORK_ELEMENTS, (double)work, parts)
                                : 1;
}

void nn_parallel_ranges(int threads, size_t n, size_t cost_per_item, nn_range_fn fn, void *ctx)
{
    const int nt = useful_threads(threads, n * (cost_per_item ? cost_per_item : 1), n);
#ifdef _OPENMP
    if (nt > 1) {
#pragma omp parallel num_threads(nt)
        {
            nn_bind_team();
            const size_t t = (size_t)omp_get_thread_num(), k = (size_t)omp_get_num_threads();
            const size_t lo = n * t / k, hi = n * (t + 1) / k;
            if (lo < hi) fn(ctx, lo, hi);
        }
        return;
    }
#else
    (void)nt;
#endif
    fn(ctx, 0, n);
}

void nn_parallel_chunks(int threads, size_t n, size_t chunk, size_t cost_per_item, nn_range_fn fn,
                        void *ctx)
{
    const size_t chunks = (n + chunk - 1) / chunk;
    const int nt = useful_threads(threads, n * (cost_per_item ? cost_per_item : 1), chunks);
#ifdef _OPENMP
    if (nt > 1) {
#pragma omp parallel num_threads(nt)
        {
            nn_bind_team();
#pragma omp for schedule(dynamic, 1)
            for (size_t c = 0; c < chunks; c++) fn(ctx, c * chunk, c * chunk + chunk < n ? c * chunk + chunk : n);
        }
        return;
    }
#else
    (void)nt;
#endif
    fn(ctx, 0, n);
}
