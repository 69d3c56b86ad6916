/* Google Cloud Storage through the JSON API: gs://bucket/prefix, gcs://...
 *
 * Endpoint: endpoint_url option, else STORAGE_EMULATOR_HOST (the Google client
 * libraries' convention; requests are then anonymous unless a token is given),
 * else https://storage.googleapis.com.
 * Credentials, in order: anon=true or token=anon; HMAC keys (options key and
 * secret: the XML API, which is S3-compatible, so the S3 store serves it);
 * token=<path of a JSON key file>; token=<OAuth2 access token>;
 * GOOGLE_APPLICATION_CREDENTIALS; ~/.config/gcloud/application_default_credentials.json;
 * otherwise anonymous. Key files: service_account (an RS256 JWT signed with
 * OpenSSL and exchanged at token_uri) or authorized_user (refresh token);
 * access tokens are cached until shortly before they expire.
 * Object versions are pinned by generation (ifGenerationMatch, x-goog-generation). */
#include "store/net/net.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct zt_gcs {
    zt_netstore ns;
    char *bucket;
    char *root;
    /* auth */
    char *static_token;  /* bearer token given directly */
    json_t *keyfile;     /* parsed JSON key file or NULL */
    pthread_mutex_t tok_mu;
    char *token;         /* cached access token */
    double token_exp;    /* zt__now() time when it expires */
    int page_size;
} zt_gcs;

static char *zt__gcs_full(zt_gcs *g, const char *key) {
    if (!key || !*key) return zt__strdup(g->root);
    if (!*g->root) return zt__strdup(key);
    return zt__asprintf("%s/%s", g->root, key);
}

static int zt__gcs_object(zt_netstore *ns, zt_hreq *h, const char *key) {
    zt_gcs *g = (zt_gcs *)ns;
    char *fk = zt__gcs_full(g, key);
    if (!fk) return zt__err(ZT_ENOMEM, "out of memory");
    if (!*fk) {
        free(fk);
        return zt__err(ZT_EINVAL, "%s: empty object name", ns->base.url);
    }
    char *enc = zt__uri_encode(fk, false); /* '/' too: the name is one segment */
    free(fk);
    h->path = enc ? zt__asprintf("/storage/v1/b/%s/o/%s", g->bucket, enc) : NULL;
    free(enc);
    if (!h->path) return zt__err(ZT_ENOMEM, "out of memory");
    if (!strcmp(h->method, "GET") && !h->meta) {
        const char *q[] = {"alt", "media", "ifGenerationMatch", h->pin && *h->pin ? h->pin : NULL, NULL};
        if (!(h->query = zt__query_build(q))) return zt__err(ZT_ENOMEM, "out of memory");
    }
    return 0;
}

static int zt__gcs_put_req(zt_netstore *ns, zt_hreq *h, const char *key, const void *data, size_t n) {
    zt_gcs *g = (zt_gcs *)ns;
    char *fk = zt__gcs_full(g, key);
    if (!fk || !*fk) {
        free(fk);
        return zt__err(fk ? ZT_EINVAL : ZT_ENOMEM, "%s: empty object name", ns->base.url);
    }
    h->method = "POST";
    h->path = zt__asprintf("/upload/storage/v1/b/%s/o", g->bucket);
    const char *q[] = {"uploadType", "media", "name", fk, NULL};
    h->query = zt__query_build(q);
    free(fk);
    h->body = data;
    h->body_len = n;
    h->has_body = true;
    if (!h->path || !h->query) return zt__err(ZT_ENOMEM, "out of memory");
    return zt__strlist_push(&h->hdrs, "Content-Type: application/octet-stream");
}

static int zt__gcs_stat(zt_netstore *ns, zt_hreq *h, zt_stat *st) {
    json_error_t je;
    json_t *j = json_loadb((const char *)h->resp.data, h->resp.len, 0, &je);
    const char *size = j ? json_string_value(json_object_get(j, "size")) : NULL;
    const char *gen = j ? json_string_value(json_object_get(j, "generation")) : NULL;
    const char *upd = j ? json_string_value(json_object_get(j, "updated")) : NULL;
    int rc = 0;
    if (!size || !gen) {
        rc = zt__err(ZT_EFORMAT, "%s: object metadata without size/generation", ns->base.url);
    } else {
        char *e;
        long long v = strtoll(size, &e, 10);
        if (*e || v < 0) rc = zt__err(ZT_EFORMAT, "%s: bad object size '%s'", ns->base.url, size);
        st->size = v;
        snprintf(st->etag, sizeof st->etag, "%s", gen);
        if (upd) {
            struct tm tm = {0};
            if (sscanf(upd, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                       &tm.tm_min, &tm.tm_sec) == 6) {
                tm.tm_year -= 1900;
                tm.tm_mon -= 1;
                st->mtime = (int64_t)timegm(&tm);
            }
        }
    }
    json_decref(j);
    return rc;
}

