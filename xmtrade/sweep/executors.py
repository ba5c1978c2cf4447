"""Where a sweep's runs happen: this process, a local process pool, or a Dask cluster.

Every executor takes the shared data once and batches of tasks, and yields each batch's
outcomes as it completes (in any order). `close(cancel=True)` stops at once: pending
batches are dropped and running ones abandoned (Ctrl-C). The results do not depend on the
executor: every run is the same `run_backtest` on the same inputs.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any, Protocol, cast

from xmtrade.errors import ConfigError, ExecutorError
from xmtrade.interrupts import ignore_in_worker, signals_blocked
from xmtrade.sweep.work import Outcome, RunFunction, SharedData, Task, prepare, run_batch

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

EXECUTORS = ("local", "dask", "dask-local")


class Executor(Protocol):
    """Runs batches of tasks somewhere and yields their outcomes as they complete."""

    workers: int
    description: str

    def run(
        self, shared: SharedData, batches: Iterable[Sequence[Task]], run: RunFunction | None
    ) -> Iterator[list[Outcome]]: ...

    def close(self, cancel: bool = False) -> None: ...

    def check(self) -> None: ...


def make_executor(kind: str, jobs: int, scheduler: str | None = None) -> Executor:
    """The executor named on the command line (`--executor`, `--jobs`, `--scheduler`)."""
    if kind not in EXECUTORS:
        raise ConfigError("--executor", None, f"expected one of {', '.join(EXECUTORS)}")
    if kind == "dask":
        if not scheduler:
            raise ConfigError(
                "--scheduler", None, "--executor dask needs the scheduler's address (tcp://…)"
            )
        return DaskExecutor(scheduler=scheduler, jobs=jobs)
    if scheduler:
        raise ConfigError("--scheduler", None, "only used with --executor dask")
    if kind == "dask-local":
        return DaskExecutor(scheduler=None, jobs=jobs)
    return SerialExecutor() if jobs == 1 else PoolExecutor(jobs)


def cpu_count() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class SerialExecutor:
    """Runs every batch in this process, in order (`--jobs 1`)."""

    workers = 1
    description = "1 process"

    def run(
        self, shared: SharedData, batches: Iterable[Sequence[Task]], run: RunFunction | None
    ) -> Iterator[list[Outcome]]:
        for batch in batches:
            yield run_batch(shared, batch, run)

    def close(self, cancel: bool = False) -> None:
        """Nothing to stop."""

    def check(self) -> None:
        """Nothing to reach."""


# ------------------------------------------------------------------ local process pool

STOP_SECONDS = 5.0  # how long close() waits for a killed worker to be reaped


def _worker(
    conn: Connection,
    inherited: Sequence[Connection],
    parent: int,
    shared: SharedData,
    run: RunFunction | None,
) -> None:
    """A worker process: batches in, outcomes out, until the pipe closes. It ignores SIGINT and
    SIGTERM (the main process stops it, with SIGKILL) and dies with the main process."""
    ignore_in_worker()
    _die_with_parent(parent)
    for other in inherited:  # the main process's ends of the pipes, inherited by fork
        other.close()
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):  # the main process is gone or stopped us
            return
        if batch is None:
            return
        try:
            answer: tuple[str, Any] = ("done", run_batch(shared, batch, run))
        except BaseException as exc:  # a run function that escaped run_one's net
            answer = ("failed", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(answer)
        except (BrokenPipeError, OSError):
            return


def _die_with_parent(parent: int) -> None:
    """Linux: have the kernel kill this worker when the main process dies (even by kill -9),
    so that no worker is ever left behind."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the main process died before prctl
        os._exit(0)


_PR_SET_PDEATHSIG = 1


