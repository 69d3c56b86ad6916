/* Amazon S3 and S3-compatible stores (MinIO, Ceph, emulators, and GCS through
 * its XML API with HMAC keys): s3://bucket/prefix.
 *
 * Credentials, in order: anon=true; options key/secret/token; the
 * AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN variables; the
 * profile (option profile or AWS_PROFILE, else "default") in the shared
 * credentials and config files; otherwise unsigned (public buckets).
 * Requests are signed with SigV4 (sign.c). */
#include "store/net/net.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct zt_s3 {
    zt_netstore ns;
    char *bucket;
    char *root;     /* key prefix of the store ("" or "a/b"), no trailing '/' */
    bool vhost;     /* bucket in the host name */
    bool anon;
    char *akid, *secret, *token;
    char *region;
    char *service;  /* "s3" */
    int page_size;  /* max-keys of listings */
} zt_s3;

static char *zt__s3_full_key(zt_s3 *s, const char *key) {
    if (!key || !*key) return zt__strdup(s->root);
    if (!*s->root) return zt__strdup(key);
    return zt__asprintf("%s/%s", s->root, key);
}

/* Path of an object (or of the bucket when key is NULL). */
static char *zt__s3_path(zt_s3 *s, const char *full_key) {
    char *enc = zt__uri_encode(full_key ? full_key : "", true);
    if (!enc) return NULL;
    char *p = s->vhost ? zt__asprintf("/%s", enc) : zt__asprintf("/%s%s%s", s->bucket, full_key ? "/" : "", enc);
    free(enc);
    return p;
}

static int zt__s3_object(zt_netstore *ns, zt_hreq *h, const char *key) {
    zt_s3 *s = (zt_s3 *)ns;
    char *fk = zt__s3_full_key(s, key);
    if (!fk) return zt__err(ZT_ENOMEM, "out of memory");
    if (!*fk) {
        free(fk);
        return zt__err(ZT_EINVAL, "%s: empty object key", ns->base.url);
    }
    h->path = zt__s3_path(s, fk);
    free(fk);
    return h->path ? 0 : zt__err(ZT_ENOMEM, "out of memory");
}

static int zt__s3_put_req(zt_netstore *ns, zt_hreq *h, const char *key, const void *data, size_t n) {
    int rc = zt__s3_object(ns, h, key);
    if (rc) return rc;
    h->body = data;
    h->body_len = n;
    h->has_body = true;
    return zt__strlist_push(&h->hdrs, "Content-Type: application/octet-stream");
}

static int zt__s3_sign(zt_netstore *ns, zt_hreq *h) {
    zt_s3 *s = (zt_s3 *)ns;
    if (s->anon) return 0;
    char hash[65];
    if (!h->has_body || (h->body_fd < 0 && h->body_len == 0)) zt__sha256_hex("", 0, hash);
    else if (h->body_fd >= 0) snprintf(hash, sizeof hash, "UNSIGNED-PAYLOAD");
    else zt__sha256_hex(h->body, h->body_len, hash); /* end-to-end integrity */
    return zt__sigv4_sign(h, ns->host, s->region, s->service, s->akid, s->secret, s->token, hash);
}

static char *zt__s3_error_detail(const zt_hreq *h) {
    if (!h->resp.len) return NULL;
    zt_xml *x = zt__xml_parse((const char *)h->resp.data, h->resp.len);
    if (!x) return NULL;
    const char *code = zt__xml_text(x, "Code"), *msg = zt__xml_text(x, "Message");
    char *r = code ? zt__asprintf("%s%s%s", code, msg ? ": " : "", msg ? msg : "") : NULL;
    zt__xml_free(x);
    return r;
}

static bool zt__s3_is_auth_error(const zt_hreq *h) {
    static const char *codes[] = {"SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied",
                                  "AuthorizationHeaderMalformed", "ExpiredToken", "InvalidToken",
                                  "TokenRefreshRequired", "RequestTimeTooSkewed",
                                  "InvalidSecurity", "MissingSecurityHeader", NULL};
    if (h->status != 400 || !h->resp.len) return false;
    zt_xml *x = zt__xml_parse((const char *)h->resp.data, h->resp.len);
    const char *code = x ? zt__xml_text(x, "Code") : NULL;
    bool r = false;
    for (int i = 0; code && codes[i]; i++) r |= !strcmp(code, codes[i]);
    zt__xml_free(x);
    return r;
}

