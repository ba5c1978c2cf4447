"""Every kind of report.html opened in headless Chromium: no JavaScript error, every plot
drawn (its elements in the DOM), the interactions working, a screenshot under tmp."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from browser_support import CHROMIUM, Browser

from xmtrade.cli import main

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="chromium is not installed"),
]

PLOTS = "Array.from(document.querySelectorAll('.js-plotly-plot')).map(p => p.id)"
DRAWN = (
    "Array.from(document.querySelectorAll('.js-plotly-plot'))"
    ".filter(p => p.querySelector('.main-svg') && p._fullData && p._fullData.length > 0)"
    ".map(p => p.id)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for every page of this module."""
    with Browser() as opened:
        yield opened


def check_page(
    browser: Browser,
    page: Path,
    shots: Path,
    plots: set[str],
    widths: tuple[int, ...] = (1400, 390),
) -> None:
    """Open `page` at each width: no error, `plots` all drawn, a screenshot of each; the
    page is left open at the first width. At a phone's width (under 700 px) every plot keeps
    a plotting area at least 250 px high with its legend under it, and nothing but a
    table's own box scrolls sideways."""
    for width in (*widths[1:], widths[0]):
        browser.resize(width)
        browser.open(page)
        assert browser.errors == [], browser.errors
        assert set(browser.evaluate(PLOTS)) == plots
        assert set(browser.evaluate(DRAWN)) == plots
        # the one script read from a file is plotly.min.js beside the page: nothing from
        # the network
        sources = browser.evaluate(
            "Array.from(document.scripts).filter(s => s.src).map(s => s.src)"
        )
        assert sources == [(page.parent / "plotly.min.js").resolve().as_uri()]
        if width < 700:
            check_narrow(browser, width)
        shot = shots / f"{page.parent.name}-{width}.png"
        browser.screenshot(shot)
        assert shot.stat().st_size > 10_000


def check_narrow(browser: Browser, width: int) -> None:
    """A narrow page: plots tall enough, legends below them, no sideways page scroll."""
    sizes = browser.evaluate(
        "Array.from(document.querySelectorAll('.js-plotly-plot')).map(p => [p.id, "
        "p._fullLayout._size.h, p._fullLayout.showlegend ? p._fullLayout.legend.yref : '', "
        "p.getBoundingClientRect().height, p._fullLayout.height, "
        "p.parentElement.getBoundingClientRect().height])"
    )
    for ident, plot_height, legend_ref, box, height, wrapper in sizes:
        assert plot_height >= 250, (ident, plot_height)
        assert legend_ref in ("", "container"), (ident, legend_ref)  # under the plot
        # the div and its wrapper grew with the figure: nothing below is drawn over
        assert box >= height - 1 and wrapper >= height - 1, (ident, box, wrapper, height)
    assert browser.evaluate("document.documentElement.scrollWidth") <= width
    wide = browser.evaluate(
        "Array.from(document.querySelectorAll('table')).filter(t => t.scrollWidth > "
        f"{width}).map(t => getComputedStyle(t.closest('section, .scroll')).overflowX)"
    )
    assert all(overflow in ("auto", "scroll") for overflow in wide), wide


