/* numcodecs filters (Quantize, Delta, FixedScaleOffset, Shuffle, AsType) and
 * HDF5's shuffle and Fletcher-32 filters.
 *
 * numpy semantics reproduced here: arithmetic happens in the dtype numpy's
 * value-based casting picks (a Python scalar does not upcast a float32 array
 * unless it does not fit), np.around is round-half-even (rint), and casts are
 * C casts (integers wrap; out-of-range float->int casts, which numpy leaves
 * undefined, give a defined value here). */
#include "codec/codec_int.h"

#include <pthread.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- dtypes ------------------------------------------------------------------ */

int zt__codec_dtype_parse(const char *s, zt__cdtype *dt) {
    static const struct { const char *name; char kind; uint8_t size; } names[] = {
        {"float32", 'f', 4}, {"float64", 'f', 8}, {"int8", 'i', 1}, {"int16", 'i', 2},
        {"int32", 'i', 4},   {"int64", 'i', 8},   {"uint8", 'u', 1}, {"uint16", 'u', 2},
        {"uint32", 'u', 4},  {"uint64", 'u', 8},
    };
    if (!s) return ZT_EUNSUPPORTED;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i].name) == 0) {
            *dt = (zt__cdtype){names[i].kind, names[i].size, false};
            return 0;
        }
    }
    bool big = false;
    if (*s == '<' || *s == '=' || *s == '|') {
        s++;
    } else if (*s == '>') {
        big = true;
        s++;
    }
    char kind = s[0];
    if (kind != 'f' && kind != 'i' && kind != 'u') return ZT_EUNSUPPORTED;
    if (!s[1] || s[2]) return ZT_EUNSUPPORTED;
    int size = s[1] - '0';
    if (kind == 'f' ? size != 4 && size != 8 : size != 1 && size != 2 && size != 4 && size != 8)
        return ZT_EUNSUPPORTED;
    *dt = (zt__cdtype){kind, (uint8_t)size, big && size > 1};
    return 0;
}

const char *zt__codec_dtype_str(zt__cdtype dt) {
    static const char *const tab[2][3][4] = {
        /* little */ {{"<f4", "<f8", NULL, NULL}, {"|i1", "<i2", "<i4", "<i8"}, {"|u1", "<u2", "<u4", "<u8"}},
        /* big */ {{">f4", ">f8", NULL, NULL}, {"|i1", ">i2", ">i4", ">i8"}, {"|u1", ">u2", ">u4", ">u8"}},
    };
    int k = dt.kind == 'f' ? 0 : dt.kind == 'i' ? 1 : 2;
    int s = dt.size == 1 ? 0 : dt.size == 2 ? 1 : dt.size == 4 ? 2 : 3;
    if (k == 0) s = dt.size == 4 ? 0 : 1;
    const char *r = tab[dt.swap ? 1 : 0][k][s];
    return r ? r : "?";
}

/* ---- scalar values ------------------------------------------------------------- */

/* A value in one of numpy's computation types. */
enum { T_F32, T_F64, T_I64, T_U64 };
typedef struct num {
    int t;
    union { float f; double d; int64_t i; uint64_t u; } v;
} num;

static int dtype_t(zt__cdtype d) {
    return d.kind == 'f' ? (d.size == 4 ? T_F32 : T_F64) : d.kind == 'i' ? T_I64 : T_U64;
}

static uint64_t bswap_n(uint64_t x, int size) {
    switch (size) {
    case 2: return __builtin_bswap16((uint16_t)x);
    case 4: return __builtin_bswap32((uint32_t)x);
    case 8: return __builtin_bswap64(x);
    default: return x;
    }
}

static inline num load(zt__cdtype d, const uint8_t *p) {
    num r;
    uint64_t bits = 0;
    switch (d.size) {
    case 1: { uint8_t x; memcpy(&x, p, 1); bits = x; break; }
    case 2: { uint16_t x; memcpy(&x, p, 2); bits = x; break; }
    case 4: { uint32_t x; memcpy(&x, p, 4); bits = x; break; }
    default: memcpy(&bits, p, 8); break;
    }
    if (d.swap) bits = bswap_n(bits, d.size);
    if (d.kind == 'f') {
        if (d.size == 4) {
            uint32_t b = (uint32_t)bits;
            r.t = T_F32;
            memcpy(&r.v.f, &b, 4);
        } else {
            r.t = T_F64;
            memcpy(&r.v.d, &bits, 8);
        }
    } else if (d.kind == 'i') {
        r.t = T_I64;
        int sh = 64 - 8 * d.size;
        /* sign-extend without shifting into the sign bit */
        r.v.i = sh ? (int64_t)(bits ^ ((uint64_t)1 << (63 - sh))) - (int64_t)((uint64_t)1 << (63 - sh))
                   : (int64_t)bits;
    } else {
        r.t = T_U64;
        r.v.u = bits;
    }
    return r;
}

/* Store a value already in d's computation type (see cast). */
static inline void store(zt__cdtype d, uint8_t *p, num x) {
    uint64_t bits;
    if (x.t == T_F32) {
        uint32_t b;
        memcpy(&b, &x.v.f, 4);
        bits = b;
    } else if (x.t == T_F64) {
        memcpy(&bits, &x.v.d, 8);
    } else {
        bits = x.v.u; /* two's complement; truncated below */
    }
    if (d.swap) bits = bswap_n(bits, d.size);
    switch (d.size) {
    case 1: { uint8_t v = (uint8_t)bits; memcpy(p, &v, 1); break; }
    case 2: { uint16_t v = (uint16_t)bits; memcpy(p, &v, 2); break; }
    case 4: { uint32_t v = (uint32_t)bits; memcpy(p, &v, 4); break; }
    default: memcpy(p, &bits, 8); break;
    }
}

/* x86 truncating conversions (cvttsd2si): out of range gives INT_MIN. */
static int64_t trunc_i64(double x) {
    if (!(x >= -9223372036854775808.0 && x < 9223372036854775808.0)) return INT64_MIN;
    return (int64_t)x;
}
static int32_t trunc_i32(double x) {
    if (!(x > -2147483649.0 && x < 2147483648.0)) return INT32_MIN;
    return (int32_t)x;
}

