"""Issue 14 in the pipeline: Student-t and ensemble forecasts scored with their own densities, the Diebold-Mariano
opponent chosen on the validation block, the new baselines beside the old, the cross-section, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from forecasting.errors import ConfigError
from forecasting.evaluation.scoring import evaluate
from forecasting.market.synthetic import synthetic_panel
from forecasting.model.distributions import Predictive
from forecasting.pipeline import ForecastConfig, predict_with_model, run_forecast
from qtrade.cli import app

TINY = ForecastConfig(window=10, hidden=8, epochs=2, patience=2)


def _frame(rng: np.random.Generator, n_dates: int = 60, n_tickers: int = 3) -> pd.DataFrame:
    dates = pd.bdate_range("2021-01-04", periods=n_dates)
    n = n_dates * n_tickers
    split = np.repeat(np.where(np.arange(n_dates) < n_dates // 2, "val", "test"), n_tickers)
    y = rng.standard_t(4, n) * 0.01
    return pd.DataFrame(
        {
            "date": np.repeat(dates, n_tickers),
            "ticker": np.tile([f"T{k}" for k in range(n_tickers)], n_dates),
            "split": split,
            "target": y,
            "parkinson": np.full(n, 1e-4),
            "entry": np.full(n, 100.0),
            "historical_mean": np.zeros(n),
            "historical_var": np.full(n, 1e-4),
        }
    )


def test_the_headline_opponent_is_the_best_baseline_on_validation_not_on_test() -> None:
    rng = np.random.default_rng(0)
    f = _frame(rng)
    val = (f["split"] == "val").to_numpy()
    # "a" forecasts the validation block's scale, "b" the test block's: a wins on validation, b on test
    f["a_mean"], f["a_var"] = 0.0, np.where(val, 1e-4, 9e-4)
    f["b_mean"], f["b_var"] = 0.0, np.where(val, 9e-4, 1e-4)
    f["lstm_mean"], f["lstm_var"] = 0.0, 2e-4
    f.loc[~val, "target"] *= 1.0  # same returns; the variances alone decide
    m = evaluate(f, ["lstm", "a", "b", "historical"])
    assert m["test"]["overall"]["b"]["nll"] < m["test"]["overall"]["a"]["nll"]
    assert m["val"]["overall"]["a"]["nll"] < m["val"]["overall"]["b"]["nll"]
    for split in ("val", "test"):
        dm = m[split]["diebold_mariano"]
        assert dm["against"] == "a" and dm["chosen_on"] == "val"
        assert set(m[split]["diebold_mariano_all"]) == {"a", "b", "historical"}
        assert dm["nll"] == m[split]["diebold_mariano_all"]["a"]["nll"]
        assert dm["nll"]["horizon"] == 2  # the default next-close target ends two days after its origin


def test_student_t_and_ensemble_forecasts_are_scored_with_their_own_density() -> None:
    rng = np.random.default_rng(1)
    f = _frame(rng)
    y = f["target"].to_numpy()
    f["t_mean"], f["t_var"], f["t_dof"] = 0.001, 1.5e-4, 4.5
    for k, (mu, var, dof) in enumerate(((0.001, 1e-4, 3.5), (-0.001, 2e-4, 8.0))):
        f[f"ens#{k}_mean"], f[f"ens#{k}_var"], f[f"ens#{k}_dof"] = mu, var, dof
    f["ens_mean"] = 0.0
    f["ens_var"] = 0.5 * (1e-4 + 1e-6) + 0.5 * (2e-4 + 1e-6)
    m = evaluate(f, ["t", "ens", "historical"])["test"]["overall"]
    test = (f["split"] == "test").to_numpy()

    def t_pdf(mu: float, var: float, dof: float) -> np.ndarray:
        return stats.t.pdf(y[test], dof, loc=mu, scale=np.sqrt(var * (dof - 2) / dof))

    assert m["t"]["nll"] == pytest.approx(-np.mean(np.log(t_pdf(0.001, 1.5e-4, 4.5))), rel=1e-10)
    mixture = 0.5 * t_pdf(0.001, 1e-4, 3.5) + 0.5 * t_pdf(-0.001, 2e-4, 8.0)
    assert m["ens"]["nll"] == pytest.approx(-np.mean(np.log(mixture)), rel=1e-10)
    cdf = 0.5 * stats.t.cdf(y[test], 3.5, loc=0.001, scale=np.sqrt(1e-4 * 1.5 / 3.5)) + 0.5 * stats.t.cdf(
        y[test], 8.0, loc=-0.001, scale=np.sqrt(2e-4 * 6 / 8)
    )
    assert m["ens"]["pit_histogram"] == np.histogram(cdf, bins=10, range=(0, 1))[0].tolist()


def test_a_student_t_ensemble_run_writes_its_density_and_its_checkpoint_reproduces_it(tmp_path: Path) -> None:
    panel = synthetic_panel(3, 320, seed=2)
    single = run_forecast(
        panel, ForecastConfig(window=10, hidden=8, epochs=2, dist="studentt"), tmp_path / "t", progress=False
    )
    dof = single.forecasts["dof"]
    assert dof.notna().all() and (dof > 2).all()
    assert json.loads((tmp_path / "t" / "metrics.json").read_text())["models"]["lstm"] == "LSTM-MLE (Student-t)"
    again = predict_with_model(panel, tmp_path / "t" / "model.pt", None)
    pd.testing.assert_frame_equal(
        again.forecasts[["mean", "variance", "dof"]], single.forecasts[["mean", "variance", "dof"]]
    )

    ens = run_forecast(
        panel,
        ForecastConfig(window=10, hidden=8, epochs=2, dist="studentt", ensemble=3),
        tmp_path / "e",
        progress=False,
    )
    assert ens.forecasts["dof"].isna().all()  # a mixture of t densities is no t density
    # ... so the file carries the members, whose equal mixture is the forecast: its mean, variance and density
    fc = ens.forecasts
    mix = Predictive.mixture(
        [Predictive.single(fc[f"m{k}_mean"], fc[f"m{k}_variance"], fc[f"m{k}_dof"]) for k in (1, 2, 3)]
    )
    assert mix.mean == pytest.approx(fc["mean"].to_numpy(), rel=1e-9, abs=1e-12)
    assert mix.var == pytest.approx(fc["variance"].to_numpy(), rel=1e-6)
    assert (fc[["m1_dof", "m2_dof", "m3_dof"]] > 2).all().all()
    gain = ens.metrics["test"]["ensemble"]
    assert gain["members"] == 3 and len(gain["member_nll"]) == 3
    assert gain["ensemble_nll"] == pytest.approx(ens.metrics["test"]["overall"]["lstm"]["nll"])
    # member 0 is the single run (same seed): the ensemble trains seeds seed, seed+1, seed+2
    assert gain["member_nll"][0] == pytest.approx(single.metrics["test"]["overall"]["lstm"]["nll"], rel=1e-12)
    again = predict_with_model(panel, tmp_path / "e" / "model.pt", None)
    pd.testing.assert_frame_equal(again.forecasts[["mean", "variance"]], ens.forecasts[["mean", "variance"]])
    assert again.metrics["test"]["overall"]["lstm"]["nll"] == pytest.approx(
        ens.metrics["test"]["overall"]["lstm"]["nll"], rel=1e-12
    )


def test_every_baseline_is_scored_on_the_same_rows() -> None:
    run = run_forecast(synthetic_panel(2, 400, seed=3), TINY, None, progress=False)
    test = run.metrics["test"]
    assert set(test["overall"]) == {"lstm", "zero_ewma", "historical", "garch", "gjr_garch_t", "har"}
    assert {s["n"] for s in test["overall"].values()} == {test["n"]}
    rows = run.scored[run.scored["split"] == "test"]
    assert (rows["gjr_garch_t_dof"].dropna() > 2).all() and (rows["har_dof"].dropna() > 2).all()


def test_the_cross_section_needs_five_tickers_and_says_why_it_is_absent() -> None:
    few = run_forecast(synthetic_panel(3, 300, seed=4), TINY, None, progress=False)
    assert "fewer than 5 tickers" in few.metrics["test"]["cross_section"]["absent"]
    many = run_forecast(synthetic_panel(6, 300, seed=4), TINY, None, progress=False)
    cs = many.metrics["test"]["cross_section"]
    assert "absent" not in cs and cs["n_dates"] > 20 and len(cs["quantile_mean_target"]) == 5
    assert -1 <= cs["rank_ic"]["mean"] <= 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--dist", "cauchy"], "--dist 'cauchy' is not known; use normal or studentt"),
        (["--ensemble", "0"], "--ensemble 0 must be 1 or more"),
        (["--dist", "studentt", "--loss", "mse"], "--loss mse trains no studentt distribution"),
    ],
)
def test_bad_distribution_settings_are_one_line(tmp_path: Path, args: list[str], words: str) -> None:
    res = CliRunner().invoke(app, ["forecast", "--out", str(tmp_path / "x"), "-q", *args])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == [f"error: {res.output.strip()[7:]}"] and words in res.output
    assert not (tmp_path / "x").exists()
    with pytest.raises(ConfigError):
        pairs = zip(args[::2], args[1::2], strict=True)
        ForecastConfig(**{a.lstrip("-"): (int(b) if b.isdigit() else b) for a, b in pairs})


def test_the_distribution_and_the_ensemble_can_be_tuned(tmp_path: Path) -> None:
    from forecasting.tuning.search import tune_forecaster

    space = tmp_path / "space.json"
    space.write_text(
        json.dumps(
            {
                "dist": {"type": "categorical", "choices": ["normal", "studentt"]},
                "ensemble": {"type": "int", "low": 1, "high": 2},
            }
        )
    )
    record = tune_forecaster(
        synthetic_panel(2, 300, seed=5), tmp_path / "tune", base=TINY, n_trials=3, space_file=space, progress=False
    )
    assert record["params"]["dist"] in ("normal", "studentt") and record["params"]["ensemble"] in (1, 2)
    trials = pd.read_csv(tmp_path / "tune" / "trials.csv")
    assert {"params_dist", "params_ensemble"} <= set(trials.columns)
    config = TINY.with_params(tmp_path / "tune" / "best_params.json")
    assert (config.dist, config.ensemble) == (record["params"]["dist"], record["params"]["ensemble"])


def test_a_rolling_walk_forward_scores_every_fold() -> None:
    config = ForecastConfig(window=10, hidden=8, epochs=1, refit_every="35", train_window="300", val_days=60)
    run = run_forecast(synthetic_panel(2, 700, seed=6), config, None, progress=False)
    test = run.scored[(run.scored["split"] == "test") & run.scored["target"].notna()]
    assert run.metrics["test"]["n"] == len(test)  # every baseline forecasts every fold's block


def test_command_line_options_win_over_a_parameters_file(tmp_path: Path) -> None:
    params = tmp_path / "best_params.json"
    params.write_text(
        json.dumps({"params": {"window": 12, "hidden": 8, "epochs": 1, "patience": 1, "dist": "normal", "max_gap": 5}})
    )
    res = CliRunner().invoke(
        app,
        ["forecast", "--params", str(params), "--window", "10", "--max-gap", "2", "--out", str(tmp_path / "run"), "-q"],
    )
    assert res.exit_code == 0, res.output
    config = json.loads((tmp_path / "run" / "manifest.json").read_text())["config"]
    assert (config["window"], config["max_gap"], config["hidden"], config["dist"]) == (10, 2, 8, "normal")


def test_fixed_search_settings_are_recorded_and_split_settings_cannot_be_tuned(tmp_path: Path) -> None:
    from forecasting.tuning import tune_forecaster

    space = tmp_path / "space.json"
    space.write_text(
        json.dumps(
            {
                "dist": {"type": "fixed", "value": "normal"},
                "ensemble": {"type": "fixed", "value": 2},
                "lr": {"type": "float", "low": 1e-3, "high": 1e-2},
            }
        )
    )
    record = tune_forecaster(
        synthetic_panel(2, 300, seed=5), tmp_path / "t", base=TINY, n_trials=2, space_file=space, progress=False
    )
    assert (record["params"]["dist"], record["params"]["ensemble"]) == ("normal", 2)
    for name in ("embargo", "test", "val_days"):
        space.write_text(json.dumps({name: {"type": "int", "low": 1, "high": 3}}))
        res = CliRunner().invoke(app, ["tune", "--out", str(tmp_path / name), "--space", str(space), "-q"])
        assert res.exit_code == 1 and f"{name!r} is not a setting that can be tuned" in res.output
