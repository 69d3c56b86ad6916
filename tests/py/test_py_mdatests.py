"""The tests MDAnalysis holds every reader and writer to, from the PyPI package
MDAnalysisTests (matching the installed MDAnalysis): MultiframeReaderTest with
a BaseReference, and BaseWriterTest, run unchanged against ZARRH5MDReader and
ZARRMDWriter for H5MD and zarrmd, on local files and on two S3 servers (s3rver
and moto's server, started by scripts/emulators/run.sh).

The reference trajectory is MDAnalysis' own synthetic one (COORDINATES_H5MD,
written by MDAnalysis' H5MDWriter), and the same trajectory as written by
upstream Zarrtraj (its COORDINATES_SYNTHETIC_H5MD / _ZARRMD test files, in the
shared data folder). On S3 the test bodies, which use relative file names
inside a temporary directory, write to a fresh prefix of the bucket instead;
credentials and endpoint come from the AWS_* environment variables, as
upstream's own tests set them, because the base classes open readers and
Universes with the file name only.
"""
import os
import uuid

import pytest

zarrtraj = pytest.importorskip("zarrtraj", reason="zarrtraj extension not built (PYTHONPATH=build/python)")
mdatests_base = pytest.importorskip("MDAnalysisTests.coordinates.base", reason="MDAnalysisTests not installed")
import MDAnalysis as mda  # noqa: E402
from MDAnalysisTests.datafiles import COORDINATES_H5MD, COORDINATES_TOPOLOGY  # noqa: E402

from zarrtraj import ZARRH5MDReader, ZARRMDWriter  # noqa: E402

BaseReference = mdatests_base.BaseReference
MultiframeReaderTest = mdatests_base.MultiframeReaderTest
BaseWriterTest = mdatests_base.BaseWriterTest

DATA = os.environ.get("ZT_DATA_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
UPSTREAM_H5MD = os.path.join(DATA, "zarrtraj", "COORDINATES_SYNTHETIC_H5MD.h5md")
UPSTREAM_ZARRMD = os.path.join(DATA, "zarrtraj", "COORDINATES_SYNTHETIC_ZARRMD.zarrmd")
if not os.path.exists(UPSTREAM_ZARRMD):
    pytest.skip("shared data folder not found (ZT_DATA_DIR)", allow_module_level=True)


class ZarrtrajReference(BaseReference):
    """MDAnalysis' synthetic 5-atom, 5-frame trajectory with velocities and forces
    (as MDAnalysisTests' own H5MDReference), read by our reader."""

    def __init__(self, trajectory, ext, reader=ZARRH5MDReader, writer=ZARRMDWriter):
        super().__init__()
        self.trajectory = trajectory
        self.topology = COORDINATES_TOPOLOGY
        self.reader = reader
        self.writer = writer
        self.ext = ext
        self.prec = 3
        self.changing_dimensions = True
        for ts in (self.first_frame, self.second_frame, self.last_frame, self.jump_to_frame):
            ts.velocities = ts.positions / 10
            ts.forces = ts.positions / 100

    def iter_ts(self, i):
        ts = self.first_frame.copy()
        ts.positions = 2 ** i * self.first_frame.positions
        ts.velocities = ts.positions / 10
        ts.forces = ts.positions / 100
        ts.time = i
        ts.frame = i
        return ts


# ---- the S3 servers ---------------------------------------------------------------------------------

def _server(emulators, name):
    """(endpoint, bucket, key, secret) of the S3 server `name` ("s3rver" or "moto")."""
    if name == "s3rver":
        keys = ("ZT_S3_ENDPOINT", "ZT_S3_BUCKET")
        creds = (emulators.get("ZT_S3_KEY"), emulators.get("ZT_S3_SECRET"))
    else:
        keys = ("ZT_MOTO_ENDPOINT", "ZT_MOTO_BUCKET")
        creds = ("testing", "testing")  # moto accepts any, as in upstream's tests
    if not all(k in emulators for k in keys):
        if os.environ.get("ZT_REQUIRE_EMULATORS") == "1":
            pytest.fail(f"{name} not running (ZT_REQUIRE_EMULATORS=1)")
        pytest.skip(f"{name} not running")
    return emulators[keys[0]], emulators[keys[1]], creds[0], creds[1]


def _aws_env(mp, endpoint, key, secret):
    mp.setenv("AWS_ENDPOINT_URL", endpoint)
    mp.setenv("AWS_ACCESS_KEY_ID", key)
    mp.setenv("AWS_SECRET_ACCESS_KEY", secret)
    mp.setenv("AWS_REGION", "us-east-1")
    mp.delenv("AWS_PROFILE", raising=False)
    mp.delenv("AWS_SESSION_TOKEN", raising=False)


def _upload(endpoint, bucket, key, secret, path, prefix):
    """Upload a file or a directory tree with boto3 (an independent client)."""
    import boto3

    c = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
                     region_name="us-east-1")
    name = os.path.basename(path)
    if os.path.isdir(path):
        for root, _, files in os.walk(path):
            for f in files:
                full = os.path.join(root, f)
                c.upload_file(full, bucket, f"{prefix}/{name}/{os.path.relpath(full, path)}")
    else:
        c.upload_file(path, bucket, f"{prefix}/{name}")
    return f"s3://{bucket}/{prefix}/{name}"


