"""Fixes for QuantStats 0.0.86 charts that pandas 3 (or QuantStats itself) draws wrong; applied on import.

Each is replaced at the seam QuantStats itself calls through (``quantstats._plotting.core`` and
``quantstats.stats.monthly_returns``), so ``qs.reports.html`` and ``qs.plots`` draw the fixed versions.

- "EOY Returns": pandas 3 draws ``DataFrame.plot(kind="bar")`` of a frame whose index has a frequency (the
  year-end resample gives ``YE-DEC``) on a time-series axis, a bar at each year's period ordinal (2011 at 41),
  while ``plot_returns_bars`` labels the ticks as if the bars stood at 0, 1, 2, ...: the tick at 40 (2010)
  says "2011", so each year's bars sit under the next year's label. The fix keeps QuantStats' figure and puts
  each year's label under the middle of that year's bars.
- "Return Quantiles": ``plot_distribution`` writes each resampled series (labelled at period ends) into a
  frame indexed by the trading days and forward-fills it, so a period whose end is not a trading day (most
  year ends) is lost, and the rest are weighted by the days they are repeated on: the Yearly box is one value
  and the Quarterly box collapses. The fix draws each box from the period returns themselves, compounded
  (or summed) per calendar week, month, quarter and year.
- Monthly heatmap: ``stats.monthly_returns`` fills the pivot with 0 (``.fillna(0)`` and ``loc[:, month] = 0``),
  so months before the first return and after the last one read "0.00". The fix leaves them NaN, which the
  heatmap draws blank; months inside the period, and the EOY column, are QuantStats' own numbers.
- "3Y/5Y/10Y (ann.)" in the metrics table: ``reports.metrics`` takes the returns since 35, 59 or 119 months
  before the last day, which for a shorter period is the whole period: a 2-year run shows its all-time CAGR
  three more times. The fix shows "-" where the returns begin after the window's start.

``apply()`` is idempotent; the ``ORIGINAL_*`` names keep QuantStats' own functions so a test can tell when a
new release no longer needs these fixes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from dateutil.relativedelta import relativedelta
from quantstats import reports as _reports
from quantstats import stats as _stats
from quantstats._plotting import core as _core

__all__ = ["ORIGINAL_BARS", "ORIGINAL_DISTRIBUTION", "ORIGINAL_METRICS", "ORIGINAL_MONTHLY_RETURNS", "PERIODS",
           "WINDOWS", "apply", "metrics", "monthly_returns", "period_returns", "plot_distribution",
           "plot_returns_bars"]

ORIGINAL_BARS = getattr(_core.plot_returns_bars, "__wrapped__", _core.plot_returns_bars)
ORIGINAL_DISTRIBUTION = getattr(_core.plot_distribution, "__wrapped__", _core.plot_distribution)
ORIGINAL_MONTHLY_RETURNS = getattr(_stats.monthly_returns, "__wrapped__", _stats.monthly_returns)
ORIGINAL_METRICS = getattr(_reports.metrics, "__wrapped__", _reports.metrics)
#: Metrics-table row -> the months before the last day that QuantStats' window reaches back (reports.py).
WINDOWS = {"3Y (ann.)": 35, "5Y (ann.)": 59, "10Y (ann.)": 119}
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]

#: Box label -> pandas resample rule (calendar periods; weeks end on Sunday, so a week is Monday to Friday).
PERIODS = {"Daily": None, "Weekly": "W-SUN", "Monthly": "ME", "Quarterly": "QE", "Yearly": "YE"}


def period_returns(returns: pd.Series, rule: str | None, *, compounded: bool = True) -> pd.Series:
    """Returns per calendar period: ``(1 + r).prod() - 1`` (or the sum) over the days in each period.

    Periods without a single day in ``returns`` are left out rather than shown as 0.
    """
    r = returns.fillna(0)
    if rule is None:
        return r
    groups = r.resample(rule)
    out = groups.apply(lambda x: (1 + x).prod() - 1) if compounded else groups.sum()
    return out[groups.size() > 0]


def _save_and_show(fig: Any, savefig: Any, show: bool) -> Any:
    import matplotlib.pyplot as plt

    if savefig:
        fig.savefig(**savefig) if isinstance(savefig, dict) else fig.savefig(savefig)
    if show:
        plt.show(block=False)
    plt.close(fig)
    return None if show else fig


def plot_returns_bars(returns: Any, benchmark: Any = None, *args: Any, resample: str | None = "YE",
                      savefig: Any = None, show: bool = True, **kwargs: Any) -> Any:
    """QuantStats' bar chart with each tick label under its own bars (see the module docstring)."""
    fig = ORIGINAL_BARS(returns, benchmark, *args, resample=resample, savefig=None, show=False, **kwargs)
    ax = fig.axes[0]
    groups = [list(c) for c in ax.containers if len(c)]
    frame = pd.DataFrame(returns).copy()
    if isinstance(benchmark, pd.Series):
        frame.insert(0, "__benchmark__", benchmark[benchmark.index.isin(frame.index)])
    frame = frame.dropna()
    if resample is not None:
        frame = frame.resample(resample).apply(lambda x: (1 + x).prod() - 1)
    if groups and isinstance(frame.index, pd.DatetimeIndex) and all(len(g) == len(frame) for g in groups):
        centers = np.mean([[p.get_x() + p.get_width() / 2 for p in g] for g in groups], axis=0)
        years = [str(y) for y in frame.index.year]
        step = max(1, len(years) // 10) if len(years) > 10 else 1
        ax.set_xticks(centers, [y if not i % step else "" for i, y in enumerate(years)])
        ax.set_xlim(centers[0] - 0.75, centers[-1] + 0.75)
    return _save_and_show(fig, savefig, show)


def plot_distribution(returns: pd.Series, figsize: tuple[float, float] = (10, 6), fontname: str = "Arial",
                      grayscale: bool = False, ylabel: bool = True, subtitle: bool = True, compounded: bool = True,
                      title: str | None = None, savefig: Any = None, show: bool = True) -> Any:
    """QuantStats' "Return Quantiles" box plot, each box drawn from that period's own returns."""
    import matplotlib.pyplot as plt

    colors = ["#f9f9f9", "#dddddd", "#bbbbbb", "#999999", "#808080"] if grayscale else _core._FLATUI_COLORS
    data = [period_returns(returns, rule, compounded=compounded).to_numpy() for rule in PERIODS.values()]
    fig, ax = plt.subplots(figsize=figsize)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    fig.suptitle(f"{title} - Return Quantiles" if title else "Return Quantiles", y=0.94, fontweight="bold",
                 fontname=fontname, fontsize=14, color="black")
    if subtitle:
        ax.set_title(f"{returns.index[0]:%e %b '%y} - {returns.index[-1]:%e %b '%y}            \n", fontsize=12,
                     color="gray")
    fig.set_facecolor("white")
    ax.set_facecolor("white")
    boxes = ax.boxplot(data, tick_labels=list(PERIODS), patch_artist=True, widths=0.8,
                       medianprops={"color": "#3c3c3c"}, flierprops={"marker": "d", "markersize": 4})
    for i, (label, color) in enumerate(zip(PERIODS, colors, strict=False)):
        boxes["boxes"][i].set_facecolor(color)
        boxes["boxes"][i].set_edgecolor("#3c3c3c")
        boxes["boxes"][i].set_gid(f"box-{label}")  # named, so a reader (or a test) can find each box's quartiles
        boxes["medians"][i].set_gid(f"median-{label}")
        for part, name in (("whiskers", "whisker"), ("caps", "cap")):
            boxes[part][2 * i].set_gid(f"{name}-low-{label}")
            boxes[part][2 * i + 1].set_gid(f"{name}-high-{label}")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda x, loc: f"{x * 100:,.0f}%"))
    if ylabel:
        ax.set_ylabel("Returns", fontname=fontname, fontweight="bold", fontsize=12, color="black")
        ax.yaxis.set_label_coords(-0.1, 0.5)
    fig.tight_layout(w_pad=0, h_pad=0)
    return _save_and_show(fig, savefig, show)


