"""One paper step: bring the prices up to date, replay the account's record through the
backtest, check the replay reproduces the ledger, and write the new sessions in one transaction.

The replay is `xmtrade.backtest.run_backtest` itself, on the ledger's own bars (the history
frozen at `init`, every bar processed since) plus the new bars, from the account's start to the
newest bar. So a paper account does exactly what a backtest over the same sessions does, and a
step that finds history changed (a facts file rewritten, a different xmtrade) refuses instead
of drifting.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from data_feeds.bars import BAR_COLUMNS
from data_feeds.cache import PriceCache, Revision
from data_feeds.calendar import SessionCalendar
from data_feeds.errors import UserInputError
from data_feeds.fundamentals import PointInTimeFacts, read_facts
from xmtrade import __version__
from xmtrade.config import AppConfig
from xmtrade.errors import ConfigError, DataError
from xmtrade.paper import schema
from xmtrade.paper.facts_known import (
    find_late_facts,
    late_lines,
    partial_quarter_lines,
    timeline_for,
)
from xmtrade.paper.ledger import (
    Account,
    History,
    LateFact,
    Ledger,
    RunRecord,
    StepWrites,
    now_utc,
)
from xmtrade.paper.outcome import StepReport
from xmtrade.paper.records import (
    bar_row,
    decision_text,
    equity_rows,
    fill_rows,
    order_rows,
    plain,
    to_json,
    tranche_rows,
)
from xmtrade.paper.unfilled import from_records
from xmtrade.reports.terminal import counted

CRASH_ENV = "XMTRADE_TEST_CRASH_AT"
# Where a test may kill a step (os._exit(137)): after the price update, then inside the
# ledger transaction after the bars, after the fills, halfway, just before and just after commit.
CRASH_POINTS = (
    "after_fetch",
    "after_bars",
    "after_fills",
    "mid_transaction",
    "before_commit",
    "after_commit",
)

FetchFunction = Callable[[str, date, date], pd.DataFrame]


def crash_point(name: str) -> None:
    """Die like kill -9 at `name` when the test hook asks for it."""
    if os.environ.get(CRASH_ENV) == name:
        os._exit(137)


def account_config_hash(cfg: AppConfig) -> str:
    """The hash an account is bound to: `AppConfig.config_hash` (not the facts file: a changed
    facts file is checked by replaying history instead)."""
    return cfg.config_hash()


def read_facts_file(cfg: AppConfig) -> tuple[str, str]:
    """The facts file's digest and text."""
    path = cfg.fundamentals.file
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(str(path), None, f"cannot read the facts file: {exc.strerror}") from None
    return "sha256:" + hashlib.sha256(raw).hexdigest(), raw.decode("utf-8", "replace")


def with_cash(cfg: AppConfig, cash: float) -> AppConfig:
    """`cfg` with the account's starting cash as the backtest's initial NAV."""
    return cfg.model_copy(
        update={"backtest": cfg.backtest.model_copy(update={"initial_nav": cash})}
    )


class Refused(ConfigError):
    """A step that would make the ledger disagree with its own history."""


@dataclass(frozen=True)
class StepRequest:
    """What the user asked of one step."""

    account: str
    asof: date | None = None
    offline: bool = False
    reset: bool = False
    trigger: str = "command line"
    record_idle: bool = True  # log a run row when nothing was new (the scheduler's retries don't)


def run_step(
    ledger: Ledger,
    cfg: AppConfig,
    calendar: SessionCalendar,
    cache: PriceCache,
    request: StepRequest,
    *,
    layers: Sequence[str] = (),
    fetch: FetchFunction | None = None,
    now: datetime | None = None,
    crash: Callable[[str], None] = crash_point,
    home: tuple[str, str] | None = None,
) -> StepReport:
    """Run one step of `request.account` under its lock; every failure after the account is
    found is logged as a run, then raised. `home` (the folder and facts file of this
    command) becomes the account's home on --reset."""
    started = now_utc()
    ledger.account(request.account)  # no lock file for an account that does not exist
    with ledger.lock(request.account):
        account = ledger.account(request.account)
        step = _Step(ledger, cfg, calendar, cache, request, account, layers, fetch, now, crash)
        step.home = home
        try:
            return step.run(started)
        except Exception as exc:
            outcome = "refused" if isinstance(exc, Refused) else "failed"
            line = exc.line() if isinstance(exc, UserInputError) else f"{type(exc).__name__}: {exc}"
            run = RunRecord(
                started_at=started,
                trigger=request.trigger,
                outcome=outcome,
                asof=step.asof,
                stale=step.stale,
                config_hash=account_config_hash(cfg),
                notes=[line],
                summary=f"xmtrade paper {account.name}: step {outcome}: {line}",
            )
            from xmtrade.paper.events import failure_message
            from xmtrade.paper.notify import has_targets

            notify = cfg.paper.notify
            message = failure_message(account.name, outcome, line, notify.max_length)
            run.messages = [message.as_dict()]
            run.notified = False if has_targets(notify) else None
            with contextlib.suppress(UserInputError):  # the database failed: `exc` says more
                ledger.record_run(account, run)
            raise


