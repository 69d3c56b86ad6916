#!/usr/bin/env python3
"""Turn bench/suite.py's results.json into RESULTS.md (Markdown tables, the
targets as measured ratios) and results.png.

    report.py results.json --md RESULTS.md --png results.png
"""
import argparse
import json
import re

FMT_LABEL = {"zarr_none": "zarrmd none", "zarr_zstd": "zarrmd zstd3+p3", "h5_none": "H5MD none",
             "h5_gzip": "H5MD gzip4", "xtc": "XTC", "none.zarrmd": "zarrmd none",
             "zstd.zarrmd": "zarrmd zstd3+p3", "none.h5md": "H5MD none", "gzip.h5md": "H5MD gzip4",
             "up_p3": "zarrmd (upstream writer, blosc-zstd3 + precision 3)",
             "up_lossless": "zarrmd (upstream writer, blosc-zstd3, lossless)",
             "up_p3_nozmeta": "zarrmd (upstream writer, blosc-zstd3 + precision 3), no .zmetadata",
             "h5_mda": "H5MD (MDAnalysis H5MDWriter, none, 1 frame/chunk)"}
CACHE_MIB, READAHEAD_MIB = 100, 256  # the reader's defaults (include/zarrtraj.h)
LOCAL_READAHEAD_MIB = 64  # local files use at most this much of the window


def bound_mib(config):
    """Cache budget plus the read-ahead window the reader uses for this config."""
    return CACHE_MIB + (LOCAL_READAHEAD_MIB if config in ("local", "disk") else READAHEAD_MIB)


def fnum(x, nd=1):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if abs(x) >= 1000:
        return "{:,.0f}".format(x)
    if abs(x) >= 100:
        return "%.0f" % x
    if abs(x) >= 10:
        return "%.1f" % x
    return ("%." + str(max(nd, 2)) + "f") % x if abs(x) < 1 else "%.2f" % x


class R:
    def __init__(self, data):
        self.d = data
        self.res = data["results"]
        self.meta = data["meta"]
        self.ds = data["datasets"]

    def find(self, **kw):
        out = []
        for r in self.res:
            ok = True
            for k, v in kw.items():
                if k == "subset":
                    if (r.get("subset") or None) != v:
                        ok = False
                elif r.get(k) != v:
                    ok = False
            if ok:
                out.append(r)
        return out

    def one(self, **kw):
        m = [r for r in self.find(**kw) if "result" in r]
        return m[0] if m else None

    def val(self, key, **kw):
        r = self.one(**kw)
        return r["result"].get(key) if r else None


def sub_label(r, ds):
    s = r.get("subset")
    return "%d" % s if s else "all %d" % ds[r["dataset"]]["frames"]


def row_table(rr, rows, title_cols=("dataset", "format", "tool", "mode")):
    head = ("| dataset | format | tool | mode | frames | frames/s | MB/s | open s | first frame s | requests | "
            "CPU s (tool / proxy) | peak RSS MB | note |")
    out = [head, "|" + "---|" * 13]
    for r in rows:
        if r.get("mode") == "open":
            continue
        res = r.get("result", {})
        req = res.get("proxy_requests", res.get("requests"))
        note = r.get("note", "")
        if "error" in r:
            note = "ERROR: " + r["error"][:120]
        if r.get("subset"):
            note = ("first %d frames; " % r["subset"] + note).strip("; ") if r["mode"] in (
                "seq", "stride:10", "ts:1", "transfer", "bulk") else note
        if r["tool"] == "curl" and res.get("wire_MB_per_s"):
            note = (note + "; wire %s MB/s with %s parallel" % (fnum(res["wire_MB_per_s"]), res.get("parallel"))).strip("; ")
        if r.get("repeat", 1) > 1 and r.get("all_seconds"):
            note = (note + "; median of %d (%s s)" % (len(r["all_seconds"]), ", ".join(
                fnum(s) for s in r["all_seconds"]))).strip("; ")
        rss = r.get("max_rss_kb")
        cpu = fnum(res.get("cpu_s"))
        if res.get("proxy_cpu_s") is not None:
            cpu += " / " + fnum(res.get("proxy_cpu_s"))
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["dataset"], FMT_LABEL.get(r["format"], r["format"]), r["tool"], r["mode"],
            res.get("frames", "-"), fnum(res.get("frames_per_s")), fnum(res.get("MB_per_s")),
            fnum(res.get("open_s"), 3), fnum(res.get("first_frame_s"), 3), req if req is not None else "-",
            cpu, fnum(rss / 1024 if rss else None), note.replace("|", "/")))
    return "\n".join(out)


def cores(rr):
    m = re.search(r"(\d+) cores", rr.meta.get("machine", ""))
    return m.group(1) if m else "?"


