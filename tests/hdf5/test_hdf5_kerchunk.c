/* kerchunk references of HDF5 files: Debian's zarr-python 2.13 + fsspec's
 * ReferenceFileSystem read them with values identical to h5py
 * (check_refs.py), and our reference store + Zarr layer read them with values
 * identical to the HDF5 layer. */
#include "zarr/zarr.h"
#include "format/registry.h"
#include "h5test.h"

#include <limits.h>
#include <stdlib.h>

static int compare_with_zarr(const zt_node *h, const zt_tree *z) {
    int n = 0;
    if (h->array) {
        zt_node *zn = zt__node_find(z->root, h->path);
        if ((!zn || !zn->array) && strstr(h->array->codecs_desc, "\"id\":32000")) {
            /* lzf array dropped above (Zarr layer limitation) */
        } else if (!zn || !zn->array) {
            fprintf(stderr, "refs tree lacks array %s\n", h->path);
            zt_test_failures++;
        } else {
            uint8_t *x = NULL, *y = NULL;
            size_t nx = 0, ny = 0;
            CHECK_OK(h5t_read_raw(h->array, &x, &nx));
            CHECK_OK(h5t_read_raw(zn->array, &y, &ny));
            if (!x || !y || nx != ny || memcmp(x, y, nx)) {
                fprintf(stderr, "%s: values through the reference store differ\n", h->path);
                zt_test_failures++;
            } else {
                n++;
            }
            CHECK(h5t_json_same(h->attrs, zn->attrs));
            free(x);
            free(y);
        }
    }
    for (size_t i = 0; i < h->n_children; i++) n += compare_with_zarr(h->children[i], z);
    return n;
}

static void check_file(const char *h5, const char *dir, int want_skip) {
    zt_tree *t = NULL;
    CHECK_OK(zt__tree_open(h5, NULL, &t));
    if (!t) return;
    char absp[PATH_MAX];
    CHECK(realpath(h5, absp) != NULL);
    json_t *refs = NULL;
    CHECK_OK(zt__hdf5_kerchunk_refs(t, absp, &refs));
    char *rp = zt__asprintf("%s/refs.json", dir), *op = zt__asprintf("%s/out.txt", dir);
    CHECK(refs && json_dump_file(refs, rp, JSON_COMPACT) == 0);
    /* zarr-python + fsspec */
    int st = zt_test_system("'%s' '%s/tests/hdf5/check_refs.py' '%s' '%s' > '%s'", zt_test_python(),
                            getenv("ZT_SOURCE_DIR") ? getenv("ZT_SOURCE_DIR") : "..", rp, h5, op);
    CHECK_EQ_INT(st, 0);
    size_t nout = 0;
    char *out = (char *)h5t_slurp(op, &nout);
    int eq = 0, skip = -1;
    if (out && nout) {
        out[nout - 1] = 0;
        sscanf(out, "%d %d", &eq, &skip);
    }
    fprintf(stderr, "%s: zarr-python read %d arrays identically to h5py (%d skipped: lzf/fletcher32)\n", h5, eq, skip);
    CHECK(eq > 0);
    if (want_skip >= 0) CHECK_EQ_INT(skip, want_skip);
    free(out);
    /* our reference store + Zarr layer */
    zt_store *rs = NULL;
    CHECK_OK(zt__store_refs_open(rp, NULL, &rs));
    zt_tree *z = NULL;
    if (rs) {
        int rc = zt__zarr_open_tree(rs, rp, &z);
        if (rc == ZT_EUNSUPPORTED && (strstr(zt_last_error(), "'|O'") || strstr(zt_last_error(), "'lzf'"))) {
            /* The Zarr layer cannot open object (string) arrays nor the lzf
             * codec from JSON yet: retry without those arrays so the
             * reference store is still tested. */
            fprintf(stderr, "note: %s; retrying without string/lzf arrays\n", zt_last_error());
            zt__store_close(rs);
            rs = NULL;
            json_t *r = json_object_get(refs, "refs");
            zt_strlist drop;
            zt__strlist_init(&drop);
            const char *key;
            json_t *v;
            json_object_foreach(r, key, v) {
                if (zt__str_endswith(key, "/.zarray") &&
                    (strstr(json_string_value(v), "\"|O\"") || strstr(json_string_value(v), "\"lzf\""))) {
                    zt__strlist_push(&drop, key);
                }
            }
            for (size_t i = 0; i < drop.n; i++) {
                drop.items[i][strlen(drop.items[i]) - 7] = 0; /* the array's prefix */
                void *tmp;
                json_object_foreach_safe(r, tmp, key, v) {
                    if (zt__str_startswith(key, drop.items[i])) json_object_del(r, key);
                }
            }
            zt__strlist_free(&drop);
            CHECK(json_dump_file(refs, rp, JSON_COMPACT) == 0);
            CHECK_OK(zt__store_refs_open(rp, NULL, &rs));
            rc = rs ? zt__zarr_open_tree(rs, rp, &z) : rc;
        }
        CHECK_OK(rc);
        if (rc && rs) zt__store_close(rs);
    }
    if (z) {
        int n = compare_with_zarr(t->root, z);
        CHECK_EQ_INT(z->store->n_requests > 0, 1);
        fprintf(stderr, "%s: reference store read %d arrays identically\n", h5, n);
        CHECK(n > 0);
        zt__tree_free(z);
    }
    json_decref(refs);
    free(rp);
    free(op);
    zt__tree_free(t);
}