class _Step:
    def __init__(
        self,
        ledger: Ledger,
        cfg: AppConfig,
        calendar: SessionCalendar,
        cache: PriceCache,
        request: StepRequest,
        account: Account,
        layers: Sequence[str],
        fetch: FetchFunction | None,
        now: datetime | None,
        crash: Callable[[str], None],
    ) -> None:
        self.ledger = ledger
        self.cfg = cfg
        self.calendar = calendar
        self.cache = cache
        self.request = request
        self.account = account
        self.layers = tuple(layers)
        self.fetch = fetch
        self.now = now
        self.crash = crash
        self.asof: date | None = None
        self.home: tuple[str, str] | None = None
        self.stale = False
        self.fetch_failed = False
        self.notes: list[str] = []
        self.fetch_lines: list[str] = []

    # ------------------------------------------------------------------ the step

    def run(self, started: str) -> StepReport:
        account, request = self.account, self.request
        config_hash = account_config_hash(self.cfg)
        self._check_config(config_hash)
        asof = self._asof()
        if not request.offline:
            self._refresh_prices(asof)
        self.crash("after_fetch")
        cached = self.cache.load(account.symbol)
        history = self.ledger.history(account)
        reset = request.reset
        last = None if reset else account.last_session
        recorded = history.bars
        to_process, new_bars = self._bars_to_process(recorded, cached, history, asof, last)
        revision_lines, revision_rows = self._revisions(recorded, cached, history)
        facts_digest, facts_content = read_facts_file(self.cfg)
        facts_changed = facts_digest != account.facts_digest
        expected = self._expected(asof)
        report = StepReport(
            account=account.name,
            symbol=account.symbol,
            outcome="no new bar",
            asof=asof,
            expected=expected,
            sessions=[],
            last_session=last,
            initial_cash=account.initial_cash,
            revisions=revision_lines,
            reset=reset,
            fetch_lines=self.fetch_lines,
        )
        run = RunRecord(
            started_at=started,
            trigger=request.trigger,
            outcome="no new bar",
            asof=asof,
            revisions=len(revision_rows),
            reset=reset,
            facts_digest=facts_digest,
            config_hash=config_hash,
        )
        if not to_process and not facts_changed and not reset:
            self._note_freshness(report, cached, asof)
            report.notes = self.notes
            report.stale = self.stale
            report.fetch_failed = self.fetch_failed
            report.equity = history.equity[-1] if history.equity else None
            report.orders = self._working_orders()
            run.stale = self.stale
            run.notes = [*revision_lines, *self.notes]
            run.summary = report.summary()
            self._messages(run, report)
            if request.record_idle or revision_rows:
                report.run_id = self._record_idle(run, revision_rows)
            return report

        end = to_process[-1] if to_process else last
        bars_in = _concat(recorded, new_bars)
        prior = _Prior.empty() if reset else _Prior.of(history)
        facts = read_facts(self.cfg.fundamentals.file)
        plain_pit = timeline_for(self.cfg, self.calendar, facts, ())
        late_new: list[LateFact] = []
        if facts_changed and not reset and last is not None:
            first_open = self.calendar.next_session(last)
            late_new = find_late_facts(
                history.facts_content, facts, plain_pit, first_open, self._now_stamp()
            )
        late = [] if reset else [*history.late_facts, *late_new]
        pit = timeline_for(self.cfg, self.calendar, facts, late) if late else plain_pit
        self.notes += late_lines(late_new)
        if facts_changed:
            self.notes += partial_quarter_lines(self.cfg, pit)
        result_rows = self._replay(bars_in, end, pit) if end is not None else None
        if result_rows is not None and last is not None:
            self._verify(prior, result_rows, last, facts_changed, history, facts_content)
        if facts_changed and history.facts_content is not None:
            self.notes.append(
                f"facts file changed: {_facts_diff(history.facts_content, facts_content)}"
                + ("; history unchanged" if last is not None else "")
            )
        self._gaps(to_process, last)
        writes = self._writes(
            run, result_rows, prior, last, new_bars, revision_rows, facts_digest, facts_content
        )
        writes.late_facts = late_new
        if reset:
            writes.home = self.home
        report.sessions = list(to_process)
        report.outcome = "processed" if to_process else "no new bar"
        report.last_session = to_process[-1] if to_process else last
        if result_rows is not None:
            report.fills = result_rows.fills[len(prior.fills) :]
            report.decisions = [d for d in result_rows.records if last is None or d["date"] > last]
            report.orders = result_rows.orders
            report.equity = result_rows.equity[-1]
            report.tranches = result_rows.tranches
            if to_process:
                report.not_filled = from_records(result_rows.records, since=to_process[0])
        self._note_freshness(report, cached, asof)
        report.notes = self.notes
        report.stale = self.stale
        report.fetch_failed = self.fetch_failed
        run.outcome = report.outcome
        run.sessions_processed = len(to_process)
        run.first_session = to_process[0] if to_process else None
        run.last_session = report.last_session
        run.stale = self.stale
        run.notes = [*revision_lines, *self.notes]
        run.summary = report.summary()
        self._messages(run, report)
        report.run_id = self.ledger.commit_step(account, writes, self.crash)
        return report

    # ------------------------------------------------------------------ before the replay

    def _check_config(self, config_hash: str) -> None:
        account, cfg = self.account, self.cfg
        if cfg.instrument.symbol != account.symbol:
            raise Refused(
                f"paper account '{account.name}'",
                None,
                f"it trades {account.symbol}; this config trades {cfg.instrument.symbol} "
                f"(start a new account for it: xmtrade paper init --account NAME)",
            )
        if config_hash == account.config_hash or self.request.reset:
            return
        remedies = (
            f"restart the account from {account.start} with this config: --reset, or keep it "
            "and start a new account: xmtrade paper init --account NAME"
        )
        if self.layers == account.config_layers:
            # the same -c files (or none): what changed is their content or the defaults
            if account.config_layers:
                cause = (
                    f"its files ({', '.join(account.config_layers)}) were edited, or the "
                    "packaged defaults changed (a different xmtrade version), since the account "
                    "was created"
                )
            else:
                cause = (
                    "the account uses the packaged defaults only, and they changed (a different "
                    f"xmtrade version, now {__version__}) since the account was created"
                )
        else:
            layers = ", ".join(account.config_layers) or "the packaged defaults only"
            cause = f"the account's config is from {layers}; pass the account's -c files"
        raise Refused(
            f"paper account '{account.name}'",
            None,
            f"this config (hash {config_hash}) is not the account's (hash "
            f"{account.config_hash}): {cause}; or {remedies}",
        )

    def _asof(self) -> date:
        latest = self.calendar.latest_closed_session(self.now)
        asked = self.request.asof
        if asked is not None and asked < self.account.start:
            raise ConfigError(
                "command line",
                "--asof",
                f"{asked} is before the start of paper account '{self.account.name}' "
                f"({self.account.start})",
            )
        if asked is None or asked > latest:
            if asked is not None:
                self.notes.append(
                    f"--asof {asked} is after the latest closed session: using {latest}"
                )
            asked = latest
        self.asof = asked
        return asked

    def _expected(self, asof: date) -> date | None:
        if asof < self.account.start:
            return None
        return self.calendar.session_on_or_before(asof)

    def _refresh_prices(self, asof: date) -> None:
        from data_feeds.yahoo import fetch_yahoo, update_from_yahoo

        cfg = self.cfg
        try:
            fetched = update_from_yahoo(
                self.cache,
                self.account.symbol,
                None,
                asof,
                self.calendar,
                history_start=cfg.data.history_start,
                refetch_sessions=cfg.data.refetch_sessions,
                fetch=self.fetch or fetch_yahoo,
            )
        except (DataError, OSError) as exc:
            reason = exc.line() if isinstance(exc, DataError) else str(exc)
            self.fetch_failed = True
            self.stale = True
            self.notes.append(f"price update failed, using the cache: {reason}")
            return
        merge = fetched.merge
        if fetched.fetched_from is not None:
            self.fetch_lines.append(
                f"prices: downloaded {fetched.fetched_from} .. {fetched.fetched_to} "
                f"({fetched.received} bars); {len(merge.added)} added, "
                f"{len(merge.revised)} revised"
            )
        else:
            self.fetch_lines.append(f"prices: {fetched.note}")

    def _bars_to_process(
        self,
        recorded: pd.DataFrame,
        cached: pd.DataFrame,
        history: History,
        asof: date,
        last: date | None,
    ) -> tuple[list[date], pd.DataFrame]:
        """The sessions this step processes, and the bars new to the ledger (from the cache)."""
        start = pd.Timestamp(self.account.start)
        top = pd.Timestamp(asof)
        seen = pd.Timestamp(recorded.index[-1]) if len(recorded) else None
        index = cached.index
        pick = (index >= start) & (index <= top)
        if seen is not None:
            pick &= index > seen
        new_bars = cached.loc[pick]
        # sessions the ledger holds but has not processed (all of them on --reset), up to asof
        again = [d for d in history.sessions if (last is None or d > last) and d <= asof]
        return again + [pd.Timestamp(t).date() for t in new_bars.index], new_bars

    def _revisions(
        self, recorded: pd.DataFrame, cached: pd.DataFrame, history: History
    ) -> tuple[list[str], list[dict[str, Any]]]:
        """Bars the source changed after the ledger recorded them: reported, never used."""
        if recorded.empty:
            return [], []
        lo, hi = recorded.index[0], recorded.index[-1]
        window = cached.loc[(cached.index >= lo) & (cached.index <= hi)]
        lines: list[str] = []
        rows: list[dict[str, Any]] = []
        known = 0
        mine_frame = recorded.loc[:, list(BAR_COLUMNS)]
        theirs_frame = window.loc[:, list(BAR_COLUMNS)]
        union = mine_frame.index.union(theirs_frame.index)
        a = mine_frame.reindex(union).to_numpy(dtype="float64")
        b = theirs_frame.reindex(union).to_numpy(dtype="float64")
        in_mine = union.isin(mine_frame.index)
        in_theirs = union.isin(theirs_frame.index)
        same = ((a == b) | (np.isnan(a) & np.isnan(b))).all(axis=1) & in_mine & in_theirs
        for pos in np.flatnonzero(~same).tolist():
            day = pd.Timestamp(union[pos]).date()
            mine = _row(a[pos]) if in_mine[pos] else None
            theirs = _row(b[pos]) if in_theirs[pos] else None
            source_json = None if theirs is None else to_json(theirs)
            if (day, source_json) in history.known_revisions:
                known += 1
                continue
            rows.append(
                {
                    "date": day,
                    "ledger": None if mine is None else to_json(mine),
                    "source": source_json,
                }
            )
            if mine is None:
                lines.append(
                    f"the prices now have a bar for {day}, after the ledger processed past it "
                    "without one: not used (the ledger's history is never rewritten)"
                )
            elif theirs is None:
                lines.append(
                    f"the prices no longer have the bar of {day}: the ledger keeps its own"
                )
            else:
                change = Revision(day, mine, theirs).describe()
                lines.append(f"price revised by the source: {change}; the ledger keeps its bar")
        if known:
            self.notes.append(f"{counted(known, 'known price revision')} kept out of the ledger")
        return lines, rows

    def _note_freshness(self, report: StepReport, cached: pd.DataFrame, asof: date) -> None:
        expected = report.expected
        if expected is None:
            self.notes.append(
                f"paper account {self.account.name} starts on {self.account.start}; "
                f"nothing to do up to {asof}"
            )
            return
        if report.up_to_date:
            return
        newest = pd.Timestamp(cached.index[-1]).date() if len(cached) else None
        if self.fetch_failed or self.request.offline:
            self.stale = True
            how = "the price update failed" if self.fetch_failed else "--offline"
            self.notes.append(
                f"data is stale ({how}): the prices end at {newest}, the latest session up to "
                f"{asof} is {expected}; no bar is invented, {expected} waits for its bar"
            )
        else:
            self.notes.append(
                f"no bar for {expected} yet (the source has nothing newer than {newest}); "
                "run the step again later"
            )

    def _gaps(self, to_process: Sequence[date], last: date | None) -> None:
        if not to_process:
            return
        first = self.account.start if last is None else self.calendar.next_session(last)
        if first > to_process[-1]:
            return
        sessions = {t.date() for t in self.calendar.sessions(first, to_process[-1])}
        missing = sorted(sessions - set(to_process))
        if missing:
            shown = ", ".join(str(d) for d in missing[:5]) + (" ..." if len(missing) > 5 else "")
            self.notes.append(
                f"no bar for {counted(len(missing), 'session')} ({shown}): skipped, as a "
                "backtest on these prices would"
            )

    # ------------------------------------------------------------------ the replay

    def _replay(self, bars: pd.DataFrame, end: date, pit: PointInTimeFacts) -> _Replay:
        from strategies.fundamental_state import FundamentalTimeline
        from xmtrade.backtest import run_backtest

        cfg = with_cash(self.cfg, self.account.initial_cash)
        result = run_backtest(
            cfg,
            bars,
            self.calendar,
            start=self.account.start,
            end=end,
            fundamentals=FundamentalTimeline(pit, cfg),
        )
        records = list(result.decisions)
        return _Replay(
            fills=fill_rows(result.fills, result.fee_kinds),
            equity=equity_rows(result.equity),
            records=records,
            decisions=[decision_text(d) for d in records],
            tranches=tranche_rows(result.trades),
            orders=order_rows(result.open_orders),
        )

    def _verify(
        self,
        prior: _Prior,
        replay: _Replay,
        last: date,
        facts_changed: bool,
        history: History,
        facts_content: str,
    ) -> None:
        """Refuse unless the replay gives the ledger's sessions exactly."""
        difference = _first_difference(prior, replay, last)
        if difference is None:
            return
        account = self.account
        if facts_changed and history.facts_content is not None:
            cause = (
                f"the facts file changed since the last step "
                f"({_facts_diff(history.facts_content, facts_content)}) and the change reaches "
                "back into processed sessions"
            )
        else:
            cause = (
                "something outside the ledger changed (a file the config names, or the "
                "xmtrade version)"
            )
        raise Refused(
            f"paper account '{account.name}'",
            None,
            f"replaying the ledger no longer gives its history ({difference}): {cause}; "
            f"nothing was written. Restart the account from {account.start} on today's "
            "inputs with --reset, or keep it as it is and start a new account: "
            "xmtrade paper init --account NAME",
        )

    # ------------------------------------------------------------------ writing

    def _writes(
        self,
        run: RunRecord,
        replay: _Replay | None,
        prior: _Prior,
        last: date | None,
        new_bars: pd.DataFrame,
        revision_rows: list[dict[str, Any]],
        facts_digest: str,
        facts_content: str,
    ) -> StepWrites:
        fills: list[dict[str, Any]] = []
        decisions: list[dict[str, Any]] = []
        equity: list[dict[str, Any]] = []
        tranches: list[dict[str, Any]] = []
        orders: list[dict[str, Any]] = []
        if replay is not None:
            newer = [f for f in replay.fills if last is None or f["date"] > last]
            fills = [{**f, "seq": len(prior.fills) + i} for i, f in enumerate(newer)]
            n_prior = len(prior.decisions)
            decisions = [
                {
                    "seq": n_prior + i,
                    "date": plain(record["date"]),
                    "action": str(record.get("action")),
                    "tranche": plain(record.get("tranche")),
                    "record": text,
                }
                for i, (record, text) in enumerate(
                    zip(replay.records[n_prior:], replay.decisions[n_prior:], strict=True)
                )
            ]
            equity = [e for e in replay.equity if last is None or e["date"] > last]
            tranches = replay.tranches
            as_of = replay.equity[-1]["date"]
            orders = [
                {
                    "seq": i,
                    "as_of": as_of,
                    **{k: v for k, v in o.items() if k != "type"},
                    "order_type": o["type"],
                }
                for i, o in enumerate(replay.orders)
            ]
        config = None
        if self.request.reset:
            config = (run.config_hash or "", self.cfg.to_yaml(), self.layers)
        last_session = equity[-1]["date"] if equity else last
        return StepWrites(
            run=run,
            reset=self.request.reset,
            bars=[
                bar_row(pd.Timestamp(t).date(), row)
                for t, row in zip(new_bars.index, new_bars.to_dict("records"), strict=True)
            ],
            fills=fills,
            decisions=decisions,
            equity=equity,
            tranches=tranches,
            orders=orders,
            revisions=revision_rows,
            last_session=last_session,
            facts_digest=facts_digest,
            facts_content=facts_content,
            config=config,
        )

    def _messages(self, run: RunRecord, report: StepReport) -> None:
        """The step's notifications, stored with its run until they are sent."""
        from xmtrade.paper.events import step_messages
        from xmtrade.paper.notify import has_targets

        notify = self.cfg.paper.notify
        messages = step_messages(report, notify.max_length, notify.digest)
        run.messages = [m.as_dict() for m in messages]
        run.notified = False if messages and has_targets(notify) else None

    def _now_stamp(self) -> str:
        """Now (the step's clock when a test sets one) as the ledger stores times."""
        if self.now is None:
            return now_utc()
        when = self.now if self.now.tzinfo is not None else self.now.astimezone()
        return when.astimezone(UTC).isoformat(timespec="seconds")

    def _record_idle(self, run: RunRecord, revision_rows: list[dict[str, Any]]) -> int:
        return self.ledger.record_run(self.account, run, revision_rows)

    def _working_orders(self) -> list[dict[str, Any]]:
        rows = self.ledger.table(self.account, schema.orders, "seq")
        return [{**r, "type": r["order_type"]} for r in rows]