/* Wrap an integer to the width and signedness of d. */
static num wrap_int(zt__cdtype d, uint64_t bits) {
    num r;
    if (d.size < 8) bits &= ((uint64_t)1 << (8 * d.size)) - 1;
    if (d.kind == 'i') {
        r.t = T_I64;
        if (d.size < 8) {
            uint64_t sign = (uint64_t)1 << (8 * d.size - 1);
            r.v.i = (int64_t)(bits ^ sign) - (int64_t)sign;
        } else {
            r.v.i = (int64_t)bits;
        }
    } else {
        r.t = T_U64;
        r.v.u = bits;
    }
    return r;
}

/* numpy astype: convert x to d's type (one rounding step, like a C cast). */
static num cast(num x, zt__cdtype d) {
    num r;
    int t = dtype_t(d);
    if (t == T_F32) {
        r.t = T_F32;
        switch (x.t) {
        case T_F32: r.v.f = x.v.f; break;
        case T_F64: r.v.f = (float)x.v.d; break;
        case T_I64: r.v.f = (float)x.v.i; break;
        default: r.v.f = (float)x.v.u; break;
        }
        return r;
    }
    if (t == T_F64) {
        r.t = T_F64;
        switch (x.t) {
        case T_F32: r.v.d = (double)x.v.f; break;
        case T_F64: r.v.d = x.v.d; break;
        case T_I64: r.v.d = (double)x.v.i; break;
        default: r.v.d = (double)x.v.u; break;
        }
        return r;
    }
    if (x.t == T_I64 || x.t == T_U64) return wrap_int(d, x.v.u);
    double f = x.t == T_F32 ? (double)x.v.f : x.v.d;
    uint64_t bits;
    if (d.size <= 2 || (d.size == 4 && d.kind == 'i')) {
        bits = (uint64_t)(int64_t)trunc_i32(f);
    } else if (d.size == 8 && d.kind == 'u' && f >= 9223372036854775808.0) {
        bits = (uint64_t)trunc_i64(f - 9223372036854775808.0) ^ ((uint64_t)1 << 63);
    } else {
        bits = (uint64_t)trunc_i64(f);
    }
    return wrap_int(d, bits);
}

/* a - b and a + b in d's type (integers wrap). */
static num arith(zt__cdtype d, num a, num b, bool sub) {
    num r;
    r.t = a.t;
    if (a.t == T_F32) r.v.f = sub ? a.v.f - b.v.f : a.v.f + b.v.f;
    else if (a.t == T_F64) r.v.d = sub ? a.v.d - b.v.d : a.v.d + b.v.d;
    else return wrap_int(d, sub ? a.v.u - b.v.u : a.v.u + b.v.u);
    return r;
}

/* ---- sizes ---------------------------------------------------------------------- */

/* Decoded / encoded element sizes of a filter (1/1 for byte filters). */
static void elem_sizes(const zt__codec *c, size_t *dsz, size_t *esz) {
    switch (c->cid) {
    case ZT__C_QUANTIZE: case ZT__C_DELTA: case ZT__C_FSO: case ZT__C_ASTYPE:
        *dsz = c->dt.size;
        *esz = c->at.size;
        return;
    default:
        *dsz = *esz = 1;
    }
}

int zt__flt_encoded_size(const zt__codec *c, size_t n, size_t *out) {
    if (c->cid == ZT__C_FLETCHER32 || c->cid == ZT__C_CRC32C) {
        if (n > SIZE_MAX - 4) return zt__err(ZT_EOVERFLOW, "fletcher32: size overflow");
        *out = n + 4;
        return 0;
    }
    size_t dsz, esz;
    elem_sizes(c, &dsz, &esz);
    if (n % dsz)
        return zt__err(ZT_EINVAL, "%s: %zu bytes is not a whole number of %zu-byte elements",
                       c->pub.vt->id, n, dsz);
    if (!zt__mulz_ok(n / dsz, esz, out)) return zt__err(ZT_EOVERFLOW, "%s: size overflow", c->pub.vt->id);
    return 0;
}

int zt__flt_decoded_size(const zt__codec *c, size_t n, size_t *out) {
    if (c->cid == ZT__C_FLETCHER32 || c->cid == ZT__C_CRC32C) {
        if (n < 4) return zt__err(ZT_ECORRUPT, "%s: chunk of %zu bytes has no checksum", c->pub.vt->id, n);
        *out = n - 4;
        return 0;
    }
    size_t dsz, esz;
    elem_sizes(c, &dsz, &esz);
    if (n % esz)
        return zt__err(ZT_ECORRUPT, "%s: %zu encoded bytes is not a whole number of %zu-byte elements",
                       c->pub.vt->id, n, esz);
    if (!zt__mulz_ok(n / esz, dsz, out)) return zt__err(ZT_EOVERFLOW, "%s: size overflow", c->pub.vt->id);
    return 0;
}

/* ---- quantize ---------------------------------------------------------------------- */

/* numcodecs.Quantize: precision = 10.**-digits; exp = math.log(precision, 10)
 * (= log(x)/log(10)), floored if negative else ceiled; bits =
 * ceil(math.log(10.**-exp, 2)); scale = 2.**bits. */
static double quantize_scale(int digits) {
    double precision = pow(10.0, -(double)digits);
    double e = log(precision) / log(10.0);
    e = e < 0 ? floor(e) : ceil(e);
    double bits = ceil(log(pow(10.0, -e)) / log(2.0));
    return ldexp(1.0, (int)bits);
}

