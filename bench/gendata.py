#!/usr/bin/env python3
"""Benchmark inputs for bench/run.sh (reused when they exist with the same
parameters; a manifest.json in DIR records what was made and how).

    gendata.py DIR --cli BUILD/zarrtraj [--quick] [--real ../shared/data/real]
               [--upstream-python UPSTREAM_VENV/bin/python]

Datasets (full / --quick):
  synth  `zarrtraj synth` 100,000 atoms x 1,000 / 100 frames, no velocities
  water  the real 57,801-atom GROMACS water box, its 200 / 20 frames as they
         are (not repeated), read with MDAnalysis (the newest venv's)
Formats of each:
  NAME_none.zarrmd   uncompressed zarrmd          (zarrtraj synth / convert --compressor none)
  NAME_zstd.zarrmd   zstd level 3 + precision 3   (zarrtraj convert)
  NAME_none.h5md     uncompressed H5MD, 1 frame/chunk (zarrtraj convert --compressor none)
  NAME_gzip.h5md     gzip level 4 H5MD chunked over as many frames as one zarrmd
                     chunk (h5repack of NAME_none.h5md: zarrtraj's H5MD writer caps
                     chunks at 1 MiB, i.e. one frame of these systems)
  NAME.xtc           XTC written by MDAnalysis' XTCWriter (precision 1000/nm);
                     offsets prebuilt so open times do not include the scan
The water box enters through water_mda.h5md, written by MDAnalysis' H5MDWriter
(uncompressed, its default (1, n_atoms, 3) chunks) and converted by zarrtraj.

For the mda section (with --upstream-python), upstream Zarrtraj's own writer
writes the water box from the .gro + .xtc in its venv, with Blosc zstd level 3:
  water_up_p3.zarrmd        precision=3 (Quantize(3) filter; units of the XTC, nm)
  water_up_lossless.zarrmd  no precision
each followed by zarr-python 2's consolidate_metadata (in the same venv), since
upstream's writer writes no .zmetadata, and
  water_up_p3_nozmeta.zarrmd  the precision-3 store without .zmetadata (hard
                              links to the same chunk files)
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import warnings

warnings.simplefilter("ignore")

VERSION = 4  # bump when the recipe changes (4: the newest PyPI venv instead of Debian's python3-*)


def log(msg):
    print("gendata: " + msg, file=sys.stderr, flush=True)


def du(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    tot = 0
    for root, _, files in os.walk(path):
        for f in files:
            tot += os.path.getsize(os.path.join(root, f))
    return tot


class Maker:
    def __init__(self, d, cli):
        self.d, self.cli = d, cli
        self.mpath = os.path.join(d, "manifest.json")
        try:
            with open(self.mpath) as f:
                self.m = json.load(f)
        except (OSError, ValueError):
            self.m = {}

    def save(self):
        with open(self.mpath + ".tmp", "w") as f:
            json.dump(self.m, f, indent=1, sort_keys=True)
        os.replace(self.mpath + ".tmp", self.mpath)

    def make(self, name, params, fn):
        """Build DIR/name with fn(tmp_path) unless it exists with these params."""
        path = os.path.join(self.d, name)
        params = dict(params, version=VERSION)
        e = self.m.get(name)
        if e and e.get("params") == params and os.path.exists(path):
            return path
        for p in (path, path + ".tmp" + os.path.splitext(name)[1]):
            if os.path.isdir(p):
                shutil.rmtree(p)
            elif os.path.exists(p):
                os.remove(p)
        tmp = path + ".tmp" + os.path.splitext(name)[1]
        log("making %s" % name)
        t0 = time.time()
        fn(tmp)
        os.replace(tmp, path)
        self.m[name] = {"params": params, "bytes": du(path), "seconds": round(time.time() - t0, 2)}
        self.save()
        return path

    def run(self, *args):
        subprocess.run([str(a) for a in args], check=True)


def rows_of(zarrmd, group="trajectory"):
    with open(os.path.join(zarrmd, "particles", group, "position", "value", ".zarray")) as f:
        z = json.load(f)
    return z["chunks"][0], z["shape"][1]


def h5repack_gzip(src, dst, rows, natoms, group="trajectory"):
    p = "/particles/%s/position/value" % group
    subprocess.run(["h5repack", "-l", "%s:CHUNK=%dx%dx3" % (p, rows, natoms), "-f", "%s:GZIP=4" % p, src, dst],
                   check=True)


def write_xtc_from(reader_path, out, n_frames=None, topology=None):
    import MDAnalysis as mda
    from MDAnalysis.coordinates.XTC import XTCWriter
    if topology:
        u = mda.Universe(topology, reader_path)
    else:
        from MDAnalysis.coordinates.H5MD import H5MDReader
        n = H5MDReader(reader_path).n_atoms
        u = mda.Universe.empty(n, trajectory=False)
        u.load_new(reader_path, format="H5MD")
    with XTCWriter(out, n_atoms=u.atoms.n_atoms) as w:
        for ts in u.trajectory[:n_frames]:
            w.write(u.atoms)


def build_offsets(xtc):
    from MDAnalysis.coordinates.XTC import XTCReader
    r = XTCReader(xtc)
    r.close()


UPSTREAM_WRITE = r"""
import sys, warnings
warnings.simplefilter("ignore")
import numcodecs, zarr, MDAnalysis as mda, zarrtraj
gro, xtc, out, prec, nf = sys.argv[1:6]
u = mda.Universe(gro, xtc)
kw = dict(compressor=numcodecs.Blosc(cname="zstd", clevel=3))
if prec != "none":
    kw["precision"] = int(prec)
