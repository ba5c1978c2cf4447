"""The documentation's sample outputs and screenshot are what the commands make today:
`docs/samples/make.py`'s commands run again here, and each sample must equal what they print
(times, today's date and paths normalised). After a change to what a command prints, run
`python docs/samples/make.py` and commit the samples."""

from __future__ import annotations

import difflib
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "docs" / "samples"


def _make() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_samples_make", SAMPLES / "make.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


make = _make()


def test_normalising_keeps_figures_and_drops_times() -> None:
    one = "last bar: 2025-11-28 close 41.02, 375 days ago\nlast run: 2026-12-08 11:12:51 HKT (x)"
    two = "last bar: 2025-11-28 close 41.02, 2 days ago\nlast run: 2027-01-02 09:00:00 HKT (x)"
    assert make.normalised(one) == make.normalised(two)
    assert make.normalised(one) != make.normalised(one.replace("41.02", "41.03"))
    assert make.normalised("took 3.2 s, 126 sessions") == "took SECONDS, 126 sessions"


def test_every_sample_is_made_by_the_script_and_shown_by_a_page() -> None:
    made = {s.name for s in make.COMMANDS}
    assert {p.stem for p in SAMPLES.glob("*.txt")} == made
    shown = set()
    for page in (REPO / "docs").glob("*.md"):
        shown |= set(re.findall(r'^--8<-- "([^"]+)\.txt"', page.read_text(), re.MULTILINE))
    assert shown == made, f"made but not shown: {made - shown}; shown but not made: {shown - made}"


@pytest.mark.slow
def test_the_samples_are_what_the_commands_print_now(
    tmp_path: Path, shared_prices_csv: Path
) -> None:
    texts, work = make.run_samples(tmp_path, shared_prices_csv)
    stale = []
    for name, text in texts.items():
        kept = (SAMPLES / f"{name}.txt").read_text()
        if make.normalised(kept) != make.normalised(text):
            diff = difflib.unified_diff(
                make.normalised(kept).splitlines(),
                make.normalised(text).splitlines(),
                f"docs/samples/{name}.txt",
                "now",
                lineterm="",
            )
            stale.append("\n".join(list(diff)[:40]))
    assert not stale, "stale samples (run python docs/samples/make.py):\n" + "\n".join(stale)
    # the screenshot shows the report of this very run
    shown = json.loads((SAMPLES / "report.png.json").read_text())
    summary = json.loads((work / "runs" / "default" / "summary.json").read_text())
    now = {key: summary[key] for key in ("config_hash", "final_nav", "total_return")}
    now["version"] = make._version()
    assert {key: shown[key] for key in now} == now, (
        "docs/report.png shows another run (run python docs/samples/make.py)"
    )
    assert (REPO / "docs" / "report.png").stat().st_size > 50_000
