"""Nothing in a claim file or a policy stops a run (issue 12), kept that way by fuzzing.

At the CLI and API boundary, for generated JSON-lines files, X12 interchanges and policy
YAML: one record out per record in, no traceback, ``check`` writes exactly what ``batch``
writes (1 and 2 workers), and the valid claims in the same file are evaluated as they
would be alone. The corpus in tests/corpus/ keeps the inputs that once broke a run.

Bounded for CI (about a minute, the ``ci`` profile); ``PAYER_RULES_FUZZ=long`` runs the
long profile (docs/reliability.md), ``PAYER_RULES_FUZZ_REPORT=FILE`` writes the counts of
inputs tried and outcomes as JSON when the run ends.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from payer_rules import Engine
from payer_rules.batch import run_batch
from payer_rules.plugin_manager import PluginError
from payer_rules.policy import PolicyError, bundled_dir

from conftest import ROOT

CORPUS = ROOT / "tests" / "corpus"
PROFILE = os.environ.get("PAYER_RULES_FUZZ", "ci")
EXAMPLES = {"ci": {"json": 30, "x12": 15, "policy": 15, "workers": 3},
            "long": {"json": 3000, "x12": 2000, "policy": 1000, "workers": 200}}[PROFILE]
OUTCOMES: Counter = Counter()


def _profile(kind: str):
    return settings(max_examples=EXAMPLES[kind], deadline=None, derandomize=PROFILE == "ci",
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@atexit.register
def _report() -> None:
    path = os.environ.get("PAYER_RULES_FUZZ_REPORT")
    if path and OUTCOMES:
        Path(path).write_text(json.dumps({"profile": PROFILE, **dict(sorted(OUTCOMES.items()))}, indent=2) + "\n")


# -- running the command in this process (one engine, so examples are cheap) ---------------------

ENGINE = None


def shared_engine() -> Engine:
    global ENGINE
    if ENGINE is None:
        ENGINE = Engine()
    return ENGINE


def run_check(path: Path, *args: str) -> tuple[int, bytes, str]:
    """``payer-rules check PATH`` through the command's own code, with the shared engine."""
    from payer_rules.cli import claims as cli_claims
    from payer_rules.cli import main
    out, err = io.BytesIO(), io.StringIO()
    stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    original = cli_claims.engine_from
    cli_claims.engine_from = lambda a: shared_engine()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(err):
            code = main(["check", str(path), *args])
            stdout.flush()
    finally:
        cli_claims.engine_from = original
    return code, out.getvalue(), err.getvalue()


def run_both(path: Path, tmp: Path, workers: int = 1, payer: str | None = None) -> list[dict]:
    """check and batch on one file: the same bytes; the records, parsed."""
    code, checked, err = run_check(path, *(["--payer", payer] if payer else []))
    assert code in (0, 1), err
    assert "Traceback" not in err
    out = tmp / "batch.jsonl"
    summary = run_batch(str(path), str(out), engine=shared_engine(), payer=payer, workers=workers,
                        progress=False, chunk_size=2)
    assert out.read_bytes() == checked, "check and batch wrote different records"
    assert (code == 1) == summary.any_errors()
    return [orjson.loads(x) for x in checked.splitlines()]


# -- strategies --------------------------------------------------------------------------------

CODES = ["97110", "97140", "97112", "97530", "97161", "97010", "G0283", "97124"]
GOOD_LINE = st.fixed_dictionaries({
    "code": st.sampled_from(CODES),
    "minutes": st.integers(0, 90),
    "modifiers": st.sampled_from([["GP"], ["GP", "59"], ["GO"], []]),
    "date_of_service": st.sampled_from(["2024-03-05", "2023-11-30", "2025-01-02"]),
})
GOOD_CLAIM = st.builds(lambda i, payer, lines: {"claim_id": f"G{i}", "payer": payer, "lines": lines},
                       st.integers(0, 10**6), st.sampled_from(["medicare", "generic-commercial"]),
                       st.lists(GOOD_LINE, min_size=1, max_size=6))
NASTY_NUMBER = st.sampled_from([1e20, 2**64, -2**63 - 1, 1e308, -0.0, 0.5, 10**30, True, "²", "１０"])
NASTY_TEXT = st.sampled_from(["２０１６-０２-０１", "97ﬀ", "9711０", "", " ", "\u0000", "é" * 300, "ISA*", "²"])
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20) | NASTY_NUMBER | NASTY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)
FIELDS = ["claim_id", "payer", "lines", "patient", "provider", "diagnoses", "date_of_service"]
LINE_FIELDS = ["line", "code", "modifiers", "date_of_service", "minutes", "units", "diagnosis_pointers",
               "body_region", "start_time", "end_time"]


