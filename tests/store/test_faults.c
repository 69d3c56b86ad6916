/* Reliability through the fault proxy (tests/store/faultproxy.py) in front of
 * the S3 server: latency (batch vs sequential), 503 SlowDown with and without
 * Retry-After, connection resets mid-body, short bodies, wrong Content-Range,
 * stalls; exhausted retries give clear errors; a wrong secret a clear
 * authentication error. */
#include "storetest.h"

#include <signal.h>

static char g_prefix[64];
static char g_dir[512];
static uint8_t *g_data;
enum { OBJ = 4 << 20 };

/* Start a proxy with extra arguments; returns its pid, writes the endpoint. */
static long start_proxy(const char *extra, char *endpoint, size_t n) {
    static int seq;
    char pf[600], pidf[600];
    snprintf(pf, sizeof pf, "%s/port%d", g_dir, ++seq);
    snprintf(pidf, sizeof pidf, "%s/pid%d", g_dir, seq);
    const char *up = getenv("ZT_S3_ENDPOINT") + strlen("http://");
    zt_test_system("sh -c 'echo $$ > \"%s\"; exec timeout 300 \"%s\" \"%s/tests/store/faultproxy.py\" "
                   "--upstream %s --port-file \"%s\" --lifetime 240 %s' >/dev/null 2>&1 &",
                   pidf, zt_test_python(), getenv("ZT_SOURCE_DIR"), up, pf, extra);
    char port[32] = "";
    for (int i = 0; i < 100 && !port[0]; i++) {
        FILE *f = fopen(pf, "r");
        if (f) {
            if (!fgets(port, sizeof port, f)) port[0] = 0;
            fclose(f);
        }
        if (!port[0]) usleep(50000);
    }
    long pid = 0;
    FILE *f = fopen(pidf, "r");
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1) pid = 0;
        fclose(f);
    }
    snprintf(endpoint, n, "http://127.0.0.1:%s", port);
    CHECK(port[0] != 0);
    return pid;
}

static void stop_proxy(long pid) {
    if (pid > 0) kill((pid_t)pid, SIGTERM);
}

static zt_store *open_via(const char *endpoint, const char *secret, const char *k1, const char *v1,
                          const char *k2, const char *v2) {
    zt_options_t *o;
    zt_options_create(&o);
    zt_options_set(o, "endpoint_url", endpoint);
    zt_options_set(o, "key", getenv("ZT_S3_KEY"));
    zt_options_set(o, "secret", secret ? secret : getenv("ZT_S3_SECRET"));
    zt_options_set(o, "backoff", "0.05");
    if (k1) zt_options_set(o, k1, v1);
    if (k2) zt_options_set(o, k2, v2);
    char url[256];
    snprintf(url, sizeof url, "s3://%s/%s", getenv("ZT_S3_BUCKET"), g_prefix);
    zt_store *s = NULL;
    if (zt__store_open(url, o, &s)) fprintf(stderr, "open: %s\n", zt_last_error());
    zt_options_free(o);
    return s;
}

/* n ranges of sz bytes over the object, as a batch; returns failures. */
static int read_batch(zt_store *s, int n, size_t sz, int *first_err) {
    zt_req *r = calloc((size_t)n, sizeof *r);
    for (int i = 0; i < n; i++) {
        r[i].key = "obj.bin";
        r[i].offset = (int64_t)((size_t)i * sz) % (OBJ - (int64_t)sz);
        r[i].length = (int64_t)sz;
    }
    int bad = 0;
    *first_err = 0;
    CHECK_OK(zt__store_get_batch(s, r, (size_t)n, NULL, NULL));
    for (int i = 0; i < n; i++) {
        if (r[i].status) {
            if (!*first_err) *first_err = r[i].status;
            bad++;
        } else if (!st_same(&r[i].out, g_data + r[i].offset, sz)) {
            bad++;
            fprintf(stderr, "WRONG BYTES in range %d\n", i);
            CHECK(0);
        }
        zt__buf_free(&r[i].out);
    }
    free(r);
    return bad;
}

static void scenario_ok(const char *name, const char *proxy_args, const char *k, const char *v) {
    char ep[128];
    long pid = start_proxy(proxy_args, ep, sizeof ep);
    zt_store *s = open_via(ep, NULL, "retries", "6", k, v);
    if (s) {
        double t0 = st_time();
        int err;
        int bad = read_batch(s, 48, 50000, &err);
        CHECK_EQ_INT(bad, 0);
        zt_buf b;
        zt__buf_init(&b);
        CHECK_OK(zt__store_get(s, "obj.bin", &b));
        CHECK(st_same(&b, g_data, OBJ));
        zt__buf_free(&b);
        fprintf(stderr, "%-28s ok in %.2f s\n", name, st_time() - t0);
        zt__store_close(s);
    }
    stop_proxy(pid);
}

