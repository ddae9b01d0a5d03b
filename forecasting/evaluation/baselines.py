"""The forecasts that are hard to beat, on the same (ticker, origin) grid and for the same target as the LSTM.

Each baseline returns ``(mean, variance)`` arrays of shape (n_tickers, n_dates): the forecast made at the
close of each date t, using data up to that date only. The target is a return of the execution's price
series (:mod:`forecasting.preparation.execution`), r_s = log(P_s / P_{s-1}) with P the close or the open, ``horizon``
steps after the origin: r_{t+lag+1}, so ``horizon = lag + 1`` (1 for ``same-close``, 2 for the ``next-``
modes). The series is known up to r_t at origin t (the open of t is printed before the close of t).
Parameters are fitted on the training block of the fold.

The baselines with a Student-t predictive density (:func:`gjr_garch_t`, :func:`har_range`) also return its
degrees of freedom, ``dof``, an array of the same shape (``inf`` where the density is normal).
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd

from forecasting.preparation.execution import DEFAULT_EXECUTION, ExecutionMode, execution_mode

__all__ = [
    "BASELINES",
    "ewma",
    "garch11",
    "gjr_garch_t",
    "har_range",
    "historical",
    "log_returns",
    "min_training_dates",
    "range_proxies",
]

BASELINES = ("zero_ewma", "historical", "garch", "gjr_garch_t", "har")

_MIN_TRAIN = 100  # fewer training rows than this: no fit, NaN forecasts
_PROXY_FLOOR = 0.05  # HAR: a variance proxy is at least this share of the ticker's median training proxy


def min_training_dates(horizon: int) -> int:
    """The fewest dates a training block needs for every baseline to fit on a ticker with no gaps: GARCH's
    100 returns (101 prices), and HAR's 100 rows, which start once the 22-day mean has 11 days (the first return
    is on date 1, so date 11) and end ``horizon`` dates before the block's last (where the response ends).

    Examples
    --------
    >>> min_training_dates(2)
    113
    """
    return max(_MIN_TRAIN + 1, _MIN_TRAIN + 11 + horizon)


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


def garch11(
    returns: np.ndarray, train_end: int, *, horizon: int = 1, train_start: int = 0, fit_ok: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
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
    mean, var, _ = _fixed_garch(
        returns, train_end, horizon=horizon, train_start=train_start, fit_ok=fit_ok, o=0, dist="normal"
    )
    return mean, var


def gjr_garch_t(
    returns: np.ndarray, train_end: int, *, horizon: int = 1, train_start: int = 0, fit_ok: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GJR-GARCH(1,1,1) with a constant mean and Student-t errors, fitted and run on as :func:`garch11`.

    sigma2_s = omega + (alpha + gamma 1[e_{s-1} < 0]) e_{s-1}^2 + beta sigma2_{s-1} (Glosten, Jagannathan and
    Runkle, 1993): a fall raises the next variance more than a rise of the same size. The errors are Student-t
    with nu degrees of freedom, scaled to unit variance, so the one-step predictive density is a Student-t with
    ``dof`` nu, mean ``mean`` and variance ``var``. For ``horizon=2`` the variance is arch's analytic forecast,
    omega + (alpha + gamma / 2 + beta) sigma2_{t+1|t}: exact, since the t errors are symmetric and so a negative
    one has probability 1/2; the density is then taken as a Student-t with that variance and nu, an
    approximation (the true two-step density is a variance mixture, with heavier tails).

    Parameters
    ----------
    returns
        (n_tickers, n_dates) log returns r_s = log(P_s / P_{s-1}) of the execution's price, NaN where missing.
    train_end, train_start
        The first and last dates (column indices, both included) of the training block the fit uses.
    horizon
        Steps from the origin to the return forecast: ``lag + 1`` of the execution mode.
    fit_ok
        bool, like ``returns``: the returns the fit may use (others are still run through by the recursion).

    Returns
    -------
    mean, var, dof
        (n_tickers, n_dates) arrays: column t is the forecast made at t; ``dof`` is the ticker's fitted nu
        wherever ``var`` is finite. A ticker whose fit fails or has fewer than 100 training returns is NaN.

    Examples
    --------
    >>> r = np.random.default_rng(0).standard_t(5, (1, 400)) * 0.01
    >>> mean, var, dof = gjr_garch_t(r, 299, horizon=2)
    >>> var.shape, bool((var > 0).all()), bool(2 < dof[0, -1] < 500)
    ((1, 400), True, True)
    """
    mean, var, params = _fixed_garch(
        returns, train_end, horizon=horizon, train_start=train_start, fit_ok=fit_ok, o=1, dist="t"
    )
    nu = np.array([np.nan if p is None else float(p["nu"]) for p in params])
    dof = np.where(np.isfinite(var), nu[:, None], np.nan)
    return mean, var, dof


