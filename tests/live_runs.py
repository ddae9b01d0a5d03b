"""What the tests of ``qtrade signal``, ``paper`` and ``refit`` share: a forecaster small enough to train in a
second, the built-in strategies they must each cover, and a backtest run quietly."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from backtests.engine import Execution
from backtests.pipeline import run_backtest_job
from forecasting.pipeline import ForecastConfig

TINY = ForecastConfig(window=10, hidden=8, layers=1, epochs=2, batch_size=64, patience=2, device="cpu")
BUILT_IN = ["betsize", "buyhold", "kelly", "longshort", "meanvar", "minvar", "riskparity", "sma", "threshold"]
BUILT_IN += ["volmanaged", "voltarget"]


def backtest(panel: pd.DataFrame, forecasts: Path, out: Path, strategy: str, execution: Execution) -> Any:
    """``qtrade backtest`` of ``strategy`` on ``forecasts`` into ``out``, its warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_backtest_job(panel, out, strategy=strategy, forecasts=forecasts, execution=execution, progress=False)
