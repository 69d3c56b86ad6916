/* Codec layer: round trips, known values, hostile input, spec parser. */
#include "codec/codec.h"
#include "codec/codec_int.h" /* zt__fletcher32 */
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rng(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}
static double urand(void) { return rng() / 4294967296.0; }

/* Smooth sine + noise, like coordinates of a vibrating molecule. */
static float *make_f32(size_t n) {
    float *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(25.0 * sin(0.01 * (double)i) + 3.0 * cos(0.37 * (double)i) +
                       0.05 * (urand() - 0.5) - 7.5);
    return a;
}

static json_t *J(const char *s) {
    if (!s) return NULL;
    json_error_t e;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &e);
    if (!j) fprintf(stderr, "bad test JSON %s: %s\n", s, e.text);
    return j;
}

static zt_pipeline *pipe_of(const char *comp, const char *filters) {
    json_t *c = J(comp), *f = J(filters);
    zt_pipeline *p = NULL;
    int rc = zt__pipeline_from_zarr(c, f, &p);
    if (rc) fprintf(stderr, "pipeline %s %s: %s\n", comp, filters ? filters : "", zt_last_error());
    CHECK_OK(rc);
    json_decref(c);
    json_decref(f);
    return p;
}

/* Encode then decode; returns encoded size (0 on failure) and checks equality. */
static size_t roundtrip(const char *what, zt_pipeline *p, const void *data, size_t n,
                        const void *expect) {
    zt_buf enc;
    zt__buf_init(&enc);
    size_t out_len = 0;
    int rc = zt__pipeline_encode(p, data, n, &enc);
    if (rc) {
        fprintf(stderr, "%s: encode failed: %s\n", what, zt_last_error());
        zt_test_failures++;
    } else {
        void *dec = malloc(n ? n : 1);
        rc = zt__pipeline_decode(p, 0, enc.data, enc.len, dec, n);
        if (rc) {
            fprintf(stderr, "%s: decode failed: %s\n", what, zt_last_error());
            zt_test_failures++;
        } else if (memcmp(dec, expect ? expect : data, n) != 0) {
            fprintf(stderr, "%s: round trip differs\n", what);
            zt_test_failures++;
        } else {
            out_len = enc.len;
        }
        free(dec);
    }
    zt__buf_free(&enc);
    return out_len;
}

static void test_compressors(void) {
    const size_t N = 20011; /* odd: exercises partial blosc blocks and leftovers */
    float *a = make_f32(N);
    /* must_compress: noisy float32 mantissas only shrink with a byte shuffle
     * or an entropy coder (numcodecs gives the same sizes for the others) */
    static const struct { const char *cfg; int must_compress; } cfgs[] = {
        {"{\"id\":\"blosc\"}", 1},
        {"{\"id\":\"blosc\",\"cname\":\"lz4\",\"clevel\":5,\"shuffle\":1}", 1},
        {"{\"id\":\"blosc\",\"cname\":\"lz4hc\",\"clevel\":9,\"shuffle\":2}", 0},
        {"{\"id\":\"blosc\",\"cname\":\"blosclz\",\"clevel\":1,\"shuffle\":0}", 0},
        {"{\"id\":\"blosc\",\"cname\":\"zstd\",\"clevel\":3,\"shuffle\":-1,\"blocksize\":4096}", 1},
        {"{\"id\":\"blosc\",\"cname\":\"zlib\",\"clevel\":6,\"shuffle\":1}", 1},
        {"{\"id\":\"blosc\",\"cname\":\"zstd\",\"clevel\":0,\"shuffle\":1}", 0},
        {"{\"id\":\"zstd\"}", 1}, {"{\"id\":\"zstd\",\"level\":19}", 1},
        {"{\"id\":\"zstd\",\"level\":-5}", 0},
        {"{\"id\":\"zstd\",\"level\":3,\"checksum\":true}", 1},
        {"{\"id\":\"zlib\"}", 1}, {"{\"id\":\"zlib\",\"level\":9}", 1},
        {"{\"id\":\"zlib\",\"level\":0}", 0},
        {"{\"id\":\"gzip\"}", 1}, {"{\"id\":\"gzip\",\"level\":9}", 1},
        {"{\"id\":\"lz4\"}", 0}, {"{\"id\":\"lz4\",\"acceleration\":20}", 0},
        {"{\"id\":\"bz2\"}", 1}, {"{\"id\":\"bz2\",\"level\":9}", 1},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        zt_pipeline *p = pipe_of(cfgs[i].cfg, NULL);
        if (!p) continue;
        zt__pipeline_set_typesize(p, 4);
        size_t enc = roundtrip(cfgs[i].cfg, p, a, N * 4, NULL);
        CHECK(enc > 0);
        if (cfgs[i].must_compress && enc >= N * 4 * 98 / 100) {
            fprintf(stderr, "%s: poor compression (%zu of %zu)\n", cfgs[i].cfg, enc, N * 4);
            zt_test_failures++;
        }
        /* and every codec compresses a constant chunk well */
        float *z = calloc(N, 4);
        size_t ez = roundtrip(cfgs[i].cfg, p, z, N * 4, NULL);
        if (!strstr(cfgs[i].cfg, "level\":0") && (ez == 0 || ez > N * 4 / 20)) {
            fprintf(stderr, "%s: zeros compress to %zu bytes\n", cfgs[i].cfg, ez);
            zt_test_failures++;
        }
        free(z);
        /* empty chunk and a 1-byte chunk */
        roundtrip(cfgs[i].cfg, p, a, 0, NULL);
        roundtrip(cfgs[i].cfg, p, a, 1, NULL);
        zt__pipeline_free(p);
    }
    free(a);
}

