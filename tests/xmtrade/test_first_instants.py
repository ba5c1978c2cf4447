"""The first instants of a command: a SIGINT or SIGTERM that lands in the first 500 ms of a
verb, while the interpreter imports the engine, ends the command as 130 or 143 with one line
and nothing written. The entry point installs its handlers as its first statement, so the
moment is measured from there: the process catching SIGTERM (its SigCgt mask in /proc) is the
first line of `xmtrade.cli` having run; before it, no code of xmtrade has."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xmtrade.cli import main

EXPECTED = {signal.SIGINT: 130, signal.SIGTERM: 143}
STEP_SECONDS = 0.010
SPAN_SECONDS = 0.500


def command() -> list[str]:
    """The console script next to this interpreter (how a user runs it)."""
    script = Path(sys.executable).with_name("xmtrade")
    if not script.exists():
        pytest.skip("no xmtrade console script beside the interpreter")
    return [str(script)]


def wait_until_handled(pid: int, timeout: float = 20.0) -> bool:
    """Wait until `pid` catches SIGTERM (True), or has ended (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False
        caught = next((x for x in status.splitlines() if x.startswith("SigCgt:")), "SigCgt: 0")
        if int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)):
            return True
        time.sleep(0.0005)
    raise AssertionError(f"process {pid} never installed its SIGTERM handler")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, shared_prices_csv: Path) -> Path:
    data_dir = tmp_path_factory.mktemp("first_instants_home")
    assert main(["data", "import", str(shared_prices_csv), "--data-dir", str(data_dir)]) == 0
    return data_dir


def verbs(tmp: Path) -> dict[str, list[str]]:
    grid = tmp / "grid.yaml"
    grid.write_text("signals.rsi.oversold: [30, 35]\n")
    return {
        "backtest": ["backtest", "--report", "none", "--out", str(tmp / "out")],
        "sweep": ["sweep", "--grid", str(grid), "--jobs", "1", "--out", str(tmp / "out")],
        "walkforward": [
            *("walkforward", "--grid", str(grid), "--train", "2y", "--test", "1y"),
            *("--jobs", "1", "--out", str(tmp / "out")),
        ],
        "config validate": ["config", "validate"],
        "facts check": ["facts", "check"],
    }


def stop_at(
    argv: list[str], home: Path, tmp: Path, delay: float, signum: int
) -> tuple[int, str, bool]:
    """Run `argv`, send `signum` `delay` seconds after its handlers are in place; return the
    exit code, stderr, and whether the signal was sent while it ran."""
    env = {**os.environ, "XMTRADE_HOME": str(home)}
    proc = subprocess.Popen(
        [*command(), *argv, "--data-dir", str(home)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp,
        env=env,
    )
    sent = False
    if wait_until_handled(proc.pid):
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signum)
            sent = True
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err.decode(), sent


def check_trial(verb: str, code: int, err: str, sent: bool, signum: int, out: Path) -> None:
    said = f"{verb} stopped by {signal.Signals(signum).name}: exit {code}, stderr {err!r}"
    if not sent:  # it had finished before the signal: a normal run
        assert code in (0, 2), said
        return
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, said
    if code == 0:  # the outputs were complete: what is left is printing them
        return
    assert code == EXPECTED[signal.Signals(signum)], said
    assert len(lines) == 1 and lines[0].startswith("xmtrade: "), said
    assert (
        not out.exists()
        or not any(out.iterdir())
        or (out / "summary.json").exists()
        or (any(out.glob("*.partial.*")) or (out / "sweep.json").exists())
    ), said


def test_a_signal_as_the_handlers_go_in_ends_as_130_or_143(home: Path, tmp_path: Path) -> None:
    """The cheap version: both signals at the very instant the handlers are installed, and
    20 ms later, on a backtest (a few seconds)."""
    argv = verbs(tmp_path)["backtest"]
    for delay in (0.0, 0.02):
        for signum in (signal.SIGINT, signal.SIGTERM):
            code, err, sent = stop_at(argv, home, tmp_path, delay, signum)
            check_trial("backtest", code, err, sent, signum, tmp_path / "out")
            assert sent


@pytest.mark.slow
def test_signals_at_fine_steps_through_the_first_500_ms_of_every_verb(
    home: Path, tmp_path: Path
) -> None:
    """A signal every 10 ms from the handlers' installation to 500 ms, round the verbs and
    alternating SIGINT and SIGTERM: each ends as 130/143 with one line, no traceback."""
    commands = verbs(tmp_path)
    names = list(commands)
    steps = round(SPAN_SECONDS / STEP_SECONDS)
    for step in range(steps):
        verb = names[step % len(names)]
        signum = (signal.SIGINT, signal.SIGTERM)[(step // len(names)) % 2]
        out = tmp_path / "out"
        code, err, sent = stop_at(commands[verb], home, tmp_path, step * STEP_SECONDS, signum)
        check_trial(verb, code, err, sent, signum, out)
        subprocess.run(["rm", "-rf", str(out)], check=True)


def test_the_early_handler_is_installed_by_the_first_statement(tmp_path: Path) -> None:
    """Imported as the console script, `xmtrade.cli` catches both signals before importing
    anything heavy: a signal during the imports is one line and 143 / 130."""
    for signum, code, word in (
        (signal.SIGTERM, 143, "terminated"),
        (signal.SIGINT, 130, "interrupted"),
    ):
        script = (
            "import sys; sys.argv[0] = '/usr/bin/xmtrade'\n"
            "import xmtrade.cli, os, signal\n"
            f"os.kill(os.getpid(), {int(signum)})\n"
            "import time; time.sleep(5)\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == code, proc.stderr
        assert proc.stderr == f"xmtrade: {word} before it started; nothing was written\n"
