"""YAML syntax mistakes explained in words: the line, what YAML expected, the likely fix."""

from __future__ import annotations

import pytest

from payer_rules.yaml_source import SourceError, load_yaml


@pytest.mark.parametrize("text, line, words", [
    ("a: 1\nname: Foo\n  source: x\n", 3, "indented deeper than line 2"),
    ("a: x: y\n", 1, "quote the value when it contains ': '"),
    ("codes:\n    timed:\n      x: 1\n  untimed: []\n", 4, "indented by 2 space(s), which matches no level"),
    ("a:\n\tb: 1\n", 2, "YAML indents with spaces only"),
    ('a: "abc\nb: 2\n', 1, "a quote opened at line 1 is never closed"),
    ("a: [1, 2\nb: 3\n", 2, "list opened at line 1 is not closed"),
    ("a: 1\nb\nc: 2\n", 2, "a key without ':'"),
])
def test_yaml_mistakes_in_words(tmp_path, text, line, words):
    f = tmp_path / "p.yaml"
    f.write_text(text, "utf-8")
    with pytest.raises(SourceError) as exc:
        load_yaml(f)
    assert exc.value.line == line
    assert words in exc.value.message
    assert "<block" not in exc.value.message and "mapping values are not allowed" not in exc.value.message
