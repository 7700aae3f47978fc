"""Benchmark: cost of one claim as its lines grow, for a fixed set of codes (issue 12).

Claims of 1 to 999 lines (the most a claim may have) alternating 97140 / 97124 / 97530 /
97750 on one date, half of them with 59, under the bundled Medicare policy: the worst case
for NCCI (every pair of these codes has a row) and for unit allocation (one date, one
discipline). For each size: the best of R evaluations (seconds), microseconds per line,
edits and bytes of JSON output per line. Linear cost shows as a flat per-line column.
Writes a Markdown table to stdout, or with --write into docs/benchmarks.md between the
``<!-- lines -->`` markers. Keep it short on a shared machine: the default run takes about
ten seconds.

    python bench/bench_lines.py [--rounds R] [--write]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from payer_rules import Engine

ROOT = Path(__file__).resolve().parent.parent
SIZES = (1, 10, 50, 100, 250, 500, 750, 999)
CODES = ("97140", "97124", "97530", "97750")


def make_claim(n: int) -> dict:
    lines = []
    for i in range(n):
        mods = ["GP", "59"] if i % 2 else ["GP"]
        lines.append({"code": CODES[i % 4], "modifiers": mods, "date_of_service": "2024-03-04",
                      "minutes": 8 + i % 10, "body_region": "lumbar" if i % 3 else "neck",
                      "diagnosis_pointers": [1], "techniques": ["effleurage"]})
    return {"claim_id": f"L{n}", "payer": "medicare", "diagnoses": ["M54.50"], "lines": lines}


def measure(engine: Engine, n: int, rounds: int) -> dict:
    claim = make_claim(n)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        result = engine.evaluate(claim)
        best = min(best, time.perf_counter() - t0)
    out = json.dumps(result.to_dict())
    return {"lines": n, "seconds": best, "us_per_line": best / n * 1e6,
            "edits": len(result.edits), "bytes": len(out), "status": result.status}


def table(rows: list[dict]) -> str:
    head = ("| lines | best of rounds (ms) | us per line | edits | edits per line | output bytes per line |\n"
            "| ---: | ---: | ---: | ---: | ---: | ---: |\n")
    return head + "".join(
        f"| {r['lines']} | {r['seconds'] * 1e3:.1f} | {r['us_per_line']:.0f} | {r['edits']} | "
        f"{r['edits'] / r['lines']:.2f} | {r['bytes'] / r['lines']:.0f} |\n" for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="write into docs/benchmarks.md between <!-- lines --> markers")
    args = ap.parse_args()
    engine = Engine()
    engine.evaluate(make_claim(4))  # tables and policy loaded before timing
    rows = [measure(engine, n, args.rounds) for n in SIZES]
    text = table(rows)
    if args.write:
        doc = ROOT / "docs" / "benchmarks.md"
        body = doc.read_text()
        start, end = "<!-- lines -->", "<!-- /lines -->"
        if start not in body:
            body += f"\n{start}\n{end}\n"
        body = re.sub(f"{re.escape(start)}.*?{re.escape(end)}", lambda _: f"{start}\n{text}{end}", body, flags=re.S)
        doc.write_text(body)
    print(text, end="")


if __name__ == "__main__":
    main()
