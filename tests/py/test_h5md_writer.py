"""Our H5MD output (zarrtraj synth / convert) read by Debian's MDAnalysis 2.4.2
H5MDReader and h5py 3.7, against independent references: zarr-python reading
the same synthetic trajectory written as zarrmd, the shared-data sources read by
h5py / zarr-python, and `zarrtraj cat` on both ends of every conversion."""
import os
import signal
import subprocess
import tempfile
import time
import warnings

import h5py
import numcodecs
import numpy as np
import pytest
import zarr

from conftest import run

G = "particles/trajectory"
ELEMENTS = ("position", "velocity", "force")


def npy(cli, path, *args, check=True):
    """`zarrtraj cat --format npy` (None when the element is absent and not check)."""
    fd, out = tempfile.mkstemp(suffix=".npy")
    os.close(fd)
    try:
        p = run(cli, "cat", path, "--format", "npy", "-o", out, *args, check=check)
        return np.load(out) if p.returncode == 0 else None
    finally:
        os.remove(out)


def mda_read(path, **kw):
    """Every frame through MDAnalysis' H5MDReader (no topology needed)."""
    warnings.simplefilter("ignore")
    from MDAnalysis.coordinates.H5MD import H5MDReader
    r = H5MDReader(str(path), **kw)
    out = {k: [] for k in ("positions", "velocities", "forces", "dimensions", "triclinic", "time", "step")}
    out["data"] = {}
    for ts in r:
        for k in ("positions", "velocities", "forces"):
            if getattr(ts, "has_" + k):
                out[k].append(getattr(ts, k).copy())
        out["dimensions"].append(None if ts.dimensions is None else ts.dimensions.copy())
        out["triclinic"].append(None if ts.dimensions is None else ts.triclinic_dimensions.copy())
        out["time"].append(ts.time)
        out["step"].append(ts.data["step"])
        for k, v in ts.data.items():
            if k not in ("step", "time", "dt"):
                out["data"].setdefault(k, []).append(np.copy(v))
    out["units"] = dict(r.units)
    out["n_frames"], out["n_atoms"] = r.n_frames, r.n_atoms
    r.close()
    for k in ("positions", "velocities", "forces", "time", "step"):
        out[k] = np.array(out[k])
    return out


def same_object(f, a, b):
    return h5py.h5o.get_info(f[a].id).addr == h5py.h5o.get_info(f[b].id).addr


# ---- synth: MDAnalysis, h5py and zarr-python agree ---------------------------------------------

COMPRESSORS = [
    (None, None, False, None),
    ("gzip", "gzip", False, 4),
    ("gzip:level=6,shuffle=true", "gzip", True, 6),
    ('[{"id": "shuffle"}, {"id": "zlib", "level": 2}]', "gzip", True, 2),
    ("lzf", "lzf", False, None),
    ("lzf:shuffle=true", "lzf", True, None),
]


