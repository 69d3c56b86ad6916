/* Read-only plain HTTP(S) store: http(s)://host/path. The key "" is the URL
 * itself (a single .h5md file); other keys are appended as path segments (a
 * zarrmd hierarchy served by any static web server). No listing. */
#include "store/net/net.h"

#include <stdlib.h>
#include <string.h>

typedef struct zt_hstore {
    zt_netstore ns;
    char *path;  /* root path as given (already encoded), no trailing '/' */
    char *query; /* query of the root URL (e.g. a presigned URL) or NULL */
} zt_hstore;

static int zt__h_object(zt_netstore *ns, zt_hreq *h, const char *key) {
    zt_hstore *hs = (zt_hstore *)ns;
    char *enc = key && *key ? zt__uri_encode(key, true) : NULL;
    if (key && *key && !enc) return zt__err(ZT_ENOMEM, "out of memory");
    h->path = enc ? zt__asprintf("%s/%s", hs->path, enc) : zt__strdup(*hs->path ? hs->path : "/");
    free(enc);
    h->query = zt__strdup(hs->query);
    h->what = ns->base.url;
    if (!h->path || (hs->query && !h->query)) return zt__err(ZT_ENOMEM, "out of memory");
    return 0;
}

static const zt_objops zt__h_objops = {.object = zt__h_object};

static int zt__h_get(zt_store *s, const char *key, int64_t off, int64_t len, zt_buf *out) {
    return zt__net_get((zt_netstore *)s, &zt__h_objops, key, off, len, out);
}
static int zt__h_head(zt_store *s, const char *key, zt_stat *st) {
    return zt__net_head((zt_netstore *)s, &zt__h_objops, key, st);
}
static int zt__h_get_batch(zt_store *s, zt_req *reqs, size_t n, zt_req_done cb, void *ud) {
    return zt__net_get_batch((zt_netstore *)s, &zt__h_objops, reqs, n, cb, ud);
}

static void zt__h_close(zt_store *s) {
    zt_hstore *hs = (zt_hstore *)s;
    zt__netstore_fini(&hs->ns);
    free(hs->path);
    free(hs->query);
    free(hs);
}

static const zt_store_vt zt__http_vt = {
    .scheme = "http",
    .get = zt__h_get,
    .head = zt__h_head,
    .get_batch = zt__h_get_batch,
    .close = zt__h_close,
};

static const zt_netops zt__http_ops = {0};

int zt__store_http_open(const char *url, const zt_options_t *opts, zt_store **out) {
    zt_hstore *hs = calloc(1, sizeof *hs);
    if (!hs) return zt__err(ZT_ENOMEM, "out of memory");
    const char *rest;
    char *clean = zt__redact_url(url);
    int rc = clean ? zt__netstore_init(&hs->ns, &zt__http_vt, &zt__http_ops, clean, opts)
                   : zt__err(ZT_ENOMEM, "out of memory");
    free(clean);
    if (!rc) rc = zt__split_base(url, &hs->ns.base_url, &hs->ns.host, &rest);
    if (!rc) {
        size_t pl = strcspn(rest, "?#");
        while (pl > 0 && rest[pl - 1] == '/') pl--;
        hs->path = zt__strndup(rest, pl);
        if (rest[strcspn(rest, "?#")] == '?') {
            const char *q = rest + strcspn(rest, "?#") + 1;
            hs->query = zt__strndup(q, strcspn(q, "#"));
        }
        if (!hs->path) rc = zt__err(ZT_ENOMEM, "out of memory");
    }
    if (rc) {
        zt__h_close(&hs->ns.base);
        return rc;
    }
    hs->ns.follow = true;
    hs->ns.no_suffix = false;
    *out = &hs->ns.base;
    return 0;
}
