/* Trajectory writer: H5MD layout, one element per sampled quantity, each with
 * its own step/time; rows are buffered per chunk and handed to a back end
 * (Zarr or HDF5). After every chunk flush the file is valid and holds every
 * flushed frame. */
#include "format/registry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Zarr v3 defaults (docs/zarr3.md has the measurements behind them). */
#define ZT_V3_SHARD_BYTES ((size_t)64 << 20)
#define ZT_V3_INNER_BYTES ((size_t)256 << 10)

/* One growable array with a row buffer from its current chunk start. */
typedef struct zt_wcol {
    zt_warr *h;
    size_t rowbytes;
    int64_t chunk_rows;
    int64_t start;   /* first row held in buf (a chunk boundary) */
    int64_t nbuf;    /* rows in buf */
    uint8_t *buf;
} zt_wcol;

typedef struct zt_welem {
    char *path;      /* element group path */
    bool big;        /* per-atom data: flushed only in whole chunks */
    int64_t n;       /* samples appended */
    int64_t committed;
    int64_t last_step;
    bool has_time;
    size_t sample_n; /* values per sample */
    double scale;    /* compact fixed point: 1 / quantum (0: floats) */
    zt_wcol value, step, time;
} zt_welem;

struct zt_writer {
    zt_wbackend *b;
    char *url;
    int64_t n_atoms;
    int64_t n_frames_hint;
    size_t chunk_bytes;
    int zarr_format;     /* zarrmd: 2 or 3 (sharded values) */
    int64_t inner_frames; /* v3: rows per inner chunk (0 = ZT_V3_INNER_BYTES' worth) */
    int precision;
    json_t *compressor; /* NULL = none */
    bool compact;       /* preset compact (see zt__compact_spec) */
    double quantum[3];  /* compact: position, velocity, force quantum in the file's units (0: floats) */
    char *group;
    char *units[4];     /* length, time, velocity, force */
    zt_welem *el[4];    /* position, velocity, force, box */
    zt_welem **obs;
    char **obs_names; /* their paths */
    size_t n_obs;
    int64_t frames;
    bool failed;
    bool dirty;         /* something was flushed since the last sync */
    /* a frame writer back end (XTC): frames go to it as given, nothing is
     * buffered here */
    zt_fwriter *fw;
};

static const char *zt__el_path[4] = {"position", "velocity", "force", "box/edges"};

static int zt__wfail(zt_writer_t *w, int rc) {
    w->failed = true;
    return rc;
}

/* Preset compact: chunks of ZT_COMPACT_FRAMES frames (differences along time
 * need many; docs/codecs.md has the measurement) by blocks of atoms holding
 * about ZT_COMPACT_RATIO * chunk_bytes raw bytes (whole multiples of 1024
 * atoms, or all atoms when they fit in 1.5 blocks). Ratio 1, not 2: the water
 * box then has 6 chunks per 100 frames instead of 3, which keeps both decode
 * threads busy (MDAnalysis iteration 675 -> 890 frames/s) at the same size. */
#define ZT_COMPACT_FRAMES 100
#define ZT_COMPACT_RATIO 1

static int64_t zt__compact_atoms(const zt_writer_t *w, int64_t n_atoms, int64_t rows) {
    size_t raw = w->chunk_bytes * ZT_COMPACT_RATIO, per = (size_t)(rows > 0 ? rows : 1) * 12;
    int64_t blk = (int64_t)(raw / per) / 1024 * 1024;
    if (blk < 1024) blk = 1024;
    if (n_atoms <= blk + blk / 2) return n_atoms > 0 ? n_atoms : 1;
    return blk;
}

