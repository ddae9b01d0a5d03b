"""``qtrade backtest`` and ``qtrade report``: forecasts in (made first when none are given), a run folder out.

Outputs in the run folder (each file written whole or not at all):

- ``tearsheet.html``: QuantStats' report with the forecast section;
- ``returns.csv``: date, strategy (net), strategy_gross, costs, benchmark (the ``--benchmark`` chosen,
  :mod:`backtests.benchmark_sources`), and with ``--rf`` rf (the risk-free rate of the day, annual / 252); the date
  is the close a return ends;
- ``trades.csv``: every fill: date (of the close or open it filled at), ticker, side, requested and filled size,
  price, value, and its costs in cash: commission, spread, impact, delisting;
- ``decisions.csv``: the rule's target weights decided at each forecast origin's close, before any fill (empty:
  keep the position), one column per ticker: all the numpy replay (:mod:`backtests.vectorized`) needs besides the
  prices and the settings, and what ``qtrade signal`` reproduces from the data of that close;
- ``holdings.csv``: the weights held after each decision, by forecast origin; ``deciles.csv``: profit by decile
  of forecast confidence;
- ``cross_section.csv``: per origin date, the forecast's IC and rank IC across tickers and its top-minus-bottom
  quintile spread of held returns (panels of 5 tickers or more; ``stats.json``'s ``cross_section`` summarises it);
- ``stats.json``: trading and forecast figures (``sharpe_inference``: how sure the Sharpe ratio is;
  ``forecast.var_backtests``: the VaR backtests of the forecast density; ``forecast_run``: the forecast run's
  Diebold-Mariano test, model confidence set and walk-forward folds, copied from its ``metrics.json`` (the forecast
  folder, or the folder of the forecasts file), over its whole test or out-of-sample period; ``jpx``: the JPX
  competition score, for ``longshort``);
  ``manifest.json``: versions, settings and data hash;
- ``history.parquet``: a hash of each (date, ticker) row of the data read (:func:`forecasting.manifest.history_table`),
  by which ``qtrade signal`` names the rows of later data that restate this history (under ``--strategy all``, one
  file in the folder above the strategies');
- ``forecast_metrics.json`` and ``training_curve.png``: copied from the forecast run when there is one;
- ``forecast/``: the forecast run, when the backtest made its own forecasts.

``qtrade backtest --strategy all`` runs this once per strategy and compares them (:mod:`backtests.comparison`).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from backtests.benchmark_sources import (
    BenchmarkSource,
    benchmark_source,
    check_ticker,
    choose_benchmark,
    without_ticker,
)
from backtests.engine import BacktestResult, Execution, run_backtest
from backtests.inputs import align, load_forecasts
from backtests.stats import backtest_stats, confidence_deciles, cross_section_daily, traded_cross_section
from backtests.tearsheet import ReportInputs, write_tearsheet
from forecasting.atomic import atomic_path, write_text
from forecasting.errors import ConfigError, DataError
from forecasting.manifest import history_table, run_manifest
from forecasting.market.calendars import resolve_calendar
from forecasting.outputs import check_out, clear_previous, written
from strategies.registry import get, parse_params

__all__ = ["BacktestRun", "forecast_dir", "rebuild_report", "run_backtest_job"]


@dataclass
class BacktestRun:
    result: BacktestResult
    stats: dict[str, Any]
    out: Path
    warnings: list[str] = field(default_factory=list)


def forecast_dir(path: Path) -> Path:
    """The folder of a forecast run: ``path`` itself, or the folder of a forecasts file."""
    return path if path.is_dir() else path.parent


def run_backtest_job(
    panel: pd.DataFrame,
    out: str | os.PathLike[str],
    *,
    strategy: str = "kelly",
    params: list[str] | None = None,
    forecasts: str | os.PathLike[str] | None = None,
    execution: Execution | None = None,
    split: str = "test",
    forecast_config: Any = None,
    source: str = "data",
    progress: bool = True,
    benchmark: str | BenchmarkSource = "equal",
    benchmark_only: bool = False,
    history: bool = True,
) -> BacktestRun:
    """Backtest ``strategy`` on ``panel`` with the given forecasts, or with forecasts made here first.

    ``history`` writes ``history.parquet`` (``qtrade backtest --strategy all`` writes one for every strategy, in
    the folder above theirs).

    ``benchmark`` is ``--benchmark`` (:mod:`backtests.benchmark_sources`): a ticker of ``panel`` that the forecasts
    have no rows for is a benchmark only, out of what the strategy trades; ``benchmark_only`` makes it one in any
    case (the command line's ``--tickers`` left it out), and keeps it out of forecasts made here.
    """
    spec = get(strategy)
    settings = parse_params(spec, params)
    execution = execution or Execution()
    chosen = benchmark if isinstance(benchmark, BenchmarkSource) else benchmark_source(benchmark)
    check_ticker(chosen, [str(t) for t in panel.index.unique("ticker")], source)
    out = check_out(out)
    if forecasts is not None and out.resolve() == forecast_dir(Path(forecasts)).resolve():
        raise ConfigError(
            f"--out {out} is the folder of the forecasts this backtest reads; give another folder, "
            "so that the forecast run's files are kept"
        )
    if forecasts is None:
        from dataclasses import replace

        from forecasting.pipeline import ForecastConfig, run_forecast

        config = replace(forecast_config or ForecastConfig(), execution=execution.mode)
        traded = _without(panel, chosen.value) if benchmark_only and chosen.kind == "ticker" else panel
        run_forecast(traded, config, out / "forecast", source=source, progress=progress)
        forecasts = out / "forecast"
        max_gap = config.max_gap
        made_here = True
    else:
        made_here = False
        max_gap = _forecast_max_gap(Path(forecasts))
    calendar = getattr(forecast_config, "calendar", "auto")  # the trading days the forecasts were made on
    if not made_here and calendar == "auto":
        calendar = _forecast_calendar(Path(forecasts))
    fc_path = Path(forecasts)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = load_forecasts(fc_path, execution=execution.mode)
        everything = align(
            panel, frame, split=split, max_gap=max_gap, source=source, execution=execution.mode, calendar=calendar
        )
        only = chosen.kind == "ticker" and (benchmark_only or chosen.value not in set(frame["ticker"]))
        if only:
            frame = frame[frame["ticker"] != chosen.value]
        data = without_ticker(everything, chosen.value) if only else everything
        result = run_backtest(data, spec, settings, execution)
        bench = choose_benchmark(chosen, everything, execution.mode, result.benchmark, traded=not only)
        result.benchmark, result.chosen_benchmark = bench.returns, bench
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    section = traded_cross_section(result.data)
    source_dir = forecast_dir(fc_path)
    metrics = _read_json(source_dir / "metrics.json")
    stats = backtest_stats(result, section=section, run_metrics=metrics)
    stats["warnings"] = messages
    deciles = confidence_deciles(result)
    curve = source_dir / "training_curve.png"
    curve_png = curve.read_bytes() if curve.is_file() else None
    seed = (
        int(getattr(forecast_config, "seed", 0))
        if made_here
        else int((_read_json(source_dir / "manifest.json") or {}).get("seed", 0))
    )
    # an earlier run's outputs go, but not the forecasts this backtest made or reads from this folder
    clear_previous(out, keep=[fc_path])
    out.mkdir(parents=True, exist_ok=True)
    _write_tables(result, deciles, out)
    if section.absent is None:
        with atomic_path(out / "cross_section.csv") as tmp:
            cross_section_daily(section).to_csv(tmp, date_format="%Y-%m-%d", float_format="%.10g")
    if metrics is not None:
        write_text(out / "forecast_metrics.json", json.dumps(metrics, indent=2))
    if curve_png is not None:
        with atomic_path(out / "training_curve.png") as tmp:
            tmp.write_bytes(curve_png)
    write_text(out / "stats.json", json.dumps(stats, indent=2, default=str))
    if history:
        write_history(panel, out)
    rebuild_report(out)
    manifest = run_manifest(
        command=f"backtest --strategy {strategy}",
        seed=seed,
        panel=panel,
        source=source,
        config={
            "strategy": strategy,
            "params": settings,
            "execution": asdict(execution),
            "split": split,
            "benchmark": str(chosen),
            "forecasts": str(fc_path),
            "calendar": resolve_calendar(calendar, panel) or "none",
        },
        extra={"outputs": written(out)},
    )
    write_text(out / "manifest.json", json.dumps(manifest, indent=2, default=str))
    return BacktestRun(result, stats, out, messages)


def write_history(panel: pd.DataFrame, out: Path) -> None:
    """``history.parquet``: the hash of each row of ``panel`` (:func:`forecasting.manifest.history_table`)."""
    with atomic_path(out / "history.parquet") as tmp:
        history_table(panel).to_parquet(tmp, index=False, compression="zstd")


def _without(panel: pd.DataFrame, ticker: str) -> pd.DataFrame:
    return panel[panel.index.get_level_values("ticker") != ticker]


def _forecast_max_gap(path: Path) -> int:
    manifest = _read_json(forecast_dir(path) / "manifest.json") or {}
    config = manifest.get("config", {})
    return int(config.get("max_gap", 5)) if isinstance(config, dict) else 5


def _forecast_calendar(path: Path) -> str:
    """The calendar a forecast run resolved (its manifest's ``calendar``, or ``metrics.json``'s
    ``run.calendar`` from before manifests recorded it); ``auto`` when neither records one."""
    folder = forecast_dir(path)
    recorded = (_read_json(folder / "manifest.json") or {}).get("calendar")
    if recorded:
        return str(recorded)
    run = (_read_json(folder / "metrics.json") or {}).get("run", {})
    return str(run.get("calendar", "auto")) if isinstance(run, dict) else "auto"


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _write_tables(result: BacktestResult, deciles: pd.DataFrame, out: Path) -> None:
    returns = pd.DataFrame(
        {
            "strategy": result.returns,
            "strategy_gross": result.gross_returns,
            "costs": result.costs,
            "benchmark": result.benchmark,
            **({} if result.execution.rf.is_zero or result.risk_free is None else {"rf": result.risk_free}),
        }
    )
    returns.index.name = "date"
    tables = {
        "returns.csv": returns,
        "trades.csv": result.fills,
        "decisions.csv": result.decisions.rename_axis("date"),
        "holdings.csv": result.holdings.rename_axis("date"),
        "deciles.csv": deciles,
    }
    for name, table in tables.items():
        with atomic_path(out / name) as tmp:
            table.to_csv(
                tmp,
                index=name in ("returns.csv", "decisions.csv", "holdings.csv"),
                date_format="%Y-%m-%d",
                # decisions in full: read back, they are the very floats the rule returned
                float_format="%.17g" if name == "decisions.csv" else "%.10g",
            )


def rebuild_report(folder: str | os.PathLike[str]) -> Path:
    """Write ``tearsheet.html`` again from what a backtest folder holds."""
    out = Path(folder)
    needed = ["returns.csv", "stats.json", "deciles.csv"]
    missing = [n for n in needed if not (out / n).is_file()]
    if missing:
        raise DataError(f"{out}: no {', '.join(missing)}; give the --out folder of a finished qtrade backtest")
    returns = pd.read_csv(out / "returns.csv", index_col="date", parse_dates=["date"])
    stats = _read_json(out / "stats.json")
    if stats is None or "forecast" not in stats:
        raise DataError(f"{out / 'stats.json'}: unreadable; run qtrade backtest again into this folder")
    curve = out / "training_curve.png"
    daily = out / "cross_section.csv"
    inputs = ReportInputs(
        returns,
        stats,
        pd.read_csv(out / "deciles.csv"),
        _read_json(out / "forecast_metrics.json"),
        curve.read_bytes() if curve.is_file() else None,
        cross_section=pd.read_csv(daily, index_col="date", parse_dates=["date"])
        if daily.is_file() and "absent" not in stats.get("cross_section", {"absent": ""})
        else None,
    )
    n = len(stats["period"]["tickers"])
    title = f"qtrade {stats['strategy']}: {n} ticker{'s' if n != 1 else ''}, {stats['split']} period"
    ex = stats.get("execution", {})
    if "mode" in ex:
        title += f", {ex['mode']}{' (optimistic)' if ex.get('optimistic') else ''}"
    path = out / "tearsheet.html"
    write_tearsheet(inputs, path, title=title)
    return path
