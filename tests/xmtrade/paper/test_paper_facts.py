"""`paper step` and `paper status` say when the fundamentals are stale, what is due, and how to
add it; a broken facts file never becomes an account."""

from __future__ import annotations

from pathlib import Path

import pytest

from xmtrade.cli import main

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "configs" / "fundamentals" / "1810.HK.csv"


def test_step_and_status_show_the_staleness_warning(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    facts = tmp_path / "facts.csv"
    facts.write_bytes(SHIPPED.read_bytes())
    layer = tmp_path / "mine.yaml"
    layer.write_text(f"fundamentals:\n  file: {facts}\n", encoding="utf-8")
    config = ["-c", str(layer)]
    assert main(["paper", "init", *config, "--start", "2026-03-16", "--offline"]) == 0
    assert main(["paper", "step", *config, "--offline", "--asof", "2026-03-26"]) == 0
    step = capsys.readouterr().out
    assert main(["paper", "status", *config]) == 0
    status = capsys.readouterr().out
    for out in (step, status):
        (warning,) = [line for line in out.splitlines() if "fundamentals STALE" in line]
        assert warning.startswith("warning: fundamentals STALE on 2026-03-26: the newest report,")
        assert "2025Q4 was due about 2026-03-18" in warning
        assert "xmtrade facts fetch, or xmtrade facts add METRIC 2025Q4 VALUE" in warning
