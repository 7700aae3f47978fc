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

from payer_rules import hookimpl
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


# -- faulty and hanging plugins through batch, 1 and 2 workers ----------------------------------

class Faulty:
    """A global plugin that misbehaves for claims with certain ids (issue 11: each kind)."""

    PAYER_RULES_GLOBAL = True

    @hookimpl
    def register_edits(self, register):
        register("faulty.note", category="documentation", severity="info", section="(none)",
                 description="a note from the faulty test plugin")

    @hookimpl
    def check_claim(self, claim):
        from payer_rules.models import Edit
        if claim.claim_id == "VALUEERROR":
            raise ValueError("boom")
        if claim.claim_id == "SYSTEMEXIT":
            raise SystemExit(3)
        if claim.claim_id == "HANG":
            time.sleep(30)
        if claim.claim_id == "OBJECT-MESSAGE":
            return [Edit("faulty.note", "documentation", "info", object())]
        return []

    @hookimpl
    def adjust_result(self, result, claim):
        if claim.claim_id == "SET-ID":
            result.claim_id = {"a", "set"}

    @hookimpl
    def compute_units(self, claim, lines):
        from payer_rules import Allocation, UnitDecision
        if claim.claim_id == "HUGE-UNITS":
            return Allocation(source="faulty", method="faulty",
                              decisions={tl.line.line: UnitDecision(10**30, "many") for tl in lines})
        return None


BAD = {"VALUEERROR": "check_claim", "SYSTEMEXIT": "check_claim", "OBJECT-MESSAGE": "check_claim",
       "SET-ID": "adjust_result", "HUGE-UNITS": "compute_units", "HANG": None}


def faulty_claims(path: Path) -> list[str]:
    ids = []
    with open(path, "w") as fh:
        for i in range(20):
            cid = list(BAD)[i % len(BAD)] if i % 3 == 1 else f"GOOD-{i}"
            ids.append(cid)
            fh.write(json.dumps({"claim_id": cid, "payer": "medicare", "lines": [
                {"code": "97110", "minutes": 30, "modifiers": ["GP"], "date_of_service": "2024-03-05"}]}) + "\n")
    return ids


@pytest.mark.parametrize("workers", [1, 2])
def test_faulty_and_hanging_plugins_cost_only_their_claim(tmp_path, workers):
    from payer_rules import Engine
    src = tmp_path / "claims.jsonl"
    ids = faulty_claims(src)
    engine = Engine(plugins=[("faulty", Faulty())])
    out = tmp_path / f"out{workers}.jsonl"
    summary = run_batch(str(src), str(out), engine=engine, workers=workers, progress=False, chunk_size=3,
                        claim_timeout=0.5)
    results = [json.loads(x) for x in out.read_bytes().splitlines()]
    assert [r["index"] for r in results] == list(range(1, 21)) and summary.claims == 20
    for cid, r in zip(ids, results):
        if cid.startswith("GOOD"):
            assert r["status"] != "error" and r["claim_id"] == cid
            continue
        assert r["status"] == "error", cid
        rule = {e["rule"] for e in r["edits"]}
        if cid == "HANG":
            # the time budget named the plugin that was running (plugin.failed) or the budget itself
            assert rule & {"claim.time_budget", "plugin.failed"}
            assert "time budget" in r["error"] and "0.5 s" in r["error"]
        else:
            assert rule == {"plugin.failed"}, (cid, r["error"])
            assert f"plugin 'faulty' failed in {BAD[cid]}" in r["error"], (cid, r["error"])
    ref = tmp_path / "ref.jsonl"
    run_batch(str(src), str(ref), engine=engine, workers=1, progress=False, chunk_size=3, claim_timeout=0.5)
    assert out.read_bytes() == ref.read_bytes()  # identical with 1 and 2 workers


