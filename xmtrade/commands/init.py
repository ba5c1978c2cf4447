"""`xmtrade init [DIR]`: a user folder with `xmtrade.yaml` (every key, the packaged defaults
as values, their comments kept), a copy of the facts file it points to, the example grids
and a short README. Every command run in that folder reads `./xmtrade.yaml` without `-c`."""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from xmtrade.errors import ConfigError

FACTS_FOLDER = "facts"
GRIDS_FOLDER = "grids"
LAYERS_FOLDER = "layers"

_HEADER = """\
# xmtrade.yaml: your configuration, made by `xmtrade init` from the packaged defaults of
# xmtrade {version}. Every command run in this folder reads it without -c: the packaged
# defaults, then this file, then each -c FILE (later layers win).
#
# Every key is here with its default value; edit what you want to change.
# `xmtrade config show --diff` prints only what differs from the packaged defaults, and
# `xmtrade config validate` checks the file. A key deleted here falls back to the default.
# Percentages are written as percent (5 means 5%).
"""

_README = """\
# {folder}: an xmtrade user folder

Made by `xmtrade init`. Run xmtrade from this folder and it reads `xmtrade.yaml` without
`-c` (it says so in one line on stderr).

- `xmtrade.yaml`: every config key with the packaged default as its value, commented. Edit
  it; `xmtrade config show --diff` shows what you changed, `xmtrade config validate` checks it.
- `{facts}`: your copy of the quarterly facts file; `fundamentals.file` points here, so
  facts you add land in this copy, not in the installed package.
- `{grids}/`: example parameter grids for `xmtrade sweep --grid {grids}/rsi_stop.yaml`.
- `layers/`: example config layers, e.g. `xmtrade backtest -c layers/stage1_only.yaml`.

Prices, backtest runs, sweeps and the paper ledger live in the data directory
(`$XMTRADE_HOME`, else the per-user data directory), not here.

First steps:

    xmtrade data import /path/to/1810.HK.csv     # or, online: xmtrade data fetch
    xmtrade backtest
    xmtrade paper init --start 2025-03-03 --offline
    xmtrade paper step --asof 2025-03-31 --offline
    xmtrade paper status
"""


def register(verbs: Any, common: argparse.ArgumentParser) -> None:
    """Add the `init` verb."""
    parser = verbs.add_parser(
        "init",
        help="make a user folder with xmtrade.yaml, the facts file and example grids",
        description="Make a user folder (default: the current one): xmtrade.yaml with every "
        "config key and the packaged default as its value, a copy of the facts file it points "
        "to, example grids and a short README. Commands run there read ./xmtrade.yaml.",
    )
    parser.add_argument("dir", nargs="?", default=".", metavar="DIR", help="the folder")
    parser.set_defaults(handler=run_init)


def user_config_text(facts_relative: str) -> str:
    """The packaged `default.yaml`, comments and all, with a header of its own and
    `fundamentals.file` pointing at `facts_relative` (relative to the new file)."""
    from xmtrade import __version__
    from xmtrade.config import default_config_path

    lines = default_config_path().read_text(encoding="utf-8").splitlines()
    body_start = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    body = lines[body_start:]
    section = next(i for i, line in enumerate(body) if line.startswith("fundamentals:"))
    for i in range(section + 1, len(body)):
        match = re.match(r"^(\s+file:\s*)(\S+)(.*)$", body[i])
        if match:
            body[i] = (
                f"{match.group(1)}{facts_relative}  # your copy; relative to this file's folder"
            )
            break
        if body[i] and not body[i].startswith((" ", "#")):
            raise RuntimeError("packaged default.yaml has no fundamentals.file line")
    return _HEADER.format(version=__version__) + "\n" + "\n".join(body) + "\n"


def user_folder_paths(grid: bytes) -> bytes:
    """A packaged grid's text with the paths in its comments (the commands to run it) made
    valid in a user folder: `configs/sweeps/` is `grids/` there, `configs/` is `layers/`."""
    lines = grid.decode("utf-8").splitlines(keepends=True)
    for n, line in enumerate(lines):
        if line.lstrip().startswith("#"):
            line = line.replace("configs/sweeps/", f"{GRIDS_FOLDER}/")
            lines[n] = line.replace("configs/", f"{LAYERS_FOLDER}/")
    return "".join(lines).encode("utf-8")


