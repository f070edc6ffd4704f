"""A pipeline file's text → a plain document (dicts, lists, scalars), strictly.

Plain `yaml.safe_load` and `json.loads` keep the last of two equal keys, so a second
`table:` silently replaces the first; and YAML aliases let a few hundred bytes stand for
billions of nodes that only blow up later, when a run walks them. Here a duplicate key is an
error naming its line, and aliases may stand for a bounded number of nodes in all. The line
of any key can be found again (`key_line`), so later errors (an unknown key) can name it too.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_FILE_BYTES = 4 << 20  # a pipeline file is a few KB; beyond this it is not one
MAX_ALIAS_NODES = 10_000  # nodes that aliases may repeat, summed over the file


class DocumentError(ValueError):
    """The file cannot be read as a pipeline document; `line` (1-based) and `key` when known."""

    def __init__(self, message: str, line: int | None = None, key: str | None = None):
        super().__init__(message)
        self.line, self.key = line, key


class StrictSafeLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys and alias expansion beyond MAX_ALIAS_NODES."""

    def __init__(self, stream):
        super().__init__(stream)
        self._alias_nodes_left = MAX_ALIAS_NODES
        self._expanded_sizes: dict[int, int | None] = {}
        self._open_anchors: list[str] = []

    def compose_node(self, parent, index):
        event = self.peek_event()
        if not isinstance(event, yaml.AliasEvent):
            self._open_anchors.append(event.anchor)
            try:
                return super().compose_node(parent, index)
            finally:
                self._open_anchors.pop()
        mark = event.start_mark
        if event.anchor in self._open_anchors:
            raise DocumentError(f"line {mark.line + 1}: alias *{event.anchor} refers to a node that contains it",
                                mark.line + 1)
        node = super().compose_node(parent, index)
        self._alias_nodes_left -= _expanded_size(node, self._expanded_sizes, mark)
        if self._alias_nodes_left < 0:
            raise DocumentError(f"line {mark.line + 1}: aliases expand to more than {MAX_ALIAS_NODES} values; "
                                f"write the values out instead", mark.line + 1)
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, MappingNode):
            _refuse_duplicate_keys(self, node)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: Node, sizes: dict[int, int | None], mark) -> int:
    """Nodes a node stands for once every alias inside it is written out (memoised per node)."""
    known = sizes.get(id(node), 0)
    if known is None:
        raise DocumentError(f"line {mark.line + 1}: an alias refers to a node that contains it", mark.line + 1)
    if known:
        return known
    sizes[id(node)] = None  # in progress: meeting it again means a cycle
    if isinstance(node, SequenceNode):
        size = 1 + sum(_expanded_size(child, sizes, mark) for child in node.value)
    elif isinstance(node, MappingNode):
        size = 1 + sum(_expanded_size(k, sizes, mark) + _expanded_size(v, sizes, mark) for k, v in node.value)
    else:
        size = 1
    sizes[id(node)] = size
    return size


def _refuse_duplicate_keys(loader: yaml.SafeLoader, node: MappingNode) -> None:
    first_line: dict[object, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *base` merges are meant to be overridden
        key = loader.construct_object(key_node, deep=True)
        try:
            seen = first_line.get(key)
        except TypeError:
            continue  # an unhashable key: SafeLoader reports it
        line = key_node.start_mark.line + 1
        if seen is not None:
            raise DocumentError(f"line {line}: key {key!r} appears twice in one mapping (first on line {seen})",
                                line, str(key))
        first_line[key] = line


def _refuse_duplicate_json_keys(pairs: list[tuple[str, object]]) -> dict:
    document: dict = {}
    for key, value in pairs:
        if key in document:
            raise DocumentError(f"key {key!r} appears twice in one object", None, key)
        document[key] = value
    return document


def parse_yaml(text: str) -> object:
    try:
        return yaml.load(text, Loader=StrictSafeLoader)  # noqa: S506 - a SafeLoader subclass
    except DocumentError:
        raise
    except yaml.YAMLError as error:
        raise DocumentError(f"not valid YAML: {error}", _line(error)) from error
    except RecursionError as error:
        raise DocumentError("not valid YAML: nested too deeply") from error
    except (ValueError, OverflowError) as error:  # a scalar PyYAML cannot build, e.g. `2023-02-30`
        raise DocumentError(f"not valid YAML: {error}") from error


def parse_json(text: str) -> object:
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicate_json_keys)
    except DocumentError as error:
        line = _json_duplicate_line(text, error.key)
        raise DocumentError(f"line {line}: {error}" if line else str(error), line, error.key) from None
    except json.JSONDecodeError as error:
        raise DocumentError(f"not valid JSON: {error}", error.lineno) from error
    except RecursionError as error:
        raise DocumentError("not valid JSON: nested too deeply") from error


def _json_duplicate_line(text: str, key: str | None) -> int | None:
    """The duplicate's line: JSON's decoder gives no positions, YAML's composer does (JSON is YAML)."""
    try:
        parse_yaml(text)
    except DocumentError as error:
        return error.line if error.key == key else None
    return None


def _line(error: yaml.YAMLError) -> int | None:
    mark = getattr(error, "problem_mark", None)
    return mark.line + 1 if mark is not None else None


def read_document(path: Path) -> object:
    """The file's document; DocumentError says why it cannot be one. OSError passes through."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise DocumentError(f"the file is larger than {MAX_FILE_BYTES >> 20} MiB; a pipeline file is a few KB")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DocumentError(f"not UTF-8 text: {error}") from error
    return parse_json(text) if path.suffix == ".json" else parse_yaml(text)


def key_line(text: str, path: list) -> int | None:
    """The 1-based line of the key at `path` (mapping keys and list indexes from the root), or None.

    JSON is read as YAML here, as for duplicate keys: its decoder keeps no positions.
    """
    try:
        node = yaml.compose(text, Loader=StrictSafeLoader)  # noqa: S506 - a SafeLoader subclass
    except (DocumentError, yaml.YAMLError, RecursionError, ValueError, OverflowError):
        return None
    line = None
    for item in path:
        if isinstance(node, MappingNode):
            entry = next(((k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == str(item)), None)
            if entry is None:
                return None
            line, node = entry[0].start_mark.line + 1, entry[1]
        elif isinstance(node, SequenceNode) and isinstance(item, int) and 0 <= item < len(node.value):
            node = node.value[item]
        else:
            return None
    return line
