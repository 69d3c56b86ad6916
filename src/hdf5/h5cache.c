/* Serialisation of an HDF5 tree (nodes, attributes, array metadata, chunk
 * tables) to JSON, and the on-disk index cache of remote files under
 * $XDG_CACHE_HOME/zarrtraj, keyed by URL and validated by size + ETag, so
 * reopening a remote file costs one HEAD request. */
#include "hdf5/hdf5.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZT_H5_CACHE_VERSION 1

static const char *zt__lay[] = {"none", "chunked", "contiguous", "compact", "unsupported"};

/* ---- writing ------------------------------------------------------------------------ */
typedef struct zt_h5ser {
    json_t *data; /* array of storage descriptions */
} zt_h5ser;

static json_t *zt__b64_json(const void *p, size_t n) {
    char *s = zt__b64encode(p, n, false);
    json_t *j = s ? json_string(s) : NULL;
    free(s);
    return j;
}

static int zt__ser_data(zt_h5ser *x, zt_h5data *d) {
    if (d->id >= 0) return d->id;
    json_t *o = json_object();
    if (!o) return -1;
    int ok = !json_object_set_new(o, "layout", json_string(zt__lay[d->layout])) &&
             !json_object_set(o, "filters", d->filters);
    if (ok && d->layout == ZT_H5_CONTIG && d->base != UINT64_MAX)
        ok = !json_object_set_new(o, "base", json_integer((json_int_t)d->base));
    if (ok && d->layout == ZT_H5_CHUNKED) {
        size_t n = d->n * 24;
        uint8_t *p = malloc(n ? n : 1);
        if (!p) ok = 0;
        for (size_t i = 0; ok && i < d->n; i++) {
            uint8_t *q = p + 24 * i;
            uint64_t v[2] = {(uint64_t)d->tab[i].lin, d->tab[i].off};
            uint32_t w[2] = {d->tab[i].size, d->tab[i].mask};
            for (int b = 0; b < 8; b++) {
                q[b] = (uint8_t)(v[0] >> (8 * b));
                q[8 + b] = (uint8_t)(v[1] >> (8 * b));
            }
            for (int b = 0; b < 4; b++) {
                q[16 + b] = (uint8_t)(w[0] >> (8 * b));
                q[20 + b] = (uint8_t)(w[1] >> (8 * b));
            }
        }
        if (ok) ok = !json_object_set_new(o, "table", zt__b64_json(p, n));
        free(p);
    }
    if (ok && d->layout == ZT_H5_COMPACT)
        ok = !json_object_set_new(o, "inline", zt__b64_json(d->inline_data, d->inline_len));
    if (ok && d->error) ok = !json_object_set_new(o, "error", json_string(d->error));
    if (!ok || json_array_append_new(x->data, o)) {
        if (!ok) json_decref(o);
        return -1;
    }
    d->id = (int)json_array_size(x->data) - 1;
    return d->id;
}

