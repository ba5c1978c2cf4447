"""The search's study storage: journal writes in batches (one write and one fsync per
`FLUSH_TRIALS` told trials), one owner at a time, and a study whose owner was killed with
SIGKILL taken over at once (no wait on optuna's stale lock, no raw warning) with at most
`FLUSH_TRIALS` trials lost."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from xmtrade.sweep import search_journal
from xmtrade.sweep.grid import parse_grid
from xmtrade.sweep.search import run_study
from xmtrade.sweep.search_journal import FLUSH_TRIALS, StudyInUse, StudyOwnership

SPEC: dict[str, Any] = {
    "search": "random",
    "seed": 5,
    "signals.rsi.oversold": {"uniform": [20, 40]},
    "stop.lookback": {"randint": [5, 60]},
    "exits.trailing_stop": [True, False],
}


def _grid(trials: int) -> Any:
    return parse_grid({**SPEC, "trials": trials}, "g.yaml", 10**6)


def _objective(params: dict[str, Any]) -> float:
    return float(params["signals.rsi.oversold"])


def _finished(storage: Path) -> int:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(
        study_name="s", storage=JournalStorage(JournalFileBackend(str(storage)))
    )
    return len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))


def test_the_journal_is_written_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from optuna.storages.journal import _file

    syncs: list[int] = []
    real = os.fsync
    monkeypatch.setattr(search_journal, "FLUSH_SECONDS", 3600.0)
    monkeypatch.setattr(_file.os, "fsync", lambda fd: (syncs.append(fd), real(fd))[1])
    storage = tmp_path / "s.journal"
    trials = 2 * FLUSH_TRIALS + 50
    combos, stopped = run_study(_grid(trials), storage, "s", _objective, False)
    assert not stopped and len(combos) == trials
    # the study's creation, two full batches and the last 50 at the end (optuna alone: ~7 a
    # trial)
    assert len(syncs) <= 4, len(syncs)
    assert _finished(storage) == trials
    assert (tmp_path / "s.journal.owner").read_text() == ""  # a clean end leaves no owner


def test_a_stop_writes_every_told_trial(tmp_path: Path) -> None:
    told: list[int] = []

    def objective(params: dict[str, Any]) -> float:
        if len(told) == 30:
            raise KeyboardInterrupt
        told.append(1)
        return 1.0

    storage = tmp_path / "s.journal"
    combos, stopped = run_study(_grid(500), storage, "s", objective, False)
    assert stopped and len(combos) == 30
    assert _finished(storage) == 30
    # the trial cut by the stop was never written: nothing is left running
    lines = [json.loads(line) for line in storage.read_text().splitlines()]
    created = sum(1 for line in lines if line["op_code"] == 4)  # CREATE_TRIAL
    assert created == 30


def test_a_second_owner_is_refused_naming_the_first(tmp_path: Path) -> None:
    storage = tmp_path / "s.journal"
    with StudyOwnership(storage), pytest.raises(StudyInUse) as refused:
        StudyOwnership(storage).__enter__()
    assert f"in use by pid {os.getpid()} on " in refused.value.line()
    with StudyOwnership(storage) as again:  # released: free to take
        assert again.took_over is None


KILLED = """
import os, signal, sys
from xmtrade.sweep.grid import parse_grid
from xmtrade.sweep.search import run_study
spec = {spec}
told = []
def objective(params):
    told.append(1)
    if len(told) == {kill_at}:
        os.kill(os.getpid(), signal.SIGKILL)
    return float(params["signals.rsi.oversold"])
from pathlib import Path
grid = parse_grid({{**spec, "trials": 10**5}}, "g.yaml", 10**6)
run_study(grid, Path({storage!r}), "s", objective, False)
"""


@pytest.mark.slow
def test_a_killed_search_is_taken_over_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = tmp_path / "studies" / "s.journal"
    kill_at = 2 * FLUSH_TRIALS + 40
    script = KILLED.format(spec=SPEC, kill_at=kill_at, storage=str(storage))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    killed = subprocess.run([sys.executable, "-c", script], env=env, timeout=300)
    assert killed.returncode == -signal.SIGKILL
    assert _finished(storage) == 2 * FLUSH_TRIALS  # the 40 told since the last write are lost
    # what a kill can leave: optuna's lock taken while writing, a line cut halfway
    os.symlink(str(tmp_path / "gone"), f"{storage}.lock")
    with storage.open("a") as f:
        f.write('{"op_code":4,"worker_id":"x","study_id":0,"datetime_start":')
    owner = json.loads((tmp_path / "studies" / "s.journal.owner").read_text())
    said: list[str] = []
    began = time.monotonic()
    with caplog.at_level(logging.WARNING):
        combos, _ = run_study(_grid(kill_at + 10), storage, "s", _objective, False, said.append)
    assert time.monotonic() - began < 20  # optuna would wait 30 s on its stale lock
    assert not [r for r in caplog.records if r.name.startswith("optuna")]
    assert len(said) == 1 and f"from pid {owner['pid']} on " in said[0]
    assert "no longer running" in said[0]
    # the lost trials asked again, none of the kept ones proposed twice
    assert len(combos) == kill_at + 10
    assert _finished(storage) == kill_at + 10
    assert not Path(f"{storage}.lock").exists()


def test_a_lock_left_by_an_older_search_is_removed(tmp_path: Path) -> None:
    """A killed search of an older xmtrade left optuna's lock and no owner record."""
    storage = tmp_path / "s.journal"
    run_study(_grid(5), storage, "s", _objective, False)
    os.symlink(str(tmp_path / "gone"), f"{storage}.lock")
    (tmp_path / "s.journal.owner").unlink()
    said: list[str] = []
    began = time.monotonic()
    combos, _ = run_study(_grid(8), storage, "s", _objective, False, said.append)
    assert time.monotonic() - began < 20 and len(combos) == 8
    assert said == ["removed the stale lock of the study s.journal left by a killed search"]
