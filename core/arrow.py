"""Claims in Apache Arrow record batches, results out as Arrow (extra ``arrow``: pyarrow).

Two input layouts (docs/arrow.md):

- ``layout="claims"``: one row per claim, the claim JSON as columns; ``lines`` is a list of
  structs (``CLAIM_SCHEMA`` is the reference schema; other columns and types are accepted).
- ``layout="lines"``: one row per service line with the claim's ``claim_id`` on every row;
  the rows of one claim must be next to each other (grouped, not necessarily sorted) and in
  line order; they may cross batch boundaries. Claim-level columns (``CLAIM_COLUMNS`` plus
  ``claim_columns=``) are read from the claim's first row, every other column is a line field.

A row becomes the claim dict the JSON path reads: null values are left out (an absent
field), dates become ``YYYY-MM-DD`` text and times ``HH:MM``, maps become objects; then
:meth:`Engine.evaluate` runs as for JSON, so results are the same value for value
(:func:`to_dicts` turns them back into ``Result.to_dict()`` dicts; a test compares them).
A row that cannot be turned into a claim gets an error row, never an exception.

Output: ``RESULT_SCHEMA`` (one row per claim: index, ids, policy, status, counts, lines,
ties) and ``EDIT_SCHEMA`` (one row per edit, with the claim's index and claim_id);
``nested=True`` gives ``NESTED_SCHEMA`` instead (the result row with its ``edits`` as a
list), which is what Spark's ``mapInArrow`` carries.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

try:
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("payer_rules.arrow needs pyarrow: pip install 'payer-rules[arrow]'") from exc

import orjson

from .engine import Engine, error_result
from .models import RESULT_SCHEMA_VERSION, Result
from .readers import ReadError

#: Columns of a line-per-row table that belong to the claim, not the line.
CLAIM_COLUMNS = ("claim_id", "payer", "patient", "provider", "diagnoses", "plan_of_care")
#: The column Spark's JSON reader fills when a record is not JSON; such a row is an error row.
CORRUPT_COLUMN = "_corrupt_record"

_LINE_IN = pa.struct([
    ("line", pa.int64()), ("code", pa.string()), ("modifiers", pa.list_(pa.string())),
    ("date_of_service", pa.string()), ("minutes", pa.int64()), ("units", pa.int64()),
    ("diagnosis_pointers", pa.list_(pa.int64())), ("body_region", pa.string()),
    ("start_time", pa.string()), ("end_time", pa.string()),
    ("techniques", pa.list_(pa.string())), ("assistant_minutes", pa.int64()),
])
_PARTY = pa.struct([("id", pa.string()), ("npi", pa.string())])
#: The reference claim-per-row schema: the claim JSON's fields (docs/usage.md) as Arrow types.
#: Extra columns are passed on as the claim's extra fields; ``date_of_service`` may be date32.
CLAIM_SCHEMA = pa.schema([
    ("claim_id", pa.string()), ("payer", pa.string()), ("date_of_service", pa.string()),
    ("patient", pa.struct([("id", pa.string()), ("birth_date", pa.string()),
                           ("therapy_ytd", pa.struct([("pt_slp", pa.float64()), ("ot", pa.float64())]))])),
    ("provider", _PARTY), ("diagnoses", pa.list_(pa.string())),
    ("plan_of_care", pa.struct([("goals", pa.list_(pa.string()))])), ("lines", pa.list_(_LINE_IN)),
])
#: The reference line-per-row schema.
LINE_ROW_SCHEMA = pa.schema(
    [f for f in CLAIM_SCHEMA if f.name not in ("lines", "date_of_service")] + list(_LINE_IN))

_LINE_OUT = pa.struct([
    ("line", pa.int64()), ("code", pa.string()), ("minutes", pa.int64()), ("billed_units", pa.int64()),
    ("units", pa.int64()), ("explanation", pa.string()), ("source", pa.string()),
    ("policy_version", pa.string()),
])
_EDIT_FIELDS = [
    ("rule", pa.string()), ("category", pa.string()), ("severity", pa.string()),
    ("lines", pa.list_(pa.int64())), ("message", pa.string()), ("group", pa.string()),
    ("carc", pa.string()), ("rarc", pa.string()), ("source", pa.string()),
    ("fix", pa.string()),  # the fix object as JSON text (its keys vary by edit)
]
_EDIT_OUT = pa.struct(_EDIT_FIELDS)
_RESULT_FIELDS = [
    ("index", pa.int64()), ("claim_id", pa.string()), ("payer", pa.string()),
    ("policy_id", pa.string()), ("policy_version", pa.string()),
    ("policy_versions", pa.list_(pa.string())),  # set only when the claim's lines span versions
    ("status", pa.string()), ("error", pa.string()),
    ("line_count", pa.int64()), ("edit_count", pa.int64()),
    ("errors", pa.int64()), ("warnings", pa.int64()), ("infos", pa.int64()),
    ("lines", pa.list_(_LINE_OUT)), ("ties", pa.list_(pa.string())),
]
RESULT_SCHEMA = pa.schema(_RESULT_FIELDS)
NESTED_SCHEMA = pa.schema(_RESULT_FIELDS + [("edits", pa.list_(_EDIT_OUT))])
EDIT_SCHEMA = pa.schema([("index", pa.int64()), ("claim_id", pa.string()), ("edit", pa.int64())] + _EDIT_FIELDS)

_ROWS = 500  # rows turned into Python dicts at a time

_UNREADABLE = ReadError(f"record could not be read as a claim (the reader set {CORRUPT_COLUMN})")


# -- rows to claim dicts -------------------------------------------------------------------

def _values(arr: pa.Array) -> list:
    """The values of ``arr`` as claim JSON, column by column: a struct becomes a dict
    without its null fields, a list a list (null items kept), a date ``YYYY-MM-DD``, a time
    ``HH:MM``, a map a dict. Converting a column at a time is about twice as fast as
    ``to_pylist`` on the rows and cleaning each row after (docs/benchmarks.md)."""
    t = arr.type
    if pa.types.is_struct(t):
        names = [t.field(i).name for i in range(t.num_fields)]
        children = [_values(arr.field(i)) for i in range(t.num_fields)]
        rows = [{n: v for n, v in zip(names, vals) if v is not None} for vals in zip(*children)] if names \
            else [{} for _ in range(len(arr))]
        if arr.null_count:
            rows = [r if ok else None for r, ok in zip(rows, arr.is_valid().to_pylist())]
        return rows
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        flat = _values(arr.flatten())
        offsets = arr.offsets.to_pylist()
        base = offsets[0]
        out = [flat[a - base:b - base] for a, b in zip(offsets, offsets[1:])]
        if arr.null_count:
            out = [v if ok else None for v, ok in zip(out, arr.is_valid().to_pylist())]
        return out
    if pa.types.is_map(t):
        return [None if v is None else dict(v) for v in arr.to_pylist()]
    if pa.types.is_date(t):
        return [None if v is None else v.isoformat() for v in arr.to_pylist()]
    if pa.types.is_time(t):  # DuckDB reads "10:00" as TIME
        return [None if v is None else v.isoformat(timespec="minutes" if not (v.second or v.microsecond) else "auto")
                for v in arr.to_pylist()]
    return arr.to_pylist()


def _rows(batch: pa.RecordBatch) -> Iterator[Any]:
    """Claim dicts (or ReadErrors) of the rows of ``batch``, a slice of rows at a time so that
    few row dicts are alive at once."""
    names = batch.schema.names
    corrupt = names.index(CORRUPT_COLUMN) if CORRUPT_COLUMN in names else None
    for k in range(0, batch.num_rows, _ROWS):
        part = batch.slice(k, _ROWS)
        try:
            columns = [_values(col) for col in part.columns]
        except Exception as exc:  # a type the conversion does not expect: error rows, not a crash
            err = ReadError(f"record could not be converted to a claim ({exc.__class__.__name__})")
            yield from (err for _ in range(part.num_rows))
            continue
        for vals in zip(*columns):
            if corrupt is not None and vals[corrupt] is not None:
                yield _UNREADABLE
            else:
                yield {n: v for n, v in zip(names, vals) if v is not None}


def _claim_records(batches: Iterable[pa.RecordBatch]) -> Iterator[Any]:
    """Claim dicts (or ReadErrors) of a claim-per-row stream."""
    for batch in batches:
        yield from _rows(batch)


def _line_records(batches: Iterable[pa.RecordBatch], claim_columns: Iterable[str]) -> Iterator[Any]:
    """Claim dicts of a line-per-row stream: consecutive rows with one claim_id make a claim."""
    claim_cols = set(CLAIM_COLUMNS) | set(claim_columns)
    finished: set = set()
    current: Any = None
    rows: list[dict] = []
    for rec in (rec for batch in batches for rec in _rows(batch)):
        cid = rec.get("claim_id") if isinstance(rec, dict) else None
        if rows and (cid is None or cid != current):
            yield _grouped(rows, claim_cols, current in finished)
            finished.add(current)
            rows = []
        if not isinstance(rec, dict) or cid is None:
            yield rec if not isinstance(rec, dict) else _grouped([rec], claim_cols, False)
            continue
        current = cid
        rows.append(rec)
    if rows:
        yield _grouped(rows, claim_cols, current in finished)


def _grouped(rows: list[dict], claim_cols: set[str], repeated: bool) -> Any:
    first = rows[0]
    claim = {k: v for k, v in first.items() if k in claim_cols}
    if repeated:
        return _Invalid(claim, "claim_id: this claim's rows are not next to each other in the input "
                               "(group or sort the line rows by claim_id)")
    claim["lines"] = [{k: v for k, v in r.items() if k not in claim_cols} for r in rows]
    return claim


class _Invalid:
    """A claim refused before evaluation, with the message of its error row."""

    __slots__ = ("claim", "message")

    def __init__(self, claim: dict, message: str):
        self.claim, self.message = claim, message


# -- results to Arrow ----------------------------------------------------------------------

class _Columns:
    """Results appended column by column as they come, so each Result (and its lines and
    edits) is freed at once: a batch of live Result objects made the garbage collector walk
    them again and again (about 80 us a claim at 10,000 a batch; docs/benchmarks.md)."""

    def __init__(self) -> None:
        self.cols: dict[str, list] = {name: [] for name, _ in _RESULT_FIELDS if name not in ("lines", "ties")}
        self.line_cols: list[list] = [[] for _ in _LINE_OUT.names]
        self.line_offsets = [0]
        self.edit_cols: dict[str, list] = {name: [] for name, _ in _EDIT_FIELDS if name != "lines"}
        self.edit_line_offsets = [0]
        self.edit_lines: list[int] = []
        self.edit_offsets = [0]
        self.tie_offsets = [0]
        self.ties: list[str] = []

    def __len__(self) -> int:
        return len(self.cols["index"])

    def add(self, r: Result) -> None:
        cols = self.cols
        cols["index"].append(r.index)
        cols["claim_id"].append(r.claim_id)
        cols["payer"].append(r.payer)
        pol = r.policy
        cols["policy_id"].append(pol.get("id") if pol else None)
        cols["policy_version"].append(pol.get("version") if pol else None)
        cols["policy_versions"].append(list(pol["versions"]) if pol and "versions" in pol else None)
        cols["status"].append(r.status)
        cols["error"].append(r.error)
        cols["line_count"].append(len(r.lines))
        cols["edit_count"].append(len(r.edits))
        sev = [e.severity for e in r.edits]
        cols["errors"].append(sev.count("error"))
        cols["warnings"].append(sev.count("warning"))
        cols["infos"].append(sev.count("info"))
        for ln in r.lines:
            for col, v in zip(self.line_cols, (ln.line, ln.code, ln.minutes, ln.billed_units, ln.units,
                                               ln.explanation, ln.source, ln.policy_version)):
                col.append(v)
        self.line_offsets.append(self.line_offsets[-1] + len(r.lines))
        ec = self.edit_cols
        for e in r.edits:
            ec["rule"].append(e.rule)
            ec["category"].append(e.category)
            ec["severity"].append(e.severity)
            self.edit_lines.extend(e.lines)
            self.edit_line_offsets.append(len(self.edit_lines))
            ec["message"].append(e.message)
            ec["group"].append(e.group)
            ec["carc"].append(e.carc)
            ec["rarc"].append(e.rarc)
            ec["source"].append(e.source)
            ec["fix"].append(None if e.fix is None else orjson.dumps(e.fix).decode())
        self.edit_offsets.append(self.edit_offsets[-1] + len(r.edits))
        self.ties.extend(r.ties)
        self.tie_offsets.append(len(self.ties))

    def batch(self) -> pa.RecordBatch:
        """The results so far as one ``NESTED_SCHEMA`` record batch."""
        arrays = []
        for name, typ in _RESULT_FIELDS:
            if name == "lines":
                values = pa.StructArray.from_arrays(
                    [pa.array(col, f.type) for col, f in zip(self.line_cols, _LINE_OUT)], fields=list(_LINE_OUT))
                arrays.append(pa.ListArray.from_arrays(pa.array(self.line_offsets, pa.int32()), values, type=typ))
            elif name == "ties":
                arrays.append(pa.ListArray.from_arrays(pa.array(self.tie_offsets, pa.int32()),
                                                       pa.array(self.ties, pa.string()), type=typ))
            else:
                arrays.append(pa.array(self.cols[name], typ))
        fields = []
        for f in _EDIT_OUT:
            if f.name == "lines":
                fields.append(pa.ListArray.from_arrays(pa.array(self.edit_line_offsets, pa.int32()),
                                                       pa.array(self.edit_lines, pa.int64()), type=f.type))
            else:
                fields.append(pa.array(self.edit_cols[f.name], f.type))
        values = pa.StructArray.from_arrays(fields, fields=list(_EDIT_OUT))
        arrays.append(pa.ListArray.from_arrays(pa.array(self.edit_offsets, pa.int32()), values,
                                               type=NESTED_SCHEMA.field("edits").type))
        return pa.RecordBatch.from_arrays(arrays, schema=NESTED_SCHEMA)


def split(nested: pa.RecordBatch | pa.Table) -> tuple[pa.RecordBatch | pa.Table, pa.RecordBatch | pa.Table]:
    """(results, edits) from a ``NESTED_SCHEMA`` batch or table: the edits exploded, one row each."""
    table = nested if isinstance(nested, pa.Table) else pa.Table.from_batches([nested], NESTED_SCHEMA)
    edits_col = table.column("edits")
    flat = pc.list_flatten(edits_col)
    parents = pc.list_parent_indices(edits_col)
    offsets = pc.list_value_length(edits_col).fill_null(0)
    # position of each edit within its claim: its flat position minus where its claim's edits start
    starts = pa.array([0] + list(_accumulate(offsets.to_pylist())), pa.int64())
    position = pc.subtract(pa.array(range(len(flat)), pa.int64()), starts.take(parents)) if len(flat) else \
        pa.array([], pa.int64())
    flat_table = pa.Table.from_struct_array(flat) if len(flat) else pa.Table.from_batches(
        [], pa.schema(_EDIT_FIELDS))
    edits = pa.Table.from_arrays(
        [table.column("index").take(parents), table.column("claim_id").take(parents), position]
        + [flat_table.column(n) for n, _ in _EDIT_FIELDS], schema=EDIT_SCHEMA)
    results = table.drop_columns(["edits"]).cast(RESULT_SCHEMA)
    if isinstance(nested, pa.Table):
        return results, edits
    return _one_batch(results, RESULT_SCHEMA), _one_batch(edits, EDIT_SCHEMA)


def _accumulate(counts: list[int]) -> Iterator[int]:
    total = 0
    for c in counts[:-1]:
        total += c
        yield total


def _one_batch(table: pa.Table, schema: pa.Schema) -> pa.RecordBatch:
    batches = table.combine_chunks().to_batches()
    return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=schema)


# -- the entry points ----------------------------------------------------------------------

def evaluate_batches(
    batches: Iterable[pa.RecordBatch],
    engine: Engine | None = None,
    *,
    layout: str = "claims",
    payer: str | None = None,
    claim_columns: Iterable[str] = (),
    start_index: int = 0,
    nested: bool = False,
    batch_size: int = 10_000,
) -> Iterator[Any]:
    """Evaluate the claims of ``batches``; yield ``(results, edits)`` record batches (or one
    ``NESTED_SCHEMA`` batch each with ``nested=True``), in input order.

    ``index`` counts claims from ``start_index + 1``. Output batches hold at most
    ``batch_size`` claims; memory holds one output batch, not the stream.
    """
    if layout not in ("claims", "lines"):
        raise ValueError(f"layout must be claims or lines, not {layout!r}")
    engine = engine or Engine()
    records = _claim_records(batches) if layout == "claims" else _line_records(batches, claim_columns)
    evaluate = engine.evaluate
    cols = _Columns()
    index = start_index
    for rec in records:
        index += 1
        if isinstance(rec, _Invalid):
            r = error_result(rec.claim, payer, rec.message)
        else:
            r = evaluate(rec, payer)
        r.index = index
        cols.add(r)
        if len(cols) >= batch_size:
            yield _emit(cols, nested)
            cols = _Columns()
    if len(cols):
        yield _emit(cols, nested)


def _emit(cols: _Columns, nested: bool) -> Any:
    batch = cols.batch()
    return batch if nested else split(batch)


def evaluate_table(
    data: pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch],
    engine: Engine | None = None,
    **options: Any,
) -> tuple[pa.Table, pa.Table]:
    """(results, edits) tables for a whole table (or batches); options as :func:`evaluate_batches`."""
    if isinstance(data, pa.Table):
        data = data.to_batches()
    elif isinstance(data, pa.RecordBatch):
        data = [data]
    pairs = list(evaluate_batches(data, engine, **options))
    return (pa.Table.from_batches([p[0] for p in pairs], RESULT_SCHEMA),
            pa.Table.from_batches([p[1] for p in pairs], EDIT_SCHEMA))


def to_dicts(results: pa.Table | pa.RecordBatch, edits: pa.Table | pa.RecordBatch) -> list[dict[str, Any]]:
    """The results as ``Result.to_dict()`` dicts (with ``index``), from the two tables: the
    inverse of the Arrow conversion, for comparing with the JSON path. Edits join on index."""
    by_index: dict[int, list[dict]] = {}
    for e in edits.to_pylist():
        i = e.pop("index")
        e.pop("claim_id")
        e.pop("edit")
        e["lines"] = list(e["lines"])
        if e["fix"] is not None:
            e["fix"] = orjson.loads(e["fix"])
        by_index.setdefault(i, []).append(e)
    out = []
    for r in results.to_pylist():
        policy = None
        if r["policy_id"] is not None:
            policy = {"id": r["policy_id"], "version": r["policy_version"]}
            if r["policy_versions"] is not None:
                policy["versions"] = r["policy_versions"]
        d = {"schema_version": RESULT_SCHEMA_VERSION, "claim_id": r["claim_id"], "payer": r["payer"], "policy": policy, "status": r["status"],
             "lines": r["lines"], "edits": by_index.get(r["index"], []), "ties": r["ties"]}
        if r["error"] is not None:
            d["error"] = r["error"]
        d["index"] = r["index"]
        out.append(d)
    return out


__all__ = ["CLAIM_COLUMNS", "CLAIM_SCHEMA", "EDIT_SCHEMA", "LINE_ROW_SCHEMA", "NESTED_SCHEMA", "RESULT_SCHEMA",
           "evaluate_batches", "evaluate_table", "split", "to_dicts"]
