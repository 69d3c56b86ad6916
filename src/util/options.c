/* Storage options: an ordered list of copied key/value strings. */
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

struct zt_options {
    char **keys, **vals;
    size_t n, cap;
};

int zt_options_create(zt_options_t **out) {
    if (!out) return zt__err(ZT_EINVAL, "zt_options_create: out is NULL");
    *out = calloc(1, sizeof **out);
    return *out ? 0 : zt__err(ZT_ENOMEM, "out of memory");
}

void zt_options_free(zt_options_t *o) {
    if (!o) return;
    for (size_t i = 0; i < o->n; i++) {
        free(o->keys[i]);
        free(o->vals[i]);
    }
    free(o->keys);
    free(o->vals);
    free(o);
}

int zt_options_set(zt_options_t *o, const char *key, const char *value) {
    if (!o || !key || !*key) return zt__err(ZT_EINVAL, "zt_options_set: empty key");
    for (size_t i = 0; i < o->n; i++) {
        if (strcmp(o->keys[i], key) != 0) continue;
        if (!value) {
            free(o->keys[i]);
            free(o->vals[i]);
            memmove(o->keys + i, o->keys + i + 1, (o->n - i - 1) * sizeof(char *));
            memmove(o->vals + i, o->vals + i + 1, (o->n - i - 1) * sizeof(char *));
            o->n--;
            return 0;
        }
        char *v = strdup(value);
        if (!v) return zt__err(ZT_ENOMEM, "out of memory");
        free(o->vals[i]);
        o->vals[i] = v;
        return 0;
    }
    if (!value) return 0;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 8;
        char **k = realloc(o->keys, cap * sizeof *k);
        if (!k) return zt__err(ZT_ENOMEM, "out of memory");
        o->keys = k;
        char **v = realloc(o->vals, cap * sizeof *v);
        if (!v) return zt__err(ZT_ENOMEM, "out of memory");
        o->vals = v;
        o->cap = cap;
    }
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    o->keys[o->n] = k;
    o->vals[o->n] = v;
    o->n++;
    return 0;
}

int zt_options_set_kv(zt_options_t *o, const char *kv) {
    const char *eq = kv ? strchr(kv, '=') : NULL;
    if (!eq || eq == kv) return zt__err(ZT_EINVAL, "storage option must be key=value");
    char *key = strndup(kv, (size_t)(eq - kv));
    if (!key) return zt__err(ZT_ENOMEM, "out of memory");
    int rc = zt_options_set(o, key, eq + 1);
    free(key);
    return rc;
}

const char *zt_options_get(const zt_options_t *o, const char *key) {
    if (!o || !key) return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->keys[i], key)) return o->vals[i];
    return NULL;
}

size_t zt_options_count(const zt_options_t *o) { return o ? o->n : 0; }

int zt_options_item(const zt_options_t *o, size_t i, const char **key, const char **value) {
    if (!o || i >= o->n) return zt__err(ZT_ERANGE, "option index %zu out of range", i);
    if (key) *key = o->keys[i];
    if (value) *value = o->vals[i];
    return 0;
}
