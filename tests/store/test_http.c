/* Read-only HTTP(S) store against nginx with a test CA: TLS verification on
 * by default (fails without the CA, succeeds with ca_file or SSL_CERT_FILE),
 * whole/range/suffix reads, head, batches, ETag pinning, 404, read-only;
 * directory listings (HTML, nginx JSON and XML, none). */
#include "storetest.h"

static zt_store *open_url(const char *url, const char *ca) {
    zt_options_t *o;
    zt_options_create(&o);
    if (ca) zt_options_set(o, "ca_file", ca);
    zt_options_set(o, "retries", "1");
    zt_store *s = NULL;
    if (zt__store_open(url, o, &s)) fprintf(stderr, "open %s: %s\n", url, zt_last_error());
    zt_options_free(o);
    return s;
}

static void write_file(const char *path, const uint8_t *d, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fwrite(d, 1, n, f);
    fclose(f);
}

/* Read every frame of url and compare with the local copy. */
static void same_frames(const char *url, const char *local) {
    zt_reader_t *a = NULL, *b = NULL;
    CHECK_OK(zt_reader_open(url, NULL, &a));
    CHECK_OK(zt_reader_open(local, NULL, &b));
    if (!a || !b) {
        zt_reader_close(a);
        zt_reader_close(b);
        return;
    }
    CHECK_EQ_INT(zt_reader_n_frames(a), zt_reader_n_frames(b));
    CHECK_EQ_INT(zt_reader_n_atoms(a), zt_reader_n_atoms(b));
    size_t n3 = (size_t)zt_reader_n_atoms(b) * 3;
    float *pa = malloc(n3 * 4 + 4), *pb = malloc(n3 * 4 + 4);
    for (int64_t f = 0; f < zt_reader_n_frames(b); f++) {
        zt_frame_t fa, fb;
        CHECK_OK(zt_reader_read_frame(a, f, &fa, pa, NULL, NULL));
        CHECK_OK(zt_reader_read_frame(b, f, &fb, pb, NULL, NULL));
        CHECK_EQ_INT(fa.step, fb.step);
        CHECK(!memcmp(pa, pb, n3 * 4));
    }
    free(pa);
    free(pb);
    zt_reader_close(a);
    zt_reader_close(b);
}

/* A zarrmd without .zmetadata over plain HTTP: read through the server's
 * directory listing, in HTML (ZT_HTTP_URL) and nginx's JSON format
 * (ZT_HTTP_JSON_URL); a server without listings (ZT_HTTP_NOLIST_URL) or a
 * listing that is no index gives an error naming the cause. */
