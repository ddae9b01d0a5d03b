"""Cross-sectional skill of a return forecast: does it rank the tickers of each date?

A forecast can have a poor NLL (its level is off) and still rank tickers well, which is what a long-short
book trades on. On each date the forecast (the signal) is compared across tickers with the return realised
after it (the target):

- the information coefficient (IC), the Pearson correlation, and the rank IC, the Spearman correlation; their
  mean, standard deviation, ICIR (mean / std) and t-statistic (ICIR x sqrt(dates)) over dates;
- the mean target of each forecast quintile (assigned per date, like alphalens' ``quantiles=5``), averaged
  over dates, and the top-minus-bottom spread: its mean and t-statistic;
- the signal's rank autocorrelation from one date to the next (alphalens' ``factor_rank_autocorrelation``):
  a signal that reshuffles every day is costly to trade;
- the score of the JPX Tokyo Stock Exchange Prediction competition (:func:`jpx_score` of
  :func:`jpx_spread_returns`; the winner scored 0.381 on its private period).

Why not alphalens-reloaded (0.5.1, checked): its wheel is small (65 kB) but ``import alphalens`` imports its
plotting and tear sheets, so matplotlib.pyplot, seaborn, statsmodels, IPython and empyrical-reloaded (the last
two not otherwise installed here): about 2 s of imports against qtrade's 0.5 s budget for ``--help`` (it could be
imported lazily, but the dependencies would still be installed for five statistics). It also wants prices
and a regular frequency to compute its own forward returns, where qtrade already holds the realised target of
each (date, ticker). The statistics are a few lines of pandas; they follow alphalens' definitions, and the
tests check them against figures computed by hand.

Conventions: a date is used only when at least ``min_tickers`` (5) tickers have both a finite signal and a
finite target (one per quintile); when fewer than half of the dates have that many, the result is *absent*,
with the reason in ``summary["absent"]``, not an exception. Figures that cannot be computed are ``None`` in the
summary, so that it is JSON-ready.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MIN_TICKERS", "CrossSection", "cross_section", "jpx_score", "jpx_spread_returns"]

MIN_TICKERS = 5


@dataclass(frozen=True)
class CrossSection:
    """What :func:`cross_section` found.

    Attributes
    ----------
    summary
        JSON-ready figures (floats, ints, lists, ``None``); ``summary["absent"]`` holds the reason when there are
        none.
    ic, rank_ic
        The daily Pearson and Spearman ICs, indexed by date (for charts); empty when absent.
    spread
        The daily top-minus-bottom quantile mean target, indexed by date; empty when absent.
    """

    summary: dict[str, Any]
    ic: pd.Series = field(default_factory=lambda: pd.Series(dtype=float, name="ic"))
    rank_ic: pd.Series = field(default_factory=lambda: pd.Series(dtype=float, name="rank_ic"))
    spread: pd.Series = field(default_factory=lambda: pd.Series(dtype=float, name="spread"))

    @property
    def absent(self) -> str | None:
        """Why there are no figures, or ``None`` when there are."""
        reason = self.summary.get("absent")
        return None if reason is None else str(reason)


def cross_section(
    frame: pd.DataFrame,
    *,
    signal: str = "mean",
    target: str = "target",
    quantiles: int = 5,
    min_tickers: int = MIN_TICKERS,
    log_target: bool = True,
) -> CrossSection:
    """Daily IC and rank IC, quantile returns, the top-minus-bottom spread, rank autocorrelation and JPX score.

    Parameters
    ----------
    frame
        Long frame with columns ``date``, ``ticker``, ``signal`` and ``target``; one row per (date, ticker).
        Rows without a finite signal and target are left out (the signal alone serves the autocorrelation).
    signal, target
        The columns of the forecast and of the realised forward return it forecasts.
    quantiles
        Number of signal quantiles per date; the spread is the top one's mean target minus the bottom one's.
    min_tickers
        Dates with fewer usable tickers are left out; the result is absent when they are most dates.
    log_target
        The target is a log return: the JPX score (whose competition target was a simple return) uses
        exp(target) - 1. IC and quantiles use the target as it is.

    Returns
    -------
    CrossSection
        ``summary`` with keys ``signal``, ``n_dates``, ``n_dates_left_out``, ``median_tickers``, ``ic`` and
        ``rank_ic`` (each ``mean``, ``std``, ``icir``, ``t_stat``, ``n_dates``), ``quantile_mean_target`` (a
        list, bottom quantile first), ``spread`` (``mean``, ``std``, ``t_stat``, ``n_dates``),
        ``rank_autocorrelation`` (``mean``, ``n_dates``) and ``jpx`` (``score``, ``n_dates``, ``portfolio_size``:
        the smallest and largest book); the daily series beside it.

    Examples
    --------
    >>> frame = pd.DataFrame({"date": np.repeat(pd.to_datetime(["2024-01-04", "2024-01-05"]), 5),
    ...                       "ticker": list("ABCDE") * 2,
    ...                       "mean": [1.0, 2, 3, 4, 5, 5, 4, 3, 2, 1],
    ...                       "target": [0.01, 0.02, 0.03, 0.05, 0.04, 0.0, 0.01, 0.02, 0.03, 0.04]})
    >>> cs = cross_section(frame)
    >>> s = cs.summary
    >>> cs.rank_ic.round(2).tolist(), round(s["spread"]["mean"], 6), s["rank_autocorrelation"]["mean"]
    ([0.9, -1.0], -0.005, -1.0)
    >>> cross_section(frame[frame["ticker"] != "E"]).absent
    'fewer than 5 tickers with a forecast and a realised return on most dates (median 4 of 2 dates)'
    """
    missing = [c for c in ("date", "ticker", signal, target) if c not in frame.columns]
    if missing:
        raise ValueError(f"cross_section needs columns {missing}; the frame has {list(frame.columns)}")
    if quantiles < 2:
        raise ValueError(f"quantiles must be 2 or more, got {quantiles}")
    if min_tickers < max(quantiles, 3):
        raise ValueError(f"min_tickers must be at least the number of quantiles ({quantiles}), got {min_tickers}")
    base = frame[["date", "ticker", signal, target]].rename(columns={signal: "s", target: "y"})
    base = base.astype({"s": float, "y": float})
    rows = base[np.isfinite(base["s"].to_numpy()) & np.isfinite(base["y"].to_numpy())]
    counts = rows.groupby("date").size()
    summary: dict[str, Any] = {"signal": signal, "min_tickers": min_tickers, "quantiles": quantiles}
    if counts.empty:
        return CrossSection({**summary, "absent": "no row has both a forecast and a realised return"})
    enough = counts[counts >= min_tickers]
    if len(enough) * 2 < len(counts):
        return CrossSection(
            {
                **summary,
                "absent": (
                    f"fewer than {min_tickers} tickers with a forecast and a realised return on most dates "
                    f"(median {float(counts.median()):g} of {len(counts)} dates)"
                ),
            }
        )
    rows = rows[rows["date"].isin(enough.index)].sort_values(["date", "ticker"], ignore_index=True)
    by_date = rows.groupby("date")
    ic = _daily_pearson(rows, "s", "y").rename("ic")
    ranked = rows.assign(s=by_date["s"].rank(), y=by_date["y"].rank())
    rank_ic = _daily_pearson(ranked, "s", "y").rename("rank_ic")
    table = _quantile_table(rows, ranked["s"], quantiles)
    spread = (table[quantiles] - table[1]).rename("spread")
    autocorr = _rank_autocorrelation(base[np.isfinite(base["s"].to_numpy())], min_tickers)
    simple = rows.assign(y=np.expm1(rows["y"])) if log_target else rows
    jpx_daily = jpx_spread_returns(simple, signal="s", target="y")
    summary.update(
        {
            "n_dates": len(enough),
            "n_dates_left_out": len(counts) - len(enough),
            "median_tickers": float(enough.median()),
            "ic": _series_stats(ic),
            "rank_ic": _series_stats(rank_ic),
            "quantile_mean_target": [_num(v) for v in table.mean().tolist()],
            "spread": {k: v for k, v in _series_stats(spread).items() if k != "icir"},
            "rank_autocorrelation": {
                "mean": _num(float(autocorr.mean())) if len(autocorr) else None,
                "n_dates": len(autocorr),
            },
            "jpx": {
                "score": _num(jpx_score(jpx_daily)),
                "n_dates": int(jpx_daily.notna().sum()),
                "portfolio_size": [int(min(200, enough.min() // 2)), int(min(200, enough.max() // 2))],
                "note": "mean / std of the daily spread return of the top and bottom 200 by the signal (half the "
                "tickers where a date has fewer than 400), weights 2 down to 1; the competition's "
                "winner scored 0.381",
            },
        }
    )
    return CrossSection(summary, ic=ic, rank_ic=rank_ic, spread=spread)


def jpx_spread_returns(
    frame: pd.DataFrame,
    *,
    signal: str = "mean",
    target: str = "target",
    portfolio_size: int = 200,
    toprank_weight_ratio: float = 2.0,
) -> pd.Series:
    """The daily spread return of the JPX Tokyo Stock Exchange Prediction competition.

    On each date the tickers are ranked by ``signal`` (highest first; ties by ticker); the ``portfolio_size``
    highest are bought and as many lowest sold, with weights falling linearly from ``toprank_weight_ratio`` to 1
    down each book; each book's return is sum(weight x target) / mean(weight), and the spread is the long book's
    minus the short book's (the competition's ``calc_spread_return_per_day``). A date with fewer than
    2 x ``portfolio_size`` tickers uses half of them per book, so that the books do not overlap.

    Examples
    --------
    >>> f = pd.DataFrame({"date": pd.Timestamp("2024-01-04"), "ticker": list("ABCD"),
    ...                   "mean": [4.0, 3, 2, 1], "target": [0.04, 0.01, 0.02, -0.01]})
    >>> round(float(jpx_spread_returns(f, portfolio_size=2).iloc[0]), 6)  # (2*.04 + .01)/1.5 - (2*-.01 + .02)/1.5
    0.06
    """
    rows = frame.loc[
        np.isfinite(frame[signal].to_numpy(float)) & np.isfinite(frame[target].to_numpy(float)),
        ["date", "ticker", signal, target],
    ]
    if rows.empty:
        return pd.Series(dtype=float, name="jpx_spread")
    rows = rows.sort_values(["date", signal, "ticker"], ascending=[True, False, True], ignore_index=True)
    g = rows.groupby("date", sort=True)
    n = g[signal].transform("size").to_numpy()
    top = g.cumcount().to_numpy()  # 0 for the highest signal of the date
    bottom = n - 1 - top  # 0 for the lowest
    size = np.minimum(portfolio_size, n // 2)
    y = rows[target].to_numpy(float)

    def book(pos: np.ndarray) -> np.ndarray:
        step = np.where(size > 1, (toprank_weight_ratio - 1.0) / np.maximum(size - 1, 1), 0.0)
        w = np.where(pos < size, toprank_weight_ratio - step * pos, 0.0)
        mean_w = np.where(size > 1, (toprank_weight_ratio + 1.0) / 2.0, toprank_weight_ratio)
        return w * y / mean_w

    parts = pd.DataFrame({"date": rows["date"], "long": book(top), "short": book(bottom)})
    sums = parts.groupby("date", sort=True)[["long", "short"]].sum()
    out = (sums["long"] - sums["short"]).rename("jpx_spread")
    return out[(g.size() >= 2).to_numpy()]


def jpx_score(daily_returns: pd.Series | np.ndarray) -> float:
    """The JPX competition's score: mean / standard deviation (ddof 1) of the daily spread returns.

    NaN when fewer than two finite values or no variation. No annualisation: the competition's winner
    scored 0.381.

    Examples
    --------
    >>> round(jpx_score(np.array([0.01, 0.03, -0.01, 0.02])), 4)
    0.7319
    """
    r = np.asarray(daily_returns, dtype=float)
    r = r[np.isfinite(r)]
    if len(r) < 2:
        return math.nan
    sd = float(np.std(r, ddof=1))
    return float(np.mean(r)) / sd if sd > 0 else math.nan


def _daily_pearson(rows: pd.DataFrame, a: str, b: str) -> pd.Series:
    """Per date, the Pearson correlation of columns ``a`` and ``b`` across the date's rows (NaN if one is
    constant)."""
    g = rows.groupby("date", sort=True)
    da = rows[a] - g[a].transform("mean")
    db = rows[b] - g[b].transform("mean")
    parts = pd.DataFrame({"date": rows["date"], "ab": da * db, "aa": da * da, "bb": db * db})
    sums = parts.groupby("date", sort=True)[["ab", "aa", "bb"]].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = np.sqrt(sums["aa"] * sums["bb"])
        return (sums["ab"] / denom).where(denom > 0)


def _quantile_table(rows: pd.DataFrame, rank: pd.Series, quantiles: int) -> pd.DataFrame:
    """Mean target per (date, quantile of the signal), dates by quantiles 1 (lowest signal) .. ``quantiles``.

    On each date, with average ranks r = 1..n, the quantile is ceil((r - 1) q / (n - 1)) (1 for the lowest):
    ``pandas.qcut(signal, q)`` (alphalens' assignment) when the signal has no ties, and tied tickers share a
    quantile (where qcut would fail on repeated bin edges).
    """
    n = rows.groupby("date")["s"].transform("size").to_numpy()
    q = np.clip(np.ceil((rank.to_numpy() - 1.0) * quantiles / (n - 1)), 1, quantiles).astype(int)
    table = rows.assign(q=q).groupby(["date", "q"])["y"].mean().unstack("q")
    return table.reindex(columns=range(1, quantiles + 1))


def _rank_autocorrelation(rows: pd.DataFrame, min_tickers: int) -> pd.Series:
    """Per date, the Spearman correlation of the signal with the previous date's, over the tickers that have
    both (alphalens ranks each date over all its tickers; the two agree when the tickers are the same)."""
    wide = rows.pivot_table(index="date", columns="ticker", values="s", aggfunc="first").sort_index()
    prev = wide.shift(1)
    both = wide.notna() & prev.notna()
    a = wide.where(both).rank(axis=1)
    b = prev.where(both).rank(axis=1)
    da = a.sub(a.mean(axis=1), axis=0)
    db = b.sub(b.mean(axis=1), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (da * db).sum(axis=1) / np.sqrt((da**2).sum(axis=1) * (db**2).sum(axis=1))
    rho = rho[both.sum(axis=1) >= min_tickers]
    return rho[np.isfinite(rho.to_numpy())].rename("rank_autocorrelation")


def _series_stats(s: pd.Series) -> dict[str, Any]:
    v = s.to_numpy(float)
    v = v[np.isfinite(v)]
    n = len(v)
    mean = float(np.mean(v)) if n else math.nan
    std = float(np.std(v, ddof=1)) if n > 1 else math.nan
    icir = mean / std if n > 1 and std > 0 else math.nan
    return {"mean": _num(mean), "std": _num(std), "icir": _num(icir), "t_stat": _num(icir * math.sqrt(n)), "n_dates": n}


def _num(x: float) -> float | None:
    """A float for JSON: ``None`` when it is not finite."""
    return float(x) if math.isfinite(x) else None
