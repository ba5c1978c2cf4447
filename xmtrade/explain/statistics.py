"""How sure the differences are: a stationary block bootstrap (Politis and Romano 1994, from
`arch`) of paired daily returns.

For a variant against the plan, the two runs' daily returns are resampled together, session
by session with the same indices, in blocks of random (geometric) length whose mean is the
block length `arch.bootstrap.optimal_block_length` chooses for the daily differences
(variant minus plan; Politis and White 2004 with Patton, Politis and White's 2009
correction), at least one session. Each resample's statistic is the difference of the two
total returns compounded over the resampled sessions; the interval is the 2.5% and 97.5%
percentiles of the resamples, and P(diff > 0) the share of resamples above zero. Two runs that
never differ get the difference 0 and no interval (nothing to resample).

Each bootstrap draws from its own generator, seeded from the run's seed, the variant's name
and the span's name (`numpy.random.SeedSequence`), so that a row does not change when
variants are added or the order changes, and the same --seed reproduces every number.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

CONFIDENCE = 0.95
SAME = 1e-12  # daily returns closer than this are the same return


@dataclass(frozen=True)
class Interval:
    """A difference of total returns (fractions) with its bootstrap interval."""

    diff: float
    low: float | None
    high: float | None
    p_above: float | None  # share of resamples with a difference above zero
    block: float | None  # mean block length in sessions
    identical: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "diff": _r(self.diff),
            "low": _r(self.low),
            "high": _r(self.high),
            "p_above_zero": _r(self.p_above),
            "block_length": None if self.block is None else round(self.block, 3),
            "identical": self.identical,
        }

    def flipped(self) -> Interval:
        """The same interval for the opposite difference (plan minus variant)."""
        return Interval(
            diff=-self.diff,
            low=None if self.high is None else -self.high,
            high=None if self.low is None else -self.low,
            p_above=None if self.p_above is None else 1.0 - self.p_above,
            block=self.block,
            identical=self.identical,
        )


def _r(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 8)


def total_return(returns: np.ndarray) -> float:
    """Compounded return of a series of daily returns."""
    return float(np.expm1(np.log1p(returns).sum())) if len(returns) else 0.0


def block_length(differences: np.ndarray) -> float:
    """The stationary bootstrap's mean block length for a series, by `arch`'s
    `optimal_block_length`; at least 1 session (1 when the estimate is undefined)."""
    import warnings

    from arch.bootstrap import optimal_block_length

    if len(differences) < 10 or float(np.std(differences)) == 0.0:
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        estimate = float(optimal_block_length(differences)["stationary"].iloc[0])
    if not math.isfinite(estimate):
        return 1.0
    return max(1.0, min(estimate, len(differences) / 2))


def generator(seed: int, *names: str) -> np.random.Generator:
    """The generator of one bootstrap, from the run's seed and the names of what it draws."""
    words = [zlib.crc32(n.encode("utf-8")) for n in names]
    return np.random.default_rng(np.random.SeedSequence([seed, *words]))


def paired_interval(
    ours: np.ndarray,
    theirs: np.ndarray,
    resamples: int,
    rng: np.random.Generator,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Total return of `ours` minus that of `theirs` (paired daily returns of one span), with
    its stationary block bootstrap interval and P(diff > 0)."""
    from arch.bootstrap import StationaryBootstrap

    a = np.asarray(ours, dtype=float)
    b = np.asarray(theirs, dtype=float)
    diff = total_return(a) - total_return(b)
    differences = a - b
    if len(a) == 0 or float(np.max(np.abs(differences))) < SAME:
        return Interval(0.0, None, None, None, None, True)
    block = block_length(differences)
    log_a, log_b = np.log1p(a), np.log1p(b)
    sessions = np.arange(len(a))
    # arch types the mean block length as int but uses it as p = 1 / block_size: the
    # estimate's real value is kept
    bootstrap = StationaryBootstrap(block, sessions, seed=rng)  # type: ignore[arg-type]
    # the library's index draws (what `bootstrap.bootstrap(n)` resamples with), all at once
    index = np.stack([bootstrap.update_indices() for _ in range(resamples)])
    stats = np.expm1(log_a[index].sum(axis=1)) - np.expm1(log_b[index].sum(axis=1))
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(stats, [tail, 1.0 - tail])
    return Interval(
        diff=diff,
        low=float(low),
        high=float(high),
        p_above=float(np.mean(stats > 0)),
        block=block,
        identical=False,
    )


def held_at_weight(close: np.ndarray, risk_free: np.ndarray, weight: float) -> np.ndarray:
    """Daily returns of buying and holding `weight` of the starting NAV in the stock at the
    first close, the rest in cash at the cash rate (no costs): the plan's benchmark at its
    own average weight."""
    price = np.asarray(close, dtype=float) / float(close[0])
    cash = np.cumprod(1.0 + np.asarray(risk_free, dtype=float))
    nav = weight * price + (1.0 - weight) * cash
    previous = np.concatenate(([1.0], nav[:-1]))
    result: np.ndarray = nav / previous - 1.0
    return result


def plan_sharpe(
    returns: np.ndarray, risk_free: np.ndarray, trial_returns: list[tuple[np.ndarray, np.ndarray]]
) -> dict[str, Any] | None:
    """The deflated Sharpe ratio of the plan (`sweep.overfitting`), counting every run of the
    explanation as a trial, and its probabilistic Sharpe ratio against zero."""
    from xmtrade.sweep.overfitting import deflated_sharpe, moments

    def sharpe(r: np.ndarray, rf: np.ndarray) -> float | None:
        if len(r) < 2 or float(r.std(ddof=1)) == 0.0:
            return None
        return float((r - rf).mean()) / float(r.std(ddof=1))

    own = sharpe(returns, risk_free)
    if own is None:
        return None
    trials = [s for s in (sharpe(r, rf) for r, rf in trial_returns) if s is not None]
    skew, kurt = moments(returns)
    result = deflated_sharpe(own, trials, len(trial_returns), skew, kurt, len(returns))
    return {
        "sharpe_per_session": _r(result.sharpe),
        "trials": result.trials,
        "expected_max_sharpe_per_session": _r(result.expected_max_sharpe),
        "skewness": _r(result.skewness),
        "kurtosis": _r(result.kurtosis),
        "observations": result.observations,
        "psr": _r(result.psr),
        "dsr": _r(result.dsr),
    }
