"""Where numba keeps the compiled kernel, and the one line a first compile says."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from xmtrade.kernel import compiled


def test_an_empty_cache_says_it_compiles_and_a_fresh_one_does_not(tmp_path: Path) -> None:
    folder = tmp_path / "numba-cache"
    note = compiled.first_compile_note(folder)
    assert note is not None and "compiling the screening kernel" in note and str(folder) in note
    later = time.time() + 60
    for source in ("kernel", "screen", "arith"):
        index = folder / "xmtrade" / f"{source}.run-1.py311.nbi"
        index.parent.mkdir(parents=True, exist_ok=True)
        index.write_bytes(b"")
        os.utime(index, (later, later))
    assert compiled.first_compile_note(folder) is None
    stale = folder / "xmtrade" / "screen.run-1.py311.nbi"
    os.utime(stale, (0, 0))  # older than its source: numba compiles again after an upgrade
    assert compiled.first_compile_note(folder) is not None


def test_the_cache_goes_to_the_data_directory_unless_numba_cache_dir_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from numba.core import config

    monkeypatch.setattr(config, "CACHE_DIR", config.CACHE_DIR)  # put back after the test
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    assert compiled.use_cache_dir(tmp_path) == (tmp_path / "numba-cache").absolute()
    assert os.environ["NUMBA_CACHE_DIR"] == str((tmp_path / "numba-cache").absolute())
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert compiled.use_cache_dir(tmp_path / "other") == (tmp_path / "mine").absolute()
