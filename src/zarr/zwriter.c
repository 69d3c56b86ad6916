/* Zarr back end of the trajectory writer: .zgroup/.zattrs/.zarray documents,
 * encoded chunks, and consolidated .zmetadata rewritten at every sync so a
 * writer killed mid-run leaves a valid hierarchy. A commit stores, in order:
 * the chunks written before it; then, in one concurrent batch, the documents
 * of new nodes, the .zarray of every grown step/time array and .zmetadata
 * (the commit for consolidated readers: one object, replaced atomically);
 * then the values' .zarray (readers of single arrays see step and time grow
 * first). On a bucket commits run in the background, one after the other, so
 * that the writer keeps encoding while a commit waits for its round trips
 * (the log says "committed N frames" once they are durable). */
#include "array/format.h"
#include "zarr/zarr.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Chunks are encoded and uploaded in the background by a few threads
 * (network stores overlap requests; local disks overlap encoding), with at
 * most w->inflight_max bytes of raw chunks queued. A partial chunk, rewritten
 * as rows arrive, waits for its previous write (writes of one key never
 * race); a commit waits for every chunk submitted before it. Stores with
 * latency get 8 threads and a 256 MiB queue: a thread waiting for a PUT does
 * not encode (water box into S3 at 25 ms: 3.0 -> 2.4 s for 1,000 frames with
 * 8 instead of 4); local stores one thread per core (at most 4) and 64 MiB,
 * since more memory in flight only costs fresh pages there. */
#define ZT_ZW_THREADS 8 /* at most */
#define ZT_ZW_THREADS_LOCAL 4 /* at most: one per core (each holds encode buffers) */
#define ZT_ZW_INFLIGHT ((size_t)256 << 20)
#define ZT_ZW_INFLIGHT_LOCAL ((size_t)64 << 20)
#define ZT_ZW_REUSE ((size_t)1 << 20) /* chunk copies at least this large are reused */
/* Commits queued behind the one running before sync() waits: each holds only
 * documents, and a writer further ahead would only delay what is durable. */
#define ZT_ZW_COMMITS 2

/* A metadata document to store: key and JSON text (both owned). */
typedef struct zt_zdoc {
    char *key;
    char *txt;
} zt_zdoc;

typedef struct zt_zdocs {
    zt_zdoc *v;
    size_t n, cap;
} zt_zdocs;

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
    zt_zdocs pending; /* documents of nodes created since the last commit */
    /* background uploads */
    zt_pool *pool;
    struct zt_zjob *jobs; /* in flight, oldest first */
    uint64_t next_seq;
    bool changed;        /* chunks submitted since the last commit */
    /* background commits (one thread: they run in order) */
    zt_pool *cpool;
    int commits;         /* queued or running */
    int64_t ncommits;    /* submitted so far */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t inflight_bytes, inflight_max;
    int inflight;
    int err;
    char errmsg[1024];
    zt_buf spare[ZT_ZW_THREADS]; /* encode buffers reused across jobs */
    int nspare;
    /* copies of submitted chunks, reused: in a process without the CLI's malloc
     * tuning every 12 MB copy would be fresh pages (page clearing was 8% of a
     * Python compact write) */
    zt_buf rawspare[ZT_ZW_THREADS + 2];
    int nraw;
    int zarr_format; /* 2 or 3 */
} zt_zwriter;

typedef struct zt_zjob {
    zt_zwriter *w;
    struct zt_zjob *prev, *next;
    uint64_t seq;
    zt_array *a;
    int64_t cidx[ZT_MAXDIM];
    zt_buf raw; /* the chunk (a copy: the caller reuses its buffer) */
    size_t n;
    bool v3;
    int64_t valid_rows;
} zt_zjob;

/* Under w->mu: take j off the in-flight list. */
static void zt__zw_unlink(zt_zwriter *w, zt_zjob *j) {
    if (j->prev) j->prev->next = j->next;
    else w->jobs = j->next;
    if (j->next) j->next->prev = j->prev;
}

