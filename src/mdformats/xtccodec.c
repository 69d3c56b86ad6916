/* The XTC coordinate compression (xdr3dfcoord, Frans van Hoesel's algorithm
 * as published with GROMACS' xdrfile): coordinates are rounded to integers
 * at the frame's precision; each atom is either written "large" (offset from
 * the frame minimum, the three values packed as one mixed-radix integer) or,
 * in a run after a large atom, "small" (difference to the previous atom in a
 * radix from the magicints table whose index adapts along the frame). The
 * first atom of a run is swapped with the large one (water: O after H1).
 * Bits are written most significant first; a mixed-radix integer is written
 * as its little-endian bytes, the last one with the remaining bits. */
#include "mdformats/mdformats.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int zt__magicints[] = {
    0,       0,       0,       0,       0,        0,        0,        0,       0,       8,
    10,      12,      16,      20,      25,       32,       40,       50,      64,      80,
    101,     128,     161,     203,     256,      322,      406,      512,     645,     812,
    1024,    1290,    1625,    2048,    2580,     3250,     4096,     5060,    6501,    8192,
    10321,   13003,   16384,   20642,   26007,    32768,    41285,    52015,   65536,   82570,
    104031,  131072,  165140,  208063,  262144,   330280,   416127,   524287,  660561,  832255,
    1048576, 1321122, 1664510, 2097152, 2642245,  3329021,  4194304,  5284491, 6658042, 8388607,
    10568983, 13316085, 16777216};
#define ZT_FIRSTIDX 9
#define ZT_LASTIDX ((int)(sizeof zt__magicints / sizeof *zt__magicints))
#define ZT_MAXABS (INT_MAX - 2)

typedef unsigned __int128 zt_u128;

/* bits needed to hold values 0..size-1 ... as GROMACS' sizeofint: the number of
 * bits b with 2^b > size (so "size" itself fits) */
static int zt__sizeofint(uint64_t size) {
    int b = 0;
    uint64_t num = 1;
    while (size >= num && b < 32) {
        b++;
        num <<= 1;
    }
    return b;
}

/* bit length of the product of three sizes (GROMACS' sizeofints) */
static int zt__sizeofints(const uint32_t sizes[3]) {
    zt_u128 p = (zt_u128)sizes[0] * sizes[1] * sizes[2];
    int b = 0;
    while (p) {
        b++;
        p >>= 1;
    }
    return b;
}

/* ---- bit reader -------------------------------------------------------------- */
typedef struct zt_br {
    const uint8_t *p;
    size_t n, i;
    uint64_t acc;
    int nacc;
    bool err;
} zt_br;

/* The next nbits bits of the stream, most significant first; nbits <= 56
 * (the accumulator keeps at most 63). Refills take whole bytes, 7 at once
 * away from the end. */
static inline uint64_t zt__br_get(zt_br *b, int nbits) {
    if (b->nacc < nbits) {
        if (b->i + 8 <= b->n) {
            uint64_t w;
            memcpy(&w, b->p + b->i, 8);
            w = __builtin_bswap64(w);
            int take = (63 - b->nacc) >> 3; /* whole bytes that fit: 7 when empty */
            b->acc = (b->acc << (8 * take)) | (w >> (64 - 8 * take));
            b->i += (size_t)take;
            b->nacc += 8 * take;
        } else {
            while (b->nacc < nbits) {
                if (b->i >= b->n) {
                    b->err = true;
                    return 0;
                }
                b->acc = (b->acc << 8) | b->p[b->i++];
                b->nacc += 8;
            }
        }
    }
    b->nacc -= nbits;
    return (b->acc >> b->nacc) & ((1ull << nbits) - 1);
}

/* Division by a radix through its reciprocal: a 64-bit division costs tens
 * of cycles and was most of the decoding. m = ceil(2^64 / d) (0 for d = 1);
 * mulhi(n, m) is n / d or one more (the error term n*e/(d*2^64) < 1). */
typedef struct zt_rdiv {
    uint64_t d, m;
} zt_rdiv;

static inline zt_rdiv zt__rdiv(uint32_t d) {
    zt_rdiv r = {d, d > 1 ? UINT64_MAX / d + 1 : 0};
    return r;
}

