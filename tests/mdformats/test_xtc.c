/* XTC coordinate codec: round trips at every precision and system size
 * (uncompressed small systems, runs of small differences, water-like
 * triplets, coordinates spread beyond 2^24 steps, so the "large" bit layout
 * is used), the decoded floats equal to the rounding xdrfile does; corrupt
 * and truncated streams fail cleanly (run under ASan). */
#include "mdformats/mdformats.h"
#include "testutil.h"

#include <string.h>


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
    zt_buf b;
    zt__buf_init(&b);
    CHECK_OK(zt__xtc_encode_coords(x, n, prec, &b));
    CHECK(b.len % 4 == 0);
    size_t used = 0;
    const char *why = NULL;
    CHECK_EQ_INT(zt__xtc_coords_size(b.data, b.len, n, &why), b.len);
    CHECK_OK(zt__xtc_decode_coords(b.data, b.len, n, y, &used));
    CHECK_EQ_INT(used, b.len);
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
            CHECK_RC(zt__xtc_decode_coords(t, cut, n, y, NULL), ZT_ECORRUPT);
            free(t);
        }
        /* bit flips: an error or some values, never a crash */
        for (int k = 0; k < 200; k++) {
            uint8_t *t = malloc(b.len);
            memcpy(t, b.data, b.len);
            size_t at = (size_t)(urand() * (double)b.len);
            t[at] ^= (uint8_t)(1u << (int)(urand() * 8));
            int rc = zt__xtc_decode_coords(t, b.len, n, y, NULL);
            CHECK(rc == 0 || rc == ZT_ECORRUPT);
            free(t);
        }
        /* wrong atom count */
        CHECK_RC(zt__xtc_decode_coords(b.data, b.len, n + 1, y, NULL), ZT_ECORRUPT);
    }
    zt__buf_free(&b);
    free(x);
    free(y);
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
    CHECK_RC(zt__xtc_encode_coords(big, 10, 1000.0f, &b), ZT_ERANGE);
    /* header garbage: bad precision, minint > maxint, small index out of range */
    float x[300];
    fill(x, 100, WATER, 5.0);
    b.len = 0;
    CHECK_OK(zt__xtc_encode_coords(x, 100, 1000.0f, &b));
    float y[300];
    uint8_t *t = malloc(b.len);
    memcpy(t, b.data, b.len);
    zt__put_be32f(t + 4, -1.0f);
    CHECK_RC(zt__xtc_decode_coords(t, b.len, 100, y, NULL), ZT_ECORRUPT);
    memcpy(t, b.data, b.len);
    zt__put_be32(t + 8, 0x7fffffff);
    CHECK_RC(zt__xtc_decode_coords(t, b.len, 100, y, NULL), ZT_ECORRUPT);
    memcpy(t, b.data, b.len);
    zt__put_be32(t + 32, 3);
    CHECK_RC(zt__xtc_decode_coords(t, b.len, 100, y, NULL), ZT_ECORRUPT);
    memcpy(t, b.data, b.len);
    zt__put_be32(t + 32, 1000);
    CHECK_RC(zt__xtc_decode_coords(t, b.len, 100, y, NULL), ZT_ECORRUPT);
    memcpy(t, b.data, b.len);
    zt__put_be32(t + 36, 0x7ffffff0);
    CHECK_RC(zt__xtc_decode_coords(t, b.len, 100, y, NULL), ZT_ECORRUPT);
    free(t);
    zt__buf_free(&b);
    TEST_DONE();
}
