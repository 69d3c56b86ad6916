/* H5MD (HDF5) back end of the trajectory writer, on libhdf5 (all calls under
 * the process-wide lock of vfd.c).
 *
 * Layout as MDAnalysis' H5MDWriter: resizable chunked datasets, vlen UTF-8
 * string attributes, observables at /observables/<name>. At close, step/time
 * datasets equal to the particle group's position step/time are replaced by
 * hard links to them (box/edges, velocity, force, observables).
 *
 * Crash safety: each sync leaves a file h5py can open holding every
 * committed row, and later writes do not disturb that state on disk:
 *  - chunks are encoded here (our codecs, outside the lock, in parallel) and
 *    stored with H5Dwrite_chunk, which may write the chunk that starts at the
 *    current extent. A sync writes the chunks and flushes (data and chunk
 *    index under the old extents: nothing new is visible), then grows the
 *    extents class by class (zt__h5w_class: step and time, the other values,
 *    the primary element's step and value), a flush each: a kill in between
 *    leaves steps and times beyond the last value row (which readers ignore),
 *    and never an array shorter than the primary step MDAnalysis iterates by;
 *  - metadata reaches the disk only through H5Fflush (cache evictions off);
 *  - the small arrays (step, time, box, observables) are uncompressed, so
 *    appending rows rewrites their partial last chunk in place with the
 *    committed bytes unchanged; per-atom chunks are written once, whole.
 * A kill inside one of those flushes never exposes an unindexed chunk as
 * zeros, and every committed frame reads back with its step and time through
 * h5py, MDAnalysis (which iterates by the primary step) and us; only a kill
 * inside the last flush of a sync can tear it (see zt__h5w_class).
 * Remote destinations are written to a temporary local file and uploaded at
 * close. */
#include "codec/codec.h"
#include "hdf5/h5w.h"
#include "hdf5/hdf5.h"
#include "store/store.h"
#include "array/format.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Chunk caps (each a divisor of the front end's chunk, at least one frame).
 * MDAnalysis reopens the dataset for every frame and reads the frame twice,
 * so libhdf5's chunk cache never helps it: each frame read decompresses the
 * whole chunk twice (20,000 atoms x 200 frames, gzip: 39 s with 12 MiB
 * chunks, 4.1 s with 1 MiB, 1.2 s with one frame). Compressed per-atom
 * chunks are therefore at most 64 KiB or one frame; uncompressed ones are
 * read partially and get up to 1 MiB (the most an uncompressed last chunk
 * wastes). Small arrays: at most 64 KiB (uncompressed chunks are allocated
 * whole). */
#define ZT_H5W_BULK_CHUNK ((size_t)1 << 20)
#define ZT_H5W_BULK_CHUNK_Z ((size_t)64 << 10)
#define ZT_H5W_SMALL_CHUNK ((size_t)64 << 10)
#define ZT_H5W_MAX_CHUNK ((size_t)0xFFFFFFFFu) /* HDF5 limit: chunks < 4 GiB */
#define ZT_H5W_CMP_ROWS 65536                  /* rows per read when comparing */

/* One encoded chunk: the result points into t1, t2 or the source rows. */
typedef struct zt_h5wenc {
    zt_buf t1, t2;
    const void *data;
    size_t n;
    unsigned mask;
} zt_h5wenc;

struct zt_warr {
    char *path;
    hid_t did;
    zt_dtype dt;
    hid_t ftype, mtype;       /* predefined types: never closed */
    int ndim;
    hsize_t dims[ZT_MAXDIM];  /* extent in the file (dims[0] = rows there) */
    hsize_t cdims[ZT_MAXDIM];
    size_t rowbytes;          /* bytes per row (0 when a sample is empty) */
    int64_t crow;             /* rows per HDF5 chunk */
    bool bulk;
    bool index;               /* step/time: grows before the values (zt_warr_spec.index) */
    int64_t committed;        /* rows as last set by set_rows */
    int64_t next;             /* extent after the current commit stage */
    /* rows [buf0, buf0 + nbuf): the chunk holding the extent's end and
     * everything after it (rows before buf0 sit in whole chunks on disk) */
    zt_buf buf;
    int64_t buf0, nbuf;
    size_t boff;              /* byte offset of row buf0 in buf (compacted per commit) */
    zt_codec *quant;          /* precision >= 0: numcodecs Quantize */
    zt_codec *shuffle, *comp; /* HDF5 filter pipeline, encoded by us */
    struct zt_h5wenc *pre;    /* chunks encoded ahead for the current commit */
    size_t npre;
    int64_t pre0;             /* first row of pre[0] */
    bool comp_optional;       /* LZF: a chunk that does not shrink is stored raw */
    bool linked;              /* replaced by a hard link (did closed) */
};

typedef struct zt_h5w {
    zt_wbackend base;
    zt_store *s;        /* remote destination (NULL when local) */
    char *file;         /* what libhdf5 writes: the local path or a temporary file */
    bool remote;
    bool any_rows;      /* something was ever committed */
    hid_t fid, lcpl;
    zt_warr **arr;
    size_t narr;
    zt_buf qbuf, rbuf;
    zt_h5wenc enc; /* chunks encoded at write time */
} zt_h5w;

/* ---- errors ------------------------------------------------------------------------------ */
static herr_t zt__h5w_walk(unsigned n, const H5E_error2_t *e, void *ud) {
    if (n == 0) snprintf(ud, 512, "%s", e->desc ? e->desc : "");
    return 0;
}

/* A libhdf5 call failed: message with the file, the object and libhdf5's most
 * specific description. Lock held. */
static int zt__h5w_fail(const zt_h5w *w, const char *path, const char *what) {
    char msg[512] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, zt__h5w_walk, msg);
    H5Eclear2(H5E_DEFAULT);
    return zt__err(ZT_EIO, "%s: %s: %s: %s", w->base.url, path && *path ? path : "/", what,
                   msg[0] ? msg : "HDF5 error");
}

/* ---- types --------------------------------------------------------------------------------- */
/* HDF5 type of a dtype in the given byte order; -1 when not representable. */
static hid_t zt__h5w_type(zt_dtype dt, bool be) {
    switch (dt.kind) {
    case 'f':
        if (dt.size == 4) return be ? H5T_IEEE_F32BE : H5T_IEEE_F32LE;
        if (dt.size == 8) return be ? H5T_IEEE_F64BE : H5T_IEEE_F64LE;
        return -1;
    case 'i':
        switch (dt.size) {
        case 1: return be ? H5T_STD_I8BE : H5T_STD_I8LE;
        case 2: return be ? H5T_STD_I16BE : H5T_STD_I16LE;
        case 4: return be ? H5T_STD_I32BE : H5T_STD_I32LE;
        case 8: return be ? H5T_STD_I64BE : H5T_STD_I64LE;
        }
        return -1;
    case 'u':
        switch (dt.size) {
        case 1: return be ? H5T_STD_U8BE : H5T_STD_U8LE;
        case 2: return be ? H5T_STD_U16BE : H5T_STD_U16LE;
        case 4: return be ? H5T_STD_U32BE : H5T_STD_U32LE;
        case 8: return be ? H5T_STD_U64BE : H5T_STD_U64LE;
        }
        return -1;
    default:
        return -1;
    }
}

