/* Read-ahead: when frames are read in order (or with a constant positive
 * stride), background workers fetch and decode the chunks of the next frames
 * into the cache while the caller works on the current one, so network and
 * decode time overlap the caller's analysis. Several workers keep several
 * chunk fetches in flight (a latency-bound store needs that), and the window
 * is topped up as the caller advances. Random and reversed access never
 * trigger it and drop queued work. Half the window is decoded chunks ahead
 * (the cache is sized budget + window/2), the other half bounds the compressed
 * chunks in flight (workers x job size), so memory stays within the cache
 * budget plus the read-ahead window. */
#include "traj/reader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ZT_RA_WORKERS 8  /* network stores: fetches in flight (bandwidth x latency) */
#define ZT_RA_LOCAL_WORKERS 2
/* A job gathers consecutive row-chunks up to this size, so that small
 * chunks (HDF5's one frame per chunk) still travel in large coalesced
 * requests. */
#define ZT_RA_JOB_BYTES ((size_t)8 << 20)

/* The window of one element along the frames i, i + stride, ...: walked
 * incrementally, so each frame is looked at a bounded number of times
 * whatever the window (rescanning it from the caller's frame at every call
 * was quadratic for small chunks). A "run start" is a sampled frame whose
 * row-chunk differs from the previous sampled frame's. */
typedef struct zt_rawin {
    int64_t cons, cons_rc;  /* the caller's frame, and the row-chunk of the last sampled frame up to it */
    int64_t scan, scan_rc;  /* frames up to scan are counted; row-chunk of the last sampled one */
    int64_t ahead;          /* run starts in (cons, scan]: row-chunks ahead of the caller */
    int64_t pend, npend;    /* first frame and number of row-chunks found but not queued yet */
    int64_t horizon;        /* last row-chunk queued */
} zt_rawin;

typedef struct zt_rajob {
    zt_chunkref *refs;
    size_t n;
    struct zt_rajob *next;
} zt_rajob;

struct zt_readahead {
    pthread_t th[ZT_RA_WORKERS];
    int nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    zt_rajob *head, *tail; /* queued, not started */
    /* pattern detection and window state (caller thread only) */
    int64_t last, stride;
    int same;
    unsigned mask;
    zt_rawin win[ZT_N_ELEMENTS];
    zt_reader_t *r;
};

static void *zt__ra_main(void *arg) {
    zt_readahead *ra = arg;
    zt_centry **es = NULL;
    size_t es_cap = 0;
    for (;;) {
        pthread_mutex_lock(&ra->mu);
        while (!ra->head && !ra->stop) pthread_cond_wait(&ra->cv, &ra->mu);
        if (ra->stop) {
            pthread_mutex_unlock(&ra->mu);
            break;
        }
        zt_rajob *j = ra->head;
        ra->head = j->next;
        if (!ra->head) ra->tail = NULL;
        pthread_mutex_unlock(&ra->mu);
        if (j->n > es_cap) {
            zt_centry **p = realloc(es, j->n * sizeof *p);
            if (p) {
                es = p;
                es_cap = j->n;
            }
        }
        /* Errors are not reported here: the caller's own read of the same
         * chunk reports them (and retries the fetch). */
        if (j->n <= es_cap && zt__fetch(ra->r->cache, j->refs, j->n, es) == 0)
            zt__cache_release(ra->r->cache, es, j->n);
        free(j->refs);
        free(j);
    }
    free(es);
    return NULL;
}

static zt_readahead *zt__ra_get(zt_reader_t *r) {
    if (r->ra) return r->ra;
    zt_readahead *ra = calloc(1, sizeof *ra);
    if (!ra) return NULL;
    ra->r = r;
    ra->last = -1;
    pthread_mutex_init(&ra->mu, NULL);
    pthread_cond_init(&ra->cv, NULL);
    r->ra = ra;
    return ra;
}

static void zt__ra_drop_queued(zt_readahead *ra) {
    pthread_mutex_lock(&ra->mu);
    zt_rajob *j = ra->head;
    ra->head = ra->tail = NULL;
    pthread_mutex_unlock(&ra->mu);
    while (j) {
        zt_rajob *n = j->next;
        free(j->refs);
        free(j);
        j = n;
    }
}

