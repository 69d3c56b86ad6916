/* XTC (GROMACS) reader: frame headers are scanned once (each frame's size
 * follows from its header, so the scan reads 92 bytes per frame locally and
 * large blocks remotely), the frame index is cached on disk keyed by URL,
 * size and mtime/ETag, and positions are decoded per frame by the "xtc"
 * codec on the shared fetch/decode path (frames are independent, so they
 * decode concurrently on the thread pool). Units: nm, ps. */
#include "mdformats/mdformats.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the "xtc" codec: one whole frame (from its magic) -> natoms*3 float32 ---- */
typedef struct zt_xtccodec {
    zt_codec base;
    int natoms;
} zt_xtccodec;

static int zt__xtcc_encode(const zt_codec *c, const void *in, size_t n, zt_buf *out) {
    (void)c;
    (void)in;
    (void)n;
    (void)out;
    return zt__err(ZT_EUNSUPPORTED, "the xtc codec only decodes (write XTC files with zarrtraj convert)");
}

/* One frame into out (natoms*3 floats). */
static int zt__xtcc_frame(const zt_xtccodec *c, const uint8_t *p, size_t n, float *out) {
    if (n < ZT_XTC_HEAD) return zt__err(ZT_ECORRUPT, "XTC frame cut short (%zu bytes)", n);
    int32_t step = zt__be32i(p + 8), magic = zt__be32i(p);
    if (!zt__xtc_magic_ok(magic) || zt__be32i(p + 4) != c->natoms)
        return zt__err(ZT_ECORRUPT, "XTC frame header changed since the file was indexed (magic %d, %d atoms)",
                       magic, zt__be32i(p + 4));
    int rc = zt__xtc_decode_coords(p + ZT_XTC_HEAD, n - ZT_XTC_HEAD, c->natoms, magic, out, NULL);
    if (rc) return zt__err_prefix(rc, "XTC frame at step %d: ", step);
    return 0;
}

static int zt__xtcc_decode_into(const zt_codec *pc, const void *in, size_t n, void *dst, size_t size) {
    const zt_xtccodec *c = (const zt_xtccodec *)pc;
    size_t want = (size_t)c->natoms * 12;
    if (size != want) return zt__err(ZT_ECORRUPT, "XTC frame: %zu bytes expected, frame holds %zu", size, want);
    return zt__xtcc_frame(c, in, n, dst);
}

static int zt__xtcc_decode(const zt_codec *pc, const void *in, size_t n, zt_buf *out, size_t expected) {
    const zt_xtccodec *c = (const zt_xtccodec *)pc;
    size_t want = (size_t)c->natoms * 12;
    if (expected && expected != want) return zt__err(ZT_ECORRUPT, "XTC frame: %zu bytes expected, frame holds %zu", expected, want);
    int rc = zt__buf_resize(out, want);
    return rc ? rc : zt__xtcc_frame(c, in, n, (float *)out->data);
}

static void zt__xtcc_free(zt_codec *c) {
    if (!c) return;
    json_decref(c->config);
    free(c);
}

static const zt_codec_vt zt__xtcc_vt = {"xtc", zt__xtcc_encode, zt__xtcc_decode, NULL, zt__xtcc_free,
                                        zt__xtcc_decode_into};