static int zt__col_init(zt_writer_t *w, zt_wcol *c, const char *path, zt_dtype dt, int ndim,
                        const int64_t *sample_shape, int64_t chunk_rows, bool quantize, bool bulk,
                        bool index, const json_t *attrs, double scale) {
    zt_warr_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.path = path;
    sp.dtype = dt;
    sp.ndim = ndim + 1;
    sp.chunks[0] = chunk_rows;
    sp.shape[0] = 0;
    size_t rowbytes = dt.size;
    for (int d = 0; d < ndim; d++) {
        sp.chunks[d + 1] = sp.shape[d + 1] = sample_shape[d];
        rowbytes *= (size_t)sample_shape[d];
    }
    sp.compressor = w->compressor;
    sp.precision = quantize ? w->precision : -1;
    json_t *filters = NULL;
    if (bulk && w->compact) {
        sp.precision = -1;
        sp.chunks[1] = zt__compact_atoms(w, sample_shape[0], chunk_rows);
        if (scale > 0) {
            /* integers on the quantum's grid, differenced along time (order F
             * makes time the fastest axis), bit-shuffled by the compressor */
            filters = json_pack("[{s:s,s:f,s:f,s:s,s:s},{s:s,s:s}]", "id", "fixedscaleoffset", "offset", 0.0,
                                "scale", scale, "dtype", "<f4", "astype", "<i4", "id", "delta", "dtype", "<i4");
            if (!filters) return zt__err(ZT_ENOMEM, "out of memory");
            sp.filters = filters;
            sp.order_f = true;
        }
    }
    sp.attrs = attrs;
    sp.bulk = bulk;
    sp.index = index;
    if (bulk && w->zarr_format == 3 && !w->compact) {
        /* a shard of chunk_rows rows, whole inner chunks of inner rows */
        int64_t inner = w->inner_frames > 0 ? w->inner_frames
                                            : (int64_t)(ZT_V3_INNER_BYTES / (rowbytes ? rowbytes : 1));
        if (inner < 1) inner = 1;
        if (inner > chunk_rows) inner = chunk_rows;
        chunk_rows = (chunk_rows + inner - 1) / inner * inner;
        sp.chunks[0] = chunk_rows;
        sp.inner_rows = inner;
    }
    c->rowbytes = rowbytes;
    c->chunk_rows = chunk_rows;
    size_t bytes;
    if (!zt__mulz_ok(rowbytes, (size_t)chunk_rows, &bytes)) return zt__err(ZT_EOVERFLOW, "%s: chunk too large", path);
    c->buf = malloc(bytes ? bytes : 1);
    int rc = c->buf ? w->b->vt->create_array(w->b, &sp, &c->h) : zt__err(ZT_ENOMEM, "out of memory");
    json_decref(filters);
    return rc;
}

static void zt__col_free(zt_wcol *c) { free(c->buf); }

/* Write the buffered rows (a whole chunk, or the partial last one). */
static int zt__col_write(zt_writer_t *w, zt_wcol *c) {
    if (c->nbuf == 0) return 0;
    int rc = w->b->vt->write_rows(w->b, c->h, c->start, c->nbuf, c->buf);
    if (!rc && c->nbuf == c->chunk_rows) {
        c->start += c->nbuf;
        c->nbuf = 0;
    }
    return rc;
}

static int zt__col_append(zt_writer_t *w, zt_wcol *c, const void *row, bool *full) {
    memcpy(c->buf + (size_t)c->nbuf * c->rowbytes, row, c->rowbytes);
    c->nbuf++;
    *full = c->nbuf == c->chunk_rows;
    (void)w;
    return 0;
}

static void zt__welem_free(zt_welem *e) {
    if (!e) return;
    zt__col_free(&e->value);
    zt__col_free(&e->step);
    zt__col_free(&e->time);
    free(e->path);
    free(e);
}

/* Rows per value chunk: chunk_bytes / bytes per frame, capped by n_frames. */
static int64_t zt__rows_for(const zt_writer_t *w, size_t rowbytes) {
    if (w->compact) return w->n_frames_hint > 0 && w->n_frames_hint < ZT_COMPACT_FRAMES ? w->n_frames_hint : ZT_COMPACT_FRAMES;
    int64_t r = rowbytes ? (int64_t)(w->chunk_bytes / rowbytes) : 1;
    if (r < 1) r = 1;
    if (w->n_frames_hint > 0 && r > w->n_frames_hint) r = w->n_frames_hint;
    return r;
}

/* step/time (and small elements): long chunks, rewritten while partial. */
static int64_t zt__small_rows(const zt_writer_t *w, int64_t value_rows) {
    int64_t r = value_rows * 256;
    if (r < 1024) r = 1024;
    if (r > 65536) r = 65536;
    if (w->n_frames_hint > 0 && r > w->n_frames_hint) r = w->n_frames_hint;
    return r;
}

