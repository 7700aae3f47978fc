"""Readers are plugins: the built-ins, the one dispatch, and a third-party reader
installed through a real entry point (the example in docs/readers.md)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from payer_rules import Engine
from payer_rules.batch import run_batch
from payer_rules.plugin_manager import load_plugins
from payer_rules.readers import ReadError, ReaderError, ReadOptions, open_records, read_claims

from conftest import ROOT

EXAMPLE = ROOT / "docs" / "examples" / "csv_reader"
CSV = ("claim_id,payer,code,minutes,modifiers,date_of_service\n"
       "A,medicare,97110,30,GP,2024-03-05\n"
       "A,medicare,97140,15,GP,2024-03-05\n"
       "B,medicare,97110,8,GP,2024-03-05\n")


@pytest.fixture
def csv_installed(tmp_path, monkeypatch):
    """Install the example reader the way pip would: a dist-info with an entry point."""
    dist = tmp_path / "acme_csv_reader-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-csv-reader\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[payer_rules]\nacme_csv_reader = acme_csv_reader\n")
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("acme_csv_reader", None)


def test_builtin_readers_are_plugins():
    readers = load_plugins().readers
    assert readers["jsonl"].plugin == "jsonl_reader" and readers["x12-837p"].plugin == "x12_reader"


def test_dispatch_by_name_and_by_sniffing(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text('{"claim_id": "A", "payer": "medicare", "lines": []}\n')
    assert open_records(str(f)).reader.name == "jsonl"
    assert open_records(io.BytesIO(b"ISA*00*")).reader.name == "x12-837p"
    assert open_records(str(f), format="x12-837p").reader.name == "x12-837p"
    with pytest.raises(ReaderError, match="no reader named 'nope'"):
        open_records(str(f), format="nope")


def test_limits_name_the_setting(tmp_path):
    f = tmp_path / "c.jsonl"
    f.write_text(json.dumps({"claim_id": "A", "lines": [{"code": "97110"}] * 5}) + "\n" + "x" * 300 + "\n")
    opts = ReadOptions(max_claim_lines=4, max_record_bytes=200)
    (_, a), (_, b) = list(read_claims(str(f), options=opts))
    assert isinstance(a, ReadError) and "max_claim_lines" in a.message and "PAYER_RULES_MAX_CLAIM_LINES" in a.message
    assert isinstance(b, ReadError) and "max_record_bytes" in b.message and "PAYER_RULES_MAX_RECORD_BYTES" in b.message
    env = ReadOptions.from_env({"PAYER_RULES_MAX_DEPTH": "3"})
    assert env.max_depth == 3
    with pytest.raises(ReaderError, match="PAYER_RULES_MAX_DEPTH"):
        ReadOptions.from_env({"PAYER_RULES_MAX_DEPTH": "３"})


def test_third_party_reader_through_entry_point(csv_installed, tmp_path):
    f = tmp_path / "claims.csv"
    f.write_text(CSV)
    engine = Engine()
    assert engine.plugins.readers["acme-csv"].plugin == "acme_csv_reader"
    records = list(read_claims(str(f), readers=engine))
    assert [r["claim_id"] for _, r in records] == ["A", "B"] and len(records[0][1]["lines"]) == 2
    out = tmp_path / "out.jsonl"
    run_batch(str(f), str(out), engine=engine, progress=False)
    assert [json.loads(x)["claim_id"] for x in out.read_text().splitlines()] == ["A", "B"]


def test_third_party_reader_from_cli(csv_installed, tmp_path):
    f = tmp_path / "claims.txt"  # no .csv: recognised by its sniff, or chosen by name
    f.write_text(CSV)
    env = {"PYTHONPATH": f"{csv_installed}:{EXAMPLE}", "PATH": "/usr/bin:/bin"}
    for extra in ([], ["--input-format", "acme-csv"]):
        r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "check", str(f), *extra],
                           capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr
        assert [json.loads(x)["claim_id"] for x in r.stdout.splitlines()] == ["A", "B"]
    out = tmp_path / "o.jsonl"
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "batch", str(f), "-o", str(out), "-q",
                        "--input-format", "acme-csv", "--workers", "2"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert len(out.read_text().splitlines()) == 2
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "check", str(f), "--input-format", "csv"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "no reader named 'csv'" in r.stderr and "acme-csv" in r.stderr


def test_broken_reader_costs_the_rest_of_its_file_not_the_run(tmp_path):
    from payer_rules import hookimpl

    class Broken:
        PAYER_RULES_GLOBAL = True

        @hookimpl
        def register_readers(self, register):
            def read(stream, name, options):
                yield 1, {"claim_id": "A", "payer": "medicare", "lines": []}
                raise RuntimeError("secret claim data")
            register("broken", read)

    engine = Engine(plugins=[("broken", Broken())])
    f = tmp_path / "x"
    f.write_text("whatever")
    records = list(read_claims(str(f), readers=engine, format="broken"))
    assert len(records) == 2 and isinstance(records[1][1], ReadError)
    assert "reader 'broken'" in records[1][1].message and "secret" not in records[1][1].message


def test_docs_show_the_example_reader():
    doc = (ROOT / "docs" / "readers.md").read_text()
    source = (EXAMPLE / "acme_csv_reader.py").read_text()
    block = doc.split("```python\nimport csv\n", 1)[1].split("```", 1)[0]
    assert ("import csv\n" + block).strip() in source