def rss_rows(rr):
    """zarrtraj read runs with peak RSS, the open-only baseline and the caller's buffers (MiB)."""
    out = []
    for r in rr.res:
        if r.get("tool") != "zarrtraj" or r.get("section") not in ("local", "http", "httprate", "s3", "s3lat") or \
                not r.get("max_rss_kb") or r["mode"] == "open":
            continue
        base = rr.one(section=r["section"], config=r["config"], dataset=r["dataset"], format=r["format"],
                      tool="zarrtraj", mode="open")
        if not base or not base.get("max_rss_kb"):
            continue
        res = r["result"]
        na = res.get("n_atoms") or 0
        m = r["mode"]
        if m.startswith("batch"):
            buf = na * 12 * 32
        elif m.startswith("ts"):
            buf = max(1, int(na * 0.01)) * 12 * (res.get("frames") or 0)
        else:
            buf = na * 12
        peak, b0 = r["max_rss_kb"] / 1024, base["max_rss_kb"] / 1024
        out.append(dict(r, peak_mib=peak, base_mib=b0, buf_mib=buf / 1048576, net_mib=peak - b0 - buf / 1048576))
    return out


def targets(rr):
    """Rows: (target, measured, ratio text, met)."""
    T = []
    for ds in ("synth", "water"):
        ours = rr.one(section="local", dataset=ds, format="zarr_zstd", tool="zarrtraj", mode="seq", subset=None)
        bulk = rr.one(section="local", dataset=ds, format="zarr_zstd", tool="zarr-python", mode="bulk")
        if ours and bulk:
            ratio = ours["result"]["seconds"] / bulk["result"]["seconds"]
            T.append(("%s: iterate every frame of the zstd+precision-3 zarrmd (local) <= 1.25x zarr-python "
                      "`arr[:]` bulk decode" % ds,
                      "%.2f s vs %.2f s" % (ours["result"]["seconds"], bulk["result"]["seconds"]),
                      "%.2fx" % ratio, ratio <= 1.25))
    for ds in ("synth", "water"):
        loc = rr.one(section="local", dataset=ds, format="zarr_zstd", tool="zarrtraj", mode="seq", subset=None)
        h25 = rr.one(section="http", config="http-25ms", dataset=ds, format="zarr_zstd", tool="zarrtraj",
                     mode="seq", subset=None)
        if loc and h25:
            ratio = h25["result"]["frames_per_s"] / loc["result"]["frames_per_s"]
            T.append(("%s: zstd zarrmd over HTTP at 25 ms one-way latency >= 80%% of local throughput" % ds,
                      "%s vs %s frames/s" % (fnum(h25["result"]["frames_per_s"]), fnum(loc["result"]["frames_per_s"])),
                      "%.0f%%" % (100 * ratio), ratio >= 0.8))
            h0 = rr.one(section="http", config="http-0ms", dataset=ds, format="zarr_zstd", tool="zarrtraj",
                        mode="seq", subset=None)
            if h0:
                x = h25["result"]
                cpu = ""
                if x.get("cpu_s") is not None and x.get("proxy_cpu_s") is not None:
                    cpu = "; at 25 ms zarrtraj used %.1f CPU s and the proxy %.1f CPU s in %.1f s on %s cores" % (
                        x["cpu_s"], x["proxy_cpu_s"], x["seconds"], cores(rr))
                T.append(("%s: (context) zstd zarrmd over HTTP at 25 ms vs at 0 ms through the same proxy "
                          "(how much latency costs)" % ds,
                          "%s vs %s frames/s%s" % (fnum(x["frames_per_s"]), fnum(h0["result"]["frames_per_s"]), cpu),
                          "%.0f%%" % (100 * x["frames_per_s"] / h0["result"]["frames_per_s"]), None))
            c25 = rr.one(section="http", config="http-25ms", dataset=ds, format="zarr_zstd", tool="curl")
            if c25:
                r2 = h25["result"]["frames_per_s"] / c25["result"]["frames_per_s"]
                T.append(("%s: (context) zstd zarrmd over HTTP 25 ms vs curl moving the same chunk objects" % ds,
                          "%s vs %s frames/s" % (fnum(h25["result"]["frames_per_s"]),
                                                 fnum(c25["result"]["frames_per_s"])),
                          "%.0f%% of the transfer ceiling" % (100 * r2), None))
    for cfg in ("http-25ms", "http-10ms", "http-0ms"):
        for ds in ("synth", "water"):
            for mode_prefix in ("random", "batch"):
                ours = [r for r in rr.find(section="http", config=cfg, dataset=ds, format="zarr_zstd", tool="zarrtraj")
                        if r["mode"].startswith(mode_prefix) and "result" in r]
                peer = [r for r in rr.find(section="http", config=cfg, dataset=ds, format="zarr_zstd",
                                           tool="zarr-python+fsspec") if r["mode"].startswith(mode_prefix)
                        and "result" in r]
                if ours and peer:
                    ratio = ours[0]["result"]["frames_per_s"] / peer[0]["result"]["frames_per_s"]
                    T.append(("%s %s: remote %s access (%s) >= 10x zarr-python + fsspec" % (
                        ds, cfg, "random" if mode_prefix == "random" else "batched random", ours[0]["mode"]),
                        "%s vs %s frames/s" % (fnum(ours[0]["result"]["frames_per_s"]),
                                               fnum(peer[0]["result"]["frames_per_s"])),
                        "%.1fx" % ratio, ratio >= 10))
            ob = [r for r in rr.find(section="http", config=cfg, dataset=ds, format="zarr_zstd", tool="zarrtraj")
                  if r["mode"].startswith("batch") and "result" in r]
            pr = [r for r in rr.find(section="http", config=cfg, dataset=ds, format="zarr_zstd",
                                     tool="zarr-python+fsspec") if r["mode"].startswith("random") and "result" in r]
            if ob and pr:
                ratio = ob[0]["result"]["frames_per_s"] / pr[0]["result"]["frames_per_s"]
                T.append(("%s %s: (context) zarrtraj batched random frames vs zarr-python + fsspec reading random "
                          "frames one by one" % (ds, cfg), "%s vs %s frames/s" % (
                              fnum(ob[0]["result"]["frames_per_s"]), fnum(pr[0]["result"]["frames_per_s"])),
                          "%.1fx" % ratio, None))
    for ds in ("synth", "water"):
        ours = rr.one(section="local", dataset=ds, format="h5_gzip", tool="zarrtraj", mode="seq")
        bulk = rr.one(section="local", dataset=ds, format="h5_gzip", tool="h5py", mode="bulk")
        h5seq = rr.one(section="local", dataset=ds, format="h5_gzip", tool="h5py", mode="seq")
        if ours and bulk:
            ratio = ours["result"]["seconds"] / bulk["result"]["seconds"]
            extra = ""
            if h5seq:
                per = 1 / h5seq["result"]["frames_per_s"]
                bulk_per = bulk["result"]["seconds"] / bulk["result"]["frames"]
                extra = "; h5py frame by frame: %.1f ms/frame = %.1fx its bulk cost" % (1000 * per, per / bulk_per)
            T.append(("%s: gzip H5MD (multi-frame chunks) iterated frame by frame near its bulk decode "
                      "(h5py `ds[:]`)" % ds,
                      "%.2f s vs %.2f s%s" % (ours["result"]["seconds"], bulk["result"]["seconds"], extra),
                      "%.2fx" % ratio, ratio <= 1.25))
    # RSS: peak RSS minus the open-only baseline of the same file/config and the caller's output buffer
    worst = {}
    for r in rss_rows(rr):
        key = r["mode"].split(":")[0]
        if key not in worst or r["net_mib"] / bound_mib(r["config"]) > worst[key]["net_mib"] / bound_mib(
                worst[key]["config"]):
            worst[key] = r
    for key in ("seq", "stride", "random", "batch", "ts"):
        r = worst.get(key)
        if not r:
            continue
        budget = bound_mib(r["config"])
        T.append(("peak RSS of zarrtraj (%s; worst: %s %s %s) minus the open-only baseline and the caller's "
                  "buffers < cache %d MiB + read-ahead %d MiB" % (key, r["config"], r["dataset"],
                                                                 FMT_LABEL.get(r["format"], r["format"]),
                                                                 CACHE_MIB, budget - CACHE_MIB),
                  "%.0f MiB (peak %.0f, baseline %.0f, buffers %.0f)" % (r["net_mib"], r["peak_mib"],
                                                                         r["base_mib"], r["buf_mib"]),
                  "%.2fx of %d MiB" % (r["net_mib"] / budget, budget), r["net_mib"] < budget))
    return T


