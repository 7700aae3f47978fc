"""The tables a policy names under ``tables.<kind>``: where they are, whether the policy may
read them, and loading them.

A policy folder may come from someone else, so a table path must resolve (after symlinks)
inside the policy's own folder: ``../../etc/passwd``, ``/proc/self/environ`` or a symlink
to ``/etc/shadow`` are refused before anything is opened, with the file and line of the
policy's ``tables.<kind>.file`` entry. A host that keeps tables elsewhere allows those
folders explicitly: the engine option ``table_roots`` (``Engine(table_roots=...)``,
``--table-root``), which reaches here as ``options["table_roots"]``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..yaml_source import SourceError, load_yaml
from .registry import KINDS, TABLE_NAMES, shared
from .source import TableError
from .validity import Validity, is_iso_date, validity_of


def table_paths(policy: Any, kind: str) -> tuple[list[Path], str] | None:
    """The files and version a policy names under ``tables.<kind>``, joined to its folder
    (not checked: :func:`table_files` checks them)."""
    spec = policy.settings.get("tables", {}).get(kind)
    if not spec:
        return None
    base = Path(policy.path).parent
    files = spec.get("files") or [spec["file"]]
    return [(base / f) for f in files], spec.get("version", "")


def allowed_roots(policy: Any, options: Mapping[str, Any] | None = None) -> tuple[Path, ...]:
    """The folders ``policy``'s tables may lie in: its own folder, then the host's
    ``options["table_roots"]``, each with symlinks resolved."""
    extra: Iterable[Any] = (options or {}).get("table_roots") or ()
    if isinstance(extra, (str, os.PathLike)):
        extra = (extra,)
    return tuple(Path(os.path.realpath(r)) for r in (Path(policy.path).parent, *extra))


def _where(policy: Any, kind: str, index: int) -> tuple[int | None, int | None]:
    """Line and column of the policy's ``tables.<kind>.file`` (or ``files[index]``) entry:
    in the version's ``overrides`` when it sets the tables, else at the top level."""
    lines = getattr(policy, "lines", None)
    if lines is None:
        return None, None
    top: tuple = ("tables", kind)
    try:  # an error path only: read the file again to learn whether the version overrides it
        raw, _ = load_yaml(policy.path)
        for i, ver in enumerate(raw.get("versions") or ()):
            if ver.get("version") == policy.version and kind in (ver.get("overrides") or {}).get("tables", {}):
                top = ("versions", i, "overrides", "tables", kind)
                spec = raw["versions"][i]["overrides"]["tables"][kind]
                break
        else:
            spec = raw["tables"][kind]
    except (SourceError, AttributeError, KeyError, TypeError):
        return lines.find(top)
    return lines.find(top + (("files", index) if "files" in spec else ("file",)))


def table_path_problems(policy: Any, options: Mapping[str, Any] | None = None,
                        kinds: Iterable[str] | None = None) -> list[TableError]:
    """Every table path of ``policy`` (of ``kinds``, default all) that resolves outside the
    allowed folders, as errors at the policy's file:line. Nothing is opened."""
    roots = allowed_roots(policy, options)
    host = len(roots) > 1
    out: list[TableError] = []
    for kind in KINDS if kinds is None else kinds:
        found = table_paths(policy, kind)
        if found is None:
            continue
        spec = policy.settings["tables"][kind]
        written = list(spec.get("files") or [spec["file"]])
        for i, p in enumerate(found[0]):
            real = Path(os.path.realpath(p))
            if any(real.is_relative_to(r) for r in roots):
                continue
            line, col = _where(policy, kind, i)
            seen = "" if str(real) == written[i] else f" (it resolves to {real})"
            out.append(TableError(
                str(policy.path), line,
                f"tables.{kind}: '{written[i]}' lies outside the policy's folder"
                f"{' and the folders the host allows' if host else ''}{seen}; keep tables beside the policy, "
                "or let the host allow their folder (Engine(table_roots=...), --table-root)", col))
    return out


def table_files(policy: Any, kind: str, options: Mapping[str, Any] | None = None) -> tuple[list[Path], str] | None:
    """:func:`table_paths`, refused with a TableError (the policy's file:line) when a file
    resolves outside the policy's folder and the host's ``options["table_roots"]``."""
    problems = table_path_problems(policy, options, (kind,))
    if problems:
        raise problems[0]
    return table_paths(policy, kind)


def policy_table(policy: Any, kind: str, options: Mapping[str, Any] | None = None) -> tuple[Any, str | None]:
    """(table, version) for ``tables.<kind>`` of a policy, or (None, None) if it names none.
    ``options``: the engine's options (``table_roots``: more folders tables may lie in)."""
    found = table_files(policy, kind, options)
    if found is None:
        return None, None
    paths, version = found
    try:
        return shared(kind, paths), version
    except TableError as exc:
        raise TableError(exc.path, exc.line, f"tables.{kind} of policy {policy.payer}: {exc.message}") from None


def required_table(policy: Any, kind: str, section: str,
                   options: Mapping[str, Any] | None = None) -> tuple[Any, str | None]:
    """(table, version) of ``tables.<kind>`` for a plugin whose ``section`` needs it; pass
    the ``options`` your ``prepare_policy`` got, so the host's ``table_roots`` apply."""
    table, version = policy_table(policy, kind, options)
    if table is None:
        raise ValueError(f"{section}: needs tables.{kind} (the {TABLE_NAMES[kind]} file)")
    return table, version


def table_validity(policy: Any, kind: str) -> Validity | None:
    """The dates ``tables.<kind>`` of ``policy`` is valid for (its entry's ``valid_from`` /
    ``valid_to``, else its provenance files'; :mod:`.validity`), or None when it names
    no such table. TableError when a provenance file is malformed."""
    found = table_paths(policy, kind)
    if found is None:
        return None
    spec = policy.settings["tables"][kind]
    for key in ("valid_from", "valid_to"):
        value = spec.get(key)
        if value is not None and not is_iso_date(str(value)):
            lines = getattr(policy, "lines", None)
            line, col = lines.find(("tables", kind, key)) if lines is not None else (None, None)
            raise TableError(str(policy.path), line, f"tables.{kind}.{key}: '{value}' is not a date (YYYY-MM-DD)", col)
    if spec.get("valid_from") and spec.get("valid_to") and spec["valid_to"] < spec["valid_from"]:
        lines = getattr(policy, "lines", None)
        line, col = lines.find(("tables", kind, "valid_to")) if lines is not None else (None, None)
        raise TableError(str(policy.path), line, f"tables.{kind}: valid_to is before valid_from", col)
    try:
        return validity_of(kind, TABLE_NAMES[kind], spec, found[0])
    except TableError as exc:
        raise TableError(exc.path, exc.line, f"tables.{kind} of policy {policy.payer}: {exc.message}") from None
