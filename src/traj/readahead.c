/* Read-ahead: when frames are read in order (or with a constant positive
 * stride), a background thread fetches and decodes the chunks of the next
 * frames into the cache while the caller works on the current one, so
 * network and decode time overlap the caller's analysis. Random and reversed
 * access never trigger it. Memory stays within the cache budget: the window
 * is at most half of it. */
#include "traj/reader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct zt_readahead {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, running;
    /* pattern detection (caller thread only) */
    int64_t last, stride;
    int same;
    unsigned mask;
    int64_t horizon[ZT_N_ELEMENTS]; /* row-chunk up to which prefetch was issued */
    /* job handed to the worker */
    zt_chunkref *job;
    size_t njob;
    bool has_job;
    zt_reader_t *r;
};

static void *zt__ra_main(void *arg) {
    zt_readahead *ra = arg;
    zt_centry **es = NULL;
    size_t es_cap = 0;
    for (;;) {
        pthread_mutex_lock(&ra->mu);
        while (!ra->has_job && !ra->stop) pthread_cond_wait(&ra->cv, &ra->mu);
        if (ra->stop) {
            pthread_mutex_unlock(&ra->mu);
            break;
        }
        zt_chunkref *job = ra->job;
        size_t n = ra->njob;
        ra->job = NULL;
        ra->njob = 0;
        ra->has_job = false;
        pthread_mutex_unlock(&ra->mu);
        if (n > es_cap) {
            zt_centry **p = realloc(es, n * sizeof *p);
            if (!p) {
                free(job);
                continue;
            }
            es = p;
            es_cap = n;
        }
        /* Errors are not reported here: the caller's own read of the same
         * chunk reports them (and retries the fetch). */
        if (zt__fetch(ra->r->cache, job, n, es) == 0) zt__cache_release(ra->r->cache, es, n);
        free(job);
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
    for (int k = 0; k < ZT_N_ELEMENTS; k++) ra->horizon[k] = -1;
    pthread_mutex_init(&ra->mu, NULL);
    pthread_cond_init(&ra->cv, NULL);
    r->ra = ra;
    return ra;
}

static bool zt__ra_start(zt_readahead *ra) {
    if (ra->running) return true;
    if (pthread_create(&ra->th, NULL, zt__ra_main, ra) != 0) return false;
    ra->running = true;
    return true;
}

void zt__readahead_stop(zt_reader_t *r) {
    zt_readahead *ra = r->ra;
    if (!ra) return;
    pthread_mutex_lock(&ra->mu);
    ra->stop = true;
    pthread_cond_signal(&ra->cv);
    pthread_mutex_unlock(&ra->mu);
    if (ra->running) pthread_join(ra->th, NULL);
    free(ra->job);
    pthread_mutex_destroy(&ra->mu);
    pthread_cond_destroy(&ra->cv);
    free(ra);
    r->ra = NULL;
}

/* Bytes of one row-chunk (all atom/dim chunks of a block of rows). */
static size_t zt__rowchunk_bytes(const zt_array *a) {
    size_t n = zt__array_chunk_nbytes(a);
    for (int d = 1; d < a->ndim; d++) n *= (size_t)zt__array_nchunks_dim(a, d);
    return n;
}

void zt__readahead_note(zt_reader_t *r, int64_t i, unsigned mask) {
    if (r->readahead_bytes == 0 || mask == 0) return;
    zt_readahead *ra = zt__ra_get(r);
    if (!ra) return;
    int64_t d = i - ra->last;
    if (ra->last >= 0 && d > 0 && d == ra->stride && mask == ra->mask) ra->same++;
    else {
        ra->same = 0;
        ra->stride = d;
        for (int k = 0; k < ZT_N_ELEMENTS; k++) ra->horizon[k] = -1;
    }
    ra->last = i;
    ra->mask = mask;
    if (ra->same < 1 || ra->stride <= 0) return; /* not (yet) sequential */

    /* Window: at most readahead_bytes and half the cache budget. */
    size_t window = r->readahead_bytes, half = zt__cache_budget(r->cache) / 2;
    if (window > half) window = half;
    size_t per = 0;
    for (int k = 0; k < ZT_N_ELEMENTS; k++)
        if ((mask >> k & 1) && r->g->el[k]) per += zt__rowchunk_bytes(r->g->el[k]->value);
    if (per == 0) return;
    int64_t kchunks = (int64_t)(window / per);
    if (kchunks < 1) kchunks = 1;

    zt_chunkref *refs = NULL;
    size_t n = 0, cap = 0;
    for (int k = 0; k < ZT_N_ELEMENTS; k++) {
        if (!(mask >> k & 1) || !r->g->el[k] || !r->fidx[k]) continue;
        const zt_array *a = r->g->el[k]->value;
        int64_t s = r->fidx[k][i];
        int64_t c0 = a->chunks[0];
        int64_t cur = s >= 0 ? s / c0 : -1;
        /* Refill when less than half the window is still ahead. */
        if (ra->horizon[k] >= 0 && cur >= 0 && ra->horizon[k] - cur > kchunks / 2) continue;
        int64_t last_rc = cur, issued = 0;
        for (int64_t f = i + ra->stride; f < r->n_frames && issued < kchunks; f += ra->stride) {
            int64_t sf = r->fidx[k][f];
            if (sf < 0) continue;
            int64_t rc = sf / c0;
            if (rc == last_rc || rc <= ra->horizon[k]) continue;
            last_rc = rc;
            issued++;
            ra->horizon[k] = rc;
            size_t before = n;
            if (zt__rows_refs(a, sf, sf + 1, 0, 0, &refs, &n, &cap) != 0) break;
            /* skip what is cached or loading already */
            size_t w = before;
            for (size_t q = before; q < n; q++)
                if (!zt__cache_contains(r->cache, refs[q].a->uid, refs[q].lin)) refs[w++] = refs[q];
            n = w;
        }
    }
    if (n == 0) {
        free(refs);
        return;
    }
    if (!zt__ra_start(ra)) {
        free(refs);
        return;
    }
    pthread_mutex_lock(&ra->mu);
    if (ra->job) { /* an unstarted older job: keep its chunks too */
        zt_chunkref *m = realloc(ra->job, (ra->njob + n) * sizeof *m);
        if (m) {
            memcpy(m + ra->njob, refs, n * sizeof *refs);
            ra->job = m;
            ra->njob += n;
        }
        free(refs);
    } else {
        ra->job = refs;
        ra->njob = n;
    }
    ra->has_job = true;
    pthread_cond_signal(&ra->cv);
    pthread_mutex_unlock(&ra->mu);
}
