"""Z-score normalisation fitted on training rows only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ZScoreScaler"]


@dataclass(frozen=True)
class ZScoreScaler:
    """Per-feature mean and standard deviation, and the scale of the target.

    Fit it with :meth:`fit` on the training rows; apply it everywhere with :meth:`transform`.
    """

    mean: np.ndarray
    std: np.ndarray
    target_scale: float

    @classmethod
    def fit(cls, x: np.ndarray, rows: np.ndarray, target: np.ndarray, origins: np.ndarray) -> ZScoreScaler:
        """Fit on feature rows where ``rows`` is True and on targets of the ``origins`` mask.

        Parameters
        ----------
        x
            (n_tickers, n_dates, n_features) features.
        rows
            (n_tickers, n_dates) bool: the training rows (dates up to the end of the training block).
        target, origins
            (n_tickers, n_dates) targets and the bool mask of training origins whose target may be used.

        Examples
        --------
        >>> x = np.arange(12, dtype=np.float32).reshape(1, 6, 2)
        >>> rows = np.array([[True, True, True, False, False, False]])
        >>> s = ZScoreScaler.fit(x, rows, np.ones((1, 6)) * 0.01, rows)
        >>> s.mean.tolist()
        [2.0, 3.0]
        """
        sample = x[rows]
        sample = sample[np.isfinite(sample).all(axis=1)]
        if len(sample) < 2:
            raise ValueError("too few training rows to fit the scaler")
        mean = sample.mean(axis=0, dtype=np.float64)
        std = sample.std(axis=0, dtype=np.float64)
        std = np.where(std > 1e-12, std, 1.0)
        y = target[origins & np.isfinite(target)]
        scale = float(np.sqrt(np.mean(y**2))) if len(y) else 1.0
        return cls(mean.astype(np.float64), std.astype(np.float64), scale if scale > 0 else 1.0)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scaled float32 copy of ``x``."""
        return ((x - self.mean) / self.std).astype(np.float32)

    def to_dict(self) -> dict[str, list[float] | float]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "target_scale": self.target_scale}

    @classmethod
    def from_dict(cls, d: dict[str, list[float] | float]) -> ZScoreScaler:
        scale = float(d["target_scale"])  # type: ignore[arg-type]
        return cls(np.asarray(d["mean"], dtype=np.float64), np.asarray(d["std"], dtype=np.float64), scale)
