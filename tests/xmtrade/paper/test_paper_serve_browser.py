"""The live desk in headless Chromium (the DevTools driver of the report tests): the page
renders the account, its positions and its chart without a JavaScript error and without
asking anything of another host; a step run beside it shows up without a reload; screenshots
at 1400 and 390 px wide."""

from __future__ import annotations

import importlib.util
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from serve_support import NEXT_ASOF, DeskProcess, make_data_dir, step_process

_SPEC = importlib.util.spec_from_file_location(
    "browser_support", Path(__file__).parents[1] / "reports" / "browser_support.py"
)
assert _SPEC is not None and _SPEC.loader is not None
browser_support = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(browser_support)
Browser = browser_support.Browser

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which(browser_support.CHROMIUM) is None, reason="chromium is not installed"
    ),
]

PLOT = "document.getElementById('nav-plot-qs')"
DRAWN = f"!!({PLOT} && {PLOT}.querySelector('.main-svg') && {PLOT}._fullData.length >= 2)"


def wait_for(check: Callable[[], Any], what: str, seconds: float = 60.0) -> Any:
    """The first truthy value of `check()` within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def open_desk(browser: Any, url: str) -> None:
    """Load the desk and wait for its first drawing."""
    browser.errors.clear()
    browser.call("Page.navigate", url=url)
    wait_for(lambda: browser.evaluate("document.readyState") == "complete", "the page")
    wait_for(lambda: browser.evaluate("window.deskUpdates >= 1"), "the first drawing")
    wait_for(lambda: browser.evaluate(DRAWN), "the chart")


def text_of(browser: Any, selector: str) -> str:
    return str(browser.evaluate(f"document.querySelector({selector!r}).textContent"))


def test_the_desk_in_a_browser_follows_a_step(
    tmp_path: Path, shared_cache_file: Path, request: pytest.FixtureRequest
) -> None:
    data_dir = make_data_dir(tmp_path / "data", shared_cache_file)
    desk = DeskProcess("--data-dir", str(data_dir))
    try:
        with Browser(1400, 1000) as browser:
            open_desk(browser, desk.url)
            assert browser.errors == [], browser.errors
            # every script is the desk's own (plotly.js from its static route)
            sources = browser.evaluate("Array.from(document.scripts).map(s => s.src)")
            assert [s for s in sources if s] == [desk.url + "static/plotly.min.js"]
            assert browser.evaluate("typeof Plotly") == "object"
            assert "paper account qs (1810.HK)" in text_of(browser, "article.account h2")
            overview = text_of(browser, "#overview-table")
            assert "qs" in overview and "HK$997,440.78" in overview
            assert "no tranche held" in text_of(browser, "#positions-qs")
            assert "tranche 4" not in text_of(browser, "#positions-qs")
            assert "cancelled at the open: a held stop triggered" in text_of(browser, "#missed-qs")
            assert "entry" in text_of(browser, "#orders-qs")
            sessions = browser.evaluate(f"{PLOT}.data[0].x.length")
            fingerprint = browser.evaluate("document.body.dataset.fingerprint")
            browser.screenshot(tmp_path / "desk-before-1400.png")

            # a step beside the open page: the page redraws itself, no reload
            browser.evaluate("window.notReloaded = true")
            step = step_process(data_dir, NEXT_ASOF)
            _, err = step.communicate(timeout=300)
            assert step.returncode == 0, err
            wait_for(
                lambda: browser.evaluate("document.body.dataset.fingerprint") != fingerprint,
                "the page to follow the step",
            )
            assert browser.evaluate("window.notReloaded") is True
            assert browser.evaluate(f"{PLOT}.data[0].x.length") == sessions + 1
            positions = text_of(browser, "#positions-qs")
            assert "43.82" in positions and "43.18" in positions and "below" in positions
            assert f"today: {NEXT_ASOF}" in str(browser.evaluate("document.body.textContent"))
            assert browser.errors == [], browser.errors
            shots = []
            for width in (1400, 390):
                browser.resize(width, 900)
                open_desk(browser, desk.url)
                assert browser.errors == [], browser.errors
                # nothing wider than the window: tables scroll inside their sections
                assert browser.evaluate("document.documentElement.scrollWidth") <= width
                shot = tmp_path / f"desk-{width}.png"
                browser.screenshot(shot)
                assert shot.stat().st_size > 10_000
                shots.append(shot)
            print("screenshots:", *shots)
    finally:
        desk.close()
