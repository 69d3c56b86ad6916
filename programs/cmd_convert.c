/* zarrtraj convert: rewrite a trajectory with other compression, precision,
 * chunking or frame range (zarrmd and H5MD, local or remote, either side). */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void zt__convert_help(void) {
    printf("usage: zarrtraj convert IN OUT [--precision N] [--compressor SPEC] [--chunk-bytes N]\n"
           "                        [--preset compact [--quantum Q]]\n"
           "                        [--zarr-format 2|3] [--shard-bytes N] [--inner-frames N]\n"
           "                        [--frames A:B[:S]] [--group G] [--out-group G] [--overwrite]\n"
           "                        [-S key=value ...] [--dst-option key=value ...]\n\n"
           "Copy frames (positions, velocities, forces, box, step, time, observables) from IN to OUT.\n"
           "OUT is a zarrmd directory/URL, or an .h5md file when it ends in .h5md/.h5.\n\n"
           "  --precision N      keep N decimal digits (numcodecs Quantize) of positions,\n"
           "                     velocities, forces and box; default lossless\n"
           "  --compressor SPEC  numcodecs JSON ('{\"id\": \"blosc\", \"cname\": \"zstd\", \"clevel\": 5, \"shuffle\": 2}')\n"
           "                     or short form: zstd, zstd:level=9, blosc:cname=zstd,clevel=5,shuffle=2,\n"
           "                     gzip:level=6, lz4, zlib, bz2, none. Default: blosc lz4 clevel 5 shuffle\n"
           "                     for zarrmd; none for H5MD (which takes gzip[:level=N][,shuffle=true],\n"
           "                     lzf[:shuffle=true] or none)\n"
           "  --chunk-bytes N    target bytes per value chunk (default 12M; K/M/G suffixes)\n"
           "  --preset compact   zarrmd smaller than XTC, with standard codecs only: positions as int32 on\n"
           "                     a fixed quantum (--quantum, else 10^-precision, else 0.001 nm), differenced\n"
           "                     along time in Fortran-order chunks of 100 frames, Blosc zstd bit shuffle;\n"
           "                     velocities/forces too with --precision (docs/codecs.md)\n"
           "  --quantum Q        compact: the positions' quantum, e.g. '0.001 nm' or 0.01 (file's unit)\n"
           "  --zarr-format F    zarrmd output as Zarr v2 (default) or v3; v3 values are sharded\n"
           "  --shard-bytes N    v3: target bytes per shard (one object; default 64M)\n"
           "  --inner-frames N   v3: frames per inner chunk (the unit of a random read;\n"
           "                     default: about 256K per inner chunk, at least 1 frame)\n"
           "  --frames A:B[:S]   frame slice of IN (Python semantics; S > 0: steps must increase)\n"
           "  --group G          particle group of IN; --out-group names it in OUT (default same)\n"
           "  --overwrite        replace an existing OUT\n"
           "  -S key=value       storage option for IN and OUT; --src-option/--dst-option for one side\n");
}

/* One time-dependent observable of IN, all samples in memory. */
typedef struct zt_cobs {
    char *name;          /* "/" + its path below observables/ (the writer keeps it there) */
    const char *conv;    /* its name among the group's observables (owned by the reader) */
    const char *wname;   /* the one written: conv, or name when conv is not unique */
    size_t n;            /* values per sample */
    int64_t ns;          /* samples */
    double *v, *time;
    int64_t *step, *order; /* order: sample indices by step */
    int64_t cur;         /* next position in order */
} zt_cobs;

static const int64_t *zt__sort_steps;
static int zt__cmp_by_step(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b, sx = zt__sort_steps[x], sy = zt__sort_steps[y];
    return sx != sy ? (sx < sy ? -1 : 1) : (x < y ? -1 : x > y);
}

