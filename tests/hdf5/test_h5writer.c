/* H5MD writer: public-API round trips through our reader (mixed sampling,
 * observables, missing time, every accepted compressor, precision bound),
 * the layout libhdf5 sees (hard links by object address, filters, chunks,
 * attribute types), compressor errors, overwrite rules, a writer killed
 * mid-run, rows written ahead of their commit (invisible until committed), and a remote
 * (memory://) destination written through a temporary file. */
#include "format/registry.h"
#include "h5test.h"
#include "array/format.h"
#include "hdf5/hdf5.h"

#include <dirent.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static float val(int64_t f, int64_t a, int d, int el) {
    return (float)(sin(0.37 * (double)f + 0.11 * (double)a + d) * 10.0 + el * 100.0 + 0.001 * (double)(a % 97));
}

typedef struct {
    int64_t n_atoms, n_frames;
    int vel_every, force_every, box_every, obs_every;
    bool no_time;
} spec_t;

static int write_frames(zt_writer_t *w, const spec_t *s, int64_t n_frames) {
    size_t n3 = (size_t)s->n_atoms * 3;
    float *p = malloc(n3 * 4 + 4), *v = malloc(n3 * 4 + 4), *fo = malloc(n3 * 4 + 4);
    int rc = 0;
    for (int64_t f = 0; f < n_frames && !rc; f++) {
        for (int64_t a = 0; a < s->n_atoms; a++)
            for (int d = 0; d < 3; d++) {
                p[a * 3 + d] = val(f, a, d, 0);
                v[a * 3 + d] = val(f, a, d, 1);
                fo[a * 3 + d] = val(f, a, d, 2);
            }
        double box[9] = {10 + 0.1 * (double)f, 0, 0, 1, 11, 0, 0.5, 0.25, 12};
        double temp = 300 + (double)f, vec[3] = {(double)f, 2.0 * (double)f, -1};
        zt_obs_t obs[2] = {{"temperature", &temp, 1}, {"com", vec, 3}};
        zt_wframe_t wf = {f * 10, s->no_time ? NAN : 0.5 * (double)f, p,
                          s->vel_every && f % s->vel_every == 0 ? v : NULL,
                          s->force_every && f % s->force_every == 0 ? fo : NULL,
                          s->box_every && f % s->box_every == 0 ? box : NULL, obs,
                          s->obs_every && f % s->obs_every == 0 ? 2 : 0};
        rc = zt_writer_write_frame(w, &wf);
    }
    free(p);
    free(v);
    free(fo);
    return rc;
}

static int write_traj(const char *url, const spec_t *s, const zt_writer_opts_t *wo) {
    zt_writer_t *w = NULL;
    int rc = zt_writer_create(url, s->n_atoms, wo, &w);
    if (rc) return rc;
    rc = write_frames(w, s, s->n_frames);
    int crc = zt_writer_close(w);
    return rc ? rc : crc;
}

/* Read back through our reader; tol = 0: exact. */
static void check_traj(const char *url, const spec_t *s, double tol, int64_t expect_frames) {
    zt_reader_t *r = NULL;
    int rc = zt_reader_open(url, NULL, &r);
    CHECK_OK(rc);
    if (rc) return;
    CHECK(!strcmp(zt_reader_format(r), "h5md"));
    CHECK_EQ_INT(zt_reader_n_atoms(r), s->n_atoms);
    CHECK_EQ_INT(zt_reader_n_frames(r), expect_frames);
    size_t n3 = (size_t)s->n_atoms * 3;
    float *b[3];
    for (int k = 0; k < 3; k++) b[k] = malloc(n3 * 4 + 4);
    double maxerr = 0;
    int64_t nf = zt_reader_n_frames(r);
    size_t ti = 0, ci = 0;
    if (s->obs_every) {
        /* H5MD observables sit at observables/<name> (MDAnalysis' layout) */
        CHECK_OK(zt_reader_data_find(r, "temperature", &ti));
        CHECK_OK(zt_reader_data_find(r, "com", &ci));
    }
    for (int64_t f = 0; f < nf; f++) {
        zt_frame_t fr;
        CHECK_OK(zt_reader_read_frame(r, f, &fr, b[0], b[1], b[2]));
        CHECK_EQ_INT(fr.step, f * 10);
        if (s->no_time) CHECK(!fr.has_time);
        else CHECK_CLOSE(fr.time, 0.5 * (double)f, 0);
        CHECK_EQ_INT(fr.has[1], s->vel_every && f % s->vel_every == 0);
        CHECK_EQ_INT(fr.has[2], s->force_every && f % s->force_every == 0);
        for (int k = 0; k < 3; k++) {
            if (!fr.has[k]) continue;
            for (int64_t a = 0; a < s->n_atoms; a++)
                for (int d = 0; d < 3; d++) {
                    double e = fabs((double)b[k][a * 3 + d] - (double)val(f, a, d, k));
                    if (e > maxerr) maxerr = e;
                }
        }
        if (s->box_every && f % s->box_every == 0) {
            CHECK(fr.has[ZT_BOX]);
            double bt = tol > 0 ? tol : 1e-6;
            CHECK(fabs(fr.box[0][0] - (10 + 0.1 * (double)f)) <= bt);
            CHECK(fabs(fr.box[1][0] - 1) <= bt);
            CHECK(fabs(fr.box[2][1] - 0.25) <= bt);
            CHECK(fabs(fr.box[2][2] - 12) <= bt);
        }
        if (s->obs_every) {
            double t = 0, c[3] = {0};
            int rt = zt_reader_read_data(r, ti, f, &t), rcm = zt_reader_read_data(r, ci, f, c);
            if (f % s->obs_every == 0) {
                CHECK_OK(rt);
                CHECK_OK(rcm);
                CHECK_CLOSE(t, 300 + (double)f, 0);
                CHECK_CLOSE(c[0], (double)f, 0);
                CHECK_CLOSE(c[1], 2.0 * (double)f, 0);
                CHECK_CLOSE(c[2], -1, 0);
            } else {
                CHECK_RC(rt, ZT_ENODATA);
            }
        }
    }
    if (tol == 0) {
        if (maxerr != 0) fprintf(stderr, "%s: max error %g, want exact\n", url, maxerr);
        CHECK(maxerr == 0);
    } else {
        if (!(maxerr <= tol)) fprintf(stderr, "max error %g > %g\n", maxerr, tol);
        CHECK(maxerr <= tol);
        CHECK(maxerr > 0); /* quantization really happened */
    }
    for (int k = 0; k < 3; k++) free(b[k]);
    zt_reader_close(r);
}

