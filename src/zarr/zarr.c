/* Zarr v2 reader: hierarchy -> zt_tree, .zarray -> zt_array. */
#include "zarr/zarr.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct zt_zimpl {
    char sep;     /* dimension separator: '.' or '/' */
    int64_t rows; /* > 0: uncompressed chunks read row by row (stored rows per chunk) */
} zt_zimpl;

char *zt__zarr_chunk_key(const zt_array *a, const int64_t *cidx) {
    zt_zimpl *z = a->impl;
    size_t pl = strlen(a->path), n = pl + 2 + (size_t)(a->ndim ? a->ndim : 1) * 21;
    char *buf = malloc(n);
    if (!buf) return NULL;
    memcpy(buf, a->path, pl);
    size_t k = pl;
    if (pl) buf[k++] = '/';
    if (a->ndim == 0) {
        memcpy(buf + k, "0", 2);
        return buf;
    }
    for (int d = 0; d < a->ndim; d++) {
        if (d) buf[k++] = z->sep;
        k += (size_t)snprintf(buf + k, n - k, "%lld", (long long)cidx[d]); /* <= 20 digits + sign */
    }
    return buf;
}

static int zt__zlocate(const zt_array *a, const int64_t *cidx, zt_chunk_loc *loc) {
    memset(loc, 0, sizeof *loc);
    loc->notfound_is_fill = true; /* Zarr: a chunk never written reads as the fill value */
    zt_zimpl *z = a->impl;
    if (z->rows > 0) {
        /* Row r of an uncompressed stored chunk is a plain byte range of it. */
        int64_t real[ZT_MAXDIM];
        memcpy(real, cidx, sizeof(int64_t) * (size_t)a->ndim);
        real[0] = cidx[0] / z->rows;
        loc->key = zt__zarr_chunk_key(a, real);
        int64_t rowbytes = (int64_t)zt__array_chunk_nbytes(a); /* read grid: one row */
        loc->offset = (cidx[0] % z->rows) * rowbytes;
        loc->length = rowbytes;
    } else {
        loc->key = zt__zarr_chunk_key(a, cidx);
        loc->offset = ZT_WHOLE;
    }
    return loc->key ? 0 : zt__err(ZT_ENOMEM, "out of memory");
}

void zt__zarr_read_rows(zt_array *a) {
    zt_zimpl *z = a->impl;
    /* Local files read whole chunks faster (fewer, larger copies); the gain
     * is for latency- and bandwidth-bound stores. */
    if (zt__store_can(a->store, ZT_STORE_CAP_LOW_LATENCY) || a->pipeline->n != 0 || a->order_f || a->ndim < 2 || a->chunks[0] <= 1 || z->rows) return;
    /* only rows worth a request of their own (per-atom data, not step/time) */
    if (zt__array_chunk_nbytes(a) / (size_t)a->chunks[0] < ((size_t)64 << 10)) return;
    /* An uncompressed array is read row by row: a frame of a 10-frame chunk
     * costs one tenth of the bytes (random access, remote stores); sequential
     * reads coalesce neighbouring rows back into large requests. */
    memcpy(a->chunks_stored, a->chunks, sizeof a->chunks);
    z->rows = a->chunks[0];
    a->chunks[0] = 1;
}

static void zt__zfree(zt_array *a) { free(a->impl); }

static const zt_array_vt zt__zarr_vt = {zt__zlocate, zt__zfree, NULL};

