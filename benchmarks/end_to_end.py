"""End to end: the README's main job (forecast -> backtest -> tearsheet on the embedded data), in seconds.

Runs ``qtrade backtest --strategy kelly --out DIR`` in a temporary folder, as ``make demo`` does after
``qtrade data``. Goal: under 90 s on 2 cores without a GPU. Run: ``python benchmarks/end_to_end.py``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__":
    qtrade = Path(sys.executable).with_name("qtrade")
    cmd = [str(qtrade)] if qtrade.exists() else [sys.executable, "-m", "qtrade.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        subprocess.run([*cmd, "data"], check=True, capture_output=True)
        subprocess.run(
            [*cmd, "backtest", "--strategy", "kelly", "--out", tmp, "--quiet"], check=True, capture_output=True
        )
        total = time.perf_counter() - t
        ok = (Path(tmp) / "tearsheet.html").is_file()
    print(
        f"qtrade data + qtrade backtest --strategy kelly (forecast, backtest, tearsheet): {total:.1f} s   "
        f"goal < 90 s   tearsheet written: {'yes' if ok else 'NO'}"
    )
