/* zarrtraj cp / ls end to end: a zarrmd-like tree local -> s3 -> azure ->
 * local, a big single object local -> s3 (multipart) -> gcs (resumable) ->
 * local, listings, and one-line errors with a non-zero exit. */
#include "storetest.h"

int main(void) {
    st_emulators("s3 azure gcs", "ZT_S3_ENDPOINT");
    st_emulators("azure", "ZT_AZURE_ENDPOINT");
    st_emulators("gcs", "ZT_GCS_ENDPOINT");
    const char *cli = getenv("ZT_CLI");
    if (!cli) return 77;
    char *t = zt_test_tmpdir("clicp");
    long id = (long)getpid();
    CHECK_EQ_INT(zt_test_system("mkdir -p %s/a.zarrmd/particles/g/position/value && cd %s/a.zarrmd && "
                                "echo '{\"zarr_format\": 2}' > .zgroup && for i in 0 1 2 3 4 5 6 7; do "
                                "head -c 200000 /dev/urandom > particles/g/position/value/$i.0.0; done && "
                                "head -c 40000000 /dev/urandom > %s/big.h5md", t, t, t), 0);
    char s3[512], az[512];
    snprintf(s3, sizeof s3, "-S endpoint_url=%s -S key=%s -S secret=%s", getenv("ZT_S3_ENDPOINT"),
             getenv("ZT_S3_KEY"), getenv("ZT_S3_SECRET"));
    snprintf(az, sizeof az, "--dst-option endpoint_url=%s --dst-option account_name=%s --dst-option account_key=%s",
             getenv("ZT_AZURE_ENDPOINT"), getenv("ZT_AZURE_ACCOUNT"), getenv("ZT_AZURE_KEY"));
    const char *b = getenv("ZT_S3_BUCKET");
    CHECK_EQ_INT(zt_test_system("%s cp -q %s/a.zarrmd s3://%s/cli%ld/a.zarrmd %s", cli, t, b, id, s3), 0);
    CHECK_EQ_INT(zt_test_system("%s ls -r s3://%s/cli%ld/a.zarrmd %s | grep -c value/ | grep -qx 8", cli, b, id, s3), 0);
    CHECK_EQ_INT(zt_test_system("%s cp -q s3://%s/cli%ld/a.zarrmd az://%s/cli%ld/a.zarrmd "
                                "--src-option endpoint_url=%s --src-option key=%s --src-option secret=%s %s",
                                cli, b, id, getenv("ZT_AZURE_CONTAINER"), id, getenv("ZT_S3_ENDPOINT"),
                                getenv("ZT_S3_KEY"), getenv("ZT_S3_SECRET"), az), 0);
    CHECK_EQ_INT(zt_test_system("%s cp -q az://%s/cli%ld/a.zarrmd %s/back.zarrmd -S endpoint_url=%s "
                                "-S account_name=%s -S account_key=%s && diff -r %s/a.zarrmd %s/back.zarrmd",
                                cli, getenv("ZT_AZURE_CONTAINER"), id, t, getenv("ZT_AZURE_ENDPOINT"),
                                getenv("ZT_AZURE_ACCOUNT"), getenv("ZT_AZURE_KEY"), t, t), 0);
    CHECK_EQ_INT(zt_test_system("%s cp -q %s/big.h5md s3://%s/cli%ld/ %s", cli, t, b, id, s3), 0);
    CHECK_EQ_INT(zt_test_system("%s ls -l s3://%s/cli%ld %s | grep -q '40000000  big.h5md'", cli, b, id, s3), 0);
    CHECK_EQ_INT(zt_test_system("STORAGE_EMULATOR_HOST=%s %s cp -q s3://%s/cli%ld/big.h5md gs://%s/cli%ld/big.h5md "
                                "--src-option endpoint_url=%s --src-option key=%s --src-option secret=%s && "
                                "STORAGE_EMULATOR_HOST=%s %s cp -q gs://%s/cli%ld/big.h5md %s/big2.h5md && "
                                "cmp %s/big.h5md %s/big2.h5md",
                                getenv("ZT_GCS_ENDPOINT"), cli, b, id, getenv("ZT_GCS_BUCKET"), id,
                                getenv("ZT_S3_ENDPOINT"), getenv("ZT_S3_KEY"), getenv("ZT_S3_SECRET"),
                                getenv("ZT_GCS_ENDPOINT"), cli, getenv("ZT_GCS_BUCKET"), id, t, t, t), 0);
    /* Errors: one line "zarrtraj cp: ...", exit status 1. */
    CHECK_EQ_INT(zt_test_system("%s cp s3://%s/cli%ld/none %s/x %s 2>%s/err; test $? -eq 1 && "
                                "test $(wc -l < %s/err) -eq 1 && grep -q '^zarrtraj cp: ' %s/err",
                                cli, b, id, t, s3, t, t, t), 0);
    CHECK_EQ_INT(zt_test_system("%s ls s3://%s/cli%ld %s -S secret=WRONGSECRET 2>%s/err; test $? -eq 1 && "
                                "grep -q 'authentication failed' %s/err && ! grep -q WRONGSECRET %s/err",
                                cli, b, id, s3, t, t, t), 0);
    CHECK_EQ_INT(zt_test_system("%s cp --help | grep -q usage && %s ls --help | grep -q usage", cli, cli), 0);
    zt_test_system("rm -rf '%s'", t);
    free(t);
    TEST_DONE();
}
