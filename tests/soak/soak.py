#!/usr/bin/env python3
"""The fault soak (scripts/soak.sh): trajectories of at least 1 GB read
frame by frame from the S3 emulator and from nginx over HTTPS through fault
proxies (tests/store/faultproxy.py: random, seeded 503s, mid-body resets,
stalls and wrong Content-Ranges), every frame checked against the checksums
of the local copy (tests/soak/soak_read); the writer (`zarrtraj convert`) and
`zarrtraj cp` through the same proxy, their uploads read back and compared;
and a memory soak: random frames from the S3 emulator with the resident set
size sampled (its slope must stay near zero).

Trajectories: A is Blosc-compressed (whole-object GETs), B the same frames
uncompressed (row-by-row range requests, where a wrong Content-Range
matters), C many small one-frame chunks for the memory soak.

Usage: soak.py --build DIR --work DIR --env ENVFILE [--mode ci|long] [--seed S]
               [--json OUT]
Standard library only. Exit status 1 on any wrong byte, failed read, failed
upload or growing memory.
"""
import argparse
import filecmp
import json
import os
import random
import shutil
import subprocess
import sys
import time

MIX = "503=5,reset=2,stall=1,badrange=1"
# mode: A/B atoms x frames, chunk bytes; C atoms x frames; random reads; passes;
# frames the writer converts
MODES = {
    "ci": dict(atoms=100000, frames=480, chunk="2M", c_atoms=10000, c_frames=1000, random=10000, passes=1,
               write_frames=240),
    "long": dict(atoms=100000, frames=1440, chunk="2M", c_atoms=10000, c_frames=2000, random=50000, passes=3,
                 write_frames=1440),
}
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run(cmd, **kw):
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return p, time.time() - t0


def read_env(path):
    env = {}
    for line in open(path):
        k, _, v = line.strip().partition("=")
        if k:
            env[k] = v
    return env


class Proxy:
    def __init__(self, work, name, upstream, seed, extra=()):
        self.port_file = os.path.join(work, name + ".port")
        self.stats_file = os.path.join(work, name + ".stats.json")
        for f in (self.port_file, self.stats_file):
            if os.path.exists(f):
                os.remove(f)
        self.p = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tests/store/faultproxy.py"), "--upstream", upstream,
             "--port-file", self.port_file, "--mix", MIX, "--seed", str(seed), "--stall-seconds", "5",
             "--stats", self.stats_file, "--lifetime", "7200"] + list(extra),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(self.port_file):
                break
            time.sleep(0.05)
        self.port = int(open(self.port_file).read())

    def stats(self):
        try:
            return json.load(open(self.stats_file))
        except (OSError, ValueError):
            return {}

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()


def verify(tool, url, sums, opts, extra=()):
    p, secs = run([tool, "verify", url, sums] + opts + list(extra))
    try:
        r = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        r = {"open_error": (p.stderr or p.stdout).strip()[-500:]}
    r["url"] = url
    r["wall_seconds"] = round(secs, 1)
    return r


