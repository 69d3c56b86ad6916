/* The H5MD model on small zarrmd hierarchies built in memory: fixed and
 * explicit step/time, and bad step/time that must be errors, not silently
 * wrong frames (overflowing or malformed fixed steps, uint64 steps beyond
 * int64, a position group without step, an absurd frame count), and Zarr
 * metadata that must be errors, not undefined casts (fill values, dtype). */
#include "testutil.h"

#include "array/array.h"
#include "zarr/zarr.h"

#include <string.h>

static void put(const char *name, const char *key, const void *data, size_t n) {
    zt_store *s = NULL;
    char url[256];
    snprintf(url, sizeof url, "memory://%s", name);
    CHECK_OK(zt__store_open(url, NULL, &s));
    if (s) CHECK_OK(zt__store_put(s, key, data, n));
    zt__store_close(s);
}

static void puts_(const char *name, const char *key, const char *text) { put(name, key, text, strlen(text)); }

/* A trajectory of 4 frames x 2 atoms at memory://name: position value
 * (frame f, atom a, dim d) = 100 f + 10 a + d; the caller adds step (and
 * anything else) through put(). */
static void base(const char *name, int64_t n_frames) {
    puts_(name, ".zgroup", "{\"zarr_format\": 2}");
    puts_(name, "h5md/.zgroup", "{\"zarr_format\": 2}");
    puts_(name, "h5md/.zattrs", "{\"version\": [1, 1]}");
    puts_(name, "particles/.zgroup", "{\"zarr_format\": 2}");
    puts_(name, "particles/g/.zgroup", "{\"zarr_format\": 2}");
    puts_(name, "particles/g/box/.zgroup", "{\"zarr_format\": 2}");
    puts_(name, "particles/g/box/.zattrs", "{\"dimension\": 3, \"boundary\": [\"none\", \"none\", \"none\"]}");
    puts_(name, "particles/g/position/.zgroup", "{\"zarr_format\": 2}");
    char doc[512];
    snprintf(doc, sizeof doc,
             "{\"zarr_format\": 2, \"shape\": [%lld, 2, 3], \"chunks\": [4, 2, 3], \"dtype\": \"<f4\", "
             "\"fill_value\": null, \"order\": \"C\", \"compressor\": null, \"filters\": null}",
             (long long)n_frames);
    puts_(name, "particles/g/position/value/.zarray", doc);
    float v[24];
    for (int f = 0; f < 4; f++)
        for (int a = 0; a < 2; a++)
            for (int d = 0; d < 3; d++) v[f * 6 + a * 3 + d] = (float)(100 * f + 10 * a + d);
    put(name, "particles/g/position/value/0.0.0", v, sizeof v);
}

/* A 0-d step (fixed sampling) of dtype dt holding the 8 bytes of inc, with
 * .zattrs text attrs (NULL: none). */
static void fixed_step(const char *name, const char *dt, const void *inc, size_t n, const char *attrs) {
    char doc[256];
    snprintf(doc, sizeof doc,
             "{\"zarr_format\": 2, \"shape\": [], \"chunks\": [], \"dtype\": \"%s\", \"fill_value\": null, "
             "\"order\": \"C\", \"compressor\": null, \"filters\": null}", dt);
    puts_(name, "particles/g/position/step/.zarray", doc);
    put(name, "particles/g/position/step/0", inc, n);
    if (attrs) puts_(name, "particles/g/position/step/.zattrs", attrs);
}

static int open_rc(const char *name, zt_reader_t **r) {
    char url[256];
    snprintf(url, sizeof url, "memory://%s", name);
    *r = NULL;
    return zt_reader_open(url, NULL, r);
}

/* Open name, expect want; the message must name the file and what is wrong. */
static void expect(const char *name, int want, const char *what) {
    zt_reader_t *r = NULL;
    int rc = open_rc(name, &r);
    if (rc != want) {
        fprintf(stderr, "%s: got %s (%s), want %s\n", name, zt_err_name(rc), zt_last_error(), zt_err_name(want));
        zt_test_failures++;
    } else {
        fprintf(stderr, "%s -> %s\n", name, zt_last_error());
        CHECK(strstr(zt_last_error(), name) != NULL);
        if (what && !strstr(zt_last_error(), what)) {
            fprintf(stderr, "  message lacks '%s'\n", what);
            zt_test_failures++;
        }
    }
    zt_reader_close(r);
}

