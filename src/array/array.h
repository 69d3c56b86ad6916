/* Chunked arrays and the node tree: what both the Zarr and the HDF5 layers
 * produce. An array is shape + chunk grid + dtype + codec pipeline + a locator
 * that maps a chunk index to (store key, byte range), so a Zarr hierarchy and
 * a (remote) HDF5 file share one fetch/decode/cache path. */
#ifndef ZT_ARRAY_H
#define ZT_ARRAY_H

#include "codec/codec.h"
#include "store/store.h"
#include "util/util.h"

#include <jansson.h>

#define ZT_MAXDIM 8

/* ---- dtypes ----------------------------------------------------------------- */
typedef struct zt_dtype {
    char kind;       /* 'f' float, 'i' signed, 'u' unsigned, 'b' bool */
    uint8_t size;    /* bytes: 1, 2, 4, 8 */
    bool big_endian; /* stored byte order */
} zt_dtype;

/* Parse a numpy dtype string ("<f4", ">i8", "|u1", "|b1"). ZT_EUNSUPPORTED
 * for anything else (strings, structured, complex). */
int zt__dtype_from_str(const char *s, zt_dtype *out);
/* numpy-style string of a dtype into buf (at least 8 bytes). */
const char *zt__dtype_to_str(zt_dtype dt, char *buf);
/* Convert n elements stored as dt (byte order included) to native types. */
void zt__convert_f32(const void *src, zt_dtype dt, size_t n, float *dst);
void zt__convert_f64(const void *src, zt_dtype dt, size_t n, double *dst);
/* int64 conversion saturates values that are no int64 (NaN -> 0);
 * _exact returns the index of the first such value (non-integral or
 * out-of-range float, uint64 above INT64_MAX), or n. */
void zt__convert_i64(const void *src, zt_dtype dt, size_t n, int64_t *dst);
size_t zt__convert_i64_exact(const void *src, zt_dtype dt, size_t n, int64_t *dst);
/* Strided gather+convert: n elements, src element i at src + i*src_stride_elems*size. */
void zt__convert_f32_strided(const void *src, zt_dtype dt, size_t n, size_t src_stride,
                             float *dst);

/* ---- chunk location ------------------------------------------------------------ */
typedef struct zt_chunk_loc {
    char *key;              /* store key (Zarr: chunk object), malloc'd by locate and
                               freed by zt__chunk_loc_clear; NULL = the file itself
                               (HDF5). Use zt__loc_key(). No length limit. */
    int64_t offset;         /* ZT_WHOLE or byte offset */
    int64_t length;         /* bytes when offset >= 0 */
    uint32_t filter_mask;   /* HDF5: bit i set = filter i skipped for this chunk */
    const uint8_t *inline_data; /* HDF5 compact storage: the raw bytes (owned by the array) */
    size_t inline_len;
    bool missing;           /* chunk never written: reads as the fill value */
    bool notfound_is_fill;  /* a missing object means "never written" (Zarr), not an error */
} zt_chunk_loc;

/* The store key of loc ("" for the file itself). */
static inline const char *zt__loc_key(const zt_chunk_loc *loc) { return loc->key ? loc->key : ""; }
/* Free loc's key (the location may be reused afterwards). */
void zt__chunk_loc_clear(zt_chunk_loc *loc);

typedef struct zt_array zt_array;

/* Backend hooks of an array. */
typedef struct zt_array_vt {
    /* Where chunk cidx lives; loc is zeroed by the caller, who frees it with
     * zt__chunk_loc_clear (also after an error). */
    int (*locate)(const zt_array *a, const int64_t *cidx, zt_chunk_loc *loc);
    void (*free)(zt_array *a); /* frees backend data (a->impl) */
    /* Optional: make locate cheap for chunks cidx[0..n) (n * ndim indexes),
     * e.g. fetch the shard indexes they need in one concurrent batch. Only
     * out of memory is an error; other failures show up in locate. */
    int (*prepare)(const zt_array *a, const int64_t *cidx, size_t n);
} zt_array_vt;

struct zt_array {
    char *path;          /* path inside the file ("particles/g/position/value") */
    const char *file;    /* display name of the file (owned by the tree) */
    int ndim;            /* 0 for scalars */
    int64_t shape[ZT_MAXDIM];
    int64_t chunks[ZT_MAXDIM]; /* the read grid: == shape (or 1 for 0-size dims) when
                                  contiguous; may be finer than the stored chunks */
    int64_t chunks_stored[ZT_MAXDIM]; /* the file's own chunk shape when the read grid
                                         differs (else all 0) */
    zt_dtype dtype;
    bool has_fill;
    uint8_t fill[8];     /* fill value in stored byte order */
    zt_pipeline *pipeline; /* never NULL (may be empty) */
    zt_store *store;     /* borrowed from the tree */
    const zt_array_vt *vt;
    void *impl;          /* backend data */
    uint64_t uid;        /* process-unique id, for cache keys */
    char *codecs_desc;   /* JSON description of codecs (for info) */
    uint8_t *preloaded;  /* whole array in stored dtype, when preloaded */
    bool order_f;        /* chunks stored in Fortran order (Zarr v2 "F"): the
                            pipeline's output is transposed to C order on decode
                            and C-order chunks before encode */
};

/* Allocate an array with a fresh uid (other fields zeroed). */
zt_array *zt__array_new(const char *path);
void zt__array_free(zt_array *a);

