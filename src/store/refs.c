/* A read-only store serving a kerchunk reference set (version 0 or 1): each
 * key maps to inline data ("base64:..." or text) or to a byte range
 * [url, offset, length] (or a whole object [url]) of a target, read through a
 * store opened on that target (cached by URL). The Zarr layer reads it like
 * any hierarchy. Format: https://fsspec.github.io/kerchunk/spec.html */
#include "store/store.h"

#include <jansson.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct zt_rtarget {
    char *url;
    zt_store *s;
} zt_rtarget;

typedef struct zt_rstore {
    zt_store base;
    json_t *refs;      /* key -> ref */
    json_t *templates; /* name -> string, or NULL */
    char *base_dir;    /* for relative target URLs; "" = none */
    zt_options_t *opts;
    pthread_mutex_t mu;
    zt_rtarget *t;
    size_t nt;
} zt_rstore;

/* Resolve {{name}} templates and relative paths of a target URL. */
static char *zt__rs_url(zt_rstore *r, const char *u) {
    zt_buf b;
    zt__buf_init(&b);
    const char *p = u;
    while (*p) {
        const char *o = strstr(p, "{{");
        const char *c = o ? strstr(o + 2, "}}") : NULL;
        if (!o || !c) {
            zt__buf_append(&b, p, strlen(p));
            break;
        }
        zt__buf_append(&b, p, (size_t)(o - p));
        const char *v = json_string_value(json_object_getn(r->templates, o + 2, (size_t)(c - o - 2)));
        if (v) zt__buf_append(&b, v, strlen(v));
        else zt__buf_append(&b, o, (size_t)(c + 2 - o));
        p = c + 2;
    }
    zt__buf_append(&b, "", 1);
    char *s = (char *)b.data;
    if (!s) return NULL;
    if (!strstr(s, "://") && s[0] != '/' && r->base_dir[0]) {
        char *j = zt__path_join(r->base_dir, s);
        free(s);
        return j;
    }
    return s;
}

static int zt__rs_target(zt_rstore *r, const char *url, zt_store **out) {
    pthread_mutex_lock(&r->mu);
    int rc = 0;
    for (size_t i = 0; i < r->nt; i++)
        if (!strcmp(r->t[i].url, url)) {
            *out = r->t[i].s;
            goto done;
        }
    zt_rtarget *p = realloc(r->t, (r->nt + 1) * sizeof *p);
    if (!p) {
        rc = zt__err(ZT_ENOMEM, "out of memory");
        goto done;
    }
    r->t = p;
    zt_store *s = NULL;
    if ((rc = zt__store_open(url, r->opts, &s)) != 0) goto done;
    if (!(p[r->nt].url = strdup(url))) {
        zt__store_close(s);
        rc = zt__err(ZT_ENOMEM, "out of memory");
        goto done;
    }
    p[r->nt++].s = s;
    *out = s;
done:
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* Apply a request range to [0, n): start and count. */
static void zt__rs_clip(int64_t n, int64_t off, int64_t len, int64_t *start, int64_t *cnt) {
    if (off == ZT_WHOLE) {
        *start = 0;
        *cnt = n;
    } else if (off == ZT_SUFFIX) {
        *start = len >= n ? 0 : n - len;
        *cnt = n - *start;
    } else {
        *start = off > n ? n : off;
        *cnt = len > n - *start ? n - *start : len;
    }
}

/* A reference resolved to either inline bytes or a target range. */
typedef struct zt_rref {
    zt_buf data;       /* inline */
    bool is_inline;
    zt_store *s;       /* target */
    int64_t off, len;  /* target range; off ZT_WHOLE for a whole object */
} zt_rref;

static int zt__rs_resolve(zt_rstore *r, const char *key, int64_t off, int64_t len, zt_rref *o) {
    memset(o, 0, sizeof *o);
    json_t *v = json_object_get(r->refs, key);
    if (!v) return zt__err(ZT_ENOTFOUND, "%s: %s: not found", r->base.url, key);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        zt_buf full;
        zt__buf_init(&full);
        int rc = zt__str_startswith(s, "base64:") ? zt__b64_decode(s + 7, n - 7, &full)
                                                  : zt__buf_append(&full, s, n);
        if (rc) {
            zt__buf_free(&full);
            return zt__err_prefix(rc, "%s: %s: ", r->base.url, key);
        }
        int64_t st, cnt;
        zt__rs_clip((int64_t)full.len, off, len, &st, &cnt);
        o->is_inline = true;
        rc = zt__buf_append(&o->data, full.data + st, (size_t)cnt);
        zt__buf_free(&full);
        return rc;
    }
    if (!json_is_array(v) || json_array_size(v) < 1 || !json_is_string(json_array_get(v, 0)) ||
        (json_array_size(v) != 1 && json_array_size(v) != 3))
        return zt__err(ZT_EFORMAT, "%s: %s: malformed reference", r->base.url, key);
    char *url = zt__rs_url(r, json_string_value(json_array_get(v, 0)));
    if (!url) return zt__err(ZT_ENOMEM, "out of memory");
    int rc = zt__rs_target(r, url, &o->s);
    free(url);
    if (rc) return rc;
    if (json_array_size(v) == 1) {
        o->off = off;
        o->len = len;
        return 0;
    }
    int64_t roff = json_integer_value(json_array_get(v, 1)), rlen = json_integer_value(json_array_get(v, 2));
    if (roff < 0 || rlen < 0 || !json_is_integer(json_array_get(v, 1)) || !json_is_integer(json_array_get(v, 2)))
        return zt__err(ZT_EFORMAT, "%s: %s: malformed reference range", r->base.url, key);
    int64_t st, cnt;
    zt__rs_clip(rlen, off, len, &st, &cnt);
    o->off = roff + st;
    o->len = cnt;
    return 0;
}

