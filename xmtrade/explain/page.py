"""explain.html: the summary in words, each rule's contribution with its interval, the equity
of the plan and every variant on one axis, the per-year contributions as a heatmap centred on
zero, and the tables, in the style (and with the shell) of the other report pages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xmtrade.explain.analysis import Explanation, Row, pp
from xmtrade.explain.variants import PLAN, overrides_text
from xmtrade.reports.page import (
    LOG_SWITCH,
    card,
    diverging,
    esc,
    figure_div,
    page,
    section,
    table_html,
)
from xmtrade.reports.terminal import money, num, pct

if TYPE_CHECKING:
    import plotly.graph_objects as go

PALETTE = (
    "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
)  # fmt: skip
GOOD, BAD, NEUTRAL = "#31a354", "#d73027", "#9ca3af"


def contribution_figure(explanation: Explanation) -> go.Figure:
    """Each rule's contribution (plan minus variant, pp of total return) with its interval."""
    import plotly.graph_objects as go

    whole = explanation.rows[explanation.spans[0].name][1:]
    labels, values, plus, minus, colours, hover = [], [], [], [], [], []
    for row in reversed(whole):
        c = row.versus.flipped()
        labels.append(_rule(explanation, row.name) + (" (identical)" if c.identical else ""))
        values.append(c.diff * 100)
        plus.append(0.0 if c.high is None else (c.high - c.diff) * 100)
        minus.append(0.0 if c.low is None else (c.diff - c.low) * 100)
        told = c.low is not None and c.high is not None and (c.low > 0 or c.high < 0)
        colours.append((GOOD if c.diff > 0 else BAD) if told else NEUTRAL)
        interval = "no difference" if c.low is None else f"{pp(c.low)} .. {pp(c.high)}"
        hover.append(f"{row.label}: {pp(c.diff)} ({interval})")
    fig = go.Figure(
        go.Bar(
            orientation="h",
            x=values,
            y=labels,
            marker={"color": colours},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": plus,
                "arrayminus": minus,
                "color": "#374151",
                "thickness": 1.2,
            },
            hovertext=hover,
            hoverinfo="text",
            name="contribution",
        )
    )
    fig.add_vline(x=0, line={"color": "#111827", "width": 1})
    fig.update_layout(
        xaxis={"title": "contribution to the plan's total return (pp), 95% interval"},
        yaxis={"automargin": True},
        margin={"l": 10, "r": 20, "t": 20, "b": 50},
        showlegend=False,
    )
    return fig


def equity_figure(explanation: Explanation, initial_nav: float) -> go.Figure:
    """The plan and every variant, growth of 100 on one axis (linear / log switch)."""
    import plotly.graph_objects as go

    records = explanation.records
    dates = [d.isoformat() for d in records[PLAN].dates]
    fig = go.Figure()
    for n, variant in enumerate(explanation.variants):
        nav = records[variant.name].nav / initial_nav * 100
        fig.add_trace(
            go.Scatter(
                mode="lines",
                x=dates,
                y=nav,
                name=variant.label,
                line={"color": PALETTE[n % len(PALETTE)], "width": 1},
                hovertemplate=f"%{{x}} {esc(variant.label)} %{{y:.2f}}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            mode="lines",
            x=dates,
            y=records[PLAN].nav / initial_nav * 100,
            name="plan",
            line={"color": "#1f77b4", "width": 2.4},
            hovertemplate="%{x} plan %{y:.2f}<extra></extra>",
        )
    )
    fig.update_layout(
        yaxis={"title": "growth of 100", "type": "linear"},
        hovermode="closest",
        legend={"orientation": "h", "y": -0.12, "yanchor": "top", "x": 0},
        margin={"l": 60, "r": 20, "t": 40, "b": 40},
        updatemenus=LOG_SWITCH,
    )
    return fig


