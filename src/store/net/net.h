/* Network store back ends on one libcurl-multi I/O engine (issue: cloud stores).
 *
 * Layers (all in src/store/net/):
 *   engine.c  one curl multi handle driven by a dedicated I/O thread; callers
 *             submit prepared transfers and wait on their own waiter, so
 *             completions are handled in the calling thread.
 *   exec.c    the shared request runner: per-attempt preparation (signing),
 *             concurrency limit, retries with backoff, response checks, error
 *             mapping, logging with redacted URLs; and the generic store
 *             operations (get, get_batch, put, put_batch) built on it.
 *   sign.c    SHA-256/HMAC/base64/hex/percent-encoding, SigV4, dates.
 *   xml.c     a small XML parser for S3/Azure listings and errors.
 *   http.c s3.c gcs.c azure.c   one file per service. */
#ifndef ZT_STORE_NET_H
#define ZT_STORE_NET_H

#include "store/store.h"

#include <curl/curl.h>
#include <stdio.h>

int zt__store_http_open(const char *url, const zt_options_t *opts, zt_store **out);
int zt__store_s3_open(const char *url, const zt_options_t *opts, zt_store **out);
int zt__store_gcs_open(const char *url, const zt_options_t *opts, zt_store **out);
int zt__store_azure_open(const char *url, const zt_options_t *opts, zt_store **out);

/* S3 store on loc ("bucket/prefix") for url (messages). dflt_endpoint and
 * dflt_region apply when the options name none; aws_env: read the AWS_*
 * variables and profiles (false for GCS HMAC keys). */
int zt__s3_open_ex(const char *url, const char *loc, const zt_options_t *opts,
                   const char *dflt_endpoint, const char *dflt_region, bool aws_env,
                   zt_store **out);

/* Listing pages, parsed apart from the requests (fuzzed by tests/fuzz):
 * entries under full ("dir/" or "") with the first strip bytes removed go to
 * keys and prefixes (prefixes may be NULL); *next is the continuation token
 * or marker (malloc'd) when another page follows, else NULL. url names the
 * store in messages. */
int zt__s3_list_page(const char *url, const char *body, size_t n, const char *full, size_t strip,
                     zt_strlist *keys, zt_strlist *prefixes, char **next);
int zt__az_list_page(const char *url, const char *body, size_t n, const char *full, size_t strip,
                     zt_strlist *keys, zt_strlist *prefixes, char **next);
int zt__gcs_list_page(const char *url, const char *body, size_t n, const char *full, size_t strip,
                      zt_strlist *keys, zt_strlist *prefixes, char **next);
/* Entries of a directory index of dir (HTML, nginx autoindex JSON or XML;
 * relative names): files and sub-directories (without their trailing '/').
 * A body that is no index is ZT_EUNSUPPORTED, naming url. */
int zt__http_parse_index(const char *url, const char *body, size_t n, const char *dir, zt_strlist *files,
                         zt_strlist *dirs);

/* ---- one HTTP exchange ------------------------------------------------------ */
typedef struct zt_netstore zt_netstore;
typedef struct zt_objops zt_objops;
typedef struct zt_waiter zt_waiter;

typedef struct zt_hreq {
    /* What to send; set by the operation, kept across attempts. */
    const char *method;      /* GET HEAD PUT POST DELETE */
    char *path;              /* URL path, percent-encoded, starts with '/' */
    char *query;             /* canonical query (sorted, encoded) or NULL */
    char *abs_url;           /* absolute URL overriding base+path+query (GCS
                                resumable session); signing is skipped */
    zt_strlist hdrs;         /* extra "Name: value" headers */
    const uint8_t *body;     /* request body from memory ... */
    size_t body_len;
    int body_fd;             /* ... or from a file slice when >= 0 */
    int64_t body_off;
    bool has_body;           /* send body_len bytes (even 0) */
    int64_t off, len;        /* byte range: off >= 0, ZT_WHOLE or ZT_SUFFIX */
    const char *pin;         /* ETag/generation the object must still have */
    const char *what;        /* object name for messages ("s3://b/k") */
    bool meta;               /* metadata request (GCS JSON metadata, not media) */

    /* Per attempt, built by exec.c and the back end's sign(). */
    char *url;
    struct curl_slist *sent;
    char range_hdr[64];      /* "bytes=a-b" or "" */

    /* Response. */
    long status;
    zt_buf resp;
    char etag[128];
    char generation[32];     /* x-goog-generation */
    char *location;          /* Location header (malloc'd) */
    int64_t clen;            /* Content-Length or -1 */
    int64_t cr_start, cr_end, cr_total; /* Content-Range or -1 */
    int64_t mtime;           /* Last-Modified (epoch s) or 0 */
    double retry_after;      /* seconds or -1 */
    int cc;                  /* CURLcode */
    char errbuf[CURL_ERROR_SIZE];

    /* Bookkeeping. */
    int attempt;             /* 0 for the first try */
    double t_first, t_start, not_before;
    int rc;                  /* final result: 0 or ZT_E* (message in errmsg) */
    char *errmsg;            /* malloc'd message of a failure */
    size_t up_pos;
    void *user;
    size_t index;
    CURL *easy;
    zt_waiter *waiter;
    struct zt_hreq *qnext;
    double last_progress;    /* time bytes last moved (stall detection) */
    curl_off_t last_bytes;
    double stall_limit;
    bool stalled;
} zt_hreq;

