"""`facts show --asof D`: what the strategy knew at the decision after the close of session D.

Every figure comes from the strategy's own objects: the `FundamentalTimeline` a backtest builds
(gate verdicts, the passing streak, the risk lines, TTM revenue per share), its ROIC reader and
WACC, and the backtest's HKD/RMB rate, so this view cannot disagree with a decision record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from data_feeds.facts_due import report_days, staleness
from data_feeds.facts_write import format_value

if TYPE_CHECKING:
    from data_feeds.derived import RoicResult
    from data_feeds.fundamentals import SessionLookup
    from strategies.fundamental_state import FundamentalState, FundamentalTimeline, GateTest
    from xmtrade.config import AppConfig


@dataclass(frozen=True)
class FactsView:
    """The state at one decision and the extras the screen shows."""

    asked: date
    session: date
    state: FundamentalState
    timeline: FundamentalTimeline
    roic: RoicResult
    hkd_per_rmb: float
    close: float | None

    def as_dict(self, cfg: AppConfig) -> dict[str, Any]:
        """The decision record's fundamentals context, with the figures behind it."""
        state = self.state
        ceiling = cfg.valuation.ps_ceiling
        per_share = state.revenue_per_share_rmb
        return {
            "asof": self.asked,
            "session": self.session,
            **state.context(self.session, cfg.fundamentals.stale_after_days),
            "lines_detail": {f"line{n}": s.as_dict() for n, s in state.lines.items()},
            "roic": self.roic.as_dict(),
            "wacc_pct": self.timeline.wacc,
            "revenue_per_share_rmb": per_share,
            "revenue_detail": state.revenue_detail,
            "hkd_per_rmb": self.hkd_per_rmb,
            "ps_ceiling": ceiling,
            "ps_ceiling_price_hkd": _ceiling_price(ceiling, per_share, self.hkd_per_rmb),
            "close": self.close,
            "ps": _ps(self.close, per_share, self.hkd_per_rmb),
        }


def _ceiling_price(ceiling: float | None, per_share: float | None, fx: float) -> float | None:
    if ceiling is None or per_share is None or per_share <= 0:
        return None
    return ceiling * per_share * fx


def _ps(close: float | None, per_share: float | None, fx: float) -> float | None:
    """The strategy's P/S: close / (TTM revenue per share in HKD)."""
    if close is None or per_share is None or per_share <= 0:
        return None
    return close / (per_share * fx)


def build_view(
    timeline: FundamentalTimeline,
    cfg: AppConfig,
    asked: date,
    session: date,
    close: float | None,
) -> FactsView:
    """The view of `timeline` at the decision after the close of `session`."""
    from xmtrade.backtest import fx_rate

    state = timeline.at(session)
    return FactsView(
        asked=asked,
        session=session,
        state=state,
        timeline=timeline,
        roic=timeline.roic(timeline.facts.as_of(session)),
        hkd_per_rmb=fx_rate(cfg)(session),
        close=close,
    )


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "unknown"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _test_line(test: GateTest) -> str:
    verdict = {True: "pass", False: "FAIL", None: "unknown"}[test.passed]
    where = ", ".join(
        f"{k} {v}"
        for k, v in test.source.items()
        if k in ("period", "fiscal_year") and v is not None
    )
    return (
        f"    {test.name:<26} {_num(test.value):>12}  {f'{test.op} {test.threshold:g}':<12} "
        f"{verdict}" + (f"  ({where})" if where else "")
    )


def view_lines(view: FactsView, cfg: AppConfig, facts_file: str) -> list[str]:
    """What `facts show` prints."""
    state, timeline = view.state, view.timeline
    out = [f"facts as of the decision after the close of {view.session} ({facts_file})"]
    if view.asked != view.session:
        out.append(f"  ({view.asked} is not a session: the last session on or before it)")
    newest = state.newest
    days = report_days(timeline.facts.facts)
    stale = staleness(
        newest.period if newest else None,
        newest.announced if newest else None,
        view.session,
        cfg.fundamentals.stale_after_days,
        days,
    )
    if newest is None:
        out.append("newest usable report: none (no quarterly report usable yet)")
    else:
        out.append(
            f"newest usable report: {newest.period}, announced {newest.announced}, usable from "
            f"the decision of {newest.usable_from}; {stale.age_days} day(s) old"
            + (" (STALE)" if stale.stale else f" (stale after {stale.limit_days})")
        )
        out.append(
            f"gate on {newest.period} (judged on what was known at {newest.usable_from}): "
            f"{newest.verdict.upper()}"
            + _unknown_counts(newest.verdict, newest.counts_as_pass, cfg)
        )
        out += [_test_line(t) for t in newest.tests]
        earlier = [f"{r.period} {r.verdict}" for r in state.reports[-5:-1]]
        if earlier:
            out.append(f"  earlier reports: {', '.join(earlier)}")
    stages = cfg.stages
    allowed = 1
    if state.streak >= stages.core_after_passes:
        allowed = 2
    if state.streak >= stages.full_after_passes:
        allowed = 3
    allowed = min(allowed, stages.max_stage)
    passing = ", ".join(state.streak_reports()) or "none"
    out.append(
        f"consecutive passing reports: {state.streak} ({passing}); stage 2 needs "
        f"{stages.core_after_passes}, stage 3 needs {stages.full_after_passes}: the gate allows "
        f"up to stage {allowed}"
    )
    out += _roic_lines(view, cfg)
    out += _line_lines(state, cfg)
    out += _valuation_lines(view, cfg)
    if stale.due is not None:
        out.append(
            f"next report due: {stale.due.period}, about {stale.due.expected} ({stale.due.basis})"
        )
    if stale.stale:
        out.append(f"warning: {stale.warning()}")
    return out


