"""What the fundamentals say at each decision: the gate on every quarterly report (as of its
own announcement), the streak of consecutive passing reports, each risk line's state, and the
revenue per share behind the P/S ceiling. Everything is point in time and cached per change
session, so a backtest asks for it every session at no cost."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from data_feeds.derived import (
    RoicResult,
    best_quarter,
    latest_shares_outstanding,
    roic,
    ttm,
    wacc_pct,
    yoy_change,
)
from data_feeds.fundamentals import FactsSnapshot, PointInTimeFacts, QuarterlyReport
from risk.lines import LineState, Reading, evaluate_lines, strongest_action

if TYPE_CHECKING:
    from xmtrade.config import AppConfig

Verdict = Literal["pass", "fail", "unknown"]
RMB_MILLION = 1_000_000  # facts in RMB_m


@dataclass(frozen=True)
class GateTest:
    """One test of the gate on one report."""

    name: str
    value: float | None
    op: str
    threshold: float
    passed: bool | None  # None: the figure is unknown
    source: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "test": self.name,
            "value": self.value,
            "condition": f"{self.op} {self.threshold:g}",
            "passed": self.passed,
            **self.source,
        }


@dataclass(frozen=True)
class ReportVerdict:
    """The gate on one quarterly report, judged on what was known when it became usable."""

    period: str
    announced: date
    usable_from: date
    verdict: Verdict
    counts_as_pass: bool
    tests: tuple[GateTest, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "announced": self.announced,
            "usable_from": self.usable_from,
            "verdict": self.verdict,
            "counts_as_pass": self.counts_as_pass,
            "tests": [t.as_dict() for t in self.tests],
        }


@dataclass(frozen=True)
class FundamentalState:
    """Everything fundamental a decision may use, as known at one session's decision."""

    as_of: date
    reports: tuple[ReportVerdict, ...]
    streak: int  # consecutive passing reports ending with the newest
    lines: dict[int, LineState]
    action: str | None  # what the lines demand together: exit, trim, block or None
    revenue_per_share_rmb: float | None
    revenue_detail: dict[str, Any]

    @property
    def newest(self) -> ReportVerdict | None:
        return self.reports[-1] if self.reports else None

    def streak_reports(self) -> list[str]:
        return [r.period for r in self.reports[len(self.reports) - self.streak :]]

    def context(self, today: date, stale_after_days: int) -> dict[str, Any]:
        """The compact view written into each decision record."""
        newest = self.newest
        age = (today - newest.announced).days if newest else None
        return {
            "newest_report": None
            if newest is None
            else {"period": newest.period, "announced": newest.announced, "age_days": age},
            "stale": age is None or age > stale_after_days,
            "gate": None
            if newest is None
            else {"verdict": newest.verdict, "tests": [t.as_dict() for t in newest.tests]},
            "consecutive_passes": self.streak,
            "passing_reports": self.streak_reports(),
            "lines": {f"line{n}": s.status for n, s in self.lines.items()},
            "lines_action": self.action,
        }


