/* Registry descriptor of the classic MD formats (XTC, TRR, DCD, AMBER
 * NetCDF): claimed by extension, recognised by their leading bytes when
 * nothing claims the URL (tried after Zarr and HDF5). Writing XTC goes through
 * the trajectory writer's frame path (traj/writer.c), not a back end. */
#include "format/registry.h"
#include "mdformats/mdformats.h"

#include <string.h>

static bool zt__mdf_claims(const char *url) { return zt__md_probe(url, NULL, 0) != NULL; }

/* The format of the root object's leading bytes, or NULL; ZT_ENOTFOUND
 * when there is no object. */
static int zt__mdf_sniff(zt_store *s, const char **fmt) {
    zt_buf head;
    zt__buf_init(&head);
    int rc = zt__store_get_range(s, "", 0, 8, &head);
    *fmt = rc ? NULL : zt__md_probe(NULL, head.data, head.len);
    zt__buf_free(&head);
    return rc;
}

static int zt__mdf_probe(zt_store *s, const char *url) {
    if (zt__mdf_claims(url)) return 1; /* the format's own open checks its magic, naming the frame */
    const char *fmt = NULL;
    int rc = zt__mdf_sniff(s, &fmt);
    if (rc == ZT_ENOTFOUND) return rc;
    if (rc) return rc;
    return fmt ? 1 : zt__err(ZT_EFORMAT, "%s: not an XTC, TRR, DCD or NetCDF file", url);
}

static int zt__mdf_open(zt_store *s, const char *url, const zt_options_t *opts, zt_tree **out) {
    const char *fmt = zt__md_probe(url, NULL, 0);
    if (!fmt) {
        int rc = zt__mdf_sniff(s, &fmt);
        if (rc) return rc;
        if (!fmt) return zt__err(ZT_EFORMAT, "%s: not an XTC, TRR, DCD or NetCDF file", url);
    }
    return zt__md_open_tree(s, url, fmt, opts, out);
}

const zt_format zt__md_format = {
    .name = "md",
    .what = "an XTC/TRR/DCD/NetCDF trajectory",
    .flags = 0,
    .claims_url = zt__mdf_claims,
    .probe = zt__mdf_probe,
    .open_tree = zt__mdf_open,
};
