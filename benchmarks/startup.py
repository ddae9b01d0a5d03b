"""Start-up: seconds until ``qtrade --help`` and ``qtrade strategies`` answer (median of 5 runs each).

Goal: under half a second; torch, backtrader and quantstats are imported only by the commands that use them.
Run: ``python benchmarks/startup.py``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

QTRADE = [str(Path(sys.executable).with_name("qtrade"))]
if not Path(QTRADE[0]).exists():
    QTRADE = [sys.executable, "-m", "qtrade.cli"]


def seconds(args: list[str], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([*QTRADE, *args], check=True, capture_output=True, env={**os.environ, "COLUMNS": "120"})
        times.append(time.perf_counter() - t)
    return statistics.median(times)


if __name__ == "__main__":
    seconds(["--help"], repeats=1)  # warm the file cache
    for args in (["--help"], ["strategies"]):
        print(f"qtrade {' '.join(args):12s} {seconds(args):.2f} s   goal < 0.5 s")
