/* Zarr v3 reader: zarr.json hierarchies (consolidated or listed) -> zt_tree,
 * array metadata -> zt_array. Sharded arrays read on the grid of their
 * innermost chunks: a chunk is a byte range of its shard, found through the
 * shard index (fetched once per shard, a suffix range when it sits at the
 * end, and kept with the array), so the fetch engine coalesces, splits and
 * reads ahead inner chunks exactly like HDF5 chunks. With codecs around
 * sharding_indexed the shard itself is the chunk, decoded by a codec that
 * splits it (z3shardc). */
#include "zarr/zarr.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define Z3_MAXLEV 4                 /* nested sharding levels */
#define Z3_MAX_INDEX ((int64_t)1 << 24) /* inner chunks per shard (a 256 MiB index) */
#define Z3_EMPTY UINT64_MAX

typedef struct z3level {
    int64_t cshape[ZT_MAXDIM]; /* shape of a shard at this level (elements) */
    int64_t sub[ZT_MAXDIM];    /* shape of its inner chunks */
    int64_t per[ZT_MAXDIM];    /* inner chunks per shard along each axis */
    int64_t grid[ZT_MAXDIM];   /* shards of this level along each axis of the array */
    int64_t nsub;
    bool idx_end, idx_crc, idx_be;
    int64_t isz; /* encoded index bytes */
} z3level;

typedef struct z3idx {
    int level;
    int64_t lin;
    uint64_t *tab; /* 2*nsub (offset, nbytes); NULL: the shard does not exist */
    struct z3idx *next;
} z3idx;

typedef struct z3impl {
    bool v2keys; /* chunk_key_encoding v2 (no "c" prefix) */
    char sep;
    int nlev;
    z3level lev[Z3_MAXLEV];
    pthread_mutex_t mu;
    z3idx **buckets;
    size_t nbuckets, count;
} z3impl;

static const zt_array_vt z3_vt;
static char *z3_key(const zt_array *a, const int64_t *gidx);

/* ---- chunk keys ---------------------------------------------------------------------- */

char *zt__zarr3_chunk_key(const zt_array *a, const int64_t *gidx) {
    if (a->vt != &z3_vt) return NULL;
    return z3_key(a, gidx);
}

static char *z3_key(const zt_array *a, const int64_t *gidx) {
    const z3impl *z = a->impl;
    size_t pl = strlen(a->path), n = pl + 4 + (size_t)(a->ndim ? a->ndim : 1) * 22;
    char *buf = malloc(n);
    if (!buf) return NULL;
    memcpy(buf, a->path, pl);
    size_t k = pl;
    if (pl) buf[k++] = '/';
    if (!z->v2keys) {
        buf[k++] = 'c';
        if (a->ndim == 0) {
            buf[k] = 0;
            return buf;
        }
        buf[k++] = z->sep;
    } else if (a->ndim == 0) {
        memcpy(buf + k, "0", 2);
        return buf;
    }
    buf[k] = 0;
    for (int d = 0; d < a->ndim; d++) {
        if (d) buf[k++] = z->sep;
        k += (size_t)snprintf(buf + k, n - k, "%lld", (long long)gidx[d]);
    }
    return buf;
}

/* ---- shard index cache ------------------------------------------------------------------- */

static size_t z3_hash(int level, int64_t lin) {
    uint64_t h = (uint64_t)lin * 0x9E3779B97F4A7C15ull ^ (uint64_t)level * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ (h >> 29));
}

static z3idx *z3_find(z3impl *z, int level, int64_t lin) {
    if (!z->nbuckets) return NULL;
    for (z3idx *e = z->buckets[z3_hash(level, lin) & (z->nbuckets - 1)]; e; e = e->next)
        if (e->level == level && e->lin == lin) return e;
    return NULL;
}

