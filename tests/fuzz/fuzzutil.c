/* Shared helpers of the fuzz targets: archives of objects, the memory store,
 * and a bounded walk through the reader API with cross-checks between its
 * read paths (one frame, a batch, a timeseries must agree bit for bit). */
#include "fuzz.h"

#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the walk allocates or makes the library decode per input. */
#define FZ_MAX_FRAME_FLOATS ((int64_t)1 << 21) /* 8 MiB per element buffer */
#define FZ_MAX_CHUNK_BYTES ((int64_t)32 << 20)
#define FZ_MAX_FRAMES ((int64_t)1 << 20)
#define FZ_MAX_DATA ((int64_t)1 << 18)

void fz_init(void) {
    setenv("ZARRTRAJ_INDEX_CACHE", "0", 1);
    if (!getenv("ZARRTRAJ_LOG")) setenv("ZARRTRAJ_LOG", "off", 1);
    /* no AWS/GCS profile files of the machine */
    setenv("HOME", "/nonexistent", 1);
    unsetenv("AWS_PROFILE");
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    unsetenv("STORAGE_EMULATOR_HOST");
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent", 1);
}

uint64_t fz_take(fz_rng *r, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v <<= 8;
        if (r->n) {
            v |= *r->p++;
            r->n--;
        }
    }
    return v;
}

size_t fz_split(const uint8_t *data, size_t size, fz_entry *out, size_t max) {
    static const char tag[] = "#zt ";
    size_t n = 0, pos = 0;
    if (size < 4 || memcmp(data, tag, 4)) return 0;
    while (pos < size && n < max) {
        /* data[pos] starts "#zt " */
        size_t ks = pos + 4, ke = ks;
        while (ke < size && data[ke] != '\n') ke++;
        size_t ds = ke < size ? ke + 1 : size, de = ds;
        while (de + 5 <= size && !(data[de] == '\n' && !memcmp(data + de + 1, tag, 4))) de++;
        if (de + 5 > size) de = size;
        size_t kl = ke - ks;
        if (kl > 0 && kl < sizeof out[n].key) {
            memcpy(out[n].key, data + ks, kl);
            out[n].key[kl] = 0;
            if (!strstr(out[n].key, "..") && !memchr(out[n].key, 0, kl)) {
                out[n].data = data + ds;
                out[n].n = de - ds;
                n++;
            }
        }
        pos = de < size ? de + 1 : size;
    }
    return n;
}

int fz_mem_put(const char *name, const char *key, const void *data, size_t n) {
    zt_store *s = NULL;
    int rc = zt__store_memory_open(name, NULL, &s);
    if (!rc) rc = zt__store_put(s, key, n ? data : "", n);
    zt__store_close(s);
    return rc;
}

int fz_mem_load(const char *prefix, const fz_entry *e, size_t n, char *name, size_t cap) {
    static unsigned long counter;
    snprintf(name, cap, "fz%lu%s", counter++, prefix);
    zt_store *s = NULL;
    int rc = zt__store_memory_open(name, NULL, &s);
    for (size_t i = 0; !rc && i < n; i++) rc = zt__store_put(s, e[i].key, e[i].n ? (const void *)e[i].data : "", e[i].n);
    zt__store_close(s);
    return rc;
}

void fz_mem_clear(const char *name) {
    zt_store *s = NULL;
    if (zt__store_memory_open(name, NULL, &s)) return;
    zt__store_del_prefix(s, "");
    zt__store_del(s, ""); /* the root object itself */
    zt__store_close(s);
}

static bool fz_chunks_ok(zt_reader_t *r) {
    for (int k = 0; k < ZT_N_ELEMENTS; k++) {
        zt_array_info_t ai;
        if (!zt_reader_has(r, (zt_element_t)k) || zt_reader_array_info(r, (zt_element_t)k, &ai)) continue;
        int64_t b = 8;
        for (int d = 0; d < ai.ndim && d < 8; d++) {
            if (ai.chunks[d] <= 0) continue;
            if (__builtin_mul_overflow(b, ai.chunks[d], &b) || b > FZ_MAX_CHUNK_BYTES) return false;
        }
    }
    return true;
}

static void fz_same(const float *a, const float *b, size_t n, const char *what) {
    if (memcmp(a, b, n * sizeof(float))) {
        fprintf(stderr, "fuzz: %s disagree\n", what);
        abort();
    }
}