/* ---- attributes (as h5py writes them) -------------------------------------------------------- */
/* Variable-length UTF-8 string type (caller closes). */
static hid_t zt__h5w_strtype(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* Write one attribute: strings -> vlen UTF-8, integers -> int64, reals ->
 * float64, booleans -> h5py's bool enum; 1-d arrays of one kind likewise. */
static int zt__h5w_attr(zt_h5w *w, hid_t obj, const char *path, const char *name, const json_t *v) {
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    int kind = 0; /* 1 string, 2 integer, 3 real, 4 bool */
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_is_array(v) ? json_array_get(v, i) : v;
        int k = json_is_string(x) ? 1 : json_is_integer(x) ? 2 : json_is_real(x) ? 3 : json_is_boolean(x) ? 4 : 0;
        if (k && (!kind || kind == k)) kind = k;
        else if (k && (kind == 2 || kind == 3) && (k == 2 || k == 3)) kind = 3; /* mixed numbers: float64 */
        else
            return zt__err(ZT_EUNSUPPORTED,
                           "%s: %s: attribute '%s': only strings, numbers, booleans and flat lists of one kind",
                           w->base.url, path, name);
    }
    if (n == 0) kind = 3; /* h5py stores [] as an empty float64 array */
    hsize_t dim = n;
    hid_t space = json_is_array(v) ? H5Screate_simple(1, &dim, NULL) : H5Screate(H5S_SCALAR);
    hid_t ftype = -1, mtype = -1;
    bool own_types = false;
    void *buf = NULL;
    int rc = 0;
    if (kind == 1) {
        ftype = mtype = zt__h5w_strtype();
        own_types = true;
        const char **p = malloc(sizeof *p * (n ? n : 1));
        if (p)
            for (size_t i = 0; i < n; i++) p[i] = json_string_value(json_is_array(v) ? json_array_get(v, i) : v);
        buf = p;
    } else if (kind == 2) {
        ftype = H5T_STD_I64LE;
        mtype = H5T_NATIVE_INT64;
        int64_t *p = malloc(sizeof *p * (n ? n : 1));
        if (p)
            for (size_t i = 0; i < n; i++) p[i] = json_integer_value(json_is_array(v) ? json_array_get(v, i) : v);
        buf = p;
    } else if (kind == 3) {
        ftype = H5T_IEEE_F64LE;
        mtype = H5T_NATIVE_DOUBLE;
        double *p = malloc(sizeof *p * (n ? n : 1));
        if (p)
            for (size_t i = 0; i < n; i++) p[i] = json_number_value(json_is_array(v) ? json_array_get(v, i) : v);
        buf = p;
    } else {
        ftype = mtype = H5Tenum_create(H5T_NATIVE_INT8);
        own_types = true;
        int8_t f = 0, t = 1;
        if (ftype >= 0 && (H5Tenum_insert(ftype, "FALSE", &f) < 0 || H5Tenum_insert(ftype, "TRUE", &t) < 0)) {
            H5Tclose(ftype);
            ftype = mtype = -1;
        }
        int8_t *p = malloc(n ? n : 1);
        if (p)
            for (size_t i = 0; i < n; i++) p[i] = json_is_true(json_is_array(v) ? json_array_get(v, i) : v);
        buf = p;
    }
    if (!buf) rc = zt__err(ZT_ENOMEM, "out of memory");
    else if (space < 0 || ftype < 0) rc = zt__h5w_fail(w, path, "cannot create an attribute type");
    if (!rc && H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0)
        rc = zt__h5w_fail(w, path, "cannot replace an attribute");
    hid_t a = -1;
    if (!rc) {
        a = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
        if (a < 0 || H5Awrite(a, mtype, buf) < 0) {
            char what[300];
            snprintf(what, sizeof what, "cannot write attribute '%s'", name);
            rc = zt__h5w_fail(w, path, what);
        }
    }
    if (a >= 0) H5Aclose(a);
    if (own_types && ftype >= 0) H5Tclose(ftype);
    if (space >= 0) H5Sclose(space);
    free(buf);
    return rc;
}

static int zt__h5w_attrs(zt_h5w *w, hid_t obj, const char *path, const json_t *attrs) {
    if (!attrs) return 0;
    if (!json_is_object(attrs)) return zt__err(ZT_EINVAL, "%s: %s: attributes must be an object", w->base.url, path);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)attrs, k, v) {
        int rc = zt__h5w_attr(w, obj, path, k, v);
        if (rc) return rc;
    }
    return 0;
}

/* Whether every component of path exists (H5Lexists in 1.10 fails on a
 * missing intermediate group). */
static bool zt__h5w_exists(hid_t fid, const char *path) {
    char *p = zt__strdup(path);
    bool ok = p != NULL;
    for (char *s = p; ok && s;) {
        s = strchr(s, '/');
        if (s) *s = 0;
        ok = H5Lexists(fid, p, H5P_DEFAULT) > 0;
        if (s) *s++ = '/';
    }
    free(p);
    H5Eclear2(H5E_DEFAULT);
    return ok;
}

/* ---- back end ------------------------------------------------------------------------------ */
static int zt__h5w_group(zt_wbackend *b, const char *path, const json_t *attrs) {
    zt_h5w *w = (zt_h5w *)b;
    const char *p = path && *path ? path : "/";
    int rc = 0;
    zt__hdf5_lock();
    hid_t g = zt__h5w_exists(w->fid, p) ? H5Gopen2(w->fid, p, H5P_DEFAULT)
                                        : H5Gcreate2(w->fid, p, w->lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) rc = zt__h5w_fail(w, p, "cannot create the group");
    else rc = zt__h5w_attrs(w, g, p, attrs);
    if (g >= 0) H5Gclose(g);
    zt__hdf5_unlock();
    return rc;
}

static void zt__h5w_enc_free(zt_h5wenc *e) {
    zt__buf_free(&e->t1);
    zt__buf_free(&e->t2);
}

static void zt__h5w_pre_free(zt_warr *a) {
    for (size_t i = 0; i < a->npre; i++) zt__h5w_enc_free(&a->pre[i]);
    free(a->pre);
    a->pre = NULL;
    a->npre = 0;
}

