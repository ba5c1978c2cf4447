"""`paper run`: one step on every session after the close, with APScheduler 3.

- When: a cron trigger (`paper.schedule`, default 17:15 Mon-Fri, Asia/Hong_Kong) filtered by
  the exchange calendar: holidays and ad-hoc closures never fire; half days run at the usual
  time (their bar is final by then). `next_runs` is the same rule as a pure function.
- While the session's bar is not published, the step is retried with a doubling wait
  (`paper.retry`) until the cutoff; then the run is recorded as "no bar published", or as
  "network unreachable" when the price source could not be reached at all.
- On start-up, the latest slot that has passed is run at once, so whatever was missed while
  the scheduler was down is caught up (a step processes every session it has not seen).
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from data_feeds.calendar import SessionCalendar
from data_feeds.errors import UserInputError
from xmtrade.config import PaperRetryConfig, PaperScheduleConfig
from xmtrade.paper.outcome import StepReport
from xmtrade.reports.terminal import counted

log = logging.getLogger("xmtrade.paper")

# how far back start-up looks for the latest slot that has passed
_LOOK_BACK = timedelta(days=21)


class SessionTrigger(BaseTrigger):
    """The schedule's cron times, on exchange sessions only."""

    def __init__(self, schedule: PaperScheduleConfig, calendar: SessionCalendar) -> None:
        self.zone = ZoneInfo(schedule.timezone)
        self.cron = CronTrigger(
            day_of_week=schedule.day_of_week,
            hour=schedule.hour,
            minute=schedule.minute,
            timezone=self.zone,
        )
        self.calendar = calendar
        self.label = (
            f"{schedule.day_of_week} {schedule.hour:02d}:{schedule.minute:02d} "
            f"{schedule.timezone}, {calendar.code} sessions only"
        )

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The first cron time after the previous one (or at/after `now`) on a session."""
        fire: datetime | None = self.cron.get_next_fire_time(previous_fire_time, now)
        while fire is not None:
            day = fire.astimezone(self.zone).date()
            if day > self.calendar.last_session:
                log.error(
                    "the %s calendar ends at %s: restart `xmtrade paper run` to extend it",
                    self.calendar.code,
                    self.calendar.last_session,
                )
                return None
            if self.calendar.is_session(day):
                return fire
            fire = self.cron.get_next_fire_time(fire, fire)
        return None

    def __str__(self) -> str:
        return f"sessions trigger ({self.label})"

    def __repr__(self) -> str:
        return f"<SessionTrigger ({self.label})>"


def check_schedule(schedule: PaperScheduleConfig, calendar: SessionCalendar) -> None:
    """Refuse a schedule whose days never fall on a session of the calendar (e.g. `sat`)."""
    from xmtrade.errors import ConfigError

    trigger = SessionTrigger(schedule, calendar)
    monday = datetime(2024, 1, 1, tzinfo=trigger.zone)  # a Monday
    days: set[int] = set()
    fire = trigger.cron.get_next_fire_time(None, monday)
    while fire is not None and fire < monday + timedelta(days=7):
        days.add(fire.weekday())
        fire = trigger.cron.get_next_fire_time(fire, fire + timedelta(minutes=1))
    last = calendar.last_session
    sessions = calendar.sessions(max(calendar.first_session, last - timedelta(days=365)), last)
    if not days & {int(d.weekday()) for d in sessions}:
        raise ConfigError(
            "paper.schedule",
            "day_of_week",
            f"no {calendar.code} session falls on {schedule.day_of_week!r}, so the schedule "
            "never runs (sessions are Monday to Friday; the default is mon-fri)",
        )


def next_runs(
    after: datetime, n: int, schedule: PaperScheduleConfig, calendar: SessionCalendar
) -> list[datetime]:
    """The next `n` run times at or after `after` (a naive time is read in the schedule's
    time zone): cron times on sessions only."""
    trigger = SessionTrigger(schedule, calendar)
    if after.tzinfo is None:
        after = after.replace(tzinfo=trigger.zone)
    out: list[datetime] = []
    fire = trigger.get_next_fire_time(None, after)
    while fire is not None and len(out) < n:
        out.append(fire)
        fire = trigger.get_next_fire_time(fire, fire)
    return out


def latest_slot(
    now: datetime, schedule: PaperScheduleConfig, calendar: SessionCalendar
) -> datetime | None:
    """The latest run time at or before `now` (None when there was none lately)."""
    runs = next_runs(now - _LOOK_BACK, 64, schedule, calendar)
    passed = [r for r in runs if r <= now]
    return passed[-1] if passed else None


@dataclass
class SlotOutcome:
    """How one scheduled run ended."""

    session: date
    attempts: int
    report: StepReport | None  # the last attempt's report (None when it failed)
    gave_up: bool = False  # the cutoff passed without the session's bar
    error: str | None = None

    @property
    def unreachable(self) -> bool:
        """The last attempt could not reach the price source (network down), as opposed to
        a source that answered without the session's bar."""
        return self.report is not None and self.report.fetch_failed


