"""What a sweep leaves in its folder: results.csv (written as runs finish, then ranked),
best.yaml (the winner as a config overlay for `-c`), heatmap.png, report.html and
sweep.json."""

from __future__ import annotations

import csv
import json
import math
import os
import shlex
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

import yaml

from xmtrade.errors import ConfigError
from xmtrade.sweep.grid import nest
from xmtrade.sweep.runner import Row, status
from xmtrade.sweep.work import METRICS

SWEEP_MARKER = "sweep.json"
KNOWN_FILES = (
    "results.csv",
    "best.yaml",
    "heatmap.png",
    "report.html",
    "plotly.min.js",
    SWEEP_MARKER,
)


def check_folder(out: Path) -> None:
    """`out` may take the outputs only when it is absent or an empty folder: an earlier run
    or anything else already there is a one-line error (nothing in it is ever deleted)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError("--out", None, f"{out} is a file, expected a folder")
    if any(out.iterdir()):
        from xmtrade.sweep.resume import occupied

        why = occupied(out) or f"{out} exists; choose a new folder or remove it"
        raise ConfigError("--out", None, why)


def prepare_folder(out: Path) -> Path:
    """An empty folder for the outputs: a new one, or an existing empty one."""
    check_folder(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError("--out", None, f"cannot create {out}: {exc.strerror}") from None
    return out


def reserve_folder(parent: Path, name: str) -> Path:
    """A new folder `parent/name` (or `name-2`, `name-3`… when taken), created atomically so
    two runs started in the same second never share it."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError("--out", None, f"cannot create {parent}: {exc.strerror}") from None
    n = 1
    while True:
        candidate = parent / (name if n == 1 else f"{name}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            n += 1
            continue
        except OSError as exc:
            raise ConfigError("--out", None, f"cannot create {candidate}: {exc.strerror}") from None
        return candidate


def cell(value: Any) -> Any:
    """A value as a CSV cell: lists and mappings as JSON, None as empty."""
    if value is None:
        return ""
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=str)
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return value


def columns(paths: Sequence[str]) -> list[str]:
    """The results table's columns."""
    return ["rank", "combination", "status", *paths, *METRICS, "config_hash", "seconds", "error"]


def row_cells(
    row: Row, paths: Sequence[str], metric: str, min_trades: int, rank: int | None
) -> list[Any]:
    metrics = row.metrics or {}
    return [
        "" if rank is None else rank,
        row.index + 1,
        status(row, metric, min_trades),
        *(cell(row.params.get(p)) for p in paths),
        *(cell(metrics.get(m)) for m in METRICS),
        row.config_hash or "",
        round(row.seconds, 4),
        row.error or "",
    ]


class ResultsLog:
    """results.csv written row by row as runs finish (so an interrupted sweep keeps them),
    then rewritten ranked at the end."""

    def __init__(self, path: Path, paths: Sequence[str], metric: str, min_trades: int) -> None:
        self.path = path
        self.paths = list(paths)
        self.metric = metric
        self.min_trades = min_trades
        self._file: IO[str] | None = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(columns(self.paths))
        self._file.flush()

    def add(self, row: Row) -> None:
        if self._file is None:
            return
        self._writer.writerow(row_cells(row, self.paths, self.metric, self.min_trades, None))
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def write_ranked(self, ranked: Sequence[Row]) -> None:
        """Replace the log with the ranked table (atomically)."""
        self.close()
        write_table(self.path, ranked, self.paths, self.metric, self.min_trades)


def write_table(
    path: Path, ranked: Sequence[Row], paths: Sequence[str], metric: str, min_trades: int
) -> None:
    """A ranked results table, written to a temporary file and renamed into place."""
    staging = path.with_name(f".{path.name}.tmp")
    with staging.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns(paths))
        for n, row in enumerate(ranked, start=1):
            writer.writerow(row_cells(row, paths, metric, min_trades, n))
    os.replace(staging, path)