/* Fill value of .zarray: number, null, "NaN", "Infinity", "-Infinity", bool. */
int zt__zarr_parse_fill(zt_array *a, const json_t *fv, const char *file, const char *doc) {
    a->has_fill = false;
    memset(a->fill, 0, sizeof a->fill);
    if (!fv || json_is_null(fv)) return 0;
    double d = 0;
    int64_t i = 0;
    bool is_int = false;
    if (json_is_string(fv)) {
        const char *s = json_string_value(fv);
        if (!strcmp(s, "NaN")) d = NAN;
        else if (!strcmp(s, "Infinity")) d = INFINITY;
        else if (!strcmp(s, "-Infinity")) d = -INFINITY;
        else return zt__err(ZT_EFORMAT, "%s: %s/%s: unsupported fill_value \"%s\"", file, a->path, doc, s);
        if (a->dtype.kind != 'f')
            return zt__err(ZT_EFORMAT, "%s: %s/%s: fill_value \"%s\" for a non-float dtype", file, a->path, doc, s);
    } else if (json_is_true(fv) || json_is_false(fv)) {
        i = json_is_true(fv);
        d = (double)i;
        is_int = true;
    } else if (json_is_integer(fv)) {
        i = json_integer_value(fv);
        d = (double)i;
        is_int = true;
    } else if (json_is_real(fv)) {
        d = json_real_value(fv);
        /* an integer array takes an integral real (3.0), nothing else: the
         * cast of 2.5, 1e30 or NaN would be wrong or undefined */
        if (a->dtype.kind != 'f') {
            if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != floor(d))
                return zt__err(ZT_EFORMAT, "%s: %s/%s: fill_value %.17g does not fit the integer dtype", file,
                               a->path, doc, d);
            i = (int64_t)d;
            is_int = true;
        }
    } else {
        return zt__err(ZT_EFORMAT, "%s: %s/%s: bad fill_value", file, a->path, doc);
    }
    if (is_int && a->dtype.kind != 'f') {
        /* in the dtype's range, as numpy demands (300 is no uint8) */
        int bits = 8 * a->dtype.size;
        bool ok = a->dtype.kind == 'b' ? (i == 0 || i == 1)
                  : a->dtype.kind == 'u' ? i >= 0 && (bits == 64 || i < ((int64_t)1 << bits))
                  : bits == 64 || (i >= -((int64_t)1 << (bits - 1)) && i < ((int64_t)1 << (bits - 1)));
        if (!ok)
            return zt__err(ZT_EFORMAT, "%s: %s/%s: fill_value %lld is out of range for the dtype", file, a->path, doc,
                           (long long)i);
    }
    uint8_t b[8];
    switch (a->dtype.kind) {
    case 'f':
        if (a->dtype.size == 4) {
            /* beyond float's range: infinity, as numpy rounds (the C cast is undefined) */
            float f = isfinite(d) && fabs(d) > FLT_MAX ? (d > 0 ? INFINITY : -INFINITY) : (float)d;
            memcpy(b, &f, 4);
        } else {
            memcpy(b, &d, 8);
        }
        break;
    default: {
        int64_t v = i; /* checked above: fits the element */
        for (int k = 0; k < 8; k++) b[k] = (uint8_t)((uint64_t)v >> (8 * k));
        break;
    }
    }
    if (a->dtype.big_endian)
        for (int k = 0; k < a->dtype.size / 2; k++) {
            uint8_t t = b[k];
            b[k] = b[a->dtype.size - 1 - k];
            b[a->dtype.size - 1 - k] = t;
        }
    memcpy(a->fill, b, a->dtype.size);
    a->has_fill = true;
    return 0;
}

static int zt__json_dims(const json_t *v, int64_t *out, int *nd, const char *what,
                         const char *file, const char *path) {
    if (!json_is_array(v))
        return zt__err(ZT_EFORMAT, "%s: %s/.zarray: '%s' must be a list", file, path, what);
    size_t n = json_array_size(v);
    if (n > ZT_MAXDIM) return zt__err(ZT_EUNSUPPORTED, "%s: %s: rank %zu not supported", file, path, n);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_integer(e) || json_integer_value(e) < 0)
            return zt__err(ZT_EFORMAT, "%s: %s/.zarray: '%s' must hold non-negative integers", file,
                           path, what);
        out[i] = json_integer_value(e);
    }
    *nd = (int)n;
    return 0;
}

