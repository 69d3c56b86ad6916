/* S3 store against a real SigV4-validating server (s3rver on 127.0.0.1):
 * round trip, credentials from options / environment / profile files,
 * wrong secret, boto3 as an independent client, dead endpoint. */
#include "storetest.h"

#include <sys/stat.h>

static char g_prefix[64];

static zt_store *open_s3(const char *extra_k, const char *extra_v, bool creds) {
    zt_options_t *o;
    zt_options_create(&o);
    zt_options_set(o, "endpoint_url", getenv("ZT_S3_ENDPOINT"));
    if (creds) {
        zt_options_set(o, "key", getenv("ZT_S3_KEY"));
        zt_options_set(o, "secret", getenv("ZT_S3_SECRET"));
    }
    zt_options_set(o, "list_page_size", "7"); /* force pagination */
    zt_options_set(o, "part_size", "5242880");
    zt_options_set(o, "multipart_threshold", "5242880");
    zt_options_set(o, "retries", "2");
    if (extra_k) zt_options_set(o, extra_k, extra_v);
    char url[256];
    snprintf(url, sizeof url, "s3://%s/%s", getenv("ZT_S3_BUCKET"), g_prefix);
    zt_store *s = NULL;
    int rc = zt__store_open(url, o, &s);
    if (rc) fprintf(stderr, "open %s: %s\n", url, zt_last_error());
    zt_options_free(o);
    return s;
}

static void test_env_and_profile_credentials(void) {
    /* Environment variables. */
    setenv("AWS_ACCESS_KEY_ID", getenv("ZT_S3_KEY"), 1);
    setenv("AWS_SECRET_ACCESS_KEY", getenv("ZT_S3_SECRET"), 1);
    setenv("AWS_ENDPOINT_URL_S3", getenv("ZT_S3_ENDPOINT"), 1);
    char url[256];
    snprintf(url, sizeof url, "s3://%s/%s/env", getenv("ZT_S3_BUCKET"), g_prefix);
    zt_store *s = NULL;
    CHECK_OK(zt__store_open(url, NULL, &s));
    if (s) {
        CHECK_OK(zt__store_put(s, "x", "abc", 3));
        zt_buf b;
        zt__buf_init(&b);
        CHECK_OK(zt__store_get(s, "x", &b));
        CHECK(b.len == 3 && !memcmp(b.data, "abc", 3));
        zt__buf_free(&b);
        zt__store_close(s);
    }
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");

    /* A named profile from AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE; the
     * default profile holds a wrong key so a mix-up shows. */
    char *dir = zt_test_tmpdir("s3prof");
    char cred[512], conf[512];
    snprintf(cred, sizeof cred, "%s/credentials", dir);
    snprintf(conf, sizeof conf, "%s/config", dir);
    FILE *f = fopen(cred, "w");
    fprintf(f, "[default]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n\n"
               "[zt]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
            getenv("ZT_S3_KEY"), getenv("ZT_S3_SECRET"));
    fclose(f);
    f = fopen(conf, "w");
    fprintf(f, "[profile zt]\nregion = eu-west-3\n");
    fclose(f);
    setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
    setenv("AWS_CONFIG_FILE", conf, 1);
    setenv("AWS_PROFILE", "zt", 1);
    s = NULL;
    CHECK_OK(zt__store_open(url, NULL, &s));
    if (s) {
        zt_stat st;
        CHECK_OK(zt__store_head(s, "x", &st));
        CHECK_EQ_INT(st.size, 3);
        zt__store_close(s);
    }
    /* The default profile's wrong key: authentication error, secret not shown. */
    setenv("AWS_PROFILE", "default", 1);
    s = NULL;
    CHECK_OK(zt__store_open(url, NULL, &s));
    if (s) {
        zt_buf b;
        zt__buf_init(&b);
        CHECK_RC(zt__store_get(s, "x", &b), ZT_EAUTH);
        zt__buf_free(&b);
        zt__store_close(s);
    }
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    unsetenv("AWS_CONFIG_FILE");
    unsetenv("AWS_ENDPOINT_URL_S3");
    zt_test_system("rm -rf '%s'", dir);
    free(dir);
}

static void test_wrong_secret(void) {
    zt_store *s = open_s3("secret", "not-the-secret-XYZZY", true);
    if (!s) return;
    zt_buf b;
    zt__buf_init(&b);
    CHECK_RC(zt__store_put(s, "nope", "a", 1), ZT_EAUTH);
    CHECK_RC(zt__store_get(s, "nope", &b), ZT_EAUTH);
    const char *m = zt_last_error();
    CHECK(strstr(m, "authentication failed") != NULL);
    CHECK(strstr(m, "XYZZY") == NULL);
    fprintf(stderr, "wrong secret -> %s\n", m);
    zt__buf_free(&b);
    zt__store_close(s);
}