/* Known numcodecs outputs (numcodecs.Quantize docstring, f8 linspace(0, 1, 10)). */
static void test_quantize_known(void) {
    double x[10];
    for (int i = 0; i < 10; i++) x[i] = i / 9.0;
    static const double want1[10] = {0., 0.125, 0.25, 0.3125, 0.4375, 0.5625, 0.6875, 0.75, 0.875, 1.};
    static const double want2[10] = {0., 0.109375, 0.21875, 0.3359375, 0.4453125,
                                     0.5546875, 0.6640625, 0.78125, 0.890625, 1.};
    static const double want3[10] = {0., 0.111328125, 0.22265625, 0.3330078125, 0.4443359375,
                                     0.5556640625, 0.6669921875, 0.77734375, 0.888671875, 1.};
    const double *wants[3] = {want1, want2, want3};
    for (int d = 1; d <= 3; d++) {
        zt_codec *q;
        CHECK_OK(zt__codec_quantize_new(d, "<f8", &q));
        if (!q) continue;
        zt_buf out;
        zt__buf_init(&out);
        CHECK_OK(q->vt->encode(q, x, sizeof x, &out));
        CHECK_EQ_INT(out.len, sizeof x);
        for (int i = 0; i < 10 && out.len == sizeof x; i++) {
            double v;
            memcpy(&v, out.data + 8 * i, 8);
            if (v != wants[d - 1][i]) {
                fprintf(stderr, "quantize digits=%d x[%d]: got %.17g want %.17g\n", d, i, v,
                        wants[d - 1][i]);
                zt_test_failures++;
            }
        }
        zt__buf_free(&out);
        zt__codec_free(q);
    }
    /* round half to even in float32: digits=0 -> scale 1 */
    float h[6] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 3.49999976f};
    float hw[6] = {0.f, 2.f, 2.f, -0.f, -2.f, 3.f};
    zt_codec *q;
    CHECK_OK(zt__codec_quantize_new(0, "<f4", &q));
    zt_buf out;
    zt__buf_init(&out);
    CHECK_OK(q->vt->encode(q, h, sizeof h, &out));
    CHECK(out.len == sizeof h && memcmp(out.data, hw, sizeof hw) == 0);
    CHECK(signbit(((float *)out.data)[3])); /* np.around(-0.5) is -0.0 */
    /* config is the normalised numcodecs one */
    char *s = json_dumps(q->config, JSON_COMPACT);
    CHECK(s && strcmp(s, "{\"astype\":\"<f4\",\"digits\":0,\"dtype\":\"<f4\",\"id\":\"quantize\"}") == 0);
    free(s);
    zt__buf_free(&out);
    zt__codec_free(q);
    CHECK_RC(zt__codec_quantize_new(3, "<i4", &q), ZT_EINVAL);
    CHECK(q == NULL);
    CHECK_RC(zt__codec_quantize_new(3, "<c8", &q), ZT_EUNSUPPORTED);
}

