"""``--benchmark`` and ``--rf``: the benchmark sources, the risk-free rate in financing and in every Sharpe ratio,
each checked against figures computed by hand, and a run without them equal to the one before they existed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backtests.costs import CostModel
from backtests.risk_free import RiskFree
from backtests.stats import backtest_stats
from forecasting.errors import DataError
from qtrade.cli import app
from tests.built_markets import forecasts, market, run

BASELINE = Path(__file__).with_name("rf_zero_baseline.json")
MODES = ("next-close", "next-open", "same-close")
# costs whose arithmetic is +, -, *, / only (no impact: its log and sqrt may round differently on other CPUs)
EXACT_COSTS = CostModel(
    commission_bps=2.0, half_spread_bps=3.0, impact=0.0, participation=0.5, borrow=0.02, financing=0.05
)


def cents_market(n: int = 40, seed: int = 7) -> pd.DataFrame:
    """Three tickers whose prices are whole cents (a random walk of integer steps), so every run is exact."""
    rng = np.random.default_rng(seed)
    close = {t: (5_000 + np.cumsum(rng.integers(-150, 151, n))) / 100 for t in ("A", "B", "C")}
    opens = {t: c + rng.integers(-50, 51, n) / 100 for t, c in close.items()}
    volume = {t: [4e5] * n for t in close}
    return market(
        {t: c.tolist() for t, c in close.items()}, open_={t: o.tolist() for t, o in opens.items()}, volume=volume
    )


def levered_means(n: int = 40, seed: int = 8) -> dict[str, list[float]]:
    """Weights between -0.9 and 1.4 a ticker: gross exposure above the equity on most days, shorts on some."""
    rng = np.random.default_rng(seed)
    return {t: rng.integers(-9, 15, n).astype(float).__truediv__(10).tolist() for t in ("A", "B", "C")}


def baseline_runs() -> dict[str, list[float]]:
    """Net returns of the levered rule in every execution mode, as the engine makes them."""
    panel = cents_market()
    out = {}
    for mode in MODES:
        fc = forecasts(panel, mode, levered_means(), test_from=10)
        result, _ = run(panel, fc, mode, EXACT_COSTS, cash=1e6)
        out[mode] = result.returns.tolist()
        out[f"{mode} benchmark"] = result.benchmark.tolist()
    return out


def test_without_rf_the_returns_are_bit_for_bit_those_before_rf_existed() -> None:
    stored = json.loads(BASELINE.read_text(encoding="utf-8"))
    now = baseline_runs()
    assert set(now) == set(stored)
    for key, values in now.items():
        if key.endswith("benchmark"):  # issue 20 recomputed the benchmark from shares: the same to rounding
            assert values == pytest.approx([float.fromhex(x) for x in stored[key]], rel=1e-12, abs=1e-15), key
        else:
            assert [float(x).hex() for x in values] == stored[key], key


# --- the risk-free rate in financing, by hand --------------------------------------------------------------------

CLOSE_A = [100.0, 101.0, 99.0, 100.0, 102.0, 104.0, 103.0, 105.0]
FREE = CostModel(commission_bps=0, half_spread_bps=0, impact=0, participation=1, borrow=0.0, financing=0.03)


@pytest.mark.parametrize("weight", [0.5, 1.5, -0.5])
def test_a_day_of_interest_by_hand(weight: float) -> None:
    """Idle equity earns rf / 252; exposure above the equity pays rf / 252 and the 3% spread; neither touches the
    equity's move otherwise. A's weight is held from the close of day 5 (next-close, origin 4)."""
    panel = market({"A": CLOSE_A})
    fc = forecasts(panel, "next-close", {"A": [np.nan] * 4 + [weight] * 4}, test_from=4)
    rate = 0.0504  # 2 bp a day
    result, _ = run(panel, fc, "next-close", FREE, cash=1e6, rf=RiskFree(rate))
    e = result.equity
    assert e.iloc[1] == pytest.approx(1e6 * (1 + rate / 252), rel=1e-13)  # day 5: all the equity idle, earning
    shares = float(result.fills["size"].iloc[0]) * (1 if weight > 0 else -1)
    assert shares * 104.0 == pytest.approx(weight * e.iloc[1], rel=1e-12)
    gross = abs(shares) * 104.0
    borrowed, idle = max(gross - e.iloc[1], 0.0), max(e.iloc[1] - gross, 0.0)
    interest = rate / 252 * borrowed - rate / 252 * idle
    spread = 0.03 / 252 * borrowed
    day6 = e.iloc[1] + shares * (103.0 - 104.0) - interest - spread
    assert e.iloc[2] == pytest.approx(day6, rel=1e-13)
    assert result.costs.iloc[1] == pytest.approx(spread / e.iloc[1], rel=1e-12, abs=1e-18)  # the spread is the cost
    assert result.gross_returns.iloc[1] == pytest.approx(day6 / e.iloc[1] - 1 + spread / e.iloc[1], rel=1e-12)
    assert result.risk_free.tolist() == [rate / 252] * len(result.returns)


def test_a_rate_series_is_read_as_of_each_day_and_refused_when_it_starts_late() -> None:
    panel = market({"A": CLOSE_A})
    days = panel.index.unique("date")
    fc = forecasts(panel, "next-close", {"A": [np.nan] * 4 + [0.5] * 4}, test_from=4)
    monthly = RiskFree(pd.Series([0.02, 0.06], index=[days[0] - pd.Timedelta(days=40), days[5]]), name="t")
    result, _ = run(panel, fc, "next-close", FREE, cash=1e6, rf=monthly)
    # the day ending at row r uses the rate in force at row r - 1: 2% through day 5, 6% from day 6's close on
    assert result.risk_free.tolist() == pytest.approx([0.02 / 252, 0.06 / 252, 0.06 / 252], rel=1e-15)
    late = RiskFree(pd.Series([0.02], index=[days[5]]), name="late.csv")
    with pytest.raises(DataError, match="no rate on or before 2021-01-08, the period's first date"):
        run(panel, fc, "next-close", FREE, cash=1e6, rf=late)


# --- engine against replay, with rf -------------------------------------------------------------------------------


def _rate_series() -> RiskFree:
    days = cents_market().index.unique("date")
    return RiskFree(pd.Series(np.linspace(-0.01, 0.12, len(days)), index=days).iloc[::4], name="series")


@pytest.mark.parametrize("mode", ["next-close", "next-open", "same-close"])
@pytest.mark.parametrize("rf", [RiskFree(0.05), RiskFree(-0.02), "series"])
def test_the_replay_matches_the_engine_with_rf(mode: str, rf: RiskFree | str) -> None:
    rate = _rate_series() if rf == "series" else rf
    assert isinstance(rate, RiskFree)
    panel = cents_market()
    fc = forecasts(panel, mode, levered_means(), test_from=10)
    result, _ = run(panel, fc, mode, EXACT_COSTS, cash=1e6, rf=rate)
    stats = backtest_stats(result)
    assert stats["vectorised_check_bp_per_day"] < 1e-6
    assert abs(stats["rf_interest_paid"]) > 1e-4  # the rate moved the equity
    plain, _ = run(panel, fc, mode, EXACT_COSTS, cash=1e6)
    assert not np.allclose(plain.returns, result.returns, rtol=0, atol=1e-7)


def test_a_wrong_interest_in_the_engine_does_not_agree_with_the_replay(monkeypatch) -> None:
    import backtests.broker

    panel = cents_market()
    fc = forecasts(panel, "next-close", levered_means(), test_from=10)
    right = backtests.broker.day_interest
    monkeypatch.setattr(backtests.broker, "day_interest", lambda **kw: right(**{**kw, "gross": 0.0}))  # idle only
    result, _ = run(panel, fc, "next-close", EXACT_COSTS, cash=1e6, rf=RiskFree(0.05))
    assert backtest_stats(result)["vectorised_check_bp_per_day"] > 1e-3


# --- Sharpe ratios of excess returns ------------------------------------------------------------------------------


def test_every_sharpe_is_of_the_returns_in_excess_of_rf() -> None:
    panel = cents_market()
    fc = forecasts(panel, "next-close", levered_means(), test_from=10)
    result, _ = run(panel, fc, "next-close", EXACT_COSTS, cash=1e6, rf=_rate_series())
    stats = backtest_stats(result)
    days = result.risk_free
    for key, series in (("net", result.returns), ("gross", result.gross_returns), ("benchmark", result.benchmark)):
        x = (series - days).to_numpy()
        hand = x.mean() / x.std(ddof=1) * np.sqrt(252)
        assert stats[key]["sharpe"] == pytest.approx(hand, rel=1e-9)
        assert stats["sharpe_inference"][key if key != "gross" else "net"]["sharpe"]["sharpe"] == pytest.approx(
            hand if key != "gross" else stats["net"]["sharpe"], rel=1e-9
        )
    assert stats["risk_free"]["rate"] == "series"
    assert stats["risk_free"]["mean_annual"] == pytest.approx(days.mean() * 252)
    assert "in excess of the risk-free rate" in stats["sharpe_inference"]["method"]


def test_quantstats_gets_the_day_rates_back_exactly() -> None:
    import quantstats as qs

    from backtests.quantstats_fixes import DailyRate

    days = pd.bdate_range("2024-01-01", periods=300)
    r = pd.Series(np.random.default_rng(0).normal(0.0005, 0.01, 300), index=days)
    rf = pd.Series(np.linspace(-0.01, 0.08, 300) / 252, index=days)
    x = (r - rf).to_numpy()
    hand = x.mean() / x.std(ddof=1) * np.sqrt(252)
    assert float(qs.stats.sharpe(r, rf=DailyRate.from_days(rf), periods=252)) == pytest.approx(hand, rel=1e-9)
    assert f"{DailyRate.from_days(rf):.4f}" == f"{rf.mean() * 252:.4f}"


# --- --benchmark: a ticker of the data, or a CSV, through the command line -----------------------------------------

runner = CliRunner()


def _files(tmp_path: Path, mode: str = "next-close") -> tuple[pd.DataFrame, Path, Path]:
    """Data with A, B and SPY, and forecasts (the rule's weights) for A and B only."""
    panel = cents_market(seed=3).rename(index={"C": "SPY"}, level="ticker").sort_index()
    data = tmp_path / "panel.csv"
    panel.reset_index().to_csv(data, index=False)
    means = levered_means()
    fc = forecasts(panel, mode, {"A": means["A"], "B": means["B"], "SPY": means["C"]}, test_from=10)
    fc = fc[fc["ticker"] != "SPY"]
    path = tmp_path / "forecasts.csv"
    fc.to_csv(path, index=False)
    return panel, data, path


def _backtest(data: Path, fc: Path, out: Path, *args: str) -> Any:
    return runner.invoke(
        app, ["backtest", "--data", str(data), "--forecasts", str(fc), "--out", str(out), "--quiet", *args]
    )


@pytest.mark.parametrize("mode", ["next-close", "next-open"])
def test_a_ticker_benchmark_is_its_returns_from_the_first_fill_and_never_traded(tmp_path: Path, mode: str) -> None:
    panel, data, fc = _files(tmp_path, mode)
    out = tmp_path / "bt"
    res = _backtest(data, fc, out, "--strategy", "buyhold", "--benchmark", "SPY", "--execution", mode, "--rf", "0.03")
    assert res.exit_code == 0, res.output
    returns = pd.read_csv(out / "returns.csv", index_col="date", parse_dates=["date"])
    spy = panel.xs("SPY", level="ticker")
    close = spy["close"]
    days = returns.index
    first = close.index.get_loc(days[0]) - 1  # the period's first close: the first origin
    entry = first + 1  # both modes fill one bar after the first origin
    bought = spy["open" if mode == "next-open" else "close"].iloc[entry]
    expected = close.pct_change().reindex(days).to_numpy().copy()
    expected[: entry - first - 1] = 0.0
    expected[entry - first - 1] = close.iloc[entry] / bought - 1  # the fill day: fill price to its close
    assert returns["benchmark"].to_numpy() == pytest.approx(expected, rel=1e-9, abs=1e-12)  # %.10g in the file
    assert returns["rf"].tolist() == pytest.approx([0.03 / 252] * len(days))
    trades = pd.read_csv(out / "trades.csv")
    assert len(trades) and "SPY" not in set(trades["ticker"])  # buyhold buys every ticker it trades
    assert "SPY" not in pd.read_csv(out / "holdings.csv").columns
    stats = json.loads((out / "stats.json").read_text())
    assert stats["period"]["tickers"] == ["A", "B"]
    assert (
        stats["benchmark_source"]["name"] == "SPY" and "does not trade it" in stats["benchmark_source"]["description"]
    )
    assert "SPY's true Sharpe ratio" in stats["sharpe_inference"]["benchmark"]["psr_vs_zero"]["meaning"]
    assert "above SPY's observed" in stats["sharpe_inference"]["net"]["psr_vs_benchmark"]["meaning"]
    page = (out / "tearsheet.html").read_text(encoding="utf-8")
    assert "Benchmark: SPY" in page and "Sharpe difference from SPY (Ledoit-Wolf)" in page
    assert "RF: 3.0%" in page and "in excess of the risk-free rate (0.03 a year" in page


def test_a_benchmark_file_is_put_on_the_periods_days(tmp_path: Path) -> None:
    panel, data, fc = _files(tmp_path)
    days = panel.index.unique("date")
    rng = np.random.default_rng(4)
    extra = pd.bdate_range(days[0] - pd.Timedelta(days=30), days[-1] + pd.Timedelta(days=30))
    values = pd.Series(rng.normal(0, 0.01, len(extra)).round(6), index=extra)
    shuffled = values.sample(frac=1.0, random_state=1)
    bench = tmp_path / "index_tr.csv"
    pd.DataFrame({"date": shuffled.index.strftime("%Y-%m-%d"), "idx_tr": shuffled.to_numpy()}).to_csv(
        bench, index=False
    )
    out = tmp_path / "bt"
    res = _backtest(data, fc, out, "--strategy", "test_mean_is_weight", "--benchmark", str(bench))
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out / "returns.csv", index_col="date", parse_dates=["date"])["benchmark"]
    expected = values.reindex(got.index).to_numpy().copy()
    expected[0] = 0.0  # next-close: bought at the close of the first return day
    assert got.to_numpy() == pytest.approx(expected, abs=1e-12)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["benchmark_source"]["name"] == "idx_tr" and stats["benchmark_source"]["kind"] == "file"
    assert stats["risk_free"]["rate"] == "0" and "rf" not in got.to_frame().columns


