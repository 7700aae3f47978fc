"""payer_rules.spark in Spark local mode (local[2]): the same results as `payer-rules batch`,
error rows for bad records, and custom policies plus a payer plugin that reach the
executors only through the bundle (they are deleted from disk before the job runs)."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("pandas")  # pyspark's mapInArrow imports it
pyspark = pytest.importorskip("pyspark")
if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs a Java runtime", allow_module_level=True)

from payer_rules import Engine  # noqa: E402
from payer_rules.policy import bundled_dir  # noqa: E402
from payer_rules.spark import claim_schema, evaluate_dataframe  # noqa: E402

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "docs" / "examples"
sys.path.insert(0, str(ROOT / "bench"))
import workload  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    os.environ["PYSPARK_PYTHON"] = sys.executable  # the workers run this interpreter (payer-rules installed)
    from pyspark.sql import SparkSession
    session = (SparkSession.builder.master("local[2]").appName("payer-rules-tests")
               .config("spark.sql.shuffle.partitions", "2").config("spark.ui.enabled", "false")
               .config("spark.driver.memory", "1g").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _rows(df) -> list[dict]:
    return [r.asDict(recursive=True) for r in df.collect()]


def _as_json_results(results: list[dict], edits: list[dict]) -> dict[str, dict]:
    """Spark's rows as the JSON path's result dicts (without index), by claim_id."""
    import pyarrow as pa
    from payer_rules.arrow import EDIT_SCHEMA, RESULT_SCHEMA, to_dicts
    for e in edits:
        e["edit"] = int(e["edit"])
    dicts = to_dicts(pa.Table.from_pylist(results, RESULT_SCHEMA), pa.Table.from_pylist(edits, EDIT_SCHEMA))
    out = {}
    for d in dicts:
        d.pop("index")
        out[d["claim_id"]] = d
    return out


@pytest.fixture(scope="module")
def claims_file(tmp_path_factory):
    rnd = random.Random(11)
    claims = [workload.claim(rnd, i) for i in range(300)]
    claims.append({"claim_id": "BAD-DATE", "payer": "medicare",
                   "lines": [{"code": "97110", "date_of_service": "2024-02-30", "minutes": 20}]})
    claims.append({"claim_id": "BAD-PAYER", "payer": "aetna-typo",
                   "lines": [{"code": "97110", "date_of_service": "2024-02-01", "minutes": 20}]})
    path = tmp_path_factory.mktemp("claims") / "claims.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in claims))
    return path


def test_results_identical_to_payer_rules_batch(spark, claims_file, tmp_path):
    out = tmp_path / "out.jsonl"
    done = subprocess.run([sys.executable, "-m", "payer_rules.cli", "batch", str(claims_file), "-o", str(out), "-q",
                           "--workers", "2"])
    assert done.returncode == 1  # 1: some claims are error records (the bad ones)
    want = {}
    for line in out.read_text().splitlines():
        d = json.loads(line)
        d.pop("index")
        want[d["claim_id"]] = d
    df = spark.read.schema(claim_schema()).json(str(claims_file)).repartition(3)
    got = evaluate_dataframe(df)
    results, edits = _rows(got.results), _rows(got.edits)
    got.nested.unpersist()
    assert len(results) == len(want)
    assert len({r["index"] for r in results}) == len(results)  # unique across partitions
    assert _as_json_results(results, edits) == want
    assert want["BAD-DATE"]["status"] == "error"


def test_line_rows_give_the_same_results(spark, claims_file):
    claims = [json.loads(x) for x in claims_file.read_text().splitlines()][:120]
    rows = [{**{k: v for k, v in c.items() if k != "lines"}, **ln} for c in claims for ln in c["lines"]]
    from payer_rules.arrow import LINE_ROW_SCHEMA
    import pyarrow as pa
    df = spark.createDataFrame(pa.Table.from_pylist(rows, schema=LINE_ROW_SCHEMA))
    got = evaluate_dataframe(df, layout="lines")  # rows in line order; repartitioned by claim_id inside
    engine = Engine()
    want = {c["claim_id"]: engine.evaluate(c).to_dict() for c in claims}
    assert _as_json_results(_rows(got.results), _rows(got.edits)) == want


def test_bad_records_are_error_rows_not_a_failed_job(spark, tmp_path):
    path = tmp_path / "bad.jsonl"
    shutil.copy(EXAMPLES / "bad_claims.jsonl", path)  # includes a line that is not JSON
    got = evaluate_dataframe(spark.read.schema(claim_schema()).json(str(path)), persist=False)
    rows = _rows(got.results)
    assert len(rows) == len(path.read_text().splitlines())
    assert sum(r["status"] == "error" for r in rows) >= 6
    unreadable = [r for r in rows if r["claim_id"] is None]
    assert unreadable and all("could not be read" in r["error"] for r in unreadable)
    assert not any('"date_of_service"' in (r["error"] or "") for r in rows)  # no record text in errors


def _importable_on_workers(spark, module: str) -> bool:
    def probe(_):
        import importlib.util
        yield importlib.util.find_spec(module) is not None
    return any(spark.sparkContext.parallelize([0], 1).mapPartitions(probe).collect())


def test_custom_policies_and_plugin_reach_executors_only_through_the_bundle(spark, tmp_path, monkeypatch):
    plugin_dir, policy_dir = tmp_path / "plugin", tmp_path / "policies"
    plugin_dir.mkdir()
    shutil.copy(EXAMPLES / "acme_plugin" / "acme_units.py", plugin_dir / "acme_units.py")
    shutil.copytree(EXAMPLES / "acme_policies", policy_dir)
    monkeypatch.syspath_prepend(str(plugin_dir))  # the driver can import it; Spark's workers cannot
    sys.modules.pop("acme_units", None)
    assert not _importable_on_workers(spark, "acme_units")
    import acme_units
    claims = [{"claim_id": f"A{i}", "payer": "acme", "lines": [
        {"code": "97110", "date_of_service": "2024-05-01", "minutes": 14 + i, "units": 1}]} for i in range(20)]
    claims.append({"claim_id": "M1", "payer": "medicare", "lines": [
        {"code": "97110", "modifiers": ["GP"], "date_of_service": "2024-05-01", "minutes": 29, "units": 2}]})
    engine = Engine([bundled_dir(), policy_dir], plugins=[("acme_units", acme_units)])
    want = {c["claim_id"]: engine.evaluate(c).to_dict() for c in claims}
    assert want["A0"]["lines"][0]["units"] == 0  # the plugin's rule (whole 15 minutes), not per_code_midpoint

    df = spark.createDataFrame([json.dumps(c) for c in claims], "string").toDF("value")
    df = spark.read.schema(claim_schema()).json(df.rdd.map(lambda r: r.value)).repartition(2)
    got = evaluate_dataframe(df, policies=[bundled_dir(), policy_dir], plugins=["acme_units"], persist=False)
    shutil.rmtree(plugin_dir)  # the job runs after this: only the bundle has them now
    shutil.rmtree(policy_dir)
    assert _as_json_results(_rows(got.results), _rows(got.edits)) == want
