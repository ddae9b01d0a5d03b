"""Run one strategy on aligned prices and forecasts in a single backtrader Cerebro, all tickers sharing cash.

Execution (:mod:`forecasting.preparation.execution`): ``next-close`` (default) fills a forecast made at the close
of t at the close of t+1, ``next-open`` at the open of t+1, ``same-close`` at the close of t itself (optimistic:
no real order can). Costs (:mod:`backtests.costs`): commission, half-spread and square-root impact on each fill,
a cap on the share of a bar's volume an order takes, borrow on shorts and financing of leverage; the risk-free
rate (:mod:`backtests.risk_free`) is earned on the equity not committed to positions and paid, under the financing
spread, on the exposure above it. Positions are
fractional, so an index-level price still gets the weight asked for. The benchmark is an equal-weight
buy-and-hold of the same tickers, without costs, bought when the strategy's first order fills and rebalanced to
equal weights whenever a ticker lists or delists (:func:`benchmark`); a delisting's return is a return of the
positions, in the net and gross returns and the benchmark alike.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from backtests.benchmark_sources import Benchmark
from backtests.broker import QtradeBroker, TickerCosts
from backtests.costs import CostModel, MarketStats, market_stats
from backtests.inputs import BacktestData
from backtests.risk_free import DAYS, RiskFree, day_rates
from backtests.spreads import priced_spreads
from forecasting.errors import ConfigError
from forecasting.preparation.execution import DEFAULT_EXECUTION, ExecutionMode, execution_mode
from strategies.backtrader_compat import bt
from strategies.feeds import forecast_feed
from strategies.registry import StrategySpec
from strategies.target_weights import Columns, TargetWeights

REBALANCE = {"daily": None, "weekly": "W", "monthly": "M"}
FILL_COLUMNS = [
    "date",
    "ticker",
    "side",
    "requested",
    "size",
    "price",
    "value",
    "commission",
    "spread",
    "impact",
    "delisting",
]
"""The columns of a fill (``trades.csv``'s; a paper ledger's too)."""

__all__ = [
    "FILL_COLUMNS",
    "REBALANCE",
    "BacktestResult",
    "Execution",
    "closing_decisions",
    "fill_inputs",
    "known_at_open",
    "listed",
    "rule_columns",
    "run_backtest",
    "volume_seen",
]


@dataclass(frozen=True)
class Execution:
    """How orders fill and what they cost; ``qtrade backtest`` options map onto these fields.

    ``delisting_return`` is the return booked on the position of a ticker whose data ends, when it is closed at
    its last real price (0: that price; -0.3: 30% below it, say for a forced delisting). ``rf`` is the annual
    risk-free rate (``--rf``) of financing and of every Sharpe ratio. ``rebalance`` (daily, weekly, monthly) is
    how often the rule decides; ``target_vol`` scales every decided book to that annual forecast volatility, its
    gross exposure at most ``max_gross``.
    """

    cash: float = 1_000_000.0
    mode: str = DEFAULT_EXECUTION
    costs: CostModel = field(default_factory=CostModel)
    short: bool = True
    band: float = 0.0
    delisting_return: float = 0.0
    rebalance: str = "daily"
    target_vol: float | None = None
    max_gross: float = 2.0
    rf: RiskFree = field(default_factory=RiskFree)

    def __post_init__(self) -> None:
        execution_mode(self.mode)
        if self.rebalance not in REBALANCE:
            raise ConfigError(f"--rebalance {self.rebalance!r} is not known; use {', '.join(REBALANCE)}")
        if self.target_vol is not None and not (np.isfinite(self.target_vol) and 0 < self.target_vol <= 5):
            raise ConfigError(f"--target-vol {self.target_vol} must be an annual volatility in (0, 5], e.g. 0.10")
        if not (np.isfinite(self.max_gross) and self.max_gross > 0):
            raise ConfigError(f"--max-gross {self.max_gross} must be positive (gross exposure over equity)")
        if not self.cash > 0:
            raise ConfigError(f"--cash {self.cash} must be positive")
        if not 0 <= self.band < 1:
            raise ConfigError(f"--band {self.band} must be in [0, 1): a share of equity")
        if not (np.isfinite(self.delisting_return) and self.delisting_return >= -1):
            raise ConfigError(f"--delisting-return {self.delisting_return} must be -1 or more (a simple return)")

    @property
    def execution_mode(self) -> ExecutionMode:
        return execution_mode(self.mode)


@dataclass
class BacktestResult:
    """Daily returns (net and gross of costs), the benchmark, decisions, holdings and fills of one run.

    ``returns`` etc. are indexed by the close at which the return is earned (the day's equity change).
    ``decisions`` (the rule's targets, NaN: keep), ``before`` (the weights held at that close, before its orders:
    what the rule saw) and ``holdings`` (the weights held once they filled) are indexed by the forecast origin
    they were decided at. ``risk_free`` is the risk-free rate of each return's
    day (annual / 252; all 0 without ``--rf``), which every Sharpe ratio is in excess of; ``interest_paid`` the
    cash paid at that rate on the exposure above the equity less the cash earned on the equity not committed.
    ``chosen_benchmark`` is the ``--benchmark`` in place of ``benchmark`` (None: the equal-weight one).
    """

    strategy: str
    params: dict[str, Any]
    execution: Execution
    returns: pd.Series
    gross_returns: pd.Series
    costs: pd.Series
    benchmark: pd.Series
    decisions: pd.DataFrame
    holdings: pd.DataFrame
    fills: pd.DataFrame
    equity: pd.Series
    unusable_forecasts: int
    data: BacktestData = field(repr=False)
    market: MarketStats = field(repr=False)
    first: int = 0
    holding_paid: float = 0.0  # cash paid in borrow fees and financing spread
    risk_free: pd.Series | None = None
    interest_paid: float = 0.0
    chosen_benchmark: Benchmark | None = None
    before: pd.DataFrame | None = None  # the weights held at each decision's close, before its orders (Bar.weights)

    @property
    def turnover(self) -> pd.Series:
        """One-way turnover of each day: half the value traded that day over the equity at the close before."""
        done = self.fills[self.fills["side"] != "rejected"]
        traded = done.groupby("date")["value"].sum() if len(done) else pd.Series(dtype=float)
        traded.index = pd.DatetimeIndex(traded.index)
        before = self.equity.shift(1).fillna(self.equity.iloc[0])
        return traded.reindex(self.equity.index, fill_value=0.0) / 2.0 / before


def closing_decisions(data: BacktestData, mode: ExecutionMode) -> np.ndarray:
    """(n_dates, n_tickers) True at the last origin of each delisted ticker whose fill is still a real price.

    A ticker is delisted when its last real price comes before the data's last date. An origin t holds the
    return from bar t+lag to t+lag+1, so the last origin with a held return is ``last - lag - 1``; the origin
    after it, ``last - lag``, fills at the last real price and closes the position.
    """
    real = data.tradable
    n = real.shape[0]
    out = np.zeros(real.shape, dtype=bool)
    for j in range(real.shape[1]):
        rows = np.flatnonzero(real[:, j])
        if len(rows) and rows[-1] < n - 1:
            out[max(rows[-1] - mode.lag, 0), j] = True
    return out


def run_backtest(
    data: BacktestData, spec: StrategySpec, params: dict[str, Any], execution: Execution
) -> BacktestResult:
    """Run ``spec`` on ``data``; see the module docstring for how orders fill and what they cost."""
    data = priced_spreads(data, execution.costs)  # the result's data holds the spread each fill read
    mode = execution.execution_mode
    none = np.full(data.mean.shape, np.nan)  # no training-period forecasts
    params = spec.calibrated(
        none if data.train_mean is None else data.train_mean,
        none if data.train_variance is None else data.train_variance,
        params,
    )
    warmup = min(spec.warmup_bars(params), data.start)
    first = data.start - warmup
    model = execution.costs
    rf = None if execution.rf.is_zero else day_rates(execution.rf.in_period(data.dates, data.start), data.start)
    volume, market = fill_inputs(data, mode, model)
    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=False)
    broker = cerebro.broker = QtradeBroker()
    broker.setcash(execution.cash)
    broker.set_shortcash(True)
    broker.set_checksubmit(False)  # cash is checked when the order fills; the pre-check doubled the work
    leverage = 4.0 * max(1.0, spec.max_gross(params), execution.max_gross if execution.target_vol else 1.0)
    feeds = []
    for j, ticker in enumerate(data.tickers):
        feed = forecast_feed(data.ticker_frame(j, first), ticker)
        cerebro.adddata(feed, name=ticker)
        broker.addcommissioninfo(TickerCosts(broker=broker, leverage=leverage), name=ticker)
        feeds.append(feed)
    broker.configure(
        costs=execution.costs,
        stats=market,
        close=data.prices["close"],
        volume=volume,
        tradable=data.tradable,
        feeds=feeds,
        first=first,
        close_fills=mode.price == "close",
        delisting_return=execution.delisting_return,
        rf=rf,
    )
    cerebro.addstrategy(
        TargetWeights,
        spec=spec,
        rule_params=params,
        columns=rule_columns(data, first, mode, execution.rebalance),
        mode=mode,
        warmup=warmup,
        band=execution.band,
        short=execution.short,
        target_vol=execution.target_vol,
        max_gross=execution.max_gross,
    )
    strat = cerebro.run(maxcpus=1, runonce=False, preload=True)[0]

    trade_dates = data.dates[data.start : data.stop]
    marked = np.asarray(strat.values, dtype=float)[data.start - first : data.stop - first]
    fill_paid = _by_date(broker.fill_paid, data, first, trade_dates)
    holding = _by_date(broker.charged, data, first, trade_dates)
    # backtrader books the cash of a close fill (its costs, and a delisting's return) when it processes the order,
    # at the next bar; the equity of a close is the one after its own fills (the first close's stay in the first
    # day's return)
    late = fill_paid + _by_date(broker.fill_booked, data, first, trade_dates)
    late[:1] = 0.0
    after = marked - late if mode.price == "close" else marked
    equity = pd.Series(after, index=trade_dates, name="equity")
    returns = (equity / equity.shift(1) - 1.0).iloc[1:].rename("strategy")
    paid = fill_paid + holding
    if mode.price == "close" and len(paid) > 1:  # the first close's fill costs land in the first day
        paid[1] += paid[0]
    costs = pd.Series(paid[1:] / equity.to_numpy()[:-1], index=returns.index, name="costs")
    gross = (returns + costs).rename("strategy_gross")
    origins = pd.DatetimeIndex(strat.dates)
    decisions = pd.DataFrame(
        np.vstack(strat.decisions) if strat.decisions else np.empty((0, len(data.tickers))),
        index=origins,
        columns=data.tickers,
    )
    before = pd.DataFrame(
        np.vstack(strat.before) if strat.before else np.empty((0, len(data.tickers))),
        index=origins,
        columns=data.tickers,
    )
    holdings = pd.DataFrame(
        np.vstack(strat.holdings) if strat.holdings else np.empty((0, len(data.tickers))),
        index=origins[: len(strat.holdings)],
        columns=data.tickers,
    )
    fills = pd.DataFrame(strat.fills, columns=FILL_COLUMNS)
    fills["date"] = pd.to_datetime(fills["date"])
    if data.unusable and spec.uses_forecast:
        warnings.warn(
            f"{data.unusable} forecasts had a missing, zero or negative variance (or a missing mean); "
            "those tickers did not trade on those days",
            stacklevel=2,
        )
    p = model.participation
    if fills.empty and broker.blocked:
        warnings.warn(
            f"{spec.name} made no trade in the period: the participation cap (--participation {p:g}) let "
            f"none of its {broker.blocked} orders fill, as the volume known at their fills was 0; give the "
            "data's volume, or --participation 1 to lift the cap",
            stacklevel=2,
        )
    elif fills.empty:
        warnings.warn(
            f"{spec.name} made no trade in the period (for longshort: it needs 2 or more tickers)", stacklevel=2
        )
    elif broker.blocked:
        warnings.warn(
            f"{broker.blocked} orders filled nothing: the volume known at their fill was 0, and an order "
            f"takes at most {p:g} of it (--participation)",
            stacklevel=2,
        )
    rejected = int((fills["side"] == "rejected").sum())
    if rejected:
        warnings.warn(f"{rejected} orders were rejected by the broker for want of cash", stacklevel=2)
    if broker.capped:
        warnings.warn(
            f"{broker.capped} orders filled only in part: at most {p:g} of a bar's volume trades (--participation)",
            stacklevel=2,
        )
    return BacktestResult(
        spec.name,
        params,
        execution,
        returns,
        gross,
        costs,
        benchmark(data, mode, delisting_return=execution.delisting_return),
        decisions,
        holdings,
        fills,
        equity,
        data.unusable,
        data,
        market,
        first,
        broker.holding_paid,
        pd.Series(
            np.zeros(len(returns)) if rf is None else rf[data.start + 1 : data.stop] / DAYS,
            index=returns.index,
            name="rf",
        ),
        broker.interest_paid,
        before=before,
    )


def fill_inputs(data: BacktestData, mode: ExecutionMode, costs: CostModel) -> tuple[np.ndarray, MarketStats]:
    """What a fill at each (row, ticker) knows: the volume it may take a share of (NaN: unknown, no cap) and the
    impact model's inputs with the half-spread.

    A close fill knows its own bar; an open fill only the sessions before it (a day's volume and spread are
    printed at its close). A ticker's volume is unknown until a real bar has printed a positive volume (index and
    FX files carry 0 on every day): until then no cap and no impact apply, with one warning. The rule looks only
    at bars up to the fill, so no later volume decides how a fill is treated.
    """
    raw, spread = data.prices["volume"], data.spread
    printed = volume_seen(raw, data.tradable)
    seen, volume = printed, raw
    if mode.price == "open":
        volume = known_at_open(raw, data.tradable)
        spread = None if spread is None else known_at_open(spread, data.tradable, unknown=np.nan)
        seen = np.vstack([np.zeros((1, printed.shape[1]), dtype=bool), printed[:-1]])
    blind = (~seen & data.tradable)[data.start : data.stop].sum(axis=0)
    if (blind > 1).any() and (costs.participation < 1.0 or costs.impact > 0):
        names = ", ".join(f"{t} ({d} days)" for t, d in zip(data.tickers, blind, strict=True) if d > 1)
        warnings.warn(
            f"no volume had been printed yet for {names} of the period (0 or missing: an index or FX file?): "
            "taken as unknown there, so neither the participation cap (--participation) nor market impact "
            "(--impact) applies to those fills",
            stacklevel=3,
        )
    market = market_stats(data.prices["close"], np.where(printed, raw, np.nan), data.tradable, spread)
    return np.where(seen, volume, np.nan), market


def volume_seen(volume: np.ndarray, tradable: np.ndarray) -> np.ndarray:
    """(n_dates, n_tickers) True once a real bar at or before the row has printed a positive volume: before that
    the ticker's volume is unknown (index and FX files carry 0), and a cap on a share of 0 would block every order.

    Examples
    --------
    >>> v = np.array([[0.0, 5.0, np.nan], [0.0, 0.0, np.nan], [3.0, 0.0, np.nan]])
    >>> volume_seen(v, np.ones((3, 3), bool)).tolist()
    [[False, True, False], [False, True, False], [True, True, False]]
    """
    return np.logical_or.accumulate(tradable & (np.nan_to_num(volume) > 0), axis=0)


def known_at_open(values: np.ndarray, tradable: np.ndarray, *, unknown: float = 0.0) -> np.ndarray:
    """(n_dates, n_tickers) value of the last real session before each row: what the open of that row knows.

    ``unknown`` where no real session comes before (for a volume, 0: nothing is known of the ticker's trading).

    Examples
    --------
    >>> v = np.array([[10.0], [20.0], [0.0], [40.0], [50.0]])
    >>> known_at_open(v, np.array([[True], [True], [False], [True], [True]]))[:, 0].tolist()  # row 2: carried
    [0.0, 10.0, 20.0, 20.0, 40.0]
    """
    rows = np.arange(len(values))[:, None]
    last = np.maximum.accumulate(np.where(tradable, rows, -1), axis=0)  # the last real row up to each row
    before = np.vstack([np.full((1, values.shape[1]), -1), last[:-1]])
    picked = np.take_along_axis(values, np.maximum(before, 0), axis=0)
    return np.where(before >= 0, picked, unknown)


def _by_date(cash: dict[int, float], data: BacktestData, first: int, dates: pd.DatetimeIndex) -> np.ndarray:
    """Cash keyed by feed bar, on ``dates``."""
    out = np.zeros(len(data.dates))
    if cash:
        np.add.at(out, first + np.fromiter(cash.keys(), dtype=np.int64), np.fromiter(cash.values(), dtype=float))
    start = data.dates.get_loc(dates[0])
    return out[start : start + len(dates)]


def listed(data: BacktestData, mode: ExecutionMode, closing: np.ndarray | None = None) -> np.ndarray:
    """(n_dates, n_tickers) True from a ticker's first real price until its delisting is decided (the origin that
    closes it, :func:`closing_decisions`, and every later one are out)."""
    real = data.tradable
    started = np.logical_or.accumulate(real, axis=0)
    closing = closing_decisions(data, mode) if closing is None else closing
    decided = np.logical_or.accumulate(closing, axis=0)
    return started & ~decided


def rule_columns(data: BacktestData, first: int, mode: ExecutionMode, rebalance: str = "daily") -> Columns:
    """The strategy's arrays from bar ``first`` on, read-only so that no rule can change the data (the backtest's
    and ``qtrade signal``'s: both decide on these)."""
    sl = slice(first, data.stop)
    close = data.prices["close"]
    seen_close = np.where(np.logical_or.accumulate(data.tradable, axis=0), close, np.nan)
    dates = data.dates[sl]
    freq = REBALANCE[rebalance]
    if freq is None:
        decide = np.ones(len(dates), dtype=bool)
    else:
        period = dates.to_period(freq).asi8
        decide = np.r_[True, period[1:] != period[:-1]]

    closing = closing_decisions(data, mode)

    def frozen(a: np.ndarray, dtype: type) -> np.ndarray:
        out: np.ndarray = np.array(a, dtype=dtype)
        out.setflags(write=False)
        return out

    members = None
    if data.members is not None:
        m, v, d = (frozen(a[:, sl], float) for a in data.members)
        members = (m, v, d)
    return Columns(
        dates,
        close=frozen(close[sl], float),
        mean=frozen(data.mean[sl], float),
        variance=frozen(data.variance[sl], float),
        tradable=frozen(data.tradable[sl], bool),
        closing=frozen(closing[sl], bool),
        listed=frozen(listed(data, mode, closing)[sl], bool),
        seen_close=frozen(seen_close[sl], float),
        full_close=frozen(close[: data.stop], float),  # from row 0: the correlation's window reaches before
        full_tradable=frozen(data.tradable[: data.stop], bool),
        rebalance=frozen(decide, bool),
        first=first,
        dof=None if data.dof is None else frozen(data.dof[sl], float),
        members=members,
    )