def _bad_files(tmp_path: Path, days: pd.DatetimeIndex) -> dict[str, Path]:
    iso = days.strftime("%Y-%m-%d")
    files = {}

    def write(name: str, text: str) -> None:
        files[name] = tmp_path / name
        files[name].write_text(text, encoding="utf-8")

    write("gap.csv", "date,r\n" + "".join(f"{d},0.001\n" for k, d in enumerate(iso) if k not in (20, 21, 30)))
    write("text.csv", "date,r\n" + "".join(f"{d},{'1.2%' if k == 25 else 0.001}\n" for k, d in enumerate(iso)))
    write("prices.csv", "date,r\n" + "".join(f"{d},{100 + k}\n" for k, d in enumerate(iso)))
    write("percent.csv", "date,r\n" + "".join(f"{d},{1.5 if k % 7 == 0 else 0.2}\n" for k, d in enumerate(iso)))
    write("three.csv", "date,a,b\n" + "".join(f"{d},0.1,0.2\n" for d in iso))
    write("rates_pct.csv", "date,rate\n" + "".join(f"{d},5.25\n" for d in iso))
    write("rates_late.csv", "date,rate\n" + "".join(f"{d},0.05\n" for d in iso[25:]))
    files["binary.csv"] = tmp_path / "binary.csv"
    files["binary.csv"].write_bytes(b"\xff\xfe\x00\x01\x80\x81\x00" * 50)
    return files