int zt__zarr_array_from_json(const json_t *zj, const char *path, const char *file, zt_store *s,
                             zt_array **out) {
    if (!json_is_object(zj)) return zt__err(ZT_EFORMAT, "%s: %s/.zarray: not a JSON object", file, path);
    json_t *fmt = json_object_get(zj, "zarr_format");
    if (fmt && (!json_is_integer(fmt) || json_integer_value(fmt) != 2))
        return zt__err(ZT_EUNSUPPORTED, "%s: %s/.zarray: only zarr_format 2 is supported", file, path);
    zt_array *a = zt__array_new(path);
    if (!a) return zt__err(ZT_ENOMEM, "out of memory");
    a->file = file;
    a->store = s;
    a->vt = &zt__zarr_vt;
    zt_zimpl *z = calloc(1, sizeof *z);
    int rc = 0;
    if (!z) {
        rc = zt__err(ZT_ENOMEM, "out of memory");
        goto fail;
    }
    z->sep = '.';
    a->impl = z;
    int nd = 0, ncd = 0;
    if ((rc = zt__json_dims(json_object_get(zj, "shape"), a->shape, &nd, "shape", file, path))) goto fail;
    if ((rc = zt__json_dims(json_object_get(zj, "chunks"), a->chunks, &ncd, "chunks", file, path))) goto fail;
    if (nd != ncd) {
        rc = zt__err(ZT_EFORMAT, "%s: %s/.zarray: shape has rank %d but chunks rank %d", file, path, nd, ncd);
        goto fail;
    }
    a->ndim = nd;
    json_t *dt = json_object_get(zj, "dtype");
    if (!json_is_string(dt)) {
        if (json_is_array(dt))
            rc = zt__err(ZT_EUNSUPPORTED, "%s: %s/.zarray: structured dtypes are not supported", file, path);
        else
            rc = zt__err(ZT_EFORMAT, "%s: %s/.zarray: '%s' %s", file, path, "dtype",
                         !dt ? "is missing" : json_is_null(dt) ? "is null" : "must be a string");
        goto fail;
    }
    if ((rc = zt__dtype_from_str(json_string_value(dt), &a->dtype))) {
        rc = zt__err_prefix(rc, "%s: %s: ", file, path);
        goto fail;
    }
    json_t *order = json_object_get(zj, "order");
    if (order && (!json_is_string(order) ||
                  (strcmp(json_string_value(order), "C") && strcmp(json_string_value(order), "F")))) {
        char *txt = json_dumps(order, JSON_ENCODE_ANY | JSON_COMPACT);
        rc = zt__err(ZT_EFORMAT, "%s: %s/.zarray: 'order' must be \"C\" or \"F\", not %s", file, path,
                     txt ? txt : "?");
        free(txt);
        goto fail;
    }
    a->order_f = order && !strcmp(json_string_value(order), "F");
    json_t *sep = json_object_get(zj, "dimension_separator");
    if (sep && !json_is_null(sep)) {
        const char *sv = json_is_string(sep) ? json_string_value(sep) : "";
        if (strcmp(sv, ".") && strcmp(sv, "/")) {
            rc = zt__err(ZT_EFORMAT, "%s: %s/.zarray: bad dimension_separator '%s'", file, path, sv);
            goto fail;
        }
        z->sep = sv[0];
    }
    if ((rc = zt__zarr_parse_fill(a, json_object_get(zj, "fill_value"), file, ".zarray"))) goto fail;
    if ((rc = zt__pipeline_from_zarr(json_object_get(zj, "compressor"), json_object_get(zj, "filters"),
                                     &a->pipeline))) {
        rc = zt__err_prefix(rc, "%s: %s: ", file, path);
        goto fail;
    }
    /* numcodecs' Blosc shuffles with the array's item size */
    zt__pipeline_set_typesize(a->pipeline, a->dtype.size);
    a->codecs_desc = zt__pipeline_describe(a->pipeline);
    if ((rc = zt__array_validate(a))) goto fail;
    *out = a;
    return 0;
fail:
    zt__array_free(a);
    return rc;
}

