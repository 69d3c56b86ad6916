/* Chunked-array geometry, chunk decoding and hyperslab reads. */
#include "array/array.h"

#include <stdatomic.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint_fast64_t zt__uid_next = 1;

zt_array *zt__array_new(const char *path) {
    zt_array *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->path = strdup(path ? path : "");
    if (!a->path) {
        free(a);
        return NULL;
    }
    a->uid = atomic_fetch_add(&zt__uid_next, 1);
    return a;
}

void zt__array_free(zt_array *a) {
    if (!a) return;
    if (a->vt && a->vt->free) a->vt->free(a);
    zt__pipeline_free(a->pipeline);
    free(a->codecs_desc);
    free(a->preloaded);
    free(a->path);
    free(a);
}

/* Limits that keep every size computation in range: 2^40 elements per array
 * dimension product and 2 GiB per decoded chunk. */
#define ZT_MAX_CHUNK_BYTES ((int64_t)1 << 31)

/* Messages name the file and the array. */
int zt__array_validate(const zt_array *a) {
    const char *f = a->file ? a->file : "";
    if (a->ndim < 0 || a->ndim > ZT_MAXDIM)
        return zt__err(ZT_ESHAPE, "%s: %s: rank %d not supported", f, a->path, a->ndim);
    int64_t total = 1, chunk = a->dtype.size;
    for (int d = 0; d < a->ndim; d++) {
        if (a->shape[d] < 0)
            return zt__err(ZT_EFORMAT, "%s: %s: negative shape", f, a->path);
        if (a->chunks[d] <= 0)
            return zt__err(ZT_EFORMAT, "%s: %s: chunk length must be positive", f, a->path);
        if (!zt__mul_ok(total, a->shape[d], &total) || total > ((int64_t)1 << 50))
            return zt__err(ZT_EOVERFLOW, "%s: %s: absurd shape (more than 2^50 elements)", f, a->path);
        if (!zt__mul_ok(chunk, a->chunks[d], &chunk) || chunk > ZT_MAX_CHUNK_BYTES)
            return zt__err(ZT_EOVERFLOW, "%s: %s: chunk too large (over 2 GiB decoded)", f, a->path);
    }
    if (!a->pipeline) return zt__err(ZT_EINVAL, "%s: %s: no codec pipeline", f, a->path);
    return 0;
}

int64_t zt__array_nchunks_dim(const zt_array *a, int d) {
    return (a->shape[d] + a->chunks[d] - 1) / a->chunks[d];
}

int64_t zt__array_nchunks(const zt_array *a) {
    int64_t n = 1;
    for (int d = 0; d < a->ndim; d++) n *= zt__array_nchunks_dim(a, d);
    return n;
}

size_t zt__array_chunk_nelems(const zt_array *a) {
    size_t n = 1;
    for (int d = 0; d < a->ndim; d++) n *= (size_t)a->chunks[d];
    return n;
}

size_t zt__array_chunk_nbytes(const zt_array *a) {
    return zt__array_chunk_nelems(a) * a->dtype.size;
}

int64_t zt__array_nelems(const zt_array *a) {
    int64_t n = 1;
    for (int d = 0; d < a->ndim; d++) n *= a->shape[d];
    return n;
}

int64_t zt__array_chunk_linear(const zt_array *a, const int64_t *cidx) {
    int64_t lin = 0;
    for (int d = 0; d < a->ndim; d++) lin = lin * zt__array_nchunks_dim(a, d) + cidx[d];
    return lin;
}

void zt__array_chunk_index(const zt_array *a, int64_t lin, int64_t *cidx) {
    for (int d = a->ndim - 1; d >= 0; d--) {
        int64_t n = zt__array_nchunks_dim(a, d);
        if (n <= 0) { /* an empty axis has no chunks: index 0 */
            cidx[d] = 0;
            continue;
        }
        cidx[d] = lin % n;
        lin /= n;
    }
}

