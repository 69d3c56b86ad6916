/* base64 (RFC 4648, with padding); decoding also accepts the URL-safe
 * alphabet and skips whitespace. */
#include "util/util.h"

#include <stdlib.h>

static const char zt__b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *zt__b64_encode(const void *data, size_t n) {
    const uint8_t *p = data;
    if (n > ((size_t)1 << 40)) return NULL;
    char *s = malloc((n + 2) / 3 * 4 + 1), *o = s;
    if (!s) return NULL;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = zt__b64[v >> 18];
        *o++ = zt__b64[(v >> 12) & 63];
        *o++ = zt__b64[(v >> 6) & 63];
        *o++ = zt__b64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *o++ = zt__b64[v >> 18];
        *o++ = zt__b64[(v >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *o++ = zt__b64[v >> 18];
        *o++ = zt__b64[(v >> 12) & 63];
        *o++ = zt__b64[(v >> 6) & 63];
        *o++ = '=';
    }
    *o = 0;
    return s;
}

static int zt__b64_val(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

int zt__b64_decode(const char *s, size_t len, zt_buf *out) {
    if (zt__buf_reserve(out, len / 4 * 3 + 3)) return zt__err(ZT_ENOMEM, "out of memory");
    out->len = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '=') break;
        if (c == '\n' || c == '\r' || c == ' ') continue;
        int v = zt__b64_val(c);
        if (v < 0) return zt__err(ZT_EFORMAT, "invalid base64 data");
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out->data[out->len++] = (uint8_t)(acc >> bits);
        }
    }
    return 0;
}