static int zt__welem_create(zt_writer_t *w, const char *path, bool big, int ndim, const int64_t *shape,
                            zt_dtype vdt, const char *unit, bool has_time, bool quantize, double scale,
                            zt_welem **out) {
    zt_welem *e = calloc(1, sizeof *e);
    if (!e) return zt__err(ZT_ENOMEM, "out of memory");
    e->path = strdup(path);
    e->big = big;
    e->has_time = has_time;
    e->last_step = INT64_MIN;
    e->sample_n = 1;
    e->scale = scale;
    for (int d = 0; d < ndim; d++) e->sample_n *= (size_t)shape[d];
    int rc = e->path ? w->b->vt->create_group(w->b, path, NULL) : zt__err(ZT_ENOMEM, "out of memory");
    int64_t vrows = big ? zt__rows_for(w, e->sample_n * vdt.size) : 0;
    int64_t srows = zt__small_rows(w, big ? vrows : 1);
    if (!big) vrows = srows;
    json_t *uattr = unit && *unit ? json_pack("{s:s}", "unit", unit) : NULL;
    char *p = zt__path_join(path, "value");
    if (!rc) rc = zt__col_init(w, &e->value, p, vdt, ndim, shape, vrows, quantize, big, false, uattr, scale);
    free(p);
    json_decref(uattr);
    zt_dtype i8 = {'i', 8, false}, f8 = {'f', 8, false};
    p = zt__path_join(path, "step");
    if (!rc) rc = zt__col_init(w, &e->step, p, i8, 0, NULL, srows, false, false, true, NULL, 0);
    free(p);
    if (has_time) {
        const char *tu = w->units[1];
        json_t *ta = tu && *tu ? json_pack("{s:s}", "unit", tu) : NULL;
        p = zt__path_join(path, "time");
        if (!rc) rc = zt__col_init(w, &e->time, p, f8, 0, NULL, srows, false, false, true, ta, 0);
        free(p);
        json_decref(ta);
    }
    if (rc) {
        zt__welem_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

/* Flush: big elements write whole chunks only; small ones (partial=true)
 * rewrite their partial last chunk, so they never lag behind. */
static int zt__welem_flush(zt_writer_t *w, zt_welem *e, bool partial) {
    int rc = 0;
    int64_t committed = e->n;
    if (e->big && !partial) committed = e->value.start + (e->value.nbuf == e->value.chunk_rows ? e->value.nbuf : 0);
    if (e->value.nbuf == e->value.chunk_rows || partial) rc = zt__col_write(w, &e->value);
    if (!rc && committed != e->committed) {
        /* step/time must cover [0, committed): write their buffered rows */
        rc = zt__col_write(w, &e->step);
        if (!rc && e->has_time) rc = zt__col_write(w, &e->time);
    }
    if (!rc && committed != e->committed) {
        rc = w->b->vt->set_rows(w->b, e->value.h, committed);
        if (!rc) rc = w->b->vt->set_rows(w->b, e->step.h, committed);
        if (!rc && e->has_time) rc = w->b->vt->set_rows(w->b, e->time.h, committed);
        if (!rc) {
            e->committed = committed;
            w->dirty = true;
        }
    }
    return rc;
}

/* Every |v[i]| < lim (NaN is not): the quick test before the exact one, a
 * double conversion per value being most of an append. */
static bool zt__all_below(const float *v, size_t n, float lim) {
    size_t i = 0;
    int bad = 0;
#ifdef __SSE2__
    const __m128 abs = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff)), l = _mm_set1_ps(lim);
    __m128 ok = _mm_castsi128_ps(_mm_set1_epi32(-1));
    for (; i + 4 <= n; i += 4) ok = _mm_and_ps(ok, _mm_cmplt_ps(_mm_and_ps(_mm_loadu_ps(v + i), abs), l));
    bad = _mm_movemask_ps(ok) != 0xf;
#endif
    for (; i < n; i++) bad |= !(fabsf(v[i]) < lim);
    return !bad;
}

