/* HDF5 layer internals: a (remote) HDF5 file becomes a node tree whose arrays
 * point at chunk byte ranges of the file, as kerchunk does. libhdf5 only reads
 * metadata, through our virtual file driver (vfd.c) on a zt_store; chunk bytes
 * are then fetched and decoded by the shared array path, never by libhdf5.
 *
 * Files: vfd.c (driver + block cache + the process-wide libhdf5 lock),
 * h5tree.c (walk, attributes, chunk index, locate), h5cache.c (tree
 * serialisation and the on-disk index cache), kerchunk.c (reference sets),
 * refs.c (a read-only store serving a reference set). */
#ifndef ZT_HDF5_H
#define ZT_HDF5_H

#include "array/array.h"
#include "array/format.h"

#include <jansson.h>

/* ---- libhdf5 access --------------------------------------------------------- */
/* Every call into libhdf5 runs under this one process-wide mutex (Debian's
 * libhdf5 must not be entered from two threads). zt__hdf5_lock also
 * initialises the library and our driver on first use and silences the
 * automatic error printing (restored by unlock). */
void zt__hdf5_lock(void);
void zt__hdf5_unlock(void);

/* Byte source for the driver: a store object read through a block cache. */
typedef struct zt_h5io zt_h5io;
typedef struct zt_h5io_opts {
    size_t block;        /* cache block size (bytes, power of two) */
    size_t initial;      /* first request: bytes from offset 0 */
    size_t readahead;    /* max bytes per miss when reads are sequential */
    size_t max_cache;    /* cache budget in bytes */
} zt_h5io_opts;
void zt__h5io_opts_default(const zt_options_t *opts, zt_h5io_opts *o);
int zt__h5io_new(zt_store *s, const char *url, int64_t size, const zt_h5io_opts *o, zt_h5io **out);
void zt__h5io_free(zt_h5io *io);
/* Where the bytes come from in an isolated parser (h5iso.c): n = 1 is one
 * range read (the return value is its error), n > 1 a batch (0 when it ran;
 * each request has its own status). Each request's out is filled. */
typedef int (*zt_h5io_fetch_fn)(void *ud, zt_req *reqs, size_t n);
void zt__h5io_set_fetch(zt_h5io *io, zt_h5io_fetch_fn fn, void *ud);
/* Read [off, off+n) (bytes past EOF read as zero). */
int zt__h5io_read(zt_h5io *io, uint64_t off, size_t n, void *dst);
/* Last store error seen by the driver (0 = none); message saved at that time. */
int zt__h5io_error(const zt_h5io *io, const char **msg);
/* A file access property list (caller closes) using our driver on io.
 * Requires the lock. */
int64_t zt__h5io_fapl(zt_h5io *io);

/* ---- arrays ------------------------------------------------------------------ */
enum { ZT_H5_NONE = 0, ZT_H5_CHUNKED, ZT_H5_CONTIG, ZT_H5_COMPACT, ZT_H5_UNSUPPORTED };

typedef struct zt_h5chunk {
    int64_t lin;      /* linear chunk number in the grid (C order) */
    uint64_t off;     /* file offset */
    uint32_t size;    /* stored bytes (HDF5 chunks are < 4 GiB) */
    uint32_t mask;    /* filter mask */
} zt_h5chunk;

/* Storage of one HDF5 dataset; shared (refcounted) by the arrays of all its
 * hard links. */
typedef struct zt_h5data {
    int refs;
    int layout;            /* ZT_H5_* */
    int64_t file_size;     /* -1 unknown */
    uint64_t base;         /* contiguous: address (UINT64_MAX = never written) */
    zt_h5chunk *tab;       /* chunked: sorted by lin */
    size_t n;
    uint8_t *inline_data;  /* compact: the raw bytes */
    size_t inline_len;
    json_t *filters;       /* [{"id":1,"name":"deflate","flags":0,"cd":[6]}, ...] */
    char *error;           /* ZT_H5_UNSUPPORTED: why */
    int id;                /* serialisation id (h5cache.c) */
} zt_h5data;

zt_h5data *zt__h5data_new(void);
void zt__h5data_unref(zt_h5data *d);

