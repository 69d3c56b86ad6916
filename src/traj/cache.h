/* Decoded-chunk cache and the fetch engine: every chunk read of the
 * trajectory layer (frames, timeseries, batches, read-ahead) goes through
 * zt__fetch, which finds cached chunks, fetches the missing ones from their
 * store in one concurrent batch and decodes them on the thread pool as they
 * arrive. Entries are pinned while a caller copies out of them. */
#ifndef ZT_CACHE_H
#define ZT_CACHE_H

#include "array/array.h"

typedef struct zt_cache zt_cache;

typedef struct zt_centry {
    uint64_t uid;
    int64_t lin;
    uint8_t *data;
    size_t nbytes;
    size_t cap;    /* allocated (zt__mem_*) */
    int refs;      /* pins */
    int state;     /* 0 loading, 1 ready, <0 error code; read and written under the cache lock */
    struct zt_centry *hnext;
    struct zt_centry *lprev, *lnext; /* LRU list of unpinned ready entries */
} zt_centry;

typedef struct zt_chunkref {
    const zt_array *a;
    int64_t lin;   /* linear chunk number */
} zt_chunkref;

/* budget bounds decoded chunks (and the spare buffers kept for reuse);
 * raw_budget bounds the compressed response buffers kept for reuse. */
int zt__cache_create(size_t budget, size_t raw_budget, zt_cache **out);
/* Decode on this pool instead of the process-wide one (not owned). */
void zt__cache_set_pool(zt_cache *c, zt_pool *pool);
void zt__cache_free(zt_cache *c);
size_t zt__cache_budget(const zt_cache *c);
size_t zt__cache_used(zt_cache *c);
/* What a chunk of nbytes costs the budget (its bookkeeping included). */
size_t zt__cache_cost(size_t nbytes);

/* Fetch chunks refs[0..n) and pin them: out[i] is the entry for refs[i]
 * (duplicates share an entry and are pinned once per occurrence). On error
 * nothing stays pinned. */
int zt__fetch(zt_cache *c, const zt_chunkref *refs, size_t n, zt_centry **out);
/* Unpin entries (NULLs ignored). */
void zt__cache_release(zt_cache *c, zt_centry **e, size_t n);
/* Whether a chunk is cached (ready or loading); does not pin. */
bool zt__cache_contains(zt_cache *c, uint64_t uid, int64_t lin);

typedef struct zt_cache_stats {
    uint64_t hits, misses, decodes, requests, bytes;
} zt_cache_stats;
void zt__cache_stats(zt_cache *c, zt_cache_stats *st);

#endif
