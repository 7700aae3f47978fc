"""Benchmark: the NCCI PTP index at full size.

Measures, each in a fresh process so memory is the table's own: cold build from the source
file (no cache), load from the cache, resident memory after each, and pair lookups per
second. Uses ../shared/data/ncci/ptp_practitioner_v301r0.csv.gz when present, else a
generated table of the same size (2,545,089 rows). Writes a Markdown table to stdout, or
with --write, into docs/benchmarks.md between its PTP markers.

    python bench/bench_tables.py [--write] [--rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "data" / "ncci" / "ptp_practitioner_v301r0.csv.gz"

CHILD = r'''
import json, os, random, resource, sys, time
from pathlib import Path
from payer_rules.tables import load_ptp
src = Path(sys.argv[1])
t0 = time.perf_counter()
table = load_ptp([src])
took = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
rnd = random.Random(1)
codes = table.codes
therapy = [c for c in codes if c.startswith("97")] or codes[:50]
pairs = [(rnd.choice(therapy), rnd.choice(therapy)) for _ in range(200000)]
t0 = time.perf_counter()
hits = 0
for a, b in pairs:
    if table.lookup(a, b, 20240501) is not None:
        hits += 1
lk = time.perf_counter() - t0
print(json.dumps({"seconds": took, "peak_rss_mb": rss, "rows": len(table), "lookups_per_s": len(pairs) / lk, "hits": hits}))
'''


def generated(path: Path, rows: int) -> None:
    import gzip
    rnd = random.Random(2)
    codes = [f"{n:05d}" for n in range(10000, 23000)]
    with gzip.open(path, "wt") as fh:
        fh.write("column1,column2,deletion_date,modifier_indicator,rationale\n")
        for _ in range(rows):
            fh.write(f"{rnd.choice(codes)},{rnd.choice(codes)},{rnd.choice(['*', '20191231'])},{rnd.choice('019')},x\n")


def run(src: Path, cache: str) -> dict:
    env = dict(os.environ, PAYER_RULES_CACHE=cache)
    out = subprocess.run([sys.executable, "-c", CHILD, str(src)], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--rows", type=int, default=2_545_089)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = REAL
        label = "real NCCI PTP v30.1 (../shared/data)"
        if not REAL.exists():
            src = Path(tmp) / "generated.csv.gz"
            generated(src, args.rows)
            label = f"generated, {args.rows:,} rows"
        cold = run(src, tmp + "/cache")
        warm = run(src, tmp + "/cache")
    lines = [
        "<!-- ptp-bench -->",
        f"Table: {label}; {cold['rows']:,} rows. Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}. One run; each measurement in a fresh process.",
        "",
        "| measurement | value | target |",
        "| --- | --- | --- |",
        f"| cold build (read source, sort, write cache) | {cold['seconds']:.2f} s | - |",
        f"| peak resident memory, cold build | {cold['peak_rss_mb']:.0f} MB | - |",
        f"| load from cache | {warm['seconds']:.3f} s | < 1 s |",
        f"| peak resident memory, cached load (whole process) | {warm['peak_rss_mb']:.0f} MB | < 200 MB |",
        f"| pair lookups per second (therapy codes, warm) | {warm['lookups_per_s']:,.0f} | - |",
        "<!-- /ptp-bench -->",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        doc = ROOT / "docs" / "benchmarks.md"
        cur = doc.read_text() if doc.exists() else "# Benchmarks\n\n<!-- ptp-bench -->\n<!-- /ptp-bench -->\n"
        a, b = cur.index("<!-- ptp-bench -->"), cur.index("<!-- /ptp-bench -->") + len("<!-- /ptp-bench -->")
        doc.write_text(cur[:a] + text + cur[b:])


if __name__ == "__main__":
    main()
