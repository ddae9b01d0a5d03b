"""The forecasts that are hard to beat, on the same (ticker, origin) grid and for the same target as the LSTM.

Each baseline returns ``(mean, variance)`` arrays of shape (n_tickers, n_dates): the forecast made at the
close of each date t, using data up to that date only. The target is a return of the execution's price
series (:mod:`forecasting.execution`), r_s = log(P_s / P_{s-1}) with P the close or the open, ``horizon``
steps after the origin: r_{t+lag+1}, so ``horizon = lag + 1`` (1 for ``same-close``, 2 for the ``next-``
modes). The series is known up to r_t at origin t (the open of t is printed before the close of t).
Parameters are fitted on the training block of the fold.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["BASELINES", "ewma", "garch11", "historical", "log_returns"]

BASELINES = ("zero_ewma", "historical", "garch")


def log_returns(price: np.ndarray) -> np.ndarray:
    """r_s = log(P_s / P_{s-1}) along the last axis, NaN on the first date and where a price is missing.

    Examples
    --------
    >>> np.round(log_returns(np.array([[100.0, 110.0, np.nan, 99.0]])), 4).tolist()
    [[nan, 0.0953, nan, nan]]
    """
    out = np.full(price.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[..., 1:] = np.log(price[..., 1:] / price[..., :-1])
    return out


def ewma(returns: np.ndarray, lam: float = 0.94) -> tuple[np.ndarray, np.ndarray]:
    """Zero mean and RiskMetrics variance: v_t = lam v_{t-1} + (1 - lam) r_t^2, started at the first r^2.

    ``returns[:, t]`` is the return realised at date t (log P_t / P_{t-1}); a missing return leaves the
    variance unchanged. RiskMetrics' variance term structure is flat, so ``v_t`` is the forecast for
    r_{t+h} at any horizon h.

    Examples
    --------
    >>> m, v = ewma(np.array([[0.01, 0.02, np.nan, -0.01]]))
    >>> np.round(v * 1e4, 4).tolist()
    [[1.0, 1.18, 1.18, 1.1692]]
    """
    n, t = returns.shape
    var = np.full((n, t), np.nan)
    state = np.full(n, np.nan)
    for j in range(t):
        r2 = returns[:, j] ** 2
        ok = np.isfinite(r2)
        fresh = ok & ~np.isfinite(state)
        state = np.where(fresh, r2, state)
        upd = ok & ~fresh
        state = np.where(upd, lam * state + (1 - lam) * r2, state)
        var[:, j] = state
    return np.zeros((n, t)), var


def historical(target: np.ndarray, train_origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The training-block mean and variance of each ticker's target, for every date.

    A ticker with fewer than 20 training targets gets the pooled training mean and variance.

    Examples
    --------
    >>> y = np.array([[0.01, 0.03, np.nan, 0.5]])
    >>> m, v = historical(y, np.array([[True, True, False, False]]))
    >>> float(m[0, 3]), round(float(v[0, 3]), 6)
    (0.02, 0.0001)
    """
    use = train_origins & np.isfinite(target)
    if not use.any():
        raise ValueError("no training targets")
    pooled = target[use]
    n = use.sum(axis=1)
    y = np.where(use, target, 0.0)
    mu = y.sum(axis=1) / np.maximum(n, 1)
    var = (np.where(use, target - mu[:, None], 0.0) ** 2).sum(axis=1) / np.maximum(n, 1)
    few = n < 2 if pooled.size < 40 else n < 20
    mu = np.where(few, pooled.mean(), mu)
    var = np.where(few, pooled.var(), var)
    shape = target.shape
    return np.broadcast_to(mu[:, None], shape).copy(), np.broadcast_to(var[:, None], shape).copy()


def garch11(returns: np.ndarray, train_end: int, *, horizon: int = 1, train_start: int = 0,
            fit_ok: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """GARCH(1,1) with a constant mean and normal errors (``arch``), fitted per ticker on dates
    ``train_start..train_end``.

    The fitted parameters are then held fixed and the variance recursion runs on through later data, so the
    forecast at origin t uses returns up to t only: column t holds arch's ``horizon``-step forecast of
    r_{t+horizon} made at t (for ``horizon=2``, omega + (alpha + beta) sigma2_{t+1|t}). Returns are scaled
    to percent for the fit (arch's advice) and back. Gaps (missing returns) are skipped: the recursion steps
    over them. ``fit_ok`` (same shape as ``returns``) leaves returns out of the fit only, such as those that
    touch an interpolated price (which borrows a later one). A ticker whose fit fails or has fewer than 100
    training returns gets NaN (and is scored only where every model has a forecast).
    """
    from arch import arch_model

    if horizon < 1:
        raise ValueError(f"horizon must be 1 or more, got {horizon}")
    n, t = returns.shape
    mean = np.full((n, t), np.nan)
    var = np.full((n, t), np.nan)
    for i in range(n):
        ok = np.flatnonzero(np.isfinite(returns[i]))
        r = returns[i, ok] * 100.0
        first = int(np.searchsorted(ok, train_start, side="left"))
        n_train = int(np.searchsorted(ok, train_end, side="right"))
        in_fit = ok[first:n_train]
        if fit_ok is not None:
            in_fit = in_fit[fit_ok[i, in_fit]]
        if len(in_fit) < 100:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fitted = arch_model(returns[i, in_fit] * 100.0, mean="Constant", vol="GARCH", p=1, q=1,
                                    dist="normal", rescale=False).fit(disp="off", show_warning=False)
                model = arch_model(r, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False)
                fixed = model.fix(fitted.params, first_obs=first, last_obs=n_train)
                fc = fixed.forecast(horizon=horizon, start=0, reindex=False)
            except (ValueError, np.linalg.LinAlgError):
                continue
        mean[i, ok] = fc.mean.to_numpy()[:, horizon - 1] / 100.0
        var[i, ok] = fc.variance.to_numpy()[:, horizon - 1] / 1e4
    return mean, var
