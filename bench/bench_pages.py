"""The weight and load time of report pages, in headless Chromium at 1400 and 390 px wide.

Not a test: a measurement, printed as a table (and as JSON with --json). For each page it
reports its size (plotly.min.js, written once per folder, apart), and over `--repeat`
openings the time until the page is interactive (the navigation's domInteractive, the
plotting script parsed and run) and until every plot is drawn, at each width. The aim
(issue 21) is under 1 MB and under 1 s; a machine under load is slower, so say the load
average with the figures.

    python bench/bench_pages.py RUN_FOLDER/report.html SWEEP/report.html ...
    python bench/bench_pages.py --backtest     # a default backtest of the shared prices first
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "xmtrade" / "reports"))

DEFAULT_PRICES = Path(os.environ.get("XMTRADE_SHARED_DATA", REPO.parent / "shared" / "data"))
DRAWN = (
    "Array.from(document.querySelectorAll('.js-plotly-plot'))"
    ".every(p => p.querySelector('.main-svg') && p._fullData)"
)


def default_backtest(folder: Path) -> Path:
    """report.html of a default backtest over the shared 1810.HK history."""
    from xmtrade.cli import main

    home = folder / "home"
    if main(["data", "import", str(DEFAULT_PRICES / "1810.HK.csv"), "--data-dir", str(home)]):
        raise SystemExit("could not import the shared prices")
    if main(["backtest", "--data-dir", str(home), "--out", str(folder / "run")]):
        raise SystemExit("the backtest failed")
    return folder / "run" / "report.html"


def measure(pages: list[Path], repeat: int) -> list[dict[str, Any]]:
    from browser_support import Browser

    rows = []
    with Browser() as browser:
        for page in pages:
            for width in (1400, 390):
                browser.resize(width)
                interactive, drawn = [], []
                for _ in range(repeat):
                    began = time.monotonic()
                    browser.open(page, settle=0.0)
                    while not browser.evaluate(DRAWN):
                        time.sleep(0.02)
                    drawn.append(time.monotonic() - began)
                    timing = browser.evaluate(
                        "performance.getEntriesByType('navigation')[0].domInteractive"
                    )
                    interactive.append(float(timing) / 1000)
                rows.append(
                    {
                        "page": str(page),
                        "width": width,
                        "page_mb": round(page.stat().st_size / 1e6, 3),
                        "plotly_mb": round((page.parent / "plotly.min.js").stat().st_size / 1e6, 3),
                        "interactive_s": round(min(interactive), 3),
                        "drawn_s": round(min(drawn), 3),
                    }
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", type=Path, help="report.html files to open")
    parser.add_argument("--backtest", action="store_true", help="measure a default backtest")
    parser.add_argument("--repeat", type=int, default=3, help="openings per width (best kept)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    pages = list(args.pages)
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as scratch:
        if args.backtest:
            pages.append(default_backtest(Path(scratch)))
        if not pages:
            parser.error("name report.html files or pass --backtest")
        rows = measure(pages, args.repeat)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    if args.json:
        print(json.dumps({"load_average": load, "pages": rows}, indent=2))
        return
    print(f"load average {load:.1f} on {os.cpu_count()} cores (best of {args.repeat})")
    for row in rows:
        print(
            f"{row['page']} @{row['width']}px: {row['page_mb']:.2f} MB (+ plotly.min.js "
            f"{row['plotly_mb']:.2f} MB once per folder), interactive {row['interactive_s']:.2f}"
            f" s, every plot drawn {row['drawn_s']:.2f} s"
        )


if __name__ == "__main__":
    main()