static int zt__rs_fetch(zt_rref *o, zt_buf *out) {
    if (o->is_inline) {
        int rc = zt__buf_resize(out, o->data.len);
        if (!rc && o->data.len) memcpy(out->data, o->data.data, o->data.len);
        return rc;
    }
    if (o->off == ZT_WHOLE) return zt__store_get(o->s, "", out);
    if (o->off == ZT_SUFFIX) return zt__store_get_range(o->s, "", ZT_SUFFIX, o->len, out);
    if (o->len == 0) {
        out->len = 0;
        return 0;
    }
    return zt__store_get_range(o->s, "", o->off, o->len, out);
}

static int zt__rs_get(zt_store *s, const char *key, int64_t off, int64_t len, zt_buf *out) {
    zt_rref o;
    int rc = zt__rs_resolve((zt_rstore *)s, key, off, len, &o);
    if (!rc) rc = zt__rs_fetch(&o, out);
    zt__buf_free(&o.data);
    return rc;
}

static int zt__rs_head(zt_store *s, const char *key, zt_stat *st) {
    zt_rstore *r = (zt_rstore *)s;
    json_t *v = json_object_get(r->refs, key);
    if (!v) return zt__err(ZT_ENOTFOUND, "%s: %s: not found", s->url, key);
    if (json_is_array(v) && json_array_size(v) == 3) {
        st->size = json_integer_value(json_array_get(v, 2));
        return 0;
    }
    zt_rref o;
    int rc = zt__rs_resolve(r, key, ZT_WHOLE, 0, &o);
    if (!rc && o.is_inline) st->size = (int64_t)o.data.len;
    else if (!rc) rc = zt__store_head(o.s, "", st);
    zt__buf_free(&o.data);
    return rc;
}

static int zt__rs_list(zt_store *s, const char *prefix, bool delim, zt_strlist *keys, zt_strlist *prefixes) {
    zt_rstore *r = (zt_rstore *)s;
    char *pfx = prefix && *prefix && !zt__str_endswith(prefix, "/") ? zt__asprintf("%s/", prefix)
                                                                   : strdup(prefix ? prefix : "");
    if (!pfx) return zt__err(ZT_ENOMEM, "out of memory");
    size_t pl = strlen(pfx);
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(r->refs, k, v) {
        if (strncmp(k, pfx, pl) != 0) continue;
        const char *slash = delim ? strchr(k + pl, '/') : NULL;
        if (slash) {
            char *p = zt__strndup(k, (size_t)(slash - k) + 1);
            if (!p) rc = zt__err(ZT_ENOMEM, "out of memory");
            else if (prefixes && !zt__strlist_contains(prefixes, p)) rc = zt__strlist_push_own(prefixes, p);
            else free(p);
        } else {
            rc = zt__strlist_push(keys, k);
        }
        if (rc) break;
    }
    free(pfx);
    zt__strlist_sort(keys);
    if (prefixes) zt__strlist_sort(prefixes);
    return rc;
}

