"""What a sweep costs the user: `xmtrade sweep` end to end, from the command line.

Not a test: a measurement, printed as a table (and as JSON with --json). In a fresh data
directory with the shared 1810.HK prices it runs the console script on random grids that vary
every axis the documentation lists (entry, sizing, stages, stop, exits, the breaker),
including continuous thresholds, and reports for each run

- wall time and CPU time of the whole process tree (the command and its workers; Dask
  workers, which are not its children, are read from /proc);
- the peak memory of the process tree (RSS and PSS);
- the cost per combination, and the marginal cost of one more (the difference between two
  sizes, so that the fixed start, confirmation and report costs drop out) and how it drifts
  from one size to the next (the target: flat within 20%);
- runs per second per core of CPU.

Runs: the first sweep after an install (numba compiling the kernel, once), then each
`--sizes` on the local pool (`--jobs`), then with `--dask` the largest size of at most
10,000 on a Dask cluster started as separate processes (`dask scheduler`, `dask worker`):
one worker, then two. With `--kernel RUNS`, the bare kernel (bench_kernel.py's single runs).

    python bench/bench_sweep.py --sizes 1000,10000,40000 --dask --kernel 5000 --json out.json
    python bench/bench_sweep.py --sizes 1000                 # a quick look

Targets (reported, never asserted): 10,000 combinations with the top 20 confirmed in under
30 s wall; 1,000 in under 10 s; >= 2,000 screening runs/s/core; 2 Dask workers >= 1.7x 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from bench_backtests import PeakMemory  # noqa: E402

DEFAULT_PRICES = Path(os.environ.get("XMTRADE_SHARED_DATA", REPO.parent / "shared" / "data"))
BIN = Path(sys.executable).parent
TICKS = os.sysconf("SC_CLK_TCK")


def grid_spec(combinations: int, seed: int) -> dict[str, Any]:
    """A random grid over every documented axis: continuous thresholds and weights, integer
    periods and lookbacks, the stop methods, switches and limits."""
    return {
        "sample": {"count": combinations, "seed": seed},
        "signals.rsi.oversold": {"uniform": [20, 40]},
        "signals.rsi.period": {"randint": [7, 28]},
        "signals.macd.fast": {"choice": [8, 12]},
        "signals.divergence.swing_k": {"choice": [2, 3]},
        "entry.require": {"choice": ["any", "all"]},
        "entry.gap_rule": {"choice": ["skip", "reanchor", "keep"]},
        "sizing.risk_per_trade_pct": {"uniform": [0.5, 3.0]},
        "sizing.target_weight_pct.tactical": {"uniform": [2, 5]},
        "stages.max_stage": {"choice": [1, 2, 3]},
        "stop.method": {"choice": ["lowest_low", "atr", "lowest_low_atr", "swing_low"]},
        "stop.lookback": {"randint": [5, 60]},
        "stop.atr_multiple": {"uniform": [1.0, 4.0]},
        "stop.buffer_ticks": {"randint": [0, 3]},
        "exits.rsi_overbought": {"uniform": [60, 85]},
        "exits.trailing_stop": {"choice": [True, False]},
        "exits.max_holding_sessions": {"choice": [20, 63, 126, None]},
        "risk.drawdown_breaker.max_drawdown_pct": {"uniform": [2, 10]},
    }


def _proc_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of live processes (and their reaped children)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15]) / TICKS  # utime stime cutime cstime
    return total


def run_cli(args: list[str], env: dict[str, str], outside: Sequence[int] = ()) -> dict[str, Any]:
    """Run `xmtrade ARGS`; its wall time, the CPU of its tree (plus `outside` processes,
    e.g. Dask workers) and its peak memory."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    outside_before = _proc_cpu(list(outside))
    began = time.monotonic()
    proc = subprocess.Popen([str(BIN / "xmtrade"), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    with PeakMemory(root=proc.pid) as memory:
        _, err = proc.communicate()
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cpu += _proc_cpu(list(outside)) - outside_before
    if proc.returncode != 0:
        raise SystemExit(f"xmtrade {' '.join(args)} failed ({proc.returncode}):\n{err}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_rss_mib": round(memory.peak_rss / 1024),
        "peak_pss_mib": round(memory.peak_pss / 1024),
        "stderr": err,
    }


def sweep(home: Path, size: int, seed: int, extra: list[str], env: dict[str, str],
          outside: Sequence[int] = (), report: str = "html,png") -> dict[str, Any]:  # fmt: skip
    """One `xmtrade sweep` of a random grid of `size` combinations."""
    import yaml

    grid = home / f"grid-{size}-{seed}.yaml"
    grid.write_text(yaml.safe_dump(grid_spec(size, seed), sort_keys=False), encoding="utf-8")
    out = home / "sweeps" / f"{size}-{seed}-{len(list((home / 'sweeps').glob('*')))}"
    args = ["sweep", "--grid", str(grid), "--no-progress", "--report", report,
            "--out", str(out), *extra]  # fmt: skip
    measured = run_cli(args, env, outside)
    meta = json.loads((out / "sweep.json").read_text())
    n = int(meta["combinations"])
    measured.pop("stderr")
    return {
        "combinations": n,
        "confirmed": len(meta.get("confirmed") or []),
        **measured,
        "ms_per_combination": round(1000 * measured["wall_s"] / n, 2),
        "runs_per_cpu_s": round(n / measured["cpu_s"], 1) if measured["cpu_s"] else None,
        "best_sharpe": (meta.get("best") or {}).get("metrics", {}).get("sharpe"),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def dask_cluster(env: dict[str, str], folder: Path) -> Iterator[tuple[str, Any]]:
    """A Dask scheduler as a separate process; yields its address and a function starting
    one more worker process (each: 1 process, 1 thread). Everything is stopped after."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs: list[subprocess.Popen[bytes]] = []
    log = (folder / "dask.log").open("ab")

    def start(*args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([str(BIN / "dask"), *args], env=env, stdout=log, stderr=log,
                                start_new_session=True)  # fmt: skip
        procs.append(proc)
        return proc

    def add_worker() -> int:
        from distributed import Client

        proc = start("worker", address, "--nworkers", "1", "--nthreads", "1",
                     "--no-dashboard", "--local-directory", str(folder / "dask-work"))  # fmt: skip
        want = len(procs) - 1  # every process but the scheduler
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(want, timeout=120)
        return proc.pid

    start("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
    try:
        yield address, add_worker
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def _tree(pid: int) -> list[int]:
    from bench_backtests import _children

    return [pid, *_children(pid)]


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in load],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,40000", help="combinations per sweep")
    parser.add_argument("--jobs", type=int, default=2, help="local worker processes")
    parser.add_argument("--seed", type=int, default=17, help="the grids' sampling seed")
    parser.add_argument("--report", default="html,png", help="--report of each sweep")
    parser.add_argument("--dask", action="store_true", help="also 1 vs 2 Dask workers")
    parser.add_argument("--kernel", type=int, default=0, metavar="RUNS",
                        help="also the bare kernel, RUNS runs (bench_kernel.py)")  # fmt: skip
    parser.add_argument("--prices", type=Path, default=DEFAULT_PRICES / "1810.HK.csv")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    figures: dict[str, Any] = {"machine": machine(), "jobs": args.jobs, "sweeps": []}
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        (home / "sweeps").mkdir()
        env = {**os.environ, "XMTRADE_HOME": str(home / "data")}
        env["NUMBA_CACHE_DIR"] = str(home / "data" / "numba-cache")  # what the CLI uses
        subprocess.run([str(BIN / "xmtrade"), "data", "import", str(args.prices)], env=env,
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        first = sweep(home, 50, args.seed, ["--jobs", "1", "--confirm", "1"], env,
                      report="none")  # fmt: skip
        figures["first_sweep_after_install"] = first
        print(f"first sweep after an install (50 combinations, numba compiling): "
              f"{first['wall_s']} s wall, {first['cpu_s']} s CPU", flush=True)  # fmt: skip
        for size in sizes:
            row = sweep(home, size, args.seed, ["--jobs", str(args.jobs)], env,
                        report=args.report)  # fmt: skip
            row["executor"] = f"local, {args.jobs} processes"
            figures["sweeps"].append(row)
            print(_line(row), flush=True)
        # the fixed costs (start, confirmation, reports) dominate a small sweep: the cost of
        # one more combination is the difference between two sizes
        for before, row in zip(figures["sweeps"], figures["sweeps"][1:], strict=False):
            more = row["combinations"] - before["combinations"]
            if more > 0:
                row["marginal_wall_ms"] = round(1000 * (row["wall_s"] - before["wall_s"]) / more, 3)
                row["marginal_cpu_ms"] = round(1000 * (row["cpu_s"] - before["cpu_s"]) / more, 3)
        margins = [r["marginal_cpu_ms"] for r in figures["sweeps"] if "marginal_cpu_ms" in r]
        if len(margins) >= 2:
            figures["marginal_cpu_drift"] = round(max(margins) / min(margins) - 1, 3)
        if args.dask:
            size = max([s for s in sizes if s <= 10_000] or [1000])
            figures["dask"] = []
            with dask_cluster(env, home) as (address, add_worker):
                workers: list[int] = []
                for count in (1, 2):
                    workers.append(add_worker())
                    outside = [p for w in workers for p in _tree(w)]
                    row = sweep(home, size, args.seed,
                                ["--executor", "dask", "--scheduler", address], env, outside,
                                report=args.report)  # fmt: skip
                    row["executor"] = f"Dask, {count} worker{'s' if count > 1 else ''}"
                    figures["dask"].append(row)
                    print(_line(row), flush=True)
            one, two = figures["dask"]
            figures["dask_speedup_2_vs_1"] = round(one["wall_s"] / two["wall_s"], 2)
            print(f"Dask: 2 workers {figures['dask_speedup_2_vs_1']}x faster than 1")
    if args.kernel:
        sys.path.insert(0, str(REPO))
        from bench_kernel import single_runs

        from data_feeds.bars import read_price_csv

        figures["kernel"] = single_runs(read_price_csv(args.prices), args.kernel)
        print("bare kernel:", json.dumps(figures["kernel"]), flush=True)
    figures["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in figures.items() if k != "sweeps"}, indent=2))


def _line(row: dict[str, Any]) -> str:
    return (
        f"{row['combinations']:>7,} combinations on {row['executor']}: {row['wall_s']:>7} s wall, "
        f"{row['cpu_s']:>7} s CPU, {row['ms_per_combination']} ms each, "
        f"{row['runs_per_cpu_s']} runs/CPU-s, peak {row['peak_rss_mib']} MiB RSS / "
        f"{row['peak_pss_mib']} MiB PSS"
    )


if __name__ == "__main__":
    main()
