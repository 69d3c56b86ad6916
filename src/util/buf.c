#include "util/util.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

/* ASan cannot check accesses to mapped memory: keep everything on malloc there. */
#if defined(__SANITIZE_ADDRESS__)
#define ZT__MAP_MIN SIZE_MAX
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ZT__MAP_MIN SIZE_MAX
#endif
#endif
#ifndef ZT__MAP_MIN
#define ZT__MAP_MIN ((size_t)1 << 20)
#endif

static size_t zt__page_round(size_t n) {
    static size_t page; /* set once; relaxed atomics: threads may race to set the same value */
    size_t pg = __atomic_load_n(&page, __ATOMIC_RELAXED);
    if (!pg) {
        long v = sysconf(_SC_PAGESIZE);
        pg = v > 0 ? (size_t)v : 4096;
        __atomic_store_n(&page, pg, __ATOMIC_RELAXED);
    }
    return n > SIZE_MAX - pg ? SIZE_MAX : (n + pg - 1) & ~(pg - 1);
}

/* Recently freed mappings, reused by later allocations of about their size:
 * a chunk decoded into fresh pages pays a page fault and the zeroing of every
 * 4 KiB (measured: a third of the CPU time of iterating 24 MB chunks).
 * Bounded in count and bytes; MADV_FREE lets the kernel take the pages back
 * under memory pressure (a reuse then finds zeros, which it overwrites). */
#define ZT__RECYCLE_N 8
#define ZT__RECYCLE_BYTES ((size_t)256 << 20)
static pthread_mutex_t zt__rec_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    void *p;
    size_t cap;
} zt__rec[ZT__RECYCLE_N];
static size_t zt__nrec, zt__rec_bytes;

static void *zt__rec_take(size_t n, size_t *cap) {
    void *p = NULL;
    pthread_mutex_lock(&zt__rec_mu);
    for (size_t i = 0; i < zt__nrec; i++)
        if (zt__rec[i].cap >= n && zt__rec[i].cap - n <= n / 8) {
            p = zt__rec[i].p;
            *cap = zt__rec[i].cap;
            zt__rec_bytes -= *cap;
            zt__rec[i] = zt__rec[--zt__nrec];
            break;
        }
    pthread_mutex_unlock(&zt__rec_mu);
    return p;
}

static bool zt__rec_put(void *p, size_t cap) {
    bool kept = false;
    pthread_mutex_lock(&zt__rec_mu);
    if (zt__nrec < ZT__RECYCLE_N && zt__rec_bytes + cap <= ZT__RECYCLE_BYTES) {
        zt__rec[zt__nrec].p = p;
        zt__rec[zt__nrec].cap = cap;
        zt__nrec++;
        zt__rec_bytes += cap;
        kept = true;
    }
    pthread_mutex_unlock(&zt__rec_mu);
#ifdef MADV_FREE
    if (kept) (void)madvise(p, cap, MADV_FREE);
#endif
    return kept;
}

void *zt__mem_alloc(size_t *cap) {
    size_t n = *cap ? *cap : 1;
    if (n < ZT__MAP_MIN) {
        *cap = n;
        return malloc(n);
    }
    n = zt__page_round(n);
    void *p = zt__rec_take(n, cap);
    if (p) return p;
    p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    *cap = n;
    return p;
}

void zt__mem_free(void *p, size_t cap) {
    if (!p) return;
    if (cap < ZT__MAP_MIN) free(p);
    else if (!zt__rec_put(p, cap)) munmap(p, cap);
}

void *zt__mem_grow(void *p, size_t oldcap, size_t keep, size_t *cap) {
    if (!p) return zt__mem_alloc(cap);
    size_t n = *cap;
    if (n <= oldcap) {
        *cap = oldcap;
        return p;
    }
    if (n < ZT__MAP_MIN) { /* both on malloc */
        void *q = realloc(p, n);
        if (q) *cap = n;
        return q;
    }
    if (oldcap >= ZT__MAP_MIN) { /* both mapped: move the pages, copy nothing */
        n = zt__page_round(n);
        void *q = mremap(p, oldcap, n, MREMAP_MAYMOVE);
        if (q == MAP_FAILED) return NULL;
        *cap = n;
        return q;
    }
    void *q = zt__mem_alloc(cap);
    if (!q) return NULL;
    memcpy(q, p, keep < oldcap ? keep : oldcap);
    free(p);
    return q;
}

