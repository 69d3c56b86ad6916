/* Fuzz target: the listing and error responses of the stores. Input: one
 * selector byte, the listing prefix (up to a newline), then the response
 * body:
 *   0  S3 ListObjectsV2 page (XML)      1  Azure List Blobs page (XML)
 *   2  GCS objects.list page (JSON)     3  HTML directory index (http)
 *   4  the XML parser alone (errors, multipart upload ids)
 * Every accepted entry must lie under the prefix, with the prefix removed. */
#include "fuzz.h"

#include "store/net/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init();
    return 0;
}

static void fz_walk(const zt_xml *x, int depth) {
    for (; x; x = x->next) {
        if (!x->name) abort();
        (void)zt__xml_text(x, "Code");
        (void)zt__xml_text(x, "Error/Message");
        if (depth < 70) fz_walk(x->child, depth + 1);
        else abort(); /* the parser limits nesting */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned sel = data[0] % 5;
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) return 0;
    char *prefix = zt__strndup(p, (size_t)(nl - p));
    if (!prefix || strlen(prefix) != (size_t)(nl - p)) { /* a NUL inside */
        free(prefix);
        return 0;
    }
    const char *body = nl + 1;
    size_t n = (size_t)(end - body);
    /* the stores list "dir/" prefixes of a root: strip is the root part */
    size_t pl = strlen(prefix), strip = 0;
    const char *slash = strchr(prefix, '/');
    if (slash) strip = (size_t)(slash - prefix) + 1;
    zt_strlist keys, pfx;
    zt__strlist_init(&keys);
    zt__strlist_init(&pfx);
    char *next = NULL;
    int rc = 0;
    switch (sel) {
    case 0: rc = zt__s3_list_page("s3://b", body, n, prefix, strip, &keys, &pfx, &next); break;
    case 1: rc = zt__az_list_page("az://c", body, n, prefix, strip, &keys, &pfx, &next); break;
    case 2: rc = zt__gcs_list_page("gs://b", body, n, prefix, strip, &keys, &pfx, &next); break;
    case 3: rc = zt__http_parse_index("http://fuzz", body, n, prefix, &keys, &pfx); break;
    default: {
        zt_xml *x = zt__xml_parse(body, n);
        fz_walk(x, 0);
        zt__xml_free(x);
        break;
    }
    }
    if (rc == 0 && sel <= 2) {
        /* what came back is the part after the root, still under the prefix */
        for (size_t i = 0; i < keys.n + pfx.n; i++) {
            const char *k = i < keys.n ? keys.items[i] : pfx.items[i - keys.n];
            if (!k[0] || strncmp(k, prefix + strip, pl - strip)) abort();
        }
        if (next && !*next) abort();
    }
    if (rc == 0 && sel == 3) {
        for (size_t i = 0; i < keys.n + pfx.n; i++) {
            const char *k = i < keys.n ? keys.items[i] : pfx.items[i - keys.n];
            const char *rel = k;
            if (*prefix) {
                if (strncmp(k, prefix, pl) || k[pl] != '/') abort(); /* outside the directory */
                rel = k + pl + 1;
            }
            if (!*rel || strchr(rel, '/') || !strcmp(rel, "..") || !strcmp(rel, ".")) abort();
        }
    }
    free(next);
    zt__strlist_free(&keys);
    zt__strlist_free(&pfx);
    free(prefix);
    return 0;
}
