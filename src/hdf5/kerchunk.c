/* kerchunk reference sets (version 1) of HDF5 trees: the Zarr v2 metadata of
 * every group and dataset plus [url, offset, length] for every stored chunk,
 * readable by zarr-python 2.13 through fsspec's ReferenceFileSystem.
 * Format: https://fsspec.github.io/kerchunk/spec.html (version 1). */
#include "hdf5/hdf5.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- numcodecs configs ------------------------------------------------------------------- */
/* numcodecs (0.11) config of an HDF5 filter; fletcher32 and lzf have no
 * numcodecs 0.11 codec and keep our ids. */
static json_t *zt__kc_codec(const json_t *f, size_t elem) {
    int id = (int)json_integer_value(json_object_get(f, "id"));
    json_t *cd = json_object_get(f, "cd");
    switch (id) {
    case 1: {
        json_t *l = json_array_get(cd, 0);
        return json_pack("{s:s,s:i}", "id", "zlib", "level", l ? (int)json_integer_value(l) : 6);
    }
    case 2: return json_pack("{s:s,s:i}", "id", "shuffle", "elementsize", (int)elem);
    case 3: return json_pack("{s:s}", "id", "fletcher32");
    case 32000: return json_pack("{s:s}", "id", "lzf");
    default: {
        char name[64];
        snprintf(name, sizeof name, "hdf5-filter-%d", id);
        return json_pack("{s:s,s:i,s:O}", "id", name, "hdf5_filter_id", id, "cd_values", cd);
    }
    }
}

static json_t *zt__kc_fill(const zt_array *a) {
    if (!a->has_fill) return a->dtype.kind == 'b' ? json_false() : json_integer(0);
    double dv;
    int64_t iv;
    zt__convert_f64(a->fill, a->dtype, 1, &dv);
    switch (a->dtype.kind) {
    case 'b': return json_boolean(a->fill[0] != 0);
    case 'f':
        /* Zarr v2 spec: NaN and infinities as strings */
        if (isnan(dv)) return json_string("NaN");
        if (isinf(dv)) return json_string(dv > 0 ? "Infinity" : "-Infinity");
        return json_real(dv);
    default:
        zt__convert_i64(a->fill, a->dtype, 1, &iv);
        if (a->dtype.kind == 'u' && a->dtype.size == 8 && iv < 0) return json_real(dv);
        return json_integer(iv);
    }
}

typedef struct zt_kc {
    zt_tree *t;
    const char *url;
    json_t *refs;
} zt_kc;

static int zt__kc_put_json(zt_kc *k, const char *path, const char *name, const json_t *v) {
    char *key = path[0] ? zt__asprintf("%s/%s", path, name) : strdup(name);
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    int rc = key && s && !json_object_set_new(k->refs, key, json_string(s)) ? 0
                                                                             : zt__err(ZT_ENOMEM, "out of memory");
    free(key);
    free(s);
    return rc;
}

static char *zt__kc_chunk_key(const char *path, const zt_array *a, const int64_t *cidx) {
    char idx[ZT_MAXDIM * 21 + 2];
    size_t k = 0;
    if (a->ndim == 0) snprintf(idx, sizeof idx, "0");
    for (int d = 0; d < a->ndim; d++)
        k += (size_t)snprintf(idx + k, sizeof idx - k, d ? ".%lld" : "%lld", (long long)cidx[d]);
    return zt__asprintf("%s/%s", path, idx);
}

static int zt__kc_ref(zt_kc *k, const char *path, const zt_array *a, const int64_t *cidx, uint64_t off,
                      uint64_t len) {
    char *key = zt__kc_chunk_key(path, a, cidx);
    json_t *r = json_pack("[s,I,I]", k->url, (json_int_t)off, (json_int_t)len);
    int rc = key && r && !json_object_set_new(k->refs, key, r) ? 0 : zt__err(ZT_ENOMEM, "out of memory");
    if (rc && !key) json_decref(r);
    free(key);
    return rc;
}