/* Insert (takes tab) unless present; under z->mu. */
static int z3_insert(z3impl *z, int level, int64_t lin, uint64_t *tab) {
    if (z3_find(z, level, lin)) {
        free(tab);
        return 0;
    }
    if (z->count >= z->nbuckets) {
        size_t nb = z->nbuckets ? z->nbuckets * 2 : 64;
        z3idx **b = calloc(nb, sizeof *b);
        if (!b) {
            free(tab);
            return zt__err(ZT_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < z->nbuckets; i++)
            for (z3idx *e = z->buckets[i], *nx; e; e = nx) {
                nx = e->next;
                size_t h = z3_hash(e->level, e->lin) & (nb - 1);
                e->next = b[h];
                b[h] = e;
            }
        free(z->buckets);
        z->buckets = b;
        z->nbuckets = nb;
    }
    z3idx *e = calloc(1, sizeof *e);
    if (!e) {
        free(tab);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    e->level = level;
    e->lin = lin;
    e->tab = tab;
    size_t h = z3_hash(level, lin) & (z->nbuckets - 1);
    e->next = z->buckets[h];
    z->buckets[h] = e;
    z->count++;
    return 0;
}

static void z3_free(zt_array *a) {
    z3impl *z = a->impl;
    if (!z) return;
    for (size_t i = 0; i < z->nbuckets; i++)
        for (z3idx *e = z->buckets[i], *nx; e; e = nx) {
            nx = e->next;
            free(e->tab);
            free(e);
        }
    free(z->buckets);
    pthread_mutex_destroy(&z->mu);
    free(z);
    a->impl = NULL;
}

/* What resolving a chunk needs next: the index of shard (level, lin), bytes
 * [offset, offset+length) of key (offset ZT_SUFFIX: the last length bytes);
 * base_len is the shard's own length (-1 when it is a whole object). */
typedef struct z3need {
    int level;
    int64_t lin;
    char *key;
    int64_t offset, length, base_len;
} z3need;

static void z3_shard_name(const zt_array *a, const z3level *L, int level, int64_t lin, char *buf, size_t n) {
    int64_t g[ZT_MAXDIM];
    for (int d = a->ndim - 1; d >= 0; d--) {
        g[d] = L->grid[d] ? lin % L->grid[d] : 0;
        lin = L->grid[d] ? lin / L->grid[d] : 0;
    }
    size_t k = (size_t)snprintf(buf, n, level ? "level-%d shard " : "shard ", level);
    for (int d = 0; d < a->ndim && k < n; d++) k += (size_t)snprintf(buf + k, n - k, d ? ".%lld" : "%lld", (long long)g[d]);
    if (a->ndim == 0 && k < n) snprintf(buf + k, n - k, "0");
}

/* Decode and check the index bytes raw[0..n) of a shard of level L: the
 * table of (offset, nbytes) pairs into *out (malloc'd). base_len is the
 * shard's length when known (nested shards, a shard decoded whole), else -1.
 * Errors carry no shard name (callers prefix theirs). */
static int z3_index_table(const z3level *L, const uint8_t *raw, size_t n, int64_t base_len, uint64_t **out) {
    if ((int64_t)n != L->isz)
        return zt__err(ZT_ECORRUPT, "shard index is %zu bytes, expected %lld (%lld inner chunks%s)", n,
                       (long long)L->isz, (long long)L->nsub, L->idx_crc ? " + crc32c" : "");
    size_t tb = (size_t)L->nsub * 16;
    if (L->idx_crc) {
        uint32_t got = zt__crc32c(raw, tb), want = 0;
        for (int k = 0; k < 4; k++) want |= (uint32_t)raw[tb + (size_t)k] << (8 * k);
        if (got != want)
            return zt__err(ZT_ECORRUPT, "shard index crc32c mismatch (stored 0x%08x, computed 0x%08x)", want, got);
    }
    uint64_t *tab = malloc(tb ? tb : 1);
    if (!tab) return zt__err(ZT_ENOMEM, "out of memory");
    for (int64_t i = 0; i < 2 * L->nsub; i++) {
        uint64_t v = 0;
        for (int k = 0; k < 8; k++) {
            uint64_t byte = raw[(size_t)i * 8 + (size_t)(L->idx_be ? 7 - k : k)];
            v |= byte << (8 * k);
        }
        tab[i] = v;
    }
    /* the data region of the shard: after a leading index, before a trailing one */
    uint64_t lo = L->idx_end ? 0 : (uint64_t)L->isz;
    uint64_t hi = base_len < 0 ? (uint64_t)INT64_MAX : (uint64_t)base_len - (L->idx_end ? (uint64_t)L->isz : 0);
    for (int64_t i = 0; i < L->nsub; i++) {
        uint64_t off = tab[2 * i], nb = tab[2 * i + 1];
        if (off == Z3_EMPTY && nb == Z3_EMPTY) continue;
        if (off < lo || off > hi || nb > hi - off) {
            int rc = zt__err(ZT_ECORRUPT,
                             "inner chunk %lld at byte %llu (%llu bytes) lies outside the shard's "
                             "data (bytes %llu..%llu): corrupt shard index",
                             (long long)i, (unsigned long long)off, (unsigned long long)nb, (unsigned long long)lo,
                             base_len < 0 ? 0ull : (unsigned long long)hi);
            free(tab);
            return rc;
        }
    }
    *out = tab;
    return 0;
}

/* Decode and check the index bytes of shard (level, lin); base_len is the
 * shard's length when known (nested shards), else -1. */
static int z3_decode_index(const zt_array *a, int level, int64_t lin, const uint8_t *raw, size_t n,
                           int64_t base_len, uint64_t **out) {
    const z3impl *z = a->impl;
    const z3level *L = &z->lev[level];
    int rc = z3_index_table(L, raw, n, base_len, out);
    if (rc) {
        char name[ZT_MAXDIM * 21 + 32];
        z3_shard_name(a, L, level, lin, name, sizeof name);
        rc = zt__err_prefix(rc, "%s: %s: %s: ", a->file ? a->file : "", a->path, name);
    }
    return rc;
}

/* Resolve chunk cidx: 0 with loc filled, 1 with *need filled (an index that
 * is not cached yet), < 0 on error. */
static int z3_resolve(const zt_array *a, const int64_t *cidx, zt_chunk_loc *loc, z3need *need) {
    z3impl *z = a->impl;
    memset(loc, 0, sizeof *loc);
    loc->notfound_is_fill = true;
    int64_t e[ZT_MAXDIM], g[ZT_MAXDIM];
    for (int d = 0; d < a->ndim; d++) e[d] = cidx[d] * a->chunks[d];
    if (z->nlev == 0) {
        loc->key = z3_key(a, cidx);
        loc->offset = ZT_WHOLE;
        return loc->key ? 0 : zt__err(ZT_ENOMEM, "out of memory");
    }
    for (int d = 0; d < a->ndim; d++) g[d] = e[d] / z->lev[0].cshape[d];
    char *key = z3_key(a, g);
    if (!key) return zt__err(ZT_ENOMEM, "out of memory");
    int64_t base_off = 0, base_len = -1;
    for (int k = 0; k < z->nlev; k++) {
        const z3level *L = &z->lev[k];
        int64_t lin = 0, j = 0;
        for (int d = 0; d < a->ndim; d++) {
            lin = lin * L->grid[d] + e[d] / L->cshape[d];
            j = j * L->per[d] + (e[d] / L->sub[d]) % L->per[d];
        }
        pthread_mutex_lock(&z->mu);
        z3idx *ix = z3_find(z, k, lin);
        pthread_mutex_unlock(&z->mu);
        if (!ix) {
            need->level = k;
            need->lin = lin;
            need->key = key;
            need->length = L->isz;
            need->base_len = base_len;
            if (!L->idx_end) need->offset = base_off;
            else if (base_len < 0) need->offset = ZT_SUFFIX;
            else need->offset = base_off + base_len - L->isz;
            return 1;
        }
        if (!ix->tab || (ix->tab[2 * j] == Z3_EMPTY && ix->tab[2 * j + 1] == Z3_EMPTY)) {
            loc->missing = true; /* shard or inner chunk never written: fill value */
            free(key);
            return 0;
        }
        base_off += (int64_t)ix->tab[2 * j];
        base_len = (int64_t)ix->tab[2 * j + 1];
    }
    loc->key = key;
    loc->offset = base_off;
    loc->length = base_len;
    return 0;
}

/* Fetch the indexes in needs[0..n) in one concurrent batch and cache them.
 * Failed fetches are not cached (locate then reports them). */
typedef struct z3batch {
    const zt_array *a;
    z3need *needs;
    int rc;
} z3batch;

static void z3_batch_done(zt_req *r, void *ud) {
    z3batch *B = ud;
    z3need *nd = &B->needs[(size_t)(uintptr_t)r->user];
    z3impl *z = B->a->impl;
    uint64_t *tab = NULL;
    int rc = r->status;
    if (rc == ZT_ENOTFOUND && nd->level == 0) rc = 0; /* shard never written */
    else if (!rc && z3_decode_index(B->a, nd->level, nd->lin, r->out.data, r->out.len, nd->base_len, &tab)) rc = -1;
    if (rc) return;
    pthread_mutex_lock(&z->mu);
    int irc = z3_insert(z, nd->level, nd->lin, tab);
    pthread_mutex_unlock(&z->mu);
    if (irc) B->rc = irc;
}

static int z3_fetch_needs(const zt_array *a, z3need *needs, size_t n) {
    zt_req *reqs = calloc(n ? n : 1, sizeof *reqs);
    if (!reqs) return zt__err(ZT_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        reqs[i].key = needs[i].key;
        reqs[i].offset = needs[i].offset;
        reqs[i].length = needs[i].length;
        reqs[i].user = (void *)(uintptr_t)i;
    }
    z3batch B = {a, needs, 0};
    int rc = zt__store_get_batch(a->store, reqs, n, z3_batch_done, &B);
    for (size_t i = 0; i < n; i++) zt__buf_free(&reqs[i].out);
    free(reqs);
    return B.rc ? B.rc : rc;
}

static int z3_locate(const zt_array *a, const int64_t *cidx, zt_chunk_loc *loc) {
    for (int round = 0; round <= Z3_MAXLEV; round++) {
        z3need nd;
        int rc = z3_resolve(a, cidx, loc, &nd);
        if (rc <= 0) return rc;
        /* not prepared: fetch this index alone */
        zt_buf b;
        zt__buf_init(&b);
        rc = zt__store_get_range(a->store, nd.key, nd.offset, nd.length, &b);
        uint64_t *tab = NULL;
        if (rc == ZT_ENOTFOUND && nd.level == 0) rc = 0;
        else if (!rc) rc = z3_decode_index(a, nd.level, nd.lin, b.data, b.len, nd.base_len, &tab);
        else rc = zt__err_prefix(rc, "%s: %s: shard index: ", a->file ? a->file : "", a->path);
        zt__buf_free(&b);
        free(nd.key);
        if (rc) return rc;
        z3impl *z = a->impl;
        pthread_mutex_lock(&z->mu);
        rc = z3_insert(z, nd.level, nd.lin, tab);
        pthread_mutex_unlock(&z->mu);
        if (rc) return rc;
    }
    return zt__err(ZT_ECORRUPT, "%s: %s: shard index does not resolve", a->file ? a->file : "", a->path);
}

/* Fetch every shard index the chunks cidx[0..n) need, one batch per level. */
static int z3_prepare(const zt_array *a, const int64_t *cidx, size_t n) {
    z3impl *z = a->impl;
    if (!z->nlev || !n) return 0;
    size_t nd = (size_t)(a->ndim ? a->ndim : 1);
    z3need *needs = malloc(n * sizeof *needs);
    if (!needs) return zt__err(ZT_ENOMEM, "out of memory");
    int rc = 0;
    for (int round = 0; round < z->nlev && !rc; round++) {
        size_t nn = 0;
        int64_t last_lin = -1;
        int last_level = -1;
        for (size_t i = 0; i < n && !rc; i++) {
            zt_chunk_loc loc;
            z3need q;
            int r = z3_resolve(a, cidx + i * nd, &loc, &q);
            zt__chunk_loc_clear(&loc);
            if (r < 0) {
                rc = r;
                break;
            }
            if (r == 0) continue;
            bool dup = q.level == last_level && q.lin == last_lin;
            for (size_t k = 0; !dup && k < nn; k++) dup = needs[k].level == q.level && needs[k].lin == q.lin;
            if (dup) {
                free(q.key);
                continue;
            }
            last_level = q.level;
            last_lin = q.lin;
            needs[nn++] = q;
        }
        if (!rc && nn) rc = z3_fetch_needs(a, needs, nn);
        for (size_t k = 0; k < nn; k++) free(needs[k].key);
        if (!nn) break;
    }
    free(needs);
    return rc == ZT_ENOMEM ? rc : 0;
}

static const zt_array_vt z3_vt = {z3_locate, z3_free, z3_prepare};

/* ---- transpose (array -> array) --------------------------------------------------------------- */

typedef struct z3transpose {
    zt_codec base;
    int ndim;
    int order[ZT_MAXDIM];
    int64_t shape[ZT_MAXDIM]; /* decoded chunk shape */
    size_t itemsize;
} z3transpose;

/* dir 0: encode (decoded -> transposed), 1: decode. */
static int z3_tr_run(const z3transpose *t, const uint8_t *in, size_t n, zt_buf *out, int dir) {
    size_t total = t->itemsize;
    for (int d = 0; d < t->ndim; d++) total *= (size_t)t->shape[d];
    if (n != total) return zt__err(dir ? ZT_ECORRUPT : ZT_EINVAL, "transpose: %zu bytes, expected %zu", n, total);
    int rc = zt__buf_resize(out, n);
    if (rc) return rc;
    int64_t es[ZT_MAXDIM], estride[ZT_MAXDIM], idx[ZT_MAXDIM] = {0};
    for (int i = 0; i < t->ndim; i++) es[i] = t->shape[t->order[i]];
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        estride[i] = s;
        s *= es[i];
    }
    int64_t dstride[ZT_MAXDIM]; /* stride in the transposed buffer of decoded axis d */
    for (int i = 0; i < t->ndim; i++) dstride[t->order[i]] = estride[i];
    size_t count = t->itemsize ? n / t->itemsize : 0, sz = t->itemsize;
    for (size_t lin = 0; lin < count; lin++) {
        int64_t eo = 0;
        for (int d = 0; d < t->ndim; d++) eo += idx[d] * dstride[d];
        if (dir) memcpy(out->data + lin * sz, in + (size_t)eo * sz, sz);
        else memcpy(out->data + (size_t)eo * sz, in + lin * sz, sz);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
    return 0;
}

static int z3_tr_encode(const zt_codec *c, const void *in, size_t n, zt_buf *out) {
    return z3_tr_run((const z3transpose *)c, in, n, out, 0);
}
static int z3_tr_decode(const zt_codec *c, const void *in, size_t n, zt_buf *out, size_t expected) {
    (void)expected;
    return z3_tr_run((const z3transpose *)c, in, n, out, 1);
}
static void z3_tr_free(zt_codec *c) {
    json_decref(c->config);
    free(c);
}
static const zt_codec_vt z3_tr_vt = {"transpose", z3_tr_encode, z3_tr_decode, NULL, z3_tr_free, NULL};

/* Byte swap of itemsize-byte elements (a big-endian `bytes` codec in front
 * of codecs that work on native values). */
typedef struct z3swap {
    zt_codec base;
    size_t itemsize;
} z3swap;

static int z3_sw_run(const zt_codec *c, const void *in, size_t n, zt_buf *out, size_t expected) {
    (void)expected;
    size_t s = ((const z3swap *)c)->itemsize;
    if (s == 0 || n % s) return zt__err(ZT_ECORRUPT, "bytes: %zu bytes is not a whole number of %zu-byte elements", n, s);
    int rc = zt__buf_resize(out, n);
    if (rc) return rc;
    const uint8_t *p = in;
    for (size_t i = 0; i < n; i += s)
        for (size_t k = 0; k < s; k++) out->data[i + k] = p[i + s - 1 - k];
    return 0;
}
static int z3_sw_encode(const zt_codec *c, const void *in, size_t n, zt_buf *out) { return z3_sw_run(c, in, n, out, 0); }
static const zt_codec_vt z3_sw_vt = {"bytes", z3_sw_encode, z3_sw_run, NULL, z3_tr_free, NULL};

/* ---- metadata parsing ------------------------------------------------------------------------------ */

typedef struct z3ctx {
    const char *file, *path;
} z3ctx;

#define Z3ERR(code, ...) zt__err_prefix(zt__err(code, __VA_ARGS__), "%s: %s/zarr.json: ", C->file, C->path)

/* name and configuration of a codec entry (string or object) */
static int z3_codec_parts(const z3ctx *C, const json_t *e, const char **name, const json_t **cfg) {
    if (json_is_string(e)) {
        *name = json_string_value(e);
        *cfg = NULL;
        return 0;
    }
    if (!json_is_object(e) || !json_is_string(json_object_get(e, "name")))
        return Z3ERR(ZT_EFORMAT, "codec entries must be objects with a string 'name'");
    *name = json_string_value(json_object_get(e, "name"));
    *cfg = json_object_get(e, "configuration");
    if (*cfg && !json_is_object(*cfg)) return Z3ERR(ZT_EFORMAT, "codec '%s': configuration must be an object", *name);
    return 0;
}

static bool z3_is_a2a(const char *name) {
    return !strcmp(name, "transpose") || !strcmp(name, "numcodecs.quantize") ||
           !strcmp(name, "numcodecs.fixedscaleoffset") || !strcmp(name, "numcodecs.delta") ||
           !strcmp(name, "numcodecs.bitround") || !strcmp(name, "numcodecs.astype");
}

/* A numcodecs config from a v3 codec entry (new reference). */
static json_t *z3_numcodecs_cfg(const char *id, const json_t *cfg) {
    json_t *o = cfg ? json_deep_copy(cfg) : json_object();
    if (!o) return NULL;
    json_object_del(o, "id");
    json_object_set_new(o, "id", json_string(id));
    return o;
}

static int z3_push(const z3ctx *C, zt_pipeline *p, json_t *cfg, const char *name) {
    if (!cfg) return zt__err(ZT_ENOMEM, "out of memory");
    zt_codec *c = NULL;
    int rc = zt__codec_from_json(cfg, &c);
    json_decref(cfg);
    if (rc) return zt__err_prefix(rc, "%s: %s/zarr.json: codec '%s': ", C->file, C->path, name);
    rc = zt__pipeline_push(p, c);
    if (rc) zt__codec_free(c);
    return rc;
}

/* Item size after a numcodecs array->array codec. */
static size_t z3_a2a_itemsize(const char *name, const json_t *cfg, size_t in) {
    const char *k = !strcmp(name, "numcodecs.astype") ? "encode_dtype" : "astype";
    const char *s = json_string_value(json_object_get(cfg, k));
    zt_dtype dt;
    char buf[16];
    if (!s) return in;
    /* numcodecs accepts "f8" as well as "<f8" */
    snprintf(buf, sizeof buf, "%s%s", strchr("<>|=", s[0]) ? "" : "<", s);
    if (!zt__dtype_from_str(buf, &dt)) return dt.size;
    return in;
}

typedef struct z3out {
    zt_pipeline *pipe; /* innermost chunk pipeline (encode order) */
    bool big_endian;   /* stored byte order (the dtype's) */
    int nlev;
    z3level lev[Z3_MAXLEV];
    int64_t inner[ZT_MAXDIM]; /* innermost chunk shape */
    bool order_f;             /* innermost codecs start with a transpose reversing the axes */
    /* the chain of a shard decoded as one chunk (z3_shardc): decodes to
     * native values in C order (no fused transpose, no stored byte order),
     * its sharding_indexed codecs are shard codecs too */
    bool native;
    const uint8_t *fill;      /* native fill value of the values entering the chain, NULL: unknown */
} z3out;

static int z3_chain(const z3ctx *C, const json_t *codecs, int ndim, const int64_t *cshape, size_t itemsize,
                    int depth, z3out *o);
static int z3_bytes(const z3ctx *C, const json_t *cfg, size_t itemsize, size_t isz, bool swap, z3out *o);
static int z3_b2b(const z3ctx *C, const json_t *codecs, size_t i, z3out *o);

/* The sharding_indexed configuration for shards of shape cshape: L (grid
 * left to the caller) and the inner chunks' codecs. */
static int z3_shard_cfg(const z3ctx *C, const json_t *cfg, int ndim, const int64_t *cshape, int depth, z3level *L,
                        const json_t **inner_out) {
    if (depth >= Z3_MAXLEV) return Z3ERR(ZT_EUNSUPPORTED, "sharding nested deeper than %d levels", Z3_MAXLEV);
    if (!cfg) return Z3ERR(ZT_EFORMAT, "sharding_indexed without configuration");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)cfg, key, v) {
        if (strcmp(key, "chunk_shape") && strcmp(key, "codecs") && strcmp(key, "index_codecs") &&
            strcmp(key, "index_location"))
            return Z3ERR(ZT_EUNSUPPORTED, "sharding_indexed: unknown configuration '%s'", key);
    }
    memset(L, 0, sizeof *L);
    const json_t *cs = json_object_get(cfg, "chunk_shape");
    if (!json_is_array(cs) || (int)json_array_size(cs) != ndim)
        return Z3ERR(ZT_EFORMAT, "sharding_indexed: chunk_shape must be a list of %d integers", ndim);
    L->nsub = 1;
    for (int d = 0; d < ndim; d++) {
        json_t *x = json_array_get(cs, (size_t)d);
        if (!json_is_integer(x) || json_integer_value(x) <= 0)
            return Z3ERR(ZT_EFORMAT, "sharding_indexed: chunk_shape must hold positive integers");
        L->cshape[d] = cshape[d];
        L->sub[d] = json_integer_value(x);
        if (cshape[d] % L->sub[d])
            return Z3ERR(ZT_EFORMAT, "sharding_indexed: shard shape %lld is not a multiple of inner chunk shape %lld (axis %d)",
                         (long long)cshape[d], (long long)L->sub[d], d);
        L->per[d] = cshape[d] / L->sub[d];
        if (!zt__mul_ok(L->nsub, L->per[d], &L->nsub) || L->nsub > Z3_MAX_INDEX)
            return Z3ERR(ZT_EOVERFLOW, "sharding_indexed: absurd number of inner chunks per shard (over 2^24)");
    }
    const json_t *loc = json_object_get(cfg, "index_location");
    const char *ls = loc ? json_string_value(loc) : "end";
    if (!ls || (strcmp(ls, "end") && strcmp(ls, "start")))
        return Z3ERR(ZT_EFORMAT, "sharding_indexed: index_location must be \"start\" or \"end\"");
    L->idx_end = !strcmp(ls, "end");
    const json_t *ic = json_object_get(cfg, "index_codecs");
    if (!json_is_array(ic) || json_array_size(ic) == 0)
        return Z3ERR(ZT_EFORMAT, "sharding_indexed: index_codecs must be a list");
    for (size_t i = 0; i < json_array_size(ic); i++) {
        const char *nm;
        const json_t *c;
        int rc = z3_codec_parts(C, json_array_get(ic, i), &nm, &c);
        if (rc) return rc;
        if (i == 0 && !strcmp(nm, "bytes")) {
            const char *en = json_string_value(json_object_get(c, "endian"));
            L->idx_be = en && !strcmp(en, "big");
        } else if (i == 1 && !strcmp(nm, "crc32c")) {
            L->idx_crc = true;
        } else {
            return Z3ERR(ZT_EUNSUPPORTED, "sharding_indexed: index codec '%s' not supported (bytes, then optionally crc32c)", nm);
        }
    }
    L->isz = L->nsub * 16 + (L->idx_crc ? 4 : 0);
    const json_t *inner = json_object_get(cfg, "codecs");
    if (!json_is_array(inner)) return Z3ERR(ZT_EFORMAT, "sharding_indexed: codecs must be a list");
    *inner_out = inner;
    return 0;
}