/* ---- libhdf5's view ------------------------------------------------------------- */
static haddr_t addr_of(hid_t fid, const char *path, unsigned *nlinks) {
    H5O_info_t oi;
    if (H5Oget_info_by_name2(fid, path, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
        fprintf(stderr, "no object %s\n", path);
        zt_test_failures++;
        return HADDR_UNDEF;
    }
    if (nlinks) *nlinks = oi.rc;
    return oi.addr;
}

/* a and b are the same dataset (a hard link) or, when !linked, distinct. */
static void check_link(hid_t fid, const char *a, const char *b, bool linked) {
    unsigned na = 0, nb = 0;
    haddr_t x = addr_of(fid, a, &na), y = addr_of(fid, b, &nb);
    if ((x == y) != linked) fprintf(stderr, "%s vs %s: linked %d, want %d\n", a, b, x == y, linked);
    CHECK((x == y) == linked);
    if (linked) CHECK(na >= 2 && na == nb);
}

static void check_layout(const char *path) {
    zt__hdf5_lock();
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(fid >= 0);
    if (fid < 0) {
        zt__hdf5_unlock();
        return;
    }
    const char *G = "particles/trajectory";
    char a[256], b[256];
    /* box, force (every frame) and the observables share position's step/time */
    static const char *same[] = {"box/edges", "force"};
    for (int i = 0; i < 2; i++)
        for (int t = 0; t < 2; t++) {
            snprintf(a, sizeof a, "%s/position/%s", G, t ? "time" : "step");
            snprintf(b, sizeof b, "%s/%s/%s", G, same[i], t ? "time" : "step");
            check_link(fid, a, b, true);
        }
    snprintf(a, sizeof a, "%s/position/step", G);
    check_link(fid, a, "observables/temperature/step", true);
    check_link(fid, a, "observables/com/step", true);
    /* velocity (every 2nd frame) keeps its own */
    snprintf(b, sizeof b, "%s/velocity/step", G);
    check_link(fid, a, b, false);
    snprintf(a, sizeof a, "%s/position/time", G);
    snprintf(b, sizeof b, "%s/velocity/time", G);
    check_link(fid, a, b, false);
    /* value datasets: chunked, resizable along axis 0, unit attributes */
    hid_t d = H5Dopen2(fid, "particles/trajectory/position/value", H5P_DEFAULT);
    hid_t sp = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
    hsize_t dims[3], maxd[3], ch[3];
    CHECK_EQ_INT(H5Sget_simple_extent_dims(sp, dims, maxd), 3);
    CHECK(maxd[0] == H5S_UNLIMITED && maxd[1] == dims[1] && maxd[2] == 3);
    CHECK_EQ_INT(H5Pget_layout(dcpl), H5D_CHUNKED);
    CHECK_EQ_INT(H5Pget_chunk(dcpl, 3, ch), 3);
    CHECK(ch[1] == dims[1] && ch[2] == 3 && ch[0] >= 1);
    hid_t at = H5Aopen(d, "unit", H5P_DEFAULT), ty = H5Aget_type(at);
    /* variable-length UTF-8 strings, as h5py writes */
    CHECK_EQ_INT(H5Tget_class(ty), H5T_STRING);
    CHECK(H5Tis_variable_str(ty) > 0);
    CHECK_EQ_INT(H5Tget_cset(ty), H5T_CSET_UTF8);
    H5Tclose(ty);
    H5Aclose(at);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Dclose(d);
    hid_t g = H5Gopen2(fid, "h5md", H5P_DEFAULT);
    at = H5Aopen(g, "version", H5P_DEFAULT);
    ty = H5Aget_type(at);
    CHECK_EQ_INT(H5Tget_class(ty), H5T_INTEGER);
    CHECK_EQ_INT(H5Tget_size(ty), 8);
    int64_t ver[2] = {0, 0};
    CHECK(H5Aread(at, H5T_NATIVE_INT64, ver) >= 0);
    CHECK(ver[0] == 1 && ver[1] == 1);
    H5Tclose(ty);
    H5Aclose(at);
    H5Gclose(g);
    H5Fclose(fid);
    zt__hdf5_unlock();
}

/* Filters of a dataset: ids in pipeline order, deflate level. */
static int filters_of(const char *path, const char *dset, int *ids, unsigned *level, hsize_t *chunk0) {
    zt__hdf5_lock();
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = fid >= 0 ? H5Dopen2(fid, dset, H5P_DEFAULT) : -1;
    hid_t dcpl = d >= 0 ? H5Dget_create_plist(d) : -1;
    int n = dcpl >= 0 ? H5Pget_nfilters(dcpl) : -1;
    for (int i = 0; i < n && i < 4; i++) {
        unsigned flags, cd[8];
        size_t ncd = 8;
        ids[i] = (int)H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, 0, NULL, NULL);
        if (ids[i] == H5Z_FILTER_DEFLATE && ncd >= 1) *level = cd[0];
        if (ids[i] == 32000) {
            CHECK(ncd >= 3);
            CHECK(flags & H5Z_FLAG_OPTIONAL);
        }
    }
    hsize_t ch[4] = {0};
    if (dcpl >= 0) H5Pget_chunk(dcpl, 4, ch);
    *chunk0 = ch[0];
    if (dcpl >= 0) H5Pclose(dcpl);
    if (d >= 0) H5Dclose(d);
    if (fid >= 0) H5Fclose(fid);
    zt__hdf5_unlock();
    return n;
}

