/* AMBER NetCDF classic files (CDF-1, CDF-2, CDF-5) through the native
 * reader, on the memory store (the remote code path: byte ranges, coalesced
 * gathers) and as local files: values of every element, scale_factor, double
 * coordinates, STREAMING record counts, the one-record-variable layout (no
 * record padding), a frame dimension that is not the record dimension; the
 * same files written by libnetcdf (when built with it) read identically, a
 * NetCDF-4 file too (locally through libnetcdf, on the memory store through
 * our HDF5 reader; cut short, it fails cleanly). Bad input: every cut of the header, absurd
 * counts, offsets beyond the file, wrong types, a cut last frame, random
 * header bytes: specific errors, never a crash (run under ASan). */
#include "mdformats/mdformats.h"
#include "store/store.h"
#include "testutil.h"

#include <string.h>
#ifdef ZT_HAVE_NETCDF
#include <netcdf.h>
#endif

enum { T_CHAR = 2, T_INT = 4, T_FLOAT = 5, T_DOUBLE = 6 };

/* ---- a small writer of AMBER files (our own, from the format specification) ---- */
typedef struct spec {
    int ver;             /* 1, 2, 5 */
    int na, nf;
    int ctype;           /* coordinates: T_FLOAT, T_DOUBLE, T_INT, 0 = none */
    bool vel, frc, time, cell, spatial_var;
    double vscale;       /* 1 = no scale_factor attribute */
    bool streaming;      /* numrecs = STREAMING */
    bool fixed_frame;    /* frame is a fixed dimension (no record variables) */
    const char *conv;
} spec;

typedef struct wvar {
    const char *name;
    int type, nd, dim[3];
    const char *units;
    double scale;
    size_t begin_at; /* where its begin field is in the header */
    int64_t begin, row;
} wvar;

static void p32(zt_buf *b, uint32_t v) {
    uint8_t q[4];
    zt__put_be32(q, v);
    zt__buf_append(b, q, 4);
}
static void p64(zt_buf *b, uint64_t v) {
    p32(b, (uint32_t)(v >> 32));
    p32(b, (uint32_t)v);
}
static void pnn(zt_buf *b, int ver, uint64_t v) {
    if (ver == 5) p64(b, v);
    else p32(b, (uint32_t)v);
}
static void ppad(zt_buf *b) {
    while (b->len % 4) zt__buf_append(b, "", 1);
}
static void pname(zt_buf *b, int ver, const char *s) {
    pnn(b, ver, strlen(s));
    zt__buf_append(b, s, strlen(s));
    ppad(b);
}
static void pdouble(zt_buf *b, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    p64(b, u);
}
static void ptext_att(zt_buf *b, int ver, const char *name, const char *v) {
    pname(b, ver, name);
    p32(b, T_CHAR);
    pnn(b, ver, strlen(v));
    zt__buf_append(b, v, strlen(v));
    ppad(b);
}

static double xval(int f, int a, int d) { return f * 100 + a + d * 0.25 + 0.5; }
static double vval(int f, int a, int d) { return 0.01 * (f + 1) + 0.001 * a - 0.002 * d; }
static double fval(int f, int a, int d) { return -(f * 10 + a * 0.5 + d); }
static double tval(int f) { return 1.5 * f + 2; }
static double lval(int f, int d) { return 30 + f + d; }
static double aval(int f, int d) { return f == 0 ? 90 : 80 + 10 * d; }

static int tsize(int t) { return t == T_DOUBLE ? 8 : t == T_CHAR ? 1 : 4; }

static void pvalue(zt_buf *b, int type, double v) {
    if (type == T_DOUBLE) pdouble(b, v);
    else if (type == T_INT) p32(b, (uint32_t)(int32_t)v);
    else if (type == T_FLOAT) {
        uint8_t q[4];
        zt__put_be32f(q, (float)v);
        zt__buf_append(b, q, 4);
    } else zt__buf_append(b, "x", 1);
}