static void quantize_encode(const zt__codec *c, const uint8_t *in, size_t count, uint8_t *out) {
    double scale = quantize_scale(c->digits);
    size_t ds = c->dt.size, as = c->at.size;
    /* float32 data: numpy multiplies in float32 unless the scalar overflows it */
    bool f32 = c->dt.size == 4 && fabs(scale) <= FLT_MAX;
    float sf = (float)scale;
    if (f32 && !c->dt.swap && !c->at.swap && as == 4) { /* hot path: <f4 -> <f4 */
        for (size_t i = 0; i < count; i++) {
            float x;
            memcpy(&x, in + 4 * i, 4);
            x = nearbyintf(sf * x) / sf;
            memcpy(out + 4 * i, &x, 4);
        }
        return;
    }
    for (size_t i = 0; i < count; i++) {
        num x = load(c->dt, in + i * ds), y;
        if (f32) {
            y.t = T_F32;
            y.v.f = nearbyintf(sf * x.v.f) / sf;
        } else {
            double v = x.t == T_F32 ? (double)x.v.f : x.v.d;
            y.t = T_F64;
            y.v.d = nearbyint(scale * v) / scale;
        }
        store(c->at, out + i * as, cast(y, c->at));
    }
}

/* ---- fixedscaleoffset ------------------------------------------------------------------ */

/* numpy value-based casting of a Python scalar against a float32 array: stays
 * float32 unless promote(float32, min_scalar_type(v)) is float64, i.e. for
 * ints outside int16/uint16 and floats beyond the float32 range. */
static bool scalar_keeps_f32(bool is_int, int64_t i, double f) {
    if (is_int) return i >= -32768 && i <= 65535;
    return !(fabs(f) > FLT_MAX) || isnan(f);
}

/* Apply x OP scalar where x is a float value (T_F32 or T_F64). */
static num float_op(num x, bool is_int, int64_t si, double sf, int op) {
    num r;
    if (x.t == T_F32 && scalar_keeps_f32(is_int, si, sf)) {
        float s = is_int ? (float)si : (float)sf;
        r.t = T_F32;
        r.v.f = op == '-' ? x.v.f - s : op == '*' ? x.v.f * s : op == '/' ? x.v.f / s : x.v.f + s;
    } else {
        double v = x.t == T_F32 ? (double)x.v.f : x.v.d;
        double s = is_int ? (double)si : sf;
        r.t = T_F64;
        r.v.d = op == '-' ? v - s : op == '*' ? v * s : op == '/' ? v / s : v + s;
    }
    return r;
}

static num to_f64(num x) {
    num r;
    r.t = T_F64;
    r.v.d = x.t == T_F32 ? (double)x.v.f : x.t == T_F64 ? x.v.d : x.t == T_I64 ? (double)x.v.i
                                                                              : (double)x.v.u;
    return r;
}

/* The dtype a Python int takes in numpy's value-based promotion against an
 * integer array of type arr: min_scalar_type(v), except that a non-negative
 * value that also fits the signed type of that size counts as signed when
 * arr is signed (numpy's "small unsigned" rule: int16 - 1000 stays int16). */
static zt__cdtype scalar_int_type(int64_t v, zt__cdtype arr) {
    if (v < 0)
        return (zt__cdtype){'i', (uint8_t)(v >= INT8_MIN ? 1 : v >= INT16_MIN ? 2 : v >= INT32_MIN ? 4 : 8),
                            false};
    uint8_t size = (uint8_t)(v < 256 ? 1 : v < 65536 ? 2 : v <= UINT32_MAX ? 4 : 8);
    bool small = size == 8 || v < ((int64_t)1 << (8 * size - 1));
    return (zt__cdtype){arr.kind == 'i' && small ? 'i' : 'u', size, false};
}

/* numpy promote_types for two integer dtypes; *to_f8 when it is float64
 * (uint64 with a signed type). */
static zt__cdtype promote_int(zt__cdtype a, zt__cdtype b, bool *to_f8) {
    zt__cdtype r = {a.kind, a.size > b.size ? a.size : b.size, false};
    if (a.kind == b.kind) return r;
    zt__cdtype sg = a.kind == 'i' ? a : b, un = a.kind == 'i' ? b : a;
    if (sg.size > un.size) return (zt__cdtype){'i', sg.size, false};
    if (un.size == 8) {
        *to_f8 = true;
        return r;
    }
    return (zt__cdtype){'i', (uint8_t)(un.size * 2), false};
}

static inline bool is_i4(zt__cdtype d) { return d.kind == 'i' && d.size == 4 && !d.swap; }

/* enc = np.around((arr - offset) * scale).astype(astype) */
static num fso_encode1(const zt__codec *c, num x) {
    num y;
    if (x.t == T_I64 || x.t == T_U64) {
        /* integer data: a Python int keeps the computation in an integer
         * type (wrapping); a float moves it to float64 */
        zt__cdtype T = c->dt;
        bool f8 = !c->offset_is_int;
        if (!f8) T = promote_int(T, scalar_int_type(c->offset_i, T), &f8);
        if (!f8) {
            y = wrap_int(T, x.v.u - (uint64_t)c->offset_i);
        } else {
            y = to_f64(x);
            y.v.d -= c->offset_is_int ? (double)c->offset_i : c->offset_f;
        }
        if (!f8 && c->scale_is_int) {
            T = promote_int(T, scalar_int_type(c->scale_i, T), &f8);
            if (!f8) return cast(wrap_int(T, y.v.u * (uint64_t)c->scale_i), c->at);
        }
        y = to_f64(y);
        y.v.d = nearbyint(y.v.d * (c->scale_is_int ? (double)c->scale_i : c->scale_f));
        return cast(y, c->at);
    }
    y = float_op(x, c->offset_is_int, c->offset_i, c->offset_f, '-');
    y = float_op(y, c->scale_is_int, c->scale_i, c->scale_f, '*');
    if (y.t == T_F32) y.v.f = nearbyintf(y.v.f);
    else y.v.d = nearbyint(y.v.d);
    return cast(y, c->at);
}

/* dec = ((enc / scale) + offset).astype(dtype); integer / anything is float64 */
static num fso_decode1(const zt__codec *c, num e) {
    if (e.t == T_I64 || e.t == T_U64) e = to_f64(e);
    num y = float_op(e, c->scale_is_int, c->scale_i, c->scale_f, '/');
    y = float_op(y, c->offset_is_int, c->offset_i, c->offset_f, '+');
    return cast(y, c->dt);
}

