"""The project's one YAML loader (configs, grids, every YAML file a user gives): plain
YAML only, bounded before anything is built, every failure one line naming the file, the
line and the column."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from xmtrade.errors import ConfigError

# Bounds of what the YAML loader reads, checked before anything is built: a config is a few
# levels deep and a few hundred values; a grid lists at most a few thousand.
MAX_YAML_BYTES = 10_000_000
MAX_YAML_DEPTH = 64
MAX_YAML_VALUES = 1_000_000  # values after every alias is expanded
# the tags a plain YAML value has; any other (!!binary, !!set, !!python/..., !custom) is refused
PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "timestamp", "seq", "map", "merge")
)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping, with one-line errors for every failure."""
    where = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise ConfigError(
                where, None, f"{size:,} bytes is too large (at most {MAX_YAML_BYTES:,})"
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(where, None, "file not found") from None
    except IsADirectoryError:
        raise ConfigError(where, None, "is a directory, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(where, None, f"cannot read: {exc}") from None
    data = load_yaml_text(text, where)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(where, None, f"expected a mapping of keys, got {type(data).__name__}")
    return data


def load_yaml_text(text: str, where: str) -> Any:
    """The plain YAML document in `text` (read from `where`), bounded: at most
    `MAX_YAML_DEPTH` levels of nesting and `MAX_YAML_VALUES` values once aliases are
    expanded, plain tags only, no key twice in a mapping; merge keys (`<<: *base`) work.
    Every failure is a one-line `ConfigError` naming the line and column."""
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(where, None, f"{len(text):,} characters is too large")
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_tree(node)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        if problem == "exceeded maximum nesting depth":  # libyaml's own bound, met first
            problem = f"nested deeper than {MAX_YAML_DEPTH} levels"
        raise ConfigError(where, None, f"invalid YAML at {at}: {problem}") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ConfigError(where, None, f"invalid value: {exc}") from None
    finally:
        getattr(loader, "dispose", lambda: None)()


def _refused(problem: str, node: yaml.Node) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(None, None, problem, node.start_mark)


def _check_tree(root: yaml.Node) -> None:
    """Refuse a non-plain tag, and a document whose aliases expand to more than
    `MAX_YAML_VALUES` values (or refer to themselves), before anything is constructed. Each
    node is visited once: a shared (aliased) node's expanded size is remembered."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes and not children_done:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        if not children_done:
            if node.tag not in PLAIN_TAGS:
                raise _refused(
                    f"the tag {node.tag.replace('tag:yaml.org,2002:', '!!')} is not allowed "
                    "(plain YAML only: numbers, text, dates, lists and mappings)",
                    node,
                )
            if key in open_nodes:
                raise _refused("an alias refers to the value that contains it", node)
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            if any(id(child) in open_nodes for child in children):
                raise _refused("an alias refers to the value that contains it", node)
            continue
        open_nodes.discard(key)
        sizes[key] = 1 + sum(sizes[id(child)] for child in children)
        if sizes[key] > MAX_YAML_VALUES:
            raise _refused(
                f"its aliases expand to more than {MAX_YAML_VALUES:,} values "
                "(write the values out, or a range)",
                node,
            )


try:
    from yaml._yaml import CParser
except ImportError:  # PyYAML without libyaml: the pure-Python scanner and parser
    _SafeBase: type = yaml.SafeLoader
else:

    class _FastSafeLoader(
        yaml.composer.Composer, CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
    ):
        """The safe loader with libyaml's scanner and parser (ten times faster than PyYAML's
        own) and PyYAML's composer, so that `_StrictLoader` bounds the nesting as it builds."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            yaml.composer.Composer.__init__(self)

    _SafeBase = _FastSafeLoader


class _StrictLoader(_SafeBase):
    """YAML's safe loader, bounded in depth; a key given twice in one mapping is an error,
    an impossible date is left as text (so that the config names its key)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested deeper than {MAX_YAML_DEPTH} levels",
                    event.start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _no_duplicate_keys(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *base`: the keys written here win over the merged ones
        key = loader.construct_object(key_node, deep=deep)
        try:
            new = key not in seen
        except TypeError:  # a list or mapping as a key
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be plain text or a number", key_node.start_mark
            ) from None
        if not new:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


def _date_or_text(loader: _StrictLoader, node: yaml.ScalarNode) -> Any:
    """A YAML date; an impossible one (2023-02-30) stays text, for the config's date field
    to refuse with its key."""
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicate_keys)
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _date_or_text)
# YAML 1.1 reads 1e6 (no dot) as text; 1.2 and every user read it as a number
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)
