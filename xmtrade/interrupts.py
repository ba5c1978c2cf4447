"""How a command is stopped: Ctrl-C (SIGINT) and SIGTERM become exceptions in the main thread,
raised once; short critical sections (renaming outputs into place, recording what an
interrupted run kept) hold a signal until they are done.

- `stop_on_signals()` installs the handlers for a command's lifetime (`xmtrade.cli.main`);
- the first signal raises `Interrupted` (SIGINT) or `Terminated` (SIGTERM), both
  `KeyboardInterrupt`s so every clean-up on the way out runs; a later signal is only
  remembered, so a clean-up is never cut short by a second Ctrl-C;
- inside `critical()` a signal is held and raised when the section ends;
- `exit_code()` is 130 for SIGINT and 143 for SIGTERM (128 + the signal number);
- a stop that Python swallowed (raised inside a finaliser or a weakref callback, where an
  exception is "ignored") is raised again at the next `checkpoint()`.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT)."""

    signum = int(signal.SIGINT)


class Terminated(Interrupted):
    """SIGTERM, handled like Ctrl-C so that every clean-up on the way out runs."""

    signum = int(signal.SIGTERM)


class _State:
    def __init__(self) -> None:
        self.installed = False
        self.stopping: int | None = None  # the signal that is stopping the command
        self.pending: int | None = None  # held inside a critical section
        self.depth = 0
        self.swallowed: int | None = None  # raised where Python ignores exceptions


_state = _State()


def _exception(signum: int) -> Interrupted:
    return Terminated() if signum == signal.SIGTERM else Interrupted()


def _handler(signum: int, frame: FrameType | None) -> None:
    if _state.stopping is not None:
        return  # already stopping: let the clean-up finish
    if _state.depth > 0:
        _state.pending = _state.pending or signum
        return
    _state.stopping = signum
    raise _exception(signum)


def _unraisable(args: sys.UnraisableHookArgs, fallback: object) -> None:
    """Python ignores an exception raised in a finaliser or a weakref callback: when it is
    our stop, remember it (for the next `checkpoint()`) instead of printing a traceback."""
    if isinstance(args.exc_value, Interrupted):
        _state.swallowed = args.exc_value.signum
        return
    if callable(fallback):
        fallback(args)


def checkpoint() -> None:
    """Raise the stop that Python swallowed, if any (call where a stop is safe to raise)."""
    if _state.swallowed is not None:
        signum, _state.swallowed = _state.swallowed, None
        raise _exception(signum)


def exit_code(exc: BaseException | None = None) -> int:
    """The exit code of a command stopped by `exc` (or by the signal that stopped it)."""
    signum: int = getattr(exc, "signum", None) or _state.stopping or int(signal.SIGINT)
    return 128 + signum


def stopping() -> int | None:
    """The signal that is stopping this command, if any."""
    return _state.stopping


@contextmanager
def stop_on_signals(restore: bool = True) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into `Interrupted`/`Terminated` while the block runs (main
    thread only; elsewhere the block runs unchanged). Then the previous handlers come back,
    or, without `restore` (the process ends with the block), a late signal is ignored so
    that the exit code stays the command's."""
    if threading.current_thread() is not threading.main_thread() or _state.installed:
        yield
        return
    previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}
    for signum in STOP_SIGNALS:
        previous[signum] = signal.signal(signum, _handler)
    _state.installed, _state.stopping, _state.pending, _state.depth = True, None, None, 0
    _state.swallowed = None
    previous_hook = sys.unraisablehook
    sys.unraisablehook = lambda args: _unraisable(args, previous_hook)
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        if _state.stopping is None:
            _state.stopping = 0  # a signal from here on is ignored: the command is ending
        for number, handler in previous.items():
            if not restore:  # ignored at the kernel, through the interpreter's shutdown too
                handler = signal.SIG_IGN
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        _state.installed = False


def outputs_complete() -> None:
    """The command's outputs are complete and say so: what is left is printing them, so a
    signal from here on is ignored (an exit code of 130 or 143 always means a stopped run)."""
    if _state.installed and _state.stopping is None and _state.depth == 0:
        _state.stopping = 0
        _state.swallowed = None


@contextmanager
def critical() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while the block runs; raise the held one when it ends."""
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
        if _state.depth == 0 and _state.pending is not None and _state.stopping is None:
            signum, _state.pending = _state.pending, None
            _state.stopping = signum
            raise _exception(signum)


@contextmanager
def signals_blocked() -> Iterator[None]:
    """Block SIGINT and SIGTERM at the kernel for this thread (around a fork: a child
    starts with them blocked and ignores them before unblocking). Delivered on exit."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def ignore_in_worker() -> None:
    """In a worker process: ignore SIGINT and SIGTERM (the main process stops the workers),
    then unblock them (one held since the fork is discarded)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
