"""Backtest throughput: bars per second of qtrade's backtrader run, and of the numpy replay beside it.

Cases: ``kelly`` on one ticker of 5,000 days, ``kelly`` on 50 tickers x 5,000 days, ``longshort`` on a wide
panel (default 500 tickers x 1,250 days; ``--wide-tickers 2000`` for the Tokyo market's size). A bar is one
ticker-day. Forecasts are synthetic: a noisy view of the next return, with white noise (the sign flips about every
other day and every bar trades: the worst case) or persistent noise with a 2 % rebalance band (the usual case).
Goal: at least 10,000 bars a second (a naive backtrader strategy calling order_target_percent each bar runs at
4-5 thousand here). Run: ``python benchmarks/backtest_throughput.py [--wide-tickers 2000]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from backtests.engine import Execution, run_backtest
from backtests.inputs import align
from backtests.vectorized import replay
from forecasting.cleaning import clean_panel
from forecasting.synthetic import synthetic_panel
from strategies import get, parse_params


def noisy_forecasts(panel: pd.DataFrame, seed: int = 0, persistence: float = 0.0) -> pd.DataFrame:
    """Forecasts: a tenth of the next return plus noise that is white (``persistence`` 0: the sign flips
    about every other day, the worst case) or AR(1) (``persistence`` 0.97: a signal that drifts, as a
    trained model's does)."""
    clean = clean_panel(panel)
    close = clean.values["close"]
    target = np.full_like(close, np.nan)
    target[:-1] = np.log(close[1:] / close[:-1])
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0, 0.002, close.shape)
    noise = np.empty_like(shocks)
    noise[0] = shocks[0]
    for t in range(1, len(noise)):
        noise[t] = persistence * noise[t - 1] + np.sqrt(1 - persistence**2) * shocks[t]
    mean = 0.1 * np.nan_to_num(target) + noise
    n_dates, n_tickers = close.shape
    frame = pd.DataFrame({
        "date": np.repeat(clean.dates, n_tickers), "ticker": np.tile(clean.tickers.astype(str), n_dates),
        "mean": mean.reshape(-1), "variance": 2e-4, "target": target.reshape(-1), "split": "test",
    })
    return frame


def case(name: str, strategy: str, tickers: int, days: int, params: list[str] | None = None, *,
         persistence: float = 0.0, band: float = 0.0) -> None:
    panel = synthetic_panel(tickers, days, seed=1)
    data = align(panel, noisy_forecasts(panel, persistence=persistence), split="test")
    spec = get(strategy)
    settings = parse_params(spec, params)
    bars = (data.stop - data.start) * tickers
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_backtest(data, spec, settings, Execution(band=band))
    bt_seconds = time.perf_counter() - t
    simple = pd.DataFrame(data.simple_returns(), index=data.dates, columns=data.tickers)
    t = time.perf_counter()
    check = replay(result.holdings.iloc[:-1], simple, Execution().cost_bps)
    np_seconds = time.perf_counter() - t
    gap = (check["net"] - result.returns.reindex(check.index)).abs()
    fills = int((result.fills["side"] != "rejected").sum())
    name = f"{name}, {'white' if persistence == 0 else 'persistent'} signal, band {band:.0%}"
    print(f"{name:58s} {bars:>9,} bars {fills / bars:4.0%} traded  backtrader {bars / bt_seconds:>7,.0f} bars/s "
          f"({bt_seconds:5.1f} s)  "
          f"numpy replay {bars / np_seconds:>12,.0f} bars/s  largest daily gap {gap.max() * 1e4:.4f} bp  "
          f"goal >= 10,000 bars/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=5000)
    parser.add_argument("--wide-tickers", type=int, default=500)
    parser.add_argument("--wide-days", type=int, default=1250)
    args = parser.parse_args()
    for persistence, band in ((0.0, 0.0), (0.97, 0.02)):
        case("kelly, 1 ticker", "kelly", 1, args.days, persistence=persistence, band=band)
        case("kelly, 50 tickers", "kelly", 50, args.days, persistence=persistence, band=band)
    case(f"longshort k=50, {args.wide_tickers} tickers", "longshort", args.wide_tickers, args.wide_days,
         ["k=50"], persistence=0.97, band=0.0)


if __name__ == "__main__":
    main()
