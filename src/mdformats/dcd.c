/* DCD (CHARMM, NAMD, X-PLOR; Fortran unformatted records in either byte
 * order): a header (CORD + 20 control integers, title, atom count, free-atom
 * list when atoms are fixed), then fixed-size frames of an optional unit-cell
 * record (CHARMM/NAMD: A, gamma, B, beta, alpha, C; angles as cosines
 * (CHARMM, NAMD >= 2.5) or degrees) and x, y, z records (only the free atoms
 * after the first frame when atoms are fixed). Frames decode through the
 * "dcd" codec, which interleaves x, y, z and puts the free atoms over the
 * first frame's coordinates. Units: Angstrom, AKMA time. */
#include "mdformats/mdformats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct zt_dcd {
    bool swap;      /* big-endian file */
    bool charmm, cell, four;
    int32_t nset, istart, nsavc, namnf, natoms, nfree;
    double delta;
    int32_t *free_idx; /* 0-based */
    float *fixed;      /* natoms*3 of frame 0 when namnf > 0 */
    int64_t first, first_size, frame_size;
} zt_dcd;

static uint32_t zt__rd32(const zt_dcd *d, const uint8_t *p) {
    return d->swap ? zt__be32(p) : ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}
static float zt__rdf(const zt_dcd *d, const uint8_t *p) {
    uint32_t u = zt__rd32(d, p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static double zt__rdd(const zt_dcd *d, const uint8_t *p) {
    uint64_t lo = zt__rd32(d, d->swap ? p + 4 : p), hi = zt__rd32(d, d->swap ? p : p + 4);
    uint64_t u = hi << 32 | lo;
    double x;
    memcpy(&x, &u, 8);
    return x;
}

/* ---- codec ------------------------------------------------------------------ */
typedef struct zt_dcdcodec {
    zt_codec base;
    const zt_dcd *d; /* owned by the codec (copy) */
    zt_dcd own;
} zt_dcdcodec;

static int zt__dcdc_encode(const zt_codec *c, const void *in, size_t n, zt_buf *out) {
    (void)c;
    (void)in;
    (void)n;
    (void)out;
    return zt__err(ZT_EUNSUPPORTED, "the dcd codec only decodes");
}

/* Decode x, y, z records of m atoms each into out (natoms*3), at atoms idx (NULL = all). */
static int zt__dcd_xyz(const zt_dcd *d, const uint8_t *p, size_t n, int32_t m, const int32_t *idx, float *out) {
    size_t rec = 8 + 4 * (size_t)m;
    if (n != 3 * rec) return zt__err(ZT_ECORRUPT, "DCD frame: %zu bytes, expected %zu", n, 3 * rec);
    for (int k = 0; k < 3; k++) {
        const uint8_t *r = p + k * rec;
        if (zt__rd32(d, r) != 4 * (uint32_t)m || zt__rd32(d, r + rec - 4) != 4 * (uint32_t)m)
            return zt__err(ZT_ECORRUPT, "DCD frame: record markers of the %c coordinates are wrong (corrupt frame)", "xyz"[k]);
        for (int32_t i = 0; i < m; i++) out[(size_t)(idx ? idx[i] : i) * 3 + k] = zt__rdf(d, r + 4 + 4 * (size_t)i);
    }
    return 0;
}

static int zt__dcdc_decode_into(const zt_codec *pc, const void *in, size_t n, void *dst, size_t size) {
    const zt_dcdcodec *c = (const zt_dcdcodec *)pc;
    const zt_dcd *d = &c->own;
    size_t want = (size_t)d->natoms * 12;
    if (size != want) return zt__err(ZT_ECORRUPT, "DCD frame: %zu bytes expected, frame holds %zu", size, want);
    float *o = dst;
    if (d->namnf > 0 && n == 3 * (8 + 4 * (size_t)d->nfree)) {
        memcpy(o, d->fixed, want);
        return zt__dcd_xyz(d, in, n, d->nfree, d->free_idx, o);
    }
    return zt__dcd_xyz(d, in, n, d->natoms, NULL, o);
}

static int zt__dcdc_decode(const zt_codec *pc, const void *in, size_t n, zt_buf *out, size_t expected) {
    const zt_dcdcodec *c = (const zt_dcdcodec *)pc;
    size_t want = (size_t)c->own.natoms * 12;
    if (expected && expected != want) return zt__err(ZT_ECORRUPT, "DCD frame: %zu bytes expected, frame holds %zu", expected, want);
    int rc = zt__buf_resize(out, want);
    return rc ? rc : zt__dcdc_decode_into(pc, in, n, out->data, want);
}

static void zt__dcdc_free(zt_codec *pc) {
    zt_dcdcodec *c = (zt_dcdcodec *)pc;
    if (!c) return;
    json_decref(c->base.config);
    free(c->own.free_idx);
    free(c->own.fixed);
    free(c);
}

static const zt_codec_vt zt__dcdc_vt = {"dcd", zt__dcdc_encode, zt__dcdc_decode, NULL, zt__dcdc_free,
                                        zt__dcdc_decode_into};

/* ---- header ----------------------------------------------------------------- */
static int zt__dcd_bad(const char *url, const char *why) {
    return zt__err(ZT_ECORRUPT, "%s: DCD header: %s", url, why);
}

/* Read one record at *off (its length must be len, or any when len < 0). */
static int zt__dcd_record(zt_mdscan *sc, const zt_dcd *d, int64_t *off, int64_t len, const uint8_t **p, int64_t *got,
                          const char *what) {
    const uint8_t *m;
    int rc = zt__mdscan_get(sc, *off, 4, &m);
    if (rc) return rc == ZT_ETRUNCATED ? zt__err(rc, "%s: DCD %s record cut short (truncated file)", sc->url, what) : rc;
    int64_t l = zt__rd32(d, m);
    if (l > INT32_MAX || (len >= 0 && l != len))
        return zt__err(ZT_ECORRUPT, "%s: DCD %s record has %lld bytes, expected %lld (corrupt header)", sc->url, what,
                       (long long)l, (long long)len);
    if ((rc = zt__mdscan_get(sc, *off, (size_t)l + 8, &m)))
        return rc == ZT_ETRUNCATED ? zt__err(rc, "%s: DCD %s record cut short (truncated file)", sc->url, what) : rc;
    if (zt__rd32(d, m + 4 + l) != (uint32_t)l)
        return zt__err(ZT_ECORRUPT, "%s: DCD %s record: end marker differs from the start (corrupt header)", sc->url, what);
    *p = m + 4;
    *got = l;
    *off += l + 8;
    return 0;
}

static double zt__angle(const double *u, const double *v) {
    double uv = u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
    double nu = sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]), nv = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    double c = nu > 0 && nv > 0 ? uv / (nu * nv) : 0;
    c = c > 1 ? 1 : c < -1 ? -1 : c;
    return acos(c) * 180.0 / M_PI;
}

