"""What ``qtrade data`` reports about a data set."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.errors import DataError
from forecasting.market.cleaning import CleanPanel

__all__ = ["SPLIT_RATIOS", "DataSummary", "check_window", "summarize", "suspect_splits"]

SPLIT_RATIOS = (2, 3, 4, 5, 10)
"""Split ratios a one-day close-to-close move is compared with, and their inverses (reverse splits)."""


@dataclass(frozen=True)
class DataSummary:
    """Tickers, dates, rows and repairs of a cleaned panel; ``per_ticker`` has one row per ticker.

    Rows, days and values are three counts: ``rows`` are the rows of the input (one per date and ticker, as
    the files hold them); ``ticker_days`` are the trading days from each ticker's first to its last price,
    summed over tickers (the rows the cleaned panel has, some of them ``filled_rows`` by interpolation); and
    ``repaired`` and ``unbridged`` count values, five (open, high, low, close, volume) to a row. ``per_ticker``
    has columns ``first``, ``last``, ``rows``, ``days``, ``filled`` (days) and ``missing_close`` (days whose
    close is still missing).
    """

    source: str
    n_tickers: int
    first_date: pd.Timestamp
    last_date: pd.Timestamp
    n_dates: int
    rows: int
    ticker_days: int
    filled_rows: int
    repaired: int
    unbridged: int
    closed_dates: int
    per_ticker: pd.DataFrame
    suspect_splits: pd.DataFrame = field(default_factory=lambda: _suspect_frame([]))
    calendar: str | None = None
    missing_sessions: pd.DatetimeIndex = field(default_factory=lambda: pd.DatetimeIndex([]))
    off_calendar_rows: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "calendar": self.calendar or "none",
            "tickers": self.n_tickers,
            "first_date": f"{self.first_date:%Y-%m-%d}",
            "last_date": f"{self.last_date:%Y-%m-%d}",
            "dates": self.n_dates,
            "rows": self.rows,
            "ticker_days": self.ticker_days,
            "filled_rows": self.filled_rows,
            "repaired_values": self.repaired,
            "unbridged_values": self.unbridged,
            "closed_dates": self.closed_dates,
            "missing_sessions": len(self.missing_sessions),
            "off_calendar_rows": self.off_calendar_rows,
            "suspected_unadjusted_splits": len(self.suspect_splits),
        }


def summarize(clean: CleanPanel, source: str) -> DataSummary:
    """Summarise a cleaned panel.

    Examples
    --------
    >>> from forecasting.market.cleaning import clean_panel
    >>> from forecasting.market.loaders import load_default
    >>> s = summarize(clean_panel(load_default()), "embedded")
    >>> s.n_tickers, s.rows
    (4, 11958)
    """
    frame = clean.to_frame()
    by = frame.groupby(level="ticker", sort=True)
    dates = frame.index.get_level_values("date")
    days = by.size()
    rows = days if clean.rows is None else pd.Series(clean.rows, index=clean.tickers).reindex(days.index)
    per = pd.DataFrame(
        {
            "first": by.apply(lambda g: g.index.get_level_values("date").min()),
            "last": by.apply(lambda g: g.index.get_level_values("date").max()),
            "rows": rows.astype(int),
            "days": days.astype(int),
            "filled": by["filled"].sum().astype(int),
            "missing_close": by["close"].apply(lambda s: int(s.isna().sum())),
        }
    )
    return DataSummary(
        source=source,
        n_tickers=len(per),
        first_date=dates.min(),
        last_date=dates.max(),
        n_dates=len(clean.dates),
        rows=int(len(frame) if clean.rows is None else clean.rows.sum()),
        ticker_days=len(frame),
        filled_rows=int(frame["filled"].sum()),
        repaired=clean.repaired,
        unbridged=clean.unbridged,
        closed_dates=len(clean.closed_dates),
        per_ticker=per,
        suspect_splits=suspect_splits(clean),
        calendar=clean.calendar,
        missing_sessions=clean.missing_sessions,
        off_calendar_rows=clean.off_calendar_rows,
    )


def suspect_splits(clean: CleanPanel, *, tolerance: float = 0.05) -> pd.DataFrame:
    """One-day close-to-close moves that look like a split the prices were not adjusted for.

    A move is suspect when its log return is within ``tolerance`` of ``-log(k)`` (a k-for-1 split: the price
    falls to 1/k) or ``+log(k)`` (a 1-for-k reverse split) for k in :data:`SPLIT_RATIOS`. Only consecutive
    trading days with real closes count: a move across an interpolated or missing day is not looked at.

    Returns
    -------
    pandas.DataFrame
        Columns ``ticker``, ``date`` (the day the price jumped to), ``ratio`` (close over the previous close)
        and ``split`` (``"2-for-1"``, ``"1-for-2"``, ...), sorted by date then ticker.

    Examples
    --------
    >>> from forecasting.market.cleaning import clean_panel
    >>> from forecasting.market.synthetic import synthetic_panel
    >>> p = synthetic_panel(2, 30, seed=1)
    >>> p.loc[p.index.get_level_values("date") >= "2017-01-20", ["open", "high", "low", "close"]] /= 2
    >>> found = suspect_splits(clean_panel(p))
    >>> found[["ticker", "split"]].values.tolist(), f"{found['date'].iloc[0]:%Y-%m-%d}"
    ([['T0000', '2-for-1'], ['T0001', '2-for-1']], '2017-01-20')
    """
    close = clean.values["close"]
    real = np.isfinite(close) & ~clean.filled
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.diff(np.log(close), axis=0)
    r[~(real[1:] & real[:-1])] = np.nan
    found = []
    for k in SPLIT_RATIOS:
        for sign, name in ((-1.0, f"{k}-for-1"), (1.0, f"1-for-{k}")):
            rows, cols = np.nonzero(np.abs(r - sign * np.log(k)) < tolerance)
            found += [(str(clean.tickers[j]), clean.dates[i + 1], float(np.exp(r[i, j])), name)
                      for i, j in zip(rows, cols)]
    return _suspect_frame(found)


def _suspect_frame(rows: list[tuple[str, pd.Timestamp, float, str]]) -> pd.DataFrame:
    """The rows of :func:`suspect_splits` as its frame, sorted."""
    frame = pd.DataFrame(rows, columns=["ticker", "date", "ratio", "split"])
    return frame.sort_values(["date", "ticker"], ignore_index=True)


def check_window(clean: CleanPanel, window: int, source: str) -> None:
    """Every ticker needs more days with a close (real or interpolated) than ``window`` to give one sample."""
    rows = np.isfinite(clean.values["close"]).sum(axis=0)
    short = [(str(t), int(r)) for t, r in zip(clean.tickers, rows) if r <= window]
    if short:
        listed = ", ".join(f"{t} ({r} days with a close)" for t, r in short[:5])
        more = f" and {len(short) - 5} more" if len(short) > 5 else ""
        raise DataError(
            f"{source}: ticker(s) {listed}{more} have too few rows for window {window}; "
            f"drop them with --tickers or use a --window below {min(r for _, r in short)}"
        )
