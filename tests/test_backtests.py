"""Backtests: execution modes, perfect foresight, costs, the band, fractional sizes, the numpy replay, outputs, CLI."""

from __future__ import annotations

import json
import socket
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backtests.costs import CostModel
from backtests.engine import Execution, run_backtest
from backtests.inputs import align, load_forecasts
from backtests.pipeline import rebuild_report, run_backtest_job
from backtests.vectorized import replay
from forecasting.market.cleaning import clean_panel
from forecasting.market.synthetic import synthetic_panel
from forecasting.preparation.execution import EXECUTIONS, execution_mode
from qtrade.cli import app
from strategies import Bar, available, get, parse_params, register

NO_COSTS = CostModel(commission_bps=0.0, half_spread_bps=0.0, impact=0.0, participation=1.0, borrow=0.0, financing=0.0)
FREE = Execution(costs=NO_COSTS)


def free(mode: str = "next-close", **kw) -> Execution:
    return Execution(mode=mode, costs=NO_COSTS, **kw)


def oracle_forecasts(
    panel: pd.DataFrame,
    *,
    shift: int = 0,
    test_from: int = 150,
    var: float = 1e-4,
    mode: str = "next-close",
    marker: bool = True,
) -> pd.DataFrame:
    """Forecasts whose mean is the realised held return of ``mode`` (shifted by ``shift`` days), as qtrade
    writes them."""
    m = execution_mode(mode)
    clean = clean_panel(panel)
    real = ~clean.filled
    price = clean.values[m.price]
    target = np.full_like(price, np.nan)  # from the definition: log(P[t+lag+1] / P[t+lag]), both prices real
    for t in range(len(price) - m.lag - 1):
        ok = real[t + m.lag] & real[t + m.lag + 1]
        target[t] = np.where(ok, np.log(price[t + m.lag + 1] / price[t + m.lag]), np.nan)
    mean = np.roll(target, shift, axis=0)
    if shift:
        mean[:shift] = np.nan
    rows = []
    for j, ticker in enumerate(clean.tickers):
        rows.append(
            pd.DataFrame(
                {
                    "date": clean.dates,
                    "ticker": str(ticker),
                    "mean": mean[:, j],
                    "variance": var,
                    "target": target[:, j],
                    "split": "train",
                }
            )
        )
    frame = pd.concat(rows, ignore_index=True)
    frame.loc[frame["date"] >= clean.dates[test_from], "split"] = "test"
    if marker:
        frame["execution"] = m.name
    return frame.dropna(subset=["mean"]).reset_index(drop=True)


