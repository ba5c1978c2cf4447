"""Guards against a lucky winner: the deflated Sharpe ratio and the probability of backtest
overfitting.

**Deflated Sharpe ratio** (Bailey and López de Prado, "The Deflated Sharpe Ratio:
Correcting for Selection Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio
Management 40(5), 2014). With per-period (not annualised) Sharpe ratios:

    SR0 = sqrt(V) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e)))
    DSR = Z( (SR - SR0) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurt - 1) / 4 * SR^2) )

where N is the number of trials, V the variance of the trials' Sharpe ratios, g the
Euler-Mascheroni constant, Z the standard normal CDF, SR the winner's Sharpe ratio, T the
number of its returns, skew and kurt (3 for a normal) the skewness and kurtosis of its
returns. SR0 is the Sharpe ratio the best of N skill-less trials would be expected to
show; DSR is the probability that the winner's true Sharpe ratio is above zero after that
correction. With one trial SR0 is 0 and DSR is the probabilistic Sharpe ratio PSR(0).

**Probability of backtest overfitting** by combinatorially symmetric cross-validation
(Bailey, Borwein, López de Prado and Zhu, "The Probability of Backtest Overfitting",
Journal of Computational Finance 20(4), 2017): the T x N matrix of the trials' returns is
cut into S blocks of sessions; for every choice of S/2 blocks as in-sample (the rest
out-of-sample) the trial with the best in-sample Sharpe ratio is ranked out of sample,
w = rank / (N + 1), logit = ln(w / (1 - w)). PBO is the share of splits with logit <= 0:
how often the in-sample winner is at or below the median out of sample.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


@dataclass(frozen=True)
class DeflatedSharpe:
    """The deflated Sharpe ratio of a winner and every number behind it."""

    trials: int
    sharpe: float  # the winner's, per period
    sharpe_variance: float  # across trials, per period
    expected_max_sharpe: float  # SR0, per period
    skewness: float
    kurtosis: float  # not excess: 3 for a normal distribution
    observations: int
    psr: float | None  # probabilistic Sharpe ratio against 0
    dsr: float | None  # against SR0

    def as_dict(self, periods_per_year: float) -> dict[str, Any]:
        """JSON form, with the Sharpe ratios annualised too."""
        out = asdict(self)
        root = math.sqrt(periods_per_year)
        out["sharpe_annualised"] = self.sharpe * root
        out["expected_max_sharpe_annualised"] = self.expected_max_sharpe * root
        return out


def expected_max_sharpe(trials: int, variance: float) -> float:
    """SR0: the expected maximum Sharpe ratio of `trials` skill-less trials whose Sharpe ratios
    have variance `variance` (per period)."""
    if trials < 2 or variance <= 0:
        return 0.0
    quantile = _NORMAL.inv_cdf
    return math.sqrt(variance) * (
        (1 - EULER_GAMMA) * quantile(1 - 1 / trials)
        + EULER_GAMMA * quantile(1 - 1 / (trials * math.e))
    )


def probabilistic_sharpe(
    sharpe: float, benchmark: float, observations: int, skewness: float, kurtosis: float
) -> float | None:
    """Probability that the true per-period Sharpe ratio exceeds `benchmark` (None when the
    non-normality correction leaves no variance to divide by)."""
    if observations < 2:
        return None
    radicand = 1 - skewness * sharpe + (kurtosis - 1) / 4 * sharpe**2
    if not radicand > 0:
        return None
    z = (sharpe - benchmark) * math.sqrt(observations - 1) / math.sqrt(radicand)
    return _NORMAL.cdf(z)


def deflated_sharpe(
    sharpe: float,
    trial_sharpes: Sequence[float],
    trials: int,
    skewness: float,
    kurtosis: float,
    observations: int,
) -> DeflatedSharpe:
    """DSR of a winner with per-period Sharpe `sharpe`, chosen among `trials` trials whose
    per-period Sharpe ratios are `trial_sharpes` (those that have one)."""
    finite = [s for s in trial_sharpes if math.isfinite(s)]
    variance = float(np.var(finite, ddof=1)) if len(finite) > 1 else 0.0
    sr0 = expected_max_sharpe(trials, variance)
    return DeflatedSharpe(
        trials=trials,
        sharpe=sharpe,
        sharpe_variance=variance,
        expected_max_sharpe=sr0,
        skewness=skewness,
        kurtosis=kurtosis,
        observations=observations,
        psr=probabilistic_sharpe(sharpe, 0.0, observations, skewness, kurtosis),
        dsr=probabilistic_sharpe(sharpe, sr0, observations, skewness, kurtosis),
    )


def moments(returns: np.ndarray) -> tuple[float, float]:
    """Skewness and (non-excess) kurtosis of a return series (population moments; 0 and 3
    when the series does not move)."""
    r = np.asarray(returns, dtype=float)
    centred = r - r.mean()
    m2 = float(np.mean(centred**2))
    if m2 <= 0:
        return 0.0, 3.0
    return float(np.mean(centred**3)) / m2**1.5, float(np.mean(centred**4)) / m2**2


def sharpe_per_period(returns: np.ndarray, risk_free_per_period: float = 0.0) -> float | None:
    """Mean excess return over the standard deviation of returns (sample), per period."""
    r = np.asarray(returns, dtype=float)
    if len(r) < 2:
        return None
    sd = float(r.std(ddof=1))
    return float((r - risk_free_per_period).mean()) / sd if sd > 0 else None


@dataclass(frozen=True)
class Pbo:
    """The probability of backtest overfitting of a set of trials, by CSCV."""

    pbo: float
    splits: int  # S, blocks of sessions
    combinations: int  # C(S, S/2) in-sample choices evaluated
    trials: int
    median_logit: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pbo_cscv(returns: np.ndarray, splits: int, batch: int = 512) -> Pbo | None:
    """PBO of the trials whose daily returns are the columns of `returns` (T x N), by CSCV
    with `splits` blocks (even). None when there are fewer than 2 trials or too few
    sessions for the blocks (2 per block)."""
    matrix = np.asarray(returns, dtype=float)
    if matrix.ndim != 2 or splits < 2 or splits % 2:
        raise ValueError("returns must be T x N and splits an even number >= 2")
    sessions, trials = matrix.shape
    if trials < 2 or sessions < 2 * splits:
        return None
    blocks = np.array_split(np.arange(sessions), splits)
    count = np.array([len(b) for b in blocks], dtype=float)
    s1 = np.stack([matrix[b].sum(axis=0) for b in blocks])  # S x N
    s2 = np.stack([(matrix[b] ** 2).sum(axis=0) for b in blocks])
    return pbo_from_blocks(s1, s2, count, batch)


def block_sums(returns: np.ndarray, splits: int) -> tuple[np.ndarray, np.ndarray]:
    """(sums, sums of squares) of one trial's daily returns over the `splits` blocks of
    `pbo_cscv`: what the PBO needs of a trial, without keeping every trial's series in one
    matrix."""
    series = np.asarray(returns, dtype=float)
    starts = [int(b[0]) for b in np.array_split(np.arange(len(series)), splits)]
    return np.add.reduceat(series, starts), np.add.reduceat(series**2, starts)


@dataclass(frozen=True)
class TrialSeries:
    """What the deflated Sharpe ratio and the PBO need of one trial's daily returns, so that
    a big search need not keep every trial's series: its length, skewness and kurtosis and
    its `block_sums` (None when the series is too short for the blocks)."""

    observations: int
    skewness: float
    kurtosis: float
    sums: np.ndarray | None
    squares: np.ndarray | None


def trial_series(returns: np.ndarray, splits: int) -> TrialSeries:
    """The `TrialSeries` of one trial's daily returns, for the PBO over `splits` blocks."""
    series = np.asarray(returns, dtype=float)
    skew, kurt = moments(series) if len(series) else (0.0, 3.0)
    if len(series) < 2 * splits:
        return TrialSeries(len(series), skew, kurt, None, None)
    sums, squares = block_sums(series, splits)
    return TrialSeries(len(series), skew, kurt, sums, squares)