class PoolExecutor:
    """Worker processes on this machine (`--jobs N`, default every core), each with its own
    pipe: the main process hands a worker its next batch when it returns the last one.

    Where `fork` exists the workers inherit the prices instead of unpickling them. Workers
    ignore SIGINT and SIGTERM; the main process stops them (SIGKILL on Ctrl-C: they hold
    nothing but the batch in hand), so a stop never hangs and never leaves a worker behind."""

    def __init__(self, jobs: int) -> None:
        self.workers = max(1, jobs)
        self.description = f"{self.workers} processes"
        self._processes: list[BaseProcess] = []
        self._conns: list[Connection] = []
        self._frozen = False

    def run(
        self, shared: SharedData, batches: Iterable[Sequence[Task]], run: RunFunction | None
    ) -> Iterator[list[Outcome]]:
        fork = "fork" in multiprocessing.get_all_start_methods()
        pending = list(batches)
        context = multiprocessing.get_context("fork" if fork else "spawn")
        if fork:  # the workers inherit what is loaded here, and share its memory pages:
            prepare(shared, [task for batch in pending for task in batch])
            gc.collect()
            gc.freeze()  # keep the workers' collector off the inherited objects' pages
            self._frozen = True
        for _ in range(min(self.workers, len(pending))):
            self._start(context, fork, shared, run)
        pending.reverse()  # pop() hands out the batches in order
        busy: set[Connection] = set()
        for conn in self._conns:
            if pending:
                self._send(conn, pending.pop())
                busy.add(conn)
        while busy:
            for ready in wait(list(busy)):
                conn = cast(Connection, ready)
                outcomes = self._receive(conn)
                busy.discard(conn)
                if pending:
                    self._send(conn, pending.pop())
                    busy.add(conn)
                yield outcomes

    def _start(self, context: Any, fork: bool, shared: SharedData, run: RunFunction | None) -> None:
        """One more worker. SIGINT and SIGTERM are blocked across the fork: the worker starts
        with them blocked and ignores them before unblocking; here one that arrived meanwhile
        is delivered as soon as the fork is done, so it still stops the run."""
        mine, theirs = context.Pipe(duplex=True)
        inherited = [*self._conns, mine] if fork else []
        process = context.Process(
            target=_worker,
            args=(theirs, inherited, os.getpid(), shared, run),
            name=f"xmtrade-sweep-worker-{len(self._processes) + 1}",
            daemon=True,
        )
        with signals_blocked():
            process.start()
            self._processes.append(process)
            self._conns.append(mine)
            theirs.close()

    def _send(self, conn: Connection, batch: Sequence[Task]) -> None:
        try:
            conn.send(batch)
        except OSError:
            raise self._died(conn) from None

    def _receive(self, conn: Connection) -> list[Outcome]:
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):
            raise self._died(conn) from None
        if kind != "done":
            raise ExecutorError("--jobs", None, f"a worker process failed: {payload}")
        outcomes: list[Outcome] = payload
        return outcomes

    def _died(self, conn: Connection) -> ExecutorError:
        process = self._processes[self._conns.index(conn)]
        process.join(STOP_SECONDS)
        return ExecutorError(
            "--jobs",
            None,
            f"worker process {process.pid} died (exit code {process.exitcode}); "
            "out of memory? try fewer --jobs",
        )

    def check(self) -> None:
        """Nothing to reach: the workers start when the runs do."""

    def close(self, cancel: bool = False) -> None:
        """Stop the workers: asked to finish, or (with `cancel`) killed at once. Safe to call
        again if it was cut short."""
        if self._frozen:
            gc.unfreeze()
            self._frozen = False
        for conn in self._conns:
            if not cancel:
                with contextlib.suppress(OSError):
                    conn.send(None)
        while self._processes:
            process = self._processes[-1]
            if cancel and process.is_alive():
                with contextlib.suppress(OSError):
                    process.kill()
            process.join(STOP_SECONDS)
            if process.is_alive():  # did not finish when asked: stop it
                process.kill()
                process.join(STOP_SECONDS)
            self._processes.pop()
        while self._conns:
            self._conns.pop().close()


# ------------------------------------------------------------------ Dask distributed


class DaskExecutor:
    """Batches as tasks on a Dask distributed cluster: an existing scheduler
    (`--executor dask --scheduler tcp://host:8786`) or a local cluster of `jobs` worker
    processes started for the sweep (`--executor dask-local`).

    The shared data is scattered to every worker once. Remote workers need xmtrade
    installed (`pip install 'xmtrade[dask]'`); prices and facts travel with the tasks.
    """

    def __init__(self, scheduler: str | None, jobs: int) -> None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ConfigError(
                "--executor",
                None,
                "Dask is not installed; install the extra: pip install 'xmtrade[dask]'",
            ) from None
        self.scheduler = scheduler
        self.workers = max(1, jobs)
        self.description = (
            f"Dask scheduler {scheduler}" if scheduler else f"local Dask cluster, {jobs} workers"
        )
        self._client: Any = None
        self._cluster: Any = None
        self._futures: list[Any] = []
        self.connect_timeout = "20s"

    def _connect(self) -> Any:
        import logging

        from distributed import Client, LocalCluster

        # the cluster's own log lines (reconnecting, a worker restarted) are not the user's:
        # a failure that ends the sweep is one line of ours
        names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "distributed"]
        for name in ["distributed", *names]:
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)

        if self.scheduler is None:
            # the same for the worker processes started here (they read it when they start)
            os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "critical")
            self._cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
            return Client(self._cluster)
        try:
            client = Client(self.scheduler, timeout=self.connect_timeout)
            self.workers = max(1, len(client.scheduler_info().get("workers", {})))
        except Exception as exc:  # a bad address is a ValueError, a dead one an OSError
            message = " ".join(str(exc).split()) or type(exc).__name__
            raise ConfigError(
                "--scheduler", None, f"cannot reach the Dask scheduler {self.scheduler}: {message}"
            ) from None
        return client

    def check(self) -> None:
        """Connect to the scheduler now (kept for the runs), so a bad or unreachable address
        is a one-line error before anything is written; a local cluster starts with the runs."""
        if self.scheduler is not None and self._client is None:
            self._client = self._connect()

    def run(
        self, shared: SharedData, batches: Iterable[Sequence[Task]], run: RunFunction | None
    ) -> Iterator[list[Outcome]]:
        from distributed import as_completed

        if self._client is None:
            self._client = self._connect()
        try:
            # the scheduler may be gone by now (a sweep that screened in the kernel first)
            data = self._client.scatter(shared, broadcast=True, hash=False)
            self._futures = [
                self._client.submit(run_batch, data, list(batch), run, pure=False)
                for batch in batches
            ]
            for future in as_completed(self._futures):
                outcomes: list[Outcome] = future.result()
                yield outcomes
        except Exception as exc:  # a lost scheduler, a worker killed again and again
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            where = f"Dask scheduler {self.scheduler}" if self.scheduler else "local Dask cluster"
            raise ExecutorError(
                "--scheduler" if self.scheduler else "--executor",
                None,
                f"the {where} failed mid-sweep ({type(exc).__name__}: {lines[0]}); the runs "
                "finished before are kept in the *.partial.* files",
            ) from None

    def close(self, cancel: bool = False) -> None:
        """Cancel what is left (with `cancel`) and disconnect; stop a local cluster."""
        client, self._client = self._client, None
        if client is not None:
            if cancel and self._futures:
                client.cancel(self._futures)
            client.close()
        self._futures = []
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.close()
