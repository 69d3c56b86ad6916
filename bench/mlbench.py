#!/usr/bin/env python3
"""Shuffled batches of frames from the S3 emulator behind a latency proxy:
zarrtraj.FrameDataset (one batched C call per batch) against upstream Zarrtraj
through MDAnalysis (``u.trajectory[i]`` for each frame of the batch), on the
same zarrmd store (written by ``zarrtraj synth``, Zarr v2).

    ZT_EMULATOR_ENV=ENVFILE mlbench.py --build BUILD [--upstream-python PY]
        [--atoms 20000] [--frames 400] [--latency-ms 25] [--batch 64] [--batches 5] [--cache-mib 32]

Needs the S3 emulator (scripts/emulators/run.sh start s3) and BUILD/bench/latproxy.
Cold batches: a fresh reader each (open timed apart); warm: one reader, batches
of one epoch after the first. Prints one JSON line per measurement and a table.

    mlbench.py --v3 [mlv3.py options]

runs bench/mlv3.py instead: the issue 14 targets on our default Zarr v3 layout
(sharded) against upstream Zarrtraj (v2), zarr-python 3 and tensorstore, a single
frame against one ranged GET, 2 worker processes against curl, and the issue 12
comparison (sequential, random, cold open).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

UPSTREAM = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import MDAnalysis as mda, zarrtraj
url, so, batches = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
out = {"tool": "upstream-Zarrtraj", "zarrtraj": zarrtraj.__version__, "cold": [], "open": [], "warm": []}
for b in batches:  # cold: a fresh reader per batch
    t0 = time.perf_counter()
    u = mda.Universe.empty(int(sys.argv[4]), trajectory=False)
    u.load_new(url, format=zarrtraj.ZARRH5MDReader, storage_options=so)
    t1 = time.perf_counter()
    s = 0.0
    for i in b:
        s += float(u.trajectory[i].positions[0, 0])
    t2 = time.perf_counter()
    out["open"].append(t1 - t0)
    out["cold"].append(t2 - t1)
    u.trajectory.close()
u = mda.Universe.empty(int(sys.argv[4]), trajectory=False)
u.load_new(url, format=zarrtraj.ZARRH5MDReader, storage_options=so)
for b in batches:
    t1 = time.perf_counter()
    for i in b:
        u.trajectory[i].positions
    out["warm"].append(time.perf_counter() - t1)
out["check"] = s
print(json.dumps(out))
"""


def env_file():
    p = os.environ.get("ZT_EMULATOR_ENV") or os.environ.get("ZT_EMU_ENV")
    if not p or not os.path.exists(p):
        raise SystemExit("mlbench.py: export ZT_EMULATOR_ENV (scripts/emulators/run.sh start s3; run.sh envfile)")
    env = {}
    for line in open(p):
        if "=" in line:
            k, v = line.strip().split("=", 1)
            env[k] = v
    return env


