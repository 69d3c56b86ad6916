/* XTC coordinate codec: round trips at every precision and system size
 * (uncompressed small systems, runs of small differences, water-like
 * triplets, coordinates spread beyond 2^24 steps, so the "large" bit layout
 * is used), the decoded floats equal to the rounding xdrfile does; corrupt
 * and truncated streams fail cleanly (run under ASan). Both frame layouts:
 * magic 1995 (32-bit byte count) and GROMACS 2023's magic 2023 (64-bit),
 * also a real file rewritten frame by frame as 2023 (and mixed) reads
 * identically to the original. */
#include "mdformats/mdformats.h"
#include "testutil.h"

#include <string.h>
#include <sys/stat.h>


static uint64_t rng = 88172645463325252ull;
static double urand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* What xdrfile stores for x at precision p, and what it decodes to. */
static float quantized(float x, float p) {
    float lf = x * p;
    lf = lf >= 0 ? (float)((double)lf + 0.5) : (float)((double)lf - 0.5);
    int v = (int)lf;
    return (float)v * (float)(1.0 / (double)p);
}

enum { UNIFORM, WATER, CHAIN, SPREAD, CONST };

static void fill(float *x, int n, int kind, double box) {
    for (int i = 0; i < n; i++) {
        for (int d = 0; d < 3; d++) {
            double v;
            switch (kind) {
            case WATER: /* triplets within 0.1 nm, molecules spread over the box */
                v = (i % 3 == 0) ? urand() * box : x[(i - i % 3) * 3 + d] + (urand() - 0.5) * 0.2;
                break;
            case CHAIN: v = i ? x[(i - 1) * 3 + d] + (urand() - 0.5) * 0.3 : 1.0; break;
            case SPREAD: v = (urand() - 0.5) * box; break;
            case CONST: v = 1.25; break;
            default: v = urand() * box;
            }
            x[i * 3 + d] = (float)v;
        }
    }
}

static void roundtrip(int n, float prec, int kind, double box) {
    float *x = malloc(sizeof *x * 3 * (size_t)(n ? n : 1)), *y = malloc(sizeof *y * 3 * (size_t)(n ? n : 1));
    fill(x, n, kind, box);
    zt_buf b, l;
    zt__buf_init(&b);
    zt__buf_init(&l);
    int32_t magic = 0, lmagic = ZT_XTC_MAGIC_LONG;
    CHECK_OK(zt__xtc_encode_coords(x, n, prec, &magic, &b));
    CHECK_EQ_INT(magic, ZT_XTC_MAGIC); /* auto: 1995 unless the count needs 64 bits */
    CHECK(b.len % 4 == 0);
    size_t used = 0;
    const char *why = NULL;
    CHECK_EQ_INT(zt__xtc_coords_size(b.data, b.len, n, magic, &why), b.len);
    CHECK_OK(zt__xtc_decode_coords(b.data, b.len, n, magic, y, &used));
    CHECK_EQ_INT(used, b.len);
    /* the 2023 layout: the same block with an 8-byte count */
    CHECK_OK(zt__xtc_encode_coords(x, n, prec, &lmagic, &l));
    CHECK_EQ_INT(lmagic, ZT_XTC_MAGIC_LONG);
    CHECK_EQ_INT(l.len, n > 9 ? b.len + 4 : b.len);
    if (n > 9 && l.len == b.len + 4) {
        CHECK(!memcmp(l.data, b.data, 36) && !memcmp(l.data + 44, b.data + 40, b.len - 40));
        CHECK(zt__be32(l.data + 36) == 0 && zt__be32(l.data + 40) == zt__be32(b.data + 36));
    }
    float *z = malloc(sizeof *z * 3 * (size_t)(n ? n : 1));
    used = 0;
    CHECK_EQ_INT(zt__xtc_coords_size(l.data, l.len, n, lmagic, &why), l.len);
    CHECK_OK(zt__xtc_decode_coords(l.data, l.len, n, lmagic, z, &used));
    CHECK_EQ_INT(used, l.len);
    CHECK(!memcmp(y, z, sizeof *z * 3 * (size_t)n));
    free(z);
    /* decoded with the other layout's count width: an error, never a crash */
    if (n > 9) {
        int rc = zt__xtc_decode_coords(l.data, l.len, n, ZT_XTC_MAGIC, y, NULL);
        CHECK(rc == ZT_ECORRUPT || rc == 0);
        CHECK_RC(zt__xtc_decode_coords(b.data, b.len, n, ZT_XTC_MAGIC_LONG, y, NULL), ZT_ECORRUPT);
        }
    zt__buf_free(&l);
    int bad = 0;
    for (int i = 0; i < 3 * n; i++) {
        float want = n <= 9 ? x[i] : quantized(x[i], prec);
        if (memcmp(&want, &y[i], 4) && bad++ < 3)
            fprintf(stderr, "n=%d prec=%g kind=%d: value %d = %.9g, want %.9g\n", n, (double)prec, kind, i,
                    (double)y[i], (double)want);
    }
    CHECK(bad == 0);
    /* every truncation fails without reading past the end */
    if (n > 9) {
        for (size_t cut = 0; cut < b.len; cut += (b.len > 400 ? b.len / 97 : 1)) {
            uint8_t *t = malloc(cut ? cut : 1);
            memcpy(t, b.data, cut);
            CHECK_RC(zt__xtc_decode_coords(t, cut, n, ZT_XTC_MAGIC, y, NULL), ZT_ECORRUPT);
            free(t);
        }
        /* bit flips: an error or some values, never a crash */
        for (int k = 0; k < 200; k++) {
            uint8_t *t = malloc(b.len);
            memcpy(t, b.data, b.len);
            size_t at = (size_t)(urand() * (double)b.len);
            t[at] ^= (uint8_t)(1u << (int)(urand() * 8));
            int rc = zt__xtc_decode_coords(t, b.len, n, ZT_XTC_MAGIC, y, NULL);
            CHECK(rc == 0 || rc == ZT_ECORRUPT);
            free(t);
        }
        /* wrong atom count */
        CHECK_RC(zt__xtc_decode_coords(b.data, b.len, n + 1, ZT_XTC_MAGIC, y, NULL), ZT_ECORRUPT);
    }
    zt__buf_free(&b);
    free(x);
    free(y);
}

