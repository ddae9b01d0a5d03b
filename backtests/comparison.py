"""``qtrade backtest --strategy all``: every registered strategy on the same forecasts, one table, and Hansen's test
of whether the best of them beats buying and holding once the search for it is paid for.

Each strategy runs with its default settings into its own folder ``OUT/<name>/`` with every output of a single
``qtrade backtest`` (:func:`backtests.pipeline.run_backtest_job`); forecasts made here (when none are given) go to
``OUT/forecast/`` once and every strategy reads them. Then ``OUT/`` gets:

- ``comparison.csv`` and ``comparison.json``: one row per strategy and one for the benchmark (``--benchmark``,
  :mod:`backtests.benchmark_sources`; by default the equal-weight buy-and-hold of the same tickers from the same
  first fill, without costs, named "buy and hold"): the net Sharpe ratio (of the returns in excess of ``--rf``)
  with its HAC standard error and 95% interval, the Ledoit-Wolf p-value of its difference from the benchmark's, the
  annual return (CAGR), total return, maximum drawdown, one-way turnover a year and the costs paid, all read from each
  folder's ``stats.json``;
- ``comparison.json``'s ``spa``: Hansen's (2005) test of superior predictive ability (:class:`arch.bootstrap.SPA`)
  of the strategies against the benchmark. Losses are negative daily net returns (each folder's ``returns.csv``),
  the benchmark's the negative of its daily returns; the null is that no strategy has a higher expected daily
  return than the benchmark (whose name the sentence gives; a risk-free rate cancels in the differences).
  ``arch`` draws a stationary bootstrap (``reps`` resamples, a fixed ``seed``, mean
  block length from Politis and White's rule on the loss differentials, recorded as ``block_size``) and gives
  three p-values: ``consistent`` (Hansen's, the headline), ``lower`` and ``upper`` (White's Reality Check).
  A small p says the best strategy's edge is larger than the best of that many tries would show by luck.
  ``buyhold`` is the benchmark's own rule (paying costs) and stays out of the test's models;
- ``comparison.html``: the table and the test's sentence as a plain page, with links to each tearsheet;
- ``manifest.json``: the command, data hash and settings of the whole comparison.

Examples
--------
>>> days = pd.bdate_range("2020-01-01", periods=400)
>>> rng = np.random.default_rng(1)
>>> bench = pd.Series(rng.normal(0.0003, 0.01, 400), index=days)
>>> models = pd.DataFrame({"a": bench + rng.normal(0.0, 0.003, 400), "b": bench + rng.normal(0.0, 0.003, 400)})
>>> spa = spa_test(bench, models, reps=200)
>>> spa["best"] in ("a", "b"), spa["p_values"]["consistent"] > 0.05
(True, True)
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backtests.benchmark_sources import benchmark_source, check_ticker
from backtests.engine import Execution
from backtests.pipeline import BacktestRun, forecast_dir, rebuild_report, run_backtest_job, write_history
from forecasting.atomic import write_text
from forecasting.errors import ConfigError, DataError, QtradeError
from forecasting.manifest import run_manifest
from forecasting.outputs import check_out, clear_previous, read_record
from strategies.registry import available, get

__all__ = [
    "BENCHMARK_ROW",
    "COLUMNS",
    "HEADERS",
    "Comparison",
    "compare_folders",
    "comparison_rows",
    "rebuild_comparison",
    "run_comparison_job",
    "spa_test",
]

SPA_REPS = 1000
SPA_SEED = 0
SIGNIFICANCE = 0.05
BENCHMARK_RULE = "buyhold"  # the benchmark's own rule, paying costs: not a model of the SPA test
BENCHMARK_ROW = "buy and hold (benchmark)"  # the last row's name for the default benchmark; else "<name> (benchmark)"
DEFAULT_BENCHMARK = "buy and hold"
FILES = ("comparison.csv", "comparison.json", "comparison.html")

COLUMNS: dict[str, str] = {
    "strategy": "the strategy (its default settings), or the benchmark",
    "sharpe": (
        "net Sharpe ratio a year: mean / sd (ddof 1) of the daily net returns in excess of the risk-free rate "
        "(--rf, annual / 252 a day; 0 by default) x sqrt(252)"
    ),
    "sharpe_se": "its standard error (Lo 2002, prewhitened Newey-West: fat tails and autocorrelation allowed for)",
    "sharpe_lower": "the 95% interval's lower end",
    "sharpe_upper": "the 95% interval's upper end",
    "sharpe_diff_p": "Ledoit-Wolf p-value of the net Sharpe ratio minus the benchmark's, same days (two-sided)",
    "annual_return": "compound annual growth rate of the net returns (CAGR)",
    "total_return": "net return over the period",
    "max_drawdown": "largest fall of the net equity from a peak",
    "turnover_annual": "one-way turnover a year: half the value traded over the equity, summed over a year",
    "costs_paid": "costs paid over the period, the sum of the daily costs as a share of equity",
    "days": "daily returns in the period",
}


@dataclass
class Comparison:
    """The result of :func:`run_comparison_job`: the table (one row per strategy, the benchmark last), the SPA test,
    the strategies that failed (name: the reason), each strategy's run, and the warnings of the runs."""

    out: Path
    table: pd.DataFrame
    spa: dict[str, Any]
    failed: dict[str, str] = field(default_factory=dict)
    runs: dict[str, BacktestRun] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _block_size(diffs: np.ndarray) -> int:
    """The mean block length of the stationary bootstrap: Politis and White's (2004) rule on each loss
    differential, the longest of them rounded up (a block too short understates the variance of a persistent
    differential, and so the p-value; the model confidence set chooses alike), at least 1 and at most the square
    root of the days."""
    from arch.bootstrap import optimal_block_length

    varying = diffs[:, np.std(diffs, axis=0) > 0]
    if varying.shape[1] == 0:
        return 1
    lengths = optimal_block_length(varying)["stationary"].to_numpy(dtype=float)
    lengths = lengths[np.isfinite(lengths)]
    size = math.ceil(float(lengths.max())) if len(lengths) else 1
    return int(min(max(size, 1), max(1, math.isqrt(diffs.shape[0]))))


