/* Shared helpers of the store tests: the local test servers
 * (scripts/emulators/run.sh) and a round trip every writable store must pass.
 *
 * Servers: when ZT_EMU_ENV (or ZT_EMULATOR_ENV) names an env file (written by `run.sh start`, as the
 * top-level check does), it is used; otherwise the test starts what it needs
 * through run.sh with a bounded lifetime (--ttl), so `ctest -R store` works on
 * its own. When the servers cannot be started (no node/npm) the test is skipped
 * (exit 77), unless ZT_REQUIRE_EMULATORS=1 makes that a failure (CI). */
#ifndef ZT_STORETEST_H
#define ZT_STORETEST_H

#include "store/store.h"
#include "testutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void st_load_env(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = 0;
        setenv(line, eq + 1, 1);
    }
    fclose(f);
}

/* Make sure the services (space separated: s3 azure gcs https) run and their
 * variables are in the environment; `need` is a variable that must then exist.
 * Returns 0, or exits 77 (skip) / 1 (required but unavailable). */
static inline int st_emulators(const char *services, const char *need) {
    /* scripts/check.sh exports ZT_EMULATOR_ENV; ZT_EMU_ENV is the short form. */
    const char *envf = getenv("ZT_EMU_ENV");
    if (!envf || !*envf) envf = getenv("ZT_EMULATOR_ENV");
    if (envf && *envf) st_load_env(envf);
    if (getenv(need)) return 0;
    const char *src = getenv("ZT_SOURCE_DIR");
    char cmd[2048], path[1024] = "";
    snprintf(cmd, sizeof cmd, "sh '%s/scripts/emulators/run.sh' start --ttl 1800 %s",
             src ? src : ".", services);
    FILE *p = popen(cmd, "r");
    if (p) {
        while (fgets(path, sizeof path, p)) {
        }
        pclose(p);
    }
    path[strcspn(path, "\r\n")] = 0;
    if (*path) st_load_env(path);
    if (getenv(need)) return 0;
    const char *req = getenv("ZT_REQUIRE_EMULATORS");
    fprintf(stderr, "test servers (%s) unavailable: %s\n", services,
            req && *req == '1' ? "FAIL (ZT_REQUIRE_EMULATORS=1)" : "skipping");
    exit(req && *req == '1' ? 1 : 77);
}

/* Deterministic test bytes. */
static inline void st_fill(uint8_t *p, size_t n, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

static inline bool st_same(const zt_buf *b, const uint8_t *p, size_t n) {
    return b->len == n && (n == 0 || memcmp(b->data, p, n) == 0);
}

static inline double st_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    int n_done;
    int n_bad;
    const uint8_t *data;
} st_batch_state;

static inline void st_batch_cb(zt_req *r, void *ud) {
    st_batch_state *s = ud;
    s->n_done++;
    size_t i = (size_t)(uintptr_t)r->user;
    (void)i;
    if (r->status != 0) {
        fprintf(stderr, "batch request %s [%lld,+%lld) failed: %s\n", r->key, (long long)r->offset,
                (long long)r->length, zt_last_error());
        s->n_bad++;
        return;
    }
    if (r->offset >= 0 && s->data && memcmp(r->out.data, s->data + r->offset, r->out.len) != 0)
        s->n_bad++;
}

typedef struct {
    zt_store *s;
    int tid;
    int rc;
} st_thread_arg;

static inline void *st_put_thread(void *a) {
    st_thread_arg *t = a;
    uint8_t buf[3000];
    for (int i = 0; i < 8 && !t->rc; i++) {
        char key[64];
        snprintf(key, sizeof key, "threads/t%d/k%d", t->tid, i);
        st_fill(buf, sizeof buf, (uint32_t)(t->tid * 100 + i));
        t->rc = zt__store_put(t->s, key, buf, sizeof buf);
    }
    return NULL;
}

/* The common round trip: put, get whole/range/suffix, head, batch, list with
 * pagination (page size forced by the caller's options), ETag pinning,
 * not-found, delete, put_batch, put_file (multipart when the options make
 * parts small), concurrent puts from several threads. */
