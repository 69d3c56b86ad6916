#!/usr/bin/python3
"""A small HTTP/1.1 fault-injecting proxy for the store tests, the benchmarks
and the fault soak (scripts/soak.sh).

Listens on 127.0.0.1 only, forwards each request to an upstream server on the
loopback (a new upstream connection per request, read to the end, so every
response is handled whole) and keeps client connections alive. It can add
one-way latency to both directions and inject faults into selected requests:

  503       answer 503 SlowDown (S3-style XML body; --retry-after S adds Retry-After)
            without forwarding the request
  reset     send the head and half the body (half the head when there is no
            body), then reset the connection
  stall     the same, then go silent (--stall-seconds) and close
  short     send the head and half the body, then close cleanly (short body)
  badrange  change the start in Content-Range of 206 answers; answer a request
            for a whole object with all but its first byte, as a 206

Faults hit every Nth request (--every N, 1 = all) and at most --count times,
or, with --mix, each request at random with the given percentages
("503=5,reset=2,stall=1,badrange=1"; --seed makes the draws repeatable).
--tls-cert/--tls-key serve TLS (HTTP/1.1) to the client, --upstream-tls
speaks TLS to the upstream (verified with --upstream-ca, SNI --upstream-host),
so the proxy sits between a client and an HTTPS server. --stats FILE keeps a
JSON summary (requests, faults chosen and applied per kind, bytes) up to
date. The proxy exits by itself after --lifetime seconds.

Usage: faultproxy.py --upstream HOST:PORT [--port P | --port-file F]
       [--latency-ms MS] [--fault KIND --every N --count K | --mix SPEC --seed S]
       [--tls-cert F --tls-key F] [--upstream-tls [--upstream-ca F] [--upstream-host H]]
       [--stats FILE] [--log FILE]
"""
import argparse
import json
import os
import random
import signal
import socket
import ssl
import sys
import threading
import time

KINDS = ["503", "reset", "stall", "short", "badrange"]
args = None
lock = threading.Lock()
counter = {"requests": 0, "faults": 0}
stats = {"requests": 0, "by_method": {}, "chosen": {k: 0 for k in KINDS}, "applied": {k: 0 for k in KINDS},
         "bytes_down": 0, "bytes_up": 0, "upstream_errors": 0}
rng = None
mix = []


def log(msg):
    if args.log:
        with lock, open(args.log, "a") as f:
            f.write(msg + "\n")


def write_stats():
    if not args.stats:
        return
    with lock:
        data = json.dumps(stats, indent=1, sort_keys=True)
    tmp = args.stats + ".tmp"
    with open(tmp, "w") as f:
        f.write(data)
    os.replace(tmp, args.stats)


