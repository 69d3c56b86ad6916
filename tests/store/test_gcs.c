/* GCS store: the JSON API against the Firebase storage emulator (round trip,
 * STORAGE_EMULATOR_HOST, generation pinning), service-account JWT auth
 * against a verifying token endpoint, and HMAC keys through the XML API
 * against the SigV4-validating S3 server. */
#include "storetest.h"

#include <sys/stat.h>

static char g_prefix[64];

static zt_store *open_gcs(const char *k, const char *v) {
    zt_options_t *o;
    zt_options_create(&o);
    zt_options_set(o, "list_page_size", "7");
    zt_options_set(o, "retries", "2");
    if (k) zt_options_set(o, k, v);
    char url[256];
    snprintf(url, sizeof url, "gs://%s/%s", getenv("ZT_GCS_BUCKET"), g_prefix);
    zt_store *s = NULL;
    if (zt__store_open(url, o, &s)) fprintf(stderr, "open %s: %s\n", url, zt_last_error());
    zt_options_free(o);
    return s;
}

static void test_service_account(void) {
    char *dir = zt_test_tmpdir("gcssa");
    CHECK_EQ_INT(zt_test_system("cd '%s' && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
                                "-out key.pem 2>/dev/null && openssl pkey -in key.pem -pubout -out pub.pem",
                                dir), 0);
    CHECK_EQ_INT(zt_test_system("cd '%s' && (timeout 120 '%s' '%s/tests/store/tokenserver.py' pub.pem port log 100 "
                                ">/dev/null 2>&1 &) && for i in $(seq 50); do [ -f port ] && break; sleep 0.1; done",
                                dir, zt_test_python(), getenv("ZT_SOURCE_DIR")), 0);
    char path[512], port[32] = "";
    snprintf(path, sizeof path, "%s/port", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(port, sizeof port, f)) port[0] = 0;
        fclose(f);
    }
    CHECK(port[0] != 0);
    /* The key file, JSON-escaped PEM made by python. */
    CHECK_EQ_INT(zt_test_system("cd '%s' && '%s' -c \"import json; json.dump({'type':'service_account',"
                                "'client_email':'tester@zarrtraj.iam.gserviceaccount.com',"
                                "'private_key':open('key.pem').read(),'token_uri':'http://127.0.0.1:%s/token'},"
                                "open('sa.json','w'))\"", dir, zt_test_python(), port), 0);
    snprintf(path, sizeof path, "%s/sa.json", dir);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", path, 1);
    unsetenv("STORAGE_EMULATOR_HOST"); /* the emulator convention would mean anonymous */
    zt_store *s = open_gcs("endpoint_url", getenv("ZT_GCS_ENDPOINT"));
    if (s) {
        for (int i = 0; i < 3; i++) CHECK_OK(zt__store_put(s, "sa/x", "tok", 3));
        zt_buf b;
        zt__buf_init(&b);
        CHECK_OK(zt__store_get(s, "sa/x", &b));
        CHECK(b.len == 3);
        zt__buf_free(&b);
        zt__store_close(s);
    }
    /* Exactly one verified exchange: the token is cached. */
    char log[512];
    snprintf(log, sizeof log, "%s/log", dir);
    CHECK_EQ_INT(zt_test_system("test \"$(cat '%s')\" = ok", log), 0);

    /* A key the endpoint does not accept: a clear authentication error. */
    CHECK_EQ_INT(zt_test_system("cd '%s' && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
                                "-out other.pem 2>/dev/null && '%s' -c \"import json; d=json.load(open('sa.json'));"
                                "d['private_key']=open('other.pem').read(); json.dump(d, open('sa2.json','w'))\"",
                                dir, zt_test_python()), 0);
    snprintf(path, sizeof path, "%s/sa2.json", dir);
    s = open_gcs("token", path);
    if (s) {
        zt__store_close(s);
        zt_options_t *o;
        zt_options_create(&o);
        zt_options_set(o, "token", path);
        zt_options_set(o, "endpoint_url", getenv("ZT_GCS_ENDPOINT"));
        char url[256];
        snprintf(url, sizeof url, "gs://%s/%s", getenv("ZT_GCS_BUCKET"), g_prefix);
        CHECK_OK(zt__store_open(url, o, &s));
        zt_options_free(o);
        zt_buf b;
        zt__buf_init(&b);
        CHECK_RC(zt__store_get(s, "sa/x", &b), ZT_EAUTH);
        fprintf(stderr, "rejected key -> %s\n", zt_last_error());
        CHECK(strstr(zt_last_error(), "PRIVATE") == NULL);
        zt__buf_free(&b);
        zt__store_close(s);
    }
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    zt_test_system("rm -rf '%s'", dir);
    free(dir);
}

static void test_hmac_xml_api(void) {
    zt_options_t *o;
    zt_options_create(&o);
    zt_options_set(o, "key", getenv("ZT_S3_KEY"));
    zt_options_set(o, "secret", getenv("ZT_S3_SECRET"));
    zt_options_set(o, "endpoint_url", getenv("ZT_S3_ENDPOINT"));
    char url[256];
    snprintf(url, sizeof url, "gs://%s/%s/hmac", getenv("ZT_S3_BUCKET"), g_prefix);
    zt_store *s = NULL;
    CHECK_OK(zt__store_open(url, o, &s));
    zt_options_free(o);
    if (!s) return;
    CHECK_OK(zt__store_put(s, "a/b.bin", "hmac-data", 9));
    zt_buf b;
    zt__buf_init(&b);
    CHECK_OK(zt__store_get_range(s, "a/b.bin", 5, 4, &b));
    CHECK(b.len == 4 && !memcmp(b.data, "data", 4));
    zt_strlist keys, pfx;
    zt__strlist_init(&keys);
    zt__strlist_init(&pfx);
    CHECK_OK(zt__store_list(s, "", true, &keys, &pfx));
    CHECK(zt__strlist_contains(&pfx, "a/"));
    zt__strlist_free(&keys);
    zt__strlist_free(&pfx);
    CHECK_OK(zt__store_del_prefix(s, ""));
    zt__buf_free(&b);
    zt__store_close(s);
}

int main(void) {
    st_emulators("gcs", "ZT_GCS_ENDPOINT");
    snprintf(g_prefix, sizeof g_prefix, "t%ld", (long)getpid());
    setenv("STORAGE_EMULATOR_HOST", getenv("ZT_GCS_ENDPOINT"), 1);
    zt_store *s = open_gcs(NULL, NULL);
    CHECK(s != NULL);
    if (s) {
        st_roundtrip(s);
        zt__store_del_prefix(s, "");
        zt__store_close(s);
    }
    test_service_account();
    st_emulators("s3", "ZT_S3_ENDPOINT");
    test_hmac_xml_api();
    TEST_DONE();
}
