from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from forecasting.errors import CheckpointError, ConfigError
from forecasting.evaluation.scoring import evaluate
from forecasting.market.synthetic import synthetic_panel
from forecasting.model.checkpoint import load_checkpoint, save_checkpoint
from forecasting.pipeline import FORECAST_COLUMNS, MODELS, ForecastConfig, predict_with_model, run_forecast
from qtrade.cli import app

SMALL = ForecastConfig(window=10, hidden=8, layers=2, epochs=3, batch_size=64, patience=3, device="cpu")


@pytest.fixture(scope="module")
def small_panel() -> pd.DataFrame:
    return synthetic_panel(3, 320, seed=21, missing=0.01)


@pytest.fixture(scope="module")
def small_run(small_panel: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("run")
    return run_forecast(small_panel, SMALL, out, progress=False), out


def test_outputs_are_complete(small_run) -> None:  # type: ignore[no-untyped-def]
    _run, out = small_run
    names = {p.name for p in out.iterdir()}
    assert {
        "forecasts.csv",
        "forecasts.parquet",
        "metrics.json",
        "model.pt",
        "training_curve.png",
        "pit.png",
        "manifest.json",
    } <= names
    assert not any(n.endswith(".part") for n in names)
    csv = pd.read_csv(out / "forecasts.csv", parse_dates=["date"])
    assert list(csv.columns) == FORECAST_COLUMNS
    pq = pd.read_parquet(out / "forecasts.parquet")
    assert list(pq.columns) == FORECAST_COLUMNS and len(pq) == len(csv)
    assert FORECAST_COLUMNS[-1] == "execution" and (csv["execution"] == "next-close").all()
    assert (pq["execution"] == "next-close").all()
    assert set(csv["split"]) == {"train", "val", "test"}
    assert (csv["variance"] > 0).all()
    # the newest two days have no realised target (it ends two days after its origin)
    newest = csv[csv["date"] >= sorted(csv["date"].unique())[-2]]
    assert newest["target"].isna().all()
    # dates are ordered train < val < test
    first = csv.groupby("split")["date"].agg(["min", "max"])
    assert first.loc["train", "max"] < first.loc["val", "min"] and first.loc["val", "max"] < first.loc["test", "min"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["execution"] == "next-close"
    assert metrics["target"] == "log return from the close of t+1 to the close of t+2"
    for split in ("train", "val", "test"):
        block = metrics[split]
        assert set(block["overall"]) == {"lstm", "zero_ewma", "historical", "garch", "gjr_garch_t", "har"}
        assert set(block["per_ticker"]) == {"T0000", "T0001", "T0002"}
        assert block["diebold_mariano"]["against"] in {"zero_ewma", "historical", "garch", "gjr_garch_t", "har"}
        assert block["diebold_mariano"]["chosen_on"] == "val"
        assert set(block["diebold_mariano_all"]) == {"zero_ewma", "historical", "garch", "gjr_garch_t", "har"}
        assert block["price_level_mse"]["persistence"] > 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 0 and len(manifest["data"]["sha256"]) == 64 and manifest["versions"]["torch"]
    assert manifest["config"]["execution"] == "next-close" and manifest["config"]["embargo"] is None


def test_target_is_the_log_return_from_the_next_close_to_the_one_after(small_run, small_panel: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    run, _ = small_run
    f = run.forecasts.dropna(subset=["target"]).iloc[:50]
    close = small_panel["close"].unstack("ticker")
    for _, row in f.iterrows():
        i = close.index.get_loc(row["date"])
        assert np.isclose(row["target"], np.log(close[row["ticker"]].iloc[i + 2] / close[row["ticker"]].iloc[i + 1]))


def test_same_seed_same_forecasts_other_seed_different(small_panel: pd.DataFrame, small_run) -> None:  # type: ignore[no-untyped-def]
    run, _ = small_run
    again = run_forecast(small_panel, SMALL, None, progress=False)
    pd.testing.assert_frame_equal(run.forecasts, again.forecasts)
    other = run_forecast(small_panel, ForecastConfig(**{**SMALL.__dict__, "seed": 1}), None, progress=False)
    assert not np.allclose(run.forecasts["mean"], other.forecasts["mean"])
    # the run owns its randomness: the caller's global RNG is untouched
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    run_forecast(small_panel, SMALL, None, progress=False)
    assert torch.equal(torch.rand(1), expected)


def test_checkpoint_round_trip_reproduces_the_forecasts(small_run, small_panel: pd.DataFrame, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run, out = small_run
    again = predict_with_model(small_panel, out / "model.pt", tmp_path).forecasts
    merged = run.forecasts.merge(again, on=["date", "ticker"], suffixes=("", "_re"))
    assert len(merged) == len(run.forecasts)
    np.testing.assert_allclose(merged["mean"], merged["mean_re"], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(merged["variance"], merged["variance_re"], rtol=1e-5)
    assert (merged["split"].astype(str) == merged["split_re"].astype(str)).all()
    ckpt = load_checkpoint(out / "model.pt")
    assert ckpt.meta["window"] == 10 and ckpt.meta["features"][0] == "open"
    assert ckpt.meta["execution"] == "next-close" and (again["execution"] == "next-close").all()


def test_a_saved_model_forecasts_the_target_it_was_trained_for(
    small_run,
    small_panel: pd.DataFrame,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    _run, out = small_run
    with pytest.raises(ConfigError, match="trained to forecast the return of --execution next-close, not next-open"):
        predict_with_model(small_panel, out / "model.pt", None, execution="next-open")
    # a checkpoint from before execution modes was trained on the next-day close: its target is same-close's
    ckpt = load_checkpoint(out / "model.pt")
    meta = {k: v for k, v in ckpt.meta.items() if k != "execution"}
    save_checkpoint(tmp_path / "old.pt", ckpt.model, meta)
    old = predict_with_model(small_panel, tmp_path / "old.pt", None)
    assert (old.forecasts["execution"] == "same-close").all() and old.metrics["execution"] == "same-close"
    close = small_panel["close"].unstack("ticker")
    for _, row in old.forecasts.dropna(subset=["target"]).iloc[:20].iterrows():
        i = close.index.get_loc(row["date"])
        assert np.isclose(row["target"], np.log(close[row["ticker"]].iloc[i + 1] / close[row["ticker"]].iloc[i]))
    np.testing.assert_allclose(
        old.forecasts["mean"], predict_with_model(small_panel, out / "model.pt", None).forecasts["mean"], rtol=1e-6
    )


def test_a_saved_model_is_scored_beside_the_baselines_as_in_training(
    small_run,
    small_panel: pd.DataFrame,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    run, out = small_run
    again = predict_with_model(small_panel, out / "model.pt", tmp_path / "again")
    saved = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert saved["test"]["n"] > 0 and (tmp_path / "again" / "pit.png").stat().st_size > 0
    # the saved model's split is the training run's, embargo days left out: the same rows, and on them every
    # model's forecasts, baselines included, are the training run's
    keys = ["date", "ticker"]
    same = again.scored.merge(run.scored[keys], on=keys)
    assert len(same) == len(run.scored) == len(again.scored)
    rescored = evaluate(same, MODELS)
    for split in ("train", "val", "test"):
        assert rescored[split]["n"] == run.metrics[split]["n"]
        for model in MODELS:
            for key in ("nll", "mse", "coverage_90"):
                assert np.isclose(
                    rescored[split]["overall"][model][key], run.metrics[split]["overall"][model][key], rtol=1e-4
                ), (split, model, key)
    # data that starts after the model's training period cannot fit the baselines: no scores, and it says why
    last_train = pd.Timestamp(load_checkpoint(out / "model.pt").meta["split_dates"]["train"])
    later = small_panel[small_panel.index.get_level_values("date") > last_train]
    unscored = predict_with_model(later, out / "model.pt", tmp_path / "again")
    assert "training block" in unscored.metrics["note"] and len(unscored.forecasts) > 0
    assert not (tmp_path / "again" / "metrics.json").exists()  # the scores of the earlier call are gone


def test_bad_checkpoints_are_refused(tmp_path: Path, small_run) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a qtrade checkpoint"):
        load_checkpoint(bad)

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (print, ("pwned",))

    torch.save({"format": 1, "x": Evil()}, bad)
    with pytest.raises(CheckpointError):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_mse_loss_gives_constant_validation_residual_variance(small_panel: pd.DataFrame) -> None:
    run = run_forecast(small_panel, ForecastConfig(**{**SMALL.__dict__, "loss": "mse"}), None, progress=False)
    assert run.forecasts["variance"].nunique() == 1
    assert run.metrics["test"]["overall"]["lstm"]["nll"] < 0  # finite and scored


def test_walk_forward_forecasts_never_see_their_dates(small_panel: pd.DataFrame) -> None:
    cfg = ForecastConfig(**{**SMALL.__dict__, "refit_every": "16", "val_days": 30, "epochs": 2})
    run = run_forecast(small_panel, cfg, None, progress=False)
    test = run.forecasts[run.forecasts["split"] == "test"]
    assert test["date"].is_monotonic_increasing and not test.duplicated(["date", "ticker"]).any()
    assert len(run.histories) == 3  # the last 48 days (15%) in folds of 16
    dates = small_panel.index.get_level_values("date").unique()
    cut = test["date"].iloc[len(test) // 2]
    later = small_panel.index.get_level_values("date") > cut
    changed = small_panel.copy()
    changed.loc[later, ["open", "high", "low", "close"]] *= np.exp(
        np.random.default_rng(0).normal(0, 0.3, (int(later.sum()), 1))
    )
    run2 = run_forecast(changed, cfg, None, progress=False)
    a = run.forecasts[run.forecasts["date"] <= cut].reset_index(drop=True)
    b = run2.forecasts[run2.forecasts["date"] <= cut].reset_index(drop=True)
    pd.testing.assert_frame_equal(a.drop(columns="target"), b.drop(columns="target"), rtol=1e-6)
    # the next-close target of origin t ends at the close of t+2: only the targets of the last two origins up to
    # the cut are realised after it and may move, no forecast does
    realised = a["date"] <= dates[dates.get_loc(cut) - 2]
    pd.testing.assert_series_equal(a.loc[realised, "target"], b.loc[realised, "target"])
    assert not np.allclose(a.loc[~realised, "target"], b.loc[~realised, "target"], equal_nan=True)
    assert cut < dates[-1]


def test_cli_forecast_then_reuse_the_model(tmp_path: Path, small_panel: pd.DataFrame) -> None:
    data = tmp_path / "panel.csv"
    small_panel.reset_index().to_csv(data, index=False)
    runner = CliRunner()
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "forecast",
            "--data",
            str(data),
            "--out",
            str(out),
            "--window",
            "10",
            "--hidden",
            "8",
            "--epochs",
            "2",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "GARCH(1,1)" in result.output and "LSTM-MLE" in result.output and "persistence" in result.output
    assert "(target: log return from the close of t+1 to the close of t+2)" in " ".join(result.output.split())
    again = tmp_path / "again"
    result = runner.invoke(
        app, ["forecast", "--model", str(out / "model.pt"), "--data", str(data), "--out", str(again)]
    )
    assert result.exit_code == 0, result.output
    assert (again / "forecasts.csv").exists()
    result = runner.invoke(app, ["forecast", "--out", str(again), "--loss", "huber"])
    assert result.exit_code == 1 and "--loss 'huber'" in result.stderr
