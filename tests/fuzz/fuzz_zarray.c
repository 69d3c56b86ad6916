/* Fuzz target: one Zarr v2 .zarray document, then a NUL byte and the bytes of
 * chunk 0 (optional). Checks, beyond "no crash, no leak, no UB":
 *  - a document we serialise (zt__zarr_array_to_json) parses back to an array
 *    that serialises identically;
 *  - chunk 0 decodes to the same bytes directly, through the store (locate +
 *    key + fetch) and row by row (the remote uncompressed read path), and
 *    a small hyperslab read agrees with the decoded chunk. */
#include "fuzz.h"

#include "store/store.h"
#include "zarr/zarr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_MAX_CHUNK ((size_t)16 << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init();
    return 0;
}

static void fz_fail(const char *what) {
    fprintf(stderr, "fuzz_zarray: %s\n", what);
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
    if (zt__store_memory_open(name, NULL, &s)) goto done;
    if (zt__zarr_array_from_json(doc, "g/arr", "fuzz.zarrmd", s, &a)) goto done;

    /* round trip of what we write */
    json_t *j1 = zt__zarr_array_to_json(a);
    if (!j1) fz_fail("to_json failed");
    if (zt__zarr_array_from_json(j1, "g/arr", "fuzz.zarrmd", s, &b)) {
        fprintf(stderr, "%s\n", zt_last_error());
        fz_fail("our own .zarray does not parse");
    }
    json_t *j2 = zt__zarr_array_to_json(b);
    if (!json_equal(j1, j2)) fz_fail(".zarray round trip differs");
    json_decref(j1);
    json_decref(j2);
    char *desc = zt__pipeline_describe(a->pipeline);
    free(desc);

    size_t cb = zt__array_chunk_nbytes(a);
    if (cb > FZ_MAX_CHUNK) goto done;
    uint8_t *d1 = malloc(cb + 1), *d2 = malloc(cb + 1);
    int64_t cidx[ZT_MAXDIM] = {0};
    zt_chunk_loc loc = {0};
    int rc1 = -1;
    if (d1 && d2 && raw && a->vt->locate(a, cidx, &loc) == 0) {
        loc.missing = false;
        rc1 = zt__array_decode_chunk(a, cidx, &loc, raw, rawn, d1);
        if (zt__store_put(s, zt__loc_key(&loc), rawn ? (const void *)raw : "", rawn) == 0) {
            int rc2 = zt__array_read_chunk(a, cidx, d2);
            if ((rc1 == 0) != (rc2 == 0)) fz_fail("decode and read_chunk disagree on success");
            if (rc1 == 0 && memcmp(d1, d2, cb)) fz_fail("decode and read_chunk differ");
        }
    }
    zt__chunk_loc_clear(&loc);
    if (rc1 == 0 && a->ndim > 0) {
        /* a small hyperslab at the origin, inside chunk 0 */
        int64_t start[ZT_MAXDIM] = {0}, count[ZT_MAXDIM];
        size_t n = a->dtype.size;
        for (int d = 0; d < a->ndim; d++) {
            count[d] = a->shape[d] < a->chunks[d] ? a->shape[d] : a->chunks[d];
            if (count[d] > 2) count[d] = 2;
            n *= (size_t)count[d];
        }
        uint8_t *h = malloc(n + 1);
        if (h && zt__array_read(a, start, count, h) == 0) {
            /* compare with the same box of the decoded chunk */
            int64_t org[ZT_MAXDIM] = {0};
            uint8_t *h2 = malloc(n + 1);
            zt__copy_box_conv(a, d1, org, start, count, h2, 'r');
            if (memcmp(h, h2, n)) fz_fail("hyperslab differs from the decoded chunk");
            free(h2);
        }
        free(h);
        /* the row-by-row path of remote uncompressed arrays */
        zt__zarr_read_rows(a);
        if (a->chunks_stored[0]) {
            size_t rowb = zt__array_chunk_nbytes(a);
            uint8_t *row = malloc(rowb + 1);
            int64_t c1[ZT_MAXDIM] = {0};
            c1[0] = a->chunks_stored[0] > 1 ? 1 : 0;
            if (row && zt__array_read_chunk(a, c1, row) == 0 && memcmp(row, d1 + (size_t)c1[0] * rowb, rowb))
                fz_fail("row read differs from the decoded chunk");
            free(row);
        }
    }
    free(d1);
    free(d2);
done:
    zt__array_free(a);
    zt__array_free(b);
    zt__store_close(s);
    fz_mem_clear(name);
    json_decref(doc);
    return 0;
}
