/* The command line: cat/convert --frames follow Python's slice semantics,
 * as --help promises (for every spec the frames printed are those of
 * list(range(n))[spec], computed by Python itself; positions come out in
 * that order too; convert refuses a backwards slice: steps must increase);
 * errors name --group; convert copies upstream Zarrtraj's varied-steps file
 * (observables sampled at steps without frames, a global and a group
 * observable of the same name) value for value, checked with h5py and
 * zarr-python (check_convert.py). */
#include "testutil.h"

#include <string.h>

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = malloc(1 << 20);
    size_t n = b ? fread(b, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (b) b[n] = 0;
    return b;
}

/* The steps `zarrtraj cat --element step --frames spec` prints, as one line. */
static char *cat_steps(const char *url, const char *spec, const char *tmp, int *status) {
    *status = zt_test_system("'%s' cat '%s' --element step --frames='%s' >'%s.raw' 2>&1; s=$?; tr '\\n' ' ' <'%s.raw' "
                             ">'%s'; exit $s", getenv("ZT_CLI"), url, spec, tmp, tmp, tmp);
    return slurp(tmp);
}

int main(void) {
    char *dir = zt_test_tmpdir("cli");
    char url[1024], tmp[1100], want[1100];
    snprintf(url, sizeof url, "%s/t.zarrmd", dir);
    snprintf(tmp, sizeof tmp, "%s/out.txt", dir);
    snprintf(want, sizeof want, "%s/want.txt", dir);
    enum { N = 7, A = 3 };
    zt_writer_t *w = NULL;
    CHECK_OK(zt_writer_create(url, A, NULL, &w));
    float p[A * 3];
    for (int f = 0; f < N && w; f++) {
        for (int k = 0; k < A * 3; k++) p[k] = (float)(100 * f + k);
        zt_wframe_t fr = {10 * f, (double)f, p, NULL, NULL, NULL, NULL, 0};
        CHECK_OK(zt_writer_write_frame(w, &fr));
    }
    CHECK_OK(zt_writer_close(w));

    const char *specs[] = {"::-1",  "-3::-2", "4:0:-1", "::2",    "1:-1",  "-100:100", "5:2",   "::-3",
                           "-1:-8:-1", "6:-8:-2", "3",    "-1",     "0:7:10", ":",       "2:",    ":3",
                           "-2:",    "::",     "7:",     "-7::-1", "100::-1", "::100",  "-1::-100"};
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        /* Python's answer: the steps 10 * i of list(range(N))[spec] */
        int st = zt_test_system("'%s' -c \"import sys\nr = list(range(%d))\nx = eval('r[' + sys.argv[1] + ']')\n"
                                "x = x if isinstance(x, list) else [x]\nprint(' '.join(str(10 * v) for v in x), end=' ' "
                                "if x else '')\" '%s' >'%s'",
                                zt_test_python(), N, specs[i], want);
        CHECK_EQ_INT(st, 0);
        char *expect = slurp(want), *got = cat_steps(url, specs[i], tmp, &st);
        CHECK_EQ_INT(st, 0);
        if (!expect || !got || strcmp(expect, got)) {
            fprintf(stderr, "--frames %s: got '%s', Python gives '%s'\n", specs[i], got ? got : "?", expect ? expect : "?");
            zt_test_failures++;
        }
        free(expect);
        free(got);
    }
    /* rejected as Python rejects them: a zero step, an index out of range */
    const char *bad[] = {"::0", "7", "-8", "1:2:3:4", "x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int st = 0;
        char *got = cat_steps(url, bad[i], tmp, &st);
        CHECK_EQ_INT(st, 2);
        CHECK(got && strstr(got, "bad --frames"));
        free(got);
    }

    /* positions follow the same order: frame f's first value is 100 f */
    int st = zt_test_system("'%s' cat '%s' --frames=-3::-2 --atoms=1:2 >'%s'", getenv("ZT_CLI"), url, tmp);
    CHECK_EQ_INT(st, 0);
    char *txt = slurp(tmp);
    CHECK(txt && !strcmp(txt, "# frame 4\n403 404 405\n# frame 2\n203 204 205\n# frame 0\n3 4 5\n"));
    free(txt);
    snprintf(want, sizeof want, "%s/rev.npy", dir);
    st = zt_test_system("'%s' cat '%s' --frames=::-1 --format npy -o '%s' && '%s' -c \"import numpy as np, sys\n"
                        "a = np.load(sys.argv[1])\nassert a.shape == (%d, %d, 3), a.shape\n"
                        "assert (a.reshape(%d, -1)[:, 0] == [100 * f for f in range(%d)][::-1]).all(), a\" '%s'",
                        getenv("ZT_CLI"), url, want, zt_test_python(), N, A, N, N, want);
    CHECK_EQ_INT(st, 0);

    /* convert: a forward slice with a stride works, a backward one is refused */
    char out[1100];
    snprintf(out, sizeof out, "%s/c.zarrmd", dir);
    st = zt_test_system("'%s' convert '%s' '%s' --frames=-5::2 2>'%s'", getenv("ZT_CLI"), url, out, tmp);
    CHECK_EQ_INT(st, 0);
    char *got = cat_steps(out, "::", tmp, &st);
    CHECK(got && !strcmp(got, "20 40 60 "));
    free(got);
    st = zt_test_system("'%s' convert '%s' '%s' --overwrite --frames=::-1 2>'%s'", getenv("ZT_CLI"), url, out, tmp);
    CHECK_EQ_INT(st, 2);
    txt = slurp(tmp);
    CHECK(txt && strstr(txt, "increasing steps"));
    free(txt);

    /* several particle groups: the message says how to choose on the command line */
    char *two = zt_test_data("generated/pyh5md_lammps_arkr_two_groups.h5");
    st = zt_test_system("'%s' cat '%s' 2>'%s'", getenv("ZT_CLI"), two, tmp);
    CHECK_EQ_INT(st, 1);
    txt = slurp(tmp);
    CHECK(txt && strstr(txt, "choose one with --group") && !strstr(txt, "group="));
    free(txt);
    free(two);

    const char *vs[] = {"zarrtraj/COORDINATES_VARIED_STEPS_H5MD.h5md", "zarrtraj/COORDINATES_VARIED_STEPS_ZARRMD.zarrmd"};
    const char *outs[] = {"vs.zarrmd", "vs.h5md"};
    for (int i = 0; i < 2; i++) {
        char *in = zt_test_data(vs[i]);
        for (int k = 0; k < 2; k++) {
            snprintf(out, sizeof out, "%s/%d-%s", dir, i, outs[k]);
            st = zt_test_system("'%s' convert '%s' '%s'", getenv("ZT_CLI"), in, out);
            CHECK_EQ_INT(st, 0);
            st = zt_test_system("'%s' '%s/tests/traj/check_convert.py' '%s' '%s'", zt_test_python(),
                                getenv("ZT_SOURCE_DIR"), in, out);
            CHECK_EQ_INT(st, 0);
            /* the observable sampled at steps 1, 3, 5 keeps its step-5 sample
             * (after the last frame), and the frames stay 5 */
            zt_reader_t *r = NULL;
            CHECK_OK(zt_reader_open(out, NULL, &r));
            size_t di = 0;
            if (r) {
                CHECK_EQ_INT(zt_reader_n_frames(r), 5);
                CHECK_OK(zt_reader_data_find(r, "trajectory/obsv1", &di));
                double v[3] = {0};
                int64_t s[3] = {0};
                CHECK_OK(zt_reader_read_data_all(r, di, v, s, NULL));
                CHECK(s[0] == 1 && s[1] == 3 && s[2] == 5 && v[2] == 8);
            }
            zt_reader_close(r);
        }
        free(in);
    }
    free(dir);
    TEST_DONE();
}
