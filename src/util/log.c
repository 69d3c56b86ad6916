#include "util/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int zt__level = -1;
static pthread_once_t zt__log_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t zt__log_mu = PTHREAD_MUTEX_INITIALIZER;
static void (*zt__log_sink)(int level, const char *line);

void zt__log_set_sink(void (*sink)(int level, const char *line)) { zt__log_sink = sink; }

static void zt__log_init(void) {
    const char *e = getenv("ZARRTRAJ_LOG");
    int lvl = ZT_LOG_WARN;
    if (e && *e) {
        if (!strcasecmp(e, "debug")) lvl = ZT_LOG_DEBUG;
        else if (!strcasecmp(e, "info")) lvl = ZT_LOG_INFO;
        else if (!strcasecmp(e, "warn") || !strcasecmp(e, "warning")) lvl = ZT_LOG_WARN;
        else if (!strcasecmp(e, "error")) lvl = ZT_LOG_ERROR;
        else if (!strcasecmp(e, "off") || !strcasecmp(e, "none")) lvl = ZT_LOG_OFF;
    }
    zt__level = lvl;
}

int zt__log_level(void) {
    pthread_once(&zt__log_once, zt__log_init);
    return zt__level;
}

void zt__log(int level, const char *fmt, ...) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < zt__log_level() || level > ZT_LOG_ERROR) return;
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (zt__log_sink) {
        zt__log_sink(level, line);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    pthread_mutex_lock(&zt__log_mu);
    fprintf(stderr, "zarrtraj %02d:%02d:%02d.%03ld %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, names[level], line);
    pthread_mutex_unlock(&zt__log_mu);
}
