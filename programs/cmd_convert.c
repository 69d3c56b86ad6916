/* zarrtraj convert: rewrite a trajectory with other compression, precision,
 * chunking or frame range (zarrmd and H5MD, local or remote, either side). */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void zt__convert_help(void) {
    printf("usage: zarrtraj convert IN OUT [--precision N] [--compressor SPEC] [--chunk-bytes N]\n"
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
           "  --frames A:B[:S]   frame slice of IN (Python semantics; S > 0: steps must increase)\n"
           "  --group G          particle group of IN; --out-group names it in OUT (default same)\n"
           "  --overwrite        replace an existing OUT\n"
           "  -S key=value       storage option for IN and OUT; --src-option/--dst-option for one side\n");
}

int zt_cmd_convert(int argc, char **argv) {
    static const struct option lo[] = {
        {"precision", required_argument, 0, 'p'}, {"compressor", required_argument, 0, 'c'},
        {"chunk-bytes", required_argument, 0, 'b'}, {"frames", required_argument, 0, 'f'},
        {"group", required_argument, 0, 'g'}, {"out-group", required_argument, 0, 'G'},
        {"overwrite", no_argument, 0, 'w'}, {"storage", required_argument, 0, 'S'},
        {"src-option", required_argument, 0, 's'}, {"dst-option", required_argument, 0, 'd'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int precision = -1, overwrite = 0, c, rc = 0;
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
    double *obsv = NULL;
    zt_obs_t *obs = NULL;
    size_t *obs_idx = NULL, *obs_n = NULL;
    char **obs_names = NULL;
    size_t nobs = 0;
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
        return rc;
    }
    zt_writer_opts_t wo = ZT_WRITER_OPTS_DEFAULTS;
    wo.n_frames = count;
    wo.precision = precision;
    wo.compressor = compressor;
    wo.chunk_bytes = chunk_bytes;
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
    if ((rc = zt_writer_create(outp, na, &wo, &w))) goto done;
    for (int k = 0; k < 3; k++)
        if (zt_reader_has(r, (zt_element_t)k) && !(buf[k] = malloc(sizeof(float) * (size_t)(na * 3 > 0 ? na * 3 : 1)))) {
            rc = ZT_ENOMEM;
            goto done;
        }
    /* time-dependent observables travel with the frames */
    size_t nd = zt_reader_n_data(r), total_vals = 0;
    obs = calloc(nd ? nd : 1, sizeof *obs);
    obs_idx = calloc(nd ? nd : 1, sizeof *obs_idx);
    obs_names = calloc(nd ? nd : 1, sizeof *obs_names);
    obs_n = calloc(nd ? nd : 1, sizeof *obs_n);
    if (!obs || !obs_idx || !obs_names || !obs_n) {
        rc = ZT_ENOMEM;
        goto done;
    }
    const char *ig = zt_reader_group(r);
    size_t igl = strlen(ig);
    for (size_t i = 0; i < nd; i++) {
        zt_data_info_t di;
        if (zt_reader_data_info(r, i, &di) || di.kind != ZT_DATA_OBSERVABLE || !di.time_dependent) continue;
        const char *name = di.name;
        if (!strncmp(name, ig, igl) && name[igl] == '/') name += igl + 1; /* written under observables/<group>/ */
        obs_names[nobs] = (char *)name;
        obs_idx[nobs] = i;
        obs_n[nobs] = (size_t)di.sample_size;
        total_vals += (size_t)di.sample_size;
        nobs++;
    }
    obsv = malloc(sizeof(double) * (total_vals ? total_vals : 1));
    if (!obsv) {
        rc = ZT_ENOMEM;
        goto done;
    }
    zt_progress p;
    zt_progress_start(&p, "convert", count);
    uint64_t bytes = 0;
    for (int64_t i = 0; i < count && !rc; i++) {
        int64_t fr = f0 + i * fs;
        zt_frame_t f;
        if ((rc = zt_reader_read_frame(r, fr, &f, buf[0], buf[1], buf[2]))) break;
        zt_wframe_t wf;
        memset(&wf, 0, sizeof wf);
        wf.step = f.step;
        wf.time = f.has_time ? f.time : NAN;
        wf.position = f.has[ZT_POSITION] ? buf[0] : NULL;
        wf.velocity = f.has[ZT_VELOCITY] ? buf[1] : NULL;
        wf.force = f.has[ZT_FORCE] ? buf[2] : NULL;
        double box[9];
        /* a fixed (time-independent) box is repeated at every frame, as
         * MDAnalysis' writers do: every frame keeps its box */
        if (f.has[ZT_BOX]) {
            for (int q = 0; q < 9; q++) box[q] = f.box[q / 3][q % 3];
            wf.box = box;
        }
        size_t used = 0, k = 0;
        for (size_t q = 0; q < nobs && !rc; q++) {
            double *v = obsv + used;
            int drc = zt_reader_read_data(r, obs_idx[q], fr, v);
            used += obs_n[q];
            if (drc == ZT_ENODATA) continue;
            if (drc) {
                rc = drc;
                break;
            }
            obs[k].name = obs_names[q];
            obs[k].values = v;
            obs[k].n = obs_n[q];
            k++;
        }
        wf.obs = obs;
        wf.n_obs = k;
        if (!rc) rc = zt_writer_write_frame(w, &wf);
        for (int e = 0; e < 3; e++)
            if (f.has[e]) bytes += (uint64_t)na * 12;
        zt_progress_update(&p, i + 1, bytes);
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
    free(obsv);
    free(obs);
    free(obs_idx);
    free(obs_n);
    free(obs_names);
    zt_options_free(src);
    zt_options_free(dst);
    return ret;
}