static void test_filters(void) {
    const size_t N = 12000;
    float *a = make_f32(N);
    /* quantize + blosc: decoded equals the quantized values, error <= half a step */
    {
        zt_pipeline *p = pipe_of("{\"id\":\"blosc\",\"cname\":\"zstd\",\"clevel\":5,\"shuffle\":2}",
                                 "[{\"id\":\"quantize\",\"digits\":3,\"dtype\":\"<f4\"}]");
        zt__pipeline_set_typesize(p, 4);
        zt_buf enc;
        zt__buf_init(&enc);
        CHECK_OK(zt__pipeline_encode(p, a, N * 4, &enc));
        float *dec = malloc(N * 4);
        CHECK_OK(zt__pipeline_decode(p, 0, enc.data, enc.len, dec, N * 4));
        double maxerr = 0;
        for (size_t i = 0; i < N; i++) maxerr = fmax(maxerr, fabs((double)dec[i] - a[i]));
        CHECK(maxerr <= 0.5 / 1024 + 1e-6); /* digits=3 -> scale 2**10 */
        CHECK(maxerr > 0);                  /* it did quantize */
        /* quantize is idempotent: re-encoding the decoded data gives the same bytes */
        zt_buf enc2;
        zt__buf_init(&enc2);
        CHECK_OK(zt__pipeline_encode(p, dec, N * 4, &enc2));
        CHECK(enc2.len == enc.len && memcmp(enc.data, enc2.data, enc.len) == 0);
        /* quantized data compresses much better */
        zt_pipeline *pb = pipe_of("{\"id\":\"blosc\",\"cname\":\"zstd\",\"clevel\":5,\"shuffle\":2}", NULL);
        zt__pipeline_set_typesize(pb, 4);
        size_t raw = roundtrip("blosc raw", pb, a, N * 4, NULL);
        CHECK(enc.len < raw);
        zt__pipeline_free(pb);
        free(dec);
        zt__buf_free(&enc);
        zt__buf_free(&enc2);
        zt__pipeline_free(p);
    }
    /* quantize f8 -> astype f4 halves the data */
    {
        double *d = malloc(N * 8);
        float *want = malloc(N * 4);
        for (size_t i = 0; i < N; i++) {
            d[i] = a[i] * 1.0001;
            want[i] = (float)d[i];
        }
        zt_pipeline *p = pipe_of(NULL, "[{\"id\":\"quantize\",\"digits\":8,\"dtype\":\"<f8\",\"astype\":\"<f4\"}]");
        zt_buf enc;
        zt__buf_init(&enc);
        CHECK_OK(zt__pipeline_encode(p, d, N * 8, &enc));
        CHECK_EQ_INT(enc.len, N * 4);
        double *back = malloc(N * 8);
        CHECK_OK(zt__pipeline_decode(p, 0, enc.data, enc.len, back, N * 8));
        size_t bad = 0;
        for (size_t i = 0; i < N; i++)
            if (fabs(back[i] - d[i]) > 1e-5 * (1 + fabs(d[i]))) bad++;
        CHECK_EQ_INT(bad, 0);
        /* wrong output size */
        CHECK_RC(zt__pipeline_decode(p, 0, enc.data, enc.len, back, N * 8 - 8), ZT_ECORRUPT);
        zt__buf_free(&enc);
        zt__pipeline_free(p);
        free(back);
        free(want);
        free(d);
    }
    /* delta on integers with zstd: exact; encoded first element, then differences */
    {
        int32_t *v = malloc(N * 4);
        for (size_t i = 0; i < N; i++) v[i] = 100000 + (int32_t)(i * 3) - (int32_t)(i % 7);
        zt_pipeline *p = pipe_of("{\"id\":\"zstd\",\"level\":3}",
                                 "[{\"id\":\"delta\",\"dtype\":\"<i4\"}]");
        CHECK(roundtrip("delta+zstd", p, v, N * 4, NULL) > 0);
        zt_codec *dc = p->codecs[0];
        zt_buf e;
        zt__buf_init(&e);
        CHECK_OK(dc->vt->encode(dc, v, 16, &e));
        int32_t ev[4];
        memcpy(ev, e.data, 16);
        CHECK(ev[0] == 100000 && ev[1] == 2 && ev[2] == 2 && ev[3] == 2);
        zt__buf_free(&e);
        zt__pipeline_free(p);
        /* delta i2 -> i1 (numcodecs docstring: arange(100, 120, 2)) */
        int16_t s[10];
        for (int i = 0; i < 10; i++) s[i] = (int16_t)(100 + 2 * i);
        p = pipe_of(NULL, "[{\"id\":\"delta\",\"dtype\":\"<i2\",\"astype\":\"<i1\"}]");
        zt__buf_init(&e);
        CHECK_OK(zt__pipeline_encode(p, s, sizeof s, &e));
        CHECK_EQ_INT(e.len, 10);
        CHECK(e.len == 10 && e.data[0] == 100 && e.data[1] == 2 && e.data[9] == 2);
        int16_t back[10];
        CHECK_OK(zt__pipeline_decode(p, 0, e.data, e.len, back, sizeof back));
        CHECK(memcmp(back, s, sizeof s) == 0);
        zt__buf_free(&e);
        zt__pipeline_free(p);
        free(v);
    }
    /* fixedscaleoffset: numcodecs docstring example */
    {
        double x[10];
        for (int i = 0; i < 10; i++) x[i] = 1000 + i / 9.0;
        zt_pipeline *p = pipe_of(NULL, "[{\"id\":\"fixedscaleoffset\",\"offset\":1000,\"scale\":10,"
                                       "\"dtype\":\"<f8\",\"astype\":\"|u1\"}]");
        zt_buf e;
        zt__buf_init(&e);
        CHECK_OK(zt__pipeline_encode(p, x, sizeof x, &e));
        static const uint8_t want[10] = {0, 1, 2, 3, 4, 6, 7, 8, 9, 10};
        CHECK(e.len == 10 && memcmp(e.data, want, 10) == 0);
        double back[10];
        CHECK_OK(zt__pipeline_decode(p, 0, e.data, e.len, back, sizeof back));
        CHECK_CLOSE(back[5], 1000.6, 1e-12);
        CHECK_CLOSE(back[9], 1001.0, 1e-12);
        zt__buf_free(&e);
        zt__pipeline_free(p);
        p = pipe_of("{\"id\":\"zlib\",\"level\":5}",
                    "[{\"id\":\"fixedscaleoffset\",\"offset\":-7.5,\"scale\":1000,\"dtype\":\"<f4\",\"astype\":\"<i4\"}]");
        zt__buf_init(&e);
        CHECK_OK(zt__pipeline_encode(p, a, N * 4, &e));
        float *dec = malloc(N * 4);
        CHECK_OK(zt__pipeline_decode(p, 0, e.data, e.len, dec, N * 4));
        double maxerr = 0;
        for (size_t i = 0; i < N; i++) maxerr = fmax(maxerr, fabs((double)dec[i] - a[i]));
        CHECK(maxerr <= 0.0005 + 1e-5);
        free(dec);
        zt__buf_free(&e);
        zt__pipeline_free(p);
    }
    /* fixedscaleoffset f4 -> i4 (the compact preset's fast path) rounds half to
     * even like numpy.around, on both sides of 2^22 where the inline rounding
     * hands over to nearbyintf; out-of-range and NaN give INT32_MIN as before */
    {
        zt_pipeline *p = pipe_of(NULL, "[{\"id\":\"fixedscaleoffset\",\"offset\":0.0,\"scale\":0.5,"
                                       "\"dtype\":\"<f4\",\"astype\":\"<i4\"}]");
        enum { M = 4096 };
        float in[M];
        uint32_t seed = 7;
        for (int i = 0; i < M; i++) {
            seed = seed * 1664525u + 1013904223u;
            float mag = i < 64 ? (float)(i - 32) : i < 1024 ? (float)(seed % 200001) - 100000.0f
                                                           : (float)ldexp((double)(seed >> 8), (int)(seed % 9) + 10);
            in[i] = (i & 1) ? -mag : mag; /* x * 0.5: exact halves for odd integers */
        }
        in[M - 4] = 8388607.0f;   /* y = 4194303.5 -> 4194304 (even) */
        in[M - 3] = 8388609.0f;   /* y = 4194304.5 -> 4194304 */
        in[M - 2] = 1e20f;        /* out of int32 */
        in[M - 1] = NAN;
        zt_buf e;
        zt__buf_init(&e);
        CHECK_OK(zt__pipeline_encode(p, in, sizeof in, &e));
        int bad = 0;
        for (int i = 0; i < M && e.len == sizeof in; i++) {
            int32_t got, want;
            memcpy(&got, e.data + 4 * i, 4);
            double y = nearbyint((double)(in[i] * 0.5f));
            want = (y > -2147483649.0 && y < 2147483648.0) ? (int32_t)y : INT32_MIN;
            bad += got != want;
        }
        CHECK_EQ_INT(bad, 0);
        zt__buf_free(&e);
        zt__pipeline_free(p);
    }
    /* shuffle + lz4 and astype f8 -> f4 + bz2 */
    {
        zt_pipeline *p = pipe_of("{\"id\":\"lz4\"}", "[{\"id\":\"shuffle\",\"elementsize\":4}]");
        CHECK(roundtrip("shuffle+lz4", p, a, N * 4, NULL) > 0);
        zt_buf e;
        zt__buf_init(&e);
        uint8_t b[8] = {0, 1, 2, 3, 4, 5, 6, 7}, want[8] = {0, 4, 1, 5, 2, 6, 3, 7};
        CHECK_OK(p->codecs[0]->vt->encode(p->codecs[0], b, 8, &e));
        CHECK(e.len == 8 && memcmp(e.data, want, 8) == 0);
        /* numcodecs Shuffle refuses partial elements */
        CHECK_RC(p->codecs[0]->vt->encode(p->codecs[0], b, 7, &e), ZT_EINVAL);
        zt__buf_free(&e);
        zt__pipeline_free(p);

        double *d = malloc(N * 8);
        for (size_t i = 0; i < N; i++) d[i] = a[i];
        p = pipe_of("{\"id\":\"bz2\",\"level\":5}",
                    "[{\"id\":\"astype\",\"encode_dtype\":\"<f4\",\"decode_dtype\":\"<f8\"}]");
        CHECK(roundtrip("astype+bz2", p, d, N * 8, NULL) > 0); /* exact: values are floats */
        zt__pipeline_free(p);
        free(d);
    }
    /* big-endian dtypes */
    {
        float x[4] = {1.5f, -2.25f, 1000.125f, 0.1f};
        zt_pipeline *p = pipe_of(NULL, "[{\"id\":\"astype\",\"encode_dtype\":\">f8\",\"decode_dtype\":\"<f4\"}]");
        zt_buf e;
        zt__buf_init(&e);
        CHECK_OK(zt__pipeline_encode(p, x, sizeof x, &e));
        CHECK_EQ_INT(e.len, 32);
        /* 1.5 as big-endian double: 3f f8 00 .. */
        CHECK(e.len == 32 && e.data[0] == 0x3f && e.data[1] == 0xf8 && e.data[7] == 0);
        float back[4];
        CHECK_OK(zt__pipeline_decode(p, 0, e.data, e.len, back, sizeof back));
        CHECK(memcmp(back, x, sizeof x) == 0);
        zt__buf_free(&e);
        zt__pipeline_free(p);
    }
    free(a);
}