with mda.Writer(out, n_atoms=u.atoms.n_atoms, n_frames=int(nf), **kw) as w:
    assert type(w).__module__ == "zarrtraj.ZARR", type(w)  # upstream's writer, not ours
    for ts in u.trajectory[:int(nf)]:
        w.write(u.atoms)
zarr.consolidate_metadata(out)
print(zarrtraj.__version__, zarr.__version__, numcodecs.__version__)
"""


def upstream_write(upy, gro, xtc, out, prec, nf):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # never our build tree
    p = subprocess.run([upy, "-c", UPSTREAM_WRITE, gro, xtc, out, str(prec), str(nf)], env=env,
                       capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise SystemExit("gendata: upstream Zarrtraj's writer failed:\n" + p.stderr[-2000:])


def upstream_version(upy):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return subprocess.run([upy, "-c", "import zarrtraj, zarr; print(zarrtraj.__version__, zarr.__version__)"],
                          env=env, capture_output=True, text=True, check=True).stdout.strip()


def without_zmetadata(src, dst):
    shutil.copytree(src, dst, copy_function=os.link)
    os.remove(os.path.join(dst, ".zmetadata"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--cli", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--real", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                    "shared", "data", "real"))
    ap.add_argument("--upstream-python", help="python of the upstream Zarrtraj venv (scripts/pyenv.sh upstream)")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    M = Maker(a.dir, a.cli)
    cli = a.cli
    info = {}

    # ---- synth
    sa, sf = 100000, (100 if a.quick else 1000)
    sp = {"atoms": sa, "frames": sf}
    snone = M.make("synth_none.zarrmd", sp, lambda t: M.run(cli, "synth", t, "--atoms", sa, "--frames", sf,
                                                           "--no-velocities", "--compressor", "none"))
    M.make("synth_zstd.zarrmd", sp, lambda t: M.run(cli, "convert", snone, t, "--compressor", "zstd:level=3",
                                                    "--precision", "3"))
    snh5 = M.make("synth_none.h5md", sp, lambda t: M.run(cli, "convert", snone, t, "--compressor", "none"))
    rows, _ = rows_of(snone)
    M.make("synth_gzip.h5md", dict(sp, rows=rows), lambda t: h5repack_gzip(snh5, t, rows, sa))
    build_offsets(M.make("synth.xtc", sp, lambda t: write_xtc_from(snh5, t)))
    info["synth"] = {"atoms": sa, "frames": sf, "source": "zarrtraj synth --atoms %d --frames %d --no-velocities"
                     % (sa, sf)}

    # ---- water (real GROMACS data)
    gro = os.path.join(a.real, "water57k.gro")
    xtc = os.path.join(a.real, "water57k_200f.xtc")
    wf = 20 if a.quick else 200
    wp = {"frames": wf, "source": os.path.abspath(xtc)}

    def water_mda(t):
        import MDAnalysis as mda
        from MDAnalysis.coordinates.H5MD import H5MDWriter
        u = mda.Universe(gro, xtc)
        with H5MDWriter(t, n_atoms=u.atoms.n_atoms, n_frames=wf, positions=True, velocities=False,
                        forces=False) as w:
            for ts in u.trajectory[:wf]:
                w.write(u.atoms)
            w.h5md_file.close()  # MDAnalysis' close() (2.4 to 2.11) leaves the h5py file open and unflushed

    wmda = M.make("water_mda.h5md", wp, water_mda)
    wnone = M.make("water_none.zarrmd", wp, lambda t: M.run(cli, "convert", wmda, t, "--compressor", "none"))
    M.make("water_zstd.zarrmd", wp, lambda t: M.run(cli, "convert", wmda, t, "--compressor", "zstd:level=3",
                                                    "--precision", "3"))
    wnh5 = M.make("water_none.h5md", wp, lambda t: M.run(cli, "convert", wmda, t, "--compressor", "none"))
    wrows, wna = rows_of(wnone)
    M.make("water_gzip.h5md", dict(wp, rows=wrows), lambda t: h5repack_gzip(wnh5, t, wrows, wna))
    build_offsets(M.make("water.xtc", wp, lambda t: write_xtc_from(xtc, t, wf, topology=gro)))
    info["water"] = {"atoms": wna, "frames": wf, "source": "water57k.gro + water57k_200f.xtc (GROMACS 2022.5), "
                     "first %d frames, via MDAnalysis H5MDWriter" % wf, "topology": os.path.abspath(gro)}

    # ---- the water box written by upstream Zarrtraj (mda section)
    if a.upstream_python:
        uv = upstream_version(a.upstream_python)
        up = dict(wp, upstream=uv, compressor="blosc:zstd:3")
        ufiles = {}
        for key, prec in (("p3", 3), ("lossless", "none")):
            name = "water_up_%s.zarrmd" % key
            M.make(name, dict(up, precision=prec),
                   lambda t, prec=prec: upstream_write(a.upstream_python, gro, xtc, t, prec, wf))
            ufiles[key] = name
        src = os.path.join(a.dir, ufiles["p3"])
        M.make("water_up_p3_nozmeta.zarrmd", dict(up, precision=3, src_bytes=du(src)),
               lambda t: without_zmetadata(src, t))
        ufiles["p3_nozmeta"] = "water_up_p3_nozmeta.zarrmd"
        info["water"]["upstream"] = {"writer": "upstream Zarrtraj %s (zarr-python %s): mda.Writer(..., precision=P, "
                                     "compressor=numcodecs.Blosc(cname='zstd', clevel=3)), then "
                                     "zarr.consolidate_metadata" % tuple(uv.split()[:2]),
                                     "files": {k: {"name": n, "bytes": du(os.path.join(a.dir, n))}
                                               for k, n in ufiles.items()}}
        with open(os.path.join(a.dir, ufiles["p3"], "particles", "trajectory", "position", "value",
                               ".zarray")) as f:
            info["water"]["upstream"]["chunk_rows"] = json.load(f)["chunks"][0]

    for k in ("synth", "water"):
        info[k]["files"] = {}
        for fmt in ("none.zarrmd", "zstd.zarrmd", "none.h5md", "gzip.h5md", "xtc"):
            name = "%s_%s" % (k, fmt) if fmt != "xtc" else "%s.xtc" % k
            info[k]["files"][fmt] = {"name": name, "bytes": du(os.path.join(a.dir, name))}
        info[k]["chunk_rows"] = rows_of(os.path.join(a.dir, "%s_none.zarrmd" % k))[0]
    with open(os.path.join(a.dir, "datasets.json"), "w") as f:
        json.dump(info, f, indent=1)
    log("data ready in %s" % a.dir)


if __name__ == "__main__":
    main()
