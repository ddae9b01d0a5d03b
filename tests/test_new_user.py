"""What a new user met (issue 18, item 16): messages that name the option at fault, no blank line before an error,
"1 ticker", the normal head named, a line while the baselines fit, losses in the units of the reports, and a
backtest that ends by saying which file to open."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecasting.market.synthetic import synthetic_panel
from forecasting.model.checkpoint import load_checkpoint
from forecasting.pipeline import ForecastConfig, run_forecast
from qtrade.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "panel.csv"
    synthetic_panel(2, 330, seed=4).reset_index().to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "0"], "error: --epochs 0 must be 1 or more"),
        (["--hidden", "0"], "error: --hidden 0 must be 1 or more"),
        (["--batch-size", "-3"], "error: --batch-size -3 must be 1 or more"),
        (["--patience", "0"], "error: --patience 0 must be 1 or more"),
        (["--lr", "0"], "error: --lr 0.0 must be above 0"),
    ],
)
def test_a_bad_setting_is_refused_naming_only_that_option(
    data: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["forecast", "--data", str(data), "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 1 and result.stderr == message + "\n"


def test_data_too_short_is_refused_in_one_line_without_a_blank_one_before(tmp_path: Path) -> None:
    short = tmp_path / "short.csv"
    synthetic_panel(2, 150, seed=1).reset_index().to_csv(short, index=False)
    result = runner.invoke(app, ["forecast", "--data", str(short), "--out", str(tmp_path / "o"), "--epochs", "1"])
    assert result.exit_code == 1
    assert re.fullmatch(
        r"error: \S+short\.csv: 150 trading days give a training block of \d+ days, too few for the "
        r"baselines' fits \(\d+ days\); with --window 30 the split needs at least \d+ days of data, so "
        r"give more data\n",
        result.stderr,
    ), result.stderr


def test_one_ticker_is_one_ticker(tmp_path: Path) -> None:
    one = tmp_path / "one.csv"
    synthetic_panel(1, 120, seed=2).reset_index().to_csv(one, index=False)
    result = runner.invoke(app, ["data", str(one)])
    assert result.exit_code == 0, result.output
    assert "1 ticker, " in result.output and "1 tickers" not in result.output


def test_the_normal_head_is_named_and_the_progress_shows_the_nll_of_returns(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "normal"
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
            "--layers",
            "1",
            "--epochs",
            "3",
            "--patience",
            "3",
            "--dist",
            "normal",
            "--mean-shrinkage",
            "none",
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["models"]["lstm"] == "LSTM-MLE (normal)" and "LSTM-MLE (normal)" in result.output
    # a line says what happens between the last epoch and the table
    assert "fitting the baselines (GARCH, GJR-GARCH-t, HAR, ...) and scoring" in result.stderr
    # the bar's last epoch: the NLL of log returns, as the table gives it; the network was trained on returns
    # divided by the target scale, whose NLL is larger by log(scale)
    shown = [
        (float(t), float(v)) for t, v in re.findall(r"epoch 3: NLL train (-?\d+\.\d+) val (-?\d+\.\d+)", result.stderr)
    ]
    assert shown, result.stderr
    train_nll, val_nll = shown[-1]
    assert val_nll < 0 and train_nll < 0  # daily returns: a density far above 1, a negative NLL
    scale = load_checkpoint(out / "model.pt").meta["scaler"]["target_scale"]
    assert 0.001 < scale < 0.1
    # the table's NLL of the validation block is on the same scale (within the few epochs' drift), not 4 nats off
    assert abs(val_nll - metrics["val"]["overall"]["lstm"]["nll"]) < 0.05 < abs(np.log(scale))


def test_baselines_line_and_losses_in_returns_through_the_api(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    panel = synthetic_panel(2, 330, seed=4)
    config = ForecastConfig(
        window=10, hidden=8, layers=1, epochs=2, patience=2, device="cpu", dist="normal", mean_shrinkage="none"
    )
    run = run_forecast(panel, config, tmp_path / "o", progress=True)
    err = capsys.readouterr().err
    assert "fitting the baselines" in err
    last = run.histories[0][-1]
    printed = re.findall(r"epoch 2: NLL train (-?\d+\.\d+) val (-?\d+\.\d+)", err)
    assert len(printed) == 1, err
    scale = load_checkpoint(tmp_path / "o" / "model.pt").meta["scaler"]["target_scale"]
    # the history holds the NLL of returns divided by the target scale; the bar adds log(scale), the Jacobian
    for shown, scaled in zip(printed[0], (last["train_loss"], last["val_loss"]), strict=True):
        assert abs(float(shown) - (scaled + np.log(scale))) <= 5.1e-5


def test_a_backtest_ends_by_naming_the_tearsheet_to_open(tmp_path: Path) -> None:
    panel = synthetic_panel(1, 260, seed=3)
    data = tmp_path / "one.csv"
    panel.reset_index().to_csv(data, index=False)
    close = panel["close"].droplevel("ticker")
    target = np.log(close.shift(-2) / close.shift(-1))
    forecasts = pd.DataFrame(
        {
            "date": close.index,
            "ticker": "T0000",
            "mean": 0.0005,
            "variance": 1e-4,
            "target": target.to_numpy(),
            "split": np.where(np.arange(len(close)) < 150, "train", "test"),
            "execution": "next-close",
        }
    )
    fc = tmp_path / "forecasts.csv"
    forecasts.to_csv(fc, index=False, date_format="%Y-%m-%d")
    out = tmp_path / "bt"
    result = runner.invoke(app, ["backtest", "--forecasts", str(fc), "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert " on 1 ticker, " in result.stdout and "1 tickers" not in result.stdout
    assert " ".join(lines[-1].split()) == f"Open {out / 'tearsheet.html'} in a browser for the full report."
    assert (out / "tearsheet.html").is_file()
