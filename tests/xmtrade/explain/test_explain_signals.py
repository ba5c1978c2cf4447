"""Stopping `xmtrade explain` while its workers run: Ctrl-C exits 130 and SIGTERM 143 within
seconds, without a traceback, with no worker left behind and nothing written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EXPECTED = {signal.SIGINT: 130, signal.SIGTERM: 143}


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_mid_run(real_home: Path, tmp_path: Path, signum: signal.Signals) -> None:
    script = Path(sys.executable).with_name("xmtrade")
    out = tmp_path / "out"
    env = {**os.environ, "XMTRADE_HOME": str(real_home)}
    process = subprocess.Popen(
        [str(script), "explain", "--no-progress", "--jobs", "2", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert process.stderr is not None
    line = process.stderr.readline()  # printed when the runs start
    assert line.startswith("explain: the plan and 10 variants"), line
    deadline = time.monotonic() + 60
    while not _children(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # the workers are forked
    workers = _children(process.pid)
    assert workers
    process.send_signal(signum)
    began = time.monotonic()
    _, err = process.communicate(timeout=30)
    assert time.monotonic() - began < 15
    assert process.returncode == EXPECTED[signum], err
    assert "Traceback" not in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
    time.sleep(0.5)
    assert not [w for w in workers if Path(f"/proc/{w}").exists() and _alive(w)]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
