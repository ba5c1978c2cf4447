"""`paper run`: run times on sessions only (holidays, ad-hoc closures, half days), the retry
with backoff while the bar is not published, the cutoff, and catching up at start-up. Time
is frozen: every clock and sleep is injected, nothing sleeps."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from paper_support import ok, one_line_error, runs_of

from data_feeds.cache import PriceCache
from data_feeds.calendar import SessionCalendar
from xmtrade.config import load_config
from xmtrade.paper.ledger import Ledger, RunRecord, now_utc
from xmtrade.paper.outcome import StepReport
from xmtrade.paper.scheduler import (
    PaperService,
    SessionTrigger,
    latest_slot,
    next_runs,
    run_slot,
)
from xmtrade.paper.step import StepRequest, run_step

HK = ZoneInfo("Asia/Hong_Kong")


@pytest.fixture(scope="module")
def calendar() -> SessionCalendar:
    cfg = load_config()
    return SessionCalendar(cfg.market.calendar, cfg.market.adhoc_closures)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=HK)


def shown(runs: list[datetime]) -> list[str]:
    return [f"{r.astimezone(HK):%Y-%m-%d %H:%M}" for r in runs]


def test_runs_skip_christmas_and_keep_the_half_days(calendar: SessionCalendar) -> None:
    schedule = load_config().paper.schedule
    runs = next_runs(at("2025-12-23 18:00"), 6, schedule, calendar)
    assert shown(runs) == [
        "2025-12-24 17:15",  # half day: the run still comes after the close
        "2025-12-29 17:15",  # 25 and 26 December are holidays
        "2025-12-30 17:15",
        "2025-12-31 17:15",  # half day
        "2026-01-02 17:15",  # 1 January is a holiday
        "2026-01-05 17:15",
    ]
    halves = {d.date() for d in calendar.half_days("2025-12-01", "2025-12-31")}
    assert {date(2025, 12, 24), date(2025, 12, 31)} <= halves
    assert all(r.tzinfo is not None and r.utcoffset() == timedelta(hours=8) for r in runs)


def test_runs_skip_lunar_new_year_after_its_half_day(calendar: SessionCalendar) -> None:
    schedule = load_config().paper.schedule
    runs = next_runs(at("2026-02-13 17:15"), 3, schedule, calendar)
    assert shown(runs) == ["2026-02-13 17:15", "2026-02-16 17:15", "2026-02-20 17:15"]


def test_runs_skip_the_adhoc_closures(calendar: SessionCalendar) -> None:
    schedule = load_config().paper.schedule
    runs = next_runs(at("2023-08-31 18:00"), 5, schedule, calendar)
    # 2023-09-01 (typhoon) and 2023-09-08 (black rainstorm) are closures, not sessions
    assert shown(runs) == [
        "2023-09-04 17:15",
        "2023-09-05 17:15",
        "2023-09-06 17:15",
        "2023-09-07 17:15",
        "2023-09-11 17:15",
    ]


def test_the_schedule_is_configurable(calendar: SessionCalendar, tmp_path: Path) -> None:
    layer = tmp_path / "late.yaml"
    layer.write_text(
        "paper:\n  schedule:\n    day_of_week: mon,wed,fri\n    hour: 18\n    minute: 5\n"
    )
    schedule = load_config([layer]).paper.schedule
    runs = next_runs(at("2025-12-22 00:00"), 3, schedule, calendar)
    assert shown(runs) == ["2025-12-22 18:05", "2025-12-24 18:05", "2025-12-29 18:05"]
    trigger = SessionTrigger(schedule, calendar)
    fire = trigger.get_next_fire_time(None, at("2025-12-24 18:05"))
    assert fire == at("2025-12-24 18:05")
    assert trigger.get_next_fire_time(fire, fire) == at("2025-12-29 18:05")


def test_latest_slot(calendar: SessionCalendar) -> None:
    schedule = load_config().paper.schedule
    assert latest_slot(at("2025-12-27 10:00"), schedule, calendar) == at("2025-12-24 17:15")
    assert latest_slot(at("2025-12-29 17:14"), schedule, calendar) == at("2025-12-24 17:15")
    assert latest_slot(at("2025-12-29 17:15"), schedule, calendar) == at("2025-12-29 17:15")


class FakeClock:
    """A clock that moves only when someone sleeps."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def report(up_to_date: bool, session: date = date(2026, 3, 27)) -> StepReport:
    return StepReport(
        account="default",
        symbol="1810.HK",
        outcome="no new bar",
        asof=session,
        expected=session,
        sessions=[],
        last_session=session if up_to_date else session - timedelta(days=1),
        initial_cash=1e6,
    )


