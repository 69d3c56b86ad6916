/* Internal utilities: errors, logging, growable buffers, string lists,
 * overflow-checked arithmetic, thread pool. Not part of the public API. */
#ifndef ZT_UTIL_H
#define ZT_UTIL_H

#include "zarrtraj.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define ZT__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ZT__PRINTF(a, b)
#endif

/* ---- errors ---------------------------------------------------------------
 * zt__err sets the thread-local detail message and returns code, so callers
 * write `return zt__err(ZT_EFORMAT, "%s: bad shape", path);`.
 * zt__err_prefix prepends context ("file.zarrmd: ") to the current message and
 * returns code unchanged, for upper layers that know the file name. */
int zt__err(int code, const char *fmt, ...) ZT__PRINTF(2, 3);
int zt__err_prefix(int code, const char *fmt, ...) ZT__PRINTF(2, 3);
/* Append to the current message (context that must not come first, where
 * the message starts with "<file>: <array>: "). */
int zt__err_suffix(int code, const char *fmt, ...) ZT__PRINTF(2, 3);
void zt__err_clear(void);

/* ---- logging (ZARRTRAJ_LOG=debug|info|warn|error; default warn) ---------- */
enum { ZT_LOG_DEBUG = 0, ZT_LOG_INFO = 1, ZT_LOG_WARN = 2, ZT_LOG_ERROR = 3, ZT_LOG_OFF = 4 };
int zt__log_level(void);
void zt__log(int level, const char *fmt, ...) ZT__PRINTF(2, 3);
/* Send every line to sink instead of stderr (a forked child forwards its log
 * to the parent: the log mutex may have been held by another thread at fork). */
void zt__log_set_sink(void (*sink)(int level, const char *line));
#define ZT_DEBUG(...) do { if (zt__log_level() <= ZT_LOG_DEBUG) zt__log(ZT_LOG_DEBUG, __VA_ARGS__); } while (0)
#define ZT_INFO(...) do { if (zt__log_level() <= ZT_LOG_INFO) zt__log(ZT_LOG_INFO, __VA_ARGS__); } while (0)
#define ZT_WARN(...) do { if (zt__log_level() <= ZT_LOG_WARN) zt__log(ZT_LOG_WARN, __VA_ARGS__); } while (0)

/* ---- large-buffer memory ------------------------------------------------- */
/* Chunk-sized buffers (>= 1 MiB) are mapped directly instead of coming from
 * malloc: glibc keeps freed blocks in per-thread arenas, so a process that
 * fetches on many threads would otherwise hold far more than the cache budget
 * plus the read-ahead window (we measured 1.5-2x). Which allocator owns a
 * block follows from its capacity alone: *cap (in: wanted size; out: the
 * size allocated, page-rounded when mapped) is what zt__mem_free needs.
 * Callers reuse these buffers on hot paths (fresh pages cost page faults). */
void *zt__mem_alloc(size_t *cap);
void zt__mem_free(void *p, size_t cap);
/* Grow p (capacity oldcap, the first keep bytes preserved) to *cap. */
void *zt__mem_grow(void *p, size_t oldcap, size_t keep, size_t *cap);

/* ---- growable byte buffer ------------------------------------------------- */
/* data is owned with zt__mem_* (capacity cap). */
typedef struct zt_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} zt_buf;

void zt__buf_init(zt_buf *b);
void zt__buf_free(zt_buf *b);
/* Ensure capacity >= n (keeps content). */
int zt__buf_reserve(zt_buf *b, size_t n);
/* Set len = n, growing as needed (new bytes uninitialised). */
int zt__buf_resize(zt_buf *b, size_t n);
int zt__buf_append(zt_buf *b, const void *p, size_t n);
int zt__buf_printf(zt_buf *b, const char *fmt, ...) ZT__PRINTF(2, 3);
/* Take ownership of the data (buffer becomes empty); free() it. */
uint8_t *zt__buf_steal(zt_buf *b, size_t *len);

/* ---- strings --------------------------------------------------------------- */
char *zt__strdup(const char *s);           /* NULL-safe */
char *zt__strndup(const char *s, size_t n);
char *zt__asprintf(const char *fmt, ...) ZT__PRINTF(1, 2);
bool zt__str_endswith(const char *s, const char *suffix);
bool zt__str_startswith(const char *s, const char *prefix);
/* Join a and b with one '/', tolerating empty parts. malloc'd. */
char *zt__path_join(const char *a, const char *b);

typedef struct zt_strlist {
    char **items;
    size_t n, cap;
} zt_strlist;
void zt__strlist_init(zt_strlist *l);
void zt__strlist_free(zt_strlist *l);
int zt__strlist_push(zt_strlist *l, const char *s);     /* copies */
int zt__strlist_push_own(zt_strlist *l, char *s);       /* takes ownership */
bool zt__strlist_contains(const zt_strlist *l, const char *s);
void zt__strlist_sort(zt_strlist *l);

/* ---- checked arithmetic ----------------------------------------------------- */
/* Return false on overflow (result unspecified). */
static inline bool zt__mul_ok(int64_t a, int64_t b, int64_t *r) {
    return !__builtin_mul_overflow(a, b, r);
}
static inline bool zt__add_ok(int64_t a, int64_t b, int64_t *r) {
    return !__builtin_add_overflow(a, b, r);
}
static inline bool zt__mulz_ok(size_t a, size_t b, size_t *r) {
    return !__builtin_mul_overflow(a, b, r);
}

/* base64: encode returns a malloc'd string (NULL on allocation failure),
 * RFC 4648 with padding, or with url the URL-safe alphabet without padding;
 * decode accepts both alphabets and skips whitespace. */
char *zt__b64encode(const void *p, size_t n, bool url);
int zt__b64_decode(const char *s, size_t len, zt_buf *out);

/* Monotonic clock in seconds. */
double zt__now(void);

/* Number of online CPUs (>= 1). */
int zt__ncpu(void);

/* ---- thread pool ------------------------------------------------------------- */
typedef struct zt_pool zt_pool;
typedef void (*zt_task_fn)(void *arg);

/* The process-wide pool sized to the cores (created on first use). */
zt_pool *zt__pool_global(void);
int zt__pool_create(int nthreads, zt_pool **out);
void zt__pool_free(zt_pool *p);
int zt__pool_nthreads(const zt_pool *p);
/* Submit a task; it runs on a pool thread. */
int zt__pool_submit(zt_pool *p, zt_task_fn fn, void *arg);

/* A countdown latch to wait for a group of tasks. */
typedef struct zt_latch zt_latch;
zt_latch *zt__latch_new(void);
void zt__latch_add(zt_latch *l, int n);
void zt__latch_done(zt_latch *l);
void zt__latch_wait(zt_latch *l);
void zt__latch_free(zt_latch *l);

/* Run fn(arg_i) for i in [0,n) on the pool (the calling thread helps) and wait.
 * args is an array of n elements of size `stride`. */
void zt__parallel_for(zt_pool *p, size_t n, void (*fn)(void *item), void *args,
                      size_t stride);

#endif
