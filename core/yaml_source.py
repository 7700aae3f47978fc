"""Safe YAML reading that remembers where every value came from.

Policies are data, never code: this loader derives from ``yaml.SafeLoader`` so a tag
such as ``!!python/object`` is refused before anything is built. On top of that it

- keeps dates as text (the schema checks their form; no silent datetime objects),
- refuses duplicate keys (PyYAML would silently keep the last one),
- keeps the source text of integers, so a code written ``00100`` stays ``"00100"``
  rather than becoming the octal number 64,
- records the line and column of every mapping key and value, so a schema error can
  name the exact place in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class SourceError(Exception):
    """A problem in a source file, with where it is."""

    def __init__(self, path: str, line: int | None, message: str, column: int | None = None):
        self.path = path
        self.line = line
        self.column = column
        self.message = message
        where = path if line is None else f"{path}:{line}" + (f":{column}" if column else "")
        super().__init__(f"{where}: {message}")


class YamlInt(int):
    """An int that remembers how it was written (codes such as 00100 or 97110)."""

    text: str

    def __new__(cls, value: int, text: str) -> "YamlInt":
        obj = super().__new__(cls, value)
        obj.text = text
        return obj


class _Loader(yaml.SafeLoader):
    pass


# Dates stay strings: remove the implicit timestamp resolver.
_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    value = yaml.SafeLoader.construct_yaml_int(loader, node)
    return YamlInt(value, node.value)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            key = key_node.value  # keys are always text: 97110: 15 keeps "97110"
        else:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be plain text", key_node.start_mark
            )
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}'", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=deep)
    return out


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def _marks(node: yaml.Node, path: tuple, out: dict[tuple, tuple[int, int]]) -> None:
    out[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            # a key's own position is what a maintainer looks for ("unknown key X")
            out[path + (key, "__key__")] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _marks(value_node, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _marks(item, path + (i,), out)


class LineMap:
    """Where each path of a loaded document stands in its file."""

    def __init__(self, marks: dict[tuple, tuple[int, int]]):
        self._marks = marks

    def find(self, path: tuple, key: bool = False) -> tuple[int | None, int | None]:
        """Line and column of ``path`` (or of its key), else of its nearest ancestor."""
        path = tuple(path)
        if key and path + ("__key__",) in self._marks:
            return self._marks[path + ("__key__",)]
        while path:
            if path in self._marks:
                return self._marks[path]
            path = path[:-1]
        return self._marks.get((), (None, None))


def load_yaml(path: str | Path, text: str | None = None) -> tuple[Any, LineMap]:
    """Read one YAML document safely; raise SourceError naming the file and line."""
    name = str(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SourceError(name, None, f"cannot read file: {exc.__class__.__name__}") from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SourceError(name, 1, "the file is empty")
        data = loader.construct_document(node)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        problem = exc.problem or "cannot be read"
        if "could not determine a constructor" in problem:
            problem = (
                f"YAML tag not allowed: {problem.split('tag ')[-1]} "
                "(policies are data; tags that build objects are refused)"
            )
        raise SourceError(name, mark.line + 1 if mark else None, problem,
                          mark.column + 1 if mark else None) from None
    except yaml.MarkedYAMLError as exc:
        raise syntax_error(name, exc, text) from None
    except yaml.YAMLError as exc:
        raise SourceError(name, None, f"YAML error: {exc.__class__.__name__}") from None
    finally:
        loader.dispose()
    marks: dict[tuple, tuple[int, int]] = {}
    _marks(node, (), marks)
    return data, LineMap(marks)


def plain(value: Any) -> Any:
    """Turn loaded YAML into plain JSON-like data (YamlInt becomes int)."""
    if isinstance(value, YamlInt):
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def code_text(value: Any) -> str:
    """A procedure code as text, whichever way YAML read it."""
    if isinstance(value, YamlInt):
        return value.text
    return str(value)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def syntax_error(name: str, exc: yaml.MarkedYAMLError, text: str) -> SourceError:
    """A YAML syntax error in words: which line, what YAML expected there, the likely fix.

    PyYAML's own words (``mapping values are not allowed here``, ``expected <block end>``)
    name the parser's state, not the writer's mistake; the common mistakes are
    recognised here from the problem, its place and the lines around it."""
    mark, context = exc.problem_mark, exc.context_mark
    problem = exc.problem or "cannot be read"
    lines = text.splitlines()
    line_no = mark.line + 1 if mark else None
    col = mark.column + 1 if mark else None
    here = lines[mark.line] if mark and mark.line < len(lines) else ""
    prev_no = None
    if mark:
        prev_no = next((i for i in range(mark.line - 1, -1, -1)
                        if lines[i].strip() and not lines[i].lstrip().startswith("#")), None)
    prev = lines[prev_no] if prev_no is not None else ""
    if "\t" in problem or "'\\t'" in problem or (here and here[:_indent(here) + 1].endswith("\t")):
        msg = "a tab character: YAML indents with spaces only; replace the tab with spaces"
    elif problem == "mapping values are not allowed here":
        if prev_no is not None and _indent(here) > _indent(prev) and ":" in prev and not prev.rstrip().endswith(":"):
            msg = (f"this line is indented deeper than line {prev_no + 1}, whose key already has a value on its "
                   f"line, so YAML cannot start a mapping here; align this line with line {prev_no + 1}, "
                   "or move that value off its line")
        else:
            msg = ("a second ': ' on one line: YAML expected one key and its value; quote the value "
                   "when it contains ': ' (description: \"a: b\")")
    elif "expected <block end>" in problem:
        parent = context.line + 1 if context else None
        msg = (f"this line is indented by {_indent(here)} space(s), which matches no level of the block"
               + (f" that starts at line {parent}" if parent else "")
               + "; YAML expected the block to end or another item at the same indentation; "
                 "indent it exactly like its siblings (or like its parent's siblings)")
    elif "could not find expected ':'" in problem:
        bad = context.line + 1 if context else line_no
        line_no, col = bad, (context.column + 1 if context else col)
        msg = ("a key without ':' (YAML expected 'key: value'), or a line that continues plain text "
               "at a key's indentation; add the ':' or indent the continuation")
    elif "found unexpected end of stream" in problem or "while scanning a quoted scalar" in (exc.context or ""):
        start = context.line + 1 if context else line_no
        msg = f"a quote opened at line {start} is never closed; close it on that line"
        line_no, col = start, (context.column + 1 if context else col)
    elif "expected ',' or ']'" in problem or "expected ',' or '}'" in problem:
        start = context.line + 1 if context else line_no
        msg = (f"the [ ] or {{ }} list opened at line {start} is not closed as YAML expected; "
               "check for a missing ',' or closing bracket, or quote an item that contains ':' or '#'")
    else:
        msg = f"{problem}" + (f" ({exc.context} at line {context.line + 1})" if exc.context and context else "")
    return SourceError(name, line_no, f"YAML syntax error: {msg}", col)
