/* Every HDF5 file of the shared data folder through zt__tree_open: the tree
 * equals h5py's view (attributes, dtypes, shapes, chunks, every value byte for
 * byte) and the derived values of expected.json's `key` section hold (first /
 * last / second samples, sums, step and time incl. fixed steps with offsets,
 * units, boundary, version). Bad files fail with the specific error. */
#include "format/registry.h"
#include "h5test.h"

static const char *g_file;

static zt_node *node_at(zt_tree *t, const char *fmt, ...) ZT__PRINTF(2, 3);
static zt_node *node_at(zt_tree *t, const char *fmt, ...) {
    char p[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p, sizeof p, fmt, ap);
    va_end(ap);
    return zt__node_find(t->root, p);
}

static void flatten(const json_t *v, double *out, size_t *n, size_t cap) {
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) flatten(json_array_get(v, i), out, n, cap);
    } else if (*n < cap) {
        out[(*n)++] = json_number_value(v);
    }
}

static void check_values(const char *what, const double *got, size_t ngot, const json_t *want) {
    double w[4096];
    size_t n = 0;
    flatten(want, w, &n, 4096);
    if (n != ngot) {
        fprintf(stderr, "%s: %s: %zu values, expected %zu\n", g_file, what, ngot, n);
        zt_test_failures++;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - w[i]) <= 1e-6 * (1 + fabs(w[i])))) {
            fprintf(stderr, "%s: %s[%zu] = %.9g, expected %.9g\n", g_file, what, i, got[i], w[i]);
            zt_test_failures++;
            return;
        }
}

static void check_dtype(const zt_array *a, const char *np) {
    if (!np) return;
    char kind = !strncmp(np, "float", 5) ? 'f' : !strncmp(np, "uint", 4) ? 'u' : !strncmp(np, "int", 3) ? 'i' : 'b';
    int bits = atoi(np + strcspn(np, "0123456789"));
    if (a->dtype.kind != kind || a->dtype.size * 8 != bits) {
        fprintf(stderr, "%s: %s: dtype %c%d, expected %s\n", g_file, a->path, a->dtype.kind, a->dtype.size, np);
        zt_test_failures++;
    }
}

static void check_shape(const zt_array *a, const json_t *shape) {
    if (!shape) return;
    CHECK_EQ_INT(a->ndim, json_array_size(shape));
    for (int d = 0; d < a->ndim && d < (int)json_array_size(shape); d++)
        CHECK_EQ_INT(a->shape[d], json_integer_value(json_array_get(shape, (size_t)d)));
}

static void check_unit(zt_node *n, const json_t *unit, const char *what) {
    const char *u = zt__attr_str(n, "unit");
    if (json_is_string(unit)) {
        if (!u || strcmp(u, json_string_value(unit))) {
            fprintf(stderr, "%s: %s unit '%s', expected '%s'\n", g_file, what, u ? u : "(none)", json_string_value(unit));
            zt_test_failures++;
        }
    } else if (u) {
        fprintf(stderr, "%s: %s has unit '%s', expected none\n", g_file, what, u);
        zt_test_failures++;
    }
}

/* step or time of an element (node = the element group). */
static void check_series(zt_node *el, const char *which, const json_t *k) {
    zt_node *n = zt__node_child(el, which);
    char what[600];
    snprintf(what, sizeof what, "%s/%s", el->path, which);
    if (!json_is_object(k)) {
        if (n) {
            fprintf(stderr, "%s: %s present, expected absent\n", g_file, what);
            zt_test_failures++;
        }
        return;
    }
    if (!n || !n->array) {
        fprintf(stderr, "%s: %s missing\n", g_file, what);
        zt_test_failures++;
        return;
    }
    check_unit(n, json_object_get(k, "unit"), what);
    double *v = NULL;
    size_t nv = 0;
    CHECK_OK(zt__array_read_all_f64(n->array, &v, &nv));
    const char *kind = json_string_value(json_object_get(k, "kind"));
    if (kind && !strcmp(kind, "fixed")) {
        /* scalar increment + optional offset attribute (H5MD 1.1) */
        CHECK_EQ_INT(n->array->ndim, 0);
        check_values(what, v, nv, json_object_get(k, "increment"));
        double off = 0;
        bool has = zt__attr_num(n, "offset", &off);
        double want = json_number_value(json_object_get(k, "offset"));
        if (!has) CHECK(want == 0);
        else CHECK_CLOSE(off, want, 1e-12);
    } else {
        check_values(what, v, nv, json_object_get(k, "values"));
    }
    free(v);
}

