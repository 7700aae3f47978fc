"""bench/bench_arrow.py still runs (in process, tiny size; speed is never asserted)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT


def test_arrow_benchmark_smoke():
    pytest.importorskip("pyarrow")
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_arrow.py"), "inprocess", "--claims", "200",
                        "--rounds", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| JSON lines in process" in r.stdout and "| Arrow in process" in r.stdout
