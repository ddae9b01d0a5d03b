"""From a cleaned panel to what a model trains on: scaled features, valid windows, split labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from forecasting.errors import DataError
from forecasting.preparation.features import FeatureCube
from forecasting.preparation.scaling import ZScoreScaler
from forecasting.preparation.splits import TRAIN, Fold
from forecasting.preparation.windows import valid_ends, window_view

__all__ = ["Prepared", "prepare"]


@dataclass(frozen=True)
class Prepared:
    """One fold's data, ready for a model.

    Attributes
    ----------
    x
        float32 (n_tickers, n_dates, n_features), scaled with ``scaler``; NaN left as NaN.
    ends
        bool (n_tickers, n_dates): a valid window of length ``window`` ends here (a forecast origin).
    labels
        int8 (n_dates,) split label of each date as origin (see :mod:`forecasting.preparation.splits`).
    """

    cube: FeatureCube
    fold: Fold
    scaler: ZScoreScaler
    window: int
    x: np.ndarray
    ends: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        return self.fold.labels

    def samples(self, label: int, *, with_target: bool = True) -> np.ndarray:
        """(k, 2) int64 array of (ticker, date) origins in the block ``label``, in date-major order."""
        mask = self.ends & (self.labels == label)[None, :]
        if with_target:
            mask &= np.isfinite(self.cube.target)
        t_idx, d_idx = np.nonzero(mask.T)  # date-major
        return np.stack([d_idx, t_idx], axis=1).astype(np.int64)

    def dataset(self, samples: np.ndarray, *, with_target: bool) -> Any:
        """A :class:`forecasting.model.training.WindowDataset` of ``samples``; targets divided by the target scale."""
        import torch

        from forecasting.model.training import WindowDataset

        self.check_finite(samples, with_target=with_target)
        y = self.cube.target[samples[:, 0], samples[:, 1]] / self.scaler.target_scale if with_target else None
        return WindowDataset(torch.from_numpy(self.x), samples, y, self.window)

    def check_finite(self, samples: np.ndarray, *, with_target: bool) -> None:
        """Refuse, naming the ticker and date, any window or target that is not finite after scaling.

        Cleaning and the window rules already keep them out; this is the last guard before the loss.
        """
        finite_rows = np.isfinite(self.x).all(axis=-1)
        count = np.concatenate(
            [np.zeros((finite_rows.shape[0], 1), np.int64), np.cumsum(finite_rows, axis=1, dtype=np.int64)], axis=1
        )
        i, t = samples[:, 0], samples[:, 1]
        ok = (t - self.window + 1 >= 0) & (
            count[i, t + 1] - count[i, np.maximum(t - self.window + 1, 0)] == self.window
        )
        if with_target:
            ok &= np.isfinite(self.cube.target[i, t] / self.scaler.target_scale)
        if not ok.all():
            k = int(np.flatnonzero(~ok)[0])
            raise DataError(
                f"a non-finite value reached the model's input for {self.cube.tickers[i[k]]} at "
                f"{self.cube.dates[t[k]]:%Y-%m-%d} ({int((~ok).sum())} window(s) in all); "
                "check that ticker's prices and volumes near that date"
            )

    def windows(self, samples: np.ndarray) -> np.ndarray:
        """Gather the windows of ``samples`` (a copy of just those): (k, window, n_features)."""
        view = window_view(self.x, self.window)
        return view[samples[:, 0], samples[:, 1] - self.window + 1]


def prepare(cube: FeatureCube, fold: Fold, window: int, scaler: ZScoreScaler | None = None) -> Prepared:
    """Fit the scaler on the fold's training rows (unless given) and mark the valid windows.

    The scaler sees the real (not interpolated) feature rows of the fold's training block, from its first to its
    last training origin, and the targets of training origins, nothing later; those targets end up to the target's
    horizon after the last training origin, inside the embargo that the split leaves before the validation block.
    """
    ends = valid_ends(cube.x, cube.origin_ok, window)
    if scaler is None:
        train_dates = fold.labels == TRAIN
        first_train, last_train = np.flatnonzero(train_dates)[[0, -1]]
        rows = np.zeros(cube.origin_ok.shape, dtype=bool)
        rows[:, first_train : last_train + 1] = True  # the fold's own training block (rolling folds start late)
        rows &= cube.real  # an interpolated row borrows a later price, perhaps a validation one
        origins = ends & train_dates[None, :]
        scaler = ZScoreScaler.fit(cube.x, rows, cube.target, origins)
    x = scaler.transform(cube.x)
    return Prepared(cube=cube, fold=fold, scaler=scaler, window=window, x=x, ends=ends)