static int zt__welem_append(zt_writer_t *w, zt_welem *e, int64_t step, double time, const void *row) {
    if (e->n > 0 && step <= e->last_step)
        return zt__err(ZT_EINVAL, "%s: step %lld does not increase (previous %lld)", e->path, (long long)step,
                       (long long)e->last_step);
    if (e->scale > 0) {
        /* fixed point in int32: a value off the range would wrap (wrong data) */
        const float *v = row;
        if (!zt__all_below(v, e->sample_n, (float)(2147483647.0 / e->scale * (1.0 - 1e-6))))
            for (size_t i = 0; i < e->sample_n; i++) {
                double q = (double)v[i] * e->scale;
                if (!(q > -2147483647.0 && q < 2147483647.0))
                    return zt__err(ZT_EOVERFLOW, "%s: value %g (atom %zu, step %lld) does not fit the compact "
                                   "encoding's int32 at quantum %g: |value| / quantum must stay below 2^31 (use a "
                                   "coarser quantum, or no preset)", e->path, (double)v[i], i / 3, (long long)step,
                                   1.0 / e->scale);
            }
    }
    bool full = false, sfull = false, tfull = false;
    zt__col_append(w, &e->value, row, &full);
    zt__col_append(w, &e->step, &step, &sfull);
    if (e->has_time) zt__col_append(w, &e->time, &time, &tfull);
    e->n++;
    e->last_step = step;
    int rc = 0;
    /* A full step/time chunk must go out before its buffer is reused. */
    if (sfull) rc = zt__col_write(w, &e->step);
    if (!rc && tfull) rc = zt__col_write(w, &e->time);
    if (!rc && full) rc = zt__welem_flush(w, e, !e->big);
    return rc;
}

static char *zt__unit_or(const char *given, const char *dflt) { return strdup(given ? given : dflt); }

/* 1 / quantum, made integral when it is one up to rounding (1 / 0.001). */
static double zt__scale_of(double quantum) {
    double s = 1.0 / quantum, r = nearbyint(s);
    return r >= 1 && fabs(s - r) <= 1e-9 * r ? r : s;
}

/* XTC's grid: the compact preset's default quantum for positions. */
#define ZT_COMPACT_QUANTUM_NM 0.001

/* "0.001 nm", "0.001nm" or "0.001" (the file's length unit) -> quantum in
 * the file's length unit. */
static int zt__parse_quantum(const char *txt, const char *file_unit, double *out) {
    char *end = NULL;
    double q = strtod(txt, &end);
    if (end == txt || !(q > 0) || !isfinite(q))
        return zt__err(ZT_EINVAL, "quantum must be a positive number with an optional length unit (\"0.001 nm\"), "
                       "not '%s'", txt);
    while (*end == ' ') end++;
    if (*end && (!file_unit || !*file_unit))
        return zt__err(ZT_EUNITS, "quantum '%s': the trajectory has no length unit to convert it to (give a plain "
                       "number, or --precision)", txt);
    if (*end) {
        double fu = 1, ff = 1;
        int rc = zt_unit_factor(ZT_UNIT_LENGTH, end, &fu);
        if (rc) return zt__err(rc, "quantum '%s': unknown length unit '%s'", txt, end);
        if ((rc = zt_unit_factor(ZT_UNIT_LENGTH, file_unit, &ff)))
            return zt__err(rc, "quantum '%s': the file's length unit '%s' is unknown", txt, file_unit);
        q = q * fu / ff;
    }
    *out = q;
    return 0;
}

/* Preset compact: positions (and, with --precision, velocities and forces)
 * as int32 on a fixed quantum, differenced along time in Fortran-order chunks
 * of ZT_COMPACT_FRAMES frames, bit-shuffled and zstd-compressed by Blosc:
 * numcodecs' standard codecs only (docs/codecs.md). */
static const char *zt__compact_compressor = "blosc:cname=zstd,clevel=1,shuffle=2,blocksize=4194304";

/* An integer writer setting (absent: *v unchanged). */
static int zt__setting_int(const zt_options_t *set, const char *key, int64_t *v) {
    const char *t = set ? zt_options_get(set, key) : NULL;
    if (!t) return 0;
    char *end = NULL;
    long long x = strtoll(t, &end, 10);
    if (end == t || *end) return zt__err(ZT_EINVAL, "writer setting %s must be an integer, not '%s'", key, t);
    *v = x;
    return 0;
}

