/* H5MD model: see h5md.h. Lenient where real writers differ (the rules are in
 * ../shared/docs/h5md-zarrmd-notes.md), strict where data would be wrong. */
#include "h5md/h5md.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZT_FILE(h) ((h)->tree->url)

void zt__h5el_free(zt_h5el *e) {
    if (!e) return;
    free(e->name);
    free(e->step);
    free(e->time);
    free(e);
}

static const char *zt__unit_of(const zt_node *n) {
    const char *u = zt__attr_str(n, "unit");
    if (!u) {
        /* a one-element list of strings also occurs */
        json_t *v = n ? json_object_get(n->attrs, "unit") : NULL;
        if (json_is_array(v) && json_array_size(v) == 1 && json_is_string(json_array_get(v, 0)))
            u = json_string_value(json_array_get(v, 0));
    }
    return u && *u ? u : NULL;
}

/* A sample count the per-frame tables can hold: the reader keeps a few
 * 8-byte entries per frame, so 2^30 frames already need tens of GiB. */
#define ZT_H5MD_MAX_SAMPLES ((int64_t)1 << 30)

/* The `offset` attribute of a fixed step/time: absent (0), a number or a
 * one-element list of one; anything else is an error, not 0. */
static int zt__axis_offset(zt_h5md *h, const zt_node *n, const char *what, json_t **out) {
    json_t *v = json_object_get(n->attrs, "offset");
    *out = NULL;
    if (!v) return 0;
    if (json_is_array(v) && json_array_size(v) == 1) v = json_array_get(v, 0);
    if (!json_is_number(v)) {
        char *txt = json_dumps(json_object_get(n->attrs, "offset"), JSON_ENCODE_ANY | JSON_COMPACT);
        int rc = zt__err(ZT_EFORMAT, "%s: %s: the 'offset' attribute of a fixed %s must be a number, not %s",
                         ZT_FILE(h), n->path, what, txt ? txt : "?");
        free(txt);
        return rc;
    }
    *out = v;
    return 0;
}

/* A JSON number or a stored double as an exact int64 step. */
static bool zt__int_value(const json_t *j, double d, int64_t *out) {
    if (j && json_is_integer(j)) {
        *out = json_integer_value(j);
        return true;
    }
    if (j) d = json_real_value(j);
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return false; /* NaN too */
    *out = (int64_t)d;
    return (double)*out == d;
}