/* ---- shuffle ----------------------------------------------------------------------------- */

/* Byte shuffle (numcodecs Shuffle, HDF5 H5Z_FILTER_SHUFFLE): byte j of element
 * i goes to j*count + i; HDF5 copies a partial last element unchanged. */
static void shuffle_bytes(const uint8_t *in, size_t n, size_t es, uint8_t *out, bool unshuffle) {
    size_t count = es > 1 ? n / es : 0; /* elementsize 0 (a legal config) is a plain copy */
    if (es <= 1 || count <= 1) {
        if (n) memcpy(out, in, n); /* in may be NULL when n == 0 */
        return;
    }
    for (size_t j = 0; j < es; j++) {
        const uint8_t *s = unshuffle ? in + j * count : in + j;
        uint8_t *d = unshuffle ? out + j : out + j * count;
        if (unshuffle) {
            for (size_t i = 0; i < count; i++) d[i * es] = s[i];
        } else {
            for (size_t i = 0; i < count; i++) d[i] = s[i * es];
        }
    }
    size_t done = count * es;
    memcpy(out + done, in + done, n - done);
}

/* ---- fletcher32 ----------------------------------------------------------------------------- */

/* H5_checksum_fletcher32 (H5checksum.c): big-endian 16-bit words, sums
 * start at 0, reduced every 360 words; an odd last byte counts as its high
 * byte. Stored after the data in little-endian order (UINT32ENCODE). */
uint32_t zt__fletcher32(const void *data, size_t n) {
    const uint8_t *p = data;
    size_t words = n / 2;
    uint32_t s1 = 0, s2 = 0;
    while (words) {
        size_t t = words > 360 ? 360 : words;
        words -= t;
        do {
            s1 += (uint32_t)p[0] << 8 | p[1];
            p += 2;
            s2 += s1;
        } while (--t);
        s1 = (s1 & 0xffff) + (s1 >> 16);
        s2 = (s2 & 0xffff) + (s2 >> 16);
    }
    if (n % 2) {
        s1 += (uint32_t)p[0] << 8;
        s2 += s1;
        s1 = (s1 & 0xffff) + (s1 >> 16);
        s2 = (s2 & 0xffff) + (s2 >> 16);
    }
    s1 = (s1 & 0xffff) + (s1 >> 16);
    s2 = (s2 & 0xffff) + (s2 >> 16);
    return s2 << 16 | s1;
}

int zt__fletcher32_check(const void *in, size_t n, size_t *payload) {
    const uint8_t *p = in;
    if (n < 4) return zt__err(ZT_ECORRUPT, "fletcher32: chunk of %zu bytes has no checksum", n);
    size_t m = n - 4;
    uint32_t stored = (uint32_t)p[m] | (uint32_t)p[m + 1] << 8 | (uint32_t)p[m + 2] << 16 |
                      (uint32_t)p[m + 3] << 24;
    uint32_t sum = zt__fletcher32(p, m);
    /* HDF5 < 1.6.3 stored the value with the bytes of each half swapped;
     * H5Z_filter_fletcher32 still accepts that form */
    uint32_t rev = ((sum & 0x00ff00ffu) << 8) | ((sum >> 8) & 0x00ff00ffu);
    if (stored != sum && stored != rev)
        return zt__err(ZT_ECORRUPT,
                       "fletcher32 checksum mismatch: stored 0x%08x, computed 0x%08x (%zu bytes)",
                       stored, sum, m);
    *payload = m;
    return 0;
}

/* ---- crc32c and bitround ------------------------------------------------------------- */

static uint32_t zt__crc32c_tab[256];
static pthread_once_t zt__crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        zt__crc32c_tab[i] = c;
    }
}