static void test_listings(const char *dir, long pid) {
    const char *jurl = getenv("ZT_HTTP_JSON_URL"), *nurl = getenv("ZT_HTTP_NOLIST_URL");
    if (!jurl || !nurl) {
        fprintf(stderr, "nginx started without the JSON/no-listing ports (older run.sh): listing formats not tested\n");
        return;
    }
    char local[700], url[800];
    snprintf(local, sizeof local, "%s/nocons.zarrmd", dir);
    zt_writer_opts_t wo = ZT_WRITER_OPTS_DEFAULTS;
    wo.chunk_bytes = 30 * 12 * 3; /* 3 frames per chunk */
    zt_writer_t *w = NULL;
    CHECK_OK(zt_writer_create(local, 30, &wo, &w));
    float p[90];
    for (int f = 0; f < 8 && w; f++) {
        for (int k = 0; k < 90; k++) p[k] = (float)(f * 100 + k) * 0.5f;
        zt_wframe_t fr = {f * 5, 0.25 * f, p, NULL, NULL, NULL, NULL, 0};
        CHECK_OK(zt_writer_write_frame(w, &fr));
    }
    CHECK_OK(zt_writer_close(w));
    zt_test_system("rm '%s/.zmetadata' && chmod -R a+rX '%s'", local, dir);

    snprintf(url, sizeof url, "%s/t%ld/nocons.zarrmd", getenv("ZT_HTTP_URL"), pid);
    same_frames(url, local);
    snprintf(url, sizeof url, "%s/t%ld/nocons.zarrmd", jurl, pid);
    same_frames(url, local);

    /* store level: the JSON listing, one level and recursive (raw names) */
    snprintf(url, sizeof url, "%s/t%ld/", jurl, pid);
    zt_store *s = open_url(url, NULL);
    if (s) {
        zt_strlist k, q;
        zt__strlist_init(&k);
        zt__strlist_init(&q);
        CHECK_OK(zt__store_list(s, "", true, &k, &q));
        CHECK(zt__strlist_contains(&q, "grp/") && zt__strlist_contains(&q, "nocons.zarrmd/"));
        CHECK(zt__strlist_contains(&k, "file.h5md") && !zt__strlist_contains(&k, "grp/chunk 0.bin"));
        zt__strlist_free(&k);
        zt__strlist_free(&q);
        CHECK_OK(zt__store_list(s, "grp", false, &k, NULL));
        CHECK(k.n == 1 && zt__strlist_contains(&k, "grp/chunk 0.bin"));
        zt__strlist_free(&k);
        zt__store_close(s);
    }

    /* no listing at all (nginx autoindex off answers 403) */
    snprintf(url, sizeof url, "%s/t%ld/nocons.zarrmd", nurl, pid);
    zt_reader_t *r = NULL;
    CHECK_RC(zt_reader_open(url, NULL, &r), ZT_EUNSUPPORTED);
    fprintf(stderr, "no listing -> %s\n", zt_last_error());
    CHECK(strstr(zt_last_error(), ".zmetadata") && strstr(zt_last_error(), "refuses to list"));
    CHECK(!strstr(zt_last_error(), "h5md"));
    zt_reader_close(r);
    /* .zmetadata back: the same server reads it without any listing */
    snprintf(local, sizeof local, "%s/cons.zarrmd", dir);
    CHECK_OK(zt_writer_create(local, 30, &wo, &w));
    for (int f = 0; f < 8 && w; f++) {
        for (int k = 0; k < 90; k++) p[k] = (float)(f * 100 + k) * 0.5f;
        zt_wframe_t fr = {f * 5, 0.25 * f, p, NULL, NULL, NULL, NULL, 0};
        CHECK_OK(zt_writer_write_frame(w, &fr));
    }
    CHECK_OK(zt_writer_close(w));
    zt_test_system("chmod -R a+rX '%s'", dir);
    snprintf(url, sizeof url, "%s/t%ld/cons.zarrmd", nurl, pid);
    same_frames(url, local);

    /* a directory whose "listing" is a page without links, and one whose
     * index is in nginx's XML format */
    zt_test_system("mkdir -p '%s/odd/h5md' '%s/xml/sub' && cd '%s' && "
                   "printf '<html><body>nothing here</body></html>' >odd/index.html && "
                   "printf '<?xml version=\"1.0\"?>\\n<list>\\n<directory mtime=\"x\">sub</directory>\\n"
                   "<file mtime=\"x\" size=\"3\">a&amp;b.txt</file>\\n</list>\\n' >xml/index.html && "
                   "chmod -R a+rX '%s'", dir, dir, dir, dir);
    snprintf(url, sizeof url, "%s/t%ld/", getenv("ZT_HTTP_URL"), pid);
    s = open_url(url, NULL);
    if (s) {
        zt_strlist k, q;
        zt__strlist_init(&k);
        zt__strlist_init(&q);
        CHECK_RC(zt__store_list(s, "odd", true, &k, &q), ZT_EUNSUPPORTED);
        CHECK(strstr(zt_last_error(), "not a directory index") != NULL);
        zt__strlist_free(&k);
        zt__strlist_free(&q);
        CHECK_OK(zt__store_list(s, "xml", true, &k, &q));
        CHECK(k.n == 1 && zt__strlist_contains(&k, "xml/a&b.txt"));
        CHECK(q.n == 1 && zt__strlist_contains(&q, "xml/sub/"));
        zt__strlist_free(&k);
        zt__strlist_free(&q);
        zt__store_close(s);
    }
}

