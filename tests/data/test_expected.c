/* Every file in the shared data folder against expected.json (values computed
 * by h5py/zarr-python, MDAnalysis and Zarrtraj, independently of us):
 * particle groups, element samples (first/second/last values, sums), steps,
 * times, units, box, observables, other particle data, the frame view in
 * MDAnalysis units, and the specific error of every bad input. */
#include "testutil.h"

#include <jansson.h>
#include <stdbool.h>
#include <string.h>

static const char *zt_el_key[3] = {"position", "velocity", "force"};

static int64_t n_checked_values;

static void check_vec(const char *what, const char *file, const json_t *want, const double *got, size_t n,
                      double tol) {
    if (!json_is_array(want)) return;
    if (json_array_size(want) != n) {
        fprintf(stderr, "%s: %s: length %zu, want %zu\n", file, what, n, json_array_size(want));
        zt_test_failures++;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        double w = json_number_value(json_array_get(want, i));
        if (!(fabs(got[i] - w) <= tol * (1.0 + fabs(w)))) {
            fprintf(stderr, "%s: %s[%zu] = %.9g, want %.9g\n", file, what, i, got[i], w);
            zt_test_failures++;
        }
        n_checked_values++;
    }
}

/* Flatten a JSON (nested) array of numbers. */
static size_t flatten(const json_t *j, double *out, size_t cap) {
    if (json_is_number(j)) {
        if (cap) out[0] = json_number_value(j);
        return 1;
    }
    size_t n = 0;
    for (size_t i = 0; json_is_array(j) && i < json_array_size(j); i++)
        n += flatten(json_array_get(j, i), out + (n < cap ? n : cap), cap > n ? cap - n : 0);
    return n;
}

static const json_t *step_values(const json_t *s) {
    if (!s || json_is_null(s)) return NULL;
    const json_t *v = json_object_get(s, "values");
    return v ? v : json_object_get(s, "derived");
}

static int el_index(const char *name) {
    for (int k = 0; k < 3; k++)
        if (!strcmp(name, zt_el_key[k])) return k;
    if (!strcmp(name, "forces")) return ZT_FORCE; /* ZnH5MD */
    return -1;
}

