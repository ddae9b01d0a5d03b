"""What ``qtrade data`` reports about a data set."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.cleaning import CleanPanel
from forecasting.errors import DataError

__all__ = ["DataSummary", "check_window", "summarize"]


@dataclass(frozen=True)
class DataSummary:
    """Tickers, dates, rows and repairs of a cleaned panel; ``per_ticker`` has one row per ticker."""

    source: str
    n_tickers: int
    first_date: pd.Timestamp
    last_date: pd.Timestamp
    n_dates: int
    rows: int
    repaired: int
    unbridged: int
    closed_dates: int
    per_ticker: pd.DataFrame

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "tickers": self.n_tickers,
            "first_date": f"{self.first_date:%Y-%m-%d}",
            "last_date": f"{self.last_date:%Y-%m-%d}",
            "dates": self.n_dates,
            "rows": self.rows,
            "repaired_values": self.repaired,
            "unbridged_values": self.unbridged,
            "closed_dates": self.closed_dates,
        }


def summarize(clean: CleanPanel, source: str) -> DataSummary:
    """Summarise a cleaned panel.

    Examples
    --------
    >>> from forecasting.cleaning import clean_panel
    >>> from forecasting.loaders import load_default
    >>> s = summarize(clean_panel(load_default()), "embedded")
    >>> s.n_tickers
    4
    """
    frame = clean.to_frame()
    by = frame.groupby(level="ticker", sort=True)
    dates = frame.index.get_level_values("date")
    per = pd.DataFrame(
        {
            "first": by.apply(lambda g: g.index.get_level_values("date").min()),
            "last": by.apply(lambda g: g.index.get_level_values("date").max()),
            "rows": by.size(),
            "repaired": by["filled"].sum().astype(int),
            "missing": by["close"].apply(lambda s: int(s.isna().sum())),
        }
    )
    return DataSummary(
        source=source,
        n_tickers=len(per),
        first_date=dates.min(),
        last_date=dates.max(),
        n_dates=len(clean.dates),
        rows=len(frame),
        repaired=clean.repaired,
        unbridged=clean.unbridged,
        closed_dates=len(clean.closed_dates),
        per_ticker=per,
    )


def check_window(clean: CleanPanel, window: int, source: str) -> None:
    """Every ticker needs more real rows than ``window`` to give one training sample."""
    rows = np.isfinite(clean.values["close"]).sum(axis=0)
    short = [(str(t), int(r)) for t, r in zip(clean.tickers, rows) if r <= window]
    if short:
        listed = ", ".join(f"{t} ({r} rows)" for t, r in short[:5])
        more = f" and {len(short) - 5} more" if len(short) > 5 else ""
        raise DataError(
            f"{source}: ticker(s) {listed}{more} have too few rows for window {window}; "
            f"drop them with --tickers or use a --window below {min(r for _, r in short)}"
        )