static int zt__kc_inline(zt_kc *k, const char *path, const zt_array *a, const int64_t *cidx,
                         const void *data, size_t n) {
    char *key = zt__kc_chunk_key(path, a, cidx);
    char *b = zt__b64encode(data, n, false);
    char *v = b ? zt__asprintf("base64:%s", b) : NULL;
    int rc = key && v && !json_object_set_new(k->refs, key, json_string(v)) ? 0
                                                                             : zt__err(ZT_ENOMEM, "out of memory");
    free(key);
    free(b);
    free(v);
    return rc;
}

/* A chunk stored with another set of skipped filters than the reference
 * pipeline: decode it and re-encode with that pipeline, inline. */
static int zt__kc_reencode(zt_kc *k, const char *path, const zt_array *a, const int64_t *cidx,
                           uint32_t use_mask) {
    size_t nb = zt__array_chunk_nbytes(a);
    uint8_t *raw = malloc(nb ? nb : 1);
    if (!raw) return zt__err(ZT_ENOMEM, "out of memory");
    int rc = zt__array_read_chunk(a, cidx, raw);
    zt_codec *sel[32];
    zt_pipeline sub = {sel, 0};
    for (size_t i = 0; i < a->pipeline->n && i < 32; i++)
        if (!(use_mask & (1u << i))) sel[sub.n++] = a->pipeline->codecs[i];
    zt_buf enc;
    zt__buf_init(&enc);
    if (!rc) rc = zt__pipeline_encode(&sub, raw, nb, &enc);
    if (!rc) rc = zt__kc_inline(k, path, a, cidx, enc.data, enc.len);
    zt__buf_free(&enc);
    free(raw);
    return rc;
}

/* The bytes of a chunk full of the fill value, encoded with the reference
 * pipeline (codecs not skipped by use_mask). */
static int zt__kc_fill_chunk(const zt_array *a, uint32_t use_mask, zt_buf *out) {
    size_t nb = zt__array_chunk_nbytes(a);
    uint8_t *raw = malloc(nb ? nb : 1);
    if (!raw) return zt__err(ZT_ENOMEM, "out of memory");
    zt__array_fill_chunk(a, raw);
    zt_codec *sel[32];
    zt_pipeline sub = {sel, 0};
    for (size_t i = 0; i < a->pipeline->n && i < 32; i++)
        if (!(use_mask & (1u << i))) sel[sub.n++] = a->pipeline->codecs[i];
    int rc = sub.n ? zt__pipeline_encode(&sub, raw, nb, out) : zt__buf_append(out, raw, nb);
    free(raw);
    return rc;
}

/* Inline fill chunks for the chunks the file never wrote: fsspec's
 * ReferenceFileSystem (2022.11, Debian 12) raises KeyError for a missing key
 * inside zarr's getitems instead of letting zarr use the fill value. */
#define ZT_KC_MAX_FILL_CHUNKS 100000
static int zt__kc_fill_missing(zt_kc *k, const char *path, const zt_array *a, uint32_t use_mask) {
    int64_t nch = zt__array_nchunks(a);
    if (nch > ZT_KC_MAX_FILL_CHUNKS) {
        ZT_WARN("%s: %s: unwritten chunks left out of the references (read as fill value by Zarr)", k->t->url, path);
        return 0;
    }
    zt_buf fill;
    zt__buf_init(&fill);
    int rc = 0;
    bool made = false;
    int64_t cidx[ZT_MAXDIM];
    for (int64_t j = 0; !rc && j < nch; j++) {
        zt__array_chunk_index(a, j, cidx);
        char *key = zt__kc_chunk_key(path, a, cidx);
        if (!key) return zt__err(ZT_ENOMEM, "out of memory");
        if (!json_object_get(k->refs, key)) {
            if (!made && !(rc = zt__kc_fill_chunk(a, use_mask, &fill))) made = true;
            if (!rc) rc = zt__kc_inline(k, path, a, cidx, fill.data, fill.len);
        }
        free(key);
    }
    zt__buf_free(&fill);
    return rc;
}

