/* zarrtraj convert: rewrite a trajectory with other compression, precision,
 * chunking or frame range (zarrmd and H5MD, local or remote, either side). */
#include "cli.h"

#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
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

/* The progress line on a terminal (silent otherwise). */
static int zt__convert_progress(int64_t done, int64_t total, uint64_t bytes, void *data) {
    zt_progress *p = data;
    if (done == 0 && p->total < 0) zt_progress_start(p, "convert", total);
    else zt_progress_update(p, done, bytes);
    p->last_done = done;
    p->last_bytes = bytes;
    return 0;
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
    zt_options_t *set = wset;
    wset = NULL;
    if (!set && (rc = zt_options_create(&set))) return zt_cli_fail("convert", rc);
    char num[32];
    if (precision >= 0) {
        snprintf(num, sizeof num, "%d", precision);
        rc = zt_options_set(set, "precision", num);
    }
    snprintf(num, sizeof num, "%zu", chunk_bytes);
    if (!rc) rc = zt_options_set(set, "chunk_bytes", num);
    if (!rc && compressor) rc = zt_options_set(set, "compressor", compressor);
    if (!rc && frames) rc = zt_options_set(set, "frames", frames);
    if (!rc && group) rc = zt_options_set(set, "group", group);
    if (!rc && ogroup) rc = zt_options_set(set, "out_group", ogroup);
    if (!rc && overwrite) rc = zt_options_set(set, "overwrite", "1");
    if (!rc) rc = zt_cli_set_int(set, "zarr_format", zarr_format);
    if (!rc) rc = zt_cli_set_int(set, "shard_bytes", (long long)shard_bytes);
    if (!rc) rc = zt_cli_set_int(set, "inner_frames", inner_frames);
    zt_progress p;
    memset(&p, 0, sizeof p);
    p.total = -1;
#ifdef __GLIBC__
    /* A conversion allocates and frees chunk-sized blocks (tens of MB) for
     * every chunk; glibc would map and unmap each one (or trim the heap),
     * paying a page fault per 4 KiB every time: keep them in the heap. A
     * short-lived process, so the memory goes back at exit (8-12% faster on
     * the water box XTC, bench/RESULTS.md). */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
    if (!rc) rc = zt_convert(in, outp, set, src, dst, zt__convert_progress, &p);
    if (p.total >= 0) zt_progress_end(&p, rc ? 0 : p.last_done, p.last_bytes);
    int ret = 0;
    if (rc) {
        /* a bad --frames is a usage error, as for cat */
        const char *m = zt_last_error();
        if (rc == ZT_EINVAL && frames && strstr(m, ": frames '")) ret = zt_cli_usage_error("convert", "%s", m);
        else ret = zt_cli_fail("convert", rc);
    }
    zt_options_free(set);
    zt_options_free(src);
    zt_options_free(dst);
    return ret;
}
