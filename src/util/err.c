#include "util/util.h"

#include <stdio.h>
#include <string.h>

/* Thread-local detail message of the last failure. */
static _Thread_local char zt__msg[2048];

const char *zt_version(void) { return ZT_VERSION_STRING; }

const char *zt_strerror(int err) {
    switch (err) {
    case ZT_OK: return "success";
#define XX(name, val, desc) case ZT_##name: return desc;
        ZT_ERRNO_MAP(XX)
#undef XX
    default: return "unknown error";
    }
}

const char *zt_err_name(int err) {
    switch (err) {
    case ZT_OK: return "ZT_OK";
#define XX(name, val, desc) case ZT_##name: return "ZT_" #name;
        ZT_ERRNO_MAP(XX)
#undef XX
    default: return "ZT_EUNKNOWN";
    }
}

const char *zt_last_error(void) { return zt__msg; }

void zt__err_clear(void) { zt__msg[0] = 0; }

int zt__err(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(zt__msg, sizeof zt__msg, fmt, ap);
    va_end(ap);
    return code;
}

int zt__err_suffix(int code, const char *fmt, ...) {
    size_t k = strlen(zt__msg);
    if (k == 0) k = (size_t)snprintf(zt__msg, sizeof zt__msg, "%s", zt_strerror(code));
    if (k >= sizeof zt__msg - 1) return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(zt__msg + k, sizeof zt__msg - k, fmt, ap);
    va_end(ap);
    return code;
}

int zt__err_prefix(int code, const char *fmt, ...) {
    char pre[1024], old[sizeof zt__msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    /* Do not repeat a prefix the message already starts with. */
    if (strncmp(zt__msg, pre, strlen(pre)) == 0) return code;
    memcpy(old, zt__msg, sizeof old);
    const char *rest = old[0] ? old : zt_strerror(code);
    /* concatenate by hand: the result is truncated to the buffer on purpose */
    size_t a = strlen(pre), b = strlen(rest);
    if (a > sizeof zt__msg - 1) a = sizeof zt__msg - 1;
    if (b > sizeof zt__msg - 1 - a) b = sizeof zt__msg - 1 - a;
    memcpy(zt__msg, pre, a);
    memcpy(zt__msg + a, rest, b);
    zt__msg[a + b] = 0;
    return code;
}