@st.composite
def broken_claim(draw) -> dict:
    """A valid claim with one field of the claim or of a line replaced by something nasty."""
    c = draw(GOOD_CLAIM)
    value = draw(JSON_VALUE | NASTY_NUMBER | NASTY_TEXT)
    if draw(st.booleans()):
        c[draw(st.sampled_from(FIELDS))] = value
    else:
        c["lines"][0][draw(st.sampled_from(LINE_FIELDS))] = value
    return c


def _deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


RAW_LINE = st.one_of(
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" ").replace(b"\r", b" ")),
    st.sampled_from([b'{"claim_id":"A",', b"[]", b"[1, 2]", b"null", b'"text"', b"\xef\xbb\xbf{}",
                     _deep(2000), b'{"a":' * 70 + b"1" + b"}" * 70, b"{", b"]"]),
)
RECORD = st.one_of(
    GOOD_CLAIM.map(lambda c: ("good", c)),
    broken_claim().map(lambda c: ("broken", c)),
    JSON_VALUE.map(lambda v: ("value", v)),
    RAW_LINE.map(lambda b: ("raw", b)),
)


def encode(kind: str, value) -> bytes:
    if kind == "raw":
        return value
    try:
        return orjson.dumps(value)
    except TypeError:  # an int orjson will not write (beyond 64 bits): as Python writes it
        return json.dumps(value, ensure_ascii=False).encode()


# -- JSON lines ---------------------------------------------------------------------------------

@_profile("json")
@given(records=st.lists(RECORD, min_size=1, max_size=8), second=GOOD_CLAIM, bom=st.booleans())
def test_fuzz_json_lines(tmp_path_factory, records, second, bom):
    # a valid second record: whatever the first line is, the file is JSON lines (jsonl reader's rule)
    records = records[:1] + [("good", second)] + records[1:]
    lines = [encode(k, v) for k, v in records]
    lines = [ln if ln.strip() else b"null" for ln in lines]
    # a file that starts with ISA is an X12 interchange by definition (the x12-837p sniff)
    assume(not lines[0].lstrip(b" \t\r\n\x0b\x0c").lstrip(b"\xef\xbb\xbf").lstrip().startswith(b"ISA"))
    tmp = tmp_path_factory.mktemp("fz")
    path = tmp / "claims.jsonl"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + b"\n".join(lines) + b"\n")
    results = run_both(path, tmp)
    assert len(results) == len(records), "one record out per record in"
    assert [r["index"] for r in results] == list(range(1, len(records) + 1))
    engine = shared_engine()
    for (kind, value), r in zip(records, results):
        OUTCOMES[f"json.{kind}.{r['status']}"] += 1
        if kind == "good":  # evaluated as it would be alone
            alone = engine.evaluate(value)
            assert r["status"] == alone.status and r["status"] != "error"
            assert orjson.loads(alone.to_json())["edits"] == r["edits"]
        if r["status"] == "error":
            assert r["error"] and "Traceback" not in r["error"]
    OUTCOMES["json.files"] += 1


@_profile("workers")
@given(records=st.lists(RECORD, min_size=2, max_size=12), second=GOOD_CLAIM)
def test_fuzz_json_lines_two_workers(tmp_path_factory, records, second):
    records = records[:1] + [("good", second)] + records[1:]
    tmp = tmp_path_factory.mktemp("fz2")
    path = tmp / "claims.jsonl"
    lines = [encode(k, v) or b"null" for k, v in records]
    assume(not lines[0].lstrip().startswith(b"ISA"))  # that is an X12 file
    path.write_bytes(b"\n".join(lines) + b"\n")
    results = run_both(path, tmp, workers=2)
    assert len(results) == len(records)
    OUTCOMES["json.files_two_workers"] += 1


# -- X12 837P -------------------------------------------------------------------------------------

def _therapy() -> str:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_x12 import THERAPY
    return THERAPY


ELEMENT = st.one_of(st.text(max_size=12).map(lambda t: "".join(c for c in t if c not in "*~:^\n\r")),
                    st.sampled_from(["²", "１０", "1e20", "1e30", "inf", "nan", "-1", "99999999999999999999",
                                     "２０１６０２０１", "", "0", "HC:ﬀ", "HC:97110:ＧＰ"]))


