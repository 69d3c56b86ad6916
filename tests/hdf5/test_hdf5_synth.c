/* A file written by h5py now (make_synth.py: gzip+shuffle+fletcher32 and LZF
 * chunks split along the atom axis, contiguous incl. > 4 MiB, compact,
 * unallocated chunks, big-endian, bool, strings, links) reads identically to
 * h5py, locally and "remotely" through the driver on a memory store; request
 * counts of opening cold and with the index cache; unsupported filters. */
#include "format/registry.h"
#include "h5test.h"

#include <stdlib.h>

/* Every array of a equals the same path in b, byte for byte; attrs equal. */
static int compare_trees(const zt_node *a, const zt_tree *tb) {
    int n = 0;
    zt_node *b = zt__node_find(tb->root, a->path);
    if (!b) {
        fprintf(stderr, "remote tree lacks %s\n", a->path);
        zt_test_failures++;
        return 0;
    }
    CHECK(h5t_json_same(a->attrs, b->attrs));
    CHECK((a->value == NULL) == (b->value == NULL));
    if (a->value && b->value) CHECK(h5t_json_same(a->value, b->value));
    CHECK((a->array == NULL) == (b->array == NULL));
    if (a->array && b->array) {
        uint8_t *x = NULL, *y = NULL;
        size_t nx = 0, ny = 0;
        CHECK_OK(h5t_read_raw(a->array, &x, &nx));
        CHECK_OK(h5t_read_raw(b->array, &y, &ny));
        CHECK(x && y && nx == ny && !memcmp(x, y, nx));
        CHECK_EQ_INT(a->array->ndim, b->array->ndim);
        for (int d = 0; d < a->array->ndim; d++) CHECK_EQ_INT(a->array->chunks[d], b->array->chunks[d]);
        free(x);
        free(y);
        n++;
    }
    for (size_t i = 0; i < a->n_children; i++) n += compare_trees(a->children[i], tb);
    return n;
}

static uint64_t opened_requests(const char *url, const zt_options_t *o, zt_tree **t) {
    *t = NULL;
    int rc = zt__tree_open(url, o, t);
    CHECK_OK(rc);
    return rc ? 0 : (*t)->store->n_requests;
}

static void test_unsupported_filter(void) {
    /* A pipeline with a filter we cannot decode (bzip2, id 307): the array is
     * built, its reads fail naming the filter and the dataset; a chunk that
     * skipped the filter (mask bit set) still reads. */
    zt_store *s = NULL;
    CHECK_OK(zt__store_open("memory://h5unsup", NULL, &s));
    int32_t raw[4] = {1, 2, 3, 4};
    CHECK_OK(zt__store_put(s, "", raw, sizeof raw));
    zt_h5data *d = zt__h5data_new();
    d->layout = ZT_H5_CHUNKED;
    d->file_size = sizeof raw;
    json_array_append_new(d->filters, json_pack("{s:i,s:s,s:i,s:[i]}", "id", 307, "name", "bzip2", "flags", 0, "cd", 9));
    d->tab = calloc(2, sizeof *d->tab);
    d->tab[0] = (zt_h5chunk){0, 0, 8, 0};
    d->tab[1] = (zt_h5chunk){1, 8, 8, 1};
    d->n = 2;
    zt_h5meta m = {.dtype = {'i', 4, false}, .ndim = 1, .shape = {4}, .chunks = {2}};
    zt_array *a = NULL;
    CHECK_OK(zt__h5_make_array("grp/data", "file.h5", s, &m, d, &a));
    zt__h5data_unref(d);
    if (a) {
        int32_t out[2];
        int64_t c0 = 0, c1 = 1;
        CHECK_RC(zt__array_read_chunk(a, &c0, out), ZT_EUNSUPPORTED);
        CHECK(strstr(zt_last_error(), "bzip2") && strstr(zt_last_error(), "grp/data") &&
              strstr(zt_last_error(), "307"));
        CHECK_OK(zt__array_read_chunk(a, &c1, out));
        CHECK(out[0] == 3 && out[1] == 4);
    }
    zt__array_free(a);
    zt__store_close(s);
}