def tree_equal(a, b):
    """Byte-identical directory trees (names and contents)."""
    diff = []
    for dp, dn, fn in os.walk(a):
        for f in fn:
            pa = os.path.join(dp, f)
            pb = os.path.join(b, os.path.relpath(pa, a))
            if not os.path.exists(pb) or not filecmp.cmp(pa, pb, shallow=False):
                diff.append(os.path.relpath(pa, a))
    for dp, dn, fn in os.walk(b):
        for f in fn:
            if not os.path.exists(os.path.join(a, os.path.relpath(os.path.join(dp, f), b))):
                diff.append(os.path.relpath(os.path.join(dp, f), b))
    return diff


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--env", required=True)
    ap.add_argument("--mode", default="ci", choices=sorted(MODES))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args()
    m = MODES[a.mode]
    cli = os.path.join(a.build, "zarrtraj")
    tool = os.path.join(a.build, "tests/soak/soak_read")
    env = read_env(a.env)
    work = a.work
    data = os.path.join(work, "data")
    os.makedirs(data, exist_ok=True)
    t_start = time.time()
    res = {"mode": a.mode, "seed": a.seed, "mix": MIX, "reads": [], "fail": []}

    # ---- data (kept between runs with the same parameters) ----
    def synth(name, extra, atoms, frames):
        path = os.path.join(data, name)
        stamp = path + ".stamp"
        want = json.dumps([atoms, frames, extra])
        if not (os.path.exists(stamp) and open(stamp).read() == want):
            shutil.rmtree(path, ignore_errors=True)
            p, secs = run([cli, "synth", path, "--atoms", str(atoms), "--frames", str(frames), "--seed", "7",
                           "--overwrite"] + extra)
            if p.returncode:
                raise SystemExit("synth %s: %s" % (name, p.stderr))
            open(stamp, "w").write(want)
            log("soak: wrote %s (%.0f s)" % (name, secs))
        return path

    A = synth("A.zarrmd", ["--chunk-bytes", m["chunk"]], m["atoms"], m["frames"])
    B = synth("B.zarrmd", ["--chunk-bytes", m["chunk"], "--compressor", "none"], m["atoms"], m["frames"])
    C = synth("C.zarrmd", ["--chunk-bytes", str(m["c_atoms"] * 12)], m["c_atoms"], m["c_frames"])
    sizes = {}
    for name, path in (("A", A), ("B", B), ("C", C)):
        sizes[name] = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fn in os.walk(path) for f in fn)
    res["sizes"] = sizes
    sums = {}
    for name, path in (("A", A), ("C", C)):
        sums[name] = os.path.join(work, name + ".sums")
        p, _ = run([tool, "sums", path, sums[name]])
        if p.returncode:
            raise SystemExit("sums %s: %s" % (name, p.stderr))
    sums["B"] = sums["A"]  # the same frames, stored uncompressed

    # ---- servers: S3 emulator (direct uploads), nginx over HTTPS (symlinks) ----
    s3 = ["-S", "key=" + env["ZT_S3_KEY"], "-S", "secret=" + env["ZT_S3_SECRET"]]
    direct = ["-S", "endpoint_url=" + env["ZT_S3_ENDPOINT"]] + s3
    bucket = env["ZT_S3_BUCKET"]
    run_id = "soak-%d-%d" % (os.getpid(), int(time.time()))
    s3url = {k: "s3://%s/%s/%s.zarrmd" % (bucket, run_id, k) for k in "ABC"}
    for k, path in (("A", A), ("B", B), ("C", C)):
        p, secs = run([cli, "cp", path, s3url[k]] + direct)
        if p.returncode:
            raise SystemExit("upload %s: %s" % (k, p.stderr))
    www = env["ZT_HTTP_ROOT"]
    for k, path in (("A", A), ("B", B)):
        link = os.path.join(www, "%s-%s.zarrmd" % (run_id, k))
        os.symlink(os.path.abspath(path), link)
    https_host = env["ZT_HTTPS_URL"].split("://", 1)[1]
    tls = os.path.join(os.path.dirname(env["ZT_TEST_CA"]))

    ps = Proxy(work, "proxy-s3", env["ZT_S3_ENDPOINT"].split("://", 1)[1], a.seed)
    ph = Proxy(work, "proxy-https", https_host.replace("localhost", "127.0.0.1"), a.seed + 1,
               ["--tls-cert", os.path.join(tls, "server.pem"), "--tls-key", os.path.join(tls, "server.key"),
                "--upstream-tls", "--upstream-ca", env["ZT_TEST_CA"], "--upstream-host", "localhost"])
    faulty = ["-S", "timeout=2", "-S", "retries=10", "-S", "backoff=0.05"]
    via_s3 = ["-S", "endpoint_url=http://127.0.0.1:%d" % ps.port] + s3 + faulty
    via_https = ["-S", "ca_file=" + env["ZT_TEST_CA"]] + faulty
    try:
        # ---- reads through the proxies ----
        for rep in range(m["passes"]):
            for k in "AB":
                for where, url, opts in (
                        ("s3", s3url[k], via_s3),
                        ("https", "https://localhost:%d/%s-%s.zarrmd" % (ph.port, run_id, k), via_https)):
                    r = verify(tool, url, sums[k], opts)
                    r.update(store=where, trajectory=k, pass_=rep)
                    res["reads"].append(r)
                    log("soak: read %s from %s: %s frames ok, %s wrong, %s errors, %.0f MB compared (%.0f s)" % (
                        k, where, r.get("ok"), r.get("wrong"), r.get("errors"), (r.get("bytes") or 0) / 1e6,
                        r["wall_seconds"]))

        # ---- the writer and cp through the S3 proxy, read back directly ----
        wurl = "s3://%s/%s/written.zarrmd" % (bucket, run_id)
        p, secs = run([cli, "convert", A, wurl, "--frames", "0:%d" % m["write_frames"]] + via_s3)
        w = {"exit": p.returncode, "seconds": round(secs, 1), "stderr": p.stderr.strip()[-500:]}
        if p.returncode == 0:
            w["readback"] = verify(tool, wurl, sums["A"], direct)
        res["writer"] = w
        log("soak: convert to S3 through the proxy: exit %d (%.0f s), read back: %s" % (
            p.returncode, secs, json.dumps({k: w.get("readback", {}).get(k) for k in ("ok", "wrong", "errors")})))
        curl = "s3://%s/%s/copied.zarrmd" % (bucket, run_id)
        p, secs = run([cli, "cp", A, curl] + via_s3)
        cpr = {"up_exit": p.returncode, "up_seconds": round(secs, 1), "up_stderr": p.stderr.strip()[-500:]}
        if p.returncode == 0:
            cpr["up_readback"] = verify(tool, curl, sums["A"], direct)
        dl = os.path.join(work, "downloaded.zarrmd")
        shutil.rmtree(dl, ignore_errors=True)
        p, secs = run([cli, "cp", s3url["A"], dl] + via_s3)
        cpr.update(down_exit=p.returncode, down_seconds=round(secs, 1), down_stderr=p.stderr.strip()[-500:])
        if p.returncode == 0:
            d = tree_equal(A, dl)
            cpr["down_differing_files"] = d[:20]
            cpr["down_bytes_compared"] = sizes["A"]
        res["cp"] = cpr
        log("soak: cp up: exit %d, read back %s; cp down: exit %d, %s differing files" % (
            cpr["up_exit"], json.dumps({k: cpr.get("up_readback", {}).get(k) for k in ("ok", "wrong", "errors")}),
            cpr["down_exit"], len(cpr.get("down_differing_files", [])) if cpr["down_exit"] == 0 else "?"))
    finally:
        res["proxies"] = {"s3": ps.stats(), "https": ph.stats()}
        ps.stop()
        ph.stop()
        for k in "AB":
            try:
                os.remove(os.path.join(www, "%s-%s.zarrmd" % (run_id, k)))
            except OSError:
                pass

    # ---- memory: random frames from the S3 emulator, RSS sampled ----
    rss = os.path.join(work, "rss.tsv")
    # a small cache and no read-ahead: the budget fills within the first
    # frames, so what follows shows growth, not warm-up
    r = verify(tool, s3url["C"], sums["C"], direct, ["--random", str(m["random"]), "--seed", str(a.seed), "--rss", rss,
                                                     "--cache-mb", "16", "--readahead-mb", "0"])
    res["memory"] = r
    log("soak: memory: %s random frames from S3: RSS %.0f -> max %.0f MB, slope %.1f KB per 1000 frames (%.0f s)" % (
        r.get("frames"), (r.get("rss_start") or 0) / 2**20, (r.get("rss_max") or 0) / 2**20,
        (r.get("rss_slope_bytes_per_1000_frames") or 0) / 1024, r["wall_seconds"]))

    # ---- verdict ----
    def bad_read(r, what):
        if "open_error" in r:
            res["fail"].append("%s: cannot open: %s" % (what, r["open_error"]))
        elif r.get("wrong") or r.get("errors") or r.get("ok") != r.get("frames"):
            res["fail"].append("%s: %s wrong, %s errors %s" % (what, r.get("wrong"), r.get("errors"), r.get("messages")))
    for r in res["reads"]:
        bad_read(r, "read %s from %s" % (r["trajectory"], r["store"]))
    if res["writer"]["exit"]:
        res["fail"].append("convert to S3 failed: " + res["writer"]["stderr"])
    else:
        bad_read(res["writer"]["readback"], "written trajectory")
    if res["cp"]["up_exit"]:
        res["fail"].append("cp up failed: " + res["cp"]["up_stderr"])
    else:
        bad_read(res["cp"]["up_readback"], "copied trajectory")
    if res["cp"]["down_exit"]:
        res["fail"].append("cp down failed: " + res["cp"]["down_stderr"])
    elif res["cp"]["down_differing_files"]:
        res["fail"].append("cp down: files differ: %s" % res["cp"]["down_differing_files"])
    bad_read(res["memory"], "memory soak")
    # flat: growth over the second half under 1% of the cache budget per 1000 frames
    if abs(res["memory"].get("rss_slope_bytes_per_1000_frames") or 0) > 1 << 20:
        res["fail"].append("memory grows: %.0f bytes per 1000 frames" % res["memory"]["rss_slope_bytes_per_1000_frames"])

    allreads = res["reads"] + [x for x in (res["writer"].get("readback"), res["cp"].get("up_readback")) if x]
    px = res["proxies"]
    res["totals"] = {
        "requests": sum(p.get("requests", 0) for p in px.values()),
        "faults": {k: sum(p.get("applied", {}).get(k, 0) for p in px.values()) for k in ("503", "reset", "stall", "badrange")},
        "bytes_compared": sum(r.get("bytes") or 0 for r in allreads) + (res["cp"].get("down_bytes_compared") or 0),
        "frames_compared": sum(r.get("ok", 0) + r.get("wrong", 0) for r in allreads),
        "wrong_frames": sum(r.get("wrong") or 0 for r in allreads + [res["memory"]]),
        "failed_reads": sum(r.get("errors") or 0 for r in allreads),
        "seconds": round(time.time() - t_start, 1),
    }
    log("soak: %d requests through the proxies, faults %s, %.2f GB compared, %d wrong frames (%.0f s)" % (
        res["totals"]["requests"], res["totals"]["faults"], res["totals"]["bytes_compared"] / 1e9,
        res["totals"]["wrong_frames"], res["totals"]["seconds"]))
    for f in res["fail"]:
        log("soak: FAIL " + f)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 1 if res["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