static inline uint64_t zt__rdiv_q(uint64_t n, zt_rdiv r) {
    if (r.d <= 1) return n; /* d = 0 does not occur (radices are >= 1) */
    uint64_t q = (uint64_t)(((zt_u128)n * r.m) >> 64);
    return (zt_u128)q * r.d > n ? q - 1 : q; /* 128-bit: q * d may pass 2^64 */
}

/* big in radices sizes (value 0 most significant); false when value 0 is out of range. */
static inline bool zt__split3(uint64_t big, const uint32_t sizes[3], const zt_rdiv rd[3], int32_t out[3]) {
    uint64_t q = zt__rdiv_q(big, rd[2]);
    out[2] = (int32_t)(big - q * sizes[2]);
    uint64_t q2 = zt__rdiv_q(q, rd[1]);
    out[1] = (int32_t)(q - q2 * sizes[1]);
    out[0] = (int32_t)q2;
    return q2 < sizes[0];
}

/* Three values packed in nbits bits with radices sizes. GROMACS stores the
 * number as bytes, least significant first, each 8 bits of the stream, then
 * the last nbits % 8 bits. */
static inline bool zt__br_ints(zt_br *b, int nbits, const uint32_t sizes[3], const zt_rdiv rd[3], int32_t out[3]) {
    if (nbits <= 56) { /* the common case: read them in one go and reverse the bytes */
        int q = nbits >> 3, r = nbits & 7;
        uint64_t s = zt__br_get(b, nbits);
        uint64_t big = q ? __builtin_bswap64((s >> r) << (64 - 8 * q)) : 0;
        return zt__split3(big | (s & ((1ull << r) - 1)) << (8 * q), sizes, rd, out);
    }
    zt_u128 big = 0;
    int sh = 0;
    while (nbits > 8) {
        big |= (zt_u128)zt__br_get(b, 8) << sh;
        sh += 8;
        nbits -= 8;
    }
    if (nbits > 0) big |= (zt_u128)zt__br_get(b, nbits) << sh;
    if (!(big >> 64)) return zt__split3((uint64_t)big, sizes, rd, out);
    out[2] = (int32_t)(big % sizes[2]);
    big /= sizes[2];
    out[1] = (int32_t)(big % sizes[1]);
    big /= sizes[1];
    out[0] = (int32_t)(uint64_t)big;
    return big < sizes[0];
}

/* Most bytes natoms atoms can take: at worst 3 x 32 bits and a 6-bit run
 * flag each (a small value takes fewer); anything above is corrupt. */
static int64_t zt__xtc_max_bytes(int natoms) { return 13 * (int64_t)natoms + 16; }

/* The compressed byte count of a block with this magic: -1 when negative. */
static int64_t zt__xtc_nbytes(const uint8_t *p, int32_t magic) {
    if (magic != ZT_XTC_MAGIC_LONG) return zt__be32i(p + 36);
    uint64_t v = (uint64_t)zt__be32(p + 36) << 32 | zt__be32(p + 40);
    return v > (uint64_t)INT64_MAX ? -1 : (int64_t)v;
}

int64_t zt__xtc_coords_size(const uint8_t *p, size_t n, int natoms, int32_t magic, const char **why) {
    *why = NULL;
    if (n < 4) {
        *why = "coordinate block cut short";
        return 0;
    }
    if (zt__be32i(p) != natoms) {
        *why = "atom count of the coordinate block differs from the frame header";
        return 0;
    }
    if (natoms <= 9) return 4 + 12 * (int64_t)natoms;
    size_t head = zt__xtc_coords_head(magic);
    if (n < head) {
        *why = "coordinate block header cut short";
        return 0;
    }
    int64_t nb = zt__xtc_nbytes(p, magic);
    if (nb < 0) {
        *why = magic == ZT_XTC_MAGIC_LONG ? "negative 64-bit compressed byte count (magic 2023)" : "negative compressed byte count";
        return 0;
    }
    if (nb > zt__xtc_max_bytes(natoms)) {
        *why = magic == ZT_XTC_MAGIC_LONG ? "64-bit compressed byte count (magic 2023) larger than the atoms can need"
                                          : "compressed byte count larger than the atoms can need";
        return 0;
    }
    return (int64_t)head + ((nb + 3) & ~(int64_t)3);
}

