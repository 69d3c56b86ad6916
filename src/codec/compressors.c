/* Byte-stream compressors, bit-compatible with numcodecs 0.11: blosc, zstd,
 * zlib, gzip, lz4, bz2; plus h5py's LZF filter for HDF5 chunks. */
#include "codec/codec_int.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <blosc.h>
#include <bzlib.h>
#include <lz4.h>
#include <zlib.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_findDecompressedSize */
#include <zstd.h>
#include <zstd_errors.h>
#ifdef ZT_HAVE_HDF5
#include <lzf.h>
#endif

static const char *cname_of(const zt__codec *c) { return c->pub.vt->id; }

/* ---- blosc ----------------------------------------------------------------- */

static int blosc_encode(const zt__codec *c, const void *in, size_t n, zt_buf *out) {
    if (n > BLOSC_MAX_BUFFERSIZE)
        return zt__err(ZT_EOVERFLOW, "blosc: chunk of %zu bytes exceeds blosc's %d-byte limit", n,
                       BLOSC_MAX_BUFFERSIZE);
    size_t cap = n + BLOSC_MAX_OVERHEAD;
    int rc = zt__buf_resize(out, cap);
    if (rc) return rc;
    /* numcodecs: AUTOSHUFFLE is bit-shuffle for itemsize 1, byte-shuffle otherwise */
    int shuffle = c->shuffle;
    if (shuffle == -1) shuffle = c->typesize == 1 ? BLOSC_BITSHUFFLE : BLOSC_SHUFFLE;
    int r = blosc_compress_ctx(c->level, shuffle, c->typesize, n, in, out->data, cap, c->cname,
                               (size_t)c->blocksize, 1);
    if (r <= 0) {
        out->len = 0;
        return zt__err(ZT_EINVAL, "blosc compression failed (error %d)", r);
    }
    out->len = (size_t)r;
    return 0;
}

/* Header check shared by decode and decoded_size; *nbytes = decoded size. */
static int blosc_header(const void *in, size_t n, size_t *nbytes) {
    if (n < BLOSC_MIN_HEADER_LENGTH || blosc_cbuffer_validate(in, n, nbytes) != 0)
        return zt__err(ZT_ECORRUPT, "blosc decompression failed: corrupt header (%zu bytes)", n);
    return 0;
}

static int blosc_decode_into(const void *in, size_t n, void *dst, size_t size) {
    size_t nbytes;
    int rc = blosc_header(in, n, &nbytes);
    if (rc) return rc;
    if (nbytes != size) return zt__err_size("blosc", size, nbytes);
    if (size == 0) return 0;
    rc = zt__blosc_fast_decode(in, n, dst, size);
    if (rc <= 0) return rc;
    int r = blosc_decompress_ctx(in, dst, size, 1); /* kinds our decoder leaves to libblosc */
    if (r < 0 || (size_t)r != size)
        return zt__err(ZT_ECORRUPT, "blosc decompression failed: corrupt data (error %d)", r);
    return 0;
}

/* ---- lz4 (numcodecs framing: uint32 little-endian size, then one block) ---- */

static int lz4_encode(const zt__codec *c, const void *in, size_t n, zt_buf *out) {
    if (n > LZ4_MAX_INPUT_SIZE)
        return zt__err(ZT_EOVERFLOW, "lz4: chunk of %zu bytes exceeds LZ4's limit", n);
    int bound = LZ4_compressBound((int)n);
    int rc = zt__buf_resize(out, (size_t)bound + 4);
    if (rc) return rc;
    uint32_t sz = (uint32_t)n;
    uint8_t *d = out->data;
    d[0] = (uint8_t)sz; d[1] = (uint8_t)(sz >> 8); d[2] = (uint8_t)(sz >> 16); d[3] = (uint8_t)(sz >> 24);
    int r = LZ4_compress_fast(in, (char *)d + 4, (int)n, bound, c->level);
    if (r <= 0) {
        out->len = 0;
        return zt__err(ZT_EINVAL, "lz4 compression failed");
    }
    out->len = (size_t)r + 4;
    return 0;
}