def _fixed_garch(
    returns: np.ndarray,
    train_end: int,
    *,
    horizon: int,
    train_start: int,
    fit_ok: np.ndarray | None,
    o: int,
    dist: Literal["normal", "t"],
) -> tuple[np.ndarray, np.ndarray, list[pd.Series | None]]:
    """A GARCH(1, o, 1) fitted per ticker on its training block, run on with the parameters fixed.

    The shared body of :func:`garch11` (``o=0``, normal) and :func:`gjr_garch_t` (``o=1``, Student-t); also
    returns each ticker's fitted parameters (in percent units; ``None`` where there is no fit).
    """
    from arch import arch_model

    if horizon < 1:
        raise ValueError(f"horizon must be 1 or more, got {horizon}")
    n, t = returns.shape
    mean = np.full((n, t), np.nan)
    var = np.full((n, t), np.nan)
    params: list[pd.Series | None] = [None] * n
    for i in range(n):
        ok = np.flatnonzero(np.isfinite(returns[i]))
        r = returns[i, ok] * 100.0
        first = int(np.searchsorted(ok, train_start, side="left"))
        n_train = int(np.searchsorted(ok, train_end, side="right"))
        in_fit = ok[first:n_train]
        if fit_ok is not None:
            in_fit = in_fit[fit_ok[i, in_fit]]
        if len(in_fit) < _MIN_TRAIN:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fitted = arch_model(
                    returns[i, in_fit] * 100.0, mean="Constant", vol="GARCH", p=1, o=o, q=1, dist=dist, rescale=False
                ).fit(disp="off", show_warning=False)
                model = arch_model(r, mean="Constant", vol="GARCH", p=1, o=o, q=1, dist=dist, rescale=False)
                fixed = model.fix(fitted.params, first_obs=first, last_obs=n_train)
                # arch forecasts from first_obs - 1 on (a rolling fold's training block starts later): the
                # origins before it are no fold's, and stay NaN
                start = max(first - 1, 0)
                fc = fixed.forecast(horizon=horizon, start=start, reindex=False)
            except (ValueError, np.linalg.LinAlgError):
                continue
        mean[i, ok[start:]] = fc.mean.to_numpy()[:, horizon - 1] / 100.0
        var[i, ok[start:]] = fc.variance.to_numpy()[:, horizon - 1] / 1e4
        params[i] = fitted.params
    return mean, var, params