static void test_compressors(const char *dir) {
    struct {
        const char *spec;
        int n;
        int ids[2];
        unsigned level;
    } cases[] = {
        {NULL, 0, {0, 0}, 0}, /* H5MD default: none (MDAnalysis') */
        {"none", 0, {0, 0}, 0},
        {"gzip", 1, {H5Z_FILTER_DEFLATE, 0}, 4},
        {"zlib:level=1", 1, {H5Z_FILTER_DEFLATE, 0}, 1},
        {"gzip:level=6,shuffle=true", 2, {H5Z_FILTER_SHUFFLE, H5Z_FILTER_DEFLATE}, 6},
        {"{\"id\": \"gzip\", \"level\": 9, \"shuffle\": true}", 2, {H5Z_FILTER_SHUFFLE, H5Z_FILTER_DEFLATE}, 9},
        {"[{\"id\": \"shuffle\", \"elementsize\": 4}, {\"id\": \"zlib\", \"level\": 3}]", 2,
         {H5Z_FILTER_SHUFFLE, H5Z_FILTER_DEFLATE}, 3},
        {"lzf", 1, {32000, 0}, 0},
        {"lzf:shuffle=1", 2, {H5Z_FILTER_SHUFFLE, 32000}, 0},
    };
    spec_t s = {50, 9, 1, 0, 1, 1, false};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        zt_writer_opts_t o = ZT_WRITER_OPTS_DEFAULTS;
        o.compressor = cases[i].spec;
        o.n_frames = 9;
        char url[1024];
        snprintf(url, sizeof url, "%s/comp%zu.h5md", dir, i);
        CHECK_OK(write_traj(url, &s, &o));
        check_traj(url, &s, 0, 9);
        int ids[4] = {0};
        unsigned level = 0;
        hsize_t c0 = 0;
        int n = filters_of(url, "particles/trajectory/position/value", ids, &level, &c0);
        if (n != cases[i].n) fprintf(stderr, "%s: %d filters, want %d\n", cases[i].spec ? cases[i].spec : "NULL", n, cases[i].n);
        CHECK_EQ_INT(n, cases[i].n);
        for (int k = 0; k < cases[i].n && k < n; k++) CHECK_EQ_INT(ids[k], cases[i].ids[k]);
        if (cases[i].level) CHECK_EQ_INT(level, cases[i].level);
        CHECK_EQ_INT(c0, 9); /* n_frames caps the chunk (9 * 50 * 12 bytes) */
        /* small arrays stay uncompressed (as MDAnalysis writes them) */
        CHECK_EQ_INT(filters_of(url, "particles/trajectory/position/step", ids, &level, &c0), 0);
        CHECK_EQ_INT(filters_of(url, "particles/trajectory/box/edges/value", ids, &level, &c0), 0);
        CHECK_EQ_INT(filters_of(url, "observables/temperature/value", ids, &level, &c0), 0);
    }
    /* LZF on data that does not shrink: chunks stored raw (mask bit) still read */
    spec_t tiny = {1, 5, 0, 0, 0, 0, false};
    zt_writer_opts_t o = ZT_WRITER_OPTS_DEFAULTS;
    o.compressor = "lzf";
    char url[1024];
    snprintf(url, sizeof url, "%s/lzf_tiny.h5md", dir);
    CHECK_OK(write_traj(url, &tiny, &o));
    check_traj(url, &tiny, 0, 5);

    /* anything else: ZT_EUNSUPPORTED at create, naming it and the supported ones */
    const char *bad[] = {"blosc", "zstd:level=3", "{\"id\": \"lz4\"}", "bz2", "[{\"id\": \"shuffle\"}, {\"id\": \"zstd\"}]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        zt_writer_t *w = NULL;
        zt_writer_opts_t b = ZT_WRITER_OPTS_DEFAULTS;
        b.compressor = bad[i];
        snprintf(url, sizeof url, "%s/bad%zu.h5md", dir, i);
        CHECK_RC(zt_writer_create(url, 3, &b, &w), ZT_EUNSUPPORTED);
        const char *id = i == 0 ? "blosc" : i == 1 ? "zstd" : i == 2 ? "lz4" : i == 3 ? "bz2" : "zstd";
        CHECK(strstr(zt_last_error(), id) != NULL);
        CHECK(strstr(zt_last_error(), "gzip") != NULL && strstr(zt_last_error(), "lzf") != NULL);
        CHECK(access(url, F_OK) != 0); /* nothing created */
    }
    const char *inval[] = {":", "gzip:level=12", "gzip:foo=1", "{\"id\": \"shuffle\"}", "lzf:shuffle=2", "[{\"id\": \"gzip\"}, {\"id\": \"shuffle\"}]", "{\"id\": "};
    for (size_t i = 0; i < sizeof inval / sizeof *inval; i++) {
        zt_writer_t *w = NULL;
        zt_writer_opts_t b = ZT_WRITER_OPTS_DEFAULTS;
        b.compressor = inval[i];
        snprintf(url, sizeof url, "%s/inval%zu.h5md", dir, i);
        CHECK_RC(zt_writer_create(url, 3, &b, &w), ZT_EINVAL);
    }
}

