"""The deflated Sharpe ratio against the hand-computed example of Bailey and López de Prado
(2014), the probability of backtest overfitting against a plain re-implementation, and both
from the digests a big sweep keeps instead of every trial's returns."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest

from xmtrade.sweep.overfitting import (
    deflated_sharpe,
    expected_max_sharpe,
    moments,
    pbo_cscv,
    probabilistic_sharpe,
    sharpe_per_period,
    trial_series,
)
from xmtrade.sweep.runner import Curves, Row, overfitting, rank


def test_deflated_sharpe_of_the_papers_example() -> None:
    """Bailey and López de Prado (2014), section 4: 100 trials whose annualised Sharpe ratios
    have variance 0.5, a winner with annualised Sharpe 2.5 over 1,250 daily returns with
    skewness -3 and kurtosis 10, at 250 sessions a year. Worked by hand:

        V    = 0.5 / 250                                   = 0.002
        sqrt(V)                                             = 0.0447214
        Z^-1(1 - 1/100)        = Z^-1(0.99)                 = 2.3263479
        Z^-1(1 - 1/(100 e))    = Z^-1(0.9963212)            = 2.6802104
        SR0  = 0.0447214 x (0.4227843 x 2.3263479 + 0.5772157 x 2.6802104)
             = 0.0447214 x 2.5306029                        = 0.1131720  (1.789 a year)
        SR   = 2.5 / sqrt(250)                              = 0.1581139
        z    = (0.1581139 - 0.1131720) x sqrt(1249)
               / sqrt(1 + 3 x 0.1581139 + (10 - 1) / 4 x 0.1581139^2)
             = 1.5882997 / 1.2371708                        = 1.2838160
        DSR  = Z(1.2838160)                                 = 0.9004

    The paper reports SR0 = 0.1132 and DSR = 0.9004."""
    sr = 2.5 / math.sqrt(250)
    # 100 trial Sharpe ratios whose sample variance is exactly 0.002
    spread = math.sqrt(0.002 * 99 / 100)
    trials = [-spread, spread] * 50
    dsr = deflated_sharpe(
        sharpe=sr, trial_sharpes=trials, trials=100, skewness=-3, kurtosis=10, observations=1250
    )
    assert dsr.sharpe_variance == pytest.approx(0.002, rel=1e-12)
    assert dsr.expected_max_sharpe == pytest.approx(0.1131720, abs=5e-8)
    assert dsr.dsr == pytest.approx(0.9004, abs=5e-5)
    annual = dsr.as_dict(250)
    assert annual["expected_max_sharpe_annualised"] == pytest.approx(1.789406, abs=5e-6)
    assert annual["sharpe_annualised"] == pytest.approx(2.5)


def test_one_trial_is_not_deflated() -> None:
    assert expected_max_sharpe(1, 0.01) == 0.0
    assert expected_max_sharpe(10, 0.0) == 0.0
    dsr = deflated_sharpe(0.05, [0.05], trials=1, skewness=0, kurtosis=3, observations=500)
    assert dsr.dsr == dsr.psr
    # normal returns: PSR = Z(SR sqrt(T-1) / sqrt(1 + SR^2 / 2))
    #                     = Z(0.05 x 22.33831 / 1.000625) = Z(1.116218) = 0.86784
    assert dsr.psr == pytest.approx(0.86784, abs=1e-5)


def test_more_trials_deflate_more() -> None:
    values = [deflated_sharpe(0.1, [0.0, 0.1, -0.1], n, 0, 3, 1000).dsr for n in (2, 10, 100)]
    assert values[0] is not None and values[1] is not None and values[2] is not None
    assert values[0] > values[1] > values[2]


def test_probabilistic_sharpe_needs_a_positive_variance() -> None:
    assert probabilistic_sharpe(1.0, 0.0, 100, skewness=5.0, kurtosis=3.0) is None
    assert probabilistic_sharpe(0.1, 0.0, 1, 0.0, 3.0) is None


def test_moments_by_hand() -> None:
    # 1, 2, 3, 10: mean 4, deviations -3 -2 -1 6; m2 = 50/4 = 12.5; m3 = 180/4 = 45;
    # m4 = (81 + 16 + 1 + 1296)/4 = 348.5; skew = 45 / 12.5^1.5; kurtosis = 348.5 / 156.25
    skew, kurt = moments(np.array([1.0, 2.0, 3.0, 10.0]))
    assert skew == pytest.approx(45 / 12.5**1.5)
    assert kurt == pytest.approx(348.5 / 156.25)
    assert moments(np.zeros(5)) == (0.0, 3.0)


def test_sharpe_per_period() -> None:
    r = np.array([0.01, -0.02, 0.03, 0.0])
    assert sharpe_per_period(r) == pytest.approx(r.mean() / r.std(ddof=1))
    assert sharpe_per_period(np.zeros(4)) is None
    assert sharpe_per_period(np.array([0.1])) is None


def plain_pbo(returns: np.ndarray, splits: int) -> float:
    """CSCV the slow, obvious way: every split, Sharpe ratios from the concatenated rows."""
    sessions, trials = returns.shape
    blocks = np.array_split(np.arange(sessions), splits)
    logits = []
    for chosen in itertools.combinations(range(splits), splits // 2):
        ins = np.concatenate([blocks[b] for b in chosen])
        outs = np.concatenate([blocks[b] for b in range(splits) if b not in chosen])

        def sharpe(rows: np.ndarray) -> np.ndarray:
            part = returns[rows]
            sd = part.std(axis=0, ddof=1)
            return np.where(sd > 1e-15, part.mean(axis=0) / np.where(sd > 0, sd, 1), 0.0)

        is_sr, oos_sr = sharpe(ins), sharpe(outs)
        best = int(np.argmax(is_sr))
        rank = (oos_sr < oos_sr[best]).sum() + ((oos_sr == oos_sr[best]).sum() + 1) / 2
        w = rank / (trials + 1)
        logits.append(math.log(w / (1 - w)))
    return float(np.mean(np.array(logits) <= 0))


def test_pbo_matches_the_plain_computation() -> None:
    rng = np.random.default_rng(11)
    returns = rng.normal(0.0, 0.01, size=(240, 12))
    returns[:, 3] += 0.0004  # a little real edge in one trial
    fast = pbo_cscv(returns, splits=8, batch=7)
    assert fast is not None
    assert fast.combinations == 70 and fast.trials == 12
    assert fast.pbo == pytest.approx(plain_pbo(returns, 8))


def test_a_trial_that_wins_everywhere_is_not_overfit() -> None:
    rng = np.random.default_rng(3)
    returns = rng.normal(0.0, 0.01, size=(400, 20))
    returns[:, 0] = np.abs(returns[:, 0]) + 0.001  # always up: best in and out of sample
    result = pbo_cscv(returns, splits=10)
    assert result is not None and result.pbo == 0.0


def test_a_winner_that_always_reverses_is_overfit() -> None:
    """Two trials, mirror images: A earns in the first half of the blocks and loses in the
    second, B the opposite. Whichever wins in sample holds more of its good blocks there, so
    fewer out of sample: it never beats the other out of sample (ties count as overfit)."""
    sessions = 320
    wiggle = np.where(np.arange(sessions) % 2 == 0, 0.001, -0.001)
    regime = np.where(np.arange(sessions) < sessions // 2, 0.002, -0.002)
    returns = np.column_stack([wiggle + regime, wiggle - regime])
    result = pbo_cscv(returns, splits=8)
    assert result is not None and result.pbo == 1.0


def test_pbo_needs_two_trials_and_enough_sessions() -> None:
    assert pbo_cscv(np.zeros((100, 1)), splits=4) is None
    assert pbo_cscv(np.zeros((7, 3)), splits=4) is None
    with pytest.raises(ValueError):
        pbo_cscv(np.zeros((100, 3)), splits=5)


def _rows(returns: np.ndarray, sharpes: list[float]) -> list[Row]:
    return [
        Row(i, {"x": i}, {"sharpe": s, "n_trades": 5}, returns[:, i].copy(), None, None, 0.0)
        for i, s in enumerate(sharpes)
    ]


def test_the_guards_from_digests_equal_those_from_the_whole_series() -> None:
    """A big sweep keeps each trial's `TrialSeries`, not its returns: the deflated Sharpe
    ratio and the PBO come out the same as from every series."""
    rng = np.random.default_rng(5)
    returns = rng.normal(0.0003, 0.01, size=(300, 30))
    sharpes = [float(v) for v in rng.normal(0.5, 0.3, size=30)]
    whole = _rows(returns, sharpes)
    best = max(whole, key=lambda r: r.metrics["sharpe"])  # type: ignore[index]
    expected = overfitting(whole, best, 246.0, 8)
    digested = [
        dataclasses.replace(r, returns=None, trial=trial_series(r.returns, 8))  # type: ignore[arg-type]
        for r in whole
    ]
    got = overfitting(digested, digested[best.index], 246.0, 8)
    assert got == expected
    assert expected["pbo"] is not None and expected["deflated_sharpe"] is not None
    assert expected["deflated_sharpe"]["observations"] == 300


def test_curves_keep_the_returns_of_the_leaders_and_the_default_only() -> None:
    rng = np.random.default_rng(9)
    returns = rng.normal(0.0, 0.01, size=(50, 40))
    sharpes = [float(v) for v in rng.permutation(40)]
    curves = Curves("sharpe", 1, 5, lambda row: row.params["x"] == 17)
    for row in _rows(returns, sharpes):
        curves.add(row)
    kept = {i for i, r in curves.rows.items() if r.returns is not None}
    leaders = {r.index for r in rank(list(curves.rows.values()), "sharpe", 1)[:5]}
    assert kept == leaders | {17}
    assert len(curves.rows) == 40
    confirmed = dataclasses.replace(curves.rows[0], returns=returns[:, 0], seconds=1.0)
    curves.add(confirmed)  # a confirmed run replaces its row and keeps its returns
    assert curves.rows[0] is confirmed