/* Read a 0-d or 1-D step/time array. */
static int zt__load_axis(zt_h5md *h, zt_h5el *e, zt_node *n, bool is_time) {
    const char *what = is_time ? "time" : "step";
    if (!n->is_array || !n->array)
        return zt__err(ZT_EFORMAT, "%s: %s: '%s' must be a numeric dataset", ZT_FILE(h), n->path, what);
    zt_array *a = n->array;
    if (a->ndim > 1)
        return zt__err(ZT_ESHAPE, "%s: %s: rank %d, must be 0 (fixed) or 1", ZT_FILE(h), n->path, a->ndim);
    int64_t count = e->n_samples;
    if (a->ndim == 0) {
        /* Fixed sampling (H5MD 1.1): sample i is at offset + i * increment. */
        json_t *offj = NULL;
        int rc = zt__axis_offset(h, n, what, &offj);
        if (rc) return rc;
        if (is_time) {
            double *d = NULL;
            size_t k = 0;
            if ((rc = zt__array_read_all_f64(a, &d, &k))) return rc;
            double inc = d[0], off = offj ? json_number_value(offj) : 0;
            free(d);
            e->time_fixed = true;
            e->time_inc = inc;
            e->time_off = off;
            e->time = malloc((size_t)(count ? count : 1) * sizeof(double));
            if (!e->time)
                return zt__err(ZT_ENOMEM, "%s: %s: out of memory for %lld times", ZT_FILE(h), n->path, (long long)count);
            for (int64_t i = 0; i < count; i++) e->time[i] = off + (double)i * inc;
            return 0;
        }
        int64_t *iv = NULL, ioff = 0;
        size_t k = 0;
        if ((rc = zt__array_read_all_i64(a, &iv, &k))) return rc; /* an exact int64 or an error */
        int64_t iinc = iv[0], last;
        free(iv);
        if (offj && !zt__int_value(offj, 0, &ioff))
            return zt__err(ZT_EFORMAT, "%s: %s: the 'offset' attribute of a fixed step must be an integer in the "
                           "int64 range, not %.17g", ZT_FILE(h), n->path, json_number_value(offj));
        /* every step lies between the first and the last: checking the last suffices */
        if (count > 0 && (!zt__mul_ok(count - 1, iinc, &last) || !zt__add_ok(ioff, last, &last)))
            return zt__err(ZT_EOVERFLOW, "%s: %s: fixed step: offset %lld + %lld samples of %lld overflows int64",
                           ZT_FILE(h), n->path, (long long)ioff, (long long)count, (long long)iinc);
        e->step_fixed = true;
        e->step_inc = iinc;
        e->step_off = ioff;
        e->step = malloc((size_t)(count ? count : 1) * sizeof(int64_t));
        if (!e->step)
            return zt__err(ZT_ENOMEM, "%s: %s: out of memory for %lld steps", ZT_FILE(h), n->path, (long long)count);
        for (int64_t i = 0; i < count; i++) e->step[i] = ioff + i * iinc;
        return 0;
    }
    if (a->shape[0] < count)
        return zt__err(ZT_EMISMATCH, "%s: %s: %s has %lld entries but value has %lld samples", ZT_FILE(h),
                       e->node->path, what, (long long)a->shape[0], (long long)count);
    size_t k = 0;
    int rc = is_time ? zt__array_read_all_f64(a, &e->time, &k) : zt__array_read_all_i64(a, &e->step, &k);
    /* Entries beyond the last value row: a writer (ours) grows step and time
     * first and was stopped before the values followed. They describe no
     * sample; the sample count is the value's. */
    if (!rc && a->shape[0] > count)
        ZT_INFO("%s: %s: %s has %lld entries for %lld samples; the trailing ones are ignored", ZT_FILE(h),
                e->node->path, what, (long long)a->shape[0], (long long)count);
    return rc;
}

int zt__h5el_load(zt_h5md *h, zt_node *node, const char *name, zt_h5el **out) {
    zt_h5el *e = calloc(1, sizeof *e);
    if (!e) return zt__err(ZT_ENOMEM, "out of memory");
    e->name = strdup(name);
    e->node = node;
    int rc = e->name ? 0 : zt__err(ZT_ENOMEM, "out of memory");
    if (rc) goto fail;
    if (node->is_array) {
        e->value = node->array;
        e->unit = zt__unit_of(node);
        *out = e;
        return 0;
    }
    zt_node *v = zt__node_child(node, "value");
    if (!v || !v->is_array) {
        rc = zt__err(ZT_EFORMAT, "%s: %s: element group has no 'value' dataset", ZT_FILE(h), node->path);
        goto fail;
    }
    e->value = v->array;
    e->unit = zt__unit_of(v);
    zt_node *st = zt__node_child(node, "step");
    if (!st) { /* group with value but no step: time-independent (lenient) */
        *out = e;
        return 0;
    }
    if (!e->value || e->value->ndim < 1) {
        rc = zt__err(ZT_ESHAPE, "%s: %s: a time-dependent value needs a sample axis", ZT_FILE(h), v->path);
        goto fail;
    }
    e->time_dependent = true;
    e->n_samples = e->value->shape[0];
    if (e->n_samples > ZT_H5MD_MAX_SAMPLES) {
        rc = zt__err(ZT_EUNSUPPORTED, "%s: %s: %lld samples, more than zarrtraj supports (2^30)", ZT_FILE(h),
                     v->path, (long long)e->n_samples);
        goto fail;
    }
    if ((rc = zt__load_axis(h, e, st, false))) goto fail;
    zt_node *tm = zt__node_child(node, "time");
    if (tm) {
        if ((rc = zt__load_axis(h, e, tm, true))) goto fail;
        e->time_unit = zt__unit_of(tm);
    }
    *out = e;
    return 0;
fail:
    zt__h5el_free(e);
    return rc;
}

