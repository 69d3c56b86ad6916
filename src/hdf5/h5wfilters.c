/* Compression of the H5MD writer: the accepted compressor specs (HDF5's own
 * deflate and shuffle, h5py's LZF), and an LZF filter for libhdf5 so LZF
 * chunks can be written at all (libhdf5 ships without one). */
#include "hdf5/h5w.h"
#include "hdf5/hdf5.h"

#include <ctype.h>
#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <lzf.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ZT_H5W_SUPPORTED                                                                         \
    "supported: gzip (alias zlib; level 0-9, default 4), lzf, either with shuffle "              \
    "(gzip:level=4,shuffle=true, {\"id\": \"gzip\", \"level\": 4, \"shuffle\": true} or "          \
    "[{\"id\": \"shuffle\"}, {\"id\": \"zlib\", \"level\": 4}]), none"

/* ---- compressor specs -------------------------------------------------------------- */

static int zt__h5w_bool(const json_t *v, const char *id, const char *key, bool *out) {
    if (json_is_boolean(v)) *out = json_is_true(v);
    else if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
        *out = json_integer_value(v) == 1;
    else return zt__err(ZT_EINVAL, "H5MD compressor '%s': '%s' must be true or false", id, key);
    return 0;
}

/* One codec object into the normalised config *acc ({"id", "level", "shuffle"}).
 * *shuffle collects a preceding "shuffle" entry of the list form. */
static int zt__h5w_codec(const json_t *o, bool in_list, bool *shuffle, json_t **acc) {
    if (!json_is_object(o)) return zt__err(ZT_EINVAL, "H5MD compressor: expected a JSON object per codec");
    const char *id = json_string_value(json_object_get(o, "id"));
    if (!id) return zt__err(ZT_EINVAL, "H5MD compressor: missing string 'id'");
    bool deflate = !strcmp(id, "gzip") || !strcmp(id, "zlib"), lzf = !strcmp(id, "lzf");
    bool shuf = !strcmp(id, "shuffle");
    if (!deflate && !lzf && !shuf)
        return zt__err(ZT_EUNSUPPORTED, "H5MD output cannot use compressor '%s' (%s)", id, ZT_H5W_SUPPORTED);
    if (*acc) return zt__err(ZT_EINVAL, "H5MD compressor: '%s' after the compressor", id);
    if (shuf && !in_list)
        return zt__err(ZT_EINVAL, "H5MD compressor: shuffle needs a compressor (%s)", ZT_H5W_SUPPORTED);
    long long level = 4; /* h5py's default for compression='gzip' */
    bool s = false;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        if (!strcmp(key, "id")) continue;
        if (deflate && !strcmp(key, "level")) {
            if (!json_is_integer(v) || json_integer_value(v) < -1 || json_integer_value(v) > 9)
                return zt__err(ZT_EINVAL, "H5MD compressor '%s': level must be an integer 0-9", id);
            level = json_integer_value(v) < 0 ? 6 : json_integer_value(v); /* -1: zlib's default */
        } else if (!shuf && !strcmp(key, "shuffle")) {
            int rc = zt__h5w_bool(v, id, key, &s);
            if (rc) return rc;
        } else if (shuf && !strcmp(key, "elementsize")) {
            /* HDF5 always shuffles by the dataset's element size */
            if (!json_is_integer(v) || json_integer_value(v) < 1)
                return zt__err(ZT_EINVAL, "H5MD compressor 'shuffle': elementsize must be a positive integer");
        } else {
            return zt__err(ZT_EINVAL, "H5MD compressor '%s': unknown parameter '%s' (%s)", id, key,
                           ZT_H5W_SUPPORTED);
        }
    }
    if (shuf) {
        *shuffle = true;
        return 0;
    }
    *acc = deflate ? json_pack("{s:s,s:I,s:b}", "id", "gzip", "level", level, "shuffle", s || *shuffle)
                   : json_pack("{s:s,s:b}", "id", "lzf", "shuffle", s || *shuffle);
    return *acc ? 0 : zt__err(ZT_ENOMEM, "out of memory");
}

