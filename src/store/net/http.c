/* Read-only plain HTTP(S) store: http(s)://host/path. The key "" is the URL
 * itself (a single .h5md file); other keys are appended as path segments (a
 * zarrmd hierarchy served by any static web server). Listing reads HTML
 * directory indexes (nginx autoindex, Apache, python -m http.server), as
 * fsspec's HTTP filesystem does, and nginx's JSON and XML autoindex formats;
 * a server without them cannot list (ZT_EUNSUPPORTED / ZT_ENOTFOUND). */
#include "store/net/net.h"

#include <jansson.h>
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


/* "'dir/'", or "the root directory", as three printf arguments. */
#define ZT_H_WHERE(dir) (dir) && *(dir) ? "'" : "the root directory", (dir) && *(dir) ? (dir) : "", \
                        (dir) && *(dir) ? "/'" : ""

/* One entry of a directory index: name relative to dir (already decoded),
 * directories ending in '/' or flagged by is_dir. */
static int zt__h_entry(char *name, bool is_dir, const char *dir, zt_strlist *files, zt_strlist *dirs) {
    char *nm = name;
    while (nm[0] == '.' && nm[1] == '/') nm += 2;
    size_t l = strlen(nm);
    if (l > 0 && nm[l - 1] == '/') {
        is_dir = true;
        nm[--l] = 0;
    }
    /* parent/self links, nested paths and query-carrying links are not entries */
    if (l == 0 || !strcmp(nm, "..") || !strcmp(nm, ".") || strchr(nm, '/') || strchr(nm, '?')) return 0;
    char *full = dir && *dir ? zt__asprintf("%s/%s", dir, nm) : strdup(nm);
    if (!full) return zt__err(ZT_ENOMEM, "out of memory");
    zt_strlist *dst = is_dir ? dirs : files;
    if (zt__strlist_contains(dst, full)) {
        free(full);
        return 0;
    }
    return zt__strlist_push_own(dst, full);
}

/* nginx `autoindex_format json`: [{"name": "x", "type": "directory"|"file"|...}, ...]. */
static int zt__h_parse_json(const json_t *j, const char *dir, zt_strlist *files, zt_strlist *dirs) {
    size_t i;
    json_t *e;
    int rc = 0;
    json_array_foreach(j, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *type = json_string_value(json_object_get(e, "type"));
        if (!name || !type) continue;
        bool is_dir = !strcmp(type, "directory");
        if (!is_dir && strcmp(type, "file")) continue; /* "other": sockets, devices */
        char *n = strdup(name);
        rc = n ? zt__h_entry(n, is_dir, dir, files, dirs) : zt__err(ZT_ENOMEM, "out of memory");
        free(n);
        if (rc) break;
    }
    return rc;
}

/* nginx `autoindex_format xml`: <list><directory>x</directory><file>y</file></list>. */
static int zt__h_parse_xml(const zt_xml *list, const char *dir, zt_strlist *files, zt_strlist *dirs) {
    int rc = 0;
    for (const zt_xml *c = list->child; c && !rc; c = c->next) {
        bool is_dir = !strcmp(c->name, "directory");
        if ((!is_dir && strcmp(c->name, "file")) || !c->text) continue;
        char *n = strdup(c->text);
        rc = n ? zt__h_entry(n, is_dir, dir, files, dirs) : zt__err(ZT_ENOMEM, "out of memory");
        free(n);
    }
    return rc;
}

/* Links of an HTML directory index (nginx, Apache, python -m http.server):
 * relative hrefs, directories ending in '/'. *hrefs counts the links seen. */
static int zt__h_parse_html(const char *body, size_t len, const char *dir, zt_strlist *files, zt_strlist *dirs,
                            size_t *hrefs) {
    const char *p = body, *end = p + len;
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
        (*hrefs)++;
        size_t n = (size_t)(e - v);
        if (n == 0 || v[0] == '?' || v[0] == '#' || v[0] == '/' || memmem(v, n, "://", 3)) continue;
        char *name = zt__uri_decode(v, n, false);
        if (!name) return zt__err(ZT_ENOMEM, "out of memory");
        rc = zt__h_entry(name, false, dir, files, dirs);
        free(name);
    }
    return rc;
}

/* A directory index in any of the formats above. A response that is none of
 * them (a custom page, an S3 website error document) is ZT_EUNSUPPORTED: an
 * empty listing would make the hierarchy look empty instead. */
int zt__http_parse_index(const char *url, const char *body, size_t len, const char *dir, zt_strlist *files,
                         zt_strlist *dirs) {
    const char *p = body ? body : "", *end = p + (body ? len : 0);
    while (p < end && strchr(" \t\r\n", *p)) p++;
    if (p < end && *p == '[') {
        json_t *j = json_loadb(p, (size_t)(end - p), 0, NULL);
        int rc = json_is_array(j) ? zt__h_parse_json(j, dir, files, dirs) : 1;
        json_decref(j);
        if (rc <= 0) return rc;
    } else if (p < end && *p == '<') {
        zt_xml *x = end - p > 5 && !memcmp(p, "<?xml", 5) ? zt__xml_parse(p, (size_t)(end - p)) : NULL;
        if (x && !strcmp(x->name, "list")) {
            int rc = zt__h_parse_xml(x, dir, files, dirs);
            zt__xml_free(x);
            return rc;
        }
        zt__xml_free(x);
        size_t hrefs = 0;
        int rc = zt__h_parse_html(p, (size_t)(end - p), dir, files, dirs, &hrefs);
        if (rc || hrefs) return rc; /* even an empty HTML index links to its parent */
    }
    return zt__err(ZT_EUNSUPPORTED,
                   "%s: the listing of %s%s%s is not a directory index this store reads (HTML, or "
                   "nginx autoindex JSON/XML)", url, ZT_H_WHERE(dir));
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
            if (reqs[i].status == ZT_ENOTFOUND) {
                rc = zt__err(ZT_ENOTFOUND, "%s: no directory index of %s%s%s (HTTP 404: no such directory, "
                             "or the server gives no listings)", s->url, ZT_H_WHERE(level.items[i]));
                break;
            }
            if (reqs[i].status == ZT_EAUTH) {
                /* objects are readable (the caller got this far): listings are refused */
                rc = zt__err(ZT_EUNSUPPORTED, "%s: the server refuses to list %s%s%s (access denied)", s->url,
                             ZT_H_WHERE(level.items[i]));
                break;
            }
            if (reqs[i].status) {
                rc = reqs[i].status;
                break;
            }
            zt_strlist dirs;
            zt__strlist_init(&dirs);
            rc = zt__http_parse_index(s->url, (const char *)reqs[i].out.data, reqs[i].out.len, level.items[i], keys,
                                      &dirs);
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
