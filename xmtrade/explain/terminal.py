"""The explanation in the terminal: the whole window's rows, the contributions by year (and
regime), the plan against buy and hold, and the summary in words, drawn with rich."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from xmtrade.explain.analysis import Explanation, pp
from xmtrade.explain.variants import PLAN
from xmtrade.reports.terminal import console, money, num, pct

if TYPE_CHECKING:
    from rich.table import Table


def rows_table(explanation: Explanation) -> Table:
    """The whole window: one row per run, the difference to the plan and its interval."""
    from rich.table import Table

    span = explanation.spans[0]
    table = Table(
        title=f"plan and variants, {span.start} .. {span.end} ({span.sessions:,} sessions); "
        "Δ: total return minus the plan's (the plan: minus buy and hold at its weight)",
        title_justify="left",
        header_style="bold",
    )
    for name in ("run", "return", "CAGR", "Sharpe", "max DD", "exposure", "trades", "fees",
                 "Δ pp", "95% interval", "P(Δ>0)", "block"):  # fmt: skip
        table.add_column(name, justify="left" if name == "run" else "right", no_wrap=True)
    for row in explanation.rows[span.name]:
        v = row.versus
        table.add_row(
            "plan" if row.name == PLAN else row.label,
            pct(row.total_return),
            pct(row.cagr),
            num(row.sharpe),
            pct(row.max_drawdown),
            pct(row.exposure),
            f"{row.trades:,}",
            money(row.fees, 0),
            _bare(v.diff),
            "identical" if v.identical else f"{_bare(v.low)} .. {_bare(v.high)}",
            num(v.p_above),
            num(v.block, 1),
        )
    return table


def _bare(value: float | None) -> str:
    return pp(value).removesuffix(" pp")


def spans_table(explanation: Explanation, kind: str, title: str) -> Table | None:
    """Each rule's contribution (plan minus variant, pp) in each span of `kind`."""
    from rich.table import Table

    spans = [s for s in explanation.spans if s.kind == kind]
    if not spans:
        return None
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("rule", justify="left", no_wrap=True)
    for span in spans:
        table.add_column(span.name, justify="right", no_wrap=True)
    plan_cells = [pct(explanation.rows[s.name][0].total_return) for s in spans]
    table.add_row("plan's return", *plan_cells)
    for variant in explanation.variants:
        cells = []
        for span in spans:
            row = next(r for r in explanation.rows[span.name] if r.name == variant.name)
            c = row.versus.flipped()
            told = c.low is not None and c.high is not None and (c.low > 0 or c.high < 0)
            text = "·" if c.identical else _bare(c.diff)
            cells.append(f"[bold]{text}*[/bold]" if told else text)
        table.add_row(variant.rule, *cells)
    return table


def print_explanation(explanation: Explanation, stream: TextIO | None = None) -> None:
    """Every table and the summary."""
    out = console(stream)
    out.print(rows_table(explanation))
    for kind, title in (
        ("year", "contribution by calendar year (pp; * the 95% interval excludes 0; · identical)"),
        ("regime", "contribution by regime (pp; * the 95% interval excludes 0; · identical)"),
    ):
        table = spans_table(explanation, kind, title)
        if table is not None:
            out.print(table)
    plan = explanation.rows[explanation.spans[0].name][0]
    bench = explanation.benchmark
    sharpe = explanation.sharpe or {}
    excess = plan.versus
    out.print(
        f"plan {pct(plan.total_return)} against buy and hold at its average weight "
        f"({pct(bench['average_weight'])}) {pct(bench['total_return'])}: excess "
        f"{pp(excess.diff)}"
        + ("" if excess.identical else f", interval {pp(excess.low)} .. {pp(excess.high)}")
        + f"; deflated Sharpe ratio {num(sharpe.get('dsr'))} over {sharpe.get('trials', 0)} "
        f"configurations, PSR(0) {num(sharpe.get('psr'))}",
        soft_wrap=True,
    )
    for line in explanation.summary:
        out.print(f"- {line}", soft_wrap=True, markup=False)
    alone = [
        f"{name}: {r.engine}"
        for name, r in explanation.records.items()
        if r.engine.startswith("backtrader only")
    ]
    for line in alone:
        out.print(line, soft_wrap=True, markup=False)
