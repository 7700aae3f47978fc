"""payer_rules.arrow: the Arrow path gives the JSON path's results, value for value; and
payer_rules.bundle: a bundle opens into the same engine without rebuilding the PTP index."""

from __future__ import annotations

import json
import random
import sys
import zipfile
from datetime import date
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")

from payer_rules import Engine  # noqa: E402
from payer_rules import tables  # noqa: E402
from payer_rules.policy import bundled_dir  # noqa: E402
from payer_rules.arrow import (  # noqa: E402
    CLAIM_SCHEMA, EDIT_SCHEMA, LINE_ROW_SCHEMA, NESTED_SCHEMA, RESULT_SCHEMA, evaluate_batches, evaluate_table,
    split, to_dicts,
)
from payer_rules.bundle import BundleError, build_bundle, engine_from_bundle, open_bundle  # noqa: E402

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "docs" / "examples"
sys.path.insert(0, str(ROOT / "bench"))
import workload  # noqa: E402


@pytest.fixture(scope="module")
def engine():
    return Engine()


def _claims(n: int = 400) -> list[dict]:
    rnd = random.Random(7)
    out = [workload.claim(rnd, i) for i in range(n)]
    out += [json.loads(line) for line in (EXAMPLES / "claims.jsonl").read_text().splitlines()]
    # bad claims whose fields still have one type per column
    out += [{"claim_id": "BAD-1", "payer": "medicare", "lines": [{"code": "97110", "date_of_service": "2024-02-30"}]},
            {"claim_id": "BAD-2", "payer": "nobody", "lines": [{"code": "97110", "date_of_service": "2024-02-01"}]},
            {"claim_id": "BAD-3", "payer": "medicare", "lines": []},
            {"claim_id": "SPAN", "payer": "medicare", "lines": [
                {"code": "97110", "modifiers": ["GP"], "date_of_service": "2024-03-01", "minutes": 20, "units": 1},
                {"code": "97110", "modifiers": ["GP"], "date_of_service": "2016-03-01", "minutes": 20, "units": 1}]}]
    return out


def _expected(engine, claims):
    out = []
    for i, c in enumerate(claims, start=1):
        r = engine.evaluate(c)
        r.index = i
        out.append(r.to_dict())
    return out


def _line_rows(claims):
    rows = []
    for c in claims:
        for ln in c["lines"] or [{}]:
            row = {k: v for k, v in c.items() if k != "lines"}
            row.update(ln)
            rows.append(row)
    return pa.Table.from_struct_array(pa.array(rows))


def test_claim_rows_give_the_json_results_value_for_value(engine):
    claims = _claims()
    results, edits = evaluate_table(pa.Table.from_struct_array(pa.array(claims)).to_batches(max_chunksize=97),
                                    engine, batch_size=150)
    assert results.schema == RESULT_SCHEMA and edits.schema == EDIT_SCHEMA
    assert to_dicts(results, edits) == _expected(engine, claims)
    assert results.num_rows == len(claims)
    assert sum(results.column("edit_count").to_pylist()) == edits.num_rows


def test_line_rows_group_by_claim_across_batches(engine):
    claims = [c for c in _claims(300) if c["lines"]]
    table = _line_rows(claims)
    results, edits = evaluate_table(table.to_batches(max_chunksize=7), engine, layout="lines")
    assert to_dicts(results, edits) == _expected(engine, claims)


def test_reference_schemas_are_accepted_with_dates_as_date32(engine):
    claims = [c for c in _claims(50) if c["claim_id"].startswith("CLM")]
    want = _expected(engine, claims)
    typed = pa.Table.from_pylist(claims, schema=CLAIM_SCHEMA)
    assert to_dicts(*evaluate_table(typed, engine)) == want
    rows = _line_rows(claims).to_pylist()
    for r in rows:
        r["date_of_service"] = date.fromisoformat(r["date_of_service"])
    schema = pa.schema([f if f.name != "date_of_service" else pa.field(f.name, pa.date32()) for f in LINE_ROW_SCHEMA])
    assert to_dicts(*evaluate_table(pa.Table.from_pylist(rows, schema=schema), engine, layout="lines")) == want


def test_bad_rows_become_error_rows(engine):
    table = pa.table({"claim_id": ["A", None, "C"], "payer": ["medicare"] * 3,
                      "lines": [None, [{"code": "97110", "date_of_service": "2024-01-02"}], [{"code": "nope!"}]],
                      "_corrupt_record": [None, None, "{not json"]})
    results, _ = evaluate_table(table, engine)
    rows = results.to_pylist()
    assert [r["status"] for r in rows] == ["error"] * 3
    assert rows[0]["error"].startswith("lines:") and rows[1]["error"].startswith("claim_id:")
    assert "_corrupt_record" in rows[2]["error"] and "not json" not in rows[2]["error"]


