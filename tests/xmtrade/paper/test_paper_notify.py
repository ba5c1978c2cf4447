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
from paper_support import ok, one_line_error, run, runs_of

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


def test_step_posts_one_message_per_event_kind_to_the_webhook(
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
    ok(capsys, "paper", "step", "--asof", "2025-10-24", "--offline", "-c", str(layer))
    kinds = [r["kind"] for r in received]
    assert kinds == ["new_order", "fill", "exit"]
    order, fill, exit_ = received
    for message in received:
        assert message["account"] == "default"
        assert not message["text"].startswith(message["title"])  # the title is not repeated
    assert order["title"] == "xmtrade paper default (1810.HK): new order"
    assert order["text"].startswith("buy 1,000 at the open of 2025-10-20, reference close ")
    assert (
        "planned stop 45.72, risk " in order["text"] and "; reason: rsi_oversold" in order["text"]
    )
    assert fill["text"].startswith("bought 1,000 @ 47 on 2025-10-20 (tranche 1 stage 1, fees ")
    assert exit_["text"].startswith("sold 1,000 @ 45.7 on 2025-10-22 (tranche 1): stop; P&L -HK$")
    assert "after fees; held 2 sessions, 2 days" in exit_["text"]

    # a broken receiver is a warning on stderr; the step is done, its messages wait
    monkeypatch.setenv("XMTRADE_TEST_HOOK", f"{url}/broken")
    code, out, err = run(
        capsys, "paper", "step", "--asof", "2025-10-28", "--offline", "-c", str(layer)
    )
    assert code == 0 and "processed 2 sessions" in out
    assert "warning: webhook ($XMTRADE_TEST_HOOK) answered HTTP 500" in err
    assert url not in err
    waiting = [r for r in runs_of(home / "paper.sqlite") if r["notified"] == 0]
    assert len(waiting) == 1
    # the receiver is back: paper notify sends what waited, marked as late, then the status
    monkeypatch.setenv("XMTRADE_TEST_HOOK", f"{url}/hook")
    before = len(received)
    out = ok(capsys, "paper", "notify", "-c", str(layer))
    assert "a step had not sent" in out
    late = received[before]
    assert late["text"].startswith("(from the step of ")
    assert received[-1]["outcome"] == "status"
    assert not [r for r in runs_of(home / "paper.sqlite") if r["notified"] == 0]


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
    assert [r["kind"] for r in received] == ["new_order"]
    stop = tmp_path / "stop.yaml"
    stop.write_text(layer.read_text() + "stop:\n  lookback: 10\n")
    line = one_line_error(capsys, "paper", "step", "--offline", "-c", str(stop))
    assert "this config (hash" in line
    assert received[-1]["title"] == "xmtrade paper default: step refused"
    assert received[-1]["text"] == line
    assert received[-1]["kind"] == "refused" and received[-1]["outcome"] == "refused"


def test_the_command_hook_gets_title_and_body(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "said.txt"
    script = (
        "import pathlib, sys; p = pathlib.Path(sys.argv[1]); "
        "p.write_text((p.read_text() if p.exists() else '') + sys.argv[2] + '\\n---\\n')"
    )
    command = json.dumps([sys.executable, "-c", script, str(target)])
    layer = config_layer(tmp_path, f"    command: {command}\n")
    ok(capsys, "paper", "init", "--start", "2025-10-13", "--offline", "-c", str(layer))
    ok(capsys, "paper", "step", "--asof", "2025-10-17", "--offline", "-c", str(layer))
    (said,) = [m for m in target.read_text().split("\n---\n") if m]
    title, body = said.split("\n", 1)
    assert title == "xmtrade paper default (1810.HK): new order"
    assert body.startswith("buy 1,000 at the open of 2025-10-20")


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


def test_apprise_sends_a_readable_message_per_event(
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
    ok(capsys, "paper", "step", "--asof", "2025-10-24", "--offline", "-c", str(layer))
    assert [body["title"] for _, body in received] == [
        "xmtrade paper default (1810.HK): new order",
        "xmtrade paper default (1810.HK): fill",
        "xmtrade paper default (1810.HK): exit",
    ]
    for path, body in received:
        assert path == "/xm"
        lines = body["message"].splitlines()
        assert lines[0] != body["title"]
        assert all(len(line) < 200 for line in lines)

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


def test_a_digest_is_one_capped_message_counting_the_fills_left_out(
    home: Path,
    tmp_path: Path,
    apprise_receiver: tuple[int, list[tuple[str, dict[str, Any]]]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port, received = apprise_receiver
    monkeypatch.setenv("XMTRADE_TEST_NOTIFY", f"json://127.0.0.1:{port}/xm")
    layer = config_layer(
        tmp_path,
        "    apprise_urls_env: XMTRADE_TEST_NOTIFY\n    max_length: 300\n    digest: true\n",
    )
    ok(capsys, "paper", "init", "--start", "2025-03-03", "--offline", "-c", str(layer))
    out = ok(capsys, "paper", "step", "--asof", "2025-12-31", "--offline", "-c", str(layer))
    ((_, body),) = received
    message = body["message"]
    assert body["title"].startswith("xmtrade paper default (1810.HK): ")
    assert len(message) <= 300 and not message.startswith(body["title"])
    full = message_in(out)
    assert len(full) > 300  # the terminal shows every fill
    assert "more: xmtrade paper history" in message and message.endswith(full.splitlines()[-1])


def test_paper_notify_test_sends_a_sample_to_every_target(
    home: Path,
    tmp_path: Path,
    apprise_receiver: tuple[int, list[tuple[str, dict[str, Any]]]],
    hook: tuple[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port, by_apprise = apprise_receiver
    url, by_webhook = hook
    monkeypatch.setenv("XMTRADE_TEST_NOTIFY", f"json://127.0.0.1:{port}/t")
    monkeypatch.setenv("XMTRADE_TEST_HOOK", f"{url}/broken")
    layer = config_layer(
        tmp_path,
        "    apprise_urls_env: XMTRADE_TEST_NOTIFY\n    webhook_url_env: XMTRADE_TEST_HOOK\n",
    )
    ok(capsys, "paper", "init", "--start", "2025-10-13", "--offline", "-c", str(layer))
    code, out, _ = run(capsys, "paper", "notify", "--test", "-c", str(layer))
    assert code == 1
    assert out.splitlines() == [
        "apprise ($XMTRADE_TEST_NOTIFY): sent the test message",
        "webhook ($XMTRADE_TEST_HOOK): failed: webhook ($XMTRADE_TEST_HOOK) answered HTTP 500",
    ]
    assert by_apprise[0][1]["title"] == "xmtrade paper default: test notification"
    assert by_webhook[0]["test"] is True and by_webhook[0]["kind"] == "test"


def test_a_stop_after_the_commit_says_the_step_landed_and_the_next_step_sends(
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
    from xmtrade.interrupts import Terminated
    from xmtrade.paper import outcome

    def stopped(self: Any) -> list[str]:
        raise Terminated()

    original = outcome.StepReport.lines
    monkeypatch.setattr(outcome.StepReport, "lines", stopped)
    code, _, err = run(
        capsys, "paper", "step", "--asof", "2025-10-17", "--offline", "-c", str(layer)
    )
    assert code == 143
    assert (
        err.strip().splitlines()[-1].startswith("xmtrade: terminated after the step landed (run ")
    )
    assert "its notification was not sent: the next step or `xmtrade paper notify" in err
    assert received == []
    monkeypatch.setattr(outcome.StepReport, "lines", original)
    out = ok(capsys, "paper", "step", "--asof", "2025-10-17", "--offline", "-c", str(layer))
    assert "no new bar" in out
    (late,) = received
    assert late["kind"] == "new_order" and late["text"].startswith("(from the step of ")


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
    assert message.splitlines()[0] != body["title"]
    assert "last bar: 2025-10-30 close 44.16" in message and "buy and hold: " in message
    assert "paper.sqlite" not in message and len(message) <= 1500
    assert "risk lines: line1 ok, line2 ok, line3 ok" in message


def test_a_stopped_step_kills_its_notify_command_and_says_the_step_landed(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pid_file = tmp_path / "hook.pid"
    script = (
        "import os, sys, time; "
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    )
    command = json.dumps([sys.executable, "-c", script])
    layer = config_layer(tmp_path, f"    command: {command}\n    timeout_seconds: 100\n")
    ok(capsys, "paper", "init", "--start", "2025-10-13", "--offline", "-c", str(layer))
    env = {**os.environ, "XMTRADE_HOME": str(home)}
    step = subprocess.Popen(
        [
            *(sys.executable, "-m", "xmtrade.cli", "paper", "step"),
            *("--asof", "2025-10-17", "--offline", "-c", str(layer)),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 180
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pid_file.exists(), "the notify command never started"
    hook = int(pid_file.read_text())
    step.send_signal(signal.SIGTERM)
    _, err = step.communicate(timeout=60)
    assert step.returncode == 143, err
    assert "xmtrade: terminated after the step landed (run " in err
    assert "its notification was not sent: the next step or `xmtrade paper notify" in err
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(hook, 0)
        except ProcessLookupError:
            break
        stat = Path(f"/proc/{hook}/stat")
        if stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"):
            break
        time.sleep(0.1)
    else:
        os.kill(hook, signal.SIGKILL)
        pytest.fail("the notify command outlived the stopped step")
    runs = runs_of(home / "paper.sqlite")
    assert runs[-1]["outcome"] == "processed" and runs[-1]["notified"] == 0
