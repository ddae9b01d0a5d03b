"""The numbers of a backtest: trading performance beside the benchmark, and the forecast's accuracy beside zero.

Trading figures come from QuantStats' own functions, so ``stats.json`` and the tearsheet agree. Forecast figures
are computed on the traded period's (ticker, day) pairs with a usable forecast and a known target: the density
scores (NLL, coverage, PIT) with each forecast's own density, Student-t where it has degrees of freedom, else
normal; the cross-sectional figures (:func:`traded_cross_section`) from its mean, ranked across tickers on each
day, against the return it holds; the value-at-risk backtests of the forecasts' own densities at 1% and 5%
(:func:`traded_var_backtests`); and, for ``longshort``, the JPX competition's score (:func:`jpx_figures`).

Beside them, ``forecast_run`` (:func:`forecast_run_verdicts`) copies the forecast run's own verdicts against the
baselines from its ``metrics.json``: the headline Diebold-Mariano test, the model confidence set and, for a
walk-forward, the folds the LSTM won; those cover the run's whole test block or out-of-sample period, which may be
longer than the traded period.

How sure the Sharpe ratios are (``stats.json``'s ``sharpe_inference``) comes from
:func:`backtests.sharpe_verdicts.sharpe_certainty`.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from backtests.benchmark_sources import BenchmarkSource, choose_benchmark
from backtests.engine import BacktestResult, Execution
from backtests.inputs import BacktestData
from backtests.sharpe_verdicts import sharpe_certainty
from backtests.vectorized import replay
from forecasting.evaluation.crosssection import CrossSection, cross_section, jpx_score, jpx_spread_returns
from forecasting.evaluation.metrics import pit_histogram
from forecasting.evaluation.var_backtests import panel_var_backtest
from forecasting.model.distributions import Predictive
from strategies.sizing import usable

__all__ = [
    "JPX_WINNER",
    "backtest_stats",
    "confidence_deciles",
    "cross_section_daily",
    "drawdowns",
    "forecast_run_verdicts",
    "forecast_scores",
    "jpx_figures",
    "performance",
    "traded_cross_section",
    "traded_var_backtests",
]

JPX_WINNER = 0.381  # the JPX Tokyo Stock Exchange Prediction competition's winning score, on its private period
VAR_LEVELS = (0.01, 0.05)
PER_TICKER_VAR = 20  # stats.json lists each ticker's VaR backtest up to this many tickers (counts beyond)


def performance(returns: pd.Series, rf: pd.Series | None = None) -> dict[str, float | int | None]:
    """Headline trading figures of daily returns (annualised with 252 days).

    The Sharpe and Sortino ratios (and the probabilistic Sharpe ratio) are of the returns in excess of ``rf``, the
    risk-free rate of each day (annual / 252; None: 0); the other figures are of the returns themselves.
    """
    import quantstats as qs

    r = returns.astype(float)
    excess = r if rf is None else r - rf.reindex(r.index).fillna(0.0)
    if len(r) < 2 or float(r.std()) == 0.0:
        return {
            "days": len(r),
            "total_return": float((1 + r).prod() - 1),
            "cagr": None,
            "volatility": None,
            "sharpe": None,
            "sortino": None,
            "max_drawdown": None,
            "calmar": None,
            "probabilistic_sharpe": None,
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {
            "days": len(r),
            "total_return": float((1 + r).prod() - 1),
            "cagr": float(qs.stats.cagr(r)),
            "volatility": float(qs.stats.volatility(r)),
            "sharpe": float(qs.stats.sharpe(excess)),
            "sortino": float(qs.stats.sortino(excess)),
            "max_drawdown": float(qs.stats.max_drawdown(r)),
            "calmar": float(qs.stats.calmar(r)),
            "probabilistic_sharpe": float(qs.stats.probabilistic_sharpe_ratio(excess)),
        }
    return {k: (v if v is None or isinstance(v, int) or np.isfinite(v) else None) for k, v in out.items()}


def drawdowns(returns: pd.Series) -> pd.DataFrame:
    """Every drawdown of the compounded daily returns, one row each, in the order they began.

    The equity starts at 1 (a peak too, so a first losing day is a drawdown) and compounds ``1 + r`` per day;
    a missing return counts as 0. Columns:

    - ``start``: the first day under the running peak (the peak is the close before it);
    - ``valley``: the day of the lowest equity in it; ``depth``: that equity over the peak, minus 1 (< 0);
    - ``end``: the first day back at the peak, or NaT for a drawdown still under water on the last day;
    - ``recovered``: whether ``end`` was reached;
    - ``days``: calendar days from ``start`` to ``end``, or, not recovered, from ``start`` through the last
      day (so it is how long it has lasted so far, and will be at least that).

    Examples
    --------
    >>> r = pd.Series([0.01, -0.02, 0.005, 0.02, -0.01], index=pd.bdate_range("2020-01-01", periods=5))
    >>> d = drawdowns(r)
    >>> [f"{t:%m-%d}" for t in d["start"]], [f"{t:%m-%d}" for t in d["end"].dropna()], d["recovered"].tolist()
    (['01-02', '01-07'], ['01-06'], [True, False])
    >>> d["days"].tolist()  # 2 Jan to Monday 6 Jan; 7 Jan, the last day, itself
    [4, 1]
    """
    r = returns.fillna(0).astype(float)
    equity = (1 + r).cumprod().to_numpy()
    depth = equity / np.maximum.accumulate(np.r_[1.0, equity])[1:] - 1
    under = depth < 0
    index = r.index
    rows = []
    edges = np.flatnonzero(np.diff(np.r_[False, under, False].astype(int)))  # run starts and ends, alternating
    for first, stop in zip(edges[::2], edges[1::2], strict=True):
        valley = first + int(np.argmin(depth[first:stop]))
        recovered = stop < len(r)
        end = index[stop] if recovered else pd.NaT
        days = (index[stop] - index[first]).days if recovered else (index[-1] - index[first]).days + 1
        rows.append((index[first], index[valley], end, float(depth[valley]), int(days), recovered))
    return pd.DataFrame(rows, columns=["start", "valley", "end", "depth", "days", "recovered"])


def _pairs(data: BacktestData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Mean, variance, target and degrees of freedom (inf for a normal forecast; None when all are normal) of the
    traded period's forecasts with a usable forecast and a known target, and their (row from ``start``, ticker)."""
    sl = slice(data.start, data.stop)
    m, v, y = data.mean[sl], data.variance[sl], data.target[sl]
    ok = usable(m, v) & np.isfinite(y)
    dof = None
    if data.dof is not None:
        d = data.dof[sl][ok]
        dof = np.where(np.isfinite(d) & (d > 2), d, np.inf) if np.isfinite(d).any() else None
    return m[ok], v[ok], y[ok], dof, np.argwhere(ok)


