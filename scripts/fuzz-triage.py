#!/usr/bin/env python3
"""Classify crashing inputs of a fuzz target: rerun each one, read the
sanitizer report, and print one line per input:

    known  FILE  NOTE           matches tests/fuzz/known.txt
    new    FILE  SUMMARY        anything else (with the first frames of ours)

Exit status: the number of new crashes (capped at 100).
Usage: fuzz-triage.py TARGET_BINARY KNOWN_TXT FILE...
"""
import os
import re
import subprocess
import sys


def load_known(path, target):
    rules = []
    with open(path) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and parts[0] in ("*", target):
                rules.append((parts[1], parts[2]))
    return rules


def libhdf5_leak(report):
    if "LeakSanitizer" not in report:
        return False
    blocks = re.split(r"\n(?=(?:Direct|Indirect) leak of)", report)
    leaks = [b for b in blocks if b.startswith(("Direct leak", "Indirect leak"))]
    return bool(leaks) and all("libhdf5" in b for b in leaks)


def libhdf5_crash(report, binary):
    """The faulting (or, for a timeout, the running) frame is inside libhdf5:
    the first frame that is neither the sanitizer runtime's (its allocator
    and libc interceptors live in the fuzz binary), libFuzzer's nor the
    C library's (memcpy, the signal trampoline)."""
    if "LeakSanitizer" in report:
        return False
    me = os.path.basename(binary)
    for m in re.finditer(r"^\s*#\d+ 0x[0-9a-f]+ +(?:in (\S+) )?\(?([^\s)]*)", report, re.M):
        fn, where = m.group(1) or "", m.group(2)
        ours = fn.startswith(("zt", "fz_", "LLVMFuzzer", "main"))
        if not ours and (fn.startswith(("__interceptor_", "__asan", "__sanitizer", "__ubsan", "__lsan", "fuzzer::"))
                         or os.path.basename(where).startswith(me)):
            continue
        if "libc.so" in where or "/libc." in where or where.startswith(("string/", "../sysdeps")):
            continue  # libc (memcpy, signal trampoline): the caller decides
        return "libhdf5" in where
    return False


def summary(report):
    m = (re.search(r"(ERROR: \w+Sanitizer: [^\n]*|runtime error: [^\n]*)", report) or
         re.search(r"^(fuzz[\w ]*: (?!Running)[^\n]*)", report, re.M))
    head = m.group(1) if m else "no sanitizer report"
    ours = re.findall(r"#\d+ 0x[0-9a-f]+ in (zt\w+|fz_\w+) (\S+)", report)
    return head.strip() + (" at " + "; ".join("%s %s" % o for o in ours[:3]) if ours else "")


def main():
    binary, known_path, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    target = os.path.basename(binary)
    rules = load_known(known_path, target)
    new = 0
    for f in files:
        if os.path.basename(f).startswith("slow-unit-"):
            continue  # libFuzzer's note of a slow (not hung) input
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1",
                   UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
        code = None
        try:
            p = subprocess.run([binary, "-rss_limit_mb=2560", "-timeout=20", f], env=env, capture_output=True,
                               text=True, errors="replace", timeout=120)
            report = p.stderr
            code = p.returncode
        except subprocess.TimeoutExpired:
            report = "ERROR: timeout (no report within 120 s)"
        note = None
        for pat, n in rules:
            special = {"libhdf5-leak": libhdf5_leak, "libhdf5-crash": lambda r: libhdf5_crash(r, binary)}
            if (pat in special and special[pat](report)) or (pat not in special and re.search(pat, report)):
                note = n
                break
        reproduced = code != 0
        if note:
            print("known\t%s\t%s" % (f, note))
        elif not reproduced and "ERROR" not in report:
            # fork mode leaves inputs it could not attribute (often empty)
            print("unrepro\t%s\t%s" % (f, "does not crash when run again"))
        else:
            new += 1
            print("new\t%s\t%s" % (f, summary(report)))
    return min(new, 100)


if __name__ == "__main__":
    sys.exit(main())
