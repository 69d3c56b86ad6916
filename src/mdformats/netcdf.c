/* AMBER NetCDF trajectories (Conventions "AMBER": frame x atom x spatial
 * coordinates/velocities/forces, cell_lengths/cell_angles, time).
 *
 * The NetCDF classic formats (CDF-1, CDF-2 "64-bit offset", CDF-5 "64-bit
 * data") are read here through the store's byte ranges, so local files and
 * remote objects alike: the header (dimensions, attributes, variables and
 * their offsets) is parsed once, time and cell (a few bytes per frame,
 * interleaved with the coordinates in the records) are gathered at open in
 * coalesced range requests, and each per-atom array gets one chunk per frame
 * at the frame's bytes in its record. Big-endian float32 chunks are served
 * as they are; double values or a scale_factor go through the "netcdf" codec
 * (to float32, multiplied in double as MDAnalysis does: fixedscaleoffset
 * would divide by the inverse and round differently).
 *
 * NetCDF-4 files (HDF5 inside): local files through libnetcdf, loaded whole
 * at open (one chunk per array); on every other store through our HDF5
 * reader, whose chunks the AMBER variables become (fetched as frames are
 * read; a scale_factor is a last decode step).
 *
 * Units come from the variables' attributes (spelled the H5MD way when they
 * are AMBER's usual ones); values are multiplied by their scale_factor. */
#include "mdformats/mdformats.h"

#include <stdlib.h>
#include <string.h>

/* ---- units and small helpers --------------------------------------------------- */
static const char *zt__nc_unit(const char *u) {
    static const char *map[][2] = {{"angstrom", "Angstrom"}, {"angstroms", "Angstrom"}, {"picosecond", "ps"},
                                   {"picoseconds", "ps"}, {"angstrom/picosecond", "Angstrom ps-1"},
                                   {"kilocalorie/mole/angstrom", "kcal mol-1 Angstrom-1"}, {"nanometer", "nm"},
                                   {"femtosecond", "fs"}, {"nanosecond", "ns"}};
    if (!u) return NULL;
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcmp(u, map[i][0])) return map[i][1];
    return u;
}

static const char *const zt__nc_vars[3] = {"coordinates", "velocities", "forces"};
static const char *const zt__nc_els[3] = {"position", "velocity", "force"};

/* The tree of an AMBER NetCDF file once the caller has set sp's elements:
 * what every flavour shares. Steps are the frame numbers (AMBER stores none;
 * step holds nf of them), units take their H5MD spelling (lengths from
 * cell_lengths, else from the coordinates: cunit), and the particles group
 * says which NetCDF format the file was. */
static int zt__nc_build(zt_store *s, const char *url, zt_mdspec *sp, int64_t nf, int64_t na, int64_t *step,
                        const double *time, const double *box, const char *lunit, const char *cunit,
                        const char *tunit, const char *format, zt_tree **out) {
    for (int64_t i = 0; i < nf; i++) step[i] = i;
    sp->format = "netcdf";
    sp->n_frames = nf;
    sp->n_atoms = na;
    sp->step = step;
    sp->time = time;
    sp->box = box;
    sp->length_unit = zt__nc_unit(lunit ? lunit : cunit);
    sp->time_unit = zt__nc_unit(tunit);
    for (int k = 0; k < 3; k++) sp->el[k].name = zt__nc_els[k];
    sp->h5md_extra = json_pack("{s:s}", "netcdf_format", format);
    int rc = zt__md_build_tree(s, url, sp, out);
    json_decref(sp->h5md_extra);
    return rc;
}

/* ---- classic header model -------------------------------------------------------- */
enum { NCT_BYTE = 1, NCT_CHAR, NCT_SHORT, NCT_INT, NCT_FLOAT, NCT_DOUBLE, NCT_UBYTE, NCT_USHORT, NCT_UINT, NCT_INT64, NCT_UINT64 };
#define ZT_NC_DIMENSION 0x0A
#define ZT_NC_VARIABLE 0x0B
#define ZT_NC_ATTRIBUTE 0x0C
#define ZT_NC_MAX_NAME 4096        /* libnetcdf's own limit is 256 */
#define ZT_NC_MAX_LIST (1 << 20)   /* dimensions, attributes or variables in one list */
#define ZT_NC_MAX_VAR_DIMS 1024    /* libnetcdf's NC_MAX_VAR_DIMS */
#define ZT_NC_KEEP_ATT ((int64_t)64 << 10) /* attribute values kept (larger ones are skipped) */

static int zt__nct_size(int t, int version) {
    static const int sz[12] = {0, 1, 1, 2, 4, 4, 8, 1, 2, 4, 8, 8};
    if (t < 1 || t > (version == 5 ? NCT_UINT64 : NCT_DOUBLE)) return 0; /* CDF-1/2 have the first six */
    return sz[t];
}

static const char *zt__nct_name(int t) {
    static const char *const nm[12] = {"?", "byte", "char", "short", "int", "float", "double",
                                       "ubyte", "ushort", "uint", "int64", "uint64"};
    return t >= 1 && t <= NCT_UINT64 ? nm[t] : "an unknown type";
}

typedef struct zt_ncatt {
    char *name;
    int32_t type;
    int64_t n;      /* values */
    uint8_t *val;   /* n values big-endian, or NULL when too large to keep */
} zt_ncatt;

typedef struct zt_ncatts {
    zt_ncatt *a;
    size_t n;
} zt_ncatts;

typedef struct zt_ncvar {
    char *name;
    int ndims;
    int64_t *dim;     /* dimension ids */
    zt_ncatts att;
    int32_t type;
    int64_t begin;    /* byte offset of the data (of record 0 for a record variable) */
    bool rec;         /* first dimension is the record dimension */
    int64_t row;      /* bytes of one index of the first dimension (a record's slab) */
    int64_t bytes;    /* non-record: all the data */
} zt_ncvar;

typedef struct zt_nchdr {
    int version;      /* 1, 2, 5 */
    int64_t numrecs;
    bool streaming;
    char **dname;
    int64_t *dlen;    /* 0 = the record dimension */
    size_t ndim;
    int64_t recdim;   /* -1 when none */
    zt_ncatts gatt;
    zt_ncvar *var;
    size_t nvar;
    int64_t recsize;  /* bytes of one record (all record variables) */
    int64_t end;      /* end of the header */
} zt_nchdr;

static void zt__nc_atts_free(zt_ncatts *l) {
    for (size_t i = 0; i < l->n; i++) {
        free(l->a[i].name);
        free(l->a[i].val);
    }
    free(l->a);
    memset(l, 0, sizeof *l);
}

static void zt__nc_hdr_free(zt_nchdr *h) {
    for (size_t i = 0; i < h->ndim; i++) free(h->dname[i]);
    free(h->dname);
    free(h->dlen);
    zt__nc_atts_free(&h->gatt);
    for (size_t i = 0; i < h->nvar; i++) {
        free(h->var[i].name);
        free(h->var[i].dim);
        zt__nc_atts_free(&h->var[i].att);
    }
    free(h->var);
    memset(h, 0, sizeof *h);
}

/* ---- header parsing --------------------------------------------------------------- */
typedef struct zt_ncrd {
    zt_mdscan sc;
    const char *url;
    int64_t off;
    int version;
    int w;            /* bytes of NON_NEG: 4, or 8 in CDF-5 */
} zt_ncrd;

static int zt__ncr_bytes(zt_ncrd *r, size_t n, const uint8_t **p, const char *what) {
    zt_mdscan *sc = &r->sc;
    /* the first read is small (headers are usually a few KiB); grow the
     * window each time the header goes on past it */
    if (sc->win.len && (r->off < sc->win_off || r->off + (int64_t)n > sc->win_off + (int64_t)sc->win.len) &&
        sc->block < ((size_t)4 << 20))
        sc->block *= 2;
    int rc = zt__mdscan_get(sc, r->off, n, p);
    if (rc == ZT_ETRUNCATED)
        return zt__err(ZT_ETRUNCATED, "%s: NetCDF header cut short at byte %lld (%s; truncated file)", r->url,
                       (long long)r->off, what);
    if (rc) return zt__err_prefix(rc, "%s: NetCDF header: ", r->url);
    r->off += (int64_t)n;
    return 0;
}

