/* Codec construction from numcodecs configs and HDF5 filter ids, the short
 * compressor spec parser and the per-thread codec state. */
#include "codec/codec_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <blosc.h>
#include <zstd.h>

/* ---- vtable shared by every codec of this layer ------------------------- */

static int codec_encode(const zt_codec *pc, const void *in, size_t n, zt_buf *out) {
    const zt__codec *c = (const zt__codec *)pc;
    if (c->kind == ZT__KIND_COMPRESSOR) return zt__cmp_encode(c, in, n, out);
    return zt__flt_encode(c, in, n, out);
}

static int codec_decode(const zt_codec *pc, const void *in, size_t n, zt_buf *out,
                        size_t expected) {
    const zt__codec *c = (const zt__codec *)pc;
    size_t size = expected;
    int rc;
    if (size == 0) {
        if (c->kind == ZT__KIND_COMPRESSOR) return zt__cmp_decode_buf(c, in, n, out);
        if ((rc = zt__flt_decoded_size(c, n, &size))) return rc;
    }
    if ((rc = zt__buf_resize(out, size))) return rc;
    rc = c->kind == ZT__KIND_COMPRESSOR ? zt__cmp_decode_into(c, in, n, out->data, size)
                                        : zt__flt_decode_into(c, in, n, out->data, size);
    if (rc) out->len = 0;
    return rc;
}

static size_t codec_decoded_size(const zt_codec *pc, const void *in, size_t n) {
    const zt__codec *c = (const zt__codec *)pc;
    size_t size = 0;
    if (c->kind == ZT__KIND_COMPRESSOR) return zt__cmp_decoded_size(c, in, n);
    if (zt__flt_decoded_size(c, n, &size)) return 0;
    return size;
}

static void codec_free(zt_codec *c) {
    if (!c) return;
    json_decref(c->config);
    free(c);
}

#define ZT__VT(name) { name, codec_encode, codec_decode, codec_decoded_size, codec_free, NULL }
static const zt_codec_vt zt__vts[ZT__C_COUNT] = {
    [ZT__C_BLOSC] = ZT__VT("blosc"),       [ZT__C_ZSTD] = ZT__VT("zstd"),
    [ZT__C_ZLIB] = ZT__VT("zlib"),         [ZT__C_GZIP] = ZT__VT("gzip"),
    [ZT__C_LZ4] = ZT__VT("lz4"),           [ZT__C_BZ2] = ZT__VT("bz2"),
    [ZT__C_LZF] = ZT__VT("lzf"),           [ZT__C_QUANTIZE] = ZT__VT("quantize"),
    [ZT__C_DELTA] = ZT__VT("delta"),       [ZT__C_FSO] = ZT__VT("fixedscaleoffset"),
    [ZT__C_SHUFFLE] = ZT__VT("shuffle"),   [ZT__C_ASTYPE] = ZT__VT("astype"),
    [ZT__C_FLETCHER32] = ZT__VT("fletcher32"), [ZT__C_CRC32C] = ZT__VT("crc32c"),
    [ZT__C_BITROUND] = ZT__VT("bitround"),
};

zt__codec *zt__codec_impl(const zt_codec *c) {
    if (!c || !c->vt || c->vt->free != codec_free) return NULL;
    return (zt__codec *)c;
}

zt__codec *zt__codec_alloc(int cid, int kind, json_t *config) {
    zt__codec *c = calloc(1, sizeof *c);
    if (!c) {
        json_decref(config);
        return NULL;
    }
    c->pub.vt = &zt__vts[cid];
    c->pub.config = config;
    c->cid = cid;
    c->kind = kind;
    c->typesize = 1;
    c->checksum = -1;
    return c;
}

void zt__codec_free(zt_codec *c) {
    if (c && c->vt && c->vt->free) c->vt->free(c);
}

int zt__codec_set_typesize(zt_codec *pc, size_t typesize) {
    zt__codec *c = zt__codec_impl(pc);
    if (c) c->typesize = typesize ? typesize : 1;
    return 0;
}

