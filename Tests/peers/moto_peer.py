#!/usr/bin/env python3
"""A real S3-compatible server for Atelier's upload tests: moto's server on 127.0.0.1 (ephemeral port), driven with
boto3 like any S3 client would be.

Prints "PORT <n>" once it listens, then answers one JSON command per stdin line with one JSON line on stdout:
    {"op": "presign", "bucket": B, "key": K, "contentType": "image/png", "expires": 900}  -> {"url": ...}
    {"op": "get", "bucket": B, "key": K}   -> {"sha256": ..., "size": n, "contentType": ...}  or {"error": ...}
Exits when stdin closes. moto checks neither presigned-URL expiry nor signatures (see the 403 peer for that path).
"""
import hashlib
import json
import os
import sys

try:
    import boto3
    from botocore.config import Config
    from moto.server import ThreadedMotoServer
except ImportError as e:  # CI installs them (scripts/requirements-test.txt); fail loudly, never skip.
    print(f"ERROR: a Python package for the S3 tests is missing ({e}); pip install -r scripts/requirements-test.txt",
          file=sys.stderr, flush=True)
    sys.exit(3)


def main():
    for k in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        os.environ.pop(k, None)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    s3 = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing", config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    buckets = set()
    print(f"PORT {port}", flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            bucket, key = cmd["bucket"], cmd["key"]
            if cmd["op"] == "presign":
                if bucket not in buckets:
                    s3.create_bucket(Bucket=bucket)
                    buckets.add(bucket)
                params = {"Bucket": bucket, "Key": key}
                if cmd.get("contentType"):
                    params["ContentType"] = cmd["contentType"]
                url = s3.generate_presigned_url("put_object", Params=params, ExpiresIn=int(cmd.get("expires", 900)))
                out = {"url": url}
            elif cmd["op"] == "get":
                obj = s3.get_object(Bucket=bucket, Key=key)
                data = obj["Body"].read()
                out = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "contentType": obj.get("ContentType")}
            else:
                out = {"error": f"unknown op {cmd['op']}"}
        except Exception as e:  # noqa: BLE001 - report to the test
            out = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)
    server.stop()


if __name__ == "__main__":
    main()
