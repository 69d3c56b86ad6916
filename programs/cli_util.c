#include "cli.h"
#include "traj/convert.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int zt_cli_fail(const char *cmd, int rc) {
    const char *m = zt_last_error();
    /* the library says "choose one": here the way to is --group */
    const char *hint = rc == ZT_EGROUP && m && strstr(m, "choose one") ? " with --group" : "";
    fprintf(stderr, "zarrtraj %s: %s%s\n", cmd, m && *m ? m : zt_strerror(rc), hint);
    return 1;
}

int zt_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "zarrtraj %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see zarrtraj %s --help)\n", cmd);
    va_end(ap);
    return 2;
}

int zt_cli_slice(const char *spec, int64_t n, int64_t *start, int64_t *step, int64_t *count) {
    return zt__slice_parse(spec, n, start, step, count);
}

int zt_cli_size(const char *s, size_t *out) { return zt__size_parse(s, out); }

int zt_cli_add_storage(zt_options_t **opts, const char *kv) {
    if (!*opts) {
        int rc = zt_options_create(opts);
        if (rc) return rc;
    }
    return zt_options_set_kv(*opts, kv);
}

double zt_cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void zt_progress_start(zt_progress *p, const char *label, int64_t total) {
    p->label = label;
    p->t0 = p->last = zt_cli_now();
    p->tty = isatty(fileno(stderr)) != 0;
    p->total = total;
}

static void zt__progress_print(zt_progress *p, int64_t done, uint64_t bytes, bool final) {
    double dt = zt_cli_now() - p->t0;
    double mbs = dt > 0 ? (double)bytes / dt / 1e6 : 0;
    if (p->total > 0)
        fprintf(stderr, "\r%s: %lld/%lld frames (%3.0f%%) %.1f MB/s %.1f s%s", p->label, (long long)done,
                (long long)p->total, 100.0 * (double)done / (double)p->total, mbs, dt, final ? "\n" : "   ");
    else
        fprintf(stderr, "\r%s: %lld frames %.1f MB/s %.1f s%s", p->label, (long long)done, mbs, dt,
                final ? "\n" : "   ");
    fflush(stderr);
}

void zt_progress_update(zt_progress *p, int64_t done, uint64_t bytes) {
    if (!p->tty) return;
    double now = zt_cli_now();
    if (now - p->last < 0.2) return;
    p->last = now;
    zt__progress_print(p, done, bytes, false);
}

void zt_progress_end(zt_progress *p, int64_t done, uint64_t bytes) {
    if (p->tty) zt__progress_print(p, done, bytes, true);
}

int zt_npy_header(FILE *f, const char *descr, const int64_t *shape, int ndim) {
    char dict[256];
    int k = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < ndim; i++)
        k += snprintf(dict + k, sizeof dict - (size_t)k, "%lld%s", (long long)shape[i], ndim == 1 ? "," : i + 1 < ndim ? ", " : "");
    k += snprintf(dict + k, sizeof dict - (size_t)k, "), }");
    /* magic(6) + version(2) + len(2) + dict + padding + '\n' is a multiple of 64 */
    size_t total = 10 + (size_t)k + 1;
    size_t pad = (64 - total % 64) % 64;
    unsigned hl = (unsigned)((size_t)k + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    unsigned char l[2] = {(unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
    fwrite(l, 1, 2, f);
    fwrite(dict, 1, (size_t)k, f);
    for (size_t i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    return ferror(f) ? -1 : 0;
}

int zt_cli_set_int(zt_options_t *set, const char *key, long long v) {
    if (!v) return 0;
    char num[32];
    snprintf(num, sizeof num, "%lld", v);
    return zt_options_set(set, key, num);
}
