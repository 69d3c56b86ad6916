/* Reader queries used by the Python binding (python/src/_core.c): per-frame
 * sampling flags in one call, so MDAnalysis Timestep flags can be set before
 * the frame is read into its buffers, and whether an element stores time. */
#include "traj/reader.h"

#include <math.h>
#include <string.h>

int zt_reader_frame_flags(const zt_reader_t *r, uint8_t *out) {
    if (!r || !out) return zt__err(ZT_EINVAL, "zt_reader_frame_flags: NULL argument");
    for (int64_t i = 0; i < r->n_frames; i++) {
        unsigned f = 0;
        for (int k = 0; k < ZT_N_ELEMENTS; k++)
            if (r->fidx[k] && r->fidx[k][i] >= 0) f |= 1u << k;
        if (r->g->box_fixed_valid) f |= 1u << ZT_BOX;
        if (!isnan(r->ftime[i])) f |= ZT_FRAME_HAS_TIME;
        out[i] = (uint8_t)f;
    }
    return 0;
}

int zt_reader_has_time(const zt_reader_t *r, zt_element_t el) {
    if (!r || el < 0 || el >= ZT_N_ELEMENTS || !r->g->el[el]) return 0;
    return r->g->el[el]->time != NULL;
}