static void check_steps(const char *name, const int64_t *want, int64_t n) {
    zt_reader_t *r = NULL;
    CHECK_OK(open_rc(name, &r));
    if (!r) return;
    CHECK_EQ_INT(zt_reader_n_frames(r), n);
    int64_t steps[8];
    if (zt_reader_n_frames(r) == n) {
        CHECK_OK(zt_reader_steps(r, steps, NULL));
        for (int64_t i = 0; i < n; i++) CHECK_EQ_INT(steps[i], want[i]);
        float p[6];
        zt_frame_t f;
        CHECK_OK(zt_reader_read_frame(r, n - 1, &f, p, NULL, NULL));
        CHECK_EQ_INT(f.step, want[n - 1]);
        CHECK(p[5] == (float)(100 * (n - 1) + 12));
    }
    zt_reader_close(r);
}

static zt_store *zstore; /* of the arrays zarray() builds */

static zt_array *zarray(const char *json, int want_rc) {
    zt_store *s = zstore;
    json_t *j = json_loads(json, 0, NULL);
    CHECK(j != NULL);
    zt_array *a = NULL;
    int rc = zt__zarr_array_from_json(j, "x", "mem", s, &a);
    if (rc != want_rc) {
        fprintf(stderr, "%s: got %s (%s), want %s\n", json, zt_err_name(rc), zt_last_error(), zt_err_name(want_rc));
        zt_test_failures++;
    } else if (rc) {
        fprintf(stderr, "%s -> %s\n", json, zt_last_error());
    }
    json_decref(j);
    return a;
}

#define ZA(dtype, fill) \
    "{\"zarr_format\": 2, \"shape\": [4], \"chunks\": [2], \"dtype\": " dtype ", \"fill_value\": " fill \
    ", \"order\": \"C\", \"compressor\": null, \"filters\": null}"

