/* Key/byte-range store interface. One small vtable (like netCDF's zmap and
 * TensorStore's kvstore) with back ends: file, memory, and the network stores
 * (http, s3, gcs, azure). Arrays never know which store they sit on.
 *
 * A store is opened on a root URL. Keys are relative to the root and use '/'
 * separators; the empty key "" names the root object itself (how a single
 * HDF5 file is read). */
#ifndef ZT_STORE_H
#define ZT_STORE_H

#include "util/util.h"

#include <stdatomic.h>

typedef struct zt_store zt_store;

/* Byte-range conventions for requests. */
#define ZT_WHOLE ((int64_t)-1)  /* offset: the whole object */
#define ZT_SUFFIX ((int64_t)-2) /* offset: the last `length` bytes */

typedef struct zt_stat {
    int64_t size;      /* bytes, -1 when unknown */
    char etag[128];    /* "" when the store has none */
    int64_t mtime;     /* seconds since epoch, 0 when unknown */
} zt_stat;

/* One read in a batch. The caller fills key/offset/length (and optionally
 * etag to pin the object version); the store fills out and status. */
typedef struct zt_req {
    const char *key;
    int64_t offset;   /* >= 0, ZT_WHOLE or ZT_SUFFIX */
    int64_t length;   /* bytes for a range or suffix; ignored for ZT_WHOLE */
    const char *etag; /* if non-NULL and non-empty: fail with ZT_ECHANGED when
                         the object no longer has this ETag */
    zt_buf out;       /* response body; the caller frees it (zt__buf_free) */
    int status;       /* 0, ZT_ENOTFOUND, or another negative error */
    void *user;       /* caller data */
} zt_req;

/* Completion callback: called once per request, in the thread that called
 * zt__store_get_batch, as each request completes (any order). */
typedef void (*zt_req_done)(zt_req *req, void *ud);

/* One upload in a batch (zt__store_put_batch). data must stay valid until the
 * batch returns; the store fills status. */
typedef struct zt_put_req {
    const char *key;
    const void *data;
    size_t n;
    int status; /* 0 or a negative error */
    void *user; /* caller data */
} zt_put_req;

/* Called once per upload, in the thread that called zt__store_put_batch. */
typedef void (*zt_put_done)(zt_put_req *req, void *ud);

typedef struct zt_store_vt {
    const char *scheme;
    /* Whole object (offset ZT_WHOLE) or byte range. ZT_ENOTFOUND when absent.
     * A range past the end returns the bytes that exist (possibly fewer). */
    int (*get)(zt_store *s, const char *key, int64_t offset, int64_t length, zt_buf *out);
    int (*head)(zt_store *s, const char *key, zt_stat *st);
    int (*put)(zt_store *s, const char *key, const void *data, size_t n);
    int (*del)(zt_store *s, const char *key);
    /* List keys under prefix (relative to root). With delim, keys directly
     * under prefix go to keys and deeper "directories" (ending in '/') to
     * prefixes; without, every key under prefix goes to keys. Paginates
     * internally. NULL when the store cannot list (plain HTTP). */
    int (*list)(zt_store *s, const char *prefix, bool delim, zt_strlist *keys,
                zt_strlist *prefixes);
    /* Optional concurrent batch; NULL = sequential loop over get. */
    int (*get_batch)(zt_store *s, zt_req *reqs, size_t n, zt_req_done cb, void *ud);
    /* Optional: upload a large object from a local file (multipart). NULL =
     * read the file and put. */
    int (*put_file)(zt_store *s, const char *key, const char *local_path,
                    void (*progress)(void *ud, uint64_t done, uint64_t total), void *ud);
    void (*close)(zt_store *s);
    /* Optional concurrent uploads; NULL = sequential loop over put. */
    int (*put_batch)(zt_store *s, zt_put_req *reqs, size_t n, zt_put_done cb, void *ud);
} zt_store_vt;

/* What a store is good at; readers and writers decide by these instead of
 * by the kind of store. */
enum {
    ZT_STORE_CAP_LOCAL_PATH = 1u << 0, /* objects are files below local_path (libhdf5 can open them) */
    ZT_STORE_CAP_CHEAP_LIST = 1u << 1, /* listing every key is one cheap call */
    ZT_STORE_CAP_LOW_LATENCY = 1u << 2, /* requests cost no round trip: no splitting, small read-ahead */
};

struct zt_store {
    const zt_store_vt *vt;
    unsigned caps; /* ZT_STORE_CAP_* (file: all three; the network stores, memory:// and
                      kerchunk references: none, so tests on memory:// take the remote paths) */
    char *url;     /* root URL as given (for messages; never holds secrets) */
    char *local_path; /* with ZT_STORE_CAP_LOCAL_PATH: the root path on disk */
    _Atomic uint64_t n_requests;
    _Atomic uint64_t n_bytes;
};

/* Open a store on url (plain path, file://, memory://, http(s)://, s3://,
 * gs://, gcs://, az://, abfs://). opts may be NULL. */
static inline bool zt__store_can(const zt_store *s, unsigned cap) { return s && (s->caps & cap) == cap; }

int zt__store_open(const char *url, const zt_options_t *opts, zt_store **out);
void zt__store_close(zt_store *s);

/* Wrappers that count requests and bytes. */
int zt__store_get(zt_store *s, const char *key, zt_buf *out);
int zt__store_get_range(zt_store *s, const char *key, int64_t offset, int64_t length,
                        zt_buf *out);
int zt__store_head(zt_store *s, const char *key, zt_stat *st);
int zt__store_put(zt_store *s, const char *key, const void *data, size_t n);
int zt__store_del(zt_store *s, const char *key);
int zt__store_list(zt_store *s, const char *prefix, bool delim, zt_strlist *keys,
                   zt_strlist *prefixes);
int zt__store_get_batch(zt_store *s, zt_req *reqs, size_t n, zt_req_done cb, void *ud);
int zt__store_put_file(zt_store *s, const char *key, const char *local_path,
                       void (*progress)(void *ud, uint64_t done, uint64_t total), void *ud);
/* Upload n objects concurrently (network stores; at most max_concurrency in
 * flight); cb (may be NULL) runs in this thread as each completes. Returns 0
 * when all succeeded, else the error of one that failed (each status is set). */
int zt__store_put_batch(zt_store *s, zt_put_req *reqs, size_t n, zt_put_done cb, void *ud);
/* Delete every key under prefix (used by writers with overwrite). */
int zt__store_del_prefix(zt_store *s, const char *prefix);

/* Back ends. */
int zt__store_file_open(const char *path, const zt_options_t *opts, zt_store **out);
int zt__store_memory_open(const char *name, const zt_options_t *opts, zt_store **out);

/* kerchunk reference sets (store/refs.c); jansson's json_t. */
struct json_t;
/* A read-only store serving a kerchunk reference file (v0 or v1). */
int zt__store_refs_open(const char *refs_url, const zt_options_t *opts, zt_store **out);
/* Same from an already parsed reference set; base_url resolves relative
 * targets (may be NULL). Takes no ownership of refs (copies). */
int zt__store_refs_from_json(const struct json_t *refs, const char *base_url, const zt_options_t *opts,
                             zt_store **out);

/* Split a URL into scheme ("file" for plain paths) and the rest. Returns the
 * scheme in buf (lower case). */
void zt__url_scheme(const char *url, char *buf, size_t bufsz);

#endif
