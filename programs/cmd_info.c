/* zarrtraj info: describe a trajectory. */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *zt__elnames[ZT_N_ELEMENTS] = {"position", "velocity", "force", "box/edges"};

static void zt__info_help(void) {
    printf("usage: zarrtraj info PATH [--group G] [--json] [-S key=value ...]\n\n"
           "Describe a trajectory (zarrmd or H5MD, local path or URL): format, particle groups,\n"
           "n_atoms, n_frames, elements with dtype, shape, chunks, codecs and units, step/time\n"
           "range, box, observables.\n\n"
           "  -g, --group G     particle group (needed when the file has several)\n"
           "  -j, --json        machine-readable JSON output\n"
           "  -S key=value      storage option (repeatable)\n");
}

static json_t *zt__i64_list(const int64_t *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(v[i]));
    return a;
}

static json_t *zt__num(double v) { return isnan(v) ? json_null() : json_real(v); }

static json_t *zt__describe(zt_reader_t *r) {
    json_t *o = json_object();
    int64_t nf = zt_reader_n_frames(r);
    json_object_set_new(o, "group", json_string(zt_reader_group(r)));
    json_object_set_new(o, "n_atoms", json_integer(zt_reader_n_atoms(r)));
    json_object_set_new(o, "n_frames", json_integer(nf));
    int64_t *steps = malloc(sizeof(int64_t) * (size_t)(nf ? nf : 1));
    double *times = malloc(sizeof(double) * (size_t)(nf ? nf : 1));
    if (steps && times && nf > 0 && zt_reader_steps(r, steps, times) == 0) {
        json_object_set_new(o, "step_range", json_pack("[I,I]", (json_int_t)steps[0], (json_int_t)steps[nf - 1]));
        json_object_set_new(o, "time_range", json_pack("[o,o]", zt__num(times[0]), zt__num(times[nf - 1])));
    }
    free(steps);
    free(times);
    const char *tu = zt_reader_time_unit(r);
    json_object_set_new(o, "time_unit", tu ? json_string(tu) : json_null());
    json_t *els = json_object();
    for (int k = 0; k < ZT_N_ELEMENTS; k++) {
        zt_array_info_t ai;
        if (zt_reader_array_info(r, (zt_element_t)k, &ai) != 0) continue;
        json_t *e = json_object();
        json_object_set_new(e, "path", json_string(ai.path));
        json_object_set_new(e, "dtype", json_string(ai.dtype));
        json_object_set_new(e, "shape", zt__i64_list(ai.shape, ai.ndim));
        json_object_set_new(e, "chunks", zt__i64_list(ai.chunks, ai.ndim));
        json_t *codecs = json_loads(ai.codecs, 0, NULL);
        json_object_set_new(e, "codecs", codecs ? codecs : json_string(ai.codecs));
        json_object_set_new(e, "unit", ai.unit ? json_string(ai.unit) : json_null());
        json_object_set_new(e, "n_samples", json_integer(zt_reader_n_samples(r, (zt_element_t)k)));
        json_object_set_new(els, zt__elnames[k], e);
    }
    json_object_set_new(o, "elements", els);
    json_t *box = json_object();
    json_object_set_new(box, "kind", json_string(zt_reader_box_kind(r)));
    json_t *bd = json_array();
    for (int i = 0; i < 3; i++) {
        const char *b;
        if (zt_reader_box_boundary(r, i, &b) == 0) json_array_append_new(bd, json_string(b));
    }
    json_object_set_new(box, "boundary", bd);
    json_object_set_new(box, "time_dependent", json_boolean(zt_reader_box_time_dependent(r)));
    const char *bu = zt_reader_unit(r, ZT_BOX);
    json_object_set_new(box, "unit", bu ? json_string(bu) : json_null());
    if (nf > 0) {
        zt_frame_t f;
        if (zt_reader_read_frame(r, 0, &f, NULL, NULL, NULL) == 0 && f.has[ZT_BOX])
            json_object_set_new(box, "dimensions_frame0",
                                json_pack("[f,f,f,f,f,f]", f.dimensions[0], f.dimensions[1], f.dimensions[2],
                                          f.dimensions[3], f.dimensions[4], f.dimensions[5]));
    }
    json_object_set_new(o, "box", box);
    json_t *obs = json_object(), *pd = json_object();
    for (size_t i = 0; i < zt_reader_n_data(r); i++) {
        zt_data_info_t di;
        if (zt_reader_data_info(r, i, &di) != 0) continue;
        json_t *e = json_object();
        json_object_set_new(e, "path", json_string(di.path));
        json_object_set_new(e, "time_dependent", json_boolean(di.time_dependent));
        json_object_set_new(e, "n_samples", json_integer(di.n_samples));
        json_object_set_new(e, "shape", zt__i64_list(di.shape, di.ndim));
        json_object_set_new(e, "dtype", json_string(di.dtype));
        json_object_set_new(e, "unit", di.unit ? json_string(di.unit) : json_null());
        json_object_set_new(di.kind == ZT_DATA_OBSERVABLE ? obs : pd, di.name, e);
    }
    json_object_set_new(o, "observables", obs);
    json_object_set_new(o, "particle_data", pd);
    return o;
}

