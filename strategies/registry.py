"""The strategy registry: a strategy is a function from one :class:`Bar` to target weights, with named settings.

Adding a strategy takes one function and one decorator::

    from strategies import Bar, Param, register, sizing

    @register("halfkelly", "Kelly at a quarter, never short", fraction=Param(0.25, "share of full Kelly"))
    def halfkelly(bar: Bar, *, fraction: float) -> np.ndarray:
        return np.maximum(sizing.kelly(bar.mean, bar.variance, fraction=fraction), 0.0)

The function returns one weight per ticker (share of equity; NaN keeps the position as it is). With
``sleeve=True`` (per-asset rules) each ticker's weight is divided by N, the number of tickers that trade at that
close (``Bar.active``: listed, with a price, and, for a rule that uses forecasts, a usable forecast), so that they
share the equity in N equal sleeves: kelly with ``fraction=0.5`` on 4 such tickers holds at most
``0.5 * mu / E[R**2] / 4`` of the equity in one ticker, and never more than ``max_leverage / 4``. A ticker that
is not listed at that close (before its first price, or once its delisting has been decided) holds nothing.
Portfolio rules (``sleeve=False``) return portfolio weights, shares of the whole equity.

The same decorator registers the rules of a file of one's own (``--strategy path/rules.py:name``) and of an
installed package (the entry-point group ``qtrade.strategies``): see :mod:`strategies.user_rules`.

A rule with a setting that is fitted on the training period (volmanaged's ``c``) registers a ``calibrate``
hook; the backtest calls :meth:`StrategySpec.calibrated` with the training split's forecasts before the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from forecasting.errors import ConfigError
from strategies.sizing import usable

if TYPE_CHECKING:  # scipy.stats takes most of a second to import: only the rules that need a density load it
    from forecasting.model.distributions import Predictive

__all__ = ["Bar", "Param", "StrategySpec", "available", "get", "parse_params", "register"]


@dataclass(frozen=True)
class Bar:
    """What a strategy sees at one close: forecasts made at this close and prices up to it, nothing later.

    Attributes
    ----------
    mean, variance
        (n_tickers,) mean and variance of the forecast of the log return that a position decided at this close
        holds under the run's execution (default ``next-close``: from the close of t+1 to the close of t+2;
        ``next-open``: the open of t+1 to the open of t+2; ``same-close``: this close to the next); NaN where
        there is none.
    weights
        (n_tickers,) the positions held now, as shares of equity.
    first
        True on the first bar of the backtest.
    history
        ``history(n)`` gives the last ``n`` closes, (n, n_tickers), oldest first, this close last; NaN before a
        ticker's first price.
    dof
        (n_tickers,) Student-t degrees of freedom of each forecast, NaN for a normal one; None: all normal.
    members
        An ensemble's forecasts as a :class:`~forecasting.model.distributions.Predictive` mixture (K components
        per ticker), None for a single model. :meth:`predictive` gives the forecast's whole density either way.
    listed
        (n_tickers,) True where the ticker is listed at this close: its first price has printed and its
        delisting is not yet decided (the engine knows a ticker's data ends when the origin whose fill is its last
        price comes: that origin closes it). None: every ticker.
    active
        (n_tickers,) True where the ticker trades at this close: listed and, for a rule that uses forecasts, with
        a usable forecast. None: every listed ticker.
    was_active
        ``active`` at the previous decision (None on the first): a change means a ticker entered or left.
    covariance
        ``covariance(**settings)`` gives the (n_tickers, n_tickers) forecast covariance of the simple returns
        (:mod:`strategies.covariance`: the forecasts' own sds around a shrunk correlation of past standardised
        returns), NaN in the rows and columns of tickers without a usable forecast.
    """

    mean: np.ndarray
    variance: np.ndarray
    weights: np.ndarray
    first: bool
    history: Callable[[int], np.ndarray]
    dof: np.ndarray | None = None
    members: Predictive | None = None
    listed: np.ndarray | None = None
    active: np.ndarray | None = None
    was_active: np.ndarray | None = None
    covariance: Callable[..., np.ndarray] | None = None

    def predictive(self) -> Predictive:
        """The forecast's density of the log return for every ticker: normal, Student-t or an ensemble's mixture."""
        from forecasting.model.distributions import Predictive

        if self.members is not None:
            return self.members
        dof = None if self.dof is None else np.where(np.isfinite(self.dof), self.dof, np.inf)
        return Predictive.single(self.mean, self.variance, dof)

    def prob_rise(self) -> np.ndarray:
        """(n_tickers,) the forecast's probability that the held return is positive, from its own density; NaN
        where the forecast is not usable.

        ``R > 0`` exactly when the log return ``X > 0``, so this is ``1 - F(0)`` of the log-return density: for a
        normal forecast ``Phi(mean / sd)``, for a Student-t ``t_dof.cdf(mean / scale)`` with ``scale = sd *
        sqrt((dof - 2) / dof)``, for an ensemble the mixture's.
        """
        ok = usable(self.mean, self.variance)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = 1.0 - self.predictive().cdf(np.zeros_like(self.mean))
        return np.where(ok & np.isfinite(p), p, np.nan)

    def listed_mask(self) -> np.ndarray:
        """``listed``, or every ticker when the backtest did not say."""
        return np.ones(self.mean.shape, dtype=bool) if self.listed is None else np.asarray(self.listed, dtype=bool)

    def active_mask(self) -> np.ndarray:
        """``active``, or every listed ticker when the backtest did not say."""
        return self.listed_mask() if self.active is None else np.asarray(self.active, dtype=bool)

    def sleeves(self) -> np.ndarray:
        """The tickers that hold a sleeve of a per-asset rule: the active ones, and the listed ones that keep a
        position without a usable forecast today (their sleeve stays reserved, so the book's gross stays within
        the rule's cap)."""
        held = np.nan_to_num(np.asarray(self.weights, dtype=float)) != 0
        return self.active_mask() | (self.listed_mask() & held)


@dataclass(frozen=True)
class Param:
    """A strategy setting: its default (whose type parses ``--param key=value``) and one line of help."""

    default: float | int | bool | str
    help: str


Rule = Callable[..., np.ndarray]
Calibrate = Callable[[np.ndarray, np.ndarray, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class StrategySpec:
    """A registered strategy."""

    name: str
    summary: str
    rule: Rule
    params: dict[str, Param] = field(default_factory=dict)
    sleeve: bool = True
    uses_forecast: bool = True
    warmup: str | None = None  # the parameter that says how many bars of history the rule needs
    check: Callable[[dict[str, Any]], str | None] | None = None  # a message when settings are out of range
    calibrate: Calibrate | None = None  # settings fitted on the training period's forecasts

    def defaults(self) -> dict[str, Any]:
        return {k: p.default for k, p in self.params.items()}

    def warmup_bars(self, params: dict[str, Any]) -> int:
        return int(params[self.warmup]) if self.warmup else 0

    def calibrated(self, train_mean: np.ndarray, train_variance: np.ndarray, params: dict[str, Any]) -> dict[str, Any]:
        """The settings to run with: ``params`` with any setting fitted on the training period's forecasts.

        ``train_mean`` and ``train_variance`` are (n_dates, n_tickers) forecasts of the training split, NaN where
        there is none. A new dict is returned; without a ``calibrate`` hook it equals ``params``.
        """
        if self.calibrate is None:
            return dict(params)
        return self.calibrate(train_mean, train_variance, dict(params))

    def max_gross(self, params: dict[str, Any]) -> float:
        """The most gross exposure the rule can ask for (``max_leverage`` where it has one, else 1)."""
        return float(params.get("max_leverage", params.get("max_gross", params.get("weight", 1.0))))

    def weights(self, bar: Bar, params: dict[str, Any]) -> np.ndarray:
        """Target weights for this bar; NaN keeps a position.

        A per-asset rule's weights are divided by the number of sleeves (:meth:`Bar.sleeves`: the active tickers
        and the listed ones that keep a position without a forecast); a ticker that is not listed gets NaN
        (it holds nothing, or its delisting closes it).
        """
        w = np.asarray(self.rule(bar, **params), dtype=float)
        if w.shape != bar.mean.shape:
            raise ConfigError(f"strategy {self.name} returned {w.shape} weights for {bar.mean.shape[0]} tickers")
        if not self.sleeve:
            return w
        return np.where(bar.listed_mask(), w / max(int(bar.sleeves().sum()), 1), np.nan)


_REGISTRY: dict[str, StrategySpec] = {}


def register(
    name: str,
    summary: str,
    *,
    sleeve: bool = True,
    uses_forecast: bool = True,
    warmup: str | None = None,
    check: Callable[[dict[str, Any]], str | None] | None = None,
    calibrate: Calibrate | None = None,
    **params: Param,
) -> Callable[[Rule], Rule]:
    """Register ``rule`` under ``name``; its keyword-only arguments are the ``params``.

    ``check(params)`` returns a message (what is wrong and the fix) when settings are out of range.
    ``calibrate(train_mean, train_variance, params)`` returns new settings fitted on the training period's
    forecasts ((n_dates, n_tickers) arrays); it must not change ``params``.
    """

    def deco(rule: Rule) -> Rule:
        _REGISTRY[name] = StrategySpec(
            name, summary, rule, dict(params), sleeve, uses_forecast, warmup, check, calibrate
        )
        return rule

    return deco


def _load_builtins() -> None:
    import strategies.builtin  # noqa: F401  (registers on import)


def available() -> list[StrategySpec]:
    """Every registered strategy, built-in or from an installed package (:mod:`strategies.user_rules`), by name."""
    from strategies.user_rules import load_installed

    load_installed()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get(name: str) -> StrategySpec:
    """The strategy called ``name``, or ``path/rules.py:name`` of a rules file (:mod:`strategies.user_rules`),
    or a one-line error that lists the known ones."""
    from strategies import user_rules

    if user_rules.reference(name) is not None:
        return user_rules.load_rule(name)
    _load_builtins()
    if name not in _REGISTRY:
        user_rules.load_installed()  # installed packages are imported only for a name that is not a built-in
    if name not in _REGISTRY:
        raise ConfigError(
            f"strategy {name!r} is not known; use one of {', '.join(sorted(_REGISTRY))} (qtrade strategies lists "
            "them), or a rules file of your own as path/to/rules.py:name"
        )
    return _REGISTRY[name]


def parse_params(spec: StrategySpec, pairs: Sequence[str] | None) -> dict[str, Any]:
    """Defaults overridden by ``key=value`` strings, each parsed as the type of its default.

    Examples
    --------
    >>> parse_params(get("kelly"), ["fraction=0.25"])["fraction"]
    0.25
    """
    params = spec.defaults()
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise ConfigError(f"--param {pair!r} is not key=value; for example --param {next(iter(params), 'k')}=1")
        if key not in params:
            known = ", ".join(params) or "none"
            raise ConfigError(f"strategy {spec.name} has no parameter {key!r}; its parameters: {known}")
        params[key] = _parse(spec.name, key, text.strip(), params[key])
    problem = spec.check(params) if spec.check else None
    if problem:
        raise ConfigError(f"strategy {spec.name}: {problem}")
    return params


def _parse(name: str, key: str, text: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            value = float(text)
            if not np.isfinite(value):
                raise ValueError(text)
            return value
    except ValueError:
        raise ConfigError(
            f"strategy {name}: {key}={text!r} is not a {type(default).__name__}; for example {key}={default}"
        ) from None
    return text