@_profile("x12")
@given(data=st.data())
def test_fuzz_x12_first_claim(tmp_path_factory, data):
    """Elements of the first claim's HI/LX/SV1/DTP segments replaced: the interchange still
    gives three records; the second claim is evaluated as in the pristine file."""
    text = _therapy()
    segments = text.split("~")
    first = next(i for i, s in enumerate(segments) if s.strip().startswith("CLM*PT-1001"))
    second = next(i for i, s in enumerate(segments) if s.strip().startswith("CLM*PT-1002"))
    targets = [i for i in range(first + 1, second)
               if segments[i].strip().split("*")[0] in ("HI", "LX", "SV1", "DTP")]
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.sampled_from(targets))
        parts = segments[i].split("*")
        j = data.draw(st.integers(1, max(len(parts) - 1, 1)))
        while len(parts) <= j:
            parts.append("")
        parts[j] = data.draw(ELEMENT)
        segments[i] = "*".join(parts)
    tmp = tmp_path_factory.mktemp("x12")
    path = tmp / "claims.837"
    path.write_text("~".join(segments), encoding="utf-8")
    results = run_both(path, tmp, payer="medicare")
    base = _pristine(tmp_path_factory)
    assert len(results) == 3 and results[1]["claim_id"] == "PT-1002"
    assert [_unnamed(r) for r in results[1:]] == [_unnamed(r) for r in base[1:]]
    OUTCOMES[f"x12.first_claim.{results[0]['status']}"] += 1


# -- policy YAML ----------------------------------------------------------------------------------

_BASE: list = []


def _pristine(factory) -> list[dict]:
    if not _BASE:
        tmp = factory.mktemp("pristine")
        (tmp / "claims.837").write_text(_therapy(), encoding="utf-8")
        _BASE.extend(run_both(tmp / "claims.837", tmp, payer="medicare"))
    return _BASE


def _unnamed(r: dict) -> str:
    """A result with file names taken out (each example's file has its own)."""
    return re.sub(r'[^"\s]*claims\.837', "claims.837", json.dumps(r, sort_keys=True))


POLICY_VALUE = st.one_of(JSON_VALUE, st.sampled_from([1e20, 2**64, "２０１６-０２-０１", [[[[[[]]]]]], {"a": {"b": {}}}]))


@_profile("policy")
@given(data=st.data())
def test_fuzz_policy_yaml(tmp_path_factory, data):
    """A bundled policy with settings replaced by generated values: the engine loads it or
    refuses it with a PolicyError naming the file; never another exception."""
    source = sorted(bundled_dir().glob("*.yaml"))
    source = [p for p in source if not p.name.endswith(".test.yaml")]
    src = data.draw(st.sampled_from(source))
    doc = yaml.safe_load(src.read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(sorted(doc) + ["unknown_key"]))
        doc[key] = data.draw(POLICY_VALUE)
    tmp = tmp_path_factory.mktemp("pol")
    for extra in bundled_dir().iterdir():  # tables beside the policy, as the bundled ones are
        if extra.is_dir():
            (tmp / extra.name).symlink_to(extra)
    path = tmp / src.name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    try:
        engine = Engine(path)
    except PolicyError as exc:
        assert str(path.name) in str(exc) or any(path.name in p for p in exc.problems)
        OUTCOMES["policy.refused"] += 1
        return
    except PluginError:
        OUTCOMES["policy.refused_by_plugin"] += 1
        return
    OUTCOMES["policy.loaded"] += 1
    r = engine.evaluate({"claim_id": "P", "payer": doc.get("payer") if isinstance(doc.get("payer"), str) else "x",
                         "lines": [{"code": "97110", "minutes": 30, "date_of_service": "2024-03-05"}]})
    r.to_json()  # whatever the policy says, the result can be written
    OUTCOMES[f"policy.claim.{r.status}"] += 1


# -- the corpus of inputs that once broke a run ----------------------------------------------------

EXPECTED = json.loads((CORPUS / "expected.json").read_text()) if CORPUS.exists() else {}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus(name, tmp_path):
    payer = "medicare" if name.endswith(".837") else None
    results = run_both(CORPUS / name, tmp_path, payer=payer)
    want = EXPECTED[name]
    assert len(results) == len(want), name
    for r, w in zip(results, want):
        if w == "error":
            assert r["status"] == "error", (name, r.get("error"))
        elif w == "ok":
            assert r["status"] != "error", (name, r.get("error"))


def test_corpus_two_workers_match(tmp_path):
    for name in sorted(EXPECTED):
        payer = "medicare" if name.endswith(".837") else None
        run_both(CORPUS / name, tmp_path, workers=2, payer=payer)
