/* Fuzz target: the XTC coordinate decoder on arbitrary bytes (a coordinate
 * block: atom count, precision, ranges, small index, byte count, bits). The
 * atom count is the block's own, capped to keep the output small. The bytes
 * are decoded as a block of both frame magics (1995: 32-bit byte count,
 * 2023: 64-bit). Whatever decodes is encoded again at the block's precision
 * in the same layout and must decode to the same values (what our XTC
 * writer relies on). */
#include "fuzz.h"

#include "mdformats/mdformats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init();
    return 0;
}

static void one(const uint8_t *data, size_t size, int32_t natoms, int32_t magic, float *x, float *y) {
    size_t used = 0;
    if (zt__xtc_decode_coords(data, size, natoms, magic, x, &used) != 0) return;
    if (used > size) abort();
    float prec = natoms > 9 ? zt__be32f(data + 4) : 1000.0f;
    bool finite = true;
    for (size_t i = 0; i < 3 * (size_t)natoms; i++) finite &= isfinite(x[i]) != 0;
    zt_buf b;
    zt__buf_init(&b);
    /* precisions whose integers are exact in float32 (GROMACS writes 10^k) */
    bool exact = prec >= 1 && prec <= 1e6f && prec == floorf(prec);
    int32_t m = magic;
    if (finite && exact && zt__xtc_encode_coords(x, natoms, prec, &m, &b) == 0) {
        if (m != magic || zt__xtc_decode_coords(b.data, b.len, natoms, m, y, NULL) != 0) abort();
        for (size_t i = 0; i < 3 * (size_t)natoms; i++)
            if (fabsf(x[i] - y[i]) > 0.5f / prec + fabsf(x[i]) * 2e-7f) abort();
    }
    zt__buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    int32_t natoms = zt__be32i(data);
    if (natoms < 0 || natoms > 200000) return 0;
    float *x = malloc(sizeof *x * 3 * (size_t)(natoms ? natoms : 1));
    float *y = malloc(sizeof *y * 3 * (size_t)(natoms ? natoms : 1));
    if (x && y) {
        one(data, size, natoms, ZT_XTC_MAGIC, x, y);
        one(data, size, natoms, ZT_XTC_MAGIC_LONG, x, y);
    }
    free(x);
    free(y);
    return 0;
}
