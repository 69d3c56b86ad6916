#!/usr/bin/python3
"""A small HTTP/1.1 fault-injecting proxy for the store tests and benchmarks.

Listens on 127.0.0.1 only, forwards each request to an upstream server on the
loopback (a new upstream connection per request, read to the end, so every
response is handled whole) and keeps client connections alive. It can add
one-way latency to both directions and inject faults into selected requests:

  503       answer 503 SlowDown (S3-style XML body; --retry-after S adds Retry-After)
  reset     send the head and half the body, then reset the connection
  stall     send the head and half the body, then go silent (--stall-seconds)
  short     send the head and half the body, then close cleanly (short body)
  badrange  change the start in Content-Range of 206 answers

Faults hit every Nth request (--every N, 1 = all) and at most --count times.
The proxy exits by itself after --lifetime seconds.

Usage: faultproxy.py --upstream HOST:PORT [--port P | --port-file F]
       [--latency-ms MS] [--fault KIND --every N --count K] [--log FILE]
"""
import argparse
import os
import socket
import sys
import threading
import time

args = None
lock = threading.Lock()
counter = {"requests": 0, "faults": 0}


def log(msg):
    if args.log:
        with lock, open(args.log, "a") as f:
            f.write(msg + "\n")


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


def fetch_upstream(req_head, body):
    """Send one request upstream with Connection: close and read all of the answer."""
    lines = [l for l in req_head.split(b"\r\n") if l and not l.lower().startswith(b"connection:")]
    out = b"\r\n".join(lines) + b"\r\nConnection: close\r\n\r\n" + body
    up = socket.create_connection((args.up_host, args.up_port), timeout=60)
    up.sendall(out)
    data = []
    while True:
        chunk = up.recv(1 << 20)
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


def choose_fault():
    with lock:
        counter["requests"] += 1
        n = counter["requests"]
        if not args.fault or n % args.every != 0:
            return None, n
        if args.count >= 0 and counter["faults"] >= args.count:
            return None, n
        counter["faults"] += 1
        return args.fault, n


def handle(client):
    client.settimeout(args.lifetime)
    buf = b""
    try:
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
            method = head.split(b" ", 1)[0]
            fault, num = choose_fault()
            if args.latency:
                time.sleep(args.latency)  # client -> server
            if fault == "503":
                xml = b"<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
                extra = b"Retry-After: %d\r\n" % args.retry_after if args.retry_after >= 0 else b""
                resp = (b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n" + extra +
                        b"Content-Length: %d\r\n\r\n" % len(xml) + xml)
                log("%d %s fault=503" % (num, method.decode()))
                if args.latency:
                    time.sleep(args.latency)
                client.sendall(resp)
                continue
            resp = fetch_upstream(head, body)
            rhead, rbody = split_response(resp)
            log("%d %s %s fault=%s" % (num, method.decode(), rhead.split(b"\r\n", 1)[0].decode(errors="replace"), fault))
            if args.latency:
                time.sleep(args.latency)  # server -> client
            if fault == "badrange" and b" 206 " in rhead.split(b"\r\n", 1)[0]:
                cr = header(rhead, b"content-range")
                if cr:
                    rng, _, total = cr.partition(b"/")
                    a, _, b = rng.split(b" ")[1].partition(b"-")
                    wrong = b"bytes %d-%d/%s" % (int(a) + 1, int(b) + 1, total)
                    rhead = rhead.replace(b"Content-Range: " + cr, b"Content-Range: " + wrong)
                    rhead = rhead.replace(b"content-range: " + cr, b"content-range: " + wrong)
                client.sendall(rhead + rbody)
                continue
            if fault in ("reset", "stall", "short") and method != b"HEAD" and len(rbody) > 1:
                client.sendall(rhead + rbody[: len(rbody) // 2])
                if fault == "reset":
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                elif fault == "stall":
                    time.sleep(args.stall_seconds)
                client.close()
                return
            client.sendall(rhead + rbody)
    except (OSError, ValueError):
        pass
    finally:
        try:
            client.close()
        except OSError:
            pass


def main():
    global args
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--latency-ms", type=float, default=0)
    p.add_argument("--fault", choices=["503", "reset", "stall", "short", "badrange"])
    p.add_argument("--every", type=int, default=1)
    p.add_argument("--count", type=int, default=-1)
    p.add_argument("--retry-after", type=int, default=-1)
    p.add_argument("--stall-seconds", type=float, default=30)
    p.add_argument("--lifetime", type=float, default=300)
    p.add_argument("--log")
    args = p.parse_args()
    host, _, port = args.upstream.rpartition(":")
    args.up_host, args.up_port = host.replace("localhost", "127.0.0.1"), int(port)
    args.latency = args.latency_ms / 1000.0
    args.every = max(1, args.every)
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
    deadline = time.time() + args.lifetime
    srv.settimeout(1)
    while time.time() < deadline:
        try:
            c, _ = srv.accept()
        except socket.timeout:
            continue
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=handle, args=(c,), daemon=True).start()
    sys.exit(0)


if __name__ == "__main__":
    main()
