/* AMBER NetCDF trajectories (Conventions "AMBER": frame x atom x spatial
 * coordinates/velocities/forces, cell_lengths/cell_angles, time) through
 * libnetcdf. libnetcdf opens paths, so only local files are read; the whole
 * trajectory is loaded at open (one chunk per array). Units come from the
 * variables' attributes (spelled the H5MD way when they are AMBER's usual
 * ones); velocities are multiplied by their scale_factor. */
#include "mdformats/mdformats.h"

#ifdef ZT_HAVE_NETCDF
#include <netcdf.h>
#ifdef ZT_HAVE_HDF5
#include "hdf5/hdf5.h" /* a NetCDF-4 file is read by libhdf5: one caller at a time */
#endif

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void zt__nc_lock(void) {
#ifdef ZT_HAVE_HDF5
    zt__hdf5_lock();
#endif
}
static void zt__nc_unlock(void) {
#ifdef ZT_HAVE_HDF5
    zt__hdf5_unlock();
#endif
}

static int zt__nc_err(int st, const char *url, const char *what) {
    return zt__err(st == NC_ENOTNC ? ZT_EFORMAT : ZT_ECORRUPT, "%s: NetCDF: %s: %s", url, what, nc_strerror(st));
}

/* Text attribute (malloc'd) or NULL. */
static char *zt__nc_text(int nc, int var, const char *name) {
    size_t n = 0;
    nc_type t;
    if (nc_inq_att(nc, var, name, &t, &n) != NC_NOERR || t != NC_CHAR || n > 4096) return NULL;
    char *s = calloc(1, n + 1);
    if (s && nc_get_att_text(nc, var, name, s) != NC_NOERR) {
        free(s);
        return NULL;
    }
    while (s && n > 0 && (s[n - 1] == 0 || s[n - 1] == ' ')) s[--n] = 0;
    return s;
}

static const char *zt__nc_unit(const char *u) {
    static const char *map[][2] = {{"angstrom", "Angstrom"}, {"angstroms", "Angstrom"}, {"picosecond", "ps"},
                                   {"picoseconds", "ps"}, {"angstrom/picosecond", "Angstrom ps-1"},
                                   {"kilocalorie/mole/angstrom", "kcal mol-1 Angstrom-1"}, {"nanometer", "nm"},
                                   {"femtosecond", "fs"}, {"nanosecond", "ns"}};
    if (!u) return NULL;
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcmp(u, map[i][0])) return map[i][1];
    return u;
}

/* A frame x atom x 3 variable: its values (float32, scaled) or NULL when absent. */
static int zt__nc_peratom(int nc, const char *url, const char *name, int fdim, int adim, int sdim, size_t nf, size_t na,
                          float **out, char **unit) {
    *out = NULL;
    *unit = NULL;
    int v, nd, dims[NC_MAX_VAR_DIMS];
    if (nc_inq_varid(nc, name, &v) != NC_NOERR) return 0;
    nc_type t;
    int st = nc_inq_var(nc, v, NULL, &t, &nd, dims, NULL);
    if (st) return zt__nc_err(st, url, name);
    if (nd != 3 || dims[0] != fdim || dims[1] != adim || dims[2] != sdim)
        return zt__err(ZT_ESHAPE, "%s: NetCDF: %s: dimensions must be (frame, atom, spatial)", url, name);
    size_t n = nf * na * 3;
    float *x = malloc(sizeof *x * (n ? n : 1));
    if (!x) return zt__err(ZT_ENOMEM, "%s: out of memory for %s", url, name);
    if (n && (st = nc_get_var_float(nc, v, x))) {
        free(x);
        return zt__nc_err(st, url, name);
    }
    double scale = 1;
    nc_type at;
    size_t al;
    if (nc_inq_att(nc, v, "scale_factor", &at, &al) == NC_NOERR && al == 1 && nc_get_att_double(nc, v, "scale_factor", &scale) == NC_NOERR && scale != 1)
        for (size_t i = 0; i < n; i++) x[i] = (float)(x[i] * scale);
    *unit = zt__nc_text(nc, v, "units");
    *out = x;
    return 0;
}

