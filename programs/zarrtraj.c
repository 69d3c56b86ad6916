/* zarrtraj command-line tool: dispatch to subcommands. */
#include "cli.h"

#include <string.h>

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} zt_cmd;

/* Subcommands that live in optional parts of the build are weak, so a build
 * without them still links and says so. */
__attribute__((weak)) int zt_cmd_cp(int argc, char **argv);
__attribute__((weak)) int zt_cmd_ls(int argc, char **argv);
__attribute__((weak)) int zt_cmd_index(int argc, char **argv);

static const zt_cmd zt__cmds[] = {
    {"info", zt_cmd_info, "describe a trajectory (groups, atoms, frames, elements, storage)"},
    {"cat", zt_cmd_cat, "print or export values (text or .npy)"},
    {"convert", zt_cmd_convert, "convert/rewrite a trajectory (compression, precision, chunking)"},
    {"synth", zt_cmd_synth, "write a deterministic synthetic MD trajectory"},
    {"cp", NULL, "copy a trajectory between stores (local, s3, gs, az, http)"},
    {"ls", NULL, "list keys under a URL"},
    {"index", NULL, "write a kerchunk reference file for an HDF5/H5MD file"},
};

static void zt__usage(FILE *f) {
    fprintf(f, "zarrtraj %s: stream H5MD and zarrmd trajectories from disk and cloud storage\n\n"
               "usage: zarrtraj COMMAND [options] (zarrtraj COMMAND --help for details)\n\ncommands:\n",
            zt_version());
    for (size_t i = 0; i < sizeof zt__cmds / sizeof *zt__cmds; i++)
        fprintf(f, "  %-8s %s\n", zt__cmds[i].name, zt__cmds[i].help);
    fprintf(f, "\nURLs: plain paths, file://, s3://, gs://, gcs://, az://, abfs://, http(s)://\n"
               "Storage options: -S key=value (endpoint_url, anon, region, key, secret, token, ...)\n"
               "Logging: ZARRTRAJ_LOG=debug|info|warn\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        zt__usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("zarrtraj %s\n", zt_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof zt__cmds / sizeof *zt__cmds; i++) {
        if (strcmp(argv[1], zt__cmds[i].name)) continue;
        int (*fn)(int, char **) = zt__cmds[i].fn;
        if (!fn && !strcmp(argv[1], "cp")) fn = zt_cmd_cp;
        if (!fn && !strcmp(argv[1], "ls")) fn = zt_cmd_ls;
        if (!fn && !strcmp(argv[1], "index")) fn = zt_cmd_index;
        if (!fn) {
            fprintf(stderr, "zarrtraj %s: not available in this build\n", argv[1]);
            return 1;
        }
        return fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "zarrtraj: unknown command '%s'\n", argv[1]);
    zt__usage(stderr);
    return 2;
}
