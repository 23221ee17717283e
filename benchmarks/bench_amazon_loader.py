"""Amazon loader time and peak memory on a synthetic dump shaped like Electronics 5-core.

Electronics 5-core (McAuley et al., 2015; DIN's and MTRec's data) has 1,689,188 reviews of
192,403 users on 63,001 items (801 DIN categories); its meta file lists 498,196 items. The
script writes a dump with ``--scale`` times those counts (default 0.1): every user reviews
>= 5 items and every reviewed item has >= 5 reviews (5-core), review lines ~0.9 kB of JSON as
in the real file (``reviewText``, ``summary``, ...), meta lines ~1.4 kB of Python literals with
``related`` lists and 1-3 category paths (the last path's last entry among 801 leaves),
both gzip-compressed like the downloads.

Then, each in its own process (so that peak RSS is its own), it loads the dump with:

* **ours**: ``offline_rl.data.amazon.load_amazon`` (gzip read, meta lines of unreviewed
  items skipped after their asin, numpy/pyarrow build of samples and trajectories);
* **before**: the loader of commit 30f167e (Python loops per review, every meta line
  parsed), on the same dump decompressed (it could not read gzip).

Usage: .venv/bin/python benchmarks/bench_amazon_loader.py [--scale 0.1] [--dir .bench/amazon]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import platform
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

ELECTRONICS = {"reviews": 1_689_188, "users": 192_403, "items": 63_001, "meta_items": 498_196,
               "categories": 801}
BEFORE_COMMIT = "30f167e"
WORDS = ("good great cable works fine price quality sound battery screen fast easy use would "
         "recommend product bought one month still").split()


def _text(rng: np.random.Generator, words: int) -> str:
    return " ".join(rng.choice(WORDS, size=words))


def write_dump(folder: Path, scale: float, seed: int = 0) -> dict[str, int]:
    """Write ``reviews_Synthetic_5.json.gz`` and ``meta_Synthetic.json.gz``; return the counts."""
    rng = np.random.default_rng(seed)
    users = int(ELECTRONICS["users"] * scale)
    items = int(ELECTRONICS["items"] * scale)
    target = int(ELECTRONICS["reviews"] * scale)
    # 5-core: 5 reviews per user, the rest spread with a long tail; items by Zipf popularity
    # with every item reviewed at least 5 times.
    per_user = 5 + rng.multinomial(target - 5 * users, rng.dirichlet(np.full(users, 0.6)))
    popularity = 1.0 / np.arange(1, items + 1) ** 0.8
    popularity /= popularity.sum()
    rows = []
    for user, count in enumerate(per_user):
        count = min(int(count), items)
        rows.append(np.column_stack([np.full(count, user),
                                     rng.choice(items, size=count, replace=False, p=popularity)]))
    pairs = np.concatenate(rows)
    reviewed = np.bincount(pairs[:, 1], minlength=items)
    extra = []
    for item in np.flatnonzero(reviewed < 5):  # top up the rare items to 5 reviewers
        candidates = rng.choice(users, size=5 - reviewed[item] + 10, replace=False)
        have = set(pairs[pairs[:, 1] == item, 0])
        new = [u for u in candidates if u not in have][:5 - reviewed[item]]
        extra += [(u, item) for u in new]
    if extra:
        pairs = np.concatenate([pairs, np.array(extra)])
    pairs = pairs[rng.permutation(len(pairs))]
    times = rng.integers(946_684_800, 1_406_073_600, size=len(pairs))
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "reviews_Synthetic_5.json.gz", "wt", compresslevel=1) as handle:
        for (user, item), t in zip(pairs, times, strict=True):
            handle.write(json.dumps({
                "reviewerID": f"A{user:013d}", "asin": f"B{item:09d}",
                "reviewerName": "Some Reviewer", "helpful": [int(rng.integers(0, 5)), 5],
                "reviewText": _text(rng, int(rng.integers(60, 160))), "overall": 4.0,
                "summary": _text(rng, 5), "unixReviewTime": int(t),
                "reviewTime": "01 1, 2013"}) + "\n")
    meta_items = int(ELECTRONICS["meta_items"] * scale)
    leaves = [f"Leaf {k}" for k in range(ELECTRONICS["categories"])]
    order = rng.permutation(meta_items)  # reviewed items (ids < items) spread through the file
    with gzip.open(folder / "meta_Synthetic.json.gz", "wt", compresslevel=1) as handle:
        for item in order:
            paths = [["Electronics", "Accessories", str(rng.choice(leaves))]
                     for _ in range(int(rng.integers(1, 4)))]
            handle.write(repr({
                "asin": f"B{item:09d}", "title": _text(rng, 8), "price": 19.99,
                "imUrl": "http://ecx.images-amazon.com/images/I/51fAmVkTbyL._SY300_.jpg",
                "related": {"also_bought": [f"B{j:09d}" for j in rng.integers(0, meta_items, 25)],
                            "also_viewed": [f"B{j:09d}" for j in rng.integers(0, meta_items, 10)]},
                "salesRank": {"Electronics": int(rng.integers(1, 10**6))},
                "categories": paths, "description": _text(rng, 40)}) + "\n")
    return {"reviews": int(len(pairs)), "users": users, "items": items,
            "meta_items": meta_items}


OURS = """
import resource, time, sys
from offline_rl.data.amazon import load_amazon
start = time.perf_counter()
data = load_amazon(sys.argv[1], sys.argv[2], seed=0)
print(time.perf_counter() - start, data.samples.height, data.trajectories.height,
      data.items["category"].n_unique(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

BEFORE = """
import importlib.util, resource, sys, time
spec = importlib.util.spec_from_file_location("amazon_before", sys.argv[3])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
start = time.perf_counter()
data = module.load_amazon(sys.argv[1], sys.argv[2], seed=0)
print(time.perf_counter() - start, data.samples.height, data.trajectories.height,
      data.items["category"].n_unique(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def measure(code: str, *args: str) -> dict[str, float]:
    """Run ``code`` in a fresh interpreter: its load seconds, row counts and own peak RSS
    (``ru_maxrss`` of the process itself, imports included)."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], check=True,
                         capture_output=True, text=True).stdout.split()
    wall = time.perf_counter() - started
    return {"load_seconds": float(out[0]), "process_seconds": wall, "samples": int(out[1]),
            "trajectory_steps": int(out[2]), "categories": int(out[3]),
            "peak_rss_mib": int(out[4]) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--dir", type=Path, default=Path(".bench/amazon"))
    parser.add_argument("--skip-before", action="store_true",
                        help="Do not run the loader of commit 30f167e.")
    args = parser.parse_args()
    folder = args.dir / f"scale-{args.scale:g}"
    started = time.perf_counter()
    counts = write_dump(folder, args.scale)
    written = time.perf_counter() - started
    reviews, meta = folder / "reviews_Synthetic_5.json.gz", folder / "meta_Synthetic.json.gz"
    result = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="minutes"),
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "scale": args.scale, "dump": counts, "write_seconds": written,
              "bytes": {"reviews_gz": reviews.stat().st_size, "meta_gz": meta.stat().st_size}}
    result["ours"] = measure(OURS, str(reviews), str(meta))
    if not args.skip_before:
        plain = {}
        for path in (reviews, meta):
            target = folder / path.name.removesuffix(".gz")
            with gzip.open(path, "rb") as source:
                target.write_bytes(source.read())
            plain[path] = target
        old = folder / "amazon_before.py"
        old.write_text(subprocess.run(
            ["git", "show", f"{BEFORE_COMMIT}:offline_rl/data/amazon.py"], check=True,
            capture_output=True, text=True).stdout)
        result["before"] = measure(BEFORE, str(plain[reviews]), str(plain[meta]), str(old))
        result["speed_up"] = result["before"]["load_seconds"] / result["ours"]["load_seconds"]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