static int zt__writer_settings(zt_writer_t *w, const zt_options_t *set, const zt_writer_opts_t *o, bool h5,
                               const char **compressor) {
    const char *preset = set ? zt_options_get(set, "preset") : NULL, *quantum = set ? zt_options_get(set, "quantum") : NULL;
    for (size_t i = 0; set && i < zt_options_count(set); i++) {
        const char *k = NULL, *v = NULL;
        zt_options_item(set, i, &k, &v);
        if (strcmp(k, "preset") && strcmp(k, "quantum") && strcmp(k, "zarr_format") && strcmp(k, "shard_bytes") &&
            strcmp(k, "inner_frames"))
            return zt__err(ZT_EINVAL, "%s: unknown writer setting '%s' (preset, quantum, zarr_format, shard_bytes, "
                           "inner_frames)", w->url, k);
    }
    if (preset && strcmp(preset, "compact") && strcmp(preset, "default"))
        return zt__err(ZT_EINVAL, "%s: unknown preset '%s' (default, compact)", w->url, preset);
    w->compact = preset && !strcmp(preset, "compact");
    if (quantum && !w->compact) return zt__err(ZT_EINVAL, "%s: a quantum needs preset compact", w->url);
    if (!w->compact) return 0;
    if (h5)
        return zt__err(ZT_EUNSUPPORTED, "%s: preset compact is a Zarr encoding (Fortran-order chunks, delta); H5MD "
                       "output takes --precision and gzip/lzf", w->url);
    if (w->zarr_format == 3) {
        /* v3: the same chunks (transpose codec for order F, numcodecs.* codecs), not sharded: a compact chunk
         * of 100 frames is already an object of a few MB, and a random frame costs a whole chunk anyway */
        if (zt_options_get(set, "shard_bytes") || zt_options_get(set, "inner_frames"))
            return zt__err(ZT_EINVAL, "%s: preset compact is not sharded (shard_bytes, inner_frames do not apply)",
                           w->url);
        w->chunk_bytes = o->chunk_bytes ? o->chunk_bytes : ZT_DEFAULT_CHUNK_BYTES;
    }
    int rc = 0;
    if (quantum) rc = zt__parse_quantum(quantum, w->units[0], &w->quantum[0]);
    else if (o->precision >= 0) w->quantum[0] = pow(10.0, -o->precision);
    else {
        char q[32];
        snprintf(q, sizeof q, "%g nm", ZT_COMPACT_QUANTUM_NM);
        rc = zt__parse_quantum(q, w->units[0], &w->quantum[0]);
    }
    if (o->precision >= 0) w->quantum[1] = w->quantum[2] = pow(10.0, -o->precision);
    if (!o->compressor) *compressor = zt__compact_compressor;
    return rc;
}

int zt_writer_create(const char *url, int64_t n_atoms, const zt_writer_opts_t *opts, zt_writer_t **out) {
    return zt_writer_create_ex(url, n_atoms, opts, NULL, out);
}

