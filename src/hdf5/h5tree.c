/* Walk an HDF5 file with libhdf5 (metadata only) into a zt_tree: one node per
 * group/dataset at every hard-link path, attributes as JSON, numeric datasets
 * as arrays over chunk byte ranges, small string datasets as JSON values.
 * Entry point zt__hdf5_open_tree (called by tree.c). */
#include "hdf5/hdf5.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZT_H5_MAX_DEPTH 64
#define ZT_H5_MAX_NODES 1000000
#define ZT_H5_MAX_ATTR_ELEMS ((hssize_t)1 << 20)
#define ZT_H5_MAX_VALUE_ELEMS 65536
#define ZT_H5_CONTIG_TARGET ((size_t)4 << 20)

/* ---- error stack -> message ------------------------------------------------------ */
typedef struct zt_h5errs {
    char first[512]; /* most specific description */
    char api[256];   /* outermost (API) description */
    bool truncated, nosig, plugin;
    unsigned long long eof, stored_eof;
} zt_h5errs;

static herr_t zt__h5_walk_cb(unsigned n, const H5E_error2_t *e, void *ud) {
    zt_h5errs *x = ud;
    const char *d = e->desc ? e->desc : "";
    if (n == 0) snprintf(x->first, sizeof x->first, "%s", d);
    snprintf(x->api, sizeof x->api, "%s", d);
    const char *t = strstr(d, "truncated file");
    if (t) {
        x->truncated = true;
        const char *p = strstr(t, "eof = ");
        if (p) x->eof = strtoull(p + 6, NULL, 10);
        p = strstr(t, "stored_eof = ");
        if (p) x->stored_eof = strtoull(p + 13, NULL, 10);
    }
    if (strstr(d, "signature")) x->nosig = true;
    /* libhdf5 looked for a filter plugin (a filter it does not know) */
    if (strstr(d, "can't open directory") || strstr(d, "search in directory failed") ||
        strstr(d, "can't locate plugin"))
        x->plugin = true;
    return 0;
}

static void zt__h5_errs(zt_h5errs *x) {
    memset(x, 0, sizeof *x);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, zt__h5_walk_cb, x);
    H5Eclear2(H5E_DEFAULT);
}

typedef struct zt_h5ctx {
    zt_tree *t;
    zt_h5io *io;
    int64_t file_size;
    size_t sizeof_addr, sizeof_size; /* of the file (superblock) */
    size_t n_nodes;
    haddr_t anc[ZT_H5_MAX_DEPTH + 1]; /* group addresses on the current path */
    int depth;
    /* datasets already built, by object address (hard links) */
    struct zt_h5seen {
        haddr_t addr;
        zt_node *node;
    } *seen;
    size_t nseen, capseen;
} zt_h5ctx;

/* A libhdf5 call failed: the driver's store error wins (network, auth),
 * else the HDF5 error stack's most specific message. */
static int zt__h5_fail(zt_h5ctx *c, const char *path, const char *what) {
    zt_h5errs x;
    zt__h5_errs(&x);
    const char *msg;
    int rc = c && c->io ? zt__h5io_error(c->io, &msg) : 0;
    const char *file = c ? c->t->url : "";
    if (rc) return zt__err(rc, "%s", msg);
    if (x.plugin)
        return zt__err(ZT_EUNSUPPORTED, "%s: %s: %s: the data needs an HDF5 filter that libhdf5 does not have "
                       "(no plugin for it; a corrupt filter id?)", file, *path ? path : "/", what);
    return zt__err(ZT_EFORMAT, "%s: %s: %s: %s", file, *path ? path : "/", what,
                   x.first[0] ? x.first : "HDF5 error");
}

/* ---- datatypes --------------------------------------------------------------------- */
/* Numeric dtype of an HDF5 type; false when not numeric (strings, compound). */
static bool zt__h5_dtype(hid_t t, zt_dtype *dt) {
    H5T_class_t cls = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    if (cls == H5T_ENUM) {
        /* h5py stores numpy bools as an int8 enum {FALSE, TRUE} */
        hid_t super = H5Tget_super(t);
        bool ok = super >= 0 && zt__h5_dtype(super, dt);
        if (super >= 0) H5Tclose(super);
        if (ok && dt->size == 1 && H5Tget_nmembers(t) == 2) {
            char *n0 = H5Tget_member_name(t, 0), *n1 = H5Tget_member_name(t, 1);
            if (n0 && n1 && !strcmp(n0, "FALSE") && !strcmp(n1, "TRUE")) dt->kind = 'b';
            H5free_memory(n0);
            H5free_memory(n1);
        }
        return ok;
    }
    if (size != 1 && size != 2 && size != 4 && size != 8) return false;
    H5T_order_t order = H5Tget_order(t);
    if (cls == H5T_INTEGER) {
        if (H5Tget_precision(t) != 8 * size || H5Tget_offset(t) != 0) return false;
        dt->kind = H5Tget_sign(t) == H5T_SGN_NONE ? 'u' : 'i';
    } else if (cls == H5T_FLOAT) {
        size_t spos, epos, esize, mpos, msize;
        if (H5Tget_fields(t, &spos, &epos, &esize, &mpos, &msize) < 0) return false;
        bool f4 = size == 4 && spos == 31 && epos == 23 && esize == 8 && mpos == 0 && msize == 23 &&
                  H5Tget_ebias(t) == 127;
        bool f8 = size == 8 && spos == 63 && epos == 52 && esize == 11 && mpos == 0 && msize == 52 &&
                  H5Tget_ebias(t) == 1023;
        if (!f4 && !f8) return false;
        if (order != H5T_ORDER_LE && order != H5T_ORDER_BE) return false;
        dt->kind = 'f';
    } else {
        return false;
    }
    dt->size = (uint8_t)size;
    dt->big_endian = size > 1 && order == H5T_ORDER_BE;
    return true;
}

/* ---- data -> JSON ------------------------------------------------------------------- */
static json_t *zt__json_str(const char *s, size_t n) {
    json_t *j = json_stringn(s, n);
    if (j) return j;
    /* not UTF-8: treat the bytes as Latin-1 */
    char *u = malloc(2 * n + 1);
    if (!u) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x80) u[k++] = (char)ch;
        else {
            u[k++] = (char)(0xc0 | (ch >> 6));
            u[k++] = (char)(0x80 | (ch & 0x3f));
        }
    }
    j = json_stringn(u, k);
    free(u);
    return j;
}

static json_t *zt__json_num(double v) {
    if (isnan(v) || isinf(v)) return json_null(); /* JSON has no NaN/Inf */
    return json_real(v);
}

static int64_t zt__load_int(const uint8_t *p, size_t size, bool sign, bool be) {
    uint64_t v = 0;
    for (size_t i = 0; i < size; i++) {
        size_t k = be ? i : size - 1 - i;
        v = (v << 8) | p[k];
    }
    if (sign && size < 8 && (v >> (8 * size - 1)) & 1) v |= ~(uint64_t)0 << (8 * size);
    return (int64_t)v;
}