static const zt_netops zt__s3_ops = {
    .sign = zt__s3_sign,
    .error_detail = zt__s3_error_detail,
    .is_auth_error = zt__s3_is_auth_error,
};

static const zt_objops zt__s3_objops = {.object = zt__s3_object, .put = zt__s3_put_req};


/* One ListObjectsV2 page: keys and common prefixes under full (a "dir/"
 * prefix, "" for the bucket root) with the first strip bytes removed; *token
 * is the continuation token (malloc'd) when the listing goes on, else NULL. */
int zt__s3_list_page(const char *url, const char *body, size_t n, const char *full, size_t strip,
                     zt_strlist *keys, zt_strlist *prefixes, char **token) {
    *token = NULL;
    zt_xml *x = zt__xml_parse(body, n);
    if (!x) return zt__err_prefix(ZT_EFORMAT, "%s: listing: ", url);
    int rc = 0;
    if (strcmp(x->name, "ListBucketResult"))
        rc = zt__err(ZT_EFORMAT, "%s: listing: unexpected <%s> response", url, x->name);
    size_t fl = strlen(full);
    for (zt_xml *c = rc ? NULL : x->child; c && !rc; c = c->next) {
        const char *k = NULL;
        zt_strlist *dst = NULL;
        if (!strcmp(c->name, "Contents")) {
            k = zt__xml_text(c, "Key");
            dst = keys;
        } else if (!strcmp(c->name, "CommonPrefixes")) {
            k = zt__xml_text(c, "Prefix");
            dst = prefixes;
        } else {
            continue;
        }
        if (!k || strncmp(k, full, fl) || strlen(k) < strip)
            rc = zt__err(ZT_EFORMAT, "%s: listing: entry outside the prefix", url);
        else if (dst && strlen(k) > strip)
            rc = zt__strlist_push(dst, k + strip);
    }
    const char *trunc = rc ? NULL : zt__xml_text(x, "IsTruncated");
    const char *next = rc ? NULL : zt__xml_text(x, "NextContinuationToken");
    if (!rc && trunc && !strcmp(trunc, "true")) {
        if (!next || !*next) rc = zt__err(ZT_EFORMAT, "%s: listing truncated without a continuation token", url);
        else if (!(*token = zt__strdup(next))) rc = zt__err(ZT_ENOMEM, "out of memory");
    }
    zt__xml_free(x);
    return rc;
}

/* ListObjectsV2 with continuation tokens. */
static int zt__s3_list(zt_store *st, const char *prefix, bool delim, zt_strlist *keys,
                       zt_strlist *prefixes) {
    zt_s3 *s = (zt_s3 *)st;
    zt_netstore *ns = &s->ns;
    /* The prefix names a "directory" relative to the root, as for the file store. */
    size_t pl = strlen(prefix);
    while (pl > 0 && prefix[pl - 1] == '/') pl--;
    char *full = zt__asprintf("%s%s%.*s%s", s->root, *s->root && pl ? "/" : "", (int)pl, prefix,
                              (*s->root || pl) ? "/" : "");
    if (!full) return zt__err(ZT_ENOMEM, "out of memory");
    size_t strip = *s->root ? strlen(s->root) + 1 : 0;
    char maxk[16];
    snprintf(maxk, sizeof maxk, "%d", s->page_size);
    char *token = NULL;
    int rc = 0;
    for (int page = 0; rc == 0; page++) {
        const char *q[] = {"list-type", "2", "prefix", full, "delimiter", delim ? "/" : NULL,
                           "max-keys", maxk, "continuation-token", token, NULL};
        zt_hreq h;
        zt__hreq_init(&h, "GET");
        h.path = s->vhost ? zt__strdup("/") : zt__asprintf("/%s", s->bucket);
        h.query = zt__query_build(q);
        if (!h.path || !h.query) rc = zt__err(ZT_ENOMEM, "out of memory");
        if (!rc) rc = zt__net_run1(ns, &h);
        free(token);
        token = NULL;
        if (!rc) rc = zt__s3_list_page(st->url, (const char *)h.resp.data, h.resp.len, full, strip, keys, prefixes, &token);
        if (!rc && token && page > 1000000) rc = zt__err(ZT_EFORMAT, "%s: listing does not end", st->url);
        zt__hreq_free(&h);
        if (!token) break;
    }
    free(token);
    free(full);
    if (!rc) {
        zt__strlist_sort(keys);
        if (prefixes) zt__strlist_sort(prefixes);
    }
    return rc;
}