/* ---- hierarchy ------------------------------------------------------------------ */

/* Node for path, creating missing parent groups. */
int zt__zarr_ensure_node(zt_tree *t, const char *path, bool is_array, zt_node **out) {
    zt_node *cur = t->root;
    const char *p = path;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 0) return zt__err(ZT_EFORMAT, "%s: bad key '%s' (empty path component)", t->url, path);
        zt_node *c = zt__node_childn(cur, p, l);
        bool last = !e;
        if (!c) {
            char *part = zt__strndup(p, l);
            c = part ? zt__node_new(part, cur, last && is_array) : NULL;
            free(part);
            if (!c) return zt__err(ZT_ENOMEM, "out of memory");
            int rc = zt__node_add_child(cur, c);
            if (rc) {
                zt__node_free(c);
                return rc;
            }
        } else if (last && is_array) {
            c->is_array = true;
        }
        if (c->is_array && !last)
            return zt__err(ZT_EFORMAT, "%s: '%s' is inside array '%s'", t->url, path, c->path);
        cur = c;
        p += l;
        if (*p == '/') p++;
    }
    *out = cur;
    return 0;
}

static int zt__parse_doc(zt_tree *t, const char *key, const uint8_t *data, size_t n, json_t **out) {
    json_error_t err;
    *out = json_loadb((const char *)data, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!*out)
        return zt__err(ZT_EFORMAT, "%s: %s: not valid JSON (line %d column %d: %s)", t->url, key,
                       err.line, err.column, err.text);
    return 0;
}

/* Apply one metadata document (key ends in .zgroup, .zarray or .zattrs). */
static int zt__apply_doc(zt_tree *t, const char *key, json_t *doc) {
    const char *slash = strrchr(key, '/');
    const char *base = slash ? slash + 1 : key;
    char *dir = slash ? zt__strndup(key, (size_t)(slash - key)) : strdup("");
    if (!dir) return zt__err(ZT_ENOMEM, "out of memory");
    int rc = 0;
    zt_node *n = NULL;
    if (!strcmp(base, ".zarray")) {
        rc = zt__zarr_ensure_node(t, dir, true, &n);
        if (!rc && n == t->root) rc = zt__err(ZT_EUNSUPPORTED, "%s: root is an array, not a group", t->url);
        json_t *dt = json_object_get(doc, "dtype");
        if (!rc && json_is_string(dt) && json_string_value(dt)[0] && strchr("|<>", json_string_value(dt)[0]) &&
            strchr("OUSV", json_string_value(dt)[1])) {
            /* Object/string arrays (kerchunk's vlen-utf8 strings, e.g. ZnH5MD's
             * box/boundary): a node the numeric layers skip, not an error. */
            zt__array_free(n->array);
            n->array = NULL;
            n->is_array = true;
            json_decref(n->value);
            n->value = json_null();
        } else if (!rc) {
            zt__array_free(n->array);
            n->array = NULL;
            rc = zt__zarr_array_from_json(doc, n->path, t->url, t->store, &n->array);
            if (!rc) zt__zarr_read_rows(n->array);
        }
    } else if (!strcmp(base, ".zgroup")) {
        rc = zt__zarr_ensure_node(t, dir, false, &n);
        if (!rc && (!json_is_object(doc) || !json_is_integer(json_object_get(doc, "zarr_format"))))
            rc = zt__err(ZT_EFORMAT, "%s: %s: not a .zgroup document", t->url, key);
        else if (!rc && json_integer_value(json_object_get(doc, "zarr_format")) != 2)
            rc = zt__err(ZT_EUNSUPPORTED, "%s: %s: only zarr_format 2 is supported", t->url, key);
    } else if (!strcmp(base, ".zattrs")) {
        rc = zt__zarr_ensure_node(t, dir, false, &n);
        if (!rc && !json_is_object(doc)) rc = zt__err(ZT_EFORMAT, "%s: %s: attributes must be a JSON object", t->url, key);
        if (!rc) json_object_update(n->attrs, doc);
    }
    free(dir);
    return rc;
}

