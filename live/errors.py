"""Why ``qtrade signal`` refuses to trade on the data it is given; each is a :class:`~forecasting.errors.DataError`,
so that the command line prints it as one line and exits with 1."""

from __future__ import annotations

from forecasting.errors import DataError

__all__ = ["RestatedHistory", "StaleData"]


class StaleData(DataError):
    """The data does not end at the exchange's latest completed session."""


class RestatedHistory(DataError):
    """Rows of the data that the backtest run also read differ from what it read (a split left unadjusted, a
    corrected print, a ticker missing)."""