void zt__hreq_init(zt_hreq *h, const char *method);
/* One response header line (libcurl's header callback): status lines reset
 * the response fields, ETag, Content-Length, Content-Range, Retry-After,
 * Last-Modified and Location are parsed into h. */
void zt__net_header(zt_hreq *h, const char *line, size_t n);
/* Check a 2xx GET body against the request (h->off/len) and the parsed
 * headers; cuts a 200 answer to the range. NULL when fine, else what is
 * wrong (static text). */
const char *zt__net_check_body(zt_hreq *h);
void zt__hreq_free(zt_hreq *h);
/* Free the per-attempt and response state (before a retry). */
void zt__hreq_reset_attempt(zt_hreq *h);

/* ---- engine -------------------------------------------------------------------- */
int zt__engine_acquire(void);
void zt__engine_release(void);
zt_waiter *zt__waiter_new(void);
void zt__waiter_free(zt_waiter *w);
/* Hand a prepared easy handle (h->easy) to the I/O thread. */
int zt__engine_submit(zt_hreq *h, zt_waiter *w);
/* Next completed request, or NULL after timeout seconds (< 0: wait forever). */
zt_hreq *zt__waiter_wait(zt_waiter *w, double timeout);

/* ---- network stores -------------------------------------------------------------- */
typedef struct zt_netcfg {
    int max_concurrency; /* in-flight requests per call (default 32) */
    int retries;         /* retries after the first attempt (default 5) */
    double timeout;      /* connect timeout and stall timeout, s (default 30) */
    double deadline;     /* all attempts of one request, s (default 300) */
    double backoff;      /* first backoff, s (default 0.2) */
    char *ca_file;       /* CA bundle or NULL (system default) */
    bool verify;         /* verify TLS peer (default true) */
    int64_t part_size;   /* multipart part size (default 8 MiB) */
    int64_t multipart_threshold; /* put_file uses multipart above (default 16 MiB) */
} zt_netcfg;

typedef struct zt_netops {
    /* Add authentication (headers or query) to h for this attempt: called
     * after exec.c built h->url from base+path+query and the range/pin
     * headers. May rewrite h->url. */
    int (*sign)(zt_netstore *ns, zt_hreq *h);
    /* Extract "Code: message" from an error body (or NULL). */
    char *(*error_detail)(const zt_hreq *h);
    /* Whether a failed response is an authentication failure beyond 401/403
     * (S3 answers some signature errors with 400). */
    bool (*is_auth_error)(const zt_hreq *h);
} zt_netops;

struct zt_netstore {
    zt_store base;
    const zt_netops *ops;
    const zt_objops *objops; /* object addressing, used by the zt__netvt_* entries */
    zt_netcfg cfg;
    char *base_url;      /* "scheme://host[:port]" */
    char *host;          /* "host[:port]" as sent in Host */
    _Atomic bool no_suffix; /* the server lacks "bytes=-N": head first */
    bool pin_generation; /* pin by x-goog-generation instead of ETag */
    bool follow;         /* follow redirects (plain HTTP) */
    bool engine_held;
};

/* Parse the options common to all network stores. */
int zt__netcfg_init(zt_netcfg *c, const zt_options_t *opts, const char *url);
void zt__netcfg_free(zt_netcfg *c);
/* Initialise the common part (takes no ownership of url) and acquire the engine. */
int zt__netstore_init(zt_netstore *ns, const zt_store_vt *vt, const zt_netops *ops,
                      const char *url, const zt_options_t *opts);
void zt__netstore_fini(zt_netstore *ns);
/* Split "scheme://host[:port]/..." into base ("scheme://host[:port]") and host. */
int zt__split_base(const char *url, char **base, char **host, const char **rest);

typedef void (*zt_hreq_done)(zt_hreq *h, void *ud);
/* Run n requests with retries, at most cfg.max_concurrency in flight; done()
 * is called in this thread as each one completes (h->rc, h->errmsg set).
 * Returns 0, or the first error when done is NULL. On return the thread's
 * error message is that of the last failed request. */
int zt__net_run(zt_netstore *ns, zt_hreq **hs, size_t n, zt_hreq_done done, void *ud);
/* Run one request; returns h->rc with the message set. */
int zt__net_run1(zt_netstore *ns, zt_hreq *h);