class FundamentalTimeline:
    """The fundamental state on any session, computed once per change in what is known."""

    def __init__(self, facts: PointInTimeFacts, config: AppConfig) -> None:
        self.facts = facts
        self.cfg = config
        in_force = {r.active_from for r in config.risk.rules if r.active_from is not None}
        self._changes = sorted(set(facts.change_sessions()) | in_force)
        self._states: dict[date, FundamentalState] = {}
        self._verdicts: dict[tuple[str, date], ReportVerdict] = {}
        gate = config.gate
        capm = gate.wacc.capm
        self.wacc = wacc_pct(
            method=gate.wacc.method,
            fixed_pct=gate.wacc.fixed_pct,
            risk_free_pct=capm.risk_free_pct,
            beta=capm.beta,
            equity_risk_premium_pct=capm.equity_risk_premium_pct,
            cost_of_debt_pct=capm.cost_of_debt_pct,
            tax_rate_pct=capm.tax_rate_pct,
            debt_weight_pct=capm.debt_weight_pct,
        )
        self._initial = self._build(date.min, None)  # before anything is known
        self._build_all()

    def change_point(self, session: date) -> date | None:
        """The last day on or before `session` at which what is known changed, or a rule came
        into force."""
        at = bisect.bisect_right(self._changes, session)
        return self._changes[at - 1] if at else None

    def at(self, session: date) -> FundamentalState:
        """The state at the decision after the close of `session`."""
        point = self.change_point(session)
        return self._initial if point is None else self._states[point]

    # ------------------------------------------------------------------ building

    def _build_all(self) -> None:
        """Every state in order, so an alarm can be held from one change to the next."""
        previous = self._initial
        for point in self._changes:
            previous = self._states[point] = self._build(point, previous.lines)

    def _build(self, session: date, previous: dict[int, LineState] | None) -> FundamentalState:
        snapshot = self.facts.as_of(session)
        reports = [self.verdict(r) for r in self.facts.reports(session)]
        streak = 0
        for verdict in reversed(reports):
            if not verdict.counts_as_pass:
                break
            streak += 1
        history = [self.facts.as_of(r.usable_from) for r in reports[:-1]] + [snapshot]
        lines = evaluate_lines(self.cfg.risk.rules, session, history, self.read, previous)
        action = strongest_action(lines, unknown_blocks=self.cfg.risk.on_unknown == "block")
        revenue, detail = self._revenue_per_share(snapshot)
        return FundamentalState(
            as_of=session,
            reports=tuple(reports),
            streak=streak,
            lines=lines,
            action=action,
            revenue_per_share_rmb=revenue,
            revenue_detail=detail,
        )

    def verdict(self, report: QuarterlyReport) -> ReportVerdict:
        """The gate on one report, as of the decision it first became usable at."""
        key = (report.period, report.usable_from)
        cached = self._verdicts.get(key)
        if cached is not None:
            return cached
        gate = self.cfg.gate
        snap = self.facts.as_of(report.usable_from)
        tests = [
            _test(
                "ev_gross_margin_pct",
                snap.value("ev_gross_margin", report.period),
                ">=",
                gate.ev_gross_margin_min_pct,
                {"period": report.period},
            )
        ]
        if gate.ev_scale.enabled:
            deliveries = snap.value("ev_deliveries", report.period)
            tests.append(
                _test(
                    "ev_annualised_deliveries",
                    None if deliveries is None else deliveries * 4,
                    ">=",
                    gate.ev_scale.min_annualised_deliveries,
                    {"period": report.period},
                )
            )
        spread = self.read("roic_minus_wacc_pp", snap)
        tests.append(
            _test(
                "roic_minus_wacc_pp", spread.value, ">", gate.roic_wacc_spread_min_pp, spread.detail
            )
        )
        known = [t for t in tests if t.passed is not None]
        if any(t.passed is False for t in tests):
            verdict: Verdict = "fail"
        elif len(known) == len(tests):
            verdict = "pass"
        else:
            verdict = "unknown"
        counts = (
            not gate.enabled
            or verdict == "pass"
            or (verdict == "unknown" and gate.on_unknown == "pass" and bool(known))
        )
        result = ReportVerdict(
            period=report.period,
            announced=report.announced,
            usable_from=report.usable_from,
            verdict=verdict,
            counts_as_pass=counts,
            tests=tuple(tests),
        )
        self._verdicts[key] = result
        return result

    def roic(self, snapshot: FactsSnapshot) -> RoicResult:
        """The ROIC the gate and the lines read from `snapshot`, with the figures behind it."""
        return roic(snapshot, fiscal_year=None, invested_capital=self.cfg.gate.invested_capital)

    def read(self, metric: str, snapshot: FactsSnapshot) -> Reading:
        """A metric's value in a snapshot: a quarterly fact's latest quarter or a derived figure."""
        if metric in ("roic_pct", "roic_minus_wacc_pp"):
            result = self.roic(snapshot)
            detail: dict[str, Any] = {
                "fiscal_year": result.year,
                "roic_pct": result.value_pct,
                "invested_capital": self.cfg.gate.invested_capital,
                "note": result.note,
            }
            if result.value_pct is None:
                return Reading(None, detail)
            if metric == "roic_pct":
                return Reading(round(result.value_pct, 4), detail)
            detail["wacc_pct"] = self.wacc
            return Reading(round(result.value_pct - self.wacc, 4), detail)
        if metric == "gross_margin_yoy_pp":
            change = yoy_change(snapshot, "gross_margin")
            if change is None:
                return Reading(None, {"note": "no quarter with the same quarter a year earlier"})
            return Reading(round(change.change, 4), change.as_dict())
        if metric == "ev_segment_result_best":
            best = best_quarter(snapshot, "ev_segment_result")
            if best is None:
                return Reading(None, {"note": "no EV segment result announced yet"})
            return Reading(best.value, {"period": best.period, "announced": best.announced})
        fact = snapshot.latest(metric)
        if fact is None:
            return Reading(None, {"note": f"no {metric} announced yet"})
        return Reading(fact.value, {"period": fact.period, "announced": fact.announced})

    def _revenue_per_share(self, snapshot: FactsSnapshot) -> tuple[float | None, dict[str, Any]]:
        revenue = ttm(snapshot, "revenue")
        shares = latest_shares_outstanding(snapshot)
        if revenue is None or shares is None:
            missing = "TTM revenue" if revenue is None else "shares outstanding"
            return None, {"note": f"unknown: no {missing}"}
        per_share = revenue.value * RMB_MILLION / shares.value
        return per_share, {
            "ttm_revenue_rmb_m": revenue.value,
            "quarters": list(revenue.periods),
            "shares_outstanding": shares.value,
            "shares_as_of": shares.period,
        }


def _test(
    name: str, value: float | None, op: str, threshold: float, source: dict[str, Any]
) -> GateTest:
    if value is None:
        passed = None
    elif op == ">=":
        passed = value >= threshold
    else:
        passed = value > threshold
    return GateTest(name, value, op, threshold, passed, source)
