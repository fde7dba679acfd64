/* Helpers shared by the Check suites: deterministic data, ULP distance, and
 * the list of ISAs this machine can run. */
#ifndef NN_TESTUTIL_H
#define NN_TESTUTIL_H

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"

static inline uint64_t tu_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* uniform in [lo, hi) */
static inline float tu_uniform(uint64_t *s, float lo, float hi)
{
    return lo + (hi - lo) * (float)(tu_next(s) >> 40) * (1.0f / 16777216.0f);
}

static inline float *tu_random(size_t n, uint64_t seed, float lo, float hi)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++) p[i] = tu_uniform(&seed, lo, hi);
    return p;
}

/* Distance in units in the last place between two floats (same sign
 * ordering), saturating; NaN vs NaN is 0, NaN vs number is huge. */
static inline double tu_ulps(float a, float b)
{
    if (a != a || b != b) return (a != a && b != b) ? 0.0 : 1e30;
    if (a == b) return 0.0;
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    if (ia < 0) ia = INT32_MIN - ia;
    if (ib < 0) ib = INT32_MIN - ib;
    return fabs((double)ia - (double)ib);
}

/* The ISAs this machine runs, scalar first. Returns the count. */
static inline int tu_isas(nn_isa *out)
{
    int n = 0;
    for (int i = 0; i < NN_ISA_COUNT; i++)
        if (nn_isa_available((nn_isa)i)) out[n++] = (nn_isa)i;
    return n;
}

static inline int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* main() of a suite: one test case named like the suite, `timeout` seconds
 * per test. */
static inline int tu_main(const char *name, double timeout, const TTest *const *tests, size_t n)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout);
    for (size_t i = 0; i < n; i++) tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    return tu_run(s);
}

#endif
