"""``payer-rules validate-x12``: implementation-guide validation with pyx12 (extra
'x12-validate'), findings by segment number with no claim values, and a clear message
when the extra is missing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from payer_rules.cli import main
from payer_rules.x12 import validate

from conftest import SHARED
from test_x12 import THERAPY

BAD = THERAPY.replace("SE*29*0001~", "SE*28*0001~").replace("DTP*472*D8*20240304", "DTP*472*D8*20241304", 1)


def test_missing_extra_is_a_clear_usage_error(tmp_path, monkeypatch, capsys):
    f = tmp_path / "c.837"
    f.write_text(THERAPY)
    monkeypatch.setitem(sys.modules, "pyx12", None)  # import pyx12 now raises ImportError
    monkeypatch.setitem(sys.modules, "pyx12.params", None)
    assert not validate.available()
    with pytest.raises(validate.ValidatorMissing, match=r"install the 'x12-validate' extra"):
        validate.validate_x12(f)
    assert main(["validate-x12", str(f)]) == 2
    err = capsys.readouterr().err
    assert "needs pyx12" in err and "pip install 'payer-rules[x12-validate]'" in err and "Traceback" not in err


pyx12 = pytest.importorskip("pyx12", reason="pyx12 (extra 'x12-validate') is not installed")


def test_findings_name_segments_and_hide_values(tmp_path):
    f = tmp_path / "bad.837"
    f.write_text(BAD)
    valid, findings = validate.validate_x12(f)
    assert not valid
    by = {(x.segment, x.segment_id, x.element): x for x in findings}
    se = next(x for x in findings if x.level == "transaction")
    assert se.segment == 31 and "SE count of 28" in se.message  # the SE, numbered from ISA as the reader does
    dtp = by[(17, "DTP", "DTP03")]
    assert dtp.position == 15 and "invalid date" in dtp.message and "20241304" not in dtp.message
    assert (7, "N3", None) in by  # a required segment the synthetic file lacks
    assert all("1EG4TE5MK73" not in x.message and "DOE" not in x.message for x in findings)


def test_cli_text_and_json(tmp_path):
    f = tmp_path / "bad.837"
    f.write_text(BAD)
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "validate-x12", str(f)], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr == ""
    assert f"{f}: segment 17 DTP (15 in its transaction set) DTP03: " in r.stdout
    assert r.stdout.splitlines()[-1].endswith("not valid against its implementation guide (8 finding(s), pyx12)")
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "validate-x12", str(f), "--format", "json"],
                       capture_output=True, text=True)
    doc = json.loads(r.stdout)
    assert doc["valid"] is False and {"segment": 31, "level": "transaction"}.items() <= doc["findings"][0].items()


def test_not_x12_and_missing_file(tmp_path, capsys):
    f = tmp_path / "c.jsonl"
    f.write_text('{"claim_id": "A"}\n')
    assert main(["validate-x12", str(f)]) == 2
    assert "not an X12 interchange" in capsys.readouterr().err
    assert main(["validate-x12", str(tmp_path / "nope.837")]) == 2


@pytest.mark.skipif(not (SHARED / "data" / "x12" / "pyx12").is_dir(), reason="needs ../shared/data/x12")
def test_public_sample_passes():
    valid, findings = validate.validate_x12(SHARED / "data" / "x12" / "pyx12" / "simple_837p.txt")
    assert valid and findings == []
