"""Where a backtest's benchmark comes from (``--benchmark``): every benchmark is held from the strategy's first
possible fill, without costs, and its daily returns are dated by the close they end at, as the strategy's are.

- ``equal`` (the default): the equal-weight buy-and-hold of the traded tickers (:func:`backtests.engine.benchmark`),
  named "buy and hold";
- a ticker of the data (``SPY``): bought at the price of the strategy's first possible fill (the close ``lag``
  bars after the first origin, or the open for ``next-open``), then its close-to-close simple returns; 0 before.
  A ticker the forecasts have no rows for is a benchmark only: :func:`without_ticker` takes it out of what the
  strategy trades (so no rule, ``buyhold`` included, ever holds it, and the equal-weight figures leave it out). Its
  prices must be real at that fill and must last to the period's last close;
- a CSV file of daily simple returns (``bench.csv``): a date column (ISO dates; named ``date``, or the first
  column) and one numeric column of returns as decimals (0.01 for 1%), each dated by the close it ends at (an
  index's total return, say). Every day of the period after the first fill must be in it; other dates are
  ignored. The days before the first fill count 0, as they do for the others; for ``next-open``, whose first
  fill is an open, the fill day's return counts 0 too (a daily series cannot be split at the open).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backtests.inputs import BacktestData
from backtests.risk_free import read_dated_column
from forecasting.errors import ConfigError, DataError
from forecasting.preparation.execution import ExecutionMode, execution_mode

__all__ = [
    "DEFAULT_NAME",
    "EQUAL",
    "Benchmark",
    "BenchmarkSource",
    "benchmark_source",
    "choose_benchmark",
    "file_benchmark",
    "ticker_benchmark",
    "without_ticker",
]

EQUAL = "equal"
DEFAULT_NAME = "buy and hold"  # the equal-weight benchmark's name in every sentence, as before --benchmark existed


@dataclass(frozen=True)
class BenchmarkSource:
    """What ``--benchmark`` asked for: ``kind`` is ``equal``, ``ticker`` or ``file``; ``value`` the ticker or path."""

    kind: str = EQUAL
    value: str = EQUAL

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Benchmark:
    """A benchmark's daily returns, its ``name`` (in every sentence and table) and what it is, in words."""

    name: str
    kind: str
    returns: pd.Series
    description: str

    def summary(self) -> dict[str, str]:
        """``stats.json``'s ``benchmark_source``."""
        return {"name": self.name, "kind": self.kind, "description": self.description}


def benchmark_source(text: str | os.PathLike[str] | None) -> BenchmarkSource:
    """Read ``--benchmark``: ``equal``, a path to a CSV (a ``.csv`` or ``.txt`` name, a path with a folder, or an
    existing file), or a ticker.

    >>> benchmark_source("SPY"), benchmark_source("data/sp500tr.csv").kind, benchmark_source(None).kind
    (BenchmarkSource(kind='ticker', value='SPY'), 'file', 'equal')
    """
    if text is None:
        return BenchmarkSource()
    value = str(text).strip()
    if not value or value.lower() == EQUAL:
        return BenchmarkSource()
    path = Path(value)
    if path.suffix.lower() in (".csv", ".txt") or "/" in value or os.sep in value or path.is_file():
        return BenchmarkSource("file", value)
    return BenchmarkSource("ticker", value)


def check_ticker(source: BenchmarkSource, tickers: list[str], data_source: str) -> None:
    """ConfigError when ``--benchmark`` names a ticker the data does not have (naming some it has)."""
    if source.kind != "ticker" or source.value in tickers:
        return
    near = [t for t in tickers if t.lower() == source.value.lower()]
    shown = ", ".join(sorted(tickers)[:5]) + (f" and {len(tickers) - 5} more" if len(tickers) > 5 else "")
    hint = f"did you mean {near[0]}? " if near else ""
    raise ConfigError(
        f"--benchmark {source.value}: no such ticker in {data_source} (it has {shown}); {hint}give one of them, "
        "equal, or a CSV of daily returns"
    )


def without_ticker(data: BacktestData, ticker: str) -> BacktestData:
    """``data`` without ``ticker``'s column: what the strategy trades when the ticker is a benchmark only."""
    from dataclasses import replace

    keep = np.array([t != ticker for t in data.tickers])

    def cut(a: np.ndarray | None) -> Any:
        return None if a is None else a[:, keep]

    return replace(
        data,
        tickers=[t for t in data.tickers if t != ticker],
        prices={k: v[:, keep] for k, v in data.prices.items()},
        tradable=data.tradable[:, keep],
        mean=data.mean[:, keep],
        variance=data.variance[:, keep],
        target=data.target[:, keep],
        train_mean=cut(data.train_mean),
        train_variance=cut(data.train_variance),
        spread=cut(data.spread),
        dof=cut(data.dof),
    )


def _entry(data: BacktestData, mode: ExecutionMode) -> int:
    """Rows after ``start`` of the strategy's first possible fill (as the equal-weight benchmark is bought)."""
    return min(mode.lag, data.stop - data.start - 1)


