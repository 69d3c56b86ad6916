#!/usr/bin/env python3
"""Random frames for ML on Zarr v3 (issue 14) and v3 sharded reads against
zarr-python 3 and tensorstore (issue 12), from the S3 emulator behind a
latency proxy (bench/latproxy).

    ZT_EMULATOR_ENV=ENVFILE mlv3.py --build BUILD [--atoms 20000] [--frames 2000]
        [--latency-ms 25] [--batch 64] [--batches 5] [--repeat 3] [--cache-mib 128]
        [--s3fs-path DIR] [--upstream-python PY] [--only ml,single,loader,v3]
        [--source TRAJ]

The emulator is s3rver started with ZT_S3RVER_SUFFIX_RANGES=1 (scripts/emulators/
s3rver.js: suffix ranges answered as S3 does; without it zarr-python 3 and
tensorstore fail on shard indexes at the end). Data: `zarrtraj synth` written
straight to the emulator in our default Zarr v3 layout (sharded) and in our
Zarr v2 layout (the one upstream Zarrtraj reads). zarr-python 3 reads through
its FsspecStore on s3 (s3fs: --s3fs-path is put on its sys.path when s3fs is not
in the venv), tensorstore through its http kvstore on the same S3 endpoint
(anonymous reads), upstream Zarrtraj through MDAnalysis in its own venv.
--source TRAJ (an XTC, H5MD, zarrmd, ...) converts that trajectory with
`zarrtraj convert` into both layouts instead of `zarrtraj synth` (atoms and
frames are then the file's).
Sections (--only): ml (shuffled batches, cold and warm), single (a random frame
vs one ranged GET of its bytes), loader (2 worker processes vs curl), v3
(sequential/random/open vs zarr-python 3 and tensorstore). Prints JSON lines and
Markdown tables (the sections of bench/RESULTS.md).
"""
import argparse
import http.client
import json
import multiprocessing as mp
import os
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ARRAY = "particles/trajectory/position/value"

# ---- zarr-python 3 (subprocess: its own sys.path for s3fs) -------------------------------------
ZP3 = r"""
import json, sys, time
import numpy as np, zarr
from zarr.storage import FsspecStore
cfg = json.loads(sys.argv[1])
zarr.config.set({"async.concurrency": cfg["concurrency"]})
so = {"key": cfg["key"], "secret": cfg["secret"], "client_kwargs": {"endpoint_url": cfg["endpoint"], "region_name": "us-east-1"}}
def open_():
    return zarr.open_array(FsspecStore.from_url(cfg["url"], storage_options=so, read_only=True), mode="r")
out = {"zarr": zarr.__version__, "open": [], "cold": [], "warm": [], "seq": None, "single": []}
mark = cfg.get("mark")
for b in cfg["batches"]:
    t0 = time.perf_counter(); a = open_(); t1 = time.perf_counter()
    x = a.oindex[np.asarray(b)]
    out["open"].append(t1 - t0); out["cold"].append(time.perf_counter() - t1)
if cfg.get("save"):
    np.save(cfg["save"], open_().oindex[np.asarray(cfg["batches"][0])])
a = open_()
a.oindex[np.asarray(cfg["warmup"])]
for b in cfg["batches"]:
    t1 = time.perf_counter(); a.oindex[np.asarray(b)]; out["warm"].append(time.perf_counter() - t1)
for i in cfg.get("single", []):
    t1 = time.perf_counter(); a[i]; out["single"].append(time.perf_counter() - t1)
if cfg.get("seq_block"):
    n, blk = a.shape[0], cfg["seq_block"]
    t1 = time.perf_counter()
    for s in range(0, n, blk):
        a[s:s + blk]
    out["seq"] = time.perf_counter() - t1
if mark:
    open(mark, "w").write("x")
    t0 = time.perf_counter(); open_(); out["open_only"] = time.perf_counter() - t0
print(json.dumps(out))
"""