/* Batch: inline refs complete at once; range refs go to their target's own
 * batch (concurrent on network stores). Each request's buffer (the caller
 * may lend its own memory, see zt_req) travels down to the target's request
 * and back, so it is reused in place and never freed here. */
typedef struct zt_rsbatch {
    zt_req_done cb;
    void *ud;
} zt_rsbatch;

static void zt__rs_sub_done(zt_req *sub, void *ud) {
    zt_rsbatch *b = ud;
    zt_req *orig = sub->user;
    orig->out = sub->out;
    zt__buf_init(&sub->out);
    orig->status = sub->status;
    sub->user = NULL; /* completed */
    if (b->cb) b->cb(orig, b->ud);
}

static int zt__rs_get_batch(zt_store *s, zt_req *reqs, size_t n, zt_req_done cb, void *ud) {
    zt_rstore *r = (zt_rstore *)s;
    zt_req *subs = calloc(n ? n : 1, sizeof *subs);
    zt_store **tg = calloc(n ? n : 1, sizeof *tg);
    if (!subs || !tg) {
        free(subs);
        free(tg);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    size_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        zt_rref o;
        atomic_fetch_add(&s->n_requests, 1);
        int rc = zt__rs_resolve(r, reqs[i].key, reqs[i].offset, reqs[i].length, &o);
        if (!rc && !o.is_inline && o.off >= 0 && o.len > 0) {
            subs[ns] = (zt_req){.key = "", .offset = o.off, .length = o.len, .out = reqs[i].out, .user = &reqs[i]};
            zt__buf_init(&reqs[i].out);
            tg[ns++] = o.s;
            zt__buf_free(&o.data);
            continue;
        }
        if (!rc) rc = zt__rs_fetch(&o, &reqs[i].out);
        zt__buf_free(&o.data);
        reqs[i].status = rc;
        if (cb) cb(&reqs[i], ud);
    }
    /* one batch per target store (usually a single file) */
    zt_rsbatch b = {cb, ud};
    int rc = 0;
    size_t done = 0;
    bool *used = calloc(ns ? ns : 1, sizeof *used);
    zt_req *grp = calloc(ns ? ns : 1, sizeof *grp);
    if (!used || !grp) rc = zt__err(ZT_ENOMEM, "out of memory");
    while (!rc && done < ns) {
        size_t first = 0;
        while (used[first]) first++;
        size_t g = 0;
        for (size_t i = first; i < ns; i++)
            if (!used[i] && tg[i] == tg[first]) {
                grp[g++] = subs[i];
                zt__buf_init(&subs[i].out);
                used[i] = true;
            }
        rc = zt__store_get_batch(tg[first], grp, g, zt__rs_sub_done, &b);
        /* requests the target never completed: their buffers go back */
        for (size_t i = 0; i < g; i++)
            if (grp[i].user) {
                grp[i].status = rc ? rc : zt__err(ZT_EIO, "%s: reference not fetched", s->url);
                zt__rs_sub_done(&grp[i], &b);
            }
        done += g;
    }
    /* after a failure (allocation) every request still gets its answer */
    for (size_t i = 0; i < ns; i++)
        if (!used || !used[i]) {
            subs[i].status = rc ? rc : ZT_ENOMEM;
            zt__rs_sub_done(&subs[i], &b);
        }
    free(used);
    free(grp);
    free(subs);
    free(tg);
    return rc;
}

