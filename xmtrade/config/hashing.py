"""The config hash (what a strategy is, whichever files set it) and the facts file's
content digest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

HASH_EXCLUDED_SECTIONS = ("paper", "sweep")
HASH_COVERS = (
    "it covers every strategy value, not the paper and sweep sections, the starting cash "
    "or the facts file, which has its own digest"
)


def strategy_hash(values: dict[str, Any]) -> str:
    """The short stable hash of a config's values (`AppConfig.model_dump(mode="json")`): every
    rule and number, without what changes no decision (see `AppConfig.config_hash`)."""
    values = dict(values)
    for section in HASH_EXCLUDED_SECTIONS:
        del values[section]
    values["backtest"] = {k: v for k, v in values["backtest"].items() if k != "initial_nav"}
    del values["allow_small_percent"]  # the values it vouches for are counted
    values["fundamentals"] = {k: v for k, v in values["fundamentals"].items() if k != "file"}
    if values["gate"].get("enabled", True):  # on, as every config before the key: same hash
        values["gate"] = {k: v for k, v in values["gate"].items() if k != "enabled"}
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def content_digest(path: Path) -> str:
    """`sha256:` and the file's hex digest (`unreadable:PATH` when it cannot be read)."""
    try:
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return f"unreadable:{path}"
