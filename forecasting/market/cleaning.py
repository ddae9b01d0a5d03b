"""Cleaning: one trading calendar for every ticker and linear interpolation of short gaps, per ticker.

The trading days are the data's own (a day on which any ticker has a price) or, with ``calendar``, the
sessions of an exchange calendar (:mod:`forecasting.market.calendars`). An interpolated value borrows the next real
price, so it is only known once that price is. qtrade keeps a ``filled`` flag per (date, ticker);
:mod:`forecasting.preparation.features` never lets a filled day be a forecast origin or the end of a target, which is
enough to keep the borrowed price out of any forecast made before it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.market.calendars import AUTO, resolve_calendar, sessions
from forecasting.market.loaders import COLUMNS

__all__ = ["CleanPanel", "clean_panel"]


def _no_dates() -> pd.DatetimeIndex:
    return pd.DatetimeIndex([], name="date")


@dataclass(frozen=True)
class CleanPanel:
    """A cleaned panel in wide form: ``values[c]`` is a (dates x tickers) array for column ``c``.

    Attributes
    ----------
    dates, tickers
        The trading days and the tickers, sorted.
    values
        Column name -> float64 array (n_dates, n_tickers); NaN outside a ticker's life and in long gaps.
    filled
        (n_dates, n_tickers) bool: at least one value of that row was interpolated.
    repaired
        Number of values filled by interpolation.
    unbridged
        Number of values left missing inside a ticker's life because their gap was longer than ``max_gap``.
    closed_dates
        Dates of the data dropped because no ticker had a price there (a market-wide outage such as TSE's
        2020-10-01) and, with a calendar, that are not sessions either.
    calendar
        The exchange calendar of ``dates`` (``"XNYS"``), or ``None`` when they are the data's own days.
    rows
        int array (n_tickers,): the rows of each ticker in the input panel, whatever their dates and values.
    missing_sessions
        With a calendar: the sessions on which no ticker has a price (no row, or only empty ones); they are
        in ``dates``, and each ticker's values there are gaps like any other.
    off_calendar
        With a calendar: the dates with a price that are not sessions (holidays, weekends), left out.
    off_calendar_rows
        The rows with a price on ``off_calendar`` dates.
    """

    dates: pd.DatetimeIndex
    tickers: pd.Index
    values: dict[str, np.ndarray]
    filled: np.ndarray
    repaired: int
    unbridged: int
    closed_dates: pd.DatetimeIndex
    calendar: str | None = None
    rows: np.ndarray | None = None
    missing_sessions: pd.DatetimeIndex = field(default_factory=_no_dates)
    off_calendar: pd.DatetimeIndex = field(default_factory=_no_dates)
    off_calendar_rows: int = 0

    def to_frame(self) -> pd.DataFrame:
        """Back to the canonical long panel, with a boolean ``filled`` column; rows outside a life dropped."""
        idx = pd.MultiIndex.from_product([self.dates, self.tickers], names=["date", "ticker"])
        frame = pd.DataFrame({c: v.reshape(-1) for c, v in self.values.items()}, index=idx)
        frame["filled"] = self.filled.reshape(-1)
        return frame[_life(self.values).reshape(-1)]


def clean_panel(panel: pd.DataFrame, *, max_gap: int = 5, calendar: str | None = AUTO) -> CleanPanel:
    """Put every ticker on one trading calendar and interpolate gaps of at most ``max_gap`` days.

    A gap is a run of missing values in one column of one ticker, counted in trading days. Gaps longer than
    ``max_gap``, and values before a ticker's first or after its last price, are left missing.

    The trading days depend on ``calendar`` (``"auto"``, ``"none"`` or an exchange code, see
    :mod:`forecasting.market.calendars`):

    - none (``"none"``, or ``"auto"`` on data whose exchange is not known): the days on which at least one
      ticker has a price; a day on which none has is dropped (``closed_dates``).
    - a calendar: its sessions from the data's first to its last date. A session on which the data has no price
      (a row missing from every file, or from a single-ticker file) is kept: each ticker's values there are a
      gap like any other, filled or left missing by the rule above, and it is listed in ``missing_sessions``.
      A row dated on a day that is not a session (a holiday or weekend of that exchange) is left out with a
      warning and counted in ``off_calendar``. It is not kept, because a trading day the exchange did not have
      would lengthen the count of every gap and shorten a return's horizon across it; and the whole file is not
      refused for it, because vendors do print such rows (the last close repeated on a holiday). The warning
      names ``--calendar none``, which keeps them. Empty rows on such days lose nothing and join
      ``closed_dates`` silently (TSE's 2020-10-01, which XTKS marks closed).

    Examples
    --------
    >>> from forecasting.market.loaders import load_default
    >>> clean = clean_panel(load_default())
    >>> clean.values["close"].shape == (len(clean.dates), len(clean.tickers))
    True
    >>> from forecasting.market.synthetic import synthetic_panel
    >>> week = synthetic_panel(1, 5, start="2020-06-29")  # Mon 29 June to Fri 3 July 2020
    >>> nyse = clean_panel(week, calendar="XNYS")  # 3 July: Independence Day observed
    >>> len(nyse.dates), nyse.off_calendar_rows, f"{nyse.off_calendar[0]:%Y-%m-%d}"
    (4, 1, '2020-07-03')
    """
    if max_gap < 0:
        raise ValueError("max_gap must be >= 0")
    code = resolve_calendar(calendar, panel)
    wide = {c: panel[c].unstack("ticker") for c in COLUMNS}
    stamps = pd.DatetimeIndex(wide["close"].index, name="date")
    tickers = pd.Index(wide["close"].columns, name="ticker")
    has_value = np.zeros((len(stamps), len(tickers)), dtype=bool)
    for c in COLUMNS:
        has_value |= wide[c].reindex(columns=tickers).notna().to_numpy()
    priced = has_value.any(axis=1)
    missing_sessions = off_calendar = _no_dates()
    off_rows = 0
    if code is None:
        dates = stamps[priced]
        closed = stamps[~priced]
    else:
        dates = sessions(code, stamps.min(), stamps.max()).as_unit(stamps.unit)
        on = stamps.isin(dates)
        closed = stamps[~on & ~priced]
        off_calendar = stamps[~on & priced]
        off_rows = int(has_value[~on].sum())
        missing_sessions = dates[~dates.isin(stamps[priced])]
        if off_rows:
            shown = ", ".join(f"{d:%Y-%m-%d}" for d in off_calendar[:5]) + (" ..." if len(off_calendar) > 5 else "")
            warnings.warn(
                f"{off_rows} row(s) on {len(off_calendar)} day(s) that are not {code} sessions were left out "
                f"({shown}); check --calendar, or pass --calendar none to keep them",
                stacklevel=2,
            )
    rows = panel.groupby(level="ticker", sort=False).size().reindex(tickers, fill_value=0).to_numpy()

    raw = {c: wide[c].reindex(index=dates, columns=tickers).to_numpy(dtype="float64") for c in COLUMNS}
    life = _life(raw)
    values: dict[str, np.ndarray] = {}
    filled = np.zeros(life.shape, dtype=bool)
    repaired = unbridged = 0
    for c in COLUMNS:
        out, did_fill = _interpolate_short_gaps(raw[c], max_gap)
        out[~life] = np.nan
        did_fill &= life
        values[c] = out
        filled |= did_fill
        repaired += int(did_fill.sum())
        unbridged += int((np.isnan(out) & life).sum())
    return CleanPanel(
        pd.DatetimeIndex(dates, name="date"),
        tickers,
        values,
        filled,
        repaired,
        unbridged,
        pd.DatetimeIndex(closed, name="date"),
        calendar=code,
        rows=rows.astype(np.int64),
        missing_sessions=missing_sessions,
        off_calendar=off_calendar,
        off_calendar_rows=off_rows,
    )


def _life(raw: dict[str, np.ndarray]) -> np.ndarray:
    """True from a ticker's first to its last day with any price."""
    any_price = np.zeros(raw["close"].shape, dtype=bool)
    for c in COLUMNS[:4]:
        any_price |= ~np.isnan(raw[c])
    started = np.maximum.accumulate(any_price, axis=0)
    not_ended = np.maximum.accumulate(any_price[::-1], axis=0)[::-1]
    return started & not_ended


def _interpolate_short_gaps(a: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Column-wise linear interpolation of NaN runs of length <= max_gap that have a value on both sides."""
    n = a.shape[0]
    valid = ~np.isnan(a)
    pos = np.arange(n)[:, None]
    prev = np.maximum.accumulate(np.where(valid, pos, -1), axis=0)
    nxt = np.minimum.accumulate(np.where(valid, pos, n)[::-1], axis=0)[::-1]
    gap = nxt - prev - 1
    fill = ~valid & (prev >= 0) & (nxt < n) & (gap <= max_gap)
    out = a.copy()
    if fill.any():
        rows, cols = np.nonzero(fill)
        p, q = prev[rows, cols], nxt[rows, cols]
        w = (rows - p) / (q - p)
        out[rows, cols] = a[p, cols] + w * (a[q, cols] - a[p, cols])
    return out, fill
