/* Strict command-line numbers (cli_args.h). */
#include "cli_args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned long long cli_count(const char *prog, const char *flag, const char *s, unsigned long long lo,
                             unsigned long long hi)
{
    char *end;
    errno = 0;
    const unsigned long long v = strtoull(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "%s: %s: '%s' is not a whole number in %llu..%llu\n", prog, flag, s, lo, hi);
        exit(2);
    }
    return v;
}

double cli_real(const char *prog, const char *flag, const char *s, double lo, int lo_open, double hi)
{
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < lo || (lo_open && v == lo) || v > hi) {
        fprintf(stderr, "%s: %s: '%s' is not a number in %s%g, %g]\n", prog, flag, s, lo_open ? "(" : "[", lo, hi);
        exit(2);
    }
    return v;
}

void cli_range(const char *prog, const char *flag, const char *s, unsigned long long hi, size_t *first, size_t *last)
{
    char head[32];
    const char *dash = strchr(s, '-');
    const size_t len = dash ? (size_t)(dash - s) : strlen(s);
    if (len >= sizeof head) {
        fprintf(stderr, "%s: %s: '%s' is not a field or a range A-B\n", prog, flag, s);
        exit(2);
    }
    memcpy(head, s, len);
    head[len] = '\0';
    *first = (size_t)cli_count(prog, flag, head, 1, hi);
    *last = dash ? (size_t)cli_count(prog, flag, dash + 1, *first, hi) : *first;
}
