"""The LSTM-MLE network, its predictive distributions, training, checkpoints and CPU threads.

The names of :mod:`forecasting.model.network` are importable from here too (loaded on first use).
"""

from typing import Any

__all__ = ["DISTRIBUTIONS", "DOF_MIN", "LSTMMLE", "ModelConfig", "gaussian_nll", "studentt_nll"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from forecasting.model import network

        return getattr(network, name)
    raise AttributeError(f"module 'forecasting.model' has no attribute {name!r}")