void zt__array_fill_chunk(const zt_array *a, void *out) {
    size_t n = zt__array_chunk_nelems(a), sz = a->dtype.size;
    if (!a->has_fill) {
        memset(out, 0, n * sz);
        return;
    }
    bool zero = true;
    for (size_t i = 0; i < sz; i++)
        if (a->fill[i]) zero = false;
    if (zero) {
        memset(out, 0, n * sz);
        return;
    }
    uint8_t *p = out;
    for (size_t i = 0; i < n; i++) memcpy(p + i * sz, a->fill, sz);
}

void zt__chunk_loc_clear(zt_chunk_loc *loc) {
    free(loc->key);
    loc->key = NULL;
}

static void zt__chunk_name(const zt_array *a, const int64_t *cidx, char *buf, size_t n) {
    size_t k = 0;
    buf[0] = 0;
    if (a->ndim == 0) {
        snprintf(buf, n, "0");
        return;
    }
    for (int d = 0; d < a->ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, d ? ".%lld" : "%lld", (long long)cidx[d]);
}

/* ---- Fortran-order chunks ---------------------------------------------------------- */

/* One reusable buffer per thread for the transposition (chunks are MBs:
 * fresh memory per chunk is expensive); freed when the thread exits. */
static pthread_key_t zt__tkey;
static pthread_once_t zt__tonce = PTHREAD_ONCE_INIT;
static void zt__tbuf_free(void *p) {
    zt__buf_free(p);
    free(p);
}
static void zt__tkey_init(void) { (void)pthread_key_create(&zt__tkey, zt__tbuf_free); }
static zt_buf *zt__tbuf(size_t n) {
    pthread_once(&zt__tonce, zt__tkey_init);
    zt_buf *b = pthread_getspecific(zt__tkey);
    if (!b) {
        if (!(b = calloc(1, sizeof *b))) return NULL;
        zt__buf_init(b);
        if (pthread_setspecific(zt__tkey, b)) {
            free(b);
            return NULL;
        }
    }
    return zt__buf_resize(b, n) ? NULL : b;
}

/* 3-D (the per-atom arrays): tiles of 16 frames (one cache line of floats
 * along time) by 128 atoms keep both sides in L1; the C-order side is walked
 * sequentially. */
#define ZT__T3(T)                                                                                   \
    static void zt__t3_##T(const T *in, T *out, int64_t d0, int64_t d1, int64_t d2, bool to_f) {   \
        const int64_t B0 = 16, B1 = 128;                                                            \
        for (int64_t i0b = 0; i0b < d0; i0b += B0)                                                  \
            for (int64_t i1b = 0; i1b < d1; i1b += B1) {                                            \
                int64_t e0 = i0b + B0 < d0 ? i0b + B0 : d0, e1 = i1b + B1 < d1 ? i1b + B1 : d1;      \
                for (int64_t i0 = i0b; i0 < e0; i0++) {                                             \
                    T *c = out + (i0 * d1 + i1b) * d2;                                              \
                    const T *cin = in + (i0 * d1 + i1b) * d2;                                       \
                    T *fo = out + i0;                                                               \
                    const T *f = in + i0;                                                           \
                    for (int64_t i1 = i1b; i1 < e1; i1++)                                           \
                        for (int64_t i2 = 0; i2 < d2; i2++) {                                       \
                            size_t fi = (size_t)(d0 * (i1 + d1 * i2));                              \
                            if (to_f) fo[fi] = *cin++;                                              \
                            else *c++ = f[fi];                                                      \
                        }                                                                           \
                }                                                                                   \
            }                                                                                       \
    }
ZT__T3(uint8_t)
ZT__T3(uint16_t)
ZT__T3(uint32_t)
ZT__T3(uint64_t)

