"""Notifications: the summary goes to a webhook whose URL comes from the environment (a local
HTTP server here) or to a command; a failed notification is a warning, never a failed step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from paper_support import ok, one_line_error, run

from xmtrade.config import load_config
from xmtrade.paper.notify import notify

REPO = Path(__file__).resolve().parents[3]
PROXIES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on 127.0.0.1; yields its URL and what it received."""
    for name in PROXIES:
        monkeypatch.delenv(name, raising=False)
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            status = 500 if self.path == "/broken" else 204
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()
        server.server_close()


def message_in(out: str) -> str:
    """The summary block `paper step` ends with: what the notifications get."""
    lines = out.strip().splitlines()
    start = lines.index("summary:")
    return "\n".join(line.removeprefix("  ") for line in lines[start + 1 :])


def config_layer(tmp_path: Path, notify_yaml: str) -> Path:
    layer = tmp_path / "notify.yaml"
    layer.write_text(f"paper:\n  notify:\n{notify_yaml}")
    return layer


def test_step_posts_its_summary_to_the_webhook_named_by_env(
    home: Path,
    tmp_path: Path,
    hook: tuple[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, received = hook
    monkeypatch.setenv("XMTRADE_TEST_HOOK", f"{url}/hook")
    layer = config_layer(tmp_path, "    webhook_url_env: XMTRADE_TEST_HOOK\n")
    ok(capsys, "paper", "init", "--start", "2025-10-13", "--offline", "-c", str(layer))
    out = ok(capsys, "paper", "step", "--asof", "2025-10-24", "--offline", "-c", str(layer))
    summary = message_in(out)
    assert len(received) == 1
    assert received[0]["text"] == summary
    assert summary.startswith("xmtrade paper default (1810.HK): 10 sessions")
    assert "\n2 fills:\n  2025-10-20 buy 1,000 @ 47 (t1)\n  2025-10-" in summary
    assert "sell 1,000 @ 45.7 (t1)\n" in summary
    assert received[0]["account"] == "default" and received[0]["fills"] == 2

    # a broken receiver is a warning on stderr; the step is done all the same
    monkeypatch.setenv("XMTRADE_TEST_HOOK", f"{url}/broken")
    code, out, err = run(
        capsys, "paper", "step", "--asof", "2025-10-28", "--offline", "-c", str(layer)
    )
    assert code == 0 and "processed 2 sessions" in out
    assert err.strip() == "warning: webhook ($XMTRADE_TEST_HOOK) answered HTTP 500"
    assert url not in err


def test_a_failed_step_is_notified_too(
    home: Path,
    tmp_path: Path,
    hook: tuple[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, received = hook
    monkeypatch.setenv("XMTRADE_TEST_HOOK", url)
    layer = config_layer(tmp_path, "    webhook_url_env: XMTRADE_TEST_HOOK\n")
    ok(capsys, "paper", "init", "--start", "2025-10-13", "--offline")
    # the paper section is not part of the config hash: this config is the account's
    ok(capsys, "paper", "step", "--asof", "2025-10-17", "--offline", "-c", str(layer))
    assert len(received) == 1 and received[0]["text"].startswith(
        "xmtrade paper default (1810.HK): 5 sessions"
    )
    stop = tmp_path / "stop.yaml"
    stop.write_text(layer.read_text() + "stop:\n  lookback: 10\n")
    line = one_line_error(capsys, "paper", "step", "--offline", "-c", str(stop))
    assert "this config (hash" in line
    assert received[-1]["text"] == f"xmtrade paper default: step failed: {line}"
    assert received[-1]["outcome"] == "failed"


def test_the_command_hook_gets_the_summary(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "said.txt"
    script = "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text(sys.argv[2])"
    command = json.dumps([sys.executable, "-c", script, str(target)])
    layer = config_layer(tmp_path, f"    command: {command}\n")
    ok(capsys, "paper", "init", "--start", "2025-10-13", "--offline", "-c", str(layer))
    out = ok(capsys, "paper", "step", "--asof", "2025-10-17", "--offline", "-c", str(layer))
    assert target.read_text() == message_in(out)


def test_notification_failures_are_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config().paper.notify
    monkeypatch.delenv("XMTRADE_NO_SUCH_HOOK", raising=False)
    quiet = cfg.model_copy(update={"webhook_url_env": "XMTRADE_NO_SUCH_HOOK"})
    assert notify("hello", {}, quiet) == [
        "notify.webhook_url_env names XMTRADE_NO_SUCH_HOOK, which is not set: no webhook sent"
    ]
    monkeypatch.setenv("XMTRADE_NO_SUCH_HOOK", "file:///etc/passwd")
    assert notify("hello", {}, quiet) == [
        "$XMTRADE_NO_SUCH_HOOK does not hold an http(s) URL: no webhook sent"
    ]
    failing = cfg.model_copy(
        update={"command": (sys.executable, "-c", "import sys; sys.exit('no route')")}
    )
    assert notify("hello", {}, failing) == [
        f"notify command {sys.executable} exited with 1: no route"
    ]
    assert notify("hello", {}, cfg) == []


def test_a_secret_in_the_config_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layer = config_layer(tmp_path, "    webhook_url_env: https://hooks.example/T0/B0/secret\n")
    line = one_line_error(capsys, "config", "validate", "-c", str(layer))
    assert line.startswith(
        f"{layer}: paper.notify.webhook_url_env: expected the NAME of an environment variable"
    )


def test_a_notification_warning_is_printed_once(home: Path, tmp_path: Path) -> None:
    """Outside pytest's log capture, a warning is printed once, not also by logging."""
    command = json.dumps([sys.executable, "-c", "import sys; sys.exit('no route')"])
    layer = config_layer(tmp_path, f"    command: {command}\n")
    env = {**os.environ, "XMTRADE_HOME": str(home)}
    for argv in (
        ["paper", "init", "--start", "2025-10-13", "--offline"],
        ["paper", "step", "--asof", "2025-10-17", "--offline", "-c", str(layer)],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "xmtrade.cli", *argv],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"warning: notify command {sys.executable} exited with 1: no route"
    ]


def test_a_command_that_times_out_is_stopped_with_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = (
        "import subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pid_file)!r}, 'w').write(str(child.pid)); time.sleep(60)"
    )
    cfg = load_config().paper.notify.model_copy(
        update={"command": (sys.executable, "-c", script), "timeout_seconds": 2.0}
    )
    started = time.monotonic()
    warnings = notify("hello", {}, cfg, log_warnings=False)
    assert time.monotonic() - started < 30
    assert warnings == [f"notify command {sys.executable} timed out after 2 s and was stopped"]
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        # a zombie waiting for init to reap it counts as stopped
        stat = Path(f"/proc/{grandchild}/stat")
        if stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"):
            break
        time.sleep(0.1)
    else:
        os.kill(grandchild, signal.SIGKILL)
        pytest.fail("the command's child was left running")


@pytest.fixture
def apprise_receiver(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[int, list[tuple[str, dict[str, Any]]]]]:
    """An HTTP endpoint on 127.0.0.1 that apprise's json:// posts to; yields its port and
    what it received (path, JSON body)."""
    for name in PROXIES:
        monkeypatch.delenv(name, raising=False)
    received: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append((self.path, json.loads(self.rfile.read(length))))
            self.send_response(500 if self.path == "/broken" else 200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port, received
    finally:
        server.shutdown()
        server.server_close()


def test_apprise_sends_a_readable_message_per_step(
    home: Path,
    tmp_path: Path,
    apprise_receiver: tuple[int, list[tuple[str, dict[str, Any]]]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port, received = apprise_receiver
    # the URLs (which carry tokens for real services) live in the environment only
    monkeypatch.setenv("XMTRADE_TEST_NOTIFY", f"json://127.0.0.1:{port}/xm")
    layer = config_layer(tmp_path, "    apprise_urls_env: XMTRADE_TEST_NOTIFY\n")
    ok(capsys, "paper", "init", "--start", "2025-10-13", "--offline", "-c", str(layer))
    out = ok(capsys, "paper", "step", "--asof", "2025-10-24", "--offline", "-c", str(layer))
    assert len(received) == 1
    path, body = received[0]
    assert path == "/xm"
    assert (
        body["title"] == "xmtrade paper default (1810.HK): 10 sessions (2025-10-13 .. 2025-10-24)"
    )
    assert body["message"] == message_in(out)
    lines = body["message"].splitlines()
    assert lines[0] == body["title"] and "2 fills:" in lines
    assert any(line.startswith("NAV HK$") for line in lines) and lines[-1] == "alarms: none"
    assert all(len(line) < 120 for line in lines)

    # a receiver that fails is one warning, without the URL; the step stands
    monkeypatch.setenv("XMTRADE_TEST_NOTIFY", f"json://127.0.0.1:{port}/broken")
    code, out, err = run(
        capsys, "paper", "step", "--asof", "2025-10-28", "--offline", "-c", str(layer)
    )
    assert code == 0 and "processed 2 sessions" in out
    assert err.strip() == (
        "warning: apprise ($XMTRADE_TEST_NOTIFY): sending failed for at least one of 1 URL"
    )
    assert str(port) not in err


def test_a_long_message_is_capped_and_counts_the_fills_left_out(
    home: Path,
    tmp_path: Path,
    apprise_receiver: tuple[int, list[tuple[str, dict[str, Any]]]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port, received = apprise_receiver
    monkeypatch.setenv("XMTRADE_TEST_NOTIFY", f"json://127.0.0.1:{port}/xm")
    layer = config_layer(
        tmp_path, "    apprise_urls_env: XMTRADE_TEST_NOTIFY\n    max_length: 300\n"
    )
    ok(capsys, "paper", "init", "--start", "2025-03-03", "--offline", "-c", str(layer))
    out = ok(capsys, "paper", "step", "--asof", "2025-12-31", "--offline", "-c", str(layer))
    message = received[0][1]["message"]
    assert len(message) <= 300
    full = message_in(out)
    assert len(full) > 300  # the terminal shows every fill
    assert "more: xmtrade paper history" in message and message.endswith(full.splitlines()[-1])


def test_an_unknown_apprise_url_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config().paper.notify.model_copy(update={"apprise_urls_env": "XMTRADE_TEST_NOTIFY"})
    monkeypatch.delenv("XMTRADE_TEST_NOTIFY", raising=False)
    assert notify("hello", {}, cfg, log_warnings=False) == [
        "notify.apprise_urls_env names XMTRADE_TEST_NOTIFY, which is not set: nothing sent"
    ]
    monkeypatch.setenv("XMTRADE_TEST_NOTIFY", "nosuchservice://secret-token")
    (warning,) = notify("hello", {}, cfg, log_warnings=False)
    assert warning.startswith("$XMTRADE_TEST_NOTIFY: URL 1 of 1 is not an apprise URL")
    assert "secret-token" not in warning


def test_paper_notify_sends_the_status_now(
    home: Path,
    tmp_path: Path,
    apprise_receiver: tuple[int, list[tuple[str, dict[str, Any]]]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port, received = apprise_receiver
    ok(capsys, "paper", "init", "--start", "2025-10-13", "--offline")
    ok(capsys, "paper", "step", "--asof", "2025-10-30", "--offline")
    line = one_line_error(capsys, "paper", "notify")
    assert line.startswith("paper.notify: names no target: set apprise_urls_env")
    monkeypatch.setenv("XMTRADE_TEST_NOTIFY", f"json://127.0.0.1:{port}/status")
    layer = config_layer(tmp_path, "    apprise_urls_env: XMTRADE_TEST_NOTIFY\n")
    out = ok(capsys, "paper", "notify", "-c", str(layer))
    assert out.startswith("sent the status of paper account default (")
    ((path, body),) = received
    assert path == "/status" and body["title"] == "xmtrade paper default (1810.HK): status"
    message = body["message"]
    assert message.splitlines()[0] == body["title"]
    assert "last bar: 2025-10-30 close 44.16" in message and "buy and hold: " in message
    assert "paper.sqlite" not in message and len(message) <= 1500
    assert "risk lines: line1 ok, line2 ok, line3 ok" in message
