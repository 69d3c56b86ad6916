#!/usr/bin/env python3
"""Raw-transfer ceiling: curl fetches the URLs (and byte ranges) of a curl
config file (one block per URL separated by `next`, each with its own
output, range and write-out "%{size_download}\\n") to /dev/null, once per parallelism level (-Z --parallel-immediate
--parallel-max P), and reports the fastest; prints one JSON line (seconds,
wire MB/s, and the frames/s and coordinate MB/s those bytes would give when
they hold --frames frames of --atoms atoms).

    curlbench.py CONFIG LEVELS --frames N --atoms A      (LEVELS: e.g. 1,4,16)
"""
import argparse
import json
import subprocess
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("levels")
    ap.add_argument("--frames", type=int, required=True)
    ap.add_argument("--atoms", type=int, required=True)
    a = ap.parse_args()
    n = sum(1 for line in open(a.config) if line.startswith("url"))
    best, times = None, {}
    for par in [int(x) for x in a.levels.split(",")]:
        t0 = time.perf_counter()
        p = subprocess.run(["curl", "-s", "-S", "--fail", "-Z", "--parallel-immediate", "--parallel-max", str(par),
                            "-K", a.config], capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            raise SystemExit("curlbench: curl failed: " + p.stderr.strip()[-300:])
        nbytes = sum(int(x) for x in p.stdout.split())
        times[par] = round(dt, 4)
        if best is None or dt < best[0]:
            best = (dt, par, nbytes)
    dt, par, nbytes = best
    coord = a.frames * a.atoms * 12
    print(json.dumps({"tool": "curl", "mode": "transfer", "frames": a.frames, "n_atoms": a.atoms,
                      "seconds": round(dt, 4), "frames_per_s": round(a.frames / dt, 2),
                      "MB_per_s": round(coord / 1e6 / dt, 2), "wire_MB_per_s": round(nbytes / 1e6 / dt, 2),
                      "bytes": nbytes, "requests": n, "parallel": par, "seconds_by_parallel": times,
                      "open_s": 0.0, "first_frame_s": None}))


if __name__ == "__main__":
    main()
