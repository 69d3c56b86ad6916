/* Fuzz target: URLs, storage options and the small parsers behind them.
 * Input lines: a URL, an object key, then storage options "key=value" (the
 * whole input is also an INI text and an HTTP date). For the network
 * schemes the store is opened (no I/O happens at open), a request for the
 * key is built and signed as the first attempt would be. Also: percent- and
 * base64 round trips, redaction (user info never survives), URL splitting. */
#include "fuzz.h"

#include "store/net/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init();
    unsetenv("AZURE_STORAGE_CONNECTION_STRING");
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    return 0;
}

static char *fz_line(const char **p, const char *end) {
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const char *e = nl ? nl : end;
    char *s = zt__strndup(*p, (size_t)(e - *p));
    *p = nl ? nl + 1 : end;
    return s ? s : strdup("");
}

static void fz_fail(const char *what, const char *s) {
    fprintf(stderr, "fuzz_url: %s: %s\n", what, s);
    abort();
}

static bool fz_network_scheme(const char *scheme) {
    static const char *n[] = {"http", "https", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", NULL};
    for (int i = 0; n[i]; i++)
        if (!strcmp(scheme, n[i])) return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (memchr(data, 0, size)) return 0; /* text only: C strings */
    const char *p = (const char *)data, *end = p + size;
    char *url = fz_line(&p, end), *key = fz_line(&p, end);
    zt_options_t *o = NULL;
    zt_options_create(&o);
    while (p < end) {
        char *kv = fz_line(&p, end);
        /* options naming local files are not outside bytes (and a key file
         * would make the GCS store fetch a token) */
        bool file = !strncmp(kv, "ca_file=", 8) || (!strncmp(kv, "token=", 6) && access(kv + 6, F_OK) == 0);
        if (!file) zt_options_set_kv(o, kv);
        free(kv);
    }
    char *text = zt__strndup((const char *)data, size);

    char scheme[8];
    zt__url_scheme(url, scheme, sizeof scheme);
    char *red = zt__redact_url(url);
    const char *ss = strstr(url, "://");
    if (red && ss) {
        const char *a = ss + 3, *e = a + strcspn(a, "/?#");
        const char *at = memchr(a, '@', (size_t)(e - a));
        /* user info of the authority: gone from the redacted form (unless the
         * same text also occurs elsewhere in the URL) */
        if (at && at - a >= 3) {
            char *ui = zt__strndup(a, (size_t)(at - a));
            char *rest = zt__asprintf("%.*s%s", (int)(a - url), url, at + 1);
            if (ui && rest && !strstr(rest, ui) && strstr(red, ui)) fz_fail("user info kept by redaction", url);
            free(ui);
            free(rest);
        }
    }
    free(red);
    char *base = NULL, *host = NULL;
    const char *rest = NULL;
    if (zt__split_base(url, &base, &host, &rest) == 0) {
        free(base);
        free(host);
    }
    for (int slash = 0; slash < 2; slash++) {
        char *enc = zt__uri_encode(key, slash);
        char *dec = enc ? zt__uri_decode(enc, strlen(enc), false) : NULL;
        if (enc && dec && strcmp(dec, key)) fz_fail("percent-encoding round trip", key);
        free(enc);
        free(dec);
    }
    char *d2 = zt__uri_decode(key, strlen(key), true);
    free(d2);
    char *b64 = zt__b64encode(key, strlen(key), size & 1);
    zt_buf b;
    zt__buf_init(&b);
    if (b64 && (zt__b64_decode(b64, strlen(b64), &b) || b.len != strlen(key) || memcmp(b.data, key, b.len)))
        fz_fail("base64 round trip", key);
    zt__buf_free(&b);
    free(b64);
    zt__buf_init(&b);
    zt__b64_decode(key, strlen(key), &b);
    zt__buf_free(&b);
    const char *pairs[] = {"prefix", key, "marker", url, "empty", "", NULL};
    char *q = zt__query_build(pairs);
    free(q);
    (void)zt__parse_http_date(key);
    char *v = zt__ini_get(text, key, "region");
    free(v);
    v = zt__ini_get(text, "default", key);
    free(v);

    char sch[32];
    zt__url_scheme(url, sch, sizeof sch);
    zt_store *s = NULL;
    if (fz_network_scheme(sch) && zt__store_open(url, o, &s) == 0) {
        zt_netstore *ns = (zt_netstore *)s;
        zt_hreq h;
        zt__hreq_init(&h, "GET");
        h.off = 0;
        h.len = 100;
        if (ns->objops && ns->objops->object(ns, &h, key) == 0) {
            h.url = h.abs_url ? zt__strdup(h.abs_url)
                              : zt__asprintf("%s%s%s%s", ns->base_url, h.path ? h.path : "/",
                                             h.query && *h.query ? "?" : "", h.query ? h.query : "");
            if (h.url && !h.abs_url && ns->ops && ns->ops->sign) ns->ops->sign(ns, &h);
        }
        zt__hreq_free(&h);
        zt__store_close(s);
    }
    zt_options_free(o);
    free(text);
    free(url);
    free(key);
    return 0;
}
