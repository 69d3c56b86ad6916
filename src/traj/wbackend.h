/* Writer back ends: the format-independent writer (writer.c) buffers frames
 * per element and hands whole chunks of rows to a back end that knows the
 * container (Zarr: zwriter.c; HDF5: src/hdf5/). Arrays grow along axis 0. */
#ifndef ZT_WBACKEND_H
#define ZT_WBACKEND_H

#include "array/array.h"

typedef struct zt_wbackend zt_wbackend;
typedef struct zt_warr zt_warr; /* back-end array handle */

typedef struct zt_warr_spec {
    const char *path;       /* "particles/trajectory/position/value" */
    zt_dtype dtype;
    int ndim;               /* >= 0; axis 0 grows (for ndim >= 1) */
    int64_t chunks[ZT_MAXDIM];
    int64_t shape[ZT_MAXDIM]; /* initial shape (axis 0 usually 0) */
    const json_t *compressor; /* numcodecs config or NULL (none) */
    int precision;          /* >= 0: quantize to this many decimal digits */
    const json_t *attrs;    /* object or NULL */
    bool bulk;              /* per-atom values: written in whole chunks (the partial
                               last one at close only); other arrays rewrite their
                               partial last chunk at every sync */
    int64_t inner_rows;     /* > 0 (Zarr v3): each chunk of chunks[0] rows is a shard of
                               inner chunks of inner_rows rows */
    bool index;             /* an element's step or time: at every commit the back
                               end grows these before the values they describe, so
                               a writer killed in between never leaves value rows
                               without their step and time (readers ignore the
                               trailing entries of a longer step/time) */
} zt_warr_spec;

typedef struct zt_wbackend_vt {
    int (*create_group)(zt_wbackend *b, const char *path, const json_t *attrs);
    int (*create_array)(zt_wbackend *b, const zt_warr_spec *spec, zt_warr **out);
    /* Write rows [row0, row0+nrows) from data (packed rows). row0 is always a
     * multiple of chunks[0]; a call may rewrite the last, partial chunk. */
    int (*write_rows)(zt_wbackend *b, zt_warr *a, int64_t row0, int64_t nrows, const void *data);
    /* Write a 0-d array's value. */
    int (*write_scalar)(zt_wbackend *b, zt_warr *a, const void *value);
    /* Commit: make the file valid with each array holding `rows` rows as last
     * set by set_rows (index arrays first, see zt_warr_spec.index). Called at
     * every chunk flush and at close. */
    int (*set_rows)(zt_wbackend *b, zt_warr *a, int64_t rows);
    int (*sync)(zt_wbackend *b);
    /* Finish (ok = false: abandon after an error) and free. */
    int (*close)(zt_wbackend *b, bool ok);
} zt_wbackend_vt;

struct zt_wbackend {
    const zt_wbackend_vt *vt;
    char *url;
    /* Observables at observables/<group>/<name> (Zarrtraj's zarrmd) rather
     * than observables/<name> (MDAnalysis' H5MD, whose reader expects every
     * child of observables/ to be an element). */
    bool obs_in_group;
};

/* Zarr (zarrmd) back end on any writable store. */
/* zarr_format: 2 or 3. */
int zt__zwriter_open(const char *url, const zt_options_t *opts, bool overwrite, int zarr_format, zt_wbackend **out);
#ifdef ZT_HAVE_HDF5
/* HDF5 (H5MD) back end: local path, or a temporary file uploaded at close. */
int zt__h5writer_open(const char *url, const zt_options_t *opts, bool overwrite, zt_wbackend **out);
/* H5MD compressor spec (NULL, "none", gzip/zlib, lzf, optionally with shuffle;
 * short form, JSON object or JSON list) -> normalised config for the HDF5
 * back end ({"id": "gzip", "level": 4, "shuffle": true}, NULL = none).
 * ZT_EUNSUPPORTED naming any other compressor. */
int zt__h5writer_compressor(const char *spec, json_t **out);
#endif

#endif