static void zt__h5w_arr_free(zt_warr *a) {
    if (!a) return;
    zt__h5w_pre_free(a);
    if (a->did >= 0) H5Dclose(a->did);
    zt__codec_free(a->quant);
    zt__codec_free(a->shuffle);
    zt__codec_free(a->comp);
    zt__buf_free(&a->buf);
    free(a->path);
    free(a);
}

/* Rows per HDF5 chunk: the largest divisor of the front end's rows whose
 * chunk stays within cap (so every HDF5 chunk is written once, whole). */
static int64_t zt__h5w_chunk_rows(int64_t want, size_t rowbytes, size_t cap) {
    if (want < 1) want = 1;
    if (rowbytes == 0) return want;
    int64_t lim = (int64_t)(cap / rowbytes);
    if (lim < 1) lim = 1;
    if (want <= lim) return want;
    for (int64_t r = lim; r > 1; r--)
        if (want % r == 0) return r;
    return 1;
}

/* The codecs that encode chunks exactly as libhdf5's filters would. */
static int zt__h5w_codecs(zt_warr *a, const json_t *cfg, size_t chunk_bytes) {
    if (!cfg) return 0;
    const char *id = json_string_value(json_object_get(cfg, "id"));
    int rc = 0;
    if (json_is_true(json_object_get(cfg, "shuffle"))) {
        unsigned es = a->dt.size;
        rc = zt__codec_from_hdf5(H5Z_FILTER_SHUFFLE, &es, 1, a->dt.size, "shuffle", &a->shuffle);
    }
    if (!rc && id && !strcmp(id, "gzip")) {
        unsigned level = (unsigned)json_integer_value(json_object_get(cfg, "level"));
        rc = zt__codec_from_hdf5(H5Z_FILTER_DEFLATE, &level, 1, a->dt.size, "deflate", &a->comp);
    } else if (!rc && id && !strcmp(id, "lzf")) {
        unsigned cd[3] = {4, 0, (unsigned)chunk_bytes};
        rc = zt__codec_from_hdf5(ZT_H5W_LZF_ID, cd, 3, a->dt.size, "lzf", &a->comp);
        a->comp_optional = true;
    }
    return rc;
}

static int zt__h5w_array(zt_wbackend *b, const zt_warr_spec *sp, zt_warr **out) {
    zt_h5w *w = (zt_h5w *)b;
    *out = NULL;
    if (!sp->path || sp->ndim < 0 || sp->ndim > ZT_MAXDIM)
        return zt__err(ZT_EINVAL, "%s: %s: bad array rank %d", w->base.url, sp->path ? sp->path : "", sp->ndim);
    hid_t ftype = zt__h5w_type(sp->dtype, false), mtype = zt__h5w_type(sp->dtype, sp->dtype.big_endian);
    if (ftype < 0) return zt__err(ZT_EUNSUPPORTED, "%s: %s: dtype not supported by the H5MD writer", w->base.url, sp->path);
    zt_warr *a = calloc(1, sizeof *a);
    if (!a || !(a->path = strdup(sp->path))) {
        free(a);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    a->did = -1;
    a->dt = sp->dtype;
    a->ftype = ftype;
    a->mtype = mtype;
    a->ndim = sp->ndim;
    a->bulk = sp->bulk;
    a->index = sp->index;
    zt__buf_init(&a->buf);
    int rc = 0;
    hsize_t maxdims[ZT_MAXDIM];
    size_t rowbytes = sp->dtype.size; /* bytes per chunk row */
    for (int d = 0; d < sp->ndim && !rc; d++) {
        if (sp->shape[d] < 0) rc = zt__err(ZT_EINVAL, "%s: %s: negative shape", w->base.url, sp->path);
        a->dims[d] = (hsize_t)(sp->shape[d] > 0 ? sp->shape[d] : 0);
        maxdims[d] = d == 0 ? H5S_UNLIMITED : a->dims[d];
        /* HDF5 chunks cannot have zero extent: an empty axis grows instead */
        a->cdims[d] = d == 0 ? 1 : a->dims[d] ? a->dims[d] : 1;
        if (d > 0 && !a->dims[d]) maxdims[d] = H5S_UNLIMITED;
        if (d > 0 && !zt__mulz_ok(rowbytes, (size_t)a->cdims[d], &rowbytes))
            rc = zt__err(ZT_EOVERFLOW, "%s: %s: rows too large", w->base.url, sp->path);
    }
    if (!rc && sp->ndim > 0 && a->dims[0] != 0)
        rc = zt__err(ZT_EINVAL, "%s: %s: arrays start empty", w->base.url, sp->path);
    a->rowbytes = rowbytes;
    for (int d = 1; d < sp->ndim; d++)
        if (!a->dims[d]) a->rowbytes = 0;
    if (!rc && sp->ndim > 0) {
        if (rowbytes > ZT_H5W_MAX_CHUNK)
            rc = zt__err(ZT_EUNSUPPORTED, "%s: %s: one row (%zu bytes) exceeds HDF5's 4 GiB chunk limit", w->base.url,
                         sp->path, rowbytes);
        size_t cap = !sp->bulk ? ZT_H5W_SMALL_CHUNK : sp->compressor ? ZT_H5W_BULK_CHUNK_Z : ZT_H5W_BULK_CHUNK;
        a->crow = zt__h5w_chunk_rows(sp->chunks[0], rowbytes, cap);
        if (!rc && (size_t)a->crow > ZT_H5W_MAX_CHUNK / rowbytes) a->crow = (int64_t)(ZT_H5W_MAX_CHUNK / rowbytes);
        a->cdims[0] = (hsize_t)a->crow;
    }
    size_t chunk_bytes = sp->ndim > 0 ? rowbytes * (size_t)a->crow : sp->dtype.size;
    if (!rc && sp->ndim > 0 && sp->bulk) rc = zt__h5w_codecs(a, sp->compressor, chunk_bytes);
    if (!rc && sp->precision >= 0 && sp->dtype.kind == 'f') {
        char dts[8];
        rc = zt__codec_quantize_new(sp->precision, zt__dtype_to_str(sp->dtype, dts), &a->quant);
    }
    if (rc) {
        zt__h5w_arr_free(a);
        return rc;
    }
    zt__hdf5_lock();
    hid_t space = sp->ndim ? H5Screate_simple(sp->ndim, a->dims, maxdims) : H5Screate(H5S_SCALAR);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (space < 0 || dcpl < 0) rc = zt__h5w_fail(w, sp->path, "cannot create property lists");
    /* no timestamps: the same input gives the same bytes */
    if (!rc && H5Pset_obj_track_times(dcpl, 0) < 0) rc = zt__h5w_fail(w, sp->path, "cannot set the dataset properties");
    if (!rc && sp->ndim > 0 && H5Pset_chunk(dcpl, sp->ndim, a->cdims) < 0)
        rc = zt__h5w_fail(w, sp->path, "cannot set the chunk shape");
    /* the filters readers will apply (we encode the chunks ourselves) */
    if (!rc && sp->ndim > 0 && sp->bulk) rc = zt__h5w_set_filters(dcpl, sp->compressor, chunk_bytes, w->base.url, sp->path);
    if (!rc) {
        a->did = H5Dcreate2(w->fid, sp->path, ftype, space, w->lcpl, dcpl, H5P_DEFAULT);
        if (a->did < 0) rc = zt__h5w_fail(w, sp->path, "cannot create the dataset");
    }
    if (!rc && sp->ndim > 0 && a->rowbytes) {
        /* libhdf5 creates the chunk index only for a non-empty extent, and
         * H5Dwrite_chunk cannot: make it now with a throw-away chunk (never
         * flushed; removed by shrinking back to zero rows). */
        hsize_t nd[ZT_MAXDIM], off[ZT_MAXDIM] = {0};
        memcpy(nd, a->dims, sizeof nd);
        nd[0] = 1;
        uint64_t junk = 0;
        if (H5Dset_extent(a->did, nd) < 0 || H5Dwrite_chunk(a->did, H5P_DEFAULT, 0, off, sizeof junk, &junk) < 0 ||
            H5Dset_extent(a->did, a->dims) < 0)
            rc = zt__h5w_fail(w, sp->path, "cannot create the chunk index");
    }
    if (!rc) rc = zt__h5w_attrs(w, a->did, sp->path, sp->attrs);
    if (space >= 0) H5Sclose(space);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (!rc) {
        zt_warr **p = realloc(w->arr, (w->narr + 1) * sizeof *p);
        if (!p) rc = zt__err(ZT_ENOMEM, "out of memory");
        else {
            w->arr = p;
            w->arr[w->narr++] = a;
        }
    }
    if (rc) zt__h5w_arr_free(a);
    zt__hdf5_unlock();
    if (!rc) *out = a;
    return rc;
}

/* Read rows [r0, r0+n) of the file into dst. Lock held. */
static int zt__h5w_get(zt_h5w *w, zt_warr *a, int64_t r0, int64_t n, void *dst) {
    if (n <= 0) return 0;
    hsize_t start[ZT_MAXDIM] = {0}, count[ZT_MAXDIM];
    memcpy(count, a->dims, sizeof count);
    start[0] = (hsize_t)r0;
    count[0] = (hsize_t)n;
    hid_t fs = H5Dget_space(a->did), ms = H5Screate_simple(a->ndim, count, NULL);
    int rc = 0;
    if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        H5Dread(a->did, a->mtype, ms, fs, H5P_DEFAULT, dst) < 0)
        rc = zt__h5w_fail(w, a->path, "cannot read back rows");
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    return rc;
}