void zt__buf_init(zt_buf *b) { b->data = NULL; b->len = b->cap = 0; }

void zt__buf_free(zt_buf *b) {
    zt__mem_free(b->data, b->cap);
    zt__buf_init(b);
}

int zt__buf_reserve(zt_buf *b, size_t n) {
    if (n <= b->cap) return 0;
    /* doubling keeps appends amortised; a large jump gets exactly what it asks */
    size_t cap = b->cap < 32 ? 64 : b->cap <= SIZE_MAX / 2 ? b->cap * 2 : SIZE_MAX;
    if (cap < n) cap = n;
    uint8_t *p = zt__mem_grow(b->data, b->cap, b->len, &cap);
    if (!p) return zt__err(ZT_ENOMEM, "out of memory allocating %zu bytes", n);
    b->data = p;
    b->cap = cap;
    return 0;
}

int zt__buf_resize(zt_buf *b, size_t n) {
    int rc = zt__buf_reserve(b, n);
    if (rc) return rc;
    b->len = n;
    return 0;
}

int zt__buf_append(zt_buf *b, const void *p, size_t n) {
    if (n == 0) return 0;
    if (b->len > SIZE_MAX - n) return zt__err(ZT_EOVERFLOW, "buffer size overflow");
    int rc = zt__buf_reserve(b, b->len + n);
    if (rc) return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int zt__buf_printf(zt_buf *b, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) { va_end(ap2); return zt__err(ZT_EINVAL, "bad format"); }
    int rc = zt__buf_reserve(b, b->len + (size_t)n + 1);
    if (rc) { va_end(ap2); return rc; }
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return 0;
}

uint8_t *zt__buf_steal(zt_buf *b, size_t *len) {
    uint8_t *p = b->data;
    if (len) *len = b->len;
    if (p && b->cap >= ZT__MAP_MIN) { /* callers free() the result */
        p = malloc(b->len ? b->len : 1);
        if (p) memcpy(p, b->data, b->len);
        zt__buf_free(b);
        return p;
    }
    zt__buf_init(b);
    return p;
}

char *zt__strdup(const char *s) { return s ? strdup(s) : NULL; }

char *zt__strndup(const char *s, size_t n) { return s ? strndup(s, n) : NULL; }

char *zt__asprintf(const char *fmt, ...) {
    va_list ap;
    char *out = NULL;
    va_start(ap, fmt);
    if (vasprintf(&out, fmt, ap) < 0) out = NULL;
    va_end(ap);
    return out;
}

bool zt__str_endswith(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool zt__str_startswith(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

char *zt__path_join(const char *a, const char *b) {
    if (!a || !*a) return strdup(b ? b : "");
    if (!b || !*b) return strdup(a);
    size_t la = strlen(a);
    while (la > 0 && a[la - 1] == '/') la--;
    while (*b == '/') b++;
    return zt__asprintf("%.*s/%s", (int)la, a, b);
}

void zt__strlist_init(zt_strlist *l) { l->items = NULL; l->n = l->cap = 0; }

void zt__strlist_free(zt_strlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    zt__strlist_init(l);
}

int zt__strlist_push_own(zt_strlist *l, char *s) {
    if (!s) return zt__err(ZT_ENOMEM, "out of memory");
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **p = realloc(l->items, cap * sizeof *p);
        if (!p) { free(s); return zt__err(ZT_ENOMEM, "out of memory"); }
        l->items = p;
        l->cap = cap;
    }
    l->items[l->n++] = s;
    return 0;
}

int zt__strlist_push(zt_strlist *l, const char *s) { return zt__strlist_push_own(l, strdup(s)); }

bool zt__strlist_contains(const zt_strlist *l, const char *s) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->items[i], s)) return true;
    return false;
}

static int zt__cmpstr(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void zt__strlist_sort(zt_strlist *l) {
    if (l->n > 1) qsort(l->items, l->n, sizeof(char *), zt__cmpstr);
}

double zt__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int zt__ncpu(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}
