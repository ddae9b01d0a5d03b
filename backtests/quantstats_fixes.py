"""Fixes for what QuantStats 0.0.86 draws or reports wrong on pandas 3; applied on import.

Each is replaced at the seam QuantStats itself calls through (``quantstats._plotting.core``,
``quantstats.stats.monthly_returns`` and ``quantstats.reports.metrics``), so ``qs.reports.html`` and ``qs.plots``
draw the fixed versions. What upstream does wrong, and what each fix does:

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
- Percent axes: ``format_pct_axis`` prints every tick with no decimals, so ticks 2.5% apart read "2%, 5%, 8%";
  the histogram's own formatter truncates (``int(x * 100)``), so the tick at 0.05 (0.04999... in floating
  point) reads "4%". The fix prints as many decimals (up to two) as the tick needs, rounded.
- "Daily Returns (Cumulative Sum)": ``plot_timeseries`` takes the cumulative sum and then resamples it to
  calendar days with ``sum``: every weekend and holiday is an empty bin whose sum is 0, so the line drops to
  zero between trading days (the comb in the chart). The fix resamples the cumulated series with ``last`` and
  leaves out empty bins (for daily data: the trading days, as they are).
- "Cumulative Returns (Log Scaled)": ``plt.yscale("symlog")`` with matplotlib's default ``linthresh=2`` is
  linear for cumulative returns between -200% and +200%, so the chart is the linear one with odd ticks. The
  fix puts the axis on the log of the equity, ``log(1 + cumulative return)``, labelled in returns.
- "Rolling Beta": ``plot_rolling_beta`` fills the 6-month beta's warm-up with 0 (``.fillna(0)``), so the
  line sits at 0 for the first 125 days and the mean line is pulled towards it. The fix draws nothing until a
  window is full, and the mean is that of the betas drawn.
- Rolling volatility, Sharpe and Sortino: the warm-up is left out (right), but the x-axis then starts where
  the window first fills, and a period shorter than the window draws an empty chart dated 1970. The fix keeps
  the axis on the whole period and, with no full window, says so in the chart.
- "Worst 5 Drawdown Periods": ``plot_longest_drawdowns`` picks the five *longest* drawdowns (by days) and
  shades each from its first day under water to its last, not to the day it recovered. The fix picks the
  five deepest, as the title says, and shades each to its recovery (or to the last day, if still under way).
- Metrics table (``reports.metrics``), each row against figures computed from the returns:

  - trailing windows: "3M", "6M" and "1Y" take the returns dated on or after the day the window begins, one
    day too many where that is a trading day (the return dated that day was earned before the window's
    first close); "3Y/5Y/10Y (ann.)" reach back 35, 59 and 119 months, not 3, 5 and 10 years; and a period
    shorter than a window shows its whole-period figure as if it were the window's (a 9-month run's "1Y" is
    its total return). The fix computes each over the returns dated after ``last day - window`` and shows
    "-" where the returns begin after that;
  - "Smart Sharpe" and "Smart Sortino (/√2)": ``autocorr_penalty`` takes the first column of a frame, so the
    benchmark's is penalised with the strategy's autocorrelation. The fix computes each column on its own;
  - "CAGR": labelled "CAGR\ufe6a" (U+FE6A SMALL PERCENT SIGN), a glyph Arial and its stand-ins lack, so browsers
    draw a box after it; the fix names the row "CAGR" (the cells carry "%");
  - "Risk of Ruin": the probability is printed with "%" but not multiplied by 100 (0.4% reads "0.0%");
  - "R^2" and "Information Ratio": computed for the strategy and broadcast, so the benchmark column repeats
    the strategy's figures (a benchmark's R^2 against itself is 1). The fix shows "-" there, as QuantStats
    does for Beta, Alpha and Correlation;
  - "Recovery Factor": ``abs(returns.sum()) / abs(max drawdown)``, so a losing strategy reads as if it had
    made back its drawdown, and the sum is not the compounded return the table reports. The fix is the
    cumulative return (compounded, or summed where the report is not) over the absolute maximum drawdown;
  - calendar rows ("Expected Monthly/Yearly", "Best/Worst Month/Year", "Avg. Up/Down Month", "Win Month/
    Quarter/Year", "Gain/Pain (1M)"): QuantStats counts every calendar period the returns touch, so a run from
    22 March to 1 March next-but-one has a "month" of seven days and a "year" of two months (its Worst Year), and
    a 9-month run's Best Year is its total return. The fix counts whole periods only (``whole_periods``) and
    shows "-" where there is none;
  - drawdowns: ``drawdown_details`` ends each drawdown on its last day under water, and a drawdown still under
    water at the end on the last day of the returns, so "Max DD Period End" (and the worst-drawdown table,
    which ``backtests.tearsheet`` replaces) reads as a recovery; the days are counted to that last day. The
    fix takes ``backtests.stats.drawdowns``: the end is the first day back at the peak, or "not recovered",
    and "Longest DD Days" / "Avg. Drawdown Days" say "ongoing" where a drawdown not recovered is counted
    (its days run through the last day).

- Risk-free rate: QuantStats takes ``rf`` as an annual rate and turns it into a day's as ``(1 + rf) ** (1 / 252)
  - 1``, where qtrade charges and earns ``rf / 252`` a day (and a float ``rf`` below 0 is ignored: it checks
  ``rf > 0``); its report header formats ``rf`` with ``{rf:.1%}``, which a rate series cannot take.
  :class:`DailyRate` is the series of annual rates whose conversion gives back qtrade's day rates exactly, so
  every Sharpe and Sortino ratio of the report is of the same excess returns as ``stats.json``'s, and it prints
  (header, and "Risk-Free Rate %" through the fixed ``reports._rf_scalar``) as the mean annual rate, 252 x the mean
  day's.

``apply()`` is idempotent; the ``ORIGINAL_*`` names keep QuantStats' own functions so a test can tell when a
new release no longer needs these fixes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from dateutil.relativedelta import relativedelta
from quantstats import reports as _reports
from quantstats import stats as _stats
from quantstats import utils as _utils
from quantstats._plotting import core as _core

from backtests.stats import drawdowns

__all__ = [
    "CORE_FIXES",
    "HOLIDAY_SLACK",
    "ORIGINAL_BARS",
    "ORIGINAL_DISTRIBUTION",
    "ORIGINAL_FORMAT_PCT",
    "ORIGINAL_HISTOGRAM",
    "ORIGINAL_LONGEST_DRAWDOWNS",
    "ORIGINAL_METRICS",
    "ORIGINAL_MONTHLY_RETURNS",
    "ORIGINAL_ROLLING_BETA",
    "ORIGINAL_ROLLING_STATS",
    "ORIGINAL_TIMESERIES",
    "PERIODS",
    "TRAILING",
    "DailyRate",
    "apply",
    "drawdown_table",
    "format_pct_axis",
    "metrics",
    "monthly_returns",
    "period_returns",
    "plot_distribution",
    "plot_histogram",
    "plot_longest_drawdowns",
    "plot_returns_bars",
    "plot_rolling_beta",
    "plot_rolling_stats",
    "plot_timeseries",
    "whole_periods",
]


def _original(module: Any, name: str) -> Any:
    fn = getattr(module, name)
    return getattr(fn, "__wrapped__", fn)


ORIGINAL_BARS = _original(_core, "plot_returns_bars")
ORIGINAL_DISTRIBUTION = _original(_core, "plot_distribution")
ORIGINAL_TIMESERIES = _original(_core, "plot_timeseries")
ORIGINAL_HISTOGRAM = _original(_core, "plot_histogram")
ORIGINAL_ROLLING_STATS = _original(_core, "plot_rolling_stats")
ORIGINAL_ROLLING_BETA = _original(_core, "plot_rolling_beta")
ORIGINAL_LONGEST_DRAWDOWNS = _original(_core, "plot_longest_drawdowns")
ORIGINAL_FORMAT_PCT = _original(_core, "format_pct_axis")
ORIGINAL_MONTHLY_RETURNS = _original(_stats, "monthly_returns")
ORIGINAL_METRICS = _original(_reports, "metrics")
ORIGINAL_RF_SCALAR = _original(_reports, "_rf_scalar")


class DailyRate(pd.Series):
    """``rf=`` for QuantStats from the risk-free rate of each day (``annual / 252``): the annual rates
    ``(1 + day) ** 252 - 1`` that QuantStats turns back into exactly those days' rates; printed as the mean annual
    rate, 252 x the mean day's.

    >>> days = pd.bdate_range("2024-01-01", periods=3)
    >>> rf = DailyRate.from_days(pd.Series(0.05 / 252, index=days))
    >>> f"{rf:.2%}", bool(np.allclose((1 + rf) ** (1 / 252) - 1, 0.05 / 252, rtol=1e-12, atol=0))
    ('5.00%', True)
    """

    _metadata: ClassVar[list[str]] = ["annual"]
    annual: float

    @classmethod
    def from_days(cls, days: pd.Series, periods: int = 252) -> DailyRate:
        out = cls((1.0 + days.astype(float)) ** periods - 1.0)
        out.annual = float(days.mean() * periods) if len(days) else 0.0
        return out

    def __format__(self, spec: str) -> str:
        return format(self.annual, spec)


def _rf_scalar(rf: Any) -> float:
    """QuantStats' one figure for ``rf`` (its report's "Risk-Free Rate %"): a :class:`DailyRate`'s annual rate."""
    return rf.annual if isinstance(rf, DailyRate) else float(ORIGINAL_RF_SCALAR(rf))


