/* Zarr back end of the trajectory writer: .zgroup/.zattrs/.zarray documents,
 * encoded chunks, and consolidated .zmetadata rewritten at every sync so a
 * writer killed mid-run leaves a valid hierarchy. A sync stores, in order:
 * the chunks, the .zarray of every grown step/time array, those of the
 * values, then .zmetadata (the commit for consolidated readers); each object
 * replaces the last atomically on every store. */
#include "array/format.h"
#include "zarr/zarr.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Full chunks are encoded and uploaded in the background by a few threads
 * (network stores overlap requests; local disks overlap encoding), with at
 * most ZT_ZW_INFLIGHT bytes of raw chunks queued. Partial chunks, which are
 * rewritten as rows arrive, are written synchronously so that writes of one
 * key never race. sync() waits for the queue before committing metadata. */
#define ZT_ZW_THREADS 4
#define ZT_ZW_INFLIGHT ((size_t)256 << 20)

struct zt_warr {
    zt_array *a;
    json_t *doc3;       /* Zarr v3: the array's zarr.json (shape updated when written) */
    int64_t grid_rows;  /* rows per stored chunk (a shard in v3) */
    size_t rowbytes;
    json_t *attrs;
    bool dirty;
    bool index; /* step/time: .zarray rewritten before the values' (zt_warr_spec.index) */
};

typedef struct zt_znode {
    char *path;
    json_t *attrs;
} zt_znode;

typedef struct zt_zwriter {
    zt_wbackend base;
    zt_store *s;
    zt_znode *groups;
    size_t ngroups;
    zt_warr **arrays;
    size_t narrays;
    zt_buf enc, chunk;
    /* background uploads */
    zt_pool *pool;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t inflight_bytes;
    int inflight;
    int err;
    char errmsg[1024];
    zt_buf spare[ZT_ZW_THREADS]; /* encode buffers reused across jobs */
    int nspare;
    int zarr_format; /* 2 or 3 */
} zt_zwriter;

typedef struct zt_zjob {
    zt_zwriter *w;
    zt_array *a;
    int64_t cidx[ZT_MAXDIM];
    uint8_t *data;
    size_t n;
    bool v3;
    int64_t valid_rows;
} zt_zjob;

static void zt__zjob_run(void *arg) {
    zt_zjob *j = arg;
    zt_zwriter *w = j->w;
    zt_buf enc;
    zt__buf_init(&enc);
    pthread_mutex_lock(&w->mu);
    if (w->nspare > 0) enc = w->spare[--w->nspare];
    pthread_mutex_unlock(&w->mu);
    int rc = j->v3 ? zt__zarr3_write_chunk(j->a, j->cidx, j->data, j->valid_rows, &enc)
                   : zt__zarr_write_chunk(j->a, j->cidx, j->data, &enc);
    pthread_mutex_lock(&w->mu);
    if (w->nspare < ZT_ZW_THREADS) w->spare[w->nspare++] = enc;
    else zt__buf_free(&enc);
    if (rc && !w->err) {
        w->err = rc;
        snprintf(w->errmsg, sizeof w->errmsg, "%s", zt_last_error());
    }
    w->inflight--;
    w->inflight_bytes -= j->n;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    free(j->data);
    free(j);
}

/* Wait for every queued upload; report the first failure. */
static int zt__zw_drain(zt_zwriter *w) {
    pthread_mutex_lock(&w->mu);
    while (w->inflight > 0) pthread_cond_wait(&w->cv, &w->mu);
    int rc = w->err;
    pthread_mutex_unlock(&w->mu);
    return rc ? zt__err(rc, "%s", w->errmsg) : 0;
}