/* Plain sharding (nothing around it): a level of byte-range reads. */
static int z3_sharding(const z3ctx *C, const json_t *cfg, int ndim, const int64_t *cshape, size_t itemsize, int depth,
                       z3out *o) {
    const json_t *inner = NULL;
    int rc = z3_shard_cfg(C, cfg, ndim, cshape, depth, &o->lev[depth], &inner);
    if (rc) return rc;
    o->nlev = depth + 1;
    return z3_chain(C, inner, ndim, o->lev[depth].sub, itemsize, depth + 1, o);
}

/* ---- a shard decoded as one chunk (array -> bytes) ----------------------------------------------
 * With array-to-array codecs before sharding_indexed or bytes-to-bytes codecs
 * after it, inner chunks are no byte ranges of the stored object: the whole
 * shard is the chunk, and this codec (between the codecs around it) parses
 * the decoded shard's index and decodes its inner chunks into the shard
 * array: native values, C order, of the shape the codecs before it give. */
typedef struct z3shardc {
    zt_codec base;
    int ndim;
    z3level L;           /* cshape: the shard as this codec sees it */
    size_t itemsize;
    size_t bytes, subbytes; /* decoded shard, decoded inner chunk */
    zt_pipeline *inner;  /* the inner chunks' codecs (native values out) */
    bool has_fill;
    uint8_t fill[8];     /* inner chunks never written */
} z3shardc;

