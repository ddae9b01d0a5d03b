"""``qtrade report --ledger``: the paper period's tearsheet and returns, beside what the backtest expects.

Written into ``--out`` (each file whole or not at all):

- ``returns.csv``: a backtest's columns (date, strategy, strategy_gross, costs, benchmark, and rf with a rate),
  from the ledger's sessions: the return of each session after the first, measured from the equity of the one
  before (the first session's costs counted in the second's, as a backtest counts its first close's); the
  benchmark is the backtest's, an equal-weight buy-and-hold of the run's tickers from the ledger's first session
  (:func:`backtests.engine.benchmark`), on the prices the ledger read;
- ``fills.csv``: every fill of the ledger (a backtest's ``trades.csv`` columns);
- ``report.json`` and ``tearsheet.html``: the paper period's Sharpe ratio with its standard error
  (:func:`backtests.sharpe_verdicts.sharpe_certainty`) against the backtest's (``stats.json``), and whether the two
  differ by more than noise; with ``--data``, the expectation: the backtest's engine run over the ledger's period on
  that data, from the ledger's first session with its cash, on the forecasts the ledger recorded. Its daily
  returns against the ledger's give the tracking error, and every session where they differ by more than 1e-9
  is listed with why (the rule decided otherwise, the fills differ, the holding costs differ, or the backtest's
  period ends there: it sends nothing at its last close).
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backtests.engine import BacktestResult, benchmark, run_backtest
from backtests.inputs import BacktestData, align
from backtests.risk_free import DAYS, RiskFree
from backtests.sharpe_verdicts import sharpe_certainty
from forecasting.atomic import atomic_path, write_text
from forecasting.errors import DataError
from forecasting.outputs import check_out, clear_previous
from live.ledger import Ledger
from live.run_folder import RunFolder, read_run

__all__ = ["expectation", "ledger_report", "paper_returns"]

TOLERANCE = 1e-9  # a daily return the ledger and the backtest agree on to this are the same


def _benchmark(ledger: Ledger, meta: dict[str, Any], days: pd.DatetimeIndex) -> pd.Series:
    """The equal-weight buy-and-hold of the run's tickers over the ledger's sessions, on the prices it read."""
    rows = ledger.prices()
    tickers = [str(t) for t in meta["tickers"]]
    wide = {c: rows.pivot(index="date", columns="ticker", values=c).reindex(index=days, columns=tickers) for c in
            ("open", "close")}  # fmt: skip
    real = wide["close"].notna().to_numpy()
    prices = {c: v.ffill().to_numpy(dtype=float) for c, v in wide.items()}
    shape = real.shape
    nan = np.full(shape, np.nan)
    data = BacktestData(days, tickers, prices, real, nan, nan, nan, 0, len(days), "test", str(meta["execution"]))
    return benchmark(data, str(meta["execution"]))


def paper_returns(ledger: Ledger) -> pd.DataFrame:
    """The ledger's daily returns with a backtest's ``returns.csv`` columns (see the module docstring)."""
    meta = ledger.meta() if ledger.exists() else None
    if meta is None:
        raise DataError(f"--ledger {ledger.shown}: no such ledger, or no session yet; run qtrade paper first")
    days = ledger.days()
    net = days["net"].dropna().astype(float)
    costs = days["costs"].dropna().astype(float).reindex(net.index)
    frame = pd.DataFrame({"strategy": net, "strategy_gross": net + costs, "costs": costs})
    frame["benchmark"] = _benchmark(ledger, meta, pd.DatetimeIndex(days.index)).reindex(net.index)
    rate = days["rf"].astype(float).reindex(net.index)
    if rate.any():  # the rate of each session's day, annual / 252, as a backtest's rf column
        frame["rf"] = rate / DAYS
    frame.index.name = "date"
    return frame


def expectation(ledger: Ledger, folder: RunFolder, panel: pd.DataFrame, *, source: str = "data") -> BacktestResult:
    """The backtest's engine over the ledger's sessions (see the module docstring)."""
    meta = ledger.meta()
    assert meta is not None
    days = ledger.days().index
    forecasts = ledger.forecasts()
    forecasts = forecasts.assign(split="test", target=np.nan)
    mine = panel[panel.index.get_level_values("ticker").astype(str).isin(folder.read)]
    mine = mine[mine.index.get_level_values("date") <= days[-1]]
    if pd.Timestamp(mine.index.get_level_values("date").max()) < days[-1]:
        raise DataError(f"{source} ends before the ledger's last session {days[-1]:%Y-%m-%d}; give the latest data")
    ex = folder.execution
    data = align(
        mine,
        forecasts,
        split="test",
        max_gap=folder.max_gap,
        source=source,
        execution=ex.mode,
        calendar=folder.calendar,
    )
    recorded = ledger.days()["rf"].astype(float)  # the rate each session's day used (the first's: none)
    rate = (
        RiskFree(recorded.shift(-1).ffill().fillna(0.0), name=str(meta.get("rf", "0")))
        if recorded.any()
        else RiskFree()
    )
    execution = replace(ex, cash=float(meta["cash"]), rf=rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_backtest(data, folder.spec, folder.params, execution)


def differences(ledger: Ledger, expected: BacktestResult, returns: pd.DataFrame) -> pd.DataFrame:
    """Each session whose return differs from the expectation's by more than :data:`TOLERANCE`, and why."""
    mode = expected.execution.execution_mode
    ours = returns["strategy"]
    theirs = expected.returns.reindex(ours.index)
    gap = (ours - theirs).abs()
    decisions = ledger.table("decisions").pivot(index="date", columns="ticker", values="weight")
    fills = ledger.table("fills")
    engine = expected.fills[expected.fills["side"] != "rejected"]
    last = expected.data.dates[expected.data.stop - 1]
    rows = []
    for day in gap.index[(gap > TOLERANCE) | theirs.isna()]:
        reasons = []
        k = expected.data.dates.get_loc(day)
        origin = expected.data.dates[k - mode.lag] if mode.price == "close" else expected.data.dates[k - 1]
        if origin in decisions.index and origin in expected.decisions.index:
            a, b = decisions.loc[origin].to_numpy(dtype=float), expected.decisions.loc[origin].to_numpy(dtype=float)
            same = np.array_equal(np.isnan(a), np.isnan(b)) and np.allclose(np.nan_to_num(a), np.nan_to_num(b))
            if not same:
                reasons.append(f"the rule decided otherwise at the close of {origin:%Y-%m-%d}")
        mine = fills[fills["date"] == day].set_index("ticker")["size"].sort_index()
        their = engine[engine["date"] == day].set_index("ticker")["size"].sort_index()
        if not (mine.index.equals(their.index) and np.allclose(mine, their, rtol=1e-9)):
            named = ", ".join(
                f"{t} {mine.get(t, 0.0):,.2f} against {their.get(t, 0.0):,.2f} shares"
                for t in sorted(set(mine.index) | set(their.index))
                if not math.isclose(float(mine.get(t, 0.0)), float(their.get(t, 0.0)), rel_tol=1e-9)
            )
            reasons.append(f"the fills differ ({named})")
        if day == last:
            reasons.append("the backtest's period ends here: it sends no order at its last close")
        if not reasons:
            reasons.append("the holding costs or interest differ")
        rows.append(
            {"date": day, "ledger": float(ours[day]), "backtest": float(theirs[day]), "why": "; ".join(reasons)}
        )
    return pd.DataFrame(rows, columns=["date", "ledger", "backtest", "why"])


