/* Internals shared by the codec sources (not used outside src/codec). */
#ifndef ZT_CODEC_INT_H
#define ZT_CODEC_INT_H

#include "codec/codec.h"

#include <stdbool.h>

/* Codec kinds: a filter keeps the element structure, a compressor emits an
 * opaque byte stream, a checksum appends a trailer. */
enum { ZT__KIND_FILTER = 0, ZT__KIND_COMPRESSOR = 1, ZT__KIND_CHECKSUM = 2 };

enum {
    ZT__C_BLOSC, ZT__C_ZSTD, ZT__C_ZLIB, ZT__C_GZIP, ZT__C_LZ4, ZT__C_BZ2, ZT__C_LZF,
    ZT__C_QUANTIZE, ZT__C_DELTA, ZT__C_FSO, ZT__C_SHUFFLE, ZT__C_ASTYPE, ZT__C_FLETCHER32,
    ZT__C_CRC32C, ZT__C_BITROUND, ZT__C_COUNT
};

/* A numpy scalar dtype: kind 'f', 'i' or 'u', size in bytes, byte order. */
typedef struct zt__cdtype {
    char kind;
    uint8_t size;
    bool swap; /* stored big-endian (we run on little-endian hosts only) */
} zt__cdtype;

/* Parse "<f4", ">i8", "|u1", "f8", "float32", ...; ZT_EUNSUPPORTED otherwise. */
int zt__codec_dtype_parse(const char *s, zt__cdtype *dt);
/* numpy's dtype.str for dt ("<f4", "|u1", ">i2"); static storage. */
const char *zt__codec_dtype_str(zt__cdtype dt);

/* Every codec this layer creates is a zt__codec; `pub` first so the pointers
 * convert both ways. */
typedef struct zt__codec {
    zt_codec pub;
    int cid;
    int kind;
    size_t typesize;   /* blosc: itemsize of the data it receives (numcodecs semantics) */
    bool identity_dec; /* decode leaves the bytes unchanged (pipeline skips the copy) */
    /* compressors */
    int level;         /* clevel / level / acceleration */
    int shuffle;       /* blosc */
    int blocksize;     /* blosc */
    int checksum;      /* zstd: -1 absent from config, else 0/1 */
    char cname[16];    /* blosc */
    /* filters: dt = decoded dtype, at = encoded dtype */
    zt__cdtype dt, at;
    int digits;
    double scale_f, offset_f;   /* fixedscaleoffset */
    int64_t scale_i, offset_i;
    bool scale_is_int, offset_is_int;
    size_t elemsize;   /* shuffle */
    int keepbits;      /* bitround */
    bool hdf5;         /* HDF5 flavour (shuffle tolerates a partial last element) */
} zt__codec;

/* The zt__codec behind c, or NULL when c was not created by this layer. */
zt__codec *zt__codec_impl(const zt_codec *c);

/* Allocate a codec of the given id with its vtable; config is stolen. */
zt__codec *zt__codec_alloc(int cid, int kind, json_t *config);

/* ---- compressors (compressors.c) ---- */
int zt__cmp_encode(const zt__codec *c, const void *in, size_t n, zt_buf *out);
/* Decode to exactly size bytes in dst. */
int zt__cmp_decode_into(const zt__codec *c, const void *in, size_t n, void *dst, size_t size);
/* Decode when the size is not known in advance. */
int zt__cmp_decode_buf(const zt__codec *c, const void *in, size_t n, zt_buf *out);
size_t zt__cmp_decoded_size(const zt__codec *c, const void *in, size_t n);

/* This thread's zstd decompression context (compressors.c); NULL when out of memory. */
struct ZSTD_DCtx_s *zt__zstd_dctx(void);

/* ---- our Blosc-1 decoder (bloscfast.c) ---- */
/* Decode a c-blosc 1.x buffer of the common kinds (lz4 or zstd, no/byte/bit
 * shuffle) to exactly size bytes: 0 on success, 1 when the buffer is of
 * another kind (nothing set: use libblosc), negative ZT_E* on corrupt input. */
int zt__blosc_fast_decode(const void *in, size_t n, void *dst, size_t size);
/* Bit unshuffle (bitshuffle library layout) of nelem elements of ts bytes,
 * nelem a multiple of 8; the scalar version is the reference. */
void zt__bitunshuffle(const void *src, void *dst, size_t nelem, size_t ts);
void zt__bitunshuffle_scalar(const void *src, void *dst, size_t nelem, size_t ts);

/* ---- filters and checksums (filters.c) ---- */
/* Encoded size of n decoded bytes (ZT_EINVAL when n is not a whole number of
 * elements). */
int zt__flt_encoded_size(const zt__codec *c, size_t n, size_t *out);
/* Decoded size of n encoded bytes (ZT_ECORRUPT when impossible). */
int zt__flt_decoded_size(const zt__codec *c, size_t n, size_t *out);
int zt__flt_encode(const zt__codec *c, const void *in, size_t n, zt_buf *out);
int zt__flt_decode_into(const zt__codec *c, const void *in, size_t n, void *dst, size_t size);
/* The compact preset's filters (fixedscaleoffset <f4 -> <i4, then delta <i4)
 * and their fused decode from a Fortran-order 3-D chunk into C order (1: shape
 * not handled). */
bool zt__flt_is_fso_i4_f4(const zt__codec *c);
bool zt__flt_is_delta_i4(const zt__codec *c);
bool zt__flt_f3_fusable(const int64_t *dims);
int zt__flt_fso_delta_from_f3(const zt__codec *fso, const void *in, void *out, const int64_t *dims);
/* The inverse: a float32 chunk in C order -> fixedscaleoffset(<f4 -> <i4) then
 * delta(<i4) of its Fortran-order transposition, in one tiled pass. 1 when the
 * codec or shape does not suit. */
int zt__flt_fso_delta_to_f3(const zt__codec *fso, const void *in, void *out, const int64_t *dims);
/* Fletcher-32 as HDF5 computes it (H5_checksum_fletcher32). */
uint32_t zt__fletcher32(const void *data, size_t n);
/* Verify a fletcher32 trailer; on success *payload = n - 4. */
int zt__fletcher32_check(const void *in, size_t n, size_t *payload);

/* Verify the trailer of a checksum codec (fletcher32, crc32c); *payload = n - 4. */
int zt__checksum_check(const zt__codec *c, const void *in, size_t n, size_t *payload);
/* Item size of the data a codec emits given the item size it receives
 * (numcodecs: filters return typed arrays, compressors bytes). */
size_t zt__codec_out_itemsize(const zt__codec *c, size_t in_itemsize);

/* ---- per-thread state (codec.c) ---- */
/* Pipelines decoding inside a codec of a pipeline (a Zarr v3 shard decoded
 * as one chunk decodes its inner chunks): each level its own scratch pair. */
#define ZT__PIPE_NEST 6
typedef struct zt__codec_tls {
    zt_buf scratch[ZT__PIPE_NEST][2];
    int depth; /* pipelines decoding on this thread now */
    void *zstd_dctx;
    void *zstd_cctx;
    zt_buf blosc_tmp; /* one shuffled block (bloscfast.c) */
} zt__codec_tls;
/* This thread's state; freed when the thread exits. NULL on allocation failure. */
zt__codec_tls *zt__codec_tls_get(void);

/* Size-mismatch error used by every decoder. */
int zt__err_size(const char *codec, size_t expected, size_t got);

#endif
