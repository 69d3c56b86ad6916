#!/usr/bin/env python3
"""Crash safety of the writers: SIGKILL `zarrtraj convert` / `zarrtraj synth`
at random (seeded) moments and check that every frame the writer had
committed before the kill reads back, with its step and time and the source's
values, through zarrtraj and through an independent reader (zarr-python for
zarrmd, consolidated and per-array; h5py for H5MD); and that no reader sees
value rows without their step and time.

The writer logs "committed N frames" (ZARRTRAJ_LOG=info) after each commit
is on disk or in the bucket; the last such line before the kill is the count
that must survive. Formats are a parameter (CASES): a new container format
(Zarr v3) is one more entry with its suffix and independent reader.

Usage: crashsafe.py --cli ZARRTRAJ --work DIR [--kills N] [--seed S]
                    [--cases c1,c2] [--s3-env ENVFILE] [--json OUT]
Exit status 1 when a frame was lost or read back wrong.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

ELEMENTS = ["position", "velocity"]  # per-atom elements compared with the source
ATOMS, FRAMES, CHUNK = 300, 240, "8K"  # 3.6 KB per frame: a commit every 2 frames


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- readers ------------------------------------------------------------------------------
def read_ours(cli, url, env):
    """Frames through zarrtraj: {element: array}, step, time; None if it cannot open."""
    out = {}
    with tempfile.TemporaryDirectory() as d:
        for el in ELEMENTS + ["step", "time"]:
            f = os.path.join(d, el + ".npy")
            p = subprocess.run([cli, "cat", url, "--element", el, "--format", "npy", "-o", f] + env,
                               capture_output=True, text=True)
            if p.returncode != 0:
                return None, p.stderr.strip()
            out[el] = np.load(f)
    return out, ""


def zarr_view(path, consolidated, fmt=2):
    """Per element: value rows, step entries, time entries and the arrays (zarr-python)."""
    import zarr
    g = zarr.open_consolidated(path, zarr_format=fmt) if consolidated else \
        zarr.open_group(path, mode="r", zarr_format=fmt, use_consolidated=False)
    view = {}
    for el in ELEMENTS:
        e = g["particles/trajectory/" + el]
        view[el] = (e["value"][:], e["step"][:], e["time"][:])
    return view


def h5py_view(path):
    import h5py
    view = {}
    with h5py.File(path, "r") as f:
        for el in ELEMENTS:
            e = f["particles/trajectory/" + el]
            view[el] = (e["value"][:], e["step"][:], e["time"][:])
    return view


# ---- cases: format is a parameter ---------------------------------------------------------
# name: (writer command kind, destination kind, suffix, independent readers)
CASES = {
    "convert-zarrmd-local": ("convert", "local", ".zarrmd", ["zarr-consolidated", "zarr-per-array"]),
    "synth-zarrmd-local": ("synth", "local", ".zarrmd", ["zarr-consolidated", "zarr-per-array"]),
    "convert-zarrmd-s3": ("convert", "s3", ".zarrmd", ["zarr-consolidated", "zarr-per-array"]),
    # Zarr v3, sharded: small shards so that kills land between shard flushes
    "convert-zarrmd3-local": ("convert3", "local", ".zarrmd", ["zarr-consolidated", "zarr-per-array"]),
    "convert-h5md-local": ("convert", "local", ".h5md", ["h5py"]),
    "synth-h5md-local": ("synth", "local", ".h5md", ["h5py"]),
}


class Ctx:
    pass


def writer_cmd(c, kind, dest):
    if kind == "convert":
        return [c.cli, "convert", c.src, dest, "--chunk-bytes", CHUNK, "--overwrite"]
    if kind == "convert3":
        return [c.cli, "convert", c.src, dest, "--zarr-format", "3", "--shard-bytes", CHUNK, "--inner-frames", "1",
                "--overwrite"]
    return [c.cli, "synth", dest, "--atoms", str(ATOMS), "--frames", str(FRAMES), "--seed", "11",
            "--chunk-bytes", CHUNK, "--overwrite"]


def committed(stderr_text):
    n = 0
    for m in re.finditer(r"committed (\d+) frames", stderr_text):
        n = int(m.group(1))
    return n


def check_view(name, view, ref, need, res):
    """One reader's view: rows have step and time, values equal the source."""
    ok = True
    nmin = None
    for el, (val, step, tim) in view.items():
        nv = val.shape[0]
        if nv > len(step) or nv > len(tim):
            res["errors"].append("%s: %s: %d value rows but %d steps, %d times" % (name, el, nv, len(step), len(tim)))
            ok = False
            nv = min(nv, len(step), len(tim))
        rv, rs, rt = ref[el]
        if nv > len(rs):
            res["errors"].append("%s: %s: %d rows, the source has %d" % (name, el, nv, len(rs)))
            ok = False
            nv = len(rs)
        if not (np.array_equal(val[:nv], rv[:nv]) and np.array_equal(step[:nv], rs[:nv]) and
                np.array_equal(tim[:nv], rt[:nv])):
            res["errors"].append("%s: %s: values differ from the source" % (name, el))
            ok = False
        nmin = nv if nmin is None else min(nmin, nv)
    nmin = nmin or 0
    if nmin < need:
        res["errors"].append("%s: %d frames readable, %d were committed" % (name, nmin, need))
        res["lost"] = max(res["lost"], need - nmin)
        ok = False
    return ok


