"""Value-at-risk backtests of a forecaster's own predictive density: hit rate, coverage and clustering of hits.

The value at risk at level ``alpha`` of one forecast is the ``alpha``-quantile of its predictive distribution
(for instance ``Predictive.ppf(alpha)`` of :mod:`forecasting.model.distributions`); the caller computes it. A
*hit* is a realised return strictly below it, so a correct model has hits with probability ``alpha``, independent
of each other.

- Kupiec (1995), "Techniques for verifying the accuracy of risk measurement models", *Journal of Derivatives*
  3(2): the unconditional coverage test. With ``x`` hits in ``n`` returns and ``p = x / n``,
  ``LR_uc = -2 [(n - x) ln(1 - alpha) + x ln(alpha) - (n - x) ln(1 - p) - x ln(p)]``, chi-squared with 1 degree
  of freedom.
- Christoffersen (1998), "Evaluating interval forecasts", *International Economic Review* 39(4): the independence
  test. ``n_ij`` counts the days in state ``j`` (1: hit) after a day in state ``i``;
  ``pi_01 = n01 / (n00 + n01)``, ``pi_11 = n11 / (n10 + n11)``, ``pi = (n01 + n11) / (n00 + n01 + n10 + n11)``,
  ``LR_ind = -2 [(n00 + n10) ln(1 - pi) + (n01 + n11) ln(pi) - n00 ln(1 - pi_01) - n01 ln(pi_01)
  - n10 ln(1 - pi_11) - n11 ln(pi_11)]``, chi-squared(1); and conditional coverage ``LR_cc = LR_uc + LR_ind``,
  chi-squared(2). The sum is the form used in practice: it is Christoffersen's joint statistic exactly when the
  first return is left out of ``LR_uc``; here ``LR_uc`` uses every return.

Every log-likelihood term follows ``0 ln 0 = 0``: a term whose count is zero contributes nothing, so no hits, all
hits, or no hit after a hit give finite statistics. With no hit (or no non-hit) the independence statistic is 0
and says nothing: the result's ``meaning`` says so. A test that needs data it has not got is ``None`` (``uc``
without a return; ``ind`` and ``cc`` without a pair of consecutive returns), never a made-up number.

A missing return or value at risk (not finite) leaves that day out; a transition is counted only between two
consecutive days that both have one, so a gap never joins the days on either side of it.

Examples
--------
>>> y = np.array([0.3, -2.1, 0.5, -1.9, -0.2, 1.1, -2.5, 0.7, 0.1, -0.4])
>>> r = var_backtest(y, np.full(10, -1.645), alpha=0.05)
>>> r.hits, r.n, round(r.uc_lr, 3)
(3, 10, 6.475)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from forecasting.model.distributions import Predictive

__all__ = [
    "PanelVaRBacktest",
    "VaRBacktest",
    "density_panel_var_backtests",
    "density_var_backtests",
    "panel_var_backtest",
    "var_backtest",
    "var_hits",
]

SIGNIFICANCE = 0.05  # the level at which ``meaning`` calls a test rejected


@dataclass(frozen=True)
class VaRBacktest:
    """The backtest of one value-at-risk level on one sequence of returns (or a pool of them).

    Attributes
    ----------
    alpha
        The VaR level: the probability of a hit under the model (``expected_rate``).
    n, hits
        Returns with a value at risk, and how many fell strictly below it.
    hit_rate
        ``hits / n`` (None without returns).
    n00, n01, n10, n11
        Transitions between consecutive days: ``n01`` a hit after a day without one, and so on.
    uc_lr, uc_p
        Kupiec's unconditional coverage statistic and its chi-squared(1) p-value.
    ind_lr, ind_p
        Christoffersen's independence statistic and its chi-squared(1) p-value.
    cc_lr, cc_p
        Conditional coverage, ``uc_lr + ind_lr``, and its chi-squared(2) p-value.
    meaning
        One sentence that says what the numbers mean.
    """

    alpha: float
    n: int
    hits: int
    hit_rate: float | None
    expected_rate: float
    n00: int
    n01: int
    n10: int
    n11: int
    uc_lr: float | None
    uc_p: float | None
    ind_lr: float | None
    ind_p: float | None
    cc_lr: float | None
    cc_p: float | None
    meaning: str


@dataclass(frozen=True)
class PanelVaRBacktest:
    """The backtest of one VaR level on each ticker's own sequence and on all tickers pooled.

    ``pooled`` adds the tickers' hits, returns and transition counts (each ticker's transitions counted within its
    own sequence, never from one ticker to another) and runs the tests on the sums. The pooled p-values treat
    the tickers as independent: hits that strike many tickers on the same day (a market-wide fall) make them too
    small, so read a pooled rejection beside the per-ticker ones.
    """

    alpha: float
    per_ticker: Mapping[str, VaRBacktest]
    pooled: VaRBacktest

    def table(self) -> pd.DataFrame:
        """One row per ticker and a last row ``"pooled"``; the columns are the fields of :class:`VaRBacktest`."""
        rows = {**self.per_ticker, "pooled": self.pooled}
        frame = pd.DataFrame([vars(r) for r in rows.values()], index=pd.Index(list(rows), name="ticker"))
        return frame


def var_hits(y: ArrayLike, var: ArrayLike) -> np.ndarray:
    """Hits as floats: 1.0 where the return is strictly below its value at risk, 0.0 above, NaN where either is
    missing.

    Examples
    --------
    >>> var_hits([-3.0, 0.5, np.nan, -1.0], [-2.0, -2.0, -2.0, -1.0]).tolist()
    [1.0, 0.0, nan, 0.0]
    """
    y_, q = np.asarray(y, dtype=float), np.asarray(var, dtype=float)
    if y_.shape != q.shape:
        raise ValueError(f"returns have shape {y_.shape} but the values at risk {q.shape}; pass one VaR per return")
    ok = np.isfinite(y_) & np.isfinite(q)
    return np.where(ok, (y_ < q).astype(float), np.nan)


def _xlogy(count: float, p: float) -> float:
    """``count ln(p)`` with ``0 ln 0 = 0``."""
    return 0.0 if count == 0 else float(count * np.log(p))


def _counts(hits: np.ndarray) -> tuple[int, int, int, int, int, int]:
    """n, hits and n00, n01, n10, n11 of a float hit sequence with NaN gaps (a gap breaks the chain)."""
    ok = np.isfinite(hits)
    h = hits[ok]
    prev, cur = hits[:-1], hits[1:]
    pair = np.isfinite(prev) & np.isfinite(cur)
    prev, cur = prev[pair], cur[pair]
    n00 = int(np.sum((prev == 0) & (cur == 0)))
    n01 = int(np.sum((prev == 0) & (cur == 1)))
    n10 = int(np.sum((prev == 1) & (cur == 0)))
    n11 = int(np.sum((prev == 1) & (cur == 1)))
    return int(ok.sum()), int(h.sum()), n00, n01, n10, n11


def _kupiec(n: int, x: int, alpha: float) -> float:
    p = x / n
    null = _xlogy(n - x, 1 - alpha) + _xlogy(x, alpha)
    alt = _xlogy(n - x, 1 - p) + _xlogy(x, p)
    return max(0.0, -2.0 * (null - alt))


def _christoffersen(n00: int, n01: int, n10: int, n11: int) -> float:
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    null = _xlogy(n00 + n10, 1 - pi) + _xlogy(n01 + n11, pi)
    alt = _xlogy(n00, 1 - pi01) + _xlogy(n01, pi01) + _xlogy(n10, 1 - pi11) + _xlogy(n11, pi11)
    return max(0.0, -2.0 * (null - alt))


def _pct(x: float) -> str:
    return f"{100 * x:.3g}%"


def _meaning(r: VaRBacktest) -> str:
    level = _pct(r.alpha)
    if r.n == 0 or r.hit_rate is None or r.uc_p is None:
        return f"No return had a {level} VaR, so coverage cannot be tested."
    head = f"{_pct(r.hit_rate)} of {r.n} returns fell below the {level} VaR (expected {level}); "
    if r.uc_p < SIGNIFICANCE:
        side = "too many: the model understates" if r.hit_rate > r.alpha else "too few: the model overstates"
        cover = f"{side} the risk (Kupiec p = {r.uc_p:.2g})"
    else:
        cover = f"coverage is consistent with the model (Kupiec p = {r.uc_p:.2g})"
    if r.ind_p is None:
        return f"{head}{cover}; clustering cannot be tested on fewer than 2 consecutive returns."
    if r.hits in (0, r.n):
        word = "no" if r.hits == 0 else "every"
        return f"{head}{cover}; with {word} return a hit, clustering cannot be judged."
    if r.ind_p < SIGNIFICANCE:
        after_hit = r.n11 / (r.n10 + r.n11) if r.n10 + r.n11 else 0.0
        after_calm = r.n01 / (r.n00 + r.n01) if r.n00 + r.n01 else 0.0
        how = "hits cluster" if after_hit > after_calm else "hits avoid following each other"
        joint = "but" if r.uc_p >= SIGNIFICANCE else "and"  # coverage passed and this fails, or both fail
        return (
            f"{head}{cover}, {joint} {how}: {_pct(after_hit)} of days after a hit were hits, {_pct(after_calm)} "
            f"after a day without (Christoffersen p = {r.ind_p:.2g})."
        )
    return f"{head}{cover} and hits do not cluster (Christoffersen p = {r.ind_p:.2g})."


def _from_hits(hits: np.ndarray, alpha: float) -> VaRBacktest:
    n, x, n00, n01, n10, n11 = _counts(hits)
    return _result(alpha, n, x, n00, n01, n10, n11)


def _result(alpha: float, n: int, x: int, n00: int, n01: int, n10: int, n11: int) -> VaRBacktest:
    uc = _kupiec(n, x, alpha) if n >= 1 else None
    ind = _christoffersen(n00, n01, n10, n11) if n00 + n01 + n10 + n11 >= 1 else None
    cc = None if uc is None or ind is None else uc + ind
    draft = VaRBacktest(
        alpha=alpha,
        n=n,
        hits=x,
        hit_rate=x / n if n else None,
        expected_rate=alpha,
        n00=n00,
        n01=n01,
        n10=n10,
        n11=n11,
        uc_lr=uc,
        uc_p=None if uc is None else float(stats.chi2.sf(uc, 1)),
        ind_lr=ind,
        ind_p=None if ind is None else float(stats.chi2.sf(ind, 1)),
        cc_lr=cc,
        cc_p=None if cc is None else float(stats.chi2.sf(cc, 2)),
        meaning="",
    )
    return VaRBacktest(**{**vars(draft), "meaning": _meaning(draft)})


def _check_alpha(alpha: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"the VaR level alpha must lie strictly between 0 and 1, got {alpha}; pass e.g. 0.05")
    return float(alpha)


def var_backtest(y: ArrayLike, var: ArrayLike, alpha: float) -> VaRBacktest:
    """Kupiec's and Christoffersen's tests of one sequence of returns against its values at risk at ``alpha``.

    Parameters
    ----------
    y
        Realised returns in time order, 1-D.
    var
        The ``alpha``-quantile of each return's predictive distribution, the same shape.
    alpha
        The VaR level, e.g. 0.01 or 0.05.

    Returns
    -------
    VaRBacktest

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> r = var_backtest(rng.standard_normal(1000), np.full(1000, -1.6449), alpha=0.05)
    >>> r.hits, r.uc_p > 0.05, r.meaning.split(";")[0]
    (44, True, '4.4% of 1000 returns fell below the 5% VaR (expected 5%)')
    """
    a = _check_alpha(alpha)
    hits = var_hits(y, var)
    if hits.ndim != 1:
        raise ValueError(f"var_backtest takes one sequence (1-D), got shape {hits.shape}; use panel_var_backtest")
    return _from_hits(hits, a)


def panel_var_backtest(y: pd.DataFrame, var: pd.DataFrame, alpha: float) -> PanelVaRBacktest:
    """:func:`var_backtest` per ticker and pooled over a panel of returns.

    Parameters
    ----------
    y, var
        Returns and their values at risk, one row per date (in time order) and one column per ticker, with the
        same index and columns; NaN where a ticker has no return or no forecast that day.
    alpha
        The VaR level.

    Returns
    -------
    PanelVaRBacktest
        Per ticker, and pooled: hits, returns and transitions summed over tickers, each ticker's transitions
        counted within its own column.

    Examples
    --------
    >>> idx = pd.bdate_range("2024-01-01", periods=4)
    >>> y = pd.DataFrame({"A": [-3.0, -3.0, 0.0, 0.0], "B": [0.0, 0.0, -3.0, np.nan]}, index=idx)
    >>> p = panel_var_backtest(y, pd.DataFrame(-2.0, index=idx, columns=["A", "B"]), alpha=0.05)
    >>> p.per_ticker["A"].n11, p.pooled.n, p.pooled.hits, (p.pooled.n00, p.pooled.n01, p.pooled.n10, p.pooled.n11)
    (1, 7, 3, (2, 1, 1, 1))
    """
    a = _check_alpha(alpha)
    if not (y.index.equals(var.index) and y.columns.equals(var.columns)):
        raise ValueError("returns and values at risk need the same dates and tickers; align them first")
    if not y.index.is_monotonic_increasing:
        raise ValueError("the panel's dates are not in time order; sort the rows by date first")
    per: dict[str, VaRBacktest] = {}
    total = np.zeros(6, dtype=int)
    for ticker in y.columns:
        hits = var_hits(y[ticker].to_numpy(dtype=float), var[ticker].to_numpy(dtype=float))
        counts = _counts(hits)
        per[str(ticker)] = _result(a, *counts)
        total += np.asarray(counts)
    pooled = _result(a, *(int(c) for c in total))
    return PanelVaRBacktest(alpha=a, per_ticker=per, pooled=pooled)


def density_var_backtests(
    y: ArrayLike, density: Predictive, levels: tuple[float, ...] = (0.01, 0.05)
) -> dict[float, VaRBacktest]:
    """:func:`var_backtest` at each level, the values at risk being the quantiles of the model's own density.

    Parameters
    ----------
    y
        Realised returns in time order, 1-D.
    density
        The predictive distribution of each return (:class:`forecasting.model.distributions.Predictive`).
    levels
        VaR levels.

    Examples
    --------
    >>> y = np.random.default_rng(5).standard_t(5, 2000) * np.sqrt(3 / 5)  # unit variance
    >>> out = density_var_backtests(y, Predictive.single(np.zeros(2000), np.ones(2000), np.full(2000, 5.0)))
    >>> {level: r.hits for level, r in out.items()}
    {0.01: 23, 0.05: 108}
    """
    return {float(a): var_backtest(y, density.ppf(_check_alpha(a)), a) for a in levels}


def density_panel_var_backtests(
    frame: pd.DataFrame, density: Predictive, levels: tuple[float, ...] = (0.01, 0.05)
) -> dict[float, PanelVaRBacktest]:
    """:func:`panel_var_backtest` at each level, for a long table of returns and each row's own density.

    Parameters
    ----------
    frame
        One row per (date, ticker) with columns ``date``, ``ticker`` and ``target`` (the realised return), in any
        order; a ticker without a row on a date has a gap there, which breaks its chain of transitions.
    density
        The predictive distribution of each row's return, in the rows' order.
    levels
        VaR levels.

    Returns
    -------
    dict
        Each level's :class:`PanelVaRBacktest`: per ticker and pooled over tickers.

    Examples
    --------
    >>> f = pd.DataFrame({"date": np.repeat(pd.bdate_range("2024-01-01", periods=3), 2), "ticker": ["A", "B"] * 3,
    ...                   "target": [-3.0, 0.0, -3.0, 0.5, 0.1, -3.0]})
    >>> out = density_panel_var_backtests(f, Predictive.single(np.zeros(6), np.ones(6)), levels=(0.05,))
    >>> p = out[0.05]
    >>> p.per_ticker["A"].hits, p.per_ticker["B"].hits, p.pooled.n, (p.pooled.n11, p.pooled.n01)
    (2, 1, 6, (1, 1))
    """
    missing = [c for c in ("date", "ticker", "target") if c not in frame]
    if missing:
        raise ValueError(f"the frame lacks the column(s) {', '.join(missing)}; pass date, ticker and target")
    if frame.duplicated(["date", "ticker"]).any():
        raise ValueError("the frame has two rows for one (date, ticker); keep one forecast per ticker and date")
    keys = {"date": frame["date"].to_numpy(), "ticker": frame["ticker"].astype(str).to_numpy()}
    y = pd.DataFrame({**keys, "v": frame["target"].to_numpy(dtype=float)}).pivot(
        index="date", columns="ticker", values="v"
    )
    out = {}
    for a in levels:
        alpha = _check_alpha(a)
        q = np.asarray(density.ppf(alpha), dtype=float)
        if q.shape != (len(frame),):
            raise ValueError(f"the density gives {q.shape} quantiles for {len(frame)} rows; pass one per row")
        var = pd.DataFrame({**keys, "v": q}).pivot(index="date", columns="ticker", values="v")
        out[alpha] = panel_var_backtest(y.sort_index(), var.reindex_like(y).sort_index(), alpha)
    return out
