#!/usr/bin/python3
"""Helpers for run.sh and the store tests (Python standard library only):
  freeport                       print a free TCP port on 127.0.0.1
  wait PORT SECONDS              wait until 127.0.0.1:PORT accepts connections
  s3-mkbucket EP BUCKET           create a bucket on moto's server (unsigned PUT)
  azure-mkcontainer EP ACCT KEY CONTAINER [public]
  azure-sas ACCT KEY             print an account SAS (blob service, rwdlac)
  azure-put EP ACCT KEY CONTAINER BLOB FILE   upload a block blob (an
                                 independent client for the tests: SharedKey
                                 signed here, not by zarrtraj)
"""
import base64
import hashlib
import hmac
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from email.utils import formatdate


def freeport():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    print(port)


def wait(port, seconds):
    end = time.time() + float(seconds)
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
            return 0
        except OSError:
            time.sleep(0.2)
    return 1


def azure_request(method, ep, acct, key, path, query, body=b"", headers=None):
    headers = dict(headers or {})
    headers.setdefault("Content-Type", "application/octet-stream")  # urllib would add its own
    headers["x-ms-date"] = formatdate(usegmt=True)
    headers["x-ms-version"] = "2021-12-02"
    u = urllib.parse.urlsplit(ep)
    full_path = u.path.rstrip("/") + path
    canon_headers = "".join(
        "%s:%s\n" % (k.lower(), v.strip()) for k, v in sorted(headers.items(), key=lambda kv: kv[0].lower())
        if k.lower().startswith("x-ms-"))
    canon_res = "/%s%s" % (acct, full_path)
    for k in sorted(query):
        canon_res += "\n%s:%s" % (k.lower(), query[k])
    length = str(len(body)) if body else ""
    sts = "\n".join([method, "", "", length, "", headers.get("Content-Type", ""), "", "", "", "", "", ""])
    sts += "\n" + canon_headers + canon_res
    sig = base64.b64encode(hmac.new(base64.b64decode(key), sts.encode(), hashlib.sha256).digest()).decode()
    headers["Authorization"] = "SharedKey %s:%s" % (acct, sig)
    url = "%s://%s%s" % (u.scheme, u.netloc, urllib.parse.quote(full_path))
    if query:
        url += "?" + urllib.parse.urlencode(query)
    req = urllib.request.Request(url, data=body if method in ("PUT", "POST") else None, method=method,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "freeport":
        freeport()
        return 0
    if cmd == "wait":
        return wait(argv[2], argv[3])
    if cmd == "s3-mkbucket":
        ep, bucket = argv[2:4]
        try:
            urllib.request.urlopen(urllib.request.Request(ep.rstrip("/") + "/" + bucket, method="PUT"), timeout=30)
        except urllib.error.HTTPError as e:
            return 0 if e.code == 409 else 1  # exists already
        return 0
    if cmd == "azure-mkcontainer":
        ep, acct, key, cont = argv[2:6]
        hdrs = {"x-ms-blob-public-access": "container"} if argv[6:7] == ["public"] else {}
        st = azure_request("PUT", ep, acct, key, "/" + cont, {"restype": "container"}, b"", hdrs)
        return 0 if st in (201, 409) else 1
    if cmd == "azure-sas":
        acct, key = argv[2:4]
        f = {"sv": "2019-12-12", "ss": "b", "srt": "sco", "sp": "rwdlac",
             "se": "2035-01-01T00:00:00Z", "spr": "https,http"}
        sts = "\n".join([acct, f["sp"], f["ss"], f["srt"], "", f["se"], "", f["spr"], f["sv"], ""])
        f["sig"] = base64.b64encode(hmac.new(base64.b64decode(key), sts.encode(), hashlib.sha256).digest()).decode()
        print(urllib.parse.urlencode(f))
        return 0
    if cmd == "azure-put":
        ep, acct, key, cont, blob, path = argv[2:8]
        with open(path, "rb") as f:
            data = f.read()
        st = azure_request("PUT", ep, acct, key, "/%s/%s" % (cont, blob), {}, data,
                           {"x-ms-blob-type": "BlockBlob", "Content-Type": "application/octet-stream"})
        return 0 if st == 201 else 1
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
