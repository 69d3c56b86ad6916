"""Zarr v3 zarrmd on every store, through the local test servers: hierarchies
zarr-python 3 writes (sharded, with and without consolidated metadata) uploaded
with independent clients read identically to the local copy (no listing over
HTTP: consolidated metadata required, a clear error without it); our writer
writes sharded v3 straight into each bucket and the result reads back
identical, also through zarr-python. Newest environment only."""
import os
import uuid

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
if int(zarr.__version__.split(".")[0]) < 3:
    pytest.skip("needs zarr-python 3", allow_module_level=True)

from conftest import run  # noqa: E402
from test_cloud_trajectories import base_url, cat, store_opts, upload  # noqa: E402
from test_zarr3_read import make  # noqa: E402

KINDS = ["s3", "az", "gs", "http", "https"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("consolidated", [True, False])
def test_zarr_python_v3_on_every_store(cli, emulators, tmp, kind, consolidated):
    local = str(tmp / "zp.zarrmd")
    make(local, consolidate=consolidated, chunks=(2, 5, 3), shards=(8, 10, 3))
    prefix = f"v3/{uuid.uuid4().hex}/zp.zarrmd"
    upload(emulators, kind, local, prefix, cli)
    url, opts = base_url(emulators, kind, prefix), store_opts(emulators, kind)
    want = cat(cli, local, "position", [], str(tmp))
    assert not isinstance(want, str), want
    got = cat(cli, url, "position", opts, str(tmp))
    if isinstance(got, str) and not consolidated and kind in ("http", "https"):
        # a server without directory listings (nginx here lists; test_zarr3_read covers one that does not)
        assert "consolidated metadata" in got, got
    else:
        assert not isinstance(got, str), got
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kind", ["s3", "az", "gs"])
def test_our_v3_writer_into_every_bucket(cli, emulators, tmp, kind):
    src = str(tmp / "s.zarrmd")
    run(cli, "synth", src, "--atoms", "400", "--frames", "40", "--forces", "--seed", "4")
    url = base_url(emulators, kind, f"v3w/{uuid.uuid4().hex}/o.zarrmd")
    opts = store_opts(emulators, kind)
    run(cli, "convert", src, url, "--zarr-format", "3", "--shard-bytes", "60k", "--inner-frames", "3", *opts)
    for el in ("position", "velocity", "force", "step", "time"):
        want = cat(cli, src, el, [], str(tmp))
        got = cat(cli, url, el, opts, str(tmp))
        assert not isinstance(got, str), got
        np.testing.assert_array_equal(got, want, err_msg=el)
    # back to local v2 and v3: the same values
    for fmt in ("2", "3"):
        back = str(tmp / f"back{fmt}.zarrmd")
        run(cli, "convert", url, back, "--zarr-format", fmt, *opts)
        np.testing.assert_array_equal(cat(cli, back, "position", [], str(tmp)), cat(cli, src, "position", [], str(tmp)))
    if kind == "s3":  # the objects as boto3 lists and downloads them, opened by zarr-python
        boto3 = pytest.importorskip("boto3")
        c = boto3.client("s3", endpoint_url=emulators["ZT_S3_ENDPOINT"], aws_access_key_id=emulators["ZT_S3_KEY"],
                         aws_secret_access_key=emulators["ZT_S3_SECRET"], region_name="us-east-1")
        bucket, prefix = emulators["ZT_S3_BUCKET"], url.split("/", 3)[3]
        dl = str(tmp / "dl.zarrmd")
        keys = [o["Key"] for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
                for o in page.get("Contents", [])]
        shards = [k for k in keys if "/position/value/c/" in k]
        assert len(shards) == 4  # 60k / 4.8 kB per frame = 12 frames (4 inner chunks) per shard: 40 frames in 4
        for k in keys:
            dst = os.path.join(dl, k[len(prefix) + 1:])
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            c.download_file(bucket, k, dst)
        g, local = zarr.open_group(dl, mode="r"), zarr.open_group(src, mode="r")
        for k in ("position/value", "velocity/value", "force/value", "position/step", "position/time"):
            np.testing.assert_array_equal(g["particles/trajectory/" + k][...], local["particles/trajectory/" + k][...])
