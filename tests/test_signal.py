"""qtrade signal: from a finished backtest and the data of one close, the decision the backtest made there.

The acceptance property is parity: for every built-in strategy and every execution mode, a signal made from the
data truncated at a close T of the backtest's test period, with the book the backtest held at T, decides exactly
the row of ``decisions.csv`` for T, from the same forecast. Stale data and a restated history are refused with
one line and exit code 1, and nothing is written.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backtests.engine import Execution
from forecasting.market.synthetic import synthetic_panel
from forecasting.pipeline import run_forecast
from forecasting.preparation.execution import EXECUTIONS
from live import Holdings, RestatedHistory, StaleData, make_signal, read_holdings
from live.sessions import latest_session
from qtrade.cli import app
from strategies import available
from tests.live_runs import BUILT_IN, TINY, backtest


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return synthetic_panel(4, 240, seed=3)


@pytest.fixture(scope="module")
def forecast_runs(panel, tmp_path_factory) -> dict[str, Path]:
    """One tiny forecast run per execution mode (each forecasts the return its mode holds)."""
    root = tmp_path_factory.mktemp("fc")
    out = {}
    for mode in EXECUTIONS:
        from dataclasses import replace

        run_forecast(panel, replace(TINY, execution=mode), root / mode, progress=False)
        out[mode] = root / mode
    return out


def _held_at(result, date: pd.Timestamp, equity: float = 1e6) -> Holdings:
    """The book the backtest held at the close of ``date``, before that close's orders, as shares and cash."""
    data = result.data
    close = pd.Series(data.prices["close"][data.dates.get_loc(date)], index=data.tickers)
    return Holdings.from_weights(result.before.loc[date], equity, close)


def _check_parity(panel, run, out: Path, days) -> None:
    decisions = pd.read_csv(out / "decisions.csv", index_col="date", parse_dates=["date"])
    forecasts = pd.read_parquet(_forecasts_of(out))
    for day in days:
        truncated = panel[panel.index.get_level_values("date") <= day]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            signal = make_signal(out, truncated, holdings=_held_at(run.result, day), as_of=day)
        assert signal.date == day
        mine, theirs = signal.decision.to_numpy(), decisions.loc[day].to_numpy()
        assert np.array_equal(np.isnan(mine), np.isnan(theirs)), (day, mine, theirs)
        np.testing.assert_allclose(mine[~np.isnan(mine)], theirs[~np.isnan(theirs)], rtol=0, atol=1e-9)
        made = forecasts[forecasts["date"] == day].set_index("ticker").sort_index()
        got = signal.forecasts.set_index("ticker").sort_index()
        assert got.index.equals(made.index)
        np.testing.assert_array_equal(got["mean"].to_numpy(), made["mean"].to_numpy())
        np.testing.assert_array_equal(got["variance"].to_numpy(), made["variance"].to_numpy())


def _forecasts_of(out: Path) -> Path:
    manifest = json.loads((out / "manifest.json").read_text())
    return Path(manifest["config"]["forecasts"]) / "forecasts.parquet"


def test_every_built_in_strategy_is_tested_here() -> None:
    assert {s.name for s in available()} >= set(BUILT_IN)
    assert set(BUILT_IN) >= {"kelly", "voltarget", "threshold", "betsize", "longshort", "riskparity", "buyhold", "sma"}


