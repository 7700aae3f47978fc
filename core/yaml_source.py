"""Safe YAML reading that remembers where every value came from.

Policies are data, never code: this loader derives from ``yaml.SafeLoader`` so a tag
such as ``!!python/object`` is refused before anything is built. On top of that it

- keeps dates as text (the schema checks their form; no silent datetime objects),
- refuses duplicate keys (PyYAML would silently keep the last one),
- keeps the source text of integers, so a code written ``00100`` stays ``"00100"``
  rather than becoming the octal number 64,
- records the line and column of every mapping key and value, so a schema error can
  name the exact place in the file,
- is bounded, because a policy folder may come from someone else: the file's size, how
  deeply values nest, and how many values the document holds once its aliases are
  expanded (a "billion laughs" alias bomb is refused while it is composed, in
  milliseconds, before anything is built). Each bound is a :class:`YamlLimits` field
  with a default and an environment variable, and an error that exceeds one names both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: Default bounds. The bundled policies are under 10 KB, nest 9 levels and hold about 700
#: values. Reading costs roughly 150 us a value (pure-Python YAML, then schema validation),
#: so the defaults keep the worst policy to a few seconds' load.
MAX_POLICY_BYTES = 1024 * 1024
MAX_YAML_DEPTH = 50
MAX_YAML_NODES = 50_000
#: Deeper than this, schema validation and the rule compiler exhaust Python's recursion limit.
YAML_DEPTH_CEILING = 200
POLICY_BYTES_ENV = "PAYER_RULES_MAX_POLICY_BYTES"
YAML_DEPTH_ENV = "PAYER_RULES_MAX_YAML_DEPTH"
YAML_NODES_ENV = "PAYER_RULES_MAX_YAML_NODES"


class SourceError(Exception):
    """A problem in a source file, with where it is."""

    def __init__(self, path: str, line: int | None, message: str, column: int | None = None):
        self.path = path
        self.line = line
        self.column = column
        self.message = message
        where = path if line is None else f"{path}:{line}" + (f":{column}" if column else "")
        super().__init__(f"{where}: {message}")


def env_limit(name: str, default: int, error: type[SourceError] | None = None) -> int:
    """A bound read from the environment variable ``name`` (a positive whole number; ``_``
    may group digits), else ``default``. A bad value is a SourceError (or ``error``) naming
    the variable."""
    text = os.environ.get(name, "").strip().replace("_", "")
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise (error or SourceError)(name, None, "expected a positive whole number (a limit; unset it for the default)")
    return int(text)


@dataclass(frozen=True, slots=True)
class YamlLimits:
    """Bounds on one YAML file (a policy or a policy test file). ``from_env()`` gives the
    defaults as changed by $PAYER_RULES_MAX_POLICY_BYTES, $PAYER_RULES_MAX_YAML_DEPTH and
    $PAYER_RULES_MAX_YAML_NODES. ``max_depth`` may be at most ``YAML_DEPTH_CEILING`` (200):
    deeper documents would exhaust Python's recursion limit further on."""

    #: the file's size in bytes
    max_bytes: int = MAX_POLICY_BYTES
    #: how deeply sequences and mappings nest
    max_depth: int = MAX_YAML_DEPTH
    #: values (scalars, sequences, mappings, keys) once every alias is expanded
    max_nodes: int = MAX_YAML_NODES

    def __post_init__(self) -> None:
        if not 1 <= self.max_depth <= YAML_DEPTH_CEILING:
            raise ValueError(f"max_depth must be between 1 and {YAML_DEPTH_CEILING}")

    @classmethod
    def from_env(cls) -> "YamlLimits":
        depth = env_limit(YAML_DEPTH_ENV, MAX_YAML_DEPTH)
        if depth > YAML_DEPTH_CEILING:
            raise SourceError(YAML_DEPTH_ENV, None, f"at most {YAML_DEPTH_CEILING} (deeper documents exhaust "
                                                    "Python's recursion limit)")
        return cls(env_limit(POLICY_BYTES_ENV, MAX_POLICY_BYTES), depth, env_limit(YAML_NODES_ENV, MAX_YAML_NODES))


class YamlInt(int):
    """An int that remembers how it was written (codes such as 00100 or 97110)."""

    text: str

    def __new__(cls, value: int, text: str) -> "YamlInt":
        obj = super().__new__(cls, value)
        obj.text = text
        return obj


