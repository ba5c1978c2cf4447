"""The drawdown breaker's state session by session (risk/breaker.py): when it trips and fires,
the cool-down, and what each `reset` does to its peak."""

from __future__ import annotations

import pytest

from risk.breaker import DrawdownBreaker


def breaker(reset: str, cooldown: int = 3, sessions: int = 0) -> DrawdownBreaker:
    """A 10% breaker on the whole NAV from a peak of 100."""
    return DrawdownBreaker(
        initial_nav=100.0,
        max_drawdown_pct=10,
        basis="nav",
        max_weight_pct=15,
        cooldown_sessions=cooldown,
        reset_mode=reset,
        reset_sessions=sessions,
    )


def walk(b: DrawdownBreaker, navs: list[float]) -> list[tuple[bool, bool, float, str | None]]:
    """(tripped, fired, peak after, why nothing opens) at each close of `navs`."""
    out = []
    for session, nav in enumerate(navs):
        b.mark(nav)
        verdict = b.evaluate(session, nav)
        out.append((verdict.tripped, verdict.fired, b.peak, b.blocks(session)))
    return out


def test_at_fire_restarts_the_peak_from_the_nav_it_fired_at() -> None:
    steps = walk(breaker("at_fire"), [100, 95, 90, 90, 90, 90, 85, 81, 81])
    assert [s[:3] for s in steps] == [
        (False, False, 100),
        (False, False, 100),
        (True, True, 90),  # 10% below 100: fires, the peak is now 90
        (False, False, 90),
        (False, False, 90),
        (False, False, 90),
        (False, False, 90),  # 85 is 5.6% below 90
        (True, True, 81),  # 10% below 90: fires again
        (False, False, 81),
    ]
    assert [s[3] is not None for s in steps] == [
        False,
        False,
        True,
        True,
        True,
        True,
        False,
        True,
        True,
    ]
    assert steps[3][3] == "drawdown breaker cooling down"


def test_none_keeps_the_peak_and_stands_until_the_nav_is_back_within_the_limit() -> None:
    steps = walk(breaker("none", cooldown=1), [100, 90, 90, 90, 95, 92, 89, 89])
    assert [s[:3] for s in steps] == [
        (False, False, 100),
        (True, True, 100),  # fires; the peak stays
        (True, False, 100),  # still stands: no second fire, no new cool-down
        (True, False, 100),
        (False, False, 100),  # 95 is back within 10% of 100
        (False, False, 100),
        (True, True, 100),  # a new fall through the limit is a new fire
        (True, False, 100),
    ]
    assert steps[2][3] is not None and steps[2][3].startswith("drawdown breaker stands")
    assert steps[4][3] is None and steps[5][3] is None  # cool-down of 1 long over


def test_after_sessions_holds_the_peak_n_sessions_then_restarts_it() -> None:
    steps = walk(breaker("after_sessions", cooldown=0, sessions=3), [100, 90, 90, 90, 90, 90, 81])
    assert [s[:3] for s in steps] == [
        (False, False, 100),
        (True, True, 100),  # fires at session 1: the peak stays until session 4
        (True, False, 100),
        (True, False, 100),
        (False, False, 90),  # session 4: the peak restarts from the NAV of 90
        (False, False, 90),
        (True, True, 90),  # 10% below the restarted peak
    ]
    assert [s[3] is None for s in steps] == [True, False, False, False, True, True, False]


def test_the_cool_down_counts_from_the_fire() -> None:
    steps = walk(breaker("at_fire", cooldown=2), [100, 90, 90, 90, 90])
    why = [s[3] or "" for s in steps]
    assert why[0] == "" and why[4] == ""
    assert why[1].startswith("drawdown breaker stands: NAV HK$10.00 below its peak")
    assert why[2] == why[3] == "drawdown breaker cooling down"


def test_the_detail_says_the_peak_before_and_after() -> None:
    b = breaker("after_sessions", sessions=20)
    b.mark(100)
    verdict = b.evaluate(0, 89.0)
    assert verdict.detail["peak_nav"] == 100 and verdict.detail["peak_after"] == 100
    assert verdict.detail["reset"] == "after_sessions 20"
    assert verdict.detail["loss"] == 11 and verdict.detail["limit"] == 10


def test_an_unknown_reset_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown breaker reset"):
        breaker("sometimes")


@pytest.mark.parametrize(
    ("written", "mode", "sessions"),
    [("at_fire", "at_fire", 0), ("none", "none", 0), ("after_sessions 20", "after_sessions", 20)],
)
def test_the_config_reads_each_reset(written: str, mode: str, sessions: int) -> None:
    from xmtrade.config import load_config

    cfg = load_config(overrides={"risk.drawdown_breaker.reset": written})
    assert cfg.risk.drawdown_breaker is not None
    assert (cfg.risk.drawdown_breaker.reset_mode, cfg.risk.drawdown_breaker.reset_sessions) == (
        mode,
        sessions,
    )


@pytest.mark.parametrize("written", ["after_sessions 0", "after_sessions", "later", "at fire"])
def test_a_bad_reset_is_one_line_naming_the_key(written: str) -> None:
    from xmtrade.config import load_config
    from xmtrade.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_config(overrides={"risk.drawdown_breaker.reset": written})
    line = caught.value.line()
    assert "risk.drawdown_breaker.reset" in line and "after_sessions N (1 <= N <= " in line


def test_the_packaged_default_is_at_fire() -> None:
    from xmtrade.config import load_config

    breaker = load_config().risk.drawdown_breaker
    assert breaker is not None and breaker.reset == "at_fire"
