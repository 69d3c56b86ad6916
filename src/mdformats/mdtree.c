/* H5MD-shaped node tree of a frame-indexed trajectory file (XTC, TRR, DCD, NetCDF):
 * per-atom arrays with one chunk per sample at the frame's byte range, and
 * small arrays (step, time, box) held inline as one chunk. */
#include "mdformats/mdformats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct zt_mdarr {
    int64_t *off, *len; /* per row-chunk, or NULL */
    int64_t n;
    uint8_t *data;      /* inline: the whole array */
    size_t ndata;
} zt_mdarr;

static int zt__md_locate(const zt_array *a, const int64_t *cidx, zt_chunk_loc *loc) {
    const zt_mdarr *m = a->impl;
    loc->key = NULL;
    if (m->data) {
        loc->inline_data = m->data;
        loc->inline_len = m->ndata;
        return 0;
    }
    int64_t r = a->ndim ? cidx[0] : 0;
    if (r < 0 || r >= m->n) return zt__err(ZT_ERANGE, "%s: %s: frame %lld out of range", a->file, a->path, (long long)r);
    loc->offset = m->off[r];
    loc->length = m->len[r];
    return 0;
}

static void zt__md_arr_free(zt_array *a) {
    zt_mdarr *m = a->impl;
    if (!m) return;
    free(m->off);
    free(m->len);
    free(m->data);
    free(m);
    a->impl = NULL;
}

static const zt_array_vt zt__md_array_vt = {zt__md_locate, zt__md_arr_free, NULL};

int zt__md_pipeline1(zt_codec *c, zt_pipeline **out) {
    int rc = zt__pipeline_new(out);
    if (rc) {
        zt__codec_free(c);
        return rc;
    }
    if ((rc = zt__pipeline_push(*out, c))) {
        zt__pipeline_free(*out);
        *out = NULL;
    }
    return rc;
}

