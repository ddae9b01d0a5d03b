"""Several qtrade processes on one machine: torch threads shared (the default) against every process taking
every core (``--threads`` = the core count, torch's own default).

Starts N ``qtrade forecast`` processes at once on the embedded data and reports the wall time until the last
ends, for each setting; rounds are interleaved. Run:
``python benchmarks/concurrent_runs.py [--processes 3 --epochs 3 --rounds 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from forecasting.model.threads import cores


def wave(n: int, epochs: int, threads: int | None, root: Path) -> float:
    extra = [] if threads is None else ["--threads", str(threads)]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "qtrade.cli",
                "forecast",
                "--out",
                str(root / f"run{k}"),
                "--epochs",
                str(epochs),
                "--patience",
                str(epochs),
                "--seed",
                str(k),
                "-q",
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(n)
    ]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"a forecast failed: {err.strip().splitlines()[-1:]}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    n_cores = cores()
    times: dict[str, list[float]] = {"shared": [], "all cores each": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            times["shared"].append(wave(args.processes, args.epochs, None, Path(tmp)))
            times["all cores each"].append(wave(args.processes, args.epochs, n_cores, Path(tmp)))
    print(
        f"{args.processes} concurrent forecasts ({args.epochs} epochs, embedded data) on {n_cores} cores, "
        f"median of {args.rounds} rounds:"
    )
    for name, values in times.items():
        print(f"  {name:15s} {statistics.median(values):6.1f} s")
    ratio = statistics.median(times["all cores each"]) / statistics.median(times["shared"])
    print(f"  shared threads are {ratio:.2f}x as fast")


if __name__ == "__main__":
    main()
