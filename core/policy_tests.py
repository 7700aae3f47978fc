"""Test cases kept beside each policy (``<payer>.test.yaml``), run by ``payer-rules test``
and by pytest (the ``payer_rules`` pytest plugin), with rule coverage.

A test file::

    policy: medicare                 # the payer the cases are for
    cases:
      - name: the manual's 24 + 23 minute example
        claim: {claim_id: T1, lines: [...]}      # or claims: [...], or claims_file: x.jsonl
        expect:
          status: pass                            # pass, warn, fail, error
          units: {1: 2, 2: 1}                     # line -> units (null: cannot be verified)
          edits: [units.over_billed, "category:bundling"]    # present
          no_edits: [ncci.ptp]                               # absent
          edits_exact: [units.over_billed]        # exactly these rule ids, in any order

Expectations are partial unless ``edits_exact`` is given. A claim without ``payer`` is for
the file's policy. Coverage counts, for each policy, which of its ``rules:`` and which of
the edits its tables can produce (NCCI pairs, MUEs, fee-schedule statuses) some case made.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .models import Result
from .policy import TEST_SUFFIXES, PolicyError, schema_problems
from .yaml_source import SourceError, load_yaml, plain



@dataclass
class Case:
    name: str
    path: str
    line: int | None
    payer: str
    claims: list[dict]
    expect: dict[str, Any]


@dataclass
class Outcome:
    case: Case
    passed: bool
    problems: list[str] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)


def is_test_file(path: Path) -> bool:
    return path.name.lower().endswith(TEST_SUFFIXES)


def test_files(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and is_test_file(f)))
        elif p.is_file() and is_test_file(p):
            out.append(p)
    return out


def read_test_file(path: Path) -> list[Case]:
    """The cases of one test file; PolicyError (file, line, field) when it is malformed."""
    try:
        raw, lines = load_yaml(path)
    except SourceError as exc:
        raise PolicyError([exc]) from None
    problems = schema_problems(raw, lines, str(path), schema_name="policy_test")
    if problems:
        raise PolicyError(problems)
    out: list[Case] = []
    for i, c in enumerate(raw["cases"]):
        line, _ = lines.find(("cases", i))
        c = plain(c)
        if "claim" in c:
            claims = [c["claim"]]
        elif "claims" in c:
            claims = c["claims"]
        else:
            fline, fcol = lines.find(("cases", i, "claims_file"))
            try:
                claims = _claims_file(path, c["claims_file"])
            except ValueError as exc:
                problems.append(SourceError(str(path), fline, f"cases[{i}].claims_file: {exc}", fcol))
                continue
        for cl in claims:
            if isinstance(cl, dict):
                cl.setdefault("payer", raw["policy"])
                cl.setdefault("claim_id", f"{c['name']}")
        out.append(Case(c["name"], str(path), line, raw["policy"], claims, c.get("expect", {})))
    if problems:
        raise PolicyError(problems)
    return out


#: a claims_file is a handful of test claims; anything far larger is not one
MAX_CLAIMS_FILE_BYTES = 16 << 20


def _claims_file(test_file: Path, name: str) -> list:
    """The claims of a case's ``claims_file``: inside the test file's folder (after
    symlinks), at most 16 MiB, one JSON object a line. ValueError says what is wrong."""
    base = Path(os.path.realpath(test_file.parent))
    f = Path(os.path.realpath(test_file.parent / name))
    if not f.is_relative_to(base):
        raise ValueError(f"'{name}' lies outside the test file's folder")
    try:
        if f.stat().st_size > MAX_CLAIMS_FILE_BYTES:
            raise ValueError(f"'{name}' is larger than {MAX_CLAIMS_FILE_BYTES:,} bytes")
        text = f.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read '{name}': {exc.strerror or exc.__class__.__name__}") from None
    except UnicodeDecodeError:
        raise ValueError(f"'{name}' is not UTF-8 text") from None
    claims = []
    for n, row in enumerate(text.splitlines(), start=1):
        if not row.strip():
            continue
        try:
            claims.append(json.loads(row))
        except ValueError:
            raise ValueError(f"'{name}' line {n}: not valid JSON") from None
    if not claims:
        raise ValueError(f"'{name}' has no claims")
    return claims


def collect_cases(paths: Iterable[str | Path]) -> list[Case]:
    cases: list[Case] = []
    problems: list[SourceError] = []
    for f in test_files(paths):
        try:
            cases.extend(read_test_file(f))
        except PolicyError as exc:
            problems.extend(exc.problems)
    if problems:
        raise PolicyError(problems)
    return cases


def _edit_matches(result: Result, wanted: str) -> bool:
    if wanted.startswith("category:"):
        return any(e.category == wanted[9:] for e in result.edits)
    return any(e.rule == wanted for e in result.edits)


def check(case: Case, results: list[Result]) -> list[str]:
    """What differs from the expectation, in words (empty: the case passes)."""
    exp = case.expect
    problems = []
    for r in results:
        who = f"claim {r.claim_id}"
        got_rules = sorted(e.rule for e in r.edits)
        if "status" in exp and r.status != exp["status"]:
            why = f" ({r.error})" if r.error else f"; edits: {', '.join(got_rules) or 'none'}"
            problems.append(f"{who}: status expected {exp['status']}, got {r.status}{why}")
        for line_no, units in (exp.get("units") or {}).items():
            ln = next((x for x in r.lines if x.line == int(line_no)), None)
            if ln is None:
                problems.append(f"{who}: line {line_no} expected, but the result has no such line")
            elif ln.units != units:
                problems.append(f"{who}: line {line_no} {ln.code} units expected {units}, got {ln.units} "
                                f"({ln.explanation})")
        for wanted in exp.get("edits") or []:
            if not _edit_matches(r, wanted):
                problems.append(f"{who}: expected edit {wanted}, got: {', '.join(got_rules) or 'no edits'}")
        for unwanted in exp.get("no_edits") or []:
            if _edit_matches(r, unwanted):
                msgs = [e.message for e in r.edits if e.rule == unwanted or f"category:{e.category}" == unwanted]
                problems.append(f"{who}: edit {unwanted} should not be there: {msgs[0] if msgs else ''}")
        if "edits_exact" in exp and sorted(exp["edits_exact"]) != got_rules:
            missing = sorted(set(exp["edits_exact"]) - set(got_rules))
            extra = sorted(set(got_rules) - set(exp["edits_exact"]))
            problems.append(f"{who}: edits differ: missing {', '.join(missing) or 'none'}; "
                            f"unexpected {', '.join(extra) or 'none'}")
    return problems


def run_cases(engine, cases: list[Case]) -> list[Outcome]:
    out = []
    for case in cases:
        results = [engine.evaluate(c) for c in case.claims]
        problems = check(case, results)
        out.append(Outcome(case, not problems, problems, results))
    return out


@dataclass
class Coverage:
    """Which rules and table edits of each policy some case exercised."""

    possible: dict[str, list[str]]  # payer -> rule ids the policy can produce from rules and tables
    exercised: dict[str, set[str]]

    def percent(self) -> float:
        total = sum(len(v) for v in self.possible.values())
        hit = sum(len(set(v) & self.exercised.get(p, set())) for p, v in self.possible.items())
        return 100.0 if total == 0 else 100.0 * hit / total

    def missing(self) -> dict[str, list[str]]:
        return {p: [r for r in v if r not in self.exercised.get(p, set())] for p, v in self.possible.items()}


def coverage(engine, outcomes: list[Outcome], payers: Iterable[str] | None = None) -> Coverage:
    possible: dict[str, list[str]] = {}
    for v in engine.policies.all():
        if payers is not None and v.payer not in payers:
            continue
        ids = possible.setdefault(v.payer, [])
        for rid in engine.runtime(v).possible:  # its rules and what its tables can produce
            if rid not in ids:
                ids.append(rid)
    exercised: dict[str, set[str]] = {}
    for o in outcomes:
        for r in o.results:
            if r.payer:
                exercised.setdefault(r.payer, set()).update(e.rule for e in r.edits)
    return Coverage(possible, exercised)
