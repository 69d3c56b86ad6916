/* Corrupt HDF5 input: random bytes after a valid signature, truncation at
 * many points, a chunk index pointing past EOF, flipped metadata bytes. Each
 * gives a clear error naming the file (or, for harmless flips, a tree), never
 * a crash, hang or leak (run under ASan). */
#include "format/registry.h"
#include "h5test.h"

#include <stdlib.h>

static void write_file(const char *p, const uint8_t *d, size_t n) {
    FILE *f = fopen(p, "wb");
    fwrite(d, 1, n, f);
    fclose(f);
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Open and, when that works, read every array; returns the open rc. */
static int open_and_read(const char *p) {
    zt_tree *t = NULL;
    int rc = zt__tree_open(p, NULL, &t);
    if (rc) {
        CHECK(strstr(zt_last_error(), p) != NULL); /* the message names the file */
        return rc;
    }
    zt_node *stack[4096];
    size_t n = 0;
    stack[n++] = t->root;
    while (n) {
        zt_node *x = stack[--n];
        if (x->array) {
            uint8_t *b = NULL;
            size_t nb = 0;
            if (zt__array_nelems(x->array) < (1 << 24) && h5t_read_raw(x->array, &b, &nb) != 0)
                CHECK(zt_last_error()[0] != 0);
            free(b);
        }
        for (size_t i = 0; i < x->n_children && n < 4096; i++) stack[n++] = x->children[i];
    }
    zt__tree_free(t);
    return 0;
}

/* Targeted corruptions (tests/hdf5/make_corrupt.py) that crash, hang,
 * overflow a buffer or leak inside libhdf5 1.10.8 when it is left to read
 * them, or that were once skipped silently: each is a clear error, through
 * the library and the command line (which must not crash or print
 * libhdf5's "infinite loop closing library" at exit). */
static void test_targeted(const char *dir) {
    char *d = zt__asprintf("%s/targeted", dir);
    int st = zt_test_system("mkdir -p '%s' && '%s' '%s/tests/hdf5/make_corrupt.py' '%s'", d, zt_test_python(),
                            getenv("ZT_SOURCE_DIR") ? getenv("ZT_SOURCE_DIR") : "..", d);
    CHECK_EQ_INT(st, 0);
    if (st) {
        free(d);
        return;
    }
    /* the valid files: vlen strings (attribute and dataset) and a region
     * reference read through our own global heap reader */
    const char *good[] = {"ok", "plain", "latest"};
    for (int i = 0; i < 3; i++) {
        char *p = zt__asprintf("%s/%s.h5md", d, good[i]);
        zt_tree *t = NULL;
        CHECK_OK(zt__tree_open(p, NULL, &t));
        zt_node *v = t ? zt__node_find(t->root, "particles/trajectory/position/value") : NULL;
        CHECK(v && zt__attr_str(v, "unit") && !strcmp(zt__attr_str(v, "unit"), "nanometer_unit_string"));
        if (t && i == 0) {
            zt_node *names = zt__node_find(t->root, "names");
            CHECK(names && json_is_array(names->value) && json_array_size(names->value) == 2);
            if (names && json_array_size(names->value) == 2)
                CHECK(!strcmp(json_string_value(json_array_get(names->value, 1)), "beta-gamma"));
            const char *reg = zt__attr_str(t->root, "region");
            CHECK(reg && !strcmp(reg, "/particles/trajectory/position/value"));
        }
        zt__tree_free(t);
        free(p);
    }
    struct {
        const char *name;
        int rc;
        const char *msg;
    } bad[] = {
        {"heap_size_big", ZT_ECORRUPT, "global heap"},  /* libhdf5: SIGSEGV in H5HG_read */
        {"heap_size_64", ZT_ECORRUPT, "global heap"},   /* libhdf5: endless loop */
        {"vlen_len", ZT_ECORRUPT, "string of 20 bytes, but its global heap object has 21"}, /* overflow */
        {"region_heap", ZT_ECORRUPT, "attribute 'region'"},
        {"link_eof", ZT_ECORRUPT, "position/value: link to an object at byte"},  /* was: no 'value' */
        {"link_mid", ZT_EFORMAT, "position/value: reading the object header"}, /* was: skipped */
        {"latest_link", ZT_ECORRUPT, "fails its checksum"},                      /* libhdf5 leaks */
        {"filter_string", ZT_EUNSUPPORTED, "labels: HDF5 filter 'deflate' (id 23130) is not available"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *p = zt__asprintf("%s/%s.h5md", d, bad[i].name);
        zt_tree *t = NULL;
        int rc = zt__tree_open(p, NULL, &t);
        fprintf(stderr, "%s: %s: %s\n", bad[i].name, zt_err_name(rc), zt_last_error());
        CHECK_RC(rc, bad[i].rc);
        CHECK(strstr(zt_last_error(), p) != NULL);
        if (!strstr(zt_last_error(), bad[i].msg)) {
            fprintf(stderr, "  message lacks '%s'\n", bad[i].msg);
            zt_test_failures++;
        }
        zt__tree_free(t);
        char *err = zt__asprintf("%s/%s.err", d, bad[i].name);
        st = zt_test_system("'%s' info '%s' >/dev/null 2>'%s'", getenv("ZT_CLI"), p, err);
        CHECK_EQ_INT(st, 1);
        CHECK_EQ_INT(zt_test_system("grep -q 'infinite loop' '%s'", err), 1);
        free(err);
        free(p);
    }
    free(d);
}

int main(void) {
    setenv("ZARRTRAJ_INDEX_CACHE", "0", 1);
    char *dir = zt_test_tmpdir("h5corrupt");
    char *src = zt_test_data("mdanalysis/test.h5md");
    size_t n = 0;
    uint8_t *orig = h5t_slurp(src, &n);
    if (!orig || n < 4096) {
        fprintf(stderr, "no test data; skipping\n");
        return 77;
    }
    char *p = zt__asprintf("%s/bad.h5md", dir);

    /* signature + random bytes */
    uint8_t junk[8192];
    memcpy(junk, orig, 8);
    for (size_t i = 8; i < sizeof junk; i++) junk[i] = (uint8_t)rnd();
    write_file(p, junk, sizeof junk);
    int rc = open_and_read(p);
    CHECK(rc == ZT_EFORMAT || rc == ZT_ETRUNCATED || rc == ZT_ENOTHDF5);
    fprintf(stderr, "random after signature: %s: %s\n", zt_err_name(rc), zt_last_error());

    /* truncated at many points */
    size_t cuts[] = {8, 20, 96, 200, 1000, 2048, n / 10, n / 3, n / 2, n - 100, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        write_file(p, orig, cuts[i]);
        rc = open_and_read(p);
        CHECK(rc != 0);
        if (cuts[i] >= 200) CHECK_RC(rc, ZT_ETRUNCATED);
    }
    fprintf(stderr, "truncated: %s\n", zt_last_error());

    /* flipped bytes in the superblock: an error or a tree, never a crash.
     * (Flips deeper in the metadata can still hurt libhdf5 1.10.8 itself;
     * the global heap is read by us: see test_targeted and docs/hdf5.md.) */
    int nerr = 0, nok = 0;
    for (int it = 0; it < 60; it++) {
        uint8_t *c = malloc(n);
        memcpy(c, orig, n);
        for (int k = 0; k < 2; k++) c[8 + rnd() % 88] ^= (uint8_t)(1u << (rnd() % 8));
        write_file(p, c, n);
        free(c);
        if (open_and_read(p)) nerr++;
        else nok++;
    }
    fprintf(stderr, "bit flips: %d errors, %d opened\n", nerr, nok);

    /* a chunk index entry pointing past EOF (patched by a script) */
    char *q = zt__asprintf("%s/pastEOF.h5", dir);
    int st = zt_test_system(
        "'%s' -c \"\nimport h5py, numpy as np, struct\nf = h5py.File('%s', 'w')\n"
        "f.create_dataset('ok', data=np.arange(10, dtype='i4'))\n"
        "d = f.create_dataset('x', data=np.arange(40, dtype='f8').reshape(4, 10), chunks=(2, 10))\n"
        "off = d.id.get_chunk_info(1).byte_offset\nf.close()\nb = bytearray(open('%s', 'rb').read())\n"
        "k = struct.pack('<Q', off)\nassert b.count(k) == 1, b.count(k)\ni = b.index(k)\n"
        "b[i:i + 8] = struct.pack('<Q', 1 << 40)\nopen('%s', 'wb').write(b)\n\"",
        zt_test_python(), q, q, q);
    if (st == 0) {
        zt_tree *t = NULL;
        CHECK_OK(zt__tree_open(q, NULL, &t));
        zt_node *x = t ? zt__node_find(t->root, "x") : NULL, *ok = t ? zt__node_find(t->root, "ok") : NULL;
        CHECK(x && x->array && ok && ok->array);
        if (x && x->array) {
            double v[20];
            int64_t c0[2] = {0, 0}, c1[2] = {1, 0};
            CHECK_OK(zt__array_read_chunk(x->array, c0, v)); /* the intact chunk */
            CHECK(v[19] == 19.0);
            CHECK_RC(zt__array_read_chunk(x->array, c1, v), ZT_ECORRUPT);
            CHECK(strstr(zt_last_error(), "beyond the end of the file") && strstr(zt_last_error(), "x"));
            fprintf(stderr, "chunk past EOF: %s\n", zt_last_error());
        }
        if (ok && ok->array) {
            int64_t *iv = NULL;
            size_t ni = 0;
            CHECK_OK(zt__array_read_all_i64(ok->array, &iv, &ni));
            CHECK(ni == 10 && iv && iv[9] == 9);
            free(iv);
        }
        zt__tree_free(t);
    } else {
        fprintf(stderr, "could not build the past-EOF file (h5py missing?)\n");
        zt_test_failures++;
    }
    test_targeted(dir);
    /* a missing file */
    zt_tree *t = NULL;
    char *missing = zt__asprintf("%s/nope.h5md", dir);
    CHECK_RC(zt__tree_open(missing, NULL, &t), ZT_ENOTFOUND);
    free(missing);
    free(q);
    free(p);
    free(orig);
    free(src);
    zt_test_system("rm -rf '%s'", dir);
    free(dir);
    TEST_DONE();
}