# ---- tensorstore (http kvstore on the S3 endpoint) --------------------------------------------
TS = r"""
import json, sys, time
import numpy as np, tensorstore as ts
cfg = json.loads(sys.argv[1])
spec = {"driver": "zarr3", "kvstore": {"driver": "http", "base_url": cfg["base"]}, "open": True}
def open_():
    return ts.open(spec, read=True, context=ts.Context({"cache_pool": {"total_bytes_limit": cfg["cache"]}})).result()
from importlib.metadata import version
out = {"tensorstore": version("tensorstore"), "open": [], "cold": [], "warm": [], "seq": None, "single": []}
for b in cfg["batches"]:
    t0 = time.perf_counter(); a = open_(); t1 = time.perf_counter()
    a[np.asarray(b)].read().result()
    out["open"].append(t1 - t0); out["cold"].append(time.perf_counter() - t1)
a = open_()
a[np.asarray(cfg["warmup"])].read().result()
for b in cfg["batches"]:
    t1 = time.perf_counter(); a[np.asarray(b)].read().result(); out["warm"].append(time.perf_counter() - t1)
for i in cfg.get("single", []):
    t1 = time.perf_counter(); a[i].read().result(); out["single"].append(time.perf_counter() - t1)
if cfg.get("seq_block"):
    n, blk = a.shape[0], cfg["seq_block"]
    t1 = time.perf_counter()
    for s in range(0, n, blk):
        a[s:min(s + blk, n)].read().result()
    out["seq"] = time.perf_counter() - t1
if cfg.get("mark"):
    open(cfg["mark"], "w").write("x")
    t0 = time.perf_counter(); open_(); out["open_only"] = time.perf_counter() - t0
print(json.dumps(out))
"""

# ---- upstream Zarrtraj through MDAnalysis ------------------------------------------------------
UPSTREAM = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import MDAnalysis as mda, zarrtraj
cfg = json.loads(sys.argv[1])
so = {"key": cfg["key"], "secret": cfg["secret"], "client_kwargs": {"endpoint_url": cfg["endpoint"], "region_name": "us-east-1"}}
out = {"zarrtraj": zarrtraj.__version__, "open": [], "cold": [], "warm": []}
def open_():
    u = mda.Universe.empty(cfg["atoms"], trajectory=False)
    u.load_new(cfg["url"], format=zarrtraj.ZARRH5MDReader, storage_options=so)
    return u
for b in cfg["batches"]:
    t0 = time.perf_counter(); u = open_(); t1 = time.perf_counter()
    for i in b:
        u.trajectory[i].positions
    out["open"].append(t1 - t0); out["cold"].append(time.perf_counter() - t1)
    u.trajectory.close()
u = open_()
for i in cfg["warmup"]:
    u.trajectory[i].positions
for b in cfg["batches"]:
    t1 = time.perf_counter()
    for i in b:
        u.trajectory[i].positions
    out["warm"].append(time.perf_counter() - t1)