static inline void st_roundtrip(zt_store *s) {
    static const size_t sizes[] = {0, 1, 1000, 300000, 2100000};
    uint8_t *data[5];
    char key[64];
    for (int i = 0; i < 5; i++) {
        data[i] = malloc(sizes[i] + 1);
        st_fill(data[i], sizes[i], (uint32_t)i + 1);
        snprintf(key, sizeof key, "rt/obj%d.bin", i);
        CHECK_OK(zt__store_put(s, key, data[i], sizes[i]));
    }
    zt_buf b;
    zt__buf_init(&b);
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "rt/obj%d.bin", i);
        CHECK_OK(zt__store_get(s, key, &b));
        CHECK(st_same(&b, data[i], sizes[i]));
        zt_stat st;
        CHECK_OK(zt__store_head(s, key, &st));
        CHECK_EQ_INT(st.size, (long long)sizes[i]);
        CHECK(st.etag[0] != 0);
    }
    const uint8_t *big = data[4];
    size_t bn = sizes[4];
    /* Ranges: inside, at the end, past the end, suffix, suffix longer than object. */
    CHECK_OK(zt__store_get_range(s, "rt/obj4.bin", 12345, 1000, &b));
    CHECK(st_same(&b, big + 12345, 1000));
    CHECK_OK(zt__store_get_range(s, "rt/obj4.bin", (int64_t)bn - 10, 100, &b));
    CHECK(st_same(&b, big + bn - 10, 10));
    CHECK_OK(zt__store_get_range(s, "rt/obj4.bin", (int64_t)bn + 10, 100, &b));
    CHECK_EQ_INT(b.len, 0);
    CHECK_OK(zt__store_get_range(s, "rt/obj4.bin", ZT_SUFFIX, 777, &b));
    CHECK(st_same(&b, big + bn - 777, 777));
    CHECK_OK(zt__store_get_range(s, "rt/obj2.bin", ZT_SUFFIX, 5000, &b));
    CHECK(st_same(&b, data[2], 1000));
    CHECK_OK(zt__store_get_range(s, "rt/obj1.bin", 0, 1, &b));
    CHECK(st_same(&b, data[1], 1));

    /* Not found. */
    CHECK_RC(zt__store_get(s, "rt/missing.bin", &b), ZT_ENOTFOUND);
    CHECK_RC(zt__store_get_range(s, "rt/missing.bin", 0, 10, &b), ZT_ENOTFOUND);
    zt_stat st;
    CHECK_RC(zt__store_head(s, "rt/missing.bin", &st), ZT_ENOTFOUND);

    /* A batch of 256 ranges plus a missing key and a suffix. */
    enum { NB = 258 };
    zt_req *reqs = calloc(NB, sizeof *reqs);
    for (int i = 0; i < 256; i++) {
        reqs[i].key = "rt/obj4.bin";
        reqs[i].offset = (int64_t)(i * 8000);
        reqs[i].length = 8000;
        reqs[i].user = (void *)(uintptr_t)i;
    }
    reqs[256].key = "rt/missing.bin";
    reqs[256].offset = ZT_WHOLE;
    reqs[257].key = "rt/obj4.bin";
    reqs[257].offset = ZT_SUFFIX;
    reqs[257].length = 100;
    st_batch_state bs = {0, 0, big};
    CHECK_OK(zt__store_get_batch(s, reqs, NB, st_batch_cb, &bs));
    CHECK_EQ_INT(bs.n_done, NB);
    CHECK_EQ_INT(bs.n_bad, 1); /* the missing key */
    CHECK_RC(reqs[256].status, ZT_ENOTFOUND);
    for (int i = 0; i < 256; i++) CHECK(st_same(&reqs[i].out, big + i * 8000, 8000));
    CHECK(st_same(&reqs[257].out, big + bn - 100, 100));
    for (int i = 0; i < NB; i++) zt__buf_free(&reqs[i].out);

    /* ETag pinning: a pinned read of a replaced object fails with ZT_ECHANGED. */
    zt_stat st3;
    CHECK_OK(zt__store_head(s, "rt/obj3.bin", &st3));
    memset(reqs, 0, NB * sizeof *reqs);
    reqs[0].key = "rt/obj3.bin";
    reqs[0].offset = 0;
    reqs[0].length = 100;
    reqs[0].etag = st3.etag;
    bs = (st_batch_state){0, 0, data[3]};
    CHECK_OK(zt__store_get_batch(s, reqs, 1, st_batch_cb, &bs));
    CHECK_OK(reqs[0].status);
    zt__buf_free(&reqs[0].out);
    uint8_t *other = malloc(sizes[3]);
    st_fill(other, sizes[3], 99);
    sleep(1); /* some servers derive versions from a time stamp in ms or s */
    CHECK_OK(zt__store_put(s, "rt/obj3.bin", other, sizes[3]));
    reqs[0].status = 0;
    bs = (st_batch_state){0, 0, NULL};
    CHECK_OK(zt__store_get_batch(s, reqs, 1, NULL, NULL));
    CHECK_RC(reqs[0].status, ZT_ECHANGED);
    zt__buf_free(&reqs[0].out);
    free(other);

    /* put_batch of 40 objects, then list with and without delimiter. */
    zt_put_req preq[40];
    char pkeys[40][64];
    uint8_t pdata[40][100];
    for (int i = 0; i < 40; i++) {
        snprintf(pkeys[i], sizeof pkeys[i], "rt/many/%s/k%02d", i % 2 ? "odd" : "even", i);
        st_fill(pdata[i], 100, (uint32_t)(1000 + i));
        preq[i] = (zt_put_req){pkeys[i], pdata[i], 100, -1, NULL};
    }
    CHECK_OK(zt__store_put_batch(s, preq, 40, NULL, NULL));
    /* s3rver reports a common prefix only when an object sits directly in it. */
    CHECK_OK(zt__store_put(s, "rt/many/direct", "d", 1));
    for (int i = 0; i < 40; i++) CHECK_OK(preq[i].status);
    CHECK_OK(zt__store_get(s, pkeys[17], &b));
    CHECK(st_same(&b, pdata[17], 100));

    zt_strlist keys, pfx;
    zt__strlist_init(&keys);
    zt__strlist_init(&pfx);
    CHECK_OK(zt__store_list(s, "rt", true, &keys, &pfx));
    CHECK_EQ_INT(keys.n, 5);
    CHECK_EQ_INT(pfx.n, 1);
    if (keys.n == 5) CHECK(!strcmp(keys.items[0], "rt/obj0.bin"));
    if (pfx.n == 1) CHECK(!strcmp(pfx.items[0], "rt/many/"));
    zt__strlist_free(&keys);
    zt__strlist_free(&pfx);
    zt__strlist_init(&keys);
    zt__strlist_init(&pfx);
    CHECK_OK(zt__store_list(s, "rt/many/", false, &keys, NULL));
    CHECK_EQ_INT(keys.n, 41);
    if (keys.n == 41) {
        CHECK(!strcmp(keys.items[0], "rt/many/direct"));
        CHECK(!strcmp(keys.items[1], "rt/many/even/k00"));
        CHECK(!strcmp(keys.items[40], "rt/many/odd/k39"));
    }
    zt__strlist_free(&keys);
    CHECK_OK(zt__store_list(s, "", true, &keys, &pfx));
    CHECK(zt__strlist_contains(&pfx, "rt/"));
    zt__strlist_free(&keys);
    zt__strlist_free(&pfx);

    /* put_file: with the caller's small part size this is a multipart upload. */
    char *tmp = zt_test_tmpdir("st_putfile");
    char path[512];
    snprintf(path, sizeof path, "%s/big.bin", tmp);
    size_t fn = 11u << 20;
    uint8_t *fdata = malloc(fn);
    st_fill(fdata, fn, 4242);
    FILE *f = fopen(path, "wb");
    fwrite(fdata, 1, fn, f);
    fclose(f);
    CHECK_OK(zt__store_put_file(s, "rt/file/big.bin", path, NULL, NULL));
    CHECK_OK(zt__store_get(s, "rt/file/big.bin", &b));
    CHECK(st_same(&b, fdata, fn));
    free(fdata);
    zt_test_system("rm -rf '%s'", tmp);
    free(tmp);

    /* Concurrent puts from several threads (the writer does this). */
    pthread_t th[4];
    st_thread_arg ta[4];
    for (int i = 0; i < 4; i++) {
        ta[i] = (st_thread_arg){s, i, 0};
        pthread_create(&th[i], NULL, st_put_thread, &ta[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_OK(ta[i].rc);
    }
    uint8_t tb[3000];
    st_fill(tb, sizeof tb, 3 * 100 + 7);
    CHECK_OK(zt__store_get(s, "threads/t3/k7", &b));
    CHECK(st_same(&b, tb, sizeof tb));

    /* Delete, then not found; delete a whole prefix. */
    CHECK_OK(zt__store_del(s, "rt/obj0.bin"));
    CHECK_RC(zt__store_get(s, "rt/obj0.bin", &b), ZT_ENOTFOUND);
    CHECK_OK(zt__store_del_prefix(s, "rt"));
    CHECK_OK(zt__store_del_prefix(s, "threads"));
    zt__strlist_init(&keys);
    CHECK_OK(zt__store_list(s, "rt", false, &keys, NULL));
    CHECK_EQ_INT(keys.n, 0);
    zt__strlist_free(&keys);

    free(reqs);
    for (int i = 0; i < 5; i++) free(data[i]);
    zt__buf_free(&b);
}

#endif