/* A new array node under parent; pipeline taken (NULL = none). */
static int zt__md_array(zt_tree *t, zt_node *parent, const char *name, zt_dtype dt, int ndim,
                        const int64_t *shape, const int64_t *chunks, zt_pipeline *pl, zt_mdarr *m,
                        zt_node **out) {
    int rc = 0;
    zt_node *n = zt__node_new(name, parent, true);
    zt_array *a = n ? zt__array_new(n->path) : NULL;
    if (!pl) rc = zt__pipeline_new(&pl);
    if (!n || !a || rc) {
        zt__node_free(n);
        zt__array_free(a);
        zt__pipeline_free(pl);
        if (m) {
            free(m->off);
            free(m->len);
            free(m->data);
            free(m);
        }
        return rc ? rc : zt__err(ZT_ENOMEM, "out of memory");
    }
    n->array = a;
    a->file = t->url;
    a->ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        a->shape[d] = shape[d];
        a->chunks[d] = chunks[d] > 0 ? chunks[d] : 1;
    }
    a->dtype = dt;
    a->pipeline = pl;
    a->store = t->store;
    a->vt = &zt__md_array_vt;
    a->impl = m;
    a->codecs_desc = zt__pipeline_describe(pl);
    if ((rc = zt__array_validate(a)) || (rc = zt__node_add_child(parent, n))) {
        zt__node_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

/* Inline array holding data (copied). */
static int zt__md_inline(zt_tree *t, zt_node *parent, const char *name, zt_dtype dt, int ndim,
                         const int64_t *shape, const void *data, zt_node **out) {
    size_t ne = 1;
    int64_t chunks[ZT_MAXDIM];
    for (int d = 0; d < ndim; d++) {
        ne *= (size_t)shape[d];
        chunks[d] = shape[d] ? shape[d] : 1;
    }
    zt_mdarr *m = calloc(1, sizeof *m);
    size_t nb = ne * dt.size;
    if (m) m->data = malloc(nb ? nb : 1);
    if (!m || !m->data) {
        free(m);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    if (nb) memcpy(m->data, data, nb);
    /* inline chunks are a whole grid cell: pad a 0-row array's one chunk */
    m->ndata = nb;
    if (ne == 0) {
        size_t cb = dt.size;
        for (int d = 0; d < ndim; d++) cb *= (size_t)chunks[d];
        free(m->data);
        m->data = calloc(1, cb ? cb : 1);
        m->ndata = cb;
        if (!m->data) {
            free(m);
            return zt__err(ZT_ENOMEM, "out of memory");
        }
    }
    return zt__md_array(t, parent, name, dt, ndim, shape, chunks, NULL, m, out);
}

static zt_node *zt__md_group(zt_node *parent, const char *name, int *rc) {
    zt_node *n = zt__node_new(name, parent, false);
    if (!n) {
        *rc = zt__err(ZT_ENOMEM, "out of memory");
        return NULL;
    }
    if ((*rc = zt__node_add_child(parent, n))) {
        zt__node_free(n);
        return NULL;
    }
    return n;
}

/* step and time of samples frame[0..n) (frame NULL = every frame). */
static int zt__md_axes(zt_tree *t, zt_node *el, const zt_mdspec *sp, const int64_t *frame, int64_t n) {
    int64_t *st = malloc(sizeof *st * (size_t)(n ? n : 1));
    double *tm = malloc(sizeof *tm * (size_t)(n ? n : 1));
    float *tf = malloc(sizeof *tf * (size_t)(n ? n : 1));
    int rc = 0;
    if (!st || !tm || !tf) rc = zt__err(ZT_ENOMEM, "out of memory");
    for (int64_t k = 0; !rc && k < n; k++) {
        int64_t f = frame ? frame[k] : k;
        st[k] = sp->step[f];
        if (sp->time) {
            tm[k] = sp->time[f];
            tf[k] = (float)sp->time[f];
        }
    }
    zt_node *x = NULL;
    zt_dtype i8 = {'i', 8, false}, f4 = {'f', 4, false}, f8 = {'f', 8, false};
    if (!rc) rc = zt__md_inline(t, el, "step", i8, 1, &n, st, &x);
    if (!rc && sp->time) {
        rc = sp->time_f32 ? zt__md_inline(t, el, "time", f4, 1, &n, tf, &x) : zt__md_inline(t, el, "time", f8, 1, &n, tm, &x);
        if (!rc && sp->time_unit && json_object_set_new(x->attrs, "unit", json_string(sp->time_unit)))
            rc = zt__err(ZT_ENOMEM, "out of memory");
    }
    free(st);
    free(tm);
    free(tf);
    return rc;
}

int zt__md_build_tree(zt_store *s, const char *url, const zt_mdspec *sp, zt_tree **out) {
    int rc = 0;
    zt_tree *t = calloc(1, sizeof *t);
    if (!t || !(t->url = strdup(url)) || !(t->root = zt__node_new("", NULL, false))) {
        if (t) {
            free(t->url);
            free(t);
        }
        for (int k = 0; k < 3; k++) {
            zt__pipeline_free(sp->el[k].pipeline);
            zt__array_free(sp->el[k].array);
        }
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    t->store = s;
    t->format = sp->format;
    zt_pipeline *pls[3] = {sp->el[0].pipeline, sp->el[1].pipeline, sp->el[2].pipeline};
    zt_array *arrs[3] = {sp->el[0].array, sp->el[1].array, sp->el[2].array};
    zt_node *md = zt__md_group(t->root, "h5md", &rc);
    if (md && (json_object_set_new(md->attrs, "version", json_pack("[i,i]", 1, 1))))
        rc = zt__err(ZT_ENOMEM, "out of memory");
    zt_node *cr = md && !rc ? zt__md_group(md, "creator", &rc) : NULL;
    if (cr && json_object_set_new(cr->attrs, "name", json_string(sp->format)))
        rc = zt__err(ZT_ENOMEM, "out of memory");
    zt_node *parts = !rc ? zt__md_group(t->root, "particles", &rc) : NULL;
    zt_node *g = parts ? zt__md_group(parts, "trajectory", &rc) : NULL;
    if (g && sp->h5md_extra) json_object_update(g->attrs, sp->h5md_extra);
    zt_node *box = g ? zt__md_group(g, "box", &rc) : NULL;
    int64_t nb = 0;
    for (int64_t f = 0; sp->box && f < sp->n_frames; f++) nb += !sp->box_ok || sp->box_ok[f];
    if (box) {
        const char *bd = nb ? "periodic" : "none";
        if (json_object_set_new(box->attrs, "dimension", json_integer(3)) ||
            json_object_set_new(box->attrs, "boundary", json_pack("[s,s,s]", bd, bd, bd)))
            rc = zt__err(ZT_ENOMEM, "out of memory");
    }
    if (!rc && nb) {
        zt_node *ed = zt__md_group(box, "edges", &rc);
        float *bv = malloc(sizeof *bv * 9 * (size_t)nb);
        int64_t *fr = malloc(sizeof *fr * (size_t)nb);
        if (!rc && (!bv || !fr)) rc = zt__err(ZT_ENOMEM, "out of memory");
        int64_t k = 0;
        for (int64_t f = 0; !rc && f < sp->n_frames; f++) {
            if (sp->box_ok && !sp->box_ok[f]) continue;
            for (int q = 0; q < 9; q++) bv[k * 9 + q] = (float)sp->box[f * 9 + q];
            fr[k++] = f;
        }
        zt_node *v = NULL;
        int64_t shape[3] = {nb, 3, 3};
        zt_dtype f4 = {'f', 4, false};
        if (!rc) rc = zt__md_inline(t, ed, "value", f4, 3, shape, bv, &v);
        if (!rc && sp->length_unit && json_object_set_new(v->attrs, "unit", json_string(sp->length_unit)))
            rc = zt__err(ZT_ENOMEM, "out of memory");
        if (!rc) rc = zt__md_axes(t, ed, sp, nb == sp->n_frames ? NULL : fr, nb);
        free(bv);
        free(fr);
    }
    for (int k = 0; k < 3; k++) {
        const zt_mdel *e = &sp->el[k];
        if (rc || e->n_samples <= 0) continue;
        zt_node *en = zt__md_group(g, e->name, &rc);
        if (rc) break;
        if (arrs[k]) {
            zt_array *a = arrs[k];
            zt_node *v = zt__node_new("value", en, true);
            if (!v) {
                rc = zt__err(ZT_ENOMEM, "out of memory");
                break;
            }
            v->array = a;
            arrs[k] = NULL;
            a->file = t->url; /* the other format's tree goes away */
            if ((rc = zt__node_add_child(en, v))) {
                zt__node_free(v);
                break;
            }
            if (e->unit && json_object_set_new(v->attrs, "unit", json_string(e->unit)))
                rc = zt__err(ZT_ENOMEM, "out of memory");
            if (!rc) rc = zt__md_axes(t, en, sp, e->n_samples == sp->n_frames ? NULL : e->frame, e->n_samples);
            continue;
        }
        if (e->data) {
            int64_t shape[3] = {e->n_samples, sp->n_atoms, 3};
            zt_node *v = NULL;
            rc = zt__md_inline(t, en, "value", e->dtype, 3, shape, e->data, &v);
            if (!rc && e->unit && json_object_set_new(v->attrs, "unit", json_string(e->unit)))
                rc = zt__err(ZT_ENOMEM, "out of memory");
            if (!rc) rc = zt__md_axes(t, en, sp, e->n_samples == sp->n_frames ? NULL : e->frame, e->n_samples);
            continue;
        }
        zt_mdarr *m = calloc(1, sizeof *m);
        if (m) {
            m->n = e->n_samples;
            m->off = malloc(sizeof *m->off * (size_t)e->n_samples);
            m->len = malloc(sizeof *m->len * (size_t)e->n_samples);
        }
        if (!m || !m->off || !m->len) {
            if (m) {
                free(m->off);
                free(m->len);
                free(m);
            }
            rc = zt__err(ZT_ENOMEM, "out of memory");
            break;
        }
        memcpy(m->off, e->off, sizeof *m->off * (size_t)e->n_samples);
        memcpy(m->len, e->len, sizeof *m->len * (size_t)e->n_samples);
        int64_t shape[3] = {e->n_samples, sp->n_atoms, 3}, chunks[3] = {1, sp->n_atoms, 3};
        zt_node *v = NULL;
        rc = zt__md_array(t, en, "value", e->dtype, 3, shape, chunks, pls[k], m, &v);
        pls[k] = NULL;
        if (!rc && e->unit && json_object_set_new(v->attrs, "unit", json_string(e->unit)))
            rc = zt__err(ZT_ENOMEM, "out of memory");
        if (!rc) rc = zt__md_axes(t, en, sp, e->n_samples == sp->n_frames ? NULL : e->frame, e->n_samples);
    }
    if (!rc && sp->obs_name && sp->obs) { /* H5MD observables/NAME: value, step, time of every frame */
        zt_node *og = zt__md_group(t->root, "observables", &rc);
        zt_node *on = og ? zt__md_group(og, sp->obs_name, &rc) : NULL, *v = NULL;
        zt_dtype f8 = {'f', 8, false};
        int64_t n = sp->n_frames;
        if (on) rc = zt__md_inline(t, on, "value", f8, 1, &n, sp->obs, &v);
        if (!rc) rc = zt__md_axes(t, on, sp, NULL, n);
    }
    for (int k = 0; k < 3; k++) {
        zt__pipeline_free(pls[k]);
        zt__array_free(arrs[k]);
    }
    if (rc) {
        t->store = NULL; /* the caller keeps the store on failure */
        zt__tree_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void zt__md_box_vectors(double A, double B, double C, double a, double b, double g, double *box) {
    double ca = a == 90.0 ? 0.0 : cos(a * M_PI / 180), cb = b == 90.0 ? 0.0 : cos(b * M_PI / 180);
    double cg = g == 90.0 ? 0.0 : cos(g * M_PI / 180), sg = g == 90.0 ? 1.0 : sin(g * M_PI / 180);
    memset(box, 0, 9 * sizeof *box);
    if (!(A > 0 && B > 0 && C > 0) || !(sg != 0)) return; /* no valid cell: zeros */
    box[0] = A;
    box[3] = B * cg;
    box[4] = B * sg;
    box[6] = C * cb;
    box[7] = C * (ca - cb * cg) / sg;
    double z2 = C * C - box[6] * box[6] - box[7] * box[7];
    box[8] = z2 > 0 ? sqrt(z2) : 0;
}

bool zt__md_has_ext(const char *url, const char *const *ext, size_t n) {
    const char *q = strchr(url, '?');
    size_t len = q ? (size_t)(q - url) : strlen(url);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(ext[i]);
        if (len >= l && !strncasecmp(url + len - l, ext[i], l)) return true;
    }
    return false;
}

/* ---- sequential scanning -------------------------------------------------------- */
int zt__mdscan_init(zt_mdscan *sc, zt_store *s, const char *url, int64_t size) {
    memset(sc, 0, sizeof *sc);
    sc->s = s;
    sc->url = url;
    sc->size = size;
    zt__buf_init(&sc->win);
    /* remote: few large requests (a round trip costs more than the bytes) */
    sc->block = zt__store_can(s, ZT_STORE_CAP_LOW_LATENCY) ? (size_t)64 << 10 : (size_t)4 << 20;
    return 0;
}

int zt__mdscan_get(zt_mdscan *sc, int64_t off, size_t n, const uint8_t **p) {
    if (off < 0 || (int64_t)n > sc->size || off > sc->size - (int64_t)n) return ZT_ETRUNCATED;
    if (off >= sc->win_off && off + (int64_t)n <= sc->win_off + (int64_t)sc->win.len) {
        *p = sc->win.data + (off - sc->win_off);
        return 0;
    }
    size_t want = n > sc->block ? n : sc->block;
    if ((int64_t)want > sc->size - off) want = (size_t)(sc->size - off);
    sc->win.len = 0;
    int rc = zt__store_get_range(sc->s, "", off, (int64_t)want, &sc->win);
    if (rc) return rc;
    sc->win_off = off;
    if (sc->win.len < n) return ZT_ETRUNCATED;
    *p = sc->win.data;
    return 0;
}

void zt__mdscan_free(zt_mdscan *sc) { zt__buf_free(&sc->win); }
