/* XTC writer: frames appended to a local file (written through a buffered
 * FILE), or to a temporary file uploaded to the store at close. */
#include "mdformats/mdformats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct zt_xtcw {
    char *url;
    char *file;       /* local path written */
    zt_store *s;      /* remote destination, or NULL */
    FILE *f;
    int natoms;
    float precision;
    zt_buf buf;
    int64_t frames;
};

static void zt__xtcw_free(zt_xtcw *w) {
    if (!w) return;
    if (w->f) fclose(w->f);
    zt__store_close(w->s);
    zt__buf_free(&w->buf);
    free(w->file);
    free(w->url);
    free(w);
}

int zt__xtcw_open(const char *url, const zt_options_t *opts, bool overwrite, int64_t n_atoms, float precision,
                  zt_xtcw **out) {
    *out = NULL;
    if (n_atoms <= 0 || n_atoms > INT32_MAX / 12)
        return zt__err(ZT_EINVAL, "%s: XTC cannot hold %lld atoms", url, (long long)n_atoms);
    if (!(precision > 0)) return zt__err(ZT_EINVAL, "%s: XTC precision must be positive", url);
    zt_xtcw *w = calloc(1, sizeof *w);
    if (!w || !(w->url = strdup(url))) {
        free(w);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    w->natoms = (int)n_atoms;
    w->precision = precision;
    zt__buf_init(&w->buf);
    zt_store *s = NULL;
    int rc = zt__store_open(url, opts, &s);
    if (!rc && zt__store_can(s, ZT_STORE_CAP_LOCAL_PATH) && s->local_path) {
        w->file = strdup(s->local_path);
        zt__store_close(s);
        struct stat st;
        if (!w->file) rc = zt__err(ZT_ENOMEM, "out of memory");
        else if (stat(w->file, &st) == 0 && S_ISDIR(st.st_mode))
            rc = zt__err(ZT_EEXIST, "%s: a directory exists at this path", url);
        else if (stat(w->file, &st) == 0 && !overwrite)
            rc = zt__err(ZT_EEXIST, "%s: the file already exists (use overwrite)", url);
        if (!rc && !(w->f = fopen(w->file, "wb")))
            rc = zt__err(ZT_EIO, "%s: cannot create the file: %s", url, strerror(errno));
    } else if (!rc) {
        w->s = s;
        zt_stat st;
        rc = zt__store_head(s, "", &st);
        if (rc == 0 && !overwrite) rc = zt__err(ZT_EEXIST, "%s: the object already exists (use overwrite)", url);
        else if (rc == ZT_ENOTFOUND) rc = 0;
        else if (rc) rc = zt__err_prefix(rc, "%s: ", url);
        zt__err_clear();
        const char *tmp = getenv("TMPDIR");
        if (!rc && !(w->file = zt__asprintf("%s/zarrtraj-xtcw-XXXXXX.xtc", tmp && *tmp ? tmp : "/tmp")))
            rc = zt__err(ZT_ENOMEM, "out of memory");
        int fd = rc ? -1 : mkstemps(w->file, 4);
        if (!rc && fd < 0) rc = zt__err(ZT_EIO, "%s: cannot create a temporary file: %s", url, strerror(errno));
        if (!rc && !(w->f = fdopen(fd, "wb"))) {
            close(fd);
            rc = zt__err(ZT_EIO, "%s: cannot open a temporary file: %s", url, strerror(errno));
        }
    }
    if (rc) {
        if (w->s && w->file && w->f) unlink(w->file);
        zt__xtcw_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int zt__xtcw_write(zt_xtcw *w, int64_t step, float time, const float *x, const float *box) {
    if (step < INT32_MIN || step > INT32_MAX)
        return zt__err(ZT_ERANGE, "%s: step %lld does not fit XTC's 32-bit step", w->url, (long long)step);
    uint8_t h[ZT_XTC_HEAD];
    zt__put_be32(h, ZT_XTC_MAGIC);
    zt__put_be32(h + 4, (uint32_t)w->natoms);
    zt__put_be32(h + 8, (uint32_t)(int32_t)step);
    zt__put_be32f(h + 12, time);
    for (int q = 0; q < 9; q++) zt__put_be32f(h + 16 + 4 * q, box ? box[q] : 0.0f);
    w->buf.len = 0;
    int rc = zt__buf_append(&w->buf, h, sizeof h);
    int32_t magic = 0; /* 1995 unless this frame's byte count needs 64 bits */
    if (!rc) rc = zt__xtc_encode_coords(x, w->natoms, w->precision, &magic, &w->buf);
    if (rc) return zt__err_prefix(rc, "%s: frame %lld: ", w->url, (long long)w->frames);
    zt__put_be32(w->buf.data, (uint32_t)magic);
    if (fwrite(w->buf.data, 1, w->buf.len, w->f) != w->buf.len)
        return zt__err(ZT_EIO, "%s: write failed: %s", w->url, strerror(errno));
    w->frames++;
    return 0;
}

int zt__xtcw_close(zt_xtcw *w, bool ok) {
    if (!w) return 0;
    int rc = 0;
    if (w->f) {
        if (fclose(w->f) != 0 && ok) rc = zt__err(ZT_EIO, "%s: write failed: %s", w->url, strerror(errno));
        w->f = NULL;
    }
    if (w->s) {
        if (ok && !rc) {
            rc = zt__store_put_file(w->s, "", w->file, NULL, NULL);
            if (rc) rc = zt__err_prefix(rc, "%s: upload: ", w->url);
        }
        unlink(w->file);
    }
    zt__xtcw_free(w);
    return rc;
}
