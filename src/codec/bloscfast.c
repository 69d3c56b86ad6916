/* Our own decoder for the common Blosc-1 buffers (c-blosc 1.x, format version
 * 2, lz4 or zstd inside, no/byte/bit shuffle). libblosc's decompressor costs
 * a malloc'd temporary per call (fresh pages, page faults) and a two-pass
 * bitunshuffle; here blocks decode straight into the destination, shuffled
 * blocks through one per-thread buffer that is reused. Anything unusual is
 * left to libblosc (return 1).
 *
 * Layout (c-blosc 1.21 blosc.c, blosc_d / serial_blosc): 16-byte header
 * (version, versionlz, flags, typesize, nbytes, blocksize, cbytes), then one
 * int32 start offset per block; a block is `nsplits` streams, each an int32
 * compressed size followed by that many bytes (size == stream length: stored
 * raw). Blocks split into typesize streams unless flag 0x10 (don't split), a
 * typesize above 16, fewer than 128 elements or the short last block say
 * otherwise. */
#include "codec/codec_int.h"

#include <stdint.h>
#include <string.h>

#include <blosc.h>
#include <lz4.h>
#include <zstd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define BF_MIN_BUFFERSIZE 128 /* c-blosc MIN_BUFFERSIZE */
#define BF_MAX_SPLITS 16      /* c-blosc MAX_SPLITS */
#define BF_DONT_SPLIT 0x10
#define BF_FUTURE_FLAGS 0x08

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- unshuffle ------------------------------------------------------------------ */

/* Transpose the 8x8 bit matrix held in x (byte = row, bit = column). */
static inline uint64_t trans_bit_8x8(uint64_t x) {
    uint64_t t;
    t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAull;
    x = x ^ t ^ (t << 7);
    t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCull;
    x = x ^ t ^ (t << 14);
    t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ull;
    x = x ^ t ^ (t << 28);
    return x;
}

/* Groups k0..k1 (8 elements each) of a bit-shuffled buffer of nelem elements:
 * plane p = byte*8 + bit holds nelem/8 bytes, bit i of its byte k being bit
 * (p % 8) of byte (p / 8) of element 8k + i. */
static void bitunshuffle_groups(const uint8_t *src, uint8_t *dst, size_t nelem, size_t ts,
                                size_t k0, size_t k1) {
    size_t P = nelem / 8;
    for (size_t k = k0; k < k1; k++) {
        for (size_t b = 0; b < ts; b++) {
            const uint8_t *pl = src + b * 8 * P + k;
            uint64_t x = 0;
            for (int t = 0; t < 8; t++) x |= (uint64_t)pl[(size_t)t * P] << (8 * t);
            x = trans_bit_8x8(x);
            uint8_t *o = dst + 8 * k * ts + b;
            for (int i = 0; i < 8; i++) o[(size_t)i * ts] = (uint8_t)(x >> (8 * i));
        }
    }
}

void zt__bitunshuffle_scalar(const void *src, void *dst, size_t nelem, size_t ts) {
    bitunshuffle_groups(src, dst, nelem, ts, 0, nelem / 8);
}

#ifdef __SSE2__
/* Swap the bits of a selected by (mask << s) with those of c selected by mask
 * (one step of the recursive 8x8 transpose, on 16 columns at once). */
#define BF_SWAP(a, c, s, mask)                                                          \
    do {                                                                                \
        __m128i x_ = _mm_and_si128(_mm_xor_si128(_mm_srli_epi16(a, s), c), mask);       \
        c = _mm_xor_si128(c, x_);                                                       \
        a = _mm_xor_si128(a, _mm_slli_epi16(x_, s));                                    \
    } while (0)

/* Bit-transpose 16 columns of the 8 planes starting at p (stride P): byte m
 * of row a[r] is then the byte these planes make up of element 8m + r. */
