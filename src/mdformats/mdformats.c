/* Format probing and dispatch of the classic MD formats. */
#include "mdformats/mdformats.h"

#include <string.h>

static const char *const zt__xtc_ext[] = {".xtc"};
static const char *const zt__trr_ext[] = {".trr"};
static const char *const zt__dcd_ext[] = {".dcd"};
static const char *const zt__nc_ext[] = {".nc", ".ncdf", ".netcdf"};

const char *zt__md_probe(const char *url, const uint8_t *head, size_t n) {
    if (head && n >= 4) {
        uint32_t be = zt__be32(head);
        uint32_t le = (uint32_t)head[0] | (uint32_t)head[1] << 8 | (uint32_t)head[2] << 16 | (uint32_t)head[3] << 24;
        if (be == ZT_XTC_MAGIC || be == ZT_XTC_MAGIC_LONG) return "xtc";
        if (be == 1993) return "trr";
        /* DCD: a Fortran record of 84 bytes starting with "CORD" (either byte order) */
        if (n >= 8 && (be == 84 || le == 84) && !memcmp(head + 4, "CORD", 4)) return "dcd";
        if (!memcmp(head, "CDF", 3) && (head[3] == 1 || head[3] == 2 || head[3] == 5)) return "netcdf";
        return NULL;
    }
    if (!url) return NULL;
    if (zt__md_has_ext(url, zt__xtc_ext, 1)) return "xtc";
    if (zt__md_has_ext(url, zt__trr_ext, 1)) return "trr";
    if (zt__md_has_ext(url, zt__dcd_ext, 1)) return "dcd";
    if (zt__md_has_ext(url, zt__nc_ext, 3)) return "netcdf";
    return NULL;
}

int zt__md_open_tree(zt_store *s, const char *url, const char *format, const zt_options_t *opts, zt_tree **out) {
    if (!format) return zt__err(ZT_EUNSUPPORTED, "%s: unknown trajectory format", url);
    if (!strcmp(format, "xtc")) return zt__xtc_open_tree(s, url, opts, out);
    if (!strcmp(format, "trr")) return zt__trr_open_tree(s, url, opts, out);
    if (!strcmp(format, "dcd")) return zt__dcd_open_tree(s, url, opts, out);
    if (!strcmp(format, "netcdf")) return zt__nc_open_tree(s, url, opts, out);
    return zt__err(ZT_EUNSUPPORTED, "%s: %s files are not supported yet", url, format);
}
