"""Claims per second through the HTTP API next to in-process ``Engine.evaluate``, in one run.

Starts ``payer-rules serve`` on 127.0.0.1 with 1 and with 2 workers (``--no-auth``,
loopback; both stay up for the whole run), and measures in interleaved rounds: each round
times the in-process loop (``orjson.loads``, ``Engine.evaluate``, ``to_json``: what the
server does per claim, one thread), then requests of 1 and of 100 claims to each server
from client threads (as many as server workers, plus one). Each API figure is divided by
the in-process figure *of the same round*, so a change in the machine's load between
rounds moves both.

Two ratios, because the client runs on the same 2 cores and takes CPU from the server:

- *wall*: the API's claims per second per server worker over the in-process rate;
- *CPU*: in-process CPU seconds a claim over the server's CPU seconds a claim (the server
  process and its worker processes, user + system time from /proc, around the run). This
  is the service's own overhead, whatever the client and the other load take.

Latency is p50/p99 per request, pooled over rounds.

    python bench/bench_service.py [--claims 2000] [--rounds 3] [--passes 3] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
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
TICK = os.sysconf("SC_CLK_TCK")


def claims(n: int) -> list[bytes]:
    import random
    rnd = random.Random(1)
    return [json.dumps(claim(rnd, i)).encode() for i in range(n)]


class InProcess:
    def __init__(self) -> None:
        from payer_rules import Engine
        self.engine = Engine()

    def run(self, lines: list[bytes]) -> tuple[float, float]:
        """(claims per second, CPU seconds per claim) of one thread."""
        import orjson
        evaluate = self.engine.evaluate
        wall, cpu = time.perf_counter(), time.thread_time()
        for raw in lines:
            evaluate(orjson.loads(raw)).to_json()
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        return len(lines) / wall, cpu / len(lines)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree(root: int) -> list[int]:
    """``root`` and every process below it (uvicorn's workers are its children)."""
    parents: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += parents.get(pid, [])
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (all their threads), from /proc."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


class Server:
    def __init__(self, workers: int, extra: list[str]):
        self.workers = workers
        port = _port()
        self.proc = subprocess.Popen([sys.executable, "-m", "payer_rules.cli", "serve", "--no-auth", "--port", str(port),
                                      "--workers", str(workers), "--log-level", "warning", *extra], cwd=ROOT)
        self.url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(self.url + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        self.pids: list[int] = []

    def run(self, lines: list[bytes], per_request: int) -> tuple[float, float, list[float]]:
        """(claims per second, server CPU seconds per claim, request latencies)."""
        bodies = [b"\n".join(lines[i:i + per_request]) for i in range(0, len(lines), per_request)]
        threads = self.workers + 1
        with httpx.Client() as c:  # warm every worker
            for b in bodies[: 4 * threads]:
                c.post(self.url + "/v1/check", content=b, headers={"content-type": "application/x-ndjson"})
        if not self.pids:
            self.pids = _tree(self.proc.pid)
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
                    r = c.post(self.url + "/v1/check", content=bodies[i],
                               headers={"content-type": "application/x-ndjson"})
                    assert r.status_code == 200
                    lat.append(time.perf_counter() - t)

        ts = [threading.Thread(target=client) for _ in range(threads)]
        cpu, start = cpu_seconds(self.pids), time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        wall, cpu = time.perf_counter() - start, cpu_seconds(self.pids) - cpu
        return len(lines) / wall, cpu / len(lines), lat

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--claims", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--passes", type=int, default=3, help="times each API run sends its claims: /proc counts CPU "
                    "in 10 ms ticks, so a run needs a few seconds of server CPU to be read to 1%%")
    ap.add_argument("--serve-arg", action="append", default=[], help="passed to payer-rules serve")
    ap.add_argument("--compare", metavar="ARGS", help="also run 100-claim requests, 1 worker, on a server started "
                    "with these serve arguments (e.g. '--http h11 --loop asyncio'), interleaved with the rest")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    lines = claims(args.claims)
    small = lines[: max(200, len(lines) // 4)]
    local = InProcess()
    local.run(lines[:300])
    servers = {w: Server(w, args.serve_arg) for w in (1, 2)}
    # (row name, server, workers, claims a request)
    runs = [(f"API, {per}-claim requests, {w} worker(s)", w, w, per) for w in (1, 2) for per in (1, 100)]
    if args.compare:
        servers["compare"] = Server(1, args.serve_arg + args.compare.split())
        runs.append((f"API, 100-claim requests, 1 worker, `serve {args.compare}`", "compare", 1, 100))
    got: dict = {run: {"rate": [], "cpu": [], "wall_ratio": [], "cpu_ratio": [], "lat": []} for run in runs}
    base_rate, base_cpu = [], []
    try:
        for _ in range(args.rounds):
            rate0, cpu0 = local.run(lines)
            base_rate.append(rate0)
            base_cpu.append(cpu0)
            for run in runs:
                _, key, w, per = run
                rate, cpu, lat = servers[key].run((lines if per == 100 else small) * args.passes, per)
                g = got[run]
                g["rate"].append(rate)
                g["cpu"].append(cpu)
                g["wall_ratio"].append(rate / w / rate0)
                g["cpu_ratio"].append(cpu0 / cpu)
                g["lat"] += lat
    finally:
        for s in servers.values():
            s.stop()
    med = statistics.median
    load = os.getloadavg()[0]
    head = (f"Workload: {args.claims:,} generated claims (bench/workload.py, seed 1; 1-claim requests: the first "
            f"{len(small):,}; each API run sends its claims {args.passes} times), the bundled policies. Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, load average {load:.1f} at the end. {args.rounds} interleaved rounds, "
            "medians; client threads on the same machine. *Wall*: the API rate per server worker over the "
            "in-process rate of the same round (target for 100-claim requests: 0.80). *CPU*: in-process CPU a "
            "claim over the server processes' CPU a claim (/proc), the service's own cost without the client's.")
    table = ["| run | claims/s | p50 ms | p99 ms | server CPU us/claim | wall: per worker / in process | "
             "CPU: in process / server |", "| --- | --- | --- | --- | --- | --- | --- |"]
    table.append(f"| in process, `Engine.evaluate` + `to_json`, 1 thread | {med(base_rate):,.0f} | - | - | "
                 f"{med(base_cpu) * 1e6:.0f} (in process) | 1.00 | 1.00 |")
    for run in runs:
        g = got[run]
        q = statistics.quantiles(g["lat"], n=100)
        table.append(f"| {run[0]} | {med(g['rate']):,.0f} | {q[49] * 1000:.1f} | "
                     f"{q[98] * 1000:.1f} | {med(g['cpu']) * 1e6:.0f} | {med(g['wall_ratio']):.2f} | "
                     f"{med(g['cpu_ratio']):.2f} |")
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
