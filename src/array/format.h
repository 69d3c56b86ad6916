/* On-disk formats: the descriptor each format (zarr/, hdf5/, ...) fills in
 * and the writer back-end interface. The formats are listed in one table
 * (src/format/registry.c), which is all the layers above use: the array
 * layer and below never name a format.
 *
 * Writer back ends: the format-independent writer (traj/writer.c) buffers
 * frames per element and hands whole chunks of rows to a back end that knows
 * the container (Zarr: zwriter.c; HDF5: src/hdf5/). Arrays grow along axis 0. */
#ifndef ZT_FORMAT_H
#define ZT_FORMAT_H

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
    const json_t *filters;  /* numcodecs filter list (replaces precision's Quantize) or NULL */
    bool order_f;           /* chunks stored in Fortran order (Zarr only) */
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
    /* Set by the trajectory writer before each sync/close: the frames that
     * commit makes durable. A back end that commits in the background sets
     * logs_commits and logs "committed N frames" itself once they are. */
    int64_t commit_frames;
    bool logs_commits;
};

/* How a writer is opened (format-independent options). */
typedef struct zt_wopen {
    const zt_options_t *storage; /* may be NULL */
    bool overwrite;
    int zarr_format;             /* Zarr formats: 2 or 3 */
} zt_wopen;

/* Frame writer back ends: formats that store whole frames one after the
 * other (XTC) rather than growable arrays. The trajectory writer hands each
 * frame over as its caller gave it (the writer's units; see zt_fwopen). */
typedef struct zt_fwriter zt_fwriter;

typedef struct zt_fwopen {
    const zt_options_t *storage; /* may be NULL */
    bool overwrite;
    int64_t n_atoms;
    int precision;               /* decimal digits; -1 = the format's default */
    const char *length_unit;     /* of the frames' values; "" = none (the format's own) */
    const char *time_unit;
} zt_fwopen;

typedef struct zt_fwriter_vt {
    /* One frame (a frame without particle data carries observables only). */
    int (*write_frame)(zt_fwriter *w, const zt_wframe_t *f);
    /* Finish (ok = false: abandon after an error) and free. */
    int (*close)(zt_fwriter *w, bool ok);
} zt_fwriter_vt;

struct zt_fwriter {
    const zt_fwriter_vt *vt;
};

enum {
    ZT_FORMAT_NAME_ONLY = 1u << 0,     /* only for URLs it claims (never probed otherwise) */
    ZT_FORMAT_TRUST_NAME = 1u << 1,    /* a claimed URL on a store without LOW_LATENCY is opened
                                          without a probe (the open reports a wrong file itself) */
    ZT_FORMAT_DEFAULT_WRITER = 1u << 2, /* writes URLs no format claims */
    ZT_FORMAT_ZARR = 1u << 3,          /* a Zarr format (takes zarr_format) */
};

/* One on-disk format. Unused hooks are NULL. */
typedef struct zt_format {
    const char *name;   /* as zt_tree.format ("zarrmd", "h5md") */
    const char *what;   /* in messages: "a zarrmd hierarchy", "an HDF5 file" */
    unsigned flags;     /* ZT_FORMAT_* */
    /* The URL names this format (an extension, a scheme). */
    bool (*claims_url)(const char *url);
    /* Store for url (default zt__store_open). */
    int (*open_store)(const char *url, const zt_options_t *opts, zt_store **out);
    /* Cheap check of what the store holds: 1 = this format, ZT_ENOTFOUND =
     * nothing there, another error (message set) = something else is there. */
    int (*probe)(zt_store *s, const char *url);
    /* Open the tree, taking the store on success (the caller keeps it on
     * failure). ZT_ENOTFOUND when the store holds nothing of this format. */
    int (*open_tree)(zt_store *s, const char *url, const zt_options_t *opts, zt_tree **out);
    /* Writer back end for url (arrays of rows). */
    int (*open_writer)(const char *url, const zt_wopen *wo, zt_wbackend **out);
    /* Or a frame writer back end for url (takes no writer settings but
     * precision; ZT_EUNSUPPORTED for a claimed URL it cannot write). */
    int (*open_frame_writer)(const char *url, const zt_fwopen *wo, zt_fwriter **out);
    /* Compressor spec of the writer options (NULL = the format's default) ->
     * normalised config for this back end (*out NULL = none). */
    int (*writer_compressor)(const char *spec, json_t **out);
} zt_format;

#endif
