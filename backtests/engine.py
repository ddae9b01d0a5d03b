"""Run one strategy on aligned prices and forecasts in a single backtrader Cerebro, all tickers sharing cash.

Execution: orders sent at the close of t fill at that close (market-on-close, ``set_coc(True)``), moved against
the trader by the slippage, and pay the commission, both in basis points of the traded value. Positions are
fractional, so an index-level price still gets the weight asked for. The benchmark is an equal-weight
buy-and-hold of the same tickers from the same first close, without costs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from backtests.broker import LeanBroker
from backtests.inputs import BacktestData
from forecasting.errors import ConfigError
from strategies.backtrader_compat import bt
from strategies.feeds import forecast_feed
from strategies.registry import StrategySpec
from strategies.target_weights import Columns, TargetWeights

__all__ = ["BacktestResult", "Execution", "run_backtest"]


@dataclass(frozen=True)
class Execution:
    """Costs and trading rules; ``qtrade backtest`` options map onto these fields."""

    cash: float = 1_000_000.0
    commission_bps: float = 1.0
    slippage_bps: float = 1.0
    short: bool = True
    band: float = 0.0

    def __post_init__(self) -> None:
        if not self.cash > 0:
            raise ConfigError(f"--cash {self.cash} must be positive")
        if self.commission_bps < 0 or self.slippage_bps < 0:
            raise ConfigError("--commission-bps and --slippage-bps must be 0 or more")
        if not 0 <= self.band < 1:
            raise ConfigError(f"--band {self.band} must be in [0, 1): a share of equity")

    @property
    def cost_bps(self) -> float:
        return self.commission_bps + self.slippage_bps


@dataclass
class BacktestResult:
    """Daily returns (net and gross of costs), the benchmark, holdings and fills of one run.

    ``returns`` etc. are indexed by the date on which the return is earned (the close of t+1 for a position
    set at the close of t); ``holdings`` by the date the weights were set.
    """

    strategy: str
    params: dict[str, Any]
    execution: Execution
    returns: pd.Series
    gross_returns: pd.Series
    costs: pd.Series
    benchmark: pd.Series
    holdings: pd.DataFrame
    fills: pd.DataFrame
    unusable_forecasts: int
    data: BacktestData = field(repr=False)

    @property
    def equity(self) -> pd.Series:
        """Account value at each close of the period, from the first (the starting cash)."""
        growth = np.concatenate([[1.0], np.cumprod(1.0 + self.returns.to_numpy())])
        return pd.Series(growth * self.execution.cash, index=self.holdings.index[:1].append(self.returns.index))

    @property
    def turnover(self) -> pd.Series:
        """One-way value traded at each close, as a share of the equity at that close."""
        return _per_close(self.fills, "value", self.equity)


class _Costs(bt.CommInfoBase):  # type: ignore[misc]
    """Stock-like commission in percent of traded value.

    ``leverage`` only sets how much cash backtrader sets aside for a long position (value / leverage); the
    account's value stays exact. It is set above the strategy's most gross exposure so that commission never
    makes a rebalance fail for want of cash.
    """

    params = (("stocklike", True), ("commtype", bt.CommInfoBase.COMM_PERC), ("percabs", True))


def run_backtest(data: BacktestData, spec: StrategySpec, params: dict[str, Any], execution: Execution) -> BacktestResult:
    """Run ``spec`` on ``data``; see the module docstring for how orders fill."""
    warmup = min(spec.warmup_bars(params), data.start)
    first = data.start - warmup
    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=False)
    cerebro.broker = LeanBroker()
    cerebro.broker.setcash(execution.cash)
    cerebro.broker.set_coc(True)
    cerebro.broker.set_shortcash(True)
    cerebro.broker.set_checksubmit(False)  # cash is checked when the order fills; the pre-check doubled the work
    if execution.slippage_bps:
        cerebro.broker.set_slippage_perc(execution.slippage_bps / 1e4, slip_open=True, slip_limit=True,
                                         slip_match=True, slip_out=True)
    leverage = 4.0 * max(1.0, spec.max_gross(params))
    cerebro.broker.addcommissioninfo(_Costs(commission=execution.commission_bps / 1e4, leverage=leverage))
    for j, ticker in enumerate(data.tickers):
        cerebro.adddata(forecast_feed(data.ticker_frame(j, first), ticker), name=ticker)
    cerebro.addstrategy(TargetWeights, spec=spec, rule_params=params, columns=_columns(data, first), warmup=warmup,
                        band=execution.band, short=execution.short)
    cerebro.addanalyzer(bt.analyzers.TimeReturn, _name="daily", timeframe=bt.TimeFrame.Days)
    strat = cerebro.run(maxcpus=1, runonce=False, preload=True)[0]

    daily = pd.Series(strat.analyzers.daily.get_analysis(), dtype=float)
    daily.index = pd.DatetimeIndex(daily.index)
    trade_dates = data.dates[data.start : data.stop]
    returns = daily.reindex(trade_dates[1:]).fillna(0.0)
    returns.name = "strategy"
    holdings = pd.DataFrame(np.vstack(strat.holdings), index=pd.DatetimeIndex(strat.dates), columns=data.tickers)
    fills = pd.DataFrame(strat.fills, columns=["date", "ticker", "side", "size", "price", "close", "value",
                                               "commission", "slippage"])
    fills["date"] = pd.to_datetime(fills["date"])
    costs = _daily_costs(fills, returns, trade_dates[0], execution.cash)
    gross = (returns + costs).rename("strategy_gross")
    if data.unusable and spec.uses_forecast:
        warnings.warn(f"{data.unusable} forecasts had a missing, zero or negative variance (or a missing mean); "
                      "those tickers did not trade on those days", stacklevel=2)
    if fills.empty:
        warnings.warn(f"{spec.name} made no trade in the period (for longshort: it needs 2 or more tickers)",
                      stacklevel=2)
    rejected = int((fills["side"] == "rejected").sum())
    if rejected:
        warnings.warn(f"{rejected} orders were rejected by the broker for want of cash", stacklevel=2)
    return BacktestResult(spec.name, params, execution, returns, gross, costs, benchmark(data), holdings,
                          fills, data.unusable, data)


def _columns(data: BacktestData, first: int) -> Columns:
    """The strategy's arrays from bar ``first`` on, read-only so that no rule can change the data."""
    sl = slice(first, data.stop)
    arrays = [np.array(a[sl], dtype=t) for a, t in ((data.prices["close"], float), (data.mean, float),
                                                     (data.variance, float), (data.tradable, bool))]
    for a in arrays:
        a.setflags(write=False)
    return Columns(data.dates[sl], *arrays)


