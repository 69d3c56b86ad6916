"""Trajectories on every store, through the real local test servers: the
shared data files read identically from S3 (uploaded with boto3), Azure
(uploaded with the REST API), GCS and plain HTTP/HTTPS (nginx); our writer
writes straight into each bucket and the result reads back identical."""
import json
import os
import re
import shutil
import subprocess
import sys
import uuid

import numpy as np
import pytest

from conftest import run, write_h5md_h5py

ZARRMD = ["zarrtraj/COORDINATES_VARIED_STEPS_ZARRMD.zarrmd",
          "generated/zarrtraj_lammps_arkr_mixed_sampling.zarrmd",
          "generated/zarrtraj_charmm_tip125_zstd_quantize3.zarrmd",
          "negative/missing_chunk_is_fill_value.zarrmd"]
H5MD = ["mdanalysis/cobrotoxin.h5md", "generated/mda242_lammps_arkr_xvf_obs_gzip.h5md",
        "generated/pyh5md_example_particles_3d.h5", "zarrtraj/COORDINATES_VARIED_STEPS_H5MD.h5md"]
ELEMENTS = ["position", "velocity", "force", "box", "step", "time"]


def store_opts(emu, kind):
    if kind == "s3":
        return ["-S", f"endpoint_url={emu['ZT_S3_ENDPOINT']}", "-S", f"key={emu['ZT_S3_KEY']}",
                "-S", f"secret={emu['ZT_S3_SECRET']}", "-S", "region=us-east-1"]
    if kind == "az":
        return ["-S", f"endpoint_url={emu['ZT_AZURE_ENDPOINT']}", "-S", f"account_name={emu['ZT_AZURE_ACCOUNT']}",
                "-S", f"account_key={emu['ZT_AZURE_KEY']}"]
    if kind == "gs":
        return ["-S", f"endpoint_url={emu['ZT_GCS_ENDPOINT']}"]
    if kind == "https":
        return ["-S", f"ca_file={emu['ZT_TEST_CA']}"]
    return []


def base_url(emu, kind, prefix):
    return {"s3": f"s3://{emu['ZT_S3_BUCKET']}/{prefix}", "az": f"az://{emu['ZT_AZURE_CONTAINER']}/{prefix}",
            "gs": f"gs://{emu['ZT_GCS_BUCKET']}/{prefix}", "http": f"{emu['ZT_HTTP_URL']}/{prefix}",
            "https": f"{emu['ZT_HTTPS_URL']}/{prefix}"}[kind]


def upload(emu, kind, local, prefix, cli):
    """Upload a file or directory with an independent client where there is one."""
    files = [(local, "")] if os.path.isfile(local) else [
        (os.path.join(d, f), os.path.relpath(os.path.join(d, f), local)) for d, _, fs in os.walk(local) for f in fs]
    if kind == "s3":
        import boto3
        c = boto3.client("s3", endpoint_url=emu["ZT_S3_ENDPOINT"], aws_access_key_id=emu["ZT_S3_KEY"],
                         aws_secret_access_key=emu["ZT_S3_SECRET"], region_name="us-east-1")
        for path, rel in files:
            c.upload_file(path, emu["ZT_S3_BUCKET"], prefix + ("/" + rel if rel else ""))
    elif kind == "az":
        tool = os.path.join(os.environ.get("ZT_SOURCE_DIR", "."), "scripts", "emulators", "emutool.py")
        for path, rel in files:
            run(sys.executable, tool, "azure-put", emu["ZT_AZURE_ENDPOINT"], emu["ZT_AZURE_ACCOUNT"],
                emu["ZT_AZURE_KEY"], emu["ZT_AZURE_CONTAINER"], prefix + ("/" + rel if rel else ""), path)
    elif kind == "gs":
        run(cli, "cp", local, base_url(emu, kind, prefix), *store_opts(emu, kind), "-q")
    else:  # http(s): nginx serves this folder
        dst = os.path.join(emu["ZT_HTTP_ROOT"], prefix)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.isdir(local):
            shutil.copytree(local, dst)
        else:
            shutil.copy(local, dst)


def cat(cli, url, element, opts, tmp):
    out = os.path.join(tmp, f"{uuid.uuid4().hex}.npy")
    p = run(cli, "cat", url, "-e", element, "--format", "npy", "-o", out, *opts, check=False)
    if p.returncode != 0:  # the same failure on both sides, URL aside
        return p.stderr.strip().replace(url, "<URL>")
    a = np.load(out)
    os.remove(out)
    return a