def recv_head(sock, buf):
    """Read until the end of an HTTP head; returns (head, rest) or (None, buf)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None, buf
        buf += chunk
        if len(buf) > 1 << 20:
            return None, buf
    i = buf.index(b"\r\n\r\n") + 4
    return buf[:i], buf[i:]


def header(head, name):
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == name:
            return v.strip()
    return None


def upstream_socket():
    s = socket.create_connection((args.up_host, args.up_port), timeout=60)
    if args.upstream_tls:
        ctx = ssl.create_default_context(cafile=args.upstream_ca) if args.upstream_ca else ssl._create_unverified_context()
        ctx.set_alpn_protocols(["http/1.1"])
        s = ctx.wrap_socket(s, server_hostname=args.upstream_host or args.up_host)
    return s


def fetch_upstream(req_head, body):
    """Send one request upstream with Connection: close and read all of the answer."""
    lines = [l for l in req_head.split(b"\r\n") if l and not l.lower().startswith(b"connection:")]
    out = b"\r\n".join(lines) + b"\r\nConnection: close\r\n\r\n" + body
    up = upstream_socket()
    up.sendall(out)
    data = []
    while True:
        try:
            chunk = up.recv(1 << 20)
        except ssl.SSLError:  # an upstream that closes without close_notify
            break
        if not chunk:
            break
        data.append(chunk)
    up.close()
    return b"".join(data)


def split_response(resp):
    i = resp.find(b"\r\n\r\n")
    if i < 0:
        return resp, b""
    return resp[: i + 4], resp[i + 4:]


def choose_fault(method):
    with lock:
        counter["requests"] += 1
        stats["requests"] += 1
        m = method.decode(errors="replace")
        stats["by_method"][m] = stats["by_method"].get(m, 0) + 1
        n = counter["requests"]
        if mix:
            x = rng.random() * 100
            for kind, pct in mix:
                if x < pct:
                    stats["chosen"][kind] += 1
                    return kind, n
                x -= pct
            return None, n
        if not args.fault or n % args.every != 0:
            return None, n
        if args.count >= 0 and counter["faults"] >= args.count:
            return None, n
        counter["faults"] += 1
        stats["chosen"][args.fault] += 1
        return args.fault, n


def applied(kind):
    with lock:
        stats["applied"][kind] += 1


def add_bytes(down, up=0):
    with lock:
        stats["bytes_down"] += down
        stats["bytes_up"] += up


def handle(client):
    client.settimeout(args.lifetime)
    buf = b""
    try:
        if args.tls_cert:
            client = tls_ctx.wrap_socket(client, server_side=True)
        while True:
            head, buf = recv_head(client, buf)
            if head is None:
                return
            n = int(header(head, b"content-length") or b"0")
            while len(buf) < n:
                chunk = client.recv(1 << 20)
                if not chunk:
                    return
                buf += chunk
            body, buf = buf[:n], buf[n:]
            add_bytes(0, len(head) + len(body))
            method = head.split(b" ", 1)[0]
            fault, num = choose_fault(method)
            if args.latency:
                time.sleep(args.latency)  # client -> server
            if fault == "503":
                xml = b"<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
                extra = b"Retry-After: %d\r\n" % args.retry_after if args.retry_after >= 0 else b""
                resp = (b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n" + extra +
                        b"Content-Length: %d\r\n\r\n" % len(xml) + xml)
                log("%d %s fault=503" % (num, method.decode()))
                applied("503")
                if args.latency:
                    time.sleep(args.latency)
                client.sendall(resp)
                continue
            try:
                resp = fetch_upstream(head, body)
            except OSError:
                with lock:
                    stats["upstream_errors"] += 1
                raise
            rhead, rbody = split_response(resp)
            log("%d %s %s fault=%s" % (num, method.decode(), rhead.split(b"\r\n", 1)[0].decode(errors="replace"), fault))
            if args.latency:
                time.sleep(args.latency)  # server -> client
            status_line = rhead.split(b"\r\n", 1)[0]
            if (fault == "badrange" and b" 200 " in status_line and header(head, b"range") is None and len(rbody) > 1
                    and header(rhead, b"content-length") is not None):
                # a whole object asked for: answer with a part of it, labelled as such
                n = len(rbody)
                lines = [l for l in rhead.split(b"\r\n")[1:] if l and not l.lower().startswith(b"content-length:")]
                rhead = (b"HTTP/1.1 206 Partial Content\r\n" + b"\r\n".join(lines) +
                         b"\r\nContent-Range: bytes 1-%d/%d\r\nContent-Length: %d\r\n\r\n" % (n - 1, n, n - 1))
                rbody = rbody[1:]
                applied("badrange")
                client.sendall(rhead + rbody)
                add_bytes(len(rhead) + len(rbody))
                continue
            if fault == "badrange" and b" 206 " in status_line:
                cr = header(rhead, b"content-range")
                if cr:
                    rng_, _, total = cr.partition(b"/")
                    a, _, b = rng_.split(b" ")[1].partition(b"-")
                    wrong = b"bytes %d-%d/%s" % (int(a) + 1, int(b) + 1, total)
                    rhead = rhead.replace(b"Content-Range: " + cr, b"Content-Range: " + wrong)
                    rhead = rhead.replace(b"content-range: " + cr, b"content-range: " + wrong)
                    applied("badrange")
                client.sendall(rhead + rbody)
                add_bytes(len(rhead) + len(rbody))
                continue
            if fault in ("reset", "stall", "short") and method != b"HEAD" and (len(rbody) > 1 or fault != "short"):
                part = rhead + rbody[: len(rbody) // 2] if len(rbody) > 1 else rhead[: len(rhead) // 2]
                client.sendall(part)
                add_bytes(len(part))
                applied(fault)
                if fault == "reset":
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                elif fault == "stall":
                    time.sleep(args.stall_seconds)
                client.close()
                return
            client.sendall(rhead + rbody)
            add_bytes(len(rhead) + len(rbody))
    except (OSError, ValueError):
        pass
    finally:
        try:
            client.close()
        except OSError:
            pass


def stats_loop():
    while True:
        time.sleep(1)
        write_stats()


def main():
    global args, rng, mix, tls_ctx
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--latency-ms", type=float, default=0)
    p.add_argument("--fault", choices=KINDS)
    p.add_argument("--every", type=int, default=1)
    p.add_argument("--count", type=int, default=-1)
    p.add_argument("--mix")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--retry-after", type=int, default=-1)
    p.add_argument("--stall-seconds", type=float, default=30)
    p.add_argument("--lifetime", type=float, default=300)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--upstream-tls", action="store_true")
    p.add_argument("--upstream-ca")
    p.add_argument("--upstream-host")
    p.add_argument("--stats")
    p.add_argument("--log")
    args = p.parse_args()
    host, _, port = args.upstream.rpartition(":")
    args.up_host, args.up_port = host.replace("localhost", "127.0.0.1"), int(port)
    args.latency = args.latency_ms / 1000.0
    args.every = max(1, args.every)
    rng = random.Random(args.seed)
    if args.mix:
        for item in args.mix.split(","):
            k, _, v = item.partition("=")
            if k not in KINDS:
                p.error("unknown fault %s" % k)
            mix.append((k, float(v)))
    tls_ctx = None
    if args.tls_cert:
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_ctx.load_cert_chain(args.tls_cert, args.tls_key)
        tls_ctx.set_alpn_protocols(["http/1.1"])
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(256)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(srv.getsockname()[1]))
        os.rename(args.port_file + ".tmp", args.port_file)
    else:
        print(srv.getsockname()[1], flush=True)

    def stop(*_):
        write_stats()
        os._exit(0)
    signal.signal(signal.SIGTERM, stop)
    if args.stats:
        write_stats()
        threading.Thread(target=stats_loop, daemon=True).start()
    deadline = time.time() + args.lifetime
    srv.settimeout(1)
    while time.time() < deadline:
        try:
            c, _ = srv.accept()
        except socket.timeout:
            continue
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=handle, args=(c,), daemon=True).start()
    write_stats()
    sys.exit(0)


if __name__ == "__main__":
    main()