static bool zt__is_meta_key(const char *k) {
    const char *slash = strrchr(k, '/');
    const char *b = slash ? slash + 1 : k;
    return !strcmp(b, ".zgroup") || !strcmp(b, ".zarray") || !strcmp(b, ".zattrs");
}

/* A node that has only .zattrs but neither .zgroup nor .zarray is implicit;
 * arrays must have their .zarray. */
static int zt__check_arrays(zt_tree *t, zt_node *n) {
    if (n->is_array && !n->array && !n->value)
        return zt__err(ZT_EFORMAT, "%s: %s: array without metadata", t->url, n->path);
    for (size_t i = 0; i < n->n_children; i++) {
        int rc = zt__check_arrays(t, n->children[i]);
        if (rc) return rc;
    }
    return 0;
}

typedef struct zt_zload {
    zt_tree *t;
    int rc;
    zt_strlist *keys;
    char msg[1024]; /* the first error's message (later 404s overwrite the thread's) */
} zt_zload;

static void zt__zload_done(zt_req *r, void *ud) {
    zt_zload *L = ud;
    if (L->rc) return;
    if (r->status == ZT_ENOTFOUND) return; /* listed then deleted: ignore */
    int rc = r->status;
    if (!rc) {
        json_t *doc = NULL;
        rc = zt__parse_doc(L->t, r->key, r->out.data, r->out.len, &doc);
        if (!rc) rc = zt__apply_doc(L->t, r->key, doc);
        json_decref(doc);
    }
    if (rc) {
        L->rc = rc;
        snprintf(L->msg, sizeof L->msg, "%s", zt_last_error());
    }
}

static int zt__sort_docs_first(const void *a, const void *b) {
    /* .zgroup/.zarray before .zattrs so nodes get their kind first */
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    bool ax = zt__str_endswith(x, ".zattrs"), ay = zt__str_endswith(y, ".zattrs");
    if (ax != ay) return ax ? 1 : -1;
    return strcmp(x, y);
}

/* Fetch metadata documents (missing ones are skipped): .zgroup/.zarray in one
 * concurrent batch, then .zattrs, so nodes know their kind first. */
static int zt__load_docs(zt_tree *t, zt_strlist *keys) {
    if (keys->n > 1) qsort(keys->items, keys->n, sizeof(char *), zt__sort_docs_first);
    size_t split = 0;
    while (split < keys->n && !zt__str_endswith(keys->items[split], ".zattrs")) split++;
    zt_zload L = {t, 0, keys, ""};
    size_t parts[3] = {0, split, keys->n};
    int rc = 0;
    for (int p = 0; p < 2 && !rc; p++) {
        size_t n = parts[p + 1] - parts[p];
        if (!n) continue;
        zt_req *reqs = calloc(n, sizeof *reqs);
        if (!reqs) return zt__err(ZT_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            reqs[i].key = keys->items[parts[p] + i];
            reqs[i].offset = ZT_WHOLE;
        }
        rc = zt__store_get_batch(t->store, reqs, n, zt__zload_done, &L);
        for (size_t i = 0; i < n; i++) zt__buf_free(&reqs[i].out);
        free(reqs);
        if (!rc && L.rc) rc = zt__err(L.rc, "%s", L.msg);
    }
    return rc;
}