def run_slot(
    session: date,
    attempt: Callable[[], StepReport],
    retry: PaperRetryConfig,
    zone: ZoneInfo,
    *,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
    on_report: Callable[[StepReport], None] = lambda report: None,
) -> SlotOutcome:
    """Step until the ledger holds `session`: wait `initial_delay_seconds`, doubling up to
    `max_delay_seconds`, never past the cutoff (a last try is made at the cutoff)."""
    cutoff = datetime.combine(session, retry.cutoff, tzinfo=zone)
    delay = retry.initial_delay_seconds
    attempts = 0
    while True:
        attempts += 1
        try:
            report = attempt()
        except UserInputError as exc:
            log.error("step for %s failed: %s", session, exc.line())
            return SlotOutcome(session, attempts, None, error=exc.line())
        on_report(report)
        if report.up_to_date:
            return SlotOutcome(session, attempts, report)
        why = "the price source is unreachable (network)" if report.fetch_failed else "no bar yet"
        remaining = (cutoff - clock()).total_seconds()
        if remaining <= 0:
            log.warning(
                "%s for %s at the cutoff %s (%s)",
                why,
                session,
                f"{retry.cutoff:%H:%M}",
                counted(attempts, "attempt"),
            )
            return SlotOutcome(session, attempts, report, gave_up=True)
        wait = min(delay, remaining)
        log.info("%s for %s (attempt %d); next try in %.0f s", why, session, attempts, float(wait))
        sleep(wait)
        delay = min(delay * 2, retry.max_delay_seconds)


class PaperService:
    """What the scheduler runs: the latest slot, with retries, logged and notified."""

    def __init__(
        self,
        *,
        step: Callable[[bool], StepReport],
        record_no_bar: Callable[[date, str, str], None],
        notify: Callable[[str, dict[str, Any], str | None], None],
        schedule: PaperScheduleConfig,
        retry: PaperRetryConfig,
        calendar: SessionCalendar,
        max_length: int,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = _time.sleep,
    ) -> None:
        self.step = step
        self.record_no_bar = record_no_bar
        self.notify = notify
        self.schedule = schedule
        self.retry = retry
        self.calendar = calendar
        self.max_length = max_length
        self.zone = ZoneInfo(schedule.timezone)
        self.clock = clock or (lambda: datetime.now(self.zone))
        self.sleep = sleep

    def run_due(self) -> SlotOutcome | None:
        """Run the latest slot that has passed (the one firing now, or the one missed)."""
        now = self.clock()
        slot = latest_slot(now, self.schedule, self.calendar)
        if slot is None:
            log.info("no scheduled session in the last %d days", _LOOK_BACK.days)
            return None
        session = slot.astimezone(self.zone).date()
        log.info("paper step for the session of %s (slot %s)", session, f"{slot:%H:%M %Z}")
        first = [True]

        def attempt() -> StepReport:
            record_idle = first[0]  # retries that find nothing new are not logged as runs
            first[0] = False
            return self.step(record_idle)

        def on_report(report: StepReport) -> None:
            if report.sessions:  # one multi-line block per step that processed sessions
                log.info("%s", "\n".join(report.lines()))
                self.notify(report.message(self.max_length), payload_of(report), report.title())

        outcome = run_slot(
            session,
            attempt,
            self.retry,
            self.zone,
            clock=self.clock,
            sleep=self.sleep,
            on_report=on_report,
        )
        tries = counted(outcome.attempts, "attempt")
        cutoff = f"{self.retry.cutoff:%H:%M}"
        if outcome.gave_up and outcome.unreachable:
            line = (
                f"xmtrade paper: network unreachable: the price source could not be reached "
                f"for {session} by the cutoff {cutoff} ({tries}); the sessions the cache holds "
                "were processed, the next run fetches the rest"
            )
            self.record_no_bar(session, "network unreachable", line)
            self.notify(line, {"outcome": "network unreachable", "session": str(session)}, None)
        elif outcome.gave_up:
            line = (
                f"xmtrade paper: no bar published for {session} by the cutoff {cutoff} "
                f"({tries}); the next run processes it when it appears"
            )
            self.record_no_bar(session, "no bar published", line)
            self.notify(line, {"outcome": "no bar published", "session": str(session)}, None)
        elif outcome.error is not None:
            self.notify(
                f"xmtrade paper: step for {session} failed: {outcome.error}",
                {"outcome": "failed", "session": str(session)},
                None,
            )
        elif outcome.report is not None and not outcome.report.sessions:
            log.info("%s", "\n".join(outcome.report.lines()))
        return outcome


def payload_of(report: StepReport) -> dict[str, Any]:
    """The JSON fields sent with a step's summary."""
    return {
        "account": report.account,
        "outcome": report.outcome,
        "sessions": [str(d) for d in report.sessions],
        "fills": len(report.fills),
        "stale": report.stale,
        "alarms": report.alarms(),
        "not_filled": [
            {
                "session": str(o.session),
                "tranche": o.tranche,
                "stage": o.stage,
                "side": o.side,
                "shares": o.shares,
                "reference_price": o.reference_price,
                "planned_stop": o.planned_stop,
                "reason": o.reason,
                "detail": o.detail,
            }
            for o in report.not_filled
        ],
    }


def serve(service: PaperService, schedule: PaperScheduleConfig, calendar: SessionCalendar) -> None:
    """Catch up, then run on schedule until interrupted."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    zone = ZoneInfo(schedule.timezone)
    scheduler = BlockingScheduler(timezone=zone)
    trigger = SessionTrigger(schedule, calendar)
    scheduler.add_job(
        service.run_due,
        trigger,
        id="paper-step",
        name="paper step",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,  # a run missed while asleep still runs when the machine wakes
    )
    service.run_due()
    upcoming = next_runs(datetime.now(zone), 3, schedule, calendar)
    log.info("next runs: %s", ", ".join(f"{t:%a %Y-%m-%d %H:%M %Z}" for t in upcoming))
    scheduler.start()
