/* Fuzz target: the XTC coordinate decoder on arbitrary bytes (a coordinate
 * block: atom count, precision, ranges, small index, byte count, bits). The
 * atom count is the block's own, capped to keep the output small. Whatever
 * decodes is encoded again at the block's precision and must decode to the
 * same values (what our XTC writer relies on). */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    int32_t natoms = zt__be32i(data);
    if (natoms < 0 || natoms > 200000) return 0;
    float *x = malloc(sizeof *x * 3 * (size_t)(natoms ? natoms : 1));
    float *y = malloc(sizeof *y * 3 * (size_t)(natoms ? natoms : 1));
    size_t used = 0;
    if (x && y && zt__xtc_decode_coords(data, size, natoms, x, &used) == 0) {
        if (used > size) abort();
        float prec = natoms > 9 ? zt__be32f(data + 4) : 1000.0f;
        bool finite = true;
        for (size_t i = 0; i < 3 * (size_t)natoms; i++) finite &= isfinite(x[i]) != 0;
        zt_buf b;
        zt__buf_init(&b);
        /* precisions whose integers are exact in float32 (GROMACS writes 10^k) */
        bool exact = prec >= 1 && prec <= 1e6f && prec == floorf(prec);
        if (finite && exact && zt__xtc_encode_coords(x, natoms, prec, &b) == 0) {
            if (zt__xtc_decode_coords(b.data, b.len, natoms, y, NULL) != 0) abort();
            for (size_t i = 0; i < 3 * (size_t)natoms; i++)
                if (fabsf(x[i] - y[i]) > 0.5f / prec + fabsf(x[i]) * 2e-7f) abort();
        }
        zt__buf_free(&b);
    }
    free(x);
    free(y);
    return 0;
}