def heatmap_figure(explanation: Explanation, kind: str) -> go.Figure | None:
    """Contribution of each rule (rows) in each span of `kind` (columns), centred on zero."""
    import plotly.graph_objects as go

    spans = [s for s in explanation.spans if s.kind == kind]
    if not spans:
        return None
    rows, text, labels = [], [], []
    for variant in explanation.variants:
        values, words = [], []
        for span in spans:
            row = next(r for r in explanation.rows[span.name] if r.name == variant.name)
            c = row.versus.flipped()
            values.append(round(c.diff * 100, 4))
            if c.identical:
                words.append("same<br>identical to the plan")
            else:
                words.append(f"{pp(c.diff)}<br>{pp(c.low)} .. {pp(c.high)}")
        rows.append(values)
        text.append(words)
        labels.append(_rule(explanation, variant.name))
    scale = max((abs(v) for r in rows for v in r), default=0.0) or 1.0
    fig = go.Figure(
        go.Heatmap(
            z=rows,
            x=[s.name for s in spans],
            y=labels,
            zmid=0,
            zmin=-scale,
            zmax=scale,
            colorscale=[[0, BAD], [0.5, "#ffffff"], [1, GOOD]],
            text=[[w.split("<br>")[0] for w in r] for r in text],
            texttemplate="%{text}",
            customdata=text,
            hovertemplate="%{y}, %{x}: %{customdata}<extra></extra>",
            colorbar={"title": "pp"},
            xgap=1,
            ygap=1,
        )
    )
    fig.update_layout(
        yaxis={"automargin": True, "autorange": "reversed"},
        xaxis={"type": "category"},
        margin={"l": 10, "r": 10, "t": 20, "b": 40},
    )
    return fig


def _rule(explanation: Explanation, name: str) -> str:
    variant = next(v for v in explanation.variants if v.name == name)
    return variant.rule


def rows_table(rows: list[Row], table_id: str) -> str:
    """One span's rows: the figures and the difference to the plan with its interval."""
    columns = ["run", "return", "CAGR", "Sharpe", "max DD", "exposure", "trades", "fees",
               "Δ vs plan", "95% interval", "P(Δ>0)", "block"]  # fmt: skip
    scale = max((abs(r.versus.diff) for r in rows[1:]), default=0.0)
    out = []
    for row in rows:
        v = row.versus
        interval = "identical" if v.identical else f"{pp(v.low)} .. {pp(v.high)}"
        is_plan = row.name == PLAN
        out.append(
            [
                row.label + (" (vs buy and hold at its weight)" if is_plan else ""),
                (pct(row.total_return), row.total_return),
                (pct(row.cagr), row.cagr),
                (num(row.sharpe), row.sharpe),
                (pct(row.max_drawdown), row.max_drawdown),
                (pct(row.exposure), row.exposure),
                row.trades,
                (money(row.fees), row.fees),
                (pp(v.diff), v.diff, "" if is_plan else diverging(v.diff, scale)),
                interval,
                (num(v.p_above), v.p_above),
                (num(v.block, 1), v.block),
            ]
        )
    return table_html(columns, out, sortable=True, text_columns=(0,), table_id=table_id)


