"""What the fits see: the scaler and GARCH are fitted on real rows of the fold's own training block only.

An interpolated value borrows the next real price. When a gap straddles the end of the training block, the
values filled into its last days borrow a price from after it; a fit that used them would move when that later
price moves. The tests build exactly that gap and then move the borrowed price.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.evaluation.baselines import garch11, log_returns
from forecasting.market.cleaning import clean_panel
from forecasting.market.synthetic import synthetic_panel
from forecasting.preparation.dataset import prepare
from forecasting.preparation.features import build_features
from forecasting.preparation.schedule import Schedule, walk_forward_folds
from forecasting.preparation.splits import TRAIN, chronological_split


def _gap_at_training_end(seed: int = 3) -> tuple[pd.DataFrame, int, pd.DatetimeIndex]:
    panel = synthetic_panel(2, 400, seed=seed)
    dates = panel.index.get_level_values("date").unique()
    fold = chronological_split(dates)
    last = int(np.flatnonzero(fold.labels == TRAIN)[-1])
    for d in dates[last - 1 : last + 1]:  # the last two training days of T0000 are missing: filled later
        panel.loc[(d, "T0000"), ["open", "high", "low", "close"]] = np.nan
    return panel, last, dates


def _moved_after(panel: pd.DataFrame, dates: pd.DatetimeIndex, day: int) -> pd.DataFrame:
    """Every price of T0000 from ``day`` on moved by 7%: the price the gap's filled values borrow."""
    moved = panel.copy()
    rows = (moved.index.get_level_values("ticker") == "T0000") & (moved.index.get_level_values("date") >= dates[day])
    moved.loc[rows, ["open", "high", "low", "close"]] *= 1.07
    return moved


def test_the_scaler_ignores_values_interpolated_from_after_the_training_block() -> None:
    panel, last, dates = _gap_at_training_end()
    moved = _moved_after(panel, dates, last + 1)
    scalers = []
    for p in (panel, moved):
        cube = build_features(clean_panel(p))
        assert not cube.real[0, last - 1 : last + 1].any()  # the gap was filled, and is known to be
        scalers.append(prepare(cube, chronological_split(cube.dates), window=10).scaler)
    a, b = scalers
    assert np.array_equal(a.mean, b.mean) and np.array_equal(a.std, b.std)
    assert a.target_scale == b.target_scale


def test_a_rolling_folds_scaler_starts_at_its_own_training_start() -> None:
    panel = synthetic_panel(2, 500, seed=4)
    dates = panel.index.get_level_values("date").unique()
    oos = dates[len(dates) - 75]
    folds = walk_forward_folds(
        dates, Schedule(oos_start=oos, refit_every="25", train_window=300, val_days=60), embargo=2
    )
    last_fold = folds[-1]
    start = int(np.flatnonzero(last_fold.labels == TRAIN)[0])
    assert start > 20  # a rolling fold's training block starts after the data does
    early = panel.copy()
    before = early.index.get_level_values("date") < dates[start - 1]
    early.loc[before, "volume"] *= 3.0  # a change before the fold's training block (its first row included)
    early.loc[before, ["open", "high", "low", "close"]] *= np.exp(
        np.random.default_rng(0).normal(0, 0.02, (before.sum(), 1))
    )
    fitted = [prepare(build_features(clean_panel(p)), last_fold, window=10).scaler for p in (panel, early)]
    assert np.array_equal(fitted[0].mean, fitted[1].mean) and np.array_equal(fitted[0].std, fitted[1].std)
    # the change does reach an expanding fold
    expanding = walk_forward_folds(dates, Schedule(oos_start=oos, refit_every="25", val_days=60), embargo=2)[-1]
    grown = [prepare(build_features(clean_panel(p)), expanding, window=10).scaler for p in (panel, early)]
    assert not np.array_equal(grown[0].mean, grown[1].mean)


def test_garch_is_fitted_without_values_interpolated_from_after_the_training_block() -> None:
    panel, last, dates = _gap_at_training_end(seed=5)
    out = []
    for p in (panel, _moved_after(panel, dates, last + 1)):
        cube = build_features(clean_panel(p))
        returns = log_returns(cube.price)
        real = cube.real.copy()
        real[:, 1:] &= cube.real[:, :-1]
        _, var = garch11(returns, last, horizon=2, fit_ok=real)
        out.append(var)
    # the forecasts at training origins before the gap use returns the move cannot reach, and parameters fitted
    # without the filled days: identical
    assert np.array_equal(out[0][:, : last - 1], out[1][:, : last - 1], equal_nan=True)
    # without the guard the filled days enter the fit and the parameters move with the later price
    unguarded = []
    for p in (panel, _moved_after(panel, dates, last + 1)):
        cube = build_features(clean_panel(p))
        unguarded.append(garch11(log_returns(cube.price), last, horizon=2)[1])
    assert not np.array_equal(unguarded[0][0, : last - 1], unguarded[1][0, : last - 1])
