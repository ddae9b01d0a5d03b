"""The model confidence set of Hansen, Lunde and Nason (2011) over forecasters' daily losses.

The set, at size ``size``, holds the best model (the lowest expected loss) with probability ``1 - size``: a model is
eliminated only when the data show it worse than the others still in the set. It is computed by arch's
:class:`arch.bootstrap.MCS` (range statistic ``T_R``, elimination by the largest standardised pairwise loss
difference) with a stationary bootstrap of the dates, so that a day's losses move together across models and
the dependence between days is kept within blocks.

The block length is chosen from the data: the mean block length of the stationary bootstrap that Politis and
White (2004, corrected by Patton, Politis and White 2009; arch's :func:`arch.bootstrap.optimal_block_length`)
give for each pairwise loss difference ``L_i - L_j``, the series whose means the range statistic compares. One
bootstrap must serve every pair, and a block too short understates the variance of a persistent difference (a
set too small), so the longest is taken, rounded up; at least the forecast horizon (a ``h``-step target's
errors overlap for ``h - 1`` days) and at most ``sqrt(T)``, arch's own default, so that one very persistent pair
(the historical variance against a volatility model, whose loss difference follows the volatility regime)
cannot leave the bootstrap a handful of blocks.

Models with identical losses on every date cannot be told apart by any test, and the bootstrap's variance of
their difference is 0: they enter the computation once and share its p-value (``identical``).

Examples
--------
>>> rng = np.random.default_rng(0)
>>> y = rng.standard_normal(500)
>>> losses = pd.DataFrame({"good": y**2, "same": y**2 + rng.normal(0, 0.01, 500), "bad": (y - 1.0) ** 2})
>>> r = model_confidence_set(losses, reps=200, labels={"good": "good", "same": "same", "bad": "bad"})
>>> r.included, r.pvalues["bad"]
(('good', 'same'), 0.0)
>>> r.meaning
'The 90% model confidence set holds good and same: the data cannot tell them apart on the loss; bad is worse.'
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["MIN_DATES", "ModelConfidenceSet", "mcs_block_length", "model_confidence_set"]

MIN_DATES = 20  # fewer dates than this give a bootstrap of a few blocks: no set is computed


@dataclass(frozen=True)
class ModelConfidenceSet:
    """The model confidence set of one loss table and how it was computed.

    Attributes
    ----------
    models
        Every model compared, in the order given.
    included, excluded
        The models in the set (MCS p-value above ``size``) and out of it, in the order of ``models``.
    pvalues
        Each model's MCS p-value: the largest size at which it would still be in the set.
    size
        The test size; the set has confidence ``1 - size``.
    reps, block_size, seed
        Bootstrap replications, the stationary bootstrap's mean block length, the seed.
    block_size_estimate
        The longest Politis-White block length among the pairwise loss differences, before rounding and the
        bounds (``None`` when no pair varies).
    n_dates
        Dates (rows) in the loss table.
    identical
        Each model whose losses equal an earlier model's on every date, mapped to that model.
    meaning
        One sentence that says what the set means.
    """

    models: tuple[str, ...]
    included: tuple[str, ...]
    excluded: tuple[str, ...]
    pvalues: Mapping[str, float]
    size: float
    reps: int
    block_size: int
    block_size_estimate: float | None
    seed: int
    n_dates: int
    identical: Mapping[str, str] = field(default_factory=dict)
    method: str = "R"
    bootstrap: str = "stationary"
    meaning: str = ""

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dictionary of every field, the settings under ``settings``."""
        return {
            "meaning": self.meaning,
            "included": list(self.included),
            "excluded": list(self.excluded),
            "pvalues": dict(self.pvalues),
            "identical": dict(self.identical),
            "n_dates": self.n_dates,
            "settings": {
                "size": self.size,
                "confidence": 1 - self.size,
                "statistic": "range (T_R)" if self.method == "R" else "max (T_max)",
                "bootstrap": self.bootstrap,
                "block_size": self.block_size,
                "block_size_estimate": self.block_size_estimate,
                "block_rule": "longest Politis-White stationary-bootstrap block length of the pairwise loss "
                "differences, rounded up, at least the forecast horizon and at most sqrt(dates)",
                "reps": self.reps,
                "seed": self.seed,
            },
        }


