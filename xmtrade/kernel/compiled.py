"""Where numba keeps the compiled kernel, and the one line said while it compiles.

numba compiles the kernel on its first call after an install (about 30 s on a 2-core
machine) and keeps the machine code for later runs. By default it would write next to the
installed source, which a user may not be able to write to (a system or read-only install)
and which a reinstall wipes; xmtrade keeps it in the data directory instead
(`DATA_DIR/numba-cache`), set before the kernel's modules are first imported.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CACHE_FOLDER = "numba-cache"
ENV_VAR = "NUMBA_CACHE_DIR"
# the compiled functions a sweep needs first (their index files say they are cached)
_SOURCES = ("kernel.py", "screen.py", "arith.py")


def use_cache_dir(data_dir: Path) -> Path:
    """Have numba keep its compiled code in `data_dir/numba-cache` (this process and the
    workers it starts). An explicit `NUMBA_CACHE_DIR` wins. Call before importing
    `xmtrade.kernel.screen`; returns the folder."""
    chosen = os.environ.get(ENV_VAR)
    folder = (Path(chosen) if chosen else data_dir / CACHE_FOLDER).absolute()
    os.environ[ENV_VAR] = str(folder)
    if "numba" in sys.modules:  # imported already: numba read the variable at its import
        from numba.core import config

        config.CACHE_DIR = str(folder)  # type: ignore[attr-defined]
    return folder


def is_compiled(folder: Path) -> bool:
    """Whether `folder` holds numba's index of every kernel source, newer than the source
    (numba recompiles when a source changed, e.g. after an upgrade)."""
    here = Path(__file__).resolve().parent
    for source in _SOURCES:
        stem = source.removesuffix(".py")
        newest = max((p.stat().st_mtime for p in folder.rglob(f"{stem}.*.nbi")), default=None)
        if newest is None or newest < (here / source).stat().st_mtime:
            return False
    return True


def first_compile_note(folder: Path) -> str | None:
    """The line to print before the kernel's first call when it is not compiled yet."""
    if folder.is_dir() and is_compiled(folder):
        return None
    return (
        "compiling the screening kernel (once after an install or upgrade, about 30 s); "
        f"kept in {folder}"
    )


__all__ = ["CACHE_FOLDER", "first_compile_note", "is_compiled", "use_cache_dir"]
