/* Trajectory reader: frames as the union of the steps of position, velocity,
 * force and box edges; every chunk read through the shared cache/fetch engine. */
#include "format/registry.h"
#include "traj/reader.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const zt_unit_kind_t zt__el_unit[ZT_N_ELEMENTS] = {ZT_UNIT_LENGTH, ZT_UNIT_VELOCITY,
                                                          ZT_UNIT_FORCE, ZT_UNIT_LENGTH};

/* ---- open / close ------------------------------------------------------------- */

static void zt__rdata_free(zt_rdata *d) {
    free(d->all);
    free(d->name);
}

void zt_reader_close(zt_reader_t *r) {
    if (!r) return;
    zt__readahead_stop(r);
    zt__cache_free(r->cache);
    zt__pool_free(r->pool);
    for (size_t i = 0; i < r->n_data; i++) zt__rdata_free(&r->data[i]);
    free(r->data);
    for (size_t i = 0; i < r->n_obs; i++) zt__h5el_free(r->obs[i]);
    free(r->obs);
    zt__h5group_free(r->g);
    zt__h5md_free(r->h);
    for (int k = 0; k < ZT_N_ELEMENTS; k++) free(r->fidx[k]);
    free(r->fstep);
    free(r->ftime);
    free(r->group);
    free(r->refs);
    free(r->ents);
    free(r->scratch);
    free(r->info_buf);
    free(r);
}

static int zt__cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Frames = sorted union of the element steps; map each frame to the sample of
 * every element (or -1). */
static int zt__build_frames(zt_reader_t *r) {
    int64_t total = 0;
    for (int k = 0; k < ZT_N_ELEMENTS; k++)
        if (r->g->el[k]) total += r->g->el[k]->n_samples;
    int64_t *all = malloc((size_t)(total ? total : 1) * sizeof *all);
    if (!all) return zt__err(ZT_ENOMEM, "%s: out of memory for the steps of %lld samples", r->h->tree->url, (long long)total);
    int64_t n = 0;
    for (int k = 0; k < ZT_N_ELEMENTS; k++) {
        zt_h5el *e = r->g->el[k];
        if (!e) continue;
        memcpy(all + n, e->step, (size_t)e->n_samples * sizeof *all);
        n += e->n_samples;
    }
    qsort(all, (size_t)n, sizeof *all, zt__cmp_i64);
    int64_t u = 0;
    for (int64_t i = 0; i < n; i++)
        if (u == 0 || all[i] != all[u - 1]) all[u++] = all[i];
    r->n_frames = u;
    r->fstep = all;
    r->ftime = malloc((size_t)(u ? u : 1) * sizeof(double));
    if (!r->ftime) return zt__err(ZT_ENOMEM, "%s: out of memory for %lld frames", r->h->tree->url, (long long)u);
    for (int64_t i = 0; i < u; i++) r->ftime[i] = NAN;
    for (int k = 0; k < ZT_N_ELEMENTS; k++) {
        zt_h5el *e = r->g->el[k];
        if (!e) continue;
        r->fidx[k] = malloc((size_t)(u ? u : 1) * sizeof(int64_t));
        if (!r->fidx[k]) return zt__err(ZT_ENOMEM, "%s: out of memory for %lld frames", r->h->tree->url, (long long)u);
        for (int64_t i = 0; i < u; i++) r->fidx[k][i] = -1;
        for (int64_t s = 0; s < e->n_samples; s++) {
            int64_t *p = bsearch(&e->step[s], all, (size_t)u, sizeof *all, zt__cmp_i64);
            int64_t f = p - all;
            if (r->fidx[k][f] >= 0) continue; /* duplicate step: first sample wins */
            r->fidx[k][f] = s;
            if (e->time && isnan(r->ftime[f])) r->ftime[f] = e->time[s] * r->tfac[k];
        }
    }
    return 0;
}

static int zt__setup_units(zt_reader_t *r) {
    for (int k = 0; k < ZT_N_ELEMENTS; k++) {
        r->fac[k] = 1.0;
        r->tfac[k] = 1.0;
        zt_h5el *e = r->g->el[k];
        if (!e || !r->convert_units) continue;
        if (e->unit) {
            int rc = zt_unit_factor(zt__el_unit[k], e->unit, &r->fac[k]);
            if (rc) return zt__err(rc, "%s: %s: unknown %s unit '%s' (open with convert_units=0 for native units)",
                                   r->h->tree->url, e->node->path, k == ZT_VELOCITY ? "velocity" : k == ZT_FORCE ? "force" : "length",
                                   e->unit);
        }
        if (e->time_unit) {
            int rc = zt_unit_factor(ZT_UNIT_TIME, e->time_unit, &r->tfac[k]);
            if (rc) return zt__err(rc, "%s: %s: unknown time unit '%s'", r->h->tree->url, e->node->path, e->time_unit);
        }
    }
    /* A time-independent box uses the length unit of its edges, which the
     * model read into box_fixed; convert it once here. */
    if (r->convert_units && r->g->box_fixed_valid) {
        zt_node *edges = zt__node_find(r->g->node, "box/edges");
        const char *u = edges ? zt__attr_str(edges, "unit") : NULL;
        if (!u && edges) u = zt__attr_str(zt__node_child(edges, "value"), "unit");
        double f = 1.0;
        if (u && zt_unit_factor(ZT_UNIT_LENGTH, u, &f) != 0)
            return zt__err(ZT_EUNITS, "%s: box/edges: unknown length unit '%s'", r->h->tree->url, u);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) r->g->box_fixed[i][j] *= f;
    }
    return 0;
}

static int zt__setup_data(zt_reader_t *r) {
    size_t n = r->n_obs + r->g->n_extras;
    r->data = calloc(n ? n : 1, sizeof *r->data);
    if (!r->data) return zt__err(ZT_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        zt_rdata *d = &r->data[r->n_data];
        bool obs = i < r->n_obs;
        zt_h5el *e = obs ? r->obs[i] : r->g->extras[i - r->n_obs];
        if (!e->value) continue; /* non-numeric (strings): not served */
        d->el = e;
        d->kind = obs ? ZT_DATA_OBSERVABLE : ZT_DATA_PARTICLE;
        d->name = strdup(e->name);
        if (!d->name) return zt__err(ZT_ENOMEM, "out of memory");
        int base = e->time_dependent ? 1 : 0;
        d->ndim = e->value->ndim - base;
        if (d->ndim < 0) d->ndim = 0;
        d->sample_size = 1;
        for (int k = 0; k < d->ndim && k < 8; k++) {
            d->shape[k] = e->value->shape[base + k];
            d->sample_size *= d->shape[k];
        }
        zt__dtype_to_str(e->value->dtype, d->dtype);
        r->n_data++;
    }
    return 0;
}

size_t zt__rowchunk_bytes(const zt_array *a) {
    size_t n = zt__array_chunk_nbytes(a);
    for (int d = 1; d < a->ndim; d++) n *= (size_t)zt__array_nchunks_dim(a, d);
    if (a->chunks_stored[0]) n *= (size_t)(a->chunks_stored[0] / a->chunks[0]);
    return n;
}

