/* zt_glob: expand a pattern over any store that lists (local directories,
 * memory://, S3, GCS, Azure, HTTP autoindex). The pattern is split at its
 * first path component holding a glob character; the store is opened at
 * what precedes it, and each later component is matched (fnmatch) against
 * one level listed with a delimiter, so a bucket of trajectories is listed
 * directory by directory, never chunk by chunk. A match is a key (an .h5md
 * or .xtc file) or a "directory" (a zarrmd hierarchy). */
#include "store/store.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

/* In URLs '?' starts the query: only '*' and '[' are patterns there. */
static bool zt__magic(const char *s, size_t n, bool url) {
    for (size_t i = 0; i < n; i++)
        if (s[i] == '*' || s[i] == '[' || (!url && s[i] == '?')) return true;
    return false;
}

typedef struct zt_globctx {
    zt_store *s;
    const char *root;  /* URL of the store root, ending in '/' */
    const char *query; /* "" or "?..." appended to every match */
    char **comps;
    size_t ncomp;
    zt_strlist *out;
} zt_globctx;

static int zt__glob_add(zt_globctx *g, const char *rel, size_t n) {
    char *u = zt__asprintf("%s%.*s%s", g->root, (int)n, rel, g->query);
    if (!u) return zt__err(ZT_ENOMEM, "out of memory");
    if (zt__strlist_contains(g->out, u)) {
        free(u);
        return 0;
    }
    return zt__strlist_push_own(g->out, u);
}

static int zt__glob_level(zt_globctx *g, const char *prefix, size_t k) {
    zt_strlist keys, dirs;
    zt__strlist_init(&keys);
    zt__strlist_init(&dirs);
    int rc = zt__store_list(g->s, prefix, true, &keys, &dirs);
    size_t pl = strlen(prefix);
    bool last = k + 1 == g->ncomp;
    /* FNM_PERIOD: "*" skips hidden names, as a shell does */
    for (size_t i = 0; !rc && last && i < keys.n; i++)
        if (strlen(keys.items[i]) > pl && fnmatch(g->comps[k], keys.items[i] + pl, FNM_PERIOD) == 0)
            rc = zt__glob_add(g, keys.items[i], strlen(keys.items[i]));
    for (size_t i = 0; !rc && i < dirs.n; i++) {
        const char *d = dirs.items[i];
        size_t dl = strlen(d);
        if (dl <= pl + 1 || d[dl - 1] != '/') continue;
        char *name = zt__strndup(d + pl, dl - pl - 1);
        if (!name) {
            rc = zt__err(ZT_ENOMEM, "out of memory");
            break;
        }
        if (fnmatch(g->comps[k], name, FNM_PERIOD) == 0)
            rc = last ? zt__glob_add(g, d, dl - 1) : zt__glob_level(g, d, k + 1);
        free(name);
    }
    zt__strlist_free(&keys);
    zt__strlist_free(&dirs);
    return rc;
}

int zt_glob(const char *pattern, const zt_options_t *storage, char ***urls, size_t *n) {
    if (!pattern || !urls || !n) return zt__err(ZT_EINVAL, "zt_glob: NULL argument");
    *urls = NULL;
    *n = 0;
    const char *sch = strstr(pattern, "://");
    bool url = sch != NULL;
    size_t plen = strlen(pattern);
    const char *q = url ? strchr(sch + 3, '?') : NULL;
    size_t pathend = q ? (size_t)(q - pattern) : plen;
    /* the path starts after scheme://authority/ (file:// has an empty authority) */
    size_t start = 0;
    if (url) {
        const char *a = sch + 3, *slash = strchr(a, '/');
        start = slash && (size_t)(slash - pattern) < pathend ? (size_t)(slash - pattern) + 1 : pathend;
    }
    /* the first component with a glob character */
    size_t c0 = start, i = start;
    while (i <= pathend) {
        if (i == pathend || pattern[i] == '/') {
            if (zt__magic(pattern + c0, i - c0, url)) break;
            c0 = i + 1;
        }
        i++;
    }
    if (c0 > pathend) { /* no pattern: the URL itself */
        *urls = calloc(1, sizeof(char *));
        if (!*urls || !((*urls)[0] = strdup(pattern))) {
            free(*urls);
            *urls = NULL;
            return zt__err(ZT_ENOMEM, "out of memory");
        }
        *n = 1;
        return 0;
    }
    char *root = zt__strndup(pattern, c0); /* ends in '/' or is "" (a relative local pattern) */
    char *rest = zt__strndup(pattern + c0, pathend - c0);
    char *query = strdup(q ? q : "");
    zt_strlist comps, out;
    zt__strlist_init(&comps);
    zt__strlist_init(&out);
    int rc = root && rest && query ? 0 : zt__err(ZT_ENOMEM, "out of memory");
    for (char *tok = rest, *save = NULL; !rc && (tok = strtok_r(tok, "/", &save)); tok = NULL)
        rc = zt__strlist_push(&comps, tok);
    zt_store *s = NULL;
    if (!rc && comps.n == 0) rc = zt__err(ZT_EINVAL, "%s: empty glob pattern", pattern);
    if (!rc) rc = zt__store_open(*root ? root : ".", storage, &s);
    if (!rc && !s->vt->list)
        rc = zt__err(ZT_EUNSUPPORTED, "%s: %s cannot list its objects: pass the URLs themselves", pattern, s->url);
    if (!rc) {
        zt_globctx g = {s, root, query, comps.items, comps.n, &out};
        rc = zt__glob_level(&g, "", 0);
        if (rc) rc = zt__err_prefix(rc, "%s: listing: ", pattern);
    }
    zt__store_close(s);
    if (!rc) {
        zt__strlist_sort(&out);
        *urls = out.items ? out.items : calloc(1, sizeof(char *));
        *n = out.n;
        if (!*urls) rc = zt__err(ZT_ENOMEM, "out of memory");
        out.items = NULL;
        out.n = 0;
    }
    zt__strlist_free(&out);
    zt__strlist_free(&comps);
    free(root);
    free(rest);
    free(query);
    return rc;
}