def test_claim_timeout_from_cli(tmp_path):
    """--claim-timeout through the command, with a hanging plugin installed by entry point."""
    pkg = tmp_path / "site"
    pkg.mkdir()
    (pkg / "hang_plugin.py").write_text(
        "import time\nfrom payer_rules import hookimpl\nPAYER_RULES_GLOBAL = True\n"
        "@hookimpl\ndef check_claim(claim):\n    if claim.claim_id == 'HANG':\n        time.sleep(30)\n    return []\n")
    dist = pkg / "hang_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hang-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[payer_rules]\nhang_plugin = hang_plugin\n")
    src = tmp_path / "c.jsonl"
    good = {"payer": "medicare", "lines": [{"code": "97110", "minutes": 30, "modifiers": ["GP"],
                                            "date_of_service": "2024-03-05"}]}
    src.write_text("".join(json.dumps({"claim_id": cid, **good}) + "\n" for cid in ("A", "HANG", "B")))
    env = {**os.environ, "PYTHONPATH": f"{pkg}:{os.environ.get('PYTHONPATH', '')}"}
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"o{workers}.jsonl"
        started = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "batch", str(src), "-o", str(out), "-q",
                            "--claim-timeout", "0.5", "--workers", workers], capture_output=True, text=True, env=env)
        assert time.monotonic() - started < 20
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        statuses = [json.loads(x)["status"] for x in out.read_text().splitlines()]
        assert statuses[1] == "error" and statuses[0] != "error" and statuses[2] != "error"
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_keyboard_interrupt_stops_the_run(tmp_path):
    """Ctrl-C (SIGINT to the process group) stops a batch with exit 130, 1 and 2 workers."""
    pkg = tmp_path / "site"
    pkg.mkdir()
    (pkg / "slow_plugin.py").write_text(
        "import time\nfrom payer_rules import hookimpl\nPAYER_RULES_GLOBAL = True\n"
        "@hookimpl\ndef check_claim(claim):\n    time.sleep(0.05)\n    return []\n")
    dist = pkg / "slow_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: slow-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[payer_rules]\nslow_plugin = slow_plugin\n")
    src = tmp_path / "c.jsonl"
    workload.write(2000, str(src), seed=3)
    env = {**os.environ, "PYTHONPATH": f"{pkg}:{os.environ.get('PYTHONPATH', '')}"}
    for workers in ("1", "2"):
        out = tmp_path / f"o{workers}.jsonl"
        proc = subprocess.Popen([sys.executable, "-m", "payer_rules.cli", "batch", str(src), "-o", str(out), "-q",
                                 "--workers", workers],
                                start_new_session=True, env=env, stderr=subprocess.PIPE, text=True)
        time.sleep(2.5)
        os.killpg(proc.pid, signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("the batch did not stop on SIGINT")
        assert proc.returncode == 130, err
        assert "interrupted" in err


# -- --resume against a changed input; exit status of a resumed run --------------------------------

def test_resume_refuses_changed_input(claims_file, reference, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(claims_file.read_bytes())
    out = tmp_path / "out.jsonl"
    interrupted_run(src, out, 1000)
    data = src.read_bytes()
    src.write_bytes(b'{"claim_id": "NEW", "payer": "medicare", "lines": []}\n' + data)  # inserted at the top
    r = cli("batch", str(src), "-o", str(out), "--resume", "-q")
    assert r.returncode == 2 and "input changed" in r.stderr and "Traceback" not in r.stderr
    src.write_bytes(data[:1000])  # shorter than what was consumed
    r = cli("batch", str(src), "-o", str(out), "--resume", "-q")
    assert r.returncode == 2 and "shorter" in r.stderr
    # the same input again: the resume goes on, and the output is the uninterrupted one
    src.write_bytes(data)
    r = cli("batch", str(src), "-o", str(out), "--resume", "-q")
    whole = tmp_path / "whole.jsonl"
    run_batch(str(src), str(whole), progress=False)  # messages name the file: a reference for this one
    assert out.read_bytes() == whole.read_bytes() and len(reference.splitlines()) == 3003
    assert r.returncode == 1  # the three bad records are in the part resumed
    # appended input: the consumed prefix is unchanged, so resuming continues with the new records
    with open(src, "ab") as fh:
        fh.write(b'{"claim_id": "MORE", "payer": "medicare", "lines": [{"code": "97110", "minutes": 30, '
                 b'"modifiers": ["GP"], "date_of_service": "2024-03-05"}]}\n')
    r = cli("batch", str(src), "-o", str(out), "--resume", "-q")
    assert len(out.read_bytes().splitlines()) == 3004


def test_resume_exit_status_covers_the_whole_output(tmp_path):
    src = tmp_path / "in.jsonl"
    bad = b'{"claim_id": "BAD", "lines": 5}\n'
    src.write_bytes(bad + b"".join(b'{"claim_id": "G%d", "payer": "medicare", "lines": [{"code": "97110", '
                                   b'"minutes": 30, "modifiers": ["GP"], "date_of_service": "2024-03-05"}]}\n' % i
                                   for i in range(5)))
    out = tmp_path / "out.jsonl"

    def stop(written):
        raise Stop
    with pytest.raises(Stop):
        run_batch(str(src), str(out), progress=False, chunk_size=1, on_chunk=stop)
    assert len(out.read_bytes().splitlines()) == 1
    r = cli("batch", str(src), "-o", str(out), "--resume", "-q")
    assert len(out.read_bytes().splitlines()) == 6
    assert r.returncode == 1  # the error record came before the resume


def test_resume_without_sidecar_is_refused(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"claim_id": "A"}\n')
    out = tmp_path / "out.jsonl"
    out.write_text('{"claim_id": "A"}\n')
    r = cli("batch", str(src), "-o", str(out), "--resume", "-q")
    assert r.returncode == 2 and "no record of the input" in r.stderr


# -- workers exit when the parent dies ----------------------------------------------------------

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_parent_is_killed(tmp_path):
    big = tmp_path / "big.jsonl"
    workload.write(40000, str(big), seed=5)
    out = tmp_path / "o.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "payer_rules.cli", "batch", str(big), "-o", str(out),
                             "--workers", "2", "-q"], start_new_session=True)
    deadline = time.monotonic() + 60
    children: set[int] = set()
    while time.monotonic() < deadline and len(children) < 2:
        children = _children(proc.pid)
        time.sleep(0.05)
    assert len(children) >= 2, "no workers seen"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in children):
        time.sleep(0.1)
    alive = [p for p in children if _alive(p)]
    for p in alive:
        os.kill(p, signal.SIGKILL)
    assert not alive, "workers outlived their parent"


def _children(pid: int) -> set[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return set()
    return {int(x) for x in text.split()}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