static inline void bit_transpose16(const uint8_t *p, size_t P, __m128i *a) {
    const __m128i m0f = _mm_set1_epi8(0x0F), m33 = _mm_set1_epi8(0x33), m55 = _mm_set1_epi8(0x55);
    for (int t = 0; t < 8; t++) a[t] = _mm_loadu_si128((const __m128i *)(p + (size_t)t * P));
    for (int t = 0; t < 4; t++) BF_SWAP(a[t], a[t + 4], 4, m0f);
    BF_SWAP(a[0], a[2], 2, m33);
    BF_SWAP(a[1], a[3], 2, m33);
    BF_SWAP(a[4], a[6], 2, m33);
    BF_SWAP(a[5], a[7], 2, m33);
    for (int t = 0; t < 8; t += 2) BF_SWAP(a[t], a[t + 1], 1, m55);
}

/* 128 elements of 4 bytes from the transposed rows R[byte][r]: interleave the
 * 4 byte positions, then transpose the 8 rows into element order. */
static inline void emit4_128(__m128i R[4][8], uint8_t *o, bool nt) {
    __m128i D[8][4]; /* D[r][q]: element 8m + r for m = 4q..4q+3 */
    for (int r = 0; r < 8; r++) {
        __m128i lo01 = _mm_unpacklo_epi8(R[0][r], R[1][r]), hi01 = _mm_unpackhi_epi8(R[0][r], R[1][r]);
        __m128i lo23 = _mm_unpacklo_epi8(R[2][r], R[3][r]), hi23 = _mm_unpackhi_epi8(R[2][r], R[3][r]);
        D[r][0] = _mm_unpacklo_epi16(lo01, lo23);
        D[r][1] = _mm_unpackhi_epi16(lo01, lo23);
        D[r][2] = _mm_unpacklo_epi16(hi01, hi23);
        D[r][3] = _mm_unpackhi_epi16(hi01, hi23);
    }
    for (int q = 0; q < 4; q++) {
        for (int h = 0; h < 2; h++) { /* elements 8m + 4h .. 8m + 4h + 3 */
            __m128i a = D[4 * h][q], b = D[4 * h + 1][q], c = D[4 * h + 2][q], d = D[4 * h + 3][q];
            __m128i t0 = _mm_unpacklo_epi32(a, b), t1 = _mm_unpacklo_epi32(c, d);
            __m128i t2 = _mm_unpackhi_epi32(a, b), t3 = _mm_unpackhi_epi32(c, d);
            __m128i rows[4] = {_mm_unpacklo_epi64(t0, t1), _mm_unpackhi_epi64(t0, t1),
                               _mm_unpacklo_epi64(t2, t3), _mm_unpackhi_epi64(t2, t3)};
            for (int j = 0; j < 4; j++) {
                __m128i *p = (__m128i *)(o + (size_t)(4 * q + j) * 32 + 16 * h);
                if (nt) _mm_stream_si128(p, rows[j]);
                else _mm_storeu_si128(p, rows[j]);
            }
        }
    }
}

/* typesize 4. The 32 planes usually lie a multiple of 4 KiB apart, so their
 * loads compete for the same L1 set: each step reads whole 64-byte lines of
 * 8 planes at a time (64 groups, 512 elements), then writes 2 KiB out. The
 * output (a block of MiBs, going to a chunk buffer not in cache) is written
 * with non-temporal stores when aligned: no read-for-ownership of lines we
 * overwrite whole (water box iteration: 0.50 -> 0.39 s CPU). */
