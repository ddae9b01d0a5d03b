from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.preparation.schedule import Schedule, walk_forward_folds
from forecasting.preparation.splits import TEST, TRAIN, UNUSED, VAL, chronological_split
from forecasting.preparation.windows import valid_ends, window_view


def test_windows_equal_a_naive_copy_and_are_views() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 40, 6)).astype(np.float32)
    w = 7
    view = window_view(x, w)
    naive = np.stack([np.stack([x[i, s : s + w] for s in range(40 - w + 1)]) for i in range(3)])
    np.testing.assert_array_equal(view, naive)
    assert np.shares_memory(view, x)
    assert view.base is not None and view.nbytes > x.nbytes  # logical size grows, storage does not


def test_valid_ends_need_a_full_finite_window_and_a_real_origin() -> None:
    x = np.ones((1, 12, 2))
    x[0, 5, 1] = np.nan
    origin_ok = np.ones((1, 12), dtype=bool)
    origin_ok[0, 11] = False
    ok = valid_ends(x, origin_ok, 3)
    assert ok[0].tolist() == [False, False, True, True, True, False, False, False, True, True, True, False]


def test_chronological_split_is_ordered_with_embargo() -> None:
    dates = pd.bdate_range("2020-01-01", periods=200)
    fold = chronological_split(dates, val=0.15, test=0.15, embargo=2)
    labels = fold.labels
    assert (labels[:138] == TRAIN).all() and (labels[138:140] == UNUSED).all()
    assert (labels[140:168] == VAL).all() and (labels[168:170] == UNUSED).all()
    assert (labels[170:] == TEST).all()


@pytest.mark.parametrize("train_window", [None, 120])
def test_walk_forward_folds_cover_the_out_of_sample_period_and_train_before_it(train_window: int | None) -> None:
    dates = pd.bdate_range("2020-01-01", periods=300)
    schedule = Schedule(oos_start=dates[255], refit_every="15", train_window=train_window, val_days=20)
    folds = walk_forward_folds(dates, schedule, embargo=1)
    tested = np.concatenate([np.flatnonzero(f.labels == TEST) for f in folds])
    assert tested.tolist() == list(range(255, 300))
    assert [int(np.flatnonzero(f.labels == TEST)[0]) for f in folds] == [255, 270, 285]
    for f in folds:
        test_start = np.flatnonzero(f.labels == TEST)[0]
        val = np.flatnonzero(f.labels == VAL)
        assert np.flatnonzero(f.labels == TRAIN).max() == val.min() - 2  # one embargo date between
        assert val.max() == test_start - 2 and len(val) == 20
    train_sizes = [int((f.labels == TRAIN).sum()) for f in folds]
    if train_window is None:
        assert train_sizes[0] < train_sizes[1] < train_sizes[2]
    else:
        assert train_sizes == [120, 120, 120]