static void zt__zjob_run(void *arg) {
    zt_zjob *j = arg;
    zt_zwriter *w = j->w;
    zt_buf enc;
    zt__buf_init(&enc);
    pthread_mutex_lock(&w->mu);
    if (w->nspare > 0) enc = w->spare[--w->nspare];
    pthread_mutex_unlock(&w->mu);
    int rc = j->v3 ? zt__zarr3_write_chunk(j->a, j->cidx, j->raw.data, j->valid_rows, &enc)
                   : zt__zarr_write_chunk(j->a, j->cidx, j->raw.data, &enc);
    pthread_mutex_lock(&w->mu);
    zt__zw_unlink(w, j);
    if (w->nspare < ZT_ZW_THREADS) w->spare[w->nspare++] = enc;
    else zt__buf_free(&enc);
    if (rc && !w->err) {
        w->err = rc;
        snprintf(w->errmsg, sizeof w->errmsg, "%s", zt_last_error());
    }
    if (j->raw.cap >= ZT_ZW_REUSE && w->nraw < ZT_ZW_THREADS + 2) w->rawspare[w->nraw++] = j->raw;
    else zt__buf_free(&j->raw);
    w->inflight--;
    w->inflight_bytes -= j->n;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    free(j);
}

/* Wait for every queued upload and commit; report the first failure. */
static int zt__zw_drain(zt_zwriter *w) {
    pthread_mutex_lock(&w->mu);
    while (w->inflight > 0 || w->commits > 0) pthread_cond_wait(&w->cv, &w->mu);
    int rc = w->err;
    pthread_mutex_unlock(&w->mu);
    return rc ? zt__err(rc, "%s", w->errmsg) : 0;
}

/* Under w->mu: is a write of this chunk in flight? */
static bool zt__zw_busy(const zt_zwriter *w, const zt_array *a, const int64_t *cidx) {
    for (const zt_zjob *j = w->jobs; j; j = j->next)
        if (j->a == a && memcmp(j->cidx, cidx, sizeof j->cidx) == 0) return true;
    return false;
}

/* Under w->mu: is a chunk submitted before seq still in flight? */
static bool zt__zw_older(const zt_zwriter *w, uint64_t seq) {
    return w->jobs && w->jobs->seq < seq; /* the list is in submission order */
}

/* A job whose buffer (j->raw, n bytes) the caller fills, then starts. */
static int zt__zw_job_new(zt_zwriter *w, size_t n, zt_zjob **out) {
    if (!w->pool) {
        bool local = zt__store_can(w->s, ZT_STORE_CAP_LOW_LATENCY);
        w->inflight_max = local ? ZT_ZW_INFLIGHT_LOCAL : ZT_ZW_INFLIGHT;
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        int nloc = ncpu < 2 ? 2 : ncpu > ZT_ZW_THREADS_LOCAL ? ZT_ZW_THREADS_LOCAL : (int)ncpu;
        int rc = zt__pool_create(local ? nloc : ZT_ZW_THREADS, &w->pool);
        if (rc) return rc;
    }
    zt_zjob *j = calloc(1, sizeof *j);
    if (!j) return zt__err(ZT_ENOMEM, "out of memory");
    if (n >= ZT_ZW_REUSE) { /* the smallest spare that holds n */
        pthread_mutex_lock(&w->mu);
        int best = -1;
        for (int i = 0; i < w->nraw; i++)
            if (w->rawspare[i].cap >= n && (best < 0 || w->rawspare[i].cap < w->rawspare[best].cap)) best = i;
        if (best >= 0) {
            j->raw = w->rawspare[best];
            w->rawspare[best] = w->rawspare[--w->nraw];
        }
        pthread_mutex_unlock(&w->mu);
    }
    if (zt__buf_resize(&j->raw, n ? n : 1)) {
        zt__buf_free(&j->raw);
        free(j);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    *out = j;
    return 0;
}

/* Queue job j (from zt__zw_job_new, buffer filled) for chunk cidx of a. */
static int zt__zw_job_start(zt_zwriter *w, zt_zjob *j, zt_array *a, const int64_t *cidx, size_t n, int64_t rows) {
    j->w = w;
    j->a = a;
    memcpy(j->cidx, cidx, sizeof j->cidx);
    j->n = n;
    j->v3 = w->zarr_format == 3;
    j->valid_rows = rows;
    pthread_mutex_lock(&w->mu);
    /* a key is rewritten (a partial chunk) only once its last write is done */
    while ((w->inflight > 0 && w->inflight_bytes + n > w->inflight_max) || zt__zw_busy(w, a, cidx))
        pthread_cond_wait(&w->cv, &w->mu);
    int err = w->err;
    if (!err) {
        w->inflight++;
        w->inflight_bytes += n;
        j->seq = w->next_seq++;
        zt_zjob **tail = &w->jobs;
        while (*tail) {
            j->prev = *tail;
            tail = &(*tail)->next;
        }
        *tail = j;
        w->changed = true;
    }
    pthread_mutex_unlock(&w->mu);
    if (err) {
        zt__buf_free(&j->raw);
        free(j);
        return zt__err(err, "%s", w->errmsg);
    }
    int rc = zt__pool_submit(w->pool, zt__zjob_run, j);
    if (rc) {
        pthread_mutex_lock(&w->mu);
        zt__zw_unlink(w, j);
        w->inflight--;
        w->inflight_bytes -= n;
        pthread_mutex_unlock(&w->mu);
        zt__buf_free(&j->raw);
        free(j);
    }
    return rc;
}

static int zt__zw_submit(zt_zwriter *w, zt_array *a, const int64_t *cidx, const void *data, size_t n, int64_t rows) {
    zt_zjob *j;
    int rc = zt__zw_job_new(w, n, &j);
    if (rc) return rc;
    memcpy(j->raw.data, data, n);
    return zt__zw_job_start(w, j, a, cidx, n, rows);
}

static char *zt__key(const char *path, const char *name) { return zt__path_join(path, name); }

static void zt__docs_free(zt_zdocs *d) {
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].key);
        free(d->v[i].txt);
    }
    free(d->v);
    d->v = NULL;
    d->n = d->cap = 0;
}