size_t zt__codec_out_itemsize(const zt__codec *c, size_t in_itemsize) {
    (void)in_itemsize;
    switch (c->cid) {
    case ZT__C_QUANTIZE: case ZT__C_DELTA: case ZT__C_FSO: case ZT__C_ASTYPE:
        return c->at.size;
    case ZT__C_BITROUND: case ZT__C_CRC32C:
        return in_itemsize; /* typed array in, typed array out */
    default:
        return 1; /* numcodecs Shuffle and the compressors return uint8/bytes */
    }
}

int zt__err_size(const char *codec, size_t expected, size_t got) {
    return zt__err(ZT_ECORRUPT, "%s: decoded size mismatch: expected %zu bytes, got %zu",
                   codec, expected, got);
}

/* ---- config parsing helpers ------------------------------------------------ */

static int check_keys(const json_t *cfg, const char *id, const char *const *allowed) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)cfg, key, v) {
        (void)v;
        if (strcmp(key, "id") == 0) continue;
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, key) == 0) ok = true;
        if (!ok) return zt__err(ZT_EINVAL, "codec '%s': unknown parameter '%s'", id, key);
    }
    return 0;
}

/* An integral real that a long long holds (the cast is undefined otherwise). */
static bool zt__real_is_int(double d) {
    return d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == (double)(long long)d;
}

/* Integer parameter (integral reals accepted), default when absent or null. */
static int get_int(const json_t *cfg, const char *id, const char *key, long long def,
                   long long lo, long long hi, long long *out) {
    const json_t *v = json_object_get(cfg, key);
    long long x = def;
    if (v && !json_is_null(v)) {
        if (json_is_integer(v)) {
            x = json_integer_value(v);
        } else if (json_is_real(v) && zt__real_is_int(json_real_value(v))) {
            x = (long long)json_real_value(v);
        } else {
            return zt__err(ZT_EINVAL, "codec '%s': parameter '%s' must be an integer", id, key);
        }
    }
    if (x < lo || x > hi)
        return zt__err(ZT_EINVAL, "codec '%s': parameter '%s' = %lld out of range %lld..%lld",
                       id, key, x, lo, hi);
    *out = x;
    return 0;
}

/* dtype parameter; when absent/null, *out = *def if def, else ZT_EINVAL. */
static int get_dtype(const json_t *cfg, const char *id, const char *key,
                     const zt__cdtype *def, zt__cdtype *out) {
    const json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v)) {
        if (!def) return zt__err(ZT_EINVAL, "codec '%s': parameter '%s' is required", id, key);
        *out = *def;
        return 0;
    }
    if (!json_is_string(v))
        return zt__err(ZT_EINVAL, "codec '%s': parameter '%s' must be a dtype string", id, key);
    int rc = zt__codec_dtype_parse(json_string_value(v), out);
    if (rc)
        return zt__err(rc, "codec '%s': parameter '%s': unsupported dtype '%s'", id, key,
                       json_string_value(v));
    return 0;
}

static int get_number(const json_t *cfg, const char *id, const char *key, double *f,
                      int64_t *i, bool *is_int) {
    const json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v))
        return zt__err(ZT_EINVAL, "codec '%s': parameter '%s' is required", id, key);
    if (json_is_integer(v)) {
        *i = json_integer_value(v);
        *f = (double)*i;
        *is_int = true;
    } else if (json_is_real(v)) {
        *f = json_real_value(v);
        *i = 0;
        *is_int = false;
    } else {
        return zt__err(ZT_EINVAL, "codec '%s': parameter '%s' must be a number", id, key);
    }
    return 0;
}

/* Builds the normalised config; keys inserted in sorted order so that plain
 * json_dumps matches zarr-python's sort_keys output. */
static json_t *obj_new(void) { return json_object(); }
static int obj_set(json_t *o, const char *k, json_t *v) {
    if (!v || json_object_set_new(o, k, v)) return zt__err(ZT_ENOMEM, "out of memory");
    return 0;
}

static int finish(int cid, int kind, json_t *cfg, zt__codec **out) {
    if (!cfg) return zt__err(ZT_ENOMEM, "out of memory");
    *out = zt__codec_alloc(cid, kind, cfg);
    return *out ? 0 : zt__err(ZT_ENOMEM, "out of memory");
}