def _p_words(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def benchmark_row(name: str) -> str:
    """The table's last row: the benchmark, by its name.

    >>> benchmark_row("buy and hold"), benchmark_row("SPY")
    ('buy and hold (benchmark)', 'SPY (benchmark)')
    """
    return f"{name} (benchmark)"


def _spa_words(best: str, k: int, excess_bp: float, p: dict[str, float], name: str = DEFAULT_BENCHMARK) -> str:
    """The SPA test's sentence: its headline p-value, the best strategy's edge, and what the two mean together."""
    tries = f"{k} strateg{'y' if k == 1 else 'ies'}"
    head = (
        f"Picking the best of {tries} is paid for: SPA {_p_words(p['consistent'])} (Hansen's consistent; "
        f"lower {_p_words(p['lower'])}, upper {_p_words(p['upper'])})"
    )
    if excess_bp <= 0:
        return (
            f"{head}; no strategy earned more than {name} on average (the best by mean net return, {best}, "
            f"{excess_bp:+.2f} bp a day), so none beats it."
        )
    edge = f"the best by mean net return, {best}, earns {excess_bp:+.2f} bp a day more than {name}"
    if p["consistent"] < SIGNIFICANCE:
        return f"{head}: {edge}, more than the best of {k} tries would show by luck."
    return (
        f"{head}: {edge}, within what the best of {k} tries shows by luck, so it cannot be told from "
        f"{'buying and holding' if name == DEFAULT_BENCHMARK else name}."
    )


def spa_test(
    benchmark: pd.Series,
    models: pd.DataFrame,
    *,
    reps: int = SPA_REPS,
    seed: int = SPA_SEED,
    block_size: int | None = None,
    name: str = DEFAULT_BENCHMARK,
) -> dict[str, Any]:
    """Hansen's SPA test of the ``models``' daily returns (one column each) against the ``benchmark``'s.

    Losses are negative returns; days where any series is missing are left out. ``block_size`` (the stationary
    bootstrap's mean block length) defaults to Politis and White's rule on the loss differentials
    (:func:`_block_size`). Returns the p-values (``consistent``, ``lower``, ``upper``), the best model by mean
    daily return, its edge over the benchmark, the settings, and ``meaning`` (which calls the benchmark ``name``).
    """
    from arch.bootstrap import SPA

    if models.shape[1] == 0:
        return {"absent": "no strategy to test against the benchmark"}
    frame = models.join(benchmark.rename("__benchmark__"), how="inner").dropna()
    if len(frame) < 10:
        return {"absent": f"{len(frame)} days with every strategy's return; the SPA test needs at least 10"}
    bench_loss = -frame.pop("__benchmark__").to_numpy(dtype=float)
    model_loss = -frame.to_numpy(dtype=float)
    size = block_size if block_size is not None else _block_size(bench_loss[:, None] - model_loss)
    spa = SPA(bench_loss, model_loss, block_size=size, reps=reps, bootstrap="stationary", seed=seed)
    spa.compute()
    p = {key: float(spa.pvalues[key]) for key in ("consistent", "lower", "upper")}
    means = frame.mean()
    best = str(means.idxmax())
    excess_bp = float((means[best] + bench_loss.mean()) * 1e4)
    return {
        "test": "Hansen (2005) superior predictive ability, arch.bootstrap.SPA; losses: negative daily returns",
        "null": f"no strategy has a higher expected daily return than the benchmark ({name})",
        "benchmark": name,
        "models": [str(c) for c in frame.columns],
        "days": len(frame),
        "best": best,
        "best_excess_bp_per_day": excess_bp,
        "p_values": p,
        "bootstrap": "stationary",
        "block_size": int(size),
        "reps": int(reps),
        "seed": int(seed),
        "meaning": _spa_words(best, frame.shape[1], excess_bp, p, name),
    }


def _row(name: str, stats: dict[str, Any], *, benchmark: bool = False) -> dict[str, Any]:
    """One row of the table from a folder's ``stats.json`` (the benchmark's from its ``benchmark`` figures)."""
    perf = stats["benchmark" if benchmark else "net"]
    sure = stats.get("sharpe_inference") or {}
    est = (sure.get("benchmark" if benchmark else "net") or {}).get("sharpe") or {}
    diff = sure.get("difference") or {}
    return {
        "strategy": name,
        "sharpe": perf.get("sharpe"),
        "sharpe_se": est.get("se"),
        "sharpe_lower": est.get("lower"),
        "sharpe_upper": est.get("upper"),
        "sharpe_diff_p": None if benchmark else diff.get("p_value"),
        "annual_return": perf.get("cagr"),
        "total_return": perf.get("total_return"),
        "max_drawdown": perf.get("max_drawdown"),
        "turnover_annual": None if benchmark else stats.get("turnover_annual"),
        "costs_paid": 0.0 if benchmark else stats.get("costs_total"),
        "days": perf.get("days"),
    }


def _read_json(path: Path) -> dict[str, Any]:
    return read_record(path, "run qtrade backtest --strategy all again")


def _returns(folder: Path) -> pd.DataFrame:
    path = folder / "returns.csv"
    if not path.is_file():
        raise DataError(f"{path}: missing; run qtrade backtest --strategy all again")
    return pd.read_csv(path, index_col="date", parse_dates=["date"])


def compare_folders(
    out: Path, names: Sequence[str], *, reps: int = SPA_REPS, seed: int = SPA_SEED
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """The table, the SPA test and the shared facts (period, execution) of the finished folders ``out/<name>``."""
    stats = {name: _read_json(out / name / "stats.json") for name in names}
    returns = {name: _returns(out / name) for name in names}
    first = stats[names[0]]
    bench_name = str((first.get("benchmark_source") or {}).get("name", DEFAULT_BENCHMARK))
    rows = [_row(name, stats[name]) for name in names]
    rows.append(_row(benchmark_row(bench_name), first, benchmark=True))
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    bench = returns[names[0]]["benchmark"]
    for name in names[1:]:
        other = returns[name]["benchmark"]
        if not (other.index.equals(bench.index) and np.allclose(other, bench, rtol=1e-9, atol=1e-12)):
            raise DataError(
                f"{out / name / 'returns.csv'}: its benchmark differs from {names[0]}'s, so the strategies did not "
                "trade the same days; run qtrade backtest --strategy all again"
            )
    models = pd.DataFrame({n: returns[n]["strategy"] for n in names if n != BENCHMARK_RULE})
    spa = spa_test(bench, models, reps=reps, seed=seed, name=bench_name)
    facts = {
        "split": first.get("split"),
        "period": first.get("period"),
        "execution": (first.get("execution") or {}).get("mode"),
        "benchmark_source": first.get("benchmark_source") or {"name": DEFAULT_BENCHMARK, "kind": "equal"},
        "risk_free": (first.get("risk_free") or {}).get("rate", "0"),
    }
    return table, spa, facts


def _fmt(value: Any, kind: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    if kind == "pct":
        return f"{value * 100:+.1f}%"
    if kind == "x":
        return f"{value:.1f}x"
    if kind == "p":
        return "<0.001" if value < 0.001 else f"{value:.3f}"
    if kind == "int":
        return f"{int(value):,}"
    return f"{value:.2f}"


HEADERS = [
    "strategy",
    "Sharpe, net",
    "95% interval",
    "SE",
    "p vs buy and hold",
    "a year",
    "total",
    "max drawdown",
    "turnover a year",
    "costs",
]


def headers(name: str = DEFAULT_BENCHMARK) -> list[str]:
    """:data:`HEADERS` with the benchmark's name in the p-value's column."""
    return [f"p vs {name}" if h == "p vs buy and hold" else h for h in HEADERS]


def comparison_rows(table: pd.DataFrame) -> list[list[str]]:
    """The table as strings, in the order of :data:`HEADERS` (for the console and the page)."""
    out = []
    for r in table.to_dict("records"):
        lo, hi = r["sharpe_lower"], r["sharpe_upper"]
        interval = "-" if lo is None or hi is None or pd.isna(lo) else f"{lo:.2f} to {hi:.2f}"
        out.append(
            [
                str(r["strategy"]),
                _fmt(r["sharpe"], "num"),
                interval,
                _fmt(r["sharpe_se"], "num"),
                _fmt(r["sharpe_diff_p"], "p"),
                _fmt(r["annual_return"], "pct"),
                _fmt(r["total_return"], "pct"),
                _fmt(r["max_drawdown"], "pct"),
                _fmt(r["turnover_annual"], "x"),
                _fmt(r["costs_paid"], "pct"),
            ]
        )
    return out


def _title(facts: dict[str, Any], n: int) -> str:
    period = facts.get("period") or {}
    return (
        f"{n} strategies on the same forecasts, {facts.get('split')} period {period.get('first_close')} to "
        f"{period.get('last_close')}, {facts.get('execution')} fills"
    )


def _page(table: pd.DataFrame, spa: dict[str, Any], facts: dict[str, Any], failed: dict[str, str]) -> str:
    """``comparison.html``: the table, the SPA test's sentence and links to each tearsheet; no outside resource."""
    names = [str(s) for s in table["strategy"]][:-1]  # the benchmark is the last row
    bench_name = str((facts.get("benchmark_source") or {}).get("name", DEFAULT_BENCHMARK))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers(bench_name))
    body = []
    for k, (name, cells) in enumerate(zip(table["strategy"], comparison_rows(table), strict=True)):
        first = (
            f'<a href="{html.escape(str(name))}/tearsheet.html">{html.escape(str(name))}</a>'
            if k < len(names)
            else html.escape(str(name))
        )
        body.append("<tr><td>" + first + "".join(f"<td>{html.escape(c)}</td>" for c in cells[1:]) + "</tr>")
    said = spa.get("meaning") or f"No SPA test: {spa.get('absent', 'not computed')}."
    p_line = ""
    if "p_values" in spa:
        p_line = (
            f"<p>Stationary bootstrap, {spa['reps']} resamples, mean block {spa['block_size']} days, seed "
            f"{spa['seed']}, {spa['days']} days; models: {html.escape(', '.join(spa['models']))}.</p>"
        )
    broke = "".join(f"<li>{html.escape(n)}: {html.escape(m)}</li>" for n, m in failed.items())
    title = html.escape(_title(facts, len(names)))
    notes = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in COLUMNS.items())
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n"
        "<style>body{margin:30px;font:13px/1.4 Arial,sans-serif}.container{max-width:1100px;margin:auto}"
        "table{border-spacing:0;width:100%;margin:0 0 20px}td,th{text-align:right;padding:4px 6px}"
        "td:first-child,th:first-child{text-align:left}thead th{background:#eee}"
        "tbody tr:last-child{font-style:italic}</style>\n</head>\n<body>\n"
        f'<div class="container">\n<h1>{title}</h1>\n'
        f'<table id="qtrade-comparison"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>\n'
        f"<h3>Is the best better than "
        f"{'buying and holding' if bench_name == DEFAULT_BENCHMARK else html.escape(bench_name)}?</h3>\n"
        f'<p id="qtrade-spa">{html.escape(said)}</p>\n'
        f"{p_line}\n"
        + (f"<h3>Strategies that did not run</h3><ul>{broke}</ul>\n" if broke else "")
        + f'<h3>Columns</h3><ul style="color:grey">{notes}</ul>\n</div>\n</body>\n</html>\n'
    )