/* ---- multipart upload ------------------------------------------------------------------ */

typedef struct {
    char **etags;
    void (*progress)(void *, uint64_t, uint64_t);
    void *ud;
    uint64_t done, total;
} zt_mpu;

static void zt__s3_part_done(zt_hreq *h, void *ud) {
    zt_mpu *m = ud;
    if (h->rc) return;
    m->etags[h->index] = zt__strdup(h->etag);
    m->done += h->body_len;
    if (m->progress) m->progress(m->ud, m->done, m->total);
}

static int zt__s3_put_file(zt_store *st, const char *key, const char *local,
                           void (*progress)(void *, uint64_t, uint64_t), void *ud) {
    zt_s3 *s = (zt_s3 *)st;
    zt_netstore *ns = &s->ns;
    int fd = open(local, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return zt__err(ZT_EIO, "%s: cannot open for reading", local);
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return zt__err(ZT_EIO, "%s: not a regular file", local);
    }
    int64_t size = sb.st_size, psz = ns->cfg.part_size;
    if (size <= ns->cfg.multipart_threshold || size <= psz) {
        /* Small: one signed PUT from memory. */
        close(fd);
        zt_buf b;
        zt__buf_init(&b);
        char *data = zt__read_small_file(local, (size_t)size + 1);
        int rc = data ? zt__netvt_put(st, key, data, (size_t)size) : zt__err(ZT_EIO, "%s: read failed", local);
        free(data);
        zt__buf_free(&b);
        if (!rc && progress) progress(ud, (uint64_t)size, (uint64_t)size);
        return rc;
    }
    size_t nparts = (size_t)((size + psz - 1) / psz);
    if (nparts > 10000) {
        psz = (size + 9999) / 10000;
        nparts = (size_t)((size + psz - 1) / psz);
    }
    /* CreateMultipartUpload */
    zt_hreq h;
    zt__hreq_init(&h, "POST");
    int rc = zt__s3_object(ns, &h, key);
    const char *q0[] = {"uploads", "", NULL};
    if (!rc && !(h.query = zt__query_build(q0))) rc = zt__err(ZT_ENOMEM, "out of memory");
    h.has_body = true;
    if (!rc) rc = zt__strlist_push(&h.hdrs, "Content-Type: application/octet-stream");
    if (!rc) rc = zt__net_run1(ns, &h);
    char *upload_id = NULL;
    if (!rc) {
        zt_xml *x = zt__xml_parse((const char *)h.resp.data, h.resp.len);
        const char *id = x ? zt__xml_text(x, "UploadId") : NULL;
        if (!id || !*id) rc = zt__err(ZT_EFORMAT, "%s/%s: multipart upload: no UploadId", st->url, key);
        else upload_id = zt__strdup(id);
        zt__xml_free(x);
    }
    char *obj_path = rc ? NULL : zt__strdup(h.path);
    zt__hreq_free(&h);
    if (rc) {
        close(fd);
        return rc;
    }

    /* UploadPart, concurrently, streamed from the file. */
    zt_hreq *parts = calloc(nparts, sizeof *parts);
    zt_hreq **pp = calloc(nparts, sizeof *pp);
    zt_mpu m = {calloc(nparts, sizeof(char *)), progress, ud, 0, (uint64_t)size};
    if (!parts || !pp || !m.etags || !obj_path) rc = zt__err(ZT_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < nparts; i++) {
        zt_hreq *p = &parts[i];
        zt__hreq_init(p, "PUT");
        char num[24];
        snprintf(num, sizeof num, "%zu", i + 1);
        const char *q[] = {"partNumber", num, "uploadId", upload_id, NULL};
        p->path = zt__strdup(obj_path);
        p->query = zt__query_build(q);
        p->has_body = true;
        p->body_fd = fd;
        p->body_off = (int64_t)i * psz;
        p->body_len = (size_t)(size - p->body_off < psz ? size - p->body_off : psz);
        p->index = i;
        pp[i] = p;
        if (!p->path || !p->query) rc = zt__err(ZT_ENOMEM, "out of memory");
    }
    if (!rc) {
        rc = zt__net_run(ns, pp, nparts, zt__s3_part_done, &m);
        for (size_t i = 0; !rc && i < nparts; i++) {
            if (parts[i].rc) rc = zt__err(parts[i].rc, "%s", parts[i].errmsg ? parts[i].errmsg : "part upload failed");
            else if (!m.etags[i] || !*m.etags[i])
                rc = zt__err(ZT_EFORMAT, "%s/%s: part %zu: no ETag in the response", st->url, key, i + 1);
        }
    }
    close(fd);

    /* CompleteMultipartUpload (or abort on failure). */
    zt_buf body;
    zt__buf_init(&body);
    if (!rc) {
        rc |= zt__buf_printf(&body, "<CompleteMultipartUpload>");
        for (size_t i = 0; i < nparts; i++)
            rc |= zt__buf_printf(&body, "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>", i + 1,
                                 m.etags[i]);
        rc |= zt__buf_printf(&body, "</CompleteMultipartUpload>");
        if (rc) rc = zt__err(ZT_ENOMEM, "out of memory");
    }
    zt_hreq c;
    zt__hreq_init(&c, rc ? "DELETE" : "POST");
    const char *q1[] = {"uploadId", upload_id, NULL};
    c.path = zt__strdup(obj_path);
    c.query = zt__query_build(q1);
    if (!rc) {
        c.body = body.data;
        c.body_len = body.len;
        c.has_body = true;
        zt__strlist_push(&c.hdrs, "Content-Type: application/xml");
    }
    if (c.path && c.query) {
        int rc2 = zt__net_run1(ns, &c);
        if (!rc && !rc2) {
            /* S3 can answer 200 with an <Error> body. */
            zt_xml *x = zt__xml_parse((const char *)c.resp.data, c.resp.len);
            if (!x || strcmp(x->name, "CompleteMultipartUploadResult")) {
                char *d = zt__s3_error_detail(&c);
                rc = zt__err(ZT_EIO, "%s/%s: completing the multipart upload failed%s%s%s", st->url,
                             key, d ? " (" : "", d ? d : "", d ? ")" : "");
                free(d);
            }
            zt__xml_free(x);
        } else if (!rc) {
            rc = rc2;
        }
    }
    zt__hreq_free(&c);
    zt__buf_free(&body);
    for (size_t i = 0; parts && i < nparts; i++) zt__hreq_free(&parts[i]);
    for (size_t i = 0; m.etags && i < nparts; i++) free(m.etags[i]);
    free(m.etags);
    free(parts);
    free(pp);
    free(obj_path);
    free(upload_id);
    return rc;
}

