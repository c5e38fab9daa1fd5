"""Shared pieces of scripts/fuzz and scripts/stress: find or build atelierd, run one on a temporary socket and data
directory, talk NDJSON JSON-RPC to it over the Unix socket, and check every answer against docs/protocol.md.

Python 3.11 standard library only (asyncio over AF_UNIX), so the tools run wherever the tests run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
KEY_VARS = ("GEMINI_API_KEY", "RUNWARE_API_KEY", "BFL_API_KEY", "SDWEBUI_AUTH")


def log(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# The binary


def locate_daemon(bin_dir: str | None, release: bool, build: bool) -> str:
    """The path of atelierd: in `bin_dir` when given; else built (unless `build` is false) in .build (debug) or
    .build-release (release) and taken from there."""
    if bin_dir:
        path = os.path.join(bin_dir, "atelierd")
        if not os.access(path, os.X_OK):
            raise SystemExit(f"no atelierd in {bin_dir}")
        return path
    args = ["swift", "build", "--product", "atelierd"]
    if release:
        args += ["-c", "release", "--scratch-path", os.path.join(ROOT, ".build-release")]
    if build:
        log("==> " + " ".join(args))
        r = subprocess.run(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            log(r.stdout[-4000:])
            raise SystemExit("building atelierd failed")
    path = subprocess.run(args + ["--show-bin-path"], cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
    path = os.path.join(path, "atelierd")
    if not os.access(path, os.X_OK):
        raise SystemExit(f"atelierd not found at {path} (build it, or pass --bin DIR)")
    return path


# ---------------------------------------------------------------------------------------------------------------
# The daemon


class Daemon:
    """An atelierd on a temporary socket and data directory, with the built-in renderer allowed
    (scripts/demo-routing.json), no provider keys, and everything removed on stop."""

    def __init__(self, binary: str, extra_args: list[str] | None = None, keep: bool = False, label: str = "atl"):
        self.binary = binary
        self.work = tempfile.mkdtemp(prefix=f"{label}-", dir="/tmp")
        self.socket = os.path.join(self.work, "d.sock")
        self.data = os.path.join(self.work, "data")
        self.log_path = os.path.join(self.work, "atelierd.log")
        self.extra_args = extra_args or []
        self.keep = keep
        self.proc: subprocess.Popen | None = None
        self.exit_status: int | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, timeout: float = 60) -> None:
        env = {k: v for k, v in os.environ.items() if k not in KEY_VARS and not k.startswith("ATELIER_")}
        args = [
            self.binary, "--socket", self.socket, "--data-dir", self.data, "--providers", os.path.join(ROOT, "providers"),
            "--routing", os.path.join(ROOT, "scripts", "demo-routing.json"), "--log-level", "warning",
        ] + self.extra_args
        self._log = open(self.log_path, "wb")
        # stdin is a pipe nobody writes: a daemon that reads it would block, not see EOF.
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log, env=env,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"atelierd exited with {self.proc.returncode} at start:\n{self.log_tail()}")
            if os.path.exists(self.socket):
                import socket as _s
                s = _s.socket(_s.AF_UNIX)
                try:
                    s.connect(self.socket)
                    return
                except OSError:
                    pass
                finally:
                    s.close()
            time.sleep(0.02)
        self.stop()
        raise SystemExit(f"atelierd did not listen within {timeout}s:\n{self.log_tail()}")

    def alive(self) -> bool:
        if self.proc is None:
            return False
        if self.proc.poll() is None:
            return True
        self.exit_status = self.proc.returncode
        return False

    def peak_rss_kb(self) -> int | None:
        return peak_rss_kb(self.pid)

    def log_tail(self, n: int = 30) -> str:
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""

    def stop(self, grace: float = 10) -> int | None:
        """SIGTERM, then SIGKILL after `grace` seconds; returns the exit status (negative: killed by that signal)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                log(f"atelierd did not stop within {grace}s of SIGTERM; SIGKILL")
                self.proc.kill()
                self.proc.wait()
            except ProcessLookupError:
                pass
        if self.proc is not None:
            self.exit_status = self.proc.returncode
        if not self.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        return self.exit_status


def peak_rss_kb(pid: int | None) -> int | None:
    """VmHWM (peak resident set) of a process, in KiB, from /proc."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def thread_stacks(pid: int | None, timeout: float = 90) -> str:
    """The daemon's threads, for a stall report: frames in the project's own sources, per thread, via gdb when it
    is installed (empty otherwise)."""
    gdb = shutil.which("gdb")
    if not pid or not gdb:
        return ""
    try:
        out = subprocess.run([gdb, "-p", str(pid), "-batch", "-ex", "thread apply all bt 40"], capture_output=True, text=True,
                             timeout=timeout).stdout
    except (subprocess.TimeoutExpired, OSError):
        return ""
    threads: list[tuple[str, list[str]]] = []
    for line in out.splitlines():
        if line.startswith("Thread "):
            threads.append((line.split("(")[0].strip() + " " + (line.split('"')[1] if '"' in line else ""), []))
        elif line.startswith("#") and threads:
            fn = line.split(" in ", 1)[-1].split(" (")[0] if " in " in line else line.split(" ", 2)[-1].split(" (")[0]
            where = line.rsplit(" at ", 1)[-1] if " at " in line else ""
            threads[-1][1].append(f"{fn[:100]} {where}".rstrip())
    own = lambda f: "/Sources/" in f and "/checkouts/" not in f  # noqa: E731
    keep = []
    for name, frames in threads:
        mine = [f for f in frames if own(f)]
        if mine:
            keep.append(f"    {name}: {frames[0]}")
            keep += [f"      {f}" for f in mine[:8]]
    return "\n".join(keep)


def install_signal_handlers(loop: asyncio.AbstractEventLoop, main_task: asyncio.Task) -> None:
    """Ctrl-C / SIGTERM cancel the main task, so that `finally` blocks stop the daemon."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main_task.cancel)