static int zt__xtc_codec(int natoms, zt_codec **out) {
    zt_xtccodec *c = calloc(1, sizeof *c);
    if (!c || !(c->base.config = json_pack("{s:s}", "id", "xtc"))) {
        free(c);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    c->base.vt = &zt__xtcc_vt;
    c->natoms = natoms;
    *out = &c->base;
    return 0;
}

/* ---- frame index ----------------------------------------------------------- */
typedef struct zt_xtcrec {
    int64_t off, len, step;
    float time;
    float box[9];
} zt_xtcrec;

typedef struct zt_xtcidx {
    int32_t natoms;
    int64_t n, cap;
    zt_xtcrec *r;
} zt_xtcidx;

static int zt__xtc_push(zt_xtcidx *x, const zt_xtcrec *r) {
    if (x->n == x->cap) {
        int64_t nc = x->cap ? x->cap * 2 : 1024;
        zt_xtcrec *v = realloc(x->r, sizeof *v * (size_t)nc);
        if (!v) return zt__err(ZT_ENOMEM, "out of memory");
        x->r = v;
        x->cap = nc;
    }
    x->r[x->n++] = *r;
    return 0;
}

/* Largest atom count accepted: a decoded frame must stay below 2 GiB. */
#define ZT_XTC_MAX_ATOMS (INT32_MAX / 12)

static int zt__xtc_scan(zt_store *s, const char *url, int64_t size, zt_xtcidx *x) {
    zt_mdscan sc;
    zt__mdscan_init(&sc, s, url, size);
    int64_t off = 0;
    int rc = 0;
    if (size == 0) rc = zt__err(ZT_ETRUNCATED, "%s: empty file (not an XTC trajectory)", url);
    while (!rc && off < size) {
        int64_t fr = x->n;
        const uint8_t *p;
        if ((rc = zt__mdscan_get(&sc, off, ZT_XTC_HEAD + 4, &p))) {
            if (rc == ZT_ETRUNCATED)
                rc = zt__err(ZT_ETRUNCATED, "%s: XTC frame %lld at byte %lld is truncated (header cut short: %lld bytes left)",
                             url, (long long)fr, (long long)off, (long long)(size - off));
            else
                rc = zt__err_prefix(rc, "%s: XTC frame %lld: ", url, (long long)fr);
            break;
        }
        int32_t magic = zt__be32i(p), natoms = zt__be32i(p + 4);
        if (!zt__xtc_magic_ok(magic)) {
            rc = fr == 0 ? zt__err(ZT_EFORMAT, "%s: not an XTC file (magic number %d, expected %d or %d)", url, magic,
                                   ZT_XTC_MAGIC, ZT_XTC_MAGIC_LONG)
                         : zt__err(ZT_ECORRUPT, "%s: XTC frame %lld at byte %lld: bad magic number %d (expected %d or %d): corrupt header",
                                   url, (long long)fr, (long long)off, magic, ZT_XTC_MAGIC, ZT_XTC_MAGIC_LONG);
            break;
        }
        if (natoms <= 0 || natoms > ZT_XTC_MAX_ATOMS || (fr > 0 && natoms != x->natoms)) {
            rc = zt__err(ZT_ECORRUPT, "%s: XTC frame %lld at byte %lld: absurd atom count %d%s", url, (long long)fr,
                         (long long)off, natoms, fr > 0 && natoms != x->natoms ? " (earlier frames have a different count)" : "");
            break;
        }
        zt_xtcrec r;
        r.off = off;
        r.step = zt__be32i(p + 8);
        r.time = zt__be32f(p + 12);
        for (int q = 0; q < 9; q++) r.box[q] = zt__be32f(p + 16 + 4 * q);
        /* the magic is per frame: it says how wide this frame's byte count is */
        int64_t need = 4, head = (int64_t)zt__xtc_coords_head(magic);
        if (natoms > 9) {
            need = head;
            if ((rc = zt__mdscan_get(&sc, off + ZT_XTC_HEAD, (size_t)head, &p))) {
                rc = rc == ZT_ETRUNCATED ? zt__err(ZT_ETRUNCATED, "%s: XTC frame %lld at byte %lld is truncated (coordinate header cut short)",
                                                   url, (long long)fr, (long long)off)
                                         : zt__err_prefix(rc, "%s: XTC frame %lld: ", url, (long long)fr);
                break;
            }
        } else {
            p += ZT_XTC_HEAD;
        }
        const char *why = NULL;
        int64_t cs = zt__xtc_coords_size(p, (size_t)need, natoms, magic, &why);
        if (!cs) {
            rc = zt__err(ZT_ECORRUPT, "%s: XTC frame %lld at byte %lld: %s: corrupt header", url, (long long)fr, (long long)off, why);
            break;
        }
        if (natoms > 9) {
            float prec = zt__be32f(p + 4);
            /* at least 2 bits per atom (a large value and a run flag) */
            if (!(prec > 0) || !isfinite(prec) || (cs - head) * 4 + 8 < natoms) {
                rc = zt__err(ZT_ECORRUPT, "%s: XTC frame %lld at byte %lld: %s: corrupt header", url, (long long)fr, (long long)off,
                             !(prec > 0) || !isfinite(prec) ? "precision is not a positive number"
                                                            : "absurd atom count for the compressed size");
                break;
            }
        }
        r.len = ZT_XTC_HEAD + cs;
        if (r.len > size - off) {
            rc = zt__err(ZT_ETRUNCATED, "%s: XTC frame %lld at byte %lld is cut in the middle: needs %lld bytes, the file has %lld left",
                         url, (long long)fr, (long long)off, (long long)r.len, (long long)(size - off));
            break;
        }
        x->natoms = natoms;
        if ((rc = zt__xtc_push(x, &r))) break;
        off += r.len;
    }
    zt__mdscan_free(&sc);
    return rc;
}

/* ---- on-disk index cache ------------------------------------------------------- */
#define ZT_XTCIDX_MAGIC "ZTXTCIX1"

static bool zt__xtc_cache_on(const zt_options_t *opts) {
    const char *v = zt_options_get(opts, "index_cache");
    if (!v) v = getenv("ZARRTRAJ_INDEX_CACHE");
    if (!v) return true;
    return !(!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"));
}

static char *zt__xtc_cache_path(const char *url, bool mkdirs) {
    const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    char *dir = x && *x ? zt__asprintf("%s/zarrtraj", x) : h && *h ? zt__asprintf("%s/.cache/zarrtraj", h) : NULL;
    if (!dir) return NULL;
    if (mkdirs) {
        for (char *q = dir + 1; *q; q++) {
            if (*q != '/') continue;
            *q = 0;
            (void)mkdir(dir, 0700);
            *q = '/';
        }
        (void)mkdir(dir, 0700);
    }
    uint64_t f = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)url; *p; p++) f = (f ^ *p) * 1099511628211ull;
    char *path = zt__asprintf("%s/xtcindex-%016llx.bin", dir, (unsigned long long)f);
    free(dir);
    return path;
}