/* What one row-chunk of a costs the cache budget. */
static size_t zt__rowchunk_cost(const zt_array *a) {
    size_t n = 1;
    for (int d = 1; d < a->ndim; d++) n *= (size_t)zt__array_nchunks_dim(a, d);
    if (a->chunks_stored[0]) n *= (size_t)(a->chunks_stored[0] / a->chunks[0]);
    return n * zt__cache_cost(zt__array_chunk_nbytes(a));
}

/* Shard indexes of the per-atom elements, fetched on a helper thread while
 * the rest of the trajectory opens (step, time, box, observables): the first
 * random batch then costs one round trip instead of two. Remote stores only,
 * at most 2^16 row-chunks per element (an index of about 1 MiB); errors are
 * left for the reads that need the index to report. */
#define ZT_INDEX_PREFETCH_ROWS ((int64_t)1 << 16)

static void *zt__index_prefetch(void *arg) {
    zt_h5group *g = arg;
    for (int k = ZT_POSITION; k <= ZT_FORCE; k++) {
        const zt_array *a = g->el[k] ? g->el[k]->value : NULL;
        if (!a || !a->vt->prepare) continue;
        int64_t rows = zt__array_nchunks_dim(a, 0);
        size_t nd = (size_t)(a->ndim ? a->ndim : 1);
        if (rows <= 0 || rows > ZT_INDEX_PREFETCH_ROWS) continue;
        int64_t *c = calloc((size_t)rows * nd, sizeof *c);
        if (!c) continue;
        for (int64_t i = 0; i < rows; i++) c[(size_t)i * nd] = i;
        a->vt->prepare(a, c, (size_t)rows);
        free(c);
    }
    return NULL;
}

static bool zt__wants_index_prefetch(const zt_tree *t, const zt_h5group *g) {
    if (zt__store_can(t->store, ZT_STORE_CAP_LOW_LATENCY)) return false;
    for (int k = ZT_POSITION; k <= ZT_FORCE; k++)
        if (g->el[k] && g->el[k]->value->vt->prepare) return true;
    return false;
}

int zt_reader_open(const char *url, const zt_reader_opts_t *opts, zt_reader_t **out) {
    if (!url || !out) return zt__err(ZT_EINVAL, "zt_reader_open: NULL argument");
    *out = NULL;
    zt_reader_opts_t o = ZT_READER_OPTS_DEFAULTS;
    if (opts) o = *opts;
    double t0 = zt__now();
    zt_reader_t *r = calloc(1, sizeof *r);
    if (!r) return zt__err(ZT_ENOMEM, "out of memory");
    r->convert_units = o.convert_units;
    zt_tree *t = NULL;
    int rc = zt__tree_open(url, o.storage, &t);
    if (rc) goto fail;
    if ((rc = zt__h5md_open(t, &r->h))) goto fail;
    if ((rc = zt__h5md_load_group(r->h, o.group, &r->g))) goto fail;
    r->group = strdup(r->g->name);
    if (!r->group) {
        rc = zt__err(ZT_ENOMEM, "out of memory");
        goto fail;
    }
    pthread_t pf;
    bool pf_on = zt__wants_index_prefetch(t, r->g) && pthread_create(&pf, NULL, zt__index_prefetch, r->g) == 0;
    if (!(rc = zt__h5md_load_observables(r->h, r->g->name, &r->obs, &r->n_obs)) && !(rc = zt__setup_units(r)) &&
        !(rc = zt__build_frames(r)))
        rc = zt__setup_data(r);
    if (pf_on) pthread_join(pf, NULL);
    if (rc) goto fail;
    /* The window: half for decoded chunks read ahead of the caller (in flight
     * or ready: the pipeline depth), half bounding the compressed chunks in
     * flight (at least 32 MiB, so fetches stay parallel without read-ahead
     * too). Local files use at most 64 MiB of it: a disk needs no deeper
     * pipeline (measured: 32 MiB iterates as fast as 256). The cache holds the
     * budget plus the chunks ahead, and never less than one row-chunk of every
     * element, or reading frame by frame would fetch each chunk again for
     * every frame. */
    size_t window = o.readahead_bytes;
    if (zt__store_can(t->store, ZT_STORE_CAP_LOW_LATENCY) && window > ((size_t)64 << 20)) window = (size_t)64 << 20;
    r->readahead_bytes = window;
    r->ra_flight = window / 2;
    r->ra_ahead = window - r->ra_flight;
    size_t frame_min = 0;
    for (int k = 0; k < ZT_N_ELEMENTS; k++)
        if (r->g->el[k]) frame_min += zt__rowchunk_cost(r->g->el[k]->value);
    size_t dec = o.cache_bytes + r->ra_ahead, raw = r->ra_flight;
    if (dec < frame_min) dec = frame_min;
    if (raw < ((size_t)32 << 20)) raw = (size_t)32 << 20;
    if ((rc = zt__cache_create(dec, raw, &r->cache))) goto fail;
    if (o.threads > 0) {
        if ((rc = zt__pool_create(o.threads, &r->pool))) goto fail;
        zt__cache_set_pool(r->cache, r->pool);
    }
    ZT_INFO("opened %s (%s, group %s, %lld frames, %lld atoms): %llu requests, %llu bytes, %.1f ms", url,
            r->h->tree->format, r->group, (long long)r->n_frames, (long long)r->g->n_atoms,
            (unsigned long long)atomic_load(&r->h->tree->store->n_requests),
            (unsigned long long)atomic_load(&r->h->tree->store->n_bytes), (zt__now() - t0) * 1e3);
    *out = r;
    return 0;
fail:
    zt_reader_close(r);
    return rc;
}

/* ---- simple accessors ---------------------------------------------------------------- */