def run_case(c, name, kills, rng):
    kind, where, suffix, readers = CASES[name]
    res = {"case": name, "kills": 0, "committed_max": 0, "lost": 0, "wrong": 0, "errors": [],
           "readers": ["zarrtraj"] + readers}
    ref = c.ref_synth if kind == "synth" else c.ref_convert
    # how long an uninterrupted run takes: kill times are drawn from it
    if where == "s3":
        dest0, opts0 = "s3://%s/crash/%s-full%s" % (c.bucket, name, suffix), c.s3_opts
    else:
        dest0, opts0 = os.path.join(c.work, name + "-full" + suffix), []
    t0 = time.time()
    subprocess.run(writer_cmd(c, kind, dest0) + opts0, check=True, capture_output=True)
    full = time.time() - t0
    res["full_run_seconds"] = round(full, 2)
    for k in range(kills):
        if where == "s3":
            dest = "s3://%s/crash/%s-%d%s" % (c.bucket, name, k, suffix)
            env_opts = c.s3_opts
        else:
            dest = os.path.join(c.work, "%s-%d%s" % (name, k, suffix))
            env_opts = []
        errf = os.path.join(c.work, "writer.err")
        with open(errf, "w") as ef:
            p = subprocess.Popen(writer_cmd(c, kind, dest) + env_opts, stdout=subprocess.DEVNULL, stderr=ef,
                                 env=dict(os.environ, ZARRTRAJ_LOG="info"))
            time.sleep(rng.uniform(0.02, full * 1.05))
            p.send_signal(signal.SIGKILL)
            p.wait()
        with open(errf) as ef:
            need = committed(ef.read())
        res["kills"] += 1
        res["committed_max"] = max(res["committed_max"], need)
        before = len(res["errors"])
        # through zarrtraj
        ours, why = read_ours(c.cli, dest, env_opts)
        if ours is None:
            if need > 0:
                res["errors"].append("zarrtraj: cannot read after %d committed frames: %s" % (need, why))
                res["lost"] = max(res["lost"], need)
        else:
            # frames are the union of the elements' steps: an element not
            # sampled at a frame reads as NaN there (its rows end earlier)
            view = {}
            for el in ELEMENTS:
                v = ours[el]
                nv = v.shape[0]
                while nv > 0 and np.isnan(v[nv - 1]).all():
                    nv -= 1
                view[el] = (v[:nv], ours["step"], ours["time"])
            check_view("zarrtraj", view, ref, need, res)
        # through the independent readers (S3: on a downloaded copy)
        local = dest
        if where == "s3":
            local = os.path.join(c.work, "dl-" + name + suffix)
            shutil.rmtree(local, ignore_errors=True)
            cp = subprocess.run([c.cli, "cp", dest, local] + env_opts, capture_output=True, text=True)
            if cp.returncode != 0:
                local = None
                if need > 0:
                    res["errors"].append("cp: cannot download after %d committed frames: %s" % (need, cp.stderr.strip()))
        for rd in readers if local and os.path.exists(local) else []:
            try:
                view = zarr_view(local, rd == "zarr-consolidated", 3 if kind == "convert3" else 2) \
                    if rd.startswith("zarr") else h5py_view(local)
            except Exception as e:  # noqa: BLE001 - any failure to read is the finding
                if need > 0:
                    res["errors"].append("%s: cannot read after %d committed frames: %s" % (rd, need, e))
                    res["lost"] = max(res["lost"], need)
                continue
            check_view(rd, view, ref, need, res)
        if len(res["errors"]) > before:
            res["wrong"] += 1
            log("  kill %d of %s after %d committed frames: %s" % (k, name, need, "; ".join(res["errors"][before:])))
        if where == "local" and len(res["errors"]) == before:
            shutil.rmtree(dest, ignore_errors=True) if os.path.isdir(dest) else os.remove(dest) if os.path.exists(dest) else None
    return res


