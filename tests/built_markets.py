"""Markets built by hand for the accounting tests: a panel from per-ticker lists, forecasts whose targets follow
the definition of each execution's held return, and a rule that holds the forecast mean as its weight, so that
a test writes the positions it wants into the forecasts file."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from backtests.costs import CostModel
from backtests.engine import BacktestResult, Execution, run_backtest
from backtests.inputs import align
from forecasting.preparation.execution import execution_mode
from strategies import Bar, Param, get, parse_params, register

__all__ = ["forecasts", "market", "run", "walk"]


@register(
    "test_mean_is_weight",
    "holds the forecast mean as its portfolio weight (NaN: keep)",
    sleeve=False,
    weight=Param(1.0, "the most gross exposure it declares"),
)
def _mean_is_weight(bar: Bar, *, weight: float) -> np.ndarray:
    return np.array(bar.mean, dtype=float)


def market(
    close: dict[str, list[float]],
    *,
    open_: dict[str, list[float]] | None = None,
    volume: dict[str, list[float]] | None = None,
    spread: dict[str, list[float]] | None = None,
    start: str = "2021-01-04",
) -> pd.DataFrame:
    """A long panel (date, ticker) -> open, high, low, close, volume (and spread) from per-ticker lists of equal
    length."""
    frames = []
    for ticker, given in close.items():
        c = np.asarray(given, dtype=float)
        o = np.asarray(open_[ticker], dtype=float) if open_ else c.copy()
        v = np.asarray(volume[ticker], dtype=float) if volume else np.full(len(c), 1e9)
        frames.append(
            pd.DataFrame(
                {
                    "date": pd.bdate_range(start, periods=len(c)),
                    "ticker": ticker,
                    "open": o,
                    "high": np.maximum(o, c) * 1.01,
                    "low": np.minimum(o, c) * 0.99,
                    "close": c,
                    "volume": v,
                    **({"spread": spread[ticker]} if spread else {}),
                }
            )
        )
    return pd.concat(frames).set_index(["date", "ticker"]).sort_index()


def forecasts(panel: pd.DataFrame, mode: str, mean: dict[str, list[float]] | float, *, test_from: int) -> pd.DataFrame:
    """Forecasts with the given means; their targets from the definition of ``mode``'s held return,
    log(P[t+lag+1] / P[t+lag]) with P the open or the close (every day of these markets is real)."""
    m = execution_mode(mode)
    rows = []
    for ticker, frame in panel.groupby(level="ticker"):
        p = frame[m.price].to_numpy()
        dates = frame.index.get_level_values("date")
        n = len(p)
        target = [np.log(p[t + m.lag + 1] / p[t + m.lag]) if t + m.lag + 1 < n else np.nan for t in range(n)]
        mu = np.full(n, mean) if np.isscalar(mean) else np.asarray(mean[ticker], dtype=float)
        rows.append(
            pd.DataFrame(
                {
                    "date": dates,
                    "ticker": ticker,
                    "mean": mu,
                    "variance": 1e-4,
                    "target": target,
                    "split": ["train" if t < test_from else "test" for t in range(n)],
                    "execution": m.name,
                }
            )
        )
    return pd.concat(rows, ignore_index=True).dropna(subset=["mean"]).reset_index(drop=True)


def run(
    panel: pd.DataFrame,
    fc: pd.DataFrame,
    mode: str,
    costs: CostModel,
    *,
    strategy: str = "test_mean_is_weight",
    params: list[str] | None = None,
    **kw: Any,
) -> tuple[BacktestResult, list[str]]:
    """Backtest ``strategy`` on ``panel`` and ``fc``; the result and every warning's message."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_backtest(
            align(panel, fc, execution=mode),
            get(strategy),
            parse_params(get(strategy), params),
            Execution(mode=mode, costs=costs, **kw),
        )
    return result, [str(w.message) for w in caught]


def walk(n: int, seed: int, *, level: float = 50.0) -> tuple[list[float], list[float]]:
    """Closes of a random walk (2% a day) and opens 1% around them."""
    rng = np.random.default_rng(seed)
    close = level * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))
    return close.tolist(), (close * np.exp(rng.normal(0.0, 0.01, n))).tolist()