static int lz4_header(const void *in, size_t n, size_t *size) {
    const uint8_t *p = in;
    if (n < 4) return zt__err(ZT_ECORRUPT, "lz4: stream of %zu bytes is too short", n);
    uint32_t s = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    /* an LZ4 block expands at most 255x (each extra length byte adds 255) */
    if (s > INT_MAX || n - 4 > INT_MAX || (uint64_t)s > (uint64_t)(n - 4) * 255 + 64)
        return zt__err(ZT_ECORRUPT, "lz4: corrupt header (size %u from %zu bytes)", s, n);
    *size = s;
    return 0;
}

static int lz4_decode_into(const void *in, size_t n, void *dst, size_t size) {
    size_t hs = 0;
    int rc = lz4_header(in, n, &hs);
    if (rc) return rc;
    if (hs != size) return zt__err_size("lz4", size, hs);
    int r = LZ4_decompress_safe((const char *)in + 4, dst, (int)(n - 4), (int)size);
    if (r < 0) return zt__err(ZT_ECORRUPT, "lz4 decompression failed: corrupt data");
    if ((size_t)r != size) return zt__err_size("lz4", size, (size_t)r);
    return 0;
}

/* ---- zstd ------------------------------------------------------------------ */

ZSTD_DCtx *zt__zstd_dctx(void) {
    zt__codec_tls *t = zt__codec_tls_get();
    if (!t) return NULL;
    if (!t->zstd_dctx) t->zstd_dctx = ZSTD_createDCtx();
    return t->zstd_dctx;
}

static int zstd_encode(const zt__codec *c, const void *in, size_t n, zt_buf *out) {
    size_t bound = ZSTD_compressBound(n);
    if (ZSTD_isError(bound)) return zt__err(ZT_EOVERFLOW, "zstd: chunk of %zu bytes too large", n);
    int rc = zt__buf_resize(out, bound);
    if (rc) return rc;
    zt__codec_tls *t = zt__codec_tls_get();
    if (!t->zstd_cctx && !(t->zstd_cctx = ZSTD_createCCtx()))
        return zt__err(ZT_ENOMEM, "zstd: cannot create context");
    ZSTD_CCtx *cc = t->zstd_cctx;
    size_t r;
    if (c->checksum == 1) {
        /* numcodecs >= 0.12 Zstd(checksum=True): advanced API with the flag set */
        ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
        ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, c->level);
        ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
        r = ZSTD_compress2(cc, out->data, bound, in, n);
    } else {
        /* same output as ZSTD_compress(), which numcodecs 0.11 calls; it
         * compresses levels below 1 at level 1 (negative levels arrived in
         * later numcodecs, whose configs carry "checksum") */
        r = ZSTD_compressCCtx(cc, out->data, bound, in, n, c->level < 1 ? 1 : c->level);
    }
    if (ZSTD_isError(r)) {
        out->len = 0;
        return zt__err(ZT_EINVAL, "zstd compression failed: %s", ZSTD_getErrorName(r));
    }
    out->len = r;
    return 0;
}

static int zstd_decode_into(const void *in, size_t n, void *dst, size_t size) {
    ZSTD_DCtx *d = zt__zstd_dctx();
    if (!d) return zt__err(ZT_ENOMEM, "zstd: cannot create context");
    unsigned long long fcs = ZSTD_getFrameContentSize(in, n);
    if (fcs == ZSTD_CONTENTSIZE_ERROR)
        return zt__err(ZT_ECORRUPT, "zstd decompression failed: not a zstd frame");
    size_t r = ZSTD_decompressDCtx(d, dst, size, in, n);
    if (ZSTD_isError(r)) {
        if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall) {
            unsigned long long tot = ZSTD_findDecompressedSize(in, n);
            if (tot < ZSTD_CONTENTSIZE_ERROR) return zt__err_size("zstd", size, (size_t)tot);
            return zt__err(ZT_ECORRUPT, "zstd: decoded size mismatch: expected %zu bytes, got more",
                           size);
        }
        return zt__err(ZT_ECORRUPT, "zstd decompression failed: %s", ZSTD_getErrorName(r));
    }
    if (r != size) return zt__err_size("zstd", size, r);
    return 0;
}