def reference(cli, url):
    ours, why = read_ours(cli, url, [])
    if ours is None:
        raise SystemExit("cannot read the reference %s: %s" % (url, why))
    return {el: (ours[el], ours["step"], ours["time"]) for el in ELEMENTS}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--s3-env")
    ap.add_argument("--json")
    a = ap.parse_args()
    c = Ctx()
    c.cli = a.cli
    c.work = a.work
    os.makedirs(c.work, exist_ok=True)
    rng = random.Random(a.seed)
    c.src = os.path.join(c.work, "src.zarrmd")
    if not os.path.exists(c.src):
        subprocess.run([c.cli, "synth", c.src, "--atoms", str(ATOMS), "--frames", str(FRAMES), "--seed", "5"],
                       check=True, capture_output=True)
    full_synth = os.path.join(c.work, "ref-synth.zarrmd")
    if not os.path.exists(full_synth):
        subprocess.run(writer_cmd(c, "synth", full_synth), check=True, capture_output=True)
    c.ref_convert = reference(c.cli, c.src)
    c.ref_synth = reference(c.cli, full_synth)
    c.s3_opts = []
    cases = [x for x in a.cases.split(",") if x]
    if any(CASES[x][1] == "s3" for x in cases):
        env = {}
        if a.s3_env and os.path.exists(a.s3_env):
            for line in open(a.s3_env):
                k, _, v = line.strip().partition("=")
                env[k] = v
        if "ZT_S3_ENDPOINT" not in env:
            log("crashsafe: no S3 emulator (--s3-env): S3 cases skipped")
            cases = [x for x in cases if CASES[x][1] != "s3"]
        else:
            c.bucket = env["ZT_S3_BUCKET"]
            c.s3_opts = ["-S", "endpoint_url=" + env["ZT_S3_ENDPOINT"], "-S", "key=" + env["ZT_S3_KEY"],
                         "-S", "secret=" + env["ZT_S3_SECRET"]]
    results = []
    for name in cases:
        t0 = time.time()
        r = run_case(c, name, a.kills, rng)
        r["seconds"] = round(time.time() - t0, 1)
        log("%-22s %3d kills, up to %d frames committed (uninterrupted run %.1f s), %d frames lost, "
            "%d kills with errors (%.0f s)" % (name, r["kills"], r["committed_max"], r["full_run_seconds"], r["lost"],
                                              r["wrong"], r["seconds"]))
        results.append(r)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 1 if any(r["lost"] or r["wrong"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
