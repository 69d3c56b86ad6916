/* Fuzz target: an HDF5 file (bytes) on the memory store, read the way a
 * remote .h5md is read: our driver under libhdf5 (metadata) in the isolated
 * child (src/hdf5/h5iso.c: libhdf5's own crashes become errors), our tree
 * walker and chunk index, our codecs for the chunks, then the reader API. The tree
 * also goes through the index-cache serialisation (which must give the same
 * document back) and the kerchunk reference generator, whose reference set
 * is opened and read in turn. */
#include "format/registry.h"
#include "fuzz.h"

#include "hdf5/hdf5.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static zt_options_t *fz_opts;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init();
    zt_options_create(&fz_opts);
    zt_options_set(fz_opts, "index_cache", "false");
    /* libhdf5 parses in a child (the default; ZARRTRAJ_HDF5_ISOLATE=0 parses
     * in process, to reproduce a libhdf5 crash): a hang there ends well
     * inside libFuzzer's -timeout */
    zt_options_set(fz_opts, "hdf5_timeout", "5");
    return 0;
}

static void fz_fail(const char *what) {
    fprintf(stderr, "fuzz_hdf5: %s (%s)\n", what, zt_last_error());
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char name[64], url[96], rname[64], rurl[128];
    if (fz_mem_load(".h5md", NULL, 0, name, sizeof name)) return 0;
    snprintf(url, sizeof url, "memory://%s", name);
    fz_mem_put(name, "", data, size);

    /* each open forks the isolated parser (the slow part of an input): the
     * reader API only runs on files whose tree opens */
    zt_tree *t = NULL;
    if (zt__tree_open(url, fz_opts, &t) == 0) {
        fz_read_traj(url, fz_opts);
        json_t *j = NULL;
        if (zt__h5_tree_to_json(t, &j)) fz_fail("tree_to_json of an opened tree");
        const char *dump = getenv("ZT_FUZZ_DUMP_INDEX"); /* seeds of fuzz_h5index */
        if (dump) {
            char path[4096];
            snprintf(path, sizeof path, "%s/index.bin", dump);
            char *txt = json_dumps(j, JSON_COMPACT);
            FILE *f = fopen(path, "wb");
            if (f && txt) {
                fwrite(txt, 1, strlen(txt) + 1, f);
                fwrite(data, 1, size, f);
            }
            if (f) fclose(f);
            free(txt);
        }
        zt_tree *t2 = calloc(1, sizeof *t2);
        t2->url = strdup(url);
        t2->format = "h5md";
        if (zt__h5_tree_from_json(t2, j, (int64_t)size)) fz_fail("our own index does not load");
        json_t *j2 = NULL;
        if (zt__h5_tree_to_json(t2, &j2)) fz_fail("tree_to_json of the loaded index");
        if (!json_equal(j, j2)) fz_fail("index round trip differs");
        json_decref(j);
        json_decref(j2);
        zt__tree_free(t2);
        json_t *refs = NULL;
        if (zt__hdf5_kerchunk_refs(t, url, &refs) == 0) {
            char *txt = json_dumps(refs, JSON_COMPACT);
            if (txt && fz_mem_load(".refs", NULL, 0, rname, sizeof rname) == 0) {
                fz_mem_put(rname, "refs.json", txt, strlen(txt));
                snprintf(rurl, sizeof rurl, "reference://memory://%s/refs.json", rname);
                fz_read_traj(rurl, fz_opts);
                fz_mem_clear(rname);
            }
            free(txt);
            json_decref(refs);
        }
        zt__tree_free(t);
    }
    fz_mem_clear(name);
    return 0;
}