/* Native-unit checks of one particle group from the `key` section. */
static void check_group(const char *file, const char *path, const char *gname, const json_t *g) {
    zt_reader_opts_t o = ZT_READER_OPTS_DEFAULTS;
    o.group = gname;
    zt_reader_t *r = NULL;
    int rc = zt_reader_open(path, &o, &r);
    if (rc) {
        fprintf(stderr, "%s: group %s: open failed: %s\n", file, gname, zt_last_error());
        zt_test_failures++;
        return;
    }
    CHECK_EQ_INT(zt_reader_n_atoms(r), json_integer_value(json_object_get(g, "n_particles")));
    int64_t nf = zt_reader_n_frames(r), na = zt_reader_n_atoms(r);
    int64_t *steps = calloc((size_t)nf + 1, sizeof *steps);
    double *times = calloc((size_t)nf + 1, sizeof *times);
    CHECK_OK(zt_reader_steps(r, steps, times));
    float *buf[3];
    for (int k = 0; k < 3; k++) buf[k] = malloc(sizeof(float) * (size_t)(na * 3 + 1));
    /* per element: samples in frame order */
    double sum[3] = {0, 0, 0};
    int64_t count[3] = {0, 0, 0};
    double first[3][3], second[3][3], last[3][3];
    int64_t *esteps[3];
    for (int k = 0; k < 3; k++) esteps[k] = calloc((size_t)nf + 1, sizeof(int64_t));
    double box0[3][3];
    int have_box0 = 0;
    for (int64_t f = 0; f < nf; f++) {
        zt_frame_t fr;
        rc = zt_reader_read_frame(r, f, &fr, buf[0], buf[1], buf[2]);
        if (rc) {
            fprintf(stderr, "%s: frame %lld: %s\n", file, (long long)f, zt_last_error());
            zt_test_failures++;
            break;
        }
        CHECK_EQ_INT(fr.step, steps[f]);
        if (fr.has[ZT_BOX] && !have_box0) {
            memcpy(box0, fr.box, sizeof box0);
            have_box0 = 1;
        }
        for (int k = 0; k < 3; k++) {
            if (!fr.has[k]) continue;
            const float *p = buf[k];
            for (int64_t i = 0; i < na * 3; i++) sum[k] += p[i];
            if (count[k] == 0)
                for (int d = 0; d < 3; d++) first[k][d] = p[d];
            if (count[k] == 1)
                for (int d = 0; d < 3; d++) second[k][d] = p[d];
            for (int d = 0; d < 3; d++) last[k][d] = p[(na - 1) * 3 + d];
            esteps[k][count[k]++] = fr.step;
        }
    }
    const json_t *els = json_object_get(g, "elements");
    const char *ename;
    json_t *e;
    json_object_foreach((json_t *)els, ename, e) {
        int k = el_index(ename);
        if (k < 0 || json_is_false(json_object_get(e, "time_dependent"))) continue;
        char what[256];
        CHECK_EQ_INT(count[k], json_integer_value(json_object_get(e, "n_samples")));
        CHECK_EQ_INT(zt_reader_n_samples(r, (zt_element_t)k), json_integer_value(json_object_get(e, "n_samples")));
        const json_t *u = json_object_get(e, "unit");
        const char *ru = zt_reader_unit(r, (zt_element_t)k);
        if (json_is_string(u)) CHECK(ru && !strcmp(ru, json_string_value(u)));
        else CHECK(ru == NULL);
        snprintf(what, sizeof what, "%s/%s first", gname, ename);
        check_vec(what, file, json_object_get(e, "first_sample_first_particle"), first[k], count[k] ? 3 : 0, 1e-6);
        snprintf(what, sizeof what, "%s/%s second", gname, ename);
        if (count[k] > 1) check_vec(what, file, json_object_get(e, "second_sample_first_particle"), second[k], 3, 1e-6);
        snprintf(what, sizeof what, "%s/%s last", gname, ename);
        check_vec(what, file, json_object_get(e, "last_sample_last_particle"), last[k], count[k] ? 3 : 0, 1e-6);
        double ws = json_number_value(json_object_get(e, "sum"));
        /* sums of float32 data accumulated in float64: compare relative to the magnitude */
        double mag = 0;
        for (int d = 0; d < 3; d++) mag += fabs(first[k][d]) + fabs(last[k][d]);
        if (!(fabs(sum[k] - ws) <= 1e-6 * (fabs(ws) + mag * (double)na * (double)count[k]) + 1e-9)) {
            fprintf(stderr, "%s: %s/%s sum %.12g want %.12g\n", file, gname, ename, sum[k], ws);
            zt_test_failures++;
        }
        double sv[4096];
        const json_t *stv = step_values(json_object_get(e, "step"));
        size_t ns = flatten(stv, sv, 4096);
        CHECK_EQ_INT(ns, count[k]);
        for (size_t i = 0; i < ns && i < (size_t)count[k]; i++) CHECK_EQ_INT(esteps[k][i], (int64_t)sv[i]);
        n_checked_values += (int64_t)ns + 7;
    }
    /* Frame times: the time of the first sampled element (position first). */
    const json_t *pos = json_object_get(els, "position");
    const json_t *ptime = pos ? json_object_get(pos, "time") : NULL;
    if (ptime && !json_is_null(ptime) && count[0] == nf) {
        double tv[4096];
        size_t nt = flatten(step_values(ptime), tv, 4096);
        CHECK_EQ_INT(nt, nf);
        for (int64_t f = 0; f < nf && f < (int64_t)nt; f++) CHECK_CLOSE(times[f], tv[f], 1e-9);
        const char *tu = zt_reader_time_unit(r);
        const json_t *wtu = json_object_get(ptime, "unit");
        if (json_is_string(wtu)) CHECK(tu && !strcmp(tu, json_string_value(wtu)));
    }
    if (pos && json_is_null(json_object_get(pos, "time")) && count[0] == nf) {
        /* no position time: the frame takes another element's time at that step, if any */
        const json_t *bt = json_object_get(json_object_get(g, "box_edges"), "time");
        double tv[4096];
        size_t nt = bt && !json_is_null(bt) ? flatten(step_values(bt), tv, 4096) : 0;
        for (int64_t f = 0; f < nf; f++) {
            if (nt == (size_t)nf) CHECK_CLOSE(times[f], tv[f], 1e-9);
            else CHECK(isnan(times[f]));
        }
    }
    /* Box */
    const json_t *bx = json_object_get(g, "box_edges");
    const json_t *bnd = json_object_get(g, "boundary");
    for (size_t i = 0; i < json_array_size(bnd); i++) {
        const char *b = NULL;
        CHECK_OK(zt_reader_box_boundary(r, (int)i, &b));
        CHECK(b && !strcmp(b, json_string_value(json_array_get(bnd, i))));
    }
    if (bx && !json_is_null(bx) && json_object_get(bx, "first")) {
        const json_t *fst = json_object_get(bx, "first");
        double want[9], got[9];
        size_t nw = flatten(fst, want, 9);
        CHECK(have_box0);
        if (nw == 3) {
            for (int i = 0; i < 3; i++) got[i] = box0[i][i];
            CHECK(!strcmp(zt_reader_box_kind(r), "orthorhombic"));
        } else {
            for (int i = 0; i < 9; i++) got[i] = box0[i / 3][i % 3];
            CHECK(!strcmp(zt_reader_box_kind(r), "triclinic"));
        }
        char what[128];
        snprintf(what, sizeof what, "%s box first", gname);
        json_t *wj = json_array();
        for (size_t i = 0; i < nw; i++) json_array_append_new(wj, json_real(want[i]));
        check_vec(what, file, wj, got, nw, 1e-6);
        json_decref(wj);
        CHECK_EQ_INT(zt_reader_box_time_dependent(r), json_is_true(json_object_get(bx, "time_dependent")));
    } else {
        CHECK(!strcmp(zt_reader_box_kind(r), "none"));
    }
    /* Time-independent particle data (species, mass, id, ...). */
    json_object_foreach((json_t *)els, ename, e) {
        if (!json_is_false(json_object_get(e, "time_dependent"))) continue;
        size_t di;
        if (zt_reader_data_find(r, ename, &di) != 0) {
            fprintf(stderr, "%s: %s: particle data '%s' not exposed\n", file, gname, ename);
            zt_test_failures++;
            continue;
        }
        zt_data_info_t info;
        CHECK_OK(zt_reader_data_info(r, di, &info));
        double *v = malloc(sizeof(double) * (size_t)(info.sample_size + 1));
        CHECK_OK(zt_reader_read_data_all(r, di, v, NULL, NULL));
        double s = 0;
        for (int64_t i = 0; i < info.sample_size; i++) s += v[i];
        CHECK_CLOSE(s, json_number_value(json_object_get(e, "sum")), 1e-9);
        free(v);
    }
    for (int k = 0; k < 3; k++) {
        free(buf[k]);
        free(esteps[k]);
    }
    free(steps);
    free(times);
    zt_reader_close(r);
}