static int z3_sc_encode(const zt_codec *c, const void *in, size_t n, zt_buf *out) {
    (void)c;
    (void)in;
    (void)n;
    (void)out;
    return zt__err(ZT_EUNSUPPORTED, "sharding_indexed with codecs around it is read-only");
}

static int z3_sc_decode(const zt_codec *pc, const void *in, size_t n, zt_buf *out, size_t expected) {
    const z3shardc *s = (const z3shardc *)pc;
    const z3level *L = &s->L;
    const uint8_t *p = in;
    if (expected && expected != s->bytes)
        return zt__err(ZT_ECORRUPT, "sharding_indexed: %zu bytes expected, the shard holds %zu", expected, s->bytes);
    if (n < (size_t)L->isz)
        return zt__err(ZT_ECORRUPT, "sharding_indexed: shard of %zu bytes is smaller than its index (%lld bytes)", n,
                       (long long)L->isz);
    const uint8_t *ix = L->idx_end ? p + n - (size_t)L->isz : p;
    uint64_t *tab = NULL;
    int rc = z3_index_table(L, ix, (size_t)L->isz, (int64_t)n, &tab);
    if (rc) return zt__err_prefix(rc, "sharding_indexed: ");
    rc = zt__buf_resize(out, s->bytes);
    uint8_t *sub = rc ? NULL : malloc(s->subbytes ? s->subbytes : 1);
    if (!rc && !sub) rc = zt__err(ZT_ENOMEM, "out of memory");
    int nd = s->ndim;
    int64_t stride[ZT_MAXDIM], g[ZT_MAXDIM] = {0};
    int64_t st = 1;
    for (int d = nd - 1; d >= 0; d--) {
        stride[d] = st;
        st *= L->cshape[d];
    }
    size_t row = s->itemsize * (size_t)(nd ? L->sub[nd - 1] : 1), rows = row ? s->subbytes / row : 0;
    for (int64_t j = 0; !rc && j < L->nsub; j++) {
        const uint64_t *v = tab + 2 * j; /* offset, nbytes: checked against the data region */
        if (v[0] == Z3_EMPTY && v[1] == Z3_EMPTY) {
            if (!s->has_fill) {
                rc = zt__err(ZT_EUNSUPPORTED, "sharding_indexed: inner chunk %lld was never written and the codecs "
                                              "before sharding change the values (fill value unknown)", (long long)j);
                break;
            }
            for (size_t q = 0; q < s->subbytes; q += s->itemsize) memcpy(sub + q, s->fill, s->itemsize);
        } else if ((rc = zt__pipeline_decode(s->inner, 0, p + v[0], (size_t)v[1], sub, s->subbytes))) {
            rc = zt__err_prefix(rc, "sharding_indexed: inner chunk %lld: ", (long long)j);
            break;
        }
        /* copy the inner chunk (grid position g) into the shard, row by row */
        int64_t idx[ZT_MAXDIM] = {0};
        for (size_t r = 0; r < rows; r++) {
            int64_t eo = 0;
            for (int d = 0; d < nd; d++) eo += (g[d] * L->sub[d] + idx[d]) * stride[d];
            memcpy(out->data + (size_t)eo * s->itemsize, sub + r * row, row);
            for (int d = nd - 2; d >= 0; d--) {
                if (++idx[d] < L->sub[d]) break;
                idx[d] = 0;
            }
        }
        for (int d = nd - 1; d >= 0; d--) {
            if (++g[d] < L->per[d]) break;
            g[d] = 0;
        }
    }
    free(sub);
    free(tab);
    return rc;
}

static void z3_sc_free(zt_codec *c) {
    if (!c) return;
    zt__pipeline_free(((z3shardc *)c)->inner);
    json_decref(c->config);
    free(c);
}

static const zt_codec_vt z3_sc_vt = {"sharding_indexed", z3_sc_encode, z3_sc_decode, NULL, z3_sc_free, NULL};

/* The codec of a shard of shape cshape (as the codecs before it leave it)
 * holding itemsize-byte values; fill: their native fill value or NULL. */
