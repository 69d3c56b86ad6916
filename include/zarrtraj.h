/*
 * zarrtraj: stream molecular-dynamics trajectories (H5MD and zarrmd) from local
 * disk and cloud object storage.
 *
 * One public header. Conventions:
 *  - every function that can fail returns int: 0 on success, a negative ZT_E*
 *    code otherwise; zt_last_error() then holds a message naming the file, the
 *    array path and the cause (thread-local, valid until the next failing call on
 *    the same thread);
 *  - handles are opaque; the _open/_create functions return them through an
 *    out-parameter and the _close/_free functions accept NULL;
 *  - the caller owns every output buffer; strings returned by the library live
 *    as long as the handle they came from unless documented otherwise;
 *  - option structs are initialised with their _DEFAULTS macro; string members
 *    are copied at open/create time, so they only need to live for the call.
 */
#ifndef ZARRTRAJ_H
#define ZARRTRAJ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define ZT_API __attribute__((visibility("default")))
#else
#define ZT_API
#endif

#define ZT_VERSION_MAJOR 0
#define ZT_VERSION_MINOR 1
#define ZT_VERSION_PATCH 0
#define ZT_VERSION_STRING "0.1.0"

/* Version of the library actually linked ("0.1.0"). Static storage. */
ZT_API const char *zt_version(void);

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* One table of error codes: XX(name, value, description). */
#define ZT_ERRNO_MAP(XX)                                                       \
    XX(EINVAL, -1, "invalid argument")                                         \
    XX(ENOMEM, -2, "out of memory")                                            \
    XX(EIO, -3, "I/O error")                                                   \
    XX(ENOTFOUND, -4, "not found")                                             \
    XX(EFORMAT, -5, "malformed metadata")                                      \
    XX(EUNSUPPORTED, -6, "unsupported feature")                                \
    XX(ECORRUPT, -7, "corrupt or undecodable data")                            \
    XX(ENOTH5MD, -8, "not an H5MD trajectory")                                 \
    XX(EVERSION, -9, "unsupported version")                                    \
    XX(ESHAPE, -10, "wrong rank or shape")                                     \
    XX(EMISMATCH, -11, "inconsistent lengths")                                 \
    XX(ERANGE, -12, "index out of range")                                      \
    XX(EOVERFLOW, -13, "size overflow")                                        \
    XX(EGROUP, -14, "particle group not chosen or not found")                  \
    XX(EAUTH, -15, "authentication or permission denied")                      \
    XX(ENET, -16, "network error")                                             \
    XX(ETIMEDOUT, -17, "timed out")                                            \
    XX(ECHANGED, -18, "object changed while being read")                       \
    XX(ENOTHDF5, -19, "not an HDF5 file")                                      \
    XX(ETRUNCATED, -20, "truncated file")                                      \
    XX(EEXIST, -21, "already exists")                                          \
    XX(ENODATA, -22, "no data for this frame")                                 \
    XX(ESTATE, -23, "invalid state")                                           \
    XX(EUNITS, -24, "unknown unit")                                            \
    XX(ECANCELED, -25, "canceled")

enum {
    ZT_OK = 0,
#define ZT__XX(name, val, desc) ZT_##name = (val),
    ZT_ERRNO_MAP(ZT__XX)
#undef ZT__XX
    ZT_ERR_MIN = -25
};

/* Description of an error code ("invalid argument"). Static storage. */
ZT_API const char *zt_strerror(int err);
/* Name of an error code ("ZT_EINVAL"). Static storage. */
ZT_API const char *zt_err_name(int err);
/* Detail of the last failure on this thread: names file, array path and cause.
 * Never NULL; "" when nothing failed yet. Valid until the next failing call. */
ZT_API const char *zt_last_error(void);

/* ------------------------------------------------------------------------ */
/* Storage options (fsspec-like storage_options)                             */
/* ------------------------------------------------------------------------ */