/* Nest a flat array of n values into the dataspace shape. */
static json_t *zt__json_shape(json_t *flat, int rank, const hsize_t *dims, int d, size_t *pos) {
    json_t *a = json_array();
    if (!a) return NULL;
    for (hsize_t i = 0; i < dims[d]; i++) {
        json_t *v = d + 1 == rank ? json_incref(json_array_get(flat, (*pos)++))
                                  : zt__json_shape(flat, rank, dims, d + 1, pos);
        if (!v || json_array_append_new(a, v)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* ---- variable-length strings without libhdf5's global heap code ------------------------
 * libhdf5 1.10.8 trusts the global heap: a corrupt object size overruns a
 * buffer in H5HG_read (a crash) or loops forever, and a vlen length smaller
 * than the heap object overflows the caller's buffer silently. So vlen
 * strings are read as their raw descriptors (length, heap address, object
 * index: a no-op conversion to an opaque type) and the heap collection is
 * parsed and checked here, through the driver's block cache. */
#define ZT_H5_RAWVLEN_TAG "zarrtraj raw vlen descriptor"
#define ZT_H5_MAX_GCOL ((uint64_t)1 << 30)

static herr_t zt__rawvlen_conv(hid_t src, hid_t dst, H5T_cdata_t *cd, size_t nelmts, size_t buf_stride,
                               size_t bkg_stride, void *buf, void *bkg, hid_t dxpl) {
    (void)nelmts, (void)buf_stride, (void)bkg_stride, (void)buf, (void)bkg, (void)dxpl;
    if (cd->command == H5T_CONV_INIT) {
        /* only variable-length strings to our tagged opaque type of the same
         * size: the bytes are then the descriptors as stored */
        char *tag = H5Tget_class(dst) == H5T_OPAQUE ? H5Tget_tag(dst) : NULL;
        bool ok = tag && !strcmp(tag, ZT_H5_RAWVLEN_TAG) && H5Tis_variable_str(src) > 0 &&
                  H5Tget_size(src) == H5Tget_size(dst);
        H5free_memory(tag);
        if (!ok) return -1;
        cd->need_bkg = H5T_BKG_NO;
    }
    return 0; /* CONV: same bytes; FREE: nothing */
}

/* The opaque type holding one stored descriptor (caller closes). */
static hid_t zt__rawvlen_type(const zt_h5ctx *c) {
    static bool registered;
    if (!registered) {
        hid_t s = H5Tcopy(H5T_C_S1), o = H5Tcreate(H5T_OPAQUE, 1);
        if (s >= 0 && o >= 0 && H5Tset_size(s, H5T_VARIABLE) >= 0 && H5Tset_tag(o, ZT_H5_RAWVLEN_TAG) >= 0 &&
            H5Tregister(H5T_PERS_SOFT, "zarrtraj_raw_vlen", s, o, zt__rawvlen_conv) >= 0)
            registered = true;
        if (s >= 0) H5Tclose(s);
        if (o >= 0) H5Tclose(o);
        if (!registered) return -1;
    }
    hid_t t = H5Tcreate(H5T_OPAQUE, 4 + c->sizeof_addr + 4);
    if (t >= 0 && H5Tset_tag(t, ZT_H5_RAWVLEN_TAG) < 0) {
        H5Tclose(t);
        t = -1;
    }
    return t;
}

static uint64_t zt__h5_le(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = v << 8 | p[i];
    return v;
}

/* Object idx of the global heap collection at addr: checked from the
 * collection header to the object (which must lie inside the collection and
 * the file), copied into *out (malloc'd, NUL-terminated). */
static int zt__h5_heap_object(zt_h5ctx *c, const char *path, const char *what, uint64_t addr, uint32_t idx,
                              uint8_t **out, uint64_t *size) {
    size_t ss = c->sizeof_size, hdr = (8 + ss + 7) / 8 * 8, ohdr = (8 + ss + 7) / 8 * 8;
    uint64_t fsize = c->file_size >= 0 ? (uint64_t)c->file_size : UINT64_MAX;
    const char *file = c->t->url;
    const char *p = *path ? path : "/";
    *out = NULL;
    uint8_t h[24];
    if (addr >= fsize || fsize - addr < hdr)
        return zt__err(ZT_ECORRUPT, "%s: %s: %s: global heap address %llu is beyond the end of the file", file, p,
                       what, (unsigned long long)addr);
    int rc = zt__h5io_read(c->io, addr, hdr, h);
    if (rc) return rc;
    uint64_t csize = zt__h5_le(h + 8, ss);
    if (memcmp(h, "GCOL", 4) || h[4] != 1 || csize < hdr || csize > ZT_H5_MAX_GCOL || csize > fsize - addr)
        return zt__err(ZT_ECORRUPT, "%s: %s: %s: corrupt global heap collection at byte %llu", file, p, what,
                       (unsigned long long)addr);
    uint8_t *col = malloc((size_t)csize);
    if (!col) return zt__err(ZT_ENOMEM, "out of memory");
    rc = zt__h5io_read(c->io, addr, (size_t)csize, col);
    uint64_t pos = hdr;
    while (!rc) {
        if (pos + ohdr > csize) {
            rc = zt__err(ZT_ECORRUPT, "%s: %s: %s: object %u not in the global heap collection at byte %llu", file, p,
                         what, idx, (unsigned long long)addr);
            break;
        }
        uint32_t oi = (uint32_t)zt__h5_le(col + pos, 2);
        uint64_t osize = zt__h5_le(col + pos + 8, ss);
        if (oi == 0) { /* free space: the rest of the collection */
            pos = csize;
            continue;
        }
        if (osize > csize - pos - ohdr) {
            rc = zt__err(ZT_ECORRUPT, "%s: %s: %s: corrupt global heap object %u (%llu bytes in a collection of %llu)",
                         file, p, what, oi, (unsigned long long)osize, (unsigned long long)csize);
            break;
        }
        if (oi == idx) {
            *out = malloc((size_t)osize + 1);
            if (!*out) rc = zt__err(ZT_ENOMEM, "out of memory");
            else {
                memcpy(*out, col + pos + ohdr, (size_t)osize);
                (*out)[osize] = 0;
                *size = osize;
            }
            break;
        }
        pos += ohdr + (osize + 7) / 8 * 8;
    }
    free(col);
    return rc;
}

/* n variable-length strings of obj (an attribute or a dataset) as JSON
 * strings appended to flat. */
static int zt__h5_vlen_strings(zt_h5ctx *c, const char *path, const char *what, hid_t obj, bool attr, size_t n,
                               json_t *flat) {
    hid_t rt = zt__rawvlen_type(c);
    if (rt < 0) return -1;
    size_t dsz = 4 + c->sizeof_addr + 4;
    uint8_t *raw = malloc(dsz * (n ? n : 1));
    int rc = raw ? 0 : zt__err(ZT_ENOMEM, "out of memory");
    if (!rc && (attr ? H5Aread(obj, rt, raw) : H5Dread(obj, rt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw)) < 0)
        rc = zt__h5_fail(c, path, what); /* now: the next call clears libhdf5's error stack */
    H5Tclose(rt);
    for (size_t i = 0; !rc && i < n; i++) {
        const uint8_t *d = raw + i * dsz;
        uint64_t len = zt__h5_le(d, 4), addr = zt__h5_le(d + 4, c->sizeof_addr);
        uint32_t idx = (uint32_t)zt__h5_le(d + 4 + c->sizeof_addr, 4);
        uint8_t *str = NULL;
        uint64_t got = 0;
        if (len > 0) {
            rc = zt__h5_heap_object(c, path, what, addr, idx, &str, &got);
            if (!rc && got != len)
                rc = zt__err(ZT_ECORRUPT, "%s: %s: %s: string of %llu bytes, but its global heap object has %llu",
                             c->t->url, *path ? path : "/", what, (unsigned long long)len, (unsigned long long)got);
        }
        if (!rc) {
            const char *sv = str ? (const char *)str : "";
            json_t *v = zt__json_str(sv, strnlen(sv, (size_t)len));
            if (!v || json_array_append_new(flat, v)) rc = zt__err(ZT_ENOMEM, "out of memory");
        }
        free(str);
    }
    free(raw);
    return rc;
}

static herr_t zt__h5_rd(hid_t obj, bool attr, hid_t mem, void *buf) {
    return attr ? H5Aread(obj, mem, buf) : H5Dread(obj, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
}

/* Contents of an attribute or dataset as JSON. Returns 0 with *out NULL when
 * the type has no JSON form (compound, opaque, ...); loc resolves references. */
static int zt__h5_read_json(zt_h5ctx *c, const char *path, const char *what, hid_t loc, hid_t obj, bool attr,
                            hid_t ftype, hid_t space, json_t **out) {
    *out = NULL;
    H5S_class_t sc = H5Sget_simple_extent_type(space);
    if (sc == H5S_NULL) {
        *out = json_null();
        return 0;
    }
    if (sc != H5S_SCALAR && sc != H5S_SIMPLE) return -1;
    int rank = sc == H5S_SCALAR ? 0 : H5Sget_simple_extent_ndims(space);
    hsize_t dims[H5S_MAX_RANK];
    if (rank < 0 || rank > H5S_MAX_RANK || (rank && H5Sget_simple_extent_dims(space, dims, NULL) < 0))
        return -1;
    hssize_t np = H5Sget_simple_extent_npoints(space);
    if (np < 0) return -1;
    if (np > ZT_H5_MAX_ATTR_ELEMS) return 0; /* too large for JSON metadata */
    size_t n = (size_t)np;
    H5T_class_t cls = H5Tget_class(ftype);
    json_t *flat = json_array();
    if (!flat) return zt__err(ZT_ENOMEM, "out of memory");
    int rc = 0;
    void *buf = NULL;
    hid_t mem = -1;
    if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
        bool sign = cls == H5T_INTEGER && H5Tget_sign(ftype) != H5T_SGN_NONE;
        mem = cls == H5T_FLOAT ? H5T_NATIVE_DOUBLE : sign ? H5T_NATIVE_LLONG : H5T_NATIVE_ULLONG;
        buf = malloc(8 * (n ? n : 1));
        if (!buf) rc = zt__err(ZT_ENOMEM, "out of memory");
        else if (zt__h5_rd(obj, attr, mem, buf) < 0) rc = zt__h5_fail(c, path, what);
        for (size_t i = 0; !rc && i < n; i++) {
            json_t *v;
            if (cls == H5T_FLOAT) v = zt__json_num(((double *)buf)[i]);
            else if (sign) v = json_integer(((long long *)buf)[i]);
            else {
                unsigned long long u = ((unsigned long long *)buf)[i];
                v = u > INT64_MAX ? json_real((double)u) : json_integer((json_int_t)u);
            }
            if (!v || json_array_append_new(flat, v)) rc = zt__err(ZT_ENOMEM, "out of memory");
        }
        mem = -1; /* predefined: not closed */
    } else if (cls == H5T_ENUM) {
        hid_t super = H5Tget_super(ftype);
        zt_dtype dt;
        bool isbool = false;
        if (super < 0 || !zt__h5_dtype(ftype, &dt) || dt.kind == 'f') rc = 1;
        else {
            isbool = dt.kind == 'b';
            size_t sz = dt.size;
            buf = malloc(sz * (n ? n : 1));
            if (!buf) rc = zt__err(ZT_ENOMEM, "out of memory");
            else if (zt__h5_rd(obj, attr, ftype, buf) < 0) rc = zt__h5_fail(c, path, what);
            for (size_t i = 0; !rc && i < n; i++) {
                int64_t v = zt__load_int((uint8_t *)buf + i * sz, sz, dt.kind == 'i', dt.big_endian);
                json_t *j = isbool ? json_boolean(v != 0) : json_integer(v);
                if (!j || json_array_append_new(flat, j)) rc = zt__err(ZT_ENOMEM, "out of memory");
            }
        }
        if (super >= 0) H5Tclose(super);
    } else if (cls == H5T_STRING) {
        mem = H5Tcopy(ftype);
        if (mem < 0) rc = -1;
        else if (H5Tis_variable_str(ftype) > 0) {
            rc = zt__h5_vlen_strings(c, path, what, obj, attr, n, flat);
        } else {
            /* Fixed length: exactly `size` bytes each; ch5md writes NULLTERM
             * strings with no NUL stored, so never rely on a terminator. */
            size_t sz = H5Tget_size(ftype);
            H5T_str_t pad = H5Tget_strpad(ftype);
            size_t total;
            if (sz == 0 || !zt__mulz_ok(sz, n ? n : 1, &total)) rc = -1;
            else if (!(buf = malloc(total))) rc = zt__err(ZT_ENOMEM, "out of memory");
            else if (zt__h5_rd(obj, attr, mem, buf) < 0) rc = zt__h5_fail(c, path, what);
            for (size_t i = 0; !rc && i < n; i++) {
                const char *p = (const char *)buf + i * sz;
                size_t l = strnlen(p, sz);
                if (pad == H5T_STR_SPACEPAD)
                    while (l > 0 && p[l - 1] == ' ') l--;
                json_t *v = zt__json_str(p, l);
                if (!v || json_array_append_new(flat, v)) rc = zt__err(ZT_ENOMEM, "out of memory");
            }
        }
    } else if (cls == H5T_REFERENCE) {
        bool obj_ref = H5Tequal(ftype, H5T_STD_REF_OBJ) > 0;
        bool reg_ref = !obj_ref && H5Tequal(ftype, H5T_STD_REF_DSETREG) > 0;
        size_t sz = obj_ref ? sizeof(hobj_ref_t) : sizeof(hdset_reg_ref_t);
        if (!obj_ref && !reg_ref) rc = 1;
        else if (!(buf = malloc(sz * (n ? n : 1)))) rc = zt__err(ZT_ENOMEM, "out of memory");
        else if (zt__h5_rd(obj, attr, obj_ref ? H5T_STD_REF_OBJ : H5T_STD_REF_DSETREG, buf) < 0)
            rc = zt__h5_fail(c, path, what);
        for (size_t i = 0; !rc && i < n; i++) {
            H5R_type_t rt = obj_ref ? H5R_OBJECT : H5R_DATASET_REGION;
            const void *ref = (uint8_t *)buf + i * sz;
            if (reg_ref) {
                /* a region reference lives in the global heap: check it before
                 * libhdf5 reads it (see zt__h5_heap_object) */
                uint64_t haddr = zt__h5_le(ref, c->sizeof_addr);
                uint32_t hidx = (uint32_t)zt__h5_le((const uint8_t *)ref + c->sizeof_addr, 4);
                uint8_t *blob = NULL;
                uint64_t bl = 0;
                if (haddr != 0 && (rc = zt__h5_heap_object(c, path, what, haddr, hidx, &blob, &bl))) break;
                free(blob);
            }
            char small[256], *name = small;
            ssize_t l = H5Rget_name(loc, rt, ref, small, sizeof small);
            if (l >= (ssize_t)sizeof small) { /* longer path: ask again with room for it */
                name = malloc((size_t)l + 1);
                if (!name) {
                    rc = zt__err(ZT_ENOMEM, "out of memory");
                    break;
                }
                l = H5Rget_name(loc, rt, ref, name, (size_t)l + 1);
            }
            json_t *v = l > 0 ? zt__json_str(name, (size_t)l) : json_null();
            if (l < 0) H5Eclear2(H5E_DEFAULT); /* null reference */
            if (name != small) free(name);
            if (!v || json_array_append_new(flat, v)) rc = zt__err(ZT_ENOMEM, "out of memory");
        }
    } else {
        rc = 1; /* compound, array, vlen sequence, opaque, bitfield, time */
    }
    if (mem >= 0) H5Tclose(mem);
    free(buf);
    if (rc == 1) {
        json_decref(flat);
        return 0;
    }
    if (rc) {
        json_decref(flat);
        return rc;
    }
    if (rank == 0) *out = json_incref(json_array_get(flat, 0));
    else {
        size_t pos = 0;
        *out = zt__json_shape(flat, rank, dims, 0, &pos);
    }
    json_decref(flat);
    return *out ? 0 : zt__err(ZT_ENOMEM, "out of memory");
}

typedef struct zt_h5attr_ud {
    zt_h5ctx *c;
    zt_node *node;
    hid_t loc;
    int rc;
} zt_h5attr_ud;

static herr_t zt__h5_attr_cb(hid_t obj, const char *name, const H5A_info_t *info, void *op) {
    (void)info;
    zt_h5attr_ud *u = op;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    hid_t s = a >= 0 ? H5Aget_space(a) : -1;
    int rc = 0;
    json_t *v = NULL;
    if (a < 0 || t < 0 || s < 0) rc = -1;
    else {
        char what[300];
        snprintf(what, sizeof what, "attribute '%s'", name);
        rc = zt__h5_read_json(u->c, u->node->path, what, u->loc, a, true, t, s, &v);
    }
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    if (rc < 0 && rc != -1) {
        u->rc = rc;
        return -1;
    }
    if (rc == -1) {
        char what[300];
        snprintf(what, sizeof what, "attribute '%s'", name);
        u->rc = zt__h5_fail(u->c, u->node->path, what);
        return -1;
    }
    if (!v) {
        ZT_DEBUG("hdf5: %s: %s: attribute '%s' has no JSON form; skipped", u->c->t->url, u->node->path,
                 name);
        return 0;
    }
    if (json_object_set_new(u->node->attrs, name, v)) {
        u->rc = zt__err(ZT_ENOMEM, "out of memory");
        return -1;
    }
    return 0;
}

static int zt__h5_attrs(zt_h5ctx *c, hid_t obj, zt_node *node) {
    zt_h5attr_ud u = {c, node, obj, 0};
    hsize_t idx = 0;
    herr_t e = H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, zt__h5_attr_cb, &u);
    if (u.rc) return u.rc;
    if (e < 0) return zt__h5_fail(c, node->path, "reading attributes");
    return 0;
}

/* ---- datasets ------------------------------------------------------------------------ */
static int zt__h5_filters(zt_h5ctx *c, const char *path, hid_t dcpl, json_t *filters) {
    int nf = H5Pget_nfilters(dcpl);
    if (nf < 0) return zt__h5_fail(c, path, "reading the filter pipeline");
    for (int i = 0; i < nf; i++) {
        unsigned flags = 0, cfg = 0, cd[64];
        size_t ncd = sizeof cd / sizeof *cd;
        char name[128] = "";
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof name, name, &cfg);
        if (id < 0) return zt__h5_fail(c, path, "reading the filter pipeline");
        if (ncd > sizeof cd / sizeof *cd) ncd = sizeof cd / sizeof *cd;
        name[sizeof name - 1] = 0;
        json_t *cda = json_array();
        for (size_t k = 0; cda && k < ncd; k++) json_array_append_new(cda, json_integer(cd[k]));
        json_t *f = cda ? json_pack("{s:i,s:s,s:i,s:o}", "id", (int)id, "name", name, "flags", (int)flags,
                                    "cd", cda)
                        : NULL;
        if (!f || json_array_append_new(filters, f)) return zt__err(ZT_ENOMEM, "out of memory");
    }
    return 0;
}

static int zt__chunk_cmp(const void *a, const void *b) {
    int64_t x = ((const zt_h5chunk *)a)->lin, y = ((const zt_h5chunk *)b)->lin;
    return x < y ? -1 : x > y;
}

/* Chunk index of a chunked dataset -> sorted table. */
static int zt__h5_chunk_index(zt_h5ctx *c, const char *path, hid_t did, hid_t space,
                              const zt_h5meta *m, zt_h5data *d) {
    hsize_t nch = 0;
    if (H5Dget_num_chunks(did, space, &nch) < 0) return zt__h5_fail(c, path, "reading the chunk index");
    int64_t grid = 1, ng[ZT_MAXDIM];
    for (int k = 0; k < m->ndim; k++) {
        ng[k] = (m->shape[k] + m->chunks[k] - 1) / m->chunks[k];
        if (!zt__mul_ok(grid, ng[k], &grid)) return zt__err(ZT_EOVERFLOW, "%s: %s: chunk grid too large", c->t->url, path);
    }
    if (nch == 0 || grid == 0) return 0;
    /* The index may list chunks beyond the current extent (a writer killed
     * between writing chunks and extending the dataset, or a shrunk dataset):
     * they are not part of the data, and are skipped. */
    if (nch > (hsize_t)1 << 40) return zt__err(ZT_ECORRUPT, "%s: %s: absurd chunk count %llu", c->t->url, path, (unsigned long long)nch);
    d->tab = calloc((size_t)nch, sizeof *d->tab);
    if (!d->tab) return zt__err(ZT_ENOMEM, "out of memory");
    hsize_t coord[ZT_MAXDIM];
    /* H5Dget_chunk_info(i) walks the index from the start each call (O(n^2)
     * in 1.10), so dense grids are looked up chunk by chunk instead. */
    if (grid <= 16 * (int64_t)nch + 4096) {
        int64_t idx[ZT_MAXDIM] = {0};
        for (int64_t lin = 0; lin < grid; lin++) {
            for (int k = 0; k < m->ndim; k++) coord[k] = (hsize_t)(idx[k] * m->chunks[k]);
            unsigned mask = 0;
            haddr_t addr = HADDR_UNDEF;
            hsize_t size = 0;
            if (H5Dget_chunk_info_by_coord(did, coord, &mask, &addr, &size) < 0)
                return zt__h5_fail(c, path, "reading the chunk index");
            if (addr != HADDR_UNDEF && size > 0) {
                if (d->n >= nch || size > UINT32_MAX)
                    return zt__err(ZT_ECORRUPT, "%s: %s: inconsistent chunk index", c->t->url, path);
                d->tab[d->n++] = (zt_h5chunk){lin, (uint64_t)addr, (uint32_t)size, mask};
            }
            for (int k = m->ndim - 1; k >= 0; k--) {
                if (++idx[k] < ng[k]) break;
                idx[k] = 0;
            }
        }
    } else {
        for (hsize_t i = 0; i < nch; i++) {
            unsigned mask = 0;
            haddr_t addr = HADDR_UNDEF;
            hsize_t size = 0;
            if (H5Dget_chunk_info(did, space, i, coord, &mask, &addr, &size) < 0)
                return zt__h5_fail(c, path, "reading the chunk index");
            if (addr == HADDR_UNDEF || size == 0) continue;
            int64_t lin = 0;
            bool outside = false;
            for (int k = 0; k < m->ndim; k++) {
                int64_t ci = (int64_t)(coord[k] / (hsize_t)m->chunks[k]);
                if (coord[k] % (hsize_t)m->chunks[k])
                    return zt__err(ZT_ECORRUPT, "%s: %s: misaligned chunk index entry", c->t->url, path);
                if (ci >= ng[k]) outside = true;
                lin = lin * ng[k] + ci;
            }
            if (outside) continue;
            if (size > UINT32_MAX) return zt__err(ZT_ECORRUPT, "%s: %s: chunk of %llu bytes", c->t->url, path, (unsigned long long)size);
            d->tab[d->n++] = (zt_h5chunk){lin, (uint64_t)addr, (uint32_t)size, mask};
        }
        qsort(d->tab, d->n, sizeof *d->tab, zt__chunk_cmp);
    }
    return 0;
}

/* Build a dataset node's array (numeric) or value (strings). */
static int zt__h5_dataset(zt_h5ctx *c, hid_t did, zt_node *node) {
    const char *path = node->path;
    hid_t ftype = H5Dget_type(did), space = H5Dget_space(did), dcpl = H5Dget_create_plist(did);
    zt_h5data *d = NULL;
    int rc = 0;
    if (ftype < 0 || space < 0 || dcpl < 0) {
        rc = zt__h5_fail(c, path, "reading the dataset header");
        goto done;
    }
    zt_h5meta m;
    memset(&m, 0, sizeof m);
    if (!zt__h5_dtype(ftype, &m.dtype)) {
        /* strings (ZnH5MD box/boundary), compound, ...: small ones as JSON */
        hssize_t np = H5Sget_simple_extent_npoints(space);
        if (np >= 0 && np <= ZT_H5_MAX_VALUE_ELEMS) {
            /* libhdf5 decodes these itself: a filter it lacks (a corrupt id)
             * would only say it found no plugin directory */
            int nf = H5Pget_nfilters(dcpl);
            for (int i = 0; i < nf && !rc; i++) {
                unsigned flags = 0, cfg = 0, cd[8];
                size_t ncd = 8;
                char name[64] = "";
                H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof name, name, &cfg);
                name[sizeof name - 1] = 0;
                if (id >= 0 && H5Zfilter_avail(id) <= 0)
                    rc = zt__err(ZT_EUNSUPPORTED, "%s: %s: HDF5 filter '%s' (id %d) is not available to libhdf5, "
                                 "which decodes this dataset (a corrupt filter id?)", c->t->url, path,
                                 name[0] ? name : "?", (int)id);
            }
            H5Eclear2(H5E_DEFAULT);
            if (rc) goto done;
            json_t *v = NULL;
            rc = zt__h5_read_json(c, path, "reading the dataset", did, did, false, ftype, space, &v);
            if (rc == -1) rc = zt__h5_fail(c, path, "reading the dataset");
            node->value = v;
        }
        goto done;
    }
    H5S_class_t sc = H5Sget_simple_extent_type(space);
    if (sc == H5S_NULL) goto done; /* empty dataspace: no data */
    int rank = sc == H5S_SCALAR ? 0 : H5Sget_simple_extent_ndims(space);
    hsize_t dims[H5S_MAX_RANK], cdims[H5S_MAX_RANK];
    if (rank < 0 || (rank > 0 && H5Sget_simple_extent_dims(space, dims, NULL) < 0)) {
        rc = zt__h5_fail(c, path, "reading the dataspace");
        goto done;
    }
    if (rank > ZT_MAXDIM) {
        ZT_WARN("%s: %s: rank %d dataset not supported; skipped", c->t->url, path, rank);
        goto done;
    }
    m.ndim = rank;
    for (int k = 0; k < rank; k++) {
        if (dims[k] > (hsize_t)INT64_MAX) {
            rc = zt__err(ZT_EOVERFLOW, "%s: %s: absurd dataset shape", c->t->url, path);
            goto done;
        }
        m.shape[k] = (int64_t)dims[k];
    }
    H5D_fill_value_t fst;
    if (H5Pfill_value_defined(dcpl, &fst) >= 0 && fst != H5D_FILL_VALUE_UNDEFINED &&
        H5Pget_fill_value(dcpl, ftype, m.fill) >= 0)
        m.has_fill = true;
    H5Eclear2(H5E_DEFAULT);
    if (!(d = zt__h5data_new())) {
        rc = zt__err(ZT_ENOMEM, "out of memory");
        goto done;
    }
    d->file_size = c->file_size;
    H5D_layout_t layout = H5Pget_layout(dcpl);
    int64_t nel = 1;
    for (int k = 0; k < rank; k++) nel *= m.shape[k] ? 1 : 0;
    if (layout == H5D_CHUNKED) {
        if (H5Pget_chunk(dcpl, rank, cdims) != rank) {
            rc = zt__h5_fail(c, path, "reading the chunk shape");
            goto done;
        }
        for (int k = 0; k < rank; k++) {
            if (cdims[k] == 0 || cdims[k] > (hsize_t)INT32_MAX) {
                rc = zt__err(ZT_ECORRUPT, "%s: %s: invalid chunk shape", c->t->url, path);
                goto done;
            }
            m.chunks[k] = (int64_t)cdims[k];
        }
        d->layout = ZT_H5_CHUNKED;
        if ((rc = zt__h5_filters(c, path, dcpl, d->filters)) != 0) goto done;
        if ((rc = zt__h5_chunk_index(c, path, did, space, &m, d)) != 0) goto done;
    } else if (layout == H5D_CONTIGUOUS) {
        zt__h5_contig_grid(&m, ZT_H5_CONTIG_TARGET, m.chunks);
        int next = H5Pget_external_count(dcpl);
        if (next > 0) {
            d->layout = ZT_H5_UNSUPPORTED;
            d->error = strdup("external raw data files are not supported");
        } else {
            d->layout = ZT_H5_CONTIG;
            haddr_t a = H5Dget_offset(did);
            H5Eclear2(H5E_DEFAULT);
            d->base = a == HADDR_UNDEF ? UINT64_MAX : (uint64_t)a;
        }
    } else if (layout == H5D_COMPACT) {
        for (int k = 0; k < rank; k++) m.chunks[k] = m.shape[k] > 0 ? m.shape[k] : 1;
        d->layout = nel ? ZT_H5_COMPACT : ZT_H5_NONE;
        if (nel) {
            int64_t ne = 1;
            for (int k = 0; k < rank; k++) ne *= m.shape[k];
            size_t nb;
            if (!zt__mulz_ok((size_t)ne, m.dtype.size, &nb) || nb > ((size_t)1 << 30)) {
                rc = zt__err(ZT_ECORRUPT, "%s: %s: compact dataset too large", c->t->url, path);
                goto done;
            }
            d->inline_len = nb;
            d->inline_data = malloc(nb ? nb : 1);
            if (!d->inline_data) {
                rc = zt__err(ZT_ENOMEM, "out of memory");
                goto done;
            }
            /* memory type = file type: raw bytes in stored order */
            if (H5Dread(did, ftype, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->inline_data) < 0) {
                rc = zt__h5_fail(c, path, "reading compact data");
                goto done;
            }
        }
    } else {
        for (int k = 0; k < rank; k++) m.chunks[k] = m.shape[k] > 0 ? m.shape[k] : 1;
        d->layout = ZT_H5_UNSUPPORTED;
        d->error = strdup(layout == H5D_VIRTUAL ? "virtual datasets are not supported"
                                                : "unknown storage layout");
    }
    if (d->layout == ZT_H5_UNSUPPORTED && !d->error) {
        rc = zt__err(ZT_ENOMEM, "out of memory");
        goto done;
    }
    rc = zt__h5_make_array(path, c->t->url, c->t->store, &m, d, &node->array);
done:
    zt__h5data_unref(d);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    if (ftype >= 0) H5Tclose(ftype);
    return rc;
}

