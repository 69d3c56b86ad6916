/* zarrtraj cat: values of one element in native units, as text or .npy. */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void zt__cat_help(void) {
    printf("usage: zarrtraj cat PATH [--group G] [--element E] [--frames A:B[:S]] [--atoms I:J]\n"
           "                    [--format text|npy] [-o FILE] [-S key=value ...]\n\n"
           "Print values in the file's native units; frames are counted as the reader counts them\n"
           "(the sorted union of the steps of position, velocity, force and box).\n\n"
           "  -e, --element E   position (default), velocity, force, box, step, time, or the name\n"
           "                    of an observable or other particle data (see zarrtraj info)\n"
           "  -f, --frames A:B[:S]  frame slice (Python semantics, negatives allowed)\n"
           "  -a, --atoms I:J   atom range (per-atom elements)\n"
           "      --format F    text (default) or npy (a standard NumPy .npy file)\n"
           "  -o FILE           output file (default stdout)\n"
           "  -g, --group G     particle group\n"
           "  -S key=value      storage option (repeatable)\n"
           "Frames where an element is not sampled give NaN.\n");
}

enum { EL_POS, EL_VEL, EL_FORCE, EL_BOX, EL_STEP, EL_TIME, EL_DATA };

static void zt__print_vals(FILE *o, const double *v, int64_t n) {
    for (int64_t i = 0; i < n; i++) fprintf(o, "%s%.9g", i ? " " : "", v[i]);
    fputc('\n', o);
}

