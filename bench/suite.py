#!/usr/bin/env python3
"""Run every benchmark measurement of bench/run.sh and write results.json.

    suite.py --build BUILD --data DIR --emu-env ENVFILE --http-ports 0=P,10=P,25=P
             --http-logs 0=F,10=F,25=F --s3-proxy PORT --s3-proxy-log F --s3-latency 20
             --out results.json [--quick] [--only SECTION,...] [--repeat 3]
             [--upstream-python UPSTREAM_VENV/bin/python]

Each measurement runs in its own process under /usr/bin/time -f %M (peak RSS)
and prints one JSON line (bench_iter, bench_ros3, peers.py); key measurements
run --repeat times and the median (by seconds) is kept with all the repeat
times. Local runs drop the page cache before each run when the kernel allows
it (else every tool reads page-cache-warm); remote runs read files the server
has in its page cache. Requests of remote runs are counted at the latency
proxy (its --log, one line per request), for every tool alike.

The Python tools (peers.py, writebench.py, mdabench.py) run with the
interpreter that runs this script (bench/run.sh: the newest venv); zarrtraj's
Python package comes from BUILD/python (PYTHONPATH, mda section only),
upstream Zarrtraj from --upstream-python (its own venv, no PYTHONPATH).

Sections: local, http, s3, s3lat (issue 4: H5MD over S3 behind a latency
proxy, zarrtraj vs HDF5's ROS3 driver), write, disk, httprate, mda (issue 10:
the water box through MDAnalysis with our reader, upstream Zarrtraj 0.3.3,
MDAnalysis' H5MDReader and XTCReader, locally and over HTTP at 25 ms),
install (issue 10: scripts/check-wheel.sh: sdist + wheel, a clean venv with
the wheel and [dask], its install time and size).
"""
import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

PY = sys.executable  # the newest venv when run by bench/run.sh
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FMTS = {  # format key -> file name pattern
    "zarr_none": "%s_none.zarrmd",
    "zarr_zstd": "%s_zstd.zarrmd",
    "h5_none": "%s_none.h5md",
    "h5_gzip": "%s_gzip.h5md",
    "xtc": "%s.xtc",
}
FMT_LABEL = {"zarr_none": "zarrmd (none)", "zarr_zstd": "zarrmd (zstd-3 + precision 3)",
             "h5_none": "H5MD (none, 1 frame/chunk)", "h5_gzip": "H5MD (gzip-4, multi-frame chunks)",
             "xtc": "XTC"}


def log(msg):
    print("suite: " + msg, file=sys.stderr, flush=True)


def parse_map(s):
    out = {}
    for part in (s or "").split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                env[k] = v
    return env