static void zt__s3_close(zt_store *st) {
    zt_s3 *s = (zt_s3 *)st;
    zt__netstore_fini(&s->ns);
    free(s->bucket);
    free(s->root);
    if (s->secret) {
        memset(s->secret, 0, strlen(s->secret));
        free(s->secret);
    }
    free(s->akid);
    free(s->token);
    free(s->region);
    free(s->service);
    free(s);
}

static const zt_store_vt zt__s3_vt = {
    .scheme = "s3",
    .get = zt__netvt_get,
    .head = zt__netvt_head,
    .put = zt__netvt_put,
    .del = zt__netvt_del,
    .list = zt__s3_list,
    .get_batch = zt__netvt_get_batch,
    .put_file = zt__s3_put_file,
    .close = zt__s3_close,
    .put_batch = zt__netvt_put_batch,
};

/* Credentials and region from a named profile of the shared files. */
static void zt__aws_profile(const char *profile, char **akid, char **secret, char **token,
                            char **region, char **endpoint) {
    const char *home = getenv("HOME");
    const char *cf = getenv("AWS_SHARED_CREDENTIALS_FILE");
    const char *gf = getenv("AWS_CONFIG_FILE");
    char *cpath = cf && *cf ? zt__strdup(cf) : home ? zt__asprintf("%s/.aws/credentials", home) : NULL;
    char *gpath = gf && *gf ? zt__strdup(gf) : home ? zt__asprintf("%s/.aws/config", home) : NULL;
    char *ctext = cpath ? zt__read_small_file(cpath, 1 << 20) : NULL;
    char *gtext = gpath ? zt__read_small_file(gpath, 1 << 20) : NULL;
    char *gsec = !strcmp(profile, "default") ? zt__strdup("default") : zt__asprintf("profile %s", profile);
    if (!*akid && ctext) {
        *akid = zt__ini_get(ctext, profile, "aws_access_key_id");
        *secret = zt__ini_get(ctext, profile, "aws_secret_access_key");
        *token = zt__ini_get(ctext, profile, "aws_session_token");
    }
    if (!*akid && gtext && gsec) {
        *akid = zt__ini_get(gtext, gsec, "aws_access_key_id");
        *secret = zt__ini_get(gtext, gsec, "aws_secret_access_key");
        *token = zt__ini_get(gtext, gsec, "aws_session_token");
    }
    if (!*region && gtext && gsec) *region = zt__ini_get(gtext, gsec, "region");
    if (!*endpoint && gtext && gsec) *endpoint = zt__ini_get(gtext, gsec, "endpoint_url");
    if (ctext) memset(ctext, 0, strlen(ctext));
    free(ctext);
    free(gtext);
    free(cpath);
    free(gpath);
    free(gsec);
}