/* The frames of a 1995 XTC file rewritten with magic 2023 and a 64-bit
 * byte count (every frame when every is 1, else every other one: the magic
 * is per frame). */
static uint8_t *to_2023(const uint8_t *d, size_t n, int every, size_t *out_n) {
    /* at most 4 more bytes per frame of at least 56 */
    uint8_t *o = malloc(n + 4 * (n / (ZT_XTC_HEAD + 4) + 1));
    size_t off = 0, k = 0;
    for (int fr = 0; off + ZT_XTC_HEAD + 40 <= n; fr++) {
        const uint8_t *f = d + off;
        int natoms = zt__be32i(f + 4);
        size_t len = natoms <= 9 ? ZT_XTC_HEAD + 4 + 12 * (size_t)natoms
                                 : ZT_XTC_HEAD + 40 + ((zt__be32(f + ZT_XTC_HEAD + 36) + 3) & ~3u);
        if (len > n - off) break;
        bool lng = every == 1 || fr % 2 == 1;
        memcpy(o + k, f, len);
        if (lng) {
            zt__put_be32(o + k, ZT_XTC_MAGIC_LONG);
            if (natoms > 9) { /* the count as a hyper: high word 0, then the old count, then the bits */
                zt__put_be32(o + k + ZT_XTC_HEAD + 36, 0);
                memcpy(o + k + ZT_XTC_HEAD + 40, f + ZT_XTC_HEAD + 36, len - ZT_XTC_HEAD - 36);
                k += 4;
            }
        }
        k += len;
        off += len;
    }
    *out_n = off == n ? k : 0;
    return o;
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct stat st;
    uint8_t *d = fstat(fileno(f), &st) == 0 ? malloc((size_t)st.st_size + 1) : NULL;
    *n = d ? fread(d, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    return d;
}

static void spit(const char *path, const uint8_t *d, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(d, 1, n, f) == n);
    if (f) fclose(f);
}

