"""Benchmark: the Arrow path and Spark, against JSON lines (bench/workload.py claims, bundled policies).

    python bench/bench_arrow.py inprocess [--claims 20000] [--rounds 3]
        Arrow in process (a claim-per-row table in memory -> results and edits tables)
        against JSON lines in process (the bytes of a JSONL file in memory -> result lines,
        batch's own chunk function), one engine, one process; also the parts of the Arrow
        path alone (rows to claim dicts; results to Arrow). Best of --rounds, interleaved.

    python bench/bench_arrow.py spark [--claims 200000] [--masters local[1],local[2]]
        payer_rules.spark on Parquet (claims in, results and edits out) in Spark local mode,
        one fresh driver process per master, against `payer-rules batch --workers 2` on the
        same claims as JSON lines (a process, start to exit). Spark is timed from the call
        to evaluate_dataframe to the last Parquet file written (bundle build included);
        the session start is reported apart.

Each prints a Markdown table; the numbers in docs/benchmarks.md come from these runs.
Speed is never asserted in tests (tests/test_bench_smoke.py runs tiny sizes).
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
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workload  # noqa: E402


def _claims(n: int, seed: int = 1) -> list[dict]:
    rnd = random.Random(seed)
    return [workload.claim(rnd, i) for i in range(n)]


def inprocess(n: int, rounds: int) -> None:
    import pyarrow as pa
    from payer_rules import Engine
    from payer_rules.arrow import CLAIM_SCHEMA, _claim_records, _Columns, split, evaluate_batches
    from payer_rules.batch import process_chunk
    import payer_rules.batch as batch

    claims = _claims(n)
    data = [json.dumps(c, separators=(",", ":")).encode() for c in claims]
    records = [(i + 1, i + 1, raw) for i, raw in enumerate(data)]
    table = pa.Table.from_pylist(claims, schema=CLAIM_SCHEMA)
    batches = table.to_batches(max_chunksize=10_000)
    engine = Engine()
    batch._ENGINE, batch._PAYER = engine, None
    dicts = list(_claim_records(batches))
    results = []
    for i, c in enumerate(dicts, 1):
        r = engine.evaluate(c)
        r.index = i
        results.append(r)

    def json_lines():
        for k in range(0, n, 1000):
            process_chunk(records[k:k + 1000], "bench")

    def arrow():
        for _ in evaluate_batches(batches, engine):
            pass

    def to_claims():
        for _ in _claim_records(batches):
            pass

    def to_arrow():
        for k in range(0, n, 10_000):
            cols = _Columns()
            for r in results[k:k + 10_000]:
                cols.add(r)
            split(cols.batch())

    def evaluate_only():
        for c in dicts:
            engine.evaluate(c)

    cases = [("JSON lines in process (batch's chunk function: parse, evaluate, write JSON)", json_lines),
             ("Arrow in process (evaluate_batches: rows to claims, evaluate, results and edits tables)", arrow),
             ("  of which rows to claim dicts", to_claims),
             ("  of which results to Arrow (results and edits)", to_arrow),
             ("engine.evaluate alone on the claim dicts", evaluate_only)]
    best = {name: float("inf") for name, _ in cases}
    json_lines(); arrow()  # warm caches (codes, dates, PTP rows)
    for _ in range(rounds):
        for name, fn in cases:
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    print(f"{n:,} claims ({sum(len(c['lines']) for c in claims):,} lines), best of {rounds} interleaved rounds, "
          f"Python {platform.python_version()}, pyarrow {pa.__version__}\n")
    print("| path | seconds | us per claim | relative to JSON lines |")
    print("| --- | ---: | ---: | ---: |")
    base = best[cases[0][0]]
    for name, _ in cases:
        s = best[name]
        print(f"| {name} | {s:.2f} | {s / n * 1e6:.1f} | {s / base:.2f} |")


def _prepare(n: int, folder: Path) -> tuple[Path, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from payer_rules.arrow import CLAIM_SCHEMA
    jsonl, parquet = folder / "claims.jsonl", folder / "claims"
    parquet.mkdir()
    claims = _claims(n)
    with open(jsonl, "w") as fh:
        for c in claims:
            fh.write(json.dumps(c, separators=(",", ":")) + "\n")
    files = 8
    step = -(-n // files)
    for k in range(files):  # several files: Spark reads them as several partitions
        part = claims[k * step:(k + 1) * step]
        if part:
            pq.write_table(pa.Table.from_pylist(part, schema=CLAIM_SCHEMA), parquet / f"part-{k}.parquet")
    return jsonl, parquet


def spark_child(master: str, parquet: str, out: str) -> None:
    """One driver: session, then the timed job (prints one JSON line)."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    t0 = time.perf_counter()
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master(master).config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "4").config("spark.sql.files.maxPartitionBytes", "2m")
             .config("spark.driver.memory", "2g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    spark.range(1).collect()
    started = time.perf_counter() - t0
    from payer_rules.spark import evaluate_dataframe
    t = time.perf_counter()
    df = spark.read.parquet(parquet)
    got = evaluate_dataframe(df)
    got.results.write.mode("overwrite").parquet(out + "/results")
    got.edits.write.mode("overwrite").parquet(out + "/edits")
    seconds = time.perf_counter() - t
    claims = spark.read.parquet(out + "/results").count()
    print(json.dumps({"master": master, "session_seconds": round(started, 2), "seconds": round(seconds, 2),
                      "claims": claims, "partitions": df.rdd.getNumPartitions()}))
    spark.stop()


def spark_bench(n: int, masters: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="payer-rules-bench-") as tmp:
        folder = Path(tmp)
        jsonl, parquet = _prepare(n, folder)
        rows = []
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "payer_rules.cli", "batch", str(jsonl), "-o", str(folder / "out.jsonl"),
                        "--workers", "2", "-q"], check=False)
        batch_s = time.perf_counter() - t
        for master in masters:
            done = subprocess.run([sys.executable, __file__, "_child", master, str(parquet),
                                   str(folder / master.replace("[", "-").replace("]", ""))],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                sys.stderr.write(done.stderr[-3000:])
                raise SystemExit(1)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{n:,} claims, bundled policies; batch: JSON lines file to file; Spark: Parquet to Parquet "
          f"(results and edits), {rows[0]['partitions']} input partitions\n")
    print("| run | seconds | claims per second | relative to batch --workers 2 |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| payer-rules batch --workers 2 (process start to exit) | {batch_s:.1f} | {n / batch_s:,.0f} | 1.00 |")
    for r in rows:
        print(f"| Spark {r['master']} (job; session start {r['session_seconds']:.0f} s apart) | {r['seconds']:.1f} | "
              f"{r['claims'] / r['seconds']:,.0f} | {r['seconds'] / batch_s:.2f} |")
    if len(rows) == 2:
        print(f"\n{rows[0]['master']} / {rows[1]['master']}: {rows[0]['seconds'] / rows[1]['seconds']:.2f}x")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        spark_child(*sys.argv[2:5])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("inprocess")
    p.add_argument("--claims", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=3)
    p = sub.add_parser("spark")
    p.add_argument("--claims", type=int, default=200_000)
    p.add_argument("--masters", default="local[1],local[2]")
    a = ap.parse_args()
    if a.what == "inprocess":
        inprocess(a.claims, a.rounds)
    else:
        spark_bench(a.claims, a.masters.split(","))


if __name__ == "__main__":
    main()
