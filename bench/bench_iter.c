/* Iterate every frame of a trajectory (positions) and report frames/s and
 * MB/s of decoded coordinates. Modes: seq (every frame), stride:N, random:N
 * (N random frames), batch:N (N random frames in batches of 32), ts:PCT
 * (timeseries of PCT percent of the atoms over all frames). Prints one JSON
 * line so scripts can collect results. */
#include "zarrtraj.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_iter URL [seq|stride:N|random:N|batch:N|ts:PCT] [-S key=value ...]\n");
        return 2;
    }
    const char *mode = argc > 2 && argv[2][0] != '-' ? argv[2] : "seq";
    zt_options_t *so = NULL;
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "-S") && i + 1 < argc) {
            if (!so) zt_options_create(&so);
            zt_options_set_kv(so, argv[++i]);
        }
    double t0 = now();
    zt_reader_opts_t o = ZT_READER_OPTS_DEFAULTS;
    o.storage = so;
    zt_reader_t *r = NULL;
    if (zt_reader_open(argv[1], &o, &r)) {
        fprintf(stderr, "bench_iter: %s\n", zt_last_error());
        return 1;
    }
    int64_t nf = zt_reader_n_frames(r), na = zt_reader_n_atoms(r);
    float *buf = malloc(sizeof(float) * (size_t)na * 3 * 32);
    zt_frame_t f;
    double t_open = now() - t0;
    double t1 = now();
    int rc = zt_reader_read_frame(r, 0, &f, buf, NULL, NULL);
    double t_first = now() - t0;
    int64_t frames = 0;
    double sum = 0;
    t1 = now();
    if (!strcmp(mode, "seq") || !strncmp(mode, "stride:", 7)) {
        int64_t s = !strcmp(mode, "seq") ? 1 : atoll(mode + 7);
        for (int64_t i = 0; i < nf && !rc; i += s, frames++) {
            rc = zt_reader_read_frame(r, i, &f, buf, NULL, NULL);
            sum += buf[0];
        }
    } else if (!strncmp(mode, "random:", 7) || !strncmp(mode, "batch:", 6)) {
        bool batch = mode[0] == 'b';
        int64_t n = atoll(strchr(mode, ':') + 1);
        uint64_t st = 12345;
        int64_t idx[32];
        for (int64_t i = 0; i < n && !rc;) {
            int k = batch ? 32 : 1;
            for (int j = 0; j < k; j++) {
                st = st * 6364136223846793005ull + 1442695040888963407ull;
                idx[j] = (int64_t)((st >> 33) % (uint64_t)nf);
            }
            if (batch) rc = zt_reader_read_frames(r, ZT_POSITION, idx, (size_t)k, buf, NULL);
            else rc = zt_reader_read_frame(r, idx[0], &f, buf, NULL, NULL);
            sum += buf[0];
            i += k;
            frames += k;
        }
    } else if (!strncmp(mode, "ts:", 3)) {
        double pct = atof(mode + 3);
        int64_t nsel = (int64_t)((double)na * pct / 100.0);
        if (nsel < 1) nsel = 1;
        int64_t *idx = malloc(sizeof(int64_t) * (size_t)nsel);
        for (int64_t j = 0; j < nsel; j++) idx[j] = j * (na / nsel);
        float *out = malloc(sizeof(float) * (size_t)(nsel * 3 * nf));
        zt_atomsel_t sel = {idx, (size_t)nsel, 0, 0};
        rc = zt_reader_timeseries(r, ZT_POSITION, 0, nf, 1, &sel, out);
        sum = out[0];
        frames = nf;
        free(out);
        free(idx);
    }
    double dt = now() - t1;
    if (rc) {
        fprintf(stderr, "bench_iter: %s\n", zt_last_error());
        return 1;
    }
    zt_stats_t stt;
    zt_reader_stats(r, &stt);
    double mb = (double)frames * (double)na * 12 / 1e6;
    printf("{\"url\": \"%s\", \"mode\": \"%s\", \"frames\": %lld, \"seconds\": %.4f, \"frames_per_s\": %.1f, "
           "\"MB_per_s\": %.1f, \"open_s\": %.4f, \"first_frame_s\": %.4f, \"requests\": %llu, \"bytes\": %llu, "
           "\"decodes\": %llu, \"check\": %g}\n",
           argv[1], mode, (long long)frames, dt, (double)frames / dt, mb / dt, t_open, t_first,
           (unsigned long long)stt.requests, (unsigned long long)stt.bytes_fetched,
           (unsigned long long)stt.chunks_decoded, sum);
    free(buf);
    zt_reader_close(r);
    zt_options_free(so);
    return 0;
}