# ---- readers -----------------------------------------------------------------------------------------

READER_CASES = [
    ("local", COORDINATES_H5MD, "h5md"),
    ("local", UPSTREAM_H5MD, "h5md"),
    ("local", UPSTREAM_ZARRMD, "zarrmd"),
    ("s3rver", COORDINATES_H5MD, "h5md"),
    ("s3rver", UPSTREAM_ZARRMD, "zarrmd"),
    ("moto", COORDINATES_H5MD, "h5md"),
    ("moto", UPSTREAM_ZARRMD, "zarrmd"),
]
READER_IDS = ["local-mdanalysis-h5md", "local-upstream-h5md", "local-upstream-zarrmd", "s3rver-h5md",
              "s3rver-zarrmd", "moto-h5md", "moto-zarrmd"]


def _reader_ref(request):
    store, path, ext = request.param
    if store == "local":
        yield ZarrtrajReference(path, ext)
        return
    endpoint, bucket, key, secret = _server(request.getfixturevalue("emulators"), store)
    with pytest.MonkeyPatch.context() as mp:
        _aws_env(mp, endpoint, key, secret)
        url = _upload(endpoint, bucket, key, secret, path, f"mdatests/{uuid.uuid4().hex[:12]}")
        yield ZarrtrajReference(url, ext)


class TestZarrtrajReaderBaseAPI(MultiframeReaderTest):
    """MDAnalysisTests' reader API tests, unchanged."""

    @staticmethod
    @pytest.fixture(scope="class", params=READER_CASES, ids=READER_IDS)
    def ref(request):
        yield from _reader_ref(request)

    def test_reads_from_where_asked(self, ref, reader):
        # not part of the base class: the S3 cases really read from the bucket
        assert reader.filename == ref.trajectory
        if ref.trajectory.startswith("s3://"):
            assert reader.stats()["requests"] > 0


# ---- writers -----------------------------------------------------------------------------------------

class _OnS3:
    """Relative file names (the base class writes into a temporary directory)
    become keys under a fresh prefix of the bucket; absolute paths and URLs stay."""
    prefix = None

    @classmethod
    def where(cls, filename):
        filename = os.fspath(filename)
        if cls.prefix is None or "://" in filename or os.path.isabs(filename):
            return filename
        return f"{cls.prefix}/{filename}"


class S3Writer(ZARRMDWriter):
    def __init__(self, filename, *args, **kwargs):
        super().__init__(_OnS3.where(filename), *args, **kwargs)


class S3Reader(ZARRH5MDReader):
    def __init__(self, filename, *args, **kwargs):
        super().__init__(_OnS3.where(filename), *args, **kwargs)


WRITER_CASES = [(store, ext) for store in ("local", "s3rver", "moto") for ext in ("zarrmd", "h5md")]


def _writer_ref(request):
    store, ext = request.param
    if store == "local":
        yield ZarrtrajReference(COORDINATES_H5MD, ext)
        return
    endpoint, bucket, key, secret = _server(request.getfixturevalue("emulators"), store)
    with pytest.MonkeyPatch.context() as mp:
        _aws_env(mp, endpoint, key, secret)
        _OnS3.prefix = f"s3://{bucket}/mdatests-w/{uuid.uuid4().hex[:12]}"
        try:
            yield ZarrtrajReference(COORDINATES_H5MD, ext, reader=S3Reader, writer=S3Writer)
        finally:
            _OnS3.prefix = None


class TestZarrtrajWriterBaseAPI(BaseWriterTest):
    """MDAnalysisTests' writer API tests, unchanged."""

    @staticmethod
    @pytest.fixture(scope="class", params=WRITER_CASES, ids=[f"{s}-{e}" for s, e in WRITER_CASES])
    def ref(request):
        yield from _writer_ref(request)

    def test_written_where_asked(self, ref, universe, tmpdir):
        # not part of the base class: the output is the format asked for, where asked
        with tmpdir.as_cwd():
            with ref.writer("where." + ref.ext, universe.atoms.n_atoms) as w:
                for ts in universe.trajectory:
                    w.write(universe)
            r = ref.reader("where." + ref.ext)
            assert r._core.format == ref.ext and len(r) == len(universe.trajectory)
            if ref.writer is S3Writer:
                assert r.filename.startswith("s3://") and not os.path.exists("where." + ref.ext)
            else:
                assert os.path.exists("where." + ref.ext)
