/* Peer benchmark: read the positions of an H5MD file with libhdf5 itself,
 * frame by frame with H5Dread, through HDF5's read-only S3 driver (ROS3,
 * built into Debian's libhdf5 1.10.8) or, for local files, the default
 * driver (sec2). This is what a C/h5py program does without zarrtraj.
 *
 *   bench_ros3 URL_OR_PATH [MODE] [--driver ros3|sec2] [--frames N]
 *              [--dataset /particles/trajectory/position/value]
 *              [--region R --id KEY --secret SECRET] [--chunk-cache MiB]
 *
 * MODE: seq (default), stride:N, random:N (N random frames, one H5Dread
 * each), bulk (one H5Dread of the whole dataset: libhdf5's bulk decode).
 * --frames N limits seq/stride/bulk to the first N frames.
 * ROS3 URLs are path-style: http://127.0.0.1:PORT/bucket/key (signed with
 * SigV4 when --id/--secret are given) or any plain http(s) URL (anonymous).
 * Prints one JSON line like bench_iter. ROS3 keeps no counters: count the
 * requests at the server or proxy. */
#include <hdf5.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(H5_HAVE_ROS3_VFD)
#include <H5FDros3.h>
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int read_rows(hid_t ds, hid_t fspace, hsize_t row, hsize_t nrows, hsize_t na, float *buf) {
    hsize_t start[3] = {row, 0, 0}, count[3] = {nrows, na, 3};
    if (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0) return -1;
    hid_t mspace = H5Screate_simple(3, count, NULL);
    herr_t rc = H5Dread(ds, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, buf);
    H5Sclose(mspace);
    return rc < 0 ? -1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_ros3 URL [seq|stride:N|random:N|bulk] [--driver ros3|sec2] [--frames N] "
                        "[--dataset PATH] [--region R --id KEY --secret SECRET] [--chunk-cache MiB]\n");
        return 2;
    }
    const char *url = argv[1], *mode = "seq", *driver = NULL, *dset = "/particles/trajectory/position/value";
    const char *region = "us-east-1", *id = NULL, *secret = NULL;
    long long limit = -1;
    double cache_mib = -1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--driver") && v) driver = argv[++i];
        else if (!strcmp(a, "--frames") && v) limit = atoll(argv[++i]);
        else if (!strcmp(a, "--dataset") && v) dset = argv[++i];
        else if (!strcmp(a, "--region") && v) region = argv[++i];
        else if (!strcmp(a, "--id") && v) id = argv[++i];
        else if (!strcmp(a, "--secret") && v) secret = argv[++i];
        else if (!strcmp(a, "--chunk-cache") && v) cache_mib = atof(argv[++i]);
        else if (a[0] != '-') mode = a;
        else {
            fprintf(stderr, "bench_ros3: unknown argument %s\n", a);
            return 2;
        }
    }
    if (!driver) driver = (!strncmp(url, "http://", 7) || !strncmp(url, "https://", 8)) ? "ros3" : "sec2";

    double t0 = now();
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (!strcmp(driver, "ros3")) {
#if defined(H5_HAVE_ROS3_VFD)
        H5FD_ros3_fapl_t fa;
        memset(&fa, 0, sizeof fa);
        fa.version = H5FD_CURR_ROS3_FAPL_T_VERSION;
        fa.authenticate = id && secret;
        if (fa.authenticate) {
            snprintf(fa.aws_region, sizeof fa.aws_region, "%s", region);
            snprintf(fa.secret_id, sizeof fa.secret_id, "%s", id);
            snprintf(fa.secret_key, sizeof fa.secret_key, "%s", secret);
        }
        if (H5Pset_fapl_ros3(fapl, &fa) < 0) {
            fprintf(stderr, "bench_ros3: H5Pset_fapl_ros3 failed\n");
            return 1;
        }
#else
        fprintf(stderr, "bench_ros3: this libhdf5 has no ROS3 driver\n");
        return 77;
#endif
    } else if (strcmp(driver, "sec2") != 0) {
        fprintf(stderr, "bench_ros3: unknown driver %s\n", driver);
        return 2;
    }
    hid_t f = H5Fopen(url, H5F_ACC_RDONLY, fapl);
    if (f < 0) {
        fprintf(stderr, "bench_ros3: cannot open %s with the %s driver\n", url, driver);
        return 1;
    }
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (cache_mib >= 0) H5Pset_chunk_cache(dapl, 12421, (size_t)(cache_mib * 1048576.0), 1.0);
    hid_t ds = H5Dopen2(f, dset, dapl);
    if (ds < 0) {
        fprintf(stderr, "bench_ros3: %s: no dataset %s\n", url, dset);
        return 1;
    }
    hid_t fspace = H5Dget_space(ds);
    hsize_t dims[3] = {0, 0, 0};
    if (H5Sget_simple_extent_ndims(fspace) != 3) {
        fprintf(stderr, "bench_ros3: %s is not rank 3\n", dset);
        return 1;
    }
    H5Sget_simple_extent_dims(fspace, dims, NULL);
    hsize_t nf = dims[0], na = dims[1];
    double t_open = now() - t0;

    hsize_t nlim = limit > 0 && (hsize_t)limit < nf ? (hsize_t)limit : nf;
    int bulk = !strcmp(mode, "bulk");
    size_t bufn = (size_t)na * 3 * (bulk ? nlim : 1);
    float *buf = malloc(sizeof(float) * bufn);
    if (!buf) {
        fprintf(stderr, "bench_ros3: out of memory\n");
        return 1;
    }
    double t1 = now(), t_first = -1, sum = 0;
    long long frames = 0;
    int rc = 0;
    if (bulk) {
        rc = read_rows(ds, fspace, 0, nlim, na, buf);
        frames = (long long)nlim;
        sum = buf[0];
        t_first = now() - t0;
    } else if (!strcmp(mode, "seq") || !strncmp(mode, "stride:", 7)) {
        hsize_t s = !strcmp(mode, "seq") ? 1 : (hsize_t)atoll(mode + 7);
        if (s < 1) s = 1;
        for (hsize_t i = 0; i < nlim && !rc; i += s, frames++) {
            rc = read_rows(ds, fspace, i, 1, na, buf);
            sum += buf[0];
            if (t_first < 0) t_first = now() - t0;
        }
    } else if (!strncmp(mode, "random:", 7)) {
        long long n = atoll(mode + 7);
        uint64_t st = 12345;
        for (long long i = 0; i < n && !rc; i++, frames++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            rc = read_rows(ds, fspace, (hsize_t)((st >> 33) % nf), 1, na, buf);
            sum += buf[0];
            if (t_first < 0) t_first = now() - t0;
        }
    } else {
        fprintf(stderr, "bench_ros3: unknown mode %s\n", mode);
        return 2;
    }
    double dt = now() - t1;
    if (rc) {
        fprintf(stderr, "bench_ros3: H5Dread failed on %s\n", url);
        return 1;
    }
    double mb = (double)frames * (double)na * 12 / 1e6;
    printf("{\"tool\": \"libhdf5-%s\", \"url\": \"%s\", \"mode\": \"%s\", \"frames\": %lld, \"n_atoms\": %llu, "
           "\"seconds\": %.4f, \"frames_per_s\": %.2f, \"MB_per_s\": %.2f, \"open_s\": %.4f, "
           "\"first_frame_s\": %.4f, \"check\": %g}\n",
           driver, url, mode, frames, (unsigned long long)na, dt, (double)frames / dt, mb / dt, t_open, t_first,
           sum);
    free(buf);
    H5Sclose(fspace);
    H5Dclose(ds);
    H5Pclose(dapl);
    H5Fclose(f);
    H5Pclose(fapl);
    return 0;
}