void zt__transpose_chunk(const void *in, void *out, int ndim, const int64_t *dims, size_t sz, bool to_f) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= dims[d];
    if (ndim == 3) {
        switch (sz) {
        case 1: zt__t3_uint8_t(in, out, dims[0], dims[1], dims[2], to_f); return;
        case 2: zt__t3_uint16_t(in, out, dims[0], dims[1], dims[2], to_f); return;
        case 4: zt__t3_uint32_t(in, out, dims[0], dims[1], dims[2], to_f); return;
        case 8: zt__t3_uint64_t(in, out, dims[0], dims[1], dims[2], to_f); return;
        default: break;
        }
    }
    /* any rank: walk C order, keeping the Fortran offset up to date */
    int64_t idx[ZT_MAXDIM] = {0}, fstride[ZT_MAXDIM];
    int64_t st = 1;
    for (int d = 0; d < ndim; d++) {
        fstride[d] = st;
        st *= dims[d];
    }
    int64_t f = 0;
    const uint8_t *src = in;
    uint8_t *dst = out;
    for (int64_t c = 0; c < n; c++) {
        if (to_f) memcpy(dst + (size_t)f * sz, src + (size_t)c * sz, sz);
        else memcpy(dst + (size_t)c * sz, src + (size_t)f * sz, sz);
        for (int d = ndim - 1; d >= 0; d--) {
            if (++idx[d] < dims[d]) {
                f += fstride[d];
                break;
            }
            f -= fstride[d] * (dims[d] - 1);
            idx[d] = 0;
        }
    }
}

static bool zt__needs_transpose(const zt_array *a) {
    int nontrivial = 0;
    for (int d = 0; d < a->ndim; d++) nontrivial += a->chunks[d] > 1;
    return a->order_f && nontrivial > 1; /* one axis longer than 1: same bytes */
}

int zt__array_encode_chunk(const zt_array *a, const void *data, zt_buf *out) {
    size_t nbytes = zt__array_chunk_nbytes(a);
    if (zt__needs_transpose(a)) {
        zt_buf *b = zt__tbuf(nbytes);
        if (!b) return zt__err(ZT_ENOMEM, "%s: out of memory", a->path);
        int rc = zt__pipeline_encode_f(a->pipeline, data, nbytes, b->data, a->ndim, a->chunks, a->dtype.size, out);
        if (rc != 1) return rc;
    }
    const void *c = data;
    int rc = zt__array_chunk_for_encode(a, data, &c);
    return rc ? rc : zt__pipeline_encode(a->pipeline, c, nbytes, out);
}

int zt__array_chunk_for_encode(const zt_array *a, const void *data, const void **out) {
    *out = data;
    if (!zt__needs_transpose(a)) return 0;
    size_t nbytes = zt__array_chunk_nbytes(a);
    zt_buf *b = zt__tbuf(nbytes);
    if (!b) return zt__err(ZT_ENOMEM, "%s: out of memory", a->path);
    zt__transpose_chunk(data, b->data, a->ndim, a->chunks, a->dtype.size, true);
    *out = b->data;
    return 0;
}

int zt__array_decode_chunk(const zt_array *a, const int64_t *cidx, const zt_chunk_loc *loc,
                           const void *raw, size_t n, void *out) {
    size_t nbytes = zt__array_chunk_nbytes(a);
    if (loc->missing) {
        zt__array_fill_chunk(a, out);
        return 0;
    }
    int rc;
    if (zt__needs_transpose(a)) {
        zt_buf *b = zt__tbuf(nbytes);
        rc = b ? zt__pipeline_decode_f(a->pipeline, loc->filter_mask, raw, n, b->data, out, nbytes, a->ndim,
                                       a->chunks, a->dtype.size)
               : zt__err(ZT_ENOMEM, "out of memory");
        if (rc == 1) {
            rc = zt__pipeline_decode(a->pipeline, loc->filter_mask, raw, n, b->data, nbytes);
            if (!rc) zt__transpose_chunk(b->data, out, a->ndim, a->chunks, a->dtype.size, false);
        }
    } else {
        rc = zt__pipeline_decode(a->pipeline, loc->filter_mask, raw, n, out, nbytes);
    }
    if (rc) {
        char name[ZT_MAXDIM * 21 + 2]; /* every index of the chunk fits */
        zt__chunk_name(a, cidx, name, sizeof name);
        return zt__err_prefix(rc, "%s: %s: chunk %s: ", a->file ? a->file : "", a->path, name);
    }
    return 0;
}

