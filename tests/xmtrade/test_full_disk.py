"""A full disk (ENOSPC) on a small tmpfs mounted for the test (root only; skipped with the
reason otherwise): every write is one line naming the path, exit code 2, nothing
half-written, and never called a bug or a damaged file."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from xmtrade.cli import main

REPO = Path(__file__).resolve().parents[2]


def _mount(folder: Path, size: str) -> None:
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (unmounted afterwards)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root (the full-disk tests run as root in CI)")
    folder = tmp_path / "disk"
    folder.mkdir()
    _mount(folder, "1m")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(disk: Path, leave: int = 0) -> None:
    """Fill the disk, leaving about `leave` bytes free."""
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize - leave
    with (disk / "ballast").open("wb") as out:
        try:
            out.write(b"\0" * max(0, free))
            out.flush()
        except OSError:
            pass


def release(disk: Path) -> None:
    (disk / "ballast").unlink(missing_ok=True)


def fails(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    code = main(list(args))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "bug" not in err and "corrupt" not in err, err
    lines = [x for x in err.strip().splitlines() if x.startswith("xmtrade: ")]
    assert len(lines) == 1 and lines[0].startswith("xmtrade: error: "), err
    return lines[0].removeprefix("xmtrade: error: ")


@pytest.mark.slow
def test_a_full_disk_is_one_line_everywhere(
    small_disk: Path, shared_prices_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = small_disk / "home"
    assert main(["data", "import", str(shared_prices_csv), "--data-dir", str(home)]) == 0
    cache = home / "prices" / "1810.HK.csv"
    cached = cache.read_bytes()

    # the cache: the old file is kept whole
    fill(small_disk)
    line = fails(
        capsys, "data", "import", str(shared_prices_csv), "--data-dir", str(home), "--replace"
    )
    assert line.startswith(f"{cache}: cannot write the cache: No space left on device")
    assert cache.read_bytes() == cached
    assert [p.name for p in cache.parent.iterdir()] == ["1810.HK.csv"]

    # a backtest run folder, named or by default: none is left
    out = small_disk / "run"
    line = fails(capsys, "backtest", "--data-dir", str(home), "--out", str(out))
    assert (
        line == f"{out}: cannot write: no space left on the device; nothing half-written was kept"
    )
    assert not out.exists()
    line = fails(capsys, "backtest", "--data-dir", str(home))
    assert line.startswith(f"{home / 'runs'}")
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())

    # a sweep: the folder is removed, nothing is called a bug
    grid = REPO / "configs" / "sweeps" / "walkforward_small.yaml"
    out = small_disk / "sweep"
    release(small_disk)
    fill(small_disk, leave=12_000)  # room for sweep.json and a few rows, not the rest
    line = fails(
        capsys,
        "sweep",
        "--data-dir",
        str(home),
        "--grid",
        str(grid),
        "--jobs",
        "1",
        "--start",
        "2025-01-02",
        "--min-trades",
        "0",
        "--out",
        str(out),
        "--no-progress",
    )
    assert line.startswith(f"{out}: cannot write: no space left on the device; nothing was kept")
    assert not out.exists()
    release(small_disk)


@pytest.mark.slow
def test_a_ledger_on_a_full_disk_is_intact_and_not_called_corrupt(
    small_disk: Path, shared_prices_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = small_disk / "home"
    assert main(["data", "import", str(shared_prices_csv), "--data-dir", str(home)]) == 0
    init = ["paper", "init", "--data-dir", str(home), "--offline", "--start", "2025-10-13"]

    # the first account on a full disk: no ledger file is left
    fill(small_disk, leave=20_000)
    line = fails(capsys, *init)
    ledger = home / "paper.sqlite"
    assert line.startswith(f"{ledger}: cannot")
    assert "no space left on the device" in line
    assert not ledger.exists()
    release(small_disk)

    capsys.readouterr()
    assert main(init) == 0
    fill(small_disk)
    # on a full disk the ledger is read as it is (status works); what would write is refused
    capsys.readouterr()
    assert main(["paper", "status", "--data-dir", str(home)]) == 0
    for args in (
        ["paper", "step", "--data-dir", str(home), "--offline", "--asof", "2025-10-24"],
        [*init[:-2], "--account", "second", "--start", "2025-10-13"],
    ):
        line = fails(capsys, *args)
        assert line.startswith(f"{ledger}: "), line
        assert "no space left on the device" in line or "the disk is full" in line
    release(small_disk)
    capsys.readouterr()
    assert main(["paper", "status", "--data-dir", str(home)]) == 0
    assert "second" not in capsys.readouterr().out
    assert main(["paper", "status", "--data-dir", str(home), "--account", "second"]) == 2
