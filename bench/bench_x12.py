"""X12 837P reading cost against JSON lines for the same claims.

The workload's claims are written as one 837P interchange (payer_rules.x12.writer), read back, and the
claims read back are also written as JSON lines, so both files hold the same claims. Then:
- reader alone: seconds to turn each file into claim dicts (best of --rounds);
- end to end: read + evaluate + serialize every result, one process, one worker.
Prints per-claim microseconds and the ratios the targets are stated in.

    python bench/bench_x12.py [N] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from workload import claim  # noqa: E402

from payer_rules import Engine  # noqa: E402
from payer_rules.readers import iter_records  # noqa: E402
from payer_rules.x12 import parse_837  # noqa: E402
from payer_rules.x12.writer import write_837p  # noqa: E402


def best(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rnd = random.Random(1)
    source = [claim(rnd, i) for i in range(args.n)]
    x12 = write_837p(source)
    payers = {"04412": "medicare"}
    claims = list(parse_837(x12, payers, "bench.837", minutes=None))
    jsonl = b"".join(orjson.dumps(c) + b"\n" for c in claims)
    engine = Engine()

    def read_json():
        for _ in iter_records(io.BytesIO(jsonl), "bench.jsonl"):
            pass

    def read_x12():
        for _ in parse_837(x12, payers, "bench.837", minutes=None):
            pass

    def e2e_json():
        for _, c in iter_records(io.BytesIO(jsonl), "bench.jsonl"):
            engine.evaluate(c).to_json()

    def e2e_x12():
        for c in parse_837(x12, payers, "bench.837", minutes=None):
            engine.evaluate(c).to_json()

    e2e_json()  # warm the outcome memo and caches alike for both
    n = len(claims)
    rj, rx = best(read_json, args.rounds), best(read_x12, args.rounds)
    ej, ex = best(e2e_json, args.rounds), best(e2e_x12, args.rounds)
    print(f"claims {n}  837 bytes {len(x12):,}  jsonl bytes {len(jsonl):,}")
    print(f"reader alone: json {rj / n * 1e6:.1f} us/claim, x12 {rx / n * 1e6:.1f} us/claim, x12/json {rx / rj:.2f}")
    print(f"end to end:   json {ej / n * 1e6:.1f} us/claim, x12 {ex / n * 1e6:.1f} us/claim, "
          f"x12 rate / json rate {ej / ex:.2f}")


if __name__ == "__main__":
    main()