#: Metrics-table row -> (the window it covers, whether QuantStats annualises it).
TRAILING = {
    "3M": (relativedelta(months=3), False),
    "6M": (relativedelta(months=6), False),
    "1Y": (relativedelta(years=1), False),
    "3Y (ann.)": (relativedelta(years=3), True),
    "5Y (ann.)": (relativedelta(years=5), True),
    "10Y (ann.)": (relativedelta(years=10), True),
}
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]

#: Box label -> pandas resample rule (calendar periods; weeks end on Sunday, so a week is Monday to Friday).
PERIODS = {"Daily": None, "Weekly": "W-SUN", "Monthly": "ME", "Quarterly": "QE", "Yearly": "YE"}

#: Weekdays a calendar period may lack at its start or end and still count as whole: holidays the returns
#: cannot show (New Year's Day; the Tokyo exchange's 1-3 January), at the cost of calling a period whole that
#: misses up to three trading days.
HOLIDAY_SLACK = 3


def whole_periods(returns: pd.Series, freq: str, *, compounded: bool = True) -> pd.Series:
    """Returns per calendar period (``freq`` "M", "Q" or "Y") that the returns cover from its start to its end.

    A period counts as whole unless it has more than ``HOLIDAY_SLACK`` weekdays before the first return or after
    the last one: the partial first and last periods of a run are left out. Compounded (or summed) per period.

    Examples
    --------
    >>> r = pd.Series(0.01, index=pd.bdate_range("2011-03-22", "2011-06-02"))
    >>> [str(p) for p in whole_periods(r, "M").index]  # March from the 22nd and June to the 2nd are partial
    ['2011-04', '2011-05']
    """
    r = returns.fillna(0)
    if not len(r):
        return r
    labels = r.index.to_period(freq)
    grouped = (1 + r).groupby(labels).prod() - 1 if compounded else r.groupby(labels).sum()
    first, after_last = r.index[0].date(), (r.index[-1] + pd.Timedelta(days=1)).date()

    def whole(period: pd.Period) -> bool:
        start, stop = period.start_time.date(), (period.end_time + pd.Timedelta(days=1)).date()
        return max(np.busday_count(start, first), np.busday_count(after_last, stop)) <= HOLIDAY_SLACK

    return grouped[[whole(p) for p in grouped.index]]


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


