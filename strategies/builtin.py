"""The strategies that ship with qtrade; each is a thin wrapper of a rule in :mod:`strategies.sizing`."""

from __future__ import annotations

from typing import Any

import numpy as np

from forecasting.errors import ConfigError
from strategies import portfolio, sizing
from strategies.registry import Bar, Param, register

__all__: list[str] = []

_LEVERAGE = Param(1.0, "largest weight, as a multiple of the sleeve's equity")


def _positive(*names: str) -> Any:
    def check(params: dict[str, Any]) -> str | None:
        bad = [n for n in names if not params[n] > 0]
        return f"{', '.join(bad)} must be positive" if bad else None

    return check


@register(
    "kelly",
    "fractional Kelly on the simple return R: fraction * E[R] / E[R^2], capped",
    check=_positive("fraction", "max_leverage"),
    fraction=Param(0.5, "share of the full Kelly weight"),
    max_leverage=_LEVERAGE,
)
def kelly(bar: Bar, *, fraction: float, max_leverage: float) -> np.ndarray:
    return sizing.kelly(bar.mean, bar.variance, fraction=fraction, max_leverage=max_leverage)


def _voltarget_check(params: dict[str, Any]) -> str | None:
    return _positive("target_vol", "max_leverage")(params) or (
        "threshold must be 0 or more" if params["threshold"] < 0 else None
    )


@register(
    "voltarget",
    "sign(E[R]) * target volatility / sd of the simple return R",
    check=_voltarget_check,
    target_vol=Param(0.10, "annual volatility aimed at"),
    threshold=Param(0.0, "flat when |E[R]| / sd is below this"),
    max_leverage=_LEVERAGE,
)
def voltarget(bar: Bar, *, target_vol: float, threshold: float, max_leverage: float) -> np.ndarray:
    return sizing.voltarget(
        bar.mean, bar.variance, target_vol=target_vol, threshold=threshold, max_leverage=max_leverage
    )


@register(
    "threshold",
    "long, short or flat as Phi^-1(probability of a rise) is above k, below -k or between (mean / sd if normal)",
    check=lambda p: "k must be 0 or more" if p["k"] < 0 else _positive("weight")(p),
    k=Param(0.05, "threshold on mean / sd (daily)"),
    weight=Param(1.0, "weight when in the market"),
)
def threshold(bar: Bar, *, k: float, weight: float) -> np.ndarray:
    return sizing.threshold(bar.mean, bar.variance, k=k, weight=weight, prob_rise=bar.prob_rise())


@register(
    "betsize",
    "Lopez de Prado's sizing from the forecast density's probability of a rise",
    check=_positive("max_leverage"),
    max_leverage=_LEVERAGE,
)
def betsize(bar: Bar, *, max_leverage: float) -> np.ndarray:
    return sizing.betsize(bar.mean, bar.variance, max_leverage=max_leverage, prob_rise=bar.prob_rise())


def _longshort_check(params: dict[str, Any]) -> str | None:
    if params["k"] < 1:
        return "k must be 1 or more"
    return None if params["scheme"] in ("equal", "linear") else f"scheme {params['scheme']!r}: use equal or linear"


@register(
    "longshort",
    "dollar-neutral: long the k most likely to rise, short the k least likely, each day",
    sleeve=False,
    check=_longshort_check,
    k=Param(1, "tickers on each side"),
    scheme=Param("equal", "equal, or linear 2..1 by rank as in JPX"),
)
def longshort(bar: Bar, *, k: int, scheme: str) -> np.ndarray:
    return sizing.longshort(bar.mean, bar.variance, k=k, scheme=scheme, prob_rise=bar.prob_rise())


_NO_TRAINING = "volmanaged needs training-period forecasts to set c; give forecasts with a train split or --param c=..."


def _volmanaged_calibrate(train_mean: np.ndarray, train_variance: np.ndarray, params: dict[str, Any]) -> dict[str, Any]:
    """``c`` such that the average weight over the training period's forecasts is 1, unless ``c`` is given."""
    if params["c"] > 0:
        return dict(params)
    c = sizing.volmanaged_scale(train_mean, train_variance, max_leverage=params["max_leverage"])
    if not np.isfinite(c):
        raise ConfigError(_NO_TRAINING)
    return {**params, "c": c}


@register(
    "volmanaged",
    "long min(c / sd, cap), sd of the simple return (Moreira and Muir 2017); never short",
    check=lambda p: "c must be 0 or more" if p["c"] < 0 else _positive("max_leverage")(p),
    calibrate=_volmanaged_calibrate,
    c=Param(0.0, "weight numerator; 0: set on the training period so that the average weight is 1"),
    max_leverage=Param(2.0, "largest weight, as a multiple of the sleeve's equity"),
)
def volmanaged(bar: Bar, *, c: float, max_leverage: float) -> np.ndarray:
    if not c > 0:
        raise ConfigError(_NO_TRAINING)
    return sizing.volmanaged(bar.mean, bar.variance, c=c, max_leverage=max_leverage)


@register(
    "buyhold",
    "an equal share of every listed ticker, bought on the first day and held; rebalanced only when a ticker lists "
    "or delists; no forecast",
    uses_forecast=False,
)
def buyhold(bar: Bar) -> np.ndarray:
    changed = bar.was_active is not None and bar.active is not None and bool((bar.active != bar.was_active).any())
    return np.ones_like(bar.mean) if bar.first or changed else np.full_like(bar.mean, np.nan)


