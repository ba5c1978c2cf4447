"""Grid files: which config fields a sweep varies and how, expanded into combinations.

A grid file is a YAML mapping from dotted config paths to the values to try:

```yaml
signals.rsi.oversold: [25, 30, 35]          # a list of values
stop.lookback: {range: [10, 30, 5]}         # start, stop, step: 10, 15, 20, 25, 30
exits.max_holding_sessions: 126             # one value: pinned, not varied
entry.require: {values: [any, all]}         # a list spelled out (for list-valued fields)
```

Ranges include `stop` when the steps land on it (like numpy's `arange` plus the end point);
float ranges are computed in decimal, so `{range: [0.1, 0.3, 0.1]}` is 0.1, 0.2, 0.3.
Nested mappings work too (`signals: {rsi: {oversold: [25, 30]}}`).

Without `sample`, the combinations are the cartesian product of every field's values, in
file order (the last field varies fastest). With a top-level `sample: {count: N, seed: S}`,
N combinations are drawn at random, reproducibly from the seed; each field is then a
distribution:

```yaml
sample: {count: 50, seed: 7}
signals.rsi.oversold: {uniform: [20, 40]}   # a float, rounded to 6 decimals
signals.rsi.period: {randint: [10, 20]}     # an integer, both ends included
entry.require: {choice: [any, all]}         # one of the values (a list or range works too)
```

Duplicates drawn by chance are dropped, so fewer than N can come out (the sweep says so).
"""

from __future__ import annotations

import difflib
import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from xmtrade.config import read_yaml_mapping
from xmtrade.errors import ConfigError

SAMPLE_KEY = "sample"
SEARCH_KEYS = ("search", "trials", "seed")  # an optuna study (xmtrade/sweep/search.py)
LIST_SPECS = ("range", "values")
RANDOM_SPECS = ("uniform", "randint", "choice")
SPEC_KEYS = (*LIST_SPECS, *RANDOM_SPECS)
UNIFORM_DIGITS = 6
SEARCH_METHODS = ("tpe", "cmaes", "random", "grid")  # optuna samplers of xmtrade/sweep/search.py
_PRIMITIVE = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class Axis:
    """One field of the grid: its dotted path and how its values are chosen."""

    path: str
    kind: str  # "values", "uniform", "randint" or "choice"
    values: tuple[Any, ...]  # the candidates ("values", "choice") or the two bounds


@dataclass(frozen=True)
class Grid:
    """A grid file, read: its fields and every combination to run, in order."""

    source: str
    axes: tuple[Axis, ...]
    combinations: tuple[dict[str, Any], ...]
    sample_count: int | None  # the N asked for when sampling at random
    seed: int | None
    duplicates: int = 0  # combinations dropped because a list repeated a value
    search: str | None = None  # an optuna sampler (`search:`): combinations come from a study
    trials: int | None = None

    @property
    def varying(self) -> list[str]:
        """The dotted paths that take more than one value across the combinations."""
        return [
            a.path for a in self.axes if len({_hashable(c[a.path]) for c in self.combinations}) > 1
        ]

    @property
    def paths(self) -> list[str]:
        return [a.path for a in self.axes]


def load_grid(path: Path, max_combinations: int) -> Grid:
    """Read a grid file and expand it; every problem is a one-line `ConfigError`."""
    where = str(path)
    data = read_yaml_mapping(Path(path))
    return parse_grid(data, where, max_combinations)