/* Geometry, dtype and fill of a dataset's array (chunks: the dataset's, or
 * the synthetic grid for contiguous/compact storage). */
typedef struct zt_h5meta {
    zt_dtype dtype;
    int ndim;
    int64_t shape[ZT_MAXDIM];
    int64_t chunks[ZT_MAXDIM];
    bool has_fill;
    uint8_t fill[8];
} zt_h5meta;
/* Create the array of a dataset (also used by the cache loader and for hard
 * links); takes a reference on d. Errors name file and path. */
int zt__h5_make_array(const char *path, const char *file, zt_store *s, const zt_h5meta *m,
                      zt_h5data *d, zt_array **out);
/* Whether a is an HDF5 array; returns its storage or NULL. */
zt_h5data *zt__h5_array_data(const zt_array *a);
/* Synthetic chunk grid of contiguous storage: chunks along axis 0 of at most
 * target bytes (a divisor of the row count so every chunk is whole). */
void zt__h5_contig_grid(const zt_h5meta *m, size_t target, int64_t *chunks);

/* Build the tree from an open file (h5tree.c; lock held). */
int zt__h5_build_tree(int64_t fid, zt_tree *t, int64_t file_size);
/* Open t->url with libhdf5 on io and build t->root (lock held). */
int zt__h5_parse(zt_h5io *io, zt_tree *t, int64_t file_size);

/* ---- isolation (h5iso.c) ---------------------------------------------------------- */
/* libhdf5 1.10.8 crashes, overflows buffers and hangs on some corrupt files,
 * so by default its parsing runs in a forked child that asks this process
 * for byte ranges and sends back the tree as JSON (zt__h5_tree_to_json).
 * Off with the storage option hdf5_isolate=false or ZARRTRAJ_HDF5_ISOLATE=0. */
bool zt__h5_isolate_enabled(const zt_options_t *opts);
/* Build t->root in a child (lock held). *done is false when no child could
 * be started (the caller then parses in process); else the result is rc. */
int zt__h5_parse_isolated(zt_store *s, const char *url, int64_t file_size, const zt_h5io_opts *o,
                          const zt_options_t *opts, zt_tree *t, bool *done);

/* ---- index cache (h5cache.c) ----------------------------------------------------- */
/* Serialise the whole tree (nodes, attrs, array metadata, chunk tables). */
int zt__h5_tree_to_json(const zt_tree *t, json_t **out);
/* Rebuild t->root from zt__h5_tree_to_json output (t->store/url set). */
int zt__h5_tree_from_json(zt_tree *t, const json_t *j, int64_t file_size);
/* Whether the index cache is on for these options (and env). */
bool zt__h5_index_cache_enabled(const zt_options_t *opts);
/* Cache file path for url (malloc'd), NULL when no cache directory. */
char *zt__h5_index_cache_path(const char *url);
int zt__h5_index_cache_load(const char *url, const zt_stat *st, zt_tree *t);
int zt__h5_index_cache_save(const char *url, const zt_stat *st, const zt_tree *t);

/* ---- kerchunk ------------------------------------------------------------------------ */
/* Reference set (kerchunk version 1) of an HDF5 tree; chunks point at target_url. */
int zt__hdf5_kerchunk_refs(zt_tree *t, const char *target_url, json_t **refs);

/* Tree of an HDF5/H5MD file on s (h5tree.c); takes the store on success. */
int zt__hdf5_open_tree(zt_store *s, const char *url, const zt_options_t *opts, zt_tree **out);
/* HDF5 (H5MD) writer back end: local path, or a temporary file uploaded at close. */
int zt__h5writer_open(const char *url, const zt_options_t *opts, bool overwrite, zt_wbackend **out);
/* H5MD compressor spec (NULL, "none", gzip/zlib, lzf, optionally with shuffle;
 * short form, JSON object or JSON list) -> normalised config for the HDF5
 * back end ({"id": "gzip", "level": 4, "shuffle": true}, NULL = none).
 * ZT_EUNSUPPORTED naming any other compressor. */
int zt__h5writer_compressor(const char *spec, json_t **out);

#endif