/* Copy of a dataset node reached again through another hard link. */
static int zt__h5_clone_dataset(zt_h5ctx *c, const zt_node *src, zt_node *dst) {
    json_decref(dst->attrs);
    dst->attrs = json_deep_copy(src->attrs);
    if (src->value) dst->value = json_deep_copy(src->value);
    if (!dst->attrs || (src->value && !dst->value)) return zt__err(ZT_ENOMEM, "out of memory");
    if (!src->array) return 0;
    const zt_array *a = src->array;
    zt_h5meta m;
    memset(&m, 0, sizeof m);
    m.dtype = a->dtype;
    m.ndim = a->ndim;
    memcpy(m.shape, a->shape, sizeof m.shape);
    memcpy(m.chunks, a->chunks, sizeof m.chunks);
    m.has_fill = a->has_fill;
    memcpy(m.fill, a->fill, sizeof m.fill);
    return zt__h5_make_array(dst->path, c->t->url, c->t->store, &m, a->impl, &dst->array);
}

static zt_node *zt__h5_seen_find(zt_h5ctx *c, haddr_t addr) {
    for (size_t i = 0; i < c->nseen; i++)
        if (c->seen[i].addr == addr) return c->seen[i].node;
    return NULL;
}

static int zt__h5_seen_add(zt_h5ctx *c, haddr_t addr, zt_node *n) {
    if (c->nseen == c->capseen) {
        size_t cap = c->capseen ? 2 * c->capseen : 64;
        void *p = realloc(c->seen, cap * sizeof *c->seen);
        if (!p) return zt__err(ZT_ENOMEM, "out of memory");
        c->seen = p;
        c->capseen = cap;
    }
    c->seen[c->nseen].addr = addr;
    c->seen[c->nseen++].node = n;
    return 0;
}

