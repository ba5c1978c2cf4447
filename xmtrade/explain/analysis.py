"""The explanation's tables from the confirmed runs: one row per run and span (return, CAGR,
Sharpe, max drawdown, exposure, trades, fees, the difference to the plan with its interval),
the plan against buy and hold at its average weight, its deflated Sharpe ratio, and the
summary in words."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xmtrade.explain.runs import RunRecord, Trade
from xmtrade.explain.spans import Span
from xmtrade.explain.statistics import (
    Interval,
    generator,
    held_at_weight,
    paired_interval,
    plan_sharpe,
    total_return,
)
from xmtrade.explain.variants import PLAN, Variant


@dataclass(frozen=True)
class Row:
    """One run over one span."""

    name: str
    label: str
    span: str
    total_return: float
    cagr: float | None
    sharpe: float | None
    max_drawdown: float
    exposure: float
    trades: int  # tranches opened in the span
    fees: float  # their fees (entry and exit)
    versus: Interval  # variant minus plan; for the plan, plan minus buy and hold at its weight

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "span": self.span,
            "total_return": _r(self.total_return),
            "cagr": _r(self.cagr),
            "sharpe": _r(self.sharpe),
            "max_drawdown": _r(self.max_drawdown),
            "exposure": _r(self.exposure),
            "trades": self.trades,
            "fees": round(self.fees, 2),
            ("excess_over_buy_and_hold" if self.name == PLAN else "diff_to_plan"): (
                self.versus.as_dict()
            ),
        }


@dataclass(frozen=True)
class Explanation:
    """Everything `xmtrade explain` reports."""

    variants: list[Variant]
    records: dict[str, RunRecord]
    spans: list[Span]
    rows: dict[str, list[Row]]  # by span name, plan first
    average_weight: float
    benchmark: dict[str, Any]  # buy and hold at the plan's average weight, whole window
    sharpe: dict[str, Any] | None
    summary: list[str]
    seed: int
    resamples: int


def _r(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 8)


def _span_row(
    name: str,
    label: str,
    record: RunRecord,
    span: Span,
    versus: Interval,
    initial_nav: float,
) -> Row:
    cut = slice(span.first, span.last + 1)
    returns = np.asarray(record.returns)[cut]
    nav = record.nav[cut]
    before = initial_nav if span.first == 0 else float(record.nav[span.first - 1])
    peaks = np.maximum.accumulate(np.concatenate(([before], nav)))
    drawdown = float((np.concatenate(([before], nav)) / peaks - 1.0).min())
    growth = total_return(returns)
    days = (span.end - span.start).days
    cagr = (1 + growth) ** (365.25 / days) - 1 if days > 0 and growth > -1 else None
    excess = returns - record.risk_free[cut]
    sd = float(returns.std(ddof=1)) if len(returns) > 1 else 0.0
    sharpe = float(excess.mean()) / sd * math.sqrt(record.periods_per_year) if sd > 0 else None
    opened = [t for t in record.trades if span.start <= t.entry_date <= span.end]
    return Row(
        name=name,
        label=label,
        span=span.name,
        total_return=growth,
        cagr=cagr,
        sharpe=sharpe,
        max_drawdown=drawdown,
        exposure=float((record.weight[cut] > 0).mean()),
        trades=len(opened),
        fees=float(sum(t.fees for t in opened)),
        versus=versus,
    )


class Bootstraps:
    """The intervals of every run and span, worked out as the runs come in (while the
    workers still run the others): a variant's as soon as it and the plan are both done."""

    def __init__(self, spans: Sequence[Span], resamples: int, seed: int) -> None:
        self.spans = list(spans)
        self.resamples = resamples
        self.seed = seed
        self.records: dict[str, RunRecord] = {}
        self.intervals: dict[tuple[str, str], Interval] = {}
        self.held: np.ndarray | None = None

    def add(self, record: RunRecord) -> None:
        """Take one confirmed run; compute what it completes."""
        name = record.key[1]
        self.records[name] = record
        if PLAN not in self.records:
            return
        for other in list(self.records):
            if (other, self.spans[0].name) not in self.intervals:
                self._compute(other)

    def _compute(self, name: str) -> None:
        plan = self.records[PLAN]
        plan_returns = np.asarray(plan.returns)
        if name == PLAN:
            self.held = held_at_weight(plan.close, plan.risk_free, float(plan.weight.mean()))
            theirs, ours = self.held, plan_returns
        else:
            theirs, ours = plan_returns, np.asarray(self.records[name].returns)
        for span in self.spans:
            cut = slice(span.first, span.last + 1)
            self.intervals[(name, span.name)] = paired_interval(
                ours[cut], theirs[cut], self.resamples, generator(self.seed, name, span.name)
            )

    def interval(self, name: str, span: Span) -> Interval:
        """The interval of a run over a span (computed now if it was not yet)."""
        if (name, span.name) not in self.intervals:
            self._compute(name)
        return self.intervals[(name, span.name)]


