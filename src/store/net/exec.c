/* The shared request runner of the network stores: per-attempt preparation
 * (URL, Range/If-Match, the back end's signature, libcurl options), a
 * concurrency limit, retries with exponential backoff and jitter (honouring
 * Retry-After) bounded by attempts and a deadline, checks of every response
 * (status, Content-Range, length, pinned version), error mapping and request
 * logging with secrets redacted. Also the generic store operations. */
#include "store/net/net.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- options and environment ---------------------------------------------------- */

const char *zt__opt(const zt_options_t *o, const char *key) {
    const char *v = o ? zt_options_get(o, key) : NULL;
    return v && *v ? v : NULL;
}

const char *zt__env_first(const char *name, ...) {
    va_list ap;
    va_start(ap, name);
    const char *r = NULL;
    for (const char *n = name; n && !r; n = va_arg(ap, const char *)) {
        const char *v = getenv(n);
        if (v && *v) r = v;
    }
    va_end(ap);
    return r;
}

bool zt__opt_bool(const zt_options_t *o, const char *key, bool dflt) {
    const char *v = zt__opt(o, key);
    if (!v) return dflt;
    return !strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
           !strcasecmp(v, "on");
}

char *zt__read_small_file(const char *path, size_t max) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    zt_buf b;
    zt__buf_init(&b);
    char tmp[4096];
    size_t k;
    bool ok = true;
    while (ok && (k = fread(tmp, 1, sizeof tmp, f)) > 0) {
        ok = b.len + k <= max && zt__buf_append(&b, tmp, k) == 0;
    }
    fclose(f);
    if (ok) ok = zt__buf_append(&b, "", 1) == 0;
    if (!ok) {
        zt__buf_free(&b);
        return NULL;
    }
    size_t l;
    return (char *)zt__buf_steal(&b, &l);
}

static const char *zt__trim(char *s, char **end) {
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && strchr(" \t\r\n", e[-1])) e--;
    *e = 0;
    if (end) *end = e;
    return s;
}

char *zt__ini_get(const char *text, const char *section, const char *key) {
    if (!text) return NULL;
    char *copy = zt__strdup(text), *save = NULL, *res = NULL;
    if (!copy) return NULL;
    bool in = false;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *l = zt__trim(line, NULL);
        if (*l == '#' || *l == ';' || !*l) continue;
        if (*l == '[') {
            char *e = strchr(l, ']');
            if (!e) {
                in = false;
                continue;
            }
            *e = 0;
            char *name = (char *)l + 1;
            in = !strcmp(zt__trim(name, NULL), section);
            continue;
        }
        if (!in) continue;
        char *eq = strchr(l, '=');
        if (!eq) continue;
        *eq = 0;
        if (!strcmp(zt__trim((char *)l, NULL), key)) {
            free(res);
            res = zt__strdup(zt__trim(eq + 1, NULL));
        }
    }
    free(copy);
    return res;
}

/* ---- configuration ------------------------------------------------------------------- */

static int zt__opt_num(const zt_options_t *o, const char *key, double lo, double hi, double *v) {
    const char *s = zt__opt(o, key);
    if (!s) return 0;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (errno || end == s || *end || !(d >= lo && d <= hi))
        return zt__err(ZT_EINVAL, "storage option %s=%s: expected a number in [%g, %g]", key, s,
                       lo, hi);
    *v = d;
    return 0;
}

int zt__netcfg_init(zt_netcfg *c, const zt_options_t *o, const char *url) {
    memset(c, 0, sizeof *c);
    double mc = 32, re = 5, to = 30, dl = 300, bo = 0.2, ps = 8 << 20, mt = 16 << 20;
    int rc = 0;
    if ((rc = zt__opt_num(o, "max_concurrency", 1, 1024, &mc)) ||
        (rc = zt__opt_num(o, "retries", 0, 100, &re)) ||
        (rc = zt__opt_num(o, "timeout", 0.05, 86400, &to)) ||
        (rc = zt__opt_num(o, "deadline", 0.05, 864000, &dl)) ||
        (rc = zt__opt_num(o, "backoff", 0, 60, &bo)) ||
        (rc = zt__opt_num(o, "part_size", 1024, 5.0 * 1024 * 1024 * 1024, &ps)) ||
        (rc = zt__opt_num(o, "multipart_threshold", 0, 1e15, &mt)))
        return zt__err_prefix(rc, "%s: ", url);
    c->max_concurrency = (int)mc;
    c->retries = (int)re;
    c->timeout = to;
    c->deadline = dl;
    c->backoff = bo;
    c->part_size = (int64_t)ps;
    c->multipart_threshold = (int64_t)mt;
    c->verify = !(zt__opt(o, "verify") && !zt__opt_bool(o, "verify", true));
    /* libcurl reads neither variable by itself. */
    const char *ca = zt__opt(o, "ca_file");
    if (!ca) ca = zt__env_first("CURL_CA_BUNDLE", "SSL_CERT_FILE", NULL);
    if (ca && !(c->ca_file = zt__strdup(ca))) return zt__err(ZT_ENOMEM, "out of memory");
    return 0;
}

void zt__netcfg_free(zt_netcfg *c) {
    free(c->ca_file);
    c->ca_file = NULL;
}

