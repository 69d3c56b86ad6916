/* Local filesystem store. Keys are relative paths under the root; the empty
 * key is the root itself (a single file such as an .h5md). Writes go to a
 * temporary file renamed into place, so a reader never sees half a chunk. */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct zt_fstore {
    zt_store base;
    char *root;
} zt_fstore;

static char *zt__fpath(zt_fstore *f, const char *key) {
    return zt__path_join(f->root, key ? key : "");
}

static int zt__errno_rc(int e, const char *path, const char *what) {
    if (e == ENOENT || e == ENOTDIR)
        return zt__err(ZT_ENOTFOUND, "%s: not found", path);
    if (e == EACCES || e == EPERM) return zt__err(ZT_EAUTH, "%s: permission denied", path);
    if (e == ENOMEM) return zt__err(ZT_ENOMEM, "%s: out of memory", path);
    return zt__err(ZT_EIO, "%s: %s failed: %s", path, what, strerror(e));
}

static int zt__fget(zt_store *s, const char *key, int64_t offset, int64_t length, zt_buf *out) {
    zt_fstore *f = (zt_fstore *)s;
    char *path = zt__fpath(f, key);
    if (!path) return zt__err(ZT_ENOMEM, "out of memory");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = zt__errno_rc(errno, path, "open");
        free(path);
        return rc;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = zt__errno_rc(errno, path, "stat");
        goto done;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = zt__err(ZT_ENOTFOUND, "%s: is a directory", path);
        goto done;
    }
    int64_t size = st.st_size, start = 0, n = size;
    if (offset == ZT_SUFFIX) {
        start = length >= size ? 0 : size - length;
        n = size - start;
    } else if (offset >= 0) {
        start = offset > size ? size : offset;
        n = length;
        if (n > size - start) n = size - start;
    }
    if ((rc = zt__buf_resize(out, (size_t)n)) != 0) goto done;
    int64_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, out->data + got, (size_t)(n - got), (off_t)(start + got));
        if (k < 0) {
            if (errno == EINTR) continue;
            rc = zt__errno_rc(errno, path, "read");
            goto done;
        }
        if (k == 0) break;
        got += k;
    }
    out->len = (size_t)got;
done:
    close(fd);
    free(path);
    return rc;
}

static int zt__fhead(zt_store *s, const char *key, zt_stat *st) {
    zt_fstore *f = (zt_fstore *)s;
    char *path = zt__fpath(f, key);
    if (!path) return zt__err(ZT_ENOMEM, "out of memory");
    struct stat sb;
    int rc = 0;
    if (stat(path, &sb) != 0) rc = zt__errno_rc(errno, path, "stat");
    else if (S_ISDIR(sb.st_mode)) rc = zt__err(ZT_ENOTFOUND, "%s: is a directory", path);
    else {
        st->size = sb.st_size;
        st->mtime = sb.st_mtime;
        /* A cheap version tag: size + mtime with nanoseconds + inode. */
        snprintf(st->etag, sizeof st->etag, "%llx-%llx-%lx-%llx", (unsigned long long)sb.st_size,
                 (unsigned long long)sb.st_mtim.tv_sec, (long)sb.st_mtim.tv_nsec,
                 (unsigned long long)sb.st_ino);
    }
    free(path);
    return rc;
}

static int zt__mkdirs(char *path) {
    /* Create every parent directory of path (path is modified temporarily). */
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            *p = '/';
            return zt__errno_rc(e, path, "mkdir");
        }
        *p = '/';
    }
    return 0;
}

static int zt__fput(zt_store *s, const char *key, const void *data, size_t n) {
    zt_fstore *f = (zt_fstore *)s;
    char *path = zt__fpath(f, key);
    if (!path) return zt__err(ZT_ENOMEM, "out of memory");
    int rc = zt__mkdirs(path);
    char *tmp = rc ? NULL : zt__asprintf("%s.tmp%ld", path, (long)getpid());
    if (!rc && !tmp) rc = zt__err(ZT_ENOMEM, "out of memory");
    if (!rc) {
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (fd < 0) rc = zt__errno_rc(errno, tmp, "create");
        else {
            size_t done = 0;
            while (done < n) {
                ssize_t k = write(fd, (const uint8_t *)data + done, n - done);
                if (k < 0) {
                    if (errno == EINTR) continue;
                    rc = zt__errno_rc(errno, tmp, "write");
                    break;
                }
                done += (size_t)k;
            }
            if (close(fd) != 0 && !rc) rc = zt__errno_rc(errno, tmp, "close");
            if (!rc && rename(tmp, path) != 0) rc = zt__errno_rc(errno, path, "rename");
            if (rc) unlink(tmp);
        }
    }
    free(tmp);
    free(path);
    return rc;
}

static int zt__fdel(zt_store *s, const char *key) {
    zt_fstore *f = (zt_fstore *)s;
    char *path = zt__fpath(f, key);
    if (!path) return zt__err(ZT_ENOMEM, "out of memory");
    int rc = 0;
    if (unlink(path) != 0) rc = zt__errno_rc(errno, path, "unlink");
    free(path);
    return rc;
}