def mda_rows(rr):
    """The mda section as table rows, each with the ratio against upstream Zarrtraj on the same store in the
    same config (reference readers: against upstream on the precision-3 store, locally)."""
    out = []
    rows = [r for r in rr.find(section="mda") if "result" in r or "error" in r]
    for r in rows:
        res = r.get("result", {})
        if r["format"].startswith("up_"):
            ref = rr.one(section="mda", config=r["config"], format=r["format"], tool="upstream-Zarrtraj",
                         mode=r["mode"])
            if not ref and r["mode"] == "iter":
                ref = rr.one(section="mda", config=r["config"], format=r["format"], tool="upstream-Zarrtraj",
                             mode="positions")
            vs = "same store"
        else:
            ref = rr.one(section="mda", config=r["config"], format="up_p3", tool="upstream-Zarrtraj",
                         mode=r["mode"])
            vs = "upstream on the precision-3 zarrmd, %s" % r["config"]
        ratio = ratio_total = None
        if ref and res.get("seconds") and r["tool"] != "upstream-Zarrtraj":
            ratio = ref["result"]["seconds"] / res["seconds"]
            if ref["result"].get("total_s") and res.get("total_s"):
                ratio_total = ref["result"]["total_s"] / res["total_s"]
        out.append(dict(r, ratio=ratio, ratio_total=ratio_total, vs=vs,
                        same_check=(ref is not None and r["mode"] == "positions" and "result" in ref and
                                    ref["result"].get("check") == res.get("check"))))
    return out