const char *zt_reader_format(const zt_reader_t *r) { return r ? r->h->tree->format : NULL; }
const char *zt_reader_group(const zt_reader_t *r) { return r ? r->group : NULL; }
size_t zt_reader_n_groups(const zt_reader_t *r) { return r ? r->h->groups.n : 0; }
const char *zt_reader_group_name(const zt_reader_t *r, size_t i) {
    return r && i < r->h->groups.n ? r->h->groups.items[i] : NULL;
}
int64_t zt_reader_n_frames(const zt_reader_t *r) { return r ? r->n_frames : 0; }
int64_t zt_reader_n_atoms(const zt_reader_t *r) { return r ? r->g->n_atoms : 0; }
int zt_reader_has(const zt_reader_t *r, zt_element_t el) {
    if (!r || el < 0 || el >= ZT_N_ELEMENTS) return 0;
    if (el == ZT_BOX) return r->g->el[ZT_BOX] != NULL || r->g->box_fixed_valid;
    return r->g->el[el] != NULL;
}
int64_t zt_reader_n_samples(const zt_reader_t *r, zt_element_t el) {
    if (!r || el < 0 || el >= ZT_N_ELEMENTS) return 0;
    if (el == ZT_BOX && !r->g->el[ZT_BOX]) return r->g->box_fixed_valid ? 1 : 0;
    return r->g->el[el] ? r->g->el[el]->n_samples : 0;
}
const char *zt_reader_unit(const zt_reader_t *r, zt_element_t el) {
    if (!r || el < 0 || el >= ZT_N_ELEMENTS) return NULL;
    if (r->g->el[el]) return r->g->el[el]->unit;
    if (el == ZT_BOX) {
        zt_node *edges = zt__node_find(r->g->node, "box/edges");
        const char *u = zt__attr_str(edges, "unit");
        return u ? u : zt__attr_str(zt__node_child(edges, "value"), "unit");
    }
    return NULL;
}
const char *zt_reader_time_unit(const zt_reader_t *r) {
    if (!r) return NULL;
    for (int k = 0; k < ZT_N_ELEMENTS; k++)
        if (r->g->el[k] && r->g->el[k]->time_unit) return r->g->el[k]->time_unit;
    return NULL;
}
const char *zt_reader_box_kind(const zt_reader_t *r) {
    if (!r) return NULL;
    return r->g->box_kind == ZT_BOX_MATRIX ? "triclinic" : r->g->box_kind == ZT_BOX_VECTOR ? "orthorhombic" : "none";
}
int zt_reader_box_boundary(const zt_reader_t *r, int i, const char **out) {
    if (!r || !out || i < 0 || i >= r->g->dimension || i >= 3)
        return zt__err(ZT_ERANGE, "box boundary index %d out of range", i);
    *out = r->g->boundary[i];
    return 0;
}
int zt_reader_box_time_dependent(const zt_reader_t *r) { return r && r->g->el[ZT_BOX] != NULL; }
int zt_reader_h5md_version(const zt_reader_t *r, int *major, int *minor) {
    if (!r) return zt__err(ZT_EINVAL, "NULL reader");
    if (major) *major = r->h->version[0];
    if (minor) *minor = r->h->version[1];
    return 0;
}
const char *zt_reader_attr(const zt_reader_t *r, const char *which) {
    if (!r || !which) return NULL;
    if (!strcmp(which, "author")) return r->h->author;
    if (!strcmp(which, "author_email")) return r->h->author_email;
    if (!strcmp(which, "creator")) return r->h->creator;
    if (!strcmp(which, "creator_version")) return r->h->creator_version;
    return NULL;
}

int zt_reader_array_info(const zt_reader_t *r, zt_element_t el, zt_array_info_t *info) {
    if (!r || !info || el < 0 || el >= ZT_N_ELEMENTS) return zt__err(ZT_EINVAL, "zt_reader_array_info: bad argument");
    zt_h5el *e = r->g->el[el];
    if (!e) return zt__err(ZT_ENOTFOUND, "%s: group '%s' has no %s", r->h->tree->url, r->group,
                           el == ZT_POSITION ? "position" : el == ZT_VELOCITY ? "velocity" : el == ZT_FORCE ? "force" : "time-dependent box");
    zt_array *a = e->value;
    memset(info, 0, sizeof *info);
    info->path = a->path;
    info->dtype = zt__dtype_to_str(a->dtype, ((zt_reader_t *)r)->dtype_buf[el]);
    info->ndim = a->ndim;
    for (int d = 0; d < a->ndim && d < 8; d++) {
        info->shape[d] = a->shape[d];
        info->chunks[d] = a->chunks_stored[d] ? a->chunks_stored[d] : a->chunks[d];
    }
    info->codecs = a->codecs_desc ? a->codecs_desc : "{}";
    info->unit = e->unit;
    return 0;
}

int zt_reader_steps(zt_reader_t *r, int64_t *steps, double *times) {
    if (!r) return zt__err(ZT_EINVAL, "NULL reader");
    if (steps) memcpy(steps, r->fstep, (size_t)r->n_frames * sizeof *steps);
    if (times) memcpy(times, r->ftime, (size_t)r->n_frames * sizeof *times);
    return 0;
}

/* ---- box ------------------------------------------------------------------------------- */

/* MDAnalysis' triclinic_box: lengths and angles (degrees) of three box vectors;
 * all zero when the box is degenerate. */
void zt__box_dimensions(const double m[3][3], double dims[6]) {
    double len[3];
    for (int i = 0; i < 3; i++) len[i] = sqrt(m[i][0] * m[i][0] + m[i][1] * m[i][1] + m[i][2] * m[i][2]);
    memset(dims, 0, 6 * sizeof(double));
    if (len[0] <= 0 || len[1] <= 0 || len[2] <= 0) return;
    const double r2d = 180.0 / M_PI;
    double ang[3];
    int pairs[3][2] = {{1, 2}, {0, 2}, {0, 1}}; /* alpha = (b,c), beta = (a,c), gamma = (a,b) */
    for (int k = 0; k < 3; k++) {
        const double *x = m[pairs[k][0]], *y = m[pairs[k][1]];
        double c = (x[0] * y[0] + x[1] * y[1] + x[2] * y[2]) / (len[pairs[k][0]] * len[pairs[k][1]]);
        if (c > 1) c = 1;
        if (c < -1) c = -1;
        ang[k] = acos(c) * r2d;
        if (!(ang[k] > 0 && ang[k] < 180)) return;
    }
    dims[0] = len[0];
    dims[1] = len[1];
    dims[2] = len[2];
    dims[3] = ang[0];
    dims[4] = ang[1];
    dims[5] = ang[2];
}

static void zt__box_from_values(const zt_reader_t *r, const double *v, double m[3][3]) {
    memset(m, 0, 9 * sizeof(double));
    int d = r->g->dimension;
    for (int i = 0; i < d && i < 3; i++) {
        if (r->g->box_kind == ZT_BOX_VECTOR) m[i][i] = v[i];
        else
            for (int j = 0; j < d && j < 3; j++) m[i][j] = v[i * d + j];
    }
}

/* ---- chunk plumbing ------------------------------------------------------------------- */

/* Row-chunks fetched per round of a timeseries or a batch of frames: the
 * budget bounds their bytes, this their number (each pinned entry costs a
 * few hundred bytes of bookkeeping, which tiny chunks would make dominate). */
#define ZT_ROUND_MAX_ROWCHUNKS 65536

/* Chunk refs covering rows [row0, row1) and trailing range [t0, t1) of axis 1
 * (all of the remaining axes). Appends to *refs. */