static int zt__walk(zt_tree *t, const char *url) {
    zt_strlist level, next, keys;
    zt__strlist_init(&level);
    zt__strlist_init(&next);
    zt__strlist_init(&keys);
    int rc = zt__strlist_push(&level, "");
    if (!rc) rc = zt__strlist_push(&keys, ".zattrs");
    for (int depth = 0; !rc && level.n && depth < 32; depth++) {
        zt_strlist subs;
        zt__strlist_init(&subs);
        for (size_t i = 0; !rc && i < level.n; i++) {
            zt_strlist files, dirs;
            zt__strlist_init(&files);
            zt__strlist_init(&dirs);
            char *pfx = *level.items[i] ? zt__asprintf("%s/", level.items[i]) : strdup("");
            rc = pfx ? zt__store_list(t->store, pfx, true, &files, &dirs) : zt__err(ZT_ENOMEM, "out of memory");
            free(pfx);
            if (rc == ZT_EUNSUPPORTED || rc == ZT_ENOTFOUND) {
                /* the group itself was read: what fails is its listing */
                char cause[1024];
                const char *m = zt_last_error();
                size_t ul = strlen(url);
                if (!strncmp(m, url, ul) && !strncmp(m + ul, ": ", 2)) m += ul + 2; /* named below */
                snprintf(cause, sizeof cause, "%s", m);
                rc = zt__err(ZT_EUNSUPPORTED,
                             "%s: no consolidated .zmetadata, and the hierarchy cannot be listed without it: "
                             "%s; write one with zarr.consolidate_metadata or zarrtraj convert", url, cause);
            }
            for (size_t k = 0; !rc && k < dirs.n; k++) {
                char *d = dirs.items[k];
                size_t l = strlen(d);
                while (l > 0 && d[l - 1] == '/') d[--l] = 0;
                if (l == 0) continue;
                const char *names[3] = {".zgroup", ".zarray", ".zattrs"};
                for (int q = 0; q < 3 && !rc; q++) rc = zt__strlist_push_own(&keys, zt__path_join(d, names[q]));
                if (!rc) rc = zt__strlist_push(&subs, d);
            }
            zt__strlist_free(&files);
            zt__strlist_free(&dirs);
        }
        if (!rc) rc = zt__load_docs(t, &keys);
        zt__strlist_free(&keys);
        /* descend into groups only: arrays hold chunks */
        for (size_t k = 0; !rc && k < subs.n; k++) {
            zt_node *n = zt__node_find(t->root, subs.items[k]);
            if (n && !n->is_array) rc = zt__strlist_push(&next, subs.items[k]);
        }
        zt__strlist_free(&subs);
        zt__strlist_free(&level);
        level = next;
        zt__strlist_init(&next);
    }
    zt__strlist_free(&level);
    zt__strlist_free(&next);
    zt__strlist_free(&keys);
    return rc;
}