uint32_t zt__crc32c(const void *data, size_t n) {
    pthread_once(&zt__crc32c_once, crc32c_init);
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = zt__crc32c_tab[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

int zt__checksum_check(const zt__codec *c, const void *in, size_t n, size_t *payload) {
    if (c->cid == ZT__C_FLETCHER32) return zt__fletcher32_check(in, n, payload);
    const uint8_t *src = in;
    if (n < 4) return zt__err(ZT_ECORRUPT, "crc32c: chunk of %zu bytes has no checksum", n);
    uint32_t got = zt__crc32c(src, n - 4), want = 0;
    for (int k = 0; k < 4; k++) want |= (uint32_t)src[n - 4 + (size_t)k] << (8 * k);
    if (got != want)
        return zt__err(ZT_ECORRUPT, "crc32c: checksum mismatch (stored 0x%08x, computed 0x%08x)", want, got);
    *payload = n - 4;
    return 0;
}

/* numcodecs BitRound.encode on float32 (typesize 4) or float64 (8) words. */
static int bitround_encode(const zt__codec *c, const uint8_t *src, size_t n, uint8_t *dst) {
    size_t ts = c->typesize;
    int bits = ts == 4 ? 23 : ts == 8 ? 52 : -1;
    if (bits < 0) return zt__err(ZT_EINVAL, "bitround: only float32 and float64 data (item size %zu)", ts);
    if (c->keepbits > bits) return zt__err(ZT_EINVAL, "bitround: keepbits %d exceeds %d mantissa bits", c->keepbits, bits);
    if (n % ts) return zt__err(ZT_EINVAL, "bitround: %zu bytes is not a whole number of elements", n);
    if (n) memcpy(dst, src, n);
    if (c->keepbits == bits) return 0;
    int maskbits = bits - c->keepbits;
    uint64_t all = ts == 4 ? 0xFFFFFFFFu : UINT64_MAX;
    uint64_t mask = (all >> maskbits) << maskbits, half = ((uint64_t)1 << (maskbits - 1)) - 1;
    for (size_t i = 0; i < n; i += ts) {
        uint64_t b = 0;
        memcpy(&b, dst + i, ts);
        b = (b + ((b >> maskbits) & 1) + half) & mask & all;
        memcpy(dst + i, &b, ts);
    }
    return 0;
}

/* ---- dispatch ------------------------------------------------------------------------------ */

/* float32 -> int32 with float scalars (the compact preset): the same float32
 * steps as fso_encode1, without the generic value dispatch per element. */
static bool fso_f32_fast(const zt__codec *c) {
    return c && c->cid == ZT__C_FSO && c->dt.kind == 'f' && c->dt.size == 4 && !c->dt.swap && is_i4(c->at) &&
           !c->offset_is_int && !c->scale_is_int && scalar_keeps_f32(false, 0, c->offset_f) &&
           scalar_keeps_f32(false, 0, c->scale_f);
}

static inline int32_t fso_enc_f32(float x, float off, float sc) {
    float y = (x - off) * sc;
    /* |y| < 2^22: adding 1.5 * 2^23 leaves units in the last place, so the
     * sum is y rounded half to even (nearbyintf, inline and vectorisable) */
    if (y > -4194304.0f && y < 4194304.0f) return (int32_t)((y + 12582912.0f) - 12582912.0f);
    return trunc_i32((double)nearbyintf(y));
}

int zt__flt_encode(const zt__codec *c, const void *in, size_t n, zt_buf *out) {
    size_t m;
    int rc;
    const uint8_t *src = in;
    if (c->cid == ZT__C_SHUFFLE && !c->hdf5 && c->elemsize > 1 && n % c->elemsize)
        return zt__err(ZT_EINVAL, "shuffle: %zu bytes is not a multiple of elementsize %zu", n,
                       c->elemsize);
    if ((rc = zt__flt_encoded_size(c, n, &m))) return rc;
    if ((rc = zt__buf_resize(out, m))) return rc;
    uint8_t *dst = out->data;
    switch (c->cid) {
    case ZT__C_QUANTIZE:
        quantize_encode(c, src, n / c->dt.size, dst);
        break;
    case ZT__C_DELTA: {
        if (is_i4(c->dt) && is_i4(c->at)) { /* wrapping int32 differences */
            uint32_t prev = 0;
            for (size_t i = 0, count = n / 4; i < count; i++) {
                uint32_t x, d;
                memcpy(&x, src + 4 * i, 4);
                d = i == 0 ? x : x - prev;
                memcpy(dst + 4 * i, &d, 4);
                prev = x;
            }
            break;
        }
        /* enc[0] = arr[0]; enc[1:] = np.diff(arr) (in dtype), then astype */
        size_t count = n / c->dt.size;
        num prev = {0};
        for (size_t i = 0; i < count; i++) {
            num x = load(c->dt, src + i * c->dt.size);
            num d = i == 0 ? x : arith(c->dt, x, prev, true);
            store(c->at, dst + i * c->at.size, cast(d, c->at));
            prev = x;
        }
        break;
    }
    case ZT__C_FSO: {
        size_t count = n / c->dt.size;
        if (fso_f32_fast(c)) {
            float off = (float)c->offset_f, sc = (float)c->scale_f;
            for (size_t i = 0; i < count; i++) {
                float x;
                memcpy(&x, src + 4 * i, 4);
                int32_t v = fso_enc_f32(x, off, sc);
                memcpy(dst + 4 * i, &v, 4);
            }
            break;
        }
        for (size_t i = 0; i < count; i++)
            store(c->at, dst + i * c->at.size, fso_encode1(c, load(c->dt, src + i * c->dt.size)));
        break;
    }
    case ZT__C_ASTYPE: {
        size_t count = n / c->dt.size;
        for (size_t i = 0; i < count; i++)
            store(c->at, dst + i * c->at.size, cast(load(c->dt, src + i * c->dt.size), c->at));
        break;
    }
    case ZT__C_SHUFFLE:
        shuffle_bytes(src, n, c->elemsize, dst, false);
        break;
    case ZT__C_BITROUND:
        if ((rc = bitround_encode(c, src, n, dst))) {
            out->len = 0;
            return rc;
        }
        break;
    case ZT__C_CRC32C: {
        if (n) memcpy(dst, src, n);
        uint32_t s = zt__crc32c(src, n);
        for (int k = 0; k < 4; k++) dst[n + (size_t)k] = (uint8_t)(s >> (8 * k));
        break;
    }
    case ZT__C_FLETCHER32: {
        if (n) memcpy(dst, src, n);
        uint32_t s = zt__fletcher32(src, n);
        dst[n] = (uint8_t)s;
        dst[n + 1] = (uint8_t)(s >> 8);
        dst[n + 2] = (uint8_t)(s >> 16);
        dst[n + 3] = (uint8_t)(s >> 24);
        break;
    }
    default:
        out->len = 0;
        return zt__err(ZT_EINVAL, "%s is not a filter", c->pub.vt->id);
    }
    return 0;
}

/* float32(e / scale + offset) in float64, as numpy computes it. With an
 * integral scale s <= 2^20, offset 0 and |e| < 2^24, e * (1/s) rounds to the
 * same float32: a quotient that is not dyadic lies at least 2^-24 / s (relative)
 * from any float32 rounding midpoint, far more than the 1-ulp (2^-52) error of
 * the product, and a dyadic one has at most 24 significant bits, so it is a
 * float32 itself. Division is the slow part of this loop, hence the care. */
typedef struct zt__fso_dec {
    double sc, off, inv;
    bool mul;
} zt__fso_dec;

static zt__fso_dec fso_dec_init(const zt__codec *c) {
    zt__fso_dec d;
    d.sc = c->scale_is_int ? (double)c->scale_i : c->scale_f;
    d.off = c->offset_is_int ? (double)c->offset_i : c->offset_f;
    d.mul = d.off == 0.0 && d.sc >= 1.0 && d.sc <= 1048576.0 && d.sc == floor(d.sc);
    d.inv = d.mul ? 1.0 / d.sc : 0.0;
    return d;
}

static inline float fso_dec(const zt__fso_dec *d, int32_t e) {
    if (d->mul && e > -16777216 && e < 16777216) return (float)((double)e * d->inv);
    return (float)((double)e / d->sc + d->off);
}

int zt__flt_decode_into(const zt__codec *c, const void *in, size_t n, void *dstv, size_t size) {
    size_t want;
    int rc;
    const uint8_t *src = in;
    uint8_t *dst = dstv;
    if ((rc = zt__flt_decoded_size(c, n, &want))) return rc;
    if (want != size) return zt__err_size(c->pub.vt->id, size, want);
    if (c->cid == ZT__C_FLETCHER32) {
        size_t m;
        if ((rc = zt__fletcher32_check(in, n, &m))) return rc;
        if (m) memcpy(dst, src, m);
        return 0;
    }
    if (c->cid == ZT__C_CRC32C) {
        size_t m;
        if ((rc = zt__checksum_check(c, in, n, &m))) return rc;
        if (m) memcpy(dst, src, m);
        return 0;
    }
    if (c->identity_dec) {
        if (size) memcpy(dst, src, size);
        return 0;
    }
    switch (c->cid) {
    case ZT__C_QUANTIZE:
    case ZT__C_ASTYPE: { /* dec = enc.astype(dtype) */
        size_t count = n / c->at.size;
        for (size_t i = 0; i < count; i++)
            store(c->dt, dst + i * c->dt.size, cast(load(c->at, src + i * c->at.size), c->dt));
        break;
    }
    case ZT__C_DELTA: {
        if (is_i4(c->dt) && is_i4(c->at)) { /* the compact preset: a wrapping int32 cumsum */
            uint32_t acc = 0;
            for (size_t i = 0, count = n / 4; i < count; i++) {
                uint32_t x;
                memcpy(&x, src + 4 * i, 4);
                acc = i == 0 ? x : acc + x;
                memcpy(dst + 4 * i, &acc, 4);
            }
            break;
        }
        /* np.cumsum(enc, out=dec): accumulates in the output dtype */
        size_t count = n / c->at.size;
        num acc = {0};
        for (size_t i = 0; i < count; i++) {
            num x = cast(load(c->at, src + i * c->at.size), c->dt);
            acc = i == 0 ? x : arith(c->dt, acc, x, false);
            store(c->dt, dst + i * c->dt.size, acc);
        }
        break;
    }
    case ZT__C_FSO: {
        size_t count = n / c->at.size;
        if (is_i4(c->at) && c->dt.kind == 'f' && c->dt.size == 4 && !c->dt.swap) {
            /* int32 -> float32, computed in float64 as numpy does */
            zt__fso_dec d = fso_dec_init(c);
            for (size_t i = 0; i < count; i++) {
                int32_t e;
                memcpy(&e, src + 4 * i, 4);
                float y = fso_dec(&d, e);
                memcpy(dst + 4 * i, &y, 4);
            }
            break;
        }
        for (size_t i = 0; i < count; i++)
            store(c->dt, dst + i * c->dt.size, fso_decode1(c, load(c->at, src + i * c->at.size)));
        break;
    }
    case ZT__C_SHUFFLE:
        if (!c->hdf5 && c->elemsize > 1 && n % c->elemsize)
            return zt__err(ZT_ECORRUPT, "shuffle: %zu bytes is not a multiple of elementsize %zu",
                           n, c->elemsize);
        shuffle_bytes(src, n, c->elemsize, dst, true);
        break;
    default:
        return zt__err(ZT_EINVAL, "%s is not a filter", c->pub.vt->id);
    }
    return 0;
}

/* ---- the compact preset's decode, fused ------------------------------------ */

bool zt__flt_is_delta_i4(const zt__codec *c) {
    return c && c->cid == ZT__C_DELTA && is_i4(c->dt) && is_i4(c->at);
}

bool zt__flt_is_fso_i4_f4(const zt__codec *c) {
    return c && c->cid == ZT__C_FSO && is_i4(c->at) && c->dt.kind == 'f' && c->dt.size == 4 && !c->dt.swap;
}

/* in: a chunk of dims[0] x dims[1] x dims[2] int32 in Fortran order (axis 0
 * fastest), encoded by delta(<i4) (a wrapping cumsum over the flat buffer)
 * after fixedscaleoffset(<f4 -> <i4); out: the float32 chunk in C order. One
 * pass instead of cumsum, scale and transposition each over the whole chunk:
 * blocks of atoms are accumulated column by column into a tile that fits L1
 * and leave it as contiguous rows. Returns 1 when the shape does not suit
 * (the caller then takes the general path). */
enum { ZT__F3_TILE = 8192 };

bool zt__flt_f3_fusable(const int64_t *dims) {
    return dims[0] > 0 && dims[1] > 0 && dims[2] > 0 && dims[2] <= 16 && dims[0] * dims[2] <= ZT__F3_TILE;
}

#ifdef __SSE2__
/* Rows t..t+3, columns j..j+3 of the block (row stride rs floats) encoded and
 * transposed into the tile columns: _mm_cvtps_epi32 rounds half to even (the
 * default rounding mode, as nearbyintf) and gives INT32_MIN out of range and
 * for NaN, as trunc_i32 does, so the result equals fso_enc_f32's. */
static inline void fso_enc_4x4(const float *p, int64_t rs, __m128 off, __m128 sc, uint32_t *const dst[4]) {
    __m128i r0 = _mm_cvtps_epi32(_mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(p), off), sc));
    __m128i r1 = _mm_cvtps_epi32(_mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(p + rs), off), sc));
    __m128i r2 = _mm_cvtps_epi32(_mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(p + 2 * rs), off), sc));
    __m128i r3 = _mm_cvtps_epi32(_mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(p + 3 * rs), off), sc));
    __m128i t0 = _mm_unpacklo_epi32(r0, r1), t1 = _mm_unpacklo_epi32(r2, r3);
    __m128i t2 = _mm_unpackhi_epi32(r0, r1), t3 = _mm_unpackhi_epi32(r2, r3);
    _mm_storeu_si128((__m128i *)dst[0], _mm_unpacklo_epi64(t0, t1));
    _mm_storeu_si128((__m128i *)dst[1], _mm_unpackhi_epi64(t0, t1));
    _mm_storeu_si128((__m128i *)dst[2], _mm_unpacklo_epi64(t2, t3));
    _mm_storeu_si128((__m128i *)dst[3], _mm_unpackhi_epi64(t2, t3));
}
#endif

