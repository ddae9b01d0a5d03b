"""Backtests: perfect foresight, costs, the band, fractional sizes, the numpy replay, outputs and the CLI."""

from __future__ import annotations

import json
import socket
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backtests.engine import Execution, run_backtest
from backtests.inputs import align, load_forecasts
from backtests.pipeline import rebuild_report, run_backtest_job
from backtests.vectorized import replay
from forecasting.cleaning import clean_panel
from forecasting.synthetic import synthetic_panel
from qtrade.cli import app
from strategies import Bar, available, get, parse_params, register

FREE = Execution(commission_bps=0.0, slippage_bps=0.0)


def oracle_forecasts(panel: pd.DataFrame, *, shift: int = 0, test_from: int = 150, var: float = 1e-4) -> pd.DataFrame:
    """Forecasts whose mean is the realised next-day log return (shifted by ``shift`` days), as qtrade writes them."""
    clean = clean_panel(panel)
    close = clean.values["close"]
    target = np.full_like(close, np.nan)
    target[:-1] = np.log(close[1:] / close[:-1])
    mean = np.roll(target, shift, axis=0)
    if shift:
        mean[:shift] = np.nan
    rows = []
    for j, ticker in enumerate(clean.tickers):
        rows.append(pd.DataFrame({"date": clean.dates, "ticker": str(ticker), "mean": mean[:, j], "variance": var,
                                  "target": target[:, j], "split": "train"}))
    frame = pd.concat(rows, ignore_index=True)
    frame.loc[frame["date"] >= clean.dates[test_from], "split"] = "test"
    return frame.dropna(subset=["mean"]).reset_index(drop=True)


