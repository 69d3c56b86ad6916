"""Upstream Zarrtraj 0.3.3 (PyPI), the package we replace, as the reference:
files it writes read identically through us, files we write read identically
through it, locally and on an S3 server (moto's, as upstream's own tests use),
and the same `mda.Writer(...)` call stores the same units and the same numbers.

Upstream is imported as `zarrtraj` too and needs zarr-python 2, so it lives in a
venv of its own (scripts/pyenv.sh upstream; ZT_PYTHON_UPSTREAM) and runs in a
subprocess; both sides run the same dump/write script (SCRIPT below), which
uses only the API the two packages share.

Deliberate differences (docs/python.md): we store time as float64 (upstream
float32, quantized like positions when `precision` is given) and steps as int64
(upstream int32), so times are compared to float32 precision.
"""
import json
import os
import subprocess
import sys
import uuid

import numpy as np
import pytest

zarrtraj = pytest.importorskip("zarrtraj", reason="zarrtraj extension not built (PYTHONPATH=build/python)")
from MDAnalysisTests.datafiles import TPR_xvf, TRR_xvf  # noqa: E402

UP = os.environ.get("ZT_PYTHON_UPSTREAM")
if not UP or not os.path.exists(UP):
    if os.environ.get("ZT_REQUIRE_PYENVS") == "1":
        raise RuntimeError("ZT_PYTHON_UPSTREAM not set (scripts/pyenv.sh upstream)")
    pytest.skip("upstream Zarrtraj venv not available (ZT_PYTHON_UPSTREAM)", allow_module_level=True)
