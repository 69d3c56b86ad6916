/* Zarr layer: v2 metadata variants and bad metadata, a v3 sharded array by
 * hand (index layout, empty inner chunks, crc32c), and format detection
 * through the registry, on the memory store. */
#include "testutil.h"

#include "array/array.h"
#include "format/registry.h"
#include "zarr/zarr.h"

#include <string.h>

static void put(zt_store *s, const char *key, const char *text) {
    CHECK_OK(zt__store_put(s, key, text, strlen(text)));
}

static zt_array *parse(zt_store *s, const char *json, int want_rc) {
    json_error_t e;
    json_t *j = json_loads(json, 0, &e);
    CHECK(j != NULL);
    zt_array *a = NULL;
    int rc = zt__zarr_array_from_json(j, "x", "mem", s, &a);
    if (rc != want_rc) {
        fprintf(stderr, "parse %s: got %s (%s), want %s\n", json, zt_err_name(rc), zt_last_error(), zt_err_name(want_rc));
        zt_test_failures++;
    }
    json_decref(j);
    return a;
}

#define ZA(shape, chunks, dtype, fill, extra)                                                           \
    "{\"zarr_format\": 2, \"shape\": " shape ", \"chunks\": " chunks ", \"dtype\": \"" dtype "\", "     \
    "\"fill_value\": " fill ", \"order\": \"C\", \"compressor\": null, \"filters\": null" extra "}"

