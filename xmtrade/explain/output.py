"""The explanation's run folder, written whole into a temporary sibling and renamed into place
(a crash or Ctrl-C never leaves half of one): explain.json (everything), variants.csv (the
whole window), periods.csv (each year and regime), equity.csv (every run's daily NAV),
config.yaml (the plan), variants.yaml (each variant's overrides) and explain.html."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from xmtrade import __version__
from xmtrade.errors import ConfigError
from xmtrade.explain.variants import PLAN
from xmtrade.reports.page import write_page
from xmtrade.reports.run_folder import replace_folder

if TYPE_CHECKING:
    from xmtrade.config import AppConfig
    from xmtrade.explain.analysis import Explanation

EXPLAIN_FILES = frozenset(
    {
        "explain.json",
        "variants.csv",
        "periods.csv",
        "equity.csv",
        "config.yaml",
        "variants.yaml",
        "explain.html",
        "plotly.min.js",
    }
)
ROW_COLUMNS = (
    "span", "name", "label", "total_return", "cagr", "sharpe", "max_drawdown", "exposure",
    "trades", "fees", "diff", "low", "high", "p_above_zero", "block_length",
)  # fmt: skip


def document(explanation: Explanation, plan: AppConfig, settings: dict[str, Any]) -> dict[str, Any]:
    """explain.json: the settings, the variants, every row, the benchmark and the summary."""
    records = explanation.records
    return {
        "xmtrade_version": __version__,
        "symbol": plan.instrument.symbol,
        "config_hash": plan.config_hash(),
        "facts_digest": plan.facts_digest(),
        **settings,
        "seed": explanation.seed,
        "resamples": explanation.resamples,
        "confidence": 0.95,
        "statistic": "total return of the variant minus that of the plan over the span "
        "(fractions); the plan's row: the plan minus buy and hold at its average weight",
        "start": records[PLAN].dates[0].isoformat(),
        "end": records[PLAN].dates[-1].isoformat(),
        "variants": [
            {
                "name": v.name,
                "label": v.label,
                "rule": v.rule,
                "overrides": v.overrides,
                "source": v.source,
                "engine": records[v.name].engine,
                "config_hash": records[v.name].config_hash,
            }
            for v in explanation.variants
        ],
        "plan_engine": records[PLAN].engine,
        "buy_and_hold_at_average_weight": explanation.benchmark,
        "deflated_sharpe": explanation.sharpe,
        "spans": [
            {
                "name": s.name,
                "kind": s.kind,
                "start": s.start.isoformat(),
                "end": s.end.isoformat(),
                "sessions": s.sessions,
                "rows": [r.as_dict() for r in explanation.rows[s.name]],
            }
            for s in explanation.spans
        ],
        "summary": explanation.summary,
    }


def check_out(out: Path) -> None:
    """`--out` may be absent, empty, or an earlier explanation's folder (replaced whole)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError("--out", None, f"{out} is a file, expected a folder")
    entries = list(out.iterdir())
    if not all(e.name in EXPLAIN_FILES and e.is_file() for e in entries):
        raise ConfigError(
            "--out", None, f"{out} exists and holds files that are not an explanation's"
        )


def write_folder(
    out: Path,
    doc: dict[str, Any],
    explanation: Explanation,
    plan: AppConfig,
    page: str | None,
) -> Path:
    """Write the whole folder atomically; an earlier explanation at `out` is replaced."""
    check_out(out)
    return replace_folder(out, lambda staging: _write_files(staging, doc, explanation, plan, page))


def _write_files(
    folder: Path, doc: dict[str, Any], explanation: Explanation, plan: AppConfig, page: str | None
) -> None:
    (folder / "explain.json").write_text(
        json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8"
    )
    for name, spans in (("variants.csv", doc["spans"][:1]), ("periods.csv", doc["spans"][1:])):
        with (folder / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(ROW_COLUMNS)
            for span in spans:
                for row in span["rows"]:
                    versus = row.get("diff_to_plan") or row.get("excess_over_buy_and_hold") or {}
                    writer.writerow(
                        [span["name"], *(_cell(row[c]) for c in ROW_COLUMNS[1:10])]
                        + [_cell(versus.get(k)) for k in ROW_COLUMNS[10:14]]
                        + [_cell(versus.get("block_length"))]
                    )
    records = explanation.records
    names = [PLAN, *(v.name for v in explanation.variants)]
    with (folder / "equity.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["date", *names])
        for j, day in enumerate(records[PLAN].dates):
            writer.writerow([day.isoformat(), *(f"{records[n].nav[j]:.2f}" for n in names)])
    (folder / "config.yaml").write_text(plan.to_yaml(), encoding="utf-8")
    overlay = {
        "variants": {
            v.name: {"label": v.label, "rule": v.rule, "overrides": _plain(v.overrides)}
            for v in explanation.variants
        }
    }
    (folder / "variants.yaml").write_text(
        yaml.safe_dump(overlay, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    if page is not None:
        write_page(folder / "explain.html", page)  # plotly.min.js beside it, as every page


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _cell(value: Any) -> Any:
    return "" if value is None else value