typedef struct zt_xtchdr {
    char magic[8];
    int64_t size, mtime, n;
    int32_t natoms, urllen;
    char etag[128];
} zt_xtchdr;

static bool zt__xtc_cache_load(const char *url, const zt_stat *st, zt_xtcidx *x) {
    if (st->size < 0 || (!st->etag[0] && !st->mtime)) return false;
    char *path = zt__xtc_cache_path(url, false);
    FILE *f = path ? fopen(path, "rb") : NULL;
    free(path);
    if (!f) return false;
    zt_xtchdr h;
    bool ok = fread(&h, sizeof h, 1, f) == 1 && !memcmp(h.magic, ZT_XTCIDX_MAGIC, 8) && h.size == st->size &&
              h.mtime == st->mtime && !strncmp(h.etag, st->etag, sizeof h.etag) && h.urllen == (int32_t)strlen(url) &&
              h.n > 0 && h.n < ((int64_t)1 << 32) && h.natoms > 0 && h.natoms <= ZT_XTC_MAX_ATOMS;
    char *u = ok ? malloc((size_t)h.urllen + 1) : NULL;
    ok = ok && u && fread(u, 1, (size_t)h.urllen, f) == (size_t)h.urllen && !memcmp(u, url, (size_t)h.urllen);
    free(u);
    if (ok) {
        x->r = malloc(sizeof *x->r * (size_t)h.n);
        ok = x->r && fread(x->r, sizeof *x->r, (size_t)h.n, f) == (size_t)h.n;
        /* the records must tile the file */
        int64_t off = 0;
        for (int64_t i = 0; ok && i < h.n; i++) {
            ok = x->r[i].off == off && x->r[i].len > ZT_XTC_HEAD && x->r[i].len <= st->size - off;
            off += x->r[i].len;
        }
        ok = ok && off == st->size;
        if (ok) {
            x->n = x->cap = h.n;
            x->natoms = h.natoms;
        } else {
            free(x->r);
            x->r = NULL;
        }
    }
    fclose(f);
    return ok;
}

