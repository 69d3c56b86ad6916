/* zt_convert: copy a trajectory (any format a reader opens) into a zarrmd,
 * H5MD or XTC writer with other compression, precision, chunking or frame
 * range; the command line's `convert` and Python's zarrtraj.convert call it. */
#include "traj/convert.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_i64(const char *s, size_t n, int64_t *out) {
    char buf[32];
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

int zt__slice_parse(const char *spec, int64_t n, int64_t *start, int64_t *step, int64_t *count) {
    const char *parts[3] = {spec, NULL, NULL};
    size_t lens[3] = {0, 0, 0};
    int np = 1;
    for (const char *p = spec; *p; p++)
        if (*p == ':') {
            if (np == 3) return -1;
            parts[np++] = p + 1;
        }
    for (int i = 0; i < np; i++) {
        const char *e = strchr(parts[i], ':');
        lens[i] = e ? (size_t)(e - parts[i]) : strlen(parts[i]);
    }
    if (np == 1) { /* a single index, as seq[i] */
        int64_t a;
        if (parse_i64(parts[0], lens[0], &a)) return -1;
        if (a < 0) a += n;
        if (a < 0 || a >= n) return -1;
        *start = a;
        *step = 1;
        *count = 1;
        return 0;
    }
    int64_t s = 1;
    if (np == 3 && lens[2] && parse_i64(parts[2], lens[2], &s)) return -1;
    if (s == 0 || s == INT64_MIN) return -1;
    /* slice.indices(n): a missing bound is the end the step starts from (or
     * runs to); a negative one counts from n; then both are clipped, to
     * [0, n] going up and to [-1, n - 1] going down */
    int64_t lo = s > 0 ? 0 : -1, hi = s > 0 ? n : n - 1;
    int64_t a = s > 0 ? 0 : n - 1, b = s > 0 ? n : -1;
    for (int k = 0; k < 2; k++) {
        int64_t v;
        if (!lens[k]) continue;
        if (parse_i64(parts[k], lens[k], &v)) return -1;
        if (v < 0) v = v < -n ? lo : v + n; /* v + n cannot overflow here */
        if (v < lo) v = lo;
        if (v > hi) v = hi;
        if (k == 0) a = v;
        else b = v;
    }
    int64_t len = 0; /* b - a and a - b lie within [-n - 1, n + 1] */
    if (s > 0 && b > a) len = (b - a - 1) / s + 1;
    if (s < 0 && a > b) len = (a - b - 1) / -s + 1;
    *start = len ? a : 0;
    *step = s;
    *count = len;
    return 0;
}

int zt__size_parse(const char *s, size_t *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0) return -1;
    double m = 1;
    if (*end == 'k' || *end == 'K') m = 1024.0, end++;
    else if (*end == 'm' || *end == 'M') m = 1024.0 * 1024, end++;
    else if (*end == 'g' || *end == 'G') m = 1024.0 * 1024 * 1024, end++;
    if (*end == 'i' || *end == 'I') end++;
    if (*end == 'b' || *end == 'B') end++;
    if (*end) return -1;
    *out = (size_t)(v * m);
    return 0;
}

/* One time-dependent observable of IN, all samples in memory. */
typedef struct zt_cobs {
    char *name;          /* "/" + its path below observables/ (the writer keeps it there) */
    const char *conv;    /* its name among the group's observables (owned by the reader) */
    const char *wname;   /* the one written: conv, or name when conv is not unique */
    size_t n;            /* values per sample */
    int64_t ns;          /* samples */
    double *v, *time;
    int64_t *step, *order; /* order: sample indices by step */
    int64_t cur;         /* next position in order */
} zt_cobs;

/* qsort has no context argument; the steps being sorted by live here for one
 * sort (thread-local: conversions may run on several threads at once). */
static _Thread_local const int64_t *zt__sort_steps;
static int zt__cmp_by_step(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b, sx = zt__sort_steps[x], sy = zt__sort_steps[y];
    return sx != sy ? (sx < sy ? -1 : 1) : (x < y ? -1 : x > y);
}

/* The settings of one conversion, parsed and checked before anything opens. */
typedef struct zt_csettings {
    int precision, overwrite;
    size_t chunk_bytes;
    const char *compressor, *frames, *group, *ogroup;
    zt_options_t *wset; /* passed on to zt_writer_create_ex */
} zt_csettings;

static int zt__bool(const char *v, int *out) {
    static const char *t[] = {"1", "true", "True", "yes", "on"}, *f[] = {"0", "false", "False", "no", "off", ""};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (!strcmp(v, t[i])) return *out = 1, 0;
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        if (!strcmp(v, f[i])) return *out = 0, 0;
    return -1;
}