/* dims: 0 frame, 1 spatial, 2 atom, 3 cell_spatial, 4 cell_angular, 5 label */
static void build(const spec *sp, zt_buf *b) {
    int ver = sp->ver;
    zt__buf_init(b);
    wvar v[8];
    int nv = 0;
    if (sp->spatial_var) v[nv++] = (wvar){"spatial", T_CHAR, 1, {1}, NULL, 1, 0, 0, 0};
    if (sp->time) v[nv++] = (wvar){"time", T_FLOAT, 1, {0}, "picosecond", 1, 0, 0, 0};
    if (sp->ctype) v[nv++] = (wvar){"coordinates", sp->ctype, 3, {0, 2, 1}, "angstrom", 1, 0, 0, 0};
    if (sp->cell) {
        v[nv++] = (wvar){"cell_lengths", T_DOUBLE, 2, {0, 3}, "angstrom", 1, 0, 0, 0};
        v[nv++] = (wvar){"cell_angles", T_DOUBLE, 2, {0, 4}, "degree", 1, 0, 0, 0};
    }
    if (sp->vel) v[nv++] = (wvar){"velocities", T_FLOAT, 3, {0, 2, 1}, "angstrom/picosecond", sp->vscale, 0, 0, 0};
    if (sp->frc) v[nv++] = (wvar){"forces", T_FLOAT, 3, {0, 2, 1}, "kilocalorie/mole/angstrom", 1, 0, 0, 0};
    int64_t dlen[6] = {sp->fixed_frame ? sp->nf : 0, 3, sp->na, 3, 3, 5};
    static const char *dn[6] = {"frame", "spatial", "atom", "cell_spatial", "cell_angular", "label"};
    zt__buf_append(b, "CDF", 3);
    uint8_t vb = (uint8_t)ver;
    zt__buf_append(b, &vb, 1);
    if (sp->streaming) pnn(b, ver, ver == 5 ? UINT64_MAX : UINT32_MAX);
    else pnn(b, ver, sp->fixed_frame ? 0 : (uint64_t)sp->nf);
    p32(b, 0x0A);
    pnn(b, ver, 6);
    for (int d = 0; d < 6; d++) {
        pname(b, ver, dn[d]);
        pnn(b, ver, (uint64_t)dlen[d]);
    }
    p32(b, 0x0C);
    pnn(b, ver, 3);
    ptext_att(b, ver, "title", "test");
    ptext_att(b, ver, "Conventions", sp->conv ? sp->conv : "AMBER");
    ptext_att(b, ver, "ConventionVersion", "1.0");
    p32(b, 0x0B);
    pnn(b, ver, (uint64_t)nv);
    int nrec = 0;
    for (int i = 0; i < nv; i++) {
        wvar *w = &v[i];
        pname(b, ver, w->name);
        pnn(b, ver, (uint64_t)w->nd);
        for (int d = 0; d < w->nd; d++) pnn(b, ver, (uint64_t)w->dim[d]);
        int natt = (w->units ? 1 : 0) + (w->scale != 1 ? 1 : 0);
        if (!natt) {
            p32(b, 0);
            pnn(b, ver, 0);
        } else {
            p32(b, 0x0C);
            pnn(b, ver, (uint64_t)natt);
            if (w->units) ptext_att(b, ver, "units", w->units);
            if (w->scale != 1) {
                pname(b, ver, "scale_factor");
                p32(b, T_DOUBLE);
                pnn(b, ver, 1);
                pdouble(b, w->scale);
            }
        }
        p32(b, (uint32_t)w->type);
        bool rec = w->dim[0] == 0 && !sp->fixed_frame;
        int64_t row = tsize(w->type);
        for (int d = rec ? 1 : 0; d < w->nd; d++) row *= w->dim[d] == 0 ? sp->nf : dlen[w->dim[d]];
        w->row = row;
        nrec += rec;
        pnn(b, ver, (uint64_t)((row + 3) & ~3)); /* vsize */
        w->begin_at = b->len;
        if (ver == 1) p32(b, 0);
        else p64(b, 0);
    }
    /* layout: non-record data after the header, then the records */
    int64_t off = (int64_t)b->len, recsize = 0;
    for (int i = 0; i < nv; i++) {
        bool rec = v[i].dim[0] == 0 && !sp->fixed_frame;
        if (rec) continue;
        v[i].begin = off;
        off += (v[i].row + 3) & ~3;
    }
    for (int i = 0; i < nv; i++) {
        bool rec = v[i].dim[0] == 0 && !sp->fixed_frame;
        if (!rec) continue;
        v[i].begin = off + recsize;
        recsize += nrec == 1 ? v[i].row : (v[i].row + 3) & ~3;
    }
    for (int i = 0; i < nv; i++) {
        uint8_t *q = b->data + v[i].begin_at;
        if (ver == 1) zt__put_be32(q, (uint32_t)v[i].begin);
        else {
            zt__put_be32(q, (uint32_t)((uint64_t)v[i].begin >> 32));
            zt__put_be32(q + 4, (uint32_t)v[i].begin);
        }
    }
    /* one frame of variable i */
#define ROW(i, f)                                                                                  \
    do {                                                                                           \
        const wvar *w_ = &v[i];                                                                    \
        if (!strcmp(w_->name, "time")) pvalue(b, w_->type, tval(f));                               \
        else if (!strcmp(w_->name, "cell_lengths"))                                                \
            for (int d = 0; d < 3; d++) pvalue(b, w_->type, lval(f, d));                           \
        else if (!strcmp(w_->name, "cell_angles"))                                                 \
            for (int d = 0; d < 3; d++) pvalue(b, w_->type, aval(f, d));                           \
        else                                                                                       \
            for (int a = 0; a < sp->na; a++)                                                       \
                for (int d = 0; d < 3; d++)                                                        \
                    pvalue(b, w_->type, w_->name[0] == 'c' ? xval(f, a, d) : w_->name[0] == 'v'    \
                                                                  ? vval(f, a, d) / w_->scale      \
                                                                  : fval(f, a, d));                \
    } while (0)
    for (int i = 0; i < nv; i++) {
        bool rec = v[i].dim[0] == 0 && !sp->fixed_frame;
        if (rec) continue;
        if (!strcmp(v[i].name, "spatial")) zt__buf_append(b, "xyz", 3);
        else
            for (int f = 0; f < sp->nf; f++) ROW(i, f);
        ppad(b);
    }
    for (int f = 0; f < sp->nf; f++)
        for (int i = 0; i < nv; i++) {
            bool rec = v[i].dim[0] == 0 && !sp->fixed_frame;
            if (!rec) continue;
            ROW(i, f);
            if (nrec > 1) ppad(b);
        }
#undef ROW
}