def plot_returns_bars(
    returns: Any,
    benchmark: Any = None,
    *args: Any,
    resample: str | None = "YE",
    savefig: Any = None,
    show: bool = True,
    **kwargs: Any,
) -> Any:
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


def plot_distribution(
    returns: pd.Series,
    figsize: tuple[float, float] = (10, 6),
    fontname: str = "Arial",
    grayscale: bool = False,
    ylabel: bool = True,
    subtitle: bool = True,
    compounded: bool = True,
    title: str | None = None,
    savefig: Any = None,
    show: bool = True,
) -> Any:
    """QuantStats' "Return Quantiles" box plot, each box drawn from that period's own returns."""
    import matplotlib.pyplot as plt

    colors = ["#f9f9f9", "#dddddd", "#bbbbbb", "#999999", "#808080"] if grayscale else _core._FLATUI_COLORS
    data = [period_returns(returns, rule, compounded=compounded).to_numpy() for rule in PERIODS.values()]
    fig, ax = plt.subplots(figsize=figsize)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    fig.suptitle(
        f"{title} - Return Quantiles" if title else "Return Quantiles",
        y=0.94,
        fontweight="bold",
        fontname=fontname,
        fontsize=14,
        color="black",
    )
    if subtitle:
        ax.set_title(
            f"{returns.index[0]:%e %b '%y} - {returns.index[-1]:%e %b '%y}            \n", fontsize=12, color="gray"
        )
    fig.set_facecolor("white")
    ax.set_facecolor("white")
    boxes = ax.boxplot(
        data,
        tick_labels=list(PERIODS),
        patch_artist=True,
        widths=0.8,
        medianprops={"color": "#3c3c3c"},
        flierprops={"marker": "d", "markersize": 4},
    )
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