static int zt__kc_array(zt_kc *k, const zt_node *n) {
    const zt_array *a = n->array;
    zt_h5data *d = zt__h5_array_data(a);
    if (!d) return 0;
    if (d->layout == ZT_H5_UNSUPPORTED) {
        ZT_WARN("%s: %s: %s; left out of the references", k->t->url, n->path, d->error);
        return 0;
    }
    /* Zarr has no per-chunk filter mask: drop the filters every chunk skipped
     * (the most common mask); chunks with another mask are re-encoded. */
    uint32_t mask = 0;
    if (d->layout == ZT_H5_CHUNKED && d->n) {
        size_t best = 0;
        for (size_t i = 0; i < d->n && i < 4096; i++) {
            size_t cnt = 0;
            for (size_t j = 0; j < d->n; j++) cnt += d->tab[j].mask == d->tab[i].mask;
            if (cnt > best) {
                best = cnt;
                mask = d->tab[i].mask;
            }
            if (best == d->n) break;
        }
    }
    json_t *codecs = json_array(), *f;
    size_t i;
    json_array_foreach(d->filters, i, f) {
        if (i < 32 && (mask & (1u << i))) continue;
        json_t *c = zt__kc_codec(f, a->dtype.size);
        if (!c || json_array_append_new(codecs, c)) {
            json_decref(codecs);
            return zt__err(ZT_ENOMEM, "out of memory");
        }
    }
    json_t *compressor = json_null(), *filters = json_null();
    size_t nc = json_array_size(codecs);
    if (nc > 0) {
        json_t *last = json_array_get(codecs, nc - 1);
        if (strcmp(json_string_value(json_object_get(last, "id")), "shuffle") != 0) {
            compressor = json_incref(last);
            json_array_remove(codecs, nc - 1);
        }
        if (json_array_size(codecs)) filters = json_incref(codecs);
    }
    json_decref(codecs);
    char dt[8];
    json_t *shape = json_array(), *chunks = json_array();
    for (int dd = 0; dd < a->ndim; dd++) {
        json_array_append_new(shape, json_integer(a->shape[dd]));
        json_array_append_new(chunks, json_integer(a->chunks[dd]));
    }
    json_t *za = json_pack("{s:o,s:o,s:s,s:o,s:o,s:s,s:o,s:i}", "chunks", chunks, "compressor", compressor,
                           "dtype", zt__dtype_to_str(a->dtype, dt), "fill_value", zt__kc_fill(a), "filters",
                           filters, "order", "C", "shape", shape, "zarr_format", 2);
    if (!za) return zt__err(ZT_ENOMEM, "out of memory");
    int rc = zt__kc_put_json(k, n->path, ".zarray", za);
    json_decref(za);
    int64_t cidx[ZT_MAXDIM] = {0};
    if (!rc && d->layout == ZT_H5_CHUNKED) {
        for (size_t j = 0; !rc && j < d->n; j++) {
            zt__array_chunk_index(a, d->tab[j].lin, cidx);
            if (d->tab[j].mask == mask) rc = zt__kc_ref(k, n->path, a, cidx, d->tab[j].off, d->tab[j].size);
            else rc = zt__kc_reencode(k, n->path, a, cidx, mask);
        }
    } else if (!rc && d->layout == ZT_H5_CONTIG && d->base != UINT64_MAX) {
        int64_t nch = zt__array_nchunks(a);
        uint64_t cb = zt__array_chunk_nbytes(a);
        for (int64_t j = 0; !rc && j < nch; j++) {
            zt__array_chunk_index(a, j, cidx);
            rc = zt__kc_ref(k, n->path, a, cidx, d->base + (uint64_t)j * cb, cb);
        }
    } else if (!rc && d->layout == ZT_H5_COMPACT) {
        rc = zt__kc_inline(k, n->path, a, cidx, d->inline_data, d->inline_len);
    }
    if (!rc) rc = zt__kc_fill_missing(k, n->path, a, mask);
    return rc;
}

/* A string dataset (value JSON: string or 1-D array of strings) as an object
 * array with the vlen-utf8 codec: count, then (length, bytes) per item, all
 * little-endian uint32 (numcodecs VLenUTF8). */