int zt__split_base(const char *url, char **base, char **host, const char **rest) {
    const char *s = strstr(url, "://");
    if (!s) return zt__err(ZT_EINVAL, "%s: not a URL", url);
    const char *a = s + 3, *e = a + strcspn(a, "/?#");
    const char *at = memchr(a, '@', (size_t)(e - a));
    const char *h = at ? at + 1 : a;
    if (h == e) return zt__err(ZT_EINVAL, "%s: URL has no host", url);
    *host = zt__strndup(h, (size_t)(e - h));
    *base = zt__asprintf("%.*s%.*s", (int)(a - url), url, (int)(e - h), h);
    if (rest) *rest = e;
    if (!*host || !*base) {
        free(*host);
        free(*base);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    return 0;
}

int zt__netstore_init(zt_netstore *ns, const zt_store_vt *vt, const zt_netops *ops,
                      const char *url, const zt_options_t *opts) {
    ns->base.vt = vt;
    ns->ops = ops;
    int rc = zt__netcfg_init(&ns->cfg, opts, url);
    if (rc) return rc;
    ns->base.url = zt__strdup(url);
    if (!ns->base.url) return zt__err(ZT_ENOMEM, "out of memory");
    rc = zt__engine_acquire();
    if (rc) return rc;
    ns->engine_held = true;
    return 0;
}

void zt__netstore_fini(zt_netstore *ns) {
    if (ns->engine_held) zt__engine_release();
    ns->engine_held = false;
    zt__netcfg_free(&ns->cfg);
    free(ns->base_url);
    free(ns->host);
    free(ns->base.url);
}

/* ---- redaction --------------------------------------------------------------------- */

/* Query parameters whose values are safe to show. */
static bool zt__safe_param(const char *name, size_t n) {
    static const char *safe[] = {"prefix", "delimiter", "max-keys", "list-type", "comp",
                                 "restype", "maxresults", "maxResults", "alt", "uploadType",
                                 "partNumber", "name", "uploads", "blockid", NULL};
    for (int i = 0; safe[i]; i++)
        if (strlen(safe[i]) == n && !strncmp(name, safe[i], n)) return true;
    return false;
}

char *zt__redact_url(const char *url) {
    if (!url) return zt__strdup("(null)");
    zt_buf b;
    zt__buf_init(&b);
    const char *s = strstr(url, "://");
    const char *a = s ? s + 3 : url;
    const char *e = a + strcspn(a, "/?#");
    const char *at = memchr(a, '@', (size_t)(e - a));
    int rc = zt__buf_append(&b, url, (size_t)(a - url));
    const char *h = at ? at + 1 : a;
    const char *q = strchr(h, '?');
    size_t pl = q ? (size_t)(q - h) : strlen(h);
    rc |= zt__buf_append(&b, h, pl);
    if (q) {
        /* Keep parameter names; hide values except harmless ones. */
        const char *p = q + 1;
        rc |= zt__buf_append(&b, "?", 1);
        while (*p) {
            size_t l = strcspn(p, "&");
            const char *eq = memchr(p, '=', l);
            size_t nl = eq ? (size_t)(eq - p) : l;
            if (eq && !zt__safe_param(p, nl)) {
                rc |= zt__buf_append(&b, p, nl);
                rc |= zt__buf_append(&b, "=REDACTED", 9);
            } else {
                rc |= zt__buf_append(&b, p, l);
            }
            p += l;
            if (*p == '&') {
                rc |= zt__buf_append(&b, "&", 1);
                p++;
            }
        }
    }
    rc |= zt__buf_append(&b, "", 1);
    if (rc) {
        zt__buf_free(&b);
        return NULL;
    }
    size_t l;
    return (char *)zt__buf_steal(&b, &l);
}

/* ---- requests ------------------------------------------------------------------------ */

void zt__hreq_init(zt_hreq *h, const char *method) {
    memset(h, 0, sizeof *h);
    h->method = method;
    h->body_fd = -1;
    h->off = ZT_WHOLE;
    zt__strlist_init(&h->hdrs);
    zt__buf_init(&h->resp);
    h->clen = h->cr_start = h->cr_end = h->cr_total = -1;
    h->retry_after = -1;
}

void zt__hreq_reset_attempt(zt_hreq *h) {
    if (h->easy) curl_easy_cleanup(h->easy);
    h->easy = NULL;
    curl_slist_free_all(h->sent);
    h->sent = NULL;
    free(h->url);
    h->url = NULL;
    free(h->location);
    h->location = NULL;
    h->resp.len = 0;
    h->status = 0;
    h->etag[0] = h->generation[0] = 0;
    h->clen = h->cr_start = h->cr_end = h->cr_total = -1;
    h->mtime = 0;
    h->retry_after = -1;
    h->cc = 0;
    h->errbuf[0] = 0;
    h->up_pos = 0;
}

void zt__hreq_free(zt_hreq *h) {
    zt__hreq_reset_attempt(h);
    free(h->path);
    free(h->query);
    free(h->abs_url);
    free(h->errmsg);
    zt__strlist_free(&h->hdrs);
    zt__buf_free(&h->resp);
    memset(h, 0, sizeof *h);
    h->body_fd = -1;
}

static size_t zt__on_body(char *p, size_t sz, size_t nm, void *ud) {
    zt_hreq *h = ud;
    size_t n = sz * nm;
    if (h->resp.len == 0 && h->clen > 0 && h->clen < ((int64_t)1 << 31) && (size_t)h->clen > h->resp.cap)
        zt__buf_reserve(&h->resp, (size_t)h->clen);
    return zt__buf_append(&h->resp, p, n) == 0 ? n : 0;
}

/* A header value that does not fit is dropped (""), never cut: a cut ETag
 * or Content-Range would be a different value. */
static bool zt__copy_hval(const char *v, size_t n, char *dst, size_t cap) {
    if (n >= cap) {
        dst[0] = 0;
        return false;
    }
    memcpy(dst, v, n);
    dst[n] = 0;
    return true;
}

void zt__net_header(zt_hreq *h, const char *p, size_t n) {
    size_t l = n;
    while (l > 0 && (p[l - 1] == '\r' || p[l - 1] == '\n')) l--;
    if (l >= 5 && !strncmp(p, "HTTP/", 5)) {
        /* A new response (after 100-continue or a redirect): forget the old one. */
        h->etag[0] = h->generation[0] = 0;
        h->clen = h->cr_start = h->cr_end = h->cr_total = -1;
        h->retry_after = -1;
        h->mtime = 0;
        free(h->location);
        h->location = NULL;
        return;
    }
    const char *c = memchr(p, ':', l);
    if (!c) return;
    size_t nl = (size_t)(c - p);
    const char *v = c + 1;
    while (v < p + l && (*v == ' ' || *v == '\t')) v++;
    size_t vl = (size_t)(p + l - v);
    char val[256];
    zt__copy_hval(v, vl, val, sizeof val);
#define ZT_IS(name) (nl == sizeof(name) - 1 && !strncasecmp(p, name, nl))
    if (ZT_IS("etag")) {
        /* too long to keep: the object is then read without version pinning */
        if (!zt__copy_hval(v, vl, h->etag, sizeof h->etag))
            ZT_DEBUG("ETag of %zu bytes ignored (over %zu)", vl, sizeof h->etag - 1);
    } else if (ZT_IS("x-goog-generation")) {
        zt__copy_hval(v, vl, h->generation, sizeof h->generation);
    } else if (ZT_IS("content-length")) {
        char *e;
        long long x = strtoll(val, &e, 10);
        h->clen = (e != val && x >= 0) ? x : -1;
    } else if (ZT_IS("content-range")) {
        long long a, b, t;
        char star;
        if (sscanf(val, "bytes %lld-%lld/%lld", &a, &b, &t) == 3 && a >= 0 && b >= a && t > b) {
            h->cr_start = a;
            h->cr_end = b;
            h->cr_total = t;
        } else if (sscanf(val, "bytes %lld-%lld/%c", &a, &b, &star) == 3 && star == '*' && a >= 0 && b >= a) {
            h->cr_start = a;
            h->cr_end = b;
        } else if (sscanf(val, "bytes */%lld", &t) == 1) {
            h->cr_total = t;
        }
    } else if (ZT_IS("retry-after")) {
        char *e;
        double d = strtod(val, &e);
        if (e != val && d >= 0) h->retry_after = d;
        else {
            int64_t t = zt__parse_http_date(val);
            if (t > 0) h->retry_after = (double)(t - (int64_t)time(NULL));
            if (h->retry_after < 0) h->retry_after = 0;
        }
    } else if (ZT_IS("last-modified")) {
        h->mtime = zt__parse_http_date(val);
    } else if (ZT_IS("location")) {
        free(h->location);
        h->location = zt__strndup(v, vl);
    }
#undef ZT_IS
}

static size_t zt__on_header(char *p, size_t sz, size_t nm, void *ud) {
    zt__net_header(ud, p, sz * nm);
    return sz * nm;
}

static size_t zt__on_read(char *dst, size_t sz, size_t nm, void *ud) {
    zt_hreq *h = ud;
    size_t want = sz * nm, left = h->body_len - h->up_pos;
    if (want > left) want = left;
    if (want == 0) return 0;
    if (h->body_fd >= 0) {
        ssize_t k;
        do k = pread(h->body_fd, dst, want, (off_t)(h->body_off + (int64_t)h->up_pos));
        while (k < 0 && errno == EINTR);
        if (k <= 0) return CURL_READFUNC_ABORT;
        want = (size_t)k;
    } else {
        memcpy(dst, h->body + h->up_pos, want);
    }
    h->up_pos += want;
    return want;
}

static int zt__on_seek(void *ud, curl_off_t off, int origin) {
    zt_hreq *h = ud;
    if (origin != SEEK_SET || off < 0 || (size_t)off > h->body_len) return CURL_SEEKFUNC_FAIL;
    h->up_pos = (size_t)off;
    return CURL_SEEKFUNC_OK;
}

/* Stall detection on the I/O thread: libcurl's low-speed check averages over
 * several seconds, so a server that goes silent after a burst would hold a
 * request for much longer than `timeout`. */
static int zt__on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)dt;
    (void)ut;
    zt_hreq *h = ud;
    double now = zt__now();
    if (dn + un != h->last_bytes || h->last_progress == 0) {
        h->last_bytes = dn + un;
        h->last_progress = now;
        return 0;
    }
    if (now - h->last_progress > h->stall_limit) {
        h->stalled = true;
        return 1;
    }
    return 0;
}

