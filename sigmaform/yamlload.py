"""YAML files read into Documents: every value with its file, line and column.

libyaml parses and composes; the data is built here, by the YAML 1.2 core schema, with
duplicate keys, unsafe tags, alias bombs and deep nesting refused, each as a Problem
that names the file, line and column.
"""

from __future__ import annotations

import codecs
import contextlib
import math
import operator
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from sigmaform.errors import ConfigError, Problem
from sigmaform.files import (
    FILE_TAG,
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    Document,
    FileRef,
    JsonPath,
    Mark,
    NotRegularFileError,
    display_path,
    gc_paused,
    read_regular,
)

# libyaml's parser and composer run in C; the pure-Python classes are a fallback only.
try:
    from yaml import CSafeLoader as _BaseLoader
    from yaml.cyaml import CParser as _CParser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

    _CParser = None  # type: ignore[misc,assignment]

_T = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT = _T + "str", _T + "null", _T + "bool", _T + "int", _T + "float"
_MAP, _SEQ, _MERGE = _T + "map", _T + "seq", _T + "merge"
_INDENT = re.compile(r"^[ \t]+", re.MULTILINE)
# What YAML 1.1 accepts in a stream; anything else is a reader error.
_NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class _Loader(_BaseLoader):
    """The safe loader; only its parser, composer and resolver are used (see _Builder).

    Plain scalars resolve by the YAML 1.2 core schema, as editors and most YAML tools
    read them today, not by PyYAML's YAML 1.1 rules: `no`, `on`, `yes` are text,
    `1:30` is text (not 90), `0755` is 755 (not octal 493), `2024-01-01` is text.
    The resolver runs in Python for every scalar either way, so this costs nothing.
    """