static int zt__kc_strings(zt_kc *k, const zt_node *n) {
    const json_t *v = n->value;
    bool scalar = json_is_string(v);
    size_t cnt = scalar ? 1 : json_array_size(v);
    if (!scalar && !json_is_array(v)) return 0;
    for (size_t i = 0; !scalar && i < cnt; i++)
        if (!json_is_string(json_array_get(v, i))) return 0;
    zt_buf b;
    zt__buf_init(&b);
    uint8_t le[4];
    int rc = 0;
#define ZT_PUT32(x) (le[0] = (uint8_t)(x), le[1] = (uint8_t)((x) >> 8), le[2] = (uint8_t)((x) >> 16), \
                     le[3] = (uint8_t)((x) >> 24), zt__buf_append(&b, le, 4))
    rc = ZT_PUT32((uint32_t)cnt);
    for (size_t i = 0; !rc && i < cnt; i++) {
        const json_t *s = scalar ? v : json_array_get(v, i);
        size_t l = json_string_length(s);
        rc = ZT_PUT32((uint32_t)l);
        if (!rc) rc = zt__buf_append(&b, json_string_value(s), l);
    }
#undef ZT_PUT32
    json_t *za = rc ? NULL
                    : json_pack("{s:[],s:n,s:s,s:n,s:[{s:s}],s:s,s:[],s:i}", "chunks", "compressor", "dtype",
                                "|O", "fill_value", "filters", "id", "vlen-utf8", "order", "C", "shape",
                                "zarr_format", 2);
    if (za && !scalar) {
        json_array_append_new(json_object_get(za, "chunks"), json_integer((json_int_t)(cnt ? cnt : 1)));
        json_array_append_new(json_object_get(za, "shape"), json_integer((json_int_t)cnt));
    }
    if (!rc && !za) rc = zt__err(ZT_ENOMEM, "out of memory");
    if (!rc) rc = zt__kc_put_json(k, n->path, ".zarray", za);
    json_decref(za);
    if (!rc) {
        char *key = zt__asprintf("%s/0", n->path);
        char *e = zt__b64encode(b.data, b.len, false);
        char *val = e ? zt__asprintf("base64:%s", e) : NULL;
        if (!key || !val || json_object_set_new(k->refs, key, json_string(val))) rc = zt__err(ZT_ENOMEM, "out of memory");
        free(key);
        free(e);
        free(val);
    }
    zt__buf_free(&b);
    return rc;
}

static int zt__kc_node(zt_kc *k, const zt_node *n) {
    int rc = 0;
    if (!n->is_array) {
        json_t *g = json_pack("{s:i}", "zarr_format", 2);
        rc = g ? zt__kc_put_json(k, n->path, ".zgroup", g) : zt__err(ZT_ENOMEM, "out of memory");
        json_decref(g);
    } else if (n->array) {
        rc = zt__kc_array(k, n);
    } else if (n->value) {
        rc = zt__kc_strings(k, n);
    }
    bool written = !n->is_array;
    if (!written) {
        char *key = zt__asprintf("%s/.zarray", n->path);
        written = key && json_object_get(k->refs, key);
        free(key);
    }
    if (!rc && written && json_object_size(n->attrs))
        rc = zt__kc_put_json(k, n->path, ".zattrs", n->attrs);
    for (size_t i = 0; !rc && i < n->n_children; i++) rc = zt__kc_node(k, n->children[i]);
    return rc;
}

int zt__hdf5_kerchunk_refs(zt_tree *t, const char *target_url, json_t **refs) {
    if (!t || !t->root || strcmp(t->format ? t->format : "", "h5md") != 0)
        return zt__err(ZT_EINVAL, "%s: kerchunk references need an HDF5 file", t && t->url ? t->url : "");
    zt_kc k = {t, target_url && *target_url ? target_url : t->url, json_object()};
    if (!k.refs) return zt__err(ZT_ENOMEM, "out of memory");
    int rc = zt__kc_node(&k, t->root);
    if (rc) {
        json_decref(k.refs);
        return rc;
    }
    *refs = json_pack("{s:i,s:o}", "version", 1, "refs", k.refs);
    return *refs ? 0 : zt__err(ZT_ENOMEM, "out of memory");
}
