"""qtrade paper: a ledger that keeps a backtest's book one session at a time.

The acceptance property is parity: replaying ``paper`` day by day over a backtest's test period, with the data
truncated at each day, gives the backtest's decisions, fills, costs and daily returns to 1e-9, for every
built-in strategy and every execution mode (the engine is backtrader's; the ledger's fills are
:mod:`live.fills`'). Running a session twice changes nothing; a run killed at any of five moments resumes with
nothing lost or doubled; stale data and a restated history are refused in one line with nothing written.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backtests.costs import CostModel
from backtests.engine import Execution
from backtests.risk_free import RiskFree
from forecasting.market.synthetic import synthetic_panel
from forecasting.pipeline import run_forecast
from forecasting.preparation.execution import EXECUTIONS
from live import Ledger, read_run
from live.paper import paper
from qtrade.cli import app
from tests.live_runs import BUILT_IN, TINY, backtest

TABLES = ["days", "positions", "decisions", "orders", "pending", "fills", "forecasts", "rows", "meta"]


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return synthetic_panel(4, 240, seed=3)


@pytest.fixture(scope="module")
def forecast_runs(panel, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fc")
    for mode in EXECUTIONS:
        run_forecast(panel, replace(TINY, execution=mode), root / mode, progress=False)
    return {mode: root / mode for mode in EXECUTIONS}


def _upto(panel: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    return panel[panel.index.get_level_values("date") <= day]


def _replay(panel, out: Path, url: str, days) -> Ledger:
    """The ledger's sessions, one evening at a time, each on the data up to it."""
    folder, ledger = read_run(out), Ledger(url)
    for day in days:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            paper(folder, _upto(panel, day), ledger, as_of=day)
    return ledger


def _check_parity(result, ledger: Ledger) -> None:
    """Decisions, fills, costs and returns of the ledger equal the backtest's, but for its last close (the
    backtest sends nothing there: the period ends; a ledger goes on)."""
    days = result.decisions.index
    kept = days[:-1]
    decisions = ledger.table("decisions").pivot(index="date", columns="ticker", values="weight")
    mine, theirs = decisions.loc[kept].to_numpy(), result.decisions.loc[kept].to_numpy()
    assert np.array_equal(np.isnan(mine), np.isnan(theirs))
    np.testing.assert_allclose(mine[~np.isnan(mine)], theirs[~np.isnan(theirs)], rtol=0, atol=1e-9)

    recorded = ledger.days()
    net = recorded["net"].dropna()
    assert net.index.equals(result.returns.index[: len(net)])
    np.testing.assert_allclose(net.loc[kept[1:]], result.returns.loc[kept[1:]], rtol=0, atol=1e-9)
    np.testing.assert_allclose(recorded["costs"].dropna().loc[kept[1:]], result.costs.loc[kept[1:]], rtol=0, atol=1e-9)

    fills = ledger.table("fills")
    fills = fills[fills["date"] < days[-1]].set_index(["date", "ticker"]).sort_index()
    engine = result.fills[result.fills["date"] < days[-1]].set_index(["date", "ticker"]).sort_index()
    assert (engine["side"] != "rejected").all()
    assert fills.index.equals(engine.index), (
        fills.index.difference(engine.index),
        engine.index.difference(fills.index),
    )
    assert (fills["side"] == engine["side"]).all()
    for column in ["requested", "size", "price", "value", "commission", "spread", "impact", "delisting"]:
        np.testing.assert_allclose(fills[column], engine[column], rtol=1e-9, atol=1e-9, err_msg=column)


@pytest.mark.slow
@pytest.mark.parametrize("mode", EXECUTIONS)
@pytest.mark.parametrize("strategy", BUILT_IN)
def test_a_ledger_replayed_day_by_day_is_thebacktest(panel, forecast_runs, tmp_path, strategy, mode) -> None:
    """Under estimated spreads, a risk-free rate, borrow, financing and the participation cap."""
    out = tmp_path / "bt"
    execution = Execution(mode=mode, costs=CostModel(spread="auto"), rf=RiskFree(0.03))
    run = backtest(panel, forecast_runs[mode], out, strategy, execution)
    assert len(run.result.fills) > 0
    ledger = _replay(panel, out, f"sqlite:///{tmp_path / 'paper.db'}", run.result.decisions.index)
    _check_parity(run.result, ledger)