/* ---- object header checksums ---------------------------------------------------------------
 * libhdf5 1.10.8 leaks memory (and prints "infinite loop closing library" at
 * exit) when an object header fails its checksum, so the first chunk of a
 * version-2 header ("OHDR") is checked here before libhdf5 reads it. The
 * checksum is Bob Jenkins' lookup3 (hashlittle, initial value 0), as in
 * H5_checksum_lookup3. */
#define ZT_ROT(x, k) (((x) << (k)) | ((x) >> (32 - (k))))

static uint32_t zt__lookup3(const uint8_t *k, size_t length) {
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)length;
    while (length > 12) {
        a += k[0] + ((uint32_t)k[1] << 8) + ((uint32_t)k[2] << 16) + ((uint32_t)k[3] << 24);
        b += k[4] + ((uint32_t)k[5] << 8) + ((uint32_t)k[6] << 16) + ((uint32_t)k[7] << 24);
        c += k[8] + ((uint32_t)k[9] << 8) + ((uint32_t)k[10] << 16) + ((uint32_t)k[11] << 24);
        a -= c, a ^= ZT_ROT(c, 4), c += b;
        b -= a, b ^= ZT_ROT(a, 6), a += c;
        c -= b, c ^= ZT_ROT(b, 8), b += a;
        a -= c, a ^= ZT_ROT(c, 16), c += b;
        b -= a, b ^= ZT_ROT(a, 19), a += c;
        c -= b, c ^= ZT_ROT(b, 4), b += a;
        length -= 12;
        k += 12;
    }
    if (length == 0) return c;
    uint8_t t[12] = {0}; /* the tail, zero-padded: the same sums as hashlittle's switch */
    memcpy(t, k, length);
    a += t[0] + ((uint32_t)t[1] << 8) + ((uint32_t)t[2] << 16) + ((uint32_t)t[3] << 24);
    b += t[4] + ((uint32_t)t[5] << 8) + ((uint32_t)t[6] << 16) + ((uint32_t)t[7] << 24);
    c += t[8] + ((uint32_t)t[9] << 8) + ((uint32_t)t[10] << 16) + ((uint32_t)t[11] << 24);
    c ^= b, c -= ZT_ROT(b, 14);
    a ^= c, a -= ZT_ROT(c, 11);
    b ^= a, b -= ZT_ROT(a, 25);
    c ^= b, c -= ZT_ROT(b, 16);
    a ^= c, a -= ZT_ROT(c, 4);
    b ^= a, b -= ZT_ROT(a, 14);
    c ^= b, c -= ZT_ROT(b, 24);
    return c;
}

