/* TRR (GROMACS full-precision trajectory, XDR): every frame has a header
 * with the byte sizes of its blocks (box, virial, pressure, x, v, f), so the
 * scan jumps from header to header; x, v and f are each optional per frame
 * and become H5MD elements with their own step/time; single or double
 * precision follows from the block sizes. Values are raw big-endian reals
 * read straight from the file. Units: nm, ps, nm ps-1, kJ mol-1 nm-1. */
#include "mdformats/mdformats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ZT_TRR_MAGIC 1993

typedef struct zt_trrhdr {
    int32_t ir, e, box, vir, pres, top, sym, x, v, f, natoms, step, nre;
    int real;       /* 4 or 8 */
    int64_t head;   /* header bytes */
    double t, lambda;
} zt_trrhdr;

static double zt__be64f(const uint8_t *p) {
    uint64_t u = (uint64_t)zt__be32(p) << 32 | zt__be32(p + 4);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* Parse the header at p (n bytes available); why names a problem. */
static int zt__trr_header(const uint8_t *p, size_t n, zt_trrhdr *h, const char **why) {
    *why = NULL;
    if (n < 24) return (*why = "header cut short", ZT_ETRUNCATED);
    if (zt__be32i(p) != ZT_TRR_MAGIC) return (*why = "bad magic number", ZT_EFORMAT);
    int32_t slen = zt__be32i(p + 4), xlen = zt__be32i(p + 8);
    if (slen != 13 || xlen != 12 || memcmp(p + 12, "GMX_trn_file", 12)) return (*why = "bad version string", ZT_ECORRUPT);
    if (n < 76) return (*why = "header cut short", ZT_ETRUNCATED);
    int32_t *v[13] = {&h->ir, &h->e, &h->box, &h->vir, &h->pres, &h->top, &h->sym, &h->x, &h->v, &h->f, &h->natoms, &h->step, &h->nre};
    for (int i = 0; i < 13; i++) *v[i] = zt__be32i(p + 24 + 4 * i);
    for (int i = 0; i < 10; i++)
        if (*v[i] < 0) return (*why = "negative block size", ZT_ECORRUPT);
    if (h->natoms < 0 || h->natoms > INT32_MAX / 24) return (*why = "absurd atom count", ZT_ECORRUPT);
    int64_t n3 = (int64_t)h->natoms * 3;
    if (h->box) h->real = h->box / 9;
    else if (h->x && n3) h->real = (int)(h->x / n3);
    else if (h->v && n3) h->real = (int)(h->v / n3);
    else if (h->f && n3) h->real = (int)(h->f / n3);
    else h->real = 4;
    if (h->real != 4 && h->real != 8) return (*why = "block sizes are neither single nor double precision", ZT_ECORRUPT);
    if ((h->box && h->box != 9 * h->real) || (h->vir && h->vir != 9 * h->real) || (h->pres && h->pres != 9 * h->real) ||
        (h->x && h->x != n3 * h->real) || (h->v && h->v != n3 * h->real) || (h->f && h->f != n3 * h->real))
        return (*why = "block sizes do not match the atom count", ZT_ECORRUPT);
    h->head = 76 + 2 * h->real;
    if ((int64_t)n < h->head) return (*why = "header cut short", ZT_ETRUNCATED);
    h->t = h->real == 4 ? zt__be32f(p + 76) : zt__be64f(p + 76);
    h->lambda = h->real == 4 ? zt__be32f(p + 76 + 4) : zt__be64f(p + 84);
    return 0;
}

typedef struct zt_trrfr {
    int64_t off, step, xoff, voff, foff;
    double t, lambda, box[9];
    bool has_box;
} zt_trrfr;

int zt__trr_open_tree(zt_store *s, const char *url, const zt_options_t *opts, zt_tree **out) {
    (void)opts;
    zt_stat st;
    int rc = zt__store_head(s, "", &st);
    if (rc) return zt__err_prefix(rc, "%s: ", url);
    if (st.size < 0) return zt__err(ZT_EUNSUPPORTED, "%s: the store does not report the file size", url);
    if (st.size == 0) return zt__err(ZT_ETRUNCATED, "%s: empty file (not a TRR trajectory)", url);
    zt_mdscan sc;
    zt__mdscan_init(&sc, s, url, st.size);
    zt_trrfr *fr = NULL;
    int64_t n = 0, cap = 0, off = 0;
    int32_t natoms = -1;
    int real = 0;
    while (!rc && off < st.size) {
        const uint8_t *p;
        size_t want = st.size - off < 92 ? (size_t)(st.size - off) : 92;
        if ((rc = zt__mdscan_get(&sc, off, want, &p))) {
            rc = zt__err_prefix(rc, "%s: TRR frame %lld: ", url, (long long)n);
            break;
        }
        zt_trrhdr h;
        const char *why;
        rc = zt__trr_header(p, want, &h, &why);
        if (rc == ZT_EFORMAT && n == 0) {
            rc = zt__err(ZT_EFORMAT, "%s: not a TRR file (magic number %d, expected %d)", url, zt__be32i(p), ZT_TRR_MAGIC);
            break;
        }
        if (!rc && n > 0 && (h.natoms != natoms || h.real != real)) {
            rc = ZT_ECORRUPT;
            why = h.natoms != natoms ? "absurd atom count (earlier frames have a different count)" : "precision changes between frames";
        }
        if (rc) {
            rc = zt__err(rc == ZT_EFORMAT ? ZT_ECORRUPT : rc, "%s: TRR frame %lld at byte %lld: %s%s", url, (long long)n,
                         (long long)off, why, rc == ZT_ETRUNCATED ? " (truncated file)" : ": corrupt header");
            break;
        }
        natoms = h.natoms;
        real = h.real;
        int64_t body = (int64_t)h.ir + h.e + h.box + h.vir + h.pres + h.top + h.sym + h.x + h.v + h.f;
        if (h.head + body > st.size - off) {
            rc = zt__err(ZT_ETRUNCATED, "%s: TRR frame %lld at byte %lld is cut in the middle: needs %lld bytes, the file has %lld left",
                         url, (long long)n, (long long)off, (long long)(h.head + body), (long long)(st.size - off));
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            zt_trrfr *v = realloc(fr, sizeof *v * (size_t)cap);
            if (!v) {
                rc = zt__err(ZT_ENOMEM, "out of memory");
                break;
            }
            fr = v;
        }
        zt_trrfr *f = &fr[n];
        memset(f, 0, sizeof *f);
        f->off = off;
        f->step = h.step;
        f->t = h.t;
        f->lambda = h.lambda;
        int64_t b = off + h.head + h.ir + h.e;
        if (h.box) {
            const uint8_t *q;
            if ((rc = zt__mdscan_get(&sc, b, (size_t)h.box, &q))) {
                rc = zt__err_prefix(rc, "%s: TRR frame %lld: box: ", url, (long long)n);
                break;
            }
            for (int k = 0; k < 9; k++) f->box[k] = real == 4 ? zt__be32f(q + 4 * k) : zt__be64f(q + 8 * k);
            f->has_box = true;
        }
        b += (int64_t)h.box + h.vir + h.pres + h.top + h.sym;
        f->xoff = h.x ? b : -1;
        b += h.x;
        f->voff = h.v ? b : -1;
        b += h.v;
        f->foff = h.f ? b : -1;
        n++;
        off += h.head + body;
    }
    zt__mdscan_free(&sc);
    if (!rc && natoms <= 0) rc = zt__err(ZT_EFORMAT, "%s: TRR file without atoms", url);
    size_t nn = (size_t)(n ? n : 1);
    int64_t *step = malloc(sizeof *step * nn), *idx[3], *offs[3], *lens[3];
    double *time = malloc(sizeof *time * nn), *box = malloc(sizeof *box * nn * 9), *lam = malloc(sizeof *lam * nn);
    uint8_t *bok = malloc(nn);
    for (int k = 0; k < 3; k++) {
        idx[k] = malloc(sizeof(int64_t) * nn);
        offs[k] = malloc(sizeof(int64_t) * nn);
        lens[k] = malloc(sizeof(int64_t) * nn);
        if (!idx[k] || !offs[k] || !lens[k]) rc = rc ? rc : zt__err(ZT_ENOMEM, "out of memory");
    }
    if (!rc && (!step || !time || !box || !bok || !lam)) rc = zt__err(ZT_ENOMEM, "out of memory");
    if (!rc) {
        zt_mdspec sp;
        memset(&sp, 0, sizeof sp);
        sp.format = "trr";
        sp.n_frames = n;
        sp.n_atoms = natoms;
        sp.step = step;
        sp.time = time;
        sp.time_f32 = real == 4;
        sp.box = box;
        sp.box_ok = bok;
        sp.length_unit = "nm";
        sp.time_unit = "ps";
        static const char *names[3] = {"position", "velocity", "force"};
        static const char *units[3] = {"nm", "nm ps-1", "kJ mol-1 nm-1"};
        zt_dtype dt = {'f', (uint8_t)real, true};
        int64_t ns[3] = {0, 0, 0};
        for (int64_t i = 0; i < n; i++) {
            step[i] = fr[i].step;
            time[i] = fr[i].t;
            bok[i] = fr[i].has_box;
            memcpy(box + i * 9, fr[i].box, sizeof fr[i].box);
            int64_t o[3] = {fr[i].xoff, fr[i].voff, fr[i].foff};
            for (int k = 0; k < 3; k++)
                if (o[k] >= 0) {
                    idx[k][ns[k]] = i;
                    offs[k][ns[k]] = o[k];
                    lens[k][ns[k]] = (int64_t)natoms * 3 * real;
                    ns[k]++;
                }
        }
        for (int k = 0; k < 3; k++) sp.el[k] = (zt_mdel){names[k], ns[k], idx[k], offs[k], lens[k], dt, NULL, units[k], NULL, NULL};
        /* lambda of every frame (MDAnalysis' ts.data['lambda']): the observable observables/lambda */
        for (int64_t i = 0; i < n; i++) lam[i] = fr[i].lambda;
        sp.obs_name = "lambda";
        sp.obs = lam;
        rc = zt__md_build_tree(s, url, &sp, out);
    }
    for (int k = 0; k < 3; k++) {
        free(idx[k]);
        free(offs[k]);
        free(lens[k]);
    }
    free(step);
    free(time);
    free(box);
    free(lam);
    free(bok);
    free(fr);
    return rc;
}