class _Loader(yaml.SafeLoader):
    """SafeLoader that bounds nesting and alias expansion while it composes the node graph.

    Aliases share nodes, so the graph stays small while the tree it stands for (which
    line marks, schema validation and plain copies all walk) can be exponential. Each
    node's expanded size is known when it is complete; an alias adds its target's size to
    the running total, which is checked at once."""

    def __init__(self, stream: str, name: str = "<yaml>", limits: YamlLimits | None = None):
        super().__init__(stream)
        self.source_name = name
        self.limits = limits or YamlLimits()
        self._depth = 0
        self._expanded = 0
        self._sizes: dict[int, int] = {}  # id(anchored node) -> its size with aliases expanded

    def _refuse(self, mark: yaml.Mark, message: str) -> SourceError:
        return SourceError(self.source_name, mark.line + 1, message, mark.column + 1)

    def _too_many(self, mark: yaml.Mark, by_aliases: bool) -> SourceError:
        how = "its aliases expand it to" if by_aliases else "it holds"
        return self._refuse(mark, f"{how} more than {self.limits.max_nodes:,} values (the limit max_yaml_nodes; "
                                  f"set ${YAML_NODES_ENV} to change it)"
                                  + ("; is it an alias bomb?" if by_aliases else ""))

    def compose_node(self, parent: Any, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is PyYAML's own error
                size = self._sizes.get(id(target))
                if size is None:
                    raise self._refuse(event.start_mark, f"alias *{event.anchor} is used inside its own anchor "
                                                         "(a recursive structure): not allowed in a policy")
                self._expanded += size
                if self._expanded > self.limits.max_nodes:
                    raise self._too_many(event.start_mark, True)
            return super().compose_node(parent, index)
        event = self.peek_event()
        self._depth += 1
        if self._depth > self.limits.max_depth:
            raise self._refuse(event.start_mark, f"nested more than {self.limits.max_depth} levels deep (the limit "
                                                 f"max_yaml_depth; set ${YAML_DEPTH_ENV} to change it)")
        before = self._expanded
        self._expanded += 1
        if self._expanded > self.limits.max_nodes:
            raise self._too_many(event.start_mark, False)
        node = super().compose_node(parent, index)
        self._depth -= 1
        if event.anchor is not None:
            self._sizes[id(node)] = self._expanded - before
        return node


# Dates stay strings: remove the implicit timestamp resolver.
_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    value = yaml.SafeLoader.construct_yaml_int(loader, node)
    return YamlInt(value, node.value)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    # A merge (``<<: *base``) brings its keys first; the mapping's own keys override them,
    # as YAML specifies. A key written twice in the mapping itself is refused.
    own = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)
    merged = len(node.value) - own
    out: dict[Any, Any] = {}
    seen: set[str] = set()
    for i, (key_node, value_node) in enumerate(node.value):
        if isinstance(key_node, yaml.ScalarNode):
            key = key_node.value  # keys are always text: 97110: 15 keeps "97110"
        else:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be plain text", key_node.start_mark
            )
        if i >= merged:
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}'", key_node.start_mark
                )
            seen.add(key)
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


def _read_text(path: str | Path, name: str, limits: YamlLimits) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read(limits.max_bytes + 1)
    except OSError as exc:
        raise SourceError(name, None, f"cannot read file: {exc.__class__.__name__}") from None
    if len(data) > limits.max_bytes:
        raise SourceError(name, None, f"the file is larger than {limits.max_bytes:,} bytes (the limit "
                                      f"max_policy_bytes; set ${POLICY_BYTES_ENV} to change it)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SourceError(name, line, f"not UTF-8 text (byte {data[exc.start]:#04x}); save the file as UTF-8") from None


def load_yaml(path: str | Path, text: str | None = None,
              limits: YamlLimits | None = None) -> tuple[Any, LineMap]:
    """Read one YAML document safely; raise SourceError naming the file and line.

    ``limits``: the bounds (default :meth:`YamlLimits.from_env`)."""
    name = str(path)
    limits = limits or YamlLimits.from_env()
    if text is None:
        text = _read_text(path, name, limits)
    elif len(text) > limits.max_bytes or len(text.encode("utf-8")) > limits.max_bytes:
        raise SourceError(name, None, f"the text is larger than {limits.max_bytes:,} bytes (the limit "
                                      f"max_policy_bytes; set ${POLICY_BYTES_ENV} to change it)")
    loader = _Loader(text, name, limits)
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
    except RecursionError:
        raise SourceError(name, None, f"nested too deeply for Python to read (lower ${YAML_DEPTH_ENV})") from None
    finally:
        loader.dispose()
    marks: dict[tuple, tuple[int, int]] = {}
    try:
        _marks(node, (), marks)
    except RecursionError:
        raise SourceError(name, None, f"nested too deeply for Python to read (lower ${YAML_DEPTH_ENV})") from None
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
