/* Fuzz target: a codec pipeline and arbitrary bytes. Input: a JSON document,
 * a NUL byte, 3 bytes of parameters (decoded size), then the data.
 *   {"compressor": {...}|null, "filters": [...]|null, "itemsize": N}   Zarr
 *   {"hdf5": [{"id": 1, "cd": [6]}, ...], "elem": N, "mask": M}       HDF5
 * The data is decoded to the chosen size (with the HDF5 filter mask), and
 * encoded then decoded again: a pipeline must give back what it encoded
 * (exactly when every stage is lossless, which it checks via a second
 * round trip of the decoded bytes otherwise). */
#include "fuzz.h"

#include "codec/codec_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init();
    return 0;
}

static void fz_fail(const zt_pipeline *p, const char *what) {
    char *d = zt__pipeline_describe(p);
    fprintf(stderr, "fuzz_pipeline: %s: %s (%s)\n", d ? d : "?", what, zt_last_error());
    free(d);
    abort();
}

static bool fz_lossless(const zt_pipeline *p) {
    for (size_t i = 0; i < p->n; i++) {
        zt__codec *c = zt__codec_impl(p->codecs[i]);
        if (!c) return false;
        switch (c->cid) {
        case ZT__C_QUANTIZE: case ZT__C_FSO: case ZT__C_ASTYPE: case ZT__C_DELTA: return false;
        default: break;
        }
    }
    return true;
}

static int fz_hdf5_pipeline(const json_t *spec, zt_pipeline **out, uint32_t *mask) {
    const json_t *fl = json_object_get(spec, "hdf5");
    size_t elem = (size_t)json_integer_value(json_object_get(spec, "elem"));
    *mask = (uint32_t)json_integer_value(json_object_get(spec, "mask"));
    if (!json_is_array(fl) || elem > 64) return -1;
    int rc = zt__pipeline_new(out);
    size_t i;
    json_t *f;
    json_array_foreach(fl, i, f) {
        if (rc) break;
        unsigned cd[32];
        size_t ncd = 0, k;
        json_t *v;
        json_array_foreach(json_object_get(f, "cd"), k, v) if (ncd < 32) cd[ncd++] = (unsigned)json_integer_value(v);
        zt_codec *c = NULL;
        rc = zt__codec_from_hdf5((unsigned)json_integer_value(json_object_get(f, "id")), cd, ncd, elem,
                                 json_string_value(json_object_get(f, "name")), &c);
        if (!rc) rc = zt__pipeline_push(*out, c);
    }
    if (rc) {
        zt__pipeline_free(*out);
        *out = NULL;
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    if (!nul) return 0;
    json_error_t je;
    json_t *spec = json_loadb((const char *)data, (size_t)(nul - data), 0, &je);
    if (!json_is_object(spec)) {
        json_decref(spec);
        return 0;
    }
    fz_rng rng = {nul + 1, size - (size_t)(nul - data) - 1};
    size_t want = (size_t)fz_take(&rng, 3) & 0x3fffff; /* < 4 MiB */
    const uint8_t *in = rng.p;
    size_t n = rng.n;
    zt_pipeline *p = NULL;
    uint32_t mask = 0;
    if (json_object_get(spec, "hdf5")) {
        if (fz_hdf5_pipeline(spec, &p, &mask)) goto done;
    } else {
        if (zt__pipeline_from_zarr(json_object_get(spec, "compressor"), json_object_get(spec, "filters"), &p))
            goto done;
        zt__pipeline_set_typesize(p, (size_t)json_integer_value(json_object_get(spec, "itemsize")) % 17);
        json_t *comp = NULL, *filt = NULL;
        if (zt__pipeline_to_zarr(p, &comp, &filt) == 0) {
            /* what we would write into .zarray builds the same pipeline */
            zt_pipeline *q = NULL;
            if (zt__pipeline_from_zarr(comp, filt, &q)) fz_fail(p, "our own .zarray codecs do not parse");
            zt__pipeline_free(q);
        }
        json_decref(comp);
        json_decref(filt);
        char *d = zt__pipeline_describe(p);
        free(d);
    }
    uint8_t *out = malloc(want ? want : 1);
    if (out) zt__pipeline_decode(p, mask, in, n, out, want);
    free(out);

    zt_buf enc, enc2;
    zt__buf_init(&enc);
    zt__buf_init(&enc2);
    if (mask == 0 && zt__pipeline_encode(p, in, n, &enc) == 0) {
        uint8_t *dec = malloc(n ? n : 1);
        if (zt__pipeline_decode(p, 0, enc.data, enc.len, dec, n)) fz_fail(p, "cannot decode what it encoded");
        if (fz_lossless(p)) {
            if (n && memcmp(dec, in, n)) fz_fail(p, "lossless round trip changed the data");
        } else if (zt__pipeline_encode(p, dec, n, &enc2) == 0) {
            /* lossy stages settle: the decoded data encodes to a stream that
             * decodes to itself */
            uint8_t *dec2 = malloc(n ? n : 1);
            if (zt__pipeline_decode(p, 0, enc2.data, enc2.len, dec2, n))
                fz_fail(p, "cannot decode the second encoding");
            free(dec2);
        }
        free(dec);
    }
    zt__buf_free(&enc);
    zt__buf_free(&enc2);
done:
    zt__pipeline_free(p);
    json_decref(spec);
    return 0;
}
