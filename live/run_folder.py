"""What a finished ``qtrade backtest`` folder tells a signal: the strategy and its calibrated settings, the
execution and costs, the calendar, the forecast run whose saved model forecasts, the history it read, and the
book it ended with."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backtests.costs import CostModel
from backtests.engine import Execution
from forecasting.errors import DataError
from forecasting.outputs import read_record
from strategies.registry import StrategySpec, get
from strategies.user_rules import reference

__all__ = ["RunFolder", "read_run"]

_FIX = "give the --out folder of a finished qtrade backtest (made by this version of qtrade)"


@dataclass(frozen=True)
class RunFolder:
    """A finished backtest, as a signal reads it.

    ``params`` are the settings the rule ran with (calibrated on the training forecasts, as ``stats.json``
    records them); ``tickers`` the tickers it traded (``decisions.csv``'s columns), ``read`` those of the data
    it read (a benchmark's too) and ``forecast_tickers`` those the forecast run forecast; ``first_origin`` the
    first close it decided at; ``history`` the hash of each row it read; ``last_weights`` and ``last_equity``
    the book it ended with. ``model`` is the forecast run's own saved model; :meth:`model_for` the one in force
    at a close, once ``qtrade refit`` has refitted it.
    """

    folder: Path
    strategy: str
    spec: StrategySpec
    params: dict[str, Any]
    execution: Execution
    calendar: str
    max_gap: int
    forecasts: Path
    model: Path
    tickers: list[str]
    read: list[str]
    forecast_tickers: list[str]
    first_origin: pd.Timestamp
    history: pd.DataFrame
    last_weights: pd.Series
    last_equity: float

    def model_for(self, day: pd.Timestamp) -> Path:
        """The model in force at the close of ``day``: that of the newest fold whose refit date is on or before it,
        among the forecast run's own (its last fold's) and its refits (:func:`forecasting.refit.model_for`)."""
        from forecasting.refit import model_for

        return model_for(self.model.parent, day)


def _json(path: Path) -> dict[str, Any]:
    return read_record(path, _FIX)


def _resolved(text: str, cwd: str | None) -> Path:
    """A path the run recorded, relative to the folder it ran in when it was relative."""
    p = Path(text)
    return p if p.is_absolute() or cwd is None else Path(cwd) / p


def read_run(folder: str | os.PathLike[str]) -> RunFolder:
    """Read a backtest folder; refuse one that is not whole, or whose forecasts have no saved model beside them."""
    out = Path(folder)
    if not out.is_dir():
        raise DataError(f"{out}: no such folder; {_FIX}")
    if (out / "comparison.json").is_file():
        raise DataError(f"{out}: a --strategy all folder; give the folder of one strategy in it ({out}/kelly, ...)")
    # a --strategy all folder keeps one history.parquet for every strategy, above their folders
    shared = out.parent / "history.parquet" if (out.parent / "comparison.json").is_file() else None
    history_file = shared if shared is not None and not (out / "history.parquet").is_file() else out / "history.parquet"
    needed = ["manifest.json", "stats.json", "decisions.csv", "holdings.csv", "returns.csv"]
    missing = [n for n in needed if not (out / n).is_file()] + ([] if history_file.is_file() else ["history.parquet"])
    if missing:
        raise DataError(f"{out}: no {', '.join(missing)}; {_FIX}")
    manifest, stats = _json(out / "manifest.json"), _json(out / "stats.json")
    config = manifest.get("config", {})
    if not str(manifest.get("command", "")).startswith("backtest") or not isinstance(config, dict):
        raise DataError(f"{out}/manifest.json: not a qtrade backtest's; {_FIX}")
    ex = dict(config["execution"])
    costs = CostModel(**ex.pop("costs"))
    ex.pop("rf", None)  # the risk-free rate moves returns, never a decision
    execution = Execution(**ex, costs=costs)
    strategy = str(config["strategy"])
    cwd = manifest.get("cwd")
    rules = reference(strategy)
    if rules is not None and cwd is not None and not rules[0].is_absolute():  # a rules file named from the run's folder
        strategy = str(Path(cwd) / rules[0]) + ("" if rules[1] is None else f":{rules[1]}")
    made_here = out / "forecast"
    forecasts = made_here if (made_here / "model.pt").is_file() else _resolved(str(config["forecasts"]), cwd)
    fc_dir = forecasts if forecasts.is_dir() else forecasts.parent
    model = fc_dir / "model.pt"
    if not model.is_file():
        raise DataError(
            f"{out}: its forecasts ({forecasts}) have no model.pt beside them; a signal forecasts with the saved "
            "model: backtest on the folder of a qtrade forecast run"
        )
    files = [forecasts] if forecasts.is_file() else [fc_dir / "forecasts.parquet", fc_dir / "forecasts.csv"]
    found = [f for f in files if f.is_file()]
    if not found:
        raise DataError(f"{out}: its forecasts ({forecasts}) are gone; {_FIX}")
    named = (
        pd.read_parquet(found[0], columns=["ticker"])
        if found[0].suffix == ".parquet"
        else pd.read_csv(found[0], usecols=["ticker"], dtype={"ticker": str})
    )
    fc_manifest = _json(fc_dir / "manifest.json") if (fc_dir / "manifest.json").is_file() else {}
    fc_config = fc_manifest.get("config", {})
    max_gap = int(fc_config.get("max_gap", 5)) if isinstance(fc_config, dict) else 5
    decisions = pd.read_csv(out / "decisions.csv", index_col="date", parse_dates=["date"], nrows=1)
    holdings = pd.read_csv(out / "holdings.csv", index_col="date", parse_dates=["date"])
    returns = pd.read_csv(out / "returns.csv", index_col="date", parse_dates=["date"])
    if decisions.empty or holdings.empty:
        raise DataError(f"{out}: the backtest decided nothing; {_FIX}")
    history = pd.read_parquet(history_file)
    tickers = [str(t) for t in decisions.columns]
    last = holdings.iloc[-1].astype(float)
    last.index = last.index.astype(str)
    equity = float(execution.cash * np.prod(1.0 + returns["strategy"].to_numpy(dtype=float)))
    return RunFolder(
        folder=out,
        strategy=strategy,
        spec=get(strategy),
        params=dict(stats.get("params", {})),
        execution=execution,
        calendar=str(config.get("calendar", "none")),
        max_gap=max_gap,
        forecasts=forecasts,
        model=model,
        tickers=tickers,
        read=sorted({str(t) for t in history["ticker"].unique()}),
        forecast_tickers=sorted({str(t) for t in named["ticker"].unique()}),
        first_origin=pd.Timestamp(decisions.index[0]),
        history=history,
        last_weights=last,
        last_equity=equity,
    )