static void bitunshuffle4_sse2(const uint8_t *src, uint8_t *dst, size_t nelem) {
    size_t P = nelem / 8, k = 0;
    bool nt = ((uintptr_t)dst & 15) == 0 && nelem * 4 >= ((size_t)256 << 10);
    __m128i S[4][4][8]; /* [16-group quarter][byte][row] */
    for (; k + 64 <= P; k += 64) {
        for (int b = 0; b < 4; b++)
            for (int q = 0; q < 4; q++) bit_transpose16(src + (size_t)b * 8 * P + k + 16 * q, P, S[q][b]);
        for (int q = 0; q < 4; q++) emit4_128(S[q], dst + (k + 16 * (size_t)q) * 32, nt);
    }
    for (; k + 16 <= P; k += 16) {
        for (int b = 0; b < 4; b++) bit_transpose16(src + (size_t)b * 8 * P + k, P, S[0][b]);
        emit4_128(S[0], dst + k * 32, nt);
    }
    if (nt) _mm_sfence(); /* order the streamed stores before the plain ones that follow */
    bitunshuffle_groups(src, dst, nelem, 4, k, P);
}

/* typesize 4 byte unshuffle, 16 elements per step. */
static size_t unshuffle4_sse2(const uint8_t *src, uint8_t *dst, size_t nelem) {
    size_t iend = nelem - nelem % 16;
    for (size_t i = 0; i < iend; i += 16) {
        __m128i v0 = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i v1 = _mm_loadu_si128((const __m128i *)(src + nelem + i));
        __m128i v2 = _mm_loadu_si128((const __m128i *)(src + 2 * nelem + i));
        __m128i v3 = _mm_loadu_si128((const __m128i *)(src + 3 * nelem + i));
        __m128i lo01 = _mm_unpacklo_epi8(v0, v1), hi01 = _mm_unpackhi_epi8(v0, v1);
        __m128i lo23 = _mm_unpacklo_epi8(v2, v3), hi23 = _mm_unpackhi_epi8(v2, v3);
        __m128i *o = (__m128i *)(dst + 4 * i);
        _mm_storeu_si128(o + 0, _mm_unpacklo_epi16(lo01, lo23));
        _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(lo01, lo23));
        _mm_storeu_si128(o + 2, _mm_unpacklo_epi16(hi01, hi23));
        _mm_storeu_si128(o + 3, _mm_unpackhi_epi16(hi01, hi23));
    }
    return iend;
}
#endif

void zt__bitunshuffle(const void *src, void *dst, size_t nelem, size_t ts) {
#ifdef __SSE2__
    if (ts == 4) {
        bitunshuffle4_sse2(src, dst, nelem);
        return;
    }
#endif
    zt__bitunshuffle_scalar(src, dst, nelem, ts);
}

/* Byte unshuffle: byte j of element i sits at src[j * nelem + i]. */
static void byteunshuffle(const uint8_t *src, uint8_t *dst, size_t nelem, size_t ts) {
    size_t i0 = 0;
#ifdef __SSE2__
    if (ts == 4) i0 = unshuffle4_sse2(src, dst, nelem);
#endif
    for (size_t i = i0; i < nelem; i++)
        for (size_t j = 0; j < ts; j++) dst[i * ts + j] = src[j * nelem + i];
}

/* ---- decoder -------------------------------------------------------------------- */

static int corrupt(size_t block, const char *what) {
    return zt__err(ZT_ECORRUPT, "blosc decompression failed: block %zu: %s", block, what);
}

