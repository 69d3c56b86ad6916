"""zarrtraj.FrameDataset / ChunkShuffleSampler / batches(): batches hold exactly
the frames asked for, in the order asked for, with the values zarr-python
(zarrmd), h5py (H5MD written by h5py) and MDAnalysis read for those frames;
local files and the S3 emulator; many files (list, glob, LRU pool); the sampler
covers every index once per epoch, reproducibly; pickled, forked and spawned
workers read the same values (torch's DataLoader when torch is importable here
or ZT_TORCH_PYTHON names a Python that has it)."""
import multiprocessing as mp
import os
import pickle
import subprocess
import sys
import textwrap
import uuid
import warnings

import numpy as np
import pytest

zarrtraj = pytest.importorskip("zarrtraj", reason="zarrtraj extension not built (PYTHONPATH=build/python)")
# The oldest venv runs the zarrtraj pip-installed in it: skip (not fail) when that install predates this module.
pytestmark = pytest.mark.skipif(not hasattr(zarrtraj, "FrameDataset"), reason="the zarrtraj installed in this venv "
                                "predates FrameDataset (reinstall this checkout: scripts/pyenv.sh)")
ChunkShuffleSampler = getattr(zarrtraj, "ChunkShuffleSampler", None)
FrameDataset = getattr(zarrtraj, "FrameDataset", None)
RandomBatchSampler = getattr(zarrtraj, "RandomBatchSampler", None)

DATA = os.environ.get("ZT_DATA_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
HAVE_DATA = os.path.exists(os.path.join(DATA, "expected.json"))
N_ATOMS, N_FRAMES, ROWS = 50, 40, 7


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def box_matrix(i):
    return np.array([[10.0 + i, 0, 0], [0.5 * (i % 3), 11.0, 0], [0, 0.25 * (i % 2), 12.0]])


def triclinic_box(m):
    """[a, b, c, alpha, beta, gamma] of box rows m (MDAnalysis' definition)."""
    a, b, c = (np.linalg.norm(v) for v in m)
    ang = lambda u, v: np.degrees(np.arccos(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v))))  # noqa: E731
    return np.array([a, b, c, ang(m[1], m[2]), ang(m[0], m[2]), ang(m[0], m[1])])


def write_zarrmd(path, n_atoms=N_ATOMS, n_frames=N_FRAMES, seed=0):
    """A zarrmd trajectory with chunks of ROWS frames (written by zarrtraj; read back by zarr-python)."""
    rng = np.random.default_rng(seed)
    with zarrtraj.CoreWriter(str(path), n_atoms, n_frames=0, chunk_bytes=n_atoms * 12 * ROWS) as w:
        for i in range(n_frames):
            w.write_frame(i * 10, time=i * 0.5, position=rng.random((n_atoms, 3), dtype=np.float32) * 10,
                          velocity=rng.random((n_atoms, 3), dtype=np.float32), box=box_matrix(i).ravel(),
                          observables=[("energy", np.array([float(i) * 1.5 - 3]))])
    return str(path)


def write_h5md(path, n_atoms=N_ATOMS, n_frames=N_FRAMES, seed=1):
    """An H5MD file written by h5py (gzip chunks of ROWS frames, a time-dependent orthorhombic box, an observable)."""
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(seed)
    pos = (rng.random((n_frames, n_atoms, 3)) * 20).astype(np.float32)
    with h5py.File(path, "w") as f:
        h = f.create_group("h5md")
        h.attrs["version"] = np.array([1, 1])
        h.create_group("author").attrs["name"] = "test"
        h.create_group("creator").attrs.update({"name": "h5py", "version": "0"})
        p = f.create_group("particles/trajectory/position")
        p.create_dataset("value", data=pos, chunks=(ROWS, n_atoms, 3), compression="gzip")
        p["step"] = np.arange(n_frames, dtype="i8") * 5
        p["time"] = np.arange(n_frames, dtype="f8") * 0.25
        b = f.create_group("particles/trajectory/box")
        b.attrs["dimension"], b.attrs["boundary"] = 3, np.array([b"periodic"] * 3)
        e = b.create_group("edges")
        e.create_dataset("value", data=20 + np.arange(n_frames * 3, dtype="f8").reshape(n_frames, 3) / 7,
                         chunks=(ROWS, 3))
        e["step"] = p["step"][()]
        e["time"] = p["time"][()]
        o = f.create_group("observables/temperature")
        o["value"] = 300 + np.arange(n_frames, dtype="f8")
        o["step"] = p["step"][()]
        o["time"] = p["time"][()]
    return str(path)