static int zt__ncr_skip(zt_ncrd *r, int64_t n, const char *what) {
    if (n > r->sc.size - r->off)
        return zt__err(ZT_ETRUNCATED, "%s: NetCDF header cut short at byte %lld (%s; truncated file)", r->url,
                       (long long)r->off, what);
    r->off += n;
    return 0;
}

static int zt__ncr_u32(zt_ncrd *r, uint32_t *v, const char *what) {
    const uint8_t *p;
    int rc = zt__ncr_bytes(r, 4, &p, what);
    if (!rc) *v = zt__be32(p);
    return rc;
}

/* NON_NEG: a non-negative INT (INT64 in CDF-5). */
static int zt__ncr_nonneg(zt_ncrd *r, int64_t *v, const char *what) {
    const uint8_t *p;
    int64_t at = r->off;
    int rc = zt__ncr_bytes(r, (size_t)r->w, &p, what);
    if (rc) return rc;
    uint64_t u = r->w == 8 ? (uint64_t)zt__be32(p) << 32 | zt__be32(p + 4) : zt__be32(p);
    if (u > (r->w == 8 ? (uint64_t)INT64_MAX : (uint64_t)INT32_MAX))
        return zt__err(ZT_ECORRUPT, "%s: NetCDF header: %s at byte %lld is negative (corrupt header)", r->url, what,
                       (long long)at);
    *v = (int64_t)u;
    return 0;
}

static int64_t zt__pad4(int64_t n) { return (n + 3) & ~(int64_t)3; }

static int zt__ncr_name(zt_ncrd *r, char **out, const char *what) {
    int64_t n;
    const uint8_t *p;
    int rc = zt__ncr_nonneg(r, &n, what);
    if (rc) return rc;
    if (n == 0 || n > ZT_NC_MAX_NAME)
        return zt__err(ZT_ECORRUPT, "%s: NetCDF header: %s at byte %lld has %lld bytes (corrupt header)", r->url, what,
                       (long long)r->off, (long long)n);
    if ((rc = zt__ncr_bytes(r, (size_t)zt__pad4(n), &p, what))) return rc;
    if (memchr(p, 0, (size_t)n))
        return zt__err(ZT_ECORRUPT, "%s: NetCDF header: %s before byte %lld holds a NUL byte (corrupt header)", r->url,
                       what, (long long)r->off);
    if (!(*out = zt__strndup((const char *)p, (size_t)n))) return zt__err(ZT_ENOMEM, "out of memory");
    return 0;
}

/* A list head: ABSENT (ZERO ZERO) or tag + count; min = least bytes per element. */
static int zt__ncr_list(zt_ncrd *r, uint32_t tag, int64_t min, int64_t *n, const char *what) {
    uint32_t t;
    int64_t at = r->off;
    int rc = zt__ncr_u32(r, &t, what);
    if (!rc) rc = zt__ncr_nonneg(r, n, what);
    if (rc) return rc;
    if (t == 0 && *n == 0) return 0;
    if (t != tag)
        return zt__err(ZT_ECORRUPT, "%s: NetCDF header: %s at byte %lld has tag %u, expected %u (corrupt header)", r->url,
                       what, (long long)at, t, tag);
    if (*n > ZT_NC_MAX_LIST || *n > (r->sc.size - r->off) / min)
        return zt__err(ZT_ECORRUPT, "%s: NetCDF header: absurd number of %s (%lld) at byte %lld (corrupt header)", r->url,
                       what, (long long)*n, (long long)at);
    return 0;
}

/* p with room for element i (capacity *cap elements of sz bytes, grown by
 * doubling, new space zeroed; p itself and *rc = ZT_ENOMEM on failure):
 * lists grow as their elements are parsed, so a count in a corrupt header
 * allocates no more than the bytes that were read. */
static void *zt__nc_room(void *p, size_t *cap, size_t i, size_t sz, int *rc) {
    if (i < *cap) return p;
    size_t nc = *cap ? *cap * 2 : 16;
    uint8_t *q = realloc(p, nc * sz);
    if (!q) {
        *rc = zt__err(ZT_ENOMEM, "out of memory");
        return p;
    }
    memset(q + *cap * sz, 0, (nc - *cap) * sz);
    *cap = nc;
    return q;
}

static int zt__ncr_atts(zt_ncrd *r, zt_ncatts *l, const char *what) {
    int64_t n;
    int rc = zt__ncr_list(r, ZT_NC_ATTRIBUTE, 4 + r->w * 2 + 4, &n, what);
    if (rc || n == 0) return rc;
    size_t cap = 0;
    for (int64_t i = 0; i < n; i++) {
        l->a = zt__nc_room(l->a, &cap, l->n, sizeof *l->a, &rc);
        if (rc) return rc;
        zt_ncatt *a = &l->a[l->n++];
        uint32_t t;
        if ((rc = zt__ncr_name(r, &a->name, "attribute name")) || (rc = zt__ncr_u32(r, &t, "attribute type")) ||
            (rc = zt__ncr_nonneg(r, &a->n, "attribute length")))
            return rc;
        int sz = zt__nct_size((int)t, r->version);
        if (!sz)
            return zt__err(ZT_ECORRUPT, "%s: NetCDF header: attribute '%s' has type %u (corrupt header)", r->url, a->name, t);
        a->type = (int32_t)t;
        if (a->n > (r->sc.size - r->off) / sz)
            return zt__err(ZT_ETRUNCATED, "%s: NetCDF header: attribute '%s' (%lld values) runs past the end of the file "
                           "(truncated file)", r->url, a->name, (long long)a->n);
        int64_t nb = zt__pad4(a->n * sz);
        if (nb <= ZT_NC_KEEP_ATT) {
            const uint8_t *p;
            if ((rc = zt__ncr_bytes(r, (size_t)nb, &p, "attribute values"))) return rc;
            if (!(a->val = malloc((size_t)nb + 1))) return zt__err(ZT_ENOMEM, "out of memory");
            memcpy(a->val, p, (size_t)nb);
            a->val[nb] = 0;
        } else if ((rc = zt__ncr_skip(r, nb, "attribute values"))) {
            return rc;
        }
    }
    return 0;
}

/* Product with overflow check (a, b >= 0): -1 when over INT64_MAX. */
static int64_t zt__nc_mul(int64_t a, int64_t b) {
    if (a == 0 || b == 0) return 0;
    return a > INT64_MAX / b ? -1 : a * b;
}

