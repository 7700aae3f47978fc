"""CMS reference tables a policy names under ``tables:``: NCCI procedure-to-procedure (PTP)
edits, MUEs and fee-schedule indicators.

One module per kind of table (:mod:`.ptp`, :mod:`.mue`, :mod:`.pfs`), the kinds' registry
(:mod:`.registry`), the caches (:mod:`.cache`: the on-disk index and one copy per process),
bounded reading shared by every reader (:mod:`.source`), the tables a policy names
(:mod:`.named`) and ``payer-rules tables import`` (:mod:`.importer`). The names plugins
import are re-exported here.
"""

from __future__ import annotations

from .cache import CACHE_ENV, cache_dir, file_digest
from .mue import Mue, read_mue
from .named import allowed_roots, policy_table, required_table, table_files, table_path_problems, table_paths, table_validity
from .pfs import FeeStatus, read_pfs
from .ptp import CACHE_FORMAT, CACHE_MAGIC, MODIFIER_INDICATORS, PtpRow, PtpTable, iter_ptp_rows, load_ptp, ptp_cache_name
from .registry import KINDS, TABLE_NAMES, TableKind, shared
from .validity import Validity, out_of_range_message, read_provenance
from .source import (CODE_RE, DATE_RE, NO_DELETION, TableError, TableLimits, dos_int, int_date)

__all__ = [
    "CACHE_ENV", "CACHE_FORMAT", "CACHE_MAGIC", "CODE_RE", "DATE_RE", "KINDS", "MODIFIER_INDICATORS",
    "NO_DELETION", "TABLE_NAMES", "FeeStatus", "Mue", "PtpRow", "PtpTable", "TableError", "TableKind",
    "TableLimits", "cache_dir", "dos_int", "file_digest", "int_date", "iter_ptp_rows", "load_ptp",
    "allowed_roots", "policy_table", "ptp_cache_name", "table_files", "table_path_problems", "read_mue", "read_pfs", "required_table", "shared", "table_paths",
    "table_validity", "Validity", "read_provenance", "out_of_range_message",
]
