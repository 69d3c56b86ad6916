/* Codec pipelines: Zarr filters + compressor or an HDF5 filter pipeline,
 * decoded backwards with per-thread scratch buffers and, where the sizes
 * allow it, straight into the caller's buffer. */
#include "codec/codec_int.h"

#include <stdlib.h>
#include <string.h>

/* HDF5 allows at most 32 filters (H5Z_MAX_NFILTERS); the filter mask has 32 bits. */
#define ZT__PIPE_MAX 32
/* Scratch buffers above this size are released after use. */
#define ZT__SCRATCH_KEEP ((size_t)256 << 20)

int zt__pipeline_new(zt_pipeline **out) {
    *out = calloc(1, sizeof **out);
    return *out ? 0 : zt__err(ZT_ENOMEM, "out of memory");
}

int zt__pipeline_push(zt_pipeline *p, zt_codec *c) {
    if (!p || !c) {
        zt__codec_free(c);
        return zt__err(ZT_EINVAL, "pipeline_push: NULL argument");
    }
    if (p->n >= ZT__PIPE_MAX) {
        zt__codec_free(c);
        return zt__err(ZT_EUNSUPPORTED, "codec pipeline longer than %d stages", ZT__PIPE_MAX);
    }
    zt_codec **v = realloc(p->codecs, (p->n + 1) * sizeof *v);
    if (!v) {
        zt__codec_free(c);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    p->codecs = v;
    p->codecs[p->n++] = c;
    return 0;
}

int zt__pipeline_push_first(zt_pipeline *p, zt_codec *c) {
    int rc = zt__pipeline_push(p, c);
    if (rc) return rc;
    memmove(p->codecs + 1, p->codecs, (p->n - 1) * sizeof *p->codecs);
    p->codecs[0] = c;
    return 0;
}

void zt__pipeline_free(zt_pipeline *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) zt__codec_free(p->codecs[i]);
    free(p->codecs);
    free(p);
}

int zt__pipeline_from_zarr(const json_t *compressor, const json_t *filters, zt_pipeline **out) {
    *out = NULL;
    zt_pipeline *p;
    int rc = zt__pipeline_new(&p);
    if (rc) return rc;
    if (filters && !json_is_null(filters)) {
        if (!json_is_array(filters)) {
            zt__pipeline_free(p);
            return zt__err(ZT_EINVAL, "zarr 'filters' is not a JSON array or null");
        }
        size_t i;
        json_t *f;
        json_array_foreach(filters, i, f) {
            zt_codec *c;
            if ((rc = zt__codec_from_json(f, &c)) || (rc = zt__pipeline_push(p, c))) {
                zt__pipeline_free(p);
                return rc;
            }
        }
    }
    if (compressor && !json_is_null(compressor)) {
        zt_codec *c;
        if ((rc = zt__codec_from_json(compressor, &c)) || (rc = zt__pipeline_push(p, c))) {
            zt__pipeline_free(p);
            return rc;
        }
    }
    /* Stages after a filter with an astype know their item size already;
     * zt__pipeline_set_typesize() fills in the rest from the array dtype. */
    size_t ts = 0;
    for (size_t i = 0; i < p->n; i++) {
        zt__codec *c = zt__codec_impl(p->codecs[i]);
        if (ts) c->typesize = ts;
        ts = zt__codec_out_itemsize(c, ts);
    }
    *out = p;
    return 0;
}

int zt__pipeline_set_typesize(zt_pipeline *p, size_t itemsize) {
    if (!p) return zt__err(ZT_EINVAL, "pipeline is NULL");
    size_t ts = itemsize ? itemsize : 1;
    for (size_t i = 0; i < p->n; i++) {
        zt__codec *c = zt__codec_impl(p->codecs[i]);
        if (!c) {
            ts = 1;
            continue;
        }
        c->typesize = ts;
        ts = zt__codec_out_itemsize(c, ts);
    }
    return 0;
}

