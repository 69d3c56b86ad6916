/* zt_convert: a trajectory written by us (positions every frame, velocities
 * every other frame, a changing box, an observable also sampled between
 * frames) converted to zarrmd v2, v3, compact, H5MD and XTC and read back
 * against the values written; frame slices; the settings' errors (each names
 * the setting and fails before anything is written); overwrite; the progress
 * callback and cancelling through it. */
#include "testutil.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>

enum { NA = 50, NF = 12 };

static float pos(int f, int a, int d) { return (float)(1.0 + 0.5 * a + 0.01 * f + 0.123456 * d); }
static float vel(int f, int a, int d) { return (float)(0.25 * f - 0.01 * a + d); }

static void write_src(const char *url) {
    zt_writer_opts_t wo = ZT_WRITER_OPTS_DEFAULTS;
    wo.length_unit = "nm";
    wo.time_unit = "ps";
    wo.velocity_unit = "nm ps-1";
    zt_writer_t *w = NULL;
    CHECK_OK(zt_writer_create(url, NA, &wo, &w));
    float p[NA * 3], v[NA * 3];
    for (int f = 0; f < NF && w; f++) {
        for (int a = 0; a < NA; a++)
            for (int d = 0; d < 3; d++) {
                p[a * 3 + d] = pos(f, a, d);
                v[a * 3 + d] = vel(f, a, d);
            }
        double box[9] = {5 + 0.01 * f, 0, 0, 0, 6, 0, 0, 0, 7};
        double t = 300 + f;
        zt_obs_t ob = {"temperature", &t, 1};
        zt_wframe_t wf = {10 * f, 0.5 * f, p, f % 2 ? NULL : v, NULL, box, &ob, 1};
        CHECK_OK(zt_writer_write_frame(w, &wf));
        /* an observable sample between frames, without particle data */
        t = -f;
        zt_wframe_t between = {10 * f + 5, 0.5 * f + 0.25, NULL, NULL, NULL, NULL, &ob, 1};
        CHECK_OK(zt_writer_write_frame(w, &between));
    }
    CHECK_OK(zt_writer_close(w));
}

/* dst holds frames first, first + stride, ... (count of them) within tol. */
static void check_dst(const char *dst, int first, int stride, int count, double tol, int has_vel, int obs_between) {
    zt_reader_t *r = NULL;
    CHECK_OK(zt_reader_open(dst, NULL, &r));
    if (!r) return;
    CHECK_EQ_INT(zt_reader_n_frames(r), count);
    CHECK_EQ_INT(zt_reader_n_atoms(r), NA);
    const char *u = zt_reader_unit(r, ZT_POSITION);
    CHECK(u && !strcmp(u, "nm"));
    float p[NA * 3], v[NA * 3];
    double worst = 0;
    for (int i = 0; i < count && i < NF; i++) {
        int f = first + i * stride;
        zt_frame_t fr;
        for (int k = 0; k < NA * 3; k++) v[k] = NAN;
        CHECK_OK(zt_reader_read_frame(r, i, &fr, p, has_vel ? v : NULL, NULL));
        CHECK_EQ_INT(fr.step, 10 * f);
        CHECK_CLOSE(fr.time, 0.5 * f, 1e-6);
        CHECK_CLOSE(fr.box[0][0], 5 + 0.01 * f, 1e-3);
        CHECK_CLOSE(fr.box[2][2], 7, 1e-3);
        for (int a = 0; a < NA; a++)
            for (int d = 0; d < 3; d++) {
                double e = fabs(p[a * 3 + d] - pos(f, a, d));
                if (e > worst) worst = e;
            }
        if (has_vel) {
            CHECK_EQ_INT(fr.has[ZT_VELOCITY], f % 2 == 0);
            if (f % 2 == 0) CHECK_CLOSE(v[7], vel(f, 2, 1), tol);
        }
    }
    if (worst > tol) fprintf(stderr, "%s: position error %g > %g\n", dst, worst, tol);
    CHECK(worst <= tol);
    size_t di = 0;
    /* zarrmd keeps the group's observables under observables/trajectory/, H5MD under observables/ */
    if (obs_between >= 0 && (zt_reader_data_find(r, "trajectory/temperature", &di) == 0 ||
                             zt_reader_data_find(r, "temperature", &di) == 0)) {
        zt_data_info_t info;
        CHECK_OK(zt_reader_data_info(r, di, &info));
        CHECK_EQ_INT(info.n_samples, obs_between ? 2 * NF : count);
    } else if (obs_between >= 0) {
        fprintf(stderr, "%s: temperature missing\n", dst);
        zt_test_failures++;
    }
    zt_reader_close(r);
}

