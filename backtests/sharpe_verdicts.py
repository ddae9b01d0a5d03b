"""How sure a backtest's Sharpe ratio is, in words: ``stats.json``'s ``sharpe_inference`` and the deflated Sharpe
ratio of a strategy tuning.

The figures come from :mod:`backtests.sharpe_inference`; this module chooses the level (95%), sets the strategy
beside the benchmark and writes the sentence that says what each figure means for the run.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from backtests.sharpe_inference import (
    PERIODS,
    min_track_record_length,
    probabilistic_sharpe_ratio,
    sharpe_difference,
    sharpe_ratio,
)

__all__ = ["CONFIDENCE", "deflated_sharpe_ratio", "sharpe_certainty"]

EULER_GAMMA = 0.5772156649015329
CONFIDENCE = 0.95  # the level of the Sharpe ratio's interval and of the minimum track record length


def _absent(exc: ValueError) -> dict[str, str]:
    return {"absent": str(exc)}


def _said(label: str, meaning: str) -> str:
    return f"{label}. {meaning}"


def _psr_words(p: float, whose: str, against: str, n: int) -> str:
    verdict = (
        f"at least the {CONFIDENCE:.0%} usually asked for"
        if p >= CONFIDENCE
        else f"short of the {CONFIDENCE:.0%} that would make it convincing"
    )
    return (
        f"Given these {n} days (their skew and kurtosis counted, days assumed independent), the probability that "
        f"{whose} true Sharpe ratio is above {against} is {p:.0%}: {verdict}."
    )


def sharpe_certainty(
    returns: pd.Series,
    benchmark: pd.Series,
    *,
    periods: int = PERIODS,
    rf: pd.Series | None = None,
    name: str = "buy and hold",
) -> dict[str, Any]:
    """How sure the net Sharpe ratio is, beside the benchmark's: ``stats.json``'s ``sharpe_inference``.

    Every figure is of the daily returns in excess of ``rf``, the risk-free rate of each day (annual / 252; None:
    0). ``name`` is the benchmark's, as the sentences call it ("buy and hold" for the equal-weight default).

    ``net`` and ``benchmark`` each hold ``sharpe`` (:func:`backtests.sharpe_inference.sharpe_ratio`, prewhitened
    HAC standard error and 95% interval), ``psr_vs_zero`` (the probabilistic Sharpe ratio against 0) and
    ``min_track_record`` (the days needed to be 95% sure the Sharpe ratio beats 0); ``net`` also
    ``psr_vs_benchmark`` (against the benchmark's observed Sharpe ratio, taken as known) and
    ``min_track_record_vs_benchmark``. ``difference`` is Ledoit and Wolf's test of the net Sharpe ratio minus the
    benchmark's on the same days. Each carries ``meaning``, a sentence on what it says about this run; a figure
    the returns cannot give (a series that never moves, fewer than 3 days) is ``{"absent": reason}``.

    Examples
    --------
    >>> days = pd.bdate_range("2020-01-01", periods=300)
    >>> rng = np.random.default_rng(0)
    >>> bench = pd.Series(rng.normal(0.0004, 0.01, 300), index=days)
    >>> out = sharpe_certainty(bench + rng.normal(0.0, 0.004, 300), bench)
    >>> sorted(out["net"])
    ['min_track_record', 'min_track_record_vs_benchmark', 'psr_vs_benchmark', 'psr_vs_zero', 'sharpe']
    >>> out["difference"]["meaning"].split(": ")[1]
    'these 300 days cannot tell the two apart (p = 0.835).'
    """
    r = returns.to_numpy(dtype=float)
    b = benchmark.reindex(returns.index).to_numpy(dtype=float)
    if rf is not None:
        day = rf.reindex(returns.index).fillna(0.0).to_numpy(dtype=float)
        r, b = r - day, b - day
    out: dict[str, Any] = {
        "method": (
            "Sharpe ratio: mean / sd (ddof 1) of the daily returns in excess of the risk-free rate (annual / 252; "
            "0 without --rf) x sqrt(252); standard error: Lo (2002) with a "
            "prewhitened Newey-West covariance (non-normal, autocorrelated returns); PSR and minimum track record: "
            "Bailey and Lopez de Prado (2012); difference: Ledoit and Wolf (2008)"
        ),
        "level": CONFIDENCE,
        "benchmark_name": name,
    }
    bench_sharpe: float | None = None
    for key, series, whose in (("benchmark", b, f"{name}'s"), ("net", r, "the strategy's")):
        block: dict[str, Any] = {}
        try:
            est = sharpe_ratio(series, level=CONFIDENCE, periods=periods)
        except ValueError as exc:
            out[key] = {"sharpe": _absent(exc)}
            continue
        label = _capital(name) if key == "benchmark" else "The strategy, net of costs"
        block["sharpe"] = {**asdict(est), "meaning": _said(label, est.meaning)}
        psr = probabilistic_sharpe_ratio(series, periods=periods)
        block["psr_vs_zero"] = {**asdict(psr), "meaning": _psr_words(psr.probability, whose, "zero", psr.n)}
        trl = min_track_record_length(series, confidence=CONFIDENCE, periods=periods)
        block["min_track_record"] = {**asdict(trl), "meaning": _said(label, trl.meaning)}
        if key == "benchmark":
            bench_sharpe = est.sharpe
        elif bench_sharpe is not None:
            psr_b = probabilistic_sharpe_ratio(series, bench_sharpe, periods=periods)
            against = f"{name}'s observed {bench_sharpe:.2f} (taken as known)"
            block["psr_vs_benchmark"] = {
                **asdict(psr_b),
                "meaning": _psr_words(psr_b.probability, whose, against, psr_b.n),
            }
            trl_b = min_track_record_length(series, bench_sharpe, confidence=CONFIDENCE, periods=periods)
            block["min_track_record_vs_benchmark"] = {**asdict(trl_b), "meaning": _said(label, trl_b.meaning)}
        out[key] = block
    try:
        diff = sharpe_difference(r, b, periods=periods)
        out["difference"] = asdict(diff)
        if name != "buy and hold":  # say which benchmark
            out["difference"]["meaning"] = diff.meaning.replace("the benchmark's", f"{name}'s", 1)
    except ValueError as exc:
        out["difference"] = _absent(exc)
    return {"net": out.pop("net"), "benchmark": out.pop("benchmark"), **out}


def _capital(name: str) -> str:
    """A name at the start of a sentence: "Buy and hold"; a ticker or a column keeps its own case.

    >>> _capital("buy and hold"), _capital("SPY"), _capital("sp500tr")
    ('Buy and hold', 'SPY', 'The benchmark sp500tr')
    """
    if name == "buy and hold":
        return "Buy and hold"
    return name if name[:1].isupper() else f"The benchmark {name}"


def deflated_sharpe_ratio(returns: pd.Series | np.ndarray, trial_sharpes: np.ndarray | list[float]) -> dict[str, float]:
    """Bailey and Lopez de Prado's (2014) deflated Sharpe ratio of the best of ``N`` tried configurations.

    ``returns`` are the chosen configuration's daily returns; ``trial_sharpes`` the daily (not annualised)
    Sharpe ratios of all N configurations tried, the chosen one included. The benchmark Sharpe ratio is the
    expected maximum of N unskilled trials,
    ``SR0 = sqrt(V) ((1 - g) Z^-1(1 - 1/N) + g Z^-1(1 - 1/(N e)))`` with V their variance and g Euler's
    constant, and ``DSR = Z((SR - SR0) sqrt(T - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2))``: the
    probability that the true Sharpe ratio beats what luck alone would have found, which is
    :func:`backtests.sharpe_inference.probabilistic_sharpe_ratio` against ``SR0``. Returns that never move (or
    fewer than 3) have no Sharpe ratio: ``dsr`` is then NaN.

    Examples
    --------
    >>> r = np.random.default_rng(0).normal(0.001, 0.01, 500)
    >>> one = deflated_sharpe_ratio(r, [r.mean() / r.std(ddof=1)])  # one trial: the probabilistic Sharpe ratio
    >>> many = deflated_sharpe_ratio(r, np.linspace(-0.05, r.mean() / r.std(ddof=1), 50))
    >>> bool(many["dsr"] < one["dsr"])
    True
    """
    r = np.asarray(returns, dtype=float)
    r = r[np.isfinite(r)]
    s = np.asarray(trial_sharpes, dtype=float)
    s = s[np.isfinite(s)]
    n, t = len(s), len(r)
    if n > 1:
        v = float(np.var(s, ddof=1))
        sr0 = float(
            np.sqrt(v) * ((1 - EULER_GAMMA) * sps.norm.ppf(1 - 1 / n) + EULER_GAMMA * sps.norm.ppf(1 - 1 / (n * np.e)))
        )
    else:
        sr0 = 0.0
    try:
        psr = probabilistic_sharpe_ratio(r, benchmark=sr0 * np.sqrt(PERIODS), periods=PERIODS)
    except ValueError:  # fewer than 3 returns, or returns that never move: no Sharpe ratio to deflate
        nan = float("nan")
        return {
            "dsr": nan,
            "sharpe_daily": nan,
            "sharpe_threshold_daily": sr0,
            "trials": n,
            "days": t,
            "skew": nan,
            "kurtosis": nan,
        }
    return {
        "dsr": psr.probability,
        "sharpe_daily": float(r.mean() / r.std(ddof=1)),
        "sharpe_threshold_daily": sr0,
        "trials": n,
        "days": t,
        "skew": psr.skew,
        "kurtosis": psr.kurtosis,
    }
