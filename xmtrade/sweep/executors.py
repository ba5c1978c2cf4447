"""Where a sweep's runs happen: this process, a local process pool, or a Dask cluster.

Every executor takes the shared data once and batches of tasks, and yields each batch's
outcomes as it completes (in any order). `close(cancel=True)` stops at once: pending
batches are dropped and running ones abandoned (Ctrl-C). The results do not depend on the
executor: every run is the same `run_backtest` on the same inputs.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from xmtrade.errors import ConfigError
from xmtrade.sweep.work import Outcome, RunFunction, SharedData, Task, prepare, run_batch

if TYPE_CHECKING:
    from multiprocessing.pool import Pool

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

_WORKER_SHARED: SharedData | None = None
_WORKER_RUN: RunFunction | None = None


def _init_worker(shared: SharedData, run: RunFunction | None) -> None:
    """Pool initializer: keep the shared data; leave Ctrl-C to the parent, which stops us."""
    global _WORKER_SHARED, _WORKER_RUN
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_SHARED, _WORKER_RUN = shared, run


def _pool_batch(batch: Sequence[Task]) -> list[Outcome]:
    if _WORKER_SHARED is None:
        raise RuntimeError("worker not initialised")
    return run_batch(_WORKER_SHARED, batch, _WORKER_RUN)


class PoolExecutor:
    """A pool of worker processes on this machine (`--jobs N`, default every core).

    Where `fork` exists the workers inherit the prices instead of unpickling them."""

    def __init__(self, jobs: int) -> None:
        self.workers = max(1, jobs)
        self.description = f"{self.workers} processes"
        self._pool: Pool | None = None
        self._frozen = False

    def run(
        self, shared: SharedData, batches: Iterable[Sequence[Task]], run: RunFunction | None
    ) -> Iterator[list[Outcome]]:
        methods = multiprocessing.get_all_start_methods()
        fork = "fork" in methods
        batches = list(batches)
        context = multiprocessing.get_context("fork" if fork else "spawn")
        if fork:  # the workers inherit what is loaded here, and share its memory pages:
            prepare(shared, [task for batch in batches for task in batch])
            gc.collect()
            gc.freeze()  # keep the workers' collector off the inherited objects' pages
            self._frozen = True
        self._pool = context.Pool(self.workers, initializer=_init_worker, initargs=(shared, run))
        yield from self._pool.imap_unordered(_pool_batch, batches, chunksize=1)

    def check(self) -> None:
        """Nothing to reach: the pool starts when the runs do."""

    def close(self, cancel: bool = False) -> None:
        """Wait for the workers to finish (or, with `cancel`, stop them now)."""
        pool, self._pool = self._pool, None
        if self._frozen:
            gc.unfreeze()
            self._frozen = False
        if pool is None:
            return
        if cancel:
            pool.terminate()
        else:
            pool.close()
        pool.join()


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
        from distributed import Client, LocalCluster

        if self.scheduler is None:
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
        data = self._client.scatter(shared, broadcast=True, hash=False)
        self._futures = [
            self._client.submit(run_batch, data, list(batch), run, pure=False) for batch in batches
        ]
        for future in as_completed(self._futures):
            outcomes: list[Outcome] = future.result()
            yield outcomes

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