int zt__flt_fso_delta_to_f3(const zt__codec *fso, const void *inv, void *outv, const int64_t *dims) {
    int64_t d0 = dims[0], d1 = dims[1], d2 = dims[2];
    if (!fso_f32_fast(fso) || !zt__flt_f3_fusable(dims)) return 1;
    const float *in = inv;
    uint32_t *out = outv;
    uint32_t tile[ZT__F3_TILE]; /* [axis 2][atom of the block][axis 0] */
    float off = (float)fso->offset_f, sc = (float)fso->scale_f;
    int64_t B = ZT__F3_TILE / (d0 * d2), rs = d1 * d2;
    for (int64_t a0 = 0; a0 < d1; a0 += B) {
        int64_t nb = d1 - a0 < B ? d1 - a0 : B, ncol = nb * d2;
        int64_t t0 = 0, j0 = 0;
#ifdef __SSE2__
        /* 4 x 4 blocks: 4 rows (contiguous columns) -> 4 tile columns (contiguous
         * times), row after row so that the input streams */
        if (d0 >= 4) {
            uint32_t colbase[ZT__F3_TILE / 4]; /* tile offset of column j; ncol <= TILE / d0 */
            for (int64_t j = 0; j < ncol; j++) colbase[j] = (uint32_t)(((j % d2) * nb + j / d2) * d0);
            __m128 voff = _mm_set1_ps(off), vsc = _mm_set1_ps(sc);
            t0 = d0 & ~(int64_t)3;
            j0 = ncol & ~(int64_t)3;
            for (int64_t t = 0; t < t0; t += 4) {
                const float *p = in + t * rs + a0 * d2;
                for (int64_t j = 0; j < j0; j += 4) {
                    uint32_t *dst[4] = {tile + colbase[j] + t, tile + colbase[j + 1] + t, tile + colbase[j + 2] + t,
                                        tile + colbase[j + 3] + t};
                    fso_enc_4x4(p + j, rs, voff, vsc, dst);
                }
            }
        }
#endif
        /* what the blocks left: the last rows, and the last columns of every row */
        for (int64_t t = 0; t < d0; t++) {
            const float *row = in + t * rs + a0 * d2;
            for (int64_t j = t < t0 ? j0 : 0; j < ncol; j++) {
                int64_t ai = j / d2, c = j % d2;
                tile[(c * nb + ai) * d0 + t] = (uint32_t)fso_enc_f32(row[j], off, sc);
            }
        }
        for (int64_t c = 0; c < d2; c++)
            for (int64_t ai = 0; ai < nb; ai++) {
                /* the difference runs over the flat Fortran-order buffer: a column
                 * starts from the last value of the one before it */
                int64_t a = a0 + ai;
                uint32_t prev = 0;
                if (ai > 0) prev = tile[(c * nb + ai - 1) * d0 + d0 - 1];
                else if (a > 0) prev = (uint32_t)fso_enc_f32(in[((d0 - 1) * d1 + a - 1) * d2 + c], off, sc);
                else if (c > 0) prev = (uint32_t)fso_enc_f32(in[((d0 - 1) * d1 + d1 - 1) * d2 + c - 1], off, sc);
                const uint32_t *q = tile + (c * nb + ai) * d0;
                uint32_t *o = out + (c * d1 + a) * d0;
                o[0] = q[0] - prev;
                int64_t t = 1;
#ifdef __SSE2__
                for (; t + 4 <= d0; t += 4)
                    _mm_storeu_si128((__m128i *)(o + t), _mm_sub_epi32(_mm_loadu_si128((const __m128i *)(q + t)),
                                                                       _mm_loadu_si128((const __m128i *)(q + t - 1))));
#endif
                for (; t < d0; t++) o[t] = q[t] - q[t - 1];
            }
    }
    return 0;
}