static int zt__hdr_add(zt_hreq *h, const char *line) {
    struct curl_slist *t = curl_slist_append(h->sent, line);
    if (!t) return zt__err(ZT_ENOMEM, "out of memory");
    h->sent = t;
    return 0;
}

/* Build everything for one attempt. */
static int zt__prepare(zt_netstore *ns, zt_hreq *h, double deadline_left) {
    zt__hreq_reset_attempt(h);
    if (h->abs_url) h->url = zt__strdup(h->abs_url);
    else
        h->url = zt__asprintf("%s%s%s%s", ns->base_url, h->path ? h->path : "/",
                              h->query && *h->query ? "?" : "", h->query ? h->query : "");
    if (!h->url) return zt__err(ZT_ENOMEM, "out of memory");
    h->range_hdr[0] = 0;
    if (h->off >= 0)
        snprintf(h->range_hdr, sizeof h->range_hdr, "bytes=%lld-%lld", (long long)h->off,
                 (long long)(h->off + h->len - 1));
    else if (h->off == ZT_SUFFIX)
        snprintf(h->range_hdr, sizeof h->range_hdr, "bytes=-%lld", (long long)h->len);
    int rc = 0;
    for (size_t i = 0; !rc && i < h->hdrs.n; i++) rc = zt__hdr_add(h, h->hdrs.items[i]);
    char line[256];
    if (!rc && h->range_hdr[0]) {
        snprintf(line, sizeof line, "Range: %s", h->range_hdr);
        rc = zt__hdr_add(h, line);
    }
    if (!rc && h->pin && *h->pin && !ns->pin_generation) {
        snprintf(line, sizeof line, "If-Match: %s", h->pin);
        rc = zt__hdr_add(h, line);
    }
    /* No 100-continue round trip before uploads. */
    if (!rc && h->has_body) rc = zt__hdr_add(h, "Expect:");
    if (!rc && !h->abs_url && ns->ops && ns->ops->sign) rc = ns->ops->sign(ns, h);
    if (rc) return rc;

    CURL *e = h->easy = curl_easy_init();
    if (!e) return zt__err(ZT_ENOMEM, "cannot create a curl handle");
    curl_easy_setopt(e, CURLOPT_URL, h->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->sent);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, zt__on_body);
    /* large receive buffer: fewer syscalls and callbacks for multi-MB chunks */
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 512L << 10);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, zt__on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* Wait for a multiplexed HTTP/2 connection rather than opening more; on
     * plain http (HTTP/1.1) this would serialise requests. */
    if (!strncmp(h->url, "https:", 6)) curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    h->stalled = false;
    h->last_progress = 0;
    h->last_bytes = 0;
    h->stall_limit = ns->cfg.timeout;
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, zt__on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, h);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "zarrtraj/" ZT_VERSION_STRING);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL); /* bytes as stored */
    /* Bounded in time: connect, stall (< 1 byte/s for `timeout`) and total. */
    long to_ms = (long)(ns->cfg.timeout * 1000);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, to_ms > 0 ? to_ms : 1L);
    long stall = (long)(ns->cfg.timeout + 0.999);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, stall > 0 ? stall : 1L);
    long dl_ms = (long)(deadline_left * 1000);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, dl_ms > 0 ? dl_ms : 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (ns->follow) {
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
    }
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, ns->cfg.verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, ns->cfg.verify ? 2L : 0L);
    if (ns->cfg.ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, ns->cfg.ca_file);
    if (!strcmp(h->method, "HEAD")) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (h->has_body) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, zt__on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, h);
        curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, zt__on_seek);
        curl_easy_setopt(e, CURLOPT_SEEKDATA, h);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)h->body_len);
        if (strcmp(h->method, "PUT")) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, h->method);
    } else if (strcmp(h->method, "GET")) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, h->method);
    }
    return 0;
}

