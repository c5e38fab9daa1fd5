#!/usr/bin/env python3
"""HTTP peer for the daemon's HTTP face tests (Tests/AtelierIntegrationTests/HTTPFaceTests.swift).

  metrics_peer.py scrape URL         GET URL (a /metrics endpoint), parse it with prometheus_client's text parser
                                     and print {"samples": [{"name", "labels", "value"}], "types": {family: type}}
  metrics_peer.py get URL [TOKEN]    GET URL, with "Authorization: Bearer TOKEN" when given; print {"status", "body"}
  metrics_peer.py request METHOD URL TOKEN|- CONTENT_TYPE|- BODY|-
                                     any request; print {"status", "contentType", "headers", "body"}
  metrics_peer.py events URL TOKEN SOCKET
                                     open URL (/api/events), then submit a built-in renderer job over the daemon's
                                     Unix socket and read until that job's final event; print {"hello", "taskUUID",
                                     "events": [[event, status], ...], "summary": the last event's job summary}

Only loopback URLs are accepted. Exits 2 on a parse failure (the message on stderr).
"""
import json
import sys
import urllib.error
import urllib.parse
import urllib.request


def fetch(url, token=None):
    host = urllib.parse.urlparse(url).hostname
    if host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit(f"refusing a non-loopback URL: {url}")
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode("utf-8")


def request(method, url, token, content_type, body):
    host = urllib.parse.urlparse(url).hostname
    if host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit(f"refusing a non-loopback URL: {url}")
    data = None if body == "-" else body.encode()
    req = urllib.request.Request(url, data=data, method=method)
    if token != "-":
        req.add_header("Authorization", f"Bearer {token}")
    if content_type != "-":
        req.add_header("Content-Type", content_type)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def events(url, token, socket_path):
    import socket
    import time
    req = urllib.request.Request(url)
    req.add_header("Authorization", f"Bearer {token}")
    resp = urllib.request.urlopen(req, timeout=60)
    if resp.status != 200 or not resp.headers.get("Content-Type", "").startswith("text/event-stream"):
        sys.exit(f"events answered {resp.status} {resp.headers.get('Content-Type')}")

    def read_event():
        name, data = None, ""
        while True:
            line = resp.readline().decode()
            if line == "":
                sys.exit("the event stream ended")
            line = line.rstrip("\n")
            if line == "":
                if name or data:
                    return name, json.loads(data) if data else None
                continue
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data += line[6:]

    name, hello = read_event()
    if name != "hello":
        sys.exit(f"the first event is {name}, not hello")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(socket_path)
        s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "job.submit",
                              "params": {"positivePrompt": "an event stream", "model": "local-render"}}).encode() + b"\n")
        answer = json.loads(s.makefile().readline())
    task = answer["result"]["taskUUID"]
    seen, summary = [], None
    deadline = time.time() + 60
    while time.time() < deadline:
        name, data = read_event()
        if name == "job" and data.get("taskUUID") == task:
            seen.append([data["event"], data["status"]])
            summary = data.get("job")
            if data["status"] in ("succeeded", "failed", "cancelled"):
                break
    resp.close()
    return {"hello": hello, "taskUUID": task, "events": seen, "summary": summary}


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "scrape":
        try:
            from prometheus_client.parser import text_string_to_metric_families
        except ImportError:
            sys.exit("prometheus_client is not installed (pip install -r scripts/requirements-test.txt)")
        status, ctype, text = fetch(sys.argv[2])
        if status != 200:
            sys.exit(f"/metrics answered {status}")
        samples, types = [], {}
        try:
            for family in text_string_to_metric_families(text):
                types[family.name] = family.type
                for s in family.samples:
                    samples.append({"name": s.name, "labels": dict(s.labels), "value": s.value})
        except Exception as e:  # the parser's ValueError, or anything it raises on malformed input
            print(f"cannot parse the exposition: {e}\n{text}", file=sys.stderr)
            sys.exit(2)
        print(json.dumps({"contentType": ctype, "samples": samples, "types": types}))
    elif len(sys.argv) >= 3 and sys.argv[1] == "get":
        status, ctype, body = fetch(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
        print(json.dumps({"status": status, "contentType": ctype, "body": body}))
    elif len(sys.argv) == 7 and sys.argv[1] == "request":
        status, headers, body = request(*sys.argv[2:7])
        lowered = {k.lower(): v for k, v in headers.items()}
        print(json.dumps({"status": status, "contentType": lowered.get("content-type", ""), "headers": lowered,
                          "body": body.decode("utf-8", errors="replace"), "bytes": len(body)}))
    elif len(sys.argv) == 5 and sys.argv[1] == "events":
        print(json.dumps(events(*sys.argv[2:5])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
