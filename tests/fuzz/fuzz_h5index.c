/* Fuzz target: the on-disk HDF5 chunk-index cache (h5cache.c), which the
 * reader trusts instead of walking a remote file again. Input: the cache
 * document (JSON), a NUL byte, then the bytes of the "file" its chunk
 * table points into. The harness fills in url/etag/size so the reader takes
 * the document, writes it where the cache lives, and reads the trajectory. */
#include "fuzz.h"

#include "hdf5/hdf5.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static zt_options_t *fz_opts;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init();
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/zt-fuzz-h5index-%ld", (long)getpid());
    mkdir(dir, 0700);
    setenv("XDG_CACHE_HOME", dir, 1);
    char sub[96];
    snprintf(sub, sizeof sub, "%s/zarrtraj", dir);
    mkdir(sub, 0700);
    zt_options_create(&fz_opts);
    zt_options_set(fz_opts, "index_cache", "true");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t jl = nul ? (size_t)(nul - data) : size;
    json_error_t je;
    json_t *j = json_loadb((const char *)data, jl, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        return 0;
    }
    char name[64], url[96];
    if (fz_mem_load(".h5md", NULL, 0, name, sizeof name)) {
        json_decref(j);
        return 0;
    }
    snprintf(url, sizeof url, "memory://%s", name);
    const uint8_t *file = nul ? nul + 1 : (const uint8_t *)"";
    size_t fn = nul ? size - jl - 1 : 0;
    fz_mem_put(name, "", file, fn);
    zt_store *s = NULL;
    zt_stat st;
    if (zt__store_memory_open(name, NULL, &s) == 0 && zt__store_head(s, "", &st) == 0) {
        json_object_set_new(j, "url", json_string(url));
        json_object_set_new(j, "etag", json_string(st.etag));
        json_object_set_new(j, "size", json_integer(st.size));
        json_object_set_new(j, "mtime", json_integer(st.mtime));
        char *path = zt__h5_index_cache_path(url);
        if (path && json_dump_file(j, path, JSON_COMPACT) == 0) {
            fz_read_traj(url, fz_opts);
            unlink(path);
        }
        free(path);
    }
    zt__store_close(s);
    fz_mem_clear(name);
    json_decref(j);
    return 0;
}