#ifdef __SSE2__
/* 4 cumulative sums (int32, wrapping) -> 4 floats: e * (1 / scale) in float64
 * as fso_dec, scalar for a lane at or past 2^24. */
static inline void fso_dec4(const zt__fso_dec *d, __m128i s, __m128d inv, float *o) {
    __m128i lim = _mm_set1_epi32(16777216), nlim = _mm_set1_epi32(-16777216);
    if (_mm_movemask_epi8(_mm_or_si128(_mm_cmpgt_epi32(s, _mm_sub_epi32(lim, _mm_set1_epi32(1))),
                                       _mm_cmplt_epi32(s, _mm_add_epi32(nlim, _mm_set1_epi32(1)))))) {
        int32_t e[4];
        _mm_storeu_si128((__m128i *)e, s);
        for (int k = 0; k < 4; k++) o[k] = fso_dec(d, e[k]);
        return;
    }
    __m128 lo = _mm_cvtpd_ps(_mm_mul_pd(_mm_cvtepi32_pd(s), inv));
    __m128 hi = _mm_cvtpd_ps(_mm_mul_pd(_mm_cvtepi32_pd(_mm_srli_si128(s, 8)), inv));
    _mm_storeu_ps(o, _mm_movelh_ps(lo, hi));
}

/* zt__flt_fso_delta_from_f3 for an integral scale (d->mul) and >= 4 frames:
 * per block of atoms, the start of every column's cumulative sum (the sum
 * runs over the flat Fortran-order buffer), then 4 x 4 transposes of 4
 * columns x 4 times into 4 consecutive values of 4 output rows. */