def test_retry_doubles_the_wait_until_the_bar_appears() -> None:
    retry = load_config().paper.retry
    clock = FakeClock(at("2026-03-27 17:15"))
    answers = iter([False, False, False, True])
    outcome = run_slot(
        date(2026, 3, 27),
        lambda: report(next(answers)),
        retry,
        HK,
        clock=clock,
        sleep=clock.sleep,
    )
    assert outcome.attempts == 4 and not outcome.gave_up
    assert clock.slept == [300, 600, 1200]


def test_retry_stops_at_the_cutoff_with_a_last_try_there() -> None:
    retry = load_config().paper.retry  # cutoff 23:00, waits 300 doubling to 1800
    clock = FakeClock(at("2026-03-27 22:00"))
    tries: list[datetime] = []

    def attempt() -> StepReport:
        tries.append(clock.now)
        return report(False)

    outcome = run_slot(date(2026, 3, 27), attempt, retry, HK, clock=clock, sleep=clock.sleep)
    assert outcome.gave_up and outcome.attempts == 5
    assert clock.slept == [300, 600, 1200, 1500]
    assert tries[-1] == at("2026-03-27 23:00")


def service_for(
    home: Path,
    clock: FakeClock,
    calendar: SessionCalendar,
    notes: list[str],
    fetch: Any = None,
) -> PaperService:
    """The service `paper run` builds; offline unless `fetch` stands in for the source."""
    cfg = load_config()
    ledger = Ledger.open(str(home / "paper.sqlite"), create=False)
    account = ledger.account("default")
    cache = PriceCache(home / "prices")

    def step(record_idle: bool) -> StepReport:
        request = StepRequest(
            "default", offline=fetch is None, trigger="scheduler", record_idle=record_idle
        )
        return run_step(ledger, cfg, calendar, cache, request, now=clock(), fetch=fetch)

    def record_no_bar(session: date, outcome: str, line: str) -> None:
        ledger.record_run(
            account,
            RunRecord(
                started_at=now_utc(),
                trigger="scheduler",
                outcome=outcome,
                asof=session,
                notes=[line],
                summary=line,
            ),
        )

    def notify(summary: str, payload: dict[str, Any], title: str | None) -> None:
        notes.append(summary)

    return PaperService(
        step=step,
        record_no_bar=record_no_bar,
        notify=notify,
        schedule=cfg.paper.schedule,
        retry=cfg.paper.retry,
        calendar=calendar,
        max_length=cfg.paper.notify.max_length,
        clock=clock,
        sleep=clock.sleep,
    )