int zt__rows_refs(const zt_array *a, int64_t row0, int64_t row1, int64_t t0, int64_t t1,
                  zt_chunkref **refs, size_t *n, size_t *cap) {
    int nd = a->ndim;
    int64_t lo[ZT_MAXDIM], hi[ZT_MAXDIM], idx[ZT_MAXDIM];
    if (nd >= 1 && row1 > a->shape[0]) row1 = a->shape[0]; /* rows that exist (none in an empty array) */
    if (nd >= 1 && row0 >= row1) return 0;
    for (int d = 0; d < nd; d++) {
        lo[d] = 0;
        hi[d] = zt__array_nchunks_dim(a, d) - 1;
    }
    if (nd >= 1) {
        lo[0] = row0 / a->chunks[0];
        hi[0] = (row1 - 1) / a->chunks[0];
    }
    if (nd >= 2 && t1 > t0) {
        lo[1] = t0 / a->chunks[1];
        hi[1] = (t1 - 1) / a->chunks[1];
    }
    for (int d = 0; d < nd; d++) {
        if (hi[d] < lo[d]) return 0;
        idx[d] = lo[d];
    }
    for (;;) {
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            zt_chunkref *p = realloc(*refs, nc * sizeof *p);
            if (!p) return zt__err(ZT_ENOMEM, "out of memory");
            *refs = p;
            *cap = nc;
        }
        (*refs)[*n].a = a;
        (*refs)[*n].lin = zt__array_chunk_linear(a, idx);
        (*n)++;
        int d = nd - 1;
        for (; d >= 0; d--) {
            if (++idx[d] <= hi[d]) break;
            idx[d] = lo[d];
        }
        if (d < 0) break;
    }
    return 0;
}

/* Copy the box [start, start+count) out of the fetched chunks es[0..n) of a. */
void zt__copy_from_entries(const zt_array *a, const zt_chunkref *refs, zt_centry **es, size_t n,
                           const int64_t *start, const int64_t *count, void *out, char conv) {
    for (size_t i = 0; i < n; i++) {
        if (refs[i].a != a) continue;
        int64_t cidx[ZT_MAXDIM], corg[ZT_MAXDIM];
        zt__array_chunk_index(a, refs[i].lin, cidx);
        for (int d = 0; d < a->ndim; d++) corg[d] = cidx[d] * a->chunks[d];
        zt__copy_box_conv(a, es[i]->data, corg, start, count, out, conv);
    }
}

static void zt__scale_f32(float *p, size_t n, double f) {
    if (f == 1.0) return;
    float ff = (float)f;
    for (size_t i = 0; i < n; i++) p[i] *= ff;
}

/* ---- frames ------------------------------------------------------------------------------ */

static int zt__check_frame_api(const zt_reader_t *r) {
    if (r->g->dimension != 3)
        return zt__err(ZT_EUNSUPPORTED, "%s: particle group '%s' has a %d-D box; frames need 3-D (metadata is readable)",
                       r->h->tree->url, r->group, r->g->dimension);
    return 0;
}

int zt_reader_read_frame(zt_reader_t *r, int64_t i, zt_frame_t *fr, float *pos, float *vel, float *force) {
    if (!r) return zt__err(ZT_EINVAL, "NULL reader");
    if (i < 0 || i >= r->n_frames)
        return zt__err(ZT_ERANGE, "%s: frame %lld out of range (n_frames %lld)", r->h->tree->url, (long long)i,
                       (long long)r->n_frames);
    int rc = zt__check_frame_api(r);
    if (rc) return rc;
    float *bufs[3] = {pos, vel, force};
    zt_frame_t f;
    memset(&f, 0, sizeof f);
    f.index = i;
    f.step = r->fstep[i];
    f.time = r->ftime[i];
    f.has_time = !isnan(f.time);
    unsigned mask = (pos ? 1u : 0) | (vel ? 2u : 0) | (force ? 4u : 0) | (r->g->el[ZT_BOX] ? 8u : 0);
    zt__readahead_note(r, i, mask);

    zt_chunkref *refs = r->refs;
    size_t n = 0, cap = r->refs_cap;
    int64_t sample[ZT_N_ELEMENTS];
    for (int k = 0; k < ZT_N_ELEMENTS; k++) {
        sample[k] = r->fidx[k] ? r->fidx[k][i] : -1;
        f.has[k] = sample[k] >= 0;
        if (sample[k] < 0 || (k < 3 && !bufs[k])) continue;
        if ((rc = zt__rows_refs(r->g->el[k]->value, sample[k], sample[k] + 1, 0, 0, &refs, &n, &cap))) break;
    }
    r->refs = refs;
    r->refs_cap = cap;
    if (rc) return rc;
    if (n > r->ents_cap) {
        zt_centry **p = realloc(r->ents, n * sizeof *p);
        if (!p) return zt__err(ZT_ENOMEM, "out of memory");
        r->ents = p;
        r->ents_cap = n;
    }
    if ((rc = zt__fetch(r->cache, refs, n, r->ents))) return zt__err_suffix(rc, " (reading frame %lld)", (long long)i);
    int64_t N = r->g->n_atoms;
    for (int k = 0; k < 3; k++) {
        if (sample[k] < 0 || !bufs[k]) continue;
        int64_t start[3] = {sample[k], 0, 0}, count[3] = {1, N, 3};
        zt__copy_from_entries(r->g->el[k]->value, refs, r->ents, n, start, count, bufs[k], 'f');
        zt__scale_f32(bufs[k], (size_t)N * 3, r->fac[k]);
    }
    if (sample[ZT_BOX] >= 0) {
        zt_array *a = r->g->el[ZT_BOX]->value;
        double v[9] = {0};
        int64_t start[3] = {sample[ZT_BOX], 0, 0}, count[3] = {1, a->shape[1], a->ndim > 2 ? a->shape[2] : 1};
        zt__copy_from_entries(a, refs, r->ents, n, start, count, v, 'd');
        zt__box_from_values(r, v, f.box);
        for (int x = 0; x < 3; x++)
            for (int y = 0; y < 3; y++) f.box[x][y] *= r->fac[ZT_BOX];
    } else if (r->g->box_fixed_valid) {
        memcpy(f.box, r->g->box_fixed, sizeof f.box);
        f.has[ZT_BOX] = 1;
    }
    if (f.has[ZT_BOX]) zt__box_dimensions(f.box, f.dimensions);
    zt__cache_release(r->cache, r->ents, n);
    if (fr) *fr = f;
    return 0;
}

/* ---- selections and timeseries -------------------------------------------------------- */

int64_t zt_frame_range_count(int64_t start, int64_t stop, int64_t stride) {
    if (stride <= 0 || stop <= start) return 0;
    return (stop - start + stride - 1) / stride;
}

int zt_atomsel_count(const zt_reader_t *r, const zt_atomsel_t *sel, int64_t *count) {
    if (!r || !count) return zt__err(ZT_EINVAL, "NULL argument");
    int64_t N = r->g->n_atoms;
    if (!sel) {
        *count = N;
        return 0;
    }
    if (sel->indices) {
        for (size_t j = 0; j < sel->n; j++)
            if (sel->indices[j] < 0 || sel->indices[j] >= N)
                return zt__err(ZT_ERANGE, "%s: atom index %lld out of range (n_atoms %lld)", r->h->tree->url,
                               (long long)sel->indices[j],
                               (long long)N);
        *count = (int64_t)sel->n;
        return 0;
    }
    if (sel->start < 0 || sel->stop > N || sel->start > sel->stop)
        return zt__err(ZT_ERANGE, "%s: atom range %lld:%lld out of range (n_atoms %lld)", r->h->tree->url,
                       (long long)sel->start,
                       (long long)sel->stop, (long long)N);
    *count = sel->stop - sel->start;
    return 0;
}

