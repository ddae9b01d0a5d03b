"""What a forecast run scores, said exactly (issue 18, item 7): a saved model on data that does not hold its whole
training block is not scored beside baselines refitted on a shorter block, and rows left out of every score (a
ticker too short for the baselines' fits) are named in metrics.json and in the printed output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecasting.market.synthetic import synthetic_panel
from forecasting.model.checkpoint import load_checkpoint
from forecasting.pipeline import ForecastConfig, predict_with_model, run_forecast
from qtrade.cli import app

SMALL = ForecastConfig(window=10, hidden=8, layers=1, epochs=2, batch_size=64, patience=2, device="cpu")


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return synthetic_panel(3, 340, seed=5)


@pytest.fixture(scope="module")
def trained(panel: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    out = tmp_path_factory.mktemp("trained")
    run_forecast(panel, SMALL, out, progress=False)
    meta = load_checkpoint(out / "model.pt").meta
    return out / "model.pt", meta["split_dates"]


def _dates(panel: pd.DataFrame) -> pd.Index:
    return panel.index.get_level_values("date")


def test_the_whole_training_block_is_scored_as_in_training(
    panel: pd.DataFrame, trained: tuple[Path, dict[str, str]]
) -> None:
    model, split = trained
    assert load_checkpoint(model).meta["training_starts"] == {
        "T0000": split["train_start"],
        "T0001": split["train_start"],
        "T0002": split["train_start"],
    }
    run = predict_with_model(panel, model, None)
    assert run.metrics["test"]["n"] > 0 and "note" not in run.metrics


def test_data_starting_inside_the_training_block_is_not_scored_and_the_dates_needed_are_named(
    panel: pd.DataFrame, trained: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    model, split = trained
    start = pd.Timestamp(split["train_start"]) + pd.Timedelta(days=120)  # still 100+ training rows left
    later = panel[_dates(panel) >= start]
    first = f"{_dates(later).min():%Y-%m-%d}"
    run = predict_with_model(later, model, None)
    assert "test" not in run.metrics and "garch_mean" not in run.scored
    note = run.metrics["note"]
    assert f"({split['train_start']} to {split['train']})" in note and f"the data starts {first}" in note
    assert f"give data from {split['train_start']} to {split['train']} or later" in note
    assert run.forecasts["mean"].notna().all() and len(run.forecasts) > 0  # the forecasts are still made
    data = tmp_path / "later.csv"
    later.reset_index().to_csv(data, index=False)
    result = CliRunner().invoke(
        app, ["forecast", "--model", str(model), "--data", str(data), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"the data starts {first}" in text and "GARCH" not in text
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_data_ending_inside_the_training_block_is_not_scored(
    panel: pd.DataFrame, trained: tuple[Path, dict[str, str]]
) -> None:
    model, split = trained
    early = panel[_dates(panel) <= pd.Timestamp(split["train"]) - pd.Timedelta(days=14)]
    run = predict_with_model(early, model, None)
    assert "the data ends" in run.metrics["note"] and "test" not in run.metrics


def test_one_ticker_starting_later_than_in_training_is_named(
    panel: pd.DataFrame, trained: tuple[Path, dict[str, str]]
) -> None:
    model, split = trained
    cut = pd.Timestamp(split["train_start"]) + pd.Timedelta(days=60)
    tickers = panel.index.get_level_values("ticker")
    trimmed = panel[~((tickers == "T0001") & (_dates(panel) < cut))]
    run = predict_with_model(trimmed, model, None)
    first = f"{_dates(trimmed[trimmed.index.get_level_values('ticker') == 'T0001']).min():%Y-%m-%d}"
    assert f"T0001 from {first} (trained from {split['train_start']})" in run.metrics["note"]
    assert "test" not in run.metrics


def test_a_ticker_too_short_for_the_baselines_is_named_as_left_out(tmp_path: Path) -> None:
    panel = synthetic_panel(3, 340, seed=6)
    dates = _dates(panel)
    late = dates.unique()[180]  # T0002 starts late: about 50 training days, fewer than the baselines' 100
    short = panel[~((panel.index.get_level_values("ticker") == "T0002") & (dates < late))]
    data = tmp_path / "short.csv"
    short.reset_index().to_csv(data, index=False)
    out = tmp_path / "run"
    result = CliRunner().invoke(
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
            "--layers",
            "1",
            "--epochs",
            "2",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    forecasts = pd.read_csv(out / "forecasts.csv")
    realised = forecasts[forecasts["target"].notna()]
    for split in ("train", "val", "test"):
        left = metrics["left_out"][split]
        n_short = int(((realised["split"] == split) & (realised["ticker"] == "T0002")).sum())
        # the training block's first origin of every ticker also precedes HAR's warm-up (11 days of its 22-day mean)
        warm_up = {"T0000": 1, "T0001": 1} if split == "train" else {}
        assert left["tickers"] == {**warm_up, "T0002": n_short}
        assert left["rows"] == n_short + len(warm_up) and left["of"] == int((realised["split"] == split).sum())
        assert metrics[split]["n"] == left["of"] - left["rows"]
        assert left["without_forecast"]["garch"] == n_short and "lstm" not in left["without_forecast"]
        assert "T0002" not in metrics[split]["per_ticker"]
    text = " ".join(result.output.split())
    n_test = metrics["left_out"]["test"]["rows"]
    assert f"Left out of every model's score: {n_test} of {metrics['left_out']['test']['of']} test rows" in text
    assert "1 ticker (T0002" in text and np.isfinite(metrics["test"]["overall"]["lstm"]["nll"])
