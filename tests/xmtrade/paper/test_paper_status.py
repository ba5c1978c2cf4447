"""`paper status` as read each evening: the staleness warning follows the calendar and the
price cache; realised and unrealised P&L add up to NAV's change."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from paper_support import ok

from xmtrade.paper.ledger import Ledger
from xmtrade.paper.views import status_lines


def lines_for(home: Path, **when: date | None) -> list[str]:
    ledger = Ledger.open(str(home / "paper.sqlite"), create=False)
    return status_lines(ledger, ledger.account("default"), None, **when)


def test_staleness_follows_the_calendar_and_the_cache(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(capsys, "paper", "init", "--start", "2025-10-13", "--offline")
    before = lines_for(home, latest_closed=date(2025, 10, 10))
    assert not any(line.startswith("warning: stale") for line in before)
    waiting = lines_for(home, latest_closed=date(2025, 10, 13), cached_through=None)
    assert (
        "warning: stale: nothing is processed yet, the latest closed session is 2025-10-13; "
        "run xmtrade paper step to fetch and process it"
    ) in waiting
    ok(capsys, "paper", "step", "--asof", "2025-10-30", "--offline")
    fresh = lines_for(home, latest_closed=date(2025, 10, 30), today=date(2025, 10, 30))
    assert "last bar: 2025-10-30 close 44.16, 0 days ago" in fresh
    assert not any(line.startswith("warning: stale") for line in fresh)
    behind = lines_for(home, latest_closed=date(2025, 10, 31), cached_through=date(2025, 10, 31))
    assert (
        "warning: stale: the ledger ends at 2025-10-30, the latest closed session is "
        "2025-10-31; the price cache has bars to 2025-10-31: xmtrade paper step --offline "
        "processes them"
    ) in behind


def test_realised_and_unrealised_add_up_to_the_nav(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(capsys, "paper", "init", "--start", "2025-03-03", "--offline")
    ok(capsys, "paper", "step", "--asof", "2025-11-28", "--offline")
    text = "\n".join(lines_for(home))

    def money(pattern: str) -> float:
        found = re.search(pattern, text)
        assert found, pattern
        sign = -1.0 if found.group(1) == "-" else 1.0
        return sign * float(found.group(2).replace(",", ""))

    nav = money(r"NAV ()HK\$([\d,.]+) \(")
    realised = money(r"realised P&L ([-+])HK\$([\d,.]+)")
    unrealised = money(r"unrealised P&L in all: ([-+])HK\$([\d,.]+)")
    assert nav == pytest.approx(1_000_000 + realised + unrealised, abs=0.01)