static void test_refs_store_basics(const char *dir) {
    /* inline text and base64, ranges, relative targets, templates, list */
    char *tgt = zt__asprintf("%s/target.bin", dir);
    FILE *f = fopen(tgt, "wb");
    fputs("0123456789abcdef", f);
    fclose(f);
    json_t *j = json_pack("{s:i,s:{s:s},s:{s:s,s:s,s:[s,i,i],s:[s,i,i],s:[s]}}", "version", 1, "templates", "u",
                          "target.bin", "refs", ".zgroup", "{\"zarr_format\":2}", "a/x", "base64:aGVsbG8=", "a/b/y",
                          "target.bin", 2, 5, "a/z", "{{u}}", 10, 6, "w", "target.bin");
    /* template names longer than 127 bytes (once cut there: this one would
     * have become the name of the other template, i.e. another file) */
    char tname[200], tref[210];
    memset(tname, 'x', 127);
    tname[127] = 0;
    json_object_set_new(json_object_get(j, "templates"), tname, json_string("wrong.bin"));
    snprintf(tname + 127, sizeof tname - 127, "y");
    json_object_set_new(json_object_get(j, "templates"), tname, json_string("target.bin"));
    snprintf(tref, sizeof tref, "{{%s}}", tname);
    json_object_set_new(json_object_get(j, "refs"), "a/t", json_pack("[s,i,i]", tref, 0, 4));
    char *wrong = zt__asprintf("%s/wrong.bin", dir);
    f = fopen(wrong, "wb");
    fputs("WRONG", f);
    fclose(f);
    free(wrong);
    char *rp = zt__asprintf("%s/basic.json", dir);
    json_dump_file(j, rp, 0);
    json_decref(j);
    zt_store *s = NULL;
    CHECK_OK(zt__store_refs_open(rp, NULL, &s));
    if (s) {
        zt_buf b;
        zt__buf_init(&b);
        CHECK_OK(zt__store_get(s, "a/x", &b));
        CHECK(b.len == 5 && !memcmp(b.data, "hello", 5));
        CHECK_OK(zt__store_get(s, "a/b/y", &b));
        CHECK(b.len == 5 && !memcmp(b.data, "23456", 5));
        CHECK_OK(zt__store_get_range(s, "a/z", 1, 3, &b));
        CHECK(b.len == 3 && !memcmp(b.data, "bcd", 3));
        CHECK_OK(zt__store_get_range(s, "a/b/y", ZT_SUFFIX, 2, &b));
        CHECK(b.len == 2 && !memcmp(b.data, "56", 2));
        CHECK_OK(zt__store_get(s, "a/t", &b));
        CHECK(b.len == 4 && !memcmp(b.data, "0123", 4));
        CHECK_OK(zt__store_get(s, "w", &b));
        CHECK(b.len == 16);
        CHECK_RC(zt__store_get(s, "nope", &b), ZT_ENOTFOUND);
        zt_stat st;
        CHECK_OK(zt__store_head(s, "a/b/y", &st));
        CHECK_EQ_INT(st.size, 5);
        zt_strlist keys, pfx;
        zt__strlist_init(&keys);
        zt__strlist_init(&pfx);
        CHECK_OK(zt__store_list(s, "a", true, &keys, &pfx));
        CHECK(keys.n == 3 && pfx.n == 1 && !strcmp(pfx.items[0], "a/b/"));
        zt__strlist_free(&keys);
        zt__strlist_free(&pfx);
        zt__buf_free(&b);
        zt__store_close(s);
    }
    /* malformed inputs fail cleanly */
    f = fopen(rp, "w");
    fputs("{\"version\": 1, \"refs\": ", f);
    fclose(f);
    CHECK_RC(zt__store_refs_open(rp, NULL, &s), ZT_EFORMAT);
    f = fopen(rp, "w");
    fputs("{\"version\": 2, \"refs\": {}}", f);
    fclose(f);
    CHECK_RC(zt__store_refs_open(rp, NULL, &s), ZT_EVERSION);
    free(rp);
    free(tgt);
}

int main(void) {
    char *dir = zt_test_tmpdir("h5kerchunk");
    char *h5 = zt__asprintf("%s/synth.h5", dir);
    if (zt_test_system("'%s' '%s/tests/hdf5/make_synth.py' '%s'", zt_test_python(),
                       getenv("ZT_SOURCE_DIR") ? getenv("ZT_SOURCE_DIR") : "..", h5) != 0) {
        fprintf(stderr, "h5py not available; skipping\n");
        return 77;
    }
    setenv("ZARRTRAJ_INDEX_CACHE", "0", 1);
    check_file(h5, dir, 2); /* position: fletcher32, velocity: lzf */
    const char *shared[] = {"generated/mda242_gromacs_protein_gzip_atomchunks.h5md",
                            "zarrtraj/COORDINATES_SYNTHETIC_H5MD.h5md",
                            "generated/ch5md_example_use_ch5md.h5",
                            "mdanalysis/cu.h5md",
                            "generated/mda242_amber_posfor_lzf_skipped.h5md",
                            "generated/pyh5md_example_particles_3d.h5"};
    for (size_t i = 0; i < sizeof shared / sizeof *shared; i++) {
        char *p = zt_test_data(shared[i]);
        /* lzf_skipped: every chunk skipped LZF, so the refs have no LZF */
        check_file(p, dir, 0);
        free(p);
    }
    test_refs_store_basics(dir);
    zt_test_system("rm -rf '%s'", dir);
    free(dir);
    free(h5);
    TEST_DONE();
}