/* Gather selected atoms of one sample row from fetched entries into out[nsel][3];
 * refs/es: the entries of that row's row-chunk (in zt__rows_refs order). */
static void zt__gather_atoms(const zt_array *a, const zt_chunkref *refs, zt_centry **es, size_t n, int64_t row,
                             const zt_atomsel_t *sel, int64_t nsel, float *out) {
    if (!sel || !sel->indices) {
        int64_t a0 = sel ? sel->start : 0;
        int64_t start[3] = {row, a0, 0}, count[3] = {1, nsel, 3};
        zt__copy_from_entries(a, refs, es, n, start, count, out, 'f');
        return;
    }
    /* Index list: locate each atom's chunk among the fetched ones. Entries for
     * a row-chunk are ordered by (atom chunk, dim chunk) as zt__rows_refs emits. */
    int64_t c1 = a->chunks[1], c2 = a->chunks[2];
    int64_t nd2 = zt__array_nchunks_dim(a, 2);
    int64_t rc0 = row / a->chunks[0];
    size_t sz = a->dtype.size;
    for (int64_t j = 0; j < nsel; j++) {
        int64_t at = sel->indices[j];
        int64_t ca = at / c1;
        for (int64_t cd = 0; cd < nd2; cd++) {
            int64_t cidx[3] = {rc0, ca, cd};
            int64_t lin = zt__array_chunk_linear(a, cidx);
            const zt_centry *e = NULL;
            size_t lo = 0, hi = n; /* the refs of one row-chunk are in increasing lin */
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (refs[mid].lin < lin) lo = mid + 1;
                else hi = mid;
            }
            if (lo < n && refs[lo].a == a && refs[lo].lin == lin) e = es[lo];
            if (!e) continue;
            int64_t d0 = cd * c2, d1 = d0 + c2 > 3 ? 3 : d0 + c2;
            size_t off = (size_t)((((row - rc0 * a->chunks[0]) * c1) + (at - ca * c1)) * c2);
            zt__convert_f32(e->data + off * sz, a->dtype, (size_t)(d1 - d0), out + j * 3 + d0);
        }
    }
}

/* Unique atom-axis range touched by a selection (for chunk refs). */
static void zt__sel_bounds(const zt_atomsel_t *sel, int64_t N, int64_t *t0, int64_t *t1) {
    if (!sel) {
        *t0 = 0;
        *t1 = N;
        return;
    }
    if (!sel->indices) {
        *t0 = sel->start;
        *t1 = sel->stop;
        return;
    }
    int64_t lo = N, hi = 0;
    for (size_t j = 0; j < sel->n; j++) {
        if (sel->indices[j] < lo) lo = sel->indices[j];
        if (sel->indices[j] + 1 > hi) hi = sel->indices[j] + 1;
    }
    *t0 = lo;
    *t1 = hi > lo ? hi : lo;
}

/* Drop refs whose atom chunk holds no selected atom (sparse index lists). */
static size_t zt__filter_refs(const zt_array *a, zt_chunkref *refs, size_t n, const zt_atomsel_t *sel,
                              uint8_t *mask) {
    if (!sel || !sel->indices || !mask) return n;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t cidx[ZT_MAXDIM];
        zt__array_chunk_index(a, refs[i].lin, cidx);
        if (mask[cidx[1]]) refs[k++] = refs[i];
    }
    return k;
}

/* One round of a timeseries: frames [first, end) of the output and the chunk
 * refs they need (at most rows_per_round distinct row-chunks), one segment of
 * refs per row-chunk: seg[i] is where segment i starts. A frame is copied
 * from its segment alone (copying from every ref of the round made a round of
 * many small chunks quadratic). */
typedef struct zt_tsround {
    zt_chunkref *refs;
    size_t n, cap;
    size_t *seg, nseg, segcap;
    int64_t first, end;
} zt_tsround;

typedef struct zt_tsargs {
    zt_reader_t *r;
    zt_element_t el;
    const zt_array *a;
    int64_t start, stride, nf, t0, t1;
    const zt_atomsel_t *sel;
    uint8_t *mask;
    int64_t rows_per_round;
} zt_tsargs;

static int zt__ts_collect(const zt_tsargs *t, int64_t fi, zt_tsround *rd) {
    rd->n = 0;
    rd->nseg = 0;
    rd->first = fi;
    int64_t rowchunks = 0, last_rc = -1;
    int rc = 0;
    while (fi < t->nf) {
        int64_t fr = t->start + fi * t->stride, s = t->r->fidx[t->el][fr];
        if (s >= 0) {
            int64_t rcn = s / t->a->chunks[0];
            if (rcn != last_rc) {
                if (rowchunks == t->rows_per_round) break;
                size_t before = rd->n;
                if (rd->nseg == rd->segcap) {
                    size_t nc = rd->segcap ? 2 * rd->segcap : 64;
                    size_t *p = realloc(rd->seg, nc * sizeof *p);
                    if (!p) {
                        rc = zt__err(ZT_ENOMEM, "out of memory");
                        break;
                    }
                    rd->seg = p;
                    rd->segcap = nc;
                }
                rd->seg[rd->nseg++] = before;
                if ((rc = zt__rows_refs(t->a, s, s + 1, t->t0, t->t1, &rd->refs, &rd->n, &rd->cap))) break;
                rd->n = before + zt__filter_refs(t->a, rd->refs + before, rd->n - before, t->sel, t->mask);
                rowchunks++;
                last_rc = rcn;
            }
        }
        fi++;
    }
    rd->end = fi;
    return rc;
}

