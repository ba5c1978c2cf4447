"""The config layers: the packaged defaults, `./xmtrade.yaml`, each `-c FILE`, then the
command line's dotted keys, merged and validated into one `AppConfig`, every problem one line
naming the file and the key."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from xmtrade.config.app import AppConfig, _origin_of
from xmtrade.config.checks import _refuse_unit_mistakes
from xmtrade.config.yaml_loader import read_yaml_mapping
from xmtrade.errors import ConfigError

if TYPE_CHECKING:
    from data_feeds.calendar import SessionCalendar

DEFAULT_CONFIG_NAME = "default.yaml"


def default_config_path() -> Path:
    """The packaged `configs/default.yaml`."""
    return Path(str(resources.files("configs").joinpath(DEFAULT_CONFIG_NAME)))


USER_CONFIG_NAME = "xmtrade.yaml"


def user_config_path(folder: Path | None = None) -> Path | None:
    """`./xmtrade.yaml` (made by `xmtrade init`) when the folder has one: the layer every
    command puts between the packaged defaults and its `-c` files."""
    candidate = folder / USER_CONFIG_NAME if folder else Path(USER_CONFIG_NAME)
    return candidate if candidate.is_file() else None


def changed_checkout_defaults(folder: Path | None = None) -> Path | None:
    """`configs/default.yaml` of an xmtrade checkout in `folder` when it differs from the
    packaged copy the program reads (an edit that `pip install .` has not picked up)."""
    here = folder or Path()
    checkout = here / "configs" / DEFAULT_CONFIG_NAME
    source = here / "xmtrade"
    if not checkout.is_file() or not (
        (source / "config" / "__init__.py").is_file() or (source / "config.py").is_file()
    ):
        return None
    packaged = default_config_path()
    try:
        if checkout.resolve() == packaged.resolve():
            return None  # an editable install reads the checkout itself
        if checkout.read_bytes() == packaged.read_bytes():
            return None
    except OSError:
        return None
    return checkout


def _check_keys(data: Mapping[str, Any], model: type[BaseModel], where: str, prefix: str) -> None:
    """Reject unknown keys with a 'did you mean' hint, naming the file that has them."""
    fields = model.model_fields
    for key, value in data.items():
        path = f"{prefix}{key}"
        if not isinstance(key, str) or key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.6)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
            expected = ", ".join(fields)
            raise ConfigError(where, path, f"unknown key (expected one of: {expected}){hint}")
        sub = _submodel(fields[key].annotation)
        if sub is not None and isinstance(value, Mapping):
            _check_keys(value, sub, where, f"{path}.")


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def merge_layers(
    layers: Sequence[tuple[str, Mapping[str, Any]]],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Deep-merge layers in order; return the merged mapping and which layer set each key path."""
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}

    def merge(into: dict[str, Any], src: Mapping[str, Any], where: str, prefix: str) -> None:
        for key, value in src.items():
            path = f"{prefix}{key}"
            if isinstance(value, Mapping) and isinstance(into.get(key), dict):
                merge(into[key], value, where, f"{path}.")
            else:
                into[key] = _copy(value)
                for known in [p for p in origin if p.startswith(f"{path}.")]:
                    del origin[known]
                origin[path] = where
                if isinstance(value, Mapping):
                    _record_origin(value, where, f"{path}.", origin)

    for where, data in layers:
        merge(merged, data, where, "")
    return merged, origin


