"""zarrtraj's MDAnalysis reader over every file of the shared data folder,
against expected.json (values from h5py/zarr-python, MDAnalysis 2.4.2 and
Zarrtraj, independent of us): steps, times, positions, velocities, forces, box,
observables in native units (the `key` section) and after unit conversion (the
`reader_view` section), the specific exception of every bad input, and the
expectations Zarrtraj's own test suite has for its files.
"""
import json
import os

import numpy as np
import pytest

zarrtraj = pytest.importorskip("zarrtraj", reason="zarrtraj extension not built (PYTHONPATH=build/python)")
from MDAnalysis.exceptions import NoDataError  # noqa: E402
from MDAnalysis.lib.mdamath import triclinic_box  # noqa: E402

from zarrtraj import ZARRH5MDReader  # noqa: E402

DATA = os.environ.get("ZT_DATA_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
EXPECTED = os.path.join(DATA, "expected.json")
if not os.path.exists(EXPECTED):
    pytest.skip("shared data folder not found (ZT_DATA_DIR)", allow_module_level=True)
with open(EXPECTED) as _f:
    FILES = json.load(_f)["files"]

VALID = sorted(k for k, v in FILES.items() if v["valid"])
INVALID = sorted(k for k, v in FILES.items() if not v["valid"])
VIEWS = sorted(k for k, v in FILES.items() if v["valid"] and v.get("reader_view", {}).get("ok")
               and len(v["key"]["particle_groups"]) == 1)
EL_KEYS = {"position": "position", "velocity": "velocity", "force": "force", "forces": "force"}
TS_ATTR = {"position": "positions", "velocity": "velocities", "force": "forces"}


def path(name):
    return os.path.join(DATA, name)


def values(spec):
    """explicit values or the derived list of a fixed step/time"""
    if not spec:
        return None
    return spec.get("values", spec.get("derived"))


def close(got, want, tol=1e-6):
    got = np.asarray(got, dtype=np.float64).ravel()
    want = np.asarray(want, dtype=np.float64).ravel()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


# ---- native units: the `key` section ---------------------------------------------------------


def group_cases():
    for f in VALID:
        for g in FILES[f]["key"]["particle_groups"]:
            yield f, g


@pytest.mark.parametrize("name,group", list(group_cases()), ids=lambda x: x)
def test_native_values(name, group):
    g = FILES[name]["key"]["particle_groups"][group]
    r = ZARRH5MDReader(path(name), group=group, convert_units=False, require_time=False)
    assert r.n_atoms == g["n_particles"]
    seen = {el: [] for el in TS_ATTR}  # (step, array) of every sample, in frame order
    first_box = None
    for ts in r:
        for el, attr in TS_ATTR.items():
            if getattr(ts, "has_" + attr):
                seen[el].append((ts.data["step"], getattr(ts, attr).astype(np.float64)))
        if first_box is None and ts.dimensions is not None:
            first_box = ts.dimensions.copy()
    for ename, e in g["elements"].items():
        el = EL_KEYS.get(ename)
        if el is None or e.get("time_dependent") is False:
            continue
        s = seen[el]
        assert len(s) == e["n_samples"], ename
        assert [st for st, _ in s] == [int(x) for x in values(e["step"])], ename
        assert r._core.unit(el) == e["unit"]
        close(s[0][1][0], e["first_sample_first_particle"])
        if len(s) > 1 and "second_sample_first_particle" in e:
            close(s[1][1][0], e["second_sample_first_particle"])
        close(s[-1][1][-1], e["last_sample_last_particle"])
        total = sum(a.sum() for _, a in s)
        mag = np.abs(s[0][1]).max() * r.n_atoms * len(s) * 3
        assert abs(total - e["sum"]) <= 1e-6 * (abs(e["sum"]) + mag) + 1e-9, ename
    # frame times = position times when positions are sampled at every frame
    pos = g["elements"].get("position")
    if pos and pos.get("time") and len(seen["position"]) == r.n_frames:
        close(r._times, values(pos["time"]), 1e-9)
    # box: boundary and the first box (lengths and angles)
    assert tuple(r._core.boundary) == tuple(g["boundary"])
    bx = g.get("box_edges")
    if bx and bx.get("first") is not None:
        m = np.asarray(bx["first"], dtype=np.float64)
        want = triclinic_box(*m) if m.ndim == 2 else np.r_[m, 90.0, 90.0, 90.0]
        assert first_box is not None
        close(first_box, want, 1e-5)
    else:
        assert first_box is None
    r.close()


@pytest.mark.parametrize("name", VALID)
def test_observables(name):
    key = FILES[name]["key"]
    obs = key.get("observables") or {}
    for group in key["particle_groups"]:
        r = ZARRH5MDReader(path(name), group=group, convert_units=False, require_time=False)
        info = {d["name"]: (i, d) for i, d in enumerate(r._core.data_info())}
        steps_of_frame = {int(s): f for f, s in enumerate(r._steps)}
        for oname, o in obs.items():
            assert oname in info, f"observable {oname} not exposed"
            i, d = info[oname]
            assert d["kind"] == "observable"
            v, st, tm = r._core.read_data_all(i)
            close(v.sum(), o["sum"], 1e-9)
            if o.get("time_dependent") is False:
                assert not d["time_dependent"]
                if o.get("value") is not None:
                    close(v, o["value"], 1e-9)
                    close(r.ts.data[oname], o["value"], 1e-9)  # in every frame's data
                continue
            assert d["time_dependent"] and len(v) == o["n_samples"]
            close(v.reshape(len(v), -1)[:len(o["first"])].ravel()[:len(o["first"])], o["first"], 1e-9)
            assert list(st) == [int(x) for x in values(o["step"])]
            if o.get("time"):
                close(tm, values(o["time"]), 1e-9)
            # through the Timestep: the sample at every frame sharing its step, None elsewhere
            for k, s in enumerate(st):
                f = steps_of_frame.get(int(s))
                if f is not None:
                    close(r[f].data[oname], v[k], 1e-9)
            sampled = set(int(s) for s in st)
            for f, s in enumerate(r._steps):
                if int(s) not in sampled:
                    assert r[f].data[oname] is None
        r.close()


# ---- MDAnalysis units: the `reader_view` section --------------------------------------------


@pytest.mark.parametrize("name", VIEWS)
def test_reader_view(name):
    rv = FILES[name]["reader_view"]
    mda_view = rv["reader"].startswith("MDAnalysis")
    r = ZARRH5MDReader(path(name), convert_units=rv.get("convert_units", True), require_time=False)
    assert r.n_frames == rv["n_frames"] and r.n_atoms == rv["n_atoms"]
    ti = {d["name"] for d in r._core.data_info() if not d["time_dependent"]}
    for f in rv["frames"]:
        ts = r[f["frame"]]
        assert ts.frame == f["frame"]
        assert ts.data["step"] == f["step"]
        assert abs(ts.time - f["time"]) <= 1e-6 * max(1.0, abs(f["time"]))
        assert ts.has_positions == f["has_positions"]
        assert ts.has_velocities == f["has_velocities"]
        assert ts.has_forces == f["has_forces"]
        if f.get("dimensions") is None:
            assert ts.dimensions is None
        else:
            close(ts.dimensions, f["dimensions"], 1e-5)
        for key, attr, atom in (("positions_first_atom", "positions", 0), ("positions_last_atom", "positions", -1),
                                ("velocities_first_atom", "velocities", 0), ("forces_first_atom", "forces", 0)):
            if key in f and getattr(ts, "has_" + attr):
                close(getattr(ts, attr)[atom], f[key], 1e-5)
        for dname, want in (f.get("data") or {}).items():
            if mda_view and dname in ti:
                continue  # MDAnalysis maps row i of a step-less group to frame i; H5MD says time-independent
            got = ts.data[dname]
            if want is None:
                assert got is None, dname
            else:
                close(got, want, 1e-9)
    r.close()


# ---- bad inputs -------------------------------------------------------------------------------

CATEGORY = {
    "missing_h5md_group": (zarrtraj.FormatError, "ZT_ENOTH5MD"),
    "truncated_hdf5": (zarrtraj.CorruptDataError, "ZT_ETRUNCATED"),
    "wrong_rank": (zarrtraj.FormatError, "ZT_ESHAPE"),
    "step_value_mismatch": (zarrtraj.FormatError, "ZT_EMISMATCH"),
    "not_hdf5": (zarrtraj.FormatError, "ZT_ENOTHDF5"),
    "corrupt_chunk": (zarrtraj.CorruptDataError, "ZT_ECORRUPT"),
    "malformed_metadata": (zarrtraj.FormatError, "ZT_EFORMAT"),
}


@pytest.mark.parametrize("name", INVALID)
def test_invalid(name):
    cat = FILES[name]["expected_error"]["category"]
    cls, errname = CATEGORY[cat]
    with pytest.raises(cls) as ei:
        r = ZARRH5MDReader(path(name), require_time=False)
        for _ in r:  # errors in chunk data surface when frames are read
            pass
    assert ei.value.errname == errname
    assert os.path.basename(name) in str(ei.value)  # the message names the file
    if cls is zarrtraj.FormatError:
        assert isinstance(ei.value, ValueError)
    else:
        assert isinstance(ei.value, OSError) and isinstance(ei.value, ValueError)


def test_missing_file():
    with pytest.raises(FileNotFoundError) as ei:
        ZARRH5MDReader(path("zarrtraj/no_such_file.zarrmd"))
    assert isinstance(ei.value, zarrtraj.NotFoundError) and ei.value.errname == "ZT_ENOTFOUND"


def test_groups():
    f = path("generated/pyh5md_lammps_arkr_two_groups.h5")
    with pytest.raises(ValueError, match="particle groups"):
        ZARRH5MDReader(f)  # several groups, none chosen
    with pytest.raises(KeyError, match="xenon"):
        ZARRH5MDReader(f, group="xenon")
    assert zarrtraj.list_groups(f) == ["argon", "krypton"]
    r = ZARRH5MDReader(f, group="krypton")
    assert r.n_atoms == 59 and r.group == "krypton"


def test_units_required_when_converting():
    """As Zarrtraj and MDAnalysis: convert_units=True needs unit attributes."""
    f = path("generated/mda242_lammps_imagevf_nounits.h5md")
    with pytest.raises(ValueError, match="readable units"):
        ZARRH5MDReader(f)
    assert ZARRH5MDReader(f, convert_units=False).n_frames == 3


# ---- Zarrtraj's own test-suite expectations for its files --------------------------------------

ZT = "zarrtraj/COORDINATES_{}_{}"
EXT = {"H5MD": "h5md", "ZARRMD": "zarrmd"}


@pytest.mark.parametrize("fmt", ["H5MD", "ZARRMD"])
def test_zarrtraj_missing_h5md_group(fmt):
    with pytest.raises(ValueError, match="H5MD file must contain an 'h5md' group"):
        ZARRH5MDReader(path(ZT.format("MISSING_H5MD_GROUP", fmt) + "." + EXT[fmt]))


@pytest.mark.parametrize("fmt", ["H5MD", "ZARRMD"])
def test_zarrtraj_missing_time_dset(fmt):
    f = path(ZT.format("MISSING_TIME_DSET", fmt) + "." + EXT[fmt])
    with pytest.raises(NoDataError, match="MDAnalysis requires that time data is available "):
        ZARRH5MDReader(f)
    # valid H5MD nevertheless: readable on request, frame times from the box
    r = ZARRH5MDReader(f, require_time=False)
    assert [ts.time for ts in r] == [0.0, 1.0, 2.0, 3.0, 4.0]


@pytest.fixture(params=["H5MD", "ZARRMD"])
def varied(request):
    fmt = request.param
    return ZARRH5MDReader(path(ZT.format("VARIED_STEPS", fmt) + "." + EXT[fmt]))


@pytest.fixture
def true_vals():
    return ZARRH5MDReader(path("zarrtraj/COORDINATES_SYNTHETIC_H5MD.h5md"))


def test_varied_global_step_time(varied):
    for i in range(5):
        assert varied[i].time == i
        assert varied[i].data["step"] == i
    assert len(varied) == 5


def test_varied_explicit_offset_velocities(varied, true_vals):
    for i in range(3):
        np.testing.assert_array_almost_equal(varied[i].velocities, true_vals[i].velocities)
    for i in range(3, 5):
        assert not varied[i].has_velocities


def test_varied_fixed_offset_forces(varied, true_vals):
    assert not varied[0].has_forces
    for i in range(1, 5):
        np.testing.assert_array_almost_equal(varied[i].forces, true_vals[i].forces)


def test_varied_fixed_positions(varied, true_vals):
    for i in range(5):
        np.testing.assert_array_almost_equal(varied[i].positions, true_vals[i].positions)


@pytest.mark.parametrize("prefix", ["", "trajectory/"])
def test_varied_observables(varied, prefix):
    for i in range(1, 5, 2):
        assert varied[i].data[prefix + "obsv1"] == i + 3
        assert varied[i].data[prefix + "obsv2"] == i + 3
    for i in range(0, 5, 2):
        assert varied[i].data[prefix + "obsv1"] is None
        assert varied[i].data[prefix + "obsv2"] is None
    for i in range(5):
        np.testing.assert_array_almost_equal(varied[i].data[prefix + "obsv3"], [4, 6, 8])


@pytest.mark.parametrize("fmt", ["H5MD", "ZARRMD"])
def test_zarrtraj_synthetic_reference(fmt):
    """Zarrtraj's H5MDFmtReference: positions[i] = 2**i * arange(15).reshape(5, 3),
    velocities = positions / 10, forces = positions / 100, time = frame = i."""
    r = ZARRH5MDReader(path(ZT.format("SYNTHETIC", fmt) + "." + EXT[fmt]))
    base = np.arange(15, dtype=np.float32).reshape(5, 3)
    for i, ts in enumerate(r):
        np.testing.assert_allclose(ts.positions, 2 ** i * base)
        np.testing.assert_allclose(ts.velocities, 2 ** i * base / 10, rtol=1e-6)
        np.testing.assert_allclose(ts.forces, 2 ** i * base / 100, rtol=1e-6)
        assert ts.time == i and ts.frame == i
        np.testing.assert_allclose(ts.dimensions, [81.1 + i, 82.2 + i, 83.3 + i, 75 + 0.1 * i, 80 + 0.1 * i,
                                                   85 + 0.1 * i], rtol=1e-5)
    assert r.units == {"time": "ps", "length": "Angstrom", "velocity": "Angstrom/ps", "force": "kJ/(mol*Angstrom)"}
