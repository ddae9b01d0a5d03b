"""``qtrade signal`` and ``qtrade paper`` at the Tokyo market's size: 2,000 tickers x 1,250 days, one evening's
signal and one evening's paper session; seconds.

The run it signals from is made cheaply, since only the signal is timed: a network trained (one epoch) on 50 of
the tickers, its forecasts for every ticker over the last 25 closes before the evening (the test period), a
``longshort`` backtest (k=100) of those closes. The evening's data is the same market one session later. Timed:
reading the data file (a long CSV, as a user's would be), the signal itself (freshness, the history check over
every row, the forecast of the last closes, the decision) and writing its files; then a paper ledger (SQLite)
begun the evening before, and the evening's session timed: its checks, the fills of the orders left the evening
before, the holding costs, the signal and the transaction that records it all. Run:
``python benchmarks/signal_speed.py`` (about five minutes on 2 cores, most of it making the run).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

from backtests.pipeline import run_backtest_job
from forecasting.market.loaders import load_market_data
from forecasting.market.synthetic import synthetic_panel
from forecasting.pipeline import ForecastConfig, predict_with_model, run_forecast
from live import Ledger, make_signal, paper_sessions, write_signal

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=1250)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    panel = synthetic_panel(args.tickers, args.days, seed=0, missing=0.002)
    dates = panel.index.unique("date")
    evening = dates[-1]
    history = panel[panel.index.get_level_values("date") < evening]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        few = [f"T{i:04d}" for i in range(50)]
        run_forecast(
            history[history.index.get_level_values("ticker").isin(few)],
            ForecastConfig(epochs=1),
            root / "train",
            progress=False,
        )
        predict_with_model(history, root / "train" / "model.pt", root / "fc", score=False, origins_from=dates[-27])
        shutil.copy(root / "train" / "model.pt", root / "fc" / "model.pt")
        run_backtest_job(
            history, root / "bt", strategy="longshort", params=["k=100"], forecasts=root / "fc", progress=False
        )
        print(f"the run to signal from: {time.perf_counter() - t:.0f} s", flush=True)
        data = root / "latest.csv"
        panel.reset_index().to_csv(data, index=False)
        t = time.perf_counter()
        latest = load_market_data(data)
        read = time.perf_counter() - t
        t = time.perf_counter()
        signal = make_signal(root / "bt", latest, as_of=pd.Timestamp(evening), source=str(data))
        decided = time.perf_counter() - t
        t = time.perf_counter()
        write_signal(signal, root / "signal")
        wrote = time.perf_counter() - t
        print(
            f"signal {args.tickers} tickers x {args.days} days ({len(latest):,} rows): reading the CSV {read:.1f} s, "
            f"the signal {decided:.1f} s (checks, forecast, decision; {len(signal.orders)} orders), writing "
            f"{wrote:.2f} s; {read + decided + wrote:.1f} s in all",
            flush=True,
        )
        url = f"sqlite:///{root / 'paper.db'}"
        before = latest[latest.index.get_level_values("date") < evening]
        paper_sessions(root / "bt", before, url, as_of=pd.Timestamp(dates[-2]), source=str(data))
        t = time.perf_counter()
        days = paper_sessions(root / "bt", latest, url, as_of=pd.Timestamp(evening), source=str(data))
        session = time.perf_counter() - t
        record = days[-1].record
        assert record is not None
        print(
            f"paper session {args.tickers} tickers: {session:.1f} s (checks, {len(record.fills)} fills, the signal, "
            f"the transaction; the ledger holds {len(Ledger(url).table('positions')):,} position rows)",
            flush=True,
        )