/* Queue path/name with j's text in d (stored by the next commit). */
static int zt__put_json(zt_zdocs *d, const char *path, const char *name, const json_t *j) {
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 16;
        zt_zdoc *v = realloc(d->v, cap * sizeof *v);
        if (!v) return zt__err(ZT_ENOMEM, "out of memory");
        d->v = v;
        d->cap = cap;
    }
    char *key = zt__key(path, name);
    char *txt = j ? zt__zarr_dumps(j) : NULL;
    if (!key || !txt) {
        free(key);
        free(txt);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i].key, key) == 0) { /* one batch never writes a key twice (they would race) */
            free(key);
            free(d->v[i].txt);
            d->v[i].txt = txt;
            return 0;
        }
    d->v[d->n].key = key;
    d->v[d->n].txt = txt;
    d->n++;
    return 0;
}

/* Store every document of d at once (concurrent requests on a bucket). */
static int zt__docs_store(zt_zwriter *w, const zt_zdocs *d) {
    if (d->n == 0) return 0;
    zt_put_req *r = calloc(d->n, sizeof *r);
    if (!r) return zt__err(ZT_ENOMEM, "out of memory");
    for (size_t i = 0; i < d->n; i++) {
        r[i].key = d->v[i].key;
        r[i].data = d->v[i].txt;
        r[i].n = strlen(d->v[i].txt);
    }
    int rc = zt__store_put_batch(w->s, r, d->n, NULL, NULL);
    free(r);
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
        int rc = zg ? zt__put_json(&w->pending, path, "zarr.json", zg) : zt__err(ZT_ENOMEM, "out of memory");
        json_decref(zg);
        return rc;
    }
    json_t *zg = json_pack("{s:i}", "zarr_format", 2);
    int rc = zt__put_json(&w->pending, path, ".zgroup", zg);
    json_decref(zg);
    if (!rc && json_object_size(g->attrs)) rc = zt__put_json(&w->pending, path, ".zattrs", g->attrs);
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
                                       sp->filters, sp->order_f, sp->precision, NULL);
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
        rc = d3 ? zt__put_json(&w->pending, sp->path, "zarr.json", d3) : zt__err(ZT_ENOMEM, "out of memory");
        json_decref(d3);
        return rc;
    }
    json_t *doc = zt__zarr_array_to_json(wa->a);
    rc = zt__put_json(&w->pending, sp->path, ".zarray", doc);
    json_decref(doc);
    if (!rc && json_object_size(wa->attrs)) rc = zt__put_json(&w->pending, sp->path, ".zattrs", wa->attrs);
    *out = wa;
    return rc;
}

/* Gather the block of atoms (axis 1) cidx[1] of k packed rows into dst, a
 * whole chunk, zero-padded past the last row and atom. */
