"""What a backtest reads: forecasts in the forecaster's format, aligned with the prices they were made from.

Prices are the cleaned panel's, with one change: a value that cleaning interpolated borrows a later price, so
the backtest carries the last real price forward instead and marks the day untradable. Before a ticker's first
price its first price is used and the days are untradable too (no position can exist then).

Forecasts say which execution they were made for (their ``execution`` column, :mod:`forecasting.preparation.execution`):
each targets the return that execution holds. A backtest refuses forecasts made for another execution; a file
without the column is read as made for the execution chosen, with one warning.

A forecast is a predictive density of that return: normal, or Student-t with the variance forecast and the
degrees of freedom in the optional ``dof`` column (above 2; empty, NaN or inf for a normal forecast, and in files
written before the column existed). An ensemble's file adds its members, ``m1_mean``, ``m1_variance``,
``m1_dof``, ``m2_mean``, ...: the forecast is then their equal-weight mixture (whose mean and variance are
``mean`` and ``variance``), and the rules see that mixture's density.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError, DataError
from forecasting.market.cleaning import clean_panel
from forecasting.preparation.execution import DEFAULT_EXECUTION, execution_mode
from strategies.sizing import usable

__all__ = ["SPLITS", "BacktestData", "align", "load_forecasts"]

FORECAST_COLUMNS = ["date", "ticker", "mean", "variance", "target", "split"]
OPTIONAL_COLUMNS = ["dof"]
MEMBER = re.compile(r"^m(\d+)_(mean|variance|dof)$")
MARKER = "execution"
SPLITS = ("test", "val", "all")


@dataclass(frozen=True)
class BacktestData:
    """Prices and forecasts on one calendar, (n_dates, n_tickers) arrays.

    ``start`` is the index of the first forecast origin of the period and ``stop`` one past the last bar (the
    bar where the last origin's held return ends); bars before ``start`` are history for rules that need it.
    ``train_mean`` and ``train_variance`` hold the training split's forecasts (NaN where none), for rules that
    set a constant on the training period; ``spread`` the data's bid-ask spread column, when it has one, or once
    the costs have chosen (:func:`backtests.spreads.priced_spreads`, ``spread_source`` then names each ticker's
    source) the full spread each fill's half-spread is read from (None: ``--half-spread-bps``); ``dof`` the
    Student-t degrees of freedom of each forecast (NaN for a normal one), None when no forecast has them.
    """

    dates: pd.DatetimeIndex
    tickers: list[str]
    prices: dict[str, np.ndarray]
    tradable: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    target: np.ndarray
    start: int
    stop: int
    split: str
    execution: str = DEFAULT_EXECUTION
    unusable: int = 0  # forecasts in the period with a missing mean or a missing, zero or negative variance
    train_mean: np.ndarray | None = None
    train_variance: np.ndarray | None = None
    spread: np.ndarray | None = None
    dof: np.ndarray | None = None
    members: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # an ensemble's means, variances, dofs (K, ...)
    spread_source: tuple[str, ...] | None = None

    def ticker_frame(self, j: int, first: int) -> pd.DataFrame:
        """The feed frame of ticker ``j`` from bar ``first`` to ``stop``."""
        sl = slice(first, self.stop)
        frame = pd.DataFrame({c: v[sl, j] for c, v in self.prices.items()}, index=self.dates[sl])
        frame["mean"] = self.mean[sl, j]
        frame["variance"] = self.variance[sl, j]
        frame["tradable"] = self.tradable[sl, j].astype(float)
        return frame


def load_forecasts(path: str | os.PathLike[str], *, execution: str = DEFAULT_EXECUTION) -> pd.DataFrame:
    """Forecasts from ``forecasts.parquet``/``.csv`` or a run folder holding one; checked and sorted.

    The forecasts must be made for ``execution``: a file whose ``execution`` column names another is refused; a
    file without the column is taken as made for ``execution``, with a warning. The ``dof`` column (Student-t
    degrees of freedom) is optional: without it, or where it is empty, a forecast is normal.
    """
    mode = execution_mode(execution)
    p = Path(path)
    if p.is_dir():
        found = [p / n for n in ("forecasts.parquet", "forecasts.csv") if (p / n).is_file()]
        if not found:
            raise DataError(f"{p}: no forecasts.parquet or forecasts.csv inside; give a qtrade forecast --out folder")
        p = found[0]
    if not p.is_file():
        raise DataError(f"{p}: no such forecasts file; give the forecasts.csv written by qtrade forecast")
    try:
        frame = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
    except Exception as exc:  # any reader failure is one user-facing message
        raise DataError(f"{p}: cannot read forecasts ({type(exc).__name__}); give a CSV or Parquet file") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in FORECAST_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"{p}: forecasts lack column(s) {', '.join(missing)}; "
            f"expected {', '.join(FORECAST_COLUMNS)} as qtrade forecast writes them"
        )
    if MARKER in frame.columns:
        made = sorted({str(x) for x in frame[MARKER].dropna().unique()})
        if made and made != [mode.name]:
            raise ConfigError(
                f"{p}: forecasts made for --execution {', '.join(made)}, the backtest trades "
                f"{mode.name}; run qtrade forecast --execution {mode.name} or backtest with "
                f"--execution {made[0]}"
            )
    else:
        warnings.warn(
            f"{p} does not say which execution its forecasts were made for (no execution column); "
            f"read as forecasts of the return {mode.name} holds ({mode.describe()})",
            stacklevel=2,
        )
    members = _member_columns(frame, p)
    frame = frame[FORECAST_COLUMNS + [c for c in OPTIONAL_COLUMNS if c in frame.columns] + members].copy()
    for col in members:
        given = frame[col]
        frame[col] = pd.to_numeric(given, errors="coerce")
        bad = frame[col].isna() & given.notna() & (given.astype(str).str.strip() != "")
        if bad.any():
            raise DataError(f"{p}: {col} holds {str(given[bad].iloc[0])!r}, not a number; members are numbers")
    if "dof" not in frame.columns:
        frame["dof"] = np.nan
    dates = pd.to_datetime(frame["date"], errors="coerce", format="ISO8601")  # as qtrade writes them; no guessing
    if dates.isna().any():
        bad = frame.loc[dates.isna(), "date"].iloc[0]
        raise DataError(f"{p}: date {bad!r} cannot be read; use ISO dates (2013-01-31)")
    frame["date"] = dates.dt.tz_localize(None) if dates.dt.tz is not None else dates
    frame["ticker"] = frame["ticker"].astype(str)
    frame["split"] = frame["split"].astype(str)
    for col in ("mean", "variance", "target", "dof"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    bad_dof = frame["dof"].notna() & ~(frame["dof"] > 2)
    if bad_dof.any():
        row = frame[bad_dof].iloc[0]
        raise DataError(
            f"{p}: Student-t degrees of freedom {row['dof']:g} for {row['ticker']} on "
            f"{row['date']:%Y-%m-%d}; the dof column must exceed 2 (the variance must exist), or be "
            "empty for a normal forecast"
        )
    frame.loc[np.isinf(frame["dof"].to_numpy()), "dof"] = np.nan  # inf is the normal, as an empty cell
    dup = frame.duplicated(["date", "ticker"])
    if dup.any():
        row = frame[dup].iloc[0]
        raise DataError(
            f"{p}: two forecasts for {row['ticker']} on {row['date']:%Y-%m-%d}; keep one per ticker and day"
        )
    return frame.sort_values(["date", "ticker"], ignore_index=True)


def _member_columns(frame: pd.DataFrame, path: Path) -> list[str]:
    """An ensemble's member columns, m1_mean, m1_variance, m1_dof, ..., checked to be complete."""
    found = {MEMBER.match(c) for c in frame.columns} - {None}
    ks = sorted({int(m.group(1)) for m in found if m is not None})
    if not ks:
        return []
    missing = [
        f"m{k}_{part}"
        for k in range(1, max(ks) + 1)
        for part in ("mean", "variance")
        if f"m{k}_{part}" not in frame.columns
    ]
    if missing:
        raise DataError(
            f"{path}: ensemble member column(s) {', '.join(missing[:4])} missing; members need m<k>_mean and "
            "m<k>_variance for k = 1..K (m<k>_dof optional), as qtrade forecast --ensemble writes them"
        )
    return [
        f"m{k}_{part}"
        for k in range(1, max(ks) + 1)
        for part in ("mean", "variance", "dof")
        if f"m{k}_{part}" in frame.columns
    ]


def _members(period: pd.DataFrame, row: np.ndarray, col: np.ndarray, shape: tuple[int, int]) -> Any:
    """(means, variances, dofs), each (K, n_dates, n_tickers), of an ensemble's members; None without members."""
    k = sum(1 for c in period.columns if MEMBER.match(c) and c.endswith("_mean"))
    if not k:
        return None
    out = np.full((3, k, *shape), np.nan)
    for i in range(k):
        for a, part in enumerate(("mean", "variance", "dof")):
            name = f"m{i + 1}_{part}"
            if name in period.columns:
                out[a, i, row, col] = period[name].to_numpy(dtype=float)
    means, variances, dof = out
    dof[np.isinf(dof)] = np.nan
    if (dof <= 2).any():
        raise DataError("an ensemble member's Student-t degrees of freedom must exceed 2 (empty for a normal one)")
    if (variances <= 0).any():
        raise DataError("an ensemble member's variance is zero or negative; each member must be a density")
    _check_mixture(period, means, variances, row, col)
    return means, variances, dof


def _check_mixture(
    period: pd.DataFrame, means: np.ndarray, variances: np.ndarray, row: np.ndarray, col: np.ndarray
) -> None:
    """The members' equal mixture must have the file's ``mean`` and ``variance``: rules read both."""
    m, v = means[:, row, col], variances[:, row, col]
    ok = np.isfinite(m).all(axis=0) & np.isfinite(v).all(axis=0)
    mix_mean = m.mean(axis=0)
    mix_var = v.mean(axis=0) + ((m - mix_mean) ** 2).mean(axis=0)
    mean, var = period["mean"].to_numpy(dtype=float), period["variance"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        off = ok & (
            (np.abs(mix_mean - mean) > 1e-6 * np.sqrt(np.abs(var)) + 1e-12)
            | (np.abs(mix_var - var) > 1e-5 * np.abs(var))
        )
    if off.any():
        k = int(np.flatnonzero(off)[0])
        raise DataError(
            f"the ensemble members of {period['ticker'].iloc[k]} on {period['date'].iloc[k]:%Y-%m-%d} mix to mean "
            f"{mix_mean[k]:.6g} and variance {mix_var[k]:.6g}, not the file's {mean[k]:.6g} and {var[k]:.6g} "
            f"({int(off.sum())} rows differ); give the members qtrade forecast --ensemble wrote, or drop them"
        )


def align(
    panel: pd.DataFrame,
    forecasts: pd.DataFrame,
    *,
    split: str = "test",
    max_gap: int = 5,
    source: str = "data",
    execution: str = DEFAULT_EXECUTION,
    calendar: str = "auto",
) -> BacktestData:
    """Put forecasts on the price calendar and choose the period to trade: the dates whose split is ``split``.

    ``split="all"`` trades every forecast, including those made on the training period (in-sample). A ``dof``
    column, when there is one, gives each forecast's Student-t degrees of freedom (NaN: normal). The
    forecasts' targets must be the returns ``execution`` holds on these prices, on the trading days of
    ``calendar`` (as the forecasts were made; see :func:`forecasting.market.cleaning.clean_panel`).
    """
    mode = execution_mode(execution)
    if split not in SPLITS:
        raise ConfigError(f"--split {split!r} is not known; use one of {', '.join(SPLITS)}")
    clean = clean_panel(panel, max_gap=max_gap, calendar=calendar)
    tickers = [str(t) for t in clean.tickers]
    unknown = sorted(set(forecasts["ticker"]) - set(tickers))
    if unknown:
        raise DataError(
            f"forecasts for {', '.join(unknown[:5])} have no prices in {source}; "
            "pass --data with the data the forecasts were made from"
        )
    period = forecasts if split == "all" else forecasts[forecasts["split"] == split]
    if period.empty:
        have = ", ".join(sorted(forecasts["split"].unique()))
        raise DataError(f"no forecasts in the {split} split (the file has: {have}); choose --split among those")
    dates = clean.dates
    row = dates.get_indexer(pd.DatetimeIndex(period["date"]))
    if (row < 0).any():
        bad = period["date"].iloc[int(np.flatnonzero(row < 0)[0])]
        raise DataError(
            f"forecast date {bad:%Y-%m-%d} is not a trading day of {source}; "
            "pass --data with the data the forecasts were made from"
        )
    col = pd.Index(tickers).get_indexer(period["ticker"])
    shape = (len(dates), len(tickers))
    mean, var, target = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    mean[row, col] = period["mean"].to_numpy()
    var[row, col] = period["variance"].to_numpy()
    target[row, col] = period["target"].to_numpy()
    dof = None
    if "dof" in period.columns and period["dof"].notna().any():
        dof = np.full(shape, np.nan)
        given = pd.to_numeric(period["dof"], errors="coerce").to_numpy(dtype=float)
        dof[row, col] = np.where(np.isinf(given), np.nan, given)

    members = _members(period, row, col, shape)
    prices, tradable = _real_prices(clean.values, clean.filled)
    _check_targets(prices[mode.price], tradable, target, mode.lag, source, mode.describe(), dates, tickers)
    start, last = int(row.min()), int(row.max())
    stop = min(last + mode.lag + 2, len(dates))
    unusable = int((~usable(period["mean"], period["variance"])).sum())
    train = forecasts[forecasts["split"] == "train"]
    train_mean, train_var = np.full(shape, np.nan), np.full(shape, np.nan)
    at = dates.get_indexer(pd.DatetimeIndex(train["date"]))
    ok = at >= 0
    cols = pd.Index(tickers).get_indexer(train["ticker"])
    train_mean[at[ok], cols[ok]] = train["mean"].to_numpy()[ok]
    train_var[at[ok], cols[ok]] = train["variance"].to_numpy()[ok]
    spread = None
    if "spread" in panel.columns:
        wide = panel["spread"].unstack("ticker").reindex(index=dates, columns=tickers)
        spread = np.where(tradable, wide.to_numpy(dtype=float), np.nan)
    return BacktestData(
        dates,
        tickers,
        prices,
        tradable,
        mean,
        var,
        target,
        start,
        stop,
        split,
        mode.name,
        unusable,
        train_mean,
        train_var,
        spread,
        dof,
        members,
    )


def _real_prices(values: dict[str, np.ndarray], filled: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    close = values["close"]
    tradable = np.isfinite(close) & ~filled
    out = {}
    for c in ("open", "high", "low", "close", "volume"):
        v = np.where(tradable, values[c], np.nan)
        frame = pd.DataFrame(v).ffill().bfill()
        out[c] = frame.to_numpy()
    out["volume"] = np.where(tradable, out["volume"], 0.0)
    for c in ("open", "high", "low"):  # a carried day is a flat bar at the carried close
        out[c] = np.where(tradable, out[c], out["close"])
    if not np.isfinite(out["close"]).all():
        raise DataError("a ticker has no price at all; drop it from the data")
    return out, tradable


def held_returns(price: np.ndarray, tradable: np.ndarray, lag: int) -> np.ndarray:
    """(n_dates, n_tickers) log return held by a forecast of each origin: price[t+lag+1] / price[t+lag].

    NaN where either price is not real or lies past the data.

    Examples
    --------
    >>> p = np.array([[100.0], [110.0], [99.0], [99.0]])
    >>> np.round(held_returns(p, np.ones((4, 1), bool), lag=1)[:, 0], 4).tolist()
    [-0.1054, 0.0, nan, nan]
    """
    out = np.full(price.shape, np.nan)
    n = price.shape[0]
    if n > lag + 1:
        a, b = price[lag : n - 1], price[lag + 1 :]
        ok = tradable[lag : n - 1] & tradable[lag + 1 :]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[: n - lag - 1] = np.where(ok, np.log(b / a), np.nan)
    return out


TARGET_RTOL = 1e-5  # rounding: a float32 round trip is 6e-8 of the value, a CSV's six significant digits 5e-6
TARGET_ATOL = 1e-7


def _check_targets(
    price: np.ndarray,
    tradable: np.ndarray,
    target: np.ndarray,
    lag: int,
    source: str,
    held: str,
    dates: pd.DatetimeIndex,
    tickers: list[str],
) -> None:
    """Every forecast's target must be the return the execution holds on these prices, within rounding.

    A target where the prices hold no return (a price missing, carried or past the data) is as wrong as one
    that differs; the message counts them and names the first three.

    Examples
    --------
    >>> p = np.array([[100.0], [110.0], [99.0], [99.0]])
    >>> y = np.array([[np.log(99 / 110)], [0.0], [np.nan], [np.nan]])
    >>> _check_targets(p, np.ones((4, 1), bool), y.astype(np.float32), 1, "data", "held return",
    ...                pd.bdate_range("2020-01-01", periods=4), ["A"])  # float32 rounding passes
    >>> y[1, 0] = 0.001
    >>> _check_targets(p, np.ones((4, 1), bool), y, 1, "data", "held return", pd.bdate_range("2020-01-01", periods=4),
    ...                ["A"])
    Traceback (most recent call last):
    forecasting.errors.DataError: the forecasts' targets are not the held return in data: 1 of 2 differ by more than \
rounding (A 2020-01-02: 0.001 against 0 from the prices); pass --data with the data the forecasts were made from, \
or the --execution they were made for
    """
    realised = held_returns(price, tradable, lag)
    given = np.isfinite(target)
    close = np.isclose(target, realised, rtol=TARGET_RTOL, atol=TARGET_ATOL)
    bad = given & ~close
    if not bad.any():
        return
    named = []
    for row, col in np.argwhere(bad)[:3]:  # row-major: the first dates first
        truth = (
            f"{realised[row, col]:.4g} from the prices"
            if np.isfinite(realised[row, col])
            else "the prices hold no return there"
        )
        named.append(f"{tickers[col]} {dates[row]:%Y-%m-%d}: {target[row, col]:.4g} against {truth}")
    raise DataError(
        f"the forecasts' targets are not the {held} in {source}: {int(bad.sum())} of {int(given.sum())} "
        f"differ by more than rounding ({'; '.join(named)}); pass --data with the data the forecasts "
        "were made from, or the --execution they were made for"
    )