static void test_boto3_interop(zt_store *s) {
    /* boto3 writes, we read; we write, boto3 reads. */
    char *dir = zt_test_tmpdir("s3boto");
    char path[512], script[512];
    snprintf(path, sizeof path, "%s/in.bin", dir);
    snprintf(script, sizeof script, "%s/b.py", dir);
    uint8_t *d = malloc(500000);
    st_fill(d, 500000, 777);
    FILE *f = fopen(path, "wb");
    fwrite(d, 1, 500000, f);
    fclose(f);
    CHECK_OK(zt__store_put(s, "boto/ours.bin", d, 500000));
    f = fopen(script, "w");
    fprintf(f,
            "import boto3, sys\n"
            "c = boto3.client('s3', endpoint_url='%s', aws_access_key_id='%s',\n"
            "    aws_secret_access_key='%s', region_name='us-east-1')\n"
            "data = open('%s', 'rb').read()\n"
            "c.put_object(Bucket='%s', Key='%s/boto/theirs.bin', Body=data)\n"
            "got = c.get_object(Bucket='%s', Key='%s/boto/ours.bin')['Body'].read()\n"
            "sys.exit(0 if got == data else 3)\n",
            getenv("ZT_S3_ENDPOINT"), getenv("ZT_S3_KEY"), getenv("ZT_S3_SECRET"), path,
            getenv("ZT_S3_BUCKET"), g_prefix, getenv("ZT_S3_BUCKET"), g_prefix);
    fclose(f);
    CHECK_EQ_INT(zt_test_system("'%s' '%s'", zt_test_python(), script), 0);
    zt_buf b;
    zt__buf_init(&b);
    CHECK_OK(zt__store_get(s, "boto/theirs.bin", &b));
    CHECK(st_same(&b, d, 500000));
    CHECK_OK(zt__store_get_range(s, "boto/theirs.bin", 1000, 5000, &b));
    CHECK(st_same(&b, d + 1000, 5000));
    zt__buf_free(&b);
    free(d);
    zt_test_system("rm -rf '%s'", dir);
    free(dir);
}

static void test_dead_endpoint(void) {
    zt_options_t *o;
    zt_options_create(&o);
    zt_options_set(o, "endpoint_url", "http://127.0.0.1:9"); /* discard port: refused */
    zt_options_set(o, "anon", "true");
    zt_options_set(o, "retries", "3");
    zt_options_set(o, "backoff", "0.05");
    zt_store *s = NULL;
    CHECK_OK(zt__store_open("s3://bucket/x", o, &s));
    zt_options_free(o);
    if (!s) return;
    zt_buf b;
    zt__buf_init(&b);
    double t0 = st_time();
    int rc = zt__store_get(s, "k", &b);
    double dt = st_time() - t0;
    CHECK_RC(rc, ZT_ENET);
    CHECK(dt < 5);
    CHECK(strstr(zt_last_error(), "4 attempts") != NULL);
    fprintf(stderr, "dead endpoint -> %s (%.2f s)\n", zt_last_error(), dt);
    zt__buf_free(&b);
    zt__store_close(s);
}

static void test_anonymous_denied(void) {
    /* s3rver allows anonymous reads only on public buckets: expect an auth error
     * or not-found, never a crash. */
    zt_store *s = open_s3("anon", "true", false);
    if (!s) return;
    zt_buf b;
    zt__buf_init(&b);
    int rc = zt__store_get(s, "rt-none", &b);
    CHECK(rc == ZT_EAUTH || rc == ZT_ENOTFOUND);
    zt__buf_free(&b);
    zt__store_close(s);
}

int main(void) {
    st_emulators("s3", "ZT_S3_ENDPOINT");
    snprintf(g_prefix, sizeof g_prefix, "t%ld", (long)getpid());
    zt_store *s = open_s3(NULL, NULL, true);
    CHECK(s != NULL);
    if (s) {
        st_roundtrip(s);
        test_boto3_interop(s);
        zt__store_del_prefix(s, "");
        zt__store_close(s);
    }
    test_wrong_secret();
    test_env_and_profile_credentials();
    test_anonymous_denied();
    test_dead_endpoint();
    TEST_DONE();
}