def format_pct_axis(x: float, pos: Any = None) -> str:
    """A percent tick with as many decimals as it needs, up to two: 0.025 -> "2.5%", 0.05 -> "5%"."""
    if abs(x) >= 10:  # 1,000% and up: QuantStats' K/M/B/T suffixes
        return str(ORIGINAL_FORMAT_PCT(x, pos))
    text = f"{x * 100:,.2f}".rstrip("0").rstrip(".")
    return f"{'0' if text in ('-0', '') else text}%"


def _bind(original: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> inspect.BoundArguments:
    bound = inspect.signature(original).bind(*args, **kwargs)
    bound.apply_defaults()
    return bound


def plot_timeseries(*args: Any, **kwargs: Any) -> Any:
    """QuantStats' line chart with the resample of a cumulated series and the log scale made right."""
    import matplotlib.pyplot as plt

    bound = _bind(ORIGINAL_TIMESERIES, args, kwargs)
    a = bound.arguments
    savefig, show, log_scale = a["savefig"], a["show"], a["log_scale"]
    if a["resample"] and not a["raw_data"]:

        def cumulated(x: Any) -> Any:  # as QuantStats cumulates, then the last value of each non-empty bin
            x = x.fillna(0)
            x = _stats.compsum(x) if a["compound"] else x.cumsum()
            return x.resample(a["resample"]).last().dropna(how="all")

        if a["match_volatility"] and isinstance(a["benchmark"], pd.Series):  # QuantStats scales before cumulating
            a["returns"] = a["returns"].fillna(0) / a["returns"].fillna(0).std() * a["benchmark"].fillna(0).std()
            a["match_volatility"] = False
        a["returns"] = cumulated(a["returns"])
        if isinstance(a["benchmark"], pd.Series):
            a["benchmark"] = cumulated(a["benchmark"])
        a["resample"], a["raw_data"] = None, True
    a["log_scale"], a["savefig"], a["show"] = False, None, False
    fig = ORIGINAL_TIMESERIES(*bound.args, **bound.kwargs)
    if log_scale:
        ax = fig.axes[0]
        ax.set_yscale("function", functions=(_log_equity, _from_log_equity))
        _log_equity_axis(ax)
        ax.yaxis.set_major_formatter(plt.FuncFormatter(format_pct_axis))
    return _save_and_show(fig, savefig, show)


def _log_equity_axis(ax: Any) -> None:
    """Limits from the lines drawn (QuantStats' linear limits reach -200% on a long run, where the log of the
    equity is -27) and ticks at whole multiples of the equity (x2, or x10 over a wider range) once it more than
    doubles, so that they spread evenly on the log axis."""
    import matplotlib.ticker as mticker

    drawn = [np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines() if len(line.get_ydata()) > 2]
    values = np.concatenate(drawn) if drawn else np.empty(0)
    values = values[np.isfinite(values)]
    if not len(values):
        return
    lo, hi = float(_log_equity(values.min())), float(_log_equity(values.max()))
    pad = 0.05 * (hi - lo) if hi > lo else 0.05
    ax.set_ylim(float(_from_log_equity(lo - pad)), float(_from_log_equity(hi + pad)))
    span = hi - lo + 2 * pad
    if span < np.log(3.0):
        return  # within a tripling the log axis is all but linear: the default ticks read well
    step = np.log(10.0) if span > np.log(200.0) else np.log(2.0)
    k = np.arange(np.floor((lo - pad) / step), np.ceil((hi + pad) / step) + 1)
    ax.yaxis.set_major_locator(mticker.FixedLocator(np.expm1(k * step)))


def _log_equity(y: Any) -> Any:
    return np.log1p(np.maximum(np.asarray(y, dtype=float), -1 + 1e-12))


def _from_log_equity(y: Any) -> Any:
    return np.expm1(np.asarray(y, dtype=float))


def plot_histogram(*args: Any, **kwargs: Any) -> Any:
    """QuantStats' histogram of period returns with its x ticks rounded, not truncated."""
    import matplotlib.pyplot as plt

    bound = _bind(ORIGINAL_HISTOGRAM, args, kwargs)
    savefig, show = bound.arguments["savefig"], bound.arguments["show"]
    bound.arguments["savefig"], bound.arguments["show"] = None, False
    fig = ORIGINAL_HISTOGRAM(*bound.args, **bound.kwargs)
    fig.axes[0].xaxis.set_major_formatter(plt.FuncFormatter(format_pct_axis))
    return _save_and_show(fig, savefig, show)


def _no_window(ax: Any, index: pd.Index, what: str) -> None:
    """Keep the axis on the period and say in it that no window of the chart fits the period."""
    if isinstance(index, pd.DatetimeIndex) and len(index) > 1:
        ax.set_xlim(index[0], index[-1])
    ax.text(
        0.5,
        0.5,
        f"no figure: the period's {len(index)} days do not fill one {what}",
        transform=ax.transAxes,
        ha="center",
        va="center",
        color="gray",
        fontsize=11,
        gid="no-window",
    )


def plot_rolling_stats(*args: Any, **kwargs: Any) -> Any:
    """QuantStats' rolling chart on the whole period's axis, blank (and saying so) where no window is full."""
    import matplotlib.pyplot as plt

    bound = _bind(ORIGINAL_ROLLING_STATS, args, kwargs)
    a = bound.arguments
    savefig, show, rolled = a["savefig"], a["show"], a["returns"]
    index = rolled.index
    if pd.DataFrame(rolled).notna().to_numpy().any():
        a["savefig"], a["show"] = None, False
        fig = ORIGINAL_ROLLING_STATS(*bound.args, **bound.kwargs)
        if isinstance(index, pd.DatetimeIndex) and len(index) > 1:
            fig.axes[0].set_xlim(index[0], index[-1])
        return _save_and_show(fig, savefig, show)
    fig, ax = plt.subplots(figsize=a["figsize"])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    fig.suptitle(a["title"], y=0.94, fontweight="bold", fontname=a["fontname"], fontsize=14, color="black")
    fig.set_facecolor("white")
    ax.set_facecolor("white")
    ax.set_yticks([])
    _no_window(ax, index, "window")
    fig.autofmt_xdate()
    fig.tight_layout()
    return _save_and_show(fig, savefig, show)


def plot_rolling_beta(
    returns: Any,
    benchmark: Any,
    window1: int = 126,
    window1_label: str = "",
    window2: int | None = None,
    window2_label: str = "",
    title: str = "",
    hlcolor: str = "red",
    figsize: tuple[float, float] = (10, 6),
    grayscale: bool = False,
    fontname: str = "Arial",
    lw: float = 1.5,
    ylabel: bool = True,
    subtitle: bool = True,
    savefig: Any = None,
    show: bool = True,
) -> Any:
    """QuantStats' rolling beta, drawn only where its window is full (no 0 during the warm-up)."""
    import matplotlib.pyplot as plt

    colors, _, _ = _core._get_colors(grayscale)
    fig, ax = plt.subplots(figsize=figsize)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    fig.suptitle(title, y=0.94, fontweight="bold", fontname=fontname, fontsize=14, color="black")
    if subtitle:
        ax.set_title(
            f"{returns.index[0]:%e %b '%y} - {returns.index[-1]:%e %b '%y}           \n", fontsize=12, color="gray"
        )
    columns = {returns.name: returns} if isinstance(returns, pd.Series) else {c: returns[c] for c in returns}
    single = isinstance(returns, pd.Series)
    first: list[pd.Series] = []
    for i, (name, r) in enumerate(columns.items(), start=1):
        beta = _stats.rolling_greeks(r, benchmark, window1)["beta"]
        first.append(beta)
        ax.plot(
            beta,
            lw=lw,
            label=window1_label if single else f"{name} ({window1_label})",
            color=colors[i],
            gid=f"beta-{window1}" if single else f"beta-{window1}-{name}",
        )
    if window2:
        for i, (name, r) in enumerate(columns.items(), start=1):
            beta = _stats.rolling_greeks(r, benchmark, window2)["beta"]
            ax.plot(
                beta,
                lw=lw - 0.5,
                label=window2_label if single else f"{name} ({window2_label})",
                color="gray" if single else colors[i],
                alpha=0.8 if single else 0.5,
                ls="-" if single else "--",
                gid=f"beta-{window2}" if single else f"beta-{window2}-{name}",
            )
    drawn = pd.concat(first).dropna()
    if len(drawn):
        low, high = min(-100, int(drawn.min() * 100)), max(100, int(drawn.max() * 100))
        ax.set_yticks([x / 100 for x in range(low, high + 1, 50 if high - low >= 200 else 100)])
        if single:  # the mean of the betas drawn, not of zeros in their place
            ax.axhline(
                drawn.mean(), ls="--", lw=1.5, color="black" if grayscale else hlcolor, zorder=2, gid="beta-mean"
            )
        ax.axhline(0, ls="--", lw=1, color="#000000", zorder=2)
        ax.legend(fontsize=11)
    else:
        ax.set_yticks([])
        _no_window(ax, returns.index, f"{window1}-day window")
    if isinstance(returns.index, pd.DatetimeIndex) and len(returns.index) > 1:
        ax.set_xlim(returns.index[0], returns.index[-1])
    fig.autofmt_xdate()
    if ylabel:
        ax.set_ylabel("Beta", fontname=fontname, fontweight="bold", fontsize=12, color="black")
        ax.yaxis.set_label_coords(-0.1, 0.5)
    fig.tight_layout()
    return _save_and_show(fig, savefig, show)


def plot_longest_drawdowns(
    returns: Any,
    periods: int = 5,
    lw: float = 1.5,
    fontname: str = "Arial",
    grayscale: bool = False,
    title: str | None = None,
    log_scale: bool = False,
    figsize: tuple[float, float] = (10, 6),
    ylabel: bool = True,
    subtitle: bool = True,
    compounded: bool = True,
    savefig: Any = None,
    show: bool = True,
) -> Any:
    """The cumulative returns with the ``periods`` deepest drawdowns shaded, each to its recovery."""
    import matplotlib.pyplot as plt

    colors = ["#000000"] * 3 if grayscale else ["#348dc1", "#003366", "red"]
    r = returns.fillna(0)
    episodes = drawdowns(r)
    worst = episodes.sort_values("depth", kind="mergesort").head(periods)
    fig, ax = plt.subplots(figsize=figsize)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    fig.suptitle(
        f"{title} - Worst {periods:.0f} Drawdown Periods",
        y=0.94,
        fontweight="bold",
        fontname=fontname,
        fontsize=14,
        color="black",
    )
    if subtitle:
        ax.set_title(f"{r.index[0]:%e %b '%y} - {r.index[-1]:%e %b '%y}           \n", fontsize=12, color="gray")
    fig.set_facecolor("white")
    ax.set_facecolor("white")
    ax.plot(_stats.compsum(r) if compounded else r.cumsum(), lw=lw, label="Backtest", color=colors[0])
    for e in worst.itertuples():
        end = e.end if e.recovered else r.index[-1]
        ax.axvspan(e.start, end, color="black" if grayscale else "red", alpha=0.1, gid=f"drawdown-{e.start:%Y-%m-%d}")
    ax.axhline(0, ls="--", lw=1, color="#000000", zorder=2)
    if log_scale:
        ax.set_yscale("function", functions=(_log_equity, _from_log_equity))
    if ylabel:
        ax.set_ylabel("Cumulative Returns", fontname=fontname, fontweight="bold", fontsize=12, color="black")
        ax.yaxis.set_label_coords(-0.1, 0.5)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(format_pct_axis))
    fig.autofmt_xdate()
    fig.tight_layout()
    return _save_and_show(fig, savefig, show)