static void zt__print_text(const char *path, zt_reader_t *r, json_t *groups, json_t *d) {
    int ma = 0, mi = 0;
    zt_reader_h5md_version(r, &ma, &mi);
    printf("%s\n  format: %s (H5MD %d.%d)\n", path, zt_reader_format(r), ma, mi);
    const char *cr = zt_reader_attr(r, "creator"), *cv = zt_reader_attr(r, "creator_version"),
               *au = zt_reader_attr(r, "author");
    if (cr) printf("  creator: %s %s\n", cr, cv ? cv : "");
    if (au) printf("  author: %s\n", au);
    printf("  particle groups:");
    const char *gk;
    json_t *gv;
    json_object_foreach(groups, gk, gv) {
        printf(" %s (%lld atoms, %lld frames)", gk, (long long)json_integer_value(json_object_get(gv, "n_atoms")),
               (long long)json_integer_value(json_object_get(gv, "n_frames")));
    }
    printf("\n");
    if (!d) return;
    printf("group %s: %lld atoms, %lld frames\n", json_string_value(json_object_get(d, "group")),
           (long long)json_integer_value(json_object_get(d, "n_atoms")),
           (long long)json_integer_value(json_object_get(d, "n_frames")));
    json_t *sr = json_object_get(d, "step_range"), *tr = json_object_get(d, "time_range");
    if (sr)
        printf("  steps %lld .. %lld\n", (long long)json_integer_value(json_array_get(sr, 0)),
               (long long)json_integer_value(json_array_get(sr, 1)));
    if (tr && json_is_number(json_array_get(tr, 0)))
        printf("  time %g .. %g %s\n", json_number_value(json_array_get(tr, 0)), json_number_value(json_array_get(tr, 1)),
               json_string_value(json_object_get(d, "time_unit")) ? json_string_value(json_object_get(d, "time_unit")) : "(no unit)");
    else
        printf("  time: not stored\n");
    json_t *box = json_object_get(d, "box");
    char *bd = json_dumps(json_object_get(box, "boundary"), JSON_COMPACT);
    printf("  box: %s, boundary %s, %s\n", json_string_value(json_object_get(box, "kind")), bd ? bd : "",
           json_is_true(json_object_get(box, "time_dependent")) ? "time-dependent" : "fixed");
    free(bd);
    json_t *dims = json_object_get(box, "dimensions_frame0");
    if (dims)
        printf("  box frame 0: a=%g b=%g c=%g alpha=%g beta=%g gamma=%g\n", json_number_value(json_array_get(dims, 0)),
               json_number_value(json_array_get(dims, 1)), json_number_value(json_array_get(dims, 2)),
               json_number_value(json_array_get(dims, 3)), json_number_value(json_array_get(dims, 4)),
               json_number_value(json_array_get(dims, 5)));
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(d, "elements"), k, v) {
        char *shape = json_dumps(json_object_get(v, "shape"), JSON_COMPACT);
        char *chunks = json_dumps(json_object_get(v, "chunks"), JSON_COMPACT);
        char *codecs = json_dumps(json_object_get(v, "codecs"), JSON_COMPACT | JSON_ENCODE_ANY);
        const char *u = json_string_value(json_object_get(v, "unit"));
        /* Zarr v3: the format, and the shards the (inner) chunks live in */
        json_t *cj = json_object_get(v, "codecs");
        json_t *zf = json_object_get(cj, "zarr_format");
        char *shards = json_object_get(cj, "shard_shape") ? json_dumps(json_object_get(cj, "shard_shape"), JSON_COMPACT) : NULL;
        char extra[256] = "";
        if (json_is_integer(zf))
            snprintf(extra, sizeof extra, " (Zarr v%lld%s%s%s)", (long long)json_integer_value(zf),
                     shards ? ", inner chunks of shards " : "", shards ? shards : "", "");
        printf("  %-10s %s %s chunks %s%s unit %s, %lld samples\n    codecs %s\n", k,
               json_string_value(json_object_get(v, "dtype")), shape, chunks, extra, u ? u : "(none)",
               (long long)json_integer_value(json_object_get(v, "n_samples")), codecs);
        free(shards);
        free(shape);
        free(chunks);
        free(codecs);
    }
    const char *sections[2] = {"observables", "particle_data"};
    for (int s = 0; s < 2; s++) {
        json_t *sec = json_object_get(d, sections[s]);
        if (!json_object_size(sec)) continue;
        printf("  %s:\n", s ? "other particle data" : "observables");
        json_object_foreach(sec, k, v) {
            char *shape = json_dumps(json_object_get(v, "shape"), JSON_COMPACT);
            const char *u = json_string_value(json_object_get(v, "unit"));
            if (json_is_true(json_object_get(v, "time_dependent")))
                printf("    %s: %lld samples of %s %s%s%s\n", k, (long long)json_integer_value(json_object_get(v, "n_samples")),
                       shape, json_string_value(json_object_get(v, "dtype")), u ? " " : "", u ? u : "");
            else
                printf("    %s: time-independent %s %s%s%s\n", k, shape, json_string_value(json_object_get(v, "dtype")),
                       u ? " " : "", u ? u : "");
            free(shape);
        }
    }
}