static int zt__int_setting(const char *url, const char *k, const char *v, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi)
        return zt__err(ZT_EINVAL, "%s: convert setting %s='%s': expected an integer in [%lld, %lld]", url, k, v, lo, hi);
    *out = x;
    return 0;
}

static int zt__parse_settings(const char *dst, const zt_options_t *set, zt_csettings *s) {
    memset(s, 0, sizeof *s);
    s->precision = -1;
    s->chunk_bytes = ZT_DEFAULT_CHUNK_BYTES;
    size_t n = zt_options_count(set);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *k = NULL, *v = NULL;
        if ((rc = zt_options_item(set, i, &k, &v))) break;
        long long x = 0;
        if (!strcmp(k, "precision")) {
            if (!(rc = zt__int_setting(dst, k, v, -1, 30, &x))) s->precision = (int)x;
        } else if (!strcmp(k, "compressor")) {
            s->compressor = *v ? v : NULL;
        } else if (!strcmp(k, "chunk_bytes")) {
            if (zt__size_parse(v, &s->chunk_bytes) || s->chunk_bytes == 0)
                rc = zt__err(ZT_EINVAL, "%s: convert setting chunk_bytes='%s': expected a positive size (K/M/G suffixes)",
                             dst, v);
        } else if (!strcmp(k, "frames")) {
            s->frames = *v ? v : NULL;
        } else if (!strcmp(k, "group")) {
            s->group = *v ? v : NULL;
        } else if (!strcmp(k, "out_group")) {
            s->ogroup = *v ? v : NULL;
        } else if (!strcmp(k, "overwrite")) {
            if (zt__bool(v, &s->overwrite))
                rc = zt__err(ZT_EINVAL, "%s: convert setting overwrite='%s': expected 1/0 (true/false)", dst, v);
        } else if (!strcmp(k, "preset") || !strcmp(k, "quantum") || !strcmp(k, "zarr_format") ||
                   !strcmp(k, "shard_bytes") || !strcmp(k, "inner_frames")) {
            /* the writer's own settings: checked here so that a bad one fails
             * before the source is opened; "0" or "" = the default */
            char num[32];
            if (!strcmp(k, "zarr_format")) {
                if (strcmp(v, "") && strcmp(v, "0") && strcmp(v, "2") && strcmp(v, "3"))
                    rc = zt__err(ZT_EINVAL, "%s: convert setting zarr_format='%s': expected 2 or 3", dst, v);
            } else if (!strcmp(k, "inner_frames")) {
                if (*v) rc = zt__int_setting(dst, k, v, 0, INT64_MAX, &x);
            } else if (!strcmp(k, "shard_bytes") && *v) {
                size_t sz = 0;
                if (zt__size_parse(v, &sz))
                    rc = zt__err(ZT_EINVAL, "%s: convert setting shard_bytes='%s': expected a size (K/M/G suffixes)",
                                 dst, v);
                snprintf(num, sizeof num, "%zu", sz);
                v = num;
            }
            if (rc || !*v || !strcmp(v, "0")) continue;
            if (!s->wset && (rc = zt_options_create(&s->wset))) break;
            rc = zt_options_set(s->wset, k, v);
        } else {
            rc = zt__err(ZT_EINVAL, "%s: unknown convert setting '%s' (preset, quantum, precision, compressor, "
                                    "chunk_bytes, zarr_format, shard_bytes, inner_frames, frames, group, out_group, "
                                    "overwrite)", dst, k);
        }
    }
    if (rc) {
        zt_options_free(s->wset);
        s->wset = NULL;
    }
    return rc;
}