static int zt__zw_submit(zt_zwriter *w, zt_array *a, const int64_t *cidx, const void *data, size_t n, int64_t rows) {
    if (!w->pool) {
        int rc = zt__pool_create(ZT_ZW_THREADS, &w->pool);
        if (rc) return rc;
    }
    zt_zjob *j = calloc(1, sizeof *j);
    uint8_t *copy = malloc(n ? n : 1);
    if (!j || !copy) {
        free(j);
        free(copy);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    memcpy(copy, data, n);
    j->w = w;
    j->a = a;
    memcpy(j->cidx, cidx, sizeof j->cidx);
    j->data = copy;
    j->n = n;
    j->v3 = w->zarr_format == 3;
    j->valid_rows = rows;
    pthread_mutex_lock(&w->mu);
    while (w->inflight > 0 && w->inflight_bytes + n > ZT_ZW_INFLIGHT) pthread_cond_wait(&w->cv, &w->mu);
    int err = w->err;
    if (!err) {
        w->inflight++;
        w->inflight_bytes += n;
    }
    pthread_mutex_unlock(&w->mu);
    if (err) {
        free(copy);
        free(j);
        return zt__err(err, "%s", w->errmsg);
    }
    int rc = zt__pool_submit(w->pool, zt__zjob_run, j);
    if (rc) {
        pthread_mutex_lock(&w->mu);
        w->inflight--;
        w->inflight_bytes -= n;
        pthread_mutex_unlock(&w->mu);
        free(copy);
        free(j);
    }
    return rc;
}

static char *zt__key(const char *path, const char *name) { return zt__path_join(path, name); }

static int zt__put_json(zt_zwriter *w, const char *path, const char *name, const json_t *j) {
    char *key = zt__key(path, name);
    char *txt = zt__zarr_dumps(j);
    int rc = (!key || !txt) ? zt__err(ZT_ENOMEM, "out of memory") : zt__store_put(w->s, key, txt, strlen(txt));
    free(key);
    free(txt);
    return rc;
}

static json_t *zt__zw_group3(const json_t *attrs) {
    return json_pack("{s:i,s:s,s:o}", "zarr_format", 3, "node_type", "group",
                     "attributes", attrs ? json_deep_copy(attrs) : json_object());
}

/* zarr.json of a v3 array with its current shape (new reference). */
static json_t *zt__zw_doc3(const zt_warr *wa) {
    json_t *d = json_deep_copy(wa->doc3);
    json_t *shape = json_object_get(d, "shape");
    for (int k = 0; k < wa->a->ndim; k++) json_array_set_new(shape, (size_t)k, json_integer(wa->a->shape[k]));
    json_object_set(d, "attributes", wa->attrs);
    return d;
}

static int zt__zw_group(zt_wbackend *b, const char *path, const json_t *attrs) {
    zt_zwriter *w = (zt_zwriter *)b;
    zt_znode *g = realloc(w->groups, (w->ngroups + 1) * sizeof *g);
    if (!g) return zt__err(ZT_ENOMEM, "out of memory");
    w->groups = g;
    g = &w->groups[w->ngroups];
    g->path = strdup(path);
    g->attrs = attrs ? json_deep_copy(attrs) : json_object();
    if (!g->path || !g->attrs) {
        free(g->path);
        json_decref(g->attrs);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    w->ngroups++;
    if (w->zarr_format == 3) {
        json_t *zg = zt__zw_group3(g->attrs);
        int rc = zg ? zt__put_json(w, path, "zarr.json", zg) : zt__err(ZT_ENOMEM, "out of memory");
        json_decref(zg);
        return rc;
    }
    json_t *zg = json_pack("{s:i}", "zarr_format", 2);
    int rc = zt__put_json(w, path, ".zgroup", zg);
    json_decref(zg);
    if (!rc && json_object_size(g->attrs)) rc = zt__put_json(w, path, ".zattrs", g->attrs);
    return rc;
}

static int zt__zw_array(zt_wbackend *b, const zt_warr_spec *sp, zt_warr **out) {
    zt_zwriter *w = (zt_zwriter *)b;
    json_t *j = json_object(), *shape = json_array(), *chunks = json_array();
    for (int d = 0; d < sp->ndim; d++) {
        json_array_append_new(shape, json_integer(sp->shape[d]));
        json_array_append_new(chunks, json_integer(sp->chunks[d]));
    }
    char dt[8];
    zt__dtype_to_str(sp->dtype, dt);
    json_object_set_new(j, "zarr_format", json_integer(2));
    json_object_set_new(j, "shape", shape);
    json_object_set_new(j, "chunks", chunks);
    json_object_set_new(j, "dtype", json_string(dt));
    json_object_set_new(j, "order", json_string(sp->order_f ? "F" : "C"));
    json_object_set_new(j, "fill_value", sp->dtype.kind == 'f' ? json_real(0.0) : json_integer(0));
    json_object_set_new(j, "compressor", sp->compressor ? json_deep_copy(sp->compressor) : json_null());
    if (sp->filters)
        json_object_set_new(j, "filters", json_deep_copy(sp->filters));
    else if (sp->precision >= 0 && sp->dtype.kind == 'f')
        json_object_set_new(j, "filters",
                            json_pack("[{s:s,s:i,s:s,s:s}]", "id", "quantize", "digits", sp->precision, "dtype", dt,
                                      "astype", dt));
    else
        json_object_set_new(j, "filters", json_null());
    zt_warr *wa = calloc(1, sizeof *wa);
    int rc = wa ? 0 : zt__err(ZT_ENOMEM, "out of memory");
    if (!rc) {
        wa->grid_rows = sp->ndim ? sp->chunks[0] : 1;
        wa->rowbytes = sp->dtype.size;
        for (int d = 1; d < sp->ndim; d++) wa->rowbytes *= (size_t)sp->chunks[d];
    }
    if (!rc && w->zarr_format == 3) {
        wa->doc3 = zt__zarr3_array_doc(sp->dtype, sp->ndim, sp->shape, sp->chunks, sp->inner_rows, sp->compressor,
                                       sp->precision, NULL);
        rc = wa->doc3 ? zt__zarr3_array_from_json(wa->doc3, sp->path, w->base.url, w->s, &wa->a)
                      : zt__err(ZT_EUNSUPPORTED, "%s: dtype not supported in Zarr v3", sp->path);
    } else if (!rc) {
        rc = zt__zarr_array_from_json(j, sp->path, w->base.url, w->s, &wa->a);
    }
    json_decref(j);
    if (!rc) {
        wa->index = sp->index;
        wa->attrs = sp->attrs ? json_deep_copy(sp->attrs) : json_object();
        zt_warr **p = realloc(w->arrays, (w->narrays + 1) * sizeof *p);
        if (!p || !wa->attrs) rc = zt__err(ZT_ENOMEM, "out of memory");
        else {
            w->arrays = p;
            w->arrays[w->narrays++] = wa;
        }
    }
    if (rc) {
        if (wa) {
            zt__array_free(wa->a);
            json_decref(wa->attrs);
            json_decref(wa->doc3);
            free(wa);
        }
        return rc;
    }
    *out = wa;
    if (w->zarr_format == 3) {
        json_t *d3 = zt__zw_doc3(wa);
        rc = d3 ? zt__put_json(w, sp->path, "zarr.json", d3) : zt__err(ZT_ENOMEM, "out of memory");
        json_decref(d3);
        return rc;
    }
    json_t *doc = zt__zarr_array_to_json(wa->a);
    rc = zt__put_json(w, sp->path, ".zarray", doc);
    json_decref(doc);
    if (!rc && json_object_size(wa->attrs)) rc = zt__put_json(w, sp->path, ".zattrs", wa->attrs);
    *out = wa;
    return rc;
}

/* Gather the block of atoms (axis 1) cidx[1] of k packed rows into dst, a
 * whole chunk, zero-padded past the last row and atom. */
static void zt__zw_gather(const zt_array *a, const uint8_t *rows, int64_t k, int64_t j, uint8_t *dst) {
    size_t inner = a->dtype.size; /* bytes per atom: the trailing axes, whole */
    for (int d = 2; d < a->ndim; d++) inner *= (size_t)a->chunks[d];
    int64_t ca = a->chunks[1], a0 = j * ca, na = a->shape[1] - a0 < ca ? a->shape[1] - a0 : ca;
    size_t rowbytes = (size_t)a->shape[1] * inner, cb = zt__array_chunk_nbytes(a);
    memset(dst, 0, cb);
    for (int64_t r = 0; r < k; r++)
        memcpy(dst + (size_t)r * (size_t)ca * inner, rows + (size_t)r * rowbytes + (size_t)a0 * inner,
               (size_t)na * inner);
}

static int zt__zw_rows(zt_wbackend *b, zt_warr *wa, int64_t row0, int64_t nrows, const void *data) {
    zt_zwriter *w = (zt_zwriter *)b;
    zt_array *a = wa->a;
    if (a->ndim < 1) return zt__err(ZT_EINVAL, "%s: write_rows on a scalar", a->path);
    int64_t c0 = wa->grid_rows;
    if (row0 % c0) return zt__err(ZT_EINVAL, "%s: unaligned write at row %lld", a->path, (long long)row0);
    /* Axis 1 may be split in blocks (atoms, the compact preset); the others are whole. */
    for (int d = 2; d < a->ndim; d++)
        if (a->chunks[d] != a->shape[d] && a->shape[d] != 0)
            return zt__err(ZT_EINVAL, "%s: writer needs whole trailing axes per chunk", a->path);
    bool split = a->ndim >= 2 && a->chunks[1] != a->shape[1] && a->shape[1] != 0;
    if (split && w->zarr_format == 3)
        return zt__err(ZT_EUNSUPPORTED, "%s: blocks of atoms are written in Zarr v2 only", a->path);
    size_t crow = wa->rowbytes; /* one row of a chunk */
    size_t rowbytes = split ? crow / (size_t)a->chunks[1] * (size_t)a->shape[1] : crow; /* one input row */
    size_t cb = (size_t)c0 * crow;
    int rc = zt__buf_resize(&w->chunk, cb);
    int64_t nblk = split ? (a->shape[1] + a->chunks[1] - 1) / a->chunks[1] : 1;
    for (int64_t r = 0; !rc && r < nrows; r += c0) {
        int64_t k = nrows - r < c0 ? nrows - r : c0;
        const uint8_t *src = (const uint8_t *)data + (size_t)r * rowbytes;
        for (int64_t jb = 0; !rc && jb < nblk; jb++) {
            const void *chunk = src;
            if (split) {
                zt__zw_gather(a, src, k, jb, w->chunk.data);
                chunk = w->chunk.data;
            } else if (k < c0) { /* pad a partial chunk with the fill value (zero) */
                memcpy(w->chunk.data, src, (size_t)k * rowbytes);
                memset(w->chunk.data + (size_t)k * rowbytes, 0, cb - (size_t)k * rowbytes);
                chunk = w->chunk.data;
            }
            int64_t cidx[ZT_MAXDIM] = {0};
            cidx[0] = (row0 + r) / c0;
            cidx[1] = jb;
            if (k == c0) rc = zt__zw_submit(w, a, cidx, chunk, cb, k);
            else if (w->zarr_format == 3) rc = zt__zarr3_write_chunk(a, cidx, chunk, k, &w->enc);
            else rc = zt__zarr_write_chunk(a, cidx, chunk, &w->enc);
        }
    }
    return rc;
}

static int zt__zw_scalar(zt_wbackend *b, zt_warr *wa, const void *value) {
    zt_zwriter *w = (zt_zwriter *)b;
    int64_t cidx[1] = {0};
    if (w->zarr_format == 3) return zt__zarr3_write_chunk(wa->a, cidx, value, 1, &w->enc);
    return zt__zarr_write_chunk(wa->a, cidx, value, &w->enc);
}

static int zt__zw_set_rows(zt_wbackend *b, zt_warr *wa, int64_t rows) {
    (void)b;
    if (wa->a->ndim < 1) return 0;
    if (wa->a->shape[0] != rows) {
        wa->a->shape[0] = rows;
        wa->dirty = true;
    }
    return 0;
}

/* v3 commit: grown step/time zarr.json first, then the values', then the
 * root zarr.json with every node's metadata consolidated. */
static int zt__zw_sync3(zt_zwriter *w) {
    int rc = 0;
    for (int pass = 0; pass < 2 && !rc; pass++)
        for (size_t i = 0; i < w->narrays && !rc; i++) {
            zt_warr *wa = w->arrays[i];
            if (!wa->dirty || wa->index != (pass == 0)) continue;
            json_t *doc = zt__zw_doc3(wa);
            rc = doc ? zt__put_json(w, wa->a->path, "zarr.json", doc) : zt__err(ZT_ENOMEM, "out of memory");
            if (!rc) wa->dirty = false;
            json_decref(doc);
        }
    if (rc) return rc;
    json_t *md = json_object();
    for (size_t i = 0; i < w->ngroups; i++) json_object_set_new(md, w->groups[i].path, zt__zw_group3(w->groups[i].attrs));
    for (size_t i = 0; i < w->narrays; i++) json_object_set_new(md, w->arrays[i]->a->path, zt__zw_doc3(w->arrays[i]));
    json_t *root = zt__zw_group3(NULL);
    json_object_set_new(root, "consolidated_metadata",
                        json_pack("{s:s,s:b,s:o}", "kind", "inline", "must_understand", 0, "metadata", md));
    rc = root ? zt__put_json(w, "", "zarr.json", root) : zt__err(ZT_ENOMEM, "out of memory");
    json_decref(root);
    return rc;
}

static int zt__zw_sync(zt_wbackend *b) {
    zt_zwriter *w = (zt_zwriter *)b;
    /* metadata may only describe chunks that are stored */
    int rc = zt__zw_drain(w);
    if (rc) return rc;
    if (w->zarr_format == 3) return zt__zw_sync3(w);
    json_t *md = json_object();
    json_object_set_new(md, ".zgroup", json_pack("{s:i}", "zarr_format", 2));
    for (size_t i = 0; i < w->ngroups; i++) {
        char *k = zt__key(w->groups[i].path, ".zgroup");
        json_object_set_new(md, k, json_pack("{s:i}", "zarr_format", 2));
        free(k);
        if (json_object_size(w->groups[i].attrs)) {
            k = zt__key(w->groups[i].path, ".zattrs");
            json_object_set(md, k, w->groups[i].attrs);
            free(k);
        }
    }
    /* Readers without .zmetadata take each .zarray as it is: step and time
     * grow first, so no value row is ever there without them. */
    for (int pass = 0; pass < 2 && !rc; pass++)
        for (size_t i = 0; i < w->narrays && !rc; i++) {
            zt_warr *wa = w->arrays[i];
            if (!wa->dirty || wa->index != (pass == 0)) continue;
            json_t *doc = zt__zarr_array_to_json(wa->a);
            rc = doc ? zt__put_json(w, wa->a->path, ".zarray", doc) : zt__err(ZT_ENOMEM, "out of memory");
            if (!rc) wa->dirty = false;
            json_decref(doc);
        }
    for (size_t i = 0; i < w->narrays; i++) {
        zt_warr *wa = w->arrays[i];
        json_t *doc = zt__zarr_array_to_json(wa->a);
        char *k = zt__key(wa->a->path, ".zarray");
        json_object_set_new(md, k, doc);
        free(k);
        if (json_object_size(wa->attrs)) {
            k = zt__key(wa->a->path, ".zattrs");
            json_object_set(md, k, wa->attrs);
            free(k);
        }
    }
    json_t *cons = json_pack("{s:o,s:i}", "metadata", md, "zarr_consolidated_format", 1);
    if (!rc) rc = zt__put_json(w, "", ".zmetadata", cons);
    json_decref(cons);
    return rc;
}

static int zt__zw_close(zt_wbackend *b, bool ok) {
    zt_zwriter *w = (zt_zwriter *)b;
    int rc = ok ? zt__zw_sync(b) : zt__zw_drain(w);
    zt__pool_free(w->pool);
    for (int i = 0; i < w->nspare; i++) zt__buf_free(&w->spare[i]);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    for (size_t i = 0; i < w->ngroups; i++) {
        free(w->groups[i].path);
        json_decref(w->groups[i].attrs);
    }
    free(w->groups);
    for (size_t i = 0; i < w->narrays; i++) {
        zt__array_free(w->arrays[i]->a);
        json_decref(w->arrays[i]->attrs);
        json_decref(w->arrays[i]->doc3);
        free(w->arrays[i]);
    }
    free(w->arrays);
    zt__buf_free(&w->enc);
    zt__buf_free(&w->chunk);
    zt__store_close(w->s);
    free(w->base.url);
    free(w);
    return rc;
}

static const zt_wbackend_vt zt__zw_vt = {zt__zw_group, zt__zw_array, zt__zw_rows, zt__zw_scalar,
                                         zt__zw_set_rows, zt__zw_sync, zt__zw_close};

int zt__zwriter_open(const char *url, const zt_options_t *opts, bool overwrite, int zarr_format, zt_wbackend **out) {
    zt_zwriter *w = calloc(1, sizeof *w);
    if (!w) return zt__err(ZT_ENOMEM, "out of memory");
    w->base.vt = &zt__zw_vt;
    w->base.url = strdup(url);
    w->base.obs_in_group = true;
    w->zarr_format = zarr_format == 3 ? 3 : 2;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int rc = w->base.url ? zt__store_open(url, opts, &w->s) : zt__err(ZT_ENOMEM, "out of memory");
    if (!rc) {
        zt_stat st;
        bool exists = zt__store_head(w->s, ".zgroup", &st) == 0 || zt__store_head(w->s, ".zmetadata", &st) == 0 ||
                      zt__store_head(w->s, "zarr.json", &st) == 0;
        if (exists && !overwrite)
            rc = zt__err(ZT_EEXIST, "%s: a Zarr hierarchy already exists (use overwrite)", url);
        else if (exists) { /* only ever delete what is a Zarr hierarchy */
            rc = zt__store_del_prefix(w->s, "");
            if (rc == ZT_EUNSUPPORTED) rc = 0;
        }
    }
    if (!rc) {
        json_t *zg = w->zarr_format == 3 ? zt__zw_group3(NULL) : json_pack("{s:i}", "zarr_format", 2);
        rc = zt__put_json(w, "", w->zarr_format == 3 ? "zarr.json" : ".zgroup", zg);
        json_decref(zg);
    }
    if (rc) {
        zt__store_close(w->s);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w->base.url);
        free(w);
        return rc;
    }
    *out = &w->base;
    return 0;
}