static int zt__h5w_rows(zt_wbackend *b, zt_warr *a, int64_t row0, int64_t nrows, const void *data) {
    zt_h5w *w = (zt_h5w *)b;
    if (a->ndim < 1) return zt__err(ZT_EINVAL, "%s: %s: write_rows on a scalar", w->base.url, a->path);
    if (row0 < 0 || nrows < 0) return zt__err(ZT_EINVAL, "%s: %s: bad row range", w->base.url, a->path);
    /* Rows already held are never changed by the front end, which rewrites
     * its partial last chunk: skip them. */
    int64_t have = a->buf0 + a->nbuf;
    if (row0 > have)
        return zt__err(ZT_EINVAL, "%s: %s: write at row %lld leaves a gap after row %lld", w->base.url, a->path,
                       (long long)row0, (long long)have);
    int64_t skip = have - row0;
    if (skip >= nrows) return 0;
    int64_t n = nrows - skip;
    size_t nbytes, old = a->boff + (size_t)a->nbuf * a->rowbytes;
    if (!zt__mulz_ok((size_t)n, a->rowbytes, &nbytes) || old + nbytes < old)
        return zt__err(ZT_EOVERFLOW, "%s: %s: too many rows", w->base.url, a->path);
    const uint8_t *src = (const uint8_t *)data + (size_t)skip * a->rowbytes;
    if (a->quant && nbytes) {
        int rc = a->quant->vt->encode(a->quant, src, nbytes, &w->qbuf);
        if (rc) return zt__err_prefix(rc, "%s: %s: ", w->base.url, a->path);
        if (w->qbuf.len != nbytes) return zt__err(ZT_ECORRUPT, "%s: %s: quantize changed the size", w->base.url, a->path);
        src = w->qbuf.data;
    }
    int rc = zt__buf_resize(&a->buf, old + nbytes);
    if (rc) return rc;
    if (nbytes) memcpy(a->buf.data + old, src, nbytes);
    a->nbuf += n;
    return 0;
}

static int zt__h5w_scalar(zt_wbackend *b, zt_warr *a, const void *value) {
    zt_h5w *w = (zt_h5w *)b;
    if (a->ndim != 0) return zt__err(ZT_EINVAL, "%s: %s: write_scalar on an array", w->base.url, a->path);
    const void *src = value;
    if (a->quant) {
        int rc = a->quant->vt->encode(a->quant, value, a->dt.size, &w->qbuf);
        if (rc) return zt__err_prefix(rc, "%s: %s: ", w->base.url, a->path);
        src = w->qbuf.data;
    }
    int rc = 0;
    zt__hdf5_lock();
    if (H5Dwrite(a->did, a->mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, src) < 0)
        rc = zt__h5w_fail(w, a->path, "cannot write the value");
    zt__hdf5_unlock();
    if (!rc) w->any_rows = true;
    return rc;
}

static int zt__h5w_set_rows(zt_wbackend *b, zt_warr *a, int64_t rows) {
    zt_h5w *w = (zt_h5w *)b;
    if (a->ndim < 1) return 0;
    if (rows < (int64_t)a->dims[0])
        return zt__err(ZT_EINVAL, "%s: %s: cannot shrink from %lld to %lld rows", w->base.url, a->path,
                       (long long)a->dims[0], (long long)rows);
    if (rows > a->buf0 + a->nbuf)
        return zt__err(ZT_EINVAL, "%s: %s: %lld rows committed but only %lld written", w->base.url, a->path,
                       (long long)rows, (long long)(a->buf0 + a->nbuf));
    a->committed = rows;
    if (rows > 0) w->any_rows = true;
    return 0;
}

