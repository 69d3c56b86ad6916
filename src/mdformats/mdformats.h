/* Classic MD trajectory formats (XTC, TRR, DCD, AMBER NetCDF) as H5MD node trees.
 *
 * Each format scans its frame headers once (byte ranges through the store,
 * so local files and remote objects alike), then exposes an H5MD-shaped tree
 * (h5md/, particles/trajectory/{position,velocity,force,box/edges}) whose
 * per-atom arrays have one chunk per frame pointing at the frame's bytes; a
 * format codec decodes them (XTC: the xdr3dfcoord compression). The shared
 * fetch/decode path (and its thread pool) then reads them like any chunk.
 *
 * Entry points per format: a probe (extension or leading bytes) and an open
 * that builds the tree and takes ownership of the store on success. */
#ifndef ZT_MDFORMATS_H
#define ZT_MDFORMATS_H

#include "array/array.h"

/* ---- XTC coordinate codec (xtccodec.c) ------------------------------------- */
#define ZT_XTC_MAGIC 1995
/* GROMACS 2023 and later: the same frame, except that the compressed byte
 * count is a 64-bit XDR hyper (for blocks that may pass 2^31 bytes). The
 * magic is per frame; GROMACS' readers take either in any frame. */
#define ZT_XTC_MAGIC_LONG 2023
/* Bytes of an XTC frame header up to the coordinate block: magic, natoms,
 * step, time, box[9]. */
#define ZT_XTC_HEAD 52

static inline bool zt__xtc_magic_ok(int32_t magic) { return magic == ZT_XTC_MAGIC || magic == ZT_XTC_MAGIC_LONG; }
/* Bytes of a compressed coordinate block before the bits: atom count,
 * precision, minint[3], maxint[3], small index, byte count (4 or 8). */
static inline size_t zt__xtc_coords_head(int32_t magic) { return magic == ZT_XTC_MAGIC_LONG ? 44 : 40; }

/* Decode the coordinate block that follows the frame header (starting at its
 * atom count) from p[0..n) of a frame with this magic (the byte count's
 * width): natoms*3 floats into out (nm). *used (may be NULL) = bytes
 * consumed including the padding. ZT_ECORRUPT with a cause on any
 * inconsistency (never reads past n). */
int zt__xtc_decode_coords(const uint8_t *p, size_t n, int natoms, int32_t magic, float *out, size_t *used);
/* Encode natoms*3 floats (nm) at precision (e.g. 1000) as an XTC coordinate
 * block, appended to out. *magic: 0 chooses (1995 unless the byte count
 * needs 64 bits, as GROMACS does), ZT_XTC_MAGIC or ZT_XTC_MAGIC_LONG force
 * the layout; on return the magic the frame header must carry. ZT_ERANGE
 * when a value does not fit the precision (or a forced 1995 block is too
 * large for its count). */
int zt__xtc_encode_coords(const float *x, int natoms, float precision, int32_t *magic, zt_buf *out);
/* Bytes of the coordinate block of a frame with this magic from its first
 * zt__xtc_coords_head(magic) bytes: 0 when inconsistent (cause in *why). */
int64_t zt__xtc_coords_size(const uint8_t *p, size_t n, int natoms, int32_t magic, const char **why);

/* ---- big-endian XDR helpers -------------------------------------------------- */
static inline uint32_t zt__be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline int32_t zt__be32i(const uint8_t *p) { return (int32_t)zt__be32(p); }
static inline float zt__be32f(const uint8_t *p) {
    uint32_t u = zt__be32(p);
    float f;
    __builtin_memcpy(&f, &u, 4);
    return f;
}
static inline void zt__put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void zt__put_be32f(uint8_t *p, float f) {
    uint32_t u;
    __builtin_memcpy(&u, &f, 4);
    zt__put_be32(p, u);
}

/* ---- generic tree of a frame-indexed file (mdtree.c) ----------------------------- */
/* One per-atom element (position, velocity, force): sample k is frame
 * frame[k], its bytes at off[k] (len[k]) of the file, decoded by pipeline
 * (NULL = raw bytes of dtype). */