typedef struct {
    int calls;
    int64_t last_done, total;
    int stop_at;
} prog_t;

static int prog(int64_t done, int64_t total, uint64_t bytes, void *data) {
    prog_t *p = data;
    if (done != (p->calls ? p->last_done + 1 : 0)) p->calls = -1000; /* out of order */
    p->calls++;
    p->last_done = done;
    p->total = total;
    (void)bytes;
    return p->stop_at && done == p->stop_at;
}

static zt_options_t *opts(const char *kv1, const char *kv2) {
    zt_options_t *o = NULL;
    CHECK_OK(zt_options_create(&o));
    if (kv1) CHECK_OK(zt_options_set_kv(o, kv1));
    if (kv2) CHECK_OK(zt_options_set_kv(o, kv2));
    return o;
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

int main(void) {
    char *dir = zt_test_tmpdir("convert");
    char src[1024], dst[1100];
    snprintf(src, sizeof src, "%s/src.zarrmd", dir);
    write_src(src);

    /* every output form, the whole trajectory */
    static const struct {
        const char *name, *kv1, *kv2;
        double tol;
        int vel, obs;
    } forms[] = {{"v2.zarrmd", NULL, NULL, 0, 1, 1},
                 {"v3.zarrmd", "zarr_format=3", "inner_frames=4", 0, 1, 1},
                 {"compact.zarrmd", "preset=compact", NULL, 0.0005 + 1e-6, 1, 1},
                 {"q.zarrmd", "preset=compact", "quantum=0.01 nm", 0.005 + 1e-6, 1, 1},
                 {"p.h5md", "precision=2", "compressor=gzip:level=4", 0.005 + 1e-6, 1, 1},
                 {"x.xtc", NULL, NULL, 0.0005 + 1e-6, 0, -1}};
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        snprintf(dst, sizeof dst, "%s/%s", dir, forms[i].name);
        zt_options_t *o = opts(forms[i].kv1, forms[i].kv2);
        prog_t p = {0};
        int rc = zt_convert(src, dst, o, NULL, NULL, prog, &p);
        if (rc) fprintf(stderr, "%s: %s\n", forms[i].name, zt_last_error());
        CHECK_OK(rc);
        CHECK_EQ_INT(p.calls, NF + 1);
        CHECK_EQ_INT(p.last_done, NF);
        CHECK_EQ_INT(p.total, NF);
        check_dst(dst, 0, 1, NF, forms[i].tol, forms[i].vel, forms[i].obs);
        zt_options_free(o);
    }

    /* a slice: frames 1, 4, 7, 10 and only the observable samples at them */
    snprintf(dst, sizeof dst, "%s/slice.zarrmd", dir);
    zt_options_t *o = opts("frames=1::3", NULL);
    CHECK_OK(zt_convert(src, dst, o, NULL, NULL, NULL, NULL));
    check_dst(dst, 1, 3, 4, 0, 1, 0);
    zt_options_free(o);

    /* overwrite: refused, then replaced */
    o = opts("frames=0:2", NULL);
    CHECK_RC(zt_convert(src, dst, o, NULL, NULL, NULL, NULL), ZT_EEXIST);
    CHECK(strstr(zt_last_error(), "slice.zarrmd"));
    CHECK_OK(zt_options_set(o, "overwrite", "true"));
    CHECK_OK(zt_convert(src, dst, o, NULL, NULL, NULL, NULL));
    check_dst(dst, 0, 1, 2, 0, 1, 0);
    zt_options_free(o);

    /* bad settings: each names itself; nothing is created */
    static const struct {
        const char *kv, *msg;
        int rc;
    } bad[] = {{"frames=::-1", "runs backwards", ZT_EINVAL},
               {"frames=::0", "bad slice", ZT_EINVAL},
               {"frames=99", "bad slice", ZT_EINVAL},
               {"precision=x", "precision='x'", ZT_EINVAL},
               {"precision=31", "precision='31'", ZT_EINVAL},
               {"chunk_bytes=0", "chunk_bytes='0'", ZT_EINVAL},
               {"zarr_format=1", "zarr_format='1'", ZT_EINVAL},
               {"shard_bytes=big", "shard_bytes='big'", ZT_EINVAL},
               {"inner_frames=-2", "inner_frames='-2'", ZT_EINVAL},
               {"overwrite=maybe", "overwrite='maybe'", ZT_EINVAL},
               {"colour=red", "unknown convert setting 'colour'", ZT_EINVAL},
               {"group=nope", "nope", ZT_EGROUP}};
    snprintf(dst, sizeof dst, "%s/bad.zarrmd", dir);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        o = opts(bad[i].kv, NULL);
        int rc = zt_convert(src, dst, o, NULL, NULL, NULL, NULL);
        CHECK_EQ_INT(rc, bad[i].rc);
        if (!strstr(zt_last_error(), bad[i].msg)) {
            fprintf(stderr, "%s: message '%s' lacks '%s'\n", bad[i].kv, zt_last_error(), bad[i].msg);
            zt_test_failures++;
        }
        CHECK(!exists(dst));
        zt_options_free(o);
    }
    /* the classic MD formats write XTC only (through the registry's frame writer), without settings */
    snprintf(dst, sizeof dst, "%s/x.trr", dir);
    CHECK_RC(zt_convert(src, dst, NULL, NULL, NULL, NULL, NULL), ZT_EUNSUPPORTED);
    CHECK(strstr(zt_last_error(), "XTC only"));
    CHECK(!exists(dst));
    snprintf(dst, sizeof dst, "%s/c.xtc", dir);
    o = opts("preset=compact", NULL);
    CHECK_RC(zt_convert(src, dst, o, NULL, NULL, NULL, NULL), ZT_EUNSUPPORTED);
    CHECK(strstr(zt_last_error(), "takes precision only"));
    CHECK(!exists(dst));
    zt_options_free(o);
    snprintf(dst, sizeof dst, "%s/bad.zarrmd", dir);
    CHECK_RC(zt_convert(NULL, dst, NULL, NULL, NULL, NULL, NULL), ZT_EINVAL);
    CHECK_RC(zt_convert(src, "", NULL, NULL, NULL, NULL, NULL), ZT_EINVAL);
    snprintf(dst, sizeof dst, "%s/none.xtc", dir);
    CHECK(zt_convert(dst, src, NULL, NULL, NULL, NULL, NULL) < 0);
    CHECK(strstr(zt_last_error(), "none.xtc"));

    /* cancelled after 5 frames: ZT_ECANCELED, a message, no leak */
    snprintf(dst, sizeof dst, "%s/cancel.zarrmd", dir);
    prog_t p = {0, 0, 0, 5};
    CHECK_RC(zt_convert(src, dst, NULL, NULL, NULL, prog, &p), ZT_ECANCELED);
    CHECK(strstr(zt_last_error(), "after 5 of 12 frames"));
    CHECK_EQ_INT(p.last_done, 5);

    /* the shared data's XTC (57,801 atoms): compact, all frames as our reader reads the source */
    char *water = zt_test_data("real/water57k_200f.xtc");
    if (exists(water)) {
        snprintf(dst, sizeof dst, "%s/water.zarrmd", dir);
        o = opts("preset=compact", "frames=0:200:40");
        CHECK_OK(zt_convert(water, dst, o, NULL, NULL, NULL, NULL));
        zt_reader_t *a = NULL, *b = NULL;
        CHECK_OK(zt_reader_open(water, NULL, &a));
        CHECK_OK(zt_reader_open(dst, NULL, &b));
        if (a && b) {
            int64_t na = zt_reader_n_atoms(a);
            CHECK_EQ_INT(zt_reader_n_frames(b), 5);
            float *x = malloc(sizeof(float) * 3 * (size_t)na), *y = malloc(sizeof(float) * 3 * (size_t)na);
            double worst = 0;
            for (int i = 0; i < 5; i++) {
                zt_frame_t fa, fb;
                CHECK_OK(zt_reader_read_frame(a, i * 40, &fa, x, NULL, NULL));
                CHECK_OK(zt_reader_read_frame(b, i, &fb, y, NULL, NULL));
                CHECK_EQ_INT(fa.step, fb.step);
                for (int64_t k = 0; k < na * 3; k++)
                    if (fabs(x[k] - y[k]) > worst) worst = fabs(x[k] - y[k]);
            }
            CHECK(worst <= 0.0005 + 1e-6); /* half the 0.001 nm quantum */
            free(x);
            free(y);
        }
        zt_reader_close(a);
        zt_reader_close(b);
        zt_options_free(o);
    }
    free(water);
    free(dir);
    TEST_DONE();
}
