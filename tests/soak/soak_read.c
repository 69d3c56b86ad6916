/* soak_read: per-frame checksums of a trajectory, and a reader that checks
 * every frame it reads against them (the fault soak, the memory soak).
 *
 *   soak_read sums URL OUT [-S k=v ...]
 *       one line per frame: index, step, hash of step + time + position +
 *       velocity + force bytes (of the local copy, the reference)
 *   soak_read verify URL SUMS [-S k=v ...] [--random N --seed S] [--rss FILE]
 *                   [--cache-mb M] [--readahead-mb M]
 *       read every frame in order (or N frames at random) and compare; a
 *       frame whose read fails is counted with its message and the next one
 *       is read (a failed read must come with a clear error, never wrong
 *       bytes). Prints one JSON object: frames, ok, wrong, errors, bytes,
 *       requests, seconds, messages, and with --rss the resident set size
 *       over time (samples in FILE) with its least-squares slope.
 * Exit status: 0 when no frame was wrong (errors alone do not fail: the
 * caller decides), 1 on a wrong frame, 2 on usage or setup errors. */
#include "zarrtraj.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Two 64-bit lanes over 8-byte words: fast, not cryptographic (the data is
 * not adversarial; a mismatch anywhere changes it). */
typedef struct {
    uint64_t a, b;
} hash_t;

static void hash_add(hash_t *h, const void *p, size_t n) {
    const uint8_t *s = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h->a = (h->a ^ w) * 0x9E3779B97F4A7C15ull;
        h->b = (h->b + w) * 0xC2B2AE3D27D4EB4Full ^ (h->b >> 29);
    }
    for (; i < n; i++) {
        h->a = (h->a ^ s[i]) * 0x100000001B3ull;
        h->b = (h->b + s[i]) * 0xC2B2AE3D27D4EB4Full;
    }
}

static long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    return res * sysconf(_SC_PAGESIZE);
}

typedef struct {
    zt_reader_t *r;
    int64_t na;
    float *pos, *vel, *frc;
} ctx_t;

/* Read frame i and hash it; 0 or the error code. */
static int frame_hash(ctx_t *c, int64_t i, hash_t *h, size_t *bytes) {
    zt_frame_t f;
    int rc = zt_reader_read_frame(c->r, i, &f, c->pos, zt_reader_has(c->r, ZT_VELOCITY) ? c->vel : NULL,
                                  zt_reader_has(c->r, ZT_FORCE) ? c->frc : NULL);
    if (rc) return rc;
    h->a = 0x243F6A8885A308D3ull;
    h->b = 0x13198A2E03707344ull;
    size_t n = (size_t)c->na * 3 * sizeof(float);
    hash_add(h, &f.step, sizeof f.step);
    hash_add(h, &f.time, sizeof f.time);
    *bytes = 0;
    float *el[3] = {c->pos, c->vel, c->frc};
    for (int k = 0; k < 3; k++)
        if (f.has[k]) {
            hash_add(h, el[k], n);
            *bytes += n;
        }
    return 0;
}

static void json_str(FILE *o, const char *s) {
    fputc('"', o);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(o, "\\%c", *s);
        else if ((unsigned char)*s < 32) fprintf(o, "\\u%04x", *s);
        else fputc(*s, o);
    }
    fputc('"', o);
}