/* Key/value options understood by the stores (as fsspec's storage_options):
 * endpoint_url, anon, region, profile, key, secret, token, connection_string,
 * account_name, account_key, sas_token, ca_file, max_concurrency, retries,
 * timeout, deadline, backoff, part_size, multipart_threshold, list_page_size,
 * addressing_style, verify; HDF5 reading: index_cache, hdf5_initial_read,
 * hdf5_block_size, hdf5_readahead, hdf5_cache_bytes, hdf5_isolate, hdf5_timeout
 * (docs/hdf5.md). See docs/stores.md.
 * Keys and values are copied. */
typedef struct zt_options zt_options_t;

ZT_API int zt_options_create(zt_options_t **out);
ZT_API void zt_options_free(zt_options_t *opts);
/* Set (or replace) key; value NULL removes it. */
ZT_API int zt_options_set(zt_options_t *opts, const char *key, const char *value);
/* Parse "key=value" and set it. */
ZT_API int zt_options_set_kv(zt_options_t *opts, const char *key_eq_value);
/* Value for key or NULL; valid until the key is set again or opts freed. */
ZT_API const char *zt_options_get(const zt_options_t *opts, const char *key);
ZT_API size_t zt_options_count(const zt_options_t *opts);
/* i-th key/value pair (in insertion order); pointers as for zt_options_get. */
ZT_API int zt_options_item(const zt_options_t *opts, size_t i, const char **key,
                           const char **value);

/* ------------------------------------------------------------------------ */
/* Units                                                                     */
/* ------------------------------------------------------------------------ */

typedef enum zt_unit_kind {
    ZT_UNIT_LENGTH = 0,
    ZT_UNIT_TIME = 1,
    ZT_UNIT_VELOCITY = 2,
    ZT_UNIT_FORCE = 3
} zt_unit_kind_t;

/* Factor that converts a value in H5MD unit string `unit` to MDAnalysis' base
 * unit of `kind` (Angstrom, ps, Angstrom/ps, kJ/(mol Angstrom)):
 * base = value * factor. ZT_EUNITS for an unknown unit string. */
ZT_API int zt_unit_factor(zt_unit_kind_t kind, const char *unit, double *factor);

/* ------------------------------------------------------------------------ */
/* Reader                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct zt_reader zt_reader_t;

/* The per-particle time-dependent elements the frame API serves. */
typedef enum zt_element {
    ZT_POSITION = 0,
    ZT_VELOCITY = 1,
    ZT_FORCE = 2,
    ZT_BOX = 3, /* box/edges */
    ZT_N_ELEMENTS = 4
} zt_element_t;

typedef struct zt_reader_opts {
    const char *group;           /* particle group; NULL = the only one */
    size_t cache_bytes;          /* budget for decoded chunks; default 100 MiB (raised to
                                    one frame's chunks if smaller) */
    const zt_options_t *storage; /* storage options; may be NULL */
    int convert_units;           /* 1: frames in MDAnalysis base units */
    size_t readahead_bytes;      /* read-ahead window (default 256 MiB; local files use
                                    at most 64 MiB) in addition to cache_bytes: half
                                    for decoded chunks ahead, half for compressed
                                    chunks in flight (at least 32 MiB, also without
                                    read-ahead); 0 disables read-ahead. Chunk buffers
                                    >= 1 MiB are mapped, not malloc'd, so freed memory
                                    returns to the system. */
    int threads;                 /* decode threads; 0 = number of cores */
} zt_reader_opts_t;

#define ZT_READER_OPTS_DEFAULTS                                                \
    { NULL, (size_t)100 << 20, NULL, 0, (size_t)256 << 20, 0 }

/* One frame's metadata, filled by zt_reader_read_frame. */
typedef struct zt_frame {
    int64_t index;       /* frame number 0..n_frames-1 */
    int64_t step;        /* integration step */
    double time;         /* time (native or converted units); NaN when absent */
    int has_time;        /* 0 when the file stores no time for this frame */
    int has[ZT_N_ELEMENTS]; /* which elements are sampled at this frame */
    double box[3][3];    /* box vectors as rows; zero when no box */
    double dimensions[6];/* [a, b, c, alpha, beta, gamma], angles in degrees */
} zt_frame_t;

