"""qtrade refit: the walk-forward's next fold, trained on the latest data as the walk-forward would have trained it.

The acceptance property is exactness: a walk-forward run on data that ends before a refit date, refitted once
the data has run on past it, holds the models a walk-forward run on the longer data trains for those folds, to
the bit on the CPU: the same weights, scaler, residual variances, mean shrinkage, split and trained-through date,
so the same forecasts. The signal then forecasts with the model in force, and the refit is no longer due. Data
the signal would refuse (stale, restated) is refused alike, in one line with nothing written.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from backtests.engine import Execution
from backtests.pipeline import run_backtest_job
from forecasting.errors import ConfigError
from forecasting.market.synthetic import synthetic_panel
from forecasting.model.checkpoint import load_checkpoint
from forecasting.pipeline import ForecastConfig, predict_with_model, run_forecast
from forecasting.refit import model_for, refit_run, saved_models
from live import RestatedHistory, StaleData, make_signal
from live.refit import refit_on_schedule
from qtrade.cli import app
from tests.live_runs import TINY

OOS, EVERY, HISTORY = 200, 16, 240  # refits at 200, 216, 232 (the run's folds), then 248 and 264 (data to 269)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return synthetic_panel(3, 270, seed=5)


@pytest.fixture(scope="module")
def dates(panel: pd.DataFrame) -> pd.DatetimeIndex:
    return panel.index.unique("date").sort_values()


def _until(panel: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    return panel[panel.index.get_level_values("date") <= day]


def _walk(dates: pd.DatetimeIndex, **kw: object) -> ForecastConfig:
    settings: dict[str, object] = {"oos_start": f"{dates[OOS]:%Y-%m-%d}", "refit_every": str(EVERY), "val_days": 30}
    return ForecastConfig(**{**TINY.__dict__, **settings, **kw})


def _files(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "refits" not in p.parts
    }


@pytest.mark.parametrize(
    "settings",
    [{}, {"warm_start": True, "ensemble": 2, "mean_shrinkage": "auto"}],
    ids=["cold", "warm-2-seeds-auto-shrinkage"],
)
def test_a_refit_is_the_walk_forwards_own_fold_to_the_bit(panel, dates, tmp_path, settings) -> None:
    config = _walk(dates, **settings)
    run_forecast(_until(panel, dates[HISTORY]), config, tmp_path / "fc", progress=False)
    before = _files(tmp_path / "fc")
    done = refit_run(tmp_path / "fc", panel, progress=False)
    assert [r.refit for r in done.refits] == [dates[248], dates[264]]  # both due: trained in order
    assert [r.fold for r in done.refits] == [4, 5]
    assert _files(tmp_path / "fc") == before  # the run's own files are untouched
    fresh = run_forecast(panel, config, tmp_path / "fresh", progress=False)

    mine, theirs = load_checkpoint(done.refits[-1].model), load_checkpoint(tmp_path / "fresh" / "model.pt")
    assert len(mine.models) == len(theirs.models) == config.ensemble
    for a, b in zip(mine.models, theirs.models, strict=True):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        for key in sa:
            assert torch.equal(sa[key], sb[key]), key
    for key in ["scaler", "residual_vars", "mean_shrinkage", "trained_through", "split_dates", "fold", "config"]:
        assert mine.meta[key] == theirs.meta[key], key
    assert mine.meta == {**theirs.meta, "source": mine.meta["source"]}

    # every refitted fold forecasts its own origins as the walk-forward did (the earlier one too, not saved there)
    for refit in done.refits:
        made = predict_with_model(panel, refit.model, None, score=False).forecasts
        walked = fresh.forecasts[fresh.forecasts["fold"] == refit.fold]
        both = walked.merge(made, on=["date", "ticker"], suffixes=("", "_refit"))
        assert len(both) == len(walked) > 0
        for column in ["mean", "variance", "trained_through"]:
            np.testing.assert_array_equal(both[column].to_numpy(), both[f"{column}_refit"].to_numpy())
    record = json.loads((done.refits[-1].folder / "fold.json").read_text())
    assert record["refit"] == f"{dates[264]:%Y-%m-%d}" and record["fold"] == 5
    assert record["trained_through"] == mine.meta["trained_through"]
    assert record["fold_describe"].startswith("train ") and "qtrade_version" in record and record["seconds"] >= 0


def test_a_run_without_oos_start_keeps_its_schedule_on_longer_data(panel, dates, tmp_path) -> None:
    """Without --oos-start the run began at its data's test share, which moves on longer data: a refit keeps the
    run's first refit, as the walk-forward with that --oos-start would."""
    config = replace(TINY, refit_every=str(EVERY), val_days=30)
    run_forecast(_until(panel, dates[HISTORY]), config, tmp_path / "fc", progress=False)
    first = json.loads((tmp_path / "fc" / "metrics.json").read_text())["walk_forward"]["folds"][0]["refit"]
    done = refit_run(tmp_path / "fc", panel, progress=False)
    assert done.refits
    fresh = run_forecast(panel, replace(config, oos_start=first), None, progress=False)
    last = done.refits[-1]
    made = predict_with_model(panel, last.model, None, score=False).forecasts
    walked = fresh.forecasts[fresh.forecasts["date"] >= last.refit]
    both = walked.merge(made, on=["date", "ticker"], suffixes=("", "_refit"))
    assert len(both) == len(walked) > 0
    np.testing.assert_array_equal(both["mean"].to_numpy(), both["mean_refit"].to_numpy())