/* ---- builders ---------------------------------------------------------------- */

static int build_blosc(const json_t *cfg, const char *id, zt__codec **out) {
    static const char *const keys[] = {"cname", "clevel", "shuffle", "blocksize", NULL};
    long long clevel, shuffle, blocksize;
    int rc;
    if ((rc = check_keys(cfg, id, keys))) return rc;
    const json_t *v = json_object_get(cfg, "cname");
    const char *cname = "lz4";
    if (v && !json_is_null(v)) {
        if (!json_is_string(v))
            return zt__err(ZT_EINVAL, "codec 'blosc': parameter 'cname' must be a string");
        cname = json_string_value(v);
    }
    if (strlen(cname) >= sizeof ((zt__codec *)0)->cname || blosc_compname_to_compcode(cname) < 0)
        return zt__err(ZT_EINVAL, "codec 'blosc': parameter 'cname': unsupported compressor '%s'",
                       cname);
    if ((rc = get_int(cfg, id, "clevel", 5, 0, 9, &clevel))) return rc;
    if ((rc = get_int(cfg, id, "shuffle", 1, -1, 2, &shuffle))) return rc;
    if ((rc = get_int(cfg, id, "blocksize", 0, 0, INT_MAX, &blocksize))) return rc;
    json_t *o = obj_new();
    if (!o || obj_set(o, "blocksize", json_integer(blocksize)) ||
        obj_set(o, "clevel", json_integer(clevel)) || obj_set(o, "cname", json_string(cname)) ||
        obj_set(o, "id", json_string("blosc")) || obj_set(o, "shuffle", json_integer(shuffle))) {
        json_decref(o);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    if ((rc = finish(ZT__C_BLOSC, ZT__KIND_COMPRESSOR, o, out))) return rc;
    (*out)->level = (int)clevel;
    (*out)->shuffle = (int)shuffle;
    (*out)->blocksize = (int)blocksize;
    strcpy((*out)->cname, cname);
    return 0;
}

/* zstd, zlib, gzip, bz2, lz4: one integer parameter. */
static int build_level(const json_t *cfg, const char *id, zt__codec **out) {
    static const char *const keys_level[] = {"level", NULL};
    static const char *const keys_zstd[] = {"level", "checksum", NULL};
    static const char *const keys_lz4[] = {"acceleration", NULL};
    int cid;
    const char *key = "level";
    long long def = 1, lo, hi, x;
    const char *const *keys = keys_level;
    if (strcmp(id, "zstd") == 0) {
        cid = ZT__C_ZSTD; lo = ZSTD_minCLevel(); hi = ZSTD_maxCLevel(); keys = keys_zstd;
    } else if (strcmp(id, "zlib") == 0) {
        cid = ZT__C_ZLIB; lo = -1; hi = 9;
    } else if (strcmp(id, "gzip") == 0) {
        cid = ZT__C_GZIP; lo = -1; hi = 9;
    } else if (strcmp(id, "bz2") == 0) {
        cid = ZT__C_BZ2; lo = 1; hi = 9;
    } else {
        cid = ZT__C_LZ4; key = "acceleration"; keys = keys_lz4; lo = INT_MIN; hi = INT_MAX;
    }
    int rc;
    if ((rc = check_keys(cfg, id, keys))) return rc;
    if ((rc = get_int(cfg, id, key, def, lo, hi, &x))) return rc;
    int checksum = -1;
    const json_t *ck = json_object_get(cfg, "checksum");
    if (ck && !json_is_null(ck)) {
        if (!json_is_boolean(ck))
            return zt__err(ZT_EINVAL, "codec 'zstd': parameter 'checksum' must be a boolean");
        checksum = json_is_true(ck);
    }
    json_t *o = obj_new();
    if (!o) return zt__err(ZT_ENOMEM, "out of memory");
    if (cid == ZT__C_LZ4) {
        rc = obj_set(o, "acceleration", json_integer(x)) || obj_set(o, "id", json_string(id));
    } else {
        rc = (checksum >= 0 && obj_set(o, "checksum", json_boolean(checksum))) ||
             obj_set(o, "id", json_string(id)) || obj_set(o, "level", json_integer(x));
    }
    if (rc) {
        json_decref(o);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    if ((rc = finish(cid, ZT__KIND_COMPRESSOR, o, out))) return rc;
    (*out)->level = (int)x;
    (*out)->checksum = checksum;
    return 0;
}

static int build_quantize(const json_t *cfg, const char *id, zt__codec **out) {
    static const char *const keys[] = {"digits", "dtype", "astype", NULL};
    long long digits;
    zt__cdtype dt, at;
    int rc;
    if ((rc = check_keys(cfg, id, keys))) return rc;
    if (!json_object_get(cfg, "digits"))
        return zt__err(ZT_EINVAL, "codec 'quantize': parameter 'digits' is required");
    /* 10.**-digits must stay a finite non-zero double, as in numcodecs */
    if ((rc = get_int(cfg, id, "digits", 0, -300, 300, &digits))) return rc;
    if ((rc = get_dtype(cfg, id, "dtype", NULL, &dt))) return rc;
    if ((rc = get_dtype(cfg, id, "astype", &dt, &at))) return rc;
    if (dt.kind != 'f' || at.kind != 'f')
        return zt__err(ZT_EINVAL, "codec 'quantize': only floating point data types are supported");
    json_t *o = obj_new();
    if (!o || obj_set(o, "astype", json_string(zt__codec_dtype_str(at))) ||
        obj_set(o, "digits", json_integer(digits)) ||
        obj_set(o, "dtype", json_string(zt__codec_dtype_str(dt))) ||
        obj_set(o, "id", json_string("quantize"))) {
        json_decref(o);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    if ((rc = finish(ZT__C_QUANTIZE, ZT__KIND_FILTER, o, out))) return rc;
    (*out)->digits = (int)digits;
    (*out)->dt = dt;
    (*out)->at = at;
    (*out)->identity_dec = dt.size == at.size && dt.swap == at.swap;
    return 0;
}

static int build_delta(const json_t *cfg, const char *id, zt__codec **out) {
    static const char *const keys[] = {"dtype", "astype", NULL};
    zt__cdtype dt, at;
    int rc;
    if ((rc = check_keys(cfg, id, keys))) return rc;
    if ((rc = get_dtype(cfg, id, "dtype", NULL, &dt))) return rc;
    if ((rc = get_dtype(cfg, id, "astype", &dt, &at))) return rc;
    json_t *o = obj_new();
    if (!o || obj_set(o, "astype", json_string(zt__codec_dtype_str(at))) ||
        obj_set(o, "dtype", json_string(zt__codec_dtype_str(dt))) ||
        obj_set(o, "id", json_string("delta"))) {
        json_decref(o);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    if ((rc = finish(ZT__C_DELTA, ZT__KIND_FILTER, o, out))) return rc;
    (*out)->dt = dt;
    (*out)->at = at;
    return 0;
}

static int build_fso(const json_t *cfg, const char *id, zt__codec **out) {
    static const char *const keys[] = {"offset", "scale", "dtype", "astype", NULL};
    zt__cdtype dt, at;
    double sf = 0, of = 0; /* set by get_number on success; zeroed for -O3's flow analysis */
    int64_t si = 0, oi = 0;
    bool sint = false, oint = false;
    int rc;
    if ((rc = check_keys(cfg, id, keys))) return rc;
    if ((rc = get_number(cfg, id, "offset", &of, &oi, &oint))) return rc;
    if ((rc = get_number(cfg, id, "scale", &sf, &si, &sint))) return rc;
    if ((rc = get_dtype(cfg, id, "dtype", NULL, &dt))) return rc;
    if ((rc = get_dtype(cfg, id, "astype", &dt, &at))) return rc;
    json_t *o = obj_new();
    if (!o || obj_set(o, "astype", json_string(zt__codec_dtype_str(at))) ||
        obj_set(o, "dtype", json_string(zt__codec_dtype_str(dt))) ||
        obj_set(o, "id", json_string("fixedscaleoffset")) ||
        obj_set(o, "offset", json_deep_copy(json_object_get(cfg, "offset"))) ||
        obj_set(o, "scale", json_deep_copy(json_object_get(cfg, "scale")))) {
        json_decref(o);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    if ((rc = finish(ZT__C_FSO, ZT__KIND_FILTER, o, out))) return rc;
    zt__codec *c = *out;
    c->dt = dt;
    c->at = at;
    c->scale_f = sf; c->scale_i = si; c->scale_is_int = sint;
    c->offset_f = of; c->offset_i = oi; c->offset_is_int = oint;
    return 0;
}

static int make_shuffle(size_t elemsize, bool hdf5, zt__codec **out) {
    json_t *o = obj_new();
    if (!o || obj_set(o, "elementsize", json_integer((json_int_t)elemsize)) ||
        obj_set(o, "id", json_string("shuffle"))) {
        json_decref(o);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    int rc = finish(ZT__C_SHUFFLE, ZT__KIND_FILTER, o, out);
    if (rc) return rc;
    (*out)->elemsize = elemsize;
    (*out)->hdf5 = hdf5;
    (*out)->identity_dec = elemsize <= 1;
    return 0;
}

static int build_shuffle(const json_t *cfg, const char *id, zt__codec **out) {
    static const char *const keys[] = {"elementsize", NULL};
    long long es;
    int rc;
    if ((rc = check_keys(cfg, id, keys))) return rc;
    if ((rc = get_int(cfg, id, "elementsize", 4, 0, INT_MAX, &es))) return rc;
    return make_shuffle((size_t)es, false, out);
}

static int build_astype(const json_t *cfg, const char *id, zt__codec **out) {
    static const char *const keys[] = {"encode_dtype", "decode_dtype", NULL};
    zt__cdtype dt, at;
    int rc;
    if ((rc = check_keys(cfg, id, keys))) return rc;
    if ((rc = get_dtype(cfg, id, "encode_dtype", NULL, &at))) return rc;
    if ((rc = get_dtype(cfg, id, "decode_dtype", NULL, &dt))) return rc;
    json_t *o = obj_new();
    if (!o || obj_set(o, "decode_dtype", json_string(zt__codec_dtype_str(dt))) ||
        obj_set(o, "encode_dtype", json_string(zt__codec_dtype_str(at))) ||
        obj_set(o, "id", json_string("astype"))) {
        json_decref(o);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    if ((rc = finish(ZT__C_ASTYPE, ZT__KIND_FILTER, o, out))) return rc;
    (*out)->dt = dt;
    (*out)->at = at;
    (*out)->identity_dec = dt.kind == at.kind && dt.size == at.size && dt.swap == at.swap;
    return 0;
}

static int make_simple(int cid, int kind, const char *name, zt__codec **out) {
    json_t *o = obj_new();
    if (!o || obj_set(o, "id", json_string(name))) {
        json_decref(o);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    return finish(cid, kind, o, out);
}

static int build_fletcher32(const json_t *cfg, const char *id, zt__codec **out) {
    static const char *const keys[] = {NULL};
    int rc = check_keys(cfg, id, keys);
    return rc ? rc : make_simple(ZT__C_FLETCHER32, ZT__KIND_CHECKSUM, "fletcher32", out);
}

static int build_crc32c(const json_t *cfg, const char *id, zt__codec **out) {
    static const char *const keys[] = {NULL};
    int rc = check_keys(cfg, id, keys);
    return rc ? rc : make_simple(ZT__C_CRC32C, ZT__KIND_CHECKSUM, "crc32c", out);
}

/* numcodecs BitRound: encoding drops mantissa bits, decoding is the identity. */
static int build_bitround(const json_t *cfg, const char *id, zt__codec **out) {
    static const char *const keys[] = {"keepbits", NULL};
    long long kb;
    int rc;
    if ((rc = check_keys(cfg, id, keys))) return rc;
    if (!json_object_get(cfg, "keepbits"))
        return zt__err(ZT_EINVAL, "codec 'bitround': parameter 'keepbits' is required");
    if ((rc = get_int(cfg, id, "keepbits", 0, 0, 52, &kb))) return rc;
    json_t *o = obj_new();
    if (!o || obj_set(o, "id", json_string("bitround")) || obj_set(o, "keepbits", json_integer(kb))) {
        json_decref(o);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    if ((rc = finish(ZT__C_BITROUND, ZT__KIND_FILTER, o, out))) return rc;
    (*out)->keepbits = (int)kb;
    (*out)->identity_dec = true;
    return 0;
}

#ifdef ZT_HAVE_HDF5
/* h5py's LZF filter under the id our kerchunk references use (raw LZF block). */
static int build_lzf(const json_t *cfg, const char *id, zt__codec **out) {
    static const char *const keys[] = {NULL};
    int rc = check_keys(cfg, id, keys);
    return rc ? rc : make_simple(ZT__C_LZF, ZT__KIND_COMPRESSOR, "lzf", out);
}
#endif

typedef struct reg_entry {
    const char *id;
    int kind;
    int (*build)(const json_t *cfg, const char *id, zt__codec **out);
} reg_entry;

static const reg_entry zt__registry[] = {
    {"blosc", ZT__KIND_COMPRESSOR, build_blosc},
    {"zstd", ZT__KIND_COMPRESSOR, build_level},
    {"zlib", ZT__KIND_COMPRESSOR, build_level},
    {"gzip", ZT__KIND_COMPRESSOR, build_level},
    {"lz4", ZT__KIND_COMPRESSOR, build_level},
    {"bz2", ZT__KIND_COMPRESSOR, build_level},
    {"quantize", ZT__KIND_FILTER, build_quantize},
    {"delta", ZT__KIND_FILTER, build_delta},
    {"fixedscaleoffset", ZT__KIND_FILTER, build_fso},
    {"shuffle", ZT__KIND_FILTER, build_shuffle},
    {"astype", ZT__KIND_FILTER, build_astype},
    {"fletcher32", ZT__KIND_CHECKSUM, build_fletcher32},
    {"crc32c", ZT__KIND_CHECKSUM, build_crc32c},
    {"bitround", ZT__KIND_FILTER, build_bitround},
#ifdef ZT_HAVE_HDF5
    {"lzf", ZT__KIND_COMPRESSOR, build_lzf},
#endif
};

static const reg_entry *reg_find(const char *id) {
    for (size_t i = 0; i < sizeof zt__registry / sizeof zt__registry[0]; i++)
        if (strcmp(zt__registry[i].id, id) == 0) return &zt__registry[i];
    return NULL;
}

int zt__codec_from_json(const json_t *config, zt_codec **out) {
    *out = NULL;
    if (!json_is_object(config))
        return zt__err(ZT_EINVAL, "codec config is not a JSON object");
    const char *id = json_string_value(json_object_get(config, "id"));
    if (!id) return zt__err(ZT_EINVAL, "codec config has no string 'id'");
    const reg_entry *e = reg_find(id);
    if (!e) return zt__err(ZT_EUNSUPPORTED, "unsupported codec '%s'", id);
    zt__codec *c = NULL;
    int rc = e->build(config, id, &c);
    if (rc) return rc;
    *out = &c->pub;
    return 0;
}

/* ---- HDF5 filters --------------------------------------------------------------- */

static const char *hdf5_filter_name(unsigned id) {
    switch (id) {
    case 1: return "deflate";
    case 2: return "shuffle";
    case 3: return "fletcher32";
    case 4: return "szip";
    case 5: return "nbit";
    case 6: return "scaleoffset";
    case 307: return "bzip2";
    case 32000: return "lzf";
    case 32001: return "blosc";
    case 32004: return "lz4";
    case 32008: return "bitshuffle";
    case 32015: return "zstd";
    default: return "unknown";
    }
}

int zt__codec_from_hdf5(unsigned filter_id, const unsigned *cd_values, size_t n_cd,
                        size_t elem_size, const char *filter_name, zt_codec **out) {
    *out = NULL;
    zt__codec *c = NULL;
    int rc;
    const char *name = filter_name && *filter_name ? filter_name : hdf5_filter_name(filter_id);
    switch (filter_id) {
    case 1: { /* H5Z_FILTER_DEFLATE: cd[0] = level; the data is a zlib stream */
        unsigned level = n_cd >= 1 && cd_values ? cd_values[0] : 6;
        if (level > 9) return zt__err(ZT_EINVAL, "HDF5 deflate filter: bad level %u", level);
        json_t *o = obj_new();
        if (!o || obj_set(o, "id", json_string("zlib")) ||
            obj_set(o, "level", json_integer(level))) {
            json_decref(o);
            return zt__err(ZT_ENOMEM, "out of memory");
        }
        if ((rc = finish(ZT__C_ZLIB, ZT__KIND_COMPRESSOR, o, &c))) return rc;
        c->level = (int)level;
        break;
    }
    case 2: { /* H5Z_FILTER_SHUFFLE: cd[0] = element size (set_local) */
        size_t es = n_cd >= 1 && cd_values && cd_values[0] ? cd_values[0] : elem_size;
        if ((rc = make_shuffle(es, true, &c))) return rc;
        break;
    }
    case 3:
        if ((rc = make_simple(ZT__C_FLETCHER32, ZT__KIND_CHECKSUM, "fletcher32", &c))) return rc;
        break;
    case 32000:
#ifdef ZT_HAVE_HDF5
        if ((rc = make_simple(ZT__C_LZF, ZT__KIND_COMPRESSOR, "lzf", &c))) return rc;
        break;
#else
        return zt__err(ZT_EUNSUPPORTED,
                       "unsupported HDF5 filter 32000 (%s): built without HDF5/LZF support", name);
#endif
    default:
        return zt__err(ZT_EUNSUPPORTED, "unsupported HDF5 filter %u (%s)", filter_id, name);
    }
    *out = &c->pub;
    return 0;
}

/* ---- per-thread state ------------------------------------------------------------ */

static pthread_key_t zt__tls_key;
static pthread_once_t zt__tls_once = PTHREAD_ONCE_INIT;
static int zt__tls_key_ok;
static _Thread_local zt__codec_tls zt__tls;
static _Thread_local int zt__tls_registered;

/* Runs at thread exit (pthread key destructor), so pool threads do not leak. */
static void tls_destroy(void *p) {
    zt__codec_tls *t = p;
    for (int l = 0; l < ZT__PIPE_NEST; l++)
        for (int i = 0; i < 2; i++) zt__buf_free(&t->scratch[l][i]);
    zt__buf_free(&t->blosc_tmp);
    ZSTD_freeDCtx(t->zstd_dctx);
    ZSTD_freeCCtx(t->zstd_cctx);
    t->zstd_dctx = t->zstd_cctx = NULL;
}

static void tls_key_init(void) { zt__tls_key_ok = pthread_key_create(&zt__tls_key, tls_destroy) == 0; }

zt__codec_tls *zt__codec_tls_get(void) {
    if (!zt__tls_registered) {
        pthread_once(&zt__tls_once, tls_key_init);
        if (zt__tls_key_ok) pthread_setspecific(zt__tls_key, &zt__tls);
        zt__tls_registered = 1;
    }
    return &zt__tls;
}

/* ---- short specs ----------------------------------------------------------------- */

static json_t *spec_value(const char *s) {
    char *end;
    if (!*s) return json_string(s);
    errno = 0;
    long long i = strtoll(s, &end, 10);
    if (!*end && errno == 0) return json_integer(i);
    errno = 0;
    double d = strtod(s, &end);
    if (!*end && errno == 0 && !isspace((unsigned char)s[0])) return json_real(d);
    if (strcmp(s, "true") == 0) return json_true();
    if (strcmp(s, "false") == 0) return json_false();
    return json_string(s);
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

static int spec_short(const char *spec, json_t **obj) {
    char *copy = zt__strdup(spec);
    if (!copy) return zt__err(ZT_ENOMEM, "out of memory");
    json_t *o = json_object();
    int rc = 0;
    char *colon = strchr(copy, ':');
    if (colon) *colon = 0;
    char *id = trim(copy);
    for (char *p = id; *p; p++) *p = (char)tolower((unsigned char)*p);
    if (!o) {
        rc = zt__err(ZT_ENOMEM, "out of memory");
        goto done;
    }
    if (!*id) {
        rc = zt__err(ZT_EINVAL, "compressor spec '%s': missing codec id", spec);
        goto done;
    }
    if (json_object_set_new(o, "id", json_string(id))) {
        rc = zt__err(ZT_ENOMEM, "out of memory");
        goto done;
    }
    if (colon) {
        char *save = NULL;
        for (char *tok = strtok_r(colon + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(tok, '=');
            if (!eq) {
                rc = zt__err(ZT_EINVAL, "compressor spec '%s': expected key=value, got '%s'",
                             spec, trim(tok));
                goto done;
            }
            *eq = 0;
            char *key = trim(tok), *val = trim(eq + 1);
            if (!*key || strcmp(key, "id") == 0) {
                rc = zt__err(ZT_EINVAL, "compressor spec '%s': bad key '%s'", spec, key);
                goto done;
            }
            if (json_object_get(o, key)) {
                rc = zt__err(ZT_EINVAL, "compressor spec '%s': duplicate key '%s'", spec, key);
                goto done;
            }
            if (json_object_set_new(o, key, spec_value(val))) {
                rc = zt__err(ZT_ENOMEM, "out of memory");
                goto done;
            }
        }
    }
done:
    free(copy);
    if (rc) {
        json_decref(o);
        return rc;
    }
    *obj = o;
    return 0;
}

int zt__codec_spec_parse(const char *spec, json_t **config) {
    *config = NULL;
    if (!spec) return zt__err(ZT_EINVAL, "compressor spec is NULL");
    while (isspace((unsigned char)*spec)) spec++;
    if (!*spec) return zt__err(ZT_EINVAL, "empty compressor spec");
    size_t len = strlen(spec);
    while (len && isspace((unsigned char)spec[len - 1])) len--;
    if ((len == 4 && (strncmp(spec, "none", 4) == 0 || strncmp(spec, "null", 4) == 0)))
        return 0;
    json_t *obj = NULL;
    int rc;
    if (spec[0] == '{') {
        json_error_t jerr;
        obj = json_loadb(spec, len, 0, &jerr);
        if (!obj) return zt__err(ZT_EINVAL, "compressor spec: invalid JSON: %s", jerr.text);
        if (!json_is_object(obj)) {
            json_decref(obj);
            return zt__err(ZT_EINVAL, "compressor spec: JSON is not an object");
        }
    } else if ((rc = spec_short(spec, &obj))) {
        return rc;
    }
    const char *id = json_string_value(json_object_get(obj, "id"));
    const reg_entry *e = id ? reg_find(id) : NULL;
    if (!id) {
        rc = zt__err(ZT_EINVAL, "compressor spec: missing string 'id'");
    } else if (!e) {
        rc = zt__err(ZT_EUNSUPPORTED, "unsupported compressor '%s'", id);
    } else if (e->kind != ZT__KIND_COMPRESSOR) {
        rc = zt__err(ZT_EINVAL, "compressor spec: '%s' is a filter, not a compressor", id);
    } else {
        zt_codec *c = NULL;
        rc = zt__codec_from_json(obj, &c);
        if (!rc) {
            *config = json_deep_copy(c->config);
            if (!*config) rc = zt__err(ZT_ENOMEM, "out of memory");
            zt__codec_free(c);
        }
    }
    json_decref(obj);
    return rc;
}

int zt_codec_spec_to_json(const char *spec, char **json_out) {
    if (!json_out) return zt__err(ZT_EINVAL, "json_out is NULL");
    *json_out = NULL;
    json_t *cfg = NULL;
    int rc = zt__codec_spec_parse(spec, &cfg);
    if (rc) return rc;
    char *s = cfg ? json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS) : zt__strdup("null");
    json_decref(cfg);
    if (!s) return zt__err(ZT_ENOMEM, "out of memory");
    *json_out = s;
    return 0;
}

int zt__codec_quantize_new(int digits, const char *dtype, zt_codec **out) {
    *out = NULL;
    if (!dtype) return zt__err(ZT_EINVAL, "quantize: dtype is NULL");
    json_t *o = json_pack("{s:s, s:i, s:s, s:s}", "id", "quantize", "digits", digits, "dtype",
                          dtype, "astype", dtype);
    if (!o) return zt__err(ZT_ENOMEM, "out of memory");
    int rc = zt__codec_from_json(o, out);
    json_decref(o);
    return rc;
}
