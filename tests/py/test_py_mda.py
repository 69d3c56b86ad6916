"""zarrtraj's MDAnalysis integration: registration (formats, URLs), the reader
protocol (iteration, slicing, fancy indexing, random access in one C call,
copy, pickling, close), Timestep semantics (has_* flags, dimensions, time,
step, unit factors), timeseries/lazytimeseries against MDAnalysis' own
implementation, and identity with MDAnalysis' H5MDReader on the files it reads.
"""
import json
import os
import pickle
import warnings

import numpy as np
import pytest

zarrtraj = pytest.importorskip("zarrtraj", reason="zarrtraj extension not built (PYTHONPATH=build/python)")
import MDAnalysis as mda  # noqa: E402
from MDAnalysis.coordinates import base  # noqa: E402
from MDAnalysis.coordinates.H5MD import H5MDReader  # noqa: E402
from MDAnalysis.core._get_readers import get_reader_for, get_writer_for  # noqa: E402
from MDAnalysis.exceptions import NoDataError  # noqa: E402

from zarrtraj import ZARRH5MDReader, ZARRMDWriter  # noqa: E402

DATA = os.environ.get("ZT_DATA_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
if not os.path.exists(os.path.join(DATA, "expected.json")):
    pytest.skip("shared data folder not found (ZT_DATA_DIR)", allow_module_level=True)
with open(os.path.join(DATA, "expected.json")) as _f:
    FILES = json.load(_f)["files"]

SYNTH = os.path.join(DATA, "zarrtraj/COORDINATES_SYNTHETIC_ZARRMD.zarrmd")
MIXED = os.path.join(DATA, "generated/zarrtraj_lammps_arkr_mixed_sampling.zarrmd")
TIP125 = os.path.join(DATA, "generated/mda242_charmm_tip125_triclinic.h5md")
COBRO = os.path.join(DATA, "mdanalysis/cobrotoxin.h5md")


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


# ---- registration -------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["H5MD", "H5", "ZARRMD", "ZARR"])
def test_registered_formats(fmt):
    from MDAnalysis import _READERS

    assert _READERS[fmt] is ZARRH5MDReader


@pytest.mark.parametrize("name", ["t.h5md", "t.h5", "t.zarrmd", "/a/b/t.zarr", "s3://bucket/traj.h5md",
                                  "s3://bucket/t.zarrmd", "gcs://bucket/t.zarrmd", "gs://bucket/t.h5md",
                                  "az://container/t.zarrmd", "abfs://container/t.h5md", "https://host/d/t.h5md",
                                  "https://host/t.h5md?sv=2024&sig=abc", "s3://bucket/t.zarrmd/",
                                  "file:///tmp/t.zarrmd"])
def test_reader_for_names_and_urls(name):
    assert get_reader_for(name) is ZARRH5MDReader


def test_writer_registered():
    assert get_writer_for("s3://bucket/out.zarrmd") is ZARRMDWriter
    assert get_writer_for("out.zarrmd") is ZARRMDWriter


# ---- Universe and reader protocol ------------------------------------------------------------------

@pytest.fixture
def synth():
    return ZARRH5MDReader(SYNTH)


def test_universe_minimal_topology_and_topology_file(tmp_path):
    u = mda.Universe(SYNTH)  # atoms counted by parse_n_atoms
    assert len(u.atoms) == 5 and len(u.trajectory) == 5
    assert ZARRH5MDReader.parse_n_atoms(SYNTH) == 5
    u.add_TopologyAttr("names", ["C1", "C2", "C3", "C4", "C5"])
    u.add_TopologyAttr("resnames", ["MOL"])
    pdb = str(tmp_path / "top.pdb")
    u.atoms.write(pdb)
    u2 = mda.Universe(pdb, SYNTH)
    assert isinstance(u2.trajectory, ZARRH5MDReader)
    np.testing.assert_allclose(u2.atoms.positions, 2 ** 0 * np.arange(15).reshape(5, 3))
    u2.trajectory[3]
    np.testing.assert_allclose(u2.atoms.positions, 2 ** 3 * np.arange(15).reshape(5, 3))


def test_iteration_and_rewind(synth):
    assert len(synth) == 5 and synth.n_atoms == 5 and synth.n_frames == 5
    frames = [ts.frame for ts in synth]
    assert frames == [0, 1, 2, 3, 4]
    assert synth.ts.frame == 0  # rewound after the loop
    assert [ts.frame for ts in synth] == frames  # iterable again
    synth.next()
    assert synth.ts.frame == 1


def test_slicing_and_indexing(synth):
    assert [ts.frame for ts in synth[1:4]] == [1, 2, 3]
    assert [ts.frame for ts in synth[::2]] == [0, 2, 4]
    assert [ts.frame for ts in synth[::-1]] == [4, 3, 2, 1, 0]
    assert [ts.frame for ts in synth[[3, 0, 3, 2]]] == [3, 0, 3, 2]
    assert [ts.frame for ts in synth[np.array([True, False, True, False, False])]] == [0, 2]
    assert synth[-1].frame == 4
    np.testing.assert_allclose(synth[-2].positions[1], 8 * np.array([3, 4, 5]))
    with pytest.raises(IndexError):
        synth[5]
    with pytest.raises(TypeError):
        synth["a"]


class _Counting:
    """Proxy of the C reader counting calls into the extension."""

    def __init__(self, core):
        self.core, self.calls = core, []

    def __getattr__(self, name):
        attr = getattr(self.core, name)
        if callable(attr):
            def wrapped(*a, **k):
                self.calls.append(name)
                return attr(*a, **k)
            return wrapped
        return attr


def test_random_access_is_one_c_call():
    r = ZARRH5MDReader(os.path.join(DATA, "zarrtraj/COORDINATES_VARIED_STEPS_ZARRMD.zarrmd"))
    proxy = _Counting(r._core)
    r._core = proxy
    ts = r[3]  # positions, forces, box and 4 time-dependent observables
    assert proxy.calls == ["read_frame"]
    assert ts.data["obsv1"] == 6 and ts.has_forces and not ts.has_velocities
    proxy.calls.clear()
    for _ in r:
        pass
    assert proxy.calls == ["read_frame"] * 6  # 5 frames + the rewind to frame 0


def test_has_flags_mixed_sampling():
    r = ZARRH5MDReader(MIXED)
    pattern = [(ts.has_positions, ts.has_velocities, ts.has_forces) for ts in r]
    assert pattern[:5] == [(True, True, True), (True, False, False), (True, True, False), (True, False, False),
                           (True, True, True)]
    assert sum(v for _, v, _ in pattern) == 11 and sum(f for _, _, f in pattern) == 6
    ts = r[1]
    with pytest.raises(NoDataError):
        ts.velocities
    assert r[2].has_velocities and np.isfinite(r[2].velocities).all()


def test_time_step_dt_and_offset():
    r = ZARRH5MDReader(MIXED)
    assert r[1].data["step"] == 10
    assert r[1].time == pytest.approx(0.05)  # 50 fs in ps
    assert r.dt == pytest.approx(0.05)
    r2 = ZARRH5MDReader(MIXED, time_offset=10.0)
    assert r2[1].time == pytest.approx(10.05)
    r3 = ZARRH5MDReader(MIXED, dt=2.0)
    assert r3.dt == 2.0


def test_unit_factors():
    """Factors from the C library, not MDAnalysis' table (whose Angstrom/fs is inverted)."""
    native = ZARRH5MDReader(COBRO, convert_units=False)
    conv = ZARRH5MDReader(COBRO)
    assert conv.units["length"] == "nm" and conv.units["velocity"] == "nm/ps"
    np.testing.assert_allclose(conv[1].positions, native[1].positions * 10, rtol=1e-6)
    np.testing.assert_allclose(conv[1].velocities, native[1].velocities * 10, rtol=1e-6)
    np.testing.assert_allclose(conv[1].forces, native[1].forces / 10, rtol=1e-6)  # kJ/(mol nm) -> kJ/(mol A)
    np.testing.assert_allclose(conv[1].dimensions[:3], native[1].dimensions[:3] * 10, rtol=1e-6)
    two = os.path.join(DATA, "generated/pyh5md_lammps_arkr_two_groups.h5")
    n = ZARRH5MDReader(two, group="argon", convert_units=False)
    c = ZARRH5MDReader(two, group="argon")
    assert c.units["velocity"] == "Angstrom/fs"
    np.testing.assert_allclose(c[3].velocities, n[3].velocities * 1000, rtol=1e-6)  # A/fs -> A/ps
    assert c[3].time == pytest.approx(n[3].time / 1000)  # fs -> ps
    amber = os.path.join(DATA, "generated/mda242_amber_posfor_nobox_contiguous.h5md")
    n = ZARRH5MDReader(amber, convert_units=False)
    c = ZARRH5MDReader(amber)
    np.testing.assert_allclose(c[0].forces, n[0].forces * 4.184, rtol=1e-6)  # kcal -> kJ
    assert c[0].dimensions is None


def test_copy(synth):
    synth[2]
    c = synth.copy()
    assert c.ts.frame == 2 and c is not synth
    np.testing.assert_array_equal(c.ts.positions, synth.ts.positions)
    c[4]
    assert synth.ts.frame == 2
    assert c._kwargs == synth._kwargs


def test_pickle_reader_and_universe(synth):
    synth[3]
    r2 = pickle.loads(pickle.dumps(synth))
    assert r2.ts.frame == 3 and r2._core is not synth._core
    np.testing.assert_array_equal(r2.ts.positions, synth.ts.positions)
    assert [ts.frame for ts in r2] == [0, 1, 2, 3, 4]
    u = mda.Universe(MIXED)
    u.trajectory[7]
    u2 = pickle.loads(pickle.dumps(u))
    assert u2.trajectory.ts.frame == 7
    np.testing.assert_array_equal(u2.atoms.positions, u.atoms.positions)
    assert u2.trajectory.ts.data["trajectory/temperature"] == u.trajectory.ts.data["trajectory/temperature"]


def _frame_com(args):
    u, frame = args
    u.trajectory[frame]
    return frame, u.atoms.positions.mean(axis=0)


def test_multiprocessing():
    import multiprocessing

    u = mda.Universe(MIXED)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        out = dict(pool.map(_frame_com, [(u, f) for f in range(0, 21, 4)]))
    for f, com in out.items():
        u.trajectory[f]
        np.testing.assert_allclose(com, u.atoms.positions.mean(axis=0), rtol=1e-6)


def test_close_and_reopen(synth):
    synth[1]
    synth.close()
    assert synth._core.closed
    synth.close()  # idempotent
    assert [ts.frame for ts in synth] == [0, 1, 2, 3, 4]  # iteration reopens
    synth.close()
    np.testing.assert_allclose(synth[4].positions[0], [0, 16, 32])


def test_writer_method(synth, tmp_path):
    w = synth.Writer(str(tmp_path / "o.zarrmd"))
    assert isinstance(w, ZARRMDWriter) and w.n_atoms == 5
    w.close()


# ---- timeseries -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tip():
    return mda.Universe(TIP125)


@pytest.mark.parametrize("order", ["fac", "afc", "caf", "fca", "acf", "cfa"])
@pytest.mark.parametrize("sl", [(None, None, None), (1, 7, 2), (8, 1, -3), (-3, None, 1)])
def test_timeseries_like_mdanalysis(tip, order, sl):
    r = tip.trajectory
    sel = tip.atoms[[5, 0, 17, 300, 17]]
    start, stop, step = sl
    want = base.ReaderBase.timeseries(r, sel, start=start, stop=stop, step=step, order=order)
    got = r.timeseries(sel, start=start, stop=stop, step=step, order=order)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    got2 = r.timeseries(atomgroup=tip.atoms[10:40], start=start, stop=stop, step=step, order=order)
    want2 = base.ReaderBase.timeseries(r, tip.atoms[10:40], start=start, stop=stop, step=step, order=order)
    np.testing.assert_array_equal(got2, want2)
    lazy = r.lazytimeseries(sel, start=start, stop=stop, step=step, order=order)
    np.testing.assert_array_equal(lazy.compute(scheduler="threads"), want)


def test_timeseries_all_atoms_and_errors(tip):
    r = tip.trajectory
    np.testing.assert_array_equal(r.timeseries(), base.ReaderBase.timeseries(r))
    with pytest.raises(ValueError, match="both"):
        r.timeseries(tip.atoms[:3], atomgroup=tip.atoms[:3])
    with pytest.raises(ValueError, match="at least one atom"):
        r.timeseries(tip.atoms[[]])
    with pytest.raises(ValueError, match="order"):
        r.timeseries(order="fxc")
    with pytest.raises(ValueError):
        r.timeseries(order="ffa")
    with pytest.raises(NoDataError):
        r.timeseries(element="velocities")


def test_timeseries_mixed_sampling_nan():
    r = ZARRH5MDReader(MIXED)
    v = r.timeseries(element="velocities", order="fac")
    for ts in r:
        if ts.has_velocities:
            np.testing.assert_array_equal(v[ts.frame], ts.velocities)
        else:
            assert np.isnan(v[ts.frame]).all()
    np.testing.assert_array_equal(r.lazytimeseries(element="forces").compute(), r.timeseries(element="forces"))


def test_lazytimeseries_chunks_follow_storage(tmp_path, monkeypatch):
    """One task per storage chunk of frames (here 4 frames per chunk)."""
    u = mda.Universe(TIP125)
    out = str(tmp_path / "tip.zarrmd")
    frame_bytes = u.atoms.n_atoms * 12
    with ZARRMDWriter(out, u.atoms.n_atoms, n_frames=u.trajectory.n_frames, chunk_bytes=4 * frame_bytes) as w:
        for ts in u.trajectory:
            w.write(u.atoms)
    r = ZARRH5MDReader(out)
    assert r.array_info()["chunks"][0] == 4
    import zarrtraj.lazy

    monkeypatch.setattr(zarrtraj.lazy, "TASK_BYTES", 1)  # no merging of small chunks
    lz = r.lazytimeseries()
    n = r.n_frames
    assert lz.chunks[0] == tuple([4] * (n // 4) + ([n % 4] if n % 4 else []))
    np.testing.assert_array_equal(lz.compute(), r.timeseries())
    lz = r.lazytimeseries(start=2, step=3)  # frames 2, 5, 8, 11, ...: grouped by the chunk they fall in
    chunk_of = [f // 4 for f in range(2, n, 3)]
    assert len(lz.chunks[0]) == len(set(chunk_of))
    np.testing.assert_array_equal(lz.compute(), r.timeseries(start=2, step=3))
    assert r.lazytimeseries(frames_per_task=5).chunks[0][0] == 4  # cut at the chunk boundary


# ---- identical to MDAnalysis' own H5MDReader -------------------------------------------------------------

MDA_READABLE = sorted(k for k, v in FILES.items() if v["valid"] and v.get("reader_view", {}).get("ok")
                      and v["reader_view"]["reader"].startswith("MDAnalysis"))


@pytest.mark.parametrize("name", MDA_READABLE)
def test_same_as_mdanalysis_h5mdreader(name):
    path = os.path.join(DATA, name)
    conv = FILES[name]["reader_view"].get("convert_units", True)
    theirs = H5MDReader(path, convert_units=conv)
    ours = ZARRH5MDReader(path, convert_units=conv, require_time=False)
    assert len(ours) == len(theirs) and ours.n_atoms == theirs.n_atoms
    for a, b in zip(ours, theirs):
        assert a.frame == b.frame
        assert a.has_positions == b.has_positions
        if a.has_positions:
            np.testing.assert_array_equal(a.positions, b.positions)
        if b.dimensions is None:
            assert a.dimensions is None
        else:
            np.testing.assert_allclose(a.dimensions, b.dimensions, rtol=2e-7)
        # MDAnalysis >= 2.5 converts a float32 time in float32 (0.35000002 ps for 350 fs); we convert in
        # float64 (0.35000000000000003): equal to float32 precision
        assert a.time == pytest.approx(b.time, rel=2e-7, abs=1e-12)
        assert a.data["step"] == b.data["step"]
        if a.has_velocities and b.has_velocities:
            np.testing.assert_allclose(a.velocities, b.velocities, rtol=1e-6)
        if a.has_forces and b.has_forces:
            np.testing.assert_allclose(a.forces, b.forces, rtol=1e-6)
    theirs.close()


# ---- errors ---------------------------------------------------------------------------------------------

def test_error_classes():
    assert issubclass(zarrtraj.NotFoundError, FileNotFoundError)
    assert issubclass(zarrtraj.AuthError, PermissionError)
    assert issubclass(zarrtraj.FormatError, ValueError)
    assert issubclass(zarrtraj.GroupError, KeyError) and issubclass(zarrtraj.GroupError, ValueError)
    assert issubclass(zarrtraj.NetworkError, OSError) and issubclass(zarrtraj.StoreTimeoutError, OSError)
    for cls in (zarrtraj.NotFoundError, zarrtraj.AuthError, zarrtraj.FormatError, zarrtraj.CorruptDataError):
        assert issubclass(cls, zarrtraj.ZarrtrajError)
    with pytest.raises(zarrtraj.NotFoundError) as ei:
        mda.Universe(SYNTH, os.path.join(DATA, "nope.h5md"))
    assert ei.value.code == -4 and "nope.h5md" in str(ei.value)
    # unreachable server: a network error, never a crash
    with pytest.raises(OSError):
        ZARRH5MDReader("s3://bucket/t.zarrmd", storage_options={
            "endpoint_url": "http://127.0.0.1:9", "anon": True, "retries": 0, "timeout": 2})
    with pytest.raises(TypeError):
        ZARRH5MDReader(SYNTH, storage_options={"key": object()})
