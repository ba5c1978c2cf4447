"""report.html of a sweep: the ranked table, the metric over the grid (a heatmap centred on 0
with the winner and the default config marked, a line for one field, parallel coordinates
when more than two fields vary), the leaders' equity curves, and the overfitting guards."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xmtrade.reports.page import card, esc, figure_div, page, section, table_html, write_page
from xmtrade.reports.terminal import metric as fmt_metric
from xmtrade.reports.terminal import num
from xmtrade.sweep.runner import status
from xmtrade.sweep.work import LOWER_IS_BETTER

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from xmtrade.config import AppConfig
    from xmtrade.sweep.runner import Row

LEADERS = 5  # equity curves drawn besides the default's
TABLE_METRICS = ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "n_trades")


def default_value(base: AppConfig, path: str) -> Any:
    """The base config's value of a dotted field (None when the path has none)."""
    node: Any = base.model_dump(mode="json")
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _key(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list | dict) else value


def _axis_values(rows: Sequence[Row], path: str) -> list[Any]:
    values = {_key(r.params[path]) for r in rows}
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _colours(metric: str) -> str:
    return "RdYlGn_r" if metric in LOWER_IS_BETTER else "RdYlGn"


def is_default(row: Row, defaults: dict[str, Any]) -> bool:
    """Whether the row's parameters are the base config's (`default_value` of each)."""
    return all(_key(row.params[p]) == _key(v) for p, v in defaults.items())


def heatmap_figure(
    rows: Sequence[Row],
    x: str,
    y: str,
    metric: str,
    min_trades: int,
    best: Row | None,
    defaults: dict[str, Any],
) -> go.Figure:
    """The metric over two fields, colours centred on 0; the winner's value starred, the
    default ringed, cells that may not win crossed."""
    import plotly.graph_objects as go

    xs, ys = _axis_values(rows, x), _axis_values(rows, y)
    z: list[list[float | None]] = [[None] * len(xs) for _ in ys]
    text = [[""] * len(xs) for _ in ys]
    crossed_x, crossed_y = [], []
    for row in rows:
        i, j = ys.index(_key(row.params[y])), xs.index(_key(row.params[x]))
        value = row.value(metric)
        z[i][j] = value
        trades = (row.metrics or {}).get("n_trades", 0)
        star = "★ " if best is not None and row.index == best.index else ""
        text[i][j] = f"{star}{fmt_metric(metric, value)}<br>{trades} tr"
        if status(row, metric, min_trades) != "ok":
            crossed_x.append(str(xs[j]))
            crossed_y.append(str(ys[i]))
    values = [abs(v) for line in z for v in line if v is not None]
    span = max(values) if values else 1.0
    fig = go.Figure(
        go.Heatmap(
            x=[str(v) for v in xs],
            y=[str(v) for v in ys],
            z=z,
            text=text,
            texttemplate="%{text}",
            textfont={"size": 10},
            colorscale=_colours(metric),
            zmid=0.0,
            zmin=-span,
            zmax=span,
            colorbar={"title": {"text": metric}},
            hovertemplate=f"{x} %{{x}}<br>{y} %{{y}}<br>{metric} %{{z:.4g}}<extra></extra>",
        )
    )
    if crossed_x:
        fig.add_trace(
            go.Scatter(
                x=crossed_x,
                y=crossed_y,
                mode="markers",
                marker={"symbol": "x-thin", "size": 26, "line": {"width": 1, "color": "#555"}},
                name=f"fewer than {min_trades} trades (may not win)",
                hoverinfo="skip",
            )
        )
    if best is not None:  # the star is in the winner's cell, beside its value: this is its key
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker={"symbol": "star", "size": 12, "color": "#111"},
                name="winner (★ beside its value)",
                showlegend=True,
                hoverinfo="skip",
            )
        )
    if all(v is not None for v in defaults.values()) and any(is_default(r, defaults) for r in rows):
        fig.add_trace(
            go.Scatter(
                x=[str(xs[xs.index(_key(defaults[x]))])],
                y=[str(ys[ys.index(_key(defaults[y]))])],
                mode="markers",
                marker={
                    "symbol": "circle-open",
                    "size": 34,
                    "line": {"width": 2.5, "color": "#1d4ed8"},
                },
                name="default config",
                hoverinfo="skip",
            )
        )
    fig.update_layout(
        xaxis={"title": x, "type": "category"},
        yaxis={"title": y, "type": "category"},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        margin={"l": 70, "r": 20, "t": 50, "b": 50},
    )
    return fig


