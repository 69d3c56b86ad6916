/* Internals of zt_convert shared with the command-line tool. */
#ifndef ZT_TRAJ_CONVERT_H
#define ZT_TRAJ_CONVERT_H

#include "zarrtraj.h"

#include <stddef.h>
#include <stdint.h>

/* Python-style slice "A:B[:S]" (any part may be empty; negatives count from
 * n; S may be negative) or index "I", resolved against n exactly as
 * range(n)[spec]: the selection is start + i * step for i < count. Returns 0
 * or -1 on a malformed spec (S = 0, an index out of range). */
int zt__slice_parse(const char *spec, int64_t n, int64_t *start, int64_t *step, int64_t *count);
/* A size with an optional K/M/G suffix (binary; "12M", "48k", "1GiB"). 0 or -1. */
int zt__size_parse(const char *s, size_t *out);

#endif
