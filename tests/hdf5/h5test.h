/* Helpers shared by the HDF5 layer tests (header-only, static). */
#ifndef ZT_H5TEST_H
#define ZT_H5TEST_H

#include "array/array.h"
#include "hdf5/hdf5.h"
#include "testutil.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* JSON equality with numbers compared by value (1 == 1.0). */
static inline bool h5t_json_same(const json_t *a, const json_t *b) {
    if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        if (json_is_integer(a) && json_is_integer(b)) return json_integer_value(a) == json_integer_value(b);
        return x == y || fabs(x - y) <= 1e-12 * fabs(y);
    }
    if (json_typeof(a) != json_typeof(b)) return false;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b)) return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!h5t_json_same(json_array_get(a, i), json_array_get(b, i))) return false;
        return true;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b)) return false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            json_t *w = json_object_get(b, k);
            if (!w || !h5t_json_same(v, w)) return false;
        }
        return true;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

/* Read a whole array's raw stored bytes (malloc'd). */
static inline int h5t_read_raw(const zt_array *a, uint8_t **out, size_t *nbytes) {
    int64_t start[ZT_MAXDIM] = {0};
    size_t n = (size_t)zt__array_nelems(a) * a->dtype.size;
    *out = malloc(n ? n : 1);
    *nbytes = n;
    int rc = zt__array_read(a, start, a->shape, *out);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

static inline uint8_t *h5t_slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long l = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(l > 0 ? (size_t)l : 1);
    *n = b ? fread(b, 1, (size_t)(l > 0 ? l : 0), f) : 0;
    fclose(f);
    return b;
}

static inline size_t h5t_count_nodes(const zt_node *n) {
    size_t c = 1;
    for (size_t i = 0; i < n->n_children; i++) c += h5t_count_nodes(n->children[i]);
    return c;
}

/* Compare a tree with h5py's view of the file (h5py_dump.py run now).
 * Returns the number of datasets compared byte for byte. */
static inline int h5t_compare_h5py(const char *h5path, zt_tree *t, const char *tag) {
    char *dir = zt_test_tmpdir(tag);
    int st = zt_test_system("'%s' '%s/tests/hdf5/h5py_dump.py' '%s' '%s'", zt_test_python(),
                            getenv("ZT_SOURCE_DIR") ? getenv("ZT_SOURCE_DIR") : "..", h5path, dir);
    CHECK(st == 0);
    char *ej = zt__asprintf("%s/expect.json", dir);
    json_error_t je;
    json_t *e = json_load_file(ej, 0, &je);
    free(ej);
    CHECK(e != NULL);
    int nbin = 0;
    json_t *objs = json_object_get(e, "objects");
    CHECK_EQ_INT(h5t_count_nodes(t->root), json_object_size(objs));
    const char *path;
    json_t *o;
    json_object_foreach(objs, path, o) {
        zt_node *n = zt__node_find(t->root, path);
        if (!n) {
            fprintf(stderr, "%s: node '%s' missing\n", h5path, path);
            zt_test_failures++;
            continue;
        }
        bool ds = !strcmp(json_string_value(json_object_get(o, "kind")), "dataset");
        CHECK(n->is_array == ds);
        if (!h5t_json_same(n->attrs, json_object_get(o, "attrs"))) {
            char *a = json_dumps(n->attrs, JSON_COMPACT), *b = json_dumps(json_object_get(o, "attrs"), JSON_COMPACT);
            fprintf(stderr, "%s: %s: attrs differ:\n  ours  %s\n  h5py  %s\n", h5path, path, a, b);
            free(a);
            free(b);
            zt_test_failures++;
        }
        json_t *val = json_object_get(o, "value");
        if (val) {
            if (!n->value || !h5t_json_same(n->value, val)) {
                fprintf(stderr, "%s: %s: string dataset value differs\n", h5path, path);
                zt_test_failures++;
            }
        }
        const char *bin = json_string_value(json_object_get(o, "bin"));
        if (!bin) continue;
        const zt_array *a = n->array;
        if (!a) {
            fprintf(stderr, "%s: %s: numeric dataset without array\n", h5path, path);
            zt_test_failures++;
            continue;
        }
        char dt[8];
        zt__dtype_to_str(a->dtype, dt);
        if (strcmp(dt, json_string_value(json_object_get(o, "dtype")))) {
            fprintf(stderr, "%s: %s: dtype %s, h5py %s\n", h5path, path, dt,
                    json_string_value(json_object_get(o, "dtype")));
            zt_test_failures++;
        }
        json_t *shape = json_object_get(o, "shape"), *chunks = json_object_get(o, "chunks");
        CHECK_EQ_INT(a->ndim, json_array_size(shape));
        for (int d = 0; d < a->ndim; d++) {
            CHECK_EQ_INT(a->shape[d], json_integer_value(json_array_get(shape, (size_t)d)));
            if (json_is_array(chunks))
                CHECK_EQ_INT(a->chunks[d], json_integer_value(json_array_get(chunks, (size_t)d)));
        }
        char *bp = zt__asprintf("%s/%s", dir, bin);
        size_t nref = 0, nours = 0;
        uint8_t *ref = h5t_slurp(bp, &nref), *ours = NULL;
        free(bp);
        int rc = h5t_read_raw(a, &ours, &nours);
        if (rc) {
            fprintf(stderr, "%s: %s: read failed: %s\n", h5path, path, zt_last_error());
            zt_test_failures++;
        } else if (nref != nours || memcmp(ref, ours, nref) != 0) {
            fprintf(stderr, "%s: %s: values differ from h5py (%zu vs %zu bytes)\n", h5path, path, nours, nref);
            zt_test_failures++;
        } else {
            nbin++;
        }
        free(ref);
        free(ours);
    }
    json_decref(e);
    zt_test_system("rm -rf '%s'", dir);
    free(dir);
    return nbin;
}

#endif