static int zstd_decode_buf(const void *in, size_t n, zt_buf *out) {
    ZSTD_DCtx *d = zt__zstd_dctx();
    if (!d) return zt__err(ZT_ENOMEM, "zstd: cannot create context");
    if (ZSTD_getFrameContentSize(in, n) == ZSTD_CONTENTSIZE_ERROR)
        return zt__err(ZT_ECORRUPT, "zstd decompression failed: not a zstd frame");
    /* Streaming with a growing buffer: memory follows the real output, not a
     * size claimed by a (possibly hostile) header. */
    ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
    ZSTD_inBuffer ib = {in, n, 0};
    size_t cap = n < ((size_t)1 << 20) ? n * 4 + 4096 : n * 2;
    out->len = 0;
    size_t last = 1;
    for (;;) {
        if (out->len == out->cap || out->cap - out->len < 4096) {
            size_t want = out->cap ? out->cap * 2 : cap;
            if (want < out->cap) return zt__err(ZT_EOVERFLOW, "zstd: output too large");
            int rc = zt__buf_reserve(out, want);
            if (rc) return rc;
        }
        ZSTD_outBuffer ob = {out->data, out->cap, out->len};
        last = ZSTD_decompressStream(d, &ob, &ib);
        out->len = ob.pos;
        if (ZSTD_isError(last)) {
            out->len = 0;
            return zt__err(ZT_ECORRUPT, "zstd decompression failed: %s", ZSTD_getErrorName(last));
        }
        if (ib.pos == ib.size && ob.pos < ob.size) break; /* all input consumed and flushed */
    }
    if (last != 0) {
        out->len = 0;
        return zt__err(ZT_ECORRUPT, "zstd decompression failed: truncated frame");
    }
    return 0;
}

/* ---- zlib / gzip (one inflate loop for both containers) ---------------------- */

/* Inflate in[0..n) either into dst (exactly size bytes) or, with grow != NULL,
 * into a growing buffer. gzip: RFC 1952 members, concatenated members and
 * trailing zero padding accepted, as Python's gzip module does. When dst is
 * full, a 1-byte probe tells "stream ends here" from "more data follows". */
