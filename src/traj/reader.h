/* Reader internals shared by reader.c and readahead.c. */
#ifndef ZT_READER_H
#define ZT_READER_H

#include "h5md/h5md.h"
#include "traj/cache.h"

typedef struct zt_rdata {
    zt_h5el *el;
    zt_data_kind_t kind;
    char *name;
    int ndim;
    int64_t shape[8];
    int64_t sample_size;
    char dtype[8];
    double *all;   /* whole array, loaded on first access */
    int64_t n_all;
} zt_rdata;

typedef struct zt_readahead zt_readahead;

struct zt_reader {
    zt_h5md *h;
    zt_h5group *g;
    char *group;
    zt_h5el **obs;
    size_t n_obs;
    zt_rdata *data;
    size_t n_data;
    int convert_units;
    double fac[ZT_N_ELEMENTS];  /* value unit -> MDAnalysis units (1 when native) */
    double tfac[ZT_N_ELEMENTS]; /* time unit -> ps */
    int64_t n_frames;
    int64_t *fstep;             /* step of every frame */
    double *ftime;              /* time of every frame (NaN when absent) */
    int64_t *fidx[ZT_N_ELEMENTS]; /* sample of each element at each frame, or -1 */
    zt_cache *cache;
    zt_pool *pool;              /* own decode pool when opts.threads > 0 */
    size_t readahead_bytes;     /* the window: 0 = no read-ahead */
    size_t ra_ahead;            /* of it: decoded chunks read ahead of the caller */
    size_t ra_flight;           /* of it: compressed chunks in flight (>= 32 MiB) */
    zt_readahead *ra;
    /* reused per-call buffers (the reader handle is used by one thread at a time) */
    zt_chunkref *refs;
    size_t refs_cap;
    zt_centry **ents;
    size_t ents_cap;
    void *scratch;
    char *info_buf;
    char dtype_buf[ZT_N_ELEMENTS][8];
};

/* Read-ahead (readahead.c): note an access to frame i; stop the worker. */
/* mask: bit k set = element k is being read. */
/* Bytes of one row-chunk (all atom/dim chunks of a block of rows). */
size_t zt__rowchunk_bytes(const zt_array *a);
void zt__readahead_note(zt_reader_t *r, int64_t i, unsigned mask);
void zt__readahead_stop(zt_reader_t *r);
/* Fetch these chunks into the cache in the background (the next round of a
 * timeseries or batch), if read-ahead is enabled. */
void zt__readahead_prefetch(zt_reader_t *r, const zt_chunkref *refs, size_t n);

/* Shared helpers (reader.c). */
int zt__rows_refs(const zt_array *a, int64_t row0, int64_t row1, int64_t t0, int64_t t1,
                  zt_chunkref **refs, size_t *n, size_t *cap);
void zt__copy_from_entries(const zt_array *a, const zt_chunkref *refs, zt_centry **es, size_t n,
                           const int64_t *start, const int64_t *count, void *out, char conv);
void zt__box_dimensions(const double m[3][3], double dims[6]);

#endif