/* ---- access tokens ----------------------------------------------------------------- */

static char *zt__b64url_json(json_t *j) {
    char *s = json_dumps(j, JSON_COMPACT);
    char *r = s ? zt__b64encode(s, strlen(s), true) : NULL;
    free(s);
    return r;
}

/* An RS256-signed JWT assertion for a service account key. */
static char *zt__gcs_jwt(zt_gcs *g, const char *token_uri) {
    const char *email = json_string_value(json_object_get(g->keyfile, "client_email"));
    const char *pem = json_string_value(json_object_get(g->keyfile, "private_key"));
    if (!email || !pem) {
        zt__err(ZT_EAUTH, "%s: service account key without client_email/private_key", g->ns.base.url);
        return NULL;
    }
    time_t now = time(NULL);
    json_t *hdr = json_pack("{s:s,s:s}", "alg", "RS256", "typ", "JWT");
    json_t *cl = json_pack("{s:s,s:s,s:s,s:I,s:I}", "iss", email, "scope",
                           "https://www.googleapis.com/auth/devstorage.read_write", "aud", token_uri,
                           "iat", (json_int_t)now, "exp", (json_int_t)now + 3600);
    char *h64 = hdr ? zt__b64url_json(hdr) : NULL, *c64 = cl ? zt__b64url_json(cl) : NULL;
    json_decref(hdr);
    json_decref(cl);
    char *input = h64 && c64 ? zt__asprintf("%s.%s", h64, c64) : NULL;
    free(h64);
    free(c64);
    char *jwt = NULL;
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char sig[1024];
    size_t sl = sizeof sig;
    if (input && key && md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
        EVP_DigestSign(md, sig, &sl, (const unsigned char *)input, strlen(input)) == 1) {
        char *s64 = zt__b64encode(sig, sl, true);
        jwt = s64 ? zt__asprintf("%s.%s", input, s64) : NULL;
        free(s64);
    } else if (!key) {
        zt__err(ZT_EAUTH, "%s: cannot read the service account private key", g->ns.base.url);
    } else {
        zt__err(ZT_EAUTH, "%s: cannot sign the token request", g->ns.base.url);
    }
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    BIO_free(bio);
    free(input);
    return jwt;
}

/* Exchange the key file for an access token (called with tok_mu held). */
static int zt__gcs_fetch_token(zt_gcs *g) {
    const char *type = json_string_value(json_object_get(g->keyfile, "type"));
    const char *uri = json_string_value(json_object_get(g->keyfile, "token_uri"));
    if (!uri) uri = "https://oauth2.googleapis.com/token";
    char *form = NULL;
    if (type && !strcmp(type, "authorized_user")) {
        const char *id = json_string_value(json_object_get(g->keyfile, "client_id"));
        const char *sec = json_string_value(json_object_get(g->keyfile, "client_secret"));
        const char *ref = json_string_value(json_object_get(g->keyfile, "refresh_token"));
        if (!id || !sec || !ref) return zt__err(ZT_EAUTH, "%s: incomplete authorized_user credentials", g->ns.base.url);
        const char *q[] = {"grant_type", "refresh_token", "client_id", id, "client_secret", sec,
                           "refresh_token", ref, NULL};
        form = zt__query_build(q);
    } else {
        char *jwt = zt__gcs_jwt(g, uri);
        if (!jwt) return ZT_EAUTH;
        const char *q[] = {"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion", jwt, NULL};
        form = zt__query_build(q);
        free(jwt);
    }
    if (!form) return zt__err(ZT_ENOMEM, "out of memory");
    zt_hreq h;
    zt__hreq_init(&h, "POST");
    h.abs_url = zt__strdup(uri);
    h.body = (const uint8_t *)form;
    h.body_len = strlen(form);
    h.has_body = true;
    int rc = h.abs_url ? zt__strlist_push(&h.hdrs, "Content-Type: application/x-www-form-urlencoded")
                       : zt__err(ZT_ENOMEM, "out of memory");
    if (!rc) rc = zt__net_run1(&g->ns, &h);
    if (rc == ZT_EIO || rc == ZT_ENOTFOUND) rc = zt__err_prefix(ZT_EAUTH, "authentication failed: token exchange: ");
    if (!rc) {
        json_error_t je;
        json_t *j = json_loadb((const char *)h.resp.data, h.resp.len, 0, &je);
        const char *tok = j ? json_string_value(json_object_get(j, "access_token")) : NULL;
        json_t *ex = j ? json_object_get(j, "expires_in") : NULL;
        double exp = json_is_number(ex) ? json_number_value(ex) : 3600;
        if (!tok) rc = zt__err(ZT_EAUTH, "%s: token exchange answered without an access_token", g->ns.base.url);
        else {
            free(g->token);
            g->token = zt__strdup(tok);
            g->token_exp = zt__now() + exp;
            ZT_DEBUG("%s: obtained an access token valid for %.0f s", g->ns.base.url, exp);
        }
        json_decref(j);
    }
    memset(form, 0, strlen(form));
    free(form);
    zt__hreq_free(&h);
    return rc;
}

