"""`xmtrade compare`: run folders side by side — their figures, the config fields that differ,
and the equity curves overlaid — in the terminal and as compare.html."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from xmtrade.config import load_yaml_text
from xmtrade.errors import ConfigError
from xmtrade.reports.page import esc, figure_div, page, section, table_html, write_page
from xmtrade.reports.terminal import PERCENT_METRICS
from xmtrade.reports.terminal import metric as fmt_metric

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from rich.table import Table

GENERATOR = "xmtrade compare"
SHORT_VALUE = 40  # characters of a config value in the terminal

# (label, how to read it from summary.json, format kind)
ROWS: tuple[tuple[str, tuple[str | int, ...], str], ...] = (
    ("total return", ("total_return",), "total_return"),
    ("CAGR", ("cagr",), "cagr"),
    ("volatility", ("annual_volatility",), "annual_volatility"),
    ("Sharpe", ("sharpe",), "sharpe"),
    ("Sortino", ("sortino",), "sortino"),
    ("max drawdown", ("max_drawdown",), "max_drawdown"),
    ("Calmar", ("calmar",), "calmar"),
    ("closed trades", ("n_trades",), "n_trades"),
    ("win rate", ("win_rate",), "win_rate"),
    ("profit factor", ("profit_factor",), "profit_factor"),
    ("expectancy", ("statistics", "trades", "expectancy"), "expectancy"),
    ("average weight", ("statistics", "weight", "average"), "average_weight"),
    ("time in market", ("exposure",), "exposure"),
    ("longest drawdown, days", ("statistics", "drawdowns", "longest", 0, "days"), "drawdown_days"),
    ("fees paid", ("fees_paid", "total"), "fees_total"),
    ("final NAV", ("final_nav",), "final_nav"),
    ("buy and hold return", ("benchmark_total_return",), "benchmark_total_return"),
)


@dataclass(frozen=True)
class Run:
    """One run folder, read."""

    folder: Path
    label: str
    summary: dict[str, Any]
    config: dict[str, Any]
    equity: pd.DataFrame


def read_run(folder: Path) -> Run:
    """A run folder's summary.json, config.yaml and equity.csv (one-line errors when it is not
    a run folder)."""
    if not folder.is_dir():
        raise ConfigError("compare", None, f"{folder} is not a folder")
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        raise ConfigError(
            "compare", None, f"{folder} has no summary.json: not an xmtrade run folder"
        )
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        config_path = folder / "config.yaml"
        config = (
            load_yaml_text(config_path.read_text(encoding="utf-8"), str(config_path))
            if config_path.is_file()
            else {}
        )
        equity = pd.read_csv(folder / "equity.csv", index_col="date", parse_dates=["date"])
    except FileNotFoundError as exc:
        raise ConfigError("compare", None, f"{folder}: missing {Path(exc.filename).name}") from None
    except (ValueError, yaml.YAMLError, KeyError) as exc:
        raise ConfigError("compare", None, f"{folder}: unreadable run files ({exc})") from None
    if not isinstance(summary, dict) or "nav" not in equity.columns:
        raise ConfigError("compare", None, f"{folder}: summary.json or equity.csv is not a run's")
    return Run(folder, folder.name, summary, config or {}, equity)


def read_runs(folders: Sequence[Path]) -> list[Run]:
    """Every folder read, each labelled by its name (with its parent's when names repeat)."""
    runs = [read_run(f) for f in folders]
    names = [r.label for r in runs]
    out = []
    for n, run in enumerate(runs):
        label = run.label
        if names.count(label) > 1:
            label = f"{run.folder.parent.name}/{label}"
        out.append(Run(run.folder, f"{n + 1}: {label}", run.summary, run.config, run.equity))
    return out


def _dig(data: Any, path: Sequence[Any]) -> Any:
    for part in path:
        if isinstance(part, int):
            if not isinstance(data, list) or len(data) <= part:
                return None
            data = data[part]
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        flat: dict[str, Any] = {}
        for key, value in node.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): node}


def config_differences(runs: Sequence[Run]) -> list[tuple[str, list[Any]]]:
    """The config fields whose values are not the same in every run."""
    flats = [_flatten(r.config) for r in runs]
    keys = sorted(set().union(*flats))
    missing = object()
    diffs = []
    for key in keys:
        values = [f.get(key, missing) for f in flats]
        if any(json.dumps(v, default=str) != json.dumps(values[0], default=str) for v in values):
            diffs.append((key, ["(absent)" if v is missing else v for v in values]))
    return diffs


def metric_rows(runs: Sequence[Run]) -> list[list[str]]:
    """Each figure across the runs, in the one number format, with the change from the first."""
    rows = []
    for label, path, kind in ROWS:
        values = [_dig(r.summary, path) for r in runs]
        cells = [fmt_metric(kind, v) for v in values]
        first = values[0]
        change = []
        for v in values[1:]:
            if isinstance(first, int | float) and isinstance(v, int | float):
                change.append(_change(kind, v - first))
            else:
                change.append("")
        rows.append([label, *cells, *change])
    return rows


def _change(kind: str, delta: float) -> str:
    """A difference: percentage points for percentages, signed in the figure's format."""
    if not delta:
        return "same"
    if kind in PERCENT_METRICS:
        return f"{delta * 100:+.2f} pp"
    return ("+" if delta > 0 else "") + fmt_metric(kind, delta)