def main():
    if "--v3" in sys.argv[1:]:
        sys.argv.remove("--v3")
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import mlv3
        return mlv3.main()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--upstream-python", default=os.path.expanduser("~/.cache/zarrtraj/venvs/upstream/bin/python"))
    ap.add_argument("--atoms", type=int, default=20000)
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--latency-ms", type=float, default=25)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-mib", type=int, default=32, help="FrameDataset cache_bytes (keep it below the file size)")
    a = ap.parse_args()
    sys.path.insert(0, os.path.join(a.build, "python"))
    import zarrtraj

    emu = env_file()
    endpoint = emu["ZT_S3_ENDPOINT"]
    key = f"mlbench/synth-{a.atoms}x{a.frames}.zarrmd"
    url = f"s3://{emu['ZT_S3_BUCKET']}/{key}"
    direct = {"endpoint_url": endpoint, "key": emu["ZT_S3_KEY"], "secret": emu["ZT_S3_SECRET"], "region": "us-east-1"}
    try:
        zarrtraj.CoreReader(url, storage_options=zarrtraj.storage_pairs(direct)).close()
    except zarrtraj.ZarrtrajError:  # not there yet: write it straight to the emulator
        cmd = [os.path.join(a.build, "zarrtraj"), "synth", url, "--atoms", str(a.atoms), "--frames", str(a.frames),
               "--no-velocities", "--overwrite"]
        for k, v in direct.items():
            cmd += ["-S", f"{k}={v}"]
        subprocess.run(cmd, check=True)
    port_file = tempfile.mktemp(prefix="mlbench-port-")
    host, port = endpoint.split("://", 1)[1].rstrip("/").split(":")
    proxy = subprocess.Popen([os.path.join(a.build, "bench", "latproxy"), "--upstream", f"{host}:{port}",
                              "--latency-ms", str(a.latency_ms), "--port-file", port_file, "--lifetime", "3600"])
    try:
        for _ in range(100):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.05)
        pport = open(port_file).read().strip()
        via = dict(direct, endpoint_url=f"http://127.0.0.1:{pport}")
        rng = np.random.default_rng(a.seed)
        batches = [rng.choice(a.frames, a.batch, replace=False).tolist() for _ in range(a.batches)]
        results = []

        # ours, cold: a fresh dataset (reader) per batch
        opens, cold = [], []
        for b in batches:
            t0 = time.perf_counter()
            ds = zarrtraj.FrameDataset(url, storage_options=via, n_frames=[a.frames], cache_bytes=a.cache_mib << 20)
            ds._probe([0])  # open (metadata), timed apart
            t1 = time.perf_counter()
            x = ds.read_batch(b)
            t2 = time.perf_counter()
            opens.append(t1 - t0)
            cold.append(t2 - t1)
            st = ds._pool[0].reader.stats()
            ds.close()
        results.append({"tool": "zarrtraj.FrameDataset", "mode": "cold", "batch": a.batch, "open_s": opens,
                        "batch_s": cold, "requests_last": st["requests"], "bytes_last": st["bytes_fetched"]})
        # ours, warm: one dataset, the same batches
        ds = zarrtraj.FrameDataset(url, storage_options=via, n_frames=[a.frames], cache_bytes=a.cache_mib << 20)
        ds.read_batch(batches[0])
        warm = []
        for b in batches:
            t0 = time.perf_counter()
            ds.read_batch(b)
            warm.append(time.perf_counter() - t0)
        results.append({"tool": "zarrtraj.FrameDataset", "mode": "warm", "batch": a.batch, "batch_s": warm})
        # ours: an epoch through batches() with prefetch, uniform and chunk-shuffled
        for name, sampler in (("uniform", zarrtraj.RandomBatchSampler(ds, a.batch, seed=1)),
                              ("chunk-shuffle w4", zarrtraj.ChunkShuffleSampler(ds, a.batch, seed=1, window=4))):
            fresh = zarrtraj.FrameDataset(url, storage_options=via, n_frames=[a.frames], cache_bytes=a.cache_mib << 20)
            t0 = time.perf_counter()
            n = sum(len(bb["step"]) for bb in fresh.batches(sampler, prefetch=2, memory_bytes=1 << 30))
            dt = time.perf_counter() - t0
            results.append({"tool": "zarrtraj.FrameDataset.batches", "mode": f"epoch {name}", "frames": n,
                            "seconds": dt, "frames_per_s": n / dt})
            fresh.close()
        # upstream through MDAnalysis
        if a.upstream_python and os.path.exists(a.upstream_python):
            so = {"key": emu["ZT_S3_KEY"], "secret": emu["ZT_S3_SECRET"],
                  "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{pport}", "region_name": "us-east-1"}}
            env = dict(os.environ)
            env.pop("PYTHONPATH", None)
            p = subprocess.run([a.upstream_python, "-c", UPSTREAM, url, json.dumps(so), json.dumps(batches),
                                str(a.atoms)], capture_output=True, text=True, env=env)
            if p.returncode:
                print(p.stderr[-3000:], file=sys.stderr)
            else:
                up = json.loads(p.stdout.strip().splitlines()[-1])
                results.append({"tool": "upstream-Zarrtraj (MDAnalysis u.trajectory[i])", "mode": "cold",
                                "batch": a.batch, "open_s": up["open"], "batch_s": up["cold"]})
                results.append({"tool": "upstream-Zarrtraj (MDAnalysis u.trajectory[i])", "mode": "warm",
                                "batch": a.batch, "batch_s": up["warm"]})
        for r in results:
            print(json.dumps(r))
        print(f"\n{a.atoms} atoms x {a.frames} frames, batches of {a.batch} random frames, S3 emulator behind "
              f"{a.latency_ms:g} ms one-way latency (median of {a.batches}; FrameDataset cache {a.cache_mib} MiB)\n")
        print("| tool | mode | open s | batch s | frames/s |")
        print("|---|---|---|---|---|")
        for r in results:
            if "batch_s" in r:
                med = float(np.median(r["batch_s"]))
                op = f"{np.median(r['open_s']):.3f}" if "open_s" in r else "-"
                print(f"| {r['tool']} | {r['mode']} | {op} | {med:.3f} | {a.batch / med:.0f} |")
            else:
                print(f"| {r['tool']} | {r['mode']} | - | {r['seconds']:.2f} s for {r['frames']} | "
                      f"{r['frames_per_s']:.0f} |")
    finally:
        proxy.terminate()
        proxy.wait()
        if os.path.exists(port_file):
            os.unlink(port_file)


if __name__ == "__main__":
    main()