static void test_hdf5(void) {
    zt_codec *c = NULL;
    unsigned cd_def[1] = {6}, cd_sh[1] = {4};
    /* shuffle with a partial last element: HDF5 copies the leftover bytes */
    CHECK_OK(zt__codec_from_hdf5(2, cd_sh, 1, 4, NULL, &c));
    uint8_t b[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, want[10] = {0, 4, 1, 5, 2, 6, 3, 7, 8, 9};
    zt_buf e;
    zt__buf_init(&e);
    CHECK_OK(c->vt->encode(c, b, 10, &e));
    CHECK(e.len == 10 && memcmp(e.data, want, 10) == 0);
    zt_buf d;
    zt__buf_init(&d);
    CHECK_OK(c->vt->decode(c, e.data, e.len, &d, 10));
    CHECK(d.len == 10 && memcmp(d.data, b, 10) == 0);
    zt__codec_free(c);

    /* fletcher32: hand-computed value for "abcde" (odd length) */
    CHECK_EQ_INT(zt__fletcher32("abcde", 5), 0x4FF029C7u);
    CHECK_OK(zt__codec_from_hdf5(3, NULL, 0, 4, NULL, &c));
    CHECK_OK(c->vt->encode(c, "abcde", 5, &e));
    static const uint8_t fw[9] = {'a', 'b', 'c', 'd', 'e', 0xC7, 0x29, 0xF0, 0x4F};
    CHECK(e.len == 9 && memcmp(e.data, fw, 9) == 0);
    CHECK_OK(c->vt->decode(c, e.data, e.len, &d, 0));
    CHECK(d.len == 5 && memcmp(d.data, "abcde", 5) == 0);
    e.data[1] ^= 1;
    CHECK_RC(c->vt->decode(c, e.data, e.len, &d, 5), ZT_ECORRUPT);
    CHECK(strstr(zt_last_error(), "fletcher32 checksum mismatch") != NULL);
    e.data[1] ^= 1;
    /* pre-1.6.3 HDF5 byte order of the checksum is accepted */
    uint8_t old[9];
    memcpy(old, fw, 9);
    old[5] = 0x29; old[6] = 0xC7; old[7] = 0x4F; old[8] = 0xF0;
    CHECK_OK(c->vt->decode(c, old, 9, &d, 5));
    CHECK_RC(c->vt->decode(c, old, 3, &d, 0), ZT_ECORRUPT);
    zt__codec_free(c);

    /* typical h5py pipeline: shuffle, deflate, fletcher32 */
    zt_pipeline *p;
    CHECK_OK(zt__pipeline_new(&p));
    CHECK_OK(zt__codec_from_hdf5(2, cd_sh, 1, 4, "shuffle", &c));
    CHECK_OK(zt__pipeline_push(p, c));
    CHECK_OK(zt__codec_from_hdf5(1, cd_def, 1, 4, "deflate", &c));
    CHECK_OK(zt__pipeline_push(p, c));
    CHECK_OK(zt__codec_from_hdf5(3, NULL, 0, 4, "fletcher32", &c));
    CHECK_OK(zt__pipeline_push(p, c));
    const size_t N = 5003;
    float *a = make_f32(N);
    CHECK(roundtrip("hdf5 shuffle+deflate+fletcher32", p, a, N * 4, NULL) > 0);
    /* skip_mask: a chunk stored without deflate (bit 1) */
    {
        zt_pipeline *p2;
        CHECK_OK(zt__pipeline_new(&p2));
        CHECK_OK(zt__codec_from_hdf5(2, cd_sh, 1, 4, NULL, &c));
        CHECK_OK(zt__pipeline_push(p2, c));
        CHECK_OK(zt__codec_from_hdf5(3, NULL, 0, 4, NULL, &c));
        CHECK_OK(zt__pipeline_push(p2, c));
        zt_buf enc;
        zt__buf_init(&enc);
        CHECK_OK(zt__pipeline_encode(p2, a, N * 4, &enc));
        float *dec = malloc(N * 4);
        CHECK_OK(zt__pipeline_decode(p, 1u << 1, enc.data, enc.len, dec, N * 4));
        CHECK(memcmp(dec, a, N * 4) == 0);
        /* everything skipped: raw bytes */
        CHECK_OK(zt__pipeline_decode(p, 7u, a, N * 4, dec, N * 4));
        CHECK(memcmp(dec, a, N * 4) == 0);
        CHECK_RC(zt__pipeline_decode(p, 7u, a, N * 4 - 1, dec, N * 4), ZT_ECORRUPT);
        /* corrupt checksum through the whole pipeline */
        enc.data[10] ^= 0x40;
        CHECK_RC(zt__pipeline_decode(p, 1u << 1, enc.data, enc.len, dec, N * 4), ZT_ECORRUPT);
        CHECK(strstr(zt_last_error(), "fletcher32 checksum mismatch") != NULL);
        free(dec);
        zt__buf_free(&enc);
        zt__pipeline_free(p2);
    }
    char *desc = zt__pipeline_describe(p);
    CHECK(desc && strcmp(desc, "{\"compressor\":null,\"filters\":[{\"elementsize\":4,\"id\":\"shuffle\"},"
                               "{\"id\":\"zlib\",\"level\":6},{\"id\":\"fletcher32\"}]}") == 0);
    if (desc) printf("hdf5 pipeline: %s\n", desc);
    free(desc);
    zt__pipeline_free(p);
    free(a);

    CHECK_RC(zt__codec_from_hdf5(307, NULL, 0, 4, NULL, &c), ZT_EUNSUPPORTED);
    CHECK(strstr(zt_last_error(), "unsupported HDF5 filter 307 (bzip2)") != NULL);
    CHECK_RC(zt__codec_from_hdf5(32017, NULL, 0, 4, "szf", &c), ZT_EUNSUPPORTED);
    CHECK(strstr(zt_last_error(), "32017 (szf)") != NULL);
#ifdef ZT_HAVE_HDF5
    CHECK_OK(zt__codec_from_hdf5(32000, NULL, 0, 4, NULL, &c));
    CHECK_OK(zt__pipeline_new(&p));
    CHECK_OK(zt__pipeline_push(p, c));
    a = make_f32(N);
    CHECK(roundtrip("lzf", p, a, N * 4, NULL) > 0);
    zt_buf enc;
    zt__buf_init(&enc);
    CHECK_OK(zt__pipeline_encode(p, a, N * 4, &enc));
    CHECK_OK(p->codecs[0]->vt->decode(p->codecs[0], enc.data, enc.len, &d, 0));
    CHECK(d.len == N * 4 && memcmp(d.data, a, N * 4) == 0);
    zt__buf_free(&enc);
    free(a);
    zt__pipeline_free(p);
#else
    CHECK_RC(zt__codec_from_hdf5(32000, NULL, 0, 4, NULL, &c), ZT_EUNSUPPORTED);
#endif
    zt__buf_free(&e);
    zt__buf_free(&d);
}

/* Every compressor must reject hostile input with ZT_ECORRUPT and never crash. */
static void test_hostile(void) {
    static const char *cfgs[] = {
        "{\"id\":\"blosc\"}", "{\"id\":\"blosc\",\"cname\":\"zstd\",\"shuffle\":2}",
        "{\"id\":\"blosc\",\"cname\":\"blosclz\",\"shuffle\":0}", "{\"id\":\"zstd\"}",
        "{\"id\":\"zlib\"}", "{\"id\":\"gzip\"}", "{\"id\":\"lz4\"}", "{\"id\":\"bz2\"}",
        "{\"id\":\"zstd\",\"checksum\":true}",
    };
    const size_t N = 1500;
    float *a = make_f32(N);
    uint8_t *junk = malloc(70000), *out = malloc(N * 4 + 64);
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        zt_pipeline *p = pipe_of(cfgs[i], NULL);
        if (!p) continue;
        zt__pipeline_set_typesize(p, 4);
        zt_codec *c = p->codecs[0];
        zt_buf tmp;
        zt__buf_init(&tmp);
        /* random bytes of many lengths */
        for (int trial = 0; trial < 300; trial++) {
            size_t len = trial < 40 ? (size_t)trial : 1 + rng() % 70000;
            for (size_t k = 0; k < len; k++) junk[k] = (uint8_t)rng();
            int rc = zt__pipeline_decode(p, 0, junk, len, out, N * 4);
            if (rc != ZT_ECORRUPT) {
                fprintf(stderr, "%s: random %zu bytes gave %s\n", cfgs[i], len, zt_err_name(rc));
                zt_test_failures++;
            }
            rc = c->vt->decode(c, junk, len, &tmp, 0);
            if (rc != ZT_ECORRUPT) {
                fprintf(stderr, "%s: random %zu bytes (unknown size) gave %s\n", cfgs[i], len,
                        zt_err_name(rc));
                zt_test_failures++;
            }
        }
        CHECK_RC(zt__pipeline_decode(p, 0, junk, 32, out, N * 4), ZT_ECORRUPT);
        CHECK(strstr(zt_last_error(), c->vt->id) != NULL); /* the message names the codec */
        zt_buf enc;
        zt__buf_init(&enc);
        CHECK_OK(zt__pipeline_encode(p, a, N * 4, &enc));
        /* every truncation is detected */
        size_t undetected = 0;
        for (size_t len = 0; len < enc.len; len += 1 + len / 64)
            if (zt__pipeline_decode(p, 0, enc.data, len, out, N * 4) != ZT_ECORRUPT) undetected++;
        CHECK_EQ_INT(undetected, 0);
        /* wrong expected size, both ways, with a message saying expected vs got */
        CHECK_RC(zt__pipeline_decode(p, 0, enc.data, enc.len, out, N * 4 - 4), ZT_ECORRUPT);
        CHECK(strstr(zt_last_error(), "expected 5996") != NULL);
        CHECK_RC(zt__pipeline_decode(p, 0, enc.data, enc.len, out, N * 4 + 4), ZT_ECORRUPT);
        CHECK(strstr(zt_last_error(), "expected 6004") != NULL);
        if (!strstr(zt_last_error(), "got 6000"))
            printf("  %s oversize message: %s\n", cfgs[i], zt_last_error());
        /* bit flips and byte garbage: any result but a crash; 0 or ZT_ECORRUPT */
        for (int trial = 0; trial < 400; trial++) {
            memcpy(junk, enc.data, enc.len);
            int flips = 1 + (int)(rng() % 4);
            for (int f = 0; f < flips; f++) {
                size_t pos = trial < 64 ? (size_t)trial % enc.len : rng() % enc.len;
                junk[pos] ^= (uint8_t)(1u << (rng() % 8));
                if (trial % 3 == 0) junk[rng() % enc.len] = (uint8_t)rng();
            }
            int rc = zt__pipeline_decode(p, 0, junk, enc.len, out, N * 4);
            if (rc != 0 && rc != ZT_ECORRUPT) {
                fprintf(stderr, "%s: mutated stream gave %s\n", cfgs[i], zt_err_name(rc));
                zt_test_failures++;
            }
            rc = c->vt->decode(c, junk, enc.len, &tmp, 0);
            if (rc != 0 && rc != ZT_ECORRUPT) {
                fprintf(stderr, "%s: mutated stream (unknown size) gave %s\n", cfgs[i], zt_err_name(rc));
                zt_test_failures++;
            }
        }
        zt__buf_free(&enc);
        zt__buf_free(&tmp);
        zt__pipeline_free(p);
    }
    /* filters: wrong sizes are corrupt, never an overrun */
    zt_pipeline *p = pipe_of(NULL, "[{\"id\":\"quantize\",\"digits\":2,\"dtype\":\"<f8\",\"astype\":\"<f4\"}]");
    CHECK_RC(zt__pipeline_decode(p, 0, junk, 10, out, 16), ZT_ECORRUPT);
    CHECK_RC(zt__pipeline_decode(p, 0, junk, 7, out, 14), ZT_ECORRUPT);
    zt__pipeline_free(p);
    p = pipe_of(NULL, "[{\"id\":\"delta\",\"dtype\":\"<i8\",\"astype\":\"<i2\"}]");
    CHECK_RC(zt__pipeline_decode(p, 0, junk, 6, out, 16), ZT_ECORRUPT);
    CHECK_OK(zt__pipeline_decode(p, 0, junk, 4, out, 16));
    zt__pipeline_free(p);
    p = pipe_of(NULL, "[{\"id\":\"shuffle\",\"elementsize\":8}]");
    CHECK_RC(zt__pipeline_decode(p, 0, junk, 12, out, 12), ZT_ECORRUPT);
    zt__pipeline_free(p);
    free(junk);
    free(out);
    free(a);
}