int zt_convert(const char *src_url, const char *dst_url, const zt_options_t *settings,
               const zt_options_t *src_storage, const zt_options_t *dst_storage, zt_convert_progress_fn cb,
               void *cb_data) {
    if (!src_url || !*src_url || !dst_url || !*dst_url)
        return zt__err(ZT_EINVAL, "convert: %s URL is empty", !src_url || !*src_url ? "source" : "destination");
    zt_csettings s;
    int rc = zt__parse_settings(dst_url, settings, &s);
    if (rc) return rc;
    zt_reader_opts_t ro = ZT_READER_OPTS_DEFAULTS;
    ro.group = s.group;
    ro.storage = src_storage;
    ro.cache_bytes = (size_t)16 << 20; /* frames are read once, in order: the cache only has to hold the current ones */
    zt_reader_t *r = NULL;
    zt_writer_t *w = NULL;
    float *buf[3] = {NULL, NULL, NULL};
    zt_obs_t *obs = NULL;
    zt_cobs *co = NULL;
    size_t nco = 0;
    int64_t *steps = NULL;
    if ((rc = zt_reader_open(src_url, &ro, &r))) goto done;
    int64_t nf = zt_reader_n_frames(r), na = zt_reader_n_atoms(r);
    int64_t f0 = 0, fs = 1, count = nf;
    if (s.frames && zt__slice_parse(s.frames, nf, &f0, &fs, &count)) {
        rc = zt__err(ZT_EINVAL, "%s: frames '%s': bad slice (A:B[:S], Python semantics; %lld frames)", src_url,
                     s.frames, (long long)nf);
        goto done;
    }
    if (s.frames && fs < 0 && count > 1) {
        /* a trajectory's steps increase: reversed frames cannot be written */
        rc = zt__err(ZT_EINVAL, "%s: frames '%s' runs backwards; a trajectory's frames must keep increasing steps",
                     src_url, s.frames);
        goto done;
    }
    zt_writer_opts_t wo = ZT_WRITER_OPTS_DEFAULTS;
    wo.n_frames = count;
    wo.precision = s.precision;
    wo.compressor = s.compressor;
    wo.chunk_bytes = s.chunk_bytes;
    wo.group = s.ogroup ? s.ogroup : zt_reader_group(r);
    /* keep the input's units ("" = none) */
    const char *lu = zt_reader_unit(r, ZT_POSITION), *vu = zt_reader_unit(r, ZT_VELOCITY),
               *fu = zt_reader_unit(r, ZT_FORCE), *tu = zt_reader_time_unit(r);
    if (!lu) lu = zt_reader_unit(r, ZT_BOX);
    wo.length_unit = lu ? lu : "";
    wo.velocity_unit = vu ? vu : "";
    wo.force_unit = fu ? fu : "";
    wo.time_unit = tu ? tu : "";
    wo.author = zt_reader_attr(r, "author");
    wo.author_email = zt_reader_attr(r, "author_email");
    wo.storage = dst_storage;
    wo.overwrite = s.overwrite;
    const char *b0 = NULL;
    if (zt_reader_box_boundary(r, 0, &b0) == 0) wo.boundary = b0;
    if ((rc = zt_writer_create_ex(dst_url, na, &wo, s.wset, &w))) goto done;
    steps = malloc(sizeof *steps * (size_t)(nf ? nf : 1));
    if (!steps) {
        rc = zt__err(ZT_ENOMEM, "%s: out of memory", src_url);
        goto done;
    }
    if ((rc = zt_reader_steps(r, steps, NULL))) goto done;
    for (int k = 0; k < 3; k++)
        if (zt_reader_has(r, (zt_element_t)k) && !(buf[k] = malloc(sizeof(float) * (size_t)(na * 3 > 0 ? na * 3 : 1)))) {
            rc = zt__err(ZT_ENOMEM, "%s: out of memory", src_url);
            goto done;
        }
    /* Time-dependent observables, with every sample, also those at steps
     * without particle data (between or after the frames); with frames set
     * only the samples at the chosen frames. An observable goes where OUT's
     * format keeps the group's observables (zarrmd: observables/<group>/,
     * H5MD: observables/), unless a global one and the group's one share a
     * name: those keep their paths below observables/. */
    size_t nd = zt_reader_n_data(r);
    const char *ig = zt_reader_group(r);
    size_t igl = strlen(ig);
    co = calloc(nd ? nd : 1, sizeof *co);
    obs = calloc(nd ? nd : 1, sizeof *obs);
    if (!co || !obs) {
        rc = zt__err(ZT_ENOMEM, "%s: out of memory", src_url);
        goto done;
    }
    for (size_t i = 0; i < nd && !rc; i++) {
        zt_data_info_t di;
        if (zt_reader_data_info(r, i, &di) || di.kind != ZT_DATA_OBSERVABLE || !di.time_dependent) continue;
        zt_cobs *o = &co[nco];
        const char *rel = !strncmp(di.path, "observables/", 12) ? di.path + 12 : di.name;
        o->name = malloc(strlen(rel) + 2);
        o->conv = di.name;
        if (!strncmp(o->conv, ig, igl) && o->conv[igl] == '/') o->conv += igl + 1; /* the group's */
        o->n = (size_t)di.sample_size;
        o->ns = di.n_samples;
        size_t ns = (size_t)(o->ns ? o->ns : 1);
        o->v = malloc(ns * (o->n ? o->n : 1) * sizeof *o->v);
        o->step = malloc(ns * sizeof *o->step);
        o->time = malloc(ns * sizeof *o->time);
        o->order = malloc(ns * sizeof *o->order);
        nco++;
        if (!o->name || !o->v || !o->step || !o->time || !o->order) {
            rc = zt__err(ZT_ENOMEM, "%s: out of memory", src_url);
            break;
        }
        o->name[0] = '/';
        strcpy(o->name + 1, rel);
        if ((rc = zt_reader_read_data_all(r, i, o->v, o->step, o->time))) break;
        /* in step order (the first of equal steps wins, as for the reader) */
        for (int64_t k = 0; k < o->ns; k++) o->order[k] = k;
        zt__sort_steps = o->step;
        qsort(o->order, (size_t)o->ns, sizeof *o->order, zt__cmp_by_step);
    }
    if (rc) goto done;
    for (size_t q = 0; q < nco; q++) {
        co[q].wname = co[q].conv;
        for (size_t t = 0; t < nco; t++)
            if (t != q && !strcmp(co[t].conv, co[q].conv)) co[q].wname = co[q].name;
    }
    uint64_t bytes = 0;
    bool all_obs = !s.frames;
    int64_t i = 0;
    if (cb && cb(0, count, 0, cb_data)) {
        rc = zt__err(ZT_ECANCELED, "%s: conversion canceled by the progress callback", dst_url);
        goto done;
    }
    for (;;) {
        /* the next step: a frame's, or (whole conversions) an observable sample's */
        bool have = false;
        int64_t step = 0, fr = -1;
        if (i < count) {
            fr = f0 + i * fs;
            step = steps[fr];
            have = true;
        }
        for (size_t q = 0; all_obs && q < nco; q++)
            if (co[q].cur < co[q].ns) {
                int64_t s1 = co[q].step[co[q].order[co[q].cur]];
                if (!have || s1 < step) {
                    step = s1;
                    have = true;
                }
            }
        if (!have || rc) break;
        bool is_frame = fr >= 0 && steps[fr] == step;
        zt_frame_t f;
        memset(&f, 0, sizeof f);
        zt_wframe_t wf;
        memset(&wf, 0, sizeof wf);
        wf.step = step;
        wf.time = NAN;
        double box[9];
        if (is_frame) {
            if ((rc = zt_reader_read_frame(r, fr, &f, buf[0], buf[1], buf[2]))) break;
            wf.time = f.has_time ? f.time : NAN;
            wf.position = f.has[ZT_POSITION] ? buf[0] : NULL;
            wf.velocity = f.has[ZT_VELOCITY] ? buf[1] : NULL;
            wf.force = f.has[ZT_FORCE] ? buf[2] : NULL;
            /* a fixed (time-independent) box is repeated at every frame, as
             * MDAnalysis' writers do: every frame keeps its box */
            if (f.has[ZT_BOX]) {
                for (int q = 0; q < 9; q++) box[q] = f.box[q / 3][q % 3];
                wf.box = box;
            }
        }
        size_t k = 0;
        for (size_t q = 0; q < nco; q++) {
            zt_cobs *o = &co[q];
            /* samples before this step are not wanted (frames), later equal ones are duplicates */
            while (o->cur < o->ns && o->step[o->order[o->cur]] < step) o->cur++;
            if (o->cur >= o->ns || o->step[o->order[o->cur]] != step) continue;
            int64_t sidx = o->order[o->cur];
            while (o->cur < o->ns && o->step[o->order[o->cur]] == step) o->cur++;
            if (!is_frame && isnan(wf.time)) wf.time = o->time[sidx]; /* no frame here: the sample's own time */
            obs[k].name = o->wname;
            obs[k].values = o->v + (size_t)sidx * o->n;
            obs[k].n = o->n;
            k++;
        }
        wf.obs = obs;
        wf.n_obs = k;
        if ((rc = zt_writer_write_frame(w, &wf))) break;
        if (is_frame) {
            for (int e = 0; e < 3; e++)
                if (f.has[e]) bytes += (uint64_t)na * 12;
            i++;
            if (cb && cb(i, count, bytes, cb_data)) {
                rc = zt__err(ZT_ECANCELED, "%s: conversion canceled by the progress callback after %lld of %lld frames",
                             dst_url, (long long)i, (long long)count);
                break;
            }
        }
    }
    if (!rc) {
        rc = zt_writer_close(w);
        w = NULL;
    }
done:;
    /* closing after a failure must not replace the failure's message */
    char *msg = rc && w ? zt__strdup(zt_last_error()) : NULL;
    zt_writer_close(w);
    zt_reader_close(r);
    if (msg) zt__err(rc, "%s", msg);
    free(msg);
    for (int k = 0; k < 3; k++) free(buf[k]);
    for (size_t q = 0; co && q < nco; q++) {
        free(co[q].name);
        free(co[q].v);
        free(co[q].step);
        free(co[q].time);
        free(co[q].order);
    }
    free(co);
    free(obs);
    free(steps);
    zt_options_free(s.wset);
    return rc;
}