@pytest.mark.slow
@pytest.mark.parametrize("mode", EXECUTIONS)
def test_parity_holds_with_the_band_no_shorts_weekly_decisions_a_target_volatility_and_a_tight_cap(
    panel, forecast_runs, tmp_path, mode
) -> None:
    out = tmp_path / "bt"
    costs = CostModel(participation=0.002, impact=1.0)  # caps that bind: orders fill in part
    execution = Execution(
        mode=mode, costs=costs, band=0.02, short=False, rebalance="weekly", target_vol=0.1, max_gross=1.5
    )
    run = backtest(panel, forecast_runs[mode], out, "kelly", execution)
    partial = run.result.fills["size"] < run.result.fills["requested"] - 1e-9
    assert partial.any()
    ledger = _replay(panel, out, f"sqlite:///{tmp_path / 'paper.db'}", run.result.decisions.index)
    _check_parity(run.result, ledger)


@pytest.fixture(scope="module")
def finished(panel, forecast_runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "bt"
    backtest(panel, forecast_runs["next-open"], out, "kelly", Execution(mode="next-open", rf=RiskFree(0.02)))
    return out


def _dump(url: str) -> dict[str, pd.DataFrame]:
    """Every table of a ledger, its rows sorted, without the moments each session was run and recorded at."""
    import json

    ledger = Ledger(url)
    out = {}
    for name in TABLES:
        frame = ledger._frame(name)
        frame = frame.drop(columns=[c for c in ("recorded",) if c in frame.columns])
        if "summary" in frame.columns:
            frame["summary"] = [json.dumps({**json.loads(t), "as_of": None}) for t in frame["summary"]]
        out[name] = frame.sort_values(list(frame.columns[:2]), ignore_index=True)
    return out


def _same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


def test_a_session_run_twice_changes_nothing_and_missed_evenings_are_caught_up(panel, finished, tmp_path) -> None:
    dates = panel.index.unique("date")
    days = list(dates[-6:])
    daily = f"sqlite:///{tmp_path / 'daily.db'}"
    _replay(panel, finished, daily, days)
    before = _dump(daily)
    _replay(panel, finished, daily, days[-1:])  # the same evening again
    _same(before, _dump(daily))
    assert len(before["days"]) == 6 and before["days"]["net"].isna().sum() == 1
    caught = f"sqlite:///{tmp_path / 'caught.db'}"
    _replay(panel, finished, caught, [days[0], days[-1]])  # five evenings missed, then one run
    _same(before, _dump(caught))


_KILL = """
import os, sys
import live, live.ledger, live.paper
from qtrade.cli import app

moment = sys.argv[1]

def dying(original, after=True):
    def wrapped(*args, **kwargs):
        if not after:
            os._exit(9)
        out = original(*args, **kwargs)
        os._exit(9)
    return wrapped

if moment == "started":  # the ledger's tables made, nothing recorded yet
    live.ledger.Ledger.create = dying(live.ledger.Ledger.create)
elif moment == "decided":  # the first new session computed, nothing of it written
    live.paper.session = dying(live.paper.session)
elif moment == "claimed":  # inside the transaction: the session's row written, nothing else
    live.ledger.Ledger._insert_rows = dying(live.ledger.Ledger._insert_rows, after=False)
elif moment == "written":  # inside the transaction: every row written, not committed
    live.ledger.Ledger._insert_rows = dying(live.ledger.Ledger._insert_rows)
elif moment == "committed":  # the first new session committed, the second not begun
    original = live.ledger.Ledger.record
    calls = []
    def second(self, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            os._exit(9)
        return original(self, *a, **k)
    live.ledger.Ledger.record = second
elif moment == "outputs":  # every session committed, the files not written
    live.write_day = dying(live.write_day, after=False)
app(sys.argv[2:], standalone_mode=True)
"""


@pytest.mark.parametrize("moment", ["started", "decided", "claimed", "written", "committed", "outputs"])
def test_a_ledger_killed_at_any_moment_resumes_with_nothing_lost_or_doubled(panel, finished, tmp_path, moment) -> None:
    dates = panel.index.unique("date")
    first, last = dates[-4], dates[-1]
    data = tmp_path / "latest.csv"
    panel.reset_index().to_csv(data, index=False)
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    _replay(panel, finished, reference, [first, last])
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'paper.db'}"
    if moment != "started":
        _replay(panel, finished, url, [first])
    args = ["paper", str(finished), "--data", str(data), "--ledger", url, "--as-of", f"{last:%Y-%m-%d}"]
    args += ["--out", str(tmp_path / "orders")]
    if moment == "started":  # a new ledger's first session, on data up to the first day
        old = tmp_path / "first.csv"
        _upto(panel, first).reset_index().to_csv(old, index=False)
        killed = [*args[:3], str(old), *args[4:6], "--as-of", f"{first:%Y-%m-%d}"]
    else:
        killed = args
    died = subprocess.run([sys.executable, "-c", _KILL, moment, *killed], capture_output=True, text=True)
    assert died.returncode == 9, died.stderr[-2000:]
    if moment == "started":
        result = runner.invoke(app, [*killed])
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    _same(_dump(reference), _dump(url))
    again = runner.invoke(app, args)  # and once more: nothing changes
    assert again.exit_code == 0 and "recorded already" in again.output
    _same(_dump(reference), _dump(url))
    orders = pd.read_csv(tmp_path / "orders" / "orders.csv")
    recorded = Ledger(url).table("orders")
    assert len(orders) == int((recorded["date"] == last).sum()) > 0


