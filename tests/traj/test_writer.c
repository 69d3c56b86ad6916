/* Writer round trips through our reader: lossless values, mixed sampling,
 * observables, missing time, chunking edge cases, precision bound, bad
 * arguments, overwrite rules, and a writer killed mid-run. */
#include "testutil.h"

#include <jansson.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static float val(int64_t f, int64_t a, int d, int el) {
    return (float)(sin(0.37 * (double)f + 0.11 * (double)a + d) * 10.0 + el * 100.0 + 0.001 * (double)(a % 97));
}

typedef struct {
    int64_t n_atoms, n_frames;
    int vel_every, force_every, box_every, obs_every;
    bool no_time;
} spec_t;

static int write_traj(const char *url, const spec_t *s, const zt_writer_opts_t *wo) {
    zt_writer_t *w = NULL;
    int rc = zt_writer_create(url, s->n_atoms, wo, &w);
    if (rc) return rc;
    size_t n3 = (size_t)s->n_atoms * 3;
    float *p = malloc(n3 * 4), *v = malloc(n3 * 4), *fo = malloc(n3 * 4);
    for (int64_t f = 0; f < s->n_frames && !rc; f++) {
        for (int64_t a = 0; a < s->n_atoms; a++)
            for (int d = 0; d < 3; d++) {
                p[a * 3 + d] = val(f, a, d, 0);
                v[a * 3 + d] = val(f, a, d, 1);
                fo[a * 3 + d] = val(f, a, d, 2);
            }
        double box[9] = {10 + 0.1 * (double)f, 0, 0, 1, 11, 0, 0.5, 0.25, 12};
        double temp = 300 + (double)f, vec[3] = {(double)f, 2.0 * (double)f, -1};
        zt_obs_t obs[2] = {{"temperature", &temp, 1}, {"com", vec, 3}};
        zt_wframe_t wf = {f * 10, s->no_time ? NAN : 0.5 * (double)f, p,
                          s->vel_every && f % s->vel_every == 0 ? v : NULL,
                          s->force_every && f % s->force_every == 0 ? fo : NULL,
                          s->box_every && f % s->box_every == 0 ? box : NULL, obs,
                          s->obs_every && f % s->obs_every == 0 ? 2 : 0};
        rc = zt_writer_write_frame(w, &wf);
    }
    free(p);
    free(v);
    free(fo);
    int crc = zt_writer_close(w);
    return rc ? rc : crc;
}

/* Read back and compare; tol = 0 means exact. Returns number of frames read. */
static int64_t check_traj(const char *url, const spec_t *s, double tol, int64_t expect_frames) {
    zt_reader_t *r = NULL;
    int rc = zt_reader_open(url, NULL, &r);
    CHECK_OK(rc);
    if (rc) return -1;
    CHECK_EQ_INT(zt_reader_n_atoms(r), s->n_atoms);
    CHECK_EQ_INT(zt_reader_n_frames(r), expect_frames);
    size_t n3 = (size_t)s->n_atoms * 3;
    float *b[3];
    for (int k = 0; k < 3; k++) b[k] = malloc(n3 * 4 + 4);
    double maxerr = 0;
    int64_t nf = zt_reader_n_frames(r);
    for (int64_t f = 0; f < nf; f++) {
        zt_frame_t fr;
        CHECK_OK(zt_reader_read_frame(r, f, &fr, b[0], b[1], b[2]));
        CHECK_EQ_INT(fr.step, f * 10);
        if (s->no_time) CHECK(!fr.has_time);
        else CHECK_CLOSE(fr.time, 0.5 * (double)f, 0);
        CHECK_EQ_INT(fr.has[1], s->vel_every && f % s->vel_every == 0);
        CHECK_EQ_INT(fr.has[2], s->force_every && f % s->force_every == 0);
        for (int k = 0; k < 3; k++) {
            if (!fr.has[k]) continue;
            for (int64_t a = 0; a < s->n_atoms; a++)
                for (int d = 0; d < 3; d++) {
                    double e = fabs((double)b[k][a * 3 + d] - (double)val(f, a, d, k));
                    if (e > maxerr) maxerr = e;
                }
        }
        if (s->box_every && f % s->box_every == 0) {
            CHECK(fr.has[ZT_BOX]);
            /* the box is quantized like the coordinates */
            double bt = tol > 0 ? tol : 1e-6;
            CHECK(fabs(fr.box[0][0] - (10 + 0.1 * (double)f)) <= bt);
            CHECK(fabs(fr.box[1][0] - 1) <= bt);
            CHECK(fabs(fr.box[2][1] - 0.25) <= bt);
        }
        if (s->obs_every) {
            size_t ti = 0, ci = 0;
            CHECK_OK(zt_reader_data_find(r, "trajectory/temperature", &ti));
            CHECK_OK(zt_reader_data_find(r, "trajectory/com", &ci));
            double t = 0, c[3] = {0};
            int rt = zt_reader_read_data(r, ti, f, &t), rcm = zt_reader_read_data(r, ci, f, c);
            if (f % s->obs_every == 0) {
                CHECK_OK(rt);
                CHECK_OK(rcm);
                CHECK_CLOSE(t, 300 + (double)f, 0);
                CHECK_CLOSE(c[1], 2.0 * (double)f, 0);
            } else {
                CHECK_RC(rt, ZT_ENODATA);
            }
        }
    }
    if (tol == 0) CHECK(maxerr == 0);
    else {
        if (!(maxerr <= tol)) fprintf(stderr, "max error %g > %g\n", maxerr, tol);
        CHECK(maxerr <= tol);
        CHECK(maxerr > 0); /* quantization really happened */
    }
    for (int k = 0; k < 3; k++) free(b[k]);
    zt_reader_close(r);
    return nf;
}

