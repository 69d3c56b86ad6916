/* zarrtraj synth: a deterministic synthetic trajectory that behaves like MD
 * data: atoms on random sites in a periodic cubic box at liquid density,
 * each vibrating (a harmonic oscillator per coordinate) around a site that
 * diffuses (random walk), wrapped into the box; velocities are the exact time
 * derivative; temperature and potential energy observables. */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void zt__synth_help(void) {
    printf("usage: zarrtraj synth OUT --atoms N --frames M [--seed S] [--compressor SPEC]\n"
           "                      [--precision N] [--chunk-bytes N] [--preset compact [--quantum Q]]\n"
           "                      [--forces] [--no-velocities]\n"
           "                      [--dt PS] [--overwrite] [-S key=value ...]\n"
           "                      [--zarr-format 2|3] [--shard-bytes N] [--inner-frames N]\n\n"
           "Write a deterministic synthetic trajectory (same seed = same bytes): atoms at liquid\n"
           "density (0.1 per cubic Angstrom) vibrating around diffusing sites in a periodic cubic box,\n"
           "with velocities (Angstrom/ps), time (ps, --dt per frame, default 1), step (500 per frame)\n"
           "and observables temperature and potential_energy. OUT may be zarrmd or .h5md, local or URL.\n"
           "--zarr-format, --shard-bytes, --inner-frames: as for zarrtraj convert.\n");
}

