/* Store dispatch by URL scheme and the counting wrappers every layer uses. */
#include "store/store.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef ZT_HAVE_CURL
#include "store/net/net.h"
#endif

void zt__url_scheme(const char *url, char *buf, size_t bufsz) {
    const char *p = strstr(url, "://");
    size_t n = 0;
    if (p) {
        const char *q = url;
        for (; q < p; q++)
            if (!isalnum((unsigned char)*q) && *q != '+' && *q != '-' && *q != '.') break;
        if (q == p) n = (size_t)(p - url);
    }
    if (n == 0 || n >= bufsz) {
        snprintf(buf, bufsz, "file");
        return;
    }
    for (size_t i = 0; i < n; i++) buf[i] = (char)tolower((unsigned char)url[i]);
    buf[n] = 0;
}

int zt__store_open(const char *url, const zt_options_t *opts, zt_store **out) {
    if (!url || !*url || !out) return zt__err(ZT_EINVAL, "empty URL");
    char scheme[32];
    zt__url_scheme(url, scheme, sizeof scheme);
    int rc;
    if (!strcmp(scheme, "file")) {
        const char *path = url;
        if (zt__str_startswith(url, "file://")) path = url + 7;
        rc = zt__store_file_open(path, opts, out);
    } else if (!strcmp(scheme, "reference")) {
        rc = zt__store_refs_open(url, opts, out);
    } else if (!strcmp(scheme, "memory")) {
        rc = zt__store_memory_open(url + 9, opts, out);
    }
#ifdef ZT_HAVE_CURL
    else if (!strcmp(scheme, "http") || !strcmp(scheme, "https")) {
        rc = zt__store_http_open(url, opts, out);
    } else if (!strcmp(scheme, "s3") || !strcmp(scheme, "s3a")) {
        rc = zt__store_s3_open(url, opts, out);
    } else if (!strcmp(scheme, "gs") || !strcmp(scheme, "gcs")) {
        rc = zt__store_gcs_open(url, opts, out);
    } else if (!strcmp(scheme, "az") || !strcmp(scheme, "abfs") || !strcmp(scheme, "abfss")) {
        rc = zt__store_azure_open(url, opts, out);
    }
#endif
    else {
        return zt__err(ZT_EUNSUPPORTED, "%s: unsupported URL scheme '%s'", url, scheme);
    }
    return rc;
}

void zt__store_close(zt_store *s) {
    if (s) s->vt->close(s);
}

static void zt__count(zt_store *s, size_t bytes) {
    atomic_fetch_add(&s->n_requests, 1);
    atomic_fetch_add(&s->n_bytes, bytes);
}

int zt__store_get(zt_store *s, const char *key, zt_buf *out) {
    int rc = s->vt->get(s, key, ZT_WHOLE, 0, out);
    zt__count(s, rc == 0 ? out->len : 0);
    return rc;
}

int zt__store_get_range(zt_store *s, const char *key, int64_t offset, int64_t length,
                        zt_buf *out) {
    if (offset < ZT_SUFFIX || (offset != ZT_WHOLE && length < 0))
        return zt__err(ZT_EINVAL, "%s: invalid byte range", key);
    if (offset >= 0 && length == 0) {
        out->len = 0;
        return 0;
    }
    int rc = s->vt->get(s, key, offset, length, out);
    zt__count(s, rc == 0 ? out->len : 0);
    return rc;
}

int zt__store_head(zt_store *s, const char *key, zt_stat *st) {
    memset(st, 0, sizeof *st);
    st->size = -1;
    atomic_fetch_add(&s->n_requests, 1);
    return s->vt->head(s, key, st);
}

int zt__store_put(zt_store *s, const char *key, const void *data, size_t n) {
    if (!s->vt->put) return zt__err(ZT_EUNSUPPORTED, "%s: store is read-only", s->url);
    atomic_fetch_add(&s->n_requests, 1);
    return s->vt->put(s, key, data, n);
}

int zt__store_del(zt_store *s, const char *key) {
    if (!s->vt->del) return zt__err(ZT_EUNSUPPORTED, "%s: store is read-only", s->url);
    atomic_fetch_add(&s->n_requests, 1);
    return s->vt->del(s, key);
}

int zt__store_list(zt_store *s, const char *prefix, bool delim, zt_strlist *keys,
                   zt_strlist *prefixes) {
    if (!s->vt->list) return zt__err(ZT_EUNSUPPORTED, "%s: store cannot list keys", s->url);
    atomic_fetch_add(&s->n_requests, 1);
    return s->vt->list(s, prefix ? prefix : "", delim, keys, prefixes);
}

int zt__store_get_batch(zt_store *s, zt_req *reqs, size_t n, zt_req_done cb, void *ud) {
    if (n == 0) return 0;
    if (s->vt->get_batch) return s->vt->get_batch(s, reqs, n, cb, ud);
    /* Sequential fallback: each request completes in order. */
    for (size_t i = 0; i < n; i++) {
        zt_req *r = &reqs[i];
        if (r->offset == ZT_WHOLE) r->status = zt__store_get(s, r->key, &r->out);
        else r->status = zt__store_get_range(s, r->key, r->offset, r->length, &r->out);
        if (cb) cb(r, ud);
    }
    return 0;
}

int zt__store_put_batch(zt_store *s, zt_put_req *reqs, size_t n, zt_put_done cb, void *ud) {
    if (n == 0) return 0;
    if (!s->vt->put) return zt__err(ZT_EUNSUPPORTED, "%s: store is read-only", s->url);
    if (s->vt->put_batch) return s->vt->put_batch(s, reqs, n, cb, ud);
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        reqs[i].status = zt__store_put(s, reqs[i].key, reqs[i].data, reqs[i].n);
        if (reqs[i].status && !first) first = reqs[i].status;
        if (cb) cb(&reqs[i], ud);
    }
    return first;
}

int zt__store_put_file(zt_store *s, const char *key, const char *local_path,
                       void (*progress)(void *ud, uint64_t done, uint64_t total), void *ud) {
    if (s->vt->put_file) return s->vt->put_file(s, key, local_path, progress, ud);
    FILE *f = fopen(local_path, "rb");
    if (!f) return zt__err(ZT_EIO, "%s: cannot open for reading", local_path);
    zt_buf b;
    zt__buf_init(&b);
    char tmp[1 << 16];
    size_t k;
    int rc = 0;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0)
        if ((rc = zt__buf_append(&b, tmp, k)) != 0) break;
    fclose(f);
    if (!rc) rc = zt__store_put(s, key, b.data ? (void *)b.data : (void *)"", b.len);
    if (!rc && progress) progress(ud, b.len, b.len);
    zt__buf_free(&b);
    return rc;
}

int zt__store_del_prefix(zt_store *s, const char *prefix) {
    zt_strlist keys;
    zt__strlist_init(&keys);
    int rc = zt__store_list(s, prefix, false, &keys, NULL);
    for (size_t i = 0; rc == 0 && i < keys.n; i++) {
        rc = zt__store_del(s, keys.items[i]);
        if (rc == ZT_ENOTFOUND) rc = 0;
    }
    zt__strlist_free(&keys);
    return rc;
}