int zt_reader_timeseries(zt_reader_t *r, zt_element_t el, int64_t start, int64_t stop, int64_t stride,
                         const zt_atomsel_t *sel, float *out) {
    if (!r || !out) return zt__err(ZT_EINVAL, "zt_reader_timeseries: NULL argument");
    if (el < 0 || el > ZT_FORCE) return zt__err(ZT_EINVAL, "timeseries needs position, velocity or force");
    int rc = zt__check_frame_api(r);
    if (rc) return rc;
    zt_h5el *e = r->g->el[el];
    if (!e) return zt__err(ZT_ENOTFOUND, "%s: group '%s' has no %s", r->h->tree->url, r->group,
                           el == ZT_POSITION ? "position" : el == ZT_VELOCITY ? "velocity" : "force");
    if (stride <= 0) return zt__err(ZT_EINVAL, "stride must be positive");
    if (start < 0 || stop > r->n_frames || start > stop)
        return zt__err(ZT_ERANGE, "%s: frame range %lld:%lld out of range (n_frames %lld)", r->h->tree->url, (long long)start,
                       (long long)stop, (long long)r->n_frames);
    int64_t nsel = 0;
    if ((rc = zt_atomsel_count(r, sel, &nsel))) return rc;
    int64_t nf = zt_frame_range_count(start, stop, stride);
    if (nf == 0 || nsel == 0) return 0;
    zt_array *a = e->value;
    int64_t t0, t1;
    zt__sel_bounds(sel, r->g->n_atoms, &t0, &t1);
    uint8_t *mask = NULL;
    if (sel && sel->indices) {
        mask = calloc((size_t)zt__array_nchunks_dim(a, 1), 1);
        if (!mask) return zt__err(ZT_ENOMEM, "out of memory");
        for (size_t j = 0; j < sel->n; j++) mask[sel->indices[j] / a->chunks[1]] = 1;
    }
    /* Bytes of one row-chunk of the selection: bounds how many row-chunks
     * are fetched per round so memory stays within the cache budget (a third
     * of it: the next round is prefetched while this one is copied out). */
    zt_chunkref *refs = NULL;
    size_t n = 0, cap = 0;
    rc = zt__rows_refs(a, 0, 1, t0, t1, &refs, &n, &cap);
    n = zt__filter_refs(a, refs, n, sel, mask);
    size_t per_rowchunk = n * zt__array_chunk_nbytes(a);
    free(refs);
    size_t budget = zt__cache_budget(r->cache) / 3;
    int64_t rows_per_round = per_rowchunk ? (int64_t)(budget / per_rowchunk) : 1;
    if (rows_per_round < 1) rows_per_round = 1;
    if (rows_per_round > ZT_ROUND_MAX_ROWCHUNKS) rows_per_round = ZT_ROUND_MAX_ROWCHUNKS;
    zt_tsround cur, nxt;
    memset(&cur, 0, sizeof cur);
    memset(&nxt, 0, sizeof nxt);
    zt_tsargs ta = {r, el, a, start, stride, nf, t0, t1, sel, mask, rows_per_round};
    zt_centry **es = NULL;
    size_t es_cap = 0;
    float nanv = NAN;
    if (!rc) rc = zt__ts_collect(&ta, 0, &cur);
    while (!rc && cur.end > cur.first) {
        if (cur.end < nf) {
            if ((rc = zt__ts_collect(&ta, cur.end, &nxt))) break;
            zt__readahead_prefetch(r, nxt.refs, nxt.n);
        }
        if (cur.n > es_cap) {
            zt_centry **p = realloc(es, cur.n * sizeof *p);
            if (!p) {
                rc = zt__err(ZT_ENOMEM, "out of memory");
                break;
            }
            es = p;
            es_cap = cur.n;
        }
        if ((rc = zt__fetch(r->cache, cur.refs, cur.n, es))) break;
        /* the segments follow the frames as zt__ts_collect made them */
        size_t si = SIZE_MAX;
        int64_t last_rc = -1;
        for (int64_t k = cur.first; k < cur.end; k++) {
            int64_t fr = start + k * stride, s = r->fidx[el][fr];
            float *o = out + (size_t)k * (size_t)nsel * 3;
            if (s < 0) {
                for (int64_t q = 0; q < nsel * 3; q++) o[q] = nanv;
                continue;
            }
            if (s / a->chunks[0] != last_rc) {
                si++;
                last_rc = s / a->chunks[0];
            }
            size_t b = cur.seg[si], e1 = si + 1 < cur.nseg ? cur.seg[si + 1] : cur.n;
            zt__gather_atoms(a, cur.refs + b, es + b, e1 - b, s, sel, nsel, o);
            zt__scale_f32(o, (size_t)nsel * 3, r->fac[el]);
        }
        zt__cache_release(r->cache, es, cur.n);
        if (cur.end >= nf) break; /* that was the last round */
        zt_tsround t = cur;
        cur = nxt;
        nxt = t;
        nxt.n = 0;
    }
    free(es);
    free(cur.refs);
    free(nxt.refs);
    free(cur.seg);
    free(nxt.seg);
    free(mask);
    return rc;
}

/* Row-chunk -> segment of the round being collected (open addressing; a
 * generation number empties it for each round in O(1)). */
typedef struct zt_rcmap {
    struct zt_rcslot {
        int64_t rc;
        size_t seg;
        uint64_t gen;
    } *slot;
    size_t mask;
    uint64_t gen;
} zt_rcmap;

static int zt__rcmap_init(zt_rcmap *m, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    m->slot = calloc(cap, sizeof *m->slot);
    m->mask = cap - 1;
    m->gen = 1;
    return m->slot ? 0 : zt__err(ZT_ENOMEM, "out of memory");
}

/* Slot of rc: found (gen current) or free. Never full: a round holds at most
 * n row-chunks and the table 2n slots. */
static struct zt_rcslot *zt__rcmap_slot(zt_rcmap *m, int64_t rc) {
    size_t h = (size_t)((uint64_t)rc * 0x9E3779B97F4A7C15ull >> 7) & m->mask;
    while (m->slot[h].gen == m->gen && m->slot[h].rc != rc) h = (h + 1) & m->mask;
    return &m->slot[h];
}

/* One round of zt_reader_read_frames: refs of its distinct row-chunks, one
 * segment each (seg[i] = first ref), and end = the next round's first frame. */
typedef struct zt_rfround {
    zt_chunkref *refs;
    size_t n, cap;
    size_t *seg, nseg, segcap;
    size_t end;
} zt_rfround;

static int zt__rf_collect(const zt_array *a, const int64_t *fidx, const int64_t *frames, const size_t *order,
                          size_t nfr, size_t j0, size_t per_round, zt_rcmap *map, size_t *fseg, zt_rfround *rd) {
    rd->n = rd->nseg = 0;
    map->gen++;
    size_t pos = j0;
    int rc = 0;
    for (; pos < nfr && !rc; pos++) {
        size_t j = order[pos];
        int64_t s = fidx[frames[j]];
        if (s < 0) continue;
        struct zt_rcslot *sl = zt__rcmap_slot(map, s / a->chunks[0]);
        if (sl->gen == map->gen) {
            fseg[j] = sl->seg;
            continue;
        }
        if (rd->nseg == per_round) break;
        if (rd->nseg == rd->segcap) {
            size_t nc = rd->segcap ? 2 * rd->segcap : 64;
            size_t *p = realloc(rd->seg, nc * sizeof *p);
            if (!p) {
                rc = zt__err(ZT_ENOMEM, "out of memory");
                break;
            }
            rd->seg = p;
            rd->segcap = nc;
        }
        sl->gen = map->gen;
        sl->rc = s / a->chunks[0];
        sl->seg = rd->nseg;
        fseg[j] = rd->nseg;
        rd->seg[rd->nseg++] = rd->n;
        rc = zt__rows_refs(a, s, s + 1, 0, 0, &rd->refs, &rd->n, &rd->cap);
    }
    rd->end = pos;
    return rc;
}

struct zt_rfkey {
    int64_t rc; /* row-chunk, -1 for a frame the element does not sample */
    size_t j;
};

static int zt__rfkey_cmp(const void *x, const void *y) {
    const struct zt_rfkey *a = x, *b = y;
    if (a->rc != b->rc) return a->rc < b->rc ? -1 : 1;
    return a->j < b->j ? -1 : a->j > b->j;
}

/* The batch's frames in row-chunk order: a row-chunk is then fetched in one
 * round only, however the frames are shuffled (in the caller's order a
 * cache smaller than the batch's chunks fetched a chunk again for nearly
 * every frame). Output positions are unchanged. NULL when out of memory. */
