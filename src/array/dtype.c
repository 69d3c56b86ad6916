/* numpy dtype strings and conversion of stored elements to native types. */
#include "array/array.h"

#include <string.h>

int zt__dtype_from_str(const char *s, zt_dtype *out) {
    if (!s || strlen(s) != 3) return zt__err(ZT_EUNSUPPORTED, "unsupported dtype '%s'", s ? s : "(null)");
    char bo = s[0], kind = s[1], sz = s[2];
    if (bo != '<' && bo != '>' && bo != '|' && bo != '=')
        return zt__err(ZT_EUNSUPPORTED, "unsupported dtype '%s'", s);
    if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')
        return zt__err(ZT_EUNSUPPORTED, "unsupported dtype '%s' (only bool, integer and float)", s);
    if (sz != '1' && sz != '2' && sz != '4' && sz != '8')
        return zt__err(ZT_EUNSUPPORTED, "unsupported dtype '%s'", s);
    int size = sz - '0';
    if (kind == 'f' && size < 4) return zt__err(ZT_EUNSUPPORTED, "unsupported dtype '%s' (half floats)", s);
    if (kind == 'b' && size != 1) return zt__err(ZT_EUNSUPPORTED, "unsupported dtype '%s'", s);
    out->kind = kind;
    out->size = (uint8_t)size;
    out->big_endian = (bo == '>') && size > 1;
    return 0;
}

const char *zt__dtype_to_str(zt_dtype dt, char *buf) {
    buf[0] = dt.size == 1 ? '|' : (dt.big_endian ? '>' : '<');
    buf[1] = dt.kind;
    buf[2] = (char)('0' + dt.size);
    buf[3] = 0;
    return buf;
}

static inline uint16_t zt__bs16(uint16_t v) { return __builtin_bswap16(v); }
static inline uint32_t zt__bs32(uint32_t v) { return __builtin_bswap32(v); }
static inline uint64_t zt__bs64(uint64_t v) { return __builtin_bswap64(v); }

/* Load element i of a stored array as double / int64. */
static inline double zt__load_f64(const uint8_t *p, zt_dtype dt) {
    switch (dt.size) {
    case 1:
        return dt.kind == 'i' ? (double)(int8_t)p[0] : (double)p[0];
    case 2: {
        uint16_t v;
        memcpy(&v, p, 2);
        if (dt.big_endian) v = zt__bs16(v);
        return dt.kind == 'i' ? (double)(int16_t)v : (double)v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, 4);
        if (dt.big_endian) v = zt__bs32(v);
        if (dt.kind == 'f') {
            float f;
            memcpy(&f, &v, 4);
            return f;
        }
        return dt.kind == 'i' ? (double)(int32_t)v : (double)v;
    }
    default: {
        uint64_t v;
        memcpy(&v, p, 8);
        if (dt.big_endian) v = zt__bs64(v);
        if (dt.kind == 'f') {
            double d;
            memcpy(&d, &v, 8);
            return d;
        }
        return dt.kind == 'i' ? (double)(int64_t)v : (double)v;
    }
    }
}

static inline int64_t zt__load_i64(const uint8_t *p, zt_dtype dt) {
    if (dt.kind == 'f') {
        /* defined for every value: saturate, NaN as INT64_MIN (the cast of an
         * out-of-range double is undefined) */
        double d = zt__load_f64(p, dt);
        if (!(d == d)) return INT64_MIN;
        if (d >= 9223372036854775808.0) return INT64_MAX;
        if (d < -9223372036854775808.0) return INT64_MIN;
        return (int64_t)d;
    }
    switch (dt.size) {
    case 1:
        return dt.kind == 'i' ? (int64_t)(int8_t)p[0] : (int64_t)p[0];
    case 2: {
        uint16_t v;
        memcpy(&v, p, 2);
        if (dt.big_endian) v = zt__bs16(v);
        return dt.kind == 'i' ? (int64_t)(int16_t)v : (int64_t)v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, 4);
        if (dt.big_endian) v = zt__bs32(v);
        return dt.kind == 'i' ? (int64_t)(int32_t)v : (int64_t)v;
    }
    default: {
        uint64_t v;
        memcpy(&v, p, 8);
        if (dt.big_endian) v = zt__bs64(v);
        return (int64_t)v; /* uint64 steps beyond 2^63 do not occur in MD */
    }
    }
}

void zt__convert_f32(const void *src, zt_dtype dt, size_t n, float *dst) {
    if (dt.kind == 'f' && dt.size == 4 && !dt.big_endian) {
        if ((const void *)dst != src) memmove(dst, src, n * 4);
        return;
    }
    const uint8_t *p = src;
    if (dt.kind == 'f' && dt.size == 8 && !dt.big_endian) {
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
        }
        return;
    }
    for (size_t i = 0; i < n; i++) dst[i] = (float)zt__load_f64(p + i * dt.size, dt);
}

void zt__convert_f32_strided(const void *src, zt_dtype dt, size_t n, size_t stride, float *dst) {
    const uint8_t *p = src;
    size_t step = stride * dt.size;
    if (dt.kind == 'f' && dt.size == 4 && !dt.big_endian) {
        for (size_t i = 0; i < n; i++) memcpy(dst + i, p + i * step, 4);
        return;
    }
    for (size_t i = 0; i < n; i++) dst[i] = (float)zt__load_f64(p + i * step, dt);
}

void zt__convert_f64(const void *src, zt_dtype dt, size_t n, double *dst) {
    const uint8_t *p = src;
    if (dt.kind == 'f' && dt.size == 8 && !dt.big_endian) {
        memmove(dst, src, n * 8);
        return;
    }
    for (size_t i = 0; i < n; i++) dst[i] = zt__load_f64(p + i * dt.size, dt);
}

void zt__convert_i64(const void *src, zt_dtype dt, size_t n, int64_t *dst) {
    const uint8_t *p = src;
    for (size_t i = 0; i < n; i++) dst[i] = zt__load_i64(p + i * dt.size, dt);
}
