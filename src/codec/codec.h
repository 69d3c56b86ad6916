/* numcodecs-compatible codec pipeline (bit-compatible with numcodecs 0.11) plus
 * the HDF5 filters, so Zarr chunks and raw HDF5 chunks decode through one path.
 *
 * A pipeline is an ordered list of codecs in *encode* order: for Zarr that is
 * filters[0..] then the compressor; for HDF5 the dataset's filter pipeline.
 * Decoding runs the list backwards. */
#ifndef ZT_CODEC_H
#define ZT_CODEC_H

#include "util/util.h"

#include <jansson.h>

typedef struct zt_codec zt_codec;

typedef struct zt_codec_vt {
    const char *id;
    /* Encode n bytes of in; out is replaced (len set). */
    int (*encode)(const zt_codec *c, const void *in, size_t n, zt_buf *out);
    /* Decode n bytes of in into out (replaced). `expected` is the decoded size
     * when the caller knows it (0 = unknown); codecs use it to size buffers and
     * must fail with ZT_ECORRUPT when the stream decodes to another size. */
    int (*decode)(const zt_codec *c, const void *in, size_t n, zt_buf *out, size_t expected);
    /* Decoded size if cheaply known from the stream header (blosc, lz4,
     * zstd with content size), else 0. May be NULL. */
    size_t (*decoded_size)(const zt_codec *c, const void *in, size_t n);
    void (*free)(zt_codec *c);
    /* Decode straight into dst (exactly size bytes), no buffer of its own;
     * may be NULL (decode then copies). Worth it for frame-sized outputs:
     * a fresh buffer per chunk costs page faults. */
    int (*decode_into)(const zt_codec *c, const void *in, size_t n, void *dst, size_t size);
} zt_codec_vt;

struct zt_codec {
    const zt_codec_vt *vt;
    json_t *config; /* normalised numcodecs config (all keys, defaults filled) */
};

/* Build a codec from a numcodecs config object ({"id": "blosc", ...}).
 * Unknown id: ZT_EUNSUPPORTED with message "unsupported codec 'foo'"; bad
 * parameters: ZT_EINVAL naming the key. */
int zt__codec_from_json(const json_t *config, zt_codec **out);
void zt__codec_free(zt_codec *c);

/* HDF5 filters by HDF5 filter id and client data (cd_values), with the
 * dataset element size (needed by shuffle). Ids: 1 deflate, 2 shuffle,
 * 3 fletcher32, 32000 lzf. Others: ZT_EUNSUPPORTED naming the filter. */
int zt__codec_from_hdf5(unsigned filter_id, const unsigned *cd_values, size_t n_cd,
                        size_t elem_size, const char *filter_name, zt_codec **out);

typedef struct zt_pipeline {
    zt_codec **codecs; /* encode order */
    size_t n;
} zt_pipeline;

/* Zarr: compressor (JSON object or null) and filters (JSON array or null). */
int zt__pipeline_from_zarr(const json_t *compressor, const json_t *filters,
                           zt_pipeline **out);
/* Empty pipeline (raw bytes). */
int zt__pipeline_new(zt_pipeline **out);
/* Append a codec (takes ownership). */
int zt__pipeline_push(zt_pipeline *p, zt_codec *c);
/* Insert a codec before all others in encode order, i.e. the last to decode
 * (takes ownership). */
int zt__pipeline_push_first(zt_pipeline *p, zt_codec *c);
void zt__pipeline_free(zt_pipeline *p);

/* Zarr .zarray members for this pipeline: the last codec is the compressor
 * unless it is a filter-type codec. New references; *filters may be null. */
int zt__pipeline_to_zarr(const zt_pipeline *p, json_t **compressor, json_t **filters);
/* Human-readable JSON description {"compressor":..., "filters":[...]} (malloc'd). */
char *zt__pipeline_describe(const zt_pipeline *p);

/* Decode a chunk: in (n bytes) -> out (exactly out_size bytes). skip_mask bit i
 * set = codec i was not applied (HDF5 filter mask). Any size mismatch or
 * decoder failure is ZT_ECORRUPT. Uses thread-local scratch buffers, so it
 * may run concurrently on several threads. */
int zt__pipeline_decode(const zt_pipeline *p, uint32_t skip_mask, const void *in,
                        size_t n, void *out, size_t out_size);
/* Decode a chunk stored in Fortran order (Zarr v2 order "F", a reversed v3
 * transpose) of a ndim-D array of elsize-byte elements with chunk shape dims
 * straight into C order in out, when the pipeline has a fused path (today:
 * the compact preset's fixedscaleoffset + delta on 3-D float32 chunks); tmp
 * (out_size bytes, the caller's) holds the intermediate. Returns 1, having
 * done nothing, when there is no fused path: the caller decodes and
 * transposes. */
int zt__pipeline_decode_f(const zt_pipeline *p, uint32_t skip_mask, const void *in, size_t n, void *tmp,
                          void *out, size_t out_size, int ndim, const int64_t *dims, size_t elsize);
/* The encoding counterpart: in is a C-order chunk; when the pipeline has the
 * fused path, its Fortran-order encoding goes to out (tmp: n bytes, the
 * caller's) and 0 is returned; 1 = no fused path (transpose, then encode). */
int zt__pipeline_encode_f(const zt_pipeline *p, const void *in, size_t n, void *tmp, int ndim, const int64_t *dims,
                          size_t elsize, zt_buf *out);
/* Encode a chunk of n bytes into out (replaced). */
int zt__pipeline_encode(const zt_pipeline *p, const void *in, size_t n, zt_buf *out);

/* Short codec spec -> numcodecs JSON config. Accepts a JSON object string,
 * "none"/"null" (-> NULL config), or ID[:key=value,...], e.g. "zstd",
 * "zstd:level=9", "blosc:cname=zstd,clevel=9,shuffle=2", "gzip:level=6". */
int zt__codec_spec_parse(const char *spec, json_t **config);

/* Quantize filter for `digits` decimal digits on dtype ("<f4"/"<f8"),
 * numcodecs Quantize(digits, dtype, astype=dtype). */
int zt__codec_quantize_new(int digits, const char *dtype, zt_codec **out);

/* CRC-32C (Castagnoli): Zarr v3's crc32c codec and shard index checksum. */
uint32_t zt__crc32c(const void *data, size_t n);

/* ---- additions -------------------------------------------------------------- */

/* Item size of the data a codec receives. numcodecs' Blosc compresses with
 * the numpy buffer's itemsize as typesize (for a Zarr chunk: the dtype size,
 * or the output dtype of the preceding filter); blosc honours it, the other
 * codecs ignore it. Default 1. Set before the codec is shared between threads. */
int zt__codec_set_typesize(zt_codec *c, size_t typesize);
/* Set the item size of the data entering the pipeline (the Zarr dtype's
 * itemsize) and propagate it through the filters (Quantize/Delta/
 * FixedScaleOffset/AsType emit their astype, Shuffle and compressors emit
 * bytes), so encoding matches zarr-python byte for byte. */
int zt__pipeline_set_typesize(zt_pipeline *p, size_t itemsize);

#endif