static void check_observables(const char *file, const char *path, const char *group, const json_t *obs) {
    zt_reader_opts_t o = ZT_READER_OPTS_DEFAULTS;
    o.group = group;
    zt_reader_t *r = NULL;
    if (zt_reader_open(path, &o, &r) != 0) return; /* reported by check_group */
    const char *name;
    json_t *ob;
    json_object_foreach((json_t *)obs, name, ob) {
        size_t di;
        if (zt_reader_data_find(r, name, &di) != 0) {
            fprintf(stderr, "%s: observable '%s' not exposed\n", file, name);
            zt_test_failures++;
            continue;
        }
        zt_data_info_t info;
        CHECK_OK(zt_reader_data_info(r, di, &info));
        CHECK(info.kind == ZT_DATA_OBSERVABLE);
        bool td = !json_is_false(json_object_get(ob, "time_dependent"));
        CHECK_EQ_INT(info.time_dependent, td);
        int64_t ns = info.n_samples, total = ns * info.sample_size;
        double *v = malloc(sizeof(double) * (size_t)(total + 1));
        int64_t *st = malloc(sizeof(int64_t) * (size_t)(ns + 1));
        double *tm = malloc(sizeof(double) * (size_t)(ns + 1));
        CHECK_OK(zt_reader_read_data_all(r, di, v, st, tm));
        double s = 0;
        for (int64_t i = 0; i < total; i++) s += v[i];
        CHECK_CLOSE(s, json_number_value(json_object_get(ob, "sum")), 1e-9);
        if (td) {
            CHECK_EQ_INT(ns, json_integer_value(json_object_get(ob, "n_samples")));
            const json_t *fst = json_object_get(ob, "first");
            double w[16];
            size_t nw = flatten(fst, w, 16);
            for (size_t i = 0; i < nw && (int64_t)i < total; i++) CHECK_CLOSE(v[i], w[i], 1e-9);
            double sv[4096];
            size_t nsv = flatten(step_values(json_object_get(ob, "step")), sv, 4096);
            CHECK_EQ_INT(nsv, ns);
            for (size_t i = 0; i < nsv && (int64_t)i < ns; i++) CHECK_EQ_INT(st[i], (int64_t)sv[i]);
            const json_t *t = json_object_get(ob, "time");
            if (!t || json_is_null(t)) {
                CHECK(!info.has_time);
            } else {
                size_t nt = flatten(step_values(t), sv, 4096);
                for (size_t i = 0; i < nt && (int64_t)i < ns; i++) CHECK_CLOSE(tm[i], sv[i], 1e-9);
            }
        } else if (json_object_get(ob, "value") && !json_is_null(json_object_get(ob, "value"))) {
            double w[64];
            size_t nw = flatten(json_object_get(ob, "value"), w, 64);
            CHECK_EQ_INT(nw, total);
            for (size_t i = 0; i < nw && (int64_t)i < total; i++) CHECK_CLOSE(v[i], w[i], 1e-9);
        }
        n_checked_values += total;
        free(v);
        free(st);
        free(tm);
    }
    zt_reader_close(r);
}

