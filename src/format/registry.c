/* The format registry: one table of format descriptors, format detection
 * (zt__tree_open) and the choice of writer. Adding a format = one line here
 * plus its descriptor. */
#include "format/registry.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

const zt_format *const zt__formats[] = {
    &zt__kerchunk_format, /* reference://, .json: a Zarr tree over a reference store */
    &zt__zarr_format,     /* tried first when nothing claims the URL: a prefix is never a file */
#ifdef ZT_HAVE_HDF5
    &zt__hdf5_format,
#endif
    &zt__md_format, /* XTC, TRR, DCD, NetCDF: by extension, else by magic */
    NULL,
};

bool zt__url_has_ext(const char *url, const char *const *exts, size_t n) {
    const char *q = strchr(url, '?');
    size_t l = q ? (size_t)(q - url) : strlen(url);
    for (size_t i = 0; i < n; i++) {
        size_t e = strlen(exts[i]);
        if (l >= e && !strncasecmp(url + l - e, exts[i], e)) return true;
    }
    return false;
}

static int zt__open_store_of(const zt_format *f, const char *url, const zt_options_t *opts, zt_store **s) {
    return f->open_store ? f->open_store(url, opts, s) : zt__store_open(url, opts, s);
}

/* A format claims url: probe where probing is cheap, then open. */
static int zt__open_claimed(const zt_format *f, const char *url, const zt_options_t *opts, zt_tree **out) {
    zt_store *s = NULL;
    int rc = zt__open_store_of(f, url, opts, &s);
    if (rc) return rc;
    bool trust = (f->flags & ZT_FORMAT_TRUST_NAME) && !zt__store_can(s, ZT_STORE_CAP_LOW_LATENCY);
    if (f->probe && !trust) {
        rc = f->probe(s, url);
        if (rc == ZT_ENOTFOUND) rc = zt__err(ZT_ENOTFOUND, "%s: not found", url);
    }
    if (rc >= 0) rc = f->open_tree(s, url, opts, out);
    if (rc) zt__store_close(s);
    return rc;
}

int zt__tree_open(const char *url, const zt_options_t *opts, zt_tree **out) {
    for (const zt_format *const *f = zt__formats; *f; f++)
        if ((*f)->claims_url && (*f)->claims_url(url)) return zt__open_claimed(*f, url, opts, out);
    /* Nothing claims the URL: try the formats in order on one store. */
    zt_store *s = NULL;
    int rc = zt__store_open(url, opts, &s);
    if (rc) return rc;
    char first[1024] = "";
    const char *names[8];
    size_t nn = 0;
    bool something = false, found = false;
    rc = ZT_ENOTFOUND;
    for (const zt_format *const *f = zt__formats; *f; f++) {
        if ((*f)->flags & ZT_FORMAT_NAME_ONLY || (*f)->open_store) continue;
        if (nn < 8) names[nn++] = (*f)->what;
        int prc = (*f)->probe ? (*f)->probe(s, url) : 1;
        if (prc == 1) {
            rc = (*f)->open_tree(s, url, opts, out);
            if (rc == 0) return 0;
            /* an error of the format that is there (a probe said so, or the
             * open found its metadata) */
            if (rc != ZT_ENOTFOUND || (*f)->probe) {
                found = true;
                break;
            }
            if (!first[0]) snprintf(first, sizeof first, "%s", zt_last_error());
        } else if (prc != ZT_ENOTFOUND) {
            something = true; /* an object of another kind is there */
        }
        rc = ZT_ENOTFOUND;
    }
    if (found) {
        /* the error of the format found */
    } else if (something) {
        char list[256] = "";
        for (size_t i = 0; i < nn; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? (i + 1 == nn ? " nor " : ", ") : "",
                     names[i]);
        rc = zt__err(ZT_ENOTH5MD, "%s: neither %s", url, list);
    } else {
        rc = first[0] ? zt__err(ZT_ENOTFOUND, "%s", first) : zt__err(ZT_ENOTFOUND, "%s: not found", url);
    }
    zt__store_close(s);
    return rc;
}

const zt_format *zt__format_for_writing(const char *url) {
    const zt_format *def = NULL;
    for (const zt_format *const *f = zt__formats; *f; f++) {
        if (!(*f)->open_writer && !(*f)->open_frame_writer) continue;
        if ((*f)->claims_url && (*f)->claims_url(url)) return *f;
        if (!def && ((*f)->flags & ZT_FORMAT_DEFAULT_WRITER)) def = *f;
    }
    return def;
}