def _density_words(dof: np.ndarray | None) -> str:
    """Which density scored the forecasts: normal, Student-t (its degrees of freedom), or both."""
    if dof is None:
        return "normal"
    t = np.isfinite(dof)
    words = (
        f"Student-t, {float(np.min(dof[t])):.3g} to {float(np.max(dof[t])):.3g} degrees of freedom "
        f"(median {float(np.median(dof[t])):.3g})"
    )
    if t.all():
        return words
    return f"{words} for {int(t.sum())} forecasts, normal for the {int((~t).sum())} without degrees of freedom"


def forecast_scores(data: BacktestData) -> dict[str, Any]:
    """The forecast's accuracy on the traded period, the zero forecast beside it.

    NLL, coverages and the PIT histogram use each forecast's own density: Student-t with the forecast variance
    where the forecasts give degrees of freedom (``data.dof``), normal elsewhere. ``density`` is ``"normal"``,
    ``"student-t"`` or ``"mixed"`` (some of each), and ``density_words`` says which degrees of freedom.
    """
    m, v, y, dof, at = _pairs(data)
    if len(y) == 0:
        return {"n": 0}
    origins = data.dates[data.start + at[:, 0]]
    mse, mse_zero = float(np.mean((y - m) ** 2)), float(np.mean(y**2))
    density = Predictive.single(m, v, dof)
    moves = (m != 0) & (y != 0)
    kind = "normal" if dof is None else "student-t" if np.isfinite(dof).all() else "mixed"
    return {
        "n": len(y),
        "first_origin": f"{origins.min():%Y-%m-%d}",
        "last_origin": f"{origins.max():%Y-%m-%d}",
        "mse": mse,
        "mse_zero": mse_zero,
        "r2_vs_zero": 1.0 - mse / mse_zero if mse_zero > 0 else None,
        "density": kind,
        "density_words": _density_words(dof),
        "nll": float(np.mean(-density.logpdf(y))),
        "coverage_90": density.coverage(y, 0.9),
        "coverage_95": density.coverage(y, 0.95),
        "directional_accuracy": float(np.mean(np.sign(m[moves]) == np.sign(y[moves]))) if moves.any() else None,
        "pit_histogram": pit_histogram(y, m, v, dof=dof),
        "var_backtests": traded_var_backtests(data),
    }


