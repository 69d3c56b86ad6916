/* libhdf5's metadata parsing in a forked child (src/hdf5/h5iso.c).
 * - Files that crash or overflow buffers inside libhdf5 1.10.8 (the fuzzer's
 *   reproducers, tests/fuzz/corpus/fuzz_hdf5/regress-libhdf5-*) give a clear
 *   error through the public API and the CLI, never a crash, with no file
 *   descriptor left open and no child left behind (under ASan the child's
 *   overflows are detected: then the error says libhdf5 crashed).
 * - A child killed by a signal, a child that stops answering (SIGSTOP) and a
 *   store error while the child waits for bytes give their own messages.
 * - Valid files give the same tree (the index JSON) and the same number of
 *   store requests with and without isolation, local and "remote" (memory
 *   store, where the chunk-index prefetch runs). */
#include "h5test.h"
#include "format/registry.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define ZT_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ZT_TEST_ASAN 1
#endif
#endif

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d) return -1;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

/* No child left: neither running nor a zombie. */
static bool no_children(void) {
    int st;
    return waitpid(-1, &st, WNOHANG) == -1 && errno == ECHILD;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A child of this process (the isolated parser), or -1. */
static pid_t find_child(void) {
    DIR *d = opendir("/proc");
    pid_t found = -1, self = getpid();
    struct dirent *e;
    while (d && found < 0 && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char p[300], buf[512];
        snprintf(p, sizeof p, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(p, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *q = strrchr(buf, ')');
        char state;
        int ppid;
        if (q && sscanf(q + 1, " %c %d", &state, &ppid) == 2 && ppid == self) found = (pid_t)atoi(e->d_name);
    }
    if (d) closedir(d);
    return found;
}

static char child_state(pid_t pid) {
    char p[64], buf[512];
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *q = strrchr(buf, ')');
    return q && q[1] == ' ' ? q[2] : 0;
}

/* ---- a store that does something to the child at its second read ---------------- */
enum { W_PASS, W_KILL, W_STOP, W_FAIL };
typedef struct wrap {
    zt_store pub;
    zt_store *inner;
    int mode;
    int calls;
    pid_t victim;
} wrap;

static int w_get(zt_store *s, const char *key, int64_t off, int64_t len, zt_buf *out) {
    wrap *w = (wrap *)s;
    if (++w->calls == 2 && w->mode != W_PASS) {
        if (w->mode == W_FAIL) return zt__err(ZT_ENET, "%s: injected network error at byte %lld", s->url, (long long)off);
        pid_t c = find_child();
        w->victim = c;
        CHECK(c > 0); /* the parser is waiting for this read */
        if (c > 0 && w->mode == W_KILL) {
            kill(c, SIGSEGV);
            for (int i = 0; i < 2000 && child_state(c) != 'Z'; i++) usleep(1000);
        }
        if (c > 0 && w->mode == W_STOP) {
            kill(c, SIGSTOP);
            for (int i = 0; i < 2000 && child_state(c) != 'T'; i++) usleep(1000);
        }
    }
    return w->inner->vt->get(w->inner, key, off, len, out);
}

static int w_head(zt_store *s, const char *key, zt_stat *st) {
    wrap *w = (wrap *)s;
    return w->inner->vt->head(w->inner, key, st);
}

static void w_close(zt_store *s) { (void)s; /* the test owns both */ }

static const zt_store_vt w_vt = {.scheme = "memory", .get = w_get, .head = w_head, .close = w_close};

static void wrap_init(wrap *w, zt_store *inner, int mode) {
    memset(w, 0, sizeof *w);
    w->pub.vt = &w_vt;
    w->pub.url = inner->url;
    w->inner = inner;
    w->mode = mode;
}

/* Open through the wrapper with small blocks (many reads); returns rc. */
static int open_wrapped(zt_store *mem, int mode, const char *isolate, const char *timeout, wrap *w) {
    zt_options_t *o = NULL;
    zt_options_create(&o);
    zt_options_set(o, "hdf5_initial_read", "4096");
    zt_options_set(o, "hdf5_block_size", "4096");
    zt_options_set(o, "hdf5_readahead", "4096");
    zt_options_set(o, "hdf5_isolate", isolate);
    if (timeout) zt_options_set(o, "hdf5_timeout", timeout);
    wrap_init(w, mem, mode);
    zt_tree *t = NULL;
    int rc = zt__hdf5_open_tree(&w->pub, "memory://h5iso/test.h5md", o, &t);
    zt__tree_free(t);
    zt_options_free(o);
    return rc;
}

static void test_child_failures(const char *src) {
    size_t n = 0;
    uint8_t *bytes = h5t_slurp(src, &n);
    zt_store *mem = NULL;
    CHECK_OK(zt__store_memory_open("h5iso", NULL, &mem));
    if (!bytes || !mem) return;
    CHECK_OK(zt__store_put(mem, "", bytes, n));
    int fd0 = count_fds();
    wrap w;

    CHECK_OK(open_wrapped(mem, W_PASS, "true", NULL, &w));
    CHECK(w.calls > 2); /* enough reads for the faults below to land mid-parse */

    int rc = open_wrapped(mem, W_KILL, "true", NULL, &w);
    fprintf(stderr, "child killed: %s: %s\n", zt_err_name(rc), zt_last_error());
    CHECK_RC(rc, ZT_ECORRUPT);
    CHECK(strstr(zt_last_error(), "memory://h5iso/test.h5md: the HDF5 library crashed reading the file's "
                                  "metadata (signal 11): the file is corrupt") != NULL);
    CHECK(no_children());
    CHECK_EQ_INT(count_fds(), fd0);

    double t0 = now();
    rc = open_wrapped(mem, W_STOP, "true", "1", &w);
    double dt = now() - t0;
    fprintf(stderr, "child stopped: %s: %s (%.2f s)\n", zt_err_name(rc), zt_last_error(), dt);
    CHECK_RC(rc, ZT_ETIMEDOUT);
    CHECK(strstr(zt_last_error(), "memory://h5iso/test.h5md: the HDF5 library did not finish reading the "
                                  "file's metadata in 1 s") != NULL);
    CHECK(dt >= 1.0 && dt < 30);
    CHECK(no_children());
    CHECK_EQ_INT(count_fds(), fd0);

    /* a store error is the same error as in process */
    int rc_in = open_wrapped(mem, W_FAIL, "false", NULL, &w);
    char *msg_in = strdup(zt_last_error());
    int calls_in = w.calls;
    rc = open_wrapped(mem, W_FAIL, "true", NULL, &w);
    fprintf(stderr, "store error: %s: %s\n", zt_err_name(rc), zt_last_error());
    CHECK_RC(rc, ZT_ENET);
    CHECK_EQ_INT(rc, rc_in);
    CHECK(!strcmp(zt_last_error(), msg_in));
    CHECK(strstr(zt_last_error(), "injected network error") != NULL);
    CHECK_EQ_INT(w.calls, calls_in);
    free(msg_in);
    CHECK(no_children());
    CHECK_EQ_INT(count_fds(), fd0);
    zt__store_close(mem);
    free(bytes);
}

/* ---- the same tree and the same requests -------------------------------------------- */
static json_t *tree_json(const char *url, const char *isolate, uint64_t *requests, double *ms) {
    zt_options_t *o = NULL;
    zt_options_create(&o);
    zt_options_set(o, "hdf5_isolate", isolate);
    zt_options_set(o, "index_cache", "false");
    zt_tree *t = NULL;
    double t0 = now();
    int rc = zt__tree_open(url, o, &t);
    *ms = (now() - t0) * 1e3;
    zt_options_free(o);
    CHECK_OK(rc);
    json_t *j = NULL;
    if (!rc) CHECK_OK(zt__h5_tree_to_json(t, &j));
    *requests = t ? t->store->n_requests : 0;
    zt__tree_free(t);
    return j;
}

static void same_tree(const char *url) {
    uint64_t r_in = 0, r_iso = 0;
    double ms_in = 0, ms_iso = 0;
    json_t *a = tree_json(url, "false", &r_in, &ms_in);
    json_t *b = tree_json(url, "true", &r_iso, &ms_iso);
    for (int k = 0; k < 2; k++) { /* times: the best of three */
        uint64_t r;
        double ms;
        json_decref(tree_json(url, "false", &r, &ms));
        if (ms < ms_in) ms_in = ms;
        json_decref(tree_json(url, "true", &r, &ms));
        if (ms < ms_iso) ms_iso = ms;
    }
    fprintf(stderr, "%s: in process %.1f ms, isolated %.1f ms, %llu / %llu requests\n", url, ms_in, ms_iso,
            (unsigned long long)r_in, (unsigned long long)r_iso);
    CHECK(a && b && json_equal(a, b));
    CHECK_EQ_INT(r_iso, r_in);
    json_decref(a);
    json_decref(b);
}

static void test_same_tree(void) {
    /* ZT_ISOLATE_EXTRA=a.h5md:b.h5md adds files (the cost measurements of
     * docs/hdf5.md: the benchmark's synth and water-box-sized files) */
    const char *files[16] = {"mdanalysis/test.h5md", "generated/mda242_lammps_arkr_xvf_obs_gzip.h5md",
                             "generated/mda242_gromacs_protein_gzip_atomchunks.h5md",
                             "generated/mda242_charmm_tip125_triclinic.h5md"};
    size_t nf = 4;
    char *extra = getenv("ZT_ISOLATE_EXTRA") ? strdup(getenv("ZT_ISOLATE_EXTRA")) : NULL;
    for (char *sp = NULL, *tok = extra ? strtok_r(extra, ":", &sp) : NULL; tok && nf < 16; tok = strtok_r(NULL, ":", &sp))
        files[nf++] = tok;
    for (size_t i = 0; i < nf; i++) {
        char *p = files[i][0] == '/' ? strdup(files[i]) : zt_test_data(files[i]);
        if (access(p, R_OK)) {
            fprintf(stderr, "%s missing; skipped\n", p);
            free(p);
            continue;
        }
        same_tree(p);
        size_t n = 0;
        uint8_t *bytes = h5t_slurp(p, &n);
        zt_store *mem = NULL;
        char name[64];
        snprintf(name, sizeof name, "h5iso-same-%zu", i);
        if (bytes && zt__store_memory_open(name, NULL, &mem) == 0 && zt__store_put(mem, "", bytes, n) == 0) {
            char *url = zt__asprintf("memory://%s", name);
            same_tree(url);
            free(url);
        }
        zt__store_close(mem); /* the data stays under its name until removed */
        free(bytes);
        free(p);
    }
    free(extra);
}

/* ---- libhdf5's crashes ---------------------------------------------------------------- */
static void test_reproducers(const char *tmp) {
    const char *srcdir = getenv("ZT_SOURCE_DIR") ? getenv("ZT_SOURCE_DIR") : "..";
    char *dir = zt__asprintf("%s/tests/fuzz/corpus/fuzz_hdf5", srcdir);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    struct dirent *e;
    int n = 0, crashed = 0;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, "regress-libhdf5-", 16)) continue;
        n++;
        char *src = zt__asprintf("%s/%s", dir, e->d_name);
        char *p = zt__asprintf("%s/%s.h5md", tmp, e->d_name);
        size_t nb = 0;
        uint8_t *b = h5t_slurp(src, &nb);
        FILE *f = fopen(p, "wb");
        if (f && b) fwrite(b, 1, nb, f);
        if (f) fclose(f);
        free(b);
        int fd0 = count_fds();
        zt_reader_t *r = NULL;
        int rc = zt_reader_open(p, NULL, &r);
        fprintf(stderr, "%s: %s: %s\n", e->d_name, zt_err_name(rc), rc ? zt_last_error() : "opened");
        if (rc) CHECK(strstr(zt_last_error(), p) != NULL); /* names the file */
        if (rc && strstr(zt_last_error(), "the HDF5 library crashed")) crashed++;
        zt_reader_close(r);
        CHECK_EQ_INT(count_fds(), fd0);
        CHECK(no_children());
        /* the command line: an error exit (1) or success, never a signal,
         * and not libhdf5's "infinite loop closing library" at exit */
        char *err = zt__asprintf("%s/%s.err", tmp, e->d_name);
        int st = zt_test_system("'%s' info '%s' >/dev/null 2>'%s'", getenv("ZT_CLI"), p, err);
        CHECK(st == 0 || st == 1);
        CHECK_EQ_INT(zt_test_system("grep -q 'infinite loop' '%s'", err), 1);
        free(err);
        free(p);
        free(src);
    }
    if (d) closedir(d);
    fprintf(stderr, "%d reproducers, %d crashed libhdf5 in the child\n", n, crashed);
    CHECK(n >= 3);
#ifdef ZT_TEST_ASAN
    CHECK(crashed > 0); /* ASan sees libhdf5's overflows: the child dies, we report it */
#endif
    free(dir);
}

int main(void) {
    setenv("ZARRTRAJ_INDEX_CACHE", "0", 1);
    unsetenv("ZARRTRAJ_HDF5_ISOLATE");
    char *tmp = zt_test_tmpdir("h5iso");
    char *src = zt_test_data("mdanalysis/test.h5md");
    if (access(src, R_OK)) {
        fprintf(stderr, "no test data; skipping\n");
        return 77;
    }
    CHECK(no_children());
    test_reproducers(tmp);
    test_child_failures(src);
    test_same_tree();
    /* the environment switch: parsed in process (still a valid tree) */
    setenv("ZARRTRAJ_HDF5_ISOLATE", "0", 1);
    CHECK(!zt__h5_isolate_enabled(NULL));
    zt_tree *t = NULL;
    CHECK_OK(zt__tree_open(src, NULL, &t));
    zt__tree_free(t);
    unsetenv("ZARRTRAJ_HDF5_ISOLATE");
    CHECK(zt__h5_isolate_enabled(NULL));
    CHECK(no_children());
    free(src);
    free(tmp);
    TEST_DONE();
}