def _unknown_counts(verdict: str, counts: bool, cfg: AppConfig) -> str:
    if verdict != "unknown":
        return ""
    how = "a pass" if counts else "a fail"
    return f" (counts as {how}: gate.on_unknown is {cfg.gate.on_unknown})"


def _roic_lines(view: FactsView, cfg: AppConfig) -> list[str]:
    result, wacc = view.roic, view.timeline.wacc
    gate = cfg.gate
    out: list[str] = []
    if result.value_pct is None:
        out.append(f"ROIC: {result.note}")
    else:
        capital = (
            f"average of {_num(result.invested_capital_start, 1)} and "
            f"{_num(result.invested_capital_end, 1)}"
            if result.averaged
            else "year end only"
        )
        out.append(
            f"ROIC FY{result.year}: {result.value_pct:.2f}% = NOPAT {_num(result.nopat, 1)} / "
            f"{result.definition} invested capital {_num(result.invested_capital, 1)} RMB_m "
            f"({capital})"
        )
        out.append(f"  {result.note}")
    if result.facts:
        figures = ", ".join(
            f"{f.metric} {f.period} {format_value(f.value)} (row {f.row})" for f in result.facts
        )
        out.append(f"  figures: {figures}")
    wacc_cfg = gate.wacc
    if wacc_cfg.method == "fixed":
        how = "fixed (gate.wacc.fixed_pct)"
    else:
        c = wacc_cfg.capm
        how = (
            f"CAPM: risk-free {c.risk_free_pct:g}% + beta {c.beta:g} x premium "
            f"{c.equity_risk_premium_pct:g}%, debt {c.debt_weight_pct:g}% at "
            f"{c.cost_of_debt_pct:g}% less tax {c.tax_rate_pct:g}%"
        )
    out.append(f"WACC: {wacc:.2f}% ({how})")
    if result.value_pct is not None:
        spread = result.value_pct - wacc
        out.append(
            f"ROIC - WACC: {spread:.2f} pp (the gate needs > {gate.roic_wacc_spread_min_pp:g})"
        )
    return out


def _line_lines(state: FundamentalState, cfg: AppConfig) -> list[str]:
    if not state.lines:
        return ["risk lines: none configured"]
    action = state.action or "none"
    out = [f"risk lines (together they demand: {action}; risk.on_unknown {cfg.risk.on_unknown}):"]
    for number, line in state.lines.items():
        extra = f", {line.action}" if line.action else ""
        out.append(f"  line{number}: {line.status}{extra}")
        for rule in line.rules:
            readings = "; ".join(
                f"{_num(r.value)}"
                + (f" ({r.detail['period']})" if "period" in r.detail else "")
                + (f" ({r.detail['note']})" if r.value is None and "note" in r.detail else "")
                for r in rule.readings
            )
            out.append(
                f"    {rule.name}: {rule.condition} -> {rule.status} ({rule.action})"
                + (f": {readings}" if readings else "")
            )
    return out


def _valuation_lines(view: FactsView, cfg: AppConfig) -> list[str]:
    state = view.state
    per_share = state.revenue_per_share_rmb
    detail = state.revenue_detail
    if per_share is None:
        return [f"TTM revenue per share: unknown ({detail.get('note', '')})"]
    quarters = detail["quarters"]
    out = [
        f"TTM revenue per share: RMB {per_share:.4f} = {_num(detail['ttm_revenue_rmb_m'], 1)} "
        f"RMB_m ({quarters[0]} .. {quarters[-1]}) / {detail['shares_outstanding']:,.0f} shares "
        f"(as of {detail['shares_as_of']})"
    ]
    ceiling = cfg.valuation.ps_ceiling
    price = _ceiling_price(ceiling, per_share, view.hkd_per_rmb)
    if ceiling is None or price is None:
        out.append("P/S ceiling: off (valuation.ps_ceiling is null)")
    else:
        out.append(
            f"P/S ceiling {ceiling:g}: ceiling price HK${price:.2f} (at {view.hkd_per_rmb:g} HKD "
            "per RMB)"
        )
    ps = _ps(view.close, per_share, view.hkd_per_rmb)
    if view.close is not None and ps is not None:
        side = (
            "above the ceiling: no adds, and a position at stage 2 or more is trimmed to stage 1"
            if ceiling and ps > ceiling
            else ""
        )
        out.append(
            f"close on {view.session}: HK${view.close:g}, P/S {ps:.2f}"
            + (f" ({side})" if side else "")
        )
    return out


def stale_warning(cfg: AppConfig, calendar: SessionLookup, session: date | None) -> str | None:
    """`warning: fundamentals STALE ...` for the decision after the close of `session` (the
    quarter due, when it was expected, the command that adds it), or None when fresh."""
    from data_feeds.errors import DataError
    from data_feeds.facts_due import staleness_at

    if session is None:
        return None
    fundamentals = cfg.fundamentals
    try:
        found = staleness_at(
            fundamentals.file,
            calendar,
            fundamentals.decision_time,
            session,
            fundamentals.stale_after_days,
        )
    except DataError:
        return None  # the facts file's own error is reported by whatever reads it
    return f"warning: {found.warning()}" if found.stale else None


__all__ = ["FactsView", "build_view", "stale_warning", "view_lines"]
