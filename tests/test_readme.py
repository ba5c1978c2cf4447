"""The README and every page of the documentation site, followed literally: each page's fenced
`sh` blocks, in order, in one bash shell, in a fresh folder next to the shared prices,
offline; one test per page, so the pages run in parallel.

Two HTML comments (shown neither on GitHub nor on the site) steer it:
- `<!-- docs-test: skip: REASON -->` on the line before a block: not run (the reason is
  printed); a skip without a reason fails;
- `<!-- docs-test: setup` ... `-->`: commands run before the page's blocks, unseen (a page
  that assumes the prices imported and a folder made by `xmtrade init` says so in words).
`readme-test: skip` is read as `docs-test: skip`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
SKIP = re.compile(r"^<!--\s*(?:docs|readme)-test:\s*skip\b:?\s*(?P<reason>.*?)\s*-->\s*$")
SETUP = re.compile(r"^<!--\s*docs-test:\s*setup\s*$")
FENCE = re.compile(r"^```(?P<info>\S*)")


@dataclass
class Block:
    """One fenced block of a page."""

    line: int  # of its opening fence, 1-based
    language: str
    text: str
    skip: str | None  # the reason, when marked not to run


def blocks(text: str) -> list[Block]:
    """The fenced blocks in order, with their skip marks; a setup comment is a block of
    language `setup`."""
    out: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if SETUP.match(lines[i]):
            start = i
            i += 1
            body: list[str] = []
            while i < len(lines) and lines[i].strip() != "-->":
                body.append(lines[i])
                i += 1
            out.append(Block(start + 1, "setup", "\n".join(body), None))
            i += 1
            continue
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start = i
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        mark = SKIP.match(lines[start - 1]) if start > 0 else None
        skip = mark.group("reason") if mark else None
        out.append(Block(start + 1, match.group("info"), "\n".join(body), skip))
        i += 1
    return out


def pages() -> list[Path]:
    """The README, then the site's pages in the order of mkdocs.yml's nav."""
    loader = type("SiteLoader", (yaml.SafeLoader,), {})
    loader.add_multi_constructor("!", lambda _loader, _tag, node: None)  # mkdocs' own tags
    site = yaml.load((REPO / "mkdocs.yml").read_text(), Loader=loader)
    found = [README]
    for entry in site["nav"]:
        found += [DOCS / name for name in entry.values()]
    return found


def runnable(page: Path) -> list[Block]:
    """What the test runs of a page: its setup, then its unskipped sh blocks."""
    return [
        b
        for b in blocks(page.read_text())
        if b.language == "setup" or (b.language == "sh" and b.skip is None)
    ]


def test_the_block_parser_reads_marks() -> None:
    text = (
        "intro\n<!-- readme-test: skip: needs the network -->\n```sh\nxmtrade data fetch\n```\n"
        "```sh\necho one\necho two\n```\n```yaml\na: 1\n```\n"
        "<!-- docs-test: skip -->\n```sh\nfalse\n```\n"
        "<!-- docs-test: setup\ncd there\n-->\n"
        "<!-- docs-test: skip: runs forever -->\n```sh\nxmtrade paper run\n```\n"
    )
    found = blocks(text)
    assert [(b.line, b.language, b.skip) for b in found] == [
        (3, "sh", "needs the network"),
        (6, "sh", None),
        (10, "yaml", None),
        (14, "sh", ""),
        (17, "setup", None),
        (21, "sh", "runs forever"),
    ]
    assert found[1].text == "echo one\necho two"
    assert found[4].text == "cd there"


def test_every_page_is_read_and_every_skip_has_a_reason() -> None:
    listed = pages()
    on_disk = {p for p in DOCS.glob("*.md")}
    assert on_disk <= set(listed), f"pages missing from mkdocs.yml's nav: {on_disk - set(listed)}"
    for page in listed:
        bare = [b.line for b in blocks(page.read_text()) if b.skip == ""]
        assert not bare, f"{page.name}: blocks marked skip without a reason, at lines {bare}"
    assert sum(1 for p in listed if any(b.language == "sh" for b in runnable(p))) >= 5


def script_of(name: str, page: list[Block]) -> str:
    """One bash script running the blocks in order; a failure names its page and line."""
    parts = [
        "set -eo pipefail",
        f"trap 'echo \"{name}: block at line $BLOCK failed (exit $?)\" >&2' ERR",
    ]
    for block in page:
        parts.append(f"BLOCK={block.line}")
        parts.append(f'echo "=== {name} block at line {block.line}"')
        parts.append(block.text)
    return "\n".join(parts) + "\n"


# what a page promises beyond its commands exiting 0: (stream, text) pairs and files
PROMISES: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {
    "README.md": (
        (
            ("err", "xmtrade: using ./xmtrade.yaml"),
            ("out", "paper account 'default' created"),
            ("out", "last bar: "),
            ("out", "buy and hold: "),
        ),
        ("xmtrade-work/xmtrade.yaml",),
    ),
    "tutorial.md": ((("out", "compare.html"),), ("xmtrade-work/runs/strict/summary.json",)),
    "tuning.md": ((), ("xmtrade-work/sweeps/exits/best.yaml", "xmtrade-work/walkforward/small")),
    "paper-trading.md": ((("out", "last bar: 2025-11-28"),), ("xmtrade-work/runs/paper-now",)),
    "troubleshooting.md": ((("out", "exit code 2"),), ()),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "page",
    [p for p in pages() if any(b.language == "sh" for b in runnable(p))],
    ids=lambda p: p.name,
)
def test_the_page_works_when_followed_literally(
    page: Path, tmp_path: Path, shared_prices_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    every = [b for b in blocks(page.read_text()) if b.language == "sh"]
    run = runnable(page)
    skipped = [b for b in every if b.skip is not None]
    # a fresh folder: the clone (the files the pages' commands name) next to the shared data
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
    script = tmp_path / "page.sh"
    script.write_text(script_of(page.name, run))
    done = subprocess.run(
        ["bash", str(script)],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    with capsys.disabled():
        print(f"\n{page.name}: ran {len(run)} blocks, skipped {len(skipped)}:")
        for block in skipped:
            print(f"  line {block.line}: {block.skip}")
    assert done.returncode == 0, (
        f"{done.stderr[-3000:]}\n--- stdout (end) ---\n{done.stdout[-3000:]}"
    )
    assert "Traceback" not in done.stderr
    said, made = PROMISES.get(page.name, ((), ()))
    for stream, text in said:
        assert text in (done.stdout if stream == "out" else done.stderr), (page.name, text)
    for path in made:
        assert (tmp_path / path).exists(), (page.name, path)


def test_the_readme_test_command_is_what_ci_runs() -> None:
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()
    last = ci[-1].replace('"$venv/bin/python"', "python")
    assert last.startswith("python -m pytest"), "the suite must be the last thing .ci/run does"
    commands = [
        line.split("#")[0].strip()
        for b in blocks(README.read_text())
        if b.language == "sh"
        for line in b.text.splitlines()
    ]
    assert last in commands, f"the README does not show CI's test command ({last})"
