"""Sliding windows that are views of the feature array, never copies.

Memory grows with tickers x dates x features, not with the window length: a batch is gathered from the
view only when a training step asks for it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["valid_ends", "window_view"]


def window_view(x: np.ndarray, window: int) -> np.ndarray:
    """A read-only view (n_tickers, n_dates - window + 1, window, n_features) of ``x``.

    Element ``[i, s]`` is the window of ticker ``i`` that starts at date ``s`` and ends at ``s + window - 1``.

    Examples
    --------
    >>> x = np.arange(10.0).reshape(1, 5, 2)
    >>> v = window_view(x, 3)
    >>> v.shape, np.shares_memory(v, x)
    ((1, 3, 3, 2), True)
    >>> v[0, 1].tolist()
    [[2.0, 3.0], [4.0, 5.0], [6.0, 7.0]]
    """
    if window < 1 or window > x.shape[1]:
        raise ValueError(f"window {window} must be between 1 and the number of dates {x.shape[1]}")
    view = np.lib.stride_tricks.sliding_window_view(x, window, axis=1)  # (n, T-w+1, F, w)
    return view.swapaxes(2, 3)


def valid_ends(x: np.ndarray, origin_ok: np.ndarray, window: int) -> np.ndarray:
    """(n_tickers, n_dates) bool: a full window of finite rows ends at the date and the date is an origin."""
    finite = np.isfinite(x).all(axis=-1)
    count = np.cumsum(finite, axis=1, dtype=np.int64)
    shifted = np.zeros_like(count)
    shifted[:, window:] = count[:, :-window]
    full = (count - shifted) == window
    full[:, : window - 1] = False
    return full & origin_ok
