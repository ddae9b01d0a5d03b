"""Data pipeline at the Tokyo market's scale: load, adjust, clean, features, scaling and windows.

Generates a synthetic panel of 2,000 tickers x 1,250 days in the JPX competition's ``stock_prices.csv`` layout
(GARCH-like returns, 0.2 % of prices missing, 2-for-1 splits on 20 stocks; generation is not timed), then times
each stage in a fresh process and reports its peak resident memory. Goal: under 15 s and under 2 GB; the
windows must stay views of the feature array.
Run: ``python benchmarks/data_pipeline.py [--tickers 2000 --days 1250]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def generate(path: Path, tickers: int, days: int) -> None:
    from forecasting.market.synthetic import synthetic_panel, to_jpx_frame

    panel = synthetic_panel(tickers, days, seed=0, missing=0.002)
    dates = panel.index.get_level_values("date").unique()
    splits = {f"T{i:04d}": f"{dates[days // 2 + i]:%Y-%m-%d}" for i in range(min(tickers, 20))}
    to_jpx_frame(panel, splits=splits).to_csv(path, index=False)


def measure(path: str, window: int) -> dict[str, float]:
    import numpy as np

    from forecasting.market.cleaning import clean_panel
    from forecasting.market.loaders import read_jpx
    from forecasting.preparation.dataset import prepare
    from forecasting.preparation.features import build_features
    from forecasting.preparation.splits import TRAIN, chronological_split
    from forecasting.preparation.windows import window_view

    times: dict[str, float] = {}
    t = time.perf_counter()
    panel = read_jpx(path)
    times["load and adjust (read_jpx)"] = time.perf_counter() - t
    t = time.perf_counter()
    clean = clean_panel(panel)
    times["clean (calendar, interpolation)"] = time.perf_counter() - t
    t = time.perf_counter()
    cube = build_features(clean)
    times["features and targets"] = time.perf_counter() - t
    t = time.perf_counter()
    prep = prepare(cube, chronological_split(cube.dates), window)
    samples = prep.samples(TRAIN)
    view = window_view(prep.x, window)
    times["scale and windows"] = time.perf_counter() - t
    times["total"] = sum(times.values())
    times["rows"] = float(len(panel))
    times["training windows"] = float(len(samples))
    times["windows are views"] = float(np.shares_memory(view, prep.x))
    times["peak memory GB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=1250)
    parser.add_argument("--window", type=int, default=30)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.window)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stock_prices.csv"
        t = time.perf_counter()
        generate(path, args.tickers, args.days)
        print(
            f"generated {args.tickers} x {args.days} JPX-layout panel in {time.perf_counter() - t:.1f} s "
            f"({path.stat().st_size / 1e6:.0f} MB CSV)",
            flush=True,
        )
        out = subprocess.run(
            [sys.executable, __file__, "--measure", str(path), "--window", str(args.window)],
            capture_output=True,
            text=True,
            check=True,
        )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    for name, value in figures.items():
        if name in ("rows", "training windows"):
            print(f"  {name:34s} {value:>12,.0f}")
        elif name == "windows are views":
            print(f"  {name:34s} {'yes' if value else 'NO'}")
        elif name == "peak memory GB":
            print(f"  {name:34s} {value:>12.2f}   goal < 2 GB")
        else:
            goal = "   goal < 15 s" if name == "total" else ""
            print(f"  {name:34s} {value:>11.2f}s{goal}")


if __name__ == "__main__":
    main()