/* Encode the chunk starting at row0 (held in a->buf) as libhdf5's filter
 * pipeline would, zero-padded to full size as libhdf5 stores edge chunks;
 * e->mask marks an optional filter (LZF) skipped because the chunk did not
 * shrink. Touches only e and reads a: runs on pool threads. */
static int zt__h5w_encode(const zt_warr *a, int64_t row0, zt_h5wenc *e) {
    int64_t n = a->buf0 + a->nbuf - row0;
    if (n > a->crow) n = a->crow;
    size_t cb = (size_t)a->crow * a->rowbytes, nb = (size_t)(n > 0 ? n : 0) * a->rowbytes;
    const uint8_t *src = a->buf.data + a->boff + (size_t)(row0 - a->buf0) * a->rowbytes;
    zt_buf *bufs[2] = {&e->t1, &e->t2};
    int k = 0, rc;
    if (nb < cb) {
        if ((rc = zt__buf_resize(&e->t1, cb))) return rc;
        if (nb) memcpy(e->t1.data, src, nb);
        memset(e->t1.data + nb, 0, cb - nb);
        src = e->t1.data;
        k = 1;
    }
    e->data = src;
    e->n = cb;
    e->mask = 0;
    if (a->shuffle) {
        if ((rc = a->shuffle->vt->encode(a->shuffle, e->data, e->n, bufs[k]))) return rc;
        e->data = bufs[k]->data;
        e->n = bufs[k]->len;
        k ^= 1;
    }
    if (a->comp) {
        rc = a->comp->vt->encode(a->comp, e->data, e->n, bufs[k]);
        if (a->comp_optional && (rc || bufs[k]->len >= e->n)) {
            zt__err_clear();
            e->mask = 1u << (a->shuffle ? 1 : 0);
            return 0;
        }
        if (rc) return rc;
        e->data = bufs[k]->data;
        e->n = bufs[k]->len;
    }
    return 0;
}

/* Store the chunk at buf0 (encoded ahead, or now). */
static int zt__h5w_write_chunk(zt_h5w *w, zt_warr *a) {
    zt_h5wenc *e = &w->enc;
    int rc = 0;
    if (a->npre && a->buf0 >= a->pre0 && (size_t)((a->buf0 - a->pre0) / a->crow) < a->npre)
        e = &a->pre[(a->buf0 - a->pre0) / a->crow];
    else if ((rc = zt__h5w_encode(a, a->buf0, e)))
        return zt__err_prefix(rc, "%s: %s: ", w->base.url, a->path);
    if (e->n > ZT_H5W_MAX_CHUNK) return zt__err(ZT_EOVERFLOW, "%s: %s: encoded chunk over 4 GiB", w->base.url, a->path);
    hsize_t off[ZT_MAXDIM] = {0};
    off[0] = (hsize_t)a->buf0;
    zt__hdf5_lock();
    if (H5Dwrite_chunk(a->did, H5P_DEFAULT, e->mask, off, e->n, e->data) < 0) {
        char what[96];
        snprintf(what, sizeof what, "cannot write the chunk at row %lld", (long long)a->buf0);
        rc = zt__h5w_fail(w, a->path, what);
    }
    zt__hdf5_unlock();
    return rc;
}

/* ---- encoding ahead, in parallel ----------------------------------------------------------- */
typedef struct zt_h5wtask {
    const zt_warr *a;
    int64_t row0;
    zt_h5wenc *e;
    int rc;
    char msg[512];
} zt_h5wtask;

typedef struct zt_h5wjobs {
    zt_h5wtask *tasks;
    size_t n;
    atomic_size_t next;
} zt_h5wjobs;

static void *zt__h5w_worker(void *p) {
    zt_h5wjobs *j = p;
    for (size_t i; (i = atomic_fetch_add(&j->next, 1)) < j->n;) {
        zt_h5wtask *t = &j->tasks[i];
        t->rc = zt__h5w_encode(t->a, t->row0, t->e);
        if (t->rc) snprintf(t->msg, sizeof t->msg, "%s", zt_last_error()); /* thread-local there */
    }
    return NULL;
}

/* Encode every compressed chunk this commit will write, on threads of our
 * own: the process-wide pool has no threads in a child forked after it
 * started (a writer in a forked worker would wait forever). */
static int zt__h5w_preencode(zt_h5w *w) {
    size_t ntask = 0;
    for (size_t i = 0; i < w->narr; i++) {
        zt_warr *a = w->arr[i];
        if (a->ndim < 1 || a->linked || !a->comp || !a->rowbytes || (int64_t)a->dims[0] >= a->committed) continue;
        size_t k = (size_t)((a->committed - a->buf0 + a->crow - 1) / a->crow);
        a->pre = calloc(k, sizeof *a->pre);
        if (!a->pre) return zt__err(ZT_ENOMEM, "out of memory");
        a->npre = k;
        a->pre0 = a->buf0;
        ntask += k;
    }
    if (ntask < 2) { /* nothing to gain: encode at write time */
        for (size_t i = 0; i < w->narr; i++) zt__h5w_pre_free(w->arr[i]);
        return 0;
    }
    zt_h5wtask *tasks = calloc(ntask, sizeof *tasks);
    if (!tasks) return zt__err(ZT_ENOMEM, "out of memory");
    size_t t = 0;
    for (size_t i = 0; i < w->narr; i++)
        for (size_t j = 0; j < w->arr[i]->npre; j++)
            tasks[t++] = (zt_h5wtask){w->arr[i], w->arr[i]->pre0 + (int64_t)j * w->arr[i]->crow, &w->arr[i]->pre[j], 0, ""};
    zt_h5wjobs jobs = {tasks, ntask, 0};
    pthread_t th[16];
    int nth = zt__ncpu() - 1, started = 0;
    if (nth > 16) nth = 16;
    if ((size_t)nth > ntask - 1) nth = (int)(ntask - 1);
    for (int i = 0; i < nth; i++)
        if (pthread_create(&th[started], NULL, zt__h5w_worker, &jobs) == 0) started++;
    zt__h5w_worker(&jobs);
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    int rc = 0;
    for (size_t i = 0; i < ntask && !rc; i++)
        if (tasks[i].rc) rc = zt__err(tasks[i].rc, "%s: %s: %s", w->base.url, tasks[i].a->path, tasks[i].msg);
    free(tasks);
    return rc;
}

/* Write the end of allocation into the on-disk superblock (version 0 or 1,
 * the only ones we create; they carry no checksum) before H5Fflush: libhdf5
 * flushes the superblock last, after the chunk index, so a kill inside a flush
 * would leave index entries past the end of allocation the file declares, which
 * h5py refuses to read ("addr overflow"). The flush then writes the same value.
 * Lock held. */