static size_t *zt__rf_order(const zt_array *a, const int64_t *fidx, const int64_t *frames, size_t nfr) {
    size_t *order = malloc((nfr ? nfr : 1) * sizeof *order);
    struct zt_rfkey *k = malloc((nfr ? nfr : 1) * sizeof *k);
    if (!order || !k) {
        free(order);
        free(k);
        return NULL;
    }
    bool sorted = true;
    for (size_t j = 0; j < nfr; j++) {
        int64_t s = fidx[frames[j]];
        k[j].rc = s < 0 ? -1 : s / a->chunks[0];
        k[j].j = j;
        if (j && k[j].rc < k[j - 1].rc) sorted = false;
    }
    if (!sorted) qsort(k, nfr, sizeof *k, zt__rfkey_cmp);
    for (size_t j = 0; j < nfr; j++) order[j] = k[j].j;
    free(k);
    return order;
}

/* The distinct chunks of a time-dependent box that frames[0..n) need
 * (none without one). */
static int zt__box_refs(zt_reader_t *r, const int64_t *frames, size_t n, zt_chunkref **refs, size_t *nr) {
    size_t cap = 0;
    *refs = NULL;
    *nr = 0;
    zt_h5el *b = r->g->el[ZT_BOX];
    if (!b || !r->fidx[ZT_BOX] || !n) return 0;
    zt_array *a = b->value;
    zt_rcmap m;
    int rc = zt__rcmap_init(&m, n);
    for (size_t j = 0; j < n && !rc; j++) {
        int64_t s = r->fidx[ZT_BOX][frames[j]];
        if (s < 0) continue;
        struct zt_rcslot *sl = zt__rcmap_slot(&m, s / a->chunks[0]);
        if (sl->gen == m.gen) continue;
        sl->gen = m.gen;
        sl->rc = s / a->chunks[0];
        rc = zt__rows_refs(a, s, s + 1, 0, 0, refs, nr, &cap);
    }
    free(m.slot);
    if (rc) {
        free(*refs);
        *refs = NULL;
        *nr = 0;
    }
    return rc;
}

/* Metadata of frames[0..n) for zt_reader_read_frames, the box chunks pinned
 * (es[0..nb), fetched with the first round of values: one round trip for
 * both) or, when es is NULL, fetched here in one call and pinned while each
 * frame is filled. */
static int zt__frames_info(zt_reader_t *r, const int64_t *frames, size_t n, zt_frame_t *info, zt_centry **es) {
    zt_chunkref *refs = NULL;
    zt_centry **own = NULL;
    size_t nr = 0;
    int rc = 0;
    if (!es) {
        rc = zt__box_refs(r, frames, n, &refs, &nr);
        if (!rc && nr && !(own = malloc(nr * sizeof *own))) rc = zt__err(ZT_ENOMEM, "out of memory");
        if (!rc && nr && (rc = zt__fetch(r->cache, refs, nr, own))) {
            free(own);
            own = NULL;
        }
    }
    for (size_t j = 0; j < n && !rc; j++) rc = zt_reader_read_frame(r, frames[j], &info[j], NULL, NULL, NULL);
    if (own) zt__cache_release(r->cache, own, nr);
    free(own);
    free(refs);
    return rc;
}

int zt_reader_read_frames(zt_reader_t *r, zt_element_t el, const int64_t *frames, size_t nfr, float *out,
                          zt_frame_t *info) {
    if (!r || (!out && !info) || (nfr && !frames)) return zt__err(ZT_EINVAL, "zt_reader_read_frames: NULL argument");
    if (el < 0 || el > ZT_FORCE) return zt__err(ZT_EINVAL, "read_frames needs position, velocity or force");
    int rc = zt__check_frame_api(r);
    if (rc) return rc;
    zt_h5el *e = r->g->el[el];
    if (!e) return zt__err(ZT_ENOTFOUND, "%s: group '%s' has no such element", r->h->tree->url, r->group);
    for (size_t j = 0; j < nfr; j++)
        if (frames[j] < 0 || frames[j] >= r->n_frames)
            return zt__err(ZT_ERANGE, "%s: frame %lld out of range (n_frames %lld)", r->h->tree->url, (long long)frames[j],
                           (long long)r->n_frames);
    zt_array *a = e->value;
    int64_t N = r->g->n_atoms;
    /* Rounds of distinct row-chunks within a third of the budget, all chunks
     * of a round in flight at once, the next round prefetched meanwhile. */
    size_t per_row = (size_t)zt__array_nchunks_dim(a, 1) * (size_t)zt__array_nchunks_dim(a, 2) * zt__array_chunk_nbytes(a);
    size_t budget = zt__cache_budget(r->cache) / 3;
    size_t per_round = per_row ? budget / per_row : 1;
    if (per_round < 1) per_round = 1;
    if (per_round > ZT_ROUND_MAX_ROWCHUNKS) per_round = ZT_ROUND_MAX_ROWCHUNKS;
    if (per_round > nfr) per_round = nfr ? nfr : 1;
    zt_rfround rd[2];
    memset(rd, 0, sizeof rd);
    zt_rcmap map;
    size_t *fseg = malloc((nfr ? nfr : 1) * sizeof *fseg); /* frame -> segment of its round */
    size_t *order = zt__rf_order(a, r->fidx[el], frames, nfr);
    zt_centry **es = NULL;
    rc = fseg && order ? zt__rcmap_init(&map, per_round) : zt__err(ZT_ENOMEM, "out of memory");
    if (rc) {
        free(fseg);
        free(order);
        return rc;
    }
    int q = 0;
    size_t j0 = 0;
    /* box chunks of the batch (for info): fetched with the first round */
    zt_chunkref *brefs = NULL;
    zt_centry **bes = NULL;
    size_t nb = 0;
    bool merged = false;
    rc = zt__rf_collect(a, r->fidx[el], frames, order, nfr, 0, per_round, &map, fseg, &rd[q]);
    if (!rc && info && out) rc = zt__box_refs(r, frames, nfr, &brefs, &nb);
    if (!rc && nb && !(bes = calloc(nb, sizeof *bes))) rc = zt__err(ZT_ENOMEM, "out of memory");
    while (!rc && j0 < nfr) {
        if (rd[q].end < nfr) {
            rc = zt__rf_collect(a, r->fidx[el], frames, order, nfr, rd[q].end, per_round, &map, fseg, &rd[1 - q]);
            if (!rc) zt__readahead_prefetch(r, rd[1 - q].refs, rd[1 - q].n);
        }
        if (rc) break;
        size_t extra = nb && !merged ? nb : 0, nf = rd[q].n + extra;
        zt_centry **p = realloc(es, (nf ? nf : 1) * sizeof *p);
        if (!p) {
            rc = zt__err(ZT_ENOMEM, "out of memory");
            break;
        }
        es = p;
        if (extra && rd[q].cap < nf) {
            zt_chunkref *nr = realloc(rd[q].refs, nf * sizeof *nr);
            if (!nr) {
                rc = zt__err(ZT_ENOMEM, "out of memory");
                break;
            }
            rd[q].refs = nr;
            rd[q].cap = nf;
        }
        if (extra) memcpy(rd[q].refs + rd[q].n, brefs, nb * sizeof *brefs);
        if ((rc = zt__fetch(r->cache, rd[q].refs, nf, es))) break;
        if (extra) { /* the box entries stay pinned until the metadata is filled */
            memcpy(bes, es + rd[q].n, nb * sizeof *bes);
            merged = true;
        }
        for (size_t pos = j0; pos < rd[q].end && out; pos++) {
            size_t j = order[pos];
            int64_t s = r->fidx[el][frames[j]];
            float *o = out + j * (size_t)N * 3;
            if (s < 0) {
                for (int64_t k = 0; k < N * 3; k++) o[k] = NAN;
            } else {
                size_t si = fseg[j], b = rd[q].seg[si], e1 = si + 1 < rd[q].nseg ? rd[q].seg[si + 1] : rd[q].n;
                int64_t st[3] = {s, 0, 0}, ct[3] = {1, N, 3};
                zt__copy_from_entries(a, rd[q].refs + b, es + b, e1 - b, st, ct, o, 'f');
                zt__scale_f32(o, (size_t)N * 3, r->fac[el]);
            }
        }
        zt__cache_release(r->cache, es, rd[q].n);
        j0 = rd[q].end;
        q = 1 - q;
    }
    free(es);
    for (int k = 0; k < 2; k++) {
        free(rd[k].refs);
        free(rd[k].seg);
    }
    free(map.slot);
    free(fseg);
    free(order);
    if (!rc && info) rc = zt__frames_info(r, frames, nfr, info, merged ? bes : NULL);
    if (merged) zt__cache_release(r->cache, bes, nb);
    free(bes);
    free(brefs);
    return rc;
}

