"""Claims in a Spark DataFrame, results and edits out as DataFrames (extra ``spark``).

Built on :mod:`payer_rules.arrow` and ``DataFrame.mapInArrow``: each Python worker opens
the policy bundle once (:func:`payer_rules.bundle.engine_from_bundle`, which caches the
Engine per process), so every task, and every Arrow batch of a task, reuses one Engine.

The bundle is a file the driver builds (:func:`payer_rules.bundle.build_bundle`) and ships
with ``SparkContext.addFile``; executors read it with ``SparkFiles.get``. Its name carries
its SHA-256, so a changed policy set is a new file, never a stale one. Plugins named with
``plugins=`` travel inside the bundle; installed (entry-point) plugins must be installed
on the executors like payer-rules itself (docs/scale.md).

A record that cannot be evaluated is an error row (status ``error``), never a failed task.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from pyspark import SparkFiles, TaskContext
from pyspark.sql import DataFrame, functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from . import arrow as pr_arrow
from .bundle import build_bundle, engine_from_bundle

#: index of a claim in Spark: (partition id << 33) + its position in the partition, as
#: ``monotonically_increasing_id`` numbers rows; unique within one evaluation.
PARTITION_SHIFT = 33
_ORDER = "__payer_rules_order"


@dataclass(frozen=True)
class SparkResults:
    """What :func:`evaluate_dataframe` returns: ``results`` (``RESULT_SCHEMA``, one row per
    claim), ``edits`` (``EDIT_SCHEMA``, one row per edit), and ``nested`` (one row per
    claim with its edits as a list) from which both are selected. ``bundle``: the bundle file."""

    results: DataFrame
    edits: DataFrame
    nested: DataFrame
    bundle: Path


def claim_schema(layout: str = "claims") -> Any:
    """The Spark schema of the reference claim table (``CLAIM_SCHEMA``, or ``LINE_ROW_SCHEMA``
    for ``lines``) plus ``_corrupt_record``: give it to ``spark.read.schema(...).json(...)``
    so that one odd record cannot change a column's type for all (it becomes an error row)."""
    from pyspark.sql.types import StringType, StructField
    base = pr_arrow.CLAIM_SCHEMA if layout == "claims" else pr_arrow.LINE_ROW_SCHEMA
    schema = from_arrow_schema(base)
    return schema.add(StructField(pr_arrow.CORRUPT_COLUMN, StringType(), True))


def _bundle_name(path: Path) -> str:
    h = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return f"payer-rules-bundle-{h}.zip"


def ship_bundle(spark: Any, bundle: str | Path) -> str:
    """Copy ``bundle`` to a content-named file and add it to the job (``addFile``); returns
    the name executors open it by. Adding the same content twice is a no-op."""
    bundle = Path(bundle)
    name = _bundle_name(bundle)
    sc = spark.sparkContext
    shipped = getattr(sc, "_payer_rules_bundles", None)
    if shipped is None:
        shipped = sc._payer_rules_bundles = {}
    if name not in shipped:
        folder = Path(tempfile.mkdtemp(prefix="payer-rules-ship-"))
        target = folder / name
        target.write_bytes(bundle.read_bytes())
        sc.addFile(str(target))
        shipped[name] = target
    return name


def _partition_function(bundle_name: str, layout: str, payer: str | None,
                        claim_columns: tuple[str, ...], batch_size: int) -> Callable[[Iterator], Iterator]:
    """The function ``mapInArrow`` runs on the executors (pickled by reference: payer-rules
    must be installed there)."""

    def run(batches: Iterator) -> Iterator:
        engine = engine_from_bundle(SparkFiles.get(bundle_name))
        ctx = TaskContext.get()
        start = (ctx.partitionId() << PARTITION_SHIFT) if ctx is not None else 0
        if layout == "lines":
            batches = (b.drop_columns([_ORDER]) if _ORDER in b.schema.names else b for b in batches)
        yield from pr_arrow.evaluate_batches(batches, engine, layout=layout, payer=payer,
                                             claim_columns=claim_columns, start_index=start, nested=True,
                                             batch_size=batch_size)
    return run


def evaluate_dataframe(
    df: DataFrame,
    *,
    policies: str | Path | Iterable[str | Path] | None = None,
    plugins: Iterable[str] = (),
    bundle: str | Path | None = None,
    layout: str = "claims",
    payer: str | None = None,
    claim_columns: Iterable[str] = (),
    grouped: bool = False,
    batch_size: int = 2_000,
    persist: bool = True,
) -> SparkResults:
    """Evaluate the claims of ``df``; see the module docstring and docs/arrow.md.

    ``policies``/``plugins``: what to bundle (default the bundled policies), or ``bundle``:
    a bundle file built before (``payer-rules bundle``). ``layout``: ``claims`` (a row per
    claim, ``lines`` an array of structs) or ``lines`` (a row per line with ``claim_id``);
    line rows are repartitioned by ``claim_id`` keeping their order, unless ``grouped=True``
    says each claim's rows are already together in one partition, in line order.
    ``persist``: keep the evaluated rows (memory and disk) so that writing both results
    and edits evaluates the claims once; call ``.nested.unpersist()`` when done.
    """
    if layout not in ("claims", "lines"):
        raise ValueError(f"layout must be claims or lines, not {layout!r}")
    spark = df.sparkSession
    if bundle is None:
        out = Path(tempfile.mkdtemp(prefix="payer-rules-driver-")) / "bundle.zip"
        bundle = build_bundle(out, policies, plugins=plugins)
    bundle = Path(bundle)
    name = ship_bundle(spark, bundle)
    if layout == "lines" and not grouped:
        order = ["line", _ORDER] if "line" in df.columns else [_ORDER]  # line numbers, else arrival order
        df = (df.withColumn(_ORDER, F.monotonically_increasing_id())
              .repartition("claim_id").sortWithinPartitions("claim_id", *order))
    fn = _partition_function(name, layout, payer, tuple(claim_columns), batch_size)
    nested = df.mapInArrow(fn, from_arrow_schema(pr_arrow.NESTED_SCHEMA))
    if persist:
        from pyspark import StorageLevel
        nested = nested.persist(StorageLevel.MEMORY_AND_DISK)
    results = nested.drop("edits")
    edits = (nested.select("index", "claim_id", F.posexplode("edits").alias("edit", "e"))
             .select("index", "claim_id", "edit", "e.*"))
    return SparkResults(results, edits, nested, bundle)


__all__ = ["SparkResults", "claim_schema", "evaluate_dataframe", "ship_bundle", "PARTITION_SHIFT"]
