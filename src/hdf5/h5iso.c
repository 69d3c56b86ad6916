/* libhdf5's metadata parsing in a forked child. A remote file is untrusted
 * input, and libhdf5 1.10.8 overflows heap buffers, frees wild pointers,
 * loops or leaks on some corrupt files (the fuzzer finds them in a minute),
 * which must not take the calling process down. The child runs H5Fopen and
 * the tree walk with a driver whose reads are requests to this process
 * (which serves them from the store with its threads and connections), then
 * sends the tree as the index-cache JSON and exits; this process rebuilds
 * the tree from it. A crash, a hang (no message for hdf5_timeout seconds) or
 * a garbled message is an error naming the file.
 *
 * Messages on a socket pair (little-endian integers):
 *   child -> parent  'R' u32 n, n x (u64 offset, u64 length)   read request
 *                    'L' u8 level, u32 len, text                a log line
 *                    'D' i32 rc, u32 len, message, u64 len, JSON   result
 *   parent -> child  i32 rc, u32 len, message, then when rc == 0
 *                    n x (i32 status, u64 len, bytes)           read reply
 * n = 1 is one range read (its error is rc), n > 1 a batch (the B-tree
 * prefetch), so the requests the store sees are those of an in-process
 * parse: the block cache and read-ahead run in the child as before. */
#include "hdf5/hdf5.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define ZT_ISO_MAX_REQS 65536
#define ZT_ISO_MAX_MSG 8192 /* error messages and log lines (zt__log: 4096) */
#define ZT_ISO_MAX_JSON ((uint64_t)1 << 32)
#define ZT_ISO_DEFAULT_TIMEOUT 120.0
/* exit status of a child whose parent went away (never reported) */
#define ZT_ISO_EXIT_ORPHAN 3

/* Weak: present when built with a sanitizer (or under libFuzzer). */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

