"""Chronological splits on the shared calendar (walk-forward folds: :mod:`forecasting.preparation.schedule`).

A split is an int8 label per date: :data:`TRAIN`, :data:`VAL`, :data:`TEST` or :data:`UNUSED`. Labels are
given to forecast *origins*; ``embargo`` dates are left unused before each validation and test block so that
no training target is realised inside the block that judges it. A target that ends ``horizon`` dates after its
origin (:mod:`forecasting.preparation.execution`: 2 for the default ``next-close``, 1 for ``same-close``) needs an
embargo of at least ``horizon``; :class:`forecasting.config.ForecastConfig` passes exactly that unless told
otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError

__all__ = ["SPLIT_NAMES", "TEST", "TRAIN", "UNUSED", "VAL", "Fold", "chronological_split", "minimum_dates"]

UNUSED, TRAIN, VAL, TEST = -1, 0, 1, 2
SPLIT_NAMES = {TRAIN: "train", VAL: "val", TEST: "test"}


@dataclass(frozen=True)
class Fold:
    """Split labels per date, with the dates that bound each block."""

    labels: np.ndarray
    dates: pd.DatetimeIndex

    def block(self, label: int) -> pd.DatetimeIndex:
        return self.dates[self.labels == label]

    @property
    def train_end(self) -> pd.Timestamp:
        return self.block(TRAIN)[-1]

    def describe(self) -> str:
        parts = []
        for label, name in SPLIT_NAMES.items():
            b = self.block(label)
            if len(b):
                parts.append(f"{name} {b[0]:%Y-%m-%d}..{b[-1]:%Y-%m-%d} ({len(b)} days)")
        return ", ".join(parts)


def chronological_split(dates: pd.DatetimeIndex, *, val: float = 0.15, test: float = 0.15, embargo: int = 1) -> Fold:
    """Train / validation / test blocks in time order, ``embargo`` dates dropped before each later block.

    Examples
    --------
    >>> dates = pd.bdate_range("2020-01-01", periods=100)
    >>> fold = chronological_split(dates, val=0.2, test=0.2, embargo=1)
    >>> [int((fold.labels == k).sum()) for k in (TRAIN, VAL, TEST)]
    [59, 19, 20]
    """
    n = len(dates)
    _check_fractions(val, test, embargo)
    n_test = round(n * test)
    n_val = round(n * val)
    test_start = n - n_test
    val_start = test_start - n_val
    labels = _labels(n, 0, val_start, test_start, n, embargo)
    return _fold(labels, dates)


def minimum_dates(
    first_origin: int, *, horizon: int, val: float = 0.15, test: float = 0.15, embargo: int = 1, train_dates: int = 0
) -> int:
    """The fewest dates a :func:`chronological_split` needs to hold a forecast with a realised target in each of
    its training, validation and test blocks, when the first possible origin is date ``first_origin`` (the
    window's length less one, plus the days features need before it), a target ends ``horizon`` dates after
    its origin and the training block must span at least ``train_dates`` dates (a baseline's fit).

    Examples
    --------
    >>> minimum_dates(9, horizon=2, embargo=2)  # a 10-day window from the first date, the next-close target
    18
    >>> minimum_dates(9, horizon=2, embargo=2, train_dates=113)  # and a training block the baselines fit on
    165
    """
    _check_fractions(val, test, embargo)

    def holds(n: int) -> bool:
        test_start = n - round(n * test)
        val_start = test_start - round(n * val)
        train_ok = val_start - embargo > first_origin and val_start - embargo >= train_dates
        val_ok = test_start - embargo > max(val_start, first_origin)
        test_ok = n - 1 - horizon >= max(test_start, first_origin)
        return train_ok and val_ok and test_ok

    # rounding the shares can make n work and n + 1 fail: the answer is the n from which every longer data set
    # works (checked over more than one rounding period)
    span = math.ceil(1 / min(val, test)) + 2
    n = first_origin + 1
    while not all(holds(m) for m in range(n, n + span)):
        n += 1
    return n


def _labels(n: int, train_start: int, val_start: int, test_start: int, test_end: int, embargo: int) -> np.ndarray:
    labels = np.full(n, UNUSED, dtype=np.int8)
    labels[train_start : max(train_start, val_start - embargo)] = TRAIN
    labels[val_start : max(val_start, test_start - embargo)] = VAL
    labels[test_start:test_end] = TEST
    return labels


def _fold(labels: np.ndarray, dates: pd.DatetimeIndex) -> Fold:
    for label, name in SPLIT_NAMES.items():
        if not (labels == label).any():
            raise ConfigError(f"the {name} block is empty with {len(dates)} dates; use more data or larger fractions")
    return Fold(labels, dates)


def _check_fractions(val: float, test: float, embargo: int) -> None:
    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise ConfigError(f"val={val} and test={test} must be in (0, 1) and sum below 1")
    if embargo < 0:
        raise ConfigError(f"embargo must be >= 0, got {embargo}")