int zt__blosc_fast_decode(const void *in_, size_t n, void *dst_, size_t size) {
    const uint8_t *in = in_;
    uint8_t *dst = dst_;
    if (n < BLOSC_MIN_HEADER_LENGTH) return 1;
    unsigned version = in[0], versionlz = in[1], flags = in[2], ts = in[3];
    uint32_t nbytes = rd32(in + 4), blocksize = rd32(in + 8), cbytes = rd32(in + 12);
    if (version != BLOSC_VERSION_FORMAT || (flags & BF_FUTURE_FLAGS) || ts == 0) return 1;
    if (nbytes != size || cbytes != n || nbytes > BLOSC_MAX_BUFFERSIZE) return 1;
    if (size == 0) return 0;
    /* libblosc rejects these before anything else */
    if (blocksize == 0 || blocksize > size || blocksize > BLOSC_MAX_BLOCKSIZE) return 1;
    if (flags & BLOSC_MEMCPYED) {
        if ((size_t)nbytes + BLOSC_MAX_OVERHEAD != cbytes) return 1;
        memcpy(dst, in + BLOSC_MAX_OVERHEAD, size);
        return 0;
    }
    unsigned compformat = flags >> 5;
    if ((compformat != BLOSC_LZ4_FORMAT && compformat != BLOSC_ZSTD_FORMAT) || versionlz != 1) return 1;

    size_t nblocks = nbytes / blocksize, leftover = nbytes % blocksize;
    if (leftover) nblocks++;
    if (nblocks > (n - BLOSC_MIN_HEADER_LENGTH) / 4)
        return zt__err(ZT_ECORRUPT, "blosc decompression failed: %zu blocks do not fit in %zu bytes",
                       nblocks, n);

    zt__codec_tls *tls = zt__codec_tls_get();
    if (!tls) return 1;
    ZSTD_DCtx *dctx = NULL;
    if (compformat == BLOSC_ZSTD_FORMAT) {
        if (!(dctx = zt__zstd_dctx())) return zt__err(ZT_ENOMEM, "zstd: cannot create context");
    }
    bool doshuffle = (flags & BLOSC_DOSHUFFLE) && ts > 1;
    if (doshuffle || (flags & BLOSC_DOBITSHUFFLE)) {
        int rc = zt__buf_reserve(&tls->blosc_tmp, blocksize);
        if (rc) return rc;
    }

    for (size_t j = 0; j < nblocks; j++) {
        bool last = leftover && j == nblocks - 1;
        size_t bsize = last ? leftover : blocksize;
        size_t nelem = bsize / ts;
        /* c-blosc's bitunshuffle runs only on whole groups of 8 elements; other
         * blocks are stored as they are */
        bool dobit = !doshuffle && (flags & BLOSC_DOBITSHUFFLE) && bsize >= ts && nelem % 8 == 0;
        size_t nsplits = !(flags & BF_DONT_SPLIT) && ts <= BF_MAX_SPLITS && nelem >= BF_MIN_BUFFERSIZE && !last
                             ? ts : 1;
        if (bsize % nsplits) return 1; /* libblosc leaves such blocks short: its error */
        size_t neblock = bsize / nsplits;
        uint8_t *out = dst + j * (size_t)blocksize;
        uint8_t *target = doshuffle || dobit ? tls->blosc_tmp.data : out;
        uint32_t off = rd32(in + BLOSC_MIN_HEADER_LENGTH + 4 * j);
        for (size_t s = 0; s < nsplits; s++) {
            if (off > INT32_MAX || off > n - 4) return corrupt(j, "stream offset out of range");
            uint32_t cs = rd32(in + off);
            off += 4;
            if (cs > INT32_MAX || cs > n - off) return corrupt(j, "stream size out of range");
            const uint8_t *src = in + off;
            if (cs == neblock) {
                memcpy(target, src, neblock);
            } else if (compformat == BLOSC_LZ4_FORMAT) {
                int r = LZ4_decompress_safe((const char *)src, (char *)target, (int)cs, (int)neblock);
                if (r < 0 || (size_t)r != neblock) return corrupt(j, "corrupt lz4 stream");
            } else {
                size_t r = ZSTD_decompressDCtx(dctx, target, neblock, src, cs);
                if (ZSTD_isError(r) || r != neblock) return corrupt(j, "corrupt zstd stream");
            }
            off += cs;
            target += neblock;
        }
        if (doshuffle || dobit) {
            const uint8_t *tmp = tls->blosc_tmp.data;
            if (doshuffle) byteunshuffle(tmp, out, nelem, ts);
            else zt__bitunshuffle(tmp, out, nelem, ts);
            size_t done = nelem * ts; /* bytes past the last whole element stay as stored */
            memcpy(out + done, tmp + done, bsize - done);
        }
    }
    return 0;
}
