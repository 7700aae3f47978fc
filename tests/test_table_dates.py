"""Tables declare the dates they are valid for (docs/tables.md): a claim line outside a
table's dates is not judged by it and gets ``<kind>.table_out_of_range`` naming the table,
the lines and the dates; lint reports the parts of a version's window its tables do not
cover. Worked examples use a quarterly MUE release (2024-04-01 to 2024-06-30), a yearly
fee-schedule file (2024) and a PTP release valid to 2024-06-30."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from payer_rules import Engine, PolicyError
from payer_rules.lint import lint
from payer_rules.tables import Validity

MUE = "hcpcs,mue_value,mue_adjudication_indicator,mue_rationale\n97110,6,3,Clinical\n97140,6,3,Clinical\n"
PFS = "hcpcs,modifier,status,mult_proc\n97010,,B,5\n97110,,A,5\n97140,,A,5\n"
PTP = "column1,column2,effective_date,deletion_date,modifier_indicator,rationale\n97530,97140,20000101,*,1,x\n"

POLICY = textwrap.dedent("""\
    schema_version: 1
    payer: dated
    name: Dated tables
    unit_method: cms_total_time
    codes:
      timed: {"97110": 15, "97140": 15, "97530": 15}
      untimed: ["97010"]
    tables:
      mue:
        file: tables/mue.csv
        version: MUE 2024-04-01
    MUE_EXTRA
      pfs:
        file: tables/pfs.csv
        version: PFS 2024
      ptp:
        file: tables/ptp.csv
        version: PTP v30.1
    mue: {}
    fee_schedule:
      statuses:
        B: {meaning: bundled, remove_line: true}
    ncci: {associated_modifiers: ["59"]}
    versions:
      - version: "1"
        effective_from: "2017-01-01"
    """)


def prov(path: Path, valid_from, valid_to) -> None:
    Path(str(path) + ".provenance.json").write_text(json.dumps({"kind": "x", "version": "v",
                                                                "valid_from": valid_from, "valid_to": valid_to}))


def make(tmp_path: Path, mue_extra: str = "", dated: bool = True) -> Path:
    d = tmp_path / "pol"
    (d / "tables").mkdir(parents=True)
    (d / "tables" / "mue.csv").write_text(MUE)
    (d / "tables" / "pfs.csv").write_text(PFS)
    (d / "tables" / "ptp.csv").write_text(PTP)
    if dated:
        prov(d / "tables" / "mue.csv", "2024-04-01", "2024-06-30")
        prov(d / "tables" / "pfs.csv", "2024-01-01", "2024-12-31")
        prov(d / "tables" / "ptp.csv", None, "2024-06-30")
    extra = textwrap.indent(textwrap.dedent(mue_extra), "    ") if mue_extra else ""
    (d / "dated.yaml").write_text(POLICY.replace("MUE_EXTRA\n", extra))
    return d


def line(code, date, minutes=None, units=None, mods=()):
    out = {"code": code, "date_of_service": date, "modifiers": list(mods)}
    if minutes is not None:
        out["minutes"] = minutes
    if units is not None:
        out["units"] = units
    return out


def run(engine, *lines):
    return engine.evaluate({"claim_id": "T", "payer": "dated", "lines": list(lines)})


def rules(result):
    return sorted(e.rule for e in result.edits)


# -- the dates of one table ----------------------------------------------------------------

def test_gaps_of_a_version_window():
    q2 = Validity("mue", "MUE table 'x'", "2024-04-01", "2024-06-30")
    assert q2.gaps("2017-01-01", None) == [("2017-01-01", "2024-03-31"), ("2024-07-01", None)]
    assert q2.gaps("2024-04-01", "2024-06-30") == []
    assert q2.gaps("2024-05-01", "2024-12-31") == [("2024-07-01", "2024-12-31")]
    assert q2.gaps("2023-01-01", "2023-12-31") == [("2023-01-01", "2023-12-31")]
    assert Validity("ptp", "t", None, "2024-06-30").gaps("2017-01-01", None) == [("2024-07-01", None)]
    assert Validity("ptp", "t").gaps("2017-01-01", None) == [] and not Validity("ptp", "t").bounded
    assert q2.covers("2024-04-01") and q2.covers("2024-06-30") and not q2.covers("2024-07-01")
    assert q2.dates() == "2024-04-01 to 2024-06-30"


# -- claims -----------------------------------------------------------------------------------

def test_inside_the_dates_the_tables_judge(tmp_path):
    e = Engine(make(tmp_path))
    r = run(e, line("97110", "2024-05-06", minutes=105, units=7), line("97010", "2024-05-06", units=1))
    assert rules(r) == ["mue.mai3", "pfs.bundled"]


def test_outside_the_dates_a_warning_names_table_lines_and_dates(tmp_path):
    e = Engine(make(tmp_path))
    # the same lines in 2019: no MUE or fee-schedule table is valid then
    r = run(e, line("97110", "2019-03-04", minutes=105, units=7), line("97010", "2019-03-04", units=1))
    assert rules(r) == ["mue.table_out_of_range", "pfs.table_out_of_range"] and r.status == "warn"
    m = next(x for x in r.edits if x.rule == "mue.table_out_of_range")
    assert m.lines == (1, 2) and m.severity == "warning" and m.category == "mue"
    assert "lines 1, 2 (2019-03-04)" in m.message
    assert "MUE table 'MUE 2024-04-01' is valid 2024-04-01 to 2024-06-30" in m.message
    assert "not checked against it" in m.message
    p = next(x for x in r.edits if x.rule == "pfs.table_out_of_range")
    assert "fee-schedule indicator table 'PFS 2024' is valid 2024-01-01 to 2024-12-31" in p.message


def test_a_claim_across_the_boundary_is_judged_line_by_line(tmp_path):
    e = Engine(make(tmp_path))
    # 2024-06-30 is the MUE release's last day; 2024-07-01 has none: only line 2 is out of range
    r = run(e, line("97110", "2024-06-30", minutes=105, units=7), line("97110", "2024-07-01", minutes=105, units=7))
    assert rules(r).count("mue.mai3") == 1 and "mue.table_out_of_range" in rules(r)
    (mai,) = [x for x in r.edits if x.rule == "mue.mai3"]
    (out,) = [x for x in r.edits if x.rule == "mue.table_out_of_range"]
    assert mai.lines == (1,) and out.lines == (2,) and "line 2 (2024-07-01)" in out.message


def test_ptp_pairs_after_its_last_day_are_not_checked(tmp_path):
    e = Engine(make(tmp_path))
    pair = lambda d: (line("97530", d, minutes=15, units=1), line("97140", d, minutes=15, units=1))  # noqa: E731
    assert "ncci.ptp" in rules(run(e, *pair("2024-05-06")))
    assert "ncci.ptp" in rules(run(e, *pair("2019-05-06")))  # the rows' own dates: in force since 2000
    r = run(e, *pair("2024-08-05"))
    assert "ncci.ptp" not in rules(r) and "ncci.table_out_of_range" in rules(r)
    (w,) = [x for x in r.edits if x.rule == "ncci.table_out_of_range"]
    assert w.lines == (1, 2) and "NCCI PTP table 'PTP v30.1' is valid to 2024-06-30" in w.message
    # one line on a date: no pair to check, nothing to say
    assert "ncci.table_out_of_range" not in rules(run(e, line("97140", "2024-08-05", minutes=15, units=1)))


def test_explain_says_the_table_was_not_applied(tmp_path):
    e = Engine(make(tmp_path))
    info = e.explain({"claim_id": "T", "payer": "dated", "lines": [line("97110", "2019-03-04", minutes=30)]})
    assert any("MUE table 'MUE 2024-04-01' is valid 2024-04-01 to 2024-06-30" in m for m in info["near_misses"])


def test_undated_tables_judge_every_date(tmp_path):
    e = Engine(make(tmp_path, dated=False))
    r = run(e, line("97110", "2019-03-04", minutes=105, units=7), line("97010", "2019-03-04", units=1))
    assert rules(r) == ["mue.mai3", "pfs.bundled"]


# -- precedence: the policy's entry over the provenance file ---------------------------------

def test_policy_dates_win_field_by_field(tmp_path):
    # valid_to from the policy (extended a quarter: checked unchanged), valid_from from the provenance
    e = Engine(make(tmp_path, "  valid_to: \"2024-09-30\"\n"))
    assert "mue.mai3" in rules(run(e, line("97110", "2024-08-05", minutes=105, units=7)))
    assert "mue.table_out_of_range" in rules(run(e, line("97110", "2024-03-29", minutes=105, units=7)))
    # null in the policy opens that side
    e = Engine(make(tmp_path / "b", "  valid_from: null\n"))
    assert "mue.mai3" in rules(run(e, line("97110", "2019-03-04", minutes=105, units=7)))
    assert "mue.table_out_of_range" in rules(run(e, line("97110", "2024-08-05", minutes=105, units=7)))


def test_bad_dates_are_errors_with_file_and_line(tmp_path):
    d = make(tmp_path, "  valid_to: \"2024-02-30\"\n")
    with pytest.raises(PolicyError) as exc:
        Engine(d)
    assert "dated.yaml:12" in str(exc.value) and "tables.mue.valid_to: '2024-02-30' is not a date" in str(exc.value)
    d = make(tmp_path / "b")
    (d / "tables" / "mue.csv.provenance.json").write_text("{not json")
    with pytest.raises(PolicyError) as exc:
        Engine(d)
    assert "mue.csv.provenance.json:1" in str(exc.value) and "not valid JSON" in str(exc.value)
    d = make(tmp_path / "c")
    prov(d / "tables" / "mue.csv", "2024-04-01", "April")
    with pytest.raises(PolicyError) as exc:
        Engine(d)
    assert "valid_to: expected a date YYYY-MM-DD or null" in str(exc.value)


# -- lint ---------------------------------------------------------------------------------------

def cli(*args):
    return subprocess.run([sys.executable, "-m", "payer_rules.cli", *args], capture_output=True, text=True)


def test_lint_reports_each_uncovered_part_of_a_window(tmp_path):
    d = make(tmp_path)
    found = {(p.severity, p.line): p.message for p in lint([d])}
    mue = found[("warning", 10)]
    assert "version '1' is in force 2017-01-01 to 2024-03-31 and from 2024-07-01" in mue
    assert "tables.mue (the MUE table 'MUE 2024-04-01') is valid 2024-04-01 to 2024-06-30" in mue
    assert "mue.table_out_of_range" in mue and "tables.mue.uncovered" in mue
    assert "2017-01-01 to 2023-12-31 and from 2025-01-01" in found[("warning", 13)]  # pfs
    assert "is in force from 2024-07-01" in found[("warning", 16)]  # ptp
    r = cli("lint", "--strict", str(d))
    assert r.returncode == 1 and "dated.yaml:10:5: warning: version '1' is in force 2017-01-01 to 2024-03-31" in r.stdout


def test_uncovered_turns_the_warning_into_a_note(tmp_path):
    d = make(tmp_path, "  uncovered: only this quarter's release is licensed to us\n")
    mue = [p for p in lint([d]) if "tables.mue" in p.message]
    assert [p.severity for p in mue] == ["info"] and "(only this quarter's release is licensed to us)" in mue[0].message


def test_lint_notes_policy_dates_wider_than_the_provenance(tmp_path):
    d = make(tmp_path, "  valid_to: \"2024-09-30\"\n")
    notes = [p.message for p in lint([d]) if p.severity == "info"]
    assert any("tables.mue.valid_to (2024-09-30) is wider than the valid_to of mue.csv's provenance "
               "(2024-06-30)" in n for n in notes)


def test_the_bundled_tables_declare_their_release_dates():
    from payer_rules.policy import bundled_dir
    from payer_rules.tables import read_provenance
    t = Path(bundled_dir()) / "tables"
    dates = {k: (p["valid_from"], p["valid_to"]) for k, p in (
        ("mue", read_provenance(t / "medicare_mue_2024-04-01_therapy.csv")),
        ("pfs", read_provenance(t / "medicare_pfs_2024-07_therapy.csv")),
        ("ptp", read_provenance(t / "medicare_ptp_v301r0_therapy.csv")))}
    assert dates == {"mue": ("2024-04-01", "2024-06-30"), "pfs": ("2024-01-01", "2024-12-31"),
                     "ptp": (None, "2024-06-30")}


# -- import writes the dates --------------------------------------------------------------------

def test_import_records_the_release_dates(tmp_path):
    src = tmp_path / "mue_src.csv"
    src.write_text(MUE)
    out = tmp_path / "out" / "mue.csv"
    r = cli("tables", "import", "mue", str(src), "--out", str(out), "--version", "MUE 2024-07-01",
            "--valid-from", "2024-07-01", "--valid-to", "2024-09-30")
    assert r.returncode == 0, r.stderr
    p = json.loads(Path(str(out) + ".provenance.json").read_text())
    assert (p["valid_from"], p["valid_to"]) == ("2024-07-01", "2024-09-30")
    r = cli("tables", "import", "mue", str(src), "--out", str(out), "--version", "v", "--valid-to", "2024-13-01")
    assert r.returncode == 2 and "valid_to: expected a date YYYY-MM-DD" in r.stderr
    r = cli("tables", "import", "mue", str(src), "--out", str(out), "--version", "v")
    assert r.returncode == 0 and "no --valid-from/--valid-to" in r.stdout