int zt__zarr_open_tree(zt_store *s, const char *url, zt_tree **out) {
    zt_tree *t = calloc(1, sizeof *t);
    if (!t) return zt__err(ZT_ENOMEM, "out of memory");
    t->url = strdup(url);
    t->store = s;
    t->format = "zarrmd";
    t->root = zt__node_new("", NULL, false);
    int rc = (!t->url || !t->root) ? zt__err(ZT_ENOMEM, "out of memory") : 0;
    zt_buf b;
    zt__buf_init(&b);
    json_t *cons = NULL;
    if (rc) goto fail;

    /* One concurrent round trip tells the format: v2 consolidated metadata,
     * a v2 root group, or a v3 root zarr.json. */
    zt_req probe[3];
    memset(probe, 0, sizeof probe);
    probe[0].key = ".zmetadata";
    probe[1].key = ".zgroup";
    probe[2].key = "zarr.json";
    for (int i = 0; i < 3; i++) probe[i].offset = ZT_WHOLE;
    rc = zt__store_get_batch(s, probe, 3, NULL, NULL);
    for (int i = 0; !rc && i < 3; i++)
        if (probe[i].status && probe[i].status != ZT_ENOTFOUND) rc = zt__err(probe[i].status, "%s: %s: %s", url, probe[i].key, zt_strerror(probe[i].status));
    if (!rc && probe[0].status && probe[1].status && !probe[2].status) {
        for (int i = 0; i < 2; i++) zt__buf_free(&probe[i].out);
        json_decref(cons);
        zt__buf_free(&b);
        t->store = NULL;
        zt__tree_free(t);
        rc = zt__zarr3_open_tree(s, url, &probe[2].out, out);
        zt__buf_free(&probe[2].out);
        return rc;
    }
    if (!rc) {
        rc = probe[0].status;
        zt__buf_free(&b);
        b = probe[0].out;
        zt__buf_init(&probe[0].out);
    }
    zt_buf group_doc = probe[1].out;
    int group_status = probe[1].status;
    zt__buf_free(&probe[2].out);
    if (rc && rc != ZT_ENOTFOUND) {
        zt__buf_free(&group_doc);
        goto fail;
    }
    /* Consolidated metadata: one request for the whole hierarchy. */
    if (rc == 0) {
        zt__buf_free(&group_doc);
        rc = zt__parse_doc(t, ".zmetadata", b.data, b.len, &cons);
        json_t *md = rc ? NULL : json_object_get(cons, "metadata");
        if (!rc && !json_is_object(md)) rc = zt__err(ZT_EFORMAT, "%s: .zmetadata: no 'metadata' object", url);
        if (!rc) {
            zt_strlist keys;
            zt__strlist_init(&keys);
            const char *k;
            json_t *v;
            json_object_foreach(md, k, v) {
                if (zt__is_meta_key(k) && (rc = zt__strlist_push(&keys, k))) break;
            }
            if (keys.n > 1) qsort(keys.items, keys.n, sizeof(char *), zt__sort_docs_first);
            bool root_group = false;
            for (size_t i = 0; !rc && i < keys.n; i++) {
                if (!strcmp(keys.items[i], ".zgroup")) root_group = true;
                rc = zt__apply_doc(t, keys.items[i], json_object_get(md, keys.items[i]));
            }
            zt__strlist_free(&keys);
            if (!rc && !root_group) rc = zt__err(ZT_EFORMAT, "%s: .zmetadata has no root .zgroup", url);
        }
        if (rc) goto fail;
        goto done;
    }
    if (rc != ZT_ENOTFOUND) goto fail;

    zt__buf_free(&b);
    b = group_doc;
    rc = group_status;
    if (rc == ZT_ENOTFOUND) {
        rc = zt__err(ZT_ENOTFOUND, "%s: not found (no .zgroup, .zmetadata or zarr.json)", url);
        goto fail;
    }
    if (rc) goto fail;
    json_t *g = NULL;
    rc = zt__parse_doc(t, ".zgroup", b.data, b.len, &g);
    if (!rc) rc = zt__apply_doc(t, ".zgroup", g);
    json_decref(g);
    if (rc) goto fail;

    /* Without consolidated metadata: a local store lists every key at once;
     * a network store is walked group by group (a flat listing of a big
     * trajectory would page through every chunk key; plain HTTP indexes
     * hide dot files), probing .zgroup/.zarray/.zattrs in concurrent batches. */
    if (zt__store_can(s, ZT_STORE_CAP_CHEAP_LIST)) {
        zt_strlist all, keys;
        zt__strlist_init(&all);
        zt__strlist_init(&keys);
        rc = zt__store_list(s, "", false, &all, NULL);
        for (size_t i = 0; !rc && i < all.n; i++)
            if (zt__is_meta_key(all.items[i]) && strcmp(all.items[i], ".zgroup") != 0)
                rc = zt__strlist_push(&keys, all.items[i]);
        zt__strlist_free(&all);
        if (!rc) rc = zt__load_docs(t, &keys);
        zt__strlist_free(&keys);
    } else {
        rc = zt__walk(t, url);
    }
    if (rc) goto fail;
done:
    rc = zt__check_arrays(t, t->root);
    if (rc) goto fail;
    json_decref(cons);
    zt__buf_free(&b);
    *out = t;
    return 0;
fail:
    json_decref(cons);
    zt__buf_free(&b);
    t->store = NULL; /* the caller keeps the store on failure */
    zt__tree_free(t);
    return rc;
}