/* Storage description of one array (for info / diagnostics). */
typedef struct zt_array_info {
    const char *path;     /* path inside the file, e.g. particles/x/position/value */
    const char *dtype;    /* numpy-style dtype string, e.g. "<f4" */
    int ndim;
    int64_t shape[8];
    int64_t chunks[8];    /* equal to shape for contiguous storage */
    const char *codecs;   /* JSON: {"compressor":..., "filters":[...]} or HDF5 filters */
    const char *unit;     /* unit attribute of the value or NULL */
} zt_array_info_t;

/* Generic per-file data: observables and other particle elements. */
typedef enum zt_data_kind { ZT_DATA_OBSERVABLE = 0, ZT_DATA_PARTICLE = 1 } zt_data_kind_t;

typedef struct zt_data_info {
    const char *name;     /* observables: "temperature", "trajectory/temperature";
                             particle elements: "species", "image", ... */
    const char *path;     /* full path inside the file */
    zt_data_kind_t kind;
    int time_dependent;   /* 0: one value for the whole trajectory */
    int64_t n_samples;    /* time-dependent: number of samples; else 1 */
    int ndim;             /* rank of one sample */
    int64_t shape[8];     /* shape of one sample */
    int64_t sample_size;  /* product of shape */
    const char *dtype;
    const char *unit;     /* or NULL */
    int has_time;         /* time-dependent: whether a time array exists */
} zt_data_info_t;

/* Open a trajectory: local path, file:// URL or (with the cloud stores) any
 * supported URL. Format is detected (zarrmd hierarchy or HDF5 file). */
ZT_API int zt_reader_open(const char *url, const zt_reader_opts_t *opts,
                          zt_reader_t **out);
ZT_API void zt_reader_close(zt_reader_t *r);

ZT_API const char *zt_reader_format(const zt_reader_t *r); /* "zarrmd", "h5md" */
ZT_API const char *zt_reader_group(const zt_reader_t *r);  /* chosen group */
ZT_API size_t zt_reader_n_groups(const zt_reader_t *r);
ZT_API const char *zt_reader_group_name(const zt_reader_t *r, size_t i);
ZT_API int64_t zt_reader_n_frames(const zt_reader_t *r);
ZT_API int64_t zt_reader_n_atoms(const zt_reader_t *r);
/* Whether the element exists in the chosen group. */
ZT_API int zt_reader_has(const zt_reader_t *r, zt_element_t el);
/* Number of samples of an element (0 when absent). */
ZT_API int64_t zt_reader_n_samples(const zt_reader_t *r, zt_element_t el);
/* Native unit string of an element's value ("nm", ...) or NULL. */
ZT_API const char *zt_reader_unit(const zt_reader_t *r, zt_element_t el);
/* Native unit of time or NULL. */
ZT_API const char *zt_reader_time_unit(const zt_reader_t *r);
/* Box: "triclinic" (DxD matrix), "orthorhombic" (vector of lengths), "none". */
ZT_API const char *zt_reader_box_kind(const zt_reader_t *r);
/* Box boundary strings, dimension entries each "periodic" or "none". */
ZT_API int zt_reader_box_boundary(const zt_reader_t *r, int i, const char **out);
ZT_API int zt_reader_box_time_dependent(const zt_reader_t *r);
/* H5MD metadata; strings or NULL. */
ZT_API int zt_reader_h5md_version(const zt_reader_t *r, int *major, int *minor);
ZT_API const char *zt_reader_attr(const zt_reader_t *r, const char *which);
/* which: "author", "author_email", "creator", "creator_version" */

/* Storage info of an element's value array (ZT_ENOTFOUND when absent). */
ZT_API int zt_reader_array_info(const zt_reader_t *r, zt_element_t el,
                                zt_array_info_t *info);

/* Step and time of every frame: arrays of n_frames entries (caller-owned);
 * either may be NULL. Missing times are NaN. */
ZT_API int zt_reader_steps(zt_reader_t *r, int64_t *steps, double *times);

/* Read frame i. pos/vel/force: n_atoms*3 floats each, or NULL to skip.
 * Elements not sampled at this frame leave their buffer untouched and
 * frame->has[el] = 0. */
ZT_API int zt_reader_read_frame(zt_reader_t *r, int64_t i, zt_frame_t *frame,
                                float *pos, float *vel, float *force);

