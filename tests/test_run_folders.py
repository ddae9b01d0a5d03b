"""Run folders and reruns (issue 13, items 8-13): refused before any work, never stale, reruns that fail loudly,
the checkpoint's own test rows, torch threads shared among processes, tuning output people can read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from backtests.pipeline import run_backtest_job
from forecasting.errors import ConfigError
from forecasting.manifest import file_hash, input_hashes
from forecasting.market.synthetic import synthetic_panel
from forecasting.model.threads import cores, share, shared_threads, use_threads
from forecasting.outputs import check_out, clear_previous
from forecasting.pipeline import ForecastConfig, predict_with_model, run_forecast
from forecasting.preparation.splits import chronological_split, minimum_dates
from qtrade.cli import app
from qtrade.rerun import rerun

TINY = ForecastConfig(window=10, hidden=8, epochs=1, patience=1)


def _csv(tmp_path: Path, n_dates: int, n_tickers: int = 1, seed: int = 1) -> Path:
    path = tmp_path / f"panel{n_dates}.csv"
    synthetic_panel(n_tickers, n_dates, seed=seed).reset_index().to_csv(path, index=False)
    return path


# --- item 8: an --out that cannot be written is refused before any training ------------------------------------


def test_an_out_that_is_a_file_is_refused_at_once_in_one_line(tmp_path: Path) -> None:
    data = _csv(tmp_path, 200)
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    for args in (
        ["forecast", "--data", str(data), "--out", str(taken), "--epochs", "1", "-q"],
        ["backtest", "--data", str(data), "--out", str(taken), "-q"],
        ["tune", "--data", str(data), "--out", str(taken), "--n-trials", "1", "-q"],
        ["forecast", "--data", str(data), "--out", str(taken / "sub"), "-q"],
    ):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 1, res.output
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and "taken" in lines[0] and "is a file" in lines[0], (args, res.output)
        assert "bug" not in res.output and "storage" not in res.output.lower()
    assert taken.read_text() == "not a folder"


def test_a_folder_that_cannot_be_written_is_named() -> None:
    with pytest.raises(ConfigError, match=r"--out /proc/qtrade-run: cannot write in /proc"):
        check_out("/proc/qtrade-run")


def test_the_out_check_creates_nothing(tmp_path: Path) -> None:
    assert check_out(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()
    assert list(tmp_path.iterdir()) == []


# --- item 9: a split too small to score is refused up front, with the minimum -------------------------------


def test_a_file_too_short_to_split_is_refused_before_training_naming_the_minimum(tmp_path: Path) -> None:
    data = _csv(tmp_path, 20)
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["forecast", "--data", str(data), "--window", "10", "--out", str(out), "-q"])
    assert res.exit_code == 1
    line = res.output.strip()
    assert "\n" not in line and "20 trading days" in line and "at least" in line, line
    need = int(line.split("at least ")[1].split()[0])
    assert not out.exists(), "nothing may be written for a refused run"
    # the minimum is right: one day fewer is refused, that many days run and score a test block
    with pytest.raises(ConfigError, match=f"at least {need} days"):
        run_forecast(synthetic_panel(1, need - 1, seed=1), TINY, None, progress=False)
    run = run_forecast(synthetic_panel(1, need, seed=1), TINY, None, progress=False)
    assert run.metrics["test"]["n"] >= 1


def test_minimum_dates_matches_the_split_it_describes() -> None:
    def scorable(n: int, first_origin: int, horizon: int, embargo: int) -> bool:
        dates = pd.bdate_range("2020-01-01", periods=n)
        try:
            fold = chronological_split(dates, embargo=embargo)
        except ConfigError:
            return False
        origins = np.arange(n)
        usable = (origins >= first_origin) & (origins + horizon <= n - 1)
        return all(bool((usable & (fold.labels == k)).any()) for k in (0, 1, 2))

    for first_origin, horizon, embargo in ((9, 2, 2), (29, 1, 1), (5, 3, 4)):
        need = minimum_dates(first_origin, horizon=horizon, embargo=embargo)
        # every data set of that many days or more can be split; one day fewer cannot, or a longer one fails
        assert all(scorable(n, first_origin, horizon, embargo) for n in range(need, need + 40))
        assert not all(scorable(n, first_origin, horizon, embargo) for n in range(need - 1, need + 40))


# --- item 13: reusing --out leaves nothing of the earlier run ---------------------------------------------


def test_a_reused_out_folder_keeps_no_stale_outputs_but_the_users_own_files(tmp_path: Path) -> None:
    panel = synthetic_panel(2, 260, seed=3)
    out = tmp_path / "run"
    run_backtest_job(panel, out, strategy="buyhold", forecast_config=TINY, progress=False)
    assert (out / "forecast" / "forecasts.csv").is_file()
    (out / "notes.txt").write_text("mine")
    forecasts = tmp_path / "elsewhere"
    run_forecast(synthetic_panel(2, 260, seed=4), TINY, forecasts, progress=False)
    run_backtest_job(synthetic_panel(2, 260, seed=4), out, strategy="buyhold", forecasts=forecasts, progress=False)
    assert not (out / "forecast").exists(), "the earlier run's forecasts must not sit beside the new tearsheet"
    assert (out / "notes.txt").read_text() == "mine"
    manifest = json.loads((out / "manifest.json").read_text())
    assert "notes.txt" not in manifest["outputs"] and "tearsheet.html" in manifest["outputs"]


def test_a_failed_run_leaves_the_earlier_outputs_as_they_were(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_forecast(synthetic_panel(1, 200, seed=1), TINY, out, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(ConfigError):
        run_forecast(synthetic_panel(1, 30, seed=1), TINY, out, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_outputs_never_replace_the_inputs_they_were_made_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    panel = synthetic_panel(1, 200, seed=1)
    run_forecast(panel, TINY, out, progress=False)
    model = (out / "model.pt").read_bytes()
    for model_path in (out / "model.pt", out):
        with pytest.raises(ConfigError, match="is the folder of the model read"):
            predict_with_model(panel, model_path, out)
    with pytest.raises(ConfigError, match="is the folder of the forecasts this backtest reads"):
        run_backtest_job(panel, out, strategy="buyhold", forecasts=out / "forecasts.csv", progress=False)
    assert (out / "model.pt").read_bytes() == model and (out / "forecasts.csv").is_file()
    # a parameters file read from the folder being written stays (best_params.json is also an output name)
    (out / "best_params.json").write_text(json.dumps({"params": {"window": 10, "hidden": 8, "epochs": 1}}))
    monkeypatch.setattr(
        sys, "argv", ["qtrade", "forecast", "--params", str(out / "best_params.json"), "--out", str(out)]
    )
    run_forecast(panel, TINY.with_params(out / "best_params.json"), out, progress=False)
    assert (out / "best_params.json").is_file()


def test_clear_previous_removes_only_qtrade_outputs(tmp_path: Path) -> None:
    for name in ("metrics.json", "model.pt", "study.db", "mine.csv"):
        (tmp_path / name).write_text("x")
    (tmp_path / "forecast").mkdir()
    (tmp_path / "forecast" / "forecasts.csv").write_text("x")
    assert sorted(clear_previous(tmp_path, keep=[tmp_path / "model.pt"])) == ["forecast", "metrics.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.csv", "model.pt", "study.db"]


# --- item 11: --model scores the training run's own test rows ---------------------------------------------


@pytest.mark.parametrize("execution", ["next-close", "same-close"])
def test_a_saved_model_scores_the_same_test_rows_as_its_training_run(tmp_path: Path, execution: str) -> None:
    panel = synthetic_panel(2, 240, seed=6)
    trained = run_forecast(
        panel, ForecastConfig(window=10, hidden=8, epochs=1, execution=execution), tmp_path / "a", progress=False
    )
    again = predict_with_model(panel, tmp_path / "a" / "model.pt", None)
    for split in ("train", "val", "test"):
        a = trained.forecasts[trained.forecasts["split"] == split][["date", "ticker"]].reset_index(drop=True)
        b = again.forecasts[again.forecasts["split"] == split][["date", "ticker"]].reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)
    assert again.metrics["test"]["n"] == trained.metrics["test"]["n"]
    assert again.metrics["test"]["first_date"] == trained.metrics["test"]["first_date"]


# --- item 10: reruns compare every input and fail loudly ------------------------------------------------


def test_input_hashes_cover_every_file_option(tmp_path: Path) -> None:
    params = tmp_path / "p.json"
    params.write_text('{"window": 10}')
    folder = tmp_path / "fc"
    folder.mkdir()
    (folder / "forecasts.csv").write_text("a")
    found = input_hashes(
        ["qtrade", "backtest", "--forecasts", str(folder), f"--forecast-params={params}", "--out", "x"]
    )
    assert set(found) == {"--forecasts", "--forecast-params"}
    assert found["--forecast-params"]["sha256"] == file_hash(params)
    before = found["--forecasts"]["sha256"]
    (folder / "forecasts.csv").write_text("b")
    assert file_hash(folder) != before


@pytest.mark.slow
def test_rerun_exits_non_zero_when_an_input_changed(tmp_path: Path) -> None:
    data = _csv(tmp_path, 200)
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"window": 10, "hidden": 8, "epochs": 1}))
    first = subprocess.run(
        [
            sys.executable,
            "-m",
            "qtrade.cli",
            "forecast",
            "--data",
            str(data),
            "--params",
            str(params),
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert first.returncode == 0, first.stderr
    recorded = json.loads((tmp_path / "run" / "manifest.json").read_text())["inputs"]
    assert recorded["--params"]["sha256"] == file_hash(params)
    same = CliRunner().invoke(app, ["rerun", str(tmp_path / "run"), "--out", str(tmp_path / "same")])
    assert same.exit_code == 0, same.output
    assert f"--params {params}: the same" in same.output and "forecasts.csv: identical" in same.output
    params.write_text(json.dumps({"window": 10, "hidden": 8, "epochs": 1, "seed": 3}))
    changed = CliRunner().invoke(app, ["rerun", str(tmp_path / "run"), "--out", str(tmp_path / "changed")])
    assert changed.exit_code == 1
    assert f"--params {params}: DIFFERENT" in changed.output and "forecasts.csv: DIFFERENT" in changed.output


def test_rerun_result_is_not_the_same_when_an_output_is_missing(tmp_path: Path) -> None:
    from qtrade.rerun import Rerun

    r = Rerun()
    r.compare("a", True)
    assert r.same
    r.compare("b", False)
    assert not r.same and r.lines == ["a: identical", "b: DIFFERENT"]
    assert callable(rerun)


# --- item 12: torch threads shared among qtrade processes --------------------------------------------------


def test_threads_are_shared_among_live_processes_and_dead_ones_are_forgotten(tmp_path: Path) -> None:
    registry = tmp_path / "procs"
    sleepers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(2)]
    try:
        with shared_threads(None, registry):
            assert share(registry) == cores()
            for p in sleepers:
                (registry / f"{p.pid}.pid").touch()
            assert share(registry) == max(1, cores() // 3)
            dead = subprocess.run(
                [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
            ).stdout.strip()
            (registry / f"{dead}.pid").touch()
            assert share(registry) == max(1, cores() // 3)
            assert not (registry / f"{dead}.pid").exists()
        assert not (registry / f"{os.getpid()}.pid").exists()
    finally:
        for p in sleepers:
            p.kill()


def test_threads_option_and_environment_fix_the_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = torch.get_num_threads()
    try:
        assert use_threads(1, tmp_path) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("QTRADE_THREADS", "2")
        assert use_threads(None, tmp_path) == 2 and torch.get_num_threads() == 2
        monkeypatch.setenv("QTRADE_THREADS", "many")
        with pytest.raises(ConfigError, match="QTRADE_THREADS"):
            use_threads(None, tmp_path)
    finally:
        torch.set_num_threads(old)
    with pytest.raises(ConfigError, match="--threads 0"):
        ForecastConfig(threads=0)


# --- item 13: tuning output people can read ---------------------------------------------------------------


@pytest.mark.slow
def test_tune_rounds_what_it_prints_and_draws_importances_only_with_enough_trials(tmp_path: Path) -> None:
    data = _csv(tmp_path, 220, n_tickers=2)
    space = tmp_path / "space.json"
    space.write_text(
        json.dumps(
            {
                "window": {"type": "int", "low": 8, "high": 12},
                "lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
                "hidden": {"type": "fixed", "value": 8},
            }
        )
    )
    res = CliRunner().invoke(
        app,
        [
            "tune",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "t"),
            "--n-trials",
            "3",
            "--epochs",
            "1",
            "--space",
            str(space),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    best = res.output.split("best ")[1].split()[0]
    assert len(best.replace("-", "").replace(".", "")) <= 5, res.output
    lr = res.output.split("lr=")[1].split(",")[0].split()[0]
    assert len(lr.replace(".", "").replace("e-0", "").lstrip("0")) <= 5, res.output
    page = (tmp_path / "t" / "tuning_report.html").read_text()
    assert not (tmp_path / "t" / "importances.png").exists()
    assert "No parameter importances: 3 complete trials" in page


# --- issue 18, item 15: every command that writes a folder records its manifest ---------------------------------


def test_report_rebuilding_a_tearsheet_records_it_in_the_backtests_manifest(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_backtest_job(synthetic_panel(2, 260, seed=3), out, strategy="buyhold", forecast_config=TINY, progress=False)
    before = json.loads((out / "manifest.json").read_text())
    res = CliRunner().invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    after = json.loads((out / "manifest.json").read_text())
    # the backtest the folder holds is still what the manifest describes (and what qtrade rerun runs again) ...
    assert {k: v for k, v in after.items() if k != "rebuilt"} == before
    # ... and it says the tearsheet was drawn again, when, and with which QuantStats
    (entry,) = after["rebuilt"]
    assert entry["command"] == "report" and entry["outputs"] == ["tearsheet.html"]
    assert entry["versions"]["quantstats"] == before["versions"]["quantstats"] and entry["created"] >= before["created"]