def monthly_returns(returns: Any, eoy: bool = True, compounded: bool = True, prepare_returns: bool = True) -> Any:
    """QuantStats' year x month table, with NaN (not 0) for the months before the first and after the last return."""
    table = ORIGINAL_MONTHLY_RETURNS(returns, eoy=eoy, compounded=compounded, prepare_returns=prepare_returns)
    index = returns.index
    if not len(index) or not isinstance(index, pd.DatetimeIndex):
        return table
    first, last = (index.min().year, index.min().month), (index.max().year, index.max().month)
    table = table.astype(float)
    for year in table.index:
        for month, name in enumerate(MONTHS, start=1):
            if (int(year), month) < first or (int(year), month) > last:
                table.loc[year, name] = np.nan
    return table


def metrics(returns: Any, benchmark: Any = None, *args: Any, **kwargs: Any) -> Any:
    """QuantStats' metrics table with "-" for the 3Y/5Y/10Y rows whose window starts before the returns do.

    Only the table it returns (``display=False``, as ``reports.html`` asks) is changed; a printed table is not.
    """
    table = ORIGINAL_METRICS(returns, benchmark, *args, **kwargs)
    index = returns.dropna(how="all").index if hasattr(returns, "dropna") else None
    if table is None or not isinstance(index, pd.DatetimeIndex) or not len(index):
        return table
    short = [row for row, months in WINDOWS.items()
             if row in table.index and index.min() > index.max() - relativedelta(months=months)]
    if short:
        if not all(pd.api.types.is_string_dtype(t) or t == object for t in table.dtypes):
            table = table.astype(object)
        table.loc[short] = "-"
    return table


plot_returns_bars.__wrapped__ = ORIGINAL_BARS  # type: ignore[attr-defined]
plot_distribution.__wrapped__ = ORIGINAL_DISTRIBUTION  # type: ignore[attr-defined]
monthly_returns.__wrapped__ = ORIGINAL_MONTHLY_RETURNS  # type: ignore[attr-defined]
metrics.__wrapped__ = ORIGINAL_METRICS  # type: ignore[attr-defined]


def apply() -> None:
    """Route QuantStats' broken charts through the fixed versions (safe to call more than once)."""
    _core.plot_returns_bars = plot_returns_bars
    _core.plot_distribution = plot_distribution
    _stats.monthly_returns = monthly_returns
    _reports.metrics = metrics


apply()
