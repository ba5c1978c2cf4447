"""A stop that Python swallows (raised inside a finaliser or a weakref callback, where an
exception is only "ignored") is not lost: it is raised again at the next checkpoint."""

from __future__ import annotations

import gc
import signal
import weakref

import pytest

from xmtrade import interrupts


class _Node:
    pass


def test_a_stop_swallowed_in_a_weakref_callback_is_raised_at_the_next_checkpoint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with interrupts.stop_on_signals(restore=True):
        node = _Node()

        def callback(_: object) -> None:
            signal.raise_signal(signal.SIGINT)  # the handler raises here: Python ignores it

        ref = weakref.ref(node, callback)
        del node
        gc.collect()
        assert ref() is None
        assert "Traceback" not in capsys.readouterr().err  # not printed as "ignored"
        with pytest.raises(interrupts.Interrupted):
            interrupts.checkpoint()
        interrupts.checkpoint()  # raised once


def test_other_unraisable_exceptions_still_reach_the_previous_hook() -> None:
    seen: list[BaseException | None] = []
    previous = interrupts.sys.unraisablehook
    interrupts.sys.unraisablehook = lambda args: seen.append(args.exc_value)
    try:
        with interrupts.stop_on_signals(restore=True):
            node = _Node()

            def callback(_: object) -> None:
                raise ValueError("not a stop")

            ref = weakref.ref(node, callback)
            del node
            gc.collect()
            assert ref() is None
            interrupts.checkpoint()  # nothing to raise
    finally:
        interrupts.sys.unraisablehook = previous
    assert len(seen) == 1 and isinstance(seen[0], ValueError)
