"""Claims per second through the HTTP API next to in-process ``Engine.evaluate``, in one run.

Starts ``payer-rules serve`` on 127.0.0.1 with 1 and 2 workers (``--no-auth``, loopback),
sends requests of 1 and of 100 claims from client threads (as many as server workers, plus
one), and measures the same claims evaluated in process (one thread, the results written
with ``to_json`` as the API does). Rates per server worker are compared with the
in-process rate; latency is p50/p99 per request. The client runs on the same 2-core
machine and takes CPU from the server: the ratios are a floor, not a ceiling.

    python bench/bench_service.py [--claims 2000] [--write]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from workload import claim  # noqa: E402

MARK = ("<!-- service-bench -->", "<!-- /service-bench -->")


def claims(n: int) -> list[bytes]:
    import random
    rnd = random.Random(1)
    return [json.dumps(claim(rnd, i)).encode() for i in range(n)]


def in_process(lines: list[bytes]) -> float:
    import orjson
    from payer_rules import Engine
    engine = Engine()
    for raw in lines[:200]:
        engine.evaluate(orjson.loads(raw)).to_json()
    t = time.perf_counter()
    for raw in lines:
        engine.evaluate(orjson.loads(raw)).to_json()
    return len(lines) / (time.perf_counter() - t)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(workers: int) -> tuple[subprocess.Popen, str]:
    port = _port()
    proc = subprocess.Popen([sys.executable, "-m", "payer_rules.cli", "serve", "--no-auth", "--port", str(port),
                             "--workers", str(workers), "--log-level", "warning"], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/readyz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    return proc, url


def through_api(url: str, lines: list[bytes], per_request: int, threads: int) -> tuple[float, float, float]:
    bodies = [b"\n".join(lines[i:i + per_request]) for i in range(0, len(lines), per_request)]
    with httpx.Client() as c:  # warm every worker
        for b in bodies[:8]:
            c.post(url + "/v1/check", content=b, headers={"content-type": "application/x-ndjson"})
    lat: list[float] = []
    todo = list(range(len(bodies)))
    lock = threading.Lock()

    def client():
        with httpx.Client() as c:
            while True:
                with lock:
                    if not todo:
                        return
                    i = todo.pop()
                t = time.perf_counter()
                r = c.post(url + "/v1/check", content=bodies[i], headers={"content-type": "application/x-ndjson"})
                assert r.status_code == 200
                lat.append(time.perf_counter() - t)

    start = time.perf_counter()
    ts = [threading.Thread(target=client) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    rate = len(lines) / (time.perf_counter() - start)
    q = statistics.quantiles(lat, n=100)
    return rate, q[49] * 1000, q[98] * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--claims", type=int, default=2000)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    lines = claims(args.claims)
    base = in_process(lines)
    rows = [("in process, `Engine.evaluate` + `to_json`, 1 thread", 1, base, None, None, 1.0)]
    for workers in (1, 2):
        proc, url = serve(workers)
        try:
            for per in (1, 100):
                n = lines if per == 100 else lines[: max(200, len(lines) // 4)]
                rate, p50, p99 = through_api(url, n, per, workers + 1)
                rows.append((f"API, {per}-claim requests, {workers} worker(s)", workers, rate, p50, p99,
                             rate / workers / base))
        finally:
            proc.terminate()
            proc.wait(10)
    head = (f"Workload: {args.claims:,} generated claims (bench/workload.py, seed 1), the bundled policies. "
            f"Machine: {platform.machine()}, 2 cores, Python {platform.python_version()}. One run; client threads "
            "on the same machine. *Per worker / in process*: the API rate divided by server workers, over the "
            "in-process rate (target for 100-claim requests: 0.80).")
    table = ["| run | claims/s | p50 ms | p99 ms | per worker / in process |", "| --- | --- | --- | --- | --- |"]
    for name, _, rate, p50, p99, ratio in rows:
        table.append(f"| {name} | {rate:,.0f} | {'-' if p50 is None else f'{p50:.1f}'} | "
                     f"{'-' if p99 is None else f'{p99:.1f}'} | {ratio:.2f} |")
    text = head + "\n\n" + "\n".join(table) + "\n"
    print(text)
    if args.write:
        doc = ROOT / "docs" / "benchmarks.md"
        s = doc.read_text()
        block = f"{MARK[0]}\n{text}{MARK[1]}"
        if MARK[0] in s:
            s = re.sub(re.escape(MARK[0]) + ".*?" + re.escape(MARK[1]), lambda m: block, s, flags=re.S)
        else:
            s = s.rstrip("\n") + "\n\n## HTTP service (`bench/bench_service.py`)\n\n" + block + "\n"
        doc.write_text(s)


if __name__ == "__main__":
    main()
