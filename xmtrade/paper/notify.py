"""After each step: the summary to apprise URLs (Telegram, Slack, Discord, e-mail, ntfy and
the rest), to a plain JSON webhook or to a command, as the config says. Every URL is read
from an environment variable the config names (secrets never live in config files). A
failed notification is a warning, never a failed step: the ledger is already committed when
it is sent. The caller logs the summary itself; this module only sends it."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from xmtrade.config import PaperNotifyConfig
from xmtrade.paper.events import Message
from xmtrade.paper.outcome import cap
from xmtrade.reports.terminal import counted

if TYPE_CHECKING:
    from xmtrade.paper.ledger import Account, Ledger

log = logging.getLogger("xmtrade.paper")

SUMMARY_ENV = "XMTRADE_PAPER_SUMMARY"


def has_targets(cfg: PaperNotifyConfig) -> bool:
    """True when the config names somewhere to send notifications."""
    return cfg.apprise_urls_env is not None or cfg.webhook_url_env is not None or bool(cfg.command)


def notify(
    summary: str,
    payload: Mapping[str, Any],
    cfg: PaperNotifyConfig,
    *,
    title: str | None = None,
    log_warnings: bool = True,
) -> list[str]:
    """Send `summary` (cut to `cfg.max_length`) everywhere the config says; return the
    warnings of what failed (also logged unless `log_warnings` is False: a caller that
    prints them itself says so)."""
    text = cap(summary, cfg.max_length)
    heading = title or text.splitlines()[0]
    if title is not None and text.startswith(title):
        text = text[len(title) :].lstrip("\n")  # the title is never the body's first line
    warnings: list[str] = []
    if cfg.apprise_urls_env is not None:
        warning = _apprise(cfg.apprise_urls_env, heading, text, cfg.timeout_seconds)
        if warning:
            warnings.append(warning)
    if cfg.webhook_url_env is not None:
        body = {"title": heading, "text": text, **payload}
        warning = _webhook(cfg.webhook_url_env, body, cfg.timeout_seconds)
        if warning:
            warnings.append(warning)
    if cfg.command is not None:
        warning = _command(list(cfg.command), f"{heading}\n{text}", cfg.timeout_seconds)
        if warning:
            warnings.append(warning)
    if log_warnings:
        for warning in warnings:
            log.warning(warning)
    return warnings


def _apprise(env_name: str, title: str, body: str, timeout: float) -> str | None:
    """Send through every apprise URL in $env_name; the URLs themselves are never printed."""
    urls = os.environ.get(env_name, "").replace(",", " ").split()
    if not urls:
        return f"notify.apprise_urls_env names {env_name}, which is not set: nothing sent"
    import apprise

    sender = apprise.Apprise()
    for index, url in enumerate(urls, 1):
        if not sender.add(url):
            return (
                f"${env_name}: URL {index} of {len(urls)} is not an apprise URL this version "
                "knows (see https://github.com/caronc/apprise/wiki): nothing sent"
            )
    for service in sender:
        with contextlib.suppress(AttributeError, TypeError):
            service.socket_connect_timeout = timeout
            service.socket_read_timeout = timeout
    # apprise logs each failure (with the URL's host) on its own logger: keep it out of ours
    logging.getLogger("apprise").setLevel(logging.CRITICAL)
    if sender.notify(title=title, body=body):
        return None
    return f"apprise (${env_name}): sending failed for at least one of {counted(len(urls), 'URL')}"


def _webhook(env_name: str, body: Mapping[str, Any], timeout: float) -> str | None:
    """POST the body as JSON to the URL in $env_name; the URL itself is never printed."""
    url = os.environ.get(env_name, "").strip()
    if not url:
        return f"notify.webhook_url_env names {env_name}, which is not set: no webhook sent"
    if not url.lower().startswith(("http://", "https://")):
        return f"${env_name} does not hold an http(s) URL: no webhook sent"
    request = urllib.request.Request(
        url,
        data=json.dumps(body, default=str).encode("utf-8"),
        headers={"Content-Type": "application/json", "User-Agent": "xmtrade-paper"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        return f"webhook (${env_name}) answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"webhook (${env_name}) failed: {reason}"
    return None


def _command(argv: list[str], summary: str, timeout: float) -> str | None:
    """Run the command with the summary as its last argument (and in $XMTRADE_PAPER_SUMMARY).
    It runs in a session of its own, so a timeout kills it and everything it started."""
    env = {**os.environ, SUMMARY_ENV: summary}
    try:
        child = subprocess.Popen(
            [*argv, summary],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    except OSError as exc:
        return f"notify command {argv[0]} failed: {exc}"
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(child)
        return f"notify command {argv[0]} timed out after {timeout:g} s and was stopped"
    except BaseException:  # the step is being stopped (Ctrl-C, SIGTERM): the command too
        _kill_group(child)
        raise
    if child.returncode != 0:
        said = (stderr or stdout).strip().splitlines()
        tail = f": {said[-1]}" if said else ""
        return f"notify command {argv[0]} exited with {child.returncode}{tail}"
    return None


def _kill_group(child: subprocess.Popen[str]) -> None:
    """Kill the command and everything it started (its own process group), and reap it."""
    with contextlib.suppress(OSError):
        os.killpg(child.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        child.kill()
    with contextlib.suppress(OSError, ValueError):
        child.communicate(timeout=5)


def send_messages(
    messages: Sequence[Message], payload: Mapping[str, Any], cfg: PaperNotifyConfig
) -> list[str]:
    """Send each message to every target; the warnings of what failed."""
    warnings: list[str] = []
    for message in messages:
        fields = {**payload, "kind": message.kind, **message.fields}
        warnings += notify(
            message.body or message.title, fields, cfg, title=message.title, log_warnings=False
        )
    return warnings


def deliver_unsent(
    ledger: Ledger, account: Account, cfg: PaperNotifyConfig, current_run: int | None = None
) -> tuple[int, list[str]]:
    """Send every notification of the account still waiting in the ledger (a step stopped
    before it sent them, or a target that failed), and mark the runs whose messages all went
    out (those of `current_run`, this command's step, are not marked as late). Returns how
    many messages were sent and the warnings."""
    if not has_targets(cfg):
        return 0, []
    sent = 0
    warnings: list[str] = []
    done: list[int] = []
    waiting = ledger.unsent(account)
    for run in waiting:
        messages = [Message.from_dict(m) for m in run["messages"]]
        late = run["id"] != current_run
        if late:
            stamp = run["finished_at"]
            messages = [
                Message(
                    m.kind,
                    m.title,
                    f"(from the step of {stamp}, not sent then)\n{m.body}",
                    m.fields,
                )
                for m in messages
            ]
        failed = send_messages(messages, {"account": account.name, "run": run["id"]}, cfg)
        warnings += failed
        if failed:
            break  # a target is down: the rest waits too (no timeout after timeout)
        done.append(int(run["id"]))
        sent += len(messages)
    ledger.mark_notified(done)
    return sent, warnings