/* Atom selection: indices (n entries) or, when indices is NULL, the
 * range [start, stop). */
typedef struct zt_atomsel {
    const int64_t *indices;
    size_t n;
    int64_t start, stop;
} zt_atomsel_t;

/* Number of atoms a selection picks, after validating it. */
ZT_API int zt_atomsel_count(const zt_reader_t *r, const zt_atomsel_t *sel,
                            int64_t *count);
/* Number of frames in start:stop:stride (Python slice semantics, stride > 0). */
ZT_API int64_t zt_frame_range_count(int64_t start, int64_t stop, int64_t stride);

/* Timeseries of one element (position, velocity or force) for a selection of
 * atoms over frames start:stop:stride into out[n_frames][n_sel][3] (float32).
 * Each needed chunk is fetched and decoded once. Frames where the element is
 * not sampled are filled with NaN. */
ZT_API int zt_reader_timeseries(zt_reader_t *r, zt_element_t el, int64_t start,
                                int64_t stop, int64_t stride,
                                const zt_atomsel_t *sel, float *out);

/* Read a list of frames (random access, e.g. shuffled ML batches) with all
 * their chunks in flight at once: out[n][n_atoms][3]; frames[] may repeat and
 * come in any order; frames where el is not sampled are NaN. out may be NULL
 * when info is not. info may be NULL or an array of n: each frame's step,
 * time, has[] and box as zt_reader_read_frame fills them (the distinct chunks
 * of a time-dependent box fetched with the first round of values, in the same
 * round trip). Sharded Zarr v3 on a remote store: the shard indexes come with
 * zt_reader_open (fetched while the rest opens), so a batch costs its inner
 * chunks' byte ranges only. Both buffers are
 * caller-owned and only written during the call. The batch is fetched in
 * rounds within a third of cache_bytes, the next round in flight while one is
 * copied out (that overlap needs readahead_bytes > 0), so a batch costs one
 * round trip when its chunks fit that third. Threading: as every call on a
 * reader, not concurrently with another call on the same reader (serialise
 * them, or open one reader per thread); separate readers are independent. */
ZT_API int zt_reader_read_frames(zt_reader_t *r, zt_element_t el,
                                 const int64_t *frames, size_t n, float *out,
                                 zt_frame_t *info);

/* Observables and other particle data (species, image, mass, ...). */
ZT_API size_t zt_reader_n_data(const zt_reader_t *r);
ZT_API int zt_reader_data_info(const zt_reader_t *r, size_t i, zt_data_info_t *info);
/* Index of a data entry by name, or ZT_ENOTFOUND. */
ZT_API int zt_reader_data_find(const zt_reader_t *r, const char *name, size_t *i);
/* Value of data entry i at frame (ignored when time-independent) as doubles;
 * out holds sample_size entries. ZT_ENODATA when not sampled at that frame. */
ZT_API int zt_reader_read_data(zt_reader_t *r, size_t i, int64_t frame, double *out);
/* All samples of data entry i: out[n_samples][sample_size]; steps/times of
 * each sample (n_samples entries, may be NULL). */
ZT_API int zt_reader_read_data_all(zt_reader_t *r, size_t i, double *out,
                                   int64_t *steps, double *times);

/* I/O statistics since open. */
typedef struct zt_stats {
    uint64_t requests;       /* store requests issued */
    uint64_t bytes_fetched;  /* bytes received from the store */
    uint64_t chunks_decoded; /* chunk decodes */
    uint64_t cache_hits;
    uint64_t cache_misses;
} zt_stats_t;
ZT_API void zt_reader_stats(const zt_reader_t *r, zt_stats_t *st);

/* List particle groups of a trajectory without choosing one. *names is an
 * array of *n strings; free it with zt_free_strings. */
ZT_API int zt_list_groups(const char *url, const zt_options_t *storage,
                          char ***names, size_t *n);
ZT_API void zt_free_strings(char **strings, size_t n);

/* Expand a glob pattern (*, ?, [...] in local paths; * and [...] in URLs,
 * where ? starts the query) over a store that lists: local paths, memory://,
 * s3://, gs://, az://, HTTP with an index page. Each path component may hold
 * a pattern; a match is an object (an .h5md file) or a "directory" (a zarrmd
 * hierarchy). *urls: *n matches, sorted (none: *n = 0, not an error); free
 * with zt_free_strings. A pattern without glob characters returns itself.
 * ZT_EUNSUPPORTED when the store cannot list. */
