"""How sure a backtest is, and every strategy compared: stats.json's Sharpe inference against returns.csv, the
sentences that say what the figures mean, the VaR backtests of the traded forecasts, and ``--strategy all`` with
Hansen's SPA test of the best strategy against buy and hold."""

from __future__ import annotations

import html
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backtests.comparison import BENCHMARK_ROW, spa_test
from backtests.costs import CostModel
from backtests.engine import Execution, run_backtest
from backtests.inputs import align
from backtests.sharpe_inference import (
    min_track_record_length,
    probabilistic_sharpe_ratio,
    sharpe_difference,
    sharpe_ratio,
)
from backtests.sharpe_verdicts import sharpe_certainty
from backtests.tearsheet import certainty_section
from forecasting.evaluation.var_backtests import var_backtest
from forecasting.market.synthetic import synthetic_panel
from qtrade.cli import app
from strategies import available, get, parse_params
from tests.browser import load_page
from tests.test_backtests import oracle_forecasts

runner = CliRunner()
NO_COSTS = CostModel(commission_bps=0.0, half_spread_bps=0.0, impact=0.0, participation=1.0, borrow=0.0, financing=0.0)


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return synthetic_panel(3, 320, seed=11)


def _files(tmp_path: Path, market: pd.DataFrame, fc: pd.DataFrame) -> tuple[Path, Path]:
    data = tmp_path / "panel.csv"
    market.reset_index().to_csv(data, index=False)
    path = tmp_path / "forecasts.csv"
    fc.to_csv(path, index=False)
    return data, path


def _noisy_oracle(market: pd.DataFrame, weight: float = 0.7, seed: int = 1) -> pd.DataFrame:
    fc = oracle_forecasts(market)
    fc["mean"] = weight * fc["mean"] + np.random.default_rng(seed).normal(0, 0.005, len(fc))
    return fc


def _noise(market: pd.DataFrame, seed: int = 5) -> pd.DataFrame:
    """Forecasts whose mean is pure noise: nothing in them predicts the return they hold."""
    fc = oracle_forecasts(market)
    fc["mean"] = np.random.default_rng(seed).normal(0, 0.01, len(fc))
    return fc


# --- stats.json, the printed summary and the tearsheet of one backtest ---------------------------------------


