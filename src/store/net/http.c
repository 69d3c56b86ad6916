/* Read-only plain HTTP(S) store: http(s)://host/path. The key "" is the URL
 * itself (a single .h5md file); other keys are appended as path segments (a
 * zarrmd hierarchy served by any static web server). Listing reads HTML
 * directory indexes (nginx autoindex, Apache, python -m http.server), as
 * fsspec's HTTP filesystem does; a server without them cannot list. */
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


/* Links of an HTML directory index: relative names, directories ending in '/'. */
int zt__http_parse_index(const char *body, size_t len, const char *dir, zt_strlist *files, zt_strlist *dirs) {
    const char *p = body ? body : "", *end = p + (body ? len : 0);
    int rc = 0;
    while (!rc && p < end) {
        const char *h = memmem(p, (size_t)(end - p), "href=", 5);
        if (!h) break;
        h += 5;
        if (h >= end) break;
        char q = *h;
        if (q != '"' && q != '\'') {
            p = h;
            continue;
        }
        const char *v = h + 1, *e = memchr(v, q, (size_t)(end - v));
        if (!e) break;
        p = e + 1;
        size_t n = (size_t)(e - v);
        if (n == 0 || v[0] == '?' || v[0] == '#' || v[0] == '/' || memmem(v, n, "://", 3)) continue;
        char *name = zt__uri_decode(v, n, false);
        if (!name) return zt__err(ZT_ENOMEM, "out of memory");
        char *nm = name;
        while (nm[0] == '.' && nm[1] == '/') nm += 2;
        size_t l = strlen(nm);
        bool is_dir = l > 0 && nm[l - 1] == '/';
        if (is_dir) nm[--l] = 0;
        /* parent/self links, nested paths and query-carrying links are not entries */
        if (l == 0 || !strcmp(nm, "..") || !strcmp(nm, ".") || strchr(nm, '/') || strchr(nm, '?')) {
            free(name);
            continue;
        }
        char *full = dir && *dir ? zt__asprintf("%s/%s", dir, nm) : strdup(nm);
        free(name);
        if (!full) return zt__err(ZT_ENOMEM, "out of memory");
        zt_strlist *dst = is_dir ? dirs : files;
        if (zt__strlist_contains(dst, full)) free(full);
        else rc = zt__strlist_push_own(dst, full);
    }
    return rc;
}

static int zt__h_list(zt_store *s, const char *prefix, bool delim, zt_strlist *keys, zt_strlist *prefixes) {
    zt_netstore *ns = (zt_netstore *)s;
    /* Breadth-first over directories, one concurrent batch per level. */
    zt_strlist level, next;
    zt__strlist_init(&level);
    zt__strlist_init(&next);
    char *p0 = strdup(prefix ? prefix : "");
    if (!p0) return zt__err(ZT_ENOMEM, "out of memory");
    size_t l0 = strlen(p0);
    while (l0 > 0 && p0[l0 - 1] == '/') p0[--l0] = 0;
    int rc = zt__strlist_push_own(&level, p0);
    for (int depth = 0; !rc && level.n && depth < 64; depth++) {
        zt_req *reqs = calloc(level.n, sizeof *reqs);
        char **keys_with_slash = calloc(level.n, sizeof(char *));
        if (!reqs || !keys_with_slash) rc = zt__err(ZT_ENOMEM, "out of memory");
        for (size_t i = 0; !rc && i < level.n; i++) {
            keys_with_slash[i] = *level.items[i] ? zt__asprintf("%s/", level.items[i]) : strdup("");
            if (!keys_with_slash[i]) rc = zt__err(ZT_ENOMEM, "out of memory");
            reqs[i].key = keys_with_slash[i];
            reqs[i].offset = ZT_WHOLE;
        }
        if (!rc) rc = zt__net_get_batch(ns, &zt__h_objops, reqs, level.n, NULL, NULL);
        for (size_t i = 0; !rc && i < level.n; i++) {
            if (reqs[i].status == ZT_ENOTFOUND && depth > 0) continue;
            if (reqs[i].status) {
                rc = reqs[i].status == ZT_ENOTFOUND ? zt__err(ZT_ENOTFOUND, "%s: no directory index at '%s'", s->url, level.items[i])
                                                    : reqs[i].status;
                break;
            }
            zt_strlist dirs;
            zt__strlist_init(&dirs);
            rc = zt__http_parse_index((const char *)reqs[i].out.data, reqs[i].out.len, level.items[i], keys, &dirs);
            for (size_t k = 0; !rc && k < dirs.n; k++) {
                if (delim) rc = prefixes ? zt__strlist_push_own(prefixes, zt__asprintf("%s/", dirs.items[k])) : 0;
                else rc = zt__strlist_push(&next, dirs.items[k]);
            }
            zt__strlist_free(&dirs);
        }
        for (size_t i = 0; reqs && i < level.n; i++) zt__buf_free(&reqs[i].out);
        for (size_t i = 0; keys_with_slash && i < level.n; i++) free(keys_with_slash[i]);
        free(reqs);
        free(keys_with_slash);
        zt__strlist_free(&level);
        level = next;
        zt__strlist_init(&next);
    }
    zt__strlist_free(&level);
    zt__strlist_free(&next);
    if (!rc) zt__strlist_sort(keys);
    if (!rc && prefixes) zt__strlist_sort(prefixes);
    return rc;
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
    .get = zt__netvt_get,
    .head = zt__netvt_head,
    .get_batch = zt__netvt_get_batch,
    .list = zt__h_list,
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
    hs->ns.objops = &zt__h_objops;
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