/* splitmix64: small, fast, reproducible everywhere */
static uint64_t zt__rng(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double zt__unif(uint64_t *s) { return (double)(zt__rng(s) >> 11) * 0x1.0p-53; }
static double zt__gauss(uint64_t *s) {
    double u1 = zt__unif(s), u2 = zt__unif(s);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

int zt_cmd_synth(int argc, char **argv) {
    static const struct option lo[] = {
        {"atoms", required_argument, 0, 'n'}, {"frames", required_argument, 0, 'm'},
        {"seed", required_argument, 0, 's'}, {"compressor", required_argument, 0, 'c'},
        {"precision", required_argument, 0, 'p'}, {"chunk-bytes", required_argument, 0, 'b'},
        {"forces", no_argument, 0, 'F'}, {"no-velocities", no_argument, 0, 'V'}, {"dt", required_argument, 0, 't'},
        {"overwrite", no_argument, 0, 'w'}, {"storage", required_argument, 0, 'S'},
        {"preset", required_argument, 0, 'P'}, {"quantum", required_argument, 0, 'Q'},
        {"zarr-format", required_argument, 0, 'Z'}, {"shard-bytes", required_argument, 0, 'B'},
        {"inner-frames", required_argument, 0, 'I'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    zt_options_t *wset = NULL;
    int zarr_format = 0;
    size_t shard_bytes = 0;
    long long inner_frames = 0;
    long long natoms = -1, nframes = -1;
    unsigned long long seed = 1;
    int precision = -1, forces = 0, novel = 0, overwrite = 0, c, rc = 0;
    double dt = 1.0;
    const char *compressor = NULL;
    size_t chunk_bytes = (size_t)12 << 20;
    zt_options_t *so = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:m:s:c:p:b:S:wh", lo, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'n': natoms = strtoll(optarg, &end, 10); if (*end || natoms < 1) return zt_cli_usage_error("synth", "bad --atoms"); break;
        case 'm': nframes = strtoll(optarg, &end, 10); if (*end || nframes < 0) return zt_cli_usage_error("synth", "bad --frames"); break;
        case 's': seed = strtoull(optarg, &end, 10); if (*end) return zt_cli_usage_error("synth", "bad --seed"); break;
        case 'c': compressor = optarg; break;
        case 'p': precision = (int)strtol(optarg, &end, 10); if (*end || precision < 0) return zt_cli_usage_error("synth", "bad --precision"); break;
        case 'Z':
            zarr_format = (int)strtol(optarg, &end, 10);
            if (*end || (zarr_format != 2 && zarr_format != 3)) return zt_cli_usage_error("synth", "--zarr-format must be 2 or 3");
            break;
        case 'B':
            if (zt_cli_size(optarg, &shard_bytes) || !shard_bytes) return zt_cli_usage_error("synth", "bad --shard-bytes");
            break;
        case 'I':
            inner_frames = strtoll(optarg, &end, 10);
            if (*end || inner_frames <= 0) return zt_cli_usage_error("synth", "--inner-frames must be a positive integer");
            break;
        case 'b': if (zt_cli_size(optarg, &chunk_bytes) || !chunk_bytes) return zt_cli_usage_error("synth", "bad --chunk-bytes"); break;
        case 'F': forces = 1; break;
        case 'V': novel = 1; break;
        case 't': dt = strtod(optarg, &end); if (*end || !(dt > 0)) return zt_cli_usage_error("synth", "bad --dt"); break;
        case 'w': overwrite = 1; break;
        case 'S': if ((rc = zt_cli_add_storage(&so, optarg))) return zt_cli_fail("synth", rc); break;
        case 'P':
        case 'Q':
            if ((!wset && (rc = zt_options_create(&wset))) ||
                (rc = zt_options_set(wset, c == 'P' ? "preset" : "quantum", optarg)))
                return zt_cli_fail("synth", rc);
            break;
        case 'h': zt__synth_help(); return 0;
        default: return zt_cli_usage_error("synth", "bad option");
        }
    }
    if (optind + 1 != argc) return zt_cli_usage_error("synth", "expected OUT");
    if (natoms < 1 || nframes < 0) return zt_cli_usage_error("synth", "--atoms and --frames are required");
    if (natoms > ((long long)1 << 31)) return zt_cli_usage_error("synth", "--atoms too large");
    size_t n = (size_t)natoms;
    double L = cbrt((double)n / 0.1);
    uint64_t st = seed * 0x2545F4914F6CDD1Dull + 12345;
    double *site = malloc(sizeof(double) * n * 3);
    float *amp = malloc(sizeof(float) * n * 3), *omega = malloc(sizeof(float) * n * 3);
    double *sn = malloc(sizeof(double) * n * 3), *cs = malloc(sizeof(double) * n * 3);
    double *rot = malloc(sizeof(double) * n * 6);
    float *pos = malloc(sizeof(float) * n * 3), *vel = malloc(sizeof(float) * n * 3), *frc = malloc(sizeof(float) * n * 3);
    zt_writer_t *w = NULL;
    if (!site || !amp || !omega || !sn || !cs || !rot || !pos || !vel || !frc) {
        rc = ZT_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < n * 3; i++) {
        site[i] = zt__unif(&st) * L;
        amp[i] = (float)(0.1 + 0.2 * zt__unif(&st));
        omega[i] = (float)(0.5 + 1.5 * zt__unif(&st));
        double ph = 2 * M_PI * zt__unif(&st);
        sn[i] = sin(ph);
        cs[i] = cos(ph);
        rot[2 * i] = cos(omega[i] * dt);
        rot[2 * i + 1] = sin(omega[i] * dt);
    }
    zt_writer_opts_t wo = ZT_WRITER_OPTS_DEFAULTS;
    wo.n_frames = nframes;
    wo.precision = precision;
    wo.compressor = compressor;
    wo.chunk_bytes = chunk_bytes;
    if ((zarr_format || shard_bytes || inner_frames) && !wset) rc = zt_options_create(&wset);
    if (!rc) rc = zt_cli_set_int(wset, "zarr_format", zarr_format);
    if (!rc) rc = zt_cli_set_int(wset, "shard_bytes", (long long)shard_bytes);
    if (!rc) rc = zt_cli_set_int(wset, "inner_frames", inner_frames);
    wo.storage = so;
    wo.overwrite = overwrite;
    wo.author = "zarrtraj synth";
    if (rc || (rc = zt_writer_create_ex(argv[optind], (int64_t)n, &wo, wset, &w))) goto done;
    const double diff = 0.05 * sqrt(dt); /* Angstrom per frame, a slow liquid */
    zt_progress p;
    zt_progress_start(&p, "synth", nframes);
    for (long long f = 0; f < nframes && !rc; f++) {
        double epot = 0;
        for (size_t i = 0; i < n * 3; i++) {
            double step = diff * zt__gauss(&st);
            site[i] += step;
            double x = site[i] + amp[i] * sn[i];
            x -= L * floor(x / L);
            pos[i] = (float)x;
            vel[i] = (float)(amp[i] * omega[i] * cs[i] + step / dt);
            double k = omega[i] * omega[i]; /* unit mass */
            frc[i] = (float)(-k * amp[i] * sn[i]);
            epot += 0.5 * k * (double)amp[i] * amp[i] * sn[i] * sn[i];
            /* advance the oscillator phase by omega*dt (rotation, no trig per frame) */
            double s2 = sn[i] * rot[2 * i] + cs[i] * rot[2 * i + 1];
            double c2 = cs[i] * rot[2 * i] - sn[i] * rot[2 * i + 1];
            sn[i] = s2;
            cs[i] = c2;
        }
        double box[9] = {L, 0, 0, 0, L, 0, 0, 0, L};
        double temp = 300.0 + 2.0 * zt__gauss(&st);
        zt_obs_t obs[2] = {{"temperature", &temp, 1}, {"potential_energy", &epot, 1}};
        zt_wframe_t wf = {(int64_t)f * 500, (double)f * dt, pos, novel ? NULL : vel, forces ? frc : NULL, box, obs, 2};
        rc = zt_writer_write_frame(w, &wf);
        zt_progress_update(&p, f + 1, (uint64_t)(f + 1) * n * 12 * (novel ? 1 : 2));
    }
    zt_progress_end(&p, nframes, (uint64_t)nframes * n * 12 * (novel ? 1 : 2));
    if (!rc) {
        rc = zt_writer_close(w);
        w = NULL;
    }
done:;
    int ret = rc ? zt_cli_fail("synth", rc) : 0;
    zt_writer_close(w);
    zt_options_free(wset);
    free(site);
    free(amp);
    free(omega);
    free(sn);
    free(cs);
    free(rot);
    free(pos);
    free(vel);
    free(frc);
    zt_options_free(so);
    return ret;
}