def test_stale_data_and_a_restated_history_are_refused_in_one_line_with_nothing_written(
    panel, finished, tmp_path
) -> None:
    dates = panel.index.unique("date")
    runner = CliRunner()
    old = tmp_path / "old.csv"
    _upto(panel, dates[-3]).reset_index().to_csv(old, index=False)
    db = tmp_path / "paper.db"
    args = ["--ledger", f"sqlite:///{db}", "--as-of", f"{dates[-1]:%Y-%m-%d}", "--out", str(tmp_path / "o")]
    result = runner.invoke(app, ["paper", str(finished), "--data", str(old), *args])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "stale by 2 sessions" in result.output
    restated = panel.copy()
    mask = (restated.index.get_level_values("ticker") == "T0001") & (
        restated.index.get_level_values("date") >= dates[50]
    )
    restated.loc[mask, ["open", "high", "low", "close"]] *= 2
    bad = tmp_path / "restated.csv"
    restated.reset_index().to_csv(bad, index=False)
    result = runner.invoke(app, ["paper", str(finished), "--data", str(bad), *args])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and f"T0001 from {dates[50]:%Y-%m-%d}" in result.output
    assert not db.exists() and not (tmp_path / "o").exists()


def test_a_row_the_ledger_read_restated_later_is_refused(panel, finished, tmp_path) -> None:
    """Past the backtest's history (cut short here), the ledger's own record of the rows it read names a
    correction of one of them."""
    from live import RestatedHistory

    dates = panel.index.unique("date")
    full = read_run(finished)
    folder = replace(full, history=full.history[pd.to_datetime(full.history["date"]) <= dates[-5]])
    ledger = Ledger(f"sqlite:///{tmp_path / 'paper.db'}")
    for day in dates[-4:-2]:
        paper(folder, _upto(panel, day), ledger, as_of=day)
    assert set(ledger.hashes()["date"]) == set(dates[-4:-2])
    corrected = panel.copy()
    corrected.loc[(dates[-4], "T0002"), "volume"] += 1
    with pytest.raises(RestatedHistory, match=f"T0002 from {dates[-4]:%Y-%m-%d}"):
        paper(folder, corrected, ledger, as_of=dates[-1])
    assert Ledger(ledger.url).days().index[-1] == dates[-3]  # nothing recorded
    paper(folder, panel, ledger, as_of=dates[-1])  # the data as it was read: the ledger goes on
    assert Ledger(ledger.url).days().index[-1] == dates[-1]