static int z3_shard_codec(const z3ctx *C, const json_t *cfg, int ndim, const int64_t *cshape, size_t itemsize,
                          int depth, const uint8_t *fill, zt_codec **out) {
    z3shardc *s = calloc(1, sizeof *s);
    if (!s) return zt__err(ZT_ENOMEM, "out of memory");
    s->base.vt = &z3_sc_vt;
    s->ndim = ndim;
    s->itemsize = itemsize;
    const json_t *inner = NULL;
    int rc = z3_shard_cfg(C, cfg, ndim, cshape, depth, &s->L, &inner);
    if (!rc && !(s->base.config = json_pack("{s:s,s:O}", "id", "sharding_indexed", "configuration", (json_t *)cfg)))
        rc = zt__err(ZT_ENOMEM, "out of memory");
    if (!rc) {
        s->bytes = s->subbytes = itemsize;
        for (int d = 0; d < ndim; d++) {
            s->bytes *= (size_t)cshape[d];
            s->subbytes *= (size_t)s->L.sub[d];
        }
        if (fill) {
            s->has_fill = true;
            memcpy(s->fill, fill, itemsize <= sizeof s->fill ? itemsize : sizeof s->fill);
        }
        z3out o;
        memset(&o, 0, sizeof o);
        o.native = true;
        o.fill = fill;
        rc = z3_chain(C, inner, ndim, s->L.sub, itemsize, depth + 1, &o);
        s->inner = o.pipe;
        if (!rc) rc = zt__pipeline_set_typesize(s->inner, itemsize);
    }
    if (rc) {
        z3_sc_free(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}

static int z3_chain(const z3ctx *C, const json_t *codecs, int ndim, const int64_t *cshape, size_t itemsize,
                    int depth, z3out *o) {
    if (!json_is_array(codecs) || json_array_size(codecs) == 0)
        return Z3ERR(ZT_EFORMAT, "'codecs' must be a non-empty list");
    size_t n = json_array_size(codecs), i = 0;
    int rc = zt__pipeline_new(&o->pipe);
    if (rc) return rc;
    size_t isz = itemsize;
    bool numeric_a2a = false;
    int64_t cur[ZT_MAXDIM]; /* the chunk's shape as the codecs so far leave it */
    memcpy(cur, cshape, sizeof(int64_t) * (size_t)ndim);
    for (; i < n; i++) {
        const char *nm;
        const json_t *cfg;
        if ((rc = z3_codec_parts(C, json_array_get(codecs, i), &nm, &cfg))) return rc;
        if (!z3_is_a2a(nm)) break;
        if (!strcmp(nm, "transpose")) {
            const json_t *ord = json_object_get(cfg, "order");
            z3transpose *t = calloc(1, sizeof *t);
            if (!t) return zt__err(ZT_ENOMEM, "out of memory");
            t->base.vt = &z3_tr_vt;
            t->base.config = json_pack("{s:s,s:O}", "id", "transpose", "order", ord ? (json_t *)ord : json_null());
            t->ndim = ndim;
            t->itemsize = isz;
            memcpy(t->shape, cur, sizeof(int64_t) * (size_t)ndim);
            bool seen[ZT_MAXDIM] = {false}, ok = json_is_array(ord) && (int)json_array_size(ord) == ndim;
            for (int d = 0; ok && d < ndim; d++) {
                json_t *x = json_array_get(ord, (size_t)d);
                json_int_t v = json_is_integer(x) ? json_integer_value(x) : -1;
                ok = v >= 0 && v < ndim && !seen[v];
                if (ok) {
                    seen[v] = true;
                    t->order[d] = (int)v;
                }
            }
            if (!ok || !t->base.config) {
                z3_tr_free(&t->base);
                return Z3ERR(ZT_EFORMAT, "transpose: 'order' must be a permutation of 0..%d", ndim - 1);
            }
            for (int d = 0; d < ndim; d++) cur[d] = t->shape[t->order[d]];
            bool rev = i == 0 && ndim > 1 && !o->native;
            for (int d = 0; rev && d < ndim; d++) rev = t->order[d] == ndim - 1 - d;
            if (rev) { /* = Fortran order: the array layer's transposition, fused with the decode */
                z3_tr_free(&t->base);
                o->order_f = true;
                continue;
            }
            if ((rc = zt__pipeline_push(o->pipe, &t->base))) {
                z3_tr_free(&t->base);
                return rc;
            }
        } else {
            numeric_a2a = true;
            if ((rc = z3_push(C, o->pipe, z3_numcodecs_cfg(nm + 10, cfg), nm))) return rc;
            isz = z3_a2a_itemsize(nm, cfg, isz);
        }
    }
    if (i == n) return Z3ERR(ZT_EFORMAT, "codecs: no array-to-bytes codec (bytes or sharding_indexed)");
    const char *nm;
    const json_t *cfg;
    if ((rc = z3_codec_parts(C, json_array_get(codecs, i), &nm, &cfg))) return rc;
    memcpy(o->inner, cshape, sizeof(int64_t) * (size_t)ndim);
    if (!strcmp(nm, "sharding_indexed")) {
        bool around = o->pipe->n || o->order_f || i + 1 != n;
        if (!around && !o->native) { /* the fast path: inner chunks as byte ranges of the shard */
            zt__pipeline_free(o->pipe);
            o->pipe = NULL;
            return z3_sharding(C, cfg, ndim, cshape, itemsize, depth, o);
        }
        /* codecs around it: the whole shard is the chunk */
        zt_codec *sc = NULL;
        if ((rc = z3_shard_codec(C, cfg, ndim, cur, isz, depth, numeric_a2a ? NULL : o->fill, &sc))) return rc;
        if ((rc = zt__pipeline_push(o->pipe, sc))) {
            z3_sc_free(sc);
            return rc;
        }
        o->big_endian = false;
    } else if (strcmp(nm, "bytes")) {
        return Z3ERR(ZT_EUNSUPPORTED, "unsupported codec '%s'%s", nm,
                     z3_is_a2a(nm) ? "" : " (expected the array-to-bytes codec bytes or sharding_indexed here)");
    } else if ((rc = z3_bytes(C, cfg, itemsize, isz, numeric_a2a || o->pipe->n || o->native, o))) {
        return rc;
    }
    rc = z3_b2b(C, codecs, i + 1, o);
    return rc;
}

/* The bytes codec (in: item size before the array-to-array codecs, isz:
 * after them); swap: the codecs before want native values. */
static int z3_bytes(const z3ctx *C, const json_t *cfg, size_t itemsize, size_t isz, bool swap, z3out *o) {
    int rc = 0;
    const char *en = json_string_value(json_object_get(cfg, "endian"));
    if (en && strcmp(en, "little") && strcmp(en, "big")) return Z3ERR(ZT_EFORMAT, "bytes: bad endian '%s'", en);
    if (!en && itemsize > 1) return Z3ERR(ZT_EFORMAT, "bytes: 'endian' is required for %zu-byte elements", itemsize);
    bool big = en && !strcmp(en, "big") && isz > 1;
    if (big && swap) {
        /* codecs before `bytes` work on native values: swap between them */
        z3swap *s = calloc(1, sizeof *s);
        if (!s) return zt__err(ZT_ENOMEM, "out of memory");
        s->base.vt = &z3_sw_vt;
        s->base.config = json_pack("{s:s,s:s}", "id", "bytes", "endian", "big");
        s->itemsize = isz;
        if (!s->base.config || (rc = zt__pipeline_push(o->pipe, &s->base))) {
            z3_tr_free(&s->base);
            return rc ? rc : zt__err(ZT_ENOMEM, "out of memory");
        }
    } else {
        o->big_endian = big;
    }
    return 0;
}

/* The bytes-to-bytes codecs codecs[i..]. */
static int z3_b2b(const z3ctx *C, const json_t *codecs, size_t i, z3out *o) {
    size_t n = json_array_size(codecs);
    int rc;
    const char *nm;
    const json_t *cfg;
    for (; i < n; i++) {
        if ((rc = z3_codec_parts(C, json_array_get(codecs, i), &nm, &cfg))) return rc;
        json_t *nc = NULL;
        if (!strcmp(nm, "gzip") || !strcmp(nm, "zstd") || !strcmp(nm, "crc32c")) {
            nc = z3_numcodecs_cfg(nm, cfg);
        } else if (!strcmp(nm, "blosc")) {
            nc = z3_numcodecs_cfg(nm, cfg);
            json_t *sh = nc ? json_object_get(nc, "shuffle") : NULL;
            if (json_is_string(sh)) {
                const char *sv = json_string_value(sh);
                int code = !strcmp(sv, "noshuffle") ? 0 : !strcmp(sv, "shuffle") ? 1 : !strcmp(sv, "bitshuffle") ? 2 : -2;
                if (code == -2) {
                    rc = Z3ERR(ZT_EFORMAT, "blosc: bad shuffle '%s'", sv); /* sv lives in nc */
                    json_decref(nc);
                    return rc;
                }
                json_object_set_new(nc, "shuffle", json_integer(code));
            }
            if (nc) json_object_del(nc, "typesize");
        } else if (!strncmp(nm, "numcodecs.", 10) &&
                   (!strcmp(nm + 10, "shuffle") || !strcmp(nm + 10, "zlib") || !strcmp(nm + 10, "lz4") ||
                    !strcmp(nm + 10, "bz2") || !strcmp(nm + 10, "blosc") || !strcmp(nm + 10, "zstd") ||
                    !strcmp(nm + 10, "gzip"))) {
            nc = z3_numcodecs_cfg(nm + 10, cfg);
        } else if (!strcmp(nm, "sharding_indexed") || !strcmp(nm, "bytes") || z3_is_a2a(nm)) {
            return Z3ERR(ZT_EFORMAT, "codec '%s' after the array-to-bytes codec", nm);
        } else {
            return Z3ERR(ZT_EUNSUPPORTED, "unsupported codec '%s'", nm);
        }
        if ((rc = z3_push(C, o->pipe, nc, nm))) return rc;
    }
    return 0;
}

static int z3_dims(const z3ctx *C, const json_t *v, int64_t *out, int *nd, const char *what, bool positive) {
    if (!json_is_array(v)) return Z3ERR(ZT_EFORMAT, "'%s' must be a list", what);
    size_t n = json_array_size(v);
    if (n > ZT_MAXDIM) return Z3ERR(ZT_EUNSUPPORTED, "rank %zu not supported", n);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_integer(e) || json_integer_value(e) < (positive ? 1 : 0))
            return Z3ERR(ZT_EFORMAT, "'%s' must hold %s integers", what, positive ? "positive" : "non-negative");
        out[i] = json_integer_value(e);
    }
    *nd = (int)n;
    return 0;
}

static int z3_dtype(const z3ctx *C, const json_t *v, zt_dtype *dt) {
    static const struct {
        const char *name;
        char kind;
        uint8_t size;
    } tab[] = {{"bool", 'b', 1},   {"int8", 'i', 1},   {"int16", 'i', 2},   {"int32", 'i', 4},
               {"int64", 'i', 8},  {"uint8", 'u', 1},  {"uint16", 'u', 2},  {"uint32", 'u', 4},
               {"uint64", 'u', 8}, {"float32", 'f', 4}, {"float64", 'f', 8}};
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    if (!s && json_is_object(v)) s = json_string_value(json_object_get(v, "name"));
    if (!s) return Z3ERR(ZT_EFORMAT, "'data_type' is missing or not a string");
    for (size_t i = 0; i < sizeof tab / sizeof *tab; i++)
        if (!strcmp(tab[i].name, s)) {
            dt->kind = tab[i].kind;
            dt->size = tab[i].size;
            dt->big_endian = false;
            return 0;
        }
    return Z3ERR(ZT_EUNSUPPORTED, "data type '%s' is not supported (bool, int8..int64, uint8..uint64, float32, float64)", s);
}