def line_figure(rows: Sequence[Row], x: str, metric: str, best: Row | None) -> go.Figure:
    """The metric along the one varying field."""
    import plotly.graph_objects as go

    ordered = sorted(rows, key=lambda r: _axis_values(rows, x).index(_key(r.params[x])))
    fig = go.Figure(
        go.Scatter(
            x=[str(_key(r.params[x])) for r in ordered],
            y=[r.value(metric) for r in ordered],
            mode="lines+markers",
            name=metric,
        )
    )
    if best is not None:
        fig.add_trace(
            go.Scatter(
                x=[str(_key(best.params[x]))],
                y=[best.value(metric)],
                mode="markers",
                marker={"symbol": "star", "size": 16, "color": "#111"},
                name="winner",
            )
        )
    fig.add_hline(y=0, line_color="#999", line_width=1)
    fig.update_layout(xaxis={"title": x, "type": "category"}, yaxis={"title": metric})
    return fig


def parallel_figure(rows: Sequence[Row], fields: Sequence[str], metric: str) -> go.Figure:
    """One line per run across every varying field and the metric, coloured by the metric
    (centred on 0)."""
    import plotly.graph_objects as go

    done = [r for r in rows if r.value(metric) is not None]
    dims = []
    for field in fields:
        values = [r.params[field] for r in done]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            dims.append({"label": field, "values": [float(v) for v in values]})
        else:
            labels = _axis_values(done, field)
            dims.append(
                {
                    "label": field,
                    "values": [labels.index(_key(v)) for v in values],
                    "tickvals": list(range(len(labels))),
                    "ticktext": [str(v) for v in labels],
                }
            )
    scores = [float(r.value(metric) or 0.0) for r in done]
    dims.append({"label": metric, "values": scores})
    span = max((abs(s) for s in scores), default=1.0) or 1.0
    fig = go.Figure(
        go.Parcoords(
            line={
                "color": scores,
                "colorscale": _colours(metric),
                "cmid": 0.0,
                "cmin": -span,
                "cmax": span,
                "showscale": True,
                "colorbar": {"title": {"text": metric}},
            },
            dimensions=dims,
        )
    )
    fig.update_layout(margin={"l": 80, "r": 60, "t": 60, "b": 30})
    return fig


def equity_figure(
    ranked: Sequence[Row], default: Row | None, initial: float, dates: Sequence[Any] | None
) -> go.Figure:
    """The leaders' (and the default config's) equity, rebased to 100 on one axis."""
    import plotly.graph_objects as go

    fig = go.Figure()
    shown = [r for r in ranked[:LEADERS] if r.returns is not None]
    if default is not None and default.returns is not None and default not in shown:
        shown.append(default)
    for n, row in enumerate(shown, start=1):
        assert row.returns is not None
        curve = 100.0 * np.cumprod(1.0 + row.returns)
        x = list(dates) if dates is not None and len(dates) == len(curve) else None
        label = "default" if row is default else f"#{n}"
        fig.add_trace(
            go.Scatter(
                x=x,
                y=curve,
                name=f"{label}: " + ", ".join(f"{k}={v}" for k, v in row.params.items()),
                line={"width": 1.2, "dash": "dash" if row is default else "solid"},
            )
        )
    fig.update_layout(
        yaxis={"title": "growth of 100"},
        legend={"orientation": "h", "y": -0.15, "x": 0},
        margin={"l": 60, "r": 20, "t": 20, "b": 40},
        hovermode="x unified",
    )
    return fig


# metrics whose 0 is what cash earns: "no combination beat 0" is said of them
ZERO_IS_CASH = frozenset({"total_return", "cagr", "sharpe", "sortino", "calmar"})


def sweep_notes(
    ranked: Sequence[Row], best: Row | None, default: Row | None, metric: str, min_trades: int
) -> list[str]:
    """What the ranking does not say by itself: no combination beat 0, the winner is the
    default config, the top ranks tie."""
    notes = []
    eligible = [r for r in ranked if status(r, metric, min_trades) == "ok"]
    top = best.value(metric) if best is not None else None
    if metric in ZERO_IS_CASH and eligible and top is not None and top <= 0:
        notes.append(
            f"No combination beat 0: the best {metric} is {fmt_metric(metric, top)}, so every "
            "combination did no better than cash over this window."
        )
    if best is not None and default is not None and best.index == default.index:
        notes.append(
            "The winner is the default config: the grid found nothing better than what you "
            "run today (best.yaml changes nothing)."
        )
    if best is not None and top is not None:
        tied = [r for r in eligible if r.value(metric) == top]
        if len(tied) > 1:
            notes.append(
                f"Ranks 1 to {len(tied)} tie at {metric} {fmt_metric(metric, top)}: the winner is "
                "the first of them in grid order (combination "
                f"{best.index + 1}), not better than the others."
            )
    return notes


def ranked_rows(
    ranked: Sequence[Row], paths: Sequence[str], metric: str, min_trades: int
) -> list[list[Any]]:
    """The ranked table's cells: rank, fields, metrics (sort keys raw), status."""
    names = list(dict.fromkeys([metric, *TABLE_METRICS]))
    rows = []
    for n, row in enumerate(ranked, start=1):
        cells: list[Any] = [(n, n)]
        cells += [str(row.params.get(p)) for p in paths]
        for m in names:
            value = (row.metrics or {}).get(m)
            cells.append((fmt_metric(m, value), "" if value is None else value))
        cells.append(status(row, metric, min_trades))
        rows.append(cells)
    return rows


