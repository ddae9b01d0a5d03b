"""Backtest throughput: bars per second of qtrade's backtrader run, and of the numpy replay beside it.

Cases: ``kelly`` on one ticker of 5,000 days, ``kelly`` on 50 tickers x 5,000 days, ``longshort`` on a wide
panel of the Tokyo market's size (2,000 tickers x 1,250 days; ``--wide-tickers`` for fewer). A bar is one
ticker-day. Forecasts are synthetic: a noisy view of the next return, with white noise (the sign flips about every
other day and every bar trades: the worst case) or persistent noise with a 2 % rebalance band (the usual case).
Goal: at least 10,000 bars a second. Beside it, measured in the same run, a naive backtrader strategy that calls
order_target_percent on every bar (4-5 thousand bars/s here). Run:
``python benchmarks/backtest_throughput.py [--wide-tickers 500]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from backtests.engine import Execution, run_backtest
from backtests.inputs import align, held_returns
from backtests.vectorized import replay
from forecasting.market.cleaning import clean_panel
from forecasting.market.synthetic import synthetic_panel
from strategies import get, parse_params
from strategies.backtrader_compat import bt


class _ForecastPandas(bt.feeds.PandasData):  # type: ignore[misc]
    lines = ("mean", "variance")
    params = (("mean", -1), ("variance", -1))


class _NaiveKelly(bt.Strategy):  # type: ignore[misc]
    """The textbook way: half Kelly from the bar's forecast, ``order_target_percent`` on every bar."""

    def next(self) -> None:
        for d in self.datas:
            w = max(-1.0, min(1.0, 0.5 * d.mean[0] / d.variance[0])) / len(self.datas)
            self.order_target_percent(data=d, target=w)


def median_seconds(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The median wall time of ``repeats`` calls of ``run``, and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def naive(tickers: int, days: int, repeats: int) -> None:
    """Stock backtrader beside qtrade's run: PandasData, default observers, the default broker and sizing,
    an order every bar, market-on-close."""
    panel = synthetic_panel(tickers, days, seed=1)
    data = align(panel, noisy_forecasts(panel), split="test")

    def run() -> None:
        cerebro = bt.Cerebro()
        cerebro.broker.setcash(1e6)
        cerebro.broker.set_coc(True)
        for j, ticker in enumerate(data.tickers):
            cerebro.adddata(_ForecastPandas(dataname=data.ticker_frame(j, data.start)), name=ticker)
        cerebro.addstrategy(_NaiveKelly)
        cerebro.run()

    seconds, _ = median_seconds(run, repeats)
    bars = (data.stop - data.start) * tickers
    name = f"naive backtrader kelly (order_target_percent), {tickers} ticker{'s' * (tickers > 1)}, white signal"
    print(
        f"{name:58s} {bars:>9,} bars           backtrader {bars / seconds:>7,.0f} bars/s "
        f"({seconds:5.1f} s, median of {repeats})  the reference qtrade's run is measured against",
        flush=True,
    )


def noisy_forecasts(panel: pd.DataFrame, seed: int = 0, persistence: float = 0.0) -> pd.DataFrame:
    """Forecasts: a tenth of the next return plus noise that is white (``persistence`` 0: the sign flips
    about every other day, the worst case) or AR(1) (``persistence`` 0.97: a signal that drifts, as a
    trained model's does)."""
    clean = clean_panel(panel)
    close = clean.values["close"]
    target = held_returns(close, ~clean.filled, lag=1)  # next-close, the default execution
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0, 0.002, close.shape)
    noise = np.empty_like(shocks)
    noise[0] = shocks[0]
    for t in range(1, len(noise)):
        noise[t] = persistence * noise[t - 1] + np.sqrt(1 - persistence**2) * shocks[t]
    mean = 0.1 * np.nan_to_num(target) + noise
    n_dates, n_tickers = close.shape
    frame = pd.DataFrame(
        {
            "date": np.repeat(clean.dates, n_tickers),
            "ticker": np.tile(clean.tickers.astype(str), n_dates),
            "mean": mean.reshape(-1),
            "variance": 2e-4,
            "target": target.reshape(-1),
            "split": "test",
            "execution": "next-close",
        }
    )
    return frame


def case(
    name: str,
    strategy: str,
    tickers: int,
    days: int,
    params: list[str] | None = None,
    *,
    persistence: float = 0.0,
    band: float = 0.0,
    repeats: int = 1,
    show: bool = True,
) -> None:
    panel = synthetic_panel(tickers, days, seed=1)
    data = align(panel, noisy_forecasts(panel, persistence=persistence), split="test")
    spec = get(strategy)
    settings = parse_params(spec, params)
    bars = (data.stop - data.start) * tickers

    def run() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return run_backtest(data, spec, settings, Execution(band=band))

    bt_seconds, result = median_seconds(run, repeats)
    if not show:
        return
    t = time.perf_counter()
    ex = result.execution
    check = replay(result.decisions, data, mode=ex.mode, costs=ex.costs, first=result.first, cash=ex.cash, band=ex.band)
    np_seconds = time.perf_counter() - t
    gap = (check["net"] - result.returns.reindex(check.index)).abs()
    fills = int((result.fills["side"] != "rejected").sum())
    name = f"{name}, {'white' if persistence == 0 else 'persistent'} signal, band {band:.0%}"
    print(
        f"{name:58s} {bars:>9,} bars {fills / bars:4.0%} traded  backtrader {bars / bt_seconds:>7,.0f} bars/s "
        f"({bt_seconds:5.1f} s, median of {repeats})  "
        f"numpy replay {bars / np_seconds:>12,.0f} bars/s  largest daily gap {gap.max() * 1e4:.4f} bp  "
        f"goal >= 10,000 bars/s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=5000)
    parser.add_argument("--wide-tickers", type=int, default=2000)
    parser.add_argument("--wide-days", type=int, default=1250)
    args = parser.parse_args()
    case("warm-up", "kelly", 2, 300, show=False)  # imports and first-call costs stay out of the figures
    naive(1, args.days, repeats=3)
    for persistence, band in ((0.0, 0.0), (0.97, 0.02)):
        case("kelly, 1 ticker", "kelly", 1, args.days, persistence=persistence, band=band, repeats=5)
        case("kelly, 50 tickers", "kelly", 50, args.days, persistence=persistence, band=band)
    case(
        f"longshort k=100, {args.wide_tickers} tickers",
        "longshort",
        args.wide_tickers,
        args.wide_days,
        ["k=100"],
        persistence=0.97,
        band=0.0,
    )


if __name__ == "__main__":
    main()
