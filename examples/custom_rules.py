"""Two strategies of one's own, for ``qtrade backtest --strategy examples/custom_rules.py:NAME``.

Copy this file anywhere, change it, and run it without touching qtrade::

    qtrade strategies --from examples/custom_rules.py            # the rules below, with their settings
    qtrade backtest --strategy examples/custom_rules.py:hysteresis --forecasts runs/demo/forecast --out runs/mine
    qtrade backtest --strategy examples/custom_rules.py:proportional --param gross=0.5 --out runs/prop

A rule is a function of one :class:`strategies.Bar`, with its settings as keyword-only arguments, that returns
one target weight per ticker (a share of the equity; negative is short). ``@register(name, summary, **settings)``
makes it a strategy: ``name`` is what follows the colon on the command line (it must not be a built-in's name),
``summary`` is its line in ``qtrade strategies``, and each setting is a :class:`strategies.Param` whose default
also gives the type that ``--param key=value`` is parsed as.

What a rule sees at the close of day t (``bar``), and nothing later:

``bar.mean``, ``bar.variance``
    arrays of one number per ticker: the forecast of the log return that a position decided now holds (under the
    default ``--execution next-close``, from the close of t+1 to the close of t+2). NaN where there is no
    forecast for a ticker that day.
``bar.weights``
    the positions held now, as shares of the equity (after the prices moved since they were set).
``bar.first``
    True on the first bar of the backtest.
``bar.history(n)``
    the last ``n`` closes, an (n, n_tickers) array, oldest first and this close last (fewer rows at the start;
    NaN before a ticker's first price).
``bar.prob_rise()``, ``bar.predictive()``
    the forecast's probability that the held return is positive, from its own density (normal, Student-t with
    ``bar.dof``, or an ensemble's mixture, ``bar.members``), and that density itself (``cdf``, ``ppf``,
    ``interval``).
``bar.active``
    True for the tickers that trade at this close (listed, with a usable forecast); per-asset rules share the
    equity among them.
``bar.covariance()``
    the forecast covariance of the simple returns, (n_tickers, n_tickers): the forecasts' sds around a shrunk
    correlation of past returns (``strategies.covariance``); ``strategies.portfolio`` has risk parity, minimum
    variance and mean-variance weights from it.

What the weights mean:

- **NaN keeps the position** of that ticker as it is: no order. Return NaN where the rule has nothing to say (a
  missing forecast, or a band in which it holds on).
- ``sleeve=True`` (the default, for per-asset rules): each weight is divided by the number N of active tickers,
  so that they share the equity in N equal sleeves and a weight of 1 puts a whole sleeve in its ticker.
  ``sleeve=False`` (cross-sectional rules): the weights are shares of the whole equity, as returned.
- ``--no-short`` turns negative weights into 0; the band and the costs are the backtest's options.

Anything else is refused in one line: a rule that raises, or returns anything but one finite number (or NaN) per
ticker, stops the backtest with the file, the line and what to fix. This file is not imported by qtrade; it is
loaded when named, as any rules file is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from strategies import Bar, Param, register


def _hysteresis_check(params: dict[str, Any]) -> str | None:
    if not 0.0 <= params["leave"] <= params["enter"] <= 1.0:
        return "need 0 <= leave <= enter <= 1, for example enter=0.6 leave=0.5"
    return None if params["weight"] > 0 else "weight must be positive"


@register(
    "hysteresis",
    "long when the probability of a rise reaches enter, out when it falls below leave, held in between",
    check=_hysteresis_check,
    enter=Param(0.6, "go long when the forecast's P(rise) is at least this"),
    leave=Param(0.5, "go flat when P(rise) is below this"),
    weight=Param(1.0, "weight when long, as a share of the ticker's sleeve"),
)
def hysteresis(bar: Bar, *, enter: float, leave: float, weight: float) -> np.ndarray:
    """A probability threshold with a band: between ``leave`` and ``enter`` (and without a forecast) the
    position is kept, returned as NaN, so that a probability wavering around one threshold does not trade daily."""
    p = bar.prob_rise()  # NaN where the forecast cannot be used
    w = np.full_like(bar.mean, np.nan)  # NaN: keep what is held
    w[p >= enter] = weight
    w[p < leave] = 0.0  # NaN compares False, so a missing forecast keeps the position
    return w


@register(
    "proportional",
    "long only, weights proportional to the forecast's positive mean / sd, summing to gross",
    sleeve=False,
    check=lambda p: None if p["gross"] > 0 else "gross must be positive",
    gross=Param(1.0, "the weights' sum, a share of the whole equity"),
)
def proportional(bar: Bar, *, gross: float) -> np.ndarray:
    """Cross-sectional: each ticker gets ``gross * s_i / sum(s)`` with ``s = max(mean / sd, 0)``; all flat when no
    forecast is positive; a ticker without a forecast keeps its position and the others share ``gross``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.maximum(bar.mean / np.sqrt(bar.variance), 0.0)
    known = np.isfinite(score)  # a missing mean, or a missing, zero or negative variance, is not
    if not known.any():
        return np.full_like(bar.mean, np.nan)
    total = score[known].sum()
    w = np.full_like(bar.mean, np.nan)
    w[known] = gross * score[known] / total if total > 0 else 0.0
    return w
