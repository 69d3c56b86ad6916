/* zarrtraj cp SRC DST: copy a trajectory (every key under a zarrmd prefix, or
 * one object such as an .h5md file) between any two stores, concurrently.
 * Large objects go through put_file (S3 multipart, Azure blocks, GCS
 * resumable); from a remote source they are first fetched in parallel ranges
 * into a temporary file. */
#include "cli.h"
#include "store/store.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ZT_CP_BIG ((int64_t)64 << 20)   /* larger objects: via a file and put_file */
#define ZT_CP_RANGE ((int64_t)8 << 20)  /* range size when fetching big objects */

typedef struct {
    zt_store *src, *dst;
    zt_strlist keys;
    bool single;               /* copy key "" to dst key "" */
    _Atomic size_t next;
    _Atomic uint64_t bytes;
    _Atomic size_t done;
    atomic_bool failed;
    pthread_mutex_t mu;
    char *err;
    int err_rc;
} zt_cp;

static void zt__cp_fail(zt_cp *c, int rc, const char *key) {
    pthread_mutex_lock(&c->mu);
    if (!c->err) {
        const char *m = zt_last_error();
        c->err = zt__asprintf("%s%s%s", key && *key ? key : "", key && *key ? ": " : "", m && *m ? m : zt_strerror(rc));
        c->err_rc = rc;
    }
    pthread_mutex_unlock(&c->mu);
    atomic_store(&c->failed, true);
}

typedef struct {
    int fd;
    int rc;
    zt_cp *c;
} zt_cp_fetch;

static void zt__cp_range_done(zt_req *r, void *ud) {
    zt_cp_fetch *f = ud;
    if (r->status) {
        if (!f->rc) f->rc = r->status;
    } else {
        size_t off = 0;
        while (off < r->out.len && !f->rc) {
            ssize_t k = pwrite(f->fd, r->out.data + off, r->out.len - off, (off_t)(r->offset + (int64_t)off));
            if (k <= 0) f->rc = zt__err(ZT_EIO, "cannot write a temporary file");
            else off += (size_t)k;
        }
        atomic_fetch_add(&f->c->bytes, r->out.len / 2); /* half: download; half at upload */
    }
    zt__buf_free(&r->out);
}

typedef struct {
    zt_cp *c;
    uint64_t last;
} zt_cp_prog;

static void zt__cp_progress(void *ud, uint64_t done, uint64_t total) {
    (void)total;
    zt_cp_prog *p = ud;
    if (done > p->last) atomic_fetch_add(&p->c->bytes, done - p->last);
    p->last = done;
}