int zt__array_read_chunk(const zt_array *a, const int64_t *cidx, void *out) {
    zt_chunk_loc loc;
    memset(&loc, 0, sizeof loc);
    int rc = a->vt->locate(a, cidx, &loc);
    if (rc || loc.missing || loc.inline_data) {
        if (!rc) rc = zt__array_decode_chunk(a, cidx, &loc, loc.inline_data, loc.inline_len, out);
        zt__chunk_loc_clear(&loc);
        return rc;
    }
    zt_buf raw;
    zt__buf_init(&raw);
    if (loc.offset == ZT_WHOLE) rc = zt__store_get(a->store, zt__loc_key(&loc), &raw);
    else {
        rc = zt__store_get_range(a->store, zt__loc_key(&loc), loc.offset, loc.length, &raw);
        if (!rc && (int64_t)raw.len != loc.length)
            rc = zt__err(ZT_ETRUNCATED, "%s: %s: chunk at byte %lld: file ends early (got %zu of %lld bytes)",
                         a->file ? a->file : "", a->path, (long long)loc.offset, raw.len,
                         (long long)loc.length);
    }
    if (rc == ZT_ENOTFOUND && loc.notfound_is_fill) {
        /* Zarr: a chunk that was never written reads as the fill value. */
        loc.missing = true;
        rc = 0;
    }
    if (!rc) rc = zt__array_decode_chunk(a, cidx, &loc, raw.data, raw.len, out);
    zt__buf_free(&raw);
    zt__chunk_loc_clear(&loc);
    return rc;
}

void zt__copy_box_conv(const zt_array *a, const uint8_t *chunk, const int64_t *corg,
                       const int64_t *start, const int64_t *count, void *out, char conv) {
    int nd = a->ndim;
    size_t sz = a->dtype.size;
    size_t osz = conv == 'f' ? 4 : conv == 'd' ? 8 : sz;
    uint8_t *o = out;
    if (nd == 0) {
        if (conv == 'f') zt__convert_f32(chunk, a->dtype, 1, (float *)out);
        else if (conv == 'd') zt__convert_f64(chunk, a->dtype, 1, (double *)out);
        else memcpy(out, chunk, sz);
        return;
    }
    int64_t lo[ZT_MAXDIM], hi[ZT_MAXDIM], idx[ZT_MAXDIM];
    for (int d = 0; d < nd; d++) {
        lo[d] = start[d] > corg[d] ? start[d] : corg[d];
        int64_t e1 = start[d] + count[d], e2 = corg[d] + a->chunks[d];
        hi[d] = e1 < e2 ? e1 : e2;
        if (hi[d] <= lo[d]) return;
        idx[d] = lo[d];
    }
    /* Trailing dimensions the box covers whole, in the chunk and in the
     * output, are contiguous in both: merge them into one run. */
    int kd = nd - 1;
    while (kd > 0 && lo[kd] == corg[kd] && hi[kd] - lo[kd] == a->chunks[kd] && lo[kd] == start[kd] &&
           hi[kd] - lo[kd] == count[kd])
        kd--;
    int64_t run = 1;
    for (int d = kd; d < nd; d++) run *= hi[d] - lo[d];
    for (;;) {
        int64_t coff = 0, ooff = 0;
        for (int d = 0; d < nd; d++) {
            coff = coff * a->chunks[d] + (idx[d] - corg[d]);
            ooff = ooff * count[d] + (idx[d] - start[d]);
        }
        const uint8_t *src = chunk + (size_t)coff * sz;
        uint8_t *dst = o + (size_t)ooff * osz;
        if (conv == 'f') zt__convert_f32(src, a->dtype, (size_t)run, (float *)dst);
        else if (conv == 'd') zt__convert_f64(src, a->dtype, (size_t)run, (double *)dst);
        else memcpy(dst, src, (size_t)run * sz);
        int d = kd - 1;
        for (; d >= 0; d--) {
            if (++idx[d] < hi[d]) break;
            idx[d] = lo[d];
        }
        if (d < 0) break;
    }
}

static void zt__copy_box(const zt_array *a, const uint8_t *chunk, const int64_t *corg,
                         const int64_t *start, const int64_t *count, uint8_t *out) {
    zt__copy_box_conv(a, chunk, corg, start, count, out, 'r');
}

