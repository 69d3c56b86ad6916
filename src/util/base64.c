/* base64 (RFC 4648, with padding); decoding also accepts the URL-safe
 * alphabet and skips whitespace. */
#include "util/util.h"

#include <stdlib.h>

/* url: the URL-safe alphabet without padding (JWT); else RFC 4648 with padding. */
char *zt__b64encode(const void *p, size_t n, bool url) {
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char web[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *a = url ? web : std;
    const uint8_t *s = p;
    char *o = malloc(n / 3 * 4 + 5), *q = o;
    if (!o) return NULL;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *q++ = a[v >> 18];
        *q++ = a[(v >> 12) & 63];
        *q++ = a[(v >> 6) & 63];
        *q++ = a[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        *q++ = a[v >> 18];
        *q++ = a[(v >> 12) & 63];
        if (i + 1 < n) *q++ = a[(v >> 6) & 63];
        else if (!url) *q++ = '=';
        if (!url) *q++ = '=';
    }
    *q = 0;
    return o;
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