typedef struct zt_mdel {
    const char *name;     /* "position" */
    int64_t n_samples;
    int64_t *frame;       /* n_samples (owned by the caller) */
    int64_t *off, *len;   /* n_samples */
    zt_dtype dtype;       /* stored dtype of the decoded chunk */
    zt_pipeline *pipeline;/* taken over by the tree (also on error) */
    const char *unit;
    const void *data;     /* instead of byte ranges: the whole array in memory
                             (native dtype, copied; one chunk) */
    zt_array *array;      /* or an array another format serves (shape n_samples x
                             n_atoms x 3; taken over by the tree, also on error) */
} zt_mdel;

typedef struct zt_mdspec {
    const char *format;   /* "xtc", "trr", "dcd", "netcdf" */
    int64_t n_frames, n_atoms;
    const int64_t *step;  /* n_frames */
    const double *time;   /* n_frames, or NULL (no time) */
    bool time_f32;        /* store time as float32 (XTC, TRR single) */
    const double *box;    /* n_frames * 9 (box vectors, rows), or NULL */
    const uint8_t *box_ok;/* per frame: has a box (NULL = all); only frames with one are samples */
    const char *length_unit, *time_unit;
    zt_mdel el[3];        /* position, velocity, force; n_samples 0 = absent */
    const char *obs_name; /* a scalar observable of every frame (observables/NAME), or NULL */
    const double *obs;    /* its n_frames values (float64) */
    json_t *h5md_extra;   /* attributes for the particles group (e.g. DCD header), may be NULL */
} zt_mdspec;

/* Build the tree on s (ownership of s passes to the tree on success). */
int zt__md_build_tree(zt_store *s, const char *url, const zt_mdspec *sp, zt_tree **out);

/* Standard box vectors (a along x, b in the xy plane; 9 doubles, rows) of
 * lengths and angles in degrees; zeros when the cell is not valid. */
void zt__md_box_vectors(double A, double B, double C, double alpha, double beta, double gamma, double *box);

/* A pipeline holding one codec c (taken). */
int zt__md_pipeline1(zt_codec *c, zt_pipeline **out);

/* ---- sequential header scanning through a store (mdscan.c) --------------------- */
typedef struct zt_mdscan {
    zt_store *s;
    const char *url;
    int64_t size;         /* file size */
    zt_buf win;           /* bytes [win_off, win_off + win.len) */
    int64_t win_off;
    size_t block;         /* bytes per fetch */
} zt_mdscan;
int zt__mdscan_init(zt_mdscan *sc, zt_store *s, const char *url, int64_t size);
/* Pointer to n bytes at off (valid until the next call); ZT_ECORRUPT when
 * the file ends before (what names the structure for the message). */
int zt__mdscan_get(zt_mdscan *sc, int64_t off, size_t n, const uint8_t **p);
void zt__mdscan_free(zt_mdscan *sc);

/* ---- formats --------------------------------------------------------------------- */
/* Extension check (query string ignored). */
bool zt__md_has_ext(const char *url, const char *const *ext, size_t n);
/* Which format the leading bytes (n >= 0) and name suggest: "xtc", "trr",
 * "dcd", "netcdf" or NULL. */
const char *zt__md_probe(const char *url, const uint8_t *head, size_t n);
int zt__xtc_open_tree(zt_store *s, const char *url, const zt_options_t *opts, zt_tree **out);
int zt__trr_open_tree(zt_store *s, const char *url, const zt_options_t *opts, zt_tree **out);
int zt__nc_open_tree(zt_store *s, const char *url, const zt_options_t *opts, zt_tree **out);
int zt__dcd_open_tree(zt_store *s, const char *url, const zt_options_t *opts, zt_tree **out);
/* Open by probing (format from zt__md_probe). */
int zt__md_open_tree(zt_store *s, const char *url, const char *format, const zt_options_t *opts,
                     zt_tree **out);

/* ---- XTC writer (xtcwriter.c) ------------------------------------------------------ */
typedef struct zt_xtcw zt_xtcw;
int zt__xtcw_open(const char *url, const zt_options_t *opts, bool overwrite, int64_t n_atoms,
                  float precision, zt_xtcw **out);
/* x: n_atoms*3 in nm; box: 9 in nm (NULL = zeros). */
int zt__xtcw_write(zt_xtcw *w, int64_t step, float time, const float *x, const float *box);
/* Finish (ok = false: abandon) and free. */
int zt__xtcw_close(zt_xtcw *w, bool ok);

#endif
