/* Hashes, encodings, dates and AWS Signature Version 4 (used by S3 and by
 * GCS HMAC keys). SigV4 is done here rather than with CURLOPT_AWS_SIGV4 so
 * the canonical query and x-amz-content-sha256 are under our control. */
#include "store/net/net.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void zt__sha256(const void *p, size_t n, uint8_t out[32]) { SHA256(p, n, out); }

void zt__hex(const uint8_t *p, size_t n, char *out) {
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = 0;
}

void zt__sha256_hex(const void *p, size_t n, char out[65]) {
    uint8_t h[32];
    zt__sha256(p ? p : "", n, h);
    zt__hex(h, 32, out);
}

void zt__hmac_sha256(const void *key, size_t klen, const void *msg, size_t n, uint8_t out[32]) {
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)klen, msg, n, out, &len);
}


char *zt__uri_encode(const char *s, bool keep_slash) {
    static const char hx[] = "0123456789ABCDEF";
    size_t l = strlen(s);
    char *o = malloc(3 * l + 1), *q = o;
    if (!o) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
            *q++ = (char)c;
        } else {
            *q++ = '%';
            *q++ = hx[c >> 4];
            *q++ = hx[c & 15];
        }
    }
    *q = 0;
    return o;
}

static int zt__hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char *zt__uri_decode(const char *s, size_t n, bool plus) {
    char *o = malloc(n + 1), *q = o;
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && zt__hexval(s[i + 1]) >= 0 &&
            zt__hexval(s[i + 2]) >= 0) {
            *q++ = (char)(zt__hexval(s[i + 1]) << 4 | zt__hexval(s[i + 2]));
            i += 2;
        } else if (plus && s[i] == '+') {
            *q++ = ' ';
        } else {
            *q++ = s[i];
        }
    }
    *q = 0;
    return o;
}

typedef struct {
    char *k, *v;
} zt_qpair;

static int zt__qcmp(const void *a, const void *b) {
    const zt_qpair *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

char *zt__query_build(const char *const *pairs) {
    size_t n = 0;
    while (pairs[2 * n]) n++;
    zt_qpair *q = calloc(n ? n : 1, sizeof *q);
    if (!q) return NULL;
    size_t m = 0;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        if (!pairs[2 * i + 1]) continue;
        q[m].k = zt__uri_encode(pairs[2 * i], false);
        q[m].v = zt__uri_encode(pairs[2 * i + 1], false);
        if (!q[m].k || !q[m].v) ok = false;
        m++;
    }
    zt_buf b;
    zt__buf_init(&b);
    if (ok) {
        /* Sorted by encoded name, as SigV4 wants (byte order). */
        qsort(q, m, sizeof *q, zt__qcmp);
        for (size_t i = 0; i < m && ok; i++)
            ok = zt__buf_printf(&b, "%s%s=%s", i ? "&" : "", q[i].k, q[i].v) == 0;
    }
    for (size_t i = 0; i < m; i++) {
        free(q[i].k);
        free(q[i].v);
    }
    free(q);
    if (!ok) {
        zt__buf_free(&b);
        return NULL;
    }
    if (!b.data) return zt__strdup("");
    size_t l;
    return (char *)zt__buf_steal(&b, &l);
}

void zt__amz_date(time_t t, char out[17], char day[9]) {
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
    if (day) strftime(day, 9, "%Y%m%d", &tm);
}