/* fill_value: numbers, booleans, "NaN", "Infinity", "-Infinity", "0x..." raw bits. */
static int z3_fill(const z3ctx *C, zt_array *a, const json_t *fv) {
    if (!fv) return Z3ERR(ZT_EFORMAT, "'fill_value' is missing");
    if (json_is_string(fv) && !strncmp(json_string_value(fv), "0x", 2)) {
        const char *s = json_string_value(fv) + 2;
        if (a->dtype.kind != 'f') return Z3ERR(ZT_EFORMAT, "hex fill_value for a non-float data type");
        size_t l = strlen(s);
        if (l != (size_t)a->dtype.size * 2) return Z3ERR(ZT_EFORMAT, "hex fill_value \"0x%s\" does not have %d digits", s, 2 * a->dtype.size);
        uint64_t bits = 0;
        for (size_t i = 0; i < l; i++) {
            char c = s[i];
            int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (v < 0) return Z3ERR(ZT_EFORMAT, "bad hex fill_value \"0x%s\"", s);
            bits = bits << 4 | (uint64_t)v;
        }
        for (int k = 0; k < a->dtype.size; k++) a->fill[k] = (uint8_t)(bits >> (8 * k));
        a->has_fill = true;
    } else {
        if (json_is_null(fv)) return Z3ERR(ZT_EFORMAT, "'fill_value' must not be null in Zarr v3");
        return zt__zarr_parse_fill(a, fv, C->file, "zarr.json"); /* stored byte order included */
    }
    if (a->dtype.big_endian)
        for (int k = 0; k < a->dtype.size / 2; k++) {
            uint8_t t = a->fill[k];
            a->fill[k] = a->fill[a->dtype.size - 1 - k];
            a->fill[a->dtype.size - 1 - k] = t;
        }
    return 0;
}

/* Keys of zarr.json we understand; others must be extensions with must_understand false. */
static int z3_check_keys(const z3ctx *C, const json_t *doc, const char *const *known) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v) {
        bool ok = false;
        for (const char *const *q = known; *q && !ok; q++) ok = !strcmp(*q, k);
        if (ok) continue;
        if (json_is_object(v) && json_is_false(json_object_get(v, "must_understand"))) continue;
        return Z3ERR(ZT_EUNSUPPORTED, "extension '%s' is not supported (must be understood)", k);
    }
    return 0;
}

