#!/usr/bin/env python3
"""A webhook + HTTP PUT receiver for Atelier's delivery tests (stdlib HTTP server; signatures checked with the
independent `standardwebhooks` package).

    delivery_peer.py --log FILE [--secret whsec_...] [--store DIR] [--port 0]

Prints "PORT <n>" once it listens on 127.0.0.1. Exits when stdin closes (so it never outlives its test) or on
SIGTERM. Every request is appended to --log as one JSON line.

The path chooses the answer, so each test picks behaviour through the URL it submits:
    /ok/...                200
    /status/<code>/...     always <code>
    /seq/<c1>,<c2>,.../... the n-th request for one message (webhook-id; for PUT the path) gets c_n, the last repeats
    /hang-once/...         the first request for one message is accepted and never answered; later ones get 200
    /s3-expired/...        403 with the XML body S3 sends for an expired presigned URL
    /slow/<ms>/...         200 after <ms> milliseconds
POST bodies are verified as Standard Webhooks when --secret is given (a bad signature is answered 400). PUT bodies
are stored under --store (named by the last path segment) and their sha256 is logged.
"""
import argparse
import hashlib
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from standardwebhooks import Webhook
except ImportError as e:  # CI installs it (scripts/requirements-test.txt); fail loudly, never skip.
    print(f"ERROR: the Python package 'standardwebhooks' is missing ({e}); pip install -r scripts/requirements-test.txt",
          file=sys.stderr, flush=True)
    sys.exit(3)

S3_EXPIRED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Request has expired</Message>'
    "<X-Amz-Expires>900</X-Amz-Expires><Expires>2020-01-01T00:15:00Z</Expires><ServerTime>2020-01-01T01:00:00Z</ServerTime>"
    "<RequestId>4442587FB7D0A2F9</RequestId><HostId>peer</HostId></Error>"
)


class State:
    def __init__(self, args):
        self.args = args
        self.webhook = Webhook(args.secret) if args.secret else None
        self.lock = threading.Lock()
        self.counts = {}
        self.log = open(args.log, "a", buffering=1)

    def record(self, entry):
        entry["t"] = time.time()
        with self.lock:
            self.log.write(json.dumps(entry, sort_keys=True) + "\n")
            self.log.flush()

    def nth(self, key):
        with self.lock:
            n = self.counts.get(key, 0) + 1
            self.counts[key] = n
            return n


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "delivery-peer"

    def log_message(self, fmt, *args):
        pass

    def _answer(self, status, body=b"", content_type="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        chunks, left = [], n
        while left > 0:
            c = self.rfile.read(min(left, 1 << 16))
            if not c:
                break
            chunks.append(c)
            left -= len(c)
        return b"".join(chunks)

    def _decide(self, key):
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        mode = parts[0] if parts else "ok"
        if mode == "status" and len(parts) > 1:
            return int(parts[1])
        if mode == "seq" and len(parts) > 1:
            codes = [int(c) for c in parts[1].split(",")]
            n = state.nth(("seq", key))
            return codes[min(n, len(codes)) - 1]
        if mode == "hang-once":
            return "hang" if state.nth(("hang", key)) == 1 else 200
        if mode == "s3-expired":
            return "s3-expired"
        if mode == "slow" and len(parts) > 1:
            time.sleep(int(parts[1]) / 1000)
            return 200
        return 200

    def _respond(self, decision, entry):
        if decision == "hang":
            entry["status"] = "hang"
            state.record(entry)
            # Accept and never answer (until the client gives up or 60 s pass).
            deadline = time.time() + 60
            while time.time() < deadline:
                time.sleep(0.1)
            self.close_connection = True
            return
        if decision == "s3-expired":
            entry["status"] = 403
            state.record(entry)
            self._answer(403, S3_EXPIRED.encode(), "application/xml")
            return
        entry["status"] = decision
        state.record(entry)
        self._answer(decision, b"ok" if decision < 300 else b"error from peer")

    def do_POST(self):
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        entry = {
            "method": "POST", "path": self.path, "id": headers.get("webhook-id"), "timestamp": headers.get("webhook-timestamp"),
            "signature": headers.get("webhook-signature"), "contentType": headers.get("content-type"),
            "body": body.decode("utf-8", "replace"),
        }
        if state.webhook is not None:
            try:
                payload = state.webhook.verify(body, headers)
                entry["verified"] = True
                entry["type"] = payload.get("type")
            except Exception as e:  # noqa: BLE001 - any verification failure is recorded and refused
                entry["verified"] = False
                entry["verifyError"] = f"{type(e).__name__}: {e}"
                entry["status"] = 400
                state.record(entry)
                self._answer(400, b"bad signature")
                return
        self._respond(self._decide(entry["id"] or self.path), entry)

    def do_PUT(self):
        body = self._read_body()
        name = self.path.split("?")[0].rstrip("/").split("/")[-1] or "object"
        entry = {
            "method": "PUT", "path": self.path.split("?")[0], "contentType": self.headers.get("Content-Type"),
            "contentLength": self.headers.get("Content-Length"), "length": len(body), "sha256": hashlib.sha256(body).hexdigest(),
        }
        decision = self._decide(entry["path"])
        if decision == 200 and state.args.store:
            with open(os.path.join(state.args.store, name), "wb") as f:
                f.write(body)
        self._respond(decision, entry)


def main():
    global state
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", required=True)
    ap.add_argument("--secret")
    ap.add_argument("--store")
    args = ap.parse_args()
    state = State(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(1):
                pass
        finally:
            os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