/* 0 when the header at addr is not a version-2 one (libhdf5 checks those
 * itself, without leaking) or its first chunk has the right checksum. */
static int zt__h5_check_ohdr(zt_h5ctx *c, const char *path, uint64_t addr) {
    uint64_t fsize = c->file_size >= 0 ? (uint64_t)c->file_size : UINT64_MAX;
    uint8_t h[34];
    if (addr >= fsize || fsize - addr < 6) return 0;
    size_t hn = fsize - addr < sizeof h ? (size_t)(fsize - addr) : sizeof h;
    int rc = zt__h5io_read(c->io, addr, hn, h);
    if (rc) return rc;
    if (memcmp(h, "OHDR", 4) || h[4] != 2) return 0;
    uint8_t flags = h[5];
    size_t pre = 6 + (flags & 0x20 ? 16 : 0) + (flags & 0x10 ? 4 : 0), sl = (size_t)1 << (flags & 3);
    uint64_t size0 = pre + sl <= hn ? zt__h5_le(h + pre, sl) : UINT64_MAX;
    if (size0 > fsize - addr || pre + sl + size0 + 4 > fsize - addr || size0 > ((uint64_t)1 << 30))
        return zt__err(ZT_ECORRUPT, "%s: %s: corrupt object header at byte %llu (first chunk of %llu bytes)",
                       c->t->url, *path ? path : "/", (unsigned long long)addr, (unsigned long long)size0);
    size_t n = pre + sl + (size_t)size0;
    uint8_t *b = malloc(n + 4);
    if (!b) return zt__err(ZT_ENOMEM, "out of memory");
    rc = zt__h5io_read(c->io, addr, n + 4, b);
    if (!rc && zt__lookup3(b, n) != (uint32_t)zt__h5_le(b + n, 4))
        rc = zt__err(ZT_ECORRUPT, "%s: %s: object header at byte %llu fails its checksum: corrupt file", c->t->url,
                     *path ? path : "/", (unsigned long long)addr);
    free(b);
    return rc;
}