int main(void) {
    char *dir = zt_test_tmpdir("writer");
    char url[1024];
    /* 1. lossless, several chunks with a partial last one, mixed sampling */
    spec_t s1 = {37, 23, 2, 3, 1, 2, false};
    zt_writer_opts_t wo = ZT_WRITER_OPTS_DEFAULTS;
    wo.chunk_bytes = 37 * 12 * 4; /* 4 frames per chunk */
    snprintf(url, sizeof url, "%s/a.zarrmd", dir);
    CHECK_OK(write_traj(url, &s1, &wo));
    check_traj(url, &s1, 0, 23);
    /* chunk geometry as documented: frames per chunk = target / bytes per frame */
    zt_reader_t *r = NULL;
    CHECK_OK(zt_reader_open(url, NULL, &r));
    zt_array_info_t ai;
    CHECK_OK(zt_reader_array_info(r, ZT_POSITION, &ai));
    CHECK_EQ_INT(ai.chunks[0], 4);
    CHECK_EQ_INT(ai.shape[0], 23);
    CHECK(strstr(ai.codecs, "\"lz4\"") != NULL); /* default Blosc lz4 */
    CHECK(!strcmp(ai.unit, "Angstrom"));
    CHECK(!strcmp(zt_reader_time_unit(r), "ps"));
    zt_reader_close(r);

    /* 2. every compressor, lossless; n_frames hint caps the chunk */
    const char *comps[] = {"none", "zstd:level=3", "zlib", "gzip:level=6", "lz4", "bz2",
                           "blosc:cname=zstd,clevel=3,shuffle=2", "{\"id\": \"blosc\", \"cname\": \"blosclz\", \"clevel\": 4, \"shuffle\": 0}"};
    spec_t s2 = {50, 9, 1, 0, 1, 1, false};
    for (size_t i = 0; i < sizeof comps / sizeof *comps; i++) {
        zt_writer_opts_t o = ZT_WRITER_OPTS_DEFAULTS;
        o.compressor = comps[i];
        o.n_frames = 9;
        snprintf(url, sizeof url, "memory://writer-comp-%zu", i);
        CHECK_OK(write_traj(url, &s2, &o));
        check_traj(url, &s2, 0, 9);
    }

    /* 3. precision: error within numcodecs' bound 0.5 * 10^-digits */
    for (int digits = 0; digits <= 4; digits += 2) {
        zt_writer_opts_t o = ZT_WRITER_OPTS_DEFAULTS;
        o.precision = digits;
        o.compressor = "zstd";
        snprintf(url, sizeof url, "%s/p%d.zarrmd", dir, digits);
        CHECK_OK(write_traj(url, &s2, &o));
        check_traj(url, &s2, 0.5 * pow(10, -digits) + 1e-5, 9);
    }

    /* 4. no time anywhere */
    spec_t s4 = {5, 4, 0, 0, 0, 0, true};
    snprintf(url, sizeof url, "memory://writer-notime");
    CHECK_OK(write_traj(url, &s4, NULL));
    check_traj(url, &s4, 0, 4);

    /* 5. bad arguments and existing output */
    zt_writer_t *w = NULL;
    zt_writer_opts_t bad = ZT_WRITER_OPTS_DEFAULTS;
    bad.precision = -2;
    CHECK_RC(zt_writer_create("memory://bad1", 3, &bad, &w), ZT_EINVAL);
    bad = (zt_writer_opts_t)ZT_WRITER_OPTS_DEFAULTS;
    bad.compressor = "foo:level=1";
    CHECK_RC(zt_writer_create("memory://bad2", 3, &bad, &w), ZT_EUNSUPPORTED);
    CHECK(strstr(zt_last_error(), "foo") != NULL);
    snprintf(url, sizeof url, "%s/a.zarrmd", dir);
    CHECK_RC(zt_writer_create(url, 3, NULL, &w), ZT_EEXIST);
    wo = (zt_writer_opts_t)ZT_WRITER_OPTS_DEFAULTS;
    wo.overwrite = 1;
    CHECK_OK(write_traj(url, &s2, &wo));
    check_traj(url, &s2, 0, 9);
    /* decreasing steps are refused; the writer then refuses more frames */
    CHECK_OK(zt_writer_create("memory://bad3", 2, NULL, &w));
    float p6[6] = {0};
    zt_wframe_t f1 = {10, 0, p6, NULL, NULL, NULL, NULL, 0}, f0 = {5, 0, p6, NULL, NULL, NULL, NULL, 0};
    CHECK_OK(zt_writer_write_frame(w, &f1));
    CHECK_RC(zt_writer_write_frame(w, &f0), ZT_EINVAL);
    CHECK_RC(zt_writer_write_frame(w, &f1), ZT_ESTATE);
    zt_writer_close(w);
    CHECK_OK(zt_writer_close(NULL));

    /* 6. killed writer: a child writes 3 full chunks + part of a 4th and dies
     * without closing; every flushed frame must be readable. */
    snprintf(url, sizeof url, "%s/killed.zarrmd", dir);
    spec_t s6 = {100, 14, 1, 0, 1, 1, false};
    pid_t pid = fork();
    if (pid == 0) {
        zt_writer_opts_t o = ZT_WRITER_OPTS_DEFAULTS;
        o.chunk_bytes = 100 * 12 * 4; /* 4 frames per chunk */
        zt_writer_t *cw = NULL;
        if (zt_writer_create(url, 100, &o, &cw)) _exit(3);
        float *p = malloc(1200 * 4), *v = malloc(1200 * 4);
        for (int64_t f = 0; f < 14; f++) {
            for (int64_t a = 0; a < 100; a++)
                for (int d = 0; d < 3; d++) {
                    p[a * 3 + d] = val(f, a, d, 0);
                    v[a * 3 + d] = val(f, a, d, 1);
                }
            double box[9] = {10 + 0.1 * (double)f, 0, 0, 1, 11, 0, 0.5, 0.25, 12};
            double temp = 300 + (double)f, vec[3] = {(double)f, 2.0 * (double)f, -1};
            zt_obs_t obs[2] = {{"temperature", &temp, 1}, {"com", vec, 3}};
            zt_wframe_t wf = {f * 10, 0.5 * (double)f, p, v, NULL, box, obs, 2};
            if (zt_writer_write_frame(cw, &wf)) _exit(4);
        }
        _exit(0); /* no close: as if killed */
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    check_traj(url, &s6, 0, 12);

    /* 7. a particle group name of 600 bytes: chunk keys longer than any fixed
     * buffer (they once were cut at 511 bytes, so that position, velocity and
     * box chunks all shared one key) */
    char longg[601];
    for (int i = 0; i < 600; i++) longg[i] = (char)('a' + i % 26);
    longg[600] = 0;
    spec_t s7 = {20, 6, 1, 2, 1, 0, false};
    zt_writer_opts_t o7 = ZT_WRITER_OPTS_DEFAULTS;
    o7.group = longg;
    o7.chunk_bytes = 20 * 12 * 4 * 2; /* 2 frames per chunk */
    CHECK_OK(write_traj("memory://writer-long-group", &s7, &o7));
    check_traj("memory://writer-long-group", &s7, 0, 6);

    /* 8. a writer killed between its step/time and its value updates (it
     * grows step and time first) leaves trailing steps: they are ignored;
     * fewer steps than value rows stay an error. */
    char zm[1100];
    snprintf(zm, sizeof zm, "%s/.zmetadata", url);
    const int64_t deltas[2] = {2, -3}; /* 14 steps for 12 rows, then 11 */
    for (int q = 0; q < 2; q++) {
        int64_t extra = deltas[q];
        json_error_t je;
        json_t *j = json_load_file(zm, 0, &je);
        CHECK(j != NULL);
        json_t *md = json_object_get(j, "metadata");
        const char *ax[] = {"particles/trajectory/position/step/.zarray", "particles/trajectory/position/time/.zarray"};
        for (int k = 0; k < 2; k++) {
            json_t *shape = json_object_get(json_object_get(md, ax[k]), "shape");
            json_array_set_new(shape, 0, json_integer(json_integer_value(json_array_get(shape, 0)) + extra));
        }
        CHECK(json_dump_file(j, zm, 0) == 0);
        json_decref(j);
        if (extra > 0) {
            check_traj(url, &s6, 0, 12);
        } else {
            zt_reader_t *rr = NULL;
            CHECK_RC(zt_reader_open(url, NULL, &rr), ZT_EMISMATCH); /* 11 steps for 12 rows */
            zt_reader_close(rr);
        }
    }
    /* 9. zt_glob over the stores that list: memory:// and a local directory */
    {
        spec_t s9 = {10, 3, 0, 0, 0, 0, false};
        const char *mem[] = {"memory://globw/runs/b.zarrmd", "memory://globw/runs/a.zarrmd",
                             "memory://globw/runs/.hidden.zarrmd", "memory://globw/other/c.zarrmd"};
        for (int k = 0; k < 4; k++) CHECK_OK(write_traj(mem[k], &s9, NULL));
        char **u = NULL;
        size_t n = 0;
        CHECK_OK(zt_glob("memory://globw/runs/*.zarrmd", NULL, &u, &n));
        CHECK_EQ_INT(n, 2); /* sorted, hidden names skipped */
        if (n == 2) {
            CHECK(strcmp(u[0], "memory://globw/runs/a.zarrmd") == 0);
            CHECK(strcmp(u[1], "memory://globw/runs/b.zarrmd") == 0);
            check_traj(u[0], &s9, 0, 3);
        }
        zt_free_strings(u, n);
        CHECK_OK(zt_glob("memory://globw/*/[bc].zarrmd", NULL, &u, &n));
        CHECK_EQ_INT(n, 2);
        if (n == 2) {
            CHECK(strcmp(u[0], "memory://globw/other/c.zarrmd") == 0);
            CHECK(strcmp(u[1], "memory://globw/runs/b.zarrmd") == 0);
        }
        zt_free_strings(u, n);
        CHECK_OK(zt_glob("memory://globw/runs/*.xtc", NULL, &u, &n));
        CHECK_EQ_INT(n, 0);
        zt_free_strings(u, n);
        char pat[1100];
        snprintf(pat, sizeof pat, "%s/k*.zarrmd", dir); /* killed.zarrmd of case 6 */
        CHECK_OK(zt_glob(pat, NULL, &u, &n));
        CHECK_EQ_INT(n, 1);
        if (n == 1) CHECK(strstr(u[0], "/killed.zarrmd") != NULL);
        zt_free_strings(u, n);
        CHECK_RC(zt_glob(NULL, NULL, &u, &n), ZT_EINVAL);
    }
    free(dir);
    TEST_DONE();
}