def test_backtest_report_in_a_browser(browser: Browser, backtest_run: Path, tmp_path: Path) -> None:
    page = backtest_run / "report.html"
    check_page(
        browser, page, tmp_path, {"price-plot", "equity-plot", "underwater-plot"}, (1400, 390)
    )
    trades = (backtest_run / "trades.csv").read_text().splitlines()[1:]
    # every tranche has an entry marker
    entries = browser.evaluate(
        "document.getElementById('price-plot').data.find(t => t.name.startsWith('entry')).x.length"
    )
    assert entries == len(trades)
    # hovering an entry shows its decision record
    index = browser.evaluate(
        "document.getElementById('price-plot').data.findIndex(t => t.name.startsWith('entry'))"
    )
    browser.evaluate(f"Plotly.Fx.hover('price-plot', [{{curveNumber: {index}, pointNumber: 0}}])")
    hover = browser.evaluate("document.querySelector('.hoverlayer').textContent")
    first_id = trades[0].split(",")[0]  # a skipped planned entry keeps its id: ids may start later
    assert f"tranche #{first_id}" in hover and "sizing:" in hover and "stop:" in hover
    # clicking it shows the whole record
    browser.evaluate(
        "document.getElementById('price-plot').emit('plotly_click', "
        f"{{points: [{{customdata: {first_id}}}]}})"
    )
    record = browser.evaluate("document.getElementById('decision').textContent")
    assert record.startswith(f"tranche #{first_id}")
    first = json.loads(record.split("\n", 1)[1])
    assert first["entry"]["action"] == "enter" and "sizing" in first["entry"]
    # a year's zoom fits the price axis to that year's closes; "all" gives the whole back
    browser.evaluate(
        "Array.from(document.querySelectorAll('#price-plot .rangeselector .button'))"
        ".find(b => b.textContent === '1y')"
        ".dispatchEvent(new MouseEvent('click', {bubbles: true}))"
    )
    low, high = browser.evaluate("document.getElementById('price-plot').layout.yaxis.range")
    closes = pd.read_csv(backtest_run / "equity.csv", index_col="date", parse_dates=["date"])
    year = closes.index >= closes.index[-1] - pd.DateOffset(years=1)
    prices = (closes["position_value"] / closes["shares"]).where(closes["shares"] > 0)[year]
    assert low <= prices.min() and high >= prices.max() and low > 10
    browser.evaluate(
        "Array.from(document.querySelectorAll('#price-plot .rangeselector .button'))"
        ".find(b => b.textContent === 'all')"
        ".dispatchEvent(new MouseEvent('click', {bubbles: true}))"
    )
    assert browser.evaluate("document.getElementById('price-plot').layout.yaxis.autorange")
    # the log switch of the equity chart
    browser.evaluate(
        "Array.from(document.querySelectorAll('#equity-plot .updatemenu-button'))"
        ".find(b => b.textContent === 'log')"
        ".dispatchEvent(new MouseEvent('click', {bubbles: true}))"
    )
    assert browser.evaluate("document.getElementById('equity-plot').layout.yaxis.type") == "log"
    # sorting the trade list by P&L
    browser.evaluate(
        "Array.from(document.querySelectorAll('#trades th')).find(h => h.textContent === 'P&L')"
        ".click()"
    )
    column = browser.evaluate(
        "Array.from(document.querySelectorAll('#trades tbody tr'))"
        ".map(r => r.cells[9].getAttribute('data-sort'))"
        ".filter(v => v !== null && v !== '').map(Number)"
    )
    assert column == sorted(column) and len(column) > 10
    assert browser.errors == [], browser.errors


def test_backtest_without_risk_lines_in_a_browser(
    browser: Browser, stage1_run: Path, tmp_path: Path
) -> None:
    check_page(
        browser,
        stage1_run / "report.html",
        tmp_path,
        {"price-plot", "equity-plot", "underwater-plot"},
    )


def test_paper_report_in_a_browser(browser: Browser, paper_run: Path, tmp_path: Path) -> None:
    check_page(
        browser,
        paper_run / "report.html",
        tmp_path,
        {"price-plot", "equity-plot", "underwater-plot"},
    )


def test_sweep_report_in_a_browser(browser: Browser, sweep_two: Path, tmp_path: Path) -> None:
    check_page(browser, sweep_two / "report.html", tmp_path, {"heatmap-plot", "equity-plot"})
    names = browser.evaluate(
        "document.getElementById('heatmap-plot').data.map(t => t.name || t.type)"
    )
    assert any(n.startswith("winner") for n in names) and "default config" in names
    assert browser.evaluate("document.getElementById('heatmap-plot').data[0].zmid") == 0


def test_sweep_of_three_fields_in_a_browser(
    browser: Browser, sweep_three: Path, tmp_path: Path
) -> None:
    check_page(browser, sweep_three / "report.html", tmp_path, {"parcoords-plot", "equity-plot"})
    assert browser.evaluate("document.querySelectorAll('#parcoords-plot .axis').length") == 4


def test_walkforward_report_in_a_browser(
    browser: Browser, walkforward_run: Path, tmp_path: Path
) -> None:
    check_page(
        browser,
        walkforward_run / "report.html",
        tmp_path,
        {"timeline-plot", "oos-plot", "metric-plot"},
    )
    text = browser.evaluate("document.getElementById('timeline-plot').textContent")
    assert "no trades" in text and "cash" in text


def test_compare_page_in_a_browser(
    browser: Browser, backtest_run: Path, stage1_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cmp" / "compare.html"
    assert main(["compare", str(backtest_run), str(stage1_run), "--out", str(out)]) == 0
    check_page(browser, out, tmp_path, {"compare-equity-plot", "compare-underwater-plot"})
