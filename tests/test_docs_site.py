"""The documentation site builds with `mkdocs build --strict`, offline, and its configuration
reference (generated from the config models by docs/hooks/config_reference.py) names every
field of every model."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import types
from pathlib import Path
from types import ModuleType
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from xmtrade.config import AppConfig

REPO = Path(__file__).resolve().parents[1]


def _hook() -> ModuleType:
    path = REPO / "docs" / "hooks" / "config_reference.py"
    spec = importlib.util.spec_from_file_location("docs_config_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _models_in(annotation: Any) -> list[tuple[str, type[BaseModel]]]:
    """The models an annotation holds, with the key suffix the reference gives them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [("", annotation)]
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        return [m for a in args for m in _models_in(a)]
    if origin is tuple and args:
        return [("[]" + s, m) for s, m in _models_in(args[0])]
    if origin is dict and len(args) == 2:
        return [(".<name>" + s, m) for s, m in _models_in(args[1])]
    return []


def every_key(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every field of `model` and of the models inside it, as dotted keys."""
    keys = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        keys.append(key)
        for suffix, inner in _models_in(field.annotation):
            keys += every_key(inner, f"{key}{suffix}.")
    return keys


def test_the_reference_names_every_config_field() -> None:
    hook = _hook()
    page = hook.reference_markdown()
    keys = every_key(AppConfig)
    assert len(keys) > 100
    missing = [k for k in keys if f"| `{k}` |" not in page and f"### `{k}`" not in page]
    assert not missing, f"config fields missing from the configuration reference: {missing}"
    assert hook.MARKER in (REPO / "docs" / "configuration.md").read_text()


def test_the_reference_shows_defaults_bounds_and_meanings() -> None:
    page = _hook().reference_markdown()
    assert "| `signals.rsi.oversold` | number, > 0, < 100 | `30` | entry signal when RSI" in page
    assert "| `sizing.max_weight_pct` | number, > 0, ≤ 100 | `15` |" in page
    assert "| `stop.method` | one of `lowest_low` \\| `atr`" in page
    assert "### `paper` (not part of the config hash)" in page


def test_comments_are_read_by_key() -> None:
    comments = _hook().yaml_comments(
        "a:\n  # above b\n  b: 1   # on b\n         # and under it\n  c: 2\nd: 3  # d\n"
    )
    assert comments == {"a": "", "a.b": "above b on b and under it", "a.c": "", "d": "d"}


@pytest.mark.slow
def test_the_site_builds_strict_and_offline(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    html = (site / "configuration.html").read_text()
    escaped = [k.replace("<", "&lt;").replace(">", "&gt;") for k in every_key(AppConfig)]
    missing = [k for k in escaped if k not in html]
    assert not missing, missing
    assert not (site / "incoming").exists() and not (site / "hooks").exists()
    # offline: no page asks the network for anything
    for page in site.glob("*.html"):
        text = page.read_text()
        assert "unpkg.com" not in text and "fonts.googleapis" not in text, page.name
    assert (site / "report.png").is_file()
    # the samples are in the pages, not links to them
    assert "0 errors, 12 warnings, 2 info" in (site / "tutorial.html").read_text()
