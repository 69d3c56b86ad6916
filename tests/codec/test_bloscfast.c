/* Our Blosc-1 decoder (src/codec/bloscfast.c) against libblosc: buffers that
 * libblosc compresses (every typesize, shuffle mode, codec, block size we
 * meet) decode to the original bytes; damaged buffers give an error or
 * libblosc's answer, never a crash; the SSE2 bitunshuffle equals the scalar
 * one and both equal the layout written bit by bit. */
#include "codec/codec_int.h"
#include "testutil.h"

#include <blosc.h>
#include <string.h>

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint32_t rng(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

/* Compressible but not trivial: slowly varying integers of ts bytes with a
 * noisy low byte, stretches of noise (stored-raw streams) and of zeros. */
static void fill(uint8_t *p, size_t n, size_t ts) {
    uint64_t v = rng();
    size_t i = 0;
    while (i < n) {
        size_t run = 1 + rng() % 4000;
        int mode = (int)(rng() % 8);
        for (size_t k = 0; k < run && i < n; k++) {
            uint8_t byte;
            size_t b = i % ts;
            if (b == 0) v += rng() % 5;
            if (mode == 0) byte = (uint8_t)rng();
            else if (mode == 1) byte = 0;
            else byte = b == 0 ? (uint8_t)(v ^ (rng() & 3)) : (uint8_t)(v >> (8 * (b % 8)));
            p[i++] = byte;
        }
    }
}

/* ---- bitunshuffle ----------------------------------------------------------------- */

/* Plane p = byte*8 + bit, nelem/8 bytes each; bit i of byte k is that bit of
 * element 8k + i. */
static void bitunshuffle_naive(const uint8_t *src, uint8_t *dst, size_t nelem, size_t ts) {
    size_t P = nelem / 8;
    memset(dst, 0, nelem * ts);
    for (size_t e = 0; e < nelem; e++)
        for (size_t b = 0; b < ts; b++)
            for (int t = 0; t < 8; t++)
                dst[e * ts + b] |= (uint8_t)(((src[(b * 8 + (size_t)t) * P + e / 8] >> (e % 8)) & 1) << t);
}

static void test_bitunshuffle(void) {
    static const size_t tss[] = {1, 2, 3, 4, 8, 16};
    static const size_t nelems[] = {8, 16, 120, 128, 136, 248, 256, 1024, 1032, 1160, 4104, 16384, 65536 + 200};
    int cases = 0;
    for (size_t a = 0; a < sizeof tss / sizeof *tss; a++) {
        for (size_t c = 0; c < sizeof nelems / sizeof *nelems; c++) {
            size_t ts = tss[a], ne = nelems[c], nb = ts * ne;
            uint8_t *src = malloc(nb), *ref = malloc(nb), *s1 = malloc(nb), *s2 = malloc(nb);
            uint8_t *s3 = malloc(nb + 1); /* unaligned output (no streaming stores) */
            for (size_t i = 0; i < nb; i++) src[i] = (uint8_t)rng();
            bitunshuffle_naive(src, ref, ne, ts);
            zt__bitunshuffle_scalar(src, s1, ne, ts);
            zt__bitunshuffle(src, s2, ne, ts);
            zt__bitunshuffle(src, s3 + 1, ne, ts);
            if (memcmp(ref, s1, nb) || memcmp(ref, s2, nb) || memcmp(ref, s3 + 1, nb)) {
                fprintf(stderr, "bitunshuffle ts %zu nelem %zu: scalar %s, fast %s\n", ts, ne,
                        memcmp(ref, s1, nb) ? "differs" : "ok", memcmp(ref, s2, nb) || memcmp(ref, s3 + 1, nb) ? "differs" : "ok");
                zt_test_failures++;
            }
            cases++;
            free(src); free(ref); free(s1); free(s2); free(s3);
        }
    }
    CHECK(cases == 78);
}

/* ---- differential ----------------------------------------------------------------- */

static int n_fast, n_fallback, n_cases;

/* Compress with libblosc, decode with ours; returns the compressed buffer
 * (exactly its size, malloc'd) for the damage tests. */
static uint8_t *one(const uint8_t *data, size_t size, size_t ts, int shuffle, const char *cname,
                    int clevel, size_t blocksize, size_t *clen) {
    size_t cap = size + BLOSC_MAX_OVERHEAD;
    uint8_t *tmp = malloc(cap);
    int r = blosc_compress_ctx(clevel, shuffle, ts, size, data, tmp, cap, cname, blocksize, 1);
    if (r <= 0) {
        fprintf(stderr, "blosc_compress_ctx %s ts %zu shuffle %d size %zu: %d\n", cname, ts, shuffle,
                size, r);
        zt_test_failures++;
        free(tmp);
        return NULL;
    }
    /* exactly r bytes, so ASan sees any overread */
    uint8_t *c = malloc((size_t)r);
    memcpy(c, tmp, (size_t)r);
    free(tmp);
    *clen = (size_t)r;
    uint8_t *out = malloc(size ? size : 1);
    memset(out, 0xA5, size);
    int rc = zt__blosc_fast_decode(c, (size_t)r, out, size);
    n_cases++;
    bool memcpyed = c[2] & BLOSC_MEMCPYED;
    bool ours = strcmp(cname, "zstd") == 0 || strcmp(cname, "lz4") == 0 || strcmp(cname, "lz4hc") == 0;
    /* every lz4/zstd buffer (and every stored one) is ours, blosclz is not */
    int want = size == 0 || memcpyed || ours ? 0 : 1;
    if (rc != want) {
        fprintf(stderr, "%s ts %zu shuffle %d clevel %d size %zu blocksize %zu (flags 0x%02x): rc %d, want %d (%s)\n",
                cname, ts, shuffle, clevel, size, blocksize, c[2], rc, want, rc < 0 ? zt_last_error() : "");
        zt_test_failures++;
    } else if (rc == 0 && size && memcmp(out, data, size) != 0) {
        size_t at = 0;
        while (out[at] == data[at]) at++;
        fprintf(stderr, "%s ts %zu shuffle %d clevel %d size %zu blocksize %zu (header blocksize %u flags 0x%02x): first difference at %zu\n",
                cname, ts, shuffle, clevel, size, blocksize,
                (unsigned)c[8] | (unsigned)c[9] << 8 | (unsigned)c[10] << 16, c[2], at);
        zt_test_failures++;
    }
    if (rc == 0) n_fast++;
    else n_fallback++;
    free(out);
    return c;
}

/* Damage c (flip bytes, cut it short with a matching header) and decode: an
 * error must carry our message; a success must agree with libblosc's. */
static int n_damaged, n_rejected, n_disagree;
static void damage(const uint8_t *c, size_t clen, size_t size) {
    uint8_t *buf = malloc(clen);
    uint8_t *ours = malloc(size ? size : 1), *theirs = malloc(size ? size : 1);
    for (int it = 0; it < 40; it++) {
        size_t len = clen;
        memcpy(buf, c, clen);
        int kind = it % 4;
        if (kind == 0 || kind == 1) { /* flips anywhere / in header + offsets + first stream sizes */
            int nflip = 1 + (int)(rng() % 3);
            size_t span = kind == 0 ? clen : (clen < 64 ? clen : 64);
            for (int f = 0; f < nflip; f++) buf[rng() % span] ^= (uint8_t)(1u << (rng() % 8));
        } else if (kind == 2) { /* cut short, header cbytes updated */
            if (clen <= BLOSC_MIN_HEADER_LENGTH) continue;
            len = BLOSC_MIN_HEADER_LENGTH + rng() % (clen - BLOSC_MIN_HEADER_LENGTH);
            buf[12] = (uint8_t)len; buf[13] = (uint8_t)(len >> 8);
            buf[14] = (uint8_t)(len >> 16); buf[15] = (uint8_t)(len >> 24);
        } else { /* a random 32-bit word in the block table or a stream size */
            if (clen < 20) continue;
            size_t at = BLOSC_MIN_HEADER_LENGTH + rng() % (clen - 19);
            uint32_t v = rng() % 3 == 0 ? rng() : (uint32_t)(rng() % (clen + 8));
            memcpy(buf + at, &v, 4);
        }
        uint8_t *in = malloc(len);
        memcpy(in, buf, len);
        n_damaged++;
        int rc = zt__blosc_fast_decode(in, len, ours, size);
        if (rc < 0) {
            n_rejected++;
            CHECK(strncmp(zt_last_error(), "blosc decompression failed", 26) == 0);
        } else if (rc == 0) {
            size_t nb = 0;
            int r = blosc_cbuffer_validate(in, len, &nb) == 0 && nb == size
                        ? blosc_decompress_ctx(in, theirs, size, 1) : -1;
            if (r != (int)size || memcmp(ours, theirs, size) != 0) n_disagree++;
        }
        free(in);
    }
    free(buf); free(ours); free(theirs);
}

static void test_differential(void) {
    static const size_t tss[] = {1, 2, 4, 8, 16, 3};
    static const char *const cnames[] = {"zstd", "lz4", "blosclz", "lz4hc"};
    static const int clevels[] = {1, 5};
    static const size_t sizes[] = {0, 1, 7, 15, 16, 100, 127, 128, 129, 255, 256, 333, 999, 1000,
                                   4099, 8192, 40000 + 12, 65536 * 2 + 24, 300007};
    static const size_t bsizes[] = {0, 256, 1024, 4096 + 12, 65536};
    size_t maxsize = 1 << 20;
    uint8_t *data = malloc(maxsize);
    int damaged_bufs = 0;
    for (size_t a = 0; a < sizeof tss / sizeof *tss; a++) {
        for (int sh = 0; sh < 3; sh++) {
            for (size_t ci = 0; ci < sizeof cnames / sizeof *cnames; ci++) {
                for (size_t li = 0; li < 2; li++) {
                    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
                        for (size_t bi = 0; bi < sizeof bsizes / sizeof *bsizes; bi++) {
                            size_t size = sizes[si], ts = tss[a];
                            if (size > 100000 && (li || bi % 2)) continue; /* keep the run short */
                            fill(data, size, ts);
                            size_t clen = 0;
                            uint8_t *c = one(data, size, ts, sh, cnames[ci], clevels[li], bsizes[bi], &clen);
                            if (c && size && size < 70000 && rng() % 8 == 0) {
                                damage(c, clen, size);
                                damaged_bufs++;
                            }
                            free(c);
                        }
                    }
                }
            }
        }
    }
    /* one large buffer per codec: a whole compact-preset-sized chunk */
    for (size_t ci = 0; ci < 2; ci++) {
        size_t size = maxsize - 4 * 37, clen;
        fill(data, size, 4);
        free(one(data, size, 4, BLOSC_BITSHUFFLE, cnames[ci], 5, 0, &clen));
        free(one(data, size, 4, BLOSC_SHUFFLE, cnames[ci], 5, 0, &clen));
    }
    free(data);
    fprintf(stderr, "differential: %d buffers, %d decoded by us, %d left to libblosc; "
                    "%d damaged buffers from %d: %d rejected, %d decoded differently from libblosc\n",
            n_cases, n_fast, n_fallback, n_damaged, damaged_bufs, n_rejected, n_disagree);
    CHECK(n_fast > n_cases / 2);
    CHECK(n_rejected > n_damaged / 10);
    CHECK(n_disagree == 0);
}

int main(void) {
    test_bitunshuffle();
    test_differential();
    TEST_DONE();
}
