/* Zarr v2 writing: .zarray documents and encoded chunk puts. */
#include "zarr/zarr.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

char *zt__zarr_dumps(const json_t *j) {
    return json_dumps(j, JSON_INDENT(4) | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
}

static json_t *zt__fill_json(const zt_array *a) {
    if (!a->has_fill) return json_null();
    uint8_t b[8];
    memcpy(b, a->fill, 8);
    if (a->dtype.big_endian)
        for (int k = 0; k < a->dtype.size / 2; k++) {
            uint8_t t = b[k];
            b[k] = b[a->dtype.size - 1 - k];
            b[a->dtype.size - 1 - k] = t;
        }
    if (a->dtype.kind == 'f') {
        double d;
        if (a->dtype.size == 4) {
            float f;
            memcpy(&f, b, 4);
            d = f;
        } else {
            memcpy(&d, b, 8);
        }
        if (isnan(d)) return json_string("NaN");
        if (isinf(d)) return json_string(d > 0 ? "Infinity" : "-Infinity");
        return json_real(d);
    }
    if (a->dtype.kind == 'b') return json_boolean(b[0]);
    int64_t v = 0;
    for (int k = a->dtype.size - 1; k >= 0; k--) v = (int64_t)(((uint64_t)v << 8) | b[k]);
    if (a->dtype.kind == 'i' && a->dtype.size < 8) {
        int sh = 64 - 8 * a->dtype.size;
        v = (int64_t)((uint64_t)v << sh) >> sh;
    }
    return json_integer(v);
}

json_t *zt__zarr_array_to_json(const zt_array *a) {
    json_t *j = json_object();
    json_t *shape = json_array(), *chunks = json_array();
    for (int d = 0; d < a->ndim; d++) {
        json_array_append_new(shape, json_integer(a->shape[d]));
        json_array_append_new(chunks, json_integer(a->chunks[d]));
    }
    json_t *comp = NULL, *filt = NULL;
    if (zt__pipeline_to_zarr(a->pipeline, &comp, &filt) != 0) {
        comp = json_null();
        filt = json_null();
    }
    char dt[8];
    json_object_set_new(j, "chunks", chunks);
    json_object_set_new(j, "compressor", comp ? comp : json_null());
    json_object_set_new(j, "dtype", json_string(zt__dtype_to_str(a->dtype, dt)));
    json_object_set_new(j, "fill_value", zt__fill_json(a));
    json_object_set_new(j, "filters", filt ? filt : json_null());
    json_object_set_new(j, "order", json_string(a->order_f ? "F" : "C"));
    json_object_set_new(j, "shape", shape);
    json_object_set_new(j, "zarr_format", json_integer(2));
    return j;
}

int zt__zarr_write_chunk(zt_array *a, const int64_t *cidx, const void *data, zt_buf *scratch) {
    int rc = zt__array_encode_chunk(a, data, scratch);
    if (rc) return zt__err_prefix(rc, "%s: encoding chunk: ", a->path);
    char *key = zt__zarr_chunk_key(a, cidx);
    if (!key) return zt__err(ZT_ENOMEM, "out of memory");
    rc = zt__store_put(a->store, key, scratch->data ? (void *)scratch->data : (void *)"", scratch->len);
    if (rc) zt__err_prefix(rc, "%s: ", key);
    free(key);
    return rc;
}