static int zt__gcs_sign(zt_netstore *ns, zt_hreq *h) {
    zt_gcs *g = (zt_gcs *)ns;
    char *tok = NULL;
    if (g->static_token) {
        tok = zt__strdup(g->static_token);
    } else if (g->keyfile) {
        pthread_mutex_lock(&g->tok_mu);
        int rc = 0;
        /* Refresh a minute early so a token never expires in flight. */
        if (!g->token || zt__now() > g->token_exp - 60) rc = zt__gcs_fetch_token(g);
        if (!rc) tok = zt__strdup(g->token);
        pthread_mutex_unlock(&g->tok_mu);
        if (rc) return rc;
    } else {
        return 0;
    }
    char *line = tok ? zt__asprintf("Authorization: Bearer %s", tok) : NULL;
    free(tok);
    struct curl_slist *t = line ? curl_slist_append(h->sent, line) : NULL;
    free(line);
    if (!t) return zt__err(ZT_ENOMEM, "out of memory");
    h->sent = t;
    return 0;
}

static char *zt__gcs_error_detail(const zt_hreq *h) {
    if (!h->resp.len) return NULL;
    json_error_t je;
    json_t *j = json_loadb((const char *)h->resp.data, h->resp.len, 0, &je);
    json_t *e = j ? json_object_get(j, "error") : NULL;
    const char *msg = json_is_string(e) ? json_string_value(e) : json_string_value(json_object_get(e, "message"));
    char *r = msg ? zt__strdup(msg) : NULL;
    json_decref(j);
    return r;
}

static const zt_netops zt__gcs_ops = {.sign = zt__gcs_sign, .error_detail = zt__gcs_error_detail};
static const zt_objops zt__gcs_objops = {
    .object = zt__gcs_object, .put = zt__gcs_put_req, .stat = zt__gcs_stat, .head_is_get = true};


/* One objects.list page (see zt__s3_list_page); *token is nextPageToken. */
int zt__gcs_list_page(const char *url, const char *body, size_t n, const char *full, size_t strip,
                      zt_strlist *keys, zt_strlist *prefixes, char **token) {
    *token = NULL;
    json_error_t je;
    json_t *j = json_loadb(body ? body : "", body ? n : 0, 0, &je);
    int rc = 0;
    if (!json_is_object(j)) rc = zt__err(ZT_EFORMAT, "%s: listing: malformed JSON", url);
    json_t *items = rc ? NULL : json_object_get(j, "items"), *pfx = rc ? NULL : json_object_get(j, "prefixes");
    if (!rc && ((items && !json_is_array(items)) || (pfx && !json_is_array(pfx))))
        rc = zt__err(ZT_EFORMAT, "%s: listing: malformed JSON", url);
    size_t fl = strlen(full);
    for (size_t i = 0; !rc && items && i < json_array_size(items); i++) {
        const char *k = json_string_value(json_object_get(json_array_get(items, i), "name"));
        if (!k || strncmp(k, full, fl) || strlen(k) < strip)
            rc = zt__err(ZT_EFORMAT, "%s: listing: entry outside the prefix", url);
        else if (strlen(k) > strip)
            rc = zt__strlist_push(keys, k + strip);
    }
    for (size_t i = 0; !rc && pfx && i < json_array_size(pfx); i++) {
        const char *k = json_string_value(json_array_get(pfx, i));
        if (!k || strncmp(k, full, fl) || strlen(k) < strip)
            rc = zt__err(ZT_EFORMAT, "%s: listing: entry outside the prefix", url);
        else if (prefixes && strlen(k) > strip)
            rc = zt__strlist_push(prefixes, k + strip);
    }
    const char *next = rc ? NULL : json_string_value(json_object_get(j, "nextPageToken"));
    if (!rc && next && *next && !(*token = zt__strdup(next))) rc = zt__err(ZT_ENOMEM, "out of memory");
    json_decref(j);
    return rc;
}