def explain_page(explanation: Explanation, doc: dict[str, Any], initial_nav: float) -> str:
    """The whole explain.html."""
    spans = explanation.spans
    whole = explanation.rows[spans[0].name]
    plan = whole[0]
    bench = explanation.benchmark
    sharpe = explanation.sharpe or {}
    title = f"What each rule earns: {doc['symbol']} {doc['start']} to {doc['end']}"
    subtitle = (
        f"config {doc['config_hash'][:12]}, xmtrade {doc['xmtrade_version']}; the plan and "
        f"{len(explanation.variants)} variants, every row confirmed in backtrader; "
        f"{explanation.resamples:,} stationary bootstrap resamples, seed {explanation.seed}, "
        "95% intervals"
    )
    excess = plan.versus
    cards = "".join(
        [
            card("plan", pct(plan.total_return), f"CAGR {pct(plan.cagr)}"),
            card(
                "buy and hold at its weight",
                pct(bench["total_return"]),
                f"average weight {pct(bench['average_weight'])}",
            ),
            card(
                "excess over it",
                pp(excess.diff),
                "identical"
                if excess.identical
                else f"{pp(excess.low)} .. {pp(excess.high)}, P(>0) {num(excess.p_above)}",
                "good" if (excess.low or 0) > 0 else "bad" if (excess.high or 0) < 0 else "",
            ),
            card(
                "deflated Sharpe",
                num(sharpe.get("dsr")),
                f"PSR(0) {num(sharpe.get('psr'))}, {sharpe.get('trials', 0)} trials",
            ),
        ]
    )
    said = "".join(f"<li>{esc(line)}</li>" for line in explanation.summary)
    plan_line = (
        f"The plan returned {pct(plan.total_return)}; buy and hold at the plan's average "
        f"weight ({pct(bench['average_weight'])}) returned {pct(bench['total_return'])}: "
        f"excess {pp(excess.diff)}"
        + ("" if excess.identical else f", interval {pp(excess.low)} .. {pp(excess.high)}")
        + f". Deflated Sharpe ratio {num(sharpe.get('dsr'))} over {sharpe.get('trials', 0)} "
        f"configurations (PSR(0) {num(sharpe.get('psr'))})."
    )
    body = [
        f'<div class="cards">{cards}</div>',
        section(
            "In plain words",
            f'<p>{esc(plan_line)}</p><ul id="summary">{said}</ul>'
            "<p class=\"note\">A contribution is the plan's total return minus the variant's: "
            "what the rule added. Its interval is a 95% stationary block bootstrap of the paired "
            "daily returns; an interval that straddles zero cannot be told from luck.</p>",
            "words",
        ),
        section(
            "What each rule contributes (plan minus variant, whole window)",
            figure_div(
                contribution_figure(explanation),
                "contribution-plot",
                80 + 34 * len(explanation.variants),
            ),
            "contribution",
        ),
        section(
            "Equity of the plan and the variants (one axis, growth of 100)",
            figure_div(equity_figure(explanation, initial_nav), "equity-plot", 480),
            "equity",
        ),
    ]
    years = heatmap_figure(explanation, "year")
    if years is not None:
        body.append(
            section(
                "Contribution by calendar year (pp, centred on zero)",
                figure_div(years, "years-plot", 80 + 34 * len(explanation.variants)),
                "years",
            )
        )
    regimes = heatmap_figure(explanation, "regime")
    if regimes is not None:
        body.append(
            section(
                "Contribution by regime (pp, centred on zero)",
                figure_div(regimes, "regimes-plot", 80 + 34 * len(explanation.variants)),
                "regimes",
            )
        )
    body.append(
        section(
            f"Whole window {spans[0].start} .. {spans[0].end} (click a header to sort)",
            rows_table(whole, "rows-window"),
            "table",
        )
    )
    for n, span in enumerate(spans[1:], start=1):
        body.append(
            "<section><details><summary>"
            f"{esc(span.kind)} {esc(span.name)}: {span.start} .. {span.end} "
            f"({span.sessions:,} sessions)</summary>"
            f"{rows_table(explanation.rows[span.name], f'rows-{n}')}</details></section>"
        )
    definitions = [
        [v.name, v.label, overrides_text(v), explanation.records[v.name].engine, v.source]
        for v in explanation.variants
    ]
    body.append(
        section(
            "The variants",
            table_html(
                ["name", "row", "overrides", "engine", "defined in"],
                definitions,
                text_columns=(2, 3),
            )
            + f'<p class="note">the plan: {esc(explanation.records[PLAN].engine)}. '
            "kernel = backtrader: the run's daily NAV and trades agree to the cent in both "
            "engines; the rows are backtrader's.</p>",
            "variants",
        )
    )
    return page(title, subtitle, "".join(body), "", {"explain": doc})
