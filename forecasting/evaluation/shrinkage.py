"""Shrinking the forecast mean towards zero, by a factor chosen on the validation block.

A daily return's mean is small beside its noise, and a network's mean forecast can score worse than a zero mean
(an R2 against zero below 0). The shrunk forecast scales the mean by ``k`` in [0, 1] (0: a zero mean, 1: the
network's own) and leaves the spread as it is: every component of a mixture is shifted by the same
``(k - 1) * mean``, so the variance, the degrees of freedom and the ensemble's spread stay. ``k`` is chosen by
the forecast's own NLL on the validation block over the grid 0, 0.1, ..., 1: the NLL judges the whole density
with the mean moved, as the model's training loss does, where the MSE of the mean alone would ignore that a
shift matters less where the forecast variance is wide. The test block never takes part in the choice.

Examples
--------
>>> p = Predictive.single([0.02, -0.01], [1e-4, 1e-4])
>>> shrink(p, 0.5).mean.tolist(), shrink(p, 0.5).var.tolist()
([0.01, -0.005], [0.0001, 0.0001])
>>> choice = choose_shrinkage(p, np.array([0.0, 0.0]))
>>> choice.factor, round(choice.val_nll[1.0] - choice.val_nll[0.0], 3)
(0.0, 1.25)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from forecasting.errors import ConfigError
from forecasting.model.distributions import Predictive

__all__ = ["SHRINKAGE_GRID", "Shrinkage", "choose_shrinkage", "parse_shrinkage", "resolve", "shrink"]

SHRINKAGE_GRID = tuple(round(0.1 * i, 1) for i in range(11))


def parse_shrinkage(value: str | float) -> str | float:
    """``auto`` (chosen on the validation block), ``none`` (the network's mean as it is) or a factor in [0, 1].

    >>> parse_shrinkage("AUTO"), parse_shrinkage("none"), parse_shrinkage("0.25"), parse_shrinkage(1)
    ('auto', 'none', 0.25, 1.0)
    """
    if isinstance(value, str) and value.strip().lower() in ("auto", "none"):
        return value.strip().lower()
    try:
        k = float(value)
    except (TypeError, ValueError):
        k = float("nan")
    if not 0 <= k <= 1:
        raise ConfigError(f"--mean-shrinkage {value!r} is not known; use auto, none or a factor from 0 to 1")
    return k


def shrink(p: Predictive, k: float) -> Predictive:
    """``p`` with its mean scaled by ``k``: every component shifted by ``(k - 1)`` times the mixture's mean."""
    if k == 1:
        return p
    return Predictive(p.means + (k - 1.0) * p.mean, p.variances, p.dofs)


@dataclass(frozen=True)
class Shrinkage:
    """The factor applied to the mean, how it was set (``auto``, ``none`` or ``fixed``) and, when chosen, the
    validation NLL at every factor of the grid."""

    factor: float
    mode: str
    val_nll: dict[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"factor": self.factor, "mode": self.mode}
        if self.val_nll is not None:
            out["chosen_by"] = "NLL of the forecast density on the validation block, mean scaled, spread kept"
            out["val_nll"] = {f"{k:.1f}": v for k, v in self.val_nll.items()}
        return out


def choose_shrinkage(p: Predictive, y: ArrayLike, grid: tuple[float, ...] = SHRINKAGE_GRID) -> Shrinkage:
    """The factor of ``grid`` with the lowest mean NLL of ``shrink(p, k)`` at the realised ``y`` (validation rows);
    a tie goes to the larger factor, the smaller change."""
    y = np.asarray(y, dtype=float)
    if not len(y):
        raise ConfigError(
            "--mean-shrinkage auto needs validation rows with a realised return; give more data or a fixed factor"
        )
    nll = {float(k): float(np.mean(-shrink(p, k).logpdf(y))) for k in grid}
    best = min(sorted(nll, reverse=True), key=lambda k: nll[k])
    return Shrinkage(best, "auto", nll)


def resolve(setting: str | float, p: Predictive | None = None, y: ArrayLike | None = None) -> Shrinkage:
    """The shrinkage a setting gives: the factor chosen on ``p`` and ``y`` for ``auto``, else the fixed one."""
    if setting == "auto":
        if p is None or y is None:
            raise ValueError("auto shrinkage needs the validation forecasts and returns")
        return choose_shrinkage(p, y)
    if setting == "none":
        return Shrinkage(1.0, "none")
    return Shrinkage(float(setting), "fixed")