void zt__readahead_stop(zt_reader_t *r) {
    zt_readahead *ra = r->ra;
    if (!ra) return;
    zt__ra_drop_queued(ra);
    pthread_mutex_lock(&ra->mu);
    ra->stop = true;
    pthread_cond_broadcast(&ra->cv);
    pthread_mutex_unlock(&ra->mu);
    for (int i = 0; i < ra->nthreads; i++) pthread_join(ra->th[i], NULL);
    pthread_mutex_destroy(&ra->mu);
    pthread_cond_destroy(&ra->cv);
    free(ra);
    r->ra = NULL;
}

static void zt__ra_push(zt_readahead *ra, zt_chunkref *refs, size_t n) {
    zt_rajob *j = malloc(sizeof *j);
    if (!j) {
        free(refs);
        return;
    }
    j->refs = refs;
    j->n = n;
    j->next = NULL;
    pthread_mutex_lock(&ra->mu);
    if (ra->tail) ra->tail->next = j;
    else ra->head = j;
    ra->tail = j;
    int want = ZT_RA_LOCAL_WORKERS;
    if (!zt__store_can(ra->r->h->tree->store, ZT_STORE_CAP_LOW_LATENCY)) { /* in flight: half the window */
        size_t w = ra->r->ra_flight / ZT_RA_JOB_BYTES;
        want = w < 1 ? 1 : w > ZT_RA_WORKERS ? ZT_RA_WORKERS : (int)w;
    }
    while (ra->nthreads < want && pthread_create(&ra->th[ra->nthreads], NULL, zt__ra_main, ra) == 0)
        ra->nthreads++;
    pthread_cond_signal(&ra->cv);
    pthread_mutex_unlock(&ra->mu);
}

static int64_t zt__ra_rc(const zt_reader_t *r, int k, int64_t f, int64_t c0) {
    int64_t s = r->fidx[k][f];
    return s < 0 ? -1 : s / c0;
}

/* Queue the pending row-chunks of element k (frames pend..scan) in jobs of
 * about ZT_RA_JOB_BYTES. */
static void zt__ra_queue(zt_readahead *ra, int k) {
    zt_reader_t *r = ra->r;
    zt_rawin *w = &ra->win[k];
    const zt_array *a = r->g->el[k]->value;
    int64_t c0 = a->chunks_stored[0] ? a->chunks_stored[0] : a->chunks[0];
    size_t rcb = zt__rowchunk_bytes(a);
    zt_chunkref *refs = NULL;
    size_t n = 0, cap = 0, bytes = 0;
    int64_t last_rc = -1;
    for (int64_t f = w->pend; f >= 0 && f <= w->scan; f += ra->stride) {
        int64_t sf = r->fidx[k][f];
        if (sf < 0) continue;
        int64_t rc = sf / c0;
        if (rc == last_rc || rc <= w->horizon) continue;
        last_rc = rc;
        w->horizon = rc;
        int64_t r0 = a->chunks_stored[0] ? rc * c0 : sf, r1 = a->chunks_stored[0] ? rc * c0 + c0 : sf + 1;
        if (r1 > a->shape[0]) r1 = a->shape[0];
        size_t before = n;
        if (zt__rows_refs(a, r0, r1, 0, 0, &refs, &n, &cap) != 0) break;
        size_t m = before;
        for (size_t q = before; q < n; q++)
            if (!zt__cache_contains(r->cache, refs[q].a->uid, refs[q].lin)) refs[m++] = refs[q];
        n = m;
        bytes += rcb;
        if (bytes >= ZT_RA_JOB_BYTES && n) {
            zt__ra_push(ra, refs, n);
            refs = NULL;
            n = cap = bytes = 0;
        }
    }
    if (n) zt__ra_push(ra, refs, n);
    else free(refs);
    w->pend = -1;
    w->npend = 0;
}