/* ---- reading and checking ---------------------------------------------------------------- */
static int nput = 0;

static void memurl(const zt_buf *b, size_t n, char *url, size_t cap) {
    char name[64];
    snprintf(name, sizeof name, "nctest%d.nc", nput++);
    zt_store *s = NULL;
    CHECK_OK(zt__store_memory_open(name, NULL, &s));
    if (s) CHECK_OK(zt__store_put(s, "", n ? (const void *)b->data : "", n));
    zt__store_close(s);
    snprintf(url, cap, "memory://%s", name);
}

static int open_bytes(const zt_buf *b, size_t n, zt_reader_t **r) {
    char url[96];
    memurl(b, n, url, sizeof url);
    *r = NULL;
    return zt_reader_open(url, NULL, r);
}

/* Every value of every element against the formulas. */
static void check_values(zt_reader_t *r, const spec *sp, const char *what) {
    CHECK_EQ_INT(zt_reader_n_frames(r), sp->nf);
    CHECK_EQ_INT(zt_reader_n_atoms(r), sp->na);
    CHECK(!!zt_reader_has(r, ZT_VELOCITY) == sp->vel);
    CHECK(!!zt_reader_has(r, ZT_FORCE) == sp->frc);
    CHECK(!!zt_reader_has(r, ZT_POSITION) == !!sp->ctype);
    CHECK(!strcmp(zt_reader_format(r), "netcdf"));
    if (sp->ctype) CHECK(zt_reader_unit(r, ZT_POSITION) && !strcmp(zt_reader_unit(r, ZT_POSITION), "Angstrom"));
    if (sp->vel) CHECK(zt_reader_unit(r, ZT_VELOCITY) && !strcmp(zt_reader_unit(r, ZT_VELOCITY), "Angstrom ps-1"));
    size_t n = (size_t)sp->na * 3;
    float *x = calloc(n, 4), *vv = calloc(n, 4), *ff = calloc(n, 4);
    int64_t *steps = calloc((size_t)sp->nf + 1, 8);
    double *times = calloc((size_t)sp->nf + 1, 8);
    CHECK_OK(zt_reader_steps(r, steps, times));
    int bad = 0;
    for (int f = 0; f < sp->nf; f++) {
        bad += steps[f] != f;
        if (sp->time) bad += times[f] != (double)(float)tval(f);
        else bad += !isnan(times[f]);
        zt_frame_t fr;
        int rc = zt_reader_read_frame(r, f, &fr, x, vv, ff);
        CHECK_OK(rc);
        if (rc) break;
        for (int a = 0; a < sp->na; a++)
            for (int d = 0; d < 3; d++) {
                size_t i = (size_t)a * 3 + d;
                if (sp->ctype) bad += x[i] != (float)xval(f, a, d);
                /* stored as float(v / scale), read as float(stored * scale) */
                if (sp->vel) bad += vv[i] != (float)((double)(float)(vval(f, a, d) / sp->vscale) * sp->vscale);
                if (sp->frc) bad += ff[i] != (float)fval(f, a, d);
            }
        if (sp->cell)
            for (int d = 0; d < 3; d++) {
                bad += fabs(fr.dimensions[d] - lval(f, d)) > 1e-4;
                bad += fabs(fr.dimensions[3 + d] - aval(f, d)) > 1e-3;
            }
        else
            bad += fr.box[0][0] != 0;
        if (bad) {
            fprintf(stderr, "%s: frame %d differs\n", what, f);
            break;
        }
    }
    CHECK(bad == 0);
    /* all frames in one batch, in reverse */
    if (sp->ctype && sp->nf) {
        int64_t *idx = malloc(sizeof *idx * (size_t)sp->nf);
        float *all = malloc(4 * n * (size_t)sp->nf);
        for (int f = 0; f < sp->nf; f++) idx[f] = sp->nf - 1 - f;
        CHECK_OK(zt_reader_read_frames(r, ZT_POSITION, idx, (size_t)sp->nf, all, NULL));
        bad = 0;
        for (int f = 0; f < sp->nf; f++)
            for (size_t i = 0; i < n; i++) bad += all[(size_t)f * n + i] != (float)xval((int)idx[f], (int)(i / 3), (int)(i % 3));
        CHECK(bad == 0);
        free(idx);
        free(all);
    }
    free(x);
    free(vv);
    free(ff);
    free(steps);
    free(times);
}

