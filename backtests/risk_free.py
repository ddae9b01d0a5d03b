"""The risk-free rate of a backtest (``--rf``): a constant annual rate, or a dated series of annual rates.

The rate does two things, both a day at a time at ``annual / 252`` (as borrow and financing are charged):

- financing (:meth:`backtests.costs.CostModel.holding_cost`): the equity not committed to positions earns it,
  and the gross exposure above the equity pays it plus the ``financing`` spread;
- Sharpe ratios: every one is of the daily returns in excess of it.

The day that ends at a close uses the rate in force at the close it starts from. A series is read as of each
date: a date without a rate of its own takes the last one before it (a monthly T-bill series holds all month);
the period's first date must have one.

Examples
--------
>>> days = pd.bdate_range("2024-01-01", periods=4)
>>> RiskFree(0.0252).annual(days).tolist()
[0.0252, 0.0252, 0.0252, 0.0252]
>>> monthly = RiskFree(pd.Series([0.05, 0.04], index=pd.to_datetime(["2023-12-01", "2024-01-03"])), name="tbill")
>>> monthly.annual(days).tolist()
[0.05, 0.05, 0.04, 0.04]
>>> str(monthly)
'tbill'
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError, DataError

__all__ = ["DAYS", "RiskFree", "day_interest", "day_rates", "parse_rf", "read_dated_column"]

DAYS = 252  # trading days a year: a day's rate is the annual rate over this


class RiskFree:
    """An annual risk-free rate, constant or a dated series (held from each date until the next).

    Not a dataclass on purpose: ``str()`` of it is what a manifest records, never a whole series.
    """

    def __init__(self, rate: float | pd.Series = 0.0, *, name: str | None = None) -> None:
        if isinstance(rate, pd.Series):
            values = pd.to_numeric(rate, errors="coerce").astype(float).dropna()  # an empty cell: the last rate holds
            if values.empty:
                raise DataError(f"{name or 'the --rf series'}: no rates; give annual rates as decimals (0.04 for 4%)")
            self.series: pd.Series | None = values.sort_index()
            self.rate = float("nan")
            _check_rates(values.to_numpy(), name or "the --rf series")
        else:
            self.series = None
            self.rate = float(rate)
            if not np.isfinite(self.rate):
                raise ConfigError(f"--rf {rate} must be a finite annual rate, such as 0.04 for 4%")
            _check_rates(np.array([self.rate]), f"--rf {rate:g}")
        self.name = name if name is not None else f"{self.rate:g}"

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"RiskFree({self.name!r})"

    @property
    def is_zero(self) -> bool:
        """True for the default: no rate at all (the results are then those of a run without one)."""
        return self.series is None and self.rate == 0.0

    def annual(self, dates: pd.DatetimeIndex) -> np.ndarray:
        """The annual rate in force at each of ``dates``: the series' last value on or before each date.

        Raises DataError when the first date has no rate at or before it (a series that starts too late).
        """
        if self.series is None:
            return np.full(len(dates), self.rate)
        if not len(dates):
            return np.empty(0)
        known = self.series.index[self.series.index <= dates[0]]
        if not len(known):
            raise DataError(
                f"{self.name}: no rate on or before {dates[0]:%Y-%m-%d}, the period's first date (the file starts "
                f"{self.series.index[0]:%Y-%m-%d}); give a series that covers the period"
            )
        return self.series.reindex(dates, method="ffill").to_numpy(dtype=float)

    def in_period(self, dates: pd.DatetimeIndex, start: int) -> np.ndarray:
        """(n_dates,) the annual rate in force at each date from ``dates[start]`` (the period's first close) on;
        NaN before it."""
        out = np.full(len(dates), np.nan)
        out[start:] = self.annual(dates[start:])
        return out


def day_rates(in_force: np.ndarray, start: int) -> np.ndarray:
    """(n_dates,) the annual rate of the day that ends at each row: the rate in force at the close before it; 0
    up to and including ``start``, whose day is not the period's.

    >>> day_rates(np.array([np.nan, 0.04, 0.05, 0.06]), start=1).tolist()
    [0.0, 0.0, 0.04, 0.05]
    """
    out = np.zeros(len(in_force))
    out[start + 1 :] = in_force[start:-1]
    return out


def day_interest(*, gross: float, equity: float, annual: float) -> float:
    """One day's interest at the risk-free rate, in cash paid (negative: earned), on positions held over it.

    ``annual / 252 * (gross - equity)``: the equity not committed to positions (equity minus gross exposure, a
    short committing its value as a long does) earns the rate; the gross exposure above the equity is borrowed
    and pays it (the ``financing`` spread on top is a cost, :meth:`backtests.costs.CostModel.holding_cost`).
    ``gross`` and ``equity`` are valued at the close the day starts from.

    >>> day_interest(gross=50.0, equity=100.0, annual=0.0504)  # 50 idle earns 0.05 % a day
    -0.01
    >>> day_interest(gross=300.0, equity=100.0, annual=0.0504)  # 200 borrowed pays it
    0.04
    """
    return annual / DAYS * (gross - equity)


def _check_rates(values: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{what}: {int(bad.sum())} rates are not numbers; give annual rates as decimals (0.04 for 4%)")
    if len(values) and float(np.abs(values).max()) > 1:
        worst = values[np.argmax(np.abs(values))]
        raise DataError(
            f"{what}: a rate of {worst:g} a year looks like a percent; give annual rates as decimals (0.04 for 4%)"
        )


def parse_rf(text: str | float) -> RiskFree:
    """``--rf``: a number (an annual rate, 0.04 for 4%) or the path of a CSV of dates and annual rates.

    The CSV has a date column (ISO dates, 2024-01-31; named ``date``, or the first column) and one column of
    annual rates as decimals (a T-bill series, say: 0.0525 for 5.25%).
    """
    if isinstance(text, float | int):
        return RiskFree(float(text))
    try:
        return RiskFree(float(text))
    except ValueError:
        pass
    path = Path(text)
    if not path.is_file():
        raise ConfigError(
            f"--rf {text}: neither a number nor a file; give an annual rate (0.04 for 4%) or a CSV of date and rate"
        )
    frame = read_dated_column(path, what="--rf")
    return RiskFree(frame, name=f"{path.name} ({frame.name})")


def read_dated_column(path: str | os.PathLike[str], *, what: str) -> pd.Series:
    """A CSV of a date column and one numeric column, as a float Series indexed by date, sorted.

    The date column is the one named ``date`` (any case), else the first; exactly one other column is read.
    DataError for a file that cannot be read, unreadable or repeated dates, or a value that is not a number
    (an empty cell is NaN, left for the caller to judge).
    """
    p = Path(path)
    try:
        frame = pd.read_csv(p)
    except Exception as exc:  # any reader failure is one user-facing message
        raise DataError(f"{what} {p}: cannot read it as CSV ({type(exc).__name__})") from None
    names = [str(c).strip() for c in frame.columns]
    frame.columns = names
    date_col = next((c for c in names if c.lower() == "date"), names[0] if names else None)
    values = [c for c in names if c != date_col]
    if date_col is None or len(values) != 1:
        raise DataError(
            f"{what} {p}: {len(names)} columns ({', '.join(names[:4])}); give two: a date and one column of numbers"
        )
    dates = pd.to_datetime(frame[date_col], errors="coerce", format="ISO8601")
    if dates.isna().any():
        bad = frame[date_col][dates.isna()].iloc[0]
        raise DataError(f"{what} {p}: date {bad!r} cannot be read; use ISO dates (2024-01-31)")
    if dates.dt.tz is not None:
        dates = dates.dt.tz_localize(None)
    raw = frame[values[0]]
    numbers = pd.to_numeric(raw, errors="coerce")
    text = raw.notna() & numbers.isna()
    if text.any():
        k = int(np.flatnonzero(text.to_numpy())[0])
        raise DataError(
            f"{what} {p}: {raw.iloc[k]!r} on {dates.iloc[k]:%Y-%m-%d} is not a number ({int(text.sum())} such "
            f"values in column {values[0]})"
        )
    series = pd.Series(numbers.to_numpy(dtype=float), index=pd.DatetimeIndex(dates), name=values[0])
    if series.index.has_duplicates:
        raise DataError(
            f"{what} {p}: {series.index[series.index.duplicated()][0]:%Y-%m-%d} appears twice; keep one row a date"
        )
    return series.sort_index()