/* ---- completion ------------------------------------------------------------------------ */

static _Thread_local uint64_t zt__rng;

static double zt__rand01(void) {
    if (!zt__rng) zt__rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&zt__rng ^ 0x9E3779B97F4A7C15ull;
    zt__rng ^= zt__rng << 13;
    zt__rng ^= zt__rng >> 7;
    zt__rng ^= zt__rng << 17;
    return (double)(zt__rng >> 11) / 9007199254740992.0;
}

static bool zt__retryable_cc(int cc) {
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_READ_ERROR:
        return true;
    default:
        return false;
    }
}

static bool zt__retryable_status(long st) {
    return st == 408 || st == 429 || st == 500 || st == 502 || st == 503 || st == 504;
}

/* Check a 2xx GET: Content-Range against the request, body length, and cut a
 * full 200 answer down to the range when the server ignored Range. Returns
 * NULL when fine, else a description of what is wrong. */
const char *zt__net_check_body(zt_hreq *h) {
    size_t n = h->resp.len;
    if (h->clen >= 0 && (uint64_t)h->clen != n) return "body length differs from Content-Length";
    /* a part of an object we asked for whole is not the object */
    if (h->off == ZT_WHOLE) return h->status == 206 ? "206 partial answer to a request for the whole object" : NULL;
    if (h->status == 206) {
        if (h->cr_start < 0) return "206 response without a valid Content-Range";
        /* the parser guarantees 0 <= cr_start <= cr_end: no overflow */
        uint64_t span = (uint64_t)(h->cr_end - h->cr_start) + 1;
        if ((uint64_t)n != span) return "body length differs from Content-Range";
        if (h->off >= 0) {
            if (h->cr_start != h->off || h->cr_end > h->off + h->len - 1)
                return "Content-Range does not match the requested range";
            if (h->cr_total >= 0 && h->cr_end != h->off + h->len - 1 && h->cr_end != h->cr_total - 1)
                return "short range before the end of the object";
        } else {
            /* the last bytes can only be told from the object's size */
            if (h->cr_total < 0) return "206 answer to a suffix range without the object size";
            if (h->cr_end != h->cr_total - 1 || span != (uint64_t)(h->len < h->cr_total ? h->len : h->cr_total))
                return "Content-Range does not match the requested suffix";
        }
        return NULL;
    }
    /* 200: the whole object; take the range ourselves. */
    int64_t size = (int64_t)n, start, len;
    if (h->off == ZT_SUFFIX) {
        start = h->len >= size ? 0 : size - h->len;
        len = size - start;
    } else {
        start = h->off > size ? size : h->off;
        len = h->len < size - start ? h->len : size - start;
    }
    if (start > 0 && len > 0) memmove(h->resp.data, h->resp.data + start, (size_t)len);
    h->resp.len = (size_t)len;
    return NULL;
}

