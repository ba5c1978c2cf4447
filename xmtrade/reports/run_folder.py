"""The run folder: summary.json, config.yaml, trades.csv, fills.csv, equity.csv,
decisions.jsonl, chart.png, report.html and the plotly.min.js it reads. A folder is written
whole into a temporary sibling and renamed into place, so a crash never leaves half a run
behind."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from xmtrade.backtest import BacktestResult
from xmtrade.errors import ConfigError
from xmtrade.reports.figures import decision_line, json_default
from xmtrade.reports.page import PLOTLY_JS

RUN_FILES = frozenset(
    {
        "summary.json",
        "config.yaml",
        "trades.csv",
        "fills.csv",
        "equity.csv",
        "decisions.jsonl",
        "chart.png",
        "report.html",
        PLOTLY_JS,
    }
)


def new_run_dir(runs_root: Path, config_hash: str) -> Path:
    """A fresh run folder under the runs directory, reserved (created empty) so that two runs
    started in the same second never share it."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        runs_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            "data directory", None, f"cannot create {runs_root}: {exc.strerror}"
        ) from None
    n = 1
    while True:
        suffix = "" if n == 1 else f"-{n}"
        candidate = runs_root / f"{stamp}-{config_hash[:8]}{suffix}"
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1
        except OSError as exc:
            raise ConfigError(
                "data directory", None, f"cannot create {candidate}: {exc.strerror}"
            ) from None


def write_run(
    result: BacktestResult,
    summary: dict[str, Any],
    out: Path,
    formats: frozenset[str] = frozenset({"html", "png"}),
) -> Path:
    """Write the whole run folder atomically, with the reports in `formats` (html: report.html,
    png: chart.png). An existing folder at `out` is replaced only when it is empty or holds
    nothing but an earlier run's own files."""
    if out.exists() and not out.is_dir():
        raise ConfigError("--out", None, f"{out} is a file, expected a folder")
    if out.exists() and not _is_run(out):
        raise ConfigError(
            "--out", None, f"{out} exists and holds files that are not an xmtrade run's"
        )
    return replace_folder(out, lambda staging: _write_files(result, summary, staging, formats))


def replace_folder(out: Path, write: Callable[[Path], None]) -> Path:
    """Have `write` fill a staging folder beside `out`, then swap it in whole: `out` holds
    either its earlier content or the new one, never a mix (a failure or a stop removes the
    staging folder)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp makes 0700; a run folder is a normal folder
    except OSError as exc:
        raise ConfigError("--out", None, f"cannot create {out}: {exc.strerror}") from None
    try:
        write(staging)
        if out.exists():
            trash = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(trash)
            staging.rename(out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _is_run(folder: Path) -> bool:
    """Empty, or nothing but the files a run writes (so replacing it loses nothing else)."""
    entries = list(folder.iterdir())
    return all(e.name in RUN_FILES and e.is_file() for e in entries)


def _write_files(
    result: BacktestResult, summary: dict[str, Any], folder: Path, formats: frozenset[str]
) -> None:
    (folder / "summary.json").write_text(
        json.dumps(summary, indent=2, default=json_default) + "\n", encoding="utf-8"
    )
    (folder / "config.yaml").write_text(result.config.to_yaml(), encoding="utf-8")
    result.trades.to_csv(folder / "trades.csv", index=False)
    result.fills.to_csv(folder / "fills.csv", index=False)
    columns = ["nav", "cash", "position_value", "shares", "weight", "drawdown", "stage", "ps_ratio"]
    columns += sorted(c for c in result.equity.columns if c.startswith("line"))
    equity = result.equity[columns]
    equity.to_csv(folder / "equity.csv", index_label="date", float_format="%.6f")
    with (folder / "decisions.jsonl").open("w", encoding="utf-8") as out:
        for decision in result.decisions:
            out.write(decision_line(decision) + "\n")
    if "png" in formats:
        from xmtrade.reports.chart import plot_run

        plot_run(result, folder / "chart.png")
    if "html" in formats:
        from xmtrade.reports.run_page import write_run_page

        write_run_page(result, summary, folder / "report.html")
