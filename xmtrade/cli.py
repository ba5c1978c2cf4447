"""The `xmtrade` command line. Each verb imports its engine inside its handler, so that
`xmtrade --help` stays instant."""

from __future__ import annotations

# First thing, before any other import: from here on a Ctrl-C or SIGTERM ends the command as
# 130 or 143 with one line. `_signal` and `posix` are built into the interpreter (`signal`
# would import `enum` first); `sys` is loaded before any Python code runs.
import _signal
import sys

try:
    import posix
except ImportError:  # Windows
    import nt as posix  # type: ignore[no-redef]


def _stop_now(signum: int, frame: object) -> None:
    """A signal in the first milliseconds, before `main` takes over: nothing was written."""
    what = b"terminated" if signum == _signal.SIGTERM else b"interrupted"
    posix.write(2, b"xmtrade: " + what + b" before it started; nothing was written\n")
    posix._exit(128 + signum)


if (sys.argv[0] if sys.argv else "").rpartition("/")[2] == "xmtrade":  # the console script
    for _signum in (_signal.SIGINT, _signal.SIGTERM):
        _signal.signal(_signum, _stop_now)

# imported after the handlers, so that a Ctrl-C while importing is no traceback
import argparse  # noqa: E402
import os  # noqa: E402
from collections.abc import Sequence  # noqa: E402

from xmtrade import __version__  # noqa: E402
from xmtrade.errors import UserInputError, disk_error  # noqa: E402
from xmtrade.interrupts import checkpoint, exit_code, stop_on_signals, stopping  # noqa: E402


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
        explain,
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
    completion.register(verbs, common, parser)
    compare.register(verbs, common)
    explain.register(verbs, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script. Ctrl-C exits 130 and SIGTERM 143 from the first
    instant (while the verbs import their engines too), without a traceback; a signal after
    the command is done leaves its exit code as it is."""
    with stop_on_signals(restore=argv is not None):
        try:
            return _run(argv)
        except KeyboardInterrupt as exc:  # arrived while an error was being reported
            return exit_code(exc)


def _run(argv: Sequence[str] | None) -> int:
    try:
        from xmtrade.commands.config import NOTES_SAID

        parser = build_parser()
        args = parser.parse_args(argv)
        NOTES_SAID.clear()  # each note on the config layers once per command
        code: int = args.handler(args)
        checkpoint()  # a stop that Python swallowed on the way still stops the command
    except UserInputError as exc:
        if stopping() is not None:  # the input was being read when the stop came
            return _interrupted()
        print(f"xmtrade: error: {exc.line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        return _interrupted(exc)
    except BrokenPipeError:
        # the reader went away (`xmtrade ... | head`): stop quietly, as a shell tool does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as exc:
        error = disk_error(exc)
        if stopping() is not None:
            return _interrupted()
        if error is None:
            return internal_error(exc)
        print(f"xmtrade: error: {error.line()}", file=sys.stderr)
        return 2
    except Exception as exc:
        if stopping() is not None:  # a library wrapped our stop in its own error (pydantic)
            return _interrupted()
        return internal_error(exc)
    return code


def _interrupted(exc: BaseException | None = None) -> int:
    what = "terminated" if exit_code(exc) == 143 else "interrupted"
    print(f"xmtrade: {what}; nothing half-written was kept", file=sys.stderr)
    return exit_code(exc)


def internal_error(exc: Exception) -> int:
    """A bug: one line (XMTRADE_DEBUG=1 shows the traceback), exit code 1."""
    if os.environ.get("XMTRADE_DEBUG"):
        raise exc
    print(
        f"xmtrade: internal error: {type(exc).__name__}: {exc} "
        "(a bug: please report it; XMTRADE_DEBUG=1 shows the traceback)",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
