"""Make the documentation's sample outputs from a real run, so they cannot go stale.

Runs the commands a new user runs (offline, on the shared prices, in a fresh data directory
and a folder made by `xmtrade init`) and writes what each printed to `docs/samples/NAME.txt`,
then opens the default backtest's report.html in headless Chromium, hovers the first entry
and saves the screenshot as `docs/report.png` (with `docs/samples/report.png.json`, the run
it shows). `tests/test_docs_samples.py` runs the same commands and fails when a sample
differs from what the command prints now (timings, today's date and paths normalised).

    python docs/samples/make.py            # rewrite every sample and the screenshot
    python docs/samples/make.py --no-png   # the text samples only
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "docs" / "samples"
SCREENSHOT = REPO / "docs" / "report.png"
SHARED_PRICES = (
    Path(os.environ.get("XMTRADE_SHARED_DATA", REPO.parent / "shared" / "data")) / "1810.HK.csv"
)
# how the data directory is shown in a sample: the default a user sees
SHOWN_HOME = "~/.local/share/xmtrade"


@dataclass(frozen=True)
class Sample:
    """One command whose output a page shows; `setup` runs before it, unrecorded."""

    name: str
    command: tuple[str, ...]
    setup: tuple[tuple[str, ...], ...] = ()


# In order: each runs in the same folder and data directory, after the ones before it.
COMMANDS: tuple[Sample, ...] = (
    Sample("data-check", ("data", "check")),
    Sample("config-validate", ("config", "validate")),
    Sample("backtest", ("backtest", "--out", "runs/default")),
    Sample("facts-show", ("facts", "show", "--asof", "2025-11-19")),
    Sample(
        "paper-status",
        ("paper", "status"),
        setup=(
            ("paper", "init", "--start", "2025-03-03", "--offline"),
            ("paper", "step", "--asof", "2025-11-28", "--offline"),
        ),
    ),
)

# what changes from one run to the next without the program changing
VOLATILE = (
    (re.compile(r"\b\d+ days? ago\b"), "N days ago"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?( HKT)?"), "TIMESTAMP"),
    (re.compile(r"latest closed session is \d{4}-\d{2}-\d{2}"), "latest closed session is DATE"),
    (re.compile(r"\b\d+(\.\d+)? ?(s|ms|seconds)\b"), "SECONDS"),
    (re.compile(r"[ \t]+$", re.MULTILINE), ""),
)


def normalised(text: str) -> str:
    """`text` without what varies between two runs of the same program (times, today)."""
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def environment(root: Path) -> dict[str, str]:
    """A fresh user's environment under `root`: offline, no terminal colours, fixed width."""
    dead = "http://127.0.0.1:9"  # a closed port: any download fails at once
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        HOME=str(root / "home"),
        XMTRADE_HOME=str(root / "data"),
        http_proxy=dead,
        https_proxy=dead,
        HTTP_PROXY=dead,
        HTTPS_PROXY=dead,
        ALL_PROXY=dead,
        MPLBACKEND="Agg",
        COLUMNS="100",
        NO_COLOR="1",
        TERM="dumb",
        PYTHONUNBUFFERED="1",
    )
    for name in ("XMTRADE_DEBUG", "FORCE_COLOR"):
        env.pop(name, None)
    return env


def _xmtrade(args: tuple[str, ...], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "xmtrade"), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream, in the order a terminal shows them
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"xmtrade {' '.join(args)} exited {done.returncode}:\n{done.stdout}")
    return re.sub(r"[ \t]+$", "", done.stdout, flags=re.MULTILINE)


def run_samples(root: Path, prices: Path = SHARED_PRICES) -> tuple[dict[str, str], Path]:
    """Every sample's text, from commands run under `root`; and the folder they ran in."""
    (root / "home").mkdir(parents=True, exist_ok=True)
    env = environment(root)
    _xmtrade(("data", "import", str(prices)), root, env)
    work = root / "xmtrade-work"
    _xmtrade(("init", str(work)), root, env)
    texts: dict[str, str] = {}
    for sample in COMMANDS:
        for setup in sample.setup:
            _xmtrade(setup, work, env)
        shown = f"$ xmtrade {' '.join(sample.command)}\n" + _xmtrade(sample.command, work, env)
        texts[sample.name] = shown.replace(str(root / "data"), SHOWN_HOME).replace(
            str(work), "~/xmtrade-work"
        )
    return texts, work


def screenshot(run: Path, png: Path) -> dict[str, object]:
    """report.html of `run` at 1400 x 1100 px (its top: the cards and the price) with the
    first entry hovered, saved as `png`; what it shows (for the test to compare)."""
    sys.path.insert(0, str(REPO / "tests" / "xmtrade" / "reports"))
    from browser_support import Browser

    summary = json.loads((run / "summary.json").read_text())
    with Browser(1400, 1100) as browser:
        browser.open(run / "report.html", settle=2.0)
        if browser.errors:
            raise RuntimeError(f"report.html: {browser.errors}")
        index = browser.evaluate(
            "document.getElementById('price-plot').data.findIndex(t => t.name.startsWith('entry'))"
        )
        browser.evaluate(
            f"Plotly.Fx.hover('price-plot', [{{curveNumber: {index}, pointNumber: 0}}])"
        )
        browser.screenshot(png, full_page=False)
    return {
        "shows": "report.html of `xmtrade backtest` on the packaged defaults, first entry hovered",
        "version": _version(),
        "config_hash": summary["config_hash"],
        "final_nav": summary["final_nav"],
        "total_return": summary["total_return"],
    }


def _version() -> str:
    from xmtrade import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    """Rewrite the samples (and the screenshot unless --no-png)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-png", action="store_true", help="leave docs/report.png as it is")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="xmtrade-samples-") as tmp:
        texts, work = run_samples(Path(tmp))
        for name, text in texts.items():
            (SAMPLES / f"{name}.txt").write_text(text)
            print(f"wrote docs/samples/{name}.txt")
        if not args.no_png:
            if shutil.which("chromium") is None:
                print("chromium is not installed: docs/report.png left as it is", file=sys.stderr)
                return 1
            shown = screenshot(work / "runs" / "default", SCREENSHOT)
            (SAMPLES / "report.png.json").write_text(json.dumps(shown, indent=2) + "\n")
            print("wrote docs/report.png and docs/samples/report.png.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