/* ---- groups -------------------------------------------------------------------------- */
/* The links of a group: names, and for hard links the object address. */
typedef struct zt_h5links {
    zt_strlist names;
    haddr_t *addr; /* HADDR_UNDEF for soft links */
    size_t cap;
} zt_h5links;

static herr_t zt__h5_link_cb(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    (void)g;
    zt_h5links *l = op;
    if (info->type == H5L_TYPE_EXTERNAL || info->type >= H5L_TYPE_UD_MIN) {
        ZT_DEBUG("hdf5: external or user-defined link '%s' skipped", name);
        return 0;
    }
    if (l->names.n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        haddr_t *p = realloc(l->addr, cap * sizeof *p);
        if (!p) return -1;
        l->addr = p;
        l->cap = cap;
    }
    l->addr[l->names.n] = info->type == H5L_TYPE_HARD ? info->u.address : HADDR_UNDEF;
    return zt__strlist_push(&l->names, name) ? -1 : 0;
}

static int zt__h5_group(zt_h5ctx *c, hid_t gid, zt_node *gnode) {
    int rc = zt__h5_attrs(c, gid, gnode);
    if (rc) return rc;
    zt_h5links links;
    memset(&links, 0, sizeof links);
    zt__strlist_init(&links.names);
    hsize_t idx = 0;
    if (H5Literate(gid, H5_INDEX_NAME, H5_ITER_INC, &idx, zt__h5_link_cb, &links) < 0) {
        zt__strlist_free(&links.names);
        free(links.addr);
        return zt__h5_fail(c, gnode->path, "listing the group");
    }
    for (size_t i = 0; !rc && i < links.names.n; i++) {
        const char *name = links.names.items[i];
        haddr_t la = links.addr[i];
        if (la != HADDR_UNDEF && c->file_size >= 0 && la >= (haddr_t)c->file_size) {
            /* checked before libhdf5 follows it (which then leaks its file
             * objects and misreports) */
            rc = zt__err(ZT_ECORRUPT, "%s: %s%s%s: link to an object at byte %llu, beyond the end of the file "
                         "(%lld bytes): corrupt file", c->t->url, gnode->path, *gnode->path ? "/" : "", name,
                         (unsigned long long)la, (long long)c->file_size);
            break;
        }
        if (la != HADDR_UNDEF) {
            char *p = zt__path_join(gnode->path, name);
            rc = p ? zt__h5_check_ohdr(c, p, la) : zt__err(ZT_ENOMEM, "out of memory");
            free(p);
            if (rc) break;
        }
        H5O_info_t oi;
        if (H5Oget_info_by_name2(gid, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
            if (la != HADDR_UNDEF) { /* a hard link: the object is unreadable (h5py raises too) */
                char *p = zt__path_join(gnode->path, name);
                rc = zt__h5_fail(c, p ? p : name, "reading the object header");
                free(p);
                break;
            }
            H5Eclear2(H5E_DEFAULT); /* dangling soft link */
            ZT_DEBUG("hdf5: %s: %s/%s: dangling link skipped", c->t->url, gnode->path, name);
            continue;
        }
        if (oi.type != H5O_TYPE_GROUP && oi.type != H5O_TYPE_DATASET) continue;
        if (++c->n_nodes > ZT_H5_MAX_NODES) {
            rc = zt__err(ZT_EUNSUPPORTED, "%s: more than %d objects", c->t->url, ZT_H5_MAX_NODES);
            break;
        }
        bool is_ds = oi.type == H5O_TYPE_DATASET;
        zt_node *n = zt__node_new(name, gnode, is_ds);
        if (!n) {
            rc = zt__err(ZT_ENOMEM, "out of memory");
            break;
        }
        if ((rc = zt__node_add_child(gnode, n)) != 0) {
            zt__node_free(n);
            break;
        }
        if (is_ds) {
            zt_node *prev = zt__h5_seen_find(c, oi.addr);
            if (prev) {
                rc = zt__h5_clone_dataset(c, prev, n);
                continue;
            }
            hid_t did = H5Dopen2(gid, name, H5P_DEFAULT);
            if (did < 0) {
                rc = zt__h5_fail(c, n->path, "opening the dataset");
                break;
            }
            rc = zt__h5_attrs(c, did, n);
            if (!rc) rc = zt__h5_dataset(c, did, n);
            if (!rc) rc = zt__h5_seen_add(c, oi.addr, n);
            H5Dclose(did);
        } else {
            bool cycle = false;
            for (int k = 0; k <= c->depth; k++)
                if (c->anc[k] == oi.addr) cycle = true;
            if (cycle || c->depth >= ZT_H5_MAX_DEPTH) {
                ZT_WARN("%s: %s: group %s; not descended into", c->t->url, n->path,
                        cycle ? "links back to its own ancestor" : "nested too deeply");
                continue;
            }
            hid_t sub = H5Gopen2(gid, name, H5P_DEFAULT);
            if (sub < 0) {
                rc = zt__h5_fail(c, n->path, "opening the group");
                break;
            }
            c->anc[++c->depth] = oi.addr;
            rc = zt__h5_group(c, sub, n);
            c->depth--;
            H5Gclose(sub);
        }
    }
    zt__strlist_free(&links.names);
    free(links.addr);
    return rc;
}

int zt__h5_build_tree(int64_t fid, zt_tree *t, int64_t file_size) {
    zt_h5ctx c;
    memset(&c, 0, sizeof c);
    c.t = t;
    c.file_size = file_size;
    c.io = t->impl; /* set by the caller while building */
    c.sizeof_addr = c.sizeof_size = 8;
    hid_t fcpl = H5Fget_create_plist(fid);
    if (fcpl < 0 || H5Pget_sizes(fcpl, &c.sizeof_addr, &c.sizeof_size) < 0 || c.sizeof_addr < 2 ||
        c.sizeof_addr > 8 || c.sizeof_size < 2 || c.sizeof_size > 8) {
        if (fcpl >= 0) H5Pclose(fcpl);
        return zt__h5_fail(&c, "", "reading the superblock (address and length sizes)");
    }
    H5Pclose(fcpl);
    t->root = zt__node_new("", NULL, false);
    if (!t->root) return zt__err(ZT_ENOMEM, "out of memory");
    hid_t root = H5Gopen2(fid, "/", H5P_DEFAULT);
    if (root < 0) return zt__h5_fail(&c, "", "opening the root group");
    H5O_info_t oi;
    if (H5Oget_info2(root, &oi, H5O_INFO_BASIC) >= 0) c.anc[0] = oi.addr;
    int rc = zt__h5_group(&c, root, t->root);
    H5Gclose(root);
    free(c.seen);
    return rc;
}

/* ---- open ---------------------------------------------------------------------------- */
static int zt__h5_open_error(zt_h5io *io, const char *url, int64_t size) {
    zt_h5errs x;
    zt__h5_errs(&x);
    const char *msg;
    int rc = zt__h5io_error(io, &msg);
    if (rc) return zt__err(rc, "%s", msg);
    if (x.truncated)
        return zt__err(ZT_ETRUNCATED, "%s: truncated file: eof is %llu, file has %lld bytes", url,
                       x.stored_eof, (long long)size);
    if (x.nosig) return zt__err(ZT_ENOTHDF5, "%s: not an HDF5 file (%s)", url, x.first);
    return zt__err(ZT_EFORMAT, "%s: cannot open the HDF5 file: %s", url,
                   x.first[0] ? x.first : "unknown HDF5 error");
}

static void zt__h5_tree_discard(zt_tree *t) {
    t->store = NULL; /* the caller keeps the store on failure */
    t->impl = NULL;
    zt__tree_free(t);
}

int zt__h5_parse(zt_h5io *io, zt_tree *t, int64_t size) {
    const char *url = t->url;
    int rc = 0;
    t->impl = io;
    hid_t fapl = zt__h5io_fapl(io);
    if (fapl < 0) rc = (int)fapl;
    else if (H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) rc = zt__h5_open_error(io, url, size);
    hid_t fid = -1;
    if (!rc) {
        fid = H5Fopen(url, H5F_ACC_RDONLY, fapl);
        if (fid < 0) rc = zt__h5_open_error(io, url, size);
    }
    if (!rc) rc = zt__h5_build_tree(fid, t, size);
    if (fid >= 0 && H5Fclose(fid) < 0 && !rc) rc = zt__h5_open_error(io, url, size);
    if (fapl >= 0) H5Pclose(fapl);
    H5Eclear2(H5E_DEFAULT);
    t->impl = NULL;
    return rc;
}

int zt__hdf5_open_tree(zt_store *s, const char *url, const zt_options_t *opts, zt_tree **out) {
    uint64_t req0 = s->n_requests;
    zt_stat st;
    int rc = zt__store_head(s, "", &st);
    if (rc) return zt__err_prefix(rc, "%s: ", url);
    if (st.size < 0) return zt__err(ZT_EUNSUPPORTED, "%s: the store does not report the file size", url);
    zt_tree *t = calloc(1, sizeof *t);
    if (!t || !(t->url = strdup(url))) {
        free(t);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    t->store = s;
    t->format = "h5md";
    bool use_cache = !zt__store_can(s, ZT_STORE_CAP_LOW_LATENCY) && zt__h5_index_cache_enabled(opts);
    if (use_cache && zt__h5_index_cache_load(url, &st, t) == 0) {
        ZT_INFO("hdf5: %s: chunk index from the cache (%llu requests)", url,
                (unsigned long long)(s->n_requests - req0));
        *out = t;
        return 0;
    }
    zt_h5io_opts o;
    zt__h5io_opts_default(opts, &o);
    zt__hdf5_lock();
    bool done = false;
    if (zt__h5_isolate_enabled(opts)) rc = zt__h5_parse_isolated(s, url, st.size, &o, opts, t, &done);
    if (!done) {
        zt_h5io *io = NULL;
        rc = zt__h5io_new(s, url, st.size, &o, &io);
        if (!rc) rc = zt__h5_parse(io, t, st.size);
        zt__h5io_free(io);
    }
    zt__hdf5_unlock();
    ZT_INFO("hdf5: %s: opened with %llu requests%s", url, (unsigned long long)(s->n_requests - req0),
            done ? " (metadata parsed in a child process)" : "");
    if (rc) {
        zt__h5_tree_discard(t);
        return rc;
    }
    if (use_cache && zt__h5_index_cache_save(url, &st, t) != 0)
        ZT_DEBUG("hdf5: %s: index cache not written: %s", url, zt_last_error());
    *out = t;
    return 0;
}