static void zt__cell_vectors(const double uc[6], double *box) {
    /* uc: A, gamma, B, beta, alpha, C (angles as cosines or degrees), or
     * (new CHARMM) the symmetric shape matrix XX, XY, YY, XZ, YZ, ZZ; the
     * same three-way rule as MDAnalysis' DCD reader */
    double A = uc[0], B = uc[2], C = uc[5], g = uc[1], b = uc[3], a = uc[4];
    bool anyneg = false;
    for (int k = 0; k < 6; k++) anyneg |= uc[k] < 0;
    if (g >= -1 && g <= 1 && b >= -1 && b <= 1 && a >= -1 && a <= 1) {
        /* cosines; through degrees as MDAnalysis does (exact 90 for 0) */
        a = 90.0 - asin(a) * 90.0 / M_PI_2;
        b = 90.0 - asin(b) * 90.0 / M_PI_2;
        g = 90.0 - asin(g) * 90.0 / M_PI_2;
    } else if (anyneg || a > 180 || b > 180 || g > 180) {
        double e1[3] = {uc[0], uc[1], uc[3]}, e2[3] = {uc[1], uc[2], uc[4]}, e3[3] = {uc[3], uc[4], uc[5]};
        A = sqrt(e1[0] * e1[0] + e1[1] * e1[1] + e1[2] * e1[2]);
        B = sqrt(e2[0] * e2[0] + e2[1] * e2[1] + e2[2] * e2[2]);
        C = sqrt(e3[0] * e3[0] + e3[1] * e3[1] + e3[2] * e3[2]);
        a = zt__angle(e2, e3);
        b = zt__angle(e1, e3);
        g = zt__angle(e1, e2);
    }
    zt__md_box_vectors(A, B, C, a, b, g, box);
}

