/* Node tree of a trajectory file and format detection. */
#include "array/array.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

zt_node *zt__node_new(const char *name, zt_node *parent, bool is_array) {
    zt_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->name = strdup(name ? name : "");
    n->path = parent && parent->path[0] ? zt__path_join(parent->path, name) : strdup(name ? name : "");
    n->attrs = json_object();
    n->is_array = is_array;
    n->parent = parent;
    if (!n->name || !n->path || !n->attrs) {
        zt__node_free(n);
        return NULL;
    }
    return n;
}

void zt__node_free(zt_node *n) {
    if (!n) return;
    for (size_t i = 0; i < n->n_children; i++) zt__node_free(n->children[i]);
    free(n->children);
    json_decref(n->attrs);
    json_decref(n->value);
    zt__array_free(n->array);
    free(n->name);
    free(n->path);
    free(n);
}

int zt__node_add_child(zt_node *p, zt_node *c) {
    zt_node **ch = realloc(p->children, (p->n_children + 1) * sizeof *ch);
    if (!ch) return zt__err(ZT_ENOMEM, "out of memory");
    p->children = ch;
    size_t i = p->n_children;
    while (i > 0 && strcmp(ch[i - 1]->name, c->name) > 0) {
        ch[i] = ch[i - 1];
        i--;
    }
    ch[i] = c;
    p->n_children++;
    c->parent = p;
    return 0;
}

zt_node *zt__node_child(const zt_node *n, const char *name) {
    return zt__node_childn(n, name, strlen(name));
}

zt_node *zt__node_childn(const zt_node *n, const char *name, size_t len) {
    if (!n) return NULL;
    for (size_t i = 0; i < n->n_children; i++) {
        const char *c = n->children[i]->name;
        if (!strncmp(c, name, len) && c[len] == 0) return n->children[i];
    }
    return NULL;
}

zt_node *zt__node_find(const zt_node *n, const char *path) {
    const zt_node *cur = n;
    while (cur && path && *path) {
        while (*path == '/') path++;
        if (!*path) break;
        const char *e = strchr(path, '/');
        size_t l = e ? (size_t)(e - path) : strlen(path);
        cur = zt__node_childn(cur, path, l);
        path += l;
    }
    return (zt_node *)cur;
}

const char *zt__attr_str(const zt_node *n, const char *key) {
    json_t *v = n ? json_object_get(n->attrs, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

bool zt__attr_int(const zt_node *n, const char *key, int64_t *out) {
    json_t *v = n ? json_object_get(n->attrs, key) : NULL;
    if (json_is_array(v) && json_array_size(v) == 1) v = json_array_get(v, 0);
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    double d = json_is_real(v) ? json_real_value(v) : 0.5;
    /* integral and in range (the cast of anything else is undefined) */
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == (double)(int64_t)d) {
        *out = (int64_t)d;
        return true;
    }
    return false;
}

bool zt__attr_num(const zt_node *n, const char *key, double *out) {
    json_t *v = n ? json_object_get(n->attrs, key) : NULL;
    if (json_is_array(v) && json_array_size(v) == 1) v = json_array_get(v, 0);
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return true;
    }
    return false;
}

void zt__tree_free(zt_tree *t) {
    if (!t) return;
    zt__node_free(t->root);
    if (t->impl_free) t->impl_free(t);
    zt__store_close(t->store);
    free(t->url);
    free(t);
}

static const uint8_t zt__h5sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

static bool zt__hdf5_name(const char *url) {
    /* Strip a query string before looking at the extension. */
    const char *q = strchr(url, '?');
    size_t n = q ? (size_t)(q - url) : strlen(url);
    static const char *ext[] = {".h5md", ".h5", ".hdf5", ".hdf", ".he5"};
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
        size_t l = strlen(ext[i]);
        if (n >= l && !strncasecmp(url + n - l, ext[i], l)) return true;
    }
    return false;
}

/* Whether the root object of s starts with the HDF5 signature (at 0, or at
 * 512, 1024, ... after a user block). */
static int zt__probe_hdf5(zt_store *s, bool *is_hdf5, bool *exists) {
    *is_hdf5 = *exists = false;
    for (int64_t off = 0; off <= (1 << 20); off = off ? off * 2 : 512) {
        zt_buf head;
        zt__buf_init(&head);
        int rc = zt__store_get_range(s, "", off, 8, &head);
        bool ok = rc == 0 && head.len == 8;
        if (ok) *is_hdf5 = !memcmp(head.data, zt__h5sig, 8);
        zt__buf_free(&head);
        if (rc == ZT_ENOTFOUND) return 0;
        if (rc) return rc;
        *exists = true;
        if (!ok || *is_hdf5) return 0;
    }
    return 0;
}

static int zt__open_hdf5(zt_store *s, const char *url, const zt_options_t *opts, zt_tree **out) {
#ifdef ZT_HAVE_HDF5
    return zt__hdf5_open_tree(s, url, opts, out);
#else
    (void)s;
    (void)opts;
    (void)out;
    return zt__err(ZT_EUNSUPPORTED, "%s: HDF5 file, but zarrtraj was built without HDF5", url);
#endif
}

int zt__tree_open(const char *url, const zt_options_t *opts, zt_tree **out) {
    zt_store *s = NULL;
    int rc;
    /* A kerchunk reference set (reference://URL or a .json file) is a Zarr
     * hierarchy whose chunks are byte ranges of other files. */
    if (zt__str_startswith(url, "reference://") || zt__str_endswith(url, ".json")) {
        rc = zt__store_refs_open(url, opts, &s);
        if (rc) return rc;
        rc = zt__zarr_open_tree(s, url, out);
        if (rc) zt__store_close(s);
        return rc;
    }
    rc = zt__store_open(url, opts, &s);
    if (rc) return rc;
    bool is_hdf5 = false, exists = false;
    if (zt__hdf5_name(url) && !zt__store_can(s, ZT_STORE_CAP_LOW_LATENCY)) {
        /* Remote .h5md: no separate signature probe (one round trip saved);
         * the HDF5 layer reports a missing signature itself. */
        rc = zt__open_hdf5(s, url, opts, out);
    } else if (zt__hdf5_name(url)) {
        rc = zt__probe_hdf5(s, &is_hdf5, &exists);
        if (!rc && is_hdf5) rc = zt__open_hdf5(s, url, opts, out);
        else if (!rc && exists) rc = zt__err(ZT_ENOTHDF5, "%s: not an HDF5 file (file signature not found)", url);
        else if (!rc) rc = zt__err(ZT_ENOTFOUND, "%s: not found", url);
    } else {
        /* A Zarr hierarchy is a prefix with .zgroup/.zmetadata; try it first so
         * a directory listing served over HTTP is never mistaken for a file. */
        rc = zt__zarr_open_tree(s, url, out);
        if (rc == ZT_ENOTFOUND) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", zt_last_error());
            int prc = zt__probe_hdf5(s, &is_hdf5, &exists);
            if (!prc && is_hdf5) rc = zt__open_hdf5(s, url, opts, out);
            else if (!prc && exists) rc = zt__err(ZT_ENOTH5MD, "%s: neither a zarrmd hierarchy nor an HDF5 file", url);
            else rc = zt__err(ZT_ENOTFOUND, "%s", msg);
        }
    }
    if (rc) zt__store_close(s);
    return rc;
}