static void check_spec(const char *spec, const char *want) {
    char *js = NULL;
    int rc = zt_codec_spec_to_json(spec, &js);
    if (rc || !js || strcmp(js, want) != 0) {
        fprintf(stderr, "spec '%s': got %s (%s), want %s\n", spec, js ? js : "(null)",
                rc ? zt_last_error() : "ok", want);
        zt_test_failures++;
    }
    free(js);
}

static void test_spec(void) {
    check_spec("zstd", "{\"id\":\"zstd\",\"level\":1}");
    check_spec("zstd:level=9", "{\"id\":\"zstd\",\"level\":9}");
    check_spec(" ZSTD : level = 22 ", "{\"id\":\"zstd\",\"level\":22}");
    check_spec("blosc:cname=zstd,clevel=9,shuffle=2",
               "{\"blocksize\":0,\"clevel\":9,\"cname\":\"zstd\",\"id\":\"blosc\",\"shuffle\":2}");
    check_spec("blosc", "{\"blocksize\":0,\"clevel\":5,\"cname\":\"lz4\",\"id\":\"blosc\",\"shuffle\":1}");
    check_spec("blosc:shuffle=-1,blocksize=65536",
               "{\"blocksize\":65536,\"clevel\":5,\"cname\":\"lz4\",\"id\":\"blosc\",\"shuffle\":-1}");
    check_spec("gzip:level=6", "{\"id\":\"gzip\",\"level\":6}");
    check_spec("lz4", "{\"acceleration\":1,\"id\":\"lz4\"}");
    check_spec("zlib:level=1", "{\"id\":\"zlib\",\"level\":1}");
    check_spec("bz2", "{\"id\":\"bz2\",\"level\":1}");
    check_spec("none", "null");
    check_spec("null", "null");
    check_spec("{\"id\": \"zstd\", \"level\": 5}", "{\"id\":\"zstd\",\"level\":5}");
    check_spec("{\"id\":\"blosc\",\"cname\":\"zstd\"}",
               "{\"blocksize\":0,\"clevel\":5,\"cname\":\"zstd\",\"id\":\"blosc\",\"shuffle\":1}");
    check_spec("zstd:level=3,checksum=true", "{\"checksum\":true,\"id\":\"zstd\",\"level\":3}");

    json_t *cfg = (json_t *)1;
    CHECK_OK(zt__codec_spec_parse("none", &cfg));
    CHECK(cfg == NULL);
    CHECK_RC(zt__codec_spec_parse("foo", &cfg), ZT_EUNSUPPORTED);
    CHECK(strstr(zt_last_error(), "unsupported compressor 'foo'") != NULL);
    CHECK_RC(zt__codec_spec_parse("{\"id\":\"foo\"}", &cfg), ZT_EUNSUPPORTED);
    CHECK_RC(zt__codec_spec_parse("zstd:lvl=3", &cfg), ZT_EINVAL);
    CHECK(strstr(zt_last_error(), "'lvl'") != NULL);
    CHECK_RC(zt__codec_spec_parse("zstd:level", &cfg), ZT_EINVAL);
    CHECK_RC(zt__codec_spec_parse("zstd:level=abc", &cfg), ZT_EINVAL);
    CHECK(strstr(zt_last_error(), "'level'") != NULL);
    CHECK_RC(zt__codec_spec_parse("blosc:clevel=10", &cfg), ZT_EINVAL);
    CHECK(strstr(zt_last_error(), "'clevel'") != NULL);
    CHECK_RC(zt__codec_spec_parse("blosc:cname=nope", &cfg), ZT_EINVAL);
    CHECK(strstr(zt_last_error(), "'cname'") != NULL);
    CHECK_RC(zt__codec_spec_parse("blosc:shuffle=3", &cfg), ZT_EINVAL);
    CHECK_RC(zt__codec_spec_parse("bz2:level=0", &cfg), ZT_EINVAL);
    CHECK_RC(zt__codec_spec_parse("zstd:level=3,level=4", &cfg), ZT_EINVAL);
    CHECK_RC(zt__codec_spec_parse("{\"id\":\"zstd\"", &cfg), ZT_EINVAL);
    CHECK_RC(zt__codec_spec_parse("[1,2]", &cfg), ZT_EUNSUPPORTED);
    CHECK_RC(zt__codec_spec_parse("", &cfg), ZT_EINVAL);
    CHECK_RC(zt__codec_spec_parse(NULL, &cfg), ZT_EINVAL);
    CHECK_RC(zt__codec_spec_parse("quantize:digits=3,dtype=<f4", &cfg), ZT_EINVAL);
    CHECK(cfg == NULL);
    char *js = (char *)1;
    CHECK_RC(zt_codec_spec_to_json("lz4:acceleration=x", &js), ZT_EINVAL);
    CHECK(js == NULL);

    /* codec configs */
    zt_codec *c = (zt_codec *)1;
    json_t *j = J("{\"id\":\"foo\"}");
    CHECK_RC(zt__codec_from_json(j, &c), ZT_EUNSUPPORTED);
    CHECK(strstr(zt_last_error(), "unsupported codec 'foo'") != NULL);
    CHECK(c == NULL);
    json_decref(j);
    static const char *bad[] = {
        "{\"id\":\"blosc\",\"clevel\":\"5\"}", "{\"id\":\"zstd\",\"levels\":3}",
        "{\"id\":\"quantize\",\"dtype\":\"<f4\"}", "{\"id\":\"quantize\",\"digits\":2}",
        "{\"id\":\"delta\"}", "{\"id\":\"fixedscaleoffset\",\"scale\":1,\"dtype\":\"<f4\"}",
        "{\"id\":\"astype\",\"encode_dtype\":\"<f4\"}", "{\"id\":\"shuffle\",\"elementsize\":-1}",
        "{\"id\":\"zstd\",\"checksum\":1}", "{\"level\":3}", "[]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = J(bad[i]);
        int rc = zt__codec_from_json(j, &c);
        if (rc != ZT_EINVAL) {
            fprintf(stderr, "config %s gave %s, want ZT_EINVAL\n", bad[i], zt_err_name(rc));
            zt_test_failures++;
            zt__codec_free(rc ? NULL : c);
        }
        json_decref(j);
    }
    j = J("{\"id\":\"delta\",\"dtype\":\"<c16\"}");
    CHECK_RC(zt__codec_from_json(j, &c), ZT_EUNSUPPORTED);
    json_decref(j);
    j = J("{\"id\":\"delta\",\"dtype\":\"int16\",\"astype\":\"u1\"}");
    CHECK_OK(zt__codec_from_json(j, &c));
    char *s = c ? json_dumps(c->config, JSON_COMPACT) : NULL;
    CHECK(s && strcmp(s, "{\"astype\":\"|u1\",\"dtype\":\"<i2\",\"id\":\"delta\"}") == 0);
    free(s);
    zt__codec_free(c);
    json_decref(j);
}