static spec base(int ver) {
    spec s = {ver, 7, 5, T_FLOAT, true, true, true, true, true, 20.455, false, false, NULL};
    return s;
}

static void test_layouts(void) {
    const int vers[3] = {1, 2, 5};
    for (int k = 0; k < 3; k++) {
        spec variants[7];
        variants[0] = base(vers[k]);
        variants[1] = base(vers[k]);
        variants[1].ctype = T_DOUBLE;
        variants[1].vscale = 1;
        variants[2] = base(vers[k]);
        variants[2].streaming = true;
        /* coordinates alone: one record variable (records packed without padding) */
        variants[3] = (spec){vers[k], 3, 4, T_FLOAT, false, false, false, false, false, 1, false, false, NULL};
        variants[4] = base(vers[k]);
        variants[4].fixed_frame = true;
        variants[5] = base(vers[k]);
        variants[5].nf = 0;
        variants[6] = (spec){vers[k], 1, 9, 0, true, false, true, false, true, 2.0, true, false, NULL};
        for (int j = 0; j < 7; j++) {
            zt_buf b;
            build(&variants[j], &b);
            zt_reader_t *r = NULL;
            char what[64];
            snprintf(what, sizeof what, "CDF-%d variant %d", vers[k], j);
            int rc = open_bytes(&b, b.len, &r);
            if (variants[j].nf == 0) {
                CHECK_RC(rc, ZT_ENODATA); /* as DCD: a trajectory without frames is an error */
                CHECK(strstr(zt_last_error(), "without frames") != NULL);
            } else {
                CHECK_OK(rc);
                if (rc) fprintf(stderr, "  (%s)\n", what);
            }
            if (r) check_values(r, &variants[j], what);
            zt_reader_close(r);
            /* the same bytes as a local file */
            if (j == 0) {
                char *dir = zt_test_tmpdir("netcdf");
                char path[512];
                snprintf(path, sizeof path, "%s/v%d.nc", dir, vers[k]);
                FILE *fp = fopen(path, "wb");
                CHECK(fp && fwrite(b.data, 1, b.len, fp) == b.len);
                if (fp) fclose(fp);
                CHECK_OK(zt_reader_open(path, NULL, &r));
                if (r) check_values(r, &variants[j], path);
                zt_reader_close(r);
                free(dir);
            }
            zt__buf_free(&b);
        }
    }
}

