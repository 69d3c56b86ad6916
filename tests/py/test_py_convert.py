"""zarrtraj.convert (Python, a thin call of the C zt_convert): every XTC, TRR
and DCD file of MDAnalysisTests and the shared data folder converted to
zarrmd (Zarr v2, Zarr v3, the compact preset) and H5MD, the result read back
(through the C reader, MDAnalysis units) against what MDAnalysis reads from
the source: positions within the file's precision or half the compact
quantum, velocities/forces, box, step, time. Plus the argument checks (each a
clear error), overwrite semantics, frame slices and the progress callable."""
import glob
import os
import warnings

import numpy as np
import pytest

mda = pytest.importorskip("MDAnalysis")
mdat = pytest.importorskip("MDAnalysisTests.datafiles")
zarrtraj = pytest.importorskip("zarrtraj")
core = zarrtraj._core
from MDAnalysis.lib.mdamath import triclinic_box  # noqa: E402

MDAT = os.path.join(os.path.dirname(mdat.__file__), "data")
DATA = os.environ.get("ZT_DATA_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")


def files(ext):
    out = sorted(glob.glob(os.path.join(MDAT, "**", "*." + ext), recursive=True))
    out += sorted(glob.glob(os.path.join(DATA, "**", "*." + ext), recursive=True))
    return [f for f in out if os.path.getsize(f) > 0]


def ident(f):
    return os.path.relpath(f, MDAT if f.startswith(MDAT) else DATA)


SOURCES = files("xtc") + files("trr") + files("dcd")
BIG = [f for f in SOURCES if os.path.getsize(f) > 20 << 20]  # the 57,801-atom water box: fewer variants
# name, dst suffix, keyword arguments of convert
TARGETS = {"v2": (".zarrmd", {}), "v3": (".zarrmd", {"zarr_format": 3}),
           "compact": (".zarrmd", {"preset": "compact"}), "h5md": (".h5md", {})}
HALF_QUANTUM = 0.005  # compact default quantum 0.001 nm = 0.01 Angstrom


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the frame-index cache