def parse_grid(data: Mapping[str, Any], where: str, max_combinations: int) -> Grid:
    """Expand a grid mapping (as read from `where`) into its combinations."""
    body = dict(data)
    sample = body.pop(SAMPLE_KEY, None)
    search = {k: body.pop(k) for k in SEARCH_KEYS if k in body}
    axes = [_axis(p, spec, where, max_combinations) for p, spec in _flatten(body, where, "")]
    if not axes:
        raise ConfigError(where, None, "empty grid: name at least one config field to vary")
    if search:
        method, trials, seed = _check_search(search, sample, axes, where, max_combinations)
        return Grid(where, tuple(axes), (), None, seed, search=method, trials=trials)
    if sample is None:
        random_axes = [a.path for a in axes if a.kind in RANDOM_SPECS]
        if random_axes:
            raise ConfigError(
                where,
                random_axes[0],
                "a random distribution needs a top-level `sample: {count: N, seed: S}`",
            )
        listed = 1
        for axis in axes:
            listed *= len(axis.values)
        axes = [_distinct(a) for a in axes]  # [30, 30, 30] is one run, and one trial
        total = 1
        for axis in axes:
            total *= len(axis.values)
        if total > max_combinations:
            raise ConfigError(
                where,
                None,
                f"{total:,} combinations is more than sweep.max_combinations "
                f"({max_combinations:,}); narrow the grid or sample it "
                "(`sample: {count: N, seed: S}`)",
            )
        combos = tuple(
            dict(zip([a.path for a in axes], values, strict=True))
            for values in itertools.product(*[a.values for a in axes])
        )
        return Grid(where, tuple(axes), combos, None, None, listed - total)
    count, seed = _sample_spec(sample, where, max_combinations)
    rng = random.Random(seed)
    seen: set[tuple[Any, ...]] = set()
    drawn: list[dict[str, Any]] = []
    for _ in range(count):
        combo = {a.path: _draw(a, rng) for a in axes}
        key = tuple(_hashable(v) for v in combo.values())
        if key not in seen:
            seen.add(key)
            drawn.append(combo)
    return Grid(where, tuple(axes), tuple(drawn), count, seed)


def _flatten(node: Mapping[str, Any], where: str, prefix: str) -> list[tuple[str, Any]]:
    """(dotted path, spec) pairs; a nested mapping that is not a spec is a level of the path."""
    out: list[tuple[str, Any]] = []
    for key, value in node.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(where, f"{prefix}{key}", "expected a config field name")
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and not _is_spec(value):
            if not value:
                raise ConfigError(where, path, "empty mapping: no values to try")
            _check_misspelt_spec(value, where, path)
            out.extend(_flatten(value, where, f"{path}."))
        else:
            out.append((path, value))
    return out


def _check_misspelt_spec(value: Mapping[str, Any], where: str, path: str) -> None:
    """`{ramge: [1, 5]}` is a misspelt spec, not a config field named `ramge`."""
    if len(value) != 1:
        return
    key, args = next(iter(value.items()))
    close = difflib.get_close_matches(str(key), SPEC_KEYS, n=1, cutoff=0.7)
    if close and isinstance(args, list):
        raise ConfigError(
            where,
            path,
            f"unknown spec '{key}' (expected {', '.join(SPEC_KEYS)}); did you mean '{close[0]}'?",
        )


def _distinct(axis: Axis) -> Axis:
    """The axis with each value once, in first-seen order."""
    seen: dict[Any, Any] = {}
    for value in axis.values:
        seen.setdefault((isinstance(value, bool), _hashable(value)), value)
    return Axis(axis.path, axis.kind, tuple(seen.values()))


def _is_spec(value: Mapping[str, Any]) -> bool:
    return any(k in SPEC_KEYS for k in value)


def _axis(path: str, spec: Any, where: str, max_combinations: int) -> Axis:
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(where, path, "empty list: no values to try")
        return Axis(path, "values", tuple(spec))
    if not isinstance(spec, Mapping):
        return Axis(path, "values", (spec,))
    if len(spec) != 1:
        raise ConfigError(
            where,
            path,
            f"expected one of {', '.join(SPEC_KEYS)} as the only key, got {', '.join(spec)}",
        )
    kind, args = next(iter(spec.items()))
    if kind not in SPEC_KEYS:
        raise ConfigError(where, path, f"unknown spec '{kind}' (expected {', '.join(SPEC_KEYS)})")
    if kind == "range":
        return Axis(path, "values", _range(args, where, path, max_combinations))
    if kind in ("values", "choice"):
        if not isinstance(args, list) or not args:
            raise ConfigError(where, f"{path}.{kind}", "expected a non-empty list of values")
        return Axis(path, kind, tuple(args))
    low, high = _bounds(args, where, f"{path}.{kind}", integers=kind == "randint")
    return Axis(path, kind, (low, high))


