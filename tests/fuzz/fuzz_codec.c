/* Fuzz target: one codec and arbitrary bytes. Input: a numcodecs JSON config
 * (or a short spec such as "zstd:level=3"), a NUL byte, 3 bytes of parameters
 * (decoded-size choice and item size), then the data. Every codec is decoded
 * with an unknown size, the size its header claims, and a chosen size; the
 * data is also encoded and decoded again, which must give it back exactly
 * for the lossless codecs (and the same bytes twice for the lossy ones). */
#include "fuzz.h"

#include "codec/codec_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_MAX_OUT ((size_t)8 << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init();
    return 0;
}

static void fz_fail(const zt_codec *c, const char *what) {
    char *cfg = json_dumps(c->config, JSON_COMPACT);
    fprintf(stderr, "fuzz_codec: %s: %s\n", cfg ? cfg : "?", what);
    free(cfg);
    abort();
}

static bool fz_lossless(const zt__codec *c) {
    switch (c->cid) {
    case ZT__C_QUANTIZE: case ZT__C_FSO: case ZT__C_ASTYPE: case ZT__C_DELTA:
        return false; /* rounding, narrowing, float deltas */
    default:
        return true;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    if (!nul) return 0;
    size_t cl = (size_t)(nul - data);
    fz_rng rng = {nul + 1, size - cl - 1};
    unsigned sel = (unsigned)fz_take(&rng, 2), ts = (unsigned)fz_take(&rng, 1);
    const uint8_t *in = rng.p;
    size_t n = rng.n;

    char *spec = malloc(cl + 1);
    memcpy(spec, data, cl);
    spec[cl] = 0;
    json_t *cfg = NULL;
    zt_codec *c = NULL;
    if (zt__codec_spec_parse(spec, &cfg) || !cfg || zt__codec_from_json(cfg, &c)) goto done;
    zt__codec *ci = zt__codec_impl(c);
    zt__codec_set_typesize(c, ts % 17);

    zt_buf out, enc, dec, enc2;
    zt__buf_init(&out);
    zt__buf_init(&enc);
    zt__buf_init(&dec);
    zt__buf_init(&enc2);
    /* decode: unknown size, the stream's own claim, a chosen size */
    c->vt->decode(c, in, n, &out, 0);
    size_t claim = c->vt->decoded_size ? c->vt->decoded_size(c, in, n) : 0;
    if (claim && claim <= FZ_MAX_OUT && c->vt->decode(c, in, n, &out, claim) == 0 && out.len != claim)
        fz_fail(c, "decoded length differs from the size asked for");
    size_t want = (size_t)(sel & 0x7fff) * ((sel & 0x8000) ? 64 : 1);
    if (want && c->vt->decode(c, in, n, &out, want) == 0 && out.len != want)
        fz_fail(c, "decoded length differs from the size asked for");

    /* encode -> decode */
    if (c->vt->encode(c, in, n, &enc) == 0) {
        int rc = c->vt->decode(c, enc.data, enc.len, &dec, n);
        if (rc) {
            fprintf(stderr, "%s\n", zt_last_error());
            fz_fail(c, "cannot decode what it encoded");
        }
        if (dec.len != n) fz_fail(c, "round trip changed the length");
        if (fz_lossless(ci) && n && memcmp(dec.data, in, n)) fz_fail(c, "lossless round trip changed the data");
        /* encoding is deterministic */
        if (c->vt->encode(c, in, n, &enc2) != 0 || enc2.len != enc.len ||
            (enc.len && memcmp(enc.data, enc2.data, enc.len)))
            fz_fail(c, "encoding the same bytes twice differs");
    }
    zt__buf_free(&out);
    zt__buf_free(&enc);
    zt__buf_free(&dec);
    zt__buf_free(&enc2);
done:
    zt__codec_free(c);
    json_decref(cfg);
    free(spec);
    return 0;
}
