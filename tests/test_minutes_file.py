"""The minutes companion file: minutes and time blocks for 837 lines, keyed by CLM01 and
LX01, found next to the 837 by name; its problems are error records, never lost claims."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from payer_rules import Engine
from payer_rules.readers import ReadError
from payer_rules.x12 import parse_837

from test_x12 import THERAPY

ROWS = "claim_id,line,minutes,start_time,end_time\nPT-1001,1,38,,\nPT-1001,2,,09:40,09:52\n"


def test_companion_minutes_verify_units(tmp_path):
    f = tmp_path / "claims.837"
    f.write_text(THERAPY)
    (tmp_path / "claims.837.minutes.csv").write_text(ROWS)
    records = list(parse_837(f.read_text(), {"04412": "medicare"}, str(f)))
    a = records[0]
    assert a["lines"][0]["minutes"] == 38 and a["lines"][0]["units"] == 3
    assert a["lines"][1]["start_time"] == "09:40" and a["lines"][1]["end_time"] == "09:52"
    assert a["lines"][2]["minutes"] == 24  # the 837's own minutes (SV103 MJ)
    r = Engine().evaluate(a)
    assert "units.unverified" not in {e.rule for e in r.edits}
    assert [ln.minutes for ln in r.lines] == [38, 12, 24]
    # without the file the same claim's units cannot be verified
    bare = list(parse_837(THERAPY, {"04412": "medicare"}, str(f), minutes=None))[0]
    assert "units.unverified" in {e.rule for e in Engine().evaluate(bare).edits}


def test_cli_check_finds_the_companion(tmp_path):
    f = tmp_path / "claims.837"
    f.write_text(THERAPY)
    (tmp_path / "claims.837.minutes.csv").write_text(ROWS)
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "check", str(f)], capture_output=True, text=True)
    first = json.loads(r.stdout.splitlines()[0])
    assert [ln["minutes"] for ln in first["lines"]] == [38, 12, 24]


@pytest.mark.parametrize("text,expect", [
    ("claim_id,line,minutes\nPT-1001,x,30\n", ":2: line must be the 837's LX01 line number"),
    ("claim_id,line,minutes\nPT-1001,1,abc\n", ":2: minutes must be a whole number from 0 to 1440"),
    ("claim_id,line,start_time,end_time\nPT-1001,1,9:40,\n", ":2: start_time must be HH:MM"),
    ("claim_id,line,minutes\nPT-1001,1,30\nPT-1001,1,31\n", ":3: a second row for the same claim and line"),
    ("claim,line,minutes\n", ":1: the header must name claim_id"),
    ("claim_id,line,minutes,color\n", ":1: unknown column(s) color"),
])
def test_bad_companion_is_an_error_record_and_no_claim_is_lost(tmp_path, text, expect):
    m = tmp_path / "m.csv"
    m.write_text(text)
    records = list(parse_837(THERAPY, {}, "t.837", minutes=str(m)))
    errors = [r.message for r in records if isinstance(r, ReadError)]
    assert any(expect in e and "read without its minutes" in e for e in errors), errors
    assert "abc" not in " ".join(errors)
    assert sum(1 for r in records if isinstance(r, dict)) == 2


def test_rows_matching_no_line_are_reported(tmp_path):
    m = tmp_path / "m.csv"
    m.write_text("claim_id,line,minutes\nPT-1001,1,30\nPT-9999,1,30\n")
    records = list(parse_837(THERAPY, {}, "t.837", minutes=str(m)))
    assert isinstance(records[-1], ReadError) and "1 row(s) match no claim line" in records[-1].message
