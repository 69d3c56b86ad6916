/* Fuzz target: an XTC, TRR, DCD or AMBER NetCDF (classic: CDF-1/2/5) file
 * (bytes) on the memory store, read the way a remote trajectory is read: the
 * header scan of src/mdformats/ (for NetCDF the header parser and the
 * coalesced gather of time and cell), the frame index, the per-frame codecs
 * (XTC compression, DCD records, raw TRR and NetCDF reals, the netcdf codec)
 * and then the reader API; HDF5 bytes are read as an AMBER NetCDF-4 file.
 * The format follows the leading bytes (magic number); anything else is
 * tried as XTC, so every input reaches a parser. */
#include "fuzz.h"

#include "mdformats/mdformats.h"

#include <stdio.h>
#include <string.h>

static zt_options_t *fz_opts;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init();
    zt_options_create(&fz_opts);
    zt_options_set(fz_opts, "index_cache", "false");
    zt_options_set(fz_opts, "hdf5_timeout", "5"); /* NetCDF-4: libhdf5 parses in a child, as in fuzz_hdf5 */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char name[64], url[96];
    const char *f = zt__md_probe(NULL, data, size);
    /* HDF5 bytes as .nc: the NetCDF-4 path (our HDF5 reader, AMBER mapping) */
    if (!f && size >= 8 && !memcmp(data, "\x89HDF\r\n\x1a\n", 8)) f = "nc";
    char ext[8];
    snprintf(ext, sizeof ext, ".%s", f ? f : "xtc");
    if (fz_mem_load(ext, NULL, 0, name, sizeof name)) return 0;
    snprintf(url, sizeof url, "memory://%s", name);
    fz_mem_put(name, "", data, size);
    fz_read_traj(url, fz_opts);
    fz_mem_clear(name);
    return 0;
}
