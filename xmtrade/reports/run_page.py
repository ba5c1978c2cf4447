"""report.html of a run folder (a backtest or `paper report`): the price with every trade and
why it happened, equity against buy and hold on one axis, the underwater curve, returns by
month and year, the trades, exits, fees, risk lines and the config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from xmtrade.reports.chart import runs_of, stop_levels
from xmtrade.reports.page import (
    LOG_SWITCH,
    card,
    diverging,
    esc,
    figure_div,
    page,
    section,
    table_html,
    write_page,
)
from xmtrade.reports.records import entry_hover, exit_hover, trade_records
from xmtrade.reports.terminal import money, num, pct

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from xmtrade.backtest import BacktestResult

STAGE_COLOURS = {1: "rgba(253,174,97,0.30)", 2: "rgba(116,196,118,0.35)", 3: "rgba(35,139,69,0.40)"}
STATUS_COLOURS = {"ok": "#a1d99b", "alarm": "#de2d26", "unknown": "#d9d9d9"}
EXIT_COLOURS = {
    "stop": "#d62728",
    "trailing_stop": "#ff7f0e",
    "rsi_overbought": "#1f77b4",
}
OTHER_EXIT = "#6a3d9a"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

CLICK_SCRIPT = """
(function () {
  // a zoom on the dates fits the price axis to the closes it shows
  var price = document.getElementById('price-plot');
  if (price && price.on) {
    price.on('plotly_relayout', function (ev) {
      if (ev['xaxis.autorange']) { Plotly.relayout(price, {'yaxis.autorange': true}); return; }
      var lo = ev['xaxis.range[0]'], hi = ev['xaxis.range[1]'];
      if (ev['xaxis.range']) { lo = ev['xaxis.range'][0]; hi = ev['xaxis.range'][1]; }
      if (lo === undefined || hi === undefined) { return; }
      var t0 = new Date(lo).getTime(), t1 = new Date(hi).getTime();
      var close = price._fullData[0], ys = [];
      for (var i = 0; i < close.x.length; i++) {
        var t = new Date(close.x[i]).getTime();
        if (t >= t0 && t <= t1) { ys.push(close.y[i]); }
      }
      if (ys.length < 2) { return; }
      var min = Math.min.apply(null, ys), max = Math.max.apply(null, ys);
      var pad = (max - min) * 0.08 || 1;
      Plotly.relayout(price, {'yaxis.range': [min - pad, max + pad]});
    });
  }
})();
(function () {
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var panel = document.getElementById('decision');
  var plot = document.getElementById('price-plot');
  if (!plot || !plot.on) { return; }
  plot.on('plotly_click', function (ev) {
    var point = ev.points[0];
    if (point.customdata === undefined || point.customdata === null) { return; }
    var record = data.records[String(point.customdata)];
    if (!record) { return; }
    panel.textContent = 'tranche #' + point.customdata + '\\n' + JSON.stringify(record, null, 2);
  });
})();
"""


def _stage_shapes(equity: pd.DataFrame) -> list[dict[str, Any]]:
    shapes = []
    for first, last, stage in runs_of(equity["stage"]):
        if stage in STAGE_COLOURS:
            shapes.append(
                {
                    "type": "rect",
                    "xref": "x",
                    "yref": "y domain",
                    "x0": first,
                    "x1": last,
                    "y0": 0,
                    "y1": 1,
                    "fillcolor": STAGE_COLOURS[int(stage)],
                    "line": {"width": 0},
                    "layer": "below",
                }
            )
    return shapes


def price_figure(result: BacktestResult, records: dict[int, dict[str, Any]]) -> go.Figure:
    """Close, stop, entries and exits (hover: the decision record), stage shading, reports
    becoming usable, and a strip of each risk line's state below."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    equity = result.equity
    lines = sorted(c for c in equity.columns if c.startswith("line"))
    rows = 2 if lines else 1
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.04,
        row_heights=[0.85, 0.15] if lines else [1.0],
    )
    close = result.bars["close"].astype(float)
    symbol = result.config.instrument.symbol
    fig.add_trace(
        go.Scatter(
            mode="lines",
            x=close.index,
            y=close,
            name=f"{symbol} close",
            line={"color": "#333", "width": 1},
            hovertemplate="%{x|%Y-%m-%d} close %{y:.2f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    stops = stop_levels(result)
    fig.add_trace(
        go.Scatter(
            mode="lines",
            x=stops.index,
            y=stops,
            name="protective stop",
            line={"color": "#d62728", "width": 1, "shape": "hv", "dash": "dot"},
            hovertemplate="%{x|%Y-%m-%d} stop %{y:.2f}<extra></extra>",
            connectgaps=False,
        ),
        row=1,
        col=1,
    )
    trades = result.trades
    if not trades.empty:
        fig.add_trace(
            go.Scatter(
                x=pd.to_datetime(trades["entry_date"]),
                y=trades["entry_price"],
                mode="markers",
                name="entry (click for the record)",
                marker={
                    "symbol": "triangle-up",
                    "size": 11,
                    "color": "#2ca02c",
                    "line": {"color": "#124d12", "width": 1},
                },
                customdata=trades["id"].astype(int),
                hovertext=[entry_hover(t, records[int(t["id"])]) for _, t in trades.iterrows()],
                hovertemplate="%{hovertext}<extra></extra>",
            ),
            row=1,
            col=1,
        )
        closed = trades[trades["exit_date"].notna()]
        for reason, group in closed.groupby("exit_reason"):
            fig.add_trace(
                go.Scatter(
                    x=pd.to_datetime(group["exit_date"]),
                    y=group["exit_price"],
                    mode="markers",
                    name=f"exit: {reason}",
                    marker={
                        "symbol": "triangle-down",
                        "size": 11,
                        "color": EXIT_COLOURS.get(str(reason), OTHER_EXIT),
                        "line": {"color": "#333", "width": 1},
                    },
                    customdata=group["id"].astype(int),
                    hovertext=[exit_hover(t, records[int(t["id"])]) for _, t in group.iterrows()],
                    hovertemplate="%{hovertext}<extra></extra>",
                ),
                row=1,
                col=1,
            )
    reports = [
        d for d in result.decisions if d.get("action") == "fundamentals" and d.get("newest_report")
    ]
    if reports:
        low = float(close.min()) * 0.97
        fig.add_trace(
            go.Scatter(
                x=[pd.Timestamp(d["date"]) for d in reports],
                y=[low] * len(reports),
                mode="markers",
                name="report usable",
                marker={"symbol": "line-ns-open", "size": 10, "color": "#6a51a3"},
                hovertext=[
                    f"{d['newest_report']['period']} usable from {d['date']} (announced "
                    f"{d['newest_report']['announced']})"
                    for d in reports
                ],
                hovertemplate="%{hovertext}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    for stage, colour in STAGE_COLOURS.items():
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=f"stage {stage} held",
                marker={"symbol": "square", "size": 12, "color": colour},
                hoverinfo="skip",
            ),
            row=1,
            col=1,
        )
    for n, column in enumerate(lines):
        for first, last, status in runs_of(equity[column].fillna("unknown")):
            fig.add_trace(
                go.Scatter(
                    x=[first, last, last, first, first],
                    y=[n - 0.4, n - 0.4, n + 0.4, n + 0.4, n - 0.4],
                    fill="toself",
                    mode="lines",
                    line={"width": 0},
                    fillcolor=STATUS_COLOURS.get(str(status), "#d9d9d9"),
                    showlegend=False,
                    hoveron="fills",
                    name=f"{column} {status}",
                    text=f"{column} {status}: {first.date()} .. {last.date()}",
                    hoverinfo="text",
                ),
                row=2,
                col=1,
            )
    layout: dict[str, Any] = {
        "shapes": _stage_shapes(equity),
        "hovermode": "closest",
        "hoverlabel": {"align": "left", "font": {"size": 11}},
        "legend": {"orientation": "h", "y": -0.06, "yanchor": "top", "x": 0},
        "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
        "yaxis": {"title": "HK$"},
        "dragmode": "zoom",
    }
    fig.update_layout(**layout)
    if lines:
        fig.update_yaxes(
            row=2,
            col=1,
            tickvals=list(range(len(lines))),
            ticktext=[c.replace("line", "line ") for c in lines],
            autorange="reversed",
            fixedrange=True,
        )
    fig.update_xaxes(rangeslider={"visible": False}, range=[close.index[0], close.index[-1]])
    fig.update_layout(
        xaxis={
            "rangeselector": {
                "buttons": [
                    {"count": 6, "label": "6m", "step": "month", "stepmode": "backward"},
                    {"count": 1, "label": "1y", "step": "year", "stepmode": "backward"},
                    {"count": 3, "label": "3y", "step": "year", "stepmode": "backward"},
                    {"step": "all", "label": "all"},
                ],
                "x": 0,
                "y": 1.0,
                "yanchor": "bottom",
            }
        }
    )
    return fig


def _rebased(values: pd.Series) -> pd.Series:
    return values / float(values.iloc[0]) * 100.0


def equity_figure(result: BacktestResult, stats: dict[str, Any]) -> go.Figure:
    """Strategy, buy and hold and the weight-matched benchmark on one axis rebased to 100, with
    a linear / log switch."""
    import plotly.graph_objects as go

    equity = result.equity
    initial = float(result.config.backtest.initial_nav)
    nav = pd.concat([pd.Series([initial]), equity["nav"].reset_index(drop=True)])
    strategy = pd.Series(nav.to_numpy()[1:] / initial * 100.0, index=equity.index)
    hold = _rebased(result.benchmark.astype(float))
    weight = (stats.get("weight") or {}).get("average") or 0.0
    matched = (
        100.0 * (1.0 + result.benchmark.astype(float).pct_change().fillna(0.0) * weight).cumprod()
    )
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            mode="lines",
            x=strategy.index,
            y=strategy,
            name="strategy",
            line={"color": "#1f77b4", "width": 1.6},
            hovertemplate="%{x|%Y-%m-%d} strategy %{y:.2f}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            mode="lines",
            x=hold.index,
            y=hold,
            name="buy and hold",
            line={"color": "#7f7f7f", "width": 1},
            hovertemplate="%{x|%Y-%m-%d} buy and hold %{y:.2f}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            mode="lines",
            x=matched.index,
            y=matched,
            name=f"stock at the strategy's average weight ({pct(weight)})",
            line={"color": "#ff7f0e", "width": 1.2, "dash": "dash"},
            hovertemplate="%{x|%Y-%m-%d} weight-matched %{y:.2f}<extra></extra>",
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


def underwater_figure(result: BacktestResult, stats: dict[str, Any]) -> go.Figure:
    """The strategy's drawdown with its longest drawdowns marked; buy and hold's behind a
    legend click (its depth would flatten the strategy's)."""
    import plotly.graph_objects as go

    equity = result.equity
    nav = equity["nav"].astype(float)
    under = (nav / nav.cummax() - 1.0) * 100.0
    bench = result.benchmark.astype(float)
    bench_under = (bench / bench.cummax() - 1.0) * 100.0
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            mode="lines",
            x=under.index,
            y=under,
            name="strategy",
            fill="tozeroy",
            line={"color": "#1f77b4", "width": 1},
            hovertemplate="%{x|%Y-%m-%d} %{y:.2f}%<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            mode="lines",
            x=bench_under.index,
            y=bench_under,
            name="buy and hold (click to show)",
            visible="legendonly",
            line={"color": "#7f7f7f", "width": 1},
            hovertemplate="%{x|%Y-%m-%d} buy and hold %{y:.2f}%<extra></extra>",
        )
    )
    longest = (stats.get("drawdowns") or {}).get("longest") or []
    for n, dd in enumerate(longest, start=1):
        end = dd["recovered"] or str(equity.index[-1].date())
        depth = dd["depth"] * 100.0
        label = f"#{n}: {dd['days']:,} days, {pct(dd['depth'])}" + (
            "" if dd["recovered"] else ", not recovered"
        )
        fig.add_trace(
            go.Scatter(
                x=[dd["peak"], end],
                y=[depth, depth],
                mode="lines+markers+text",
                line={"color": "#d62728", "width": 2},
                marker={"symbol": "line-ns", "size": 10, "line": {"width": 2, "color": "#d62728"}},
                text=[label, ""],
                textposition="bottom right",
                textfont={"size": 10, "color": "#b91c1c"},
                name=f"longest drawdown #{n}",
                showlegend=n == 1,
                legendgroup="longest",
                hovertext=f"{label}: peak {dd['peak']}, trough {dd['trough']}, recovered "
                f"{dd['recovered'] or 'not yet'}",
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    fig.update_layout(
        yaxis={"title": "below the peak, %"},
        hovermode="x unified",
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        margin={"l": 60, "r": 20, "t": 40, "b": 40},
    )
    return fig


def returns_table(stats: dict[str, Any]) -> str:
    """Months across, years down, the year's total and buy and hold's at the end."""
    months = stats.get("monthly_returns") or {}
    years = stats.get("yearly_returns") or {}
    bench_years = (stats.get("benchmark") or {}).get("yearly_returns") or {}
    values = [abs(v) for m in months.values() for v in m.values() if v is not None]
    scale = max(values) if values else 0.0
    rows = []
    for year in sorted(years):
        cells: list[Any] = [year]
        for m in range(1, 13):
            value = months.get(year, {}).get(f"{m:02d}")
            cells.append(("" if value is None else pct(value), value, diverging(value, scale)))
        total = years.get(year)
        cells.append((pct(total), total, diverging(total, scale) + "; font-weight: 600"))
        cells.append(pct(bench_years.get(year)))
        rows.append(cells)
    return table_html(["year", *MONTHS, "year", "buy and hold"], rows)


def trades_table(trades: pd.DataFrame) -> str:
    """Every tranche, sortable by any column."""
    rows = []
    for _, t in trades.iterrows():
        is_open = t["exit_reason"] == "open"
        pnl = None if is_open else float(t["pnl"])
        colour = "" if pnl is None else ("color: #15803d" if pnl > 0 else "color: #b91c1c")
        rows.append(
            [
                (int(t["id"]), int(t["id"])),
                int(t["stage"]),
                str(t["entry_date"])[:10],
                t["entry_price"],
                (f"{int(t['shares']):,}", int(t["shares"])),
                t["initial_stop"],
                "" if is_open else str(t["exit_date"])[:10],
                "" if is_open else t["exit_price"],
                t["exit_reason"],
                ("" if pnl is None else money(pnl), pnl, colour),
                ("" if is_open else f"{float(t['pnl_pct_nav']):.3f}%", t["pnl_pct_nav"]),
                money(float(t["fees"])),
                int(t["sessions_held"]),
                t["entry_reason"],
            ]
        )
    columns = [
        "#",
        "stage",
        "entry",
        "price",
        "shares",
        "initial stop",
        "exit",
        "price",
        "reason",
        "P&L",
        "% of NAV",
        "fees",
        "sessions",
        "why",
    ]
    return table_html(columns, rows, sortable=True, text_columns=[13], table_id="trades")


def _cards(summary: dict[str, Any], stats: dict[str, Any]) -> str:
    bench = stats.get("benchmark") or {}
    dd = stats.get("drawdowns") or {}
    current = dd.get("current")
    weight = stats.get("weight") or {}
    trades = stats.get("trades") or {}
    tone = "bad" if (summary.get("total_return") or 0) < 0 else "good"
    cards = [
        card(
            "total return",
            pct(summary["total_return"]),
            f"buy and hold {pct(bench.get('total_return'))}",
            tone,
            term="total_return",
        ),
        card("CAGR", pct(summary["cagr"]), f"buy and hold {pct(bench.get('cagr'))}", term="cagr"),
        card(
            "Sharpe",
            num(summary["sharpe"]),
            f"buy and hold {num(bench.get('sharpe'))}; Sortino {num(summary['sortino'])}",
            term="sharpe",
        ),
        card(
            "max drawdown",
            pct(summary["max_drawdown"]),
            f"buy and hold {pct(bench.get('max_drawdown'))}",
            term="max_drawdown",
        ),
        card(
            "average weight",
            pct(weight.get("average")),
            f"max {pct(weight.get('maximum'))}; in the market {pct(weight.get('time_in_market'))}",
        ),
        card(
            "trades",
            f"{summary['n_trades']} closed",
            f"win rate {pct(summary['win_rate'])}; expectancy {money(trades.get('expectancy'))}",
            term="win_rate",
        ),
    ]
    if current:
        cards.insert(
            0,
            card(
                "under water",
                f"{current['days']:,} days",
                f"below the peak of {current['peak']}, {pct(current['depth'])} at worst",
                "warn",
                term="under_water",
            ),
        )
    return f'<div class="cards">{"".join(cards)}</div>'


def _small_tables(summary: dict[str, Any], stats: dict[str, Any]) -> str:
    t = stats.get("trades") or {}
    rows = [
        ["average win", f"{money(t.get('average_win'))} ({pct(t.get('average_win_pct_nav'))})"],
        ["average loss", f"{money(t.get('average_loss'))} ({pct(t.get('average_loss_pct_nav'))})"],
        ["expectancy", f"{money(t.get('expectancy'))} ({pct(t.get('expectancy_pct_nav'))})"],
        ["profit factor", num(summary.get("profit_factor"))],
    ]
    for label in ("best", "worst"):
        b = t.get(label)
        if b:
            rows.append([f"{label} trade", f"#{b['id']} {b['entry_date']}: {money(b['pnl'])}"])
    rows.append(
        [
            "average hold",
            f"{num(t.get('average_sessions_held'), 1)} sessions "
            f"({num(t.get('average_days_held'), 1)} days)",
        ]
    )
    held = t.get("open_positions") or {}
    if held.get("tranches"):
        rows.append(
            [
                "open",
                f"{held['shares']:,} shares, unrealised {money(held['unrealised_pnl'])}",
            ]
        )
    trade_block = table_html(["", ""], rows, text_columns=[0, 1])
    exits = summary.get("exits_by_reason") or {}
    exit_block = table_html(["exit reason", "trades"], sorted(exits.items()), text_columns=[0])
    fees = summary["fees_paid"]
    fee_rows: list[list[Any]] = [
        [k.replace("_", " "), money(v)] for k, v in fees["by_kind"].items()
    ]
    fee_rows.append(["total", money(fees["total"])])
    fee_block = table_html(["fee", "paid"], fee_rows, text_columns=[0])
    alarms = summary.get("line_alarms") or {}
    if alarms:
        line_block = table_html(
            ["risk line", "alarms", "sessions in alarm", "sessions unknown"],
            [
                [k, v["alarms"], f"{v['sessions_in_alarm']:,}", f"{v['sessions_unknown']:,}"]
                for k, v in alarms.items()
            ],
            text_columns=[0],
        )
    else:
        line_block = '<p class="note">no risk lines configured</p>'
    stages = summary.get("sessions_by_stage") or {}
    stage_block = table_html(
        ["stage", "sessions", "tranches"],
        [[k, f"{v:,}", summary.get("tranches_by_stage", {}).get(k, 0)] for k, v in stages.items()],
    )
    blocks = [
        ("trades", trade_block),
        ("exits by reason", exit_block),
        ("fees by kind", fee_block),
        ("risk lines", line_block),
        ("stages", stage_block),
    ]
    return (
        '<div class="grid2">'
        + "".join(f"<div><h3>{esc(title)}</h3>{block}</div>" for title, block in blocks)
        + "</div>"
    )


def _drawdown_table(stats: dict[str, Any]) -> str:
    longest = (stats.get("drawdowns") or {}).get("longest") or []
    rows = [
        [
            n,
            d["peak"],
            d["trough"],
            d["recovered"] or "not recovered",
            pct(d["depth"]),
            f"{d['days']:,}",
            f"{d['sessions']:,}",
        ]
        for n, d in enumerate(longest, start=1)
    ]
    if not rows:
        return '<p class="note">never under water</p>'
    return table_html(["#", "peak", "trough", "recovered", "depth", "days", "sessions"], rows)


def run_page(result: BacktestResult, summary: dict[str, Any]) -> str:
    """The whole report.html of a run."""
    stats = summary.get("statistics") or {}
    records = trade_records(result.trades, result.decisions)
    cfg = result.config
    title = f"{cfg.instrument.symbol} {summary['start']} to {summary['end']}"
    subtitle = (
        f"config {summary['config_hash'][:12]}, xmtrade {summary['xmtrade_version']}; "
        f"{summary['sessions']:,} sessions, NAV {money(summary['initial_nav'], 0)} to "
        f"{money(summary['final_nav'])}"
    )
    body = [
        result.page_sections,  # a paper account's own sections (xmtrade/paper/page_sections.py)
        _cards(summary, stats),
        section(
            "Price, trades and why",
            '<p class="note">Hover a triangle for the decision record (signals, gate figures '
            "and their reports, sizing, stop); click it to show the full record below. Shading: "
            "the stage held. Drag to zoom, double-click to reset.</p>"
            + figure_div(price_figure(result, records), "price-plot", 640)
            + '<pre id="decision">click an entry or exit to show its decision record</pre>',
            "price",
        ),
        section(
            "Equity against buy and hold (one axis, growth of 100)",
            figure_div(equity_figure(result, stats), "equity-plot", 420),
            "equity",
        ),
        section(
            "Underwater",
            figure_div(underwater_figure(result, stats), "underwater-plot", 300)
            + _drawdown_table(stats),
            "underwater",
        ),
        section("Returns by month and year", returns_table(stats), "returns"),
        section("Figures", _small_tables(summary, stats), "figures"),
        section(
            f"Trades ({len(result.trades)}; click a header to sort)",
            f'<div class="scroll">{trades_table(result.trades)}</div>',
            "trades-section",
        ),
        section(
            f"Config {summary['config_hash']}",
            f"<details><summary>config.yaml</summary><pre>{esc(cfg.to_yaml())}</pre></details>"
            f"<details><summary>summary.json</summary><pre>"
            f"{esc(json.dumps(summary, indent=2, default=str))}</pre></details>",
            "config",
        ),
    ]
    data = {"records": {str(k): v for k, v in records.items()}}
    return page(title, subtitle, "".join(body), CLICK_SCRIPT, data)


def write_run_page(result: BacktestResult, summary: dict[str, Any], path: Path) -> None:
    """Write report.html of a run."""
    write_page(path, run_page(result, summary))