def same(a, b):
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("kind", ["s3", "az", "gs", "http", "https"])
def test_shared_files_read_identically(cli, data_dir, emulators, tmp, kind):
    prefix = f"shared-{uuid.uuid4().hex[:8]}"
    files = ZARRMD + H5MD
    if kind == "s3":  # every file, the bad ones included (same specific error remotely)
        files = sorted(json.load(open(os.path.join(data_dir, "expected.json")))["files"])
    for rel in files:
        upload(emulators, kind, os.path.join(data_dir, rel), f"{prefix}/{rel}", cli)
    opts = store_opts(emulators, kind)
    for rel in files:
        local = os.path.join(data_dir, rel)
        url = base_url(emulators, kind, f"{prefix}/{rel}")
        lp, rp = run(cli, "info", local, "--json", check=False), run(cli, "info", url, "--json", *opts, check=False)
        assert lp.returncode == rp.returncode, (rel, lp.stderr, rp.stderr)
        if lp.returncode != 0:  # a bad input: the same specific error, whatever the store
            assert lp.stderr.replace(local, "<URL>") == rp.stderr.replace(url, "<URL>"), rel
            continue
        li, ri = json.loads(lp.stdout), json.loads(rp.stdout)
        for k in ("groups", "n_atoms", "n_frames", "elements", "observables", "box"):
            assert li.get(k) == ri.get(k), (rel, k)
        for el in ELEMENTS:
            a, b = cat(cli, local, el, [], tmp), cat(cli, url, el, opts, tmp)
            assert same(a, b), (kind, rel, el, a if isinstance(a, str) else "", b if isinstance(b, str) else "")
        for name in li.get("observables", {}):
            assert same(cat(cli, local, name, [], tmp), cat(cli, url, name, opts, tmp)), (rel, name)


@pytest.mark.parametrize("kind", ["s3", "az", "gs"])
def test_writer_straight_into_bucket(cli, emulators, tmp, kind):
    """synth and convert write to the bucket; the result equals local output."""
    local = str(tmp / "local.zarrmd")
    args = ["--atoms", "2000", "--frames", "40", "--seed", "3", "--chunk-bytes", "100k", "--forces"]
    run(cli, "synth", local, *args)
    opts = store_opts(emulators, kind)
    url = base_url(emulators, kind, f"w-{uuid.uuid4().hex[:8]}/traj.zarrmd")
    run(cli, "synth", url, *args, *opts)
    for el in ELEMENTS + ["trajectory/temperature"]:
        assert same(cat(cli, local, el, [], tmp), cat(cli, url, el, opts, tmp)), el
    # convert bucket -> bucket with zstd + precision, compare with the same conversion done locally
    url2 = base_url(emulators, kind, f"w-{uuid.uuid4().hex[:8]}/p3.zarrmd")
    run(cli, "convert", url, url2, "--compressor", "zstd", "--precision", "3", *opts)
    run(cli, "convert", local, str(tmp / "p3.zarrmd"), "--compressor", "zstd", "--precision", "3")
    for el in ("position", "velocity", "time"):
        assert same(cat(cli, str(tmp / "p3.zarrmd"), el, [], tmp), cat(cli, url2, el, opts, tmp)), el
    # and zarr-python sees a normal consolidated hierarchy after a copy back
    back = str(tmp / "back.zarrmd")
    run(cli, "cp", url2, back, *opts, "-q")
    import zarr
    g = zarr.open_consolidated(back, mode="r")
    np.testing.assert_array_equal(g["particles/trajectory/position/value"][:],
                                  cat(cli, str(tmp / "p3.zarrmd"), "position", [], tmp))


def test_wrong_secret_is_an_auth_error(cli, emulators, tmp):
    url = base_url(emulators, "s3", "nope/traj.zarrmd")
    opts = ["-S", f"endpoint_url={emulators['ZT_S3_ENDPOINT']}", "-S", "key=S3RVER", "-S", "secret=WRONG-secret-123",
            "-S", "region=us-east-1", "-S", "retries=1"]
    p = run(cli, "info", url, *opts, check=False)
    assert p.returncode == 1
    assert "authentication" in p.stderr.lower() or "403" in p.stderr
    assert "WRONG-secret-123" not in p.stderr


@pytest.mark.parametrize("kind", ["s3", "http"])
def test_cold_open_fetches_chunk_index_nodes_together(cli, emulators, tmp, kind):
    """libhdf5 walks a chunk index node by node; opening a remote file without the index cache fetches the
    children of an inner node together, so the 2,000-chunk index below costs a few block fetches, not one
    per leaf node (about 32), and the data read back are h5py's."""
    n_frames, n_atoms = 2000, 1000
    pos = np.random.default_rng(11).uniform(0, 50, (n_frames, n_atoms, 3)).astype("f4")
    local = str(tmp / "many_chunks.h5md")
    write_h5md_h5py(local, pos, chunks=(1, n_atoms, 3))  # one frame per chunk
    prefix = f"btree-{uuid.uuid4().hex[:8]}"
    upload(emulators, kind, local, f"{prefix}/many.h5md", cli)
    url = base_url(emulators, kind, f"{prefix}/many.h5md")
    out = str(tmp / "f.npy")
    env = dict(os.environ, ZARRTRAJ_LOG="debug", ZARRTRAJ_INDEX_CACHE="0", XDG_CACHE_HOME=str(tmp / "xdg"))
    p = subprocess.run([cli, "cat", url, "-f", "1500:1502", "--format", "npy", "-o", out, *store_opts(emulators, kind)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    np.testing.assert_array_equal(np.load(out), pos[1500:1502])
    children = [int(m) for m in re.findall(r"chunk index node: (\d+) children", p.stderr)]
    block_fetches = len(re.findall(r"hdf5: .*: fetched \d+ bytes at", p.stderr))
    assert children and max(children) >= 25, p.stderr[-2000:]
    assert block_fetches <= 4, block_fetches