typedef struct zt_rd_ctx {
    const zt_array *a;
    zt_chunk_loc *locs;
    int64_t *cidx; /* n * ndim */
    const int64_t *start, *count;
    uint8_t *out, *tmp;
    int rc;
} zt_rd_ctx;

/* Decode chunk i of the request from data and copy its part of the box. */
static void zt__rd_apply(zt_rd_ctx *c, size_t i, const void *data, size_t len) {
    const zt_array *a = c->a;
    int64_t *ci = c->cidx + i * (size_t)(a->ndim ? a->ndim : 1);
    int rc = zt__array_decode_chunk(a, ci, &c->locs[i], data, len, c->tmp);
    if (rc) {
        c->rc = rc;
        return;
    }
    int64_t corg[ZT_MAXDIM];
    for (int d = 0; d < a->ndim; d++) corg[d] = ci[d] * a->chunks[d];
    zt__copy_box(a, c->tmp, corg, c->start, c->count, c->out);
}

static void zt__rd_done(zt_req *req, void *ud) {
    zt_rd_ctx *c = ud;
    size_t i = (size_t)(uintptr_t)req->user;
    const zt_array *a = c->a;
    if (c->rc) return;
    int rc = req->status;
    if (rc == ZT_ENOTFOUND && c->locs[i].notfound_is_fill) {
        c->locs[i].missing = true; /* Zarr: unwritten chunk = fill value */
    } else if (rc) {
        c->rc = zt__err_prefix(rc, "%s: %s: ", a->file ? a->file : "", a->path);
        return;
    } else if (c->locs[i].offset >= 0 && (int64_t)req->out.len != c->locs[i].length) {
        c->rc = zt__err(ZT_ETRUNCATED, "%s: %s: chunk at byte %lld: file ends early",
                        a->file ? a->file : "", a->path, (long long)c->locs[i].offset);
        return;
    }
    zt__rd_apply(c, i, req->out.data, req->out.len);
    zt__buf_free(&req->out);
}

int zt__array_read(const zt_array *a, const int64_t *start, const int64_t *count, void *out) {
    int nd = a->ndim;
    int64_t c0[ZT_MAXDIM], c1[ZT_MAXDIM];
    size_t nch = 1;
    for (int d = 0; d < nd; d++) {
        if (start[d] < 0 || count[d] < 0 || start[d] > a->shape[d] - count[d])
            return zt__err(ZT_ERANGE, "%s: %s: selection out of bounds", a->file ? a->file : "", a->path);
        if (count[d] == 0) return 0;
        c0[d] = start[d] / a->chunks[d];
        c1[d] = (start[d] + count[d] - 1) / a->chunks[d];
        nch *= (size_t)(c1[d] - c0[d] + 1);
    }
    if (a->preloaded) {
        /* the whole array is in memory: one "chunk" spanning it */
        zt_array whole = *a;
        for (int d = 0; d < nd; d++) whole.chunks[d] = a->shape[d] ? a->shape[d] : 1;
        int64_t org[ZT_MAXDIM] = {0};
        zt__copy_box_conv(&whole, a->preloaded, org, start, count, out, 'r');
        return 0;
    }
    size_t cn = zt__array_chunk_nbytes(a);
    zt_rd_ctx c = {a, NULL, NULL, start, count, out, NULL, 0};
    c.locs = calloc(nch, sizeof *c.locs);
    c.cidx = calloc(nch * (size_t)(nd ? nd : 1), sizeof(int64_t));
    c.tmp = malloc(cn ? cn : 1);
    zt_req *reqs = calloc(nch, sizeof *reqs);
    int rc = 0;
    if (!c.locs || !c.cidx || !c.tmp || !reqs) {
        rc = zt__err(ZT_ENOMEM, "out of memory");
        goto done;
    }
    /* Enumerate chunks; inline/missing ones are decoded right away. */
    size_t nreq = 0;
    int64_t idx[ZT_MAXDIM];
    for (int d = 0; d < nd; d++) idx[d] = c0[d];
    for (size_t i = 0; i < nch; i++) {
        memcpy(c.cidx + i * (size_t)(nd ? nd : 1), idx, sizeof(int64_t) * (size_t)nd);
        for (int d = nd - 1; d >= 0; d--) {
            if (++idx[d] <= c1[d]) break;
            idx[d] = c0[d];
        }
    }
    if (a->vt->prepare && (rc = a->vt->prepare(a, c.cidx, nch))) goto done;
    for (size_t i = 0; i < nch; i++) {
        int64_t *ci = c.cidx + i * (size_t)(nd ? nd : 1);
        rc = a->vt->locate(a, ci, &c.locs[i]);
        if (rc) goto done;
        if (c.locs[i].missing || c.locs[i].inline_data) {
            zt__rd_apply(&c, i, c.locs[i].inline_data, c.locs[i].inline_len);
            if (c.rc) {
                rc = c.rc;
                goto done;
            }
        } else {
            zt_req *r = &reqs[nreq++];
            r->key = zt__loc_key(&c.locs[i]);
            r->offset = c.locs[i].offset;
            r->length = c.locs[i].length;
            r->user = (void *)(uintptr_t)i;
        }
    }
    rc = zt__store_get_batch(a->store, reqs, nreq, zt__rd_done, &c);
    if (!rc) rc = c.rc;
done:
    if (reqs)
        for (size_t i = 0; i < nch; i++) zt__buf_free(&reqs[i].out);
    free(reqs);
    for (size_t i = 0; c.locs && i < nch; i++) zt__chunk_loc_clear(&c.locs[i]);
    free(c.locs);
    free(c.cidx);
    free(c.tmp);
    return rc;
}