def _metric_series(returns: Any, benchmark: Any, a: dict[str, Any]) -> list[pd.Series] | None:
    """The series behind each column of QuantStats' metrics table, in its order (benchmark first), as it sees them."""
    if isinstance(returns, pd.Series):
        strategies = [returns]
    elif isinstance(returns, pd.DataFrame):
        strategies = [returns[c] for c in returns.columns]
    else:
        return None
    if not isinstance(returns.index, pd.DatetimeIndex) or not len(returns.index):
        return None
    index = returns.index
    if benchmark is None:
        return [s.fillna(0) for s in strategies]
    bench = _utils._prepare_benchmark(benchmark, index, a["rf"])
    if a["match_dates"] is True:
        matched, bench = _reports._match_dates(returns, bench)
        index = matched.index
    return [bench.reindex(index).fillna(0)] + [s.reindex(index).fillna(0) for s in strategies]


def _cell(value: float | None, *, percent: bool, formatted: bool, pct: int) -> Any:
    """A metrics-table cell as QuantStats writes it: rounded to 2 decimals, as text with "%" when formatted."""
    if value is None or not np.isfinite(value):
        return "-"
    if not formatted:
        return float(value) * (pct if percent else 1)
    return f"{round(float(value) * 100, 2)}%" if percent else str(round(float(value), 2))


