"""What trading costs: commission, half the bid-ask spread, square-root market impact, a cap on participation in
the bar's volume, the fee for borrowing shorted stock and the financing of leverage.

Every cost of a fill is a share of its traded value ``|size| * price``, paid in cash when the order fills:

- commission: ``commission_bps``;
- half-spread: half the data's ``spread`` column (a share of the price) where a ticker has one; else, by
  ``spread`` (:mod:`backtests.spreads`), ``half_spread_bps`` (``flat``) or the ticker's spread estimated from its
  own past prices, at least ``half_spread_bps`` (``auto``); ``column`` refuses data without the column;
- market impact (the square-root law, Almgren et al. 2005; Toth et al. 2011):
  ``impact * sigma * sqrt(value / adv)``, where ``sigma`` is the ticker's daily volatility (standard deviation
  of its last :data:`LOOKBACK` close-to-close log returns) and ``adv`` its average daily traded value
  (close x volume) over the same days, both ending the bar *before* the fill so that no fill's cost uses its own
  bar. ``impact`` is the constant Y of the law; empirical estimates lie between about 0.5 and 1.

An order fills for at most ``participation`` of the fill bar's volume; the rest is not traded that bar. Holding
costs accrue each trading day on the positions held at the previous close, valued at that close: ``borrow``
(annual rate) on the value of short positions and ``financing`` (annual rate, the spread over the risk-free rate)
on the gross exposure above the equity (leverage above 1), each divided by 252. The risk-free rate itself
(``--rf``, :mod:`backtests.risk_free`) is paid on that borrowed exposure and earned on the equity not committed to
positions, on the same days and values; it is a return of the money, not a cost, so it is in the net and gross
returns alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasting.errors import ConfigError

__all__ = ["LOOKBACK", "SPREAD_SOURCES", "CostModel", "MarketStats", "market_stats"]

LOOKBACK = 20
DAYS = 252
SPREAD_SOURCES = ("auto", "flat", "column")


@dataclass(frozen=True)
class CostModel:
    """Trading and holding costs; ``qtrade backtest`` options map onto these fields one to one.

    Examples
    --------
    >>> costs = CostModel(commission_bps=1.0, half_spread_bps=2.0, impact=0.5)
    >>> round(costs.fill_rate(value=1e6, sigma=0.02, adv=1e8) * 1e4, 4)  # bp: 1 + 2 + 0.5 * 200 * 0.1
    13.0
    """

    commission_bps: float = 1.0
    half_spread_bps: float = 2.0
    impact: float = 0.5
    participation: float = 0.1
    borrow: float = 0.005
    financing: float = 0.05
    spread: str = "flat"  # the command line's default is auto

    def __post_init__(self) -> None:
        if self.spread not in SPREAD_SOURCES:
            raise ConfigError(
                f"--spread {self.spread!r} is not known; use auto (the data's spread column, else an estimate "
                "from prices), flat (the column, else --half-spread-bps) or column"
            )
        named = {
            "--commission-bps": self.commission_bps,
            "--half-spread-bps": self.half_spread_bps,
            "--impact": self.impact,
            "--borrow": self.borrow,
            "--financing": self.financing,
        }
        for flag, value in named.items():
            if not (np.isfinite(value) and value >= 0):
                raise ConfigError(f"{flag} {value} must be 0 or more")
        if not (np.isfinite(self.participation) and 0 < self.participation <= 1):
            raise ConfigError(
                f"--participation {self.participation} must be in (0, 1]: the largest share of a "
                "bar's volume an order may take (1: no cap)"
            )

    def fill_rate(self, *, value: float, sigma: float, adv: float, half_spread: float | None = None) -> float:
        """Cost of a fill of traded value ``value`` as a share of it (commission + half-spread + impact).

        ``half_spread`` (a share of the price) replaces ``half_spread_bps`` when it is finite. Impact is 0 where
        ``sigma`` or ``adv`` is unknown (a ticker's first days).
        """
        hs = half_spread if half_spread is not None and np.isfinite(half_spread) else self.half_spread_bps / 1e4
        rate = self.commission_bps / 1e4 + hs
        if self.impact and value > 0 and np.isfinite(sigma) and np.isfinite(adv) and adv > 0:
            rate += self.impact * sigma * np.sqrt(value / adv)
        return float(rate)

    def holding_cost(self, *, short_value: float, gross: float, equity: float) -> float:
        """One day's borrow fee and financing spread, in cash, for positions held over it (the risk-free rate on
        top of the spread: :func:`backtests.risk_free.day_interest`).

        ``short_value`` is the (positive) value of the short positions, ``gross`` the sum of all positions'
        absolute values, ``equity`` the account's value, all at the close the day starts from.

        >>> CostModel(borrow=0.0252, financing=0.0504).holding_cost(short_value=100.0, gross=300.0, equity=200.0)
        0.03
        """
        return float(self.borrow / DAYS * short_value + self.financing / DAYS * max(gross - equity, 0.0))


@dataclass(frozen=True)
class MarketStats:
    """What the impact model reads at each bar, (n_dates, n_tickers) arrays known before that bar."""

    sigma: np.ndarray
    adv: np.ndarray
    half_spread: np.ndarray


def market_stats(
    close: np.ndarray, volume: np.ndarray, tradable: np.ndarray, spread: np.ndarray | None = None
) -> MarketStats:
    """Daily volatility and average daily traded value over the :data:`LOOKBACK` real bars before each bar.

    Row t uses bars before t only (a fill at bar t never sees its own bar). Bars that are not real prices
    (interpolated or carried) are left out. ``spread`` (a share of the price, the full bid-ask spread) gives the
    half-spread of each bar; NaN where the data has none.

    Examples
    --------
    >>> close = np.array([[100.0], [101.0], [100.0], [102.0]])
    >>> stats = market_stats(close, np.full((4, 1), 1000.0), np.ones((4, 1), bool))
    >>> bool(np.isnan(stats.sigma[:3, 0]).all()), round(float(stats.adv[3, 0]), 2)  # adv: bars 0-2
    (True, 100333.33)
    """
    import pandas as pd

    real = tradable & np.isfinite(close)
    with np.errstate(divide="ignore", invalid="ignore"):
        logret = np.log(close[1:] / close[:-1])
    r = np.full(close.shape, np.nan)
    r[1:] = np.where(real[1:] & real[:-1], logret, np.nan)
    traded = np.where(real, close * volume, np.nan)
    sigma = pd.DataFrame(r).rolling(LOOKBACK, min_periods=2).std().shift(1).to_numpy()
    adv = pd.DataFrame(traded).rolling(LOOKBACK, min_periods=1).mean().shift(1).to_numpy()
    half = np.full(close.shape, np.nan) if spread is None else np.asarray(spread, dtype=float) / 2.0
    return MarketStats(sigma, adv, half)