def _verdict(paper: dict[str, Any], backtest: dict[str, Any], overlap: pd.Timestamp | None) -> dict[str, Any]:
    """The paper period's Sharpe ratio against the backtest's, as two independent estimates (a z-test of their
    difference on their HAC standard errors); absent when the periods overlap (``overlap``: the backtest's last
    day, on or after the ledger's first), as a parity replay's do."""
    p, b = paper.get("net", {}).get("sharpe", {}), backtest.get("net", {}).get("sharpe", {})
    if overlap is not None:
        return {
            "absent": f"the paper period overlaps the backtest's (which runs to {overlap:%Y-%m-%d}): the two Sharpe "
            "ratios are not independent estimates; the expectation below compares the same sessions"
        }
    if "sharpe" not in p or "sharpe" not in b:
        return {"absent": "too few sessions for a Sharpe ratio (3 or more returns are needed)"}
    diff = float(p["sharpe"]) - float(b["sharpe"])
    se = math.hypot(float(p["se"]), float(b["se"]))
    z = diff / se if se > 0 else float("nan")
    pvalue = math.erfc(abs(z) / math.sqrt(2)) if np.isfinite(z) else float("nan")
    detectable = 2.8 * se  # a difference a 5% two-sided test finds four times in five
    if pvalue < 0.05:
        noise = "more than noise explains"
    else:
        noise = (
            f"not more than noise explains; with these standard errors only a difference above about "
            f"{detectable:.2f} would be found four times in five, so this is no evidence that they agree"
        )
    return {
        "paper_sharpe": float(p["sharpe"]),
        "paper_se": float(p["se"]),
        "paper_days": int(p["n"]),
        "backtest_sharpe": float(b["sharpe"]),
        "backtest_se": float(b["se"]),
        "backtest_days": int(b["n"]),
        "difference": diff,
        "z": z,
        "p_value": pvalue,
        "detectable_difference": detectable,
        "meaning": (
            f"The paper period's Sharpe ratio {p['sharpe']:.2f} (standard error {p['se']:.2f}, {p['n']} days) against "
            f"the backtest's {b['sharpe']:.2f} ({b['se']:.2f}, {b['n']} days): a difference of {diff:+.2f}, "
            f"p = {pvalue:.2f}, {noise}."
        ),
    }