def test_stats_json_sharpe_inference_is_that_of_returns_csv(tmp_path: Path, market: pd.DataFrame) -> None:
    data, fc = _files(tmp_path, market, _noisy_oracle(market))
    out = tmp_path / "bt"
    res = runner.invoke(
        app, ["backtest", "--strategy", "kelly", "--forecasts", str(fc), "--data", str(data), "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    stats = json.loads((out / "stats.json").read_text())
    r = pd.read_csv(out / "returns.csv", index_col="date", parse_dates=["date"])
    sure = stats["sharpe_inference"]
    for key, column in (("net", "strategy"), ("benchmark", "benchmark")):
        est = sharpe_ratio(r[column])  # recomputed from the written file (10 significant digits)
        got = sure[key]["sharpe"]
        assert got["se"] == pytest.approx(est.se, rel=1e-6)
        assert (got["sharpe"], got["lower"], got["upper"]) == pytest.approx(
            (est.sharpe, est.lower, est.upper), rel=1e-6
        )
        assert got["sharpe"] == pytest.approx(stats[key]["sharpe"], rel=1e-9)  # QuantStats' own Sharpe ratio
        assert sure[key]["psr_vs_zero"]["probability"] == pytest.approx(
            probabilistic_sharpe_ratio(r[column]).probability, rel=1e-6
        )
        trl = min_track_record_length(r[column])
        assert sure[key]["min_track_record"]["days"] == (
            None if trl.days is None else pytest.approx(trl.days, rel=1e-6)
        )
    bench = sure["benchmark"]["sharpe"]["sharpe"]
    assert sure["net"]["psr_vs_benchmark"]["probability"] == pytest.approx(
        probabilistic_sharpe_ratio(r["strategy"], bench).probability, rel=1e-6
    )
    diff = sharpe_difference(r["strategy"], r["benchmark"])
    got = sure["difference"]
    assert (got["difference"], got["se"], got["p_value"]) == pytest.approx(
        (diff.difference, diff.se, diff.p_value), rel=1e-5, abs=1e-12
    )
    net = sure["net"]["sharpe"]
    assert (
        f"Sharpe ratio, net {net['sharpe']:.2f}, 95% interval {net['lower']:.2f} to {net['upper']:.2f} "
        f"(HAC standard error {net['se']:.2f})" in res.output
    )
    assert f"Sharpe difference from buy and hold {got['difference']:+.2f}" in res.output
    assert "VaR backtests of the forecast density: 1% hit" in res.output
    page = (out / "tearsheet.html").read_text()
    for text in ("How sure is this?", "Value at risk of the forecast density", "Kupiec p (coverage)"):
        assert text in page, text
    for meaning in (net["meaning"], got["meaning"], stats["forecast"]["var_backtests"]["5%"]["meaning"]):
        assert html.escape(meaning) in page


def test_var_backtests_are_those_of_each_tickers_forecast_density(market: pd.DataFrame) -> None:
    from scipy import stats as sps

    from backtests.stats import traded_var_backtests

    fc = _noisy_oracle(market)
    data = align(market, fc)
    got = traded_var_backtests(data)
    test = fc[(fc["split"] == "test") & np.isfinite(fc["target"])]
    hits, n = 0, 0
    for ticker, unsorted in test.groupby("ticker"):
        rows = unsorted.sort_values("date")
        var = sps.norm.ppf(0.05, rows["mean"], np.sqrt(rows["variance"]))
        one = var_backtest(rows["target"].to_numpy(), var, 0.05)
        assert got["5%"]["per_ticker"][str(ticker)]["hits"] == one.hits
        assert got["5%"]["per_ticker"][str(ticker)]["uc_p"] == pytest.approx(one.uc_p, rel=1e-9)
        hits, n = hits + one.hits, n + one.n
    assert (got["5%"]["hits"], got["5%"]["n"]) == (hits, n)
    assert set(got) >= {"1%", "5%"} and got["1%"]["alpha"] == 0.01


# --- the forecast run's verdicts beside the baselines: stats.json's forecast_run and the tearsheet ---------------


def _page_text(text: str) -> str:
    """``text`` as the page writes it (escaped)."""
    import html

    return html.escape(text)


@pytest.mark.slow
def test_forecast_run_verdicts_are_the_metrics_json_figures(tmp_path: Path, market: pd.DataFrame) -> None:
    from forecasting.pipeline import ForecastConfig, run_forecast

    config = ForecastConfig(window=10, hidden=8, epochs=1, patience=1, refit_every="20", val_days=30)
    run_forecast(market, config, tmp_path / "fc", progress=False)
    metrics = json.loads((tmp_path / "fc" / "metrics.json").read_text())
    test, walk = metrics["test"], metrics["walk_forward"]
    data, _ = _files(tmp_path, market, oracle_forecasts(market))
    for forecasts in (tmp_path / "fc", tmp_path / "fc" / "forecasts.csv"):  # the folder, or its forecasts file
        out = tmp_path / f"bt-{forecasts.name}"
        res = runner.invoke(
            app, ["backtest", "--strategy", "kelly", "--forecasts", str(forecasts), "--data", str(data), "-o", str(out)]
        )
        assert res.exit_code == 0, res.output
        run = json.loads((out / "stats.json").read_text())["forecast_run"]
        assert run["period"] == {
            "first_date": test["first_date"],
            "last_date": test["last_date"],
            "n": test["n"],
            "walk_forward": True,
        }
        assert "whole out-of-sample period" in run["scope"] and "may be longer than the traded period" in run["scope"]
        dm, want = run["diebold_mariano"], test["diebold_mariano"]
        assert (dm["model"], dm["against"], dm["chosen_on"]) == (want["model"], want["against"], "val")
        assert (dm["statistic"], dm["p_value"], dm["n"]) == (
            want["nll"]["statistic"],
            want["nll"]["p_value"],
            want["nll"]["n"],
        )
        assert dm["squared_error"] == {k: want["squared_error"][k] for k in ("statistic", "p_value")}
        assert dm["meaning"] == want["meaning"]
        mcs, want = run["model_confidence_set"], test["model_confidence_set"]
        assert (mcs["included"], mcs["pvalues"], mcs["meaning"]) == (want["included"], want["pvalues"], want["meaning"])
        assert mcs["confidence"] == want["settings"]["confidence"]
        assert run["walk_forward"] == {
            "schedule": walk["schedule"],
            "opponent": walk["opponent"],
            "lstm_ahead_in": walk["lstm_ahead_in"],
            "of_folds": walk["of_folds"],
            "folds": len(walk["folds"]),
        }
        page = (out / "tearsheet.html").read_text()
        section = page[page.index('<div id="qtrade-forecast-run">') :]
        section = section[: section.index("</div>")]
        assert "Beside the baselines: the forecast run's verdict over its whole out-of-sample period" in section
        for sentence in (dm["meaning"], mcs["meaning"], walk["schedule"]):
            assert _page_text(sentence) in section, sentence
        assert f"in {walk['lstm_ahead_in']} of {walk['of_folds']} folds" in section
        assert f"<td>{dm['statistic']:+.2f}</td>" in section
        for model, p in mcs["pvalues"].items():
            assert f"<td>{_page_text(metrics['models'][model])}</td><td>{p:.3f}</td>" in section
    # qtrade report draws the same section again from the folder
    (out / "tearsheet.html").unlink()
    assert runner.invoke(app, ["report", str(out)]).exit_code == 0
    assert _page_text(dm["meaning"]) in (out / "tearsheet.html").read_text()
    # a bare forecasts file: forecast_run says in one sentence that there is none, and so does the page
    bare = tmp_path / "bare" / "forecasts.csv"
    bare.parent.mkdir()
    bare.write_bytes((tmp_path / "fc" / "forecasts.csv").read_bytes())
    out = tmp_path / "bt-bare"
    res = runner.invoke(
        app, ["backtest", "--strategy", "kelly", "--forecasts", str(bare), "--data", str(data), "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    run = json.loads((out / "stats.json").read_text())["forecast_run"]
    assert list(run) == ["absent"] and run["absent"].startswith("no forecast run's metrics.json was found")
    assert f"None: {_page_text(run['absent'])}." in (out / "tearsheet.html").read_text()


def test_forecast_run_verdicts_of_an_older_metrics_file() -> None:
    from backtests.stats import forecast_run_verdicts
    from backtests.tearsheet import forecast_run_section

    old = {
        "models": {"lstm": "LSTM-MLE", "garch": "GARCH(1,1)"},
        "test": {
            "n": 40,
            "first_date": "2011-01-03",
            "last_date": "2011-02-28",
            "diebold_mariano": {"model": "lstm", "against": "garch", "nll": {"statistic": -1.5, "p_value": 0.14}},
        },
    }
    run = forecast_run_verdicts(old)
    assert run["diebold_mariano"] == {
        "model": "lstm",
        "against": "garch",
        "loss": "log score (mean NLL of each model's own density), per-date cross-sectional means",
        "statistic": -1.5,
        "p_value": 0.14,
    }
    assert "older qtrade" in run["model_confidence_set"]["absent"] and "walk_forward" not in run
    assert "whole test block, 2011-01-03 to 2011-02-28," in run["scope"]
    stats = {"period": {"first_close": "2011-01-03", "last_close": "2011-03-01"}, "forecast_run": run}
    text = forecast_run_section(stats)
    assert "<td>-1.50</td><td>p = 0.140</td>" in text and "Model confidence set: not in the forecast run" in text
    assert "Walk-forward" not in text
    # a stats.json from before forecast_run: taken from the copied metrics, or said to be missing
    assert forecast_run_section({"period": stats["period"]}, old) == text
    assert "Not recorded" in forecast_run_section({"period": stats["period"]})
    assert "no test block" in forecast_run_verdicts({"models": {}})["absent"]


# --- the sentences flip with the figures ------------------------------------------------------------------------


def test_the_sentences_flip_with_the_figures() -> None:
    days = pd.bdate_range("2020-01-01", periods=500)
    rng = np.random.default_rng(3)
    bench = pd.Series(rng.normal(0.0, 0.01, 500), index=days)
    strong = sharpe_certainty(bench * 0.3 + 0.002 + rng.normal(0, 0.003, 500), bench)
    weak = sharpe_certainty(bench + rng.normal(0, 0.004, 500), bench)
    assert strong["net"]["sharpe"]["lower"] > 0 and "excludes 0" in strong["net"]["sharpe"]["meaning"]
    assert weak["net"]["sharpe"]["lower"] < 0 < weak["net"]["sharpe"]["upper"]
    assert "includes 0, so these 500 days cannot tell it from zero" in weak["net"]["sharpe"]["meaning"]
    assert strong["difference"]["p_value"] < 0.05 and "the strategy's is higher" in strong["difference"]["meaning"]
    assert weak["difference"]["p_value"] > 0.05 and "cannot tell the two apart" in weak["difference"]["meaning"]
    assert strong["net"]["psr_vs_zero"]["probability"] > 0.95
    assert "at least the 95% usually asked for" in strong["net"]["psr_vs_zero"]["meaning"]
    assert weak["net"]["psr_vs_zero"]["probability"] < 0.95
    assert "short of the 95%" in weak["net"]["psr_vs_zero"]["meaning"]
    assert (
        strong["net"]["min_track_record"]["enough"]
        and "are at hand, enough" in strong["net"]["min_track_record"]["meaning"]
    )
    # a strategy that never trades has no Sharpe ratio: said, not a traceback, and the page still draws
    flat = sharpe_certainty(pd.Series(0.0, index=days), bench)
    assert "do not vary" in flat["net"]["sharpe"]["absent"] and "absent" in flat["difference"]
    assert "How sure is this?" in certainty_section({"sharpe_inference": flat})
    assert "Not recorded" in certainty_section({})
    # the SPA sentence: a winner beyond luck, and a best that luck explains
    win = spa_test(bench, pd.DataFrame({"a": bench + 0.002, "b": bench + rng.normal(0, 0.004, 500)}), reps=300)
    luck = spa_test(bench, pd.DataFrame({"a": bench + rng.normal(0, 0.004, 500)}), reps=300)
    assert win["best"] == "a" and "more than the best of 2 tries would show by luck" in win["meaning"]
    assert "cannot be told from buying and holding" in luck["meaning"] or "none beats it" in luck["meaning"]


# --- the SPA test on markets whose answer is known --------------------------------------------------------------


def _strategy_returns(market: pd.DataFrame, fc: pd.DataFrame, names: list[str], ex: Execution) -> pd.DataFrame:
    data = align(market, fc)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            result = run_backtest(data, get(name), parse_params(get(name), None), ex)
            out[name] = result.returns
    return pd.DataFrame(out), result.benchmark


def test_spa_is_small_when_a_strategy_sees_the_future_and_not_on_noise(market: pd.DataFrame) -> None:
    names = ["kelly", "threshold", "voltarget"]
    models, bench = _strategy_returns(market, oracle_forecasts(market), names, Execution(costs=NO_COSTS))
    known = spa_test(bench, models)
    assert known["p_values"]["consistent"] < 0.01 and known["p_values"]["upper"] < 0.01
    models, bench = _strategy_returns(market, _noise(market), names, Execution())
    noise = spa_test(bench, models)
    assert noise["p_values"]["consistent"] > 0.2
    # the recorded settings reproduce the p-values with arch by hand
    from arch.bootstrap import SPA

    hand = SPA(-bench.to_numpy(), -models.to_numpy(), block_size=noise["block_size"], reps=noise["reps"], seed=0)
    hand.compute()
    assert noise["p_values"] == {k: float(hand.pvalues[k]) for k in ("consistent", "lower", "upper")}


# --- qtrade backtest --strategy all -------------------------------------------------------------------------------


@pytest.mark.slow
def test_strategy_all_writes_every_folder_the_table_and_the_spa_test(
    tmp_path: Path, market: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from strategies import registry

    # the built-in rules only: other tests register rules of their own ("test_..."), which --strategy all would run
    builtin = {k: v for k, v in registry._REGISTRY.items() if not k.startswith("test_")}
    monkeypatch.setattr(registry, "_REGISTRY", builtin)
    data, fc = _files(tmp_path, market, _noisy_oracle(market, weight=0.3))
    out = tmp_path / "all"
    res = runner.invoke(
        app, ["backtest", "--strategy", "all", "--forecasts", str(fc), "--data", str(data), "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    names = [s.name for s in available()]
    for name in names:
        for file in ("tearsheet.html", "returns.csv", "stats.json", "trades.csv", "manifest.json"):
            assert (out / name / file).is_file(), (name, file)
    table = pd.read_csv(out / "comparison.csv")
    assert table["strategy"].tolist() == [*names, BENCHMARK_ROW]
    record = json.loads((out / "comparison.json").read_text())
    for row in record["strategies"]:
        stats = json.loads((out / row["strategy"] / "stats.json").read_text())
        assert row["sharpe"] == pytest.approx(stats["net"]["sharpe"], rel=1e-12)
        assert row["sharpe_se"] == pytest.approx(stats["sharpe_inference"]["net"]["sharpe"]["se"], rel=1e-12)
        assert row["turnover_annual"] == pytest.approx(stats["turnover_annual"], rel=1e-12)
        assert row["costs_paid"] == pytest.approx(stats["costs_total"], rel=1e-12)
    # Hansen's SPA by hand on the folders' returns.csv, with the recorded settings
    from arch.bootstrap import SPA

    spa = record["spa"]
    frames = {n: pd.read_csv(out / n / "returns.csv", index_col="date", parse_dates=["date"]) for n in names}
    models = [n for n in names if n != "buyhold"]
    assert spa["models"] == models
    losses = -pd.DataFrame({n: frames[n]["strategy"] for n in models})
    hand = SPA(-frames[names[0]]["benchmark"], losses, block_size=spa["block_size"], reps=spa["reps"], seed=spa["seed"])
    hand.compute()
    assert spa["p_values"] == {k: float(hand.pvalues[k]) for k in ("consistent", "lower", "upper")}
    assert spa["reps"] == 1000 and spa["best"] == losses.mean().idxmin()
    for name in names:
        assert name in res.output
    assert f"Picking the best of {len(models)} strategies is paid for" in res.output
    loaded = load_page(out / "comparison.html")
    assert loaded.errors == [] and loaded.outside_requests == []
    page = (out / "comparison.html").read_text()
    assert all(f'href="{n}/tearsheet.html"' in page for n in names)
    (out / "kelly" / "tearsheet.html").unlink()
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "kelly" / "tearsheet.html").is_file()
    assert json.loads((out / "comparison.json").read_text())["spa"]["p_values"] == spa["p_values"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "nosuch"], "strategy 'nosuch' is not known"),
        (["--strategy", "all", "--param", "fraction=0.2"], "with --strategy all every strategy runs with its defaults"),
    ],
)
def test_strategy_errors_are_one_line(tmp_path: Path, market: pd.DataFrame, args: list[str], message: str) -> None:
    data, fc = _files(tmp_path, market, oracle_forecasts(market))
    out = tmp_path / "o"
    res = runner.invoke(app, ["backtest", "--forecasts", str(fc), "--data", str(data), "--out", str(out), *args])
    assert res.exit_code == 1
    assert message in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not out.exists()