def mda_reader(path):
    from MDAnalysis.coordinates.DCD import DCDReader
    from MDAnalysis.coordinates.TRR import TRRReader
    from MDAnalysis.coordinates.XTC import XTCReader

    R = {".xtc": XTCReader, ".trr": TRRReader, ".dcd": DCDReader}[os.path.splitext(path)[1]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return R(path)


def reference(path):
    """What MDAnalysis reads: per frame positions/velocities/forces (or None), dimensions, time, step."""
    r = mda_reader(path)
    ref = []
    for ts in r:
        ref.append({"x": ts.positions.copy() if ts.has_positions else None,
                    "v": ts.velocities.copy() if ts.has_velocities else None,
                    "f": ts.forces.copy() if ts.has_forces else None,
                    "dims": None if ts.dimensions is None else ts.dimensions.copy(),
                    "time": ts.time, "step": ts.data.get("step")})
    return r, ref


def check(out, path, compact):
    r, ref = reference(path)
    ext = os.path.splitext(path)[1]
    src = core.Reader(path, convert_units=1)
    got = core.Reader(str(out), convert_units=1)
    try:
        assert got.n_frames == len(ref) and got.n_atoms == r.n_atoms
        idx = np.arange(got.n_frames, dtype=np.int64)
        x, steps, times, dims, flags = got.read_frames("position", idx, info=True)
        s_steps, _ = src.steps()
        # DCD: MDAnalysis' step is the frame index; the header's (istart + i nsavc) is ours
        np.testing.assert_array_equal(steps, s_steps)
        if ext != ".dcd":
            np.testing.assert_array_equal(steps, [f["step"] for f in ref])
        np.testing.assert_allclose(times, [f["time"] for f in ref], rtol=1e-6, atol=1e-6)
        # lossless copies: the file's own floats (XTC: on its precision grid, as decoded)
        tol = HALF_QUANTUM + 1e-4 if compact else 1e-4
        for name, el in (("x", "position"), ("v", "velocity"), ("f", "force")):
            if all(f[name] is None for f in ref):
                assert not got.has(el) or name == "x", f"{el} appeared"
                continue
            vals = x if name == "x" else got.read_frames(el, idx)
            for i, f in enumerate(ref):
                if f[name] is None:
                    continue
                # compact keeps velocities/forces as floats without precision
                t = tol if name == "x" else 1e-4 * max(1.0, float(np.abs(f[name]).max()) * 1e-5)
                np.testing.assert_allclose(vals[i], f[name], rtol=0, atol=t, err_msg=f"{el} of frame {i}")
        for i, f in enumerate(ref):
            d = f["dims"]
            if d is None or not np.any(d[:3]):
                assert not np.any(dims[i][:3]), f"frame {i}: box {dims[i]}, MDAnalysis has none"
                continue
            np.testing.assert_allclose(dims[i], d, rtol=1e-5, atol=2e-3 if compact else 1e-4,
                                       err_msg=f"box of frame {i}")
        lu = got.unit("position")
        assert lu == {".dcd": "Angstrom"}.get(ext, "nm")
    finally:
        got.close()
        src.close()


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("path", SOURCES, ids=ident)
def test_convert_like_mdanalysis(tmp_path, path, target):
    if path in BIG and target in ("v3", "h5md"):
        pytest.skip("the big water box: v2 and compact only (time)")
    suffix, kw = TARGETS[target]
    out = tmp_path / ("out" + suffix)
    zarrtraj.convert(path, out, **kw)
    check(out, path, compact=target == "compact")
    if target == "v3":
        import json
        meta = json.loads((out / "zarr.json").read_text())
        assert meta["zarr_format"] == 3


def test_shared_water_box_present():
    """The shared data's XTC is among the sources (the test above covers it)."""
    assert any(os.path.basename(f) == "water57k_200f.xtc" for f in SOURCES) or not os.path.exists(DATA)


def small_xtc():
    return [f for f in SOURCES if os.path.basename(f) == "adk_oplsaa.xtc"][0]


def test_frames_slice_and_string(tmp_path):
    src = small_xtc()
    _, ref = reference(src)
    n = len(ref)
    for spec, want in ((slice(1, None, 3), range(n)[1::3]), ("2:8:2", range(n)[2:8:2]), (-1, [n - 1]),
                       ("::", range(n))):
        out = tmp_path / f"f{len(list(want))}-{abs(hash(str(spec)))}.zarrmd"
        zarrtraj.convert(src, out, frames=spec)
        with core.Reader(str(out), convert_units=1) as r:
            steps, times = r.steps()
            np.testing.assert_array_equal(steps, [ref[i]["step"] for i in want])
            x = r.read_frames("position", np.arange(r.n_frames, dtype=np.int64))
            for k, i in enumerate(want):
                np.testing.assert_allclose(x[k], ref[i]["x"], rtol=0, atol=1e-4)


def test_precision_quantum_and_compressor(tmp_path):
    src = small_xtc()
    _, ref = reference(src)
    out = tmp_path / "p.zarrmd"
    zarrtraj.convert(src, out, precision=1, compressor="zstd:level=3", chunk_bytes="64k")
    with core.Reader(str(out), convert_units=1) as r:
        x = r.read_frames("position", np.arange(r.n_frames, dtype=np.int64))
        info = r.array_info("position")
        assert "zstd" in info["codecs"] and "quantize" in info["codecs"].lower()
        # 1 decimal digit of nm kept: Quantize keeps at least that (error < 0.05 nm = 0.5 A)
        np.testing.assert_allclose(x, [f["x"] for f in ref], rtol=0, atol=0.5)
    out = tmp_path / "q.zarrmd"
    zarrtraj.convert(src, out, preset="compact", quantum="0.01 nm")
    with core.Reader(str(out), convert_units=1) as r:
        x = r.read_frames("position", np.arange(r.n_frames, dtype=np.int64))
        err = np.abs(x - np.array([f["x"] for f in ref]))
        assert err.max() <= 0.05 + 1e-4 and err.max() > HALF_QUANTUM  # coarser grid: bigger, bounded error


def test_h5md_and_xtc_outputs(tmp_path):
    src = small_xtc()
    _, ref = reference(src)
    h5 = tmp_path / "a.h5md"
    zarrtraj.convert(src, h5, out_group="protein")
    with core.Reader(str(h5), convert_units=1) as r:
        assert r.format == "h5md" and r.group == "protein"
    back = tmp_path / "back.xtc"
    zarrtraj.convert(h5, back, group="protein")
    m = mda_reader(str(back))
    for ts, f in zip(m, ref):
        np.testing.assert_allclose(ts.positions, f["x"], rtol=0, atol=1e-4)
        assert ts.data["step"] == f["step"]
    assert m.n_frames == len(ref)


def test_overwrite(tmp_path):
    src = small_xtc()
    out = tmp_path / "o.zarrmd"
    zarrtraj.convert(src, out, frames="0:2")
    with pytest.raises(zarrtraj.ExistsError, match="o.zarrmd.*already exists"):
        zarrtraj.convert(src, out)
    with core.Reader(str(out)) as r:  # the refused call left it alone
        assert r.n_frames == 2
    zarrtraj.convert(src, out, overwrite=True)
    with core.Reader(str(out)) as r:
        assert r.n_frames == mda_reader(src).n_frames
    h5 = tmp_path / "o.h5md"
    zarrtraj.convert(src, h5, frames="0:3")
    with pytest.raises(zarrtraj.ExistsError):
        zarrtraj.convert(src, h5)
    zarrtraj.convert(src, h5, overwrite=True, frames="0:1")
    with core.Reader(str(h5)) as r:
        assert r.n_frames == 1


def test_bad_arguments(tmp_path):
    src = small_xtc()
    out = str(tmp_path / "bad.zarrmd")
    cases = [
        (dict(frames="::-1"), zarrtraj.InvalidArgumentError, "runs backwards"),
        (dict(frames="1:2:3:4"), zarrtraj.InvalidArgumentError, "frames '1:2:3:4': bad slice"),
        (dict(frames=10 ** 6), zarrtraj.InvalidArgumentError, "bad slice"),
        (dict(zarr_format=4), zarrtraj.InvalidArgumentError, "zarr_format='4': expected 2 or 3"),
        (dict(precision=99), zarrtraj.InvalidArgumentError, "precision='99'"),
        (dict(chunk_bytes="lots"), zarrtraj.InvalidArgumentError, "chunk_bytes='lots'"),
        (dict(preset="tiny"), zarrtraj.InvalidArgumentError, "unknown preset 'tiny'"),
        (dict(quantum="0.001 furlongs", preset="compact"), zarrtraj.ZarrtrajError, "furlongs"),
        (dict(quantum="0.001 nm"), zarrtraj.InvalidArgumentError, "a quantum needs preset compact"),
        (dict(compressor="nosuchcodec"), zarrtraj.ZarrtrajError, "nosuchcodec"),
        (dict(group="nope"), zarrtraj.GroupError, "nope"),
        (dict(precision="3"), TypeError, "precision must be an integer"),
        (dict(zarr_format=True), TypeError, "not bool"),
        (dict(quantum=[1]), TypeError, "quantum"),
        (dict(progress=3), TypeError, "progress must be a callable"),
        (dict(storage_options={"x": object()}), TypeError, "storage option 'x'"),
    ]
    for kw, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            zarrtraj.convert(src, out, **kw)
        assert not os.path.exists(out) or kw.get("preset") or kw.get("quantum") or kw.get("compressor") \
            or kw.get("group"), kw
    with pytest.raises(zarrtraj.NotFoundError, match="missing.xtc"):
        zarrtraj.convert(str(tmp_path / "missing.xtc"), out)
    with pytest.raises(TypeError):
        zarrtraj.convert(src, out, "positional")  # everything but src/dst is keyword-only
    with pytest.raises(zarrtraj.InvalidArgumentError, match="unknown convert setting 'colour'"):
        core.convert(src, out, (("colour", "red"),))
    # the compact preset is Zarr only
    with pytest.raises(zarrtraj.ZarrtrajError, match="compact"):
        zarrtraj.convert(src, str(tmp_path / "c.h5md"), preset="compact")


def test_progress(tmp_path):
    src = small_xtc()
    n = mda_reader(src).n_frames
    seen = []
    zarrtraj.convert(src, tmp_path / "p.zarrmd", progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, n) and seen[-1] == (n, n)
    assert [d for d, _ in seen] == list(range(n + 1))

    class Stop(Exception):
        pass

    def stop(done, total):
        if done == 3:
            raise Stop("enough")

    with pytest.raises(Stop, match="enough"):
        zarrtraj.convert(src, tmp_path / "s.zarrmd", progress=stop)
    # the stopped conversion left a valid trajectory of the frames flushed so far (or none)
    if os.path.exists(tmp_path / "s.zarrmd"):
        with core.Reader(str(tmp_path / "s.zarrmd")) as r:
            assert r.n_frames <= 3