static int zt__corrupt(const char *why) {
    return zt__err(ZT_ECORRUPT, "XTC compressed coordinates corrupt: %s", why);
}

int zt__xtc_decode_coords(const uint8_t *p, size_t n, int natoms, int32_t magic, float *out, size_t *used) {
    const char *why;
    if (natoms < 0) return zt__corrupt("negative atom count");
    if (!zt__xtc_magic_ok(magic)) return zt__corrupt("unknown frame magic number");
    int64_t need = zt__xtc_coords_size(p, n, natoms, magic, &why);
    if (!need) return zt__corrupt(why);
    if ((uint64_t)need > n) return zt__corrupt("coordinate block extends past the frame");
    if (used) *used = (size_t)need;
    if (natoms <= 9) {
        for (int i = 0; i < 3 * natoms; i++) out[i] = zt__be32f(p + 4 + 4 * (size_t)i);
        return 0;
    }
    float precision = zt__be32f(p + 4);
    if (!(precision > 0) || !isfinite(precision)) return zt__corrupt("precision is not a positive number");
    int32_t minint[3], maxint[3];
    uint32_t sizeint[3], bitsizeint[3] = {0, 0, 0};
    bool large = false;
    for (int k = 0; k < 3; k++) {
        minint[k] = zt__be32i(p + 8 + 4 * k);
        maxint[k] = zt__be32i(p + 20 + 4 * k);
        int64_t sz = (int64_t)maxint[k] - minint[k] + 1;
        if (sz <= 0 || sz > UINT32_MAX) return zt__corrupt("coordinate range (minint > maxint)");
        sizeint[k] = (uint32_t)sz;
        if (sz > 0xffffff) large = true;
    }
    zt_rdiv rdint[3] = {zt__rdiv(sizeint[0]), zt__rdiv(sizeint[1]), zt__rdiv(sizeint[2])};
    int bitsize = 0;
    if (large)
        for (int k = 0; k < 3; k++) bitsizeint[k] = (uint32_t)zt__sizeofint(sizeint[k]);
    else
        bitsize = zt__sizeofints(sizeint);
    int smallidx = zt__be32i(p + 32);
    if (smallidx < ZT_FIRSTIDX || smallidx >= ZT_LASTIDX) return zt__corrupt("small-value index out of range");
    int smaller = zt__magicints[smallidx - 1 > ZT_FIRSTIDX ? smallidx - 1 : ZT_FIRSTIDX] / 2;
    int smallnum = zt__magicints[smallidx] / 2;
    uint32_t sizesmall[3];
    sizesmall[0] = sizesmall[1] = sizesmall[2] = (uint32_t)zt__magicints[smallidx];
    zt_rdiv rdsmall[3];
    rdsmall[0] = rdsmall[1] = rdsmall[2] = zt__rdiv(sizesmall[0]);
    size_t head = zt__xtc_coords_head(magic);
    zt_br b = {p + head, (size_t)zt__xtc_nbytes(p, magic), 0, 0, 0, false};
    float inv = (float)(1.0 / (double)precision);
    int run = 0;
    int i = 0;
    float *o = out;
    while (i < natoms) {
        int32_t c[3], prev[3];
        if (large) {
            for (int k = 0; k < 3; k++) c[k] = (int32_t)zt__br_get(&b, (int)bitsizeint[k]);
            for (int k = 0; k < 3; k++)
                if ((uint32_t)c[k] >= sizeint[k]) return zt__corrupt("large value out of range");
        } else if (!zt__br_ints(&b, bitsize, sizeint, rdint, c)) {
            if (!b.err) return zt__corrupt("large value out of range");
        }
        i++;
        for (int k = 0; k < 3; k++) prev[k] = c[k] = (int32_t)((int64_t)c[k] + minint[k]);
        int flag = (int)zt__br_get(&b, 1);
        int is_smaller = 0;
        if (flag == 1) {
            run = (int)zt__br_get(&b, 5);
            is_smaller = run % 3;
            run -= is_smaller;
            is_smaller--;
        }
        if (b.err) return zt__corrupt("bit stream ends early");
        if (run > 0) {
            if (i + run / 3 > natoms) return zt__corrupt("run of small values past the last atom");
            for (int k = 0; k < run; k += 3) {
                int32_t s[3];
                if (!zt__br_ints(&b, smallidx, sizesmall, rdsmall, s) && !b.err)
                    return zt__corrupt("small value out of range");
                i++;
                for (int d = 0; d < 3; d++) s[d] = (int32_t)((int64_t)s[d] + prev[d] - smallnum);
                if (k == 0) {
                    /* the first of a run was swapped with the large atom */
                    for (int d = 0; d < 3; d++) {
                        int32_t t = s[d];
                        s[d] = prev[d];
                        prev[d] = t;
                    }
                    for (int d = 0; d < 3; d++) *o++ = (float)prev[d] * inv;
                } else {
                    for (int d = 0; d < 3; d++) prev[d] = s[d];
                }
                for (int d = 0; d < 3; d++) *o++ = (float)s[d] * inv;
            }
        } else {
            for (int d = 0; d < 3; d++) *o++ = (float)c[d] * inv;
        }
        if (b.err) return zt__corrupt("bit stream ends early");
        smallidx += is_smaller;
        if (smallidx < ZT_FIRSTIDX || smallidx >= ZT_LASTIDX) return zt__corrupt("small-value index out of range");
        if (is_smaller < 0) {
            smallnum = smaller;
            smaller = smallidx > ZT_FIRSTIDX ? zt__magicints[smallidx - 1] / 2 : 0;
        } else if (is_smaller > 0) {
            smaller = smallnum;
            smallnum = zt__magicints[smallidx] / 2;
        }
        if (is_smaller) {
            sizesmall[0] = sizesmall[1] = sizesmall[2] = (uint32_t)zt__magicints[smallidx];
            rdsmall[0] = rdsmall[1] = rdsmall[2] = zt__rdiv(sizesmall[0]);
        }
    }
    return 0;
}