static bool zt__dns_bucket(const char *b) {
    size_t l = strlen(b);
    if (l < 3 || l > 63) return false;
    for (const char *p = b; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')) return false;
    return true;
}

int zt__s3_open_ex(const char *url, const char *loc, const zt_options_t *opts,
                   const char *dflt_endpoint, const char *dflt_region, bool aws_env,
                   zt_store **out) {
    zt_s3 *s = calloc(1, sizeof *s);
    if (!s) return zt__err(ZT_ENOMEM, "out of memory");
    int rc = zt__netstore_init(&s->ns, &zt__s3_vt, &zt__s3_ops, url, opts);
    s->ns.objops = &zt__s3_objops;
    /* loc = "bucket/prefix" */
    size_t bl = strcspn(loc, "/");
    if (!rc && bl == 0) rc = zt__err(ZT_EINVAL, "%s: no bucket name", url);
    if (!rc) {
        s->bucket = zt__strndup(loc, bl);
        const char *p = loc + bl;
        while (*p == '/') p++;
        size_t pl = strlen(p);
        while (pl > 0 && p[pl - 1] == '/') pl--;
        s->root = zt__strndup(p, pl);
        s->service = zt__strdup("s3");
        if (!s->bucket || !s->root || !s->service) rc = zt__err(ZT_ENOMEM, "out of memory");
    }
    char *endpoint = NULL;
    if (!rc) {
        s->anon = zt__opt_bool(opts, "anon", false);
        const char *k = zt__opt(opts, "key"), *sec = zt__opt(opts, "secret");
        if (k && sec) {
            s->akid = zt__strdup(k);
            s->secret = zt__strdup(sec);
            s->token = zt__strdup(zt__opt(opts, "token"));
        } else if (aws_env && !zt__opt(opts, "profile") && getenv("AWS_ACCESS_KEY_ID") &&
                   getenv("AWS_SECRET_ACCESS_KEY")) {
            s->akid = zt__strdup(getenv("AWS_ACCESS_KEY_ID"));
            s->secret = zt__strdup(getenv("AWS_SECRET_ACCESS_KEY"));
            s->token = zt__strdup(zt__env_first("AWS_SESSION_TOKEN", NULL));
        }
        const char *r = zt__opt(opts, "region");
        if (!r && aws_env) r = zt__env_first("AWS_REGION", "AWS_DEFAULT_REGION", NULL);
        s->region = zt__strdup(r);
        const char *e = zt__opt(opts, "endpoint_url");
        if (!e && aws_env) e = zt__env_first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", NULL);
        endpoint = zt__strdup(e);
        if (aws_env && !s->anon) {
            const char *prof = zt__opt(opts, "profile");
            if (!prof) prof = zt__env_first("AWS_PROFILE", NULL);
            if (!prof) prof = "default";
            char *pk = NULL, *ps = NULL, *pt = NULL;
            zt__aws_profile(prof, s->akid ? &pk : &s->akid, s->akid ? &ps : &s->secret,
                            s->akid ? &pt : &s->token, &s->region, &endpoint);
            free(pk);
            if (ps) memset(ps, 0, strlen(ps));
            free(ps);
            free(pt);
            if (!s->akid && zt__opt(opts, "profile"))
                rc = zt__err(ZT_EAUTH, "%s: no credentials for profile '%s'", url, prof);
        }
        if (!s->akid || !s->secret) s->anon = true;
        if (!s->region) s->region = zt__strdup(dflt_region ? dflt_region : "us-east-1");
        if (!s->region) rc = zt__err(ZT_ENOMEM, "out of memory");
    }
    if (!rc) {
        const char *style = zt__opt(opts, "addressing_style");
        bool custom = endpoint != NULL || dflt_endpoint != NULL;
        if (!endpoint && dflt_endpoint) endpoint = zt__strdup(dflt_endpoint);
        if (!endpoint) endpoint = zt__asprintf("https://s3.%s.amazonaws.com", s->region);
        if (style && !strcmp(style, "virtual")) s->vhost = true;
        else if (style && !strcmp(style, "path")) s->vhost = false;
        else s->vhost = !custom && zt__dns_bucket(s->bucket);
        char *host = NULL;
        const char *rest;
        rc = endpoint ? zt__split_base(endpoint, &s->ns.base_url, &host, &rest) : zt__err(ZT_ENOMEM, "out of memory");
        if (!rc && *rest && strcmp(rest, "/"))
            rc = zt__err(ZT_EINVAL, "%s: endpoint_url must not have a path", url);
        if (!rc && s->vhost) {
            const char *sch = strstr(endpoint, "://");
            free(s->ns.base_url);
            s->ns.base_url = zt__asprintf("%.*s://%s.%s", (int)(sch - endpoint), endpoint, s->bucket, host);
            s->ns.host = zt__asprintf("%s.%s", s->bucket, host);
            free(host);
        } else if (!rc) {
            s->ns.host = host;
        } else {
            free(host); /* endpoint rejected */
        }
        if (!rc && (!s->ns.base_url || !s->ns.host)) rc = zt__err(ZT_ENOMEM, "out of memory");
    }
    double ps = 1000;
    const char *pg = zt__opt(opts, "list_page_size");
    if (pg) ps = atof(pg);
    s->page_size = ps >= 1 && ps <= 1000 ? (int)ps : 1000;
    free(endpoint);
    if (rc) {
        zt__s3_close(&s->ns.base);
        return rc;
    }
    ZT_DEBUG("%s: endpoint %s, %s-style, region %s, %s", url, s->ns.base_url,
             s->vhost ? "virtual-host" : "path", s->region, s->anon ? "anonymous" : "signed");
    *out = &s->ns.base;
    return 0;
}

int zt__store_s3_open(const char *url, const zt_options_t *opts, zt_store **out) {
    const char *loc = strstr(url, "://");
    return zt__s3_open_ex(url, loc ? loc + 3 : url, opts, NULL, NULL, true, out);
}