/* The LZF filter we register with libhdf5: it decodes our LZF chunks (incl.
 * chunks stored raw) to the values our reader gives, and libhdf5 encoding
 * through it gives chunks h5py's own LZF filter decodes. */
static void test_lzf_filter(const char *dir) {
    char url[1024], path2[1024];
    spec_t s = {300, 7, 1, 1, 1, 0, false};
    zt_writer_opts_t o = ZT_WRITER_OPTS_DEFAULTS;
    o.compressor = "lzf:shuffle=true";
    o.chunk_bytes = 300 * 12 * 2;
    snprintf(url, sizeof url, "%s/lzf_lib.h5md", dir);
    CHECK_OK(write_traj(url, &s, &o));
    size_t n = 7 * 300 * 3;
    float *lib = malloc(n * 4), *ours = malloc(n * 4);
    zt__hdf5_lock();
    hid_t fid = H5Fopen(url, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = fid >= 0 ? H5Dopen2(fid, "particles/trajectory/velocity/value", H5P_DEFAULT) : -1;
    CHECK(d >= 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, lib) >= 0);
    if (d >= 0) H5Dclose(d);
    if (fid >= 0) H5Fclose(fid);
    zt__hdf5_unlock();
    zt_reader_t *r = NULL;
    CHECK_OK(zt_reader_open(url, NULL, &r));
    zt_atomsel_t all = {NULL, 0, 0, 300};
    if (r) CHECK_OK(zt_reader_timeseries(r, ZT_VELOCITY, 0, 7, 1, &all, ours));
    zt_reader_close(r);
    CHECK(!memcmp(lib, ours, n * 4));
    CHECK(ours[5] == val(0, 1, 2, 1));
    /* libhdf5 encodes through our filter (compressible and random data) */
    snprintf(path2, sizeof path2, "%s/lzf_by_libhdf5.h5", dir);
    uint32_t *v = malloc(4096 * 4);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 4096; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        v[i] = i < 2048 ? (uint32_t)(i / 16) : (uint32_t)x;
    }
    zt__hdf5_lock();
    fid = H5Fcreate(path2, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dim = 4096, ch = 1024;
    hid_t sp = H5Screate_simple(1, &dim, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    unsigned cd[3] = {4, 0x0105, 4096};
    CHECK(H5Pset_chunk(dcpl, 1, &ch) >= 0);
    CHECK(H5Pset_filter(dcpl, 32000, H5Z_FLAG_OPTIONAL, 3, cd) >= 0);
    d = H5Dcreate2(fid, "v", H5T_STD_U32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    CHECK(d >= 0 && H5Dwrite(d, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(fid);
    zt__hdf5_unlock();
    CHECK_EQ_INT(zt_test_system("'%s' -c \"import h5py, numpy as np, sys\n"
                                "d = h5py.File(sys.argv[1], 'r')['v']\n"
                                "assert d.compression == 'lzf'\n"
                                "v = d[:]\n"
                                "assert (v[:2048] == np.arange(2048) // 16).all()\n"
                                "x = 88172645463325252; M = (1 << 64) - 1\n"
                                "for i in range(4096):\n"
                                "    x ^= (x << 13) & M; x ^= x >> 7; x ^= (x << 17) & M\n"
                                "    assert i < 2048 or v[i] == x & 0xFFFFFFFF, i\n"
                                "sizes = [d.id.get_chunk_info(i).size for i in range(4)]\n"
                                "masks = [d.id.get_chunk_info(i).filter_mask for i in range(4)]\n"
                                "assert sizes[0] < 4096 and masks[:2] == [0, 0], (sizes, masks)\n"
                                "assert masks[2:] == [1, 1], masks  # random data: stored raw\n"
                                "\" '%s'",
                                zt_test_python(), path2),
                 0);
    free(v);
    free(lib);
    free(ours);
}

/* ---- killed writer ------------------------------------------------------------------- */
static void test_killed(const char *dir) {
    char url[1024];
    snprintf(url, sizeof url, "%s/killed.h5md", dir);
    spec_t s6 = {100, 14, 1, 0, 1, 1, false};
    const char *comps[] = {NULL, "gzip:shuffle=true"};
    for (int c = 0; c < 2; c++) {
        unlink(url);
        pid_t pid = fork();
        if (pid == 0) {
            zt_writer_opts_t o = ZT_WRITER_OPTS_DEFAULTS;
            o.chunk_bytes = 100 * 12 * 4; /* 4 frames per chunk */
            o.compressor = comps[c];
            zt_writer_t *cw = NULL;
            if (zt_writer_create(url, 100, &o, &cw)) _exit(3);
            if (write_frames(cw, &s6, 14)) _exit(4);
            _exit(0); /* no close: as if killed */
        }
        int st = 0;
        waitpid(pid, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        /* 3 whole chunks were flushed; every flushed frame reads back */
        check_traj(url, &s6, 0, 12);
        /* h5py opens it too, with consistent lengths */
        CHECK_EQ_INT(zt_test_system("'%s' -c \"import h5py, sys\n"
                                    "f = h5py.File(sys.argv[1], 'r')\n"
                                    "g = f['particles/trajectory']\n"
                                    "for e in ('position', 'velocity', 'box/edges'):\n"
                                    "    assert g[e + '/value'].shape[0] == g[e + '/step'].shape[0] == g[e + '/time'].shape[0], e\n"
                                    "assert g['position/value'].shape == (12, 100, 3)\n"
                                    "assert list(g['position/step'][:]) == [10 * i for i in range(12)]\n"
                                    "assert f['observables/temperature/value'].shape[0] == f['observables/temperature/step'].shape[0]\n"
                                    "\" '%s'",
                                    zt_test_python(), url),
                     0);
    }
}

/* ---- the back end directly: rows written ahead of their commit ---------------------------- */
static void test_backend_rows_ahead(const char *dir) {
    char url[1024];
    snprintf(url, sizeof url, "%s/ahead.h5md", dir);
    zt_wbackend *b = NULL;
    CHECK_OK(zt__h5writer_open(url, NULL, false, &b));
    if (!b) return;
    CHECK(!b->obs_in_group);
    CHECK_OK(b->vt->create_group(b, "particles/g", NULL));
    zt_warr_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.path = "particles/g/position/value";
    sp.dtype = (zt_dtype){'f', 4, false};
    sp.ndim = 3;
    sp.chunks[0] = 4;
    sp.chunks[1] = sp.shape[1] = 2;
    sp.chunks[2] = sp.shape[2] = 3;
    sp.precision = -1;
    sp.bulk = true;
    json_t *gz = NULL;
    CHECK_OK(zt__h5writer_compressor("gzip", &gz));
    sp.compressor = gz;
    zt_warr *pos = NULL, *step = NULL;
    CHECK_OK(b->vt->create_array(b, &sp, &pos));
    zt_warr_spec ss;
    memset(&ss, 0, sizeof ss);
    ss.path = "particles/g/position/step";
    ss.dtype = (zt_dtype){'i', 8, false};
    ss.ndim = 1;
    ss.chunks[0] = 1024;
    ss.precision = -1;
    CHECK_OK(b->vt->create_array(b, &ss, &step));
    float v[12 * 6];
    int64_t st[12];
    for (int i = 0; i < 12 * 6; i++) v[i] = (float)i * 0.5f;
    for (int i = 0; i < 12; i++) st[i] = 7 * i;
    /* 8 value rows and 5 steps written, 4 committed, then a sync */
    CHECK_OK(b->vt->write_rows(b, pos, 0, 8, v));
    CHECK_OK(b->vt->write_rows(b, step, 0, 5, st));
    CHECK_OK(b->vt->set_rows(b, pos, 4));
    CHECK_OK(b->vt->set_rows(b, step, 4));
    CHECK_OK(b->vt->sync(b));
    /* the file holds exactly the committed rows (our reader takes no lock) */
    zt_tree *t = NULL;
    CHECK_OK(zt__tree_open(url, NULL, &t));
    zt_node *n = t ? zt__node_find(t->root, "particles/g/position/value") : NULL;
    zt_node *ns = t ? zt__node_find(t->root, "particles/g/position/step") : NULL;
    CHECK(n && n->array && n->array->shape[0] == 4);
    CHECK(ns && ns->array && ns->array->shape[0] == 4);
    zt__tree_free(t);
    /* rewrites of held rows are skipped; a gap is refused */
    CHECK_OK(b->vt->write_rows(b, step, 0, 8, st));
    CHECK_RC(b->vt->write_rows(b, step, 10, 2, st), ZT_EINVAL);
    CHECK_RC(b->vt->set_rows(b, step, 9), ZT_EINVAL);
    CHECK_OK(b->vt->write_rows(b, pos, 8, 4, v + 8 * 6));
    CHECK_OK(b->vt->set_rows(b, pos, 12));
    CHECK_OK(b->vt->write_rows(b, step, 8, 4, st + 8));
    CHECK_OK(b->vt->set_rows(b, step, 12));
    CHECK_OK(b->vt->close(b, true));
    json_decref(gz);
    /* every row arrived */
    t = NULL;
    CHECK_OK(zt__tree_open(url, NULL, &t));
    n = t ? zt__node_find(t->root, "particles/g/position/value") : NULL;
    ns = t ? zt__node_find(t->root, "particles/g/position/step") : NULL;
    if (n && n->array && ns && ns->array) {
        CHECK_EQ_INT(n->array->shape[0], 12);
        CHECK_EQ_INT(ns->array->shape[0], 12);
        uint8_t *x = NULL, *y = NULL;
        size_t nx = 0, ny = 0;
        CHECK_OK(h5t_read_raw(n->array, &x, &nx));
        CHECK_OK(h5t_read_raw(ns->array, &y, &ny));
        CHECK(x && nx == sizeof v && !memcmp(x, v, nx));
        CHECK(y && ny == sizeof st && !memcmp(y, st, ny));
        CHECK(strstr(n->array->codecs_desc, "deflate") != NULL);
        free(x);
        free(y);
    } else {
        CHECK(0);
    }
    zt__tree_free(t);
}

/* ---- remote destination ----------------------------------------------------------------- */
static size_t count_files(const char *dir) {
    DIR *d = opendir(dir);
    size_t n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

/* Copy a trajectory frame by frame (as zarrtraj convert does). */
static int copy_traj(const char *in, const char *out, const char *compressor) {
    zt_reader_t *r = NULL;
    int rc = zt_reader_open(in, NULL, &r);
    if (rc) return rc;
    int64_t na = zt_reader_n_atoms(r), nf = zt_reader_n_frames(r);
    zt_writer_opts_t wo = ZT_WRITER_OPTS_DEFAULTS;
    wo.n_frames = nf;
    wo.compressor = compressor;
    const char *lu = zt_reader_unit(r, ZT_POSITION), *vu = zt_reader_unit(r, ZT_VELOCITY),
               *fu = zt_reader_unit(r, ZT_FORCE), *tu = zt_reader_time_unit(r);
    wo.length_unit = lu ? lu : "";
    wo.velocity_unit = vu ? vu : "";
    wo.force_unit = fu ? fu : "";
    wo.time_unit = tu ? tu : "";
    zt_writer_t *w = NULL;
    rc = zt_writer_create(out, na, &wo, &w);
    float *buf[3];
    for (int k = 0; k < 3; k++) buf[k] = malloc(sizeof(float) * (size_t)(na * 3 + 1));
    for (int64_t i = 0; i < nf && !rc; i++) {
        zt_frame_t f;
        rc = zt_reader_read_frame(r, i, &f, buf[0], buf[1], buf[2]);
        double box[9];
        for (int q = 0; q < 9; q++) box[q] = f.box[q / 3][q % 3];
        zt_wframe_t wf = {f.step, f.has_time ? f.time : NAN, f.has[0] ? buf[0] : NULL, f.has[1] ? buf[1] : NULL,
                          f.has[2] ? buf[2] : NULL, f.has[3] ? box : NULL, NULL, 0};
        if (!rc) rc = zt_writer_write_frame(w, &wf);
    }
    int crc = zt_writer_close(w);
    for (int k = 0; k < 3; k++) free(buf[k]);
    zt_reader_close(r);
    return rc ? rc : crc;
}

static void compare_trajs(const char *a, const char *b) {
    zt_reader_t *r1 = NULL, *r2 = NULL;
    CHECK_OK(zt_reader_open(a, NULL, &r1));
    CHECK_OK(zt_reader_open(b, NULL, &r2));
    if (!r1 || !r2) {
        zt_reader_close(r1);
        zt_reader_close(r2);
        return;
    }
    CHECK(!strcmp(zt_reader_format(r2), "h5md"));
    int64_t na = zt_reader_n_atoms(r1), nf = zt_reader_n_frames(r1);
    CHECK_EQ_INT(zt_reader_n_atoms(r2), na);
    CHECK_EQ_INT(zt_reader_n_frames(r2), nf);
    for (int k = 0; k < ZT_N_ELEMENTS; k++) CHECK_EQ_INT(zt_reader_has(r2, (zt_element_t)k), zt_reader_has(r1, (zt_element_t)k));
    const char *u1 = zt_reader_unit(r1, ZT_POSITION), *u2 = zt_reader_unit(r2, ZT_POSITION);
    CHECK(u1 && u2 && !strcmp(u1, u2));
    float *x[3], *y[3];
    for (int k = 0; k < 3; k++) {
        x[k] = malloc(sizeof(float) * (size_t)(na * 3 + 1));
        y[k] = malloc(sizeof(float) * (size_t)(na * 3 + 1));
    }
    int64_t diffs = 0;
    for (int64_t i = 0; i < nf; i++) {
        zt_frame_t f1, f2;
        CHECK_OK(zt_reader_read_frame(r1, i, &f1, x[0], x[1], x[2]));
        CHECK_OK(zt_reader_read_frame(r2, i, &f2, y[0], y[1], y[2]));
        CHECK_EQ_INT(f2.step, f1.step);
        CHECK(f1.has_time == f2.has_time && (!f1.has_time || f1.time == f2.time));
        for (int k = 0; k < 3; k++) {
            CHECK_EQ_INT(f2.has[k], f1.has[k]);
            if (f1.has[k] && memcmp(x[k], y[k], sizeof(float) * (size_t)(na * 3))) diffs++;
        }
        for (int q = 0; q < 9; q++)
            if ((float)f1.box[q / 3][q % 3] != (float)f2.box[q / 3][q % 3]) diffs++;
    }
    CHECK_EQ_INT(diffs, 0);
    for (int k = 0; k < 3; k++) {
        free(x[k]);
        free(y[k]);
    }
    zt_reader_close(r1);
    zt_reader_close(r2);
}

static void test_remote(const char *dir) {
    char *tmpd = zt__asprintf("%s/tmpfiles", dir);
    mkdir(tmpd, 0755);
    setenv("TMPDIR", tmpd, 1);
    char *src = zt_test_data("generated/mda242_lammps_arkr_xvf_obs_gzip.h5md");
    if (access(src, F_OK) == 0) {
        CHECK_OK(copy_traj(src, "memory://h5w/x.h5md", "gzip:shuffle=true"));
        compare_trajs(src, "memory://h5w/x.h5md");
        CHECK_EQ_INT(count_files(tmpd), 0); /* temporary file removed */
        /* no overwrite -> ZT_EEXIST; with overwrite it is replaced */
        zt_writer_t *w = NULL;
        CHECK_RC(zt_writer_create("memory://h5w/x.h5md", 3, NULL, &w), ZT_EEXIST);
        CHECK_EQ_INT(count_files(tmpd), 0);
        spec_t s = {7, 6, 2, 3, 1, 1, false};
        zt_writer_opts_t o = ZT_WRITER_OPTS_DEFAULTS;
        o.overwrite = 1;
        o.compressor = "lzf";
        CHECK_OK(write_traj("memory://h5w/x.h5md", &s, &o));
        check_traj("memory://h5w/x.h5md", &s, 0, 6);
        CHECK_EQ_INT(count_files(tmpd), 0);
        /* a failed writer uploads nothing and leaves no temporary file */
        CHECK_OK(zt_writer_create("memory://h5w/failed.h5md", 2, NULL, &w));
        float p6[6] = {0};
        zt_wframe_t f1 = {10, 0, p6, NULL, NULL, NULL, NULL, 0}, f0 = {5, 0, p6, NULL, NULL, NULL, NULL, 0};
        CHECK_OK(zt_writer_write_frame(w, &f1));
        CHECK_RC(zt_writer_write_frame(w, &f0), ZT_EINVAL);
        zt_writer_close(w);
        CHECK_EQ_INT(count_files(tmpd), 0);
        zt_reader_t *r = NULL;
        CHECK_RC(zt_reader_open("memory://h5w/failed.h5md", NULL, &r), ZT_ENOTFOUND);
    } else {
        fprintf(stderr, "skipping remote conversion: %s missing\n", src);
    }
    unsetenv("TMPDIR");
    free(src);
    free(tmpd);
}

/* ---- local files: overwrite rules and error messages --------------------------------------- */
static void test_local_rules(const char *dir) {
    char url[1024];
    spec_t s = {4, 3, 0, 0, 1, 0, false};
    snprintf(url, sizeof url, "%s/rules.h5md", dir);
    CHECK_OK(write_traj(url, &s, NULL));
    zt_writer_t *w = NULL;
    CHECK_RC(zt_writer_create(url, 3, NULL, &w), ZT_EEXIST);
    CHECK(strstr(zt_last_error(), "rules.h5md") != NULL);
    check_traj(url, &s, 0, 3); /* untouched */
    zt_writer_opts_t o = ZT_WRITER_OPTS_DEFAULTS;
    o.overwrite = 1;
    spec_t s2 = {6, 5, 1, 1, 1, 1, true};
    CHECK_OK(write_traj(url, &s2, &o));
    check_traj(url, &s2, 0, 5);
    /* a directory is never replaced */
    snprintf(url, sizeof url, "%s/adir.h5md", dir);
    mkdir(url, 0755);
    CHECK_RC(zt_writer_create(url, 3, &o, &w), ZT_EEXIST);
    /* libhdf5 failures name the file */
    snprintf(url, sizeof url, "%s/no/such/dir/x.h5md", dir);
    int rc = zt_writer_create(url, 3, NULL, &w);
    CHECK(rc != 0);
    CHECK(strstr(zt_last_error(), "no/such/dir/x.h5md") != NULL);
    /* a writer failing before any frame leaves no file behind */
    snprintf(url, sizeof url, "%s/early.h5md", dir);
    CHECK_OK(zt_writer_create(url, 2, NULL, &w));
    CHECK_OK(zt_writer_close(w));
    CHECK(access(url, F_OK) == 0); /* closed normally: an empty trajectory */
}

int main(void) {
    char *dir = zt_test_tmpdir("h5writer");
    char url[1024];

    /* 1. lossless, several chunks with a partial last one, mixed sampling,
     * observables (scalar and vector), box; layout and links */
    spec_t s1 = {37, 23, 2, 1, 1, 1, false};
    zt_writer_opts_t wo = ZT_WRITER_OPTS_DEFAULTS;
    wo.chunk_bytes = 37 * 12 * 4; /* 4 frames per chunk */
    snprintf(url, sizeof url, "%s/a.h5md", dir);
    CHECK_OK(write_traj(url, &s1, &wo));
    check_traj(url, &s1, 0, 23);
    check_layout(url);
    zt_reader_t *r = NULL;
    CHECK_OK(zt_reader_open(url, NULL, &r));
    if (r) {
        zt_array_info_t ai;
        CHECK_OK(zt_reader_array_info(r, ZT_POSITION, &ai));
        CHECK_EQ_INT(ai.chunks[0], 4);
        CHECK_EQ_INT(ai.shape[0], 23);
        CHECK(!strcmp(ai.unit, "Angstrom"));
        CHECK(!strcmp(zt_reader_unit(r, ZT_VELOCITY), "Angstrom ps-1"));
        CHECK(!strcmp(zt_reader_unit(r, ZT_FORCE), "kJ mol-1 Angstrom-1"));
        CHECK(!strcmp(zt_reader_time_unit(r), "ps"));
        CHECK(!strcmp(zt_reader_attr(r, "creator"), "zarrtraj"));
        CHECK(!strcmp(zt_reader_attr(r, "creator_version"), ZT_VERSION_STRING));
        int ma = 0, mi = 0;
        CHECK_OK(zt_reader_h5md_version(r, &ma, &mi));
        CHECK(ma == 1 && mi == 1);
        const char *bd = NULL;
        CHECK_OK(zt_reader_box_boundary(r, 2, &bd));
        CHECK(bd && !strcmp(bd, "periodic"));
        zt_reader_close(r);
    }

    /* 2. big chunks are split (a divisor of the front end's): at most 1 MiB
     * uncompressed, 64 KiB or one frame compressed */
    struct {
        int64_t atoms;
        const char *comp;
        hsize_t want;
    } big[] = {{20000, NULL, 3}, {20000, "gzip:level=1", 1}, {1000, "lzf", 3}, {1000, NULL, 6}};
    for (size_t i = 0; i < sizeof big / sizeof *big; i++) {
        spec_t s2 = {big[i].atoms, 7, 0, 0, 1, 0, false};
        wo = (zt_writer_opts_t)ZT_WRITER_OPTS_DEFAULTS;
        snprintf(url, sizeof url, "%s/big%zu.h5md", dir, i);
        wo.chunk_bytes = (size_t)big[i].atoms * 12 * 6; /* 6 frames per front-end chunk */
        wo.compressor = big[i].comp;
        CHECK_OK(write_traj(url, &s2, &wo));
        check_traj(url, &s2, 0, 7);
        int ids[4];
        unsigned level = 0;
        hsize_t c0 = 0;
        filters_of(url, "particles/trajectory/position/value", ids, &level, &c0);
        CHECK_EQ_INT(c0, big[i].want);
    }

    /* 3. compressors (filters as asked, values exact), and errors */
    test_compressors(dir);
    test_lzf_filter(dir);

    /* 4. precision: within numcodecs' bound, stored as plain float32 */
    spec_t s4 = {50, 9, 1, 1, 1, 1, false};
    for (int digits = 0; digits <= 4; digits += 2) {
        zt_writer_opts_t o = ZT_WRITER_OPTS_DEFAULTS;
        o.precision = digits;
        o.compressor = "gzip";
        snprintf(url, sizeof url, "%s/p%d.h5md", dir, digits);
        CHECK_OK(write_traj(url, &s4, &o));
        check_traj(url, &s4, 0.5 * pow(10, -digits) + 1e-5, 9);
    }

    /* 5. no time anywhere; no box; a single atom; zero atoms */
    spec_t s5 = {5, 4, 0, 0, 0, 0, true};
    snprintf(url, sizeof url, "%s/notime.h5md", dir);
    CHECK_OK(write_traj(url, &s5, NULL));
    check_traj(url, &s5, 0, 4);
    spec_t s5b = {1, 3, 1, 1, 0, 0, false};
    snprintf(url, sizeof url, "%s/one.h5md", dir);
    CHECK_OK(write_traj(url, &s5b, NULL));
    check_traj(url, &s5b, 0, 3);
    spec_t s5c = {0, 3, 0, 0, 1, 0, false};
    snprintf(url, sizeof url, "%s/zero.h5md", dir);
    CHECK_OK(write_traj(url, &s5c, NULL));

    /* 6. crash safety */
    test_killed(dir);
    test_backend_rows_ahead(dir);

    /* 7. remote destination through a temporary file; local rules */
    test_remote(dir);
    test_local_rules(dir);
    free(dir);
    TEST_DONE();
}