/* "id[:key=value,...]" with integer and true/false values. */
static int zt__h5w_short(const char *spec, json_t **obj) {
    char *copy = zt__strdup(spec);
    json_t *o = json_object();
    int rc = copy && o ? 0 : zt__err(ZT_ENOMEM, "out of memory");
    char *colon = copy ? strchr(copy, ':') : NULL;
    if (colon) *colon = 0;
    for (char *p = copy; !rc && *p; p++) *p = (char)tolower((unsigned char)*p);
    if (!rc && !*copy) rc = zt__err(ZT_EINVAL, "H5MD compressor '%s': missing codec id", spec);
    if (!rc && json_object_set_new(o, "id", json_string(copy))) rc = zt__err(ZT_ENOMEM, "out of memory");
    char *save = NULL;
    for (char *tok = colon ? strtok_r(colon + 1, ",", &save) : NULL; !rc && tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        while (isspace((unsigned char)*tok)) tok++;
        if (!eq || eq == tok) {
            rc = zt__err(ZT_EINVAL, "H5MD compressor '%s': expected key=value, got '%s'", spec, tok);
            break;
        }
        char *ke = eq;
        while (ke > tok && isspace((unsigned char)ke[-1])) ke--;
        *ke = 0;
        char *val = eq + 1, *end;
        while (isspace((unsigned char)*val)) val++;
        for (end = val + strlen(val); end > val && isspace((unsigned char)end[-1]);) *--end = 0;
        json_t *jv;
        long long x = strtoll(val, &end, 10);
        if (!strcasecmp(val, "true")) jv = json_true();
        else if (!strcasecmp(val, "false")) jv = json_false();
        else if (*val && !*end) jv = json_integer(x);
        else {
            rc = zt__err(ZT_EINVAL, "H5MD compressor '%s': bad value '%s' for '%s'", spec, val, tok);
            break;
        }
        if (json_object_get(o, tok)) rc = zt__err(ZT_EINVAL, "H5MD compressor '%s': duplicate key '%s'", spec, tok);
        else if (!strcmp(tok, "id")) rc = zt__err(ZT_EINVAL, "H5MD compressor '%s': bad key 'id'", spec);
        if (rc) {
            json_decref(jv);
            break;
        }
        if (json_object_set_new(o, tok, jv)) rc = zt__err(ZT_ENOMEM, "out of memory"); /* jv is freed */
    }
    free(copy);
    if (rc) {
        json_decref(o);
        return rc;
    }
    *obj = o;
    return 0;
}

int zt__h5writer_compressor(const char *spec, json_t **out) {
    *out = NULL;
    if (!spec) return 0; /* H5MD default: no compression, as MDAnalysis writes */
    while (isspace((unsigned char)*spec)) spec++;
    size_t len = strlen(spec);
    while (len && isspace((unsigned char)spec[len - 1])) len--;
    if (!len || (len == 4 && (!strncmp(spec, "none", 4) || !strncmp(spec, "null", 4)))) return 0;
    json_t *j = NULL;
    int rc = 0;
    if (spec[0] == '{' || spec[0] == '[') {
        json_error_t e;
        j = json_loadb(spec, len, 0, &e);
        if (!j) return zt__err(ZT_EINVAL, "H5MD compressor: invalid JSON: %s", e.text);
    } else if ((rc = zt__h5w_short(spec, &j))) {
        return rc;
    }
    bool shuffle = false;
    json_t *acc = NULL;
    if (json_is_array(j)) {
        size_t i;
        json_t *o;
        json_array_foreach(j, i, o) {
            if (json_is_null(o)) continue;
            if ((rc = zt__h5w_codec(o, true, &shuffle, &acc))) break;
        }
        if (!rc && !acc && shuffle)
            rc = zt__err(ZT_EINVAL, "H5MD compressor: shuffle needs a compressor (%s)", ZT_H5W_SUPPORTED);
    } else {
        rc = zt__h5w_codec(j, false, &shuffle, &acc);
    }
    json_decref(j);
    if (rc) {
        json_decref(acc);
        return rc;
    }
    *out = acc;
    return 0;
}