def sweep_page(
    meta: dict[str, Any],
    ranked: Sequence[Row],
    best: Row | None,
    base: AppConfig,
    dates: Sequence[Any] | None,
) -> str:
    """The whole report.html of a sweep."""
    metric, min_trades = meta["metric"], meta["min_trades"]
    paths, varying = meta["parameters"], meta["varying"]
    defaults = {p: default_value(base, p) for p in paths}
    default_row = next((r for r in ranked if is_default(r, defaults)), None)
    report = meta.get("overfitting") or {}
    dsr = report.get("deflated_sharpe") or {}
    pbo = report.get("pbo") or {}
    cards = [
        card(
            f"best {metric}" + (" ★" if best is not None and len(varying) == 2 else ""),
            fmt_metric(metric, None if best is None else best.value(metric)),
            "no eligible combination"
            if best is None
            else ", ".join(f"{k}={v}" for k, v in best.params.items()),
        ),
        card(
            f"default config's {metric}",
            fmt_metric(metric, None if default_row is None else default_row.value(metric)),
            "not in the grid"
            if default_row is None
            else ("ringed in the heatmap" if len(varying) == 2 else "dashed in the equity chart"),
            term=metric,
        ),
        card(
            "deflated Sharpe",
            num(dsr.get("dsr"), 3),
            f"chance the best is skill, not luck; PSR(0) {num(dsr.get('psr'), 3)}",
            term="deflated_sharpe",
        ),
        card("PBO", num(pbo.get("pbo"), 3), "probability of backtest overfitting", term="pbo"),
        card(
            "runs", f"{len(ranked)}", f"{meta.get('runs_eligible', 0)} with ≥ {min_trades} trades"
        ),
    ]
    body = [f'<div class="cards">{"".join(cards)}</div>']
    notes = sweep_notes(ranked, best, default_row, metric, min_trades)
    if notes:
        items = "".join(f"<li>{esc(n)}</li>" for n in notes)
        body.append(
            f'<section class="warn" id="notes"><h2>read this first</h2><ul>{items}</ul></section>'
        )
    finished = [r for r in ranked if r.metrics is not None]
    if len(varying) == 2 and finished:
        fig = heatmap_figure(
            finished,
            varying[0],
            varying[1],
            metric,
            min_trades,
            best,
            {p: defaults[p] for p in varying},
        )
        body.append(
            section(
                f"{metric} over {varying[1]} and {varying[0]} (colours centred on 0)",
                figure_div(fig, "heatmap-plot", 520),
                "heatmap",
            )
        )
    elif len(varying) == 1 and finished:
        body.append(
            section(
                f"{metric} along {varying[0]}",
                figure_div(line_figure(finished, varying[0], metric, best), "line-plot", 420),
            )
        )
    if len(varying) > 2 and finished:
        body.append(
            section(
                f"every run across the {len(varying)} varying fields (drag along an axis to "
                "filter)",
                figure_div(parallel_figure(finished, varying, metric), "parcoords-plot", 480),
                "parallel",
            )
        )
    if any(r.returns is not None for r in ranked):
        body.append(
            section(
                f"equity of the {min(LEADERS, len(ranked))} leaders and the default config",
                figure_div(
                    equity_figure(ranked, default_row, base.backtest.initial_nav, dates),
                    "equity-plot",
                    440,
                ),
            )
        )
    names = list(dict.fromkeys([metric, *TABLE_METRICS]))
    body.append(
        section(
            "ranked runs (click a header to sort)",
            '<div class="scroll">'
            + table_html(
                ["#", *paths, *names, "status"],
                ranked_rows(ranked, paths, metric, min_trades),
                sortable=True,
                text_columns=[len(paths) + len(names) + 1],
                table_id="ranked",
            )
            + "</div>",
            "ranked",
        )
    )
    body.append(
        section(
            "sweep.json",
            f"<details><summary>settings and guards</summary><pre>"
            f"{esc(json.dumps(meta, indent=2, default=str))}</pre></details>",
        )
    )
    title = f"Sweep of {meta['grid']}: {len(ranked)} runs by {metric}"
    subtitle = (
        f"fields {', '.join(paths)}; at least {min_trades} trades to win; status {meta['status']}"
    )
    return page(title, subtitle, "".join(body))


def write_sweep_page(
    path: Path,
    meta: dict[str, Any],
    ranked: Sequence[Row],
    best: Row | None,
    base: AppConfig,
    dates: Sequence[Any] | None = None,
) -> None:
    """Write report.html of a sweep."""
    write_page(path, sweep_page(meta, ranked, best, base, dates))