static int zt__h5w_patch_eoa(zt_h5w *w, haddr_t eoa) {
    static const uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    uint8_t sb[64];
    int fd = open(w->file, O_RDWR);
    if (fd < 0) return zt__err(ZT_EIO, "%s: cannot open the file: %s", w->base.url, strerror(errno));
    int rc = 0;
    ssize_t n = pread(fd, sb, sizeof sb, 0);
    unsigned ver = n >= 16 ? sb[8] : 99, osz = n >= 16 ? sb[13] : 0;
    if (n >= 16 && !memcmp(sb, sig, 8) && ver <= 1 && (osz == 4 || osz == 8)) {
        size_t at = (ver ? 28u : 24u) + 2u * osz; /* past base and free-space addresses */
        uint64_t base = 0, cur = 0;
        for (unsigned i = 0; i < osz && at + osz <= (size_t)n; i++) {
            base |= (uint64_t)sb[at - 2 * osz + i] << (8 * i);
            cur |= (uint64_t)sb[at + i] << (8 * i);
        }
        uint64_t rel = (uint64_t)eoa - base;
        if (at + osz <= (size_t)n && base <= (uint64_t)eoa && rel > cur && (osz == 8 || rel <= UINT32_MAX)) {
            uint8_t le[8];
            for (unsigned i = 0; i < osz; i++) le[i] = (uint8_t)(rel >> (8 * i));
            if (pwrite(fd, le, osz, (off_t)at) != (ssize_t)osz)
                rc = zt__err(ZT_EIO, "%s: cannot write the superblock: %s", w->base.url, strerror(errno));
        }
    }
    close(fd);
    return rc;
}

/* H5Fflush, with the file first extended to libhdf5's end of allocation: a
 * flush can write the superblock (with that end) before it extends the file,
 * and a file shorter than its superblock says is "truncated" to every reader.
 * Lock held. */
static int zt__h5w_flush(zt_h5w *w) {
    haddr_t eoa = 0;
    struct stat st;
    if (H5Fget_eoa(w->fid, &eoa) >= 0 && eoa != HADDR_UNDEF && stat(w->file, &st) == 0 && (haddr_t)st.st_size < eoa &&
        truncate(w->file, (off_t)eoa) != 0)
        return zt__err(ZT_EIO, "%s: cannot extend the file: %s", w->base.url, strerror(errno));
    if (eoa != HADDR_UNDEF && eoa > 0) {
        int rc = zt__h5w_patch_eoa(w, eoa);
        if (rc) return rc;
    }
    H5Eclear2(H5E_DEFAULT);
    if (H5Fflush(w->fid, H5F_SCOPE_GLOBAL) < 0) return zt__h5w_fail(w, "/", "cannot flush the file");
    return 0;
}

static zt_warr *zt__h5w_primary(zt_h5w *w, const char *step_path);
static zt_warr *zt__h5w_find(zt_h5w *w, const char *path);

/* Commit classes, grown and flushed in this order: 0 step and time, but for
 * the particle group's primary step (that of the first of position, velocity,
 * force), 1 the other arrays, 2 the primary element's step and value together.
 * MDAnalysis iterates until the primary step ends and reads every other array
 * at those frames; our reader and h5py users need a step and time for every
 * value row. A kill between two flushes satisfies both (step and time may run
 * ahead of the values, which readers ignore); only a kill inside the last
 * flush, between the two object headers it writes, can leave the primary
 * element's step and value one sync apart. */
static int zt__h5w_class(zt_h5w *w, const zt_warr *a) {
    if (!strncmp(a->path, "particles/", 10)) {
        bool is_step = zt__str_endswith(a->path, "/step"), is_value = zt__str_endswith(a->path, "/value");
        if (is_step && zt__h5w_primary(w, a->path) == a) return 2;
        if (is_value) {
            size_t l = strlen(a->path) - 5; /* "value" */
            char *sp = zt__asprintf("%.*sstep", (int)l, a->path);
            zt_warr *st = sp ? zt__h5w_find(w, sp) : NULL;
            bool primary = st && zt__h5w_primary(w, sp) == st;
            free(sp);
            if (primary) return 2;
        }
    }
    return a->index ? 0 : 1;
}

/* Grow the extents of the arrays of one commit class to their stage target,
 * then flush. Lock held. */
static int zt__h5w_grow(zt_h5w *w, int cls) {
    int rc = 0;
    for (size_t i = 0; i < w->narr && !rc; i++) {
        zt_warr *a = w->arr[i];
        if (a->next <= (int64_t)a->dims[0] || zt__h5w_class(w, a) != cls) continue;
        hsize_t nd[ZT_MAXDIM];
        memcpy(nd, a->dims, sizeof nd);
        nd[0] = (hsize_t)a->next;
        if (H5Dset_extent(a->did, nd) < 0) rc = zt__h5w_fail(w, a->path, "cannot extend the dataset");
        else a->dims[0] = nd[0];
    }
    if (!rc) rc = zt__h5w_flush(w);
    return rc;
}

/* Bring every extent to its committed rows in stages of at most one chunk
 * per array: write the chunks and flush (data + index under the old
 * extents), then grow the extents class by class (zt__h5w_class), a flush each. */
static int zt__h5w_commit_stages(zt_h5w *w);

static int zt__h5w_commit(zt_h5w *w) {
    int rc = zt__h5w_preencode(w);
    if (!rc) rc = zt__h5w_commit_stages(w);
    for (size_t i = 0; i < w->narr; i++) {
        zt_warr *a = w->arr[i];
        zt__h5w_pre_free(a);
        if (a->boff) { /* drop the rows now on disk in whole chunks, once */
            size_t keep = a->buf.len - a->boff;
            if (keep) memmove(a->buf.data, a->buf.data + a->boff, keep);
            a->buf.len = keep;
            a->boff = 0;
        }
    }
    return rc;
}

static int zt__h5w_commit_stages(zt_h5w *w) {
    for (;;) {
        bool any = false;
        for (size_t i = 0; i < w->narr; i++) {
            zt_warr *a = w->arr[i];
            a->next = (int64_t)a->dims[0];
            if (a->ndim < 1 || a->linked || (int64_t)a->dims[0] >= a->committed) continue;
            int rc = a->rowbytes ? zt__h5w_write_chunk(w, a) : 0;
            if (rc) return rc;
            a->next = a->buf0 + a->crow < a->committed ? a->buf0 + a->crow : a->committed;
            any = true;
        }
        if (!any) return 0;
        zt__hdf5_lock();
        int rc = zt__h5w_flush(w);
        for (int cls = 0; cls < 3 && !rc; cls++) rc = zt__h5w_grow(w, cls);
        zt__hdf5_unlock();
        if (rc) return rc;
        for (size_t i = 0; i < w->narr; i++) {
            zt_warr *a = w->arr[i];
            if (a->ndim < 1 || (int64_t)a->dims[0] != a->buf0 + a->crow) continue;
            /* that chunk is complete on disk: drop it */
            a->boff += (size_t)a->crow * a->rowbytes;
            a->buf0 += a->crow;
            a->nbuf -= a->crow;
        }
    }
}