def _overlap(folder: RunFolder, meta: dict[str, Any]) -> pd.Timestamp | None:
    """The backtest's last day of return when the ledger's returns (from the session after its first) reach back to
    it, else None: a ledger begun on the evening the backtest's data ends overlaps it in no return."""
    returns = pd.read_csv(folder.folder / "returns.csv", usecols=["date"], parse_dates=["date"])
    end = pd.Timestamp(returns["date"].max())
    return end if pd.Timestamp(meta["start"]) < end else None


def ledger_report(
    ledger: Ledger, out: str | os.PathLike[str], *, panel: pd.DataFrame | None = None, source: str = "data"
) -> dict[str, Any]:
    """Write the ledger's report into ``out`` (see the module docstring); returns ``report.json``'s content."""
    folder_out = check_out(out)
    returns = paper_returns(ledger)
    meta = ledger.meta()
    assert meta is not None
    folder = read_run(meta["run"])
    rf = returns["rf"] if "rf" in returns.columns else None
    paper_sharpe = sharpe_certainty(returns["strategy"], returns["benchmark"], rf=rf) if len(returns) else {}
    stats = json.loads((folder.folder / "stats.json").read_text(encoding="utf-8"))
    report: dict[str, Any] = {
        "ledger": ledger.shown,
        "run": meta["run"],
        "strategy": meta["strategy"],
        "execution": meta["execution"],
        "start": meta["start"],
        "sessions": len(ledger.days()),
        "returns": len(returns),
        "total_return": float(np.prod(1 + returns["strategy"]) - 1) if len(returns) else 0.0,
        "sharpe_inference": paper_sharpe,
        "risk_free": {"rate": str(meta.get("rf", "0"))},
        "against_backtest": _verdict(paper_sharpe, stats.get("sharpe_inference", {}), _overlap(folder, meta)),
    }
    differ = pd.DataFrame(columns=["date", "ledger", "backtest", "why"])
    if panel is not None:
        expected = expectation(ledger, folder, panel, source=source)
        both = returns["strategy"].index.intersection(expected.returns.index)
        # the backtest's last session is an end of period (it sends nothing at its last close): not in the statistic
        measured = both[both < expected.data.dates[expected.data.stop - 1]]
        gap = returns["strategy"].loc[measured] - expected.returns.loc[measured]
        differ = differences(ledger, expected, returns)
        te = float(np.sqrt(np.mean(gap**2)) * math.sqrt(DAYS)) if len(measured) else 0.0
        report["expectation"] = {
            "days": len(measured),
            "tracking_error": te,
            "mean_gap": float(gap.mean()) if len(measured) else 0.0,
            "cumulative_gap": float(
                np.prod(1 + returns["strategy"].loc[measured]) / np.prod(1 + expected.returns.loc[measured]) - 1
            )
            if len(measured)
            else 0.0,
            "largest_gap": float(gap.abs().max()) if len(measured) else 0.0,
            "days_that_differ": len(differ),
            "meaning": (
                f"The backtest's engine over the same sessions, from the same cash and forecasts: {len(differ)} of "
                f"{len(both)} differ by more than {TOLERANCE:g}; over the {len(measured)} before its period's end, "
                f"tracking error {te:.2e} a year (root mean square of the daily gaps), mean gap "
                f"{float(gap.mean()) if len(measured) else 0.0:+.2e} a day."
            ),
        }
        returns = returns.assign(expected=expected.returns.reindex(returns.index))
    else:
        report["expectation"] = {"absent": "give --data (the latest data) to replay the backtest over the period"}
    clear_previous(folder_out)
    folder_out.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder_out / "returns.csv") as tmp:
        returns.to_csv(tmp, date_format="%Y-%m-%d", float_format="%.10g")
    fills = ledger.table("fills").drop(columns=["seq"])
    with atomic_path(folder_out / "fills.csv") as tmp:
        fills.to_csv(tmp, index=False, date_format="%Y-%m-%d", float_format="%.10g")
    with atomic_path(folder_out / "differences.csv") as tmp:
        differ.to_csv(tmp, index=False, date_format="%Y-%m-%d", float_format="%.10g")
    report["differences"] = json.loads(differ.to_json(orient="records", date_format="iso"))
    write_text(folder_out / "report.json", json.dumps(report, indent=2, default=str))
    _tearsheet(returns, report, differ, folder_out / "tearsheet.html")
    return report