void zt__readahead_note(zt_reader_t *r, int64_t i, unsigned mask) {
    if (r->readahead_bytes == 0 || mask == 0) return;
    zt_readahead *ra = zt__ra_get(r);
    if (!ra) return;
    int64_t d = i - ra->last;
    bool sequential = ra->last >= 0 && d > 0 && d == ra->stride && mask == ra->mask;
    if (sequential) ra->same++;
    else {
        if (ra->same > 0) zt__ra_drop_queued(ra); /* the pattern broke: queued chunks are waste */
        ra->same = 0;
        ra->stride = d;
    }
    ra->last = i;
    ra->mask = mask;
    if (ra->same < 1 || ra->stride <= 0) return; /* not (yet) sequential */

    size_t per = 0;
    for (int k = 0; k < ZT_N_ELEMENTS; k++)
        if ((mask >> k & 1) && r->g->el[k]) per += zt__rowchunk_bytes(r->g->el[k]->value);
    if (per == 0) return;
    int64_t window = (int64_t)(r->ra_ahead / per); /* row-chunks ahead */
    if (window < 1) window = 1;

    /* Top up: count every row-chunk within the window and queue those not
     * queued yet, in jobs of consecutive row-chunks of about ZT_RA_JOB_BYTES
     * (or the whole window when that is smaller), so the workers keep several
     * large requests in flight. */
    for (int k = 0; k < ZT_N_ELEMENTS; k++) {
        if (!(mask >> k & 1) || !r->g->el[k] || !r->fidx[k]) continue;
        const zt_array *a = r->g->el[k]->value;
        /* whole stored chunks per job: rows read separately still coalesce
         * into one request per stored chunk */
        int64_t c0 = a->chunks_stored[0] ? a->chunks_stored[0] : a->chunks[0];
        size_t rcb = zt__rowchunk_bytes(a);
        zt_rawin *w = &ra->win[k];
        if (ra->same == 1) { /* the pattern (re)starts at the previous frame */
            int64_t p = i - ra->stride, rc = zt__ra_rc(r, k, p, c0);
            *w = (zt_rawin){p, rc, p, rc, 0, -1, 0, -1};
        }
        /* the caller moved from w->cons to i: run starts up to i are behind it */
        for (int64_t f = w->cons + ra->stride; f <= i; f += ra->stride) {
            int64_t rc = zt__ra_rc(r, k, f, c0);
            if (rc < 0 || rc == w->cons_rc) continue;
            w->cons_rc = rc;
            if (f <= w->scan && w->ahead > 0) w->ahead--;
        }
        w->cons = i;
        if (w->scan < i) { /* the caller overtook the window */
            w->scan = i;
            w->scan_rc = w->cons_rc;
            w->ahead = 0;
            w->pend = -1;
            w->npend = 0;
        }
        bool reached_end = false;
        while (w->ahead < window) {
            int64_t f = w->scan + ra->stride;
            if (f >= r->n_frames) {
                reached_end = true;
                break;
            }
            w->scan = f;
            int64_t rc = zt__ra_rc(r, k, f, c0);
            if (rc < 0 || rc == w->scan_rc) continue;
            w->scan_rc = rc;
            w->ahead++;
            if (rc <= w->horizon) continue;
            if (w->pend < 0) w->pend = f;
            w->npend++;
        }
        size_t job = (size_t)window * rcb < ZT_RA_JOB_BYTES ? (size_t)window * rcb : ZT_RA_JOB_BYTES;
        if (w->npend > 0 && ((size_t)w->npend * rcb >= job || reached_end)) zt__ra_queue(ra, k);
    }
}

void zt__readahead_prefetch(zt_reader_t *r, const zt_chunkref *refs, size_t n) {
    if (r->readahead_bytes == 0 || n == 0) return;
    zt_readahead *ra = zt__ra_get(r);
    if (!ra) return;
    /* jobs of about ZT_RA_JOB_BYTES, so the workers fetch them in parallel */
    zt_chunkref *job = NULL;
    size_t jn = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (zt__cache_contains(r->cache, refs[i].a->uid, refs[i].lin)) continue;
        if (!job && !(job = malloc((n - i) * sizeof *job))) return;
        job[jn++] = refs[i];
        bytes += zt__array_chunk_nbytes(refs[i].a);
        if (bytes >= ZT_RA_JOB_BYTES) {
            zt__ra_push(ra, job, jn);
            job = NULL;
            jn = bytes = 0;
        }
    }
    if (jn) zt__ra_push(ra, job, jn);
    else free(job);
}
