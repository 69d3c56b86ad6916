/* Azure Blob Storage: az://container/path, abfs[s]://container/path and
 * abfs[s]://container@account.dfs.core.windows.net/path.
 *
 * Account and credentials, in order: connection_string option or
 * AZURE_STORAGE_CONNECTION_STRING (AccountName, AccountKey, BlobEndpoint,
 * SharedAccessSignature, DefaultEndpointsProtocol, EndpointSuffix,
 * UseDevelopmentStorage); options account_name/account_key/sas_token (or
 * AZURE_STORAGE_ACCOUNT_NAME/_KEY, AZURE_STORAGE_SAS_TOKEN); anon=true or no
 * credential: anonymous (public containers). SharedKey requests are signed
 * here (HMAC-SHA256 over the canonical string); a SAS is appended to the query. */
#include "store/net/net.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ZT_AZ_VERSION "2021-12-02"

typedef struct zt_az {
    zt_netstore ns;
    char *ep_path;   /* path part of the blob endpoint ("" or "/devstoreaccount1") */
    char *container;
    char *root;      /* blob name prefix, no trailing '/' */
    char *account;
    uint8_t *key;    /* decoded account key or NULL */
    size_t key_len;
    char *sas;       /* SAS query (without '?') or NULL */
    int page_size;
} zt_az;

static char *zt__az_full(zt_az *a, const char *key) {
    if (!key || !*key) return zt__strdup(a->root);
    if (!*a->root) return zt__strdup(key);
    return zt__asprintf("%s/%s", a->root, key);
}

static int zt__az_object(zt_netstore *ns, zt_hreq *h, const char *key) {
    zt_az *a = (zt_az *)ns;
    char *fk = zt__az_full(a, key);
    if (!fk) return zt__err(ZT_ENOMEM, "out of memory");
    if (!*fk) {
        free(fk);
        return zt__err(ZT_EINVAL, "%s: empty blob name", ns->base.url);
    }
    char *enc = zt__uri_encode(fk, true);
    free(fk);
    h->path = enc ? zt__asprintf("%s/%s/%s", a->ep_path, a->container, enc) : NULL;
    free(enc);
    return h->path ? 0 : zt__err(ZT_ENOMEM, "out of memory");
}

static int zt__az_put_req(zt_netstore *ns, zt_hreq *h, const char *key, const void *data, size_t n) {
    int rc = zt__az_object(ns, h, key);
    if (rc) return rc;
    h->body = data;
    h->body_len = n;
    h->has_body = true;
    rc = zt__strlist_push(&h->hdrs, "x-ms-blob-type: BlockBlob");
    if (!rc) rc = zt__strlist_push(&h->hdrs, "Content-Type: application/octet-stream");
    return rc;
}

/* Value of header name (case-insensitive) among h->hdrs, or "". */
static const char *zt__az_hdr(const zt_hreq *h, const char *name) {
    size_t l = strlen(name);
    for (size_t i = 0; i < h->hdrs.n; i++) {
        const char *s = h->hdrs.items[i];
        if (!strncasecmp(s, name, l) && s[l] == ':') {
            s += l + 1;
            while (*s == ' ') s++;
            return s;
        }
    }
    return "";
}

typedef struct {
    char *k, *v;
} zt_azq;

static int zt__azq_cmp(const void *x, const void *y) {
    return strcmp(((const zt_azq *)x)->k, ((const zt_azq *)y)->k);
}

