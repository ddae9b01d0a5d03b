"""Which bid-ask spread each fill pays: the data's ``spread`` column where a ticker has one, else an estimate from
the ticker's own prices (``--spread auto``) or the flat ``--half-spread-bps`` (``--spread flat``); ``--spread
column`` insists on the column (:class:`~backtests.costs.CostModel` ``spread``).

The choice is made once, before a run: :func:`priced_spreads` puts the spread a fill reads into
``BacktestData.spread`` (a full spread as a share of the price, as the data's column is), so the engine and the
numpy replay read it as they read a column, with no cost path of their own.

An estimate (:func:`forecasting.market.spreads.estimate_spreads`: EDGE where highs and lows are real, Roll where
the file holds only closes) uses only real bars strictly before the fill bar: a close fill at t reads the
estimate through the last real bar before t; an open fill reads, as it does a column, the last real session
before its open, whose estimate runs through that session. The half-spread is then floored at
``half_spread_bps`` (no market is cheaper than the flat default, and an estimate of a few basis points is noise)
and capped at :data:`CAP_BPS`; where a ticker has no estimate yet (its first weeks) the fill pays the floor.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from backtests.costs import CostModel
from backtests.inputs import BacktestData
from forecasting.errors import ConfigError
from forecasting.market.spreads import estimate_spreads, last_before
from forecasting.preparation.execution import execution_mode

__all__ = ["CAP_BPS", "priced_spreads"]

CAP_BPS = 500.0
"""The largest estimated half-spread a fill pays, bp (a 10% spread): beyond it an estimate is a data error."""


def priced_spreads(data: BacktestData, costs: CostModel) -> BacktestData:
    """``data`` with ``spread`` set to what each fill pays under ``costs.spread`` and ``spread_source`` naming,
    per ticker, where it came from: ``column``, ``estimate:<method>`` or ``flat``. Data already priced is
    returned as it is.

    A data column always wins: every choice keeps it for the tickers that have one (a day it leaves blank pays
    ``half_spread_bps``, as ever). The others pay ``half_spread_bps`` under ``flat`` (qtrade's behaviour before
    estimates) and an estimate under ``auto``; ``column`` refuses data without one.
    """
    if data.spread_source is not None:
        return data
    n = len(data.tickers)
    column = data.spread
    has = np.zeros(n, dtype=bool) if column is None else np.isfinite(column).any(axis=0)
    if costs.spread == "flat":  # qtrade's behaviour before estimates: the column where a ticker has one
        return replace(data, spread_source=tuple("column" if h else "flat" for h in has))
    if costs.spread == "column":
        if not has.any():
            raise ConfigError(
                "--spread column: the data has no spread column (the bid-ask spread as a share of the price); "
                "add one, or use --spread auto to estimate it from the prices"
            )
        return replace(data, spread_source=tuple("column" if h else "flat" for h in has))
    if has.all():
        return replace(data, spread_source=("column",) * n)
    p = data.prices
    estimate = estimate_spreads(p["open"], p["high"], p["low"], p["close"], data.tradable)
    through = estimate.spread  # row t: the real bars up to and including t
    known = through if execution_mode(data.execution).price == "open" else last_before(through, data.tradable)
    half = np.clip(known / 2.0, costs.half_spread_bps / 1e4, CAP_BPS / 1e4)  # NaN (no estimate) stays NaN
    spread = np.where(data.tradable, 2.0 * half, np.nan)
    if column is not None:
        spread[:, has] = column[:, has]
    sources = tuple("column" if has[j] else f"estimate:{estimate.methods[j]}" for j in range(n))
    return replace(data, spread=spread, spread_source=sources)
