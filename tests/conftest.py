"""Shared fixtures. The core suite needs nothing outside the repository."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from payer_rules import Engine

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture
def acme_installed(tmp_path, monkeypatch):
    """The example payer plugin (docs/examples/acme_plugin) installed the way pip would: a
    dist-info with an entry point in the payer_rules group."""
    dist = tmp_path / "acme_units-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-units\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[payer_rules]\nacme_units = acme_units\n")
    monkeypatch.syspath_prepend(str(ROOT / "docs" / "examples" / "acme_plugin"))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("acme_units", None)


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine()


def claim(payer: str, *lines: dict, claim_id: str = "T1", **extra) -> dict:
    """A claim with sensible defaults: lines may give just code and minutes. The default
    date lies in the dates every bundled table is valid for (docs/tables.md: the MUE release
    of 2024-04-01 is the narrowest, 2024-04-01 to 2024-06-30)."""
    out = []
    for ln in lines:
        ln = dict(ln)
        ln.setdefault("date_of_service", "2024-04-04")
        out.append(ln)
    return {"claim_id": claim_id, "payer": payer, "lines": out, **extra}


def units_of(result) -> dict[str, int | None]:
    return {ln.code: ln.units for ln in result.lines}


def rules_of(result) -> list[str]:
    return [e.rule for e in result.edits]
