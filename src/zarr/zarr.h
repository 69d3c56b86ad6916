/* Zarr v2: hierarchy reading (with or without consolidated .zmetadata) and
 * the metadata/chunk writing used by the zarrmd writer. */
#ifndef ZT_ZARR_H
#define ZT_ZARR_H

#include "array/array.h"
#include "array/format.h"

/* Build a zt_array from a parsed .zarray document. path is the array's path
 * in the hierarchy (chunk keys are path/i.j.k). */
int zt__zarr_array_from_json(const json_t *zarray, const char *path, const char *file,
                             zt_store *s, zt_array **out);

/* Read an uncompressed array row by row (byte ranges of its stored chunks)
 * instead of chunk by chunk; no-op for compressed arrays. Reading only. */
void zt__zarr_read_rows(zt_array *a);

/* .zarray document for an array (new reference). */
json_t *zt__zarr_array_to_json(const zt_array *a);

/* Serialise JSON the way zarr-python does (indent 4, sorted keys). malloc'd. */
char *zt__zarr_dumps(const json_t *j);

/* Store key of chunk cidx of array a (malloc'd; NULL when out of memory). */
char *zt__zarr_chunk_key(const zt_array *a, const int64_t *cidx);

/* Encode (pipeline) and put one chunk; scratch is reused between calls. */
int zt__zarr_write_chunk(zt_array *a, const int64_t *cidx, const void *data, zt_buf *scratch);

/* fill_value of a Zarr document (doc names it in errors: ".zarray",
 * "zarr.json"): number, bool, "NaN", "Infinity", "-Infinity"; null = none.
 * a->dtype (byte order included) must be set. */
int zt__zarr_parse_fill(zt_array *a, const json_t *fv, const char *file, const char *doc);
/* Node for path in t, creating missing parent groups. */
int zt__zarr_ensure_node(zt_tree *t, const char *path, bool is_array, zt_node **out);

/* Tree of a Zarr hierarchy (v2 or v3) on s; takes the store on success. */
int zt__zarr_open_tree(zt_store *s, const char *url, zt_tree **out);
/* zarrmd writer back end on any writable store (zwriter.c); zarr_format 2 or 3. */
int zt__zwriter_open(const char *url, const zt_options_t *opts, bool overwrite, int zarr_format, zt_wbackend **out);

/* Zarr v3 (zarr3.c). */
int zt__zarr3_array_from_json(const json_t *doc, const char *path, const char *file, zt_store *s, zt_array **out);
/* Store key of the stored chunk (the shard, when sharded) at grid index gidx
 * of a v3 array (malloc'd; NULL for other arrays or out of memory). */
char *zt__zarr3_chunk_key(const zt_array *a, const int64_t *gidx);
/* Encode and put stored chunk gidx of a v3 array (a shard: its inner chunks
 * below valid_rows rows, the others empty, then the index at the end). data
 * holds the whole stored chunk; scratch is reused between calls. */
int zt__zarr3_write_chunk(const zt_array *a, const int64_t *gidx, const void *data, int64_t valid_rows, zt_buf *scratch);
/* zarr.json of an array the writer makes: little endian, fill 0, the
 * transpose codec reversing the axes when order_f (Zarr v2's order "F"),
 * filters (numcodecs configs, as numcodecs.<id> codecs) or else numcodecs.quantize
 * at precision >= 0, the compressor (numcodecs config or NULL), sharded with
 * inner chunks of inner_rows rows when inner_rows > 0. NULL: unsupported dtype. */
json_t *zt__zarr3_array_doc(const zt_dtype dt, int ndim, const int64_t *shape, const int64_t *chunks,
                            int64_t inner_rows, const json_t *compressor, const json_t *filters, bool order_f,
                            int precision, const json_t *attrs);
/* Tree of the v3 hierarchy whose root zarr.json holds root_doc (the store is
 * the caller's on failure). */
int zt__zarr3_open_tree(zt_store *s, const char *url, const zt_buf *root_doc, zt_tree **out);

#endif