int main(void) {
    st_emulators("https", "ZT_HTTPS_URL");
    unsetenv("CURL_CA_BUNDLE");
    unsetenv("SSL_CERT_FILE");
    const char *root = getenv("ZT_HTTP_ROOT"), *ca = getenv("ZT_TEST_CA");
    char dir[512], path[600], url[600];
    snprintf(dir, sizeof dir, "%s/t%ld", root, (long)getpid());
    zt_test_system("mkdir -p '%s/grp' && chmod -R a+rX '%s'", dir, dir);
    enum { N = 1 << 20 };
    uint8_t *d = malloc(N);
    st_fill(d, N, 9);
    snprintf(path, sizeof path, "%s/file.h5md", dir);
    write_file(path, d, N);
    snprintf(path, sizeof path, "%s/grp/chunk 0.bin", dir); /* a space: encoded in the URL */
    write_file(path, d, 1000);
    zt_test_system("chmod -R a+rX '%s'", dir);

    /* Without the CA: verification fails, clearly and without retry storms. */
    snprintf(url, sizeof url, "%s/t%ld/file.h5md", getenv("ZT_HTTPS_URL"), (long)getpid());
    zt_store *s = open_url(url, NULL);
    zt_buf b;
    zt__buf_init(&b);
    if (s) {
        CHECK_RC(zt__store_get(s, "", &b), ZT_ENET);
        CHECK(strstr(zt_last_error(), "certificate") != NULL);
        fprintf(stderr, "no CA -> %s\n", zt_last_error());
        zt__store_close(s);
    }

    /* With the CA file. */
    s = open_url(url, ca);
    if (s) {
        CHECK_OK(zt__store_get(s, "", &b));
        CHECK(st_same(&b, d, N));
        CHECK_OK(zt__store_get_range(s, "", 1000, 5000, &b));
        CHECK(st_same(&b, d + 1000, 5000));
        CHECK_OK(zt__store_get_range(s, "", ZT_SUFFIX, 4096, &b));
        CHECK(st_same(&b, d + N - 4096, 4096));
        CHECK_OK(zt__store_get_range(s, "", N - 10, 100, &b));
        CHECK(st_same(&b, d + N - 10, 10));
        zt_stat st;
        CHECK_OK(zt__store_head(s, "", &st));
        CHECK_EQ_INT(st.size, N);
        CHECK(st.etag[0] != 0);
        zt_req r[64];
        memset(r, 0, sizeof r);
        for (int i = 0; i < 64; i++) {
            r[i].key = "";
            r[i].offset = i * 16000;
            r[i].length = 16000;
            r[i].etag = st.etag;
        }
        st_batch_state bs = {0, 0, d};
        CHECK_OK(zt__store_get_batch(s, r, 64, st_batch_cb, &bs));
        CHECK_EQ_INT(bs.n_done, 64);
        CHECK_EQ_INT(bs.n_bad, 0);
        for (int i = 0; i < 64; i++) zt__buf_free(&r[i].out);
        /* Replace the file: a pinned read fails with ZT_ECHANGED. */
        snprintf(path, sizeof path, "%s/file.h5md", dir);
        write_file(path, d, N - 1);
        r[0].status = 0;
        CHECK_OK(zt__store_get_batch(s, r, 1, NULL, NULL));
        CHECK_RC(r[0].status, ZT_ECHANGED);
        zt__buf_free(&r[0].out);
        CHECK_RC(zt__store_put(s, "x", "a", 1), ZT_EUNSUPPORTED);
        zt__store_close(s);
    }

    /* SSL_CERT_FILE is honoured (libcurl itself ignores it). */
    setenv("SSL_CERT_FILE", ca, 1);
    s = open_url(url, NULL);
    if (s) {
        CHECK_OK(zt__store_head(s, "", &(zt_stat){0}));
        zt__store_close(s);
    }
    unsetenv("SSL_CERT_FILE");

    /* Plain HTTP, a directory root with keys below it; 404; listing through
     * the server's directory index (nginx autoindex). */
    snprintf(url, sizeof url, "%s/t%ld/", getenv("ZT_HTTP_URL"), (long)getpid());
    s = open_url(url, NULL);
    if (s) {
        CHECK_OK(zt__store_get(s, "grp/chunk 0.bin", &b));
        CHECK(st_same(&b, d, 1000));
        CHECK_RC(zt__store_get(s, "grp/missing", &b), ZT_ENOTFOUND);
        zt_strlist k, p;
        zt__strlist_init(&k);
        zt__strlist_init(&p);
        CHECK_OK(zt__store_list(s, "", true, &k, &p));
        CHECK(zt__strlist_contains(&p, "grp/"));
        CHECK(!zt__strlist_contains(&k, "grp/chunk 0.bin")); /* one level with a delimiter */
        zt__strlist_free(&k);
        zt__strlist_free(&p);
        CHECK_OK(zt__store_list(s, "", false, &k, NULL));
        CHECK(zt__strlist_contains(&k, "grp/chunk 0.bin")); /* decoded name, recursive */
        zt__strlist_free(&k);
        CHECK_RC(zt__store_list(s, "nothere", true, &k, NULL), ZT_ENOTFOUND);
        zt__strlist_free(&k);
        zt__store_close(s);
    }
    test_listings(dir, (long)getpid());
    zt__buf_free(&b);
    free(d);
    zt_test_system("rm -rf '%s'", dir);
    TEST_DONE();
}