static int zt__az_sign(zt_netstore *ns, zt_hreq *h) {
    zt_az *a = (zt_az *)ns;
    char date[40];
    zt__http_date(time(NULL), date);
    char line[128];
    snprintf(line, sizeof line, "x-ms-date: %s", date);
    struct curl_slist *t = curl_slist_append(h->sent, line);
    if (t) h->sent = t;
    t = t ? curl_slist_append(h->sent, "x-ms-version: " ZT_AZ_VERSION) : NULL;
    if (!t) return zt__err(ZT_ENOMEM, "out of memory");
    h->sent = t;
    if (a->key) {
        zt_buf s;
        zt__buf_init(&s);
        char clen[32] = "";
        if (h->has_body && h->body_len > 0) snprintf(clen, sizeof clen, "%zu", h->body_len);
        int rc = zt__buf_printf(&s, "%s\n\n\n%s\n\n%s\n\n\n%s\n\n\n%s\n", h->method, clen,
                                zt__az_hdr(h, "Content-Type"),
                                h->pin && *h->pin ? h->pin : "", h->range_hdr);
        /* Canonical x-ms-* headers: ours plus the operation's, sorted. */
        zt_azq hq[16];
        size_t nh = 0;
        hq[nh++] = (zt_azq){zt__strdup("x-ms-date"), zt__strdup(date)};
        hq[nh++] = (zt_azq){zt__strdup("x-ms-version"), zt__strdup(ZT_AZ_VERSION)};
        for (size_t i = 0; i < h->hdrs.n && nh < 16; i++) {
            const char *x = h->hdrs.items[i], *c = strchr(x, ':');
            if (!c || strncasecmp(x, "x-ms-", 5)) continue;
            char *k = zt__strndup(x, (size_t)(c - x));
            for (char *p = k; p && *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
            c++;
            while (*c == ' ') c++;
            hq[nh++] = (zt_azq){k, zt__strdup(c)};
        }
        qsort(hq, nh, sizeof *hq, zt__azq_cmp);
        for (size_t i = 0; i < nh; i++) {
            rc |= hq[i].k && hq[i].v ? zt__buf_printf(&s, "%s:%s\n", hq[i].k, hq[i].v) : -1;
            free(hq[i].k);
            free(hq[i].v);
        }
        rc |= zt__buf_printf(&s, "/%s%s", a->account, h->path);
        /* Canonical query: lower-case names with decoded values, sorted. */
        if (h->query && *h->query) {
            size_t nq = 1;
            for (const char *p = h->query; *p; p++) nq += *p == '&';
            zt_azq *q = calloc(nq, sizeof *q);
            size_t m = 0;
            for (const char *p = h->query; q && *p;) {
                size_t l = strcspn(p, "&");
                const char *eq = memchr(p, '=', l);
                size_t kl = eq ? (size_t)(eq - p) : l;
                q[m].k = zt__uri_decode(p, kl, false);
                q[m].v = eq ? zt__uri_decode(eq + 1, l - kl - 1, false) : zt__strdup("");
                for (char *c = q[m].k; c && *c; c++) *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
                m++;
                p += l + (p[l] == '&');
            }
            if (!q) rc = -1;
            else qsort(q, m, sizeof *q, zt__azq_cmp);
            for (size_t i = 0; q && i < m; i++) {
                rc |= q[i].k && q[i].v ? zt__buf_printf(&s, "\n%s:%s", q[i].k, q[i].v) : -1;
                free(q[i].k);
                free(q[i].v);
            }
            free(q);
        }
        uint8_t mac[32];
        char *sig = NULL;
        if (!rc) {
            zt__hmac_sha256(a->key, a->key_len, s.data, s.len, mac);
            sig = zt__b64encode(mac, 32, false);
        }
        zt__buf_free(&s);
        char *auth = sig ? zt__asprintf("Authorization: SharedKey %s:%s", a->account, sig) : NULL;
        free(sig);
        t = auth ? curl_slist_append(h->sent, auth) : NULL;
        free(auth);
        if (!t) return zt__err(ZT_ENOMEM, "out of memory while signing");
        h->sent = t;
    } else if (a->sas) {
        char *u = zt__asprintf("%s%s%s", h->url, strchr(h->url, '?') ? "&" : "?", a->sas);
        if (!u) return zt__err(ZT_ENOMEM, "out of memory");
        free(h->url);
        h->url = u;
    }
    return 0;
}

static char *zt__az_error_detail(const zt_hreq *h) {
    if (!h->resp.len) return NULL;
    zt_xml *x = zt__xml_parse((const char *)h->resp.data, h->resp.len);
    const char *code = x ? zt__xml_text(x, "Code") : NULL;
    const char *msg = x ? zt__xml_text(x, "Message") : NULL;
    char *r = NULL;
    if (code) {
        /* Azure appends request ids and times on new lines. */
        size_t ml = msg ? strcspn(msg, "\r\n") : 0;
        r = zt__asprintf("%s%s%.*s", code, msg ? ": " : "", (int)ml, msg ? msg : "");
    }
    zt__xml_free(x);
    return r;
}

static const zt_netops zt__az_ops = {.sign = zt__az_sign, .error_detail = zt__az_error_detail};
static const zt_objops zt__az_objops = {.object = zt__az_object, .put = zt__az_put_req};


/* One List Blobs page (see zt__s3_list_page); *marker is the next marker. */
int zt__az_list_page(const char *url, const char *body, size_t n, const char *full, size_t strip,
                     zt_strlist *keys, zt_strlist *prefixes, char **marker) {
    *marker = NULL;
    zt_xml *x = zt__xml_parse(body, n);
    if (!x) return zt__err_prefix(ZT_EFORMAT, "%s: listing: ", url);
    int rc = 0;
    if (strcmp(x->name, "EnumerationResults"))
        rc = zt__err(ZT_EFORMAT, "%s: listing: unexpected <%s> response", url, x->name);
    size_t fl = strlen(full);
    zt_xml *blobs = rc ? NULL : zt__xml_child(x, "Blobs");
    for (zt_xml *c = blobs ? blobs->child : NULL; c && !rc; c = c->next) {
        bool blob = !strcmp(c->name, "Blob"), pfx = !strcmp(c->name, "BlobPrefix");
        if (!blob && !pfx) continue;
        zt_strlist *dst = blob ? keys : prefixes;
        const char *k = zt__xml_text(c, "Name");
        if (!k || strncmp(k, full, fl) || strlen(k) < strip)
            rc = zt__err(ZT_EFORMAT, "%s: listing: entry outside the prefix", url);
        else if (dst && strlen(k) > strip)
            rc = zt__strlist_push(dst, k + strip);
    }
    const char *next = rc ? NULL : zt__xml_text(x, "NextMarker");
    if (!rc && next && *next && !(*marker = zt__strdup(next))) rc = zt__err(ZT_ENOMEM, "out of memory");
    zt__xml_free(x);
    return rc;
}

/* List Blobs with markers. */
static int zt__az_list(zt_store *st, const char *prefix, bool delim, zt_strlist *keys,
                       zt_strlist *prefixes) {
    zt_az *a = (zt_az *)st;
    size_t pl = strlen(prefix);
    while (pl > 0 && prefix[pl - 1] == '/') pl--;
    char *full = zt__asprintf("%s%s%.*s%s", a->root, *a->root && pl ? "/" : "", (int)pl, prefix,
                              (*a->root || pl) ? "/" : "");
    if (!full) return zt__err(ZT_ENOMEM, "out of memory");
    size_t strip = *a->root ? strlen(a->root) + 1 : 0;
    char maxr[16];
    snprintf(maxr, sizeof maxr, "%d", a->page_size);
    char *marker = NULL;
    int rc = 0;
    for (int page = 0; rc == 0; page++) {
        const char *q[] = {"restype", "container", "comp", "list", "prefix", *full ? full : NULL,
                           "delimiter", delim ? "/" : NULL, "maxresults", maxr,
                           "marker", marker, NULL};
        zt_hreq h;
        zt__hreq_init(&h, "GET");
        h.path = zt__asprintf("%s/%s", a->ep_path, a->container);
        h.query = zt__query_build(q);
        if (!h.path || !h.query) rc = zt__err(ZT_ENOMEM, "out of memory");
        if (!rc) rc = zt__net_run1(&a->ns, &h);
        free(marker);
        marker = NULL;
        if (!rc) rc = zt__az_list_page(st->url, (const char *)h.resp.data, h.resp.len, full, strip, keys, prefixes, &marker);
        if (!rc && marker && page > 1000000) rc = zt__err(ZT_EFORMAT, "%s: listing does not end", st->url);
        zt__hreq_free(&h);
        if (!marker) break;
    }
    free(marker);
    free(full);
    if (!rc) {
        zt__strlist_sort(keys);
        if (prefixes) zt__strlist_sort(prefixes);
    }
    return rc;
}

/* ---- block upload ------------------------------------------------------------------ */

typedef struct {
    void (*progress)(void *, uint64_t, uint64_t);
    void *ud;
    uint64_t done, total;
} zt_azprog;

static void zt__az_block_done(zt_hreq *h, void *ud) {
    zt_azprog *p = ud;
    if (h->rc) return;
    p->done += h->body_len;
    if (p->progress) p->progress(p->ud, p->done, p->total);
}

static int zt__az_put_file(zt_store *st, const char *key, const char *local,
                           void (*progress)(void *, uint64_t, uint64_t), void *ud) {
    zt_az *a = (zt_az *)st;
    zt_netstore *ns = &a->ns;
    int fd = open(local, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return zt__err(ZT_EIO, "%s: cannot open for reading", local);
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return zt__err(ZT_EIO, "%s: not a regular file", local);
    }
    int64_t size = sb.st_size, bsz = ns->cfg.part_size;
    size_t nb = (size_t)((size + bsz - 1) / bsz);
    if (size <= ns->cfg.multipart_threshold || nb <= 1 || nb > 50000) {
        /* One Put Blob streamed from the file. */
        zt_hreq h;
        zt__hreq_init(&h, "PUT");
        int rc = zt__az_put_req(ns, &h, key, NULL, (size_t)size);
        h.body_fd = fd;
        h.body_off = 0;
        if (!rc) rc = zt__net_run1(ns, &h);
        zt__hreq_free(&h);
        close(fd);
        if (!rc && progress) progress(ud, (uint64_t)size, (uint64_t)size);
        return rc;
    }
    zt_hreq *bl = calloc(nb, sizeof *bl);
    zt_hreq **pp = calloc(nb, sizeof *pp);
    char **ids = calloc(nb, sizeof *ids);
    int rc = bl && pp && ids ? 0 : zt__err(ZT_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < nb; i++) {
        char raw[32];
        snprintf(raw, sizeof raw, "zarrtraj-%010zu", i); /* equal length ids */
        ids[i] = zt__b64encode(raw, strlen(raw), false);
        zt_hreq *h = &bl[i];
        zt__hreq_init(h, "PUT");
        rc = zt__az_object(ns, h, key);
        const char *q[] = {"comp", "block", "blockid", ids[i], NULL};
        if (!rc && (!ids[i] || !(h->query = zt__query_build(q)))) rc = zt__err(ZT_ENOMEM, "out of memory");
        h->has_body = true;
        h->body_fd = fd;
        h->body_off = (int64_t)i * bsz;
        h->body_len = (size_t)(size - h->body_off < bsz ? size - h->body_off : bsz);
        pp[i] = h;
    }
    zt_azprog pr = {progress, ud, 0, (uint64_t)size};
    if (!rc) {
        rc = zt__net_run(ns, pp, nb, zt__az_block_done, &pr);
        for (size_t i = 0; !rc && i < nb; i++)
            if (bl[i].rc) rc = zt__err(bl[i].rc, "%s", bl[i].errmsg ? bl[i].errmsg : "block upload failed");
    }
    close(fd);
    zt_buf body;
    zt__buf_init(&body);
    if (!rc) {
        int e = zt__buf_printf(&body, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for (size_t i = 0; i < nb; i++) e |= zt__buf_printf(&body, "<Latest>%s</Latest>", ids[i]);
        e |= zt__buf_printf(&body, "</BlockList>");
        if (e) rc = zt__err(ZT_ENOMEM, "out of memory");
    }
    if (!rc) {
        zt_hreq h;
        zt__hreq_init(&h, "PUT");
        rc = zt__az_object(ns, &h, key);
        const char *q[] = {"comp", "blocklist", NULL};
        if (!rc && !(h.query = zt__query_build(q))) rc = zt__err(ZT_ENOMEM, "out of memory");
        h.has_body = true;
        h.body = body.data;
        h.body_len = body.len;
        if (!rc) rc = zt__strlist_push(&h.hdrs, "Content-Type: application/xml");
        if (!rc) rc = zt__net_run1(ns, &h);
        zt__hreq_free(&h);
    }
    zt__buf_free(&body);
    for (size_t i = 0; bl && i < nb; i++) zt__hreq_free(&bl[i]);
    for (size_t i = 0; ids && i < nb; i++) free(ids[i]);
    free(ids);
    free(bl);
    free(pp);
    return rc;
}

static void zt__az_close(zt_store *st) {
    zt_az *a = (zt_az *)st;
    zt__netstore_fini(&a->ns);
    free(a->ep_path);
    free(a->container);
    free(a->root);
    free(a->account);
    if (a->key) memset(a->key, 0, a->key_len);
    free(a->key);
    free(a->sas);
    free(a);
}

static const zt_store_vt zt__az_vt = {
    .scheme = "az",
    .get = zt__netvt_get,
    .head = zt__netvt_head,
    .put = zt__netvt_put,
    .del = zt__netvt_del,
    .list = zt__az_list,
    .get_batch = zt__netvt_get_batch,
    .put_file = zt__az_put_file,
    .close = zt__az_close,
    .put_batch = zt__netvt_put_batch,
};

/* Value of name in a "k=v;k=v" connection string (malloc'd) or NULL. */
static char *zt__cs_get(const char *cs, const char *name) {
    size_t nl = strlen(name);
    for (const char *p = cs; p && *p;) {
        while (*p == ';' || *p == ' ') p++;
        size_t l = strcspn(p, ";");
        if (l > nl && !strncasecmp(p, name, nl) && p[nl] == '=') return zt__strndup(p + nl + 1, l - nl - 1);
        p += l;
    }
    return NULL;
}

int zt__store_azure_open(const char *url, const zt_options_t *opts, zt_store **out) {
    zt_az *a = calloc(1, sizeof *a);
    if (!a) return zt__err(ZT_ENOMEM, "out of memory");
    int rc = zt__netstore_init(&a->ns, &zt__az_vt, &zt__az_ops, url, opts);
    a->ns.objops = &zt__az_objops;
    const char *loc = strstr(url, "://");
    loc = loc ? loc + 3 : url;
    /* container[@account.host]/path */
    size_t cl = strcspn(loc, "/@");
    char *url_account = NULL;
    if (!rc && cl == 0) rc = zt__err(ZT_EINVAL, "%s: no container name", url);
    if (!rc) {
        a->container = zt__strndup(loc, cl);
        const char *p = loc + cl;
        if (*p == '@') {
            size_t hl = strcspn(p + 1, "/");
            url_account = zt__strndup(p + 1, strcspn(p + 1, "./"));
            p += 1 + hl;
        }
        while (*p == '/') p++;
        size_t pl = strlen(p);
        while (pl > 0 && p[pl - 1] == '/') pl--;
        a->root = zt__strndup(p, pl);
        if (!a->container || !a->root) rc = zt__err(ZT_ENOMEM, "out of memory");
    }
    char *endpoint = NULL, *key = NULL, *proto = NULL, *suffix = NULL;
    if (!rc) {
        const char *cs = zt__opt(opts, "connection_string");
        if (!cs) cs = zt__env_first("AZURE_STORAGE_CONNECTION_STRING", NULL);
        if (cs) {
            char *dev = zt__cs_get(cs, "UseDevelopmentStorage");
            if (dev && !strcasecmp(dev, "true")) {
                a->account = zt__strdup("devstoreaccount1");
                key = zt__strdup("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
                                 "K1SZFPTOtr/KBHBeksoGMGw==");
                endpoint = zt__strdup("http://127.0.0.1:10000/devstoreaccount1");
            }
            free(dev);
            char *v;
            if ((v = zt__cs_get(cs, "AccountName"))) { free(a->account); a->account = v; }
            if ((v = zt__cs_get(cs, "AccountKey"))) { free(key); key = v; }
            if ((v = zt__cs_get(cs, "BlobEndpoint"))) { free(endpoint); endpoint = v; }
            a->sas = zt__cs_get(cs, "SharedAccessSignature");
            proto = zt__cs_get(cs, "DefaultEndpointsProtocol");
            suffix = zt__cs_get(cs, "EndpointSuffix");
        }
        const char *v;
        if ((v = zt__opt(opts, "account_name"))) { free(a->account); a->account = zt__strdup(v); }
        if (!a->account && url_account) a->account = zt__strdup(url_account);
        if (!a->account && (v = zt__env_first("AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT", NULL)))
            a->account = zt__strdup(v);
        if ((v = zt__opt(opts, "account_key"))) { free(key); key = zt__strdup(v); }
        if (!key && (v = zt__env_first("AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_KEY", NULL)))
            key = zt__strdup(v);
        if ((v = zt__opt(opts, "sas_token"))) { free(a->sas); a->sas = zt__strdup(v); }
        if (!a->sas && (v = zt__env_first("AZURE_STORAGE_SAS_TOKEN", NULL))) a->sas = zt__strdup(v);
        if ((v = zt__opt(opts, "endpoint_url"))) { free(endpoint); endpoint = zt__strdup(v); }
        if (zt__opt_bool(opts, "anon", false)) {
            free(key);
            key = NULL;
            free(a->sas);
            a->sas = NULL;
        }
        if (a->sas && a->sas[0] == '?') memmove(a->sas, a->sas + 1, strlen(a->sas));
        if (!a->account && !endpoint)
            rc = zt__err(ZT_EINVAL, "%s: no storage account (set account_name, connection_string "
                                    "or AZURE_STORAGE_CONNECTION_STRING)", url);
    }
    if (!rc && key) {
        zt_buf kb;
        zt__buf_init(&kb);
        if (zt__b64_decode(key, strlen(key), &kb) == 0) a->key = zt__buf_steal(&kb, &a->key_len);
        else zt__buf_free(&kb);
        if (!a->key || a->key_len == 0) rc = zt__err(ZT_EAUTH, "%s: the account key is not valid base64", url);
        if (!rc && !a->account) rc = zt__err(ZT_EINVAL, "%s: an account key needs an account name", url);
    }
    if (!rc && !endpoint)
        endpoint = zt__asprintf("%s://%s.blob.%s", proto ? proto : "https", a->account,
                                suffix ? suffix : "core.windows.net");
    if (!rc) {
        const char *rest;
        rc = endpoint ? zt__split_base(endpoint, &a->ns.base_url, &a->ns.host, &rest) : zt__err(ZT_ENOMEM, "out of memory");
        if (!rc) {
            size_t l = strcspn(rest, "?");
            while (l > 0 && rest[l - 1] == '/') l--;
            a->ep_path = zt__strndup(rest, l);
            if (!a->ep_path) rc = zt__err(ZT_ENOMEM, "out of memory");
        }
        if (!rc && !a->account) {
            /* Endpoint only: the account is the first host label. */
            a->account = zt__strndup(a->ns.host, strcspn(a->ns.host, ".:"));
        }
    }
    const char *pg = zt__opt(opts, "list_page_size");
    double ps = pg ? atof(pg) : 5000;
    a->page_size = ps >= 1 && ps <= 5000 ? (int)ps : 5000;
    a->ns.no_suffix = true; /* Azure documents no "bytes=-N" */
    if (key) memset(key, 0, strlen(key));
    free(key);
    free(endpoint);
    free(proto);
    free(suffix);
    free(url_account);
    if (rc) {
        zt__az_close(&a->ns.base);
        return rc;
    }
    ZT_DEBUG("%s: endpoint %s%s, account %s, %s", url, a->ns.base_url, a->ep_path, a->account,
             a->key ? "shared key" : a->sas ? "SAS" : "anonymous");
    *out = &a->ns.base;
    return 0;
}