CORE_SCHEMA: list[tuple[str, re.Pattern[str], list[str]]] = [
    (_NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
    (_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")),
    (_INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")),
    (
        _FLOAT,
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+.0123456789"),
    ),
]

# Replace the inherited YAML 1.1 implicit resolvers with the YAML 1.2 core schema's.
_Loader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in CORE_SCHEMA:
    _Loader.add_implicit_resolver(_tag, _pattern, _first)
# `<<: *defaults` is YAML 1.1, kept because files use it and it is never ambiguous.
_Loader.add_implicit_resolver(_MERGE, re.compile(r"^<<$"), ["<"])
_RESOLVERS: dict[str, list[tuple[str, re.Pattern[str]]]] = dict(_Loader.yaml_implicit_resolvers)


def _resolve(self: _Loader, kind: type, value: str, implicit: tuple[bool, bool]) -> str:
    """BaseResolver.resolve without its generality (path resolvers, wildcard resolvers):
    the C composer calls it for every node, and we register neither."""
    if kind is yaml.ScalarNode:
        if implicit[0]:
            for tag, pattern in _RESOLVERS.get(value[:1], ()):
                if pattern.match(value):
                    return tag
        return _STR
    return _SEQ if kind is yaml.SequenceNode else _MAP


def _parser_only(self: _Loader, stream: str) -> None:
    """libyaml's parser and composer alone: the constructor's and resolver's Python state
    (set up per file by CSafeLoader.__init__) is never used here."""
    _CParser.__init__(self, stream)


if _CParser is not None:
    _Loader.__init__ = _parser_only  # type: ignore[method-assign,assignment]
_Loader.resolve = _resolve  # type: ignore[method-assign,assignment]
# No path resolvers are registered: nothing to track per node. The composer calls these two
# for every node, so they are C functions that do nothing with their arguments instead of
# Python ones (a builtin is not bound as a method): ~10% of composing a document.
_Loader.descend_resolver = operator.is_  # type: ignore[method-assign,assignment]
_Loader.ascend_resolver = tuple  # type: ignore[method-assign,assignment]


class _Refused(Exception):
    """Stops building a document; carries the Problem."""

    def __init__(self, mark: Mark, message: str) -> None:
        self.mark = mark
        self.message = message


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Turns one composed node graph into plain data, recording marks as it goes.

    Constructing ourselves (instead of the loader's constructor) records marks in the
    same pass, refuses duplicate keys and unsafe tags, and bounds alias expansion.
    """

    def __init__(self, loader: _Loader | None, no_aliases: bool = False) -> None:
        self.loader = loader
        # The text holds no `*`, so no alias: the cycle and expansion checks can be skipped.
        self.no_aliases = no_aliases
        self.marks: dict[JsonPath, Mark] = {}
        self.key_marks: dict[JsonPath, Mark] = {}
        self.errors: list[tuple[Mark, str]] = []
        self.seen: set[int] = set()
        self.active: set[int] = set()
        self.alias_depth = 0
        self.alias_nodes = 0

    def build(self, node: yaml.Node, path: JsonPath) -> Any:
        if self.no_aliases:
            return self._build_plain(node, path)
        node_id = id(node)
        if node_id in self.active:
            raise _Refused(_mark(node), "an alias refers to a node that contains it")
        aliased = node_id in self.seen
        if aliased:
            self.alias_depth += 1
        try:
            if self.alias_depth:
                self.alias_nodes += 1
                if self.alias_nodes > MAX_ALIAS_NODES:
                    raise _Refused(
                        _mark(node),
                        f"aliases expand to more than {MAX_ALIAS_NODES} nodes; refused",
                    )
            if len(path) > MAX_DEPTH:
                raise _Refused(_mark(node), f"nested deeper than {MAX_DEPTH} levels")
            self.seen.add(node_id)
            self.marks[path] = _mark(node)
            if isinstance(node, yaml.ScalarNode):
                return self._scalar(node, path)
            self.active.add(node_id)
            try:
                if isinstance(node, yaml.MappingNode):
                    return self._mapping(node, path)
                assert isinstance(node, yaml.SequenceNode)
                return self._sequence(node, path)
            finally:
                self.active.discard(node_id)
        finally:
            if aliased:
                self.alias_depth -= 1

    def _build_plain(self, node: yaml.Node, path: JsonPath) -> Any:
        """`build` for a text without aliases: no node can be reached twice."""
        mark = node.start_mark
        self.marks[path] = Mark(mark.line + 1, mark.column + 1)
        if len(path) > MAX_DEPTH:
            raise _Refused(_mark(node), f"nested deeper than {MAX_DEPTH} levels")
        cls = node.__class__
        if cls is yaml.ScalarNode:
            return self._scalar(node, path)  # type: ignore[arg-type]
        if cls is yaml.MappingNode:
            return self._mapping(node, path)  # type: ignore[arg-type]
        return self._sequence(node, path)  # type: ignore[arg-type]

    def _scalar(self, node: yaml.ScalarNode, path: JsonPath) -> Any:
        tag, value = node.tag, node.value
        if "\0" in value:
            # `"\0"` or `"\x00"` in a quoted string: C APIs and file names cut text there.
            self.errors.append((_mark(node), "a NUL character (\\0) is not allowed in a value"))
            return None
        if tag == _STR:
            return value
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return value[0] in "tT"
        if tag == _INT:
            return self._int(node)
        if tag == _FLOAT:
            return self._float(node)
        if tag == FILE_TAG:
            if not value:
                self.errors.append((_mark(node), "`!file` needs a path, like `!file prompts/x.md`"))
            return FileRef(value, _mark(node))
        self.errors.append((_mark(node), _tag_message(tag)))
        return None

    def _int(self, node: yaml.ScalarNode) -> int | None:
        value = node.value
        try:
            if value.startswith("0o"):
                return int(value[2:], 8)
            if value.startswith("0x"):
                return int(value[2:], 16)
            return int(value)
        except ValueError:  # Python refuses to parse more than 4,300 decimal digits
            self.errors.append((_mark(node), f"integer of {len(value)} digits is too large"))
            return None

    def _float(self, node: yaml.ScalarNode) -> float | None:
        written = node.value.lstrip("+-").lower()
        number = math.nan if written in (".inf", ".nan") else float(node.value)
        if not math.isfinite(number):
            # JSON has no NaN or Infinity: the API cannot store them, and NaN never equals
            # itself, so a plan would never settle. `1e999` overflows to infinity too.
            self.errors.append(
                (
                    _mark(node),
                    f"`{node.value}` is not a finite number (JSON has no NaN or Infinity)",
                )
            )
            return None
        return number

    def _sequence(self, node: yaml.SequenceNode, path: JsonPath) -> list[Any]:
        if node.tag != _SEQ:
            self.errors.append((_mark(node), _tag_message(node.tag)))
        return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]

    def _mapping(self, node: yaml.MappingNode, path: JsonPath) -> dict[str, Any]:
        if node.tag != _MAP:
            self.errors.append((_mark(node), _tag_message(node.tag)))
        result: dict[str, Any] = {}
        # Merged keys (`<<: *defaults`) go first so that keys written here replace them,
        # values and marks alike.
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self._merge(result, value_node, path)
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.errors.append((_mark(key_node), "a mapping key must be a plain value"))
                continue
            # Keys are always strings (JSON): `on:` or `1:` means the text written.
            key = key_node.value
            if "\0" in key:
                self.errors.append(
                    (_mark(key_node), "a NUL character (\\0) is not allowed in a key")
                )
                continue
            if key in lines:
                self.errors.append(
                    (_mark(key_node), f"duplicate key `{key}` (first on line {lines[key]})")
                )
                continue
            lines[key] = key_node.start_mark.line + 1
            self.key_marks[(*path, key)] = _mark(key_node)
            result[key] = self.build(value_node, (*path, key))
        return result

    def _merge(self, result: dict[str, Any], source: yaml.Node, path: JsonPath) -> None:
        """`<<: *defaults` (or a list of them); the first source wins, as YAML specifies."""
        sources = source.value if isinstance(source, yaml.SequenceNode) else [source]
        own_mark = self.marks[path]
        for item in sources:
            if not isinstance(item, yaml.MappingNode):
                self.errors.append((_mark(item), "`<<` merges only mappings"))
                continue
            for key, child in self.build(item, path).items():
                result.setdefault(key, child)
        self.marks[path] = own_mark


class _Unusual(Exception):
    """Something _plain leaves to _Builder, which reports it or records what it needs."""


def _plain(node: yaml.Node, depth: int) -> Any:
    """The data `_Builder` gives for a document without aliases, without marks: raises
    _Unusual at anything that _Builder would report or treat apart (a merge key), so the
    data and problems are always _Builder's."""
    cls = node.__class__
    if cls is yaml.ScalarNode:
        tag, value = node.tag, node.value
        if tag == _STR and "\0" not in value:
            return value
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return value[0] in "tT"
        if tag == FILE_TAG and value and "\0" not in value:
            return FileRef(value, _mark(node))
        if tag == _INT and len(value) < 100:  # far from Python's limit on digits
            if value.startswith("0o"):
                return int(value[2:], 8)
            if value.startswith("0x"):
                return int(value[2:], 16)
            return int(value)
        if tag == _FLOAT and value.lstrip("+-").lower() not in (".inf", ".nan"):
            number = float(value)
            if math.isfinite(number):
                return number
        raise _Unusual
    if depth >= MAX_DEPTH:
        raise _Unusual  # its items would be nested too deep (or it is empty: no matter)
    if cls is yaml.MappingNode and node.tag == _MAP:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.__class__ is not yaml.ScalarNode or key_node.tag == _MERGE:
                raise _Unusual
            key = key_node.value
            if key in result or "\0" in key:
                raise _Unusual
            result[key] = _plain(value_node, depth + 1)
        return result
    if cls is yaml.SequenceNode and node.tag == _SEQ:
        return [_plain(item, depth + 1) for item in node.value]
    raise _Unusual


def _tag_message(tag: str) -> str:
    shown = "!!" + tag[len(_T) :] if tag.startswith(_T) else tag
    return f"tag `{shown}` is not allowed (only plain YAML values and `!file`)"


def _decode(raw: bytes, display: str) -> str:
    try:
        # As "utf-8-sig" decodes, without that codec's Python-level wrapper.
        text = (raw[3:] if raw.startswith(codecs.BOM_UTF8) else raw).decode("utf-8")
    except UnicodeDecodeError as error:
        before = raw[: error.start]
        line = before.count(b"\n") + 1
        column = error.start - (before.rfind(b"\n") + 1) + 1
        raise ConfigError(
            Problem(display, line, column, "", "not UTF-8 text (a YAML file must be UTF-8)")
        ) from None
    return text


def _depth_is_suspicious(text: str) -> bool:
    """Cheap upper bound on nesting depth; only files above it get an exact event scan."""
    limit = MAX_DEPTH * 5
    if len(text) <= limit:
        return False
    symbols = sum(text.count(c) for c in "[{-:?")
    if symbols > limit:
        return True
    indent = max((len(m) for m in _INDENT.findall(text)), default=0)
    return symbols + indent > limit


def _check_depth(text: str, display: str) -> None:
    """Refuse deep nesting before composing: libyaml's composer would overflow the C stack."""
    try:
        _scan_depth(_Loader(text), display)
    except yaml.MarkedYAMLError as error:
        # libyaml 0.2.5 has a nesting limit of its own (1,000), and its scanner reads up to
        # 1,024 characters ahead of the events counted here, so on `[[[[...` it can refuse
        # before our limit is reached. PyYAML's Python parser has no such limit: it scans
        # the text up to libyaml's error again, so that the user reads our limit when that
        # is what the file breaks. Skipped for huge files (slow in Python, and rare).
        mark: Any = error.problem_mark
        end = _line_end(text, mark.line) if mark is not None else len(text)
        if end <= _RESCAN_LIMIT:
            # A YAMLError here: the text is broken before it is too deep, libyaml's error stands.
            with contextlib.suppress(yaml.YAMLError):
                _scan_depth(yaml.SafeLoader(text[:end]), display)
        raise ConfigError(_yaml_problem(error, display, text)) from None


_RESCAN_LIMIT = 1_000_000  # characters


def _line_end(text: str, line: int) -> int:
    """The index just past the 0-based `line`."""
    position = -1
    for _ in range(line + 1):
        position = text.find("\n", position + 1)
        if position < 0:
            return len(text)
    return position + 1


def _scan_depth(loader: Any, display: str) -> None:
    """Count collection events; ConfigError at the first one deeper than MAX_DEPTH."""
    depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    mark: Any = event.start_mark
                    raise ConfigError(
                        Problem(
                            display,
                            mark.line + 1,
                            mark.column + 1,
                            "",
                            f"nested deeper than {MAX_DEPTH} levels",
                        )
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    finally:
        loader.dispose()


def _yaml_problem(error: yaml.MarkedYAMLError, display: str, text: str) -> Problem:
    mark: Any = error.problem_mark or error.context_mark
    message = error.problem or "invalid YAML"
    if error.context:
        context = error.context
        if error.context_mark is not None and mark is not None and _at_end(text, mark):
            # The file ended inside a quote or a bracket: where it was opened is the line
            # to fix, not the end of the file.
            mark = error.context_mark
            context += " that starts here"
        message = f"{message} ({context})"
    if mark is None:
        return Problem(display, 0, 0, "", message)
    lines = text.split("\n", mark.line + 1)
    at_tab = mark.line < len(lines) and lines[mark.line][mark.column : mark.column + 1] == "\t"
    if "tab" in message or at_tab:
        message += "; tabs cannot indent YAML, use spaces"
    return Problem(display, mark.line + 1, mark.column + 1, "", message)


def _at_end(text: str, mark: Any) -> bool:
    """Whether only whitespace follows `mark` (0-based line and column)."""
    start = _line_end(text, mark.line - 1) if mark.line else 0
    return not text[start + mark.column :].strip()


def load_documents(
    path: Path, display: str | None = None, *, marks_later: bool = False
) -> list[Document]:
    """Every non-empty YAML document in a file; ConfigError with every problem found.

    `marks_later`: a document with nothing unusual (no alias, merge, tag, duplicate key,
    NUL or out-of-range number) is built without its marks, which its Document works out
    from the composed node when first asked: a caller that keeps only a few of them
    (load_project) saves most of the building, and holds the node only meanwhile.
    """
    shown = display if display is not None else str(path)
    try:
        raw = read_regular(path)
    except FileNotFoundError:
        raise ConfigError(Problem(shown, message="file not found")) from None
    except IsADirectoryError:
        raise ConfigError(Problem(shown, message="is a directory, not a file")) from None
    except NotRegularFileError:
        raise ConfigError(
            Problem(shown, message="not a regular file (a FIFO, socket or device); refused")
        ) from None
    except OSError as error:
        raise ConfigError(Problem(shown, message=f"cannot read: {error.strerror}")) from None
    text = _decode(raw, shown)
    if _depth_is_suspicious(text):
        _check_depth(text, shown)
    documents: list[Document] = []
    problems: list[Problem] = []
    loader = _Loader(text)
    no_aliases = "*" not in text
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None or (
                isinstance(node, yaml.ScalarNode) and node.tag == _NULL and node.value == ""
            ):
                index += 1
                continue  # an empty document between `---` lines
            if marks_later and no_aliases:
                try:
                    plain = _plain(node, 0)
                except _Unusual:
                    pass  # built below, the way that reports it
                else:
                    documents.append(Document(path, shown, index, plain, node=node))
                    index += 1
                    continue
            builder = _Builder(loader, no_aliases=no_aliases)
            try:
                data = builder.build(node, ())
            except _Refused as refused:
                builder.errors.append((refused.mark, refused.message))
                data = None
            problems.extend(
                Problem(shown, mark.line, mark.column, "", message)
                for mark, message in builder.errors
            )
            documents.append(
                Document(
                    path=path,
                    display=shown,
                    index=index,
                    data=data,
                    marks=builder.marks,
                    key_marks=builder.key_marks,
                )
            )
            index += 1
    except yaml.MarkedYAMLError as error:
        problems.append(_yaml_problem(error, shown, text))
    except yaml.YAMLError:  # the reader's errors carry no mark
        problems.append(_reader_problem(text, shown))
    finally:
        loader.dispose()
    if problems:
        raise ConfigError(problems)
    if not documents:
        raise ConfigError(Problem(shown, message="no YAML document (the file is empty)"))
    return documents


def _reader_problem(text: str, display: str) -> Problem:
    """The reader refuses control characters; find the first one ourselves for its position."""
    found = _NOT_PRINTABLE.search(text)
    if found is None:
        return Problem(display, message="invalid YAML: unreadable characters")
    before = text[: found.start()]
    line = before.count("\n") + 1
    column = found.start() - (before.rfind("\n") + 1) + 1
    code = f"U+{ord(found.group()):04X}"
    return Problem(display, line, column, "", f"control character {code} is not allowed in YAML")


def load_documents_many(paths: Sequence[Path], root: Path) -> tuple[list[Document], list[Problem]]:
    """Load every file, collecting problems across files instead of stopping at the first."""
    documents: list[Document] = []
    problems: list[Problem] = []
    with gc_paused():
        for path in paths:
            try:
                documents.extend(load_documents(path, display_path(path, root)))
            except ConfigError as error:
                problems.extend(error.problems)
    return documents, problems


def marks_of(node: yaml.Node) -> tuple[dict[JsonPath, Mark], dict[JsonPath, Mark]]:
    """The marks and key marks of a document loaded without them (no alias in it)."""
    builder = _Builder(None, no_aliases=True)
    builder.build(node, ())
    return builder.marks, builder.key_marks
