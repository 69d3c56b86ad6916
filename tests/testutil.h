/* Minimal test harness: CHECK macros that report file:line and keep going,
 * helpers for the shared data folder and a scratch directory. */
#ifndef ZT_TESTUTIL_H
#define ZT_TESTUTIL_H

#include "zarrtraj.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

extern int zt_test_failures;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
            zt_test_failures++;                                                        \
        }                                                                              \
    } while (0)

/* Check a zarrtraj return code; prints the detail message on failure. */
#define CHECK_OK(expr)                                                                 \
    do {                                                                               \
        int rc_ = (expr);                                                              \
        if (rc_ != 0) {                                                                \
            fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #expr,   \
                    zt_err_name(rc_), zt_last_error());                                \
            zt_test_failures++;                                                        \
        }                                                                              \
    } while (0)

#define CHECK_RC(expr, want)                                                           \
    do {                                                                               \
        int rc_ = (expr);                                                              \
        if (rc_ != (want)) {                                                           \
            fprintf(stderr, "%s:%d: %s returned %s, want %s (%s)\n", __FILE__, __LINE__, \
                    #expr, zt_err_name(rc_), zt_err_name(want), zt_last_error());      \
            zt_test_failures++;                                                        \
        }                                                                              \
    } while (0)

#define CHECK_CLOSE(a, b, tol)                                                         \
    do {                                                                               \
        double a_ = (double)(a), b_ = (double)(b);                                     \
        if (!(fabs(a_ - b_) <= (tol) * (1.0 + fabs(b_)))) {                            \
            fprintf(stderr, "%s:%d: %s = %.9g, want %.9g\n", __FILE__, __LINE__, #a,    \
                    a_, b_);                                                           \
            zt_test_failures++;                                                        \
        }                                                                              \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                             \
    do {                                                                               \
        long long a_ = (long long)(a), b_ = (long long)(b);                            \
        if (a_ != b_) {                                                                \
            fprintf(stderr, "%s:%d: %s = %lld, want %lld\n", __FILE__, __LINE__, #a,    \
                    a_, b_);                                                           \
            zt_test_failures++;                                                        \
        }                                                                              \
    } while (0)

/* Exit status for ctest: 0 ok, 1 failures. */
#define TEST_DONE()                                                                    \
    do {                                                                               \
        if (zt_test_failures) fprintf(stderr, "%d check(s) failed\n", zt_test_failures); \
        return zt_test_failures ? 1 : 0;                                               \
    } while (0)

/* Shared data folder (ZT_DATA_DIR or ../shared/data); path joined, malloc'd. */
char *zt_test_data(const char *rel);
/* Fresh scratch directory for this test (under ZT_TMP); malloc'd path. */
char *zt_test_tmpdir(const char *name);
/* Run a shell command, return its exit status. */
int zt_test_system(const char *fmt, ...);
/* ZT_PYTHON (set by ctest: the newest venv), else python3 on PATH. */
const char *zt_test_python(void);

#endif
