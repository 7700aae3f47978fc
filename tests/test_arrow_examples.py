"""The Parquet, DuckDB and Polars examples of docs/arrow.md run as written, and their
results equal the JSON path's."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOC = ROOT / "docs" / "arrow.md"
NEEDS = {"parquet": "pyarrow", "duckdb": "duckdb", "polars": "polars"}


def _examples() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    return dict(re.findall(r"<!-- example: (\w+) -->\n```python\n(.*?)```", text, flags=re.S))


def test_the_doc_has_the_three_examples():
    assert set(_examples()) == set(NEEDS)


@pytest.mark.parametrize("name", sorted(NEEDS))
def test_example_runs(name, tmp_path, monkeypatch, capsys):
    pytest.importorskip("pyarrow")
    pytest.importorskip(NEEDS[name])
    shutil.copy(ROOT / "docs" / "examples" / "claims.jsonl", tmp_path / "claims.jsonl")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(_examples()[name], f"docs/arrow.md ({name})", "exec"), scope)
    assert capsys.readouterr().out

    from payer_rules import Engine
    from payer_rules.arrow import to_dicts
    import json
    engine = Engine()
    claims = [json.loads(x) for x in (tmp_path / "claims.jsonl").read_text().splitlines()]
    want = []
    for i, c in enumerate(claims, start=1):
        r = engine.evaluate(c)
        r.index = i
        want.append(r.to_dict())
    if name == "parquet":
        import pyarrow.parquet as pq
        got = to_dicts(pq.read_table("results.parquet"), pq.read_table("edits.parquet"))
    else:
        got = to_dicts(scope["results"], scope["edits"])
    assert got == want