def _record_origin(
    data: Mapping[str, Any], where: str, prefix: str, origin: dict[str, str]
) -> None:
    for key, value in data.items():
        origin[f"{prefix}{key}"] = where
        if isinstance(value, Mapping):
            _record_origin(value, where, f"{prefix}{key}.", origin)


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `a.b.c` in a nested mapping, creating the mappings on the way."""
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def load_config(
    files: Sequence[Path] = (),
    overrides: Mapping[str, Any] | None = None,
    overrides_source: str = "command line",
) -> AppConfig:
    """Load the packaged defaults, each file in order, then dotted-key overrides, and validate."""
    return ConfigLayers(files).build(overrides, overrides_source)


class ConfigLayers:
    """The packaged defaults and `files`, read and key-checked once, to build many configs
    that differ only in their dotted-key overrides (a parameter sweep builds hundreds):
    `build(overrides, source)` is `load_config(files, overrides, source)` without reading
    the files again."""

    def __init__(self, files: Sequence[Path] = ()) -> None:
        default = default_config_path()
        self.files = [Path(p) for p in files]
        self.layers: list[tuple[str, Mapping[str, Any]]] = [
            (str(default), read_yaml_mapping(default))
        ]
        for path in files:
            data = read_yaml_mapping(Path(path))
            _check_keys(data, AppConfig, str(path), "")
            self.layers.append((str(path), data))

    def build(
        self,
        overrides: Mapping[str, Any] | None = None,
        overrides_source: str = "command line",
    ) -> AppConfig:
        """The config of these layers with `overrides` (dotted keys) on top, validated."""
        layers = list(self.layers)
        if overrides:
            nested: dict[str, Any] = {}
            for dotted, value in overrides.items():
                set_dotted(nested, dotted, value)
            _check_keys(nested, AppConfig, overrides_source, "")
            layers.append((overrides_source, nested))
        merged, origin = merge_layers(layers)
        _resolve_paths(merged, origin)
        return validate_config(merged, origin, [where for where, _ in layers])


PATH_KEYS = ("fundamentals.file",)


def _resolve_paths(merged: dict[str, Any], origin: Mapping[str, str]) -> None:
    """Relative paths in a config file are relative to that file's folder."""
    for dotted in PATH_KEYS:
        node: Any = merged
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or not isinstance(node.get(parts[-1]), str):
            continue
        raw = Path(node[parts[-1]]).expanduser()
        source = origin.get(dotted, "")
        if not raw.is_absolute() and source.endswith((".yaml", ".yml")):
            raw = Path(source).parent / raw
        node[parts[-1]] = str(raw.absolute())


def validate_config(
    merged: Mapping[str, Any], origin: Mapping[str, str], layer_order: Sequence[str]
) -> AppConfig:
    """Build the model; turn the first validation error into a one-line `ConfigError`."""
    try:
        cfg = AppConfig.model_validate(merged)
        cfg._sources, cfg._layers = dict(origin), tuple(layer_order)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = [str(part) for part in err["loc"]]
        path = ".".join(loc)
        where = _origin_of(loc, origin, layer_order)
        got = err.get("input")
        got_text = "" if isinstance(got, Mapping) else f", got {_shown(got)}"
        message = err["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        expected = _bound_words(err) or _expected(err["type"], message)
        raise ConfigError(where, path or None, f"{expected}{got_text}") from None
    _refuse_unit_mistakes(cfg)
    return cfg


def _shown(value: Any) -> str:
    """A value as the error repeats it: a huge number as its magnitude, long text cut."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**15:
        digits = len(str(abs(value)))
        return f"{'-' if value < 0 else ''}{str(abs(value))[0]}e+{digits - 1} (an integer)"
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _bound_words(err: Any) -> str | None:
    """'expected at most 1,000' for a number over its upper bound."""
    words = {"less_than_equal": ("le", "at most"), "less_than": ("lt", "below")}
    if err["type"] not in words:
        return None
    name, phrase = words[err["type"]]
    limit = (err.get("ctx") or {}).get(name)
    if not isinstance(limit, int | float):
        return None
    return f"expected {phrase} {_number(limit)}"


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


# pydantic's words that name its own classes or types, in the user's words
_KIND_WORDS = {
    "model_type": "expected a mapping of keys (indented `key: value` lines)",
    "model_attributes_type": "expected a mapping of keys (indented `key: value` lines)",
    "dict_type": "expected a mapping of keys (indented `key: value` lines)",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "is_instance_of": "expected a value of another kind",
}


def _expected(kind: str, message: str) -> str:
    if kind == "missing":
        return "missing key (expected a value; the packaged default.yaml sets every key)"
    if kind in _KIND_WORDS:
        return _KIND_WORDS[kind]
    if message.startswith("Input should be "):
        return "expected " + message.removeprefix("Input should be ")
    lowered = message[0].lower() + message[1:] if message else message
    if kind.endswith("_parsing") or kind.endswith("_type"):
        return f"expected {lowered.removeprefix('input should be ')}"
    return lowered


def session_calendar(cfg: AppConfig) -> SessionCalendar:
    """The exchange calendar of `cfg`; an unknown calendar code is a one-line error naming
    the config file and `market.calendar`."""
    from data_feeds.calendar import SessionCalendar, UnknownCalendar

    try:
        return SessionCalendar(cfg.market.calendar, cfg.market.adhoc_closures)
    except UnknownCalendar as exc:
        raise ConfigError(
            cfg.source_of("market.calendar"), "market.calendar", f"{exc.message}, got {exc.code!r}"
        ) from None
