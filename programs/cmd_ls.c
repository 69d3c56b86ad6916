/* zarrtraj ls URL: keys and "directories" one level under a URL (-r: all keys
 * below it), with -l their sizes. */
#include "cli.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

static void zt__ls_usage(FILE *f) {
    fprintf(f,
            "usage: zarrtraj ls URL [-S key=value ...] [-l] [-r]\n\n"
            "List the keys one level under URL (prefixes end in '/'): local paths,\n"
            "file://, s3://, gs://, gcs://, az://, abfs://; an http(s):// URL or a single\n"
            "object shows that object.\n\n"
            "  -S key=value   storage option (endpoint_url, anon, region, key, secret, ...)\n"
            "  -l             long format: size in bytes and key\n"
            "  -r             every key below URL, not only one level\n");
}

static int zt__ls_print(zt_store *s, const char *key, bool lng) {
    if (!lng) {
        printf("%s\n", *key ? key : s->url);
        return 0;
    }
    zt_stat st;
    int rc = zt__store_head(s, key, &st);
    if (rc) return rc;
    printf("%12lld  %s\n", (long long)st.size, *key ? key : s->url);
    return 0;
}

int zt_cmd_ls(int argc, char **argv) {
    const char *url = NULL;
    zt_options_t *o = NULL;
    bool lng = false, rec = false;
    zt_options_create(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            zt__ls_usage(stdout);
            zt_options_free(o);
            return 0;
        } else if (!strcmp(a, "-S") || !strcmp(a, "--storage-option")) {
            if (i + 1 >= argc || zt_options_set_kv(o, argv[i + 1])) {
                zt_options_free(o);
                return zt_cli_usage_error("ls", "-S needs key=value");
            }
            i++;
        } else if (!strcmp(a, "-l")) {
            lng = true;
        } else if (!strcmp(a, "-r")) {
            rec = true;
        } else if (!strcmp(a, "-lr") || !strcmp(a, "-rl")) {
            lng = rec = true;
        } else if (a[0] == '-' && a[1]) {
            zt_options_free(o);
            return zt_cli_usage_error("ls", "unknown option %s", a);
        } else if (!url) {
            url = a;
        } else {
            zt_options_free(o);
            return zt_cli_usage_error("ls", "too many arguments");
        }
    }
    if (!url) {
        zt_options_free(o);
        return zt_cli_usage_error("ls", "needs a URL");
    }
    zt_store *s = NULL;
    zt_strlist keys, pfx;
    zt__strlist_init(&keys);
    zt__strlist_init(&pfx);
    int rc = zt__store_open(url, o, &s);
    if (!rc) {
        rc = zt__store_list(s, "", !rec, &keys, rec ? NULL : &pfx);
        if (rc == ZT_EUNSUPPORTED || (!rc && keys.n == 0 && pfx.n == 0)) {
            /* Not listable, or a single object: show it (or say it is missing). */
            rc = zt__ls_print(s, "", lng);
            if (rc == ZT_ENOTFOUND && !s->vt->list) rc = zt__err(ZT_ENOTFOUND, "%s: not found", url);
            else if (rc == ZT_ENOTFOUND) rc = 0; /* an empty prefix lists nothing */
        } else if (!rc) {
            for (size_t i = 0; i < pfx.n; i++) printf(lng ? "%12s  %s\n" : "%s%s\n", lng ? "PRE" : "", pfx.items[i]);
            for (size_t i = 0; !rc && i < keys.n; i++) rc = zt__ls_print(s, keys.items[i], lng);
        }
    }
    zt__strlist_free(&keys);
    zt__strlist_free(&pfx);
    zt__store_close(s);
    zt_options_free(o);
    return rc ? zt_cli_fail("ls", rc) : 0;
}