static int fz_read_group(const char *url, const zt_options_t *storage, const char *group) {
    zt_reader_opts_t o = ZT_READER_OPTS_DEFAULTS;
    o.storage = storage;
    o.group = group;
    o.cache_bytes = (size_t)8 << 20;
    o.readahead_bytes = (size_t)8 << 20;
    zt_reader_t *r = NULL;
    int rc = zt_reader_open(url, &o, &r);
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("ZT_FUZZ_VERBOSE") != NULL;
    if (verbose) {
        if (rc) fprintf(stderr, "fuzz: open %s: %s\n", url, zt_last_error());
        else fprintf(stderr, "fuzz: open %s: %lld frames, %lld atoms\n", url, (long long)zt_reader_n_frames(r),
                     (long long)zt_reader_n_atoms(r));
    }
    if (rc) return rc;
    (void)zt_reader_format(r);
    for (size_t i = 0; i < zt_reader_n_groups(r); i++) (void)zt_reader_group_name(r, i);
    int64_t nf = zt_reader_n_frames(r), na = zt_reader_n_atoms(r);
    for (int k = 0; k < ZT_N_ELEMENTS; k++) {
        zt_array_info_t ai;
        (void)zt_reader_n_samples(r, (zt_element_t)k);
        (void)zt_reader_unit(r, (zt_element_t)k);
        if (zt_reader_has(r, (zt_element_t)k)) zt_reader_array_info(r, (zt_element_t)k, &ai);
    }
    (void)zt_reader_time_unit(r);
    (void)zt_reader_box_kind(r);
    for (int i = 0; i < 3; i++) {
        const char *b;
        zt_reader_box_boundary(r, i, &b);
    }
    int maj, min;
    zt_reader_h5md_version(r, &maj, &min);
    (void)zt_reader_attr(r, "author");
    (void)zt_reader_attr(r, "creator_version");
    zt_stats_t st;
    zt_reader_stats(r, &st);

    if (nf > 0 && nf <= FZ_MAX_FRAMES) {
        int64_t *steps = malloc((size_t)nf * sizeof *steps);
        double *times = malloc((size_t)nf * sizeof *times);
        uint8_t *flags = malloc((size_t)nf);
        if (steps && times) zt_reader_steps(r, steps, times);
        if (flags) zt_reader_frame_flags(r, flags);
        free(steps);
        free(times);
        free(flags);
    }
    bool frames_ok = nf > 0 && na >= 0 && na * 3 <= FZ_MAX_FRAME_FLOATS && fz_chunks_ok(r);
    if (frames_ok) {
        size_t nv = (size_t)(na * 3);
        float *pos = calloc(nv + 1, sizeof(float)), *vel = calloc(nv + 1, sizeof(float));
        float *frc = calloc(nv + 1, sizeof(float)), *batch = calloc(3 * nv + 1, sizeof(float));
        int64_t pick[3] = {nf - 1, 0, nf / 2};
        float *one[3] = {NULL, NULL, NULL};
        int one_rc[3] = {-1, -1, -1};
        for (int i = 0; i < 3 && pos && vel && frc; i++) {
            zt_frame_t f;
            one_rc[i] = zt_reader_read_frame(r, pick[i], &f, pos, zt_reader_has(r, ZT_VELOCITY) ? vel : NULL,
                                             zt_reader_has(r, ZT_FORCE) ? frc : NULL);
            if (one_rc[i] == 0 && f.has[ZT_POSITION] && (one[i] = malloc((nv + 1) * sizeof(float))))
                memcpy(one[i], pos, nv * sizeof(float));
        }
        if (batch && zt_reader_has(r, ZT_POSITION)) {
            zt_frame_t info[3];
            if (zt_reader_read_frames(r, ZT_POSITION, pick, 3, batch, info) == 0)
                for (int i = 0; i < 3; i++)
                    if (one[i]) fz_same(one[i], batch + (size_t)i * nv, nv, "read_frame and read_frames");
        }
        if (zt_reader_has(r, ZT_POSITION) && na > 0) {
            int64_t nsel = na < 4 ? na : 4, nt = nf < 64 ? nf : 64;
            zt_atomsel_t sel = {NULL, 0, 0, nsel};
            float *ts = calloc((size_t)(nsel * 3 * nt) + 1, sizeof(float));
            if (ts && zt_reader_timeseries(r, ZT_POSITION, 0, nt, 1, &sel, ts) == 0 && one[1])
                fz_same(one[1], ts, (size_t)nsel * 3, "read_frame and timeseries");
            int64_t idx[2] = {na - 1, 0};
            zt_atomsel_t sel2 = {idx, 2, 0, 0};
            float *ts2 = calloc(6 * (size_t)nt + 1, sizeof(float));
            if (ts2) zt_reader_timeseries(r, ZT_POSITION, nf > 3 ? nf - 3 : 0, nf, 2, &sel2, ts2);
            free(ts);
            free(ts2);
        }
        for (int i = 0; i < 3; i++) free(one[i]);
        free(pos);
        free(vel);
        free(frc);
        free(batch);
    }
    for (size_t i = 0; i < zt_reader_n_data(r); i++) {
        zt_data_info_t di;
        if (zt_reader_data_info(r, i, &di)) continue;
        size_t k;
        zt_reader_data_find(r, di.name, &k);
        if (di.sample_size <= 0 || di.sample_size > FZ_MAX_DATA) continue;
        double *v = malloc((size_t)di.sample_size * sizeof(double));
        if (v && nf > 0) zt_reader_read_data(r, i, nf - 1, v);
        if (v && nf > 0) zt_reader_read_data(r, i, 0, v);
        free(v);
        int64_t ns = di.time_dependent ? di.n_samples : 1;
        if (ns > 0 && ns <= FZ_MAX_DATA / di.sample_size) {
            double *all = malloc((size_t)(ns * di.sample_size) * sizeof(double));
            int64_t *s = malloc((size_t)ns * sizeof *s);
            double *t = malloc((size_t)ns * sizeof *t);
            if (all && s && t) zt_reader_read_data_all(r, i, all, s, t);
            free(all);
            free(s);
            free(t);
        }
    }
    zt_reader_close(r);
    return 0;
}

int fz_read_traj(const char *url, const zt_options_t *storage) {
    int rc = fz_read_group(url, storage, NULL);
    char **names = NULL;
    size_t ng = 0;
    if (rc == ZT_EGROUP && zt_list_groups(url, storage, &names, &ng) == 0) {
        /* several particle groups: read each (a few) */
        for (size_t i = 0; rc == ZT_EGROUP && i < ng && i < 3; i++) fz_read_group(url, storage, names[i]);
        zt_free_strings(names, ng);
    }
    return rc;
}