int main(int argc, char **argv) {
    if (argc < 4 || (strcmp(argv[1], "sums") && strcmp(argv[1], "verify"))) {
        fprintf(stderr, "usage: soak_read sums URL OUT [-S k=v ...]\n"
                        "       soak_read verify URL SUMS [-S k=v ...] [--random N --seed S] [--rss FILE] [--cache-mb M]\n"
                        "                        [--readahead-mb M]\n");
        return 2;
    }
    bool verify = !strcmp(argv[1], "verify");
    const char *url = argv[2], *file = argv[3], *rssf = NULL;
    int64_t nrand = 0;
    unsigned long long seed = 1;
    size_t cache_mb = 100, ra_mb = 256;
    zt_options_t *so = NULL;
    zt_options_create(&so);
    for (int i = 4; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-S")) zt_options_set_kv(so, argv[i + 1]);
        else if (!strcmp(argv[i], "--random")) nrand = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--rss")) rssf = argv[i + 1];
        else if (!strcmp(argv[i], "--cache-mb")) cache_mb = (size_t)atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--readahead-mb")) ra_mb = (size_t)atoll(argv[i + 1]);
    }
    double t0 = now();
    zt_reader_opts_t o = ZT_READER_OPTS_DEFAULTS;
    o.storage = so;
    o.cache_bytes = cache_mb << 20;
    o.readahead_bytes = ra_mb << 20;
    ctx_t c = {0};
    int rc = zt_reader_open(url, &o, &c.r);
    if (rc) {
        fprintf(stderr, "soak_read: %s\n", zt_last_error());
        printf("{\"open_error\": ");
        json_str(stdout, zt_last_error());
        printf("}\n");
        return 2;
    }
    int64_t nf = zt_reader_n_frames(c.r);
    c.na = zt_reader_n_atoms(c.r);
    size_t n = (size_t)c.na * 3;
    c.pos = malloc(n * sizeof(float) + 4);
    c.vel = malloc(n * sizeof(float) + 4);
    c.frc = malloc(n * sizeof(float) + 4);
    if (!verify) {
        FILE *out = fopen(file, "w");
        if (!out) return 2;
        for (int64_t i = 0; i < nf; i++) {
            hash_t h;
            size_t b;
            if ((rc = frame_hash(&c, i, &h, &b))) {
                fprintf(stderr, "soak_read: frame %lld: %s\n", (long long)i, zt_last_error());
                return 2;
            }
            fprintf(out, "%lld %016llx%016llx %zu\n", (long long)i, (unsigned long long)h.a, (unsigned long long)h.b, b);
        }
        fclose(out);
        printf("{\"frames\": %lld, \"seconds\": %.2f}\n", (long long)nf, now() - t0);
        zt_reader_close(c.r);
        zt_options_free(so);
        return 0;
    }
    /* reference sums */
    FILE *in = fopen(file, "r");
    if (!in) return 2;
    char (*ref)[33] = calloc((size_t)(nf ? nf : 1), 33);
    if (!ref) return 2;
    long long idx;
    char hx[40];
    size_t rb;
    int64_t nref = 0;
    while (fscanf(in, "%lld %39s %zu", &idx, hx, &rb) == 3)
        if (idx >= 0 && idx < nf) {
            memcpy(ref[idx], hx, 32);
            nref++;
        }
    fclose(in);
    if (nref < nf) { /* a trajectory may hold the first frames of the reference */
        fprintf(stderr, "soak_read: %lld reference sums for %lld frames\n", (long long)nref, (long long)nf);
        return 2;
    }
    FILE *rs = rssf ? fopen(rssf, "w") : NULL;
    int64_t total = nrand > 0 ? nrand : nf, ok = 0, wrong = 0, errors = 0;
    unsigned long long bytes = 0, x = seed * 0x9E3779B97F4A7C15ull + 1;
    char msgs[5][512];
    int nmsg = 0;
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int64_t ns = 0;
    long rss0 = rss_bytes(), rssmax = rss0;
    for (int64_t k = 0; k < total; k++) {
        int64_t i = k;
        if (nrand > 0) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            i = (int64_t)(x % (unsigned long long)nf);
        }
        hash_t h;
        size_t b = 0;
        rc = frame_hash(&c, i, &h, &b);
        if (rc) {
            errors++;
            const char *m = zt_last_error();
            bool seen = false;
            for (int q = 0; q < nmsg; q++) seen |= !strcmp(msgs[q], m);
            if (!seen && nmsg < 5) snprintf(msgs[nmsg++], sizeof msgs[0], "frame %lld: %s", (long long)i, m);
            fprintf(stderr, "soak_read: frame %lld: %s\n", (long long)i, m);
            continue;
        }
        char got[33];
        snprintf(got, sizeof got, "%016llx%016llx", (unsigned long long)h.a, (unsigned long long)h.b);
        if (memcmp(got, ref[i], 32)) {
            wrong++;
            fprintf(stderr, "soak_read: frame %lld: WRONG BYTES (hash %s, expected %.32s)\n", (long long)i, got, ref[i]);
        } else {
            ok++;
        }
        bytes += b;
        if (rs && (k % 50 == 0 || k == total - 1)) {
            long r = rss_bytes();
            if (r > rssmax) rssmax = r;
            fprintf(rs, "%lld %.3f %ld\n", (long long)k, now() - t0, r);
            /* slope over the second half (after the cache has filled) */
            if (k >= total / 2) {
                double xv = (double)k, yv = (double)r;
                sx += xv;
                sy += yv;
                sxx += xv * xv;
                sxy += xv * yv;
                ns++;
            }
        }
    }
    if (rs) fclose(rs);
    zt_stats_t st;
    zt_reader_stats(c.r, &st);
    printf("{\"frames\": %lld, \"ok\": %lld, \"wrong\": %lld, \"errors\": %lld, \"bytes\": %llu, \"requests\": %llu, "
           "\"bytes_fetched\": %llu, \"seconds\": %.2f",
           (long long)total, (long long)ok, (long long)wrong, (long long)errors, bytes,
           (unsigned long long)st.requests, (unsigned long long)st.bytes_fetched, now() - t0);
    if (rssf) {
        double slope = ns > 1 && (ns * sxx - sx * sx) != 0 ? (ns * sxy - sx * sy) / (ns * sxx - sx * sx) : 0;
        printf(", \"rss_start\": %ld, \"rss_max\": %ld, \"rss_end\": %ld, \"rss_slope_bytes_per_1000_frames\": %.0f", rss0,
               rssmax, rss_bytes(), slope * 1000);
    }
    printf(", \"messages\": [");
    for (int q = 0; q < nmsg; q++) {
        if (q) printf(", ");
        json_str(stdout, msgs[q]);
    }
    printf("]}\n");
    zt_reader_close(c.r);
    zt_options_free(so);
    free(c.pos);
    free(c.vel);
    free(c.frc);
    free(ref);
    return wrong ? 1 : 0;
}