def mda_table(rr):
    L = ["| config | store / file | reader | loop | frames | open s | iterate s | frames/s | open + iterate s | "
         "x upstream (iterate) | x upstream (open + iterate) | requests | CPU s (tool / proxy) | peak RSS MB | "
         "note |", "|" + "---|" * 15]
    for r in mda_rows(rr):
        res = r.get("result", {})
        note = r.get("note", "")
        if "error" in r:
            note = "ERROR: " + r["error"][:160]
        if r["tool"] != "upstream-Zarrtraj" and r["ratio"] is not None and not r["format"].startswith("up_"):
            note = (note + "; ratio vs " + r["vs"]).strip("; ")
        if r["mode"] == "positions" and r["tool"] != "upstream-Zarrtraj" and r["format"].startswith("up_") and \
                "result" in r:
            note = (note + "; checksum %s upstream's" % ("=" if r["same_check"] else "**differs from**")).strip("; ")
        if r.get("repeat", 1) > 1 and r.get("all_seconds"):
            note = (note + "; median of %d (%s s)" % (len(r["all_seconds"]), ", ".join(
                fnum(x) for x in r["all_seconds"]))).strip("; ")
        cpu = fnum(res.get("cpu_s"))
        if res.get("proxy_cpu_s") is not None:
            cpu += " / " + fnum(res.get("proxy_cpu_s"))
        req = res.get("proxy_requests")
        rss = r.get("max_rss_kb")
        loop = "`pass`" if r["mode"] == "iter" else "sum(ts.positions)"
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["config"], FMT_LABEL.get(r["format"], r["format"]), r["tool"], loop, res.get("frames", "-"),
            fnum(res.get("open_s"), 3), fnum(res.get("seconds")), fnum(res.get("frames_per_s")),
            fnum(res.get("total_s")), "%.1fx" % r["ratio"] if r["ratio"] else "-",
            "%.1fx" % r["ratio_total"] if r["ratio_total"] else "-", req if req is not None else "-", cpu,
            fnum(rss / 1024 if rss else None), note.replace("|", "/")))
    return "\n".join(L)


def mda_headline(rr):
    """(text) rows for the targets table: ours vs upstream on the precision-3 store, local and 25 ms."""
    T = []
    for cfg in ("local", "http-25ms"):
        for key in ("up_p3", "up_lossless"):
            o = rr.one(section="mda", config=cfg, format=key, tool="zarrtraj", mode="positions")
            u = rr.one(section="mda", config=cfg, format=key, tool="upstream-Zarrtraj", mode="positions")
            if o and u:
                T.append(("water, MDAnalysis iterating every frame, %s, %s: our ZARRH5MDReader vs upstream Zarrtraj "
                          "%s" % (cfg, FMT_LABEL[key], rr.meta.get("python", {}).get("upstream", {}).get(
                              "zarrtraj", "")),
                          "%s vs %s frames/s (open + iterate %s s vs %s s)" % (
                              fnum(o["result"]["frames_per_s"]), fnum(u["result"]["frames_per_s"]),
                              fnum(o["result"]["total_s"]), fnum(u["result"]["total_s"])),
                          "%.1fx" % (u["result"]["seconds"] / o["result"]["seconds"]), None))
    return T


def install_table(rr):
    rows = rr.find(section="install")
    if not rows:
        return None
    r = rows[-1]
    if "error" in r:
        return "`%s` failed: %s\n" % (r["cmd"], r["error"])
    x = r["result"]
    L = ["| what | value |", "|---|---|",
         "| `pip install WHEEL[dask]` into a new venv (Python %s), dependencies from PyPI | %s s |" % (
             x.get("python"), x.get("install_seconds")),
         "| size of that venv (`du -sk`) | %.0f MiB |" % (x.get("venv_kib", 0) / 1024),
         "| packages in it (`pip freeze`) | %s |" % x.get("packages"),
         "| wheel | %s, %.1f MB |" % (x.get("wheel"), (x.get("wheel_bytes") or 0) / 1e6),
         "| sdist | %s, %.1f MB |" % (x.get("sdist"), (x.get("sdist_bytes") or 0) / 1e6),
         "| all of `scripts/check-wheel.sh` (sdist, wheel built from it in an isolated build, venv, install, "
         "smoke test) | %s s, smoke test %s |" % (x.get("check_wheel_s"), x.get("smoke")),
         "| pip's download cache before the run | %s MiB%s |" % (
             x.get("pip_cache_mib"), "; PIP_FIND_LINKS=%s" % x["pip_find_links"] if x.get("pip_find_links") else "")]
    return "\n".join(L) + "\n"