def iid_panel(n_tickers: int, n_days: int, seed: int) -> pd.DataFrame:
    """Independent daily returns: nothing in the past predicts the next day."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2015-01-02", periods=n_days)
    frames = []
    for j in range(n_tickers):
        close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.015, n_days)))
        frames.append(pd.DataFrame({"date": dates, "ticker": f"I{j}", "open": close, "high": close * 1.01,
                                    "low": close * 0.99, "close": close, "volume": 1e6}))
    return pd.concat(frames).set_index(["date", "ticker"]).sort_index()


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return synthetic_panel(3, 320, seed=11)


def _simple(data) -> pd.DataFrame:
    return pd.DataFrame(data.simple_returns(), index=data.dates, columns=data.tickers)


@pytest.mark.parametrize("name", ["kelly", "threshold", "betsize", "voltarget", "longshort"])
def test_perfect_foresight_wins_every_day_and_a_shift_loses_the_edge(name) -> None:
    market = iid_panel(3, 320, seed=2)
    spec = get(name)
    params = parse_params(spec, None)
    good = run_backtest(align(market, oracle_forecasts(market)), spec, params, FREE)
    invested = good.holdings.iloc[:-1].abs().sum(axis=1).to_numpy() > 1e-9
    r = good.returns.to_numpy()
    moved = np.abs(r) > 1e-12
    assert invested.sum() > 100
    assert (r[invested & moved] > 0).all()
    late = run_backtest(align(market, oracle_forecasts(market, shift=1)), spec, params, FREE)
    assert abs(late.returns.mean()) < 0.1 * good.returns.mean()
    assert 0.35 < (late.returns[late.returns != 0] > 0).mean() < 0.65


@pytest.mark.parametrize("name", ["kelly", "voltarget", "threshold", "betsize", "longshort", "buyhold", "sma"])
def test_numpy_replay_agrees_with_backtrader_costs_included(market, name) -> None:
    fc = oracle_forecasts(market)
    rng = np.random.default_rng(0)
    fc["mean"] = 0.3 * fc["mean"] + rng.normal(0, 0.01, len(fc))  # a noisy forecast: trades both ways
    data = align(market, fc)
    spec = get(name)
    params = parse_params(spec, ["slow=30", "fast=5"] if name == "sma" else None)
    ex = Execution(commission_bps=5.0, slippage_bps=5.0, band=0.01)
    result = run_backtest(data, spec, params, ex)
    check = replay(result.holdings.iloc[:-1], _simple(data), ex.cost_bps)
    gap = (check["net"] - result.returns.reindex(check.index)).abs()
    assert gap.mean() < 1e-4  # within 1 bp a day on average
    assert result.costs.sum() > 0
    assert (result.gross_returns - result.returns).sum() == pytest.approx(result.costs.sum())
    cost_gap = (check["cost"] - result.costs.reindex(check.index)).abs().mean()
    assert cost_gap < 1e-5


@pytest.mark.parametrize("name", ["kelly", "longshort", "sma"])
def test_the_fast_paths_give_backtraders_own_numbers(monkeypatch, name) -> None:
    # qtrade's broker skips the copies of unfinished orders, its feed preloads in one step and the strategy
    # reads arrays; stock backtrader (BackBroker, bar-by-bar preload, tick copies) must give the same fills.
    import backtests.engine as engine
    from strategies.backtrader_compat import bt
    from strategies.feeds import ForecastData

    panel = synthetic_panel(4, 260, seed=5, missing=0.02)  # gaps: untradable, carried days
    fc = oracle_forecasts(panel, test_from=60)
    fc["mean"] = 0.3 * fc["mean"] + np.random.default_rng(1).normal(0, 0.01, len(fc))
    data = align(panel, fc)
    spec = get(name)
    params = parse_params(spec, ["k=1"] if name == "longshort" else ["slow=20", "fast=5"] if name == "sma" else None)
    ex = Execution(commission_bps=3.0, slippage_bps=2.0, band=0.01)
    fast = run_backtest(data, spec, params, ex)
    with monkeypatch.context() as m:
        m.setattr(engine, "LeanBroker", bt.brokers.BackBroker)
        m.setattr(ForecastData, "preload", bt.feed.DataBase.preload)
        m.setattr(ForecastData, "_tick_fill", bt.feed.DataBase._tick_fill)
        m.setattr(ForecastData, "_tick_nullify", bt.feed.DataBase._tick_nullify)
        stock = run_backtest(data, spec, params, ex)
    assert len(fast.fills) > 20
    pd.testing.assert_frame_equal(fast.fills, stock.fills)
    pd.testing.assert_series_equal(fast.returns, stock.returns)
    pd.testing.assert_frame_equal(fast.holdings, stock.holdings)


def test_costs_are_charged_in_basis_points_of_traded_value(market) -> None:
    data = align(market, oracle_forecasts(market))
    spec, params = get("threshold"), parse_params(get("threshold"), None)
    free = run_backtest(data, spec, params, FREE)
    paid = run_backtest(data, spec, params, Execution(commission_bps=10.0, slippage_bps=0.0))
    fills = paid.fills[paid.fills["side"] != "rejected"]
    assert fills["commission"].sum() == pytest.approx((fills["value"] * 10 / 1e4).sum())
    assert paid.returns.sum() < free.returns.sum()


def test_rebalance_band_skips_small_trades(market) -> None:
    fc = oracle_forecasts(market)
    data = align(market, fc)
    spec, params = get("kelly"), parse_params(get("kelly"), ["fraction=0.02", "max_leverage=1"])
    every = run_backtest(data, spec, params, FREE)
    banded = run_backtest(data, spec, params, Execution(commission_bps=0.0, slippage_bps=0.0, band=0.05))
    equity = banded.equity
    fills = banded.fills[banded.fills["side"] != "rejected"]
    share = fills["value"].to_numpy() / equity.reindex(pd.DatetimeIndex(fills["date"])).to_numpy()
    assert len(fills) < len(every.fills)
    assert (share >= 0.05 * 0.99).all()


def test_fractional_positions_at_index_level_prices() -> None:
    panel = synthetic_panel(1, 260, seed=3)
    panel[["open", "high", "low", "close"]] *= 5000.0  # a price near the account's size
    fc = oracle_forecasts(panel)
    spec = get("threshold")
    result = run_backtest(align(panel, fc), spec, parse_params(spec, ["weight=0.37"]),
                          Execution(cash=10_000.0, commission_bps=0.0, slippage_bps=0.0))
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
    fills_that_day = result.fills[pd.DatetimeIndex(result.fills["date"]) == t0]
    assert fills_that_day.empty


def test_a_strategy_sees_only_the_forecast_made_at_its_close(market) -> None:
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
    for (mean, close), date, expected_close in zip(seen, dates, closes):
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
    data = align(panel, oracle_forecasts(synthetic_panel(2, 260, seed=9)).pipe(
        lambda f: f[~((f["date"] == dates[200]) | (f["date"] == dates[199]))]), split="test")
    j = data.tickers.index("T0000")
    t = data.dates.get_loc(dates[200])
    assert not data.tradable[t, j]
    assert data.prices["close"][t, j] == data.prices["close"][t - 1, j]  # carried, not interpolated


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
    for name in ("tearsheet.html", "returns.csv", "trades.csv", "holdings.csv", "deciles.csv", "stats.json",
                 "manifest.json"):
        assert (out / name).is_file(), name
    page = (out / "tearsheet.html").read_text()
    for text in ("Sharpe", "Max Drawdown", "Buy and hold", "The forecast behind the trades", "R2 vs zero",
                 "Calibration", "Profit by decile of forecast confidence", "Forecast MSE (x1e4)", "<svg"):
        assert text in page, text
    stats = json.loads((out / "stats.json").read_text())
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
    with pytest.raises(DataError, match="no forecasts.parquet or forecasts.csv"):
        load_forecasts(tmp_path)
    other = oracle_forecasts(synthetic_panel(3, 320, seed=99))
    with pytest.raises(DataError, match="not the close-to-close returns"):
        align(market, other)


runner = CliRunner()


def test_cli_backtest_report_and_strategies(tmp_path: Path, market) -> None:
    data = tmp_path / "panel.csv"
    market.reset_index().to_csv(data, index=False)
    fc = tmp_path / "forecasts.csv"
    oracle_forecasts(market).to_csv(fc, index=False)
    out = tmp_path / "bt"
    res = runner.invoke(app, ["backtest", "--strategy", "longshort", "--param", "k=1", "--forecasts", str(fc),
                              "--data", str(data), "--commission-bps", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "longshort on 3 tickers" in res.output and (out / "tearsheet.html").is_file()
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
    ],
)
def test_cli_backtest_errors_are_one_line(tmp_path: Path, market, args, message) -> None:
    data = tmp_path / "panel.csv"
    market.reset_index().to_csv(data, index=False)
    fc = tmp_path / "forecasts.csv"
    oracle_forecasts(market).to_csv(fc, index=False)
    res = runner.invoke(app, ["backtest", "--forecasts", str(fc), "--data", str(data), "--out", str(tmp_path / "o"),
                              *args])
    assert res.exit_code == 1
    assert message in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_cli_report_on_a_wrong_folder(tmp_path: Path) -> None:
    res = runner.invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 1 and "finished qtrade backtest" in res.output