static int inflate_any(const char *name, bool gzip, const uint8_t *in, size_t n, uint8_t *dst,
                       size_t size, zt_buf *grow) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, gzip ? 16 + MAX_WBITS : MAX_WBITS) != Z_OK)
        return zt__err(ZT_ENOMEM, "%s: inflateInit failed", name);
    size_t in_pos = 0, out_pos = 0;
    int rc = 0;
    if (grow) grow->len = 0;
    for (;;) {
        if (grow && out_pos == grow->cap) {
            size_t want = grow->cap ? grow->cap * 2 : (n < ((size_t)1 << 20) ? n * 4 + 4096 : n * 2);
            if (want <= grow->cap) { rc = zt__err(ZT_EOVERFLOW, "%s: output too large", name); break; }
            if ((rc = zt__buf_reserve(grow, want))) break;
        }
        uint8_t probe;
        bool probing = !grow && out_pos == size;
        size_t ocap = grow ? grow->cap : size;
        size_t out_chunk = ocap - out_pos > UINT_MAX ? UINT_MAX : ocap - out_pos;
        size_t in_chunk = n - in_pos > UINT_MAX ? UINT_MAX : n - in_pos;
        zs.next_in = (Bytef *)(in_pos ? in + in_pos : in); /* in may be NULL when n == 0 */
        zs.avail_in = (uInt)in_chunk;
        zs.next_out = probing ? &probe : (grow ? grow->data : dst) + out_pos;
        zs.avail_out = probing ? 1 : (uInt)out_chunk;
        int zr = inflate(&zs, Z_NO_FLUSH);
        in_pos = (size_t)(zs.next_in - in);
        if (probing) {
            if (zs.avail_out == 0) {
                rc = zt__err(ZT_ECORRUPT, "%s: decoded size mismatch: expected %zu bytes, got more",
                             name, size);
                break;
            }
        } else {
            out_pos += out_chunk - zs.avail_out;
        }
        if (zr == Z_STREAM_END) {
            if (!gzip) break; /* trailing bytes ignored, as zlib.decompress does */
            while (in_pos < n && in[in_pos] == 0) in_pos++;
            if (in_pos == n) break;
            if (inflateReset(&zs) != Z_OK) {
                rc = zt__err(ZT_ECORRUPT, "%s decompression failed", name);
                break;
            }
            continue;
        }
        if (zr == Z_OK) continue; /* progress was made */
        if (zr == Z_BUF_ERROR)
            rc = zt__err(ZT_ECORRUPT, "%s decompression failed: truncated stream", name);
        else
            rc = zt__err(ZT_ECORRUPT, "%s decompression failed: %s", name,
                         zs.msg ? zs.msg : "corrupt stream");
        break;
    }
    inflateEnd(&zs);
    if (rc) {
        if (grow) grow->len = 0;
        return rc;
    }
    if (grow) {
        grow->len = out_pos;
    } else if (out_pos != size) {
        return zt__err_size(name, size, out_pos);
    }
    return 0;
}

