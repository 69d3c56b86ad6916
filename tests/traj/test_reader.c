/* Reader engine: timeseries, batched random access and the chunk cache agree
 * with frame-by-frame reads on files with awkward chunking (chunks split along
 * the atom and coordinate axes, partial edge chunks, mixed sampling), each
 * chunk is decoded once, a tiny cache budget still works, bad arguments fail. */
#include "testutil.h"

#include "store/store.h"

#include <string.h>
#include <unistd.h>

static int64_t frames_of(zt_reader_t *r, zt_element_t el, float **all) {
    int64_t nf = zt_reader_n_frames(r), na = zt_reader_n_atoms(r);
    *all = malloc(sizeof(float) * (size_t)(nf * na * 3 + 1));
    float *b = malloc(sizeof(float) * (size_t)(na * 3 + 1));
    for (int64_t f = 0; f < nf; f++) {
        zt_frame_t fr;
        float *bufs[3] = {NULL, NULL, NULL};
        bufs[el] = b;
        CHECK_OK(zt_reader_read_frame(r, f, &fr, bufs[0], bufs[1], bufs[2]));
        for (int64_t i = 0; i < na * 3; i++) (*all)[f * na * 3 + i] = fr.has[el] ? b[i] : NAN;
    }
    free(b);
    return nf;
}

static bool same(float a, float b) { return (isnan(a) && isnan(b)) || a == b; }