static int zt__h5w_sync(zt_wbackend *b) {
    zt_h5w *w = (zt_h5w *)b;
    int rc = zt__h5w_commit(w);
    if (!rc) {
        /* groups and attributes created since the last commit */
        zt__hdf5_lock();
        rc = zt__h5w_flush(w);
        zt__hdf5_unlock();
    }
    return rc;
}

/* ---- hard links at close ----------------------------------------------------------------- */
static zt_warr *zt__h5w_find(zt_h5w *w, const char *path) {
    for (size_t i = 0; i < w->narr; i++)
        if (!strcmp(w->arr[i]->path, path)) return w->arr[i];
    return NULL;
}

/* The step array step/time link to: position's (else velocity's, else
 * force's) in the same particle group; for observables, that of the only
 * particle group. */
static zt_warr *zt__h5w_primary(zt_h5w *w, const char *step_path) {
    const char *g = NULL; /* the group's name: g[0..gl) */
    size_t gl = 0;
    if (!strncmp(step_path, "particles/", 10)) {
        const char *s = step_path + 10, *e = strchr(s, '/');
        if (!e) return NULL;
        g = s;
        gl = (size_t)(e - s);
    } else if (!strncmp(step_path, "observables/", 12)) {
        for (size_t i = 0; i < w->narr; i++) {
            const char *p = w->arr[i]->path;
            if (strncmp(p, "particles/", 10)) continue;
            const char *s = p + 10, *e = strchr(s, '/');
            if (!e) continue;
            if (g && (gl != (size_t)(e - s) || strncmp(g, s, gl))) return NULL; /* several groups */
            g = s;
            gl = (size_t)(e - s);
        }
        if (!g) return NULL;
    } else {
        return NULL;
    }
    static const char *el[] = {"position", "velocity", "force"};
    for (int k = 0; k < 3; k++) {
        char *p = zt__asprintf("particles/%.*s/%s/step", (int)gl, g, el[k]);
        zt_warr *a = p ? zt__h5w_find(w, p) : NULL;
        free(p);
        if (a && !a->linked) return a;
    }
    return NULL;
}

/* Whether two committed 1-d arrays hold the same bytes. Lock held. */
static int zt__h5w_same(zt_h5w *w, zt_warr *a, zt_warr *p, bool *same) {
    *same = false;
    if (a->committed != p->committed || a->ndim != 1 || p->ndim != 1 || a->rowbytes != p->rowbytes ||
        a->dt.kind != p->dt.kind || a->ftype != p->ftype || (int64_t)a->dims[0] != a->committed ||
        (int64_t)p->dims[0] != p->committed)
        return 0;
    size_t blk = (size_t)ZT_H5W_CMP_ROWS * a->rowbytes;
    int rc = zt__buf_resize(&w->rbuf, 2 * blk);
    for (int64_t r = 0; !rc && r < a->committed; r += ZT_H5W_CMP_ROWS) {
        int64_t n = a->committed - r < ZT_H5W_CMP_ROWS ? a->committed - r : ZT_H5W_CMP_ROWS;
        rc = zt__h5w_get(w, a, r, n, w->rbuf.data);
        if (!rc) rc = zt__h5w_get(w, p, r, n, w->rbuf.data + blk);
        if (!rc && memcmp(w->rbuf.data, w->rbuf.data + blk, (size_t)n * a->rowbytes)) return 0;
    }
    if (!rc) *same = true;
    return rc;
}

static int zt__h5w_link(zt_h5w *w, zt_warr *a, zt_warr *p) {
    H5Dclose(a->did);
    a->did = -1;
    a->linked = true;
    if (H5Ldelete(w->fid, a->path, H5P_DEFAULT) < 0) return zt__h5w_fail(w, a->path, "cannot remove for a hard link");
    if (H5Lcreate_hard(w->fid, p->path, w->fid, a->path, w->lcpl, H5P_DEFAULT) < 0)
        return zt__h5w_fail(w, a->path, "cannot create the hard link");
    return 0;
}

/* Replace step (and then time) datasets sampled like the primary by hard
 * links to the primary's (H5MD requires it for box/edges). Lock held. */
static int zt__h5w_links(zt_h5w *w) {
    int rc = 0;
    for (size_t i = 0; i < w->narr && !rc; i++) {
        zt_warr *a = w->arr[i];
        if (a->linked || !zt__str_endswith(a->path, "/step")) continue;
        zt_warr *p = zt__h5w_primary(w, a->path);
        bool same = false;
        if (!p || p == a || (rc = zt__h5w_same(w, a, p, &same)) || !same) continue;
        size_t la = strlen(a->path), lp = strlen(p->path);
        char *at = zt__asprintf("%.*stime", (int)(la - 4), a->path), *pt = zt__asprintf("%.*stime", (int)(lp - 4), p->path);
        if (!at || !pt) rc = zt__err(ZT_ENOMEM, "out of memory");
        zt_warr *ta = at ? zt__h5w_find(w, at) : NULL, *tp = pt ? zt__h5w_find(w, pt) : NULL;
        free(at);
        free(pt);
        if (!rc) rc = zt__h5w_link(w, a, p);
        same = false;
        if (!rc && ta && tp && !ta->linked && !tp->linked) rc = zt__h5w_same(w, ta, tp, &same);
        if (!rc && same) rc = zt__h5w_link(w, ta, tp);
    }
    return rc;
}

/* ---- open / close ---------------------------------------------------------------------------- */
static void zt__h5w_free(zt_h5w *w) {
    for (size_t i = 0; i < w->narr; i++) zt__h5w_arr_free(w->arr[i]);
    free(w->arr);
    zt__buf_free(&w->qbuf);
    zt__buf_free(&w->rbuf);
    zt__h5w_enc_free(&w->enc);
    zt__store_close(w->s);
    free(w->file);
    free(w->base.url);
    free(w);
}