/* Split into (compressor, filters) the Zarr way. */
static int split(const zt_pipeline *p, json_t **compressor, json_t **filters, bool strict) {
    *compressor = *filters = NULL;
    size_t n = p ? p->n : 0, nf = n;
    if (n) {
        zt__codec *last = zt__codec_impl(p->codecs[n - 1]);
        if (!last || last->kind == ZT__KIND_COMPRESSOR) nf = n - 1;
    }
    for (size_t i = 0; strict && i < n; i++) {
        zt__codec *c = zt__codec_impl(p->codecs[i]);
        if (c && c->cid == ZT__C_LZF)
            return zt__err(ZT_EUNSUPPORTED, "codec 'lzf' has no numcodecs equivalent for Zarr");
    }
    json_t *comp = nf < n ? json_deep_copy(p->codecs[n - 1]->config) : json_null();
    json_t *filt = nf ? json_array() : json_null();
    for (size_t i = 0; filt && i < nf; i++) {
        if (json_array_append_new(filt, json_deep_copy(p->codecs[i]->config))) {
            json_decref(filt);
            filt = NULL;
        }
    }
    if (!comp || !filt) {
        json_decref(comp);
        json_decref(filt);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    *compressor = comp;
    *filters = filt;
    return 0;
}

int zt__pipeline_to_zarr(const zt_pipeline *p, json_t **compressor, json_t **filters) {
    return split(p, compressor, filters, true);
}

char *zt__pipeline_describe(const zt_pipeline *p) {
    json_t *comp, *filt;
    if (split(p, &comp, &filt, false)) return NULL;
    json_t *o = json_object();
    char *s = NULL;
    if (o && !json_object_set_new(o, "compressor", comp) && !json_object_set_new(o, "filters", filt))
        s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    else if (!o) {
        json_decref(comp);
        json_decref(filt);
    }
    json_decref(o);
    return s;
}

/* ---- decode / encode -------------------------------------------------------- */

static void scratch_trim(zt_buf *scratch) {
    for (int i = 0; i < 2; i++)
        if (scratch[i].cap > ZT__SCRATCH_KEEP) zt__buf_free(&scratch[i]);
}

/* Decode one stage into dst (exactly size bytes). */
static int stage_into(const zt_codec *pc, const void *in, size_t n, void *dst, size_t size) {
    zt__codec *c = zt__codec_impl(pc);
    if (c) {
        return c->kind == ZT__KIND_COMPRESSOR ? zt__cmp_decode_into(c, in, n, dst, size)
                                              : zt__flt_decode_into(c, in, n, dst, size);
    }
    if (pc->vt->decode_into) return pc->vt->decode_into(pc, in, n, dst, size);
    /* foreign codec: through its vtable, via a private buffer */
    zt_buf tmp;
    zt__buf_init(&tmp);
    int rc = pc->vt->decode(pc, in, n, &tmp, size);
    if (!rc && tmp.len != size) rc = zt__err_size(pc->vt->id, size, tmp.len);
    if (!rc && size) memcpy(dst, tmp.data, size);
    zt__buf_free(&tmp);
    return rc;
}

int zt__pipeline_decode(const zt_pipeline *p, uint32_t skip_mask, const void *in, size_t n,
                        void *out, size_t out_size) {
    size_t nc = p ? p->n : 0;
    size_t known[ZT__PIPE_MAX];
    bool isknown[ZT__PIPE_MAX], active[ZT__PIPE_MAX];
    zt__codec *impl[ZT__PIPE_MAX];
    int rc;
    if (nc > ZT__PIPE_MAX) return zt__err(ZT_EUNSUPPORTED, "codec pipeline too long");
    if (!in && n) return zt__err(ZT_EINVAL, "pipeline_decode: NULL input");

    /* Decoded size of every stage, known up to the first compressor. */
    size_t s = out_size;
    bool k = true;
    for (size_t i = 0; i < nc; i++) {
        impl[i] = zt__codec_impl(p->codecs[i]);
        active[i] = !(i < 32 && (skip_mask >> i) & 1u);
        known[i] = s;
        isknown[i] = k;
        if (!active[i]) continue;
        if (k && impl[i] && impl[i]->kind != ZT__KIND_COMPRESSOR) {
            if (zt__flt_encoded_size(impl[i], s, &s)) k = false;
        } else {
            k = false;
        }
    }
    /* The stage that writes into out: the lowest stage that transforms bytes,
     * provided every active stage below it leaves the bytes untouched. */
    size_t target = SIZE_MAX;
    for (size_t i = 0; i < nc; i++) {
        if (!active[i]) continue;
        if (impl[i] && impl[i]->identity_dec && impl[i]->kind == ZT__KIND_FILTER) continue;
        if (!impl[i] || impl[i]->kind != ZT__KIND_CHECKSUM) target = i;
        break;
    }

    zt__codec_tls *t = zt__codec_tls_get();
    /* a codec of this pipeline may decode through a pipeline of its own
     * (a shard's inner chunks): it gets the next scratch pair */
    if (t->depth >= ZT__PIPE_NEST) return zt__err(ZT_EUNSUPPORTED, "codec pipelines nested deeper than %d", ZT__PIPE_NEST);
    zt_buf *scratch = t->scratch[t->depth++];
    const uint8_t *cur = in;
    size_t cur_n = n;
    int which = 0;
    rc = 0;
    for (size_t i = nc; i-- > 0 && !rc;) {
        if (!active[i]) continue;
        zt__codec *c = impl[i];
        if (c && c->kind == ZT__KIND_CHECKSUM) { /* verify and strip the trailer, no copy */
            rc = zt__checksum_check(c, cur, cur_n, &cur_n);
            continue;
        }
        if (c && c->identity_dec) {
            size_t want;
            if ((rc = zt__flt_decoded_size(c, cur_n, &want))) break;
            continue;
        }
        if (i == target && isknown[i]) {
            rc = stage_into(p->codecs[i], cur, cur_n, out, out_size);
            cur = out;
            cur_n = out_size;
            continue;
        }
        zt_buf *tmp = &scratch[which];
        if (isknown[i]) {
            if (!(rc = zt__buf_resize(tmp, known[i])))
                rc = stage_into(p->codecs[i], cur, cur_n, tmp->data, known[i]);
        } else {
            /* the other scratch may hold cur, so decode only into tmp */
            rc = p->codecs[i]->vt->decode(p->codecs[i], cur, cur_n, tmp, 0);
        }
        if (rc) break;
        cur = tmp->data;
        cur_n = tmp->len;
        which ^= 1;
    }
    if (!rc && cur != out) {
        if (cur_n != out_size) rc = zt__err_size("chunk", out_size, cur_n);
        else if (out_size) memmove(out, cur, out_size);
    }
    scratch_trim(scratch);
    t->depth--;
    return rc;
}

int zt__pipeline_decode_f(const zt_pipeline *p, uint32_t skip_mask, const void *in, size_t n, void *tmp,
                          void *out, size_t out_size, int ndim, const int64_t *dims, size_t elsize) {
    /* Only the compact preset's pair, both applied, above at least one codec. */
    if (!p || p->n < 3 || ndim != 3 || elsize != 4 || (skip_mask & 3u)) return 1;
    zt__codec *fso = zt__codec_impl(p->codecs[0]), *delta = zt__codec_impl(p->codecs[1]);
    if (!zt__flt_is_fso_i4_f4(fso) || !zt__flt_is_delta_i4(delta)) return 1;
    int64_t el = dims[0] * dims[1] * dims[2];
    if (el < 0 || (size_t)el * 4 != out_size) return 1;
    if (!zt__flt_f3_fusable(dims)) return 1;
    zt_pipeline rest = {p->codecs + 2, p->n - 2};
    int rc = zt__pipeline_decode(&rest, skip_mask >> 2, in, n, tmp, out_size);
    if (rc) return rc;
    rc = zt__flt_fso_delta_from_f3(fso, tmp, out, dims);
    return rc == 1 ? zt__err(ZT_ESTATE, "fused decode refused a checked shape") : rc;
}

int zt__pipeline_encode_f(const zt_pipeline *p, const void *in, size_t n, void *tmp, int ndim, const int64_t *dims,
                          size_t elsize, zt_buf *out) {
    if (!p || p->n < 3 || ndim != 3 || elsize != 4) return 1;
    zt__codec *fso = zt__codec_impl(p->codecs[0]), *delta = zt__codec_impl(p->codecs[1]);
    if (!zt__flt_is_delta_i4(delta) || (size_t)(dims[0] * dims[1] * dims[2]) * 4 != n) return 1;
    int rc = zt__flt_fso_delta_to_f3(fso, in, tmp, dims);
    if (rc) return rc;
    zt_pipeline rest = {p->codecs + 2, p->n - 2};
    return zt__pipeline_encode(&rest, tmp, n, out);
}

int zt__pipeline_encode(const zt_pipeline *p, const void *in, size_t n, zt_buf *out) {
    size_t nc = p ? p->n : 0;
    if (!in && n) return zt__err(ZT_EINVAL, "pipeline_encode: NULL input");
    if (nc == 0) {
        out->len = 0;
        return zt__buf_append(out, in, n);
    }
    zt__codec_tls *t = zt__codec_tls_get();
    const uint8_t *cur = in;
    size_t cur_n = n;
    int which = 0, rc = 0;
    for (size_t i = 0; i < nc && !rc; i++) {
        zt_buf *dst = i == nc - 1 ? out : &t->scratch[t->depth][which];
        rc = p->codecs[i]->vt->encode(p->codecs[i], cur, cur_n, dst);
        cur = dst->data;
        cur_n = dst->len;
        which ^= 1;
    }
    if (rc) out->len = 0;
    scratch_trim(t->scratch[t->depth]);
    return rc;
}