def range_proxies(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The two parts of a day's range-based variance: Garman-Klass intraday variance and the squared gap.

    gk_s = 0.5 log(H_s / L_s)^2 - (2 ln 2 - 1) log(C_s / O_s)^2 estimates the variance of the open-to-close
    return of day s (Garman and Klass, 1980), and gap2_s = log(O_s / C_{s-1})^2 is the overnight move into it;
    gk_s + gap2_s is a proxy of the variance of the close-to-close return r_s. gk is clipped at 0 (it is
    non-negative whenever L <= min(O, C) and H >= max(O, C)). NaN where a price is missing (gap2 on the first
    date too). Arrays are (n_tickers, n_dates).

    Examples
    --------
    >>> o, h, lo, c = (np.array([v]) for v in ([100.0, 103.0], [102.0, 104.0], [99.0, 101.0], [101.0, 102.0]))
    >>> gk, gap2 = range_proxies(o, h, lo, c)
    >>> np.round(gk * 1e4, 3).tolist(), np.round(gap2 * 1e4, 3).tolist()
    ([[4.074, 3.916]], [[nan, 3.845]])
    >>> round(float(np.log(103 / 101) ** 2 * 1e4), 3)  # day 2 opened at 103 after a close of 101
    3.845
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        gk = 0.5 * np.log(high / low) ** 2 - (2.0 * np.log(2.0) - 1.0) * np.log(close / open_) ** 2
        gap2 = np.full(close.shape, np.nan)
        gap2[:, 1:] = np.log(open_[:, 1:] / close[:, :-1]) ** 2
    return np.where(np.isnan(gk), np.nan, np.maximum(gk, 0.0)), gap2


def har_range(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    train_end: int,
    *,
    execution: str | ExecutionMode = DEFAULT_EXECUTION,
    train_start: int = 0,
    fit_ok: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A log-HAR (Corsi, 2009) of the range-based variance of the execution's target, with Student-t errors.

    The daily proxy rv_s = gk_s + gap2_s (:func:`range_proxies`) is the variance of the close-to-close return of
    day s. At origin t the regressors are rv_t and its means over the last 5 and 22 days (at least 3 and 11 of
    them present), all known at the close of t. The response is the proxy of the target's own interval:

    - close targets (``next-close``, ``same-close``), log(C_{t+lag+1} / C_{t+lag}): rv_{t+lag+1};
    - the open-to-open target of ``next-open``, log(O_{t+2} / O_{t+1}) = log(C_{t+1} / O_{t+1}) +
      log(O_{t+2} / C_{t+1}), the day t+1 session then the gap into t+2: gk_{t+1} + gap2_{t+2}.

    The regression is in logs, log resp = b0 + b1 log rv_t + b2 log rv^(5)_t + b3 log rv^(22)_t, by OLS: a
    one-day range proxy is right-skewed and heavy-tailed, so OLS in levels is steered by a few crash days and
    can predict a negative variance; in logs the errors are near Gaussian and the prediction is positive.
    A day with no range and no gap (a stock that did not trade, or was limit-locked) has a zero proxy: every
    proxy is floored at 5% of the ticker's median training proxy before the log. exp(fit) is the conditional
    geometric mean, not the variance: the scale k that turns it into the variance of the return is fitted by
    maximum likelihood, together with the Student-t ``dof``, on the training block's standardised returns
    z = (y - mu) / sqrt(exp(fit)) (which also absorbs the proxy's bias, such as a range that discrete prices
    understate). The forecast variance is k exp(fit), floored at k times the proxy floor; the mean is mu, the
    training-block mean of the target; if the t fit fails, the density is normal (``dof`` inf, k the mean of
    z^2).

    The fit uses origins t with ``train_start <= t`` and t + lag + 1 <= ``train_end``, so that every price it
    reads (the response and the target end on day t + lag + 1) lies in the training block; the forecast at any
    origin reads the prices up to that origin only. A ticker with fewer than 100 such rows gets NaN.

    Parameters
    ----------
    open_, high, low, close
        (n_tickers, n_dates) adjusted prices, NaN where missing (``CleanPanel.values`` transposed).
    train_end, train_start
        The last and first dates (column indices, both included) of the training block.
    execution
        The execution mode (:func:`~forecasting.preparation.execution.execution_mode`) whose target is forecast.
    fit_ok
        bool (n_tickers, n_dates): days whose prices the fit may use, such as ``FeatureCube.real``. A fit row
        is used only when days t-1, t, t+lag and t+lag+1 are all ok (its daily regressor, its response and its
        target); the 5- and 22-day means and the forecasts use every day.

    Returns
    -------
    mean, var, dof
        (n_tickers, n_dates): the forecast at origin t of the target log(P_{t+lag+1} / P_{t+lag}), a Student-t
        with ``dof`` degrees of freedom (inf: normal), mean ``mean`` and variance ``var``.

    Examples
    --------
    >>> from forecasting.market.synthetic import synthetic_panel
    >>> p = synthetic_panel(1, 400, seed=1)
    >>> o, h, lo, c = (p[k].to_numpy()[None, :] for k in ("open", "high", "low", "close"))
    >>> mean, var, dof = har_range(o, h, lo, c, 299, execution="next-open")
    >>> bool((var[0, 22:] > 0).all()), bool(np.isfinite(mean[0, 22:]).all()), bool(dof[0, 22] > 2)
    (True, True, True)
    """
    mode = execution_mode(execution)
    lag = mode.lag
    n, t = close.shape
    gk, gap2 = range_proxies(open_, high, low, close)
    rv = gk + gap2
    regressors = np.stack([rv, _trailing_mean(rv, 5, 3), _trailing_mean(rv, 22, 11)])
    if mode.price == "close":
        response = _lead(rv, lag + 1)
    else:
        response = _lead(gk, lag) + _lead(gap2, lag + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_price = np.log(close if mode.price == "close" else open_)
    y = _lead(log_price, lag + 1) - _lead(log_price, lag)
    ok = np.ones((n, t), dtype=bool) if fit_ok is None else np.asarray(fit_ok, dtype=bool)
    rows_ok = _lead(ok, -1, fill=False) & ok & _lead(ok, lag, fill=False) & _lead(ok, lag + 1, fill=False)
    cols = np.arange(t)
    in_block = (cols >= train_start) & (cols + lag + 1 <= train_end)
    finite = np.isfinite(regressors).all(axis=0) & np.isfinite(response) & np.isfinite(y)
    fit_rows = rows_ok & in_block[None, :] & finite
    mean = np.full((n, t), np.nan)
    var = np.full((n, t), np.nan)
    dof = np.full((n, t), np.nan)
    block = slice(max(train_start, 0), train_end + 1)
    for i in range(n):
        rows = np.flatnonzero(fit_rows[i])
        if len(rows) < _MIN_TRAIN:
            continue
        days = rv[i, block][ok[i, block] & np.isfinite(rv[i, block])]
        base = float(np.median(days))
        if not base > 0:
            base = float(np.mean(days))
        if not base > 0:
            continue
        floor = _PROXY_FLOOR * base
        x = np.vstack([np.ones(t), np.log(np.maximum(regressors[:, i], floor))]).T  # NaN rows stay NaN
        beta, *_ = np.linalg.lstsq(x[rows], np.log(np.maximum(response[i, rows], floor)), rcond=None)
        core = np.exp(x @ beta)
        mu = float(np.mean(y[i, rows]))
        scale, nu = _student_t_fit((y[i, rows] - mu) / np.sqrt(core[rows]))
        var[i] = scale * np.maximum(core, floor)
        has = np.isfinite(var[i])
        mean[i, has] = mu
        dof[i, has] = nu
    return mean, var, dof


def _student_t_fit(z: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood variance k and degrees of freedom nu of z ~ sqrt(k) t_nu / sqrt(nu / (nu - 2)).

    nu is kept in (2.05, 500], arch's bounds; (mean z^2, inf), a normal, when the optimiser fails.
    """
    from scipy.optimize import minimize
    from scipy.special import gammaln

    z2 = z**2
    k0 = float(np.mean(z2))

    def nll(theta: np.ndarray) -> float:
        k, nu = np.exp(theta[0]), 2.0 + np.exp(theta[1])
        ll = (
            gammaln((nu + 1) / 2)
            - gammaln(nu / 2)
            - 0.5 * np.log(np.pi * (nu - 2) * k)
            - (nu + 1) / 2 * np.log1p(z2 / (k * (nu - 2)))
        )
        return -float(np.sum(ll))

    start = np.array([np.log(k0), np.log(6.0)])
    bounds = [(start[0] - 5.0, start[0] + 5.0), (np.log(0.05), np.log(498.0))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = minimize(nll, start, method="L-BFGS-B", bounds=bounds)
    if not (res.success and np.isfinite(res.fun) and np.isfinite(res.x).all()):
        return k0, np.inf
    return float(np.exp(res.x[0])), float(2.0 + np.exp(res.x[1]))


def _trailing_mean(a: np.ndarray, window: int, min_count: int) -> np.ndarray:
    """Mean of the last ``window`` values along the last axis (the current one included), NaN ignored; NaN
    where fewer than ``min_count`` are present."""
    return pd.DataFrame(a.T).rolling(window, min_periods=min_count).mean().to_numpy().T


def _lead(a: np.ndarray, k: int, fill: float | bool = np.nan) -> np.ndarray:
    """``out[:, t] = a[:, t + k]`` (a lag for negative ``k``), ``fill`` where that falls outside."""
    out = np.full_like(a, fill)
    if k == 0:
        out[:] = a
    elif k > 0:
        out[:, :-k] = a[:, k:]
    else:
        out[:, -k:] = a[:, :k]
    return out
