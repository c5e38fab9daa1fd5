"""Frame generation for scripts/fuzz: valid requests of every method, and mutations of them (structural and
byte-level), all drawn from one seeded random generator so that a run is reproducible with --seed.

Hand-written on purpose: a grammar-aware mutator of JSON-RPC frames is ~300 lines, and no standard-library or
widely packaged fuzzer targets a live NDJSON socket server without instrumenting it.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from typing import Any

RAW = "\u0001RAW{}\u0001"  # a placeholder member value replaced by raw JSON text after serialisation
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # frames with these are not tracked (parsers differ on lone ones)
INVALID_UTF8 = [b"\xff", b"\xfe", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80",
                b"\xbf\xbf", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xf8\x88\x80\x80\x80"]
RAW_NUMBERS = ["1e309", "-1e400", "1E+2", "0.0e0", "123456789012345678901234567890123456789", "-0", "0.000000000000000000001",
               "18446744073709551616", "9223372036854775808", "-9223372036854775809", "1" + "0" * 400, "2.5e-400"]
INTS = [0, -1, 1, 2, 7, 63, 64, 127, 128, 255, 256, 1000, 1001, 1024, 3600, 3601, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1,
        -(2**63), 10**30]
FLOATS = [0.5, -0.0, 1e308, 5e-324, 3.14, 1.0, 64.0, 0.001]
PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
ACTIVE_METHODS = ("job.wait", "workflow.wait", "job.reproduce")


def uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class FrameFactory:
    """Builds frames. `special_file` is a path the daemon may be asked to read as a reference image (a FIFO that
    nobody writes, so reading it blocks); None leaves such paths out."""

    def __init__(self, rng: random.Random, max_frame_bytes: int, special_file: str | None):
        self.rng = rng
        self.max_frame = max_frame_bytes
        self.tasks = [uuid4(rng) for _ in range(64)]
        self.workflows = [uuid4(rng) for _ in range(16)]
        self.images = [uuid4(rng) for _ in range(8)]
        self.next_id = 0
        self.strings = ["", " ", "a", "auto", "local-render", "gemini-3-pro-image", "\u0000", "\u00e9\u6f22\U0001F600", "x" * 1000,
                        "../../../../etc/passwd", "/etc/passwd", "/dev/zero", "/proc/self/mem", "file:///dev/zero",
                        "http://127.0.0.1:9/x.png", "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/a.png",
                        "data:image/png;base64,iVBORw0KGgo=", "AAAA", "00000000-0000-4000-8000-000000000000", "16:9", "3:4",
                        "1:0", "0:0", "4K", "512", "PNG", "JPG", "WEBP", "GIF", "queued", "running", "succeeded", "failed",
                        "cancelled", "model", "provider", "arm", "tag:fuzz", "tag:", "msg_00000000000000000000000000000000",
                        "upl_x", "client", "first", "ideation", "final", "-1", "9223372036854775807", "\r\n", "\\", "\"",
                        "\u2028", "%s%n%x", "' OR 1=1 --"]
        # 1x1 PNG; a file that is not an image; devices; a closed loopback port
        self.references = [PNG_1X1, "data:image/png;base64," + PNG_1X1, "/etc/hostname", "/dev/zero", "/dev/null", "/proc/self/status",
                           "http://127.0.0.1:9/ref.png", "file:///etc/hostname", "not a path"]
        if special_file:
            self.strings += [special_file, "file://" + special_file]
            self.references += [special_file, "file://" + special_file]
        self._cache: dict[Any, bytes] = {}
        self.rare_counts: dict[str, int] = {}

    # -- ids and values ------------------------------------------------------------------------------------------

    def fresh_id(self) -> Any:
        self.next_id += 1
        return self.next_id if self.next_id % 2 else f"q{self.next_id}"

    def any_value(self, depth: int = 0) -> Any:
        r = self.rng
        k = r.randrange(10 if depth < 2 else 7)
        if k == 0:
            return r.choice(INTS)
        if k == 1:
            return r.choice(FLOATS)
        if k in (2, 3):
            return r.choice(self.strings + self.tasks[:4])
        if k == 4:
            return r.choice([None, True, False])
        if k == 5:
            return RAW.format(r.choice(RAW_NUMBERS))
        if k == 6:
            return "x" * r.choice([0, 1, 100, 1000, 10_000] * 4 + [100_000])
        if k == 7:
            return [self.any_value(depth + 1) for _ in range(r.randrange(4))]
        if k == 8:
            return {r.choice(["a", "width", "taskUUID", "", "positivePrompt"]): self.any_value(depth + 1) for _ in range(r.randrange(3))}
        return []

    def task(self, i: int | None = None) -> dict:
        """A valid local-render task (pool index i: always the same task, so resubmission is idempotent)."""
        r = self.rng
        i = r.randrange(len(self.tasks)) if i is None else i
        t: dict[str, Any] = {"taskUUID": self.tasks[i], "positivePrompt": f"fuzz task {i}", "model": "local-render",
                             "width": 64, "height": 64, "seed": i}
        if i % 3 == 1:
            t["outputFormat"] = "JPG"
            t["requirements"] = {"reproducible": True}
        if i % 4 == 2:
            t.update(tags={"fuzz": str(i)}, phase="ideation", negativePrompt="blur", numberResults=2)
        if i % 8 == 5 and r.random() < 0.5:  # a reference image: a new task each time (no taskUUID)
            del t["taskUUID"]
            t["referenceImages"] = [r.choice(self.references)]
        return t

    def base(self) -> tuple[str, dict | None]:
        """A valid request's method and params."""
        r = self.rng
        m = r.choices(METHODS, WEIGHTS)[0]
        task, wf = r.choice(self.tasks), r.choice(self.workflows)
        p: dict | None
        if m == "job.submit":
            p = self.task()
        elif m in ("job.get", "job.cancel"):
            p = {"taskUUID": task}
        elif m == "job.wait":
            p = {"taskUUID": task, "timeoutSeconds": r.choice([0, 0.5, 1])}
        elif m == "job.list":
            p = r.choice([{}, {"limit": r.choice([1, 5, 50])}, {"status": r.choice(["succeeded", "queued", "failed"]), "limit": 10},
                          {"cursor": str(r.randrange(1, 500)), "limit": 3}])
        elif m in ("job.subscribe", "job.unsubscribe"):
            p = r.choice([{}, {"taskUUID": task}])
        elif m == "job.recipe":
            p = r.choice([{"taskUUID": task}, {"taskUUID": task, "imageUUID": r.choice(self.images)}])
        elif m == "job.reproduce":
            p = {"taskUUID": task, "timeoutSeconds": 5}
        elif m == "workflow.submit":
            i = r.randrange(len(self.workflows))
            p = {"workflowUUID": self.workflows[i], "positivePrompt": f"fuzz workflow {i}", "width": 64, "height": 64,
                 "ideation": {"count": 2, "model": "local-render"}, "selection": {"mode": "first"},
                 "final": {"seed": i, "model": "local-render"}}
        elif m in ("workflow.get", "workflow.cancel"):
            p = {"workflowUUID": wf}
        elif m == "workflow.wait":
            p = {"workflowUUID": wf, "timeoutSeconds": r.choice([0, 1])}
        elif m == "workflow.select":
            p = {"workflowUUID": wf, "imageUUID": r.choice(self.images)}
        elif m == "workflow.list":
            p = r.choice([{}, {"state": r.choice(["succeeded", "ideating", "awaiting_selection"]), "limit": 5}])
        elif m == "route.explain":
            p = {"task": {"positivePrompt": "a poster", "model": r.choice(["auto", "local-render"]),
                          "requirements": {"reproducible": r.choice([True, False])}}}
        elif m == "stats.get":
            p = r.choice([{}, {"by": r.choice(["model", "provider", "arm", "tag:fuzz"])}, {"sinceHours": r.choice([1, 24, 0.5])}])
        elif m == "delivery.list":
            p = r.choice([{}, {"status": "failed", "limit": 5}, {"taskUUID": task}, {"kind": "webhook"}])
        elif m == "delivery.get":
            p = {"id": r.choice(["msg_00000000000000000000000000000000", "upl_00000000000000000000000000000000"])}
        elif m == "delivery.retry":
            p = r.choice([{"id": "msg_00000000000000000000000000000000"}, {"taskUUID": task}])
        elif m == "models.verify":
            p = r.choice([{}, {"providers": ["local"]}])
        else:  # models.list, daemon.health, config.reload, webhook.secret: no params
            p = r.choice([None, {}])
        return m, p

    # -- frames ----------------------------------------------------------------------------------------------------

    @staticmethod
    def envelope(m: Any, p: Any, rid: Any) -> dict:
        o: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": m}
        if p is not None:
            o["params"] = p
        return o

    @staticmethod
    def dumps(o: Any, raws: list[str] | None = None) -> bytes:
        s = json.dumps(o, ensure_ascii=False, separators=(",", ":"))
        if "\\u0001RAW" in s:
            s = re.sub(r'"\\u0001RAW(.*?)\\u0001"', lambda mm: json.loads('"' + mm.group(1) + '"'), s)
        return s.encode("utf-8", "surrogatepass")

    def valid(self) -> bytes:
        m, p = self.base()
        return self.dumps(self.envelope(m, p, self.fresh_id()))

    def structural(self) -> bytes:
        """A valid request with 1–3 changes to its tree (values, types, members, id, method, params)."""
        r = self.rng
        m, p = self.base()
        o = self.envelope(m, p, self.fresh_id())
        raw_tail: tuple[str, bytes] | None = None
        for _ in range(r.randrange(1, 4)):
            target = o
            if isinstance(o.get("params"), dict) and r.random() < 0.75:
                target = o["params"]
                # sometimes go one level deeper (task, ideation, final, requirements…)
                inner = [v for v in target.values() if isinstance(v, dict)]
                if inner and r.random() < 0.4:
                    target = r.choice(inner)
            keys = list(target)
            op = r.randrange(9)
            if op == 0 and keys:  # drop a member
                del target[r.choice(keys)]
            elif op == 1:  # an unknown member
                target[r.choice(["positive_prompt", "extra", "Width", "__proto__", "", "\u0000", "taskuuid"])] = self.any_value()
            elif op in (2, 3, 4) and keys:  # another value / wrong type
                target[r.choice(keys)] = self.any_value()
            elif op == 5:  # the id
                o["id"] = r.choice([None, 0, -1, 1.5, True, [], {}, "", 2**63, RAW.format("1e400"), "\u00e9"])
                if r.random() < 0.3:
                    del o["id"]
            elif op == 6:  # the method
                o["method"] = r.choice([m.upper(), m + " ", "", "job", "job.", ".submit", "rpc.discover", 1, None, ["job.get"], m * 50])
            elif op == 7:  # params of another shape
                o["params"] = r.choice([[], [1, 2], "x", 1, None, True, [o.get("params")]])
            else:  # a duplicate member, written as raw text at the end of the object it belongs to
                k = r.choice(keys) if keys else "taskUUID"
                dup = (json.dumps(k) + ":").encode() + self.dumps(self.any_value(1))
                raw_tail = ("P" if target is not o else "E", dup)
        b = self.dumps(o)
        if raw_tail:
            where, dup = raw_tail
            i = b.find(b'"params":{')
            if where == "E" or not isinstance(o.get("params"), dict) or i < 0:
                b = b[:-1] + (b"," if len(b) > 2 else b"") + dup + b"}"
            else:
                i += len(b'"params":{')
                b = b[:i] + dup + (b"," if b[i:i + 1] != b"}" else b"") + b[i:]
        return b

    def bytewise(self) -> bytes:
        """A valid request with 1–4 byte-level changes (flips, truncation, invalid UTF-8, insertions, deletions)."""
        r = self.rng
        b = bytearray(self.valid())
        for _ in range(r.randrange(1, 5)):
            if not b:
                b = bytearray(b"{")
            n = len(b)
            op = r.randrange(9)
            pos = r.randrange(n)
            if op == 0:
                b[pos] ^= 1 << r.randrange(8)
            elif op == 1:
                b[pos] = r.randrange(256)
            elif op == 2:
                b[pos:pos] = bytes(r.randrange(256) for _ in range(r.randrange(1, 9)))
            elif op == 3:
                del b[pos:pos + r.randrange(1, 16)]
            elif op == 4:
                del b[pos:]
            elif op == 5:
                b[pos:pos] = r.choice(INVALID_UTF8)
            elif op == 6:
                end = min(n, pos + r.randrange(1, 32))
                b[pos:pos] = b[pos:end] * r.randrange(1, 8)
            elif op == 7:
                b[pos:pos] = r.choice([b"\r", b"\t", b" ", b"\x00", b"\\", b"\"", b"{", b"}", b"[", b"]", b",", b":"])
            else:
                b[pos:pos + 1] = b"\\u" + r.choice([b"d800", b"dc00", b"0000", b"ZZZZ", b"12", b"ffff"])
        return bytes(b).replace(b"\n", b" ") if r.random() < 0.9 else bytes(b)

    def batch(self) -> bytes:
        r = self.rng
        n = r.choice([0, 1, 2, 3, 5, 8, 20])
        items = []
        for _ in range(n):
            k = r.randrange(6)
            if k < 3:
                items.append(self.valid())
            elif k == 3:
                items.append(self.structural())
            elif k == 4:
                m, p = self.base()
                items.append(self.dumps({"jsonrpc": "2.0", "method": m, **({"params": p} if p is not None else {})}))
            else:
                items.append(self.dumps(r.choice([1, "x", None, [], [1], {}, {"jsonrpc": "2.0"}])))
        return b"[" + b",".join(items) + b"]"

    def _cached(self, key: Any, make) -> bytes:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def many_keys(self, n: int, duplicate_last: bool) -> bytes:
        def make() -> bytes:
            members = ",".join(f'"k{i}":{i}' for i in range(n))
            if duplicate_last:
                members += ',"k0":0'
            return b'{"jsonrpc":"2.0","id":"KEYS","method":"job.get","params":{' + members.encode() + b"}}"
        return self._cached(("keys", n, duplicate_last), make).replace(b'"KEYS"', json.dumps(self.fresh_id()).encode(), 1)

    def nested(self, depth: int, where: str) -> bytes:
        def make() -> bytes:
            inner = (b"[" * depth + b"]" * depth) if depth % 2 else (b'{"a":' * depth + b"1" + b"}" * depth)
            if where == "top":
                return inner
            return b'{"jsonrpc":"2.0","id":"NEST","method":"job.submit","params":{"positivePrompt":"x","tags":' + inner + b"}}"
        return self._cached(("nest", depth, where), make).replace(b'"NEST"', json.dumps(self.fresh_id()).encode(), 1)

    def sized(self, size: int) -> bytes:
        """A valid daemon.health request padded with whitespace to exactly `size` bytes (before the newline)."""
        head = self.dumps({"jsonrpc": "2.0", "id": self.fresh_id(), "method": "daemon.health"})
        return head + b" " * max(0, size - len(head))

    def special(self) -> bytes:
        r = self.rng
        k = r.randrange(12)
        if k == 0:
            return self.nested(r.choice([2, 127, 128, 129, 130, 1000, 100_001]), r.choice(["top", "params"]))
        if k == 1:
            return self.many_keys(r.choice([10, 1000, 5000]), r.random() < 0.5)
        if k == 2:
            return r.choice([b"", b" ", b"\t", b"\r", b"   \r"])
        if k == 3:
            return r.choice([b"1", b'"x"', b"true", b"null", b"[]", b"{}", b"[[]]", b"[{}]", b'{"jsonrpc":"2.0"}', b"-", b"0x10", b"NaN",
                             b"Infinity", b"\xef\xbb\xbf{}", b"{}{}", b"{} x", b"'single'", b"/*c*/{}"])
        if k == 4:
            return bytes(r.randrange(256) for _ in range(r.randrange(1, 64))).replace(b"\n", b"")
        if k == 5:
            m, p = self.base()
            return self.dumps(self.envelope(m, p, self.fresh_id())).replace(b'"2.0"', r.choice([b'"1.0"', b"2.0", b"2", b"null"]), 1)
        if k == 6:
            return r.choice(INVALID_UTF8) + self.valid()
        if k == 7:
            m, p = self.base()
            o = self.envelope(m, p, self.fresh_id())
            return self.dumps(o)[:-1] + b',"' + r.choice([b"extra", b"Params", b"ID", b"result", b"error"]) + b'":1}'
        if k == 8:
            return self.dumps(self.envelope(self.rng.choice(METHODS), {"taskUUID": RAW.format(r.choice(RAW_NUMBERS))}, self.fresh_id()))
        if k == 9:
            return b"{" + b"".join(b'"k%d":' % i for i in range(r.randrange(1, 50)))  # many open members, never closed
        if k == 10:
            return self.batch()
        return b"[" + b",".join(self.valid() for _ in range(r.randrange(1, 4))) + b"]" + r.choice([b"", b"]", b","])

    def next_frame(self) -> bytes:
        r = self.rng.random()
        if r < 0.10:
            return self.valid()
        if r < 0.55:
            return self.structural()
        if r < 0.85:
            return self.bytewise()
        if r < 0.92:
            return self.batch()
        return self.special()

    def rare_frame(self) -> bytes:
        """One of the expensive frames: near the frame limit, an object with 100,000 members, a batch at the daemon's
        batch limit (answered in full) or of 10,000 (refused whole with batch_too_large)."""
        r = self.rng
        k = r.randrange(6)
        name = ("limit-1", "limit", "limit+1", "100k_keys", "batch_10k", "batch_1k")[k]
        self.rare_counts[name] = self.rare_counts.get(name, 0) + 1
        if k == 3:
            return self.many_keys(100_000, r.random() < 0.5)
        if k >= 4:  # a batch of 10,000 (over the limit) or MAX_BATCH cheap requests
            n = 10_000 if k == 4 else MAX_BATCH
            base = self.next_id
            self.next_id += n
            return b"[" + b",".join(b'{"jsonrpc":"2.0","id":%d,"method":"%s","params":{"taskUUID":"%s"}}'
                                    % (base + i, b"job.get" if i % 2 else b"job.recipe", self.tasks[i % 64].encode())
                                    for i in range(n)) + b"]"
        return self.sized(self.max_frame + (k - 1))  # limit-1, limit, limit+1


