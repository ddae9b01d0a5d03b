"""The strategies that ship with qtrade; each is a thin wrapper of a rule in :mod:`strategies.sizing`."""

from __future__ import annotations

from typing import Any

import numpy as np

from forecasting.errors import ConfigError
from strategies import sizing
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
    "long, short or flat as the log return's mean / sd is above k, below -k or between",
    check=lambda p: "k must be 0 or more" if p["k"] < 0 else _positive("weight")(p),
    k=Param(0.05, "threshold on mean / sd (daily)"),
    weight=Param(1.0, "weight when in the market"),
)
def threshold(bar: Bar, *, k: float, weight: float) -> np.ndarray:
    return sizing.threshold(bar.mean, bar.variance, k=k, weight=weight)


@register(
    "betsize",
    "Lopez de Prado's sizing from the probability of a rise, Phi(mean / sd) of the log return",
    check=_positive("max_leverage"),
    max_leverage=_LEVERAGE,
)
def betsize(bar: Bar, *, max_leverage: float) -> np.ndarray:
    return sizing.betsize(bar.mean, bar.variance, max_leverage=max_leverage)


def _longshort_check(params: dict[str, Any]) -> str | None:
    if params["k"] < 1:
        return "k must be 1 or more"
    return None if params["scheme"] in ("equal", "linear") else f"scheme {params['scheme']!r}: use equal or linear"


@register(
    "longshort",
    "dollar-neutral: long the k best log mean / sd, short the k worst, each day",
    sleeve=False,
    check=_longshort_check,
    k=Param(1, "tickers on each side"),
    scheme=Param("equal", "equal, or linear 2..1 by rank as in JPX"),
)
def longshort(bar: Bar, *, k: int, scheme: str) -> np.ndarray:
    return sizing.longshort(bar.mean, bar.variance, k=k, scheme=scheme)


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


@register("buyhold", "buy an equal share of every ticker on the first day and hold; no forecast", uses_forecast=False)
def buyhold(bar: Bar) -> np.ndarray:
    return np.ones_like(bar.mean) if bar.first else np.full_like(bar.mean, np.nan)


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
