"""The reliability audit: look-ahead at every stage, a placebo, reproducibility, reruns and crash safety."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backtests.costs import CostModel
from backtests.engine import Execution, run_backtest
from backtests.inputs import align
from backtests.pipeline import run_backtest_job
from forecasting.market.synthetic import synthetic_panel
from forecasting.pipeline import ForecastConfig, predict_with_model, run_forecast
from qtrade.cli import app
from strategies import get, parse_params

TINY = ForecastConfig(window=10, hidden=8, epochs=2, patience=2)


NO_COSTS = CostModel(commission_bps=0, half_spread_bps=0, impact=0, participation=1, borrow=0, financing=0)
FLAT_10BP = CostModel(commission_bps=5, half_spread_bps=5, impact=0, participation=1, borrow=0, financing=0)


def random_forecasts(panel: pd.DataFrame, seed: int, *, scale: float = 0.01) -> pd.DataFrame:
    """Forecasts drawn at random, unrelated to the prices; the target is the real held return (next-close)."""
    from backtests.inputs import held_returns
    from forecasting.market.cleaning import clean_panel

    clean = clean_panel(panel)
    close = clean.values["close"]
    target = held_returns(close, ~clean.filled, lag=1)
    rng = np.random.default_rng(seed)
    n_dates, n_tickers = close.shape
    return pd.DataFrame(
        {
            "date": np.repeat(clean.dates, n_tickers),
            "ticker": np.tile(clean.tickers.astype(str), n_dates),
            "mean": rng.normal(0, scale, n_dates * n_tickers),
            "variance": 1e-4,
            "target": target.reshape(-1),
            "split": "test",
            "execution": "next-close",
        }
    ).dropna(subset=["target"])


def test_strategy_positions_ignore_everything_after_their_date() -> None:
    panel = synthetic_panel(3, 300, seed=5)
    fc = random_forecasts(panel, 1)
    dates = panel.index.get_level_values("date").unique()
    cut = dates[180]
    later = panel.copy()
    after = later.index.get_level_values("date") > cut
    later.loc[after, ["open", "high", "low", "close"]] *= np.exp(
        np.random.default_rng(2).normal(0, 0.05, (after.sum(), 1))
    )
    fc_later = fc.copy()
    fc_later.loc[fc_later["date"] > cut, "mean"] *= -3.0
    fc_later["target"] = random_forecasts(later, 1)["target"].to_numpy()  # the targets of the changed prices
    spec = get("kelly")
    a = run_backtest(align(panel, fc), spec, parse_params(spec, None), Execution())
    b = run_backtest(align(later, fc_later), spec, parse_params(spec, None), Execution())
    assert a.decisions.loc[:cut].equals(b.decisions.loc[:cut])  # what was decided with data up to the cut
    assert a.returns.loc[:cut].equals(b.returns.loc[:cut])
    assert not a.decisions.loc[cut:].iloc[1:].equals(b.decisions.loc[cut:].iloc[1:])  # the change did matter


def test_forecasts_from_truncated_data_equal_those_from_the_full_data(tmp_path: Path) -> None:
    panel = synthetic_panel(3, 320, seed=6, missing=0.01)
    run_forecast(panel, TINY, tmp_path / "m", progress=False)
    full = predict_with_model(panel, tmp_path / "m" / "model.pt", None, score=False).forecasts
    dates = panel.index.get_level_values("date").unique()
    for cut in (dates[200], dates[260]):
        short = predict_with_model(
            panel[panel.index.get_level_values("date") <= cut], tmp_path / "m" / "model.pt", None, score=False
        ).forecasts
        mine = full[full["date"] <= cut].reset_index(drop=True)
        assert len(short) == len(mine)
        assert np.array_equal(short["mean"].to_numpy(), mine["mean"].to_numpy())
        assert np.array_equal(short["variance"].to_numpy(), mine["variance"].to_numpy())


def test_placebo_forecasts_earn_nothing_but_lose_the_costs() -> None:
    panel = synthetic_panel(3, 260, seed=8)
    spec = get("threshold")
    params = parse_params(spec, ["k=0"])
    gross, net = [], []
    for seed in range(24):
        data = align(panel, random_forecasts(panel, seed), split="test")
        free = run_backtest(data, spec, params, Execution(costs=NO_COSTS)).returns
        paid = run_backtest(data, spec, params, Execution(costs=FLAT_10BP)).returns
        gross.append(free.mean() / free.std() * np.sqrt(252))
        net.append(paid.mean() / paid.std() * np.sqrt(252))
    gross_a, net_a = np.array(gross), np.array(net)
    se = gross_a.std(ddof=1) / np.sqrt(len(gross_a))
    assert abs(gross_a.mean()) < 3 * se  # centred on zero
    assert (net_a < gross_a).all()  # and the costs come off every time
    assert net_a.mean() < gross_a.mean() - 1.0  # ~10 bp a day of turnover costs is a large drag


def test_the_same_command_gives_the_same_numbers(tmp_path: Path) -> None:
    panel = synthetic_panel(3, 300, seed=9)
    fc = tmp_path / "f.csv"
    random_forecasts(panel, 3).assign(
        split=lambda f: np.where(f["date"] < f["date"].iloc[len(f) // 2], "val", "test")
    ).to_csv(fc, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = run_backtest_job(panel, tmp_path / "a", strategy="voltarget", forecasts=fc)
        b = run_backtest_job(panel, tmp_path / "b", strategy="voltarget", forecasts=fc)
    assert a.stats == b.stats
    assert (tmp_path / "a" / "returns.csv").read_bytes() == (tmp_path / "b" / "returns.csv").read_bytes()
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    for key in ("seed", "data", "config", "versions", "argv", "cwd"):
        assert key in manifest
    assert len(manifest["data"]["sha256"]) == 64


@pytest.mark.slow
def test_rerun_from_the_manifest_reproduces_the_run(tmp_path: Path) -> None:
    data = tmp_path / "panel.csv"
    synthetic_panel(2, 260, seed=4).reset_index().to_csv(data, index=False)
    first = subprocess.run(
        [
            sys.executable,
            "-m",
            "qtrade.cli",
            "backtest",
            "--data",
            str(data),
            "--strategy",
            "betsize",
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
    res = CliRunner().invoke(app, ["rerun", str(tmp_path / "run"), "--out", str(tmp_path / "again")])
    assert res.exit_code == 0, res.output
    assert "data: the same" in res.output
    for name in ("forecast/forecasts.csv", "stats.json", "returns.csv"):
        assert f"{name}: identical" in res.output


@pytest.mark.parametrize(
    "args",
    [
        ["forecast"],
        ["backtest", "--out", "x", "--cash", "lots"],
        ["nosuchcommand"],
        ["tune", "--out", "x", "--n-trials", "0"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2


def _outputs_are_whole(folder: Path) -> None:
    """Every file a run leaves is a complete one: each parses to the end."""
    import torch

    for path in folder.rglob("*"):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.suffix == ".csv":
            pd.read_csv(path)
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".parquet":
            pd.read_parquet(path)
        elif path.suffix == ".html":
            assert path.read_text().rstrip().endswith("</html>")
        elif path.suffix == ".pt":
            torch.load(path, weights_only=True)
        elif path.suffix == ".png":
            assert path.read_bytes()[-8:] == b"IEND\xaeB`\x82"


@pytest.mark.slow
def test_a_run_killed_at_any_moment_leaves_only_whole_files(tmp_path: Path) -> None:
    data = tmp_path / "panel.csv"
    synthetic_panel(2, 300, seed=4).reset_index().to_csv(data, index=False)
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "qtrade.cli",
        "backtest",
        "--data",
        str(data),
        "--strategy",
        "kelly",
        "--out",
        str(out),
        "--quiet",
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)  # a complete previous output
    _outputs_are_whole(out)
    for delay in (2.0, 3.5, 5.0, 6.5, 8.0):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _outputs_are_whole(out)
    leftovers = [p.name for p in out.rglob(".*") if p.is_file()]
    assert all(name.endswith(".part") for name in leftovers), leftovers  # only hidden temporaries


def test_non_finite_inputs_never_reach_the_loss() -> None:
    from forecasting.errors import DataError
    from forecasting.market.cleaning import clean_panel
    from forecasting.preparation.dataset import prepare
    from forecasting.preparation.features import build_features
    from forecasting.preparation.splits import TRAIN, chronological_split

    cube = build_features(clean_panel(synthetic_panel(2, 200, seed=1)))
    prep = prepare(cube, chronological_split(cube.dates), 10)
    samples = prep.samples(TRAIN)
    prep.x[1, int(samples[5, 1]) - 3, 2] = np.inf  # as if something upstream had let an infinity through
    with pytest.raises(DataError, match=rf"for {cube.tickers[1]} at \d{{4}}-\d\d-\d\d"):
        prep.dataset(samples, with_target=True)


def test_a_diverging_loss_stops_the_run_with_a_message() -> None:
    import torch

    from forecasting.errors import ConfigError
    from forecasting.model.network import ModelConfig
    from forecasting.model.training import TrainConfig, WindowDataset, train_model

    x = torch.randn(2, 80, 6)
    samples = np.array([(i, t) for i in range(2) for t in range(9, 80)])
    finite = WindowDataset(x, samples, np.zeros(len(samples)), 10)
    huge = WindowDataset(x, samples, np.full(len(samples), 3e38), 10)  # squared, it overflows to inf in float32
    cfg = ModelConfig(n_features=6, hidden=8, layers=1, dropout=0.0)
    with pytest.raises(ConfigError, match=r"training diverged: the loss is (inf|nan) at epoch 1; lower --lr"):
        train_model(huge, finite, cfg, TrainConfig(epochs=3, batch_size=32, device="cpu"))