int zt_cmd_cat(int argc, char **argv) {
    static const struct option lo[] = {
        {"group", required_argument, 0, 'g'}, {"element", required_argument, 0, 'e'},
        {"frames", required_argument, 0, 'f'}, {"atoms", required_argument, 0, 'a'},
        {"format", required_argument, 0, 'F'}, {"output", required_argument, 0, 'o'},
        {"storage", required_argument, 0, 'S'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *group = NULL, *element = "position", *frames = NULL, *atoms = NULL, *format = "text", *outp = NULL;
    zt_options_t *so = NULL;
    int c, rc = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "g:e:f:a:o:S:h", lo, NULL)) != -1) {
        switch (c) {
        case 'g': group = optarg; break;
        case 'e': element = optarg; break;
        case 'f': frames = optarg; break;
        case 'a': atoms = optarg; break;
        case 'F': format = optarg; break;
        case 'o': outp = optarg; break;
        case 'S':
            if ((rc = zt_cli_add_storage(&so, optarg))) return zt_cli_fail("cat", rc);
            break;
        case 'h': zt__cat_help(); return 0;
        default: return zt_cli_usage_error("cat", "bad option");
        }
    }
    if (optind + 1 != argc) return zt_cli_usage_error("cat", "expected one PATH");
    bool npy = !strcmp(format, "npy");
    if (!npy && strcmp(format, "text")) return zt_cli_usage_error("cat", "--format must be text or npy");
    zt_reader_opts_t ro = ZT_READER_OPTS_DEFAULTS;
    ro.group = group;
    ro.storage = so;
    zt_reader_t *r = NULL;
    if ((rc = zt_reader_open(argv[optind], &ro, &r))) {
        zt_options_free(so);
        return zt_cli_fail("cat", rc);
    }
    int kind = EL_DATA;
    const char *names[] = {"position", "velocity", "force", "box", "step", "time"};
    for (int k = 0; k < 6; k++)
        if (!strcmp(element, names[k])) kind = k;
    size_t di = 0;
    zt_data_info_t dinfo;
    memset(&dinfo, 0, sizeof dinfo);
    if (kind == EL_DATA) {
        if ((rc = zt_reader_data_find(r, element, &di)) == 0) rc = zt_reader_data_info(r, di, &dinfo);
        if (rc) {
            zt_reader_close(r);
            zt_options_free(so);
            return zt_cli_fail("cat", rc);
        }
    } else if (kind <= EL_BOX && !zt_reader_has(r, (zt_element_t)kind)) {
        fprintf(stderr, "zarrtraj cat: %s has no %s in group '%s'\n", argv[optind], element, zt_reader_group(r));
        zt_reader_close(r);
        zt_options_free(so);
        return 1;
    }
    int64_t nf = zt_reader_n_frames(r), na = zt_reader_n_atoms(r);
    int64_t f0 = 0, fs = 1, nf_sel = nf, a0 = 0, as = 1, na_sel = na;
    bool per_frame = kind != EL_DATA || dinfo.time_dependent;
    if (frames && zt_cli_slice(frames, nf, &f0, &fs, &nf_sel)) {
        zt_reader_close(r);
        zt_options_free(so);
        return zt_cli_usage_error("cat", "bad --frames '%s'", frames);
    }
    if (atoms && (zt_cli_slice(atoms, na, &a0, &as, &na_sel) || as != 1)) {
        zt_reader_close(r);
        zt_options_free(so);
        return zt_cli_usage_error("cat", "bad --atoms '%s' (I:J)", atoms);
    }
    int64_t a1 = a0 + na_sel;
    int64_t nsel_f = per_frame ? nf_sel : 1;
    FILE *o = outp ? fopen(outp, "wb") : stdout;
    if (!o) {
        fprintf(stderr, "zarrtraj cat: cannot open %s for writing\n", outp);
        zt_reader_close(r);
        zt_options_free(so);
        return 1;
    }
    if (kind <= EL_FORCE) {
        int64_t nat = a1 - a0;
        int64_t shape[3] = {nsel_f, nat, 3};
        if (npy) zt_npy_header(o, "<f4", shape, 3);
        /* stream blocks of frames so memory stays bounded */
        int64_t block = nat > 0 ? (int64_t)((64 << 20) / (nat * 12)) : 1;
        if (block < 1) block = 1;
        float *buf = malloc((size_t)(block * nat * 3 > 0 ? block * nat * 3 : 1) * sizeof(float));
        zt_atomsel_t sel = {NULL, 0, a0, a1};
        for (int64_t i = 0; i < nsel_f && !rc; i += block) {
            int64_t nb = nsel_f - i < block ? nsel_f - i : block;
            /* the block's frames in increasing order (a timeseries); a
             * negative step writes them back to front */
            int64_t first = f0 + i * fs, last = f0 + (i + nb - 1) * fs;
            int64_t f_lo = fs > 0 ? first : last, f_hi = fs > 0 ? last : first, st = fs > 0 ? fs : -fs;
            rc = buf ? zt_reader_timeseries(r, (zt_element_t)kind, f_lo, f_hi + 1, st, &sel, buf) : ZT_ENOMEM;
            if (rc) break;
            for (int64_t k = 0; k < nb; k++) {
                const float *row = buf + (size_t)((fs > 0 ? k : nb - 1 - k) * nat * 3);
                if (npy) {
                    fwrite(row, sizeof(float), (size_t)(nat * 3), o);
                    continue;
                }
                fprintf(o, "# frame %lld\n", (long long)(first + k * fs));
                for (int64_t q = 0; q < nat; q++) {
                    const float *p = row + q * 3;
                    fprintf(o, "%.9g %.9g %.9g\n", p[0], p[1], p[2]);
                }
            }
        }
        free(buf);
    } else if (kind == EL_BOX || kind == EL_STEP || kind == EL_TIME) {
        int64_t *steps = malloc(sizeof(int64_t) * (size_t)(nf ? nf : 1));
        double *times = malloc(sizeof(double) * (size_t)(nf ? nf : 1));
        rc = steps && times ? zt_reader_steps(r, steps, times) : ZT_ENOMEM;
        bool vec = !strcmp(zt_reader_box_kind(r), "orthorhombic");
        int64_t shape[3] = {nsel_f, 3, 3};
        if (!rc && npy)
            zt_npy_header(o, kind == EL_STEP ? "<i8" : "<f8", shape, kind == EL_BOX ? (vec ? 2 : 3) : 1);
        for (int64_t i = 0; i < nsel_f && !rc; i++) {
            int64_t fr = f0 + i * fs;
            if (kind == EL_STEP) {
                if (npy) fwrite(&steps[fr], 8, 1, o);
                else fprintf(o, "%lld\n", (long long)steps[fr]);
            } else if (kind == EL_TIME) {
                if (npy) fwrite(&times[fr], 8, 1, o);
                else fprintf(o, "%.17g\n", times[fr]);
            } else {
                zt_frame_t f;
                if ((rc = zt_reader_read_frame(r, fr, &f, NULL, NULL, NULL))) break;
                double v[9];
                int nv = vec ? 3 : 9;
                for (int q = 0; q < 9; q++) v[q] = f.has[ZT_BOX] ? f.box[q / 3][q % 3] : NAN;
                if (vec)
                    for (int q = 0; q < 3; q++) v[q] = f.has[ZT_BOX] ? f.box[q][q] : NAN;
                if (npy) fwrite(v, 8, (size_t)nv, o);
                else zt__print_vals(o, v, nv);
            }
        }
        free(steps);
        free(times);
    } else {
        int64_t ss = dinfo.sample_size;
        double *v = malloc(sizeof(double) * (size_t)(ss ? ss : 1));
        int64_t shape[9];
        shape[0] = nsel_f;
        int off = per_frame ? 1 : 0;
        for (int k = 0; k < dinfo.ndim && k < 8; k++) shape[k + off] = dinfo.shape[k];
        if (npy) zt_npy_header(o, "<f8", shape, dinfo.ndim + off);
        for (int64_t i = 0; i < nsel_f && !rc && v; i++) {
            int64_t fr = f0 + i * fs;
            rc = zt_reader_read_data(r, di, fr, v);
            if (rc == ZT_ENODATA) {
                for (int64_t q = 0; q < ss; q++) v[q] = NAN;
                rc = 0;
            }
            if (rc) break;
            if (npy) fwrite(v, 8, (size_t)ss, o);
            else {
                if (per_frame) fprintf(o, "%lld ", (long long)fr);
                zt__print_vals(o, v, ss);
            }
        }
        if (!v) rc = ZT_ENOMEM;
        free(v);
    }
    if (outp && fclose(o) != 0 && !rc) {
        fprintf(stderr, "zarrtraj cat: error writing %s\n", outp);
        rc = ZT_EIO;
    } else if (!outp) fflush(o);
    int ret = rc ? zt_cli_fail("cat", rc) : 0;
    zt_reader_close(r);
    zt_options_free(so);
    return ret;
}
