"""Charges in results and the csv writer (issue 14 item 5): from the CLI and batch."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

from payer_rules import Engine
from payer_rules.batch import run_batch
from payer_rules.writers import open_writer
from payer_rules.writers.csvfile import COLUMNS, safe_cell

CLAIM = {"claim_id": "C1", "payer": "medicare", "charge": 250.5, "diagnoses": ["M54.5"], "lines": [
    {"code": "97110", "minutes": 38, "units": 4, "modifiers": ["GP"], "date_of_service": "2024-04-04",
     "diagnosis_pointers": [1], "charge": 120},
    {"code": "97140", "minutes": 10, "units": 1, "modifiers": ["GP"], "date_of_service": "2024-04-04",
     "diagnosis_pointers": [1]}]}
CLEAN = {"claim_id": "=HYPERLINK(\"x\")", "payer": "medicare", "diagnoses": ["M54.5"], "lines": [
    {"code": "97110", "minutes": 8, "modifiers": ["GP"], "date_of_service": "2024-04-04", "diagnosis_pointers": [1]}]}


def test_charges_reach_the_result_only_when_given():
    engine = Engine()
    r = engine.evaluate(CLAIM)
    d = json.loads(r.to_json())
    assert d["charge"] == 250.5 and d["lines"][0]["charge"] == 120 and "charge" not in d["lines"][1]
    assert r.to_dict()["lines"][0]["charge"] == 120
    plain = json.loads(engine.evaluate(CLEAN).to_json())
    assert "charge" not in plain and all("charge" not in ln for ln in plain["lines"])
    bad = engine.evaluate(dict(CLAIM, charge="12"))
    assert bad.status == "error" and "charge: must be an amount" in bad.error


def rows_of(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def test_csv_rows_per_edit_fix_in_words_charge_at_risk_and_formula_safe():
    engine = Engine()
    buf = io.BytesIO()
    w = open_writer(engine.plugins, "csv", buf)
    for n, claim in enumerate((CLAIM, CLEAN), start=1):
        r = engine.evaluate(claim)
        r.index = n
        w.write(r)
    w.close()
    data = buf.getvalue()
    assert data.startswith(",".join(COLUMNS).encode() + b"\r\n")
    rows = rows_of(data)
    over = [r for r in rows if r["edit"] == "units.over_billed"]
    assert over and over[0]["fix"] == "Bill 2 units on line 1." and over[0]["charge_at_risk"] == "120.00"
    assert over[0]["denial_code"] == "CO-151" and over[0]["code"] == "97110"
    clean = [r for r in rows if r["record"] == "2"]
    assert len(clean) == 1 and clean[0]["edit"] == "" and clean[0]["claim_id"] == "'=HYPERLINK(\"x\")"
    assert safe_cell("-1") == "'-1" and safe_cell("@a") == "'@a" and safe_cell("ok") == "ok"


def test_batch_csv_is_check_csv_for_any_workers_and_resume_keeps_the_writer(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(c) for c in (CLAIM, CLEAN, CLAIM)) + "\nnot json\n")
    check = subprocess.run([sys.executable, "-m", "payer_rules.cli", "check", str(src), "--format", "csv"],
                           capture_output=True, check=False).stdout
    for workers in (1, 2):
        out = tmp_path / f"out{workers}.csv"
        run_batch(str(src), str(out), workers=workers, writer="csv", chunk_size=1, progress=False)
        assert out.read_bytes() == check
    rows = rows_of(check)
    assert sorted({r["record"] for r in rows}) == ["1", "2", "3", "4"]  # N in, N out
    import pytest
    from payer_rules.batch import ResumeError
    with pytest.raises(ResumeError, match="--format csv"):
        run_batch(str(src), str(tmp_path / "out1.csv"), writer="json", resume=True, progress=False)
    with pytest.raises(ValueError, match="no writer named"):
        run_batch(str(src), str(tmp_path / "x.out"), writer="nope", progress=False)
