"""Classic MD formats read by our C readers (src/mdformats/) through the CLI,
checked against MDAnalysis' own readers on every XTC/TRR/DCD file shipped in
MDAnalysisTests and in the shared data folder: positions within the file's
precision, box, time and step; conversions to zarrmd/H5MD read identically;
XTC written by us is read back by MDAnalysis; bad files fail with an error
naming the file and the frame."""
import glob
import os
import shutil

import numpy as np
import pytest

from conftest import run

mda = pytest.importorskip("MDAnalysis")
mdat = pytest.importorskip("MDAnalysisTests.datafiles")
from MDAnalysis.lib.mdamath import triclinic_box  # noqa: E402

MDAT = os.path.join(os.path.dirname(mdat.__file__), "data")
DATA = os.environ.get("ZT_DATA_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")


def files(ext):
    out = sorted(glob.glob(os.path.join(MDAT, "**", "*." + ext), recursive=True))
    out += sorted(glob.glob(os.path.join(DATA, "**", "*." + ext), recursive=True))
    return [f for f in out if os.path.getsize(f) > 0]


def ident(f):
    return os.path.relpath(f, MDAT if f.startswith(MDAT) else DATA)


XTC = files("xtc")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    # the frame-index cache goes to a scratch directory
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def cat(cli, path, tmp, element="position", extra=()):
    out = tmp / f"cat-{element.replace('/', '_')}.npy"
    run(cli, "cat", path, "-e", element, "--format", "npy", "-o", out, *extra)
    return np.load(out)


def mda_frames(reader):
    pos, steps, times, dims = [], [], [], []
    for ts in reader:
        pos.append(ts.positions.copy())
        steps.append(ts.data.get("step", ts.frame))
        times.append(ts.time)
        dims.append(None if ts.dimensions is None else ts.dimensions.copy())
    return pos, steps, times, dims


def check_like_mda(cli, path, tmp, reader, lfac, tfac, tol):
    """Our values (native units; lfac/tfac to MDAnalysis units) against MDAnalysis'."""
    pos, steps, times, dims = mda_frames(reader)
    x = cat(cli, path, tmp)
    assert x.shape == (len(pos), reader.n_atoms, 3)
    for i, p in enumerate(pos):
        np.testing.assert_allclose(x[i] * lfac, p, rtol=0, atol=tol, err_msg=f"frame {i}")
    s = cat(cli, path, tmp, "step")
    np.testing.assert_array_equal(s, steps)
    t = cat(cli, path, tmp, "time")
    np.testing.assert_allclose(t * tfac, times, rtol=1e-6, atol=1e-6)
    if any(d is not None for d in dims):
        b = cat(cli, path, tmp, "box")
        for i, d in enumerate(dims):
            ours = triclinic_box(*(b[i].reshape(3, 3).astype(np.float64) * lfac))
            if d is None or not np.any(d[:3]):
                assert not np.any(ours[:3]), f"frame {i}: box {ours}, MDAnalysis has none"
                continue
            np.testing.assert_allclose(ours, d, rtol=1e-5, atol=1e-4, err_msg=f"box of frame {i}")
    return x


# ---- XTC ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", XTC, ids=ident)
def test_xtc_reads_like_mdanalysis(cli, tmp, path):
    from MDAnalysis.coordinates.XTC import XTCReader

    r = XTCReader(path)
    x = check_like_mda(cli, path, tmp, r, 10.0, 1.0, 0)  # bit-exact after MDAnalysis' *10
    info = run(cli, "info", path).stdout
    assert "format: xtc" in info and "unit nm" in info


@pytest.mark.parametrize("path", XTC[:3] + [f for f in XTC if "water57k" in f], ids=ident)
@pytest.mark.parametrize("fmt", ["zarrmd", "h5md"])
def test_xtc_convert_reads_identically(cli, tmp, path, fmt):
    out = tmp / f"out.{fmt}"
    run(cli, "convert", path, out)
    for el in ("position", "step", "time", "box"):
        a, b = cat(cli, path, tmp, el), cat(cli, out, tmp, el)
        assert a.dtype == b.dtype or el in ("step", "time")
        np.testing.assert_array_equal(a, b, err_msg=el)
    info = run(cli, "info", out).stdout
    assert "unit nm" in info


