"""RMSF of a selection computed serially with MDAnalysis.analysis.rms.RMSF
and with lazytimeseries on a dask.distributed LocalCluster of two worker
processes, both streaming the trajectory from the S3 emulator: same values;
the tasks ran in the worker processes, each reading straight from the store."""
import os
import uuid
import warnings

import numpy as np
import pytest

zarrtraj = pytest.importorskip("zarrtraj", reason="zarrtraj extension not built (PYTHONPATH=build/python)")
distributed = pytest.importorskip("distributed")
import MDAnalysis as mda  # noqa: E402
from MDAnalysis.analysis.rms import RMSF  # noqa: E402

from conftest import run  # noqa: E402
from zarrtraj import ZARRH5MDReader, ZARRMDWriter  # noqa: E402

N_ATOMS, N_FRAMES = 3000, 120


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@pytest.fixture(scope="module")
def s3_traj(emulators, cli, tmp_path_factory):
    """A synthetic trajectory written into the S3 emulator with our writer, in
    chunks of 16 frames, and its storage options."""
    if "ZT_S3_ENDPOINT" not in emulators:
        pytest.skip("S3 emulator not running")
    local = str(tmp_path_factory.mktemp("synth") / "synth.zarrmd")
    run(cli, "synth", local, "--atoms", N_ATOMS, "--frames", N_FRAMES, "--seed", 7)
    so = {"endpoint_url": emulators["ZT_S3_ENDPOINT"], "key": emulators["ZT_S3_KEY"],
          "secret": emulators["ZT_S3_SECRET"], "region": "us-east-1"}
    url = f"s3://{emulators['ZT_S3_BUCKET']}/pytest-py-dask/{uuid.uuid4().hex}/synth.zarrmd"
    u = mda.Universe(local)
    with ZARRMDWriter(url, N_ATOMS, n_frames=N_FRAMES, storage_options=so, chunk_bytes=16 * N_ATOMS * 12) as w:
        for ts in u.trajectory:
            w.write(u.atoms)
    return url, so


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=2, dashboard_address=None,
                           silence_logs=40)
    c = Client(cluster)
    c.wait_for_workers(2, timeout=60)
    yield c
    c.close()
    cluster.close()


def _reader_pids():
    import zarrtraj.lazy

    return sorted({k[0] for k in zarrtraj.lazy._readers})


def test_rmsf_distributed_equals_serial(s3_traj, client, monkeypatch):
    url, so = s3_traj
    u = mda.Universe(url, storage_options=so)
    assert isinstance(u.trajectory, ZARRH5MDReader) and u.trajectory.n_frames == N_FRAMES
    ag = u.atoms[::7]  # a sparse selection: atom index list
    serial = RMSF(ag).run().results.rmsf

    import zarrtraj.lazy

    monkeypatch.setattr(zarrtraj.lazy, "TASK_BYTES", 1)  # one task per storage chunk
    pos = u.trajectory.lazytimeseries(ag, order="afc")  # (atoms, frames, xyz), lazily
    assert pos.shape == (ag.n_atoms, N_FRAMES, 3)
    assert pos.chunks[1] == (16,) * (N_FRAMES // 16) + (N_FRAMES % 16,)
    x = pos.astype(np.float64)
    mean = x.mean(axis=1, keepdims=True)
    rmsf = np.sqrt(((x - mean) ** 2).sum(axis=2).mean(axis=1))
    parallel = client.compute(rmsf).result()
    np.testing.assert_allclose(parallel, serial, rtol=1e-5, atol=1e-6)
    assert np.all(serial > 0)
    # the tasks ran in the worker processes, which opened the store themselves;
    # where the scheduler put them is its choice, so make each worker read once
    # nthreads() asks the scheduler each time; scheduler_info() may answer from a
    # cache without per-worker entries (distributed 2026.x)
    workers = list(client.nthreads())
    assert len(workers) == 2
    for w in workers:
        part = client.compute(x[:, :16].sum(), workers=[w], allow_other_workers=False).result()
        assert part == pytest.approx(float(x[:, :16].sum().compute(scheduler="sync")), rel=1e-9)
    pids = client.run(_reader_pids)
    opened = [p for p in pids.values() if p]
    assert len(opened) == 2 and all(p[0] != os.getpid() for p in opened)


def test_lazy_equals_timeseries_distributed(s3_traj, client):
    url, so = s3_traj
    r = ZARRH5MDReader(url, storage_options=so)
    sel = np.arange(100, 900)  # a contiguous range
    for kw in ({}, {"start": 5, "stop": 100, "step": 3}, {"start": 110, "stop": 4, "step": -7}):
        lz = r.lazytimeseries(sel, order="caf", **kw)
        np.testing.assert_array_equal(client.compute(lz).result(), r.timeseries(sel, order="caf", **kw))