static void zt__xtc_cache_save(const char *url, const zt_stat *st, const zt_xtcidx *x) {
    if (st->size < 0 || (!st->etag[0] && !st->mtime)) return;
    /* a file modified within the mtime's resolution may change again unseen
     * (same size, same second): no index for it yet (git's "racy" rule) */
    if (!st->etag[0] && (int64_t)time(NULL) - st->mtime < 2) return;
    char *path = zt__xtc_cache_path(url, true);
    char *tmp = path ? zt__asprintf("%s.%d.tmp", path, (int)getpid()) : NULL;
    FILE *f = tmp ? fopen(tmp, "wb") : NULL;
    if (f) {
        zt_xtchdr h;
        memset(&h, 0, sizeof h);
        memcpy(h.magic, ZT_XTCIDX_MAGIC, 8);
        h.size = st->size;
        h.mtime = st->mtime;
        h.n = x->n;
        h.natoms = x->natoms;
        h.urllen = (int32_t)strlen(url);
        snprintf(h.etag, sizeof h.etag, "%s", st->etag);
        bool ok = fwrite(&h, sizeof h, 1, f) == 1 && fwrite(url, 1, strlen(url), f) == strlen(url) &&
                  fwrite(x->r, sizeof *x->r, (size_t)x->n, f) == (size_t)x->n;
        ok = fclose(f) == 0 && ok;
        if (!ok || rename(tmp, path) != 0) {
            remove(tmp);
            ZT_DEBUG("xtc: %s: index cache not written (%s)", url, strerror(errno));
        }
    }
    free(tmp);
    free(path);
}

/* ---- tree ------------------------------------------------------------------------ */
int zt__xtc_open_tree(zt_store *s, const char *url, const zt_options_t *opts, zt_tree **out) {
    uint64_t req0 = s->n_requests;
    zt_stat st;
    int rc = zt__store_head(s, "", &st);
    if (rc) return zt__err_prefix(rc, "%s: ", url);
    if (st.size < 0) return zt__err(ZT_EUNSUPPORTED, "%s: the store does not report the file size", url);
    zt_xtcidx x;
    memset(&x, 0, sizeof x);
    bool cache = zt__xtc_cache_on(opts), cached = cache && zt__xtc_cache_load(url, &st, &x);
    if (!cached) {
        if ((rc = zt__xtc_scan(s, url, st.size, &x))) {
            free(x.r);
            return rc;
        }
        if (cache) zt__xtc_cache_save(url, &st, &x);
    }
    ZT_INFO("xtc: %s: %lld frames of %d atoms (%s, %llu requests)", url, (long long)x.n, x.natoms,
            cached ? "index from the cache" : "scanned", (unsigned long long)(s->n_requests - req0));
    size_t n = (size_t)x.n;
    int64_t *step = malloc(sizeof *step * n), *off = malloc(sizeof *off * n), *len = malloc(sizeof *len * n);
    double *time = malloc(sizeof *time * n), *box = malloc(sizeof *box * n * 9);
    zt_codec *c = NULL;
    zt_pipeline *pl = NULL;
    if (!step || !off || !len || !time || !box) rc = zt__err(ZT_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        step[i] = x.r[i].step;
        time[i] = x.r[i].time;
        off[i] = x.r[i].off;
        len[i] = x.r[i].len;
        for (int q = 0; q < 9; q++) box[i * 9 + q] = x.r[i].box[q];
    }
    if (!rc) rc = zt__xtc_codec(x.natoms, &c);
    if (!rc) rc = zt__md_pipeline1(c, &pl);
    if (!rc) {
        zt_mdspec sp;
        memset(&sp, 0, sizeof sp);
        sp.format = "xtc";
        sp.n_frames = x.n;
        sp.n_atoms = x.natoms;
        sp.step = step;
        sp.time = time;
        sp.time_f32 = true;
        sp.box = box;
        sp.length_unit = "nm";
        sp.time_unit = "ps";
        zt_dtype f4 = {'f', 4, false};
        sp.el[0] = (zt_mdel){"position", x.n, NULL, off, len, f4, pl, "nm", NULL, NULL};
        sp.el[1].name = "velocity";
        sp.el[2].name = "force";
        rc = zt__md_build_tree(s, url, &sp, out);
    }
    free(step);
    free(off);
    free(len);
    free(time);
    free(box);
    free(x.r);
    return rc;
}