print(json.dumps(out))
"""


def env_file():
    p = os.environ.get("ZT_EMULATOR_ENV") or os.environ.get("ZT_EMU_ENV")
    if not p or not os.path.exists(p):
        raise SystemExit("mlv3.py: export ZT_EMULATOR_ENV (ZT_S3RVER_SUFFIX_RANGES=1 scripts/emulators/run.sh start s3)")
    env = {}
    for line in open(p):
        if "=" in line:
            k, v = line.strip().split("=", 1)
            env[k] = v
    return env


def med(x):
    return float(np.median(x)) if len(x) else float("nan")


def loadavg():
    return [round(x, 2) for x in os.getloadavg()]


class Raw:
    """Anonymous ranged GETs on one kept-alive connection to the proxy (the
    reference for a single frame: one round trip plus the transfer)."""

    def __init__(self, port, bucket):
        self.port, self.bucket = port, bucket
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, key, start=None, length=None, suffix=None):
        h = {}
        if suffix is not None:
            h["Range"] = f"bytes=-{suffix}"
        elif start is not None:
            h["Range"] = f"bytes={start}-{start + length - 1}"
        for attempt in (0, 1):
            try:
                self.c.request("GET", f"/{self.bucket}/{key}", headers=h)
                r = self.c.getresponse()
                body = r.read()
                break
            except (http.client.HTTPException, OSError):  # idle connection closed by the server
                self.c.close()
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        if r.status not in (200, 206):
            raise RuntimeError(f"GET {key}: HTTP {r.status}")
        return body

    def count(self, prefix):
        """(objects, bytes) under a key prefix (ListObjectsV2, pages of 1000)."""
        import re
        import urllib.parse
        n = nb = 0
        token = None
        while True:
            q = {"list-type": "2", "prefix": prefix}
            if token:
                q["continuation-token"] = token
            self.c.request("GET", f"/{self.bucket}?" + urllib.parse.urlencode(q))
            r = self.c.getresponse()
            body = r.read().decode()
            if r.status != 200:
                raise RuntimeError(f"list {prefix}: HTTP {r.status}")
            sizes = re.findall(r"<Size>(\d+)</Size>", body)
            n += len(sizes)
            nb += sum(int(x) for x in sizes)
            m = re.search(r"<NextContinuationToken>([^<]+)</NextContinuationToken>", body)
            if "<IsTruncated>true</IsTruncated>" not in body or not m:
                return n, nb
            token = m.group(1)


def shard_layout(raw, prefix):
    """Frame -> (shard key, offset, nbytes) of the position array's inner chunks
    (one frame per inner chunk, index at the end: bytes + crc32c)."""
    meta = json.loads(raw.get(f"{prefix}/{ARRAY}/zarr.json"))
    shape = meta["shape"]
    sh = [c for c in meta["codecs"] if c["name"] == "sharding_indexed"][0]
    shard = meta["chunk_grid"]["configuration"]["chunk_shape"]
    inner = sh["configuration"]["chunk_shape"]
    assert inner[0] == 1 and inner[1:] == shape[1:] and sh["configuration"].get("index_location", "end") == "end"
    per = shard[0]
    frames = []
    for s in range(-(-shape[0] // per)):
        key = f"{prefix}/{ARRAY}/c/{s}/0/0"
        idx = raw.get(key, suffix=16 * per + 4)
        for j in range(per):
            if s * per + j >= shape[0]:
                break
            off, nb = struct.unpack_from("<QQ", idx, 16 * j)
            frames.append((key, off, nb))
    return frames, per


def loader_worker(ds, inq, outq):
    while True:
        job = inq.get()
        if job is None:
            return
        k, idx = job
        b = ds.read_batch(idx)
        outq.put((k, b["position"].shape[0], float(b["position"][0, 0, 0])))


def loader_run(ds, batches, workers=2, prefetch=2):
    """DataLoader-like (torch-free): `workers` processes (fork), each with its own
    copy of the dataset (pickled: URL and options), batch k to worker k % workers,
    prefetch x workers batches outstanding, results through queues."""
    ctx = mp.get_context("fork")
    inqs = [ctx.Queue() for _ in range(workers)]
    outq = ctx.Queue()
    procs = [ctx.Process(target=loader_worker, args=(ds, inqs[w], outq)) for w in range(workers)]
    for p in procs:
        p.start()
    t0 = time.perf_counter()
    sent = 0
    for _ in range(min(len(batches), workers * prefetch)):
        inqs[sent % workers].put((sent, batches[sent]))
        sent += 1
    got, frames = 0, 0
    while got < len(batches):
        k, n, _ = outq.get()
        got += 1
        frames += n
        if sent < len(batches):
            inqs[sent % workers].put((sent, batches[sent]))
            sent += 1
    dt = time.perf_counter() - t0
    for q in inqs:
        q.put(None)
    for p in procs:
        p.join()
    return frames, dt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--upstream-python", default=os.path.expanduser("~/.cache/zarrtraj/venvs/upstream/bin/python"))
    ap.add_argument("--s3fs-path", default="", help="directory holding s3fs for zarr-python 3's FsspecStore")
    ap.add_argument("--atoms", type=int, default=20000)
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--latency-ms", type=float, default=25)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--upstream-batches", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-mib", type=int, default=128, help="cache of every reader (below the file size)")
    ap.add_argument("--zp3-concurrency", type=int, default=64, help="zarr-python async.concurrency")
    ap.add_argument("--only", default="ml,single,loader,v3")
    ap.add_argument("--json", default="", help="also append the JSON lines to this file")
    ap.add_argument("--source", default="", help="convert this trajectory instead of zarrtraj synth")
    a = ap.parse_args()
    only = set(a.only.split(","))
    sys.path.insert(0, os.path.join(a.build, "python"))
    import zarrtraj

    emu = env_file()
    endpoint, bucket = emu["ZT_S3_ENDPOINT"], emu["ZT_S3_BUCKET"]
    if a.source:
        name = "ml/" + os.path.basename(a.source).split(".")[0]
    else:
        name = f"ml/synth-{a.atoms}x{a.frames}"
    url3, url2 = f"s3://{bucket}/{name}-v3.zarrmd", f"s3://{bucket}/{name}-v2.zarrmd"
    cred = {"key": emu["ZT_S3_KEY"], "secret": emu["ZT_S3_SECRET"], "region": "us-east-1"}
    direct = dict(cred, endpoint_url=endpoint)
    for url, extra in ((url3, ["--zarr-format", "3"]), (url2, [])):
        try:
            zarrtraj.CoreReader(url, storage_options=zarrtraj.storage_pairs(direct)).close()
        except zarrtraj.ZarrtrajError:
            if a.source:
                cmd = [os.path.join(a.build, "zarrtraj"), "convert", a.source, url, "--overwrite"] + extra
            else:
                cmd = [os.path.join(a.build, "zarrtraj"), "synth", url, "--atoms", str(a.atoms), "--frames",
                       str(a.frames), "--no-velocities", "--overwrite"] + extra
            for k, v in direct.items():
                cmd += ["-S", f"{k}={v}"]
            subprocess.run(cmd, check=True)
    if a.source:
        r = zarrtraj.CoreReader(url3, storage_options=zarrtraj.storage_pairs(direct))
        a.atoms, a.frames = r.n_atoms, r.n_frames
        r.close()
    tmp = tempfile.mkdtemp(prefix="mlv3-")
    port_file, plog = os.path.join(tmp, "port"), os.path.join(tmp, "proxy.log")
    host, port = endpoint.split("://", 1)[1].rstrip("/").split(":")
    proxy = subprocess.Popen([os.path.join(a.build, "bench", "latproxy"), "--upstream", f"{host}:{port}",
                              "--latency-ms", str(a.latency_ms), "--port-file", port_file, "--lifetime", "7200",
                              "--log", plog])
    results = []

    def emit(r):
        r.setdefault("load", loadavg())
        results.append(r)
        print(json.dumps(r), flush=True)
        if a.json:
            with open(a.json, "a") as f:
                f.write(json.dumps(r) + "\n")

    def nreq():
        return sum(1 for _ in open(plog)) if os.path.exists(plog) else 0

    try:
        for _ in range(100):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.05)
        pport = open(port_file).read().strip()
        pend = f"http://127.0.0.1:{pport}"
        via = dict(cred, endpoint_url=pend)
        raw = Raw(pport, bucket)
        layout, per_shard = shard_layout(raw, name + "-v3.zarrmd")
        frame_bytes = med([x[2] for x in layout])
        zp3_env = dict(os.environ)
        if a.s3fs_path:
            zp3_env["PYTHONPATH"] = a.s3fs_path
        else:
            zp3_env.pop("PYTHONPATH", None)
        up_env = dict(os.environ)
        up_env.pop("PYTHONPATH", None)
        base = f"{pend}/{bucket}/{name}-v3.zarrmd/{ARRAY}/"

        def sub(py, code, cfg, env):
            p = subprocess.run([py, "-c", code, json.dumps(cfg)], capture_output=True, text=True, env=env)
            if p.returncode:
                print(p.stderr[-3000:], file=sys.stderr)
                return None
            return json.loads(p.stdout.strip().splitlines()[-1])

        def ds_new(url=url3):
            return zarrtraj.FrameDataset(url, storage_options=via, n_frames=[a.frames], cache_bytes=a.cache_mib << 20)

        def ours_v3_section(url, batches, warmup, singles):
            """Cold open (time and requests at the proxy), frame-by-frame sequential
            reads, warm random batches and single frames of one layout."""
            n0 = nreq()
            t0 = time.perf_counter()
            r = zarrtraj._core.Reader(url, None, a.cache_mib << 20, zarrtraj.storage_pairs(via), False, 256 << 20, 0)
            topen = time.perf_counter() - t0
            nopen = nreq() - n0
            buf = np.empty((a.atoms, 3), np.float32)
            t0 = time.perf_counter()
            for i in range(a.frames):
                r.read_frame(i, pos=buf)  # frame by frame, as MDAnalysis iterates (read-ahead on)
            tseq = time.perf_counter() - t0
            r.close()
            ds = ds_new(url)
            ds.read_batch(warmup)
            rnd, sing = [], []
            for b in batches:
                t0 = time.perf_counter()
                ds.read_batch(b)
                rnd.append(time.perf_counter() - t0)
            for i in singles:
                t0 = time.perf_counter()
                ds.read_batch([i])
                sing.append(time.perf_counter() - t0)
            ds.close()
            return {"open_s": topen, "open_requests": nopen, "seq_s": tseq, "batch_s": rnd, "single_s": sing}

        common = {"endpoint": pend, "key": cred["key"], "secret": cred["secret"]}
        for lay, u in (("v3", url3), ("v2", url2)):
            n, nb = raw.count(u.split("/", 3)[3] + "/")
            emit({"section": "objects", "layout": lay, "tool": "-", "objects": n, "bytes": nb})
        # ---------------- (a) shuffled batches ----------------
        if "ml" in only:
            for rep in range(a.repeat):
                rng = np.random.default_rng([a.seed, rep])
                batches = [rng.choice(a.frames, a.batch, replace=False).tolist() for _ in range(a.batches)]
                warmup = rng.choice(a.frames, a.batch, replace=False).tolist()
                opens, cold, reqs = [], [], []
                for b in batches:
                    t0 = time.perf_counter()
                    ds = ds_new()
                    ds._probe([0])
                    t1 = time.perf_counter()
                    x = ds.read_batch(b)
                    cold.append(time.perf_counter() - t1)
                    opens.append(t1 - t0)
                    reqs.append(ds._pool[0].reader.stats()["requests"])
                    ds.close()
                ds = ds_new()
                ds.read_batch(warmup)
                warm = []
                for b in batches:
                    t0 = time.perf_counter()
                    ds.read_batch(b)
                    warm.append(time.perf_counter() - t0)
                ours_first = ds.read_batch(batches[0])["position"]
                ds.close()
                emit({"section": "ml", "rep": rep, "tool": "zarrtraj", "layout": "v3", "open_s": opens,
                      "cold_s": cold, "warm_s": warm, "requests_cold": reqs})
                save = os.path.join(tmp, "zp3.npy")
                zp = sub(sys.executable, ZP3, dict(common, url=f"s3://{bucket}/{name}-v3.zarrmd/{ARRAY}",
                                                   concurrency=a.zp3_concurrency, batches=batches, warmup=warmup,
                                                   save=save), zp3_env)
                if zp:
                    same = bool(np.array_equal(np.load(save), ours_first))
                    emit({"section": "ml", "rep": rep, "tool": "zarr-python " + zp["zarr"], "layout": "v3",
                          "open_s": zp["open"], "cold_s": zp["cold"], "warm_s": zp["warm"], "values_equal": same})
                tsr = sub(sys.executable, TS, {"base": base, "batches": batches, "warmup": warmup,
                                               "cache": a.cache_mib << 20}, up_env)
                if tsr:
                    emit({"section": "ml", "rep": rep, "tool": "tensorstore " + tsr["tensorstore"], "layout": "v3",
                          "open_s": tsr["open"], "cold_s": tsr["cold"], "warm_s": tsr["warm"]})
                if a.upstream_python and os.path.exists(a.upstream_python) and a.upstream_batches:
                    ub = batches[:a.upstream_batches]
                    up = sub(a.upstream_python, UPSTREAM, dict(common, url=url2, atoms=a.atoms, batches=ub,
                                                               warmup=warmup), up_env)
                    if up:
                        emit({"section": "ml", "rep": rep, "tool": "upstream Zarrtraj " + up["zarrtraj"],
                              "layout": "v2", "open_s": up["open"], "cold_s": up["cold"], "warm_s": up["warm"]})
        # ---------------- (b) a single random frame ----------------
        if "single" in only:
            for rep in range(a.repeat):
                rng = np.random.default_rng([a.seed, 100 + rep])
                picks = rng.choice(a.frames, 12, replace=False).tolist()
                ds = ds_new()
                # shard indexes and connections warm: one frame of every shard first
                ds.read_batch(list(range(0, a.frames, per_shard)))
                ours = []
                for i in picks:
                    t0 = time.perf_counter()
                    ds.read_batch([i])
                    ours.append(time.perf_counter() - t0)
                ds.close()
                ref = []
                raw.get(layout[0][0], 0, 1)  # a live connection
                for i in picks:
                    k, off, nb = layout[i]
                    t0 = time.perf_counter()
                    raw.get(k, off, nb)
                    ref.append(time.perf_counter() - t0)
                cold1 = []
                for i in picks[:4]:
                    t0 = time.perf_counter()
                    d2 = ds_new()
                    d2.read_batch([i])
                    cold1.append(time.perf_counter() - t0)
                    d2.close()
                emit({"section": "single", "rep": rep, "frame_bytes": frame_bytes, "zarrtraj_s": ours,
                      "ranged_get_s": ref, "zarrtraj_open_plus_frame_s": cold1})
        # ---------------- (c) DataLoader-like, 2 workers ----------------
        if "loader" in only:
            for rep in range(a.repeat):
                rng = np.random.default_rng([a.seed, 200 + rep])
                order = rng.permutation(a.frames)
                batches = [order[s:s + a.batch].tolist() for s in range(0, a.frames, a.batch)]
                ds = ds_new()
                frames, dt = loader_run(ds, batches, workers=2)
                emit({"section": "loader", "rep": rep, "tool": "zarrtraj 2 workers", "frames": frames,
                      "seconds": dt, "frames_per_s": frames / dt})
                fresh = ds_new()
                t0 = time.perf_counter()
                n = sum(len(bb["step"]) for bb in fresh.batches(zarrtraj.RandomBatchSampler(fresh, a.batch, seed=rep),
                                                               prefetch=2, memory_bytes=1 << 30))
                dt = time.perf_counter() - t0
                fresh.close()
                emit({"section": "loader", "rep": rep, "tool": "zarrtraj batches() 1 process", "frames": n,
                      "seconds": dt, "frames_per_s": n / dt})
                cfg = os.path.join(tmp, "curl.cfg")
                with open(cfg, "w") as f:
                    for j, i in enumerate(order.tolist()):
                        k, off, nb = layout[i]
                        if j:
                            f.write("next\n")
                        f.write(f'url = "{pend}/{bucket}/{k}"\noutput = "/dev/null"\nrange = "{off}-{off + nb - 1}"\n'
                                f'write-out = "%{{size_download}}\\n"\n')
                p = subprocess.run([sys.executable, os.path.join(HERE, "curlbench.py"), cfg, "16,64",
                                    "--frames", str(a.frames), "--atoms", str(a.atoms)], capture_output=True, text=True)
                if p.returncode == 0:
                    c = json.loads(p.stdout.strip().splitlines()[-1])
                    emit({"section": "loader", "rep": rep, "tool": "curl", "frames": a.frames, "seconds": c["seconds"],
                          "frames_per_s": c["frames_per_s"], "parallel": c["parallel"], "bytes": c["bytes"]})
                else:
                    print(p.stderr[-2000:], file=sys.stderr)
        # ---------------- issue 12: sequential, random, cold open ----------------
        if "v3" in only:
            for rep in range(a.repeat):
                rng = np.random.default_rng([a.seed, 300 + rep])
                batches = [rng.choice(a.frames, a.batch, replace=False).tolist() for _ in range(3)]
                singles = rng.choice(a.frames, 8, replace=False).tolist()
                warmup = rng.choice(a.frames, a.batch, replace=False).tolist()
                for tool, url in (("zarrtraj", url3), ("zarrtraj, our v2 layout (chunks, no shards)", url2)):
                    emit(dict(ours_v3_section(url, batches, warmup, singles), section="v3", rep=rep, tool=tool))
                for tool, py, code, cfg, env in (
                        ("zarr-python", sys.executable, ZP3,
                         dict(common, url=f"s3://{bucket}/{name}-v3.zarrmd/{ARRAY}", concurrency=a.zp3_concurrency,
                              batches=[], warmup=warmup), zp3_env),
                        ("tensorstore", sys.executable, TS, {"base": base, "batches": [], "warmup": warmup,
                                                             "cache": a.cache_mib << 20}, up_env)):
                    mark = os.path.join(tmp, f"mark-{tool}-{rep}")
                    cfg = dict(cfg, single=singles, seq_block=per_shard, mark=mark)
                    cfg["batches"] = batches
                    n0 = nreq()
                    res = sub(py, code, cfg, env)
                    if not res:
                        continue
                    # requests of the last open only: lines logged after the mark file appeared
                    emit({"section": "v3", "rep": rep, "tool": f"{tool} {res.get('zarr', res.get('tensorstore'))}",
                          "open_s": res["open_only"], "seq_s": res["seq"], "batch_s": res["warm"],
                          "single_s": res["single"], "requests_total": nreq() - n0})
            # open requests of the peers, counted alone
            for tool, py, code, cfg, env in (
                    ("zarr-python", sys.executable,
                     "import json,sys,zarr\nfrom zarr.storage import FsspecStore\nc=json.loads(sys.argv[1])\n"
                     "so={'key':c['key'],'secret':c['secret'],'client_kwargs':{'endpoint_url':c['endpoint'],'region_name':'us-east-1'}}\n"
                     "a=zarr.open_array(FsspecStore.from_url(c['url'],storage_options=so,read_only=True),mode='r')\n"
                     "print(json.dumps({'shape':list(a.shape)}))",
                     dict(common, url=f"s3://{bucket}/{name}-v3.zarrmd/{ARRAY}"), zp3_env),
                    ("tensorstore", sys.executable,
                     "import json,sys,tensorstore as ts\nc=json.loads(sys.argv[1])\n"
                     "a=ts.open({'driver':'zarr3','kvstore':{'driver':'http','base_url':c['base']},'open':True},read=True).result()\n"
                     "print(json.dumps({'shape':list(a.shape)}))", {"base": base}, up_env)):
                n0 = nreq()
                if sub(py, code, cfg, env) is not None:
                    emit({"section": "v3open", "tool": tool, "what": "open of the position array only",
                          "open_requests": nreq() - n0})
    finally:
        proxy.terminate()
        proxy.wait()
    report(results, a, frame_bytes if results else 0)


def report(results, a, frame_bytes):
    def sel(section, tool=None):
        return [r for r in results if r["section"] == section and (tool is None or r["tool"].startswith(tool))]

    print(f"\n{a.atoms} atoms x {a.frames} frames, batches of {a.batch} random frames, S3 emulator (s3rver) behind "
          f"{a.latency_ms:g} ms one-way latency; cache {a.cache_mib} MiB per reader; {a.repeat} runs, "
          "each number the median of its run's batches, then the median over runs\n")
    ml = sel("ml")
    if ml:
        tools = []
        for r in ml:
            if r["tool"] not in tools:
                tools.append(r["tool"])
        ours = [r for r in ml if r["tool"] == "zarrtraj"]
        print("| tool (layout) | open s | cold batch s | warm batch s | cold: ours faster by | warm: ours faster by |")
        print("|---|---|---|---|---|---|")
        for t in tools:
            rs = [r for r in ml if r["tool"] == t]
            rc = [med(r["cold_s"]) / med(o["cold_s"]) for r, o in zip(rs, ours)]
            rw = [med(r["warm_s"]) / med(o["warm_s"]) for r, o in zip(rs, ours)]
            print(f"| {t} ({rs[0]['layout']}) | {med([med(r['open_s']) for r in rs]):.3f} | "
                  f"{med([med(r['cold_s']) for r in rs]):.3f} | {med([med(r['warm_s']) for r in rs]):.3f} | "
                  f"{'-' if t == 'zarrtraj' else f'{med(rc):.1f}x'} | {'-' if t == 'zarrtraj' else f'{med(rw):.1f}x'} |")
        eq = [r.get("values_equal") for r in ml if "values_equal" in r]
        print(f"\nvalues equal to zarr-python 3's (first batch of every run): {eq}")
    s = sel("single")
    if s:
        z = med([med(r["zarrtraj_s"]) for r in s])
        g = med([med(r["ranged_get_s"]) for r in s])
        c = med([med(r["zarrtraj_open_plus_frame_s"]) for r in s])
        print(f"\nsingle random frame ({frame_bytes / 1e3:.0f} kB stored): zarrtraj {z * 1e3:.1f} ms (warm reader); "
              f"one ranged GET of the same bytes (kept-alive connection) {g * 1e3:.1f} ms; "
              f"ratio {med([med(r['zarrtraj_s']) / med(r['ranged_get_s']) for r in s]):.2f}x; "
              f"fresh reader open + frame {c * 1e3:.0f} ms")
    lo = sel("loader")
    if lo:
        print("\n| epoch reader | frames/s | of curl |")
        print("|---|---|---|")
        cu = [r for r in lo if r["tool"] == "curl"]
        for t in ("zarrtraj 2 workers", "zarrtraj batches() 1 process", "curl"):
            rs = [r for r in lo if r["tool"] == t]
            if rs:
                f = med([r["frames_per_s"] for r in rs])
                rel = med([r["frames_per_s"] / c["frames_per_s"] for r, c in zip(rs, cu)]) if cu else float("nan")
                print(f"| {t} | {f:.0f} | {rel:.2f} |")
    for r in sel("objects"):
        print(f"{r['layout']} layout: {r['objects']} objects, {r['bytes'] / 1e6:.1f} MB")
    v = sel("v3")
    if v:
        print("\n| reader | cold open s | sequential s (frames/s) | random batch s | single frame ms |")
        print("|---|---|---|---|---|")
        tools = []
        for r in v:
            if r["tool"] not in tools:
                tools.append(r["tool"])
        for t in tools:
            rs = [r for r in v if r["tool"] == t]
            sq = med([r["seq_s"] for r in rs])
            print(f"| {t} | {med([r['open_s'] for r in rs]):.3f} | {sq:.2f} ({a.frames / sq:.0f}) | "
                  f"{med([med(r['batch_s']) for r in rs]):.3f} | {med([med(r['single_s']) for r in rs]) * 1e3:.0f} |")
        zo = [r for r in v if r["tool"] == "zarrtraj"]
        print(f"\nzarrtraj cold open: {med([r['open_requests'] for r in zo]):.0f} requests (whole trajectory: "
              "metadata, step/time/box chunks)")
        for r in sel("v3open"):
            print(f"{r['tool']}: {r['open_requests']} requests ({r['what']})")


if __name__ == "__main__":
    main()
