"""After each step: the one-line summary to the log, and to a webhook or a command when the
config names one. The webhook's URL is read from the environment variable the config names
(secrets never live in config files). A failed notification is a warning, never a failed step:
the ledger is already committed when it is sent."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from xmtrade.config import PaperNotifyConfig

log = logging.getLogger("xmtrade.paper")

SUMMARY_ENV = "XMTRADE_PAPER_SUMMARY"


def notify(
    summary: str, payload: Mapping[str, Any], cfg: PaperNotifyConfig, *, log_warnings: bool = True
) -> list[str]:
    """Send `summary` everywhere the config says; return the warnings of what failed (also
    logged unless `log_warnings` is False: a caller that prints them itself says so)."""
    log.info(summary)
    warnings: list[str] = []
    if cfg.webhook_url_env is not None:
        warning = _webhook(cfg.webhook_url_env, {"text": summary, **payload}, cfg.timeout_seconds)
        if warning:
            warnings.append(warning)
    if cfg.command is not None:
        warning = _command(list(cfg.command), summary, cfg.timeout_seconds)
        if warning:
            warnings.append(warning)
    if log_warnings:
        for warning in warnings:
            log.warning(warning)
    return warnings


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
        with contextlib.suppress(OSError):
            os.killpg(child.pid, signal.SIGKILL)
        child.kill()
        child.communicate()
        return f"notify command {argv[0]} timed out after {timeout:g} s and was stopped"
    if child.returncode != 0:
        said = (stderr or stdout).strip().splitlines()
        tail = f": {said[-1]}" if said else ""
        return f"notify command {argv[0]} exited with {child.returncode}{tail}"
    return None