int main(void) {
    char *dir = zt_test_tmpdir("h5synth");
    char *h5 = zt__asprintf("%s/synth.h5", dir);
    if (zt_test_system("'%s' '%s/tests/hdf5/make_synth.py' '%s' --big", zt_test_python(),
                       getenv("ZT_SOURCE_DIR") ? getenv("ZT_SOURCE_DIR") : "..", h5) != 0) {
        fprintf(stderr, "h5py not available; skipping\n");
        return 77;
    }
    char *cache = zt__asprintf("%s/cache", dir);
    setenv("XDG_CACHE_HOME", cache, 1);
    unsetenv("ZARRTRAJ_INDEX_CACHE");

    /* local: identical to h5py */
    zt_tree *loc = NULL;
    CHECK_OK(zt__tree_open(h5, NULL, &loc));
    if (!loc) TEST_DONE();
    int nds = h5t_compare_h5py(h5, loc, "synth");
    fprintf(stderr, "synthetic file: %d datasets equal to h5py\n", nds);
    CHECK(nds >= 14);
    zt_node *n = zt__node_find(loc->root, "particles/all/position/value");
    CHECK(n && n->array && n->array->pipeline->n == 3); /* shuffle, deflate, fletcher32 */
    CHECK(n && n->array && n->array->chunks[1] == 20);
    n = zt__node_find(loc->root, "particles/all/velocity/value");
    CHECK(n && n->array && n->array->pipeline->n == 1);
    n = zt__node_find(loc->root, "particles/all/species");
    CHECK(n && n->array && zt__h5_array_data(n->array)->layout == ZT_H5_COMPACT);
    n = zt__node_find(loc->root, "observables/big");
    /* 30 rows of 240000 bytes: 15 rows per chunk is the largest divisor <= 4 MiB */
    CHECK(n && n->array && n->array->chunks[0] == 15 && zt__array_nchunks(n->array) == 2);
    n = zt__node_find(loc->root, "observables");
    CHECK(n && json_is_string(json_object_get(n->attrs, "ref")) &&
          !strcmp(json_string_value(json_object_get(n->attrs, "ref")), "/particles/all/position/value"));
    /* hard-linked step appears at both paths, sharing storage */
    zt_node *s1 = zt__node_find(loc->root, "particles/all/position/step");
    zt_node *s2 = zt__node_find(loc->root, "particles/all/velocity/step");
    CHECK(s1 && s2 && s1->array && s2->array && s1->array->impl == s2->array->impl);

    /* "remote": the same bytes in a memory store, read through the driver */
    size_t nb = 0;
    uint8_t *bytes = h5t_slurp(h5, &nb);
    zt_store *ms = NULL;
    CHECK_OK(zt__store_open("memory://h5synth.h5", NULL, &ms));
    CHECK_OK(zt__store_put(ms, "", bytes, nb));
    zt_tree *rem = NULL;
    uint64_t cold = opened_requests("memory://h5synth.h5", NULL, &rem);
    uint64_t cold_bytes = rem ? rem->store->n_bytes : 0;
    fprintf(stderr, "remote open (cold, %zu-byte file): %llu requests, %llu bytes\n", nb,
            (unsigned long long)cold, (unsigned long long)cold_bytes);
    CHECK(cold >= 2 && cold <= 6);
    if (rem) CHECK_EQ_INT(compare_trees(loc->root, rem), nds);
    zt__tree_free(rem);

    /* warm: the index cache: one HEAD, no range reads (remote .h5 names skip the signature probe) */
    uint64_t warm = opened_requests("memory://h5synth.h5", NULL, &rem);
    fprintf(stderr, "remote open (index cache): %llu requests, %llu bytes\n", (unsigned long long)warm,
            (unsigned long long)(rem ? rem->store->n_bytes : 0));
    CHECK_EQ_INT(warm, 1);
    CHECK(rem && rem->store->n_bytes == 0);
    if (rem) CHECK_EQ_INT(compare_trees(loc->root, rem), nds);
    zt__tree_free(rem);

    /* the option and the environment switch it off */
    zt_options_t *o = NULL;
    zt_options_create(&o);
    zt_options_set(o, "index_cache", "false");
    CHECK_EQ_INT(opened_requests("memory://h5synth.h5", o, &rem), cold);
    zt__tree_free(rem);
    setenv("ZARRTRAJ_INDEX_CACHE", "0", 1);
    CHECK_EQ_INT(opened_requests("memory://h5synth.h5", NULL, &rem), cold);
    zt__tree_free(rem);
    unsetenv("ZARRTRAJ_INDEX_CACHE");
    zt_options_free(o);

    /* a changed object (new ETag) is not served from the cache */
    bytes[nb - 1] ^= 0; /* same bytes, new version */
    CHECK_OK(zt__store_put(ms, "", bytes, nb));
    CHECK_EQ_INT(opened_requests("memory://h5synth.h5", NULL, &rem), cold);
    zt__tree_free(rem);
    /* a corrupt cache file is ignored */
    char *cp = zt__h5_index_cache_path("memory://h5synth.h5");
    CHECK(cp && zt_test_system("head -c 100 '%s' > '%s.x' && mv '%s.x' '%s'", cp, cp, cp, cp) == 0);
    CHECK_EQ_INT(opened_requests("memory://h5synth.h5", NULL, &rem), cold);
    if (rem) CHECK_EQ_INT(compare_trees(loc->root, rem), nds);
    zt__tree_free(rem);
    free(cp);

    /* a small block size makes more requests but reads the same */
    zt_options_create(&o);
    zt_options_set(o, "index_cache", "0");
    zt_options_set(o, "hdf5_initial_read", "4096");
    zt_options_set(o, "hdf5_block_size", "4096");
    zt_options_set(o, "hdf5_readahead", "4096");
    uint64_t small = opened_requests("memory://h5synth.h5", o, &rem);
    fprintf(stderr, "remote open with 4 KiB blocks and no read-ahead: %llu requests\n", (unsigned long long)small);
    CHECK(small > cold);
    if (rem) CHECK_EQ_INT(compare_trees(loc->root, rem), nds);
    zt__tree_free(rem);
    zt_options_free(o);

    zt__store_del(ms, "");
    zt__store_close(ms);
    free(bytes);
    zt__tree_free(loc);
    test_unsupported_filter();
    zt_test_system("rm -rf '%s'", dir);
    free(dir);
    free(h5);
    free(cache);
    TEST_DONE();
}
