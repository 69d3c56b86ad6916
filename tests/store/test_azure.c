/* Azure store against azurite (validates SharedKey and SAS): round trip with
 * the account key, connection string, SAS token, anonymous public container,
 * a blob uploaded through the REST API by another client, wrong key. */
#include "storetest.h"

static char g_prefix[64];

static void emutool(char *out, size_t n, const char *args) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' '%s/scripts/emulators/emutool.py' %s", zt_test_python(),
             getenv("ZT_SOURCE_DIR") ? getenv("ZT_SOURCE_DIR") : ".", args);
    FILE *p = popen(cmd, "r");
    out[0] = 0;
    if (p) {
        if (!fgets(out, (int)n, p)) out[0] = 0;
        pclose(p);
    }
    out[strcspn(out, "\r\n")] = 0;
}

static zt_store *open_az(const char *container, const char *k1, const char *v1, const char *k2,
                         const char *v2, bool key) {
    zt_options_t *o;
    zt_options_create(&o);
    zt_options_set(o, "endpoint_url", getenv("ZT_AZURE_ENDPOINT"));
    zt_options_set(o, "account_name", getenv("ZT_AZURE_ACCOUNT"));
    if (key) zt_options_set(o, "account_key", getenv("ZT_AZURE_KEY"));
    zt_options_set(o, "list_page_size", "7");
    zt_options_set(o, "part_size", "4194304");
    zt_options_set(o, "multipart_threshold", "4194304");
    zt_options_set(o, "retries", "2");
    if (k1) zt_options_set(o, k1, v1);
    if (k2) zt_options_set(o, k2, v2);
    char url[256];
    snprintf(url, sizeof url, "az://%s/%s", container, g_prefix);
    zt_store *s = NULL;
    if (zt__store_open(url, o, &s)) fprintf(stderr, "open %s: %s\n", url, zt_last_error());
    zt_options_free(o);
    return s;
}

static void check_small_rw(zt_store *s, const char *key) {
    CHECK_OK(zt__store_put(s, key, "hello azure", 11));
    zt_buf b;
    zt__buf_init(&b);
    CHECK_OK(zt__store_get(s, key, &b));
    CHECK(b.len == 11 && !memcmp(b.data, "hello azure", 11));
    CHECK_OK(zt__store_get_range(s, key, ZT_SUFFIX, 5, &b));
    CHECK(b.len == 5 && !memcmp(b.data, "azure", 5));
    zt__buf_free(&b);
}

