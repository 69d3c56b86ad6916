/* Fuzz target: HTTP response heads and bodies as the network stores receive
 * them (ETag, Content-Length, Content-Range, Retry-After, Last-Modified,
 * Location, status lines after redirects), then the check of a GET body
 * against the range that was asked for. Input: 11 bytes of request (range
 * kind, offset, length, status), the head (lines up to an empty line), the
 * body. Beyond "no crash, no UB": an accepted answer to a range request
 * never holds more bytes than asked for, and a 206 accepted for an explicit
 * range starts where the range starts (never the wrong bytes). */
#include "fuzz.h"

#include "store/net/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init();
    return 0;
}

static void fz_fail(const zt_hreq *h, const char *what) {
    fprintf(stderr, "fuzz_http_head: %s (status %ld, off %lld, len %lld, range %lld-%lld/%lld, body %zu)\n", what,
            h->status, (long long)h->off, (long long)h->len, (long long)h->cr_start, (long long)h->cr_end,
            (long long)h->cr_total, h->resp.len);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_rng r = {data, size};
    unsigned kind = (unsigned)fz_take(&r, 1);
    int64_t off = (int64_t)fz_take(&r, 4), len = (int64_t)fz_take(&r, 4);
    long status = 200 + (long)(fz_take(&r, 2) % 400);
    if (len == 0) len = 1; /* the stores never send an empty range */
    zt_hreq h;
    zt__hreq_init(&h, (kind & 4) ? "HEAD" : "GET");
    h.off = kind % 3 == 0 ? ZT_WHOLE : kind % 3 == 1 ? ZT_SUFFIX : off;
    h.len = len;
    h.status = status;
    /* head lines */
    const char *p = (const char *)r.p, *end = p + r.n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p + 1) : (size_t)(end - p);
        if (l == 1 || (l == 2 && p[0] == '\r')) {
            p += l;
            break;
        }
        zt__net_header(&h, p, l);
        p += l;
    }
    /* Content-Length, Content-Range and ETag as they were parsed, then the body */
    if (p < end) zt__buf_append(&h.resp, p, (size_t)(end - p));
    size_t before = h.resp.len;
    char *loc = h.location ? zt__redact_url(h.location) : NULL;
    free(loc);
    if (h.status >= 200 && h.status < 300 && !strcmp(h.method, "GET")) {
        const char *bad = zt__net_check_body(&h);
        if (!bad && h.off != ZT_WHOLE) {
            if (h.resp.len > before) fz_fail(&h, "body grew");
            if (h.len >= 0 && (int64_t)h.resp.len > h.len) fz_fail(&h, "more bytes than the range asked for");
            if (h.status == 206 && h.off >= 0 && h.cr_start != h.off) fz_fail(&h, "206 accepted at another offset");
        }
    }
    zt__hreq_free(&h);
    return 0;
}