static void zt__set_msg(zt_hreq *h, const char *fmt, ...) ZT__PRINTF(2, 3);
static void zt__set_msg(zt_hreq *h, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(h->errmsg);
    h->errmsg = zt__strdup(buf);
}

enum { ZT_H_DONE = 0, ZT_H_RETRY = 1 };

/* Classify a finished attempt: done (h->rc set) or retry (h->not_before set). */
static int zt__complete(zt_netstore *ns, zt_hreq *h) {
    double now = zt__now();
    long st = 0;
    if (h->cc == CURLE_OK) curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &st);
    h->status = st;
    char *rurl = zt__redact_url(h->url);
    const char *u = rurl ? rurl : "?";
    double ms = (now - h->t_start) * 1000;
    if (h->cc != CURLE_OK)
        ZT_DEBUG("%s %s -> %s, %.0f ms, attempt %d", h->method, u,
                 h->errbuf[0] ? h->errbuf : curl_easy_strerror(h->cc), ms, h->attempt + 1);
    else if (zt__log_level() <= ZT_LOG_DEBUG) {
        long hv = 0;
        curl_easy_getinfo(h->easy, CURLINFO_HTTP_VERSION, &hv);
        ZT_DEBUG("%s %s -> %ld, %zu B, %.0f ms, attempt %d%s", h->method, u, st, h->resp.len, ms,
                 h->attempt + 1, hv == CURL_HTTP_VERSION_2_0 ? ", HTTP/2" : "");
    }

    int code = 0;
    bool retry = false;
    char why[512] = "";
    if (h->cc != CURLE_OK) {
        const char *ce = h->errbuf[0] ? h->errbuf : curl_easy_strerror(h->cc);
        snprintf(why, sizeof why, "%s", ce);
        if (h->cc == CURLE_ABORTED_BY_CALLBACK && h->stalled) {
            h->cc = CURLE_OPERATION_TIMEDOUT;
            snprintf(why, sizeof why, "no data for %.1f s (stalled)", h->stall_limit);
        }
        if (h->cc == CURLE_PEER_FAILED_VERIFICATION || h->cc == CURLE_SSL_CACERT_BADFILE ||
            h->cc == CURLE_SSL_CERTPROBLEM) {
            code = ZT_ENET;
            snprintf(why, sizeof why, "TLS certificate verification failed (%s)", ce);
        } else if (zt__retryable_cc(h->cc)) {
            retry = true;
            code = h->cc == CURLE_OPERATION_TIMEDOUT ? ZT_ETIMEDOUT : ZT_ENET;
        } else {
            code = ZT_ENET;
        }
    } else if (st >= 200 && st < 300) {
        const char *bad = NULL;
        if (!strcmp(h->method, "GET")) bad = zt__net_check_body(h);
        const char *ver = ns->pin_generation ? h->generation : h->etag;
        if (!bad && h->pin && *h->pin && *ver && strcmp(ver, h->pin)) {
            code = ZT_ECHANGED;
            snprintf(why, sizeof why, "object changed while being read (version %s, expected %s)",
                     ver, h->pin);
        } else if (bad && h->off == ZT_SUFFIX && h->cr_total >= 0 && h->attempt == 0) {
            /* Some servers (s3rver) answer "bytes=-N" with the first N+1
             * bytes. The Content-Range told us the size: ask for the
             * explicit range now, and never send suffix ranges again. */
            int64_t l = h->len < h->cr_total ? h->len : h->cr_total;
            h->off = h->cr_total - l;
            h->len = l;
            if (!ns->no_suffix) ZT_INFO("%s: server mishandles suffix ranges; using explicit ranges", u);
            ns->no_suffix = true;
            if (l == 0) {
                h->off = ZT_WHOLE;
                h->resp.len = 0;
            } else {
                h->not_before = now;
                free(rurl);
                return ZT_H_RETRY;
            }
        } else if (bad) {
            code = ZT_ENET;
            retry = true;
            snprintf(why, sizeof why, "bad response: %s", bad);
        }
    } else if (st == 416 && !strcmp(h->method, "GET") && h->off != ZT_WHOLE) {
        h->resp.len = 0; /* the range lies past the end: no bytes */
    } else {
        char *detail = ns->ops && ns->ops->error_detail ? ns->ops->error_detail(h) : NULL;
        char ds[300] = "";
        if (detail) snprintf(ds, sizeof ds, " (%.280s)", detail);
        free(detail);
        if (st == 404) {
            code = ZT_ENOTFOUND;
            snprintf(why, sizeof why, "not found%s", ds);
        } else if (st == 412 || (st == 304 && h->pin)) {
            code = ZT_ECHANGED;
            snprintf(why, sizeof why, "object changed while being read (HTTP %ld%s)", st, ds);
        } else if (st == 401 || st == 403 || (ns->ops && ns->ops->is_auth_error && ns->ops->is_auth_error(h))) {
            code = ZT_EAUTH;
            snprintf(why, sizeof why, "HTTP %ld%s", st, ds);
        } else if (zt__retryable_status(st)) {
            retry = true;
            code = ZT_ENET;
            snprintf(why, sizeof why, "HTTP %ld%s", st, ds);
        } else {
            code = ZT_EIO;
            snprintf(why, sizeof why, "HTTP %ld%s", st, ds);
        }
    }

    if (retry) {
        double d = ns->cfg.backoff * (double)(1u << (h->attempt < 16 ? h->attempt : 16));
        if (d > 20) d = 20;
        d = d * 0.5 + d * 0.5 * zt__rand01(); /* equal jitter */
        if (h->retry_after >= 0) d = h->retry_after > 60 ? 60 : (h->retry_after > d ? h->retry_after : d);
        bool have_attempts = h->attempt < ns->cfg.retries;
        bool have_time = now + d < h->t_first + ns->cfg.deadline;
        if (have_attempts && have_time) {
            ZT_INFO("retrying %s %s in %.2f s after %s (attempt %d of %d)", h->method, u, d, why,
                    h->attempt + 2, ns->cfg.retries + 1);
            h->attempt++;
            h->not_before = now + d;
            free(rurl);
            return ZT_H_RETRY;
        }
        zt__set_msg(h, "%s %s: %s after %d attempt%s%s", h->method, u, why, h->attempt + 1,
                    h->attempt ? "s" : "", have_attempts ? " (deadline reached)" : "");
        ZT_WARN("%s", h->errmsg ? h->errmsg : "request failed");
    } else if (code == ZT_EAUTH) {
        zt__set_msg(h, "authentication failed for %s %s: %s", h->method, u, why);
    } else if (code) {
        zt__set_msg(h, "%s %s: %s", h->method, u, why);
    }
    h->rc = code;
    free(rurl);
    return ZT_H_DONE;
}