def _trailing(r: pd.Series, window: relativedelta, annualised: bool, *, compounded: bool, periods: int) -> float | None:
    """The return over the window ending on the last day: the returns dated after ``last - window``."""
    start = r.index[-1] - window
    if r.index[0] > start:
        return None
    inside = r[r.index > start]
    total = float((1 + inside).prod() - 1) if compounded else float(inside.sum())
    if not annualised:
        return total
    return float(_stats.cagr(inside, 0.0, compounded, periods))


def _expected(v: np.ndarray) -> float:
    """QuantStats' "Expected" return: the geometric mean of the period returns."""
    return float(np.prod(1 + v) ** (1 / len(v)) - 1)


def _win_rate(v: np.ndarray) -> float:
    moved = v[v != 0]
    return float((moved > 0).mean()) if len(moved) else float("nan")


def _drawdown_rows(r: pd.Series) -> dict[str, str] | None:
    """(Max DD Period End, Longest DD Days, Avg. Drawdown Days) with what is not recovered said so."""
    d = drawdowns(r)
    if d.empty:
        return None
    worst, longest = d.loc[d["depth"].idxmin()], d.loc[d["days"].idxmax()]
    ongoing = int((~d["recovered"]).sum())
    return {
        "Max DD Period End": f"{worst['end']:%Y-%m-%d}" if worst["recovered"] else "not recovered",
        "Longest DD Days": f"{longest['days']}" + ("" if longest["recovered"] else " (ongoing)"),
        "Avg. Drawdown Days": f"{round(float(d['days'].mean()))}" + (f" ({ongoing} ongoing)" if ongoing else ""),
    }