static int deflate_any(const zt__codec *c, bool gzip, const void *in, size_t n, zt_buf *out) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    /* zlib: deflateInit(level) as Python's zlib.compress; gzip: the same raw
     * deflate settings as Python's GzipFile (memLevel 8), header mtime 0, OS 255 */
    if (deflateInit2(&zs, c->level, Z_DEFLATED, gzip ? 16 + MAX_WBITS : MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return zt__err(ZT_EINVAL, "%s: deflateInit failed (level %d)", cname_of(c), c->level);
    gz_header hdr;
    if (gzip) {
        memset(&hdr, 0, sizeof hdr);
        hdr.os = 255;
        deflateSetHeader(&zs, &hdr);
    }
    int rc = zt__buf_resize(out, deflateBound(&zs, n) + (gzip ? 32 : 0));
    size_t in_pos = 0, out_pos = 0;
    while (!rc) {
        if (out_pos == out->len && (rc = zt__buf_resize(out, out->len * 2 + 64))) break;
        size_t in_chunk = n - in_pos > UINT_MAX ? UINT_MAX : n - in_pos;
        size_t out_chunk = out->len - out_pos > UINT_MAX ? UINT_MAX : out->len - out_pos;
        zs.next_in = (Bytef *)(in_pos ? (const uint8_t *)in + in_pos : (const uint8_t *)in); /* in NULL when n == 0 */
        zs.avail_in = (uInt)in_chunk;
        zs.next_out = out->data + out_pos;
        zs.avail_out = (uInt)out_chunk;
        int flush = in_pos + in_chunk == n ? Z_FINISH : Z_NO_FLUSH;
        int zr = deflate(&zs, flush);
        in_pos += in_chunk - zs.avail_in;
        out_pos += out_chunk - zs.avail_out;
        if (zr == Z_STREAM_END) break;
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            rc = zt__err(ZT_EINVAL, "%s compression failed", cname_of(c));
    }
    deflateEnd(&zs);
    out->len = rc ? 0 : out_pos;
    return rc;
}

/* ---- bz2 --------------------------------------------------------------------- */

static int bz2_encode(const zt__codec *c, const void *in, size_t n, zt_buf *out) {
    bz_stream bs;
    memset(&bs, 0, sizeof bs);
    /* bz2.compress(data, level) = BZ2_bzCompressInit(level, 0, 0) */
    if (BZ2_bzCompressInit(&bs, c->level, 0, 0) != BZ_OK)
        return zt__err(ZT_EINVAL, "bz2: init failed (level %d)", c->level);
    int rc = zt__buf_resize(out, n + n / 100 + 600);
    size_t in_pos = 0, out_pos = 0;
    while (!rc) {
        if (out_pos == out->len && (rc = zt__buf_resize(out, out->len * 2))) break;
        size_t in_chunk = n - in_pos > UINT_MAX ? UINT_MAX : n - in_pos;
        size_t out_chunk = out->len - out_pos > UINT_MAX ? UINT_MAX : out->len - out_pos;
        bs.next_in = in_pos ? (char *)in + in_pos : (char *)in; /* in NULL when n == 0 */
        bs.avail_in = (unsigned)in_chunk;
        bs.next_out = (char *)out->data + out_pos;
        bs.avail_out = (unsigned)out_chunk;
        int r = BZ2_bzCompress(&bs, in_pos + in_chunk == n ? BZ_FINISH : BZ_RUN);
        in_pos += in_chunk - bs.avail_in;
        out_pos += out_chunk - bs.avail_out;
        if (r == BZ_STREAM_END) break;
        if (r != BZ_RUN_OK && r != BZ_FINISH_OK) rc = zt__err(ZT_EINVAL, "bz2 compression failed");
    }
    BZ2_bzCompressEnd(&bs);
    out->len = rc ? 0 : out_pos;
    return rc;
}

/* Concatenated streams are decoded like Python's bz2.decompress; trailing data
 * that is not a bzip2 stream after the first one is ignored as it does. */
static int bz2_decode_any(const uint8_t *in, size_t n, uint8_t *dst, size_t size, zt_buf *grow) {
    size_t in_pos = 0, out_pos = 0;
    int rc = 0, nstreams = 0;
    if (grow) grow->len = 0;
    while (!rc && in_pos < n) {
        bz_stream bs;
        memset(&bs, 0, sizeof bs);
        if (BZ2_bzDecompressInit(&bs, 0, 0) != BZ_OK) return zt__err(ZT_ENOMEM, "bz2: init failed");
        size_t stream_start = in_pos;
        int r;
        for (;;) {
            if (grow && out_pos == grow->cap) {
                size_t want = grow->cap ? grow->cap * 2 : n * 4 + 4096;
                if (want <= grow->cap) { rc = zt__err(ZT_EOVERFLOW, "bz2: output too large"); break; }
                if ((rc = zt__buf_reserve(grow, want))) break;
            }
            char probe;
            bool probing = !grow && out_pos == size;
            size_t ocap = grow ? grow->cap : size;
            size_t out_chunk = ocap - out_pos > UINT_MAX ? UINT_MAX : ocap - out_pos;
            size_t in_chunk = n - in_pos > UINT_MAX ? UINT_MAX : n - in_pos;
            const uint8_t *at = in_pos ? in + in_pos : in; /* in NULL when n == 0 */
            bs.next_in = (char *)at;
            bs.avail_in = (unsigned)in_chunk;
            bs.next_out = probing ? &probe : (char *)(grow ? grow->data : dst) + out_pos;
            bs.avail_out = probing ? 1 : (unsigned)out_chunk;
            r = BZ2_bzDecompress(&bs);
            size_t consumed = (size_t)((const uint8_t *)bs.next_in - at);
            in_pos += consumed;
            size_t produced = probing ? 1 - bs.avail_out : out_chunk - bs.avail_out;
            if (probing && produced) {
                rc = zt__err(ZT_ECORRUPT, "bz2: decoded size mismatch: expected %zu bytes, got more",
                             size);
                break;
            }
            if (!probing) out_pos += produced;
            if (r != BZ_OK) break;
            if (consumed == 0 && produced == 0) { /* stuck: input exhausted mid-stream */
                r = BZ_UNEXPECTED_EOF;
                break;
            }
        }
        BZ2_bzDecompressEnd(&bs);
        if (rc) break;
        if (r != BZ_STREAM_END) {
            if (nstreams > 0) { /* trailing garbage after a stream */
                in_pos = stream_start;
                break;
            }
            rc = r == BZ_UNEXPECTED_EOF
                     ? zt__err(ZT_ECORRUPT, "bz2 decompression failed: truncated stream")
                     : zt__err(ZT_ECORRUPT, "bz2 decompression failed: corrupt stream (%d)", r);
            break;
        }
        nstreams++;
    }
    if (!rc && nstreams == 0) rc = zt__err(ZT_ECORRUPT, "bz2 decompression failed: empty input");
    if (rc) {
        if (grow) grow->len = 0;
        return rc;
    }
    if (grow) grow->len = out_pos;
    else if (out_pos != size) return zt__err_size("bz2", size, out_pos);
    return 0;
}

/* ---- lzf (h5py's filter: the chunk is one raw LZF block) ------------------------ */

#ifdef ZT_HAVE_HDF5
static int lzf_encode(const void *in, size_t n, zt_buf *out) {
    if (n > UINT_MAX / 2) return zt__err(ZT_EOVERFLOW, "lzf: chunk of %zu bytes too large", n);
    if (n == 0) {
        out->len = 0;
        return 0;
    }
    /* incompressible data grows by at most n/32 + 1 bytes; h5py caps the
     * output at n and leaves such chunks unfiltered, which readers accept too */
    size_t cap = n + n / 16 + 64;
    int rc = zt__buf_resize(out, cap);
    if (rc) return rc;
    unsigned r = lzf_compress(in, (unsigned)n, out->data, (unsigned)cap);
    if (r == 0) {
        out->len = 0;
        return zt__err(ZT_EINVAL, "lzf compression failed");
    }
    out->len = r;
    return 0;
}

static int lzf_decode_into(const void *in, size_t n, void *dst, size_t size) {
    if (n > UINT_MAX || size > UINT_MAX)
        return zt__err(ZT_EOVERFLOW, "lzf: chunk too large");
    if (n == 0) return size == 0 ? 0 : zt__err_size("lzf", size, 0);
    errno = 0;
    unsigned r = lzf_decompress(in, (unsigned)n, dst, (unsigned)size);
    if (r == 0) {
        if (errno == E2BIG)
            return zt__err(ZT_ECORRUPT, "lzf: decoded size mismatch: expected %zu bytes, got more",
                           size);
        return zt__err(ZT_ECORRUPT, "lzf decompression failed: corrupt data");
    }
    if (r != size) return zt__err_size("lzf", size, r);
    return 0;
}

static int lzf_decode_buf(const void *in, size_t n, zt_buf *out) {
    if (n > UINT_MAX / 128) return zt__err(ZT_EOVERFLOW, "lzf: chunk too large");
    if (n == 0) {
        out->len = 0;
        return 0;
    }
    /* LZF expands at most ~100x (a 3-byte back reference yields 264 bytes) */
    for (size_t cap = n * 4 + 64;; cap *= 2) {
        if (cap > n * 128 + 64) cap = n * 128 + 64;
        int rc = zt__buf_resize(out, cap);
        if (rc) return rc;
        errno = 0;
        unsigned r = lzf_decompress(in, (unsigned)n, out->data, (unsigned)cap);
        if (r) {
            out->len = r;
            return 0;
        }
        if (errno != E2BIG || cap == n * 128 + 64) {
            out->len = 0;
            return zt__err(ZT_ECORRUPT, "lzf decompression failed: corrupt data");
        }
    }
}
#else
static int lzf_missing(void) {
    return zt__err(ZT_EUNSUPPORTED, "lzf: built without HDF5/LZF support");
}
#endif

/* ---- dispatch ---------------------------------------------------------------- */

int zt__cmp_encode(const zt__codec *c, const void *in, size_t n, zt_buf *out) {
    switch (c->cid) {
    case ZT__C_BLOSC: return blosc_encode(c, in, n, out);
    case ZT__C_ZSTD: return zstd_encode(c, in, n, out);
    case ZT__C_ZLIB: return deflate_any(c, false, in, n, out);
    case ZT__C_GZIP: return deflate_any(c, true, in, n, out);
    case ZT__C_LZ4: return lz4_encode(c, in, n, out);
    case ZT__C_BZ2: return bz2_encode(c, in, n, out);
#ifdef ZT_HAVE_HDF5
    case ZT__C_LZF: return lzf_encode(in, n, out);
#else
    case ZT__C_LZF: return lzf_missing();
#endif
    default: return zt__err(ZT_EINVAL, "%s is not a compressor", cname_of(c));
    }
}

int zt__cmp_decode_into(const zt__codec *c, const void *in, size_t n, void *dst, size_t size) {
    uint8_t dummy;
    if (!dst) dst = &dummy; /* size 0 */
    switch (c->cid) {
    case ZT__C_BLOSC: return blosc_decode_into(in, n, dst, size);
    case ZT__C_ZSTD: return zstd_decode_into(in, n, dst, size);
    case ZT__C_ZLIB: return inflate_any("zlib", false, in, n, dst, size, NULL);
    case ZT__C_GZIP: return inflate_any("gzip", true, in, n, dst, size, NULL);
    case ZT__C_LZ4: return lz4_decode_into(in, n, dst, size);
    case ZT__C_BZ2: return bz2_decode_any(in, n, dst, size, NULL);
#ifdef ZT_HAVE_HDF5
    case ZT__C_LZF: return lzf_decode_into(in, n, dst, size);
#else
    case ZT__C_LZF: return lzf_missing();
#endif
    default: return zt__err(ZT_EINVAL, "%s is not a compressor", cname_of(c));
    }
}

int zt__cmp_decode_buf(const zt__codec *c, const void *in, size_t n, zt_buf *out) {
    size_t size;
    int rc;
    switch (c->cid) {
    case ZT__C_BLOSC:
        if ((rc = blosc_header(in, n, &size))) return rc;
        break;
    case ZT__C_LZ4:
        if ((rc = lz4_header(in, n, &size))) return rc;
        break;
    case ZT__C_ZSTD: return zstd_decode_buf(in, n, out);
    case ZT__C_ZLIB: return inflate_any("zlib", false, in, n, NULL, 0, out);
    case ZT__C_GZIP: return inflate_any("gzip", true, in, n, NULL, 0, out);
    case ZT__C_BZ2: return bz2_decode_any(in, n, NULL, 0, out);
#ifdef ZT_HAVE_HDF5
    case ZT__C_LZF: return lzf_decode_buf(in, n, out);
#else
    case ZT__C_LZF: return lzf_missing();
#endif
    default: return zt__err(ZT_EINVAL, "%s is not a compressor", cname_of(c));
    }
    if ((rc = zt__buf_resize(out, size))) return rc;
    rc = zt__cmp_decode_into(c, in, n, out->data, size);
    if (rc) out->len = 0;
    return rc;
}

size_t zt__cmp_decoded_size(const zt__codec *c, const void *in, size_t n) {
    size_t size = 0;
    switch (c->cid) {
    case ZT__C_BLOSC:
        if (n >= BLOSC_MIN_HEADER_LENGTH && blosc_cbuffer_validate(in, n, &size) == 0) return size;
        return 0;
    case ZT__C_LZ4: {
        if (n < 4) return 0;
        const uint8_t *p = in;
        uint32_t s = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        return s > INT_MAX ? 0 : s;
    }
    case ZT__C_ZSTD: {
        unsigned long long s = ZSTD_getFrameContentSize(in, n);
        return s >= ZSTD_CONTENTSIZE_ERROR || s > SIZE_MAX ? 0 : (size_t)s;
    }
    default:
        return 0;
    }
}
