"""The README, followed literally: every fenced `sh` block, in order, in one bash shell, in a
fresh folder next to the shared prices, offline. A block preceded by
`<!-- readme-test: skip: REASON -->` is not run (the reason is printed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SKIP = re.compile(r"^<!--\s*readme-test:\s*skip\b:?\s*(?P<reason>.*?)\s*-->\s*$")
FENCE = re.compile(r"^```(?P<info>\S*)")


@dataclass
class Block:
    """One fenced block of the README."""

    line: int  # of its opening fence, 1-based
    language: str
    text: str
    skip: str | None  # the reason, when marked not to run


def blocks(text: str) -> list[Block]:
    """The fenced blocks in order, with their skip marks."""
    out: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        mark = SKIP.match(lines[start - 1]) if start > 0 else None
        skip = mark.group("reason") if mark else None
        out.append(Block(start + 1, match.group("info"), "\n".join(body), skip))
        i += 1
    return out


def test_the_block_parser_reads_marks() -> None:
    text = (
        "intro\n<!-- readme-test: skip: needs the network -->\n```sh\nxmtrade data fetch\n```\n"
        "```sh\necho one\necho two\n```\n```yaml\na: 1\n```\n"
        "<!-- readme-test: skip -->\n```sh\nfalse\n```\n"
    )
    found = blocks(text)
    assert [(b.line, b.language, b.skip) for b in found] == [
        (3, "sh", "needs the network"),
        (6, "sh", None),
        (10, "yaml", None),
        (14, "sh", ""),
    ]
    assert found[1].text == "echo one\necho two"


def test_every_skip_has_a_reason() -> None:
    bare = [b.line for b in blocks(README.read_text()) if b.skip == ""]
    assert not bare, f"README blocks marked skip without a reason, at lines {bare}"


def script_of(readme: list[Block]) -> str:
    """One bash script running the blocks in order; a failure names its block."""
    parts = [
        "set -eo pipefail",
        "trap 'echo \"README block at line $BLOCK failed (exit $?)\" >&2' ERR",
    ]
    for block in readme:
        parts.append(f"BLOCK={block.line}")
        parts.append(f'echo "=== README block at line {block.line}"')
        parts.append(block.text)
    return "\n".join(parts) + "\n"


@pytest.mark.slow
def test_the_readme_works_when_followed_literally(
    tmp_path: Path, shared_prices_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    every = blocks(README.read_text())
    shell = [b for b in every if b.language == "sh"]
    run = [b for b in shell if b.skip is None]
    skipped = [b for b in shell if b.skip is not None]
    assert run, "no sh block to run"
    # a fresh folder: the clone (the files the README's commands name) next to the shared data
    clone = tmp_path / "xmtrade"
    clone.mkdir()
    shutil.copytree(REPO / "configs", clone / "configs")
    shutil.copyfile(README, clone / "README.md")
    shared = tmp_path / "shared" / "data"
    shared.mkdir(parents=True)
    shutil.copyfile(shared_prices_csv, shared / "1810.HK.csv")
    dead = "http://127.0.0.1:9"  # a closed port: any download fails at once
    env = {
        **{k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path / "home"),
        "XMTRADE_HOME": str(tmp_path / "data"),
        "http_proxy": dead,
        "https_proxy": dead,
        "HTTP_PROXY": dead,
        "HTTPS_PROXY": dead,
        "ALL_PROXY": dead,
        "MPLBACKEND": "Agg",
    }
    env.pop("XMTRADE_DEBUG", None)
    (tmp_path / "home").mkdir()
    script = tmp_path / "readme.sh"
    script.write_text(script_of(run))
    done = subprocess.run(
        ["bash", str(script)],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    with capsys.disabled():
        print(f"\nREADME: ran {len(run)} sh blocks, skipped {len(skipped)}:")
        for block in skipped:
            print(f"  line {block.line}: {block.skip}")
    assert done.returncode == 0, (
        f"{done.stderr[-3000:]}\n--- stdout (end) ---\n{done.stdout[-3000:]}"
    )
    out = done.stdout
    # what the Quick start promises
    assert "xmtrade: using ./xmtrade.yaml" in done.stderr
    assert "paper account 'default' created" in out
    assert "last bar: " in out and "buy and hold: " in out
    assert "Traceback" not in done.stderr
    work = tmp_path / "xmtrade-work"
    assert (work / "xmtrade.yaml").is_file() and (work / "sweeps" / "exits" / "best.yaml").is_file()
