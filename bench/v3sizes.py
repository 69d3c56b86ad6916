"""Zarr v3 shard and inner-chunk sizes, measured (docs/zarr3.md quotes a run).

A synthetic trajectory (zarrtraj synth) is written as zarrmd v2 (default 12 MiB
chunks) and as v3 with several inner-chunk sizes, each inside 64 MiB shards (and
one with 16 MiB shards). Each is read by bench/bench_iter from nginx behind
bench/latproxy (one-way latency, default 25 ms): sequential iteration, N random
frames one at a time, a batch of 64 random frames; plus the object count and
bytes of each layout. Prints a Markdown table and writes JSON next to it.

    python bench/v3sizes.py BUILD_DIR [--atoms 20000] [--frames 600] [--latency-ms 25] [--out DIR]
                            [--s3-env ENVFILE]

--s3-env: read from the S3 emulator (scripts/emulators/run.sh envfile) behind the
latency proxy instead of nginx (layouts uploaded with zarrtraj cp first).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def sh(*args, **kw):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kw)


def start_nginx(root, tmp):
    port_conf = os.path.join(tmp, "nginx.conf")
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with open(port_conf, "w") as f:
        f.write(f"""worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/nginx.err;
user root;
events {{ worker_connections 256; }}
http {{ access_log off; client_body_temp_path {tmp}/cb; proxy_temp_path {tmp}/pt; fastcgi_temp_path {tmp}/ft;
uwsgi_temp_path {tmp}/ut; scgi_temp_path {tmp}/st; sendfile on; keepalive_requests 100000;
server {{ listen 127.0.0.1:{port}; root {root}; autoindex on; }} }}
""")
    p = subprocess.Popen(["nginx", "-c", port_conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return p, port


def start_proxy(build, port, ms, tmp, rate):
    pf = os.path.join(tmp, "proxy.port")
    p = subprocess.Popen([os.path.join(build, "bench", "latproxy"), "--upstream", f"127.0.0.1:{port}",
                          "--latency-ms", str(ms), "--port-file", pf, "--rate-mbps", str(rate)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(pf) and open(pf).read().strip():
            return p, int(open(pf).read().strip())
        time.sleep(0.05)
    raise RuntimeError("latproxy did not start")


def du(path):
    n = b = 0
    for d, _, fs in os.walk(path):
        for f in fs:
            n += 1
            b += os.path.getsize(os.path.join(d, f))
    return n, b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--atoms", type=int, default=20000)
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--latency-ms", type=int, default=25)
    ap.add_argument("--random", type=int, default=20)
    ap.add_argument("--rate-mbps", type=float, default=0, help="per-connection limit of the proxy (0: none)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--s3-env", default=None, help="S3 emulator env file: read from S3 instead of nginx")
    a = ap.parse_args()
    cli = os.path.join(a.build, "zarrtraj")
    it = os.path.join(a.build, "bench", "bench_iter")
    tmp = tempfile.mkdtemp(prefix="v3sizes-")
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    src = os.path.join(data, "v2.zarrmd")
    sh(cli, "synth", src, "--atoms", a.atoms, "--frames", a.frames, "--no-velocities", "--seed", "5")
    frame_bytes = a.atoms * 12
    layouts = {"v2 (12 MiB chunks)": src}
    seen = set()
    for inner_kib, shard in ((64, "64M"), (256, "64M"), (1024, "64M"), (4096, "64M"), (1024, "16M")):
        frames = max(1, inner_kib * 1024 // frame_bytes)
        if (frames, shard) in seen:
            continue
        seen.add((frames, shard))
        name = f"v3 inner {frames} frames ({frames * frame_bytes / 1048576:.2f} MiB), shard {shard}"
        p = os.path.join(data, f"v3_{inner_kib}_{shard}.zarrmd")
        sh(cli, "convert", src, p, "--zarr-format", "3", "--inner-frames", frames, "--shard-bytes", shard)
        layouts[name] = p
    so = []
    if a.s3_env:
        env = dict(line.strip().split("=", 1) for line in open(a.s3_env) if "=" in line)
        up = env["ZT_S3_ENDPOINT"].rsplit(":", 1)[1]
        cred = ["-S", f"key={env['ZT_S3_KEY']}", "-S", f"secret={env['ZT_S3_SECRET']}", "-S", "region=us-east-1"]
        run_id = os.path.basename(tmp)
        for p in layouts.values():
            sh(cli, "cp", p, f"s3://{env['ZT_S3_BUCKET']}/{run_id}/{os.path.basename(p)}", "-S",
               f"endpoint_url={env['ZT_S3_ENDPOINT']}", *cred, "-q")
        ng, port = None, int(up)
    else:
        ng, port = start_nginx(data, tmp)
    px, pport = start_proxy(a.build, port, a.latency_ms, tmp, a.rate_mbps)
    if a.s3_env:
        so = ["-S", f"endpoint_url=http://127.0.0.1:{pport}", *cred]
    rows = []
    try:
        for name, p in layouts.items():
            if a.s3_env:
                url = f"s3://{env['ZT_S3_BUCKET']}/{run_id}/{os.path.basename(p)}"
            else:
                url = f"http://127.0.0.1:{pport}/{os.path.basename(p)}"
            nobj, nbytes = du(p)
            res = {"layout": name, "objects": nobj, "MB": round(nbytes / 1e6, 1)}
            for mode in ("seq", f"random:{a.random}", "batch:64"):
                r = json.loads(sh(it, url, mode, *so).stdout.strip().splitlines()[-1])
                res[mode] = r
            rows.append(res)
    finally:
        px.send_signal(signal.SIGTERM)
        px.wait()
        if ng:
            ng.send_signal(signal.SIGQUIT)
            ng.wait()
    hdr = (f"{a.atoms} atoms x {a.frames} frames (positions, {frame_bytes / 1e6:.2f} MB per frame, blosc lz4), " +
           ("S3 emulator" if a.s3_env else "HTTP (nginx)") + f" at {a.latency_ms} ms one-way latency"
           + (f", {a.rate_mbps:g} MB/s per connection" if a.rate_mbps else "") + ", bench_iter, one run each")
    print(hdr + "\n")
    print("| layout | objects | MB | seq frames/s | seq requests | random frame ms | random: MB fetched per frame "
          "| batch of 64 ms | batch MB fetched |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s, rnd, b = r["seq"], r[f"random:{a.random}"], r["batch:64"]
        nr = max(1, rnd["frames"])
        print(f"| {r['layout']} | {r['objects']} | {r['MB']} | {s['frames_per_s']:.0f} | {s['requests']} | "
              f"{1000 * rnd['seconds'] / nr:.0f} | {rnd['bytes'] / nr / 1e6:.2f} | {1000 * b['seconds']:.0f} | "
              f"{b['bytes'] / 1e6:.1f} |")
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        json.dump({"header": hdr, "rows": rows}, open(os.path.join(a.out, "v3sizes.json"), "w"), indent=1)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
