#!/usr/bin/env python3
"""HTTP peer for the daemon's HTTP face tests (Tests/AtelierIntegrationTests/HTTPFaceTests.swift).

  metrics_peer.py scrape URL         GET URL (a /metrics endpoint), parse it with prometheus_client's text parser
                                     and print {"samples": [{"name", "labels", "value"}], "types": {family: type}}
  metrics_peer.py get URL [TOKEN]    GET URL, with "Authorization: Bearer TOKEN" when given; print {"status", "body"}

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
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
