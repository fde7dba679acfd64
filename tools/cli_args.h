/* What the command-line tools share (not part of the library): strict
 * numbers (the whole string, in range, no overflow; otherwise one line
 * naming the program and the flag on stderr and exit status 2), CSV input
 * with its errors reported, and a classifier's prediction. */
#ifndef NN_CLI_ARGS_H
#define NN_CLI_ARGS_H

#include <stddef.h>

/* A whole number in [lo, hi] (no sign). */
unsigned long long cli_count(const char *prog, const char *flag, const char *s, unsigned long long lo,
                             unsigned long long hi);
/* A finite number in [lo, hi], or (lo, hi] with lo_open. */
double cli_real(const char *prog, const char *flag, const char *s, double lo, int lo_open, double hi);
/* "A" or "A-B" (1-based fields, A <= B <= hi) into *first, *last. */
void cli_range(const char *prog, const char *flag, const char *s, unsigned long long hi, size_t *first, size_t *last);

/* Read a numeric CSV file (header detected) into *t; 0 after one line on
 * stderr naming the file, and the line and field or the OS's reason. */
struct nn_csv;
int cli_read_csv(const char *prog, const char *path, struct nn_csv *t);

/* Index of the largest of n values (a classifier's prediction). */
size_t cli_argmax(const float *v, size_t n);

#endif
