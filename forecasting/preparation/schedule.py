"""The walk-forward schedule: when the models are refitted, and on which blocks.

A walk-forward run forecasts every origin from ``oos_start`` to the end of the data out of sample. The origins
are cut into folds at refit dates: the first at ``oos_start``, then every ``refit_every`` (a number of trading
days, or months and years of the calendar: ``3m``, ``6m``, ``1y``; a refit falls on the first trading day on or
after each step). At each refit the models train on the dates before it: a validation block of ``val_days``
origins ends ``embargo`` dates before the refit, and the training block ends ``embargo`` dates before the
validation block; it starts at the data's first date (``train_window`` ``None``, expanding) or ``train_window``
dates before its end (rolling). With an embargo of at least the target's horizon, every training and validation
target is realised before the refit date, so a fold's models use no price dated on or after its first
forecast origin (:func:`trained_through`).

Examples
--------
>>> dates = pd.bdate_range("2020-01-01", periods=600)
>>> schedule = Schedule(oos_start=pd.Timestamp("2021-06-01"), refit_every="6m", val_days=60)
>>> folds = walk_forward_folds(dates, schedule, embargo=2)
>>> [f"{f.block(TEST)[0]:%Y-%m-%d}" for f in folds]
['2021-06-01', '2021-12-01']
>>> print(folds[1].describe())
train 2020-01-01..2021-09-01 (436 days), val 2021-09-06..2021-11-26 (60 days), test 2021-12-01..2022-04-19 (100 days)
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError
from forecasting.preparation.splits import TEST, TRAIN, UNUSED, VAL, Fold

__all__ = ["DEFAULT_REFIT", "DEFAULT_VAL_DAYS", "Schedule", "parse_span", "trained_through", "walk_forward_folds"]

DEFAULT_REFIT = "1y"
DEFAULT_VAL_DAYS = 252  # a year of origins: the validation block early stopping and the shrinkage factor read

_SPAN = re.compile(r"^\s*(\d+)\s*([dmy]?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Schedule:
    """When and on what a walk-forward run refits (see the module's text)."""

    oos_start: pd.Timestamp
    refit_every: str = DEFAULT_REFIT
    train_window: int | None = None
    val_days: int = DEFAULT_VAL_DAYS

    def __post_init__(self) -> None:
        parse_span(self.refit_every)
        if self.train_window is not None and self.train_window < 1:
            raise ConfigError(f"--train-window {self.train_window} must be expanding or 1 trading day or more")
        if self.val_days < 1:
            raise ConfigError(f"--val-days {self.val_days} must be 1 or more")

    def describe(self) -> str:
        """The schedule in words.

        >>> print(Schedule(pd.Timestamp("2005-01-01"), "3m", val_days=100).describe())
        out of sample from 2005-01-01, refit every 3 months, expanding training window, 100 validation days
        """
        k, unit = parse_span(self.refit_every)
        noun = {"d": "trading day", "m": "month", "y": "year"}[unit]
        window = "expanding" if self.train_window is None else f"rolling {self.train_window}-day"
        return (
            f"out of sample from {self.oos_start:%Y-%m-%d}, refit every {k} {noun}{'s' if k > 1 else ''}, {window} "
            f"training window, {self.val_days} validation days"
        )


def parse_span(span: str | int) -> tuple[int, str]:
    """``(k, unit)`` of a refit span: ``d`` (trading days; a bare number), ``m`` (months) or ``y`` (years).

    >>> parse_span("63"), parse_span("3m"), parse_span("1Y")
    ((63, 'd'), (3, 'm'), (1, 'y'))
    """
    match = _SPAN.match(str(span))
    if match is None or int(match.group(1)) < 1:
        raise ConfigError(
            f"--refit-every {span!r} is not a span; give a number of trading days (63) or months or years (3m, 1y)"
        )
    return int(match.group(1)), (match.group(2) or "d").lower()


def refit_indices(dates: pd.DatetimeIndex, schedule: Schedule) -> np.ndarray:
    """The index in ``dates`` of each refit: the first date on or after ``oos_start``, then one per span."""
    first, last = dates[0], dates[-1]
    if not first < schedule.oos_start <= last:
        raise ConfigError(
            f"--oos-start {schedule.oos_start:%Y-%m-%d} is outside the data, which runs from {first:%Y-%m-%d} to "
            f"{last:%Y-%m-%d}; give a date after the first and on or before the last"
        )
    start = int(dates.searchsorted(schedule.oos_start))
    k, unit = parse_span(schedule.refit_every)
    if unit == "d":
        return np.arange(start, len(dates), k)
    step = pd.DateOffset(months=k) if unit == "m" else pd.DateOffset(years=k)
    points: list[int] = []
    n = 0
    while True:
        at = int(dates.searchsorted(schedule.oos_start + n * step))
        if at >= len(dates):
            break
        if not points or at > points[-1]:
            points.append(at)
        n += 1
    return np.asarray(points, dtype=int)


def walk_forward_folds(
    dates: pd.DatetimeIndex, schedule: Schedule, *, embargo: int, first_origin: int = 0, train_dates: int = 1
) -> list[Fold]:
    """One :class:`Fold` per refit: its training and validation blocks before the refit, its test block up to the
    next refit (see the module's text).

    Refused, naming the fewest days needed, when a fold's training block would hold fewer than ``train_dates``
    origins from ``first_origin`` on (the first date with a whole window, and the baselines' fits need about 100
    returns) or its validation block would start before ``first_origin``.
    """
    if embargo < 0:
        raise ConfigError(f"embargo must be >= 0, got {embargo}")
    refits = refit_indices(dates, schedule)
    bounds = [*refits.tolist(), len(dates)]
    folds = []
    for k, (refit, end) in enumerate(itertools.pairwise(bounds)):
        val_start = refit - embargo - schedule.val_days
        train_end = val_start - embargo  # one past the last training origin
        train_start = 0 if schedule.train_window is None else max(0, train_end - schedule.train_window)
        held = train_end - max(train_start, first_origin)
        if held < train_dates:
            _refuse(dates, schedule, k, refit, held, first_origin, train_dates, embargo)
        labels = np.full(len(dates), UNUSED, dtype=np.int8)
        labels[train_start:train_end] = TRAIN
        labels[val_start : refit - embargo] = VAL
        labels[refit:end] = TEST
        folds.append(Fold(labels, dates))
    return folds


def _refuse(
    dates: pd.DatetimeIndex,
    schedule: Schedule,
    k: int,
    refit: int,
    held: int,
    first_origin: int,
    train_dates: int,
    embargo: int,
) -> None:
    """The one line that says why fold ``k`` cannot train, and the earliest --oos-start (or the window) that can."""
    if schedule.train_window is not None and schedule.train_window < train_dates:
        raise ConfigError(
            f"--train-window {schedule.train_window} leaves each fold {schedule.train_window} training days, fewer "
            f"than the {train_dates} the fits need; give --train-window {train_dates} or more, or expanding"
        )
    need = first_origin + train_dates + 2 * embargo + schedule.val_days  # dates before the first refit
    earliest = f"{dates[need]:%Y-%m-%d}" if need < len(dates) else None
    fix = (
        f"give --oos-start {earliest} or later, or fewer --val-days"
        if earliest
        else "give more data or fewer --val-days"
    )
    raise ConfigError(
        f"the fold refitted on {dates[refit]:%Y-%m-%d} has {max(held, 0)} training days before its "
        f"{schedule.val_days} validation days; the models need {train_dates} after the first whole window, so "
        f"at least {need} trading days before the first refit: {fix}"
    )


def trained_through(fold: Fold, horizon: int) -> pd.Timestamp:
    """The last date whose prices a fold's models used: the price that realises its last validation (or training)
    target, ``horizon`` dates after that origin.

    >>> dates = pd.bdate_range("2020-01-01", periods=10)
    >>> labels = np.array([0, 0, 0, -1, -1, 1, 1, -1, -1, 2], dtype=np.int8)
    >>> f"{trained_through(Fold(labels, dates), 2):%Y-%m-%d}"
    '2020-01-13'
    """
    used = np.flatnonzero((fold.labels == TRAIN) | (fold.labels == VAL))
    return fold.dates[min(int(used[-1]) + horizon, len(fold.dates) - 1)]