def _sma_check(params: dict[str, Any]) -> str | None:
    return None if 1 <= params["fast"] < params["slow"] else "need 1 <= fast < slow, for example fast=20 slow=100"


@register(
    "sma",
    "moving-average crossover: long while the fast SMA of closes is above the slow; no forecast",
    uses_forecast=False,
    warmup="slow",
    check=_sma_check,
    fast=Param(20, "days in the fast average"),
    slow=Param(100, "days in the slow average"),
    short=Param(False, "short (rather than flat) while the fast average is below"),
)
def sma(bar: Bar, *, fast: int, slow: int, short: bool) -> np.ndarray:
    closes = bar.history(slow)
    if len(closes) < slow:
        return np.full_like(bar.mean, np.nan)
    up = closes[-fast:].mean(axis=0) > closes.mean(axis=0)
    w = np.where(up, 1.0, -1.0 if short else 0.0)
    return np.where(np.isfinite(closes).all(axis=0), w, np.nan)


_WINDOW = Param(504, "closes in the correlation's window")
_HALFLIFE = Param(126.0, "half-life of the window's weights, in closes (0: equal weights)")
_SHRINK = Param("constant", "Ledoit-Wolf target of the correlation: constant or identity")


def _cov_check(params: dict[str, Any]) -> str | None:
    if params["window"] < 2 or params["halflife"] < 0:
        return "need window >= 2 and halflife >= 0"
    if params["shrink"] not in ("constant", "identity"):
        return f"shrink {params['shrink']!r}: use constant or identity"
    return None


def _portfolio(bar: Bar, params: dict[str, Any], solve: Any, cap: float) -> np.ndarray:
    """``solve(mu, cov)`` (a book of gross ``cap`` at most) on the active tickers with a usable forecast covariance,
    scaled down by the gross that listed tickers without one keep (they are NaN: kept), so the whole book stays
    within ``cap``; unlisted tickers are NaN (they hold nothing)."""
    if bar.covariance is None:
        raise ConfigError("this rule needs the forecast covariance: run it through qtrade backtest")
    cov = bar.covariance(window=int(params["window"]), halflife=float(params["halflife"]), target=params["shrink"])
    mu, _ = sizing.simple_moments(bar.mean, bar.variance)
    ok = bar.active_mask() & np.isfinite(np.diag(cov)) & np.isfinite(mu)
    kept = float(np.abs(np.nan_to_num(np.asarray(bar.weights, dtype=float)[bar.listed_mask() & ~ok])).sum())
    w = np.full(bar.mean.shape, np.nan)
    idx = np.flatnonzero(ok)
    if len(idx):
        w[idx] = solve(mu[idx], cov[np.ix_(idx, idx)]) * max(cap - kept, 0.0) / cap
    return w


@register(
    "riskparity",
    "equal risk contributions under the forecast covariance, long only, gross = weight",
    sleeve=False,
    check=lambda p: _cov_check(p) or _positive("weight")(p),
    weight=Param(1.0, "gross exposure of the book"),
    window=_WINDOW,
    halflife=_HALFLIFE,
    shrink=_SHRINK,
)
def riskparity(bar: Bar, *, weight: float, window: int, halflife: float, shrink: str) -> np.ndarray:
    settings = {"window": window, "halflife": halflife, "shrink": shrink}
    return _portfolio(bar, settings, lambda mu, cov: weight * portfolio.risk_parity(cov), weight)


@register(
    "minvar",
    "long-only minimum variance under the forecast covariance, gross = weight",
    sleeve=False,
    check=lambda p: _cov_check(p) or _positive("weight", "max_weight")(p),
    weight=Param(1.0, "gross exposure of the book"),
    max_weight=Param(1.0, "largest share of the book in one ticker"),
    window=_WINDOW,
    halflife=_HALFLIFE,
    shrink=_SHRINK,
)
def minvar(bar: Bar, *, weight: float, max_weight: float, window: int, halflife: float, shrink: str) -> np.ndarray:
    settings = {"window": window, "halflife": halflife, "shrink": shrink}
    return _portfolio(
        bar, settings, lambda mu, cov: weight * portfolio.min_variance(cov, max_weight=max_weight), weight
    )


@register(
    "meanvar",
    "multi-asset fractional Kelly: fraction * (Sigma + mu mu')^-1 mu on the simple returns, capped",
    sleeve=False,
    check=lambda p: _cov_check(p) or _positive("fraction", "max_weight", "max_gross")(p),
    fraction=Param(0.5, "share of the full Kelly book"),
    max_weight=Param(1.0, "largest weight of one ticker, long or short"),
    max_gross=Param(1.0, "largest gross exposure of the book"),
    window=_WINDOW,
    halflife=_HALFLIFE,
    shrink=_SHRINK,
)
def meanvar(
    bar: Bar, *, fraction: float, max_weight: float, max_gross: float, window: int, halflife: float, shrink: str
) -> np.ndarray:
    settings = {"window": window, "halflife": halflife, "shrink": shrink}
    return _portfolio(
        bar,
        settings,
        lambda mu, cov: portfolio.mean_variance(mu, cov, fraction=fraction, max_weight=max_weight, max_gross=max_gross),
        max_gross,
    )