def metrics(returns: Any, benchmark: Any = None, *args: Any, **kwargs: Any) -> Any:
    """QuantStats' metrics table with the rows it gets wrong recomputed (see the module docstring).

    Only the table it returns (``display=False``, as ``reports.html`` asks) is changed; a printed table is not.
    """
    table = ORIGINAL_METRICS(returns, benchmark, *args, **kwargs)
    if table is None:
        return table
    a = _bind(ORIGINAL_METRICS, (returns, benchmark, *args), kwargs).arguments
    extra = a.get("kwargs", {})
    series = _metric_series(returns, benchmark, a)
    if series is None or len(series) != len(table.columns):
        return table
    formatted = bool(a["display"] or "internal" in extra)
    pct = 100 if formatted or extra.get("as_pct", False) else 1
    periods = int(a["periods_per_year"])
    table = table.astype(object).rename(index={"CAGR\ufe6a": "CAGR"})

    def put(row: str, values: list[Any]) -> None:
        if row in table.index:
            table.loc[row] = values

    for row, (window, annualised) in TRAILING.items():
        put(
            row,
            [
                _cell(
                    _trailing(s, window, annualised, compounded=a["compounded"], periods=periods),
                    percent=True,
                    formatted=formatted,
                    pct=pct,
                )
                for s in series
            ],
        )
    ratios = {
        "Smart Sharpe": lambda s: _stats.smart_sharpe(s, a["rf"], periods, True),
        "Smart Sortino": lambda s: _stats.smart_sortino(s, a["rf"], periods, True),
        "Smart Sortino/√2": lambda s: _stats.smart_sortino(s, a["rf"], periods, True) / np.sqrt(2),
    }
    for row, fn in ratios.items():
        put(row, [_cell(float(fn(s)), percent=False, formatted=formatted, pct=pct) for s in series])
    calendar: dict[str, tuple[str, Callable[[np.ndarray], Any]]] = {
        "Expected Monthly": ("M", _expected),
        "Expected Yearly": ("Y", _expected),
        "Best Month": ("M", np.max),
        "Worst Month": ("M", np.min),
        "Best Year": ("Y", np.max),
        "Worst Year": ("Y", np.min),
        "Avg. Up Month": ("M", lambda v: v[v > 0].mean()),
        "Avg. Down Month": ("M", lambda v: v[v < 0].mean()),
        "Win Month": ("M", _win_rate),
        "Win Quarter": ("Q", _win_rate),
        "Win Year": ("Y", _win_rate),
    }
    for row, (freq, reduce) in calendar.items():
        whole = [whole_periods(s, freq, compounded=a["compounded"]).to_numpy() for s in series]
        put(
            row,
            [_cell(float(reduce(v)) if len(v) else None, percent=True, formatted=formatted, pct=pct) for v in whole],
        )
    sums = [whole_periods(s, "M", compounded=False).to_numpy() for s in series]
    put(
        "Gain/Pain (1M)",
        [
            _cell(v.sum() / -v[v < 0].sum() if (v < 0).any() else None, percent=False, formatted=formatted, pct=pct)
            for v in sums
        ],
    )
    put(
        "Risk of Ruin",
        [
            _cell(float(_stats.risk_of_ruin(s, prepare_returns=False)), percent=True, formatted=formatted, pct=pct)
            for s in series
        ],
    )
    if benchmark is not None:
        for row in ("R^2", "Information Ratio"):
            if row in table.index:
                table.loc[row, table.columns[0]] = "-"
    recovery = []
    for s in series:
        total = float((1 + s).prod() - 1) if a["compounded"] else float(s.sum())
        depth = float(drawdowns(s)["depth"].min()) if (s < 0).any() else 0.0
        recovery.append(_cell(total / -depth if depth < 0 else None, percent=False, formatted=formatted, pct=pct))
    put("Recovery Factor", recovery)
    rows = [_drawdown_rows(s) for s in series]
    if all(rows):
        for row in ("Max DD Period End", "Longest DD Days", "Avg. Drawdown Days"):
            put(row, [x[row] for x in rows])  # type: ignore[index]
    return table


