"""What ``qtrade data`` reports about a data set."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.errors import DataError
from forecasting.market.cleaning import CleanPanel

__all__ = [
    "SPLIT_RATIOS",
    "UNIT_RATIO",
    "DataSummary",
    "check_window",
    "data_warnings",
    "estimated_half_spreads",
    "summarize",
    "suspect_splits",
    "suspect_units",
    "zero_volume",
]

SPLIT_RATIOS = (2, 3, 4, 5, 10)
"""Split ratios a one-day close-to-close move is compared with, and their inverses (reverse splits)."""
UNIT_RATIO = 50.0
"""A close this many times the previous one (or 1/50 of it) is flagged as a change of units (cents for dollars:
100x). Far above any split of :data:`SPLIT_RATIOS` and any real day's move of a listed stock."""


@dataclass(frozen=True)
class DataSummary:
    """Tickers, dates, rows and repairs of a cleaned panel; ``per_ticker`` has one row per ticker.

    Rows, days and values are three counts: ``rows`` are the rows of the input (one per date and ticker, as
    the files hold them); ``ticker_days`` are the trading days from each ticker's first to its last price,
    summed over tickers (the rows the cleaned panel has, some of them ``filled_rows`` by interpolation); and
    ``repaired`` and ``unbridged`` count values, five (open, high, low, close, volume) to a row. ``per_ticker``
    has columns ``first``, ``last``, ``rows``, ``days``, ``filled`` (days), ``missing_close`` (days whose
    close is still missing), ``half_spread_bps`` and ``spread_method`` (:func:`estimated_half_spreads`).
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
    suspect_units: pd.DataFrame = field(default_factory=lambda: _units_frame([]))
    zero_volume: tuple[str, ...] = ()

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
            "suspected_unit_changes": len(self.suspect_units),
            "tickers_without_volume": list(self.zero_volume),
        }


def estimated_half_spreads(clean: CleanPanel) -> pd.DataFrame:
    """Each ticker's half-spread estimated from its prices (:mod:`forecasting.market.spreads`), the median of its
    last year's estimates in bp (NaN where too short), and the estimator (``edge`` or, closes only, ``roll``)."""
    from forecasting.market.spreads import estimate_spreads, recent_half_spreads

    v = clean.values
    real = np.isfinite(v["close"]) & ~clean.filled
    est = estimate_spreads(v["open"], v["high"], v["low"], v["close"], real)
    return pd.DataFrame(
        {"half_spread_bps": recent_half_spreads(est) * 1e4, "spread_method": list(est.methods)},
        index=pd.Index([str(t) for t in clean.tickers]),
    )


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
    per[["half_spread_bps", "spread_method"]] = estimated_half_spreads(clean).reindex(per.index)
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
        suspect_units=suspect_units(clean),
        zero_volume=zero_volume(clean),
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
            found += [
                (str(clean.tickers[j]), clean.dates[i + 1], float(np.exp(r[i, j])), name)
                for i, j in zip(rows, cols, strict=True)
            ]
    return _suspect_frame(found)


def _suspect_frame(rows: list[tuple[str, pd.Timestamp, float, str]]) -> pd.DataFrame:
    """The rows of :func:`suspect_splits` as its frame, sorted."""
    frame = pd.DataFrame(rows, columns=["ticker", "date", "ratio", "split"])
    return frame.sort_values(["date", "ticker"], ignore_index=True)


