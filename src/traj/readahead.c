/* Read-ahead: placeholder until the streaming engine lands; access notes are
 * ignored. */
#include "traj/reader.h"

void zt__readahead_note(zt_reader_t *r, int64_t i) {
    (void)r;
    (void)i;
}

void zt__readahead_stop(zt_reader_t *r) { (void)r; }
