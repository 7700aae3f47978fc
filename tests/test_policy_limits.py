"""Hostile policy YAML ends in a clear message with file:line, fast, never a traceback: alias
bombs (issue 12 item 5), deep nesting (item 6), oversized and non-UTF-8 files, recursive
aliases. The small nasty inputs live in tests/corpus/policies/ (the first two lines of each
say what to expect); the large ones are generated here."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from payer_rules import Engine, PolicyError
from payer_rules.yaml_source import SourceError, YamlLimits, load_yaml

CORPUS = Path(__file__).parent / "corpus" / "policies"
HEAD = ("schema_version: 1\npayer: gen\nname: Generated\nunit_method: cms_total_time\n"
        "versions:\n  - version: '1'\n    effective_from: '2024-01-01'\n")


def expected(path: Path) -> tuple[str, int | None]:
    first, second = path.read_bytes().split(b"\n")[:2]
    line = second.decode().split(":", 1)[1].strip()
    return first.decode().split(":", 1)[1].strip(), None if line == "None" else int(line)


def refused(source: Path) -> SourceError:
    t0 = time.perf_counter()
    with pytest.raises(PolicyError) as exc:
        Engine(source)
    took = time.perf_counter() - t0
    assert took < 1.5, f"{source.name}: {took:.2f} s to refuse"
    assert len(exc.value.problems) == 1, exc.value.problems
    return exc.value.problems[0]


def cli_check(source: Path, env=None):
    import os
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "check", "--policies", str(source), "-"],
                       input="{}", capture_output=True, text=True, env=None if env is None else {**os.environ, **env})
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    return r.stderr


CORPUS_FILES = sorted(CORPUS.glob("*.yaml"))


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.name for p in CORPUS_FILES])
def test_corpus_policy_is_refused_with_file_line(path):
    want, line = expected(path)
    problem = refused(path)
    assert problem.path == str(path) and want in problem.message
    if line is not None:
        assert problem.line == line, problem
    else:
        assert problem.line is not None


@pytest.mark.parametrize("tables", [False, True], ids=["yaml", "tables"])
def test_corpus_through_the_cli_exits_2_naming_each_file_and_line(tables):
    # table paths are checked once every file has read cleanly: the two groups run apart
    files = [p for p in CORPUS_FILES if p.name.startswith("table-") == tables]
    args = [a for p in files for a in ("--policies", str(p))]
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "check", *args, "-"], input="{}",
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    for p in files:
        want, line = expected(p)
        assert (f"{p}:{line}:" if line else f"{p}:") in r.stderr and want in r.stderr


def test_alias_bomb_refused_in_well_under_a_second():
    t0 = time.perf_counter()
    with pytest.raises(SourceError, match="is it an alias bomb"):
        load_yaml(CORPUS / "alias-bomb-lists.yaml")
    assert time.perf_counter() - t0 < 0.2


def test_normal_anchors_keep_working(tmp_path):
    p = tmp_path / "anchors.yaml"
    p.write_text("base: &base {group: CO, carc: '97'}\nsets:\n  a: &codes [97110, 97140]\n  b: *codes\n"
                 "denials:\n  bundling: *base\n  coverage: {<<: *base, carc: '96'}\n")
    data, lines = load_yaml(p)
    assert data["sets"]["b"] == data["sets"]["a"] and data["denials"]["coverage"] == {"group": "CO", "carc": "96"}
    assert lines.find(("denials", "coverage", "carc")) == (7, 31)
    # a budget counts every use: the same document with a budget just too small
    with pytest.raises(SourceError, match="max_yaml_nodes"):
        load_yaml(p, limits=YamlLimits(max_nodes=15))


@pytest.mark.parametrize("shape", ["flow-lists", "flow-mappings", "block-mappings"])
def test_deep_nesting_refused_with_line(tmp_path, shape):
    if shape == "flow-lists":  # issue 12 item 6: x: [[[...10,000...]]]
        body = "x: " + "[" * 10_000 + "]" * 10_000 + "\n"
    elif shape == "flow-mappings":  # 3,000 nested mappings
        body = "x: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n"
    else:
        body = "".join("  " * i + "k:\n" for i in range(3000)) + "  " * 3000 + "v\n"
    d = tmp_path / "p"
    d.mkdir()
    (d / "deep.yaml").write_text(HEAD + body)
    if shape == "block-mappings":  # 9 MB: the size bound comes first, raised here to reach the depth
        with pytest.raises(SourceError, match="max_policy_bytes"):
            load_yaml(d / "deep.yaml")
        limits = YamlLimits(max_bytes=20_000_000)
        with pytest.raises(SourceError, match="nested more than 50 levels deep") as exc:
            load_yaml(d / "deep.yaml", limits=limits)
        assert exc.value.line == 8 + 49  # the root mapping is level 1
        return
    problem = refused(d)
    assert problem.line == 8 and "max_yaml_depth" in problem.message and "PAYER_RULES_MAX_YAML_DEPTH" in problem.message
    cli_check(d)
    # a raised bound is honoured, up to the ceiling past which Python's recursion would fail
    with pytest.raises(SourceError, match="nested more than 120 levels"):
        load_yaml(d / "deep.yaml", limits=YamlLimits(max_depth=120))
    assert "PAYER_RULES_MAX_YAML_DEPTH: at most 200" in cli_check(d, {"PAYER_RULES_MAX_YAML_DEPTH": "100000"})


def test_oversized_policy_file(tmp_path):
    d = tmp_path / "p"
    d.mkdir()
    (d / "big.yaml").write_text(HEAD + "# padding\n" * 110_000)
    problem = refused(d)
    assert problem.line is None and "larger than 1,048,576 bytes" in problem.message
    assert "max_policy_bytes" in problem.message and "PAYER_RULES_MAX_POLICY_BYTES" in problem.message
    # the setting changes the bound: a small valid policy refused under a smaller one
    (d / "big.yaml").write_text(HEAD)
    assert "larger than 100 bytes" in cli_check(d, {"PAYER_RULES_MAX_POLICY_BYTES": "100"})


def test_too_many_values_without_aliases(tmp_path):
    p = tmp_path / "many.yaml"
    p.write_text("codes: [" + ", ".join(["97110"] * 2000) + "]\n")
    assert len(load_yaml(p)[0]["codes"]) == 2000
    with pytest.raises(SourceError, match="it holds more than 1,000 values") as exc:
        load_yaml(p, limits=YamlLimits(max_nodes=1000))
    assert exc.value.line == 1


def test_bad_settings_are_named(monkeypatch, tmp_path):
    p = tmp_path / "x.yaml"
    p.write_text("a: 1\n")
    monkeypatch.setenv("PAYER_RULES_MAX_YAML_NODES", "-3")
    with pytest.raises(SourceError, match="PAYER_RULES_MAX_YAML_NODES: expected a positive whole number"):
        load_yaml(p)
    with pytest.raises(ValueError):
        YamlLimits(max_depth=500)


def test_the_bundled_policies_load_within_the_default_bounds():
    from payer_rules.policy import bundled_dir
    for f in bundled_dir().glob("*.yaml"):
        load_yaml(f)  # policies and their test files alike
