"""The tearsheet page: offline and free of script errors, and every chart and table checked against figures computed
here, independently, from the returns (``backtests.quantstats_fixes`` repairs what QuantStats gets wrong); each
repair has a test that fails once QuantStats no longer needs it."""

from __future__ import annotations

import re
import warnings
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("quantstats")
import matplotlib

matplotlib.use("Agg")
import quantstats as qs
from quantstats._plotting import core as qs_core

from backtests import quantstats_fixes
from backtests.tearsheet import ReportInputs, offline_page, write_tearsheet
from tests.browser import load_page
from tests.conftest import table_with

YEARLY_HINT = "remove it from backtests/quantstats_fixes.py and this test"


def _returns() -> pd.DataFrame:
    """About two years of business days from March 2011, as in the demo run: a partial first and last year.

    The strategy loses clearly in its first year (so a shifted EOY label shows), wins after, and both series end
    in a drawdown not yet recovered; the strategy's five longest drawdowns are not its five deepest.
    """
    days = pd.bdate_range("2011-03-22", "2013-03-01")
    rng = np.random.default_rng(14)
    strategy = rng.normal(0.0012, 0.011, len(days))
    strategy[:150] -= 0.0035
    strategy[-45:] -= 0.003
    bench = 0.6 * strategy + rng.normal(0.0004, 0.006, len(days))
    return pd.DataFrame({"strategy": strategy, "benchmark": bench}, index=pd.DatetimeIndex(days, name="date"))


def _inputs(
    returns: pd.DataFrame, *, first_close: str = "2011-03-21", forecast_metrics: dict[str, Any] | None = None
) -> ReportInputs:
    """What a backtest folder holds, the trading figures computed from ``returns`` (as ``backtest_stats`` does)."""
    from backtests.stats import performance

    net, bench = performance(returns["strategy"]), performance(returns["benchmark"])
    stats = {
        "split": "test",
        "period": {"first_close": first_close, "last_close": f"{returns.index[-1]:%Y-%m-%d}"},
        "forecast": {"n": len(returns)},
        "gross": net,
        "net": net,
        "benchmark": bench,
        "turnover_annual": 3.0,
        "costs_total": 0.01,
        "fills": 10,
        "rejected_orders": 0,
        "unusable_forecasts": 0,
    }
    return ReportInputs(returns, stats, pd.DataFrame(), forecast_metrics, None)


def _compounded(r: pd.Series, keys: list[Any]) -> np.ndarray:
    return ((1 + r).groupby(keys).prod() - 1).to_numpy()


def _independent_periods(r: pd.Series) -> dict[str, np.ndarray]:
    """Compounded returns per calendar period, by grouping on calendar fields (not pandas' resample)."""
    idx = r.index
    iso = idx.isocalendar()
    return {
        "Daily": r.to_numpy(),
        "Weekly": _compounded(r, [iso.year.to_numpy(), iso.week.to_numpy()]),
        "Monthly": _compounded(r, [idx.year, idx.month]),
        "Quarterly": _compounded(r, [idx.year, idx.quarter]),
        "Yearly": _compounded(r, [idx.year]),
    }


class _Recorder:
    """Every figure ``quantstats_fixes`` hands back or saves, by its title."""

    def __init__(self) -> None:
        self.figures: dict[str, Any] = {}

    def __call__(self, original: Any) -> Any:
        def record(fig: Any, savefig: Any, show: bool) -> Any:
            self.figures[fig._suptitle.get_text() if fig._suptitle else ""] = fig
            return original(fig, savefig, show)

        return record


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, dict[str, Any]]:
    returns = _returns()
    path = tmp_path_factory.mktemp("tearsheet") / "tearsheet.html"
    recorder = _Recorder()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(quantstats_fixes, "_save_and_show", recorder(quantstats_fixes._save_and_show))
        write_tearsheet(_inputs(returns), path, title="test tearsheet")
    return path, returns, recorder.figures


# --- an offline page without script errors ----------------------------------------------------------


class _Attributes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "xlink:href") and value:
                self.links.append(value)
            if name.startswith("on"):
                self.handlers.append(f"{tag} {name}={value}")

    handle_startendtag = handle_starttag


def test_offline_page_on_quantstats_template() -> None:
    template = (Path(qs.__file__).parent / "report.html").read_text(encoding="utf-8")
    assert 'onload="save()"' in template and "https://qtpylib.io/favicon.ico" in template  # what we remove
    page = offline_page(template)
    parser = _Attributes()
    parser.feed(page)
    assert not [u for u in parser.links if u.lower().startswith(("http://", "https://", "//"))]
    assert parser.handlers == [] and "save()" not in page
    assert "Generated by QuantStats (v. {{v}})" in page  # the credit stays, as text


def test_written_page_is_offline(report: tuple[Path, pd.DataFrame, dict[str, Any]]) -> None:
    page = report[0].read_text(encoding="utf-8")
    parser = _Attributes()
    parser.feed(page)
    assert parser.links, "the parser found no links at all: is this the page?"
    outside = [u for u in parser.links if u.lower().startswith(("http://", "https://", "//"))]
    assert outside == []
    assert 'onload="save()"' not in page and parser.handlers == []
    for text in ("EOY Returns", "Return Quantiles", "The forecast behind the trades", "Generated by QuantStats"):
        assert text in page, text


def _assert_loads_cleanly(page: Path) -> None:
    loaded = load_page(page)
    assert loaded.errors == [] and loaded.outside_requests == []
    assert loaded.charts and loaded.blank_charts == [], loaded.blank_charts


