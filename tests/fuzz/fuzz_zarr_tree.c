/* Fuzz target: a Zarr v2 or v3 hierarchy (.zmetadata, .zgroup, .zarray, .zattrs or zarr.json, and
 * chunks, as an archive of objects, see fuzz.h) on the memory store, opened as
 * a zarrmd trajectory and read through the reader API. A single JSON
 * document (not an archive) is taken as .zmetadata. */
#include "fuzz.h"

#include <stdio.h>
#include <string.h>

#define FZ_MAX_OBJECTS 256

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fz_entry e[FZ_MAX_OBJECTS];
    size_t n = fz_split(data, size, e, FZ_MAX_OBJECTS);
    if (n == 0) {
        strcpy(e[0].key, ".zmetadata");
        e[0].data = data;
        e[0].n = size;
        n = 1;
    }
    char name[64], url[96];
    if (fz_mem_load(".zarrmd", e, n, name, sizeof name) == 0) {
        snprintf(url, sizeof url, "memory://%s", name);
        fz_read_traj(url, NULL);
    }
    fz_mem_clear(name);
    return 0;
}
