/* Decoded-chunk cache with LRU eviction and buffer reuse, and the fetch
 * engine (see cache.h). */
#include "traj/cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Neighbouring byte ranges of one object closer than this are fetched in one
 * request (HDF5 chunks are often adjacent); merged requests stay below
 * ZT_COALESCE_MAX so that large reads still run in parallel. */
#define ZT_COALESCE_GAP ((int64_t)256 << 10)
#define ZT_COALESCE_MAX ((int64_t)16 << 20)
/* A large range fetched while nothing else is in flight (a random frame, the
 * first frame) goes out as parallel parts of about ZT_SPLIT_PART: one stream
 * of an object store carries only tens of MB/s. Network stores only. */
#define ZT_SPLIT_MIN ((int64_t)8 << 20)
#define ZT_SPLIT_PART ((int64_t)4 << 20)
#define ZT_SPLIT_MAX 8
/* Freed chunk buffers kept for reuse (fresh memory is expensive here): an
 * evicted chunk's buffer goes straight to the chunk that replaces it. */
#define ZT_SPARE_MAX 8
#define ZT_RAW_SPARE 8

struct zt_cache {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t budget, used;
    size_t raw_budget, raw_bytes; /* kept response buffers */
    size_t raw_inflight;          /* estimated bytes of responses being received or decoded */
    double whole_ratio;           /* whole-object responses: received / decoded bytes so far */
    pthread_cond_t raw_cv;
    zt_centry **buckets;
    size_t nbuckets, count;
    zt_centry *lru_head, *lru_tail; /* head = most recent */
    struct { uint8_t *p; size_t n, cap; } spare[ZT_SPARE_MAX]; /* oldest first */
    int nspare;
    size_t spare_bytes;         /* kept decoded-size spares: inside the budget too */
    zt_buf raw[ZT_RAW_SPARE];   /* response buffers kept for reuse, within raw_budget */
    int nraw;
    zt_pool *pool;              /* decode pool; NULL = the process-wide one */
    zt_cache_stats st;
};

/* What an entry costs the budget: its bytes and its bookkeeping (which
 * dominates for tiny chunks: 2^20 chunks of 24 bytes are 25 MB of data but
 * over 100 MB of entries). */
size_t zt__cache_cost(size_t nbytes) { return nbytes + sizeof(zt_centry) + 32; }
static size_t zt__entry_cost(const zt_centry *e) { return zt__cache_cost(e->nbytes); }

static size_t zt__hash(uint64_t uid, int64_t lin) {
    uint64_t h = uid * 0x9E3779B97F4A7C15ull ^ ((uint64_t)lin + 0x632BE59BD9B4E019ull) * 0xBF58476D1CE4E5B9ull;
    return (size_t)(h ^ (h >> 31));
}

int zt__cache_create(size_t budget, size_t raw_budget, zt_cache **out) {
    zt_cache *c = calloc(1, sizeof *c);
    if (!c) return zt__err(ZT_ENOMEM, "out of memory");
    c->nbuckets = 256;
    c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    c->budget = budget;
    c->raw_budget = raw_budget;
    c->whole_ratio = 1.0;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_cond_init(&c->raw_cv, NULL);
    *out = c;
    return 0;
}

void zt__cache_free(zt_cache *c) {
    if (!c) return;
    for (size_t i = 0; i < c->nbuckets; i++) {
        zt_centry *e = c->buckets[i];
        while (e) {
            zt_centry *n = e->hnext;
            zt__mem_free(e->data, e->cap);
            free(e);
            e = n;
        }
    }
    for (int i = 0; i < c->nspare; i++) zt__mem_free(c->spare[i].p, c->spare[i].cap);
    for (int i = 0; i < c->nraw; i++) zt__buf_free(&c->raw[i]);
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    pthread_cond_destroy(&c->raw_cv);
    free(c);
}

