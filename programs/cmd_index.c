/* zarrtraj index: write a kerchunk reference file (version 1 JSON) for an
 * HDF5/H5MD file, so zarr-python + fsspec (or zarrtraj's reference store) read
 * it as a Zarr hierarchy without libhdf5. */
#ifdef ZT_HAVE_HDF5
#include "format/registry.h"
#include "array/array.h"
#include "hdf5/hdf5.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void zt__index_usage(FILE *f) {
    fprintf(f,
            "usage: zarrtraj index FILE.h5md [-o refs.json] [--target URL] [-S key=value ...]\n\n"
            "Write a kerchunk reference set (version 1) for an HDF5/H5MD file: the Zarr v2\n"
            "metadata of every group and dataset plus [url, offset, length] for every chunk.\n"
            "Open it with fsspec's ReferenceFileSystem + zarr-python, or with zarrtraj.\n\n"
            "  -o FILE        output file (default: standard output)\n"
            "  --target URL   URL written into the chunk references (default: FILE, made\n"
            "                 absolute for local paths)\n"
            "  -S key=value   storage option (repeatable), e.g. anon=true, index_cache=false\n"
            "\nArrays compressed with LZF or with the Fletcher32 checksum keep the codec ids\n"
            "\"lzf\"/\"fletcher32\", which numcodecs 0.11 does not know (zarrtraj reads them).\n");
}

static int zt__index_fail(zt_options_t *o, zt_tree *t, json_t *refs) {
    fprintf(stderr, "zarrtraj index: %s\n", zt_last_error()[0] ? zt_last_error() : "failed");
    json_decref(refs);
    zt__tree_free(t);
    zt_options_free(o);
    return 1;
}

int zt_cmd_index(int argc, char **argv) {
    const char *in = NULL, *outp = NULL, *target = NULL;
    zt_options_t *o = NULL;
    zt_tree *t = NULL;
    json_t *refs = NULL;
    if (zt_options_create(&o)) return zt__index_fail(o, t, refs);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            zt__index_usage(stdout);
            zt_options_free(o);
            return 0;
        } else if (!strcmp(a, "-o") && i + 1 < argc) {
            outp = argv[++i];
        } else if (!strcmp(a, "--target") && i + 1 < argc) {
            target = argv[++i];
        } else if (!strcmp(a, "-S") && i + 1 < argc) {
            if (zt_options_set_kv(o, argv[++i])) return zt__index_fail(o, t, refs);
        } else if (a[0] == '-' && a[1]) {
            zt__err(ZT_EINVAL, "unknown option '%s' (see --help)", a);
            return zt__index_fail(o, t, refs);
        } else if (!in) {
            in = a;
        } else {
            zt__err(ZT_EINVAL, "more than one input file (see --help)");
            return zt__index_fail(o, t, refs);
        }
    }
    if (!in) {
        zt__err(ZT_EINVAL, "no input file (see --help)");
        return zt__index_fail(o, t, refs);
    }
    int rc = zt__tree_open(in, o, &t);
    if (rc) return zt__index_fail(o, t, refs);
    if (strcmp(t->format, "h5md") != 0) {
        zt__err(ZT_ENOTHDF5, "%s: not an HDF5 file (zarrmd needs no index)", in);
        return zt__index_fail(o, t, refs);
    }
    char absp[PATH_MAX];
    if (!target) {
        target = in;
        if (zt__store_can(t->store, ZT_STORE_CAP_LOCAL_PATH) && t->store->local_path && realpath(t->store->local_path, absp)) target = absp;
    }
    if (zt__hdf5_kerchunk_refs(t, target, &refs)) return zt__index_fail(o, t, refs);
    int flags = JSON_INDENT(1) | JSON_SORT_KEYS;
    if (outp && strcmp(outp, "-") != 0) {
        char *tmp = zt__asprintf("%s.tmp", outp);
        if (!tmp || json_dump_file(refs, tmp, flags) != 0 || rename(tmp, outp) != 0) {
            if (tmp) remove(tmp);
            free(tmp);
            zt__err(ZT_EIO, "%s: cannot write", outp);
            return zt__index_fail(o, t, refs);
        }
        free(tmp);
    } else if (json_dumpf(refs, stdout, flags) != 0 || fputc('\n', stdout) == EOF) {
        zt__err(ZT_EIO, "cannot write to standard output");
        return zt__index_fail(o, t, refs);
    }
    json_decref(refs);
    zt__tree_free(t);
    zt_options_free(o);
    return 0;
}
#else
typedef int zt__cmd_index_unused;
#endif
