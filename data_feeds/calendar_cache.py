"""The exchange calendar's sessions kept on disk, so that a command does not import and build
`exchange_calendars` (about 0.6 s) to learn the same dates again.

One file per exchange code, first date, `exchange_calendars` version and build day (the
library's calendar ends about a year after the day it is built, so a cache is that day's
answer and no other): `DATA_DIR/cache/calendars/XHKG-2000-01-01-4.13.3-2026-12-08.json`.
It is written atomically (a temporary file renamed into place) and read defensively: a file
that is damaged, truncated or does not match its own digest is ignored and built again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

FORMAT = 1
_folder: Path | None = None  # DATA_DIR/cache/calendars once a command has named its data dir


@dataclass(frozen=True)
class CachedSessions:
    """What `SessionCalendar` reads from the library: days since 1970-01-01."""

    sessions: tuple[int, ...]
    early_closes: tuple[int, ...]


def use_folder(data_dir: Path | None) -> None:
    """Keep calendars under `data_dir` (None: build them in memory only)."""
    global _folder
    _folder = data_dir / "cache" / "calendars" if data_dir is not None else None


def library_version() -> str | None:
    """The installed `exchange_calendars` version, read from its metadata (no import)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("exchange_calendars")
    except PackageNotFoundError:
        return None


def _path(code: str, start: date, built: date) -> Path | None:
    version = library_version()
    if _folder is None or version is None or not code.isalnum():
        return None
    return _folder / f"{code}-{start.isoformat()}-{version}-{built.isoformat()}.json"


def _digest(sessions: tuple[int, ...], early: tuple[int, ...]) -> str:
    text = json.dumps([sessions, early], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def load(code: str, start: date, built: date) -> CachedSessions | None:
    """The cached sessions of (`code`, `start`) built on `built`, or None (absent, damaged)."""
    path = _path(code, start, built)
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        sessions = tuple(int(d) for d in data["sessions"])
        early = tuple(int(d) for d in data["early_closes"])
        if data["format"] != FORMAT or data["digest"] != _digest(sessions, early):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not sessions or list(sessions) != sorted(set(sessions)):
        return None
    return CachedSessions(sessions, early)


def store(code: str, start: date, built: date, cached: CachedSessions) -> None:
    """Write the cache file atomically; drop that calendar's older files. A disk that
    cannot take it changes nothing (the calendar is simply built again next time)."""
    path = _path(code, start, built)
    if path is None:
        return
    body = {
        "format": FORMAT,
        "sessions": list(cached.sessions),
        "early_closes": list(cached.early_closes),
        "digest": _digest(cached.sessions, cached.early_closes),
    }
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(body, out, separators=(",", ":"))
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        for older in path.parent.glob(f"{code}-{start.isoformat()}-*.json"):
            if older != path:
                with contextlib.suppress(OSError):
                    older.unlink()