size_t zt__cache_budget(const zt_cache *c) { return c->budget; }
void zt__cache_set_pool(zt_cache *c, zt_pool *pool) { c->pool = pool; }
size_t zt__cache_used(zt_cache *c) {
    pthread_mutex_lock(&c->mu);
    size_t n = c->used;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void zt__cache_stats(zt_cache *c, zt_cache_stats *st) {
    pthread_mutex_lock(&c->mu);
    *st = c->st;
    pthread_mutex_unlock(&c->mu);
}

/* ---- internals (mutex held) ---------------------------------------------------- */

static zt_centry *zt__lookup(zt_cache *c, uint64_t uid, int64_t lin) {
    for (zt_centry *e = c->buckets[zt__hash(uid, lin) & (c->nbuckets - 1)]; e; e = e->hnext)
        if (e->uid == uid && e->lin == lin) return e;
    return NULL;
}

static void zt__grow(zt_cache *c) {
    size_t nb = c->nbuckets * 2;
    zt_centry **b = calloc(nb, sizeof *b);
    if (!b) return; /* keep the old table: only slower */
    for (size_t i = 0; i < c->nbuckets; i++) {
        zt_centry *e = c->buckets[i];
        while (e) {
            zt_centry *n = e->hnext;
            size_t h = zt__hash(e->uid, e->lin) & (nb - 1);
            e->hnext = b[h];
            b[h] = e;
            e = n;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = nb;
}

static void zt__lru_unlink(zt_cache *c, zt_centry *e) {
    if (e->lprev) e->lprev->lnext = e->lnext;
    else if (c->lru_head == e) c->lru_head = e->lnext;
    if (e->lnext) e->lnext->lprev = e->lprev;
    else if (c->lru_tail == e) c->lru_tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

static void zt__lru_push(zt_cache *c, zt_centry *e) {
    e->lprev = NULL;
    e->lnext = c->lru_head;
    if (c->lru_head) c->lru_head->lprev = e;
    c->lru_head = e;
    if (!c->lru_tail) c->lru_tail = e;
}

/* Remove spare i and return its buffer (capacity in *cap). */
static uint8_t *zt__spare_take(zt_cache *c, int i, size_t *cap) {
    uint8_t *p = c->spare[i].p;
    *cap = c->spare[i].cap;
    c->spare_bytes -= *cap;
    c->nspare--;
    memmove(c->spare + i, c->spare + i + 1, (size_t)(c->nspare - i) * sizeof *c->spare);
    return p;
}

static void zt__drop_spare(zt_cache *c) { /* the oldest */
    size_t cap = 0;
    uint8_t *p = zt__spare_take(c, 0, &cap);
    zt__mem_free(p, cap);
}

/* Keep an evicted buffer; zt__trim_spares frees what no longer fits. */
static void zt__put_spare(zt_cache *c, uint8_t *p, size_t n, size_t cap) {
    if (!p) return;
    if (c->nspare == ZT_SPARE_MAX) zt__drop_spare(c);
    c->spare[c->nspare].p = p;
    c->spare[c->nspare].n = n;
    c->spare[c->nspare].cap = cap;
    c->nspare++;
    c->spare_bytes += cap;
}

/* Live chunks plus spares stay within the budget. */
static void zt__trim_spares(zt_cache *c) {
    while (c->nspare > 0 && c->used + c->spare_bytes > c->budget) zt__drop_spare(c);
}

static uint8_t *zt__get_buffer(zt_cache *c, size_t n, size_t *cap) {
    for (int i = c->nspare - 1; i >= 0; i--) /* the most recently freed first (warm) */
        if (c->spare[i].n == n) return zt__spare_take(c, i, cap);
    *cap = n;
    return zt__mem_alloc(cap);
}

/* A response buffer (the largest kept one, so a read rarely reallocates). */
static zt_buf zt__raw_get(zt_cache *c) {
    zt_buf b;
    zt__buf_init(&b);
    pthread_mutex_lock(&c->mu);
    int best = -1;
    for (int i = 0; i < c->nraw; i++)
        if (best < 0 || c->raw[i].cap > c->raw[best].cap) best = i;
    if (best >= 0) {
        b = c->raw[best];
        c->raw_bytes -= b.cap;
        c->raw[best] = c->raw[--c->nraw];
    }
    pthread_mutex_unlock(&c->mu);
    b.len = 0;
    return b;
}

static void zt__raw_put(zt_cache *c, zt_buf *b) {
    if (!b->data) return;
    pthread_mutex_lock(&c->mu);
    if (c->nraw < ZT_RAW_SPARE && c->raw_inflight + c->raw_bytes + b->cap <= c->raw_budget) {
        c->raw_bytes += b->cap;
        c->raw[c->nraw++] = *b;
        zt__buf_init(b);
        }
    pthread_mutex_unlock(&c->mu);
    zt__buf_free(b);
}

/* Compressed responses in flight plus the kept response buffers (all
 * fetching threads of the reader together) stay within raw_budget, the
 * in-flight half of the read-ahead window; one request always proceeds.
 * Waits until the first of want[0..n) fits and returns how many of them were
 * taken. Kept buffers are dropped (oldest first) before anyone waits. */
static bool zt__raw_fits(zt_cache *c, size_t want) {
    while (c->raw_inflight + c->raw_bytes + want > c->raw_budget && c->nraw > 0) {
        c->raw_bytes -= c->raw[0].cap;
        zt__buf_free(&c->raw[0]);
        c->raw[0] = c->raw[--c->nraw];
    }
    return c->raw_inflight + c->raw_bytes + want <= c->raw_budget;
}

static size_t zt__raw_acquire(zt_cache *c, const size_t *want, size_t n) {
    pthread_mutex_lock(&c->mu);
    while (c->raw_inflight > 0 && !zt__raw_fits(c, want[0])) pthread_cond_wait(&c->raw_cv, &c->mu);
    size_t k = 0;
    while (k < n && (k == 0 || zt__raw_fits(c, want[k]))) c->raw_inflight += want[k++];
    pthread_mutex_unlock(&c->mu);
    return k;
}

static void zt__raw_release(zt_cache *c, size_t n) {
    if (!n) return;
    pthread_mutex_lock(&c->mu);
    c->raw_inflight -= n;
    pthread_cond_broadcast(&c->raw_cv);
    pthread_mutex_unlock(&c->mu);
}

static void zt__remove(zt_cache *c, zt_centry *e) {
    size_t h = zt__hash(e->uid, e->lin) & (c->nbuckets - 1);
    zt_centry **pp = &c->buckets[h];
    while (*pp && *pp != e) pp = &(*pp)->hnext;
    if (*pp) *pp = e->hnext;
    zt__lru_unlink(c, e);
    c->count--;
    c->used -= zt__entry_cost(e); /* counted from allocation on, loading or not */
    zt__put_spare(c, e->data, e->nbytes, e->cap);
    free(e);
}

static void zt__evict(zt_cache *c) {
    while (c->used > c->budget && c->lru_tail) zt__remove(c, c->lru_tail);
}

static void zt__unpin(zt_cache *c, zt_centry *e) {
    if (--e->refs > 0) return;
    if (e->state < 0) {
        zt__remove(c, e);
        return;
    }
    zt__lru_push(c, e);
}

void zt__cache_release(zt_cache *c, zt_centry **es, size_t n) {
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < n; i++)
        if (es[i]) zt__unpin(c, es[i]);
    zt__evict(c);
    zt__trim_spares(c);
    pthread_mutex_unlock(&c->mu);
}

bool zt__cache_contains(zt_cache *c, uint64_t uid, int64_t lin) {
    pthread_mutex_lock(&c->mu);
    bool r = zt__lookup(c, uid, lin) != NULL;
    pthread_mutex_unlock(&c->mu);
    return r;
}

/* ---- fetch ---------------------------------------------------------------------- */

/* A chunk this fetcher loads. Its outcome is kept here, not in the entry:
 * decode tasks and store callbacks run without the cache lock, while other
 * fetchers read entry states under it, so only the fetcher publishes the
 * state (under the lock, once every task of the load has finished). */
typedef struct zt_miss {
    zt_centry *e;
    const zt_array *a;
    int64_t cidx[ZT_MAXDIM];
    zt_chunk_loc loc;
    int result; /* 0 pending, 2 decoded, < 0 error code */
} zt_miss;

/* One store request serving one or more misses (coalesced ranges). */
typedef struct zt_rgroup {
    zt_miss **members;
    size_t n;
    int64_t offset; /* of the request */
    atomic_int pending; /* decodes still using the response buffer */
    atomic_size_t acq;  /* in-flight allowance held (zt__raw_acquire) */
    zt_req *req;
    bool direct;        /* raw chunk read straight into the cache entry (no codecs) */
    /* a range fetched in parts: the group's own request is not sent; its
     * parts (groups of their own, with split_of set) are, and the last part
     * to arrive assembles the response */
    struct zt_rgroup *split_of, *parts;
    int nparts;
    atomic_int parts_left, part_rc;
} zt_rgroup;

typedef struct zt_fctx {
    zt_cache *c;
    zt_latch *latch;
    atomic_int rc;
    atomic_size_t bytes; /* received */
    zt_pool *pool;
    char msg[1024]; /* message of the first error (errors are thread-local; decodes run on the pool) */
} zt_fctx;

typedef struct zt_dtask {
    zt_fctx *f;
    zt_miss *m;
    const uint8_t *raw;
    size_t n;
    zt_rgroup *g; /* NULL for inline/missing chunks */
} zt_dtask;

/* The response buffer is no longer needed: keep it for reuse. */
static void zt__group_done(zt_cache *c, zt_rgroup *g) {
    zt__raw_release(c, atomic_exchange(&g->acq, 0));
    zt__raw_put(c, &g->req->out);
}

static void zt__set_rc(zt_fctx *f, int rc) {
    int zero = 0;
    if (atomic_compare_exchange_strong(&f->rc, &zero, rc)) snprintf(f->msg, sizeof f->msg, "%s", zt_last_error());
}

static void zt__decode_task(void *arg) {
    zt_dtask *t = arg;
    zt_miss *m = t->m;
    int rc = 0;
    if (atomic_load(&t->f->rc) != 0)
        rc = ZT_ECANCELED;
    else if (t->raw && t->raw == m->e->data) /* read in place: only the size to check */
        rc = t->n == m->e->nbytes ? 0
                                  : zt__err(ZT_ECORRUPT, "%s: %s: chunk has %zu bytes, expected %zu", m->a->file ? m->a->file : "",
                                            m->a->path, t->n, m->e->nbytes);
    else
        rc = zt__array_decode_chunk(m->a, m->cidx, &m->loc, t->raw, t->n, m->e->data);
    if (rc && rc != ZT_ECANCELED) zt__set_rc(t->f, rc);
    m->result = rc ? rc : 2; /* published by the fetcher when the load is done */
    if (t->g && atomic_fetch_sub(&t->g->pending, 1) == 1) zt__group_done(t->f->c, t->g);
    zt__latch_done(t->f->latch);
    free(t);
}

static void zt__submit_decode(zt_fctx *f, zt_miss *m, const uint8_t *raw, size_t n, zt_rgroup *g) {
    zt_dtask *t = malloc(sizeof *t);
    zt__latch_add(f->latch, 1);
    if (!t) {
        zt__set_rc(f, zt__err(ZT_ENOMEM, "out of memory"));
        m->result = ZT_ENOMEM;
        if (g && atomic_fetch_sub(&g->pending, 1) == 1) zt__group_done(f->c, g);
        zt__latch_done(f->latch);
        return;
    }
    t->f = f;
    t->m = m;
    t->raw = raw;
    t->n = n;
    t->g = g;
    if (!f->pool || zt__pool_submit(f->pool, zt__decode_task, t) != 0) zt__decode_task(t);
}

static void zt__req_done(zt_req *r, void *ud);

/* One part of a split range arrived; the last one assembles the response in
 * the group's own request (parts in order; a short part ends it, which the
 * length check then reports) and completes it. */
static void zt__part_done(zt_fctx *f, zt_rgroup *x) {
    zt_rgroup *g = x->split_of;
    int zero = 0;
    if (x->req->status) atomic_compare_exchange_strong(&g->part_rc, &zero, x->req->status);
    if (atomic_fetch_sub(&g->parts_left, 1) != 1) return;
    zt_req *m = g->req;
    int rc = atomic_load(&g->part_rc);
    size_t len = 0, acq = 0;
    if (!rc) rc = zt__buf_reserve(&m->out, (size_t)m->length);
    for (int q = 0; q < g->nparts; q++) {
        zt_req *pr = g->parts[q].req;
        if (!rc && len == (size_t)(pr->offset - m->offset) && pr->out.len) {
            memcpy(m->out.data + len, pr->out.data, pr->out.len);
            len += pr->out.len;
        }
        acq += atomic_exchange(&g->parts[q].acq, 0);
        zt__raw_put(f->c, &pr->out);
    }
    m->out.len = rc ? 0 : len;
    m->status = rc;
    atomic_store(&g->acq, acq); /* the assembled buffer is in flight until decoded */
    zt__req_done(m, f);
}

static void zt__req_done(zt_req *r, void *ud) {
    zt_fctx *f = ud;
    zt_rgroup *g = r->user;
    if (g->split_of) {
        atomic_fetch_add(&f->bytes, r->out.len);
        zt__part_done(f, g);
        return;
    }
    if (!g->nparts) atomic_fetch_add(&f->bytes, r->out.len);
    int rc = r->status;
    if (!rc && r->offset < 0 && !g->direct && g->members[0]->e->nbytes) {
        /* learn the compression ratio: whole objects are estimated with it */
        double x = (double)r->out.len / (double)g->members[0]->e->nbytes;
        pthread_mutex_lock(&f->c->mu);
        f->c->whole_ratio = 0.8 * f->c->whole_ratio + 0.2 * (x < 1.0 ? x : 1.0);
        pthread_mutex_unlock(&f->c->mu);
    }
    if (g->direct) {
        /* The store may have grown the buffer (an oversized chunk object):
         * adopt the new pointer, the size check then fails cleanly. */
        zt_centry *e = g->members[0]->e;
        if (r->out.data && r->out.data != e->data) {
            e->data = r->out.data;
            e->cap = r->out.cap;
        }
        if (!r->out.data) {
            r->out.data = e->data;
            r->out.cap = e->cap;
        }
    }
    bool missing = rc == ZT_ENOTFOUND && g->members[0]->loc.notfound_is_fill;
    if (missing) rc = 0; /* Zarr: a chunk never written reads as the fill value */
    if (!rc && r->offset >= 0 && (int64_t)r->out.len != r->length) {
        const zt_array *a = g->members[0]->a;
        rc = zt__err(ZT_ETRUNCATED, "%s: %s: chunk data at byte %lld: file ends early (got %zu of %lld bytes)",
                     a->file ? a->file : "", a->path, (long long)r->offset, r->out.len, (long long)r->length);
    } else if (rc) {
        const zt_array *a = g->members[0]->a;
        rc = zt__err_prefix(rc, "%s: %s: ", a->file ? a->file : "", a->path);
    }
    if (rc) {
        zt__set_rc(f, rc);
        for (size_t i = 0; i < g->n; i++) g->members[i]->result = rc;
        if (g->direct) zt__buf_init(&r->out);
        else zt__group_done(f->c, g);
        return;
    }
    if (g->direct) {
        size_t n = r->out.len;
        zt__buf_init(&r->out); /* the entry owns the bytes */
        if (missing) g->members[0]->loc.missing = true;
        zt__submit_decode(f, g->members[0], missing ? NULL : g->members[0]->e->data, missing ? 0 : n, NULL);
        return;
    }
    atomic_store(&g->pending, (int)g->n);
    for (size_t i = 0; i < g->n; i++) {
        zt_miss *m = g->members[i];
        if (missing) m->loc.missing = true;
        const uint8_t *raw = missing || !r->out.data ? NULL : r->out.data + (r->offset >= 0 ? m->loc.offset - g->offset : 0);
        size_t n = missing ? 0 : (r->offset >= 0 ? (size_t)m->loc.length : r->out.len);
        zt__submit_decode(f, m, raw, n, g);
    }
}

static int zt__cmp_miss(const void *pa, const void *pb) {
    const zt_miss *a = *(zt_miss *const *)pa, *b = *(zt_miss *const *)pb;
    if (a->a->store != b->a->store) return a->a->store < b->a->store ? -1 : 1;
    int k = strcmp(zt__loc_key(&a->loc), zt__loc_key(&b->loc));
    if (k) return k;
    if (a->loc.offset != b->loc.offset) return a->loc.offset < b->loc.offset ? -1 : 1;
    return 0;
}

/* Fetch and decode the misses; each ends with result 2 (ok) or < 0. */
static int zt__load(zt_cache *c, zt_miss *ms, size_t nm) {
    zt_fctx f;
    f.c = c;
    f.latch = zt__latch_new();
    atomic_init(&f.rc, 0);
    f.pool = c->pool ? c->pool : zt__pool_global();
    f.msg[0] = 0;
    zt_miss **order = calloc(nm, sizeof *order);
    zt_rgroup *groups = calloc(nm, sizeof *groups);
    zt_miss **members = calloc(nm, sizeof *members);
    zt_req *reqs = calloc(nm, sizeof *reqs);
    zt_req *send = NULL;     /* the requests sent: reqs of unsplit groups, parts of split ones */
    zt_rgroup *parts = NULL;
    size_t *want = NULL, nsend = 0, ng = 0;
    atomic_init(&f.bytes, 0);
    int rc = 0;
    if (!f.latch || !order || !groups || !members || !reqs) {
        rc = zt__err(ZT_ENOMEM, "out of memory");
        goto done;
    }
    /* Arrays that need metadata to locate (shard indexes) get it for all
     * their misses in one batch first. */
    const zt_array *prepared[16];
    size_t nprep = 0;
    for (size_t i = 0; i < nm && nprep < 16; i++) {
        const zt_array *a = ms[i].a;
        if (!a->vt->prepare) continue;
        bool seen = false;
        for (size_t k = 0; k < nprep && !seen; k++) seen = prepared[k] == a;
        if (seen) continue;
        prepared[nprep++] = a;
        size_t nd = (size_t)(a->ndim ? a->ndim : 1), cnt = 0;
        int64_t *cid = malloc((nm - i) * nd * sizeof *cid);
        if (!cid) break; /* locate fetches them one by one */
        for (size_t k = i; k < nm; k++)
            if (ms[k].a == a) memcpy(cid + cnt++ * nd, ms[k].cidx, nd * sizeof *cid);
        a->vt->prepare(a, cid, cnt);
        free(cid);
    }
    /* Locate every chunk; inline and never-allocated chunks decode at once. */
    size_t no = 0;
    for (size_t i = 0; i < nm; i++) {
        zt_miss *m = &ms[i];
        memset(&m->loc, 0, sizeof m->loc);
        rc = m->a->vt->locate(m->a, m->cidx, &m->loc);
        if (rc) {
            zt__set_rc(&f, rc);
            m->result = rc;
            continue;
        }
        if (m->loc.missing || m->loc.inline_data) zt__submit_decode(&f, m, m->loc.inline_data, m->loc.inline_len, NULL);
        else order[no++] = m;
    }
    qsort(order, no, sizeof *order, zt__cmp_miss);
    /* Group into requests, coalescing neighbouring ranges of one object. */
    size_t nmem = 0;
    for (size_t i = 0; i < no;) {
        zt_miss *m = order[i];
        zt_rgroup *g = &groups[ng];
        g->members = &members[nmem];
        g->members[g->n++] = m;
        nmem++;
        g->offset = m->loc.offset;
        int64_t end = m->loc.offset >= 0 ? m->loc.offset + m->loc.length : 0;
        size_t j = i + 1;
        if (m->loc.offset >= 0) {
            while (j < no) {
                zt_miss *x = order[j];
                if (x->a->store != m->a->store || strcmp(zt__loc_key(&x->loc), zt__loc_key(&m->loc)) ||
                    x->loc.offset < 0)
                    break;
                int64_t xend = x->loc.offset + x->loc.length;
                if (x->loc.offset - end > ZT_COALESCE_GAP || xend - g->offset > ZT_COALESCE_MAX) break;
                g->members[g->n++] = x;
                nmem++;
                if (xend > end) end = xend;
                j++;
            }
        }
        zt_req *r = &reqs[ng];
        r->key = zt__loc_key(&m->loc);
        r->offset = m->loc.offset;
        r->length = m->loc.offset >= 0 ? end - g->offset : 0;
        r->user = g;
        g->req = r;
        /* Uncompressed chunk: read it straight into the cache entry. */
        g->direct = g->n == 1 && m->a->pipeline->n == 0 &&
                    (r->offset == ZT_WHOLE || (size_t)r->length == m->e->nbytes);
        ng++;
        i = j;
    }
    /* Split large ranges when nothing else is in flight. */
    pthread_mutex_lock(&c->mu);
    bool idle = c->raw_inflight == 0;
    double ratio = c->whole_ratio * 1.05 < 1.0 ? c->whole_ratio * 1.05 : 1.0;
    pthread_mutex_unlock(&c->mu);
    size_t nparts = 0;
    for (size_t i = 0; i < ng; i++) {
        zt_rgroup *g = &groups[i];
        int64_t np = ZT_SPLIT_MAX / (int64_t)ng, len = reqs[i].length;
        if (len / ZT_SPLIT_PART < np) np = len / ZT_SPLIT_PART;
        if (idle && np >= 2 && reqs[i].offset >= 0 && len >= ZT_SPLIT_MIN && !zt__store_can(g->members[0]->a->store, ZT_STORE_CAP_LOW_LATENCY))
            g->nparts = (int)np;
        nsend += g->nparts ? (size_t)g->nparts : 1;
        nparts += (size_t)g->nparts;
    }
    send = calloc(nsend ? nsend : 1, sizeof *send);
    parts = calloc(nparts ? nparts : 1, sizeof *parts);
    want = calloc(nsend ? nsend : 1, sizeof *want);
    if (!send || !parts || !want) {
        zt__set_rc(&f, zt__err(ZT_ENOMEM, "out of memory"));
        for (size_t i = 0; i < no; i++) order[i]->result = ZT_ENOMEM;
        nsend = 0;
        goto wait;
    }
    /* Response buffers, and the bytes each request brings (a whole object's
     * size is unknown until it arrives: its decoded size times the
     * compression ratio seen so far). */
    for (size_t i = 0, k = 0, p = 0; i < ng; i++) {
        zt_rgroup *g = &groups[i];
        zt_req *r = &reqs[i];
        if (g->direct) {
            r->out.data = g->members[0]->e->data;
            r->out.cap = g->members[0]->e->cap;
            r->out.len = 0;
        } else if (g->nparts) {
            r->out = zt__raw_get(c); /* the parts are assembled here */
        }
        if (!g->nparts) {
            if (!g->direct) r->out = zt__raw_get(c);
            send[k] = *r;
            g->req = &send[k];
            want[k++] = g->direct ? 0 : r->offset >= 0 ? (size_t)r->length
                                                       : (size_t)((double)g->members[0]->e->nbytes * ratio);
            continue;
        }
        g->parts = &parts[p];
        atomic_init(&g->parts_left, g->nparts);
        atomic_init(&g->part_rc, 0);
        int64_t step = (r->length + g->nparts - 1) / g->nparts;
        for (int q = 0; q < g->nparts; q++, p++, k++) {
            zt_rgroup *x = &parts[p];
            zt_req *pr = &send[k];
            x->split_of = g;
            x->members = g->members; /* for the store of the batch */
            x->req = pr;
            pr->key = r->key;
            pr->offset = r->offset + q * step;
            pr->length = q == g->nparts - 1 ? r->offset + r->length - pr->offset : step;
            pr->user = x;
            pr->out = zt__raw_get(c);
            want[k] = (size_t)pr->length;
        }
    }
    /* One batch per store (normally one store per trajectory), sent in waves
     * that fit the in-flight allowance. */
    for (size_t i = 0; i < nsend;) {
        size_t j = i + 1;
        zt_store *s = ((zt_rgroup *)send[i].user)->members[0]->a->store;
        while (j < nsend && ((zt_rgroup *)send[j].user)->members[0]->a->store == s) j++;
        size_t k = zt__raw_acquire(c, want + i, j - i);
        for (size_t q = i; q < i + k; q++) atomic_store(&((zt_rgroup *)send[q].user)->acq, want[q]);
        int brc = zt__store_get_batch(s, send + i, k, zt__req_done, &f);
        if (brc) zt__set_rc(&f, brc);
        i += k;
    }
wait:
    zt__latch_wait(f.latch);
    pthread_mutex_lock(&c->mu);
    c->st.requests += nsend;
    c->st.bytes += atomic_load(&f.bytes);
    pthread_mutex_unlock(&c->mu);
    rc = atomic_load(&f.rc);
    if (rc) zt__err(rc, "%s", f.msg);
done:
    /* Buffers not kept by an entry go back for reuse; allowances still held
     * (requests that never completed) are returned. */
    for (size_t k = 0; k < nsend; k++) {
        zt_rgroup *x = send[k].user;
        if (x->direct) zt__buf_init(&send[k].out);
        zt__raw_release(c, atomic_exchange(&x->acq, 0));
        zt__raw_put(c, &send[k].out);
    }
    for (size_t i = 0; i < ng; i++)
        if (groups[i].nparts) {
            if (groups[i].direct) zt__buf_init(&reqs[i].out);
            zt__raw_release(c, atomic_exchange(&groups[i].acq, 0));
            zt__raw_put(c, &reqs[i].out);
        }
    free(want);
    free(parts);
    free(send);
    free(reqs);
    free(members);
    free(groups);
    free(order);
    zt__latch_free(f.latch);
    return rc;
}

int zt__fetch(zt_cache *c, const zt_chunkref *refs, size_t n, zt_centry **out) {
    if (n == 0) return 0;
    zt_miss *ms = NULL;
    size_t nm = 0, mcap = 0;
    int rc = 0;
    bool wait_others = false;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < n; i++) {
        const zt_array *a = refs[i].a;
        zt_centry *e = zt__lookup(c, a->uid, refs[i].lin);
        if (e) {
            if (e->refs++ == 0 && e->state == 1) zt__lru_unlink(c, e);
            if (e->state == 0) wait_others = true; /* possibly loading in another thread */
            else c->st.hits++;
            out[i] = e;
            continue;
        }
        e = calloc(1, sizeof *e);
        if (!e) {
            rc = zt__err(ZT_ENOMEM, "out of memory");
            out[i] = NULL;
            break;
        }
        e->uid = a->uid;
        e->lin = refs[i].lin;
        e->nbytes = zt__array_chunk_nbytes(a);
        e->refs = 1;
        e->state = 0;
        /* Make room first, so decoded chunks in flight count against the
         * budget too (pinned chunks are never evicted). */
        c->used += zt__entry_cost(e);
        zt__evict(c);
        e->data = zt__get_buffer(c, e->nbytes, &e->cap);
        zt__trim_spares(c);
            if (!e->data) {
            c->used -= zt__entry_cost(e);
            free(e);
            rc = zt__err(ZT_ENOMEM, "out of memory");
            out[i] = NULL;
            break;
        }
        size_t h = zt__hash(e->uid, e->lin) & (c->nbuckets - 1);
        e->hnext = c->buckets[h];
        c->buckets[h] = e;
        if (++c->count > c->nbuckets) zt__grow(c);
        c->st.misses++;
        out[i] = e;
        if (nm == mcap) { /* doubling: growing by one was quadratic for big batches */
            size_t nc = mcap ? 2 * mcap : 16;
            zt_miss *nms = realloc(ms, nc * sizeof *ms);
            if (!nms) {
                e->state = ZT_ENOMEM; /* not in ms: failed here, under the lock */
                rc = zt__err(ZT_ENOMEM, "out of memory");
                break;
            }
            ms = nms;
            mcap = nc;
        }
        memset(&ms[nm], 0, sizeof ms[nm]);
        ms[nm].e = e;
        ms[nm].a = a;
        zt__array_chunk_index(a, refs[i].lin, ms[nm].cidx);
        nm++;
    }
    if (rc) /* entries created so far fail (and are removed when released) */
        for (size_t i = 0; i < nm; i++) ms[i].e->state = rc;
    pthread_mutex_unlock(&c->mu);
    if (rc) {
        size_t k = 0;
        while (k < n && out[k]) k++;
        zt__cache_release(c, out, k);
        free(ms);
        return rc;
    }
    if (nm) rc = zt__load(c, ms, nm);
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < nm; i++) {
        zt_centry *e = ms[i].e;
        if (ms[i].result == 2) {
            e->state = 1;
            c->st.decodes++;
        } else {
            e->state = ms[i].result < 0 ? ms[i].result : rc ? rc : ZT_EIO;
        }
    }
    pthread_cond_broadcast(&c->cv);
    if (wait_others)
        for (size_t i = 0; i < n; i++)
            while (out[i]->state == 0) pthread_cond_wait(&c->cv, &c->mu);
    if (!rc)
        for (size_t i = 0; i < n; i++)
            if (out[i]->state < 0) {
                rc = out[i]->state;
                break;
            }
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < nm; i++) zt__chunk_loc_clear(&ms[i].loc);
    free(ms);
    if (rc) {
        zt__cache_release(c, out, n);
        for (size_t i = 0; i < n; i++) out[i] = NULL;
    }
    return rc;
}
