"""The book a signal starts from: shares of each ticker and cash.

``--holdings FILE`` is a CSV with the columns ``ticker`` and ``shares``, one row per position (negative: short)
and one row whose ticker is ``cash``, the cash in the account (negative: borrowed)::

    ticker,shares
    7203,1500
    6758,-200
    cash,1250000

Tickers the file leaves out hold nothing. Without ``--holdings`` the book is the one the backtest ended with:
its last weights (``holdings.csv``) on its last equity, in shares at the latest close.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError, DataError

__all__ = ["CASH", "Holdings", "read_holdings"]

CASH = "cash"


@dataclass(frozen=True)
class Holdings:
    """Shares by ticker (float; negative: short) and cash, in the account's currency."""

    shares: pd.Series
    cash: float

    @classmethod
    def from_weights(cls, weights: pd.Series, equity: float, close: pd.Series) -> Holdings:
        """The book holding ``weights`` (shares of ``equity``) at the prices ``close``, the rest in cash.

        Examples
        --------
        >>> h = Holdings.from_weights(pd.Series({"A": 0.5}), 1000.0, pd.Series({"A": 25.0}))
        >>> h.shares.to_dict(), h.cash
        ({'A': 20.0}, 500.0)
        """
        w = weights.reindex(close.index).fillna(0.0).astype(float)
        shares = w * equity / close.astype(float)
        return cls(shares, float(equity - float((w * equity).sum())))

    def weights(self, close: pd.Series) -> tuple[pd.Series, float]:
        """The weights held at the prices ``close`` (by ticker, 0 where nothing is held) and the equity.

        Examples
        --------
        >>> Holdings(pd.Series({"A": 20.0}), 500.0).weights(pd.Series({"A": 25.0, "B": 10.0}))[0].to_dict()
        {'A': 0.5, 'B': 0.0}
        """
        shares = self.shares.reindex(close.index).fillna(0.0).astype(float)
        value = shares * close.astype(float)
        equity = self.cash + float(value.sum())
        if not equity > 0:
            raise ConfigError(
                f"the holdings are worth {equity:,.2f} at the latest close (cash {self.cash:,.2f}); a signal needs "
                "a positive equity"
            )
        return value / equity, equity


def read_holdings(path: str | os.PathLike[str], tickers: list[str]) -> Holdings:
    """Read a holdings CSV (see the module docstring); every ticker must be one of ``tickers``."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such holdings file; give a CSV of ticker,shares with a cash row")
    try:
        frame = pd.read_csv(p, dtype={0: str})
    except Exception as exc:  # any reader failure is one user-facing message
        raise DataError(f"{p}: cannot read the holdings ({type(exc).__name__}); give a CSV of ticker,shares") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if not {"ticker", "shares"} <= set(frame.columns):
        raise DataError(f"{p}: the holdings need the columns ticker and shares (and a row whose ticker is cash)")
    names = frame["ticker"].astype(str).str.strip()
    amounts = pd.to_numeric(frame["shares"], errors="coerce")
    bad = ~np.isfinite(amounts.to_numpy(dtype=float))
    if bad.any():
        raise DataError(f"{p}: shares {frame['shares'][bad].iloc[0]!r} of {names[bad].iloc[0]} is not a number")
    is_cash = names.str.lower() == CASH
    if int(is_cash.sum()) != 1:
        raise DataError(f"{p}: give one row whose ticker is cash (the account's cash), not {int(is_cash.sum())}")
    held = pd.Series(amounts[~is_cash].to_numpy(dtype=float), index=names[~is_cash].to_numpy())
    if held.index.duplicated().any():
        raise DataError(f"{p}: ticker {held.index[held.index.duplicated()][0]} appears twice; give one row per ticker")
    unknown = sorted(set(held.index) - set(tickers))
    if unknown:
        raise DataError(
            f"{p}: {', '.join(unknown[:5])} not traded by the backtest run (it trades {', '.join(tickers[:5])}"
            f"{', ...' if len(tickers) > 5 else ''}); sell them apart from the signal, or leave them out"
        )
    return Holdings(held, float(amounts[is_cash].iloc[0]))
