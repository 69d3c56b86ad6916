/* In-memory store: memory://NAME. Objects live in a process-wide table so a
 * writer and a later reader of the same name see the same data (tests). */
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct zt_mobj {
    char *key; /* "NAME/key" */
    uint8_t *data;
    size_t n;
    uint64_t version;
} zt_mobj;

static pthread_mutex_t zt__mmu = PTHREAD_MUTEX_INITIALIZER;
static zt_mobj *zt__mobjs;
static size_t zt__mn, zt__mcap;
static uint64_t zt__mversion;

typedef struct zt_mstore {
    zt_store base;
    char *name;
} zt_mstore;

static char *zt__mkey(zt_mstore *m, const char *key) { return zt__path_join(m->name, key); }

static zt_mobj *zt__mfind(const char *k) {
    for (size_t i = 0; i < zt__mn; i++)
        if (!strcmp(zt__mobjs[i].key, k)) return &zt__mobjs[i];
    return NULL;
}

static int zt__mget(zt_store *s, const char *key, int64_t offset, int64_t length, zt_buf *out) {
    char *k = zt__mkey((zt_mstore *)s, key);
    if (!k) return zt__err(ZT_ENOMEM, "out of memory");
    pthread_mutex_lock(&zt__mmu);
    zt_mobj *o = zt__mfind(k);
    int rc = 0;
    if (!o) rc = zt__err(ZT_ENOTFOUND, "memory://%s: not found", k);
    else {
        int64_t size = (int64_t)o->n, start = 0, n = size;
        if (offset == ZT_SUFFIX) {
            start = length >= size ? 0 : size - length;
            n = size - start;
        } else if (offset >= 0) {
            start = offset > size ? size : offset;
            n = length > size - start ? size - start : length;
        }
        rc = zt__buf_resize(out, (size_t)n);
        if (!rc && n) memcpy(out->data, o->data + start, (size_t)n);
    }
    pthread_mutex_unlock(&zt__mmu);
    free(k);
    return rc;
}

static int zt__mhead(zt_store *s, const char *key, zt_stat *st) {
    char *k = zt__mkey((zt_mstore *)s, key);
    if (!k) return zt__err(ZT_ENOMEM, "out of memory");
    pthread_mutex_lock(&zt__mmu);
    zt_mobj *o = zt__mfind(k);
    int rc = 0;
    if (!o) rc = zt__err(ZT_ENOTFOUND, "memory://%s: not found", k);
    else {
        st->size = (int64_t)o->n;
        snprintf(st->etag, sizeof st->etag, "m%llu", (unsigned long long)o->version);
    }
    pthread_mutex_unlock(&zt__mmu);
    free(k);
    return rc;
}

static int zt__mput(zt_store *s, const char *key, const void *data, size_t n) {
    char *k = zt__mkey((zt_mstore *)s, key);
    uint8_t *copy = malloc(n ? n : 1);
    if (!k || !copy) {
        free(k);
        free(copy);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    if (n) memcpy(copy, data, n);
    pthread_mutex_lock(&zt__mmu);
    zt_mobj *o = zt__mfind(k);
    int rc = 0;
    if (o) {
        free(o->data);
        free(k);
    } else {
        if (zt__mn == zt__mcap) {
            size_t cap = zt__mcap ? zt__mcap * 2 : 64;
            zt_mobj *p = realloc(zt__mobjs, cap * sizeof *p);
            if (!p) {
                rc = zt__err(ZT_ENOMEM, "out of memory");
                free(k);
                free(copy);
                goto out;
            }
            zt__mobjs = p;
            zt__mcap = cap;
        }
        o = &zt__mobjs[zt__mn++];
        o->key = k;
    }
    o->data = copy;
    o->n = n;
    o->version = ++zt__mversion;
out:
    pthread_mutex_unlock(&zt__mmu);
    return rc;
}

static int zt__mdel(zt_store *s, const char *key) {
    char *k = zt__mkey((zt_mstore *)s, key);
    if (!k) return zt__err(ZT_ENOMEM, "out of memory");
    pthread_mutex_lock(&zt__mmu);
    zt_mobj *o = zt__mfind(k);
    int rc = 0;
    if (!o) rc = zt__err(ZT_ENOTFOUND, "memory://%s: not found", k);
    else {
        free(o->key);
        free(o->data);
        *o = zt__mobjs[--zt__mn];
    }
    pthread_mutex_unlock(&zt__mmu);
    free(k);
    return rc;
}

static int zt__mlist(zt_store *s, const char *prefix, bool delim, zt_strlist *keys,
                     zt_strlist *prefixes) {
    zt_mstore *m = (zt_mstore *)s;
    char *full = zt__asprintf("%s/%s", m->name, prefix);
    if (!full) return zt__err(ZT_ENOMEM, "out of memory");
    size_t nl = strlen(m->name) + 1, pl = strlen(full);
    int rc = 0;
    pthread_mutex_lock(&zt__mmu);
    for (size_t i = 0; rc == 0 && i < zt__mn; i++) {
        const char *k = zt__mobjs[i].key;
        if (strncmp(k, full, pl) != 0) continue;
        const char *rel = k + nl;
        const char *rest = k + pl;
        const char *slash = delim ? strchr(rest, '/') : NULL;
        if (slash) {
            char *p = zt__strndup(rel, (size_t)(slash - rel) + 1);
            if (prefixes && p && !zt__strlist_contains(prefixes, p)) rc = zt__strlist_push_own(prefixes, p);
            else free(p);
        } else {
            rc = zt__strlist_push(keys, rel);
        }
    }
    pthread_mutex_unlock(&zt__mmu);
    free(full);
    zt__strlist_sort(keys);
    if (prefixes) zt__strlist_sort(prefixes);
    return rc;
}

static void zt__mclose(zt_store *s) {
    zt_mstore *m = (zt_mstore *)s;
    free(m->name);
    free(s->url);
    free(m);
}

static const zt_store_vt zt__mem_vt = {
    .scheme = "memory",
    .get = zt__mget,
    .head = zt__mhead,
    .put = zt__mput,
    .del = zt__mdel,
    .list = zt__mlist,
    .close = zt__mclose,
};

int zt__store_memory_open(const char *name, const zt_options_t *opts, zt_store **out) {
    (void)opts;
    zt_mstore *m = calloc(1, sizeof *m);
    if (!m) return zt__err(ZT_ENOMEM, "out of memory");
    m->name = strdup(name && *name ? name : "default");
    size_t l = m->name ? strlen(m->name) : 0;
    while (l > 1 && m->name[l - 1] == '/') m->name[--l] = 0;
    m->base.vt = &zt__mem_vt;
    m->base.url = m->name ? zt__asprintf("memory://%s", m->name) : NULL;
    if (!m->name || !m->base.url) {
        zt__mclose(&m->base);
        return zt__err(ZT_ENOMEM, "out of memory");
    }
    *out = &m->base;
    return 0;
}