def test_the_ledger_refuses_another_run(panel, forecast_runs, finished, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'paper.db'}"
    dates = panel.index.unique("date")
    _replay(panel, finished, url, [dates[-2]])
    other = tmp_path / "other"
    backtest(panel, forecast_runs["next-open"], other, "sma", Execution(mode="next-open"))
    with pytest.raises(Exception, match="trades kelly of"):
        paper(read_run(other), panel, Ledger(url), as_of=dates[-1])


def test_a_postgresql_ledger_records_what_a_sqlite_one_does(panel, finished, tmp_path, postgres) -> None:
    dates = panel.index.unique("date")
    days = list(dates[-3:])
    lite = f"sqlite:///{tmp_path / 'paper.db'}"
    _replay(panel, finished, lite, days)
    _replay(panel, finished, postgres, days)
    a, b = _dump(lite), _dump(postgres)
    for name in TABLES:
        pd.testing.assert_frame_equal(a[name], b[name], check_dtype=False, obj=name)


def test_the_report_replays_the_backtest_over_the_ledgers_sessions(panel, finished, tmp_path) -> None:
    """A ledger begun late in the period (a fresh book) is what the engine does from the same cash and forecasts:
    no session differs, and the benchmark drawn from the prices the ledger read is the engine's."""
    import json

    from live.ledger_report import expectation

    dates = panel.index.unique("date")
    url = f"sqlite:///{tmp_path / 'paper.db'}"
    ledger = _replay(panel, finished, url, list(dates[-9:]))
    data = tmp_path / "latest.csv"
    panel.reset_index().to_csv(data, index=False)
    result = CliRunner().invoke(app, ["report", "--ledger", url, "--data", str(data), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["expectation"]["days"] == 7 and report["expectation"]["days_that_differ"] == 0  # 8, the last left out
    assert report["expectation"]["tracking_error"] < 1e-12 and abs(report["expectation"]["cumulative_gap"]) < 1e-12
    assert "overlaps the backtest's" in report["against_backtest"]["absent"]  # not two independent estimates
    returns = pd.read_csv(tmp_path / "r" / "returns.csv", index_col="date", parse_dates=["date"])
    assert list(returns.columns) == ["strategy", "strategy_gross", "costs", "benchmark", "rf", "expected"]
    expected = expectation(ledger, read_run(finished), panel)
    np.testing.assert_allclose(returns["benchmark"], expected.benchmark.loc[returns.index], rtol=0, atol=1e-12)
    np.testing.assert_allclose(returns["strategy"], expected.returns.loc[returns.index], rtol=0, atol=1e-9)
    assert returns["rf"].iloc[0] == pytest.approx(0.02 / 252)
    assert "<h3>Paper ledger: kelly, next-open</h3>" in (tmp_path / "r" / "tearsheet.html").read_text()


def test_the_report_says_why_a_session_differs_and_needs_no_data(panel, forecast_runs, tmp_path) -> None:
    """Under same-close the ledger fills its last decision at that close; the backtest's period ends there and it
    sends nothing: the one session that differs, with both reasons."""
    import json

    out = tmp_path / "bt"
    backtest(panel, forecast_runs["same-close"], out, "kelly", Execution(mode="same-close"))
    dates = panel.index.unique("date")
    url = f"sqlite:///{tmp_path / 'paper.db'}"
    _replay(panel, out, url, list(dates[-6:]))
    data = tmp_path / "latest.csv"
    panel.reset_index().to_csv(data, index=False)
    result = CliRunner().invoke(app, ["report", "--ledger", url, "--data", str(data), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    differ = pd.read_csv(tmp_path / "r" / "differences.csv", parse_dates=["date"])
    assert differ["date"].tolist() == [dates[-1]]
    assert "the fills differ" in differ["why"].iloc[0] and "period ends here" in differ["why"].iloc[0]
    missing = tmp_path / "none.db"
    nothing = CliRunner().invoke(app, ["report", "--ledger", f"sqlite:///{missing}", "--out", str(tmp_path / "n")])
    assert nothing.exit_code == 1 and "no such ledger" in nothing.output and not missing.exists()
    alone = CliRunner().invoke(app, ["report", "--ledger", url, "--out", str(tmp_path / "alone")])
    assert alone.exit_code == 0, alone.output
    report = json.loads((tmp_path / "alone" / "report.json").read_text())
    assert "absent" in report["expectation"] and report["returns"] == 5
    page = (tmp_path / "alone" / "tearsheet.html").read_text()
    assert "generated by QuantStats" in page and "Give --data (the latest data)" in page


@pytest.mark.slow
def test_over_a_walk_forward_each_session_forecasts_with_its_folds_model(tmp_path) -> None:
    """A walk-forward run keeps each fold's model; a session forecasts with the one in force at its close, so the
    parity holds across the refits of the backtest's period."""
    panel = synthetic_panel(3, 262, seed=5)
    run_forecast(panel, replace(TINY, refit_every="16", val_days=30), tmp_path / "fc", progress=False)
    folds = sorted(p.parent.name for p in (tmp_path / "fc" / "folds").glob("*/model.pt"))
    assert len(folds) >= 2  # the earlier folds' models; the last fold's is model.pt
    out = tmp_path / "bt"
    run = backtest(panel, tmp_path / "fc", out, "kelly", Execution(costs=CostModel(spread="auto")))
    ledger = _replay(panel, out, f"sqlite:///{tmp_path / 'paper.db'}", run.result.decisions.index)
    _check_parity(run.result, ledger)
    models = ledger.days()["model"]
    assert models.nunique() == len(folds) + 1
    for refit in folds:  # from each refit date on, that fold's model
        on = models.index >= pd.Timestamp(refit)
        assert models[on].iloc[0].endswith(f"folds/{refit}/model.pt")


@pytest.mark.slow
@pytest.mark.parametrize("mode", EXECUTIONS)
def test_a_halt_and_an_open_missing_from_the_file_are_what_the_backtest_saw(panel, tmp_path, mode) -> None:
    """A session without a row for T0001 (a halt) and one whose row lacks T0002's open: the backtest's cleaning
    bridges both from the next day's prices, so neither is a real price there; the ledger, on the data up to each
    day, must treat them so too (listed, kept, not traded), or it trades at a copied open and shrinks the
    sleeves."""
    dates = panel.index.unique("date")
    gappy = panel.drop(index=(dates[-20], "T0001"))
    gappy.loc[(dates[-12], "T0002"), "open"] = np.nan
    run_forecast(gappy, replace(TINY, execution=mode), tmp_path / "fc", progress=False)
    out = tmp_path / "bt"
    run = backtest(gappy, tmp_path / "fc", out, "kelly", Execution(mode=mode, costs=CostModel(spread="auto")))
    ledger = _replay(gappy, out, f"sqlite:///{tmp_path / 'paper.db'}", run.result.decisions.index)
    _check_parity(run.result, ledger)
    fills = ledger.table("fills")
    assert not ((fills["date"] == dates[-20]) & (fills["ticker"] == "T0001")).any()
    if mode == "next-open":
        assert not ((fills["date"] == dates[-12]) & (fills["ticker"] == "T0002")).any()


def test_a_ticker_whose_data_ends_is_settled_once_no_gap_could_bridge_it(panel, tmp_path) -> None:
    """The backtest closes a delisted ticker at its last real price; the ledger learns of it only when its prices
    have been missing for longer than a gap the cleaning bridges (max_gap sessions), and settles it then, at that
    price, booking the delisting return."""
    dates = panel.index.unique("date")
    end = dates[-12]
    short = panel[~((panel.index.get_level_values("ticker") == "T0003") & (panel.index.get_level_values("date") > end))]
    run_forecast(short, replace(TINY, execution="next-close"), tmp_path / "fc", progress=False)
    out = tmp_path / "bt"
    execution = Execution(mode="next-close", delisting_return=-0.3, costs=CostModel(participation=1.0))
    run = backtest(short, tmp_path / "fc", out, "buyhold", execution)
    engine = run.result.fills
    closed = engine[(engine["ticker"] == "T0003") & (engine["delisting"] != 0)]
    assert closed["date"].tolist() == [end]  # the backtest, knowing, closes it at its last real close
    ledger = _replay(short, out, f"sqlite:///{tmp_path / 'paper.db'}", run.result.decisions.index)
    fills = ledger.table("fills")
    settled = fills[(fills["ticker"] == "T0003") & (fills["delisting"] != 0)]
    max_gap = read_run(out).max_gap
    assert settled["date"].tolist() == [dates[dates.get_loc(end) + max_gap + 1]]
    last_close = float(short.loc[(end, "T0003"), "close"])
    assert settled["price"].iloc[0] == pytest.approx(last_close)
    assert settled["size"].iloc[0] == pytest.approx(closed["size"].iloc[0], rel=1e-9)  # the same shares
    assert settled["delisting"].iloc[0] == pytest.approx(closed["delisting"].iloc[0], rel=1e-9)
    positions = ledger.table("positions")
    assert not ((positions["ticker"] == "T0003") & (positions["date"] >= settled["date"].iloc[0])).any()


def test_a_ledger_begun_after_the_backtest_is_judged_against_it(panel, tmp_path) -> None:
    """The evenings after a backtest's period: a new ledger starts with the run's cash, its first decision buys, the
    model forecasts closes it never saw, and the report sets the paper Sharpe ratio against the backtest's as two
    independent estimates."""
    import json

    dates = panel.index.unique("date")
    history = _upto(panel, dates[-10])
    run_forecast(history, replace(TINY, execution="next-close"), tmp_path / "fc", progress=False)
    out = tmp_path / "bt"
    backtest(history, tmp_path / "fc", out, "buyhold", Execution(mode="next-close"))
    url = f"sqlite:///{tmp_path / 'paper.db'}"
    ledger = _replay(panel, out, url, list(dates[-9:]))
    days = ledger.days()
    assert days.index[0] == dates[-9] and days["equity"].iloc[0] == pytest.approx(1e6)
    assert len(ledger.table("fills")) == 4  # the first decision bought, at the next close, and kept
    result = CliRunner().invoke(app, ["report", "--ledger", url, "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    verdict = report["against_backtest"]
    stats = json.loads((out / "stats.json").read_text())["sharpe_inference"]["net"]["sharpe"]
    assert verdict["backtest_sharpe"] == pytest.approx(stats["sharpe"]) and verdict["paper_days"] == 8
    assert verdict["paper_sharpe"] == pytest.approx(report["sharpe_inference"]["net"]["sharpe"]["sharpe"])
    assert verdict["difference"] == pytest.approx(verdict["paper_sharpe"] - verdict["backtest_sharpe"])
    assert 0 <= verdict["p_value"] <= 1


def test_a_ledger_begun_the_evening_the_backtest_ends_overlaps_it_in_no_return(finished) -> None:
    """Its first return is the next session's: the two Sharpe ratios are independent estimates."""
    from live.ledger_report import _overlap

    folder = read_run(finished)
    end = pd.read_csv(finished / "returns.csv", parse_dates=["date"])["date"].max()
    assert _overlap(folder, {"start": f"{end:%Y-%m-%d}"}) is None
    before = pd.Timestamp(folder.history["date"].max()) - pd.offsets.BDay(3)
    assert _overlap(folder, {"start": f"{before:%Y-%m-%d}"}) == end


def test_a_ledger_of_an_earlier_schema_is_refused_in_one_line(panel, finished, tmp_path) -> None:
    import sqlite3

    db = tmp_path / "paper.db"
    _replay(panel, finished, f"sqlite:///{db}", [panel.index.unique("date")[-1]])
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE paper_days DROP COLUMN rf")
    result = CliRunner().invoke(app, ["report", "--ledger", f"sqlite:///{db}", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and result.output.strip().count("\n") == 0
    assert "made by an earlier qtrade (no paper_days.rf)" in result.output
