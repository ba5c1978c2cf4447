"""The tables printed in the terminal, drawn with rich, in one number format everywhere:
percentages as percentages (12.34%), ratios with two decimals, money as HK$1,234.56."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

PLAIN_WIDTH = 160  # columns when the output is not a terminal (a file, a pipe)

# how each metric of a sweep or a comparison reads
PERCENT_METRICS = frozenset(
    {
        "total_return",
        "cagr",
        "annual_volatility",
        "max_drawdown",
        "win_rate",
        "exposure",
        "benchmark_total_return",
        "benchmark_max_drawdown",
        "average_weight",
        "max_weight",
        "time_in_market",
        "benchmark_cagr",
        "expectancy_pct_nav",
    }
)
COUNT_METRICS = frozenset(
    {"n_trades", "open_tranches", "sessions", "cap_breaches", "drawdown_days", "stale_decisions"}
)
MONEY_METRICS = frozenset({"final_nav", "fees_total", "expectancy", "initial_nav"})


def counted(count: int, noun: str, many: str | None = None) -> str:
    """`1 session`, `2 sessions`, `1,800 sessions`: a count with its noun agreed."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"


def short_params(params: dict[str, Any]) -> str:
    """Parameters by the last part of their dotted names (whole names when two clash)."""
    tails = [k.rsplit(".", 1)[-1] for k in params]
    names = tails if len(set(tails)) == len(tails) else list(params)
    return ", ".join(f"{n}={v}" for n, v in zip(names, params.values(), strict=True))


def console(stream: TextIO | None = None) -> Console:
    """A rich console on `stream` (stdout), PLAIN_WIDTH wide when it is not a terminal."""
    from rich.console import Console

    out = stream if stream is not None else sys.stdout
    tty = out.isatty()
    return Console(file=out, width=None if tty else PLAIN_WIDTH, highlight=False, soft_wrap=False)


def pct(value: float | None, digits: int = 2) -> str:
    """A fraction as a percentage: 0.1234 -> 12.34%."""
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def num(value: float | None, digits: int = 2) -> str:
    """A ratio with `digits` decimals."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def money(value: float | None, digits: int = 2) -> str:
    """HK$ with thousands separators."""
    if value is None:
        return "n/a"
    sign = "-" if value < 0 else ""
    return f"{sign}HK${abs(value):,.{digits}f}"


def metric(name: str, value: Any) -> str:
    """Any summary metric in the one format its kind takes."""
    if value is None or value == "":
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if name in PERCENT_METRICS:
        return pct(float(value))
    if name in COUNT_METRICS:
        return f"{int(value):,}"
    if name in MONEY_METRICS:
        return money(float(value))
    return num(float(value))


def _table(title: str | None = None, **kwargs: Any) -> Table:
    from rich import box
    from rich.table import Table

    return Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", **kwargs)


def summary_tables(summary: dict[str, Any]) -> list[Table]:
    """The backtest's figures: performance against buy and hold, then trades, then the rest."""
    stats = summary.get("statistics") or {}
    bench = stats.get("benchmark") or {}
    matched = stats.get("weight_matched_benchmark") or {}
    perf = _table("performance", show_lines=False)
    perf.add_column("")
    perf.add_column("strategy", justify="right")
    perf.add_column("buy and hold", justify="right")
    weight = pct(matched.get("weight"))
    perf.add_column(f"held at {weight}", justify="right")
    rows = [
        ("total return", "total_return", "total_return", pct),
        ("CAGR", "cagr", "cagr", pct),
        ("volatility", "annual_volatility", "annual_volatility", pct),
        ("Sharpe", "sharpe", "sharpe", num),
        ("max drawdown", "max_drawdown", "max_drawdown", pct),
    ]
    for label, key, bench_key, fmt in rows:
        perf.add_row(
            label, fmt(summary.get(key)), fmt(bench.get(bench_key)), fmt(matched.get(bench_key))
        )
    perf.add_row(
        "Sortino / Calmar", f"{num(summary['sortino'])} / {num(summary['calmar'])}", "", ""
    )
    perf.add_row(
        "final NAV",
        money(summary["final_nav"]),
        f"from {money(summary['initial_nav'], 0)}",
        "",
    )

    dd = stats.get("drawdowns") or {}
    run = _table("run", show_header=False)
    run.add_column("")
    run.add_column("")
    run.add_row(
        "period", f"{summary['start']} .. {summary['end']} ({summary['sessions']:,} sessions)"
    )
    current = dd.get("current")
    if current:
        run.add_row(
            "under water",
            f"[bold red]since the peak of {current['peak']}[/] ({current['days']:,} days, "
            f"{current['sessions']:,} sessions; deepest {pct(current['depth'])} on "
            f"{current['trough']})",
        )
    longest = (dd.get("longest") or [None])[0]
    if longest:
        end = longest["recovered"] or "not recovered"
        run.add_row(
            "longest drawdown",
            f"{longest['peak']} .. {end}: {longest['days']:,} days, {pct(longest['depth'])}",
        )
    w = stats.get("weight") or {}
    if w:
        run.add_row(
            "weight",
            f"average {pct(w['average'])}, {pct(w['average_when_invested'])} when invested, "
            f"maximum {pct(w['maximum'])}; in the market {pct(w['time_in_market'])} of sessions",
        )
    years = stats.get("yearly_returns") or {}
    if years:
        bench_years = bench.get("yearly_returns") or {}
        run.add_row(
            "yearly returns",
            "  ".join(f"{y}: {pct(v)} ({pct(bench_years.get(y), 0)})" for y, v in years.items())
            + "  (buy and hold in brackets)",
        )
    run.add_row("fees paid", _fees(summary))
    run.add_row("cap breaches", str(summary["cap_breaches"]))
    run.add_row(
        "sessions by stage",
        "  ".join(f"{k}: {v:,}" for k, v in summary["sessions_by_stage"].items()),
    )
    run.add_row("line alarms", _alarms(summary))
    run.add_row("stale decisions", str(summary["stale_decisions"]))
    run.add_row("last report", _last_report(summary))
    run.add_row("config hash", summary["config_hash"])
    return [perf, trades_table(summary), run]