static bool zt__startswith_mda(const char *s) { return strncmp(s, "MDAnalysis", 10) == 0; }

/* The frame view in MDAnalysis units, as MDAnalysis / Zarrtraj report it. */
static void check_reader_view(const char *file, const char *path, const json_t *rv) {
    const char *rd = json_string_value(json_object_get(rv, "reader"));
    bool mda = rd && zt__startswith_mda(rd);
    zt_reader_opts_t o = ZT_READER_OPTS_DEFAULTS;
    o.convert_units = json_is_false(json_object_get(rv, "convert_units")) ? 0 : 1;
    zt_reader_t *r = NULL;
    int rc = zt_reader_open(path, &o, &r);
    if (rc) {
        fprintf(stderr, "%s: open (converted units) failed: %s\n", file, zt_last_error());
        zt_test_failures++;
        return;
    }
    CHECK_EQ_INT(zt_reader_n_frames(r), json_integer_value(json_object_get(rv, "n_frames")));
    int64_t na = zt_reader_n_atoms(r);
    float *b[3];
    for (int k = 0; k < 3; k++) b[k] = malloc(sizeof(float) * (size_t)(na * 3 + 1));
    const json_t *frames = json_object_get(rv, "frames");
    for (size_t i = 0; i < json_array_size(frames); i++) {
        const json_t *f = json_array_get(frames, i);
        int64_t fi = json_integer_value(json_object_get(f, "frame"));
        zt_frame_t fr;
        if (zt_reader_read_frame(r, fi, &fr, b[0], b[1], b[2]) != 0) {
            fprintf(stderr, "%s: frame %lld: %s\n", file, (long long)fi, zt_last_error());
            zt_test_failures++;
            continue;
        }
        CHECK_EQ_INT(fr.step, json_integer_value(json_object_get(f, "step")));
        CHECK_CLOSE(fr.time, json_number_value(json_object_get(f, "time")), 1e-6);
        const char *hk[3] = {"has_positions", "has_velocities", "has_forces"};
        for (int k = 0; k < 3; k++) CHECK_EQ_INT(fr.has[k], json_is_true(json_object_get(f, hk[k])));
        const json_t *dims = json_object_get(f, "dimensions");
        if (json_is_array(dims)) {
            CHECK(fr.has[ZT_BOX]);
            check_vec("dimensions", file, dims, fr.dimensions, 6, 1e-5);
        } else {
            CHECK(!fr.has[ZT_BOX]);
        }
        double v[3];
        const char *pk[4] = {"positions_first_atom", "positions_last_atom", "velocities_first_atom", "forces_first_atom"};
        int pel[4] = {0, 0, 1, 2};
        for (int q = 0; q < 4; q++) {
            const json_t *w = json_object_get(f, pk[q]);
            if (!w || !fr.has[pel[q]]) continue;
            const float *p = b[pel[q]] + (q == 1 ? (na - 1) * 3 : 0);
            for (int d = 0; d < 3; d++) v[d] = p[d];
            check_vec(pk[q], file, w, v, 3, 1e-5);
        }
        const json_t *data = json_object_get(f, "data");
        const char *dn;
        json_t *dv;
        json_object_foreach((json_t *)data, dn, dv) {
            size_t di;
            if (zt_reader_data_find(r, dn, &di) != 0) {
                fprintf(stderr, "%s: data '%s' not exposed\n", file, dn);
                zt_test_failures++;
                continue;
            }
            zt_data_info_t info;
            zt_reader_data_info(r, di, &info);
            /* MDAnalysis maps frame i to row i of a group that has a value but no
             * step; H5MD makes that time-independent, as Zarrtraj does. */
            if (!info.time_dependent && mda) continue;
            double *got = malloc(sizeof(double) * (size_t)(info.sample_size + 1));
            rc = zt_reader_read_data(r, di, fi, got);
            if (json_is_null(dv)) {
                CHECK_RC(rc, ZT_ENODATA);
            } else {
                double w[64];
                size_t nw = flatten(dv, w, 64);
                CHECK_OK(rc);
                CHECK_EQ_INT(nw, info.sample_size);
                for (size_t q = 0; !rc && q < nw && (int64_t)q < info.sample_size; q++) CHECK_CLOSE(got[q], w[q], 1e-9);
            }
            free(got);
        }
        n_checked_values += 20;
    }
    for (int k = 0; k < 3; k++) free(b[k]);
    zt_reader_close(r);
}

