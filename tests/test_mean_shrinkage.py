"""Mean shrinkage chosen on the validation block (issue 18, item 8)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from forecasting.errors import ConfigError
from forecasting.evaluation.shrinkage import SHRINKAGE_GRID, choose_shrinkage, shrink
from forecasting.market.synthetic import synthetic_panel
from forecasting.model.checkpoint import load_checkpoint
from forecasting.model.distributions import Predictive
from forecasting.pipeline import ForecastConfig, predict_with_model, run_forecast
from qtrade.cli import app

SMALL = ForecastConfig(
    window=10, hidden=8, layers=1, epochs=2, batch_size=64, patience=2, device="cpu", mean_shrinkage="auto"
)


def test_shrinking_moves_the_mean_and_keeps_the_spread_of_every_member() -> None:
    a = Predictive.single([0.01, -0.02], [1e-4, 4e-4], [4.0, 6.0])
    b = Predictive.single([0.03, 0.00], [2e-4, 1e-4], [5.0, 3.0])
    ens = Predictive.mixture([a, b])
    k = 0.3
    shrunk = shrink(ens, k)
    np.testing.assert_allclose(shrunk.mean, k * ens.mean, rtol=1e-12)
    np.testing.assert_allclose(shrunk.var, ens.var, rtol=1e-12)
    np.testing.assert_array_equal(shrunk.dofs, ens.dofs)
    # a translation of the whole density by (k - 1) times its mean
    y = np.array([0.005, -0.01])
    np.testing.assert_allclose(shrunk.logpdf(y), ens.logpdf(y - (k - 1) * ens.mean), rtol=1e-12)
    assert shrink(ens, 1.0) is ens
    np.testing.assert_allclose(shrink(ens, 0.0).mean, 0.0, atol=1e-17)


def test_the_factor_is_the_grid_point_with_the_lowest_nll_computed_by_scipy() -> None:
    rng = np.random.default_rng(3)
    n = 4000
    sd, dof = 0.01, 5.0
    scale = sd * np.sqrt((dof - 2) / dof)
    signal = rng.normal(0, 0.004, n)
    y = 0.5 * signal + scale * rng.standard_t(dof, n)  # half the forecast mean is real
    p = Predictive.single(signal, np.full(n, sd**2), np.full(n, dof))
    choice = choose_shrinkage(p, y)
    by_scipy = {k: -np.mean(stats.t.logpdf(y, dof, loc=k * signal, scale=scale)) for k in SHRINKAGE_GRID}
    assert choice.factor == min(by_scipy, key=by_scipy.__getitem__)
    assert 0.3 <= choice.factor <= 0.7
    for k, v in by_scipy.items():
        assert np.isclose(choice.val_nll[k], v, rtol=1e-10)
    # a mean that is pure noise: shrunk to zero; a mean that is the truth: kept
    assert choose_shrinkage(p, scale * rng.standard_t(dof, n)).factor == 0.0
    assert choose_shrinkage(p, signal + scale * rng.standard_t(dof, n)).factor == 1.0


def test_settings_are_checked_with_one_line() -> None:
    # none by default: validation kept the whole mean (k = 1) on the embedded panel for seeds 0 and 2 (README)
    assert ForecastConfig().mean_shrinkage == "none"
    assert ForecastConfig(mean_shrinkage="0.4").mean_shrinkage == 0.4
    with pytest.raises(ConfigError, match=r"--mean-shrinkage 1.5 is not known; use auto, none or a factor from 0 to 1"):
        ForecastConfig(mean_shrinkage=1.5)
    with pytest.raises(ConfigError, match="--mean-shrinkage 'half'"):
        ForecastConfig(mean_shrinkage="half")


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return synthetic_panel(3, 340, seed=8)


@pytest.fixture(scope="module")
def runs(panel: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("auto")
    return {
        "auto": run_forecast(panel, SMALL, out, progress=False),
        "out": out,
        "none": run_forecast(panel, replace(SMALL, mean_shrinkage="none"), None, progress=False),
        "half": run_forecast(panel, replace(SMALL, mean_shrinkage=0.5), None, progress=False),
    }


def test_the_forecasts_carry_the_factor_chosen_on_validation_and_the_test_block_before_and_after(
    runs: dict[str, object],
) -> None:
    auto, none, half = runs["auto"], runs["none"], runs["half"]
    chosen = auto.metrics["mean_shrinkage"]  # type: ignore[attr-defined]
    val_nll = {float(k): v for k, v in chosen["val_nll"].items()}
    assert chosen["mode"] == "auto" and chosen["factor"] == min(val_nll, key=val_nll.__getitem__)
    raw = none.forecasts["mean"].to_numpy()  # type: ignore[attr-defined]
    # the same seed trains the same network: only the factor differs
    np.testing.assert_allclose(auto.forecasts["mean"], chosen["factor"] * raw, rtol=1e-9, atol=1e-15)  # type: ignore[attr-defined]
    np.testing.assert_allclose(half.forecasts["mean"], 0.5 * raw, rtol=1e-9)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(auto.forecasts["variance"], none.forecasts["variance"])  # type: ignore[attr-defined]
    assert none.metrics["mean_shrinkage"]["factor"] == 1.0 and "val_nll" not in none.metrics["mean_shrinkage"]  # type: ignore[attr-defined]
    # the validation NLL at k = 1 is the unshrunk run's validation score, on the validation rows with a target
    val = none.scored[(none.scored["split"] == "val") & none.scored["target"].notna()]  # type: ignore[attr-defined]
    t = stats.t(
        val["lstm_dof"], loc=val["lstm_mean"], scale=np.sqrt(val["lstm_var"] * (val["lstm_dof"] - 2) / val["lstm_dof"])
    )
    assert np.isclose(val_nll[1.0], -np.mean(t.logpdf(val["target"])), rtol=1e-9)
    # before and after on the test block: the unshrunk and the half-shrunk runs' own test scores
    for run, key in ((none, "unshrunk"), (half, "shrunk")):
        test = run.metrics["test"]["overall"]["lstm"]  # type: ignore[attr-defined]
        other = (
            auto.metrics["mean_shrinkage"]["test"]["unshrunk"]
            if key == "unshrunk"
            else half.metrics["mean_shrinkage"]["test"]["shrunk"]
        )  # type: ignore[attr-defined]
        assert np.isclose(other["nll"], test["nll"], rtol=1e-9)
        assert np.isclose(other["r2_vs_zero"], test["r2_vs_zero"], rtol=1e-9)


def test_the_choice_never_sees_the_test_block(panel: pd.DataFrame, runs: dict[str, object]) -> None:
    auto = runs["auto"]
    test_start = auto.forecasts.loc[auto.forecasts["split"] == "test", "date"].min()  # type: ignore[attr-defined]
    changed = panel.copy()
    later = changed.index.get_level_values("date") >= test_start
    rng = np.random.default_rng(1)
    changed.loc[later, ["open", "high", "low", "close"]] *= np.exp(rng.normal(0, 0.2, (int(later.sum()), 1)))
    again = run_forecast(changed, SMALL, None, progress=False)
    assert again.metrics["mean_shrinkage"]["val_nll"] == auto.metrics["mean_shrinkage"]["val_nll"]  # type: ignore[attr-defined]
    assert again.metrics["test"]["overall"]["lstm"]["nll"] != auto.metrics["test"]["overall"]["lstm"]["nll"]  # type: ignore[attr-defined]


def test_each_walk_forward_fold_chooses_on_its_own_validation_block(panel: pd.DataFrame) -> None:
    folds = replace(SMALL, refit_every="26", val_days=40)  # the last 51 days (15%) in two folds
    auto = run_forecast(panel, folds, None, progress=False)
    none = run_forecast(panel, replace(folds, mean_shrinkage="none"), None, progress=False)
    chosen = auto.metrics["mean_shrinkage"]["folds"]
    assert len(chosen) == 2 and auto.metrics["mean_shrinkage"]["factor"] == chosen[-1]["factor"]
    for fold in chosen:
        nll = {float(k): v for k, v in fold["val_nll"].items()}
        assert fold["factor"] == min(sorted(nll, reverse=True), key=nll.__getitem__)
    test = auto.forecasts["split"] == "test"
    ratio = (auto.forecasts.loc[test, "mean"] / none.forecasts.loc[test, "mean"]).round(9)
    # the test block's first half is fold 1's, the second fold 2's: each scaled by its own fold's factor
    assert set(ratio.unique()) <= {fold["factor"] for fold in chosen} and ratio.iloc[0] == chosen[0]["factor"]
    assert ratio.iloc[-1] == chosen[1]["factor"]


def test_a_saved_model_applies_its_own_factor(panel: pd.DataFrame, runs: dict[str, object], tmp_path: Path) -> None:
    auto, out = runs["auto"], runs["out"]
    factor = auto.metrics["mean_shrinkage"]["factor"]  # type: ignore[attr-defined]
    assert load_checkpoint(out / "model.pt").meta["mean_shrinkage"]["factor"] == factor  # type: ignore[operator]
    again = predict_with_model(panel, out / "model.pt", None)  # type: ignore[operator]
    np.testing.assert_allclose(again.forecasts["mean"], auto.forecasts["mean"], rtol=1e-6, atol=1e-12)  # type: ignore[attr-defined]
    assert again.metrics["mean_shrinkage"]["factor"] == factor and again.metrics["mean_shrinkage"]["from"]


def test_the_command_line_reports_the_factor_and_refuses_a_bad_one(panel: pd.DataFrame, tmp_path: Path) -> None:
    data = tmp_path / "panel.csv"
    panel.reset_index().to_csv(data, index=False)
    common = [
        "forecast",
        "--data",
        str(data),
        "--window",
        "10",
        "--hidden",
        "8",
        "--layers",
        "1",
        "--epochs",
        "2",
        "--quiet",
    ]
    result = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "a"), "--mean-shrinkage", "0.3"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    before, after = metrics["mean_shrinkage"]["test"]["unshrunk"], metrics["mean_shrinkage"]["test"]["shrunk"]
    assert (
        f"Mean shrinkage: the LSTM's mean x 0.3 (given); on the test block NLL {before['nll']:.4f} -> "
        f"{after['nll']:.4f}"
    ) in " ".join(result.output.split())
    result = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "b"), "--mean-shrinkage", "2"])
    assert result.exit_code == 1 and result.stderr.strip() == (
        "error: --mean-shrinkage '2' is not known; use auto, none or a factor from 0 to 1"
    )