def mcs_block_length(losses: pd.DataFrame, *, horizon: int = 1) -> tuple[int, float | None]:
    """The stationary bootstrap's mean block length for :func:`model_confidence_set`, and the raw estimate.

    The longest Politis-White block length of the pairwise loss differences (constant ones left out), rounded
    up, bounded below by ``horizon`` and above by ``sqrt(T)``.

    Examples
    --------
    >>> e = np.random.default_rng(1).standard_normal((400, 2))
    >>> ar = np.zeros(400)  # a persistent difference, AR(1) with coefficient 0.9
    >>> for t in range(1, 400):
    ...     ar[t] = 0.9 * ar[t - 1] + e[t, 1]
    >>> [mcs_block_length(pd.DataFrame({"a": d, "b": 0.0}))[0] for d in (e[:, 0], ar)]
    [2, 19]
    """
    from arch.bootstrap import optimal_block_length

    values = losses.to_numpy(dtype=float)
    n = values.shape[0]
    pairs = [values[:, i] - values[:, j] for i, j in itertools.combinations(range(values.shape[1]), 2)]
    varying = [d for d in pairs if np.ptp(d) > 0]
    estimate = None
    if varying and n >= 2:
        with np.errstate(invalid="ignore", divide="ignore"):
            lengths = optimal_block_length(np.column_stack(varying))["stationary"].to_numpy(dtype=float)
        lengths = lengths[np.isfinite(lengths)]
        estimate = float(lengths.max()) if lengths.size else None
    upper = max(1, math.isqrt(n))
    block = math.ceil(estimate) if estimate is not None else 1
    return int(min(max(block, horizon, 1), max(upper, horizon))), estimate


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _meaning(
    included: list[str],
    excluded: list[str],
    pvalues: Mapping[str, float],
    *,
    size: float,
    head: str | None,
    labels: Mapping[str, str],
    loss: str,
) -> str:
    level = f"{100 * (1 - size):.3g}%"
    name = [labels.get(m, m) for m in included]
    start = f"The {level} model confidence set holds"
    if not excluded:
        return f"{start} every model ({_join(name)}): the data cannot tell them apart on the {loss}."
    out = _join([labels.get(m, m) for m in excluded])
    worse = f"{out} {'is' if len(excluded) == 1 else 'are'} worse"
    if head is not None and included == [head]:
        nearest = max(excluded, key=lambda m: pvalues[m])
        return (
            f"{start} only {name[0]}: no other model is as good on the {loss} (the nearest, "
            f"{labels.get(nearest, nearest)}, has MCS p = {pvalues[nearest]:.2g})."
        )
    if head is not None and head in excluded:
        return (
            f"{start} {_join(name)}: {labels.get(head, head)} is worse on the {loss} than the best of them "
            f"(its MCS p = {pvalues[head]:.2g})."
        )
    if len(included) == 1:
        return f"{start} only {name[0]}: every other model is worse on the {loss}."
    return f"{start} {_join(name)}: the data cannot tell them apart on the {loss}; {worse}."


def model_confidence_set(
    losses: pd.DataFrame,
    *,
    size: float = 0.10,
    reps: int = 1000,
    block_size: int | None = None,
    horizon: int = 1,
    seed: int = 0,
    head: str | None = None,
    labels: Mapping[str, str] | None = None,
    loss: str = "loss",
) -> ModelConfidenceSet:
    """Hansen, Lunde and Nason's model confidence set of the columns of ``losses`` (arch's ``MCS``).

    Parameters
    ----------
    losses
        One row per date in time order, one column per model; lower is better. For a panel, each date's
        cross-sectional mean loss.
    size
        The test size: the set holds the best model with probability ``1 - size``.
    reps
        Bootstrap replications.
    block_size
        The stationary bootstrap's mean block length; ``None`` chooses it with :func:`mcs_block_length`.
    horizon
        Steps from a forecast to the end of its target: the least block length chosen.
    seed
        The bootstrap's seed.
    head
        The model the sentence is about (the forecaster being judged), if any.
    labels
        Names of the models for the sentence.
    loss
        The loss in words, for the sentence ("log score").

    Returns
    -------
    ModelConfidenceSet

    Raises
    ------
    ValueError
        With fewer than 2 models, fewer than :data:`MIN_DATES` dates, or a loss that is not finite.
    """
    from arch.bootstrap import MCS

    if losses.shape[1] < 2:
        raise ValueError(f"a model confidence set compares 2 models or more, got {losses.shape[1]}")
    if len(losses) < MIN_DATES:
        raise ValueError(f"a model confidence set needs at least {MIN_DATES} dates of losses, got {len(losses)}")
    values = losses.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise ValueError("every loss must be finite; leave out the dates where some model has none")
    if not 0.0 < size < 1.0:
        raise ValueError(f"the size must lie strictly between 0 and 1, got {size}; pass e.g. 0.10")
    models = [str(c) for c in losses.columns]
    if len(set(models)) != len(models):
        raise ValueError("every model needs a column of its own; the loss table repeats a name")
    named = pd.DataFrame(values, index=losses.index, columns=models)
    identical: dict[str, str] = {}
    for j, m in enumerate(models):
        for k in models[:j]:
            if k not in identical and np.array_equal(named[m].to_numpy(), named[k].to_numpy()):
                identical[m] = k
                break
    distinct = [m for m in models if m not in identical]
    estimate: float | None
    if block_size is None:
        block_size, estimate = mcs_block_length(named[distinct], horizon=horizon)
    else:
        estimate = None
    if len(distinct) >= 2:
        mcs = MCS(named[distinct], size, reps=reps, block_size=block_size, method="R", seed=seed)
        mcs.compute()
        found = {str(m): float(p) for m, p in mcs.pvalues["Pvalue"].items()}
    else:
        found = {distinct[0]: 1.0}
    pvalues = {m: found[identical.get(m, m)] for m in models}
    included = [m for m in models if pvalues[m] > size]
    excluded = [m for m in models if pvalues[m] <= size]
    return ModelConfidenceSet(
        models=tuple(models),
        included=tuple(included),
        excluded=tuple(excluded),
        pvalues=pvalues,
        size=float(size),
        reps=int(reps),
        block_size=int(block_size),
        block_size_estimate=estimate,
        seed=seed,
        n_dates=len(named),
        identical=identical,
        meaning=_meaning(
            included, excluded, pvalues, size=size, head=head, labels=labels or {m: m for m in models}, loss=loss
        ),
    )
