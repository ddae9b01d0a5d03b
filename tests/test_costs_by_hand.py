"""Every cost of a short run computed by hand, step by step from the README's definitions, for the honest modes
(``next-close`` and ``next-open``), and compared with backtrader and with the numpy replay.

Two tickers, eight days; A bought with leverage (financing), B shorted (borrow) with a volume cap that binds;
commission, half-spread and square-root impact on every fill."""

from __future__ import annotations

import math
import statistics

import pytest

from backtests.costs import CostModel
from backtests.inputs import align
from backtests.vectorized import replay
from tests.built_markets import forecasts, market, run

CLOSE = {
    "A": [100.0, 102.0, 101.0, 103.0, 104.0, 106.0, 105.0, 107.0],
    "B": [50.0, 49.0, 50.5, 50.0, 49.5, 49.0, 50.0, 49.8],
}
OPEN = {
    "A": [100.0, 101.0, 102.0, 102.0, 103.5, 105.0, 106.5, 105.5],
    "B": [50.0, 49.5, 49.2, 50.4, 49.8, 49.6, 49.2, 50.1],
}
VOLUME = {"A": [20_000.0] * 8, "B": [10_000.0, 10_000.0, 10_000.0, 10_000.0, 9_000.0, 12_000.0, 8_000.0, 10_000.0]}
# origin 4: A 1.2 and B -0.6 of the equity; origin 5: A kept, B -0.7
MEAN = {
    "A": [float("nan")] * 4 + [1.2, float("nan"), float("nan"), float("nan")],
    "B": [float("nan")] * 4 + [-0.6, -0.7, float("nan"), float("nan")],
}
COSTS = CostModel(commission_bps=2.0, half_spread_bps=3.0, impact=0.5, participation=0.1, borrow=0.02, financing=0.05)
CASH = 100_000.0


def sigma_adv(ticker: str, row: int) -> tuple[float, float]:
    """Impact's inputs at a fill on ``row``: the sd of the log returns and the mean close x volume of the bars
    before it (here fewer than 20 exist)."""
    c, v = CLOSE[ticker], VOLUME[ticker]
    returns = [math.log(c[t] / c[t - 1]) for t in range(1, row)]
    return statistics.stdev(returns), statistics.fmean(c[t] * v[t] for t in range(row))


def fill_cost(ticker: str, row: int, value: float) -> tuple[float, float, float]:
    """Commission 2 bp, half-spread 3 bp and impact 0.5 x sigma x sqrt(value / adv), each times the value."""
    sigma, adv = sigma_adv(ticker, row)
    return value * 2e-4, value * 3e-4, value * 0.5 * sigma * math.sqrt(value / adv)


def holding(a_shares: float, b_shares: float, row: int, equity: float) -> float:
    """A day's borrow (2% a year on the shorts) and financing (5% on the gross above the equity), on the shares
    held at the close of ``row``, valued there."""
    a, b = a_shares * CLOSE["A"][row], b_shares * CLOSE["B"][row]
    return 0.02 / 252 * max(-b, 0.0) + 0.05 / 252 * max(abs(a) + abs(b) - equity, 0.0)


def check(mode: str, fills: list[tuple[str, int, float, float]], equity: list[float], costs: list[float]) -> None:
    """Compare backtrader's fills, equity and costs, and the replay's, with the hand figures."""
    panel = market(CLOSE, open_=OPEN, volume=VOLUME)
    fc = forecasts(panel, mode, MEAN, test_from=4)
    result, _ = run(panel, fc, mode, COSTS, cash=CASH)
    got = result.fills
    assert got["ticker"].tolist() == [f[0] for f in fills]
    price = "close" if mode == "next-close" else "open"
    for (_, f), (ticker, row, size, value) in zip(got.iterrows(), fills, strict=True):
        assert f["date"] == result.data.dates[row]
        assert f["price"] == pytest.approx((CLOSE if price == "close" else OPEN)[ticker][row], rel=1e-12)
        assert f["size"] == pytest.approx(size, rel=1e-12)
        commission, spread, impact = fill_cost(ticker, row, value)
        assert f["commission"] == pytest.approx(commission, rel=1e-10)
        assert f["spread"] == pytest.approx(spread, rel=1e-10)
        assert f["impact"] == pytest.approx(impact, rel=1e-9)
    assert result.equity.tolist() == pytest.approx(equity, rel=1e-12)
    net = [equity[k] / equity[k - 1] - 1 for k in range(1, len(equity))]
    assert result.returns.tolist() == pytest.approx(net, rel=1e-9, abs=1e-15)
    assert result.costs.tolist() == pytest.approx([c / equity[k] for k, c in enumerate(costs)], rel=1e-9)
    again = replay(
        result.decisions, align(panel, fc, execution=mode), mode=mode, costs=COSTS, first=result.first, cash=CASH
    )
    assert again["net"].tolist() == pytest.approx(net, rel=1e-9, abs=1e-15)
    assert again["cost"].tolist() == pytest.approx([c / equity[k] for k, c in enumerate(costs)], rel=1e-9)


