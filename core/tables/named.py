"""The tables a policy names under ``tables.<kind>``: where they are and loading them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .registry import TABLE_NAMES, shared
from .source import TableError


def table_paths(policy: Any, kind: str) -> tuple[list[Path], str] | None:
    """The files and version a policy names under ``tables.<kind>``, joined to its folder."""
    spec = policy.settings.get("tables", {}).get(kind)
    if not spec:
        return None
    base = Path(policy.path).parent
    files = spec.get("files") or [spec["file"]]
    return [(base / f) for f in files], spec.get("version", "")


def policy_table(policy: Any, kind: str) -> tuple[Any, str | None]:
    """(table, version) for ``tables.<kind>`` of a policy, or (None, None) if it names none."""
    found = table_paths(policy, kind)
    if found is None:
        return None, None
    paths, version = found
    try:
        return shared(kind, paths), version
    except TableError as exc:
        raise TableError(exc.path, exc.line, f"tables.{kind} of policy {policy.payer}: {exc.message}") from None


def required_table(policy: Any, kind: str, section: str) -> tuple[Any, str | None]:
    """(table, version) of ``tables.<kind>`` for a plugin whose ``section`` needs it."""
    table, version = policy_table(policy, kind)
    if table is None:
        raise ValueError(f"{section}: needs tables.{kind} (the {TABLE_NAMES[kind]} file)")
    return table, version