# weights: how often each method's valid request is the starting point
_W = {"job.submit": 6, "job.get": 6, "job.wait": 3, "job.cancel": 3, "job.list": 5, "job.subscribe": 2, "job.unsubscribe": 2,
      "job.recipe": 3, "job.reproduce": 1, "workflow.submit": 2, "workflow.get": 3, "workflow.wait": 2, "workflow.select": 2,
      "workflow.cancel": 1, "workflow.list": 3, "route.explain": 4, "models.list": 2, "models.verify": 1, "daemon.health": 3,
      "config.reload": 1, "stats.get": 5, "delivery.list": 3, "delivery.get": 2, "delivery.retry": 2, "webhook.secret": 1}
METHODS = list(_W)
WEIGHTS = list(_W.values())


# ---------------------------------------------------------------------------------------------------------------
# What answer a frame must get


def _depth_and_numbers_ok(v: Any) -> bool:
    """Nesting at most 128 (the daemon's limit) and no number that overflows a double."""
    stack = [(v, 1)]
    while stack:
        x, d = stack.pop()
        if isinstance(x, (dict, list)):
            if d > 128:
                return False
            for c in (x.values() if isinstance(x, dict) else x):
                stack.append((c, d + 1))
        elif isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
            return False
        elif isinstance(x, int) and not -(2**63) <= x < 2**63:
            try:
                float(x)  # the daemon reads an integer beyond 64 bits as a double
            except OverflowError:
                return False
    return True