/* Recursive listing of dir (relative name rel). */
static int zt__flist_rec(const char *dir, const char *rel, bool delim, zt_strlist *keys,
                         zt_strlist *prefixes, int depth) {
    if (depth > 64) return zt__err(ZT_EFORMAT, "%s: directory nesting too deep", dir);
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR) return 0;
        return zt__errno_rc(errno, dir, "opendir");
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (strstr(e->d_name, ".tmp") && strchr(e->d_name, '.') != e->d_name) {
            /* skip in-progress temporary files of zt__fput */
            const char *t = strstr(e->d_name, ".tmp");
            bool digits = t[4] != 0;
            for (const char *q = t + 4; *q; q++)
                if (*q < '0' || *q > '9') digits = false;
            if (digits) continue;
        }
        char *full = zt__path_join(dir, e->d_name);
        char *r = rel && *rel ? zt__path_join(rel, e->d_name) : strdup(e->d_name);
        if (!full || !r) {
            free(full);
            free(r);
            rc = zt__err(ZT_ENOMEM, "out of memory");
            break;
        }
        struct stat sb;
        if (stat(full, &sb) != 0) {
            free(full);
            free(r);
            continue;
        }
        if (S_ISDIR(sb.st_mode)) {
            if (delim) {
                char *p = zt__asprintf("%s/", r);
                rc = prefixes ? zt__strlist_push_own(prefixes, p) : (free(p), 0);
            } else {
                rc = zt__flist_rec(full, r, delim, keys, prefixes, depth + 1);
            }
            free(r);
        } else {
            rc = zt__strlist_push_own(keys, r);
        }
        free(full);
    }
    closedir(d);
    return rc;
}

static int zt__flist(zt_store *s, const char *prefix, bool delim, zt_strlist *keys,
                     zt_strlist *prefixes) {
    zt_fstore *f = (zt_fstore *)s;
    /* prefix is a directory path (possibly ending in '/'); keys come back
     * relative to the root, as for object stores. */
    char *pfx = strdup(prefix);
    if (!pfx) return zt__err(ZT_ENOMEM, "out of memory");
    size_t l = strlen(pfx);
    while (l > 0 && pfx[l - 1] == '/') pfx[--l] = 0;
    char *dir = zt__fpath(f, pfx);
    int rc = dir ? zt__flist_rec(dir, pfx, delim, keys, prefixes, 0)
                 : zt__err(ZT_ENOMEM, "out of memory");
    free(dir);
    free(pfx);
    if (!rc) zt__strlist_sort(keys);
    if (!rc && prefixes) zt__strlist_sort(prefixes);
    return rc;
}

static int zt__fput_file(zt_store *s, const char *key, const char *local,
                         void (*progress)(void *, uint64_t, uint64_t), void *ud) {
    zt_fstore *f = (zt_fstore *)s;
    char *path = zt__fpath(f, key);
    if (!path) return zt__err(ZT_ENOMEM, "out of memory");
    int rc = zt__mkdirs(path);
    FILE *in = rc ? NULL : fopen(local, "rb");
    if (!rc && !in) rc = zt__errno_rc(errno, local, "open");
    char *tmp = rc ? NULL : zt__asprintf("%s.tmp%ld", path, (long)getpid());
    FILE *o = tmp ? fopen(tmp, "wb") : NULL;
    if (!rc && !o) rc = zt__errno_rc(errno, tmp ? tmp : path, "create");
    if (!rc) {
        struct stat sb;
        uint64_t total = fstat(fileno(in), &sb) == 0 ? (uint64_t)sb.st_size : 0, done = 0;
        static const size_t bs = 1 << 20;
        char *b = malloc(bs);
        if (!b) rc = zt__err(ZT_ENOMEM, "out of memory");
        size_t k;
        while (!rc && (k = fread(b, 1, bs, in)) > 0) {
            if (fwrite(b, 1, k, o) != k) rc = zt__errno_rc(errno, tmp, "write");
            done += k;
            if (progress) progress(ud, done, total);
        }
        if (!rc && ferror(in)) rc = zt__errno_rc(errno, local, "read");
        free(b);
    }
    if (o && fclose(o) != 0 && !rc) rc = zt__errno_rc(errno, tmp, "close");
    if (in) fclose(in);
    if (!rc && rename(tmp, path) != 0) rc = zt__errno_rc(errno, path, "rename");
    if (rc && tmp) unlink(tmp);
    free(tmp);
    free(path);
    return rc;
}

static void zt__fclose(zt_store *s) {
    zt_fstore *f = (zt_fstore *)s;
    free(f->root);
    free(s->url);
    free(s->local_path);
    free(f);
}

static const zt_store_vt zt__file_vt = {
    .scheme = "file",
    .get = zt__fget,
    .head = zt__fhead,
    .put = zt__fput,
    .del = zt__fdel,
    .list = zt__flist,
    .get_batch = NULL,
    .put_file = zt__fput_file,
    .close = zt__fclose,
};

int zt__store_file_open(const char *path, const zt_options_t *opts, zt_store **out) {
    (void)opts;
    if (!path || !*path) return zt__err(ZT_EINVAL, "empty path");
    zt_fstore *f = calloc(1, sizeof *f);
    if (!f) return zt__err(ZT_ENOMEM, "out of memory");
    f->root = strdup(path);
    size_t l = f->root ? strlen(f->root) : 0;
    while (l > 1 && f->root[l - 1] == '/') f->root[--l] = 0;
    f->base.vt = &zt__file_vt;
    f->base.url = zt__strdup(f->root);
    f->base.caps = ZT_STORE_CAP_LOCAL_PATH | ZT_STORE_CAP_CHEAP_LIST | ZT_STORE_CAP_LOW_LATENCY;
    f->base.local_path = zt__strdup(f->root);
    if (!f->root || !f->base.url || !f->base.local_path) {
        zt__fclose(&f->base);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    *out = &f->base;
    return 0;
}