static void zt__zw_gather(const zt_array *a, const uint8_t *rows, int64_t k, int64_t j, uint8_t *dst) {
    size_t inner = a->dtype.size; /* bytes per atom: the trailing axes, whole */
    for (int d = 2; d < a->ndim; d++) inner *= (size_t)a->chunks[d];
    int64_t ca = a->chunks[1], a0 = j * ca, na = a->shape[1] - a0 < ca ? a->shape[1] - a0 : ca;
    size_t rowbytes = (size_t)a->shape[1] * inner, crow = (size_t)ca * inner, cb = zt__array_chunk_nbytes(a);
    for (int64_t r = 0; r < k; r++) {
        memcpy(dst + (size_t)r * crow, rows + (size_t)r * rowbytes + (size_t)a0 * inner, (size_t)na * inner);
        if (na < ca) memset(dst + (size_t)r * crow + (size_t)na * inner, 0, crow - (size_t)na * inner);
    }
    memset(dst + (size_t)k * crow, 0, cb - (size_t)k * crow); /* rows past the last */
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
    size_t crow = wa->rowbytes; /* one row of a chunk */
    size_t rowbytes = split ? crow / (size_t)a->chunks[1] * (size_t)a->shape[1] : crow; /* one input row */
    size_t cb = (size_t)c0 * crow;
    int rc = 0;
    int64_t nblk = split ? (a->shape[1] + a->chunks[1] - 1) / a->chunks[1] : 1;
    for (int64_t r = 0; !rc && r < nrows; r += c0) {
        int64_t k = nrows - r < c0 ? nrows - r : c0;
        const uint8_t *src = (const uint8_t *)data + (size_t)r * rowbytes;
        for (int64_t jb = 0; !rc && jb < nblk; jb++) {
            /* the chunk is assembled in the job's own buffer: one copy */
            zt_zjob *j;
            if ((rc = zt__zw_job_new(w, cb, &j))) break;
            uint8_t *dst = j->raw.data;
            if (split) {
                zt__zw_gather(a, src, k, jb, dst);
            } else { /* a partial chunk is padded with the fill value (zero) */
                memcpy(dst, src, (size_t)k * rowbytes);
                memset(dst + (size_t)k * rowbytes, 0, cb - (size_t)k * rowbytes);
            }
            int64_t cidx[ZT_MAXDIM] = {0};
            cidx[0] = (row0 + r) / c0;
            cidx[1] = jb;
            rc = zt__zw_job_start(w, j, a, cidx, cb, k);
        }
    }
    return rc;
}

