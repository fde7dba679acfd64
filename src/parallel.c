/* Splitting elementwise work across the OpenMP team. Each element's result
 * never depends on where the split falls, so this keeps results bitwise
 * identical for every thread count. */
#ifdef _OPENMP
#include <omp.h>
#endif

#include "internal.h"

/* Below this many element-operations per thread, one thread is faster
 * (fork/join costs a few microseconds). */
#define MIN_WORK_PER_THREAD 32768

void nn_parallel_ranges(int threads, size_t n, size_t cost_per_item, nn_range_fn fn, void *ctx)
{
    size_t useful = n * (cost_per_item ? cost_per_item : 1) / MIN_WORK_PER_THREAD;
    int nt = threads;
    if ((size_t)nt > useful) nt = (int)useful;
    if ((size_t)nt > n) nt = (int)n;
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
#endif
    fn(ctx, 0, n);
}
