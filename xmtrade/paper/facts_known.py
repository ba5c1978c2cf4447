"""When a paper account knew a fact: facts entered late are facts known late.

A backtest uses a figure from the session its announcement makes it usable from. A paper
account can only use a figure from the first session a step processes after the figure was in
the facts file: a row a step finds after the announcement's session was already processed is
used from the next session that step processes (recorded in `paper_facts_late`), so nothing
already processed changes and a decision at t never reads a row entered after t.

Also the words for a partial quarter: the gate metrics a new quarter still lacks, and what the
gate reads meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

from data_feeds.fundamentals import Fact, PointInTimeFacts, scan_facts
from xmtrade.paper.accounts import LateFact
from xmtrade.reports.terminal import counted

if TYPE_CHECKING:
    from data_feeds.calendar import SessionCalendar
    from xmtrade.config import AppConfig

HKT = "Asia/Hong_Kong"

FactKey = tuple[str, str, date]

# what each gate test reads, in the facts file's metric names
GATE_METRICS = {
    "ev_gross_margin_pct": "ev_gross_margin",
    "ev_annualised_deliveries": "ev_deliveries",
}


def key_of(fact: Fact) -> FactKey:
    """A facts row's identity: metric, period and announcement date (unique in a file)."""
    return (fact.metric, fact.period, fact.announced)


def find_late_facts(
    prior_content: str | None,
    facts: Sequence[Fact],
    pit: PointInTimeFacts,
    first_unprocessed: date | None,
    recorded_at: str,
) -> list[LateFact]:
    """The rows of `facts` that are new since `prior_content` (the facts file the last
    committed step used) and whose announcement made them usable before `first_unprocessed`
    (the first session this step can still decide on): each is used from that session."""
    if prior_content is None or first_unprocessed is None:
        return []
    known = {key_of(f) for f in scan_facts(prior_content, "the ledger's facts file").facts}
    out = []
    for fact in facts:
        if key_of(fact) in known:
            continue
        usable = pit.announced_usable_from(fact)
        if usable < first_unprocessed:
            out.append(
                LateFact(
                    metric=fact.metric,
                    period=fact.period,
                    announced=fact.announced,
                    usable_from=usable,
                    first_session=first_unprocessed,
                    recorded_at=recorded_at,
                )
            )
    return out


def known_from(late: Iterable[LateFact]) -> dict[FactKey, date]:
    """The `PointInTimeFacts(known_from=...)` mapping of the late rows."""
    return {(f.metric, f.period, f.announced): f.first_session for f in late}


def _hkt_day(stamp: str) -> date:
    from zoneinfo import ZoneInfo

    try:
        return datetime.fromisoformat(stamp).astimezone(ZoneInfo(HKT)).date()
    except ValueError:
        return date.fromisoformat(stamp[:10])


def late_lines(late: Sequence[LateFact]) -> list[str]:
    """One line per quarter entered late: `2025Q4 (revenue, gross_margin) entered
    2026-03-25, a day after its announcement (2026-03-24): used from 2026-03-25; a backtest
    uses it from 2026-03-24`."""
    groups: dict[tuple[str, date, date, date, date], list[str]] = {}
    for f in late:
        key = (f.period, f.announced, f.usable_from, f.first_session, _hkt_day(f.recorded_at))
        groups.setdefault(key, []).append(f.metric)
    out = []
    for (period, announced, usable, first, entered), metrics in groups.items():
        days = (entered - announced).days
        after = (
            "on the day of its announcement"
            if days <= 0
            else f"{'a day' if days == 1 else counted(days, 'day')} after its announcement"
        )
        names = ", ".join(sorted(metrics))
        out.append(
            f"{period} ({names}) entered {entered}, {after} ({announced}): used from {first} "
            f"(a backtest uses it from {usable})"
        )
    return out


def differing_sessions(late: Sequence[LateFact], sessions: Sequence[date]) -> dict[date, list[str]]:
    """The processed sessions on which the account and a backtest may decide differently
    because a fact was entered late, each with the quarters behind it."""
    out: dict[date, list[str]] = {}
    for f in late:
        for day in sessions:
            if f.usable_from <= day < f.first_session:
                reasons = out.setdefault(day, [])
                what = f"{f.period} entered late (used from {f.first_session})"
                if what not in reasons:
                    reasons.append(what)
    return dict(sorted(out.items()))


def partial_quarter_lines(cfg: AppConfig, pit: PointInTimeFacts) -> list[str]:
    """For the newest quarter in the facts file: the gate metrics it still lacks and what the
    gate reads until they are entered (empty when the gate has every figure)."""
    from strategies.fundamental_state import FundamentalTimeline

    reports = pit.reports(date.max)
    if not reports:
        return []
    newest = reports[-1]
    timeline = FundamentalTimeline(pit, cfg)
    verdict = timeline.verdict(newest)
    missing = []
    for test in verdict.tests:
        if test.passed is not None:
            continue
        metric = GATE_METRICS.get(test.name)
        if metric is not None:
            missing.append(metric)
        else:
            note = (test.source or {}).get("note")
            missing.append(f"the figures of {test.name}" + (f" ({note})" if note else ""))
    if not missing:
        return []
    present = sorted({f.metric for f in pit.facts if f.period == newest.period})
    if verdict.counts_as_pass:
        meanwhile = (
            f"meanwhile the gate counts {newest.period} as passing on its known tests "
            "(gate.on_unknown: pass)"
        )
    else:
        meanwhile = (
            f"meanwhile the gate reads {newest.period} as unknown: the streak of passing "
            "reports restarts at 0 and stages 2 and 3 wait "
            f"(gate.on_unknown: {cfg.gate.on_unknown})"
        )
    return [
        f"{newest.period} is partial ({', '.join(present)} entered): the gate still needs "
        f"{', '.join(missing)}; {meanwhile}"
    ]


def timeline_for(
    cfg: AppConfig, calendar: SessionCalendar, facts: Sequence[Fact], late: Iterable[LateFact]
) -> PointInTimeFacts:
    """The account's point-in-time facts: the announcement rule, each late row from the
    session the account first could use it."""
    return PointInTimeFacts(facts, calendar, cfg.fundamentals.decision_time, known_from(late))