static void scenario_fail(const char *name, const char *proxy_args, const char *retries,
                          const char *timeout, int want, const char *must_say) {
    char ep[128];
    long pid = start_proxy(proxy_args, ep, sizeof ep);
    zt_store *s = open_via(ep, NULL, "retries", retries, "timeout", timeout);
    if (s) {
        double t0 = st_time();
        zt_buf b;
        zt__buf_init(&b);
        CHECK_RC(zt__store_get_range(s, "obj.bin", 1000, 100000, &b), want);
        double dt = st_time() - t0;
        const char *m = zt_last_error();
        CHECK(strstr(m, must_say) != NULL);
        CHECK(strstr(m, "127.0.0.1") != NULL); /* names the URL */
        CHECK(dt < 20);
        fprintf(stderr, "%-28s -> %s: %s (%.2f s)\n", name, zt_err_name(want), m, dt);
        zt__buf_free(&b);
        zt__store_close(s);
    }
    stop_proxy(pid);
}

static void latency_benchmark(void) {
    char ep[128];
    long pid = start_proxy("--latency-ms 25", ep, sizeof ep);
    zt_store *s = open_via(ep, NULL, NULL, NULL, NULL, NULL);
    if (s) {
        enum { N = 256, SZ = 16384 };
        zt_buf b;
        zt__buf_init(&b);
        double t0 = st_time();
        for (int i = 0; i < 32; i++) CHECK_OK(zt__store_get_range(s, "obj.bin", (int64_t)i * SZ, SZ, &b));
        double seq = (st_time() - t0) * N / 32;
        t0 = st_time();
        int err;
        CHECK_EQ_INT(read_batch(s, N, SZ, &err), 0);
        double bat = st_time() - t0;
        fprintf(stderr, "latency 25 ms one-way: %d ranges of %d B: sequential %.2f s (extrapolated "
                        "from 32), batch %.2f s, %.1fx\n", N, SZ, seq, bat, seq / bat);
        CHECK(bat * 4 < seq);
        zt__buf_free(&b);
        zt__store_close(s);
    }
    stop_proxy(pid);
}

int main(void) {
    st_emulators("s3", "ZT_S3_ENDPOINT");
    snprintf(g_prefix, sizeof g_prefix, "faults%ld", (long)getpid());
    char *dir = zt_test_tmpdir("faults");
    snprintf(g_dir, sizeof g_dir, "%s", dir);
    free(dir);
    g_data = malloc(OBJ);
    st_fill(g_data, OBJ, 5);
    zt_store *direct = open_via(getenv("ZT_S3_ENDPOINT"), NULL, NULL, NULL, NULL, NULL);
    if (!direct) TEST_DONE();
    CHECK_OK(zt__store_put(direct, "obj.bin", g_data, OBJ));

    latency_benchmark();
    scenario_ok("503 every 3rd", "--fault 503 --every 3", NULL, NULL);
    scenario_ok("503 + Retry-After: 1", "--fault 503 --every 5 --count 2 --retry-after 1", NULL, NULL);
    scenario_ok("reset mid-body every 2nd", "--fault reset --every 2", NULL, NULL);
    scenario_ok("short body every 2nd", "--fault short --every 2", NULL, NULL);
    scenario_ok("wrong Content-Range", "--fault badrange --every 2", NULL, NULL);
    scenario_ok("stall every 4th", "--fault stall --every 4 --stall-seconds 20", "timeout", "1");
    scenario_fail("503 always", "--fault 503", "2", "5", ZT_ENET, "HTTP 503 (SlowDown");
    scenario_fail("reset always", "--fault reset", "2", "5", ZT_ENET, "3 attempts");
    scenario_fail("stall always", "--fault stall --stall-seconds 30", "1", "1", ZT_ETIMEDOUT, "2 attempts");

    /* Wrong secret through the proxy: a clear authentication error. */
    char ep[128];
    long pid = start_proxy("", ep, sizeof ep);
    zt_store *s = open_via(ep, "bad-secret-QQQ", NULL, NULL, NULL, NULL);
    if (s) {
        zt_buf b;
        zt__buf_init(&b);
        CHECK_RC(zt__store_get(s, "obj.bin", &b), ZT_EAUTH);
        CHECK(strstr(zt_last_error(), "authentication failed") && !strstr(zt_last_error(), "QQQ"));
        zt__buf_free(&b);
        zt__store_close(s);
    }
    stop_proxy(pid);

    zt__store_del_prefix(direct, "");
    zt__store_close(direct);
    free(g_data);
    zt_test_system("rm -rf '%s'", g_dir);
    TEST_DONE();
}
