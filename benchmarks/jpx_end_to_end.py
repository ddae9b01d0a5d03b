"""The Tokyo market's scale end to end: forecast and backtest 2,000 tickers x 1,250 days; time and peak memory.

One training epoch (``--epochs``), GARCH and the other baselines for every ticker, forecasts for every origin,
then a ``longshort`` backtest (k=100) of the test period in backtrader and the tearsheet. Reports each stage's
seconds and the process's peak resident memory; the point is that it fits comfortably in 24 GB. Slow on 2 cores
(about a quarter of an hour), so ``make bench`` leaves it out. Run: ``python benchmarks/jpx_end_to_end.py``.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import warnings
from pathlib import Path

from backtests.engine import Execution
from backtests.pipeline import run_backtest_job
from forecasting.market.synthetic import synthetic_panel
from forecasting.pipeline import ForecastConfig, run_forecast


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=1250)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    panel = synthetic_panel(args.tickers, args.days, seed=0, missing=0.002)
    print(f"panel {args.tickers} x {args.days}: {len(panel):,} rows; peak so far {peak_gb():.2f} GB", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        run = run_forecast(panel, ForecastConfig(epochs=args.epochs), Path(tmp) / "forecast", progress=False)
        print(
            f"forecast ({args.epochs} epoch, baselines, {len(run.forecasts):,} forecasts, outputs): "
            f"{time.perf_counter() - t:.0f} s; peak {peak_gb():.2f} GB",
            flush=True,
        )
        rate = run.metrics["run"]["training_windows_per_second"][0]
        windows = int((run.forecasts["split"] == "train").sum())
        print(
            f"  of which training: {rate:,.0f} windows/s, one epoch of {windows:,} windows in {windows / rate:.0f} s",
            flush=True,
        )
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bt = run_backtest_job(
                panel,
                Path(tmp) / "bt",
                strategy="longshort",
                params=["k=100"],
                forecasts=Path(tmp) / "forecast",
                execution=Execution(),
                progress=False,
            )
        days = len(bt.result.returns)
        print(
            f"backtest longshort k=100 over {days} days x {args.tickers} tickers and tearsheet: "
            f"{time.perf_counter() - t:.0f} s; peak {peak_gb():.2f} GB (of 24 GB)",
            flush=True,
        )