int main(void) {
    zt_store *s = NULL;
    CHECK_OK(zt__store_open("memory://zarr-test", NULL, &s));

    /* fill values: null, NaN, Infinity, numbers; missing chunks read as fill */
    const char *fills[] = {"null", "\"NaN\"", "\"Infinity\"", "\"-Infinity\"", "2.5"};
    double want[] = {0, NAN, INFINITY, -INFINITY, 2.5};
    for (int i = 0; i < 5; i++) {
        char doc[512];
        snprintf(doc, sizeof doc, ZA("[4]", "[2]", "<f8", "%s", ""), fills[i]);
        zt_array *a = parse(s, doc, 0);
        if (!a) continue;
        double out[4];
        int64_t st[1] = {0}, ct[1] = {4};
        CHECK_OK(zt__array_read(a, st, ct, out)); /* no chunk objects at all */
        for (int k = 0; k < 4; k++) {
            if (isnan(want[i])) CHECK(isnan(out[k]));
            else CHECK(out[k] == want[i]);
        }
        zt__array_free(a);
    }

    /* dimension_separator "/" and big-endian data; partial edge chunks */
    zt_array *a = parse(s, ZA("[3, 2]", "[2, 2]", ">i4", "0", ", \"dimension_separator\": \"/\""), 0);
    if (a) {
        uint8_t c0[16] = {0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4};
        uint8_t c1[16] = {0xff, 0xff, 0xff, 0xfb, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0};
        CHECK_OK(zt__store_put(s, "x/0/0", c0, 16));
        CHECK_OK(zt__store_put(s, "x/1/0", c1, 16));
        int32_t out[6];
        int64_t st[2] = {0, 0}, ct[2] = {3, 2};
        CHECK_OK(zt__array_read(a, st, ct, out));
        int64_t conv[6];
        zt__convert_i64(out, a->dtype, 6, conv);
        int64_t w[6] = {1, 2, 3, 4, -5, 6};
        for (int k = 0; k < 6; k++) CHECK_EQ_INT(conv[k], w[k]);
        zt__array_free(a);
    }

    /* 0-d arrays (fixed step/time) use chunk key "0" */
    a = parse(s, ZA("[]", "[]", "<i8", "null", ""), 0);
    if (a) {
        int64_t v = 42;
        CHECK_OK(zt__store_put(s, "x/0", &v, 8));
        int64_t *all = NULL;
        size_t n = 0;
        CHECK_OK(zt__array_read_all_i64(a, &all, &n));
        CHECK_EQ_INT(n, 1);
        if (all) CHECK_EQ_INT(all[0], 42);
        free(all);
        zt__array_free(a);
    }

    /* bad metadata: each a specific error naming the problem */
    zt__array_free(parse(s, ZA("[4]", "[2]", "<f4", "0", "") /* ok baseline */, 0));
    zt_array *b = parse(s, "{\"zarr_format\": 2, \"shape\": [4], \"chunks\": [2], \"dtype\": \"<f4\", \"order\": \"K\", \"compressor\": null, \"fill_value\": 0}", ZT_EFORMAT);
    CHECK(strstr(zt_last_error(), "order") != NULL);
    zt__array_free(b);
    b = parse(s, "{\"zarr_format\": 2, \"shape\": [4], \"chunks\": [2], \"dtype\": \"<f4\", \"order\": \"F\", \"compressor\": null, \"fill_value\": 0}", 0);
    CHECK(b && b->order_f);
    zt__array_free(b);

    /* Fortran <-> C transposition: every rank and element size, the tiled 3-D
     * path with edge tiles included; element (i0, i1, ...) checked against its
     * Fortran offset */
    {
        static const int64_t shapes[][4] = {{5, 7, 1, 1}, {37, 130, 3, 1}, {3, 4, 5, 2}, {17, 1, 3, 1}};
        static const int ranks[] = {2, 3, 4, 3};
        for (size_t t = 0; t < 4; t++)
            for (size_t sz = 1; sz <= 8; sz *= 2) {
                int nd = ranks[t];
                size_t n = 1;
                for (int d = 0; d < nd; d++) n *= (size_t)shapes[t][d];
                uint8_t *c = malloc(n * sz), *f = malloc(n * sz), *back = malloc(n * sz);
                for (size_t i = 0; i < n * sz; i++) c[i] = (uint8_t)(i * 7 + i / 251);
                zt__transpose_chunk(c, f, nd, shapes[t], sz, true);
                int bad = 0;
                for (size_t ci = 0; ci < n; ci++) {
                    size_t rem = ci, fi = 0, st = 1, idx[4];
                    for (int d = nd - 1; d >= 0; d--) {
                        idx[d] = rem % (size_t)shapes[t][d];
                        rem /= (size_t)shapes[t][d];
                    }
                    for (int d = 0; d < nd; d++) {
                        fi += idx[d] * st;
                        st *= (size_t)shapes[t][d];
                    }
                    bad += memcmp(c + ci * sz, f + fi * sz, sz) != 0;
                }
                CHECK(bad == 0);
                zt__transpose_chunk(f, back, nd, shapes[t], sz, false);
                CHECK(memcmp(back, c, n * sz) == 0);
                free(c);
                free(f);
                free(back);
            }
    }
    b = parse(s, ZA("[4]", "[2]", "<c8", "0", ""), ZT_EUNSUPPORTED);
    zt__array_free(b);
    b = parse(s, ZA("[4]", "[2]", "<U4", "0", ""), ZT_EUNSUPPORTED);
    zt__array_free(b);
    b = parse(s, ZA("[4, 4]", "[2]", "<f4", "0", ""), ZT_EFORMAT);
    zt__array_free(b);
    b = parse(s, ZA("[4]", "[0]", "<f4", "0", ""), ZT_EFORMAT);
    zt__array_free(b);
    b = parse(s, ZA("[-4]", "[2]", "<f4", "0", ""), ZT_EFORMAT);
    zt__array_free(b);
    /* absurd shapes are refused before any allocation */
    b = parse(s, ZA("[9223372036854775807, 9223372036854775807]", "[1, 1]", "<f4", "0", ""), ZT_EOVERFLOW);
    zt__array_free(b);
    b = parse(s, ZA("[1000000000000]", "[1000000000000]", "<f8", "0", ""), ZT_EOVERFLOW);
    zt__array_free(b);
    b = parse(s, "{\"zarr_format\": 2, \"shape\": [4], \"chunks\": [2], \"dtype\": \"<f4\", \"compressor\": {\"id\": \"foo\"}, \"fill_value\": 0}", ZT_EUNSUPPORTED);
    CHECK(strstr(zt_last_error(), "foo") != NULL);
    CHECK(strstr(zt_last_error(), "x") != NULL);
    zt__array_free(b);
    b = parse(s, "{\"zarr_format\": 3, \"shape\": [4], \"chunks\": [2], \"dtype\": \"<f4\"}", ZT_EUNSUPPORTED);
    zt__array_free(b);

    /* a chunk whose size does not match: corrupt, not a crash */
    a = parse(s, ZA("[4]", "[4]", "<f4", "0", ""), 0);
    if (a) {
        CHECK_OK(zt__store_put(s, "x/0", "abc", 3));
        float out[4];
        int64_t st[1] = {0}, ct[1] = {4};
        CHECK_RC(zt__array_read(a, st, ct, out), ZT_ECORRUPT);
        CHECK(strstr(zt_last_error(), "x") != NULL);
        zt__array_free(a);
    }

    /* hierarchy: consolidated and listed trees agree; malformed .zgroup */
    zt__store_close(s);
    CHECK_OK(zt__store_open("memory://zarr-tree", NULL, &s));
    put(s, ".zgroup", "{\"zarr_format\": 2}");
    put(s, "g/.zgroup", "{\"zarr_format\": 2}");
    put(s, "g/.zattrs", "{\"unit\": \"nm\", \"n\": [1, 2]}");
    put(s, "g/a/.zarray", ZA("[2]", "[2]", "<i4", "0", ""));
    zt_tree *t = NULL;
    CHECK_OK(zt__zarr_open_tree(s, "memory://zarr-tree", &t));
    if (t) {
        zt_node *g = zt__node_find(t->root, "g");
        CHECK(g && !g->is_array && !strcmp(zt__attr_str(g, "unit"), "nm"));
        zt_node *n = zt__node_find(t->root, "g/a");
        CHECK(n && n->is_array && n->array && n->array->shape[0] == 2);
        t->store = NULL; /* owned by this test */
        zt__tree_free(t);
    }
    /* deep and long names: chunk keys of 600+ bytes (once cut at 511 bytes:
     * a cut key reads as a missing chunk, i.e. the fill value) and a 300-byte
     * path component (once refused) read their chunks */
    for (int variant = 0; variant < 2; variant++) {
        char deep[1024] = "", key[1200];
        for (int c = 0; c < 3; c++) {
            size_t k = strlen(deep), len = c == 2 && variant ? 300 : 200;
            for (size_t i = 0; i < len; i++) deep[k + i] = (char)('a' + c + 3 * variant);
            deep[k + len] = 0;
            snprintf(key, sizeof key, "%s/.zgroup", deep);
            put(s, key, "{\"zarr_format\": 2}");
            strcat(deep, "/");
        }
        strcat(deep, "arr");
        snprintf(key, sizeof key, "%s/.zarray", deep);
        put(s, key, ZA("[4]", "[2]", "<i4", "-1", ""));
        int32_t c0[2] = {11, 22}, c1[2] = {33, 44};
        snprintf(key, sizeof key, "%s/0", deep);
        CHECK_OK(zt__store_put(s, key, c0, 8));
        snprintf(key, sizeof key, "%s/1", deep);
        CHECK_OK(zt__store_put(s, key, c1, 8));
        t = NULL;
        CHECK_OK(zt__zarr_open_tree(s, "memory://zarr-tree", &t));
        zt_node *n = t ? zt__node_find(t->root, deep) : NULL;
        CHECK(n && n->array);
        if (n && n->array) {
            int32_t out[4];
            int64_t st[1] = {0}, ct[1] = {4};
            CHECK_OK(zt__array_read(n->array, st, ct, out));
            CHECK_EQ_INT(out[0], 11);
            CHECK_EQ_INT(out[3], 44);
            CHECK_OK(zt__array_read_chunk(n->array, (int64_t[]){1}, out));
            CHECK_EQ_INT(out[0], 33);
            char *ck = zt__zarr_chunk_key(n->array, (int64_t[]){1});
            CHECK(ck && strlen(ck) == strlen(deep) + 2);
            free(ck);
        }
        if (t) t->store = NULL;
        zt__tree_free(t);
    }

    put(s, "g/b/.zarray", "{\"zarr_format\": 2, \"shape\": [2],");
    t = NULL;
    CHECK_RC(zt__zarr_open_tree(s, "memory://zarr-tree", &t), ZT_EFORMAT);
    CHECK(strstr(zt_last_error(), "g/b/.zarray") != NULL);
    zt__store_close(s);

    /* Zarr v3 by hand: a 1-D uint16 array of 6 elements in one shard of 3
     * inner chunks of 2 (the middle one empty), index at the end with crc32c. */
    CHECK_OK(zt__store_open("memory://zarr3-test", NULL, &s));
    put(s, "zarr.json", "{\"zarr_format\": 3, \"node_type\": \"group\", \"attributes\": {\"a\": 1}}");
    put(s, "v/zarr.json",
        "{\"zarr_format\": 3, \"node_type\": \"array\", \"shape\": [6], \"data_type\": \"uint16\","
        " \"chunk_grid\": {\"name\": \"regular\", \"configuration\": {\"chunk_shape\": [6]}},"
        " \"chunk_key_encoding\": {\"name\": \"default\"}, \"fill_value\": 7,"
        " \"codecs\": [{\"name\": \"sharding_indexed\", \"configuration\": {\"chunk_shape\": [2],"
        " \"codecs\": [{\"name\": \"bytes\", \"configuration\": {\"endian\": \"big\"}}],"
        " \"index_codecs\": [{\"name\": \"bytes\", \"configuration\": {\"endian\": \"little\"}},"
        " {\"name\": \"crc32c\"}]}}]}");
    uint8_t shard[8 + 3 * 16 + 4];
    const uint8_t data[8] = {0, 1, 0, 2, 0, 5, 0, 6}; /* big-endian 1 2 | 5 6 */
    memcpy(shard, data, 8);
    uint64_t idx[6] = {0, 4, UINT64_MAX, UINT64_MAX, 4, 4};
    for (int i = 0; i < 6; i++)
        for (int k = 0; k < 8; k++) shard[8 + i * 8 + k] = (uint8_t)(idx[i] >> (8 * k));
    uint32_t crc = zt__crc32c(shard + 8, 48);
    for (int k = 0; k < 4; k++) shard[56 + k] = (uint8_t)(crc >> (8 * k));
    CHECK_OK(zt__store_put(s, "v/c/0", shard, sizeof shard));
    zt_tree *t3 = NULL;
    CHECK_OK(zt__tree_open("memory://zarr3-test", NULL, &t3));
    CHECK(t3 && !strcmp(t3->format, "zarrmd"));
    int64_t a1 = 0;
    CHECK(zt__attr_int(t3->root, "a", &a1) && a1 == 1);
    zt_node *v = zt__node_find(t3->root, "v");
    CHECK(v && v->array && v->array->chunks[0] == 2 && v->array->dtype.big_endian);
    if (v && v->array) {
        uint16_t got[6], want3[6] = {1, 2, 7, 7, 5, 6};
        int64_t st[1] = {0}, cnt[1] = {6};
        CHECK_OK(zt__array_read(v->array, st, cnt, got));
        for (int i = 0; i < 6; i++) CHECK((uint16_t)((got[i] >> 8) | (got[i] << 8)) == want3[i]);
    }
    zt__tree_free(t3);
    shard[20] ^= 1; /* index bit flip: crc32c mismatch, not wrong data */
    CHECK_OK(zt__store_put(s, "v/c/0", shard, sizeof shard));
    CHECK_OK(zt__tree_open("memory://zarr3-test", NULL, &t3));
    v = zt__node_find(t3->root, "v");
    if (v && v->array) {
        uint16_t got[6];
        int64_t st[1] = {0}, cnt[1] = {6};
        CHECK_RC(zt__array_read(v->array, st, cnt, got), ZT_ECORRUPT);
        CHECK(strstr(zt_last_error(), "crc32c mismatch") != NULL);
    }
    zt__tree_free(t3);
    shard[20] ^= 1;

    /* the same shard with crc32c after sharding_indexed (and then with a
     * delta filter before it): the whole shard is the chunk, decoded by the
     * codecs around it, then split into its inner chunks */
    static const char *around[] = {
        "[{\"name\": \"sharding_indexed\", \"configuration\": {\"chunk_shape\": [2],"
        " \"codecs\": [{\"name\": \"bytes\", \"configuration\": {\"endian\": \"big\"}}],"
        " \"index_codecs\": [{\"name\": \"bytes\", \"configuration\": {\"endian\": \"little\"}},"
        " {\"name\": \"crc32c\"}]}}, {\"name\": \"crc32c\"}]",
        "[{\"name\": \"numcodecs.delta\", \"configuration\": {\"dtype\": \"<u2\"}},"
        " {\"name\": \"sharding_indexed\", \"configuration\": {\"chunk_shape\": [2],"
        " \"codecs\": [{\"name\": \"bytes\", \"configuration\": {\"endian\": \"big\"}}],"
        " \"index_codecs\": [{\"name\": \"bytes\", \"configuration\": {\"endian\": \"little\"}},"
        " {\"name\": \"crc32c\"}]}}, {\"name\": \"crc32c\"}]"};
    for (int k = 0; k < 2; k++) {
        char *doc = zt__asprintf(
            "{\"zarr_format\": 3, \"node_type\": \"array\", \"shape\": [6], \"data_type\": \"uint16\","
            " \"chunk_grid\": {\"name\": \"regular\", \"configuration\": {\"chunk_shape\": [6]}},"
            " \"chunk_key_encoding\": {\"name\": \"default\"}, \"fill_value\": 7, \"codecs\": %s}", around[k]);
        put(s, "v/zarr.json", doc);
        free(doc);
        uint8_t whole[sizeof shard + 4];
        memcpy(whole, shard, sizeof shard);
        crc = zt__crc32c(whole, sizeof shard);
        for (int q = 0; q < 4; q++) whole[sizeof shard + (size_t)q] = (uint8_t)(crc >> (8 * q));
        CHECK_OK(zt__store_put(s, "v/c/0", whole, sizeof whole));
        t3 = NULL;
        CHECK_OK(zt__tree_open("memory://zarr3-test", NULL, &t3));
        v = t3 ? zt__node_find(t3->root, "v") : NULL;
        /* the shard is the chunk; values come out native */
        CHECK(v && v->array && v->array->chunks[0] == 6 && !v->array->dtype.big_endian);
        if (v && v->array) {
            uint16_t got[6], want3[6] = {1, 2, 7, 7, 5, 6};
            int64_t st[1] = {0}, cnt[1] = {6};
            if (k == 0) {
                CHECK_OK(zt__array_read(v->array, st, cnt, got));
                for (int i = 0; i < 6; i++) CHECK_EQ_INT(got[i], want3[i]);
            } else { /* the empty inner chunk holds delta-encoded values: no fill value for them */
                CHECK_RC(zt__array_read(v->array, st, cnt, got), ZT_EUNSUPPORTED);
                CHECK(strstr(zt_last_error(), "inner chunk 1 was never written") != NULL);
            }
            whole[3] ^= 0x40; /* a data byte: the whole-shard checksum */
            CHECK_OK(zt__store_put(s, "v/c/0", whole, sizeof whole));
            CHECK_RC(zt__array_read(v->array, st, cnt, got), ZT_ECORRUPT);
            CHECK(strstr(zt_last_error(), "crc32c: checksum mismatch") != NULL);
            CHECK(strstr(zt_last_error(), "chunk 0") != NULL);
        }
        zt__tree_free(t3);
    }
    /* nothing there: not found, naming every format tried */
    CHECK_RC(zt__tree_open("memory://nothing-here", NULL, &t3), ZT_ENOTFOUND);
    for (const zt_format *const *f = zt__formats; *f; f++) CHECK((*f)->name && (*f)->what && (*f)->open_tree);
    zt__store_close(s);
    TEST_DONE();
}
