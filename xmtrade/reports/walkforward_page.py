"""report.html of a walk-forward: the windows on a timeline with their chosen parameters
(labelled "cash" or "no trades" where so), the stitched out-of-sample curve against buy and
hold on one axis, each window's metric in and out of sample, and the windows table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from xmtrade.reports.page import (
    LOG_SWITCH,
    card,
    esc,
    figure_div,
    page,
    section,
    table_html,
    write_page,
)
from xmtrade.reports.terminal import metric as fmt_metric
from xmtrade.reports.terminal import num, pct, short_params
from xmtrade.sweep.windows import window_label

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from xmtrade.sweep.runner import Row
    from xmtrade.sweep.windows import Window


def _chosen_text(best: Row | None) -> str:
    if best is None:
        return "no eligible combination"
    return short_params(best.params)


def timeline_figure(
    windows: Sequence[Window],
    chosen: Sequence[Row | None],
    tests: Sequence[Row | None],
    refused: Sequence[dict[str, Any] | None] = (),
) -> go.Figure:
    """Each window's training and test span as bars, the chosen parameters written on the
    training span (or the winner refused below the Sharpe floor), what it did on the test
    span."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for kind, colour in (("train", "#fdd0a2"), ("test", "#9ecae1")):
        starts, lengths, names, texts = [], [], [], []
        no_list = list(refused) + [None] * (len(windows) - len(refused))
        for w, best, test, no in zip(windows, chosen, tests, no_list, strict=True):
            first = pd.Timestamp(w.train_start if kind == "train" else w.test_start)
            last = pd.Timestamp(w.train_end if kind == "train" else w.test_end)
            starts.append(first)
            lengths.append((last - first).total_seconds() * 1000 + 86_400_000)
            names.append(f"w{w.number}")
            label = window_label(best, test)
            if kind == "train" and no is not None:
                sharpe = num((no.get("in_sample") or {}).get("sharpe"))
                texts.append(f"best {short_params(no['params'])}: Sharpe {sharpe}, not deployed")
            elif kind == "train":
                texts.append(f"chose {_chosen_text(best)}")
            else:
                texts.append(label or "traded")
        fig.add_trace(
            go.Bar(
                base=starts,
                x=lengths,
                y=names,
                orientation="h",
                name=f"{kind} span",
                marker={"color": colour, "line": {"color": "#555", "width": 0.5}},
                text=texts,
                textposition="inside",
                insidetextanchor="end" if kind == "train" else "middle",
                textfont={"size": 11},
                constraintext="none",
                hovertext=[
                    f"{kind} {t}"
                    for t in (
                        [f"{w.train_start} .. {w.train_end}" for w in windows]
                        if kind == "train"
                        else [f"{w.test_start} .. {w.test_end}" for w in windows]
                    )
                ],
                hovertemplate="%{y} %{hovertext}: %{text}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="overlay",
        xaxis={"type": "date"},
        yaxis={"autorange": "reversed"},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        margin={"l": 50, "r": 20, "t": 40, "b": 30},
    )
    return fig


def oos_figure(
    equity: pd.DataFrame,
    closes: pd.Series,
    initial: float,
    windows: Sequence[Window],
    chosen: Sequence[Row | None],
    tests: Sequence[Row | None],
) -> go.Figure:
    """The stitched out-of-sample curve and buy and hold, one axis rebased to 100."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            mode="lines",
            x=closes.index,
            y=100 * closes / float(closes.iloc[0]),
            name="buy and hold",
            line={"color": "#7f7f7f", "width": 1},
        )
    )
    fig.add_trace(
        go.Scatter(
            mode="lines",
            x=equity.index,
            y=100 * equity["nav"] / initial,
            name="out-of-sample strategy",
            line={"color": "#1f77b4", "width": 1.6},
        )
    )
    for n, (w, best, test) in enumerate(zip(windows, chosen, tests, strict=True)):
        label = window_label(best, test)
        fig.add_vrect(
            x0=str(w.test_start),
            x1=str(w.test_end),
            fillcolor="rgba(0,0,0,0.05)" if n % 2 == 0 else "rgba(0,0,0,0)",
            line_width=0,
            layer="below",
            annotation_text=f"w{w.number}" + (f" {label}" if label else ""),
            annotation_position="top left",
            annotation_font={"size": 10, "color": "#b91c1c" if label else "#333"},
        )
    fig.update_layout(
        yaxis={"title": "growth of 100", "type": "linear"},
        hovermode="x unified",
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0.14},
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
        updatemenus=LOG_SWITCH,
    )
    return fig


def metric_figure(
    windows: Sequence[Window],
    chosen: Sequence[Row | None],
    tests: Sequence[Row | None],
    metric: str,
) -> go.Figure:
    """Each window's metric in and out of sample; a window without a value is labelled."""
    import plotly.graph_objects as go

    names = [f"w{w.number}" for w in windows]
    fig = go.Figure()
    for label, rows, colour in (
        ("in sample (training)", chosen, "#ff7f0e"),
        ("out of sample (test)", tests, "#1f77b4"),
    ):
        values = [r.value(metric) if r else None for r in rows]
        fig.add_trace(
            go.Bar(
                x=names,
                y=[v or 0.0 for v in values],
                name=label,
                marker={"color": colour},
                text=[fmt_metric(metric, v) for v in values],
                textposition="outside",
            )
        )
    for name, best, test in zip(names, chosen, tests, strict=True):
        label = window_label(best, test)
        if label:
            fig.add_annotation(
                x=name,
                y=0,
                text=label,
                showarrow=False,
                yshift=46,
                font={"color": "#b91c1c", "size": 12},
            )
    fig.add_hline(y=0, line_color="#555", line_width=1)
    fig.update_layout(
        barmode="group",
        yaxis={"title": metric},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        margin={"l": 60, "r": 20, "t": 40, "b": 30},
    )
    return fig


def windows_rows(
    windows: Sequence[Window],
    chosen: Sequence[Row | None],
    tests: Sequence[Row | None],
    metric: str,
    refused: Sequence[bool] = (),
) -> list[list[Any]]:
    """The windows table's cells (`refused`: the window's winner was below the Sharpe floor)."""
    rows = []
    flags = list(refused) + [False] * (len(windows) - len(refused))
    for w, best, test, no in zip(windows, chosen, tests, flags, strict=True):
        oos = (test.metrics or {}) if test else {}
        rows.append(
            [
                w.number,
                f"{w.train_start} .. {w.train_end}",
                f"{w.test_start} .. {w.test_end}" + (" (partial)" if w.partial else ""),
                _chosen_text(best),
                fmt_metric(metric, best.value(metric) if best else None),
                fmt_metric(metric, test.value(metric) if test else None),
                fmt_metric("total_return", oos.get("total_return")),
                fmt_metric("max_drawdown", oos.get("max_drawdown")),
                fmt_metric("n_trades", oos.get("n_trades")),
                window_label(best, test, no),
            ]
        )
    return rows


def walkforward_page(
    meta: dict[str, Any],
    equity: pd.DataFrame,
    windows: Sequence[Window],
    chosen: Sequence[Row | None],
    tests: Sequence[Row | None],
    bars: pd.DataFrame,
) -> str:
    """The whole report.html of a walk-forward."""
    metric = meta["metric"]
    overall = meta.get("overall") or {}
    oos = overall.get("out_of_sample") or {}
    ins = overall.get("in_sample") or {}
    closes = bars.loc[equity.index, "close"].astype(float)
    initial = float(equity["nav"].iloc[0] / (1.0 + equity["return"].iloc[0]))
    refused_rows = [w.get("refused") for w in meta.get("per_window") or []]
    refused = [bool(r) for r in refused_rows]
    floor = meta.get("min_train_sharpe")
    no_winner = int(overall.get("windows_without_winner", 0))
    below = int(overall.get("windows_below_sharpe_floor", 0))
    efficiency = overall.get("walk_forward_efficiency")
    cards = [
        card(
            "out-of-sample return (stitched)",
            pct(oos.get("total_return")),
            f"buy and hold {pct(oos.get('benchmark_total_return'))}",
            "bad" if (oos.get("total_return") or 0) < 0 else "good",
            term="stitched",
        ),
        card("CAGR (stitched)", pct(oos.get("cagr")), f"{oos.get('start')} .. {oos.get('end')}"),
        card(
            "Sharpe (stitched)",
            num(oos.get("sharpe")),
            f"of the chained test spans; max drawdown {pct(oos.get('max_drawdown'))}",
            term="sharpe",
        ),
        card(
            f"{metric}: mean of the windows, out of sample",
            num(oos.get(f"mean_window_{metric}")),
            f"each test span on its own; in sample {num(ins.get(f'mean_window_{metric}'))}",
            term="mean_of_windows",
        ),
        card(
            "walk-forward efficiency",
            "n/a" if efficiency is None else num(efficiency),
            overall.get("walk_forward_efficiency_note")
            or "stitched out-of-sample CAGR over mean in-sample CAGR",
            term="walk_forward_efficiency",
        ),
        card(
            "windows in cash",
            str(no_winner),
            f"of {len(windows)}: {no_winner - below} no combination eligible, {below} best "
            + (
                f"in-sample Sharpe below the floor {floor:g}"
                if floor is not None
                else "below no floor (none set)"
            ),
        ),
    ]
    columns = [
        "window",
        "train",
        "test",
        "chosen",
        f"IS {metric}",
        f"OOS {metric}",
        "OOS return",
        "OOS max drawdown",
        "OOS trades",
        "note",
    ]
    body = [
        f'<div class="cards">{"".join(cards)}</div>',
        section(
            "windows and the parameters each chose",
            figure_div(
                timeline_figure(windows, chosen, tests, refused_rows),
                "timeline-plot",
                110 + 38 * len(windows),
            ),
            "timeline",
        ),
        section(
            "stitched out-of-sample equity against buy and hold (one axis, growth of 100)",
            figure_div(
                oos_figure(equity, closes, initial, windows, chosen, tests), "oos-plot", 440
            ),
            "oos",
        ),
        section(
            f"{metric} of each window, in and out of sample",
            figure_div(metric_figure(windows, chosen, tests, metric), "metric-plot", 360),
            "metric",
        ),
        section(
            "windows",
            '<div class="scroll">'
            + table_html(
                columns,
                windows_rows(windows, chosen, tests, metric, refused),
                sortable=True,
                text_columns=[3],
                table_id="windows",
            )
            + "</div>",
            "windows",
        ),
        section(
            "walkforward.json",
            f"<details><summary>settings, windows and overfitting guards</summary><pre>"
            f"{esc(json.dumps(meta, indent=2, default=str))}</pre></details>",
        ),
    ]
    title = f"Walk-forward of {meta['grid']}: train {meta['train']}, test {meta['test']}"
    subtitle = (
        f"{len(windows)} windows, {meta['combinations']} combinations each, by {metric}, "
        f"at least {meta['min_trades']} trades; {'anchored' if meta['anchored'] else 'rolling'}"
    )
    return page(title, subtitle, "".join(body))


def write_walkforward_page(
    path: Path,
    meta: dict[str, Any],
    equity_csv: Path,
    windows: Sequence[Window],
    chosen: Sequence[Row | None],
    tests: Sequence[Row | None],
    bars: pd.DataFrame,
) -> None:
    """Write report.html of a walk-forward from its oos_equity.csv."""
    equity = pd.read_csv(equity_csv, index_col="date", parse_dates=["date"])
    write_page(path, walkforward_page(meta, equity, windows, chosen, tests, bars))