def _trackable_id(o: Any) -> Any:
    if not isinstance(o, dict) or "id" not in o:
        return None
    rid = o["id"]
    if isinstance(rid, bool):
        return None
    if isinstance(rid, int) and -(2**63) <= rid < 2**63:
        return rid
    if isinstance(rid, str):
        return rid
    return None


# The daemon's default --max-batch: a longer batch is refused whole with -32600 batch_too_large.
MAX_BATCH = 1000


def expectation(frame: bytes, strict_loads) -> tuple[str, Any] | None:
    """What answer a frame is owed, when that can be known for sure: ("one", id) for a JSON object with a usable
    id; ("batch", frozenset(ids)) for a non-empty array whose answer must carry those ids. None otherwise."""
    if b"\n" in frame or (b"\\u" in frame and SURROGATE_ESCAPE.search(frame)):
        return None
    try:
        v = strict_loads(frame)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not _depth_and_numbers_ok(v):
        return None
    if isinstance(v, dict):
        rid = _trackable_id(v)
        return ("one", rid) if rid is not None else None
    if isinstance(v, list) and len(v) > MAX_BATCH:
        return None  # refused whole: one batch_too_large error with id null
    if isinstance(v, list) and v:
        ids = [_trackable_id(x) for x in v]
        ids = [i for i in ids if i is not None]
        if ids and len(ids) == len(set(ids)):
            return ("batch", frozenset(ids))
    return None