int zt__dcd_open_tree(zt_store *s, const char *url, const zt_options_t *opts, zt_tree **out) {
    (void)opts;
    zt_stat st;
    int rc = zt__store_head(s, "", &st);
    if (rc) return zt__err_prefix(rc, "%s: ", url);
    if (st.size < 0) return zt__err(ZT_EUNSUPPORTED, "%s: the store does not report the file size", url);
    if (st.size == 0) return zt__err(ZT_ETRUNCATED, "%s: empty file (not a DCD trajectory)", url);
    zt_mdscan sc;
    zt__mdscan_init(&sc, s, url, st.size);
    zt_dcd d;
    memset(&d, 0, sizeof d);
    const uint8_t *p;
    int64_t off = 0, len;
    zt_codec *codec = NULL;
    double *box = NULL, *time = NULL;
    int64_t *step = NULL, *offs = NULL, *lens = NULL, nf = 0;
    if ((rc = zt__mdscan_get(&sc, 0, 8, &p))) {
        rc = zt__err(ZT_EFORMAT, "%s: not a DCD file (shorter than its header)", url);
        goto done;
    }
    d.swap = zt__be32(p) == 84;
    if (zt__rd32(&d, p) != 84 || memcmp(p + 4, "CORD", 4)) {
        rc = zt__err(ZT_EFORMAT, "%s: not a DCD file (no 84-byte CORD record at the start)", url);
        goto done;
    }
    if ((rc = zt__dcd_record(&sc, &d, &off, 84, &p, &len, "header"))) goto done;
    d.nset = (int32_t)zt__rd32(&d, p + 4);
    d.istart = (int32_t)zt__rd32(&d, p + 8);
    d.nsavc = (int32_t)zt__rd32(&d, p + 12);
    d.namnf = (int32_t)zt__rd32(&d, p + 36);
    d.charmm = zt__rd32(&d, p + 80) != 0;
    if (d.charmm) {
        d.cell = zt__rd32(&d, p + 44) != 0;
        d.four = zt__rd32(&d, p + 48) == 1;
        d.delta = zt__rdf(&d, p + 40);
    } else {
        d.delta = zt__rdd(&d, p + 40);
    }
    {
        /* title: the count of 80-byte lines decides the length (some writers
         * put a shorter length in the markers; libdcd reads them too) */
        const uint8_t *m;
        if ((rc = zt__mdscan_get(&sc, off, 8, &m))) {
            rc = zt__err(ZT_ETRUNCATED, "%s: DCD title record cut short (truncated file)", url);
            goto done;
        }
        uint32_t l0 = zt__rd32(&d, m), nt = zt__rd32(&d, m + 4);
        if (nt > (1u << 20)) {
            rc = zt__dcd_bad(url, "absurd number of title lines");
            goto done;
        }
        int64_t tl = 4 + 80 * (int64_t)nt;
        if ((rc = zt__mdscan_get(&sc, off, (size_t)tl + 8, &m))) {
            rc = zt__err(ZT_ETRUNCATED, "%s: DCD title record cut short (truncated file)", url);
            goto done;
        }
        if (zt__rd32(&d, m + 4 + tl) != l0) {
            rc = zt__dcd_bad(url, "title record: end marker differs from the start");
            goto done;
        }
        off += tl + 8;
    }
    if ((rc = zt__dcd_record(&sc, &d, &off, 4, &p, &len, "atom count"))) goto done;
    d.natoms = (int32_t)zt__rd32(&d, p);
    if (d.natoms <= 0 || d.natoms > INT32_MAX / 12 || (int64_t)d.natoms * 12 > st.size) {
        rc = zt__err(ZT_ECORRUPT, "%s: DCD header: absurd atom count %d", url, d.natoms);
        goto done;
    }
    if (d.namnf < 0 || d.namnf >= d.natoms) {
        rc = zt__dcd_bad(url, "absurd number of fixed atoms");
        goto done;
    }
    d.nfree = d.natoms - d.namnf;
    if (d.namnf > 0) {
        if ((rc = zt__dcd_record(&sc, &d, &off, (int64_t)d.nfree * 4, &p, &len, "free atom"))) goto done;
        d.free_idx = malloc(sizeof *d.free_idx * (size_t)d.nfree);
        if (!d.free_idx) {
            rc = zt__err(ZT_ENOMEM, "out of memory");
            goto done;
        }
        for (int32_t i = 0; i < d.nfree; i++) {
            int64_t v = (int32_t)zt__rd32(&d, p + 4 * (size_t)i);
            if (v < 1 || v > d.natoms) {
                rc = zt__dcd_bad(url, "free atom index out of range");
                goto done;
            }
            d.free_idx[i] = (int32_t)(v - 1);
        }
    }
    d.first = off;
    int64_t cellb = d.cell ? 56 : 0, extra4 = d.four ? 8 + 4 * (int64_t)d.natoms : 0;
    d.first_size = cellb + 3 * (8 + 4 * (int64_t)d.natoms) + extra4;
    d.frame_size = cellb + 3 * (8 + 4 * (int64_t)d.nfree) + (d.four ? 8 + 4 * (int64_t)d.nfree : 0);
    int64_t rest = st.size - d.first;
    if (rest > 0 && rest < d.first_size) {
        rc = zt__err(ZT_ETRUNCATED, "%s: DCD frame 0 at byte %lld is cut in the middle: needs %lld bytes, the file has %lld left",
                     url, (long long)d.first, (long long)d.first_size, (long long)rest);
        goto done;
    }
    nf = rest <= 0 ? 0 : 1 + (rest - d.first_size) / d.frame_size;
    int64_t tail = rest <= 0 ? 0 : (rest - d.first_size) % d.frame_size;
    if (tail) {
        rc = zt__err(ZT_ETRUNCATED, "%s: DCD frame %lld at byte %lld is cut in the middle: needs %lld bytes, the file has %lld left",
                     url, (long long)nf, (long long)(d.first + d.first_size + (nf - 1) * d.frame_size),
                     (long long)d.frame_size, (long long)tail);
        goto done;
    }
    if (nf == 0) {
        rc = zt__err(ZT_ENODATA, "%s: DCD file without frames", url);
        goto done;
    }
    size_t nn = (size_t)nf;
    box = calloc(nn * 9, sizeof *box);
    time = malloc(nn * sizeof *time);
    step = malloc(nn * sizeof *step);
    offs = malloc(nn * sizeof *offs);
    lens = malloc(nn * sizeof *lens);
    if (!box || !time || !step || !offs || !lens) {
        rc = zt__err(ZT_ENOMEM, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < nf; i++) {
        int64_t fo = i == 0 ? d.first : d.first + d.first_size + (i - 1) * d.frame_size;
        int32_t m = i == 0 ? d.natoms : d.nfree;
        if (d.cell) {
            int64_t o2 = fo;
            if ((rc = zt__dcd_record(&sc, &d, &o2, 48, &p, &len, "unit cell"))) {
                rc = zt__err_prefix(rc, "frame %lld: ", (long long)i);
                goto done;
            }
            double uc[6];
            for (int k = 0; k < 6; k++) uc[k] = zt__rdd(&d, p + 8 * k);
            zt__cell_vectors(uc, box + i * 9);
        }
        step[i] = (int64_t)d.istart + i * (int64_t)d.nsavc;
        time[i] = (double)step[i] * d.delta;
        offs[i] = fo + cellb;
        lens[i] = 3 * (8 + 4 * (int64_t)m);
    }
    if (d.namnf > 0) {
        /* the fixed atoms' coordinates come from the first frame */
        d.fixed = malloc((size_t)d.natoms * 12);
        if (!d.fixed) {
            rc = zt__err(ZT_ENOMEM, "out of memory");
            goto done;
        }
        const uint8_t *q;
        if ((rc = zt__mdscan_get(&sc, offs[0], (size_t)lens[0], &q)) ||
            (rc = zt__dcd_xyz(&d, q, (size_t)lens[0], d.natoms, NULL, d.fixed))) {
            rc = zt__err_prefix(rc, "%s: frame 0: ", url);
            goto done;
        }
    }
    zt_dcdcodec *c = calloc(1, sizeof *c);
    if (!c || !(c->base.config = json_pack("{s:s}", "id", "dcd"))) {
        free(c);
        rc = zt__err(ZT_ENOMEM, "out of memory");
        goto done;
    }
    c->base.vt = &zt__dcdc_vt;
    c->own = d;
    d.free_idx = NULL; /* the codec owns them now */
    d.fixed = NULL;
    codec = &c->base;
    zt_pipeline *pl = NULL;
    rc = zt__md_pipeline1(codec, &pl);
    codec = NULL;
    if (rc) goto done;
    zt_mdspec sp;
    memset(&sp, 0, sizeof sp);
    sp.format = "dcd";
    sp.n_frames = nf;
    sp.n_atoms = c->own.natoms;
    sp.step = step;
    sp.time = time;
    sp.box = c->own.cell ? box : NULL;
    sp.length_unit = "Angstrom";
    sp.time_unit = "AKMA";
    zt_dtype f4 = {'f', 4, false};
    sp.el[0] = (zt_mdel){"position", nf, NULL, offs, lens, f4, pl, "Angstrom", NULL, NULL};
    sp.el[1].name = "velocity";
    sp.el[2].name = "force";
    sp.h5md_extra = json_pack("{s:s,s:i,s:i,s:i,s:f}", "dcd_flavour", c->own.charmm ? "CHARMM" : "X-PLOR", "dcd_istart",
                              c->own.istart, "dcd_nsavc", c->own.nsavc, "dcd_fixed_atoms", c->own.namnf, "dcd_delta",
                              c->own.delta);
    rc = zt__md_build_tree(s, url, &sp, out);
    json_decref(sp.h5md_extra);
done:
    zt__codec_free(codec);
    zt__mdscan_free(&sc);
    free(d.free_idx);
    free(d.fixed);
    free(box);
    free(time);
    free(step);
    free(offs);
    free(lens);
    return rc;
}