/* Put a NON_NEG/OFFSET-sized big-endian value at p. */
static void poke(uint8_t *p, int w, uint64_t v) {
    if (w == 8) {
        zt__put_be32(p, (uint32_t)(v >> 32));
        zt__put_be32(p + 4, (uint32_t)v);
    } else {
        zt__put_be32(p, (uint32_t)v);
    }
}

static size_t find(const zt_buf *b, const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= b->len; i++)
        if (!memcmp(b->data + i, s, n)) return i;
    return SIZE_MAX;
}

static void expect_fail(const zt_buf *b, size_t n, int code, const char *needle, const char *what) {
    zt_reader_t *r = NULL;
    int rc = open_bytes(b, n, &r);
    if (rc != code) fprintf(stderr, "%s: got %s (%s), want %s\n", what, zt_err_name(rc), zt_last_error(), zt_err_name(code));
    CHECK(rc == code);
    if (needle && rc) {
        if (!strstr(zt_last_error(), needle)) fprintf(stderr, "%s: message \"%s\" lacks \"%s\"\n", what, zt_last_error(), needle);
        CHECK(strstr(zt_last_error(), needle) != NULL);
        CHECK(strstr(zt_last_error(), "memory://") != NULL); /* names the file */
    }
    zt_reader_close(r);
}