def _write(out: Path, table: pd.DataFrame, spa: dict[str, Any], facts: dict[str, Any], failed: dict[str, str]) -> None:
    write_text(out / "comparison.csv", table.to_csv(index=False, float_format="%.10g"))
    record = {
        **facts,
        "columns": COLUMNS,
        "strategies": table.to_dict("records")[:-1],
        "benchmark": table.to_dict("records")[-1],
        "spa": spa,
        "failed": failed,
    }
    write_text(out / "comparison.json", json.dumps(record, indent=2, default=_plain))
    write_text(out / "comparison.html", _page(table, spa, facts, failed))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def run_comparison_job(
    panel: pd.DataFrame,
    out: str | os.PathLike[str],
    *,
    strategies: Sequence[str] | None = None,
    params: Sequence[str] | None = None,
    forecasts: str | os.PathLike[str] | None = None,
    execution: Execution | None = None,
    split: str = "test",
    forecast_config: Any = None,
    source: str = "data",
    progress: bool = True,
    reps: int = SPA_REPS,
    seed: int = SPA_SEED,
    benchmark: str = "equal",
    benchmark_only: bool = False,
) -> Comparison:
    """Backtest every strategy (``strategies``, by default every registered one) on the same forecasts, each into
    ``out/<name>/``, and write the comparison; see the module's docstring.

    A strategy that fails on these inputs is recorded in ``failed`` (and the page) and the others still run;
    when all fail, the first one's error is raised.
    """
    if params:
        raise ConfigError(
            "--param sets one strategy's settings; with --strategy all every strategy runs with its defaults "
            "(run one strategy with --param to change its settings)"
        )
    names = list(strategies) if strategies is not None else [s.name for s in available()]
    for name in names:
        get(name)  # an unknown name is one line before any work
    if not names:
        raise ConfigError("no strategy to compare; name at least one")
    execution = execution or Execution()
    check_ticker(benchmark_source(benchmark), [str(t) for t in panel.index.unique("ticker")], source)
    out = check_out(out)
    if forecasts is not None:
        given = Path(forecasts)
        if out.resolve() == forecast_dir(given).resolve():
            raise ConfigError(
                f"--out {out} is the folder of the forecasts this backtest reads; give another folder, "
                "so that the forecast run's files are kept"
            )
    made_here = forecasts is None
    if made_here:
        from dataclasses import replace

        from forecasting.pipeline import ForecastConfig, run_forecast

        config = replace(forecast_config or ForecastConfig(), execution=execution.mode)
        chosen = benchmark_source(benchmark)
        traded = panel
        if benchmark_only and chosen.kind == "ticker":  # the command line's --tickers left it out: not forecast
            traded = panel[panel.index.get_level_values("ticker") != chosen.value]
        run_forecast(traded, config, out / "forecast", source=source, progress=progress)
        forecasts = out / "forecast"
    assert forecasts is not None
    runs: dict[str, BacktestRun] = {}
    failed: dict[str, str] = {}
    errors: list[QtradeError] = []
    for name in names:
        try:
            runs[name] = run_backtest_job(
                panel,
                out / name,
                strategy=name,
                forecasts=forecasts,
                execution=execution,
                split=split,
                forecast_config=forecast_config,
                source=source,
                progress=False,
                benchmark=benchmark,
                benchmark_only=benchmark_only,
                history=False,
            )
        except QtradeError as exc:
            failed[name] = str(exc)
            errors.append(exc)
    if not runs:
        raise errors[0]
    done = [n for n in names if n in runs]
    table, spa, facts = compare_folders(out, done, reps=reps, seed=seed)
    clear_previous(out, keep=[Path(forecasts), *(out / n for n in done)])
    _write(out, table, spa, facts, failed)
    write_history(panel, out)  # one for every strategy's folder
    manifest = run_manifest(
        command="backtest --strategy all",
        seed=int(getattr(forecast_config, "seed", 0)),
        panel=panel,
        source=source,
        config={
            "strategies": done,
            "execution": asdict(execution),
            "split": split,
            "benchmark": str(benchmark),
            "forecasts": str(forecasts),
            "spa": {"reps": reps, "seed": seed},
        },
        extra={
            "outputs": sorted([*FILES, "history.parquet", *done, *(["forecast"] if made_here else [])]),
            "failed": failed,
        },
    )
    write_text(out / "manifest.json", json.dumps(manifest, indent=2, default=str))
    messages: dict[str, list[str]] = {}
    for name, run in runs.items():
        for message in run.warnings:
            messages.setdefault(message, []).append(name)
    warned = [m if len(who) == len(runs) else f"{', '.join(who)}: {m}" for m, who in messages.items()]
    return Comparison(out, table, spa, failed, runs, warned)


def rebuild_comparison(folder: str | os.PathLike[str]) -> list[Path]:
    """Write every strategy's ``tearsheet.html`` and ``comparison.html`` again from what a comparison folder
    holds (the SPA test is recomputed from the folders' ``returns.csv`` with the recorded settings)."""
    out = Path(folder)
    record = _read_json(out / "comparison.json")
    names = [str(r["strategy"]) for r in record.get("strategies", [])]
    if not names:
        raise DataError(f"{out / 'comparison.json'}: lists no strategy; run qtrade backtest --strategy all again")
    pages = [rebuild_report(out / name) for name in names]
    old = record.get("spa") or {}
    table, spa, facts = compare_folders(
        out, names, reps=int(old.get("reps", SPA_REPS)), seed=int(old.get("seed", SPA_SEED))
    )
    _write(out, table, spa, facts, record.get("failed") or {})
    return [*pages, out / "comparison.html"]
