#!/usr/bin/python3
"""OAuth2 token endpoint for the GCS service-account test: verifies the RS256
JWT assertion (signature against the given public key, claims) and answers
with an access token. Loopback only; exits after LIFETIME seconds.
Usage: tokenserver.py PUBKEY.pem PORTFILE LOGFILE [LIFETIME]"""
import base64
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

pub = serialization.load_pem_public_key(open(sys.argv[1], "rb").read())
portfile, logfile = sys.argv[2], sys.argv[3]
lifetime = float(sys.argv[4]) if len(sys.argv) > 4 else 120


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        ok = False
        why = ""
        try:
            assert form["grant_type"][0] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
            h, c, s = form["assertion"][0].split(".")
            pub.verify(b64d(s), (h + "." + c).encode(), padding.PKCS1v15(), hashes.SHA256())
            hdr, cl = json.loads(b64d(h)), json.loads(b64d(c))
            assert hdr["alg"] == "RS256"
            assert cl["iss"] == "tester@zarrtraj.iam.gserviceaccount.com"
            assert cl["aud"].endswith("/token")
            assert cl["exp"] > time.time() > cl["iat"] - 60
            ok = True
        except Exception as e:  # any failure is a rejected assertion
            why = repr(e)
        with open(logfile, "a") as f:
            f.write(("ok\n" if ok else "bad %s\n" % why))
        body = json.dumps({"access_token": "ya29.test-token", "expires_in": 3600, "token_type": "Bearer"}
                          if ok else {"error": "invalid_grant"}).encode()
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


srv = HTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
threading.Timer(lifetime, srv.shutdown).start()
srv.serve_forever()
