"""Backtest accounting on markets built by hand: what the volume cap may know, what a refused order costs, how a
delisting return is booked, what unknown volume means, and how forecast targets are checked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtests.costs import CostModel
from backtests.inputs import align
from forecasting.preparation.execution import execution_mode
from tests.built_markets import forecasts, market, run, walk

# --- item 2: a next-open fill knows the volume of the sessions before its open, not its own ------------------


def test_next_open_fills_never_read_the_volume_of_their_own_day() -> None:
    n = 60
    close, open_ = walk(n, 1)
    vol = np.random.default_rng(2).uniform(500.0, 3000.0, n)
    quoted = np.random.default_rng(7).uniform(0.0005, 0.003, n)  # the day's bid-ask spread, a share of the price
    # the weight changes every day: each origin's order fills at the next open, capped at 5% of a volume
    rng = np.random.default_rng(3)
    mean = np.round(rng.uniform(-1.0, 1.0, n), 2).tolist()
    costs = CostModel(
        commission_bps=1.0, half_spread_bps=2.0, impact=0.5, participation=0.05, borrow=0.0, financing=0.0
    )
    panel = market({"A": close}, open_={"A": open_}, volume={"A": vol.tolist()}, spread={"A": quoted.tolist()})
    fc = forecasts(panel, "next-open", {"A": mean}, test_from=30)
    base, _ = run(panel, fc, "next-open", costs, cash=1e6)
    data = align(panel, fc, execution="next-open")
    fills = base.fills
    assert len(fills) > 20
    for _, f in fills.iterrows():  # each fill took 5% of the previous session's volume (the cap binds here)
        row = data.dates.get_loc(f["date"])
        assert f["size"] == pytest.approx(0.05 * vol[row - 1], rel=1e-12)
        assert f["spread"] == pytest.approx(f["value"] * quoted[row - 1] / 2, rel=1e-12)  # and its spread
    for k in (5, 12, 20):  # change only the volume (or spread) of one fill's day: that fill and all before it stay
        day = fills["date"].iloc[k]
        row = data.dates.get_loc(day)
        for factor in (0.01, 100.0):
            changed, wider = vol.copy(), quoted.copy()
            changed[row] *= factor
            wider[row] *= 1 + factor
            other, _ = run(
                market({"A": close}, open_={"A": open_}, volume={"A": changed.tolist()}, spread={"A": wider.tolist()}),
                fc,
                "next-open",
                costs,
                cash=1e6,
            )
            upto = fills["date"] <= day
            pd.testing.assert_frame_equal(other.fills[other.fills["date"] <= day], fills[upto])
            pd.testing.assert_series_equal(other.returns[:day], base.returns[:day])


@pytest.mark.parametrize("mode", ["next-close", "same-close"])
def test_close_fills_take_their_own_bars_volume(mode) -> None:
    n = 60
    close, open_ = walk(n, 4)
    vol = np.random.default_rng(5).uniform(500.0, 3000.0, n)
    mean = np.round(np.random.default_rng(6).uniform(-1.0, 1.0, n), 2).tolist()
    costs = CostModel(participation=0.05, borrow=0.0, financing=0.0)
    panel = market({"A": close}, open_={"A": open_}, volume={"A": vol.tolist()})
    fc = forecasts(panel, mode, {"A": mean}, test_from=30)
    result, _ = run(panel, fc, mode, costs, cash=1e6)
    data = align(panel, fc, execution=mode)
    assert len(result.fills) > 20
    for _, f in result.fills.iterrows():  # a close fill happens when that bar's volume is known
        assert f["size"] == pytest.approx(0.05 * vol[data.dates.get_loc(f["date"])], rel=1e-12)


# --- item 3: an order refused for want of cash costs nothing -------------------------------------------------


def _sigma_adv(close: list[float], volume: list[float], row: int) -> tuple[float, float]:
    """The impact model's inputs from its definition: the sd of the 20 log returns and the mean traded value
    of the 20 bars before ``row``."""
    import statistics

    r = [np.log(close[t] / close[t - 1]) for t in range(row - 20, row)]
    return statistics.stdev(r), statistics.fmean(close[t] * volume[t] for t in range(row - 20, row))


@pytest.mark.parametrize("mode", ["same-close", "next-close", "next-open"])
def test_an_order_refused_for_margin_costs_nothing(mode) -> None:
    close, open_ = walk(40, 8)
    panel = market({"A": close}, open_={"A": open_})
    mean = [np.nan] * 40
    mean[30] = 10.0  # ten times the equity, long: a rule that declares at most 1 gets cash for 4 at most
    costs = CostModel(
        commission_bps=10.0, half_spread_bps=5.0, impact=0.5, participation=1.0, borrow=0.01, financing=0.05
    )
    result, said = run(panel, forecasts(panel, mode, {"A": mean}, test_from=25), mode, costs, cash=1e6)
    assert result.fills["side"].tolist() == ["rejected"]
    assert result.fills[["commission", "spread", "impact", "delisting"]].to_numpy().sum() == 0.0
    assert (result.costs == 0.0).all() and (result.returns == 0.0).all()
    assert (result.equity == 1e6).all()
    assert any("1 orders were rejected by the broker for want of cash" in m for m in said)


def test_an_order_refused_in_part_pays_for_the_part_that_filled() -> None:
    # short half the equity, then ask for ten times it long: the buy-back fills, the new long is refused
    close, _ = walk(40, 9)
    vol = np.random.default_rng(10).uniform(1e5, 3e5, 40).tolist()
    panel = market({"A": close}, volume={"A": vol})
    mean = [np.nan] * 40
    mean[30], mean[31] = -0.5, 10.0
    costs = CostModel(
        commission_bps=10.0, half_spread_bps=5.0, impact=0.5, participation=1.0, borrow=0.0, financing=0.0
    )
    result, said = run(panel, forecasts(panel, "same-close", {"A": mean}, test_from=25), "same-close", costs, cash=1e6)
    c0, c1 = close[30], close[31]
    shares = 0.5 * 1e6 / c0
    sigma, adv = _sigma_adv(close, vol, 31)
    value = shares * c1
    paid = value * (10e-4 + 5e-4 + 0.5 * sigma * np.sqrt(value / adv))  # on the shares that traded, no more
    fills = result.fills
    assert fills["side"].tolist() == ["sell", "buy", "rejected"]
    back = fills.iloc[1]
    assert back["size"] == pytest.approx(shares, rel=1e-12)
    assert back["commission"] + back["spread"] + back["impact"] == pytest.approx(paid, rel=1e-10)
    sold = fills.iloc[0]
    first_cost = sold["commission"] + sold["spread"] + sold["impact"]
    assert result.equity.iloc[-1] == pytest.approx(1e6 + shares * (c0 - c1) - first_cost - paid, rel=1e-12)
    # the first day's return (close 30 to close 31) holds the costs of both closes' fills
    assert result.costs.iloc[0] * 1e6 == pytest.approx(first_cost + paid, rel=1e-9)
    assert any("1 orders were rejected" in m for m in said)


# --- item 5: every forecast's target must be the return its execution holds, within rounding ----------------


def _targets_case() -> tuple[pd.DataFrame, pd.DataFrame]:
    closes = {t: walk(80, seed)[0] for t, seed in (("A", 11), ("B", 12), ("C", 13))}
    panel = market(closes)
    return panel, forecasts(panel, "next-close", 0.001, test_from=40)


def test_a_minority_of_wrong_targets_is_refused_and_named() -> None:
    from forecasting.errors import DataError

    panel, fc = _targets_case()
    test = fc.index[fc["split"] == "test"]
    wrong = [test[5], test[50], test[90]]  # 3 of 114 test targets: the median gap stays 0
    fc.loc[wrong, "target"] += [0.004, -0.01, 0.002]
    with pytest.raises(DataError) as caught:
        align(panel, fc)
    message = str(caught.value)
    assert "targets are not the log return from the close of t+1" in message and "\n" not in message
    assert fc.loc[test, "target"].notna().sum() == 114 and "3 of 114 differ by more than rounding" in message
    first = fc.loc[wrong[0]]
    assert f"{first['ticker']} {first['date']:%Y-%m-%d}" in message
    assert "pass --data with the data the forecasts were made from" in message


def test_a_target_where_the_prices_hold_no_return_is_refused() -> None:
    from forecasting.errors import DataError

    panel, fc = _targets_case()
    last = fc["date"].max()
    fc.loc[fc["date"] == last, "target"] = 0.001  # the last origin's return lies past the data
    with pytest.raises(DataError, match="the prices hold no return"):
        align(panel, fc)


def test_targets_rounded_as_files_round_them_are_accepted() -> None:
    panel, fc = _targets_case()
    data = align(panel, fc)
    rounded = fc.copy()
    rounded["target"] = rounded["target"].astype(np.float32).astype(float)  # a float32 round trip
    align(panel, rounded)
    rounded["target"] = [float(f"{x:.6g}") for x in fc["target"]]  # six significant digits, as a CSV may hold
    again = align(panel, rounded)
    assert np.nanmax(np.abs(again.target - data.target)) > 0  # they did change


# --- item 12: a delisting return is a return of the position, in gross, net and the benchmark ----------------


@pytest.mark.parametrize("mode", ["next-close", "same-close", "next-open"])
@pytest.mark.parametrize("weight", [-0.5, 0.5])
def test_a_delisting_return_is_a_return_not_a_cost(mode, weight) -> None:
    from backtests.stats import backtest_stats

    a_close, a_open = walk(31, 14)  # A's prices end on day 30, ten days before B's
    b_close, b_open = walk(41, 15)
    panel = market({"A": a_close, "B": b_close}, open_={"A": a_open, "B": b_open})
    b_mean = [0.3] * 21 + [np.nan] * 20  # B: bought on the first decision, then held
    fc = forecasts(panel, mode, {"A": [weight] * 31, "B": b_mean}, test_from=20)
    r = -0.3
    costs = CostModel(borrow=0.05, financing=0.05)
    result, _ = run(panel, fc, mode, costs, delisting_return=r)
    free, _ = run(
        panel,
        fc,
        mode,
        CostModel(commission_bps=0, half_spread_bps=0, impact=0, participation=1, borrow=0, financing=0),
        delisting_return=r,
    )
    last = result.data.dates[30]
    for res in (result, free):
        gone = res.fills[res.fills["ticker"] == "A"].iloc[-1]
        assert gone["date"] == last
        shares = -gone["size"] if gone["side"] == "buy" else gone["size"]  # the position it closed
        assert np.sign(shares) == np.sign(weight)
        price = a_close[30] if mode != "next-open" else a_open[30]
        # the day's gross return: the day's moves of A and B, plus r of A's position at its settlement price
        b_shares = res.fills[res.fills["ticker"] == "B"]["size"].sum()
        assert (res.fills[res.fills["ticker"] == "B"]["side"] == "buy").all()
        row = 30
        before = res.equity[res.equity.index < last].iloc[-1]
        if mode == "next-open":  # A is settled at the open; B held over the whole day
            a_move = shares * (price - a_close[row - 1])
        else:
            a_move = shares * (a_close[row] - a_close[row - 1])
        b_move = b_shares * (b_close[row] - b_close[row - 1])
        moved = a_move + r * shares * price + b_move
        assert res.gross_returns[last] == pytest.approx(moved / before, rel=1e-9)
    assert (result.costs >= 0).all() and (result.gross_returns >= result.returns).all()
    assert (free.returns == free.gross_returns).all() and (free.costs == 0).all()
    # the benchmark holds A and B from the same first fill; A is sold where the strategy's A is (its last real
    # price, with the delisting return) and the cash goes to B, the ticker still listed, at B's price there
    data = result.data
    m = execution_mode(mode)
    entry = data.start + m.lag
    a_in, b_in = (a_close, b_close) if m.price == "close" else (a_open, b_open)
    moved_to_b = 0.5 * a_in[30] * (1 + r) / a_in[entry] + 0.5 * b_in[30] / b_in[entry]
    path = [
        0.5 * a_close[t] / a_in[entry] + 0.5 * b_close[t] / b_in[entry]
        if t < 30
        else moved_to_b * b_close[t] / b_in[30]
        for t in range(data.start, data.stop)
    ]
    value = np.r_[np.ones(m.lag), path[m.lag :]]
    expected = value[1:] / value[:-1] - 1
    assert result.benchmark.to_numpy() == pytest.approx(expected, rel=1e-12, abs=1e-15)
    stats = backtest_stats(result)
    assert stats["net"]["total_return"] <= stats["gross"]["total_return"]
    assert "delisting" not in stats["costs_paid"]
    gone = result.fills[result.fills["ticker"] == "A"].iloc[-1]
    closed = gone["size"] if gone["side"] == "sell" else -gone["size"]
    assert stats["delisting_booked"] == pytest.approx(-r * closed * price / 1e6, rel=1e-9)
    assert stats["vectorised_check_bp_per_day"] < 1e-6


# --- item 13: zero volume is unknown volume, and a cap that blocks every order says so -----------------------


@pytest.mark.parametrize("mode", ["next-close", "next-open"])
@pytest.mark.parametrize("missing", [0.0, np.nan])
def test_a_ticker_without_volume_trades_uncapped_and_without_impact_and_says_so(mode, missing) -> None:
    from backtests.stats import backtest_stats

    a_close, a_open = walk(60, 16, level=3000.0)  # an index: its file carries no volume
    b_close, b_open = walk(60, 17)
    panel = market(
        {"IDX": a_close, "B": b_close},
        open_={"IDX": a_open, "B": b_open},
        volume={"IDX": [missing] * 60, "B": [2e4] * 60},
    )
    mean = np.round(np.random.default_rng(18).uniform(-0.5, 0.5, 60), 2).tolist()
    fc = forecasts(panel, mode, {"IDX": mean, "B": mean[::-1]}, test_from=30)
    result, said = run(panel, fc, mode, CostModel(participation=0.05, impact=0.5), cash=1e6)
    idx = result.fills[result.fills["ticker"] == "IDX"]
    assert len(idx) > 20
    assert (idx["size"] == idx["requested"]).all() and (idx["impact"] == 0).all()
    b = result.fills[result.fills["ticker"] == "B"]
    assert (b["impact"] > 0).all()
    notes = [m for m in said if "IDX" in m]
    assert len(notes) == 1
    assert "volume" in notes[0] and "unknown" in notes[0] and "--participation" in notes[0] and "B" not in notes[0]
    assert backtest_stats(result)["vectorised_check_bp_per_day"] < 1e-6


@pytest.mark.parametrize("mode", ["next-close", "next-open"])
def test_a_cap_that_blocks_every_order_is_named_as_the_cause(mode) -> None:
    close, open_ = walk(60, 19)
    volume = [5e4] * 30 + [0.0] * 30  # the market stopped printing volume where the test period begins
    panel = market({"A": close}, open_={"A": open_}, volume={"A": volume})
    fc = forecasts(panel, mode, 0.001, test_from=31)
    result, said = run(panel, fc, mode, CostModel(participation=0.1), strategy="kelly", cash=1e6)
    assert result.fills.empty
    assert any("made no trade" in m and "--participation 0.1" in m and "volume" in m for m in said), said
    # with some volume left on one day, the rest of the orders are still named
    volume[40] = 1e3
    result, said = run(
        market({"A": close}, open_={"A": open_}, volume={"A": volume}),
        fc,
        mode,
        CostModel(participation=0.1),
        strategy="kelly",
        cash=1e6,
    )
    assert len(result.fills) == 1
    assert any("orders filled nothing" in m and "--participation" in m for m in said), said


# --- item 4: the replay shares no code with the engine, so an error there shows as a gap --------------------


@pytest.mark.parametrize("broken", ["holding_cost", "market_stats", "closing_decisions"])
def test_an_error_in_the_engines_cost_code_does_not_agree_with_itself(monkeypatch, broken) -> None:
    import backtests.engine
    from backtests.costs import CostModel as Model
    from backtests.costs import MarketStats
    from backtests.stats import backtest_stats

    a_close, a_open = walk(61, 20)  # A's prices end ten days before B's: a delisting the engine must close
    b_close, b_open = walk(71, 21)
    panel = market(
        {"A": a_close, "B": b_close}, open_={"A": a_open, "B": b_open}, volume={"A": [3e4] * 61, "B": [3e4] * 71}
    )
    rng = np.random.default_rng(22)
    fc = forecasts(
        panel,
        "next-close",
        {"A": rng.uniform(-1, 1, 61).round(2).tolist(), "B": rng.uniform(-1, 1, 71).round(2).tolist()},
        test_from=30,
    )
    costs = CostModel(borrow=0.05, financing=0.1, impact=1.0, participation=0.5)
    result, _ = run(panel, fc, "next-close", costs, cash=1e6, delisting_return=-0.2)
    assert backtest_stats(result)["vectorised_check_bp_per_day"] < 1e-6
    if broken == "holding_cost":  # a day's holding cost twice what the definition says
        right = Model.holding_cost
        monkeypatch.setattr(Model, "holding_cost", lambda self, **kw: 2 * right(self, **kw))
    elif broken == "market_stats":  # volatility read from the wrong bars
        right_stats = backtests.engine.market_stats

        def shifted(*args, **kw) -> MarketStats:
            m = right_stats(*args, **kw)
            return MarketStats(np.roll(m.sigma, -1, axis=0), m.adv, m.half_spread)

        monkeypatch.setattr(backtests.engine, "market_stats", shifted)
    else:  # delisted tickers never closed
        monkeypatch.setattr(
            backtests.engine, "closing_decisions", lambda data, mode: np.zeros(data.tradable.shape, dtype=bool)
        )
    wrong, _ = run(panel, fc, "next-close", costs, cash=1e6, delisting_return=-0.2)
    assert backtest_stats(wrong)["vectorised_check_bp_per_day"] > 1e-3


@pytest.mark.parametrize("mode", ["next-close", "next-open"])
def test_a_volume_printed_later_never_changes_earlier_fills(mode) -> None:
    """A ticker's volume is unknown (no cap, no impact) until a volume has been printed, whatever comes later."""
    from backtests.stats import backtest_stats

    a_close, a_open = walk(70, 21, level=300.0)
    b_close, b_open = walk(70, 22)
    later = [0.0] * 50 + [3e3] * 20  # volume starts to be printed on day 50
    results = []
    for volume in ([0.0] * 70, later):
        panel = market(
            {"A": a_close, "B": b_close}, open_={"A": a_open, "B": b_open}, volume={"A": volume, "B": [2e4] * 70}
        )
        mean = np.round(np.random.default_rng(23).uniform(-0.5, 0.5, 70), 2).tolist()
        fc = forecasts(panel, mode, {"A": mean, "B": mean[::-1]}, test_from=30)
        result, _ = run(panel, fc, mode, CostModel(participation=0.05, impact=0.5), cash=1e6)
        assert backtest_stats(result)["vectorised_check_bp_per_day"] < 1e-6
        results.append(result)
    cut = pd.bdate_range("2021-01-04", periods=70)[49]  # the last day without a printed volume
    early = [r.fills[r.fills["date"] <= cut].reset_index(drop=True) for r in results]
    assert len(early[0][early[0]["ticker"] == "A"]) > 5
    pd.testing.assert_frame_equal(early[0], early[1])
    pd.testing.assert_series_equal(results[0].returns[:cut], results[1].returns[:cut])
    late = results[1].fills[(results[1].fills["date"] > cut) & (results[1].fills["ticker"] == "A")]
    # capped once a volume is known: at the close of day 50 itself, at an open from the day after
    assert (late["size"].iloc[1:] <= 0.05 * 3e3 + 1e-9).all()
    assert (late["impact"].iloc[1:] > 0).all()  # impact from the day after: its ADV needs a day before the fill


def test_the_replay_agrees_when_a_ticker_is_halted_on_the_first_bar() -> None:
    """The first open of the period knows the volume of the last session before it, in the engine and the replay."""
    from backtests.stats import backtest_stats

    a_close, a_open = walk(60, 24)
    b_close, b_open = walk(60, 25)
    full = market(
        {"A": a_close, "B": b_close}, open_={"A": a_open, "B": b_open}, volume={"A": [5e3] * 60, "B": [5e3] * 60}
    )
    fc = forecasts(full, "next-open", 0.5, test_from=30)
    halted = pd.bdate_range("2021-01-04", periods=60)[30]  # the period's first bar: no price for A
    panel = full.drop(index=(halted, "A"))
    days = pd.bdate_range("2021-01-04", periods=60)
    touches = (fc["ticker"] == "A") & pd.to_datetime(fc["date"]).isin(days[28:30])  # targets that use day 30's open
    fc = fc[~touches].reset_index(drop=True)  # origin 30 itself stays: its order fills at the open of day 31
    result, _ = run(panel, fc, "next-open", CostModel(participation=0.1), cash=1e6)
    assert not result.fills[result.fills["ticker"] == "A"].empty
    assert backtest_stats(result)["vectorised_check_bp_per_day"] < 1e-6
