"""batch: one result per record in input order, identical for any number of workers, and
--resume after kill -9 gives the same file as an uninterrupted run."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from payer_rules.batch import done_records, run_batch

from conftest import ROOT

spec = importlib.util.spec_from_file_location("workload", ROOT / "bench" / "workload.py")
workload = importlib.util.module_from_spec(spec)
spec.loader.exec_module(workload)


@pytest.fixture(scope="module")
def claims_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("batch") / "claims.jsonl"
    workload.write(3000, str(path), seed=7)
    with open(path, "a") as fh:  # records that cannot be evaluated still get a line each
        fh.write('{"claim_id": "BROKEN", "lines": [\n')
        fh.write("\n")
        fh.write('[1, 2]\n')
        fh.write('{"claim_id": "NO-LINES", "payer": "medicare", "lines": []}\n')
    return path


def cli(*args):
    return subprocess.run([sys.executable, "-m", "payer_rules.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def reference(claims_file, tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("ref") / "out.jsonl"
    r = cli("batch", str(claims_file), "-o", str(out), "-q")
    assert r.returncode == 1  # some records could not be evaluated
    return out.read_bytes()


def test_one_result_per_record_in_order(claims_file, reference):
    records = [ln for ln in claims_file.read_bytes().splitlines() if ln.strip()]
    results = [json.loads(x) for x in reference.splitlines()]
    assert len(results) == len(records) == 3003
    assert [r["index"] for r in results] == list(range(1, 3004))
    assert results[0]["claim_id"] == "CLM0000000" and results[2999]["claim_id"] == "CLM0002999"
    assert [r["status"] for r in results[-3:]] == ["error"] * 3
    assert "malformed JSON" in results[-3]["error"]


def test_same_as_check(claims_file, reference):
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "check", str(claims_file)], capture_output=True)
    assert r.stdout == reference


def test_workers_identical(claims_file, reference, tmp_path):
    out = tmp_path / "w2.jsonl"
    r = cli("batch", str(claims_file), "-o", str(out), "--workers", "2", "-q", "--summary", str(tmp_path / "s.json"))
    assert r.returncode == 1
    assert out.read_bytes() == reference
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["claims"] == 3003 and summary["could_not_be_evaluated"] == 3
    assert summary["workers"] == 2 and sum(summary["status"].values()) == 3003


class Stop(Exception):
    pass


def interrupted_run(src, out, after: int) -> None:
    """A run stopped after ``after`` records were written and checkpointed."""
    def stop(written):
        if written >= after:
            raise Stop
    with pytest.raises(Stop):
        run_batch(str(src), str(out), progress=False, on_chunk=stop)


def test_resume_after_partial_line(claims_file, reference, tmp_path):
    out = tmp_path / "partial.jsonl"
    interrupted_run(claims_file, out, 1000)
    with open(out, "ab") as fh:  # killed while writing the next chunk, after the checkpoint
        fh.write(reference[len(out.read_bytes()):][:5000])
    summary = run_batch(str(claims_file), str(out), resume=True, progress=False)
    assert out.read_bytes() == reference
    assert summary.skipped == 1000 and summary.skipped + summary.claims == 3003


def test_resume_after_kill_9(claims_file, reference, tmp_path):
    big = tmp_path / "big.jsonl"
    workload.write(40000, str(big), seed=11)
    ref = tmp_path / "ref.jsonl"
    run_batch(str(big), str(ref), progress=False)
    out = tmp_path / "killed.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "payer_rules.cli", "batch", str(big), "-o", str(out),
                             "--workers", "2", "-q"], start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 200_000):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = done_records(out)
    assert 0 < done < 40000, "the run was not interrupted part way"
    r = cli("batch", str(big), "-o", str(out), "--workers", "2", "--resume", "-q")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == ref.read_bytes()


def test_batch_bad_usage(tmp_path):
    r = cli("batch", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o.jsonl"))
    assert r.returncode == 2 and "cannot read" in r.stderr and "Traceback" not in r.stderr
    f = tmp_path / "c.jsonl"
    f.write_text("{}\n")
    r = cli("batch", str(f), "-o", str(f))
    assert r.returncode == 2 and "must not be the input" in r.stderr


def test_progress_line(tmp_path):
    import io
    from payer_rules.batch import Progress
    buf = io.StringIO()
    p = Progress(buf, total_bytes=1000, enabled=True)
    p.update(500, 500, final=True)
    assert "500 claims" in buf.getvalue() and "50%" in buf.getvalue() and "left" in buf.getvalue()
    quiet = io.StringIO()
    Progress(quiet, 1000, enabled=False).update(5, 5, final=True)
    assert quiet.getvalue() == ""