/* ---- encoder ------------------------------------------------------------------- */
typedef struct zt_bw {
    zt_buf *b;
    uint64_t acc;
    int nacc;
    int rc;
} zt_bw;

static inline void zt__bw_put(zt_bw *w, int nbits, uint32_t v) {
    if (nbits <= 0) return;
    w->acc = (w->acc << nbits) | ((uint64_t)v & ((1ull << nbits) - 1));
    w->nacc += nbits;
    while (w->nacc >= 8) {
        w->nacc -= 8;
        uint8_t byte = (uint8_t)(w->acc >> w->nacc);
        if (!w->rc) w->rc = zt__buf_append(w->b, &byte, 1);
    }
}

static void zt__bw_flush(zt_bw *w) {
    if (w->nacc > 0) {
        uint8_t byte = (uint8_t)(w->acc << (8 - w->nacc));
        if (!w->rc) w->rc = zt__buf_append(w->b, &byte, 1);
        w->nacc = 0;
    }
}

static void zt__bw_ints(zt_bw *w, int nbits, const uint32_t sizes[3], const int32_t v[3]) {
    zt_u128 big = ((zt_u128)(uint32_t)v[0] * sizes[1] + (uint32_t)v[1]) * sizes[2] + (uint32_t)v[2];
    while (nbits > 8) {
        zt__bw_put(w, 8, (uint32_t)(big & 0xff));
        big >>= 8;
        nbits -= 8;
    }
    if (nbits > 0) zt__bw_put(w, nbits, (uint32_t)(big & ((1u << nbits) - 1)));
}

static int64_t zt__iabs(int64_t v) { return v < 0 ? -v : v; }