void zt__http_date(time_t t, char out[40]) {
    static const char *wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    /* Locale-independent RFC 1123 date. */
    snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d GMT", wd[tm.tm_wday], tm.tm_mday,
             mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int64_t zt__parse_http_date(const char *s) {
    time_t t = curl_getdate(s, NULL);
    return t < 0 ? 0 : (int64_t)t;
}

/* Lower-case name and trimmed value of a "Name: value" header. */
static int zt__hdr_split(const char *h, char **name, char **val) {
    const char *c = strchr(h, ':');
    if (!c) return -1;
    *name = zt__strndup(h, (size_t)(c - h));
    if (!*name) return -1;
    for (char *p = *name; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    c++;
    while (*c == ' ' || *c == '\t') c++;
    size_t l = strlen(c);
    while (l > 0 && (c[l - 1] == ' ' || c[l - 1] == '\t')) l--;
    *val = zt__strndup(c, l);
    if (!*val) {
        free(*name);
        return -1;
    }
    return 0;
}

static int zt__kv_cmp(const void *a, const void *b) {
    return strcmp(((const zt_qpair *)a)->k, ((const zt_qpair *)b)->k);
}

int zt__sigv4_sign(zt_hreq *h, const char *host, const char *region, const char *service,
                   const char *akid, const char *secret, const char *token,
                   const char *payload_hash) {
    char amz[17], day[9];
    zt__amz_date(time(NULL), amz, day);
    /* Headers to sign: host, x-amz-* we add, plus every x-amz-* the operation set. */
    size_t cap = h->hdrs.n + 4, m = 0;
    zt_qpair *hv = calloc(cap, sizeof *hv);
    int rc = hv ? 0 : -1;
    const char *fixed[4][2] = {{"host", host},
                               {"x-amz-content-sha256", payload_hash},
                               {"x-amz-date", amz},
                               {"x-amz-security-token", token && *token ? token : NULL}};
    for (int i = 0; rc == 0 && i < 4; i++) {
        if (!fixed[i][1]) continue;
        hv[m].k = zt__strdup(fixed[i][0]);
        hv[m].v = zt__strdup(fixed[i][1]);
        if (!hv[m].k || !hv[m].v) rc = -1;
        m++;
    }
    for (size_t i = 0; rc == 0 && i < h->hdrs.n; i++) {
        char *k, *v;
        if (zt__hdr_split(h->hdrs.items[i], &k, &v) != 0) continue;
        if (zt__str_startswith(k, "x-amz-")) {
            hv[m].k = k;
            hv[m].v = v;
            m++;
        } else {
            free(k);
            free(v);
        }
    }
    zt_buf creq, sh, sts;
    zt__buf_init(&creq);
    zt__buf_init(&sh);
    zt__buf_init(&sts);
    if (rc == 0) {
        qsort(hv, m, sizeof *hv, zt__kv_cmp);
        rc |= zt__buf_printf(&creq, "%s\n%s\n%s\n", h->method, h->path, h->query ? h->query : "");
        for (size_t i = 0; i < m; i++) {
            rc |= zt__buf_printf(&creq, "%s:%s\n", hv[i].k, hv[i].v);
            rc |= zt__buf_printf(&sh, "%s%s", i ? ";" : "", hv[i].k);
        }
        rc |= zt__buf_printf(&creq, "\n%s\n%s", (char *)sh.data, payload_hash);
    }
    char chash[65], sig[65];
    uint8_t k1[32], k2[32], k3[32], k4[32], s[32];
    if (rc == 0) {
        zt__sha256_hex(creq.data, creq.len, chash);
        rc |= zt__buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz, day,
                             region, service, chash);
    }
    char *ksecret = rc == 0 ? zt__asprintf("AWS4%s", secret) : NULL;
    if (rc == 0 && ksecret) {
        zt__hmac_sha256(ksecret, strlen(ksecret), day, strlen(day), k1);
        zt__hmac_sha256(k1, 32, region, strlen(region), k2);
        zt__hmac_sha256(k2, 32, service, strlen(service), k3);
        zt__hmac_sha256(k3, 32, "aws4_request", 12, k4);
        zt__hmac_sha256(k4, 32, sts.data, sts.len, s);
        zt__hex(s, 32, sig);
        /* The headers we added go on the wire exactly as signed. */
        char *lines[5];
        int nl = 0;
        lines[nl++] = zt__asprintf("Host: %s", host);
        lines[nl++] = zt__asprintf("x-amz-content-sha256: %s", payload_hash);
        lines[nl++] = zt__asprintf("x-amz-date: %s", amz);
        if (token && *token) lines[nl++] = zt__asprintf("x-amz-security-token: %s", token);
        lines[nl++] = zt__asprintf(
            "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
            "SignedHeaders=%s, Signature=%s",
            akid, day, region, service, (char *)sh.data, sig);
        for (int i = 0; i < nl; i++) {
            struct curl_slist *t = lines[i] ? curl_slist_append(h->sent, lines[i]) : NULL;
            if (!t) rc = -1;
            else h->sent = t;
            free(lines[i]);
        }
        OPENSSL_cleanse(k1, sizeof k1);
        OPENSSL_cleanse(k4, sizeof k4);
    } else {
        rc = -1;
    }
    if (ksecret) {
        OPENSSL_cleanse(ksecret, strlen(ksecret));
        free(ksecret);
    }
    for (size_t i = 0; i < m; i++) {
        free(hv[i].k);
        free(hv[i].v);
    }
    free(hv);
    zt__buf_free(&creq);
    zt__buf_free(&sh);
    zt__buf_free(&sts);
    return rc ? zt__err(ZT_ENOMEM, "out of memory while signing") : 0;
}
