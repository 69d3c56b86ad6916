/* libhdf5 virtual file driver on a zt_store, with a block cache so that
 * opening a remote file takes few range requests, and the process-wide lock
 * around libhdf5. The driver is read-only and lives only while a tree is
 * built: the file is closed before any chunk is read. */
#include "hdf5/hdf5.h"

#include <hdf5.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- lock ---------------------------------------------------------------------- */
static pthread_mutex_t zt__h5mu = PTHREAD_MUTEX_INITIALIZER;
static bool zt__h5init;
static H5E_auto2_t zt__h5_saved_func;
static void *zt__h5_saved_data;

void zt__hdf5_lock(void) {
    pthread_mutex_lock(&zt__h5mu);
    if (!zt__h5init) {
        H5open();
        zt__h5init = true;
    }
    /* Keep libhdf5 from printing error stacks; we turn them into messages. */
    H5Eget_auto2(H5E_DEFAULT, &zt__h5_saved_func, &zt__h5_saved_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void zt__hdf5_unlock(void) {
    H5Eset_auto2(H5E_DEFAULT, zt__h5_saved_func, zt__h5_saved_data);
    pthread_mutex_unlock(&zt__h5mu);
}

/* ---- block cache ----------------------------------------------------------------- */
typedef struct zt_h5blk {
    uint64_t idx;    /* block number */
    uint8_t *data;   /* block bytes (shorter at EOF) */
    size_t len;
    uint64_t used;   /* LRU tick */
} zt_h5blk;

struct zt_h5io {
    zt_store *store;    /* NULL in an isolated parser (fetch serves the bytes) */
    bool local;         /* a low-latency store (no B-tree prefetch); kept from the store
                           because the isolated child reads through a pipe */
    zt_h5io_fetch_fn fetch;
    void *fetch_ud;
    char *url;
    int64_t size;
    zt_h5io_opts o;
    zt_h5blk *blk; /* sorted by idx */
    size_t nblk, capblk;
    size_t cached;
    uint64_t tick;
    uint64_t last_miss_end; /* for sequential-read detection */
    size_t ra;              /* current read-ahead */
    int err;
    char errmsg[1024];
};

static size_t zt__opt_size(const zt_options_t *opts, const char *key, size_t def) {
    const char *v = zt_options_get(opts, key);
    if (!v || !*v) return def;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end == 'k' || *end == 'K') x <<= 10;
    else if (*end == 'm' || *end == 'M') x <<= 20;
    return x ? (size_t)x : def;
}

void zt__h5io_opts_default(const zt_options_t *opts, zt_h5io_opts *o) {
    o->block = zt__opt_size(opts, "hdf5_block_size", (size_t)64 << 10);
    /* round the block size to a power of two in [4 KiB, 16 MiB] */
    size_t b = 4096;
    while (b < o->block && b < ((size_t)16 << 20)) b <<= 1;
    o->block = b;
    o->initial = zt__opt_size(opts, "hdf5_initial_read", (size_t)2 << 20);
    o->readahead = zt__opt_size(opts, "hdf5_readahead", (size_t)1 << 20);
    o->max_cache = zt__opt_size(opts, "hdf5_cache_bytes", (size_t)128 << 20);
}

int zt__h5io_new(zt_store *s, const char *url, int64_t size, const zt_h5io_opts *o, zt_h5io **out) {
    zt_h5io *io = calloc(1, sizeof *io);
    if (!io || !(io->url = strdup(url))) {
        free(io);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    io->store = s;
    io->local = s && zt__store_can(s, ZT_STORE_CAP_LOW_LATENCY);
    io->size = size;
    io->o = *o;
    io->ra = o->block;
    *out = io;
    return 0;
}

void zt__h5io_set_fetch(zt_h5io *io, zt_h5io_fetch_fn fn, void *ud) {
    io->fetch = fn;
    io->fetch_ud = ud;
}

void zt__h5io_free(zt_h5io *io) {
    if (!io) return;
    for (size_t i = 0; i < io->nblk; i++) free(io->blk[i].data);
    free(io->blk);
    free(io->url);
    free(io);
}

int zt__h5io_error(const zt_h5io *io, const char **msg) {
    if (msg) *msg = io->errmsg;
    return io->err;
}

/* Index of the first block with idx >= b. */
static size_t zt__blk_lower(const zt_h5io *io, uint64_t b) {
    size_t lo = 0, hi = io->nblk;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (io->blk[mid].idx < b) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static zt_h5blk *zt__blk_find(zt_h5io *io, uint64_t b) {
    size_t i = zt__blk_lower(io, b);
    return i < io->nblk && io->blk[i].idx == b ? &io->blk[i] : NULL;
}

static void zt__blk_evict(zt_h5io *io) {
    while (io->cached > io->o.max_cache && io->nblk > 1) {
        size_t victim = 0;
        for (size_t i = 1; i < io->nblk; i++)
            if (io->blk[i].used < io->blk[victim].used) victim = i;
        io->cached -= io->blk[victim].len;
        free(io->blk[victim].data);
        memmove(io->blk + victim, io->blk + victim + 1, (io->nblk - victim - 1) * sizeof *io->blk);
        io->nblk--;
    }
}

static int zt__blk_insert(zt_h5io *io, uint64_t b, const uint8_t *src, size_t len) {
    if (zt__blk_find(io, b)) return 0;
    if (io->nblk == io->capblk) {
        size_t cap = io->capblk ? io->capblk * 2 : 64;
        zt_h5blk *p = realloc(io->blk, cap * sizeof *p);
        if (!p) return zt__err(ZT_ENOMEM, "out of memory");
        io->blk = p;
        io->capblk = cap;
    }
    uint8_t *d = malloc(len ? len : 1);
    if (!d) return zt__err(ZT_ENOMEM, "out of memory");
    if (len) memcpy(d, src, len);
    size_t i = zt__blk_lower(io, b);
    memmove(io->blk + i + 1, io->blk + i, (io->nblk - i) * sizeof *io->blk);
    io->blk[i] = (zt_h5blk){b, d, len, ++io->tick};
    io->nblk++;
    io->cached += len;
    return 0;
}

/* Fetch blocks [b0, b1) in one range request and cache them. */
static int zt__blk_fetch(zt_h5io *io, uint64_t b0, uint64_t b1) {
    uint64_t bs = io->o.block, off = b0 * bs, end = b1 * bs;
    if (io->size >= 0 && end > (uint64_t)io->size) end = (uint64_t)io->size;
    if (off >= end) return 0;
    zt_buf buf;
    zt__buf_init(&buf);
    int rc;
    if (io->fetch) {
        zt_req r = {.key = "", .offset = (int64_t)off, .length = (int64_t)(end - off)};
        zt__buf_init(&r.out);
        rc = io->fetch(io->fetch_ud, &r, 1);
        buf = r.out;
    } else {
        rc = zt__store_get_range(io->store, "", (int64_t)off, (int64_t)(end - off), &buf);
    }
    if (!rc) {
        ZT_DEBUG("hdf5: %s: fetched %llu bytes at %llu", io->url, (unsigned long long)buf.len,
                 (unsigned long long)off);
        for (uint64_t b = b0; b < b1 && !rc; b++) {
            uint64_t s = (b - b0) * bs;
            if (s >= buf.len) break;
            size_t l = buf.len - s < bs ? (size_t)(buf.len - s) : (size_t)bs;
            rc = zt__blk_insert(io, b, buf.data + s, l);
        }
    }
    zt__buf_free(&buf);
    if (rc && !io->err) {
        io->err = rc;
        snprintf(io->errmsg, sizeof io->errmsg, "%s", zt_last_error());
    }
    zt__blk_evict(io);
    return rc;
}

static uint64_t zt__le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void zt__btree_noop(zt_req *r, void *ud) {
    (void)r;
    (void)ud;
}

/* libhdf5 walks a chunk index (version-1 B-tree) one node at a time, and a
 * file written frame by frame scatters the nodes across it: a cold remote
 * open would cost one round trip per node (17 for 1,000 chunks). When it
 * reads an inner node, fetch all its children at once, so each level of the
 * tree costs one round trip. The node is "TREE", type 1 (chunks), level,
 * entries, two sibling addresses, then keys (chunk size, filter mask,
 * rank + 1 offsets, the last 0 but in the final key) and child addresses
 * interleaved. The rank is not known here: the one for which every key
 * before a child ends in a 0 offset and every child lies inside the file is
 * taken. Failures are ignored: libhdf5's
 * own read then fetches and reports. */
static void zt__btree_prefetch(zt_h5io *io, const uint8_t *node, size_t n) {
    if (n < 24 || n > ((size_t)1 << 20) || memcmp(node, "TREE", 4) || node[4] != 1 || node[5] == 0) return;
    size_t entries = (size_t)zt__le(node + 6, 2);
    uint64_t fsize = io->size >= 0 ? (uint64_t)io->size : UINT64_MAX;
    /* a hostile node must not make us fetch more than half the block cache */
    if (entries < 2 || (uint64_t)entries * (n + io->o.block) > io->o.max_cache / 2) return;
    size_t ks = 0;
    for (size_t rank = 1; rank <= 32 && !ks; rank++) {
        size_t k = 8 + 8 * (rank + 1);
        if (24 + (entries + 1) * k + entries * 8 > n) break;
        bool ok = true;
        for (size_t i = 0; i < entries && ok; i++) {
            const uint8_t *key = node + 24 + i * (k + 8);
            uint64_t child = zt__le(key + k, 8);
            ok = zt__le(key + k - 8, 8) == 0 && child > 0 && child < fsize && child + n <= fsize;
        }
        if (ok) ks = k;
    }
    if (!ks) return;
    uint64_t bs = io->o.block;
    zt_req *reqs = calloc(entries, sizeof *reqs);
    if (!reqs) return;
    size_t nr = 0;
    for (size_t i = 0; i < entries; i++) {
        uint64_t child = zt__le(node + 24 + i * (ks + 8) + ks, 8);
        uint64_t b0 = child / bs, b1 = (child + n - 1) / bs + 1;
        while (b0 < b1 && zt__blk_find(io, b0)) b0++;
        while (b1 > b0 && zt__blk_find(io, b1 - 1)) b1--;
        if (b0 == b1) continue;
        if (nr && b0 * bs >= (uint64_t)reqs[nr - 1].offset &&
            (uint64_t)(reqs[nr - 1].offset + reqs[nr - 1].length) >= b0 * bs) { /* adjacent: merge */
            uint64_t end = b1 * bs > (uint64_t)(reqs[nr - 1].offset + reqs[nr - 1].length)
                               ? b1 * bs : (uint64_t)(reqs[nr - 1].offset + reqs[nr - 1].length);
            reqs[nr - 1].length = (int64_t)(end - (uint64_t)reqs[nr - 1].offset);
            continue;
        }
        reqs[nr].key = "";
        reqs[nr].offset = (int64_t)(b0 * bs);
        reqs[nr].length = (int64_t)((b1 - b0) * bs);
        nr++;
    }
    for (size_t i = 0; i < nr; i++)
        if (io->size >= 0 && reqs[i].offset + reqs[i].length > io->size) reqs[i].length = io->size - reqs[i].offset;
    if (nr && (io->fetch ? io->fetch(io->fetch_ud, reqs, nr)
                         : zt__store_get_batch(io->store, reqs, nr, zt__btree_noop, NULL)) == 0) {
        ZT_DEBUG("hdf5: %s: chunk index node: %zu children fetched in %zu requests", io->url, entries, nr);
        for (size_t i = 0; i < nr; i++) {
            if (reqs[i].status) continue;
            uint64_t b0 = (uint64_t)reqs[i].offset / bs;
            for (size_t s = 0; s < reqs[i].out.len; s += bs) {
                size_t l = reqs[i].out.len - s < bs ? reqs[i].out.len - s : (size_t)bs;
                if (zt__blk_insert(io, b0 + s / bs, reqs[i].out.data + s, l)) break;
            }
        }
    }
    zt__err_clear();
    for (size_t i = 0; i < nr; i++) zt__buf_free(&reqs[i].out);
    free(reqs);
    zt__blk_evict(io);
}

int zt__h5io_read(zt_h5io *io, uint64_t off, size_t n, void *dst) {
    uint8_t *out = dst;
    uint64_t bs = io->o.block;
    if (n == 0) return 0;
    if (io->nblk == 0 && io->o.initial > 0) {
        /* First read: one large request from the start (the superblock, root
         * group and usually most object headers), the whole file if small. */
        uint64_t want = io->o.initial;
        if (io->size >= 0 && (uint64_t)io->size <= 2 * want) want = (uint64_t)io->size;
        int rc = zt__blk_fetch(io, 0, (want + bs - 1) / bs);
        if (rc) return rc;
    }
    uint64_t end = off + n;
    uint64_t fsize = io->size >= 0 ? (uint64_t)io->size : UINT64_MAX;
    uint64_t b = off / bs, blast = (end - 1) / bs;
    while (b <= blast) {
        zt_h5blk *k = zt__blk_find(io, b);
        if (!k && b * bs < fsize) {
            /* Miss: fetch the missing run, plus read-ahead that grows while
             * misses continue where the last one ended. */
            if (b * bs == io->last_miss_end) {
                io->ra *= 2;
                if (io->ra > io->o.readahead) io->ra = io->o.readahead;
            } else {
                io->ra = bs;
            }
            uint64_t e = b + 1;
            while (e <= blast && !zt__blk_find(io, e)) e++;
            uint64_t ra_blocks = io->ra / bs;
            while (e - b < ra_blocks && e * bs < fsize && !zt__blk_find(io, e)) e++;
            int rc = zt__blk_fetch(io, b, e);
            if (rc) return rc;
            io->last_miss_end = e * bs;
            k = zt__blk_find(io, b);
        }
        uint64_t s = b * bs;
        uint64_t lo = off > s ? off : s, hi = end < s + bs ? end : s + bs;
        uint64_t have = s + (k ? k->len : 0);
        /* bytes beyond what the store holds read as zero (like sec2) */
        uint64_t mid = hi < have ? hi : (lo > have ? lo : have);
        if (mid > lo) memcpy(out + (lo - off), k->data + (lo - s), (size_t)(mid - lo));
        if (hi > mid) memset(out + (mid - off), 0, (size_t)(hi - mid));
        if (k) k->used = ++io->tick;
        b++;
    }
    if (!io->local) zt__btree_prefetch(io, dst, n);
    return 0;
}

/* ---- the driver ------------------------------------------------------------------- */
typedef struct zt_h5fa {
    zt_h5io *io;
} zt_h5fa;

typedef struct zt_h5file {
    H5FD_t pub; /* must be first */
    zt_h5io *io;
    haddr_t eoa;
} zt_h5file;

static hid_t zt__h5driver = -1;

#define ZT_H5_MAXADDR (((haddr_t)1 << 62) - 1)

static H5FD_t *zt__vfd_open(const char *name, unsigned flags, hid_t fapl, haddr_t maxaddr) {
    (void)name;
    (void)maxaddr;
    if (flags & (H5F_ACC_RDWR | H5F_ACC_TRUNC | H5F_ACC_CREAT)) return NULL;
    const zt_h5fa *fa = H5Pget_driver_info(fapl);
    if (!fa || !fa->io) return NULL;
    zt_h5file *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->io = fa->io;
    return &f->pub;
}

static herr_t zt__vfd_close(H5FD_t *file) {
    free(file);
    return 0;
}

static int zt__vfd_cmp(const H5FD_t *a, const H5FD_t *b) {
    const zt_h5file *x = (const zt_h5file *)a, *y = (const zt_h5file *)b;
    return x->io < y->io ? -1 : x->io > y->io;
}

static herr_t zt__vfd_query(const H5FD_t *f, unsigned long *flags) {
    (void)f;
    *flags = H5FD_FEAT_ACCUMULATE_METADATA | H5FD_FEAT_DATA_SIEVE | H5FD_FEAT_AGGREGATE_METADATA |
             H5FD_FEAT_AGGREGATE_SMALLDATA;
    return 0;
}

static haddr_t zt__vfd_get_eoa(const H5FD_t *file, H5FD_mem_t type) {
    (void)type;
    return ((const zt_h5file *)file)->eoa;
}

static herr_t zt__vfd_set_eoa(H5FD_t *file, H5FD_mem_t type, haddr_t addr) {
    (void)type;
    ((zt_h5file *)file)->eoa = addr;
    return 0;
}

static haddr_t zt__vfd_get_eof(const H5FD_t *file, H5FD_mem_t type) {
    (void)type;
    const zt_h5file *f = (const zt_h5file *)file;
    return f->io->size >= 0 ? (haddr_t)f->io->size : HADDR_UNDEF;
}

static herr_t zt__vfd_read(H5FD_t *file, H5FD_mem_t type, hid_t dxpl, haddr_t addr, size_t size,
                           void *buf) {
    (void)type;
    (void)dxpl;
    zt_h5file *f = (zt_h5file *)file;
    if (addr == HADDR_UNDEF || addr > ZT_H5_MAXADDR || size > ZT_H5_MAXADDR - addr) return -1;
    return zt__h5io_read(f->io, addr, size, buf) ? -1 : 0;
}

static herr_t zt__vfd_write(H5FD_t *file, H5FD_mem_t type, hid_t dxpl, haddr_t addr, size_t size,
                            const void *buf) {
    (void)file, (void)type, (void)dxpl, (void)addr, (void)size, (void)buf;
    return -1; /* read-only */
}

static herr_t zt__vfd_truncate(H5FD_t *file, hid_t dxpl, hbool_t closing) {
    (void)file, (void)dxpl, (void)closing;
    return 0;
}

static const H5FD_class_t zt__vfd_class = {
    .name = "zarrtraj",
    .maxaddr = ZT_H5_MAXADDR,
    .fc_degree = H5F_CLOSE_WEAK,
    .fapl_size = sizeof(zt_h5fa),
    .open = zt__vfd_open,
    .close = zt__vfd_close,
    .cmp = zt__vfd_cmp,
    .query = zt__vfd_query,
    .get_eoa = zt__vfd_get_eoa,
    .set_eoa = zt__vfd_set_eoa,
    .get_eof = zt__vfd_get_eof,
    .read = zt__vfd_read,
    .write = zt__vfd_write,
    .truncate = zt__vfd_truncate,
    .fl_map = H5FD_FLMAP_DICHOTOMY,
};

int64_t zt__h5io_fapl(zt_h5io *io) {
    if (zt__h5driver < 0 || H5Iis_valid(zt__h5driver) <= 0) {
        zt__h5driver = H5FDregister(&zt__vfd_class);
        if (zt__h5driver < 0) return zt__err(ZT_EIO, "cannot register the HDF5 file driver");
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return zt__err(ZT_EIO, "cannot create an HDF5 property list");
    zt_h5fa fa = {io};
    if (H5Pset_driver(fapl, zt__h5driver, &fa) < 0) {
        H5Pclose(fapl);
        return zt__err(ZT_EIO, "cannot set the HDF5 file driver");
    }
    return fapl;
}
