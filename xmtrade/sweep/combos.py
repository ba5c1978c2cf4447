"""A grid's combinations as configs, without validating a whole config per combination.

The base config (the packaged defaults and the `-c` layers) is validated once, and the
grid's fields once (the first combination goes through `ConfigLayers.build`: unknown keys,
types, the files named). A combination is then its field values applied to the base: only
the sections it touches are validated again, each distinct section once per sweep (a grid
over `signals.rsi.oversold` and `stop.lookback` validates one `signals` section per oversold
value and one `stop` section per lookback), and every untouched section is the base's own
object. The config is the one `ConfigLayers.build(combination)` gives (equal, the same
`config_hash`): sections are validated alone because no rule of the config spans two of
them. A combination the fast path cannot take (a value that is a mapping, the facts file)
or that fails validation goes through `build`, which names the grid file and the key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from xmtrade.config import PATH_KEYS, AppConfig, set_dotted

if TYPE_CHECKING:
    from xmtrade.config import ConfigLayers


class CombinationBuilder:
    """Configs of combinations (dotted field values) over one validated base."""

    def __init__(self, layers: ConfigLayers, source: str) -> None:
        self.layers = layers
        self.source = source
        self.base = layers.build()
        self._dumps: dict[str, dict[str, Any]] = {}
        self._sections: dict[tuple[str, Any], Any] = {}
        self._checked: set[tuple[str, ...]] = set()
        self._origins: dict[tuple[str, ...], dict[str, str]] = {}
        self._known: dict[str, dict[Any, Any]] = {}
        share_sections(self.base, self._known)  # a slow build shares the base's sections

    def build(self, combination: Mapping[str, Any]) -> AppConfig:
        """The config of `combination` (what `layers.build(combination, source)` gives)."""
        paths = tuple(combination)
        if paths not in self._checked or not self._fast(combination):
            self._checked.add(paths)  # the first one of these fields checks every key
            return self._slow(combination)
        by_section: dict[str, list[tuple[str, Any]]] = {}
        for dotted, value in combination.items():
            name, _, rest = dotted.partition(".")
            by_section.setdefault(name, []).append((rest, value))
        sections = {name: getattr(self.base, name) for name in type(self.base).model_fields}
        for name, values in by_section.items():
            section = self._section(name, values)
            if section is None:  # invalid: `build` raises the one-line error
                return self._slow(combination)
            sections[name] = section
        cfg = AppConfig.model_construct(_fields_set=self.base.model_fields_set, **sections)
        origin = self._origins.get(paths)
        if origin is None:  # which file set each key: the same for every combination
            origin = dict(self.base._sources)
            for dotted in combination:
                for known in [p for p in origin if p.startswith(f"{dotted}.")]:
                    del origin[known]
                origin[dotted] = self.source
            self._origins[paths] = origin
        cfg._sources = origin
        cfg._layers = (*self.base._layers, self.source)
        return cfg

    def _slow(self, combination: Mapping[str, Any]) -> AppConfig:
        cfg = self.layers.build(combination, overrides_source=self.source)
        return share_sections(cfg, self._known)

    def _fast(self, combination: Mapping[str, Any]) -> bool:
        return all(
            "." in dotted and dotted not in PATH_KEYS and not isinstance(value, Mapping)
            for dotted, value in combination.items()
        )

    def _section(self, name: str, values: list[tuple[str, Any]]) -> Any:
        key = (name, tuple((rest, _frozen(value)) for rest, value in values))
        found = self._sections.get(key)
        if found is not None:
            return found
        dump = self._dumps.get(name)
        if dump is None:
            dump = self._dumps[name] = getattr(self.base, name).model_dump()
        data = dict(dump)
        for rest, value in values:
            _copy_path(data, rest)  # the mappings on the way are copied, the rest shared
            set_dotted(data, rest, value)
        model = type(getattr(self.base, name))
        try:
            section = model.model_validate(data)
        except ValidationError:
            return None
        # the same object as an equal section built before (by either path)
        with contextlib.suppress(TypeError):
            section = self._known.setdefault(name, {}).setdefault(section, section)
        self._sections[key] = section
        return section


def share_sections(cfg: AppConfig, known: dict[str, dict[Any, Any]]) -> AppConfig:
    """`cfg` with each section that equals one of an earlier config the same object (a
    combination changes a few fields; a config is about 45 KB, so a big sweep would
    otherwise hold gigabytes of equal copies). The values are those validated by `build`."""
    sections: dict[str, Any] = {}
    for name in type(cfg).model_fields:
        section = getattr(cfg, name)
        pool = known.setdefault(name, {})
        try:
            section = pool.setdefault(section, section)
        except TypeError:  # a section holding a mapping is not hashable: compare
            section = next((v for v in pool.values() if v == section), section)
            pool.setdefault(id(section), section)
        sections[name] = section
    shared = type(cfg).model_construct(_fields_set=cfg.model_fields_set, **sections)
    shared._sources, shared._layers = cfg._sources, cfg._layers
    return shared


def _copy_path(data: dict[str, Any], dotted: str) -> None:
    node = data
    for part in dotted.split(".")[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            return
        node[part] = node = dict(child)


def _frozen(value: Any) -> Any:
    """A hashable stand-in for a field value (lists become tuples), typed so that 1, 1.0
    and True stay apart (each validates differently)."""
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_frozen(v) for v in value))
    return (type(value).__name__, value)


__all__ = ["CombinationBuilder", "share_sections"]