int zt_writer_create_ex(const char *url, int64_t n_atoms, const zt_writer_opts_t *opts, const zt_options_t *settings,
                        zt_writer_t **out) {
    if (!url || !out) return zt__err(ZT_EINVAL, "zt_writer_create: NULL argument");
    *out = NULL;
    if (n_atoms < 0) return zt__err(ZT_EINVAL, "n_atoms must not be negative");
    zt_writer_opts_t o = ZT_WRITER_OPTS_DEFAULTS;
    if (opts) o = *opts;
    if (o.precision < -1) return zt__err(ZT_EINVAL, "precision must be >= 0 (got %d)", o.precision);
    if (o.n_frames < 0) return zt__err(ZT_EINVAL, "n_frames must not be negative");
    int64_t zarr_format = 2, shard_bytes = 0, inner_frames = 0;
    int src;
    if ((src = zt__setting_int(settings, "zarr_format", &zarr_format)) ||
        (src = zt__setting_int(settings, "shard_bytes", &shard_bytes)) ||
        (src = zt__setting_int(settings, "inner_frames", &inner_frames)))
        return src;
    if (zarr_format != 2 && zarr_format != 3)
        return zt__err(ZT_EINVAL, "zarr_format must be 2 or 3 (got %lld)", (long long)zarr_format);
    if (inner_frames < 0 || shard_bytes < 0) return zt__err(ZT_EINVAL, "shard_bytes and inner_frames must not be negative");
    /* a shard is assembled in memory and stored with one PUT, which S3 caps at 5 GB */
    if (shard_bytes > ((int64_t)4 << 30))
        return zt__err(ZT_EINVAL, "shard_bytes %lld is too large: a shard is one object written in one request "
                       "(at most 4 GiB)", (long long)shard_bytes);
    if (o.boundary && strcmp(o.boundary, "periodic") && strcmp(o.boundary, "none"))
        return zt__err(ZT_EINVAL, "boundary must be 'periodic' or 'none'");
    zt_writer_t *w = calloc(1, sizeof *w);
    if (!w) return zt__err(ZT_ENOMEM, "out of memory");
    w->url = strdup(url);
    w->n_atoms = n_atoms;
    w->n_frames_hint = o.n_frames;
    w->chunk_bytes = o.chunk_bytes ? o.chunk_bytes : ZT_DEFAULT_CHUNK_BYTES;
    w->zarr_format = (int)zarr_format;
    w->inner_frames = inner_frames;
    if (w->zarr_format == 3) w->chunk_bytes = shard_bytes ? (size_t)shard_bytes : ZT_V3_SHARD_BYTES;
    w->precision = o.precision;
    w->group = strdup(o.group && *o.group ? o.group : "trajectory");
    w->units[0] = zt__unit_or(o.length_unit, "Angstrom");
    w->units[1] = zt__unit_or(o.time_unit, "ps");
    w->units[2] = zt__unit_or(o.velocity_unit, "Angstrom ps-1");
    w->units[3] = zt__unit_or(o.force_unit, "kJ mol-1 Angstrom-1");
    int rc = 0;
    for (int i = 0; i < 4; i++)
        if (!w->units[i]) rc = zt__err(ZT_ENOMEM, "out of memory");
    if (!w->url || !w->group) rc = zt__err(ZT_ENOMEM, "out of memory");
    const zt_format *fmt = rc ? NULL : zt__format_for_writing(url);
    if (fmt && fmt->open_frame_writer) {
        if (settings && zt_options_count(settings))
            rc = zt__err(ZT_EUNSUPPORTED, "%s: writing %s takes precision only (no preset, quantum, zarr_format, "
                                          "shard_bytes or inner_frames)", url, fmt->what);
        if (!rc) {
            zt_fwopen fo = {o.storage, o.overwrite != 0, n_atoms, o.precision, w->units[0], w->units[1]};
            rc = fmt->open_frame_writer(url, &fo, &w->fw);
        }
        if (rc) {
            zt_writer_close(w);
            return rc;
        }
        *out = w;
        return 0;
    }
    if (!rc && !fmt) rc = zt__err(ZT_EUNSUPPORTED, "%s: no format writes this URL", url);
    if (!rc && w->zarr_format == 3 && !(fmt->flags & ZT_FORMAT_ZARR))
        rc = zt__err(ZT_EINVAL, "%s: zarr_format 3 applies to zarrmd output, not %s", url, fmt->name);
    const char *compressor = o.compressor;
    if (!rc) rc = zt__writer_settings(w, settings, &o, !(fmt->flags & ZT_FORMAT_ZARR), &compressor);
    /* the format's compressors (H5MD: HDF5 filters, default none, as MDAnalysis) */
    if (!rc && fmt->writer_compressor) rc = fmt->writer_compressor(compressor, &w->compressor);
    if (!rc) {
        zt_wopen wo = {o.storage, o.overwrite != 0, w->zarr_format};
        rc = fmt->open_writer(url, &wo, &w->b);
    }
    if (!rc) {
        /* H5MD skeleton */
        json_t *ver = json_pack("{s:[i,i]}", "version", 1, 1);
        rc = w->b->vt->create_group(w->b, "h5md", ver);
        json_decref(ver);
        json_t *au = json_pack("{s:s}", "name", o.author ? o.author : "N/A");
        if (o.author_email) json_object_set_new(au, "email", json_string(o.author_email));
        if (!rc) rc = w->b->vt->create_group(w->b, "h5md/author", au);
        json_decref(au);
        json_t *cr = json_pack("{s:s,s:s}", "name", o.creator ? o.creator : "zarrtraj", "version",
                               o.creator_version ? o.creator_version : ZT_VERSION_STRING);
        if (!rc) rc = w->b->vt->create_group(w->b, "h5md/creator", cr);
        json_decref(cr);
        if (!rc) rc = w->b->vt->create_group(w->b, "particles", NULL);
        char *gp = zt__path_join("particles", w->group);
        if (!rc) rc = w->b->vt->create_group(w->b, gp, NULL);
        const char *bd = o.boundary ? o.boundary : "periodic";
        json_t *ba = json_pack("{s:i,s:[s,s,s]}", "dimension", 3, "boundary", bd, bd, bd);
        char *bp = zt__path_join(gp, "box");
        if (!rc) rc = w->b->vt->create_group(w->b, bp, ba);
        json_decref(ba);
        free(bp);
        free(gp);
        if (!rc) rc = w->b->vt->sync(w->b);
    }
    if (rc) {
        if (w->b) w->b->vt->close(w->b, false);
        w->b = NULL;
        zt_writer_close(w);
        return rc;
    }
    *out = w;
    return 0;
}