static void zt__rs_close(zt_store *s) {
    zt_rstore *r = (zt_rstore *)s;
    for (size_t i = 0; i < r->nt; i++) {
        zt__store_close(r->t[i].s);
        free(r->t[i].url);
    }
    free(r->t);
    json_decref(r->refs);
    json_decref(r->templates);
    free(r->base_dir);
    zt_options_free(r->opts);
    pthread_mutex_destroy(&r->mu);
    free(s->url);
    free(r);
}

static const zt_store_vt zt__refs_vt = {
    .scheme = "reference",
    .get = zt__rs_get,
    .head = zt__rs_head,
    .list = zt__rs_list,
    .get_batch = zt__rs_get_batch,
    .close = zt__rs_close,
};

static int zt__rs_copy_opts(const zt_options_t *opts, zt_options_t **out) {
    int rc = zt_options_create(out);
    for (size_t i = 0; !rc && i < zt_options_count(opts); i++) {
        const char *k, *v;
        zt_options_item(opts, i, &k, &v);
        rc = zt_options_set(*out, k, v);
    }
    return rc;
}

int zt__store_refs_from_json(const json_t *j, const char *base_url, const zt_options_t *opts, zt_store **out) {
    const char *name = base_url ? base_url : "(references)";
    json_t *refs = NULL;
    json_t *ver = json_object_get(j, "version");
    if (!json_is_object(j)) return zt__err(ZT_EFORMAT, "%s: reference set is not a JSON object", name);
    if (ver) {
        if (json_integer_value(ver) != 1)
            return zt__err(ZT_EVERSION, "%s: kerchunk reference version %lld not supported", name,
                           (long long)json_integer_value(ver));
        if (json_object_get(j, "gen") && json_array_size(json_object_get(j, "gen")))
            return zt__err(ZT_EUNSUPPORTED, "%s: kerchunk \"gen\" references are not supported", name);
        refs = json_object_get(j, "refs");
        if (!json_is_object(refs)) return zt__err(ZT_EFORMAT, "%s: no \"refs\" object", name);
    } else {
        refs = (json_t *)j; /* version 0: the object is the refs */
    }
    zt_rstore *r = calloc(1, sizeof *r);
    if (!r) return zt__err(ZT_ENOMEM, "out of memory");
    pthread_mutex_init(&r->mu, NULL);
    r->base.vt = &zt__refs_vt;
    r->refs = json_deep_copy(refs);
    json_t *tpl = ver ? json_object_get(j, "templates") : NULL;
    r->templates = json_is_object(tpl) ? json_deep_copy(tpl) : NULL;
    r->base.url = zt__asprintf("reference://%s", name);
    /* the refs file's directory resolves relative targets */
    char *dir = base_url ? strdup(base_url) : strdup("");
    if (dir) {
        char *sl = strrchr(dir, '/');
        if (sl) *sl = 0;
        else dir[0] = 0;
    }
    r->base_dir = dir;
    int rc = !r->refs || !r->base.url || !dir ? zt__err(ZT_ENOMEM, "out of memory") : 0;
    if (!rc) rc = zt__rs_copy_opts(opts, &r->opts);
    if (rc) {
        zt__rs_close(&r->base);
        return rc;
    }
    *out = &r->base;
    return 0;
}

int zt__store_refs_open(const char *refs_url, const zt_options_t *opts, zt_store **out) {
    if (!refs_url || !*refs_url) return zt__err(ZT_EINVAL, "empty reference URL");
    if (zt__str_startswith(refs_url, "reference://")) refs_url += 12;
    zt_store *s = NULL;
    int rc = zt__store_open(refs_url, opts, &s);
    if (rc) return rc;
    zt_buf b;
    zt__buf_init(&b);
    rc = zt__store_get(s, "", &b);
    zt__store_close(s);
    if (rc) {
        zt__buf_free(&b);
        return zt__err_prefix(rc, "%s: ", refs_url);
    }
    json_error_t je;
    json_t *j = json_loadb((const char *)b.data, b.len, 0, &je);
    zt__buf_free(&b);
    if (!j)
        return zt__err(ZT_EFORMAT, "%s: reference file is not valid JSON: %s (line %d)", refs_url, je.text,
                       je.line);
    rc = zt__store_refs_from_json(j, refs_url, opts, out);
    json_decref(j);
    return rc;
}