DATA = os.environ.get("ZT_DATA_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
WATER = (os.path.join(DATA, "real", "water57k.gro"), os.path.join(DATA, "real", "water57k_200f.xtc"))

# Runs under either package: "write" copies frames of a Universe with ZARRMDWriter,
# "dump" reads a trajectory with ZARRH5MDReader into an .npz.
SCRIPT = r'''
import json, sys, warnings
warnings.simplefilter("ignore")
import numpy as np, numcodecs, MDAnalysis as mda, zarrtraj
a = json.loads(sys.argv[1])
if a["op"] == "write":
    u = mda.Universe(*a["source"])
    kw = dict(a["kwargs"])
    if "compressor" in kw:
        kw["compressor"] = numcodecs.get_codec(kw["compressor"])
    with zarrtraj.ZARRMDWriter(a["out"], n_atoms=u.atoms.n_atoms, **kw) as w:
        for ts in u.trajectory[slice(*a.get("frames", [None]))]:
            w.write(u.atoms)
else:
    r = zarrtraj.ZARRH5MDReader(a["path"], **a["kwargs"])
    out = {k: [] for k in ("positions", "velocities", "forces", "dimensions", "time", "step", "frame")}
    data = {}
    for ts in r:
        for k in ("positions", "velocities", "forces"):
            has = getattr(ts, "has_" + k)
            out[k].append(getattr(ts, k).copy() if has else np.full((ts.n_atoms, 3), np.nan, np.float32))
        out["dimensions"].append(ts.dimensions if ts.dimensions is not None else np.full(6, np.nan))
        out["time"].append(ts.time)
        out["step"].append(ts.data["step"])
        out["frame"].append(ts.frame)
        for k, v in ts.data.items():
            if k not in ("step", "time", "dt", "time_offset"):
                data.setdefault(k, []).append(np.nan if v is None else np.asarray(v, dtype=np.float64))
    arrays = {k: np.asarray(v) for k, v in out.items()}
    arrays.update({"data/" + k: np.asarray(v) for k, v in data.items()})
    np.savez(a["npz"], **arrays)
    print(json.dumps({"n_frames": r.n_frames, "n_atoms": r.n_atoms, "units": r.units}))
'''


def run_with(python, **args):
    env = dict(os.environ)
    if python == UP:
        env.pop("PYTHONPATH", None)  # never our build tree
    p = subprocess.run([python, "-c", SCRIPT, json.dumps(args)], capture_output=True, text=True, env=env,
                       timeout=600)
    assert p.returncode == 0, f"{'upstream' if python == UP else 'zarrtraj'} {args['op']} failed:\n{p.stderr[-3000:]}"
    return json.loads(p.stdout.strip().splitlines()[-1]) if args["op"] == "dump" else None


def dump(python, path, tmp_path, **kwargs):
    npz = str(tmp_path / f"dump-{uuid.uuid4().hex[:8]}.npz")
    meta = run_with(python, op="dump", path=path, kwargs=kwargs, npz=npz)
    with np.load(npz) as z:
        return meta, {k: z[k] for k in z.files}


def assert_same_dump(a, b, time_rtol=0.0, time_atol=0.0):
    (ma, da), (mb, db) = a, b
    assert ma == mb
    assert sorted(da) == sorted(db)
    for k in da:
        if k == "time":
            np.testing.assert_allclose(da[k], db[k], rtol=time_rtol, atol=time_atol, err_msg=k)
        else:
            np.testing.assert_array_equal(da[k], db[k], err_msg=k)


SOURCE = [TPR_xvf, TRR_xvf]  # GROMACS TRR: positions, velocities, forces, box, lambda; nm, ps
CONFIGS = {
    "default": {},
    "precision3-blosc-zstd": {"precision": 3, "compressor": {"id": "blosc", "cname": "zstd", "clevel": 5}},
    "nframes-zstd": {"n_frames": 3, "compressor": {"id": "zstd", "level": 3}},
}


@pytest.mark.parametrize("config", list(CONFIGS), ids=list(CONFIGS))
@pytest.mark.parametrize("convert_units", [True, False], ids=["converted", "native"])
def test_upstream_writes_we_read(tmp_path, config, convert_units):
    out = str(tmp_path / "upstream.zarrmd")
    run_with(UP, op="write", source=SOURCE, out=out, kwargs=CONFIGS[config])
    theirs = dump(UP, out, tmp_path, convert_units=convert_units)
    ours = dump(sys.executable, out, tmp_path, convert_units=convert_units)
    assert theirs[0]["n_frames"] == 3 and theirs[0]["units"]["length"] == "nm"
    assert_same_dump(ours, theirs)


@pytest.mark.parametrize("config", list(CONFIGS), ids=list(CONFIGS))
def test_we_write_upstream_reads(tmp_path, config):
    out = str(tmp_path / "ours.zarrmd")
    run_with(sys.executable, op="write", source=SOURCE, out=out, kwargs=CONFIGS[config])
    for convert_units in (True, False):
        ours = dump(sys.executable, out, tmp_path, convert_units=convert_units)
        theirs = dump(UP, out, tmp_path, convert_units=convert_units)
        assert_same_dump(ours, theirs)
    # and the numbers are upstream's own: the same call through upstream's writer stores the same values in
    # the same units (time: float32 upstream, quantized with `precision`, float64 here)
    ref = str(tmp_path / "upstream.zarrmd")
    run_with(UP, op="write", source=SOURCE, out=ref, kwargs=CONFIGS[config])
    quantized = 10.0 ** -CONFIGS[config]["precision"] if "precision" in CONFIGS[config] else 0.0
    assert_same_dump(dump(sys.executable, out, tmp_path, convert_units=False),
                     dump(sys.executable, ref, tmp_path, convert_units=False), time_rtol=1e-7, time_atol=quantized)


def test_upstream_reads_our_h5md(tmp_path):
    out = str(tmp_path / "ours.h5md")
    run_with(sys.executable, op="write", source=SOURCE, out=out, kwargs={"precision": 4})
    assert open(out, "rb").read(8) == b"\x89HDF\r\n\x1a\n"
    for convert_units in (True, False):
        assert_same_dump(dump(sys.executable, out, tmp_path, convert_units=convert_units),
                         dump(UP, out, tmp_path, convert_units=convert_units))


@pytest.mark.parametrize("name", ["COORDINATES_SYNTHETIC_H5MD.h5md", "COORDINATES_SYNTHETIC_ZARRMD.zarrmd",
                                  "COORDINATES_VARIED_STEPS_H5MD.h5md", "COORDINATES_VARIED_STEPS_ZARRMD.zarrmd"])
def test_upstream_test_files_read_as_upstream_reads_them(tmp_path, name):
    path = os.path.join(DATA, "zarrtraj", name)
    assert_same_dump(dump(sys.executable, path, tmp_path), dump(UP, path, tmp_path))


def test_water_box_precision3_same_units_and_values_as_upstream(tmp_path):
    """The divergence this project used to have: `mda.Writer(..., precision=3)` on an XTC
    quantized to 0.001 A here and to 0.001 nm upstream. Now both store nm and the same bits."""
    kw = {"precision": 3, "compressor": {"id": "blosc", "cname": "zstd", "clevel": 3}}
    ours, theirs = str(tmp_path / "ours.zarrmd"), str(tmp_path / "upstream.zarrmd")
    run_with(sys.executable, op="write", source=list(WATER), out=ours, kwargs=kw, frames=[0, 200, 20])
    run_with(UP, op="write", source=list(WATER), out=theirs, kwargs=kw, frames=[0, 200, 20])
    for p in (ours, theirs):
        attrs = json.load(open(os.path.join(p, "particles/trajectory/position/value/.zattrs")))
        assert attrs["unit"] == "nm", p
    a = dump(sys.executable, ours, tmp_path, convert_units=False)
    b = dump(sys.executable, theirs, tmp_path, convert_units=False)
    assert_same_dump(a, b, time_rtol=1e-7, time_atol=1e-3)  # upstream's time: float32, quantized to 10**-3
    assert 0 < np.nanmax(a[1]["positions"]) < 10  # nm: the box is 8.4 nm (84 Angstrom)


@pytest.mark.parametrize("writer", ["upstream", "zarrtraj"])
def test_moto_roundtrip_between_packages(tmp_path, emulators, writer):
    if "ZT_MOTO_ENDPOINT" not in emulators:
        if os.environ.get("ZT_REQUIRE_EMULATORS") == "1":
            pytest.fail("moto not running (ZT_REQUIRE_EMULATORS=1)")
        pytest.skip("moto not running")
    so = {"key": "testing", "secret": "testing",
          "client_kwargs": {"endpoint_url": emulators["ZT_MOTO_ENDPOINT"], "region_name": "us-east-1"}}
    url = f"s3://{emulators['ZT_MOTO_BUCKET']}/upstream-x/{uuid.uuid4().hex[:10]}/t.zarrmd"
    kw = {"precision": 3, "storage_options": so, "compressor": {"id": "zstd", "level": 3}}
    run_with(UP if writer == "upstream" else sys.executable, op="write", source=SOURCE, out=url, kwargs=kw)
    ours = dump(sys.executable, url, tmp_path, storage_options=so)
    theirs = dump(UP, url, tmp_path, storage_options=so)
    assert ours[0]["n_frames"] == 3
    assert_same_dump(ours, theirs)


def test_compact_preset_upstream_reads(tmp_path):
    """Preset compact uses standard codecs only: upstream Zarrtraj (zarr 2,
    numcodecs) reads the Fortran-order fixed-point chunks as we do, and the
    values lie within half a quantum (plus float32 rounding) of the source."""
    out = str(tmp_path / "compact.zarrmd")
    run_with(sys.executable, op="write", source=SOURCE, out=out, kwargs={"preset": "compact", "precision": 3})
    for convert_units in (True, False):
        ours = dump(sys.executable, out, tmp_path, convert_units=convert_units)
        assert_same_dump(ours, dump(UP, out, tmp_path, convert_units=convert_units))
    src = str(tmp_path / "lossless.zarrmd")
    run_with(sys.executable, op="write", source=SOURCE, out=src, kwargs={})
    (_, a), (_, b) = dump(sys.executable, out, tmp_path, convert_units=False), \
        dump(sys.executable, src, tmp_path, convert_units=False)
    for k in ("positions", "velocities", "forces"):
        err = np.abs(a[k].astype(np.float64) - b[k])
        assert (err <= 0.0005 + 2 * np.spacing(np.abs(b[k]).astype(np.float32))).all(), (k, err.max())
        assert err.max() > 0  # quantized, at 0.001 in the stored unit (nm of the TRR)