def suspect_units(clean: CleanPanel, *, ratio: float = UNIT_RATIO) -> pd.DataFrame:
    """Closes at least ``ratio`` times (or at most ``1 / ratio`` of) the ticker's previous real close.

    Such a move is a change of units within the file (prices in cents for dollars, 100x) rather than a trading
    day. Each real close is compared with the last real close before it, across any missing or interpolated
    days, so a change next to a gap is still seen; :func:`suspect_splits` looks for ratios up to 10.

    Returns
    -------
    pandas.DataFrame
        Columns ``ticker``, ``date`` (the day of the jump), ``previous`` and ``close`` (the two closes) and
        ``ratio`` (their quotient), sorted by date then ticker.

    Examples
    --------
    >>> from forecasting.market.cleaning import clean_panel
    >>> from forecasting.market.synthetic import synthetic_panel
    >>> p = synthetic_panel(2, 30, seed=1)
    >>> cents = (p.index.get_level_values("ticker") == "T0001") & (p.index.get_level_values("date") >= "2017-01-20")
    >>> p.loc[cents, ["open", "high", "low", "close"]] *= 100
    >>> found = suspect_units(clean_panel(p))
    >>> found["ticker"].tolist(), f"{found['date'].iloc[0]:%Y-%m-%d}", bool(90 < found["ratio"].iloc[0] < 110)
    (['T0001'], '2017-01-20', True)
    """
    close = clean.values["close"]
    real = np.isfinite(close) & ~clean.filled
    previous = pd.DataFrame(np.where(real, close, np.nan)).ffill().shift(1).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        moves = close / previous
    jump = real & np.isfinite(moves) & ((moves >= ratio) | (moves <= 1.0 / ratio))
    rows, cols = np.nonzero(jump)
    return _units_frame(
        [
            (str(clean.tickers[j]), clean.dates[i], float(previous[i, j]), float(close[i, j]), float(moves[i, j]))
            for i, j in zip(rows, cols, strict=True)
        ]
    )


def _units_frame(rows: list[tuple[str, pd.Timestamp, float, float, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["ticker", "date", "previous", "close", "ratio"])
    return frame.sort_values(["date", "ticker"], ignore_index=True)


def zero_volume(clean: CleanPanel) -> tuple[str, ...]:
    """The tickers whose volume is 0 or blank on every day: index and FX files often carry no volume.

    A backtest cannot cap its orders at a share of a volume that is not there; it treats such a ticker's volume
    as unknown (no participation cap, no market impact).

    Examples
    --------
    >>> from forecasting.market.cleaning import clean_panel
    >>> from forecasting.market.synthetic import synthetic_panel
    >>> p = synthetic_panel(2, 10)
    >>> p.loc[p.index.get_level_values("ticker") == "T0000", "volume"] = 0.0
    >>> zero_volume(clean_panel(p))
    ('T0000',)
    """
    volume = clean.values["volume"]
    traded = (np.nan_to_num(volume, nan=0.0) > 0).any(axis=0)
    return tuple(str(t) for t, has in zip(clean.tickers, traded, strict=True) if not has)


def data_warnings(summary: DataSummary, *, shown: int = 10) -> list[str]:
    """The warnings ``qtrade data`` prints about units and volume, one line each, without the ``warning:``.

    Changes of units (at most ``shown`` listed, then their count) and the tickers without volume.
    """
    lines = []
    units = summary.suspect_units
    for row in units.head(shown).itertuples():
        lines.append(
            f"{row.ticker} on {row.date:%Y-%m-%d}: close x{row.ratio:.4g} in one day ({row.previous:.6g} "
            f"to {row.close:.6g}), as prices in cents for dollars (or the reverse) would move it; check the "
            "units of the file around that day"
        )
    if len(units):
        listed = f" (the first {shown} listed)" if len(units) > shown else ""
        lines.append(f"{len(units)} suspected change(s) of units{listed}")
    if summary.zero_volume:
        names = ", ".join(summary.zero_volume[:shown])
        more = f" and {len(summary.zero_volume) - shown} more" if len(summary.zero_volume) > shown else ""
        lines.append(
            f"volume is 0 or blank on every day for {names}{more} (as in index and FX files); the backtest "
            "treats their volume as unknown: no participation cap and no market impact for them"
        )
    return lines


def check_window(clean: CleanPanel, window: int, source: str) -> None:
    """Every ticker needs more days with a close (real or interpolated) than ``window`` to give one sample."""
    rows = np.isfinite(clean.values["close"]).sum(axis=0)
    short = [(str(t), int(r)) for t, r in zip(clean.tickers, rows, strict=True) if r <= window]
    if short:
        listed = ", ".join(f"{t} ({r} days with a close)" for t, r in short[:5])
        more = f" and {len(short) - 5} more" if len(short) > 5 else ""
        raise DataError(
            f"{source}: ticker(s) {listed}{more} have too few rows for window {window}; "
            f"drop them with --tickers or use a --window below {min(r for _, r in short)}"
        )
