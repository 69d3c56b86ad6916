/* Shared helpers of the zarrtraj command-line tool. */
#ifndef ZT_CLI_H
#define ZT_CLI_H

#include "zarrtraj.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Print "zarrtraj CMD: <last error>" to stderr and return 1. */
int zt_cli_fail(const char *cmd, int rc);
/* Print "zarrtraj CMD: message" and return 2 (usage errors). */
int zt_cli_usage_error(const char *cmd, const char *fmt, ...);

/* Python-style slice "A:B[:S]" (any part may be empty; negatives count from
 * n; S may be negative) or index "I", resolved against n exactly as
 * range(n)[spec]: the selection is start + i * step for i < count. Returns 0
 * or -1 on a malformed spec (S = 0, an index out of range). */
int zt_cli_slice(const char *spec, int64_t n, int64_t *start, int64_t *step, int64_t *count);
/* Parse a size with optional K/M/G suffix (binary). */
int zt_cli_size(const char *s, size_t *out);
/* Set key to v in a writer settings set (v == 0: leave it unset). */
int zt_cli_set_int(zt_options_t *set, const char *key, long long v);

/* Storage options collected from repeated -S key=value. */
int zt_cli_add_storage(zt_options_t **opts, const char *kv);

/* Progress line on a TTY (stderr); silent otherwise. */
typedef struct zt_progress {
    const char *label;
    double t0, last;
    bool tty;
    int64_t total;
    int64_t last_done;   /* convert: the latest callback's counts */
    uint64_t last_bytes;
} zt_progress;
void zt_progress_start(zt_progress *p, const char *label, int64_t total);
void zt_progress_update(zt_progress *p, int64_t done, uint64_t bytes);
void zt_progress_end(zt_progress *p, int64_t done, uint64_t bytes);

/* NumPy .npy (format 1.0) header for a C-order array. */
int zt_npy_header(FILE *f, const char *descr, const int64_t *shape, int ndim);

double zt_cli_now(void);

/* Subcommands. */
int zt_cmd_info(int argc, char **argv);
int zt_cmd_cat(int argc, char **argv);
int zt_cmd_convert(int argc, char **argv);
int zt_cmd_synth(int argc, char **argv);
int zt_cmd_cp(int argc, char **argv);
int zt_cmd_ls(int argc, char **argv);
int zt_cmd_index(int argc, char **argv);

#endif
