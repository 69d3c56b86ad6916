#include "cli.h"

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

static int zt__parse_i64(const char *s, size_t n, int64_t *out) {
    char buf[32];
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

int zt_cli_slice(const char *spec, int64_t n, int64_t *start, int64_t *step, int64_t *count) {
    const char *parts[3] = {spec, NULL, NULL};
    size_t lens[3] = {0, 0, 0};
    int np = 1;
    for (const char *p = spec; *p; p++)
        if (*p == ':') {
            if (np == 3) return -1;
            parts[np++] = p + 1;
        }
    for (int i = 0; i < np; i++) {
        const char *e = strchr(parts[i], ':');
        lens[i] = e ? (size_t)(e - parts[i]) : strlen(parts[i]);
    }
    if (np == 1) { /* a single index, as seq[i] */
        int64_t a;
        if (zt__parse_i64(parts[0], lens[0], &a)) return -1;
        if (a < 0) a += n;
        if (a < 0 || a >= n) return -1;
        *start = a;
        *step = 1;
        *count = 1;
        return 0;
    }
    int64_t s = 1;
    if (np == 3 && lens[2] && zt__parse_i64(parts[2], lens[2], &s)) return -1;
    if (s == 0 || s == INT64_MIN) return -1;
    /* slice.indices(n): a missing bound is the end the step starts from (or
     * runs to); a negative one counts from n; then both are clipped, to
     * [0, n] going up and to [-1, n - 1] going down */
    int64_t lo = s > 0 ? 0 : -1, hi = s > 0 ? n : n - 1;
    int64_t a = s > 0 ? 0 : n - 1, b = s > 0 ? n : -1;
    for (int k = 0; k < 2; k++) {
        int64_t v;
        if (!lens[k]) continue;
        if (zt__parse_i64(parts[k], lens[k], &v)) return -1;
        if (v < 0) v = v < -n ? lo : v + n; /* v + n cannot overflow here */
        if (v < lo) v = lo;
        if (v > hi) v = hi;
        if (k == 0) a = v;
        else b = v;
    }
    int64_t len = 0; /* b - a and a - b lie within [-n - 1, n + 1] */
    if (s > 0 && b > a) len = (b - a - 1) / s + 1;
    if (s < 0 && a > b) len = (a - b - 1) / -s + 1;
    *start = len ? a : 0;
    *step = s;
    *count = len;
    return 0;
}

int zt_cli_size(const char *s, size_t *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0) return -1;
    double m = 1;
    if (*end == 'k' || *end == 'K') m = 1024.0, end++;
    else if (*end == 'm' || *end == 'M') m = 1024.0 * 1024, end++;
    else if (*end == 'g' || *end == 'G') m = 1024.0 * 1024 * 1024, end++;
    if (*end == 'i' || *end == 'I') end++;
    if (*end == 'b' || *end == 'B') end++;
    if (*end) return -1;
    *out = (size_t)(v * m);
    return 0;
}

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