static void test_zarr_json(void) {
    const char *comp = "{\"id\":\"blosc\",\"cname\":\"zstd\",\"clevel\":3,\"shuffle\":2,\"blocksize\":0}";
    const char *filt = "[{\"id\":\"quantize\",\"digits\":3,\"dtype\":\"<f4\",\"astype\":\"<f4\"},"
                       "{\"id\":\"fixedscaleoffset\",\"offset\":1.5,\"scale\":100,\"dtype\":\"<f4\",\"astype\":\"<i2\"}]";
    zt_pipeline *p = pipe_of(comp, filt);
    json_t *c = NULL, *f = NULL;
    CHECK_OK(zt__pipeline_to_zarr(p, &c, &f));
    char *cs = json_dumps(c, JSON_COMPACT), *fs = json_dumps(f, JSON_COMPACT);
    CHECK(cs && strcmp(cs, "{\"blocksize\":0,\"clevel\":3,\"cname\":\"zstd\",\"id\":\"blosc\",\"shuffle\":2}") == 0);
    CHECK(fs && strcmp(fs, "[{\"astype\":\"<f4\",\"digits\":3,\"dtype\":\"<f4\",\"id\":\"quantize\"},"
                           "{\"astype\":\"<i2\",\"dtype\":\"<f4\",\"id\":\"fixedscaleoffset\",\"offset\":1.5,\"scale\":100}]") == 0);
    if (fs) printf("filters: %s\n", fs);
    free(cs);
    free(fs);
    json_decref(c);
    json_decref(f);
    char *d = zt__pipeline_describe(p);
    CHECK(d && strstr(d, "\"compressor\":{\"blocksize\":0") != NULL);
    free(d);
    /* typesize propagation: blosc sees the fixedscaleoffset output (<i2),
     * known from the filters alone and kept by zt__pipeline_set_typesize */
    float x[256];
    for (int i = 0; i < 256; i++) x[i] = (float)i * 0.25f;
    zt_buf e;
    zt__buf_init(&e);
    CHECK_OK(zt__pipeline_encode(p, x, sizeof x, &e));
    CHECK(e.len > 16 && e.data[3] == 2);
    CHECK_OK(zt__pipeline_set_typesize(p, 4));
    CHECK_OK(zt__pipeline_encode(p, x, sizeof x, &e));
    CHECK(e.len > 16 && e.data[3] == 2); /* blosc header byte 3: typesize */
    zt__buf_free(&e);
    zt__pipeline_free(p);

    p = pipe_of(NULL, "[{\"id\":\"astype\",\"encode_dtype\":\"<f8\",\"decode_dtype\":\"<f4\"}]");
    CHECK_OK(zt__pipeline_to_zarr(p, &c, &f));
    CHECK(json_is_null(c) && json_is_array(f) && json_array_size(f) == 1);
    json_decref(c);
    json_decref(f);
    zt__pipeline_free(p);

    /* blosc typesize from zt__codec_set_typesize: 8 vs default 1 */
    p = pipe_of("{\"id\":\"blosc\"}", NULL);
    zt__buf_init(&e);
    CHECK_OK(zt__pipeline_encode(p, x, sizeof x, &e));
    CHECK(e.len > 16 && e.data[3] == 1);
    CHECK_OK(zt__codec_set_typesize(p->codecs[0], 8));
    CHECK_OK(zt__pipeline_encode(p, x, sizeof x, &e));
    CHECK(e.len > 16 && e.data[3] == 8);
    size_t ds = p->codecs[0]->vt->decoded_size(p->codecs[0], e.data, e.len);
    CHECK_EQ_INT(ds, sizeof x);
    zt__buf_free(&e);
    zt__pipeline_free(p);

    p = pipe_of(NULL, NULL);
    CHECK_OK(zt__pipeline_to_zarr(p, &c, &f));
    CHECK(json_is_null(c) && json_is_null(f));
    json_decref(c);
    json_decref(f);
    d = zt__pipeline_describe(p);
    CHECK(d && strcmp(d, "{\"compressor\":null,\"filters\":null}") == 0);
    free(d);
    CHECK(roundtrip("empty pipeline", p, x, sizeof x, NULL) == sizeof x);
    zt__pipeline_free(p);

    json_t *bad = J("{\"id\":\"zstd\"}");
    CHECK_RC(zt__pipeline_from_zarr(NULL, bad, &p), ZT_EINVAL);
    CHECK(p == NULL);
    json_decref(bad);
}