bool zt__h5_isolate_enabled(const zt_options_t *opts) {
    const char *v = zt_options_get(opts, "hdf5_isolate");
    if (!v) v = getenv("ZARRTRAJ_HDF5_ISOLATE");
    if (!v || !*v) return true;
    return !(!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"));
}

static void zt__put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void zt__put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t zt__get32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static uint64_t zt__get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* send() without SIGPIPE (the other side may be gone), retried on EINTR. */
static int zt__iso_send(int fd, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* ---- the child ------------------------------------------------------------------ */
static int zt__iso_fd = -1;

/* Blocking read; the parent always answers or is gone (then we exit). */
static void zt__iso_child_recv(void *p, size_t n) {
    uint8_t *b = p;
    while (n) {
        ssize_t k = recv(zt__iso_fd, b, n, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) _exit(ZT_ISO_EXIT_ORPHAN);
        b += k;
        n -= (size_t)k;
    }
}

static void zt__iso_child_send(const void *p, size_t n) {
    if (zt__iso_send(zt__iso_fd, p, n)) _exit(ZT_ISO_EXIT_ORPHAN);
}

static int zt__iso_child_fetch(void *ud, zt_req *reqs, size_t n) {
    (void)ud;
    uint8_t h[16];
    h[0] = 'R';
    zt__put32(h + 1, (uint32_t)n);
    zt__iso_child_send(h, 5);
    for (size_t i = 0; i < n; i++) {
        zt__put64(h, (uint64_t)reqs[i].offset);
        zt__put64(h + 8, (uint64_t)reqs[i].length);
        zt__iso_child_send(h, 16);
    }
    zt__iso_child_recv(h, 8);
    int rc = (int32_t)zt__get32(h);
    uint32_t ml = zt__get32(h + 4);
    if (ml >= ZT_ISO_MAX_MSG) _exit(ZT_ISO_EXIT_ORPHAN);
    char msg[ZT_ISO_MAX_MSG];
    zt__iso_child_recv(msg, ml);
    msg[ml] = 0;
    if (rc) return zt__err(rc, "%s", msg);
    for (size_t i = 0; i < n; i++) {
        zt__iso_child_recv(h, 12);
        reqs[i].status = (int32_t)zt__get32(h);
        uint64_t len = zt__get64(h + 4);
        if (zt__buf_resize(&reqs[i].out, (size_t)len)) _exit(ZT_ISO_EXIT_ORPHAN);
        zt__iso_child_recv(reqs[i].out.data, (size_t)len);
    }
    return 0;
}

static void zt__iso_child_log(int level, const char *line) {
    size_t n = strnlen(line, ZT_ISO_MAX_MSG - 1);
    uint8_t h[6];
    h[0] = 'L';
    h[1] = (uint8_t)level;
    zt__put32(h + 2, (uint32_t)n);
    zt__iso_child_send(h, 6);
    zt__iso_child_send(line, n);
}

static void zt__iso_child(int fd, pid_t parent, zt_store *s, zt_tree *t, int64_t size, const zt_h5io_opts *o) {
    zt__iso_fd = fd;
    /* A crash here is reported by the parent: the embedding process's own
     * handlers (Python's faulthandler and SIGINT handler, libFuzzer's crash
     * and sanitizer death callbacks) must not run in the child. A Ctrl-C
     * (sent to the whole process group) is the parent's to handle; a parent
     * that dies takes the child with it (PR_SET_PDEATHSIG). */
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        bool ign = sig == SIGPIPE || sig == SIGINT || sig == SIGQUIT || sig == SIGHUP || sig == SIGTSTP;
        signal(sig, ign ? SIG_IGN : SIG_DFL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(NULL);
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
    if (getppid() != parent) _exit(ZT_ISO_EXIT_ORPHAN);
    zt__log_set_sink(zt__iso_child_log);
    zt_h5io *io = NULL;
    int rc = zt__h5io_new(s, t->url, size, o, &io);
    if (!rc) {
        zt__h5io_set_fetch(io, zt__iso_child_fetch, NULL);
        rc = zt__h5_parse(io, t, size);
    }
    json_t *j = NULL;
    char *txt = NULL;
    if (!rc) rc = zt__h5_tree_to_json(t, &j);
    if (!rc && !(txt = json_dumps(j, JSON_COMPACT))) rc = zt__err(ZT_ENOMEM, "out of memory");
    const char *msg = rc ? zt_last_error() : "";
    size_t ml = strnlen(msg, ZT_ISO_MAX_MSG - 1), jl = txt ? strlen(txt) : 0;
    uint8_t h[9];
    h[0] = 'D';
    zt__put32(h + 1, (uint32_t)rc);
    zt__put32(h + 5, (uint32_t)ml);
    zt__iso_child_send(h, 9);
    zt__iso_child_send(msg, ml);
    zt__put64(h, (uint64_t)jl);
    zt__iso_child_send(h, 8);
    zt__iso_child_send(txt, jl);
    /* nothing is freed or closed: the process ends (no atexit handlers, no
     * stdio flush of the parent's buffers) */
    _exit(0);
}

/* ---- the parent ----------------------------------------------------------------- */
typedef struct zt_iso {
    int fd;
    pid_t pid;
    const char *url;
    double limit;   /* seconds without a message from the child */
    double last;    /* when the child last spoke (or was last answered) */
    bool reaped;
    int status;     /* waitpid status; -1 unknown (reaped by someone else) */
    bool timed_out;
} zt_iso;

static double zt__iso_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void zt__iso_poll_child(zt_iso *x, int flags) {
    while (!x->reaped) {
        int st = 0;
        pid_t r = waitpid(x->pid, &st, flags);
        if (r == x->pid) {
            x->reaped = true;
            x->status = st;
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else if (r < 0) { /* ECHILD: SIGCHLD ignored, or reaped by another waitpid(-1) */
            x->reaped = true;
            x->status = -1;
        }
        break;
    }
}

/* Reap the child: it exits by itself within grace seconds, or is killed. */
static void zt__iso_reap(zt_iso *x, double grace) {
    double end = zt__iso_now() + grace;
    zt__iso_poll_child(x, WNOHANG);
    long ns = 20000; /* it is exiting: poll often, then back off */
    while (!x->reaped && zt__iso_now() < end) {
        struct timespec d = {0, ns};
        nanosleep(&d, NULL);
        if (ns < 2000000) ns *= 2;
        zt__iso_poll_child(x, WNOHANG);
    }
    if (!x->reaped) {
        kill(x->pid, SIGKILL);
        zt__iso_poll_child(x, 0);
    }
}

/* Read exactly n bytes from the child: 0, or -1 (the child is gone or sent
 * nothing for limit seconds: x->timed_out). */
static int zt__iso_recv(zt_iso *x, void *p, size_t n) {
    uint8_t *b = p;
    while (n) {
        struct pollfd pf = {x->fd, POLLIN, 0};
        int r = poll(&pf, 1, 250);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) {
            /* the socket may stay open after the child died (a sibling
             * forked by another thread holds a copy): check the child too */
            zt__iso_poll_child(x, WNOHANG);
            if (x->reaped) return -1;
            if (zt__iso_now() - x->last > x->limit) {
                x->timed_out = true;
                return -1;
            }
            continue;
        }
        ssize_t k = recv(x->fd, b, n, 0);
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (k <= 0) return -1;
        b += k;
        n -= (size_t)k;
        x->last = zt__iso_now();
    }
    return 0;
}

static void zt__iso_noop(zt_req *r, void *ud) {
    (void)r;
    (void)ud;
}

/* Serve one read request; -1 when the child is gone or sent nonsense. */
static int zt__iso_serve_read(zt_iso *x, zt_store *s, int64_t size) {
    uint8_t h[16];
    if (zt__iso_recv(x, h, 4)) return -1;
    uint32_t n = zt__get32(h);
    if (n == 0 || n > ZT_ISO_MAX_REQS) return -1;
    zt_req *reqs = calloc(n, sizeof *reqs);
    if (!reqs) return -1;
    int ret = 0;
    for (uint32_t i = 0; i < n && !ret; i++) {
        if (zt__iso_recv(x, h, 16)) ret = -1;
        uint64_t off = zt__get64(h), len = zt__get64(h + 8);
        /* the child's driver asks for ranges inside the file only */
        if (!ret && (off > (uint64_t)size || len > (uint64_t)size - off)) ret = -1;
        reqs[i].key = "";
        reqs[i].offset = (int64_t)off;
        reqs[i].length = (int64_t)len;
        zt__buf_init(&reqs[i].out);
    }
    if (!ret) {
        int rc = n == 1 ? zt__store_get_range(s, "", reqs[0].offset, reqs[0].length, &reqs[0].out)
                        : zt__store_get_batch(s, reqs, n, zt__iso_noop, NULL);
        const char *msg = rc ? zt_last_error() : "";
        size_t ml = strnlen(msg, ZT_ISO_MAX_MSG - 1);
        uint8_t r[12];
        zt__put32(r, (uint32_t)rc);
        zt__put32(r + 4, (uint32_t)ml);
        if (zt__iso_send(x->fd, r, 8) || zt__iso_send(x->fd, msg, ml)) ret = -1;
        for (uint32_t i = 0; !rc && !ret && i < n; i++) {
            zt__put32(r, (uint32_t)reqs[i].status);
            zt__put64(r + 4, (uint64_t)reqs[i].out.len);
            if (zt__iso_send(x->fd, r, 12) || zt__iso_send(x->fd, reqs[i].out.data, reqs[i].out.len)) ret = -1;
        }
        zt__err_clear();
        x->last = zt__iso_now(); /* the time spent serving is not the child's */
    }
    for (uint32_t i = 0; i < n; i++) zt__buf_free(&reqs[i].out);
    free(reqs);
    return ret;
}

static int zt__iso_log(zt_iso *x) {
    uint8_t h[5];
    if (zt__iso_recv(x, h, 5)) return -1;
    uint32_t n = zt__get32(h + 1);
    if (h[0] > ZT_LOG_ERROR || n >= ZT_ISO_MAX_MSG) return -1;
    char line[ZT_ISO_MAX_MSG];
    if (zt__iso_recv(x, line, n)) return -1;
    line[n] = 0;
    zt__log(h[0], "%s", line);
    return 0;
}

/* The child's result: 1 when received (*rc, *json set), -1 on failure. */
static int zt__iso_result(zt_iso *x, int *rc, char **msg, char **json, size_t *jlen) {
    uint8_t h[8];
    if (zt__iso_recv(x, h, 8)) return -1;
    *rc = (int32_t)zt__get32(h);
    uint32_t ml = zt__get32(h + 4);
    if (ml >= ZT_ISO_MAX_MSG || *rc > 0 || *rc < ZT_ERR_MIN) return -1;
    *msg = malloc(ml + 1);
    if (!*msg || zt__iso_recv(x, *msg, ml)) return -1;
    (*msg)[ml] = 0;
    if (zt__iso_recv(x, h, 8)) return -1;
    uint64_t jl = zt__get64(h);
    if (jl > ZT_ISO_MAX_JSON || (*rc && jl)) return -1;
    *json = malloc((size_t)jl + 1);
    if (!*json || zt__iso_recv(x, *json, (size_t)jl)) return -1;
    (*json)[jl] = 0;
    *jlen = (size_t)jl;
    return 1;
}

static double zt__iso_timeout(const zt_options_t *opts) {
    const char *v = zt_options_get(opts, "hdf5_timeout");
    if (!v || !*v) return ZT_ISO_DEFAULT_TIMEOUT;
    char *end;
    double t = strtod(v, &end);
    return *end || !(t > 0) ? ZT_ISO_DEFAULT_TIMEOUT : t;
}

int zt__h5_parse_isolated(zt_store *s, const char *url, int64_t size, const zt_h5io_opts *o,
                          const zt_options_t *opts, zt_tree *t, bool *done) {
    *done = false;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
        ZT_WARN("%s: no socket pair for an isolated HDF5 parser (%s); libhdf5 parses in this process", url,
                strerror(errno));
        return 0;
    }
    (void)zt__log_level(); /* initialised before the fork */
    pid_t parent = getpid();
    double t0 = zt__iso_now();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        ZT_WARN("%s: cannot fork an isolated HDF5 parser (%s); libhdf5 parses in this process", url, strerror(e));
        return 0;
    }
    if (pid == 0) {
        close(sv[0]);
        zt__iso_child(sv[1], parent, s, t, size, o);
    }
    close(sv[1]);
    *done = true;
    zt_iso x = {sv[0], pid, url, zt__iso_timeout(opts), zt__iso_now(), false, 0, false};
    int got = 0, crc = 0;
    char *msg = NULL, *json = NULL;
    size_t jlen = 0;
    while (!got) {
        uint8_t type;
        if (zt__iso_recv(&x, &type, 1)) break;
        if (type == 'R') {
            if (zt__iso_serve_read(&x, s, size)) break;
        } else if (type == 'L') {
            if (zt__iso_log(&x)) break;
        } else if (type == 'D') {
            got = zt__iso_result(&x, &crc, &msg, &json, &jlen);
        } else {
            break;
        }
    }
    close(sv[0]);
    double t1 = zt__iso_now();
    /* a child that sent its result exits at once; any other is killed
     * (hung, or confused) unless it already died */
    zt__iso_reap(&x, got > 0 ? 10.0 : 0.0);
    ZT_DEBUG("hdf5: %s: isolated parser: result after %.2f ms, reaped after %.2f ms", url, (t1 - t0) * 1e3,
             (zt__iso_now() - t0) * 1e3);
    int rc;
    if (got > 0 && crc) {
        rc = zt__err(crc, "%s", msg);
    } else if (got > 0) {
        json_error_t je;
        json_t *j = json_loadb(json, jlen, 0, &je);
        rc = j ? zt__h5_tree_from_json(t, j, size)
               : zt__err(ZT_EIO, "%s: the isolated HDF5 parser sent an unreadable tree (%s)", url, je.text);
        json_decref(j);
    } else if (x.timed_out) {
        rc = zt__err(ZT_ETIMEDOUT, "%s: the HDF5 library did not finish reading the file's metadata in %g s "
                     "(killed; a corrupt file makes it loop; storage option hdf5_timeout)", url, x.limit);
    } else if (x.status != -1 && WIFSIGNALED(x.status) && WTERMSIG(x.status) != SIGKILL) {
        rc = zt__err(ZT_ECORRUPT, "%s: the HDF5 library crashed reading the file's metadata (signal %d): "
                     "the file is corrupt", url, WTERMSIG(x.status));
    } else if (x.status != -1 && WIFEXITED(x.status) && WEXITSTATUS(x.status) != 0) {
        /* a sanitizer's report ends the process with an exit status */
        rc = zt__err(ZT_ECORRUPT, "%s: the HDF5 library crashed reading the file's metadata (exit status %d): "
                     "the file is corrupt", url, WEXITSTATUS(x.status));
    } else {
        rc = zt__err(ZT_ECORRUPT, "%s: the isolated HDF5 parser ended without a result (%s): the file is corrupt?",
                     url, x.status == -1 ? "its exit status was collected elsewhere" : "killed");
    }
    free(msg);
    free(json);
    return rc;
}