static void test_bad_input(void) {
    for (int ver = 1; ver <= 5; ver += ver == 2 ? 3 : 1) {
        int w = ver == 5 ? 8 : 4;
        spec sp = base(ver);
        zt_buf b;
        build(&sp, &b);
        /* header end: the begin of the first variable ("spatial") */
        size_t hend = find(&b, "xyz");
        CHECK(hend != SIZE_MAX);
        /* every cut of the header and the first data */
        for (size_t cut = 0; cut < hend + 8; cut++) {
            zt_reader_t *r = NULL;
            int rc = open_bytes(&b, cut, &r);
            CHECK(rc == ZT_ETRUNCATED || rc == ZT_EFORMAT || rc == ZT_ECORRUPT);
            if (rc == 0) fprintf(stderr, "CDF-%d cut at %zu opened\n", ver, cut);
            zt_reader_close(r);
        }
        /* the last frame cut short */
        expect_fail(&b, b.len - 10, ZT_ETRUNCATED, "frame 4 is cut", "cut last frame");
        /* STREAMING and a cut last frame: the whole frames only */
        spec ss = sp;
        ss.streaming = true;
        zt_buf bs;
        build(&ss, &bs);
        zt_reader_t *r = NULL;
        CHECK_OK(open_bytes(&bs, bs.len - 10, &r));
        if (r) CHECK_EQ_INT(zt_reader_n_frames(r), sp.nf - 1);
        zt_reader_close(r);
        zt__buf_free(&bs);
        /* absurd number of dimensions */
        zt_buf c;
        zt__buf_init(&c);
        zt__buf_append(&c, b.data, b.len);
        poke(c.data + 4 + w + 4, w, ver == 5 ? ((uint64_t)1 << 40) : 0x7fffffff);
        expect_fail(&c, c.len, ZT_ECORRUPT, "absurd number of dimensions", "absurd dimension count");
        /* absurd attribute length (the first global attribute, "title") */
        memcpy(c.data, b.data, b.len);
        size_t t = find(&c, "title");
        poke(c.data + t + 8 + 4, w, ver == 5 ? ((uint64_t)1 << 62) : 0x7ffffff0);
        expect_fail(&c, c.len, ZT_ETRUNCATED, "attribute 'title'", "absurd attribute length");
        /* a negative NON_NEG */
        memcpy(c.data, b.data, b.len);
        poke(c.data + t - w, w, ver == 5 ? UINT64_MAX - 5 : 0xfffffff0u);
        expect_fail(&c, c.len, ZT_ECORRUPT, "negative", "negative name length");
        /* a wrong list tag */
        memcpy(c.data, b.data, b.len);
        c.data[4 + w + 3] = 0x0B;
        expect_fail(&c, c.len, ZT_ECORRUPT, "tag", "wrong dimension tag");
        /* coordinates beginning beyond the end of the file, or inside the header */
        size_t cv = find(&c, "coordinates");
        memcpy(c.data, b.data, b.len);
        /* begin of coordinates: after name, rank, 3 dimids, atts (tag, count, "units" att), type, vsize */
        size_t at = cv + 12 + w + 3 * (size_t)w + 4 + w + (w + 8 + 4 + w + 8) + 4 + w;
        poke(c.data + at, ver == 1 ? 4 : 8, (uint64_t)b.len + 1000);
        expect_fail(&c, c.len, ZT_ECORRUPT, "beyond the end of the file", "begin beyond the file");
        poke(c.data + at, ver == 1 ? 4 : 8, 12);
        expect_fail(&c, c.len, ZT_ECORRUPT, "inside the header", "begin inside the header");
        /* coordinates as integers */
        memcpy(c.data, b.data, b.len);
        CHECK_EQ_INT(zt__be32(c.data + at - w - 4), T_FLOAT);
        zt__put_be32(c.data + at - w - 4, T_INT);
        expect_fail(&c, c.len, ZT_EFORMAT, "coordinates are of type int", "int coordinates");
        /* a type that does not exist (CDF-1/2 have six) */
        zt__put_be32(c.data + at - w - 4, ver == 5 ? 12 : 7);
        expect_fail(&c, c.len, ZT_ECORRUPT, "has type", "unknown type");
        /* not AMBER */
        spec sx = sp;
        sx.conv = "CF-1.6";
        zt_buf bx;
        build(&sx, &bx);
        expect_fail(&bx, bx.len, ZT_EFORMAT, "without the AMBER convention", "CF file");
        zt__buf_free(&bx);
        /* random bytes over the header: errors or values, never a crash */
        uint64_t rng = 0x9E3779B97F4A7C15ull * (uint64_t)ver;
        float *x = malloc(sizeof *x * 3 * 64);
        for (int k = 0; k < 300; k++) {
            memcpy(c.data, b.data, b.len);
            for (int m = 0; m < 1 + k % 4; m++) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                c.data[(rng >> 16) % hend] = (uint8_t)(rng >> 40);
            }
            zt_reader_t *rr = NULL;
            int rc = open_bytes(&c, c.len, &rr);
            CHECK(rc <= 0);
            if (!rc && zt_reader_n_atoms(rr) <= 64)
                for (int64_t f = 0; f < zt_reader_n_frames(rr) && f < 8; f++) {
                    zt_frame_t fr;
                    (void)zt_reader_read_frame(rr, f, &fr, x, NULL, NULL);
                }
            zt_reader_close(rr);
        }
        free(x);
        /* not NetCDF at all */
        memcpy(c.data, "CDF\x03", 4);
        expect_fail(&c, c.len, ZT_EFORMAT, "not a NetCDF file", "CDF version 3");
        expect_fail(&c, 0, ZT_EFORMAT, "not a NetCDF file", "empty");
        zt__buf_free(&c);
        zt__buf_free(&b);
    }
}