@pytest.mark.parametrize(
    ("option", "file", "message"),
    [
        ("--benchmark", "QQQ", "--benchmark QQQ: no such ticker in"),
        ("--benchmark", "spy", "did you mean SPY?"),
        ("--benchmark", "missing.csv", "no such file"),
        ("--benchmark", "binary.csv", "cannot read it as CSV"),
        ("--benchmark", "gap.csv", "3 of the period's"),
        ("--benchmark", "text.csv", "'1.2%' on"),
        ("--benchmark", "prices.csv", "looks like a price or a percent"),
        ("--benchmark", "percent.csv", "looks like a price or a percent"),
        ("--benchmark", "three.csv", "3 columns (date, a, b); give two"),
        ("--rf", "rates_pct.csv", "looks like a percent"),
        ("--rf", "rates_late.csv", "no rate on or before"),
        ("--rf", "5", "--rf 5: a rate of 5 a year looks like a percent"),
        ("--rf", "tbill", "--rf tbill: neither a number nor a file"),
    ],
)
def test_each_benchmark_and_rf_error_is_one_line(tmp_path: Path, option: str, file: str, message: str) -> None:
    panel, data, fc = _files(tmp_path)
    files = _bad_files(tmp_path, panel.index.unique("date"))
    value = str(files[file]) if file in files else (str(tmp_path / file) if file.endswith(".csv") else file)
    out = tmp_path / "o"
    res = _backtest(data, fc, out, option, value)
    assert res.exit_code == 1, res.output
    assert message in res.output and "Traceback" not in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1


def test_the_comparison_names_the_benchmark_it_tests_against(tmp_path: Path) -> None:
    from backtests.comparison import run_comparison_job

    panel, _, fc = _files(tmp_path)
    names = ["buyhold", "test_mean_is_weight"]
    done = run_comparison_job(panel, tmp_path / "all", strategies=names, forecasts=fc, benchmark="SPY", reps=50)
    assert done.table["strategy"].tolist() == [*names, "SPY (benchmark)"]
    assert done.spa["benchmark"] == "SPY" and "than SPY" in done.spa["meaning"]
    record = json.loads((tmp_path / "all" / "comparison.json").read_text())
    assert record["benchmark"]["strategy"] == "SPY (benchmark)" and record["benchmark_source"]["name"] == "SPY"
    assert "Is the best better than SPY?" in (tmp_path / "all" / "comparison.html").read_text(encoding="utf-8")