/* Geometry helpers (all overflow-checked at construction by zt__array_validate). */
int zt__array_validate(const zt_array *a); /* errors name a->file and a->path */
int64_t zt__array_nchunks_dim(const zt_array *a, int d);
int64_t zt__array_nchunks(const zt_array *a);      /* total chunks */
size_t zt__array_chunk_nelems(const zt_array *a);  /* elements per (full) chunk */
size_t zt__array_chunk_nbytes(const zt_array *a);
int64_t zt__array_nelems(const zt_array *a);
/* Linear chunk number <-> chunk grid index (C order). */
int64_t zt__array_chunk_linear(const zt_array *a, const int64_t *cidx);
void zt__array_chunk_index(const zt_array *a, int64_t lin, int64_t *cidx);

/* Decode raw stored bytes of chunk (per loc) into out (chunk_nbytes). Missing
 * chunk -> fill value (zeros when no fill). Errors name file, array and chunk. */
int zt__array_decode_chunk(const zt_array *a, const int64_t *cidx, const zt_chunk_loc *loc,
                           const void *raw, size_t n, void *out);
/* Reverse the axes of a packed chunk of shape dims (ndim >= 1, element size
 * sz): Fortran order -> C order (to_f = false) or C -> Fortran (true). */
void zt__transpose_chunk(const void *in, void *out, int ndim, const int64_t *dims, size_t sz, bool to_f);
/* A C-order chunk of a as the pipeline encodes it: data itself, or (order_f)
 * its transposition in a per-thread buffer valid until the thread's next call. */
int zt__array_chunk_for_encode(const zt_array *a, const void *data, const void **out);
/* Encode a C-order chunk of a through its pipeline into out (order_f: the
 * transposition fused with the compact filters where possible). */
int zt__array_encode_chunk(const zt_array *a, const void *data, zt_buf *out);
/* Fill a chunk buffer with the fill value. */
void zt__array_fill_chunk(const zt_array *a, void *out);

/* Synchronous read of one chunk (locate + fetch + decode). */
int zt__array_read_chunk(const zt_array *a, const int64_t *cidx, void *out);

/* Read a hyperslab [start, start+count) into out, packed C order, stored
 * dtype and byte order. Fetches the touched chunks in one batch. For small
 * arrays (step, time, observables) and tests; the trajectory engine uses the
 * chunk cache instead. */
int zt__array_read(const zt_array *a, const int64_t *start, const int64_t *count, void *out);
/* Copy the part of a decoded chunk (origin corg, in elements) that falls in
 * the box [start, start+count) into out, packed C order over the box, with
 * conversion: conv 'f' = float32, 'd' = float64, 'r' = raw stored bytes. */
void zt__copy_box_conv(const zt_array *a, const uint8_t *chunk, const int64_t *corg,
                       const int64_t *start, const int64_t *count, void *out, char conv);
/* Read several small arrays whole (step, time, box, ...) with every chunk of
 * all of them in one concurrent batch per store; identical chunk locations
 * (HDF5 hard links) are fetched once. Later zt__array_read calls are served
 * from memory. Arrays over max_bytes are skipped. */
int zt__arrays_preload(zt_array **arrays, size_t n, size_t max_bytes);
/* Whole array as doubles / int64 (allocates *out; n elements). */
int zt__array_read_all_f64(const zt_array *a, double **out, size_t *n);
int zt__array_read_all_i64(const zt_array *a, int64_t **out, size_t *n);

/* ---- node tree --------------------------------------------------------------------- */
typedef struct zt_node zt_node;
struct zt_node {
    char *name;        /* last path component ("" for the root) */
    char *path;        /* full path without leading '/' ("" for the root) */
    bool is_array;
    json_t *attrs;     /* JSON object, never NULL */
    zt_node **children;/* groups: children sorted by name */
    size_t n_children;
    zt_node *parent;
    zt_array *array;   /* numeric arrays; NULL for a dataset the array layer
                          cannot serve (strings, compound) */
    json_t *value;     /* small non-numeric dataset contents (e.g. an HDF5
                          string dataset) as JSON, else NULL */
};

typedef struct zt_tree zt_tree;
struct zt_tree {
    zt_node *root;
    zt_store *store;      /* owned */
    char *url;            /* as opened (display name) */
    const char *format;   /* "zarrmd" or "h5md" */
    void *impl;           /* backend state (e.g. HDF5 file handle) */
    void (*impl_free)(zt_tree *t);
};

zt_node *zt__node_new(const char *name, zt_node *parent, bool is_array);
/* Add child (keeps children sorted). */
int zt__node_add_child(zt_node *parent, zt_node *child);
void zt__node_free(zt_node *n);
zt_node *zt__node_child(const zt_node *n, const char *name);
/* Child named by the first len bytes of name. */
zt_node *zt__node_childn(const zt_node *n, const char *name, size_t len);
/* Find by relative path "a/b/c" (leading '/' ignored). NULL if absent. */
zt_node *zt__node_find(const zt_node *n, const char *path);

void zt__tree_free(zt_tree *t);
/* Opening a tree (format detection) is the format registry's job:
 * zt__tree_open in format/registry.h. */

/* JSON attribute helpers (NULL/-1 when absent or wrong type). */
const char *zt__attr_str(const zt_node *n, const char *key);
bool zt__attr_int(const zt_node *n, const char *key, int64_t *out);
bool zt__attr_num(const zt_node *n, const char *key, double *out);

#endif