def test_nothing_is_trained_before_the_next_refit_date_and_the_models_in_force_follow_the_dates(
    panel, dates, tmp_path
) -> None:
    run_forecast(_until(panel, dates[HISTORY]), _walk(dates), tmp_path / "fc", progress=False)
    early = refit_run(tmp_path / "fc", _until(panel, dates[247]), progress=False)
    assert early.refits == [] and not (tmp_path / "fc" / "refits" / f"{dates[248]:%Y-%m-%d}").exists()
    done = refit_run(tmp_path / "fc", _until(panel, dates[250]), progress=False)
    assert [r.refit for r in done.refits] == [dates[248]]
    assert [m.refit for m in saved_models(tmp_path / "fc")][-2:] == [dates[232], dates[248]]  # after the folds'
    assert all("folds" in m.path.parts for m in saved_models(tmp_path / "fc")[:-2])
    assert model_for(tmp_path / "fc", dates[247]) == tmp_path / "fc" / "model.pt"
    assert model_for(tmp_path / "fc", dates[248]) == done.refits[0].model
    again = refit_run(tmp_path / "fc", panel, progress=False)  # the next one, from the newest
    assert [r.refit for r in again.refits] == [dates[264]] and again.before.refit == dates[248]


def test_an_interrupted_refit_leaves_no_folder(panel, dates, tmp_path, monkeypatch) -> None:
    import forecasting.refit

    run_forecast(_until(panel, dates[HISTORY]), _walk(dates), tmp_path / "fc", progress=False)

    def broken(path: Path, text: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(forecasting.refit, "write_text", broken)  # after model.pt, before fold.json
    with pytest.raises(KeyboardInterrupt):
        refit_run(tmp_path / "fc", panel, progress=False)
    assert [p.name for p in (tmp_path / "fc" / "refits").iterdir() if p.name != ".qtrade.lock"] == []
    assert not [m for m in saved_models(tmp_path / "fc") if "refits" in m.path.parts]


# --- through the backtest folder, as the evening routine runs it ------------------------------------------------


@pytest.fixture(scope="module")
def finished(panel, dates, tmp_path_factory) -> Path:
    """A walk-forward forecast run on the history and a backtest on it."""
    root = tmp_path_factory.mktemp("walk")
    history = _until(panel, dates[HISTORY])
    run_forecast(history, _walk(dates), root / "fc", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_backtest_job(history, root / "bt", strategy="kelly", forecasts=root / "fc", execution=Execution())
    return root


@pytest.fixture
def run(finished, tmp_path) -> Path:
    """A copy of the backtest and its forecast run, which a test may refit."""
    shutil.copytree(finished / "fc", tmp_path / "fc")
    shutil.copytree(finished / "bt", tmp_path / "bt")
    manifest = json.loads((tmp_path / "bt" / "manifest.json").read_text())
    manifest["config"]["forecasts"] = str(tmp_path / "fc")
    (tmp_path / "bt" / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path / "bt"


def _csv(panel: pd.DataFrame, path: Path) -> Path:
    panel.reset_index().to_csv(path, index=False)
    return path


def test_after_a_refit_the_signal_forecasts_with_the_new_model_and_no_refit_is_due(panel, dates, run) -> None:
    latest, day = _until(panel, dates[250]), dates[250]
    due = make_signal(run, latest, as_of=day)
    assert due.refit.due and due.refit.due_since == dates[248]
    old = due.forecasts.set_index("ticker")["mean"]

    done = refit_on_schedule(run, latest, as_of=day, progress=False)
    refit = run.parent / "fc" / "refits" / f"{dates[248]:%Y-%m-%d}"
    assert [r.folder for r in done.done.refits] == [refit] and done.model == refit / "model.pt"
    assert not done.status.due and done.status.refits == 1 and done.status.model_from == dates[248]
    assert done.status.sessions_left == 248 + EVERY - 250

    signal = make_signal(run, latest, as_of=day)
    assert not signal.refit.due and signal.refit.model_from == dates[248]
    assert signal.summary()["model"] == str(refit / "model.pt")
    assert signal.summary()["refit"]["refits"] == 1
    direct = predict_with_model(latest, refit / "model.pt", None, score=False, origins_from=day).forecasts
    got = signal.forecasts.set_index("ticker")["mean"].sort_index()
    np.testing.assert_array_equal(got.to_numpy(), direct.set_index("ticker")["mean"].sort_index().to_numpy())
    assert not np.array_equal(got.to_numpy(), old.sort_index().to_numpy())  # a new model, new forecasts
    # a past close still forecasts with the model in force then
    assert make_signal(run, _until(panel, dates[247]), as_of=dates[247]).summary()["model"].endswith("fc/model.pt")


def test_the_command_refits_and_says_where_the_model_went(panel, dates, run, tmp_path) -> None:
    data = _csv(_until(panel, dates[250]), tmp_path / "latest.csv")
    result = CliRunner().invoke(app, ["refit", str(run), "--data", str(data), "--as-of", f"{dates[250]:%Y-%m-%d}"])
    assert result.exit_code == 0, result.output
    model = run.parent / "fc" / "refits" / f"{dates[248]:%Y-%m-%d}" / "model.pt"
    assert f"refitted fold 4 on {dates[248]:%Y-%m-%d}" in result.output
    assert f"qtrade signal now forecasts the close of {dates[250]:%Y-%m-%d} with {model}" in result.output
    assert model.is_file()
    again = CliRunner().invoke(app, ["refit", str(run), "--data", str(data), "--as-of", f"{dates[250]:%Y-%m-%d}"])
    assert again.exit_code == 0, again.output
    assert again.output.strip() == (
        f"no refit due: the model is its fold's from {dates[248]:%Y-%m-%d} (refits/{dates[248]:%Y-%m-%d}); "
        "next refit in 14 sessions"
    )


def test_a_forecast_run_folder_can_be_refitted_directly_with_a_warning(panel, dates, run, tmp_path) -> None:
    data = _csv(_until(panel, dates[250]), tmp_path / "latest.csv")
    fc = run.parent / "fc"
    result = CliRunner().invoke(app, ["refit", str(fc), "--data", str(data), "--as-of", f"{dates[250]:%Y-%m-%d}"])
    assert result.exit_code == 0, result.output
    assert "warning: " in result.output and "records no history" in result.output
    assert (fc / "refits" / f"{dates[248]:%Y-%m-%d}" / "model.pt").is_file()


def test_stale_data_and_a_restated_history_are_refused_in_one_line_and_nothing_is_trained(
    panel, dates, run, tmp_path
) -> None:
    refits = run.parent / "fc" / "refits"
    stale = _csv(_until(panel, dates[249]), tmp_path / "stale.csv")
    result = CliRunner().invoke(app, ["refit", str(run), "--data", str(stale), "--as-of", f"{dates[250]:%Y-%m-%d}"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: data is stale by 1 session (last {dates[249]:%Y-%m-%d}, expected {dates[250]:%Y-%m-%d}); give data "
        "up to the latest close, or --as-of the day it ends"
    )
    restated = _until(panel, dates[250]).copy()
    mask = (restated.index.get_level_values("date") >= dates[100]) & (
        restated.index.get_level_values("ticker") == "T0001"
    )
    restated.loc[mask, ["open", "high", "low", "close"]] /= 2  # a split adjusted late
    data = _csv(restated, tmp_path / "restated.csv")
    result = CliRunner().invoke(app, ["refit", str(run), "--data", str(data), "--as-of", f"{dates[250]:%Y-%m-%d}"])
    assert result.exit_code == 1
    line = result.output.strip()
    assert "\n" not in line and line.startswith("error: ") and f"T0001 from {dates[100]:%Y-%m-%d}" in line
    assert not refits.exists()
    with pytest.raises(StaleData):
        refit_on_schedule(run, _until(panel, dates[250]), as_of=dates[251])
    with pytest.raises(RestatedHistory):
        refit_on_schedule(run, restated, as_of=dates[250])
    assert not refits.exists()


def test_a_run_of_one_split_has_nothing_to_refit(panel, dates, tmp_path) -> None:
    history = _until(panel, dates[HISTORY])
    run_forecast(history, TINY, tmp_path / "fc", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_backtest_job(history, tmp_path / "bt", strategy="kelly", forecasts=tmp_path / "fc", execution=Execution())
    data = _csv(_until(panel, dates[250]), tmp_path / "latest.csv")
    result = CliRunner().invoke(
        app, ["refit", str(tmp_path / "bt"), "--data", str(data), "--as-of", f"{dates[250]:%Y-%m-%d}"]
    )
    assert result.exit_code == 1
    line = result.output.strip()
    assert "\n" not in line and "one split, with no walk-forward schedule to refit on" in line
    with pytest.raises(ConfigError, match="one split"):
        refit_run(tmp_path / "fc", panel, progress=False)
    assert not (tmp_path / "fc" / "refits").exists()