/* value array of a time-dependent element: shape, dtype, samples, sum. */
static void check_value(zt_node *el, const json_t *E) {
    zt_node *vn = zt__node_child(el, "value");
    if (!vn || !vn->array) {
        fprintf(stderr, "%s: %s/value missing\n", g_file, el->path);
        zt_test_failures++;
        return;
    }
    const zt_array *a = vn->array;
    check_shape(a, json_object_get(E, "shape"));
    check_dtype(a, json_string_value(json_object_get(E, "dtype")));
    if (json_object_get(E, "unit") || json_object_get(E, "first_sample_first_particle"))
        check_unit(vn, json_object_get(E, "unit"), vn->path);
    double *v = NULL;
    size_t n = 0;
    CHECK_OK(zt__array_read_all_f64(a, &v, &n));
    if (!v) return;
    size_t sample = 1, inner = 1;
    for (int d = 1; d < a->ndim; d++) sample *= (size_t)a->shape[d];
    for (int d = 2; d < a->ndim; d++) inner *= (size_t)a->shape[d];
    char w[600];
    json_t *x;
    if ((x = json_object_get(E, "first_sample_first_particle")) && n >= inner) {
        snprintf(w, sizeof w, "%s [0][0]", vn->path);
        check_values(w, v, inner, x);
    }
    if ((x = json_object_get(E, "last_sample_last_particle")) && n >= inner) {
        snprintf(w, sizeof w, "%s [-1][-1]", vn->path);
        check_values(w, v + n - inner, inner, x);
    }
    if ((x = json_object_get(E, "second_sample_first_particle")) && json_is_array(x) && n >= sample + inner) {
        snprintf(w, sizeof w, "%s [1][0]", vn->path);
        check_values(w, v + sample, inner, x);
    }
    if ((x = json_object_get(E, "first"))) {
        /* the first values in C order (observables: up to 3; box: a sample) */
        double tmp[4096];
        size_t k = 0;
        flatten(x, tmp, &k, 4096);
        snprintf(w, sizeof w, "%s first values", vn->path);
        if (k <= n) check_values(w, v, k, x);
        else CHECK(k <= n);
    }
    if ((x = json_object_get(E, "sum"))) {
        double s = 0;
        for (size_t i = 0; i < n; i++) s += v[i];
        CHECK_CLOSE(s, json_number_value(x), 1e-9);
    }
    free(v);
}

/* time-independent data: a plain dataset or a group holding only value */
static void check_static(zt_node *n, const json_t *E) {
    const char *form = json_string_value(json_object_get(E, "form"));
    zt_node *d = form && strstr(form, "group") ? zt__node_child(n, "value") : n;
    if (!d || !d->array) {
        fprintf(stderr, "%s: %s: time-independent data missing\n", g_file, n->path);
        zt_test_failures++;
        return;
    }
    check_shape(d->array, json_object_get(E, "shape"));
    check_dtype(d->array, json_string_value(json_object_get(E, "dtype")));
    double *v = NULL;
    size_t nv = 0;
    CHECK_OK(zt__array_read_all_f64(d->array, &v, &nv));
    json_t *x;
    if ((x = json_object_get(E, "value")) && !json_is_null(x)) check_values(d->path, v, nv, x);
    if ((x = json_object_get(E, "sum"))) {
        double s = 0;
        for (size_t i = 0; i < nv; i++) s += v[i];
        CHECK_CLOSE(s, json_number_value(x), 1e-9);
    }
    free(v);
}