def zarr_reference(path):
    """Every frame's values as zarr-python reads them (all elements sampled at every frame here)."""
    import zarr

    g = zarr.open_group(str(path), mode="r")
    t = "particles/trajectory/"
    edges = np.asarray(g[t + "box/edges/value"][:], dtype=np.float64)
    return {"position": np.asarray(g[t + "position/value"][:]), "velocity": np.asarray(g[t + "velocity/value"][:]),
            "step": np.asarray(g[t + "position/step"][:]), "time": np.asarray(g[t + "position/time"][:]),
            "box": np.array([triclinic_box(m) for m in edges], dtype=np.float32),
            "trajectory/energy": np.asarray(g["observables/trajectory/energy/value"][:])}


def h5py_reference(path):
    import h5py

    with h5py.File(path, "r") as f:
        edges = f["particles/trajectory/box/edges/value"][()]
        box = np.zeros((len(edges), 6), np.float32)
        box[:, :3], box[:, 3:] = edges, 90
        return {"position": f["particles/trajectory/position/value"][()],
                "step": f["particles/trajectory/position/step"][()],
                "time": f["particles/trajectory/position/time"][()], "box": box,
                "temperature": f["observables/temperature/value"][()]}


def assert_batch(batch, ref, frames):
    frames = np.asarray(frames)
    assert set(batch) == set(ref)
    for k, v in ref.items():
        assert batch[k].shape == (len(frames),) + v.shape[1:], k
        if k == "box":
            np.testing.assert_allclose(batch[k], v[frames], rtol=1e-5, atol=1e-4, err_msg=k)
        else:
            np.testing.assert_array_equal(batch[k], v[frames], err_msg=k)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("dataset")
    z = write_zarrmd(d / "a.zarrmd")
    h = write_h5md(str(d / "b.h5md"))
    return {"dir": d, "zarrmd": z, "h5md": h}


def zds(path, **kw):
    return FrameDataset(path, elements=("position", "velocity"), observables=("trajectory/energy",), **kw)


# ---- values -------------------------------------------------------------------------------------