/* Concurrent decoding on a pool (thread-local scratch) and thread exit cleanup. */
typedef struct job {
    const zt_pipeline *p;
    const uint8_t *enc;
    size_t enc_len;
    const float *want;
    size_t n;
    int ok;
} job;

static void run_job(void *arg) {
    job *j = arg;
    float *out = malloc(j->n * 4);
    j->ok = 1;
    for (int r = 0; r < 20; r++)
        if (zt__pipeline_decode(j->p, 0, j->enc, j->enc_len, out, j->n * 4) ||
            memcmp(out, j->want, j->n * 4) != 0)
            j->ok = 0;
    free(out);
}

static void test_threads(void) {
    const size_t N = 30000;
    float *a = make_f32(N);
    static const char *cfgs[] = {"{\"id\":\"zstd\"}", "{\"id\":\"blosc\",\"cname\":\"zstd\"}",
                                 "{\"id\":\"zlib\"}", "{\"id\":\"lz4\"}"};
    for (size_t k = 0; k < 4; k++) {
        zt_pipeline *p = pipe_of(cfgs[k], "[{\"id\":\"shuffle\",\"elementsize\":4}]");
        zt_buf e;
        zt__buf_init(&e);
        CHECK_OK(zt__pipeline_encode(p, a, N * 4, &e));
        zt_pool *pool = NULL;
        CHECK_OK(zt__pool_create(4, &pool));
        job jobs[16];
        for (int i = 0; i < 16; i++) jobs[i] = (job){p, e.data, e.len, a, N, 0};
        zt__parallel_for(pool, 16, run_job, jobs, sizeof jobs[0]);
        for (int i = 0; i < 16; i++) CHECK(jobs[i].ok == 1);
        zt__pool_free(pool); /* threads exit: their scratch must be freed (LSan) */
        zt__buf_free(&e);
        zt__pipeline_free(p);
    }
    free(a);
}

/* Buffers grow from malloc'd to mapped memory (>= 1 MiB) keeping their
 * content; a stolen large buffer is an ordinary malloc'd block. */
static void test_buffers(void) {
    zt_buf b;
    zt__buf_init(&b);
    uint8_t piece[4099];
    size_t total = 0;
    while (total < ((size_t)5 << 20)) {
        for (size_t i = 0; i < sizeof piece; i++) piece[i] = (uint8_t)((total + i) * 2654435761u >> 13);
        CHECK_OK(zt__buf_append(&b, piece, sizeof piece));
        total += sizeof piece;
    }
    CHECK(b.len == total && b.cap >= total);
    size_t bad = 0;
    for (size_t i = 0; i < total; i++)
        if (b.data[i] != (uint8_t)(i * 2654435761u >> 13)) bad++;
    CHECK(bad == 0);
    CHECK_OK(zt__buf_resize(&b, (size_t)40 << 20)); /* a large jump: exactly what is asked */
    CHECK(b.cap >= ((size_t)40 << 20) && b.cap < ((size_t)41 << 20));
    CHECK(b.data[total - 1] == (uint8_t)((total - 1) * 2654435761u >> 13));
    b.data[b.len - 1] = 7;
    size_t n = 0;
    uint8_t *p = zt__buf_steal(&b, &n);
    CHECK(p && n == ((size_t)40 << 20) && p[n - 1] == 7 && p[1] == (uint8_t)(2654435761u >> 13));
    CHECK(b.data == NULL && b.cap == 0);
    free(p);
    size_t cap = 3u << 20;
    uint8_t *m = zt__mem_alloc(&cap);
    CHECK(m && cap >= (3u << 20));
    memset(m, 1, 3u << 20);
    size_t cap2 = 9u << 20;
    m = zt__mem_grow(m, cap, 3u << 20, &cap2);
    CHECK(m && cap2 >= (9u << 20) && m[(3u << 20) - 1] == 1);
    zt__mem_free(m, cap2);
}

