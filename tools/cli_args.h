/* Strict command-line numbers for the tools (not part of the library): the
 * whole string, in range, no overflow; otherwise one line naming the
 * program and the flag on stderr and exit status 2. */
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

#endif