def benchmark(
    data: BacktestData, mode: ExecutionMode | str = DEFAULT_EXECUTION, *, delisting_return: float = 0.0
) -> pd.Series:
    """Equal-weight buy-and-hold of the listed tickers (:func:`listed`), no costs, rebalanced to equal weights only
    when a ticker lists or delists.

    Each trade fills where the strategy's would: at the close (or the open) ``lag`` bars after the origin that
    sees the change; the first buy fills after the first origin. A ticker whose prices end inside the period is
    sold at its last real price times ``1 + delisting_return``, as the strategy's positions are, and the cash goes
    to the tickers still listed. Nothing trades at the period's last close (as in the strategy).
    """
    mode = execution_mode(mode)
    closing = closing_decisions(data, mode)
    members = listed(data, mode, closing)
    close, fill = data.prices["close"], data.prices[mode.price]
    shares = np.zeros(close.shape[1])
    cash = 1.0
    value = np.ones(data.stop - data.start)
    for b in range(data.start, data.stop):
        o = b - mode.lag
        change = o == data.start or (o > data.start and bool((members[o] != members[o - 1]).any()))
        if o >= data.start and b < data.stop - 1 and change:
            price = np.where(closing[o], fill[b] * (1.0 + delisting_return), fill[b])
            equity = cash + float(shares @ price)
            held = members[o]
            shares = np.where(held, equity / max(int(held.sum()), 1) / fill[b], 0.0)
            cash = 0.0 if held.any() else equity
        value[b - data.start] = cash + float(shares @ close[b])
    return pd.Series(value[1:] / value[:-1] - 1.0, index=data.dates[data.start + 1 : data.stop], name="benchmark")