static int zt__zw_scalar(zt_wbackend *b, zt_warr *wa, const void *value) {
    zt_zwriter *w = (zt_zwriter *)b;
    int64_t cidx[ZT_MAXDIM] = {0};
    return zt__zw_submit(w, wa->a, cidx, value, zt__array_chunk_nbytes(wa->a), 1);
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

typedef struct zt_zcommit {
    zt_zwriter *w;
    zt_zdocs step[2]; /* stored in this order, each step one batch */
    uint64_t seq;     /* chunks submitted before it are stored first */
    int64_t frames;   /* logged once durable (< 0: not) */
} zt_zcommit;

static void zt__zcommit_free(zt_zcommit *c) {
    for (int k = 0; k < 2; k++) zt__docs_free(&c->step[k]);
    free(c);
}

static void zt__zcommit_run(void *arg) {
    zt_zcommit *c = arg;
    zt_zwriter *w = c->w;
    pthread_mutex_lock(&w->mu);
    while (zt__zw_older(w, c->seq)) pthread_cond_wait(&w->cv, &w->mu);
    int rc = w->err; /* metadata may only describe chunks that are stored */
    pthread_mutex_unlock(&w->mu);
    for (int k = 0; k < 2 && !rc; k++) rc = zt__docs_store(w, &c->step[k]);
    if (!rc && c->frames >= 0) ZT_INFO("%s: committed %lld frames", w->base.url, (long long)c->frames);
    pthread_mutex_lock(&w->mu);
    if (rc && !w->err) {
        w->err = rc;
        snprintf(w->errmsg, sizeof w->errmsg, "%s", zt_last_error());
    }
    w->commits--;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    zt__zcommit_free(c);
}

/* v3 documents: grown step/time zarr.json with the root zarr.json holding
 * every node's metadata consolidated, then the values' zarr.json. */
static int zt__zw_docs3(zt_zwriter *w, zt_zcommit *c) {
    int rc = 0;
    for (int pass = 0; pass < 2 && !rc; pass++)
        for (size_t i = 0; i < w->narrays && !rc; i++) {
            zt_warr *wa = w->arrays[i];
            if (!wa->dirty || wa->index != (pass == 0)) continue;
            json_t *doc = zt__zw_doc3(wa);
            rc = doc ? zt__put_json(&c->step[pass], wa->a->path, "zarr.json", doc) : zt__err(ZT_ENOMEM, "out of memory");
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
    rc = root ? zt__put_json(&c->step[0], "", "zarr.json", root) : zt__err(ZT_ENOMEM, "out of memory");
    json_decref(root);
    return rc;
}

static int zt__zw_docs2(zt_zwriter *w, zt_zcommit *c) {
    int rc = 0;
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
            rc = doc ? zt__put_json(&c->step[pass], wa->a->path, ".zarray", doc) : zt__err(ZT_ENOMEM, "out of memory");
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
    if (!rc) rc = zt__put_json(&c->step[0], "", ".zmetadata", cons);
    json_decref(cons);
    return rc;
}

static int zt__zw_sync(zt_wbackend *b) {
    zt_zwriter *w = (zt_zwriter *)b;
    bool dirty = w->pending.n > 0;
    for (size_t i = 0; i < w->narrays && !dirty; i++) dirty = w->arrays[i]->dirty;
    pthread_mutex_lock(&w->mu);
    int err = w->err;
    bool changed = w->changed;
    w->changed = false;
    pthread_mutex_unlock(&w->mu);
    if (err) return zt__err(err, "%s", w->errmsg);
    if (!dirty && !changed && w->ncommits > 0) return 0; /* nothing new to describe */
    int rc = w->cpool ? 0 : zt__pool_create(1, &w->cpool);
    zt_zcommit *c = rc ? NULL : calloc(1, sizeof *c);
    if (!rc && !c) rc = zt__err(ZT_ENOMEM, "out of memory");
    if (rc) return rc;
    c->w = w;
    c->frames = b->commit_frames;
    c->step[0] = w->pending; /* new nodes go with the first step */
    memset(&w->pending, 0, sizeof w->pending);
    rc = w->zarr_format == 3 ? zt__zw_docs3(w, c) : zt__zw_docs2(w, c);
    if (rc) {
        zt__zcommit_free(c);
        return rc;
    }
    pthread_mutex_lock(&w->mu);
    while (w->commits >= ZT_ZW_COMMITS) pthread_cond_wait(&w->cv, &w->mu);
    c->seq = w->next_seq;
    w->commits++;
    pthread_mutex_unlock(&w->mu);
    rc = zt__pool_submit(w->cpool, zt__zcommit_run, c);
    if (rc) {
        pthread_mutex_lock(&w->mu);
        w->commits--;
        pthread_mutex_unlock(&w->mu);
        zt__zcommit_free(c);
        return rc;
    }
    /* Waited for: the first commit (at open: a store that refuses writes
     * fails there, not frames later) and every commit on a local store
     * (nothing to overlap, and a killed writer keeps every frame flushed).
     * On a bucket at most ZT_ZW_COMMITS commits trail the writer. */
    if (w->ncommits++ == 0 || zt__store_can(w->s, ZT_STORE_CAP_LOW_LATENCY)) return zt__zw_drain(w);
    return 0;
}

static int zt__zw_close(zt_wbackend *b, bool ok) {
    zt_zwriter *w = (zt_zwriter *)b;
    int rc = ok ? zt__zw_sync(b) : 0;
    int drc = zt__zw_drain(w);
    if (!rc) rc = drc;
    zt__pool_free(w->cpool);
    zt__pool_free(w->pool);
    for (int i = 0; i < w->nspare; i++) zt__buf_free(&w->spare[i]);
    for (int i = 0; i < w->nraw; i++) zt__buf_free(&w->rawspare[i]);
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
    zt__docs_free(&w->pending);
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
    w->base.logs_commits = true;
    w->base.commit_frames = -1;
    w->zarr_format = zarr_format == 3 ? 3 : 2;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int rc = w->base.url ? zt__store_open(url, opts, &w->s) : zt__err(ZT_ENOMEM, "out of memory");
    if (!rc) {
        /* one round trip for the three documents a hierarchy starts with */
        zt_req q[3] = {{.key = ".zgroup", .offset = ZT_WHOLE},
                       {.key = ".zmetadata", .offset = ZT_WHOLE},
                       {.key = "zarr.json", .offset = ZT_WHOLE}};
        zt__store_get_batch(w->s, q, 3, NULL, NULL);
        bool exists = false;
        for (int i = 0; i < 3; i++) {
            exists = exists || q[i].status == 0;
            zt__buf_free(&q[i].out);
        }
        if (exists && !overwrite)
            rc = zt__err(ZT_EEXIST, "%s: a Zarr hierarchy already exists (use overwrite)", url);
        else if (exists) { /* only ever delete what is a Zarr hierarchy */
            rc = zt__store_del_prefix(w->s, "");
            if (rc == ZT_EUNSUPPORTED) rc = 0;
        }
    }
    if (!rc) {
        json_t *zg = w->zarr_format == 3 ? zt__zw_group3(NULL) : json_pack("{s:i}", "zarr_format", 2);
        rc = zt__put_json(&w->pending, "", w->zarr_format == 3 ? "zarr.json" : ".zgroup", zg);
        json_decref(zg);
    }
    if (rc) {
        zt__docs_free(&w->pending);
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