static int expected_code(const char *category) {
    static const struct {
        const char *cat;
        int code;
    } map[] = {{"missing_h5md_group", ZT_ENOTH5MD}, {"truncated_hdf5", ZT_ETRUNCATED}, {"wrong_rank", ZT_ESHAPE},
               {"step_value_mismatch", ZT_EMISMATCH}, {"not_hdf5", ZT_ENOTHDF5}, {"corrupt_chunk", ZT_ECORRUPT},
               {"malformed_metadata", ZT_EFORMAT}};
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcmp(map[i].cat, category)) return map[i].code;
    return 1;
}

static void check_invalid(const char *file, const char *path, const json_t *ee) {
    const char *cat = json_string_value(json_object_get(ee, "category"));
    int want = expected_code(cat ? cat : "");
    zt_reader_t *r = NULL;
    int rc = zt_reader_open(path, NULL, &r);
    if (rc == 0) {
        /* errors in chunk data surface when the frames are read */
        int64_t na = zt_reader_n_atoms(r);
        float *p = malloc(sizeof(float) * (size_t)(na * 3 + 1));
        for (int64_t f = 0; f < zt_reader_n_frames(r) && rc == 0; f++) rc = zt_reader_read_frame(r, f, NULL, p, p, p);
        free(p);
        zt_reader_close(r);
    }
    if (rc != want) {
        fprintf(stderr, "%s: got %s (%s), want %s for category %s\n", file, zt_err_name(rc), zt_last_error(),
                zt_err_name(want), cat);
        zt_test_failures++;
    } else if (!strstr(zt_last_error(), path) && !strstr(zt_last_error(), file)) {
        fprintf(stderr, "%s: error message does not name the file: %s\n", file, zt_last_error());
        zt_test_failures++;
    }
}

int main(void) {
    char *ej = zt_test_data("expected.json");
    json_error_t err;
    json_t *root = json_load_file(ej, 0, &err);
    if (!root) {
        fprintf(stderr, "cannot read %s: %s (set ZT_DATA_DIR)\n", ej, err.text);
        free(ej);
        return 77;
    }
    const json_t *files = json_object_get(root, "files");
    const char *file;
    json_t *v;
    int nfiles = 0;
    json_object_foreach((json_t *)files, file, v) {
        const char *fmt = json_string_value(json_object_get(v, "format"));
#ifndef ZT_HAVE_HDF5
        if (fmt && !strcmp(fmt, "h5md")) continue;
#endif
        (void)fmt;
        char *path = zt_test_data(file);
        int before = zt_test_failures;
        if (!json_is_true(json_object_get(v, "valid"))) {
            check_invalid(file, path, json_object_get(v, "expected_error"));
        } else {
            const json_t *key = json_object_get(v, "key");
            const json_t *groups = json_object_get(key, "particle_groups");
            const char *gname;
            json_t *g;
            size_t ng = json_object_size(groups);
            json_object_foreach((json_t *)groups, gname, g) {
                check_group(file, path, gname, g);
                check_observables(file, path, gname, json_object_get(key, "observables"));
            }
            const json_t *rv = json_object_get(v, "reader_view");
            if (json_is_true(json_object_get(rv, "ok")) && ng == 1) check_reader_view(file, path, rv);
        }
        printf("%-60s %s\n", file, zt_test_failures == before ? "ok" : "FAILED");
        nfiles++;
        free(path);
    }
    printf("%d files, %lld values checked\n", nfiles, (long long)n_checked_values);
    json_decref(root);
    free(ej);
    TEST_DONE();
}