static void check_key(zt_tree *t, const json_t *key) {
    zt_node *h5md = node_at(t, "h5md");
    json_t *ver = json_object_get(key, "h5md_version");
    if (ver && h5md) {
        json_t *a = json_object_get(h5md->attrs, "version");
        CHECK(a && json_is_array(a) && json_is_integer(json_array_get(a, 0)) && h5t_json_same(a, ver));
    }
    const char *sub[] = {"creator", "author"};
    for (int i = 0; i < 2 && h5md; i++) {
        json_t *want = json_object_get(key, sub[i]);
        zt_node *n = zt__node_child(h5md, sub[i]);
        if (json_is_object(want) && json_object_size(want)) CHECK(n && h5t_json_same(n->attrs, want));
    }
    const char *g;
    json_t *G;
    json_object_foreach(json_object_get(key, "particle_groups"), g, G) {
        zt_node *box = node_at(t, "particles/%s/box", g);
        CHECK(box != NULL);
        int64_t dim;
        if (box && zt__attr_int(box, "dimension", &dim)) CHECK_EQ_INT(dim, json_integer_value(json_object_get(G, "dimension")));
        json_t *bnd = json_object_get(G, "boundary");
        if (box && bnd) {
            json_t *a = json_object_get(box->attrs, "boundary");
            zt_node *bd = zt__node_child(box, "boundary");
            if (!a && bd) a = bd->value; /* ZnH5MD: a string dataset */
            CHECK(a && h5t_json_same(a, bnd));
        }
        json_t *be = json_object_get(G, "box_edges");
        zt_node *edges = box ? zt__node_child(box, "edges") : NULL;
        if (json_is_object(be) && json_is_true(json_object_get(be, "time_dependent"))) {
            CHECK(edges != NULL);
            if (edges) {
                json_t *E = json_pack("{s:O,s:O,s:O}", "shape", json_object_get(be, "shape"), "unit",
                                      json_object_get(be, "unit"), "first", json_object_get(be, "first"));
                check_value(edges, E);
                json_decref(E);
                check_series(edges, "step", json_object_get(be, "step"));
                check_series(edges, "time", json_object_get(be, "time"));
            }
        }
        const char *e;
        json_t *E;
        json_object_foreach(json_object_get(G, "elements"), e, E) {
            zt_node *el = node_at(t, "particles/%s/%s", g, e);
            if (!el) {
                fprintf(stderr, "%s: particles/%s/%s missing\n", g_file, g, e);
                zt_test_failures++;
                continue;
            }
            if (json_object_get(E, "form") || json_is_false(json_object_get(E, "time_dependent"))) {
                check_static(el, E);
                continue;
            }
            check_value(el, E);
            check_series(el, "step", json_object_get(E, "step"));
            check_series(el, "time", json_object_get(E, "time"));
        }
    }
    const char *o;
    json_t *O;
    json_object_foreach(json_object_get(key, "observables"), o, O) {
        zt_node *n = node_at(t, "observables/%s", o);
        if (!n) {
            fprintf(stderr, "%s: observables/%s missing\n", g_file, o);
            zt_test_failures++;
            continue;
        }
        if (json_is_false(json_object_get(O, "time_dependent"))) {
            check_static(n, O);
            continue;
        }
        check_value(n, O);
        check_series(n, "step", json_object_get(O, "step"));
        check_series(n, "time", json_object_get(O, "time"));
    }
}

int main(void) {
    char *ep = zt_test_data("expected.json");
    json_error_t je;
    json_t *exp = json_load_file(ep, 0, &je);
    free(ep);
    if (!exp) {
        fprintf(stderr, "no expected.json (ZT_DATA_DIR); skipping\n");
        return 77;
    }
    const char *rel;
    json_t *f;
    int nfiles = 0, nbin = 0, nkey = 0;
    json_object_foreach(json_object_get(exp, "files"), rel, f) {
        if (!zt__str_endswith(rel, ".h5md") && !zt__str_endswith(rel, ".h5")) continue;
        g_file = rel;
        char *path = zt_test_data(rel);
        const char *cat = json_string_value(json_object_get(json_object_get(f, "expected_error"), "category"));
        zt_tree *t = NULL;
        int rc = zt__tree_open(path, NULL, &t);
        if (cat && !strcmp(cat, "truncated_hdf5")) {
            CHECK_RC(rc, ZT_ETRUNCATED);
            /* "truncated file: eof is N, file has M bytes" with M the real size */
            char want[128];
            snprintf(want, sizeof want, "file has %lld bytes", (long long)json_integer_value(json_object_get(f, "bytes")));
            CHECK(strstr(zt_last_error(), "truncated file: eof is ") && strstr(zt_last_error(), want));
            /* the superblock's EOF as h5py reports it ("stored_eof = N") */
            const char *h = json_string_value(json_object_get(f, "lowlevel_h5py_or_zarr_error"));
            const char *se = h ? strstr(h, "stored_eof = ") : NULL;
            CHECK(se != NULL);
            if (se) {
                snprintf(want, sizeof want, "eof is %lld,", atoll(se + 13));
                CHECK(strstr(zt_last_error(), want) != NULL);
            }
        } else if (cat && !strcmp(cat, "not_hdf5")) {
            CHECK_RC(rc, ZT_ENOTHDF5);
        } else {
            /* valid HDF5 (also the H5MD-invalid ones: that is the model's job) */
            CHECK_OK(rc);
            if (!rc) {
                CHECK(!strcmp(t->format, "h5md"));
                nbin += h5t_compare_h5py(path, t, "tree");
                json_t *key = json_object_get(f, "key");
                if (json_is_object(key) && json_is_true(json_object_get(f, "valid"))) {
                    check_key(t, key);
                    nkey++;
                }
            }
        }
        zt__tree_free(t);
        free(path);
        nfiles++;
    }
    fprintf(stderr, "%d HDF5 files, %d datasets equal to h5py byte for byte, %d key sections checked\n", nfiles,
            nbin, nkey);
    CHECK(nfiles >= 19);
    CHECK(nbin > 100);
    json_decref(exp);
    TEST_DONE();
}