/* The fused compact encode (fixedscaleoffset + delta of the Fortran-order
 * transposition, SSE2 4 x 4 blocks plus scalar edges) against the codecs one
 * by one on an explicitly transposed chunk: shapes with edges in every
 * direction, ties, values past int32 and NaN. */
static void test_fused_encode(void) {
    zt_pipeline *p = pipe_of(NULL, "[{\"id\":\"fixedscaleoffset\",\"offset\":0.25,\"scale\":1000.0,"
                                   "\"dtype\":\"<f4\",\"astype\":\"<i4\"},{\"id\":\"delta\",\"dtype\":\"<i4\"}]");
    if (!p) return;
    static const int64_t shapes[][3] = {{1, 1, 1}, {4, 4, 1}, {3, 5, 3}, {4, 7, 3}, {7, 37, 3},
                                        {100, 61, 3}, {101, 30, 3}, {8, 9, 4}, {12, 2, 16}, {100, 1, 3},
                                        /* more edges of the 4 x 4 blocks, and a whole atom block */
                                        {8, 8, 1}, {9, 11, 3}, {16, 24, 3}, {15, 17, 2}, {64, 3, 16}, {100, 1024, 3}};
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        const int64_t *d = shapes[si];
        size_t n = (size_t)(d[0] * d[1] * d[2]);
        float *c = malloc(n * 4), *f = malloc(n * 4);
        uint32_t *fused = malloc(n * 4);
        for (size_t i = 0; i < n; i++) {
            uint32_t r = rng();
            c[i] = (float)(urand() * 200.0 - 100.0);
            if (r % 17 == 0) c[i] = 0.25f + (float)((int)(r % 64) - 32) * 0.0005f; /* ties at scale 1000 */
            if (r % 101 == 0) c[i] = 3e6f * (r & 1 ? 1.0f : -1.0f);              /* past int32 */
            if (r % 211 == 0) c[i] = NAN;
        }
        /* C order [d0][d1][d2] -> Fortran order (axis 0 fastest) */
        for (int64_t a = 0; a < d[0]; a++)
            for (int64_t b = 0; b < d[1]; b++)
                for (int64_t k = 0; k < d[2]; k++) f[(k * d[1] + b) * d[0] + a] = c[(a * d[1] + b) * d[2] + k];
        zt_buf want;
        zt__buf_init(&want);
        CHECK_OK(zt__pipeline_encode(p, f, n * 4, &want));
        zt__codec *fso = zt__codec_impl(p->codecs[0]);
        int rc = zt__flt_fso_delta_to_f3(fso, c, fused, d);
        CHECK(rc == 0);
        if (!rc && want.len == n * 4 && memcmp(want.data, fused, n * 4) != 0) {
            fprintf(stderr, "fused encode differs for shape %lld x %lld x %lld\n", (long long)d[0], (long long)d[1],
                    (long long)d[2]);
            zt_test_failures++;
        }
        CHECK(want.len == n * 4);
        zt__buf_free(&want);
        free(c);
        free(f);
        free(fused);
    }
    zt__pipeline_free(p);
}

/* The fused compact decode (cumulative sum over the flat Fortran-order
 * buffer, scale, transposition; SSE2 4 x 4 blocks plus scalar edges) against
 * the codecs one by one: sums past 2^24 (the scalar lanes), wrapping int32. */
static void test_fused_decode(void) {
    static const char *fsos[] = {"{\"id\":\"fixedscaleoffset\",\"offset\":0.0,\"scale\":1000.0,\"dtype\":\"<f4\",\"astype\":\"<i4\"}",
                                 "{\"id\":\"fixedscaleoffset\",\"offset\":0.5,\"scale\":64.0,\"dtype\":\"<f4\",\"astype\":\"<i4\"}"};
    static const int64_t shapes[][3] = {{1, 1, 1}, {4, 4, 1}, {3, 5, 3}, {4, 7, 3}, {7, 37, 3},
                                        {100, 61, 3}, {101, 30, 3}, {8, 9, 4}, {12, 2, 16}, {100, 1, 3},
                                        /* more edges of the 4 x 4 blocks, and a whole atom block */
                                        {8, 8, 1}, {9, 11, 3}, {16, 24, 3}, {15, 17, 2}, {64, 3, 16}, {100, 1024, 3}};
    for (size_t fi = 0; fi < 2; fi++) {
        char filters[512];
        snprintf(filters, sizeof filters, "[%s,{\"id\":\"delta\",\"dtype\":\"<i4\"}]", fsos[fi]);
        zt_pipeline *p = pipe_of(NULL, filters);
        if (!p) return;
        zt_pipeline fp = {p->codecs, 1}, dp = {p->codecs + 1, 1};
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
            const int64_t *d = shapes[si];
            size_t n = (size_t)(d[0] * d[1] * d[2]);
            int32_t *deltas = malloc(n * 4);
            float *fused = malloc(n * 4), *want = malloc(n * 4);
            for (size_t i = 0; i < n; i++) {
                uint32_t r = rng();
                deltas[i] = (int32_t)(r % 2001) - 1000;
                if (r % 97 == 0) deltas[i] = (int32_t)(rng() % 40000000) - 20000000; /* sums past 2^24 */
                if (r % 389 == 0) deltas[i] = (int32_t)rng();                          /* wrapping */
            }
            zt_buf cs, fl;
            zt__buf_init(&cs);
            zt__buf_init(&fl);
            CHECK_OK(dp.codecs[0]->vt->decode(dp.codecs[0], deltas, n * 4, &cs, n * 4));
            CHECK_OK(fp.codecs[0]->vt->decode(fp.codecs[0], cs.data, cs.len, &fl, n * 4));
            const float *f = (const float *)fl.data;
            for (int64_t a = 0; a < d[0]; a++)
                for (int64_t b = 0; b < d[1]; b++)
                    for (int64_t k = 0; k < d[2]; k++) want[(a * d[1] + b) * d[2] + k] = f[(k * d[1] + b) * d[0] + a];
            int rc = zt__flt_fso_delta_from_f3(zt__codec_impl(p->codecs[0]), deltas, fused, d);
            CHECK(rc == 0 && fl.len == n * 4);
            if (!rc && fl.len == n * 4 && memcmp(want, fused, n * 4) != 0) {
                fprintf(stderr, "fused decode differs for %s, shape %lld x %lld x %lld\n", fsos[fi], (long long)d[0],
                        (long long)d[1], (long long)d[2]);
                zt_test_failures++;
            }
            zt__buf_free(&cs);
            zt__buf_free(&fl);
            free(deltas);
            free(fused);
            free(want);
        }
        zt__pipeline_free(p);
    }
}

int main(void) {
    test_buffers();
    test_compressors();
    test_quantize_known();
    test_filters();
    test_fused_encode();
    test_fused_decode();
    test_hdf5();
    test_hostile();
    test_spec();
    test_zarr_json();
    test_threads();
    TEST_DONE();
}