def explain(
    variants: Sequence[Variant],
    records: dict[str, RunRecord],
    spans: Sequence[Span],
    initial_nav: float,
    resamples: int,
    seed: int,
    bootstraps: Bootstraps | None = None,
) -> Explanation:
    """The tables of every span, the plan's benchmark and deflated Sharpe, and the summary
    (with the intervals `bootstraps` already holds, the rest computed here)."""
    boot = bootstraps or Bootstraps(spans, resamples, seed)
    for record in records.values():
        if record.key[1] not in boot.records:
            boot.add(record)
    plan = records[PLAN]
    plan_returns = np.asarray(plan.returns)
    weight = float(plan.weight.mean())
    held = held_at_weight(plan.close, plan.risk_free, weight)
    rows: dict[str, list[Row]] = {}
    for span in spans:
        excess = boot.interval(PLAN, span)
        span_rows = [_span_row(PLAN, "plan", plan, span, excess, initial_nav)]
        for variant in variants:
            record = records[variant.name]
            interval = boot.interval(variant.name, span)
            span_rows.append(
                _span_row(variant.name, variant.label, record, span, interval, initial_nav)
            )
        rows[span.name] = span_rows
    trials = [(np.asarray(r.returns), r.risk_free) for r in records.values()]
    whole = rows[spans[0].name]
    benchmark = {
        "average_weight": _r(weight),
        "total_return": _r(total_return(held)),
        "excess": whole[0].versus.as_dict(),
    }
    sharpe = plan_sharpe(plan_returns, plan.risk_free, trials)
    summary = summarize(variants, records, whole)
    return Explanation(
        variants=list(variants),
        records=records,
        spans=list(spans),
        rows=rows,
        average_weight=weight,
        benchmark=benchmark,
        sharpe=sharpe,
        summary=summary,
        seed=seed,
        resamples=resamples,
    )


# ---------------------------------------------------------------------- the summary in words


def pp(value: float | None, digits: int = 2) -> str:
    """A fraction as signed percentage points: 0.0123 -> +1.23 pp."""
    if value is None:
        return "n/a"
    shown = f"{value * 100:+.{digits}f}"
    while float(shown) == 0 and value != 0 and digits < 4:  # a small value keeps its sign
        digits += 1
        shown = f"{value * 100:+.{digits}f}"
    if float(shown) == 0:
        return f"±{0:.2f} pp"
    return shown.replace("-", "−") + " pp"


def verdict(contribution: Interval) -> str:
    """What the interval of a contribution says, in words."""
    if contribution.identical:
        return "no difference at all"
    if contribution.low is not None and contribution.low > 0:
        return "it helped, beyond what luck explains at 95%"
    if contribution.high is not None and contribution.high < 0:
        return "it hurt, beyond what luck explains at 95%"
    return "not distinguishable from zero"


def _key(trade: Trade) -> tuple[int, Any]:
    return trade.stage, trade.entry_date


def _kind(trades: Sequence[Trade]) -> str:
    stages = sorted({t.stage for t in trades})
    if stages == [1]:
        return "stage-1 trade" if len(trades) == 1 else "stage-1 trades"
    if 1 not in stages:
        names = "/".join(str(s) for s in stages)
        return f"stage-{names} add" if len(trades) == 1 else f"stage-{names} adds"
    return "trade" if len(trades) == 1 else "trades"


def _describe(trades: Sequence[Trade]) -> str:
    closed = [t for t in trades if t.pnl is not None]
    losing = sum(1 for t in closed if t.pnl is not None and t.pnl <= 0)
    pnl = sum(t.pnl for t in closed if t.pnl is not None)
    count, still_open = len(trades), len(trades) - len(closed)
    if closed and losing == len(closed) == count:
        head = f"{count} losing {_kind(trades)}"
    elif closed and losing == 0 and len(closed) == count:
        head = f"{count} winning {_kind(trades)}"
    else:
        parts = [f"{losing} losing"] if closed else []
        parts += [f"{still_open} still open"] if still_open else []
        head = f"{count} {_kind(trades)} ({', '.join(parts)})"
    return (
        f"{head}, P&L of the closed {_money(pnl)}"
        if closed and still_open
        else (f"{head}, P&L {_money(pnl)}" if closed else head)
    )


def _money(value: float) -> str:
    sign = "−" if value < 0 else ""
    return f"{sign}HK${abs(value):,.0f}"


def summarize(
    variants: Sequence[Variant], records: dict[str, RunRecord], whole: Sequence[Row]
) -> list[str]:
    """One sentence per rule: what it changed in trades, its contribution (plan minus
    variant) over the whole window with its interval, and whether that is told from zero."""
    plan = records[PLAN]
    ours = {_key(t): t for t in plan.trades}
    by_name = {r.name: r for r in whole}
    lines = []
    for variant in variants:
        record = records[variant.name]
        theirs = {_key(t): t for t in record.trades}
        removed = [t for k, t in theirs.items() if k not in ours]  # the rule kept us out
        added = [t for k, t in ours.items() if k not in theirs]  # the rule brought these
        contribution = by_name[variant.name].versus.flipped()
        if contribution.identical:
            lines.append(
                f"{variant.rule} never changed a decision here: without it the run is the "
                "plan's, session for session"
            )
            continue
        parts = []
        if variant.name == "zero_costs":
            parts.append(f"costs took {_money(by_name[PLAN].fees)} in fees, plus slippage")
        else:
            if removed:
                parts.append(f"{variant.rule} removed {_describe(removed)}")
            if added:
                parts.append(f"{'it' if removed else variant.rule} added {_describe(added)}")
            if not parts:
                parts.append(f"{variant.rule} changed the same trades' prices or sizes")
        interval = (
            f"{pp(contribution.low)} .. {pp(contribution.high)}"
            if contribution.low is not None
            else "n/a"
        )
        lines.append(
            f"{'; '.join(parts)}; contribution {pp(contribution.diff)}, interval "
            f"{interval}: {verdict(contribution)}"
        )
    return lines
