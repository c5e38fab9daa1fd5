#!/usr/bin/env python3
"""Atelier vs the LiteLLM proxy, side by side, on the same fake Gemini upstream (loopback only).

LiteLLM is driven by wrk (POST /v1/images/generations, model gemini-img-<size>, which the proxy turns into a Gemini
generateContent call); atelierd by the project's own client (`atelier-bench jobs`: job.submit pinned to a Gemini
model, then job.wait), both at the same concurrency. Sizes `openai-10kb`/`openai-2mb` use the OpenAI Images API
shape instead (LiteLLM's img-<size>, Atelier's OpenAI provider; the fake answers b64_json). CPU per request/job is the server's own utime+stime from
/proc/<pid>/stat (the whole process tree for LiteLLM) divided by the requests/jobs completed in the window.
Everything started here is stopped by PID at the end. Prints one table; writes every figure to --out as JSON.
Called by scripts/bench-vs-litellm, which installs LiteLLM and wrk and builds the release binaries first.
"""
import argparse
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HZ = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"
STARTED = []


def proc_jiffies(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError):
        return 0


def tree(pid):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    kids.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(kids.get(p, []))
    return out


def rss_mb(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                total += next((int(l.split()[1]) for l in f if l.startswith("VmRSS:")), 0)
        except OSError:
            pass
    return total / 1024.0


def tree_jiffies(pid):
    return sum(proc_jiffies(p) for p in tree(pid))


def spawn(cmd, log, env=None, cpus=None):
    if cpus is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", cpus] + cmd
    p = subprocess.Popen(cmd, stdout=open(log, "ab"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    STARTED.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            for q in reversed(tree(p.pid)):
                try:
                    os.kill(q, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.wait(5)
    if p in STARTED:
        STARTED.remove(p)


def http(method, url, body=None, headers=None, timeout=30.0):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def wait_http(url, seconds, proc):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited ({proc.returncode}) before {url} answered")
        try:
            if http("GET", url, timeout=2)[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {seconds} s")


def idle(pids, max_wait=30.0):
    """Wait until the servers stop using CPU (requests abandoned by the last run must not bleed into the next)."""
    end = time.monotonic() + max_wait
    while time.monotonic() < end:
        j0 = sum(tree_jiffies(p) for p in pids)
        time.sleep(0.5)
        if (sum(tree_jiffies(p) for p in pids) - j0) / HZ / 0.5 < 0.05:
            return


def run_wrk(url, path, body, auth, conns, seconds, cpus):
    env = dict(os.environ, WRK_BODY=body, WRK_PATH=path, WRK_AUTH=auth)
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{max(1, int(round(seconds)))}s", "--timeout", "30s", "-s", os.path.join(HERE, "post.lua"), url]
    if cpus is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", cpus] + cmd
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)


def finish_wrk(p):
    out, _ = p.communicate(timeout=300)
    m = re.search(r"WRKJSON (\{.*\})", out)
    if not m:
        raise RuntimeError("wrk produced no stats:\n" + out)
    d = json.loads(m.group(1))
    d["errors"] = d["non2xx"] + d["connect_err"] + d["read_err"] + d["write_err"] + d["timeout"]
    return d


def measure_litellm(px, base, tag, auth, a, cpus_client):
    body = json.dumps({"model": models(tag)[0], "prompt": "a red square", "n": 1, "size": "1024x1024",
                       "response_format": "b64_json"})
    idle([px.pid])
    finish_wrk(run_wrk(base, "/v1/images/generations", body, auth, a.connections, a.warmup, cpus_client))
    idle([px.pid])
    peak = [0.0]
    stop_evt = threading.Event()

    def sampler():
        while not stop_evt.is_set():
            peak[0] = max(peak[0], rss_mb(px.pid))
            stop_evt.wait(0.1)

    j0, t0 = tree_jiffies(px.pid), time.monotonic()
    p = run_wrk(base, "/v1/images/generations", body, auth, a.connections, a.duration, cpus_client)
    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    res = finish_wrk(p)
    j1, secs = tree_jiffies(px.pid), time.monotonic() - t0
    stop_evt.set()
    th.join()
    n = max(1, res["requests"])
    return {"label": "litellm", "size": tag, "requests": res["requests"], "errors": res["errors"],
            "per_s": round(res["requests"] / (res["duration_us"] / 1e6), 1),
            "cpu_ms": round((j1 - j0) * 1000.0 / HZ / n, 3), "cpu_cores": round((j1 - j0) / HZ / secs, 3),
            "rss_mb_peak": round(peak[0], 1), "p50_ms": round(res["lat_p50_us"] / 1000, 1),
            "p99_ms": round(res["lat_p99_us"] / 1000, 1)}


def measure_atelier(bench, sock, pid, model, tag, a, cpus_client):
    idle([pid])
    cmd = [bench, "jobs", "--socket", sock, "--pid", str(pid), "--model", model, "--connections", str(a.connections),
           "--warmup", str(a.warmup), "--duration", str(a.duration)]
    if tag.endswith("-one"):
        cmd.append("--one-request")
    if cpus_client is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", cpus_client] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=a.duration + a.warmup + 300)
    line = next((l for l in out.stdout.splitlines() if l.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"atelier-bench printed nothing: {out.stderr[-2000:]}")
    r = json.loads(line)
    return {"label": "atelier", "size": tag, "requests": r["jobs"], "errors": r["failures"], "per_s": r["jobs_per_s"],
            "cpu_ms": r["cpu_ms_per_job"], "cpu_cores": r["cpu_cores"], "rss_mb_peak": r["rss_mb_peak"],
            "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "first_failure": r.get("first_failure")}


def bench_providers(work, ports):
    """A providers directory: the shipped files, plus one Gemini provider per fake upstream with bench models."""
    d = os.path.join(work, "providers")
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(os.path.join(ROOT, "providers")):
        if name.endswith(".json"):
            shutil.copy(os.path.join(ROOT, "providers", name), d)
    with open(os.path.join(ROOT, "providers", "gemini.json")) as f:
        gem = json.load(f)
    template = next(m for m in gem["models"] if m["id"] == "gemini-2.5-flash-image")
    for i, (port, tags) in enumerate(ports):
        p = dict(gem)
        p.update(id=f"benchgemini{i}", baseURL=f"http://{HOST}:{port}", apiKeyEnv="BENCH_GEMINI_KEY", concurrency=64,
                 retry={"maxAttempts": 1, "baseDelaySeconds": 1, "maxDelaySeconds": 1})
        p["displayName"] = f"Fake Gemini upstream on port {port}"
        p["models"] = []
        for tag, upstream in tags:
            m = json.loads(json.dumps(template))
            m.update(id=f"bench-gemini-{tag}", upstreamId=f"gemini-fake-image-{upstream}", displayName=f"bench {tag}")
            p["models"].append(m)
        with open(os.path.join(d, f"benchgemini{i}.json"), "w") as f:
            json.dump(p, f, indent=1)
    # The OpenAI Images API shape on the first fake upstream (POST /v1/images/generations, b64_json).
    with open(os.path.join(ROOT, "providers", "openai.json")) as f:
        oai = json.load(f)
    p = dict(oai)
    p.update(id="benchopenai", baseURL=f"http://{HOST}:{ports[0][0]}", apiKeyEnv="BENCH_GEMINI_KEY", concurrency=64,
             retry={"maxAttempts": 1, "baseDelaySeconds": 1, "maxDelaySeconds": 1}, displayName="Fake OpenAI Images API")
    p["models"] = []
    for size in ("10kb", "2mb"):
        m = json.loads(json.dumps(oai["models"][0]))
        m.update(id=f"bench-openai-{size}", upstreamId=f"fake-image-{size}", displayName=f"bench openai {size}")
        p["models"].append(m)
    with open(os.path.join(d, "benchopenai.json"), "w") as f:
        json.dump(p, f, indent=1)
    return d


def models(tag):
    """(LiteLLM model, Atelier model) for a size tag: `10kb`/`2mb` Gemini-shaped, `openai-10kb`/`openai-2mb` OpenAI;
    a `-one` suffix (`10kb-one`) has Atelier's client make one request per job (job.submit with waitSeconds)."""
    tag = tag.removesuffix("-one")
    if tag.startswith("openai-"):
        size = tag[len("openai-"):]
        return f"img-{size}", f"bench-openai-{size}"
    return f"gemini-img-{tag}", f"bench-gemini-{tag}"


def summarize(rows):
    """One row per (server, size): the median of each figure over the rounds, the CPU range, the highest RSS."""
    out = {}
    for key in sorted({(r["label"], r["size"]) for r in rows}):
        rs = [r for r in rows if (r["label"], r["size"]) == key]
        med = lambda k: round(statistics.median(r[k] for r in rs), 3)
        cpus = [r["cpu_ms"] for r in rs]
        out[key] = {"label": key[0], "size": key[1], "rounds": len(rs), "cpu_ms": med("cpu_ms"), "cpu_ms_min": min(cpus),
                    "cpu_ms_max": max(cpus), "per_s": round(statistics.median(r["per_s"] for r in rs), 1),
                    "rss_mb_peak": max(r["rss_mb_peak"] for r in rs), "errors": sum(r["errors"] for r in rs)}
    return out


def table(rows, targets):
    by = summarize(rows)
    rounds = max((v["rounds"] for v in by.values()), default=0)
    cpu_head = "CPU/req" if rounds <= 1 else f"CPU/req (median of {rounds}; range)"
    out = ["", f"| image | LiteLLM {cpu_head} | Atelier {cpu_head.replace('req', 'job')} | LiteLLM ÷ Atelier | LiteLLM req/s "
           "| Atelier jobs/s | LiteLLM RSS peak | Atelier RSS peak | target (Atelier CPU/job) |",
           "|---|---|---|---|---|---|---|---|---|"]
    order = ("10kb", "10kb-one", "2mb", "2mb-one", "openai-10kb", "openai-2mb", "8mb")
    measured = sorted({k[1] for k in by}, key=lambda s: (order.index(s) if s in order else len(order), s))
    for size in measured:
        l, t = by.get(("litellm", size)), by.get(("atelier", size))
        f = lambda r, k, unit="": f"{r[k]}{unit}" if r else "–"

        def cpu(r):
            if not r:
                return "–"
            return f"{r['cpu_ms']} ms" + ("" if r["rounds"] <= 1 else f" ({r['cpu_ms_min']}–{r['cpu_ms_max']})")
        ratio = f"{l['cpu_ms'] / t['cpu_ms']:.1f}×" if l and t and t["cpu_ms"] > 0 else "–"
        tgt = targets.get(size)
        verdict = ""
        if tgt and t:
            verdict = f"≤ {tgt} ms: {'met' if t['cpu_ms'] <= tgt else 'NOT met'}"
        out.append(f"| {size} | {cpu(l)} | {cpu(t)} | {ratio} | {f(l, 'per_s')} | "
                   f"{f(t, 'per_s')} | {f(l, 'rss_mb_peak', ' MB')} | {f(t, 'rss_mb_peak', ' MB')} | {verdict} |")
    errs = [f"{v['label']}/{v['size']}: {v['errors']} errors" for v in by.values() if v["errors"]]
    if errs:
        out.append("")
        out.append("ERRORS: " + "; ".join(errs))
    return "\n".join(out)


def file_create_us(directory, files=300, size=10_000):
    """CPU microseconds to create and write one small file in `directory` (the data directory's file system).

    The files stay (removing them would free inodes, which makes the next creations dearer on ext4 without a
    journal: the effect this probe looks for). A settled disk here takes 25-50 us; minutes after many files were
    deleted, 400-800 us, and every image job pays it once."""
    os.makedirs(directory, exist_ok=True)
    payload = b"x" * size
    t0 = time.process_time()
    for i in range(files):
        fd = os.open(os.path.join(directory, f"probe-{time.monotonic_ns()}-{i}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, payload)
        os.close(fd)
    return (time.process_time() - t0) / files * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="directory with release atelierd and atelier-bench")
    ap.add_argument("--venv", required=True, help="virtualenv holding litellm[proxy]")
    ap.add_argument("--work", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--sizes", default="10kb,2mb")
    ap.add_argument("--memory-8mb", type=int, default=1, help="also run Atelier with 8 MiB results (RSS target)")
    ap.add_argument("--skip-litellm", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of every run, LiteLLM and Atelier alternating (the table gives medians and ranges)")
    ap.add_argument("--pin", type=int, default=1, help="1: servers on CPU 1, fake upstream and clients on CPU 0")
    ap.add_argument("--upstream-port", type=int, default=18080)
    ap.add_argument("--proxy-port", type=int, default=4000)
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="atelier-vs-litellm.")
    os.makedirs(work, exist_ok=True)
    out_path = a.out or os.path.join(work, "results.json")
    two = (os.cpu_count() or 1) >= 2 and a.pin
    cpu_client, cpu_server = ("0", "1") if two else (None, None)
    py = os.path.join(a.venv, "bin", "python")
    sizes = [s for s in a.sizes.split(",") if s]
    rows = []
    try:
        up = spawn([py, os.path.join(HERE, "fake_upstream.py"), "--port", str(a.upstream_port)],
                   os.path.join(work, "fake_upstream.log"), cpus=cpu_client)
        wait_http(f"http://{HOST}:{a.upstream_port}/health", 60, up)
        ports = [(a.upstream_port, [(s, s) for s in ("10kb", "2mb")])]
        if a.memory_8mb:
            up8 = spawn([py, os.path.join(HERE, "fake_upstream.py"), "--port", str(a.upstream_port + 1),
                         "--large-b64", str(8 << 20)], os.path.join(work, "fake_upstream_8mb.log"), cpus=cpu_client)
            wait_http(f"http://{HOST}:{a.upstream_port + 1}/health", 60, up8)
            ports.append((a.upstream_port + 1, [("8mb", "2mb")]))

        # ---- both servers, started once and kept idle while the other is measured
        px = None
        if not a.skip_litellm:
            key = "sk-" + secrets.token_hex(32)
            env = dict(os.environ, LITELLM_LOG="ERROR", LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_MASTER_KEY=key,
                       LITELLM_MODE="PRODUCTION", FAKE_OPENAI_API_BASE=f"http://{HOST}:{a.upstream_port}/v1",
                       FAKE_GEMINI_API_BASE=f"http://{HOST}:{a.upstream_port}/v1beta", PYTHONUNBUFFERED="1")
            px = spawn([os.path.join(a.venv, "bin", "litellm"), "--config", os.path.join(HERE, "litellm-config.yaml"),
                        "--host", HOST, "--port", str(a.proxy_port), "--num_workers", "1", "--telemetry", "False"],
                       os.path.join(work, "litellm.log"), env=env, cpus=cpu_server)
            wait_http(f"http://{HOST}:{a.proxy_port}/health/liveliness", 300, px)
        data, run = os.path.join(work, "data"), os.path.join(work, "run")
        sock = os.path.join(run, "d.sock")
        env = dict(os.environ, BENCH_GEMINI_KEY="bench-key-not-a-secret")
        d = spawn([os.path.join(a.bin, "atelierd"), "--socket", sock, "--data-dir", data,
                   "--providers", bench_providers(work, ports), "--routing", os.path.join(ROOT, "scripts", "demo-routing.json"),
                   "--log-level", "warning"], os.path.join(work, "atelierd.log"), env=env, cpus=cpu_server)
        for _ in range(600):
            if os.path.exists(sock):
                break
            if d.poll() is not None:
                raise RuntimeError("atelierd exited: " + open(os.path.join(work, "atelierd.log")).read()[-2000:])
            time.sleep(0.05)
        bench = os.path.join(a.bin, "atelier-bench")

        # ---- the disk: creating files gets far dearer for minutes after a mass deletion (see file_create_us)
        probe_us = file_create_us(os.path.join(work, "probe"))
        print(f"[bench] creating and writing a 10 KB file on the data directory's disk: {probe_us:.0f} us"
              + ("" if probe_us < 150 else " -- WARNING: the disk is slow to create files (many were deleted "
                 "recently?); Atelier's figures will be high: wait a few minutes and run again"), flush=True)

        # ---- rounds: every size on LiteLLM then on Atelier, so slow drifts of the machine hit both alike
        for n in range(1, max(1, a.rounds) + 1):
            for tag in sizes:
                if px is not None:
                    r = measure_litellm(px, f"http://{HOST}:{a.proxy_port}", tag, key, a, cpu_client)
                    r["round"] = n
                    print(f"[bench] {json.dumps(r)}", flush=True)
                    rows.append(r)
                r = measure_atelier(bench, sock, d.pid, models(tag)[1], tag, a, cpu_client)
                r["round"] = n
                print(f"[bench] {json.dumps(r)}", flush=True)
                rows.append(r)
        if px is not None:
            stop(px)
        if a.memory_8mb:
            r = measure_atelier(bench, sock, d.pid, "bench-gemini-8mb", "8mb", a, cpu_client)
            print(f"[bench] {json.dumps(r)}", flush=True)
            rows.append(r)
        stop(d)
    finally:
        for p in list(reversed(STARTED)):
            stop(p)
        with open(out_path, "w") as f:
            json.dump({"args": vars(a), "rows": rows, "summary": list(summarize(rows).values()), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, f, indent=1)

    print(table(rows, {"10kb": 0.2, "2mb": 2.0, "openai-10kb": 0.2, "openai-2mb": 2.0, "10kb-one": 0.2, "2mb-one": 2.0}))
    mem = next((r for r in rows if r["label"] == "atelier" and r["size"] == "8mb"), None)
    if mem:
        print(f"\nmemory: {a.connections} concurrent 8 MiB-base64 Gemini results: atelierd RSS peak {mem['rss_mb_peak']} MB "
              f"(target < 200 MB: {'met' if mem['rss_mb_peak'] < 200 else 'NOT met'})")
    print(f"\nCPU = the server's own utime+stime (/proc/<pid>/stat) ÷ requests or jobs completed; {a.connections} "
          f"connections, {a.duration:g} s per run after {a.warmup:g} s warm-up, {max(1, a.rounds)} round(s) with the "
          f"two servers alternating; results in {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
