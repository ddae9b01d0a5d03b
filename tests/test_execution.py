"""Execution modes on a market built so that the cheat pays: a random-walk mid price whose closes bounce between the
bid and the ask. Nothing is predictable, yet filling at the close a forecast has seen looks like an edge."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backtests.engine import Execution, run_backtest
from backtests.inputs import align, held_returns
from backtests.stats import performance
from forecasting.market.cleaning import clean_panel
from forecasting.market.synthetic import bounce_panel
from forecasting.preparation.execution import EXECUTIONS, execution_mode
from qtrade.cli import app
from strategies import available, get, parse_params

FORECAST_RULES = sorted(s.name for s in available() if s.uses_forecast and not s.name.startswith("test_"))


@pytest.fixture(scope="module")
def bounce() -> pd.DataFrame:
    return bounce_panel(6, 2000, bounce_bp=50.0, seed=0)


def reversal_forecasts(panel: pd.DataFrame, mode: str) -> pd.DataFrame:
    """The legitimate reversal forecast ``mean = -0.5 r_t`` (r_t: the close-to-close return ending at the origin,
    known at its close) with an EWMA variance, labelled with the return ``mode`` holds."""
    m = execution_mode(mode)
    clean = clean_panel(panel)
    close = clean.values["close"]
    r = np.full_like(close, np.nan)
    r[1:] = np.log(close[1:] / close[:-1])
    var = pd.DataFrame(r).ewm(alpha=0.06).var().to_numpy()
    target = held_returns(clean.values[m.price], ~clean.filled, m.lag)
    rows = [
        pd.DataFrame(
            {
                "date": clean.dates,
                "ticker": str(t),
                "mean": -0.5 * r[:, j],
                "variance": var[:, j],
                "target": target[:, j],
                "split": "train",
                "execution": m.name,
            }
        )
        for j, t in enumerate(clean.tickers)
    ]
    frame = pd.concat(rows, ignore_index=True)
    frame.loc[frame["date"] >= clean.dates[1000], "split"] = "test"
    return frame.dropna(subset=["mean", "variance"]).reset_index(drop=True)


def _net_sharpes(panel: pd.DataFrame, mode: str) -> dict[str, float]:
    data = align(panel, reversal_forecasts(panel, mode), execution=mode)
    out = {}
    for name in FORECAST_RULES:
        spec = next(s for s in available() if s.name == name)
        params = parse_params(spec, ["k=0"] if name == "threshold" else ["k=3"] if name == "longshort" else None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = run_backtest(data, spec, params, Execution(mode=mode))
        out[name] = performance(result.returns)["sharpe"] or 0.0
    return out


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["next-close", "next-open"])
def test_honest_fills_find_no_edge_on_the_bounce_market(bounce, mode) -> None:
    sharpes = _net_sharpes(bounce, mode)
    assert set(sharpes) == set(FORECAST_RULES)
    # the long-only risk rules earn the market's drift, as buying and holding does, and nothing from the bounce
    long_only = {"volmanaged", "riskparity", "minvar"}
    held = run_backtest(
        align(bounce, reversal_forecasts(bounce, mode), execution=mode), get("buyhold"), {}, Execution(mode=mode)
    )
    drift = performance(held.returns)["sharpe"] or 0.0
    assert max(v for k, v in sharpes.items() if k not in long_only) < 0.5, sharpes
    assert max(sharpes[k] for k in long_only) < drift + 0.25, (sharpes, drift)


@pytest.mark.slow
def test_same_close_fills_book_the_bounce_as_profit(bounce) -> None:
    sharpes = _net_sharpes(bounce, "same-close")
    for name in ("kelly", "threshold", "betsize", "voltarget"):
        assert sharpes[name] > 1.0, sharpes


def test_the_bounce_market_is_unpredictable_where_real_orders_fill(bounce) -> None:
    # the reversal forecast's information coefficient with each mode's held return, over the whole sample
    clean = clean_panel(bounce)
    close = clean.values["close"]
    r = np.log(close[1:] / close[:-1])
    for mode in EXECUTIONS:
        m = execution_mode(mode)
        held = held_returns(clean.values[m.price], ~clean.filled, m.lag)[1:]
        ok = np.isfinite(held)
        ic = np.corrcoef(-r[ok], held[ok])[0, 1]
        if m.optimistic:
            assert ic > 0.1  # about 0.17: the bounce variance over the whole return variance
        else:
            assert abs(ic) < 0.03


runner = CliRunner()


@pytest.mark.slow
def test_the_lstm_learns_the_bounce_and_only_same_close_pays_for_it(tmp_path: Path) -> None:
    panel = bounce_panel(6, 1200, bounce_bp=50.0, seed=1)
    data = tmp_path / "bounce.csv"
    panel.reset_index().to_csv(data, index=False)
    sharpe = {}
    for mode in ("same-close", "next-close"):
        out = tmp_path / mode
        res = runner.invoke(
            app,
            [
                "backtest",
                "--strategy",
                "threshold",
                "--param",
                "k=0",
                "--data",
                str(data),
                "--execution",
                mode,
                "--forecast-params",
                str(_small_model(tmp_path)),
                "--quiet",
                "--out",
                str(out),
            ],
        )
        assert res.exit_code == 0, res.output
        stats = json.loads((out / "stats.json").read_text())
        assert stats["execution"]["mode"] == mode
        assert stats["execution"]["optimistic"] == (mode == "same-close")
        assert ("OPTIMISTIC" in (out / "tearsheet.html").read_text()) == (mode == "same-close")
        forecasts = pd.read_csv(out / "forecast" / "forecasts.csv")
        assert (forecasts["execution"] == mode).all()
        sharpe[mode] = stats["net"]["sharpe"]
    assert sharpe["same-close"] > 2.0, sharpe
    assert sharpe["next-close"] < 0.5, sharpe


def _small_model(folder: Path) -> Path:
    path = folder / "params.json"
    path.write_text(
        json.dumps(
            {"window": 10, "hidden": 16, "layers": 1, "epochs": 8, "patience": 3, "batch_size": 512, "lr": 0.003}
        )
    )
    return path