#ifdef ZT_HAVE_NETCDF
/* The same trajectory written by libnetcdf in each format. */
static int nc_write(const char *path, int mode, const spec *sp, bool big_endian) {
    int nc, st = nc_create(path, NC_CLOBBER | mode, &nc);
    if (st) return st;
    int fd, ad, sd, cs, ca, tv, xv, vv, fv, lv, av;
    nc_def_dim(nc, "frame", NC_UNLIMITED, &fd);
    nc_def_dim(nc, "spatial", 3, &sd);
    nc_def_dim(nc, "atom", (size_t)sp->na, &ad);
    nc_def_dim(nc, "cell_spatial", 3, &cs);
    nc_def_dim(nc, "cell_angular", 3, &ca);
    nc_put_att_text(nc, NC_GLOBAL, "Conventions", 5, "AMBER");
    nc_put_att_text(nc, NC_GLOBAL, "ConventionVersion", 3, "1.0");
    int d1[1] = {fd}, d3[3] = {fd, ad, sd}, dl[2] = {fd, cs}, da[2] = {fd, ca};
    nc_def_var(nc, "time", NC_FLOAT, 1, d1, &tv);
    nc_put_att_text(nc, tv, "units", 10, "picosecond");
    nc_def_var(nc, "coordinates", NC_FLOAT, 3, d3, &xv);
    nc_put_att_text(nc, xv, "units", 8, "angstrom");
    nc_def_var(nc, "cell_lengths", NC_DOUBLE, 2, dl, &lv);
    nc_def_var(nc, "cell_angles", NC_DOUBLE, 2, da, &av);
    nc_def_var(nc, "velocities", NC_FLOAT, 3, d3, &vv);
    nc_put_att_text(nc, vv, "units", 19, "angstrom/picosecond");
    nc_put_att_double(nc, vv, "scale_factor", NC_DOUBLE, 1, &sp->vscale);
    nc_def_var(nc, "forces", NC_FLOAT, 3, d3, &fv);
    if (big_endian) /* NetCDF-4 only: stored big-endian, scaled values included */
        for (int k = 0; k < 3 && !st; k++) st = nc_def_var_endian(nc, (int[]){xv, vv, fv}[k], NC_ENDIAN_BIG);
    if (st || (st = nc_enddef(nc))) return st;
    size_t n = (size_t)sp->na * 3;
    float *x = malloc(4 * n), *v = malloc(4 * n), *f = malloc(4 * n);
    for (int fr = 0; fr < sp->nf && !st; fr++) {
        for (int a = 0; a < sp->na; a++)
            for (int d = 0; d < 3; d++) {
                x[a * 3 + d] = (float)xval(fr, a, d);
                v[a * 3 + d] = (float)(vval(fr, a, d) / sp->vscale);
                f[a * 3 + d] = (float)fval(fr, a, d);
            }
        size_t s1[1] = {(size_t)fr}, s3[3] = {(size_t)fr, 0, 0}, c3[3] = {1, (size_t)sp->na, 3}, s2[2] = {(size_t)fr, 0},
               c2[2] = {1, 3};
        float t = (float)tval(fr);
        double l[3], an[3];
        for (int d = 0; d < 3; d++) {
            l[d] = lval(fr, d);
            an[d] = aval(fr, d);
        }
        if (!st) st = nc_put_var1_float(nc, tv, s1, &t);
        if (!st) st = nc_put_vara_float(nc, xv, s3, c3, x);
        if (!st) st = nc_put_vara_float(nc, vv, s3, c3, v);
        if (!st) st = nc_put_vara_float(nc, fv, s3, c3, f);
        if (!st) st = nc_put_vara_double(nc, lv, s2, c2, l);
        if (!st) st = nc_put_vara_double(nc, av, s2, c2, an);
    }
    free(x);
    free(v);
    free(f);
    int st2 = nc_close(nc);
    return st ? st : st2;
}