@pytest.mark.parametrize("mode", EXECUTIONS)
@pytest.mark.parametrize("strategy", BUILT_IN)
def test_the_signal_decides_what_the_backtest_decided_at_that_close(
    panel, forecast_runs, tmp_path, strategy, mode
) -> None:
    out = tmp_path / "bt"
    run = backtest(panel, forecast_runs[mode], out, strategy, Execution(mode=mode))
    origins = run.result.decisions.index
    _check_parity(panel, run, out, [origins[0], origins[1], origins[len(origins) // 2], origins[-2]])


@pytest.mark.parametrize("mode", EXECUTIONS)
def test_parity_holds_with_the_band_no_shorts_weekly_decisions_and_a_target_volatility(
    panel, forecast_runs, tmp_path, mode
) -> None:
    out = tmp_path / "bt"
    execution = Execution(mode=mode, band=0.02, short=False, rebalance="weekly", target_vol=0.1, max_gross=1.5)
    run = backtest(panel, forecast_runs[mode], out, "kelly", execution)
    origins = run.result.decisions.index
    weekly = pd.Series(origins.to_period("W"), index=origins)
    first_of_week = origins[(weekly != weekly.shift()).to_numpy()]
    days = [first_of_week[1], first_of_week[1] + pd.offsets.BDay(2), origins[-3]]
    assert run.result.decisions.loc[days[1]].isna().all()  # a day between rebalances keeps every position
    _check_parity(panel, run, out, days)


def test_next_open_orders_are_the_engines_orders(panel, forecast_runs, tmp_path) -> None:
    """Sized at the close with the engine's equity, the orders are the ones the engine sent, and the fills the
    participation cap left are the share limits."""
    out = tmp_path / "bt"
    run = backtest(panel, forecast_runs["next-open"], out, "kelly", Execution(mode="next-open"))
    result = run.result
    trades = pd.read_csv(out / "trades.csv", parse_dates=["date"])
    dates = result.data.dates
    checked = 0
    for day in result.decisions.index[2:8]:
        truncated = panel[panel.index.get_level_values("date") <= day]
        held = _held_at(result, day, equity=float(result.equity.loc[day]))
        signal = make_signal(out, truncated, holdings=held, as_of=day)
        fills = trades[trades["date"] == dates[dates.get_loc(day) + 1]].set_index("ticker")
        orders = signal.orders.set_index("ticker")
        assert sorted(orders.index) == sorted(fills.index)
        assert (orders["order_type"] == "market-on-open").all()
        np.testing.assert_allclose(orders["shares"], fills.loc[orders.index, "requested"], rtol=1e-9)
        assert (orders["side"] == fills.loc[orders.index, "side"]).all()
        filled = np.minimum(orders["shares"], orders["share_limit"])
        np.testing.assert_allclose(filled, fills.loc[orders.index, "size"], rtol=1e-9)
        checked += len(orders)
    assert checked > 10


@pytest.fixture(scope="module")
def finished(panel, forecast_runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "bt"
    backtest(panel, forecast_runs["next-close"], out, "kelly", Execution(mode="next-close"))
    return out


def _csv(panel: pd.DataFrame, path: Path) -> Path:
    panel.reset_index().to_csv(path, index=False)
    return path


def test_the_command_writes_targets_and_orders(panel, finished, tmp_path) -> None:
    day = pd.Timestamp(panel.index.get_level_values("date")[-1])
    data = _csv(panel, tmp_path / "latest.csv")
    (tmp_path / "book.csv").write_text("ticker,shares\nT0001,300\nT0002,-50.5\ncash,900000\n")
    out = tmp_path / "signal"
    result = CliRunner().invoke(
        app,
        ["signal", str(finished), "--data", str(data), "--holdings", str(tmp_path / "book.csv"),
         "--as-of", f"{day:%Y-%m-%d}", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "market-on-close" in result.output
    targets = pd.read_csv(out / "targets.csv")
    orders = pd.read_csv(out / "orders.csv")
    assert targets["ticker"].tolist() == ["T0000", "T0001", "T0002", "T0003"]
    assert orders.columns.tolist() == ["ticker", "side", "shares", "order_type", "share_limit", "price", "value"]
    assert json.loads((out / "orders.json").read_text())[0].keys() == set(orders.columns)
    summary = json.loads((out / "signal.json").read_text())
    assert summary["date"] == f"{day:%Y-%m-%d}" and summary["execution"] == "next-close"
    book = read_holdings(tmp_path / "book.csv", targets["ticker"].tolist())
    close = panel.xs(day, level="date")["close"]
    weights, equity = book.weights(close)
    assert summary["equity"] == pytest.approx(equity)
    np.testing.assert_allclose(targets["current"], weights.to_numpy(), rtol=1e-12)
    # each order moves its ticker from the weight held to the target, at tonight's close
    moved = targets.set_index("ticker").loc[orders["ticker"]]
    signed = np.where(orders["side"] == "buy", 1.0, -1.0) * orders["shares"].to_numpy()
    np.testing.assert_allclose(signed * orders["price"] / equity, moved["weight"] - moved["current"], atol=1e-12)


def test_stale_data_is_refused_in_one_line_and_nothing_is_written(panel, finished, tmp_path) -> None:
    dates = panel.index.get_level_values("date").unique()
    data = _csv(panel[panel.index.get_level_values("date") <= dates[-4]], tmp_path / "old.csv")
    out = tmp_path / "signal"
    result = CliRunner().invoke(
        app, ["signal", str(finished), "--data", str(data), "--as-of", f"{dates[-1]:%Y-%m-%d}", "--out", str(out)]
    )
    assert result.exit_code == 1
    line = result.output.strip()
    assert "\n" not in line
    assert line == (
        f"error: data is stale by 3 sessions (last {dates[-4]:%Y-%m-%d}, expected {dates[-1]:%Y-%m-%d}); give data "
        "up to the latest close, or --as-of the day it ends"
    )
    assert not out.exists()
    with pytest.raises(StaleData, match="after"):  # nor may data run past the moment
        make_signal(finished, panel, as_of=dates[-2])


def test_a_restated_history_is_refused_naming_tickers_and_dates(panel, finished, tmp_path) -> None:
    dates = panel.index.get_level_values("date").unique()
    restated = panel.copy()
    split = restated.index.get_level_values("date") >= dates[100]
    mask = split & (restated.index.get_level_values("ticker") == "T0002")
    restated.loc[mask, ["open", "high", "low", "close"]] /= 2  # a 2-for-1 split adjusted late
    restated = restated.drop(index=(dates[150], "T0003"))  # a row gone
    data = _csv(restated, tmp_path / "restated.csv")
    out = tmp_path / "signal"
    result = CliRunner().invoke(
        app, ["signal", str(finished), "--data", str(data), "--as-of", f"{dates[-1]:%Y-%m-%d}", "--out", str(out)]
    )
    assert result.exit_code == 1
    line = result.output.strip()
    assert "\n" not in line and line.startswith("error: ")
    assert f"T0002 from {dates[100]:%Y-%m-%d}, T0003 from {dates[150]:%Y-%m-%d}" in line
    assert not out.exists()
    with pytest.raises(RestatedHistory):
        make_signal(finished, restated, as_of=dates[-1])


def test_without_holdings_the_book_is_the_one_the_backtest_ended_with(panel, finished) -> None:
    day = pd.Timestamp(panel.index.get_level_values("date")[-1])
    signal = make_signal(finished, panel, as_of=day)
    last = pd.read_csv(finished / "holdings.csv", index_col="date").iloc[-1]
    np.testing.assert_allclose(signal.current.to_numpy(), last.to_numpy(), atol=1e-12)
    returns = pd.read_csv(finished / "returns.csv")["strategy"]
    assert signal.equity == pytest.approx(1e6 * float(np.prod(1 + returns)))


def test_bad_holdings_are_refused_in_one_line(finished, tmp_path) -> None:
    tickers = ["T0000", "T0001"]
    for text, message in [
        ("ticker,shares\nT0000,10\n", "one row whose ticker is cash"),
        ("ticker,shares\nXYZ,10\ncash,5\n", "XYZ not traded by the backtest run"),
        ("ticker,shares\nT0000,ten\ncash,5\n", "not a number"),
        ("name,qty\nT0000,1\n", "columns ticker and shares"),
    ]:
        path = tmp_path / "book.csv"
        path.write_text(text)
        with pytest.raises(Exception, match=message):
            read_holdings(path, tickers)


def test_the_latest_completed_session_follows_the_exchange_close() -> None:
    friday = pd.Timestamp("2024-05-17")
    assert latest_session(None, friday) == friday
    assert latest_session(None, pd.Timestamp("2024-05-20")) == pd.Timestamp("2024-05-20")
    assert latest_session("XTKS", pd.Timestamp("2024-05-17 05:00", tz="UTC")) == pd.Timestamp("2024-05-16")
    assert latest_session("XTKS", pd.Timestamp("2024-05-17 07:00", tz="UTC")) == friday  # after the close in Tokyo
    assert latest_session("XNYS", pd.Timestamp("2024-05-27")) == pd.Timestamp("2024-05-24")  # Memorial Day


def test_the_signal_says_when_the_walk_forward_would_refit(tmp_path) -> None:
    """A walk-forward run's model is its last fold's: the signal says when the schedule refits next, and once the
    data has reached that date, that a refit is due since then."""
    from dataclasses import replace

    panel = synthetic_panel(3, 262, seed=5)
    dates = panel.index.unique("date")
    history = panel[panel.index.get_level_values("date") <= dates[241]]
    run_forecast(history, replace(TINY, refit_every="16", val_days=30), tmp_path / "fc", progress=False)
    backtest(history, tmp_path / "fc", tmp_path / "bt", "kelly", Execution())
    folds = json.loads((tmp_path / "fc" / "metrics.json").read_text())["walk_forward"]["folds"]
    last = dates.get_loc(pd.Timestamp(folds[-1]["refit"]))
    assert len(folds) >= 2 and last + 16 > 241
    now = make_signal(tmp_path / "bt", history, as_of=dates[241])
    assert not now.refit.due and now.refit.model_from == dates[last]
    assert now.refit.sessions_left == last + 16 - 241
    later = make_signal(tmp_path / "bt", panel, as_of=dates[-1])
    assert later.refit.due and later.refit.due_since == dates[last + 16]
    assert later.refit.sentence().startswith(f"refit due since {dates[last + 16]:%Y-%m-%d}")
    out = tmp_path / "signal"
    data = _csv(panel, tmp_path / "latest.csv")
    result = CliRunner().invoke(
        app, ["signal", str(tmp_path / "bt"), "--data", str(data), "--as-of", f"{dates[-1]:%Y-%m-%d}", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "warning: refit due since" in result.output
    assert json.loads((out / "signal.json").read_text())["refit"]["due"] is True


def test_a_single_split_run_has_no_refit_schedule(panel, finished) -> None:
    day = pd.Timestamp(panel.index.get_level_values("date")[-1])
    signal = make_signal(finished, panel, as_of=day)
    assert signal.refit.schedule is None and not signal.refit.due
    assert signal.summary()["refit"]["sentence"].startswith("no walk-forward schedule")


def test_a_monthly_rule_forecasts_back_to_its_previous_decision(panel, forecast_runs, tmp_path, monkeypatch) -> None:
    """The tickers active at the rule's previous decision need that close's forecasts: when it lies before the
    closes forecast at first, the signal forecasts back to it, and still decides as the backtest did."""
    import live.signal

    out = tmp_path / "bt"
    run = backtest(panel, forecast_runs["next-close"], out, "kelly", Execution(rebalance="monthly"))
    origins = run.result.decisions.index
    monkeypatch.setitem(live.signal._LOOKBACK, "monthly", 2)
    calls = []
    real = live.signal._forecast_and_align
    monkeypatch.setattr(live.signal, "_forecast_and_align", lambda *a: calls.append(a[3]) or real(*a))
    months = pd.Series(origins.to_period("M"), index=origins)
    first_of_month = origins[(months != months.shift()).to_numpy()]
    late = origins[origins < first_of_month[-1]][-1]  # the last close of a month: its decision keeps
    _check_parity(panel, run, out, [first_of_month[-1], late])
    assert len(calls) == 4 and calls[3] == first_of_month[-2]  # the second: back to the month's first close


def test_a_rule_of_ones_own_is_found_from_the_folder_the_backtest_ran_in(
    panel, forecast_runs, tmp_path, monkeypatch
) -> None:
    import shutil

    example = Path(__file__).resolve().parents[1] / "examples" / "custom_rules.py"
    shutil.copy(example, tmp_path / "rules.py")
    monkeypatch.chdir(tmp_path)
    run = backtest(panel, forecast_runs["next-close"], Path("bt"), "rules.py:hysteresis", Execution())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    origins = run.result.decisions.index
    _check_parity(panel, run, tmp_path / "bt", [origins[3], origins[-2]])
