"""The CRPS of Student-t mixtures near dof 2, against the integral of its definition computed independently."""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import pairwise

import numpy as np
import pytest
from scipy import integrate, special

from forecasting.model.distributions import Predictive


def _mixture_cdf(means: list[float], sds: list[float], dofs: list[float]) -> Callable[[float], float]:
    """The equal-weight mixture's distribution function, written from the Student-t's own definition.

    A Student-t with variance ``sd**2`` and ``dof`` degrees of freedom has scale ``sd * sqrt((dof - 2) / dof)``;
    its distribution function at standardised ``z`` is ``1 - I_{dof / (dof + z^2)}(dof / 2, 1 / 2) / 2`` for
    ``z >= 0`` (the regularised incomplete beta function), mirrored for ``z < 0``; a normal is ``Phi(z)``.
    """

    def cdf(x: float) -> float:
        total = 0.0
        for m, sd, d in zip(means, sds, dofs, strict=True):
            if math.isinf(d):
                total += 0.5 * math.erfc(-(x - m) / (sd * math.sqrt(2)))
                continue
            z = (x - m) / (sd * math.sqrt((d - 2) / d))
            tail = 0.5 * float(special.betainc(d / 2, 0.5, d / (d + z * z)))
            total += 1 - tail if z >= 0 else tail
        return total / len(means)

    return cdf


def _crps_by_definition(f: Callable[[float], float], y: float, knots: list[float]) -> float:
    """The integral of (F(x) - 1{x >= y})^2 over the line, split at y and at every component's location."""
    points = sorted({*knots, y})
    opts = {"limit": 4000, "epsabs": 1e-13, "epsrel": 1e-12}
    total = integrate.quad(lambda x: f(x) ** 2, -np.inf, points[0], **opts)[0]
    total += integrate.quad(lambda x: (1 - f(x)) ** 2, points[-1], np.inf, **opts)[0]
    for a, b in pairwise(points):
        total += integrate.quad(lambda x: (f(x) - (x >= y)) ** 2, a, b, **opts)[0]
    return total


@pytest.mark.parametrize("dof", [2.01, 2.5, 3.0, 5.0])
@pytest.mark.parametrize(
    ("means", "sds"),
    [
        ([0.0, 5.0], [1.0, 1.0]),  # two modes 5 sd apart: 1.8e-2 relative error before (dof 2.01)
        ([-5.0, 0.0, 5.0], [1.0, 1.0, 1.0]),  # three modes, one at the mixture's mean: 0.13 before
        ([0.0, 0.02, -0.01], [1.0, 1.1, 0.9]),  # an ensemble whose members roughly agree
        ([0.0, 0.5], [0.1, 10.0]),  # scales 100 times apart
    ],
)
def test_student_t_mixture_crps_matches_the_definition_to_1e_8_from_dof_2_01(
    dof: float, means: list[float], sds: list[float]
) -> None:
    k = len(means)
    p = Predictive(np.array(means)[:, None], np.array(sds)[:, None] ** 2, np.full((k, 1), dof))
    cdf = _mixture_cdf(means, sds, [dof] * k)
    for y in (-12.0, -0.3, 0.0, 2.5, 5.0, 40.0):
        want = _crps_by_definition(cdf, y, means)
        assert abs(p.crps(np.array([y]))[0] - want) <= 1e-8 * want, (dof, means, y)


def test_mixed_normal_and_near_dof_2_components_and_many_rows_at_once() -> None:
    means, sds, dofs = [0.0, 5.0, -1.0], [1.0, 2.0, 0.5], [2.01, np.inf, 2.2]
    cdf = _mixture_cdf(means, sds, dofs)
    ys = np.array([-30.0, -1.0, 0.2, 4.0, 9.0])
    n = len(ys)
    p = Predictive(
        np.repeat(np.array(means)[:, None], n, 1),
        np.repeat(np.array(sds)[:, None] ** 2, n, 1),
        np.repeat(np.array(dofs)[:, None], n, 1),
    )
    want = np.array([_crps_by_definition(cdf, float(y), means) for y in ys])
    np.testing.assert_allclose(p.crps(ys), want, rtol=1e-8, atol=0)
