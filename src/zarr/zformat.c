/* Format descriptors of the Zarr family: zarrmd (v2 and v3 hierarchies on
 * any store) and kerchunk reference sets (a Zarr tree whose chunks are byte
 * ranges of other files). */
#include "zarr/zarr.h"

#include <string.h>

static int zt__zf_open_tree(zt_store *s, const char *url, const zt_options_t *opts, zt_tree **out) {
    (void)opts;
    return zt__zarr_open_tree(s, url, out);
}

static int zt__zf_open_writer(const char *url, const zt_wopen *wo, zt_wbackend **out) {
    return zt__zwriter_open(url, wo->storage, wo->overwrite, wo->zarr_format, out);
}

/* numcodecs config; default Blosc lz4 clevel 5 byte shuffle (zarr-python 2's);
 * validated now, so bad parameters fail at create, not at the first flush. */
static int zt__zf_compressor(const char *spec, json_t **out) {
    json_t *cfg = NULL;
    int rc = zt__codec_spec_parse(spec ? spec : "blosc:cname=lz4,clevel=5,shuffle=1", &cfg);
    if (!rc && cfg) {
        zt_codec *c = NULL;
        rc = zt__codec_from_json(cfg, &c);
        zt__codec_free(c);
    }
    if (rc) {
        json_decref(cfg);
        cfg = NULL;
    }
    *out = cfg;
    return rc;
}

const zt_format zt__zarr_format = {
    .name = "zarrmd",
    .what = "a zarrmd hierarchy",
    .flags = ZT_FORMAT_DEFAULT_WRITER | ZT_FORMAT_ZARR,
    .open_tree = zt__zf_open_tree,
    .open_writer = zt__zf_open_writer,
    .writer_compressor = zt__zf_compressor,
};

static bool zt__kc_claims(const char *url) {
    return zt__str_startswith(url, "reference://") || zt__str_endswith(url, ".json");
}

const zt_format zt__kerchunk_format = {
    .name = "zarrmd",
    .what = "a kerchunk reference set",
    .flags = ZT_FORMAT_NAME_ONLY,
    .claims_url = zt__kc_claims,
    .open_store = zt__store_refs_open,
    .open_tree = zt__zf_open_tree,
};