static char *z3_describe(const zt_array *a, const json_t *codecs) {
    const z3impl *z = a->impl;
    json_t *o = json_object(), *inner = json_array(), *shard = json_array();
    for (int d = 0; d < a->ndim; d++) {
        json_array_append_new(inner, json_integer(a->chunks[d]));
        if (z->nlev) json_array_append_new(shard, json_integer(z->lev[0].cshape[d]));
    }
    json_object_set_new(o, "zarr_format", json_integer(3));
    json_object_set_new(o, "codecs", json_deep_copy(codecs));
    if (z->nlev) {
        json_object_set_new(o, "shard_shape", shard);
        json_object_set_new(o, "inner_chunk_shape", inner);
        if (z->nlev > 1) json_object_set_new(o, "sharding_levels", json_integer(z->nlev));
    } else {
        json_decref(shard);
        json_object_set_new(o, "chunk_shape", inner);
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

int zt__zarr3_array_from_json(const json_t *doc, const char *path, const char *file, zt_store *s, zt_array **out) {
    z3ctx Cs = {file, path}, *C = &Cs;
    static const char *const known[] = {"zarr_format", "node_type", "shape", "data_type", "chunk_grid",
                                        "chunk_key_encoding", "fill_value", "codecs", "attributes",
                                        "storage_transformers", "dimension_names", NULL};
    int rc = z3_check_keys(C, doc, known);
    if (rc) return rc;
    zt_array *a = zt__array_new(path);
    z3impl *z = calloc(1, sizeof *z);
    z3out o;
    memset(&o, 0, sizeof o);
    if (!a || !z) {
        zt__array_free(a);
        free(z);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&z->mu, NULL);
    a->file = file;
    a->store = s;
    a->impl = z;
    a->vt = &z3_vt;
    int nd = 0, ncd = 0;
    int64_t grid[ZT_MAXDIM];
    if ((rc = z3_dims(C, json_object_get(doc, "shape"), a->shape, &nd, "shape", false))) goto fail;
    a->ndim = nd;
    if ((rc = z3_dtype(C, json_object_get(doc, "data_type"), &a->dtype))) goto fail;
    const json_t *cg = json_object_get(doc, "chunk_grid");
    const char *cgn = json_string_value(json_object_get(cg, "name"));
    if (!cgn || strcmp(cgn, "regular")) {
        rc = Z3ERR(cgn ? ZT_EUNSUPPORTED : ZT_EFORMAT, "chunk_grid '%s' is not supported (only regular)", cgn ? cgn : "?");
        goto fail;
    }
    if ((rc = z3_dims(C, json_object_get(json_object_get(cg, "configuration"), "chunk_shape"), grid, &ncd,
                      "chunk_grid.configuration.chunk_shape", true)))
        goto fail;
    if (ncd != nd) {
        rc = Z3ERR(ZT_EFORMAT, "shape has rank %d but chunk_shape rank %d", nd, ncd);
        goto fail;
    }
    const json_t *ke = json_object_get(doc, "chunk_key_encoding");
    const char *ken = json_string_value(json_object_get(ke, "name"));
    if (!ken || (strcmp(ken, "default") && strcmp(ken, "v2"))) {
        rc = Z3ERR(ZT_EUNSUPPORTED, "chunk_key_encoding '%s' is not supported (default or v2)", ken ? ken : "?");
        goto fail;
    }
    z->v2keys = !strcmp(ken, "v2");
    z->sep = z->v2keys ? '.' : '/';
    const json_t *sepj = json_object_get(json_object_get(ke, "configuration"), "separator");
    if (sepj) {
        const char *sv = json_string_value(sepj);
        if (!sv || (strcmp(sv, "/") && strcmp(sv, "."))) {
            rc = Z3ERR(ZT_EFORMAT, "chunk_key_encoding: bad separator");
            goto fail;
        }
        z->sep = sv[0];
    }
    const json_t *st = json_object_get(doc, "storage_transformers");
    if (st && !(json_is_array(st) && json_array_size(st) == 0)) {
        const char *nm = json_string_value(json_object_get(json_array_get(st, 0), "name"));
        rc = Z3ERR(ZT_EUNSUPPORTED, "storage transformer '%s' is not supported", nm ? nm : "?");
        goto fail;
    }
    const json_t *dn = json_object_get(doc, "dimension_names");
    if (dn && !json_is_null(dn)) {
        bool ok = json_is_array(dn) && (int)json_array_size(dn) == nd;
        for (size_t i = 0; ok && i < json_array_size(dn); i++)
            ok = json_is_string(json_array_get(dn, i)) || json_is_null(json_array_get(dn, i));
        if (!ok) {
            rc = Z3ERR(ZT_EFORMAT, "dimension_names must be a list of %d names or nulls", nd);
            goto fail;
        }
    }
    const json_t *codecs = json_object_get(doc, "codecs");
    /* the fill value natively first: shards decoded as one chunk fill the
     * inner chunks never written with it */
    a->dtype.big_endian = false;
    if ((rc = z3_fill(C, a, json_object_get(doc, "fill_value")))) goto fail;
    uint8_t fill[8];
    memcpy(fill, a->fill, sizeof fill);
    o.fill = a->has_fill ? fill : NULL;
    if ((rc = z3_chain(C, codecs, nd, grid, a->dtype.size, 0, &o))) goto fail;
    a->pipeline = o.pipe;
    o.pipe = NULL;
    a->dtype.big_endian = o.big_endian;
    a->order_f = o.order_f;
    z->nlev = o.nlev;
    memcpy(z->lev, o.lev, sizeof z->lev);
    for (int d = 0; d < nd; d++) a->chunks[d] = o.inner[d];
    for (int k = 0; k < z->nlev; k++)
        for (int d = 0; d < nd; d++) z->lev[k].grid[d] = (a->shape[d] + z->lev[k].cshape[d] - 1) / z->lev[k].cshape[d];
    if (a->dtype.big_endian) /* the stored byte order */
        for (int k = 0; k < a->dtype.size / 2; k++) {
            uint8_t t = a->fill[k];
            a->fill[k] = a->fill[a->dtype.size - 1 - k];
            a->fill[a->dtype.size - 1 - k] = t;
        }
    zt__pipeline_set_typesize(a->pipeline, a->dtype.size);
    if ((rc = zt__array_validate(a))) goto fail;
    a->codecs_desc = z3_describe(a, codecs);
    *out = a;
    return 0;
fail:
    zt__pipeline_free(o.pipe);
    zt__array_free(a);
    return rc;
}

/* ---- hierarchy ---------------------------------------------------------------------------------- */

/* Apply one zarr.json document for node path (the root is ""). */
static int z3_apply(zt_tree *t, const char *path, const json_t *doc, bool *is_array) {
    const char *where = *path ? path : "/";
    if (!json_is_object(doc)) return zt__err(ZT_EFORMAT, "%s: %s: zarr.json is not a JSON object", t->url, where);
    json_t *fmt = json_object_get(doc, "zarr_format");
    if (!json_is_integer(fmt) || json_integer_value(fmt) != 3)
        return zt__err(ZT_EFORMAT, "%s: %s: zarr.json: zarr_format must be 3", t->url, where);
    const char *nt = json_string_value(json_object_get(doc, "node_type"));
    if (!nt || (strcmp(nt, "group") && strcmp(nt, "array")))
        return zt__err(ZT_EFORMAT, "%s: %s: zarr.json: node_type must be \"group\" or \"array\"", t->url, where);
    bool arr = !strcmp(nt, "array");
    if (is_array) *is_array = arr;
    json_t *attrs = json_object_get(doc, "attributes");
    if (attrs && !json_is_object(attrs))
        return zt__err(ZT_EFORMAT, "%s: %s: zarr.json: attributes must be a JSON object", t->url, where);
    if (!arr) {
        z3ctx Cs = {t->url, path}, *C = &Cs;
        static const char *const known[] = {"zarr_format", "node_type", "attributes", "consolidated_metadata", NULL};
        int rc = z3_check_keys(C, doc, known);
        if (rc) return rc;
    }
    zt_node *n = NULL;
    int rc = zt__zarr_ensure_node(t, path, arr, &n);
    if (rc) return rc;
    if (arr) {
        if (n == t->root) return zt__err(ZT_EUNSUPPORTED, "%s: root is an array, not a group", t->url);
        zt__array_free(n->array);
        n->array = NULL;
        if ((rc = zt__zarr3_array_from_json(doc, n->path, t->url, t->store, &n->array))) return rc;
    } else if (n->is_array) {
        return zt__err(ZT_EFORMAT, "%s: %s: a group inside or in place of an array", t->url, where);
    }
    if (attrs) json_object_update(n->attrs, attrs);
    return 0;
}

static int z3_parse(zt_tree *t, const char *key, const zt_buf *b, json_t **out) {
    json_error_t err;
    *out = json_loadb((const char *)b->data, b->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!*out)
        return zt__err(ZT_EFORMAT, "%s: %s: not valid JSON (line %d column %d: %s)", t->url, key, err.line, err.column,
                       err.text);
    return 0;
}

typedef struct z3load {
    zt_tree *t;
    zt_strlist *paths; /* node paths, parallel to the requests */
    zt_strlist *groups; /* out: paths that are groups (or implicit) */
    int rc;
    char msg[1024];
} z3load;

static void z3_load_done(zt_req *r, void *ud) {
    z3load *L = ud;
    if (L->rc) return;
    const char *path = L->paths->items[(size_t)(uintptr_t)r->user];
    int rc = r->status;
    bool arr = false;
    if (rc == ZT_ENOTFOUND) {
        rc = 0; /* implicit group (or a chunk directory of an array: never listed below it) */
        if (L->groups) rc = zt__strlist_push(L->groups, path);
    } else if (!rc) {
        json_t *doc = NULL;
        rc = z3_parse(L->t, r->key, &r->out, &doc);
        if (!rc) rc = z3_apply(L->t, path, doc, &arr);
        json_decref(doc);
        if (!rc && !arr && L->groups) rc = zt__strlist_push(L->groups, path);
    }
    if (rc) {
        L->rc = rc;
        snprintf(L->msg, sizeof L->msg, "%s", zt_last_error());
    }
}

/* Fetch path/zarr.json for every path in one concurrent batch; groups (and
 * paths without a zarr.json) are appended to groups when non-NULL. */
static int z3_load(zt_tree *t, zt_strlist *paths, zt_strlist *groups) {
    if (!paths->n) return 0;
    zt_req *reqs = calloc(paths->n, sizeof *reqs);
    char **keys = calloc(paths->n, sizeof *keys);
    int rc = reqs && keys ? 0 : zt__err(ZT_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < paths->n; i++) {
        keys[i] = zt__path_join(paths->items[i], "zarr.json");
        if (!keys[i]) rc = zt__err(ZT_ENOMEM, "out of memory");
        reqs[i].key = keys[i];
        reqs[i].offset = ZT_WHOLE;
        reqs[i].user = (void *)(uintptr_t)i;
    }
    z3load L = {t, paths, groups, 0, ""};
    if (!rc) rc = zt__store_get_batch(t->store, reqs, paths->n, z3_load_done, &L);
    if (!rc && L.rc) rc = zt__err(L.rc, "%s", L.msg);
    for (size_t i = 0; reqs && keys && i < paths->n; i++) {
        zt__buf_free(&reqs[i].out);
        free(keys[i]);
    }
    free(reqs);
    free(keys);
    return rc;
}

/* Network stores without consolidated metadata: walk group by group. */
static int z3_walk(zt_tree *t) {
    zt_strlist level;
    zt__strlist_init(&level);
    int rc = zt__strlist_push(&level, "");
    for (int depth = 0; !rc && level.n && depth < 32; depth++) {
        zt_strlist subs, groups;
        zt__strlist_init(&subs);
        zt__strlist_init(&groups);
        for (size_t i = 0; !rc && i < level.n; i++) {
            zt_strlist files, dirs;
            zt__strlist_init(&files);
            zt__strlist_init(&dirs);
            char *pfx = *level.items[i] ? zt__asprintf("%s/", level.items[i]) : strdup("");
            rc = pfx ? zt__store_list(t->store, pfx, true, &files, &dirs) : zt__err(ZT_ENOMEM, "out of memory");
            free(pfx);
            if (rc == ZT_EUNSUPPORTED || rc == ZT_ENOTFOUND)
                rc = zt__err(ZT_EUNSUPPORTED,
                             "%s: Zarr v3 hierarchy without consolidated metadata, and the store cannot be listed; "
                             "write it with zarr.consolidate_metadata or zarrtraj convert", t->url);
            for (size_t k = 0; !rc && k < dirs.n; k++) {
                char *d = dirs.items[k];
                size_t l = strlen(d);
                while (l > 0 && d[l - 1] == '/') d[--l] = 0;
                if (l) rc = zt__strlist_push(&subs, d);
            }
            zt__strlist_free(&files);
            zt__strlist_free(&dirs);
        }
        if (!rc) rc = z3_load(t, &subs, &groups);
        zt__strlist_free(&subs);
        zt__strlist_free(&level);
        level = groups;
    }
    zt__strlist_free(&level);
    return rc;
}

static int z3_sort_paths(const void *a, const void *b) {
    /* parents before children: fewer components first */
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t cx = 0, cy = 0;
    for (const char *p = x; *p; p++) cx += *p == '/';
    for (const char *p = y; *p; p++) cy += *p == '/';
    if (cx != cy) return cx < cy ? -1 : 1;
    return strcmp(x, y);
}

int zt__zarr3_open_tree(zt_store *s, const char *url, const zt_buf *root_doc, zt_tree **out) {
    zt_tree *t = calloc(1, sizeof *t);
    if (!t) return zt__err(ZT_ENOMEM, "out of memory");
    t->url = strdup(url);
    t->store = s;
    t->format = "zarrmd";
    t->root = zt__node_new("", NULL, false);
    json_t *root = NULL;
    int rc = (!t->url || !t->root) ? zt__err(ZT_ENOMEM, "out of memory") : 0;
    if (!rc) rc = z3_parse(t, "zarr.json", root_doc, &root);
    bool arr = false;
    if (!rc) rc = z3_apply(t, "", root, &arr);
    if (rc) goto fail;
    const json_t *cm = json_object_get(root, "consolidated_metadata");
    if (cm && !json_is_null(cm)) {
        const char *kind = json_string_value(json_object_get(cm, "kind"));
        const json_t *md = json_object_get(cm, "metadata");
        if (!kind || strcmp(kind, "inline") || !json_is_object(md)) {
            rc = zt__err(ZT_EFORMAT, "%s: zarr.json: consolidated_metadata must be {\"kind\": \"inline\", \"metadata\": {...}}", url);
            goto fail;
        }
        zt_strlist keys;
        zt__strlist_init(&keys);
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)md, k, v) {
            if ((rc = zt__strlist_push(&keys, k))) break;
        }
        if (!rc && keys.n > 1) qsort(keys.items, keys.n, sizeof(char *), z3_sort_paths);
        for (size_t i = 0; !rc && i < keys.n; i++) {
            const char *p = keys.items[i];
            while (*p == '/') p++;
            if (!*p) rc = zt__err(ZT_EFORMAT, "%s: zarr.json: consolidated_metadata names the root", url);
            else rc = z3_apply(t, p, json_object_get(md, keys.items[i]), NULL);
        }
        zt__strlist_free(&keys);
    } else if (zt__store_can(s, ZT_STORE_CAP_CHEAP_LIST)) {
        /* every key at once; the zarr.json documents in one batch */
        zt_strlist all, paths;
        zt__strlist_init(&all);
        zt__strlist_init(&paths);
        rc = zt__store_list(s, "", false, &all, NULL);
        for (size_t i = 0; !rc && i < all.n; i++) {
            const char *k = all.items[i];
            size_t l = strlen(k);
            if (l > 10 && !strcmp(k + l - 10, "/zarr.json")) rc = zt__strlist_push_own(&paths, zt__strndup(k, l - 10));
        }
        zt__strlist_free(&all);
        if (!rc && paths.n > 1) qsort(paths.items, paths.n, sizeof(char *), z3_sort_paths);
        if (!rc) rc = z3_load(t, &paths, NULL);
        zt__strlist_free(&paths);
    } else {
        rc = z3_walk(t);
    }
    if (rc) goto fail;
    json_decref(root);
    *out = t;
    return 0;
fail:
    json_decref(root);
    t->store = NULL; /* the caller keeps the store on failure */
    zt__tree_free(t);
    return rc;
}

