#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void zt__buf_init(zt_buf *b) { b->data = NULL; b->len = b->cap = 0; }

void zt__buf_free(zt_buf *b) {
    free(b->data);
    zt__buf_init(b);
}

int zt__buf_reserve(zt_buf *b, size_t n) {
    if (n <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < n) {
        if (cap > SIZE_MAX / 2) { cap = n; break; }
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
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