int64_t zt_writer_n_frames(const zt_writer_t *w) { return w ? w->frames : 0; }

static int zt__obs_elem(zt_writer_t *w, const zt_obs_t *ob, double time, zt_welem **out) {
    const char *nm = ob->name;
    if (!nm || !*nm || !strcmp(nm, "/") || strstr(nm, "..") || strstr(nm, "//") || nm[strlen(nm) - 1] == '/')
        return zt__err(ZT_EINVAL, "bad observable name '%s'", nm ? nm : "");
    /* "/a/b": observables/a/b exactly; "a/b": where the format keeps a
     * particle group's observables (zarrmd: observables/<group>/a/b) */
    char *p = nm[0] == '/' ? zt__asprintf("observables%s", nm)
              : w->b->obs_in_group ? zt__asprintf("observables/%s/%s", w->group, nm)
                                   : zt__asprintf("observables/%s", nm);
    if (!p) return zt__err(ZT_ENOMEM, "out of memory");
    for (size_t i = 0; i < w->n_obs; i++)
        if (!strcmp(w->obs_names[i], p)) {
            free(p);
            if (w->obs[i]->sample_n != ob->n)
                return zt__err(ZT_EINVAL, "observable '%s': %zu values, earlier frames had %zu", nm, ob->n,
                               w->obs[i]->sample_n);
            *out = w->obs[i];
            return 0;
        }
    if (ob->n == 0 || !ob->values) {
        free(p);
        return zt__err(ZT_EINVAL, "observable '%s' has no values", nm);
    }
    int rc = w->n_obs == 0 ? w->b->vt->create_group(w->b, "observables", NULL) : 0;
    /* the groups between observables/ and the element */
    for (char *q = p + strlen("observables/"); !rc && (q = strchr(q, '/')) != NULL; q++) {
        *q = 0;
        rc = w->b->vt->create_group(w->b, p, NULL);
        *q = '/';
    }
    zt_welem *e = NULL;
    int64_t shape[1] = {(int64_t)ob->n};
    zt_dtype f8 = {'f', 8, false};
    if (!rc) rc = zt__welem_create(w, p, false, ob->n > 1 ? 1 : 0, shape, f8, NULL, !isnan(time), false, 0, &e);
    if (rc) {
        free(p);
        return rc;
    }
    zt_welem **no = realloc(w->obs, (w->n_obs + 1) * sizeof *no);
    char **nn = realloc(w->obs_names, (w->n_obs + 1) * sizeof *nn);
    if (no) w->obs = no;
    if (nn) w->obs_names = nn;
    char *name = p; /* observables are told apart by their path */
    if (!no || !nn) {
        free(name);
        zt__welem_free(e);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    w->obs[w->n_obs] = e;
    w->obs_names[w->n_obs] = name;
    w->n_obs++;
    *out = e;
    return 0;
}

/* Frames readable with every element: the per-atom elements commit whole
 * chunks only, the others every frame. */
static int64_t zt__committed(const zt_writer_t *w) {
    int64_t n = w->frames + 1;
    for (int k = 0; k < 4; k++)
        if (w->el[k] && w->el[k]->committed < n) n = w->el[k]->committed;
    return n;
}

static int zt__sync(zt_writer_t *w) {
    /* Small elements catch up (partial chunks), then metadata is committed. */
    int rc = 0;
    for (int k = 0; k < 4 && !rc; k++)
        if (w->el[k] && !w->el[k]->big) rc = zt__welem_flush(w, w->el[k], true);
    for (size_t i = 0; i < w->n_obs && !rc; i++) rc = zt__welem_flush(w, w->obs[i], true);
    w->b->commit_frames = zt__committed(w);
    if (!rc) rc = w->b->vt->sync(w->b);
    w->dirty = false;
    /* what a reader finds if the process dies now (crash-safety tests read this) */
    if (!rc && !w->b->logs_commits) ZT_INFO("%s: committed %lld frames", w->url, (long long)zt__committed(w));
    return rc;
}

int zt_writer_write_frame(zt_writer_t *w, const zt_wframe_t *f) {
    if (!w || !f) return zt__err(ZT_EINVAL, "zt_writer_write_frame: NULL argument");
    if (w->failed) return zt__err(ZT_ESTATE, "%s: writer failed earlier; close it", w->url);
    if (w->fw) {
        int frc = w->fw->vt->write_frame(w->fw, f);
        if (frc) return zt__wfail(w, frc);
        if (f->position || f->velocity || f->force || f->box) w->frames++;
        return 0;
    }
    const void *rows[4] = {f->position, f->velocity, f->force, NULL};
    float box32[9];
    if (f->box) {
        for (int i = 0; i < 9; i++) box32[i] = (float)f->box[i];
        rows[3] = box32;
    }
    int rc = 0;
    for (int k = 0; k < 4 && !rc; k++) {
        if (!rows[k]) continue;
        if (!w->el[k]) {
            char *gp = zt__path_join("particles", w->group);
            char *p = gp ? zt__path_join(gp, zt__el_path[k]) : NULL;
            int64_t shape[2] = {k == 3 ? 3 : w->n_atoms, 3};
            zt_dtype f4 = {'f', 4, false};
            const char *unit = w->units[k == 0 || k == 3 ? 0 : k == 1 ? 2 : 3];
            double scale = k < 3 && w->quantum[k] > 0 ? zt__scale_of(w->quantum[k]) : 0;
            rc = p ? zt__welem_create(w, p, k < 3, 2, shape, f4, unit, !isnan(f->time), true, scale, &w->el[k])
                   : zt__err(ZT_ENOMEM, "out of memory");
            free(gp);
            free(p);
            if (rc) break;
        }
        rc = zt__welem_append(w, w->el[k], f->step, f->time, rows[k]);
    }
    for (size_t i = 0; i < f->n_obs && !rc; i++) {
        zt_welem *e = NULL;
        rc = zt__obs_elem(w, &f->obs[i], f->time, &e);
        if (!rc) rc = zt__welem_append(w, e, f->step, f->time, f->obs[i].values);
    }
    if (!rc && w->dirty) rc = zt__sync(w);
    if (rc) return zt__wfail(w, zt__err_prefix(rc, "%s: ", w->url));
    w->frames++;
    return 0;
}

int zt_writer_close(zt_writer_t *w) {
    if (!w) return 0;
    int rc = 0;
    if (w->fw) rc = w->fw->vt->close(w->fw, !w->failed);
    if (w->b) {
        if (!w->failed) {
            for (int k = 0; k < 4 && !rc; k++)
                if (w->el[k]) rc = zt__welem_flush(w, w->el[k], true);
            for (size_t i = 0; i < w->n_obs && !rc; i++) rc = zt__welem_flush(w, w->obs[i], true);
        }
        w->b->commit_frames = w->frames;
        bool logs = w->b->logs_commits;
        int crc = w->b->vt->close(w->b, !w->failed && !rc);
        if (!rc) rc = crc;
        if (!rc && !logs) ZT_INFO("%s: committed %lld frames", w->url, (long long)w->frames);
        if (rc) rc = zt__err_prefix(rc, "%s: ", w->url);
    }
    for (int k = 0; k < 4; k++) zt__welem_free(w->el[k]);
    for (size_t i = 0; i < w->n_obs; i++) {
        zt__welem_free(w->obs[i]);
        free(w->obs_names[i]);
    }
    free(w->obs);
    free(w->obs_names);
    for (int i = 0; i < 4; i++) free(w->units[i]);
    json_decref(w->compressor);
    free(w->group);
    free(w->url);
    free(w);
    return rc;
}
