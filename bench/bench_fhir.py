"""FHIR R4 reading and writing cost against JSON lines for the same claims.

The workload's claims, less the fields FHIR does not carry (docs/fhir.md), are written as
JSON lines and as NDJSON of FHIR Claims (the test suite's converter, tests/fhir_support.py),
so both files hold the same claims. In one process, interleaved rounds (each row its best):
- reader alone: the ``jsonl`` reader against the ``fhir`` reader, file bytes to claim dicts;
- end to end: read + evaluate + write every result, JSON lines (``json`` writer) against
  FHIR in and ClaimResponses out (``fhir`` writer).

    python bench/bench_fhir.py [N] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from fhir_support import LINE_KEYS, to_fhir  # noqa: E402
from workload import claim  # noqa: E402

from payer_rules import Engine  # noqa: E402
from payer_rules.readers import ReadOptions, open_records  # noqa: E402
from payer_rules.writers import open_writer  # noqa: E402


def plain(c: dict) -> dict:
    """The claim with only what the FHIR mapping carries."""
    out = {k: c[k] for k in ("claim_id", "payer", "diagnoses") if k in c}
    out["lines"] = [{k: v for k, v in ln.items() if k in LINE_KEYS} for ln in c["lines"]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rnd = random.Random(1)
    claims = [plain(claim(rnd, i)) for i in range(args.n)]
    jsonl = b"".join(orjson.dumps(c) + b"\n" for c in claims)
    ndjson = b"".join(orjson.dumps(to_fhir(c)) + b"\n" for c in claims)
    engine = Engine()
    options = ReadOptions.from_env(x12_payers=engine.x12_payers())

    def read(data: bytes, fmt: str):
        with open_records(io.BytesIO(data), readers=engine, format=fmt, options=options) as records:
            return [rec for _, rec in records]

    def e2e(data: bytes, fmt: str, writer: str):
        out = io.BytesIO()
        w = open_writer(engine.plugins, writer, out)
        with open_records(io.BytesIO(data), readers=engine, format=fmt, options=options) as records:
            for _, rec in records:
                w.write(engine.evaluate(rec))
        w.close()
        return out.getvalue()

    assert [c for c in read(ndjson, "fhir")] and all(isinstance(c, dict) for c in read(ndjson, "fhir"))
    e2e(jsonl, "jsonl", "json")  # warm caches alike for both
    times: dict[str, list[float]] = {k: [] for k in ("rj", "rf", "ej", "ef")}
    for _ in range(args.rounds):
        for key, fn in (("rj", lambda: read(jsonl, "jsonl")), ("rf", lambda: read(ndjson, "fhir")),
                        ("ej", lambda: e2e(jsonl, "jsonl", "json")), ("ef", lambda: e2e(ndjson, "fhir", "fhir"))):
            t = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t)
    rj, rf, ej, ef = (min(times[k]) for k in ("rj", "rf", "ej", "ef"))
    n = len(claims)
    print(f"claims {n}  jsonl bytes {len(jsonl):,}  fhir ndjson bytes {len(ndjson):,}")
    print(f"reader alone: json {rj / n * 1e6:.1f} us/claim, fhir {rf / n * 1e6:.1f} us/claim, fhir/json {rf / rj:.2f}")
    print(f"end to end:   json {ej / n * 1e6:.1f} us/claim, fhir {ef / n * 1e6:.1f} us/claim, "
          f"fhir rate / json rate {ej / ef:.2f}")


if __name__ == "__main__":
    main()
