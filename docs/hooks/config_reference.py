"""The configuration reference, generated at every `mkdocs build` from the config models, so
it cannot drift from the code: each field's dotted key, type and bounds from the pydantic
models, its default from the packaged `configs/default.yaml` and its description from the
field's own `description` or else from the comments beside the key in `default.yaml`.

A page holding the line `<!-- config-reference -->` gets the tables in its place.
`tests/test_docs_site.py` checks that every model field is on the page."""

from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MARKER = "<!-- config-reference -->"
DEFAULTS = REPO / "configs" / "default.yaml"
KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?P<rest>.*)$")
NOT_HASHED = ("paper", "sweep", "backtest.initial_nav", "fundamentals.file")


@dataclass(frozen=True)
class Row:
    """One documented key."""

    key: str  # dotted; `[]` marks the items of a list, `<name>` the entries of a mapping
    kind: str
    bounds: str
    default: str
    description: str


def _model_of(annotation: Any) -> type[BaseModel] | None:
    return (
        annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    )


def _without_none(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) < len(get_args(annotation)):
            return (args[0] if len(args) == 1 else Union[tuple(args)]), True  # noqa: UP007
    return annotation, False


NAMES = {int: "integer", float: "number", bool: "true/false", str: "text", date: "date"}
NAMES[time] = 'time ("HH:MM")'


def _kind(annotation: Any) -> str:
    inner, nullable = _without_none(annotation)
    origin = get_origin(inner)
    if origin is Literal:
        text = "one of " + " | ".join(f"`{v}`" for v in get_args(inner))
    elif origin is tuple:
        item = get_args(inner)[0]
        model = _model_of(item)
        text = "list of " + ("entries (below)" if model else _kind(item))
    elif origin is dict:
        text = "mapping of name to entry (below)"
    elif _model_of(inner):
        text = "section"
    else:
        text = NAMES.get(inner, getattr(inner, "__name__", str(inner)))
    return f"{text}, or `null`" if nullable else text


def _bounds(field: Any) -> str:
    words = []
    for rule in field.metadata:
        for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            if getattr(rule, attr, None) is not None:
                words.append(f"{sign} {getattr(rule, attr)}")
        if getattr(rule, "min_length", None) is not None:
            words.append(f"at least {rule.min_length}")
    return ", ".join(words)


def yaml_comments(text: str) -> dict[str, str]:
    """The comments of `default.yaml` by dotted key: the block of comment lines just above
    a key, its comment on the same line and the comment lines aligned under it."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    above: list[str] = []
    current: tuple[str, int] | None = None  # the last key with a comment on its line
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment = stripped.lstrip("#").strip()
            column = line.index("#")
            if current is not None and column > current[1]:
                found[current[0]] = f"{found[current[0]]} {comment}"  # aligned under it
            else:
                current = None
                above.append(comment)
            continue
        match = KEY.match(line)
        if not match:
            current = None
            above = []
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match["key"]))
        key = ".".join(k for _, k in stack)
        inline = match["rest"].split(" #", 1)[1].strip() if " #" in match["rest"] else ""
        found[key] = " ".join([*above, inline]).strip()
        above = []
        current = (key, indent) if inline else None
    return found


def _default(value: Any) -> str:
    if value is None:
        return "`null`"
    if isinstance(value, list | dict):
        text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
        if len(text) > 60:
            what = "entries" if isinstance(value, list) else "keys"
            return f"{len(value)} {what} (see `default.yaml`)"
        return f"`{text}`"
    return f"`{yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}`"


def _lookup(data: Any, key: str) -> tuple[bool, Any]:
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return False, None
        data = data[part]
    return True, data


def reference_rows() -> list[Row]:
    """Every field of the whole config, in the models' order."""
    from xmtrade.config import AppConfig

    text = DEFAULTS.read_text()
    defaults = yaml.safe_load(text)
    comments = yaml_comments(text)
    rows: list[Row] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            key = f"{prefix}{name}"
            inner, _ = _without_none(field.annotation)
            has, value = _lookup(defaults, key)
            default = _default(value) if has and _model_of(inner) is None else ""
            described = field.description or comments.get(key, "")
            rows.append(Row(key, _kind(field.annotation), _bounds(field), default, described))
            sub = _model_of(inner)
            if sub is not None:
                walk(sub, f"{key}.")
            elif get_origin(inner) is tuple and _model_of(get_args(inner)[0]):
                walk(get_args(inner)[0], f"{key}[].")
            elif get_origin(inner) is dict and _model_of(get_args(inner)[1]):
                walk(get_args(inner)[1], f"{key}.<name>.")

    walk(AppConfig, "")
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def reference_markdown() -> str:
    """One table per top-level section."""
    out: list[str] = []
    section = None
    for row in reference_rows():
        top = row.key.split(".")[0].split("[")[0]
        if top != section:
            section = top
            hashed = "" if top not in NOT_HASHED else " (not part of the config hash)"
            out += ["", f"### `{top}`{hashed}", "", "| key | type | default | meaning |"]
            out.append("| --- | --- | --- | --- |")
            if row.key == top:
                continue
        note = " (not in the config hash)" if row.key in NOT_HASHED else ""
        kind, nullable = row.kind.removesuffix(", or `null`"), row.kind.endswith("`null`")
        kind = f"{kind}, {row.bounds}" if row.bounds else kind
        kind = f"{kind}, or `null`" if nullable else kind
        out.append(
            f"| `{row.key}` | {_cell(kind)} | {_cell(row.default)} "
            f"| {_cell(row.description)}{note} |"
        )
    return "\n".join(out).strip() + "\n"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """mkdocs hook: the generated tables in place of the marker."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, reference_markdown())
