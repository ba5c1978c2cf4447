"""Helpers of the live-desk tests: a data directory with a stepped account, the CLI in-process,
and `xmtrade paper serve` started as a real process on a free port."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from xmtrade.cli import main

REPO = Path(__file__).resolve().parents[3]
START, FIRST_ASOF, NEXT_ASOF = "2025-03-03", "2025-10-31", "2025-11-03"


def xmtrade(*argv: str) -> int:
    """The CLI in this process (output left to capsys)."""
    return main(list(argv))


def make_data_dir(folder: Path, cache_file: Path, db: str | None = None) -> Path:
    """A data directory with the shared prices and the account `qs` stepped to FIRST_ASOF
    (on `db`, else the directory's own ledger)."""
    prices = folder / "prices"
    prices.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cache_file, prices / "1810.HK.csv")
    where = ["--data-dir", str(folder), *(["--db", db] if db else [])]
    base = ["--account", "qs", "--offline", *where]
    assert xmtrade("paper", "init", "--start", START, *base) == 0
    assert xmtrade("paper", "step", "--asof", FIRST_ASOF, *base) == 0
    return folder


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


class DeskProcess:
    """`xmtrade paper serve --port 0 ...` in a child process; its URL read from its first line."""

    def __init__(self, *argv: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "xmtrade.cli", "paper", "serve", "--port", "0", *argv],
            cwd=REPO,
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "http://" not in line:
            self.process.kill()
            _, err = self.process.communicate(timeout=30)
            raise AssertionError(f"the desk did not start: {line!r} {err!r}")
        self.first_line = line.strip()
        found = re.search(r"http://[^/\s]+/", line)
        assert found is not None, line
        # a desk on every address is read here through loopback (tests never leave the host)
        self.url = found.group(0).replace("//0.0.0.0:", "//127.0.0.1:")

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """Status and JSON (or text) of one GET."""
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                body = answer.read().decode()
                status = answer.status
        except urllib.error.HTTPError as exc:
            body, status = exc.read().decode(), exc.code
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body

    def stop(self, signum: int) -> tuple[int, str]:
        """Send `signum`; the exit code and stderr."""
        self.process.send_signal(signum)
        _, err = self.process.communicate(timeout=60)
        return self.process.returncode, err

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=30)


def step_process(data_dir: Path, asof: str, db: str | None = None) -> subprocess.Popen[str]:
    """`xmtrade paper step --account qs --asof ASOF --offline` started in a child process."""
    argv = ["paper", "step", "--account", "qs", "--asof", asof, "--offline"]
    argv += ["--data-dir", str(data_dir), *(["--db", db] if db else [])]
    return subprocess.Popen(
        [sys.executable, "-m", "xmtrade.cli", *argv],
        cwd=REPO,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def poll_beside(desk: DeskProcess, step: subprocess.Popen[str]) -> tuple[int, int, str]:
    """Read the desk over and over while `step` runs: how many reads, how many answered 200,
    and the step's stderr once it is done (its exit code is `step.returncode`)."""
    reads = answered = 0
    while step.poll() is None:
        status, _ = desk.get("api/desk")
        reads += 1
        answered += status == 200
        time.sleep(0.05)
    _, err = step.communicate(timeout=60)
    return reads, answered, err