def test_batches_match_zarr_python(files):
    ref = zarr_reference(files["zarrmd"])
    ds = zds(files["zarrmd"])
    assert len(ds) == N_FRAMES
    frames = [33, 2, 17, 2, 39, 0, 8, 21, 14, 33]  # any order, repeats, several chunks
    b = ds.read_batch(frames)
    assert_batch(b, ref, frames)
    items = ds.__getitems__(frames)
    assert len(items) == len(frames)
    for f, it in zip(frames, items):
        assert_batch({k: v[None] for k, v in it.items()}, ref, [f])
    one = ds[-1]
    assert_batch({k: v[None] for k, v in one.items()}, ref, [N_FRAMES - 1])
    assert_batch(ds[5:12:3], ref, [5, 8, 11])
    # one batched C call per element: the whole batch costs its distinct chunks, each fetched once
    r = ds._pool[0].reader
    st = r.stats()
    ds2 = zds(files["zarrmd"], cache_bytes=1 << 30)
    ds2.read_batch(frames)
    assert ds2._pool[0].reader.stats()["chunks_decoded"] <= 2 * len({f // ROWS for f in frames}) + 2
    assert st["requests"] > 0


def test_shuffled_batch_small_cache_fetches_each_chunk_once(tmp_path):
    """A cache smaller than the batch's chunks: the frames are gathered in
    chunk order (a round per chunk) and land in the caller's order, so each
    chunk is decoded once per batch however the frames are shuffled (in the
    caller's order nearly every frame cost a chunk again)."""
    path = write_zarrmd(tmp_path / "big.zarrmd", n_atoms=2000, n_frames=70)  # chunks of 7 frames, 168 kB
    ref = zarr_reference(path)
    frames = np.random.default_rng(3).permutation(70)[:50]
    ds = FrameDataset(path, cache_bytes=64 << 10, readahead_bytes=0)
    b = ds.read_batch(frames)
    np.testing.assert_array_equal(b["position"], ref["position"][frames])
    np.testing.assert_array_equal(b["step"], ref["step"][frames])
    st = ds._pool[0].reader.stats()
    assert st["chunks_decoded"] <= len({int(f) // ROWS for f in frames}) + 4, st  # + step/time/box chunks


def write_zarrmd_v3(path, inner_frames, shard_frames, n_atoms=N_ATOMS, n_frames=N_FRAMES, seed=4):
    """A Zarr v3 zarrmd with sharded values (written by zarrtraj; read back by zarr-python 3)."""
    rng = np.random.default_rng(seed)
    with zarrtraj.CoreWriter(str(path), n_atoms, n_frames=0, zarr_format=3, inner_frames=inner_frames,
                             shard_bytes=n_atoms * 12 * shard_frames) as w:
        for i in range(n_frames):
            w.write_frame(i * 10, time=i * 0.5, position=rng.random((n_atoms, 3), dtype=np.float32) * 10,
                          velocity=rng.random((n_atoms, 3), dtype=np.float32), box=box_matrix(i).ravel(),
                          observables=[("energy", np.array([float(i) * 1.5 - 3]))])
    return str(path)


@pytest.mark.parametrize("inner,shard", [(1, 8), (3, 9)])
def test_v3_sharded_batches_match_zarr_python(tmp_path, inner, shard):
    """Shuffled batches of a sharded v3 trajectory: exactly the frames asked
    for, in order (repeats too), equal to zarr-python 3's orthogonal selection
    of the same sharded array; every inner chunk fetched once per batch."""
    zarr = pytest.importorskip("zarr")
    if int(zarr.__version__.split(".")[0]) < 3:
        pytest.skip("zarr-python < 3 reads no Zarr v3")
    path = write_zarrmd_v3(tmp_path / "v3.zarrmd", inner, shard)
    arr = zarr.open_group(path, mode="r")["particles/trajectory/position/value"]
    assert arr.metadata.zarr_format == 3 and arr.shards is not None and arr.chunks[0] == inner
    ref = zarr_reference(path)
    ds = zds(path, cache_bytes=1 << 30)
    rng = np.random.default_rng(7)
    for frames in (rng.permutation(N_FRAMES)[:13], [39, 0, 0, 17, 39, 5], list(range(N_FRAMES))[::-1]):
        frames = np.asarray(frames)
        b = ds.read_batch(frames)
        assert_batch(b, ref, frames)
        np.testing.assert_array_equal(b["position"], arr.oindex[frames])
        items = ds.__getitems__(frames.tolist())
        for f, it in zip(frames, items):
            np.testing.assert_array_equal(it["position"], arr[int(f)])
    fresh = FrameDataset(path, cache_bytes=1 << 30)
    frames = [30, 2, 31, 2, 11]
    fresh.read_batch(frames)
    st = fresh._pool[0].reader.stats()
    assert st["chunks_decoded"] <= len({f // inner for f in frames}) + 4  # + step/time/box chunks


def test_batches_match_h5py(files):
    ref = h5py_reference(files["h5md"])
    ds = FrameDataset(files["h5md"], observables=["temperature"])
    frames = np.random.default_rng(3).permutation(N_FRAMES)[:25]
    assert_batch(ds.read_batch(frames), ref, frames)
    items = ds.__getitems__(frames.tolist())
    for f, it in zip(frames, items):
        assert_batch({k: v[None] for k, v in it.items()}, ref, [f])


def test_options_and_atoms(files):
    ref = zarr_reference(files["zarrmd"])
    frames = [3, 30, 3]
    ds = FrameDataset(files["zarrmd"], elements="velocity", atoms=slice(5, 20, 2), box=False, time=False)
    b = ds.read_batch(frames)
    assert set(b) == {"velocity", "step"}
    np.testing.assert_array_equal(b["velocity"], ref["velocity"][frames][:, 5:20:2])
    idx = [49, 0, 7, 7]
    b = FrameDataset(files["zarrmd"], atoms=idx, step=False).read_batch(frames)
    np.testing.assert_array_equal(b["position"], ref["position"][frames][:, idx])
    mask = np.zeros(N_ATOMS, bool)
    mask[[1, 4]] = True
    b = FrameDataset(files["zarrmd"], atoms=mask).read_batch(frames)
    np.testing.assert_array_equal(b["position"], ref["position"][frames][:, [1, 4]])
    # no element: metadata only
    b = FrameDataset(files["zarrmd"], elements=()).read_batch(frames)
    np.testing.assert_array_equal(b["step"], ref["step"][frames])
    np.testing.assert_allclose(b["box"], ref["box"][frames], rtol=1e-5, atol=1e-4)


@pytest.mark.skipif(not HAVE_DATA, reason="shared data folder not found (ZT_DATA_DIR)")
@pytest.mark.parametrize("rel", ["mdanalysis/cobrotoxin.h5md", "generated/zarrtraj_lammps_arkr_mixed_sampling.zarrmd",
                                 "generated/mda242_charmm_tip125_triclinic.h5md"])
def test_matches_mdanalysis(rel):
    """convert_units=True gives what MDAnalysis (its own readers' units) reads, NaN where an element is not
    sampled at a frame (mixed sampling)."""
    mda = pytest.importorskip("MDAnalysis")
    path = os.path.join(DATA, rel)
    u = mda.Universe(path)
    els = [e for e, a in (("position", "has_positions"), ("velocity", "has_velocities"), ("force", "has_forces"))
           if any(getattr(ts, a) for ts in u.trajectory)]
    ds = FrameDataset(path, elements=els, convert_units=True)
    n = len(u.trajectory)
    assert len(ds) == n
    frames = np.random.default_rng(7).permutation(n)[: min(n, 12)]
    b = ds.read_batch(frames)
    for j, f in enumerate(frames):
        ts = u.trajectory[int(f)]
        assert b["step"][j] == ts.data["step"]
        assert b["time"][j] == pytest.approx(ts.time)
        for e, a, v in (("position", "has_positions", "positions"), ("velocity", "has_velocities", "velocities"),
                        ("force", "has_forces", "forces")):
            if e not in els:
                continue
            if getattr(ts, a):
                np.testing.assert_allclose(b[e][j], getattr(ts, v), rtol=1e-6, atol=1e-6)
            else:
                assert np.isnan(b[e][j]).all()
        if ts.dimensions is None:
            assert not b["box"][j].any()
        else:
            np.testing.assert_allclose(b["box"][j], ts.dimensions, rtol=1e-5, atol=1e-4)


# ---- many files ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def many(tmp_path_factory):
    d = tmp_path_factory.mktemp("many")
    sizes = [12, 5, 20, 9]
    paths = [write_zarrmd(d / f"sim{k}.zarrmd", n_frames=n, seed=10 + k) for k, n in enumerate(sizes)]
    return d, paths, [zarr_reference(p) for p in paths]


def test_glob_local(many):
    d, paths, refs = many
    assert zarrtraj._core.glob(os.path.join(str(d), "sim*.zarrmd")) == sorted(paths)
    assert zarrtraj._core.glob(os.path.join(str(d), "sim[13].zarrmd")) == [paths[1], paths[3]]
    assert zarrtraj._core.glob(os.path.join(str(d), "*", ".zgroup")) == sorted(os.path.join(p, ".zgroup") for p in paths)
    assert zarrtraj._core.glob(paths[0]) == [paths[0]]  # no pattern: itself
    assert zarrtraj._core.glob(os.path.join(str(d), "nothing*")) == []


def concat(refs, key):
    return np.concatenate([r[key] for r in refs])


def test_many_files_concatenated(many):
    d, paths, refs = many
    ds = zds(paths, max_open=2)
    assert ds.n_files == 4 and len(ds) == 46 and ds.file_lengths() == [12, 5, 20, 9]
    assert len(ds._pool) <= 2  # probing all four kept at most max_open open
    ref = {k: concat(refs, k) for k in refs[0]}
    frames = np.random.default_rng(0).permutation(46)[:30]  # every file in the batch (> max_open)
    assert_batch(ds.read_batch(frames), ref, frames)
    assert len(ds._pool) <= 2
    for k in range(3):  # LRU churn: values stay right
        fr = np.random.default_rng(k).integers(0, 46, 9)
        assert_batch(ds.read_batch(fr), ref, fr)
        assert len(ds._pool) <= 2
    fi, local = ds.locate([0, 11, 12, 16, 17, 45, -1])
    assert fi.tolist() == [0, 0, 1, 1, 2, 3, 3] and local.tolist() == [0, 11, 0, 4, 0, 8, 8]
    # chunk groups: per file, chunks of ROWS frames
    starts = ds.chunk_groups()
    exp = np.concatenate([np.arange(0, n, ROWS) + o for n, o in zip([12, 5, 20, 9], [0, 12, 17, 37])])
    np.testing.assert_array_equal(starts, exp)


def test_glob_and_known_lengths(many):
    d, paths, refs = many
    ds = FrameDataset(str(d / "sim*.zarrmd"), n_frames=[12, 5, 20, 9])
    assert ds.urls == sorted(os.path.abspath(p) for p in paths)
    assert len(ds) == 46 and len(ds._pool) == 0  # known lengths: nothing opened
    ref = concat(refs, "position")
    np.testing.assert_array_equal(ds.read_batch([45, 13])["position"], ref[[45, 13]])
    with pytest.raises(ValueError, match="n_frames"):
        FrameDataset(paths[:2], n_frames=[12, 6]).read_batch([0, 13])
    with pytest.raises(FileNotFoundError):
        FrameDataset(str(d / "nothing*.zarrmd"))
    empty = ds.read_batch([])
    assert empty["position"].shape == (0, N_ATOMS, 3) and empty["step"].shape == (0,) and ds.__getitems__([]) == []


def test_files_of_different_sizes(files, many):
    d, paths, refs = many
    small = write_zarrmd(d / "small.zarrmd", n_atoms=4, n_frames=3, seed=99)
    sref = zarr_reference(small)
    ds = FrameDataset([paths[1], small])
    items = ds.__getitems__([6, 0, 5])  # list mode mixes sizes
    np.testing.assert_array_equal(items[0]["position"], sref["position"][1])
    np.testing.assert_array_equal(items[1]["position"], refs[1]["position"][0])
    np.testing.assert_array_equal(items[2]["position"], sref["position"][0])
    with pytest.raises(ValueError, match="shapes"):
        ds.read_batch([0, 6])


def test_errors(files):
    ds = zds(files["zarrmd"])
    with pytest.raises(IndexError):
        ds[N_FRAMES]
    with pytest.raises(IndexError):
        ds.read_batch([0, -N_FRAMES - 1])
    with pytest.raises(ValueError, match="element"):
        FrameDataset(files["zarrmd"], elements=("box",))
    with pytest.raises(zarrtraj.NotFoundError, match="no observable"):
        FrameDataset(files["zarrmd"], observables=["nope"])[0]
    with pytest.raises(zarrtraj.NotFoundError):
        FrameDataset(files["h5md"], elements=("velocity",))[0]
    with pytest.raises(FileNotFoundError, match="nothing matches"):
        FrameDataset("memory://dataset-glob-none/sims/*.zarrmd")
    with pytest.raises(zarrtraj.ZarrtrajError):
        len(FrameDataset(str(files["dir"] / "missing.zarrmd")))


# ---- samplers and prefetch ---------------------------------------------------------------------

def test_chunk_shuffle_sampler(many):
    d, paths, refs = many
    ds = FrameDataset(paths)
    n = len(ds)
    s = ChunkShuffleSampler(ds, batch_size=8, seed=5, window=2)
    starts = ds.chunk_groups()
    group = np.searchsorted(starts, np.arange(n), side="right") - 1
    orders = []
    for epoch in range(3):
        s.set_epoch(epoch)
        batches = list(s)
        assert len(batches) == len(s) == -(-n // 8) and all(len(b) == 8 for b in batches[:-1])
        flat = np.concatenate(batches)
        assert sorted(flat.tolist()) == list(range(n))  # every index exactly once
        orders.append(flat)
        again = ChunkShuffleSampler(ds, batch_size=8, seed=5, window=2)
        again.set_epoch(epoch)
        np.testing.assert_array_equal(np.concatenate(list(again)), flat)  # reproducible per (seed, epoch)
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    other = ChunkShuffleSampler(ds, batch_size=8, seed=6, window=2)
    assert not np.array_equal(np.concatenate(list(other)), orders[0])
    # window structure: split the order into windows of the shuffled groups; each holds <= window groups
    sizes = np.diff(np.r_[starts, n])
    pos = 0
    seen = set()
    s.set_epoch(0)
    flat = np.concatenate(list(s))
    while pos < n:
        g0 = group[flat[pos]]
        win = set()
        take = 0
        while pos + take < n and (len(win) < 2 or group[flat[pos + take]] in win):
            g = group[flat[pos + take]]
            if g not in win:
                if len(win) == 2:
                    break
                win.add(g)
            take += 1
        assert g0 in win and not (win & seen)
        assert take == sum(sizes[g] for g in win)  # the window's frames all come before the next window's
        seen |= win
        pos += take
    assert len(ChunkShuffleSampler(ds, 8, seed=0, drop_last=True)) == n // 8
    # window 1: frames of a chunk group stay together
    flat = np.concatenate(list(ChunkShuffleSampler(ds, 8, seed=1, window=1)))
    assert (np.diff(group[flat]) != 0).sum() == len(starts) - 1
    # fixed runs of frames per file instead of the storage chunks
    s5 = ChunkShuffleSampler(ds, 8, seed=1, window=1, group_frames=5)
    exp = np.concatenate([np.arange(0, n, 5) + o for n, o in zip([12, 5, 20, 9], [0, 12, 17, 37])])
    np.testing.assert_array_equal(s5.starts, exp)
    flat = np.concatenate(list(s5))
    g5 = np.searchsorted(exp, flat, side="right") - 1
    assert sorted(flat.tolist()) == list(range(n)) and (np.diff(g5) != 0).sum() == len(exp) - 1


def test_random_batch_sampler(files):
    ds = zds(files["zarrmd"])
    s = RandomBatchSampler(ds, 6, seed=2)
    a = np.concatenate(list(s))
    assert sorted(a.tolist()) == list(range(N_FRAMES))
    s.set_epoch(1)
    assert not np.array_equal(np.concatenate(list(s)), a)
    assert np.concatenate(list(RandomBatchSampler(ds, 6, shuffle=False))).tolist() == list(range(N_FRAMES))


@pytest.mark.parametrize("prefetch,budget", [(2, 256 << 20), (4, 1), (0, 1 << 30)])
def test_batches_prefetch(files, prefetch, budget):
    ref = zarr_reference(files["zarrmd"])
    ds = zds(files["zarrmd"])
    s = ChunkShuffleSampler(ds, batch_size=6, seed=3, window=2)
    it = ds.batches(s, prefetch=prefetch, memory_bytes=budget)
    got = list(it)
    want = list(s)
    again = list(it)  # an iterable: iterating again reads the (same-epoch) batches again
    assert len(again) == len(got) and all(np.array_equal(a["step"], b["step"]) for a, b in zip(again, got))
    assert len(got) == len(want)
    for b, frames in zip(got, want):
        assert_batch(b, ref, frames)
    # default: a uniform shuffle with a seed; a sampler of single indices is grouped by batch_size
    default = [b["step"] for b in ds.batches(batch_size=7, seed=11, prefetch=prefetch, memory_bytes=budget)]
    order = RandomBatchSampler(ds, 7, seed=11).order()
    np.testing.assert_array_equal(np.concatenate(default), ref["step"][order])
    single = list(ds.batches(iter([3, 1, 4, 1, 5]), batch_size=2, prefetch=prefetch, memory_bytes=budget))
    assert [b["step"].tolist() for b in single] == [ref["step"][[3, 1]].tolist(), ref["step"][[4, 1]].tolist(),
                                                     ref["step"][[5]].tolist()]


def test_batches_errors_and_early_stop(files):
    ds = zds(files["zarrmd"])
    with pytest.raises(IndexError):
        list(ds.batches([[0, 1], [2, N_FRAMES + 3], [4]], prefetch=2))
    gen = iter(ds.batches(RandomBatchSampler(ds, 2, seed=0), prefetch=3))
    next(gen)
    gen.close()  # stops and joins the background thread
    import threading
    assert not [t for t in threading.enumerate() if t.name == "zarrtraj-prefetch"]


# ---- pickling and worker processes -------------------------------------------------------------

def test_pickle_carries_no_handle(files):
    ds = zds(files["zarrmd"])
    first = ds.read_batch([1, 9])
    assert len(ds._pool) == 1
    blob = pickle.dumps(ds)
    assert b"zarrtraj._core" not in blob and b"Reader" not in blob and len(blob) < 4096
    ds2 = pickle.loads(blob)
    assert len(ds2._pool) == 0 and len(ds2) == N_FRAMES
    b = ds2.read_batch([1, 9])
    for k in first:
        np.testing.assert_array_equal(b[k], first[k])


def _batches(ds, n=5):
    return [np.random.default_rng(k).integers(0, len(ds), 6).tolist() for k in range(n)]


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_worker_processes(files, many, method):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"start method {method} not available")
    d, paths, refs = many
    for ds in (zds(files["zarrmd"]), FrameDataset(paths, max_open=2)):
        jobs = _batches(ds)
        want = [ds.read_batch(b) for b in jobs]  # the parent has open readers before the fork
        with mp.get_context(method).Pool(2) as pool:
            got = pool.map(ds.read_batch, jobs)
        for w, g in zip(want, got):
            for k in w:
                np.testing.assert_array_equal(g[k], w[k])
        # the parent's readers still work after the children used theirs
        np.testing.assert_array_equal(ds.read_batch(jobs[0])["position"], want[0]["position"])


TORCH_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, torch
    from torch.utils.data import DataLoader
    import zarrtraj
    url, method = sys.argv[1], sys.argv[2]
    def main():
        ds = zarrtraj.FrameDataset(url, elements=("position", "velocity"))
        s = zarrtraj.ChunkShuffleSampler(ds, batch_size=6, seed=4, window=2)
        want = list(s)
        for kw in ({}, {"batch_dict": True}):
            ds = zarrtraj.FrameDataset(url, elements=("position", "velocity"), **kw)
            dl = DataLoader(ds, batch_sampler=s, num_workers=2, multiprocessing_context=method,
                            collate_fn=zarrtraj.to_torch if kw else None)
            got = list(dl)
            assert len(got) == len(want)
            for b, frames in zip(got, want):
                ref = ds.read_batch(frames)
                for k in ref:
                    assert isinstance(b[k], torch.Tensor), k
                    np.testing.assert_array_equal(b[k].numpy(), ref[k])
        dl = DataLoader(zarrtraj.FrameDataset(url), batch_size=8, shuffle=True, num_workers=2,
                        multiprocessing_context=method, generator=torch.Generator().manual_seed(0))
        assert sum(len(b["step"]) for b in dl) == len(ds)
        print("OK", len(want))
    if __name__ == "__main__":
        main()
""")


def torch_python():
    try:
        import torch  # noqa: F401
        return sys.executable
    except ImportError:
        pass
    py = os.environ.get("ZT_TORCH_PYTHON")
    if py and subprocess.run([py, "-c", "import torch"], capture_output=True).returncode == 0:
        return py
    return None


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_torch_dataloader(files, tmp_path, method):
    py = torch_python()
    if py is None:
        pytest.skip("torch not importable here and ZT_TORCH_PYTHON not set (torch is not part of the test venvs; "
                    "the fork/spawn worker tests above cover the multiprocessing part)")
    script = tmp_path / "torch_loader.py"
    script.write_text(TORCH_SCRIPT)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(zarrtraj.__file__)),
                                         env.get("PYTHONPATH", "")])
    p = subprocess.run([py, str(script), files["zarrmd"], method], capture_output=True, text=True, env=env,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-4000:]
    assert p.stdout.startswith("OK")


# ---- object storage -----------------------------------------------------------------------------

def test_s3_emulator(emulators, files, many, tmp_path):
    if "ZT_S3_ENDPOINT" not in emulators:
        pytest.skip("s3 test server not running")
    boto3 = pytest.importorskip("boto3")
    emu = emulators
    c = boto3.client("s3", endpoint_url=emu["ZT_S3_ENDPOINT"], aws_access_key_id=emu["ZT_S3_KEY"],
                     aws_secret_access_key=emu["ZT_S3_SECRET"], region_name="us-east-1")
    prefix = f"pytest-py-dataset/{uuid.uuid4().hex[:8]}"
    d, paths, refs = many
    local = [files["zarrmd"], files["h5md"]] + paths[:2]
    urls = []
    for k, src in enumerate(local):
        key = f"{prefix}/{k}-{os.path.basename(src)}"
        if os.path.isfile(src):
            c.upload_file(src, emu["ZT_S3_BUCKET"], key)
        else:
            for dd, _, fs in os.walk(src):
                for f in fs:
                    p = os.path.join(dd, f)
                    c.upload_file(p, emu["ZT_S3_BUCKET"], f"{key}/{os.path.relpath(p, src)}")
        urls.append(f"s3://{emu['ZT_S3_BUCKET']}/{key}")
    so = {"endpoint_url": emu["ZT_S3_ENDPOINT"], "key": emu["ZT_S3_KEY"], "secret": emu["ZT_S3_SECRET"],
          "region": "us-east-1"}
    # glob patterns on the bucket: one listing per directory level (zt_glob); hierarchies and objects match
    bkt = emu["ZT_S3_BUCKET"]
    assert zarrtraj.glob(f"s3://{bkt}/{prefix}/*", so) == sorted(urls)
    assert zarrtraj._core.glob(f"s3://{bkt}/{prefix}/*.h5md", so) == [urls[1]]
    assert urls[1] in zarrtraj._core.glob(f"s3://{bkt}/pytest-py-dataset/*/1-*.h5md", so)
    assert zarrtraj._core.glob(f"s3://{bkt}/{prefix}/*.nothing", so) == []
    gds = FrameDataset(f"s3://{bkt}/{prefix}/[23]-sim*.zarrmd", storage_options=so)
    assert gds.urls == urls[2:4] and len(gds) == 12 + 5
    lds = FrameDataset(paths[:2])
    fr = np.random.default_rng(3).permutation(17)
    want, got = lds.read_batch(fr), gds.read_batch(fr)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])
    with pytest.raises(FileNotFoundError, match="nothing matches"):
        FrameDataset(f"s3://{bkt}/{prefix}/*.nothing", storage_options=so)
    # one trajectory: values as zarr-python / h5py read the local copies
    zref = zarr_reference(files["zarrmd"])
    ds = zds(urls[0], storage_options=so)
    frames = np.random.default_rng(1).permutation(N_FRAMES)[:16]
    assert_batch(ds.read_batch(frames), zref, frames)
    href = h5py_reference(files["h5md"])
    hds = FrameDataset(urls[1], storage_options=so, observables=["temperature"])
    assert_batch(hds.read_batch(frames), href, frames)
    # many files over S3, shuffled by chunk groups, prefetched
    remote = FrameDataset([urls[0], urls[2], urls[3]], storage_options=so, max_open=2)
    localds = FrameDataset([files["zarrmd"], paths[0], paths[1]])
    assert len(remote) == len(localds) == N_FRAMES + 17
    np.testing.assert_array_equal(remote.chunk_groups(), localds.chunk_groups())
    s = ChunkShuffleSampler(remote, batch_size=8, seed=2, window=3)
    for b, fr in zip(remote.batches(s, prefetch=2), s):
        want = localds.read_batch(fr)
        for k in want:
            np.testing.assert_array_equal(b[k], want[k])
    # a sharded Zarr v3 trajectory from the bucket: the frames asked for, as zarr-python 3 reads the local copy
    zarr = pytest.importorskip("zarr")
    if int(zarr.__version__.split(".")[0]) >= 3:
        v3 = write_zarrmd_v3(tmp_path / "s3-v3.zarrmd", 1, 8)
        for dd, _, fs in os.walk(v3):
            for f in fs:
                p = os.path.join(dd, f)
                c.upload_file(p, emu["ZT_S3_BUCKET"], f"{prefix}/v3.zarrmd/{os.path.relpath(p, v3)}")
        arr = zarr.open_group(v3, mode="r")["particles/trajectory/position/value"]
        v3ds = FrameDataset(f"s3://{emu['ZT_S3_BUCKET']}/{prefix}/v3.zarrmd", storage_options=so)
        # the shard indexes come with the open: a frame of each of 5 shards costs its own range (+ the box chunk)
        v3ds._probe([0])
        r = v3ds._pool[0].reader
        n0 = r.stats()["requests"]
        one_per_shard = [3, 12, 21, 30, 39]
        np.testing.assert_array_equal(v3ds.read_batch(one_per_shard)["position"], arr.oindex[one_per_shard])
        assert r.stats()["requests"] - n0 <= len(one_per_shard) + 1
        fr = np.random.default_rng(5).permutation(N_FRAMES)[:20]
        got = v3ds.read_batch(fr)
        np.testing.assert_array_equal(got["position"], arr.oindex[fr])
        assert v3ds._options(v3ds.urls[0])[-1] == ("max_concurrency", "64")
        assert ("max_concurrency", "8") in FrameDataset(v3ds.urls[0], storage_options=dict(so, max_concurrency=8)
                                                        )._options(v3ds.urls[0])
    # a spawned worker opens its own S3 readers from the pickled URL and options
    jobs = _batches(remote, 3)
    with mp.get_context("spawn").Pool(1) as pool:
        got = pool.map(remote.read_batch, jobs)
    for g, fr in zip(got, jobs):
        np.testing.assert_array_equal(g["position"], localds.read_batch(fr)["position"])
