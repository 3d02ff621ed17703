"""Read task YAML keeping node positions (for error lines), and dump it back.

Duplicate keys are rejected; positions are looked up only when an error needs a line.
Aliases may not expand a document by more than ``MAX_ALIAS_NODES`` nodes ("billion
laughs"), and integers are limited to ``MAX_INT_DIGITS`` digits, before anything is built.
"""

from __future__ import annotations

from typing import Any

import yaml

from stix.task.problems import Invalid, Path

MAX_ALIAS_NODES = 100_000
MAX_INT_DIGITS = 1000
_INT_TAG = "tag:yaml.org,2002:int"

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _StrictLoader(_BaseLoader):
    """Safe loader that refuses duplicate mapping keys."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                continue
            if duplicate:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int) -> None:
        super().__init__(key)
        self.key = key
        self.line = line


class YamlSyntaxError(Exception):
    """The text is not valid YAML (or has duplicate keys); carries a line when known."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class Document:
    """One parsed YAML document: its data and its node tree for line lookups."""

    __slots__ = ("data", "node")

    def __init__(self, data: Any, node: Any) -> None:
        self.data = data
        self.node = node

    def line_of(self, path: Path) -> int | None:
        """1-based line of the deepest node on ``path`` (key line for mapping entries)."""
        return line_of(self.node, path)


def read_documents(text: str) -> list[Document]:
    """Parse every document of ``text``; empty documents are skipped."""
    loader = _StrictLoader(text)
    docs: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            check_node(node)
            data = loader.construct_document(node)
            if data is None:
                continue
            docs.append(Document(data, node))
    except _DuplicateKey as exc:
        raise YamlSyntaxError(f"duplicate key {exc.key!r}", exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join((exc.problem or str(exc)).split())
        raise YamlSyntaxError(f"invalid YAML: {problem}", line) from None
    except yaml.YAMLError as exc:  # e.g. a control character the reader refuses
        raise YamlSyntaxError(f"invalid YAML: {' '.join(str(exc).split())}", None) from None
    except (ValueError, OverflowError, RecursionError) as exc:  # a value PyYAML cannot build
        raise YamlSyntaxError(f"invalid YAML value: {exc}", None) from None
    finally:
        loader.dispose()
    return docs


def read_one(text: str) -> Any:
    """The data of a single-document YAML (None when empty), with the same bounds."""
    docs = read_documents(text)
    if len(docs) > 1:
        raise YamlSyntaxError("expected one YAML document, found several", None)
    return docs[0].data if docs else None


def _children(node: Any) -> list[Any]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def check_node(root: Any) -> None:
    """Refuse alias expansion past ``MAX_ALIAS_NODES``, alias cycles and huge integers.

    Aliases share one node in the composed graph, so the expanded size is summed over
    distinct nodes (each visited once) rather than by walking the expansion.
    """
    unique: set[int] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) in unique:
            continue
        unique.add(id(node))
        if (
            isinstance(node, yaml.ScalarNode)
            and node.tag == _INT_TAG
            and len(node.value) > MAX_INT_DIGITS
        ):
            raise YamlSyntaxError(
                f"an integer of {len(node.value)} digits is too long", node.start_mark.line + 1
            )
        pending.extend(_children(node))
    bound = len(unique) + MAX_ALIAS_NODES
    size: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_nodes.discard(key)
            size[key] = 1 + sum(size[id(child)] for child in _children(node))
            if size[key] > bound:
                raise YamlSyntaxError(
                    f"YAML aliases expand to more than {MAX_ALIAS_NODES} extra nodes",
                    node.start_mark.line + 1,
                )
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise YamlSyntaxError("a YAML alias refers to itself", node.start_mark.line + 1)
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)


def line_of(node: Any, path: Path) -> int | None:
    """Walk ``node`` along ``path``; return the line of the last segment found."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = None
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                    found = (key_node, value_node)
                    break
            if found is None:
                return line
            line = found[0].start_mark.line + 1
            node = found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def dump_yaml(data: Any) -> str:
    """Dump a mapping, or a list of mappings as a multi-document YAML."""
    if isinstance(data, list):
        return yaml.dump_all(
            data, Dumper=_BaseDumper, sort_keys=False, default_flow_style=False, allow_unicode=True
        )
    return yaml.dump(
        data, Dumper=_BaseDumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )


__all__ = [
    "MAX_ALIAS_NODES",
    "Document",
    "Invalid",
    "YamlSyntaxError",
    "check_node",
    "dump_yaml",
    "line_of",
    "read_documents",
    "read_one",
]
