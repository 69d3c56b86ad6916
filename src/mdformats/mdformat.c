/* Registry descriptor of the classic MD formats (XTC, TRR, DCD, AMBER
 * NetCDF): claimed by extension, recognised by their leading bytes when
 * nothing claims the URL (tried after Zarr and HDF5). XTC is written through
 * a frame writer back end (array/format.h), one frame at a time. */
#include "format/registry.h"
#include "mdformats/mdformats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool zt__mdf_claims(const char *url) { return zt__md_probe(url, NULL, 0) != NULL; }

/* The format of the root object's leading bytes, or NULL; ZT_ENOTFOUND
 * when there is no object. */
static int zt__mdf_sniff(zt_store *s, const char **fmt) {
    zt_buf head;
    zt__buf_init(&head);
    int rc = zt__store_get_range(s, "", 0, 8, &head);
    *fmt = rc ? NULL : zt__md_probe(NULL, head.data, head.len);
    zt__buf_free(&head);
    return rc;
}

static int zt__mdf_probe(zt_store *s, const char *url) {
    if (zt__mdf_claims(url)) return 1; /* the format's own open checks its magic, naming the frame */
    const char *fmt = NULL;
    int rc = zt__mdf_sniff(s, &fmt);
    if (rc == ZT_ENOTFOUND) return rc;
    if (rc) return rc;
    return fmt ? 1 : zt__err(ZT_EFORMAT, "%s: not an XTC, TRR, DCD or NetCDF file", url);
}

static int zt__mdf_open(zt_store *s, const char *url, const zt_options_t *opts, zt_tree **out) {
    const char *fmt = zt__md_probe(url, NULL, 0);
    if (!fmt) {
        int rc = zt__mdf_sniff(s, &fmt);
        if (rc) return rc;
        if (!fmt) return zt__err(ZT_EFORMAT, "%s: not an XTC, TRR, DCD or NetCDF file", url);
    }
    return zt__md_open_tree(s, url, fmt, opts, out);
}

/* XTC frame writer: positions and box converted to nm, time to ps;
 * velocities, forces and observables have no place in XTC and are dropped
 * with one warning. */
typedef struct zt_xtc_fw {
    zt_fwriter base;
    zt_xtcw *x;
    char *url;
    int64_t n_atoms;
    double lfac, tfac;
    float *buf;
    bool warned;
} zt_xtc_fw;

static int zt__xtc_fw_write(zt_fwriter *fw, const zt_wframe_t *f) {
    zt_xtc_fw *w = (zt_xtc_fw *)fw;
    if (!f->position) {
        if (!f->velocity && !f->force && !f->box) return 0; /* observables only: nothing XTC can hold */
        return zt__err(ZT_ENODATA, "%s: step %lld has no positions; every XTC frame needs them", w->url,
                       (long long)f->step);
    }
    if (!w->warned && (f->velocity || f->force || f->n_obs)) {
        ZT_WARN("%s: XTC holds positions and box only: velocities, forces and observables are not written", w->url);
        w->warned = true;
    }
    size_t n = (size_t)w->n_atoms * 3;
    float box[9];
    for (size_t i = 0; i < n; i++) w->buf[i] = (float)(f->position[i] * w->lfac);
    for (int q = 0; q < 9; q++) box[q] = f->box ? (float)(f->box[q] * w->lfac) : 0.0f;
    double t = isnan(f->time) ? 0.0 : f->time * w->tfac;
    return zt__xtcw_write(w->x, f->step, (float)t, w->buf, box);
}

static int zt__xtc_fw_close(zt_fwriter *fw, bool ok) {
    zt_xtc_fw *w = (zt_xtc_fw *)fw;
    int rc = w->x ? zt__xtcw_close(w->x, ok) : 0;
    free(w->buf);
    free(w->url);
    free(w);
    return rc;
}

static const zt_fwriter_vt zt__xtc_fw_vt = {zt__xtc_fw_write, zt__xtc_fw_close};

/* XTC output: precision 10^digits (default 3 digits, GROMACS' 1000); the
 * given units are converted to XTC's nm and ps (no unit: taken as those). */
static int zt__mdf_open_frame_writer(const char *url, const zt_fwopen *o, zt_fwriter **out) {
    const char *fmt = zt__md_probe(url, NULL, 0);
    if (!fmt || strcmp(fmt, "xtc"))
        return zt__err(ZT_EUNSUPPORTED, "%s: writing %s is not supported (of the classic MD formats, XTC only)", url,
                       fmt ? fmt : "this format");
    double lf = 10, tf = 1;
    int rc = 0;
    if (o->length_unit && o->length_unit[0] && (rc = zt_unit_factor(ZT_UNIT_LENGTH, o->length_unit, &lf)))
        return zt__err_prefix(rc, "%s: ", url);
    if (o->time_unit && o->time_unit[0] && (rc = zt_unit_factor(ZT_UNIT_TIME, o->time_unit, &tf)))
        return zt__err_prefix(rc, "%s: ", url);
    int digits = o->precision < 0 ? 3 : o->precision;
    if (digits > 6) return zt__err(ZT_EINVAL, "%s: XTC precision of %d decimal digits is beyond float32", url, digits);
    float prec = 1;
    for (int i = 0; i < digits; i++) prec *= 10;
    if (o->n_atoms <= 0) return zt__err(ZT_EINVAL, "%s: an XTC file needs at least one atom", url);
    zt_xtc_fw *w = calloc(1, sizeof *w);
    if (!w) return zt__err(ZT_ENOMEM, "out of memory");
    w->base.vt = &zt__xtc_fw_vt;
    w->url = zt__strdup(url);
    w->n_atoms = o->n_atoms;
    w->lfac = lf / 10.0; /* -> Angstrom -> nm */
    w->tfac = tf;
    w->buf = malloc(sizeof(float) * 3 * (size_t)o->n_atoms);
    if (!w->url || !w->buf) rc = zt__err(ZT_ENOMEM, "out of memory");
    if (!rc) rc = zt__xtcw_open(url, o->storage, o->overwrite, o->n_atoms, prec, &w->x);
    if (rc) {
        zt__xtc_fw_close(&w->base, false);
        return rc;
    }
    *out = &w->base;
    return 0;
}

const zt_format zt__md_format = {
    .name = "md",
    .what = "an XTC/TRR/DCD/NetCDF trajectory",
    .flags = 0,
    .claims_url = zt__mdf_claims,
    .probe = zt__mdf_probe,
    .open_tree = zt__mdf_open,
    .open_frame_writer = zt__mdf_open_frame_writer,
};
