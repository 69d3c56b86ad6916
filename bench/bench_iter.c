/* Iterate the frames of a trajectory (positions) with zarrtraj and report
 * frames/s and MB/s of decoded coordinates. Prints one JSON line so scripts
 * (bench/suite.py) can collect results.
 *
 *   bench_iter URL [MODE] [-S key=value ...] [--frames N] [--cache MiB]
 *              [--readahead MiB] [--threads N] [--batch K]
 *
 * MODE: seq (every frame), stride:N (every Nth frame), random:N (N random
 * frames, one zt_reader_read_frame each), batch:N (N random frames, K = 32
 * per zt_reader_read_frames call), ts:PCT (timeseries of PCT percent of the
 * atoms, evenly spread, over all frames in one zt_reader_timeseries call),
 * open (open and close only: the baseline for peak-RSS comparisons).
 * --frames N: seq/stride/ts only visit frames [0, N) (subsets for slow
 * links); random/batch draw from all frames.
 *
 * Times: open_s = zt_reader_open; first_frame_s = open + the first frame of
 * the mode (time to first frame); seconds = from the end of open to the end
 * of the loop (includes the first frame). MB_per_s counts decoded float32
 * coordinates delivered (for ts: only the selected atoms); fetched_MB_per_s
 * counts bytes received from the store. */
