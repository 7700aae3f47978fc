"""The benchmarks still run (tiny sizes; speed is never asserted)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_batch_benchmark_smoke():
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_batch.py"), "--claims", "300",
                        "--table-rows", "20000", "--rounds", "1"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| engine, 1 worker |" in r.stdout and "| floor (bench/floor.py) |" in r.stdout
    assert "outputs identical: yes" in r.stdout