/* Parse the header with r (its scanner on the file, r->off = 0). */
static int zt__nc_header(zt_ncrd *rd, zt_nchdr *h) {
    zt_ncrd r = *rd; /* the scanner's window is the caller's to free */
    const char *url = r.url;
    int64_t size = r.sc.size;
    const uint8_t *p;
    int rc = zt__ncr_bytes(&r, 4, &p, "magic");
    if (rc) goto done;
    h->version = r.version = p[3];
    h->recdim = -1;
    r.w = h->version == 5 ? 8 : 4;
    if ((rc = zt__ncr_bytes(&r, (size_t)r.w, &p, "numrecs"))) goto done;
    uint64_t nr = r.w == 8 ? (uint64_t)zt__be32(p) << 32 | zt__be32(p + 4) : zt__be32(p);
    if (nr == (r.w == 8 ? UINT64_MAX : UINT32_MAX)) h->streaming = true; /* STREAMING: count from the file size */
    else if (nr > (uint64_t)(r.w == 8 ? INT64_MAX : INT32_MAX)) {
        rc = zt__err(ZT_ECORRUPT, "%s: NetCDF header: negative number of records (corrupt header)", url);
        goto done;
    } else h->numrecs = (int64_t)nr;
    /* dimensions */
    int64_t n;
    if ((rc = zt__ncr_list(&r, ZT_NC_DIMENSION, r.w + 4 + r.w, &n, "dimensions"))) goto done;
    size_t cap = 0, cap2 = 0;
    for (int64_t i = 0; i < n; i++) {
        h->dname = zt__nc_room(h->dname, &cap, h->ndim, sizeof *h->dname, &rc);
        if (!rc) h->dlen = zt__nc_room(h->dlen, &cap2, h->ndim, sizeof *h->dlen, &rc);
        if (rc) goto done;
        h->ndim++;
        if ((rc = zt__ncr_name(&r, &h->dname[i], "dimension name")) ||
            (rc = zt__ncr_nonneg(&r, &h->dlen[i], "dimension length")))
            goto done;
        if (h->dlen[i] == 0) {
            if (h->recdim >= 0) {
                rc = zt__err(ZT_ECORRUPT, "%s: NetCDF header: two unlimited dimensions ('%s' and '%s'; corrupt header)", url,
                             h->dname[h->recdim], h->dname[i]);
                goto done;
            }
            h->recdim = i;
        }
    }
    if ((rc = zt__ncr_atts(&r, &h->gatt, "global attributes"))) goto done;
    /* variables */
    if ((rc = zt__ncr_list(&r, ZT_NC_VARIABLE, r.w + 4 + r.w + 8 + 4 + r.w + 4, &n, "variables"))) goto done;
    int64_t nrec = 0, last_row = 0;
    cap = 0;
    for (int64_t i = 0; i < n; i++) {
        h->var = zt__nc_room(h->var, &cap, h->nvar, sizeof *h->var, &rc);
        if (rc) goto done;
        zt_ncvar *v = &h->var[h->nvar++];
        int64_t nd, vsize;
        if ((rc = zt__ncr_name(&r, &v->name, "variable name")) || (rc = zt__ncr_nonneg(&r, &nd, "variable rank")))
            goto done;
        if (nd > ZT_NC_MAX_VAR_DIMS) {
            rc = zt__err(ZT_ECORRUPT, "%s: NetCDF header: variable '%s' has %lld dimensions (corrupt header)", url, v->name,
                         (long long)nd);
            goto done;
        }
        v->ndims = (int)nd;
        if (nd && !(v->dim = malloc(sizeof *v->dim * (size_t)nd))) {
            rc = zt__err(ZT_ENOMEM, "out of memory");
            goto done;
        }
        for (int d = 0; d < v->ndims; d++) {
            if ((rc = zt__ncr_nonneg(&r, &v->dim[d], "dimension id"))) goto done;
            if (v->dim[d] >= (int64_t)h->ndim) {
                rc = zt__err(ZT_ECORRUPT, "%s: NetCDF header: variable '%s' refers to dimension %lld of %zu (corrupt header)",
                             url, v->name, (long long)v->dim[d], h->ndim);
                goto done;
            }
            if (v->dim[d] == h->recdim && d > 0) {
                rc = zt__err(ZT_ECORRUPT, "%s: NetCDF header: variable '%s' has the unlimited dimension in place %d, not "
                             "first (corrupt header)", url, v->name, d);
                goto done;
            }
        }
        uint32_t t;
        if ((rc = zt__ncr_atts(&r, &v->att, "variable attributes")) || (rc = zt__ncr_u32(&r, &t, "variable type")) ||
            (rc = zt__ncr_nonneg(&r, &vsize, "variable size")))
            goto done;
        int sz = zt__nct_size((int)t, h->version);
        if (!sz) {
            rc = zt__err(ZT_ECORRUPT, "%s: NetCDF header: variable '%s' has type %u (corrupt header)", url, v->name, t);
            goto done;
        }
        v->type = (int32_t)t;
        /* begin: OFFSET, 32-bit in CDF-1 (vsize is not trusted: it saturates
         * for large variables; the sizes follow from the dimensions) */
        if (h->version == 1) {
            uint32_t b;
            if ((rc = zt__ncr_u32(&r, &b, "variable offset"))) goto done;
            if (b > INT32_MAX) {
                rc = zt__err(ZT_ECORRUPT, "%s: NetCDF header: variable '%s' has a negative offset (corrupt header)", url,
                             v->name);
                goto done;
            }
            v->begin = b;
        } else {
            if ((rc = zt__ncr_bytes(&r, 8, &p, "variable offset"))) goto done;
            uint64_t b = (uint64_t)zt__be32(p) << 32 | zt__be32(p + 4);
            if (b > INT64_MAX) {
                rc = zt__err(ZT_ECORRUPT, "%s: NetCDF header: variable '%s' has a negative offset (corrupt header)", url,
                             v->name);
                goto done;
            }
            v->begin = (int64_t)b;
        }
        v->rec = v->ndims > 0 && v->dim[0] == h->recdim;
        int64_t row = sz;
        for (int d = 1; d < v->ndims && row >= 0; d++) row = zt__nc_mul(row, h->dlen[v->dim[d]]);
        int64_t all = v->ndims == 0 || v->rec ? row : zt__nc_mul(row, h->dlen[v->dim[0]]);
        if (row < 0 || all < 0 || all > INT64_MAX / 2) {
            rc = zt__err(ZT_ECORRUPT, "%s: NetCDF header: variable '%s' has an absurd size (corrupt header)", url, v->name);
            goto done;
        }
        v->row = v->ndims ? row : sz;
        v->bytes = v->rec ? 0 : all;
        if (v->rec) {
            nrec++;
            last_row = row;
            if (h->recsize > INT64_MAX / 4 - zt__pad4(row)) {
                rc = zt__err(ZT_ECORRUPT, "%s: NetCDF header: absurd record size (corrupt header)", url);
                goto done;
            }
            h->recsize += zt__pad4(row);
        }
    }
    /* exactly one record variable: its records are not padded */
    if (nrec == 1) h->recsize = last_row;
    h->end = r.off;
    /* where the data is must make sense before anything is read there */
    int64_t rec1 = 0; /* end of the first record's data */
    for (size_t i = 0; i < h->nvar; i++) {
        const zt_ncvar *v = &h->var[i];
        if (v->begin < h->end) {
            rc = zt__err(ZT_ECORRUPT, "%s: NetCDF variable '%s' begins at byte %lld, inside the header (%lld bytes; corrupt "
                         "header)", url, v->name, (long long)v->begin, (long long)h->end);
            goto done;
        }
        /* a record variable without records may begin where the file ends or later */
        bool empty = v->rec && (h->streaming || h->numrecs == 0);
        if (v->begin > (empty ? INT64_MAX / 4 : size)) {
            rc = zt__err(ZT_ECORRUPT, "%s: NetCDF variable '%s' begins at byte %lld, beyond the end of the file (%lld bytes; "
                         "corrupt header or truncated file)", url, v->name, (long long)v->begin, (long long)size);
            goto done;
        }
        if (v->rec && v->begin + v->row > rec1) rec1 = v->begin + v->row;
        if (!v->rec && v->bytes > size - v->begin) {
            rc = zt__err(ZT_ETRUNCATED, "%s: NetCDF file truncated: variable '%s' needs bytes %lld to %lld, the file has %lld",
                         url, v->name, (long long)v->begin, (long long)(v->begin + v->bytes), (long long)size);
            goto done;
        }
    }
    /* STREAMING: the records whose data is there (the last may lack its padding) */
    if (h->streaming)
        h->numrecs = nrec && h->recsize > 0 && size >= rec1 ? (size - rec1) / h->recsize + 1 : 0;
done:
    rd->sc = r.sc;
    return rc;
}

