"""Each trade's decision record, gathered from the decision log: the entry decision (signal
values, gate figures with their reports, sizing arithmetic, stop), every stop move, and the
exit decision when a rule (not a resting stop) closed it; with a short text for a hover."""

from __future__ import annotations

from typing import Any

import pandas as pd

HOVER_WIDTH = 96  # characters of a hover line before it wraps


def trade_records(
    trades: pd.DataFrame, decisions: list[dict[str, Any]]
) -> dict[int, dict[str, Any]]:
    """tranche id -> {"entry": decision, "stops": [decisions], "exit": decision or None}."""
    records: dict[int, dict[str, Any]] = {
        int(t): {"entry": None, "stops": [], "exit": None} for t in trades["id"]
    }
    for d in decisions:
        action = d.get("action")
        if action in ("enter", "add") and d.get("tranche") in records:
            records[d["tranche"]]["entry"] = d
        elif action in ("place_stop", "raise_stop") and d.get("tranche") in records:
            records[d["tranche"]]["stops"].append(d)
        elif action == "exit":
            tranches = d.get("tranches") or [d.get("tranche")]
            for tranche in tranches:
                if tranche in records:
                    records[tranche]["exit"] = d
    return records


def _wrap(text: str) -> list[str]:
    words, lines, line = text.split(" "), [], ""
    for word in words:
        if line and len(line) + len(word) + 1 > HOVER_WIDTH:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return lines


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _gate_lines(fundamentals: dict[str, Any]) -> list[str]:
    lines = []
    report = fundamentals.get("newest_report")
    if report:
        stale = " (STALE)" if fundamentals.get("stale") else ""
        lines.append(
            f"report {report['period']} announced {report['announced']}, "
            f"{report.get('age_days', '?')} days old{stale}"
        )
    else:
        lines.append("no quarterly report usable yet")
    gate = fundamentals.get("gate")
    if gate:
        tests = []
        for t in gate.get("tests", []):
            mark = {True: "pass", False: "FAIL", None: "unknown"}[t.get("passed")]
            where = t.get("period") or (f"FY{t['fiscal_year']}" if t.get("fiscal_year") else "")
            tests.append(f"{t['test']} {_fmt(t.get('value'))} {t['condition']}: {mark} ({where})")
        lines.append(f"gate {gate.get('verdict')}: " + "; ".join(tests))
    passing = fundamentals.get("passing_reports") or []
    if passing:
        lines.append(f"passing reports in a row: {', '.join(passing)}")
    states = fundamentals.get("lines") or {}
    if states:
        lines.append("risk lines: " + ", ".join(f"{k} {v}" for k, v in states.items()))
    return lines


def entry_hover(trade: pd.Series, record: dict[str, Any]) -> str:
    """The hover text of a trade's entry marker."""
    lines = [
        f"<b>tranche #{int(trade['id'])}, stage {int(trade['stage'])}: bought "
        f"{int(trade['shares']):,} at {trade['entry_price']} on {str(trade['entry_date'])[:10]}</b>"
    ]
    decision = record.get("entry")
    if decision:
        lines += _wrap(f"why: {decision.get('reason', '')}")
        signals = decision.get("signals") or {}
        if signals:
            lines += _wrap(
                "signals at the close of "
                + str(decision["date"])
                + ": "
                + ", ".join(f"{k} {_fmt(v)}" for k, v in signals.items())
            )
        for line in _gate_lines(decision.get("fundamentals") or {}):
            lines += _wrap(line)
        sizing = decision.get("sizing") or {}
        if sizing:
            lines += _wrap(f"sizing: {sizing.get('reason', '')}")
            lines += _wrap(
                f"risk budget HK${sizing.get('risk_budget', 0):,.0f} "
                f"({sizing.get('risk_per_trade_pct')}% of NAV HK${sizing.get('nav', 0):,.0f}), "
                f"risk a share {sizing.get('risk_per_share')}, planned loss "
                f"HK${sizing.get('planned_loss', 0):,.2f} "
                f"({sizing.get('planned_risk_pct_nav', 0):.3f}% of NAV)"
            )
        stop = decision.get("stop") or {}
        if stop:
            lines += _wrap(f"stop: {stop.get('basis', '')}")
    else:
        lines.append(f"why: {trade.get('entry_reason', '')}")
    lines.append(_outcome(trade))
    return "<br>".join(lines)


def exit_hover(trade: pd.Series, record: dict[str, Any]) -> str:
    """The hover text of a trade's exit marker."""
    lines = [
        f"<b>tranche #{int(trade['id'])}: sold at {trade['exit_price']} on "
        f"{str(trade['exit_date'])[:10]} ({trade['exit_reason']})</b>"
    ]
    decision = record.get("exit")
    if decision:
        detail = decision.get("detail")
        if isinstance(detail, str):
            lines += _wrap(f"why: {decision.get('reason')}: {detail}")
        elif isinstance(detail, dict):
            plain = {k: v for k, v in detail.items() if not isinstance(v, dict)}
            if plain:  # the breaker's figures, a take-profit's price and ceiling, ...
                figures = ", ".join(f"{k} {_fmt(v)}" for k, v in plain.items())
                lines += _wrap(f"why: {decision.get('reason')}: {figures}")
            for name, line in detail.items():
                if not isinstance(line, dict):
                    continue
                for rule in line.get("rules", []):
                    readings = ", ".join(
                        f"{_fmt(r.get('value'))} ({r.get('period', '')}, announced "
                        f"{r.get('announced', '?')})"
                        for r in rule.get("readings", [])
                    )
                    lines += _wrap(
                        f"{name} {rule['rule']}: {rule['condition']} is {rule['status']} "
                        f"on {readings}"
                    )
    stops = record.get("stops") or []
    if stops:
        moves = [f"{s['stop']['to']} from {s['stop']['rests_from']}" for s in stops[-4:]]
        more = f" ({len(stops) - 4} earlier)" if len(stops) > 4 else ""
        lines += _wrap(f"stop history{more}: " + "; ".join(moves))
    lines.append(_outcome(trade))
    return "<br>".join(lines)


def _outcome(trade: pd.Series) -> str:
    if trade["exit_reason"] == "open":
        return f"still open, stop {trade['stop_price']}, {int(trade['sessions_held'])} sessions"
    return (
        f"P&L HK${float(trade['pnl']):,.2f} ({float(trade['pnl_pct_nav']):.3f}% of NAV) "
        f"after HK${float(trade['fees']):,.2f} fees, {int(trade['sessions_held'])} sessions"
    )