def _range(args: Any, where: str, path: str, max_combinations: int) -> tuple[Any, ...]:
    """The values of a range, counted before any is made: a tiny step or a huge span is
    refused by sweep.max_combinations, never built."""
    field = f"{path}.range"
    if not isinstance(args, list) or len(args) not in (2, 3) or not all(map(_is_number, args)):
        raise ConfigError(where, field, "expected [start, stop] or [start, stop, step] numbers")
    if not all(math.isfinite(a) for a in args):
        raise ConfigError(where, field, f"expected finite numbers, got {args}")
    start, stop = args[0], args[1]
    step = args[2] if len(args) == 3 else 1
    if step <= 0:
        raise ConfigError(where, field, f"step must be positive, got {step}")
    if stop < start:
        raise ConfigError(where, field, f"stop ({stop}) is below start ({start})")
    integers = all(isinstance(a, int) for a in (start, stop, step))
    first, last, by = (Decimal(str(a)) for a in (start, stop, step))
    count = int((last - first) / by) + 1
    if count > max_combinations:
        raise ConfigError(
            where,
            field,
            f"{count:,} values is more than sweep.max_combinations ({max_combinations:,}); "
            "use a larger step or a shorter span",
        )
    values = [first + n * by for n in range(count)]
    if integers:
        return tuple(int(v) for v in values)
    return tuple(float(v) for v in values)


def _bounds(args: Any, where: str, field: str, integers: bool) -> tuple[Any, Any]:
    kind = "integers" if integers else "numbers"
    ok = isinstance(args, list) and len(args) == 2 and all(map(_is_number, args))
    if ok and integers:
        ok = all(isinstance(a, int) for a in args)
    if not ok:
        raise ConfigError(where, field, f"expected [low, high], two {kind}")
    low, high = args
    if high < low:
        raise ConfigError(where, field, f"high ({high}) is below low ({low})")
    return low, high


def _sample_spec(sample: Any, where: str, max_combinations: int) -> tuple[int, int]:
    if not isinstance(sample, Mapping) or set(sample) != {"count", "seed"}:
        raise ConfigError(where, SAMPLE_KEY, "expected {count: N, seed: S}")
    count, seed = sample["count"], sample["seed"]
    for name, value in (("count", count), ("seed", seed)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(
                where, f"{SAMPLE_KEY}.{name}", f"expected a whole number, got {value!r}"
            )
    if count < 1:
        raise ConfigError(where, f"{SAMPLE_KEY}.count", "expected at least 1 combination")
    if count > max_combinations:
        raise ConfigError(
            where,
            f"{SAMPLE_KEY}.count",
            f"{count:,} is more than sweep.max_combinations ({max_combinations:,})",
        )
    return count, seed


def _draw(axis: Axis, rng: random.Random) -> Any:
    if axis.kind == "uniform":
        low, high = axis.values
        return round(rng.uniform(float(low), float(high)), UNIFORM_DIGITS)
    if axis.kind == "randint":
        low, high = axis.values
        return rng.randint(low, high)
    return axis.values[rng.randrange(len(axis.values))]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def nest(combo: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys as nested mappings (the shape of a config overlay file)."""
    out: dict[str, Any] = {}
    for dotted, value in combo.items():
        node = out
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def describe(combo: Mapping[str, Any], paths: Sequence[str] | None = None) -> str:
    """A short `path=value, …` text of a combination."""
    keys = paths if paths is not None else list(combo)
    return ", ".join(f"{k}={combo[k]}" for k in keys)


def _check_search(
    spec: Mapping[str, Any],
    sample: Any,
    axes: Sequence[Axis],
    where: str,
    max_combinations: int,
) -> tuple[str, int, int]:
    """(method, trials, seed) of a grid file's search keys, or a one-line error."""
    method = spec.get("search")
    if method not in SEARCH_METHODS:
        raise ConfigError(
            where, "search", f"expected one of {', '.join(SEARCH_METHODS)}, got {method}"
        )
    if sample is not None:
        raise ConfigError(where, "sample", "a search draws its own trials: drop `sample`")
    trials = spec.get("trials")
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        raise ConfigError(where, "trials", f"expected a whole number of trials >= 1, got {trials}")
    if trials > max_combinations:
        raise ConfigError(
            where,
            "trials",
            f"{trials:,} trials is more than sweep.max_combinations ({max_combinations:,})",
        )
    seed = spec.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(where, "seed", f"expected a whole number, got {seed}")
    for axis in axes:
        if method == "grid" and axis.kind in ("uniform", "randint"):
            raise ConfigError(
                where, axis.path, "search: grid takes lists and ranges only (no uniform/randint)"
            )
        if axis.kind in ("values", "choice"):
            bad = [v for v in axis.values if not isinstance(v, _PRIMITIVE)]
            if bad:
                raise ConfigError(
                    where,
                    axis.path,
                    f"a search tries numbers, text, true/false or null; got {bad[0]}",
                )
    return str(method), trials, seed