def traded_var_backtests(data: BacktestData, levels: tuple[float, ...] = VAR_LEVELS) -> dict[str, Any]:
    """Value-at-risk backtests of the traded period's forecasts, each VaR the quantile of the forecast's own
    density (Student-t where it has degrees of freedom, else normal), as :func:`forecast_scores` scores them.

    Per level (``"1%"``, ``"5%"``): :func:`forecasting.evaluation.var_backtests.panel_var_backtest` on the
    (ticker, origin) pairs of :func:`forecast_scores`, each ticker's hits in time order (a day without a usable
    forecast breaks its chain): the pooled hit rate, Kupiec's and Christoffersen's statistics and p-values and
    their sentence; ``tickers_rejected`` counts the tickers whose own test rejects at 5%, and ``per_ticker``
    lists each one's for panels of up to 20 tickers. With one ticker the pooled test is that ticker's.
    """
    m, v, y, dof, at = _pairs(data)
    if len(y) == 0:
        return {"absent": "no forecast with a realised return in the traded period"}
    q_density = Predictive.single(m, v, dof)
    shape = (data.stop - data.start, len(data.tickers))
    dates = data.dates[data.start : data.stop]
    tickers = [str(t) for t in data.tickers]
    realised = np.full(shape, np.nan)
    realised[at[:, 0], at[:, 1]] = y
    y_frame = pd.DataFrame(realised, index=dates, columns=tickers)
    out: dict[str, Any] = {
        "scope": (
            "each forecast's VaR is the quantile of its own predictive density; a hit is a held return strictly "
            "below it; pooled over tickers, each ticker's hits chained in time order (pooled p-values treat the "
            "tickers as independent, which market-wide falls make too small)"
        )
    }
    for alpha in levels:
        var = np.full(shape, np.nan)
        var[at[:, 0], at[:, 1]] = q_density.ppf(alpha)
        panel = panel_var_backtest(y_frame, pd.DataFrame(var, index=dates, columns=tickers), alpha)
        per = panel.per_ticker
        block = asdict(panel.pooled)
        block["tickers_rejected"] = {
            test: sum(1 for r in per.values() if getattr(r, f"{test}_p") is not None and getattr(r, f"{test}_p") < 0.05)
            for test in ("uc", "ind", "cc")
        }
        block["tickers"] = len(per)
        if 1 < len(per) <= PER_TICKER_VAR:
            block["per_ticker"] = {t: asdict(r) for t, r in per.items()}
        out[f"{100 * alpha:g}%"] = block
    return out


def _pair_frame(data: BacktestData) -> pd.DataFrame:
    """The traded period's usable (origin, ticker) pairs: date, ticker, mean and the held log return (target)."""
    m, _, y, _, at = _pairs(data)
    return pd.DataFrame(
        {
            "date": data.dates[data.start + at[:, 0]],
            "ticker": np.asarray(data.tickers, dtype=object)[at[:, 1]],
            "mean": m,
            "target": y,
        }
    )


def traded_cross_section(data: BacktestData) -> CrossSection:
    """:func:`forecasting.evaluation.crosssection.cross_section` on the traded period, recomputed from the
    backtest's inputs.

    The signal is each forecast's mean, the target the log return it holds, over the same (ticker, origin) pairs
    as :func:`forecast_scores`; quintiles and ICs are per origin date. Absent (with the reason) when fewer than
    5 tickers have both on most dates.
    """
    section = cross_section(_pair_frame(data), signal="mean", target="target")
    summary = {
        **section.summary,
        "scope": (
            "recomputed on the traded period: the backtest's forecasts (signal: the forecast mean) against the log "
            "return each holds, on the (ticker, origin) pairs with a usable forecast and a realised return"
        ),
    }
    return CrossSection(summary, ic=section.ic, rank_ic=section.rank_ic, spread=section.spread)


