"""Writing results: the writer registry's one dispatch, and fixes put into words.

Writers are plugins (``register_writers``): the built-in ``json`` (JSON lines, the
contract) and ``text`` (for people) are registered by ``payer_rules.plugins.writers`` like
any third-party writer. ``check``, ``explain`` and the API choose one by name.
"""

from __future__ import annotations

from typing import Any, BinaryIO, Mapping

from ..models import Result


class WriterError(ValueError):
    """No writer of that name is installed."""


def open_writer(plugins: Any, name: str, stream: BinaryIO, options: Mapping[str, Any] | None = None) -> Any:
    """The writer ``name`` (a registered writer plugin) writing to ``stream``."""
    spec = plugins.writers.get(name)
    if spec is None:
        from ..policy import suggest
        known = sorted(plugins.writers)
        raise WriterError(f"no writer named '{name}'{suggest(name, known)}; installed: {', '.join(known)}")
    return spec.factory(stream, dict(options or {}))


def write_result(writer: Any, result: Result, extra: Mapping[str, Any] | None = None) -> None:
    """``writer.write(result)``, with ``extra`` (the fixed claim of ``check --fix``) for the
    writers that take it."""
    if extra is None:
        writer.write(result)
    else:
        writer.write(result, extra=extra)


def _lines(value: Any) -> str:
    nums = [str(n) for n in value] if isinstance(value, (list, tuple)) else [str(value)]
    return ("lines " + ", ".join(nums[:-1]) + " and " + nums[-1]) if len(nums) > 1 else f"line {nums[0]}"


def fix_text(fix: Mapping[str, Any] | None) -> str:
    """A fix as a sentence a biller can act on (``{"action": "set_units", "line": 2,
    "units": 3}`` -> "Bill 3 units on line 2."). Unknown actions keep their note."""
    if not fix:
        return ""
    action = fix.get("action")
    line = fix.get("line")
    where = _lines(fix["lines"]) if "lines" in fix else (f"line {line}" if line is not None else "the claim")
    if action == "set_units":
        units = fix.get("units")
        return f"Bill {units} unit{'s' if units != 1 else ''} on {where}."
    if action == "remove_line":
        return f"Remove {where}: it is not separately payable."
    if action == "add_modifier":
        if fix.get("choices"):
            return f"Add one of {', '.join(fix['choices'])} to {where} (a person chooses which)."
        return f"Add modifier {fix.get('modifier')} to {where}."
    if action == "remove_modifier":
        return f"Remove modifier {fix.get('modifier')} from {where}."
    if action == "replace_code":
        return f"Bill {fix.get('code')} instead of the code on {where}."
    if action == "merge_lines":
        return f"Merge {where} ({fix.get('code')}) into one line with the day's total minutes and units."
    if action == "add_minutes":
        return f"Record the timed minutes (or start and end times) of {where}."
    note = fix.get("note")
    return f"{str(action).replace('_', ' ').capitalize()} on {where}" + (f": {note}." if note else ".")