int zt_cmd_convert(int argc, char **argv) {
    static const struct option lo[] = {
        {"precision", required_argument, 0, 'p'}, {"compressor", required_argument, 0, 'c'},
        {"chunk-bytes", required_argument, 0, 'b'}, {"frames", required_argument, 0, 'f'},
        {"group", required_argument, 0, 'g'}, {"out-group", required_argument, 0, 'G'},
        {"overwrite", no_argument, 0, 'w'}, {"storage", required_argument, 0, 'S'},
        {"src-option", required_argument, 0, 's'}, {"dst-option", required_argument, 0, 'd'},
        {"preset", required_argument, 0, 'P'}, {"quantum", required_argument, 0, 'Q'},
        {"zarr-format", required_argument, 0, 'Z'}, {"shard-bytes", required_argument, 0, 'B'},
        {"inner-frames", required_argument, 0, 'I'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int precision = -1, overwrite = 0, c, rc = 0, zarr_format = 0;
    size_t shard_bytes = 0;
    long long inner_frames = 0;
    zt_options_t *wset = NULL;
    const char *compressor = NULL, *frames = NULL, *group = NULL, *ogroup = NULL;
    size_t chunk_bytes = (size_t)12 << 20;
    zt_options_t *src = NULL, *dst = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:c:b:f:g:G:wS:h", lo, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'p':
            precision = (int)strtol(optarg, &end, 10);
            if (*end || precision < 0 || precision > 30) return zt_cli_usage_error("convert", "--precision must be a non-negative integer");
            break;
        case 'c': compressor = optarg; break;
        case 'b':
            if (zt_cli_size(optarg, &chunk_bytes) || chunk_bytes == 0) return zt_cli_usage_error("convert", "bad --chunk-bytes");
            break;
        case 'Z':
            zarr_format = (int)strtol(optarg, &end, 10);
            if (*end || (zarr_format != 2 && zarr_format != 3)) return zt_cli_usage_error("convert", "--zarr-format must be 2 or 3");
            break;
        case 'B':
            if (zt_cli_size(optarg, &shard_bytes) || shard_bytes == 0) return zt_cli_usage_error("convert", "bad --shard-bytes");
            break;
        case 'I':
            inner_frames = strtoll(optarg, &end, 10);
            if (*end || inner_frames <= 0) return zt_cli_usage_error("convert", "--inner-frames must be a positive integer");
            break;
        case 'f': frames = optarg; break;
        case 'g': group = optarg; break;
        case 'G': ogroup = optarg; break;
        case 'w': overwrite = 1; break;
        case 'S':
            if ((rc = zt_cli_add_storage(&src, optarg)) || (rc = zt_cli_add_storage(&dst, optarg))) return zt_cli_fail("convert", rc);
            break;
        case 's':
            if ((rc = zt_cli_add_storage(&src, optarg))) return zt_cli_fail("convert", rc);
            break;
        case 'd':
            if ((rc = zt_cli_add_storage(&dst, optarg))) return zt_cli_fail("convert", rc);
            break;
        case 'P':
        case 'Q':
            if (!wset && (rc = zt_options_create(&wset))) return zt_cli_fail("convert", rc);
            if ((rc = zt_options_set(wset, c == 'P' ? "preset" : "quantum", optarg))) return zt_cli_fail("convert", rc);
            break;
        case 'h': zt__convert_help(); return 0;
        default: return zt_cli_usage_error("convert", "bad option");
        }
    }
    if (optind + 2 != argc) return zt_cli_usage_error("convert", "expected IN and OUT");
    const char *in = argv[optind], *outp = argv[optind + 1];
    zt_reader_opts_t ro = ZT_READER_OPTS_DEFAULTS;
    ro.group = group;
    ro.storage = src;
    zt_reader_t *r = NULL;
    zt_writer_t *w = NULL;
    float *buf[3] = {NULL, NULL, NULL};
    zt_obs_t *obs = NULL;
    zt_cobs *co = NULL;
    size_t nco = 0;
    int64_t *steps = NULL;
    if ((rc = zt_reader_open(in, &ro, &r))) goto done;
    int64_t nf = zt_reader_n_frames(r), na = zt_reader_n_atoms(r);
    int64_t f0 = 0, fs = 1, count = nf;
    if (frames && (zt_cli_slice(frames, nf, &f0, &fs, &count) || (fs < 0 && count > 1))) {
        /* a trajectory's steps increase: reversed frames cannot be written */
        rc = zt_cli_usage_error("convert", fs < 0 ? "--frames '%s' runs backwards; a trajectory's frames must keep "
                                                    "increasing steps"
                                                  : "bad --frames '%s'", frames);
        zt_reader_close(r);
        zt_options_free(src);
        zt_options_free(dst);
        zt_options_free(wset);
        return rc;
    }
    zt_writer_opts_t wo = ZT_WRITER_OPTS_DEFAULTS;
    wo.n_frames = count;
    wo.precision = precision;
    wo.compressor = compressor;
    wo.chunk_bytes = chunk_bytes;
    if ((zarr_format || shard_bytes || inner_frames) && !wset) rc = zt_options_create(&wset);
    if (!rc) rc = zt_cli_set_int(wset, "zarr_format", zarr_format);
    if (!rc) rc = zt_cli_set_int(wset, "shard_bytes", (long long)shard_bytes);
    if (!rc) rc = zt_cli_set_int(wset, "inner_frames", inner_frames);
    if (rc) goto done;
    wo.group = ogroup ? ogroup : zt_reader_group(r);
    /* keep the input's units ("" = none) */
    const char *lu = zt_reader_unit(r, ZT_POSITION), *vu = zt_reader_unit(r, ZT_VELOCITY),
               *fu = zt_reader_unit(r, ZT_FORCE), *tu = zt_reader_time_unit(r);
    if (!lu) lu = zt_reader_unit(r, ZT_BOX);
    wo.length_unit = lu ? lu : "";
    wo.velocity_unit = vu ? vu : "";
    wo.force_unit = fu ? fu : "";
    wo.time_unit = tu ? tu : "";
    wo.author = zt_reader_attr(r, "author");
    wo.author_email = zt_reader_attr(r, "author_email");
    wo.storage = dst;
    wo.overwrite = overwrite;
    const char *b0 = NULL;
    if (zt_reader_box_boundary(r, 0, &b0) == 0) wo.boundary = b0;
    if ((rc = zt_writer_create_ex(outp, na, &wo, wset, &w))) goto done;
    steps = malloc(sizeof *steps * (size_t)(nf ? nf : 1));
    if (!steps) {
        rc = ZT_ENOMEM;
        goto done;
    }
    if ((rc = zt_reader_steps(r, steps, NULL))) goto done;
    for (int k = 0; k < 3; k++)
        if (zt_reader_has(r, (zt_element_t)k) && !(buf[k] = malloc(sizeof(float) * (size_t)(na * 3 > 0 ? na * 3 : 1)))) {
            rc = ZT_ENOMEM;
            goto done;
        }
    /* Time-dependent observables, with every sample, also those at steps
     * without particle data (between or after the frames); with --frames
     * only the samples at the chosen frames. An observable goes where OUT's
     * format keeps the group's observables (zarrmd: observables/<group>/,
     * H5MD: observables/), unless a global one and the group's one share a
     * name: those keep their paths below observables/. */
    size_t nd = zt_reader_n_data(r);
    const char *ig = zt_reader_group(r);
    size_t igl = strlen(ig);
    co = calloc(nd ? nd : 1, sizeof *co);
    obs = calloc(nd ? nd : 1, sizeof *obs);
    if (!co || !obs) {
        rc = ZT_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < nd && !rc; i++) {
        zt_data_info_t di;
        if (zt_reader_data_info(r, i, &di) || di.kind != ZT_DATA_OBSERVABLE || !di.time_dependent) continue;
        zt_cobs *o = &co[nco];
        const char *rel = !strncmp(di.path, "observables/", 12) ? di.path + 12 : di.name;
        o->name = malloc(strlen(rel) + 2);
        o->conv = di.name;
        if (!strncmp(o->conv, ig, igl) && o->conv[igl] == '/') o->conv += igl + 1; /* the group's */
        o->n = (size_t)di.sample_size;
        o->ns = di.n_samples;
        size_t ns = (size_t)(o->ns ? o->ns : 1);
        o->v = malloc(ns * (o->n ? o->n : 1) * sizeof *o->v);
        o->step = malloc(ns * sizeof *o->step);
        o->time = malloc(ns * sizeof *o->time);
        o->order = malloc(ns * sizeof *o->order);
        nco++;
        if (!o->name || !o->v || !o->step || !o->time || !o->order) {
            rc = ZT_ENOMEM;
            break;
        }
        o->name[0] = '/';
        strcpy(o->name + 1, rel);
        if ((rc = zt_reader_read_data_all(r, i, o->v, o->step, o->time))) break;
        /* in step order (the first of equal steps wins, as for the reader) */
        for (int64_t k = 0; k < o->ns; k++) o->order[k] = k;
        zt__sort_steps = o->step;
        qsort(o->order, (size_t)o->ns, sizeof *o->order, zt__cmp_by_step);
    }
    if (rc) goto done;
    for (size_t q = 0; q < nco; q++) {
        co[q].wname = co[q].conv;
        for (size_t t = 0; t < nco; t++)
            if (t != q && !strcmp(co[t].conv, co[q].conv)) co[q].wname = co[q].name;
    }
    zt_progress p;
    zt_progress_start(&p, "convert", count);
    uint64_t bytes = 0;
    bool all_obs = !frames;
    int64_t i = 0;
    for (;;) {
        /* the next step: a frame's, or (whole conversions) an observable sample's */
        bool have = false;
        int64_t step = 0, fr = -1;
        if (i < count) {
            fr = f0 + i * fs;
            step = steps[fr];
            have = true;
        }
        for (size_t q = 0; all_obs && q < nco; q++)
            if (co[q].cur < co[q].ns) {
                int64_t s1 = co[q].step[co[q].order[co[q].cur]];
                if (!have || s1 < step) {
                    step = s1;
                    have = true;
                }
            }
        if (!have || rc) break;
        bool is_frame = fr >= 0 && steps[fr] == step;
        zt_frame_t f;
        memset(&f, 0, sizeof f);
        zt_wframe_t wf;
        memset(&wf, 0, sizeof wf);
        wf.step = step;
        wf.time = NAN;
        double box[9];
        if (is_frame) {
            if ((rc = zt_reader_read_frame(r, fr, &f, buf[0], buf[1], buf[2]))) break;
            wf.time = f.has_time ? f.time : NAN;
            wf.position = f.has[ZT_POSITION] ? buf[0] : NULL;
            wf.velocity = f.has[ZT_VELOCITY] ? buf[1] : NULL;
            wf.force = f.has[ZT_FORCE] ? buf[2] : NULL;
            /* a fixed (time-independent) box is repeated at every frame, as
             * MDAnalysis' writers do: every frame keeps its box */
            if (f.has[ZT_BOX]) {
                for (int q = 0; q < 9; q++) box[q] = f.box[q / 3][q % 3];
                wf.box = box;
            }
        }
        size_t k = 0;
        for (size_t q = 0; q < nco; q++) {
            zt_cobs *o = &co[q];
            /* samples before this step are not wanted (--frames), later equal ones are duplicates */
            while (o->cur < o->ns && o->step[o->order[o->cur]] < step) o->cur++;
            if (o->cur >= o->ns || o->step[o->order[o->cur]] != step) continue;
            int64_t sidx = o->order[o->cur];
            while (o->cur < o->ns && o->step[o->order[o->cur]] == step) o->cur++;
            if (!is_frame && isnan(wf.time)) wf.time = o->time[sidx]; /* no frame here: the sample's own time */
            obs[k].name = o->wname;
            obs[k].values = o->v + (size_t)sidx * o->n;
            obs[k].n = o->n;
            k++;
        }
        wf.obs = obs;
        wf.n_obs = k;
        if ((rc = zt_writer_write_frame(w, &wf))) break;
        if (is_frame) {
            for (int e = 0; e < 3; e++)
                if (f.has[e]) bytes += (uint64_t)na * 12;
            i++;
            zt_progress_update(&p, i, bytes);
        }
    }
    zt_progress_end(&p, rc ? 0 : count, bytes);
    if (!rc) {
        rc = zt_writer_close(w);
        w = NULL;
    }
done:;
    int ret = rc ? zt_cli_fail("convert", rc) : 0;
    zt_writer_close(w);
    zt_reader_close(r);
    for (int k = 0; k < 3; k++) free(buf[k]);
    for (size_t q = 0; co && q < nco; q++) {
        free(co[q].name);
        free(co[q].v);
        free(co[q].step);
        free(co[q].time);
        free(co[q].order);
    }
    free(co);
    free(obs);
    free(steps);
    zt_options_free(src);
    zt_options_free(dst);
    zt_options_free(wset);
    return ret;
}