def cross_section_daily(section: CrossSection) -> pd.DataFrame:
    """The daily series of a cross-section, one row per origin date: ic, rank_ic, spread (for charts)."""
    frame = pd.DataFrame({"ic": section.ic, "rank_ic": section.rank_ic, "spread": section.spread})
    frame.index.name = "date"
    return frame


def jpx_figures(data: BacktestData, returns: pd.Series) -> dict[str, Any]:
    """The JPX Tokyo Stock Exchange Prediction competition's score of the forecasts on the traded period.

    Each origin date, the tickers with a usable forecast and a realised return are ranked by the forecast mean;
    the top and bottom ``min(200, n // 2)`` form a long and a short book weighted linearly from 2 (the most
    extreme) to 1, each book's return is sum(weight x simple held return) / mean(weight), and the day's spread
    return is the long book's minus the short book's
    (:func:`forecasting.evaluation.crosssection.jpx_spread_returns`). The score is the mean of the daily spread returns
    over their standard deviation (ddof 1), not annualised; the competition's winner scored 0.381.
    ``strategy_net_mean_over_std`` is the same ratio of the strategy's own daily net return (its daily Sharpe
    ratio), which pays costs and holds the strategy's own books.
    """
    frame = _pair_frame(data)
    frame["target"] = np.expm1(frame["target"])  # the competition's target is a simple return
    daily = jpx_spread_returns(frame, signal="mean", target="target")
    score = jpx_score(daily)
    counts = frame.groupby("date").size()
    counts = counts[counts >= 2]
    r = returns.dropna().to_numpy(dtype=float)
    own = float(r.mean() / r.std(ddof=1)) if len(r) > 1 and r.std(ddof=1) > 0 else None
    return {
        "score": float(score) if np.isfinite(score) else None,
        "n_dates": int(daily.notna().sum()),
        "portfolio_size": [int(min(200, counts.min() // 2)), int(min(200, counts.max() // 2))]
        if len(counts)
        else [0, 0],
        "winner_score": JPX_WINNER,
        "strategy_net_mean_over_std": own,
        "definition": (
            "mean / standard deviation (ddof 1) of the daily spread return: on each origin date, the "
            "top and bottom min(200, half the tickers) by forecast mean, weighted linearly 2 down to "
            "1, long book minus short book of the simple held returns; not annualised. The JPX "
            "competition's winner scored 0.381 (about 2000 stocks, 200 a side)"
        ),
    }


def confidence_deciles(result: BacktestResult, bins: int = 10) -> pd.DataFrame:
    """Profit by decile of forecast confidence ``|mean| / sd`` over the traded (ticker, day) pairs.

    Columns: the decile's confidence range, forecasts in it, hit rate (sign of mean = sign of the return),
    the mean return in the forecast's direction (bp), and the strategy's profit from those positions
    (gross: the weight decided at the origin times the return it holds, in % of equity, summed over days).
    """
    data = result.data
    sl = slice(data.start, data.stop)
    m, v, y = data.mean[sl], data.variance[sl], data.target[sl]
    ok = usable(m, v) & np.isfinite(y)
    if ok.sum() < bins:
        return pd.DataFrame(
            columns=["decile", "conf_from", "conf_to", "n", "hit_rate", "signed_return_bp", "profit_pct"]
        )
    hold = result.holdings.reindex(data.dates[sl]).to_numpy()
    pnl = np.nan_to_num(hold * np.expm1(y))  # the weight decided at the origin times the return it holds
    conf = np.abs(m[ok]) / np.sqrt(v[ok])
    frame = pd.DataFrame(
        {"conf": conf, "hit": np.sign(m[ok]) == np.sign(y[ok]), "signed": np.sign(m[ok]) * y[ok], "pnl": pnl[ok]}
    )
    frame["decile"] = pd.qcut(frame["conf"].rank(method="first"), bins, labels=False) + 1
    g = frame.groupby("decile")
    return pd.DataFrame(
        {
            "decile": g.size().index.astype(int),
            "conf_from": g["conf"].min().to_numpy(),
            "conf_to": g["conf"].max().to_numpy(),
            "n": g.size().to_numpy(),
            "hit_rate": g["hit"].mean().to_numpy(),
            "signed_return_bp": g["signed"].mean().to_numpy() * 1e4,
            "profit_pct": g["pnl"].sum().to_numpy() * 100,
        }
    )


def backtest_stats(
    result: BacktestResult, *, section: CrossSection | None = None, run_metrics: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Everything ``stats.json`` holds: strategy (net and gross), benchmark, costs, turnover, forecast, checks.

    ``section`` is :func:`traded_cross_section` of ``result.data`` when the caller has it already (computed here
    otherwise); ``jpx`` (:func:`jpx_figures`) is there for the ``longshort`` strategy only. ``run_metrics`` is
    the forecast run's ``metrics.json`` when the forecasts came with one (None: a bare forecasts file), from
    which :func:`forecast_run_verdicts` makes ``forecast_run``.
    """
    section = section if section is not None else traded_cross_section(result.data)
    data = result.data
    rf = None if result.execution.rf.is_zero else result.risk_free
    bench = result.chosen_benchmark or choose_benchmark(
        BenchmarkSource(), data, result.execution.mode, result.benchmark
    )
    turnover = result.turnover
    ex = result.execution
    mode = ex.execution_mode
    check = replay(
        result.decisions,
        data,
        mode=mode,
        costs=ex.costs,
        first=result.first,
        cash=ex.cash,
        band=ex.band,
        delisting_return=ex.delisting_return,
        rf=None if ex.rf.is_zero else ex.rf.in_period(data.dates, data.start),
    )
    gap = None
    if len(check):
        gap = float((check["net"] - result.returns.reindex(check.index)).abs().max() * 1e4)
    costs = result.fills[result.fills["side"] != "rejected"]
    paid = {k: float(costs[k].sum() / ex.cash) for k in ("commission", "spread", "impact")}
    return {
        "strategy": result.strategy,
        "params": result.params,
        "split": data.split,
        "period": {
            "first_close": f"{data.dates[data.start]:%Y-%m-%d}",
            "last_close": f"{data.dates[data.stop - 1]:%Y-%m-%d}",
            "tickers": list(data.tickers),
        },
        "execution": {
            "mode": mode.name,
            "fill": _fill_words(mode),
            "holds": mode.describe(),
            "optimistic": mode.optimistic,
            "cash": ex.cash,
            "short": ex.short,
            "band": ex.band,
            "delisting_return": ex.delisting_return,
            "rebalance": ex.rebalance,
            "target_vol": ex.target_vol,
            "max_gross": ex.max_gross if ex.target_vol else None,
            **asdict(ex.costs),
            "rf": str(ex.rf),
        },
        "risk_free": _risk_free_words(ex, result.risk_free),
        "benchmark_source": bench.summary(),
        "net": performance(result.returns, rf),
        "gross": performance(result.gross_returns, rf),
        "benchmark": performance(result.benchmark, rf),
        "sharpe_inference": sharpe_certainty(result.returns, result.benchmark, rf=rf, name=bench.name),
        "costs_total": float(result.costs.sum()),
        "costs_paid": {
            **paid,
            "borrow_and_financing": result.holding_paid / ex.cash,
            "note": "cash paid over the run, as a share of the starting cash (financing: the spread over rf)",
        },
        "half_spread_paid": half_spread_paid(result),
        "rf_interest_paid": result.interest_paid / ex.cash,
        "rf_interest_note": (
            "cash paid at the risk-free rate on the exposure above the equity, less the cash earned at it on the "
            "equity not committed to positions, as a share of the starting cash (negative: earned); a return of the "
            "money, in net and gross alike, not a cost"
        ),
        "delisting_booked": float(costs["delisting"].sum() / ex.cash),
        "delisting_note": (
            "cash the delisting return took from the positions of delisted tickers (negative: gave), "
            "as a share of the starting cash; a return of the positions, in net, gross and the "
            "benchmark alike, not a cost"
        ),
        "turnover_note": "one-way: half the value traded over the equity at the close before, a day or a year",
        "turnover_daily": float(turnover.mean()) if len(turnover) else 0.0,
        "turnover_annual": float(turnover.mean() * 252) if len(turnover) else 0.0,
        "partial_fills": int((costs["size"] < costs["requested"] * (1 - 1e-9)).sum()) if len(costs) else 0,
        "gross_exposure_mean": float(result.holdings.abs().sum(axis=1).mean()) if len(result.holdings) else 0.0,
        "fills": int((result.fills["side"] != "rejected").sum()),
        "rejected_orders": int((result.fills["side"] == "rejected").sum()),
        "unusable_forecasts": result.unusable_forecasts,
        "forecast": forecast_scores(data),
        "forecast_run": forecast_run_verdicts(run_metrics),
        "cross_section": section.summary,
        **({"jpx": jpx_figures(data, result.returns)} if result.strategy == "longshort" else {}),
        "vectorised_check_bp_per_day": gap,
        "vectorised_check_note": "largest daily gap (bp) between backtrader's net returns and the numpy replay",
    }


def half_spread_paid(result: BacktestResult) -> dict[str, Any]:
    """Per ticker, the half-spread its fills paid (median, min, max in bp of the traded value; None without a
    fill) and where it came from (``--spread``): ``column``, ``estimate:<method>`` or ``flat``."""
    sources = result.data.spread_source or ("flat",) * len(result.data.tickers)
    done = result.fills[(result.fills["side"] != "rejected") & (result.fills["value"] > 0)]
    rate = pd.Series((done["spread"] / done["value"] * 1e4).to_numpy(dtype=float), index=done["ticker"].to_numpy())
    figures = rate.groupby(level=0).agg(["median", "min", "max", "count"])
    out: dict[str, Any] = {}
    for ticker, source in zip(result.data.tickers, sources, strict=True):
        has = ticker in figures.index
        row = figures.loc[ticker] if has else None
        out[ticker] = {
            "source": source,
            "median_bp": float(row["median"]) if row is not None else None,
            "min_bp": float(row["min"]) if row is not None else None,
            "max_bp": float(row["max"]) if row is not None else None,
            "fills": int(row["count"]) if row is not None else 0,
        }
    return out


NO_RUN_METRICS = (
    "no forecast run's metrics.json was found beside the forecasts (a bare forecasts file), so how the forecaster "
    "fared against the baselines over its out-of-sample period (Diebold-Mariano, model confidence set) is not known "
    "here"
)
NOT_IN_METRICS = "not in the forecast run's metrics.json (a run of an older qtrade)"


def forecast_run_verdicts(metrics: dict[str, Any] | None) -> dict[str, Any]:
    """``stats.json``'s ``forecast_run``: the forecast run's verdicts against the baselines, from its ``metrics.json``.

    Copied, never recomputed, from the ``test`` block (for a walk-forward, every fold's test block joined: the
    whole out-of-sample period) and ``walk_forward`` of ``metrics``:

    - ``period``: the block's first and last origin date and its forecasts (``n``), and whether it is a walk-forward;
    - ``diebold_mariano``: the headline test of the LSTM against the baseline chosen on the validation block
      (``against``, ``chosen_on``), its log-score (NLL) ``statistic`` and ``p_value`` (negative favours the LSTM),
      the squared-error test beside it and the ``meaning`` sentence;
    - ``model_confidence_set``: the models ``included`` in the set, each one's MCS ``pvalues``, the set's
      ``confidence`` and ``meaning`` (or ``absent`` with the reason the run gave);
    - ``walk_forward`` (walk-forward runs only): the ``schedule`` in words, the ``opponent``, ``folds``, and
      ``lstm_ahead_in`` of ``of_folds`` folds where the LSTM's log score beat it.

    A test the file does not hold (an older qtrade) is ``{"absent": ...}``; without a metrics file at all the
    block is ``{"absent": ...}`` with one sentence saying so. ``scope`` says what period the figures cover.

    Examples
    --------
    >>> forecast_run_verdicts(None)["absent"].startswith("no forecast run's metrics.json")
    True
    >>> old = forecast_run_verdicts({"test": {"n": 9, "first_date": "2011-01-03", "last_date": "2011-01-13"}})
    >>> old["period"]
    {'first_date': '2011-01-03', 'last_date': '2011-01-13', 'n': 9, 'walk_forward': False}
    >>> old["diebold_mariano"]["absent"]
    "not in the forecast run's metrics.json (a run of an older qtrade)"
    """
    if metrics is None:
        return {"absent": NO_RUN_METRICS}
    test = metrics.get("test")
    if not isinstance(test, dict):
        return {
            "absent": "the forecast run's metrics.json has no test block, so how the forecaster fared against the "
            "baselines is not known here"
        }
    walk = metrics.get("walk_forward") if isinstance(metrics.get("walk_forward"), dict) else None
    period = {k: test[k] for k in ("first_date", "last_date", "n") if k in test}
    dated = "first_date" in period and "last_date" in period
    span = f", {period['first_date']} to {period['last_date']}" if dated else ""
    where = (
        "whole out-of-sample period (every walk-forward fold's test block joined)"
        if walk is not None
        else "whole test block"
    )
    out: dict[str, Any] = {
        "scope": (
            f"the forecast run's own scores (its metrics.json), copied, over its {where}{span}, with every model "
            "on the same (ticker, day) pairs; that period may be longer than the traded period"
        ),
        "period": {**period, "walk_forward": walk is not None},
    }
    labels = metrics.get("models")
    if isinstance(labels, dict):
        out["models"] = {str(k): str(v) for k, v in labels.items()}
    out["diebold_mariano"] = _headline_dm(test.get("diebold_mariano"))
    out["model_confidence_set"] = _confidence_set(test.get("model_confidence_set"))
    if walk is not None:
        out["walk_forward"] = {
            k: walk[k] for k in ("schedule", "opponent", "lstm_ahead_in", "of_folds") if k in walk
        } | ({"folds": len(walk["folds"])} if isinstance(walk.get("folds"), list) else {})
    return out


def _headline_dm(dm: Any) -> dict[str, Any]:
    if not isinstance(dm, dict) or not isinstance(dm.get("nll"), dict):
        return {"absent": NOT_IN_METRICS}
    out = {k: dm[k] for k in ("model", "against", "chosen_on") if k in dm}
    out["loss"] = "log score (mean NLL of each model's own density), per-date cross-sectional means"
    out |= {k: dm["nll"][k] for k in ("statistic", "p_value", "n") if k in dm["nll"]}
    se = dm.get("squared_error")
    if isinstance(se, dict) and "statistic" in se:
        out["squared_error"] = {k: se[k] for k in ("statistic", "p_value") if k in se}
    if "meaning" in dm:
        out["meaning"] = dm["meaning"]
    return out


def _confidence_set(mcs: Any) -> dict[str, Any]:
    if not isinstance(mcs, dict):
        return {"absent": NOT_IN_METRICS}
    if "absent" in mcs:
        return {"absent": mcs["absent"]}
    out = {k: mcs[k] for k in ("included", "excluded", "pvalues") if k in mcs}
    confidence = (mcs.get("settings") or {}).get("confidence")
    if confidence is not None:
        out["confidence"] = confidence
    if "meaning" in mcs:
        out["meaning"] = mcs["meaning"]
    return out


def _risk_free_words(ex: Execution, daily: pd.Series | None) -> dict[str, Any]:
    """``stats.json``'s ``risk_free``: the rate, its mean over the period's days, and where it is used."""
    mean = float(daily.mean() * 252) if daily is not None and len(daily) else 0.0
    return {
        "rate": str(ex.rf),
        "mean_annual": mean,
        "note": (
            "every Sharpe and Sortino ratio here (net, gross, benchmark, sharpe_inference) is of the daily returns in "
            "excess of the risk-free rate of each day (annual / 252, the rate in force at the close the day starts "
            "from); the equity not committed to positions earned it and the exposure above the equity paid it plus "
            "the financing spread"
        ),
    }


def _fill_words(mode: Any) -> str:
    if mode.name == "same-close":
        return "market-on-close at the forecast's own origin close (optimistic: no real order can fill there)"
    if mode.name == "next-close":
        return "market-on-close at the close after the forecast's origin"
    return "market-on-open at the open after the forecast's origin"