@pytest.mark.parametrize("path", XTC, ids=ident)
def test_xtc_roundtrip_exact(cli, tmp, path):
    """XTC -> zarrmd -> XTC keeps every value at the file's precision."""
    z, back = tmp / "t.zarrmd", tmp / "back.xtc"
    run(cli, "convert", path, z)
    run(cli, "convert", z, back)
    for el in ("position", "step", "time", "box"):
        np.testing.assert_array_equal(cat(cli, path, tmp, el), cat(cli, back, tmp, el), err_msg=el)
    from MDAnalysis.coordinates.XTC import XTCReader

    a, b = XTCReader(path), XTCReader(str(back))
    assert a.n_frames == b.n_frames
    for ta, tb in zip(a, b):
        np.testing.assert_array_equal(ta.positions, tb.positions)
        assert ta.data["step"] == tb.data["step"] and ta.time == tb.time


def _xtc_as_2023(data, every=1):
    """The frames of a 1995 XTC rewritten as GROMACS 2023 writes large systems
    (magic 2023, the byte count a 64-bit hyper; every frame or every other
    one): the one rewriter, scripts/fuzz-seeds.py's (its fuzz seeds too)."""
    import importlib.util

    src = os.environ.get("ZT_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
    spec = importlib.util.spec_from_file_location("zt_fuzz_seeds", os.path.join(src, "scripts", "fuzz-seeds.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.xtc_as_2023(data, every)


@pytest.mark.parametrize("path", XTC[:3] + [f for f in XTC if "water57k" in f], ids=ident)
def test_xtc_magic_2023(cli, tmp, path):
    """Frames with magic 2023 (64-bit byte count) read exactly as the 1995
    original (which MDAnalysis reads: test_xtc_reads_like_mdanalysis), all of
    them or mixed with 1995 frames; our writer keeps 1995 for such sizes."""
    data = open(path, "rb").read()
    for every in (1, 2):
        f = tmp / f"m2023-{every}.xtc"
        f.write_bytes(_xtc_as_2023(data, every))
        for el in ("position", "step", "time", "box"):
            np.testing.assert_array_equal(cat(cli, f, tmp, el), cat(cli, path, tmp, el), err_msg=el)
    back = tmp / "back.xtc"
    run(cli, "convert", tmp / "m2023-1.xtc", back)
    raw = open(back, "rb").read()
    assert {raw[o:o + 4] for o in _xtc_frame_offsets(str(back))} == {b"\x00\x00\x07\xcb"}  # 1995 only
    np.testing.assert_array_equal(cat(cli, back, tmp), cat(cli, path, tmp))


def test_xtc_magic_2023_bad_count(cli, tmp, xtc_src):
    import struct

    data = bytearray(_xtc_as_2023(open(xtc_src, "rb").read()))
    offs = _xtc_frame_offsets_2023(bytes(data))
    d = bytearray(data)
    d[offs[3] + 88:offs[3] + 92] = struct.pack(">I", 0x80000000)  # negative hyper
    bad = tmp / "neg3.xtc"
    bad.write_bytes(bytes(d))
    err = _bad(cli, bad)
    assert "frame 3" in err and "negative 64-bit compressed byte count" in err, err
    d = bytearray(data)
    d[offs[1] + 88:offs[1] + 92] = struct.pack(">I", 1)  # 4 GiB more
    bad = tmp / "huge1.xtc"
    bad.write_bytes(bytes(d))
    err = _bad(cli, bad)
    assert "frame 1" in err and "magic 2023" in err, err


def h5md_sources():
    out = []
    for rel in ("generated/mda242_charmm_tip125_triclinic.h5md", "generated/mda242_gromacs_protein_gzip_atomchunks.h5md",
                "zarrtraj/COORDINATES_SYNTHETIC_ZARRMD.zarrmd", "generated/mda242_lammps_arkr_xvf_obs_gzip.h5md"):
        p = os.path.join(DATA, rel)
        if os.path.exists(p):
            out.append(p)
    return out


@pytest.mark.parametrize("src", h5md_sources(), ids=lambda p: os.path.basename(p))
@pytest.mark.parametrize("digits", [3, 5])
def test_xtc_writer_read_by_mdanalysis(cli, tmp, src, digits):
    """H5MD/zarrmd (Angstrom) -> XTC: MDAnalysis reads it within the precision."""
    from MDAnalysis.coordinates.XTC import XTCReader

    out = tmp / "w.xtc"
    run(cli, "convert", src, out, "--precision", digits)
    x = cat(cli, src, tmp)
    info = run(cli, "info", src).stdout
    lf = 0.1 if "unit Angstrom" in info else 1.0  # -> nm
    tline = [ln for ln in info.splitlines() if ln.strip().startswith("time ")][0].split()
    tf = mda.units.get_conversion_factor("time", tline[-1], "ps") if len(tline) == 5 else 1.0  # -> ps
    steps, times = cat(cli, src, tmp, "step"), cat(cli, src, tmp, "time")
    r = XTCReader(str(out))
    assert r.n_frames == len(x) and r.n_atoms == x.shape[1]
    half = 0.5 * 10.0**-digits
    for i, ts in enumerate(r):
        nm = x[i].astype(np.float64) * lf
        # |value| * precision keeps ~7 significant digits in float32
        tol = half + np.abs(nm).max() * 1e-6 + 1e-7
        np.testing.assert_allclose(ts.positions / 10.0, nm, rtol=0, atol=tol, err_msg=f"frame {i}")
        assert ts.data["step"] == steps[i]
        assert abs(ts.time - times[i] * tf) <= 1e-6 * max(1.0, abs(times[i] * tf))


def test_xtc_writer_refuses_existing(cli, tmp):
    src = XTC[0]
    out = tmp / "x.xtc"
    run(cli, "convert", src, out)
    p = run(cli, "convert", src, out, check=False)
    assert p.returncode != 0 and "exists" in p.stderr
    run(cli, "convert", src, out, "--overwrite")


# ---- bad input -------------------------------------------------------------------------
def _xtc_frame_offsets(path):
    """Frame offsets from the headers (XDR: magic, natoms, ..., byte count at 88)."""
    import struct

    data, offs, off = open(path, "rb").read(), [], 0
    while off < len(data):
        offs.append(off)
        natoms = struct.unpack(">i", data[off + 4:off + 8])[0]
        if natoms <= 9:
            off += 56 + 12 * natoms
        else:
            off += 92 + (struct.unpack(">i", data[off + 88:off + 92])[0] + 3) // 4 * 4
    return offs


def _xtc_frame_offsets_2023(data):
    import struct

    offs, off = [], 0
    while off < len(data):
        offs.append(off)
        natoms = struct.unpack(">i", data[off + 4:off + 8])[0]
        off += 56 + 12 * natoms if natoms <= 9 else 96 + (struct.unpack(">q", data[off + 88:off + 96])[0] + 3) // 4 * 4
    return offs


@pytest.fixture
def xtc_src():
    f = [p for p in XTC if os.path.basename(p) == "xyz_random_walk.xtc"] or XTC
    return f[0]


def _bad(cli, path):
    p = run(cli, "cat", path, "--format", "npy", "-o", os.devnull, check=False)
    assert p.returncode != 0, "expected an error"
    assert str(path) in p.stderr, p.stderr
    return p.stderr


def test_xtc_truncated_mid_frame(cli, tmp, xtc_src):
    data = open(xtc_src, "rb").read()
    offs = _xtc_frame_offsets(xtc_src)
    for k, cut in ((len(offs) - 1, offs[-1] + (len(data) - offs[-1]) // 2), (3, offs[3] + 30), (5, offs[5] + 70)):
        bad = tmp / f"cut{k}.xtc"
        bad.write_bytes(data[:cut])
        err = _bad(cli, bad)
        assert f"frame {k}" in err and "truncated" in err or "cut" in err, err


def test_xtc_bad_magic(cli, tmp, xtc_src):
    data = bytearray(open(xtc_src, "rb").read())
    offs = _xtc_frame_offsets(xtc_src)
    bad = tmp / "magic0.xtc"
    bad.write_bytes(b"\x00\x00\x07\xca" + bytes(data[4:]))
    assert "not an XTC file" in _bad(cli, bad)
    d2 = bytearray(data)
    d2[offs[7]:offs[7] + 4] = b"\x12\x34\x56\x78"
    bad = tmp / "magic7.xtc"
    bad.write_bytes(bytes(d2))
    err = _bad(cli, bad)
    assert "frame 7" in err and "magic" in err


def test_xtc_absurd_atoms(cli, tmp, xtc_src):
    data = bytearray(open(xtc_src, "rb").read())
    offs = _xtc_frame_offsets(xtc_src)
    for k, n in ((0, b"\x7f\xff\xff\xff"), (4, b"\x00\x10\x00\x00"), (2, b"\xff\xff\xff\xff")):
        d = bytearray(data)
        d[offs[k] + 4:offs[k] + 8] = n
        bad = tmp / f"atoms{k}.xtc"
        bad.write_bytes(bytes(d))
        err = _bad(cli, bad)
        assert f"frame {k}" in err and "atom count" in err, err


def test_xtc_corrupt_compressed_bytes(cli, tmp, xtc_src):
    data = bytearray(open(xtc_src, "rb").read())
    offs = _xtc_frame_offsets(xtc_src)
    d = bytearray(data)
    d[offs[6] + 84:offs[6] + 88] = b"\x00\x00\x00\x03"  # small-value index out of range
    bad = tmp / "small6.xtc"
    bad.write_bytes(bytes(d))
    err = _bad(cli, bad)
    assert "chunk 6.0.0" in err and "corrupt" in err, err
    d = bytearray(data)
    d[offs[2] + 88:offs[2] + 92] = b"\x00\x00\x00\x01"  # byte count too small for the atoms
    bad = tmp / "nbytes2.xtc"
    bad.write_bytes(bytes(d))
    err = _bad(cli, bad)
    assert "frame 2" in err, err


def test_xtc_empty_and_text(cli, tmp):
    e = tmp / "empty.xtc"
    e.write_bytes(b"")
    assert "empty" in _bad(cli, e)
    t = tmp / "text.xtc"
    t.write_text("this is not a trajectory\n" * 10)
    assert "not an XTC file" in _bad(cli, t)


def test_xtc_by_content(cli, tmp, xtc_src):
    """An XTC under another name is recognised by its magic number."""
    other = tmp / "traj.bin"
    shutil.copy(xtc_src, other)
    np.testing.assert_array_equal(cat(cli, other, tmp), cat(cli, xtc_src, tmp))


def test_xtc_index_cache(cli, tmp, xtc_src, monkeypatch):
    """The frame index is cached, and a changed file is rescanned."""
    cache = tmp / "cache"
    f = tmp / "c.xtc"
    shutil.copy(xtc_src, f)
    os.utime(f, (1000, 1000))  # files modified in the last seconds get no index yet
    a = cat(cli, f, tmp)
    assert glob.glob(str(cache / "zarrtraj" / "xtcindex-*.bin"))
    np.testing.assert_array_equal(cat(cli, f, tmp), a)
    offs = _xtc_frame_offsets(str(f))
    with open(f, "r+b") as fh:  # drop the last frame: size changes, index must be rebuilt
        fh.truncate(offs[-1])
    os.utime(f, (1000, 1000))
    b = cat(cli, f, tmp)
    assert len(b) == len(a) - 1
    np.testing.assert_array_equal(b, a[:-1])


# ---- DCD -----------------------------------------------------------------------------
DCD = files("dcd")


@pytest.mark.parametrize("path", DCD, ids=ident)
def test_dcd_reads_like_mdanalysis(cli, tmp, path):
    import warnings

    from MDAnalysis.coordinates.DCD import DCDReader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        r = DCDReader(path)
        h = r._file.header
        pos, _, times, dims = mda_frames(r)
    x = cat(cli, path, tmp)
    assert x.shape == (len(pos), r.n_atoms, 3)
    for i, p in enumerate(pos):
        np.testing.assert_array_equal(x[i], p, err_msg=f"frame {i}")  # float32 as stored
    # MDAnalysis' ts.data['step'] is the frame index; the DCD header's step is istart + i * nsavc
    np.testing.assert_array_equal(cat(cli, path, tmp, "step"), h["istart"] + np.arange(len(pos)) * h["nsavc"])
    akma = mda.units.get_conversion_factor("time", "AKMA", "ps")
    np.testing.assert_allclose(cat(cli, path, tmp, "time") * akma, times, rtol=1e-6, atol=1e-9)
    info = run(cli, "info", path).stdout
    assert "unit Angstrom" in info and "AKMA" in info
    if any(d is not None and np.any(d[:3]) for d in dims):
        b = cat(cli, path, tmp, "box")
        for i, d in enumerate(dims):
            np.testing.assert_allclose(triclinic_box(*b[i].astype(np.float64)), d, rtol=1e-5, atol=1e-3,
                                       err_msg=f"box of frame {i}")
    else:
        assert '"none"' in info or "box frame 0: a=0" in info


def _dcd_records(path):
    import struct

    d = open(path, "rb").read()
    e = "<" if struct.unpack("<i", d[:4])[0] == 84 else ">"
    recs, off = [], 0
    while off < len(d):
        n = struct.unpack(e + "i", d[off:off + 4])[0]
        recs.append(d[off + 4:off + 4 + n])
        off += n + 8
    return e, recs


def _write_dcd(dst, e, recs):
    import struct

    with open(dst, "wb") as f:
        for r in recs:
            f.write(struct.pack(e + "i", len(r)) + r + struct.pack(e + "i", len(r)))


def _swap_dcd(src, dst):
    """The same DCD in the other byte order (a CHARMM file with a unit cell)."""
    import struct

    e, recs = _dcd_records(src)
    o = ">" if e == "<" else "<"
    out = []
    for i, r in enumerate(recs):
        if i == 0:
            r = r[:4] + struct.pack(o + "20i", *struct.unpack(e + "20i", r[4:]))  # delta (a float) swaps alike
        elif i == 1:
            r = struct.pack(o + "i", struct.unpack(e + "i", r[:4])[0]) + r[4:]
        elif i == 2:
            r = struct.pack(o + "i", struct.unpack(e + "i", r)[0])
        elif len(r) == 48:
            r = struct.pack(o + "6d", *struct.unpack(e + "6d", r))
        else:
            r = struct.pack(o + f"{len(r) // 4}f", *struct.unpack(e + f"{len(r) // 4}f", r))
        out.append(r)
    _write_dcd(dst, o, out)


def test_dcd_fixed_atoms(cli, tmp):
    """A DCD with fixed atoms (built from tip125): later frames hold only the
    free atoms; the fixed ones keep their first-frame coordinates."""
    import struct

    src = [p for p in DCD if os.path.basename(p) == "tip125_tric_C36.dcd"][0]
    e, recs = _dcd_records(src)
    x = cat(cli, src, tmp)
    n = x.shape[1]
    free = np.arange(0, n, 3)  # every third atom moves
    hdr = bytearray(recs[0])
    hdr[36:40] = struct.pack(e + "i", n - len(free))
    out = [bytes(hdr), recs[1], recs[2], struct.pack(e + f"{len(free)}i", *(free + 1))]
    frames = recs[3:]
    per = 4  # cell, x, y, z
    for i in range(len(frames) // per):
        cell, xs, ys, zs = frames[i * per:(i + 1) * per]
        out.append(cell)
        for r in (xs, ys, zs):
            v = np.frombuffer(r, dtype=e + "f4")
            out.append(v.tobytes() if i == 0 else v[free].tobytes())
    dst = tmp / "fixed.dcd"
    _write_dcd(dst, e, out)
    want = np.repeat(x[:1], len(x), axis=0)
    want[:, free] = x[:, free]
    np.testing.assert_array_equal(cat(cli, dst, tmp), want)
    np.testing.assert_array_equal(cat(cli, dst, tmp, "box"), cat(cli, src, tmp, "box"))


@pytest.mark.parametrize("name", ["tip125_tric_C36.dcd", "SiN_tric_namd.dcd"])
def test_dcd_big_endian(cli, tmp, name):
    src = [p for p in DCD if os.path.basename(p) == name][0]
    dst = tmp / "swapped.dcd"
    _swap_dcd(src, dst)
    for el in ("position", "box", "step", "time"):
        np.testing.assert_array_equal(cat(cli, dst, tmp, el), cat(cli, src, tmp, el), err_msg=el)


@pytest.mark.parametrize("path", [p for p in DCD if "tip125" in p][:1] + [p for p in DCD if "adk_dims.dcd" in p],
                         ids=ident)
@pytest.mark.parametrize("fmt", ["zarrmd", "h5md"])
def test_dcd_convert_reads_identically(cli, tmp, path, fmt):
    out = tmp / f"out.{fmt}"
    run(cli, "convert", path, out)
    for el in ("position", "step", "time"):
        np.testing.assert_array_equal(cat(cli, path, tmp, el), cat(cli, out, tmp, el), err_msg=el)
    assert "AKMA" in run(cli, "info", out).stdout


def test_dcd_bad_input(cli, tmp):
    src = [p for p in DCD if os.path.basename(p) == "tip125_tric_C36.dcd"][0]
    data = open(src, "rb").read()
    cut = tmp / "cut.dcd"
    cut.write_bytes(data[:len(data) - 100])
    err = _bad(cli, cut)
    assert "frame 9" in err and "cut in the middle" in err, err
    t = tmp / "magic.dcd"
    t.write_bytes(b"\x54\x00\x00\x00XORD" + data[8:])
    assert "not a DCD file" in _bad(cli, t)
    import struct

    hdr_end = 8 + 84
    tl = struct.unpack("<i", data[hdr_end:hdr_end + 4])[0]
    na = hdr_end + tl + 8 + 4  # the atom count inside its record
    for v in (0, -5, 2**30):
        d = bytearray(data)
        d[na:na + 4] = struct.pack("<i", v)
        b = tmp / "atoms.dcd"
        b.write_bytes(bytes(d))
        assert "absurd atom count" in _bad(cli, b)
    d = bytearray(data)
    d[-4:] = b"\x01\x02\x03\x04"  # end marker of the last frame's z record
    b = tmp / "marker.dcd"
    b.write_bytes(bytes(d))
    err = _bad(cli, b)
    assert "chunk 9.0.0" in err and "record markers" in err, err


# ---- TRR ----------------------------------------------------------------------------
TRR = files("trr")


@pytest.mark.parametrize("path", TRR, ids=ident)
def test_trr_reads_like_mdanalysis(cli, tmp, path):
    from MDAnalysis.coordinates.TRR import TRRReader

    r = TRRReader(path)
    info = run(cli, "info", path).stdout
    assert "format: trr" in info
    frames = []
    for ts in r:
        frames.append(dict(step=ts.data["step"], time=ts.time, lam=ts.data["lambda"],
                           x=ts.positions.copy() if ts.has_positions else None,
                           v=ts.velocities.copy() if ts.has_velocities else None,
                           f=ts.forces.copy() if ts.has_forces else None,
                           dims=None if ts.dimensions is None else ts.dimensions.copy()))
    np.testing.assert_array_equal(cat(cli, path, tmp, "step"), [f["step"] for f in frames])
    np.testing.assert_allclose(cat(cli, path, tmp, "time"), [f["time"] for f in frames], rtol=1e-7)
    # lambda of every frame: the observable observables/lambda
    assert "lambda: %d samples" % len(frames) in info
    np.testing.assert_array_equal(cat(cli, path, tmp, "lambda"), np.array([f["lam"] for f in frames], dtype=np.float64))
    for el, key, fac in (("position", "x", 10.0), ("velocity", "v", 10.0), ("force", "f", 0.1)):
        if all(f[key] is None for f in frames):
            assert f"  {el} " not in info
            continue
        a = cat(cli, path, tmp, el)
        for i, f in enumerate(frames):
            if f[key] is None:
                assert np.isnan(a[i]).all(), f"{el} frame {i} should be absent"
            else:
                np.testing.assert_allclose(a[i] * fac, f[key], rtol=2e-7, atol=1e-6, err_msg=f"{el} frame {i}")
    if any(f["dims"] is not None for f in frames):
        b = cat(cli, path, tmp, "box")
        for i, f in enumerate(frames):
            if f["dims"] is not None:
                np.testing.assert_allclose(triclinic_box(*(b[i].astype(np.float64) * 10)), f["dims"], rtol=1e-5, atol=1e-4)


def test_trr_convert_and_bad_input(cli, tmp):
    src = [p for p in TRR if os.path.basename(p) == "test.trr"][0]
    out = tmp / "t.zarrmd"
    run(cli, "convert", src, out)
    for el in ("position", "velocity", "force", "step", "time"):
        np.testing.assert_array_equal(cat(cli, src, tmp, el).astype(np.float32), cat(cli, out, tmp, el).astype(np.float32), err_msg=el)
    info = run(cli, "info", out).stdout
    assert "nm ps-1" in info and "kJ mol-1 nm-1" in info
    # lambda goes along: the group's observable in zarrmd, a global one in H5MD (where MDAnalysis' H5MDReader
    # gives it as ts.data['lambda'])
    lam = cat(cli, src, tmp, "lambda")
    np.testing.assert_array_equal(cat(cli, out, tmp, "trajectory/lambda"), lam)
    h5 = tmp / "t.h5md"
    run(cli, "convert", src, h5)
    np.testing.assert_array_equal(cat(cli, h5, tmp, "lambda"), lam)
    from MDAnalysis.coordinates.H5MD import H5MDReader
    np.testing.assert_array_equal([ts.data["lambda"] for ts in H5MDReader(str(h5))], lam)
    data = open(src, "rb").read()
    fs = len(data) // 5
    cut = tmp / "cut.trr"
    cut.write_bytes(data[:3 * fs + fs // 2])
    err = _bad(cli, cut)
    assert "frame 3" in err and "cut in the middle" in err, err
    d = bytearray(data)
    d[2 * fs:2 * fs + 4] = b"\x00\x00\x07\xca"
    b = tmp / "magic.trr"
    b.write_bytes(bytes(d))
    err = _bad(cli, b)
    assert "frame 2" in err, err
    d = bytearray(data)
    d[fs + 64:fs + 68] = b"\x00\x10\x00\x00"  # natoms of frame 1
    b.write_bytes(bytes(d))
    err = _bad(cli, b)
    assert "frame 1" in err, err



# ---- AMBER NetCDF (classic formats: our reader, every store) --------------------------------
NC = [f for f in files("nc") + files("ncdf")]


def check_nc_like_mda(cli, tmp, path, url=None, opts=()):
    """path (or its copy at url) read by us against MDAnalysis' NCDFReader on path."""
    from MDAnalysis.coordinates.TRJ import NCDFReader

    url = url or path
    r = NCDFReader(path, convert_units=False)
    info = run(cli, "info", url, *opts).stdout
    assert "format: netcdf" in info
    frames = [dict(time=ts.time, x=ts.positions.copy() if ts.has_positions else None,
                   v=ts.velocities.copy() if ts.has_velocities else None,
                   f=ts.forces.copy() if ts.has_forces else None,
                   dims=None if ts.dimensions is None else ts.dimensions.copy()) for ts in r]
    for el, key in (("position", "x"), ("velocity", "v"), ("force", "f")):
        if frames[0][key] is None:
            assert f"  {el} " not in info
            continue
        a = cat(cli, url, tmp, el, opts)
        for i, fr in enumerate(frames):
            np.testing.assert_allclose(a[i], fr[key], rtol=1e-6, atol=1e-6, err_msg=f"{el} frame {i}")
    if "time " in info:
        np.testing.assert_allclose(cat(cli, url, tmp, "time", opts), [fr["time"] for fr in frames], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(cat(cli, url, tmp, "step", opts), np.arange(len(frames)))
    if frames[0]["dims"] is not None:
        b = cat(cli, url, tmp, "box", opts)
        for i, fr in enumerate(frames):
            np.testing.assert_allclose(triclinic_box(*b[i].astype(np.float64)), fr["dims"], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("path", NC, ids=ident)
def test_netcdf_reads_like_mdanalysis(cli, tmp, path):
    check_nc_like_mda(cli, tmp, path)
    out = tmp / "nc.zarrmd"
    run(cli, "convert", path, out)
    np.testing.assert_array_equal(cat(cli, out, tmp), cat(cli, path, tmp))


def test_netcdf_bad_input(cli, tmp):
    src = [p for p in NC if os.path.basename(p) == "bala.ncdf"][0]
    data = open(src, "rb").read()
    cut = tmp / "cut.ncdf"
    cut.write_bytes(data[:len(data) // 2])
    err = _bad(cli, cut)
    assert "NetCDF file truncated" in err and "frame" in err, err
    t = tmp / "text.nc"
    t.write_text("not netcdf\n")
    assert "not a NetCDF file" in _bad(cli, t)


@pytest.mark.parametrize("kind", ["s3", "https", "http", "az", "gs"])
def test_netcdf_remote_reads_like_mdanalysis(cli, tmp, emulators, kind):
    """Every AMBER NetCDF file read from the store (header, time and cell in a
    few range requests, one range per frame after that) gives MDAnalysis'
    values, the local file's bit for bit; a cut file fails as it does locally."""
    import uuid

    from test_cloud_trajectories import base_url, store_opts, upload

    prefix = f"nc-{uuid.uuid4().hex[:8]}"
    opts = store_opts(emulators, kind)
    for i, local in enumerate(NC):
        name = f"{prefix}/{i}-{os.path.basename(local)}"
        upload(emulators, kind, local, name, cli)
        url = base_url(emulators, kind, name)
        check_nc_like_mda(cli, tmp, local, url, opts)
        for el in ("position", "velocity", "force", "time", "box"):
            p = run(cli, "cat", local, "-e", el, "--format", "npy", "-o", tmp / "l.npy", check=False)
            q = run(cli, "cat", url, "-e", el, "--format", "npy", "-o", tmp / "r.npy", *opts, check=False)
            assert p.returncode == q.returncode, (el, p.stderr, q.stderr)
            if p.returncode == 0:
                np.testing.assert_array_equal(np.load(tmp / "r.npy"), np.load(tmp / "l.npy"), err_msg=f"{url} {el}")
    src = [p for p in NC if os.path.basename(p) == "bala.ncdf"][0]
    cut = tmp / "cut.ncdf"
    cut.write_bytes(open(src, "rb").read()[:480000])
    upload(emulators, kind, str(cut), f"{prefix}/cut.ncdf", cli)
    url = base_url(emulators, kind, f"{prefix}/cut.ncdf")
    q = run(cli, "cat", url, "--format", "npy", "-o", os.devnull, *opts, check=False)
    assert q.returncode != 0 and url in q.stderr, q.stderr
    assert "NetCDF file truncated" in q.stderr, q.stderr
    assert _bad(cli, cut).split(f"{cut}: ", 1)[1] == q.stderr.split(f"{url}: ", 1)[1], q.stderr


def test_netcdf_remote_is_streamed(emulators):
    """Opening a remote NetCDF file and reading one frame fetches the header,
    the per-frame time and cell bytes and that frame, not the file."""
    core = pytest.importorskip("zarrtraj._core")
    import uuid

    from test_cloud_trajectories import base_url, upload

    src = [p for p in NC if os.path.basename(p) == "tz2.truncoct.nc"][0]
    name = f"nc-{uuid.uuid4().hex[:8]}/tz2.truncoct.nc"
    upload(emulators, "http", src, name, None)
    size = os.path.getsize(src)
    with core.Reader(base_url(emulators, "http", name), convert_units=0) as r:
        opened = r.stats()
        assert opened["bytes_fetched"] < size / 5, opened
        x = r.read_frames("position", np.array([5], dtype=np.int64))
        st = r.stats()
        frame = 5827 * 12
        assert st["bytes_fetched"] - opened["bytes_fetched"] < 3 * frame, st
    from MDAnalysis.coordinates.TRJ import NCDFReader

    m = NCDFReader(src, convert_units=False)
    np.testing.assert_array_equal(x[0], m[5].positions)


# ---- remote stores (the local test servers) ------------------------------------------------
@pytest.mark.parametrize("kind", ["s3", "http"])
def test_remote_read_and_write(cli, tmp, emulators, kind):
    """XTC/TRR/DCD read from S3 and plain HTTP with range requests read as the
    local files do; an XTC converted from S3 into S3 and written straight into
    the bucket reads back identically."""
    import uuid

    from test_cloud_trajectories import base_url, store_opts, upload

    prefix = f"md-{uuid.uuid4().hex[:8]}"
    opts = store_opts(emulators, kind)
    picks = [XTC[0], [p for p in XTC if "random_walk" in p][0], [p for p in TRR if "test.trr" in p][0],
             [p for p in DCD if "tip125" in p][0]]
    for i, local in enumerate(picks):
        name = f"{prefix}/{i}-{os.path.basename(local)}"
        upload(emulators, kind, local, name, cli)
        url = base_url(emulators, kind, name)
        for el in ("position", "step", "time", "box"):
            a = cat(cli, local, tmp, el)
            out = tmp / "r.npy"
            run(cli, "cat", url, "-e", el, "--format", "npy", "-o", out, *opts)
            np.testing.assert_array_equal(np.load(out), a, err_msg=f"{url} {el}")
    if kind == "s3":
        src = base_url(emulators, kind, f"{prefix}/1-xyz_random_walk.xtc")
        dst = base_url(emulators, kind, f"{prefix}/back.xtc")
        z = base_url(emulators, kind, f"{prefix}/conv.zarrmd")
        run(cli, "convert", src, z, *opts)
        run(cli, "convert", z, dst, *opts)
        back = tmp / "back.npy"
        run(cli, "cat", dst, "--format", "npy", "-o", back, *opts)
        np.testing.assert_array_equal(np.load(back), cat(cli, picks[1], tmp))