int64_t zt__h5el_find_step(const zt_h5el *e, int64_t step) {
    if (!e->time_dependent || e->n_samples == 0) return -1;
    if (e->step_fixed) {
        if (e->step_inc == 0) return e->step_off == step ? 0 : -1;
        int64_t d = step - e->step_off;
        if (d % e->step_inc) return -1;
        int64_t i = d / e->step_inc;
        return i >= 0 && i < e->n_samples ? i : -1;
    }
    /* Steps are monotonic by spec; binary search, then a linear fallback for
     * files that break the rule. */
    int64_t lo = 0, hi = e->n_samples - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (e->step[mid] == step) return mid;
        if (e->step[mid] < step) lo = mid + 1;
        else hi = mid - 1;
    }
    for (int64_t i = 0; i < e->n_samples; i++)
        if (e->step[i] == step) return i;
    return -1;
}

/* ---- file ------------------------------------------------------------------- */

void zt__h5md_free(zt_h5md *h) {
    if (!h) return;
    zt__tree_free(h->tree);
    free(h->author);
    free(h->author_email);
    free(h->creator);
    free(h->creator_version);
    zt__strlist_free(&h->groups);
    free(h);
}

int zt__h5md_open(zt_tree *t, zt_h5md **out) {
    zt_h5md *h = calloc(1, sizeof *h);
    if (!h) {
        zt__tree_free(t);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    h->tree = t;
    zt__strlist_init(&h->groups);
    int rc = 0;
    zt_node *md = zt__node_child(t->root, "h5md");
    if (!md || md->is_array) {
        rc = zt__err(ZT_ENOTH5MD, "%s: no 'h5md' group at the root (not an H5MD file)", t->url);
        goto fail;
    }
    json_t *ver = json_object_get(md->attrs, "version");
    if (!json_is_array(ver) || json_array_size(ver) < 1 || !json_is_integer(json_array_get(ver, 0))) {
        rc = zt__err(ZT_EVERSION, "%s: h5md: missing or malformed 'version' attribute", t->url);
        goto fail;
    }
    h->version[0] = (int)json_integer_value(json_array_get(ver, 0));
    h->version[1] = json_array_size(ver) > 1 ? (int)json_integer_value(json_array_get(ver, 1)) : 0;
    if (h->version[0] != 1) {
        rc = zt__err(ZT_EVERSION, "%s: H5MD version %d.%d not supported (major version must be 1)", t->url,
                     h->version[0], h->version[1]);
        goto fail;
    }
    zt_node *au = zt__node_child(md, "author"), *cr = zt__node_child(md, "creator");
    h->author = zt__strdup(zt__attr_str(au, "name"));
    h->author_email = zt__strdup(zt__attr_str(au, "email"));
    h->creator = zt__strdup(zt__attr_str(cr, "name"));
    h->creator_version = zt__strdup(zt__attr_str(cr, "version"));
    zt_node *parts = zt__node_child(t->root, "particles");
    if (parts && !parts->is_array)
        for (size_t i = 0; i < parts->n_children && !rc; i++)
            if (!parts->children[i]->is_array) rc = zt__strlist_push(&h->groups, parts->children[i]->name);
    if (rc) goto fail;
    *out = h;
    return 0;
fail:
    zt__h5md_free(h);
    return rc;
}

void zt__h5group_free(zt_h5group *g) {
    if (!g) return;
    for (int i = 0; i < ZT_N_ELEMENTS; i++) zt__h5el_free(g->el[i]);
    for (size_t i = 0; i < g->n_extras; i++) zt__h5el_free(g->extras[i]);
    free(g->extras);
    free(g->name);
    free(g);
}

static int zt__push_el(zt_h5el ***list, size_t *n, zt_h5el *e) {
    zt_h5el **p = realloc(*list, (*n + 1) * sizeof *p);
    if (!p) {
        zt__h5el_free(e);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    p[(*n)++] = e;
    *list = p;
    return 0;
}

static char *zt__join_names(const zt_strlist *l) {
    zt_buf b;
    zt__buf_init(&b);
    for (size_t i = 0; i < l->n; i++) zt__buf_printf(&b, "%s%s", i ? ", " : "", l->items[i]);
    if (!b.data) return strdup("");
    return (char *)zt__buf_steal(&b, NULL);
}

/* Box: attributes and edges. */
static int zt__load_box(zt_h5md *h, zt_h5group *g, zt_node *box) {
    int64_t dim = 3;
    if (!zt__attr_int(box, "dimension", &dim)) {
        zt_node *dn = zt__node_child(box, "dimension"); /* ZnH5MD also stores a dataset */
        if (dn && dn->is_array && dn->array && zt__array_nelems(dn->array) == 1) {
            int64_t *v = NULL;
            size_t k;
            if (zt__array_read_all_i64(dn->array, &v, &k) == 0) dim = v[0];
            free(v);
        }
    }
    if (dim < 1 || dim > 3)
        return zt__err(ZT_EFORMAT, "%s: %s: box dimension %lld not supported", ZT_FILE(h), box->path, (long long)dim);
    g->dimension = (int)dim;
    for (int i = 0; i < 3; i++) snprintf(g->boundary[i], sizeof g->boundary[i], "%s", i < dim ? "periodic" : "none");
    json_t *b = json_object_get(box->attrs, "boundary");
    if (json_is_string(b)) {
        for (int i = 0; i < dim; i++) snprintf(g->boundary[i], sizeof g->boundary[i], "%s", json_string_value(b));
    } else if (json_is_array(b)) {
        for (int i = 0; i < dim && i < (int)json_array_size(b); i++) {
            json_t *s = json_array_get(b, (size_t)i);
            if (json_is_string(s)) snprintf(g->boundary[i], sizeof g->boundary[i], "%s", json_string_value(s));
        }
    }
    for (int i = 0; i < dim; i++)
        if (strcmp(g->boundary[i], "periodic") && strcmp(g->boundary[i], "none"))
            return zt__err(ZT_EFORMAT, "%s: %s: boundary '%s' must be 'periodic' or 'none'", ZT_FILE(h),
                           box->path, g->boundary[i]);
    zt_node *edges = zt__node_child(box, "edges");
    if (!edges) return 0;
    zt_h5el *e = NULL;
    int rc = zt__h5el_load(h, edges, "box/edges", &e);
    if (rc) return rc;
    if (!edges->is_array && !e->time_dependent) {
        zt__h5el_free(e);
        return zt__err(ZT_EFORMAT, "%s: %s: edges group has 'value' but no 'step'", ZT_FILE(h), edges->path);
    }
    zt_array *v = e->value;
    if (!v) {
        zt__h5el_free(e);
        return zt__err(ZT_EFORMAT, "%s: %s: edges must be numeric", ZT_FILE(h), edges->path);
    }
    int base = e->time_dependent ? 1 : 0;
    int r = v->ndim - base;
    if (r == 1 && v->shape[base] == dim) g->box_kind = ZT_BOX_VECTOR;
    else if (r == 2 && v->shape[base] == dim && v->shape[base + 1] == dim) g->box_kind = ZT_BOX_MATRIX;
    else {
        zt__h5el_free(e);
        return zt__err(ZT_ESHAPE, "%s: %s: edges must be a vector of %lld lengths or a %lldx%lld matrix",
                       ZT_FILE(h), edges->path, (long long)dim, (long long)dim, (long long)dim);
    }
    if (e->time_dependent) {
        g->el[ZT_BOX] = e;
        return 0;
    }
    /* Time-independent box stored once. */
    double *d = NULL;
    size_t k = 0;
    rc = zt__array_read_all_f64(v, &d, &k);
    if (!rc) {
        memset(g->box_fixed, 0, sizeof g->box_fixed);
        for (int i = 0; i < dim; i++) {
            if (g->box_kind == ZT_BOX_VECTOR) g->box_fixed[i][i] = d[i];
            else
                for (int j = 0; j < dim; j++) g->box_fixed[i][j] = d[i * dim + j];
        }
        g->box_fixed_valid = true;
    }
    free(d);
    e->name[0] = 0;
    zt__h5el_free(e);
    return rc;
}

/* Collect the step/time arrays of the elements under node (and small
 * time-independent datasets) for one batched preload: opening a remote file
 * then costs one round trip for all of them instead of one per array. */
static void zt__collect_small(zt_node *n, zt_array ***arrs, size_t *na, size_t *cap, int depth) {
    if (!n || depth > 6) return;
    for (size_t i = 0; i < n->n_children; i++) {
        zt_node *c = n->children[i];
        bool axis = !strcmp(c->name, "step") || !strcmp(c->name, "time");
        bool small_plain = c->is_array && c->array && zt__array_nelems(c->array) <= 4096;
        if (c->is_array && c->array && (axis || small_plain)) {
            if (*na == *cap) {
                size_t nc = *cap ? *cap * 2 : 32;
                zt_array **p = realloc(*arrs, nc * sizeof *p);
                if (!p) return;
                *arrs = p;
                *cap = nc;
            }
            (*arrs)[(*na)++] = c->array;
        } else if (!c->is_array) {
            zt__collect_small(c, arrs, na, cap, depth + 1);
        }
    }
}

static void zt__preload_small(zt_node *n) {
    zt_array **arrs = NULL;
    size_t na = 0, cap = 0;
    zt__collect_small(n, &arrs, &na, &cap, 0);
    /* best effort: a failure here is reported, in context, by the reads that follow */
    if (na && zt__arrays_preload(arrs, na, (size_t)64 << 20) != 0)
        ZT_DEBUG("preload of %zu small arrays failed: %s", na, zt_last_error());
    free(arrs);
}

static const char *zt__el_names[ZT_N_ELEMENTS] = {"position", "velocity", "force", "box/edges"};

int zt__h5md_load_group(zt_h5md *h, const char *name, zt_h5group **out) {
    if (h->groups.n == 0)
        return zt__err(ZT_EGROUP, "%s: no particle groups (the file has no 'particles' group or it is empty)", ZT_FILE(h));
    if (!name) {
        if (h->groups.n > 1) {
            char *all = zt__join_names(&h->groups);
            /* the CLI adds "with --group"; the option is named differently in each API */
            int rc = zt__err(ZT_EGROUP, "%s: %zu particle groups (%s): choose one", ZT_FILE(h), h->groups.n,
                             all ? all : "");
            free(all);
            return rc;
        }
        name = h->groups.items[0];
    } else if (!zt__strlist_contains(&h->groups, name)) {
        char *all = zt__join_names(&h->groups);
        int rc = zt__err(ZT_EGROUP, "%s: no particle group '%s' (groups: %s)", ZT_FILE(h), name, all ? all : "");
        free(all);
        return rc;
    }
    zt_h5group *g = calloc(1, sizeof *g);
    if (!g) return zt__err(ZT_ENOMEM, "out of memory");
    g->name = strdup(name);
    g->node = zt__node_find(h->tree->root, "particles");
    g->node = zt__node_child(g->node, name);
    g->dimension = 3;
    g->n_atoms = -1;
    for (int i = 0; i < 3; i++) snprintf(g->boundary[i], sizeof g->boundary[i], "none");
    int rc = g->name ? 0 : zt__err(ZT_ENOMEM, "out of memory");
    zt__preload_small(g->node);
    zt_node *box = zt__node_child(g->node, "box");
    if (!rc && box && !box->is_array) rc = zt__load_box(h, g, box);
    for (int k = 0; k < 3 && !rc; k++) {
        zt_node *n = zt__node_child(g->node, zt__el_names[k]);
        /* ZnH5MD writes 'forces' (it also writes 'momentum', which is not a velocity). */
        if (!n && k == ZT_FORCE) n = zt__node_child(g->node, "forces");
        if (!n || n->is_array) continue; /* time-independent: exposed as an extra */
        zt_h5el *e = NULL;
        if ((rc = zt__h5el_load(h, n, zt__el_names[k], &e))) break;
        if (!e->time_dependent) {
            /* a group is a time-dependent element: without step its samples
             * have no frames (a time-independent one is a plain dataset) */
            rc = zt__err(ZT_EFORMAT, "%s: %s: %s group has 'value' but no 'step'", ZT_FILE(h), n->path,
                         zt__el_names[k]);
            zt__h5el_free(e);
            break;
        }
        zt_array *v = e->value;
        if (!v || v->ndim != 3 || v->shape[2] != g->dimension) {
            rc = zt__err(ZT_ESHAPE, "%s: %s: %s/value has rank %d, must be rank 3 (n_frames, n_atoms, %d)",
                         ZT_FILE(h), n->path, n->name, v ? v->ndim : 0, g->dimension);
            zt__h5el_free(e);
            break;
        }
        if (g->n_atoms >= 0 && v->shape[1] != g->n_atoms) {
            rc = zt__err(ZT_ESHAPE, "%s: %s: %lld particles, but %s has %lld", ZT_FILE(h), n->path,
                         (long long)v->shape[1], zt__el_names[0], (long long)g->n_atoms);
            zt__h5el_free(e);
            break;
        }
        g->n_atoms = v->shape[1];
        g->el[k] = e;
    }
    /* Other elements (image, species, mass, charge, id, ...). A broken extra
     * must not make the trajectory unreadable: warn and skip it. */
    for (size_t i = 0; !rc && g->node && i < g->node->n_children; i++) {
        zt_node *c = g->node->children[i];
        bool known = !strcmp(c->name, "box");
        for (int k = 0; k < 3; k++)
            if (g->el[k] && g->el[k]->node == c) known = true;
        bool listed = false;
        for (size_t j = 0; j < g->n_extras; j++)
            if (g->extras[j]->node == c) listed = true;
        if (known || listed) continue;
        zt_h5el *e = NULL;
        int erc = zt__h5el_load(h, c, c->name, &e);
        if (erc) {
            ZT_WARN("skipping %s: %s", c->path, zt_last_error());
            continue;
        }
        rc = zt__push_el(&g->extras, &g->n_extras, e);
    }
    if (!rc && g->n_atoms < 0) {
        /* no time-dependent particle data: take N from an extra */
        for (size_t j = 0; j < g->n_extras && g->n_atoms < 0; j++) {
            zt_h5el *e = g->extras[j];
            if (!e->value) continue;
            int ax = e->time_dependent ? 1 : 0;
            if (e->value->ndim > ax) g->n_atoms = e->value->shape[ax];
        }
        if (g->n_atoms < 0) g->n_atoms = 0;
    }
    if (rc) {
        zt__h5group_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

static int zt__obs_scan(zt_h5md *h, zt_node *dir, const char *prefix, const char *gname,
                        zt_h5el ***out, size_t *n, int depth) {
    int rc = 0;
    for (size_t i = 0; !rc && i < dir->n_children; i++) {
        zt_node *c = dir->children[i];
        char *name = prefix ? zt__asprintf("%s/%s", prefix, c->name) : strdup(c->name);
        if (!name) return zt__err(ZT_ENOMEM, "out of memory");
        if (!c->is_array && !zt__node_child(c, "value")) {
            /* A sub-group of observables, normally named after a particle group. */
            bool other_group = zt__strlist_contains(&h->groups, c->name) && gname && strcmp(c->name, gname);
            if (!other_group && depth < 4) rc = zt__obs_scan(h, c, name, gname, out, n, depth + 1);
            free(name);
            continue;
        }
        zt_h5el *e = NULL;
        int erc = zt__h5el_load(h, c, name, &e);
        free(name);
        if (erc) {
            ZT_WARN("skipping observable %s: %s", c->path, zt_last_error());
            continue;
        }
        rc = zt__push_el(out, n, e);
    }
    return rc;
}

int zt__h5md_load_observables(zt_h5md *h, const char *gname, zt_h5el ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    zt_node *obs = zt__node_child(h->tree->root, "observables");
    if (!obs || obs->is_array) return 0;
    zt__preload_small(obs);
    int rc = zt__obs_scan(h, obs, NULL, gname, out, n, 0);
    if (rc) {
        for (size_t i = 0; i < *n; i++) zt__h5el_free((*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}