static int fso_delta_from_f3_sse2(const zt__fso_dec *d, const uint32_t *in, float *out, const int64_t *dims,
                                  uint32_t *acc, int64_t B) {
    int64_t d0 = dims[0], d1 = dims[1], d2 = dims[2], plane = d0 * d1, rs = d1 * d2;
    int64_t t0 = d0 & ~(int64_t)3;
    __m128d inv = _mm_set1_pd(d->inv);
    uint32_t run[ZT__F3_TILE / 4];        /* running sum of column j; ncol <= TILE / d0 */
    const uint32_t *colp[ZT__F3_TILE / 4]; /* column j of the block: atom j / d2, axis-2 value j % d2 */
    for (int64_t a0 = 0; a0 < d1; a0 += B) {
        int64_t nb = a0 + B <= d1 ? B : d1 - a0, ncol = nb * d2, j0 = ncol & ~(int64_t)3;
        for (int64_t c = 0; c < d2; c++) {
            uint32_t s = acc[c];
            for (int64_t a = 0; a < nb; a++) {
                const uint32_t *col = in + c * plane + (a0 + a) * d0;
                colp[a * d2 + c] = col;
                run[a * d2 + c] = s;
                __m128i v = _mm_setzero_si128();
                int64_t t = 0;
                for (; t + 4 <= d0; t += 4) v = _mm_add_epi32(v, _mm_loadu_si128((const __m128i *)(col + t)));
                v = _mm_add_epi32(v, _mm_srli_si128(v, 8));
                v = _mm_add_epi32(v, _mm_srli_si128(v, 4));
                s += (uint32_t)_mm_cvtsi128_si32(v);
                for (; t < d0; t++) s += col[t];
            }
            acc[c] = s;
        }
        float *ob = out + a0 * d2;
        for (int64_t t = 0; t < t0; t += 4)
            for (int64_t j = 0; j < j0; j += 4) {
                __m128i r0 = _mm_loadu_si128((const __m128i *)(colp[j] + t));
                __m128i r1 = _mm_loadu_si128((const __m128i *)(colp[j + 1] + t));
                __m128i r2 = _mm_loadu_si128((const __m128i *)(colp[j + 2] + t));
                __m128i r3 = _mm_loadu_si128((const __m128i *)(colp[j + 3] + t));
                __m128i u0 = _mm_unpacklo_epi32(r0, r1), u1 = _mm_unpacklo_epi32(r2, r3);
                __m128i u2 = _mm_unpackhi_epi32(r0, r1), u3 = _mm_unpackhi_epi32(r2, r3);
                __m128i s = _mm_loadu_si128((const __m128i *)(run + j));
                s = _mm_add_epi32(s, _mm_unpacklo_epi64(u0, u1));
                fso_dec4(d, s, inv, ob + t * rs + j);
                s = _mm_add_epi32(s, _mm_unpackhi_epi64(u0, u1));
                fso_dec4(d, s, inv, ob + (t + 1) * rs + j);
                s = _mm_add_epi32(s, _mm_unpacklo_epi64(u2, u3));
                fso_dec4(d, s, inv, ob + (t + 2) * rs + j);
                s = _mm_add_epi32(s, _mm_unpackhi_epi64(u2, u3));
                fso_dec4(d, s, inv, ob + (t + 3) * rs + j);
                _mm_storeu_si128((__m128i *)(run + j), s);
            }
        /* the last times of the blocked columns, then the last columns at every time */
        for (int64_t j = 0; j < ncol; j++)
            for (int64_t t = j < j0 ? t0 : 0; t < d0; t++) {
                run[j] += colp[j][t];
                ob[t * rs + j] = fso_dec(d, (int32_t)run[j]);
            }
    }
    return 0;
}
#endif

int zt__flt_fso_delta_from_f3(const zt__codec *fso, const void *inv, void *outv, const int64_t *dims) {
    enum { TILE = ZT__F3_TILE };
    int64_t d0 = dims[0], d1 = dims[1], d2 = dims[2];
    if (!zt__flt_f3_fusable(dims)) return 1;
    const uint32_t *in = inv;
    float *out = outv;
    float tile[TILE];
    uint32_t acc[16];
    zt__fso_dec d = fso_dec_init(fso);
    int64_t plane = d0 * d1; /* elements per value of axis 2 */
    int64_t B = TILE / (d0 * d2);
    /* the cumsum runs over the flat buffer: each plane starts where the previous one ended */
    acc[0] = 0;
    for (int64_t c = 1; c < d2; c++) {
        uint32_t s = acc[c - 1];
        const uint32_t *p = in + (c - 1) * plane;
        int64_t i = 0;
#ifdef __SSE2__
        __m128i v0 = _mm_setzero_si128(), v1 = v0;
        for (; i + 8 <= plane; i += 8) {
            v0 = _mm_add_epi32(v0, _mm_loadu_si128((const __m128i *)(p + i)));
            v1 = _mm_add_epi32(v1, _mm_loadu_si128((const __m128i *)(p + i + 4)));
        }
        v0 = _mm_add_epi32(v0, v1);
        v0 = _mm_add_epi32(v0, _mm_srli_si128(v0, 8));
        v0 = _mm_add_epi32(v0, _mm_srli_si128(v0, 4));
        s += (uint32_t)_mm_cvtsi128_si32(v0);
#endif
        for (; i < plane; i++) s += p[i];
        acc[c] = s;
    }
#ifdef __SSE2__
    if (d.mul && d0 >= 4) return fso_delta_from_f3_sse2(&d, in, out, dims, acc, B);
#endif
    for (int64_t a0 = 0; a0 < d1; a0 += B) {
        int64_t nb = a0 + B <= d1 ? B : d1 - a0, row = nb * d2;
        for (int64_t c = 0; c < d2; c++) {
            uint32_t s = acc[c];
            for (int64_t a = 0; a < nb; a++) {
                const uint32_t *col = in + c * plane + (a0 + a) * d0;
                float *t = tile + a * d2 + c;
                for (int64_t i = 0; i < d0; i++) {
                    s += col[i];
                    t[i * row] = fso_dec(&d, (int32_t)s);
                }
            }
            acc[c] = s;
        }
        for (int64_t i = 0; i < d0; i++)
            memcpy(out + (i * d1 + a0) * d2, tile + i * row, (size_t)row * sizeof(float));
    }
    return 0;
}
