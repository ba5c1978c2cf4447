"""Crash safety: a step killed (os._exit, like kill -9) at each named point leaves the ledger
as it was before the step, and the next step completes the work once: the ledger ends equal
to an uninterrupted run's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from paper_support import dump, ok, runs_of

from xmtrade.paper.ledger import Ledger
from xmtrade.paper.step import CRASH_ENV, CRASH_POINTS

REPO = Path(__file__).resolve().parents[3]
STEP = ["paper", "step", "--asof", "2025-11-07", "--offline"]  # fills, stage 2 and 3 adds


@pytest.fixture
def before_the_step(home: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A data directory whose ledger has processed 2025-10-13 .. 2025-10-24."""
    ok(capsys, "paper", "init", "--start", "2025-10-13", "--offline")
    ok(capsys, "paper", "step", "--asof", "2025-10-24", "--offline")
    Ledger.open(str(home / "paper.sqlite"), create=False).dispose()
    return home


def crash(home: Path, point: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XMTRADE_HOME": str(home), CRASH_ENV: point}
    return subprocess.run(
        [sys.executable, "-m", "xmtrade.cli", *STEP],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_a_step_killed_anywhere_is_all_or_nothing(
    before_the_step: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pristine = tmp_path / "pristine"
    shutil.copytree(before_the_step, pristine)
    baseline = dump(pristine / "paper.sqlite", runs=True)

    reference = tmp_path / "reference"
    shutil.copytree(pristine, reference)
    ok(capsys, *STEP, "--data-dir", str(reference))
    finished = dump(reference / "paper.sqlite")
    assert len(finished["paper_fills"]) > len(baseline["paper_fills"])

    for point in CRASH_POINTS:
        home = tmp_path / point
        shutil.copytree(pristine, home)
        db = home / "paper.sqlite"
        done = crash(home, point)
        assert done.returncode == 137, (point, done.stderr)
        assert done.stdout == "", point  # it died before saying anything
        if point == "after_commit":
            assert dump(db) == finished, point
        else:
            assert dump(db, runs=True) == baseline, point
        # the next step finishes the work, once
        out = ok(capsys, *STEP, "--data-dir", str(home))
        if point == "after_commit":
            assert out.startswith("no new bar"), point
        else:
            assert "processed 9 sessions, 2025-10-27 .. 2025-11-07" in out, point
        assert dump(db) == finished, point
        assert [r["outcome"] for r in runs_of(db)][-1] in ("processed", "no new bar")
        # and the lock died with the process
        assert "no new bar" in ok(capsys, *STEP, "--data-dir", str(home))