def proc_cpu(pid):
    """user + system CPU seconds of a process (None when unknown)."""
    if not pid:
        return None
    try:
        with open("/proc/%s/stat" % pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


class Suite:
    def __init__(self, a):
        self.a = a
        self.build = os.path.abspath(a.build)
        self.data = os.path.abspath(a.data)
        self.cli = os.path.join(self.build, "zarrtraj")
        self.bench_iter = os.path.join(self.build, "bench", "bench_iter")
        self.bench_ros3 = os.path.join(self.build, "bench", "bench_ros3")
        self.env = read_env(a.emu_env) if a.emu_env else {}
        self.http_ports = parse_map(a.http_ports)
        self.http_logs = parse_map(a.http_logs)
        pids = parse_map(a.http_pids)
        self.proxy_pids = {self.http_logs[k]: v for k, v in pids.items() if k in self.http_logs}
        if a.s3_proxy_log and a.s3_proxy_pid:
            self.proxy_pids[a.s3_proxy_log] = a.s3_proxy_pid
        # --http-rate LATENCY:MBPS:PORT:PID:LOG (the per-connection rate-limited proxy)
        self.rate = dict(zip(("lat", "mbps", "port", "pid", "log"), a.http_rate.split(":", 4))) if a.http_rate else None
        if self.rate:
            self.proxy_pids[self.rate["log"]] = self.rate["pid"]
        self.results = []
        self.tmp = tempfile.mkdtemp(prefix="zt-bench-")
        self.xdg = os.path.join(self.tmp, "xdg")
        with open(os.path.join(self.data, "datasets.json")) as f:
            self.datasets = json.load(f)
        self.can_drop = self._drop_caches()
        self.only = set(a.only.split(",")) if a.only else None
        self.s3opts = ["-S", "endpoint_url=" + self.env.get("ZT_S3_ENDPOINT", ""), "-S", "key=" + self.env.get(
            "ZT_S3_KEY", "S3RVER"), "-S", "secret=" + self.env.get("ZT_S3_SECRET", "S3RVER")]
        self.bucket = self.env.get("ZT_S3_BUCKET", "zarrtraj-test")
        self.s3prefix = "bench-%s" % ("quick" if a.quick else "full")
        self.t_start = time.time()
        self.git0 = self._git()
        self.stack = self._stack()

    # ---- helpers ---------------------------------------------------------------------------
    def _git(self):
        """Revision of the checkout when the run started (the build is assumed to match it)."""
        try:
            rev = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip()
            dirty = subprocess.run(["git", "-C", HERE, "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True).stdout.rstrip()  # "XY path": keep column 1
        except OSError:
            return ""
        return rev + (" (working tree with uncommitted changes: %s)" % ", ".join(
            line[3:] for line in dirty.splitlines()) if dirty else "")

    def _stack(self):
        """Versions of the Python stacks the tools run with."""
        code = ("import json, platform, importlib.metadata as m\nv = {'python': platform.python_version()}\n"
                "for p in %r:\n    try: v[p] = m.version(p)\n    except m.PackageNotFoundError: pass\n"
                "print(json.dumps(v))")
        out = {"executable": PY}
        for key, py, pkgs in (("suite", PY, ("numpy", "zarr", "numcodecs", "h5py", "MDAnalysis", "fsspec",
                                             "aiohttp")),
                              ("upstream", self.a.upstream_python, ("zarrtraj", "zarr", "numcodecs", "numpy",
                                                                    "MDAnalysis", "fsspec", "kerchunk"))):
            if not py:
                continue
            env = dict(os.environ)
            env.pop("PYTHONPATH", None)
            try:
                p = subprocess.run([py, "-c", code % (pkgs,)], capture_output=True, text=True, env=env, timeout=60)
                out[key] = json.loads(p.stdout)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
        return out

    def _drop_caches(self):
        try:
            subprocess.run(["sync"], check=False)
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
            return True
        except OSError:
            return False

    def warm(self, paths):
        for p in paths:
            if os.path.isdir(p):
                subprocess.run(["sh", "-c", 'find "$1" -type f -exec cat {} + > /dev/null', "sh", p], check=False)
            elif os.path.exists(p):
                subprocess.run(["sh", "-c", 'cat "$1" > /dev/null', "sh", p], check=False)

    def path(self, ds, fmt):
        return os.path.join(self.data, FMTS[fmt] % ds)

    def http_url(self, lat, ds, fmt):
        return "http://127.0.0.1:%s/bench-data/%s" % (self.http_ports[str(lat)], FMTS[fmt] % ds)

    def nframes(self, ds):
        return self.datasets[ds]["frames"]

    def want(self, section):
        return self.only is None or section in self.only

    def run_once(self, cmd, timeout, env_extra=None, cwd=None):
        env = dict(os.environ)
        env.update(env_extra or {})
        for k in [k for k, v in env.items() if v is None]:
            del env[k]  # env_extra {VAR: None} removes VAR
        tf = os.path.join(self.tmp, "time.txt")
        t0 = time.perf_counter()
        try:
            p = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", tf] + [str(c) for c in cmd], capture_output=True,
                               text=True, timeout=timeout, env=env, cwd=cwd)
        except subprocess.TimeoutExpired:
            return {"error": "timeout after %ds" % timeout}, None, time.perf_counter() - t0
        wall = time.perf_counter() - t0
        rss = cpu = None
        try:
            with open(tf) as f:
                v = f.read().split()[-3:]
            rss, cpu = int(v[0]), round(float(v[1]) + float(v[2]), 3)
        except (OSError, ValueError, IndexError):
            pass
        res = None
        for line in reversed(p.stdout.strip().splitlines()):
            if line.startswith("{"):
                try:
                    res = json.loads(line)
                    break
                except ValueError:
                    pass
        if p.returncode != 0 or res is None:
            tail = (p.stderr or "").strip().splitlines()[-3:]
            return {"error": "exit %d: %s" % (p.returncode, " | ".join(tail))}, rss, wall
        res["cpu_s"] = cpu  # user + system CPU of the measured process (and its children)
        return res, rss, wall

    def measure(self, section, config, ds, fmt, tool, mode, cmd, repeat=1, cache="cold", proxylog=None,
                subset=None, timeout=900, note=None, env_extra=None, warm_paths=None):
        """Run cmd `repeat` times, keep the median run (by seconds)."""
        if not self.want(section):
            return None
        runs = []
        for _ in range(repeat):
            if cache == "cold":
                if not self.can_drop or not self._drop_caches():
                    self.warm(warm_paths or [])
            elif warm_paths:
                self.warm(warm_paths)
            shutil.rmtree(self.xdg, ignore_errors=True)  # zarrtraj's H5MD index cache: cold opens
            n0 = count_lines(proxylog) if proxylog else 0
            ppid = self.proxy_pids.get(proxylog) if proxylog else None
            c0 = proc_cpu(ppid)
            e = {"XDG_CACHE_HOME": self.xdg}
            e.update(env_extra or {})
            res, rss, wall = self.run_once(cmd, timeout, e)
            res["rss_kb"] = rss
            res["wall_s"] = round(wall, 3)
            if proxylog:
                time.sleep(0.05)
                res["proxy_requests"] = count_lines(proxylog) - n0
                c1 = proc_cpu(ppid)
                if c0 is not None and c1 is not None:
                    res["proxy_cpu_s"] = round(c1 - c0, 2)
            runs.append(res)
            if "error" in res:
                break
        ok = [r for r in runs if "error" not in r]
        rec = {"section": section, "config": config, "dataset": ds, "format": fmt, "tool": tool, "mode": mode,
               "subset": subset, "cache": cache, "repeat": len(runs), "cmd": " ".join(str(c) for c in cmd)}
        if note:
            rec["note"] = note
        if ok:
            ok_sorted = sorted(ok, key=lambda r: r.get("seconds", 0))
            med = ok_sorted[(len(ok_sorted) - 1) // 2] if len(ok_sorted) % 2 == 0 else ok_sorted[len(ok_sorted) // 2]
            rec["result"] = med
            rec["all_seconds"] = [r.get("seconds") for r in ok]
            rec["max_rss_kb"] = max((r.get("rss_kb") or 0) for r in ok)
        else:
            rec["error"] = runs[-1].get("error") if runs else "not run"
        self.results.append(rec)
        r = rec.get("result", {})
        log("%-6s %-9s %-5s %-9s %-22s %-10s %8s fps %8s MB/s  open %6s  ttff %6s  req %5s  rss %6s MB%s" % (
            section, config, ds, fmt, tool, mode, r.get("frames_per_s", "-"), r.get("MB_per_s", "-"),
            r.get("open_s", "-"), r.get("first_frame_s", "-"), r.get("proxy_requests", r.get("requests", "-")),
            round((rec.get("max_rss_kb") or 0) / 1024), "" if ok else "  ERROR " + rec.get("error", "")))
        self.save()
        return rec

    def save(self):
        out = {"meta": self.meta(), "datasets": self.datasets, "results": self.results}
        with open(self.a.out + ".tmp", "w") as f:
            json.dump(out, f, indent=1)
        os.replace(self.a.out + ".tmp", self.a.out)

    def meta(self):
        cpu = ""
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        cpu = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        mem = 0
        try:
            with open("/proc/meminfo") as f:
                mem = int(f.readline().split()[1]) // 1024
        except (OSError, ValueError):
            pass
        return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(self.t_start)),
                "python": self.stack,
                "machine": "%s, %d cores, %d MiB RAM, %s" % (cpu, os.cpu_count() or 0, mem, platform.platform()),
                "git": self.git0, "proxy": self.a.proxy,
                "command": self.a.command or " ".join(sys.argv), "quick": self.a.quick,
                "page_cache": "dropped before every local run" if self.can_drop else
                "could not drop the page cache: every tool reads page-cache-warm",
                "s3_latency_ms": self.a.s3_latency, "http_latencies_ms": sorted(int(k) for k in self.http_ports),
                "elapsed_s": round(time.time() - self.t_start, 1), "repeat": self.a.repeat,
                "load_avg_start": self.load0 if hasattr(self, "load0") else None,
                "load_avg_end": os.getloadavg()}

    # ---- command builders --------------------------------------------------------------------
    def zt(self, url, mode, frames=None, s3=False, s3opts=None, extra=()):
        cmd = [self.bench_iter, url, mode]
        if frames:
            cmd += ["--frames", frames]
        if s3:
            cmd += s3opts or self.s3opts
        return cmd + list(extra)

    def zt_open(self, section, config, ds, fmt, url, s3=False, s3opts=None, proxylog=None):
        """Open-only run: the process's baseline RSS for the peak-RSS comparison."""
        return self.measure(section, config, ds, fmt, "zarrtraj", "open", self.zt(url, "open", s3=s3, s3opts=s3opts),
                            cache="server" if section != "local" else "warm", proxylog=proxylog)

    def peer(self, tool, url, mode, frames=None):
        cmd = [PY, os.path.join(HERE, "peers.py"), tool, url, mode]
        if frames:
            cmd += ["--frames", frames]
        return cmd

    def ros3(self, url, mode, frames=None, auth=False, extra=()):
        cmd = [self.bench_ros3, url, mode, "--driver", "ros3"]
        if frames:
            cmd += ["--frames", frames]
        if auth:
            cmd += ["--id", self.env.get("ZT_S3_KEY", "S3RVER"), "--secret", self.env.get("ZT_S3_SECRET", "S3RVER")]
        return cmd + list(extra)

    def curl_cmd(self, urls_ranges, levels="1,4,16"):
        """A curl -Z config fetching urls (optionally byte ranges) to /dev/null."""
        cfg = os.path.join(self.tmp, "curl-%d.cfg" % len(self.results))
        with open(cfg, "w") as f:
            for i, (u, rng) in enumerate(urls_ranges):
                if i:
                    f.write("next\n")  # options after `next` apply to the next URL only
                f.write('url = "%s"\noutput = "/dev/null"\nsilent\nshow-error\nfail\n'
                        'write-out = "%%{size_download}\\n"\n' % u)
                if rng:
                    f.write('range = "%d-%d"\n' % rng)
        return [PY, os.path.join(HERE, "curlbench.py"), cfg, levels]

    def zarr_chunks(self, ds, fmt, nframes):
        """Chunk keys of position/value covering frames [0, nframes)."""
        d = os.path.join(self.path(ds, fmt), "particles", "trajectory", "position", "value")
        with open(os.path.join(d, ".zarray")) as f:
            z = json.load(f)
        rows = z["chunks"][0]
        nrc = math.ceil(nframes / rows)
        keys = [k for k in os.listdir(d) if not k.startswith(".") and int(k.split(".")[0]) < nrc]
        return sorted(keys), sum(os.path.getsize(os.path.join(d, k)) for k in keys)

    def curl_zarr(self, section, config, ds, fmt, nframes, base_url, proxylog, repeat=1):
        keys, nbytes = self.zarr_chunks(ds, fmt, nframes)
        urls = [(base_url + "/particles/trajectory/position/value/" + k, None) for k in keys]
        na = self.datasets[ds]["atoms"]
        cmd = self.curl_cmd(urls) + ["--frames", str(nframes), "--atoms", str(na)]
        return self.measure(section, config, ds, fmt, "curl", "transfer", cmd, repeat=repeat, cache="server",
                            proxylog=proxylog, subset=nframes,
                            note="%d chunk objects, %.1f MB; best of 1/4/16 parallel transfers" % (len(keys), nbytes / 1e6))

    def curl_file(self, section, config, ds, fmt, nframes, url, proxylog, repeat=1):
        size = os.path.getsize(self.path(ds, fmt))
        nf = self.nframes(ds)
        want = size if nframes >= nf else int(size * nframes / nf)
        step = 8 << 20
        rngs = [(url, (o, min(want, o + step) - 1)) for o in range(0, want, step)]
        na = self.datasets[ds]["atoms"]
        cmd = self.curl_cmd(rngs) + ["--frames", str(nframes), "--atoms", str(na)]
        return self.measure(section, config, ds, fmt, "curl", "transfer", cmd, repeat=repeat, cache="server",
                            proxylog=proxylog, subset=nframes,
                            note="%d ranges of 8 MiB, %.1f MB; best of 1/4/16 parallel transfers" % (len(rngs), want / 1e6))

    # ---- sections ----------------------------------------------------------------------------
    def sec_local(self):
        q = self.a.quick
        R = self.a.repeat
        for ds in ("synth", "water"):
            nf = self.nframes(ds)
            nrand = 20 if q else (100 if ds == "synth" else 50)
            nbatch = 2 * nrand
            gz_sub = min(nf, 20 if q else 100)  # per-frame gzip peers re-decompress a chunk per frame
            for fmt in ("zarr_zstd", "zarr_none", "h5_gzip", "h5_none"):
                p = self.path(ds, fmt)
                w = [p]
                self.zt_open("local", "local", ds, fmt, p)
                self.measure("local", "local", ds, fmt, "zarrtraj", "seq", self.zt(p, "seq"), repeat=R, warm_paths=w)
                for m in ("stride:10", "random:%d" % nrand, "batch:%d" % nbatch, "ts:1"):
                    self.measure("local", "local", ds, fmt, "zarrtraj", m, self.zt(p, m), warm_paths=w)
            for fmt in ("zarr_zstd", "zarr_none"):
                p = self.path(ds, fmt)
                w = [p]
                self.measure("local", "local", ds, fmt, "zarr-python", "seq", self.peer("zarr", p, "seq"),
                             repeat=R, warm_paths=w)
                self.measure("local", "local", ds, fmt, "zarr-python", "bulk", self.peer("zarr", p, "bulk"),
                             repeat=R, warm_paths=w)
                for m in ("stride:10", "random:%d" % nrand, "batch:%d" % nbatch, "ts:1"):
                    self.measure("local", "local", ds, fmt, "zarr-python", m, self.peer("zarr", p, m), warm_paths=w)
            for fmt in ("h5_gzip", "h5_none"):
                p = self.path(ds, fmt)
                w = [p]
                sub = gz_sub if fmt == "h5_gzip" else None
                self.measure("local", "local", ds, fmt, "h5py", "bulk", self.peer("h5py", p, "bulk"), repeat=R,
                             warm_paths=w)
                self.measure("local", "local", ds, fmt, "h5py", "seq", self.peer("h5py", p, "seq", sub),
                             subset=sub, warm_paths=w)
                for m in ("random:%d" % (gz_sub // 4 if sub else nrand), "ts:1"):
                    self.measure("local", "local", ds, fmt, "h5py", m, self.peer("h5py", p, m), warm_paths=w)
                self.measure("local", "local", ds, fmt, "MDAnalysis-H5MDReader", "seq",
                             self.peer("mda-h5md", p, "seq", sub), subset=sub, warm_paths=w)
                self.measure("local", "local", ds, fmt, "MDAnalysis-H5MDReader", "random:%d" % (
                    gz_sub // 4 if sub else nrand), self.peer("mda-h5md", p, "random:%d" % (
                        gz_sub // 4 if sub else nrand)), warm_paths=w)
            p = self.path(ds, "xtc")
            for m in ("seq", "stride:10", "random:%d" % nrand):
                self.measure("local", "local", ds, "xtc", "MDAnalysis-XTCReader", m, self.peer("mda-xtc", p, m),
                             repeat=R if m == "seq" else 1, warm_paths=[p])

    def sec_http(self):
        q = self.a.quick
        R = self.a.repeat
        all_files = [self.path(ds, f) for ds in ("synth", "water") for f in FMTS]
        self.warm(all_files)
        for lat in sorted(self.http_ports, key=int):
            config = "http-%sms" % lat
            plog = self.http_logs.get(lat)
            for ds in ("synth", "water"):
                nf = self.nframes(ds)
                sub = nf if (ds == "water" or q) else 200  # synth subset for the slower transfers
                nrand, nbatch = (10, 32) if q else (30, 64)
                ros_sub = min(nf, 10 if q else 50)
                ros_gz_sub = min(nf, 5 if q else 20)
                u = lambda f: self.http_url(lat, ds, f)  # noqa: E731
                for fmt in ("zarr_zstd", "zarr_none", "h5_gzip", "h5_none"):
                    self.zt_open("http", config, ds, fmt, u(fmt), proxylog=plog)
                # sequential: full data for zstd zarrmd (the 25 ms target), subsets for the rest
                self.measure("http", config, ds, "zarr_zstd", "zarrtraj", "seq", self.zt(u("zarr_zstd"), "seq"),
                             repeat=R, cache="server", proxylog=plog)
                for fmt in ("zarr_none", "h5_gzip", "h5_none"):
                    fsub = None if (lat == "0" or ds == "water") else sub
                    self.measure("http", config, ds, fmt, "zarrtraj", "seq",
                                 self.zt(u(fmt), "seq", fsub), cache="server", proxylog=plog, subset=fsub)
                for m in ("random:%d" % nrand, "batch:%d" % nbatch):
                    self.measure("http", config, ds, "zarr_zstd", "zarrtraj", m, self.zt(u("zarr_zstd"), m),
                                 repeat=R if m.startswith("random") else 1, cache="server", proxylog=plog)
                self.measure("http", config, ds, "zarr_zstd", "zarrtraj", "ts:1",
                             self.zt(u("zarr_zstd"), "ts:1", sub if sub < nf else None), cache="server",
                             proxylog=plog, subset=sub if sub < nf else None)
                for fmt in ("h5_none", "h5_gzip"):
                    self.measure("http", config, ds, fmt, "zarrtraj", "random:%d" % nrand,
                                 self.zt(u(fmt), "random:%d" % nrand), cache="server", proxylog=plog)
                # zarr-python + fsspec (HTTPFileSystem, one GET per chunk)
                zsub = sub if sub < nf else None
                self.measure("http", config, ds, "zarr_zstd", "zarr-python+fsspec", "seq",
                             self.peer("zarr", u("zarr_zstd"), "seq", zsub), repeat=R if lat == "25" else 1,
                             cache="server", proxylog=plog, subset=zsub)
                if zsub:  # ours on the same subset, for the ratio
                    self.measure("http", config, ds, "zarr_zstd", "zarrtraj", "seq",
                                 self.zt(u("zarr_zstd"), "seq", zsub), repeat=R if lat == "25" else 1,
                                 cache="server", proxylog=plog, subset=zsub)
                for m in ("random:%d" % nrand, "batch:%d" % nbatch):
                    self.measure("http", config, ds, "zarr_zstd", "zarr-python+fsspec", m,
                                 self.peer("zarr", u("zarr_zstd"), m), repeat=R if m.startswith("random") else 1,
                                 cache="server", proxylog=plog)
                # HDF5's ROS3 driver (anonymous GETs through the same proxy)
                self.measure("http", config, ds, "h5_none", "libhdf5-ros3", "seq",
                             self.ros3(u("h5_none"), "seq", ros_sub), cache="server", proxylog=plog, subset=ros_sub)
                self.measure("http", config, ds, "h5_gzip", "libhdf5-ros3", "seq",
                             self.ros3(u("h5_gzip"), "seq", ros_gz_sub), cache="server", proxylog=plog,
                             subset=ros_gz_sub)
                self.measure("http", config, ds, "h5_none", "libhdf5-ros3", "random:%d" % nrand,
                             self.ros3(u("h5_none"), "random:%d" % nrand), cache="server", proxylog=plog)
                # raw transfer ceiling: curl, 16 parallel transfers of the same bytes
                self.curl_zarr("http", config, ds, "zarr_zstd", nf, u("zarr_zstd"), plog)
                self.curl_file("http", config, ds, "h5_none", nf if lat == "0" or ds == "water" else sub,
                               u("h5_none"), plog)

    def sec_httprate(self):
        """HTTP at 25 ms with each connection limited (like one stream of an object store): single random
        frames of large chunks are where fetching one chunk as parallel ranges pays."""
        if not self.rate:
            log("httprate: no rate-limited proxy (ZT_BENCH_PROXY=python): skipped")
            return
        q = self.a.quick
        config = "http-%sms-%sMBps" % (self.rate["lat"], self.rate["mbps"])
        plog = self.rate["log"]
        self.warm([self.path(ds, f) for ds in ("synth", "water") for f in FMTS])
        for ds in ("synth", "water"):
            nf = self.nframes(ds)
            sub = nf if (ds == "water" or q) else 200
            zsub = sub if sub < nf else None
            nrand = 10 if q else 30
            u = lambda f: "http://127.0.0.1:%s/bench-data/%s" % (self.rate["port"], FMTS[f] % ds)  # noqa: E731
            for fmt in ("zarr_zstd", "h5_gzip", "h5_none"):
                self.zt_open("httprate", config, ds, fmt, u(fmt), proxylog=plog)
                self.measure("httprate", config, ds, fmt, "zarrtraj", "seq", self.zt(u(fmt), "seq", zsub),
                             cache="server", proxylog=plog, subset=zsub)
                self.measure("httprate", config, ds, fmt, "zarrtraj", "random:%d" % nrand,
                             self.zt(u(fmt), "random:%d" % nrand), cache="server", proxylog=plog)
            self.measure("httprate", config, ds, "zarr_zstd", "zarr-python+fsspec", "seq",
                         self.peer("zarr", u("zarr_zstd"), "seq", zsub), cache="server", proxylog=plog, subset=zsub)
            self.measure("httprate", config, ds, "zarr_zstd", "zarr-python+fsspec", "random:%d" % nrand,
                         self.peer("zarr", u("zarr_zstd"), "random:%d" % nrand), cache="server", proxylog=plog)
            self.measure("httprate", config, ds, "h5_none", "libhdf5-ros3", "random:%d" % nrand,
                         self.ros3(u("h5_none"), "random:%d" % nrand), cache="server", proxylog=plog)

    def s3_url(self, name):
        return "s3://%s/%s/%s" % (self.bucket, self.s3prefix, name)

    def sec_write(self):
        """Write throughput: convert the local uncompressed zarrmd (page-cache warm source) to a local
        directory (+ sync) and into the S3 emulator; zarr-python writing the same as a peer."""
        q = self.a.quick
        R = self.a.repeat
        out = os.path.join(self.data, "write-tmp")
        s3sub = None if q else 200
        for ds in ("synth", "water"):
            src = self.path(ds, "zarr_none")
            nf = self.nframes(ds)
            na = self.datasets[ds]["atoms"]
            for spec, fmt in (("zstd:level=3", "zarr_zstd"), ("none", "zarr_none")):
                dst = os.path.join(out, FMTS[fmt] % ds)
                extra = ["--precision", "3"] if spec.startswith("zstd") else []
                cmd = [PY, os.path.join(HERE, "writebench.py"), "--frames", nf, "--atoms", na, "--rm", dst, "--sync",
                       "--", self.cli, "convert", src, dst, "--compressor", spec] + extra
                self.measure("write", "local", ds, fmt, "zarrtraj", "convert", cmd, repeat=R, cache="warm",
                             warm_paths=[src])
            dst = os.path.join(out, FMTS["zarr_zstd"] % ds)
            cmd = [PY, os.path.join(HERE, "writebench.py"), "--frames", nf, "--atoms", na, "--rm", dst, "--sync",
                   "--zarr-python", src, dst]
            self.measure("write", "local", ds, "zarr_zstd", "zarr-python", "convert", cmd, repeat=1, cache="warm",
                         warm_paths=[src])
            dst = os.path.join(out, FMTS["h5_gzip"] % ds)
            wsub = nf if (q or ds == "water") else 200
            cmd = [PY, os.path.join(HERE, "writebench.py"), "--frames", wsub, "--atoms", na, "--rm", dst, "--sync",
                   "--", self.cli, "convert", src, dst, "--compressor", "gzip:level=4", "--frames",
                   "0:%d" % wsub]
            self.measure("write", "local", ds, "h5_gzip", "zarrtraj", "convert", cmd, repeat=1, cache="warm",
                         warm_paths=[src], subset=wsub if wsub < nf else None,
                         note="zarrtraj's H5MD writer (1 frame per chunk here)")
            # into the S3 emulator; these objects are read back by the s3 sections
            sub = s3sub if ds == "synth" else None
            fr = ["--frames", "0:%d" % sub] if sub else []
            for fmt, spec in (("zarr_zstd", "zstd:level=3"),):
                dst = self.s3_url(FMTS[fmt] % ds)
                cmd = [PY, os.path.join(HERE, "writebench.py"), "--frames", sub or nf, "--atoms", na, "--", self.cli,
                       "convert", src, dst, "--compressor", spec, "--precision", "3", "--overwrite"] + fr + \
                    self.s3opts
                self.measure("write", "s3", ds, fmt, "zarrtraj", "convert", cmd, repeat=1, cache="warm",
                             warm_paths=[src], subset=sub)
                if sub:  # the same subset locally, for the ratio
                    dst = os.path.join(out, "sub-" + FMTS[fmt] % ds)
                    cmd = [PY, os.path.join(HERE, "writebench.py"), "--frames", sub, "--atoms", na, "--rm", dst,
                           "--sync", "--", self.cli, "convert", src, dst, "--compressor", spec, "--precision", "3"] + fr
                    self.measure("write", "local", ds, fmt, "zarrtraj", "convert", cmd, repeat=1, cache="warm",
                                 warm_paths=[src], subset=sub)
            for fmt in ("h5_none", "h5_gzip"):
                if ds == "synth" and fmt == "h5_gzip" and not q:
                    continue  # 1 GB object not needed: the water box shows gzip H5MD over S3
                src_f = self.path(ds, fmt)
                nb = os.path.getsize(src_f)
                cmd = [PY, os.path.join(HERE, "writebench.py"), "--bytes", nb, "--", self.cli, "cp", src_f,
                       self.s3_url(FMTS[fmt] % ds), "-q"] + self.s3opts
                self.measure("write", "s3", ds, fmt, "zarrtraj-cp", "upload", cmd, repeat=1, cache="warm",
                             warm_paths=[src_f])
        shutil.rmtree(out, ignore_errors=True)

    def sec_s3(self):
        """Reads from the S3 emulator (s3rver, no added latency)."""
        q = self.a.quick
        for ds in ("synth", "water"):
            nrand, nbatch = (10, 32) if q else (30, 64)
            u = self.s3_url(FMTS["zarr_zstd"] % ds)
            self.zt_open("s3", "s3", ds, "zarr_zstd", u, s3=True)
            self.measure("s3", "s3", ds, "zarr_zstd", "zarrtraj", "seq", self.zt(u, "seq", s3=True),
                         repeat=self.a.repeat, cache="server")
            for m in ("random:%d" % nrand, "batch:%d" % nbatch, "ts:1"):
                self.measure("s3", "s3", ds, "zarr_zstd", "zarrtraj", m, self.zt(u, m, s3=True), cache="server")
            ep = self.env.get("ZT_S3_ENDPOINT", "")
            for fmt in ("h5_none", "h5_gzip"):
                if ds == "synth" and fmt == "h5_gzip" and not q:
                    continue
                u = self.s3_url(FMTS[fmt] % ds)
                self.zt_open("s3", "s3", ds, fmt, u, s3=True)
                self.measure("s3", "s3", ds, fmt, "zarrtraj", "seq", self.zt(u, "seq", s3=True), cache="server")
                ru = "%s/%s/%s/%s" % (ep, self.bucket, self.s3prefix, FMTS[fmt] % ds)
                sub = None if fmt == "h5_none" else min(self.nframes(ds), 5 if q else 40)
                self.measure("s3", "s3", ds, fmt, "libhdf5-ros3", "seq", self.ros3(ru, "seq", sub, auth=True),
                             cache="server", subset=sub)

    def sec_s3lat(self):
        """Issue 4: a remote .h5md read frame by frame through the latency proxy in front of the S3
        emulator: zarrtraj against HDF5's ROS3 driver (SigV4-signed, path-style URLs)."""
        if not self.a.s3_proxy:
            return
        lat = self.a.s3_latency
        config = "s3-%sms" % lat
        plog = self.a.s3_proxy_log
        ep = "http://127.0.0.1:%s" % self.a.s3_proxy
        opts = ["-S", "endpoint_url=" + ep] + self.s3opts[2:]
        for ds, fmt in (("water", "h5_none"), ("water", "h5_gzip"), ("synth", "h5_none")):
            name = FMTS[fmt] % ds
            u = self.s3_url(name)
            ru = "%s/%s/%s/%s" % (ep, self.bucket, self.s3prefix, name)
            self.zt_open("s3lat", config, ds, fmt, u, s3=True, s3opts=opts, proxylog=plog)
            self.measure("s3lat", config, ds, fmt, "zarrtraj", "seq", self.zt(u, "seq", s3=True, s3opts=opts),
                         repeat=self.a.repeat, cache="server", proxylog=plog)
            self.measure("s3lat", config, ds, fmt, "libhdf5-ros3", "seq", self.ros3(ru, "seq", auth=True),
                         cache="server", proxylog=plog, timeout=1200,
                         note="default 1 MiB chunk cache")
            if fmt == "h5_gzip":
                self.measure("s3lat", config, ds, fmt, "libhdf5-ros3", "seq",
                             self.ros3(ru, "seq", auth=True, extra=["--chunk-cache", "64"]), cache="server",
                             proxylog=plog, note="64 MiB chunk cache (tuned)")
        # reopen with zarrtraj's on-disk H5MD index cache (second open of the same object)
        ds = "water"
        name = FMTS["h5_gzip"] % ds
        xdg = os.path.join(self.tmp, "xdg-keep")
        shutil.rmtree(xdg, ignore_errors=True)
        cmd = self.zt(self.s3_url(name), "random:1", s3=True, s3opts=opts)
        self.run_once(cmd, 300, {"XDG_CACHE_HOME": xdg})
        self.measure("s3lat", config, ds, "h5_gzip", "zarrtraj", "random:1", cmd, cache="server", proxylog=plog,
                     env_extra={"XDG_CACHE_HOME": xdg}, note="reopen: H5MD index cache warm")

    # ---- issue 10: MDAnalysis iterating the water box, our reader vs upstream Zarrtraj ------------------
    def mda_cmd(self, reader, path, mode):
        return [PY if reader != "upstream" else self.a.upstream_python, os.path.join(HERE, "mdabench.py"),
                "zarrtraj" if reader in ("ours", "upstream") else reader, self.datasets["water"]["topology"], path,
                mode]

    def sec_mda(self):
        """The water box through MDAnalysis (`for ts in u.trajectory`), our ZARRH5MDReader (build tree) vs
        upstream Zarrtraj (its venv) on the same zarrmd stores written by upstream's writer; MDAnalysis'
        H5MDReader (water_mda.h5md) and XTCReader (water.xtc) as references. Local runs cold, HTTP runs
        through the 25 ms proxy."""
        up = self.datasets["water"].get("upstream")
        if not up or not self.a.upstream_python:
            log("mda: no upstream Zarrtraj venv (--upstream-python) or no upstream-written data: skipped")
            return
        R = self.a.repeat
        ours_env = {"PYTHONPATH": os.path.join(self.build, "python")}
        other_env = {"PYTHONPATH": None}  # upstream and MDAnalysis' readers never see our build tree
        env = {"ours": ours_env, "upstream": other_env, "h5md": other_env, "xtc": other_env}
        tool = {"ours": "zarrtraj", "upstream": "upstream-Zarrtraj", "h5md": "MDAnalysis-H5MDReader",
                "xtc": "MDAnalysis-XTCReader"}
        f = {k: os.path.join(self.data, v["name"]) for k, v in up["files"].items()}
        h5 = os.path.join(self.data, "water_mda.h5md")
        xtc = self.path("water", "xtc")

        def run(config, fmt, reader, path, mode, repeat, cache, plog=None, warm=None, note=None):
            self.measure("mda", config, "water", fmt, tool[reader], mode, self.mda_cmd(reader, path, mode),
                         repeat=repeat, cache=cache, proxylog=plog, warm_paths=warm, env_extra=env[reader],
                         timeout=1200, note=note)

        # local, page cache dropped before every run
        for key in ("p3", "lossless"):
            for reader in ("upstream", "ours"):
                run("local", "up_" + key, reader, f[key], "positions", R, "cold", warm=[f[key]])
                if key == "p3":
                    run("local", "up_" + key, reader, f[key], "iter", 1, "cold", warm=[f[key]])
        for reader, fmt, path in (("ours", "h5_mda", h5), ("h5md", "h5_mda", h5), ("xtc", "xtc", xtc)):
            run("local", fmt, reader, path, "positions", R, "cold", warm=[path])
            run("local", fmt, reader, path, "iter", 1, "cold", warm=[path])
        # HTTP through the 25 ms proxy: nginx serves page-cache-warm files
        lat = "25"
        if lat not in self.http_ports:
            log("mda: no 25 ms HTTP proxy: HTTP runs skipped")
            return
        config = "http-%sms" % lat
        plog = self.http_logs.get(lat)
        url = lambda p: "http://127.0.0.1:%s/bench-data/%s" % (self.http_ports[lat], os.path.basename(p))  # noqa: E731
        self.warm(list(f.values()) + [h5])
        for key in ("p3", "lossless", "p3_nozmeta"):
            for reader in ("upstream", "ours"):
                run(config, "up_" + key, reader, url(f[key]), "positions", 1 if key == "p3_nozmeta" else R,
                    "server", plog=plog, note="no .zmetadata" if key == "p3_nozmeta" else None)
                if key == "p3":
                    run(config, "up_" + key, reader, url(f[key]), "iter", 1, "server", plog=plog)
        run(config, "h5_mda", "ours", url(h5), "positions", R, "server", plog=plog)

    # ---- issue 10: install time and size of a fresh venv with the package ----------------------------------
    def sec_install(self):
        """scripts/check-wheel.sh: sdist and wheel (python -m build, isolated), a new venv with the wheel and
        [dask] from PyPI (install time and size in install.json), the smoke test against expected.json."""
        out = os.path.join(self.build, "bench-wheel")
        cmd = ["sh", os.path.join(ROOT, "scripts", "check-wheel.sh"), PY, out]
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        pip_cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pip")
        cache_kib = 0
        if os.path.isdir(pip_cache):
            try:
                cache_kib = int(subprocess.run(["du", "-sk", pip_cache], capture_output=True, text=True).stdout.split()[0])
            except (ValueError, IndexError):
                pass
        rec = {"section": "install", "config": "local", "dataset": "-", "format": "wheel", "tool": "pip",
               "mode": "install", "cmd": " ".join(cmd), "repeat": 1, "cache": "pip cache %d MiB" % (cache_kib // 1024)}
        log("install: %s" % rec["cmd"])
        t0 = time.perf_counter()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=2400, env=env, cwd=ROOT)
            rc, err = p.returncode, p.stderr
        except subprocess.TimeoutExpired:
            rc, err = -1, "timeout after 2400 s"
        wall = time.perf_counter() - t0
        if rc == 0:
            with open(os.path.join(out, "install.json")) as fh:
                res = json.load(fh)
            pkg = os.path.join(out, "pkg")
            for n in os.listdir(pkg):
                res["wheel_bytes" if n.endswith(".whl") else "sdist_bytes"] = os.path.getsize(os.path.join(pkg, n))
                res["wheel" if n.endswith(".whl") else "sdist"] = n
            res.update(check_wheel_s=round(wall, 1), pip_cache_mib=cache_kib // 1024,
                       pip_find_links=os.environ.get("PIP_FIND_LINKS"),
                       smoke="passed" if "smoke test passed" in err else "?",
                       log=[line for line in err.splitlines() if line.startswith("check-wheel:")])
            rec["result"] = res
            log("install: %s s, venv %d MiB, %s packages; check-wheel.sh %.0f s" % (
                res["install_seconds"], res["venv_kib"] // 1024, res["packages"], wall))
        else:
            rec["error"] = "exit %d: %s" % (rc, " | ".join(err.strip().splitlines()[-3:]))
            log("install: ERROR " + rec["error"])
        self.results.append(rec)
        self.save()

    def sec_disk(self):
        if not self.want("disk"):
            return
        for ds, d in self.datasets.items():
            for fmt, f in d["files"].items():
                self.results.append({"section": "disk", "config": "local", "dataset": ds, "format": fmt,
                                     "tool": "-", "mode": "size", "result": {"bytes": f["bytes"]}})
        self.save()

    def run(self):
        self.load0 = os.getloadavg()
        log("page cache: %s" % ("dropped before each local run" if self.can_drop else "cannot drop: warm reads"))
        for name in self.a.sections.split(","):
            if not self.want(name):
                continue
            t0 = time.time()
            log("== section %s" % name)
            getattr(self, "sec_" + name)()
            log("== section %s done in %.0f s" % (name, time.time() - t0))
        self.save()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--emu-env")
    ap.add_argument("--http-ports", default="")
    ap.add_argument("--http-logs", default="")
    ap.add_argument("--http-pids", default="")
    ap.add_argument("--s3-proxy-pid", default="")
    ap.add_argument("--s3-proxy", default="")
    ap.add_argument("--s3-proxy-log", default="")
    ap.add_argument("--s3-latency", default="20")
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--http-rate", default="", help="LATENCY:MBPS:PORT:PID:LOG of the rate-limited proxy")
    ap.add_argument("--upstream-python", default="", help="python of the upstream Zarrtraj venv (mda section)")
    ap.add_argument("--sections", default="disk,local,write,s3,s3lat,http,httprate,mda,install")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--command", default="")
    ap.add_argument("--proxy", default="bench/latproxy")
    a = ap.parse_args()
    Suite(a).run()


if __name__ == "__main__":
    main()
