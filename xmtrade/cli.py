"""The `xmtrade` command line. Each verb imports its engine inside its handler, so that
`xmtrade --help` stays instant."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from xmtrade import __version__
from xmtrade.errors import UserInputError


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def common_options() -> argparse.ArgumentParser:
    """Options every verb takes: the data directory and the config layers."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--data-dir",
        metavar="DIR",
        help="data directory for the price cache and runs (default: $XMTRADE_HOME, "
        "else the per-user data directory)",
    )
    parent.add_argument(
        "-c",
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="YAML config layered over the packaged defaults; repeat to layer more "
        "(later files win)",
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every verb."""
    from xmtrade.commands import (
        backtest,
        compare,
        completion,
        config,
        data,
        facts,
        init,
        paper,
        sweep,
    )

    parser = _Parser(
        prog="xmtrade",
        description="Rule-based three-horizon strategy engine for Xiaomi Group (1810.HK).",
    )
    parser.add_argument("--version", action="version", version=f"xmtrade {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    verbs.required = True
    common = common_options()
    init.register(verbs, common)
    data.register(verbs, common)
    config.register(verbs, common)
    facts.register(verbs, common)
    backtest.register(verbs, common)
    paper.register(verbs, common)
    sweep.register(verbs, common)
    completion.register(verbs, common)
    compare.register(verbs, common)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C so that every clean-up on the way out runs."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    from xmtrade.commands.config import NOTES_SAID

    parser = build_parser()
    args = parser.parse_args(argv)
    NOTES_SAID.clear()  # each note on the config layers once per command
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        code: int = args.handler(args)
    except UserInputError as exc:
        print(f"xmtrade: error: {exc.line()}", file=sys.stderr)
        return 2
    except Terminated:
        print("xmtrade: terminated; nothing half-written was kept", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("xmtrade: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("XMTRADE_DEBUG"):
            raise
        print(
            f"xmtrade: internal error: {type(exc).__name__}: {exc} "
            "(a bug: please report it; XMTRADE_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    return code


if __name__ == "__main__":
    sys.exit(main())