ZT_API int zt_glob(const char *pattern, const zt_options_t *storage, char ***urls, size_t *n);

/* Sampling flags of every frame (one call, no I/O): out holds n_frames bytes;
 * bit k (k < ZT_N_ELEMENTS) is set when element k is sampled at that frame (a
 * time-independent box counts as sampled everywhere), bit ZT_FRAME_HAS_TIME
 * when the frame has a time. Lets a caller know has[] before reading. */
#define ZT_FRAME_HAS_TIME (1u << ZT_N_ELEMENTS)
ZT_API int zt_reader_frame_flags(const zt_reader_t *r, uint8_t *out);
/* 1 when the element exists and stores time, 0 otherwise (time is optional in
 * H5MD; a time-independent box has none). */
ZT_API int zt_reader_has_time(const zt_reader_t *r, zt_element_t el);

/* ------------------------------------------------------------------------ */
/* Writer                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct zt_writer zt_writer_t;

typedef struct zt_writer_opts {
    int64_t n_frames;            /* expected number of frames; 0 = unknown */
    int precision;               /* decimal digits kept (Quantize); -1 = lossless */
    const char *compressor;      /* numcodecs JSON config or short form
                                    ("zstd:level=3", "blosc:cname=zstd,clevel=5,shuffle=2",
                                    "none"); NULL = Blosc lz4 clevel 5 byte-shuffle.
                                    H5MD output takes gzip/zlib or lzf, optionally
                                    with shuffle (docs/hdf5.md); NULL = none there */
    size_t chunk_bytes;          /* target bytes per value chunk; default 12 MiB */
    const char *group;           /* particle group; default "trajectory" */
    const char *length_unit;     /* defaults: MDAnalysis units; "" = no unit attribute */
    const char *time_unit;
    const char *velocity_unit;
    const char *force_unit;
    const char *author;
    const char *author_email;
    const char *creator;         /* default "zarrtraj" */
    const char *creator_version; /* default the library version */
    const zt_options_t *storage; /* storage options; may be NULL */
    int overwrite;               /* 1: replace an existing trajectory */
    const char *boundary;        /* "periodic" (default) or "none" */
    /* Fixed: later settings are key/value pairs of zt_writer_create_ex, so a
     * caller compiled against an older header keeps working. */
} zt_writer_opts_t;

/* zt_writer_opts_t.chunk_bytes when 0 (and in ZT_WRITER_OPTS_DEFAULTS). */
#define ZT_DEFAULT_CHUNK_BYTES ((size_t)12 << 20)

#define ZT_WRITER_OPTS_DEFAULTS                                                \
    { 0, -1, NULL, ZT_DEFAULT_CHUNK_BYTES, NULL, NULL, NULL, NULL, NULL,       \
      NULL, NULL, NULL, NULL, NULL, 0, NULL }

/* One observable value for a frame: a sample of n doubles (n = 1 for a
 * scalar). The first frame that carries an observable fixes its shape. A
 * name "a" or "a/b" goes where the format keeps the particle group's
 * observables (zarrmd: observables/<group>/a, H5MD: observables/a); a name
 * starting with '/' ("/a", "/g/a") is the path below observables/ itself,
 * in either format. A frame may carry observables only (no particle data):
 * samples at steps where no particle element is sampled. */
typedef struct zt_obs {
    const char *name;
    const double *values;
    size_t n;
} zt_obs_t;

/* One frame to write. NULL pointers mean "not sampled at this frame". */
typedef struct zt_wframe {
    int64_t step;
    double time;           /* NaN: no time stored for this frame */
    const float *position; /* n_atoms*3 */
    const float *velocity;
    const float *force;
    const double *box;     /* 3x3 box vectors (rows), or NULL */
    const zt_obs_t *obs;
    size_t n_obs;
} zt_wframe_t;

