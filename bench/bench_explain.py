"""`xmtrade explain` end to end, as a user pays for it: the command line in a fresh process,
wall time and CPU time (this process's children: the command and its workers).

Not a test: a measurement, printed as a table (and as JSON with --json). The target (issue
19) is the whole analysis (the plan, 10 variants, 1,000 resamples, per-year rows, every row
confirmed in backtrader, explain.html) in under 20 s on 2 cores. Cases vary every documented
axis: the window (--start/--end), --regimes, --variants, --resamples, --jobs and --report.

Each case runs once to warm what an installed tool has warm (the numba cache of the kernel,
Python's bytecode, here in a private PYTHONPYCACHEPREFIX so that nothing is written into
the environment), then `--repeat` times measured; the best and the median are shown.

    python bench/bench_explain.py            # every case (a few minutes on a quiet machine)
    python bench/bench_explain.py --quick    # the default case only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PRICES = Path(os.environ.get("XMTRADE_SHARED_DATA", REPO.parent / "shared" / "data"))
REGIMES = (
    "regimes:\n  2021-2022 fall: {start: 2021-02-18, end: 2022-10-31}\n"
    "  2024 rally: {start: 2024-02-01, end: 2024-12-31}\n"
)
VARIANTS = (
    "variants:\n  wide_stop:\n    label: stop over 40 sessions\n"
    "    overrides: {stop.lookback: 40}\n"
)


def cases(folder: Path) -> dict[str, list[str]]:
    """The measured command lines, by name (the first is the issue's target)."""
    regimes = folder / "regimes.yaml"
    regimes.write_text(REGIMES, encoding="utf-8")
    variants = folder / "variants.yaml"
    variants.write_text(VARIANTS, encoding="utf-8")
    return {
        "default (10 variants, 1,000 resamples, html)": [],
        "--jobs 1": ["--jobs", "1"],
        "--regimes (2 regimes)": ["--regimes", str(regimes)],
        "--variants (11 variants)": ["--variants", str(variants)],
        "--start 2021-01-04 --end 2024-12-31": ["--start", "2021-01-04", "--end", "2024-12-31"],
        "--resamples 5,000": ["--resamples", "5000"],
        "--report none --json": ["--report", "none", "--json"],
    }


def _environment(home: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["XMTRADE_HOME"] = str(home)
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def _xmtrade() -> str:
    here = Path(sys.executable).parent / "xmtrade"
    return str(here) if here.exists() else shutil.which("xmtrade") or "xmtrade"


def measure(args: list[str], env: dict[str, str], out: Path) -> dict[str, float]:
    """One run of the command: wall and CPU seconds (user + system, with its workers)."""
    if out.exists():
        shutil.rmtree(out)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(
        [_xmtrade(), "explain", "--no-progress", "--out", str(out), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"xmtrade explain {' '.join(args)} failed: {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prices", type=Path, default=DEFAULT_PRICES / "1810.HK.csv")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per case")
    parser.add_argument("--quick", action="store_true", help="the default case only")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="xmtrade-bench-explain-"))
    try:
        home, cache = folder / "home", folder / "pycache"
        env = _environment(home, cache)
        subprocess.run(
            [_xmtrade(), "data", "import", str(args.prices)],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        chosen = cases(folder)
        if args.quick:
            chosen = dict(list(chosen.items())[:1])
        results: dict[str, Any] = {}
        for name, case in chosen.items():
            measure(case, env, folder / "out")  # warm: numba cache, bytecode, page cache
            runs = [measure(case, env, folder / "out") for _ in range(args.repeat)]
            walls = [r["wall"] for r in runs]
            results[name] = {
                "wall_best": round(min(walls), 2),
                "wall_median": round(statistics.median(walls), 2),
                "cpu_median": round(statistics.median(r["cpu"] for r in runs), 2),
                "runs": len(runs),
            }
            if not args.json:
                r = results[name]
                print(
                    f"{name:45s} wall best {r['wall_best']:6.2f} s  median "
                    f"{r['wall_median']:6.2f} s  CPU {r['cpu_median']:6.2f} s",
                    flush=True,
                )
        load = os.getloadavg()
        results["_machine"] = {"cores": os.cpu_count(), "load_average": [round(x, 2) for x in load]}
        if args.json:
            print(json.dumps(results, indent=2))
        else:
            print(f"{os.cpu_count()} cores; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