int zt_cmd_info(int argc, char **argv) {
    static const struct option lo[] = {{"group", required_argument, 0, 'g'}, {"json", no_argument, 0, 'j'},
                                       {"storage", required_argument, 0, 'S'}, {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    const char *group = NULL;
    bool as_json = false;
    zt_options_t *so = NULL;
    int c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "g:jS:h", lo, NULL)) != -1) {
        switch (c) {
        case 'g': group = optarg; break;
        case 'j': as_json = true; break;
        case 'S':
            if ((rc = zt_cli_add_storage(&so, optarg))) return zt_cli_fail("info", rc);
            break;
        case 'h': zt__info_help(); return 0;
        default: return zt_cli_usage_error("info", "bad option");
        }
    }
    if (optind + 1 != argc) {
        zt_options_free(so);
        return zt_cli_usage_error("info", "expected one PATH");
    }
    const char *path = argv[optind];
    char **names = NULL;
    size_t ng = 0;
    rc = zt_list_groups(path, so, &names, &ng);
    if (rc) {
        zt_options_free(so);
        return zt_cli_fail("info", rc);
    }
    if (!group && ng == 1) group = names[0];
    json_t *groups = json_object(), *detail = NULL;
    zt_reader_t *chosen = NULL;
    for (size_t i = 0; i < ng && !rc; i++) {
        zt_reader_opts_t o = ZT_READER_OPTS_DEFAULTS;
        o.group = names[i];
        o.storage = so;
        o.readahead_bytes = 0;
        zt_reader_t *r = NULL;
        json_t *g = json_object();
        if (zt_reader_open(path, &o, &r) == 0) {
            json_object_set_new(g, "n_atoms", json_integer(zt_reader_n_atoms(r)));
            json_object_set_new(g, "n_frames", json_integer(zt_reader_n_frames(r)));
        } else {
            json_object_set_new(g, "error", json_string(zt_last_error()));
            if (group && !strcmp(group, names[i])) rc = ZT_EFORMAT;
        }
        json_object_set_new(groups, names[i], g);
        if (r && group && !strcmp(group, names[i])) chosen = r;
        else zt_reader_close(r);
    }
    if (!rc && group && !chosen) {
        /* chosen group missing: let the reader produce the message */
        zt_reader_opts_t o = ZT_READER_OPTS_DEFAULTS;
        o.group = group;
        o.storage = so;
        rc = zt_reader_open(path, &o, &chosen);
    }
    if (rc) {
        json_decref(groups);
        zt_free_strings(names, ng);
        zt_options_free(so);
        return zt_cli_fail("info", rc);
    }
    if (chosen) detail = zt__describe(chosen);
    if (as_json) {
        json_t *o = detail ? json_deep_copy(detail) : json_object();
        json_object_set_new(o, "url", json_string(path));
        json_object_set_new(o, "format", json_string(chosen ? zt_reader_format(chosen) : "unknown"));
        json_object_set(o, "groups", groups);
        if (chosen) {
            int ma = 0, mi = 0;
            zt_reader_h5md_version(chosen, &ma, &mi);
            json_object_set_new(o, "h5md_version", json_pack("[i,i]", ma, mi));
            const char *keys[4] = {"creator", "creator_version", "author", "author_email"};
            for (int i = 0; i < 4; i++) {
                const char *v = zt_reader_attr(chosen, keys[i]);
                json_object_set_new(o, keys[i], v ? json_string(v) : json_null());
            }
        }
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
    } else if (chosen) {
        zt__print_text(path, chosen, groups, detail);
    } else {
        printf("%s\n  particle groups:", path);
        const char *gk;
        json_t *gv;
        json_object_foreach(groups, gk, gv) {
            printf(" %s (%lld atoms, %lld frames)", gk, (long long)json_integer_value(json_object_get(gv, "n_atoms")),
                   (long long)json_integer_value(json_object_get(gv, "n_frames")));
        }
        printf("\n  (several groups: choose one with --group for details)\n");
    }
    json_decref(detail);
    json_decref(groups);
    zt_reader_close(chosen);
    zt_free_strings(names, ng);
    zt_options_free(so);
    return 0;
}
