"""What each figure of the reports means, in one sentence: the tooltip of its card or column
on every page (the documentation's glossary says the same at more length)."""

from __future__ import annotations

GLOSSARY: dict[str, str] = {
    "total_return": "final NAV over initial NAV, minus 1",
    "cagr": "compound annual growth rate: the yearly rate that turns the initial NAV into the "
    "final one over the run's calendar time",
    "annual_volatility": "standard deviation of daily returns (ddof 1) times the square root of "
    "sessions per year",
    "sharpe": "mean daily return above the cash rate over the daily volatility, times the square "
    "root of sessions per year (annualised; 0 = no better than cash)",
    "sortino": "as Sharpe, with the downside deviation (returns below the cash rate) in place "
    "of the volatility",
    "max_drawdown": "the deepest fall of the NAV from its running peak, as a fraction of the peak",
    "calmar": "CAGR over the size of the maximum drawdown",
    "win_rate": "closed trades with a positive P&L after costs, over all closed trades",
    "profit_factor": "gross profit of the winning trades over the gross loss of the losing ones",
    "expectancy": "mean P&L per closed trade after costs",
    "exposure": "share of sessions with shares held",
    "n_trades": "closed trades (tranches bought and sold)",
    "deflated_sharpe": "deflated Sharpe ratio (Bailey and López de Prado): the probability that "
    "the best combination's true Sharpe is above what the best of that many skill-less trials "
    "would show by luck",
    "psr": "probabilistic Sharpe ratio PSR(0): the probability that the true Sharpe is above 0, "
    "given the observed one, the number of sessions, and the skew and kurtosis of the returns",
    "pbo": "probability of backtest overfitting (CSCV): how often the combination best on one "
    "half of the data ranks in the bottom half on the other",
    "walk_forward_efficiency": "stitched out-of-sample CAGR over the mean in-sample CAGR of the "
    "windows' winners; only when that in-sample CAGR is above 0",
    "stitched": "computed on the out-of-sample curve made by chaining every test span",
    "mean_of_windows": "the mean of each window's own out-of-sample figure",
    "under_water": "sessions since the NAV was last at its peak",
}


def define(term: str) -> str:
    """The one-sentence definition of `term` ('' when the glossary has none)."""
    return GLOSSARY.get(term, "")


__all__ = ["GLOSSARY", "define"]