def _section(report: dict[str, Any], differ: pd.DataFrame) -> str:
    """The qtrade section of the page: the verdict against the backtest and the expectation's differences."""
    parts = [f"<h3>Paper ledger: {html.escape(str(report['strategy']))}, {report['execution']}</h3>"]
    parts.append(
        f"<p>{report['sessions']} sessions from {report['start']} in {html.escape(str(report['ledger']))}: "
        f"{report['returns']} daily returns (the first session's is counted in the second's, as a backtest counts "
        f"its first close's); total return {report['total_return']:+.2%}. Annual figures over a short period are "
        "a year's pace, not a year's result.</p>"
    )
    for block in (report["against_backtest"], report["expectation"]):
        words = str(block.get("meaning", block.get("absent", "")))
        parts.append(f"<p>{html.escape(words[:1].upper() + words[1:])}</p>")
    if len(differ):
        rows = "".join(
            f"<tr><td>{r.date:%Y-%m-%d}</td><td>{r.ledger:+.6%}</td><td>{r.backtest:+.6%}</td>"
            f"<td>{html.escape(str(r.why))}</td></tr>"
            for r in differ.itertuples()
        )
        parts.append(
            "<table><thead><tr><th>session</th><th>ledger</th><th>backtest</th><th>why</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    return "\n".join(parts)


def _tearsheet(returns: pd.DataFrame, report: dict[str, Any], differ: pd.DataFrame, path: Path) -> None:
    """QuantStats' page of the ledger's returns against the benchmark, with the qtrade section; a plain page
    when the ledger has too few returns for QuantStats (fewer than 5) or never moved."""
    from backtests import quantstats_fixes
    from backtests.tearsheet import calendar_note, drawdown_section, insert_sections, offline_page
    from backtests.verdict_sections import certainty_section

    section = _section(report, differ)
    title = f"qtrade paper ledger: {report['strategy']}"
    strategy = returns["strategy"].rename("Paper")
    if len(strategy) < 5 or not strategy.fillna(0).to_numpy().any():
        page = (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{len(strategy)} daily returns: too few for QuantStats' charts "
            f"(5 or more).</p>{section}</body></html>"
        )
        with atomic_path(path) as out:
            out.write_text(page, encoding="utf-8")
        return
    import tempfile

    import quantstats as qs

    quantstats_fixes.apply()
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    days = returns.get("rf")
    rf: Any = 0.0 if days is None or not days.any() else quantstats_fixes.DailyRate.from_days(days.fillna(0.0))
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = Path(tmp) / "qs.html"
        qs.reports.html(
            strategy,
            benchmark=returns["benchmark"].rename("Buy and hold, equal weight"),
            output=str(raw),
            title=title,
            match_dates=False,
            strategy_title="Paper",
            benchmark_title="Buy and hold",
            rf=rf,
        )
        page = drawdown_section(
            offline_page(raw.read_text(encoding="utf-8")), quantstats_fixes.drawdown_table(strategy)
        )
        certainty = certainty_section(
            {"sharpe_inference": report["sharpe_inference"], "risk_free": report["risk_free"]}
        )
        page = insert_sections(page, calendar_note(strategy) + certainty, section)
    with atomic_path(path) as out:
        out.write_text(page, encoding="utf-8")
