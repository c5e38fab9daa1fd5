#!/usr/bin/env python3
"""A fast webhook receiver for scripts/bench-delivery (asyncio, HTTP/1.1 keep-alive, no verification).

    bench_receiver.py [--port 0]

Prints "PORT <n>". Answers every POST with 200 and counts it by webhook-id. GET /stats returns
{"count", "unique", "duplicates", "first", "last", "maxConcurrent"} (times are time.time() seconds). Exits when
stdin closes.
"""
import argparse
import asyncio
import json
import os
import sys
import threading
import time

counts = {}
stats = {"count": 0, "first": None, "last": None, "open": 0, "maxConcurrent": 0}


async def handle(reader, writer):
    stats["open"] += 1
    stats["maxConcurrent"] = max(stats["maxConcurrent"], stats["open"])
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            method, path = lines[0].split(b" ")[:2]
            length, wid = 0, None
            for l in lines[1:]:
                k, _, v = l.partition(b":")
                k = k.strip().lower()
                if k == b"content-length":
                    length = int(v.strip())
                elif k == b"webhook-id":
                    wid = v.strip().decode()
            if length:
                await reader.readexactly(length)
            if method == b"GET" and path == b"/stats":
                body = json.dumps({
                    "count": stats["count"], "unique": len(counts), "duplicates": sum(n - 1 for n in counts.values() if n > 1),
                    "first": stats["first"], "last": stats["last"], "maxConcurrent": stats["maxConcurrent"],
                }).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            else:
                now = time.time()
                stats["count"] += 1
                if stats["first"] is None:
                    stats["first"] = now
                stats["last"] = now
                if wid:
                    counts[wid] = counts.get(wid, 0) + 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        stats["open"] -= 1
        writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    server = await asyncio.start_server(handle, "127.0.0.1", args.port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(1):
                pass
        finally:
            os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