int zt__xtc_encode_coords(const float *x, int natoms, float precision, int32_t *magic, zt_buf *out) {
    uint8_t h[44];
    int32_t want = *magic;
    if (want && !zt__xtc_magic_ok(want)) return zt__err(ZT_EINVAL, "XTC: unknown magic number %d", (int)want);
    /* without a byte count the layouts are the same: 1995 unless asked */
    *magic = want ? want : ZT_XTC_MAGIC;
    int rc;
    zt__put_be32(h, (uint32_t)natoms);
    if (natoms <= 9) {
        if ((rc = zt__buf_append(out, h, 4))) return rc;
        for (int i = 0; i < 3 * natoms; i++) {
            zt__put_be32f(h, x[i]);
            if ((rc = zt__buf_append(out, h, 4))) return rc;
        }
        return 0;
    }
    if (!(precision > 0) || !isfinite(precision)) return zt__err(ZT_EINVAL, "XTC precision must be positive");
    size_t n3 = (size_t)natoms * 3;
    int32_t *ip = malloc(n3 * sizeof *ip);
    if (!ip) return zt__err(ZT_ENOMEM, "out of memory");
    int32_t minint[3] = {INT_MAX, INT_MAX, INT_MAX}, maxint[3] = {INT_MIN, INT_MIN, INT_MIN};
    int64_t mindiff = INT64_MAX;
    for (size_t i = 0; i < n3; i++) {
        /* rounding as xdrfile does it, so our integers are GROMACS' */
        float lf = x[i] * precision;
        if (lf >= 0.0f) lf = (float)((double)lf + 0.5);
        else lf = (float)((double)lf - 0.5);
        if (!(fabs((double)lf) <= (double)ZT_MAXABS)) { /* in double: (float)INT_MAX rounds up to 2^31 */
            free(ip);
            return zt__err(ZT_ERANGE, "XTC: coordinate %g of atom %zu does not fit the precision %g", (double)x[i],
                           i / 3, (double)precision);
        }
        ip[i] = (int32_t)lf;
        int k = (int)(i % 3);
        if (ip[i] < minint[k]) minint[k] = ip[i];
        if (ip[i] > maxint[k]) maxint[k] = ip[i];
        if (k == 2 && i >= 5) {
            int64_t d = zt__iabs((int64_t)ip[i - 5] - ip[i - 2]) + zt__iabs((int64_t)ip[i - 4] - ip[i - 1]) +
                        zt__iabs((int64_t)ip[i - 3] - ip[i]);
            if (d < mindiff) mindiff = d;
        }
    }
    uint32_t sizeint[3], bitsizeint[3] = {0, 0, 0};
    bool large = false;
    for (int k = 0; k < 3; k++) {
        int64_t sz = (int64_t)maxint[k] - minint[k] + 1;
        sizeint[k] = (uint32_t)sz;
        if (sz > 0xffffff) large = true;
    }
    int bitsize = 0;
    if (large)
        for (int k = 0; k < 3; k++) bitsizeint[k] = (uint32_t)zt__sizeofint(sizeint[k]);
    else
        bitsize = zt__sizeofints(sizeint);
    int smallidx = ZT_FIRSTIDX;
    while (smallidx < ZT_LASTIDX - 1 && zt__magicints[smallidx] < mindiff) smallidx++;
    int maxidx = smallidx + 8 < ZT_LASTIDX - 1 ? smallidx + 8 : ZT_LASTIDX - 1;
    int minidx = maxidx - 8;
    int smaller = zt__magicints[smallidx - 1 > ZT_FIRSTIDX ? smallidx - 1 : ZT_FIRSTIDX] / 2;
    int smallnum = zt__magicints[smallidx] / 2;
    uint32_t sizesmall[3];
    sizesmall[0] = sizesmall[1] = sizesmall[2] = (uint32_t)zt__magicints[smallidx];
    int larger = zt__magicints[maxidx] / 2;

    zt__put_be32f(h + 4, precision);
    for (int k = 0; k < 3; k++) {
        zt__put_be32(h + 8 + 4 * k, (uint32_t)minint[k]);
        zt__put_be32(h + 20 + 4 * k, (uint32_t)maxint[k]);
    }
    zt__put_be32(h + 32, (uint32_t)smallidx);
    /* auto: the 32-bit count, widened below in the (practically never) case
     * that the block passes 2^31 bytes */
    size_t head = zt__xtc_coords_head(want ? want : ZT_XTC_MAGIC);
    memset(h + 36, 0, 8);
    size_t h0 = out->len;
    if ((rc = zt__buf_append(out, h, head))) {
        free(ip);
        return rc;
    }
    zt_bw w = {out, 0, 0, 0};
    int32_t prev[3] = {0, 0, 0}, tmp[30];
    int prevrun = -1, i = 0;
    while (i < natoms && !w.rc) {
        int32_t *c = ip + (size_t)i * 3;
        int is_small = 0, is_smaller;
        if (smallidx < maxidx && i >= 1 && zt__iabs((int64_t)c[0] - prev[0]) < larger &&
            zt__iabs((int64_t)c[1] - prev[1]) < larger && zt__iabs((int64_t)c[2] - prev[2]) < larger)
            is_smaller = 1;
        else if (smallidx > minidx)
            is_smaller = -1;
        else
            is_smaller = 0;
        if (i + 1 < natoms && zt__iabs((int64_t)c[0] - c[3]) < smallnum && zt__iabs((int64_t)c[1] - c[4]) < smallnum &&
            zt__iabs((int64_t)c[2] - c[5]) < smallnum) {
            /* swap with the next atom: the decoder undoes it */
            for (int d = 0; d < 3; d++) {
                int32_t t = c[d];
                c[d] = c[d + 3];
                c[d + 3] = t;
            }
            is_small = 1;
        }
        int32_t t3[3];
        for (int d = 0; d < 3; d++) t3[d] = (int32_t)((int64_t)c[d] - minint[d]);
        if (large)
            for (int d = 0; d < 3; d++) zt__bw_put(&w, (int)bitsizeint[d], (uint32_t)t3[d]);
        else
            zt__bw_ints(&w, bitsize, sizeint, t3);
        for (int d = 0; d < 3; d++) prev[d] = c[d];
        c += 3;
        i++;
        int run = 0;
        if (!is_small && is_smaller == -1) is_smaller = 0;
        while (is_small && run < 8 * 3) {
            int64_t dx = (int64_t)c[0] - prev[0], dy = (int64_t)c[1] - prev[1], dz = (int64_t)c[2] - prev[2];
            if (is_smaller == -1 && dx * dx + dy * dy + dz * dz >= (int64_t)smaller * smaller) is_smaller = 0;
            tmp[run++] = (int32_t)(dx + smallnum);
            tmp[run++] = (int32_t)(dy + smallnum);
            tmp[run++] = (int32_t)(dz + smallnum);
            for (int d = 0; d < 3; d++) prev[d] = c[d];
            i++;
            c += 3;
            is_small = 0;
            if (i < natoms && zt__iabs((int64_t)c[0] - prev[0]) < smallnum &&
                zt__iabs((int64_t)c[1] - prev[1]) < smallnum && zt__iabs((int64_t)c[2] - prev[2]) < smallnum)
                is_small = 1;
        }
        if (run != prevrun || is_smaller != 0) {
            prevrun = run;
            zt__bw_put(&w, 1, 1);
            zt__bw_put(&w, 5, (uint32_t)(run + is_smaller + 1));
        } else {
            zt__bw_put(&w, 1, 0);
        }
        for (int k = 0; k < run; k += 3) zt__bw_ints(&w, smallidx, sizesmall, tmp + k);
        if (is_smaller != 0) {
            smallidx += is_smaller;
            if (is_smaller < 0) {
                smallnum = smaller;
                smaller = smallidx > ZT_FIRSTIDX ? zt__magicints[smallidx - 1] / 2 : 0;
            } else {
                smaller = smallnum;
                smallnum = zt__magicints[smallidx] / 2;
            }
            sizesmall[0] = sizesmall[1] = sizesmall[2] = (uint32_t)zt__magicints[smallidx];
        }
    }
    zt__bw_flush(&w);
    free(ip);
    if (w.rc) return w.rc;
    size_t nb = out->len - h0 - head;
    if (nb > (size_t)INT32_MAX && head == 40) {
        /* GROMACS reads the 1995 count as a signed int */
        if (want == ZT_XTC_MAGIC)
            return zt__err(ZT_ERANGE, "XTC: %zu compressed bytes do not fit the byte count of magic 1995", nb);
        if ((rc = zt__buf_resize(out, out->len + 4))) return rc;
        memmove(out->data + h0 + 44, out->data + h0 + 40, nb);
        head = 44;
    }
    if (head == 44) {
        zt__put_be32(out->data + h0 + 36, (uint32_t)((uint64_t)nb >> 32));
        zt__put_be32(out->data + h0 + 40, (uint32_t)nb);
        *magic = ZT_XTC_MAGIC_LONG;
    } else {
        zt__put_be32(out->data + h0 + 36, (uint32_t)nb);
        *magic = ZT_XTC_MAGIC;
    }
    static const uint8_t zero[4] = {0, 0, 0, 0};
    if (nb % 4) rc = zt__buf_append(out, zero, 4 - nb % 4);
    return rc;
}