/* Generic store operations on top of a back end's "object request" builder. */
struct zt_objops {
    /* Fill path/query/headers of a request on key (method set already). */
    int (*object)(zt_netstore *ns, zt_hreq *h, const char *key);
    /* Fill a PUT of n bytes of data (method, path, headers). */
    int (*put)(zt_netstore *ns, zt_hreq *h, const char *key, const void *data, size_t n);
    /* Fill st from a successful HEAD (or metadata GET) response. */
    int (*stat)(zt_netstore *ns, zt_hreq *h, zt_stat *st);
    bool head_is_get;    /* GCS: metadata is a JSON GET, not HEAD */
};
int zt__net_get(zt_netstore *ns, const zt_objops *o, const char *key, int64_t off,
                int64_t len, zt_buf *out);
int zt__net_get_batch(zt_netstore *ns, const zt_objops *o, zt_req *reqs, size_t n,
                      zt_req_done cb, void *ud);
int zt__net_head(zt_netstore *ns, const zt_objops *o, const char *key, zt_stat *st);
int zt__net_put(zt_netstore *ns, const zt_objops *o, const char *key, const void *data,
                size_t n);
int zt__net_put_batch(zt_netstore *ns, const zt_objops *o, zt_put_req *reqs, size_t n,
                      zt_put_done cb, void *ud);
/* Store vtable entries shared by the back ends: the operations above with the
 * store's own objops (ns->objops). */
int zt__netvt_get(zt_store *s, const char *key, int64_t off, int64_t len, zt_buf *out);
int zt__netvt_head(zt_store *s, const char *key, zt_stat *st);
int zt__netvt_put(zt_store *s, const char *key, const void *data, size_t n);
int zt__netvt_del(zt_store *s, const char *key);
int zt__netvt_get_batch(zt_store *s, zt_req *reqs, size_t n, zt_req_done cb, void *ud);
int zt__netvt_put_batch(zt_store *s, zt_put_req *reqs, size_t n, zt_put_done cb, void *ud);
int zt__net_del(zt_netstore *ns, const zt_objops *o, const char *key);

/* URL without query values and user info, for logs and messages. */
char *zt__redact_url(const char *url);

/* ---- options and environment ------------------------------------------------------- */
const char *zt__opt(const zt_options_t *o, const char *key);
/* Value of the first non-empty environment variable of a NULL-terminated list. */
const char *zt__env_first(const char *name, ...);
bool zt__opt_bool(const zt_options_t *o, const char *key, bool dflt);
/* Read a small file into a NUL-terminated malloc'd string (NULL on failure). */
char *zt__read_small_file(const char *path, size_t max);
/* Value of key in [section] of an INI file (AWS style); malloc'd or NULL. */
char *zt__ini_get(const char *text, const char *section, const char *key);

/* ---- crypto and encodings (sign.c) -------------------------------------------------- */
void zt__sha256(const void *p, size_t n, uint8_t out[32]);
void zt__sha256_hex(const void *p, size_t n, char out[65]);
void zt__hmac_sha256(const void *key, size_t klen, const void *msg, size_t n, uint8_t out[32]);
void zt__hex(const uint8_t *p, size_t n, char *out);
/* Decode standard base64 (whitespace ignored); malloc'd, NULL on bad input. */
/* RFC 3986 percent-encoding; keep_slash leaves '/' alone. malloc'd. */
char *zt__uri_encode(const char *s, bool keep_slash);
/* Decode %XX (and '+' when plus) into a malloc'd string. */
char *zt__uri_decode(const char *s, size_t n, bool plus);
/* Build a canonical query from NULL-terminated name/value pairs (value NULL
 * skips the pair; "" gives "name="): names sorted, both encoded. */
char *zt__query_build(const char *const *pairs);
/* Time stamps: "20240101T000000Z", "20240101", RFC 1123. */
void zt__amz_date(time_t t, char out[17], char day[9]);
void zt__http_date(time_t t, char out[40]);
int64_t zt__parse_http_date(const char *s);

/* SigV4 over h (headers host, x-amz-date, x-amz-content-sha256 and optional
 * x-amz-security-token are added and signed). payload_hash: hex or
 * "UNSIGNED-PAYLOAD". */
int zt__sigv4_sign(zt_hreq *h, const char *host, const char *region, const char *service,
                   const char *akid, const char *secret, const char *token,
                   const char *payload_hash);

/* ---- XML (xml.c) ------------------------------------------------------------------------- */
typedef struct zt_xml zt_xml;
struct zt_xml {
    char *name;      /* local name (namespace prefix stripped) */
    char *text;      /* concatenated, entity-decoded character data */
    zt_xml *child, *next;
};
/* Parse a document; NULL on malformed input (with the message set). */
zt_xml *zt__xml_parse(const char *s, size_t n);
void zt__xml_free(zt_xml *x);
/* First child named name, or NULL. */
zt_xml *zt__xml_child(const zt_xml *x, const char *name);
/* Text of the child at a '/'-separated path, or NULL. */
const char *zt__xml_text(const zt_xml *x, const char *path);

#endif
