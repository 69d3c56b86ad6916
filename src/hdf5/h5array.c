/* Arrays of HDF5 datasets: storage descriptions shared by hard links, the
 * locate hook (chunk table, contiguous grid, compact bytes) and the codec
 * pipeline built from the dataset's filter pipeline. */
#include "hdf5/hdf5.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

zt_h5data *zt__h5data_new(void) {
    zt_h5data *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->refs = 1;
    d->file_size = -1;
    d->base = UINT64_MAX;
    d->id = -1;
    d->filters = json_array();
    if (!d->filters) {
        free(d);
        return NULL;
    }
    return d;
}

void zt__h5data_unref(zt_h5data *d) {
    if (!d || --d->refs > 0) return;
    free(d->tab);
    free(d->inline_data);
    json_decref(d->filters);
    free(d->error);
    free(d);
}

static const char *zt__h5_layout_name(int l) {
    switch (l) {
    case ZT_H5_CHUNKED: return "chunked";
    case ZT_H5_CONTIG: return "contiguous";
    case ZT_H5_COMPACT: return "compact";
    case ZT_H5_UNSUPPORTED: return "unsupported";
    default: return "none";
    }
}

static void zt__h5_chunk_name(const zt_array *a, const int64_t *cidx, char *buf, size_t n) {
    size_t k = 0;
    snprintf(buf, n, "0");
    for (int d = 0; d < a->ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, d ? ".%lld" : "%lld", (long long)cidx[d]);
}

static int zt__h5_past_eof(const zt_array *a, const zt_h5data *d, const int64_t *cidx, uint64_t off,
                           uint64_t len) {
    if (d->file_size < 0 || (off <= (uint64_t)d->file_size && len <= (uint64_t)d->file_size - off))
        return 0;
    char name[ZT_MAXDIM * 21 + 2];
    zt__h5_chunk_name(a, cidx, name, sizeof name);
    return zt__err(ZT_ECORRUPT,
                   "%s: %s: chunk %s at byte %llu (%llu bytes) lies beyond the end of the file "
                   "(%lld bytes): corrupt chunk index",
                   a->file ? a->file : "", a->path, name, (unsigned long long)off,
                   (unsigned long long)len, (long long)d->file_size);
}

static int zt__h5_locate(const zt_array *a, const int64_t *cidx, zt_chunk_loc *loc) {
    const zt_h5data *d = a->impl;
    loc->key = NULL; /* the file itself */
    loc->offset = 0;
    loc->length = 0;
    loc->filter_mask = 0;
    loc->inline_data = NULL;
    loc->inline_len = 0;
    loc->missing = false;
    switch (d->layout) {
    case ZT_H5_COMPACT:
        loc->inline_data = d->inline_data;
        loc->inline_len = d->inline_len;
        return 0;
    case ZT_H5_CONTIG: {
        if (d->base == UINT64_MAX) {
            loc->missing = true; /* never written: fill value */
            return 0;
        }
        uint64_t cb = zt__array_chunk_nbytes(a), off;
        uint64_t row = a->ndim ? (uint64_t)cidx[0] : 0;
        if (__builtin_mul_overflow(row, cb, &off) || __builtin_add_overflow(off, d->base, &off) ||
            off > INT64_MAX)
            return zt__err(ZT_EOVERFLOW, "%s: %s: chunk offset overflows", a->file, a->path);
        int rc = zt__h5_past_eof(a, d, cidx, off, cb);
        if (rc) return rc;
        loc->offset = (int64_t)off;
        loc->length = (int64_t)cb;
        return 0;
    }
    case ZT_H5_CHUNKED: {
        int64_t lin = zt__array_chunk_linear(a, cidx);
        size_t lo = 0, hi = d->n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (d->tab[mid].lin < lin) lo = mid + 1;
            else hi = mid;
        }
        if (lo >= d->n || d->tab[lo].lin != lin) {
            loc->missing = true; /* chunk not allocated: fill value */
            return 0;
        }
        const zt_h5chunk *c = &d->tab[lo];
        int rc = zt__h5_past_eof(a, d, cidx, c->off, c->size);
        if (rc) return rc;
        loc->offset = (int64_t)c->off;
        loc->length = c->size;
        loc->filter_mask = c->mask;
        return 0;
    }
    case ZT_H5_UNSUPPORTED:
        return zt__err(ZT_EUNSUPPORTED, "%s: %s: %s", a->file ? a->file : "", a->path,
                       d->error ? d->error : "unsupported storage");
    default:
        loc->missing = true;
        return 0;
    }
}

static void zt__h5_array_free(zt_array *a) {
    zt__h5data_unref(a->impl);
    a->impl = NULL;
}

static const zt_array_vt zt__h5_array_vt = {zt__h5_locate, zt__h5_array_free, NULL};

zt_h5data *zt__h5_array_data(const zt_array *a) {
    return a && a->vt == &zt__h5_array_vt ? a->impl : NULL;
}

/* ---- a codec standing in for a filter we cannot decode ----------------------------- */
typedef struct zt_h5stub {
    zt_codec base;
    char *msg;
} zt_h5stub;

static int zt__stub_encode(const zt_codec *c, const void *in, size_t n, zt_buf *out) {
    (void)in, (void)n, (void)out;
    return zt__err(ZT_EUNSUPPORTED, "%s", ((const zt_h5stub *)c)->msg);
}

static int zt__stub_decode(const zt_codec *c, const void *in, size_t n, zt_buf *out, size_t expected) {
    (void)in, (void)n, (void)out, (void)expected;
    return zt__err(ZT_EUNSUPPORTED, "%s", ((const zt_h5stub *)c)->msg);
}