def _short(value: Any) -> str:
    text = str(value)
    if len(text) <= SHORT_VALUE:
        return text
    if isinstance(value, list):
        return f"[{len(value)} items, see compare.html]"
    return text[: SHORT_VALUE - 1] + "…"


def change_columns(runs: Sequence[Run]) -> list[str]:
    return [f"{n + 2} - 1" for n in range(len(runs) - 1)]


def terminal_tables(runs: Sequence[Run]) -> list[Table]:
    """The figures table and the config differences table."""
    from rich import box
    from rich.table import Table

    figures = Table(title="figures", box=box.SIMPLE_HEAD, title_justify="left")
    figures.add_column("")
    for run in runs:
        figures.add_column(run.label, justify="right")
    for name in change_columns(runs):
        figures.add_column(name, justify="right", style="cyan")
    period = [f"{r.summary.get('start')} .. {r.summary.get('end')}" for r in runs]
    figures.add_row("period", *period, *([""] * (len(runs) - 1)))
    for row in metric_rows(runs):
        figures.add_row(*row)
    figures.add_row(
        "config hash",
        *(str(r.summary.get("config_hash", ""))[:12] for r in runs),
        *([""] * (len(runs) - 1)),
    )
    diffs = Table(title="config fields that differ", box=box.SIMPLE_HEAD, title_justify="left")
    diffs.add_column("field")
    for run in runs:
        diffs.add_column(run.label, justify="right")
    found = config_differences(runs)
    for key, values in found:
        diffs.add_row(key, *(_short(v) for v in values))
    if not found:
        diffs.add_row("(none: the same config)", *([""] * len(runs)))
    return [figures, diffs]


def equity_figure(runs: Sequence[Run]) -> go.Figure:
    """Every run's NAV rebased to 100 on one axis, with a log switch."""
    import plotly.graph_objects as go

    from xmtrade.reports.page import LOG_SWITCH

    fig = go.Figure()
    for run in runs:
        initial = float(run.summary.get("initial_nav") or run.equity["nav"].iloc[0])
        fig.add_trace(
            go.Scatter(
                mode="lines",
                x=run.equity.index,
                y=100 * run.equity["nav"] / initial,
                name=run.label,
                line={"width": 1.4},
            )
        )
    fig.update_layout(
        yaxis={"title": "growth of 100", "type": "linear"},
        hovermode="x unified",
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0.14},
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
        updatemenus=LOG_SWITCH,
    )
    return fig


def underwater_figure(runs: Sequence[Run]) -> go.Figure:
    """Every run's drawdown on one axis."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for run in runs:
        nav = run.equity["nav"]
        fig.add_trace(
            go.Scatter(mode="lines", x=nav.index, y=(nav / nav.cummax() - 1) * 100, name=run.label)
        )
    fig.update_layout(
        yaxis={"title": "below the peak, %"},
        hovermode="x unified",
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        margin={"l": 60, "r": 20, "t": 40, "b": 40},
    )
    return fig


def compare_page(runs: Sequence[Run]) -> str:
    """The whole compare.html."""
    labels = [r.label for r in runs]
    folders = table_html(
        ["run", "folder", "config hash", "period"],
        [
            [
                r.label,
                str(r.folder),
                r.summary.get("config_hash", ""),
                f"{r.summary.get('start')} .. {r.summary.get('end')}",
            ]
            for r in runs
        ],
        text_columns=[0, 1],
    )
    figures = table_html(["", *labels, *change_columns(runs)], metric_rows(runs), text_columns=[0])
    diffs = config_differences(runs)
    diff_table = (
        table_html(
            ["field", *labels],
            [[key, *(json.dumps(v, default=str) for v in values)] for key, values in diffs],
            text_columns=range(len(runs) + 1),
        )
        if diffs
        else '<p class="note">none: every run has the same config</p>'
    )
    body = [
        section("runs", folders),
        section(
            "equity, one axis, growth of 100",
            figure_div(equity_figure(runs), "compare-equity-plot", 440),
        ),
        section("underwater", figure_div(underwater_figure(runs), "compare-underwater-plot", 300)),
        section("figures", figures),
        section("config fields that differ", diff_table),
    ]
    first = runs[0].summary
    title = f"Compare {len(runs)} runs"
    subtitle = f"{first.get('symbol', '')}; changes against run 1 ({esc(runs[0].folder.name)})"
    text = page(title, subtitle, "".join(body))
    return text.replace("<head>", f'<head><meta name="generator" content="{GENERATOR}">', 1)


def write_compare(path: Path, runs: Sequence[Run]) -> None:
    """Write compare.html; an existing file is replaced only when compare wrote it."""
    if path.is_dir():
        raise ConfigError("--out", None, f"{path} is a folder, expected an .html file")
    if path.exists():
        head = path.read_text(encoding="utf-8", errors="replace")[:400]
        if GENERATOR not in head:
            raise ConfigError(
                "--out", None, f"{path} exists and was not written by xmtrade compare"
            )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError("--out", None, f"cannot create {path.parent}: {exc.strerror}") from None
    write_page(path, compare_page(runs))
