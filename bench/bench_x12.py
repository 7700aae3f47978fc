"""X12 837P reading cost against JSON lines for the same claims, and the reader's memory.

The workload's claims are written as one 837P 5010 interchange (the writer's
``claim_segments``, streamed to the file), read back, and the claims read back are written
as JSON lines, so both files hold the same claims. Then, one run, rounds interleaved
(json, x12, json, x12, ...), the ratio taken within each round and the median reported:

- reader alone: the file to claim dicts through ``open_records`` (the reader plugins);
- end to end: ``run_batch`` (what ``payer-rules batch`` runs), one worker, file to file;
- ``--rss N,N``: peak resident memory of a fresh process that reads an 837 of N claims
  (and the JSON lines file of the same claims), to show it flat in the file's size;
- ``--callgrind N``: instructions per claim of the reader alone under callgrind, from
  runs over N and 2N claims (the difference, so start-up cancels), for both formats;
  with ``--callgrind-batch`` the batch end to end as well.

    python bench/bench_x12.py [N] [--rounds 5] [--rss 10000,200000] [--callgrind 1000 [--callgrind-batch]]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from workload import claim  # noqa: E402

from payer_rules import Engine  # noqa: E402
from payer_rules.batch import run_batch  # noqa: E402
from payer_rules.readers import open_records  # noqa: E402
from payer_rules.x12.writer import ISA, claim_segments  # noqa: E402

ENGINE: Engine | None = None  # the one whose payer map the readers use


def write_files(n: int, folder: Path, engine: Engine, seed: int = 1) -> tuple[Path, Path]:
    """``claims.837`` (one interchange, one transaction set) and ``claims.jsonl`` holding the
    same n claims as the reader reads them; both written a claim at a time."""
    rnd = random.Random(seed)
    x12, jsonl = folder / f"claims{n}.837", folder / f"claims{n}.jsonl"
    with open(x12, "w", encoding="utf-8") as fh:
        head = ["BHT*0019*00*1*20240101*1200*CH", "NM1*41*2*SUBMITTER*****46*S1", "NM1*40*2*RECEIVER*****46*R1",
                "HL*1**20*1", "NM1*85*2*BILLING PROVIDER*****XX*1234567893"]
        fh.write(ISA.format(sender="SUBMITTER", receiver="RECEIVER", ctl=1) + "~\n"
                 + "GS*HC*SUBMITTER*RECEIVER*20240101*1200*1*X*005010X222A1~\nST*837*0001*005010X222A1~\n"
                 + "".join(s + "~\n" for s in head))
        count = len(head) + 1
        for i in range(n):
            segs = [f"HL*{i + 2}*1*22*0", *claim_segments(claim(rnd, i), "04412", "MEDICARE")]
            count += len(segs)
            fh.write("".join(s + "~\n" for s in segs))
        fh.write(f"SE*{count + 1}*0001~\nGE*1*1~\nIEA*1*000000001~\n")
    with open(jsonl, "wb") as out, open_records(x12, readers=engine) as records:
        for _, c in records:
            out.write(orjson.dumps(c) + b"\n")
    return x12, jsonl


def read_all(path: Path) -> int:
    n = 0
    with open_records(path, readers=ENGINE) as records:
        for _ in records:
            n += 1
    return n


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def interleaved(json_fn, x12_fn, rounds: int) -> tuple[float, float, float]:
    """(best json seconds, best x12 seconds, median of the per-round x12/json ratios)."""
    js, xs = [], []
    for _ in range(rounds):
        js.append(timed(json_fn))
        xs.append(timed(x12_fn))
    return min(js), min(xs), statistics.median(x / j for j, x in zip(js, xs))


RSS_CHILD = """
import resource, sys
from payer_rules.readers import open_records
n = 0
with open_records(sys.argv[1]) as records:
    for _ in records:
        n += 1
print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

