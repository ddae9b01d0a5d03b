"""Spreads estimated from prices (issue 22): recovery of known spreads, causality, the flat and column choices,
and the engine against its numpy replay with estimated spreads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backtests.costs import CostModel
from backtests.inputs import align
from backtests.spreads import CAP_BPS, priced_spreads
from backtests.stats import backtest_stats
from forecasting.errors import ConfigError
from forecasting.market.spreads import estimate_spreads
from qtrade.cli import app
from tests.built_markets import forecasts, run
from tests.spread_markets import quoted_market

TRUTH = {"A": 0.0020, "B": 0.0050, "C": 0.0100}  # half-spreads of 20, 50 and 100 bp


def daily_trades(panel: pd.DataFrame, mode: str, *, seed: int = 9, test_from: int = 150) -> pd.DataFrame:
    """Forecasts whose means (the weights of ``test_mean_is_weight``) change every day: every ticker trades daily."""
    rng = np.random.default_rng(seed)
    n = len(panel.index.get_level_values("date").unique())
    tickers = panel.index.get_level_values("ticker").unique()
    mean = {t: np.round(rng.uniform(-0.4, 0.4, n), 2).tolist() for t in tickers}
    return forecasts(panel, mode, mean, test_from=test_from)


@pytest.fixture(scope="module")
def thousand_days() -> pd.DataFrame:
    return quoted_market(TRUTH, 1000 + 150, seed=11)


@pytest.mark.parametrize("mode", ["next-close", "next-open"])
def test_the_median_half_spread_paid_is_within_35_percent_of_the_truth(thousand_days, mode) -> None:
    fc = daily_trades(thousand_days, mode)
    result, _ = run(thousand_days, fc, mode, CostModel(impact=0.0, spread="auto"), cash=1e6)
    paid = backtest_stats(result)["half_spread_paid"]
    for ticker, half in TRUTH.items():
        assert paid[ticker]["source"] == "estimate:edge"
        assert paid[ticker]["fills"] > 900
        assert paid[ticker]["median_bp"] == pytest.approx(half * 1e4, rel=0.35), ticker
        assert CostModel().half_spread_bps <= paid[ticker]["min_bp"] <= paid[ticker]["max_bp"] <= CAP_BPS


def test_closes_only_take_roll_and_bad_highs_are_widened() -> None:
    panel = quoted_market({"A": 0.005}, 600, seed=3)
    o, h, lo, c = (panel[x].to_numpy()[:, None] for x in ("open", "high", "low", "close"))
    real = np.ones(c.shape, bool)
    closes_only = estimate_spreads(c, c, c, c, real)
    assert closes_only.methods == ("roll",)
    assert np.nanmedian(closes_only.spread) / 2 == pytest.approx(0.005, rel=0.35)
    assert estimate_spreads(o, h, lo, c, real).methods == ("edge",)
    with pytest.raises(ConfigError, match="spread estimator 'hl' is not known"):
        estimate_spreads(o, h, lo, c, real, method="hl")


@pytest.mark.parametrize("mode", ["next-close", "next-open", "same-close"])
def test_estimates_and_fills_before_a_day_do_not_change_with_prices_after_it(mode) -> None:
    panel = quoted_market(TRUTH, 400, seed=4)
    fc = daily_trades(panel, mode)
    costs = CostModel(spread="auto")
    base, _ = run(panel, fc, mode, costs, cash=1e6)
    data = priced_spreads(align(panel, fc, execution=mode), costs)
    dates = data.dates
    for cut in (200, 260, 330):
        later = panel.copy()
        after = later.index.get_level_values("date") > dates[cut]
        rng = np.random.default_rng(cut)
        shock = np.exp(rng.normal(0.0, 0.05, after.sum()))
        for col in ("open", "high", "low", "close"):
            later.loc[after, col] = later.loc[after, col].to_numpy() * shock
        later.loc[after, "high"] = later.loc[after, "high"].to_numpy() * 1.03  # and wider ranges
        moved_fc = forecasts(later, mode, {t: g["mean"].tolist() for t, g in fc.groupby("ticker")}, test_from=150)
        moved = priced_spreads(align(later, moved_fc, execution=mode), costs)
        np.testing.assert_array_equal(moved.spread[: cut + 1], data.spread[: cut + 1])
        assert not np.allclose(moved.spread[cut + 2 :], data.spread[cut + 2 :], equal_nan=True)
        other, _ = run(later, moved_fc, mode, costs, cash=1e6)
        before = base.fills["date"] <= dates[cut]
        pd.testing.assert_frame_equal(other.fills[other.fills["date"] <= dates[cut]], base.fills[before])


def test_a_close_fill_reads_the_estimate_of_the_bars_before_it_an_open_fill_the_session_before() -> None:
    panel = quoted_market(TRUTH, 300, seed=6)
    o, h, lo, c = (panel[x].unstack("ticker").to_numpy() for x in ("open", "high", "low", "close"))
    through = estimate_spreads(o, h, lo, c, np.ones(c.shape, bool)).spread
    floor, cap = 2e-4, CAP_BPS / 1e4
    for mode, lag in (("next-close", 1), ("next-open", 0)):
        data = priced_spreads(align(panel, daily_trades(panel, mode), execution=mode), CostModel(spread="auto"))
        expect = 2 * np.clip(through[: len(through) - lag] / 2, floor, cap)
        np.testing.assert_allclose(data.spread[lag:], expect, rtol=1e-15, equal_nan=True)


def test_spread_flat_gives_the_numbers_of_qtrade_before_spread_estimates() -> None:
    """Reference figures from main's engine (commit 2d058e9) on this market: sum and sum of squares of the daily net
    returns, the half-spread cash paid, and the fills."""
    panel = quoted_market(TRUTH, 300, seed=5)
    reference = {
        "next-close": (0.007549524806931718, 0.00619876518209139, 24050.623901233095, 443),
        "next-open": (-0.17449685026672646, 0.010132223633473818, 20426.689435777786, 447),
        "same-close": (-0.012011467386290331, 0.007206924976770036, 22365.629709453468, 447),
    }
    rng = np.random.default_rng(9)
    for mode, (total, squares, spread_paid, fills) in reference.items():
        mean = {t: np.round(rng.uniform(-0.4, 0.4, 300), 2).tolist() for t in "ABC"}
        result, _ = run(panel, forecasts(panel, mode, mean, test_from=150), mode, CostModel(borrow=0.01, spread="flat"))
        r = result.returns.to_numpy()
        assert float(r.sum()) == pytest.approx(total, abs=1e-12)
        assert float((r**2).sum()) == pytest.approx(squares, abs=1e-12)
        assert float(result.fills["spread"].sum()) == pytest.approx(spread_paid, rel=1e-12)
        assert len(result.fills) == fills
        assert backtest_stats(result)["half_spread_paid"]["A"]["source"] == "flat"


def test_a_spread_column_wins_under_every_choice() -> None:
    panel = quoted_market(TRUTH, 300, seed=7)
    quoted = np.random.default_rng(1).uniform(0.0005, 0.003, len(panel))
    panel["spread"] = quoted
    fc = daily_trades(panel, "next-close")
    for choice in ("auto", "column", "flat"):
        result, _ = run(panel, fc, "next-close", CostModel(impact=0.0, spread=choice, half_spread_bps=7.0))
        paid = result.fills[result.fills["value"] > 0]
        column = panel["spread"].reindex(pd.MultiIndex.from_frame(paid[["date", "ticker"]])).to_numpy()
        np.testing.assert_allclose(paid["spread"] / paid["value"], column / 2, rtol=1e-12)
        assert {p["source"] for p in backtest_stats(result)["half_spread_paid"].values()} == {"column"}
    flat, _ = run(panel.drop(columns="spread"), fc, "next-close", CostModel(impact=0.0, half_spread_bps=7.0))
    paid = flat.fills[flat.fills["value"] > 0]
    np.testing.assert_allclose(paid["spread"] / paid["value"], 7e-4, rtol=1e-12)


def test_a_ticker_without_a_column_is_estimated_under_auto() -> None:
    panel = quoted_market(TRUTH, 300, seed=8)
    panel["spread"] = np.where(panel.index.get_level_values("ticker") == "A", 0.001, np.nan)
    data = priced_spreads(
        align(panel, daily_trades(panel, "next-close"), execution="next-close"), CostModel(spread="auto")
    )
    assert data.spread_source == ("column", "estimate:edge", "estimate:edge")
    for choice in ("column", "flat"):
        other = priced_spreads(
            align(panel, daily_trades(panel, "next-close"), execution="next-close"), CostModel(spread=choice)
        )
        assert other.spread_source == ("column", "flat", "flat")


@pytest.mark.parametrize("mode", ["next-close", "next-open", "same-close"])
def test_the_replay_agrees_with_the_engine_on_estimated_spreads(mode) -> None:
    panel = quoted_market(TRUTH, 300, seed=2)
    result, _ = run(panel, daily_trades(panel, mode), mode, CostModel(spread="auto", borrow=0.02), cash=1e6)
    assert result.data.spread_source == ("estimate:edge",) * 3
    stats = backtest_stats(result)
    assert stats["vectorised_check_bp_per_day"] < 1e-6
    assert stats["execution"]["spread"] == "auto"


def test_cli_spread_errors_are_one_line_and_the_tearsheet_tells_the_source(tmp_path: Path) -> None:
    runner = CliRunner()
    panel = quoted_market(TRUTH, 300, seed=2)
    data = tmp_path / "panel.csv"
    panel.reset_index().to_csv(data, index=False)
    fc = tmp_path / "forecasts.csv"
    daily_trades(panel, "next-close").to_csv(fc, index=False)
    base = ["backtest", "--forecasts", str(fc), "--data", str(data), "--quiet"]
    for args, message in (
        (["--spread", "quoted"], "--spread 'quoted' is not known; use auto"),
        (["--spread", "column"], "--spread column: the data has no spread column"),
    ):
        res = runner.invoke(app, [*base, "--out", str(tmp_path / "bad"), *args])
        assert res.exit_code == 1 and message in res.output, res.output
        assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "bad").exists()
    out = tmp_path / "run"
    res = runner.invoke(app, [*base, "--out", str(out), "--strategy", "test_mean_is_weight"])
    assert res.exit_code == 0, res.output
    assert "half-spread paid, median bp per ticker (estimate:edge)" in res.output
    stats = json.loads((out / "stats.json").read_text())
    assert stats["half_spread_paid"]["C"]["source"] == "estimate:edge"
    page = (out / "tearsheet.html").read_text()
    assert "Half-spread paid, bp of the traded value" in page and "estimate:edge" in page
    assert "half-spread from the data or estimated from prices (at least 2 bp)" in page


def test_qtrade_data_prints_each_tickers_estimated_spread(tmp_path: Path) -> None:
    panel = quoted_market(TRUTH, 400, seed=2)
    path = tmp_path / "panel.csv"
    panel.reset_index().to_csv(path, index=False)
    res = CliRunner().invoke(app, ["data", str(path)])
    assert res.exit_code == 0, res.output
    line = next(x for x in res.output.splitlines() if x.startswith("bid-ask half-spread estimated"))
    for ticker, half in TRUTH.items():
        shown = float(line.split(f" {ticker} ")[1].split(" bp (edge)")[0])
        assert shown == pytest.approx(half * 1e4, rel=0.35)


def test_half_spread_paid_is_reported_for_a_single_ticker_with_a_single_fill() -> None:
    """A one-ticker buy-and-hold (one fill) once broke the per-ticker figures (pandas' get_group on one group)."""
    from tests.built_markets import market, walk

    close, open_ = walk(60, 3)
    panel = market({"SPX": close}, open_={"SPX": open_})
    fc = forecasts(panel, "next-close", 0.0, test_from=30)
    result, _ = run(panel, fc, "next-close", CostModel(half_spread_bps=3.0), strategy="buyhold")
    paid = backtest_stats(result)["half_spread_paid"]
    assert paid["SPX"]["source"] == "flat" and paid["SPX"]["fills"] == 1
    assert [paid["SPX"][k] for k in ("median_bp", "min_bp", "max_bp")] == pytest.approx([3.0] * 3, rel=1e-12)