static int zt__read_all_raw(const zt_array *a, uint8_t **raw, size_t *n) {
    int64_t ne = zt__array_nelems(a);
    if (ne > ((int64_t)1 << 31))
        return zt__err(ZT_EOVERFLOW, "%s: %s: %lld elements: too large to read whole", a->file ? a->file : "", a->path,
                       (long long)ne);
    int64_t start[ZT_MAXDIM] = {0};
    *raw = malloc((size_t)(ne ? ne : 1) * a->dtype.size);
    if (!*raw) return zt__err(ZT_ENOMEM, "out of memory");
    int rc = zt__array_read(a, start, a->shape, *raw);
    if (rc) {
        free(*raw);
        *raw = NULL;
    }
    *n = (size_t)ne;
    return rc;
}

int zt__array_read_all_f64(const zt_array *a, double **out, size_t *n) {
    uint8_t *raw;
    int rc = zt__read_all_raw(a, &raw, n);
    if (rc) return rc;
    *out = malloc((*n ? *n : 1) * sizeof(double));
    if (!*out) {
        free(raw);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    zt__convert_f64(raw, a->dtype, *n, *out);
    free(raw);
    return 0;
}

int zt__array_read_all_i64(const zt_array *a, int64_t **out, size_t *n) {
    uint8_t *raw;
    int rc = zt__read_all_raw(a, &raw, n);
    if (rc) return rc;
    *out = malloc((*n ? *n : 1) * sizeof(int64_t));
    if (!*out) {
        free(raw);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    size_t bad = zt__convert_i64_exact(raw, a->dtype, *n, *out);
    if (bad < *n) {
        const char *f = a->file ? a->file : "";
        if (a->dtype.kind == 'u') { /* uint64 */
            uint64_t u;
            memcpy(&u, raw + bad * 8, 8);
            if (a->dtype.big_endian) u = __builtin_bswap64(u);
            rc = zt__err(ZT_ERANGE, "%s: %s: element %zu (%llu) is beyond the int64 range", f, a->path, bad,
                         (unsigned long long)u);
        } else {
            double d;
            zt__convert_f64(raw + bad * a->dtype.size, a->dtype, 1, &d);
            rc = zt__err(ZT_ERANGE, "%s: %s: element %zu (%.17g) is not an integer in the int64 range", f,
                         a->path, bad, d);
        }
        free(raw);
        free(*out);
        *out = NULL;
        return rc;
    }
    free(raw);
    return 0;
}

/* ---- batched preload of small arrays ----------------------------------------- */

typedef struct zt_pl_user {
    size_t arr;              /* index into arrays */
    int64_t cidx[ZT_MAXDIM];
} zt_pl_user;

typedef struct zt_pl_req {
    zt_chunk_loc loc;
    zt_pl_user *users;
    size_t nusers;
} zt_pl_req;

typedef struct zt_pl_ctx {
    zt_array **arrays;
    zt_pl_req *pr;
    uint8_t *tmp;
    int rc;
    char msg[1024];
} zt_pl_ctx;

static void zt__pl_apply(zt_pl_ctx *c, zt_pl_req *q, const void *raw, size_t n) {
    for (size_t u = 0; u < q->nusers && !c->rc; u++) {
        zt_array *a = c->arrays[q->users[u].arr];
        int rc = zt__array_decode_chunk(a, q->users[u].cidx, &q->loc, raw, n, c->tmp);
        if (rc) {
            c->rc = rc;
            snprintf(c->msg, sizeof c->msg, "%s", zt_last_error());
            return;
        }
        int64_t corg[ZT_MAXDIM], start[ZT_MAXDIM] = {0};
        for (int d = 0; d < a->ndim; d++) corg[d] = q->users[u].cidx[d] * a->chunks[d];
        zt__copy_box_conv(a, c->tmp, corg, start, a->shape, a->preloaded, 'r');
    }
}

static void zt__pl_done(zt_req *r, void *ud) {
    zt_pl_ctx *c = ud;
    zt_pl_req *q = &c->pr[(size_t)(uintptr_t)r->user];
    if (c->rc) return;
    int rc = r->status;
    if (rc == ZT_ENOTFOUND && q->loc.notfound_is_fill) {
        q->loc.missing = true;
        rc = 0;
    } else if (!rc && q->loc.offset >= 0 && (int64_t)r->out.len != q->loc.length) {
        zt_array *a = c->arrays[q->users[0].arr];
        rc = zt__err(ZT_ETRUNCATED, "%s: %s: chunk at byte %lld: file ends early", a->file ? a->file : "", a->path,
                     (long long)q->loc.offset);
    } else if (rc) {
        zt_array *a = c->arrays[q->users[0].arr];
        rc = zt__err_prefix(rc, "%s: %s: ", a->file ? a->file : "", a->path);
    }
    if (rc) {
        c->rc = rc;
        snprintf(c->msg, sizeof c->msg, "%s", zt_last_error());
        return;
    }
    zt__pl_apply(c, q, r->out.data, r->out.len);
    zt__buf_free(&r->out);
}

int zt__arrays_preload(zt_array **arrays, size_t n, size_t max_bytes) {
    zt_pl_ctx c;
    memset(&c, 0, sizeof c);
    c.arrays = arrays;
    size_t npr = 0, cap = 0, tmpn = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        zt_array *a = arrays[i];
        if (!a || a->preloaded) continue;
        int64_t ne = zt__array_nelems(a);
        if ((uint64_t)ne * a->dtype.size > max_bytes) continue;
        size_t cb = zt__array_chunk_nbytes(a);
        if (cb > max_bytes) continue; /* one huge chunk (e.g. Zarrtraj's) is not worth it */
        a->preloaded = calloc((size_t)(ne ? ne : 1), a->dtype.size);
        if (!a->preloaded) {
            rc = zt__err(ZT_ENOMEM, "out of memory");
            break;
        }
        if (cb > tmpn) tmpn = cb;
        int64_t nch = ne ? zt__array_nchunks(a) : 0;
        if (a->vt->prepare && nch > 0) {
            size_t nd = (size_t)(a->ndim ? a->ndim : 1);
            int64_t *all = malloc((size_t)nch * nd * sizeof *all);
            if (!all) {
                rc = zt__err(ZT_ENOMEM, "out of memory");
                break;
            }
            for (int64_t lin = 0; lin < nch; lin++) zt__array_chunk_index(a, lin, all + (size_t)lin * nd);
            rc = a->vt->prepare(a, all, (size_t)nch);
            free(all);
            if (rc) break;
        }
        for (int64_t lin = 0; lin < nch && !rc; lin++) {
            zt_pl_user usr;
            usr.arr = i;
            zt__array_chunk_index(a, lin, usr.cidx);
            zt_chunk_loc loc;
            memset(&loc, 0, sizeof loc);
            if ((rc = a->vt->locate(a, usr.cidx, &loc))) {
                zt__chunk_loc_clear(&loc);
                break;
            }
            /* identical location (a hard link read twice): one request */
            size_t q = npr;
            if (!loc.missing && !loc.inline_data)
                for (q = 0; q < npr; q++) {
                    zt_chunk_loc *o = &c.pr[q].loc;
                    zt_array *oa = arrays[c.pr[q].users[0].arr];
                    if (oa->store == a->store && o->offset == loc.offset && o->length == loc.length &&
                        !o->missing && !o->inline_data && !strcmp(zt__loc_key(o), zt__loc_key(&loc)))
                        break;
                }
            if (q == npr) {
                if (npr == cap) {
                    size_t nc = cap ? cap * 2 : 32;
                    zt_pl_req *p = realloc(c.pr, nc * sizeof *p);
                    if (!p) {
                        zt__chunk_loc_clear(&loc);
                        rc = zt__err(ZT_ENOMEM, "out of memory");
                        break;
                    }
                    c.pr = p;
                    cap = nc;
                }
                memset(&c.pr[npr], 0, sizeof c.pr[npr]);
                c.pr[npr].loc = loc; /* takes the key */
                npr++;
            } else {
                zt__chunk_loc_clear(&loc);
            }
            zt_pl_user *nu = realloc(c.pr[q].users, (c.pr[q].nusers + 1) * sizeof *nu);
            if (!nu) {
                rc = zt__err(ZT_ENOMEM, "out of memory");
                break;
            }
            c.pr[q].users = nu;
            nu[c.pr[q].nusers++] = usr;
        }
    }
    c.tmp = rc ? NULL : malloc(tmpn ? tmpn : 1);
    if (!rc && !c.tmp) rc = zt__err(ZT_ENOMEM, "out of memory");
    zt_req *reqs = rc ? NULL : calloc(npr ? npr : 1, sizeof *reqs);
    if (!rc && !reqs) rc = zt__err(ZT_ENOMEM, "out of memory");
    size_t nr = 0;
    for (size_t q = 0; q < npr && !rc; q++) {
        if (c.pr[q].loc.missing || c.pr[q].loc.inline_data) {
            zt__pl_apply(&c, &c.pr[q], c.pr[q].loc.inline_data, c.pr[q].loc.inline_len);
            continue;
        }
        reqs[nr].key = zt__loc_key(&c.pr[q].loc);
        reqs[nr].offset = c.pr[q].loc.offset;
        reqs[nr].length = c.pr[q].loc.length;
        reqs[nr].user = (void *)(uintptr_t)q;
        nr++;
    }
    /* one batch per store (normally a single one) */
    for (size_t i = 0; i < nr && !rc && !c.rc;) {
        zt_store *s = arrays[c.pr[(size_t)(uintptr_t)reqs[i].user].users[0].arr]->store;
        size_t j = i + 1;
        while (j < nr && arrays[c.pr[(size_t)(uintptr_t)reqs[j].user].users[0].arr]->store == s) j++;
        rc = zt__store_get_batch(s, reqs + i, j - i, zt__pl_done, &c);
        i = j;
    }
    if (!rc && c.rc) rc = zt__err(c.rc, "%s", c.msg);
    for (size_t i = 0; reqs && i < nr; i++) zt__buf_free(&reqs[i].out);
    free(reqs);
    for (size_t q = 0; q < npr; q++) {
        free(c.pr[q].users);
        zt__chunk_loc_clear(&c.pr[q].loc);
    }
    free(c.pr);
    free(c.tmp);
    if (rc)
        for (size_t i = 0; i < n; i++)
            if (arrays[i]) {
                free(arrays[i]->preloaded);
                arrays[i]->preloaded = NULL;
            }
    return rc;
}