int zt__h5w_set_filters(int64_t dcpl, const json_t *cfg, size_t chunk_bytes, const char *url,
                        const char *path) {
    if (!cfg) return 0;
    const char *id = json_string_value(json_object_get(cfg, "id"));
    bool shuffle = json_is_true(json_object_get(cfg, "shuffle"));
    if (!id) return zt__err(ZT_EINVAL, "%s: %s: compressor config without id", url, path);
    if (shuffle && H5Pset_shuffle((hid_t)dcpl) < 0)
        return zt__err(ZT_EIO, "%s: %s: cannot add the HDF5 shuffle filter", url, path);
    if (!strcmp(id, "gzip")) {
        json_int_t level = json_integer_value(json_object_get(cfg, "level"));
        if (H5Pset_deflate((hid_t)dcpl, (unsigned)level) < 0)
            return zt__err(ZT_EIO, "%s: %s: cannot add the HDF5 deflate filter", url, path);
    } else if (!strcmp(id, "lzf")) {
        if (chunk_bytes > UINT_MAX) return zt__err(ZT_EOVERFLOW, "%s: %s: chunk too large for LZF", url, path);
        /* h5py's cd_values: filter revision, LZF API version, chunk bytes */
        unsigned cd[3] = {4, LZF_VERSION, (unsigned)chunk_bytes};
        if (H5Pset_filter((hid_t)dcpl, ZT_H5W_LZF_ID, H5Z_FLAG_OPTIONAL, 3, cd) < 0)
            return zt__err(ZT_EIO, "%s: %s: cannot add the LZF filter", url, path);
    } else {
        return zt__err(ZT_EUNSUPPORTED, "%s: %s: compressor '%s' (%s)", url, path, id, ZT_H5W_SUPPORTED);
    }
    return 0;
}

/* ---- LZF filter ---------------------------------------------------------------------------- */

/* Encode: the chunk as one raw LZF block; 0 (failure) when it does not shrink,
 * so libhdf5 stores that chunk unfiltered (the filter is optional) as h5py
 * does. Decode: into cd_values[2] bytes (the chunk size), growing if needed. */
static size_t zt__h5w_lzf(unsigned flags, size_t cd_n, const unsigned cd[], size_t nbytes, size_t *buf_size,
                          void **buf) {
    if (nbytes == 0 || nbytes > UINT_MAX) return 0;
    if (!(flags & H5Z_FLAG_REVERSE)) {
        void *out = H5allocate_memory(nbytes, 0);
        if (!out) return 0;
        unsigned r = lzf_compress(*buf, (unsigned)nbytes, out, (unsigned)nbytes);
        if (r == 0) {
            H5free_memory(out);
            return 0;
        }
        H5free_memory(*buf);
        *buf = out;
        *buf_size = nbytes;
        return r;
    }
    size_t cap = cd_n >= 3 && cd[2] ? cd[2] : *buf_size;
    for (;;) {
        if (cap == 0 || cap > UINT_MAX) return 0;
        void *out = H5allocate_memory(cap, 0);
        if (!out) return 0;
        unsigned r = lzf_decompress(*buf, (unsigned)nbytes, out, (unsigned)cap);
        if (r) {
            H5free_memory(*buf);
            *buf = out;
            *buf_size = cap;
            return r;
        }
        int e = errno;
        H5free_memory(out);
        if (e != E2BIG) return 0;
        cap *= 2;
    }
}

static const H5Z_class2_t zt__h5w_lzf_class = {
    H5Z_CLASS_T_VERS, (H5Z_filter_t)ZT_H5W_LZF_ID, 1, 1, "lzf", NULL, NULL, zt__h5w_lzf,
};

int zt__h5w_lzf_register(void) {
    htri_t av = H5Zfilter_avail((H5Z_filter_t)ZT_H5W_LZF_ID);
    if (av > 0) return 0;
    H5Eclear2(H5E_DEFAULT);
    if (H5Zregister(&zt__h5w_lzf_class) < 0) return zt__err(ZT_EIO, "cannot register the LZF filter with libhdf5");
    return 0;
}
