/* Fuzz target: a kerchunk reference file (version 0 or 1) and the bytes its
 * references point into. Input: the reference JSON, a NUL byte, then the
 * target's bytes, stored as memory://NAME/data.bin (the harness resolves
 * every target URL to it, so no reference can name a real file or host);
 * the set is opened as reference://... and read through the reader API. */
#include "fuzz.h"

#include <jansson.h>
#include <stdbool.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init();
    return 0;
}

/* Point every absolute reference target (and every template) at the fuzz
 * object; relative targets resolve inside memory://NAME anyway. */
static void fz_retarget(json_t *refs, const char *target) {
    const char *k;
    json_t *v;
    json_object_foreach(refs, k, v) {
        if (json_is_array(v) && json_array_size(v) >= 1 && json_is_string(json_array_get(v, 0))) {
            const char *u = json_string_value(json_array_get(v, 0));
            if (strstr(u, "://") || u[0] == '/') json_array_set_new(v, 0, json_string(target));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t jl = nul ? (size_t)(nul - data) : size;
    json_error_t je;
    json_t *j = json_loadb((const char *)data, jl, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        return 0;
    }
    char name[64], target[128], url[160];
    if (fz_mem_load(".kc", NULL, 0, name, sizeof name)) {
        json_decref(j);
        return 0;
    }
    snprintf(target, sizeof target, "memory://%s/data.bin", name);
    json_t *refs = json_object_get(j, "version") ? json_object_get(j, "refs") : j;
    if (json_is_object(refs)) fz_retarget(refs, target);
    json_t *tpl = json_object_get(j, "templates");
    if (json_is_object(tpl)) {
        const char *k;
        json_t *v;
        json_object_foreach(tpl, k, v) json_object_set_new(tpl, k, json_string(target));
    }
    char *txt = json_dumps(j, JSON_COMPACT);
    if (txt) {
        fz_mem_put(name, "data.bin", nul ? nul + 1 : (const uint8_t *)"", nul ? size - jl - 1 : 0);
        fz_mem_put(name, "refs.json", txt, strlen(txt));
        snprintf(url, sizeof url, "reference://memory://%s/refs.json", name);
        fz_read_traj(url, NULL);
    }
    free(txt);
    fz_mem_clear(name);
    json_decref(j);
    return 0;
}