static int zt__gcs_list(zt_store *st, const char *prefix, bool delim, zt_strlist *keys,
                        zt_strlist *prefixes) {
    zt_gcs *g = (zt_gcs *)st;
    size_t pl = strlen(prefix);
    while (pl > 0 && prefix[pl - 1] == '/') pl--;
    char *full = zt__asprintf("%s%s%.*s%s", g->root, *g->root && pl ? "/" : "", (int)pl, prefix,
                              (*g->root || pl) ? "/" : "");
    if (!full) return zt__err(ZT_ENOMEM, "out of memory");
    size_t strip = *g->root ? strlen(g->root) + 1 : 0;
    char maxr[16];
    snprintf(maxr, sizeof maxr, "%d", g->page_size);
    char *token = NULL;
    int rc = 0;
    for (int page = 0; rc == 0; page++) {
        const char *q[] = {"prefix", *full ? full : NULL, "delimiter", delim ? "/" : NULL,
                           "maxResults", maxr, "pageToken", token, NULL};
        zt_hreq h;
        zt__hreq_init(&h, "GET");
        h.path = zt__asprintf("/storage/v1/b/%s/o", g->bucket);
        h.query = zt__query_build(q);
        if (!h.path || !h.query) rc = zt__err(ZT_ENOMEM, "out of memory");
        if (!rc) rc = zt__net_run1(&g->ns, &h);
        free(token);
        token = NULL;
        if (!rc) rc = zt__gcs_list_page(st->url, (const char *)h.resp.data, h.resp.len, full, strip, keys, prefixes, &token);
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

/* Large files: a resumable session, then the whole file streamed in one PUT
 * (a single-request resumable upload: no object size limit of media uploads
 * and no need to hold the file in memory). */
static int zt__gcs_put_file(zt_store *st, const char *key, const char *local,
                            void (*progress)(void *, uint64_t, uint64_t), void *ud) {
    zt_gcs *g = (zt_gcs *)st;
    FILE *f = fopen(local, "rb");
    if (!f) return zt__err(ZT_EIO, "%s: cannot open for reading", local);
    int fd = dup(fileno(f));
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    if (fd < 0 || size < 0) {
        if (fd >= 0) close(fd);
        return zt__err(ZT_EIO, "%s: cannot read", local);
    }
    char *fk = zt__gcs_full(g, key);
    zt_hreq h;
    zt__hreq_init(&h, "POST");
    h.path = zt__asprintf("/upload/storage/v1/b/%s/o", g->bucket);
    const char *q[] = {"uploadType", "resumable", "name", fk, NULL};
    h.query = fk && *fk ? zt__query_build(q) : NULL;
    h.body = (const uint8_t *)"{}";
    h.body_len = 2;
    h.has_body = true;
    int rc = h.path && h.query ? zt__strlist_push(&h.hdrs, "Content-Type: application/json; charset=UTF-8")
                               : zt__err(ZT_EINVAL, "%s: bad object name", st->url);
    char xl[64];
    snprintf(xl, sizeof xl, "X-Upload-Content-Length: %ld", size);
    if (!rc) rc = zt__strlist_push(&h.hdrs, xl);
    if (!rc) rc = zt__net_run1(&g->ns, &h);
    if (!rc && (!h.location || strncmp(h.location, "http", 4)))
        rc = zt__err(ZT_EFORMAT, "%s/%s: resumable upload: no session URL", st->url, key);
    char *session = rc ? NULL : zt__strdup(h.location);
    zt__hreq_free(&h);
    free(fk);
    if (!rc) {
        zt__hreq_init(&h, "PUT");
        h.abs_url = session;
        h.has_body = true;
        h.body_fd = fd;
        h.body_len = (size_t)size;
        rc = zt__strlist_push(&h.hdrs, "Content-Type: application/octet-stream");
        if (!rc) rc = zt__net_run1(&g->ns, &h);
        zt__hreq_free(&h);
    }
    close(fd);
    if (!rc && progress) progress(ud, (uint64_t)size, (uint64_t)size);
    return rc;
}

static void zt__gcs_close(zt_store *st) {
    zt_gcs *g = (zt_gcs *)st;
    zt__netstore_fini(&g->ns);
    free(g->bucket);
    free(g->root);
    free(g->static_token);
    free(g->token);
    json_decref(g->keyfile);
    pthread_mutex_destroy(&g->tok_mu);
    free(g);
}

static const zt_store_vt zt__gcs_vt = {
    .scheme = "gs",
    .get = zt__netvt_get,
    .head = zt__netvt_head,
    .put = zt__netvt_put,
    .del = zt__netvt_del,
    .list = zt__gcs_list,
    .get_batch = zt__netvt_get_batch,
    .put_file = zt__gcs_put_file,
    .close = zt__gcs_close,
    .put_batch = zt__netvt_put_batch,
};

static int zt__gcs_load_keyfile(zt_gcs *g, const char *path) {
    json_error_t je;
    g->keyfile = json_load_file(path, 0, &je);
    if (!g->keyfile || !json_is_object(g->keyfile))
        return zt__err(ZT_EAUTH, "%s: cannot read the credentials file %s", g->ns.base.url, path);
    return 0;
}

int zt__store_gcs_open(const char *url, const zt_options_t *opts, zt_store **out) {
    const char *loc = strstr(url, "://");
    loc = loc ? loc + 3 : url;
    if (zt__opt(opts, "key") && zt__opt(opts, "secret"))
        return zt__s3_open_ex(url, loc, opts, "https://storage.googleapis.com", "auto", false, out);

    zt_gcs *g = calloc(1, sizeof *g);
    if (!g) return zt__err(ZT_ENOMEM, "out of memory");
    pthread_mutex_init(&g->tok_mu, NULL);
    int rc = zt__netstore_init(&g->ns, &zt__gcs_vt, &zt__gcs_ops, url, opts);
    g->ns.objops = &zt__gcs_objops;
    size_t bl = strcspn(loc, "/");
    if (!rc && bl == 0) rc = zt__err(ZT_EINVAL, "%s: no bucket name", url);
    if (!rc) {
        g->bucket = zt__strndup(loc, bl);
        const char *p = loc + bl;
        while (*p == '/') p++;
        size_t pl = strlen(p);
        while (pl > 0 && p[pl - 1] == '/') pl--;
        g->root = zt__strndup(p, pl);
        if (!g->bucket || !g->root) rc = zt__err(ZT_ENOMEM, "out of memory");
    }
    char *endpoint = NULL;
    bool emulator = false;
    if (!rc) {
        const char *e = zt__opt(opts, "endpoint_url");
        const char *emu = zt__env_first("STORAGE_EMULATOR_HOST", NULL);
        if (e) endpoint = zt__strdup(e);
        else if (emu) {
            emulator = true;
            endpoint = strstr(emu, "://") ? zt__strdup(emu) : zt__asprintf("http://%s", emu);
        } else endpoint = zt__strdup("https://storage.googleapis.com");
        const char *rest;
        rc = endpoint ? zt__split_base(endpoint, &g->ns.base_url, &g->ns.host, &rest) : zt__err(ZT_ENOMEM, "out of memory");
    }
    if (!rc) {
        const char *tok = zt__opt(opts, "token");
        bool anon = zt__opt_bool(opts, "anon", false) || (tok && !strcmp(tok, "anon"));
        if (anon) {
        } else if (tok && access(tok, R_OK) == 0) {
            rc = zt__gcs_load_keyfile(g, tok);
        } else if (tok) {
            g->static_token = zt__strdup(tok);
        } else if (!emulator) {
            const char *gac = zt__env_first("GOOGLE_APPLICATION_CREDENTIALS", NULL);
            const char *home = getenv("HOME");
            char *adc = home ? zt__asprintf("%s/.config/gcloud/application_default_credentials.json", home) : NULL;
            if (gac) rc = zt__gcs_load_keyfile(g, gac);
            else if (adc && access(adc, R_OK) == 0) rc = zt__gcs_load_keyfile(g, adc);
            free(adc);
        }
    }
    const char *pg = zt__opt(opts, "list_page_size");
    double ps = pg ? atof(pg) : 1000;
    g->page_size = ps >= 1 && ps <= 1000 ? (int)ps : 1000;
    g->ns.pin_generation = true;
    free(endpoint);
    if (rc) {
        zt__gcs_close(&g->ns.base);
        return rc;
    }
    ZT_DEBUG("%s: endpoint %s, %s", url, g->ns.base_url,
             g->static_token ? "bearer token" : g->keyfile ? "key file" : "anonymous");
    *out = &g->ns.base;
    return 0;
}