_NOWRAP = ' style="white-space:nowrap"'


def drawdown_table(returns: pd.Series, *, rows: int = 10) -> str:
    """The "Worst 10 Drawdowns" table of ``reports.html``, each drawdown ending on its recovery or "not recovered".

    Same columns and layout as QuantStats' (its CSS puts "%" after the third column). Days are calendar days from
    the first day under water to the recovery; for one still under water, through the last day, marked ongoing.
    """
    import html

    d = drawdowns(returns).sort_values("depth", kind="mergesort").head(rows)
    body = "".join(
        f"<tr><td{_NOWRAP}>{e.start:%Y-%m-%d}</td>"
        f"<td{_NOWRAP if e.recovered else ''}>{f'{e.end:%Y-%m-%d}' if e.recovered else 'not recovered'}</td>"
        f"<td>{e.depth * 100:.2f}</td><td>{e.days}{'' if e.recovered else ' (ongoing)'}</td></tr>"
        for e in d.itertuples()
    )
    last = f"{returns.index[-1]:%Y-%m-%d}" if len(returns) else "-"
    note = (
        "Started: the first close below the peak; Recovered: the first close back at it; Days: calendar days "
        f"from Started to Recovered, or, not recovered, through the last day ({last})."
    )
    return (
        "<table><thead><tr><th>Started</th><th>Recovered</th><th>Drawdown</th><th>Days</th></tr></thead>"
        f'<tbody>{body}</tbody></table><p style="margin-top:-30px;color:grey">{html.escape(note)}</p>'
    )


#: Each fix -> the QuantStats function it stands in for.
CORE_FIXES = {
    plot_returns_bars: ORIGINAL_BARS,
    plot_distribution: ORIGINAL_DISTRIBUTION,
    plot_timeseries: ORIGINAL_TIMESERIES,
    plot_histogram: ORIGINAL_HISTOGRAM,
    plot_rolling_stats: ORIGINAL_ROLLING_STATS,
    plot_rolling_beta: ORIGINAL_ROLLING_BETA,
    plot_longest_drawdowns: ORIGINAL_LONGEST_DRAWDOWNS,
    format_pct_axis: ORIGINAL_FORMAT_PCT,
}
for _fix, _upstream in {
    **CORE_FIXES,
    monthly_returns: ORIGINAL_MONTHLY_RETURNS,
    metrics: ORIGINAL_METRICS,
    _rf_scalar: ORIGINAL_RF_SCALAR,
}.items():
    _fix.__wrapped__ = _upstream  # type: ignore[attr-defined]


def apply() -> None:
    """Route QuantStats through the fixed versions (safe to call more than once)."""
    for fix in CORE_FIXES:
        setattr(_core, fix.__name__, fix)
    _stats.monthly_returns = monthly_returns
    _reports.metrics = metrics
    _reports._rf_scalar = _rf_scalar


apply()