@pytest.mark.parametrize("spec,comp,shuffle,opts", COMPRESSORS)
def test_mdanalysis_reads_synth(cli, tmp, spec, comp, shuffle, opts):
    h5, zr = str(tmp / "s.h5md"), str(tmp / "s.zarrmd")
    args = ["--atoms", "321", "--frames", "37", "--forces", "--seed", "11", "--chunk-bytes", "20k"]
    run(cli, "synth", h5, *args, *(["--compressor", spec] if spec else []))
    run(cli, "synth", zr, *args)  # independent reference: same seed, read by zarr-python
    z = zarr.open_group(zr, mode="r")
    m = mda_read(h5)
    assert m["n_frames"] == 37 and m["n_atoms"] == 321
    assert m["units"] == {"time": "ps", "length": "Angstrom", "velocity": "Angstrom/ps", "force": "kJ/(mol*Angstrom)"}
    for el, k in zip(ELEMENTS, ("positions", "velocities", "forces")):
        ref = z[G + f"/{el}/value"][:]
        np.testing.assert_array_equal(m[k], ref)
        np.testing.assert_array_equal(m[k], npy(cli, h5, "-e", el))
    np.testing.assert_array_equal(m["step"], z[G + "/position/step"][:])
    np.testing.assert_array_equal(m["step"], np.arange(37) * 500)
    np.testing.assert_array_equal(m["time"], z[G + "/position/time"][:])
    np.testing.assert_array_equal(np.array(m["triclinic"]), z[G + "/box/edges/value"][:])
    np.testing.assert_array_equal(np.array(m["triclinic"]), npy(cli, h5, "-e", "box").astype(np.float32))
    for ob in ("temperature", "potential_energy"):
        ref = z[f"observables/trajectory/{ob}/value"][:]
        np.testing.assert_array_equal(np.array(m["data"][ob]), ref)
        np.testing.assert_array_equal(npy(cli, h5, "-e", ob), ref)

    with h5py.File(h5, "r") as f:
        assert list(f["h5md"].attrs["version"]) == [1, 1] and f["h5md"].attrs["version"].dtype == np.int64
        assert f["h5md/creator"].attrs["name"] == "zarrtraj"
        assert h5py.check_string_dtype(f["h5md/creator"].attrs.get_id("name").dtype).encoding == "utf-8"
        assert f[G + "/box"].attrs["dimension"] == 3
        assert list(f[G + "/box"].attrs["boundary"]) == ["periodic"] * 3
        pos = f[G + "/position/value"]
        assert pos.dtype == np.float32 and pos.shape == (37, 321, 3) and pos.maxshape == (None, 321, 3)
        assert pos.chunks == (max(1, 20 * 1024 // (321 * 12)), 321, 3)
        assert pos.attrs["unit"] == "Angstrom" and f[G + "/position/time"].attrs["unit"] == "ps"
        assert f[G + "/velocity/value"].attrs["unit"] == "Angstrom ps-1"
        assert f[G + "/force/value"].attrs["unit"] == "kJ mol-1 Angstrom-1"
        for el in ELEMENTS:
            d = f[G + f"/{el}/value"]
            assert (d.compression, d.shuffle, d.compression_opts) == (comp, shuffle, opts), el
            np.testing.assert_array_equal(d[:], z[G + f"/{el}/value"][:])
        # step/time, box and observables stay uncompressed, as MDAnalysis writes them
        for p in (G + "/position/step", G + "/position/time", G + "/box/edges/value", "observables/temperature/value"):
            assert f[p].compression is None and not f[p].shuffle, p
        # H5MD: box/edges step/time are hard links to position's; so are the
        # other elements sampled at the same steps (as MDAnalysis links them)
        for other in (G + "/box/edges", G + "/velocity", G + "/force", "observables/temperature",
                      "observables/potential_energy"):
            for t in ("step", "time"):
                assert f[G + f"/position/{t}"].id == f[f"{other}/{t}"].id, (other, t)
                assert same_object(f, G + f"/position/{t}", f"{other}/{t}")
        assert not same_object(f, G + "/position/step", G + "/position/time")


def test_no_velocities_links_force_and_box(cli, tmp):
    h5 = str(tmp / "nv.h5md")
    run(cli, "synth", h5, "--atoms", "10", "--frames", "5", "--forces", "--no-velocities")
    with h5py.File(h5, "r") as f:
        assert "velocity" not in f[G]
        assert f[G + "/force/step"].id == f[G + "/position/step"].id == f[G + "/box/edges/step"].id
    m = mda_read(h5)
    assert m["n_frames"] == 5 and len(m["velocities"]) == 0


# ---- precision: same numbers as zarrmd and as numcodecs.Quantize --------------------------------

@pytest.mark.parametrize("digits", [0, 2, 3])
def test_precision_matches_zarrmd_and_numcodecs(cli, tmp, digits):
    h5, zq, zl = str(tmp / "q.h5md"), str(tmp / "q.zarrmd"), str(tmp / "l.zarrmd")
    args = ["--atoms", "200", "--frames", "9", "--seed", "5", "--forces"]
    run(cli, "synth", h5, *args, "--precision", str(digits), "--compressor", "gzip")
    run(cli, "synth", zq, *args, "--precision", str(digits))
    run(cli, "synth", zl, *args)
    q = numcodecs.Quantize(digits, dtype="<f4")
    with h5py.File(h5, "r") as f:
        for el in ELEMENTS + ("box/edges",):
            got = f[G + f"/{el}/value"][:]
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, zarr.open_group(zq, mode="r")[G + f"/{el}/value"][:])
            lossless = zarr.open_group(zl, mode="r")[G + f"/{el}/value"][:]
            np.testing.assert_array_equal(got, q.decode(q.encode(lossless)).reshape(lossless.shape))
            if el != "box/edges":
                assert np.abs(got - lossless).max() <= 0.5 * 10.0 ** -digits + 1e-4
                assert not np.array_equal(got, lossless)  # really quantized
    m = mda_read(h5)
    np.testing.assert_array_equal(m["positions"], npy(cli, h5))


# ---- convert zarrmd -> h5md ------------------------------------------------------------------------

@pytest.mark.parametrize("src", ["zarrtraj/COORDINATES_SYNTHETIC_ZARRMD.zarrmd",
                                 "generated/zarrtraj_charmm_tip125_zstd_quantize3.zarrmd"])
@pytest.mark.parametrize("comp", [None, "gzip:shuffle=true", "lzf"])
def test_convert_zarrmd_to_h5md_for_mdanalysis(cli, data_dir, tmp, src, comp):
    s = os.path.join(data_dir, src)
    out = str(tmp / "c.h5md")
    run(cli, "convert", s, out, *(["--compressor", comp] if comp else []))
    z = zarr.open_group(s, mode="r")
    g = z["particles/trajectory"]
    m = mda_read(out, convert_units=False)
    n = g["position/value"].shape[0]
    assert m["n_frames"] == n
    for el, k in zip(ELEMENTS, ("positions", "velocities", "forces")):
        if el in g:
            np.testing.assert_array_equal(m[k], g[el + "/value"][:])
            np.testing.assert_array_equal(m[k], npy(cli, s, "-e", el))
            np.testing.assert_array_equal(m[k], npy(cli, out, "-e", el))
        else:
            assert len(m[k]) == 0
    np.testing.assert_array_equal(m["step"], g["position/step"][:])
    if "time" in g["position"]:
        np.testing.assert_array_equal(m["time"], g["position/time"][:])
    # MDAnalysis turns edges into [a, b, c, alpha, beta, gamma]: the same as from the source's
    from MDAnalysis.lib.mdamath import triclinic_box
    for got, edges in zip(m["dimensions"], g["box/edges/value"][:].astype(np.float32)):
        np.testing.assert_array_equal(got, triclinic_box(*edges))
    with h5py.File(out, "r") as f:
        # units carried over; with MDAnalysis' unit conversion on they are understood
        assert f[G + "/position/value"].attrs["unit"] == g["position/value"].attrs["unit"]
        assert f[G + "/box/edges/step"].id == f[G + "/position/step"].id
        for el in ELEMENTS:
            if el in g:
                d = f[G + f"/{el}/value"]
                assert d.compression == (comp.split(":")[0] if comp else None)
                assert d.shuffle == bool(comp and "shuffle" in comp)
                np.testing.assert_array_equal(d[:], g[el + "/value"][:])
    mda_read(out)  # convert_units=True: every unit is one MDAnalysis knows


def test_mixed_sampling_convert_keeps_own_steps(cli, data_dir, tmp):
    """Velocities at another rate keep their own step/time (MDAnalysis cannot
    read such a file; our reader and h5py can)."""
    s = os.path.join(data_dir, "generated/zarrtraj_lammps_arkr_mixed_sampling.zarrmd")
    out = str(tmp / "mixed.h5md")
    run(cli, "convert", s, out)
    z = zarr.open_group(s, mode="r")["particles/trajectory"]
    with h5py.File(out, "r") as f:
        for el in ELEMENTS + ("box/edges",):
            if el not in z:
                continue
            np.testing.assert_array_equal(f[G + f"/{el}/value"][:], z[el + "/value"][:])
            np.testing.assert_array_equal(f[G + f"/{el}/step"][:], z[el + "/step"][:])
            linked = f[G + f"/{el}/step"].id == f[G + "/position/step"].id
            assert linked == np.array_equal(z[el + "/step"][:], z["position/step"][:]), el
    for e in ("position", "velocity", "force", "step", "time"):
        np.testing.assert_array_equal(npy(cli, out, "-e", e), npy(cli, s, "-e", e))


# ---- round trips h5md -> zarrmd -> h5md -> zarrmd ------------------------------------------------

def observables(cli, path, group):
    """Time-dependent observables of a file as `zarrtraj info` names them."""
    p = run(cli, "info", path, *(["--group", group] if group else []))
    names, on = [], False
    for line in p.stdout.splitlines():
        if line.strip() == "observables:":
            on = True
            continue
        if on:
            if not line.startswith("    ") or ":" not in line:
                on = False
                continue
            name, rest = line.strip().split(":", 1)
            if "samples" in rest:
                names.append(name)
    return names


def units_of(path, group):
    def attrs(node):
        return dict(node.attrs)
    if path.endswith((".h5", ".h5md")):
        f = h5py.File(path, "r")
    else:
        f = zarr.open_group(path, mode="r")
    g = f["particles"][group]
    u = {}
    for el in ELEMENTS:
        if el in g:
            u[el] = attrs(g[el + "/value"]).get("unit")
            u["time"] = attrs(g[el + "/time"]).get("unit") if "time" in g[el] else None
            break
    for el in ELEMENTS[1:]:
        if el in g:
            u[el] = attrs(g[el + "/value"]).get("unit")
    return u


def compare_all(cli, a, b, group_a, group_b, names_a, names_b):
    ga = ["--group", group_a] if group_a else []
    gb = ["--group", group_b] if group_b else []
    for e in ("position", "velocity", "force", "step", "time"):
        x, y = npy(cli, a, "-e", e, *ga, check=False), npy(cli, b, "-e", e, *gb, check=False)
        assert (x is None) == (y is None), (a, b, e)
        if x is None:
            continue
        if e in ("position", "velocity", "force"):
            x = x.astype(np.float32)  # the writer stores float32
        np.testing.assert_array_equal(y, x, err_msg=f"{a} -> {b}: {e}")
    bx, by = npy(cli, a, "-e", "box", *ga), npy(cli, b, "-e", "box", *gb)
    if bx.ndim == 2:  # orthorhombic lengths -> triclinic matrix
        bx = np.array([np.diag(r) for r in bx])
    np.testing.assert_array_equal(by, bx.astype(np.float32), err_msg=f"{a} -> {b}: box")
    assert len(names_a) == len(names_b)
    for na, nb in zip(sorted(names_a), sorted(names_b)):
        np.testing.assert_array_equal(npy(cli, b, "-e", nb, *gb), npy(cli, a, "-e", na, *ga),
                                      err_msg=f"{a} -> {b}: {na}")


@pytest.mark.parametrize("src,group", [
    ("mdanalysis/cobrotoxin.h5md", None),
    ("generated/mda242_lammps_arkr_xvf_obs_gzip.h5md", None),
    ("generated/pyh5md_lammps_arkr_two_groups.h5", "argon"),
    ("generated/pyh5md_lammps_arkr_two_groups.h5", "krypton"),
    ("mdanalysis/test.h5md", None),
])
def test_round_trip_h5md_zarrmd_h5md_zarrmd(cli, data_dir, tmp, src, group):
    s = os.path.join(data_dir, src)
    chain = [s, str(tmp / "a.zarrmd"), str(tmp / "b.h5md"), str(tmp / "c.zarrmd")]
    comps = [None, "gzip:level=5,shuffle=true", None]
    for i in range(3):
        run(cli, "convert", chain[i], chain[i + 1], *(["--group", group] if group and i == 0 else []),
            *(["--compressor", comps[i]] if comps[i] else []))
    g = group or "trajectory"
    groups = [group] + [g] * 3
    names = [observables(cli, p, gr) for p, gr in zip(chain, groups)]
    # H5MD keeps observables at observables/<name>; zarrmd under the group
    bare = [n.split("/", 1)[1] if n.startswith(g + "/") else n for n in names[0]]
    assert sorted(names[2]) == sorted(bare)
    assert sorted(names[1]) == sorted(names[3]) == sorted(f"{g}/{n}" for n in bare)
    for i in range(1, 4):
        compare_all(cli, chain[0], chain[i], groups[0], groups[i], names[0], names[i])
        assert units_of(chain[i], g) == units_of(s, group or "trajectory"), chain[i]
    # the h5md in the middle, value by value with h5py against the source
    with h5py.File(s, "r") as fs, h5py.File(chain[2], "r") as fb:
        gs, gb = fs["particles"][group or "trajectory"], fb["particles"][g]
        for el in ELEMENTS:
            if el in gs:
                np.testing.assert_array_equal(gb[el + "/value"][:], gs[el + "/value"][:].astype(np.float32))
                assert gb[el + "/value"].compression == "gzip" and gb[el + "/value"].shuffle
        if "edges" in gs["box"]:
            assert gb["box/edges/step"].id == gb["position/step"].id
            assert gb["box/edges/time"].id == gb["position/time"].id or "time" not in gs["position"]
    # MDAnalysis reads the h5md we wrote wherever it reads the source
    try:
        ref = mda_read(s, convert_units=False)
    except Exception:
        ref = None
    if ref is not None and group is None:
        m = mda_read(chain[2], convert_units=False)
        for k in ("positions", "velocities", "forces", "step"):
            np.testing.assert_array_equal(m[k], np.asarray(ref[k]).astype(m[k].dtype) if len(ref[k]) else ref[k], err_msg=k)
        np.testing.assert_array_equal(m["time"], np.asarray(ref["time"], dtype=np.float64))
        for k, v in ref["data"].items():
            np.testing.assert_array_equal(np.array(m["data"][k]), np.array(v), err_msg=k)


# ---- MDAnalysis sees the same trajectory before and after convert -----------------------------------

MDA_SOURCES = ["mdanalysis/cobrotoxin.h5md", "mdanalysis/test.h5md",
               "generated/mda242_amber_posfor_lzf_skipped.h5md", "generated/mda242_amber_posfor_nobox_contiguous.h5md",
               "generated/mda242_charmm_tip125_triclinic.h5md", "generated/mda242_gromacs_protein_gzip_atomchunks.h5md",
               "generated/mda242_lammps_arkr_xvf_obs_gzip.h5md", "generated/mda242_lammps_imagevf_nounits.h5md",
               "generated/mda242_synthetic_lzf_compressed.h5md", "zarrtraj/COORDINATES_SYNTHETIC_H5MD.h5md"]


@pytest.mark.parametrize("src", MDA_SOURCES)
def test_mdanalysis_same_after_convert(cli, data_dir, tmp, src):
    s = os.path.join(data_dir, src)
    ref = mda_read(s, convert_units=False)
    out = str(tmp / "m.h5md")
    run(cli, "convert", s, out, "--compressor", "gzip:shuffle=true")
    m = mda_read(out, convert_units=False)
    assert m["n_frames"] == ref["n_frames"] and m["n_atoms"] == ref["n_atoms"]
    assert m["units"] == ref["units"]
    for k in ("positions", "velocities", "forces", "step", "time"):
        np.testing.assert_array_equal(m[k], np.asarray(ref[k]), err_msg=k)
    for a, b in zip(m["dimensions"], ref["dimensions"]):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)
    # time-independent observables have no frame API in the writer: not copied
    with h5py.File(s, "r") as f:
        timed = [k for k in ref["data"] if "step" in f["observables"][k]]
    assert sorted(m["data"]) == sorted(timed)
    for k in timed:
        v = ref["data"][k]
        np.testing.assert_array_equal(np.array(m["data"][k]), np.array(v), err_msg=k)