static json_t *zt__ser_node(zt_h5ser *x, const zt_node *n) {
    /* a name that is not UTF-8 (HDF5 names are bytes) has no JSON string:
     * its bytes are kept in base64 instead */
    json_t *name = json_string(n->name);
    json_t *o = name ? json_pack("{s:o,s:O,s:b}", "n", name, "a", n->attrs, "ds", n->is_array)
                     : json_pack("{s:o,s:O,s:b}", "nb", zt__b64_json(n->name, strlen(n->name)), "a", n->attrs,
                                 "ds", n->is_array);
    if (!o) return NULL;
    if (n->value && json_object_set(o, "v", n->value)) goto fail;
    if (n->array) {
        const zt_array *a = n->array;
        zt_h5data *d = zt__h5_array_data(a);
        if (!d) goto fail;
        int id = zt__ser_data(x, d);
        char dt[8];
        json_t *shape = json_array(), *chunks = json_array();
        for (int k = 0; shape && chunks && k < a->ndim; k++) {
            json_array_append_new(shape, json_integer(a->shape[k]));
            json_array_append_new(chunks, json_integer(a->chunks[k]));
        }
        if (id < 0 || !shape || !chunks) {
            json_decref(shape);
            json_decref(chunks);
            goto fail;
        }
        /* json_pack steals the "o" references, also on failure */
        json_t *arr = json_pack("{s:s,s:o,s:o,s:o,s:i}", "d", zt__dtype_to_str(a->dtype, dt), "s", shape,
                                "k", chunks, "f",
                                a->has_fill ? zt__b64_json(a->fill, a->dtype.size) : json_null(), "i", id);
        if (!arr || json_object_set_new(o, "arr", arr)) goto fail;
    }
    if (n->n_children) {
        json_t *ch = json_array();
        if (!ch || json_object_set_new(o, "c", ch)) goto fail;
        for (size_t i = 0; i < n->n_children; i++) {
            json_t *c = zt__ser_node(x, n->children[i]);
            if (!c || json_array_append_new(ch, c)) goto fail;
        }
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

static void zt__reset_ids(zt_node *n) {
    zt_h5data *d = n->array ? zt__h5_array_data(n->array) : NULL;
    if (d) d->id = -1;
    for (size_t i = 0; i < n->n_children; i++) zt__reset_ids(n->children[i]);
}

int zt__h5_tree_to_json(const zt_tree *t, json_t **out) {
    zt_h5ser x = {json_array()};
    zt__reset_ids(t->root);
    json_t *root = x.data ? zt__ser_node(&x, t->root) : NULL;
    zt__reset_ids(t->root);
    if (!root) {
        json_decref(x.data);
        return zt__err(ZT_ENOMEM, "%s: cannot serialise the HDF5 index", t->url);
    }
    *out = json_pack("{s:i,s:o,s:o}", "zarrtraj_hdf5_index", ZT_H5_CACHE_VERSION, "data", x.data, "root", root);
    return *out ? 0 : zt__err(ZT_ENOMEM, "out of memory");
}

/* ---- reading ------------------------------------------------------------------------ */
typedef struct zt_h5des {
    zt_tree *t;
    zt_h5data **data;
    size_t ndata;
} zt_h5des;

static int zt__bad(const zt_tree *t, const char *what) {
    return zt__err(ZT_EFORMAT, "%s: index cache: %s", t->url, what);
}

static int zt__des_data(zt_h5des *x, const json_t *o, int64_t file_size, zt_h5data **out) {
    const char *lay = json_string_value(json_object_get(o, "layout"));
    json_t *filters = json_object_get(o, "filters");
    if (!lay || !json_is_array(filters)) return zt__bad(x->t, "bad storage entry");
    zt_h5data *d = zt__h5data_new();
    if (!d) return zt__err(ZT_ENOMEM, "out of memory");
    d->file_size = file_size;
    d->layout = -1;
    for (int i = 0; i < 5; i++)
        if (!strcmp(lay, zt__lay[i])) d->layout = i;
    json_decref(d->filters);
    d->filters = json_deep_copy(filters);
    int rc = d->layout < 0 || !d->filters ? zt__bad(x->t, "bad storage entry") : 0;
    json_t *base = json_object_get(o, "base");
    if (!rc && json_is_integer(base)) d->base = (uint64_t)json_integer_value(base);
    const char *tab = json_string_value(json_object_get(o, "table"));
    if (!rc && d->layout == ZT_H5_CHUNKED) {
        zt_buf b;
        zt__buf_init(&b);
        if (!tab || zt__b64_decode(tab, strlen(tab), &b) || b.len % 24) rc = zt__bad(x->t, "bad chunk table");
        else if (b.len && !(d->tab = malloc(b.len / 24 * sizeof *d->tab))) rc = zt__err(ZT_ENOMEM, "out of memory");
        for (size_t i = 0; !rc && i < b.len / 24; i++) {
            const uint8_t *q = b.data + 24 * i;
            uint64_t v0 = 0, v1 = 0;
            uint32_t w0 = 0, w1 = 0;
            for (int k = 7; k >= 0; k--) {
                v0 = (v0 << 8) | q[k];
                v1 = (v1 << 8) | q[8 + k];
            }
            for (int k = 3; k >= 0; k--) {
                w0 = (w0 << 8) | q[16 + k];
                w1 = (w1 << 8) | q[20 + k];
            }
            d->tab[i] = (zt_h5chunk){(int64_t)v0, v1, w0, w1};
            if (i && d->tab[i].lin <= d->tab[i - 1].lin) rc = zt__bad(x->t, "unsorted chunk table");
        }
        d->n = rc ? 0 : b.len / 24;
        zt__buf_free(&b);
    }
    const char *inl = json_string_value(json_object_get(o, "inline"));
    if (!rc && d->layout == ZT_H5_COMPACT) {
        zt_buf b;
        zt__buf_init(&b);
        if (!inl || zt__b64_decode(inl, strlen(inl), &b)) {
            rc = zt__bad(x->t, "bad inline data");
            zt__buf_free(&b);
        } else {
            d->inline_len = b.len;
            d->inline_data = zt__buf_steal(&b, &d->inline_len);
            if (!d->inline_data) d->inline_data = malloc(1);
        }
    }
    const char *err = json_string_value(json_object_get(o, "error"));
    if (!rc && d->layout == ZT_H5_UNSUPPORTED && !(d->error = strdup(err ? err : "unsupported storage")))
        rc = zt__err(ZT_ENOMEM, "out of memory");
    if (rc) {
        zt__h5data_unref(d);
        return rc;
    }
    *out = d;
    return 0;
}

static int zt__des_node(zt_h5des *x, const json_t *o, zt_node *parent, zt_node **out) {
    const char *name = json_string_value(json_object_get(o, "n"));
    json_t *nb = json_object_get(o, "nb");
    zt_buf raw;
    zt__buf_init(&raw);
    if (!name && json_is_string(nb)) { /* a name that is not UTF-8 */
        if (zt__b64_decode(json_string_value(nb), json_string_length(nb), &raw) || zt__buf_append(&raw, "", 1) ||
            strlen((const char *)raw.data) != raw.len - 1) {
            zt__buf_free(&raw);
            return zt__bad(x->t, "bad node name");
        }
        name = (const char *)raw.data;
    }
    json_t *attrs = json_object_get(o, "a");
    if (!name || !json_is_object(attrs) || (parent && (!*name || strchr(name, '/')))) {
        zt__buf_free(&raw);
        return zt__bad(x->t, "bad node");
    }
    zt_node *n = zt__node_new(name, parent, json_is_true(json_object_get(o, "ds")));
    zt__buf_free(&raw);
    if (!n) return zt__err(ZT_ENOMEM, "out of memory");
    json_decref(n->attrs);
    n->attrs = json_deep_copy(attrs);
    json_t *v = json_object_get(o, "v");
    if (v) n->value = json_deep_copy(v);
    int rc = !n->attrs || (v && !n->value) ? zt__err(ZT_ENOMEM, "out of memory") : 0;
    json_t *arr = json_object_get(o, "arr");
    if (!rc && arr) {
        zt_h5meta m;
        memset(&m, 0, sizeof m);
        json_t *shape = json_object_get(arr, "s"), *chunks = json_object_get(arr, "k");
        json_t *id = json_object_get(arr, "i"), *fill = json_object_get(arr, "f");
        const char *dt = json_string_value(json_object_get(arr, "d"));
        if (!dt || zt__dtype_from_str(dt, &m.dtype) || !json_is_array(shape) || !json_is_array(chunks) ||
            json_array_size(shape) != json_array_size(chunks) || json_array_size(shape) > ZT_MAXDIM ||
            !json_is_integer(id) || json_integer_value(id) < 0 ||
            (size_t)json_integer_value(id) >= x->ndata)
            rc = zt__bad(x->t, "bad array");
        m.ndim = rc ? 0 : (int)json_array_size(shape);
        for (int k = 0; !rc && k < m.ndim; k++) {
            m.shape[k] = json_integer_value(json_array_get(shape, (size_t)k));
            m.chunks[k] = json_integer_value(json_array_get(chunks, (size_t)k));
        }
        if (!rc && json_is_string(fill)) {
            zt_buf b;
            zt__buf_init(&b);
            if (zt__b64_decode(json_string_value(fill), json_string_length(fill), &b) || b.len != m.dtype.size)
                rc = zt__bad(x->t, "bad fill value");
            else {
                memcpy(m.fill, b.data, b.len);
                m.has_fill = true;
            }
            zt__buf_free(&b);
        }
        if (!rc)
            rc = zt__h5_make_array(n->path, x->t->url, x->t->store, &m,
                                   x->data[json_integer_value(id)], &n->array);
    }
    json_t *ch = json_object_get(o, "c"), *c;
    size_t i;
    json_array_foreach(ch, i, c) {
        if (rc) break;
        zt_node *child = NULL;
        rc = zt__des_node(x, c, n, &child);
        if (!rc && (rc = zt__node_add_child(n, child)) != 0) zt__node_free(child);
    }
    if (rc) {
        zt__node_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

int zt__h5_tree_from_json(zt_tree *t, const json_t *j, int64_t file_size) {
    zt_h5des x = {t, NULL, 0};
    json_t *data = json_object_get(j, "data"), *root = json_object_get(j, "root");
    if (json_integer_value(json_object_get(j, "zarrtraj_hdf5_index")) != ZT_H5_CACHE_VERSION ||
        !json_is_array(data) || !json_is_object(root))
        return zt__bad(t, "unknown format");
    int rc = 0;
    x.data = calloc(json_array_size(data) + 1, sizeof *x.data);
    if (!x.data) return zt__err(ZT_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < json_array_size(data); i++) {
        rc = zt__des_data(&x, json_array_get(data, i), file_size, &x.data[i]);
        if (!rc) x.ndata++;
    }
    zt_node *r = NULL;
    if (!rc) rc = zt__des_node(&x, root, NULL, &r);
    for (size_t i = 0; i < x.ndata; i++) zt__h5data_unref(x.data[i]);
    free(x.data);
    if (rc) return rc;
    t->root = r;
    return 0;
}

/* ---- the on-disk cache --------------------------------------------------------------- */
bool zt__h5_index_cache_enabled(const zt_options_t *opts) {
    const char *v = zt_options_get(opts, "index_cache");
    if (!v) v = getenv("ZARRTRAJ_INDEX_CACHE");
    if (!v) return true;
    return !(!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"));
}

char *zt__h5_index_cache_path(const char *url) {
    const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    char *dir = x && *x ? zt__asprintf("%s/zarrtraj", x) : h && *h ? zt__asprintf("%s/.cache/zarrtraj", h) : NULL;
    if (!dir) return NULL;
    uint64_t f = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)url; *p; p++) f = (f ^ *p) * 1099511628211ull;
    char *path = zt__asprintf("%s/h5index-%016llx.json", dir, (unsigned long long)f);
    free(dir);
    return path;
}

static bool zt__stat_valid(const zt_stat *st) { return st->size >= 0 && (st->etag[0] || st->mtime); }

int zt__h5_index_cache_load(const char *url, const zt_stat *st, zt_tree *t) {
    if (!zt__stat_valid(st)) return ZT_ENOTFOUND;
    char *path = zt__h5_index_cache_path(url);
    if (!path) return ZT_ENOTFOUND;
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    free(path);
    if (!j) return ZT_ENOTFOUND;
    int rc = ZT_ENOTFOUND;
    const char *u = json_string_value(json_object_get(j, "url"));
    const char *e = json_string_value(json_object_get(j, "etag"));
    if (u && e && !strcmp(u, url) && !strcmp(e, st->etag) &&
        json_integer_value(json_object_get(j, "size")) == st->size &&
        json_integer_value(json_object_get(j, "mtime")) == st->mtime) {
        rc = zt__h5_tree_from_json(t, j, st->size);
        if (rc) ZT_WARN("%s; ignoring the cached index", zt_last_error());
    }
    json_decref(j);
    return rc;
}

static int zt__mkdir_p(const char *path) {
    char *p = strdup(path);
    if (!p) return -1;
    for (char *q = p + 1; *q; q++) {
        if (*q != '/') continue;
        *q = 0;
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *q = '/';
    }
    free(p);
    return 0;
}

int zt__h5_index_cache_save(const char *url, const zt_stat *st, const zt_tree *t) {
    if (!zt__stat_valid(st)) return zt__err(ZT_EUNSUPPORTED, "%s: no ETag or mtime to validate a cache", url);
    char *path = zt__h5_index_cache_path(url);
    if (!path) return zt__err(ZT_ENOTFOUND, "no cache directory (HOME unset)");
    json_t *j = NULL;
    int rc = zt__h5_tree_to_json(t, &j);
    if (!rc && (json_object_set_new(j, "url", json_string(url)) ||
                json_object_set_new(j, "etag", json_string(st->etag)) ||
                json_object_set_new(j, "size", json_integer(st->size)) ||
                json_object_set_new(j, "mtime", json_integer(st->mtime))))
        rc = zt__err(ZT_ENOMEM, "out of memory");
    char *tmp = rc ? NULL : zt__asprintf("%s.tmp%ld", path, (long)getpid());
    if (!rc && (!tmp || zt__mkdir_p(path) || json_dump_file(j, tmp, JSON_COMPACT) ||
                rename(tmp, path) != 0)) {
        rc = zt__err(ZT_EIO, "%s: cannot write the index cache", path);
        if (tmp) unlink(tmp);
    }
    free(tmp);
    free(path);
    json_decref(j);
    return rc;
}