/* Every frame of b equal to a's, bit for bit (positions, box, step, time). */
static void same_frames(const char *pa, const char *pb) {
    zt_reader_t *a = NULL, *b = NULL;
    CHECK_OK(zt_reader_open(pa, NULL, &a));
    CHECK_OK(zt_reader_open(pb, NULL, &b));
    if (!a || !b) goto out;
    int64_t na = zt_reader_n_atoms(a), nf = zt_reader_n_frames(a);
    CHECK_EQ_INT(zt_reader_n_atoms(b), na);
    CHECK_EQ_INT(zt_reader_n_frames(b), nf);
    CHECK(nf > 1);
    float *x = malloc(sizeof(float) * 3 * (size_t)na), *y = malloc(sizeof(float) * 3 * (size_t)na);
    int bad = 0;
    for (int64_t i = 0; i < nf; i++) {
        zt_frame_t fa, fb;
        CHECK_OK(zt_reader_read_frame(a, i, &fa, x, NULL, NULL));
        CHECK_OK(zt_reader_read_frame(b, i, &fb, y, NULL, NULL));
        bad += fa.step != fb.step || fa.time != fb.time || memcmp(fa.box, fb.box, sizeof fa.box) ||
               memcmp(x, y, sizeof(float) * 3 * (size_t)na);
    }
    CHECK_EQ_INT(bad, 0);
    free(x);
    free(y);
out:
    zt_reader_close(a);
    zt_reader_close(b);
}

static void test_real_file(void) {
    char *src = zt_test_data("real/water57k_200f.xtc"), *dir = zt_test_tmpdir("xtc2023");
    setenv("ZARRTRAJ_INDEX_CACHE", "0", 1);
    size_t n = 0, m = 0;
    uint8_t *d = slurp(src, &n);
    if (!d) {
        fprintf(stderr, "no %s: the real-file check is skipped\n", src);
    } else {
        char all[512], mixed[512], bad[512];
        snprintf(all, sizeof all, "%s/all2023.xtc", dir);
        snprintf(mixed, sizeof mixed, "%s/mixed.xtc", dir);
        snprintf(bad, sizeof bad, "%s/bad2023.xtc", dir);
        uint8_t *o = to_2023(d, n, 1, &m);
        CHECK(m > n);
        CHECK_EQ_INT(zt__be32(o), ZT_XTC_MAGIC_LONG);
        spit(all, o, m);
        same_frames(src, all);
        /* a 2023 file is an XTC by content too */
        CHECK(zt__md_probe(NULL, o, m) && !strcmp(zt__md_probe(NULL, o, m), "xtc"));
        /* corrupt 64-bit count of frame 0 (high word): a clear error at open */
        uint8_t keep[4];
        memcpy(keep, o + ZT_XTC_HEAD + 36, 4);
        zt__put_be32(o + ZT_XTC_HEAD + 36, 2);
        spit(bad, o, m);
        zt_reader_t *r = NULL;
        CHECK_RC(zt_reader_open(bad, NULL, &r), ZT_ECORRUPT);
        CHECK(strstr(zt_last_error(), "frame 0") && strstr(zt_last_error(), "magic 2023"));
        zt_reader_close(r);
        memcpy(o + ZT_XTC_HEAD + 36, keep, 4);
        free(o);
        o = to_2023(d, n, 2, &m);
        CHECK(m > n);
        CHECK_EQ_INT(zt__be32(o), ZT_XTC_MAGIC);
        spit(mixed, o, m);
        same_frames(src, mixed);
        free(o);
        free(d);
    }
    unsetenv("ZARRTRAJ_INDEX_CACHE");
    free(src);
    free(dir);
}

