"""The three lines of defence (STRATEGY §5.2) as rules over point-in-time figures.

A rule is data: a metric, a comparison, a threshold, an action (`block`, `trim`, `exit`), how
many reports in a row the condition must hold, and the date it comes into force. This module
only compares; what a metric's value is comes from a reader the engine supplies, so a new rule
on an existing metric is a config change, not code.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, Protocol

RuleStatus = Literal["ok", "alarm", "unknown", "inactive"]
LineStatus = Literal["ok", "alarm", "unknown"]
Action = Literal["block", "trim", "exit"]

SEVERITY: dict[str, int] = {"block": 1, "trim": 2, "exit": 3}
COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


class RuleLike(Protocol):
    """What a rule must carry (the config's RiskRule has it)."""

    @property
    def name(self) -> str: ...
    @property
    def line(self) -> int: ...
    @property
    def metric(self) -> str: ...
    @property
    def op(self) -> str: ...
    @property
    def threshold(self) -> float: ...
    @property
    def action(self) -> str: ...
    @property
    def reports_in_a_row(self) -> int: ...
    @property
    def active_from(self) -> date | None: ...


@dataclass(frozen=True)
class Reading:
    """One metric's value as known at one point, with where it came from."""

    value: float | None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The reading for the decision log: `value` is always the figure the rule compared;
        a detail's own `value` (e.g. the latest margin behind a year-on-year change) is kept
        as `latest_value`."""
        detail = dict(self.detail)
        own = detail.pop("value", None)
        out = {"metric": detail.pop("metric")} if "metric" in detail else {}
        out["value"] = self.value
        if own is not None and own != self.value:
            out["latest_value"] = own
        out.update(detail)
        return out


Reader = Callable[[str, Any], Reading]
"""reader(metric, snapshot) -> Reading; a snapshot is whatever the reader understands."""


@dataclass(frozen=True)
class RuleState:
    """A rule's verdict on one session."""

    name: str
    line: int
    action: str
    status: RuleStatus
    readings: tuple[Reading, ...]
    condition: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.name,
            "status": self.status,
            "action": self.action,
            "condition": self.condition,
            "readings": [r.as_dict() for r in self.readings],
        }


@dataclass(frozen=True)
class LineState:
    """A line's state: alarm when any of its rules is, unknown when none is but one cannot tell."""

    line: int
    status: LineStatus
    action: str | None  # the most severe action of the rules in alarm
    rules: tuple[RuleState, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "action": self.action,
            "rules": [r.as_dict() for r in self.rules],
        }


def evaluate_rule(
    rule: RuleLike, session: date, snapshots: Sequence[Any], read: Reader
) -> RuleState:
    """Judge one rule. `snapshots` are what was known at the latest reports, newest last; the
    condition must hold on the newest `reports_in_a_row` of them."""
    condition = f"{rule.metric} {rule.op} {rule.threshold:g}"
    if rule.reports_in_a_row > 1:
        condition += f" in {rule.reports_in_a_row} reports in a row"
    if rule.active_from is not None and session < rule.active_from:
        return RuleState(rule.name, rule.line, rule.action, "inactive", (), condition)
    needed = rule.reports_in_a_row
    recent = list(snapshots[-needed:])
    readings = tuple(read(rule.metric, snap) for snap in recent)
    compare = COMPARE[rule.op]
    known = [r.value for r in readings if r.value is not None]
    if any(not compare(v, rule.threshold) for v in known):
        status: RuleStatus = "ok"
    elif len(recent) == needed and len(known) == needed:
        status = "alarm"
    else:
        status = "unknown"
    return RuleState(rule.name, rule.line, rule.action, status, readings, condition)


def evaluate_lines(
    rules: Sequence[RuleLike],
    session: date,
    snapshots: Sequence[Any],
    read: Reader,
    previous: dict[int, LineState] | None = None,
) -> dict[int, LineState]:
    """Every line's state on `session`, keyed by line number.

    A rule in alarm stays in alarm until a later report clears it: when its figure has become
    unknown since the `previous` evaluation, the alarm is held, not dropped."""
    held = {r.name: r for state in (previous or {}).values() for r in state.rules}
    by_line: dict[int, list[RuleState]] = {}
    for rule in rules:
        state = evaluate_rule(rule, session, snapshots, read)
        before = held.get(rule.name)
        if state.status == "unknown" and before is not None and before.status == "alarm":
            state = RuleState(
                state.name,
                state.line,
                state.action,
                "alarm",
                state.readings,
                f"{state.condition} (alarm held: the figure is unknown now, no report cleared it)",
            )
        by_line.setdefault(rule.line, []).append(state)
    states: dict[int, LineState] = {}
    for line, rule_states in sorted(by_line.items()):
        alarms = [r for r in rule_states if r.status == "alarm"]
        if alarms:
            action = max((r.action for r in alarms), key=SEVERITY.__getitem__)
            states[line] = LineState(line, "alarm", action, tuple(rule_states))
        elif any(r.status == "unknown" for r in rule_states):
            states[line] = LineState(line, "unknown", None, tuple(rule_states))
        else:
            states[line] = LineState(line, "ok", None, tuple(rule_states))
    return states


def strongest_action(lines: dict[int, LineState], unknown_blocks: bool) -> str | None:
    """The action the lines demand together: exit over trim over block; None when all clear."""
    actions = [s.action for s in lines.values() if s.status == "alarm" and s.action]
    if unknown_blocks and any(s.status == "unknown" for s in lines.values()):
        actions.append("block")
    if not actions:
        return None
    return max(actions, key=SEVERITY.__getitem__)
