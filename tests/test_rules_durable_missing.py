"""Choosing the durable evaluator where durable-rules cannot be imported is a clear error,
and the built-in evaluator still works."""

from __future__ import annotations

import builtins

import pytest

from payer_rules import Engine, PluginError


def test_durable_missing_is_a_clear_error(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("durable"):
            raise ImportError("No module named 'durable'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(PluginError) as exc:
        Engine(rules_evaluator="durable")
    assert "pip install 'payer-rules[rete]'" in str(exc.value)
    assert Engine().evaluate({"claim_id": "x", "payer": "medicare", "lines": [
        {"code": "98940", "date_of_service": "2024-01-02"}]}).status == "fail"


def test_unknown_evaluator():
    with pytest.raises(ValueError, match="builtin or durable"):
        Engine(rules_evaluator="drools")