def iid_panel(n_tickers: int, n_days: int, seed: int) -> pd.DataFrame:
    """Independent daily returns, opens with their own overnight moves: nothing in the past predicts the future."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2015-01-02", periods=n_days)
    frames = []
    for j in range(n_tickers):
        close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.015, n_days)))
        open_ = close * np.exp(rng.normal(0.0, 0.005, n_days))
        frames.append(
            pd.DataFrame(
                {
                    "date": dates,
                    "ticker": f"I{j}",
                    "open": open_,
                    "high": np.maximum(open_, close) * 1.01,
                    "low": np.minimum(open_, close) * 0.99,
                    "close": close,
                    "volume": 1e6,
                }
            )
        )
    return pd.concat(frames).set_index(["date", "ticker"]).sort_index()


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return synthetic_panel(3, 320, seed=11)


def _replay(result, data) -> pd.DataFrame:
    ex = result.execution
    mode = ex.execution_mode
    return replay(
        result.decisions,
        data,
        mode=mode,
        costs=ex.costs,
        first=result.first,
        cash=ex.cash,
        band=ex.band,
        delisting_return=ex.delisting_return,
    )


@pytest.mark.parametrize("mode", EXECUTIONS)
@pytest.mark.parametrize("name", ["kelly", "threshold", "betsize", "voltarget", "longshort"])
def test_perfect_foresight_wins_under_every_mode_and_a_day_late_it_does_not(name, mode) -> None:
    market = iid_panel(3, 320, seed=2)
    spec = get(name)
    params = parse_params(spec, None)
    good = run_backtest(align(market, oracle_forecasts(market, mode=mode), execution=mode), spec, params, free(mode))
    r = good.returns.to_numpy()
    assert r.mean() / r.std() * np.sqrt(252) > 5
    if mode != "next-open":  # positions change at closes: each day's return is one decision's held return
        invested = good.holdings.abs().sum(axis=1).to_numpy() > 1e-9
        held_days = good.returns.iloc[execution_mode(mode).lag :].to_numpy()[: len(invested)]
        moved = np.abs(held_days) > 1e-12
        assert invested.sum() > 100
        assert (held_days[invested[: len(held_days)] & moved] > 0).all()
    late = run_backtest(
        align(market, oracle_forecasts(market, shift=1, mode=mode), execution=mode), spec, params, free(mode)
    )
    assert late.returns.mean() < 0.1 * good.returns.mean()  # (open-to-open returns here reverse a little)


def test_same_close_fills_at_the_origin_close_next_close_one_close_later_next_open_at_the_next_open() -> None:
    market = iid_panel(1, 200, seed=4)
    spec = get("buyhold")
    for mode, price_col, bars_later in (
        ("same-close", "close", 0),
        ("next-close", "close", 1),
        ("next-open", "open", 1),
    ):
        data = align(market, oracle_forecasts(market, mode=mode), execution=mode)
        result = run_backtest(data, spec, {}, free(mode))
        fill = result.fills.iloc[0]
        row = data.start + bars_later
        assert fill["date"] == data.dates[row]
        assert fill["price"] == pytest.approx(data.prices[price_col][row, 0])
        first_day = result.returns.iloc[0]  # the day from the first origin's close to the next close
        if mode == "next-close":
            assert first_day == 0.0  # nothing held yet
        elif mode == "next-open":  # sized at the origin's close, held from the open on
            c0, o1, c1 = data.prices["close"][row - 1, 0], data.prices["open"][row, 0], data.prices["close"][row, 0]
            assert first_day == pytest.approx((c1 - o1) / c0)
        else:
            assert first_day == pytest.approx(data.prices["close"][row + 1, 0] / data.prices["close"][row, 0] - 1)


@pytest.fixture(scope="module")
def gappy() -> pd.DataFrame:
    return synthetic_panel(4, 300, seed=5, missing=0.02)  # gaps: untradable, carried days


@pytest.mark.parametrize("mode", EXECUTIONS)
@pytest.mark.parametrize(
    "name", ["kelly", "voltarget", "threshold", "betsize", "longshort", "buyhold", "sma", "volmanaged"]
)
def test_numpy_replay_agrees_with_backtrader_every_cost_included(gappy, name, mode) -> None:
    fc = oracle_forecasts(gappy, mode=mode, test_from=100)
    rng = np.random.default_rng(0)
    fc["mean"] = 0.3 * fc["mean"] + rng.normal(0, 0.01, len(fc))  # a noisy forecast: trades both ways
    data = align(gappy, fc, execution=mode)
    spec = get(name)
    params = parse_params(
        spec,
        ["slow=30", "fast=5"] if name == "sma" else ["max_leverage=3"] if name in ("kelly", "volmanaged") else None,
    )
    # volumes small enough that the participation cap binds now and then; leverage pays financing, shorts borrow
    costs = CostModel(
        commission_bps=3.0, half_spread_bps=4.0, impact=0.8, participation=0.02, borrow=0.03, financing=0.06
    )
    ex = Execution(mode=mode, costs=costs, band=0.01, cash=5e6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_backtest(data, spec, params, ex)
    check = _replay(result, data)
    gap = (check["net"] - result.returns.reindex(check.index)).abs()
    assert gap.max() < 1e-10  # 1e-6 bp on every day
    assert (check["cost"] - result.costs.reindex(check.index)).abs().max() < 1e-10
    assert result.costs.sum() > 0


def test_the_replay_check_can_fail() -> None:
    # the replay is a real second opinion: the same decisions under another mode or other costs disagree
    market = iid_panel(3, 260, seed=8)
    data = align(market, oracle_forecasts(market, mode="next-close"), execution="next-close")
    spec = get("kelly")
    result = run_backtest(data, spec, parse_params(spec, None), Execution())
    ok = _replay(result, data)
    assert (ok["net"] - result.returns.reindex(ok.index)).abs().max() < 1e-10
    other = replay(
        result.decisions,
        data,
        mode="same-close",
        costs=result.execution.costs,
        first=result.first,
        cash=result.execution.cash,
    )
    assert (other["net"] - result.returns.reindex(other.index)).abs().max() > 1e-4
    cheaper = replay(
        result.decisions, data, mode="next-close", costs=NO_COSTS, first=result.first, cash=result.execution.cash
    )
    assert (cheaper["net"] - result.returns.reindex(cheaper.index)).abs().max() > 1e-6


@pytest.mark.parametrize("name", ["kelly", "longshort", "sma"])
def test_the_fast_paths_give_backtraders_own_numbers(monkeypatch, gappy, name) -> None:
    # qtrade's broker skips the copies of unfinished orders and the per-position loops of BackBroker.next, its
    # feed preloads in one step and the strategy reads arrays; backtrader's own notifications, next, bar-by-bar
    # preload and tick copies must give the same fills.
    from backtests.broker import QtradeBroker
    from strategies.backtrader_compat import bt
    from strategies.feeds import ForecastData

    fc = oracle_forecasts(gappy, test_from=60)
    fc["mean"] = 0.3 * fc["mean"] + np.random.default_rng(1).normal(0, 0.01, len(fc))
    data = align(gappy, fc)
    spec = get(name)
    params = parse_params(spec, ["k=1"] if name == "longshort" else ["slow=20", "fast=5"] if name == "sma" else None)
    ex = Execution(band=0.01, costs=CostModel(borrow=0.0, financing=0.0))  # BackBroker.next charges neither
    fast = run_backtest(data, spec, params, ex)
    with monkeypatch.context() as m:
        m.setattr(QtradeBroker, "notify", bt.brokers.BackBroker.notify)
        m.setattr(QtradeBroker, "next", bt.brokers.BackBroker.next)
        m.setattr(ForecastData, "preload", bt.feed.DataBase.preload)
        m.setattr(ForecastData, "_tick_fill", bt.feed.DataBase._tick_fill)
        m.setattr(ForecastData, "_tick_nullify", bt.feed.DataBase._tick_nullify)
        stock = run_backtest(data, spec, params, ex)
    assert len(fast.fills) > 20
    pd.testing.assert_frame_equal(fast.fills, stock.fills)
    pd.testing.assert_series_equal(fast.returns, stock.returns)
    pd.testing.assert_frame_equal(fast.holdings, stock.holdings)


# --- costs against figures computed by hand ----------------------------------------------------------------


def one_ticker(n_days: int = 60, *, volume: float = 1e6, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 40.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, n_days)))
    dates = pd.bdate_range("2020-01-01", periods=n_days)
    return (
        pd.DataFrame(
            {
                "date": dates,
                "ticker": "A",
                "open": close,
                "high": close * 1.01,
                "low": close * 0.99,
                "close": close,
                "volume": volume,
            }
        )
        .set_index(["date", "ticker"])
        .sort_index()
    )


def test_spread_commission_and_impact_on_a_known_trade() -> None:
    panel = one_ticker(volume=20_000.0)
    fc = oracle_forecasts(panel, test_from=40, mode="same-close")
    data = align(panel, fc, execution="same-close")
    costs = CostModel(commission_bps=2.0, half_spread_bps=5.0, impact=0.7, participation=1.0, borrow=0.0, financing=0.0)
    result = run_backtest(data, get("buyhold"), {}, Execution(mode="same-close", costs=costs, cash=100_000.0))
    fill = result.fills.iloc[0]
    t = data.start
    close = data.prices["close"][:, 0]
    returns_before = np.log(close[t - 20 : t] / close[t - 21 : t - 1])  # the 20 returns up to the bar before
    sigma = returns_before.std(ddof=1)
    adv = (close[t - 20 : t] * 20_000.0).mean()  # traded value of the 20 bars before
    value = 100_000.0  # buyhold with one ticker puts all the equity in it
    assert fill["value"] == pytest.approx(value)
    assert fill["commission"] == pytest.approx(value * 2e-4)
    assert fill["spread"] == pytest.approx(value * 5e-4)
    assert fill["impact"] == pytest.approx(value * 0.7 * sigma * np.sqrt(value / adv), rel=1e-9)
    # the cash paid is the first day's loss beyond the price move
    day1 = result.returns.iloc[0]
    move = close[t + 1] / close[t] - 1.0
    paid = fill["commission"] + fill["spread"] + fill["impact"]
    assert day1 == pytest.approx((value * (1 + move) - paid) / 100_000.0 - 1.0, rel=1e-9)


def test_a_spread_column_in_the_data_sets_the_half_spread(tmp_path: Path) -> None:
    from forecasting.market.loaders import read_panel

    panel = one_ticker(volume=1e9)
    frame = panel.reset_index()
    frame["Spread"] = np.where(np.arange(len(frame)) % 2 == 0, 0.0010, 0.0030)  # 10 bp and 30 bp, by day
    frame.to_csv(tmp_path / "p.csv", index=False)
    loaded = read_panel(tmp_path / "p.csv")
    assert "spread" in loaded.columns
    data = align(loaded, oracle_forecasts(panel, test_from=40, mode="same-close"), execution="same-close")
    costs = CostModel(
        commission_bps=0.0, half_spread_bps=99.0, impact=0.0, participation=1.0, borrow=0.0, financing=0.0
    )
    fill = run_backtest(data, get("buyhold"), {}, Execution(mode="same-close", costs=costs)).fills.iloc[0]
    quoted = frame.loc[frame["date"] == fill["date"], "Spread"].iloc[0]
    assert fill["spread"] == pytest.approx(fill["value"] * quoted / 2)  # the column's, not --half-spread-bps
    frame.loc[3, "Spread"] = -0.01
    frame.to_csv(tmp_path / "bad.csv", index=False)
    from forecasting.errors import DataError

    with pytest.raises(DataError, match="spread must be a share of the price"):
        read_panel(tmp_path / "bad.csv")


def test_a_fills_costs_land_in_the_return_of_the_day_it_filled() -> None:
    panel = one_ticker(volume=20_000.0)
    for mode in EXECUTIONS:
        data = align(panel, oracle_forecasts(panel, test_from=40, mode=mode), execution=mode)
        result = run_backtest(data, get("buyhold"), {}, Execution(mode=mode, cash=100_000.0))
        fill = result.fills.iloc[0]
        paid = fill["commission"] + fill["spread"] + fill["impact"]
        day = result.returns.index.get_loc(fill["date"]) if fill["date"] in result.returns.index else 0
        assert result.costs.iloc[day] * result.equity.iloc[day] == pytest.approx(paid, rel=1e-9)
        assert result.costs.drop(result.costs.index[day]).abs().max() < 1e-6  # the rest: a day's borrow at most


def test_a_participation_cap_leaves_part_of_an_order_unfilled() -> None:
    panel = one_ticker(volume=1_000.0)
    data = align(panel, oracle_forecasts(panel, test_from=40, mode="next-close"))
    costs = CostModel(
        commission_bps=0.0, half_spread_bps=0.0, impact=0.0, participation=0.05, borrow=0.0, financing=0.0
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_backtest(data, get("buyhold"), {}, Execution(costs=costs, cash=1_000_000.0))
    fill = result.fills.iloc[0]
    row = data.start + 1  # next-close: the close after the first origin
    assert fill["size"] == pytest.approx(0.05 * 1_000.0)  # 50 shares of the bar's 1,000
    assert fill["requested"] == pytest.approx(1_000_000.0 / data.prices["close"][row, 0])  # sized at the fill close
    assert fill["date"] == data.dates[row]
    assert any("filled only in part" in str(w.message) for w in caught)
    held = 50.0 * data.prices["close"][row, 0] / result.equity.iloc[1]
    assert held < 0.1  # most of the equity stayed in cash


def test_borrow_and_financing_accrue_over_a_known_holding() -> None:
    @register("test_fixed", "holds a fixed weight", weight=__import__("strategies").Param(1.0, "the weight"))
    def fixed(bar: Bar, *, weight: float) -> np.ndarray:
        return np.full_like(bar.mean, weight) if bar.first else np.full_like(bar.mean, np.nan)

    panel = one_ticker()
    data = align(panel, oracle_forecasts(panel, test_from=40, mode="same-close"), execution="same-close")
    close = data.prices["close"][:, 0]
    t0 = data.start
    for weight, rate_field in ((-0.8, "borrow"), (1.5, "financing")):
        costs = CostModel(
            commission_bps=0.0,
            half_spread_bps=0.0,
            impact=0.0,
            participation=1.0,
            **{"borrow": 0.0, "financing": 0.0, rate_field: 0.1},
        )
        result = run_backtest(
            data, get("test_fixed"), {"weight": weight}, Execution(mode="same-close", costs=costs, cash=1_000.0)
        )
        shares = weight * 1_000.0 / close[t0]  # bought at the first close, never traded again
        expected, equity = 0.0, 1_000.0
        for t in range(t0 + 1, data.stop):
            value = shares * close[t - 1]  # held over the day from the previous close
            day = (0.1 / 252 * -value) if rate_field == "borrow" else 0.1 / 252 * (abs(value) - equity)
            expected += day
            equity = equity + shares * (close[t] - close[t - 1]) - day
        assert result.holding_paid == pytest.approx(expected, rel=1e-9)
        assert result.equity.iloc[-1] == pytest.approx(equity, rel=1e-9)


@pytest.mark.parametrize("mode", EXECUTIONS)
def test_a_delisted_ticker_is_closed_at_its_last_real_price_and_its_capital_freed(mode) -> None:
    panel = iid_panel(2, 260, seed=6)
    dates = panel.index.get_level_values("date").unique()
    last = dates[200]
    panel = panel[~((panel.index.get_level_values("ticker") == "I0") & (panel.index.get_level_values("date") > last))]
    fc = oracle_forecasts(panel, test_from=150, mode=mode)
    fc["mean"] = 0.001  # always long
    data = align(panel, fc, execution=mode)
    m = execution_mode(mode)
    for r in (0.0, -0.5):
        result = run_backtest(
            data, get("kelly"), parse_params(get("kelly"), None), free(mode, delisting_return=r, cash=1e6)
        )
        check = _replay(result, data)
        assert (check["net"] - result.returns.reindex(check.index)).abs().max() < 1e-10
        gone = result.fills[result.fills["ticker"] == "I0"].iloc[-1]
        assert gone["side"] == "sell" and gone["date"] == last
        exit_price = data.prices[m.price][dates.get_loc(last), 0]
        assert gone["price"] == pytest.approx(exit_price)
        bought = result.fills[result.fills["ticker"] == "I0"]
        assert bought["size"].where(bought["side"] == "buy", -bought["size"]).sum() == pytest.approx(0.0, abs=1e-9)
        assert gone["delisting"] == pytest.approx(-r * gone["value"])  # a loss of r of the position's value
        # a delisting settles the whole position, whatever the volume cap
        thin = panel.copy()
        thin.loc[(last, "I0"), "volume"] = 10.0
        capped = run_backtest(
            align(thin, fc, execution=mode),
            get("kelly"),
            parse_params(get("kelly"), None),
            Execution(mode=mode, costs=CostModel(participation=0.01), delisting_return=r),
        )
        i0 = capped.fills[capped.fills["ticker"] == "I0"]
        assert i0["size"].where(i0["side"] == "buy", -i0["size"]).sum() == pytest.approx(0.0, abs=1e-9)
        # from the origin whose fill is the last real price on, nothing is held: no forecast there opens
        closing_origin = dates[dates.get_loc(last) - m.lag]
        later = result.holdings.loc[result.holdings.index >= closing_origin, "I0"]
        assert len(later) > 0 and (later == 0).all()
        assert result.holdings.loc[result.holdings.index < closing_origin, "I0"].iloc[-1] > 0


def test_costs_are_charged_on_traded_value(market) -> None:
    data = align(market, oracle_forecasts(market))
    spec, params = get("threshold"), parse_params(get("threshold"), None)
    nothing = run_backtest(data, spec, params, FREE)
    costs = CostModel(
        commission_bps=10.0, half_spread_bps=0.0, impact=0.0, participation=1.0, borrow=0.0, financing=0.0
    )
    paid = run_backtest(data, spec, params, Execution(costs=costs))
    fills = paid.fills[paid.fills["side"] != "rejected"]
    assert fills["commission"].sum() == pytest.approx((fills["value"] * 10 / 1e4).sum())
    assert paid.returns.sum() < nothing.returns.sum()


def test_turnover_is_one_way(market) -> None:
    data = align(market, oracle_forecasts(market))
    result = run_backtest(data, get("buyhold"), {}, FREE)
    # buying the book once is a one-way turnover of 1 on that day, i.e. half the (one-sided) value traded twice
    assert result.turnover.max() == pytest.approx(0.5, rel=1e-6)


def test_rebalance_band_skips_small_trades(market) -> None:
    fc = oracle_forecasts(market)
    data = align(market, fc)
    spec, params = get("kelly"), parse_params(get("kelly"), ["fraction=0.02", "max_leverage=1"])
    every = run_backtest(data, spec, params, FREE)
    banded = run_backtest(data, spec, params, free(band=0.05))
    fills = banded.fills[banded.fills["side"] != "rejected"]
    before = banded.equity.shift(1).reindex(pd.DatetimeIndex(fills["date"])).to_numpy()
    share = fills["value"].to_numpy() / before
    assert len(fills) < len(every.fills)
    assert (share >= 0.05 * 0.95).all()


def test_fractional_positions_at_index_level_prices() -> None:
    panel = synthetic_panel(1, 260, seed=3)
    panel[["open", "high", "low", "close"]] *= 5000.0  # a price near the account's size
    spec = get("threshold")
    result = run_backtest(
        align(panel, oracle_forecasts(panel, mode="same-close"), execution="same-close"),
        spec,
        parse_params(spec, ["weight=0.37"]),
        free("same-close", cash=10_000.0),
    )
    sizes = result.fills["size"]
    assert (sizes % 1 != 0).any()
    traded = result.holdings.iloc[:-1, 0].abs()
    assert traded[traded > 0].round(6).eq(0.37).all()


def test_no_short_means_no_negative_weights(market) -> None:
    data = align(market, oracle_forecasts(market))
    spec = get("kelly")
    result = run_backtest(data, spec, parse_params(spec, None), Execution(short=False))
    assert (result.holdings.to_numpy() >= 0).all()
    assert (result.fills["side"] == "buy").any()


def test_bad_variances_trade_nothing_and_warn_once(market) -> None:
    fc = oracle_forecasts(market)
    test_rows = fc.index[fc["split"] == "test"]
    t0 = fc.loc[test_rows, "date"].sort_values().unique()[10]
    bad = fc["date"] == t0
    fc.loc[bad, "variance"] = [0.0, -1e-4, np.nan]
    data = align(market, fc)
    spec = get("kelly")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_backtest(data, spec, parse_params(spec, None), FREE)
    mine = [w for w in caught if "variance" in str(w.message)]
    assert len(mine) == 1 and "3 forecasts" in str(mine[0].message)
    fill_day = data.dates[data.dates.get_loc(t0) + 1]  # next-close: the close after the origin
    assert result.fills[pd.DatetimeIndex(result.fills["date"]) == fill_day].empty
    assert not result.fills[pd.DatetimeIndex(result.fills["date"]) == t0].empty  # the day before's decision


def test_a_strategy_sees_only_the_forecast_made_at_its_close(market, monkeypatch) -> None:
    from strategies import registry

    # registered for this test only: `qtrade backtest --strategy all` in a later test runs every registered rule
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    seen: list[tuple[float, float]] = []

    @register("test_recorder", "records what it sees", uses_forecast=True)
    def recorder(bar: Bar) -> np.ndarray:
        seen.append((float(bar.mean[0]), float(bar.history(1)[-1, 0])))
        return np.zeros_like(bar.mean)

    fc = oracle_forecasts(market)
    data = align(market, fc)
    run_backtest(data, get("test_recorder"), {}, FREE)
    first = fc[(fc["ticker"] == data.tickers[0]) & (fc["split"] == "test")].set_index("date")
    dates = data.dates[data.start : data.stop]
    closes = data.prices["close"][data.start : data.stop, 0]
    for (mean, close), date, expected_close in zip(seen, dates, closes, strict=False):
        expected = first["mean"].get(date, np.nan)
        assert (np.isnan(mean) and np.isnan(expected)) or mean == pytest.approx(expected)
        assert close == pytest.approx(expected_close)


@pytest.mark.parametrize("name", sorted(s.name for s in available() if not s.name.startswith("test_")))
@pytest.mark.parametrize("tickers", [1, 3])
def test_every_strategy_runs_on_one_ticker_and_on_the_panel(name, tickers) -> None:
    panel = synthetic_panel(tickers, 260, seed=5)
    fc = oracle_forecasts(panel, test_from=120)
    fc["mean"] = fc["mean"] * 0.2
    spec = get(name)
    params = parse_params(spec, ["slow=30"] if name == "sma" else None)
    result = run_backtest(align(panel, fc), spec, params, Execution())
    assert len(result.returns) == len(result.benchmark) > 100
    assert np.isfinite(result.returns).all()
    if name == "longshort" and tickers == 1:  # nothing to rank against: it holds nothing
        assert result.fills.empty and (result.returns == 0).all()
    else:
        assert len(result.fills) > 0


def test_interpolated_prices_are_not_traded() -> None:
    panel = synthetic_panel(2, 260, seed=9)
    dates = panel.index.get_level_values("date").unique()
    hole = (dates[200], "T0000")
    panel.loc[hole, ["open", "high", "low", "close"]] = np.nan
    # forecasts made from the data without the hole: those whose target uses the hole's price are left out
    data = align(
        panel,
        oracle_forecasts(synthetic_panel(2, 260, seed=9)).pipe(lambda f: f[~f["date"].isin(dates[198:201])]),
        split="test",
    )
    j = data.tickers.index("T0000")
    t = data.dates.get_loc(dates[200])
    assert not data.tradable[t, j]
    assert data.prices["close"][t, j] == data.prices["close"][t - 1, j]  # carried, not interpolated


@pytest.mark.parametrize("mode", EXECUTIONS)
def test_decisions_csv_alone_replays_the_net_returns(tmp_path: Path, market, mode) -> None:
    """decisions.csv holds every decision in full: replayed with the prices and the settings, it gives returns.csv."""
    fc = oracle_forecasts(market, mode=mode)
    fc["mean"] = 0.7 * fc["mean"] + np.random.default_rng(1).normal(0, 0.005, len(fc))
    fc.to_csv(tmp_path / "forecasts.csv", index=False)
    out = tmp_path / "bt"
    run = run_backtest_job(
        market, out, strategy="kelly", forecasts=tmp_path / "forecasts.csv", execution=Execution(mode=mode, band=0.01)
    )
    decisions = pd.read_csv(out / "decisions.csv", index_col="date", parse_dates=["date"])
    assert decisions.columns.tolist() == run.result.data.tickers
    assert decisions.index.equals(run.result.decisions.index)
    np.testing.assert_array_equal(decisions.to_numpy(), run.result.decisions.to_numpy())  # NaN (keep) as NaN
    assert decisions.isna().any().any() and decisions.notna().any().any()
    ex = run.result.execution
    check = replay(
        decisions,
        run.result.data,
        mode=mode,
        costs=ex.costs,
        first=run.result.first,
        cash=ex.cash,
        band=ex.band,
        delisting_return=ex.delisting_return,
    )
    returns = pd.read_csv(out / "returns.csv", index_col="date", parse_dates=["date"])
    assert check.index.equals(returns.index)
    np.testing.assert_allclose(check["net"].to_numpy(), returns["strategy"].to_numpy(), rtol=0, atol=1e-9)


def test_outputs_tearsheet_and_report_offline(tmp_path: Path, market, monkeypatch) -> None:
    def no_network(*args, **kwargs):
        raise AssertionError("the backtest touched the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    fc_path = tmp_path / "forecasts.csv"
    fc = oracle_forecasts(market)
    fc["mean"] = 0.7 * fc["mean"] + np.random.default_rng(1).normal(0, 0.005, len(fc))
    fc.to_csv(fc_path, index=False)
    out = tmp_path / "bt"
    run = run_backtest_job(market, out, strategy="kelly", forecasts=fc_path)
    for name in (
        "tearsheet.html",
        "returns.csv",
        "trades.csv",
        "decisions.csv",
        "holdings.csv",
        "deciles.csv",
        "stats.json",
        "manifest.json",
    ):
        assert (out / name).is_file(), name
    page = (out / "tearsheet.html").read_text()
    for text in (
        "Sharpe",
        "Max Drawdown",
        "Buy and hold",
        "The forecast behind the trades",
        "R2 vs zero",
        "Calibration",
        "Profit by decile of forecast confidence",
        "Forecast MSE (x1e4)",
        "<svg",
        "Execution: next-close",
        "Costs: commission 1 bp, half-spread 2 bp",
        "Execution and costs",
        "the position holds the log return from the close of t+1 to the close of t+2",
    ):
        assert text in page, text
    assert "optimistic" not in page.lower()
    stats = json.loads((out / "stats.json").read_text())
    assert stats["execution"]["mode"] == "next-close" and stats["execution"]["impact"] == 0.5
    for key in ("sharpe", "sortino", "cagr", "max_drawdown", "probabilistic_sharpe"):
        assert stats["net"][key] is not None
    assert stats["net"]["sharpe"] > stats["benchmark"]["sharpe"]
    assert stats["gross"]["total_return"] > stats["net"]["total_return"]
    assert 0 < stats["forecast"]["mse"] < stats["forecast"]["mse_zero"]
    assert stats["turnover_annual"] > 0 and stats["vectorised_check_bp_per_day"] < 1.0
    returns = pd.read_csv(out / "returns.csv", index_col="date", parse_dates=["date"])
    assert returns.columns.tolist() == ["strategy", "strategy_gross", "costs", "benchmark"]
    assert np.allclose(returns["strategy"].to_numpy(), run.result.returns.to_numpy())
    (out / "tearsheet.html").unlink()
    rebuild_report(out)
    assert "The forecast behind the trades" in (out / "tearsheet.html").read_text()


def test_forecasts_file_errors(tmp_path: Path, market) -> None:
    from forecasting.errors import DataError

    bad = tmp_path / "sub" / "f.csv"
    bad.parent.mkdir()
    pd.DataFrame({"date": ["2020-01-01"], "ticker": ["A"], "mean": [0.0]}).to_csv(bad, index=False)
    with pytest.raises(DataError, match="no such forecasts file"):
        load_forecasts(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="lack column"):
        load_forecasts(bad)
    with pytest.raises(DataError, match=r"no forecasts\.parquet or forecasts\.csv"):
        load_forecasts(tmp_path)
    other = oracle_forecasts(synthetic_panel(3, 320, seed=99))
    with pytest.raises(DataError, match=r"targets are not the log return from the close of t.1"):
        align(market, other)


runner = CliRunner()


def test_cli_backtest_report_and_strategies(tmp_path: Path, market) -> None:
    data = tmp_path / "panel.csv"
    market.reset_index().to_csv(data, index=False)
    fc = tmp_path / "forecasts.csv"
    oracle_forecasts(market).to_csv(fc, index=False)
    out = tmp_path / "bt"
    res = runner.invoke(
        app,
        [
            "backtest",
            "--strategy",
            "longshort",
            "--param",
            "k=1",
            "--forecasts",
            str(fc),
            "--data",
            str(data),
            "--commission-bps",
            "2",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "longshort on 3 tickers" in res.output and (out / "tearsheet.html").is_file()
    jpx = json.loads((out / "stats.json").read_text())["jpx"]["score"]
    assert f"JPX score {jpx:.3f} (daily spread mean / sd; the competition winner: 0.381)" in res.output
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0 and "tearsheet.html" in res.output
    res = runner.invoke(app, ["strategies"])
    assert res.exit_code == 0 and "kelly" in res.output and "max_leverage" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "nosuch"], "strategy 'nosuch' is not known"),
        (["--param", "fraction=abc"], "is not a float"),
        (["--cash", "-5"], "--cash -5.0 must be positive"),
        (["--split", "future"], "--split 'future' is not known"),
        (["--execution", "tomorrow"], "--execution 'tomorrow' is not known; use one of next-close, next-open"),
        (["--commission-bps", "-1"], "--commission-bps -1.0 must be 0 or more"),
        (["--half-spread-bps", "-2"], "--half-spread-bps -2.0 must be 0 or more"),
        (["--impact", "-0.5"], "--impact -0.5 must be 0 or more"),
        (["--borrow", "-0.01"], "--borrow -0.01 must be 0 or more"),
        (["--participation", "0"], "--participation 0.0 must be in (0, 1]"),
        (["--participation", "1.5"], "--participation 1.5 must be in (0, 1]"),
        (["--execution", "same-close"], "forecasts made for --execution next-close, the backtest trades same-close"),
    ],
)
def test_cli_backtest_errors_are_one_line(tmp_path: Path, market, args, message) -> None:
    data = tmp_path / "panel.csv"
    market.reset_index().to_csv(data, index=False)
    fc = tmp_path / "forecasts.csv"
    oracle_forecasts(market).to_csv(fc, index=False)
    out = tmp_path / "o"
    res = runner.invoke(app, ["backtest", "--forecasts", str(fc), "--data", str(data), "--out", str(out), *args])
    assert res.exit_code == 1
    assert message in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not out.exists()  # nothing written


def test_forecasts_without_the_execution_marker_are_read_as_made_for_the_chosen_one(tmp_path: Path, market) -> None:
    fc = tmp_path / "forecasts.csv"
    oracle_forecasts(market, mode="next-open", marker=False).to_csv(fc, index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = load_forecasts(fc, execution="next-open")
    mine = [w for w in caught if "does not say which execution" in str(w.message)]
    assert len(mine) == 1 and "open of t+1 to the open of t+2" in str(mine[0].message)
    align(market, frame, execution="next-open")  # and the targets are checked against that execution
    from forecasting.errors import DataError

    with pytest.raises(DataError, match=r"targets are not the log return from the close of t.1"):
        align(market, frame, execution="next-close")


def test_cli_report_on_a_wrong_folder(tmp_path: Path) -> None:
    res = runner.invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 1 and "finished qtrade backtest" in res.output
