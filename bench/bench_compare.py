"""Compare this checkout's per-claim cost with another build of payer-rules, in one run.

Both builds evaluate the same workload in interleaved rounds (A B A B ...), in fresh
processes, each timing only the claims (the policy and tables are loaded first, outside the
timing), and the script reports each build's best round and the ratio of every round.
Used to hold a change to a cost budget (for example the plugin isolation: at most about 5%
a claim); the other build is any Python environment with payer-rules installed, e.g. a
virtualenv made from an older commit:

    git worktree add /tmp/base <commit> && python -m venv /tmp/venv-base && /tmp/venv-base/bin/pip install /tmp/base
    python bench/bench_compare.py --base-python /tmp/venv-base/bin/python --claims 60000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Run inside each build's interpreter: evaluate and write every claim, timing only that.
CHILD = r"""
import sys, time, orjson
from payer_rules import Engine
engine = Engine()
raw = [orjson.loads(line) for line in open(sys.argv[1], "rb")]
engine.evaluate(raw[0])  # warm the caches of the first claim's policy
t = time.perf_counter()
n = 0
for c in raw:
    n += len(engine.evaluate(c).to_json())
print(time.perf_counter() - t, len(raw), n)
"""


def one(python: str, workload: Path) -> tuple[float, int]:
    out = subprocess.run([python, "-c", CHILD, str(workload)], capture_output=True, text=True, check=True,
                         cwd=tempfile.gettempdir())
    seconds, claims, _ = out.stdout.split()
    return float(seconds), int(claims)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-python", required=True, help="the interpreter of the build to compare against")
    ap.add_argument("--python", default=sys.executable, help="this build's interpreter (default: this one)")
    ap.add_argument("--claims", type=int, default=60_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workload = Path(tmp) / "claims.jsonl"
        subprocess.run([sys.executable, str(HERE / "workload.py"), str(args.claims), str(workload)], check=True)
        this, base, ratios = [], [], []
        for _ in range(args.rounds):
            a, n = one(args.python, workload)
            b, _ = one(args.base_python, workload)
            this.append(a / n * 1e6)
            base.append(b / n * 1e6)
            ratios.append(a / b)
    figures = {"claims": args.claims, "rounds": args.rounds,
               "this_us_per_claim_best": round(min(this), 2), "base_us_per_claim_best": round(min(base), 2),
               "ratio_of_best": round(min(this) / min(base), 3), "ratio_by_round": [round(r, 3) for r in ratios],
               "median_ratio": round(sorted(ratios)[len(ratios) // 2], 3)}
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{args.claims:,} claims, {args.rounds} interleaved rounds (evaluate and write, policy loaded)")
        print(f"  this build: best {figures['this_us_per_claim_best']} us/claim")
        print(f"  base build: best {figures['base_us_per_claim_best']} us/claim")
        print(f"  ratio of best rounds {figures['ratio_of_best']}; by round "
              f"{', '.join(map(str, figures['ratio_by_round']))}; median {figures['median_ratio']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
