#include "testutil.h"

#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int zt_test_failures = 0;

char *zt_test_data(const char *rel) {
    const char *d = getenv("ZT_DATA_DIR");
    if (!d || !*d) d = "../shared/data";
    size_t n = strlen(d) + strlen(rel) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", d, rel);
    return p;
}

char *zt_test_tmpdir(const char *name) {
    const char *t = getenv("ZT_TMP");
    if (!t || !*t) t = "/tmp";
    size_t n = strlen(t) + strlen(name) + 32;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s.%ld", t, name, (long)getpid());
    zt_test_system("rm -rf '%s' && mkdir -p '%s'", p, p);
    return p;
}

int zt_test_system(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

const char *zt_test_python(void) {
    const char *p = getenv("ZT_PYTHON");
    return p && *p ? p : "python3";
}