def pbo_from_blocks(
    s1: np.ndarray, s2: np.ndarray, count: np.ndarray, batch: int = 512
) -> Pbo | None:
    """`pbo_cscv` from each trial's block sums (S x N) and the sessions of each block (S)."""
    splits, trials = s1.shape
    if trials < 2 or splits < 2 or splits % 2 or (count < 2).any():
        return None
    batch = max(1, min(batch, 4_000_000 // trials))  # bounded temporaries for many trials
    chosen = np.array(
        [c for c in itertools.combinations(range(splits), splits // 2)], dtype=np.int64
    )
    mask = np.zeros((len(chosen), splits), dtype=float)
    mask[np.arange(len(chosen))[:, None], chosen] = 1.0
    logits: list[np.ndarray] = []
    for first in range(0, len(mask), batch):
        part = mask[first : first + batch]
        ins = _block_sharpe(part, count, s1, s2)
        outs = _block_sharpe(1.0 - part, count, s1, s2)
        best = np.argmax(ins, axis=1)  # in-sample winner of each split (first on ties)
        winner_oos = outs[np.arange(len(part)), best][:, None]
        below = (outs < winner_oos).sum(axis=1)
        ties = (outs == winner_oos).sum(axis=1)
        rank = below + (ties + 1) / 2.0  # 1..N, ties at their average rank
        w = rank / (trials + 1)
        logits.append(np.log(w / (1 - w)))
    logit = np.concatenate(logits)
    return Pbo(
        pbo=float(np.mean(logit <= 0)),
        splits=splits,
        combinations=len(mask),
        trials=trials,
        median_logit=float(np.median(logit)),
    )


def _block_sharpe(
    mask: np.ndarray, count: np.ndarray, s1: np.ndarray, s2: np.ndarray
) -> np.ndarray:
    """Per-period Sharpe ratio of each trial over the blocks picked by each row of `mask`
    (0 where the returns do not move)."""
    n = mask @ count  # sessions per split
    total = mask @ s1
    squares = mask @ s2
    mean = total / n[:, None]
    variance = (squares - total * mean) / (n[:, None] - 1)
    sd = np.sqrt(np.clip(variance, 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 1e-15, mean / sd, 0.0)