COUNT_CHILD = """
import sys
from payer_rules import Engine
from payer_rules.batch import run_batch
from payer_rules.readers import open_records
engine = Engine()
if sys.argv[2] == "read":
    with open_records(sys.argv[1], readers=engine) as records:
        for _ in records:
            pass
else:
    run_batch(sys.argv[1], sys.argv[1] + ".out", engine=engine, workers=1, progress=False)
"""


def peak_rss(path: Path) -> tuple[int, int]:
    """(records, peak RSS in KiB) of a fresh process reading ``path``."""
    out = subprocess.run([sys.executable, "-c", RSS_CHILD, str(path)], capture_output=True, text=True, check=True)
    n, kib = out.stdout.split()
    return int(n), int(kib)


def instructions(path: Path, mode: str) -> int:
    """Instructions callgrind counts for a fresh process that reads ``path`` (mode "read")
    or runs the batch over it ("batch")."""
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                          sys.executable, "-c", COUNT_CHILD, str(path), mode],
                         capture_output=True, text=True, check=True)
    return int(re.search(r"Collected : (\d+)", out.stderr).group(1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=5000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rss", default="", help="claim counts for the peak-memory runs, e.g. 10000,200000")
    ap.add_argument("--callgrind", type=int, default=0, help="N: instructions per claim from runs over N and 2N")
    ap.add_argument("--callgrind-batch", action="store_true", help="with --callgrind: end to end (batch) too")
    ap.add_argument("--skip-timing", action="store_true", help="no wall-clock rounds (callgrind or RSS only)")
    args = ap.parse_args()
    global ENGINE
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = ENGINE = Engine()
        if not args.skip_timing:
            x12, jsonl = write_files(args.n, folder, engine)
            n = read_all(jsonl)
            out = folder / "out.jsonl"
            rj, rx, rr = interleaved(lambda: read_all(jsonl), lambda: read_all(x12), args.rounds)
            print(f"claims {n}  837 bytes {x12.stat().st_size:,}  jsonl bytes {jsonl.stat().st_size:,}")
            print(f"reader alone: json {rj / n * 1e6:.1f} us/claim, x12 {rx / n * 1e6:.1f} us/claim, "
                  f"x12/json median of {args.rounds} rounds {rr:.2f}")

            def batch(src: Path):
                return lambda: run_batch(str(src), str(out), engine=engine, workers=1, progress=False)
            batch(jsonl)()  # warm the caches alike for both
            ej, ex, er = interleaved(batch(jsonl), batch(x12), args.rounds)
            print(f"end to end (batch, 1 worker): json {ej / n * 1e6:.1f} us/claim, x12 {ex / n * 1e6:.1f} us/claim, "
                  f"x12 rate / json rate median {1 / er:.2f}")
        if args.callgrind:
            k = args.callgrind
            small, big = write_files(k, folder, engine), write_files(2 * k, folder, engine)
            modes = ("read", "batch") if args.callgrind_batch else ("read",)
            for mode in modes:
                per = {fmt: (instructions(big[i], mode) - instructions(small[i], mode)) / k
                       for i, fmt in enumerate(("x12", "json"))}
                what = "reader alone" if mode == "read" else "end to end (batch)"
                ratio = (f"x12/json {per['x12'] / per['json']:.2f}" if mode == "read"
                         else f"x12 rate / json rate {per['json'] / per['x12']:.2f}")
                print(f"callgrind, {what}: json {per['json']:,.0f} instr/claim, x12 {per['x12']:,.0f} instr/claim, "
                      f"{ratio}")
        for size in [int(s) for s in args.rss.split(",") if s.strip()]:
            x12, jsonl = write_files(size, folder, engine)
            (nx, kx), (nj, kj) = peak_rss(x12), peak_rss(jsonl)
            print(f"peak RSS reading {size:,} claims: 837 ({x12.stat().st_size / 2**20:.0f} MiB) {kx / 1024:.1f} MiB, "
                  f"JSON lines {kj / 1024:.1f} MiB ({nx} and {nj} records)")
            os.unlink(x12)
            os.unlink(jsonl)


if __name__ == "__main__":
    main()