/* Create a trajectory at url (zarrmd directory; .h5md/.h5 with HDF5 support). */
ZT_API int zt_writer_create(const char *url, int64_t n_atoms,
                            const zt_writer_opts_t *opts, zt_writer_t **out);
/* The same with settings added after zt_writer_opts_t was fixed, as key/value
 * pairs (NULL = none; unknown keys are an error), copied at create:
 *   preset   "default" or "compact": positions as int32 on a fixed quantum,
 *            differenced along time in Fortran-order chunks, Blosc zstd with
 *            bit shuffle (standard numcodecs codecs; docs/codecs.md). The
 *            quantum is `quantum`, else 10^-precision, else 0.001 nm;
 *            velocities and forces are fixed point at 10^-precision when
 *            precision >= 0, else floats. Zarr output only.
 *   quantum  "0.001 nm" (any length unit) or a number in the file's length unit
 *   zarr_format   zarrmd output: "2" (default) or "3". Zarr v3 values are
 *            sharded: a shard of about shard_bytes (default 64 MiB; chunk_bytes
 *            is then unused for the values) holds inner chunks of inner_frames
 *            frames (default: about 256 KiB per inner chunk, at least one
 *            frame); docs/zarr3.md
 *   shard_bytes, inner_frames   integers ("0" = default)
 * Each |value| / quantum must stay below 2^31: a frame that does not fit
 * fails with ZT_EOVERFLOW. */
ZT_API int zt_writer_create_ex(const char *url, int64_t n_atoms, const zt_writer_opts_t *opts,
                               const zt_options_t *settings, zt_writer_t **out);
ZT_API int zt_writer_write_frame(zt_writer_t *w, const zt_wframe_t *frame);
/* Number of frames written so far. */
ZT_API int64_t zt_writer_n_frames(const zt_writer_t *w);
/* Flush buffers, trim shapes, write consolidated metadata, free. Accepts NULL.
 * The handle is freed even on error. */
ZT_API int zt_writer_close(zt_writer_t *w);

/* ------------------------------------------------------------------------ */
/* Convert                                                                   */
/* ------------------------------------------------------------------------ */

/* Progress of zt_convert: called on the calling thread before the first
 * frame (done = 0) and after each frame written; bytes counts the particle
 * data copied (positions, velocities, forces). Return nonzero to stop: the
 * conversion then fails with ZT_ECANCELED. */
typedef int (*zt_convert_progress_fn)(int64_t done, int64_t total, uint64_t bytes, void *data);

/* Copy a trajectory (zarrmd, H5MD, XTC, TRR, DCD, NetCDF: anything
 * zt_reader_open opens) to dst_url (zarrmd; .h5md/.h5: H5MD; .xtc: XTC):
 * positions, velocities, forces, box, step, time, units, time-dependent
 * observables. settings (NULL = defaults; unknown keys are an error):
 *   precision      decimal digits kept (Quantize); "-1" = lossless (default)
 *   compressor     as zt_writer_opts_t.compressor
 *   chunk_bytes    target bytes per value chunk ("12M" default; K/M/G suffixes)
 *   preset, quantum, zarr_format, shard_bytes, inner_frames   as for
 *                  zt_writer_create_ex (shard_bytes takes K/M/G suffixes)
 *   frames         "A:B[:S]" or "I", Python slice semantics on the source's
 *                  frames; S must be positive (steps increase) unless one frame
 *   group          the source's particle group (needed when it has several)
 *   out_group      its name in dst_url (default: the same)
 *   overwrite      "1"/"true": replace an existing dst_url
 * src_storage / dst_storage: storage options of either side (may be NULL).
 * cb (may be NULL) reports progress. Runs on the calling thread (decoding
 * and encoding use the library's thread pool). */
ZT_API int zt_convert(const char *src_url, const char *dst_url, const zt_options_t *settings,
                      const zt_options_t *src_storage, const zt_options_t *dst_storage,
                      zt_convert_progress_fn cb, void *cb_data);

/* Normalise a compressor spec (JSON or short form) to a numcodecs JSON config
 * string (malloc'd; free with free()). "none" gives "null". */
ZT_API int zt_codec_spec_to_json(const char *spec, char **json_out);

#ifdef __cplusplus
}
#endif
#endif /* ZARRTRAJ_H */