def ticker_benchmark(data: BacktestData, ticker: str, mode: ExecutionMode | str) -> pd.Series:
    """``ticker``'s returns, held from the strategy's first possible fill: 0 before it, the fill price to the
    close on its day, then close to close.

    Examples
    --------
    >>> days = pd.bdate_range("2020-01-01", periods=4)
    >>> px = np.array([[100.0], [110.0], [99.0], [99.0]])
    >>> data = BacktestData(days, ["SPY"], {"open": px, "close": px}, np.ones((4, 1), bool), px, px, px,
    ...                     start=0, stop=4, split="test")
    >>> ticker_benchmark(data, "SPY", "next-close").round(4).tolist()  # bought at the close of day 1
    [0.0, -0.1, 0.0]
    """
    mode = execution_mode(mode)
    j = data.tickers.index(ticker)
    sl = slice(data.start, data.stop)
    close, real, days = data.prices["close"][sl, j], data.tradable[sl, j], data.dates[sl]
    entry = _entry(data, mode)
    if not real[entry]:
        raise DataError(
            f"--benchmark {ticker} has no real price on {days[entry]:%Y-%m-%d}, where the strategy's first order "
            "fills; choose a benchmark with prices over the whole period"
        )
    last = int(np.flatnonzero(real)[-1])
    if last < len(close) - 1 and not data.tradable[data.start + last + 1 :, j].any():  # delisted, not halted
        raise DataError(
            f"--benchmark {ticker}: its prices end on {days[last]:%Y-%m-%d}, before the period's last close "
            f"{days[-1]:%Y-%m-%d}; choose a benchmark with prices over the whole period"
        )
    bought = float(data.prices[mode.price][data.start + entry, j])
    out = np.zeros(len(close) - 1)
    out[entry:] = close[entry + 1 :] / close[entry:-1] - 1.0
    if entry >= 1:  # the fill day itself: from the fill price (the open for next-open) to that close
        out[entry - 1] = close[entry] / bought - 1.0
    return pd.Series(out, index=days[1:], name="benchmark")


def file_benchmark(
    path: str | os.PathLike[str], data: BacktestData, mode: ExecutionMode | str
) -> tuple[pd.Series, str]:
    """The daily returns of a CSV on the period's days (0 up to the first fill) and the returns column's name.

    DataError, one line, for a file that cannot be read, a value that is not a number, a day of the period the file
    lacks (the first named and the count), or a return beyond -100%/+100% (prices or percents, not returns).
    """
    mode = execution_mode(mode)
    p = Path(path)
    if not p.is_file():
        raise DataError(f"--benchmark {p}: no such file; give a CSV of date and daily return, a ticker, or equal")
    series = read_dated_column(p, what="--benchmark")
    days = data.dates[data.start + 1 : data.stop]
    held = _entry(data, mode)  # the return days up to the first fill's own count 0
    on = series.reindex(days)
    need = on.iloc[held:]
    missing = need.index[need.isna().to_numpy()]
    if len(missing):
        raise DataError(
            f"--benchmark {p}: {len(missing)} of the period's {len(need)} days have no return, the first "
            f"{missing[0]:%Y-%m-%d}; the file must cover {need.index[0]:%Y-%m-%d} to {need.index[-1]:%Y-%m-%d}"
        )
    big = need.abs() > 1
    if big.any():
        day = need.index[big.to_numpy()][0]
        raise DataError(
            f"--benchmark {p}: a return of {need[day]:g} on {day:%Y-%m-%d} ({int(big.sum())} days beyond 100% in "
            "absolute value) looks like a price or a percent; give daily simple returns as decimals (0.01 for 1%)"
        )
    out = on.fillna(0.0).to_numpy(dtype=float, copy=True)
    out[:held] = 0.0
    return pd.Series(out, index=days, name="benchmark"), str(series.name)


def choose_benchmark(
    source: BenchmarkSource, data: BacktestData, mode: ExecutionMode | str, equal: pd.Series, *, traded: bool = True
) -> Benchmark:
    """The benchmark ``source`` names, on ``data`` (which holds the ticker of a ticker benchmark); ``equal`` is the
    engine's equal-weight buy-and-hold; ``traded`` says whether the strategy trades a ticker benchmark too."""
    mode = execution_mode(mode)
    day = data.dates[data.start + _entry(data, mode)]
    fill = f"{'the open' if mode.price == 'open' else 'the close'} of {day:%Y-%m-%d}"
    if source.kind == EQUAL:
        return Benchmark(
            DEFAULT_NAME,
            EQUAL,
            equal,
            f"equal-weight buy and hold of the traded tickers, bought at the strategy's first possible fill ({fill}), "
            "no costs",
        )
    if source.kind == "ticker":
        role = "also traded by the strategy" if traded else "a benchmark only: the strategy does not trade it"
        return Benchmark(
            source.value,
            "ticker",
            ticker_benchmark(data, source.value, mode),
            f"{source.value} from the data, bought at the strategy's first possible fill ({fill}), then its "
            f"close-to-close returns, no costs; {role}",
        )
    returns, column = file_benchmark(source.value, data, mode)
    later = (
        " (the fill day itself counts 0: a daily series cannot be split at the open)" if mode.price == "open" else ""
    )
    return Benchmark(
        column,
        "file",
        returns,
        f"the daily returns in column {column} of {source.value}, from the strategy's first possible fill "
        f"({fill}){later}",
    )
