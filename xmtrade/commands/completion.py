"""`xmtrade completion bash|zsh`: the shell completion script (made by shtab from the parser
itself, so every verb and option is in it; files complete after -c, --grid, --file and
folders after --data-dir and --out)."""

from __future__ import annotations

import argparse
import functools
from typing import Any

SHELLS = ("bash", "zsh")
_FILE_METAVARS = {"FILE", "GRID.yaml", "GRID"}
_DIR_METAVARS = {"DIR"}


def register(verbs: Any, common: argparse.ArgumentParser, root: argparse.ArgumentParser) -> None:
    """Add the `completion` verb; its script describes `root`, the whole command line (passed
    in, so that this module needs nothing of xmtrade/cli.py)."""
    parser = verbs.add_parser(
        "completion",
        help="print the shell completion script for bash or zsh",
        description="Print the completion script. bash: xmtrade completion bash > "
        "~/.local/share/bash-completion/completions/xmtrade; zsh: xmtrade completion zsh > "
        "~/.zfunc/_xmtrade (with fpath+=(~/.zfunc) before compinit in ~/.zshrc).",
    )
    parser.add_argument("shell", choices=SHELLS, help="the shell")
    parser.set_defaults(handler=functools.partial(run_completion, root=root))


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script of `parser` for `shell` (marks the path options of `parser`)."""
    import shtab

    _mark_paths(parser, shtab)
    script: str = shtab.complete(parser, shell=shell)
    return script


def _mark_paths(parser: argparse.ArgumentParser, shtab: Any) -> None:
    """Tell shtab which options take a file or a folder, in every sub-parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _mark_paths(sub, shtab)
            continue
        metavar = action.metavar if isinstance(action.metavar, str) else None
        if metavar in _FILE_METAVARS:
            action.complete = shtab.FILE  # type: ignore[attr-defined]
        elif metavar in _DIR_METAVARS:
            action.complete = shtab.DIRECTORY  # type: ignore[attr-defined]


def run_completion(args: argparse.Namespace, root: argparse.ArgumentParser) -> int:
    """Print the script."""
    print(completion_script(root, args.shell), end="")
    return 0