static void zt__stub_free(zt_codec *c) {
    zt_h5stub *s = (zt_h5stub *)c;
    json_decref(c->config);
    free(s->msg);
    free(s);
}

static const zt_codec_vt zt__stub_vt = {"hdf5-unsupported", zt__stub_encode, zt__stub_decode, NULL,
                                        zt__stub_free, NULL};

static int zt__stub_new(const json_t *filter, const char *why, zt_codec **out) {
    zt_h5stub *s = calloc(1, sizeof *s);
    if (!s) return zt__err(ZT_ENOMEM, "out of memory");
    const char *name = json_string_value(json_object_get(filter, "name"));
    long long id = json_integer_value(json_object_get(filter, "id"));
    s->msg = zt__asprintf("HDF5 filter '%s' (id %lld) is not supported%s%s", name && *name ? name : "?",
                          id, why && *why ? ": " : "", why ? why : "");
    s->base.vt = &zt__stub_vt;
    s->base.config = json_pack("{s:s,s:I,s:s}", "id", "hdf5-unsupported", "filter_id", (json_int_t)id,
                               "name", name ? name : "");
    if (!s->msg || !s->base.config) {
        zt__stub_free(&s->base);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    *out = &s->base;
    return 0;
}

/* Pipeline from the dataset's filters (encode order = HDF5 pipeline order). */
static int zt__h5_pipeline(const json_t *filters, size_t elem_size, zt_pipeline **out) {
    int rc = zt__pipeline_new(out);
    if (rc) return rc;
    size_t i;
    json_t *f;
    json_array_foreach(filters, i, f) {
        unsigned cd[64];
        size_t ncd = 0;
        json_t *cda = json_object_get(f, "cd"), *v;
        size_t k;
        json_array_foreach(cda, k, v) {
            if (ncd < sizeof cd / sizeof *cd) cd[ncd++] = (unsigned)json_integer_value(v);
        }
        const char *name = json_string_value(json_object_get(f, "name"));
        unsigned id = (unsigned)json_integer_value(json_object_get(f, "id"));
        zt_codec *c = NULL;
        rc = zt__codec_from_hdf5(id, cd, ncd, elem_size, name ? name : "", &c);
        if (rc == ZT_ENOMEM) break;
        if (rc) {
            char why[512];
            snprintf(why, sizeof why, "%s", zt_last_error());
            rc = zt__stub_new(f, why, &c);
            if (rc) break;
        }
        rc = zt__pipeline_push(*out, c);
        if (rc) {
            zt__codec_free(c);
            break;
        }
    }
    if (rc) {
        zt__pipeline_free(*out);
        *out = NULL;
    }
    return rc;
}

void zt__h5_contig_grid(const zt_h5meta *m, size_t target, int64_t *chunks) {
    int64_t row = m->dtype.size;
    for (int d = 0; d < m->ndim; d++) chunks[d] = m->shape[d] > 0 ? m->shape[d] : 1;
    if (m->ndim == 0) return;
    for (int d = 1; d < m->ndim; d++)
        if (!zt__mul_ok(row, chunks[d], &row)) return;
    int64_t rows = m->shape[0];
    if (rows <= 1 || row <= 0 || rows <= (int64_t)target / row) return; /* one chunk */
    /* Largest divisor k of rows with k rows fitting the target, so every
     * chunk is whole (an uncompressed edge chunk would be short). */
    int64_t kmax = (int64_t)target / row;
    if (kmax < 1) kmax = 1;
    int64_t best = 1;
    for (int64_t k = kmax; k >= 1; k--) {
        if (rows % k == 0) {
            best = k;
            break;
        }
    }
    chunks[0] = best;
}

int zt__h5_make_array(const char *path, const char *file, zt_store *s, const zt_h5meta *m,
                      zt_h5data *d, zt_array **out) {
    zt_array *a = zt__array_new(path);
    if (!a) return zt__err(ZT_ENOMEM, "out of memory");
    a->file = file;
    a->ndim = m->ndim;
    memcpy(a->shape, m->shape, sizeof a->shape);
    memcpy(a->chunks, m->chunks, sizeof a->chunks);
    a->dtype = m->dtype;
    a->has_fill = m->has_fill;
    memcpy(a->fill, m->fill, sizeof a->fill);
    a->store = s;
    a->vt = &zt__h5_array_vt;
    a->impl = d;
    d->refs++;
    int rc = zt__h5_pipeline(d->filters, m->dtype.size, &a->pipeline);
    if (!rc) {
        json_t *desc = json_pack("{s:s,s:O}", "layout", zt__h5_layout_name(d->layout), "filters",
                                 d->filters);
        a->codecs_desc = desc ? json_dumps(desc, JSON_COMPACT) : NULL;
        json_decref(desc);
        if (!a->codecs_desc) rc = zt__err(ZT_ENOMEM, "out of memory");
    }
    if (rc) zt__err_prefix(rc, "%s: %s: ", file ? file : "", path);
    else rc = zt__array_validate(a); /* names file and array itself */
    if (!rc && d->layout == ZT_H5_COMPACT && d->inline_len != zt__array_chunk_nbytes(a))
        rc = zt__err(ZT_ECORRUPT, "%s: %s: compact data has %zu bytes, expected %zu", file ? file : "", path,
                     d->inline_len, zt__array_chunk_nbytes(a));
    if (rc) {
        zt__array_free(a);
        return rc;
    }
    *out = a;
    return 0;
}