def test_page_loads_in_chromium_without_errors_requests_or_blank_charts(
    report: tuple[Path, pd.DataFrame, dict[str, Any]], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.html"  # the check itself must see QuantStats' error, or it proves nothing
    broken.write_text('<!DOCTYPE html><html><body onload="save()"><p>x</p></body></html>', encoding="utf-8")
    assert any("save is not defined" in line for line in load_page(broken).errors)
    _assert_loads_cleanly(report[0])
    charts = load_page(report[0]).charts
    assert sum(c["kind"] == "svg" for c in charts) >= 10  # QuantStats' charts are inline SVG
    flat = tmp_path / "flat.html"
    write_tearsheet(_inputs(_returns().assign(strategy=0.0)), flat, title="flat")
    flat_load = load_page(flat)
    assert flat_load.errors == [] and flat_load.outside_requests == [] and flat_load.blank_charts == []


# --- EOY bars and Return Quantiles ------------------------------------------------------------------


def _bars(fig: Any) -> tuple[dict[str, list[float]], list[float], list[str], list[float]]:
    ax = fig.axes[0]
    containers = [c for c in ax.containers if len(c)]
    heights = {c.get_label(): [p.get_height() for p in c] for c in containers}
    centers = np.mean([[p.get_x() + p.get_width() / 2 for p in c] for c in containers], axis=0)
    ticks = [(loc, t.get_text()) for loc, t in zip(ax.get_xticks(), ax.get_xticklabels(), strict=True) if t.get_text()]
    return heights, [t[0] for t in ticks], [t[1] for t in ticks], list(centers)


def _check_eoy(fig: Any, returns: pd.DataFrame, names: dict[str, str]) -> None:
    heights, locs, labels, centers = _bars(fig)
    years = returns.index.year
    assert labels == [str(y) for y in sorted(set(years))]
    np.testing.assert_allclose(locs, centers, atol=1e-9, err_msg="a year's label is not under its own bars")
    for column, label in names.items():
        expected = _compounded(returns[column], [years])
        np.testing.assert_allclose(heights[label], expected, rtol=1e-9, atol=1e-12, err_msg=label)
    assert _compounded(returns["strategy"], [years])[0] < -0.1  # the data do show a shifted label


def test_eoy_chart_in_the_report(report: tuple[Path, pd.DataFrame, dict[str, Any]]) -> None:
    _, returns, figures = report
    _check_eoy(figures["EOY Returns  vs Benchmark"], returns, {"strategy": "Strategy", "benchmark": "Buy and hold"})


def test_eoy_chart_direct_call() -> None:
    returns = _returns()
    s, b = returns["strategy"].rename("S"), returns["benchmark"].rename("B")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig = qs.plots.yearly_returns(s, b, show=False, savefig=None, prepare_returns=False)
    _check_eoy(fig, returns, {"strategy": "S", "benchmark": "B"})


def test_eoy_upstream_bug_still_there(monkeypatch: pytest.MonkeyPatch) -> None:
    """QuantStats' own chart still puts each label one bar-slot off; when this fails, the fix is no longer needed."""
    returns = _returns()
    monkeypatch.setattr(qs_core, "plot_returns_bars", quantstats_fixes.ORIGINAL_BARS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig = qs.plots.yearly_returns(
            returns["strategy"].rename("S"),
            returns["benchmark"].rename("B"),
            show=False,
            savefig=None,
            prepare_returns=False,
        )
    _, locs, _labels, centers = _bars(fig)
    assert not np.allclose(locs[: len(centers)], centers), (
        f"QuantStats now labels the EOY bars under their own year: {YEARLY_HINT}"
    )


def _boxes(fig: Any) -> dict[str, dict[str, float]]:
    ax = fig.axes[0]
    by_gid = {a.get_gid(): a for a in [*ax.lines, *ax.patches] if a.get_gid()}
    out = {}
    for label in quantstats_fixes.PERIODS:
        ys = by_gid[f"box-{label}"].get_path().vertices[:, 1]
        out[label] = {
            "q1": ys.min(),
            "q3": ys.max(),
            "median": by_gid[f"median-{label}"].get_ydata()[0],
            "low": by_gid[f"cap-low-{label}"].get_ydata()[0],
            "high": by_gid[f"cap-high-{label}"].get_ydata()[0],
        }
    return out


def _check_quantiles(fig: Any, r: pd.Series) -> None:
    boxes = _boxes(fig)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list(quantstats_fixes.PERIODS)
    for label, values in _independent_periods(r).items():
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        iqr = q3 - q1
        low = values[values >= q1 - 1.5 * iqr].min()
        high = values[values <= q3 + 1.5 * iqr].max()
        got = boxes[label]
        np.testing.assert_allclose(
            [got["q1"], got["median"], got["q3"], got["low"], got["high"]],
            [q1, median, q3, low, high],
            rtol=1e-9,
            atol=1e-12,
            err_msg=label,
        )
    assert boxes["Yearly"]["q3"] - boxes["Yearly"]["q1"] > 0.01  # not a flat line


def test_return_quantiles_in_the_report(report: tuple[Path, pd.DataFrame, dict[str, Any]]) -> None:
    _, returns, figures = report
    _check_quantiles(figures["Strategy - Return Quantiles"], returns["strategy"])


def test_return_quantiles_direct_call() -> None:
    r = _returns()["strategy"]
    fig = qs.plots.distribution(r, show=False, savefig=None, prepare_returns=False)
    _check_quantiles(fig, r)


def test_return_quantiles_upstream_bug_still_there(monkeypatch: pytest.MonkeyPatch) -> None:
    """QuantStats' own Yearly box is still not the yearly returns; when this fails, the fix is no longer needed."""
    from matplotlib.patches import PathPatch

    r = _returns()["strategy"]
    monkeypatch.setattr(qs_core, "plot_distribution", quantstats_fixes.ORIGINAL_DISTRIBUTION)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig = qs.plots.distribution(r, show=False, savefig=None, prepare_returns=False)
    boxes = [p for p in fig.axes[0].patches if isinstance(p, PathPatch)]
    assert len(boxes) == 5
    ys = boxes[4].get_path().vertices[:, 1]
    yearly = _independent_periods(r)["Yearly"]
    assert not np.allclose([ys.min(), ys.max()], np.percentile(yearly, [25, 75]), atol=1e-6), (
        f"QuantStats' Yearly box now matches the yearly returns: {YEARLY_HINT}"
    )


def test_fixes_are_applied_once_and_keep_upstream_signatures() -> None:
    import inspect

    quantstats_fixes.apply()
    quantstats_fixes.apply()
    for fix, upstream_fn in quantstats_fixes.CORE_FIXES.items():
        assert getattr(qs_core, fix.__name__) is fix and upstream_fn is not fix and fix.__wrapped__ is upstream_fn
    assert qs.stats.monthly_returns is quantstats_fixes.monthly_returns
    assert qs.reports.metrics is quantstats_fixes.metrics
    for replaced in (
        quantstats_fixes.plot_distribution,
        quantstats_fixes.plot_rolling_beta,
        quantstats_fixes.plot_longest_drawdowns,
    ):  # rewritten whole: the same parameters
        upstream = inspect.signature(replaced.__wrapped__).parameters
        assert list(inspect.signature(replaced).parameters) == list(upstream), replaced.__name__
    for name in ("returns", "benchmark", "resample", "savefig", "show"):
        assert name in inspect.signature(quantstats_fixes.ORIGINAL_BARS).parameters, name


# --- monthly heatmap --------------------------------------------------------------------------------


def test_monthly_heatmap_blank_outside_the_period() -> None:
    r = _returns()["strategy"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig = qs.plots.monthly_heatmap(r, show=False, savefig=None)
    ax = fig.axes[0]
    shown = [t.get_text() for t in ax.texts]
    monthly = (1 + r).groupby([r.index.year, r.index.month]).prod() - 1  # Mar 2011 .. Mar 2013, row by row
    assert shown == [f"{v * 100:0.2f}" for v in monthly.to_numpy()]
    cells = np.ma.masked_invalid(ax.collections[0].get_array()).reshape(3, 12)
    assert cells.mask[0, :2].all() and cells.mask[2, 3:].all()  # Jan-Feb 2011 and Apr-Dec 2013: blank
    assert not cells.mask[0, 2:].any() and not cells.mask[1].any() and not cells.mask[2, :3].any()


def test_monthly_heatmap_upstream_bug_still_there() -> None:
    r = _returns()["strategy"]
    table = quantstats_fixes.ORIGINAL_MONTHLY_RETURNS(r)
    assert table.loc["2011", "JAN"] == 0 and table.loc["2013", "DEC"] == 0, (
        "QuantStats no longer fills the months outside the period with 0: remove monthly_returns from "
        "backtests/quantstats_fixes.py and this test"
    )
    fixed = qs.stats.monthly_returns(r)
    assert np.isnan(fixed.loc["2011", "JAN"]) and np.isnan(fixed.loc["2013", "DEC"])
    inside = fixed.notna().to_numpy()
    assert inside.sum() == 25 + 3  # 25 months and 3 EOY cells, as QuantStats computes them
    np.testing.assert_array_equal(fixed.to_numpy()[inside], table.to_numpy(dtype=float)[inside])


# --- the metrics table, every row against figures computed here -------------------------------------------------


def _metrics_rows(page: str) -> dict[str, list[str]]:
    rows = table_with(page, ["Metric", "Buy and hold", "Strategy"])
    return {r[0]: r[1:] for r in rows if len(r) == 3}


def _runs(flags: np.ndarray) -> int:
    best = run = 0
    for f in flags:
        run = run + 1 if f else 0
        best = max(best, run)
    return best


def _independent_drawdowns(r: pd.Series) -> list[dict[str, Any]]:
    """Drawdowns from the equity and its running peak (the starting equity, 1, a peak too), by pandas grouping."""
    wealth = (1 + r).cumprod()
    peak = wealth.cummax().clip(lower=1.0)
    under = wealth < peak
    run = (under != under.shift(fill_value=False)).cumsum()
    out = []
    for _, days in wealth[under].groupby(run[under]):
        depth = days / peak[days.index] - 1
        after = r.index[r.index > days.index[-1]]
        out.append(
            {
                "start": days.index[0],
                "valley": depth.idxmin(),
                "depth": float(depth.min()),
                "end": after[0] if len(after) else None,
                "days": (after[0] - days.index[0]).days if len(after) else (r.index[-1] - days.index[0]).days + 1,
            }
        )
    return out


def _gaussian_es(x: np.ndarray, alpha: float = 0.05) -> float:
    from scipy.stats import norm

    return float(x.mean() - x.std(ddof=1) * norm.pdf(norm.ppf(alpha)) / alpha)


def _whole(r: pd.Series, period: str, *, compounded: bool = True) -> np.ndarray:
    """Returns per calendar month, quarter or year that the returns cover end to end (3 weekdays of slack)."""
    idx = r.index
    keys = {"month": [idx.year, idx.month], "quarter": [idx.year, idx.quarter], "year": [idx.year]}[period]
    out = []
    for _, days in r.groupby(keys):
        start = days.index[0].to_period(period[0].upper()).start_time
        end = days.index[0].to_period(period[0].upper()).end_time.normalize()
        missing_before = len(pd.bdate_range(start, idx[0])) - 1 if idx[0] >= start else 0
        missing_after = len(pd.bdate_range(idx[-1], end)) - 1 if idx[-1] <= end else 0
        if max(missing_before, missing_after) <= 3:
            out.append(np.prod(1 + days.to_numpy()) - 1 if compounded else days.sum())
    return np.array(out)


def _or_none(values: np.ndarray, fn: Any) -> float | str:
    return float(fn(values)) if len(values) else "-"


def _expected_metrics(r: pd.Series, b: pd.Series | None) -> dict[str, tuple[float | str, str]]:
    """Each metrics row for ``r``: (figure, kind), kind "pct" (x100, "%"), "num", or "text" (shown as is).

    Figures follow QuantStats' documented definitions, written out here with numpy/pandas/scipy; the calendar
    rows (months, quarters, years) count whole periods only (``_whole``), "-" where there is none.
    """
    from scipy.stats import kurtosis, norm, skew

    a = r.to_numpy()
    n = len(a)
    idx = r.index
    total = float(np.prod(1 + a) - 1)
    cagr = (1 + total) ** (252 / n) - 1
    sd = a.std(ddof=1)
    sr = a.mean() / sd
    coef = abs(r.autocorr(1))
    penalty = np.sqrt(1 + 2 * sum((n - x) / n * coef**x for x in range(1, n)))
    downside = np.sqrt((a[a < 0] ** 2).sum() / n)
    sortino = a.mean() / downside * np.sqrt(252)
    g1, g2 = skew(a, bias=False), kurtosis(a, bias=False)
    psr = norm.cdf(sr / np.sqrt((1 - g1 * sr + (g2 + 3 - 1) / 4 * sr**2) / (n - 1)))
    dds = _independent_drawdowns(r)
    worst = min(dds, key=lambda d: d["depth"])
    longest = max(dds, key=lambda d: d["days"])
    ongoing = sum(d["end"] is None for d in dds)
    equity = (1 + r).cumprod()
    underwater = (equity / equity.cummax().clip(lower=1.0) - 1).to_numpy()
    ulcer = np.sqrt((underwater**2).sum() / (n - 1))
    wins, losses = a[a > 0], a[a < 0]
    win_rate = len(wins) / len(a[a != 0])
    payoff = wins.mean() / abs(losses.mean())
    pf = a[a >= 0].sum() / abs(losses.sum())
    tail = abs(np.quantile(a, 0.95) / np.quantile(a, 0.05))
    months, quarters, years = _whole(r, "month"), _whole(r, "quarter"), _whole(r, "year")
    month_sums = _whole(r, "month", compounded=False)
    last = idx[-1]

    def since(start: pd.Timestamp, *, window: bool) -> float | str:  # a window: returns dated after its start
        if window and idx[0] > start:
            return "-"
        return float(np.prod(1 + a[idx > start if window else idx >= start]) - 1)

    def rate(x: np.ndarray) -> float:
        return len(x[x > 0]) / len(x[x != 0])

    out: dict[str, tuple[float | str, str]] = {
        "Risk-Free Rate": (0.0, "pct"),
        "Time in Market": (np.ceil(len(a[a != 0]) / n * 100) / 100, "pct"),
        "Cumulative Return": (total, "pct"),
        "CAGR": (cagr, "pct"),
        "Sharpe": (sr * np.sqrt(252), "num"),
        "Prob. Sharpe Ratio": (psr, "pct"),
        "Smart Sharpe": (sr / penalty * np.sqrt(252), "num"),
        "Sortino": (sortino, "num"),
        "Smart Sortino": (sortino / penalty, "num"),
        "Sortino/√2": (sortino / np.sqrt(2), "num"),
        "Smart Sortino/√2": (sortino / penalty / np.sqrt(2), "num"),
        "Omega": (wins.sum() / abs(losses.sum()), "num"),
        "Max Drawdown": (worst["depth"], "pct"),
        "Max DD Date": (f"{worst['valley']:%Y-%m-%d}", "text"),
        "Max DD Period Start": (f"{worst['start']:%Y-%m-%d}", "text"),
        "Max DD Period End": (f"{worst['end']:%Y-%m-%d}" if worst["end"] is not None else "not recovered", "text"),
        "Longest DD Days": (f"{longest['days']}" + (" (ongoing)" if longest["end"] is None else ""), "text"),
        "Volatility (ann.)": (sd * np.sqrt(252), "pct"),
        "Calmar": (cagr / abs(worst["depth"]), "num"),
        "Skew": (g1, "num"),
        "Kurtosis": (g2, "num"),
        "Ulcer Performance Index": (total / ulcer, "num"),
        "Risk-Adjusted Return": (cagr, "pct"),
        "Risk-Return Ratio": (a.mean() / sd, "num"),
        "Avg. Return": (a[a != 0].mean(), "pct"),
        "Avg. Win": (wins.mean(), "pct"),
        "Avg. Loss": (losses.mean(), "pct"),
        "Win/Loss Ratio": (payoff, "num"),
        "Profit Ratio": ((a[a >= 0].mean() / len(a[a >= 0])) / abs(losses.mean() / len(losses)), "num"),
        "Expected Daily": (np.prod(1 + a) ** (1 / n) - 1, "pct"),
        "Expected Monthly": (np.prod(1 + months) ** (1 / len(months)) - 1, "pct"),
        "Expected Yearly": (_or_none(years, lambda v: np.prod(1 + v) ** (1 / len(v)) - 1), "pct"),
        "Kelly Criterion": ((payoff * win_rate - (1 - win_rate)) / payoff, "pct"),
        "Risk of Ruin": (((1 - win_rate) / (1 + win_rate)) ** n, "pct"),
        "Daily Value-at-Risk": (norm.ppf(0.05, a.mean(), sd), "pct"),
        "Expected Shortfall (cVaR)": (_gaussian_es(a), "pct"),
        "Max Consecutive Wins": (_runs(a > 0), "num"),
        "Max Consecutive Losses": (_runs(a < 0), "num"),
        "Gain/Pain Ratio": (a.sum() / abs(losses.sum()), "num"),
        "Gain/Pain (1M)": (month_sums.sum() / abs(month_sums[month_sums < 0].sum()), "num"),
        "Payoff Ratio": (payoff, "num"),
        "Profit Factor": (pf, "num"),
        "Common Sense Ratio": (pf * tail, "num"),
        "CPC Index": (pf * win_rate * payoff, "num"),
        "Tail Ratio": (tail, "num"),
        "Outlier Win Ratio": (np.quantile(a, 0.99) / a[a >= 0].mean(), "num"),
        "Outlier Loss Ratio": (np.quantile(a, 0.01) / losses.mean(), "num"),
        "MTD": (since(last.replace(day=1), window=False), "pct"),
        "3M": (since(last - pd.DateOffset(months=3), window=True), "pct"),
        "6M": (since(last - pd.DateOffset(months=6), window=True), "pct"),
        "YTD": (since(last.replace(month=1, day=1), window=False), "pct"),
        "1Y": (since(last - pd.DateOffset(years=1), window=True), "pct"),
        "3Y (ann.)": ("-", "text"),
        "5Y (ann.)": ("-", "text"),
        "10Y (ann.)": ("-", "text"),
        "All-time (ann.)": (cagr, "pct"),
        "Best Day": (a.max(), "pct"),
        "Worst Day": (a.min(), "pct"),
        "Best Month": (months.max(), "pct"),
        "Worst Month": (months.min(), "pct"),
        "Best Year": (_or_none(years, np.max), "pct"),
        "Worst Year": (_or_none(years, np.min), "pct"),
        "Avg. Drawdown": (np.mean([d["depth"] for d in dds]), "pct"),
        "Avg. Drawdown Days": (
            f"{round(np.mean([d['days'] for d in dds]))}" + (f" ({ongoing} ongoing)" if ongoing else ""),
            "text",
        ),
        "Recovery Factor": (total / abs(worst["depth"]), "num"),
        "Ulcer Index": (ulcer, "num"),
        "Serenity Index": (a.sum() / (ulcer * -_gaussian_es(underwater) / sd), "num"),
        "Avg. Up Month": (months[months > 0].mean(), "pct"),
        "Avg. Down Month": (months[months < 0].mean(), "pct"),
        "Win Days": (win_rate, "pct"),
        "Win Month": (rate(months), "pct"),
        "Win Quarter": (rate(quarters), "pct"),
        "Win Year": (_or_none(years, rate), "pct"),
    }
    if b is None:  # the benchmark's own column: no figure against itself
        out.update(
            dict.fromkeys(("R^2", "Information Ratio", "Beta", "Alpha", "Correlation", "Treynor Ratio"), ("-", "text"))
        )
    else:
        beta = np.cov(a, b.to_numpy())[0, 1] / b.to_numpy().var(ddof=1)
        active = a - b.to_numpy()
        out.update(
            {
                "R^2": (np.corrcoef(a, b)[0, 1] ** 2, "num"),
                "Information Ratio": (active.mean() / active.std(ddof=1), "num"),
                "Beta": (beta, "num"),
                "Alpha": ((a.mean() - beta * b.mean()) * 252, "num"),
                "Correlation": (np.corrcoef(a, b)[0, 1], "pct"),
                "Treynor Ratio": (total / beta, "pct"),
            }
        )
    return out


def _check_cell(row: str, shown: str, expected: float | str, kind: str) -> None:
    if kind == "text" or isinstance(expected, str):
        assert shown == expected, f"{row}: shows {shown!r}, expected {expected!r}"
        return
    assert shown.endswith("%") == (kind == "pct"), f"{row}: {shown!r}"
    value = float(shown.rstrip("%"))
    figure = expected * 100 if kind == "pct" else expected
    assert abs(value - figure) <= 0.005 + 1e-9, f"{row}: shows {shown}, computed {figure:.6f}"


def test_every_metric_agrees_with_the_returns(report: tuple[Path, pd.DataFrame, dict[str, Any]]) -> None:
    page, returns = report[0].read_text(encoding="utf-8"), report[1]
    rows = _metrics_rows(page)
    columns = {
        "benchmark": _expected_metrics(returns["benchmark"], None),
        "strategy": _expected_metrics(returns["strategy"], returns["benchmark"]),
    }
    assert set(rows) - {""} == set(columns["strategy"]), "a metrics row this test does not check (or lost)"
    for column, expected in columns.items():
        for row, (figure, kind) in expected.items():
            _check_cell(row, rows[row][0 if column == "benchmark" else 1], figure, kind)
    # the data show what the fixes are about
    assert all(cell.endswith("(1 ongoing)") for cell in rows["Avg. Drawdown Days"])  # both end under water
    assert rows["R^2"][0] == "-" and rows["R^2"][1] != "-"


def _metrics(returns: pd.DataFrame, fn: Any) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(
            returns["strategy"].rename("S"),
            returns["benchmark"].rename("B"),
            display=False,
            mode="full",
            sep=True,
            internal="True",
            prepare_returns=False,
        )


def test_trailing_windows_where_the_period_covers_them() -> None:
    """A period of 11.5 years: every window is covered, and each is the returns dated after its first close."""
    days = pd.bdate_range("2009-01-02", "2020-06-30")
    rng = np.random.default_rng(3)
    long = pd.DataFrame(
        {"strategy": rng.normal(0.0004, 0.01, len(days)), "benchmark": rng.normal(0.0003, 0.01, len(days))}, index=days
    )
    table = _metrics(long, qs.reports.metrics)
    for column, name in (("strategy", "Strategy"), ("benchmark", "Benchmark")):
        r = long[column]
        for row, years, months in (
            ("3M", 0, 3),
            ("6M", 0, 6),
            ("1Y", 1, 0),
            ("3Y (ann.)", 3, 0),
            ("5Y (ann.)", 5, 0),
            ("10Y (ann.)", 10, 0),
        ):
            inside = r[r.index > r.index[-1] - pd.DateOffset(years=years, months=months)].to_numpy()
            total = np.prod(1 + inside) - 1
            figure = (1 + total) ** (252 / len(inside)) - 1 if "ann." in row else total
            _check_cell(row, table.loc[row, name], figure, "pct")
    six = long.loc["2014-08-01":]  # 5Y covered, 10Y not
    fixed = _metrics(six, qs.reports.metrics)
    assert (fixed.loc["10Y (ann.)"] == "-").all() and (fixed.loc["5Y (ann.)"] != "-").all()


def test_short_period_has_no_figure_for_longer_windows(tmp_path: Path) -> None:
    """Under a year (150 days, 2011-03-22 to 2011-10-17): no 1Y figure, nor any row whose window is longer."""
    returns = _returns().iloc[:150]
    table = _metrics(returns, qs.reports.metrics)
    for row in ("1Y", "3Y (ann.)", "5Y (ann.)", "10Y (ann.)", "Expected Yearly", "Best Year", "Worst Year", "Win Year"):
        assert (table.loc[row] == "-").all(), row
    for row, months in (("3M", 3), ("6M", 6)):  # 6.9 months: both covered
        r = returns["strategy"]
        inside = r[r.index > r.index[-1] - pd.DateOffset(months=months)]
        _check_cell(row, table.loc[row, "Strategy"], np.prod(1 + inside) - 1, "pct")


def test_trailing_windows_upstream_bug_still_there() -> None:
    """QuantStats' 1Y still takes a day too many, its 3Y 35 months, and a short period's 1Y is its total return."""
    returns = _returns()  # ends 2013-03-01; 2012-03-01 is a trading day
    table = _metrics(returns, quantstats_fixes.ORIGINAL_METRICS)
    r = returns["strategy"]
    with_the_day = np.prod(1 + r[r.index >= "2012-03-01"]) - 1
    _check_cell("1Y", table.loc["1Y", "Strategy"], with_the_day, "pct")
    assert table.loc["3Y (ann.)", "Strategy"] == table.loc["All-time (ann.)", "Strategy"]
    short = _metrics(returns.iloc[:150], quantstats_fixes.ORIGINAL_METRICS)
    assert short.loc["1Y", "Strategy"] == short.loc["YTD", "Strategy"] != "-", (
        "QuantStats' trailing windows are now right: remove them from quantstats_fixes.metrics and this test"
    )


def test_metrics_upstream_bugs_still_there() -> None:
    """Each QuantStats row the fix recomputes is still wrong upstream; when one fails, drop that part of the fix."""
    returns = _returns()
    table = _metrics(returns, quantstats_fixes.ORIGINAL_METRICS)
    hint = "remove it from quantstats_fixes.metrics and this test"
    b = returns["benchmark"]
    own = _expected_metrics(b, None)
    assert table.loc["R^2", "Benchmark"] == table.loc["R^2", "Strategy"], (
        f"R^2 no longer repeated for the benchmark: {hint}"
    )
    with pytest.raises(AssertionError):  # the benchmark's smart Sharpe uses the strategy's autocorrelation
        _check_cell("Smart Sharpe", table.loc["Smart Sharpe", "Benchmark"], *own["Smart Sharpe"])
    worst = min(_independent_drawdowns(returns["strategy"]), key=lambda d: d["depth"])
    assert worst["end"] is not None and table.loc["Max DD Period End", "Strategy"] != f"{worst['end']:%Y-%m-%d}", (
        f"QuantStats now ends a drawdown on its recovery: {hint}"
    )
    short = _metrics(returns.iloc[:150], quantstats_fixes.ORIGINAL_METRICS)
    assert short.loc["Max DD Period End", "Strategy"] == f"{returns.index[149]:%Y-%m-%d}", (
        f"QuantStats no longer dates a recovery for a drawdown not recovered: {hint}"
    )
    assert "CAGR\ufe6a" in table.index, f"the CAGR row lost its small percent sign: {hint}"
    touched = _compounded(returns["strategy"], [returns.index.year])  # 2011 from 22 March, 2013 to 1 March
    assert len(_whole(returns["strategy"], "year")) == 1 and len(touched) == 3, "the data no longer have partial years"
    try:
        _check_cell(
            "Expected Yearly",
            table.loc["Expected Yearly", "Strategy"],
            np.prod(1 + touched) ** (1 / len(touched)) - 1,
            "pct",
        )
    except AssertionError as e:
        raise AssertionError(f"QuantStats' calendar rows no longer count the partial years: {hint}") from e
    losing = returns.iloc[:150]  # the strategy loses 26% here
    loss = _metrics(losing, quantstats_fixes.ORIGINAL_METRICS)
    assert float(loss.loc["Recovery Factor", "Strategy"]) > 0 > np.prod(1 + losing["strategy"]) - 1, (
        f"QuantStats' recovery factor now keeps the sign of a loss: {hint}"
    )
    fixed = _metrics(losing, qs.reports.metrics)
    assert float(fixed.loc["Recovery Factor", "Strategy"]) < 0
    few = returns.iloc[:6]  # risk of ruin ((1 - w) / (1 + w)) ** n is only visible for a handful of days
    wins = (few["strategy"] > 0).mean()
    ruin = ((1 - wins) / (1 + wins)) ** len(few)
    assert ruin > 0.001
    assert _metrics(few, quantstats_fixes.ORIGINAL_METRICS).loc["Risk of Ruin", "Strategy"] == f"{round(ruin, 2)}%", (
        f"QuantStats now gives risk of ruin in percent: {hint}"
    )
    _check_cell("Risk of Ruin", _metrics(few, qs.reports.metrics).loc["Risk of Ruin", "Strategy"], ruin, "pct")


def test_longest_drawdown_not_recovered_says_ongoing() -> None:
    """A period that ends in its longest drawdown: the days run to the last day and say so."""
    returns = _returns().iloc[:150]
    r = returns["strategy"]
    dds = _independent_drawdowns(r)
    longest = max(dds, key=lambda d: d["days"])
    assert longest["end"] is None  # the data are what this test is about
    table = _metrics(returns, qs.reports.metrics)
    assert table.loc["Longest DD Days", "Strategy"] == f"{longest['days']} (ongoing)"
    assert table.loc["Max DD Period End", "Strategy"] == "not recovered"


# --- the worst-drawdown table -----------------------------------------------------------------------------------


def test_drawdown_table_agrees_with_the_returns(report: tuple[Path, pd.DataFrame, dict[str, Any]]) -> None:
    page, returns = report[0].read_text(encoding="utf-8"), report[1]
    rows = table_with(page, ["Started", "Recovered", "Drawdown", "Days"])
    dds = sorted(_independent_drawdowns(returns["strategy"]), key=lambda d: d["depth"])[:10]
    expected = [
        [
            f"{d['start']:%Y-%m-%d}",
            f"{d['end']:%Y-%m-%d}" if d["end"] is not None else "not recovered",
            f"{d['depth'] * 100:.2f}",
            f"{d['days']}" + ("" if d["end"] is not None else " (ongoing)"),
        ]
        for d in dds
    ]
    assert rows == expected
    assert any(r[1] == "not recovered" for r in rows)  # the data do end in a drawdown
    assert "Worst 10 Drawdowns" in page and page.count('<div id="ddinfo">') == 1


def test_drawdown_details_upstream_bug_still_there() -> None:
    """QuantStats still ends a drawdown on its last day under water, and one not recovered on the last day."""
    r = pd.Series([0.01, -0.02, 0.005, 0.02, -0.01], index=pd.bdate_range("2020-01-01", periods=5))  # Wed..Tue
    details = qs.stats.drawdown_details(qs.stats.to_drawdown_series(r))
    assert list(details["end"]) == ["2020-01-03", "2020-01-07"], (
        "QuantStats' drawdown ends changed: remove drawdown_table and the drawdown rows of quantstats_fixes.metrics"
    )
    assert [d["end"] for d in _independent_drawdowns(r)] == [pd.Timestamp("2020-01-06"), None]


# --- a strategy that never traded -------------------------------------------------------------------


def test_never_traded_writes_a_page_that_says_so(tmp_path: Path) -> None:
    returns = _returns().assign(strategy=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception, match="all x values are identical"):  # why qtrade does not ask QuantStats
            qs.reports.html(
                returns["strategy"], benchmark=returns["benchmark"], output=str(tmp_path / "qs.html"), match_dates=False
            )
    path = tmp_path / "tearsheet.html"
    write_tearsheet(_inputs(returns), path, title="flat strategy")
    page = path.read_text(encoding="utf-8")
    bench = (1 + returns["benchmark"]).prod() - 1
    for text in (
        "The strategy never traded",
        "509 days, 2011-03-22 to 2013-03-01",
        f"returned {bench * 100:.2f}%",
        "The forecast behind the trades",
        "Execution and costs",
        "<title>flat strategy</title>",
    ):
        assert text in page, text
    parser = _Attributes()
    parser.feed(page)
    assert not [u for u in parser.links if u.lower().startswith(("http://", "https://", "//"))]
    assert parser.handlers == []


# --- the other tables: EOY, qtrade's summary; the stated period and p-values ------------------------------------


def test_eoy_table_agrees_with_the_returns(report: tuple[Path, pd.DataFrame, dict[str, Any]]) -> None:
    page, returns = report[0].read_text(encoding="utf-8"), report[1]
    rows = table_with(page, ["Year", "Buy and hold", "Strategy", "Multiplier", "Won"])
    years = sorted(set(returns.index.year))
    bench = _compounded(returns["benchmark"], [returns.index.year])
    strat = _compounded(returns["strategy"], [returns.index.year])
    assert [r[0] for r in rows] == [str(y) for y in years]
    for row, b, s in zip(rows, bench, strat, strict=True):
        assert [float(row[1]), float(row[2])] == pytest.approx([b * 100, s * 100], abs=0.005 + 1e-9), row
        assert float(row[3]) == pytest.approx(s / b, abs=0.005 + 1e-9) and row[4] == ("+" if s > b else "-"), row


def test_summary_table_agrees_with_the_returns(report: tuple[Path, pd.DataFrame, dict[str, Any]]) -> None:
    from scipy.stats import kurtosis, norm, skew

    page, returns = report[0].read_text(encoding="utf-8"), report[1]
    rows = {r[0]: r[1:] for r in table_with(page, ["Forecast and costs", "Strategy", "Zero / benchmark"])}
    for column, r in ((0, returns["strategy"]), (1, returns["benchmark"])):
        a = r.to_numpy()
        sr = a.mean() / a.std(ddof=1)
        psr = norm.cdf(
            sr / np.sqrt((1 - skew(a, bias=False) * sr + (kurtosis(a, bias=False) + 2) / 4 * sr**2) / (len(a) - 1))
        )
        assert float(rows["Sharpe, net of costs"][column]) == pytest.approx(sr * np.sqrt(252), abs=0.005 + 1e-9)
        assert float(rows["Probabilistic Sharpe"][column].rstrip("%")) == pytest.approx(psr * 100, abs=0.05 + 1e-9)


def _header_and_section(page: str) -> tuple[str, str]:
    header = re.search(r"<h4>(.*?)</h4>", page, re.DOTALL)
    section = re.search(r"<h1>The forecast behind the trades</h1>\s*<h4>(.*?)</h4>", page, re.DOTALL)
    assert header and section
    return header.group(1), section.group(1)


def test_header_and_forecast_section_state_the_same_period(report: tuple[Path, pd.DataFrame, dict[str, Any]]) -> None:
    page, returns = report[0].read_text(encoding="utf-8"), report[1]
    header, section = _header_and_section(page)
    words = (
        "returns dated 22 Mar 2011 to 1 Mar 2013, each by the close it ends at (the first is earned from the "
        "close of 21 Mar 2011, where the first decision was made)"
    )
    assert f"{returns.index[0]:%-d %b %Y}" == "22 Mar 2011" and f"{returns.index[-1]:%-d %b %Y}" == "1 Mar 2013"
    assert f"Period: {words}" in header and words in section
    dates = re.search(r"<dt>(.*?)</dt>", page)
    assert dates and " ".join(dates.group(1).split()) == "22 Mar, 2011 - 1 Mar, 2013"  # QuantStats' own: the same days


def test_calendar_note_names_the_whole_periods(report: tuple[Path, pd.DataFrame, dict[str, Any]]) -> None:
    page, returns = report[0].read_text(encoding="utf-8"), report[1]
    r = returns["strategy"]
    assert len(_whole(r, "month")) == 23 and len(_whole(r, "quarter")) == 7 and len(_whole(r, "year")) == 1
    assert (
        "count whole calendar periods only: here months Apr 2011 to Feb 2013, quarters 2011Q2 to 2012Q4, "
        "year 2012." in page
    )


def test_whole_periods_allow_new_year_holidays() -> None:
    jpx = pd.Series(0.001, index=pd.bdate_range("2016-01-04", "2016-12-30"))  # Tokyo: 4 Jan to 30 Dec
    assert [str(p) for p in quantstats_fixes.whole_periods(jpx, "Y").index] == ["2016"]
    late = jpx["2016-01-08":"2016-12-26"]  # four weekdays short at either end
    assert quantstats_fixes.whole_periods(late, "Y").empty
    assert len(quantstats_fixes.whole_periods(late, "M")) == 10


def test_period_words_without_an_earlier_decision_close() -> None:
    from backtests.tearsheet import period_words

    inputs = _inputs(_returns(), first_close="2011-03-22")
    assert period_words(inputs) == "returns dated 22 Mar 2011 to 1 Mar 2013"


def test_small_p_value_reads_below_a_thousandth(tmp_path: Path) -> None:
    from backtests.tearsheet import forecast_section, p_value

    assert [p_value(p) for p in (0.0036, 0.0004999, 2e-9, 0.5)] == ["p = 0.004", "p < 0.001", "p < 0.001", "p = 0.500"]
    scores = {
        "mse": 2e-4,
        "r2_vs_zero": -0.001,
        "nll": -2.8,
        "crps": 0.008,
        "coverage_90": 0.9,
        "qlike_sq_return": -7.4,
        "directional_accuracy": 0.51,
        "pit_histogram": [10] * 10,
    }
    metrics = {
        "models": {"lstm": "LSTM-MLE", "garch": "GARCH(1,1)"},
        "test": {
            "first_date": "2011-03-21",
            "overall": {"lstm": scores, "garch": scores},
            "diebold_mariano": {"model": "lstm", "against": "garch", "nll": {"statistic": -6.1, "p_value": 1.1e-9}},
        },
    }
    text = forecast_section(_inputs(_returns(), forecast_metrics=metrics))
    assert "NLL statistic -6.10 (p < 0.001)" in text and "p = 0.000" not in text


# --- the charts, each against the returns ---------------------------------------------------------------------


def _line(fig: Any, label: str) -> pd.Series:
    found = [ln for ln in fig.axes[0].lines if ln.get_label() == label or ln.get_gid() == label]
    assert len(found) == 1, f"{len(found)} lines {label!r}"
    return pd.Series(
        np.asarray(found[0].get_ydata(), dtype=float), index=pd.DatetimeIndex(np.asarray(found[0].get_xdata()))
    )


def _same(line: pd.Series, expected: pd.Series) -> None:
    assert line.index.equals(pd.DatetimeIndex(expected.index)), "not drawn on the trading days"
    np.testing.assert_allclose(line.to_numpy(), expected.to_numpy(), rtol=1e-9, atol=1e-12, equal_nan=True)


def test_cumulative_return_charts_agree(report: tuple[Path, pd.DataFrame, dict[str, Any]]) -> None:
    _, returns, figures = report
    r, b = returns["strategy"], returns["benchmark"]
    for title in ("Cumulative Returns vs Benchmark", "Cumulative Returns vs Benchmark (Log Scaled)"):
        _same(_line(figures[title], "Strategy"), (1 + r).cumprod() - 1)
        _same(_line(figures[title], "Buy and hold"), (1 + b).cumprod() - 1)
    matched = r / r.std() * b.std()
    _same(
        _line(figures["Cumulative Returns vs Benchmark (Volatility Matched)"], "Strategy"), (1 + matched).cumprod() - 1
    )


def test_log_chart_is_on_a_log_scale(report: tuple[Path, pd.DataFrame, dict[str, Any]]) -> None:
    ax = report[2]["Cumulative Returns vs Benchmark (Log Scaled)"].axes[0]
    values = np.array([-0.2, 0.0, 0.1, 0.5, 2.0])
    np.testing.assert_allclose(ax.yaxis.get_transform().transform(values), np.log1p(values), rtol=1e-12)


def test_log_chart_of_a_long_run_spans_its_lines_with_ticks_at_multiples_of_the_equity() -> None:
    """Eleven years growing ninefold: the axis spans the lines (not QuantStats' -200%) and its ticks are whole
    multiples of the equity (0%, 100%, 300%, 700%), evenly spread on the log axis."""
    days = pd.bdate_range("2002-01-01", periods=2800)
    rng = np.random.default_rng(0)
    r = pd.Series(rng.normal(0.0008, 0.012, len(days)), index=days)
    b = pd.Series(rng.normal(0.0004, 0.015, len(days)), index=days)
    fig = quantstats_fixes.plot_timeseries(
        r.rename("S"), b.rename("B"), log_scale=True, compound=True, show=False, resample=None
    )
    ax = fig.axes[0]
    wealth = np.r_[(1 + r).cumprod().to_numpy(), (1 + b).cumprod().to_numpy()] - 1
    lo, hi = ax.get_ylim()
    assert lo <= wealth.min() and hi >= wealth.max()
    assert np.log1p(hi) - np.log1p(lo) < 1.2 * (np.log1p(wealth.max()) - np.log1p(wealth.min()))
    ticks = [t for t in ax.get_yticks() if lo <= t <= hi]
    assert len(ticks) >= 3
    np.testing.assert_allclose(np.diff(np.log1p(ticks)), np.log(2.0), rtol=1e-12)


def test_log_chart_upstream_bug_still_there() -> None:
    """QuantStats' "log scaled" axis is still linear for returns within +-200%: symlog, linthresh 2."""
    r = _returns()
    fig = quantstats_fixes.ORIGINAL_TIMESERIES(
        r["strategy"].rename("S"), r["benchmark"].rename("B"), log_scale=True, compound=True, show=False
    )
    t = fig.axes[0].yaxis.get_transform().transform(np.array([0.1, 0.2, 0.4]))
    assert np.allclose(t / t[0], [1, 2, 4]), (
        "QuantStats' log chart is now on a log scale: remove the log_scale part of plot_timeseries and this test"
    )


def test_daily_returns_chart_is_their_sum_on_trading_days(report: tuple[Path, pd.DataFrame, dict[str, Any]]) -> None:
    _, returns, figures = report
    _same(_line(figures["Daily Returns (Cumulative Sum)"], "Strategy"), returns["strategy"].cumsum())


def test_daily_returns_upstream_bug_still_there() -> None:
    """QuantStats still drops the cumulative sum to 0 on every weekend and holiday (a resample with "sum")."""
    r = _returns()["strategy"].rename("Strategy")
    fig = quantstats_fixes.ORIGINAL_TIMESERIES(r, None, "Daily", resample="D", compound=False, show=False)
    line = _line(fig, "Strategy")
    weekends = line[line.index.day_of_week >= 5]
    assert len(line) > len(r) and (weekends == 0).all() and len(weekends), (
        "QuantStats' daily chart no longer falls to 0 between trading days: remove the resample part of "
        "plot_timeseries and this test"
    )


def test_resampled_cumulative_chart_is_the_last_value_of_each_period() -> None:
    """Any resample (not only the daily chart's): the cumulated series' last value per non-empty period."""
    r, b = _returns()["strategy"].rename("S"), _returns()["benchmark"].rename("B")
    for compound, match in ((True, False), (False, False), (True, True)):
        fig = qs_core.plot_timeseries(
            r, b, "x", compound=compound, match_volatility=match, resample="W-FRI", show=False
        )
        scaled = r / r.std() * b.std() if match else r
        for label, x in (("S", scaled), ("B", b)):
            cumulated = (1 + x).cumprod() - 1 if compound else x.cumsum()
            weekly = cumulated.groupby(cumulated.index.to_period("W-FRI")).last()
            _same(_line(fig, label), weekly.set_axis(weekly.index.end_time.normalize()))


def _rolling_beta(r: pd.Series, b: pd.Series, window: int) -> pd.Series:
    x, y = b.to_numpy(), r.to_numpy()
    out = np.full(len(r), np.nan)
    for end in range(window, len(r) + 1):
        bx, ry = x[end - window : end], y[end - window : end]
        out[end - 1] = np.cov(ry, bx)[0, 1] / bx.var(ddof=1)
    return pd.Series(out, index=r.index)


def test_rolling_beta_blank_until_the_window_is_full(report: tuple[Path, pd.DataFrame, dict[str, Any]]) -> None:
    _, returns, figures = report
    fig = figures["Rolling Beta to Benchmark"]
    r, b = returns["strategy"], returns["benchmark"]
    for window in (126, 252):
        line = _line(fig, f"beta-{window}")
        assert line.iloc[: window - 1].isna().all() and line.iloc[window - 1 :].notna().all(), window
        np.testing.assert_allclose(line.to_numpy(), _rolling_beta(r, b, window).to_numpy(), rtol=1e-7, equal_nan=True)
    mean = next(ln for ln in fig.axes[0].lines if ln.get_gid() == "beta-mean").get_ydata()[0]
    assert mean == pytest.approx(_rolling_beta(r, b, 126).mean(), rel=1e-9)


def test_rolling_beta_upstream_bug_still_there() -> None:
    r = _returns()
    fig = quantstats_fixes.ORIGINAL_ROLLING_BETA(
        r["strategy"].rename("S"), r["benchmark"], window1=126, window1_label="6-Months", show=False
    )
    first = np.asarray(next(ln for ln in fig.axes[0].lines if ln.get_label() == "6-Months").get_ydata(), dtype=float)
    assert (first[:125] == 0).all(), (
        "QuantStats' rolling beta no longer reads 0 in its warm-up: remove plot_rolling_beta and this test"
    )


def test_rolling_charts_agree(report: tuple[Path, pd.DataFrame, dict[str, Any]]) -> None:
    _, returns, figures = report
    r, b = returns["strategy"], returns["benchmark"]

    def sortino(x: np.ndarray) -> float:
        return x.mean() / np.sqrt((x[x < 0] ** 2).sum() / len(x)) * np.sqrt(252)

    expected = {
        "Rolling Volatility (6-Months)": lambda x: x.std(ddof=1) * np.sqrt(252),
        "Rolling Sharpe (6-Months)": lambda x: x.mean() / x.std(ddof=1) * np.sqrt(252),
        "Rolling Sortino (6-Months)": sortino,
    }
    for title, fn in expected.items():
        fig = figures[title]
        full = pd.Series([fn(r.to_numpy()[end - 126 : end]) for end in range(126, len(r) + 1)], index=r.index[125:])
        _same(_line(fig, "Strategy"), full)
        left, right = fig.axes[0].get_xlim()
        assert (left, right) == pytest.approx(tuple(matplotlib.dates.date2num([r.index[0], r.index[-1]])))
    vol = _line(figures["Rolling Volatility (6-Months)"], "Buy and hold")
    _same(vol, b.rolling(126).std().dropna() * np.sqrt(252))


def test_short_period_rolling_charts_say_there_is_no_figure(tmp_path: Path) -> None:
    """100 days: no 6-month window fits; each rolling chart says so on the period's own axis (not 1970's)."""
    returns = _returns().iloc[:100]
    recorder = _Recorder()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(quantstats_fixes, "_save_and_show", recorder(quantstats_fixes._save_and_show))
        write_tearsheet(_inputs(returns), tmp_path / "short.html", title="short")
    for title in (
        "Rolling Beta to Benchmark",
        "Rolling Volatility (6-Months)",
        "Rolling Sharpe (6-Months)",
        "Rolling Sortino (6-Months)",
    ):
        ax = recorder.figures[title].axes[0]
        assert [t.get_gid() for t in ax.texts] == ["no-window"], title
        assert all(
            np.isnan(np.asarray(ln.get_ydata(), dtype=float)).all()
            for ln in ax.lines
            if ln.get_gid() and ln.get_gid().startswith("beta-")
        ), title
        assert ax.get_xlim()[0] == pytest.approx(matplotlib.dates.date2num(returns.index[0])), title
    rows = _metrics_rows((tmp_path / "short.html").read_text(encoding="utf-8"))
    assert rows["6M"] == ["-", "-"] and rows["1Y"] == ["-", "-"] and rows["3M"] != ["-", "-"]


def test_rolling_stats_upstream_bug_still_there() -> None:
    """QuantStats still draws a rolling chart with no full window on an axis of 1970."""
    r = _returns().iloc[:100]["strategy"].rename("S")
    fig = quantstats_fixes.ORIGINAL_ROLLING_STATS(r.rolling(126).std(), None, title="x", show=False, subtitle=False)
    assert fig.axes[0].get_xlim()[1] < matplotlib.dates.date2num(pd.Timestamp("1971-01-01")), (
        "QuantStats' empty rolling chart is now on the period's axis: remove plot_rolling_stats and this test"
    )


def _span(patch: Any) -> tuple[float, float]:
    """The x extent, in date numbers, of a band ``axvspan`` drew."""
    return float(patch.get_x()), float(patch.get_x() + patch.get_width())


def test_worst_drawdown_chart_shades_the_deepest_to_their_recovery(
    report: tuple[Path, pd.DataFrame, dict[str, Any]],
) -> None:
    _, returns, figures = report
    r = returns["strategy"]
    fig = figures["Strategy - Worst 5 Drawdown Periods"]
    dds = sorted(_independent_drawdowns(r), key=lambda d: d["depth"])[:5]
    spans = sorted((p.get_gid(), *_span(p)) for p in fig.axes[0].patches if p.get_gid())
    expected = sorted(
        (
            f"drawdown-{d['start']:%Y-%m-%d}",
            matplotlib.dates.date2num(d["start"]),
            matplotlib.dates.date2num(d["end"] if d["end"] is not None else r.index[-1]),
        )
        for d in dds
    )
    assert [s[0] for s in spans] == [e[0] for e in expected]
    for (gid, x0, x1), (_, e0, e1) in zip(spans, expected, strict=True):
        assert (x0, x1) == pytest.approx((e0, e1)), gid
    _same(_line(fig, "Backtest"), (1 + r).cumprod() - 1)
    longest = sorted(_independent_drawdowns(r), key=lambda d: -d["days"])[:5]
    assert {d["start"] for d in longest} != {d["start"] for d in dds}  # the data tell "worst" from "longest"


def test_worst_drawdown_chart_upstream_bug_still_there() -> None:
    """QuantStats still picks the longest drawdowns and shades each to its last day under water."""
    r = _returns()["strategy"]
    fig = quantstats_fixes.ORIGINAL_LONGEST_DRAWDOWNS(r, periods=5, title="S", show=False)
    ends = sorted(_span(p)[1] for p in fig.axes[0].patches)
    longest = sorted(_independent_drawdowns(r), key=lambda d: -d["days"])[:5]
    recoveries = sorted(matplotlib.dates.date2num(d["end"] if d["end"] is not None else r.index[-1]) for d in longest)
    assert not np.allclose(ends, recoveries), (
        "QuantStats now shades drawdowns to their recovery: remove plot_longest_drawdowns and this test"
    )


def test_underwater_chart_agrees(report: tuple[Path, pd.DataFrame, dict[str, Any]]) -> None:
    _, returns, figures = report
    r = returns["strategy"]
    equity = (1 + r).cumprod()
    _same(_line(figures["Underwater Plot"], "Strategy"), equity / equity.cummax().clip(lower=1.0) - 1)


def test_monthly_histogram_agrees(report: tuple[Path, pd.DataFrame, dict[str, Any]]) -> None:
    from matplotlib.colors import to_hex

    _, returns, figures = report
    ax = figures["Distribution of Monthly Returns"].axes[0]
    idx = returns.index
    months = {c: (1 + returns[c]).groupby([idx.year, idx.month]).prod().to_numpy() - 1 for c in returns}
    n = sum(len(m) for m in months.values())  # seaborn's density is over both series together
    colors = {qs_core._FLATUI_COLORS[0].lower(): "benchmark", qs_core._FLATUI_COLORS[1].lower(): "strategy"}
    bars: dict[str, list[tuple[float, float, float]]] = {"benchmark": [], "strategy": []}
    for p in ax.patches:
        bars[colors[to_hex(p.get_facecolor())]].append((p.get_x(), p.get_width(), p.get_height()))
    for column, drawn in bars.items():
        drawn.sort()
        edges = np.array([x for x, _, _ in drawn] + [drawn[-1][0] + drawn[-1][1]])
        counts = np.array([h * n * w for _, w, h in drawn])
        np.testing.assert_allclose(counts, np.histogram(months[column], bins=edges)[0], atol=1e-9, err_msg=column)
    for tick, label in zip(ax.get_xticks(), ax.get_xticklabels(), strict=True):
        if label.get_text():
            assert float(label.get_text().rstrip("%")) == pytest.approx(tick * 100, abs=0.005), label.get_text()


def test_percent_ticks_upstream_bug_still_there() -> None:
    r = _returns()
    fig = quantstats_fixes.ORIGINAL_HISTOGRAM(r["strategy"].rename("S"), r["benchmark"].rename("B"), show=False)
    assert (
        fig.axes[0].xaxis.get_major_formatter()(0.29, 0) == "28%"
        and quantstats_fixes.ORIGINAL_FORMAT_PCT(0.025, 0) == "2%"
    ), "QuantStats' percent ticks now read right: remove plot_histogram, format_pct_axis and this test"
    assert [quantstats_fixes.format_pct_axis(x, 0) for x in (0.29, 0.025, 0.05, -0.1, 0.0, 12.5)] == [
        "29%",
        "2.5%",
        "5%",
        "-10%",
        "0%",
        quantstats_fixes.ORIGINAL_FORMAT_PCT(12.5, 0),
    ]
