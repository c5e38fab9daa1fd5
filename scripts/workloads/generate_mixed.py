#!/usr/bin/env python3
"""Generates mixed.jsonl: a realistic, deterministic mixed workload for `atelier simulate`.

One task per line, in the same JSON as job.submit params. Run again to regenerate (same seed, same file):

    python3 scripts/workloads/generate_mixed.py > scripts/workloads/mixed.jsonl

Mix (of 400 tasks):
  ~40 % ideation drafts       phase "ideation", ratio + tier, 1-4 results, cheap and fast
  ~20 % text-heavy banners    requirements.textRendering, 16:9 / 21:9 / 4:5 / 1:1, 1K-2K, some with maxCostUSD
  ~20 % reproducible finals   requirements.reproducible + phase "final", exact pixels, a seed, product SKUs
  ~15 % reference-image edits 1-6 references (a few with 9-12), some reproducible
   ~5 % oddballs              4K posters, reproducible packaging with text, and a few tasks nothing can serve
                              (reproducible with 14 references: no seed-honouring model takes that many)

With --deadlines the same 400 tasks are written, and some carry requirements.deadline (mixed-deadlines.jsonl):
work that can wait (banners, edits, posters; not ideation drafts) gets "36h" about 40 % of the time (the batch
turnaround is 24 h: priced at the batch rate) or "4h" about 15 % of the time (too short: interactive):

    python3 scripts/workloads/generate_mixed.py --deadlines > scripts/workloads/mixed-deadlines.jsonl
"""
import json
import random
import sys
import uuid

rng = random.Random(20260114)

CLIENTS = ["acme", "globex", "initech", "umbrella", "hooli"]
USERS = [f"user{n:03d}@studio.example" for n in range(60)]


def task_uuid():
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def tags(kind):
    return {"client": rng.choice(CLIENTS), "user": rng.choice(USERS), "kind": kind}


def ideation():
    subject = rng.choice(["a cozy reading nook", "a neon noodle bar at night", "a brutalist museum lobby",
                          "an alpine cabin in fog", "a retro-futurist kitchen", "a koi pond from above"])
    style = rng.choice(["watercolor", "isometric 3D", "film photo, 35mm", "gouache", "low-poly", "charcoal sketch"])
    return {
        "taskUUID": task_uuid(),
        "positivePrompt": f"{subject}, {style}, loose exploration",
        "aspectRatio": rng.choice(["1:1", "3:2", "2:3", "16:9", "4:5"]),
        "resolution": rng.choice(["1K", "1K", "1K", "512"]),
        "numberResults": rng.choice([1, 2, 4]),
        "phase": "ideation",
        "tags": tags("draft"),
    }


def banner():
    headline = rng.choice(["SUMMER SALE 50% OFF", "Grand Opening Saturday", "New Collection — Autumn 2026",
                           "Free shipping over $50", "Join the beta today", "Black Friday: 3 days only"])
    t = {
        "taskUUID": task_uuid(),
        "positivePrompt": f'web banner with the headline "{headline}" in bold sans-serif, clean layout, brand colors',
        "aspectRatio": rng.choice(["16:9", "21:9", "4:5", "1:1"]),
        "resolution": rng.choice(["1K", "1K", "2K"]),
        "requirements": {"textRendering": True},
        "phase": rng.choice(["final", "final", "ideation"]),
        "tags": tags("banner"),
    }
    if rng.random() < 0.3:
        t["requirements"]["maxCostUSD"] = 0.2
    return t


def product_final():
    sku = rng.randint(10000, 99999)
    w, h = rng.choice([(1024, 1024), (1536, 1024), (1024, 1536), (1376, 768), (1200, 896), (2048, 2048)])
    return {
        "taskUUID": task_uuid(),
        "positivePrompt": f"product photo of SKU {sku}, ceramic mug on seamless white, softbox lighting, catalog style",
        "width": w,
        "height": h,
        "seed": rng.randint(1, 2**31 - 1),
        "requirements": {"reproducible": True},
        "phase": "final",
        "outputFormat": rng.choice(["PNG", "JPG"]),
        "tags": tags("product"),
    }


def edit():
    n = rng.choice([1, 1, 2, 2, 3, 4, 6]) if rng.random() < 0.9 else rng.choice([9, 10, 12])
    sku = rng.randint(10000, 99999)
    t = {
        "taskUUID": task_uuid(),
        "positivePrompt": f"place the product from the references on a marble countertop, keep the label exactly, SKU {sku}",
        "referenceImages": [f"https://assets.example.com/sku/{sku}/ref{k}.jpg" for k in range(n)],
        "aspectRatio": rng.choice(["1:1", "4:5", "3:2"]),
        "resolution": "1K",
        "tags": tags("edit"),
    }
    if rng.random() < 0.35:
        t["requirements"] = {"reproducible": True}
        t["seed"] = rng.randint(1, 2**31 - 1)
    return t


def oddball():
    r = rng.random()
    if r < 0.4:
        return {
            "taskUUID": task_uuid(),
            "positivePrompt": "concert poster, dramatic stage lighting, crowd silhouettes",
            "aspectRatio": "2:3",
            "resolution": "4K",
            "phase": "final",
            "tags": tags("poster"),
        }
    if r < 0.75:
        return {
            "taskUUID": task_uuid(),
            "positivePrompt": 'cereal box front, brand name "CRUNCHOS" and "NEW! Honey flavour" in playful type',
            "width": 1024,
            "height": 1536,
            "seed": rng.randint(1, 2**31 - 1),
            "requirements": {"reproducible": True, "textRendering": True},
            "phase": "final",
            "tags": tags("packaging"),
        }
    return {
        "taskUUID": task_uuid(),
        "positivePrompt": "consistent character sheet from many references",
        "referenceImages": [f"https://assets.example.com/character/ref{k}.png" for k in range(14)],
        "requirements": {"reproducible": True},
        "tags": tags("character"),
    }


KINDS = [(ideation, 40), (banner, 20), (product_final, 20), (edit, 15), (oddball, 5)]


def with_deadline(task, drng):
    """Adds a deadline to tasks that can wait (its own random stream, so the tasks themselves are unchanged)."""
    draw = drng.random()
    kind = task.get("tags", {}).get("kind")
    if kind in ("banner", "edit", "poster", "product") and draw < 0.55:
        task.setdefault("requirements", {})["deadline"] = "36h" if draw < 0.40 else "4h"
    return task


def main():
    deadlines = "--deadlines" in sys.argv[1:]
    drng = random.Random(20261204)
    pool = [f for f, w in KINDS for _ in range(w)]
    for _ in range(400):
        task = rng.choice(pool)()
        if deadlines:
            task = with_deadline(task, drng)
        print(json.dumps(task, ensure_ascii=False, separators=(", ", ": ")))


if __name__ == "__main__":
    main()
