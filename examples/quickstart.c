/* The C API quick start of the README, as a program:
 *   quickstart IN.zarrmd|IN.h5md|URL OUT.zarrmd
 * reads every frame of IN, prints a summary, takes a timeseries of the first
 * 100 atoms of every 10th frame, and writes the frames to OUT with zstd and 3
 * decimal digits of precision. Build: cc quickstart.c $(pkg-config --cflags --libs zarrtraj) */
#include <zarrtraj.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s IN OUT\n", argv[0]);
        return 2;
    }
    zt_reader_opts_t o = ZT_READER_OPTS_DEFAULTS; /* group, cache_bytes, storage, convert_units */
    zt_reader_t *r;
    if (zt_reader_open(argv[1], &o, &r) != 0) {
        fprintf(stderr, "%s\n", zt_last_error()); /* names the file, the array and the cause */
        return 1;
    }
    int64_t n = zt_reader_n_atoms(r), nf = zt_reader_n_frames(r);
    float *xyz = malloc(sizeof(float) * 3 * (size_t)n);

    zt_writer_opts_t wo = ZT_WRITER_OPTS_DEFAULTS; /* n_frames, precision, compressor, chunk_bytes, units */
    wo.n_frames = nf;
    wo.precision = 3;
    wo.compressor = "zstd:level=3";
    zt_writer_t *w;
    if (zt_writer_create(argv[2], n, &wo, &w) != 0) {
        fprintf(stderr, "%s\n", zt_last_error());
        return 1;
    }
    double sum = 0;
    for (int64_t i = 0; i < nf; i++) {
        zt_frame_t f; /* step, time, has[], box[3][3], dimensions[6] */
        if (zt_reader_read_frame(r, i, &f, xyz, NULL, NULL) != 0) {
            fprintf(stderr, "%s\n", zt_last_error());
            return 1;
        }
        if (!f.has[ZT_POSITION]) continue;
        sum += xyz[0];
        double box[9];
        for (int k = 0; k < 9; k++) box[k] = f.box[k / 3][k % 3];
        zt_wframe_t wf = {.step = f.step, .time = f.has_time ? f.time : NAN, .position = xyz,
                          .box = f.has[ZT_BOX] ? box : NULL};
        if (zt_writer_write_frame(w, &wf) != 0) {
            fprintf(stderr, "%s\n", zt_last_error());
            return 1;
        }
    }
    if (zt_writer_close(w) != 0) { /* flushes, trims shapes, writes .zmetadata */
        fprintf(stderr, "%s\n", zt_last_error());
        return 1;
    }
    /* atoms 0..99 of every 10th frame in one call, each chunk fetched and decoded once */
    int64_t na = n < 100 ? n : 100, nts = zt_frame_range_count(0, nf, 10);
    zt_atomsel_t sel = {NULL, 0, 0, na};
    float *ts = malloc(sizeof(float) * 3 * (size_t)(na * nts + 1));
    if (zt_reader_timeseries(r, ZT_POSITION, 0, nf, 10, &sel, ts) != 0) {
        fprintf(stderr, "%s\n", zt_last_error());
        return 1;
    }
    printf("%lld atoms, %lld frames, sum of x[0] over frames %.6g, timeseries x[0] of frame 0 %.6g\n",
           (long long)n, (long long)nf, sum, nts ? ts[0] : 0.0);
    free(ts);
    free(xyz);
    zt_reader_close(r);
    return 0;
}
