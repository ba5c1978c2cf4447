"""The output folder a command is given (`--out`), checked before any work starts: a blank
value, a dangling symbolic link, a file, or a path under a file is a one-line error."""

from __future__ import annotations

import os
from pathlib import Path

from xmtrade.errors import ConfigError


def out_folder(raw: str | None, option: str = "--out") -> Path | None:
    """`raw` as the folder a command may write (None when the option was not given)."""
    if raw is None:
        return None
    if not raw.strip():
        raise ConfigError("command line", option, f"expected a folder, got {raw!r}")
    path = Path(raw).expanduser()
    if path.is_symlink() and not path.exists():
        target = os.readlink(path)
        raise ConfigError(
            "command line",
            option,
            f"{raw} is a symbolic link to {target}, which does not exist (expected a folder: "
            "remove the link or point it at a folder)",
        )
    if path.exists() and not path.is_dir():
        raise ConfigError("command line", option, f"{raw} is a file, expected a folder")
    for parent in path.absolute().parents:
        if parent.is_symlink() and not parent.exists():
            raise ConfigError(
                "command line",
                option,
                f"{parent} is a symbolic link to {os.readlink(parent)}, which does not exist",
            )
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(
                    "command line", option, f"{parent} is a file, so {raw} cannot be made"
                )
            break
    return path