def _per_close(fills: pd.DataFrame, column: str, equity: pd.Series) -> pd.Series:
    done = fills[fills["side"] != "rejected"]
    total = done.groupby("date")[column].sum() if len(done) else pd.Series(dtype=float)
    total.index = pd.DatetimeIndex(total.index)
    return total.reindex(equity.index, fill_value=0.0) / equity


def _daily_costs(fills: pd.DataFrame, returns: pd.Series, start: pd.Timestamp, cash: float) -> pd.Series:
    """Commission and slippage paid at the close of t, as a share of equity then; it lands in t+1's return."""
    growth = np.concatenate([[1.0], np.cumprod(1.0 + returns.to_numpy())])
    equity = pd.Series(growth * cash, index=pd.DatetimeIndex([start]).append(returns.index))
    paid = fills.assign(cost=fills["commission"] + fills["slippage"])
    share = _per_close(paid, "cost", equity)
    return pd.Series(share.to_numpy()[:-1], index=returns.index, name="costs")


def benchmark(data: BacktestData) -> pd.Series:
    """Equal-weight buy-and-hold of the tickers tradable at the first close of the period, no costs."""
    close = data.prices["close"][data.start : data.stop]
    held = data.tradable[data.start]
    if not held.any():
        held = np.ones(close.shape[1], dtype=bool)
    value = (close[:, held] / close[0, held]).mean(axis=1)
    out = pd.Series(value[1:] / value[:-1] - 1.0, index=data.dates[data.start + 1 : data.stop], name="benchmark")
    return out
