"""The kinds of table a policy can name under ``tables:``, and the one copy of each per process.

A new kind of table is one module (a reader, ``HEADER`` and ``import_rows`` for
``payer-rules tables import``) plus one entry in :data:`KINDS` (and its key in the policy
schema's ``tables``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from . import mue, pfs, ptp
from .cache import shared_table
from .source import TableError


@dataclass(frozen=True)
class TableKind:
    """One kind of table: how to load it, what it is called, how to import it."""

    name: str
    #: what messages call it ("the NCCI PTP table file")
    display: str
    #: the files a policy names -> the loaded table (immutable; shared by every policy)
    load: Callable[[list[Path]], Any]
    #: the normalised CSV's header, and its rows from CMS sources and a code filter
    header: list[str]
    import_rows: Callable[[list[Path], Callable[[str], bool]], Iterator[list[object]]]
    #: run on an imported file (PTP builds and caches its index)
    after_import: Callable[[Path], None] | None = None


KINDS: dict[str, TableKind] = {k.name: k for k in (
    TableKind("ptp", "NCCI PTP table", ptp.load_ptp, ptp.HEADER, ptp.import_rows, ptp.warm_cache),
    TableKind("mue", "MUE table", mue.load_mue, mue.HEADER, mue.import_rows),
    TableKind("pfs", "fee-schedule indicator", pfs.load_pfs, pfs.HEADER, pfs.import_rows),
)}

#: kind -> display name
TABLE_NAMES = {k.name: k.display for k in KINDS.values()}


def shared(kind: str, paths: list[Path]) -> Any:
    """A table loaded once per process for every policy that names the same files."""
    if kind not in KINDS:
        raise ValueError(f"unknown table kind '{kind}' (known: {', '.join(KINDS)})")
    for p in paths:
        if not p.is_file():
            raise TableError(str(p), None, "table file not found")
    return shared_table(kind, paths, KINDS[kind].load)