def test_start_up_catches_up_then_waits_for_the_bar_until_the_cutoff(
    home: Path, calendar: SessionCalendar, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(capsys, "paper", "init", "--start", "2026-03-02", "--offline")
    # started on Friday 2026-03-27 at 20:00: the cache ends on Thursday; Friday's bar never comes
    clock = FakeClock(at("2026-03-27 20:00"))
    notes: list[str] = []
    outcome = service_for(home, clock, calendar, notes).run_due()
    assert outcome is not None and outcome.session == date(2026, 3, 27)
    assert outcome.gave_up
    assert outcome.report is not None and outcome.report.last_session == date(2026, 3, 26)
    assert clock.now == at("2026-03-27 23:00")
    runs = runs_of(home / "paper.sqlite")
    # the catch-up is logged, the retries that found nothing are not, the give-up is
    assert [r["outcome"] for r in runs] == ["processed", "no bar published"]
    assert runs[0]["sessions_processed"] == 19 and runs[0]["last_session"] == "2026-03-26"
    assert "no bar published for 2026-03-27 by the cutoff 23:00" in runs[1]["summary"]
    assert len(notes) == 2 and "19 sessions (2026-03-02 .. 2026-03-26)" in notes[0]
    assert notes[1].startswith("xmtrade paper: no bar published for 2026-03-27")


def test_a_bar_published_late_is_processed_on_a_retry(
    home: Path, calendar: SessionCalendar, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(capsys, "paper", "init", "--start", "2026-03-02", "--offline")
    ok(capsys, "paper", "step", "--asof", "2026-03-26", "--offline")
    cache = PriceCache(home / "prices")
    clock = FakeClock(at("2026-03-27 17:15"))
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the source publishes Friday's bar during the wait
        slept.append(seconds)
        clock.sleep(seconds)
        bars = cache.load("1810.HK")
        friday = pd.DataFrame(
            {"open": [32.5], "high": [33.0], "low": [32.2], "close": [32.8], "volume": [1.4e8]},
            index=pd.DatetimeIndex(["2026-03-27"], name="date"),
        )
        cache.merge("1810.HK", friday.assign(no_trading=False))
        assert len(cache.load("1810.HK")) == len(bars) + 1

    notes: list[str] = []
    service = service_for(home, clock, calendar, notes)
    service.sleep = sleep
    outcome = service.run_due()
    assert outcome is not None and not outcome.gave_up and outcome.attempts == 2
    assert slept == [300]
    assert outcome.report is not None and outcome.report.sessions == [date(2026, 3, 27)]
    assert [r["outcome"] for r in runs_of(home / "paper.sqlite")][-1] == "processed"
    assert "1 session (2026-03-27)" in notes[-1]


def test_paper_run_next_prints_session_times(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(capsys, "paper", "init", "--start", "2026-03-02", "--offline")
    out = ok(capsys, "paper", "run", "--next", "4")
    lines = out.strip().splitlines()
    assert len(lines) == 4
    assert all(line.endswith("17:15 HKT") for line in lines)
    assert all(line.split()[1] in ("Mon", "Tue", "Wed", "Thu", "Fri") for line in lines)


def test_paper_run_next_checks_the_account_and_the_schedule(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line_error(capsys, "paper", "run", "--next", "3")
    assert line.startswith("--db: no paper ledger at ")
    ok(capsys, "paper", "init", "--start", "2026-03-02", "--offline")
    line = one_line_error(capsys, "paper", "run", "--next", "3", "--account", "nope")
    assert line.startswith("--account: no paper account 'nope' in ")
    layer = tmp_path / "sat.yaml"
    layer.write_text("paper:\n  schedule:\n    day_of_week: sat\n")
    for argv in (["--next", "3"], []):
        line = one_line_error(capsys, "paper", "run", *argv, "-c", str(layer))
        assert line == (
            "paper.schedule: day_of_week: no XHKG session falls on 'sat', so the schedule "
            "never runs (sessions are Monday to Friday; the default is mon-fri)"
        )


def test_a_network_down_is_not_a_missing_bar(
    home: Path,
    calendar: SessionCalendar,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    ok(capsys, "paper", "init", "--start", "2026-03-02", "--offline")

    def unreachable(symbol: str, start: date, end: date) -> pd.DataFrame:
        raise OSError("[Errno 101] Network is unreachable")

    clock = FakeClock(at("2026-03-27 20:00"))
    notes: list[str] = []
    caplog.set_level("INFO", logger="xmtrade.paper")
    outcome = service_for(home, clock, calendar, notes, fetch=unreachable).run_due()
    assert outcome is not None and outcome.gave_up and outcome.unreachable
    runs = runs_of(home / "paper.sqlite")
    assert [r["outcome"] for r in runs] == ["processed", "network unreachable"]
    assert runs[0]["sessions_processed"] == 19 and runs[0]["stale"]
    assert notes[-1].startswith(
        "xmtrade paper: network unreachable: the price source could not be reached for "
        "2026-03-27 by the cutoff 23:00 (9 attempts)"
    )
    logged = [r.getMessage() for r in caplog.records]
    waits = [m for m in logged if "(attempt " in m]
    assert waits and all(m.startswith("the price source is unreachable (network)") for m in waits)
    # one multi-line summary for the catch-up, not a long line logged twice
    blocks = [m for m in logged if "summary:" in m]
    assert len(blocks) == 1 and "\n  NAV HK$" in blocks[0]
    assert not any("no bar published" in m for m in logged)

    # status: the last run, and the last run that did the work
    out = ok(capsys, "paper", "status")
    assert "last run: " in out and "network unreachable, 0 sessions processed" in out
    assert (
        "last run that processed sessions: " in out
        and "processed (stale data), 19 sessions processed (2026-03-02 .. 2026-03-26)" in out
    )


def test_the_log_is_stamped_in_hong_kong_time() -> None:
    import logging

    from xmtrade.commands.paper import ZonedFormatter

    record = logging.LogRecord("xmtrade.paper", logging.INFO, __file__, 1, "one\ntwo", (), None)
    record.created = datetime(2026, 3, 27, 9, 15, 2, tzinfo=ZoneInfo("UTC")).timestamp()
    line = ZonedFormatter(HK).format(record)
    assert line == "2026-03-27 17:15:02 HKT INFO one\n    two"