# ---- a writer killed at an arbitrary moment ---------------------------------------------------------

def test_killed_writer_leaves_a_readable_file(cli, tmp):
    """SIGKILL at random moments while `zarrtraj synth` writes (a sync every 2
    frames, so kills land inside flushes too). h5py and MDAnalysis always open
    the file and read every frame it counts; no array holds a value that
    differs from the complete run (an unindexed chunk would read as zeros).
    The writer grows step and time first, the other values next and
    position's step and value (MDAnalysis iterates by position/step) last
    together, so no value row lacks its step or time and position/step is never
    longer than another array, except after a kill inside that last flush.
    Between the flushes of a sync the chunk index may hold one chunk past an
    extent: our reader then refuses the file with ZT_ECORRUPT rather than read
    it wrongly; otherwise it reads the same frames, plus those where only the
    other elements had grown (frames are the union of the elements' steps), whose
    position is not sampled: NaN, as documented, never another value. Every chunk address the index holds lies inside
    the end of allocation the superblock declares (h5py refuses others).
    ZT_KILL_TRIALS (default 10) sets the number of kills."""
    full = str(tmp / "full.h5md")
    args = ["--atoms", "300", "--frames", "6000", "--forces", "--chunk-bytes", "8k", "--seed", "3"]
    run(cli, "synth", full, *args)
    ref = h5py.File(full, "r")
    rng = np.random.default_rng(1)
    seen, ours_ok = set(), 0
    for trial in range(int(os.environ.get("ZT_KILL_TRIALS", "10"))):
        out = str(tmp / f"k{trial}.h5md")
        p = subprocess.Popen([cli, "synth", out, *args, "--compressor", "gzip:level=1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline and (not os.path.exists(out) or os.path.getsize(out) < 200_000):
            time.sleep(0.005)
        time.sleep(float(rng.uniform(0, 0.3)))
        p.send_signal(signal.SIGKILL)
        p.wait()
        with h5py.File(out, "r") as f:
            g = f[G]
            n = min(g["position/step"].shape[0], g["position/value"].shape[0])
            assert n > 0
            seen.add(n)
            groups = [G + f"/{el}" for el in ELEMENTS + ("box/edges",)]
            groups += [f"observables/{ob}" for ob in ("temperature", "potential_energy")]
            for grp in groups:
                kv = f[grp + "/value"].shape[0]
                assert n <= kv <= n + 2, (grp, kv, n)  # at most one sync ahead of position/step
                for k in ("step", "time"):
                    rows = f[grp + "/" + k].shape[0]
                    if grp != G + "/position":  # (position's step and value grow in one flush)
                        assert kv <= rows <= kv + 2, (grp, k, rows, kv)  # never behind the values
                for k in ("value", "step", "time"):
                    rows = f[grp + "/" + k].shape[0]
                    np.testing.assert_array_equal(f[grp + "/" + k][:], ref[grp + "/" + k][:rows], err_msg=grp + k)
        m = mda_read(out)
        assert len(m["positions"]) == n
        np.testing.assert_array_equal(m["positions"], ref[G + "/position/value"][:n])
        np.testing.assert_array_equal(m["step"], ref[G + "/position/step"][:n])
        r = run(cli, "cat", out, "--format", "npy", "-o", out + ".npy", check=False)
        if r.returncode == 0:
            ours_ok += 1
            got = np.load(out + ".npy")
            assert len(got) >= n
            np.testing.assert_array_equal(got[:n], ref[G + "/position/value"][:n])
            assert np.isnan(got[n:]).all()  # frames of a torn flush without a position
        else:
            assert "chunk index lists" in r.stderr or "but value has" in r.stderr, r.stderr
    assert len(seen) > 1  # killed at different points
    assert ours_ok >= 5
