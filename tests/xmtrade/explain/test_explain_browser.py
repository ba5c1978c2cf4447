"""explain.html opened in headless Chromium at a desktop and a phone width: no JavaScript
error, every plot drawn, the heatmap centred on zero, the summary in words at the top."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reports"))
from browser_support import CHROMIUM, Browser

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
EXPECTED = {"contribution-plot", "equity-plot", "years-plot", "regimes-plot"}


def test_the_page_in_a_browser(real_explanation: Path, tmp_path: Path) -> None:
    page = real_explanation / "explain.html"
    with Browser() as browser:
        for width in (390, 1400):
            browser.resize(width)
            browser.open(page)
            assert browser.errors == [], browser.errors
            assert set(browser.evaluate(PLOTS)) == EXPECTED
            assert set(browser.evaluate(DRAWN)) == EXPECTED
            sources = "Array.from(document.querySelectorAll('script[src]')).map(s => s.src)"
            assert [src.rsplit("/", 1)[-1] for src in browser.evaluate(sources)] == [
                "plotly.min.js"
            ]  # the folder's own copy: offline
            shot = tmp_path / f"explain-{width}.png"
            browser.screenshot(shot)
            assert shot.stat().st_size > 10_000
            # nothing wider than the window but the scrolling tables and plots
            overflow = browser.evaluate("document.documentElement.scrollWidth")
            assert overflow <= width + 1, overflow
        summary = browser.evaluate(
            "Array.from(document.querySelectorAll('#summary li')).map(l => l.textContent)"
        )
        assert len(summary) == 10
        assert any("not distinguishable from zero" in s or "never changed" in s for s in summary)
        heat = browser.evaluate("document.getElementById('years-plot').data[0]")
        assert heat["zmid"] == 0 and heat["zmin"] == -heat["zmax"]
        bars = browser.evaluate("document.getElementById('contribution-plot').data[0]")
        assert len(bars["y"]) == 10 and bars["error_x"]["array"]
        # the log switch of the equity chart
        browser.evaluate(
            "Array.from(document.querySelectorAll('#equity-plot .updatemenu-button'))"
            ".find(b => b.textContent === 'log')"
            ".dispatchEvent(new MouseEvent('click', {bubbles: true}))"
        )
        assert browser.evaluate("document.getElementById('equity-plot').layout.yaxis.type") == (
            "log"
        )
        assert browser.errors == [], browser.errors
