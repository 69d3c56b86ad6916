/* H5MD (HDF5) writer back end: placeholder until the libhdf5 writer lands. */
#include "traj/wbackend.h"

int zt__h5writer_open(const char *url, const zt_options_t *opts, bool overwrite, zt_wbackend **out) {
    (void)opts;
    (void)overwrite;
    (void)out;
    return zt__err(ZT_EUNSUPPORTED, "%s: the H5MD writer is not implemented yet", url);
}
