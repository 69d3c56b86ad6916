#!/usr/bin/env python3
"""Rewrite the measured table of docs/reliability.md (between the
reliability:begin/end markers) from the results of scripts/reliability.sh:

  FUZZ/fuzz/stats.tsv + logs/*.triage  scripts/fuzz.sh
  BUILD/soak/result.json               scripts/soak.sh
  BUILD/crash/result.json              scripts/crash.sh
  ASAN/lsan.json                       the LeakSanitizer pass
  BUILD/tsan.json                      scripts/tsan.sh, when it exists

Missing results give a row saying so. Standard library only.
Usage: reliability_report.py --doc docs/reliability.md --build build --fuzz build-fuzz --asan build-asan
"""
import argparse
import datetime
import glob
import json
import os
import re
import subprocess
import sys

BEGIN, END = "<!-- reliability:begin -->", "<!-- reliability:end -->"


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt_int(n):
    return "{:,}".format(int(n)) if n is not None else "?"


def fuzz_section(fuzz_dir, root):
    L = ["### Fuzzing (`scripts/fuzz.sh`)", ""]
    stats = os.path.join(fuzz_dir, "fuzz", "stats.tsv")
    if not os.path.exists(stats):
        return L + ["No fuzz results (`scripts/fuzz.sh` did not run).", ""]
    rows = [l.rstrip("\n").split("\t") for l in open(stats)][1:]
    L += ["| target | executions | seconds | corpus after the run | committed corpus | fixed-bug reproducers | new crashes | known crashes |",
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    tot = [0, 0, 0, 0]
    for r in rows:
        t, execs, files, nbytes, secs, new, known = r[:7]
        committed = glob.glob(os.path.join(root, "tests/fuzz/corpus", t, "*"))
        regress = [c for c in committed if os.path.basename(c).startswith("regress-")]
        L.append("| `%s` | %s | %s | %s files | %d files | %d | %s | %s |" % (
            t, fmt_int(execs), secs, fmt_int(files), len(committed), len(regress), new, known))
        tot[0] += int(execs or 0)
        tot[1] += int(new or 0)
        tot[2] += int(known or 0)
        tot[3] += len(regress)
    L.append("| **all %d targets** | **%s** | | | | **%d** | **%d** | **%d** |" % (len(rows), fmt_int(tot[0]), tot[3], tot[1], tot[2]))
    L.append("")
    known = []
    for f in sorted(glob.glob(os.path.join(fuzz_dir, "fuzz", "logs", "*.triage"))):
        for line in open(f):
            parts = line.rstrip("\n").split("\t")
            if parts[0] == "known":
                known.append(parts[2])
    if known:
        counts = {}
        for k in known:
            counts[k] = counts.get(k, 0) + 1
        L.append("Known crashes (tracked elsewhere, `tests/fuzz/known.txt`):")
        for k, n in sorted(counts.items(), key=lambda x: -x[1]):
            L.append("- %d x %s" % (n, k))
        L.append("")
    return L


def soak_section(build):
    L = ["### Fault soak (`scripts/soak.sh`)", ""]
    r = load(os.path.join(build, "soak", "result.json"))
    if not r:
        return L + ["No soak results (`scripts/soak.sh` did not run).", ""]
    t = r["totals"]
    gb = {k: v / 1e9 for k, v in r.get("sizes", {}).items()}
    L += ["Mode `%s`, seed %d, faults `%s` (percent of requests, at random); trajectories A %.2f GB "
          "(Blosc, whole-object GETs), B %.2f GB (uncompressed, range requests)." % (
              r["mode"], r["seed"], r["mix"], gb.get("A", 0), gb.get("B", 0)), "",
          "| what | requests | 503 | resets | stalls | wrong Content-Range | bytes compared | wrong frames | failed reads |",
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for where in ("s3", "https"):
        reads = [x for x in r["reads"] if x["store"] == where]
        p = r["proxies"].get(where, {})
        ap = p.get("applied", {})
        L.append("| reads from %s (%d passes over A and B) | %s | %s | %s | %s | %s | %.2f GB | %d | %d |" % (
            "the S3 emulator" if where == "s3" else "nginx over HTTPS", len(reads) // 2 if reads else 0,
            fmt_int(p.get("requests")), fmt_int(ap.get("503")), fmt_int(ap.get("reset")), fmt_int(ap.get("stall")),
            fmt_int(ap.get("badrange")), sum(x.get("bytes") or 0 for x in reads) / 1e9,
            sum(x.get("wrong") or 0 for x in reads), sum(x.get("errors") or 0 for x in reads)))
    w = r.get("writer", {})
    wb = w.get("readback", {})
    L.append("| `zarrtraj convert` to S3 through the proxy (exit %s), read back | | | | | | %.2f GB | %s | %s |" % (
        w.get("exit"), (wb.get("bytes") or 0) / 1e9, wb.get("wrong", "?"), wb.get("errors", "?")))
    c = r.get("cp", {})
    cb = c.get("up_readback", {})
    L.append("| `zarrtraj cp` up through the proxy (exit %s), read back | | | | | | %.2f GB | %s | %s |" % (
        c.get("up_exit"), (cb.get("bytes") or 0) / 1e9, cb.get("wrong", "?"), cb.get("errors", "?")))
    L.append("| `zarrtraj cp` down through the proxy (exit %s), files compared byte for byte | | | | | | %.2f GB | %s files differ | |" % (
        c.get("down_exit"), (c.get("down_bytes_compared") or 0) / 1e9, len(c.get("down_differing_files", []))))
    f = t["faults"]
    L.append("| **total** | **%s** | **%s** | **%s** | **%s** | **%s** | **%.2f GB** | **%d** | **%d** |" % (
        fmt_int(t["requests"]), fmt_int(f.get("503")), fmt_int(f.get("reset")), fmt_int(f.get("stall")),
        fmt_int(f.get("badrange")), t["bytes_compared"] / 1e9, t["wrong_frames"], t["failed_reads"]))
    L += ["", "The proxies' request counts include the writer's and cp's uploads. Wall time %.0f s." % t["seconds"], ""]
    m = r.get("memory")
    L += ["### Memory", ""]
    if m:
        L += ["| run | frames | RSS at start | RSS max | RSS at end | slope over the second half |", "| --- | ---: | ---: | ---: | ---: | ---: |",
              "| random frames from the S3 emulator (cache 16 MiB, no read-ahead), trajectory C %.2f GB | %s | %.0f MiB | %.0f MiB | %.0f MiB | %+.1f KiB per 1,000 frames |" % (
                  gb.get("C", 0), fmt_int(m.get("frames")), (m.get("rss_start") or 0) / 2**20, (m.get("rss_max") or 0) / 2**20,
                  (m.get("rss_end") or 0) / 2**20, (m.get("rss_slope_bytes_per_1000_frames") or 0) / 1024), ""]
    return L


def crash_section(build):
    L = ["### Crash safety (`scripts/crash.sh`)", ""]
    r = load(os.path.join(build, "crash", "result.json"))
    if not r:
        return L + ["No crash-safety results (`scripts/crash.sh` did not run).", ""]
    L += ["| case | kills | most frames committed before a kill | frames lost | kills with a wrong read | readers |",
          "| --- | ---: | ---: | ---: | ---: | --- |"]
    for c in r:
        L.append("| `%s` | %d | %d | %d | %d | %s |" % (c["case"], c["kills"], c["committed_max"], c["lost"], c["wrong"],
                                                  ", ".join(c["readers"])))
    L.append("| **all** | **%d** | | **%d** | **%d** | |" % (sum(c["kills"] for c in r), sum(c["lost"] for c in r),
                                                          sum(c["wrong"] for c in r)))
    return L + [""]


def sanitizer_section(build, asan, root):
    L = ["### Sanitizers", "", "| check | result |", "| --- | --- |"]
    ls = load(os.path.join(asan, "lsan.json"))
    if ls:
        L.append("| LeakSanitizer over the C suite (`%s`, gcc ASan+UBSan, label filter `%s`) | %d tests, %d failed%s, %d leak reports; canary %s |" % (
            os.path.basename(asan), ls["filter"], ls["tests"], len(ls["failed"]),
            (" (" + ", ".join(ls["failed"]) + ")") if ls["failed"] else "", ls["leak_reports"],
            "detected (LSan is on)" if ls.get("canary_detected") else "NOT detected"))
    else:
        L.append("| LeakSanitizer over the C suite | not run |")
    ts = load(os.path.join(build, "tsan.json"))
    if ts:
        L.append("| ThreadSanitizer (`scripts/tsan.sh`) | exit %s, %d race reports (%s) |" % (ts["exit"], ts["reports"], ts.get("note", "")))
    else:
        L.append("| ThreadSanitizer (`scripts/tsan.sh`) | %s |" % (
            "not run" if os.path.exists(os.path.join(root, "scripts/tsan.sh")) else "script not present on this branch"))
    return L + [""]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--doc", required=True)
    ap.add_argument("--build", default="build")
    ap.add_argument("--fuzz", default="build-fuzz")
    ap.add_argument("--asan", default="build-asan")
    ap.add_argument("--root", default=".")
    a = ap.parse_args()
    try:
        rev = subprocess.run(["git", "-C", a.root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        rev = "?"
    L = [BEGIN, "", "Measured %s at commit `%s` on %d cores (regenerate: `scripts/reliability.sh`)." % (
        datetime.date.today().isoformat(), rev or "?", os.cpu_count() or 0), ""]
    L += fuzz_section(a.fuzz, a.root)
    L += soak_section(a.build)
    L += crash_section(a.build)
    L += sanitizer_section(a.build, a.asan, a.root)
    L.append(END)
    text = open(a.doc).read() if os.path.exists(a.doc) else BEGIN + "\n" + END + "\n"
    if BEGIN not in text or END not in text:
        text += "\n" + BEGIN + "\n" + END + "\n"
    pre, rest = text.split(BEGIN, 1)
    _, post = rest.split(END, 1)
    with open(a.doc, "w") as f:
        f.write(pre + "\n".join(L) + post)
    print("reliability_report: wrote %s" % a.doc)


if __name__ == "__main__":
    sys.exit(main())