def test_line_rows_of_a_claim_apart_are_an_error_row(engine):
    line = {"payer": "medicare", "code": "97110", "modifiers": ["GP"], "date_of_service": "2024-01-02", "minutes": 20}
    table = pa.Table.from_pylist([{"claim_id": "A", **line}, {"claim_id": "B", **line}, {"claim_id": "A", **line}])
    rows = evaluate_table(table, engine, layout="lines")[0].to_pylist()
    assert [r["claim_id"] for r in rows] == ["A", "B", "A"]
    assert [r["status"] for r in rows][2] == "error" and "next to each other" in rows[2]["error"]


def test_nested_batches_split_into_the_two_tables(engine):
    claims = _claims(30)
    nested = list(evaluate_batches(pa.Table.from_struct_array(pa.array(claims)).to_batches(), engine, nested=True,
                                   start_index=100))
    assert all(b.schema == NESTED_SCHEMA for b in nested)
    results, edits = split(nested[0])
    assert results.column("index").to_pylist()[0] == 101
    assert edits.num_rows == sum(results.column("edit_count").to_pylist())


# -- bundles -------------------------------------------------------------------------------

def test_bundle_opens_into_the_same_results_without_building_the_ptp_index(engine, tmp_path, monkeypatch):
    path = build_bundle(tmp_path / "b.zip")
    again = build_bundle(tmp_path / "c.zip")
    assert path.read_bytes() == again.read_bytes()  # same input, same bytes
    names = zipfile.ZipFile(path).namelist()
    assert any(n.startswith("cache/ptp-") for n in names) and "manifest.json" in names
    assert any(n.endswith("_therapy.csv.provenance.json") for n in names)  # the tables' dates travel too

    def no_build(*a, **k):
        raise AssertionError("the PTP index was rebuilt")
    monkeypatch.setattr(tables.PtpTable, "build", no_build)
    monkeypatch.setattr(tables.cache, "_SHARED", {})  # nothing loaded in this process
    bundled = engine_from_bundle(path)
    assert engine_from_bundle(path) is bundled  # once per process
    claims = _claims(100)
    assert [bundled.evaluate(c).to_dict() for c in claims] == [engine.evaluate(c).to_dict() for c in claims]


def test_bundle_refuses_a_changed_member(tmp_path):
    path = build_bundle(tmp_path / "b.zip")
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("medicare.yaml"):
                data += b"\n# changed\n"
            dst.writestr(info, data)
    with pytest.raises(BundleError, match="SHA-256"):
        open_bundle(bad)


def test_bundle_carries_a_plugin_and_custom_policies(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES / "acme_plugin"))
    path = build_bundle(tmp_path / "b.zip", [EXAMPLES / "acme_policies"], plugins=["acme_units"])
    names = zipfile.ZipFile(path).namelist()
    assert "python/acme_units.py" in names and "policies/0/acme.yaml" in names
    with pytest.raises(BundleError, match="cannot be imported"):
        build_bundle(tmp_path / "x.zip", plugins=["no_such_plugin_module"])


def test_bundle_command(tmp_path, capsys, monkeypatch):
    from payer_rules.cli import main
    monkeypatch.syspath_prepend(str(EXAMPLES / "acme_plugin"))
    out = tmp_path / "b.zip"
    assert main(["bundle", str(out), "--policies", str(bundled_dir()), "--policies", str(EXAMPLES / "acme_policies"),
                 "--plugin", "acme_units"]) == 0
    said = capsys.readouterr().out
    assert "plugins: acme_units" in said and "cache/ptp-" in said
    engine = engine_from_bundle(out)
    assert "acme" in engine.policies.payers()
    assert main(["bundle", str(tmp_path / "x.zip"), "--plugin", "no_such_plugin_module"]) == 2
    assert "cannot be imported" in capsys.readouterr().err


SHARED = Path(__file__).parents[1].parent / "shared" / "data" / "ncci"


@pytest.mark.skipif(not (SHARED / "ptp_practitioner_v301r0.csv.gz").is_file(), reason="needs ../shared")
def test_bundle_of_the_full_ptp_table_opens_without_a_rebuild(tmp_path, monkeypatch):
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "tables").mkdir()
    for f in (bundled_dir() / "tables").iterdir():
        (folder / "tables" / f.name).write_bytes(f.read_bytes())
    (folder / "tables" / "ptp_full.csv.gz").write_bytes((SHARED / "ptp_practitioner_v301r0.csv.gz").read_bytes())
    text = (bundled_dir() / "medicare.yaml").read_text().replace("tables/medicare_ptp_v301r0_therapy.csv",
                                                                   "tables/ptp_full.csv.gz")
    (folder / "medicare.yaml").write_text(text)
    path = build_bundle(tmp_path / "b.zip", folder)
    monkeypatch.setattr(tables.PtpTable, "build", lambda *a, **k: pytest.fail("the PTP index was rebuilt"))
    monkeypatch.setattr(tables.cache, "_SHARED", {})
    engine = engine_from_bundle(path)
    table, _ = tables.policy_table(engine.policies.all()[0], "ptp")
    assert len(table) > 1_000_000
