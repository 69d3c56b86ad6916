"""mda.Universe(topology, URL) for every URL form of the cloud stores, through
the local test servers: s3:// (uploaded with boto3), gcs:// and gs:// (GCS
emulator), az:// and abfs:// (Azurite), https:// (nginx with a test CA). An
.h5md file and a .zarrmd hierarchy each read identically to the local copy."""
import os
import shutil
import uuid
import warnings

import numpy as np
import pytest

zarrtraj = pytest.importorskip("zarrtraj", reason="zarrtraj extension not built (PYTHONPATH=build/python)")
import MDAnalysis as mda  # noqa: E402

from conftest import run, write_h5md_h5py  # noqa: E402
from zarrtraj import ZARRH5MDReader  # noqa: E402

DATA = os.environ.get("ZT_DATA_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
if not os.path.exists(os.path.join(DATA, "expected.json")):
    pytest.skip("shared data folder not found (ZT_DATA_DIR)", allow_module_level=True)
FILES = ["mdanalysis/cobrotoxin.h5md", "generated/zarrtraj_lammps_arkr_mixed_sampling.zarrmd"]
KINDS = ["s3", "gcs", "gs", "az", "abfs", "https"]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def options(emu, kind):
    if kind == "s3":
        return {"endpoint_url": emu["ZT_S3_ENDPOINT"], "key": emu["ZT_S3_KEY"], "secret": emu["ZT_S3_SECRET"],
                "region": "us-east-1"}
    if kind in ("gs", "gcs"):
        return {"endpoint_url": emu["ZT_GCS_ENDPOINT"]}
    if kind in ("az", "abfs"):
        return {"connection_string": f"DefaultEndpointsProtocol=http;AccountName={emu['ZT_AZURE_ACCOUNT']};"
                                     f"AccountKey={emu['ZT_AZURE_KEY']};BlobEndpoint={emu['ZT_AZURE_ENDPOINT']}"}
    return {"ca_file": emu["ZT_TEST_CA"]}


def url_of(emu, kind, key):
    bucket = {"s3": "ZT_S3_BUCKET", "gs": "ZT_GCS_BUCKET", "gcs": "ZT_GCS_BUCKET", "az": "ZT_AZURE_CONTAINER",
              "abfs": "ZT_AZURE_CONTAINER"}
    if kind == "https":
        return f"{emu['ZT_HTTPS_URL']}/{key}"
    return f"{kind}://{emu[bucket[kind]]}/{key}"


def upload(emu, kind, local, key, cli):
    if kind == "s3":  # an independent client
        import boto3

        c = boto3.client("s3", endpoint_url=emu["ZT_S3_ENDPOINT"], aws_access_key_id=emu["ZT_S3_KEY"],
                         aws_secret_access_key=emu["ZT_S3_SECRET"], region_name="us-east-1")
        if os.path.isfile(local):
            c.upload_file(local, emu["ZT_S3_BUCKET"], key)
        else:
            for d, _, fs in os.walk(local):
                for f in fs:
                    p = os.path.join(d, f)
                    c.upload_file(p, emu["ZT_S3_BUCKET"], f"{key}/{os.path.relpath(p, local)}")
    elif kind == "https":  # nginx serves this folder
        dst = os.path.join(emu["ZT_HTTP_ROOT"], key)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        (shutil.copytree if os.path.isdir(local) else shutil.copy)(local, dst)
    else:
        opts = []
        for k, v in options(emu, kind).items():
            opts += ["-S", f"{k}={v}"]
        run(cli, "cp", local, url_of(emu, kind, key), *opts, "-q")


@pytest.mark.parametrize("kind", KINDS)
def test_universe_from_url(emulators, cli, kind):
    need = {"s3": "ZT_S3_ENDPOINT", "gs": "ZT_GCS_ENDPOINT", "gcs": "ZT_GCS_ENDPOINT", "az": "ZT_AZURE_ENDPOINT",
            "abfs": "ZT_AZURE_ENDPOINT", "https": "ZT_HTTPS_URL"}[kind]
    if need not in emulators:
        pytest.skip(f"{kind} test server not running")
    prefix = f"pytest-py-stores/{uuid.uuid4().hex[:8]}"
    so = options(emulators, kind)
    for rel in FILES:
        local = os.path.join(DATA, rel)
        upload(emulators, kind, local, f"{prefix}/{rel}", cli)
        url = url_of(emulators, kind, f"{prefix}/{rel}")
        ref = mda.Universe(local)
        u = mda.Universe(local, url, storage_options=so, cache_size=8 << 20)  # topology from the local copy
        assert isinstance(u.trajectory, ZARRH5MDReader) and u.trajectory.filename == url
        assert len(u.trajectory) == len(ref.trajectory) and ZARRH5MDReader.parse_n_atoms(url, so) == ref.atoms.n_atoms
        for a, b in zip(ref.trajectory, u.trajectory):
            np.testing.assert_array_equal(a.positions, b.positions)
            assert a.time == b.time and a.data["step"] == b.data["step"]
            if a.has_velocities:
                np.testing.assert_array_equal(a.velocities, b.velocities)
            np.testing.assert_array_equal(a.dimensions, b.dimensions)
        np.testing.assert_array_equal(u.trajectory.timeseries(u.atoms[::5]), ref.trajectory.timeseries(ref.atoms[::5]))
        st = u.trajectory.stats()
        assert st["requests"] > 0 and st["bytes_fetched"] > 0


@pytest.mark.parametrize("kind", ["s3", "https"])
def test_large_chunk_fetched_in_parallel_parts(emulators, cli, tmp_path, kind):
    """A random frame in a 14.4 MB H5MD chunk travels as parallel range requests (about 4 MiB each) when
    nothing else is in flight, and reads exactly what h5py wrote: uncompressed (read straight into the
    cache entry) and gzip (assembled, then decoded)."""
    import h5py

    need = {"s3": "ZT_S3_ENDPOINT", "https": "ZT_HTTPS_URL"}[kind]
    if need not in emulators:
        pytest.skip(f"{kind} test server not running")
    n_atoms, n_frames, rows = 400_000, 7, 3
    pos = np.random.default_rng(7).uniform(0, 100, (n_frames, n_atoms, 3)).astype("f4")
    prefix = f"pytest-split/{uuid.uuid4().hex[:8]}"
    for comp in (None, "gzip"):
        local = str(tmp_path / f"big_{comp}.h5md")
        write_h5md_h5py(local, pos, chunks=(rows, n_atoms, 3), compression=comp)
        upload(emulators, kind, local, f"{prefix}/{comp}.h5md", cli)
        r = zarrtraj.CoreReader(url_of(emulators, kind, f"{prefix}/{comp}.h5md"), None, 100 << 20,
                                zarrtraj.storage_pairs(options(emulators, kind)), False, 0, 0)
        before = r.stats()["requests"]
        got = r.read_frames("position", np.array([4], dtype="i8"))  # frames 3-5: the second chunk
        used = r.stats()["requests"] - before
        np.testing.assert_array_equal(got[0], pos[4])
        with h5py.File(local) as f:
            size = f["particles/trajectory/position/value"].id.get_chunk_info(1).size
        want = min(size // (4 << 20), 8)
        assert size >= 8 << 20 and used == want, (comp, size, used)
        np.testing.assert_array_equal(r.read_frames("position", np.array([0, 6], dtype="i8"))[1], pos[6])
        r.close()