int main(void) {
    /* good fixed sampling: step(i) = offset + i * inc, from an int or an integral float */
    int64_t inc = 10;
    base("ok-fixed", 4);
    fixed_step("ok-fixed", "<i8", &inc, 8, "{\"offset\": 5}");
    check_steps("ok-fixed", (int64_t[]){5, 15, 25, 35}, 4);
    double dinc = 3.0;
    base("ok-fixed-f8", 4);
    fixed_step("ok-fixed-f8", "<f8", &dinc, 8, "{\"offset\": [2.0]}");
    check_steps("ok-fixed-f8", (int64_t[]){2, 5, 8, 11}, 4);
    /* an int64 increment beyond 2^53 is kept exactly (not rounded through a double) */
    int64_t big = ((int64_t)1 << 60) + 1;
    base("ok-fixed-big", 4);
    fixed_step("ok-fixed-big", "<i8", &big, 8, NULL);
    check_steps("ok-fixed-big", (int64_t[]){0, big, 2 * big, 3 * big}, 4);

    /* fixed steps whose last sample overflows int64 (product, then sum) */
    int64_t huge = (int64_t)1 << 62;
    base("ovf-mul", 4);
    fixed_step("ovf-mul", "<i8", &huge, 8, NULL);
    expect("ovf-mul", ZT_EOVERFLOW, "overflows");
    base("ovf-add", 4);
    fixed_step("ovf-add", "<i8", &inc, 8, "{\"offset\": 9223372036854775800}");
    expect("ovf-add", ZT_EOVERFLOW, "overflows");
    int64_t neg = INT64_MIN / 2;
    base("ovf-neg", 4);
    fixed_step("ovf-neg", "<i8", &neg, 8, "{\"offset\": -1}");
    expect("ovf-neg", ZT_EOVERFLOW, "overflows");

    /* malformed offsets are errors, not 0 */
    const char *bad_off[] = {"{\"offset\": true}", "{\"offset\": [1, 2]}", "{\"offset\": \"x\"}",
                             "{\"offset\": null}", "{\"offset\": {}}"};
    for (size_t i = 0; i < sizeof bad_off / sizeof *bad_off; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad-offset-%zu", i);
        base(name, 4);
        fixed_step(name, "<i8", &inc, 8, bad_off[i]);
        expect(name, ZT_EFORMAT, "offset");
    }
    base("bad-offset-frac", 4);
    fixed_step("bad-offset-frac", "<i8", &inc, 8, "{\"offset\": 2.5}");
    expect("bad-offset-frac", ZT_EFORMAT, "offset");
    base("bad-offset-range", 4);
    fixed_step("bad-offset-range", "<i8", &inc, 8, "{\"offset\": 1e19}");
    expect("bad-offset-range", ZT_EFORMAT, "offset");

    /* fixed increments that are no int64: 2.5, NaN, 1e300, a uint64 above 2^63 */
    double finc[] = {2.5, NAN, 1e300};
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad-inc-%d", i);
        base(name, 4);
        fixed_step(name, "<f8", &finc[i], 8, NULL);
        expect(name, ZT_ERANGE, "int64");
    }
    uint64_t uinc = ((uint64_t)1 << 63) + 7;
    base("bad-inc-u8", 4);
    fixed_step("bad-inc-u8", "<u8", &uinc, 8, NULL);
    expect("bad-inc-u8", ZT_ERANGE, "9223372036854775815");

    /* explicit uint64 steps above 2^63 do not wrap to negative */
    base("u8-steps", 4);
    puts_("u8-steps", "particles/g/position/step/.zarray",
          "{\"zarr_format\": 2, \"shape\": [4], \"chunks\": [4], \"dtype\": \"<u8\", \"fill_value\": null, "
          "\"order\": \"C\", \"compressor\": null, \"filters\": null}");
    uint64_t us[4] = {1, 2, (uint64_t)1 << 63, ((uint64_t)1 << 63) + 1};
    put("u8-steps", "particles/g/position/step/0", us, sizeof us);
    expect("u8-steps", ZT_ERANGE, "beyond the int64 range");
    us[2] = 3;
    us[3] = (uint64_t)INT64_MAX; /* the largest that fits is fine */
    put("u8-steps", "particles/g/position/step/0", us, sizeof us);
    check_steps("u8-steps", (int64_t[]){1, 2, 3, INT64_MAX}, 4);

    /* a position group without step: an error, not time-independent data */
    base("no-step", 4);
    expect("no-step", ZT_EFORMAT, "no 'step'");

    /* 2^40 frames with a fixed step: a clear error, not an 8 TiB allocation */
    base("absurd-frames", (int64_t)1 << 40);
    fixed_step("absurd-frames", "<i8", &inc, 8, NULL);
    expect("absurd-frames", ZT_EUNSUPPORTED, "position/value");

    /* Zarr fill values: no undefined casts, numpy's range rules */
    CHECK_OK(zt__store_open("memory://h5md-zarray", NULL, &zstore));
    zt_array *a = zarray(ZA("\"<i4\"", "3.0"), 0);
    if (a) {
        int32_t out[4];
        CHECK_OK(zt__array_read_chunk(a, (int64_t[]){1}, out));
        CHECK_EQ_INT(out[1], 3);
    }
    zt__array_free(a);
    const char *bad_fill[][2] = {{"\"<i4\"", "1e30"}, {"\"<i8\"", "1e300"}, {"\"<i4\"", "2.5"},
                                 {"\"|u1\"", "300"},  {"\"|u1\"", "-1"},    {"\"<u2\"", "-1.0"},
                                 {"\"<i2\"", "40000"}, {"\"|b1\"", "2"}};
    for (size_t i = 0; i < sizeof bad_fill / sizeof *bad_fill; i++) {
        char doc[512];
        snprintf(doc, sizeof doc, ZA("%s", "%s"), bad_fill[i][0], bad_fill[i][1]);
        zt__array_free(zarray(doc, ZT_EFORMAT));
        CHECK(strstr(zt_last_error(), "fill_value") != NULL);
    }
    a = zarray(ZA("\"<f4\"", "1e300"), 0); /* float overflow: infinity, as numpy */
    if (a) {
        float out[2];
        CHECK_OK(zt__array_read_chunk(a, (int64_t[]){0}, out));
        CHECK(isinf(out[0]) && out[0] > 0);
    }
    zt__array_free(a);
    /* missing or null dtype: said so (not "structured dtypes") */
    zt__array_free(zarray("{\"zarr_format\": 2, \"shape\": [4], \"chunks\": [2], \"fill_value\": 0}", ZT_EFORMAT));
    CHECK(strstr(zt_last_error(), "'dtype' is missing") != NULL);
    zt__array_free(zarray(ZA("null", "0"), ZT_EFORMAT));
    CHECK(strstr(zt_last_error(), "'dtype' is null") != NULL);
    zt__array_free(zarray(ZA("[[\"a\", \"<f4\"]]", "0"), ZT_EUNSUPPORTED));
    CHECK(strstr(zt_last_error(), "structured") != NULL);
    /* an absurd shape names the array once */
    zt__array_free(zarray("{\"zarr_format\": 2, \"shape\": [9223372036854775807, 9223372036854775807], "
                          "\"chunks\": [1, 1], \"dtype\": \"<f4\", \"fill_value\": 0}", ZT_EOVERFLOW));
    CHECK(strstr(zt_last_error(), "mem: x: absurd shape") != NULL && !strstr(zt_last_error(), "x: x"));
    zt__store_close(zstore);
    TEST_DONE();
}