static void check_file(const char *rel, const char *group, zt_element_t el, size_t cache) {
    char *path = zt_test_data(rel);
    zt_reader_opts_t o = ZT_READER_OPTS_DEFAULTS;
    o.group = group;
    o.cache_bytes = cache;
    zt_reader_t *r = NULL;
    CHECK_OK(zt_reader_open(path, &o, &r));
    if (!r) {
        free(path);
        return;
    }
    int64_t na = zt_reader_n_atoms(r);
    float *ref = NULL;
    int64_t nf = frames_of(r, el, &ref);
    /* index selection in odd order with repeats, several strides */
    int64_t idx[7] = {na - 1, 0, na / 2, 3 % na, na - 1, na / 3, 1 % na};
    zt_atomsel_t sel = {idx, 7, 0, 0};
    for (int64_t stride = 1; stride <= 3; stride++) {
        for (int64_t start = 0; start < 2 && start < nf; start++) {
            int64_t n = zt_frame_range_count(start, nf, stride);
            float *ts = malloc(sizeof(float) * (size_t)(n * 7 * 3 + 1));
            CHECK_OK(zt_reader_timeseries(r, el, start, nf, stride, &sel, ts));
            int bad = 0;
            for (int64_t k = 0; k < n; k++)
                for (int j = 0; j < 7; j++)
                    for (int d = 0; d < 3; d++)
                        if (!same(ts[(k * 7 + j) * 3 + d], ref[((start + k * stride) * na + idx[j]) * 3 + d])) bad++;
            CHECK_EQ_INT(bad, 0);
            free(ts);
        }
    }
    /* range selection */
    int64_t a0 = na > 4 ? 2 : 0, a1 = na > 4 ? na - 1 : na;
    zt_atomsel_t rs = {NULL, 0, a0, a1};
    float *ts = malloc(sizeof(float) * (size_t)(nf * (a1 - a0) * 3 + 1));
    CHECK_OK(zt_reader_timeseries(r, el, 0, nf, 1, &rs, ts));
    int bad = 0;
    for (int64_t f = 0; f < nf; f++)
        for (int64_t a = a0; a < a1; a++)
            for (int d = 0; d < 3; d++)
                if (!same(ts[(f * (a1 - a0) + a - a0) * 3 + d], ref[(f * na + a) * 3 + d])) bad++;
    CHECK_EQ_INT(bad, 0);
    free(ts);
    /* batched random access: reversed and repeated frames */
    int64_t fl[6] = {nf - 1, 0, nf / 2, nf - 1, 1 % nf, 0};
    float *bt = malloc(sizeof(float) * (size_t)(6 * na * 3 + 1));
    zt_frame_t info[6];
    CHECK_OK(zt_reader_read_frames(r, el, fl, 6, bt, info));
    bad = 0;
    for (int k = 0; k < 6; k++) {
        CHECK_EQ_INT(info[k].index, fl[k]);
        /* the batch's metadata (boxes fetched together) is the frame's own */
        zt_frame_t one;
        CHECK_OK(zt_reader_read_frame(r, fl[k], &one, NULL, NULL, NULL));
        CHECK_EQ_INT(info[k].step, one.step);
        CHECK(same((float)info[k].time, (float)one.time) && info[k].has_time == one.has_time);
        CHECK(!memcmp(info[k].has, one.has, sizeof one.has) && !memcmp(info[k].box, one.box, sizeof one.box));
        for (int64_t i = 0; i < na * 3; i++)
            if (!same(bt[k * na * 3 + i], ref[fl[k] * na * 3 + i])) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    free(bt);
    /* bad arguments */
    CHECK_RC(zt_reader_timeseries(r, el, 0, nf + 1, 1, NULL, ref), ZT_ERANGE);
    CHECK_RC(zt_reader_timeseries(r, el, 0, nf, 0, NULL, ref), ZT_EINVAL);
    int64_t badidx[1] = {na};
    zt_atomsel_t bs = {badidx, 1, 0, 0};
    CHECK_RC(zt_reader_timeseries(r, el, 0, nf, 1, &bs, ref), ZT_ERANGE);
    CHECK_RC(zt_reader_read_frame(r, nf, NULL, NULL, NULL, NULL), ZT_ERANGE);
    CHECK_RC(zt_reader_read_frame(r, -1, NULL, NULL, NULL, NULL), ZT_ERANGE);
    int64_t badf[1] = {nf};
    CHECK_RC(zt_reader_read_frames(r, el, badf, 1, ref, NULL), ZT_ERANGE);
    free(ref);
    zt_reader_close(r);
    free(path);
}

static void mput(const char *key, const void *d, size_t n) {
    zt_store *s = NULL;
    CHECK_OK(zt__store_open("memory://reader-tiny", NULL, &s));
    if (s) CHECK_OK(zt__store_put(s, key, d, n));
    zt__store_close(s);
}

/* 2^20 frames of 2 atoms, one frame per chunk and almost no chunk written
 * (fill value 7.5; frame 1000 written): every read is linear in the frames.
 * A round of many small chunks used to be copied from every chunk of the
 * round for every frame, and read-ahead rescanned its whole window at every
 * frame: 16,384 frames took seconds, 2^20 never finished. */
static void test_tiny_chunks(void) {
    const int64_t nf = (int64_t)1 << 20;
    const char *t = "{\"zarr_format\": 2}";
    mput(".zgroup", t, strlen(t));
    mput("h5md/.zgroup", t, strlen(t));
    mput("h5md/.zattrs", "{\"version\": [1, 1]}", 19);
    mput("particles/.zgroup", t, strlen(t));
    mput("particles/g/.zgroup", t, strlen(t));
    mput("particles/g/box/.zgroup", t, strlen(t));
    const char *box = "{\"dimension\": 3, \"boundary\": [\"none\", \"none\", \"none\"]}";
    mput("particles/g/box/.zattrs", box, strlen(box));
    mput("particles/g/position/.zgroup", t, strlen(t));
    char doc[300];
    int l = snprintf(doc, sizeof doc, "{\"zarr_format\": 2, \"shape\": [%lld, 2, 3], \"chunks\": [1, 2, 3], "
                     "\"dtype\": \"<f4\", \"fill_value\": 7.5, \"compressor\": null, \"filters\": null}", (long long)nf);
    mput("particles/g/position/value/.zarray", doc, (size_t)l);
    float row[6] = {1, 2, 3, 4, 5, 6};
    mput("particles/g/position/value/1000.0.0", row, sizeof row);
    const char *z0 = "{\"zarr_format\": 2, \"shape\": [], \"chunks\": [], \"dtype\": \"<i8\", \"fill_value\": null, "
                     "\"compressor\": null, \"filters\": null}";
    mput("particles/g/position/step/.zarray", z0, strlen(z0));
    int64_t inc = 2;
    mput("particles/g/position/step/0", &inc, 8);
    alarm(300); /* a hang guard, not a time limit: all of this takes a few seconds */
    zt_reader_t *r = NULL;
    CHECK_OK(zt_reader_open("memory://reader-tiny", NULL, &r));
    if (!r) return;
    CHECK_EQ_INT(zt_reader_n_frames(r), nf);
    float *all = malloc((size_t)nf * 6 * sizeof *all);
    CHECK_OK(zt_reader_timeseries(r, ZT_POSITION, 0, nf, 1, NULL, all));
    int64_t bad = 0;
    for (int64_t i = 0; i < nf * 6; i++) bad += all[i] != (i / 6 == 1000 ? row[i % 6] : 7.5f);
    CHECK_EQ_INT(bad, 0);
    /* a batch of every frame, in reverse (no read-ahead pattern) */
    int64_t *fr = malloc((size_t)nf * sizeof *fr);
    for (int64_t i = 0; i < nf; i++) fr[i] = nf - 1 - i;
    CHECK_OK(zt_reader_read_frames(r, ZT_POSITION, fr, (size_t)nf, all, NULL));
    bad = 0;
    for (int64_t i = 0; i < nf * 6; i++) bad += all[i] != (nf - 1 - i / 6 == 1000 ? row[i % 6] : 7.5f);
    CHECK_EQ_INT(bad, 0);
    /* frame by frame in order: read-ahead at work */
    bad = 0;
    for (int64_t i = 0; i < nf; i++) {
        float p[6];
        zt_frame_t f;
        if (zt_reader_read_frame(r, i, &f, p, NULL, NULL) || f.step != 2 * i || p[5] != (i == 1000 ? 6.0f : 7.5f)) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    alarm(0);
    free(fr);
    free(all);
    zt_reader_close(r);
}

int main(void) {
    char *probe = zt_test_data("expected.json");
    FILE *f = fopen(probe, "r");
    free(probe);
    if (!f) {
        fprintf(stderr, "shared data not found (ZT_DATA_DIR)\n");
        return 77;
    }
    fclose(f);
    /* Zarr: huge chunks larger than the array, mixed sampling (NaN frames) */
    check_file("generated/zarrtraj_lammps_arkr_mixed_sampling.zarrmd", NULL, ZT_VELOCITY, 100 << 20);
    check_file("generated/zarrtraj_lammps_arkr_mixed_sampling.zarrmd", NULL, ZT_FORCE, 1 << 10);
    check_file("negative/missing_chunk_is_fill_value.zarrmd", NULL, ZT_POSITION, 100 << 20);
#ifdef ZT_HAVE_HDF5
    /* HDF5: chunks split along atoms (2,490,3) + gzip; (128,25,1) chunks; partial edges */
    check_file("generated/mda242_gromacs_protein_gzip_atomchunks.h5md", NULL, ZT_POSITION, 100 << 20);
    check_file("generated/mda242_gromacs_protein_gzip_atomchunks.h5md", NULL, ZT_POSITION, 1); /* cache smaller than a chunk */
    check_file("generated/pyh5md_lammps_arkr_two_groups.h5", "krypton", ZT_VELOCITY, 100 << 20);
    check_file("mdanalysis/cu.h5md", NULL, ZT_FORCE, 100 << 20);
    check_file("generated/mda242_lammps_arkr_xvf_obs_gzip.h5md", NULL, ZT_FORCE, 100 << 20);
#endif
    /* Iterating the frames of one chunk decodes it once. */
    char *dir = zt_test_tmpdir("reader");
    char url[1024];
    snprintf(url, sizeof url, "%s/t.zarrmd", dir);
    zt_writer_opts_t wo = ZT_WRITER_OPTS_DEFAULTS;
    wo.chunk_bytes = 10 * 1000 * 12; /* 10 frames per chunk */
    zt_writer_t *w = NULL;
    CHECK_OK(zt_writer_create(url, 1000, &wo, &w));
    float *p = calloc(3000, sizeof(float));
    for (int64_t i = 0; i < 95 && w; i++) {
        p[0] = (float)i;
        zt_wframe_t wf = {i, (double)i, p, NULL, NULL, NULL, NULL, 0};
        CHECK_OK(zt_writer_write_frame(w, &wf));
    }
    CHECK_OK(zt_writer_close(w));
    zt_reader_opts_t ro = ZT_READER_OPTS_DEFAULTS;
    ro.readahead_bytes = 0;
    zt_reader_t *r = NULL;
    CHECK_OK(zt_reader_open(url, &ro, &r));
    for (int64_t i = 0; r && i < 95; i++) {
        CHECK_OK(zt_reader_read_frame(r, i, NULL, p, NULL, NULL));
        CHECK(p[0] == (float)i);
    }
    zt_stats_t st;
    zt_reader_stats(r, &st);
    CHECK_EQ_INT(st.chunks_decoded, 10);
    CHECK_EQ_INT(st.cache_misses, 10);
    CHECK_EQ_INT(st.cache_hits, 85);
    zt_reader_close(r);
    /* A cache budget smaller than a chunk still keeps the current one:
     * each chunk is fetched and decoded once, not once per frame. */
    ro.cache_bytes = 1;
    r = NULL;
    CHECK_OK(zt_reader_open(url, &ro, &r));
    for (int64_t i = 0; r && i < 95; i++) {
        CHECK_OK(zt_reader_read_frame(r, i, NULL, p, NULL, NULL));
        CHECK(p[0] == (float)i);
    }
    zt_reader_stats(r, &st);
    CHECK_EQ_INT(st.chunks_decoded, 10);
    zt_reader_close(r);
    free(p);
    free(dir);
    test_tiny_chunks();
    TEST_DONE();
}
