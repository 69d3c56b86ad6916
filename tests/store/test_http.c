/* Read-only HTTP(S) store against nginx with a test CA: TLS verification on
 * by default (fails without the CA, succeeds with ca_file or SSL_CERT_FILE),
 * whole/range/suffix reads, head, batches, ETag pinning, 404, read-only. */
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
    zt__buf_free(&b);
    free(d);
    zt_test_system("rm -rf '%s'", dir);
    TEST_DONE();
}