int zt__nc_open_tree(zt_store *s, const char *url, const zt_options_t *opts, zt_tree **out) {
    (void)opts;
    if (!zt__store_can(s, ZT_STORE_CAP_LOCAL_PATH) || !s->local_path)
        return zt__err(ZT_EUNSUPPORTED, "%s: AMBER NetCDF is read from local files only (libnetcdf opens paths)", url);
    int nc = -1, rc = 0, st;
    float *el[3] = {NULL, NULL, NULL};
    char *units[3] = {NULL, NULL, NULL}, *tunit = NULL, *lunit = NULL, *conv = NULL;
    double *time = NULL, *box = NULL, *cl = NULL, *ca = NULL;
    int64_t *step = NULL;
    zt__nc_lock();
    if ((st = nc_open(s->local_path, NC_NOWRITE, &nc))) {
        rc = st == NC_ENOTNC ? zt__err(ZT_EFORMAT, "%s: not a NetCDF file", url) : zt__nc_err(st, url, "open");
        nc = -1;
        goto done;
    }
    conv = zt__nc_text(nc, NC_GLOBAL, "Conventions");
    if (!conv || !strstr(conv, "AMBER")) {
        rc = zt__err(ZT_EFORMAT, "%s: NetCDF file without the AMBER convention (Conventions = \"%s\")", url, conv ? conv : "");
        goto done;
    }
    int fdim, adim, sdim;
    size_t nf, na, ns;
    if (nc_inq_dimid(nc, "frame", &fdim) || nc_inq_dimid(nc, "atom", &adim) || nc_inq_dimid(nc, "spatial", &sdim) ||
        nc_inq_dimlen(nc, fdim, &nf) || nc_inq_dimlen(nc, adim, &na) || nc_inq_dimlen(nc, sdim, &ns)) {
        rc = zt__err(ZT_EFORMAT, "%s: AMBER NetCDF without frame/atom/spatial dimensions (a restart file?)", url);
        goto done;
    }
    if (ns != 3 || na == 0 || na > INT32_MAX / 12 || nf > ((size_t)1 << 30)) {
        rc = zt__err(ZT_ESHAPE, "%s: AMBER NetCDF: %zu atoms x %zu spatial dimensions not supported", url, na, ns);
        goto done;
    }
    int fmt = 0;
    if (nc_inq_format(nc, &fmt) == NC_NOERR && (fmt == NC_FORMAT_CLASSIC || fmt == NC_FORMAT_64BIT_OFFSET || fmt == NC_FORMAT_CDF5)) {
        /* libnetcdf reads missing records of a cut classic file as fill
         * values: the variables' bytes must fit in the file */
        int nv = 0;
        uint64_t need = 0, rec = 0;
        nc_inq_nvars(nc, &nv);
        for (int v = 0; v < nv; v++) {
            nc_type t;
            int nd, dims[NC_MAX_VAR_DIMS];
            size_t ts = 0;
            if (nc_inq_var(nc, v, NULL, &t, &nd, dims, NULL) || nc_inq_type(nc, t, NULL, &ts)) continue;
            uint64_t b = ts;
            bool isrec = nd > 0 && dims[0] == fdim;
            for (int d = isrec ? 1 : 0; d < nd; d++) {
                size_t l = 0;
                nc_inq_dimlen(nc, dims[d], &l);
                b *= l;
            }
            if (isrec) rec += b;
            else need += b;
        }
        struct stat fst;
        if (stat(s->local_path, &fst) == 0 && need + rec * nf > (uint64_t)fst.st_size) {
            int64_t whole = rec ? (int64_t)(((uint64_t)fst.st_size > need ? (uint64_t)fst.st_size - need : 0) / rec) : 0;
            rc = zt__err(ZT_ETRUNCATED, "%s: NetCDF file truncated: its %zu frames need at least %llu bytes, the file has %lld "
                         "(frame %lld is cut)", url, nf, (unsigned long long)(need + rec * nf), (long long)fst.st_size,
                         (long long)whole);
            goto done;
        }
    }
    static const char *vars[3] = {"coordinates", "velocities", "forces"};
    for (int k = 0; k < 3 && !rc; k++) rc = zt__nc_peratom(nc, url, vars[k], fdim, adim, sdim, nf, na, &el[k], &units[k]);
    if (rc) goto done;
    size_t nn = nf ? nf : 1;
    step = malloc(sizeof *step * nn);
    int tv;
    if (!step) rc = zt__err(ZT_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < nf; i++) step[i] = (int64_t)i; /* AMBER stores no step: the frame number */
    if (!rc && nc_inq_varid(nc, "time", &tv) == NC_NOERR) {
        time = malloc(sizeof *time * nn);
        if (!time) rc = zt__err(ZT_ENOMEM, "out of memory");
        else if (nf && (st = nc_get_var_double(nc, tv, time))) rc = zt__nc_err(st, url, "time");
        tunit = zt__nc_text(nc, tv, "units");
    }
    int lv, av;
    if (!rc && nc_inq_varid(nc, "cell_lengths", &lv) == NC_NOERR && nc_inq_varid(nc, "cell_angles", &av) == NC_NOERR) {
        cl = malloc(sizeof *cl * nn * 3);
        ca = malloc(sizeof *ca * nn * 3);
        box = malloc(sizeof *box * nn * 9);
        size_t len[2] = {0, 0};
        int nd = 0, d2[NC_MAX_VAR_DIMS];
        if (!cl || !ca || !box) rc = zt__err(ZT_ENOMEM, "out of memory");
        else if (nc_inq_var(nc, lv, NULL, NULL, &nd, d2, NULL) || nd != 2 || d2[0] != fdim ||
                 nc_inq_dimlen(nc, d2[1], &len[0]) || len[0] != 3 || nc_inq_var(nc, av, NULL, NULL, &nd, d2, NULL) ||
                 nd != 2 || d2[0] != fdim || nc_inq_dimlen(nc, d2[1], &len[1]) || len[1] != 3)
            rc = zt__err(ZT_ESHAPE, "%s: AMBER NetCDF: cell_lengths/cell_angles must be (frame, 3)", url);
        else if (nf && ((st = nc_get_var_double(nc, lv, cl)) || (st = nc_get_var_double(nc, av, ca))))
            rc = zt__nc_err(st, url, "cell");
        lunit = zt__nc_text(nc, lv, "units");
        for (size_t i = 0; !rc && i < nf; i++)
            zt__md_box_vectors(cl[i * 3], cl[i * 3 + 1], cl[i * 3 + 2], ca[i * 3], ca[i * 3 + 1], ca[i * 3 + 2], box + i * 9);
    }
    if (!rc && !el[0] && !el[1] && !el[2]) rc = zt__err(ZT_ENODATA, "%s: AMBER NetCDF without coordinates, velocities or forces", url);
    if (rc) goto done;
    nc_close(nc);
    nc = -1;
    zt__nc_unlock();
    {
        zt_mdspec sp;
        memset(&sp, 0, sizeof sp);
        sp.format = "netcdf";
        sp.n_frames = (int64_t)nf;
        sp.n_atoms = (int64_t)na;
        sp.step = step;
        sp.time = time;
        sp.box = box;
        sp.length_unit = zt__nc_unit(lunit ? lunit : units[0]);
        sp.time_unit = zt__nc_unit(tunit);
        zt_dtype f4 = {'f', 4, false};
        static const char *names[3] = {"position", "velocity", "force"};
        for (int k = 0; k < 3; k++) {
            sp.el[k].name = names[k];
            if (!el[k]) continue;
            sp.el[k] = (zt_mdel){names[k], (int64_t)nf, NULL, NULL, NULL, f4, NULL, zt__nc_unit(units[k]), el[k]};
        }
        rc = zt__md_build_tree(s, url, &sp, out);
    }
    zt__nc_lock();
done:
    if (nc >= 0) nc_close(nc);
    zt__nc_unlock();
    for (int k = 0; k < 3; k++) {
        free(el[k]);
        free(units[k]);
    }
    free(tunit);
    free(lunit);
    free(conv);
    free(time);
    free(box);
    free(cl);
    free(ca);
    free(step);
    return rc;
}

#else

int zt__nc_open_tree(zt_store *s, const char *url, const zt_options_t *opts, zt_tree **out) {
    (void)s;
    (void)opts;
    (void)out;
    return zt__err(ZT_EUNSUPPORTED, "%s: AMBER NetCDF file, but zarrtraj was built without libnetcdf", url);
}

#endif