static int zt__h5w_close(zt_wbackend *b, bool ok) {
    zt_h5w *w = (zt_h5w *)b;
    int rc = 0;
    /* after a failure the file stays as of the last sync, as a killed
     * writer leaves it */
    if (ok) rc = zt__h5w_commit(w);
    zt__hdf5_lock();
    if (!rc && ok) rc = zt__h5w_links(w);
    for (size_t i = 0; i < w->narr; i++) {
        zt_warr *a = w->arr[i];
        if (a->did >= 0 && H5Dclose(a->did) < 0 && !rc) rc = zt__h5w_fail(w, a->path, "cannot close the dataset");
        a->did = -1;
    }
    if (w->lcpl >= 0) H5Pclose(w->lcpl);
    if (w->fid >= 0 && H5Fclose(w->fid) < 0 && !rc) rc = zt__h5w_fail(w, "/", "cannot close the file");
    H5Eclear2(H5E_DEFAULT);
    zt__hdf5_unlock();
    if (w->remote) {
        if (ok && !rc) {
            rc = zt__store_put_file(w->s, "", w->file, NULL, NULL);
            if (rc) rc = zt__err_prefix(rc, "%s: upload: ", w->base.url);
        }
        unlink(w->file);
    } else if (!ok && !w->any_rows) {
        unlink(w->file); /* failed before any data: leave nothing behind */
    }
    zt__h5w_free(w);
    return rc;
}

static const zt_wbackend_vt zt__h5w_vt = {zt__h5w_group, zt__h5w_array, zt__h5w_rows, zt__h5w_scalar,
                                          zt__h5w_set_rows, zt__h5w_sync, zt__h5w_close};

/* Local path (no store I/O) or remote destination + temporary file. */
static int zt__h5w_target(zt_h5w *w, const char *url, const zt_options_t *opts, bool overwrite) {
    zt_store *s = NULL;
    int rc = zt__store_open(url, opts, &s);
    if (rc) return rc;
    if (zt__store_can(s, ZT_STORE_CAP_LOCAL_PATH) && s->local_path) {
        w->file = strdup(s->local_path);
        zt__store_close(s);
        if (!w->file) return zt__err(ZT_ENOMEM, "out of memory");
        struct stat st;
        if (stat(w->file, &st) == 0) {
            if (S_ISDIR(st.st_mode)) return zt__err(ZT_EEXIST, "%s: a directory exists at this path", url);
            if (!overwrite) return zt__err(ZT_EEXIST, "%s: the file already exists (use overwrite)", url);
        }
        return 0;
    }
    w->s = s;
    w->remote = true;
    zt_stat st;
    rc = zt__store_head(s, "", &st);
    if (rc == 0 && !overwrite) return zt__err(ZT_EEXIST, "%s: the object already exists (use overwrite)", url);
    if (rc && rc != ZT_ENOTFOUND) return zt__err_prefix(rc, "%s: ", url);
    zt__err_clear();
    const char *tmp = getenv("TMPDIR");
    w->file = zt__asprintf("%s/zarrtraj-h5w-XXXXXX.h5md", tmp && *tmp ? tmp : "/tmp");
    if (!w->file) return zt__err(ZT_ENOMEM, "out of memory");
    int fd = mkstemps(w->file, 5);
    if (fd < 0) {
        int e = errno;
        free(w->file);
        w->file = NULL;
        return zt__err(ZT_EIO, "%s: cannot create a temporary file: %s", url, strerror(e));
    }
    close(fd);
    return 0;
}

int zt__h5writer_open(const char *url, const zt_options_t *opts, bool overwrite, zt_wbackend **out) {
    *out = NULL;
    zt_h5w *w = calloc(1, sizeof *w);
    if (!w) return zt__err(ZT_ENOMEM, "out of memory");
    w->base.vt = &zt__h5w_vt;
    w->base.obs_in_group = false; /* MDAnalysis: observables/<name> */
    w->fid = w->lcpl = -1;
    zt__buf_init(&w->qbuf);
    zt__buf_init(&w->rbuf);
    zt__buf_init(&w->enc.t1);
    zt__buf_init(&w->enc.t2);
    w->base.url = strdup(url);
    int rc = w->base.url ? zt__h5w_target(w, url, opts, overwrite) : zt__err(ZT_ENOMEM, "out of memory");
    bool created = false;
    if (!rc) {
        zt__hdf5_lock();
        rc = zt__h5w_lzf_register();
        hid_t fapl = rc ? -1 : H5Pcreate(H5P_FILE_ACCESS), fcpl = rc ? -1 : H5Pcreate(H5P_FILE_CREATE);
        if (!rc && (fapl < 0 || fcpl < 0)) rc = zt__h5w_fail(w, "/", "cannot create property lists");
        if (!rc) {
            /* metadata reaches the disk only at H5Fflush (see the top) */
            H5AC_cache_config_t mdc;
            memset(&mdc, 0, sizeof mdc);
            mdc.version = H5AC__CURR_CACHE_CONFIG_VERSION;
            if (H5Pget_mdc_config(fapl, &mdc) < 0) rc = zt__h5w_fail(w, "/", "cannot read the metadata cache configuration");
            mdc.evictions_enabled = 0;
            mdc.incr_mode = H5C_incr__off;
            mdc.flash_incr_mode = H5C_flash_incr__off;
            mdc.decr_mode = H5C_decr__off;
            if (!rc && H5Pset_mdc_config(fapl, &mdc) < 0) rc = zt__h5w_fail(w, "/", "cannot configure the metadata cache");
        }
        if (!rc && H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) rc = zt__h5w_fail(w, "/", "cannot set the close degree");
        if (!rc) {
            unsigned flags = w->remote || overwrite ? H5F_ACC_TRUNC : H5F_ACC_EXCL;
            w->fid = H5Fcreate(w->file, flags, fcpl, fapl);
            if (w->fid < 0) {
                struct stat st;
                rc = !w->remote && !overwrite && stat(w->file, &st) == 0
                         ? zt__err(ZT_EEXIST, "%s: the file already exists (use overwrite)", url)
                         : zt__h5w_fail(w, "/", "cannot create the HDF5 file");
                H5Eclear2(H5E_DEFAULT);
            } else {
                created = true;
            }
        }
        if (!rc) {
            w->lcpl = H5Pcreate(H5P_LINK_CREATE);
            if (w->lcpl < 0 || H5Pset_create_intermediate_group(w->lcpl, 1) < 0 ||
                H5Pset_char_encoding(w->lcpl, H5T_CSET_UTF8) < 0)
                rc = zt__h5w_fail(w, "/", "cannot create the link properties");
        }
        /* the root group was created without times; groups get none either */
        if (fapl >= 0) H5Pclose(fapl);
        if (fcpl >= 0) H5Pclose(fcpl);
        zt__hdf5_unlock();
    }
    if (rc) {
        zt__hdf5_lock();
        if (w->lcpl >= 0) H5Pclose(w->lcpl);
        if (w->fid >= 0) H5Fclose(w->fid);
        H5Eclear2(H5E_DEFAULT);
        zt__hdf5_unlock();
        if (w->file && (w->remote || created)) unlink(w->file);
        zt__h5w_free(w);
        return rc;
    }
    *out = &w->base;
    return 0;
}