/* ---- writing ----------------------------------------------------------------------------------------- */

int zt__zarr3_write_chunk(const zt_array *a, const int64_t *gidx, const void *data, int64_t valid_rows, zt_buf *scratch) {
    const z3impl *z = a->impl;
    if (a->vt != &z3_vt || z->nlev > 1) return zt__err(ZT_EINVAL, "%s: not a Zarr v3 array this writer made", a->path);
    char *key = z3_key(a, gidx);
    if (!key) return zt__err(ZT_ENOMEM, "out of memory");
    int rc = 0;
    if (z->nlev == 0) {
        rc = zt__array_encode_chunk(a, data, scratch);
        if (rc) rc = zt__err_prefix(rc, "%s: encoding chunk: ", a->path);
    } else {
        /* inner chunks are whole along every axis but the first: contiguous slices */
        const z3level *L = &z->lev[0];
        for (int d = 1; d < a->ndim; d++)
            if (L->per[d] != 1) rc = zt__err(ZT_EINVAL, "%s: inner chunks must span every axis but the first", a->path);
        size_t ib = zt__array_chunk_nbytes(a);
        uint64_t *tab = rc ? NULL : malloc((size_t)L->nsub * 16);
        zt_buf enc;
        zt__buf_init(&enc);
        scratch->len = 0;
        if (!rc && !tab) rc = zt__err(ZT_ENOMEM, "out of memory");
        for (int64_t j = 0; !rc && j < L->nsub; j++) {
            if (j * a->chunks[0] >= valid_rows) { /* never written: empty */
                tab[2 * j] = tab[2 * j + 1] = Z3_EMPTY;
                continue;
            }
            rc = zt__array_encode_chunk(a, (const uint8_t *)data + (size_t)j * ib, &enc);
            if (rc) {
                rc = zt__err_prefix(rc, "%s: encoding inner chunk: ", a->path);
                break;
            }
            tab[2 * j] = scratch->len;
            tab[2 * j + 1] = enc.len;
            rc = zt__buf_append(scratch, enc.data, enc.len);
        }
        /* the index at the end: little-endian (offset, nbytes) pairs + crc32c */
        size_t i0 = scratch->len;
        for (int64_t i = 0; !rc && i < 2 * L->nsub; i++) {
            uint8_t b[8];
            for (int k = 0; k < 8; k++) b[k] = (uint8_t)(tab[i] >> (8 * k));
            rc = zt__buf_append(scratch, b, 8);
        }
        if (!rc) {
            uint32_t c = zt__crc32c(scratch->data + i0, scratch->len - i0);
            uint8_t b[4] = {(uint8_t)c, (uint8_t)(c >> 8), (uint8_t)(c >> 16), (uint8_t)(c >> 24)};
            rc = zt__buf_append(scratch, b, 4);
        }
        free(tab);
        zt__buf_free(&enc);
    }
    if (!rc) {
        rc = zt__store_put(a->store, key, scratch->data ? (void *)scratch->data : (void *)"", scratch->len);
        if (rc) zt__err_prefix(rc, "%s: ", key);
    }
    free(key);
    return rc;
}

/* v3 codec entry for a numcodecs config the writer uses (new reference). */
static json_t *z3_codec_entry(const json_t *cfg, size_t itemsize) {
    const char *id = json_string_value(json_object_get(cfg, "id"));
    if (!id) return NULL;
    json_t *c = json_deep_copy(cfg);
    if (!c) return NULL;
    json_object_del(c, "id");
    const char *name = id;
    char buf[64];
    if (!strcmp(id, "blosc")) {
        json_int_t sh = json_integer_value(json_object_get(c, "shuffle"));
        json_object_set_new(c, "shuffle", json_string(sh == 2 ? "bitshuffle" : sh == 0 ? "noshuffle" : "shuffle"));
        json_object_set_new(c, "typesize", json_integer((json_int_t)itemsize));
        if (!json_object_get(c, "blocksize")) json_object_set_new(c, "blocksize", json_integer(0));
    } else if (!strcmp(id, "zstd")) {
        if (!json_object_get(c, "checksum")) json_object_set_new(c, "checksum", json_false());
    } else if (strcmp(id, "gzip") && strcmp(id, "crc32c")) {
        snprintf(buf, sizeof buf, "numcodecs.%s", id);
        name = buf;
    }
    return json_pack("{s:s,s:o}", "name", name, "configuration", c);
}

json_t *zt__zarr3_array_doc(const zt_dtype dt, int ndim, const int64_t *shape, const int64_t *chunks,
                            int64_t inner_rows, const json_t *compressor, const json_t *filters, bool order_f,
                            int precision, const json_t *attrs) {
    static const char *names[] = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                                  "float32", "float64"};
    const char *dn = NULL;
    int lg = dt.size == 1 ? 0 : dt.size == 2 ? 1 : dt.size == 4 ? 2 : 3;
    if (dt.kind == 'b') dn = names[0];
    else if (dt.kind == 'i') dn = names[1 + lg];
    else if (dt.kind == 'u') dn = names[5 + lg];
    else if (dt.kind == 'f' && dt.size >= 4) dn = names[9 + (dt.size == 8)];
    if (!dn) return NULL;
    json_t *shp = json_array(), *ch = json_array(), *inner = json_array(), *codecs = json_array();
    for (int d = 0; d < ndim; d++) {
        json_array_append_new(shp, json_integer(shape[d]));
        json_array_append_new(ch, json_integer(chunks[d]));
        json_array_append_new(inner, json_integer(d == 0 && inner_rows > 0 ? inner_rows : chunks[d]));
    }
    size_t isz = dt.size; /* item size reaching `bytes` (filters may change it) */
    if (order_f && ndim > 1) {
        json_t *ord = json_array();
        for (int d = ndim - 1; d >= 0; d--) json_array_append_new(ord, json_integer(d));
        json_array_append_new(codecs, json_pack("{s:s,s:{s:o}}", "name", "transpose", "configuration", "order", ord));
    }
    if (filters) {
        for (size_t i = 0; i < json_array_size(filters); i++) {
            const json_t *f = json_array_get(filters, i);
            const char *id = json_string_value(json_object_get(f, "id"));
            json_t *cfg = json_deep_copy(f);
            char name[64];
            if (!id || !cfg || snprintf(name, sizeof name, "numcodecs.%s", id) >= (int)sizeof name) {
                json_decref(cfg);
                continue;
            }
            json_object_del(cfg, "id");
            zt_dtype as;
            if (json_object_get(cfg, "astype") &&
                zt__dtype_from_str(json_string_value(json_object_get(cfg, "astype")), &as) == 0)
                isz = as.size;
            json_array_append_new(codecs, json_pack("{s:s,s:o}", "name", name, "configuration", cfg));
        }
    } else if (precision >= 0 && dt.kind == 'f') {
        const char *ds = dt.size == 4 ? "<f4" : "<f8";
        json_array_append_new(codecs, json_pack("{s:s,s:{s:i,s:s,s:s}}", "name", "numcodecs.quantize", "configuration",
                                                "digits", precision, "dtype", ds, "astype", ds));
    }
    json_array_append_new(codecs, json_pack("{s:s,s:{s:s}}", "name", "bytes", "configuration", "endian", "little"));
    if (compressor) json_array_append_new(codecs, z3_codec_entry(compressor, isz));
    if (inner_rows > 0) {
        json_t *sh = json_pack("{s:s,s:{s:o,s:o,s:[{s:s,s:{s:s}},{s:s}],s:s}}", "name", "sharding_indexed",
                               "configuration", "chunk_shape", inner, "codecs", codecs, "index_codecs", "name",
                               "bytes", "configuration", "endian", "little", "name", "crc32c", "index_location",
                               "end");
        codecs = json_array();
        json_array_append_new(codecs, sh);
    } else {
        json_decref(inner);
    }
    json_t *fill = dt.kind == 'f' ? json_real(0.0) : dt.kind == 'b' ? json_false() : json_integer(0);
    return json_pack("{s:i,s:s,s:o,s:s,s:{s:s,s:{s:o}},s:{s:s,s:{s:s}},s:o,s:o,s:o}", "zarr_format", 3, "node_type",
                     "array", "shape", shp, "data_type", dn, "chunk_grid", "name", "regular", "configuration",
                     "chunk_shape", ch, "chunk_key_encoding", "name", "default", "configuration", "separator", "/",
                     "fill_value", fill, "codecs", codecs, "attributes", attrs ? json_deep_copy(attrs) : json_object());
}