/* ---- the runner ---------------------------------------------------------------------- */

typedef struct {
    size_t finished;
    int first_rc, last_rc;
    char *last_msg;
    zt_hreq_done done;
    void *ud;
} zt_runstate;

static void zt__finish(zt_runstate *rs, zt_hreq *h) {
    rs->finished++;
    if (h->rc) {
        if (!rs->first_rc) rs->first_rc = h->rc;
        rs->last_rc = h->rc;
        free(rs->last_msg);
        rs->last_msg = zt__strdup(h->errmsg ? h->errmsg : zt_strerror(h->rc));
    }
    if (rs->done) rs->done(h, rs->ud);
}

/* Start one attempt; false when it could not be started (h finished). */
static bool zt__launch(zt_netstore *ns, zt_hreq *h, zt_waiter *w, double now, zt_runstate *rs) {
    h->t_start = now;
    int rc = zt__prepare(ns, h, h->t_first + ns->cfg.deadline - now);
    if (!rc) rc = zt__engine_submit(h, w);
    if (!rc) return true;
    h->rc = rc;
    zt__set_msg(h, "%s", zt_last_error());
    zt__hreq_reset_attempt(h);
    zt__finish(rs, h);
    return false;
}

int zt__net_run(zt_netstore *ns, zt_hreq **hs, size_t n, zt_hreq_done done, void *ud) {
    if (n == 0) return 0;
    zt_waiter *w = zt__waiter_new();
    zt_hreq **waitq = malloc(n * sizeof *waitq);
    if (!w || !waitq) {
        zt__waiter_free(w);
        free(waitq);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    zt_runstate rs = {0, 0, 0, NULL, done, ud};
    size_t next = 0, inflight = 0, nwait = 0;
    size_t limit = ns->cfg.max_concurrency > 0 ? (size_t)ns->cfg.max_concurrency : 32;

    while (rs.finished < n) {
        double now = zt__now();
        /* Launch due retries first, then new requests, up to the limit. */
        for (size_t i = 0; i < nwait && inflight < limit;) {
            if (waitq[i]->not_before > now) {
                i++;
                continue;
            }
            zt_hreq *h = waitq[i];
            waitq[i] = waitq[--nwait];
            if (zt__launch(ns, h, w, now, &rs)) inflight++;
        }
        while (next < n && inflight < limit) {
            zt_hreq *h = hs[next++];
            h->t_first = now;
            h->attempt = 0;
            if (zt__launch(ns, h, w, now, &rs)) inflight++;
        }
        if (rs.finished >= n) break;
        double timeout = -1;
        if (nwait && inflight < limit) {
            double soonest = waitq[0]->not_before;
            for (size_t i = 1; i < nwait; i++)
                if (waitq[i]->not_before < soonest) soonest = waitq[i]->not_before;
            timeout = soonest - zt__now();
            if (timeout < 0) timeout = 0;
        }
        if (inflight == 0 && timeout < 0) continue; /* cannot happen; be safe */
        zt_hreq *h = zt__waiter_wait(w, timeout);
        if (!h) continue;
        inflight--;
        if (zt__complete(ns, h) == ZT_H_RETRY) {
            curl_easy_cleanup(h->easy);
            h->easy = NULL;
            waitq[nwait++] = h;
            continue;
        }
        zt__finish(&rs, h);
    }
    zt__waiter_free(w);
    free(waitq);
    if (rs.last_msg) {
        zt__err(rs.last_rc, "%s", rs.last_msg);
        free(rs.last_msg);
    }
    return done ? 0 : rs.first_rc;
}

int zt__net_run1(zt_netstore *ns, zt_hreq *h) {
    zt_hreq *p = h;
    int rc = zt__net_run(ns, &p, 1, NULL, NULL);
    if (!rc && h->rc) rc = h->rc;
    return rc;
}

/* ---- generic operations ------------------------------------------------------------------ */

static int zt__stat_from_headers(zt_hreq *h, zt_stat *st) {
    st->size = h->clen;
    st->mtime = h->mtime;
    snprintf(st->etag, sizeof st->etag, "%s", h->etag);
    return 0;
}

int zt__net_head(zt_netstore *ns, const zt_objops *o, const char *key, zt_stat *st) {
    zt_hreq h;
    zt__hreq_init(&h, o->head_is_get ? "GET" : "HEAD");
    h.meta = true;
    int rc = o->object(ns, &h, key);
    if (!rc) rc = zt__net_run1(ns, &h);
    if (!rc) rc = o->stat ? o->stat(ns, &h, st) : zt__stat_from_headers(&h, st);
    zt__hreq_free(&h);
    return rc;
}

/* Servers without suffix ranges: turn the request into a plain range. */
static int zt__resolve_suffix(zt_netstore *ns, const zt_objops *o, const char *key, int64_t *off,
                              int64_t *len) {
    zt_stat st = {.size = -1};
    int rc = zt__net_head(ns, o, key, &st);
    if (rc) return rc;
    if (st.size < 0) return zt__err(ZT_ENET, "%s/%s: size unknown for a suffix range", ns->base.url, key);
    int64_t l = *len < st.size ? *len : st.size;
    *off = st.size - l;
    *len = l;
    return 0;
}

static void zt__move_buf(zt_buf *dst, zt_buf *src) {
    zt__buf_free(dst);
    *dst = *src;
    zt__buf_init(src);
}

int zt__net_get(zt_netstore *ns, const zt_objops *o, const char *key, int64_t off, int64_t len,
                zt_buf *out) {
    if (off == ZT_SUFFIX && ns->no_suffix) {
        int rc = zt__resolve_suffix(ns, o, key, &off, &len);
        if (rc) return rc;
        if (len == 0) {
            out->len = 0;
            return 0;
        }
    }
    zt_hreq h;
    zt__hreq_init(&h, "GET");
    h.off = off;
    h.len = len;
    int rc = o->object(ns, &h, key);
    if (!rc) rc = zt__net_run1(ns, &h);
    if (!rc) zt__move_buf(out, &h.resp);
    zt__hreq_free(&h);
    return rc;
}

typedef struct {
    zt_netstore *ns;
    zt_req_done cb;
    void *ud;
} zt_batch_ctx;

static void zt__batch_done(zt_hreq *h, void *ud) {
    zt_batch_ctx *c = ud;
    zt_req *r = h->user;
    r->status = h->rc;
    /* The buffer goes back to the caller either way: it may be the caller's
     * own (a reused or in-place buffer it lent for the body). */
    if (h->rc) h->resp.len = 0;
    zt__move_buf(&r->out, &h->resp);
    if (!h->rc) atomic_fetch_add(&c->ns->base.n_bytes, r->out.len);
    else zt__err(h->rc, "%s", h->errmsg ? h->errmsg : zt_strerror(h->rc));
    /* Free the request early: big batches should not hold every handle. */
    zt__hreq_free(h);
    if (c->cb) c->cb(r, c->ud);
}

int zt__net_get_batch(zt_netstore *ns, const zt_objops *o, zt_req *reqs, size_t n,
                      zt_req_done cb, void *ud) {
    zt_hreq *hs = calloc(n, sizeof *hs);
    zt_hreq **ps = calloc(n, sizeof *ps);
    if (!hs || !ps) {
        free(hs);
        free(ps);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    zt_batch_ctx c = {ns, cb, ud};
    size_t m = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        zt_req *r = &reqs[i];
        atomic_fetch_add(&ns->base.n_requests, 1);
        int64_t off = r->offset, len = r->length;
        int e = 0;
        if (off < ZT_SUFFIX || (off != ZT_WHOLE && len < 0))
            e = zt__err(ZT_EINVAL, "%s: invalid byte range", r->key);
        else if ((off >= 0 || off == ZT_SUFFIX) && len == 0) {
            r->out.len = 0;
            r->status = 0;
            if (cb) cb(r, ud);
            continue;
        } else if (off == ZT_SUFFIX && ns->no_suffix) {
            e = zt__resolve_suffix(ns, o, r->key, &off, &len);
            if (!e && len == 0) {
                r->out.len = 0;
                r->status = 0;
                if (cb) cb(r, ud);
                continue;
            }
        }
        zt_hreq *h = &hs[m];
        zt__hreq_init(h, "GET");
        h->off = off;
        h->len = len;
        h->pin = r->etag;
        h->user = r;
        /* receive into the caller's buffer (reused, or a cache entry's own
         * memory for in-place reads): no fresh allocation per response */
        h->resp = r->out;
        h->resp.len = 0;
        zt__buf_init(&r->out);
        if (!e) e = o->object(ns, h, r->key);
        if (e) {
            r->status = e;
            zt__move_buf(&r->out, &h->resp);
            zt__hreq_free(h);
            if (cb) cb(r, ud);
            continue;
        }
        ps[m++] = h;
    }
    if (m) rc = zt__net_run(ns, ps, m, zt__batch_done, &c);
    free(ps);
    free(hs);
    return rc;
}

int zt__net_put(zt_netstore *ns, const zt_objops *o, const char *key, const void *data, size_t n) {
    zt_hreq h;
    zt__hreq_init(&h, "PUT");
    int rc = o->put(ns, &h, key, data, n);
    if (!rc) rc = zt__net_run1(ns, &h);
    zt__hreq_free(&h);
    return rc;
}

typedef struct {
    zt_put_done cb;
    void *ud;
} zt_pbatch_ctx;

static void zt__pbatch_done(zt_hreq *h, void *ud) {
    zt_pbatch_ctx *c = ud;
    zt_put_req *r = h->user;
    r->status = h->rc;
    if (h->rc) zt__err(h->rc, "%s", h->errmsg ? h->errmsg : zt_strerror(h->rc));
    zt__hreq_free(h);
    if (c->cb) c->cb(r, c->ud);
}

int zt__net_put_batch(zt_netstore *ns, const zt_objops *o, zt_put_req *reqs, size_t n,
                      zt_put_done cb, void *ud) {
    zt_hreq *hs = calloc(n, sizeof *hs);
    zt_hreq **ps = calloc(n, sizeof *ps);
    if (!hs || !ps) {
        free(hs);
        free(ps);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    zt_pbatch_ctx c = {cb, ud};
    size_t m = 0;
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        atomic_fetch_add(&ns->base.n_requests, 1);
        zt_hreq *h = &hs[m];
        zt__hreq_init(h, "PUT");
        h->user = &reqs[i];
        int e = o->put(ns, h, reqs[i].key, reqs[i].data, reqs[i].n);
        if (e) {
            reqs[i].status = e;
            if (!first) first = e;
            zt__hreq_free(h);
            if (cb) cb(&reqs[i], ud);
            continue;
        }
        ps[m++] = h;
    }
    int rc = m ? zt__net_run(ns, ps, m, zt__pbatch_done, &c) : 0;
    free(ps);
    free(hs);
    for (size_t i = 0; !rc && !first && i < n; i++)
        if (reqs[i].status) first = reqs[i].status;
    return rc ? rc : first;
}

int zt__net_del(zt_netstore *ns, const zt_objops *o, const char *key) {
    zt_hreq h;
    zt__hreq_init(&h, "DELETE");
    int rc = o->object(ns, &h, key);
    if (!rc) rc = zt__net_run1(ns, &h);
    zt__hreq_free(&h);
    return rc;
}

int zt__netvt_get(zt_store *s, const char *key, int64_t off, int64_t len, zt_buf *out) {
    zt_netstore *ns = (zt_netstore *)s;
    return zt__net_get(ns, ns->objops, key, off, len, out);
}
int zt__netvt_head(zt_store *s, const char *key, zt_stat *st) {
    zt_netstore *ns = (zt_netstore *)s;
    return zt__net_head(ns, ns->objops, key, st);
}
int zt__netvt_put(zt_store *s, const char *key, const void *data, size_t n) {
    zt_netstore *ns = (zt_netstore *)s;
    return zt__net_put(ns, ns->objops, key, data, n);
}
int zt__netvt_del(zt_store *s, const char *key) {
    zt_netstore *ns = (zt_netstore *)s;
    return zt__net_del(ns, ns->objops, key);
}
int zt__netvt_get_batch(zt_store *s, zt_req *reqs, size_t n, zt_req_done cb, void *ud) {
    zt_netstore *ns = (zt_netstore *)s;
    return zt__net_get_batch(ns, ns->objops, reqs, n, cb, ud);
}
int zt__netvt_put_batch(zt_store *s, zt_put_req *reqs, size_t n, zt_put_done cb, void *ud) {
    zt_netstore *ns = (zt_netstore *)s;
    return zt__net_put_batch(ns, ns->objops, reqs, n, cb, ud);
}
