/* numpy dtype strings and conversion of stored elements to native types. */
#include "array/array.h"

#include <math.h>
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

/* Element as int64; false when it is not one exactly (a non-integral,
 * NaN or out-of-range float, a uint64 above INT64_MAX): *v is then
 * saturated (0 for NaN), never an undefined conversion. */
static inline bool zt__load_i64_exact(const uint8_t *p, zt_dtype dt, int64_t *v) {
    if (dt.kind == 'f') {
        double d = zt__load_f64(p, dt);
        if (isnan(d)) {
            *v = 0;
            return false;
        }
        if (d >= 9223372036854775808.0) {
            *v = INT64_MAX;
            return false;
        }
        if (d < -9223372036854775808.0) {
            *v = INT64_MIN;
            return false;
        }
        *v = (int64_t)d;
        return (double)*v == d;
    }
    if (dt.kind == 'u' && dt.size == 8) {
        uint64_t u;
        memcpy(&u, p, 8);
        if (dt.big_endian) u = zt__bs64(u);
        *v = u > INT64_MAX ? INT64_MAX : (int64_t)u;
        return u <= INT64_MAX;
    }
    switch (dt.size) {
    case 1:
        *v = dt.kind == 'i' ? (int64_t)(int8_t)p[0] : (int64_t)p[0];
        return true;
    case 2: {
        uint16_t x;
        memcpy(&x, p, 2);
        if (dt.big_endian) x = zt__bs16(x);
        *v = dt.kind == 'i' ? (int64_t)(int16_t)x : (int64_t)x;
        return true;
    }
    case 4: {
        uint32_t x;
        memcpy(&x, p, 4);
        if (dt.big_endian) x = zt__bs32(x);
        *v = dt.kind == 'i' ? (int64_t)(int32_t)x : (int64_t)x;
        return true;
    }
    default: {
        uint64_t u;
        memcpy(&u, p, 8);
        if (dt.big_endian) u = zt__bs64(u);
        *v = (int64_t)u; /* int64 */
        return true;
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
    for (size_t i = 0; i < n; i++) zt__load_i64_exact(p + i * dt.size, dt, &dst[i]);
}

size_t zt__convert_i64_exact(const void *src, zt_dtype dt, size_t n, int64_t *dst) {
    const uint8_t *p = src;
    for (size_t i = 0; i < n; i++)
        if (!zt__load_i64_exact(p + i * dt.size, dt, &dst[i])) return i;
    return n;
}
