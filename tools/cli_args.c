/* What the command-line tools share (cli_args.h). */
#include "cli_args.h"

#include "nn.h"

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

int cli_read_csv(const char *prog, const char *path, nn_csv *t)
{
    nn_csv_error e;
    errno = 0;
    const nn_status st = nn_csv_read(path, -1, t, &e);
    if (st == NN_ERR_IO)
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
    else if (st && e.field && st == NN_ERR_FORMAT)
        fprintf(stderr, "%s: %s:%zu: field %zu: not a number, or a field count unlike the first line's\n", prog,
                path, e.line, e.field);
    else if (st && e.field)
        fprintf(stderr, "%s: %s:%zu: field %zu: %s\n", prog, path, e.line, e.field,
                st == NN_ERR_NON_FINITE ? "NaN, Inf or beyond float's range" : nn_strerror(st));
    else if (st && e.line)
        fprintf(stderr, "%s: %s:%zu: %s\n", prog, path, e.line, nn_strerror(st));
    else if (st)
        fprintf(stderr, "%s: %s: %s\n", prog, path, nn_strerror(st));
    return st == NN_OK;
}

size_t cli_argmax(const float *v, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++) best = v[i] > v[best] ? i : best;
    return best;
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