/* Copy one big object through a temporary file. */
static int zt__cp_big(zt_cp *c, const char *key, int64_t size) {
    if (zt__store_can(c->src, ZT_STORE_CAP_LOCAL_PATH)) {
        char *path = *key ? zt__path_join(c->src->local_path, key) : zt__strdup(c->src->local_path);
        zt_cp_prog p = {c, 0};
        int rc = path ? zt__store_put_file(c->dst, key, path, zt__cp_progress, &p) : ZT_ENOMEM;
        free(path);
        return rc;
    }
    const char *tmpdir = getenv("TMPDIR");
    char *tmp = zt__asprintf("%s/zarrtraj-cp-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = tmp ? mkstemp(tmp) : -1;
    if (fd < 0) {
        free(tmp);
        return zt__err(ZT_EIO, "cannot create a temporary file");
    }
    size_t n = (size_t)((size + ZT_CP_RANGE - 1) / ZT_CP_RANGE);
    zt_req *r = calloc(n ? n : 1, sizeof *r);
    zt_cp_fetch f = {fd, 0, c};
    int rc = r ? 0 : zt__err(ZT_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        r[i].key = key;
        r[i].offset = (int64_t)i * ZT_CP_RANGE;
        r[i].length = size - r[i].offset < ZT_CP_RANGE ? size - r[i].offset : ZT_CP_RANGE;
    }
    /* Windows of 8 ranges bound the memory held by completed bodies. */
    for (size_t i = 0; !rc && i < n; i += 8) {
        rc = zt__store_get_batch(c->src, r + i, n - i < 8 ? n - i : 8, zt__cp_range_done, &f);
        if (!rc) rc = f.rc;
    }
    free(r);
    close(fd);
    if (!rc) {
        zt_cp_prog p = {c, 0};
        rc = zt__store_put_file(c->dst, key, tmp, NULL, NULL);
        if (!rc) zt__cp_progress(&p, (uint64_t)size / 2, (uint64_t)size);
    }
    unlink(tmp);
    free(tmp);
    return rc;
}

static int zt__cp_one(zt_cp *c, const char *key) {
    zt_stat st;
    int rc = zt__store_head(c->src, key, &st);
    if (rc) return rc;
    if (st.size > ZT_CP_BIG) return zt__cp_big(c, key, st.size);
    zt_buf b;
    zt__buf_init(&b);
    rc = zt__store_get(c->src, key, &b);
    if (!rc) rc = zt__store_put(c->dst, key, b.data ? (void *)b.data : (void *)"", b.len);
    if (!rc) atomic_fetch_add(&c->bytes, b.len);
    zt__buf_free(&b);
    return rc;
}

static void *zt__cp_worker(void *arg) {
    zt_cp *c = arg;
    for (;;) {
        if (atomic_load(&c->failed)) break;
        size_t i = atomic_fetch_add(&c->next, 1);
        size_t n = c->single ? 1 : c->keys.n;
        if (i >= n) break;
        const char *key = c->single ? "" : c->keys.items[i];
        int rc = zt__cp_one(c, key);
        if (rc) {
            zt__cp_fail(c, rc, key);
            break;
        }
        atomic_fetch_add(&c->done, 1);
    }
    return NULL;
}

static void zt__cp_usage(FILE *f) {
    fprintf(f,
            "usage: zarrtraj cp SRC DST [-S key=value ...] [--src-option key=value]\n"
            "                   [--dst-option key=value] [-j N] [-q]\n\n"
            "Copy a trajectory between stores: every key under a zarrmd prefix, or a\n"
            "single object (an .h5md file). SRC and DST are local paths, file://, s3://,\n"
            "gs://, gcs://, az://, abfs:// URLs; SRC may also be http(s):// (one object).\n"
            "A DST ending in '/' receives a single object under SRC's file name.\n\n"
            "  -S key=value          storage option for both sides (endpoint_url, anon,\n"
            "                        region, profile, key, secret, token, account_name, ...)\n"
            "  --src-option k=v      storage option for SRC only\n"
            "  --dst-option k=v      storage option for DST only\n"
            "  -j N                  objects copied at once (default 8)\n"
            "  -q                    no progress or summary\n");
}

int zt_cmd_cp(int argc, char **argv) {
    const char *srcu = NULL, *dstu = NULL;
    zt_options_t *so = NULL, *dopt = NULL;
    int jobs = 8, rc = 0;
    bool quiet = false;
    zt_options_create(&so);
    zt_options_create(&dopt);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            zt__cp_usage(stdout);
            zt_options_free(so);
            zt_options_free(dopt);
            return 0;
        }
        bool both = !strcmp(a, "-S") || !strcmp(a, "--storage-option");
        bool src = !strcmp(a, "--src-option"), dst = !strcmp(a, "--dst-option");
        if (both || src || dst || !strcmp(a, "-j")) {
            if (i + 1 >= argc) {
                rc = zt_cli_usage_error("cp", "%s needs a value", a);
                break;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "-j")) {
                jobs = atoi(v);
                if (jobs < 1 || jobs > 256) {
                    rc = zt_cli_usage_error("cp", "-j must be between 1 and 256");
                    break;
                }
                continue;
            }
            int e = 0;
            if (both || src) e = zt_options_set_kv(so, v);
            if (!e && (both || dst)) e = zt_options_set_kv(dopt, v);
            if (e) {
                rc = zt_cli_usage_error("cp", "bad storage option '%s' (want key=value)", v);
                break;
            }
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = true;
        } else if (a[0] == '-' && a[1]) {
            rc = zt_cli_usage_error("cp", "unknown option %s", a);
            break;
        } else if (!srcu) {
            srcu = a;
        } else if (!dstu) {
            dstu = a;
        } else {
            rc = zt_cli_usage_error("cp", "too many arguments");
            break;
        }
    }
    if (!rc && (!srcu || !dstu)) rc = zt_cli_usage_error("cp", "needs SRC and DST");
    if (rc) {
        zt_options_free(so);
        zt_options_free(dopt);
        return rc;
    }

    zt_cp c;
    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.mu, NULL);
    zt__strlist_init(&c.keys);
    char *dsturl = NULL;
    int e = zt__store_open(srcu, so, &c.src);
    if (!e) {
        e = zt__store_list(c.src, "", false, &c.keys, NULL);
        if (e == ZT_EUNSUPPORTED || (!e && c.keys.n == 0)) {
            zt_stat st;
            e = zt__store_head(c.src, "", &st);
            if (e == ZT_ENOTFOUND) e = zt__err(ZT_ENOTFOUND, "%s: nothing to copy (no object or keys there)", srcu);
            c.single = !e;
        }
    }
    if (!e) {
        /* "DST/" receives a single object under its own name. */
        size_t dl = strlen(dstu);
        if (c.single && dl && dstu[dl - 1] == '/') {
            const char *s = srcu + strlen(srcu);
            while (s > srcu && s[-1] == '/') s--;
            const char *b = s;
            while (b > srcu && b[-1] != '/') b--;
            dsturl = zt__asprintf("%s%.*s", dstu, (int)(s - b), b);
        } else {
            dsturl = zt__strdup(dstu);
        }
        e = dsturl ? zt__store_open(dsturl, dopt, &c.dst) : ZT_ENOMEM;
    }
    if (!e) {
        size_t n = c.single ? 1 : c.keys.n;
        if ((size_t)jobs > n) jobs = (int)n;
        pthread_t *th = calloc((size_t)jobs, sizeof *th);
        int started = 0;
        double t0 = zt_cli_now();
        for (int i = 0; th && i < jobs; i++)
            if (pthread_create(&th[started], NULL, zt__cp_worker, &c) == 0) started++;
        if (!started) zt__cp_worker(&c);
        bool tty = !quiet && isatty(fileno(stderr));
        /* The main thread draws the progress bar while workers copy. */
        while (tty && atomic_load(&c.done) < n && !atomic_load(&c.failed)) {
            usleep(200000);
            double dt = zt_cli_now() - t0;
            uint64_t by = atomic_load(&c.bytes);
            size_t d = atomic_load(&c.done);
            int w = (int)(30.0 * (double)d / (double)n);
            fprintf(stderr, "\rcp [%.*s%*s] %zu/%zu objects %.1f MB %.1f MB/s   ", w,
                    "##############################", 30 - w, "", d, n, (double)by / 1e6,
                    dt > 0 ? (double)by / 1e6 / dt : 0.0);
            fflush(stderr);
        }
        for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
        free(th);
        double dt = zt_cli_now() - t0;
        uint64_t by = atomic_load(&c.bytes);
        if (tty) fprintf(stderr, "\r%*s\r", 90, "");
        if (!quiet && !c.err)
            fprintf(stderr, "copied %zu object%s, %.1f MB in %.2f s (%.1f MB/s)\n", n, n == 1 ? "" : "s",
                    (double)by / 1e6, dt, dt > 0 ? (double)by / 1e6 / dt : 0.0);
        if (c.err) e = zt__err(c.err_rc, "%s", c.err);
    }
    zt__store_close(c.src);
    zt__store_close(c.dst);
    zt__strlist_free(&c.keys);
    free(c.err);
    free(dsturl);
    pthread_mutex_destroy(&c.mu);
    zt_options_free(so);
    zt_options_free(dopt);
    return e ? zt_cli_fail("cp", e) : 0;
}
