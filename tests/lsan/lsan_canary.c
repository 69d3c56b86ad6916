/* LeakSanitizer canary (sanitizer builds only): leaks one block on purpose
 * and exits 0. ctest expects it to fail (WILL_FAIL): if leak detection were
 * off (ASAN_OPTIONS=detect_leaks=0, a sandbox where LSan cannot run), this
 * test fails loudly, instead of the whole suite passing with no leak check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *volatile sink;

int main(void) {
    char *p = malloc(64);
    if (!p) return 1;
    strcpy(p, "deliberately leaked");
    sink = p;
    sink = NULL; /* the only reference is gone: a leak */
    puts("lsan_canary: leaked 64 bytes; LeakSanitizer must report it");
    return 0;
}