def overlay_text(
    best: Row,
    metric: str,
    base_files: Sequence[str],
    grid_source: str,
    window: Mapping[str, date | None] | None = None,
    path: Path | None = None,
    data_dir: Path | None = None,
) -> str:
    """best.yaml (written at `path`): the winning combination as a config overlay (its grid
    fields only), with how it was found and the command that reproduces its row, runnable
    from any folder (every file by its absolute path, the sweep's --data-dir when given)."""
    overlay: dict[str, Any] = nest(best.params)
    value = best.value(metric)
    shown = "n/a" if value is None else f"{value:.6g}"
    trades = best.metrics.get("n_trades") if best.metrics else 0
    files = [str(Path(f).resolve()) for f in base_files]
    files.append(str(path.resolve()) if path is not None else "best.yaml")
    command = ["xmtrade backtest"]
    if data_dir is not None:
        command.append(f"--data-dir {shlex.quote(str(data_dir.resolve()))}")
    command += [f"-c {shlex.quote(f)}" for f in files]
    for option, day in (window or {}).items():
        if day is not None:
            command.append(f"--{option} {day.isoformat()}")
    header = [
        f"# Best combination of the sweep over {grid_source}",
        f"# by {metric} = {shown} ({trades} closed trades), config hash {best.config_hash}.",
        "# A config overlay: layer it last. This reproduces the sweep's row:",
        f"#   {' '.join(command)}",
    ]
    body = yaml.safe_dump(overlay, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return "\n".join(header) + "\n" + body


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """JSON with dates as ISO text, written atomically."""
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(json.dumps(data, indent=2, default=_json_default) + "\n", encoding="utf-8")
    os.replace(staging, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def plot_heatmap(
    path: Path,
    rows: Sequence[Row],
    x: str,
    y: str,
    metric: str,
    min_trades: int,
    best: Row | None = None,
    default: Mapping[str, Any] | None = None,
) -> None:
    """The metric over the two varying parameters, colours centred on 0 (red below, green
    above); cells that may not win are hatched, the winner's value starred, the default ringed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    from xmtrade.sweep.work import LOWER_IS_BETTER

    xs = _axis_values(rows, x)
    ys = _axis_values(rows, y)
    grid = [[math.nan] * len(xs) for _ in ys]
    eligible = [[False] * len(xs) for _ in ys]
    for row in rows:
        value = row.value(metric)
        if value is None:
            continue
        i, j = ys.index(_key(row.params[y])), xs.index(_key(row.params[x]))
        grid[i][j] = value
        eligible[i][j] = status(row, metric, min_trades) == "ok"
    known = [abs(v) for line in grid for v in line if not math.isnan(v)]
    span = max(known) if known and max(known) > 0 else 1.0
    size = (max(6.5, 3.5 + 0.9 * len(xs)), max(3.8, 2.0 + 0.6 * len(ys)))
    fig, ax = plt.subplots(figsize=size, dpi=110)
    cmap = "RdYlGn_r" if metric in LOWER_IS_BETTER else "RdYlGn"
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-span, vmax=span)
    image = ax.imshow(grid, cmap=cmap, norm=norm, aspect="auto", origin="lower")
    fig.colorbar(image, ax=ax, label=f"{metric} (centred on 0)")
    ax.set_xticks(range(len(xs)), [str(v) for v in xs], rotation=45, ha="right")
    ax.set_yticks(range(len(ys)), [str(v) for v in ys])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    winner = (
        (xs.index(_key(best.params[x])), ys.index(_key(best.params[y])))
        if best is not None
        else (-1, -1)
    )
    for i in range(len(ys)):
        for j in range(len(xs)):
            value = grid[i][j]
            if math.isnan(value):
                continue
            starred = best is not None and (j, i) == winner
            ax.text(j + (0.1 if starred else 0), i, f"{value:.2f}", ha="center", va="center",
                    fontsize=7)  # fmt: skip
            if not eligible[i][j]:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", lw=0))
    handles = []
    if best is not None:  # the star beside the winner's value, not over it
        (star,) = ax.plot(
            winner[0] - 0.3,
            winner[1],
            marker="*",
            ms=9,
            mfc="black",
            mec="black",
            mew=1,
            ls="none",
            label="winner",
        )
        handles.append(star)
    if default is not None and _key(default.get(x)) in xs and _key(default.get(y)) in ys:
        (ring,) = ax.plot(
            xs.index(_key(default[x])),
            ys.index(_key(default[y])),
            marker="o",
            ms=24,
            mfc="none",
            mec="#1d4ed8",
            mew=2,
            ls="none",
            label="default config",
        )
        handles.append(ring)
    if handles:
        ax.legend(
            handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, frameon=False
        )
    ax.set_title(
        f"{metric} by {y} and {x}\n(hatched: fewer than {min_trades} closed trades)",
        fontsize=10,
        pad=28 if handles else 6,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _key(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list | dict) else value


def _axis_values(rows: Sequence[Row], path: str) -> list[Any]:
    values = {_key(r.params[path]) for r in rows}
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)
