/* The format registry: every on-disk format in one table (registry.c), and
 * what the layers above use instead of naming formats: open a tree (format
 * detection), find the writer of a URL. A new format adds its descriptor
 * (array/format.h) to the table. */
#ifndef ZT_REGISTRY_H
#define ZT_REGISTRY_H

#include "array/format.h"

/* The descriptors, each defined by its format (zarr/zformat.c, hdf5/h5format.c). */
extern const zt_format zt__zarr_format;
extern const zt_format zt__kerchunk_format;
#ifdef ZT_HAVE_HDF5
extern const zt_format zt__hdf5_format;
#endif
extern const zt_format zt__md_format; /* mdformats/mdformat.c */

/* The formats, in detection order; NULL-terminated. */
extern const zt_format *const zt__formats[];

/* Open a trajectory at url: a format that claims the URL (by extension,
 * scheme) opens it, after a probe where probing is cheap; otherwise every
 * probe-able format is tried in table order. opts may be NULL. */
int zt__tree_open(const char *url, const zt_options_t *opts, zt_tree **out);

/* The format that writes url (an array or a frame writer back end): the one
 * claiming it, else the default writer. */
const zt_format *zt__format_for_writing(const char *url);

/* Whether url ends in ext, case-insensitively, ignoring a query string. */
bool zt__url_has_ext(const char *url, const char *const *exts, size_t n);

#endif
