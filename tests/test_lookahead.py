"""Changing anything after a date T changes no input that a forecast made at or before T uses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.market.cleaning import clean_panel
from forecasting.market.synthetic import synthetic_panel
from forecasting.preparation.dataset import prepare
from forecasting.preparation.execution import DEFAULT_EXECUTION, EXECUTIONS, execution_mode
from forecasting.preparation.features import build_features
from forecasting.preparation.splits import chronological_split

WINDOW = 10


def _pipeline(panel: pd.DataFrame, execution: str = DEFAULT_EXECUTION):  # type: ignore[no-untyped-def]
    cube = build_features(clean_panel(panel, max_gap=5), execution=execution)
    fold = chronological_split(cube.dates, val=0.2, test=0.2, embargo=execution_mode(execution).horizon)
    return cube, prepare(cube, fold, WINDOW)


def _perturb_after(panel: pd.DataFrame, cut: pd.Timestamp, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = panel.copy()
    later = out.index.get_level_values("date") > cut
    k = int(later.sum())
    factor = np.exp(rng.normal(0, 0.2, k))
    for c in ("open", "high", "low", "close"):
        out.loc[later, c] = out.loc[later, c].to_numpy() * factor
    out.loc[later, "volume"] = rng.lognormal(10, 2, k).round()
    holes = rng.random(k) < 0.1
    out.loc[out.index[later][holes], ["close"]] = np.nan
    return out


@pytest.mark.parametrize("execution", EXECUTIONS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_perturbing_the_future_leaves_the_past_bit_identical(seed: int, execution: str) -> None:
    panel = synthetic_panel(4, 260, seed=seed, missing=0.03)  # gaps, so interpolation is exercised
    dates = panel.index.get_level_values("date").unique()
    cube, prep = _pipeline(panel, execution)
    horizon = execution_mode(execution).horizon
    # T anywhere after the training block: training-fitted statistics must not move either
    for cut_at in (200, 230, 255):
        cut = dates[cut_at]
        cube2, prep2 = _pipeline(_perturb_after(panel, cut, seed + cut_at), execution)
        upto = int(np.searchsorted(cube.dates, cut, side="right"))
        assert (cube2.dates[:upto] == cube.dates[:upto]).all()

        # scaler statistics: fitted on training rows only
        np.testing.assert_array_equal(prep.scaler.mean, prep2.scaler.mean)
        np.testing.assert_array_equal(prep.scaler.std, prep2.scaler.std)
        assert prep.scaler.target_scale == prep2.scaler.target_scale

        # every window ending at or before T, and which windows are valid there
        np.testing.assert_array_equal(prep.ends[:, :upto], prep2.ends[:, :upto])
        samples = np.argwhere(prep.ends[:, :upto])
        assert len(samples) > 500
        np.testing.assert_array_equal(prep.windows(samples), prep2.windows(samples))

        # features of every real (not interpolated) row at or before T
        real = cube.origin_ok[:, :upto]
        np.testing.assert_array_equal(cube.x[:, :upto][real], cube2.x[:, :upto][real])

        # a target ends `horizon` days after its origin: those of the last `horizon` origins up to T may move
        # (they are realised after T), no earlier one
        np.testing.assert_array_equal(cube.target[:, : upto - horizon], cube2.target[:, : upto - horizon])


@pytest.mark.parametrize("execution", EXECUTIONS)
def test_a_filled_row_is_never_an_origin_and_its_gap_closes_at_a_real_price(execution: str) -> None:
    panel = synthetic_panel(1, 80, seed=5)
    dates = panel.index.get_level_values("date").unique()
    panel.loc[(dates[40], "T0000"), "close"] = np.nan
    cube = build_features(clean_panel(panel), execution=execution)
    assert not cube.origin_ok[0, 40]
    assert cube.origin_ok[0, 41]
    # the filled day can neither start nor end a target: origin t's target spans days t+lag and t+lag+1
    lag = execution_mode(execution).lag
    assert np.isnan(cube.target[0, 39 - lag]) and np.isnan(cube.target[0, 40 - lag])
    assert np.isfinite(cube.target[0, 41 - lag]) and np.isfinite(cube.target[0, 38 - lag])


def test_features_are_invariant_to_rescaling_a_tickers_past() -> None:
    """A split adjustment decided later rescales the whole past; no feature may move."""
    panel = synthetic_panel(2, 60, seed=4)
    scaled = panel.copy()
    early = scaled.index.get_level_values("date") < scaled.index.get_level_values("date").unique()[30]
    for c in ("open", "high", "low", "close"):
        scaled.loc[early, c] *= 0.5
    scaled.loc[early, "volume"] *= 2.0
    a = build_features(clean_panel(panel))
    b = build_features(clean_panel(scaled))
    price = [0, 1, 2, 3, 5]
    np.testing.assert_allclose(
        np.delete(a.x[:, :, price], 30, axis=1), np.delete(b.x[:, :, price], 30, axis=1), rtol=1e-5, atol=1e-6
    )