def test_next_close_costs_by_hand() -> None:
    # origin 4's decision goes out at the close of day 5, sized with that close and the equity then (cash only)
    a = 1.2 * CASH / 106.0  # A: 1,132.08 shares, 120,000 of value
    b_asked = 0.6 * CASH / 49.0  # B: 1,224.5 shares asked, 10% of day 5's 12,000 allowed
    b = 1_200.0
    paid5 = sum(fill_cost("B", 5, b * 49.0)) + sum(fill_cost("A", 5, a * 106.0))  # sells first
    e5 = CASH - paid5
    # day 6: a day's borrow and financing on the close-5 positions, then origin 5's order at the close of day 6
    hold6 = holding(a, -b, 5, e5)
    e6_before = e5 + a * (105.0 - 106.0) - b * (50.0 - 49.0) - hold6
    weight_b = -b * 50.0 / e6_before
    more = (0.7 + weight_b) * e6_before / 50.0  # B's missing shares, far below 10% of day 6's 8,000
    paid6 = sum(fill_cost("B", 6, more * 50.0))
    e6 = e6_before - paid6
    hold7 = holding(a, -(b + more), 6, e6)
    e7 = e6 + a * (107.0 - 105.0) - (b + more) * (49.8 - 50.0) - hold7
    assert b < b_asked and more < 800.0
    check(
        "next-close",
        [("B", 5, b, b * 49.0), ("A", 5, a, a * 106.0), ("B", 6, more, more * 50.0)],
        [CASH, e5, e6, e7],
        [paid5, hold6 + paid6, hold7],
    )


def test_next_open_costs_by_hand() -> None:
    # origin 4's decision is sized at the close of day 4 and fills at the open of day 5
    a = 1.2 * CASH / 104.0
    b_asked = 0.6 * CASH / 49.5
    b = 900.0  # 10% of day 4's 9,000: the open of day 5 knows no more (day 5's 12,000 prints at its close)
    paid5 = sum(fill_cost("B", 5, b * 49.6)) + sum(fill_cost("A", 5, a * 105.0))
    cash5 = CASH + b * 49.6 - a * 105.0 - paid5
    e5 = cash5 + a * 106.0 - b * 49.0
    # origin 5: sized at the close of day 5; day 6 first pays the holding of the close-5 positions, then fills
    weight_b = -b * 49.0 / e5
    more = (0.7 + weight_b) * e5 / 49.0  # under 10% of day 5's 12,000
    hold6 = holding(a, -b, 5, e5)
    paid6 = sum(fill_cost("B", 6, more * 49.2))
    cash6 = cash5 - hold6 + more * 49.2 - paid6
    e6 = cash6 + a * 105.0 - (b + more) * 50.0
    hold7 = holding(a, -(b + more), 6, e6)
    e7 = e6 + a * (107.0 - 105.0) - (b + more) * (49.8 - 50.0) - hold7
    e4 = CASH
    assert b < b_asked and more < 1_200.0
    check(
        "next-open",
        [("B", 5, b, b * 49.6), ("A", 5, a, a * 105.0), ("B", 6, more, more * 49.2)],
        [e4, e5, e6, e7],
        [paid5, hold6 + paid6, hold7],
    )
