"""Reading claim files: one dispatch over the reader plugins.

A reader is a plugin (``register_readers``): ``read(stream, name, options)`` yields
``(record number, claim dict or ReadError)`` for every record of a binary stream. The
built-ins are ``jsonl`` (one JSON object, a JSON array or JSON lines: see
:mod:`payer_rules.readers.jsonl`) and ``x12-837p``. :func:`open_records` is the one
place that chooses a reader, by name (``format=``, the CLI's ``--input-format``) or by
sniffing the first bytes, and ``check``, ``batch``, ``explain``, ``diff --claims`` and the
Python API all read through it.

A record that cannot be read yields a :class:`ReadError` in its place, so the caller can
still write one result per input record. Every bound a reader applies is a field of
:class:`ReadOptions` with a documented default and an environment variable; a record that
exceeds one gets an error naming the limit and the setting (docs/readers.md).
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO, Iterator, Mapping

from ..plugin_manager import PluginError

#: bytes given to each reader's ``sniff``
SNIFF_BYTES = 4096
#: the reader used when no reader's sniff recognises the file (it reports what is wrong)
FALLBACK = "jsonl"


@dataclass(frozen=True)
class ReadError:
    """A record that is not a readable claim; ``message`` names the place, not the content."""

    message: str
    claim_id: str | None = None


class ReaderError(PluginError):
    """A reader cannot be chosen (an unknown ``--input-format``) or a setting is invalid."""


#: limit field -> (environment variable, what it bounds); defaults are the field defaults
LIMITS: dict[str, tuple[str, str]] = {
    "max_record_bytes": ("PAYER_RULES_MAX_RECORD_BYTES", "bytes in one record (one JSON line)"),
    "max_file_bytes": ("PAYER_RULES_MAX_FILE_BYTES", "bytes of a file read whole (one JSON document or array)"),
    "max_claim_lines": ("PAYER_RULES_MAX_CLAIM_LINES", "service lines in one claim"),
    "max_depth": ("PAYER_RULES_MAX_DEPTH", "levels of nested objects and arrays in one claim"),
    "max_segment_length": ("PAYER_RULES_MAX_SEGMENT_LENGTH", "characters in one X12 segment"),
    "max_claim_segments": ("PAYER_RULES_MAX_CLAIM_SEGMENTS", "X12 segments in one claim (CLM to the next claim)"),
}


@dataclass(frozen=True)
class ReadOptions:
    """What a reader is told: how to map X12 payer ids, and the bounds on its input.

    Defaults are generous for real claims (the 837I allows 999 service lines; a claim of
    999 lines is well under 1 MiB) and small enough that no record can exhaust memory.
    """

    #: X12 payer ids (NM1*PR09) -> policy payer ids (the policies' ``x12_payer_ids``)
    x12_payers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    max_record_bytes: int = 16 * 1024 * 1024
    max_file_bytes: int = 1024 * 1024 * 1024
    max_claim_lines: int = 999
    max_depth: int = 64
    #: an 837 segment is a few hundred characters at most (HI with 12 diagnoses ~ 400)
    max_segment_length: int = 65536
    #: 999 lines of an 837I with their dates, references and providers fit many times over
    max_claim_segments: int = 100_000

    def __post_init__(self) -> None:
        object.__setattr__(self, "x12_payers", MappingProxyType(dict(self.x12_payers)))
        for name in LIMITS:
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ReaderError(f"ReadOptions.{name} must be a whole number, 1 or more")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **given: Any) -> "ReadOptions":
        """Options from ``given``, else the environment (``PAYER_RULES_MAX_*``), else defaults."""
        env = os.environ if environ is None else environ
        for name, (var, _) in LIMITS.items():
            text = env.get(var, "").strip()
            if name not in given and text:
                if not (text.isascii() and text.isdigit()) or int(text) < 1:
                    raise ReaderError(f"${var} must be a whole number, 1 or more")
                given[name] = int(text)
        return cls(**given)

    def with_(self, **changes: Any) -> "ReadOptions":
        return replace(self, **changes)


def limit_message(limit: str, options: ReadOptions, what: str) -> str:
    """The error for a record over a bound: the limit, its value and how to change it."""
    var, bounds = LIMITS[limit]
    return (f"{what} exceeds the limit of {getattr(options, limit):,} {bounds} "
            f"({limit}; set ${var} or ReadOptions.{limit} to change it)")


# -- choosing a reader ------------------------------------------------------------------------

def _registry(readers: Any) -> Mapping[str, Any]:
    """name -> ReaderSpec from an Engine, a Plugins, a mapping, or None (installed plugins)."""
    if readers is None:
        from ..plugin_manager import load_plugins
        return load_plugins().readers
    plugins = getattr(readers, "plugins", readers)  # an Engine has .plugins
    return getattr(plugins, "readers", plugins)


def choose_reader(head: bytes, readers: Mapping[str, Any], format: str | None = None,
                  name: str | None = None) -> Any:
    """The ReaderSpec for a file: the one named ``format``; else the first whose ``sniff``
    recognises ``head`` (in name order, the catch-all ``jsonl`` last); else the one whose
    extensions match ``name``; else ``jsonl``, which reports what is wrong with each record."""
    if format:
        spec = readers.get(format)
        if spec is None:
            raise ReaderError(f"no reader named '{format}' (installed: {', '.join(sorted(readers)) or 'none'})")
        return spec
    for key in sorted(readers, key=lambda k: (k == FALLBACK, k)):
        spec = readers[key]
        if spec.sniff is not None:
            try:
                if spec.sniff(head):
                    return spec
            except Exception as exc:  # a broken sniff is that plugin's problem, named
                raise ReaderError(f"reader '{key}' (plugin {spec.plugin}) failed to sniff the input: "
                                  f"{exc.__class__.__name__}") from None
    if name:
        lower = name.lower()
        for key in sorted(readers):
            if any(lower.endswith(ext.lower()) for ext in readers[key].extensions):
                return readers[key]
    if FALLBACK in readers:
        return readers[FALLBACK]
    raise ReaderError(f"no installed reader recognises {name or 'the input'}")


def open_input(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    return open(Path(path), "rb")


class Records:
    """The records of one claim file, read by the reader chosen for it.

    Iterate for ``(record number, claim dict or ReadError)``; ``reader`` is the chosen
    ReaderSpec, ``stream`` the buffered binary stream (positioned at the start), ``name``
    the display name used in messages. Use as a context manager, or iterate to the end,
    to close a file it opened.
    """

    def __init__(self, stream: BinaryIO, name: str, reader: Any, options: ReadOptions, owned: bool):
        self.stream, self.name, self.reader, self.options, self._owned = stream, name, reader, options, owned
        self._entered = False  # inside a with block the block closes the file, not the iteration

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        n = 0
        try:
            for n, record in self.reader.read(self.stream, self.name, self.options):
                yield n, record
        except Exception as exc:  # a broken reader: one error record in place of the rest
            yield n + 1, ReadError(f"{self.name}: reader '{self.reader.name}' (plugin {self.reader.plugin}) "
                                   f"failed after record {n} ({exc.__class__.__name__}); the rest was not read")
        finally:
            if not self._entered:
                self.close()

    def close(self) -> None:
        if self._owned:
            self.stream.close()

    def __enter__(self) -> "Records":
        self._entered = True
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_records(source: str | Path | BinaryIO, *, readers: Any = None, format: str | None = None,
                 options: ReadOptions | None = None, name: str | None = None) -> Records:
    """Open a claim file for reading: the one dispatch every command and the API use.

    ``source``: a path, ``"-"`` for standard input, or a binary stream. ``readers``: an
    Engine, a Plugins, a mapping of ReaderSpecs, or None for the installed plugins.
    ``format``: a reader's name (else the file is sniffed). ``options``: a ReadOptions;
    by default the environment's limits, with the Engine's X12 payer map when ``readers``
    is an Engine. Raises OSError when the file cannot be opened, ReaderError for an
    unknown format.
    """
    registry = _registry(readers)
    if options is None:
        payers = readers.x12_payers() if hasattr(readers, "x12_payers") else {}
        options = ReadOptions.from_env(x12_payers=payers)
    owned = False
    if isinstance(source, (str, Path)):
        text = str(source)
        display = name or ("<stdin>" if text == "-" else text)
        stream = open_input(text)
        owned = text != "-"
    else:
        stream = source
        display = name or str(getattr(source, "name", "<stream>"))
    if not hasattr(stream, "peek"):
        stream = io.BufferedReader(stream)  # type: ignore[arg-type]
    try:
        head = stream.peek(SNIFF_BYTES)[:SNIFF_BYTES]
        spec = choose_reader(head, registry, format, display)
    except BaseException:
        if owned:
            stream.close()
        raise
    return Records(stream, display, spec, options, owned)


def read_claims(path: str, x12_payers: Mapping[str, str] | None = None, *, readers: Any = None,
                format: str | None = None, options: ReadOptions | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(record number, claim dict or ReadError)`` for every record in ``path``
    (``-``: standard input), through :func:`open_records`.

    ``x12_payers`` maps X12 payer ids to policy payer ids (the policies' x12_payer_ids).
    Raises OSError only when the file itself cannot be opened.
    """
    if options is None:
        if x12_payers is None and hasattr(readers, "x12_payers"):
            x12_payers = readers.x12_payers()
        options = ReadOptions.from_env(x12_payers=x12_payers or {})
    yield from open_records(path, readers=readers, format=format, options=options)


def readers_table(readers: Any = None) -> list[dict[str, Any]]:
    """The installed readers (name, plugin, extensions, media types, description)."""
    reg = _registry(readers)
    return [{"name": s.name, "plugin": s.plugin, "extensions": list(s.extensions),
             "media_types": list(s.media_types), "description": s.description}
            for s in (reg[k] for k in sorted(reg))]


__all__ = ["ReadError", "ReadOptions", "ReaderError", "Records", "LIMITS", "open_records", "read_claims",
           "choose_reader", "limit_message", "open_input", "readers_table"]