/* ---- observables and other data --------------------------------------------------------- */

size_t zt_reader_n_data(const zt_reader_t *r) { return r ? r->n_data : 0; }

int zt_reader_data_info(const zt_reader_t *r, size_t i, zt_data_info_t *info) {
    if (!r || !info || i >= r->n_data) return zt__err(ZT_ERANGE, "data index %zu out of range", i);
    const zt_rdata *d = &r->data[i];
    memset(info, 0, sizeof *info);
    info->name = d->name;
    info->path = d->el->node->path;
    info->kind = d->kind;
    info->time_dependent = d->el->time_dependent;
    info->n_samples = d->el->time_dependent ? d->el->n_samples : 1;
    info->ndim = d->ndim;
    for (int k = 0; k < d->ndim && k < 8; k++) info->shape[k] = d->shape[k];
    info->sample_size = d->sample_size;
    info->dtype = d->dtype;
    info->unit = d->el->unit;
    info->has_time = d->el->time != NULL;
    return 0;
}

int zt_reader_data_find(const zt_reader_t *r, const char *name, size_t *i) {
    if (!r || !name) return zt__err(ZT_EINVAL, "NULL argument");
    for (size_t k = 0; k < r->n_data; k++)
        if (!strcmp(r->data[k].name, name)) {
            if (i) *i = k;
            return 0;
        }
    return zt__err(ZT_ENOTFOUND, "%s: no observable or particle data named '%s'", r->h->tree->url, name);
}

static int zt__data_load(zt_reader_t *r, zt_rdata *d) {
    if (d->all) return 0;
    size_t n = 0;
    int rc = zt__array_read_all_f64(d->el->value, &d->all, &n);
    if (rc) return rc;
    d->n_all = (int64_t)n;
    return 0;
}

int zt_reader_read_data(zt_reader_t *r, size_t i, int64_t frame, double *out) {
    if (!r || !out || i >= r->n_data) return zt__err(ZT_EINVAL, "zt_reader_read_data: bad argument");
    zt_rdata *d = &r->data[i];
    int64_t sample = 0;
    if (d->el->time_dependent) {
        if (frame < 0 || frame >= r->n_frames)
            return zt__err(ZT_ERANGE, "%s: frame %lld out of range (n_frames %lld)", r->h->tree->url, (long long)frame,
                           (long long)r->n_frames);
        sample = zt__h5el_find_step(d->el, r->fstep[frame]);
        if (sample < 0) return ZT_ENODATA; /* not sampled at this frame: not an error worth a message */
    }
    int rc = zt__data_load(r, d);
    if (rc) return rc;
    if ((sample + 1) * d->sample_size > d->n_all) return zt__err(ZT_ERANGE, "%s: sample out of range", d->name);
    memcpy(out, d->all + sample * d->sample_size, (size_t)d->sample_size * sizeof(double));
    return 0;
}

int zt_reader_read_data_all(zt_reader_t *r, size_t i, double *out, int64_t *steps, double *times) {
    if (!r || i >= r->n_data) return zt__err(ZT_EINVAL, "zt_reader_read_data_all: bad argument");
    zt_rdata *d = &r->data[i];
    int rc = zt__data_load(r, d);
    if (rc) return rc;
    if (out) memcpy(out, d->all, (size_t)d->n_all * sizeof(double));
    int64_t ns = d->el->time_dependent ? d->el->n_samples : 1;
    if (steps) {
        if (d->el->time_dependent) memcpy(steps, d->el->step, (size_t)ns * sizeof *steps);
        else steps[0] = 0;
    }
    if (times)
        for (int64_t k = 0; k < ns; k++) times[k] = d->el->time ? d->el->time[k] : NAN;
    return 0;
}

void zt_reader_stats(const zt_reader_t *r, zt_stats_t *st) {
    if (!st) return;
    memset(st, 0, sizeof *st);
    if (!r) return;
    zt_cache_stats cs;
    zt__cache_stats(r->cache, &cs);
    st->requests = atomic_load(&r->h->tree->store->n_requests);
    st->bytes_fetched = atomic_load(&r->h->tree->store->n_bytes);
    st->chunks_decoded = cs.decodes;
    st->cache_hits = cs.hits;
    st->cache_misses = cs.misses;
}

int zt_list_groups(const char *url, const zt_options_t *storage, char ***names, size_t *n) {
    if (!url || !names || !n) return zt__err(ZT_EINVAL, "zt_list_groups: NULL argument");
    zt_tree *t = NULL;
    zt_h5md *h = NULL;
    int rc = zt__tree_open(url, storage, &t);
    if (!rc) rc = zt__h5md_open(t, &h);
    if (rc) return rc;
    *n = h->groups.n;
    *names = calloc(h->groups.n ? h->groups.n : 1, sizeof(char *));
    if (!*names) rc = zt__err(ZT_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < h->groups.n; i++) {
        (*names)[i] = strdup(h->groups.items[i]);
        if (!(*names)[i]) rc = zt__err(ZT_ENOMEM, "out of memory");
    }
    if (rc && *names) {
        zt_free_strings(*names, *n);
        *names = NULL;
        *n = 0;
    }
    zt__h5md_free(h);
    return rc;
}

void zt_free_strings(char **s, size_t n) {
    if (!s) return;
    for (size_t i = 0; i < n; i++) free(s[i]);
    free(s);
}