#include "zarrtraj.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') putchar('\\');
        putchar(*s);
    }
    putchar('"');
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_iter URL [seq|stride:N|random:N|batch:N|ts:PCT|open] [-S key=value ...] "
                        "[--frames N] [--cache MiB] [--readahead MiB] [--threads N] [--batch K]\n");
        return 2;
    }
    const char *url = argv[1], *mode = "seq";
    zt_options_t *so = NULL;
    zt_reader_opts_t o = ZT_READER_OPTS_DEFAULTS;
    long long limit = -1;
    int bk = 32;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool hasv = i + 1 < argc;
        if (!strcmp(a, "-S") && hasv) {
            if (!so) zt_options_create(&so);
            if (zt_options_set_kv(so, argv[++i])) {
                fprintf(stderr, "bench_iter: bad option %s\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--frames") && hasv) limit = atoll(argv[++i]);
        else if (!strcmp(a, "--cache") && hasv) o.cache_bytes = (size_t)(atof(argv[++i]) * 1048576.0);
        else if (!strcmp(a, "--readahead") && hasv) o.readahead_bytes = (size_t)(atof(argv[++i]) * 1048576.0);
        else if (!strcmp(a, "--threads") && hasv) o.threads = atoi(argv[++i]);
        else if (!strcmp(a, "--batch") && hasv) bk = atoi(argv[++i]);
        else if (a[0] != '-') mode = a;
        else {
            fprintf(stderr, "bench_iter: unknown argument %s\n", a);
            return 2;
        }
    }
    if (bk < 1) bk = 1;
    double t0 = now();
    o.storage = so;
    zt_reader_t *r = NULL;
    if (zt_reader_open(url, &o, &r)) {
        fprintf(stderr, "bench_iter: %s\n", zt_last_error());
        return 1;
    }
    int64_t nf = zt_reader_n_frames(r), na = zt_reader_n_atoms(r);
    int64_t nlim = limit > 0 && limit < nf ? limit : nf;
    double t1 = now();
    double t_open = t1 - t0, t_first = -1;
    float *buf = malloc(sizeof(float) * (size_t)na * 3 * (size_t)bk);
    if (!buf) {
        fprintf(stderr, "bench_iter: out of memory\n");
        return 1;
    }
    zt_frame_t f;
    int64_t frames = 0;
    double sum = 0, delivered = 0;
    int rc = 0;
    if (!strcmp(mode, "seq") || !strncmp(mode, "stride:", 7)) {
        int64_t s = !strcmp(mode, "seq") ? 1 : atoll(mode + 7);
        if (s < 1) s = 1;
        for (int64_t i = 0; i < nlim && !rc; i += s, frames++) {
            rc = zt_reader_read_frame(r, i, &f, buf, NULL, NULL);
            sum += buf[0];
            if (t_first < 0) t_first = now() - t0;
        }
        delivered = (double)frames * (double)na * 12;
    } else if (!strncmp(mode, "random:", 7) || !strncmp(mode, "batch:", 6)) {
        bool batch = mode[0] == 'b';
        int64_t n = atoll(strchr(mode, ':') + 1);
        uint64_t st = 12345;
        int64_t *idx = malloc(sizeof(int64_t) * (size_t)bk);
        for (int64_t i = 0; i < n && !rc;) {
            int k = batch ? (int)(n - i < bk ? n - i : bk) : 1;
            for (int j = 0; j < k; j++) {
                st = st * 6364136223846793005ull + 1442695040888963407ull;
                idx[j] = (int64_t)((st >> 33) % (uint64_t)nf);
            }
            if (batch) rc = zt_reader_read_frames(r, ZT_POSITION, idx, (size_t)k, buf, NULL);
            else rc = zt_reader_read_frame(r, idx[0], &f, buf, NULL, NULL);
            sum += buf[0];
            i += k;
            frames += k;
            if (t_first < 0) t_first = now() - t0;
        }
        free(idx);
        delivered = (double)frames * (double)na * 12;
    } else if (!strncmp(mode, "ts:", 3)) {
        double pct = atof(mode + 3);
        int64_t nsel = (int64_t)((double)na * pct / 100.0);
        if (nsel < 1) nsel = 1;
        int64_t *idx = malloc(sizeof(int64_t) * (size_t)nsel);
        for (int64_t j = 0; j < nsel; j++) idx[j] = j * (na / nsel);
        float *out = malloc(sizeof(float) * (size_t)(nsel * 3 * nlim));
        zt_atomsel_t sel = {idx, (size_t)nsel, 0, 0};
        rc = zt_reader_timeseries(r, ZT_POSITION, 0, nlim, 1, &sel, out);
        if (!rc) sum = out[0] + out[nsel * 3 * nlim - 1];
        frames = nlim;
        t_first = now() - t0;
        delivered = (double)frames * (double)nsel * 12;
        free(out);
        free(idx);
    } else if (!strcmp(mode, "open")) {
        t_first = t_open; /* open only: the process's baseline memory */
    } else {
        fprintf(stderr, "bench_iter: unknown mode %s\n", mode);
        return 2;
    }
    double dt = now() - t1;
    if (rc) {
        fprintf(stderr, "bench_iter: %s\n", zt_last_error());
        return 1;
    }
    zt_stats_t stt;
    zt_reader_stats(r, &stt);
    printf("{\"tool\": \"zarrtraj\", \"url\": ");
    json_str(url);
    printf(", \"format\": \"%s\", \"mode\": \"%s\", \"frames\": %lld, \"n_atoms\": %lld, \"seconds\": %.4f, "
           "\"frames_per_s\": %.2f, \"MB_per_s\": %.2f, \"fetched_MB_per_s\": %.2f, \"open_s\": %.4f, "
           "\"first_frame_s\": %.4f, \"requests\": %llu, \"bytes\": %llu, \"decodes\": %llu, "
           "\"cache_hits\": %llu, \"cache_mib\": %.1f, \"readahead_mib\": %.1f, \"check\": %.9g}\n",
           zt_reader_format(r), mode, (long long)frames, (long long)na, dt, frames > 0 ? (double)frames / dt : 0.0,
           frames > 0 ? delivered / 1e6 / dt : 0.0, frames > 0 ? (double)stt.bytes_fetched / 1e6 / dt : 0.0, t_open, t_first,
           (unsigned long long)stt.requests, (unsigned long long)stt.bytes_fetched,
           (unsigned long long)stt.chunks_decoded, (unsigned long long)stt.cache_hits,
           (double)o.cache_bytes / 1048576.0, (double)o.readahead_bytes / 1048576.0, sum);
    free(buf);
    zt_reader_close(r);
    zt_options_free(so);
    return 0;
}
