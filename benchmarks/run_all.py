"""Run every benchmark in turn; each prints its own figures. ``make bench`` calls this."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = [
    "startup.py",
    "data_pipeline.py",
    "training_throughput.py",
    "inference.py",
    "backtest_throughput.py",
    "end_to_end.py",
    "sp500_quality.py",
]

if __name__ == "__main__":
    failed = 0
    for name in SCRIPTS:
        print(f"== {name}", flush=True)
        failed |= subprocess.call([sys.executable, str(HERE / name)]) != 0
    sys.exit(failed)