static void test_libnetcdf_files(void) {
    char *dir = zt_test_tmpdir("netcdf-lib");
    /* the last: NetCDF-4 with big-endian per-atom variables */
    static const int modes[5] = {NC_CLASSIC_MODEL, NC_64BIT_OFFSET, NC_64BIT_DATA, NC_NETCDF4, NC_NETCDF4};
    for (int k = 0; k < 5; k++) {
        spec sp = base(k == 0 ? 1 : k == 1 ? 2 : 5);
        sp.na = 13;
        sp.spatial_var = false;
        char path[512];
        snprintf(path, sizeof path, "%s/lib%d.nc", dir, k);
        int st = nc_write(path, modes[k] == NC_CLASSIC_MODEL ? 0 : modes[k], &sp, k == 4);
        if (st) {
            fprintf(stderr, "libnetcdf cannot write format %d: %s (skipped)\n", k, nc_strerror(st));
            continue;
        }
        zt_reader_t *r = NULL;
        CHECK_OK(zt_reader_open(path, NULL, &r));
        if (r) check_values(r, &sp, path);
        zt_reader_close(r);
        /* the same bytes on the memory store: the remote path (NetCDF-4: our HDF5 reader) */
        FILE *fp = fopen(path, "rb");
        zt_buf b;
        zt__buf_init(&b);
        uint8_t tmp[4096];
        size_t got;
        while (fp && (got = fread(tmp, 1, sizeof tmp, fp)) > 0) zt__buf_append(&b, tmp, got);
        if (fp) fclose(fp);
        CHECK_OK(open_bytes(&b, b.len, &r));
        if (r) check_values(r, &sp, modes[k] == NC_NETCDF4 ? "NetCDF-4 on memory://" : "libnetcdf file on memory://");
        zt_reader_close(r);
        /* a NetCDF-4 file cut short: open or a frame fails, naming the file; never a crash */
        for (int c = 1; modes[k] == NC_NETCDF4 && c < 8; c++) {
            size_t cut = b.len * (size_t)c / 8;
            int rc = open_bytes(&b, cut, &r), rrc = 0;
            if (rc) CHECK(strstr(zt_last_error(), "memory://") != NULL);
            float *xb = calloc((size_t)sp.na * 9, 4);
            zt_frame_t fi;
            for (int f = 0; !rc && !rrc && f < sp.nf; f++)
                rrc = zt_reader_read_frame(r, f, &fi, xb, xb + 3 * sp.na, xb + 6 * sp.na);
            if (rrc) CHECK(strstr(zt_last_error(), "memory://") != NULL);
            free(xb);
            if (!rc && !rrc) { /* then the values must be those of the whole file */
                zt_reader_close(r);
                r = NULL;
                CHECK_OK(open_bytes(&b, cut, &r));
                if (r) check_values(r, &sp, "NetCDF-4 cut short");
            }
            zt_reader_close(r);
            r = NULL;
        }
        zt__buf_free(&b);
    }
    free(dir);
}
#endif

int main(void) {
    setenv("ZARRTRAJ_INDEX_CACHE", "0", 1);
    test_layouts();
    test_bad_input();
#ifdef ZT_HAVE_NETCDF
    test_libnetcdf_files();
#endif
    TEST_DONE();
}