def trades_table(summary: dict[str, Any]) -> Table:
    """Trades: counts, win rate, average win and loss, expectancy, best, worst, holding."""
    stats = (summary.get("statistics") or {}).get("trades") or {}
    table = _table("trades", show_header=False)
    table.add_column("")
    table.add_column("")
    table.add_row(
        "closed / open",
        f"{summary['n_trades']} closed, {summary['open_tranches']} open tranches",
    )
    table.add_row(
        "win rate / profit factor",
        f"{pct(summary['win_rate'])} / {num(summary['profit_factor'])}",
    )
    if stats and stats["closed"]:
        table.add_row(
            "average win / loss",
            f"{money(stats['average_win'])} ({pct(stats['average_win_pct_nav'])} of NAV) / "
            f"{money(stats['average_loss'])} ({pct(stats['average_loss_pct_nav'])})",
        )
        table.add_row(
            "expectancy",
            f"{money(stats['expectancy'])} a trade ({pct(stats['expectancy_pct_nav'])} of NAV)",
        )
        for label in ("best", "worst"):
            t = stats.get(label)
            if t:
                table.add_row(
                    f"{label} trade",
                    f"#{t['id']} {t['entry_date']} .. {t['exit_date']}: {money(t['pnl'])} "
                    f"({pct(t['pnl_pct_nav'])}), {t['exit_reason']}",
                )
        table.add_row(
            "average hold",
            f"{num(stats['average_sessions_held'], 1)} sessions "
            f"({num(stats['average_days_held'], 1)} days)",
        )
    held = stats.get("open_positions") or {}
    if held.get("tranches"):
        table.add_row(
            "open positions",
            f"{held['shares']:,} shares in {counted(held['tranches'], 'tranche')}, unrealised "
            f"{money(held['unrealised_pnl'])} at {held['last_close']}",
        )
    exits = summary.get("exits_by_reason") or {}
    table.add_row("exits by reason", "  ".join(f"{k}: {v}" for k, v in exits.items()) or "none")
    return table


def _fees(summary: dict[str, Any]) -> str:
    fees = summary["fees_paid"]
    parts = ", ".join(f"{k.replace('_', ' ')} {money(v)}" for k, v in fees["by_kind"].items())
    return f"{money(fees['total'])} ({parts})"


def _alarms(summary: dict[str, Any]) -> str:
    lines = summary["line_alarms"]
    if not lines:
        return "no risk lines configured"
    return "  ".join(
        f"{name}: {counts['alarms']} ({counts['sessions_in_alarm']:,} sessions)"
        for name, counts in lines.items()
    )


def _last_report(summary: dict[str, Any]) -> str:
    report = summary.get("last_report")
    if not report:
        return "none: no quarterly report was usable in the run (fundamentals unknown)"
    text = (
        f"{report['period']}, announced {report['announced']}, "
        f"{report['age_days_at_end']} days before the end"
    )
    if not report["stale"]:
        return text
    from data_feeds.fundamentals import shift_quarter

    due = shift_quarter(report["period"], 1)
    return f"[bold red]{text}: STALE[/], {due} is due (xmtrade facts fetch, or xmtrade facts add)"


def print_summary(summary: dict[str, Any], stream: TextIO | None = None) -> None:
    """Print the backtest's tables."""
    out = console(stream)
    for table in summary_tables(summary):
        out.print(table)


def ranked_table(
    rows: Sequence[Sequence[Any]], columns: Sequence[str], title: str | None = None
) -> Table:
    """A table of already formatted cells, the first column a rank."""
    table = _table(title)
    for name in columns:
        table.add_column(name, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*(str(c) for c in row))
    return table


def print_table(table: Table, stream: TextIO | None = None) -> None:
    """Print one rich table."""
    console(stream).print(table)
