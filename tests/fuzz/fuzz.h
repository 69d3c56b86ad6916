/* Shared helpers of the fuzz targets (tests/fuzz/fuzz_*.c).
 *
 * Multi-object inputs ("archives") are plain bytes in this form, readable in
 * corpus files and easy for a mutator to keep in shape:
 *
 *     #zt KEY\n<bytes of KEY>\n#zt KEY2\n<bytes of KEY2>...
 *
 * An object's bytes end where the next "\n#zt " begins (or at the end). */
#ifndef ZT_FUZZ_H
#define ZT_FUZZ_H

#include "zarrtraj.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

typedef struct fz_entry {
    char key[256];
    const uint8_t *data;
    size_t n;
} fz_entry;

/* Split an archive into at most max entries; returns the count. Keys that do
 * not fit, are empty or contain ".." are dropped. */
size_t fz_split(const uint8_t *data, size_t size, fz_entry *out, size_t max);

/* Put entries into memory://NAME (NAME unique per call); returns NAME in buf. */
int fz_mem_load(const char *prefix, const fz_entry *e, size_t n, char *name, size_t cap);
/* Put one object (key "" = the root object, e.g. an HDF5 file). */
int fz_mem_put(const char *name, const char *key, const void *data, size_t n);
/* Remove every object of memory://NAME. */
void fz_mem_clear(const char *name);

/* Environment for all targets: no index cache, quiet logs, no profile files. */
void fz_init(void);

/* Open url as a trajectory and read through the public API: frames (first,
 * last, a batch), steps, a timeseries, data and observables, info. Reads are
 * skipped when the declared sizes exceed the fuzzer's budget (a legal but
 * huge array is not a bug). Returns 0 or the first error. */
int fz_read_traj(const char *url, const zt_options_t *storage);

/* Deterministic byte-derived integers for targets that need parameters. */
typedef struct fz_rng {
    const uint8_t *p;
    size_t n;
} fz_rng;
uint64_t fz_take(fz_rng *r, int bytes);

#endif