int main(void) {
    static const float precs[] = {1.0f, 10.0f, 100.0f, 1000.0f, 10000.0f, 100000.0f};
    static const int sizes[] = {1, 2, 3, 8, 9, 10, 11, 30, 100, 1001, 20000};
    for (size_t p = 0; p < sizeof precs / sizeof *precs; p++)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
            for (int kind = UNIFORM; kind <= CONST; kind++) {
                double box = kind == SPREAD ? 2000.0 : 10.0;
                /* keep |x| * precision inside int32 */
                if (box * precs[p] > 1.5e9) box = 1.5e9 / precs[p];
                roundtrip(sizes[s], precs[p], kind, box);
            }
    /* spread beyond 2^24 integer steps in one dimension: the "large" layout */
    roundtrip(500, 1000.0f, SPREAD, 40000.0);
    roundtrip(500, 100000.0f, SPREAD, 20000.0);
    /* values that do not fit the precision */
    float big[30];
    for (int i = 0; i < 30; i++) big[i] = 1e7f;
    zt_buf b;
    zt__buf_init(&b);
    int32_t m = 0;
    CHECK_RC(zt__xtc_encode_coords(big, 10, 1000.0f, &m, &b), ZT_ERANGE);
    m = 1996;
    CHECK_RC(zt__xtc_encode_coords(big, 10, 1000.0f, &m, &b), ZT_EINVAL);
    /* header garbage: bad precision, minint > maxint, small index out of range */
    float x[300];
    fill(x, 100, WATER, 5.0);
    b.len = 0;
    m = 0;
    CHECK_OK(zt__xtc_encode_coords(x, 100, 1000.0f, &m, &b));
    float y[300];
    uint8_t *t = malloc(b.len);
    memcpy(t, b.data, b.len);
    zt__put_be32f(t + 4, -1.0f);
    CHECK_RC(zt__xtc_decode_coords(t, b.len, 100, ZT_XTC_MAGIC, y, NULL), ZT_ECORRUPT);
    memcpy(t, b.data, b.len);
    zt__put_be32(t + 8, 0x7fffffff);
    CHECK_RC(zt__xtc_decode_coords(t, b.len, 100, ZT_XTC_MAGIC, y, NULL), ZT_ECORRUPT);
    memcpy(t, b.data, b.len);
    zt__put_be32(t + 32, 3);
    CHECK_RC(zt__xtc_decode_coords(t, b.len, 100, ZT_XTC_MAGIC, y, NULL), ZT_ECORRUPT);
    memcpy(t, b.data, b.len);
    zt__put_be32(t + 32, 1000);
    CHECK_RC(zt__xtc_decode_coords(t, b.len, 100, ZT_XTC_MAGIC, y, NULL), ZT_ECORRUPT);
    memcpy(t, b.data, b.len);
    zt__put_be32(t + 36, 0x7ffffff0);
    CHECK_RC(zt__xtc_decode_coords(t, b.len, 100, ZT_XTC_MAGIC, y, NULL), ZT_ECORRUPT);
    CHECK(strstr(zt_last_error(), "larger than the atoms can need"));
    CHECK_RC(zt__xtc_decode_coords(b.data, b.len, 100, 1996, y, NULL), ZT_ECORRUPT);
    CHECK(strstr(zt_last_error(), "magic"));
    free(t);
    /* corrupt 64-bit counts (magic 2023) */
    m = ZT_XTC_MAGIC_LONG;
    b.len = 0;
    CHECK_OK(zt__xtc_encode_coords(x, 100, 1000.0f, &m, &b));
    CHECK_OK(zt__xtc_decode_coords(b.data, b.len, 100, m, y, NULL));
    t = malloc(b.len);
    memcpy(t, b.data, b.len);
    zt__put_be32(t + 36, 0x80000000u); /* negative */
    CHECK_RC(zt__xtc_decode_coords(t, b.len, 100, m, y, NULL), ZT_ECORRUPT);
    CHECK(strstr(zt_last_error(), "negative 64-bit compressed byte count"));
    const char *why = NULL;
    CHECK_EQ_INT(zt__xtc_coords_size(t, b.len, 100, m, &why), 0);
    CHECK(why && strstr(why, "negative"));
    memcpy(t, b.data, b.len);
    zt__put_be32(t + 36, 1); /* 4 GiB more than the frame holds */
    CHECK_RC(zt__xtc_decode_coords(t, b.len, 100, m, y, NULL), ZT_ECORRUPT);
    CHECK(strstr(zt_last_error(), "64-bit compressed byte count (magic 2023) larger than the atoms can need"));
    memcpy(t, b.data, b.len);
    zt__put_be32(t + 40, zt__be32(b.data + 40) + 64); /* past the block, within what atoms could need */
    CHECK_RC(zt__xtc_decode_coords(t, b.len, 100, m, y, NULL), ZT_ECORRUPT);
    CHECK(strstr(zt_last_error(), "extends past the frame"));
    memcpy(t, b.data, b.len);
    zt__put_be32(t + 40, 3); /* too few bits for 100 atoms */
    CHECK_RC(zt__xtc_decode_coords(t, 48, 100, m, y, NULL), ZT_ECORRUPT);
    CHECK_EQ_INT(zt__xtc_coords_size(t, 43, 100, m, &why), 0); /* header cut before the count's low word */
    CHECK(why && strstr(why, "header cut short"));
    free(t);
    zt__buf_free(&b);
    test_real_file();
    TEST_DONE();
}