def run_init(args: argparse.Namespace) -> int:
    """Write the user folder: everything or nothing."""
    from xmtrade.config import USER_CONFIG_NAME, load_config

    folder = Path(args.dir).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(str(folder), None, "is a file, expected a folder for xmtrade init")
    defaults = load_config()
    facts_source = defaults.fundamentals.file
    facts_relative = f"{FACTS_FOLDER}/{facts_source.name}"
    grids = sorted(
        (entry.name, entry.read_bytes())
        for entry in resources.files("configs").joinpath("sweeps").iterdir()
        if entry.name.endswith(".yaml")
    )
    layers = sorted(
        (entry.name, entry.read_bytes())
        for entry in resources.files("configs").iterdir()
        if entry.name.endswith(".yaml") and entry.name != "default.yaml"
    )
    targets = [
        USER_CONFIG_NAME,
        facts_relative,
        "README.md",
        *(f"{GRIDS_FOLDER}/{name}" for name, _ in grids),
        *(f"{LAYERS_FOLDER}/{name}" for name, _ in layers),
    ]
    present = [t for t in targets if (folder / t).exists()]
    if present:
        raise ConfigError(
            str(folder / present[0]),
            None,
            "already exists; xmtrade init never overwrites (choose another folder, or move "
            "the file away)",
        )
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".xmtrade-init-", dir=folder))
    moved: list[Path] = []
    made_folders: list[Path] = []
    try:
        (staging / FACTS_FOLDER).mkdir()
        (staging / GRIDS_FOLDER).mkdir()
        (staging / USER_CONFIG_NAME).write_text(user_config_text(facts_relative), "utf-8")
        shutil.copyfile(facts_source, staging / facts_relative)
        (staging / LAYERS_FOLDER).mkdir()
        for name, content in grids:
            (staging / GRIDS_FOLDER / name).write_bytes(user_folder_paths(content))
        for name, content in layers:
            (staging / LAYERS_FOLDER / name).write_bytes(content)
        readme = _README.format(folder=folder.resolve().name, facts=facts_relative, grids="grids")
        (staging / "README.md").write_text(readme, "utf-8")
        made = load_config([staging / USER_CONFIG_NAME])
        _same_as_defaults(made, defaults, staging / USER_CONFIG_NAME)
        for sub in (FACTS_FOLDER, GRIDS_FOLDER, LAYERS_FOLDER):
            if not (folder / sub).exists():
                (folder / sub).mkdir()
                made_folders.append(folder / sub)
        for target in targets:
            (staging / target).replace(folder / target)
            moved.append(folder / target)
    except BaseException:
        for path in moved:
            path.unlink(missing_ok=True)
        for sub_folder in made_folders:
            shutil.rmtree(sub_folder, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    shown = folder.resolve() if folder == Path() else folder
    print(f"made {shown}: {USER_CONFIG_NAME} (every key, the packaged defaults of this version)")
    print(f"  {facts_relative}: your copy of the facts file (fundamentals.file points here)")
    print(f"  {GRIDS_FOLDER}/: {', '.join(name for name, _ in grids)} (example grids)")
    print(f"  {LAYERS_FOLDER}/: {', '.join(name for name, _ in layers)} (example -c layers)")
    print("  README.md: what is where")
    where = "" if folder.resolve() == Path.cwd().resolve() else f"cd {folder} && "
    print(f"next: {where}xmtrade config show --diff")
    return 0


def _same_as_defaults(made: Any, defaults: Any, where: Path) -> None:
    """The new file must give the packaged defaults, the facts file's place aside."""
    mine = made.model_dump(mode="json")
    theirs = defaults.model_dump(mode="json")
    for values in (mine, theirs):
        del values["fundamentals"]["file"]
    if mine != theirs:
        raise RuntimeError(f"{where} does not reproduce the packaged defaults")
