/* Internals shared by the H5MD writer files (h5writer.c, h5wfilters.c). */
#ifndef ZT_H5W_H
#define ZT_H5W_H

#include "util/util.h"

#include <jansson.h>

/* h5py's LZF filter id. */
#define ZT_H5W_LZF_ID 32000

/* Register an LZF filter with libhdf5 unless one is available already (h5py
 * registers its own when it shares the process). Lock held. */
int zt__h5w_lzf_register(void);

/* Add the filters of a normalised H5MD compressor config (see
 * zt__h5writer_compressor) to a dataset creation property list. chunk_bytes
 * is the uncompressed chunk size (LZF's cd_values[2]). Lock held. Errors name
 * url and path. */
int zt__h5w_set_filters(int64_t dcpl, const json_t *cfg, size_t chunk_bytes, const char *url,
                        const char *path);

#endif