def md(rr):
    m = rr.meta
    L = []
    L.append("# zarrtraj benchmark results\n")
    L.append("- **Command**: `%s` (data generation, servers and proxies included)" % m.get("command"))
    L.append("- **Date**: %s; wall time of the measurements %s s" % (m.get("date"), m.get("elapsed_s")))
    L.append("- **Machine**: %s" % m.get("machine"))
    L.append("- **Code**: git %s (at the start of the run)" % m.get("git"))
    L.append("- **Latency proxy**: `%s`" % m.get("proxy", "tests/store/faultproxy.py"))
    st = m.get("python") or {}
    if st.get("suite"):
        v = st["suite"]
        L.append("- **Python** (`%s`, the newest venv: `sh scripts/pyenv.sh newest`): Python %s, %s" % (
            st.get("executable"), v.get("python"), ", ".join("%s %s" % (k, v[k]) for k in (
                "numpy", "zarr", "numcodecs", "h5py", "MDAnalysis", "fsspec", "aiohttp") if k in v)))
    if st.get("upstream"):
        v = st["upstream"]
        L.append("- **Upstream Zarrtraj** (its own venv: `sh scripts/pyenv.sh upstream`): Python %s, %s" % (
            v.get("python"), ", ".join("%s %s" % (k, v[k]) for k in (
                "zarrtraj", "zarr", "numcodecs", "numpy", "MDAnalysis", "fsspec", "kerchunk") if k in v)))
    L.append("- **Load average** at start / end: %s / %s (the machine is shared: other builds ran at the same "
             "time; medians of %s runs for key numbers)" % (
                 ", ".join("%.1f" % x for x in (m.get("load_avg_start") or [])),
                 ", ".join("%.1f" % x for x in (m.get("load_avg_end") or [])), m.get("repeat")))
    L.append("- **Page cache**: local runs: %s. Remote runs: the servers read page-cache-warm files." %
             m.get("page_cache"))
    if m.get("quick"):
        L.append("- **QUICK RUN** (`--quick`, ~10x smaller data): for development only.")
    L.append("")
    L.append("## Data\n")
    L.append("| dataset | atoms | frames | zarr chunk | source |")
    L.append("|---|---|---|---|---|")
    for k, d in rr.ds.items():
        L.append("| %s | %s | %d | %d frames | %s |" % (k, "{:,}".format(d["atoms"]), d["frames"], d["chunk_rows"],
                                                      d["source"]))
    L.append("")
    L.append("Formats: `zarrmd none` (zarrtraj, uncompressed), `zarrmd zstd3+p3` (`zarrtraj convert --compressor "
             "zstd:level=3 --precision 3`), `H5MD none` (`zarrtraj convert --compressor none`: one frame per "
             "chunk), `H5MD gzip4` (h5repack of `H5MD none` to gzip level 4 with the zarrmd chunk rows per chunk, "
             "since zarrtraj's H5MD writer caps chunks at 1 MiB = one frame of these systems), `XTC` "
             "(MDAnalysis XTCWriter). MB/s always counts decoded float32 coordinates delivered "
             "(frames x atoms x 12 bytes; for `ts:1` only the selected 1% of atoms), so formats compare on the "
             "same scale; `first frame s` is open + first frame. `requests` are counted at the latency proxy for "
             "remote runs (every tool alike) and by zarrtraj's own counters locally.")
    L.append("`CPU s` is the user + system time of the measured process (`/usr/bin/time`) and, for remote runs, of "
             "the latency proxy during the run (on the same %s-core machine).\n"
             % cores(rr))

    T = targets(rr) + mda_headline(rr)
    L.append("## Targets (ratios measured in this run)\n")
    L.append("| target | measured | ratio | met |")
    L.append("|---|---|---|---|")
    for t, meas, ratio, ok in T:
        L.append("| %s | %s | %s | %s |" % (t, meas, ratio, "-" if ok is None else ("yes" if ok else "**NO**")))
    L.append("")

    # Issue 2
    zv = (m.get("python") or {}).get("suite", {}).get("zarr")
    L.append("## Issue 2: synth, local, zarrtraj vs zarr-python%s reading the same arrays\n" % (
        " " + zv + " (Zarr v2 format)" if zv else ""))
    rows = []
    for fmt in ("zarr_none", "zarr_zstd"):
        for tool, mode in (("zarrtraj", "seq"), ("zarr-python", "seq"), ("zarr-python", "bulk")):
            r = rr.one(section="local", dataset="synth", format=fmt, tool=tool, mode=mode, subset=None)
            if r:
                rows.append(r)
    L.append(row_table(rr, rows))
    L.append("\nzarr-python `seq` reads chunk by chunk (`arr[a:b]` per chunk, each frame copied out of the decoded "
             "block into a buffer, as zarrtraj delivers frames); `bulk` is one `arr[:]`.\n")

    # Issue 4
    rows = rr.find(section="s3lat")
    if rows:
        L.append("## Issue 4: remote H5MD, S3 emulator behind the latency proxy (+%s ms each way)\n" %
                 m.get("s3_latency_ms"))
        L.append(row_table(rr, rows))
        L.append("\nROS3 runs SigV4-signed (`aws_region`/`secret_id`/`secret_key`) against s3rver with path-style "
                 "URLs `http://127.0.0.1:PORT/bucket/key`; requests counted at the proxy (including HEADs and "
                 "metadata reads).\n")

    for sec, title in (("local", "Local disk"), ("http", "HTTP: nginx behind the latency proxy"),
                       ("s3", "S3 emulator (s3rver, no added latency)")):
        rows = rr.find(section=sec)
        if not rows:
            continue
        if sec == "http":
            for cfg in sorted({r["config"] for r in rows}, key=lambda c: int(c.split("-")[1][:-2])):
                L.append("## %s, %s one-way latency\n" % (title, cfg.split("-")[1]))
                L.append(row_table(rr, [r for r in rows if r["config"] == cfg]))
                L.append("")
        else:
            L.append("## %s\n" % title)
            L.append(row_table(rr, rows))
            L.append("")

    rows = rr.find(section="httprate")
    if rows:
        c = rows[0]["config"].split("-")
        L.append("## HTTP at %s one-way latency, each connection limited to %s\n" % (c[1], c[2]))
        L.append(row_table(rr, rows))
        L.append("\nOne stream of an object store carries tens of MB/s while many streams together carry much more; "
                 "the proxy models that. A large HDF5 chunk wanted while nothing else is in flight (a random frame) "
                 "is fetched by zarrtraj as parallel ranges of about 4 MiB; a zarr chunk is one object of unknown "
                 "size and is fetched whole.\n")

    if rr.find(section="mda"):
        up = rr.ds.get("water", {}).get("upstream", {})
        L.append("## Issue 10: the water box through MDAnalysis, our reader vs upstream Zarrtraj\n")
        L.append("`u = mda.Universe(GRO)` (not timed), then `u.load_new(PATH, format=READER)` (open s) and "
                 "`for ts in u.trajectory: pass` or the same loop summing `ts.positions` in float64 (iterate s; "
                 "the sum is the checksum, and equal sums mean equal values). Each run is a new process; local "
                 "runs drop the page cache first, HTTP runs go through the 25 ms one-way latency proxy to nginx. "
                 "Our `zarrtraj.ZARRH5MDReader` comes from the build tree (`PYTHONPATH=BUILD/python`, extension "
                 "built for the newest venv), upstream Zarrtraj runs in its own venv (fsspec `HTTPFileSystem` + "
                 "zarr-python 2 `LRUStoreCache` for http://, no cache locally). `x upstream` = upstream's "
                 "seconds / this row's seconds on the same store in the same configuration.\n")
        if up:
            L.append("Stores written once by %s; %s." % (up.get("writer"), ", ".join(
                "`%s` %.1f MB" % (v["name"], v["bytes"] / 1e6) for v in up.get("files", {}).values())) +
                     " Chunks of %s frames (upstream's writer: about 12 MiB per chunk). `H5MD (MDAnalysis "
                     "H5MDWriter)` is `water_mda.h5md` (the source of the other water files), XTC is "
                     "`water.xtc`.\n" % up.get("chunk_rows"))
        L.append(mda_table(rr))
        L.append("")

    it = install_table(rr)
    if it:
        L.append("## Issue 10: install time and size of a fresh venv with the package\n")
        L.append(it)
        L.append("Measured by `scripts/check-wheel.sh` (run by the `install` section after every other "
                 "measurement), from its `install.json`: the time is `python -m venv` plus `pip install` of the "
                 "wheel with the `[dask]` extra; the wheel itself is built first from the sdist and is not part of "
                 "it.\n")

    rows = rr.find(section="write")
    if rows:
        L.append("## Writes\n")
        L.append("| dataset | format | destination | tool | frames | MB/s (input coordinates) | seconds | output MB | "
                 "peak RSS MB | note |")
        L.append("|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            res = r.get("result", {})
            note = r.get("note", "")
            if "error" in r:
                note = "ERROR: " + r["error"][:120]
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                r["dataset"], FMT_LABEL.get(r["format"], r["format"]), r["config"], r["tool"],
                res.get("frames", "-"), fnum(res.get("MB_per_s")), fnum(res.get("seconds")),
                fnum(res["output_bytes"] / 1e6) if res.get("output_bytes") else "-",
                fnum(r["max_rss_kb"] / 1024) if r.get("max_rss_kb") else "-", note))
        L.append("\nLocal writes include `sync`; the source is the page-cache-warm uncompressed zarrmd; S3 writes "
                 "go to s3rver on the loopback.\n")

    rows = rss_rows(rr)
    if rows:
        L.append("## Peak RSS of zarrtraj (cache budget %d MiB, read-ahead window %d MiB; local files use %d MiB "
                 "of it)\n" % (CACHE_MIB, READAHEAD_MIB, LOCAL_READAHEAD_MIB))
        L.append("| config | dataset | format | mode | peak RSS MiB | open-only baseline MiB | caller's buffers MiB | "
                 "net MiB | net / (cache + read-ahead) |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for r in sorted(rows, key=lambda x: -x["net_mib"] / bound_mib(x["config"]))[:20]:
            L.append("| %s | %s | %s | %s | %.0f | %.0f | %.0f | %.0f | %.2f |" % (
                r["config"], r["dataset"], FMT_LABEL.get(r["format"], r["format"]), r["mode"], r["peak_mib"],
                r["base_mib"], r["buf_mib"], r["net_mib"], r["net_mib"] / bound_mib(r["config"])))
        L.append("\nPeak RSS from `/usr/bin/time -f %%M`; the baseline is `bench_iter URL open` (open and close, same "
                 "file and store: code, libraries, metadata, H5MD chunk index); caller's buffers are what bench_iter "
                 "allocates for results (one frame, 32 frames for batches, the timeseries output). The 20 largest of %d runs; "
                 "all are in results.json.\n" % len(rows))

    rows = rr.find(section="disk")
    if rows:
        L.append("## Bytes on disk\n")
        L.append("| dataset | format | MB | vs XTC |")
        L.append("|---|---|---|---|")
        for ds in rr.ds:
            xtc = [r for r in rows if r["dataset"] == ds and r["format"] == "xtc"]
            xb = xtc[0]["result"]["bytes"] if xtc else None
            for r in rows:
                if r["dataset"] != ds:
                    continue
                b = r["result"]["bytes"]
                L.append("| %s | %s | %.1f | %s |" % (ds, FMT_LABEL.get(r["format"], r["format"]), b / 1e6,
                                                      "%.2fx" % (b / xb) if xb else "-"))
        L.append("")
    L.append("![results](results.png)\n")
    return "\n".join(L)


def plot(rr, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401
    fig, ax = plt.subplots(3, 2, figsize=(14, 15))
    # (a) local sequential
    a = ax[0][0]
    cats = []
    for fmt, tools in (("zarr_zstd", ("zarrtraj", "zarr-python")), ("zarr_none", ("zarrtraj", "zarr-python")),
                       ("h5_gzip", ("zarrtraj", "h5py", "MDAnalysis-H5MDReader")),
                       ("h5_none", ("zarrtraj", "h5py", "MDAnalysis-H5MDReader")), ("xtc", ("MDAnalysis-XTCReader",))):
        for t in tools:
            r = rr.one(section="local", dataset="synth", format=fmt, tool=t, mode="seq")
            if r:
                cats.append(("%s\n%s" % (FMT_LABEL[fmt], t.replace("MDAnalysis-", "MDA ")), r["result"]["MB_per_s"],
                             t == "zarrtraj"))
    if cats:
        a.barh(range(len(cats)), [c[1] for c in cats], color=["C0" if c[2] else "C7" for c in cats])
        a.set_yticks(range(len(cats)))
        a.set_yticklabels([c[0] for c in cats], fontsize=7)
        a.invert_yaxis()
    a.set_xlabel("MB/s of decoded coordinates")
    a.set_title("synth, local disk: iterate every frame (seq)")
    # (b) HTTP seq vs latency
    a = ax[0][1]
    lats = sorted({int(r["config"].split("-")[1][:-2]) for r in rr.find(section="http")})
    for ds, ls in (("synth", "-"), ("water", "--")):
        for tool, col in (("zarrtraj", "C0"), ("zarr-python+fsspec", "C1"), ("curl", "C2")):
            ys = []
            for L_ in lats:
                rows = [r for r in rr.find(section="http", config="http-%dms" % L_, dataset=ds, format="zarr_zstd",
                                           tool=tool) if r["mode"] in ("seq", "transfer") and "result" in r]
                ys.append(rows[0]["result"]["MB_per_s"] if rows else float("nan"))
            a.plot(lats, ys, ls, color=col, marker="o", label="%s %s" % (ds, tool))
        loc = rr.one(section="local", dataset=ds, format="zarr_zstd", tool="zarrtraj", mode="seq")
        if loc:
            a.axhline(loc["result"]["MB_per_s"], color="C0", ls=ls, alpha=0.4, lw=1)
    a.set_xlabel("one-way latency added by the proxy (ms)")
    a.set_ylabel("MB/s (decoded coordinates)")
    a.set_title("zstd zarrmd over HTTP (thin lines: zarrtraj local)")
    if a.get_legend_handles_labels()[0]:
        a.legend(fontsize=7)
    # (c) random access
    a = ax[1][0]
    labels, vals, cols = [], [], []
    for cfg in ["local"] + ["http-%dms" % L_ for L_ in lats]:
        sec = "local" if cfg == "local" else "http"
        for tool, pre, col in (("zarrtraj", "random", "C0"), ("zarrtraj", "batch", "C9"),
                               ("zarr-python+fsspec" if sec == "http" else "zarr-python", "random", "C1"),
                               ("zarr-python+fsspec" if sec == "http" else "zarr-python", "batch", "C3")):
            rows = [r for r in rr.find(section=sec, config=cfg, dataset="synth", format="zarr_zstd", tool=tool)
                    if r["mode"].startswith(pre) and "result" in r]
            if rows:
                labels.append("%s %s %s" % (cfg, tool.replace("zarr-python+fsspec", "zarr+fsspec"), pre))
                vals.append(rows[0]["result"]["frames_per_s"])
                cols.append(col)
    if vals:
        a.barh(range(len(vals)), vals, color=cols)
        a.set_yticks(range(len(vals)))
        a.set_yticklabels(labels, fontsize=7)
        a.invert_yaxis()
        a.set_xscale("log")
    a.set_xlabel("frames/s (log)")
    a.set_title("synth zstd zarrmd: random and batched random frames")
    # (d) bytes on disk
    a = ax[1][1]
    rows = rr.find(section="disk")
    fmts = ["none.zarrmd", "zstd.zarrmd", "none.h5md", "gzip.h5md", "xtc"]
    w = 0.38
    for k, ds in enumerate(rr.ds):
        xb = [r["result"]["bytes"] for r in rows if r["dataset"] == ds and r["format"] == "xtc"]
        if not xb:
            continue
        ys = []
        for f in fmts:
            b = [r["result"]["bytes"] for r in rows if r["dataset"] == ds and r["format"] == f]
            ys.append(b[0] / xb[0] if b else 0)
        a.bar([i + k * w for i in range(len(fmts))], ys, w, label=ds)
    a.set_xticks([i + w / 2 for i in range(len(fmts))])
    a.set_xticklabels([FMT_LABEL.get(f, f) for f in fmts], fontsize=8)
    a.set_ylabel("bytes / XTC bytes")
    a.set_title("bytes on disk relative to XTC")
    if a.get_legend_handles_labels()[0]:
        a.legend()
    # (e), (f) issue 10: MDAnalysis iterating the water box, local and over HTTP at 25 ms
    for a, cfg in ((ax[2][0], "local"), (ax[2][1], "http-25ms")):
        rows = [r for r in rr.find(section="mda", config=cfg) if r["mode"] == "positions" and "result" in r]
        if rows:
            a.barh(range(len(rows)), [r["result"]["frames_per_s"] for r in rows],
                   color=["C0" if r["tool"] == "zarrtraj" else "C1" if r["tool"] == "upstream-Zarrtraj" else "C7"
                          for r in rows])
            a.set_yticks(range(len(rows)))
            short = {"up_p3": "zarrmd p3", "up_lossless": "zarrmd lossless", "up_p3_nozmeta": "zarrmd p3, no .zmetadata",
                     "h5_mda": "H5MD", "xtc": "XTC"}
            a.set_yticklabels(["%s: %s" % (short.get(r["format"], r["format"]), r["tool"].replace("MDAnalysis-", "MDA "))
                               for r in rows], fontsize=8)
            a.invert_yaxis()
            a.set_xscale("log")
            a.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        a.set_xlabel("frames/s (log)")
        a.set_title("water box through MDAnalysis %s, %s" % (
            (rr.meta.get("python") or {}).get("suite", {}).get("MDAnalysis", ""), cfg))
    fig.suptitle("zarrtraj benchmarks, %s" % rr.meta.get("date"))
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--md")
    ap.add_argument("--png")
    a = ap.parse_args()
    with open(a.results) as f:
        rr = R(json.load(f))
    if a.md:
        with open(a.md, "w") as f:
            f.write(md(rr))
    if a.png:
        plot(rr, a.png)


if __name__ == "__main__":
    main()