@dataclass(frozen=True)
class _Replay:
    fills: list[dict[str, Any]]
    equity: list[dict[str, Any]]
    records: list[dict[str, Any]]
    decisions: list[str]
    tranches: list[dict[str, Any]]
    orders: list[dict[str, Any]]


@dataclass(frozen=True)
class _Prior:
    fills: list[dict[str, Any]]
    equity: list[dict[str, Any]]
    decisions: list[str]

    @classmethod
    def empty(cls) -> _Prior:
        return cls([], [], [])

    @classmethod
    def of(cls, history: History) -> _Prior:
        return cls(history.fills, history.equity, history.decisions)


def _first_difference(prior: _Prior, replay: _Replay, last: date) -> str | None:
    """Where the replay first departs from the ledger up to `last`, in words; None if nowhere."""
    equity = [e for e in replay.equity if e["date"] <= last]
    for mine, again in zip(prior.equity, equity, strict=False):
        if mine != again:
            changed = sorted(k for k in mine if mine[k] != again.get(k))
            return f"session {mine['date']}: {', '.join(changed)} differ"
    if len(equity) != len(prior.equity):
        return f"{len(prior.equity)} sessions in the ledger, {len(equity)} in the replay"
    fills = [f for f in replay.fills if f["date"] <= last]
    for mine, again in zip(prior.fills, fills, strict=False):
        if mine != again:
            return f"the fill of {mine['date']} (tranche {mine['tranche']}) differs"
    if len(fills) != len(prior.fills):
        return f"{len(prior.fills)} fills in the ledger up to {last}, {len(fills)} in the replay"
    n = len(prior.decisions)
    if replay.decisions[:n] != prior.decisions or any(
        r["date"] <= last for r in replay.records[n:]
    ):
        for i, (mine_text, again_text) in enumerate(
            zip(prior.decisions, replay.decisions, strict=False)
        ):
            if mine_text != again_text:
                try:
                    day = json.loads(mine_text).get("date")
                except (ValueError, AttributeError):
                    day = "a damaged row"
                return f"decision {i + 1} ({day}) differs"
        return "the decisions up to the last session differ"
    return None


def _row(values: np.ndarray) -> dict[str, float]:
    return {k: float(v) for k, v in zip(BAR_COLUMNS, values, strict=True)}


def _concat(recorded: pd.DataFrame, new_bars: pd.DataFrame) -> pd.DataFrame:
    if new_bars.empty:
        return recorded
    if recorded.empty:
        return new_bars
    return pd.concat([recorded, new_bars.loc[:, recorded.columns]]).sort_index(kind="stable")


def _facts_diff(old: str, new: str) -> str:
    def rows(text: str) -> Counter[str]:
        lines = [line.strip() for line in text.splitlines()[1:] if line.strip()]
        return Counter(lines)

    before, after = rows(old), rows(new)
    added = sum((after - before).values())
    removed = sum((before - after).values())
    return f"{added} row{'s' if added != 1 else ''} added, {removed} removed"