static const zt_ncvar *zt__nc_var(const zt_nchdr *h, const char *name) {
    for (size_t i = 0; i < h->nvar; i++)
        if (!strcmp(h->var[i].name, name)) return &h->var[i];
    return NULL;
}

static int64_t zt__nc_dim(const zt_nchdr *h, const char *name) {
    for (size_t i = 0; i < h->ndim; i++)
        if (!strcmp(h->dname[i], name)) return (int64_t)i;
    return -1;
}

static const zt_ncatt *zt__nc_att(const zt_ncatts *l, const char *name) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->a[i].name, name)) return &l->a[i];
    return NULL;
}

/* Text attribute (trailing NULs and blanks dropped, malloc'd) or NULL. */
static char *zt__nc_text(const zt_ncatts *l, const char *name) {
    const zt_ncatt *a = zt__nc_att(l, name);
    if (!a || a->type != NCT_CHAR || !a->val || a->n > 4096) return NULL;
    size_t n = (size_t)a->n;
    char *s = zt__strndup((const char *)a->val, n);
    n = s ? strlen(s) : 0;
    while (s && n > 0 && s[n - 1] == ' ') s[--n] = 0;
    return s;
}

/* One big-endian value of a numeric type as double. */
static double zt__nc_value(const uint8_t *p, int type) {
    uint64_t u;
    switch (type) {
    case NCT_BYTE: return (int8_t)p[0];
    case NCT_UBYTE: return p[0];
    case NCT_SHORT: return (int16_t)(p[0] << 8 | p[1]);
    case NCT_USHORT: return (uint16_t)(p[0] << 8 | p[1]);
    case NCT_INT: return (int32_t)zt__be32(p);
    case NCT_UINT: return zt__be32(p);
    case NCT_FLOAT: return zt__be32f(p);
    case NCT_INT64: return (double)(int64_t)((uint64_t)zt__be32(p) << 32 | zt__be32(p + 4));
    case NCT_UINT64: return (double)((uint64_t)zt__be32(p) << 32 | zt__be32(p + 4));
    case NCT_DOUBLE: {
        u = (uint64_t)zt__be32(p) << 32 | zt__be32(p + 4);
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    default: return 0;
    }
}

/* scale_factor of a variable (1 when absent or not one number). */
static double zt__nc_scale(const zt_ncvar *v) {
    const zt_ncatt *a = zt__nc_att(&v->att, "scale_factor");
    if (!a || a->n != 1 || !a->val || a->type == NCT_CHAR) return 1;
    return zt__nc_value(a->val, a->type);
}

/* ---- the "netcdf" codec: one frame of big-endian float32/float64 -> float32 ---- */
typedef struct zt_nccodec {
    zt_codec base;
    int size;     /* 4 or 8 */
    double scale;
    size_t n;     /* values per frame */
} zt_nccodec;

static int zt__ncc_encode(const zt_codec *c, const void *in, size_t n, zt_buf *out) {
    (void)c;
    (void)in;
    (void)n;
    (void)out;
    return zt__err(ZT_EUNSUPPORTED, "the netcdf codec only decodes");
}

static int zt__ncc_decode_into(const zt_codec *pc, const void *in, size_t n, void *dst, size_t size) {
    const zt_nccodec *c = (const zt_nccodec *)pc;
    if (n != c->n * (size_t)c->size)
        return zt__err(ZT_ECORRUPT, "NetCDF frame: %zu bytes, expected %zu", n, c->n * (size_t)c->size);
    if (size != c->n * 4)
        return zt__err(ZT_ECORRUPT, "NetCDF frame: %zu bytes expected, frame holds %zu", size, c->n * 4);
    const uint8_t *p = in;
    float *o = dst;
    if (c->size == 4)
        for (size_t i = 0; i < c->n; i++) o[i] = (float)((double)zt__be32f(p + 4 * i) * c->scale);
    else
        for (size_t i = 0; i < c->n; i++) o[i] = (float)(zt__nc_value(p + 8 * i, NCT_DOUBLE) * c->scale);
    return 0;
}

static int zt__ncc_decode(const zt_codec *pc, const void *in, size_t n, zt_buf *out, size_t expected) {
    const zt_nccodec *c = (const zt_nccodec *)pc;
    if (expected && expected != c->n * 4)
        return zt__err(ZT_ECORRUPT, "NetCDF frame: %zu bytes expected, frame holds %zu", expected, c->n * 4);
    int rc = zt__buf_resize(out, c->n * 4);
    return rc ? rc : zt__ncc_decode_into(pc, in, n, out->data, c->n * 4);
}

static void zt__ncc_free(zt_codec *c) {
    if (!c) return;
    json_decref(c->config);
    free(c);
}

static const zt_codec_vt zt__ncc_vt = {"netcdf", zt__ncc_encode, zt__ncc_decode, NULL, zt__ncc_free,
                                       zt__ncc_decode_into};

static int zt__ncc_new(int size, double scale, size_t n, zt_pipeline **out) {
    zt_nccodec *c = calloc(1, sizeof *c);
    if (!c || !(c->base.config = json_pack("{s:s,s:s,s:f}", "id", "netcdf", "dtype", size == 4 ? ">f4" : ">f8",
                                           "scale_factor", scale))) {
        free(c);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    c->base.vt = &zt__ncc_vt;
    c->size = size;
    c->scale = scale;
    c->n = n;
    return zt__md_pipeline1(&c->base, out);
}

/* ---- small per-frame values, gathered in few requests ----------------------------- */
typedef struct zt_ncpiece {
    int64_t off;
    size_t n;
    uint8_t *dst;
} zt_ncpiece;

static int zt__nc_piece_cmp(const void *a, const void *b) {
    int64_t x = ((const zt_ncpiece *)a)->off, y = ((const zt_ncpiece *)b)->off;
    return x < y ? -1 : x > y;
}

/* Read every piece (sorted here); neighbours closer than 4 KiB locally or
 * 16 KiB remotely share one request (not more: in a long trajectory of a
 * small system a larger gap would fetch the whole file at open), and the
 * requests go out in concurrent batches of bounded memory. */
static int zt__nc_gather(zt_store *s, const char *url, zt_ncpiece *pc, size_t n) {
    if (!n) return 0;
    qsort(pc, n, sizeof *pc, zt__nc_piece_cmp);
    bool local = zt__store_can(s, ZT_STORE_CAP_LOW_LATENCY);
    int64_t gap = local ? 4096 : 16 << 10, maxreq = (int64_t)4 << 20;
    enum { BATCH = 256 };
    zt_req req[BATCH];
    size_t first[BATCH + 1];
    int rc = 0;
    size_t i = 0;
    while (!rc && i < n) {
        size_t k = 0;
        int64_t bytes = 0;
        while (i < n && k < BATCH && bytes < ((int64_t)64 << 20)) {
            int64_t a = pc[i].off, e = a + (int64_t)pc[i].n;
            first[k] = i++;
            while (i < n && pc[i].off - e <= gap && pc[i].off + (int64_t)pc[i].n - a <= maxreq) {
                int64_t ee = pc[i].off + (int64_t)pc[i].n;
                if (ee > e) e = ee;
                i++;
            }
            memset(&req[k], 0, sizeof req[k]);
            req[k].key = "";
            req[k].offset = a;
            req[k].length = e - a;
            zt__buf_init(&req[k].out);
            bytes += e - a;
            k++;
        }
        first[k] = i;
        rc = zt__store_get_batch(s, req, k, NULL, NULL);
        for (size_t j = 0; j < k; j++) {
            if (!rc && req[j].status)
                rc = zt__err_prefix(req[j].status, "%s: NetCDF: reading bytes %lld-%lld: ", url, (long long)req[j].offset,
                                    (long long)(req[j].offset + req[j].length));
            if (!rc && (int64_t)req[j].out.len < req[j].length)
                rc = zt__err(ZT_ETRUNCATED, "%s: NetCDF file truncated: bytes %lld-%lld are missing (the file changed?)", url,
                             (long long)req[j].offset, (long long)(req[j].offset + req[j].length));
            for (size_t q = first[j]; !rc && q < first[j + 1]; q++)
                memcpy(pc[q].dst, req[j].out.data + (pc[q].off - req[j].offset), pc[q].n);
            zt__buf_free(&req[j].out);
        }
    }
    return rc;
}

/* ---- AMBER mapping ------------------------------------------------------------------- */
static int zt__nc_classic(zt_store *s, zt_ncrd *rd, zt_tree **out) {
    const char *url = rd->url;
    int64_t size = rd->sc.size;
    zt_nchdr h;
    memset(&h, 0, sizeof h);
    int rc = zt__nc_header(rd, &h);
    char *conv = NULL, *units[3] = {NULL, NULL, NULL}, *tunit = NULL, *lunit = NULL;
    int64_t *step = NULL, *offs[3] = {NULL, NULL, NULL}, *lens[3] = {NULL, NULL, NULL};
    double *time = NULL, *box = NULL, *cell = NULL;
    uint8_t *raw = NULL;
    zt_ncpiece *pc = NULL;
    zt_pipeline *pls[3] = {NULL, NULL, NULL};
    if (rc) goto done;
    conv = zt__nc_text(&h.gatt, "Conventions");
    if (!conv || !strstr(conv, "AMBER")) {
        rc = zt__err(ZT_EFORMAT, "%s: NetCDF file without the AMBER convention (Conventions = \"%s\")", url, conv ? conv : "");
        goto done;
    }
    int64_t fdim = zt__nc_dim(&h, "frame"), adim = zt__nc_dim(&h, "atom"), sdim = zt__nc_dim(&h, "spatial");
    if (fdim < 0 || adim < 0 || sdim < 0) {
        rc = zt__err(ZT_EFORMAT, "%s: AMBER NetCDF without frame/atom/spatial dimensions (a restart file?)", url);
        goto done;
    }
    int64_t nf = fdim == h.recdim ? h.numrecs : h.dlen[fdim], na = h.dlen[adim], ns = h.dlen[sdim];
    if (ns != 3 || na == 0 || na > INT32_MAX / 12 || nf > ((int64_t)1 << 30)) {
        rc = zt__err(ZT_ESHAPE, "%s: AMBER NetCDF: %lld atoms x %lld spatial dimensions not supported", url, (long long)na,
                     (long long)ns);
        goto done;
    }
    /* every record of every record variable must be in the file (libnetcdf
     * would read missing records as fill values) */
    if (nf > 0 && fdim == h.recdim) {
        int64_t need = 0, whole = nf;
        for (size_t i = 0; i < h.nvar; i++) {
            const zt_ncvar *v = &h.var[i];
            if (!v->rec) continue;
            int64_t last = zt__nc_mul(nf - 1, h.recsize);
            int64_t end = last < 0 || last > INT64_MAX - v->begin - v->row ? INT64_MAX : v->begin + last + v->row;
            if (end > need) need = end;
            int64_t fit = size - v->begin < v->row ? 0 : h.recsize ? (size - v->begin - v->row) / h.recsize + 1 : nf;
            if (fit < whole) whole = fit;
        }
        if (need > size) {
            rc = zt__err(ZT_ETRUNCATED, "%s: NetCDF file truncated: its %lld frames need at least %lld bytes, the file has "
                         "%lld (frame %lld is cut)", url, (long long)nf, (long long)need, (long long)size, (long long)whole);
            goto done;
        }
    }
    const zt_ncvar *pv[3];
    for (int k = 0; k < 3; k++) {
        const zt_ncvar *v = pv[k] = zt__nc_var(&h, zt__nc_vars[k]);
        if (!v) continue;
        if (v->ndims != 3 || v->dim[0] != fdim || v->dim[1] != adim || v->dim[2] != sdim) {
            rc = zt__err(ZT_ESHAPE, "%s: NetCDF: %s: dimensions must be (frame, atom, spatial)", url, v->name);
            goto done;
        }
        if (v->type != NCT_FLOAT && v->type != NCT_DOUBLE) {
            rc = zt__err(ZT_EFORMAT, "%s: AMBER NetCDF: %s are of type %s, expected float or double", url, v->name,
                         zt__nct_name(v->type));
            goto done;
        }
    }
    if (!pv[0] && !pv[1] && !pv[2]) {
        rc = zt__err(ZT_ENODATA, "%s: AMBER NetCDF without coordinates, velocities or forces", url);
        goto done;
    }
    if (nf == 0) {
        rc = zt__err(ZT_ENODATA, "%s: AMBER NetCDF file without frames", url);
        goto done;
    }
    /* time and cell: read at open (small), frame r of each at its record */
    const zt_ncvar *tv = zt__nc_var(&h, "time"), *lv = zt__nc_var(&h, "cell_lengths"), *av = zt__nc_var(&h, "cell_angles");
    if (tv && (tv->ndims != 1 || tv->dim[0] != fdim)) {
        rc = zt__err(ZT_ESHAPE, "%s: AMBER NetCDF: time must be (frame)", url);
        goto done;
    }
    if (!lv || !av) lv = av = NULL;
    if (lv && (lv->ndims != 2 || lv->dim[0] != fdim || h.dlen[lv->dim[1]] != 3 || av->ndims != 2 ||
               av->dim[0] != fdim || h.dlen[av->dim[1]] != 3)) {
        rc = zt__err(ZT_ESHAPE, "%s: AMBER NetCDF: cell_lengths/cell_angles must be (frame, 3)", url);
        goto done;
    }
    const zt_ncvar *small[3] = {tv, lv, av};
    for (int k = 0; k < 3; k++)
        if (small[k] && small[k]->type != NCT_FLOAT && small[k]->type != NCT_DOUBLE) {
            rc = zt__err(ZT_EFORMAT, "%s: AMBER NetCDF: %s is of type %s, expected float or double", url, small[k]->name,
                         zt__nct_name(small[k]->type));
            goto done;
        }
    size_t nn = (size_t)(nf ? nf : 1);
    step = malloc(sizeof *step * nn);
    time = tv ? malloc(sizeof *time * nn) : NULL;
    box = lv ? malloc(sizeof *box * nn * 9) : NULL;
    cell = lv ? malloc(sizeof *cell * nn * 6) : NULL;
    /* raw bytes per frame: time, lengths, angles (<= 24 bytes each) */
    raw = malloc(nn * 72);
    pc = malloc(sizeof *pc * nn * 3);
    if (!step || (tv && !time) || (lv && (!box || !cell)) || !raw || !pc) {
        rc = zt__err(ZT_ENOMEM, "out of memory");
        goto done;
    }
    size_t np = 0;
    for (int64_t f = 0; f < nf; f++) {
        size_t at = 0;
        for (int k = 0; k < 3; k++) {
            const zt_ncvar *v = small[k];
            if (!v) continue;
            pc[np++] = (zt_ncpiece){v->begin + f * (v->rec ? h.recsize : v->row), (size_t)v->row, raw + (size_t)f * 72 + at};
            at += 24;
        }
    }
    if ((rc = zt__nc_gather(s, url, pc, np))) goto done;
    for (int64_t f = 0; f < nf; f++) {
        const uint8_t *q = raw + (size_t)f * 72;
        size_t at = 0;
        for (int k = 0; k < 3; k++) {
            const zt_ncvar *v = small[k];
            if (!v) continue;
            int sz = zt__nct_size(v->type, h.version), cnt = (int)(v->row / sz);
            double sc = zt__nc_scale(v);
            for (int j = 0; j < cnt; j++) {
                double x = zt__nc_value(q + at + (size_t)j * sz, v->type) * sc;
                if (k == 0) time[f] = x;
                else cell[f * 6 + (k - 1) * 3 + j] = x;
            }
            at += 24;
        }
        if (lv)
            zt__md_box_vectors(cell[f * 6], cell[f * 6 + 1], cell[f * 6 + 2], cell[f * 6 + 3], cell[f * 6 + 4],
                               cell[f * 6 + 5], box + f * 9);
    }
    if (tv) tunit = zt__nc_text(&tv->att, "units");
    if (lv) lunit = zt__nc_text(&lv->att, "units");
    zt_mdspec sp;
    memset(&sp, 0, sizeof sp);
    for (int k = 0; k < 3; k++) {
        const zt_ncvar *v = pv[k];
        if (!v || nf == 0) continue;
        units[k] = zt__nc_text(&v->att, "units");
        offs[k] = malloc(sizeof *offs[k] * nn);
        lens[k] = malloc(sizeof *lens[k] * nn);
        if (!offs[k] || !lens[k]) {
            rc = zt__err(ZT_ENOMEM, "out of memory");
            goto done;
        }
        for (int64_t f = 0; f < nf; f++) {
            offs[k][f] = v->begin + f * (v->rec ? h.recsize : v->row);
            lens[k][f] = v->row;
        }
        double sc = zt__nc_scale(v);
        zt_dtype dt = {'f', 4, true};
        if (v->type == NCT_DOUBLE || sc != 1) {
            if ((rc = zt__ncc_new(v->type == NCT_DOUBLE ? 8 : 4, sc, (size_t)na * 3, &pls[k]))) goto done;
            dt.big_endian = false;
        }
        sp.el[k] = (zt_mdel){zt__nc_els[k], nf, NULL, offs[k], lens[k], dt, pls[k], zt__nc_unit(units[k]), NULL, NULL};
        pls[k] = NULL; /* the tree takes it, also on failure */
    }
    ZT_INFO("netcdf: %s: CDF-%d, %lld frames of %lld atoms", url, h.version, (long long)nf, (long long)na);
    rc = zt__nc_build(s, url, &sp, nf, na, step, time, box, lunit, units[0], tunit,
                      h.version == 1 ? "CDF-1" : h.version == 2 ? "CDF-2" : "CDF-5", out);
done:
    for (int k = 0; k < 3; k++) {
        zt__pipeline_free(pls[k]);
        free(units[k]);
        free(offs[k]);
        free(lens[k]);
    }
    free(conv);
    free(tunit);
    free(lunit);
    free(step);
    free(time);
    free(box);
    free(cell);
    free(raw);
    free(pc);
    zt__nc_hdr_free(&h);
    return rc;
}

/* ---- NetCDF-4 (HDF5) through libnetcdf: local files ---------------------------------------- */
#ifdef ZT_HAVE_NETCDF
#include <netcdf.h>
#ifdef ZT_HAVE_HDF5
#include "hdf5/hdf5.h" /* a NetCDF-4 file is read by libhdf5: one caller at a time */
#endif

static void zt__nc_lock(void) {
#ifdef ZT_HAVE_HDF5
    zt__hdf5_lock();
#endif
}
static void zt__nc_unlock(void) {
#ifdef ZT_HAVE_HDF5
    zt__hdf5_unlock();
#endif
}

static int zt__nc_err(int st, const char *url, const char *what) {
    return zt__err(st == NC_ENOTNC ? ZT_EFORMAT : ZT_ECORRUPT, "%s: NetCDF: %s: %s", url, what, nc_strerror(st));
}

/* Text attribute (malloc'd) or NULL. */
static char *zt__nc4_text(int nc, int var, const char *name) {
    size_t n = 0;
    nc_type t;
    if (nc_inq_att(nc, var, name, &t, &n) != NC_NOERR || t != NC_CHAR || n > 4096) return NULL;
    char *s = calloc(1, n + 1);
    if (s && nc_get_att_text(nc, var, name, s) != NC_NOERR) {
        free(s);
        return NULL;
    }
    while (s && n > 0 && (s[n - 1] == 0 || s[n - 1] == ' ')) s[--n] = 0;
    return s;
}

static double zt__nc4_scale(int nc, int v) {
    double scale = 1;
    nc_type at;
    size_t al;
    if (nc_inq_att(nc, v, "scale_factor", &at, &al) == NC_NOERR && al == 1 && at != NC_CHAR &&
        nc_get_att_double(nc, v, "scale_factor", &scale) == NC_NOERR)
        return scale;
    return 1;
}

/* A frame x atom x 3 variable: its values (float32, scaled) or NULL when absent. */
static int zt__nc4_peratom(int nc, const char *url, const char *name, int fdim, int adim, int sdim, size_t nf, size_t na,
                           float **out, char **unit) {
    *out = NULL;
    *unit = NULL;
    int v, nd, dims[NC_MAX_VAR_DIMS];
    if (nc_inq_varid(nc, name, &v) != NC_NOERR) return 0;
    nc_type t;
    int st = nc_inq_var(nc, v, NULL, &t, &nd, dims, NULL);
    if (st) return zt__nc_err(st, url, name);
    if (nd != 3 || dims[0] != fdim || dims[1] != adim || dims[2] != sdim)
        return zt__err(ZT_ESHAPE, "%s: NetCDF: %s: dimensions must be (frame, atom, spatial)", url, name);
    size_t n = nf * na * 3;
    float *x = malloc(sizeof *x * (n ? n : 1));
    if (!x) return zt__err(ZT_ENOMEM, "%s: out of memory for %s", url, name);
    if (n && (st = nc_get_var_float(nc, v, x))) {
        free(x);
        return zt__nc_err(st, url, name);
    }
    double scale = zt__nc4_scale(nc, v);
    if (scale != 1)
        for (size_t i = 0; i < n; i++) x[i] = (float)(x[i] * scale);
    *unit = zt__nc4_text(nc, v, "units");
    *out = x;
    return 0;
}

static int zt__nc4_local(zt_store *s, const char *url, zt_tree **out) {
    int nc = -1, rc = 0, st;
    float *el[3] = {NULL, NULL, NULL};
    char *units[3] = {NULL, NULL, NULL}, *tunit = NULL, *lunit = NULL, *conv = NULL;
    double *time = NULL, *box = NULL, *cl = NULL, *ca = NULL;
    int64_t *step = NULL;
    zt__nc_lock();
    if ((st = nc_open(s->local_path, NC_NOWRITE, &nc))) {
        rc = st == NC_ENOTNC ? zt__err(ZT_EFORMAT, "%s: not a NetCDF file", url) : zt__nc_err(st, url, "open");
        nc = -1;
        goto done;
    }
    conv = zt__nc4_text(nc, NC_GLOBAL, "Conventions");
    if (!conv || !strstr(conv, "AMBER")) {
        rc = zt__err(ZT_EFORMAT, "%s: NetCDF file without the AMBER convention (Conventions = \"%s\")", url, conv ? conv : "");
        goto done;
    }
    int fdim, adim, sdim;
    size_t nf, na, ns;
    if (nc_inq_dimid(nc, "frame", &fdim) || nc_inq_dimid(nc, "atom", &adim) || nc_inq_dimid(nc, "spatial", &sdim) ||
        nc_inq_dimlen(nc, fdim, &nf) || nc_inq_dimlen(nc, adim, &na) || nc_inq_dimlen(nc, sdim, &ns)) {
        rc = zt__err(ZT_EFORMAT, "%s: AMBER NetCDF without frame/atom/spatial dimensions (a restart file?)", url);
        goto done;
    }
    if (ns != 3 || na == 0 || na > INT32_MAX / 12 || nf > ((size_t)1 << 30)) {
        rc = zt__err(ZT_ESHAPE, "%s: AMBER NetCDF: %zu atoms x %zu spatial dimensions not supported", url, na, ns);
        goto done;
    }
    for (int k = 0; k < 3 && !rc; k++) rc = zt__nc4_peratom(nc, url, zt__nc_vars[k], fdim, adim, sdim, nf, na, &el[k], &units[k]);
    if (rc) goto done;
    size_t nn = nf ? nf : 1;
    step = malloc(sizeof *step * nn);
    int tv;
    if (!step) rc = zt__err(ZT_ENOMEM, "out of memory");
    if (!rc && nc_inq_varid(nc, "time", &tv) == NC_NOERR) {
        int nd = 0, d1[NC_MAX_VAR_DIMS];
        time = malloc(sizeof *time * nn);
        if (!time) rc = zt__err(ZT_ENOMEM, "out of memory");
        else if (nc_inq_var(nc, tv, NULL, NULL, &nd, d1, NULL) || nd != 1 || d1[0] != fdim)
            rc = zt__err(ZT_ESHAPE, "%s: AMBER NetCDF: time must be (frame)", url);
        else if (nf && (st = nc_get_var_double(nc, tv, time))) rc = zt__nc_err(st, url, "time");
        double sc = zt__nc4_scale(nc, tv);
        for (size_t i = 0; !rc && sc != 1 && i < nf; i++) time[i] *= sc;
        tunit = zt__nc4_text(nc, tv, "units");
    }
    int lv, av;
    if (!rc && nc_inq_varid(nc, "cell_lengths", &lv) == NC_NOERR && nc_inq_varid(nc, "cell_angles", &av) == NC_NOERR) {
        cl = malloc(sizeof *cl * nn * 3);
        ca = malloc(sizeof *ca * nn * 3);
        box = malloc(sizeof *box * nn * 9);
        size_t len[2] = {0, 0};
        int nd = 0, d2[NC_MAX_VAR_DIMS];
        if (!cl || !ca || !box) rc = zt__err(ZT_ENOMEM, "out of memory");
        else if (nc_inq_var(nc, lv, NULL, NULL, &nd, d2, NULL) || nd != 2 || d2[0] != fdim ||
                 nc_inq_dimlen(nc, d2[1], &len[0]) || len[0] != 3 || nc_inq_var(nc, av, NULL, NULL, &nd, d2, NULL) ||
                 nd != 2 || d2[0] != fdim || nc_inq_dimlen(nc, d2[1], &len[1]) || len[1] != 3)
            rc = zt__err(ZT_ESHAPE, "%s: AMBER NetCDF: cell_lengths/cell_angles must be (frame, 3)", url);
        else if (nf && ((st = nc_get_var_double(nc, lv, cl)) || (st = nc_get_var_double(nc, av, ca))))
            rc = zt__nc_err(st, url, "cell");
        double sl = zt__nc4_scale(nc, lv), sa = zt__nc4_scale(nc, av);
        for (size_t i = 0; !rc && i < nf * 3; i++) {
            cl[i] *= sl;
            ca[i] *= sa;
        }
        lunit = zt__nc4_text(nc, lv, "units");
        for (size_t i = 0; !rc && i < nf; i++)
            zt__md_box_vectors(cl[i * 3], cl[i * 3 + 1], cl[i * 3 + 2], ca[i * 3], ca[i * 3 + 1], ca[i * 3 + 2], box + i * 9);
    }
    if (!rc && !el[0] && !el[1] && !el[2]) rc = zt__err(ZT_ENODATA, "%s: AMBER NetCDF without coordinates, velocities or forces", url);
    if (rc) goto done;
    nc_close(nc);
    nc = -1;
    zt__nc_unlock();
    {
        zt_mdspec sp;
        memset(&sp, 0, sizeof sp);
        zt_dtype f4 = {'f', 4, false};
        for (int k = 0; k < 3; k++)
            if (el[k])
                sp.el[k] = (zt_mdel){zt__nc_els[k], (int64_t)nf, NULL, NULL, NULL, f4, NULL, zt__nc_unit(units[k]), el[k], NULL};
        rc = zt__nc_build(s, url, &sp, (int64_t)nf, (int64_t)na, step, time, box, lunit, units[0], tunit, "NetCDF-4", out);
    }
    zt__nc_lock();
done:
    if (nc >= 0) nc_close(nc);
    zt__nc_unlock();
    for (int k = 0; k < 3; k++) {
        free(el[k]);
        free(units[k]);
    }
    free(tunit);
    free(lunit);
    free(conv);
    free(time);
    free(box);
    free(cl);
    free(ca);
    free(step);
    return rc;
}
#endif

/* ---- NetCDF-4 (HDF5) from any store: our HDF5 reader ---------------------------------------- */
#ifdef ZT_HAVE_HDF5
#include "hdf5/hdf5.h"

/* scale_factor of a NetCDF-4 variable: values decoded by the HDF5 pipeline
 * (native float32/float64) multiplied in double, as libnetcdf's callers and
 * MDAnalysis do. First in encode order, so it runs last on decode. */
typedef struct zt_nc4scale {
    zt_codec base;
    double scale;
    size_t size; /* 4 or 8 */
    bool be;     /* values in big-endian order (the array converts them after the pipeline) */
} zt_nc4scale;

static int zt__nc4s_decode_into(const zt_codec *pc, const void *in, size_t n, void *dst, size_t size) {
    const zt_nc4scale *c = (const zt_nc4scale *)pc;
    if (n != size || n % c->size) return zt__err(ZT_ECORRUPT, "NetCDF-4 scale_factor: %zu bytes, expected %zu", n, size);
    const uint8_t *p = in;
    uint8_t *o = dst;
    for (size_t i = 0; i < n; i += c->size) {
        if (c->size == 4) {
            uint32_t u;
            float x;
            memcpy(&u, p + i, 4);
            if (c->be) u = __builtin_bswap32(u);
            memcpy(&x, &u, 4);
            x = (float)((double)x * c->scale);
            memcpy(&u, &x, 4);
            if (c->be) u = __builtin_bswap32(u);
            memcpy(o + i, &u, 4);
        } else {
            uint64_t u;
            double x;
            memcpy(&u, p + i, 8);
            if (c->be) u = __builtin_bswap64(u);
            memcpy(&x, &u, 8);
            x *= c->scale;
            memcpy(&u, &x, 8);
            if (c->be) u = __builtin_bswap64(u);
            memcpy(o + i, &u, 8);
        }
    }
    return 0;
}

static int zt__nc4s_decode(const zt_codec *pc, const void *in, size_t n, zt_buf *out, size_t expected) {
    if (expected && expected != n) return zt__err(ZT_ECORRUPT, "NetCDF-4 scale_factor: %zu bytes, expected %zu", n, expected);
    int rc = zt__buf_resize(out, n);
    return rc ? rc : zt__nc4s_decode_into(pc, in, n, out->data, n);
}

static const zt_codec_vt zt__nc4s_vt = {"netcdf_scale", zt__ncc_encode, zt__nc4s_decode, NULL, zt__ncc_free,
                                        zt__nc4s_decode_into};

static int zt__nc4_scale_array(zt_array *a, double scale) {
    if (a->dtype.kind != 'f' || (a->dtype.size != 4 && a->dtype.size != 8))
        return zt__err(ZT_EUNSUPPORTED, "%s: NetCDF-4 variable %s: scale_factor on a non-float variable", a->file, a->path);
    zt_nc4scale *c = calloc(1, sizeof *c);
    if (!c || !(c->base.config = json_pack("{s:s,s:f}", "id", "netcdf_scale", "scale_factor", scale))) {
        free(c);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    c->base.vt = &zt__nc4s_vt;
    c->scale = scale;
    c->size = a->dtype.size;
    c->be = a->dtype.big_endian;
    int rc = zt__pipeline_push_first(a->pipeline, &c->base);
    if (rc) return rc;
    /* the description stays HDF5's, plus the factor */
    json_t *d = a->codecs_desc ? json_loads(a->codecs_desc, 0, NULL) : json_object();
    char *txt = d && !json_object_set_new(d, "scale_factor", json_real(scale)) ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    if (txt) {
        free(a->codecs_desc);
        a->codecs_desc = txt;
    }
    return 0;
}

/* A variable's numbers (malloc'd, scaled), n of them; absent: *out NULL. */
static int zt__nc4_numbers(const zt_node *root, const char *url, const char *name, size_t want, double **out,
                           const char **unit) {
    *out = NULL;
    if (unit) *unit = NULL;
    zt_node *n = zt__node_child(root, name);
    if (!n) return 0;
    if (!n->array) return zt__err(ZT_EFORMAT, "%s: NetCDF-4 variable %s is not numeric", url, name);
    size_t got = 0;
    int rc = zt__array_read_all_f64(n->array, out, &got);
    if (rc) return rc;
    if (got != want) {
        free(*out);
        *out = NULL;
        return zt__err(ZT_ESHAPE, "%s: AMBER NetCDF: %s holds %zu values, expected %zu", url, name, got, want);
    }
    double sc;
    if (zt__attr_num(n, "scale_factor", &sc) && sc != 1)
        for (size_t i = 0; i < got; i++) (*out)[i] *= sc;
    if (unit) *unit = zt__attr_str(n, "units");
    return 0;
}

static int zt__nc4_remote(zt_store *s, const char *url, const zt_options_t *opts, zt_tree **out) {
    zt_tree *h = NULL;
    int rc = zt__hdf5_open_tree(s, url, opts, &h);
    if (rc) return rc;
    double *time = NULL, *cl = NULL, *ca = NULL, *box = NULL;
    int64_t *step = NULL;
    zt_mdspec sp;
    memset(&sp, 0, sizeof sp);
    zt_node *root = h->root, *vn[3] = {NULL, NULL, NULL};
    const char *conv = zt__attr_str(root, "Conventions"), *tunit = NULL, *lunit = NULL;
    int64_t nf = -1, na = -1;
    if (!conv || !strstr(conv, "AMBER")) {
        rc = zt__err(ZT_EFORMAT, "%s: NetCDF file without the AMBER convention (Conventions = \"%s\")", url, conv ? conv : "");
        goto done;
    }
    for (int k = 0; k < 3 && !rc; k++) {
        zt_node *n = zt__node_child(root, zt__nc_vars[k]);
        if (!n) continue;
        zt_array *a = n->array;
        if (!a || a->ndim != 3 || a->shape[2] != 3 || (nf >= 0 && (a->shape[0] != nf || a->shape[1] != na)))
            rc = zt__err(ZT_ESHAPE, "%s: NetCDF: %s: dimensions must be (frame, atom, spatial)", url, zt__nc_vars[k]);
        else if (a->dtype.kind != 'f')
            rc = zt__err(ZT_EUNSUPPORTED, "%s: NetCDF: %s is not a floating-point variable", url, zt__nc_vars[k]);
        else {
            nf = a->shape[0];
            na = a->shape[1];
            vn[k] = n;
        }
    }
    if (!rc && nf < 0)
        rc = zt__err(ZT_ENODATA, "%s: AMBER NetCDF without coordinates, velocities or forces", url);
    if (!rc && (na == 0 || na > INT32_MAX / 12 || nf > ((int64_t)1 << 30)))
        rc = zt__err(ZT_ESHAPE, "%s: AMBER NetCDF: %lld atoms not supported", url, (long long)na);
    if (rc) goto done;
    size_t nn = nf ? (size_t)nf : 1;
    if (!(step = malloc(sizeof *step * nn))) rc = zt__err(ZT_ENOMEM, "out of memory");
    if (!rc) rc = zt__nc4_numbers(root, url, "time", (size_t)nf, &time, &tunit);
    if (!rc) rc = zt__nc4_numbers(root, url, "cell_lengths", (size_t)nf * 3, &cl, &lunit);
    if (!rc && cl) rc = zt__nc4_numbers(root, url, "cell_angles", (size_t)nf * 3, &ca, NULL);
    if (!rc && cl && ca) {
        if (!(box = malloc(sizeof *box * nn * 9))) rc = zt__err(ZT_ENOMEM, "out of memory");
        for (int64_t i = 0; !rc && i < nf; i++)
            zt__md_box_vectors(cl[i * 3], cl[i * 3 + 1], cl[i * 3 + 2], ca[i * 3], ca[i * 3 + 1], ca[i * 3 + 2], box + i * 9);
    }
    const char *units[3] = {NULL, NULL, NULL};
    for (int k = 0; k < 3 && !rc; k++) {
        if (!vn[k]) continue;
        double sc;
        units[k] = zt__attr_str(vn[k], "units");
        if (zt__attr_num(vn[k], "scale_factor", &sc) && sc != 1) rc = zt__nc4_scale_array(vn[k]->array, sc);
    }
    if (rc) goto done;
    for (int k = 0; k < 3; k++)
        if (vn[k])
            sp.el[k] = (zt_mdel){zt__nc_els[k], nf, NULL, NULL, NULL, vn[k]->array->dtype, NULL, zt__nc_unit(units[k]),
                                 NULL, vn[k]->array};
    /* takes the arrays, even on error */
    rc = zt__nc_build(s, url, &sp, nf, na, step, time, box, lunit, units[0], tunit, "NetCDF-4", out);
    for (int k = 0; k < 3; k++)
        if (vn[k]) vn[k]->array = NULL;
done:
    /* the units above point into h's attributes: h goes only now; the store
     * stays with the caller on error, else with the new tree */
    h->store = NULL;
    zt__tree_free(h);
    free(time);
    free(cl);
    free(ca);
    free(box);
    free(step);
    return rc;
}
#endif

/* ---- entry ------------------------------------------------------------------------------ */
int zt__nc_open_tree(zt_store *s, const char *url, const zt_options_t *opts, zt_tree **out) {
    zt_stat st;
    int rc = zt__store_head(s, "", &st);
    if (rc) return zt__err_prefix(rc, "%s: ", url);
    if (st.size < 0) return zt__err(ZT_EUNSUPPORTED, "%s: the store does not report the file size", url);
    if (st.size == 0) return zt__err(ZT_EFORMAT, "%s: not a NetCDF file (empty)", url);
    /* one scanner from the magic on: the first window holds the header */
    zt_ncrd r;
    memset(&r, 0, sizeof r);
    zt__mdscan_init(&r.sc, s, url, st.size);
    r.sc.block = (size_t)64 << 10;
    r.url = url;
    const uint8_t *p;
    size_t nh = st.size < 8 ? (size_t)st.size : 8;
    if ((rc = zt__mdscan_get(&r.sc, 0, nh, &p))) {
        zt__mdscan_free(&r.sc);
        return zt__err_prefix(rc, "%s: ", url);
    }
    bool cdf = nh >= 4 && !memcmp(p, "CDF", 3) && (p[3] == 1 || p[3] == 2 || p[3] == 5);
    bool hdf5 = nh == 8 && !memcmp(p, "\x89HDF\r\n\x1a\n", 8);
    if (cdf) rc = zt__nc_classic(s, &r, out);
    zt__mdscan_free(&r.sc);
    if (cdf) return rc;
    if (!hdf5) return zt__err(ZT_EFORMAT, "%s: not a NetCDF file (no CDF or HDF5 signature)", url);
#ifdef ZT_HAVE_NETCDF
    if (zt__store_can(s, ZT_STORE_CAP_LOCAL_PATH) && s->local_path) return zt__nc4_local(s, url, out);
#endif
#ifdef ZT_HAVE_HDF5
    return zt__nc4_remote(s, url, opts, out);
#else
    return zt__err(ZT_EUNSUPPORTED, "%s: NetCDF-4 (HDF5) AMBER file, but zarrtraj was built without HDF5 (the classic "
                   "formats CDF-1, CDF-2, CDF-5 need no library)", url);
#endif
}