# ---------------------------------------------------------------------------------------------------------------
# Checking answers


class Violation(Exception):
    """An answer that breaks the protocol."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    d: dict = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate member {k!r}")
        d[k] = v
    return d


def _no_constants(name: str) -> Any:
    raise ValueError(f"non-JSON constant {name}")


def strict_loads(raw: bytes) -> Any:
    """RFC 8259 parsing: UTF-8 only, no NaN/Infinity, no duplicate members."""
    text = raw.decode("utf-8")
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


def check_error(err: Any) -> tuple[int, str]:
    """Checks an error object (`code` integer, `message` string, `data.code` snake_case string; input errors name
    `data.field`); returns (code, data.code)."""
    if not isinstance(err, dict):
        raise Violation("error is not an object")
    code, msg, data = err.get("code"), err.get("message"), err.get("data")
    if not isinstance(code, int) or isinstance(code, bool):
        raise Violation("error.code is not an integer")
    if not isinstance(msg, str):
        raise Violation("error.message is not a string")
    if not isinstance(data, dict) or not isinstance(data.get("code"), str) or not data["code"]:
        raise Violation(f"error {code} has no data.code")
    extra = set(err) - {"code", "message", "data"}
    if extra:
        raise Violation(f"error has unexpected members {sorted(extra)}")
    if code == -32602 and not isinstance(data.get("field"), str):
        raise Violation(f"invalid-params error {data['code']} has no data.field")
    return code, data["code"]


def check_response(obj: Any) -> None:
    """Checks one response object (not a notification)."""
    if not isinstance(obj, dict):
        raise Violation("a response is not an object")
    if obj.get("jsonrpc") != "2.0":
        raise Violation("jsonrpc is not \"2.0\"")
    if "id" not in obj:
        raise Violation("response without id")
    rid = obj["id"]
    if not (rid is None or isinstance(rid, str) or (isinstance(rid, int) and not isinstance(rid, bool))):
        raise Violation("id is not a string, integer or null")
    if ("result" in obj) == ("error" in obj):
        raise Violation("a response must have exactly one of result and error")
    extra = set(obj) - {"jsonrpc", "id", "result", "error"}
    if extra:
        raise Violation(f"response has unexpected members {sorted(extra)}")
    if "error" in obj:
        check_error(obj["error"])


def is_notification(obj: Any) -> bool:
    return isinstance(obj, dict) and "method" in obj and "id" not in obj


def check_notification(obj: dict) -> None:
    if obj.get("jsonrpc") != "2.0" or obj.get("method") != "job.event" or not isinstance(obj.get("params"), dict):
        raise Violation("server notification is not a job.event")


# ---------------------------------------------------------------------------------------------------------------
# Connections


class Connection:
    """One NDJSON connection. A reader task hands every line to `on_line(conn, raw_line)`; `closed` is set when
    the server closes the connection (or it breaks)."""

    def __init__(self, index: int, on_line, limit: int = 1 << 28):
        self.index = index
        self.on_line = on_line
        self.limit = limit
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.closed = asyncio.Event()
        self.close_reason = ""
        self._task: asyncio.Task | None = None

    async def open(self, socket_path: str, timeout: float = 10) -> None:
        self.reader, self.writer = await asyncio.wait_for(asyncio.open_unix_connection(socket_path, limit=self.limit), timeout)
        self._task = asyncio.create_task(self._read_loop())

    async def _read_loop(self) -> None:
        assert self.reader is not None
        try:
            while True:
                line = await self.reader.readline()
                if not line:
                    self.close_reason = "eof"
                    break
                if not line.endswith(b"\n"):
                    self.close_reason = "eof inside an answer"
                    self.on_line(self, line, partial=True)
                    break
                self.on_line(self, line[:-1], partial=False)
        except (ConnectionError, OSError) as e:
            self.close_reason = f"{type(e).__name__}"
        except asyncio.LimitOverrunError:
            self.close_reason = "answer longer than the reader limit"
        except ValueError as e:  # an over-long line
            self.close_reason = f"reader: {e}"
        finally:
            self.closed.set()

    async def send(self, data: bytes, timeout: float) -> bool:
        """Writes `data`; False when the connection is gone. Raises TimeoutError when the server stops reading."""
        if self.closed.is_set() or self.writer is None:
            return False
        try:
            self.writer.write(data)
            await asyncio.wait_for(self.writer.drain(), timeout)
            return True
        except (ConnectionError, OSError):
            return False

    async def close(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception:
                pass
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except BaseException:
                pass
