/* Format descriptor of HDF5/H5MD: claimed by extension, recognised by the
 * HDF5 signature (at 0 or after a user block of 512, 1024, ... bytes). */
#include "hdf5/hdf5.h"

#include <string.h>
#include <strings.h>

static const char *const zt__h5_exts[] = {".h5md", ".h5", ".hdf5", ".hdf", ".he5"};

static bool zt__h5f_claims(const char *url) {
    const char *q = strchr(url, '?');
    size_t n = q ? (size_t)(q - url) : strlen(url);
    for (size_t i = 0; i < sizeof zt__h5_exts / sizeof *zt__h5_exts; i++) {
        size_t l = strlen(zt__h5_exts[i]);
        if (n >= l && !strncasecmp(url + n - l, zt__h5_exts[i], l)) return true;
    }
    return false;
}

static const uint8_t zt__h5sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

static int zt__h5f_probe(zt_store *s, const char *url) {
    bool exists = false;
    for (int64_t off = 0; off <= (1 << 20); off = off ? off * 2 : 512) {
        zt_buf head;
        zt__buf_init(&head);
        int rc = zt__store_get_range(s, "", off, 8, &head);
        bool ok = rc == 0 && head.len == 8, sig = ok && !memcmp(head.data, zt__h5sig, 8);
        zt__buf_free(&head);
        if (rc == ZT_ENOTFOUND) break;
        if (rc) return rc;
        exists = true;
        if (sig) return 1;
        if (!ok) break;
    }
    if (!exists) return ZT_ENOTFOUND;
    return zt__err(ZT_ENOTHDF5, "%s: not an HDF5 file (file signature not found)", url);
}

static int zt__h5f_open_writer(const char *url, const zt_wopen *wo, zt_wbackend **out) {
    return zt__h5writer_open(url, wo->storage, wo->overwrite, out);
}

const zt_format zt__hdf5_format = {
    .name = "h5md",
    .what = "an HDF5 file",
    .flags = ZT_FORMAT_TRUST_NAME,
    .claims_url = zt__h5f_claims,
    .probe = zt__h5f_probe,
    .open_tree = zt__hdf5_open_tree,
    .open_writer = zt__h5f_open_writer,
    .writer_compressor = zt__h5writer_compressor,
};
