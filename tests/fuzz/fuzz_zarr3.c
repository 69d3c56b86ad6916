/* Fuzz target: one Zarr v3 zarr.json array document, then a NUL byte and the
 * bytes of the stored chunk at grid index 0 (the shard, when sharded: its
 * index is parsed from these bytes). Checks, beyond "no crash, no leak, no
 * UB": every chunk of the first stored chunk reads the same through
 * zt__array_read_chunk (locate + fetch + decode) and through the batched
 * hyperslab read (prepare + locate), or both fail. */
#include "fuzz.h"

#include "store/store.h"
#include "zarr/zarr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_MAX_CHUNK ((size_t)4 << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init();
    return 0;
}

static void fz_fail(const char *what) {
    fprintf(stderr, "fuzz_zarr3: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t jl = nul ? (size_t)(nul - data) : size;
    const uint8_t *raw = nul ? nul + 1 : NULL;
    size_t rawn = nul ? size - jl - 1 : 0;
    json_error_t je;
    json_t *doc = json_loadb((const char *)data, jl, JSON_DECODE_ANY, &je);
    if (!doc) return 0;
    char name[64];
    if (fz_mem_load(".zarr", NULL, 0, name, sizeof name)) {
        json_decref(doc);
        return 0;
    }
    zt_store *s = NULL;
    zt_array *a = NULL, *b = NULL;
    uint8_t *d1 = NULL, *d2 = NULL;
    if (zt__store_memory_open(name, NULL, &s)) goto done;
    if (zt__zarr3_array_from_json(doc, "g/arr", "fuzz.zarrmd", s, &a)) goto done;
    if (zt__zarr3_array_from_json(doc, "g/arr", "fuzz.zarrmd", s, &b)) fz_fail("second parse failed");
    int64_t g0[ZT_MAXDIM] = {0};
    char *key = zt__zarr3_chunk_key(a, g0);
    if (!key) fz_fail("no chunk key");
    if (raw) zt__store_put(s, key, rawn ? (const void *)raw : "", rawn);
    free(key);
    size_t cb = zt__array_chunk_nbytes(a);
    if (cb > FZ_MAX_CHUNK || a->ndim == 0 || zt__array_nelems(a) == 0) goto done;
    d1 = malloc(cb);
    d2 = malloc(cb);
    if (!d1 || !d2) goto done;
    /* the first few chunks along axis 0, one by one (a) and batched (b) */
    int64_t nc0 = zt__array_nchunks_dim(a, 0);
    for (int64_t c = 0; c < nc0 && c < 4; c++) {
        int64_t cidx[ZT_MAXDIM] = {0}, start[ZT_MAXDIM] = {0}, count[ZT_MAXDIM];
        cidx[0] = c;
        int rc1 = zt__array_read_chunk(a, cidx, d1);
        size_t n = a->dtype.size;
        for (int d = 0; d < a->ndim; d++) {
            start[d] = cidx[d] * a->chunks[d];
            count[d] = a->shape[d] - start[d] < a->chunks[d] ? a->shape[d] - start[d] : a->chunks[d];
            n *= (size_t)count[d];
        }
        int rc2 = zt__array_read(b, start, count, d2);
        if ((rc1 == 0) != (rc2 == 0)) fz_fail("read_chunk and array_read disagree on success");
        if (rc1 == 0) {
            uint8_t *h = malloc(n ? n : 1);
            if (!h) break;
            zt__copy_box_conv(a, d1, start, start, count, h, 'r');
            if (memcmp(h, d2, n)) fz_fail("read_chunk and array_read differ");
            free(h);
        }
    }
done:
    free(d1);
    free(d2);
    zt__array_free(a);
    zt__array_free(b);
    zt__store_close(s);
    fz_mem_clear(name);
    json_decref(doc);
    return 0;
}