int main(void) {
    st_emulators("azure", "ZT_AZURE_ENDPOINT");
    snprintf(g_prefix, sizeof g_prefix, "t%ld", (long)getpid());
    const char *cont = getenv("ZT_AZURE_CONTAINER");

    /* Shared key: the full round trip. */
    zt_store *s = open_az(cont, NULL, NULL, NULL, NULL, true);
    CHECK(s != NULL);
    if (s) {
        st_roundtrip(s);

        /* A blob written by an independent REST client reads back identical. */
        char *dir = zt_test_tmpdir("azrest");
        char path[512], args[2048], out[512];
        snprintf(path, sizeof path, "%s/blob.bin", dir);
        uint8_t *d = malloc(400000);
        st_fill(d, 400000, 31);
        FILE *f = fopen(path, "wb");
        fwrite(d, 1, 400000, f);
        fclose(f);
        snprintf(args, sizeof args, "azure-put '%s' '%s' '%s' '%s' '%s/rest/blob.bin' '%s' && echo ok",
                 getenv("ZT_AZURE_ENDPOINT"), getenv("ZT_AZURE_ACCOUNT"), getenv("ZT_AZURE_KEY"), cont,
                 g_prefix, path);
        emutool(out, sizeof out, args);
        CHECK(!strcmp(out, "ok"));
        zt_buf b;
        zt__buf_init(&b);
        CHECK_OK(zt__store_get(s, "rest/blob.bin", &b));
        CHECK(st_same(&b, d, 400000));
        CHECK_OK(zt__store_get_range(s, "rest/blob.bin", 399000, 5000, &b));
        CHECK(st_same(&b, d + 399000, 1000));
        zt__buf_free(&b);
        free(d);
        zt_test_system("rm -rf '%s'", dir);
        free(dir);
        zt__store_close(s);
    }

    /* Connection string in the environment (BlobEndpoint form). */
    char cs[1024];
    snprintf(cs, sizeof cs, "DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;",
             getenv("ZT_AZURE_ACCOUNT"), getenv("ZT_AZURE_KEY"), getenv("ZT_AZURE_ENDPOINT"));
    setenv("AZURE_STORAGE_CONNECTION_STRING", cs, 1);
    char url[256];
    snprintf(url, sizeof url, "abfs://%s/%s/cs", cont, g_prefix);
    s = NULL;
    CHECK_OK(zt__store_open(url, NULL, &s));
    if (s) {
        check_small_rw(s, "x.bin");
        zt__store_close(s);
    }
    unsetenv("AZURE_STORAGE_CONNECTION_STRING");

    /* SAS token (account SAS made by an independent signer). */
    char sas[1024], args[1024];
    snprintf(args, sizeof args, "azure-sas '%s' '%s'", getenv("ZT_AZURE_ACCOUNT"), getenv("ZT_AZURE_KEY"));
    emutool(sas, sizeof sas, args);
    CHECK(strstr(sas, "sig=") != NULL);
    s = open_az(cont, "sas_token", sas, NULL, NULL, false);
    if (s) {
        check_small_rw(s, "sas.bin");
        zt_strlist keys;
        zt__strlist_init(&keys);
        CHECK_OK(zt__store_list(s, "", false, &keys, NULL));
        CHECK(zt__strlist_contains(&keys, "sas.bin"));
        zt__strlist_free(&keys);
        /* The signature never shows in messages. */
        zt_buf b;
        zt__buf_init(&b);
        CHECK_RC(zt__store_get(s, "nothing-here", &b), ZT_ENOTFOUND);
        const char *sig = strstr(sas, "sig=") + 4;
        CHECK(strstr(zt_last_error(), sig) == NULL);
        zt__buf_free(&b);
        zt__store_close(s);
    }

    /* Anonymous read of a public container. */
    snprintf(args, sizeof args, "azure-mkcontainer '%s' '%s' '%s' zt-public public && echo ok",
             getenv("ZT_AZURE_ENDPOINT"), getenv("ZT_AZURE_ACCOUNT"), getenv("ZT_AZURE_KEY"));
    char out[64];
    emutool(out, sizeof out, args);
    CHECK(!strcmp(out, "ok"));
    zt_store *w = open_az("zt-public", NULL, NULL, NULL, NULL, true);
    zt_store *r = open_az("zt-public", "anon", "true", NULL, NULL, false);
    if (w && r) {
        CHECK_OK(zt__store_put(w, "pub.bin", "public!", 7));
        zt_buf b;
        zt__buf_init(&b);
        CHECK_OK(zt__store_get(r, "pub.bin", &b));
        CHECK(b.len == 7 && !memcmp(b.data, "public!", 7));
        /* but no anonymous writes */
        int rc = zt__store_put(r, "nope.bin", "x", 1);
        CHECK(rc == ZT_EAUTH || rc == ZT_ENOTFOUND);
        zt__buf_free(&b);
        zt__store_del(w, "pub.bin");
    }
    zt__store_close(w);
    zt__store_close(r);

    /* Wrong key: authentication error without the key in the message. */
    s = open_az(cont, "account_key", "d3Jvbmcta2V5LXd3cm9uZy1rZXk=", NULL, NULL, false);
    if (s) {
        zt_buf b;
        zt__buf_init(&b);
        CHECK_RC(zt__store_get(s, "x.bin", &b), ZT_EAUTH);
        CHECK(strstr(zt_last_error(), "authentication failed") != NULL);
        CHECK(strstr(zt_last_error(), "d3Jvbmct") == NULL);
        fprintf(stderr, "wrong key -> %s\n", zt_last_error());
        zt__buf_free(&b);
        zt__store_close(s);
    }

    s = open_az(cont, NULL, NULL, NULL, NULL, true);
    if (s) {
        zt__store_del_prefix(s, "");
        zt__store_close(s);
    }
    TEST_DONE();
}
