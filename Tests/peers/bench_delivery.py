#!/usr/bin/env python3
"""Delivery benchmark driver (run by scripts/bench-delivery with a release atelierd). Prints one JSON line per
measurement, then a summary against the targets.

  A. 1,000 jobs completing at once (stored with --hold, released by a restart), receiver up: webhook deliveries/s,
     end to end; then a second round of 1,000 on the same daemon: RSS must stay flat.
  B. Receiver down for a few seconds while 1,000 jobs complete, then back: every message delivered, none twice.
  C. Backlog drain: 2,000 messages due at once when the daemon starts (receiver was down, daemon restarted after the
     retry time): pure delivery throughput.

Traffic goes only to 127.0.0.1; every loop is bounded in time.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEERS = os.path.join(ROOT, "Tests", "peers")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Receiver:
    def __init__(self, port=0):
        self.proc = subprocess.Popen([sys.executable, "-u", os.path.join(PEERS, "bench_receiver.py"), "--port", str(port)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        assert line.startswith("PORT "), f"receiver did not start: {line!r}"
        self.port = int(line.split()[1])

    def stats(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=10) as r:
            return json.loads(r.read())

    def wait(self, unique, timeout):
        deadline = time.time() + timeout
        s = self.stats()
        while s["unique"] < unique and time.time() < deadline:
            time.sleep(0.05)
            s = self.stats()
        return s

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


class Daemon:
    def __init__(self, binary, work, name, extra=(), hold=False):
        self.sock = os.path.join(work, "run", name + ".sock")
        self.data = os.path.join(work, name)
        args = [binary, "--socket", self.sock, "--data-dir", self.data, "--providers", os.path.join(ROOT, "providers"),
                "--routing", os.path.join(ROOT, "scripts", "demo-routing.json"), "--log-level", "warning", *extra]
        if hold:
            args.append("--hold")
        self.log = open(os.path.join(work, name + ".log"), "a")
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.started = time.time()
        self.proc = subprocess.Popen(args, stderr=self.log, stdout=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            if os.path.exists(self.sock):
                try:
                    self.call("daemon.health")
                    break
                except OSError:
                    pass
            time.sleep(0.02)
        else:
            raise RuntimeError("atelierd did not start")
        self.ready = time.time()

    def pipeline(self, requests):
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.sock)
        out = b"".join(json.dumps({"jsonrpc": "2.0", "id": i, "method": m, "params": p}).encode() + b"\n"
                       for i, (m, p) in enumerate(requests))
        threading.Thread(target=s.sendall, args=(out,), daemon=True).start()
        buf, answers = b"", []
        s.settimeout(120)
        while len(answers) < len(requests):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                answers.append(json.loads(line))
        s.close()
        return answers

    def call(self, method, params=None):
        a = self.pipeline([(method, params or {})])[0]
        if "error" in a:
            raise RuntimeError(f"{method}: {a['error']}")
        return a["result"]

    def submit(self, n, hook, tag):
        reqs = [("job.submit", {"positivePrompt": f"bench {tag} {i}", "model": "local-render", "width": 64, "height": 64, "seed": i + 1,
                                "webhookURL": hook}) for i in range(n)]
        answers = self.pipeline(reqs)
        bad = [a for a in answers if "error" in a]
        assert not bad, bad[:3]

    def wait_idle(self, timeout=300):
        deadline = time.time() + timeout
        while time.time() < deadline:
            h = self.call("daemon.health")
            if h["queued"] == 0 and h["running"] == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("jobs did not finish")

    def count(self, status):
        n, cursor = 0, None
        while True:
            p = {"status": status, "limit": 1000}
            if cursor:
                p["cursor"] = cursor
            r = self.call("delivery.list", p)
            n += len(r["deliveries"])
            cursor = r["nextCursor"]
            if not cursor:
                return n

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.log.close()


class RSSSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0.0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.05)


def iso_seconds(text):
    from datetime import datetime
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=__import__("datetime").timezone.utc).timestamp()


def emit(out, row):
    line = json.dumps(row)
    print(line, flush=True)
    out.append(row)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--atelierd", required=True)
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=9, help="rounds of --jobs for the RSS measurement")
    args = ap.parse_args()
    n = args.jobs
    messages = 2 * n  # job.result + job.succeeded per job
    work = tempfile.mkdtemp(prefix="atelier-bench-delivery.")
    os.makedirs(os.path.join(work, "run"))
    rows = []
    try:
        # A. 1,000 jobs completing at once (stored with --hold, released by a restart), receiver up. With the default
        # durability every job's state change is its own fsync'd commit, which paces job completion itself; with
        # --durability normal the jobs really complete at once and the delivery path is what is measured.
        rec = Receiver()
        hook = f"http://127.0.0.1:{rec.port}/hook"
        seen = 0
        daemons = {}
        for mode in ("full", "normal"):
            extra = ["--durability", mode]
            d = Daemon(args.atelierd, work, "a-" + mode, extra=extra, hold=True)
            d.submit(n, hook, "a-" + mode)
            d.stop()
            d = Daemon(args.atelierd, work, "a-" + mode, extra=extra)
            rss_idle = rss_mb(d.proc.pid)
            t0 = time.time()
            s = rec.wait(seen + messages, 180)
            d.wait_idle()
            last_job = d.call("job.list", {"status": "succeeded", "limit": 1})["jobs"][0]
            jobs_done = iso_seconds(last_job["finishedAt"])
            r = {"phase": "A", "durability": mode, "jobs": n, "delivered": s["unique"] - seen, "duplicates": s["duplicates"],
                 "end_to_end_per_s": round((s["unique"] - seen) / max(s["last"] - d.ready, 1e-6)),
                 "jobs_per_s": round(n / max(jobs_done - d.ready, 1e-6)),
                 "last_delivery_after_last_job_ms": round((s["last"] - jobs_done) * 1000),
                 "seconds_start_to_last": round(s["last"] - d.ready, 3), "receiver_max_connections": s["maxConcurrent"],
                 "rss_idle_mb": round(rss_idle, 1), "rss_after_mb": round(rss_mb(d.proc.pid), 1)}
            emit(rows, r)
            seen = s["unique"]
            daemons[mode] = d
        daemons["full"].stop()
        # RSS across more rounds on the same daemon (jobs submitted live). The engine keeps the last 4,096 finished
        # jobs in memory, so RSS grows until that cache is full; flat means no growth after that.
        d = daemons["normal"]
        sampler = RSSSampler(d.proc.pid)
        sampler.start()
        rss_rounds = [rss_mb(d.proc.pid)]
        for i in range(2, args.rounds + 1):
            d.submit(n, hook, f"r{i}")
            s = rec.wait(seen + messages, 180)
            seen = s["unique"]
            d.wait_idle()
            time.sleep(0.3)
            rss_rounds.append(round(rss_mb(d.proc.pid), 1))
        sampler.running = False
        emit(rows, {"phase": "RSS", "jobs_per_round": n, "rss_after_each_round_mb": rss_rounds, "rss_peak_mb": round(sampler.peak, 1),
                    "delivered_total": seen, "duplicates": rec.stats()["duplicates"]})
        d.stop()
        rec.stop()

        # B. Receiver down for a while, then back.
        port = free_port()
        hook = f"http://127.0.0.1:{port}/hook"
        d = Daemon(args.atelierd, work, "b", extra=["--webhook-retry-schedule", "0,1s,2s,4s,8s,16s,32s"])
        d.submit(n, hook, "b")
        d.wait_idle()
        time.sleep(max(0, d.ready + 4 - time.time()))
        failed_attempts = d.count("pending")
        rec = Receiver(port)
        up = time.time()
        s = rec.wait(messages, 180)
        time.sleep(1.0)
        s = rec.stats()
        emit(rows, {"phase": "B", "jobs": n, "down_seconds": round(up - d.ready, 1), "pending_when_back": failed_attempts,
                    "delivered": s["unique"], "requests": s["count"], "duplicates": s["duplicates"],
                    "seconds_back_to_all_delivered": round(s["last"] - up, 3), "failed": d.count("failed"), "still_pending": d.count("pending")})
        d.stop()
        rec.stop()

        # C. Backlog drain: 2,000 messages due at once when the daemon starts. The receiver is down while the jobs
        # complete (attempt 1 refused, attempt 2 due 10 s later); the daemon stops; the receiver comes up; the daemon
        # restarts after every message is due.
        port = free_port()
        hook = f"http://127.0.0.1:{port}/hook"
        extra = ["--webhook-retry-schedule", "0,10s", "--delivery-jitter", "0"]
        d = Daemon(args.atelierd, work, "c", extra=extra)
        d.submit(n, hook, "c")
        d.wait_idle()
        deadline = time.time() + 60
        while d.count("pending") < messages and time.time() < deadline:
            time.sleep(0.1)
        last_failure = time.time()
        d.stop()
        rec = Receiver(port)
        time.sleep(max(0, last_failure + 10.5 - time.time()))
        d = Daemon(args.atelierd, work, "c", extra=extra)
        sampler = RSSSampler(d.proc.pid)
        sampler.start()
        s = rec.wait(messages, 180)
        sampler.running = False
        emit(rows, {"phase": "C", "backlog": messages, "delivered": s["unique"], "duplicates": s["duplicates"],
                    "deliveries_per_s": round(s["unique"] / max(s["last"] - s["first"], 1e-6)),
                    "seconds_start_to_last": round(s["last"] - d.ready, 3), "receiver_max_connections": s["maxConcurrent"],
                    "rss_peak_mb": round(sampler.peak, 1)})
        d.stop()
        rec.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    af = next(r for r in rows if r["phase"] == "A" and r["durability"] == "full")
    an = next(r for r in rows if r["phase"] == "A" and r["durability"] == "normal")
    rs = next(r for r in rows if r["phase"] == "RSS")
    b = next(r for r in rows if r["phase"] == "B")
    c = next(r for r in rows if r["phase"] == "C")
    conns = max(af["receiver_max_connections"], an["receiver_max_connections"], c["receiver_max_connections"])
    tail = rs["rss_after_each_round_mb"][-3:]
    checks = [
        ("1,000 jobs completing at once: every webhook out as the jobs finish (last delivery <= 500 ms after the last job)",
         max(af["last_delivery_after_last_job_ms"], an["last_delivery_after_last_job_ms"]) <= 500 and an["delivered"] == messages and af["delivered"] == messages,
         f"{af['last_delivery_after_last_job_ms']} ms / {an['last_delivery_after_last_job_ms']} ms after the last job "
         f"(jobs finished at {af['jobs_per_s']}/s and {an['jobs_per_s']}/s; the renderer and the job commits set that pace)"),
        ("sustained delivery throughput (backlog of 2,000 due at once) >= 1000/s", c["deliveries_per_s"] >= 1000 and c["delivered"] == messages,
         f"{c['deliveries_per_s']}/s"),
        ("bounded per host: receiver saw <= 16 (+2 being replaced) connections", conns <= 18, f"max {conns} (limit: 16 attempts in flight per host)"),
        ("RSS flat once the job cache (4,096 finished jobs) is full: last 3 rounds within 10 MB", max(tail) - min(tail) <= 10,
         f"{rs['rss_after_each_round_mb']} MB"),
        ("receiver down then back: all delivered, none twice", b["delivered"] == messages and b["duplicates"] == 0 and b["failed"] == 0,
         f"{b['delivered']} delivered, {b['duplicates']} duplicates, {b['failed']} failed, {b['seconds_back_to_all_delivered']} s after it came back"),
        ("no duplicates anywhere", af["duplicates"] == 0 and rs["duplicates"] == 0 and c["duplicates"] == 0, str(rs["duplicates"])),
    ]
    print()
    for name, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
    sys.exit(0 if all(ok for _, ok, _ in checks) else 1)


if __name__ == "__main__":
    main()
